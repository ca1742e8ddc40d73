/* SPDX-License-Identifier: ISC */
/*
 * atomicwrite - replace a file so that readers see the old file or the
 * whole new one, never a mix; a failed producer changes nothing.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"
#include "atomicwrite.h"



static int	fill(struct cs_temp *t, char *const *cmdv, const char *file);
static int	validate(struct cs_temp *t, const char *file);
static int	unchanged(struct cs_temp *t, const char *target);
static int	backup_prepare(struct cs_temp *b, struct cs_temp *t,
	    int oldfd, const struct stat *st, const char *bpath);
static int	commit(struct cs_temp *t, struct cs_temp *b,
	    const char *bpath, const char *file);
static int	set_metadata(struct cs_temp *t, int oldfd,
	    const struct stat *st, const char *file);
static int	replace(const char *file, const char *target,
	    char *const *cmdv);

/* Fill the temp file from stdin or from COMMAND's stdout. */
static int
fill(struct cs_temp *t, char *const *cmdv, const char *file)
{
	struct cs_cmd cmd = { .argv = cmdv, .fd_in = -1, .fd_out = -1,
	    .fd_err = -1 };
	off_t n;
	int failed = -1, r, e;

	if (cmdv != NULL) {
		if ((r = cs_run_output(&cmd, t->fd, &e)) == -1)
			return cs_fail(e, EX_IOERR, file);
		return r;
	}
	if (cs_copy_fd(STDIN_FILENO, t->fd, &n, &failed) == 0)
		return 0;
	return cs_fail(errno, EX_IOERR, failed == STDIN_FILENO ? "stdin" : file);
}

static int
validate(struct cs_temp *t, const char *file)
{
	char *argv[] = { "/bin/sh", "-c", (char *)opt.validate, "sh", t->path,
	    NULL };
	struct cs_cmd cmd = { .argv = argv, .fd_in = -1, .fd_out = -1,
	    .fd_err = -1 };
	int r;

	if ((r = cs_run(&cmd)) == 0)
		return 0;
	warnx("%s: validation failed (status %d), not replaced", file, r);
	return EX_DATAERR;
}

