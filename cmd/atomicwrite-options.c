/* SPDX-License-Identifier: ISC */
/*
 * atomicwrite-options.c - atomicwrite's command line: the options, their
 * help, and parse_options, which fills opt (see atomicwrite.h).
 */
#include <err.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>

#include "crashsafe.h"
#include "atomicwrite.h"

enum { OPT_UNCHANGED = CHAR_MAX + 1 };

static const struct option longopts[] = {
	{ "backup",		optional_argument,	NULL, 'b' },
	{ "if-changed",		no_argument,		NULL, 'c' },
	{ "no-empty",		no_argument,		NULL, 'e' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "lock",		no_argument,		NULL, 'l' },
	{ "mode",		required_argument,	NULL, 'm' },
	{ "no-dereference",	no_argument,		NULL, 'P' },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "sync",		required_argument,	NULL, 'S' },
	{ "timeout",		required_argument,	NULL, 't' },
	{ "unchanged-status",	required_argument,	NULL, OPT_UNCHANGED },
	{ "unsafe-shared-fs",	no_argument,		NULL, CS_OPT_UNSAFE_SHARED },
	{ "validate",		required_argument,	NULL, 'V' },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "version",		no_argument,		NULL, CS_OPT_VERSION },
	{ NULL,			0,			NULL, 0 }
};

static const char synopsis[] =
"usage: atomicwrite [-celPqv] [-b[SUFFIX]] [-m mode] [-S full|none] [-t timeout]\n"
"                   [-V command] [--unchanged-status N] [--unsafe-shared-fs]\n"
"                   file\n"
"       atomicwrite [-celPqv] [-b[SUFFIX]] [-m mode] [-S full|none] [-t timeout]\n"
"                   [-V command] [--unchanged-status N] [--unsafe-shared-fs]\n"
"                   file -- command [arg ...]\n";

static const char options_help[] =
"\nReplace FILE atomically with stdin, or with COMMAND's output if it exits 0.\n"
"  -b, --backup[=SUFFIX]     keep the previous version as FILE~ (or FILE+SUFFIX)\n"
"  -c, --if-changed          leave FILE untouched when the content is the same\n"
"      --unchanged-status N  exit N when -c found no change\n"
"  -e, --no-empty            refuse empty content (exit 65)\n"
"  -l, --lock                hold FILE.lock from before reading until the rename\n"
"  -m, --mode MODE           octal mode of the result\n"
"  -P, --no-dereference      replace a symlink itself, not its target\n"
"  -S, --sync full|none      fsync file and directory (full) or not at all\n"
"  -t, --timeout DURATION    lock wait limit (default 10s; 0, inf)\n"
"  -V, --validate CMD        run sh -c CMD sh TEMPFILE first; non-zero: exit 65\n"
"      --unsafe-shared-fs    -l even where locks do not reach other clients\n"
"  -q, --quiet               no warnings\n"
"  -v, --verbose             report bytes written or \"unchanged\"\n";

struct atomicwrite_opt opt = { .sync = CS_SYNC_FULL, .timeout = 10 * CS_SEC };

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
	while ((ch = getopt_long(argc, argv, "+:b::cehlm:PqS:t:vV:",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			opt.backup = optarg != NULL ? optarg : "~";
			if (*opt.backup == '\0' || strchr(opt.backup, '/'))
				errx(EX_USAGE, "invalid backup suffix: '%s'",
				    opt.backup);
			break;
		case 'c':
			opt.if_changed = true;
			break;
		case 'e':
			opt.no_empty = true;
			break;
		case 'l':
			opt.lock = true;
			break;
		case 'm':
			if (cs_parse_mode(optarg, &opt.mode) == -1)
				errx(EX_USAGE, "invalid mode: '%s'", optarg);
			opt.mode_set = true;
			break;
		case 'P':
			opt.no_deref = true;
			break;
		case 'S':
			if (cs_parse_sync(optarg, &opt.sync) == -1 ||
			    opt.sync == CS_SYNC_DATA)
				errx(EX_USAGE, "invalid sync mode: '%s' "
				    "(full or none)", optarg);
			break;
		case 't':
			opt.timeout = ecs_duration(optarg, true, "timeout");
			break;
		case 'V':
			opt.validate = optarg;
			break;
		case OPT_UNCHANGED:
			opt.unchanged_status = (int)ecs_number(optarg, 0, 255,
			    "unchanged-status");
			break;
		default:
			cs_option(ch, argv, synopsis, options_help, NULL);
		}
	}
}
