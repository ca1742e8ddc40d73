/* SPDX-License-Identifier: ISC */
/*
 * withlock - run a command under a lock that cannot go stale: the lock
 * protocol of SPEC 1.5 (flock, inode re-check, owner metadata), the
 * command watched over as retry watches its attempts (lib/guard.c), and
 * killed with the lock if we are (SPEC 8).
 *
 * The lock is a backend: a local file, or etcd (lib/etcd.c: a lease kept
 * alive, the command stopped before the lease can run out). This file is
 * built twice: withlock, static and without etcd, so that a local lock
 * costs what flock(1) does (SPEC 8), and withlock-etcd (CS_WITH_ETCD),
 * linked with libcurl and jansson, which withlock executes for an
 * etcd:// lock.
 */
#include <sys/param.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crashsafe.h"
#include "withlock.h"



/* A lock held while the command runs. */
struct held {
	const char	*lock;		/* as given */
	int		 fd;		/* file: the locked fd */
	unsigned long long token;	/* 0: none */
	struct cs_etcd	*etcd;		/* etcd: the lease and the key */
	cs_nsec		 waited, since, until; /* etcd: cs_now()s */
	struct cs_holder busy;		/* etcd: who held it, when busy */
	bool		 was_busy;
};

struct backend {
	const char	*name;
	/* Take it: 0, EX_TEMPFAIL when still busy at the end of the wait
	 * (the holder in busy()), or another exit status. */
	int		(*take)(struct held *, int flags);
	void		(*drop)(struct held *);
	/* Who holds it: 1 held, 0 free, or -(exit status). */
	int		(*who)(const char *lock, struct cs_holder *);
	/* Waited for and held (until now if held), for -v and --json. */
	void		(*times)(const struct held *, cs_nsec *, cs_nsec *);
	/* Who held it when we gave up waiting, or NULL. */
	const struct cs_holder *(*busy)(const struct held *);
};

static int	file_take(struct held *, int);
static void	file_drop(struct held *);
static int	file_who(const char *, struct cs_holder *);
static void	file_times(const struct held *, cs_nsec *, cs_nsec *);
static const struct cs_holder *file_busy(const struct held *);

static const struct backend file_backend = {
	"file", file_take, file_drop, file_who, file_times, file_busy,
};

#ifdef CS_WITH_ETCD
static int	etcd_take(struct held *, int);
static void	etcd_drop(struct held *);
static int	etcd_who(const char *, struct cs_holder *);
static void	etcd_times(const struct held *, cs_nsec *, cs_nsec *);
static const struct cs_holder *etcd_busy(const struct held *);

static const struct backend etcd_backend = {
	"etcd", etcd_take, etcd_drop, etcd_who, etcd_times, etcd_busy,
};
#endif

static void	put_holder(FILE *f, const struct cs_holder *h);
static void	put_lock(FILE *f, const char *lock);
static void	json_record(const struct backend *be, const struct held *h,
	    int status);
static int	status(const struct backend *be, const char *lock);
static void	report(const struct backend *be, const struct held *h);
static void	export_lock(const struct held *h);
static int	lost(const char *lock, const char *cmd, int status);
#ifdef CS_WITH_ETCD
static cs_nsec	lease_grace(void);
static int	etcd_open(const char *lock, struct cs_etcd **e);
#endif
#ifndef CS_WITH_ETCD
static CS_NORETURN void	exec_etcd(char *argv[], const char *lock);
#endif

/* ---- the file backend (SPEC 1.5) ---- */

static int
file_take(struct held *h, int flags)
{
	int r;

	h->fd = -1;
	flags |= CS_LOCK_CREATE | CS_LOCK_OWNER | CS_LOCK_EXCLUDE;
	if (opt.shared)
		flags |= CS_LOCK_SHARED;
	if ((r = cs_lock(h->lock, O_RDWR | O_NONBLOCK, 0666, flags, opt.wait,
	    &h->fd)) != 0)
		return r;
	h->token = cs_lock_token();
	return 0;
}

