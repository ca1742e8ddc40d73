/* SPDX-License-Identifier: ISC */
/*
 * retry - run a command until it succeeds, boundedly: attempts and time
 * limited, exponential backoff with jitter, per-attempt timeouts that stop
 * the attempt's whole process group, stdin replayed to every attempt,
 * stdout released only by the attempt that succeeds.
 */
#include <sys/wait.h>
#include <sys/param.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"
#include "retry.h"



/* What one attempt came to. */
struct outcome {
	int	status;		/* exit status, 124 on timeout, 128+N */
	int	signal;		/* 0, or the signal that killed it */
	bool	timed_out;
	bool	interrupted;	/* Ctrl-C came, and it handled it */
	cs_nsec	duration;
};

static void	json_record(unsigned, const struct outcome *, cs_nsec, bool);
static void	progress_line(unsigned, const struct outcome *, cs_nsec, bool);

struct pipes;
static double	secs(cs_nsec d);
static void	start_line(void);
static void	report(unsigned n, const struct outcome *o, cs_nsec next,
	    bool last);
static bool	retryable(const struct outcome *o);
static int	setup_stdin(void);
static int	stdin_file(void);
static bool	reader_gone(void);
static CS_NORETURN void	reader_went_away(void);
static int	release(struct cs_sink *held, int fd);
static int	feed(struct pipes *p);
static int	drain(struct pipes *p);
static void	relay_in(struct pipes *p);
static void	relay_drop(struct pipes *p);
static void	relay_out(struct pipes *p);
static void	pipes_close(struct pipes *p);
static int	attempt(struct cs_cmd *cmd, cs_nsec limit,
	    struct cs_sink *held, struct outcome *o);

static double
secs(cs_nsec d)
{
	return (double)d / CS_SEC;
}

/* The terminal, signals, what attempts leave behind (lib/guard.c). */
static struct cs_guard guard;

/* Whether what we last wrote to stderr (a failed attempt's held output,
 * its stderr relayed, or released output when stdout is stderr's pipe)
 * ended in the middle of a line. */
static bool stderr_mid_line;
/* --json with a pipe on stderr: the attempt writes through us, into this
 * non-blocking description of that pipe (or -1). */
static int relay_fd = -1;

/*
 * Progress lines and JSON records start on a line of their own (SPEC 5).
 * Where the attempt's stderr ended is known when it came through us, or
 * read back when stderr is a regular file.
 */
static void
start_line(void)
{
	if (stderr_mid_line || (relay_fd == -1 && cs_stderr_mid_line()))
		fputc('\n', stderr);
	stderr_mid_line = false;
}

