# SPDX-License-Identifier: ISC
# Shared setup for the bats suites: every test runs in its own directory
# and calls the built binaries from $CS_BIN.
# shellcheck shell=bash

bats_require_minimum_version 1.5.0
bats_load_library bats-support

: "${CS_BIN:?run the suites through make check}"
: "${CS_UNIT:=$CS_BIN/../obj/unit}"
: "${CS_SHORTIO:=$CS_BIN/../obj/shortio.so}"
# The binaries under test, one name each in every suite (exported: sh -c
# scripts of the tests use them too).
ATOMICAPPEND=$CS_BIN/atomicappend
ATOMICWRITE=$CS_BIN/atomicwrite
RETRY=$CS_BIN/retry
SQLWAL=$CS_BIN/sqlwal
STALECLEAN=$CS_BIN/staleclean
WITHLOCK=$CS_BIN/withlock
export ATOMICAPPEND ATOMICWRITE RETRY SQLWAL STALECLEAN WITHLOCK

common_setup() {
	cd "$BATS_TEST_TMPDIR" || exit 1
	umask 022
}

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root: $1"
}

# Files left behind by the suite's temp-file naming (.NAME.cs-PID-XXXXXX).
temps_in() {
	find "${1:-.}" -maxdepth 1 -name '.*.cs-*' | sort
}

no_temps_left() {
	local left
	left=$(temps_in "${1:-.}")
	[ -z "$left" ] || fail "temp files left behind: $left"
}

# strace with an injected fault; ASan's leak checker cannot run under it.
inject() {
	ASAN_OPTIONS=detect_leaks=0 strace -qq -o /dev/null "$@"
}

# The octal mode of a file.
mode_of() {
	stat -c %a "$1"
}

# True when the binaries are the sanitizer build (make check SAN=1).
sanitized() {
	ldd "$ATOMICWRITE" 2>/dev/null | grep -q libasan
}

# Run a tool with every write(2) it makes cut to at most $1 bytes (the
# shim of make faults, tests/faults/shortio.c), under strace with the
# rest of the arguments: real partial writes, then an injected fault.
short_writes() {
	local max=$1
	shift
	[ -f "$CS_SHORTIO" ] || skip "shortio.so not built (make check builds it)"
	ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 strace -qq -o /dev/null \
	    -E LD_PRELOAD="$CS_SHORTIO" -E SHORTIO_MAX="$max" "$@"
}

# ---- a terminal: an interactive bash in a tmux server of the test's ----

# An interactive bash in a terminal of its own (a tmux server on a socket
# of this test's).
term_start() {
	command -v tmux > /dev/null || skip "tmux not installed"
	TMUX_SOCK=$BATS_TEST_TMPDIR/tmux.sock
	tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 150 -y 40 \
	    "cd '$PWD' && env PS1='$ ' bash --norc --noprofile -i"
}

# Teardown: the test's own tmux server (its own socket) and what runs in it.
term_stop() {
	[ -z "${TMUX_SOCK:-}" ] || tmux -S "$TMUX_SOCK" kill-server 2> /dev/null || true
}

term_keys() {	# KEYS...: as typed (tmux send-keys names: Enter, C-c, C-z)
	tmux -S "$TMUX_SOCK" send-keys "$@"
}

# Wait (10 s at most) until COMMAND succeeds.
await() {
	local _
	for _ in $(seq 200); do "$@" && return 0; sleep 0.05; done
	return 1
}

proc_state() {	# PID: its state letter
	sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2> /dev/null
}

pid_alive() {	# PID: it runs (exists, and is not a zombie)
	local st
	st=$(proc_state "$1")
	[ -n "$st" ] && [ "$st" != Z ]
}