static void
file_drop(struct held *h)
{
	if (h->fd == -1)
		return;
	cs_unlock(h->fd);
	close(h->fd);
	h->fd = -1;
}

/* Looked at, never locked: a probe must not make another's flock -n
 * fail. A file we may not read is still looked up by its inode. */
static int
file_who(const char *lock, struct cs_holder *who)
{
	struct stat st = { .st_ino = 0 };
	int fd, old, r = 0;

	fd = open(lock, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1 && (errno == EACCES || errno == EPERM))
		fd = open(lock, O_PATH | O_CLOEXEC);
	if (fd == -1 && errno != ENOENT)
		return -cs_fail(errno, EX_NOINPUT, lock);
	if (fd != -1 && (fstat(fd, &st) == -1 ||
	    (r = cs_lock_holder(fd, who, false)) == -1))
		r = -cs_fail(errno, EX_IOERR, lock);
	if (fd != -1)
		close(fd);
	/* Free, or no file: a holder of a removed one still holds it. */
	if (r == 0 && (old = cs_removed_holder(lock, st.st_ino)) != -1) {
		r = cs_lock_holder(old, who, true) == -1 ? 0 : 1;
		close(old);
	}
	return r;
}

static void
file_times(const struct held *h, cs_nsec *waited, cs_nsec *held)
{
	(void)h;
	cs_lock_times(waited, held);
}

static const struct cs_holder *
file_busy(const struct held *h)
{
	(void)h;
	return cs_lock_busy_holder();
}

#ifdef CS_WITH_ETCD
/* ---- the etcd backend (SPEC 8, lib/etcd.c) ---- */

/*
 * TERM to KILL once the lease is lost: the keepalive presumes it lost
 * this much before its end, and the guard kills this much after TERM.
 * -k, but no more than a fifth of the TTL.
 */
static cs_nsec
lease_grace(void)
{
	return MIN(opt.kill_after, opt.ttl / 5);
}

static int
etcd_open(const char *lock, struct cs_etcd **e)
{
	struct cs_etcd_opts o = {
		.cacert = opt.cacert, .cert = opt.cert, .key = opt.key,
		.insecure_skip_verify = opt.insecure, .ttl = opt.ttl,
		.grace = lease_grace(),
	};
	const char *v;

	/* as etcdctl takes them */
	if (o.cacert == NULL)
		o.cacert = getenv("ETCDCTL_CACERT");
	if (o.cert == NULL)
		o.cert = getenv("ETCDCTL_CERT");
	if (o.key == NULL)
		o.key = getenv("ETCDCTL_KEY");
	if ((v = getenv("ETCDCTL_INSECURE_SKIP_TLS_VERIFY")) != NULL &&
	    strcmp(v, "true") == 0)
		o.insecure_skip_verify = true;
	return cs_etcd_open(e, lock, &o);
}

static int
etcd_take(struct held *h, int flags)
{
	cs_nsec start = cs_now();
	int r;

	if ((r = etcd_open(h->lock, &h->etcd)) != 0)
		return r;
	if ((r = cs_etcd_lease(h->etcd)) == 0)
		r = cs_etcd_lock(h->etcd, opt.wait, &h->token, &h->busy);
	h->since = cs_now();
	h->waited = h->since - start;
	if (r == EX_TEMPFAIL && h->busy.what[0] + h->busy.pid != 0) {
		h->was_busy = true;
		if (!(flags & CS_LOCK_QUIET))
			cs_busy_message(h->lock, opt.wait, &h->busy);
	}
	if (r != 0)
		etcd_drop(h);		/* revoked: our key leaves the queue */
	if (r > CS_EX_SIGNAL)
		cs_die_of(r - CS_EX_SIGNAL);	/* interrupted while waiting */
	return r;
}

static void
etcd_drop(struct held *h)
{
	if (h->etcd != NULL && h->token != 0)
		h->until = cs_now();
	cs_etcd_close(h->etcd);
	h->etcd = NULL;
}

