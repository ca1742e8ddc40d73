#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# atomicappend: SPEC section 3.
# shellcheck disable=SC2016,SC2154 # sh -c scripts are single-quoted on purpose; run sets stderr_lines

load helpers
load hostile

setup() {
	common_setup
}

teardown() {
	hostile_teardown
}

gen_records() {
	"$BATS_TEST_DIRNAME/records/gen-records" "$@"
}

check_records() {
	"$BATS_TEST_DIRNAME/records/check-records" "$@"
}

# --- records --------------------------------------------------------------

@test "TEXT: one record, words joined by spaces, plus a newline; silent" {
	run --separate-stderr "$ATOMICAPPEND" log hello "big world"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	[ "$(cat log)" = "hello big world" ]
	"$ATOMICAPPEND" log second
	[ "$(cat -A log)" = "$(printf 'hello big world$\nsecond$')" ]
}

@test "stdin: all of it is one record, a newline added if missing" {
	printf 'a\nb' | "$ATOMICAPPEND" log
	printf 'c\n' | "$ATOMICAPPEND" log
	[ "$(cat -A log)" = "$(printf 'a$\nb$\nc$')" ]
}

@test "stdin: empty input appends nothing" {
	echo old > log
	"$ATOMICAPPEND" log < /dev/null
	[ "$(cat log)" = old ]
}

@test "-l: each line is a record; a last line without newline gets one" {
	printf 'one\ntwo\nthree' | "$ATOMICAPPEND" -l log
	[ "$(cat -A log)" = "$(printf 'one$\ntwo$\nthree$')" ]
	run "$ATOMICAPPEND" -l log extra words
	[ "$status" -eq 64 ]
}

@test "-l: a line longer than the buffer (3 MB) stays one whole record" {
	{ echo short; head -c 3000000 /dev/zero | tr '\0' x; echo; echo after; } > in
	"$ATOMICAPPEND" --lines log < in
	cmp log in
}

@test "torn tail: a newline closes the torn record before the next one" {
	printf 'whole\ntorn-by-a-cras' > log
	run --separate-stderr "$ATOMICAPPEND" log next
	[ "$status" -eq 0 ]
	[[ "$stderr" == "atomicappend: log: repaired a torn last line" ]]
	[ "$(cat -A log)" = "$(printf 'whole$\ntorn-by-a-cras$\nnext$')" ]
	printf 'again' >> log
	run --separate-stderr "$ATOMICAPPEND" -q log quiet
	[ -z "$stderr" ]
	[ "$(tail -n 2 log)" = "$(printf 'again\nquiet')" ]
}

@test "-n: raw records, no newline added, no repair" {
	printf 'partial' > log
	"$ATOMICAPPEND" -n log " raw"
	printf '+more' | "$ATOMICAPPEND" --no-newline log
	[ "$(cat log)" = "partial raw+more" ]
}

# --- options: -m, -t, -S --------------------------------------------------

@test "-m: the mode of a created file, whatever the umask; an existing one is kept" {
	umask 077
	"$ATOMICAPPEND" -m 0644 log x
	[ "$(mode_of log)" = 644 ]
	chmod 600 log
	"$ATOMICAPPEND" -m 0666 log y
	[ "$(mode_of log)" = 600 ]
	umask 027
	"$ATOMICAPPEND" new x
	[ "$(mode_of new)" = 640 ]
	run "$ATOMICAPPEND" -m 8 log z
	[ "$status" -eq 64 ]
}

@test "-t: a flock(1) holding the file makes -t 0.5 exit 75, file unchanged" {
	echo old > log
	flock log sleep 30 &
	holder=$!
	await locked log
	run --separate-stderr "$ATOMICAPPEND" -t 0.5 log new
	kill "$holder"
	[ "$status" -eq 75 ]
	[ "$stderr" = "atomicappend: log: busy for 500ms; held by pid $holder (flock log sleep 30)" ]
	[ "$(cat log)" = old ]
	for d in abc -1 ''; do
		run "$ATOMICAPPEND" -t "$d" log x
		[ "$status" -eq 64 ]
	done
}

@test "a held lock is waited for, and the record follows" {
	echo old > log
	hold_until_go log 'echo holder >> log'
	"$ATOMICAPPEND" -t 10 log waiter &
	waiter=$!
	await lock_waited log
	touch go
	wait "$HELD_BY"
	wait "$waiter"
	[ "$(cat log)" = "$(printf 'old\nholder\nwaiter')" ]
}

