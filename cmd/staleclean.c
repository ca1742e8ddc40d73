/* SPDX-License-Identifier: ISC */
/*
 * staleclean - remove locks, pid files and temp files whose owner is
 * provably gone; never a live one. Every candidate gets a verdict (stale,
 * live, unknown) and a reason; only stale ones are removed, through a
 * quarantine rename and a second look. When in doubt, do nothing.
 */
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crashsafe.h"
#include "staleclean.h"

#define MAX_DEPTH	64

enum verdict { STALE, LIVE, UNKNOWN };
static const char *const verdicts[] = { "stale", "live", "unknown" };
/* What was done with a candidate, as -v and --json say it. */
enum action { NONE, WOULD_REMOVE, REMOVED, FAILED };
static const char *const actions[] = {
	[NONE] = "none", [WOULD_REMOVE] = "would remove",
	[REMOVED] = "removed", [FAILED] = "failed",
};

/*
 * A directory's next entries, looked at together on every core
 * (cs_par_for): each one's statx, then the first bytes of each lock file
 * whose content the pid rules will read. They are judged one by one
 * afterwards, in the order they were read, as if looked at then.
 */
#define BATCH		256	/* up to 4 deep: 330 KiB each */
#define BATCH_DEEP	16	/* below: 21 KiB each, 1.3 MiB at MAX_DEPTH */

struct look {
	char		*name;
	bool		 match;		/* a candidate; else a directory (-r) */
	int		 err;		/* statx's errno, or 0 */
	struct stat	 st;
	uint64_t	 mnt;
	bool		 ahead;		/* content read ahead: */
	int		 open_err;	/* open's errno; -1: not what statx saw */
	ssize_t		 n;		/* what pread returned */
	char		 buf[1024];
};

struct batch {
	int		 dirfd;
	size_t		 n, next, cap;
	struct look	 look[];
};

/* What we know of one candidate. */
struct cand {
	const char	*path;		/* for messages */
	int		 dirfd;
	const char	*name;
	struct stat	 st;
	struct cs_fileid key;		/* superblock device and inode */
	const char	*kind;
	enum verdict	 verdict;
	char		 reason[160];
	pid_t		 pid;
	char		 host[256];
	int		 fd;		/* open regular file, flock held if ours */
	bool		 dev_unsure;	/* key.dev not from our mount table */
	const struct look *look;	/* read ahead, or NULL */
};

/* A directory whose entries wait for removal: its fd outlives the walk's. */
struct dirref {
	int		 fd;
	unsigned	 refs;
};

/*
 * A stale candidate waiting for removal. They are removed together: all
 * are quarantined, each under its flock, /proc is scanned once more for
 * them all, then each is unlinked. One scan per run, not per removal.
 */
struct pending {
	char		*path, *name, *reason, *host;
	const char	*kind;
	struct dirref	*dir;
	struct stat	 st;		/* as judged */
	struct cs_fileid key;
	pid_t		 pid;
	int		 fd;
	bool		 quarantined;
	/* An orphan temp where /proc/locks lists every lock: removed
	 * without opening it (see quarantine()). */
	bool		 unopened;
	char		 q[48];		/* its quarantine name */
};

static struct cs_fileset opened, locked;	/* read once per run */
static bool locks_read, opens_read;
/* Ask F_OFD_GETLK for every regular file: outside the initial pid
 * namespace (/proc/locks shows only its own), and on NFS or CIFS, whose
 * locks of other clients only the server knows. */
static bool ask_getlk;
/* Where /proc/locks may miss a lock even so (a filesystem not known to
 * keep its locks in the kernel's lists alone), also ask it of a lock file
 * opened to be read. Elsewhere /proc/locks, read once, has answered, and
 * a lock taken since is for the removal's own F_OFD_GETLK to find: in
 * quarantine() and again in finish(), before anything is unlinked. */
static bool getlk_judging;
static pid_t me;
static struct pending *pend;
static size_t npend, nopen, cappend, ndirrefs, fd_budget;
static int status;
static unsigned long nstale;

struct frame;
static void	say(struct cand *c, enum verdict v, const char *fmt, ...);
static cs_nsec	age_since(const struct timespec *t);
static cs_nsec	age_of(const struct stat *st);
static void	look_locks(void);
static void	look_opens(void);
static bool	goes_unopened(const struct cand *c);
static int	open_judged(int dirfd, const char *name,
		    const struct stat *st);
static const char *	by_pid(pid_t pid, char *buf, size_t len);
static const char *	holder_cmd(const struct cand *c,
	    const struct cs_fileid *f);
static bool	in_use(struct cand *c);
static bool	posix_locked(struct cand *c);
static void	judge_pid(struct cand *c, const struct cs_owner *o);
static bool	in_git_dir(const char *path);
static void	judge_symlink(struct cand *c);
static void	judge_dir(struct cand *c);
static void	judge_file(struct cand *c, bool orphan, pid_t opid);
static int	rename_noreplace(int dirfd, const char *from, const char *to,
	    bool to_fresh, bool isdir);
static enum action	put_back(struct cand *c, const char *q,
	    const char *why);
