/* SPDX-License-Identifier: ISC */
/*
 * backoff.c - the suite's one delay schedule (SPEC 1.6): exponential
 * growth capped at max, then jitter as in the AWS Architecture Blog's
 * "Exponential Backoff and Jitter"; plus the clock and a sleep that
 * never runs past a deadline.
 */
#include <sys/signalfd.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crashsafe.h"

static const char *const jitter_names[] = {
	[CS_JITTER_NONE] = "none",
	[CS_JITTER_FULL] = "full",
	[CS_JITTER_EQUAL] = "equal",
	[CS_JITTER_DECORRELATED] = "decorrelated",
};

int
cs_parse_jitter(const char *s, enum cs_jitter *out)
{
	int i = cs_parse_word(s, jitter_names, CS_NWORDS(jitter_names), false);

	if (i == -1)
		return -1;
	*out = (enum cs_jitter)i;
	return 0;
}

void
cs_backoff_init(struct cs_backoff *b, cs_nsec initial, double factor,
    cs_nsec max, enum cs_jitter jitter)
{
	b->initial = initial;
	b->factor = factor;
	b->max = max;
	b->jitter = jitter;
	b->n = 0;
	b->prev = initial;
}

cs_nsec
cs_backoff_nominal(const struct cs_backoff *b, unsigned n)
{
	double d;

	/* In floating point so that factor^(n-1) cannot overflow. */
	d = (double)b->initial * pow(b->factor, (double)(n > 0 ? n - 1 : 0));
	if (!(d < (double)b->max))	/* also catches inf and nan */
		return b->max;
	return (cs_nsec)d;
}

cs_nsec
cs_uniform(cs_nsec lo, cs_nsec hi)
{
	uint64_t span, r, limit;

	if (hi <= lo)
		return lo;
	span = (uint64_t)hi - (uint64_t)lo + 1;
	if (span <= UINT32_MAX)
		return lo + (cs_nsec)arc4random_uniform((uint32_t)span);
	/* Wider than arc4random_uniform: the same rejection, in 64 bits. */
	limit = UINT64_MAX - UINT64_MAX % span;
	do
		arc4random_buf(&r, sizeof(r));
	while (r >= limit);
	return lo + (cs_nsec)(r % span);
}

cs_nsec
cs_backoff_next(struct cs_backoff *b)
{
	cs_nsec d, hi;

	d = cs_backoff_nominal(b, ++b->n);
	switch (b->jitter) {
	case CS_JITTER_NONE:
		break;
	case CS_JITTER_FULL:
		d = cs_uniform(0, d);
		break;
	case CS_JITTER_EQUAL:
		d = d / 2 + cs_uniform(0, d - d / 2);
		break;
	case CS_JITTER_DECORRELATED:
		hi = b->prev > INT64_MAX / 3 ? INT64_MAX : b->prev * 3;
		d = cs_uniform(b->initial, hi);
		if (d > b->max)
			d = b->max;
		break;
	}
	b->prev = d;
	return d;
}

cs_nsec
cs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (cs_nsec)ts.tv_sec * CS_SEC + ts.tv_nsec;
}

cs_nsec
cs_deadline(cs_nsec d)
{
	cs_nsec now = cs_now();

	if (d == CS_INF || d > CS_INF - now)
		return CS_INF;
	return now + d;
}

bool
cs_own_epipe(const struct signalfd_siginfo *si)
{
	/* The kernel sends the writer SIGPIPE "from" itself, as SI_USER. */
	return si->ssi_signo == SIGPIPE && si->ssi_code == SI_USER &&
	    (pid_t)si->ssi_pid == getpid();
}

int
cs_sleep(cs_nsec d, cs_nsec deadline, int sigfd, int *signo)
{
	struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
	struct signalfd_siginfo si;
	struct timespec ts;
	cs_nsec until, left;
	int cut = 0;

	until = cs_deadline(d);
	if (until > deadline) {
		until = deadline;
		cut = 1;
	}
	/* ppoll's timeout is relative: the monotonic clock decides when. */
	while (until == CS_INF || (left = until - cs_now()) > 0) {
		if (until != CS_INF) {
			ts.tv_sec = left / CS_SEC;
			ts.tv_nsec = left % CS_SEC;
		}
		if (ppoll(&pfd, sigfd >= 0, until == CS_INF ? NULL : &ts,
		    NULL) == 1 && read(sigfd, &si, sizeof(si)) ==
		    sizeof(si) && !cs_own_epipe(&si)) {
			*signo = (int)si.ssi_signo;
			return 2;
		}
	}
	return cut;
}

static void
on_alarm(int sig)
{
	(void)sig;		/* only here to interrupt a blocking call */
}

void
cs_alarm_on(struct cs_alarm *a, cs_nsec first, cs_nsec every)
{
	struct sigevent ev;
	struct itimerspec it;
	struct sigaction sa;
	sigset_t sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: the call returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN, &sa, &a->old);
	sigemptyset(&sig);
	sigaddset(&sig, SIGRTMIN);
	sigprocmask(SIG_UNBLOCK, &sig, &a->mask);
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGRTMIN;
	if (!(a->armed = timer_create(CLOCK_MONOTONIC, &ev, &a->timer) == 0))
		return;
	first = first < 1 ? 1 : first;
	it.it_value.tv_sec = first / CS_SEC;
	it.it_value.tv_nsec = first % CS_SEC;
	it.it_interval.tv_sec = every / CS_SEC;
	it.it_interval.tv_nsec = every % CS_SEC;
	timer_settime(a->timer, 0, &it, NULL);
}

void
cs_alarm_off(struct cs_alarm *a)
{
	int save = errno;

	/* still unblocked: a tick already sent is taken now, not left */
	if (a->armed)
		timer_delete(a->timer);
	sigaction(SIGRTMIN, &a->old, NULL);
	sigprocmask(SIG_SETMASK, &a->mask, NULL);
	errno = save;
}
