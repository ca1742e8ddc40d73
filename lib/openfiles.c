/* SPDX-License-Identifier: ISC */
/*
 * openfiles.c - who has a file open or locked, read from /proc without
 * touching the files themselves: /proc/PID/fdinfo gives each open file's
 * mount id and inode, /proc/locks every flock, POSIX, OFD lock and lease.
 * Nothing here stat()s what an fd points to, so a hung FUSE mount cannot
 * hang the caller, and nothing takes a lock, so no other program's
 * `flock -n` ever fails because of a look.
 *
 * Files are keyed by the superblock's device and the inode number, which
 * is what /proc/locks and mountinfo print (a btrfs subvolume's st_dev is
 * not its superblock's). Mount ids are global; a process in another mount
 * namespace has mounts ours does not list, so its mountinfo is read too.
 * The mount table comes from libmount.
 */
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

/* What a mount id stands for. */
enum mnt_kind {
	MNT_DEV,	/* a mount of the superblock dev */
	MNT_INTERNAL,	/* pipes, sockets, anon inodes: never a candidate */
	MNT_UNLISTED	/* a path on a mount no table lists: any device */
};

struct mnt {
	uint64_t	 id;
	dev_t		 dev;
	enum mnt_kind	 kind;
};

static struct {
	struct mnt	*v;
	size_t		 n, cap;
	bool		 loaded;
} mounts;

