/* SPDX-License-Identifier: ISC */
/*
 * crashsafe.h - the shared library of the crashsafe tools.
 *
 * One header for the whole library; one .c file per concern, and one
 * section here per file, in this order:
 *   parse.c    durations, numbers, exit-code lists, modes, words
 *   msg.c      warnings that honour -q, exit codes for errno values
 *   backoff.c  delay schedule and jitter, monotonic clock, bounded sleep
 *   lock.c     the lock protocol: acquire with timeout, inode re-check,
 *              owner metadata written
 *   holder.c   who holds a lock, from /proc/locks, fds and metadata;
 *              owner metadata read, who holds a POSIX lock
 *   proc.c     process facts: start time, boot id, host, liveness
 *   openfiles.c who has a file open or locked, from /proc alone
 *   io.c       write-all, read with restarts, copy_file_range or
 *              read/write, comparing, spools
 *   start.c    what every tool does first: fds 0-2, SIGXFSZ, stdout
 *   cleanup.c  temp files removed and children signalled on fatal signals
 *   spawn.c    running a command: status passed through, 126/127/128+N
 *   guard.c    watching over it as the shell would: terminal, signals
 *   etcd.c     a lock on etcd (withlock-etcd alone links it)
 *   path.c     a path's directory and name
 *   commit.c   temp file beside the target, sync, rename, directory sync
 *   metadata.c owner, mode, extended attributes and ACLs kept exactly;
 *              a new file's as open(2) would create it
 *   resolve.c  where a symlink leads, as the kernel follows it
 *   encode.c   JSON strings, TSV and CSV fields, hex, base64, reals,
 *              display widths
 *   rows.c     query results as TSV, CSV, JSON, JSONL or a table
 *   fsinfo.c   network filesystems, and where locks exclude nothing
 *   par.c      a parallel for over the cores, for runs of system calls
 *
 * How functions report failure, one of four ways, each said at its
 * declaration:
 *   - an exit status: 0, or a status from the table of SPEC 1.3
 *     (sysexits) with the one-line message already printed (cs_lock,
 *     cs_temp_*, cs_copy_metadata, cs_fsync_dir);
 *   - e-prefixed functions (ecs_duration) exit with that status instead;
 *   - 0 or -1 with errno and nothing printed, for the caller to name
 *     the path (cs_write_all, cs_read, cs_copy_fd, cs_sync_fd), or NULL
 *     with errno for an allocation (cs_dir_dot);
 *   - a three-way answer: 1 yes, 0 no, -1 cannot tell, with errno
 *     (cs_posix_lock_held, cs_same_content).
 * A temp file (struct cs_temp) is its creator's: after any failure the
 * creator discards it; no library call removes it behind the caller.
 */
#ifndef CRASHSAFE_H
#define CRASHSAFE_H

#include <sys/types.h>
#include <sys/stat.h>

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sysexits.h>
#include <stdio.h>
#include <time.h>

#define CS_VERSION	"0.1.0"

#define CS_NORETURN	__attribute__((__noreturn__))
#define CS_PRINTF(a, b)	__attribute__((__format__(__printf__, a, b)))

/* Exit statuses beyond sysexits(3). */
#define CS_EX_FALSE	1	/* the tool's documented "condition false" */
#define CS_EX_TIMEDOUT	124	/* retry: the last attempt timed out */
#define CS_EX_NOEXEC	126	/* command found but could not be run */
#define CS_EX_NOTFOUND	127	/* command not found */
#define CS_EX_SIGNAL	128	/* + signal number */

/* ---- parse.c: strict parsing of command-line values ---- */

/* Durations are nanoseconds; CS_INF means "no limit". */
typedef int64_t cs_nsec;
#define CS_INF		INT64_MAX
#define CS_MSEC		((cs_nsec)1000000)
#define CS_SEC		((cs_nsec)1000000000)

/*
 * "0.25", "250ms", "1.5s", "2m", "1h"; "inf" only when allow_inf.
 * Returns 0, or -1 with *errstr set ("invalid", "too large").
 */
int	cs_parse_duration(const char *, bool allow_inf, cs_nsec *,
	    const char **errstr);
/* strtonum(3) with a usage error (exit 64) naming the option. */
long long ecs_number(const char *arg, long long min, long long max,
	    const char *what);
/* Duration with a usage error (exit 64) naming the option. */
cs_nsec	ecs_duration(const char *arg, bool allow_inf, const char *what);
/* A finite decimal number > 0 (backoff factor); -1 on error. */
int	cs_parse_real(const char *, double min, double max, double *);
/* Octal mode 0..07777; -1 on error. */
int	cs_parse_mode(const char *, mode_t *);
/* Exit-code list "1,2,5-9" into a 256-entry set; -1 on error. */
typedef struct { uint64_t bits[4]; } cs_codeset;
int	cs_parse_codes(const char *, cs_codeset *);
void	cs_codeset_add(cs_codeset *, int lo, int hi);
bool	cs_codeset_has(const cs_codeset *, int);
/*
 * A word of a fixed set ("full", "jsonl", "TRUNCATE"): its index in
 * words[0..n-1], compared case-insensitively when nocase; -1 if none.
 * The tables are indexed by their enum, so the index is the value.
 */
int	cs_parse_word(const char *, const char *const *words, size_t n,
	    bool nocase);
#define CS_NWORDS(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- msg.c: messages and exit codes ---- */

