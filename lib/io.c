/* SPDX-License-Identifier: ISC */
/*
 * io.c - moving bytes: write-all, copies (copy_file_range from files,
 * read/write through an enlarged pipe otherwise), content comparison.
 */
#include <sys/mman.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

static const char *spool_dir(void);

#define COPY_BUF	(128 * 1024)
#define RANGE_CHUNK	(1 << 30)
#define PIPE_SIZE	(1 << 20)	/* the unprivileged pipe-max-size */
#define SPOOL_MEM	(4 << 20)	/* spools past this go to disk */
#define SPOOL_CHUNK	(64 << 20)	/* released, then freed, in these */

int
cs_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * A regular file is copied in the kernel (and reflinked where the
 * filesystem can). Returns -1 on an error before anything moved, so the
 * caller can carry on with read/write, which then reports the error
 * against the right side.
 */
static int
copy_range(int in, int out, off_t max, off_t *copied)
{
	ssize_t n;

	while (*copied < max) {
		n = copy_file_range(in, NULL, out, NULL,
		    (size_t)MIN(max - *copied, RANGE_CHUNK), 0);
		if (n == 0)
			return 0;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		*copied += n;
	}
	return 0;
}

ssize_t
cs_read(int fd, void *buf, size_t len)
{
	ssize_t n;

	while ((n = read(fd, buf, len)) == -1 && errno == EINTR)
		;
	return n;
}

ssize_t
cs_pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	while ((n = pread(fd, buf, len, off)) == -1 && errno == EINTR)
		;
	return n;
}

static int
copy_rw(int in, int out, off_t max, off_t *copied, int *failed_fd)
{
	char *buf;
	ssize_t n;
	int save;

	if ((buf = malloc(COPY_BUF)) == NULL) {
		*failed_fd = -1;
		return -1;
	}
	while (*copied < max) {
		n = cs_read(in, buf, (size_t)MIN(max - *copied, COPY_BUF));
		if (n == -1) {
			*failed_fd = in;
			goto fail;
		}
		if (n == 0)
			break;
		if (cs_write_all(out, buf, (size_t)n) == -1) {
			*failed_fd = out;
			goto fail;
		}
		*copied += n;
	}
	free(buf);
	return 0;
fail:
	save = errno;
	free(buf);
	errno = save;
	return -1;
}

/*
 * A regular file into a pipe: splice(2) hands the reader references to
 * the file's cached pages, with no copy of ours. The file must not be
 * rewritten afterwards (the reader could see the new bytes): our callers
 * copy spools that are only closed after. As copy_range, -1 on an error
 * before anything moved, so that read/write takes over; once something
 * moved, an error is the pipe's (EPIPE) or the file's.
 */
static int
splice_to_pipe(int in, int out, off_t max, off_t *copied, int *failed_fd)
{
	ssize_t n;

	while (*copied < max) {
		n = splice(in, NULL, out, NULL,
		    (size_t)MIN(max - *copied, PIPE_SIZE), 0);
		if (n == 0)
			return 0;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (*copied == 0 && errno != EPIPE)
				return -2;
			*failed_fd = errno == EPIPE || errno == EAGAIN ?
			    out : in;
			return -1;
		}
		*copied += n;
	}
	return 0;
}

/* At most max bytes of in to out, as cs_copy_fd. */
static int
copy_upto(int in, int out, off_t max, off_t *copied, int *failed_fd)
{
	struct stat st, ost;
	int r;

	*copied = 0;
	if (fstat(in, &st) == -1) {
		*failed_fd = in;
		return -1;
	}
	/*
	 * From a pipe: read/write through a pipe enlarged to 1 MiB, so the
	 * producer and we switch less often. splice(2) was measured here
	 * (Linux 6.18, ext4) at 1.8x the system time of read/write for a
	 * producer writing in small chunks, as most shell producers do.
	 */
	if (S_ISFIFO(st.st_mode))
		(void)fcntl(in, F_SETPIPE_SZ, PIPE_SIZE);
	else if (S_ISREG(st.st_mode) && fstat(out, &ost) == 0 &&
	    S_ISFIFO(ost.st_mode)) {
		/* A shell's 64 KiB pipe would take 16 pages a splice. */
		(void)fcntl(out, F_SETPIPE_SZ, PIPE_SIZE);
		if ((r = splice_to_pipe(in, out, max, copied, failed_fd)) != -2)
			return r;
	} else if (S_ISREG(st.st_mode)) {
		if (copy_range(in, out, max, copied) == 0)
			return 0;
	}
	return copy_rw(in, out, max, copied, failed_fd);
}

