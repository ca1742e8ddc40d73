/* SPDX-License-Identifier: ISC */
/* libFuzzer: staleclean's command line (parse_options in cmd/staleclean-options.c). */
#include "crashsafe.h"
#include "../../cmd/staleclean.h"

#define FUZZ_RESET()	do { } while (0)
#define FUZZ_SKIP(arg)	0
#include "argv.h"