extern int cs_verbosity;	/* -1 quiet, 0 normal, 1 verbose */
void	cs_warnx(const char *, ...) CS_PRINTF(1, 2);	/* silenced by -q */
void	cs_warn(const char *, ...) CS_PRINTF(1, 2);	/* with errno text */
void	cs_info(const char *, ...) CS_PRINTF(1, 2);	/* only with -v */
/* The exit status for a failed system call: EACCES/EPERM 77, ENOSPC/EIO/
 * EDQUOT/EFBIG 74, ENOMEM 71, otherwise fallback. */
int	cs_exit_for_errno(int err, int fallback);
/* Print "PROG: CONTEXT: strerror(err)" and return cs_exit_for_errno. */
int	cs_fail(int err, int fallback, const char *context);
/* Usage (SPEC 1.1): the synopsis on stderr and exit 64, or with the
 * options help on stdout and exit 0. */
CS_NORETURN void cs_usage(int status, const char *synopsis, const char *help);
/* --version: "PROG VERSION[extra]" and exit 0. */
CS_NORETURN void cs_version(const char *extra);
/* A getopt_long error (':' missing argument, '?' unknown option): one
 * line naming the option, the synopsis, exit 64. */
CS_NORETURN void cs_bad_option(int ch, char *const argv[], const char *synopsis);
/* The long options every tool has beside its own (their values are above
 * any tool's own OPT_*). */
enum { CS_OPT_VERSION = CHAR_MAX + 64, CS_OPT_UNSAFE_SHARED };
/*
 * The options every tool takes alike, for the default: of its getopt
 * switch: -h (help, exit 0), -q, -v, --version (with version_extra),
 * --unsafe-shared-fs; anything else is a usage error (cs_bad_option).
 */
void	cs_option(int ch, char *const argv[], const char *synopsis,
	    const char *help, const char *version_extra);
/* Flush and check stdout before exiting (a full disk is an error). */
void	ecs_close_stdout(void);
/* Make stdout write through cs_write_all (EINTR, short writes). */
void	cs_stdout_init(void);
/* Does stderr, a regular file, end in the middle of a line (so that a
 * record must start with a newline)? False when it cannot tell. */
bool	cs_stderr_mid_line(void);

/* ---- backoff.c: delay schedule (SPEC 1.6) and time ---- */

enum cs_jitter { CS_JITTER_NONE, CS_JITTER_FULL, CS_JITTER_EQUAL,
	CS_JITTER_DECORRELATED };

struct cs_backoff {
	cs_nsec		initial;
	cs_nsec		max;
	double		factor;
	enum cs_jitter	jitter;
	/* state */
	unsigned	n;	/* delays handed out so far */
	cs_nsec		prev;	/* last delay (decorrelated) */
};

void	cs_backoff_init(struct cs_backoff *, cs_nsec initial, double factor,
	    cs_nsec max, enum cs_jitter);
/* The nominal delay before jitter for the n-th wait (1-based). */
cs_nsec	cs_backoff_nominal(const struct cs_backoff *, unsigned n);
/* The next delay, jittered. */
cs_nsec	cs_backoff_next(struct cs_backoff *);
int	cs_parse_jitter(const char *, enum cs_jitter *);
/* Uniform in [lo, hi] (arc4random). */
cs_nsec	cs_uniform(cs_nsec lo, cs_nsec hi);
cs_nsec	cs_now(void);		/* CLOCK_MONOTONIC */
/* Deadline = now + d, CS_INF stays CS_INF. */
cs_nsec	cs_deadline(cs_nsec d);
/*
 * Sleep d, never past deadline, waking for a signal read from sigfd (a
 * signalfd, or -1: none). 0 when slept in full, 1 when the deadline cut
 * it short, 2 when a signal came (its number in *signo).
 */
int	cs_sleep(cs_nsec d, cs_nsec deadline, int sigfd, int *signo);
/*
 * Interrupt a blocking call (flock, a read that another reader of the
 * same pipe can leave waiting): a timer of our own (timer_create, not
 * the caller's alarm(2)) sends SIGRTMIN, caught without SA_RESTART and
 * unblocked, first after `first`, then every `every` (one that fires
 * just before the call is entered is followed by another), until
 * cs_alarm_off() deletes it and puts the handler and mask back. Where
 * no timer can be made, the call is not interrupted.
 */
struct cs_alarm {
	struct sigaction	old;
	sigset_t		mask;
	timer_t			timer;
	bool			armed;
};
void	cs_alarm_on(struct cs_alarm *, cs_nsec first, cs_nsec every);
void	cs_alarm_off(struct cs_alarm *);
/* Is this SIGPIPE (read from a signalfd) our own write's EPIPE, not a
 * signal anyone sent? */
struct signalfd_siginfo;
bool	cs_own_epipe(const struct signalfd_siginfo *);

/* ---- lock.c: the lock protocol (SPEC 1.5) ---- */

/*
 * Take an exclusive flock(2) on path, creating it (mode & ~umask) with
 * CS_LOCK_CREATE. *fdp is an fd of path to try first, or -1. Waits up to timeout
 * (0: fail at once, CS_INF: forever). After locking, re-checks that path
 * still names the locked inode and starts over if not.
 * Returns 0 and the fd, or EX_TEMPFAIL on timeout, or another exit status
 * (message printed with the given context).
 */
