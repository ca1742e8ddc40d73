/*
 * staleclean - remove locks, pid files and temp files whose owner is
 * provably gone; never a live one. Every candidate gets a verdict (stale,
 * live, unknown) and a reason; only stale ones are removed, through a
 * quarantine rename and a second look. When in doubt, do nothing.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crashsafe.h"

enum { OPT_CHECK = CHAR_MAX + 1, OPT_MIN_AGE, OPT_ORPHANS, OPT_JSON,
	OPT_UNSAFE_SHARED, OPT_VERSION };

static const struct option longopts[] = {
	{ "check",	no_argument,		NULL, OPT_CHECK },
	{ "dry-run",	no_argument,		NULL, 'n' },
	{ "help",	no_argument,		NULL, 'h' },
	{ "json",	no_argument,		NULL, OPT_JSON },
	{ "max-age",	required_argument,	NULL, 'a' },
	{ "min-age",	required_argument,	NULL, OPT_MIN_AGE },
	{ "orphans",	no_argument,		NULL, OPT_ORPHANS },
	{ "pattern",	required_argument,	NULL, 'p' },
	{ "quiet",	no_argument,		NULL, 'q' },
	{ "recursive",	no_argument,		NULL, 'r' },
	{ "unsafe-shared-fs", no_argument,	NULL, OPT_UNSAFE_SHARED },
	{ "verbose",	no_argument,		NULL, 'v' },
	{ "version",	no_argument,		NULL, OPT_VERSION },
	{ NULL,		0,			NULL, 0 }
};

static const char synopsis[] =
"usage: staleclean [-nqrv] [-a max-age] [--min-age duration] [-p pattern]\n"
"                  [--check] [--orphans] [--json] [--unsafe-shared-fs] path ...\n";

static const char options_help[] =
"\nRemove locks, pid files and temp files whose owner is provably gone.\n"
"  -n, --dry-run            decide and report, remove nothing\n"
"      --check              like -n; exit 1 if anything is stale\n"
"  -a, --max-age DURATION   age after which unverifiable locks are stale (5m)\n"
"      --min-age DURATION   never touch anything younger (10s)\n"
"  -p, --pattern GLOB       candidate names in directories (repeatable)\n"
"  -r, --recursive          descend (same filesystem only)\n"
"      --orphans            only orphan temp files of this suite\n"
"      --json               one JSON object per candidate\n"
"      --unsafe-shared-fs   judge even where locks do not reach other clients\n"
"  -q, --quiet              only errors\n"
"  -v, --verbose            one line per candidate\n";

#define MAX_DEPTH	64
#define MAX_PATTERNS	64

static const char *default_patterns[] = { "*.lock", "*.lck", "*.pid",
	"LCK..*", ".#*", ".*.cs-*", NULL };

static struct {
	bool		 dry_run, check, recursive, orphans, json;
	cs_nsec		 max_age, min_age;
	const char	*patterns[MAX_PATTERNS + 1];
	int		 npatterns;
} opt = { .max_age = 300 * CS_SEC, .min_age = 10 * CS_SEC };

enum verdict { STALE, LIVE, UNKNOWN };
static const char *const verdicts[] = { "stale", "live", "unknown" };

/* What we know of one candidate. */
struct cand {
	const char	*path;		/* for messages */
	int		 dirfd;
	const char	*name;
	struct stat	 st;
	const char	*kind;
	enum verdict	 verdict;
	char		 reason[160];
	pid_t		 pid;
	char		 host[256];
	int		 fd;		/* open regular file, flock held if ours */
};

static struct cs_openset opened;
static bool opened_scanned;
static int status;
static unsigned long nstale;

static CS_NORETURN void
usage(int st)
{
	cs_usage(st, synopsis, options_help);
}

