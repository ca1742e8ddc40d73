/* SPDX-License-Identifier: ISC */
/*
 * sqlwal.h - what sqlwal.c and its command line (sqlwal-options.c)
 * share: the options, the parameters and the fences as parsed. The option
 * parsing is a file of its own so that the argv fuzzer
 * (tests/fuzz/fuzz_argv_sqlwal.c) links it and nothing else.
 */
#ifndef SQLWAL_H
#define SQLWAL_H

#include <sqlite3.h>

struct param {
	const char	*name;		/* without its : @ $ prefix */
	int		 type;		/* SQLITE_TEXT, _INTEGER, _FLOAT, _NULL, _BLOB */
	const char	*text;
	sqlite3_int64	 i;
	double		 r;
	void		*blob;
	size_t		 len;
	bool		 used;
};

/* Every value given: positional PARAMs for ? and ?N, -p for names. */
struct sqlwal_params {
	char		**pos;
	size_t		 npos;
	bool		*pos_used;
	struct param	*named;
	size_t		 nnamed;
};
extern struct sqlwal_params params;

struct sqlwal_opt {
	const char	*file;
	enum cs_rows_format format;
	bool		 header;
	const char	*null;
	cs_nsec		 timeout;
	bool		 readonly, no_wal, no_create, check, changes, durable;
	int		 checkpoint;	/* -1: none */
	size_t		 nfence;	/* in fences[] */
};
extern struct sqlwal_opt opt;

/*
 * --fence NAME=TOKEN: the resource's side of a fencing token (withlock's
 * CRASHSAFE_LOCK_TOKEN). Kept apart from opt, which the argv fuzzer
 * resets by assignment: what is allocated here stays reachable.
 */
struct fence {
	const char	*name;
	sqlite3_int64	 token;
};
extern struct fence *fences;

CS_NORETURN void usage(int status);
void	parse_options(int argc, char *argv[]);
/* All of a file (- is stdin), NUL-terminated; *lenp its length. Exits
 * with a message when it cannot be read. */
void	*read_file(const char *path, size_t *lenp);

#endif
