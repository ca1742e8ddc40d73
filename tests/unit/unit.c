/* SPDX-License-Identifier: ISC */
/*
 * unit.c - C unit tests of the library's parsers and backoff maths.
 * Usage: unit GROUP; prints each failed case, exits 1 if any failed.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crashsafe.h"

static int failures;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		failures++;						\
		printf("FAIL %s:%d: ", __FILE__, __LINE__);		\
		printf(__VA_ARGS__);					\
		putchar('\n');						\
	}								\
} while (0)

static void
test_durations(void)
{
	static const struct { const char *s; cs_nsec ns; } good[] = {
		{ "0", 0 }, { "1", CS_SEC }, { "0.25", CS_SEC / 4 },
		{ "250ms", 250 * CS_MSEC }, { "1.5s", 1500 * CS_MSEC },
		{ "2m", 120 * CS_SEC }, { "1h", 3600 * CS_SEC },
		{ ".5", CS_SEC / 2 }, { "1.", CS_SEC }, { "0.001", CS_MSEC },
		{ "1.000000001", CS_SEC + 1 }, { "0.5ms", CS_MSEC / 2 },
		{ "0.0000000001", 0 }, { "1.5h", 5400 * CS_SEC },
		{ "9223372036", 9223372036 * CS_SEC },
	};
	static const char *const bad[] = {
		"", "abc", "-1", "+1", "1x", " 1", "1 ", "1e3", ".", "ms",
		"1.5.5", "0x10", "1sec", "1S", "inf", "nan", "1,5",
		"9223372037", "99999999999999999999", "153722867281m",
	};
	const char *errstr;
	cs_nsec d;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		d = -1;
		CHECK(cs_parse_duration(good[i].s, false, &d, &errstr) == 0 &&
		    d == good[i].ns, "duration '%s' gave %lld", good[i].s,
		    (long long)d);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(cs_parse_duration(bad[i], false, &d, &errstr) == -1 &&
		    errstr != NULL, "duration '%s' accepted", bad[i]);
	CHECK(cs_parse_duration("inf", true, &d, &errstr) == 0 && d == CS_INF,
	    "inf not accepted where allowed");
	CHECK(cs_parse_duration("infinity", true, &d, &errstr) == -1,
	    "'infinity' accepted");
}

static void
test_modes_reals_codes(void)
{
	cs_codeset set;
	mode_t m;
	double x;
	int i;

	CHECK(cs_parse_mode("644", &m) == 0 && m == 0644, "644");
	CHECK(cs_parse_mode("0600", &m) == 0 && m == 0600, "0600");
	CHECK(cs_parse_mode("4755", &m) == 0 && m == 04755, "4755");
	CHECK(cs_parse_mode("7777", &m) == 0 && m == 07777, "7777");
	CHECK(cs_parse_mode("10000", &m) == -1, "10000 accepted");
	CHECK(cs_parse_mode("8", &m) == -1, "8 accepted");
	CHECK(cs_parse_mode("", &m) == -1, "empty mode accepted");
	CHECK(cs_parse_mode("u+x", &m) == -1, "symbolic mode accepted");
	CHECK(cs_parse_mode("000644", &m) == -1, "over-long mode accepted");

	CHECK(cs_parse_real("2", 0, 1000, &x) == 0 && x == 2.0, "2");
	CHECK(cs_parse_real("1.5", 0, 1000, &x) == 0 && x == 1.5, "1.5");
	CHECK(cs_parse_real("nan", 0, 1000, &x) == -1, "nan accepted");
	CHECK(cs_parse_real("inf", 0, 1000, &x) == -1, "inf accepted");
	CHECK(cs_parse_real("1e3", 0, 1e6, &x) == -1, "1e3 accepted");
	CHECK(cs_parse_real("0x10", 0, 1e6, &x) == -1, "hex accepted");
	CHECK(cs_parse_real("-2", -10, 10, &x) == -1, "sign accepted");
	CHECK(cs_parse_real("2000", 0, 1000, &x) == -1, "above max");
	CHECK(cs_parse_real("", 0, 1000, &x) == -1, "empty accepted");
	CHECK(cs_parse_real(".", 0, 1000, &x) == -1, "'.' accepted");

	CHECK(cs_parse_codes("1,2,5-9,255", &set) == 0, "code list");
	for (i = 0; i < 256; i++)
		CHECK(cs_codeset_has(&set, i) ==
		    (i == 1 || i == 2 || (i >= 5 && i <= 9) || i == 255),
		    "code %d", i);
	CHECK(!cs_codeset_has(&set, 256) && !cs_codeset_has(&set, -1),
	    "out of range");
	CHECK(cs_parse_codes("0", &set) == 0 && cs_codeset_has(&set, 0), "0");
	CHECK(cs_parse_codes("0-255", &set) == 0 && cs_codeset_has(&set, 128),
	    "full range");
	static const char *const bad[] = { "", ",", "1,", ",1", "1-", "-1",
	    "5-1", "256", "1000", "a", "1;2", "1 2", "1--3", "0001" };
	for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++)
		CHECK(cs_parse_codes(bad[j], &set) == -1, "codes '%s' accepted",
		    bad[j]);
}

static void
test_backoff(void)
{
	struct cs_backoff b;
	cs_nsec d, nominal;
	unsigned n;
	int i;

	/* delay(n) = min(max, initial * factor^(n-1)), no jitter */
	cs_backoff_init(&b, 100 * CS_MSEC, 2, 10 * CS_SEC, CS_JITTER_NONE);
	static const cs_nsec want[] = { 100, 200, 400, 800, 1600, 3200, 6400,
	    10000, 10000 };
	for (n = 0; n < sizeof(want) / sizeof(want[0]); n++) {
		d = cs_backoff_next(&b);
		CHECK(d == want[n] * CS_MSEC, "none: delay %u = %lld", n + 1,
		    (long long)d);
	}
	/* factor^n overflowing a double stays at max */
	CHECK(cs_backoff_nominal(&b, 100000) == 10 * CS_SEC, "huge n");
	cs_backoff_init(&b, CS_SEC, 1e300, CS_INF - 1, CS_JITTER_NONE);
	CHECK(cs_backoff_nominal(&b, 5) == CS_INF - 1, "overflow to max");

	/* full: uniform in [0, delay]; equal: [delay/2, delay] */
	for (i = 0; i < 2000; i++) {
		cs_backoff_init(&b, 100 * CS_MSEC, 2, 10 * CS_SEC,
		    CS_JITTER_FULL);
		for (n = 1; n <= 10; n++) {
			nominal = cs_backoff_nominal(&b, n);
			d = cs_backoff_next(&b);
			CHECK(d >= 0 && d <= nominal, "full %lld > %lld",
			    (long long)d, (long long)nominal);
		}
		cs_backoff_init(&b, 100 * CS_MSEC, 2, 10 * CS_SEC,
		    CS_JITTER_EQUAL);
		for (n = 1; n <= 10; n++) {
			nominal = cs_backoff_nominal(&b, n);
			d = cs_backoff_next(&b);
			CHECK(d >= nominal / 2 && d <= nominal,
			    "equal %lld outside [%lld/2, %lld]", (long long)d,
			    (long long)nominal, (long long)nominal);
		}
	}
	/* decorrelated: min(max, uniform(initial, prev * 3)) */
	cs_backoff_init(&b, 100 * CS_MSEC, 2, 5 * CS_SEC,
	    CS_JITTER_DECORRELATED);
	cs_nsec prev = b.initial;
	for (i = 0; i < 5000; i++) {
		d = cs_backoff_next(&b);
		CHECK(d >= b.initial && d <= 5 * CS_SEC && d <= prev * 3,
		    "decorrelated %lld (prev %lld)", (long long)d,
		    (long long)prev);
		prev = d;
	}
	/* full jitter really spreads: the mean of uniform(0, 1s) is ~0.5s */
	cs_nsec sum = 0;
	for (i = 0; i < 10000; i++)
		sum += cs_uniform(0, CS_SEC);
	CHECK(sum / 10000 > 450 * CS_MSEC && sum / 10000 < 550 * CS_MSEC,
	    "mean of uniform(0, 1s) = %lld", (long long)(sum / 10000));
	/* 64-bit spans */
	for (i = 0; i < 1000; i++) {
		d = cs_uniform(CS_SEC, 3600 * CS_SEC);
		CHECK(d >= CS_SEC && d <= 3600 * CS_SEC, "wide uniform %lld",
		    (long long)d);
	}
	enum cs_jitter j;
	CHECK(cs_parse_jitter("decorrelated", &j) == 0 &&
	    j == CS_JITTER_DECORRELATED, "jitter name");
	CHECK(cs_parse_jitter("Full", &j) == -1, "jitter case");
	static const char *const words[] = { "none", "full", "TRUNCATE" };
	CHECK(cs_parse_word("full", words, 3, false) == 1, "word");
	CHECK(cs_parse_word("truncate", words, 3, true) == 2, "nocase word");
	CHECK(cs_parse_word("truncate", words, 3, false) == -1, "case word");
	CHECK(cs_parse_word("ful", words, 3, false) == -1, "prefix word");
	CHECK(cs_parse_word("", words, 3, false) == -1, "empty word");
}