/* One progress line, or one JSON object, per attempt (SPEC 5). */
static void
report(unsigned n, const struct outcome *o, cs_nsec next, bool last)
{
	sigset_t old;

	/* A signal ends us even while a slow stderr takes this. */
	sigprocmask(SIG_SETMASK, &guard.report, &old);
	if (opt.json || cs_verbosity > (o->status == 0 ? 0 : -1))
		start_line();
	if (opt.json)
		json_record(n, o, next, last);
	else
		progress_line(n, o, next, last);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* One JSON object, in one write. */
static void
json_record(unsigned n, const struct outcome *o, cs_nsec next, bool last)
{
	char sig[16] = "null", delay[32] = "null";

	if (o->signal)
		snprintf(sig, sizeof(sig), "%d", o->signal);
	if (!last)
		snprintf(delay, sizeof(delay), "%.6f", secs(next));
	fprintf(stderr, "{\"attempt\":%u,\"status\":%d,\"signal\":%s,"
	    "\"timed_out\":%s,\"duration_s\":%.6f,\"next_delay_s\":%s}\n",
	    n, o->status, sig, o->timed_out ? "true" : "false",
	    secs(o->duration), delay);
}

static void
progress_line(unsigned n, const struct outcome *o, cs_nsec next, bool last)
{
	char what[64], tries[32];

	if (opt.attempts > 0)
		snprintf(tries, sizeof(tries), "%u/%lld", n, opt.attempts);
	else
		snprintf(tries, sizeof(tries), "%u", n);
	if (o->status == 0) {
		cs_info("attempt %s succeeded after %.2fs", tries,
		    secs(o->duration));
		return;
	}
	if (o->timed_out)
		snprintf(what, sizeof(what), "timed out after %.2fs",
		    secs(o->duration));
	else if (o->signal)
		snprintf(what, sizeof(what), "killed by signal %d", o->signal);
	else
		snprintf(what, sizeof(what), "exit %d", o->status);
	if (last)
		cs_warnx("attempt %s failed (%s); giving up", tries, what);
	else
		cs_warnx("attempt %s failed (%s); retrying in %.2fs", tries,
		    what, secs(next));
}

static bool
retryable(const struct outcome *o)
{
	if (cs_codeset_has(&opt.except, o->status))
		return false;
	return !opt.on_set || cs_codeset_has(&opt.on, o->status);
}

/* How the run is set up: where each attempt's stdin and stdout come from. */
static struct {
	enum { IN_INHERIT, IN_FILE, IN_SPOOL } in;
	struct cs_sink	 spool;		/* IN_SPOOL: stdin as far as read */
	bool		 in_eof;	/* IN_SPOOL: all of it is in spool */
	int		 in_fd;		/* IN_SPOOL: stdin, read without
					   blocking (a private description) */
	bool		 in_blocks;	/* IN_SPOOL: in_fd is the caller's
					   blocking description (a dup) */
	bool		 in_sock;	/* IN_SPOOL: stdin a socket */
	off_t		 offset;	/* IN_FILE: where stdin was */
	bool		 hold;		/* stdout through a pipe into a spool */
	bool		 watch_out;	/* stdout a pipe or socket: EPIPE stops */
	bool		 err_joins_out;	/* stdout not held and the same pipe as
					   stderr: one relay keeps their order */
	bool		 out_is_err;	/* stdout and stderr: one pipe */
} run;

/*
 * stdin: a TTY, or -I, is inherited; a regular file is given to each
 * attempt at the offset it had; anything else (a pipe) is spooled,
 * memory then disk, as the first attempt reads it, and fed to each
 * attempt through a pipe, so that `read h; sort /dev/stdin` sees what it
 * would see without retry. Read as it is asked for, not to its end
 * first: the first attempt runs beside its producer, as it would bare
 * (`tail -f log | retry -- grep -m1 x` ends).
 */
static int
setup_stdin(void)
{
	struct stat st;

	run.spool.fd = -1;
	run.in = IN_INHERIT;
	if (opt.no_replay || isatty(STDIN_FILENO) ||
	    fstat(STDIN_FILENO, &st) == -1)
		return 0;
	if (S_ISREG(st.st_mode) &&
	    (run.offset = lseek(STDIN_FILENO, 0, SEEK_CUR)) != -1) {
		run.in = IN_FILE;
		return 0;
	}
	/* A device (/dev/null, /dev/zero) is no content to replay: each
	 * attempt reads it as it would. */
	if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
		return 0;
	if (cs_sink_open(&run.spool) == -1)
		return cs_fail(errno, EX_IOERR, cs_spool_name());
	/*
	 * Read only once poll says there is something, but another reader
	 * of the pipe may take it first: read through a description of our
	 * own that does not block (the caller's may be shared, and is left
	 * as it is); a socket, with MSG_DONTWAIT.
	 */
	run.in_sock = S_ISSOCK(st.st_mode);
	run.in_fd = STDIN_FILENO;
	if (!run.in_sock && (run.in_fd = cs_reopen(STDIN_FILENO,
	    O_RDONLY | O_NONBLOCK)) == -1)
		run.in_fd = STDIN_FILENO;
	/* No description of our own (another user's pipe, no /proc). */
	run.in_blocks = !run.in_sock &&
	    (fcntl(run.in_fd, F_GETFL) & O_NONBLOCK) == 0;
	run.in = IN_SPOOL;
	return 0;
}

/* The attempt's stdin: a new description of the file at its offset. */
static int
stdin_file(void)
{
	int fd, mode = fcntl(STDIN_FILENO, F_GETFL);

	/* 0<>file stays writable */
	fd = cs_reopen(STDIN_FILENO, mode != -1 && (mode & O_ACCMODE) ==
	    O_RDWR ? O_RDWR : O_RDONLY);
	if (fd == -1 || lseek(fd, run.offset, SEEK_SET) == -1)
		err(EX_OSERR, "stdin");
	return fd;
}

/* Is stdout's reader gone (a pipe or socket whose other end closed)? */
static bool
reader_gone(void)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = 0 };

	return run.watch_out && poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLERR | POLLHUP)) != 0;
}

