/* SPDX-License-Identifier: ISC */
/*
 * atomicappend-options.c - atomicappend's command line: the options, their
 * help, and parse_options, which fills opt (see atomicappend.h).
 */
#include <err.h>
#include <getopt.h>
#include <limits.h>

#include "crashsafe.h"
#include "atomicappend.h"

static const struct option longopts[] = {
	{ "help",	no_argument,		NULL, 'h' },
	{ "lines",	no_argument,		NULL, 'l' },
	{ "mode",	required_argument,	NULL, 'm' },
	{ "no-newline",	no_argument,		NULL, 'n' },
	{ "quiet",	no_argument,		NULL, 'q' },
	{ "sync",	required_argument,	NULL, 'S' },
	{ "timeout",	required_argument,	NULL, 't' },
	{ "unsafe-shared-fs", no_argument,	NULL, CS_OPT_UNSAFE_SHARED },
	{ "verbose",	no_argument,		NULL, 'v' },
	{ "version",	no_argument,		NULL, CS_OPT_VERSION },
	{ NULL,		0,			NULL, 0 }
};

static const char synopsis[] =
"usage: atomicappend [-lnqv] [-m mode] [-S none|data|full] [-t timeout]\n"
"                    [--unsafe-shared-fs] file [text ...]\n";

static const char options_help[] =
"\nAppend TEXT (or all of stdin) to FILE as one whole record.\n"
"  -l, --lines             each line of stdin is a record, appended as it comes\n"
"  -n, --no-newline        raw records: no newline added, no torn-tail repair\n"
"  -m, --mode MODE         octal mode when FILE is created\n"
"  -S, --sync MODE         none (default), data (fdatasync), full (fsync)\n"
"  -t, --timeout DURATION  lock wait limit (default 10s; 0, inf)\n"
"      --unsafe-shared-fs  append even where locks do not reach other clients\n"
"  -q, --quiet             no warnings\n"
"  -v, --verbose           report records and bytes appended\n";

struct atomicappend_opt opt = { .sync = CS_SYNC_NONE, .timeout = 10 * CS_SEC };

CS_NORETURN void
usage(int status)
{
	cs_usage(status, synopsis, options_help);
}

void
parse_options(int argc, char *argv[])
{
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:hlm:nqS:t:v", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'l':
			opt.lines = true;
			break;
		case 'm':
			if (cs_parse_mode(optarg, &opt.mode) == -1)
				errx(EX_USAGE, "invalid mode: '%s'", optarg);
			opt.mode_set = true;
			break;
		case 'n':
			opt.raw = true;
			break;
		case 'S':
			if (cs_parse_sync(optarg, &opt.sync) == -1)
				errx(EX_USAGE, "invalid sync mode: '%s' "
				    "(none, data or full)", optarg);
			break;
		case 't':
			opt.timeout = ecs_duration(optarg, true, "timeout");
			break;
		default:
			cs_option(ch, argv, synopsis, options_help, NULL);
		}
	}
}