static void
test_sleep(void)
{
	cs_nsec t0, el;

	/* never past the deadline */
	t0 = cs_now();
	CHECK(cs_sleep(5 * CS_SEC, cs_deadline(50 * CS_MSEC), -1, NULL) == 1,
	    "deadline not reported");
	el = cs_now() - t0;
	CHECK(el >= 50 * CS_MSEC && el < 2 * CS_SEC, "slept %lld",
	    (long long)el);
	t0 = cs_now();
	CHECK(cs_sleep(20 * CS_MSEC, CS_INF, -1, NULL) == 0, "full sleep");
	CHECK(cs_now() - t0 >= 20 * CS_MSEC, "short sleep");
	CHECK(cs_deadline(CS_INF) == CS_INF, "inf deadline");
	CHECK(cs_deadline(CS_INF - 5) == CS_INF, "saturating deadline");
}

static void
test_tempname(void)
{
	char buf[512], base[300];

	cs_temp_name(buf, sizeof(buf), "app.conf", 1234, "AbCdEf");
	CHECK(strcmp(buf, ".app.conf.cs-1234-AbCdEf") == 0, "%s", buf);
	memset(base, 'x', 255);
	base[255] = '\0';
	cs_temp_name(buf, sizeof(buf), base, 4194304, "AbCdEf");
	CHECK(strlen(buf) == NAME_MAX, "long name is %zu bytes", strlen(buf));
	CHECK(strcmp(buf + strlen(buf) - 20, "xx.cs-4194304-AbCdEf") == 0,
	    "tail kept: %s", buf + strlen(buf) - 20);

	/* what cs_temp_name writes, cs_temp_name_pid reads back */
	const char *const bases[] = { "app.conf", "x.cs-12-abcdef",
	    "-", base };
	static const pid_t pids[] = { 1, 1234, 4194304, INT_MAX };
	char sfx[7];
	size_t bi, pi;
	pid_t got;
	for (bi = 0; bi < sizeof(bases) / sizeof(bases[0]); bi++)
		for (pi = 0; pi < sizeof(pids) / sizeof(pids[0]); pi++) {
			cs_random_suffix(sfx, CS_ALNUM);
			cs_temp_name(buf, sizeof(buf), bases[bi], pids[pi], sfx);
			got = 0;
			CHECK(cs_temp_name_pid(buf, &got) && got == pids[pi],
			    "round trip of %s: %d", buf, (int)got);
		}
	static const char *const not_temps[] = { "app.conf", ".app.conf",
	    ".a.cs-0-abcdef", ".a.cs--abcdef", ".a.cs-12-abcde",
	    ".a.cs-12-abc_ef", "a.cs-12-abcdef", ".a.cs-99999999999-abcdef",
	    ".cs-12-abcdef", ".a.xs-12-abcdef" };
	for (bi = 0; bi < sizeof(not_temps) / sizeof(not_temps[0]); bi++)
		CHECK(!cs_temp_name_pid(not_temps[bi], &got),
		    "%s taken for a temp name", not_temps[bi]);
	cs_random_suffix(sfx, "ab");
	CHECK(strlen(sfx) == 6 && strspn(sfx, "ab") == 6, "suffix %s", sfx);
	/* Drawn from random bytes: every letter comes up, none far from
	 * 1/26 (12000 draws: 461 +- 21 each; 350..575 is over 5 sigma). */
	{
		unsigned count[26] = { 0 };
		const char *az = "abcdefghijklmnopqrstuvwxyz";
		int k, j;
		for (k = 0; k < 2000; k++) {
			cs_random_suffix(sfx, az);
			CHECK(strlen(sfx) == 6 && strspn(sfx, az) == 6,
			    "suffix %s", sfx);
			for (j = 0; j < 6; j++)
				count[sfx[j] - 'a']++;
		}
		for (j = 0; j < 26; j++)
			CHECK(count[j] >= 350 && count[j] <= 575,
			    "letter %c drawn %u times in 12000", 'a' + j,
			    count[j]);
	}

	char *dir, *b;
	CHECK(cs_split_path("a/b/c", &dir, &b) == 0 && strcmp(dir, "a/b") == 0 &&
	    strcmp(b, "c") == 0, "a/b/c");
	free(dir), free(b);
	CHECK(cs_split_path("/c", &dir, &b) == 0 && strcmp(dir, "/") == 0 &&
	    strcmp(b, "c") == 0, "/c");
	free(dir), free(b);
	CHECK(cs_split_path("c", &dir, &b) == 0 && strcmp(dir, ".") == 0 &&
	    strcmp(b, "c") == 0, "c");
	free(dir), free(b);
	CHECK(cs_split_path("c/", &dir, &b) == -1, "c/ accepted");
	CHECK(cs_split_path("", &dir, &b) == -1, "empty accepted");
}

