/* SPDX-License-Identifier: ISC */
/*
 * spawn.c - running a command and passing its status through, with the
 * conventions of env(1), timeout(1) and flock(1): 127 when it is not
 * found, 126 when it cannot be run, 128+N when it died of signal N.
 */
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <dirent.h>
#include <poll.h>
#include <signal.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

static int status_code(int wstatus);
static int wait_signal(pid_t, int *sig);
static int wait_pid(pid_t);
static void child_signal(struct cs_child *, int sig);
static enum cs_waited child_wait(struct cs_child *, cs_nsec deadline, int sigfd, int *signo);
static void child_spare(pid_t);
static int descendants_signal(int sig, pid_t skip);

extern char **environ;

#define OUTPUT_BUF	(1 << 20)	/* and the pipe is enlarged to match */

/* Map a wait(2) status to an exit status. */
static int
status_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return CS_EX_SIGNAL + WTERMSIG(wstatus);
	return EX_SOFTWARE;
}

/* What an exec error means: 127 not found, 126 cannot run, 71. */
static int
spawn_error(const char *cmd, int e)
{
	warnx("%s: %s", cmd, strerror(e));
	if (e == ENOENT)
		return CS_EX_NOTFOUND;
	if (e == ENOMEM || e == EAGAIN)
		return EX_OSERR;
	return CS_EX_NOEXEC;
}

/* fd onto target in a child before exec, inherited (not close-on-exec). */
static void
child_fd(int fd, int target)
{
	if (fd < 0)
		return;
	if (fd == target)
		(void)fcntl(fd, F_SETFD, 0);
	else if (dup2(fd, target) == -1)
		_exit(EX_OSERR);
}

/*
 * fork and exec, for what posix_spawn cannot do: PR_SET_PDEATHSIG. An
 * exec error comes back through a close-on-exec pipe.
 */
