/* SPDX-License-Identifier: ISC */
/*
 * withlock-options.c - withlock's command line: the options, their
 * help, and parse_options, which fills opt (see withlock.h).
 */
#include <err.h>
#include <getopt.h>
#include <limits.h>

#include "crashsafe.h"
#include "withlock.h"

enum { OPT_CONFLICT = CHAR_MAX + 1, OPT_JSON, OPT_STATUS, OPT_TTL, OPT_CACERT,
	OPT_CERT, OPT_KEY, OPT_INSECURE };

static const struct option longopts[] = {
	{ "cacert",		required_argument,	NULL, OPT_CACERT },
	{ "cert",		required_argument,	NULL, OPT_CERT },
	{ "conflict-exit",	required_argument,	NULL, 'E' },
	{ "exclusive",		no_argument,		NULL, 'x' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "insecure-skip-tls-verify", no_argument,	NULL, OPT_INSECURE },
	{ "json",		no_argument,		NULL, OPT_JSON },
	{ "key",		required_argument,	NULL, OPT_KEY },
	{ "kill-after",		required_argument,	NULL, 'k' },
	{ "max-time",		required_argument,	NULL, 'T' },
	{ "nonblock",		no_argument,		NULL, 'n' },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "shared",		no_argument,		NULL, 's' },
	{ "status",		no_argument,		NULL, OPT_STATUS },
	{ "ttl",		required_argument,	NULL, OPT_TTL },
	{ "unsafe-shared-fs",	no_argument,		NULL, CS_OPT_UNSAFE_SHARED },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "version",		no_argument,		NULL, CS_OPT_VERSION },
	{ "wait",		required_argument,	NULL, 'w' },
	{ NULL,			0,			NULL, 0 }
};

static const char synopsis[] =
"usage: withlock [-nqsvx] [-w wait] [-E code] [-T max-time] [-k duration]\n"
"                [--json] [--unsafe-shared-fs] lockfile [--] command [arg ...]\n"
"       withlock [-nqv] [-w wait] [-E code] [-T max-time] [-k duration]\n"
"                [--json] [--ttl duration] [--cacert file] [--cert file]\n"
"                [--key file] [--insecure-skip-tls-verify]\n"
"                etcd://host:port[,host:port...]/name [--] command [arg ...]\n"
"       withlock --status [--json] lockfile | etcd://.../name\n";

static const char options_help[] =
"\nRun COMMAND holding LOCKFILE's lock; exit with its status.\n"
"  -w, --wait DURATION     wait this long for the lock (10s; 0, inf)\n"
"  -n, --nonblock          do not wait: the same as -w 0\n"
"  -s, --shared            a shared lock (readers); -x, --exclusive: not\n"
"  -E, --conflict-exit N   exit N, not 75, when the lock stays busy (0: quietly)\n"
"  -T, --max-time DURATION stop the command after this long (124)\n"
"  -k, --kill-after DURATION  SIGKILL this long after SIGTERM (5s)\n"
"      --json              one JSON object on stderr when done\n"
"      --status            who holds LOCKFILE: exit 0 held, 1 free\n"
"      --unsafe-shared-fs  lock where locks do not reach other clients\n"
"  -q, --quiet             no message when the lock is busy\n"
"  -v, --verbose           report how long the lock was waited for and held\n"
"etcd locks (endpoints also from CRASHSAFE_ETCD with etcd:///name):\n"
"      --ttl DURATION      the lease's time to live (10s)\n"
"      --cacert FILE       TLS: the CA's certificate (ETCDCTL_CACERT)\n"
"      --cert FILE         TLS: our client certificate (ETCDCTL_CERT)\n"
"      --key FILE          TLS: its key (ETCDCTL_KEY)\n"
"      --insecure-skip-tls-verify  do not verify the server's certificate\n";

struct withlock_opt opt = {
	.wait = 10 * CS_SEC, .max_time = CS_INF, .kill_after = 5 * CS_SEC,
	.ttl = 10 * CS_SEC, .conflict_exit = EX_TEMPFAIL,
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

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:E:hk:nqsT:vw:x", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'E':
			opt.conflict_exit = (int)ecs_number(optarg, 0, 255,
			    "conflict-exit");
			break;
		case 'k':
			opt.kill_after = ecs_duration(optarg, false,
			    "kill-after");
			break;
		case 'n':
			opt.wait = 0;
			break;
		case 's':
			opt.shared = true;
			break;
		case 'T':
			opt.max_time = ecs_duration(optarg, true, "max-time");
			break;
		case 'w':
			opt.wait = ecs_duration(optarg, true, "wait");
			break;
		case 'x':
			opt.shared = false;
			break;
		case OPT_JSON:
			opt.json = true;
			break;
		case OPT_STATUS:
			opt.status = true;
			break;
		case OPT_TTL:
			opt.ttl = ecs_duration(optarg, false, "ttl");
			/* etcd's limit: 9e9 s (MaxLeaseTTL) */
			if (opt.ttl < CS_SEC || opt.ttl % CS_SEC != 0 ||
			    opt.ttl / CS_SEC > 9000000000LL)
				errx(EX_USAGE, "ttl: %s: etcd leases last "
				    "whole seconds, from 1s to 9e9s", optarg);
			opt.etcd_only = true;
			break;
		case OPT_CACERT:
			opt.cacert = optarg;
			opt.etcd_only = true;
			break;
		case OPT_CERT:
			opt.cert = optarg;
			opt.etcd_only = true;
			break;
		case OPT_KEY:
			opt.key = optarg;
			opt.etcd_only = true;
			break;
		case OPT_INSECURE:
			opt.insecure = true;
			opt.etcd_only = true;
			break;
		default:
			cs_option(ch, argv, synopsis, options_help, NULL);
		}
	}
}
