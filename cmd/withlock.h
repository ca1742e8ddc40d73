/* SPDX-License-Identifier: ISC */
/*
 * withlock.h - what withlock.c and withlock-options.c (its command line)
 * share: the options as parsed. The option parsing is a file of its own
 * so that the argv fuzzer (tests/fuzz/fuzz_argv_withlock.c) links it and
 * nothing else.
 */
#ifndef WITHLOCK_H
#define WITHLOCK_H

struct withlock_opt {
	cs_nsec	 wait, max_time, kill_after, ttl;
	int	 conflict_exit;
	bool	 shared, json, status, etcd_only;
	const char *cacert, *cert, *key;
	bool	 insecure;
};
extern struct withlock_opt opt;

CS_NORETURN void usage(int status);
void	parse_options(int argc, char *argv[]);

#endif
