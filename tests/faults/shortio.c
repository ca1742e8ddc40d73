/* SPDX-License-Identifier: ISC */
/*
 * shortio.so - LD_PRELOAD shim for make faults: every write that
 * reaches the kernel is cut to at most SHORTIO_MAX bytes (default 7), as
 * a pipe, a socket, a signal or a nearly full disk can do. What is written
 * is really written; the caller must loop for the rest. stderr is left
 * alone so that messages stay readable. With SHORTIO_LOG set, each process
 * appends "shortened N" to that file at exit, N > 0.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static unsigned long shortened;

static size_t
cap(size_t n, int fd)
{
	static size_t max;
	const char *s;

	if (fd == 2)
		return n;
	if (max == 0)
		max = (s = getenv("SHORTIO_MAX")) != NULL && atoi(s) > 0 ?
		    (size_t)atoi(s) : 7;
	if (n <= max)
		return n;
	shortened++;
	return max;
}

__attribute__((destructor)) static void
report(void)
{
	const char *log = getenv("SHORTIO_LOG");
	char line[64];
	int fd, len;

	if (log == NULL || shortened == 0 ||
	    (fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) == -1)
		return;
	len = snprintf(line, sizeof(line), "shortened %lu\n", shortened);
	(void)!syscall(SYS_write, fd, line, (size_t)len);
	close(fd);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	return syscall(SYS_write, fd, buf, cap(n, fd));
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return syscall(SYS_pwrite64, fd, buf, cap(n, fd), off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return syscall(SYS_pwrite64, fd, buf, cap(n, fd), off);
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	int i;

	for (i = 0; i < cnt && iov[i].iov_len == 0; i++)
		continue;
	if (fd == 2 || i == cnt)
		return syscall(SYS_writev, fd, iov, cnt);
	return syscall(SYS_write, fd, iov[i].iov_base,
	    cap(iov[i].iov_len, fd));
}

ssize_t
copy_file_range(int in, off_t *inoff, int out, off_t *outoff, size_t n,
    unsigned int flags)
{
	return syscall(SYS_copy_file_range, in, inoff, out, outoff,
	    cap(n, out), flags);
}