#define CS_LOCK_CREATE	0x1	/* create the lock file if missing */
#define CS_LOCK_OWNER	0x2	/* write owner metadata once locked */
#define CS_LOCK_EXCLUDE	0x4	/* correctness rests on it: refuse (69) where
				   locks stay on the client (cs_locks_exclude) */
#define CS_LOCK_SHARED	0x8	/* a shared lock (LOCK_SH): no metadata */
#define CS_LOCK_QUIET	0x10	/* busy: no message (cs_lock_busy_holder) */
int	cs_lock(const char *path, int open_flags, mode_t mode, int lockflags,
	    cs_nsec timeout, int *fdp);
/* Release a lock cs_lock took (its held time is counted). */
void	cs_unlock(int fd);
/* The command line the metadata names (cmd=): withlock's COMMAND rather
 * than withlock itself. Default: our own. */
void	cs_lock_owner_cmd(char *const argv[]);
/* Contention metrics (SPEC 1.5): time spent waiting for and holding the
 * lock, over every cs_lock of this process (a held one counts until now). */
void	cs_lock_times(cs_nsec *waited, cs_nsec *held);
/* -v: "PATH: lock waited 0.000s, held 0.000s" (of cs_lock_times, or
 * the given times: a lock that is not a file's) */
void	cs_lock_report(const char *path);
void	cs_lock_report_times(const char *path, cs_nsec waited, cs_nsec held);
/* The owner metadata of SPEC 1.5 for a lock taken at since with token
 * gen (0: none written), of this process running cs_lock_owner_cmd's
 * command: its length. */
size_t	cs_owner_text(char *buf, size_t size, unsigned long long gen,
	    time_t since);
/* The fencing token (gen= of the metadata) of the lock last taken: the
 * one we wrote, or, shared, the last exclusive holder's; 0 if none. */
unsigned long long cs_lock_token(void);

/* Who holds a lock, for humans: the kernel's holders (/proc/locks) and,
 * where they agree, the holder's metadata. */
struct cs_holder {
	pid_t	pid;		/* 0: a process we cannot see */
	int	others;		/* more holders of a shared lock */
	bool	shared;
	char	cmd[256];	/* what it runs: metadata, or /proc/PID/cmdline */
	char	host[256];	/* another host's name; "" for ours */
	time_t	since;		/* when it took the lock; 0 unknown */
	char	what[96];	/* names a holder that has no pid (etcd) */
};
/* Who held the lock when cs_lock last gave up waiting (75); else NULL. */
const struct cs_holder *cs_lock_busy_holder(void);
/* "PATH: busy for 10s; held by pid 4242 (backup.sh) since 12:03:07" */
void	cs_busy_message(const char *path, cs_nsec waited,
	    const struct cs_holder *);

/* ---- holder.c: who holds a lock, from /proc alone (SPEC 1.5) ---- */

/* Who holds the lock on fd's file: 1 held, 0 not held, -1/errno. held:
 * we know it is (our lock failed), so the metadata may speak where the
 * kernel shows no holder (another pid namespace). */
int	cs_lock_holder(int fd, struct cs_holder *, bool held);
/* "pid 4242 (backup.sh) on host db1 since 12:03:07" */
void	cs_holder_text(const struct cs_holder *, char *buf, size_t len);
/* An fd (opened anew, to wait on) of a lock file named path that was
 * removed while a process holds a flock on it ("DIR/NAME (deleted)" in
 * /proc/PID/fd, whatever path it was reached by); ours (an inode) is
 * not one. -1 if there is none we may see. */
int	cs_removed_holder(const char *path, ino_t ours);
/* The key=value metadata (SPEC 1.5) of fd's file, if it holds any. */
struct cs_owner;
/* The same, when it names pid. */
bool	cs_owner_agrees(int fd, pid_t pid, struct cs_owner *);
/* One line of /proc/locks: 1 when it names a file (l filled), else 0. */
struct cs_lockline {
	int	what;		/* CS_FLOCK, CS_POSIX, CS_LEASE */
	bool	waiting;	/* "->": wants it, does not hold it */
	bool	shared;		/* READ */
	pid_t	pid;		/* -1: an OFD lock; 0: another namespace */
	dev_t	dev;		/* the superblock's */
	ino_t	ino;
};
int	cs_proc_locks_line(char *line, struct cs_lockline *);
/* Does /proc/locks list every lock of the machine (we are in the initial
 * pid namespace)? If not, ask F_OFD_GETLK too (cs_posix_lock_held). */
bool	cs_locks_all_listed(void);

/* Who a lock or pid file says owns it. */
struct cs_owner {
	pid_t			 pid;	/* 0: none recorded */
	bool			 has_start;
	unsigned long long	 start;	/* starttime=, field 22 */
	char			 boot_id[64];
	char			 host[256];
	time_t			 boot;	/* Emacs: boot time in the link */
	unsigned long long	 gen;	/* gen=: the fencing token */
	time_t			 since;	/* since=: when it was taken */
	char			 cmd[256];
};
/*
 * What a lock file holds, read at offset 0: -1 data that is not our
 * metadata (a FILE.lock with other content: Gemfile.lock, composer.lock),
 * or unreadable; 0 nothing; 1 metadata, parsed into *o (gen 0: none).
 */
int	cs_read_owner(int fd, struct cs_owner *);
/* Parse PID, PID\n..., PID@HOST or the key=value metadata (modifies
 * text). False when it is none of these. */
bool	cs_parse_owner(char *text, struct cs_owner *);
/* A symbolic-link lock named name pointing at target (Emacs .#file,
 * Firefox-style IP:+PID): its owner and kind, or false if it is none. */
