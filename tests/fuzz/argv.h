/* SPDX-License-Identifier: ISC */
/*
 * argv.h - the body of the argv harnesses (fuzz_argv_TOOL.c). Each
 * includes its tool's cmd/TOOL.h (the build links cmd/TOOL-options.c, the
 * tool's option parsing and nothing else of it), defines FUZZ_RESET()
 * (free what parse_options allocated) and FUZZ_SKIP(arg) (arguments that
 * would make parse_options touch the filesystem), then includes this file.
 *
 * The input is the tool's arguments, NUL-separated. parse_options runs
 * as in the tool; where the tool would exit (a usage error, --help), the
 * link's --wrap of exit, err, errx returns here instead, and fclose of
 * stdout/stderr only flushes.
 */
#include <err.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAXARGS 32

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);
CS_NORETURN void __wrap_exit(int);
CS_NORETURN void __real_exit(int);
CS_NORETURN void __wrap_err(int, const char *, ...);
CS_NORETURN void __wrap_errx(int, const char *, ...);
int __wrap_fclose(FILE *);
int __real_fclose(FILE *);

static jmp_buf fuzz_jmp;
static int fuzz_armed;

void
__wrap_exit(int status)
{
	if (fuzz_armed)
		longjmp(fuzz_jmp, 1);
	__real_exit(status);
}

void
__wrap_err(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	__wrap_exit(status);
}

void
__wrap_errx(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	__wrap_exit(status);
}

int
__wrap_fclose(FILE *f)
{
	if (f == stdout || f == stderr)
		return fflush(f);
	return __real_fclose(f);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static __typeof__(opt) saved;
	static int initialized;
	char *buf, *p, *argv[FUZZ_MAXARGS + 2];
	int argc = 0;

	/* Usage messages by the million: run with -close_fd_mask=3. */
	if (!initialized) {
		saved = opt;
		initialized = 1;
	}
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = (char *)"tool";
	for (p = buf; p < buf + size && argc <= FUZZ_MAXARGS; p += strlen(p) + 1) {
		if (FUZZ_SKIP(p)) {
			free(buf);
			return -1;		/* not added to the corpus */
		}
		argv[argc++] = p;
	}
	argv[argc] = NULL;
	opt = saved;
	cs_verbosity = 0;
	optind = 0;			/* glibc: start over completely */
	fuzz_armed = 1;
	if (setjmp(fuzz_jmp) == 0)
		parse_options(argc, argv);
	fuzz_armed = 0;
	FUZZ_RESET();
	free(buf);
	return 0;
}
