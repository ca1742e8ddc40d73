/* SPDX-License-Identifier: ISC */
/*
 * fsinfo.c - what kind of filesystem a path is on. SQLite's WAL needs
 * shared memory between all its users, which network filesystems do not
 * give; sqlwal refuses them. FUSE network clients keep locks on the
 * client, where they exclude nothing (SPEC 1.5).
 */
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crashsafe.h"

static const struct {
	unsigned long	 magic;
	const char	*name;
} network[] = {
	{ 0x6969, "nfs" },
	{ 0x517b, "smb" },
	{ 0xff534d42, "cifs" },
	{ 0xfe534d42, "smb2" },
	{ 0x00c36400, "ceph" },
	{ 0x5346414f, "afs" },
	{ 0x6b414653, "afs" },
	{ 0x01021997, "9p" },
	{ 0x73757245, "coda" },
	{ 0x0bd00bd0, "lustre" },
	{ 0x47504653, "gpfs" },
};

#define FUSE_MAGIC	0x65735546

/* FUSE filesystems that are network clients, by mountinfo subtype. */
static const char *const network_fuse[] = {
	"fuse.sshfs", "fuse.s3fs", "fuse.rclone", "fuse.gcsfuse",
	"fuse.glusterfs", "fuse.cephfs", "fuse.ceph-fuse", "fuse.goofys",
	"fuse.davfs", "fuse.curlftpfs", "fuse.smbnetfs", "fuse.juicefs",
	"fuse.moosefs", "fuse.lizardfs", "fuse.blobfuse", "fuse.blobfuse2",
	"fuse.mountpoint-s3", "fuse.seaweedfs",
};

/* The mountinfo fstype of the mount holding dev (major:minor). Lines are
 * read whole: an escaped mount point (\040 for each space) can be long. */
static bool
fuse_is_network(dev_t dev, char *name, size_t len)
{
	char *line = NULL, fstype[128], *sep;
	unsigned maj, mnr;
	size_t cap = 0, i;
	FILE *f;
	bool found = false;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return true;	/* cannot tell: assume the worst */
	while (!found && getline(&line, &cap, f) != -1) {
		if (sscanf(line, "%*u %*u %u:%u", &maj, &mnr) != 2 ||
		    makedev(maj, mnr) != dev ||
		    (sep = strstr(line, " - ")) == NULL ||
		    sscanf(sep + 3, "%127s", fstype) != 1)
			continue;
		for (i = 0; i < sizeof(network_fuse) / sizeof(network_fuse[0]);
		    i++)
			if (strcmp(fstype, network_fuse[i]) == 0) {
				strlcpy(name, fstype, len);
				found = true;
			}
	}
	free(line);
	fclose(f);
	return found;
}

/* The name of the network filesystem sf describes (on device dev), or
 * NULL when it is local. */
static const char *
network_name(const struct statfs *sf, dev_t dev)
{
	static char name[128];
	size_t i;

	for (i = 0; i < sizeof(network) / sizeof(network[0]); i++)
		if ((unsigned long)sf->f_type == network[i].magic)
			return network[i].name;
	if ((unsigned long)sf->f_type == FUSE_MAGIC &&
	    fuse_is_network(dev, name, sizeof(name)))
		return name;
	return NULL;
}

const char *
cs_network_fs(const char *path, dev_t dev)
{
	struct statfs sf;

	if (statfs(path, &sf) == -1)
		return NULL;
	return network_name(&sf, dev);
}

/*
 * Filesystems without a ->lock of their own: every flock, POSIX and OFD
 * lock on them is in the kernel's lists, which /proc/locks prints. Not
 * NFS, CIFS, 9p, ceph, gfs2, ocfs2 or FUSE, which ask a server, a lock
 * manager or a daemon for locks that other machines or processes hold.
 */
static const unsigned long local_locks[] = {
	0xef53,		/* ext2, ext3, ext4 */
	0x58465342,	/* xfs */
	0x9123683e,	/* btrfs */
	0x01021994,	/* tmpfs */
	0x858458f6,	/* ramfs */
	0xf2f52010,	/* f2fs */
	0x2fc12fc1,	/* zfs */
	0x4d44,		/* vfat */
	0x2011bab0,	/* exfat */
};

bool
cs_fs_locks_local(const char *path)
{
	struct statfs sf;
	size_t i;

	if (statfs(path, &sf) == -1)
		return false;
	for (i = 0; i < sizeof(local_locks) / sizeof(local_locks[0]); i++)
		if ((unsigned long)sf.f_type == local_locks[i])
			return true;
	return false;
}

bool cs_unsafe_shared_fs;

bool
cs_shared_fs_allowed(void)
{
	const char *env = getenv("CRASHSAFE_UNSAFE_SHARED_FS");

	return cs_unsafe_shared_fs || (env != NULL && strcmp(env, "1") == 0);
}

/*
 * A FUSE network client (sshfs, rclone, s3fs...) grants flock and fcntl
 * locks in the local kernel: two clients both get the lock, so it
 * excludes nothing. NFS (lockd) and CIFS send locks to the server.
 */
/* 69 and the message when sf/st are on a FUSE network filesystem. */
static int
refuse(const struct statfs *sf, const struct stat *st, const char *context)
{
	const char *name;

	if ((unsigned long)sf->f_type != FUSE_MAGIC ||
	    (name = network_name(sf, st->st_dev)) == NULL)
		return 0;
	warnx("%s: on %s, whose locks do not reach its other clients: a lock "
	    "here excludes nothing (--unsafe-shared-fs to go on anyway)",
	    context, name);
	return EX_UNAVAILABLE;
}

int
cs_locks_exclude(const char *path, const char *context)
{
	struct statfs sf;
	struct stat st;
	char *dot;
	int r;

	if (cs_shared_fs_allowed())
		return 0;
	/* Where path leads; if it does not exist yet, its directory (so
	 * that nothing is created where we refuse). */
	if (statfs(path, &sf) == 0 && stat(path, &st) == 0)
		r = 0;
	else if ((dot = cs_parent_dot(path)) != NULL) {
		r = statfs(dot, &sf) == -1 || stat(dot, &st) == -1;
		free(dot);
	} else
		r = 1;
	return r ? 0 : refuse(&sf, &st, context);
}

int
cs_locks_exclude_fd(int fd, const char *context)
{
	struct statfs sf;
	struct stat st;

	if (cs_shared_fs_allowed() || fstatfs(fd, &sf) == -1 ||
	    fstat(fd, &st) == -1)
		return 0;
	return refuse(&sf, &st, context);
}

dev_t
cs_superblock_dev(int fd)
{
	char line[4096];
	struct statx stx;
	unsigned long long id;
	unsigned maj, mnr;
	dev_t dev = 0;
	FILE *f;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == -1 ||
	    !(stx.stx_mask & STATX_MNT_ID) ||
	    (f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return 0;
	/* "36 35 0:52 / /mnt ...": mount id, parent id, major:minor */
	while (dev == 0 && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%llu %*u %u:%u", &id, &maj, &mnr) == 3 &&
		    id == stx.stx_mnt_id)
			dev = makedev(maj, mnr);
	fclose(f);
	return dev;
}
