/* SPDX-License-Identifier: ISC */
/* libFuzzer: atomicwrite's command line (parse_options in cmd/atomicwrite.c). */
#define main atomicwrite_main
#include "../../cmd/atomicwrite.c"
#undef main

#define FUZZ_RESET()	do { } while (0)
#define FUZZ_SKIP(arg)	0
#include "argv.h"
