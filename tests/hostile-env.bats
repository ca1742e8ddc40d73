#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The fixtures of tests/hostile.bash build what they claim, and leave nothing.
# shellcheck disable=SC2016 # sh -c scripts are single-quoted on purpose

load helpers
load hostile

setup() {
	common_setup
}

teardown() {
	hostile_teardown
}

# --- sshfs ----------------------------------------------------------------

@test "sshfs: two mounts of one export are two clients that see each other's writes" {
	mkdir exp
	echo first > exp/f
	sshfs_up "$PWD/exp" a b
	[ "$(mount_fstype a)" = fuse.sshfs ]
	[ "$(mount_fstype b)" = fuse.sshfs ]
	[[ "$(stat -f -c %T a)" == fuse* ]]
	[ "$(cat b/f)" = first ]
	echo second > a/f
	[ "$(cat b/f)" = second ]
	echo new > b/g
	[ "$(cat a/g)" = new ]
	[ "$(cat exp/g)" = new ]
	rm a/g
	[ ! -e b/g ]
	# Two processes, two sshfs daemons, one sshd.
	local -a pids
	read -ra pids <<< "$SSHFS_PIDS"
	[ "${#pids[@]}" -eq 2 ]
	[ "$(sshfs_pid a)" = "${pids[0]}" ]
	[ "$(sshfs_pid b)" = "${pids[1]}" ]
	[ "$(cat "/proc/${pids[0]}/comm")" = sshfs ]
	[ "$(cat "/proc/$SSHD_PID/comm")" = sshd ]
	[ "$(sshd_session_pids | wc -l)" -ge 2 ]
}

@test "sshfs: flock through one mount does not exclude flock through the other" {
	mkdir exp
	: > exp/lock
	sshfs_up "$PWD/exp" a b
	# Within one mount the kernel's local lock excludes ...
	run flock -n a/lock -c 'flock -n a/lock true'
	[ "$status" -eq 1 ]
	# ... across the two "clients" it does not: the hazard our tools refuse.
	run flock -n a/lock -c 'flock -n b/lock -c "echo both held"'
	[ "$status" -eq 0 ]
	[ "$output" = "both held" ]
	# Nor does a lock on the server's own file system.
	run flock -n exp/lock -c 'flock -n a/lock -c "echo both held"'
	[ "$status" -eq 0 ]
}

@test "sshfs: sshfs_down leaves no mount and no process, and is idempotent" {
	mkdir exp
	sshfs_up "$PWD/exp" a b
	local pids p
	pids="$SSHD_PID $SSHFS_PIDS $(sshd_session_pids)"
	sshfs_down
	run ! mount_fstype a
	run ! mount_fstype b
	for p in $pids; do
		if _hostile_alive "$p"; then fail "pid $p survived sshfs_down"; fi
	done
	sshfs_down
	hostile_teardown
}

@test "sshfs: teardown cleans up after an sshfs_up that failed halfway" {
	need_sshfs
	mkdir exp
	: > not-a-dir
	# In a subshell, as if the test had died there: nothing is our child.
	run sshfs_up "$PWD/exp" a not-a-dir/b
	[ "$status" -ne 0 ]
	local line pids
	pids=$(cut -f2 "$BATS_TEST_TMPDIR.hostile/journal" | grep -v '^-$')
	[ "$(echo "$pids" | wc -w)" -eq 2 ] # sshd and the first sshfs
	mount_fstype a
	hostile_teardown
	run ! mount_fstype a
	for line in $pids; do
		if _hostile_alive "$line"; then fail "pid $line survived"; fi
	done
	[ ! -s "$BATS_TEST_TMPDIR.hostile/journal" ]
}

# --- bindfs ---------------------------------------------------------------