@test "-S data: one fdatasync per append; -S full: fsync, and the directory when created" {
	run inject -o trace -e trace=fsync,fdatasync -y "$ATOMICAPPEND" -S data log x
	[ "$status" -eq 0 ]
	[ "$(grep -c '^fdatasync' trace)" -eq 1 ]
	run inject -o trace -e trace=fsync,fdatasync -y "$ATOMICAPPEND" -S full new x
	[ "$status" -eq 0 ]
	[ "$(grep -c '^fsync' trace)" -eq 2 ]
	grep -q "^fsync([0-9]*<$PWD>" trace
	run inject -o trace -e trace=fsync,fdatasync -y "$ATOMICAPPEND" -S full new y
	[ "$(grep -c '^fsync' trace)" -eq 1 ]
	run inject -o trace -e trace=fsync,fdatasync "$ATOMICAPPEND" log z
	[ ! -s trace ]
	run "$ATOMICAPPEND" -S sometimes log x
	[ "$status" -eq 64 ]
}

# --- failures and rotation ------------------------------------------------

@test "EIO on fsync: 74, and the unacknowledged record is removed" {
	echo old > log
	run inject -e trace=fdatasync -e inject=fdatasync:error=EIO "$ATOMICAPPEND" -S data log new
	[ "$status" -eq 74 ]
	[ "$(cat log)" = old ]
}

@test "rotation: a file renamed away while we wait for the lock; the record goes to the live file" {
	echo old > log
	hold_until_go log 'mv log log.1'
	"$ATOMICAPPEND" -t 10 log after-rotation &
	waiter=$!
	await lock_waited log
	touch go
	wait "$HELD_BY"
	wait "$waiter"
	[ "$(cat log.1)" = old ]
	[ "$(cat log)" = after-rotation ]
}

@test "rotation while streaming (-l): later lines go to the new file" {
	mkfifo in
	"$ATOMICAPPEND" -l log < in &
	pid=$!
	exec {w}> in
	echo before >&"$w"
	for _ in $(seq 100); do [ -s log ] && break; sleep 0.05; done
	mv log log.1
	echo after >&"$w"
	exec {w}>&-
	wait "$pid"
	[ "$(cat log.1)" = before ]
	[ "$(cat log)" = after ]
}

@test "disk full (small tmpfs): 74 and the size is unchanged" {
	need_root "tmpfs mount"
	mkdir mnt
	run unshare -m --propagation private sh -c '
		mount -t tmpfs -o size=64k tmpfs mnt &&
		echo first > mnt/log &&
		head -c 200000 /dev/zero | "$1" mnt/log
		s=$?
		stat -c %s mnt/log
		exit $s' sh "$ATOMICAPPEND"
	[ "$status" -eq 74 ]
	[[ "${lines[0]}" == "atomicappend: mnt/log: No space left on device" ]]
	[ "${lines[1]}" = 6 ]
}

@test "EIO mid-record: the partial record is cut off, 74" {
	echo old > log
	head -c 400000 /dev/zero | tr '\0' r > in
	# The record's one write comes back short (100000 bytes really
	# written), the write of its rest fails.
	run short_writes 100000 -P "$PWD/log" -e trace=write \
	    -e inject=write:error=EIO:when=2 "$ATOMICAPPEND" log < in
	[ "$status" -eq 74 ]
	[ "$output" = "atomicappend: log: Input/output error" ]
	[ "$(cat log)" = old ]
}

@test "file too large (RLIMIT_FSIZE, no trap needed): 74, size unchanged" {
	echo old > log
	long=$(head -c 3000 /dev/zero | tr '\0' L)
	run bash -c 'ulimit -f 1; "$1" log "$2"' sh "$ATOMICAPPEND" "$long"
	[ "$status" -eq 74 ]
	[ "$output" = "atomicappend: log: File too large" ]
	[ "$(cat log)" = old ]
}

# --- concurrency and crashes ----------------------------------------------

@test "8 concurrent writers x 200 records (4 KiB and 64 KiB crossings): none torn or lost" {
	pids=()
	for w in 1 2 3 4 5 6 7 8; do
		( gen_records "$w" 200 | while IFS= read -r rec; do
			"$ATOMICAPPEND" -t 60 log "$rec" || exit 1
		done ) &
		pids+=($!)
	done
	wait "${pids[@]}"
	run check_records log
	[ "$status" -eq 0 ]
	[ "$output" = "writers=8 records=1600 torn=0" ]
}

