/* SPDX-License-Identifier: ISC */
/* libFuzzer: retry's command line (parse_options in cmd/retry-options.c). */
#include "crashsafe.h"
#include "../../cmd/retry.h"

#define FUZZ_RESET()	do { } while (0)
#define FUZZ_SKIP(arg)	0
#include "argv.h"