@test "bindfs: the mount shows SRC, and SIGSTOP of its daemon hangs it" {
	mkdir src
	echo hello > src/f
	bindfs_up src m
	[ "$(mount_fstype m)" = fuse ]
	[[ "$(stat -f -c %T m)" == fuse* ]]
	[ "$(cat m/f)" = hello ]
	echo back > m/g
	[ "$(cat src/g)" = back ]
	[ "$(bindfs_pid m)" = "$BINDFS_PID" ]
	[ "$(cat "/proc/$BINDFS_PID/comm")" = bindfs ]
	kill -STOP "$BINDFS_PID"
	run timeout -s KILL 1 cat m/f
	[ "$status" -eq 137 ]
	kill -CONT "$BINDFS_PID"
	[ "$(cat m/f)" = hello ]
}

@test "bindfs: teardown unmounts even while the daemon is stopped" {
	mkdir src
	bindfs_up src m
	local pid=$BINDFS_PID
	kill -STOP "$pid"
	hostile_teardown
	run ! mount_fstype m
	run ! _hostile_alive "$pid"
}

# --- all of them ----------------------------------------------------------

@test "the fixtures' daemons are not children of the test shell" {
	mkdir exp src
	sshfs_up "$PWD/exp" a
	bindfs_up src m
	rotate_loop_start "$PWD/app.log"
	# So a test's own `wait` does not wait for them (bats' timeout watchdog
	# is a job of the test shell, though: wait for a pid, never bare).
	local pid
	for pid in "$SSHD_PID" "$(sshfs_pid a)" "$BINDFS_PID" "$ROTATE_LOOP_PID"; do
		_hostile_alive "$pid"
		[ "$(awk '$1 == "PPid:" { print $2 }' "/proc/$pid/status")" != $$ ]
		run ! grep -qx "$pid" <<< "$(jobs -p)"
	done
}

# --- memory cgroup --------------------------------------------------------

@test "in_memcg: 300 MB of anonymous memory is OOM-killed under 96 MiB" {
	command -v python3 > /dev/null || skip "no python3"
	local st=0
	in_memcg $((96 << 20)) python3 -c 'b = bytearray(300 << 20); b[-1] = 1' || st=$?
	[ "$st" -eq 137 ]
	[ -n "$MEMCG_OOM_KILLS" ] || skip "kernel does not count OOM kills per group"
	[ "$MEMCG_OOM_KILLS" -ge 1 ]
	[ "$(memcg_oom_kills)" = "$MEMCG_OOM_KILLS" ]
	[ -z "$MEMCG_PEAK_BYTES" ] || [ "$MEMCG_PEAK_BYTES" -le $((96 << 20)) ]
	# The group is gone.
	_hostile_memcg_find
	[ -z "$(find "$_HOSTILE_MEMCG_PARENT" -maxdepth 1 -name "hostile-$$-*")" ]
}

@test "in_memcg: 300 MB written to disk (reclaimable page cache) passes under 96 MiB" {
	in_memcg $((96 << 20)) sh -c 'head -c 300000000 /dev/zero > big'
	[ "$(stat -c %s big)" -eq 300000000 ]
	[ -z "$MEMCG_OOM_KILLS" ] || [ "$MEMCG_OOM_KILLS" -eq 0 ]
	rm big
	# Exit status passes through; so does stdout.
	run in_memcg $((96 << 20)) sh -c 'echo out; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = "out" ]
}

# --- symlink protection ---------------------------------------------------

@test "protect_symlinks: root cannot write through nobody's link in a 1777 dir" {
	protect_symlinks
	[ "$(cat /proc/sys/fs/protected_symlinks)" = 1 ]
	sticky_dir pub
	echo secret > target
	symlink_as_nobody "$PWD/target" pub/link
	[ "$(stat -c %u pub/link)" = 65534 ]
	[ "$(readlink pub/link)" = "$PWD/target" ]
	run bash -c 'echo x > pub/link'
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	[ "$(cat target)" = secret ]
}