/* stdout's reader went away: no attempt can be delivered any more. Die
 * of SIGPIPE as a writer would, unless our caller ignores it. */
static CS_NORETURN void
reader_went_away(void)
{
	if (guard.pipe_dfl)
		cs_die_of(SIGPIPE);
	cs_warnx("stdout: %s", strerror(EPIPE));
	exit(EX_IOERR);
}

/*
 * Copy a held output spool to fd, with the signal mask we were started
 * with: a signal that comes while a slow reader takes it ends us, as it
 * would end the command. 0, or 74 when stdout could not take it.
 * stderr's reader gone loses a failed attempt's output, as it loses our
 * progress lines, and the attempts go on: our own SIGPIPE stays blocked
 * for it, and is taken.
 */
static int
release(struct cs_sink *held, int fd)
{
	sigset_t mask;
	off_t n = 0;
	int failed, r = 0;
	char last;

	if (held->fd == -1 || held->len == 0 ||
	    lseek(held->fd, 0, SEEK_SET) == -1)
		return 0;
	/* Read now: the spool is freed as it is copied. */
	if (pread(held->fd, &last, 1, held->len - 1) != 1)
		last = '\n';
	sigprocmask(SIG_SETMASK, fd == STDOUT_FILENO ? &guard.orig :
	    &guard.report, &mask);
	if (cs_copy_spool(held->fd, fd, &n, &failed) == -1 && failed == fd) {
		if (errno == EPIPE && fd == STDOUT_FILENO)
			reader_went_away();
		if (errno == EPIPE)
			cs_guard_own_epipe();
		else {
			warn("%s", fd == STDOUT_FILENO ? "stdout" : "stderr");
			r = EX_IOERR;
		}
	}
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if ((fd == STDERR_FILENO || run.out_is_err) && n > 0)
		stderr_mid_line = n == held->len ? last != '\n' : true;
	return r;
}

/* The bytes moved for one attempt: stdin fed from the spool, stdout
 * drained into the held spool, stderr relayed. */
struct pipes {
	int		 feed;		/* to the attempt's stdin, or -1 */
	off_t		 fed;
	int		 drain;		/* from the attempt's stdout, or -1 */
	struct cs_sink	*held;
	bool		 splice;	/* drain into it by splice(2) */
	char		*buf;
	int		 relay;		/* from the attempt's stderr, or -1 */
	size_t		 rlen, roff;	/* rbuf[roff..rlen): not yet written */
	char		*rbuf;
};

#define IO_BUF	(64 * 1024)
#define OUT_PIPE	(1 << 20)	/* the unprivileged pipe-max-size */

/*
 * What stdin has now, as poll saw it: through our own description, which
 * does not block; where there is none (another user's pipe, no /proc),
 * through the caller's, under an alarm, so that another reader of the
 * pipe that took what poll saw leaves us waiting a tick, not until more
 * comes. -1/EINTR or EAGAIN when nothing was there.
 */
static ssize_t
stdin_read(void *buf)
{
	struct cs_alarm tick;
	ssize_t n;

	if (run.in_sock)
		return recv(STDIN_FILENO, buf, IO_BUF, MSG_DONTWAIT);
	if (!run.in_blocks)
		return read(run.in_fd, buf, IO_BUF);
	cs_alarm_on(&tick, 20 * CS_MSEC, 20 * CS_MSEC);
	n = read(run.in_fd, buf, IO_BUF);
	cs_alarm_off(&tick);
	return n;
}

/*
 * Feed what the pipe takes now: what is spooled, then what stdin has,
 * spooled as it is read (one buffer ahead of the attempt, no more).
 * Closed at the end, or when the attempt stops reading (EPIPE: its
 * business, as without retry). 0, or an exit status: stdin unreadable,
 * or the spool full.
 */
