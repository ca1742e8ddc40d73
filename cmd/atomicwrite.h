/* SPDX-License-Identifier: ISC */
/*
 * atomicwrite.h - what atomicwrite.c and atomicwrite-options.c (its command line)
 * share: the options as parsed. The option parsing is a file of its own
 * so that the argv fuzzer (tests/fuzz/fuzz_argv_atomicwrite.c) links it and
 * nothing else.
 */
#ifndef ATOMICWRITE_H
#define ATOMICWRITE_H

struct atomicwrite_opt {
	const char	*backup;	/* suffix, NULL: no backup */
	bool		 if_changed;
	int		 unchanged_status;
	bool		 no_empty;
	bool		 lock;
	bool		 mode_set;
	mode_t		 mode;
	bool		 no_deref;
	enum cs_sync	 sync;
	cs_nsec		 timeout;
	const char	*validate;
};
extern struct atomicwrite_opt opt;

CS_NORETURN void usage(int status);
void	parse_options(int argc, char *argv[]);

#endif
