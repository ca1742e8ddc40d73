/* SPDX-License-Identifier: ISC */
/*
 * holder.c - who holds a lock (SPEC 1.5), read from /proc alone: the
 * kernel's word (/proc/locks, /proc/PID/fd and fdinfo) and, where the
 * kernel agrees, the holder's own (its metadata). Nothing is locked to
 * find out, so that looking never makes another program's flock -n fail.
 *
 * /proc/locks gives, for a flock, the pid that called flock(2), which is
 * not always a process that still holds it: `exec 9>f; flock 9` leaves
 * the lock with the shell once flock(1) has exited. Where that pid no
 * longer has the file, the holder is found by the fd through which the
 * lock is held (fdinfo lists the locks of each open file description).
 */
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/sysmacros.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crashsafe.h"


#define MAX_CANDIDATES	64

int
cs_proc_locks_line(char *line, struct cs_lockline *l)
{
	char *tok, *save = NULL;
	unsigned maj, mnr;
	unsigned long long ino;
	int n;

	memset(l, 0, sizeof(*l));
	for (tok = strtok_r(line, " \t\n", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t\n", &save)) {
		if (strcmp(tok, "->") == 0)
			l->waiting = true;
		else if (strcmp(tok, "FLOCK") == 0)
			l->what = CS_FLOCK;
		else if (strcmp(tok, "POSIX") == 0 || strcmp(tok, "OFDLCK") == 0)
			l->what = CS_POSIX;
		else if (strcmp(tok, "LEASE") == 0 || strcmp(tok, "DELEG") == 0)
			l->what = CS_LEASE;
		else if (l->what != 0 && strcmp(tok, "READ") == 0)
			l->shared = true;
		else if (l->what != 0 && sscanf(tok, "%x:%x:%llu%n", &maj,
		    &mnr, &ino, &n) == 3 && tok[n] == '\0') {
			l->dev = makedev(maj, mnr);
			l->ino = (ino_t)ino;
			return 1;
		} else if (l->what != 0 && (tok[0] == '-' ||
		    (tok[0] >= '0' && tok[0] <= '9')))
			l->pid = (pid_t)strtol(tok, NULL, 10);
	}
	return 0;
}

/* The initial pid namespace has a fixed inode (PROC_PID_INIT_INO). */
#define PID_NS_INIT	"pid:[4026531836]"

bool
cs_locks_all_listed(void)
{
	static int listed = -1;
	char ns[64];
	ssize_t n;

	if (listed == -1) {
		n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
		listed = n == (ssize_t)strlen(PID_NS_INIT) &&
		    memcmp(ns, PID_NS_INIT, (size_t)n) == 0;
	}
	return listed == 1;
}

/* ---- open files of a lock, through /proc/PID/fd ---- */

/*
 * Called on each fd of a process, with its /proc/PID/fd/N path and link
 * text (which it may change): a result >= 0 ends the walk with it. The
 * link's text is the kernel's: nothing is stat()ed to make it.
 */
typedef int (*fd_visit)(pid_t, const char *fd, const char *path,
    char *text, const void *arg);

/* visit on each fd of pid until it returns >= 0: that, or -1. Processes
 * we may not look at are not seen. */
static int
each_fd(pid_t pid, fd_visit visit, const void *arg)
{
	char dir[64], path[96], text[PATH_MAX + 16];
	struct dirent *e;
	ssize_t n;
	DIR *d;
	int r = -1;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return -1;
	while (r < 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%.16s", dir, e->d_name);
		if ((n = readlink(path, text, sizeof(text) - 1)) <= 0)
			continue;
		text[n] = '\0';
		r = visit(pid, e->d_name, path, text, arg);
	}
	closedir(d);
	return r;
}

/* The same over every process but ours; the pid it ended at in *who. */
static int
each_process_fd(fd_visit visit, const void *arg, pid_t *who)
{
	struct dirent *e;
	DIR *proc;
	pid_t pid, me = getpid();
	int r = -1;

	if ((proc = opendir("/proc")) == NULL)
		return -1;
	while (r < 0 && (e = readdir(proc)) != NULL)
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
		    (pid = (pid_t)atoi(e->d_name)) != me &&
		    (r = each_fd(pid, visit, arg)) >= 0 && who != NULL)
			*who = pid;
	closedir(proc);
	return r;
}

