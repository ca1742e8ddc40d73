/* SPDX-License-Identifier: ISC */
/*
 * cleanup.c - what happens on a fatal signal (SPEC 1.4): remove our temp
 * files, pass the signal on to a running child, then die of the same
 * signal so that the parent sees 128+N and a shell loop stops on Ctrl-C.
 * Everything the handler touches is async-signal-safe.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

#define SLOTS 8

static struct {
	volatile sig_atomic_t	used;
	int			dirfd;
	char			name[256];
} slots[SLOTS];

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t child_group;

static const int fatal_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT };
#define NFATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))

static void
on_fatal(int sig)
{
	int i;

	for (i = 0; i < SLOTS; i++)
		if (slots[i].used)
			unlinkat(slots[i].dirfd, slots[i].name, 0);
	if (child_pid > 0)
		kill(child_group ? -child_pid : child_pid, sig);
	cs_die_of(sig);
}

void
cs_die_of(int sig)
{
	sigset_t set;

	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(CS_EX_SIGNAL + sig);	/* a signal whose default is not to die */
}

void
cs_cleanup_init(void)
{
	struct sigaction sa, old;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NFATAL; i++)
		sigaddset(&sa.sa_mask, fatal_signals[i]);
	for (i = 0; i < NFATAL; i++) {
		/* A signal ignored by whoever started us stays ignored
		 * (nohup, background jobs of a non-interactive shell). */
		if (sigaction(fatal_signals[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaction(fatal_signals[i], &sa, NULL);
	}
}

int
cs_cleanup_add(int dirfd, const char *name)
{
	int i;

	for (i = 0; i < SLOTS; i++)
		if (!slots[i].used) {
			slots[i].dirfd = dirfd;
			strlcpy(slots[i].name, name, sizeof(slots[i].name));
			slots[i].used = 1;	/* only now may the handler look */
			return i;
		}
	return -1;
}

void
cs_cleanup_forget(int slot)
{
	if (slot >= 0 && slot < SLOTS)
		slots[slot].used = 0;
}

void
cs_cleanup_child(pid_t pid, bool group)
{
	child_group = group;
	child_pid = pid;
}

void
cs_signals_block(sigset_t *old)
{
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < NFATAL; i++)
		sigaddset(&set, fatal_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

void
cs_signals_restore(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
}
