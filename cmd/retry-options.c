/* SPDX-License-Identifier: ISC */
/*
 * retry-options.c - retry's command line: the options, their
 * help, and parse_options, which fills opt (see retry.h).
 */
#include <err.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>

#include "crashsafe.h"
#include "retry.h"

static cs_codeset	ecodes(const char *arg, const char *what);

enum { OPT_ON = CHAR_MAX + 1, OPT_EXCEPT, OPT_LIVE, OPT_HOLD, OPT_JSON };

static const struct option longopts[] = {
	{ "attempts",	required_argument,	NULL, 'n' },
	{ "deadline",	required_argument,	NULL, 'T' },
	{ "delay",	required_argument,	NULL, 'd' },
	{ "except",	required_argument,	NULL, OPT_EXCEPT },
	{ "factor",	required_argument,	NULL, 'f' },
	{ "help",	no_argument,		NULL, 'h' },
	{ "hold",	no_argument,		NULL, OPT_HOLD },
	{ "jitter",	required_argument,	NULL, 'j' },
	{ "json",	no_argument,		NULL, OPT_JSON },
	{ "kill-after",	required_argument,	NULL, 'k' },
	{ "live",	no_argument,		NULL, OPT_LIVE },
	{ "max-delay",	required_argument,	NULL, 'M' },
	{ "no-replay",	no_argument,		NULL, 'I' },
	{ "on",		required_argument,	NULL, OPT_ON },
	{ "quiet",	no_argument,		NULL, 'q' },
	{ "timeout",	required_argument,	NULL, 't' },
	{ "verbose",	no_argument,		NULL, 'v' },
	{ "version",	no_argument,		NULL, CS_OPT_VERSION },
	{ NULL,		0,			NULL, 0 }
};

static const char synopsis[] =
"usage: retry [-Iqv] [-d delay] [-f factor] [-j jitter] [-k duration]\n"
"             [-M max-delay] [-n attempts] [-T deadline] [-t timeout]\n"
"             [--on codes] [--except codes] [--live | --hold] [--json]\n"
"             command [arg ...]\n";

static const char options_help[] =
"\nRun COMMAND until it succeeds, with bounded attempts and backoff.\n"
"  -n, --attempts N        attempts at most (5); inf: until success\n"
"  -d, --delay DURATION    first backoff delay (100ms)\n"
"  -f, --factor X          backoff multiplier (2)\n"
"  -M, --max-delay DURATION  cap of one delay (10s)\n"
"  -j, --jitter KIND       none, full, equal, decorrelated (full)\n"
"  -t, --timeout DURATION  per-attempt limit, then SIGTERM to its group (124)\n"
"  -k, --kill-after DURATION  SIGKILL this long after SIGTERM (5s)\n"
"  -T, --deadline DURATION overall budget: no attempt or sleep runs past it\n"
"      --on CODES          retry only on these statuses (1,2,5-9)\n"
"      --except CODES      never retry on these (64,126,127,130)\n"
"  -I, --no-replay         attempts inherit stdin instead of a replayed copy\n"
"      --live, --hold      stream stdout / hold it until an attempt succeeds\n"
"      --json              one JSON object per attempt on stderr\n"
"  -q, --quiet             no progress lines\n"
"  -v, --verbose           also report success and timings\n";

struct retry_opt opt = {
	.attempts = 5, .delay = 100 * CS_MSEC, .max_delay = 10 * CS_SEC,
	.timeout = CS_INF, .kill_after = 5 * CS_SEC, .deadline = CS_INF,
	.factor = 2, .jitter = CS_JITTER_FULL, .hold = -1,
};

CS_NORETURN void
usage(int status)
{
	cs_usage(status, synopsis, options_help);
}

void
parse_options(int argc, char *argv[])
{
	int ch;

	cs_codeset_add(&opt.except, 64, 64);
	cs_codeset_add(&opt.except, 126, 127);
	cs_codeset_add(&opt.except, 130, 130);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:d:f:hIj:k:M:n:qT:t:v",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			opt.delay = ecs_duration(optarg, false, "delay");
			break;
		case 'f':
			if (cs_parse_real(optarg, 0.000001, 1000, &opt.factor))
				errx(EX_USAGE, "factor: invalid number: '%s'",
				    optarg);
			break;
		case 'I':
			opt.no_replay = true;
			break;
		case 'j':
			if (cs_parse_jitter(optarg, &opt.jitter) == -1)
				errx(EX_USAGE, "jitter: '%s' is not none, full, "
				    "equal or decorrelated", optarg);
			break;
		case 'k':
			opt.kill_after = ecs_duration(optarg, false,
			    "kill-after");
			break;
		case 'M':
			opt.max_delay = ecs_duration(optarg, false,
			    "max-delay");
			break;
		case 'n':
			opt.attempts = strcmp(optarg, "inf") == 0 ? 0 :
			    ecs_number(optarg, 1, INT_MAX, "attempts");
			break;
		case 'T':
			opt.deadline = ecs_duration(optarg, true, "deadline");
			break;
		case 't':
			opt.timeout = ecs_duration(optarg, true, "timeout");
			break;
		case OPT_ON:
			opt.on = ecodes(optarg, "on");
			opt.on_set = true;
			break;
		case OPT_EXCEPT:
			opt.except = ecodes(optarg, "except");
			break;
		case OPT_LIVE:
			opt.hold = 0;
			break;
		case OPT_HOLD:
			opt.hold = 1;
			break;
		case OPT_JSON:
			opt.json = true;
			break;
		default:
			cs_option(ch, argv, synopsis, options_help, NULL);
		}
	}
}

static cs_codeset
ecodes(const char *arg, const char *what)
{
	cs_codeset set;

	if (cs_parse_codes(arg, &set) == -1)
		errx(EX_USAGE, "%s: invalid code list: '%s'", what, arg);
	return set;
}
