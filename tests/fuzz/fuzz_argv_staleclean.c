/* SPDX-License-Identifier: ISC */
/* libFuzzer: staleclean's command line (parse_options in cmd/staleclean.c). */
#define main staleclean_main
#include "../../cmd/staleclean.c"
#undef main

#define FUZZ_RESET()	do { } while (0)
#define FUZZ_SKIP(arg)	0
#include "argv.h"
