/* SPDX-License-Identifier: ISC */
/* libFuzzer: atomicappend's command line (parse_options in cmd/atomicappend-options.c). */
#include "crashsafe.h"
#include "../../cmd/atomicappend.h"

#define FUZZ_RESET()	do { } while (0)
#define FUZZ_SKIP(arg)	0
#include "argv.h"
