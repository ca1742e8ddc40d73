/* SPDX-License-Identifier: ISC */
/*
 * resolve.c - where a write to a path lands when the path is a symbolic
 * link (SPEC 1.4, 2). The kernel follows the links, so that every rule it
 * applies to open(2) applies to us too: fs.protected_symlinks refuses a
 * link in a sticky world-writable directory that belongs to someone else,
 * for root as well. We only read back where the kernel ended up
 * (/proc/self/fd), never walk a readlink chain on our own authority.
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

#define MAX_LINKS	40	/* as the kernel's MAXSYMLINKS */
#define MAX_TRIES	10	/* the chain changing under us */

/* The path of the file fd refers to, allocated; 1 with what the kernel
 * calls it instead (pipe:[N], a deleted file) when it has no path we can
 * reach; -1/errno. */
static int
fd_path(int fd, char **out)
{
	char proc[32], buf[PATH_MAX];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((n = readlink(proc, buf, sizeof(buf))) == -1)
		return -1;
	if ((size_t)n == sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[n] = '\0';
	if ((*out = strdup(buf)) == NULL)
		return -1;
	return buf[0] == '/' ? 0 : 1;
}

/* path names the inode st describes (a pinned inode: its number cannot
 * be reused while we hold it open). */
static bool
names(const char *path, const struct stat *st)
{
	struct stat now;

	return lstat(path, &now) == 0 && now.st_dev == st->st_dev &&
	    now.st_ino == st->st_ino;
}

/* The link text read from link, resolved against link's directory. */
static char *
link_next(const char *link, const char *text)
{
	const char *slash;
	char *next;

	if (text[0] == '/' || (slash = strrchr(link, '/')) == NULL)
		return strdup(text);
	if (asprintf(&next, "%.*s/%s", (int)(slash - link + 1), link, text) ==
	    -1)
		return NULL;
	return next;
}

/*
 * A dangling chain: the kernel answered ENOENT, so it followed every link
 * (it refused none) and found no file at the end. Walk to that end, each
 * link held open while the kernel judges it again, then checked to be
 * still the one at that name and unchanged: a name made to vanish during
 * the kernel's walk would also give ENOENT, and putting it back moves its
 * ctime. 0 with *out, 1 when the chain changed meanwhile, -1/errno.
 */
static int
walk_dangling(const char *path, char **out)
{
	struct stat a, b;
	char text[PATH_MAX], *cur, *next;
	ssize_t n;
	int hops, lfd = -1, vfd, r = -1, e;

	if ((cur = strdup(path)) == NULL)
		return -1;
	for (hops = 0; hops <= MAX_LINKS; hops++) {
		if ((lfd = open(cur, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1) {
			if (errno != ENOENT)
				goto out;
			*out = cur;	/* where the file would be created */
			return 0;
		}
		if (fstat(lfd, &a) == -1)
			goto out;
		if (!S_ISLNK(a.st_mode)) {
			r = 1;		/* the file appeared */
			goto out;
		}
		if ((n = readlinkat(lfd, "", text, sizeof(text))) == -1)
			goto out;
		if (n == 0 || (size_t)n == sizeof(text)) {
			errno = n == 0 ? ENOENT : ENAMETOOLONG;
			goto out;
		}
		text[n] = '\0';
		if ((vfd = open(cur, O_PATH | O_CLOEXEC)) != -1) {
			close(vfd);
			r = 1;
			goto out;
		}
		if (errno != ENOENT)
			goto out;
		if (fstat(lfd, &b) == -1)
			goto out;
		if (!names(cur, &a) || a.st_ctim.tv_sec != b.st_ctim.tv_sec ||
		    a.st_ctim.tv_nsec != b.st_ctim.tv_nsec) {
			r = 1;
			goto out;
		}
		close(lfd);
		lfd = -1;
		next = link_next(cur, text);
		free(cur);
		if ((cur = next) == NULL)
			return -1;
	}
	errno = ELOOP;
out:
	e = errno;
	if (lfd != -1)
		close(lfd);
	free(cur);
	errno = e;
	return r;
}

static int
follow_failed(int err, const char *context)
{
	if (err == EACCES || err == EPERM) {
		warnx("%s: cannot follow the symlink: %s", context,
		    strerror(err));
		return EX_NOPERM;
	}
	return cs_fail(err, EX_CANTCREAT, context);
}

int
cs_follow_links(const char *path, char **out, const char *context)
{
	struct stat st;
	int fd, tries, r, e;

	for (tries = 0; tries < MAX_TRIES; tries++) {
		if (lstat(path, &st) == -1 || !S_ISLNK(st.st_mode)) {
			/* Not a link: the path itself, existing or not. */
			if ((*out = strdup(path)) == NULL)
				return cs_fail(ENOMEM, EX_OSERR, context);
			return 0;
		}
		if ((fd = open(path, O_PATH | O_CLOEXEC)) == -1) {
			if (errno != ENOENT)
				return follow_failed(errno, context);
			if ((r = walk_dangling(path, out)) == 0)
				return 0;
			if (r == -1)
				return follow_failed(errno, context);
			continue;
		}
		if ((r = fd_path(fd, out)) == -1) {
			e = errno;
			close(fd);
			return follow_failed(e, context);
		}
		if (r == 1) {
			close(fd);
			warnx("%s: leads to %s, not a file that can be "
			    "replaced", context, *out);
			free(*out);
			return EX_CANTCREAT;
		}
		if (fstat(fd, &st) == 0 && st.st_nlink == 0 &&
		    S_ISREG(st.st_mode)) {
			close(fd);
			warnx("%s: leads to %s, a file no longer in any "
			    "directory", context, *out);
			free(*out);
			return EX_CANTCREAT;
		}
		r = names(*out, &st);
		close(fd);
		if (r)
			return 0;
		free(*out);		/* moved meanwhile */
	}
	warnx("%s: the symlink kept changing while it was followed", context);
	return EX_TEMPFAIL;
}

/*
 * fs.protected_regular: in a sticky world-writable (with 2, also group-
 * writable) directory, open(2) with O_CREAT refuses a file that belongs
 * to someone else, root included: echo > f says Permission denied there.
 * A rename over it would go through, and the new content be handed to
 * that owner with the file. So ask the kernel, with the very open it
 * would refuse, wherever the rule can apply (a sticky directory, a file
 * not ours); pinned is the file we mean to replace.
 */
int
cs_may_create(const char *path, int pinned, const char *context)
{
	struct stat dir, want, got;
	char *dot;
	int fd, r;

	if (fstat(pinned, &want) == -1 || want.st_uid == geteuid() ||
	    (dot = cs_parent_dot(path)) == NULL)
		return 0;
	r = stat(dot, &dir);
	free(dot);
	if (r == -1 || !(dir.st_mode & S_ISVTX))
		return 0;
	fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC, 0);
	if (fd == -1) {
		if (errno != EACCES)
			return 0;	/* the replace will say what is wrong */
		warnx("%s: Permission denied (another user's file in a sticky "
		    "directory: fs.protected_regular)", context);
		return EX_NOPERM;
	}
	r = fstat(fd, &got) == 0 && got.st_dev == want.st_dev &&
	    got.st_ino == want.st_ino;
	if (!r && got.st_uid == geteuid() && got.st_size == 0)
		unlink(path);	/* gone meanwhile, and we made it */
	close(fd);
	if (r)
		return 0;
	warnx("%s: changed while it was being replaced", context);
	return EX_TEMPFAIL;
}
