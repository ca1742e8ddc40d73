/* SPDX-License-Identifier: ISC */
/*
 * atomicappend.h - what atomicappend.c and atomicappend-options.c (its command line)
 * share: the options as parsed. The option parsing is a file of its own
 * so that the argv fuzzer (tests/fuzz/fuzz_argv_atomicappend.c) links it and
 * nothing else.
 */
#ifndef ATOMICAPPEND_H
#define ATOMICAPPEND_H

struct atomicappend_opt {
	bool		 lines;
	bool		 raw;
	bool		 mode_set;
	mode_t		 mode;
	enum cs_sync	 sync;
	cs_nsec		 timeout;
};
extern struct atomicappend_opt opt;

CS_NORETURN void usage(int status);
void	parse_options(int argc, char *argv[]);

#endif