bool	cs_parse_link_owner(const char *name, const char *target,
	    struct cs_owner *, const char **kind);

/* Does another process hold a POSIX or OFD lock on fd (F_OFD_GETLK,
 * which takes nothing)? Its pid (-1 for OFD) in *pid. -1/errno. */
int	cs_posix_lock_held(int fd, pid_t *pid);

/* ---- proc.c: process facts ---- */

/* Field 22 of /proc/PID/stat (clock ticks after boot); -1 if gone. */
int	cs_proc_starttime(pid_t, unsigned long long *, char *state);
/* Is pid, whose state letter is state, dead but not reaped? Not when its
 * leader thread exited and other threads run. */
bool	cs_proc_zombie(pid_t, char state);
/* /proc/sys/kernel/random/boot_id, 36 chars + NUL; "" if unknown. */
const char *cs_boot_id(void);
const char *cs_hostname(void);
pid_t	cs_pid_max(void);
/* Boot time (btime of /proc/stat), seconds since the epoch. */
time_t	cs_boot_time(void);
/* pid's command line as one line (NULs as spaces, control bytes as '?');
 * "" if gone. */
void	cs_proc_cmdline(pid_t, char *buf, size_t len);
/* Read a small file (path relative to dirfd) into buf, NUL-terminated;
 * its length, or -1/errno. */
ssize_t	cs_read_small(int dirfd, const char *path, char *buf, size_t len);

/* ---- openfiles.c: who has a file open or locked (libmount) ---- */

/*
 * Sets of files, keyed by the superblock's device (what /proc/locks and
 * mountinfo print; a btrfs subvolume's st_dev differs) and inode. Filled
 * from /proc alone: nothing is stat()ed through an fd, nothing locked.
 */
#define CS_ANY_DEV	((dev_t)-1)	/* a file on a mount no table lists */
enum { CS_OPEN = 1, CS_FLOCK = 2, CS_POSIX = 4, CS_LEASE = 8 };
struct cs_fileid {
	dev_t	dev;
	ino_t	ino;
	pid_t	pid;		/* one holder; -1 for an OFD lock */
	int	what;		/* CS_OPEN, CS_FLOCK... or-ed */
};
struct cs_fileset { struct cs_fileid *ids; size_t n, cap; };
/* Every file other processes have open (/proc/PID/fdinfo). */
int	cs_open_files_scan(struct cs_fileset *);
/* Every file locked by anyone, or waited for (/proc/locks). Only the
 * locks of processes in our pid namespace are listed. */
int	cs_locked_files_scan(struct cs_fileset *);
const struct cs_fileid *cs_fileset_find(const struct cs_fileset *, dev_t,
	    ino_t);
void	cs_fileset_free(struct cs_fileset *);
/* Is path on a filesystem that shows files another filesystem holds (FUSE,
 * overlay), or in a layer of an overlay? Locks and opens through the other
 * view are on other inodes: invisible here. What it is, or NULL. */
const char *cs_other_view(const char *path);
/* The superblock device of mount mnt_id (statx STATX_MNT_ID), or fallback
 * when no table we can read lists it. */
dev_t	cs_mount_dev(uint64_t mnt_id, dev_t fallback);

/* ---- io.c: reading and writing whole ---- */

/* Write all of buf; restarts on EINTR and short writes. 0 or -1/errno. */
int	cs_write_all(int fd, const void *buf, size_t len);
/* read(2) and pread(2), restarted when a signal interrupts them: the
 * one EINTR loop of the reading side. */
ssize_t	cs_read(int fd, void *buf, size_t len);
ssize_t	cs_pread(int fd, void *buf, size_t len, off_t off);
/*
 * Copy all of in to out (from a regular file: splice into a pipe,
 * copy_file_range into anything else; else read/write; a pipe is
 * enlarged first). A regular in must not be rewritten after: a pipe's
 * reader may still hold its pages. *copied counts bytes. Returns 0, or -1
 * with errno and *failed_fd telling which side failed.
 */
int	cs_copy_fd(int in, int out, off_t *copied, int *failed_fd);
/* The same from a spool (a regular file of ours, from its offset), whose
 * content is freed behind the copy: it is gone after, whatever the
 * outcome. */
int	cs_copy_spool(int in, int out, off_t *copied, int *failed_fd);
/* A spool being written: a memfd for the first few MiB, moved to an
 * unlinked file in $TMPDIR (default /var/tmp) once it grows past them
 * (SPEC 1.4). Open, write (0 or -1/errno: a full spool disk), close. */
struct cs_sink {
	int	fd;
	off_t	len;
	bool	on_disk;
};
int	cs_sink_open(struct cs_sink *);
int	cs_sink_write(struct cs_sink *, const void *, size_t);
/* Up to len bytes from the pipe in into the sink, by splice(2) (flags:
 * SPLICE_F_NONBLOCK), once the sink is on disk: n > 0 moved, 0 at EOF,
 * -1/errno: EAGAIN (nothing there now), EINVAL (not here: still in
 * memory, or a filesystem that cannot splice: read and cs_sink_write
 * instead), anything else the spool failed. */
ssize_t	cs_sink_splice(struct cs_sink *, int in, size_t len, unsigned flags);
void	cs_sink_close(struct cs_sink *);
/* A stdio stream writing into the sink (closing it leaves the sink
 * open); NULL/errno. A failed write shows as fflush's EOF and errno. */