static void	report(struct cand *c, enum action action);
static struct dirref *	dirref_hold(int dirfd, struct dirref **slot);
static void	dirref_put(struct dirref *d);
static void	cand_of(struct pending *p, struct cand *c);
static bool	rewritten(const struct stat *now, const struct stat *then);
static bool	unchanged(const struct stat *now, const struct stat *then);
static bool	quarantine(struct pending *p);
static int	remove_lock_dir(int parent, const char *q);
static void	finish(struct pending *p, const struct cs_fileset *again,
		    const struct cs_fileset *relocked);
static void	remove_pending(void);
static void	defer(struct cand *c, struct dirref **slot);
static pid_t	quarantine_pid(const char *name);
static int	cmp_ino(const void *a, const void *b);
static void	busy_index(void);
static void	look(size_t i, void *batch);
static bool	read_ahead(const char *name, bool git);
static size_t	fill(struct batch *b, DIR *dir, const char *path);
static void	batch_clear(struct batch *b);
static void	judge(int dirfd, struct dirref **slot, const char *name,
	    const char *path, const struct stat *st, uint64_t mnt_id,
	    const struct look *look);
static bool	matches(const char *name);
static int	stat_entry(int dirfd, const char *name, int flags,
	    struct stat *st, uint64_t *mnt_id);
static void	scan(const char *root, int rootfd);
static void	operand(const char *path);
static void	set_fd_budget(void);

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

/* Who has what locked, and who has what open: each read once per run,
 * from /proc alone, when first needed. */
static void
look_locks(void)
{
	if (!locks_read && cs_locked_files_scan(&locked) == -1)
		err(EX_OSERR, "/proc/locks");
	locks_read = true;
}

static void
look_opens(void)
{
	if (!opens_read && cs_open_files_scan(&opened) == -1)
		err(EX_OSERR, "/proc");
	opens_read = true;
}

/*
 * An orphan temp where /proc/locks lists every lock is removed without
 * being opened (see quarantine()). Who has it open is asked at judging,
 * as of any candidate: the pid in its name may be another pid
 * namespace's, and a writer still at work renames it to its target, which
 * it could not do with its temp in quarantine.
 */
static bool
goes_unopened(const struct cand *c)
{
	return strcmp(c->kind, "orphan-temp") == 0 && !ask_getlk &&
	    !getlk_judging && !c->dev_unsure;
}

static const char *
by_pid(pid_t pid, char *buf, size_t len)
{
	if (pid > 0)
		snprintf(buf, len, " by pid %d", (int)pid);
	else
		buf[0] = '\0';
	return buf;
}

/*
 * Open name in dirfd to read it, as judged: never following a link, never
 * waiting on a FIFO, and only if what opened is the regular file st
 * describes. The fd; -1 with errno when it cannot be opened; -2 when the
 * name is another file now (closed again).
 */
static int
open_judged(int dirfd, const char *name, const struct stat *st)
{
	struct stat now;
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &now) == -1 || now.st_ino != st->st_ino ||
	    now.st_dev != st->st_dev || !S_ISREG(now.st_mode)) {
		close(fd);
		return -2;
	}
	return fd;
}

/*
 * " (CMD)" when a flock-held file is one of the suite's lock files (withlock,
 * atomicwrite -l) and its metadata names the pid the kernel says holds
 * it: what the holder runs, for the reason. Only a plain flock: opening
 * a file with a lease would break it.
 */
static const char *
holder_cmd(const struct cand *c, const struct cs_fileid *f)
{
	static char text[72];
	struct cs_owner o;
	int fd;

	text[0] = '\0';
	if (f->what != CS_FLOCK || f->pid <= 0 || !S_ISREG(c->st.st_mode) ||
	    c->st.st_size == 0 ||
	    (fd = open_judged(c->dirfd, c->name, &c->st)) < 0)
		return text;
	if (cs_owner_agrees(fd, f->pid, &o) && o.cmd[0] != '\0')
		snprintf(text, sizeof(text), " (%.60s%s)", o.cmd,
		    strlen(o.cmd) > 60 ? "..." : "");
	close(fd);
	return text;
}

/*
 * Locked or open by anyone, whatever the file says: live. Read without
 * taking the lock, so that no other program's flock -n fails because we
 * looked, and without opening the file (an open would break a lease).
 */
static bool
in_use(struct cand *c)
{
	const struct cs_fileid *f;
	char who[32];

	look_locks();
	if ((f = cs_fileset_find(&locked, c->key.dev, c->key.ino)) != NULL) {
		c->pid = f->pid > 0 ? f->pid : 0;
		say(c, LIVE, "%s held%s%s", f->what & CS_FLOCK ? "flock" :
		    f->what & CS_POSIX ? "fcntl lock" : "lease",
		    by_pid(f->pid, who, sizeof(who)), holder_cmd(c, f));
		return true;
	}
	look_opens();
	if ((f = cs_fileset_find(&opened, c->key.dev, c->key.ino)) != NULL) {
		say(c, LIVE, "open in a process (pid %d)", (int)f->pid);
		return true;
	}
	return false;
}

/* /proc/locks lists only its pid namespace's locks: F_OFD_GETLK on the
 * open c->fd, which takes nothing either, sees every POSIX and OFD lock
 * (and, on NFS, those of other clients). */