static void
parse_options(int argc, char *argv[])
{
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:a:hnp:qrv", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'a':
			opt.max_age = ecs_duration(optarg, false, "max-age");
			break;
		case 'h':
			usage(0);
		case 'n':
			opt.dry_run = true;
			break;
		case 'p':
			if (opt.npatterns == MAX_PATTERNS)
				errx(EX_USAGE, "too many patterns");
			opt.patterns[opt.npatterns++] = optarg;
			break;
		case 'q':
			cs_verbosity = -1;
			break;
		case 'r':
			opt.recursive = true;
			break;
		case 'v':
			cs_verbosity = 1;
			break;
		case OPT_CHECK:
			opt.check = opt.dry_run = true;
			break;
		case OPT_MIN_AGE:
			opt.min_age = ecs_duration(optarg, false, "min-age");
			break;
		case OPT_ORPHANS:
			opt.orphans = true;
			break;
		case OPT_JSON:
			opt.json = true;
			break;
		case OPT_UNSAFE_SHARED:
			cs_unsafe_shared_fs = true;
			break;
		case OPT_VERSION:
			cs_version(NULL);
		default:
			cs_bad_option(ch, argv, synopsis);
		}
	}
	if (opt.npatterns == 0)
		for (ch = 0; default_patterns[ch] != NULL; ch++)
			opt.patterns[opt.npatterns++] = default_patterns[ch];
}

static void
say(struct cand *c, enum verdict v, const char *fmt, ...)
    CS_PRINTF(3, 4);

static void
say(struct cand *c, enum verdict v, const char *fmt, ...)
{
	va_list ap;

	c->verdict = v;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

static cs_nsec
age_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return ((cs_nsec)now.tv_sec - t->tv_sec) * CS_SEC +
	    (now.tv_nsec - t->tv_nsec);
}

static cs_nsec
age_of(const struct stat *st)
{
	return age_since(&st->st_mtim);
}

static bool
open_by_anyone(const struct stat *st)
{
	if (!opened_scanned) {
		if (cs_open_files_scan(&opened) == -1)
			err(EX_OSERR, "/proc");
		opened_scanned = true;
	}
	return cs_open_files_has(&opened, st->st_dev, st->st_ino);
}

/* ---- the pid rules ---- */

static void
judge_pid(struct cand *c, const struct cs_owner *o)
{
	unsigned long long start;
	char state = 0;

	c->pid = o->pid;
	strlcpy(c->host, o->host, sizeof(c->host));
	if (o->host[0] != '\0' && strcmp(o->host, cs_hostname()) != 0) {
		if (age_of(&c->st) > opt.max_age)
			say(c, STALE, "host %s, older than max-age", o->host);
		else
			say(c, UNKNOWN, "owned on host %s", o->host);
		return;
	}
	if (o->boot_id[0] != '\0' && cs_boot_id()[0] != '\0' &&
	    strcmp(o->boot_id, cs_boot_id()) != 0) {
		say(c, STALE, "written in an earlier boot");
		return;
	}
	if (o->boot != 0 && cs_boot_time() != 0 &&
	    (o->boot < cs_boot_time() - 2 || o->boot > cs_boot_time() + 2)) {
		say(c, STALE, "written in an earlier boot");
		return;
	}
	if (o->pid <= 1 || o->pid > cs_pid_max()) {
		say(c, UNKNOWN, "pid %d proves nothing", (int)o->pid);
		return;
	}
	if (kill(o->pid, 0) == -1 && errno == ESRCH) {
		say(c, STALE, "pid %d not running", (int)o->pid);
		return;
	}
	/* Alive, or EPERM: alive. Unless a zombie, or the pid reused. */
	if (cs_proc_starttime(o->pid, &start, &state) == -1) {
		say(c, LIVE, "pid %d running", (int)o->pid);
		return;
	}
	if (state == 'Z') {
		say(c, STALE, "pid %d is a zombie", (int)o->pid);
		return;
	}
	if (o->has_start) {
		if (start != o->start)
			say(c, STALE, "pid %d reused (start time differs)",
			    (int)o->pid);
		else
			say(c, LIVE, "pid %d running", (int)o->pid);
		return;
	}
	/* No start time recorded: reuse cannot be proven. The wall clock
	 * is no witness (NTP steps it after boot on machines without an
	 * RTC), so no file time is compared with the process's start. */
	say(c, LIVE, "pid %d running", (int)o->pid);
}

/* ---- the kinds ---- */

