/* SPDX-License-Identifier: ISC */
/* libFuzzer: withlock's command line (parse_options in cmd/withlock.c). */
#define main withlock_main
#include "../../cmd/withlock.c"
#undef main

#define FUZZ_RESET()	(cs_unsafe_shared_fs = false)
#define FUZZ_SKIP(arg)	0
#include "argv.h"