@test "8 concurrent -l streams: every line whole, none lost" {
	pids=()
	for w in 1 2 3 4 5 6 7 8; do
		gen_records "$w" 300 | "$ATOMICAPPEND" -l -t 60 log &
		pids+=($!)
	done
	wait "${pids[@]}"
	run check_records log
	[ "$status" -eq 0 ]
	[ "$output" = "writers=8 records=2400 torn=0" ]
}

@test "concurrent stdin records of 1 MB (written in many chunks) never interleave" {
	pids=()
	for w in A B C D; do
		head -c 1000000 /dev/zero | tr '\0' "$w" > "rec$w"
		( for _ in 1 2 3 4 5 6 7 8; do "$ATOMICAPPEND" -t 60 log < "rec$w"; done ) &
		pids+=($!)
	done
	wait "${pids[@]}"
	[ "$(wc -l < log)" -eq 32 ]
	awk 'length($0) != 1000000 || $0 !~ ("^" substr($0, 1, 1) "+$") { exit 1 }' log
}

@test "a 300 MB stdin record: spooled on disk, appended whole in ONE write(2)" {
	echo first > log
	mkdir spool
	# The spool is an unlinked file in $TMPDIR: strace names it.
	run bash -c 'head -c 300000000 /dev/zero | TMPDIR=$PWD/spool ASAN_OPTIONS=detect_leaks=0 strace -qq -y -o trace \
	    -e trace=openat,write,writev "$1" log' sh "$ATOMICAPPEND"
	[ "$status" -eq 0 ]
	[ "$(stat -c %s log)" -eq $((6 + 300000000 + 1)) ]
	[ "$(grep -cE "^writev?\([0-9]+<$PWD/log>" trace)" -eq 1 ]
	grep -q "writev(.*<$PWD/log>.*) = 300000001\$" trace
	grep -q "openat(.*\"$PWD/spool\", O_RDWR|O_CLOEXEC|O_TMPFILE" trace
	[ -z "$(ls -A spool)" ]
}

@test "kill -9 at every system call: every complete line is a whole record" {
	printf 'old record\n' > old
	gen_records 3 40 > in
	run "$BATS_TEST_DIRNAME/crash/kill-sweep" -i in \
	    -r 'cp old log' \
	    -c 'head -n 1 log | grep -qx "old record" &&
	        tail -n +2 log | grep -v "^$" > body; [ -s body ] || exit 0
	        grep -xvFf in body > stray; [ ! -s stray ] || { lastline=$(tail -c 1 log | od -An -c | tr -d " "); [ "$lastline" != "\\n" ] && [ "$(wc -l < stray)" -eq 1 ]; }' \
	    -- "$ATOMICAPPEND" -l log
	echo "$output" | tail -1 >&3
	[ "$status" -eq 0 ]
	[[ "${lines[-1]}" =~ ^points=([0-9]+)\ passed=([0-9]+)\ failed=0 ]]
}

@test "after a kill mid-record, the next append repairs the tail" {
	printf 'old\n' > log
	head -c 300000 /dev/zero | tr '\0' z > in
	# Its one write came back short, and it was killed before the
	# rest: a torn record stays, with no newline.
	run short_writes 100000 -P "$PWD/log" -e trace=write \
	    -e inject=write:signal=SIGKILL:when=2 "$ATOMICAPPEND" log < in
	[ "$(stat -c %s log)" -eq $((4 + 100000)) ]
	[ "$(tail -c 1 log)" = z ]
	"$ATOMICAPPEND" log next
	[ "$(tail -n 1 log)" = next ]
	[ "$(head -n 1 log)" = old ]
}

# --- errors and usage -----------------------------------------------------

@test "FILE a directory, a missing directory, a FIFO: 73" {
	mkdir d
	run --separate-stderr "$ATOMICAPPEND" d x
	[ "$status" -eq 73 ]
	[ "$stderr" = "atomicappend: d: Is a directory" ]
	run "$ATOMICAPPEND" no/such/log x
	[ "$status" -eq 73 ]
	mkfifo p
	run --separate-stderr timeout 10 "$ATOMICAPPEND" p x
	[ "$status" -eq 73 ]
	[ "$stderr" = "atomicappend: p: not a regular file" ]
}

@test "permission denied (another user): 77; a write-only log still gets records" {
	need_root "run as another user"
	echo old > log
	chmod 644 log
	run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups -- "$ATOMICAPPEND" log x
	[ "$status" -eq 77 ]
	[ "$stderr" = "atomicappend: log: Permission denied" ]
	[ "$(cat log)" = old ]
	chmod 622 log
	chmod 755 .
	setpriv --reuid=65534 --regid=65534 --clear-groups -- "$ATOMICAPPEND" log appended
	[ "$(cat log)" = "$(printf 'old\nappended')" ]
}

@test "read-only filesystem: 73" {
	need_root "bind mounts"
	mkdir ro
	echo old > ro/log
	run unshare -m --propagation private sh -c '
		mount --bind ro ro && mount -o remount,bind,ro ro && "$1" ro/log x' sh "$ATOMICAPPEND"
	[ "$status" -eq 73 ]
	[[ "$output" == *"ro/log: Read-only file system"* ]]
}

@test "stdin closed: 66" {
	run --separate-stderr sh -c 'exec "$1" log <&-' sh "$ATOMICAPPEND"
	[ "$status" -eq 66 ]
	[ ! -s log ]
}

@test "awkward names and text that looks like options" {
	"$ATOMICAPPEND" -- -dash -v --not-an-option
	[ "$(cat -- -dash)" = "-v --not-an-option" ]
	nl=$'new\nline'
	"$ATOMICAPPEND" "$nl" x
	[ "$(cat "$nl")" = x ]
}

@test "-v reports records and bytes; usage errors; --help, --version" {
	run --separate-stderr "$ATOMICAPPEND" -v log a b
	[ "${stderr_lines[0]}" = "atomicappend: log: 1 record, 4 bytes appended" ]
	# contention metrics (SPEC 1.5): waited for the lock, and held it
	[[ "${stderr_lines[1]}" =~ ^"atomicappend: log: lock waited 0."[0-9]{3}"s, held 0."[0-9]{3}"s"$ ]] || fail "$stderr"
	flock log sleep 1 &
	holder=$!
	until grep -q " $holder " /proc/locks; do sleep 0.05; done
	run --separate-stderr "$ATOMICAPPEND" -v log c
	wait "$holder"
	[[ "${stderr_lines[1]}" =~ ^"atomicappend: log: lock waited "([0-9]+\.[0-9]{3})"s, held 0."[0-9]{3}"s"$ ]] || fail "$stderr"
	# it waited for the holder (which held it up to a second)
	awk -v w="${BASH_REMATCH[1]}" 'BEGIN { exit !(w >= 0.1) }' || fail "$stderr"
	run -64 "$ATOMICAPPEND"
	run -64 "$ATOMICAPPEND" --bogus log
	run "$ATOMICAPPEND" --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: atomicappend "* ]]
	run "$ATOMICAPPEND" --version
	[[ "$output" =~ ^atomicappend\ [0-9.]+$ ]]
}

# --- hostile environments (issue 12) --------------------------------------

@test "memory cgroup: a 300 MB record inside 96 MiB is appended whole, where cat >> also survives" {
	if sanitized; then skip "ASan's shadow memory does not fit in 96 MiB"; fi
	echo first > log
	mkdir spool
	# The cgroup lets through what a plain append needs...
	in_memcg $((96 << 20)) sh -c 'head -c 300000000 /dev/zero >> plain'
	[ "$(stat -c %s plain)" -eq 300000000 ]
	rm plain
	# ...and atomicappend spools to disk, not into memory.
	st=0
	in_memcg $((96 << 20)) sh -c 'head -c 300000000 /dev/zero | TMPDIR=$2 "$1" -n log' sh "$ATOMICAPPEND" "$PWD/spool" || st=$?
	[ "$st" -eq 0 ] || fail "exit $st, OOM kills: ${MEMCG_OOM_KILLS:-unknown}"
	[ "${MEMCG_OOM_KILLS:-0}" -eq 0 ]
	[ "$(stat -c %s log)" -eq $((6 + 300000000)) ]
	[ "$(head -c 6 log)" = first ]
	[ "$(tail -c +7 log | tr -d '\0' | wc -c)" -eq 0 ]
	[ -z "$(ls -A spool)" ]
}

@test "spool disk full: 74 naming the spool, nothing appended" {
	need_root "a small tmpfs"
	echo first > log
	run unshare -m --propagation private sh -c '
		mkdir -p spool && mount -t tmpfs -o size=1m tmpfs spool &&
		head -c 8000000 /dev/zero | TMPDIR=$PWD/spool "$1" log' sh "$ATOMICAPPEND"
	[ "$status" -eq 74 ]
	[ "$output" = "atomicappend: spool in $PWD/spool: No space left on device" ]
	[ "$(cat log)" = first ]
	# and a log that did not exist is not created
	head -c 5000000 /dev/zero > big
	run env TMPDIR=/nonexistent "$ATOMICAPPEND" new-log < big
	[ "$status" -eq 74 ]
	[ "$output" = "atomicappend: spool in /nonexistent: No such file or directory" ]
	[ ! -e new-log ]
}

@test "logrotate copytruncate in a loop never leaves the tail of a 1 MiB record (one write(2) each)" {
	for w in A B C D; do
		head -c 1048575 /dev/zero | tr '\0' "$w" > "rec$w"
		echo >> "rec$w"
	done
	: > log
	HOSTILE_ROTATE_INTERVAL=0.01 HOSTILE_ROTATE_SECONDS=100 rotate_loop_start "$PWD/log" copytruncate
	pids=()
	for w in A B C D; do
		# paced, so that a slow disk still leaves logrotate time to run
		( while [ ! -e stop ]; do "$ATOMICAPPEND" -t 60 log < "rec$w" || exit 1; sleep 0.02; done ) &
		pids+=($!)
	done
	start=$SECONDS
	while [ "$(rotate_loop_runs)" -lt 60 ] && [ $((SECONDS - start)) -lt 90 ]; do
		sleep 0.2
	done
	touch stop
	wait "${pids[@]}"
	rotate_loop_stop
	[ "$(rotate_loop_runs)" -ge 6 ] || fail "only $(rotate_loop_runs) rotations"
	# Every line of every file is a whole record of one writer: no file
	# starts with the tail of a record (what 128 KiB chunks gave). Records
	# between a copy and its truncate are lost; on ext4, whose reads take
	# no lock, the copy can catch one half written: only a rotated file's
	# last line, without a newline, may be such a first part.
	for f in $(rotated_files log) log; do
		cut=0
		if [ "$f" != log ] && [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" != '\n' ]; then
			cut=1
		fi
		awk -v f="$f" -v cut="$cut" -v last="$(wc -l < "$f")" '
			cut && NR == last + 1 { next }
			length($0) != 1048575 {
			print f ": line " NR ", " length($0) " bytes"; bad = 1 }
			END { exit bad }' "$f"
		# one writer's letter per line: squeezed, a record is one byte
		tr -s ABCD < "$f" | awk -v f="$f" 'length($0) != 1 {
			print f ": line " NR " mixes records"; bad = 1 } END { exit bad }'
	done
	[ "$(rotated_cat log | wc -l)" -gt 0 ]
	# the rotations really cut the stream: several rotated files hold records
	n=0
	for f in $(rotated_files log); do [ ! -s "$f" ] || n=$((n + 1)); done
	[ "$n" -ge 3 ] || fail "only $n rotated files hold records"
}

@test "protected_regular: root does not append to another user's file in a sticky dir: 77" {
	protect_symlinks 1
	sticky_dir pub
	as_nobody sh -c 'umask 0; echo planted > pub/log'
	run bash -c 'echo secret >> pub/log'
	[ "$status" -ne 0 ]
	run --separate-stderr "$ATOMICAPPEND" pub/log secret
	[ "$status" -eq 77 ]
	[ "$stderr" = "atomicappend: pub/log: Permission denied" ]
	[ "$(cat pub/log)" = planted ]
	"$ATOMICAPPEND" pub/mine ours
	[ "$(cat pub/mine)" = ours ]
}

@test "sshfs: two clients' locks exclude nothing, so appending is refused (69) unless --unsafe-shared-fs" {
	mkdir export
	sshfs_up "$PWD/export" "$PWD/m1"
	run --separate-stderr "$ATOMICAPPEND" m1/log "a record"
	[ "$status" -eq 69 ]
	[ "$stderr" = "atomicappend: m1/log: on fuse.sshfs, whose locks do not reach its other clients: a lock here excludes nothing (--unsafe-shared-fs to go on anyway)" ]
	[ ! -e export/log ]
	run bash -c 'echo r | "$1" -l m1/log' sh "$ATOMICAPPEND"
	[ "$status" -eq 69 ]
	[ ! -e export/log ]
	"$ATOMICAPPEND" --unsafe-shared-fs m1/log "one"
	CRASHSAFE_UNSAFE_SHARED_FS=1 "$ATOMICAPPEND" m1/log "two"
	ln -s m1/log via-link		# a link does not hide where the file is
	run "$ATOMICAPPEND" via-link "a record"
	[ "$status" -eq 69 ]
	[ "$(cat export/log)" = "$(printf 'one\ntwo')" ]
	# A local FUSE filesystem is not a network client: allowed.
	mkdir src
	bindfs_up "$PWD/src" "$PWD/b"
	"$ATOMICAPPEND" b/log "local fuse"
	[ "$(cat src/log)" = "local fuse" ]
}