static bool
posix_locked(struct cand *c)
{
	char who[32];
	pid_t pid;
	int r;

	if ((r = cs_posix_lock_held(c->fd, &pid)) == 0)
		return false;
	if (r == -1)
		say(c, UNKNOWN, "cannot probe its locks: %s", strerror(errno));
	else
		say(c, LIVE, "fcntl lock held%s", by_pid(pid, who, sizeof(who)));
	return true;
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
	if (cs_proc_zombie(o->pid, state)) {
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
	struct stat pst;
	char buf[512];
	ssize_t n;
	int fd, dfd;
	DIR *d;
	struct dirent *e;
	int entries = 0;

	c->kind = "lock-dir";
	memset(&pst, 0, sizeof(pst));
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
	/* Looked at before it is opened: a FIFO or device named pid is
	 * never opened (a writer blocked on a FIFO would be let through). */
	if (fstatat(dirfd(d), "pid", &pst, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(pst.st_mode)) {
		closedir(d);
		say(c, UNKNOWN, "its pid is not a regular file");
		return;
	}
	fd = openat(dirfd(d), "pid", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd != -1) {
		struct stat now;

		n = fstat(fd, &now) == 0 && S_ISREG(now.st_mode) &&
		    now.st_ino == pst.st_ino && now.st_dev == pst.st_dev ?
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
	struct cs_owner o;
	const struct look *ahead;
	char buf[1024];
	ssize_t n;
	bool git = !orphan && (strcmp(c->name, "gc.pid") == 0 ||
	    (in_git_dir(c->path) && fnmatch("*.lock", c->name, 0) == 0));
	/*
	 * Opened to read what it says, or to ask F_OFD_GETLK about the POSIX
	 * locks /proc/locks does not list. An empty file, a temp file named
	 * after its writer and a git lock say nothing worth a read.
	 */
	bool reads = !(orphan || git || c->st.st_size == 0) || ask_getlk;

	c->kind = orphan ? "orphan-temp" : git ? "git-lock" : "lock-file";
	if (in_use(c))
		return;
	/* Read ahead by scan() (never where F_OFD_GETLK is to be asked)? */
	ahead = reads && !c->dev_unsure && c->look != NULL && c->look->ahead ?
	    c->look : NULL;
	if (ahead != NULL) {
		if (ahead->open_err > 0) {
			say(c, UNKNOWN, "cannot open: %s",
			    strerror(ahead->open_err));
			return;
		}
		if (ahead->open_err < 0) {
			say(c, UNKNOWN, "changed while looked at");
			return;
		}
	} else if (reads) {
		if ((c->fd = open_judged(c->dirfd, c->name, &c->st)) == -1) {
			say(c, UNKNOWN, "cannot open: %s", strerror(errno));
			return;
		}
		if (c->fd == -2) {
			c->fd = -1;
			say(c, UNKNOWN, "changed while looked at");
			return;
		}
		if ((ask_getlk || getlk_judging || c->dev_unsure) &&
		    posix_locked(c))
			return;
	}
	if (orphan) {
		memset(&o, 0, sizeof(o));
		o.pid = opid;
		judge_pid(c, &o);
		return;
	}
	if (git) {
		if (age_of(&c->st) > opt.max_age)
			say(c, STALE, "git lock, unheld, older than max-age");
		else
			say(c, UNKNOWN, "git lock, younger than max-age");
		return;
	}
	if (ahead != NULL) {
		n = ahead->n;
		memcpy(buf, ahead->buf, n > 0 ? (size_t)n : 0);
	} else
		n = c->fd != -1 ? pread(c->fd, buf, sizeof(buf) - 1, 0) : 0;
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
static enum action
put_back(struct cand *c, const char *q, const char *why)
{
	char qpath[PATH_MAX];
	const char *slash = strrchr(c->path, '/');

	if (rename_noreplace(c->dirfd, q, c->name, false,
	    S_ISDIR(c->st.st_mode)) == 0) {
		say(c, UNKNOWN, "%s, put back", why);
		return NONE;
	}
	snprintf(qpath, sizeof(qpath), "%.*s%s",
	    slash != NULL ? (int)(slash - c->path + 1) : 0, c->path, q);
	warn("%s: %s, and it cannot be put back: it is now %s", c->path, why,
	    qpath);
	say(c, UNKNOWN, "%s, left as %s", why, qpath);
	status = EX_CANTCREAT;
	return FAILED;
}

static void
report(struct cand *c, enum action action)
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
		    (double)age_of(&c->st) / CS_SEC, actions[action]);
		return;
	}
	if (cs_verbosity > 0)
		printf("%s: %s (%s)%s%s\n", c->path, verdicts[c->verdict],
		    c->reason, action != NONE ? ", " : "",
		    action != NONE ? actions[action] : "");
}

static struct dirref *
dirref_hold(int dirfd, struct dirref **slot)
{
	if (*slot == NULL) {
		if ((*slot = malloc(sizeof(**slot))) == NULL)
			err(EX_OSERR, NULL);
		if (((*slot)->fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) == -1)
			err(EX_OSERR, "dup");
		(*slot)->refs = 1;	/* the walk's */
		ndirrefs++;
	}
	(*slot)->refs++;
	return *slot;
}

static void
dirref_put(struct dirref *d)
{
	if (d != NULL && --d->refs == 0) {
		close(d->fd);
		free(d);
		ndirrefs--;
	}
}

/* The candidate a pending removal was judged as. */
static void
cand_of(struct pending *p, struct cand *c)
{
	memset(c, 0, sizeof(*c));
	c->path = p->path;
	c->dirfd = p->dir->fd;
	c->name = p->name;
	c->st = p->st;
	c->key = p->key;
	c->kind = p->kind;
	c->verdict = STALE;
	strlcpy(c->reason, p->reason, sizeof(c->reason));
	c->pid = p->pid;
	strlcpy(c->host, p->host, sizeof(c->host));
	c->fd = p->fd;
}

/* Has its content changed (a pid file rewritten in place by a new owner:
 * a new size or mtime)? */
static bool
rewritten(const struct stat *now, const struct stat *then)
{
	return now->st_size != then->st_size ||
	    now->st_mtim.tv_sec != then->st_mtim.tv_sec ||
	    now->st_mtim.tv_nsec != then->st_mtim.tv_nsec;
}

/* Is what the name shows now what we judged: the same file, content and
 * inode (a link made or removed changes the ctime)? */
static bool
unchanged(const struct stat *now, const struct stat *then)
{
	return now->st_dev == then->st_dev && now->st_ino == then->st_ino &&
	    (now->st_mode & S_IFMT) == (then->st_mode & S_IFMT) &&
	    !rewritten(now, then) &&
	    now->st_ctim.tv_sec == then->st_ctim.tv_sec &&
	    now->st_ctim.tv_nsec == then->st_ctim.tv_nsec;
}

/*
 * Move a stale candidate into quarantine: take its flock (held until it
 * is unlinked or put back), make sure nothing changed since it was
 * judged, and rename it to a unique name, never over anything. False
 * (and reported) when it stays where it is.
 *
 * An orphan temp is no one's lock: there is no flock of ours to hold
 * while it goes. Where /proc/locks lists every lock, it is not opened at
 * all: once renamed, no one can open it by its name, and the second look
 * reads /proc/locks again beside the /proc fd scan. (An open, a flock and
 * F_OFD_GETLK for each made removal half again as slow.)
 */
static bool
quarantine(struct pending *p)
{
	struct cand c;
	struct stat now;
	char sfx[7];
	pid_t pid;
	int r, tries;

	cand_of(p, &c);
	/* (an unopened one is looked at once, under its quarantine name,
	 * in finish(): its name is its writer's alone, so what is renamed
	 * is what was judged, or is put back) */
	now = p->st;
	if (p->unopened)
		r = 0;
	else if (S_ISREG(p->st.st_mode)) {
		c.fd = openat(c.dirfd, c.name, O_RDONLY | O_NOFOLLOW |
		    O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		r = c.fd == -1 ? -1 : fstat(c.fd, &now);
	} else
		r = fstatat(c.dirfd, c.name, &now, AT_SYMLINK_NOFOLLOW);
	if (r == -1 && errno == ENOENT)
		say(&c, UNKNOWN, "gone meanwhile");
	else if (r == -1 && (errno == EMFILE || errno == ENFILE ||
	    errno == ENOMEM)) {
		warn("%s", c.path);	/* our failure, not the file's */
		status = EX_OSERR;
		report(&c, FAILED);
		return false;
	} else if (r == -1)
		say(&c, UNKNOWN, "cannot open: %s", strerror(errno));
	else if (!unchanged(&now, &p->st))
		say(&c, UNKNOWN, "changed since it was judged");
	else if (c.fd != -1 && flock(c.fd, LOCK_EX | LOCK_NB) == -1)
		say(&c, LIVE, "flock held (found when removing)");
	else if (c.fd != -1 && (r = cs_posix_lock_held(c.fd, &pid)) != 0)
		say(&c, r == 1 ? LIVE : UNKNOWN, "fcntl lock held (found when "
		    "removing)");
	if (c.verdict != STALE)
		goto keep;
	/* A unique name: six random letters, drawn again on a collision. */
	for (tries = 0; tries < 100; tries++) {
		cs_random_suffix(sfx, "abcdefghijklmnopqrstuvwxyz");
		snprintf(p->q, sizeof(p->q), ".staleclean-%d-%s",
		    (int)me, sfx);
		if ((r = rename_noreplace(c.dirfd, c.name, p->q, true,
		    S_ISDIR(p->st.st_mode))) == 0 || errno != EEXIST)
			break;
	}
	if (r == -1) {
		if (errno == ENOENT) {
			say(&c, UNKNOWN, "gone meanwhile");
			goto keep;
		}
		warn("%s", c.path);
		status = cs_exit_for_errno(errno, EX_CANTCREAT);
		report(&c, FAILED);
		goto close;
	}
	/* Renamed what we judged, not a newcomer that took the name? (An
	 * unopened one is looked at under this name in finish(), after the
	 * second /proc scan: once is enough.) */
	if (!p->unopened && (fstatat(c.dirfd, p->q, &now, AT_SYMLINK_NOFOLLOW)
	    == -1 ||
	    now.st_ino != p->st.st_ino || now.st_dev != p->st.st_dev)) {
		report(&c, put_back(&c, p->q, "changed during removal"));
		goto close;
	}
	p->fd = c.fd;
	p->quarantined = true;
	return true;
keep:
	report(&c, NONE);
close:
	if (c.fd != -1)
		close(c.fd);
	return false;
}

/* An empty lock directory, or one with only its pid file: removed. */
static int
remove_lock_dir(int parent, const char *q)
{
	struct dirent *e;
	DIR *d;
	int fd, other = 0;

	fd = openat(parent, q, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return 1;
	}
	while ((e = readdir(d)) != NULL)
		other += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "pid");
	if (other > 0) {
		closedir(d);
		return 1;		/* something new in it: keep */
	}
	(void)unlinkat(dirfd(d), "pid", 0);
	closedir(d);
	return unlinkat(parent, q, AT_REMOVEDIR);
}

/*
 * The second look, after the rescan: still unheld and opened by no one
 * else, then unlinked; if anything changed, put back and called unknown.
 */
static void
finish(struct pending *p, const struct cs_fileset *again,
    const struct cs_fileset *relocked)
{
	const struct cs_fileid *f;
	struct cand c;
	struct stat now;
	enum action action = REMOVED;
	char why[64];
	pid_t pid;
	int r, e;

	cand_of(p, &c);
	/* Rewritten in place meanwhile (a new daemon's pid)? The rename
	 * changed the ctime; the size and mtime are the file's own. */
	if (c.fd != -1 && (fstat(c.fd, &now) == -1 ||
	    rewritten(&now, &p->st))) {
		action = put_back(&c, p->q, "rewritten during removal");
		goto done;
	}
	/* Not opened: its quarantine name must still show it as judged
	 * (but for the ctime its rename changed: the link count instead),
	 * and /proc/locks, read again, no lock on it. */
	if (p->unopened && (fstatat(c.dirfd, p->q, &now,
	    AT_SYMLINK_NOFOLLOW) == -1 || now.st_ino != p->st.st_ino ||
	    now.st_dev != p->st.st_dev || now.st_nlink != p->st.st_nlink ||
	    (now.st_mode & S_IFMT) != (p->st.st_mode & S_IFMT) ||
	    rewritten(&now, &p->st))) {
		action = put_back(&c, p->q, "changed during removal");
		goto done;
	}
	if (p->unopened && (relocked == NULL ||
	    cs_fileset_find(relocked, c.key.dev, c.key.ino) != NULL)) {
		action = put_back(&c, p->q, "changed during removal");
		goto done;
	}
	/* Unopened, and opened by someone since it was judged? */
	if (p->unopened && again != NULL &&
	    (f = cs_fileset_find(again, c.key.dev, c.key.ino)) != NULL) {
		snprintf(why, sizeof(why), "open in a process (pid %d)",
		    (int)f->pid);
		action = put_back(&c, p->q, why);
		goto done;
	}
	if (again == NULL || (c.fd != -1 && cs_posix_lock_held(c.fd, &pid)) ||
	    (!S_ISLNK(c.st.st_mode) &&
	    cs_fileset_find(again, c.key.dev, c.key.ino) != NULL)) {
		action = put_back(&c, p->q, "changed during removal");
		goto done;
	}
	r = S_ISDIR(c.st.st_mode) ? remove_lock_dir(c.dirfd, p->q) :
	    unlinkat(c.dirfd, p->q, 0);
	if (r == 1)
		action = put_back(&c, p->q, "changed during removal");
	else if (r == -1) {
		e = errno;
		warn("%s", c.path);
		(void)put_back(&c, p->q, "not removed");
		status = cs_exit_for_errno(e, EX_CANTCREAT);
		action = FAILED;
	}
done:
	report(&c, action);
	if (c.fd != -1)
		close(c.fd);	/* and with it our flock */
}

/* Remove every pending candidate: quarantine all, scan /proc once, unlink. */
static void
remove_pending(void)
{
	struct cs_fileset again = { 0 }, relocked = { 0 };
	const struct cs_fileset *seen = &again, *locks = &relocked;
	sigset_t all, mask;
	size_t i;
	bool rescan = false, relock = false;

	if (npend == 0)
		return;
	/* Not to be left half way, in quarantine: no signal but SIGKILL
	 * ends us here (a SIGUSR1 would, by default). */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &mask);
	for (i = 0; i < npend; i++)
		if (quarantine(&pend[i]) && !S_ISLNK(pend[i].st.st_mode)) {
			rescan = true;
			relock |= pend[i].unopened;
		}
	if (rescan && cs_open_files_scan(&again) == -1) {
		warn("/proc");
		seen = NULL;		/* cannot tell: put everything back */
	}
	if (relock && cs_locked_files_scan(&relocked) == -1) {
		warn("/proc/locks");
		locks = NULL;
	}
	for (i = 0; i < npend; i++) {
		if (pend[i].quarantined)
			finish(&pend[i], seen, locks);
		dirref_put(pend[i].dir);
		free(pend[i].path);
		free(pend[i].name);
		free(pend[i].reason);
		free(pend[i].host);
	}
	cs_fileset_free(&again);
	cs_fileset_free(&relocked);
	npend = nopen = 0;
	sigprocmask(SIG_SETMASK, &mask, NULL);
}

