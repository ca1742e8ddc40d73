/* SPDX-License-Identifier: ISC */
/*
 * msg.c - messages (PROG: CONTEXT: REASON, one line) and the mapping of
 * errno values to the suite's exit statuses.
 */
#include <sys/stat.h>

#include <err.h>
#include <fcntl.h>
#include <unistd.h>
#include <getopt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crashsafe.h"

int cs_verbosity;

void
cs_warnx(const char *fmt, ...)
{
	va_list ap;

	if (cs_verbosity < 0)
		return;
	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
}

void
cs_warn(const char *fmt, ...)
{
	va_list ap;

	if (cs_verbosity < 0)
		return;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void
cs_info(const char *fmt, ...)
{
	va_list ap;

	if (cs_verbosity < 1)
		return;
	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
}

int
cs_exit_for_errno(int err, int fallback)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return EX_NOPERM;
	case ENOSPC:
	case EDQUOT:
	case EIO:
	case EFBIG:
		return EX_IOERR;
	case ENOMEM:
	case EMFILE:	/* our own limits, not the path's fault */
	case ENFILE:
		return EX_OSERR;
	default:
		return fallback;
	}
}

int
cs_fail(int err, int fallback, const char *context)
{
	warnx("%s: %s", context, strerror(err));
	return cs_exit_for_errno(err, fallback);
}

/*
 * stdio gives up on EINTR (and keeps no count of what a failed write had
 * written), so stdout writes through cs_write_all instead, which resumes
 * after EINTR and short writes. Closing it closes fd 1, whose errors
 * (a deferred NFS write error, say) are then reported.
 */
static ssize_t
stdout_write(void *cookie, const char *buf, size_t len)
{
	(void)cookie;
	return cs_write_all(STDOUT_FILENO, buf, len) == -1 ? -1 : (ssize_t)len;
}

static int
stdout_close(void *cookie)
{
	(void)cookie;
	return close(STDOUT_FILENO);
}

void
cs_stdout_init(void)
{
	static const cookie_io_functions_t io = {
		.write = stdout_write, .close = stdout_close
	};
	FILE *f;

	if ((f = fopencookie(NULL, "w", io)) == NULL)
		return;			/* stdio's own stdout, then */
	setvbuf(f, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, BUFSIZ);
	stdout = f;
}

void
ecs_close_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout) || fclose(stdout) == EOF)
		err(EX_IOERR, "stdout");
}

void
cs_usage(int status, const char *synopsis, const char *help)
{
	fputs(synopsis, status == 0 ? stdout : stderr);
	if (status == 0) {
		fputs(help, stdout);
		printf("\nSee %s(1).\n", getprogname());
		ecs_close_stdout();
	}
	exit(status);
}

void
cs_version(const char *extra)
{
	printf("%s %s%s\n", getprogname(), CS_VERSION, extra != NULL ? extra : "");
	ecs_close_stdout();
	exit(0);
}

void
cs_bad_option(int ch, char *const argv[], const char *synopsis)
{
	if (ch == ':')
		warnx("option requires an argument: %s", argv[optind - 1]);
	else if (optopt != 0)
		warnx("unknown option: -%c", optopt);
	else
		warnx("unknown option: %s", argv[optind - 1]);
	cs_usage(EX_USAGE, synopsis, NULL);
}

bool
cs_stderr_mid_line(void)
{
	struct stat st;
	char c = '\n';
	int fd;

	if (fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > 0 &&
	    (fd = open("/proc/self/fd/2", O_RDONLY | O_CLOEXEC)) != -1) {
		if (pread(fd, &c, 1, st.st_size - 1) != 1)
			c = '\n';
		close(fd);
	}
	return c != '\n';
}

void
cs_option(int ch, char *const argv[], const char *synopsis, const char *help,
    const char *version_extra)
{
	switch (ch) {
	case 'h':
		cs_usage(0, synopsis, help);
	case 'q':
		cs_verbosity = -1;
		break;
	case 'v':
		cs_verbosity = 1;
		break;
	case CS_OPT_UNSAFE_SHARED:
		cs_unsafe_shared_fs = true;
		break;
	case CS_OPT_VERSION:
		cs_version(version_extra);
	default:
		cs_bad_option(ch, argv, synopsis);
	}
}
