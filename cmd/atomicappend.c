/* SPDX-License-Identifier: ISC */
/*
 * atomicappend - append records that never interleave or tear: each record
 * is written under the suite's lock on the file itself, after repairing a
 * torn tail left by a writer that died mid-record, and a failed write is
 * cut back off, so the file never keeps a partial record of ours.
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"
#include "atomicappend.h"


#define LINEBUF	(1024 * 1024)	/* and the pipe is enlarged to match */


/* The file being appended to, and what we know of it. */
static struct {
	const char	*path;
	int		 fd;
	bool		 created;	/* by us: -m applies, -S full syncs dir */
	int		 access;	/* O_RDWR, or O_WRONLY if not readable */
	unsigned long	 records;
	off_t		 bytes;
} out = { .fd = -1, .access = O_RDWR };

static int	open_target(void);
static int	lock_target(void);
static void	truncate_back(off_t size);
static int	cut_back(off_t size, int err);
static int	append(const char *buf, size_t len, int spool);
static int	append_words(char **words, int n);
static int	spool_stdin(int *spool);
static size_t	count_lines(const char *p, size_t len);
static int	append_lines(void);

/*
 * Open FILE for appending, creating it with our mode if missing. Done once
 * before the first lock so that we know whether we created it.
 */
static int
open_target(void)
{
	mode_t mode = opt.mode_set ? opt.mode : 0666;
	int flags = O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;

	out.fd = open(out.path, O_RDWR | flags | O_CREAT | O_EXCL, mode);
	if (out.fd == -1 && errno == EEXIST) {
		/* Read access is for the torn-tail check; a write-only log
		 * still gets its records. O_CREAT as >> has it, so that the
		 * kernel applies fs.protected_regular (someone else's file
		 * in a sticky directory) to us as to the shell. */
		flags |= O_CREAT;
		if ((out.fd = open(out.path, O_RDWR | flags, mode)) == -1 &&
		    errno == EACCES && (out.fd = open(out.path,
		    O_WRONLY | flags, mode)) != -1)
			out.access = O_WRONLY;
	} else if (out.fd != -1) {
		out.created = true;
		/* -m is the mode, whatever the umask (as install -m). */
		if (opt.mode_set && fchmod(out.fd, opt.mode) == -1)
			return cs_fail(errno, EX_CANTCREAT, out.path);
	}
	if (out.fd == -1 && errno != EEXIST)
		return cs_fail(errno, EX_CANTCREAT, out.path);
	return 0;
}

/*
 * Take the lock on FILE itself; if the path now names another inode
 * (rotated away), cs_lock reopens it: records go to the live file.
 */
static int
lock_target(void)
{
	struct stat st;
	int r;

	r = cs_lock(out.path, out.access | O_APPEND | O_NONBLOCK,
	    opt.mode_set ? opt.mode : 0666, CS_LOCK_CREATE, opt.timeout,
	    &out.fd);
	if (r != 0) {
		out.fd = -1;
		return r;
	}
	if (fstat(out.fd, &st) == -1)
		return cs_fail(errno, EX_IOERR, out.path);
	if (!S_ISREG(st.st_mode)) {
		warnx("%s: not a regular file", out.path);
		return EX_CANTCREAT;
	}
	return 0;
}

/* Undo a partial record: the file goes back to its size before it. */
static void
truncate_back(off_t size)
{
	if (ftruncate(out.fd, size) == -1)
		warn("%s: cannot remove the partial record", out.path);
}

/* The same after our write failed: its message, and EX_IOERR. */
static int
cut_back(off_t size, int err)
{
	int r = cs_fail(err, EX_IOERR, out.path);

	truncate_back(size);
	return r;
}

/*
 * Append one batch of whole records under the lock: buf (len bytes) or
 * the content of spool (if not -1), plus a newline when the batch does not
 * end in one (unless raw). A torn tail is repaired first. All of it goes
 * in ONE writev(2), a spooled record through a mapping of its spool:
 * Linux holds the inode lock for a whole write, so logrotate's
 * copytruncate, which takes no lock of ours, can never split a record.
 * Where the spool cannot be mapped, it is copied in pieces.
 */