/* Queue a stale candidate for removal; its report comes with it. */
static void
defer(struct cand *c, struct dirref **slot)
{
	struct pending *p;

	/* Each waits with its directory's fd, and most take one more to
	 * be removed. */
	if (nopen + ndirrefs + 2 > fd_budget)
		remove_pending();
	if (npend == cappend) {
		size_t cap = cappend ? cappend * 2 : 256;
		struct pending *v;

		if ((v = reallocarray(pend, cap, sizeof(*v))) == NULL)
			err(EX_OSERR, NULL);
		pend = v;
		cappend = cap;
	}
	p = &pend[npend];
	memset(p, 0, sizeof(*p));
	if ((p->path = strdup(c->path)) == NULL ||
	    (p->name = strdup(c->name)) == NULL ||
	    (p->reason = strdup(c->reason)) == NULL ||
	    (p->host = strdup(c->host)) == NULL)
		err(EX_OSERR, NULL);
	p->kind = c->kind;
	p->dir = dirref_hold(c->dirfd, slot);
	p->st = c->st;
	p->key = c->key;
	p->pid = c->pid;
	p->fd = -1;
	p->unopened = goes_unopened(c);
	nopen += !p->unopened;
	npend++;
}

/* .staleclean-PID-xxxxxx left by a staleclean that is gone: PID, else 0. */
static pid_t
quarantine_pid(const char *name)
{
	const char *dash;
	long long n;
	char *end;

	if (strncmp(name, ".staleclean-", 12) != 0 ||
	    (dash = strrchr(name, '-')) == NULL || dash < name + 13)
		return 0;
	n = strtoll(name + 12, &end, 10);
	if (end != dash || n <= 1 || n > INT_MAX || (pid_t)n == me ||
	    kill((pid_t)n, 0) == 0 || errno == EPERM)
		return 0;
	return (pid_t)n;
}