/* 1 when FILE already holds exactly the temp file's content. */
static int
unchanged(struct cs_temp *t, const char *target)
{
	int fd, same;

	fd = open(target, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return 0;
	same = cs_same_content(fd, t->fd);
	close(fd);
	return same == 1;
}

/*
 * Make the backup of the current FILE ready under a temp name beside
 * FILE+SUFFIX: a hard link, so nothing is copied, or a copy where the
 * filesystem has no hard links. commit() puts it in place.
 */
static int
backup_prepare(struct cs_temp *b, struct cs_temp *t, int oldfd,
    const struct stat *st, const char *bpath)
{
	off_t n;
	int in, r, failed;

	if ((r = cs_temp_link(b, bpath, t->base, bpath)) != -1)
		return r;
	if ((r = cs_temp_create(b, bpath, 0600, bpath)) != 0)
		return r;
	if ((in = cs_reopen(oldfd, O_RDONLY)) == -1 ||
	    cs_copy_fd(in, b->fd, &n, &failed) == -1)
		r = cs_fail(errno, EX_IOERR, in == -1 ? t->base : bpath);
	else if ((r = cs_copy_metadata(oldfd, st, b->fd, bpath)) == 0)
		r = cs_temp_sync(b, opt.sync, bpath);
	if (in != -1)
		close(in);
	return r;
}

/*
 * Rename the temp over FILE, and with -b the prepared backup over
 * FILE+SUFFIX first: a backup that cannot be made (an immutable FILE~,
 * someone else's in a sticky directory) stops us before FILE is touched.
 * The previous FILE~ keeps a second name (a hard link) until FILE is
 * replaced, and is put back if that fails: a failed replace leaves FILE~
 * as it was. t and b stay the caller's to discard, as after any failure;
 * t stays open for its directory's fsync.
 */
static int
commit(struct cs_temp *t, struct cs_temp *b, const char *bpath,
    const char *file)
{
	struct cs_temp prev = CS_TEMP_NONE;
	struct stat st;
	bool had;
	int r;

	if (!b->created)
		return cs_temp_rename(t, NULL, file);
	had = lstat(bpath, &st) == 0;
	if (had && (r = cs_temp_link(&prev, bpath, b->base, bpath)) > 0)
		return r;
	if ((r = cs_temp_rename(b, NULL, bpath)) != 0) {
		cs_temp_discard(&prev);
		return r;
	}
	cs_temp_close(b);
	if ((r = cs_temp_rename(t, NULL, file)) != 0) {
		if (prev.created) {
			if (cs_temp_rename(&prev, NULL, bpath) == 0)
				cs_temp_close(&prev);
			else
				cs_temp_discard(&prev);
		} else if (!had)
			unlink(bpath);
		return r;
	}
	cs_temp_discard(&prev);	/* its other name is the old FILE~ */
	return 0;
}

/* The mode, owner and extended attributes the new file should have. */
static int
set_metadata(struct cs_temp *t, int oldfd, const struct stat *st,
    const char *file)
{
	int r;

	if (st != NULL)
		r = cs_copy_metadata(oldfd, st, t->fd, file);
	else
		r = cs_new_file_metadata(t, file);
	if (r == 0 && opt.mode_set && fchmod(t->fd, opt.mode) == -1)
		r = cs_fail(errno, EX_CANTCREAT, file);
	return r;
}

/*
 * Lock, fill a temp file beside target, check it, commit it. file is the
 * name as given, for messages; target is where its symlinks lead.
 */
static int
replace(const char *file, const char *target, char *const *cmdv)
{
	struct cs_temp t = CS_TEMP_NONE, b = CS_TEMP_NONE;
	struct stat st, tst, *old = NULL;
	sigset_t mask;
	char *lockpath = NULL, *bpath = NULL;
	off_t size;
	int lockfd = -1, oldfd = -1, r;	/* lockfd: held until we exit */

	if (opt.lock) {
		if (asprintf(&lockpath, "%s.lock", target) == -1)
			return cs_fail(ENOMEM, EX_OSERR, file);
		r = cs_lock(lockpath, O_RDWR | O_NOFOLLOW, 0666, CS_LOCK_CREATE |
		    CS_LOCK_OWNER | CS_LOCK_EXCLUDE, opt.timeout, &lockfd);
		if (r != 0) {
			if (r == EX_TEMPFAIL)
				cs_lock_report(lockpath);
			free(lockpath);
			return r;
		}
	}

	/* Looked at under the lock: it may have changed while we waited.
	 * Held open, so that its metadata is read from the very file. */
	if ((oldfd = open(target, O_PATH | O_NOFOLLOW | O_CLOEXEC)) != -1 &&
	    fstat(oldfd, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			r = cs_fail(EISDIR, EX_CANTCREAT, file);
			goto out;
		}
		if (S_ISREG(st.st_mode)) {
			old = &st;
			if ((r = cs_may_create(target, oldfd, file)) != 0)
				goto out;
		} else if (!S_ISLNK(st.st_mode)) {	/* only with -P */
			warnx("%s: not a regular file, not replaced", file);
			r = EX_CANTCREAT;
			goto out;
		}
		if (old != NULL && st.st_nlink > 1)
			cs_warnx("%s: has %ju links; the other names keep the "
			    "old content", file, (uintmax_t)st.st_nlink);
	} else if (errno != ENOENT) {
		r = cs_fail(errno, EX_CANTCREAT, file);
		goto out;
	}

	if ((r = cs_temp_create(&t, target, 0600, file)) != 0)
		goto out;
	if ((r = fill(&t, cmdv, file)) != 0)
		goto fail;
	if (fstat(t.fd, &tst) == -1) {
		r = cs_fail(errno, EX_IOERR, file);
		goto fail;
	}
	size = tst.st_size;
	if (opt.no_empty && size == 0) {
		warnx("%s: empty input, not replaced", file);
		r = EX_DATAERR;
		goto fail;
	}
	if (opt.validate != NULL && (r = validate(&t, file)) != 0)
		goto fail;
	if (opt.if_changed && old != NULL && unchanged(&t, target)) {
		cs_temp_discard(&t);
		cs_info("%s: unchanged", file);
		r = opt.unchanged_status;
		goto out;
	}
	if ((r = set_metadata(&t, oldfd, old, file)) != 0)
		goto fail;
	if ((r = cs_temp_sync(&t, opt.sync, file)) != 0)
		goto fail;
	if (opt.backup != NULL && old != NULL) {
		if (asprintf(&bpath, "%s%s", target, opt.backup) == -1) {
			bpath = NULL;
			r = cs_fail(ENOMEM, EX_OSERR, file);
			goto fail;
		}
		if ((r = backup_prepare(&b, &t, oldfd, old, bpath)) != 0)
			goto fail;
	}

	/* The point of no return: a signal now waits until the commit is
	 * complete, then ends us as it would have. */
	cs_signals_block(&mask);
	if ((r = commit(&t, &b, bpath, file)) == 0 && opt.sync == CS_SYNC_FULL)
		r = cs_fsync_dir(t.dirfd, file);
	cs_temp_discard(&t);	/* renamed: only closed */
	cs_temp_discard(&b);
	cs_signals_restore(&mask);
	if (r == 0)
		cs_info("%s: %jd bytes written", file, (intmax_t)size);
	goto out;
fail:
	cs_temp_discard(&t);
	cs_temp_discard(&b);
out:
	if (oldfd != -1)
		close(oldfd);
	if (lockpath != NULL)
		cs_lock_report(lockpath);	/* -v: waited, held */
	free(lockpath);
	free(bpath);
	return r;
}

int
main(int argc, char *argv[])
{
	char *target, *const *cmdv = NULL;
	const char *file;
	int r;

	parse_options(argc, argv);
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		warnx("missing file operand");
		usage(EX_USAGE);
	}
	file = argv[0];
	if (argc > 1) {
		if (strcmp(argv[1], "--") != 0) {
			warnx("unexpected argument: %s (a command goes after --)",
			    argv[1]);
			usage(EX_USAGE);
		}
		if (argc < 3) {
			warnx("missing command after --");
			usage(EX_USAGE);
		}
		cmdv = argv + 2;
	}
	cs_tool_init();
	if (cs_stdin_was_closed() && cmdv == NULL)
		return cs_fail(EBADF, EX_NOINPUT, "stdin");
	cs_cleanup_init();

	/* A symlink stays a symlink: its final target is what we replace. */
	if (opt.no_deref)
		target = strdup(file);
	else if ((r = cs_follow_links(file, &target, file)) != 0)
		return r;
	if (target == NULL)
		return cs_fail(errno, EX_CANTCREAT, file);
	r = replace(file, target, cmdv);
	free(target);
	return r;
}