static int
append(const char *buf, size_t len, int spool)
{
	struct iovec iov[3];
	struct stat st;
	sigset_t mask;
	off_t before, n;
	void *map = NULL;
	char last = '\n';
	int r, failed, niov = 0;

	if (spool != -1 && fstat(spool, &st) == 0 && st.st_size > 0 &&
	    (uintmax_t)st.st_size <= SIZE_MAX &&
	    (map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED,
	    spool, 0)) != MAP_FAILED) {
		buf = map;
		len = (size_t)st.st_size;
		spool = -1;
	} else if (map == MAP_FAILED)
		map = NULL;
	if ((r = lock_target()) != 0)
		goto unmap;
	/* A record is not to be cut in half by a signal. */
	cs_signals_block(&mask);
	if (fstat(out.fd, &st) == -1) {
		r = cs_fail(errno, EX_IOERR, out.path);
		goto out;
	}
	before = st.st_size;
	if (!opt.raw && before > 0 &&
	    pread(out.fd, &last, 1, before - 1) == 1 && last != '\n') {
		/* A writer died mid-record: close its line off first. */
		cs_warnx("%s: repaired a torn last line", out.path);
		iov[niov++] = (struct iovec){ .iov_base = "\n", .iov_len = 1 };
	}
	if (spool == -1) {
		iov[niov++] = (struct iovec){ .iov_base = (void *)buf,
		    .iov_len = len };
		last = len > 0 ? buf[len - 1] : '\n';
		if (!opt.raw && last != '\n')
			iov[niov++] = (struct iovec){ .iov_base = "\n",
			    .iov_len = 1 };
		if (cs_writev_all(out.fd, iov, niov) == -1) {
			r = cut_back(before, errno);
			goto out;
		}
	} else {
		if (cs_writev_all(out.fd, iov, niov) == -1) {
			r = cut_back(before, errno);
			goto out;
		}
		if (cs_copy_fd(spool, out.fd, &n, &failed) == -1) {
			if (failed == spool) {
				r = cs_fail(errno, EX_IOERR, cs_spool_name());
				truncate_back(before);
			} else
				r = cut_back(before, errno);
			goto out;
		}
		if (n == 0 || pread(spool, &last, 1, n - 1) != 1)
			last = '\n';
		if (!opt.raw && last != '\n' &&
		    cs_write_all(out.fd, "\n", 1) == -1) {
			r = cut_back(before, errno);
			goto out;
		}
	}
	if (cs_sync_fd(out.fd, opt.sync) == -1) {
		/* Not acknowledged, so not kept. */
		r = cut_back(before, errno);
		goto out;
	}
	/* A file we created is durable only once its name is. */
	if (opt.sync == CS_SYNC_FULL && out.created) {
		r = cs_fsync_parent(out.path, out.path);
		out.created = false;
	}
	if (fstat(out.fd, &st) == 0)
		out.bytes += st.st_size - before;
out:
	cs_unlock(out.fd);
	cs_signals_restore(&mask);
unmap:
	if (map != NULL)
		munmap(map, len);
	return r;
}

/* TEXT words joined by spaces: one record. */
static int
append_words(char **words, int n)
{
	size_t len = 0, i;
	char *rec, *p;
	int r;

	for (i = 0; i < (size_t)n; i++)
		len += strlen(words[i]) + 1;
	if ((rec = malloc(len + 1)) == NULL)
		return cs_fail(ENOMEM, EX_OSERR, out.path);
	for (p = rec, i = 0; i < (size_t)n; i++) {
		if (i > 0)
			*p++ = ' ';
		p = stpcpy(p, words[i]);
	}
	if (!opt.raw)
		*p++ = '\n';
	r = append(rec, (size_t)(p - rec), -1);
	free(rec);
	out.records += r == 0;
	return r;
}

/*
 * All of stdin is one record: spooled first, before FILE is even opened
 * (a spool that fails leaves no empty FILE behind), so that the lock is
 * held only while it is written, and memory stays bounded whatever its
 * size. *spool is -1 for an empty stdin.
 */
static int
spool_stdin(int *spool)
{
	struct stat st;
	int r;

	if ((r = cs_spool(STDIN_FILENO, spool)) != 0)
		return cs_fail(errno, EX_IOERR, r == -1 ? "stdin" :
		    cs_spool_name());
	if (fstat(*spool, &st) == 0 && st.st_size == 0) {
		close(*spool);
		*spool = -1;		/* nothing to append */
	}
	return 0;
}