static int
feed(struct pipes *p)
{
	ssize_t n, w = 0;

	if (p->fed < run.spool.len)
		n = pread(run.spool.fd, p->buf, IO_BUF, p->fed);
	else if (run.in_eof)
		n = 0;
	else {
		n = stdin_read(p->buf);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n == -1)
			return cs_fail(errno, EX_IOERR, "stdin");
		if (n == 0)
			run.in_eof = true;
		else if (cs_sink_write(&run.spool, p->buf, (size_t)n) == -1)
			return cs_fail(errno, EX_IOERR, cs_spool_name());
	}
	if (n > 0 && (w = write(p->feed, p->buf, (size_t)n)) > 0) {
		p->fed += w;
		return 0;
	}
	if (n > 0 && w == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n > 0 && w == -1 && errno == EPIPE)
		cs_guard_own_epipe();
	close(p->feed);
	p->feed = -1;
	return 0;
}

/* What feeding waits for: the attempt's pipe to take what is spooled,
 * or stdin to have more (with the pipe watched for its reader going). */
static void
feed_poll(const struct pipes *p, struct pollfd *fd, struct pollfd *in)
{
	bool more = p->fed == run.spool.len && !run.in_eof;

	*fd = (struct pollfd){ p->feed, more ? 0 : POLLOUT, 0 };
	*in = (struct pollfd){ more ? run.in_fd : -1, POLLIN, 0 };
}

/*
 * Drain what is there; 0, or an exit status when the spool is full. Once
 * the spool is on disk, the pipe's pages are spliced into it: one copy in
 * the kernel instead of two through us.
 */
static int
drain(struct pipes *p)
{
	ssize_t n;

	if (p->splice && p->held->on_disk) {
		n = cs_sink_splice(p->held, p->drain, OUT_PIPE,
		    SPLICE_F_NONBLOCK);
		if (n == 0) {
			close(p->drain);
			p->drain = -1;
			return 0;
		}
		if (n > 0 || errno == EAGAIN)
			return 0;
		if (errno != EINVAL)
			return cs_fail(errno, EX_IOERR, cs_spool_name());
		p->splice = false;	/* a filesystem that cannot */
	}
	n = read(p->drain, p->buf, IO_BUF);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		close(p->drain);
		p->drain = -1;
		return 0;
	}
	if (cs_sink_write(p->held, p->buf, (size_t)n) == -1)
		return cs_fail(errno, EX_IOERR, cs_spool_name());
	return 0;
}

/*
 * Relay the attempt's stderr (--json): read when what was read is
 * written; write what stderr's pipe takes now, through our own
 * non-blocking description of it. When its reader is gone, the relay
 * closes, and the attempt's next write fails as it would have.
 */
static void
relay_in(struct pipes *p)
{
	ssize_t n;

	n = read(p->relay, p->rbuf, IO_BUF);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(p->relay);
		p->relay = -1;
		return;
	}
	p->rlen = (size_t)n;
	p->roff = 0;
}

/* Stop relaying: what was not written is dropped. */
static void
relay_drop(struct pipes *p)
{
	p->rlen = p->roff = 0;
	if (p->relay != -1)
		close(p->relay);
	p->relay = -1;
}

static void
relay_out(struct pipes *p)
{
	ssize_t w;

	w = write(relay_fd, p->rbuf + p->roff, p->rlen - p->roff);
	if (w == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w == -1 && errno == EPIPE)
		cs_guard_own_epipe();
	if (w <= 0) {
		relay_drop(p);
		return;
	}
	p->roff += (size_t)w;
	stderr_mid_line = p->rbuf[p->roff - 1] != '\n';
	if (p->roff == p->rlen)
		p->rlen = p->roff = 0;
}

/* The attempt's pipes and buffers, whatever is still open. */
static void
pipes_close(struct pipes *p)
{
	if (p->feed != -1)
		close(p->feed);
	if (p->drain != -1)
		close(p->drain);
	if (p->relay != -1)
		close(p->relay);
	free(p->buf);
	free(p->rbuf);
}

/*
 * One attempt: spawn, feed its stdin, drain its stdout, relay its stderr,
 * wait (for its exit and for EOF on the pipes, as $(cmd) does),
 * classify. Returns an exit status when the run must end at once.
 */