int
cs_copy_fd(int in, int out, off_t *copied, int *failed_fd)
{
	return copy_upto(in, out, INT64_MAX, copied, failed_fd);
}

/*
 * A spool's pages are freed behind the copy, a chunk at a time: a 1 GiB
 * spool released into a file would otherwise double the dirty page cache,
 * and the kernel throttles a writer past its dirty limit (measured here:
 * a copy from a dirty 1 GiB file took 0.7-3.6 s, 0.3 s with the holes
 * punched behind it). Chunks are aligned to any folio size, so a pipe's
 * reader, which holds references to whole pages, never sees a page cut
 * into. Where holes cannot be punched, the pages go at close as before.
 */
int
cs_copy_spool(int in, int out, off_t *copied, int *failed_fd)
{
	off_t pos, n, done = 0;
	int r;

	if ((pos = lseek(in, 0, SEEK_CUR)) == -1) {
		*failed_fd = in;
		return -1;
	}
	for (;;) {
		r = copy_upto(in, out, SPOOL_CHUNK - pos % SPOOL_CHUNK, &n,
		    failed_fd);
		done += n;
		if (r == -1 || n == 0)
			break;
		if (pos / SPOOL_CHUNK != (pos + n) / SPOOL_CHUNK)
			(void)fallocate(in, FALLOC_FL_PUNCH_HOLE |
			    FALLOC_FL_KEEP_SIZE, pos - pos % SPOOL_CHUNK,
			    SPOOL_CHUNK);
		pos += n;
	}
	*copied = done;
	return r;
}

int
cs_same_content(int a, int b)
{
	struct stat sa, sb;
	char *ba, *bb;
	ssize_t na, nb;
	off_t off = 0;
	int same = -1, save;

	if (fstat(a, &sa) == -1 || fstat(b, &sb) == -1)
		return -1;
	if (sa.st_size != sb.st_size)
		return 0;
	if ((ba = malloc(COPY_BUF)) == NULL || (bb = malloc(COPY_BUF)) == NULL) {
		free(ba);
		return -1;
	}
	for (;;) {
		na = cs_pread(a, ba, COPY_BUF, off);
		nb = cs_pread(b, bb, (size_t)(na > 0 ? na : 1), off);
		if (na == -1 || nb == -1)
			break;
		if (na != nb || memcmp(ba, bb, (size_t)na) != 0) {
			same = 0;
			break;
		}
		if (na == 0) {
			same = 1;
			break;
		}
		off += na;
	}
	save = errno;
	free(ba);
	free(bb);
	errno = save;
	return same;
}

