/*
 * lock.c - the suite's one lock protocol (SPEC 1.5).
 *
 * An exclusive flock(2) on a lock file: the kernel drops it when the
 * holder dies, so it never goes stale. After locking, the holder checks
 * that the path still names the inode it locked; if someone (staleclean,
 * logrotate) unlinked or renamed it meanwhile, it starts over on the new
 * file, so removing an unheld lock file is always safe.
 *
 * Waiting blocks in flock(2) and is bounded by an interval timer, rather
 * than polling with backoff: the kernel wakes a waiter the moment the lock
 * is released, where a poller would leave it idle until its next try.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

static void
on_alarm(int sig)
{
	(void)sig;		/* only here to interrupt flock(2) */
}

static void
set_timer(cs_nsec first, cs_nsec interval)
{
	struct itimerval it;

	it.it_value.tv_sec = first / CS_SEC;
	it.it_value.tv_usec = (first % CS_SEC) / 1000;
	it.it_interval.tv_sec = interval / CS_SEC;
	it.it_interval.tv_usec = (interval % CS_SEC) / 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* 0 locked, 1 timed out, -1 error (errno). */
static int
wait_flock(int fd, cs_nsec deadline)
{
	struct sigaction sa, old;
	cs_nsec left;
	int r = -1, save;

	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return -1;
	if (deadline == CS_INF) {
		while ((r = flock(fd, LOCK_EX)) == -1 && errno == EINTR)
			;
		return r;
	}
	if ((left = deadline - cs_now()) <= 0)
		return 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: flock must return */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	/*
	 * The repeating interval closes the race where the first alarm fires
	 * just before flock() is entered: the next one interrupts it.
	 */
	set_timer(left < 1000 ? 1000 : left, 10 * CS_MSEC);
	for (;;) {
		if (flock(fd, LOCK_EX) == 0) {
			r = 0;
			break;
		}
		if (errno != EINTR)
			break;
		if (cs_now() >= deadline) {
			r = 1;
			break;
		}
	}
	save = errno;
	set_timer(0, 0);
	sigaction(SIGALRM, &old, NULL);
	errno = save;
	return r;
}

size_t
cs_lock_owner_text(char *buf, size_t len)
{
	char cmd[256];
	unsigned long long start = 0;
	ssize_t n = 0;
	int fd, w;

	/* The command line, NULs as spaces, control bytes as '?'. */
	if ((fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)) != -1) {
		while ((n = read(fd, cmd, sizeof(cmd) - 1)) == -1 &&
		    errno == EINTR)
			;
		close(fd);
	}
	if (n < 0)
		n = 0;
	while (n > 0 && cmd[n - 1] == '\0')
		n--;
	cmd[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
		else if ((unsigned char)cmd[i] < 0x20 || cmd[i] == 0x7f)
			cmd[i] = '?';
	cs_proc_starttime(getpid(), &start, NULL);
	w = snprintf(buf, len,
	    "pid=%d\nstarttime=%llu\nboot_id=%s\nhost=%s\nuid=%u\ncmd=%s\n",
	    (int)getpid(), start, cs_boot_id(), cs_hostname(),
	    (unsigned)getuid(), cmd);
	if (w < 0)
		return 0;
	return (size_t)w < len ? (size_t)w : len - 1;
}

/*
 * Metadata is for humans and staleclean: a failure to write it is not
 * worth failing the caller's operation for. Only into a dedicated lock
 * file (SPEC 1.5): empty, or holding metadata already. A FILE.lock with
 * other content (Gemfile.lock, composer.lock) is data: locked, not
 * overwritten.
 */
static void
write_owner(int fd)
{
	char text[512], head[4];
	size_t len;
	ssize_t n;

	if ((n = pread(fd, head, sizeof(head), 0)) != 0 &&
	    (n != (ssize_t)sizeof(head) || memcmp(head, "pid=", 4) != 0))
		return;
	len = cs_lock_owner_text(text, sizeof(text));
	if (ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, text, len, 0);
}

int
cs_lock(const char *path, int open_flags, mode_t mode, int lockflags,
    cs_nsec timeout, int *fdp)
{
	struct stat held, named;
	cs_nsec deadline = cs_deadline(timeout);
	int fd = *fdp, r, rdonly;

	if ((lockflags & CS_LOCK_EXCLUDE) &&
	    (r = cs_locks_exclude(path, path)) != 0) {
		if (fd != -1)
			close(fd);
		*fdp = -1;
		return r;
	}
	for (;; fd = -1) {
		rdonly = 0;
		open_flags |= O_CLOEXEC | O_NOCTTY;
		if (lockflags & CS_LOCK_CREATE)
			open_flags |= O_CREAT;
		if (fd == -1)
			fd = open(path, open_flags, mode);
		if (fd == -1 && (lockflags & CS_LOCK_OWNER) &&
		    (errno == EACCES || errno == EROFS)) {
			/* Someone else's lock file: lock it without metadata. */
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
			    (open_flags & O_NOFOLLOW));
			rdonly = 1;
		}
		if (fd == -1)
			return cs_fail(errno, EX_CANTCREAT, path);
		if ((r = wait_flock(fd, deadline)) != 0) {
			close(fd);
			if (r == 1) {
				warnx("%s: timed out waiting for the lock",
				    path);
				return EX_TEMPFAIL;
			}
			return cs_fail(errno, EX_IOERR, path);
		}
		if (fstat(fd, &held) == 0 && stat(path, &named) == 0 &&
		    held.st_dev == named.st_dev && held.st_ino == named.st_ino)
			break;
		close(fd);	/* replaced or removed meanwhile: start over */
	}
	if ((lockflags & CS_LOCK_OWNER) && !rdonly)
		write_owner(fd);
	*fdp = fd;
	return 0;
}