/* The file a holder holds its lock through. */
struct held_file {
	dev_t		 dev;
	ino_t		 ino;
	const char	*link;	/* the fd's link must read this; NULL: any */
};

/*
 * Does this fd reach the held file, and hold a flock through it? fdinfo
 * gives the inode and the locks of its open file description ("lock:\t1:
 * FLOCK  ADVISORY  WRITE 4242 08:01:123 0 EOF"; a waiter's is not listed)
 * without touching the file; only a match is stat()ed, for its device.
 * 0 yes, -1 no.
 */
static int
holds_through(pid_t pid, const char *fd, const char *path, char *text,
    const void *arg)
{
	const struct held_file *w = arg;
	char info[4096], where[96], *p;
	struct stat st;
	bool locked = false;
	ino_t ino = 0;

	if (text[0] != '/' || (w->link != NULL && strcmp(text, w->link) != 0))
		return -1;	/* a pipe, socket, anon inode; another name */
	snprintf(where, sizeof(where), "/proc/%d/fdinfo/%.16s", (int)pid, fd);
	if (cs_read_small(AT_FDCWD, where, info, sizeof(info)) <= 0)
		return -1;
	for (p = strtok(info, "\n"); p != NULL; p = strtok(NULL, "\n"))
		if (strncmp(p, "ino:", 4) == 0)
			ino = (ino_t)strtoull(p + 4, NULL, 10);
		else if (strncmp(p, "lock:", 5) == 0 &&
		    strstr(p, " FLOCK ") != NULL)
			locked = true;
	if (!locked || (ino != 0 && ino != w->ino) || stat(path, &st) == -1)
		return -1;
	return st.st_dev == w->dev && st.st_ino == w->ino ? 0 : -1;
}

/* ---- the lock's holders ---- */

/* The holders (not the waiters) of flock locks on dev:ino in /proc/locks,
 * and of POSIX ones where flock is made of them (NFS, CIFS), into h; how
 * many there are, or -1. */
static int
holders_listed(dev_t dev, ino_t ino, bool posix, struct cs_holder *h)
{
	struct cs_lockline l;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int n = 0;

	if ((f = fopen("/proc/locks", "re")) == NULL)
		return -1;
	while (getline(&line, &cap, f) != -1)
		if (cs_proc_locks_line(line, &l) == 1 && !l.waiting &&
		    l.dev == dev && l.ino == ino &&
		    (l.what == CS_FLOCK || (posix && l.what == CS_POSIX))) {
			if (n++ == 0)
				h->pid = l.pid;
			h->shared = l.shared;
		}
	free(line);
	fclose(f);
	h->others = n > 1 ? n - 1 : 0;
	return n;
}

int
cs_read_owner(int fd, struct cs_owner *o)
{
	char text[1024];
	ssize_t n;

	memset(o, 0, sizeof(*o));
	if ((n = cs_pread(fd, text, sizeof(text) - 1, 0)) <= 0)
		return n == 0 ? 0 : -1;
	text[n] = '\0';
	if (n < 4 || memcmp(text, "pid=", 4) != 0)
		return -1;
	(void)cs_parse_owner(text, o);	/* key=value: always true */
	return 1;
}

/* Metadata naming a pid. */
static bool
read_owner(int fd, struct cs_owner *o)
{
	return cs_read_owner(fd, o) == 1 && o->pid > 0;
}

bool
cs_owner_agrees(int fd, pid_t pid, struct cs_owner *o)
{
	return pid > 0 && read_owner(fd, o) && o->pid == pid;
}

