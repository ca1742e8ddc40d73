/*
 * proc.c - facts about processes and this boot, read from /proc: what the
 * lock metadata records and what liveness checks compare against.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

/* Read a small file into buf (NUL-terminated); -1/errno on error. */
static ssize_t
read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (got < len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

int
cs_proc_starttime(pid_t pid, unsigned long long *start, char *state)
{
	char path[64], buf[1024], *p;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -1;
	/* comm (field 2) may hold spaces and parentheses: skip to the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return -1;
	p += 2;
	if (state != NULL)
		*state = *p;
	for (field = 3; field < 22; field++) {
		if ((p = strchr(p, ' ')) == NULL)
			return -1;
		p++;
	}
	errno = 0;
	*start = strtoull(p, NULL, 10);
	return errno == 0 ? 0 : -1;
}

const char *
cs_boot_id(void)
{
	static char id[64];
	static bool done;

	if (!done) {
		if (read_small("/proc/sys/kernel/random/boot_id", id,
		    sizeof(id)) == -1)
			id[0] = '\0';
		id[strcspn(id, "\n")] = '\0';
		done = true;
	}
	return id;
}

const char *
cs_hostname(void)
{
	static char host[HOST_NAME_MAX + 1];

	if (host[0] == '\0' && gethostname(host, sizeof(host)) == -1)
		strcpy(host, "?");
	host[sizeof(host) - 1] = '\0';
	return host;
}

pid_t
cs_pid_max(void)
{
	char buf[32];
	long n;

	if (read_small("/proc/sys/kernel/pid_max", buf, sizeof(buf)) <= 0)
		return 4194304;		/* PID_MAX_LIMIT on 64-bit Linux */
	n = strtol(buf, NULL, 10);
	return n > 0 ? (pid_t)n : 4194304;
}

time_t
cs_boot_time(void)
{
	static time_t btime;
	char buf[4096], *p;

	if (btime == 0 && read_small("/proc/stat", buf, sizeof(buf)) > 0 &&
	    (p = strstr(buf, "\nbtime ")) != NULL)
		btime = (time_t)strtoll(p + 7, NULL, 10);
	return btime;
}

time_t
cs_proc_started(pid_t pid)
{
	unsigned long long ticks;
	long hz = sysconf(_SC_CLK_TCK);

	if (cs_proc_starttime(pid, &ticks, NULL) == -1 || hz <= 0)
		return -1;
	return cs_boot_time() + (time_t)(ticks / (unsigned long long)hz);
}

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

int
cs_open_files_scan(struct cs_openset *set)
{
	char path[300];
	struct dirent *pe, *fe;
	struct stat st;
	DIR *proc, *fds;
	pid_t self = getpid();

	memset(set, 0, sizeof(*set));
	if ((proc = opendir("/proc")) == NULL)
		return -1;
	while ((pe = readdir(proc)) != NULL) {
		if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
			continue;
		if (atoi(pe->d_name) == self)
			continue;	/* our own probes are not owners */
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		if ((fds = opendir(path)) == NULL)
			continue;	/* gone, or not ours to see */
		while ((fe = readdir(fds)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			if (fstatat(dirfd(fds), fe->d_name, &st, 0) == -1)
				continue;
			if (set->n == set->cap) {
				set->cap = set->cap ? set->cap * 2 : 1024;
				set->ids = reallocarray(set->ids, set->cap,
				    sizeof(*set->ids));
				if (set->ids == NULL) {
					closedir(fds);
					closedir(proc);
					return -1;
				}
			}
			set->ids[set->n].dev = st.st_dev;
			set->ids[set->n].ino = st.st_ino;
			set->n++;
		}
		closedir(fds);
	}
	closedir(proc);
	if (set->n > 0)
		qsort(set->ids, set->n, sizeof(*set->ids), cmp_fileid);
	return 0;
}

bool
cs_open_files_has(const struct cs_openset *set, dev_t dev, ino_t ino)
{
	struct cs_fileid key = { dev, ino };

	return set->n > 0 && bsearch(&key, set->ids, set->n, sizeof(key),
	    cmp_fileid) != NULL;
}

void
cs_open_files_free(struct cs_openset *set)
{
	free(set->ids);
	memset(set, 0, sizeof(*set));
}