int
cs_posix_lock_held(int fd, pid_t *pid)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_OFD_GETLK, &fl) == -1)
		return -1;
	if (pid != NULL)
		*pid = fl.l_pid;
	return fl.l_type != F_UNLCK;
}

/* PID, PID\n..., PID@HOST, or key=value lines (SPEC 1.5). */
bool
cs_parse_owner(char *text, struct cs_owner *o)
{
	char *line, *save = NULL, *end;
	long long n;
	bool kv = false;

	memset(o, 0, sizeof(*o));
	if (strncmp(text, "pid=", 4) == 0 || strstr(text, "\npid=") != NULL) {
		kv = true;
		for (line = strtok_r(text, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "pid=", 4) == 0) {
				n = strtoll(line + 4, &end, 10);
				if (*end == '\0' && n > INT_MIN && n < INT_MAX)
					o->pid = (pid_t)n;
			} else if (strncmp(line, "starttime=", 10) == 0) {
				o->start = strtoull(line + 10, &end, 10);
				o->has_start = *end == '\0';
			} else if (strncmp(line, "boot_id=", 8) == 0)
				strlcpy(o->boot_id, line + 8, sizeof(o->boot_id));
			else if (strncmp(line, "host=", 5) == 0)
				strlcpy(o->host, line + 5, sizeof(o->host));
		}
		return o->pid != 0 || kv;
	}
	while (*text == ' ')
		text++;
	n = strtoll(text, &end, 10);
	if (end == text || n < INT_MIN || n > INT_MAX)
		return false;
	o->pid = (pid_t)n;
	if (*end == '@') {
		strlcpy(o->host, end + 1, sizeof(o->host));
		o->host[strcspn(o->host, "\n \t")] = '\0';
	} else if (*end != '\0' && *end != '\n' && *end != ' ')
		return false;
	return true;
}

/* All digits, 1 to max: the number; else -1. */
static long long
digits(const char *s, size_t len, long long max)
{
	long long n = 0;
	size_t i;

	if (len == 0 || len > 19)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || n > (max - (s[i] - '0')) / 10)
			return -1;
		n = n * 10 + (s[i] - '0');
	}
	return n >= 1 ? n : -1;
}

/*
 * Symbolic-link locks: Emacs .#NAME -> USER@HOST.PID[:BOOT] (the host
 * may hold dots, so the pid is after the last one), Firefox-style
 * IP:+PID. Every number whole and in range, or the link is no lock of
 * ours: a pid that strtol would wrap into someone else's must not decide.
 */
bool
cs_parse_link_owner(const char *name, const char *target,
    struct cs_owner *o, const char **kind)
{
	const char *at, *dot, *colon, *p;
	long long pid, boot = 0;
	size_t hlen;

	memset(o, 0, sizeof(*o));
	if (strncmp(name, ".#", 2) == 0 && (at = strchr(target, '@')) != NULL &&
	    (dot = strrchr(at, '.')) != NULL) {
		colon = strchr(dot, ':');
		pid = digits(dot + 1, colon != NULL ? (size_t)(colon - dot - 1) :
		    strlen(dot + 1), INT_MAX);
		if (colon != NULL)
			boot = digits(colon + 1, strlen(colon + 1), LLONG_MAX);
		hlen = (size_t)(dot - at - 1);
		if (pid == -1 || boot == -1 || hlen == 0 ||
		    hlen >= sizeof(o->host))
			return false;
		o->pid = (pid_t)pid;
		o->boot = (time_t)boot;
		memcpy(o->host, at + 1, hlen);
		*kind = "emacs-lock";
		return true;
	}
	if ((p = strstr(target, ":+")) != NULL &&
	    (pid = digits(p + 2, strlen(p + 2), INT_MAX)) != -1) {
		o->pid = (pid_t)pid;
		*kind = "symlink-lock";
		return true;
	}
	return false;
}
