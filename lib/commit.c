/* SPDX-License-Identifier: ISC */
/*
 * commit.c - replacing a file so that readers see the old or the new one,
 * never a mix (SPEC 1.4): a temp file beside the target (same filesystem,
 * so rename(2) is atomic), data fsync, rename, directory fsync. A failed
 * data fsync is final: Linux may have dropped the dirty pages, so a second
 * fsync could report success for data that is gone.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

static const char *const sync_names[] = {
	[CS_SYNC_NONE] = "none",
	[CS_SYNC_DATA] = "data",
	[CS_SYNC_FULL] = "full",
};

int
cs_parse_sync(const char *s, enum cs_sync *out)
{
	int i = cs_parse_word(s, sync_names, CS_NWORDS(sync_names), false);

	if (i == -1)
		return -1;
	*out = (enum cs_sync)i;
	return 0;
}

/* Open a directory as the shell reaches it for D/FILE (see cs_dir_dot). */
static int
open_dir(const char *dir)
{
	char *dot;
	int fd, e;

	if ((dot = cs_dir_dot(dir)) == NULL)
		return -1;
	fd = open(dot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	e = errno;
	free(dot);
	errno = e;
	return fd;
}

void
cs_temp_name(char *buf, size_t len, const char *base, pid_t pid,
    const char *suffix6)
{
	char tail[64];
	size_t room;

	snprintf(tail, sizeof(tail), ".cs-%d-%s", (int)pid, suffix6);
	/* ".BASE" + tail must fit NAME_MAX: shorten BASE, keep the tail,
	 * which is what staleclean recognises. */
	room = NAME_MAX - 1 - strlen(tail);
	snprintf(buf, len, ".%.*s%s", (int)room, base, tail);
}

bool
cs_temp_name_pid(const char *name, pid_t *pid)
{
	const char *p, *dash;
	long long n;
	size_t len = strlen(name);

	if (name[0] != '.' || len < 12 || name[len - 7] != '-')
		return false;
	for (p = name + len - 6; *p != '\0'; p++)
		if (strchr(CS_ALNUM, *p) == NULL)
			return false;
	dash = name + len - 7;
	for (p = dash; p > name && p[-1] >= '0' && p[-1] <= '9'; p--)
		;
	if (p == dash || p - name < 5 || strncmp(p - 4, ".cs-", 4) != 0)
		return false;
	n = strtoll(p, NULL, 10);
	*pid = (pid_t)n;
	return n > 0 && n <= INT_MAX;
}

/*
 * One arc4random_buf for all six (libbsd's arc4random_uniform calls
 * getpid(2) on every call, to notice a fork). A byte at or above the
 * largest multiple of the alphabet's length is drawn again, so that no
 * letter is likelier than another.
 */
void
cs_random_suffix(char s[7], const char *alphabet)
{
	unsigned char r[32];
	size_t n = strlen(alphabet), limit = 256 - 256 % n, used = sizeof(r);
	int i;

	for (i = 0; i < 6; i++) {
		do {
			if (used == sizeof(r)) {
				arc4random_buf(r, sizeof(r));
				used = 0;
			}
		} while (r[used++] >= limit);
		s[i] = alphabet[r[used - 1] % n];
	}
	s[6] = '\0';
}

static void
temp_free(struct cs_temp *t)
{
	if (t->fd != -1)
		close(t->fd);
	if (t->dirfd != -1)
		close(t->dirfd);
	free(t->dir);
	free(t->base);
	free(t->path);
	t->fd = t->dirfd = t->slot = -1;
	t->dir = t->base = t->path = NULL;
	t->created = false;
}

/*
 * A new name .BASE.cs-PID-XXXXXX beside target: a fresh file (from ==
 * NULL) or a hard link to from (in the same directory).
 */
static int
temp_make(struct cs_temp *t, const char *target, const char *from,
    mode_t mode, const char *context)
{
	sigset_t old;
	char suffix[7];
	int tries, e = 0, ok;

	memset(t, 0, sizeof(*t));
	t->fd = t->dirfd = t->slot = -1;
	if (cs_split_path(target, &t->dir, &t->base) == -1)
		return cs_fail(errno, EX_CANTCREAT, context);
	t->dirfd = open_dir(t->dir);
	if (t->dirfd == -1) {
		e = errno;
		temp_free(t);
		return cs_fail(e, EX_CANTCREAT, context);
	}
	for (tries = 0; tries < 100; tries++) {
		cs_random_suffix(suffix, CS_ALNUM);
		cs_temp_name(t->name, sizeof(t->name), t->base, getpid(),
		    suffix);
		/* No window in which a signal could orphan the file. */
		cs_signals_block(&old);
		if (from == NULL) {
			t->fd = openat(t->dirfd, t->name, O_RDWR | O_CREAT |
			    O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
			ok = t->fd != -1;
		} else
			ok = linkat(t->dirfd, from, t->dirfd, t->name, 0) == 0;
		if (ok) {
			t->slot = cs_cleanup_add(t->dirfd, t->name);
			t->created = true;
		}
		e = errno;
		cs_signals_restore(&old);
		if (ok || e != EEXIST)
			break;
	}
	if (!t->created) {
		temp_free(t);
		errno = e;
		return -1;
	}
	if (asprintf(&t->path, "%s/%s", t->dir, t->name) == -1) {
		t->path = NULL;
		cs_temp_discard(t);
		return cs_fail(ENOMEM, EX_OSERR, context);
	}
	return 0;
}

int
cs_temp_create(struct cs_temp *t, const char *target, mode_t mode,
    const char *context)
{
	int r;

	if ((r = temp_make(t, target, NULL, mode, context)) == -1)
		return cs_fail(errno, EX_CANTCREAT, context);
	return r;
}

int
cs_temp_link(struct cs_temp *t, const char *target, const char *from,
    const char *context)
{
	int r;

	if ((r = temp_make(t, target, from, 0, context)) == -1)
		return errno == EPERM || errno == EMLINK || errno == ENOTSUP ||
		    errno == EOPNOTSUPP ? -1 :
		    cs_fail(errno, EX_CANTCREAT, context);
	return r;
}

void
cs_temp_discard(struct cs_temp *t)
{
	if (t->created)
		unlinkat(t->dirfd, t->name, 0);
	cs_cleanup_forget(t->slot);
	temp_free(t);
}

int
cs_temp_sync(struct cs_temp *t, enum cs_sync sync, const char *context)
{
	int r;

	if ((r = cs_sync_fd(t->fd, sync)) == 0)
		return 0;
	/* Final: no second fsync, no rename (the caller discards t). */
	return cs_fail(errno, EX_IOERR, context);
}

int
cs_temp_rename(struct cs_temp *t, const char *newbase, const char *context)
{
	if (renameat(t->dirfd, t->name, t->dirfd,
	    newbase != NULL ? newbase : t->base) == -1)
		return cs_fail(errno, EX_CANTCREAT, context);
	cs_cleanup_forget(t->slot);
	t->slot = -1;
	t->created = false;
	return 0;
}

/*
 * Every fsync of a file and of a directory goes through these two, so
 * that make crashtest can build variants with a planted bug (no file
 * fsync, no directory fsync) and show that its replay catches each.
 * Only that test build defines CS_PLANT_*.
 */
int
cs_sync_fd(int fd, enum cs_sync sync)
{
#ifdef CS_PLANT_NO_FSYNC
	(void)fd;
	(void)sync;
	return 0;
#else
	if (sync == CS_SYNC_NONE)
		return 0;
	return sync == CS_SYNC_DATA ? fdatasync(fd) : fsync(fd);
#endif
}

int
cs_fsync_dir(int dirfd, const char *context)
{
#ifdef CS_PLANT_NO_DIRSYNC
	(void)dirfd;
	(void)context;
	return 0;
#endif
	if (fsync(dirfd) == 0 || errno == EINVAL || errno == ENOTSUP ||
	    errno == EOPNOTSUPP)
		return 0;
	warnx("%s: new content is in place but its durability is unknown: "
	    "directory fsync: %s", context, strerror(errno));
	return EX_IOERR;
}

int
cs_fsync_parent(const char *path, const char *context)
{
	char *dot;
	int dirfd, r;

	if ((dot = cs_parent_dot(path)) == NULL)
		return cs_fail(errno, EX_IOERR, context);
	dirfd = open(dot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dot);
	if (dirfd == -1)
		return cs_fail(errno, EX_IOERR, context);
	r = cs_fsync_dir(dirfd, context);
	close(dirfd);
	return r;
}

void
cs_temp_close(struct cs_temp *t)
{
	temp_free(t);
}
