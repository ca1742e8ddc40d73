/* SPDX-License-Identifier: ISC */
/* libFuzzer: durations (lib/parse.c). */
#include <stdlib.h>
#include <string.h>

#include "crashsafe.h"

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	const char *errstr;
	cs_nsec d;

	if (s == NULL)
		return 0;
	if (cs_parse_duration(s, true, &d, &errstr) == 0) {
		if (d < 0 || (d == CS_INF) != (strcmp(s, "inf") == 0))
			abort();
	} else if (errstr == NULL)
		abort();
	if (cs_parse_duration(s, false, &d, &errstr) == 0 && d == CS_INF)
		abort();
	free(s);
	return 0;
}