static int
attempt(struct cs_cmd *cmd, cs_nsec limit, struct cs_sink *held,
    struct outcome *o)
{
	struct cs_child child;
	struct pipes p = { .feed = -1, .drain = -1, .held = held,
	    .splice = true, .relay = -1 };
	struct pollfd pfd[9];	/* signals, SIGCHLD, feed, stdin, leader,
				   stdout, drain, relay, stderr */
	struct timespec ts;
	cs_nsec start = cs_now(), left, now, kill_at = CS_INF;
	cs_nsec flush_until = CS_INF;	/* then a relay still behind is dropped */
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 };
	int r = 0;
	bool exited = false, done = false;

	memset(o, 0, sizeof(*o));
	if ((p.buf = malloc(IO_BUF)) == NULL ||
	    (p.rbuf = malloc(IO_BUF)) == NULL)
		err(EX_OSERR, NULL);
	cmd->fd_in = cmd->fd_out = cmd->fd_err = -1;
	if (run.in == IN_FILE)
		cmd->fd_in = stdin_file();
	else if (run.in == IN_SPOOL) {
		if (pipe2(in, O_CLOEXEC) == -1)
			err(EX_OSERR, "pipe");
		(void)fcntl(in[1], F_SETFL, O_NONBLOCK);
		cmd->fd_in = in[0];
		p.feed = in[1];
	}
	if (run.hold) {
		if (pipe2(out, O_CLOEXEC) == -1)
			err(EX_OSERR, "pipe");
		(void)fcntl(out[0], F_SETFL, O_NONBLOCK);
		(void)fcntl(out[0], F_SETPIPE_SZ, OUT_PIPE);
		cmd->fd_out = out[1];
		p.drain = out[0];
	}
	if (relay_fd != -1) {
		if (pipe2(er, O_CLOEXEC) == -1)
			err(EX_OSERR, "pipe");
		(void)fcntl(er[0], F_SETFL, O_NONBLOCK);
		cmd->fd_err = er[1];
		if (run.err_joins_out)
			cmd->fd_out = er[1];
		p.relay = er[0];
	}
	r = cs_child_start(cmd, &child);
	if (cmd->fd_in != -1)
		close(cmd->fd_in);
	if (out[1] != -1)
		close(out[1]);
	if (er[1] != -1)
		close(er[1]);
	if (r != 0) {
		pipes_close(&p);
		return r;	/* cannot run: 126, 127, 71 */
	}
	while (!exited || p.drain != -1 || p.relay != -1 || p.rlen != 0) {
		int n = 0, ip = -1, is, ic, iff = -1, iin = -1, id = -1;
		int io = -1, ir = -1, ie = -1;

		pfd[is = n++] = (struct pollfd){ guard.sigfd, POLLIN, 0 };
		pfd[ic = n++] = (struct pollfd){ guard.chldfd, POLLIN, 0 };
		/* fed while the attempt runs, or holds stdout or stderr (a
		 * background reader that holds neither gets what its pipe
		 * held when the attempt was over) */
		if (p.feed != -1) {
			iff = n++;
			feed_poll(&p, &pfd[iff], &pfd[iin = n++]);
		}
		if (!exited) {
			pfd[ip = n++] = (struct pollfd){ child.pidfd, POLLIN, 0 };
			if (run.watch_out)
				pfd[io = n++] = (struct pollfd){ STDOUT_FILENO,
				    0, 0 };
		}
		if (p.drain != -1)
			pfd[id = n++] = (struct pollfd){ p.drain, POLLIN, 0 };
		/* stderr watched while relaying: writable, or its reader gone */
		if (p.rlen != 0 || p.relay != -1)
			pfd[ie = n++] = (struct pollfd){ relay_fd,
			    p.rlen != 0 ? POLLOUT : 0, 0 };
		if (p.rlen == 0 && p.relay != -1)
			pfd[ir = n++] = (struct pollfd){ p.relay, POLLIN, 0 };
		now = cs_now();
		if (exited && p.drain == -1 && now >= flush_until) {
			/* The attempt is over (stopped, or its time is up):
			 * a stalled stderr does not hold us. */
			relay_drop(&p);
			break;
		}
		if (kill_at != CS_INF && now >= kill_at) {
			/* The grace is over: whatever is left goes. */
			cs_child_stop(&child, SIGKILL, 0);
			kill_at = CS_INF;
			exited = true;
			continue;
		}
		if (limit != CS_INF && !o->timed_out && now >= limit) {
			o->timed_out = true;
			if (done) {
				/* The attempt ended in time; what it left
				 * holding stdout is not waited for longer,
				 * and its stderr gets the -k grace to flush. */
				if (p.drain != -1)
					close(p.drain);
				p.drain = -1;
				flush_until = cs_deadline(opt.kill_after);
				continue;
			}
			/* Out of time: SIGTERM, SIGKILL after -k, counted as
			 * 124; its output is still drained meanwhile. */
			cs_child_term(&child, SIGTERM);
			kill_at = cs_deadline(opt.kill_after);
			flush_until = kill_at;
			continue;
		}
		left = -1;
		if (limit != CS_INF && !o->timed_out)
			left = limit - now;
		if (kill_at != CS_INF && (left < 0 || kill_at - now < left))
			left = kill_at - now;
		if (exited && flush_until != CS_INF &&
		    (left < 0 || flush_until - now < left))
			left = MAX(flush_until - now, 0);
		ts.tv_sec = left / CS_SEC;
		ts.tv_nsec = left % CS_SEC;
		if (ppoll(pfd, (nfds_t)n, left < 0 ? NULL : &ts, NULL) == -1) {
			if (errno == EINTR)
				continue;
			err(EX_OSERR, "ppoll");
		}
		if (id != -1 && pfd[id].revents != 0 && (r = drain(&p)) != 0)
			break;
		if (ir != -1 && pfd[ir].revents != 0)
			relay_in(&p);
		if (ie != -1 && p.rlen != 0 && pfd[ie].revents != 0)
			relay_out(&p);
		else if (ie != -1 && (pfd[ie].revents & POLLERR))
			relay_drop(&p);		/* stderr's reader is gone */
		if (iff != -1 && pfd[iff].events == 0 &&
		    pfd[iff].revents != 0) {
			close(p.feed);	/* its reader went: stdin stays unread */
			p.feed = -1;
		} else if (iff != -1 && (pfd[iff].revents |
		    pfd[iin].revents) != 0 && (r = feed(&p)) != 0)
			break;
		if (pfd[ic].revents != 0 && !exited)
			cs_guard_child_event(&guard, &child);
		/* A signal: no attempt follows, and we die of it. */
		if (pfd[is].revents & POLLIN) {
			switch (cs_guard_signal(&guard, &child)) {
			case CS_GUARD_PASSED:
				if (kill_at == CS_INF)
					kill_at = cs_deadline(opt.kill_after);
				/* FALLTHROUGH */
			case CS_GUARD_SHARED:
				flush_until = now;	/* no waiting */
				break;
			case CS_GUARD_NONE:
				break;
			}
		}
		/* stdout's reader gone (unless Ctrl-C took it and us too) */
		if (io != -1 && pfd[io].revents != 0 && guard.sig == 0) {
			cs_child_stop(&child, SIGTERM, opt.kill_after);
			(void)cs_child_reap(&child);
			reader_went_away();
		}
		if (ip != -1 && pfd[ip].revents != 0) {
			exited = true;
			done = !o->timed_out && kill_at == CS_INF;
			/* Stopped, or interrupted: nothing it started
			 * outlives it. */
			if (kill_at != CS_INF || guard.sig != 0) {
				cs_child_stop(&child, SIGKILL, 0);
				kill_at = CS_INF;
			}
		}
	}
	if (r != 0)	/* stdin unreadable or a spool full: nothing is sure */
		cs_child_stop(&child, SIGTERM, opt.kill_after);
	o->status = cs_child_reap(&child);
	o->signal = child.signal;
	if (o->timed_out && !done)
		o->status = CS_EX_TIMEDOUT;
	o->timed_out = o->timed_out && !done;
	/* Orphans of this attempt (and earlier ones) that have exited:
	 * reaped, not left as zombies of ours. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	o->duration = cs_now() - start;
	pipes_close(&p);
	if (cs_guard_handled(&guard, &child)) {
		/*
		 * Ctrl-C at the terminal, which the attempt handled: the loop
		 * stops, and, as "wait and cooperative exit" has it, we do not
		 * die of it (the calling shell got it too, and goes on as it
		 * would after the bare command). Its status stands.
		 */
		o->interrupted = true;
		return r;
	}
	if (guard.sig != 0) {
		/* Passed on (or the attempt died of it too); no further
		 * attempt, and we die of it, so the calling shell stops. */
		(void)release(held, STDERR_FILENO);
		cs_die_of(guard.sig);
	}
	return r;
}