static void
test_errno_codes(void)
{
	CHECK(cs_exit_for_errno(EACCES, 1) == EX_NOPERM, "EACCES");
	CHECK(cs_exit_for_errno(EPERM, 1) == EX_NOPERM, "EPERM");
	CHECK(cs_exit_for_errno(ENOSPC, 1) == EX_IOERR, "ENOSPC");
	CHECK(cs_exit_for_errno(EDQUOT, 1) == EX_IOERR, "EDQUOT");
	CHECK(cs_exit_for_errno(EIO, 1) == EX_IOERR, "EIO");
	CHECK(cs_exit_for_errno(EFBIG, 1) == EX_IOERR, "EFBIG");
	CHECK(cs_exit_for_errno(ENOMEM, 1) == EX_OSERR, "ENOMEM");
	CHECK(cs_exit_for_errno(EROFS, EX_CANTCREAT) == EX_CANTCREAT, "EROFS");
}

static void
test_proc(void)
{
	unsigned long long st;
	char state;

	CHECK(cs_proc_starttime(getpid(), &st, &state) == 0 && st > 0 &&
	    state == 'R', "own start time / state %c", state);
	CHECK(cs_proc_starttime(cs_pid_max() + 1, &st, NULL) == -1,
	    "pid beyond pid_max");
	CHECK(strlen(cs_boot_id()) == 36, "boot id '%s'", cs_boot_id());
	CHECK(cs_pid_max() >= 32768, "pid_max");
}