FILE	*cs_sink_stream(struct cs_sink *);
/* Read all of in into a new file positioned at 0: a memfd for the first
 * few MiB, an unlinked file in $TMPDIR (default /var/tmp) once it grows
 * past them (SPEC 1.4). 0, or with errno -1 when reading in failed, -2
 * when the spool could not take it. */
int	cs_spool(int in, int *fdp);
/* A new unlinked file in $TMPDIR (default /var/tmp, on disk), for spools
 * too large for memory. -1/errno. */
int	cs_spill_file(void);
/* "spool in DIR", for messages about a spool that failed. */
const char *cs_spool_name(void);
/* writev until all of iov is written (EINTR, short writes); iov is
 * consumed. 0 or -1/errno. */
struct iovec;
int	cs_writev_all(int fd, struct iovec *iov, int n);
/* A new memory-backed file, empty. -1/errno on error. */
int	cs_memfile(const char *name);
/* A new open file description of fd's file at offset 0 (each reader its
 * own offset), opened accmode (O_RDONLY, O_RDWR); -1/errno. */
int	cs_reopen(int fd, int accmode);
/* 1 if the two fds (at offset 0) have the same content, 0 if not,
 * -1/errno on error. */
int	cs_same_content(int a, int b);

/* ---- start.c: what every tool does first ---- */

/*
 * Fds 0, 1 and 2 opened on /dev/null where they were closed, so that no
 * file we open becomes stdout or stderr by accident; SIGXFSZ ignored;
 * cs_stdout_init.
 */
void	cs_tool_init(void);
/* Was stdin closed when we started (and so is /dev/null now)? */
bool	cs_stdin_was_closed(void);
/* True when cs_tool_init set SIGXFSZ to be ignored (so that a file
 * size limit is an EFBIG error we can clean up after, not a kill); the
 * commands we run get it back at its default. */
extern bool cs_xfsz_ignored;

/* ---- cleanup.c: fatal signals ---- */

/*
 * Install handlers for SIGINT, SIGTERM, SIGHUP, SIGPIPE (and any extra
 * given): the handler removes registered temp files, forwards the signal
 * to a registered child, then dies of the signal (exit status 128+N).
 */
void	cs_cleanup_init(void);
/* Register / forget a temp file (dirfd + name); returns a slot. */
int	cs_cleanup_add(int dirfd, const char *name);
void	cs_cleanup_forget(int slot);
/* Forward fatal signals to pid (its process group if group); 0 forgets. */
void	cs_cleanup_child(pid_t, bool group);
/* Block / unblock the fatal signals around a point of no return. */
void	cs_signals_block(sigset_t *old);
void	cs_signals_restore(const sigset_t *old);
/* Die of sig (default action), as a cleaned-up process should, so that
 * the parent sees WIFSIGNALED and a shell loop stops. */
CS_NORETURN void cs_die_of(int sig);

/* ---- spawn.c: running commands ---- */

struct cs_watchdog;
struct cs_cmd {
	char *const	*argv;
	char *const	*envp;		/* NULL: environ */
	int		 fd_in;		/* -1: inherit */
	int		 fd_out;	/* -1: inherit */
	int		 fd_err;	/* -1: inherit */
	int		 flags;
	const sigset_t	*sigmask;	/* the child's mask; NULL: ours */
	struct cs_watchdog *watchdog;	/* CS_SPAWN_PDEATHSIG: armed with the
					   child's group at once; NULL */
};
#define CS_SPAWN_PGRP	0x1	/* own process group */
#define CS_SPAWN_PDEATHSIG 0x2	/* SIGKILL when we die (PR_SET_PDEATHSIG):
				   withlock's lock goes with us */
#define CS_SPAWN_TSTP_DFL 0x4	/* SIGTSTP at its default (we ignore it) */
/*
 * Start argv[0] (PATH search). Returns 0 and the pid, or 126/127 when it
 * cannot be run (message printed), or 71.
 */
int	cs_spawn(const struct cs_cmd *, pid_t *);
/* Spawn and wait; the command's status (or 126/127/71). */
int	cs_run(const struct cs_cmd *);
/*
 * Run the command with its stdout on a pipe whose bytes go to out, until
 * it has exited and the pipe reached EOF (a background child still
 * holding stdout is waited for, as $(cmd) does); a failing command is not
 * waited on further. Its status, or -1 with *io_errno when reading the
 * pipe or writing out failed (the command is then killed).
 */
int	cs_run_output(const struct cs_cmd *, int out, int *io_errno);

/*
 * A running child watched through a pidfd, so that waiting can be bounded
 * by a deadline and interrupted by signals read from a signalfd. The
 * leader is not reaped until cs_child_reap: while it is a zombie its pid,
 * and so its process group ID, cannot be reused, which makes signalling
 * the group after it exited safe.
 */
struct cs_child {
	pid_t	pid;
	int	pidfd;
	bool	group;		/* leader of its own process group */
	int	signal;		/* once reaped: the signal it died of, or 0 */
};
enum cs_waited { CS_WAIT_EXITED, CS_WAIT_DEADLINE, CS_WAIT_SIGNAL };
/* Spawn (as cs_spawn) and open a pidfd. */
int	cs_child_start(const struct cs_cmd *, struct cs_child *);
/* sig to the child (or its group) and every descendant, at once. */
void	cs_child_term(struct cs_child *, int sig);
/* sig to the group and every descendant, SIGKILL after grace if the
 * leader still runs, then SIGKILL to whatever is left of the group and
 * below us (a subreaper's orphans reaped): nothing outlives it. */
