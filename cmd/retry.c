/*
 * retry - run a command until it succeeds, boundedly: attempts and time
 * limited, exponential backoff with jitter, per-attempt timeouts that stop
 * the attempt's whole process group, stdin replayed to every attempt,
 * stdout released only by the attempt that succeeds.
 */
#include <sys/signalfd.h>
#include <sys/param.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "crashsafe.h"

enum { OPT_ON = CHAR_MAX + 1, OPT_EXCEPT, OPT_LIVE, OPT_HOLD, OPT_JSON,
	OPT_VERSION };

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
	{ "version",	no_argument,		NULL, OPT_VERSION },
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

static struct {
	long long	 attempts;	/* 0: no limit */
	cs_nsec		 delay, max_delay, timeout, kill_after, deadline;
	double		 factor;
	enum cs_jitter	 jitter;
	cs_codeset	 on, except;
	bool		 on_set;
	bool		 no_replay;
	int		 hold;		/* -1 unset, 0 live, 1 hold */
	bool		 json;
} opt = {
	.attempts = 5, .delay = 100 * CS_MSEC, .max_delay = 10 * CS_SEC,
	.timeout = CS_INF, .kill_after = 5 * CS_SEC, .deadline = CS_INF,
	.factor = 2, .jitter = CS_JITTER_FULL, .hold = -1,
};

/* What one attempt came to. */
struct outcome {
	int	status;		/* exit status, 124 on timeout, 128+N */
	int	signal;		/* 0, or the signal that killed it */
	bool	timed_out;
	cs_nsec	duration;
};

static CS_NORETURN void
usage(int status)
{
	cs_usage(status, synopsis, options_help);
}

static cs_codeset
ecodes(const char *arg, const char *what)
{
	cs_codeset set;

	if (cs_parse_codes(arg, &set) == -1)
		errx(EX_USAGE, "%s: invalid code list: '%s'", what, arg);
	return set;
}

static void
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
		case 'h':
			usage(0);
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
		case 'q':
			cs_verbosity = -1;
			break;
		case 'T':
			opt.deadline = ecs_duration(optarg, true, "deadline");
			break;
		case 't':
			opt.timeout = ecs_duration(optarg, true, "timeout");
			break;
		case 'v':
			cs_verbosity = 1;
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
		case OPT_VERSION:
			cs_version(NULL);
		default:
			cs_bad_option(ch, argv, synopsis);
		}
	}
}

static double
secs(cs_nsec d)
{
	return (double)d / CS_SEC;
}

/* Whether what we last wrote to stderr (a failed attempt's held output)
 * ended in the middle of a line. */
static bool stderr_mid_line;

/*
 * Progress lines and JSON records start on a line of their own (SPEC 5).
 * What the attempt wrote to stderr itself is known only when stderr is a
 * regular file: its byte before the current end is read back.
 */
static void
start_line(void)
{
	struct stat st;
	char c = '\n';
	int fd;

	if (!stderr_mid_line && fstat(STDERR_FILENO, &st) == 0 &&
	    S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (fd = open("/proc/self/fd/2", O_RDONLY | O_CLOEXEC)) != -1) {
		if (pread(fd, &c, 1, st.st_size - 1) != 1)
			c = '\n';
		close(fd);
	}
	if (stderr_mid_line || c != '\n')
		fputc('\n', stderr);
	stderr_mid_line = false;
}

/* One progress line, or one JSON object, per attempt (SPEC 5). */
static void
report(unsigned n, const struct outcome *o, cs_nsec next, bool last)
{
	char what[64], tries[32];

	if (opt.json || cs_verbosity > (o->status == 0 ? 0 : -1))
		start_line();
	if (opt.json) {
		fprintf(stderr, "{\"attempt\":%u,\"status\":%d,\"signal\":", n,
		    o->status);
		if (o->signal)
			fprintf(stderr, "%d", o->signal);
		else
			fputs("null", stderr);
		fprintf(stderr, ",\"timed_out\":%s,\"duration_s\":%.6f,"
		    "\"next_delay_s\":", o->timed_out ? "true" : "false",
		    secs(o->duration));
		if (last)
			fputs("null}\n", stderr);
		else
			fprintf(stderr, "%.6f}\n", secs(next));
		return;
	}
	if (opt.attempts > 0)
		snprintf(tries, sizeof(tries), "%u/%lld", n, opt.attempts);
	else
		snprintf(tries, sizeof(tries), "%u", n);
	if (o->status == 0) {
		cs_info("attempt %s succeeded after %.2fs", tries,
		    secs(o->duration));
		return;
	}
	if (o->timed_out)
		snprintf(what, sizeof(what), "timed out after %.2fs",
		    secs(o->duration));
	else if (o->signal)
		snprintf(what, sizeof(what), "killed by signal %d", o->signal);
	else
		snprintf(what, sizeof(what), "exit %d", o->status);
	if (last)
		cs_warnx("attempt %s failed (%s); giving up", tries, what);
	else
		cs_warnx("attempt %s failed (%s); retrying in %.2fs", tries,
		    what, secs(next));
}

static bool
retryable(const struct outcome *o)
{
	if (cs_codeset_has(&opt.except, o->status))
		return false;
	return !opt.on_set || cs_codeset_has(&opt.on, o->status);
}

/* Copy a held output file to fd; a reader gone away is its business. */
static void
release(int held, int fd)
{
	off_t n;
	int failed;

	char last;

	if (held == -1 || lseek(held, 0, SEEK_SET) == -1)
		return;
	if (cs_copy_fd(held, fd, &n, &failed) == -1 && failed == fd &&
	    errno != EPIPE)
		warn("%s", fd == STDOUT_FILENO ? "stdout" : "stderr");
	if (fd == STDERR_FILENO && n > 0 && pread(held, &last, 1, n - 1) == 1)
		stderr_mid_line = last != '\n';
}

