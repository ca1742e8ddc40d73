/* SPDX-License-Identifier: ISC */
/*
 * staleclean-options.c - staleclean's command line: the options, their
 * help, and parse_options, which fills opt (see staleclean.h).
 */
#include <err.h>
#include <getopt.h>
#include <limits.h>

#include "crashsafe.h"
#include "staleclean.h"

static const char *const default_patterns[] = { "*.lock", "*.lck", "*.pid",
	"LCK..*", ".#*", ".*.cs-*", NULL };

enum { OPT_CHECK = CHAR_MAX + 1, OPT_MIN_AGE, OPT_ORPHANS, OPT_JSON };

static const struct option longopts[] = {
	{ "check",	no_argument,		NULL, OPT_CHECK },
	{ "dry-run",	no_argument,		NULL, 'n' },
	{ "help",	no_argument,		NULL, 'h' },
	{ "json",	no_argument,		NULL, OPT_JSON },
	{ "max-age",	required_argument,	NULL, 'a' },
	{ "min-age",	required_argument,	NULL, OPT_MIN_AGE },
	{ "orphans",	no_argument,		NULL, OPT_ORPHANS },
	{ "pattern",	required_argument,	NULL, 'p' },
	{ "quiet",	no_argument,		NULL, 'q' },
	{ "recursive",	no_argument,		NULL, 'r' },
	{ "unsafe-shared-fs", no_argument,	NULL, CS_OPT_UNSAFE_SHARED },
	{ "verbose",	no_argument,		NULL, 'v' },
	{ "version",	no_argument,		NULL, CS_OPT_VERSION },
	{ NULL,		0,			NULL, 0 }
};

static const char synopsis[] =
"usage: staleclean [-nqrv] [-a max-age] [--min-age duration] [-p pattern]\n"
"                  [--check] [--orphans] [--json] [--unsafe-shared-fs] path ...\n";

static const char options_help[] =
"\nRemove locks, pid files and temp files whose owner is provably gone.\n"
"  -n, --dry-run            decide and report, remove nothing\n"
"      --check              like -n; exit 1 if anything is stale\n"
"  -a, --max-age DURATION   age after which unverifiable locks are stale (5m)\n"
"      --min-age DURATION   never touch anything younger (10s)\n"
"  -p, --pattern GLOB       candidate names in directories (repeatable)\n"
"  -r, --recursive          descend (same filesystem only)\n"
"      --orphans            only orphan temp files of this suite\n"
"      --json               one JSON object per candidate\n"
"      --unsafe-shared-fs   judge even where locks do not reach other clients\n"
"  -q, --quiet              only errors\n"
"  -v, --verbose            one line per candidate\n";

struct staleclean_opt opt = { .max_age = 300 * CS_SEC, .min_age = 10 * CS_SEC };

CS_NORETURN void
usage(int st)
{
	cs_usage(st, synopsis, options_help);
}

void
parse_options(int argc, char *argv[])
{
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:a:hnp:qrv", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'a':
			opt.max_age = ecs_duration(optarg, false, "max-age");
			break;
		case 'n':
			opt.dry_run = true;
			break;
		case 'p':
			if (opt.npatterns == MAX_PATTERNS)
				errx(EX_USAGE, "too many patterns");
			opt.patterns[opt.npatterns++] = optarg;
			break;
		case 'r':
			opt.recursive = true;
			break;
		case OPT_CHECK:
			opt.check = opt.dry_run = true;
			break;
		case OPT_MIN_AGE:
			opt.min_age = ecs_duration(optarg, false, "min-age");
			break;
		case OPT_ORPHANS:
			opt.orphans = true;
			break;
		case OPT_JSON:
			opt.json = true;
			break;
		default:
			cs_option(ch, argv, synopsis, options_help, NULL);
		}
	}
	if (opt.npatterns == 0)
		for (ch = 0; default_patterns[ch] != NULL; ch++)
			opt.patterns[opt.npatterns++] = default_patterns[ch];
}