/* The key of a file as staleclean makes it: superblock device, inode. */
static struct cs_fileid
key_of(int fd)
{
	struct statx sx;
	struct cs_fileid id = { 0 };

	if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &sx) == 0) {
		id.dev = cs_mount_dev(sx.stx_mnt_id,
		    makedev(sx.stx_dev_major, sx.stx_dev_minor));
		id.ino = sx.stx_ino;
	}
	return id;
}

static void
test_openfiles(void)
{
	char path[] = "/tmp/cs-unit-XXXXXX";
	struct cs_fileset locked, opened;
	const struct cs_fileid *f;
	struct cs_fileid id;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd, fd2;
	pid_t child;

	if ((fd = mkstemp(path)) == -1) {
		CHECK(0, "mkstemp: %s", strerror(errno));
		return;
	}
	id = key_of(fd);
	/* a flock of ours, then an OFD lock beside it */
	CHECK(flock(fd, LOCK_EX) == 0, "flock");
	CHECK(cs_locked_files_scan(&locked) == 0, "/proc/locks");
	f = cs_fileset_find(&locked, id.dev, id.ino);
	CHECK(f != NULL && f->what == CS_FLOCK && f->pid == getpid(),
	    "our flock listed, by our pid");
	cs_fileset_free(&locked);
	fd2 = open(path, O_RDWR);
	CHECK(fcntl(fd2, F_OFD_SETLK, &fl) == 0, "OFD lock");
	CHECK(cs_locked_files_scan(&locked) == 0, "/proc/locks");
	f = cs_fileset_find(&locked, id.dev, id.ino);
	CHECK(f != NULL && f->what == (CS_FLOCK | CS_POSIX),
	    "both locks folded into one entry");
	CHECK(cs_fileset_find(&locked, id.dev, id.ino + 1) == NULL,
	    "another inode is not locked");
	cs_fileset_free(&locked);
	close(fd2);
	/* our own fds are not "open by anyone"; a child's are */
	CHECK(cs_open_files_scan(&opened) == 0, "fdinfo scan");
	CHECK(cs_fileset_find(&opened, id.dev, id.ino) == NULL,
	    "our own open file is left out");
	cs_fileset_free(&opened);
	if ((child = fork()) == 0) {
		pause();
		_exit(0);
	}
	/* the child has fd from the moment fork returns */
	CHECK(cs_open_files_scan(&opened) == 0, "fdinfo scan");
	f = cs_fileset_find(&opened, id.dev, id.ino);
	CHECK(f != NULL && f->pid == child && f->what == CS_OPEN,
	    "a child's inherited fd is found, with its pid");
	cs_fileset_free(&opened);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(fd);
	unlink(path);
}