int
cs_lock_holder(int fd, struct cs_holder *h, bool held)
{
	char self[64], path[PATH_MAX];
	struct held_file w;
	struct cs_owner o;
	struct stat st;
	ssize_t len;
	pid_t pid = 0;
	dev_t sb;
	bool posix, ambiguous = false;
	int n;

	memset(h, 0, sizeof(*h));
	if (fstat(fd, &st) == -1)
		return -1;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	posix = cs_network_fs(self, st.st_dev) != NULL;
	/* /proc/locks names the superblock's device, which is not st_dev
	 * on btrfs subvolumes: looked up only when st_dev finds nothing. */
	if ((n = holders_listed(st.st_dev, st.st_ino, posix, h)) == 0 &&
	    (sb = cs_superblock_dev(fd)) != st.st_dev && sb != 0) {
		n = holders_listed(sb, st.st_ino, posix, h);
		/* Subvolumes share the superblock, and repeat inode numbers:
		 * such a line may be another file's, to be confirmed. */
		ambiguous = n > 0;
	}
	if (n == -1)
		return -1;
	/* The pid that took it may have left it to another (exec 9>f;
	 * flock 9): the process holding it through an fd is the holder. */
	w.dev = st.st_dev;
	w.ino = st.st_ino;
	w.link = NULL;
	if (n > 0 && h->pid > 0 && each_fd(h->pid, holds_through, &w) < 0 &&
	    (len = readlink(self, path, sizeof(path) - 1)) > 0) {
		path[len] = '\0';
		w.link = path;
		if (each_process_fd(holds_through, &w, &pid) >= 0)
			h->pid = pid;
		else if (ambiguous)
			n = 0;		/* it was another file's */
	}
	/* Not listed, outside the initial pid namespace: a held lock is
	 * one a probe cannot take (it is released at once). */
	if (n == 0 && !held && !cs_locks_all_listed() &&
	    flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK)
		held = true;
	else if (n == 0 && !held && !cs_locks_all_listed())
		(void)flock(fd, LOCK_UN);
	/* The metadata is the holder's word, taken when the kernel agrees
	 * (its pid holds the lock), or when the lock is held and the kernel
	 * cannot show us by whom (another pid namespace: pid 0, unlisted). */
	if (cs_owner_agrees(fd, h->pid, &o) ||
	    (held && (n == 0 || h->pid == 0) && read_owner(fd, &o))) {
		h->pid = o.pid;
		strlcpy(h->cmd, o.cmd, sizeof(h->cmd));
		if (strcmp(o.host, cs_hostname()) != 0)
			strlcpy(h->host, o.host, sizeof(h->host));
		h->since = o.since;
		return 1;
	}
	if (h->pid > 0)
		cs_proc_cmdline(h->pid, h->cmd, sizeof(h->cmd));
	return n > 0 || held;
}

/* What a removed lock file of ours looks like from /proc/PID/fd. */
struct removed {
	const char	*base;		/* its name in its directory */
	dev_t		 dir_dev;	/* that directory */
	ino_t		 dir_ino;
	const ino_t	*ino;		/* the held inodes it may be */
	size_t		 n;
};

/*
 * Is the link text of an fd ("DIR/BASE (deleted)") one of our name in our
 * directory, reached through any path (a bind mount, a symlinked
 * directory)? The directory is stat()ed through our own view; the file,
 * opened anew, must be unlinked (a file really named "x (deleted)" is
 * not) and held (its inode one of those /proc/locks lists). That fd, or
 * -1.
 */
static int
removed_match(pid_t pid, const char *fd, const char *fdpath, char *text,
    const void *arg)
{
	static const char suffix[] = " (deleted)";
	const struct removed *r = arg;
	size_t len = strlen(text), i;
	struct stat st;
	char *slash;
	int ofd;

	(void)pid;
	(void)fd;
	if (text[0] != '/' || len <= sizeof(suffix) - 1 ||
	    strcmp(text + len - (sizeof(suffix) - 1), suffix) != 0)
		return -1;
	text[len - (sizeof(suffix) - 1)] = '\0';
	slash = strrchr(text, '/');
	if (strcmp(slash + 1, r->base) != 0)
		return -1;
	*slash = '\0';
	if (stat(slash == text ? "/" : text, &st) == -1 ||
	    st.st_dev != r->dir_dev || st.st_ino != r->dir_ino)
		return -1;
	if ((ofd = open(fdpath, O_RDONLY | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC)) == -1)
		return -1;
	if (fstat(ofd, &st) == 0 && st.st_nlink == 0)
		for (i = 0; i < r->n; i++)
			if (r->ino[i] == st.st_ino)
				return ofd;
	close(ofd);
	return -1;
}

