/* SPDX-License-Identifier: ISC */
/* libFuzzer: modes, reals, jitter and sync names (lib/parse.c, ...). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crashsafe.h"

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	enum cs_jitter j;
	enum cs_sync sy;
	mode_t m;
	double x;

	if (s == NULL)
		return 0;
	if (cs_parse_mode(s, &m) == 0 && m > 07777)
		abort();
	if (cs_parse_real(s, 0.000001, 1000, &x) == 0 &&
	    (!isfinite(x) || x < 0.000001 || x > 1000))
		abort();
	(void)cs_parse_jitter(s, &j);
	(void)cs_parse_sync(s, &sy);
	free(s);
	return 0;
}