/* .NAME.cs-PID-XXXXXX: the pid of the writer. */
static bool
orphan_pid(const char *name, pid_t *pid)
{
	const char *p, *dash;
	long long n;
	size_t len = strlen(name);

	if (name[0] != '.' || len < 12 || name[len - 7] != '-')
		return false;
	for (p = name + len - 6; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9')))
			return false;
	dash = name + len - 7;
	for (p = dash; p > name && p[-1] >= '0' && p[-1] <= '9'; p--)
		;
	if (p == dash || p - name < 5 || strncmp(p - 4, ".cs-", 4) != 0)
		return false;
	n = strtoll(p, NULL, 10);
	*pid = (pid_t)n;
	return n > 0 && n <= INT_MAX;
}

static bool
in_git_dir(const char *path)
{
	return strstr(path, "/.git/") != NULL || strncmp(path, ".git/", 5) == 0;
}

static void
judge_symlink(struct cand *c)
{
	char target[PATH_MAX];
	struct cs_owner o;
	ssize_t n;

	c->kind = "symlink";
	if ((n = readlinkat(c->dirfd, c->name, target, sizeof(target) - 1))
	    == -1) {
		say(c, UNKNOWN, "unreadable link: %s", strerror(errno));
		return;
	}
	target[n] = '\0';
	if (cs_parse_link_owner(c->name, target, &o, &c->kind)) {
		judge_pid(c, &o);
		return;
	}
	say(c, UNKNOWN, "a symlink that is not a lock");
}

static void
judge_dir(struct cand *c)
{
	struct cs_owner o;
	char buf[512];
	ssize_t n;
	int fd, dfd;
	DIR *d;
	struct dirent *e;
	int entries = 0;

	c->kind = "lock-dir";
	dfd = openat(c->dirfd, c->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dfd == -1 || (d = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		say(c, UNKNOWN, "unreadable: %s", strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			entries++;
	fd = openat(dirfd(d), "pid", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd != -1) {
		struct stat pst;

		n = fstat(fd, &pst) == 0 && S_ISREG(pst.st_mode) ?
		    read(fd, buf, sizeof(buf) - 1) : -1;
		close(fd);
		closedir(d);
		if (entries != 1) {
			say(c, UNKNOWN, "holds more than a pid file");
			return;
		}
		if (n >= 0) {
			buf[n] = '\0';
			if (cs_parse_owner(buf, &o) && o.pid != 0) {
				judge_pid(c, &o);
				return;
			}
		}
		say(c, UNKNOWN, "unreadable pid file");
		return;
	}
	closedir(d);
	if (entries > 0)
		say(c, UNKNOWN, "a directory with content, not a lock");
	else if (age_of(&c->st) > opt.max_age)
		say(c, STALE, "empty, older than max-age");
	else
		say(c, UNKNOWN, "empty, younger than max-age");
}

static void
judge_file(struct cand *c, bool orphan, pid_t opid)
{
	struct stat now;
	struct cs_owner o;
	char buf[1024];
	ssize_t n;

	c->kind = orphan ? "orphan-temp" : "lock-file";
	c->fd = openat(c->dirfd, c->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (c->fd == -1) {
		say(c, UNKNOWN, "cannot open: %s", strerror(errno));
		return;
	}
	if (fstat(c->fd, &now) == -1 ||
	    now.st_ino != c->st.st_ino || now.st_dev != c->st.st_dev ||
	    !S_ISREG(now.st_mode)) {
		say(c, UNKNOWN, "changed while looked at");
		return;
	}
	/* Held by anyone, whatever it says, is live. */
	switch (cs_lock_probe(c->fd)) {
	case CS_HELD_FLOCK:
		say(c, LIVE, "flock held");
		return;
	case CS_HELD_POSIX:
		say(c, LIVE, "fcntl lock held");
		return;
	case CS_HELD_ERROR:
		say(c, UNKNOWN, "cannot probe its locks: %s", strerror(errno));
		return;
	case CS_HELD_NO:
		break;		/* and we hold its flock now */
	}
	if (open_by_anyone(&c->st)) {
		say(c, LIVE, "open in a process");
		return;
	}
	if (orphan) {
		c->kind = "orphan-temp";
		memset(&o, 0, sizeof(o));
		o.pid = opid;
		judge_pid(c, &o);
		return;
	}
	if (in_git_dir(c->path) || strcmp(c->name, "gc.pid") == 0) {
		c->kind = "git-lock";
		if (age_of(&c->st) > opt.max_age)
			say(c, STALE, "git lock, unheld, older than max-age");
		else
			say(c, UNKNOWN, "git lock, younger than max-age");
		return;
	}
	n = pread(c->fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	if (n > 0 && cs_parse_owner(buf, &o) && o.pid != 0) {
		c->kind = strncmp(buf, "pid=", 4) == 0 ? "lock-file" : "pid-file";
		judge_pid(c, &o);
		return;
	}
	/*
	 * No owner recorded: kept, always. An empty flock-style file's
	 * existence proves nothing (removing it gains nothing and races
	 * flock(1) users); anything else is not a lock at all (Cargo.lock,
	 * yarn.lock, Gemfile.lock are dependency manifests).
	 */
	c->kind = "lock-file";
	if (n <= 0)
		say(c, UNKNOWN, "unheld, empty, no owner recorded");
	else
		say(c, UNKNOWN, "no owner recorded: not a lock file");
}

/* ---- removal ---- */

/*
 * Rename from to to in dirfd without ever replacing anything at to.
 * RENAME_NOREPLACE does it in one step; where the filesystem lacks it
 * (FUSE answers EINVAL), to_fresh says to is our own unique name: we
 * make a placeholder there ourselves (O_EXCL, or mkdir) and rename over
 * it, which replaces only what we made. Otherwise (putting back, where a
 * newcomer may have taken the name) a file goes by link(2), which fails
 * on an existing name, and then loses its quarantine name; a directory,
 * which cannot be linked, stays where it is (-1, EEXIST).
 */
static int
rename_noreplace(int dirfd, const char *from, const char *to, bool to_fresh,
    bool isdir)
{
	int fd, e;

	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (to_fresh) {
		if (isdir)
			fd = mkdirat(dirfd, to, 0700);
		else if ((fd = openat(dirfd, to, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600)) != -1)
			close(fd);
		if (fd == -1)
			return -1;
		if (renameat(dirfd, from, dirfd, to) == 0)
			return 0;
		e = errno;
		unlinkat(dirfd, to, isdir ? AT_REMOVEDIR : 0);
		errno = e;
		return -1;
	}
	if (isdir) {
		errno = EEXIST;
		return -1;
	}
	if (linkat(dirfd, from, dirfd, to, 0) == -1)
		return -1;
	unlinkat(dirfd, from, 0);
	return 0;
}

/* Put a quarantined candidate back; a failure is an error naming where
 * it is (a newcomer took its name meanwhile), never "put back". */
static const char *
put_back(struct cand *c, const char *q, const char *why)
{
	char qpath[PATH_MAX];
	const char *slash = strrchr(c->path, '/');

	if (rename_noreplace(c->dirfd, q, c->name, false,
	    S_ISDIR(c->st.st_mode)) == 0) {
		say(c, UNKNOWN, "%s, put back", why);
		return "none";
	}
	snprintf(qpath, sizeof(qpath), "%.*s%s",
	    slash != NULL ? (int)(slash - c->path + 1) : 0, c->path, q);
	warn("%s: %s, and it cannot be put back: it is now %s", c->path, why,
	    qpath);
	say(c, UNKNOWN, "%s, left as %s", why, qpath);
	status = EX_CANTCREAT;
	return "failed";
}

/*
 * Quarantine: rename to a unique name (never over anything), look again
 * (same inode, still unheld, opened by no one), then unlink. If anything
 * changed, rename it back and call it unknown.
 */
static const char *
remove_stale(struct cand *c)
{
	char q[64], sfx[7];
	struct stat st;
	struct cs_openset again;
	bool busy;
	int i, fd, err;

	for (i = 0; i < 6; i++)
		sfx[i] = "abcdefghijklmnopqrstuvwxyz"[arc4random_uniform(26)];
	sfx[6] = '\0';
	snprintf(q, sizeof(q), ".staleclean-%d-%s", (int)getpid(), sfx);
	if (rename_noreplace(c->dirfd, c->name, q, true,
	    S_ISDIR(c->st.st_mode)) == -1) {
		if (errno == ENOENT) {
			say(c, UNKNOWN, "gone meanwhile");
			return "none";
		}
		warn("%s", c->path);
		status = cs_exit_for_errno(errno, EX_CANTCREAT);
		return "failed";
	}
	busy = fstatat(c->dirfd, q, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_ino != c->st.st_ino || st.st_dev != c->st.st_dev;
	if (!busy && c->fd != -1) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

		busy = fcntl(c->fd, F_OFD_GETLK, &fl) == -1 ||
		    fl.l_type != F_UNLCK;
	}
	if (!busy && !S_ISLNK(c->st.st_mode)) {
		if (cs_open_files_scan(&again) == -1)
			busy = true;
		else {
			busy = cs_open_files_has(&again, st.st_dev, st.st_ino);
			cs_open_files_free(&again);
		}
	}
	if (busy) {
back:
		return put_back(c, q, "changed during removal");
	}
	if (S_ISDIR(c->st.st_mode)) {
		/* Still nothing in it but (at most) the pid file we judged? */
		DIR *d;
		struct dirent *e;
		int other = 0;

		fd = openat(c->dirfd, q, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd == -1 || (d = fdopendir(fd)) == NULL) {
			if (fd != -1)
				close(fd);
			goto back;
		}
		while ((e = readdir(d)) != NULL)
			other += strcmp(e->d_name, ".") && strcmp(e->d_name, "..")
			    && strcmp(e->d_name, "pid");
		if (other > 0) {
			closedir(d);
			goto back;
		}
		unlinkat(dirfd(d), "pid", 0);
		closedir(d);
		if (unlinkat(c->dirfd, q, AT_REMOVEDIR) == -1)
			goto fail;
	} else if (unlinkat(c->dirfd, q, 0) == -1)
		goto fail;
	return "removed";
fail:
	warn("%s", c->path);
	err = errno;
	(void)put_back(c, q, "not removed");
	status = cs_exit_for_errno(err, EX_CANTCREAT);
	return "failed";
}

static void
report(struct cand *c, const char *action)
{
	if (opt.json) {
		printf("{\"path\":");
		cs_put_json_string(stdout, c->path, strlen(c->path));
		/* \u00e9 stands for the byte 0xe9 and for the letter é
		 * alike: the bytes themselves, so that two names never look
		 * the same. */
		if (!cs_utf8_valid(c->path, strlen(c->path))) {
			printf(",\"path_hex\":\"");
			cs_put_hex(stdout, c->path, strlen(c->path));
			putchar('"');
		}
		printf(",\"kind\":\"%s\",\"verdict\":\"%s\",\"reason\":",
		    c->kind, verdicts[c->verdict]);
		cs_put_json_string(stdout, c->reason, strlen(c->reason));
		if (c->pid != 0)
			printf(",\"pid\":%d", (int)c->pid);
		else
			printf(",\"pid\":null");
		printf(",\"host\":");
		if (c->host[0] != '\0')
			cs_put_json_string(stdout, c->host, strlen(c->host));
		else
			printf("null");
		printf(",\"age_s\":%.3f,\"action\":\"%s\"}\n",
		    (double)age_of(&c->st) / CS_SEC, action);
		return;
	}
	if (cs_verbosity > 0)
		printf("%s: %s (%s)%s%s\n", c->path, verdicts[c->verdict],
		    c->reason, strcmp(action, "none") ? ", " : "",
		    strcmp(action, "none") ? action : "");
}

/* Judge one candidate, named name in dirfd, and act on the verdict. */
static void
judge(int dirfd, const char *name, const char *path, const struct stat *st)
{
	struct cand c = { .path = path, .dirfd = dirfd, .name = name,
	    .st = *st, .kind = "file", .fd = -1 };
	const char *action = "none";
	pid_t opid = 0;
	bool orphan = S_ISREG(st->st_mode) && orphan_pid(name, &opid);

	if (opt.orphans && !orphan)
		return;
	/* An orphan temp's age is its ctime: atomicwrite -b's backup link
	 * keeps the old file's mtime while its writer is still at work. */
	if ((orphan ? age_since(&st->st_ctim) : age_of(st)) < opt.min_age)
		say(&c, UNKNOWN, "younger than min-age");
	else if (S_ISLNK(st->st_mode))
		judge_symlink(&c);
	else if (S_ISDIR(st->st_mode))
		judge_dir(&c);
	else if (S_ISREG(st->st_mode))
		judge_file(&c, orphan, opid);
	else
		say(&c, UNKNOWN, "not a regular file, directory or symlink");
	if (c.verdict == STALE) {
		nstale++;
		if (opt.dry_run)
			action = "would remove";
		else {
			sigset_t mask;

			/* Not to be left half way, in quarantine. */
			cs_signals_block(&mask);
			action = remove_stale(&c);
			cs_signals_restore(&mask);
		}
	}
	report(&c, action);
	if (c.fd != -1)
		close(c.fd);	/* and with it our flock */
}

static bool
matches(const char *name)
{
	int i;

	for (i = 0; i < opt.npatterns; i++)
		if (fnmatch(opt.patterns[i], name, 0) == 0)
			return true;
	return false;
}

/* ---- walking ---- */

struct frame {
	int	 fd;
	DIR	*dir;
	char	*path;
	int	 depth;
};

/* Scan a directory's entries: iterative, one filesystem, depth-capped,
 * never following a symlink. */
static void
scan(const char *root, int rootfd, dev_t dev)
{
	struct frame stack[MAX_DEPTH + 1];
	struct dirent *e;
	struct stat st;
	char *path;
	int top = 0, fd;

	if ((stack[0].dir = fdopendir(rootfd)) == NULL) {
		warn("%s", root);
		close(rootfd);
		status = EX_NOINPUT;
		return;
	}
	stack[0].fd = rootfd;
	stack[0].path = strdup(root);
	stack[0].depth = 0;
	while (top >= 0) {
		struct frame *f = &stack[top];

		if ((e = readdir(f->dir)) == NULL) {
			closedir(f->dir);
			free(f->path);
			top--;
			continue;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    strncmp(e->d_name, ".staleclean-", 12) == 0)
			continue;
		if (fstatat(f->fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;	/* gone meanwhile */
		if (asprintf(&path, "%s/%s", f->path, e->d_name) == -1)
			err(EX_OSERR, NULL);
		if (matches(e->d_name)) {
			judge(f->fd, e->d_name, path, &st);
			free(path);
			continue;
		}
		if (opt.recursive && S_ISDIR(st.st_mode) && st.st_dev == dev &&
		    top < MAX_DEPTH) {
			fd = openat(f->fd, e->d_name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (fd != -1 && (stack[top + 1].dir = fdopendir(fd))) {
				top++;
				stack[top].fd = fd;
				stack[top].path = path;
				stack[top].depth = top;
				continue;
			}
			if (fd != -1)
				close(fd);
		}
		free(path);
	}
}

static void
operand(const char *path)
{
	struct stat st, target;
	char *dir, *base;
	int dirfd, fd, nofollow, r;

	if (lstat(path, &st) == -1) {
		warn("%s", path);
		status = cs_exit_for_errno(errno, EX_NOINPUT);
		return;
	}
	/* Where locks stay on each client, "unheld" proves nothing: a lock
	 * held through another mount is invisible here. */
	if ((r = cs_locks_exclude(path, path)) != 0) {
		status = r;
		return;
	}
	if (cs_split_path(path, &dir, &base) == -1) {
		/* "dir/": a directory to scan */
		dir = NULL;
		base = NULL;
	}
	/*
	 * A symlink given as an operand to a directory is followed, as
	 * find -H does (on Debian /var/lock -> /run/lock); nothing below
	 * it ever is. The kernel follows it, fs.protected_symlinks and all.
	 */
	nofollow = O_NOFOLLOW;
	if (S_ISLNK(st.st_mode) && (base == NULL || !matches(base)) &&
	    stat(path, &target) == 0 && S_ISDIR(target.st_mode)) {
		st = target;
		nofollow = 0;
	}
	if (S_ISDIR(st.st_mode) && (base == NULL || !matches(base))) {
		fd = open(path, O_RDONLY | O_DIRECTORY | nofollow | O_CLOEXEC);
		if (fd == -1) {
			warn("%s", path);
			status = cs_exit_for_errno(errno, EX_NOINPUT);
		} else
			scan(path, fd, st.st_dev);
	} else if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
	    == -1) {
		warn("%s", dir);
		status = cs_exit_for_errno(errno, EX_NOINPUT);
	} else {
		judge(dirfd, base, path, &st);
		close(dirfd);
	}
	free(dir);
	free(base);
}

int
main(int argc, char *argv[])
{
	int i;

	parse_options(argc, argv);
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		warnx("missing path operand");
		usage(EX_USAGE);
	}
	cs_tool_init();
	for (i = 0; i < argc; i++)
		operand(argv[i]);
	cs_open_files_free(&opened);
	ecs_close_stdout();
	if (status != 0)
		return status;
	return opt.check && nstale > 0 ? CS_EX_FALSE : 0;
}