void	cs_child_stop(struct cs_child *, int sig, cs_nsec grace);
/* Be a child subreaper (PR_SET_CHILD_SUBREAPER): orphaned descendants
 * become our children, so cs_child_stop can kill them. Children we have
 * already (a process substitution's reader) are spared by it. */
int	cs_become_subreaper(void);
/* Reap the leader: its exit status, or 128+N (and ->signal = N: an exit
 * status above 128 is not a signal). */
int	cs_child_reap(struct cs_child *);
/*
 * With CS_SPAWN_PGRP and CS_SPAWN_PDEATHSIG: a process that SIGKILLs the
 * command's whole group if we die (PDEATHSIG reaches only the leader)
 * before we disarm it. Started before the command (and before a lock is
 * taken: it holds none of our fds), armed with the command's group by
 * the command itself (cs_cmd.watchdog) between fork and exec, so that no
 * moment of its life is unguarded. -1 if it could not be started (then
 * there is none).
 */
struct cs_watchdog {
	pid_t	pid;
	int	fd;		/* the pipe it reads; -1 once disarmed */
};
int	cs_watchdog_start(struct cs_watchdog *);
void	cs_watchdog_disarm(struct cs_watchdog *);

/* ---- guard.c: a command watched over as the shell would (SPEC 5, 8) ---- */

struct cs_guard {
	int	 sigfd;		/* INT TERM HUP QUIT (unless ignored), PIPE */
	int	 chldfd;	/* SIGCHLD: the command stopped */
	sigset_t orig;		/* the mask we were started with: the command's */
	sigset_t report;	/* orig with SIGPIPE blocked: for our messages */
	bool	 own_group;	/* no terminal: the command leads a group */
	bool	 pipe_dfl;	/* SIGPIPE was not ignored by our caller */
	int	 sig;		/* the signal that ends the run, or 0 */
	bool	 from_tty;	/* it came from the terminal, to the command too */
	struct cs_watchdog *watchdog;	/* disarmed before the reap, or NULL */
	int	 lost_fd;	/* readable: the lock is lost (etcd), or -1 */
	cs_nsec	 lost_grace;	/* then TERM, and KILL this much later */
	bool	 lost;		/* it was, while the command ran */
};
/* Become a subreaper; the command in our group at a terminal, else in
 * its own (cmd->flags); fatal signals blocked and read from sigfd, the
 * command getting the mask we had (cmd->sigmask). */
void	cs_guard_init(struct cs_guard *, struct cs_cmd *);
/* Do we have a controlling terminal (then the command shares our group)? */
bool	cs_have_tty(void);
enum cs_guard_sig {
	CS_GUARD_NONE,		/* ours (EPIPE), or after the first */
	CS_GUARD_PASSED,	/* sent on to the command (ch): stop it after
				   the grace */
	CS_GUARD_SHARED,	/* from the terminal: the command got it too */
};
/* sigfd is readable: take the signal (ch: the running command, or NULL). */
enum cs_guard_sig cs_guard_signal(struct cs_guard *, struct cs_child *ch);
/* After a write of ours failed with EPIPE: the SIGPIPE it left pending
 * (blocked) is taken, so that unblocking signals later cannot kill us
 * with it. */
void	cs_guard_own_epipe(void);
/* chldfd is readable: a command that stopped itself stops us too. */
void	cs_guard_child_event(struct cs_guard *, const struct cs_child *);
/* After the reap: the terminal's signal reached the command, which
 * handled it (Ctrl-C caught): its status stands, nothing more runs. */
bool	cs_guard_handled(const struct cs_guard *, const struct cs_child *);
/* The signal we must now die of, once the command died of died_of (0:
 * it exited), or 0: the one that ended the run, unless the command
 * handled it; else SIGINT or SIGQUIT if the command died of it (Ctrl-C
 * reached it and not us), so that a calling script stops as it would
 * for the bare command. */
int	cs_guard_fatal(const struct cs_guard *, int died_of);
/* Wait for the command; at limit stop it (TERM to its group and what it
 * left, KILL after grace) and return 124; a signal is passed on as
 * above (g->sig); lost_fd readable: stopped the same way, after
 * lost_grace, and g->lost set. Returns its status. */
int	cs_guard_wait(struct cs_guard *, struct cs_child *, cs_nsec limit,
	    cs_nsec grace, bool *timed_out);

/* ---- etcd.c: a lock on etcd (SPEC 8); withlock-etcd alone links it ---- */

#define CS_ETCD_SCHEME	"etcd://"
struct cs_etcd;
struct cs_etcd_opts {
	const char	*cacert, *cert, *key;	/* TLS when cacert or cert */
	bool		 insecure_skip_verify;
	cs_nsec		 ttl;		/* the lease's */
	cs_nsec		 grace;		/* TERM to KILL, once the lease is lost */
};
/* etcd://EP[,EP...]/NAME (no EP: CRASHSAFE_ETCD, then ETCDCTL_ENDPOINTS;
 * an EP is HOST:PORT or a http(s):// URL). 0 or EX_USAGE. */
int	cs_etcd_open(struct cs_etcd **, const char *url,
	    const struct cs_etcd_opts *);
/* Grant the lease and keep it alive from now on (a thread that takes no
 * signal). 0, or EX_UNAVAILABLE: no endpoint answers. */
