/* SPDX-License-Identifier: ISC */
/*
 * par.c - a parallel for over the machine's cores, for work that is
 * system calls one after another with nothing shared (staleclean's
 * statx, open and read of each candidate in a directory).
 *
 * The workers are made once, with every signal blocked (signals stay the
 * main thread's), and wait at a barrier between loops. The caller's
 * thread works too. Items are handed out one at a time from a shared
 * counter, so a slow one (a cold inode) holds up no one.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "crashsafe.h"

#define MAX_WORKERS	3	/* four threads in all: the loop is the
				 * kernel's, and it scales no further */

static struct {
	pthread_barrier_t	 start, end;
	unsigned		 workers;	/* 0: not made, or none */
	bool			 made;
	void			(*fn)(size_t, void *);
	void			*ctx;
	size_t			 n;
	atomic_size_t		 next;
} pool;

static void
run(void)
{
	size_t i;

	while ((i = atomic_fetch_add(&pool.next, 1)) < pool.n)
		pool.fn(i, pool.ctx);
}

static void *
worker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_barrier_wait(&pool.start);
		run();
		pthread_barrier_wait(&pool.end);
	}
	return NULL;
}

/* The workers, once: one fewer than the cores we may run on. None when
 * there is one core, or when a thread cannot be made. */
static void
pool_make(void)
{
	sigset_t all, mask;
	pthread_t t;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want, i;

	pool.made = true;
	want = cores > 1 ? (unsigned)(cores - 1) : 0;
	if (want > MAX_WORKERS)
		want = MAX_WORKERS;
	if (want == 0)
		return;
	if (pthread_barrier_init(&pool.start, NULL, want + 1) != 0)
		return;
	if (pthread_barrier_init(&pool.end, NULL, want + 1) != 0) {
		pthread_barrier_destroy(&pool.start);
		return;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &mask);
	for (i = 0; i < want; i++)
		if (pthread_create(&t, NULL, worker, NULL) != 0 ||
		    pthread_detach(t) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (i < want) {
		/* Some were made and wait at a barrier for want + 1: they
		 * can never be let through. Work alone; they sleep. */
		return;
	}
	pool.workers = want;
}

void
cs_par_for(size_t n, void (*fn)(size_t i, void *ctx), void *ctx)
{
	int saved = errno;

	if (!pool.made)
		pool_make();
	pool.fn = fn;
	pool.ctx = ctx;
	pool.n = n;
	atomic_store(&pool.next, 0);
	if (pool.workers == 0 || n < 2) {
		run();
		errno = saved;
		return;
	}
	pthread_barrier_wait(&pool.start);
	run();
	pthread_barrier_wait(&pool.end);
	errno = saved;
}
