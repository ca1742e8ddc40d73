/* SPDX-License-Identifier: ISC */
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

ssize_t
cs_read_small(int dirfd, const char *path, char *buf, size_t len)
{
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = openat(dirfd, path, O_RDONLY | O_NOCTTY | O_CLOEXEC)) == -1)
		return -1;
	while (got < len - 1) {
		n = cs_read(fd, buf + got, len - 1 - got);
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
	if (cs_read_small(AT_FDCWD, path, buf, sizeof(buf)) <= 0)
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

bool
cs_proc_zombie(pid_t pid, char state)
{
	char path[64], buf[2048], *p;

	if (state != 'Z')
		return false;
	/* A leader that called pthread_exit() shows Z while its other
	 * threads run: the process is alive. */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (cs_read_small(AT_FDCWD, path, buf, sizeof(buf)) <= 0 ||
	    (p = strstr(buf, "\nThreads:")) == NULL)
		return true;
	return strtol(p + 9, NULL, 10) <= 1;
}

const char *
cs_boot_id(void)
{
	static char id[64];
	static bool done;

	if (!done) {
		if (cs_read_small(AT_FDCWD, "/proc/sys/kernel/random/boot_id",
		    id, sizeof(id)) == -1)
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
	static pid_t max;
	char buf[32];
	long n;

	if (max != 0)
		return max;	/* read once: staleclean asks per candidate */
	if (cs_read_small(AT_FDCWD, "/proc/sys/kernel/pid_max", buf,
	    sizeof(buf)) <= 0 || (n = strtol(buf, NULL, 10)) <= 0)
		max = 4194304;	/* PID_MAX_LIMIT on 64-bit Linux */
	else
		max = (pid_t)n;
	return max;
}

time_t
cs_boot_time(void)
{
	static time_t btime;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	/* Past one line per CPU: a 4 KiB read misses it on big machines. */
	if (btime != 0 || (f = fopen("/proc/stat", "re")) == NULL)
		return btime;
	while (getline(&line, &cap, f) != -1)
		if (strncmp(line, "btime ", 6) == 0) {
			btime = (time_t)strtoll(line + 6, NULL, 10);
			break;
		}
	free(line);
	fclose(f);
	return btime;
}

void
cs_proc_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((n = cs_read_small(AT_FDCWD, path, buf, len)) < 0)
		n = 0;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	buf[n] = '\0';
	cs_one_line(buf, (size_t)n);
}