int
cs_removed_holder(const char *path, ino_t ours)
{
	struct cs_lockline l;
	struct removed r;
	struct stat dst;
	ino_t ino[MAX_CANDIDATES];
	pid_t pid[MAX_CANDIDATES], me = getpid();
	char *dir = NULL, *base = NULL, *dot = NULL, *line = NULL;
	size_t cap = 0, n = 0, i, j;
	dev_t sb = 0;
	FILE *f = NULL;
	int fd = -1, dfd = -1;

	if (cs_split_path(path, &dir, &base) == -1 ||
	    (dot = cs_dir_dot(dir)) == NULL ||
	    (dfd = open(dot, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstat(dfd, &dst) == -1 || (f = fopen("/proc/locks", "re")) == NULL)
		goto out;
	/* Other files of our filesystem held with flock: /proc/locks names
	 * the superblock's device, which differs from st_dev on btrfs. */
	while (n < MAX_CANDIDATES && getline(&line, &cap, f) != -1) {
		if (cs_proc_locks_line(line, &l) != 1 || l.what != CS_FLOCK ||
		    l.waiting || l.pid == me || l.ino == ours)
			continue;
		if (l.dev != dst.st_dev && sb == 0 && major(dst.st_dev) == 0)
			sb = cs_superblock_dev(dfd);
		if (l.dev == dst.st_dev || l.dev == sb) {
			pid[n] = l.pid;
			ino[n++] = l.ino;
		}
	}
	if (n == 0)
		goto out;
	r.base = base;
	r.dir_dev = dst.st_dev;
	r.dir_ino = dst.st_ino;
	r.ino = ino;
	r.n = n;
	/* Looked for at each pid that took one, once ... */
	for (i = 0; i < n && fd == -1; i++) {
		for (j = 0; j < i && pid[j] != pid[i]; j++)
			;
		if (j == i && pid[i] > 0)
			fd = each_fd(pid[i], removed_match, &r);
	}
	/* ... then, as it may have left it to another (exec 9>f; flock 9),
	 * in every process. */
	if (fd == -1)
		fd = each_process_fd(removed_match, &r, NULL);
out:
	if (f != NULL)
		fclose(f);
	if (dfd != -1)
		close(dfd);
	free(line);
	free(dot);
	free(dir);
	free(base);
	return fd;
}

void
cs_holder_text(const struct cs_holder *h, char *buf, size_t len)
{
	char since[48] = "", host[300] = "", cmd[140] = "", who[96];
	struct tm tm, today;
	time_t now = time(NULL);

	if (h->what[0] != '\0')
		strlcpy(who, h->what, sizeof(who));
	else if (h->pid > 0)
		snprintf(who, sizeof(who), "pid %d", (int)h->pid);
	else if (h->pid < 0)
		strlcpy(who, "an open file description (OFD lock, no pid)",
		    sizeof(who));
	else
		strlcpy(who, "a process we cannot see (another pid namespace)",
		    sizeof(who));
	if (h->cmd[0] != '\0')
		snprintf(cmd, sizeof(cmd), " (%.120s%s)", h->cmd,
		    strlen(h->cmd) > 120 ? "..." : "");
	if (h->host[0] != '\0')
		snprintf(host, sizeof(host), " on host %s", h->host);
	if (h->since > 0 && localtime_r(&h->since, &tm) != NULL &&
	    localtime_r(&now, &today) != NULL)
		strftime(since, sizeof(since), tm.tm_yday == today.tm_yday &&
		    tm.tm_year == today.tm_year ? " since %H:%M:%S" :
		    " since %Y-%m-%d %H:%M:%S", &tm);
	if (h->others > 0)
		snprintf(buf, len, "%s%s and %d other%s (shared)", who, cmd,
		    h->others, h->others == 1 ? "" : "s");
	else
		snprintf(buf, len, "%s%s%s%s%s", who, cmd, host, since,
		    h->shared ? " (shared)" : "");
}

/* All digits, 1 to max: the number; else -1. */
static long long
digits(const char *s, size_t len, long long max)
{
	long long n = 0;
	size_t i;

	if (len == 0 || len > 19)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || n > (max - (s[i] - '0')) / 10)
			return -1;
		n = n * 10 + (s[i] - '0');
	}
	return n >= 1 ? n : -1;
}