static int
etcd_who(const char *lock, struct cs_holder *who)
{
	struct cs_etcd *e;
	int r;

	if ((r = etcd_open(lock, &e)) != 0)
		return -r;
	r = cs_etcd_holder(e, who);
	cs_etcd_close(e);
	return r;
}

static void
etcd_times(const struct held *h, cs_nsec *waited, cs_nsec *held)
{
	*waited = h->waited;
	*held = h->token == 0 ? 0 : (h->until != 0 ? h->until : cs_now()) -
	    h->since;
}

static const struct cs_holder *
etcd_busy(const struct held *h)
{
	return h->was_busy ? &h->busy : NULL;
}
#else
/*
 * etcd:// is withlock-etcd's, installed beside us in
 * ../libexec/crashsafe/: executed with our arguments as they came.
 */
static CS_NORETURN void
exec_etcd(char *argv[], const char *lock)
{
	char self[PATH_MAX], *helper;
	ssize_t n;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		err(EX_OSERR, "/proc/self/exe");
	self[n] = '\0';
	if (strrchr(self, '/') != NULL)
		*strrchr(self, '/') = '\0';
	if (asprintf(&helper, "%s/../libexec/crashsafe/withlock-etcd", self)
	    == -1)
		err(EX_OSERR, "asprintf");
	execv(helper, argv);
	warn("%s: etcd locks need %s", lock, helper);
	exit(EX_UNAVAILABLE);
}
#endif

/* ---- reports ---- */

