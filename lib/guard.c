/* SPDX-License-Identifier: ISC */
/*
 * guard.c - watching over a command as the shell would (SPEC 5 and 8): one
 * set of rules for retry's attempts and withlock's command.
 *
 * With a terminal, the command stays in our process group, as the bare
 * command would be: Ctrl-C reaches the caller, us and it at once, Ctrl-Z
 * stops the whole job, reads from /dev/tty work. Without one, it leads a
 * group of its own, which a timeout or a forwarded signal stops whole.
 * INT, TERM, HUP and QUIT are read from a signalfd: one sent to us alone
 * (kill(1)) is passed on; one from the terminal already reached the
 * command, which decides. Either way the run ends, and once the command
 * is gone we die of the same signal, so that a calling script stops as
 * it would for the bare command ("wait and cooperative exit"). We are a
 * child subreaper, so what the command leaves behind can be stopped too.
 */
#include <sys/param.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

bool
cs_have_tty(void)
{
	static int have = -1;	/* asked once: withlock before its lock,
				   cs_guard_init after it */
	int tty;

	if (have == -1) {
		tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if ((have = tty != -1))
			close(tty);
	}
	return have;
}

void
cs_guard_init(struct cs_guard *g, struct cs_cmd *cmd)
{
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction old;
	sigset_t block;
	size_t i;

	memset(g, 0, sizeof(*g));
	g->lost_fd = -1;
	(void)cs_become_subreaper();
	g->own_group = !cs_have_tty();
	if (g->own_group)
		cmd->flags |= CS_SPAWN_PGRP;
	/*
	 * At a terminal, Ctrl-Z is the command's to take: we ignore the
	 * terminal's SIGTSTP and stop when the command stops (as when it
	 * stops by itself), so that a command that ignores Ctrl-Z keeps
	 * running, and the terminal, as it would bare. It gets SIGTSTP at
	 * its default (cs_spawn).
	 */
	if (!g->own_group && sigaction(SIGTSTP, NULL, &old) == 0 &&
	    old.sa_handler == SIG_DFL) {
		signal(SIGTSTP, SIG_IGN);
		cmd->flags |= CS_SPAWN_TSTP_DFL;
	}

	sigemptyset(&block);
	for (i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) {
		if (sigaction(forwarded[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;	/* ignored by our caller: stays so */
		sigaddset(&block, forwarded[i]);
	}
	/* A write to a gone reader is EPIPE to us; a SIGPIPE that someone
	 * sends us is a signal like the others. */
	g->pipe_dfl = sigaction(SIGPIPE, NULL, &old) == 0 &&
	    old.sa_handler != SIG_IGN;
	if (g->pipe_dfl)
		sigaddset(&block, SIGPIPE);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &g->orig);
	g->report = g->orig;
	sigaddset(&g->report, SIGPIPE);
	sigdelset(&block, SIGCHLD);
	if ((g->sigfd = signalfd(-1, &block, SFD_CLOEXEC)) == -1)
		err(EX_OSERR, "signalfd");
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	if ((g->chldfd = signalfd(-1, &block, SFD_CLOEXEC | SFD_NONBLOCK))
	    == -1)
		err(EX_OSERR, "signalfd");
	cmd->sigmask = &g->orig;
}

enum cs_guard_sig
cs_guard_signal(struct cs_guard *g, struct cs_child *ch)
{
	struct signalfd_siginfo si;

	if (read(g->sigfd, &si, sizeof(si)) != sizeof(si) || g->sig != 0 ||
	    cs_own_epipe(&si))
		return CS_GUARD_NONE;
	g->sig = (int)si.ssi_signo;
	/* From the terminal (SI_KERNEL) it reached the command too, in our
	 * process group: it decides. From kill(1), it is passed on. */
	if (!g->own_group && si.ssi_code == SI_KERNEL) {
		g->from_tty = true;
		return CS_GUARD_SHARED;
	}
	if (ch != NULL)
		cs_child_term(ch, g->sig);
	return CS_GUARD_PASSED;
}

void
cs_guard_own_epipe(void)
{
	static const struct timespec now = { 0, 0 };
	sigset_t pipe;
	siginfo_t si;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	if (sigtimedwait(&pipe, &si, &now) == SIGPIPE &&
	    (si.si_code != SI_USER || si.si_pid != getpid()))
		/* someone else's, taken with ours: sent again, as theirs
		 * (SI_QUEUE), for the signalfd */
		(void)sigqueue(getpid(), SIGPIPE, (union sigval){ 0 });
}

/*
 * The command stopped (Ctrl-Z, ssh's ~^Z, a program raising SIGTSTP): at
 * a terminal, stop too, so that the shell sees the job stopped and gives
 * the prompt back; its fg continues us both (one process group). SIGSTOP,
 * as we ignore SIGTSTP there.
 */
void
cs_guard_child_event(struct cs_guard *g, const struct cs_child *ch)
{
	struct signalfd_siginfo si;
	siginfo_t info;

	while (read(g->chldfd, &si, sizeof(si)) == sizeof(si))
		;
	memset(&info, 0, sizeof(info));
	if (g->own_group || waitid(P_PIDFD, (id_t)ch->pidfd, &info,
	    WSTOPPED | WNOHANG) == -1 || info.si_pid == 0 ||
	    info.si_code != CLD_STOPPED)
		return;
	raise(SIGSTOP);
}

bool
cs_guard_handled(const struct cs_guard *g, const struct cs_child *ch)
{
	return g->sig != 0 && cs_guard_fatal(g, ch->signal) == 0;
}

int
cs_guard_fatal(const struct cs_guard *g, int died_of)
{
	if (g->sig != 0)
		return g->from_tty && died_of != g->sig ? 0 : g->sig;
	if (died_of == SIGINT || died_of == SIGQUIT)
		return died_of;
	return 0;
}

int
cs_guard_wait(struct cs_guard *g, struct cs_child *ch, cs_nsec limit,
    cs_nsec grace, bool *timed_out)
{
	struct pollfd pfd[4] = {
		{ .fd = ch->pidfd, .events = POLLIN },
		{ .fd = g->sigfd, .events = POLLIN },
		{ .fd = g->chldfd, .events = POLLIN },
		{ .fd = g->lost_fd, .events = POLLIN },
	};
	struct timespec ts;
	cs_nsec now, left, kill_at = CS_INF;
	int status;

	*timed_out = false;
	for (;;) {
		now = cs_now();
		if (kill_at != CS_INF && now >= kill_at) {
			/* The grace is over: whatever is left goes. */
			cs_child_stop(ch, SIGKILL, 0);
			kill_at = CS_INF;
			continue;	/* the leader is a zombie now */
		}
		if (limit != CS_INF && !*timed_out && now >= limit) {
			*timed_out = true;
			cs_child_term(ch, SIGTERM);
			kill_at = cs_deadline(grace);
			continue;
		}
		left = -1;
		if (limit != CS_INF && !*timed_out)
			left = limit - now;
		if (kill_at != CS_INF && (left < 0 || kill_at - now < left))
			left = kill_at - now;
		ts.tv_sec = left / CS_SEC;
		ts.tv_nsec = left % CS_SEC;
		if (ppoll(pfd, 4, left < 0 ? NULL : &ts, NULL) == -1) {
			if (errno == EINTR)
				continue;
			err(EX_OSERR, "ppoll");
		}
		/* A signal first: Ctrl-C ends the command and reaches us at
		 * once, and must not be taken for a plain exit. */
		if ((pfd[1].revents & POLLIN) &&
		    cs_guard_signal(g, ch) == CS_GUARD_PASSED &&
		    kill_at == CS_INF)
			kill_at = cs_deadline(grace);
		/* The lock is lost: the command must be gone before anyone
		 * else can take it (the lease's end). Before its exit: one
		 * seen together with it may have come after the loss. */
		if (pfd[3].revents != 0) {
			pfd[3].fd = -1;
			g->lost = true;
			cs_child_term(ch, SIGTERM);
			if (kill_at == CS_INF || cs_deadline(g->lost_grace) <
			    kill_at)
				kill_at = cs_deadline(g->lost_grace);
		}
		if (pfd[0].revents != 0)
			break;
		if (pfd[2].revents != 0)
			cs_guard_child_event(g, ch);
	}
	/* Stopped, or interrupted: nothing it started outlives it. */
	if (kill_at != CS_INF || *timed_out || g->sig != 0)
		cs_child_stop(ch, SIGKILL, 0);
	/* While the leader is a zombie its group ID is not reused: the
	 * watchdog, which would kill that group, is told first. */
	if (g->watchdog != NULL)
		cs_watchdog_disarm(g->watchdog);
	status = cs_child_reap(ch);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;		/* its orphans that have exited */
	return *timed_out ? CS_EX_TIMEDOUT : status;
}
