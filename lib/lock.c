/* SPDX-License-Identifier: ISC */
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
 *
 * Who holds a lock is read from /proc/locks (the kernel's word) and the
 * holder's metadata (its own), never by taking the lock.
 */
#include <sys/file.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

/* What this process's lock went through: -v and --json report it, and
 * the busy message names who held it (SPEC 1.5). */
static struct {
	cs_nsec			 waited;	/* all acquisitions, in total */
	cs_nsec			 held;		/* released ones, in total */
	cs_nsec			 since;		/* cs_now() when last taken */
	int			 fd;		/* held now, or -1 */
	unsigned long long	 token;		/* gen= we wrote; 0: none */
	char			 cmd[256];	/* cmd= we write */
	struct cs_holder	 busy;		/* who held it when we gave up */
	bool			 was_busy;
} lk = { .fd = -1 };

/* 0 locked, 1 timed out, -1 error (errno). op: LOCK_EX or LOCK_SH. */
static int
wait_flock(int fd, int op, cs_nsec deadline)
{
	struct cs_alarm tick;
	cs_nsec left;
	int r = -1;

	if (flock(fd, op | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return -1;
	if (deadline == CS_INF) {
		while ((r = flock(fd, op)) == -1 && errno == EINTR)
			;
		return r;
	}
	if ((left = deadline - cs_now()) <= 0)
		return 1;
	cs_alarm_on(&tick, left, 10 * CS_MSEC);
	/* With no timer to be had (RLIMIT_SIGPENDING), ask every 10 ms. */
	for (;;) {
		if (flock(fd, tick.armed ? op : op | LOCK_NB) == 0) {
			r = 0;
			break;
		}
		if (errno != (tick.armed ? EINTR : EWOULDBLOCK))
			break;
		if (cs_now() >= deadline) {
			r = 1;
			break;
		}
		if (!tick.armed)
			(void)cs_sleep(10 * CS_MSEC, deadline, -1, NULL);
	}
	cs_alarm_off(&tick);
	return r;
}

void
cs_lock_owner_cmd(char *const argv[])
{
	size_t len = 0, i, need;
	unsigned char c;
	bool cut = false;

	lk.cmd[0] = '\0';
	for (; *argv != NULL && !cut; argv++) {
		if (len > 0)
			lk.cmd[len++] = ' ';
		len += strlcpy(lk.cmd + len, *argv, sizeof(lk.cmd) - len);
		if ((cut = len >= sizeof(lk.cmd) - 1))
			len = sizeof(lk.cmd) - 1;
	}
	/* Cut at a character, not inside one: an incomplete last UTF-8
	 * sequence goes. */
	for (i = len; cut && i > 0 && len - i < 4 &&
	    ((unsigned char)lk.cmd[i - 1] & 0xc0) == 0x80; i--)
		;
	if (cut && i > 0) {
		c = (unsigned char)lk.cmd[i - 1];
		need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		if (need > len - (i - 1))
			len = i - 1;
	}
	lk.cmd[len] = '\0';
	cs_one_line(lk.cmd, len);
}

/*
 * Metadata is for humans and staleclean: a failure to write it is not
 * worth failing the caller's operation for. Only into a dedicated lock
 * file (SPEC 1.5): empty, or holding metadata already (content, prev:
 * cs_read_owner's). gen= counts the holders: the fencing token. A new
 * file starts it at the time in microseconds, so that it still grows when
 * the file was removed between two holders.
 */
size_t
cs_owner_text(char *text, size_t size, unsigned long long gen, time_t since)
{
	unsigned long long start = 0;
	char gentext[32] = "";
	int len;

	if (lk.cmd[0] == '\0')
		cs_proc_cmdline(getpid(), lk.cmd, sizeof(lk.cmd));
	cs_proc_starttime(getpid(), &start, NULL);
	if (gen != 0)
		snprintf(gentext, sizeof(gentext), "gen=%llu\n", gen);
	len = snprintf(text, size,
	    "pid=%d\nstarttime=%llu\nboot_id=%s\nhost=%s\nuid=%u\n"
	    "%ssince=%lld\ncmd=%s\n",
	    (int)getpid(), start, cs_boot_id(), cs_hostname(),
	    (unsigned)getuid(), gentext, (long long)since, lk.cmd);
	return len <= 0 ? 0 : MIN((size_t)len, size - 1);
}

static void
write_owner(int fd, int content, const struct cs_owner *prev)
{
	char text[1024];
	struct timespec now;
	unsigned long long gen;
	size_t len;

	if (content == -1)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gen = (unsigned long long)now.tv_sec * 1000000 +
	    (unsigned long long)now.tv_nsec / 1000;
	if (content == 1 && prev->gen > 0)
		gen = prev->gen + 1;
	if ((len = cs_owner_text(text, sizeof(text), gen, now.tv_sec)) == 0)
		return;
	if (ftruncate(fd, 0) == 0 && pwrite(fd, text, len, 0) == (ssize_t)len)
		lk.token = gen;
}

/* "10s", "1.5s", "250ms" */
static void
duration_text(char *buf, size_t len, cs_nsec d)
{
	if (d < CS_SEC && d % CS_MSEC == 0)
		snprintf(buf, len, "%lldms", (long long)(d / CS_MSEC));
	else
		snprintf(buf, len, "%gs", (double)d / CS_SEC);
}

/* path: busy for 10s; held by pid 4242 (backup.sh) since 12:03:07 */
void
cs_busy_message(const char *path, cs_nsec timeout, const struct cs_holder *h)
{
	char who[512], wait[32] = "";

	cs_holder_text(h, who, sizeof(who));
	if (timeout > 0) {
		memcpy(wait, " for ", 5);
		duration_text(wait + 5, sizeof(wait) - 5, timeout);
	}
	warnx("%s: busy%s; held by %s", path, wait, who);
}

/*
 * A lock file removed while held (rm -f, a cleaner that does not look)
 * leaves its holder locking an inode the name no longer reaches: the
 * inode re-check cannot see it, and we would run beside it. Such a holder
 * of our path (cs_removed_holder) is waited for as if it held the name.
 * 0 none, 2 one was waited for (look again), 1 timed out (the holder in
 * lk.busy), -1 error.
 */
#define REMOVED_SLICE	(50 * CS_MSEC)

static int
removed_holder(const char *path, const struct stat *held, int op,
    cs_nsec deadline)
{
	int old, r;

	if ((old = cs_removed_holder(path, held->st_ino)) == -1)
		return 0;
	/*
	 * Waited for in slices, the name looked at between them: two that
	 * each hold a file removed while they looked would otherwise wait
	 * for each other for ever. Between slices, each finds its own file
	 * gone, and starts over.
	 */
	r = wait_flock(old, op, MIN(deadline, cs_now() + REMOVED_SLICE));
	if (r == 1 && cs_now() >= deadline) {
		lk.was_busy = true;
		(void)cs_lock_holder(old, &lk.busy, true);
	} else if (r == 1)
		r = 0;
	close(old);		/* and the lock we took on it with it */
	return r == 0 ? 2 : r;
}

/*
 * Whether a holder of a removed file of our name can exist: not when the
 * file we locked holds metadata with a gen= (content, prev), as a previous
 * holder of this very file wrote it after it had looked (an older file of
 * the name was removed before this one was made, and so before that
 * look). Only dedicated lock files: a data file (atomicappend's) removed
 * while held loses what is written into it whatever the lock does.
 */
static bool
must_look(int lockflags, int content, const struct cs_owner *prev)
{
	return (lockflags & CS_LOCK_OWNER) &&
	    !(content == 1 && prev->pid > 0 && prev->gen > 0);
}

/* Does path still name the inode fd has locked (its stat in *held)? */
static bool
still_named(int fd, const char *path, struct stat *held)
{
	struct stat named;

	return fstat(fd, held) == 0 && stat(path, &named) == 0 &&
	    held->st_dev == named.st_dev && held->st_ino == named.st_ino;
}

int
cs_lock(const char *path, int open_flags, mode_t mode, int lockflags,
    cs_nsec timeout, int *fdp)
{
	struct stat held;
	struct cs_owner prev;
	cs_nsec start = cs_now(), deadline = cs_deadline(timeout);
	int fd = *fdp, r, rdonly, e, content = -1;
	bool look;
	int op = (lockflags & CS_LOCK_SHARED) ? LOCK_SH : LOCK_EX;

	if ((lockflags & CS_LOCK_EXCLUDE) &&
	    (r = cs_locks_exclude(path, path)) != 0) {
		if (fd != -1)
			close(fd);
		*fdp = -1;
		return r;
	}
	lk.token = 0;
	lk.was_busy = false;
	for (;; fd = -1) {
		rdonly = 0;
		open_flags |= O_CLOEXEC | O_NOCTTY;
		if (lockflags & CS_LOCK_CREATE)
			open_flags |= O_CREAT;
		if (fd == -1)
			fd = open(path, open_flags, mode);
		if (fd == -1 && (lockflags & CS_LOCK_OWNER) &&
		    (errno == EACCES || errno == EROFS || errno == EISDIR ||
		    errno == EPERM)) {
			/* Someone else's lock file, one on a read-only
			 * filesystem, a directory, an immutable or
			 * append-only file: locked without metadata. */
			e = errno;
			fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
			    O_NOCTTY | (open_flags & O_NOFOLLOW));
			if (fd == -1 && errno == ENOENT)
				errno = e;	/* it could not be created */
			rdonly = 1;
		}
		if (fd == -1)
			return cs_fail(errno, EX_CANTCREAT, path);
		/* Where it led (a symlink to another filesystem): the file
		 * itself must be where locks exclude. */
		if ((lockflags & CS_LOCK_EXCLUDE) &&
		    (r = cs_locks_exclude_fd(fd, path)) != 0) {
			close(fd);
			*fdp = -1;
			return r;
		}
		if ((r = wait_flock(fd, op, deadline)) != 0) {
			lk.waited += cs_now() - start;
			if (r == 1) {
				lk.was_busy = true;
				(void)cs_lock_holder(fd, &lk.busy, true);
			}
			close(fd);
			goto failed;
		}
		/* Still the name's inode, and no holder of a removed one. */
		content = (lockflags & (CS_LOCK_OWNER | CS_LOCK_SHARED)) ?
		    cs_read_owner(fd, &prev) : -1;
		look = must_look(lockflags, content, &prev);
		while (still_named(fd, path, &held) && look &&
		    (r = removed_holder(path, &held, op, deadline)) == 2)
			;
		if (r != 2 && r != 0) {
			e = errno;
			lk.waited += cs_now() - start;
			close(fd);
			errno = e;
			goto failed;
		}
		if (r == 0 && still_named(fd, path, &held))
			break;
		close(fd);	/* replaced or removed meanwhile: start over */
	}
	if (op == LOCK_SH)
		lk.token = content == 1 ? prev.gen : 0;
	else if ((lockflags & CS_LOCK_OWNER) && !rdonly)
		write_owner(fd, content, &prev);
	lk.since = cs_now();
	lk.waited += lk.since - start;
	lk.fd = fd;
	*fdp = fd;
	return 0;
failed:
	if (r == 1) {
		if (!(lockflags & CS_LOCK_QUIET))
			cs_busy_message(path, timeout, &lk.busy);
		return EX_TEMPFAIL;
	}
	return cs_fail(errno, EX_IOERR, path);
}

void
cs_unlock(int fd)
{
	if (fd == lk.fd && fd != -1) {
		lk.held += cs_now() - lk.since;
		lk.fd = -1;
	}
	(void)flock(fd, LOCK_UN);
}

void
cs_lock_times(cs_nsec *waited, cs_nsec *held)
{
	*waited = lk.waited;
	*held = lk.held + (lk.fd != -1 ? cs_now() - lk.since : 0);
}

void
cs_lock_report(const char *path)
{
	cs_nsec waited, held;

	cs_lock_times(&waited, &held);
	cs_lock_report_times(path, waited, held);
}

void
cs_lock_report_times(const char *path, cs_nsec waited, cs_nsec held)
{
	cs_info("%s: lock waited %.3fs, held %.3fs", path,
	    (double)waited / CS_SEC, (double)held / CS_SEC);
}

unsigned long long
cs_lock_token(void)
{
	return lk.token;
}

const struct cs_holder *
cs_lock_busy_holder(void)
{
	return lk.was_busy ? &lk.busy : NULL;
}