# term_ctrl_z_ignored PREFIX...: at the prompt of term_start, PREFIX runs
# a command that ignores SIGTSTP and reads a line; after Ctrl-Z the line
# typed must still reach it, as it would reach the bare command.
term_ctrl_z_ignored() {
	rm -f ready got
	term_keys "$* sh -c 'trap \"\" TSTP; echo \$\$ > ready; read -r x; echo \"\$x\" > got'" Enter
	await test -s ready
	term_keys C-z
	sleep 0.3
	term_keys "typed" Enter
	await test -s got || fail "Ctrl-Z took the terminal: $(tmux -S "$TMUX_SOCK" capture-pane -p)"
	[ "$(cat got)" = typed ]
}

# Background a command, its pid noted in ./pids for kill_noted; the pid
# in $BG.
bg() {
	"$@" &
	BG=$!
	echo "$BG" >> pids
}

# Teardown: what a test left running in the background (bg, or a pid
# written to ./pids), its children too, stopped or not.
kill_noted() {
	local p
	[ -s pids ] || return 0
	while read -r p; do
		kill -CONT "$p" 2> /dev/null
		pkill -KILL -P "$p" 2> /dev/null
		kill -KILL "$p" 2> /dev/null
	done < pids
	return 0
}

# locked FILE: /proc/locks lists a lock held on FILE; lock_waited FILE:
# a process waits for one (a "->" line). For await: the handshake with a
# holder or a waiter, where a sleep would only hope that it got there.
proc_locks_has() {	# FILE PATTERN
	local ino
	ino=$(stat -c %i "$1" 2> /dev/null) || return 1
	grep -E "$2" /proc/locks | grep -qE "^[^ ]+ .* [0-9a-f]+:[0-9a-f]+:$ino "
}
locked() { proc_locks_has "$1" '^[0-9]+: [A-Z]'; }
lock_waited() { proc_locks_has "$1" '^[0-9]+: -> '; }

# The holders below wait for ./go at most this long (a poll, 10 ms), so
# that a test failing before its `touch go` does not hang the suite; they
# do not keep bats' fd 3 open either.
# shellcheck disable=SC2016 # expanded by the holder's sh
GO_WAIT='i=0; until [ -e go ] || [ "$i" -ge 6000 ]; do sleep 0.01; i=$((i + 1)); done'

# hold_until_go FILE [CMD]: flock(1) FILE until ./go exists, then run CMD
# (sh) still holding it; in the background, its pid in $HELD_BY, and
# returns once the lock is held.
hold_until_go() {
	rm -f go
	flock "$1" sh -c "$GO_WAIT; "'('"${2:-:}"')' 3>&- &
	# shellcheck disable=SC2034 # the caller's
	HELD_BY=$!
	await locked "$1"
}

has_child() {	# PID: it has started a child (for await)
	pgrep -P "$1" > /dev/null
}

no_children() {	# PID: none of its children is left (for await)
	! has_child "$1"
}

# sqlite3_hold DB [SQL]: sqlite3(1) in the background takes DB's write
# lock (BEGIN IMMEDIATE, then SQL) and holds it until ./go exists, then
# commits; its pid in $HELD_BY. Returns once the lock is held.
sqlite3_hold() {
	rm -f go held
	# .bail: no "held" when BEGIN or SQL failed
	{ printf '.bail on\nBEGIN IMMEDIATE;\n%s\n.shell touch held\n' "${2-}"
	  printf '.shell %s\nCOMMIT;\n' "$GO_WAIT"; } |
	    sqlite3 "$1" > /dev/null 3>&- &
	# shellcheck disable=SC2034 # the caller's
	HELD_BY=$!
	await test -e held
}

busy_waiting() {	# PID: asleep in a timed wait (sqlwal's busy handler polls)
	grep -qE 'poll_schedule_timeout|nanosleep' "/proc/$1/wchan" 2> /dev/null
}

posix_locks_of() {	# PID: it holds a POSIX lock (has SQLite's files open)
	grep -qE "^[0-9]+: POSIX +[A-Z]+ +[A-Z]+ +$1 " /proc/locks
}

pid_gone() {	# PID: for await
	! kill -0 "$1" 2> /dev/null
}

state_is() {	# PID LETTER: for await (which runs its arguments anew each time)
	[ "$(proc_state "$1")" = "$2" ]
}

