/* SPDX-License-Identifier: ISC */
/* libFuzzer: atomicappend's command line (parse_options in cmd/atomicappend.c). */
#define main atomicappend_main
#include "../../cmd/atomicappend.c"
#undef main

#define FUZZ_RESET()	do { } while (0)
#define FUZZ_SKIP(arg)	0
#include "argv.h"
