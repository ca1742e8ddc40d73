/* SPDX-License-Identifier: ISC */
/*
 * staleclean.h - what staleclean.c and staleclean-options.c (its command line)
 * share: the options as parsed. The option parsing is a file of its own
 * so that the argv fuzzer (tests/fuzz/fuzz_argv_staleclean.c) links it and
 * nothing else.
 */
#ifndef STALECLEAN_H
#define STALECLEAN_H

#define MAX_PATTERNS	64


struct staleclean_opt {
	bool		 dry_run, check, recursive, orphans, json;
	cs_nsec		 max_age, min_age;
	const char	*patterns[MAX_PATTERNS + 1];
	int		 npatterns;
};
extern struct staleclean_opt opt;

CS_NORETURN void usage(int status);
void	parse_options(int argc, char *argv[]);

#endif