int	cs_etcd_lease(struct cs_etcd *);
/* Readable once the lease is presumed lost: no keepalive confirmed for
 * TTL - grace - margin. The command must be stopped within grace. */
int	cs_etcd_lost_fd(const struct cs_etcd *);
/* Wait up to wait for the lock: 0 and the token (the key's
 * create_revision; the owner metadata stored in its value), EX_TEMPFAIL
 * busy (who holds it in *who; no message) or lease lost (message),
 * CS_EX_SIGNAL + N when signal N (INT, TERM, HUP, QUIT) came meanwhile
 * (revoke, then die of it), or another exit status. */
int	cs_etcd_lock(struct cs_etcd *, cs_nsec wait, unsigned long long *token,
	    struct cs_holder *who);
/* Who holds it: 1 held, 0 free, or -(exit status). */
int	cs_etcd_holder(struct cs_etcd *, struct cs_holder *);
/* The lease not yet presumed lost. */
int	cs_etcd_lease_ok(struct cs_etcd *);
/* Stop the keepalive, unlock, revoke the lease, free. NULL: nothing. */
void	cs_etcd_close(struct cs_etcd *);

/* ---- path.c: a path's directory and name ---- */

/* Directory and base name of a path (allocated); "a/b/" is rejected. */
int	cs_split_path(const char *path, char **dir, char **base);
/* "DIR/.", allocated: a directory reached as the shell reaches it for
 * DIR/FILE, its last component a middle one. fs.protected_symlinks
 * guards only the last component of a path; opening DIR itself would
 * refuse a symlinked directory that DIR/FILE goes through. */
char	*cs_dir_dot(const char *dir);
/* The same for the directory holding path; NULL/errno. */
char	*cs_parent_dot(const char *path);

/* ---- commit.c: replace a file atomically (SPEC 1.4) ---- */

enum cs_sync { CS_SYNC_NONE, CS_SYNC_DATA, CS_SYNC_FULL };
int	cs_parse_sync(const char *, enum cs_sync *);

struct cs_temp {
	int	 dirfd;		/* the target's directory */
	int	 fd;		/* the temp file, O_RDWR */
	char	*dir;		/* directory path as given ("." if none) */
	char	*base;		/* the target's name in dir */
	char	 name[256];	/* the temp file's name in dir */
	char	*path;		/* dir/name, for validators */
	int	 slot;		/* cleanup registration */
	bool	 created;	/* name exists and is ours to remove */
};

/*
 * The temp file's name, .BASE.cs-PID-XXXXXX, with BASE shortened to fit
 * NAME_MAX; cs_temp_name_pid reads it back (staleclean's orphans): true
 * with the writer's pid when NAME is one.
 */
void	cs_temp_name(char *buf, size_t len, const char *base, pid_t pid,
	    const char *suffix6);
bool	cs_temp_name_pid(const char *name, pid_t *pid);
/* Six characters of alphabet, drawn at random, and a NUL. */
void	cs_random_suffix(char s[7], const char *alphabet);
#define CS_ALNUM	"abcdefghijklmnopqrstuvwxyz" \
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
/* Create the temp file beside target (O_EXCL; mode 0600 for content,
 * which SPEC 1.4 requires until the commit). */
int	cs_temp_create(struct cs_temp *, const char *target, mode_t,
	    const char *context);
/* A hard link to from (a name in target's directory) under a temp name
 * beside target, to be renamed; -1 (nothing printed) where the
 * filesystem has no hard links. */
int	cs_temp_link(struct cs_temp *, const char *target, const char *from,
	    const char *context);
/*
 * Remove the temp file (if it is still ours) and free t. Safe on a temp
 * already discarded or closed, and on CS_TEMP_NONE: the owner of a temp
 * discards it after any failure, whichever call failed.
 */
void	cs_temp_discard(struct cs_temp *);
#define CS_TEMP_NONE	{ .dirfd = -1, .fd = -1, .slot = -1 }
/* fsync (per sync) the temp file. A failure (74) is final: never fsync
 * twice, never rename; the caller discards t. */
int	cs_temp_sync(struct cs_temp *, enum cs_sync, const char *context);
/* Rename the temp over the target (or over newbase in the same
 * directory); after a failure (73) the caller discards t. */
int	cs_temp_rename(struct cs_temp *, const char *newbase,
	    const char *context);
/* Free t after a successful rename (the file is no longer ours). */
void	cs_temp_close(struct cs_temp *);
/* fdatasync (DATA) or fsync (FULL) fd; nothing for NONE. -1/errno. */
int	cs_sync_fd(int fd, enum cs_sync);
/* Directory fsync with the not-supported rule of SPEC 1.4. */
int	cs_fsync_dir(int dirfd, const char *context);
/* The same for the directory holding path. */
int	cs_fsync_parent(const char *path, const char *context);

/* ---- metadata.c: a file's owner, mode, xattrs and ACLs ---- */

/* Owner, group, mode and exactly the extended attributes (ACLs
 * included) of from_fd (any fd, O_PATH too; st is its fstat) on to_fd:
 * none that from lacks. Warnings for what cannot be kept; 0 or an exit
 * status. */
int	cs_copy_metadata(int from_fd, const struct stat *, int to_fd,
	    const char *context);
/* The temp gets what open(O_CREAT, 0666) would give a new file in its
 * directory: 0666 & ~umask, or the default ACL with its mask. */