/* Significant digits of a printed real ("1.25e-07" -> 3, "2500.0" -> 2). */
static int
sig_digits(const char *s)
{
	int n = 0, lead = 1, zeros = 0;

	for (; *s != '\0' && *s != 'e'; s++) {
		if (*s < '0' || *s > '9')
			continue;
		if (lead && *s == '0')
			continue;
		lead = 0;
		n++;
		zeros = *s == '0' ? zeros + 1 : 0;
	}
	return n - zeros > 0 ? n - zeros : 1;
}

/*
 * cs_put_real: random doubles of every exponent (subnormals included)
 * read back as themselves, and no fewer digits would.
 */
static void
test_reals(void)
{
	static const struct { double d; const char *s; } fixed[] = {
		{ 9.99, "9.99" }, { 0.1, "0.1" }, { 2500, "2500.0" },
		{ 1e300, "1e+300" }, { 1e16, "1e+16" }, { 1e15,
		"1000000000000000.0" }, { 1e-5, "1e-05" }, { 0.0001, "0.0001" },
		{ -0.0, "-0.0" }, { 0.1 + 0.2, "0.30000000000000004" },
		{ 5e-324, "5e-324" }, { 1.0 / 0.0, "Inf" }, { -1.0 / 0.0, "-Inf" },
		{ -0.37, "-0.37" }, { 123.456, "123.456" }, { -2.0, "-2.0" },
		{ 0.12345678, "0.12345678" }, { 0.123456789, "0.123456789" },
		{ 999999999999999.9, "999999999999999.9" },
	};
	char buf[64], shorter[64];
	size_t i, len;
	unsigned long long bits;
	double d;
	FILE *f;
	int k;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		f = fmemopen(buf, sizeof(buf), "w");
		cs_put_real(f, fixed[i].d);
		fclose(f);
		CHECK(strcmp(buf, fixed[i].s) == 0, "%s, not %s", buf,
		    fixed[i].s);
	}
	srandom(42);
	for (i = 0; i < 100000; i++) {
		static const double p10[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6,
		    1e7, 1e8, 1e9, 1e10 };

		d = (double)(random() % 2000000000 - 1000000000) /
		    p10[random() % 11];
		f = fmemopen(buf, sizeof(buf), "w");
		cs_put_real(f, d);
		fclose(f);
		CHECK(strtod(buf, NULL) == d, "%s does not read back as %a",
		    buf, d);
		k = sig_digits(buf);
		if (k > 1) {
			snprintf(shorter, sizeof(shorter), "%.*e", k - 2, d);
			CHECK(strtod(shorter, NULL) != d, "%s is shorter than %s",
			    shorter, buf);
		}
	}
	for (i = 0; i < 200000; i++) {
		bits = (unsigned long long)random() << 33 ^
		    (unsigned long long)random() << 11 ^ (unsigned long long)random();
		memcpy(&d, &bits, sizeof(d));
		if (d != d || d - d != 0)
			continue;	/* NaN, Inf */
		f = fmemopen(buf, sizeof(buf), "w");
		cs_put_real(f, d);
		fclose(f);
		len = strlen(buf);
		CHECK(strtod(buf, NULL) == d, "%s does not read back as %a",
		    buf, d);
		CHECK(strpbrk(buf, ".e") != NULL && len < 26, "%s", buf);
		k = sig_digits(buf);
		if (k > 1) {
			snprintf(shorter, sizeof(shorter), "%.*e", k - 2, d);
			CHECK(strtod(shorter, NULL) != d, "%s is shorter than %s",
			    shorter, buf);
		}
	}
}