@test "protect_symlinks: the last of two holders restores the original value" {
	local g=/run/crashsafe-hostile/sysctl.fs.protected_symlinks old
	[ ! -s "$g.holders" ] || skip "another run holds fs.protected_symlinks"
	old=$(cat /proc/sys/fs/protected_symlinks)
	protect_symlinks
	mkdir other
	# A second scope (as a concurrent suite would be) joins and leaves first.
	BATS_TEST_TMPDIR=$PWD/other protect_symlinks
	[ "$(wc -l < "$g.holders")" -eq 2 ]
	BATS_TEST_TMPDIR=$PWD/other hostile_teardown
	[ "$(cat /proc/sys/fs/protected_symlinks)" = 1 ]
	hostile_teardown
	[ "$(cat /proc/sys/fs/protected_symlinks)" = "$old" ]
	run ! grep -qF "$BATS_TEST_TMPDIR" "$g.holders"
}

# --- logrotate ------------------------------------------------------------

@test "rotate_loop: copytruncate rotates under a writer, files come out in order" {
	local i=0 deadline=$((SECONDS + 20))
	rotate_loop_start "$PWD/app.log"
	[ "$(cat "/proc/$ROTATE_LOOP_PID/comm")" = bash ]
	while [ "$(rotated_files app.log | wc -l)" -lt 5 ] && [ "$SECONDS" -lt "$deadline" ]; do
		i=$((i + 1))
		echo "$i" >> app.log
		sleep 0.005
	done
	rotate_loop_stop
	run ! _hostile_alive "$ROTATE_LOOP_PID"
	[ "$(rotate_loop_runs)" -ge 5 ]
	[ "$(rotated_files app.log | wc -l)" -ge 5 ]
	[ "$(rotated_files app.log | tail -n 1)" = app.log.1 ]
	# What survived is in order (copytruncate may lose lines, never reorder).
	rotated_cat app.log | awk 'NR > 1 && $1 <= last { exit 1 } { last = $1 }'
	[ "$(rotated_cat app.log | wc -l)" -gt 0 ]
}

@test "rotate_loop: create mode works in a sticky world-writable directory" {
	sticky_dir pub
	echo 1 > pub/app.log
	rotate_loop_start "$PWD/pub/app.log" create
	_hostile_poll 100 test -e pub/app.log.1
	echo 2 >> pub/app.log
	_hostile_poll 100 test -e pub/app.log.2
	rotate_loop_stop
	[ "$(rotated_cat pub/app.log | head -n 2 | tr '\n' ' ')" = "1 2 " ]
}

# --- loop-mounted file systems --------------------------------------------

@test "loopfs: xfs" {
	loopfs_up xfs m
	[ "$(stat -f -c %T m)" = xfs ]
	[ "$(mount_fstype m)" = xfs ]
	[[ "$LOOPFS_DEV" == /dev/loop* ]]
	echo x > m/f
	local dev=$LOOPFS_DEV
	loopfs_down
	run ! mount_fstype m
	[[ "$(losetup -n -O BACK-FILE "$dev" 2> /dev/null)" != *"$BATS_TEST_TMPDIR.hostile"* ]]
	[ -z "$(find "$BATS_TEST_TMPDIR.hostile" -name '*.img')" ]
}

@test "loopfs: btrfs" {
	loopfs_up btrfs m
	[ "$(stat -f -c %T m)" = btrfs ]
	[ "$(mount_fstype m)" = btrfs ]
	echo x > m/f
	[ "$(cat m/f)" = x ]
}

@test "hostile_sysctl: a key changed twice in one test is put back to its value from before the first" {
	before=$(cat /proc/sys/fs/protected_regular 2> /dev/null) || skip "no fs.protected_regular"
	hostile_sysctl fs.protected_regular 1
	hostile_sysctl fs.protected_regular 2
	[ "$(cat /proc/sys/fs/protected_regular)" = 2 ]
	hostile_teardown
	[ "$(cat /proc/sys/fs/protected_regular)" = "$before" ]
}