int
cs_posix_lock_held(int fd, pid_t *pid)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_OFD_GETLK, &fl) == -1)
		return -1;
	if (pid != NULL)
		*pid = fl.l_pid;
	return fl.l_type != F_UNLCK;
}

/* PID, PID\n..., PID@HOST, or key=value lines (SPEC 1.5). */
bool
cs_parse_owner(char *text, struct cs_owner *o)
{
	char *line, *save = NULL, *end;
	long long n;
	bool kv = false;

	memset(o, 0, sizeof(*o));
	if (strncmp(text, "pid=", 4) == 0 || strstr(text, "\npid=") != NULL) {
		kv = true;
		for (line = strtok_r(text, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "pid=", 4) == 0) {
				n = strtoll(line + 4, &end, 10);
				if (*end == '\0' && n > INT_MIN && n < INT_MAX)
					o->pid = (pid_t)n;
			} else if (strncmp(line, "starttime=", 10) == 0) {
				o->start = strtoull(line + 10, &end, 10);
				o->has_start = *end == '\0';
			} else if (strncmp(line, "boot_id=", 8) == 0)
				strlcpy(o->boot_id, line + 8, sizeof(o->boot_id));
			else if (strncmp(line, "host=", 5) == 0)
				strlcpy(o->host, line + 5, sizeof(o->host));
			else if (strncmp(line, "gen=", 4) == 0)
				o->gen = strtoull(line + 4, NULL, 10);
			else if (strncmp(line, "since=", 6) == 0)
				o->since = (time_t)strtoll(line + 6, NULL, 10);
			else if (strncmp(line, "cmd=", 4) == 0)
				strlcpy(o->cmd, line + 4, sizeof(o->cmd));
		}
		return o->pid != 0 || kv;
	}
	while (*text == ' ')
		text++;
	n = strtoll(text, &end, 10);
	if (end == text || n < INT_MIN || n > INT_MAX)
		return false;
	o->pid = (pid_t)n;
	if (*end == '@') {
		strlcpy(o->host, end + 1, sizeof(o->host));
		o->host[strcspn(o->host, "\n \t")] = '\0';
	} else if (*end != '\0' && *end != '\n' && *end != ' ')
		return false;
	return true;
}

/*
 * Symbolic-link locks: Emacs .#NAME -> USER@HOST.PID[:BOOT] (the host
 * may hold dots, so the pid is after the last one), Firefox-style
 * IP:+PID. Every number whole and in range, or the link is no lock of
 * ours: a pid that strtol would wrap into someone else's must not decide.
 */
bool
cs_parse_link_owner(const char *name, const char *target,
    struct cs_owner *o, const char **kind)
{
	const char *at, *dot, *colon, *p;
	long long pid, boot = 0;
	size_t hlen;

	memset(o, 0, sizeof(*o));
	if (strncmp(name, ".#", 2) == 0 && (at = strchr(target, '@')) != NULL &&
	    (dot = strrchr(at, '.')) != NULL) {
		colon = strchr(dot, ':');
		pid = digits(dot + 1, colon != NULL ? (size_t)(colon - dot - 1) :
		    strlen(dot + 1), INT_MAX);
		if (colon != NULL)
			boot = digits(colon + 1, strlen(colon + 1), LLONG_MAX);
		hlen = (size_t)(dot - at - 1);
		if (pid == -1 || boot == -1 || hlen == 0 ||
		    hlen >= sizeof(o->host))
			return false;
		o->pid = (pid_t)pid;
		o->boot = (time_t)boot;
		memcpy(o->host, at + 1, hlen);
		*kind = "emacs-lock";
		return true;
	}
	if ((p = strstr(target, ":+")) != NULL &&
	    (pid = digits(p + 2, strlen(p + 2), INT_MAX)) != -1) {
		o->pid = (pid_t)pid;
		*kind = "symlink-lock";
		return true;
	}
	return false;
}