static void
test_holders(void)
{
	static const struct {
		const char *line;
		int what, ret;
		bool waiting, shared;
		pid_t pid;
		unsigned maj, mnr;
		ino_t ino;
	} lines[] = {
		{ "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF\n",
		    CS_FLOCK, 1, false, false, 4242, 8, 1, 1234567 },
		{ "2: -> FLOCK  ADVISORY  WRITE 4243 08:01:1234567 0 EOF\n",
		    CS_FLOCK, 1, true, false, 4243, 8, 1, 1234567 },
		{ "3: OFDLCK ADVISORY  READ  -1 00:2e:99 0 EOF\n",
		    CS_POSIX, 1, false, true, -1, 0, 0x2e, 99 },
		{ "4: POSIX  ADVISORY  WRITE 0 fd:03:42 0 EOF\n",
		    CS_POSIX, 1, false, false, 0, 0xfd, 3, 42 },
		{ "5: LEASE  ACTIVE    READ  77 08:01:5 0 EOF\n",
		    CS_LEASE, 1, false, true, 77, 8, 1, 5 },
		{ "garbage\n", 0, 0, false, false, 0, 0, 0, 0 },
	};
	struct cs_lockline l;
	struct cs_holder h;
	struct cs_owner o;
	char buf[256], text[600];
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		strlcpy(buf, lines[i].line, sizeof(buf));
		CHECK(cs_proc_locks_line(buf, &l) == lines[i].ret,
		    "%s: return", lines[i].line);
		if (lines[i].ret == 0)
			continue;
		CHECK(l.what == lines[i].what && l.waiting == lines[i].waiting &&
		    l.shared == lines[i].shared && l.pid == lines[i].pid &&
		    l.dev == makedev(lines[i].maj, lines[i].mnr) &&
		    l.ino == lines[i].ino, "%s: parsed wrong", lines[i].line);
	}
	/* the metadata withlock writes reads back */
	strlcpy(text, "pid=12\nstarttime=99\nboot_id=b\nhost=db1\nuid=0\n"
	    "gen=1795777764063608\nsince=1795777700\ncmd=backup.sh --full\n",
	    sizeof(text));
	CHECK(cs_parse_owner(text, &o) && o.pid == 12 && o.has_start &&
	    o.start == 99 && o.gen == 1795777764063608ULL &&
	    o.since == 1795777700 && strcmp(o.cmd, "backup.sh --full") == 0 &&
	    strcmp(o.host, "db1") == 0, "metadata did not read back");
	/* how a holder is named */
	memset(&h, 0, sizeof(h));
	h.pid = 4242;
	strlcpy(h.cmd, "backup.sh", sizeof(h.cmd));
	strlcpy(h.host, "db1", sizeof(h.host));
	cs_holder_text(&h, text, sizeof(text));
	CHECK(strcmp(text, "pid 4242 (backup.sh) on host db1") == 0, "%s", text);
	h.host[0] = '\0';
	h.others = 2;
	cs_holder_text(&h, text, sizeof(text));
	CHECK(strcmp(text, "pid 4242 (backup.sh) and 2 others (shared)") == 0,
	    "%s", text);
	memset(&h, 0, sizeof(h));
	h.pid = -1;
	cs_holder_text(&h, text, sizeof(text));
	CHECK(strcmp(text, "an open file description (OFD lock, no pid)") == 0,
	    "%s", text);
	h.pid = 0;
	h.since = time(NULL);
	cs_holder_text(&h, text, sizeof(text));
	CHECK(strncmp(text, "a process we cannot see (another pid namespace) "
	    "since ", 54) == 0 && strlen(text) == 54 + 8, "%s", text);
}

