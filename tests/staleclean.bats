#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# staleclean: SPEC section 4.
# shellcheck disable=SC2016 # sh -c scripts are single-quoted on purpose

load helpers
load hostile

setup() {
	common_setup
	mkdir d
}

teardown() {
	hostile_teardown
}

# A pid that was running a moment ago and is not now.
dead_pid() {
	sh -c 'echo $$'
}

old() {	# make files look a minute old (past the default --min-age)
	touch -h -d '1 minute ago' "$@"
}

# Run staleclean -v on PATH (d/x.pid) in the background (pid $SCPID, output
# in out and err), held by strace for USECS right after its quarantine
# rename; returns once the quarantine file exists, its name in $q.
held_in_quarantine() {	# USECS [PATH]
	command -v strace > /dev/null || skip "no strace"
	# (LeakSanitizer cannot run under ptrace)
	ASAN_OPTIONS=detect_leaks=0 strace -qq -o /dev/null -e trace=renameat2 \
	    -e inject=renameat2:delay_exit="$1":when=1 \
	    "$STALECLEAN" -v --min-age 0 "${2:-d/x.pid}" > out 2> err &
	SCPID=$!
	for _ in $(seq 200); do
		q=$(find d -name '.staleclean-*' | head -n 1)
		[ -n "$q" ] && return 0
		sleep 0.02
	done
	fail "staleclean never quarantined d/x.pid"
}

# The end of a python3 -c holder: say "ready", then hold on until "go".
HOLD_UNTIL_GO='
open("ready", "w").close()
for _ in range(6000):
    if os.path.exists("go"): break
    time.sleep(0.01)'

# end_race STALECLEAN_PID HOLDER_PID: staleclean's status in $race_rc,
# then the holder let go and waited for.
end_race() {
	race_rc=0
	wait "$1" || race_rc=$?
	touch go
	wait "$2"
}

verdict_of() {	# PATH: the verdict staleclean -n -v gives it
	"$STALECLEAN" -n -v "$1" | sed -n 's/^[^:]*: \([a-z]*\) .*/\1/p'
}

# --- pid files and the pid rules ------------------------------------------

@test "pid file of a dead process: stale and removed; of a live one: live and kept" {
	dead_pid > d/dead.pid
	echo $$ > d/live.pid
	run --separate-stderr "$STALECLEAN" -v --min-age 0 d
	[ "$status" -eq 0 ]
	[[ "$output" == *"d/dead.pid: stale (pid "*" not running), removed"* ]]
	[[ "$output" == *"d/live.pid: live (pid $$ running)"* ]]
	[ ! -e d/dead.pid ]
	[ -e d/live.pid ]
}

@test "silent by default; -n decides and removes nothing; --check exits 1 on stale" {
	dead_pid > d/x.pid
	old d/x.pid
	run --separate-stderr "$STALECLEAN" -n d
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	[ -e d/x.pid ]
	run "$STALECLEAN" --check d
	[ "$status" -eq 1 ]
	[ -e d/x.pid ]
	rm d/x.pid
	run "$STALECLEAN" --check d
	[ "$status" -eq 0 ]
}