static int
spawn_fork(const struct cs_cmd *c, pid_t *pidp)
{
	pid_t parent = getpid(), pid;
	ssize_t n;
	int p[2], e = 0;

	if (pipe2(p, O_CLOEXEC) == -1)
		return cs_fail(errno, EX_OSERR, "pipe");
	if ((pid = fork()) == -1) {
		e = errno;
		close(p[0]);
		close(p[1]);
		return cs_fail(e, EX_OSERR, "fork");
	}
	if (pid == 0) {
		if (c->flags & CS_SPAWN_PGRP)
			(void)setpgid(0, 0);
		/* The watchdog learns our group before the command runs a
		 * line: no moment of it is unguarded. */
		if ((c->flags & CS_SPAWN_PGRP) && c->watchdog != NULL &&
		    c->watchdog->fd != -1) {
			pid_t me = getpid();

			if (write(c->watchdog->fd, &me, sizeof(me)) !=
			    (ssize_t)sizeof(me))
				raise(SIGKILL);
		}
		/* If we are already gone, the lock is: do not start. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
		    getppid() != parent)
			raise(SIGKILL);
		child_fd(c->fd_in, 0);
		child_fd(c->fd_out, 1);
		child_fd(c->fd_err, 2);
		if (cs_xfsz_ignored)
			signal(SIGXFSZ, SIG_DFL);
		if (c->flags & CS_SPAWN_TSTP_DFL)
			signal(SIGTSTP, SIG_DFL);
		if (c->sigmask != NULL)
			sigprocmask(SIG_SETMASK, c->sigmask, NULL);
		execvpe(c->argv[0], c->argv, c->envp != NULL ? c->envp :
		    environ);
		e = errno;
		(void)!write(p[1], &e, sizeof(e));
		_exit(CS_EX_NOTFOUND);
	}
	close(p[1]);
	if ((c->flags & CS_SPAWN_PGRP) && c->watchdog != NULL)
		child_spare(c->watchdog->pid);	/* not the command's */
	n = cs_read(p[0], &e, sizeof(e));
	close(p[0]);
	if (n != (ssize_t)sizeof(e)) {
		*pidp = pid;
		return 0;
	}
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	return spawn_error(c->argv[0], e);
}

int
cs_spawn(const struct cs_cmd *c, pid_t *pidp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	short flags = 0;
	int e;

	if (c->flags & CS_SPAWN_PDEATHSIG)
		return spawn_fork(c, pidp);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	if (c->fd_in >= 0)
		posix_spawn_file_actions_adddup2(&fa, c->fd_in, 0);
	if (c->fd_out >= 0)
		posix_spawn_file_actions_adddup2(&fa, c->fd_out, 1);
	if (c->fd_err >= 0)
		posix_spawn_file_actions_adddup2(&fa, c->fd_err, 2);
	if (c->flags & CS_SPAWN_PGRP) {
		flags |= POSIX_SPAWN_SETPGROUP;
		posix_spawnattr_setpgroup(&attr, 0);
	}
	if (cs_xfsz_ignored || (c->flags & CS_SPAWN_TSTP_DFL)) {
		sigset_t def;

		sigemptyset(&def);
		if (cs_xfsz_ignored)
			sigaddset(&def, SIGXFSZ);
		if (c->flags & CS_SPAWN_TSTP_DFL)
			sigaddset(&def, SIGTSTP);
		flags |= POSIX_SPAWN_SETSIGDEF;
		posix_spawnattr_setsigdefault(&attr, &def);
	}
	if (c->sigmask != NULL) {
		flags |= POSIX_SPAWN_SETSIGMASK;
		posix_spawnattr_setsigmask(&attr, c->sigmask);
	}
	posix_spawnattr_setflags(&attr, flags);
	e = posix_spawnp(pidp, c->argv[0], &fa, &attr, c->argv,
	    c->envp != NULL ? c->envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return e == 0 ? 0 : spawn_error(c->argv[0], e);
}

/* The same, and the signal it died of (0 if it exited) in *sig. */
static int
wait_signal(pid_t pid, int *sig)
{
	int st;

	*sig = 0;
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return EX_SOFTWARE;
	if (WIFSIGNALED(st))
		*sig = WTERMSIG(st);
	return status_code(st);
}

/* Wait for pid; its exit status, or 128+N if killed by signal N. */
static int
wait_pid(pid_t pid)
{
	int sig;

	return wait_signal(pid, &sig);
}

int
cs_run(const struct cs_cmd *c)
{
	pid_t pid;
	int r;

	if ((r = cs_spawn(c, &pid)) != 0)
		return r;
	cs_cleanup_child(pid, false);
	r = wait_pid(pid);
	cs_cleanup_child(0, false);
	return r;
}

/*
 * The command's stdout is a pipe, never the file itself: a background
 * child that kept a file fd could write into the file after the commit.
 * We copy until the command has exited and the pipe is at EOF, as $(cmd)
 * and sponge wait; a failing command is not waited on further.
 */
int
cs_run_output(const struct cs_cmd *c, int out, int *io_errno)
{
	struct cs_cmd cmd = *c;
	struct cs_child ch;
	struct pollfd pfd[2];
	char *buf;
	ssize_t n;
	int p[2], r, status = -1;
	bool eof = false;

	*io_errno = 0;
	if ((buf = malloc(OUTPUT_BUF)) == NULL)
		return cs_fail(ENOMEM, EX_OSERR, "command output");
	if (pipe2(p, O_CLOEXEC) == -1) {
		free(buf);
		return cs_fail(errno, EX_OSERR, "pipe");
	}
	(void)fcntl(p[0], F_SETPIPE_SZ, OUTPUT_BUF);
	cmd.fd_out = p[1];
	r = cs_child_start(&cmd, &ch);
	close(p[1]);
	if (r != 0)
		goto out;
	cs_cleanup_child(ch.pid, false);
	while (!eof || status == -1) {
		pfd[0].fd = eof ? -1 : p[0];
		pfd[1].fd = status == -1 ? ch.pidfd : -1;
		pfd[0].events = pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			*io_errno = errno;
			break;
		}
		if (pfd[0].revents != 0) {
			n = cs_read(p[0], buf, OUTPUT_BUF);
			if (n == 0)
				eof = true;
			else if (n == -1 ||
			    cs_write_all(out, buf, (size_t)n) == -1) {
				*io_errno = errno;
				break;
			}
		} else if (pfd[1].revents != 0) {
			status = cs_child_reap(&ch);
			cs_cleanup_child(0, false);
			if (status != 0)
				break;
		}
	}
	if (status == -1) {		/* we gave up on it */
		child_signal(&ch, SIGKILL);
		cs_child_reap(&ch);
		cs_cleanup_child(0, false);
	}
	r = *io_errno != 0 ? -1 : status;
out:
	close(p[0]);
	free(buf);
	return r;
}

int
cs_child_start(const struct cs_cmd *c, struct cs_child *ch)
{
	int r;

	if ((r = cs_spawn(c, &ch->pid)) != 0)
		return r;
	ch->group = (c->flags & CS_SPAWN_PGRP) != 0;
	if ((ch->pidfd = pidfd_open(ch->pid, 0)) == -1) {
		warn("pidfd_open");
		cs_child_stop(ch, SIGKILL, 0);
		cs_child_reap(ch);
		return EX_OSERR;
	}
	return 0;
}

/* sig to the child, or to its whole group. */
static void
child_signal(struct cs_child *ch, int sig)
{
	if (ch->group)
		kill(-ch->pid, sig);
	else
		pidfd_send_signal(ch->pidfd, sig, NULL, 0);
}

/* Wait for exit, the deadline, or a signal on sigfd (-1: none). */
static enum cs_waited
child_wait(struct cs_child *ch, cs_nsec deadline, int sigfd, int *signo)
{
	struct signalfd_siginfo si;
	struct pollfd pfd[2] = {
		{ .fd = ch->pidfd, .events = POLLIN },
		{ .fd = sigfd, .events = POLLIN },
	};
	struct timespec ts, *tsp;
	cs_nsec left;

	for (;;) {
		tsp = NULL;
		if (deadline != CS_INF) {
			if ((left = deadline - cs_now()) <= 0)
				return CS_WAIT_DEADLINE;
			ts.tv_sec = left / CS_SEC;
			ts.tv_nsec = left % CS_SEC;
			tsp = &ts;
		}
		if (ppoll(pfd, sigfd >= 0 ? 2 : 1, tsp, NULL) == -1) {
			if (errno == EINTR)
				continue;
			err(EX_OSERR, "ppoll");
		}
		if (pfd[0].revents != 0)
			return CS_WAIT_EXITED;
		if (sigfd >= 0 && (pfd[1].revents & POLLIN) &&
		    read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			*signo = (int)si.ssi_signo;
			return CS_WAIT_SIGNAL;
		}
	}
}

static int	children_of(pid_t, pid_t **, size_t *, size_t *);
static bool	childless(void);

/* Children we had before becoming a subreaper (a process substitution's
 * reader that the shell forked before exec'ing us): not ours to stop. */
static pid_t	*spared;
static size_t	 nspared;

/* Keep pid (a child of ours) out of what cs_child_stop kills. */
static void
child_spare(pid_t pid)
{
	pid_t *v;

	if ((v = reallocarray(spared, nspared + 1, sizeof(*v))) == NULL)
		return;
	spared = v;
	spared[nspared++] = pid;
}

/*
 * PR_SET_PDEATHSIG reaches the leader alone: if we are killed (kill -9,
 * the OOM killer), what it started in its group would run on without
 * the lock. The watchdog, forked before the lock is taken (so that it
 * holds nothing of ours and costs the lock's holder nothing), learns the
 * group through a pipe; when the pipe closes without a word of farewell,
 * we are dead, and it kills the group. It never signals anything else.
 */
int
cs_watchdog_start(struct cs_watchdog *w)
{
	pid_t pgid = 0;
	ssize_t n;
	char bye;
	int p[2];

	w->pid = -1;
	w->fd = -1;
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((w->pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (w->pid == 0) {
		static const int ignored[] = { SIGINT, SIGTERM, SIGHUP,
		    SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU };
		size_t i;

		if (dup2(p[0], 0) == -1)
			_exit(1);
		(void)close_range(1, ~0U, 0);	/* stdio, our fds, the pipe */
		/* Out of our group, deaf to what ends us: a signal to our
		 * whole group (timeout -k, a supervisor, an outer withlock)
		 * must leave it to do its work. */
		(void)setpgid(0, 0);
		for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
			signal(ignored[i], SIG_IGN);
		(void)prctl(PR_SET_NAME, "cs-watchdog", 0, 0, 0);
		n = cs_read(0, &pgid, sizeof(pgid));
		if (n != (ssize_t)sizeof(pgid) || pgid <= 1)
			_exit(0);	/* nothing ran, or we were told */
		n = cs_read(0, &bye, 1);
		if (n == 0)
			kill(-pgid, SIGKILL);	/* gone without a word */
		_exit(0);
	}
	close(p[0]);
	w->fd = p[1];
	return 0;
}

void
cs_watchdog_disarm(struct cs_watchdog *w)
{
	if (w->fd == -1)
		return;
	(void)!write(w->fd, "", 1);	/* a pgid of 0 before arming */
	close(w->fd);
	w->fd = -1;
}

int
cs_become_subreaper(void)
{
	size_t cap = 0;

	nspared = 0;
	if (!childless())
		(void)children_of(getpid(), &spared, &nspared, &cap);
	return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

/* Our children, but the spared ones: what our commands left us. */
static int
own_children(pid_t **v, size_t *n, size_t *cap)
{
	size_t i, j, k;
	int r;

	k = *n;
	if (childless())
		return 0;
	r = children_of(getpid(), v, n, cap);
	for (i = j = k; i < *n; i++) {
		size_t s;

		for (s = 0; s < nspared && spared[s] != (*v)[i]; s++)
			;
		if (s == nspared)
			(*v)[j++] = (*v)[i];
	}
	*n = j;
	return r;
}

/*
 * No child at all, running, stopped or a zombie: one waitid(2) that takes
 * nothing, where reading /proc/self/task/N/children costs seven system
 * calls on every run (retry's start-up, the end of each attempt).
 */
static bool
childless(void)
{
	siginfo_t si;

	return waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WCONTINUED |
	    WNOHANG | WNOWAIT) == -1 && errno == ECHILD;
}

/* Append the children of pid (every thread's) to *v; -1 on no memory. */
static int
children_of(pid_t pid, pid_t **v, size_t *n, size_t *cap)
{
	char path[64], *line = NULL, *p, *end;
	size_t len = 0;
	struct dirent *e;
	DIR *tasks;
	FILE *f;
	long c;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((tasks = opendir(path)) == NULL)
		return 0;		/* gone */
	while (r == 0 && (e = readdir(tasks)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children",
		    (int)pid, e->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		if (getline(&line, &len, f) > 0)
			for (p = line; r == 0; p = end) {
				c = strtol(p, &end, 10);
				if (end == p || c <= 0)
					break;
				if (*n == *cap) {
					pid_t *nv;

					*cap = *cap ? *cap * 2 : 64;
					if ((nv = reallocarray(*v, *cap,
					    sizeof(**v))) == NULL) {
						r = -1;
						break;
					}
					*v = nv;
				}
				(*v)[(*n)++] = (pid_t)c;
			}
		fclose(f);
	}
	free(line);
	closedir(tasks);
	return r;
}

/* sig to every descendant of ours but skip and the members of its process
 * group (0: none skipped); how many there were, or -1. */
static int
descendants_signal(int sig, pid_t skip)
{
	pid_t *v = NULL;
	size_t n = 0, cap = 0, i;

	/* Breadth first: each one's children are appended as it is met. */
	if (own_children(&v, &n, &cap) == -1) {
		free(v);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (skip == 0 || (v[i] != skip && getpgid(v[i]) != skip))
			kill(v[i], sig);
		if (children_of(v[i], &v, &n, &cap) == -1)
			break;
	}
	free(v);
	return (int)n;
}

/*
 * What left the group (setsid, a nested retry's attempts) is still a
 * descendant, or, orphaned, a child of ours (a subreaper's): killed too,
 * and reaped, until none but the leader (reaped by the caller) is left.
 * Bounded: one stuck in the kernel (a hung mount) is left to init.
 */
static void
reap_orphans(struct cs_child *ch)
{
	struct pollfd pfd = { .fd = ch->pidfd, .events = POLLIN };
	pid_t *v = NULL, leader = ch->pid;
	size_t n, cap = 0, i;
	int rounds;
	bool others = true;

	/* Once the leader is dead, its orphans are ours: look after that. */
	(void)poll(&pfd, 1, 2000);
	for (rounds = 0; others && rounds < 200; rounds++) {
		if (rounds > 0)
			usleep(10000);
		(void)descendants_signal(SIGKILL, 0);
		n = 0;
		if (own_children(&v, &n, &cap) == -1)
			break;
		others = false;
		for (i = 0; i < n; i++)
			if (v[i] != leader) {
				others = true;
				(void)waitpid(v[i], NULL, WNOHANG);
			}
	}
	free(v);
}

void
cs_child_term(struct cs_child *ch, int sig)
{
	child_signal(ch, sig);
	/* and to those that left it (not twice to those in it) */
	(void)descendants_signal(sig, ch->pid);
}

void
cs_child_stop(struct cs_child *ch, int sig, cs_nsec grace)
{
	int unused;

	cs_child_term(ch, sig);
	if (sig != SIGKILL &&
	    child_wait(ch, cs_deadline(grace), -1, &unused) != CS_WAIT_EXITED)
		child_signal(ch, SIGKILL);
	/* The leader is a zombie now at worst: its group ID is still ours. */
	if (ch->group)
		kill(-ch->pid, SIGKILL);
	reap_orphans(ch);
}

int
cs_child_reap(struct cs_child *ch)
{
	int r;

	r = wait_signal(ch->pid, &ch->signal);
	if (ch->pidfd != -1)
		close(ch->pidfd);
	ch->pidfd = -1;
	return r;
}
