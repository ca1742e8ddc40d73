/* SPDX-License-Identifier: ISC */
/*
 * fakenfs.c - an LD_PRELOAD shim for the tests: statfs(2) reports NFS, so
 * that sqlwal's refusal of network filesystems can be tested without one.
 */
#include <sys/statfs.h>
#include <sys/syscall.h>

#include <unistd.h>

int statfs(const char *, struct statfs *);

int
statfs(const char *path, struct statfs *sf)
{
	long r = syscall(SYS_statfs, path, sf);

	if (r == 0)
		sf->f_type = 0x6969;	/* NFS_SUPER_MAGIC */
	return (int)r;
}