static size_t
count_lines(const char *p, size_t len)
{
	const char *end = p + len;
	size_t n = 0;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/*
 * -l: each line is a record, appended as it arrives. The complete lines of
 * each read go together under one lock; a line longer than the buffer is
 * spooled until its end, so memory stays bounded.
 */
static int
append_lines(void)
{
	char *buf, *nl;
	size_t len = 0, keep;
	ssize_t n;
	int spool = -1, r = 0;

	if ((buf = malloc(LINEBUF)) == NULL)
		return cs_fail(ENOMEM, EX_OSERR, out.path);
	/* Fewer, larger batches: each costs one lock and unlock. */
	(void)fcntl(STDIN_FILENO, F_SETPIPE_SZ, LINEBUF);
	for (;;) {
		n = cs_read(STDIN_FILENO, buf + len, LINEBUF - len);
		if (n == -1) {
			r = cs_fail(errno, EX_IOERR, "stdin");
			break;
		}
		if (n == 0) {		/* EOF: a last line without newline */
			if (len > 0 || spool != -1) {
				if (spool != -1) {
					if (cs_write_all(spool, buf, len) == -1) {
						r = cs_fail(errno, EX_IOERR,
						    cs_spool_name());
						break;
					}
					lseek(spool, 0, SEEK_SET);
					len = 0;
				}
				r = append(buf, len, spool);
				out.records += r == 0;
			}
			break;
		}
		len += (size_t)n;
		nl = memrchr(buf, '\n', len);
		if (nl == NULL && len < LINEBUF)
			continue;
		if (nl == NULL) {	/* a long line: spool it */
			if (spool == -1 &&
			    (spool = cs_spill_file()) == -1) {
				r = cs_fail(errno, EX_OSERR, cs_spool_name());
				break;
			}
			if (cs_write_all(spool, buf, len) == -1) {
				r = cs_fail(errno, EX_IOERR, cs_spool_name());
				break;
			}
			len = 0;
			continue;
		}
		keep = len - (size_t)(nl + 1 - buf);
		if (spool != -1) {
			/* The long line's end, then its record goes alone. */
			size_t end = (size_t)((char *)memchr(buf, '\n', len) -
			    buf) + 1;

			if (cs_write_all(spool, buf, end) == -1) {
				r = cs_fail(errno, EX_IOERR, cs_spool_name());
				break;
			}
			lseek(spool, 0, SEEK_SET);
			if ((r = append(NULL, 0, spool)) != 0)
				break;
			out.records++;
			close(spool);
			spool = -1;
			memmove(buf, buf + end, len - end);
			len -= end;
			if ((nl = memrchr(buf, '\n', len)) == NULL)
				continue;
			keep = len - (size_t)(nl + 1 - buf);
		}
		if ((r = append(buf, len - keep, -1)) != 0)
			break;
		if (cs_verbosity > 0)
			out.records += count_lines(buf, len - keep);
		memmove(buf, buf + len - keep, keep);
		len = keep;
	}
	if (spool != -1)
		close(spool);
	free(buf);
	return r;
}

int
main(int argc, char *argv[])
{
	int r, spool = -1;

	parse_options(argc, argv);
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		warnx("missing file operand");
		usage(EX_USAGE);
	}
	out.path = argv[0];
	if (opt.lines && argc > 1) {
		warnx("-l reads records from stdin, not from arguments");
		usage(EX_USAGE);
	}
	cs_tool_init();
	if (cs_stdin_was_closed() && argc == 1)
		return cs_fail(EBADF, EX_NOINPUT, "stdin");
	cs_cleanup_init();
	/* Records from two clients would interleave where the lock is
	 * only the client's own. */
	if ((r = cs_locks_exclude(out.path, out.path)) != 0)
		return r;

	if (argc == 1 && !opt.lines) {
		if ((r = spool_stdin(&spool)) != 0 || spool == -1)
			return r;
	}
	if ((r = open_target()) != 0)
		return r;
	if (argc > 1)
		r = append_words(argv + 1, argc - 1);
	else if (opt.lines)
		r = append_lines();
	else {
		r = append(NULL, 0, spool);
		out.records += r == 0;
		close(spool);
	}
	if (r == 0)
		cs_info("%s: %lu record%s, %jd bytes appended", out.path,
		    out.records, out.records == 1 ? "" : "s",
		    (intmax_t)out.bytes);
	if (r == 0 || r == EX_TEMPFAIL)
		cs_lock_report(out.path);
	return r;
}