static void
put_holder(FILE *f, const struct cs_holder *h)
{
	char since[32];
	struct tm tm;

	if (h == NULL) {
		fputs("null", f);
		return;
	}
	fputc('{', f);
	if (h->pid > 0)
		fprintf(f, "\"pid\":%d", (int)h->pid);
	else
		fputs("\"pid\":null", f);
	fputs(",\"cmd\":", f);
	if (h->cmd[0] != '\0')
		cs_put_json_string(f, h->cmd, strlen(h->cmd));
	else
		fputs("null", f);
	fputs(",\"host\":", f);
	if (h->host[0] != '\0')
		cs_put_json_string(f, h->host, strlen(h->host));
	else
		fputs("null", f);
	if (h->since > 0 && gmtime_r(&h->since, &tm) != NULL &&
	    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		fprintf(f, ",\"since\":\"%s\"", since);
	else
		fputs(",\"since\":null", f);
	fprintf(f, ",\"shared\":%s,\"holders\":%d}", h->shared ? "true" :
	    "false", h->others + 1);
}

/* The lock's name; one that is not UTF-8 also as lock_hex, so that two
 * names never look alike (as staleclean's path_hex). */
static void
put_lock(FILE *f, const char *lock)
{
	size_t len = strlen(lock);

	cs_put_json_string(f, lock, len);
	if (!cs_utf8_valid(lock, len)) {
		fputs(",\"lock_hex\":\"", f);
		cs_put_hex(f, lock, len);
		fputc('"', f);
	}
}

/* --json: one object on stderr when done (SPEC 8), on a line of its own,
 * written whole, a signal not cutting it short. */
static void
json_record(const struct backend *be, const struct held *h, int status)
{
	cs_nsec waited, held;
	sigset_t all, old;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!opt.json || (f = open_memstream(&buf, &len)) == NULL)
		return;
	be->times(h, &waited, &held);
	fputs("{\"lock\":", f);
	put_lock(f, h->lock);
	fprintf(f, ",\"backend\":\"%s\",\"waited_s\":%.6f,\"held_s\":%.6f,"
	    "\"token\":", be->name, (double)waited / CS_SEC,
	    (double)held / CS_SEC);
	if (h->token != 0)
		fprintf(f, "%llu", h->token);
	else
		fputs("null", f);
	fputs(",\"holder_when_busy\":", f);
	put_holder(f, be->busy(h));
	fprintf(f, ",\"status\":%d}\n", status);
	if (fclose(f) != 0) {
		free(buf);
		return;
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if (cs_stderr_mid_line())
		(void)cs_write_all(STDERR_FILENO, "\n", 1);
	(void)cs_write_all(STDERR_FILENO, buf, len);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(buf);
}

/* --status LOCK: who holds it; exit 0 held, 1 free. */
static int
status(const struct backend *be, const char *lock)
{
	struct cs_holder who;
	char text[600];
	int r;

	if ((r = be->who(lock, &who)) < 0)
		return -r;
	if (opt.json) {
		printf("{\"lock\":");
		put_lock(stdout, lock);
		printf(",\"backend\":\"%s\",\"held\":%s,\"holder\":", be->name,
		    r == 1 ? "true" : "false");
		put_holder(stdout, r == 1 ? &who : NULL);
		printf("}\n");
	} else if (r == 1) {
		cs_holder_text(&who, text, sizeof(text));
		printf("%s: held by %s\n", lock, text);
	} else
		printf("%s: free\n", lock);
	ecs_close_stdout();
	return r == 1 ? 0 : CS_EX_FALSE;
}

/* -v: how long the lock was waited for and held; with --json the
 * object says it (waited_s, held_s), and stderr stays one object a line. */
static void
report(const struct backend *be, const struct held *h)
{
	cs_nsec waited, held;

	if (opt.json)
		return;
	be->times(h, &waited, &held);
	cs_lock_report_times(h->lock, waited, held);
}

/* CRASHSAFE_LOCK: the lock as the command can reach it from anywhere. */
static void
export_lock(const struct held *h)
{
	char cwd[PATH_MAX], *abs = NULL, tok[32];

	if (h->lock[0] != '/' && h->etcd == NULL &&
	    getcwd(cwd, sizeof(cwd)) != NULL &&
	    asprintf(&abs, "%s/%s", cwd, h->lock) == -1)
		abs = NULL;
	if (setenv("CRASHSAFE_LOCK", abs != NULL ? abs : h->lock, 1) == -1)
		err(EX_OSERR, "setenv");
	free(abs);
	/* No token of ours: none inherited from an outer lock either. */
	if (h->token == 0)
		unsetenv("CRASHSAFE_LOCK_TOKEN");
	else {
		snprintf(tok, sizeof(tok), "%llu", h->token);
		if (setenv("CRASHSAFE_LOCK_TOKEN", tok, 1) == -1)
			err(EX_OSERR, "setenv");
	}
}

/* The lock lost while the command ran (etcd): 75, whatever it did. */
static int
lost(const char *lock, const char *cmd, int status)
{
	if (status == -1)
		warnx("%s: lock lost: the lease could not be confirmed in "
		    "time; %s was not started", lock, cmd);
	else if (status == CS_EX_SIGNAL + SIGTERM ||
	    status == CS_EX_SIGNAL + SIGKILL)
		warnx("%s: lock lost: the lease could not be confirmed in "
		    "time; %s was stopped", lock, cmd);
	else
		warnx("%s: lock lost: the lease could not be confirmed in "
		    "time; %s ended meanwhile (its status: %d)", lock, cmd,
		    status);
	return EX_TEMPFAIL;
}

int
main(int argc, char *argv[])
{
	const struct backend *be = &file_backend;
	char **args = argv;
	struct cs_cmd cmd = { .fd_in = -1, .fd_out = -1, .fd_err = -1 };
	struct cs_child child;
	struct cs_guard guard;
	struct cs_watchdog watchdog = { .pid = -1, .fd = -1 };
	struct held h = { .fd = -1 };
	bool timed_out;
	int r, sig, flags = 0;

	parse_options(argc, argv);
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		warnx("missing lock file");
		usage(EX_USAGE);
	}
	h.lock = argv[0];
	if (h.lock[0] == '\0') {
		warnx("empty lock file name");
		usage(EX_USAGE);
	}
	argc--;
	argv++;
	if (argc > 0 && strcmp(argv[0], "--") == 0) {
		argc--;
		argv++;
	}
	if (opt.status && argc > 0) {
		warnx("--status takes a lock, not a command");
		usage(EX_USAGE);
	}
	if (!opt.status && argc < 1) {
		warnx("missing command");
		usage(EX_USAGE);
	}
	if (strncmp(h.lock, CS_ETCD_SCHEME, strlen(CS_ETCD_SCHEME)) == 0) {
		if (opt.shared) {
			warnx("%s: shared locks are for lock files only",
			    h.lock);
			usage(EX_USAGE);
		}
#ifdef CS_WITH_ETCD
		be = &etcd_backend;
#else
		exec_etcd(args, h.lock);
#endif
	} else if (strstr(h.lock, "://") != NULL) {
		warnx("%s: not a lock file nor an etcd:// lock (./%s is a "
		    "file of that name)", h.lock, h.lock);
		usage(EX_USAGE);
	} else if (opt.etcd_only) {
		warnx("%s: --ttl, --cacert, --cert, --key and "
		    "--insecure-skip-tls-verify are for etcd:// locks", h.lock);
		usage(EX_USAGE);
	}
	(void)args;
	cs_tool_init();
	if (opt.status)
		return status(be, h.lock);

	/*
	 * Without a terminal the command leads its own process group, which
	 * the watchdog kills if we are killed; started now, before the lock,
	 * so that the lock's holder does not wait for it.
	 */
	if (!cs_have_tty() && cs_watchdog_start(&watchdog) == -1)
		cs_warn("cannot start the watchdog (kill -9 would leave the "
		    "command running)");
	/*
	 * Wait with the signals as our caller left them: Ctrl-C while we
	 * wait ends us as it would flock(1), with nothing to clean up (the
	 * watchdog sees its pipe close before it learnt a group: it exits).
	 */
	cs_lock_owner_cmd(argv);
	/* --json: the record names the holder; no line beside it */
	if (cs_verbosity < 0 || (opt.conflict_exit == 0 && cs_verbosity < 1) ||
	    opt.json)
		flags |= CS_LOCK_QUIET;
	if ((r = be->take(&h, flags)) != 0) {
		if (r == EX_TEMPFAIL)
			r = opt.conflict_exit;
		report(be, &h);
		json_record(be, &h, r);
		return r;
	}
	export_lock(&h);

	cmd.argv = argv;
	cmd.flags = CS_SPAWN_PDEATHSIG;
	cs_guard_init(&guard, &cmd);
	if (cmd.flags & CS_SPAWN_PGRP)
		cmd.watchdog = &watchdog;	/* armed as it starts */
	else
		cs_watchdog_disarm(&watchdog);	/* a terminal's job */
#ifdef CS_WITH_ETCD
	guard.lost_fd = cs_etcd_lost_fd(h.etcd);
	guard.lost_grace = lease_grace();
	if (!cs_etcd_lease_ok(h.etcd)) {
		cs_watchdog_disarm(&watchdog);
		r = lost(h.lock, argv[0], -1);
		be->drop(&h);
		json_record(be, &h, r);
		return r;
	}
#endif
	if ((r = cs_child_start(&cmd, &child)) != 0) {
		cs_watchdog_disarm(&watchdog);
		be->drop(&h);
		report(be, &h);
		json_record(be, &h, r);
		return r;		/* cannot run: 126, 127, 71 */
	}
	guard.watchdog = &watchdog;
	r = cs_guard_wait(&guard, &child, cs_deadline(opt.max_time),
	    opt.kill_after, &timed_out);
	report(be, &h);
	be->drop(&h);
	if (timed_out)
		cs_warnx("%s: stopped after %gs (--max-time)", argv[0],
		    (double)opt.max_time / CS_SEC);
	if (guard.lost)
		r = lost(h.lock, argv[0], child.signal != 0 ? CS_EX_SIGNAL +
		    child.signal : r);
	sig = cs_guard_fatal(&guard, child.signal);
	json_record(be, &h, sig != 0 ? CS_EX_SIGNAL + sig : r);
	/*
	 * A signal passed on, or one from the terminal that ended the
	 * command too: we die of it, so that the calling script stops as
	 * it would for the bare command. Ctrl-C the command handled: its
	 * status stands.
	 */
	if (sig != 0)
		cs_die_of(sig);
	return r;
}