static int
cmp_mnt(const void *a, const void *b)
{
	const struct mnt *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static struct mnt *
mount_find(uint64_t id)
{
	struct mnt key = { .id = id };

	return mounts.n > 0 ? bsearch(&key, mounts.v, mounts.n,
	    sizeof(key), cmp_mnt) : NULL;
}

/* Append a mount not in the (sorted) table; mounts_sort() makes the
 * table whole again, so that a long mountinfo costs one sort. */
static int
mount_append(size_t *n, uint64_t id, dev_t dev, enum mnt_kind kind)
{
	struct mnt *v;

	if (mount_find(id) != NULL)
		return 0;
	if (*n == mounts.cap) {
		size_t cap = mounts.cap ? mounts.cap * 2 : 64;

		if ((v = reallocarray(mounts.v, cap, sizeof(*v))) == NULL)
			return -1;
		mounts.v = v;
		mounts.cap = cap;
	}
	mounts.v[*n].id = id;
	mounts.v[*n].dev = dev;
	mounts.v[*n].kind = kind;
	(*n)++;
	return 0;
}

/* Sort what was appended in, and drop an id listed twice. */
static void
mounts_sort(size_t n)
{
	size_t i, j;

	qsort(mounts.v, n, sizeof(*mounts.v), cmp_mnt);
	for (i = 0, j = 1; j < n; j++)
		if (mounts.v[j].id != mounts.v[i].id)
			mounts.v[++i] = mounts.v[j];
	mounts.n = n > 0 ? i + 1 : 0;
}

static int
mount_add(uint64_t id, dev_t dev, enum mnt_kind kind)
{
	size_t n = mounts.n;

	if (mount_append(&n, id, dev, kind) == -1)
		return -1;
	mounts_sort(n);
	return 0;
}

/* fn(fs, arg) for each mount a mountinfo file lists, until fn returns
 * non-zero (that value), or 0; -1 when the file cannot be read. */
static int
mountinfo_each(const char *mountinfo, int (*fn)(struct libmnt_fs *, void *),
    void *arg)
{
	struct libmnt_table *tb;
	struct libmnt_iter *it;
	struct libmnt_fs *fs;
	int r = 0;

	if ((tb = mnt_new_table_from_file(mountinfo)) == NULL)
		return -1;
	if ((it = mnt_new_iter(MNT_ITER_FORWARD)) == NULL) {
		mnt_unref_table(tb);
		return -1;
	}
	while (r == 0 && mnt_table_next_fs(tb, it, &fs) == 0)
		r = fn(fs, arg);
	mnt_free_iter(it);
	mnt_unref_table(tb);
	return r;
}

static int
append_fs(struct libmnt_fs *fs, void *n)
{
	if (mnt_fs_get_id(fs) < 0)
		return 0;
	return mount_append(n, (uint64_t)mnt_fs_get_id(fs),
	    mnt_fs_get_devno(fs), MNT_DEV);
}

/* Add every mount a mountinfo file lists (ours, or another namespace's). */
static int
mounts_read(const char *mountinfo)
{
	size_t n = mounts.n;
	int r;

	r = mountinfo_each(mountinfo, append_fs, &n);
	mounts_sort(n);
	return r;
}

/* The mount id in our table, read again once if it is not there yet
 * (mounted since we read it). */
static struct mnt *
mount_lookup(uint64_t id)
{
	struct mnt *m;

	if (!mounts.loaded) {
		(void)mounts_read("/proc/self/mountinfo");
		mounts.loaded = true;
	}
	if ((m = mount_find(id)) == NULL &&
	    mounts_read("/proc/self/mountinfo") == 0)
		m = mount_find(id);
	return m;
}

dev_t
cs_mount_dev(uint64_t mnt_id, dev_t fallback)
{
	struct mnt *m = mount_lookup(mnt_id);

	if (m == NULL) {
		/* Not ours to see: do not read the table again for it. */
		(void)mount_add(mnt_id, CS_ANY_DEV, MNT_UNLISTED);
		return fallback;
	}
	return m->kind == MNT_DEV ? m->dev : fallback;
}

/* ---- other views of the same files ---- */

#define FUSE_SUPER_MAGIC	0x65735546
#define OVERLAYFS_SUPER_MAGIC	0x794c7630

/* Is dir (a real path) one of an overlay option's colon-separated dirs,
 * or below one? */
static bool
below_any(const char *dir, const char *list)
{
	const char *p = list, *end;
	size_t n;

	for (; p != NULL && *p != '\0'; p = *end ? end + 1 : NULL) {
		end = p + strcspn(p, ":");
		n = (size_t)(end - p);
		if (n > 0 && strncmp(dir, p, n) == 0 &&
		    (dir[n] == '\0' || dir[n] == '/' || p[n - 1] == '/'))
			return true;
	}
	return false;
}

/* Which overlay a real path is a layer of (or is below one of). */
struct layer_query {
	char	real[PATH_MAX];
	char	what[PATH_MAX + 64];
};

static int
overlay_of(struct libmnt_fs *fs, void *arg)
{
	static const char *const layers[] = { "lowerdir", "upperdir" };
	struct layer_query *q = arg;
	const char *o, *type;
	char *val, *list;
	size_t i, len;
	int hit = 0;

	if ((type = mnt_fs_get_fstype(fs)) == NULL ||
	    strcmp(type, "overlay") != 0 ||
	    (o = mnt_fs_get_options(fs)) == NULL)
		return 0;
	for (i = 0; i < 2 && !hit; i++) {
		if (mnt_optstr_get_option(o, layers[i], &val, &len) != 0 ||
		    (list = strndup(val, len)) == NULL)
			continue;
		if (below_any(q->real, list)) {
			snprintf(q->what, sizeof(q->what), "a layer of the "
			    "overlay at %s", mnt_fs_get_target(fs));
			hit = 1;
		}
		free(list);
	}
	return hit;
}

const char *
cs_other_view(const char *path)
{
	static struct layer_query q;
	struct statfs sf;

	if (statfs(path, &sf) == 0 &&
	    ((unsigned long)sf.f_type == FUSE_SUPER_MAGIC ||
	    (unsigned long)sf.f_type == OVERLAYFS_SUPER_MAGIC))
		return (unsigned long)sf.f_type == FUSE_SUPER_MAGIC ?
		    "a FUSE filesystem" : "an overlay filesystem";
	if (realpath(path, q.real) == NULL ||
	    mountinfo_each("/proc/self/mountinfo", overlay_of, &q) != 1)
		return NULL;
	return q.what;
}

/* ---- sets of files ---- */

static int
cmp_fileid(const void *a, const void *b)
{
	const struct cs_fileid *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

static int
fileset_add(struct cs_fileset *set, dev_t dev, ino_t ino, pid_t pid,
    int what)
{
	struct cs_fileid *v;

	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 1024;

		if ((v = reallocarray(set->ids, cap, sizeof(*v))) == NULL)
			return -1;
		set->ids = v;
		set->cap = cap;
	}
	set->ids[set->n].dev = dev;
	set->ids[set->n].ino = ino;
	set->ids[set->n].pid = pid;
	set->ids[set->n].what = what;
	set->n++;
	return 0;
}

/* Sort, and fold the entries of one file into one (kinds or-ed, the
 * first pid kept); or, when filling it failed (r == -1), empty it. */
static int
fileset_seal(struct cs_fileset *set, int r)
{
	size_t i, j;

	if (r == -1)
		cs_fileset_free(set);
	if (r == -1 || set->n == 0)
		return r;
	qsort(set->ids, set->n, sizeof(*set->ids), cmp_fileid);
	for (i = 0, j = 1; j < set->n; j++) {
		if (cmp_fileid(&set->ids[i], &set->ids[j]) == 0) {
			set->ids[i].what |= set->ids[j].what;
			if (set->ids[i].pid <= 0)
				set->ids[i].pid = set->ids[j].pid;
		} else
			set->ids[++i] = set->ids[j];
	}
	set->n = i + 1;
	return 0;
}

const struct cs_fileid *
cs_fileset_find(const struct cs_fileset *set, dev_t dev, ino_t ino)
{
	struct cs_fileid key = { .dev = dev, .ino = ino };
	const struct cs_fileid *f;

	if (set->n == 0)
		return NULL;
	if ((f = bsearch(&key, set->ids, set->n, sizeof(key), cmp_fileid)))
		return f;
	key.dev = CS_ANY_DEV;
	return bsearch(&key, set->ids, set->n, sizeof(key), cmp_fileid);
}

void
cs_fileset_free(struct cs_fileset *set)
{
	free(set->ids);
	memset(set, 0, sizeof(*set));
}

/* ---- open files: /proc/PID/fdinfo ---- */

/*
 * The mount mnt_id of an fd of pid: in our table, else in pid's own
 * (another mount namespace), else judged by the fd's name, which the
 * kernel makes without asking the filesystem: "pipe:[..]", "socket:[..]"
 * and "anon_inode:.." are internal; a path on a mount no table lists
 * (detached meanwhile) is matched on any device.
 */
static const struct mnt *
fd_mount(pid_t pid, const char *fd, uint64_t mnt_id)
{
	char path[320], target[2];
	struct mnt *m;

	if ((m = mount_lookup(mnt_id)) != NULL)
		return m;
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	if (mounts_read(path) == 0 && (m = mount_find(mnt_id)) != NULL)
		return m;
	snprintf(path, sizeof(path), "/proc/%d/fd/%.255s", (int)pid, fd);
	if (readlink(path, target, sizeof(target)) > 0 && target[0] != '/')
		(void)mount_add(mnt_id, 0, MNT_INTERNAL);
	else
		(void)mount_add(mnt_id, CS_ANY_DEV, MNT_UNLISTED);
	return mount_find(mnt_id);
}

/* A process or fd that went away while we looked is no error; running
 * out of fds or memory is (a file not seen must not pass for unopened). */
static bool
gone(int e)
{
	return e == ENOENT || e == ESRCH || e == EACCES || e == EPERM;
}

/*
 * mnt_id and ino of one /proc/PID/fdinfo/N: 1; 0 if it has neither (or
 * is gone); -1/errno when it cannot be read. One read(2): fdinfo is made
 * whole for each read, which returns all of it when there is room (a
 * second read would only find its end), and it begins with pos, flags,
 * mnt_id and ino however long the rest is (an epoll fd lists its
 * watches). A scan reads one per fd of the machine: each call counts.
 */
static int
fdinfo_read(int dirfd, const char *fd, uint64_t *mnt_id, ino_t *ino)
{
	char buf[512], *p;
	bool has_mnt = false, has_ino = false;
	ssize_t n;
	int f;

	if ((f = openat(dirfd, fd, O_RDONLY | O_NOCTTY | O_CLOEXEC)) == -1)
		return gone(errno) ? 0 : -1;
	n = cs_read(f, buf, sizeof(buf) - 1);
	close(f);
	buf[n > 0 ? n : 0] = '\0';
	for (p = buf; p != NULL; p = (p = strchr(p, '\n')) ? p + 1 : NULL) {
		if (strncmp(p, "mnt_id:", 7) == 0) {
			*mnt_id = strtoull(p + 7, NULL, 10);
			has_mnt = true;
		} else if (strncmp(p, "ino:", 4) == 0) {
			*ino = (ino_t)strtoull(p + 4, NULL, 10);
			has_ino = true;
		}
	}
	return has_mnt && has_ino;
}

int
cs_open_files_scan(struct cs_fileset *set)
{
	char path[300];
	struct dirent *pe, *fe;
	const struct mnt *m;
	struct stat st;
	uint64_t mnt_id = 0;
	ino_t ino = 0;
	DIR *proc, *fds;
	pid_t self = getpid(), pid;
	int r = 0, got;

	memset(set, 0, sizeof(*set));
	if ((proc = opendir("/proc")) == NULL)
		return -1;
	while (r == 0 && (pe = readdir(proc)) != NULL) {
		if (pe->d_name[0] < '1' || pe->d_name[0] > '9' ||
		    (pid = (pid_t)atoi(pe->d_name)) == self)
			continue;	/* our own probes are not owners */
		snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
		if ((fds = opendir(path)) == NULL) {
			if (!gone(errno))
				r = -1;
			continue;	/* gone, or not ours to see */
		}
		while (r == 0 && (fe = readdir(fds)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			if ((got = fdinfo_read(dirfd(fds), fe->d_name, &mnt_id,
			    &ino)) == -1) {
				r = -1;
				break;
			}
			if (got == 1) {
				if ((m = fd_mount(pid, fe->d_name, mnt_id)) ==
				    NULL || m->kind == MNT_INTERNAL)
					continue;
				r = fileset_add(set, m->dev, ino, pid, CS_OPEN);
				continue;
			}
			/* Before Linux 5.14 fdinfo has no ino: stat the fd
			 * (which a hung FUSE mount can block). */
			snprintf(path, sizeof(path), "/proc/%d/fd/%.255s",
			    (int)pid, fe->d_name);
			if (stat(path, &st) == 0)
				r = fileset_add(set, st.st_dev, st.st_ino, pid,
				    CS_OPEN);
		}
		closedir(fds);
	}
	closedir(proc);
	return fileset_seal(set, r);
}

/* ---- locks: /proc/locks ---- */

/*
 *   1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF
 *   2: -> FLOCK  ADVISORY  WRITE 4243 08:01:1234567 0 EOF	(waiting)
 *   3: OFDLCK ADVISORY  READ  -1 00:2e:99 0 EOF
 * A waiter counts too: someone has the file open and wants it.
 */
int
cs_locked_files_scan(struct cs_fileset *set)
{
	struct cs_lockline l;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	FILE *f;

	memset(set, 0, sizeof(*set));
	if ((f = fopen("/proc/locks", "re")) == NULL)
		return -1;
	while (r == 0 && getline(&line, &cap, f) != -1)
		if (cs_proc_locks_line(line, &l) == 1)
			r = fileset_add(set, l.dev, l.ino, l.pid, l.what);
	free(line);
	fclose(f);
	return fileset_seal(set, r);
}
