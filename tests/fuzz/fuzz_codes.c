/* SPDX-License-Identifier: ISC */
/* libFuzzer: exit-code lists (lib/parse.c). */
#include <stdlib.h>
#include <string.h>

#include "crashsafe.h"

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	cs_codeset set;
	int i, any = 0;

	if (s == NULL)
		return 0;
	if (cs_parse_codes(s, &set) == 0) {
		for (i = 0; i < 256; i++)
			any |= cs_codeset_has(&set, i);
		if (!any || cs_codeset_has(&set, 256) || cs_codeset_has(&set, -1))
			abort();	/* a valid list names at least one code */
	}
	free(s);
	return 0;
}