@test "pid file formats: PID, PID and more lines, PID@HOST, key=value" {
	p=$(dead_pid)
	printf '%s\n' "$p" > d/a.pid
	printf '%s\nsomething else\n' "$p" > d/b.pid
	printf '%s@%s\n' "$p" "$(hostname)" > d/c.pid
	printf 'pid=%s\nhost=%s\n' "$p" "$(hostname)" > d/d.lock
	old d/*
	"$STALECLEAN" d
	[ -z "$(ls d)" ]
}

@test "forged pids 0, 1 and beyond pid_max prove nothing: unknown, kept" {
	echo 0 > d/zero.pid
	echo 1 > d/one.pid
	echo 99999999 > d/huge.pid
	old d/*
	run "$STALECLEAN" -v d
	[[ "$output" == *"zero.pid: unknown"* && "$output" == *"one.pid: unknown"* && "$output" == *"huge.pid: unknown"* ]]
	[ "$(find d -type f | wc -l)" -eq 3 ]
}

@test "pid reuse: a running pid with another start time is stale" {
	sleep 30 &
	s=$!
	printf 'pid=%s\nstarttime=1\n' "$s" > d/reused.lock
	printf 'pid=%s\nstarttime=%s\n' "$s" "$(awk '{ print $22 }' "/proc/$s/stat")" > d/same.lock
	old d/reused.lock d/same.lock
	run "$STALECLEAN" -v d
	kill "$s"
	[[ "$output" == *"reused.lock: stale (pid $s reused (start time differs))"* ]]
	[[ "$output" == *"same.lock: live"* ]]
	[ -e d/same.lock ] && [ ! -e d/reused.lock ]
}

@test "a running pid without a start time is live, whatever the file's times say (NTP step)" {
	sh -c 'echo $$ > d/daemon.pid; exec sleep 60' &
	s=$!
	while [ ! -s d/daemon.pid ]; do sleep 0.05; done
	# what a forward clock step after boot makes it look like
	touch -d '3 days ago' d/daemon.pid
	# and a file older than the boot itself
	echo "$s" > d/preboot.pid
	touch -d "@$(($(awk '/^btime/ { print $2 }' /proc/stat) - 3600))" d/preboot.pid
	run "$STALECLEAN" -v d
	kill "$s"
	[ "$status" -eq 0 ]
	[[ "$output" == *"daemon.pid: live (pid $s running)"* ]]
	[[ "$output" == *"preboot.pid: live (pid $s running)"* ]]
	[ "$(cat d/daemon.pid)" = "$s" ] && [ "$(cat d/preboot.pid)" = "$s" ]
}

@test "a zombie owner is dead" {
	# a child that exits while its parent never reaps it
	bash -c 'sleep 0.1 & echo $! > zpid; exec sleep 30' &
	parent=$!
	await test -s zpid
	z=$(cat zpid)
	await state_is "$z" Z
	echo "$z" > d/z.pid
	old d/z.pid
	run "$STALECLEAN" -v d
	kill "$parent"
	[[ "$output" == *"z.pid: stale (pid $z is a zombie)"* ]]
}

@test "EPERM from kill(pid, 0) means alive" {
	need_root "run as another user"
	sleep 30 &
	s=$!
	echo "$s" > d/root.pid
	chmod 777 d
	run setpriv --reuid=65534 --regid=65534 --clear-groups -- "$STALECLEAN" -n -v --min-age 0 d
	kill "$s"
	[[ "$output" == *"root.pid: live"* ]]
}

@test "another host: unknown until --max-age; an earlier boot: stale" {
	printf 'pid=%s\nhost=elsewhere\n' $$ > d/foreign.lock
	printf 'pid=%s\nboot_id=00000000-0000-0000-0000-000000000000\n' $$ > d/oldboot.lock
	old d/*
	run "$STALECLEAN" -v -n d
	[[ "$output" == *"foreign.lock: unknown (owned on host elsewhere)"* ]]
	[[ "$output" == *"oldboot.lock: stale (written in an earlier boot)"* ]]
	touch -d '1 hour ago' d/foreign.lock
	run "$STALECLEAN" -v -n d
	[[ "$output" == *"foreign.lock: stale (host elsewhere, older than max-age)"* ]]
}

# --- lock files: held, open, or neither -----------------------------------

@test "lock files: held by flock or by fcntl is live, whatever the text says" {
	dead_pid > d/flocked.lock
	dead_pid > d/fcntl.lock
	old d/*
	flock d/flocked.lock sleep 30 &
	f=$!
	python3 -c 'import fcntl, time, sys; f = open(sys.argv[1], "r+"); fcntl.lockf(f, fcntl.LOCK_EX); open(sys.argv[2], "w").close(); time.sleep(30)' d/fcntl.lock ready &
	p=$!
	await test -e ready
	await locked d/flocked.lock
	run "$STALECLEAN" -v --max-age 0 --min-age 0 d
	kill "$f" "$p"
	# the holder is named: the pid /proc/locks gives
	[[ "$output" == *"flocked.lock: live (flock held by pid $f)"* ]]
	[[ "$output" == *"fcntl.lock: live (fcntl lock held by pid $p)"* ]]
	[ -e d/flocked.lock ]
	[ -e d/fcntl.lock ]
}

@test "a lock file open in any process (not yet locked) is live" {
	: > d/opened.lock
	old d/opened.lock
	# shellcheck disable=SC2217 # holding it open is the point
	sleep 30 < d/opened.lock &
	s=$!
	run "$STALECLEAN" -v --max-age 0 d
	kill "$s"
	[[ "$output" == *"opened.lock: live (open in a process (pid $s))"* ]]
	[ -e d/opened.lock ]
}

@test "--check reads /proc/locks: it never makes another program's flock -n fail" {
	dead_pid > d/job.lock		# judged all the way: a dead owner
	old d/job.lock
	# shellcheck disable=SC2046 # the same operand, many times
	( while [ ! -e stop ]; do
		"$STALECLEAN" --check -q --min-age 0 $(printf 'd/job.lock %.0s' $(seq 20)) || true
		: > looping
	done ) &
	loop=$!
	await test -e looping
	fails=0
	for _ in $(seq 300); do flock -n d/job.lock true || fails=$((fails + 1)); done
	touch stop
	wait "$loop"
	[ "$fails" -eq 0 ] || fail "$fails of 300 flock -n calls failed beside --check"
	[ -e d/job.lock ]
}

@test "a hung FUSE mount does not hang it: open files come from fdinfo, never stat()" {
	mkdir src mnt
	echo data > src/held
	bindfs_up src mnt
	# an unrelated process holds a file open on the FUSE mount
	# shellcheck disable=SC2217 # holding it open is the point
	sleep 300 < mnt/held &
	holder=$!
	p=$(dead_pid)
	echo "$p" > d/a.pid
	old d/a.pid
	kill -STOP "$BINDFS_PID"
	sleep 1.5			# past FUSE's attribute cache
	rc=0
	timeout 20 "$STALECLEAN" -v --min-age 0 d/a.pid > out 2>&1 || rc=$?
	kill -CONT "$BINDFS_PID"
	kill "$holder"
	wait "$holder" || true
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat out)"
	[ "$(cat out)" = "d/a.pid: stale (pid $p not running), removed" ]
	[ ! -e d/a.pid ]
}

# --- /proc, mounts and namespaces -----------------------------------------

@test "one /proc scan per run: 200 removals look at /proc twice (judging, and once after quarantine)" {
	command -v strace > /dev/null || skip "no strace"
	p=$(dead_pid)
	for i in $(seq 200); do echo "$p" > "d/$i.pid"; done
	old d/*
	# (LeakSanitizer cannot run under ptrace)
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=openat -o trace "$STALECLEAN" -v d > out
	[ "$(grep -c ', removed$' out)" -eq 200 ]
	[ -z "$(ls -A d)" ]
	n=$(grep -c 'openat(AT_FDCWD, "/proc", ' trace)
	[ "$n" -eq 2 ] || fail "/proc was scanned $n times for 200 removals"
}

@test "-r never enters a bind mount of the same filesystem (mount ids, not st_dev)" {
	need_root
	mkdir -p top/sub outside
	p=$(dead_pid)
	echo "$p" > outside/other.pid
	echo "$p" > top/mine.pid
	old outside/other.pid top/mine.pid
	run unshare -m --propagation private sh -c \
	    'mount --bind "$1" "$2" && "$3" -v -r "$4"' sh \
	    "$PWD/outside" "$PWD/top/sub" "$STALECLEAN" top
	[ "$status" -eq 0 ]
	[ "$output" = "top/mine.pid: stale (pid $p not running), removed" ]
	[ -e outside/other.pid ]
	[ ! -e top/mine.pid ]
}

@test "btrfs subvolume: a flock is found in /proc/locks by its superblock, not by st_dev" {
	loopfs_up btrfs mnt
	btrfs -q subvolume create mnt/sv
	[ "$(stat -c %d mnt/sv)" != "$(stat -c %d mnt)" ]	# what makes it hard
	dead_pid > mnt/sv/job.lock
	old mnt/sv/job.lock
	python3 -c 'import fcntl, sys, time
f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); time.sleep(30)' mnt/sv/job.lock &
	f=$!
	for _ in $(seq 100); do grep -q " $f " /proc/locks && break; sleep 0.05; done
	run "$STALECLEAN" -v --check --min-age 0 mnt/sv
	kill "$f"
	wait "$f" || true
	[ "$status" -eq 0 ]
	[ "$output" = "mnt/sv/job.lock: live (flock held by pid $f)" ]
}

@test "a file open through another mount namespace's own mount is open (its mountinfo is read)" {
	need_root
	mkdir -p private
	dead_pid > d/x.pid
	old d/x.pid
	# a mount only that namespace has; the holder opens x.pid through it
	unshare -m --propagation private sh -c \
	    'mount --bind "$1" "$2" && exec sleep 30 < "$2/x.pid"' sh \
	    "$PWD/d" "$PWD/private" &
	h=$!
	for _ in $(seq 100); do
		[ "$(readlink "/proc/$h/fd/0" 2> /dev/null)" = "$PWD/private/x.pid" ] && break
		sleep 0.05
	done
	run "$STALECLEAN" -v --min-age 0 d
	kill "$h"
	[ "$output" = "d/x.pid: live (open in a process (pid $h))" ]
	[ -e d/x.pid ]
}

@test "in a container's pid namespace: a POSIX lock from outside is seen, a flock is never removed" {
	need_root
	dead_pid > d/posix.lock
	dead_pid > d/flock.lock
	: > d/empty.lock
	old d/*
	python3 -c 'import fcntl, sys, time
p = open(sys.argv[1], "r+"); fcntl.lockf(p, fcntl.LOCK_EX)
f = open(sys.argv[2]); fcntl.flock(f, fcntl.LOCK_EX)
e = open(sys.argv[3], "r+"); fcntl.lockf(e, fcntl.LOCK_EX)
time.sleep(30)' d/posix.lock d/flock.lock d/empty.lock &
	h=$!
	for _ in $(seq 100); do [ "$(grep -c " $h " /proc/locks)" -eq 3 ] && break; sleep 0.05; done
	# its /proc/locks lists none of them: they are the host's (OFD locks,
	# such as etcd's, are listed in every namespace: not ours)
	run unshare -p -f --mount-proc sh -c 'cat /proc/locks > ns.locks; "$1" -v --min-age 0 d' sh "$STALECLEAN"
	kill "$h"
	wait "$h" || true
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	for f in d/posix.lock d/flock.lock d/empty.lock; do
		if grep -q ":$(stat -c %i "$f") " ns.locks; then
			fail "the namespace's /proc/locks lists $f"
		fi
	done
	grep -Fqx "d/empty.lock: live (fcntl lock held)" <<< "$output"
	grep -Fqx "d/posix.lock: live (fcntl lock held)" <<< "$output"
	grep -Fqx "d/flock.lock: live (flock held (found when removing))" <<< "$output"
	[ -e d/posix.lock ] && [ -e d/flock.lock ] && [ -e d/empty.lock ]
}

# --- kinds: lock files, directories, symlinks, git locks, orphans ---------

@test "a lock file without owner metadata is kept, whatever its age (empty, or a dependency manifest)" {
	: > d/plain.lock
	mkdir -p d/app/.cargo
	printf '# This file is automatically @generated by Cargo.\nversion = 3\n' > d/app/Cargo.lock
	printf '# yarn lockfile v1\n' > d/app/yarn.lock
	printf 'GEM\n  specs:\n' > d/app/Gemfile.lock
	printf '{ "nodes": {} }\n' > d/app/flake.lock
	printf '[[package]]\nname = "x"\n' > d/app/poetry.lock
	touch -d '2 days ago' d/plain.lock d/app/*.lock
	run "$STALECLEAN" -v -r -a 10s --min-age 0 d
	[ "$status" -eq 0 ]
	[[ "$output" == *"plain.lock: unknown (unheld, empty, no owner recorded)"* ]]
	[[ "$output" == *"Cargo.lock: unknown (no owner recorded: not a lock file)"* ]]
	[ -e d/plain.lock ]
	[ "$(find d/app -maxdepth 1 -name "*.lock" | wc -l)" -eq 5 ]
	[ "$(head -n 1 d/app/Cargo.lock)" = "# This file is automatically @generated by Cargo." ]
}

@test "--orphans keeps atomicwrite -b's backup link while its writer runs (ctime, not mtime)" {
	sleep 60 &
	s=$!
	echo v1 > d/conf~
	# the hard link atomicwrite -b makes keeps the old file's mtime
	touch -d '3 days ago' d/conf~
	ln d/conf~ "d/.conf~.cs-$s-AbC123"
	run "$STALECLEAN" -v --orphans d
	[[ "$output" == *".conf~.cs-$s-AbC123: unknown (younger than min-age)"* ]]
	run "$STALECLEAN" -v --orphans --min-age 0 d
	kill "$s"
	[[ "$output" == *".conf~.cs-$s-AbC123: live (pid $s running)"* ]]
	[ -e "d/.conf~.cs-$s-AbC123" ]
}

@test "a lock left by atomicwrite -l is stale once its writer is gone" {
	echo 1 | "$ATOMICWRITE" -l d/f
	old d/f.lock
	run "$STALECLEAN" -v d
	[[ "$output" == *"f.lock: stale (pid "*" not running), removed"* ]]
	[ -e d/f ]
}

@test "mkdir lock directories: a pid file inside follows the pid rules; empty follows age" {
	mkdir d/dead.lock d/live.lock d/empty.lock d/full.lock
	dead_pid > d/dead.lock/pid
	echo $$ > d/live.lock/pid
	touch d/full.lock/a d/full.lock/b
	touch -d '1 hour ago' d/empty.lock
	# Not backdated: a pid file older than its live process means the pid
	# was reused (SPEC 4.2), so --min-age 0 instead.
	run "$STALECLEAN" -v --min-age 0 d
	[ ! -e d/dead.lock ]
	[ -d d/live.lock ]
	[ -d d/full.lock ]
	[ ! -e d/empty.lock ]
	[ -e d/full.lock/a ]
}

@test "symlink locks: Emacs .#file and Firefox-style, by pid and boot" {
	p=$(dead_pid)
	btime=$(awk '/^btime/ { print $2 }' /proc/stat)
	ln -s "user@$(hostname).$p:$btime" d/.#dead
	ln -s "user@$(hostname).$$:$btime" d/.#live
	ln -s "user@$(hostname).$$:12345" d/.#oldboot
	ln -s "10.1.2.3:+$p" d/parent.lock
	run "$STALECLEAN" -v --min-age 0 d
	[ ! -L d/.#dead ]
	[ -L d/.#live ]
	[ ! -L d/.#oldboot ]
	[ ! -L d/parent.lock ]
	[[ "$output" == *".#oldboot: stale (written in an earlier boot)"* ]]
}

@test "symlink locks: a pid that does not fit is no pid (never wrapped onto a dead one)" {
	p=$(dead_pid)
	ln -s "user@$(hostname).$((p + 4294967296))" d/.#wrapped
	ln -s "10.1.2.3:+$((p + 4294967296))" d/wrapped.lock
	ln -s "user@$(hostname).${p}x" d/.#trailing
	old d/.#wrapped d/wrapped.lock d/.#trailing
	run "$STALECLEAN" -v d
	[ "$status" -eq 0 ]
	[ -L d/.#wrapped ]
	[ -L d/wrapped.lock ]
	[ -L d/.#trailing ]
	[[ "$output" == *".#wrapped: unknown (a symlink that is not a lock)"* ]]
}

@test "git locks: stale when old and open by no one" {
	mkdir -p repo/.git/refs/heads
	: > repo/.git/index.lock
	: > repo/.git/refs/heads/main.lock
	: > repo/.git/young.lock
	old repo/.git/index.lock repo/.git/refs/heads/main.lock repo/.git/young.lock
	touch -d '1 hour ago' repo/.git/index.lock repo/.git/refs/heads/main.lock
	# shellcheck disable=SC2217
	sleep 30 < repo/.git/refs/heads/main.lock &
	s=$!
	run "$STALECLEAN" -v -r repo
	kill "$s"
	[ ! -e repo/.git/index.lock ]
	[ -e repo/.git/refs/heads/main.lock ]
	[ -e repo/.git/young.lock ]
}

@test "orphan temp files of this suite: stale once the writer is gone; --orphans" {
	p=$(dead_pid)
	: > "d/.conf.cs-$p-AbCdEf"
	: > "d/.live.cs-$$-AbCdEf"
	dead_pid > d/other.pid
	run "$STALECLEAN" -v --orphans --min-age 0 d
	[ ! -e "d/.conf.cs-$p-AbCdEf" ]
	[ -e "d/.live.cs-$$-AbCdEf" ]
	[ -e d/other.pid ]
}

@test "an orphan temp someone has open is live, with -n and removing; also its writer's in another pid namespace" {
	p=$(dead_pid)
	o="d/.conf.cs-$p-AbCdEf"
	echo data > "$o"
	sh -c "exec sleep 60" < "$o" &
	h=$!
	run --separate-stderr "$STALECLEAN" -n -v --orphans --min-age 0 "$o"
	[ "$status" -eq 0 ]
	[ "$output" = "$o: live (open in a process (pid $h))" ]
	run --separate-stderr "$STALECLEAN" -v --orphans --min-age 0 d
	kill "$h"
	[ "$status" -eq 0 ]
	[ "$output" = "$o: live (open in a process (pid $h))" ]
	[ -z "$stderr" ]
	[ "$(cat "$o")" = data ]
	[ -z "$(find d -name '.staleclean-*')" ]
	rm "$o"
	# The pid in a temp's name is its writer's in the writer's pid
	# namespace (a container writing into a host directory): here it may
	# name no process. Open, it is live, and not moved aside: the writer
	# renames it to its target when done.
	need_root "a pid namespace"
	echo old > d/out
	unshare -fp --mount-proc sh -c 'echo 30000 > /proc/sys/kernel/ns_last_pid
		(sleep 3; echo new) | "$1" d/out' sh "$ATOMICWRITE" &
	w=$!
	temp_there() { [ -n "$(find d -name '.out.cs-*')" ]; }
	await temp_there
	t=$(find d -name '.out.cs-*')
	run --separate-stderr "$STALECLEAN" -v --orphans --min-age 0 d
	[ "$status" -eq 0 ]
	[[ "$output" == "$t: live ("* ]]
	wait "$w"
	[ "$(cat d/out)" = new ]
	[ -z "$(find d -name '.out.cs-*' -o -name '.staleclean-*')" ]
}

@test "--orphans: other candidates are not judged, nor (with -r) descended into" {
	p=$(dead_pid)
	: > "d/.conf.cs-$p-AbCdEf"
	echo "$p" > d/other.pid
	mkdir d/dir.lock		# a candidate's name: never descended
	: > "d/dir.lock/.x.cs-$p-AbCdEf"
	old d/*
	run --separate-stderr "$STALECLEAN" -v -r --orphans --min-age 0 d
	[ "$status" -eq 0 ]
	[ "$output" = "d/.conf.cs-$p-AbCdEf: stale (pid $p not running), removed" ]
	[ -z "$stderr" ]
	[ -e d/other.pid ]
	[ -e "d/dir.lock/.x.cs-$p-AbCdEf" ]
}

@test "atomicwrite killed by -9 leaves an orphan that staleclean removes" {
	echo old > d/f
	mkfifo in
	"$ATOMICWRITE" d/f < in &
	pid=$!
	exec {w}> in
	echo partial >&"$w"
	for _ in $(seq 100); do [ -n "$(temps_in d)" ] && break; sleep 0.05; done
	kill -9 "$pid"
	wait "$pid" || true
	exec {w}>&-
	[ -n "$(temps_in d)" ]
	run "$STALECLEAN" -v --orphans --min-age 0 d
	[ -z "$(temps_in d)" ]
	[ "$(cat d/f)" = old ]
}

# --- what is looked at: age, patterns, depth, links -----------------------

@test "--min-age: nothing younger is touched" {
	dead_pid > d/fresh.pid
	run "$STALECLEAN" -v d
	[[ "$output" == *"fresh.pid: unknown (younger than min-age)"* ]]
	[ -e d/fresh.pid ]
	run "$STALECLEAN" -v --min-age 0 d
	[ ! -e d/fresh.pid ]
}

@test "-p patterns; -r descends one filesystem only; depth is capped" {
	mkdir -p d/sub/deeper
	dead_pid > d/sub/deeper/x.pid
	dead_pid > d/sub/app.state
	old d/sub/deeper/x.pid d/sub/app.state
	"$STALECLEAN" d
	[ -e d/sub/deeper/x.pid ]
	"$STALECLEAN" -r d
	[ ! -e d/sub/deeper/x.pid ]
	[ -e d/sub/app.state ]
	"$STALECLEAN" -r -p '*.state' d
	[ ! -e d/sub/app.state ]
}

@test "a tmpfs mounted inside the tree is not entered" {
	need_root "tmpfs mount"
	mkdir d/mnt
	run unshare -m --propagation private sh -c '
		mount -t tmpfs tmpfs d/mnt &&
		sh -c "echo \$\$" > d/mnt/x.pid && touch -d "1 hour ago" d/mnt/x.pid &&
		"$1" -r d && ls d/mnt' sh "$STALECLEAN"
	[ "$status" -eq 0 ]
	[ "$output" = x.pid ]
}

@test "a symlink to elsewhere is never followed: its target survives" {
	mkdir elsewhere
	dead_pid > elsewhere/victim.pid
	old elsewhere/victim.pid
	ln -s ../elsewhere d/link.lock
	ln -s ../elsewhere/victim.pid d/target.pid
	ln -s ../elsewhere d/dirlink
	old d/link.lock d/target.pid d/dirlink
	run "$STALECLEAN" -v -r --max-age 0 d
	[ -e elsewhere/victim.pid ]
	[[ "$output" != *victim* ]]
}

@test "a FIFO named x.lock does not hang it, and is kept" {
	mkfifo d/x.lock
	old d/x.lock
	run timeout 10 "$STALECLEAN" -v --max-age 0 d
	[ "$status" -eq 0 ]
	[[ "$output" == *"x.lock: unknown (not a regular file, directory or symlink)"* ]]
	[ -p d/x.lock ]
}

# --- reports --------------------------------------------------------------

@test "--json: one object per candidate with the fields of SPEC 4" {
	dead_pid > d/a.pid
	echo $$ > d/b.pid
	run "$STALECLEAN" -n --json --min-age 0 d
	[ "$status" -eq 0 ]
	python3 - "$output" <<'PY'
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(rows) == 2, rows
for r in rows:
    assert set(r) == {"path", "kind", "verdict", "reason", "pid", "host", "age_s", "action"}, r
v = {r["path"].split("/")[-1]: r for r in rows}
assert v["a.pid"]["verdict"] == "stale" and v["a.pid"]["action"] == "would remove"
assert v["b.pid"]["verdict"] == "live" and v["b.pid"]["kind"] == "pid-file"
assert 0 <= v["a.pid"]["age_s"] < 60
PY
}

@test "a symlinked operand (/var/lock -> /run/lock) is followed; links below it are not" {
	mkdir real elsewhere
	dead_pid > real/a.pid
	dead_pid > elsewhere/b.pid
	touch -d '1 hour ago' real/a.pid elsewhere/b.pid
	ln -s real locks
	ln -s ../elsewhere real/sub
	run "$STALECLEAN" -v -r locks
	[ "$status" -eq 0 ]
	[[ "$output" == *"locks/a.pid: stale (pid "*" not running), removed"* ]]
	[ ! -e real/a.pid ]
	[ -e elsewhere/b.pid ]
	[ -L real/sub ] && [ -L locks ]
}

@test "protected_symlinks: nobody's link in a sticky dir, given as the operand, is an error (77), not a link judged in its stead" {
	protect_symlinks
	sticky_dir pub
	mkdir real
	dead_pid > real/a.pid
	touch -d '1 hour ago' real/a.pid
	symlink_as_nobody "$PWD/real" pub/locks
	run --separate-stderr "$STALECLEAN" -v pub/locks
	[ "$status" -eq 77 ]
	[ "$stderr" = "staleclean: pub/locks: Permission denied" ]
	[ -z "$output" ]
	[ -e real/a.pid ] && [ -L pub/locks ]
	# as with a trailing slash
	run --separate-stderr "$STALECLEAN" -v pub/locks/
	[ "$status" -eq 77 ]
	# a dangling link is still a link to judge (not a lock: kept)
	ln -s nowhere gone
	run "$STALECLEAN" -v gone
	[ "$status" -eq 0 ]
	[ -L gone ]
}

# --- hostile environments and races ---------------------------------------

@test "sshfs: a lock held through another client looks unheld here, so it is refused (69)" {
	mkdir export
	sshfs_up "$PWD/export" "$PWD/m1" "$PWD/m2"
	printf 'pid=%s\n' "$(dead_pid)" > export/job.lock
	touch -d '1 hour ago' export/job.lock
	# held through the first client, for as long as the test needs
	flock m1/job.lock sleep 60 &
	holder=$!
	sleep 0.5
	run --separate-stderr "$STALECLEAN" -v m2
	[ "$status" -eq 69 ]
	[ "$stderr" = "staleclean: m2: on fuse.sshfs, whose locks do not reach its other clients: a lock here excludes nothing (--unsafe-shared-fs to go on anyway)" ]
	[ -e export/job.lock ]
	# forced, it shows why: the lock held through m1 is invisible from m2
	run "$STALECLEAN" -n -v --unsafe-shared-fs m2
	kill "$holder"
	[[ "$output" == *"m2/job.lock: stale"* ]]
	[ -e export/job.lock ]
}

@test "--json: a name that is not UTF-8 gets path_hex, so two names never look alike" {
	dead_pid > "d/caf$(printf '\303\251').pid"
	dead_pid > "d/caf$(printf '\351').pid"
	run "$STALECLEAN" -n --json --min-age 0 d
	[ "$status" -eq 0 ]
	python3 - "$output" <<'PY'
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(rows) == 2, rows
hexed = [r for r in rows if "path_hex" in r]
plain = [r for r in rows if "path_hex" not in r]
assert len(hexed) == 1 and len(plain) == 1, rows
assert plain[0]["path"] == "d/caf\u00e9.pid", plain
assert bytes.fromhex(hexed[0]["path_hex"]) == b"d/caf\xe9.pid", hexed
PY
}

@test "a quarantined file that cannot be put back is an error naming it (73), never 'put back'" {
	p=$(dead_pid)
	echo "$p" > d/x.pid
	old d/x.pid
	held_in_quarantine 3000000
	# meanwhile: someone opens the quarantined file (so the second look
	# finds it in use) and a newcomer takes the name
	exec 7< "$q"
	echo newcomer > d/x.pid
	rc=0
	wait "$SCPID" || rc=$?
	exec 7<&-
	[ "$rc" -eq 73 ]
	[ "$(cat err)" = "staleclean: d/x.pid: changed during removal, and it cannot be put back: it is now $q: File exists" ]
	[ "$(cat out)" = "d/x.pid: unknown (changed during removal, left as $q), failed" ]
	[ "$(cat d/x.pid)" = newcomer ]
	[ "$(cat "$q")" = "$p" ]
}

@test "race: an orphan temp flocked in quarantine through a mapping alone (no fd) is put back" {
	# An orphan temp is removed without being opened: /proc/locks, read
	# again with the second /proc scan, must find a lock that no fd shows
	p=$(dead_pid)
	o="d/.conf.cs-$p-AbCdEf"
	echo data > "$o"
	old "$o"
	held_in_quarantine 3000000 "$o"
	rm -f go ready
	# (libc's mmap: Python's own keeps a dup of the fd)
	python3 -c 'import ctypes, fcntl, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
    ctypes.c_int, ctypes.c_int, ctypes.c_long]
fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX)
assert libc.mmap(None, 4096, 1, 1, fd, 0) not in (None, ctypes.c_void_p(-1).value)
os.close(fd)
assert not [n for n in os.listdir("/proc/self/fd")
    if os.path.realpath("/proc/self/fd/" + n) == os.path.realpath(sys.argv[1])]
'"$HOLD_UNTIL_GO" "$q" 3>&- &
	h=$!
	await test -e ready
	end_race "$SCPID" "$h"
	[ "$race_rc" -eq 0 ]
	[ "$(cat out)" = "$o: unknown (changed during removal, put back)" ]
	[ -z "$(cat err)" ]
	[ "$(cat "$o")" = data ]
	[ -z "$(find d -name '.staleclean-*')" ]
}

@test "race: an orphan temp rewritten, or linked elsewhere, while in quarantine is put back" {
	p=$(dead_pid)
	o="d/.conf.cs-$p-AbCdEf"
	echo data > "$o"
	held_in_quarantine 2000000 "$o"
	echo more >> "$q"
	wait "$SCPID"
	[ "$(cat out)" = "$o: unknown (changed during removal, put back)" ]
	[ "$(cat "$o")" = "$(printf 'data\nmore')" ]
	held_in_quarantine 2000000 "$o"
	ln "$q" d/kept
	wait "$SCPID"
	[ "$(cat out)" = "$o: unknown (changed during removal, put back)" ]
	[ "$o" -ef d/kept ]
	[ -z "$(find d -name '.staleclean-*')" ]
}

@test "race: a POSIX lock taken after /proc/locks was read is found when removing, and the file kept" {
	command -v strace > /dev/null || skip "no strace"
	printf 'pid=%s\n' "$(dead_pid)" > d/job.lock
	old d/job.lock
	# held at the pid rules' kill(2): /proc/locks has been read, and the
	# file opened to read its owner (judging asks no F_OFD_GETLK of a
	# local filesystem's file: the removal's own two do)
	# (LeakSanitizer cannot run under ptrace)
	ASAN_OPTIONS=detect_leaks=0 strace -qq -o /dev/null -e trace=kill \
	    -e inject=kill:delay_enter=3000000:when=1 \
	    "$STALECLEAN" -v --min-age 0 d/job.lock > out 2> err &
	st=$!
	await has_child "$st"
	sc=$(pgrep -P "$st")
	target=$(realpath d/job.lock)
	has_it_open() {
		local f
		for f in /proc/"$sc"/fd/*; do
			[ "$(readlink "$f")" = "$target" ] && return 0
		done
		return 1
	}
	await has_it_open
	rm -f go ready
	python3 -c 'import fcntl, os, sys, time
f = open(sys.argv[1], "r+"); fcntl.lockf(f, fcntl.LOCK_EX)
'"$HOLD_UNTIL_GO" d/job.lock 3>&- &
	h=$!
	await test -e ready
	end_race "$st" "$h"
	[ "$race_rc" -eq 0 ]
	[ "$(cat out)" = "d/job.lock: live (fcntl lock held (found when removing))" ]
	[ -z "$(cat err)" ]
	[ -e d/job.lock ]
	[ -z "$(find d -name '.staleclean-*')" ]
}

@test "race: atomicwrite --lock increments survive a tight staleclean loop (300)" {
	echo 0 > d/counter
	# A lock that a newcomer re-created while the old one was in
	# quarantine cannot be put back: an error naming where it is (73),
	# never a silent "put back".
	( while [ ! -e stop ]; do
		rc=0
		"$STALECLEAN" -q --max-age 0 --min-age 0 d 2>> cleaner.err || rc=$?
		[ "$rc" -eq 0 ] || [ "$rc" -eq 73 ] || exit "$rc"
		# the file it names is there (looked at now: the loop's next
		# run judges a quarantine whose staleclean is gone, as it may)
		if [ "$rc" -eq 73 ]; then
			named=$(tail -n 1 cleaner.err | sed -n 's/.*it is now \(d\/\.staleclean-[0-9]*-[a-z]*\): File exists$/\1/p')
			[ -n "$named" ] && [ -e "$named" ] || echo "named '$named', not there" >> cleaner.bad
		fi
	done ) &
	cleaner=$!
	pids=()
	for _ in 1 2; do
		( for _ in $(seq 150); do
			"$ATOMICWRITE" -l -t 60 -S none d/counter -- sh -c 'echo $(( $(cat d/counter) + 1 ))' || exit 1
		done ) &
		pids+=($!)
	done
	wait "${pids[@]}"
	touch stop
	wait "$cleaner"
	[ "$(cat d/counter)" = 300 ]
	# every failure said so, naming a file that was there
	while IFS= read -r line; do
		[[ "$line" =~ ^"staleclean: d/counter.lock: changed during removal, and it cannot be put back: it is now "(d/\.staleclean-[0-9]+-[a-z]+)": File exists"$ ]] ||
			fail "unexpected: $line"
	done < cleaner.err
	[ ! -e cleaner.bad ] || fail "$(cat cleaner.bad)"
}

@test "bindfs (no RENAME_NOREPLACE): stale entries are still removed, through our own placeholder" {
	mkdir src
	dead_pid > src/dead.pid
	echo $$ > src/live.pid
	touch -d '1 hour ago' src/dead.pid src/live.pid
	bindfs_up "$PWD/src" "$PWD/b"
	# a lock held through src (the other view) is invisible from b:
	# refused unless asked for
	run --separate-stderr "$STALECLEAN" -v b
	[ "$status" -eq 69 ]
	[ "$stderr" = "staleclean: b: on a FUSE filesystem, whose files are also reached through another view, where locks and opens are invisible here (--unsafe-shared-fs to go on anyway)" ]
	[ -e src/dead.pid ]
	run --separate-stderr "$STALECLEAN" -v --unsafe-shared-fs b
	[ "$status" -eq 0 ]
	[[ "$output" == *"b/dead.pid: stale (pid "*" not running), removed"* ]]
	[ ! -e src/dead.pid ]
	[ -e src/live.pid ]
	[ -z "$(find src -name '.staleclean-*')" ]
}

@test "overlay: a lock held through the merged view is invisible in a layer, so layers and the overlay are refused (69)" {
	need_root
	mkdir -p ov/lower ov/upper ov/work ov/merged
	p=$(dead_pid)
	echo "$p" > ov/upper/app.pid
	old ov/upper/app.pid
	# (absolute layer paths: mountinfo shows them as they were given)
	run unshare -m --propagation private sh -c '
		mount -t overlay overlay -o "lowerdir=$PWD/ov/lower,upperdir=$PWD/ov/upper,workdir=$PWD/ov/work" ov/merged &&
		flock -n ov/merged/app.pid sleep 30 > /dev/null 2>&1 3>&- &
		f=$!
		sleep 0.5
		"$1" -v ov/upper; echo "upper $?"
		"$1" -v ov/merged; echo "merged $?"
		pkill -P "$f"; kill "$f" 2> /dev/null' sh "$STALECLEAN"
	[[ "$output" == *"staleclean: ov/upper: on a layer of the overlay at $PWD/ov/merged, whose files are also reached"* ]]
	[[ "$output" == *"upper 69"* ]]
	[[ "$output" == *"staleclean: ov/merged: on an overlay filesystem, whose"* ]]
	[[ "$output" == *"merged 69"* ]]
	[ -e ov/upper/app.pid ]
}

@test "a daemon whose main thread exited (state Z, threads running) is alive" {
	command -v cc > /dev/null || skip "no C compiler"
	cat > leader.c <<-'EOF'
	#include <pthread.h>
	#include <stdio.h>
	#include <unistd.h>
	static void *run(void *a) { (void)a; sleep(30); return NULL; }
	int main(int argc, char **argv) {
		pthread_t t;
		FILE *f = fopen(argv[argc - 1], "w");
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
		pthread_create(&t, NULL, run, NULL);
		pthread_exit(NULL);
	}
	EOF
	cc -pthread -o leader leader.c
	./leader d/daemon.pid &
	l=$!
	for _ in $(seq 100); do [ -s d/daemon.pid ] && break; sleep 0.05; done
	for _ in $(seq 100); do grep -q '^State:.*Z' "/proc/$l/status" && break; sleep 0.05; done
	old d/daemon.pid
	run "$STALECLEAN" -v d
	kill "$l"
	[ "$output" = "d/daemon.pid: live (pid $l running)" ]
	[ -e d/daemon.pid ]
}

@test "only index.lock, *.lock and gc.pid are git locks: a daemon's pid file under .git follows the pid rules" {
	mkdir -p repo/.git/annex
	sleep 30 &
	s=$!
	echo "$s" > repo/.git/annex/daemon.pid
	: > repo/.git/index.lock
	touch -d '1 hour ago' repo/.git/annex/daemon.pid repo/.git/index.lock
	run "$STALECLEAN" -v -r repo/.git
	kill "$s"
	grep -Fqx "repo/.git/annex/daemon.pid: live (pid $s running)" <<< "$output"
	grep -Fqx "repo/.git/index.lock: stale (git lock, unheld, older than max-age), removed" <<< "$output"
	[ -e repo/.git/annex/daemon.pid ]
}

@test "a FIFO named pid in a lock directory is never opened (a blocked writer stays blocked)" {
	mkdir d/x.lock
	mkfifo d/x.lock/pid
	old d/x.lock
	( echo 1 > d/x.lock/pid; echo wrote > wrote ) &
	w=$!
	sleep 0.2
	run "$STALECLEAN" -v -n d
	sleep 0.2
	[ ! -e wrote ]
	kill "$w"
	[ "$output" = "d/x.lock: unknown (its pid is not a regular file)" ]
}

@test "race: a lock file replaced between its statx and its read is not judged by the newcomer's content" {
	command -v strace > /dev/null || skip "no strace"
	printf 'pid=%s\n' "$(dead_pid)" > d/x.lock
	old d/x.lock
	# held at the exit of the second statx (the first is the directory's):
	# the entry's, after which scan() reads ahead what it saw
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null -e trace=statx \
	    -e inject=statx:delay_exit=2000000:when=2 \
	    "$STALECLEAN" -n -v d > out 2> err &
	st=$!
	await has_child "$st"
	sleep 0.5
	# a live owner's lock, renamed over it (another inode)
	printf 'pid=%s\n' $$ > d/new
	old d/new
	mv d/new d/x.lock
	rc=0
	wait "$st" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(cat out)" = "d/x.lock: unknown (changed while looked at)" ]
	[ -z "$(cat err)" ]
}

@test "a write lease is live, and looking does not break it" {
	dead_pid > d/l.pid
	old d/l.pid
	python3 -c 'import fcntl, signal, sys, time
broken = []
signal.signal(signal.SIGIO, lambda *a: broken.append(1))
f = open(sys.argv[1], "r+"); fcntl.fcntl(f, fcntl.F_SETLEASE, fcntl.F_WRLCK)
open(sys.argv[2], "w").close()
time.sleep(3)
open(sys.argv[3], "w").write("broken" if broken else "kept")' d/l.pid ready result &
	h=$!
	for _ in $(seq 100); do [ -e ready ] && break; sleep 0.05; done
	run "$STALECLEAN" -v -n d
	wait "$h"
	[ "$output" = "d/l.pid: live (lease held by pid $h)" ]
	[ "$(cat result)" = kept ]
}

@test "a pid file rewritten in place while in quarantine is put back, not removed" {
	p=$(dead_pid)
	echo "$p" > d/x.pid
	old d/x.pid
	held_in_quarantine 2000000
	echo $$ > "$q"			# a new daemon's pid, written and closed
	rc=0
	wait "$SCPID" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(cat out)" = "d/x.pid: unknown (rewritten during removal, put back)" ]
	[ "$(cat d/x.pid)" = $$ ]
}

@test "a low open-file limit: every stale file is still removed (one rescan per batch), none left in quarantine" {
	p=$(dead_pid)
	for i in $(seq 300); do echo "$p" > "d/$i.pid"; done
	old d/*
	run bash -c 'ulimit -n 40; "$1" -v d' sh "$STALECLEAN"
	[ "$status" -eq 0 ]
	[ "$(grep -c ', removed$' <<< "$output")" -eq 300 ]
	[ -z "$(ls -A d)" ]
}

@test "too low an open-file limit for a deep tree: 71 (our limit, not the path's fault) naming the directory, and the rest still judged" {
	p=$(dead_pid)
	sub=d
	for i in $(seq 40); do sub=$sub/d$i; done
	mkdir -p "$sub"
	echo "$p" > d/top.pid
	old d/top.pid
	run --separate-stderr bash -c 'ulimit -n 24; "$1" -r -v d' sh "$STALECLEAN"
	[ "$status" -eq 71 ]
	[[ "$stderr" =~ ^"staleclean: d/d1/d2/"[^:]*": Too many open files"$ ]] || fail "$stderr"
	[ "$output" = "d/top.pid: stale (pid $p not running), removed" ]
	[ ! -e d/top.pid ]
}

@test "a quarantine left by a killed staleclean is judged by the next run: removed when stale, an error when not" {
	p=$(dead_pid)
	echo "$p" > "d/.staleclean-$p-abcdef"		# was stale: goes
	sleep 30 &
	s=$!
	echo "$s" > "d/.staleclean-$p-ghijkl"		# a live pid file: name lost
	old d/.staleclean-*
	run --separate-stderr "$STALECLEAN" -v d
	kill "$s"
	[ "$status" -eq 73 ]
	[ "$stderr" = "staleclean: d/.staleclean-$p-ghijkl: left in quarantine by staleclean pid $p, which is gone: its name before is unknown (pid $s running)" ]
	[ ! -e "d/.staleclean-$p-abcdef" ]
	[ -e "d/.staleclean-$p-ghijkl" ]
}

# --- errors and usage -----------------------------------------------------

@test "errors: a missing path is reported and the others still judged" {
	dead_pid > d/x.pid
	old d/x.pid
	run --separate-stderr "$STALECLEAN" missing d
	[ "$status" -eq 66 ]
	[[ "$stderr" == "staleclean: missing: No such file or directory" ]]
	[ ! -e d/x.pid ]
}

@test "EINTR on stdout: the report is still whole" {
	for i in 1 2 3; do printf 'pid=%s\n' "$(dead_pid)" > "s$i.lock"; done
	run --separate-stderr inject -e trace=write -e inject=write:error=EINTR:when=1 \
	    "$STALECLEAN" -v --min-age 0 .
	[ "$status" -eq 0 ]
	[ "$(grep -c ': stale (pid .* not running), removed$' <<< "$output")" -eq 3 ]
	[ -z "$stderr" ]
}

@test "usage errors: 64; --help, --version" {
	run -64 "$STALECLEAN"
	for args in "-a abc d" "--min-age -1 d" "--bogus d" "-a"; do
		eval "run $STALECLEAN $args"
		[ "$status" -eq 64 ] || fail "'$args' gave $status"
	done
	run "$STALECLEAN" --help
	[[ "$output" == "usage: staleclean "* ]]
	run "$STALECLEAN" --version
	[[ "$output" =~ ^staleclean\ [0-9.]+$ ]]
}