/*
 * Judge one candidate, named name in dirfd (its mount mnt_id), and act on
 * the verdict: a stale one waits for removal with the others, holding its
 * directory through *slot.
 */
static void
judge(int dirfd, struct dirref **slot, const char *name, const char *path,
    const struct stat *st, uint64_t mnt_id, const struct look *look)
{
	struct cand c = { .path = path, .dirfd = dirfd, .name = name,
	    .st = *st, .kind = "file", .fd = -1, .look = look };
	pid_t opid = 0, qpid = quarantine_pid(name);
	bool orphan = S_ISREG(st->st_mode) && cs_temp_name_pid(name, &opid);

	if (opt.orphans && !orphan && qpid == 0)
		return;
	/* On a mount our table does not list, /proc/locks may name another
	 * device than st_dev (a btrfs subvolume's): ask F_OFD_GETLK too. */
	c.key.dev = cs_mount_dev(mnt_id, CS_ANY_DEV);
	if ((c.dev_unsure = c.key.dev == CS_ANY_DEV))
		c.key.dev = st->st_dev;
	c.key.ino = st->st_ino;
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
	if (c.fd != -1)
		close(c.fd);
	c.fd = -1;
	/* A leftover that is not stale cannot go back: its name is lost. */
	if (qpid != 0 && c.verdict != STALE) {
		warnx("%s: left in quarantine by staleclean pid %d, which is "
		    "gone: its name before is unknown (%s)", path, (int)qpid,
		    c.reason);
		status = EX_CANTCREAT;
	}
	if (c.verdict != STALE)
		report(&c, NONE);
	else if (nstale++, opt.dry_run)
		report(&c, WOULD_REMOVE);
	else
		defer(&c, slot);
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

/* lstat, with the mount id (0 where the kernel gives none). */
static int
stat_entry(int dirfd, const char *name, int flags, struct stat *st,
    uint64_t *mnt_id)
{
	struct statx sx;

	if (statx(dirfd, name, flags | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
	    STATX_BASIC_STATS | STATX_MNT_ID, &sx) == -1)
		return -1;
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	st->st_ino = sx.stx_ino;
	st->st_mode = sx.stx_mode;
	st->st_nlink = sx.stx_nlink;
	st->st_uid = sx.stx_uid;
	st->st_gid = sx.stx_gid;
	st->st_size = (off_t)sx.stx_size;
	st->st_mtim.tv_sec = sx.stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = sx.stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = sx.stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = sx.stx_ctime.tv_nsec;
	st->st_atim.tv_sec = sx.stx_atime.tv_sec;
	st->st_atim.tv_nsec = sx.stx_atime.tv_nsec;
	*mnt_id = sx.stx_mask & STATX_MNT_ID ? sx.stx_mnt_id : 0;
	return 0;
}

struct frame {
	DIR		*dir;
	char		*path;
	struct dirref	*ref;		/* once an entry waits for removal */
	struct batch	*b;		/* its entries read, not yet judged */
};

/*
 * Inode numbers that anyone has open or locked, on any device, sorted:
 * for the read-ahead, which runs on other threads and cannot ask
 * cs_mount_dev() which device /proc names (a btrfs subvolume's is not its
 * st_dev). Made once, from the one read of /proc/locks and /proc.
 */
static ino_t *busy;
static size_t nbusy;

static int
cmp_ino(const void *a, const void *b)
{
	ino_t x = *(const ino_t *)a, y = *(const ino_t *)b;

	return x < y ? -1 : x > y;
}

static void
busy_index(void)
{
	size_t i, n = 0;

	if (busy != NULL)
		return;
	look_locks();
	look_opens();
	if ((busy = calloc(locked.n + opened.n + 1, sizeof(*busy))) == NULL)
		err(EX_OSERR, NULL);
	for (i = 0; i < locked.n; i++)
		busy[n++] = locked.ids[i].ino;
	for (i = 0; i < opened.n; i++)
		busy[n++] = opened.ids[i].ino;
	qsort(busy, n, sizeof(*busy), cmp_ino);
	nbusy = n;
}

/*
 * Each entry, on any core: its statx, and for a lock or pid file whose
 * content judge_file() will read (l->ahead, so far chosen by its name),
 * that content, read at once: opened (never following, never waiting on
 * a FIFO) right after the statx that said it is a regular file, as
 * judge_file() would, checked to be the same file, read, closed. Only
 * one old enough, of some size, and neither open nor locked by anyone (an
 * open would break a lease) by its inode number on any device.
 */
static void
look(size_t i, void *batch)
{
	struct batch *b = batch;
	struct look *l = &b->look[i];
	int fd;

	l->err = stat_entry(b->dirfd, l->name, 0, &l->st, &l->mnt) == -1 ?
	    errno : 0;
	if (!l->ahead || l->err != 0 || !S_ISREG(l->st.st_mode) ||
	    l->st.st_size == 0 || age_of(&l->st) < opt.min_age || (nbusy > 0 &&
	    bsearch(&l->st.st_ino, busy, nbusy, sizeof(*busy), cmp_ino)))
		l->ahead = false;
	if (!l->ahead)
		return;
	if ((fd = open_judged(b->dirfd, l->name, &l->st)) < 0) {
		l->open_err = fd == -1 ? errno : -1;
		return;
	}
	l->n = pread(fd, l->buf, sizeof(l->buf) - 1, 0);
	close(fd);
}

/*
 * May a candidate named name be read ahead, by its name and this run's
 * settings? Never where F_OFD_GETLK is to be asked, which judge_file()
 * does on its own fd; not an orphan temp or a git lock (any *.lock in a
 * directory whose path has .git in it: git), which judge_file() does not
 * read.
 */
static bool
read_ahead(const char *name, bool git)
{
	pid_t opid;

	return !ask_getlk && !getlk_judging && !opt.orphans &&
	    !cs_temp_name_pid(name, &opid) && strcmp(name, "gc.pid") != 0 &&
	    (!git || fnmatch("*.lock", name, 0) != 0);
}

/*
 * The directory's next entries worth a look (candidates, and directories
 * to descend with -r), statx'd and the lock files among them read ahead,
 * each on any core. How many: 0 at the end of the directory.
 */
static size_t
fill(struct batch *b, DIR *dir, const char *path)
{
	struct dirent *e;
	struct look *l;
	pid_t tpid;
	bool match, ahead = false, git = strstr(path, ".git") != NULL;

	batch_clear(b);
	b->dirfd = dirfd(dir);
	while (b->n < b->cap && (e = readdir(dir)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		/* Another staleclean's quarantine: its own business while it
		 * runs, ours once it is gone (killed half way). */
		if (strncmp(e->d_name, ".staleclean-", 12) == 0)
			match = quarantine_pid(e->d_name) != 0;
		else		/* only candidates and (-r) directories */
			match = matches(e->d_name);
		/* --orphans judges temp files and leftovers alone: any other
		 * candidate goes unlooked at (as a candidate, not descended). */
		if (match && opt.orphans && strncmp(e->d_name, ".staleclean-",
		    12) != 0 && !cs_temp_name_pid(e->d_name, &tpid))
			continue;
		if (!match && (!opt.recursive || (e->d_type != DT_DIR &&
		    e->d_type != DT_UNKNOWN)))
			continue;
		l = &b->look[b->n++];
		memset(l, 0, offsetof(struct look, buf));
		if ((l->name = strdup(e->d_name)) == NULL)
			err(EX_OSERR, NULL);
		l->match = match;
		ahead |= l->ahead = match && read_ahead(l->name, git);
	}
	if (ahead)
		busy_index();
	cs_par_for(b->n, look, b);
	return b->n;
}

/* Its names freed: empty again. */
static void
batch_clear(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->look[i].name);
	b->n = b->next = 0;
}

static struct batch *
batch_new(int depth)
{
	struct batch *b;
	size_t cap = depth < 4 ? BATCH : BATCH_DEEP;

	if ((b = calloc(1, sizeof(*b) + cap * sizeof(b->look[0]))) == NULL)
		err(EX_OSERR, NULL);
	b->cap = cap;
	return b;
}

static void
batch_free(struct batch *b)
{
	batch_clear(b);
	free(b);
}

/*
 * Scan a directory's entries: iterative, depth-capped, never following a
 * symlink, never leaving the mount it started on (a bind mount of the same
 * filesystem has the same st_dev, so the mount ids are compared).
 */
static void
scan(const char *root, int rootfd)
{
	struct frame stack[MAX_DEPTH + 1];
	struct stat st, top_st;
	struct look *l;
	uint64_t mnt, root_mnt;
	char *path;
	int top = 0, fd;

	if (stat_entry(rootfd, "", AT_EMPTY_PATH, &top_st, &root_mnt) == -1 ||
	    (stack[0].dir = fdopendir(rootfd)) == NULL) {
		warn("%s", root);
		close(rootfd);
		status = EX_NOINPUT;
		return;
	}
	if ((stack[0].path = strdup(root)) == NULL)
		err(EX_OSERR, NULL);
	stack[0].ref = NULL;
	stack[0].b = batch_new(0);
	while (top >= 0) {
		struct frame *f = &stack[top];

		if (f->b->next == f->b->n && fill(f->b, f->dir, f->path) == 0) {
			dirref_put(f->ref);
			closedir(f->dir);
			free(f->path);
			batch_free(f->b);
			top--;
			continue;
		}
		l = &f->b->look[f->b->next++];
		if (l->err != 0)
			continue;	/* gone meanwhile */
		if (asprintf(&path, "%s/%s", f->path, l->name) == -1)
			err(EX_OSERR, NULL);
		if (l->match) {
			judge(dirfd(f->dir), &f->ref, l->name, path, &l->st,
			    l->mnt, l);
			free(path);
			continue;
		}
		if (!S_ISDIR(l->st.st_mode) || top == MAX_DEPTH) {
			free(path);
			continue;
		}
		/* Open first, then compare what was opened: nothing can be
		 * mounted in between. */
		fd = openat(dirfd(f->dir), l->name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1 && errno != ENOENT && errno != ENOTDIR &&
		    errno != ELOOP) {
			warn("%s", path);	/* not silently left out */
			status = cs_exit_for_errno(errno, EX_NOINPUT);
		}
		if (fd == -1 || stat_entry(fd, "", AT_EMPTY_PATH, &st, &mnt) ==
		    -1 || st.st_dev != top_st.st_dev || mnt != root_mnt ||
		    (stack[top + 1].dir = fdopendir(fd)) == NULL) {
			if (fd != -1)
				close(fd);
			free(path);
			continue;
		}
		top++;
		stack[top].path = path;
		stack[top].ref = NULL;
		stack[top].b = batch_new(top);
	}
}

static void
operand(const char *path)
{
	struct stat st, target;
	struct dirref *ref = NULL;
	char *dir, *base;
	const char *view;
	uint64_t mnt;
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
	/* Through another view of the same files (bindfs over a directory,
	 * an overlay and its layers), locks and opens are on other inodes:
	 * unheld here proves nothing either. */
	if (!cs_shared_fs_allowed() && (view = cs_other_view(path)) != NULL) {
		warnx("%s: on %s, whose files are also reached through "
		    "another view, where locks and opens are invisible here "
		    "(--unsafe-shared-fs to go on anyway)", path, view);
		status = EX_UNAVAILABLE;
		return;
	}
	ask_getlk = !cs_locks_all_listed() ||
	    cs_network_fs(path, st.st_dev) != NULL;
	getlk_judging = !cs_fs_locks_local(path);
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
	if (S_ISLNK(st.st_mode) && (base == NULL || !matches(base))) {
		if ((r = stat(path, &target)) == 0 &&
		    S_ISDIR(target.st_mode)) {
			st = target;
			nofollow = 0;
		} else if (r == -1 && errno != ENOENT && errno != ENOTDIR) {
			/* not to be followed (protected_symlinks: EACCES), or
			 * a loop: an error, not a link judged in its stead */
			warn("%s", path);
			status = cs_exit_for_errno(errno, EX_NOINPUT);
			goto out;
		}
	}
	if (S_ISDIR(st.st_mode) && (base == NULL || !matches(base))) {
		fd = open(path, O_RDONLY | O_DIRECTORY | nofollow | O_CLOEXEC);
		if (fd == -1) {
			warn("%s", path);
			status = cs_exit_for_errno(errno, EX_NOINPUT);
		} else
			scan(path, fd);
	} else if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
	    == -1) {
		warn("%s", dir);
		status = cs_exit_for_errno(errno, EX_NOINPUT);
	} else if (stat_entry(dirfd, base, 0, &st, &mnt) == -1) {
		warn("%s", path);
		status = cs_exit_for_errno(errno, EX_NOINPUT);
		close(dirfd);
	} else {
		judge(dirfd, &ref, base, path, &st, mnt, NULL);
		dirref_put(ref);
		close(dirfd);
	}
out:
	free(dir);
	free(base);
}

/* Every removal waits with one fd of its own, taken from what the
 * open-file limit leaves once the walk's own are set aside. */
static void
set_fd_budget(void)
{
	struct rlimit rl;
	rlim_t walk = 2 * MAX_DEPTH + 32;	/* the walk's own, stdio, /proc */

	fd_budget = 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1 << 20) + walk)
		fd_budget = 1 << 20;
	else if (rl.rlim_cur > walk + 1)
		fd_budget = rl.rlim_cur - walk;
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
	me = getpid();
	set_fd_budget();
	for (i = 0; i < argc; i++)
		operand(argv[i]);
	remove_pending();
	free(pend);
	cs_fileset_free(&opened);
	cs_fileset_free(&locked);
	free(busy);
	ecs_close_stdout();
	if (status != 0)
		return status;
	return opt.check && nstale > 0 ? CS_EX_FALSE : 0;
}