int
cs_memfile(const char *name)
{
	const char *tmp;
	int fd;

	if ((fd = memfd_create(name, MFD_CLOEXEC)) != -1)
		return fd;
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	return open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

/* Where spools spill: $TMPDIR, or /var/tmp. */
static const char *
spool_dir(void)
{
	const char *tmp;

	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/var/tmp";
	return tmp;
}

const char *
cs_spool_name(void)
{
	static char name[PATH_MAX + 16];

	snprintf(name, sizeof(name), "spool in %s", spool_dir());
	return name;
}

int
cs_spill_file(void)
{
	const char *tmp = spool_dir();
	char *path;
	int fd;

	if ((fd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) != -1 ||
	    (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	/* No O_TMPFILE there: a named file, unlinked at once. */
	if (asprintf(&path, "%s/crashsafe-spool.XXXXXX", tmp) == -1)
		return -1;
	if ((fd = mkostemp(path, O_CLOEXEC)) != -1)
		unlink(path);
	free(path);
	return fd;
}

int
cs_sink_open(struct cs_sink *k)
{
	k->len = 0;
	k->on_disk = false;
	return (k->fd = cs_memfile("crashsafe-spool")) == -1 ? -1 : 0;
}

/*
 * Up to SPOOL_MEM in a memfd; past that, all of it in a file on disk, so
 * that a large spool costs disk, not memory (a memfd's pages are memory:
 * a memory cgroup counts them, RSS does not show them).
 */
int
cs_sink_write(struct cs_sink *k, const void *buf, size_t len)
{
	off_t copied;
	int disk, failed, e;

	if (!k->on_disk && k->len + (off_t)len > SPOOL_MEM) {
		if ((disk = cs_spill_file()) == -1)
			return -1;
		if (lseek(k->fd, 0, SEEK_SET) == -1 ||
		    cs_copy_fd(k->fd, disk, &copied, &failed) == -1) {
			e = errno;
			close(disk);
			errno = e;
			return -1;
		}
		close(k->fd);
		k->fd = disk;
		k->on_disk = true;
	}
	if (cs_write_all(k->fd, buf, len) == -1)
		return -1;
	k->len += (off_t)len;
	return 0;
}

/*
 * Once on disk, the pipe's pages are copied straight into the file's (one
 * copy in the kernel, none through us). In memory still, or where the
 * filesystem cannot splice (EINVAL), the caller reads and writes instead.
 */
ssize_t
cs_sink_splice(struct cs_sink *k, int in, size_t len, unsigned flags)
{
	ssize_t n;

	if (!k->on_disk) {
		errno = EINVAL;
		return -1;
	}
	while ((n = splice(in, NULL, k->fd, NULL, len, flags)) == -1 &&
	    errno == EINTR)
		;
	if (n > 0)
		k->len += n;
	return n;
}

static ssize_t
sink_stream_write(void *cookie, const char *buf, size_t len)
{
	return cs_sink_write(cookie, buf, len) == -1 ? -1 : (ssize_t)len;
}

FILE *
cs_sink_stream(struct cs_sink *k)
{
	static const cookie_io_functions_t io = { .write = sink_stream_write };

	return fopencookie(k, "w", io);
}

void
cs_sink_close(struct cs_sink *k)
{
	if (k->fd != -1)
		close(k->fd);
	k->fd = -1;
	k->len = 0;
}

int
cs_spool(int in, int *fdp)
{
	struct cs_sink k;
	struct stat st;
	char *buf;
	ssize_t n;
	int e, r = -2;
	bool pipe_in = false;

	if (cs_sink_open(&k) == -1)
		return -2;
	if ((buf = malloc(COPY_BUF)) == NULL)
		goto out;
	if (fstat(in, &st) == 0 && S_ISFIFO(st.st_mode)) {
		(void)fcntl(in, F_SETPIPE_SZ, PIPE_SIZE);
		pipe_in = true;
	}
	for (;;) {
		/* Past the memory part, a pipe goes to disk by splice. */
		if (pipe_in && k.on_disk) {
			if ((n = cs_sink_splice(&k, in, PIPE_SIZE, 0)) == 0)
				break;
			if (n > 0)
				continue;
			if (errno == EAGAIN)
				r = -1;		/* stdin's, as read's would be */
			if (errno != EINVAL)
				goto out;
			pipe_in = false;
		}
		if ((n = cs_read(in, buf, COPY_BUF)) == -1) {
			r = -1;
			goto out;
		}
		if (n == 0)
			break;
		if (cs_sink_write(&k, buf, (size_t)n) == -1)
			goto out;
	}
	if (lseek(k.fd, 0, SEEK_SET) == -1)
		goto out;
	free(buf);
	*fdp = k.fd;
	return 0;
out:
	e = errno;
	free(buf);
	cs_sink_close(&k);
	errno = e;
	return r;
}

int
cs_writev_all(int fd, struct iovec *iov, int n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = writev(fd, iov, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int
cs_reopen(int fd, int accmode)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((nfd = open(path, accmode | O_NOCTTY | O_CLOEXEC)) != -1)
		return nfd;
	/* No /proc: a shared offset, rewound; fine for one reader at a time. */
	if ((nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) != -1)
		lseek(nfd, 0, SEEK_SET);
	return nfd;
}
