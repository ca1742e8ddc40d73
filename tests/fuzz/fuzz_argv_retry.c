/* SPDX-License-Identifier: ISC */
/* libFuzzer: retry's command line (parse_options in cmd/retry.c). */
#define main retry_main
#include "../../cmd/retry.c"
#undef main

#define FUZZ_RESET()	do { } while (0)
#define FUZZ_SKIP(arg)	0
#include "argv.h"
