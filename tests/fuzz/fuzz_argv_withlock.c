/* SPDX-License-Identifier: ISC */
/* libFuzzer: withlock's command line (parse_options in cmd/withlock-options.c). */
#include "crashsafe.h"
#include "../../cmd/withlock.h"

#define FUZZ_RESET()	(cs_unsafe_shared_fs = false)
#define FUZZ_SKIP(arg)	0
#include "argv.h"
