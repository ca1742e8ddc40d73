/* SPDX-License-Identifier: ISC */
/* libFuzzer: how sqlwal reads a script before running it (cmd/sqlwal.c):
 * cutting it into statements, classifying each, finding its parameters.
 * Whatever the bytes, no crash, and every statement lies in the script. */
#define main sqlwal_main
#include "../../cmd/sqlwal.c"
#undef main

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static char *pos[] = { "1", "2" };
	char *text;
	size_t i;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	dbpath = "fuzz.db";
	cs_verbosity = -1;
	params.pos = pos;
	params.npos = 2;
	params.pos_used = calloc(3, sizeof(bool));
	memset(&script, 0, sizeof(script));
	split_script(text);
	for (i = 0; i < script.n; i++)
		if (script.v[i].sql < text || script.v[i].sql > text + size)
			abort();
	(void)place_statements();
	free(script.v);
	free(params.pos_used);
	free(text);
	return 0;
}