/* Give the terminal back to our own process group after an attempt that
 * had it. */
static void
reclaim_tty(bool had_tty)
{
	if (had_tty)
		tcsetpgrp(STDIN_FILENO, getpgrp());	/* SIGTTOU is blocked */
}

int
main(int argc, char *argv[])
{
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct cs_backoff backoff;
	struct cs_child child;
	struct cs_cmd cmd = { .fd_in = -1, .fd_out = -1, .fd_err = -1,
	    .flags = CS_SPAWN_PGRP };
	struct outcome o;
	sigset_t block, orig;
	cs_nsec deadline, start, next = 0;
	char num[32];
	unsigned n;
	int spool = -1, held = -1, sigfd, signo = 0, r;
	bool hold, fg;
	size_t i;

	parse_options(argc, argv);
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		warnx("missing command");
		usage(EX_USAGE);
	}
	cmd.argv = argv;
	deadline = cs_deadline(opt.deadline);
	/* What an attempt leaves behind when it is stopped (another group,
	 * another session) comes to us, to be stopped too. */
	(void)cs_become_subreaper();
	if (cs_tool_init() & 1)
		opt.no_replay = true;		/* nothing to replay */

	/* stdin, captured once, is replayed to every attempt (not a TTY). */
	fg = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
	if (!opt.no_replay && !isatty(STDIN_FILENO) &&
	    (r = cs_spool(STDIN_FILENO, &spool)) != 0)
		return cs_fail(errno, EX_IOERR, r == -1 ? "stdin" : "spool");
	hold = opt.hold == -1 ? !isatty(STDOUT_FILENO) : opt.hold == 1;

	/* Signals are read from a signalfd between and during attempts;
	 * the attempts themselves get the mask we were started with. */
	sigemptyset(&block);
	for (i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) {
		struct sigaction old;

		if (sigaction(forwarded[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;	/* ignored by our caller: stays so */
		sigaddset(&block, forwarded[i]);
	}
	sigaddset(&block, SIGTTOU);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigdelset(&block, SIGTTOU);
	if ((sigfd = signalfd(-1, &block, SFD_CLOEXEC)) == -1)
		err(EX_OSERR, "signalfd");
	cmd.sigmask = &orig;
	if (fg)
		cmd.flags |= CS_SPAWN_FG;

	snprintf(num, sizeof(num), "%lld", opt.attempts);
	setenv("RETRY_MAX", opt.attempts > 0 ? num : "inf", 1);
	cs_backoff_init(&backoff, opt.delay, opt.factor, opt.max_delay,
	    opt.jitter);

	for (n = 1;; n++) {
		snprintf(num, sizeof(num), "%u", n);
		setenv("RETRY_ATTEMPT", num, 1);
		cmd.fd_in = -1;
		if (spool != -1 && (cmd.fd_in = cs_reopen(spool)) == -1)
			err(EX_OSERR, "stdin spool");
		if (hold && (held = cs_memfile("retry-stdout")) == -1)
			err(EX_OSERR, "memfd");
		cmd.fd_out = held;
		start = cs_now();
		r = cs_child_start(&cmd, &child);
		if (cmd.fd_in != -1)
			close(cmd.fd_in);
		if (r != 0) {
			reclaim_tty(fg);
			return r;	/* cannot run: 126, 127, 71 */
		}

		memset(&o, 0, sizeof(o));
		switch (cs_child_wait(&child,
		    opt.timeout == CS_INF ? deadline :
		    MIN(cs_deadline(opt.timeout), deadline), sigfd, &signo)) {
		case CS_WAIT_SIGNAL:
			/* Pass it on; no further attempt; die of it. */
			cs_child_stop(&child, signo, opt.kill_after);
			cs_child_reap(&child);
			reclaim_tty(fg);
			release(held, STDERR_FILENO);
			cs_die_of(signo);
		case CS_WAIT_DEADLINE:
			cs_child_stop(&child, SIGTERM, opt.kill_after);
			cs_child_reap(&child);
			o.timed_out = true;
			o.status = CS_EX_TIMEDOUT;
			break;
		case CS_WAIT_EXITED:
			/* Killed, not exited: exit 131 is a status. */
			o.status = cs_child_reap(&child);
			o.signal = child.signal;
			break;
		}
		o.duration = cs_now() - start;
		reclaim_tty(fg);

		if (o.status == 0) {
			release(held, STDOUT_FILENO);
			report(n, &o, 0, true);
			ecs_close_stdout();
			return 0;
		}
		release(held, STDERR_FILENO);
		if (held != -1)
			close(held);
		held = -1;

		/* Ctrl-C at the terminal went to the attempt, not to us:
		 * it stops the whole loop all the same. */
		if (o.signal == SIGINT || o.signal == SIGQUIT) {
			report(n, &o, 0, true);
			cs_die_of(o.signal);
		}
		if (!retryable(&o) || (opt.attempts > 0 && n >= opt.attempts) ||
		    cs_now() >= deadline) {
			report(n, &o, 0, true);
			return o.status;
		}
		next = cs_backoff_next(&backoff);
		if (deadline != CS_INF && next > deadline - cs_now())
			next = MAX(deadline - cs_now(), 0);
		report(n, &o, next, false);
		if (next > 0) {
			struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
			struct timespec ts = { next / CS_SEC, next % CS_SEC };
			struct signalfd_siginfo si;

			if (ppoll(&pfd, 1, &ts, NULL) == 1 &&
			    read(sigfd, &si, sizeof(si)) == sizeof(si))
				cs_die_of((int)si.ssi_signo);
		}
		if (cs_now() >= deadline)
			return o.status;	/* the sleep ran into it */
	}
}
