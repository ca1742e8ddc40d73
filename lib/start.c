/* SPDX-License-Identifier: ISC */
/*
 * start.c - what every tool does before anything else: fds 0, 1 and 2
 * made sure to be open (so that no file we open becomes stdout or stderr
 * by accident), SIGXFSZ ignored (a file size limit becomes an EFBIG we
 * can clean up after, not a kill), stdout written through cs_write_all.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "crashsafe.h"

bool cs_xfsz_ignored;

static int closed_fds;		/* bit N: fd N was closed at start */

/* Open /dev/null on each of fds 0-2 that is closed; the mask of those. */
static int
stdfds_open(void)
{
	int fd, closed = 0;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		closed |= 1 << fd;
		/* The lowest free fd is this one. */
		if (open("/dev/null", O_RDWR) != fd)
			_exit(EX_OSERR);
	}
	return closed;
}

void
cs_tool_init(void)
{
	struct sigaction old;

	closed_fds = stdfds_open();
	if (sigaction(SIGXFSZ, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
		signal(SIGXFSZ, SIG_IGN);
		cs_xfsz_ignored = true;
	}
	cs_stdout_init();
}

bool
cs_stdin_was_closed(void)
{
	return (closed_fds & 1) != 0;
}
