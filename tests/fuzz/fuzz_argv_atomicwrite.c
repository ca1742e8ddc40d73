/* SPDX-License-Identifier: ISC */
/* libFuzzer: atomicwrite's command line (parse_options in cmd/atomicwrite-options.c). */
#include "crashsafe.h"
#include "../../cmd/atomicwrite.h"

#define FUZZ_RESET()	do { } while (0)
#define FUZZ_SKIP(arg)	0
#include "argv.h"
