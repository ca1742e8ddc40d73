/* SPDX-License-Identifier: ISC */
/*
 * metadata.c - what a replacement keeps of the file it replaces (SPEC 2):
 * owner, group, mode and exactly the old file's extended attributes, POSIX
 * ACLs included, and none that it lacked. A temp file created in a
 * directory with a default ACL inherits that ACL; a file that had no ACL
 * must not come out with one. A new file gets what open(2) with O_CREAT
 * and mode 0666 would have given it there (0666 & ~umask, or the default
 * ACL with its mask), which we ask the kernel for rather than compute.
 */
#include <sys/stat.h>
#include <sys/xattr.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

/* Owner and group where we may set them; a warning for what we may not. */
static void
copy_owner(const struct stat *st, int to, const char *context)
{
	struct stat now;

	if (fstat(to, &now) == 0 && now.st_uid == st->st_uid &&
	    now.st_gid == st->st_gid)
		return;
	if (fchown(to, st->st_uid, st->st_gid) == 0)
		return;
	if (errno != EPERM) {
		cs_warn("%s: cannot keep owner %u:%u", context,
		    (unsigned)st->st_uid, (unsigned)st->st_gid);
		return;
	}
	if (now.st_gid != st->st_gid && fchown(to, (uid_t)-1, st->st_gid) == 0)
		cs_warnx("%s: cannot keep owner %u (Operation not permitted); "
		    "group kept", context, (unsigned)st->st_uid);
	else
		cs_warnx("%s: cannot keep owner %u:%u (Operation not permitted)",
		    context, (unsigned)st->st_uid, (unsigned)st->st_gid);
}

/*
 * The names of path's extended attributes, NUL-separated and allocated
 * (*names NULL when there are none). Their number can change between the
 * two calls, hence the loop. -1/errno; no support counts as none.
 */
static ssize_t
list_names(const char *path, char **names)
{
	ssize_t len, got;

	*names = NULL;
	for (;;) {
		if ((len = listxattr(path, NULL, 0)) <= 0)
			return len == -1 && (errno == ENOTSUP ||
			    errno == EOPNOTSUPP) ? 0 : len;
		if ((*names = malloc((size_t)len)) == NULL)
			return -1;
		if ((got = listxattr(path, *names, (size_t)len)) >= 0)
			return got;
		free(*names);
		*names = NULL;
		if (errno != ERANGE)
			return -1;
	}
}

static bool
has_name(const char *names, ssize_t len, const char *name)
{
	const char *p;

	for (p = names; p < names + len; p += strlen(p) + 1)
		if (strcmp(p, name) == 0)
			return true;
	return false;
}

/*
 * Every extended attribute of from on to, and none that from lacks, except
 * file capabilities: they were granted to the old content, and the kernel
 * itself drops them when a file is written in place. Security labels that
 * the LSM gave the new file are its policy's, not ours to drop. Both fds
 * are reached through /proc/self/fd, which works for O_PATH fds as well.
 */
static void
copy_xattrs(int from, int to, const char *context)
{
	char fpath[32], tpath[32], *fnames = NULL, *tnames = NULL, *value = NULL;
	const char *name;
	ssize_t flen, tlen, vlen;

	snprintf(fpath, sizeof(fpath), "/proc/self/fd/%d", from);
	snprintf(tpath, sizeof(tpath), "/proc/self/fd/%d", to);
	if ((flen = list_names(fpath, &fnames)) == -1) {
		cs_warn("%s: cannot read extended attributes", context);
		return;
	}
	for (name = fnames; name < fnames + flen; name += strlen(name) + 1) {
		if (strcmp(name, "security.capability") == 0)
			continue;
		free(value);
		value = NULL;
		if ((vlen = getxattr(fpath, name, NULL, 0)) < 0 ||
		    (value = malloc((size_t)vlen + 1)) == NULL ||
		    (vlen = getxattr(fpath, name, value, (size_t)vlen)) < 0 ||
		    setxattr(tpath, name, value, (size_t)vlen, 0) == -1)
			cs_warn("%s: cannot keep extended attribute %s",
			    context, name);
	}
	if ((tlen = list_names(tpath, &tnames)) > 0)
		for (name = tnames; name < tnames + tlen;
		    name += strlen(name) + 1) {
			if (has_name(fnames, flen, name) ||
			    strncmp(name, "security.", 9) == 0)
				continue;
			/* ENODATA: gone with another (xfs's trusted.SGI_ACL_*
			 * are its ACLs under other names). */
			if (removexattr(tpath, name) == -1 && errno != ENODATA)
				cs_warn("%s: cannot drop inherited extended "
				    "attribute %s", context, name);
		}
	free(value);
	free(tnames);
	free(fnames);
}

int
cs_copy_metadata(int from, const struct stat *st, int to,
    const char *context)
{
	copy_owner(st, to, context);
	copy_xattrs(from, to, context);
	/* Last: chown clears set-id bits; with an ACL, the group bits are
	 * its mask, which the ACL just set to the same. */
	if (fchmod(to, st->st_mode & 07777) == -1)
		return cs_fail(errno, EX_CANTCREAT, context);
	return 0;
}

int
cs_new_file_metadata(struct cs_temp *t, const char *context)
{
	struct cs_temp named;
	struct stat st;
	char *target;
	int probe, r;

	/*
	 * A file the kernel creates as cat > FILE would (mode 0666, the
	 * umask or the directory's default ACL applied), unnamed; where the
	 * filesystem has no O_TMPFILE, a named one beside the target.
	 */
	probe = openat(t->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
	if (probe == -1) {
		if (asprintf(&target, "%s/%s", t->dir, t->base) == -1)
			return cs_fail(ENOMEM, EX_OSERR, context);
		r = cs_temp_create(&named, target, 0666, context);
		free(target);
		if (r != 0)
			return r;
		probe = dup(named.fd);
		cs_temp_discard(&named);
		if (probe == -1)
			return cs_fail(errno, EX_OSERR, context);
	}
	if (fstat(probe, &st) == -1)
		r = cs_fail(errno, EX_CANTCREAT, context);
	else
		r = cs_copy_metadata(probe, &st, t->fd, context);
	close(probe);
	return r;
}
