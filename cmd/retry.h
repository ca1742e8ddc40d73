/* SPDX-License-Identifier: ISC */
/*
 * retry.h - what retry.c and retry-options.c (its command line)
 * share: the options as parsed. The option parsing is a file of its own
 * so that the argv fuzzer (tests/fuzz/fuzz_argv_retry.c) links it and
 * nothing else.
 */
#ifndef RETRY_H
#define RETRY_H

struct retry_opt {
	long long	 attempts;	/* 0: no limit */
	cs_nsec		 delay, max_delay, timeout, kill_after, deadline;
	double		 factor;
	enum cs_jitter	 jitter;
	cs_codeset	 on, except;
	bool		 on_set;
	bool		 no_replay;
	int		 hold;		/* -1 unset, 0 live, 1 hold */
	bool		 json;
};
extern struct retry_opt opt;

CS_NORETURN void usage(int status);
void	parse_options(int argc, char *argv[]);

#endif