int	cs_new_file_metadata(struct cs_temp *, const char *context);

/* ---- resolve.c: symlinks followed as the kernel does ---- */

/*
 * Where a write to path lands (allocated): path itself unless it is a
 * symlink; then the kernel follows it (fs.protected_symlinks applies, for
 * root too: 77) and we read back where it led, or, for a dangling link,
 * the missing name at its end. 0 or an exit status, message printed.
 */
int	cs_follow_links(const char *path, char **out, const char *context);
/* 0 when open(2) with O_CREAT would be allowed on the existing file path
 * (pinned: an fd of it), else 77 (fs.protected_regular: someone else's
 * file in a sticky directory) or 75 when it changed; message printed. */
int	cs_may_create(const char *path, int pinned, const char *context);

/* ---- encode.c: unambiguous output ---- */

/* Whether s is valid UTF-8 (no overlong forms, no surrogates). */
bool	cs_utf8_valid(const void *, size_t);
/* A JSON string, quotes included; invalid UTF-8 bytes as \u00XX. */
void	cs_put_json_string(FILE *, const void *, size_t);
/* A TSV field: tab, newline, CR and backslash as \t \n \r \\. */
void	cs_put_tsv_field(FILE *, const void *, size_t);
/* A CSV field (RFC 4180): quoted when it holds , " CR or LF. */
void	cs_put_csv_field(FILE *, const void *, size_t);
void	cs_put_hex(FILE *, const void *, size_t);
void	cs_put_base64(FILE *, const void *, size_t);
/* A double as the shortest decimal that reads back as it (9.99, 0.1,
 * 1e+300, 5.0); Inf, -Inf. */
void	cs_put_real(FILE *, double);
/* Text made one line in place: NULs as spaces, control bytes as '?'. */
void	cs_one_line(char *, size_t);
/* Terminal columns of UTF-8 text (日本語: 6). */
size_t	cs_display_width(const void *, size_t);

/* ---- rows.c: query results for shells and humans ---- */

enum cs_rows_format { CS_ROWS_TSV, CS_ROWS_CSV, CS_ROWS_JSON,
	CS_ROWS_JSONL, CS_ROWS_TABLE };
enum cs_cell_type { CS_CELL_NULL, CS_CELL_INT, CS_CELL_REAL, CS_CELL_TEXT,
	CS_CELL_BLOB };
/* One typed value; p/len for text (UTF-8) and blobs. */
struct cs_cell {
	enum cs_cell_type type;
	long long	 i;
	double		 r;
	const void	*p;
	size_t		 len;
};
/*
 * A writer of result sets: TSV (escaped, NULL as null), CSV (RFC 4180),
 * JSON (an array per set, [] when empty), JSONL, or a table aligned by
 * display width, whose cells wait in a spool (memory, then disk) until
 * the set ends. Blobs are hex, base64 in JSON; ±Inf is null in JSON.
 */
struct cs_rows {
	FILE		*f;
	enum cs_rows_format format;
	bool		 header;
	const char	*null;
	/* the set being written */
	int		 ncols;
	char		**names;
	unsigned long long nrows;
	unsigned long long kept;	/* table: cells waiting for their widths */
	struct cs_sink	 cells;
	size_t		*width;
};
/* A new set of ncols columns named names (copied). 0, or -1/errno. */
int	cs_rows_begin(struct cs_rows *, int ncols, const char *const *names);
/* One row of ncols cells. 0, or -1/errno when the table spool failed. */
int	cs_rows_put(struct cs_rows *, const struct cs_cell *);
/* The set is done: JSON's closing bracket, the table itself. 0 or -1. */
int	cs_rows_end(struct cs_rows *);

/* ---- fsinfo.c: network filesystems and other views ---- */

/* The name of the network filesystem path (on device dev) is on, or NULL
 * when it is local. */
const char *cs_network_fs(const char *path, dev_t dev);
/* Is path on a filesystem whose locks are the local kernel's alone (a
 * local disk, tmpfs), so that /proc/locks lists all of them? False for
 * network, cluster and FUSE filesystems, and for any not known. */
bool	cs_fs_locks_local(const char *path);
/* --unsafe-shared-fs (or CRASHSAFE_UNSAFE_SHARED_FS=1 in the environment):
 * lock where locks exclude nothing. */
extern bool cs_unsafe_shared_fs;
/* Either of them given? */
bool	cs_shared_fs_allowed(void);
/* The device of fd's superblock, as /proc/locks and mountinfo name it
 * (a btrfs subvolume's st_dev is another); 0 if unknown. */
dev_t	cs_superblock_dev(int fd);
/* 0, or 69 with a message naming context when path's directory is on a
 * filesystem whose locks do not reach its other clients (FUSE network
 * clients such as sshfs), unless the user accepted that (SPEC 1.5). */
int	cs_locks_exclude(const char *path, const char *context);
/* The same for the file open at fd (where a symlink led: the file that
 * was opened, not the link's directory). */
int	cs_locks_exclude_fd(int fd, const char *context);



/* ---- par.c: system calls on several cores ---- */

/* fn(i, ctx) for each i in [0, n), on the caller's thread and on workers
 * made at the first call (one per further core, at most three in all;
 * every signal blocked in them). Returns when all are done. fn must touch
 * nothing but item i and what no other item writes; errno is each
 * thread's own, and the caller's is kept. */
void	cs_par_for(size_t n, void (*fn)(size_t i, void *ctx), void *ctx);

#endif