/* cs_par_for: every item once, on more than one thread where there are
 * cores for it, errno kept; and again, and with 0 and 1 items. */
struct par_probe {
	unsigned	 hits[5000];
	pthread_t	 by[5000];
};

static void
par_item(size_t i, void *ctx)
{
	struct par_probe *p = ctx;

	p->hits[i]++;
	p->by[i] = pthread_self();
	errno = EBADF;
	if (i % 64 == 0)
		usleep(100);	/* time for the others to take some */
}

static void
test_par(void)
{
	static struct par_probe p;
	size_t i, n, round, other;

	for (round = 0; round < 3; round++) {
		n = round == 0 ? 5000 : round == 1 ? 1 : 0;
		memset(&p, 0, sizeof(p));
		errno = ENOENT;
		cs_par_for(n, par_item, &p);
		CHECK(errno == ENOENT, "errno %d", errno);
		for (i = 0, other = 0; i < sizeof(p.hits) / sizeof(p.hits[0]);
		    i++) {
			CHECK(p.hits[i] == (i < n), "item %zu ran %u times",
			    i, p.hits[i]);
			other += i < n && !pthread_equal(p.by[i],
			    pthread_self());
		}
		if (n == 5000 && sysconf(_SC_NPROCESSORS_ONLN) > 1)
			CHECK(other > 0, "all %zu items on the caller's thread",
			    n);
	}
}

static const struct {
	const char *name;
	void (*fn)(void);
} groups[] = {
	{ "holders", test_holders },
	{ "reals", test_reals },
	{ "durations", test_durations },
	{ "parsers", test_modes_reals_codes },
	{ "backoff", test_backoff },
	{ "sleep", test_sleep },
	{ "tempname", test_tempname },
	{ "errno", test_errno_codes },
	{ "proc", test_proc },
	{ "openfiles", test_openfiles },
	{ "par", test_par },
};

int
main(int argc, char *argv[])
{
	size_t i;

	if (argc != 2) {
		for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
			puts(groups[i].name);
		return 0;
	}
	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(argv[1], groups[i].name) == 0) {
			groups[i].fn();
			return failures > 0;
		}
	fprintf(stderr, "unit: no group %s\n", argv[1]);
	return 2;
}
