/* libFuzzer: sqlwal's command line (parse_options in cmd/sqlwal.c),
 * named parameters (-p NAME[:TYPE]=VALUE) included. */
#define main sqlwal_main
#include "../../cmd/sqlwal.c"
#undef main

static void
fuzz_reset(void)
{
	for (size_t i = 0; i < opt.nnamed; i++)
		free(opt.named[i].blob);
	free(opt.named);
}

#define FUZZ_RESET()	fuzz_reset()
/* A blob parameter (=@FILE) reads a file: any path the fuzzer makes up. */
#define FUZZ_SKIP(arg)	(strstr((arg), "@") != NULL)
#include "argv.h"