int
main(int argc, char *argv[])
{
	struct cs_backoff backoff;
	struct cs_cmd cmd = { .fd_in = -1, .fd_out = -1, .fd_err = -1 };
	struct cs_sink held = { .fd = -1 };
	struct outcome o;
	struct stat st, err_st;
	cs_nsec deadline, next;
	char num[32];
	unsigned n;
	int r;

	parse_options(argc, argv);
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		warnx("missing command");
		usage(EX_USAGE);
	}
	cmd.argv = argv;
	deadline = cs_deadline(opt.deadline);
	cs_tool_init();
	if (cs_stdin_was_closed())
		opt.no_replay = true;		/* nothing to replay */
	if ((r = setup_stdin()) != 0)
		return r;
	run.hold = opt.hold == -1 ? !isatty(STDOUT_FILENO) : opt.hold == 1;
	run.watch_out = fstat(STDOUT_FILENO, &st) == 0 &&
	    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
	run.out_is_err = run.watch_out && fstat(STDERR_FILENO, &err_st) == 0 &&
	    st.st_dev == err_st.st_dev && st.st_ino == err_st.st_ino;
	/*
	 * --json on a pipe (`2>&1 | logger`, a collector): the attempt's
	 * stderr is relayed, so that we know where its last line ended and
	 * each record starts a line; sharing stdout's pipe, not held, the
	 * two go through one relay, in the order written. A socket
	 * (journald's stream) stays as it is.
	 */
	if (opt.json && fstat(STDERR_FILENO, &err_st) == 0 &&
	    S_ISFIFO(err_st.st_mode))
		relay_fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK |
		    O_CLOEXEC);
	run.err_joins_out = relay_fd != -1 && !run.hold && run.out_is_err;
	/*
	 * With a terminal, the attempt stays in our process group, as the
	 * bare command would be; without one it leads its own, which a
	 * timeout stops whole. What it leaves behind when it is stopped
	 * (another group, another session) comes to us, to be stopped too.
	 */
	cs_guard_init(&guard, &cmd);

	snprintf(num, sizeof(num), "%lld", opt.attempts);
	setenv("RETRY_MAX", opt.attempts > 0 ? num : "inf", 1);
	cs_backoff_init(&backoff, opt.delay, opt.factor, opt.max_delay,
	    opt.jitter);
	for (n = 1;; n++) {
		snprintf(num, sizeof(num), "%u", n);
		setenv("RETRY_ATTEMPT", num, 1);
		if (run.hold && cs_sink_open(&held) == -1)
			err(EX_OSERR, "stdout spool");
		r = attempt(&cmd, opt.timeout == CS_INF ? deadline :
		    MIN(cs_deadline(opt.timeout), deadline), &held, &o);
		if (r != 0) {
			(void)release(&held, STDERR_FILENO);
			return r;
		}
		if (o.status == 0) {
			r = release(&held, STDOUT_FILENO);
			report(n, &o, 0, true);
			ecs_close_stdout();
			return r;
		}
		(void)release(&held, STDERR_FILENO);
		cs_sink_close(&held);
		if (o.interrupted) {	/* Ctrl-C: no further attempt */
			report(n, &o, 0, true);
			return o.status;
		}

		/* Ctrl-C at the terminal went to the attempt, not to us:
		 * it stops the whole loop all the same. */
		if ((r = cs_guard_fatal(&guard, o.signal)) != 0) {
			report(n, &o, 0, true);
			cs_die_of(r);
		}
		/* No further attempt can be delivered. */
		if (reader_gone()) {
			report(n, &o, 0, true);
			reader_went_away();
		}
		if (!retryable(&o) || (opt.attempts > 0 && n >= opt.attempts) ||
		    cs_now() >= deadline) {
			report(n, &o, 0, true);
			return o.status;
		}
		next = cs_backoff_next(&backoff);
		if (deadline != CS_INF && next > deadline - cs_now())
			next = MAX(deadline - cs_now(), 0);
		report(n, &o, next, false);
		/* A signal during the sleep ends the run: we die of it. */
		if (cs_sleep(next, deadline, guard.sigfd, &r) == 2)
			cs_die_of(r);
		if (cs_now() >= deadline)
			return o.status;	/* the sleep ran into it */
	}
}
