/* SPDX-License-Identifier: ISC */
/* libFuzzer: sqlwal's command line (parse_options in cmd/sqlwal-options.c),
 * named parameters (-p NAME[:TYPE]=VALUE) included. */
#include <stdlib.h>

#include "crashsafe.h"
#include "../../cmd/sqlwal.h"

static void
fuzz_reset(void)
{
	for (size_t i = 0; i < params.nnamed; i++)
		free(params.named[i].blob);
	free(params.named);
	params.named = NULL;
	params.nnamed = 0;
}

#define FUZZ_RESET()	fuzz_reset()
/* A blob parameter (=@FILE) reads a file: any path the fuzzer makes up. */
#define FUZZ_SKIP(arg)	(strstr((arg), "@") != NULL)
#include "argv.h"
