#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# atomicwrite: SPEC section 2 and the conventions of section 1 it uses.
# shellcheck disable=SC2016,SC2154 # sh -c scripts are single-quoted on purpose; run sets stderr_lines

load helpers
load hostile

setup() {
	common_setup
}

teardown() {
	hostile_teardown
}

# --- the two forms --------------------------------------------------------

@test "stdin replaces the file, silently" {
	echo old > f
	run --separate-stderr "$ATOMICWRITE" f <<< "new content"
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ -z "$stderr" ]
	[ "$(cat f)" = "new content" ]
	no_temps_left
}

@test "a new file is created with mode 0666 & ~umask" {
	umask 027
	echo x | "$ATOMICWRITE" new
	[ "$(mode_of new)" = 640 ]
	[ "$(cat new)" = x ]
}

@test "COMMAND form: replaced when the command exits 0" {
	echo old > f
	run "$ATOMICWRITE" f -- printf 'a\nb\n'
	[ "$status" -eq 0 ]
	[ "$(cat f)" = "$(printf 'a\nb')" ]
	no_temps_left
}

@test "COMMAND form: a failing command leaves FILE untouched and passes its status through" {
	echo old > f
	run "$ATOMICWRITE" f -- sh -c 'echo partial; exit 7'
	[ "$status" -eq 7 ]
	[ "$(cat f)" = old ]
	no_temps_left
}

@test "COMMAND form: command not found is 127, not executable is 126" {
	echo old > f
	run -127 --separate-stderr "$ATOMICWRITE" f -- ./no-such-command
	[ "$status" -eq 127 ]
	[[ "$stderr" == *"no-such-command"* ]]
	printf '#!/bin/sh\n' > script
	chmod 644 script
	run "$ATOMICWRITE" f -- ./script
	[ "$status" -eq 126 ]
	[ "$(cat f)" = old ]
	no_temps_left
}

@test "COMMAND form: a command killed by a signal gives 128+N, FILE untouched" {
	echo old > f
	run "$ATOMICWRITE" f -- sh -c 'echo partial; kill -KILL $$'
	[ "$status" -eq 137 ]
	[ "$(cat f)" = old ]
	no_temps_left
}

@test "COMMAND form: the command's own flags are not taken as options" {
	run "$ATOMICWRITE" f -- printf -- '-v %s' -q
	[ "$status" -eq 0 ]
	[ "$(cat f)" = "-v -q" ]
}

@test "COMMAND form: the command writes straight into the temp file beside FILE, mode 0600" {
	run "$ATOMICWRITE" f -- sh -c 'for t in .f.cs-*; do stat -c "%a %n" "$t"; done'
	[ "$status" -eq 0 ]
	[[ "$(cat f)" =~ ^600\ \.f\.cs-[0-9]+-[A-Za-z0-9]{6}$ ]]
	no_temps_left
}

@test "large input through a pipe arrives intact" {
	head -c 20000000 /dev/urandom > big
	# shellcheck disable=SC2002 # the pipe is the point
	cat big | "$ATOMICWRITE" f
	cmp f big
}

@test "stdin from a regular file (copy_file_range path) and from a device" {
	head -c 300000 /dev/urandom > src
	"$ATOMICWRITE" f < src
	cmp f src
	echo old > g
	"$ATOMICWRITE" g < /dev/null
	[ ! -s g ]
}

# --- metadata -------------------------------------------------------------

@test "mode of an existing file is preserved" {
	echo old > f
	chmod 751 f
	echo new | "$ATOMICWRITE" f
	[ "$(mode_of f)" = 751 ]
}

@test "owner and group of an existing file are preserved" {
	need_root "chown to another user"
	echo old > f
	chown 12345:23456 f
	echo new | "$ATOMICWRITE" f
	[ "$(stat -c %u:%g f)" = 12345:23456 ]
	[ "$(cat f)" = new ]
}

@test "an owner the caller may not set gives a warning, the file is still replaced" {
	need_root "run as another user"
	mkdir d
	chown 65534:65534 d
	echo old > d/f
	chown 12345:65534 d/f
	chmod 666 d/f
	run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups -- "$ATOMICWRITE" d/f <<< new
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"d/f: cannot keep owner 12345"* ]]
	[ "$(cat d/f)" = new ]
	[ "$(stat -c %g d/f)" = 65534 ]
	# -q silences the warning
	chown 12345:65534 d/f
	run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups -- "$ATOMICWRITE" -q d/f <<< newer
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "extended attributes and POSIX ACLs are preserved" {
	echo old > f
	setfattr -n user.origin -v keepme f || skip "no user xattrs here"
	setfacl -m u:65534:r f || skip "no ACLs here"
	echo new | "$ATOMICWRITE" f
	[ "$(getfattr --only-values -n user.origin f)" = keepme ]
	getfacl -c f | grep -qx 'user:65534:r--\|user:nobody:r--'
	[ "$(cat f)" = new ]
}

@test "file capabilities are not carried over to new content" {
	need_root "setcap"
	command -v setcap > /dev/null || skip "setcap not installed"
	echo old > f
	setcap cap_net_raw+ep f || skip "no file capabilities here"
	echo new | "$ATOMICWRITE" f
	[ -z "$(getcap f)" ]
}

@test "-m sets the mode, for new and existing files" {
	echo x | "$ATOMICWRITE" -m 0600 new
	[ "$(mode_of new)" = 600 ]
	echo old > f
	chmod 644 f
	echo y | "$ATOMICWRITE" --mode 640 f
	[ "$(mode_of f)" = 640 ]
	echo z | "$ATOMICWRITE" -m 4755 f
	[ "$(mode_of f)" = 4755 ]
}

@test "-m rejects what is not an octal mode: 64" {
	echo old > f
	for m in 999 abc 77777 '' -1 0x1ff; do
		run "$ATOMICWRITE" -m "$m" f <<< new
		[ "$status" -eq 64 ] || fail "mode '$m' gave $status"
	done
	[ "$(cat f)" = old ]
}

# --- symlinks and hard links ----------------------------------------------

@test "FILE a symlink: the final target is replaced and the links survive" {
	mkdir real
	echo old > real/conf
	chmod 640 real/conf
	ln -s real/conf link1
	ln -s link1 link2
	echo new | "$ATOMICWRITE" link2
	[ -L link1 ]
	[ -L link2 ]
	[ "$(readlink link2)" = link1 ]
	[ "$(cat real/conf)" = new ]
	[ "$(mode_of real/conf)" = 640 ]
	no_temps_left real
	no_temps_left
}

@test "a dangling symlink: its target is created" {
	ln -s target link
	echo new | "$ATOMICWRITE" link
	[ -L link ]
	[ "$(cat target)" = new ]
}

@test "a symlink loop is an error: 73" {
	ln -s a b
	ln -s b a
	run --separate-stderr "$ATOMICWRITE" a <<< x
	[ "$status" -eq 73 ]
	[[ "$stderr" == *"a: Too many levels of symbolic links"* ]]
}

@test "-P replaces the symlink itself with a regular file" {
	echo old > target
	ln -s target link
	echo new | "$ATOMICWRITE" -P link
	[ ! -L link ]
	[ "$(cat link)" = new ]
	[ "$(cat target)" = old ]
	echo newer | "$ATOMICWRITE" --no-dereference link
	[ "$(cat link)" = newer ]
}

@test "FILE with several hard links: warning, the other names keep the old content" {
	echo old > f
	ln f other
	run --separate-stderr "$ATOMICWRITE" f <<< new
	[ "$status" -eq 0 ]
	[[ "$stderr" == "atomicwrite: f: has 2 links; the other names keep the old content" ]]
	[ "$(cat f)" = new ]
	[ "$(cat other)" = old ]
	ln -f f other
	run --separate-stderr "$ATOMICWRITE" -q f <<< newer
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

# --- options --------------------------------------------------------------

@test "-b keeps the previous version as FILE~, replacing an older backup" {
	echo v1 > f
	echo v0 > 'f~'
	echo v2 | "$ATOMICWRITE" -b f
	[ "$(cat f)" = v2 ]
	[ "$(cat 'f~')" = v1 ]
	echo v3 | "$ATOMICWRITE" --backup f
	[ "$(cat 'f~')" = v2 ]
	no_temps_left
}

@test "-b with a suffix, and no backup when FILE did not exist" {
	echo v1 > f
	echo v2 | "$ATOMICWRITE" -b.bak f
	[ "$(cat f.bak)" = v1 ]
	echo v3 | "$ATOMICWRITE" --backup=.orig f
	[ "$(cat f.orig)" = v2 ]
	echo n | "$ATOMICWRITE" -b new
	[ ! -e 'new~' ]
}

@test "-b keeps the backup's metadata (it is the old file itself)" {
	echo v1 > f
	chmod 604 f
	ino=$(stat -c %i f)
	echo v2 | "$ATOMICWRITE" -b f
	[ "$(stat -c %i 'f~')" = "$ino" ]
	[ "$(mode_of 'f~')" = 604 ]
}

@test "-b rejects an empty suffix or one with a slash: 64" {
	echo v1 > f
	run "$ATOMICWRITE" --backup= f <<< x
	[ "$status" -eq 64 ]
	run "$ATOMICWRITE" -b/x f <<< x
	[ "$status" -eq 64 ]
	[ "$(cat f)" = v1 ]
}

@test "-c: identical content leaves FILE, its inode and mtime untouched" {
	echo same > f
	touch -d '2001-01-01 00:00:00' f
	ino=$(stat -c %i f)
	run --separate-stderr "$ATOMICWRITE" -c -v f <<< same
	[ "$status" -eq 0 ]
	[ "$stderr" = "atomicwrite: f: unchanged" ]
	[ "$(stat -c %i f)" = "$ino" ]
	[ "$(stat -c %Y f)" = "$(date -d '2001-01-01 00:00:00' +%s)" ]
	no_temps_left
}

@test "-c: different content is written" {
	echo same > f
	echo other | "$ATOMICWRITE" --if-changed f
	[ "$(cat f)" = other ]
	echo new | "$ATOMICWRITE" -c brand-new
	[ "$(cat brand-new)" = new ]
}

@test "--unchanged-status N is the exit status when -c found no change" {
	echo same > f
	run "$ATOMICWRITE" -c --unchanged-status 3 f -- echo same
	[ "$status" -eq 3 ]
	run "$ATOMICWRITE" -c --unchanged-status 3 f -- echo changed
	[ "$status" -eq 0 ]
	[ "$(cat f)" = changed ]
	run "$ATOMICWRITE" --unchanged-status 256 f <<< x
	[ "$status" -eq 64 ]
	run "$ATOMICWRITE" --unchanged-status 1x f <<< x
	[ "$status" -eq 64 ]
	[ "$(cat f)" = changed ]
}

@test "-e: empty content is refused with 65, FILE untouched" {
	echo old > f
	run --separate-stderr "$ATOMICWRITE" -e f < /dev/null
	[ "$status" -eq 65 ]
	[[ "$stderr" == "atomicwrite: f: empty input, not replaced" ]]
	run "$ATOMICWRITE" --no-empty f -- true
	[ "$status" -eq 65 ]
	[ "$(cat f)" = old ]
	no_temps_left
	echo x | "$ATOMICWRITE" -e f
	[ "$(cat f)" = x ]
}

@test "-V: the validator sees the new content as \$1; failure is 65 and FILE untouched" {
	echo good > f
	run --separate-stderr "$ATOMICWRITE" -V 'grep -q "^ok" "$1"' f <<< bad
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"f: validation failed"* ]]
	[ "$(cat f)" = good ]
	no_temps_left
	run "$ATOMICWRITE" --validate 'grep -q "^ok" "$1" && [ "$(stat -c %a "$1")" = 600 ]' f <<< "ok then"
	[ "$status" -eq 0 ]
	[ "$(cat f)" = "ok then" ]
}

@test "-V: a validator killed by a signal is a failure too" {
	echo good > f
	run "$ATOMICWRITE" -V 'kill -TERM $$' f <<< bad
	[ "$status" -eq 65 ]
	[ "$(cat f)" = good ]
}

@test "-l: FILE.lock holds the owner metadata of SPEC 1.5" {
	echo 1 | "$ATOMICWRITE" -l f
	[ -f f.lock ]
	grep -Eq '^pid=[0-9]+$' f.lock
	grep -Eq '^starttime=[0-9]+$' f.lock
	grep -qx "boot_id=$(cat /proc/sys/kernel/random/boot_id)" f.lock
	grep -qx "host=$(hostname)" f.lock
	grep -qx "uid=$(id -u)" f.lock
	grep -q '^cmd=.*atomicwrite -l f$' f.lock
}

@test "-l -v: the lock's wait and hold times are reported; a busy lock names the atomicwrite holding it and since when" {
	echo old > f
	"$ATOMICWRITE" -l f < <(sleep 2; echo slow) &
	writer=$!
	until grep -q "^pid=$writer$" f.lock 2> /dev/null; do sleep 0.05; done
	run --separate-stderr "$ATOMICWRITE" -l -t 0.3 -v f <<< new
	[ "$status" -eq 75 ]
	[[ "${stderr_lines[0]}" =~ ^"atomicwrite: f.lock: busy for 300ms; held by pid $writer ("[^\)]*"atomicwrite -l f) since "[0-9]{2}:[0-9]{2}:[0-9]{2}$ ]] ||
		fail "$stderr"
	[[ "${stderr_lines[1]}" =~ ^"atomicwrite: f.lock: lock waited "([0-9]+\.[0-9]{3})"s, held 0.000s"$ ]] || fail "$stderr"
	awk -v w="${BASH_REMATCH[1]}" 'BEGIN { exit !(w >= 0.29) }' || fail "$stderr"
	wait "$writer"
	[ "$(cat f)" = slow ]
	run --separate-stderr "$ATOMICWRITE" -l -v f <<< new
	[ "$status" -eq 0 ]
	[ "${stderr_lines[0]}" = "atomicwrite: f: 4 bytes written" ]
	[[ "${stderr_lines[1]}" =~ ^"atomicwrite: f.lock: lock waited "[0-9]+\.[0-9]{3}"s, held "[0-9]+\.[0-9]{3}"s"$ ]] || fail "$stderr"
}

@test "-l: a held lock makes -t 0.5 exit 75 with FILE untouched" {
	echo old > f
	flock f.lock sleep 30 &
	holder=$!
	await locked f.lock
	start=$(date +%s%N)
	run --separate-stderr "$ATOMICWRITE" -l -t 0.5 f <<< new
	elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
	kill "$holder"
	[ "$status" -eq 75 ]
	# the holder named: flock(1) writes no metadata, /proc/locks has it
	[ "$stderr" = "atomicwrite: f.lock: busy for 500ms; held by pid $holder (flock f.lock sleep 30)" ]
	[ "$(cat f)" = old ]
	[ "$elapsed" -ge 450 ] || fail "gave up after ${elapsed}ms"
	no_temps_left
}

@test "-l -t 0 fails at once on a held lock; the lock is waited for when it frees" {
	echo old > f
	hold_until_go f.lock
	run "$ATOMICWRITE" -l -t 0 f <<< new
	[ "$status" -eq 75 ]
	[ "$(cat f)" = old ]
	"$ATOMICWRITE" -l -t inf f <<< new &
	waiter=$!
	await lock_waited f.lock
	touch go
	wait "$HELD_BY"
	wait "$waiter"
	[ "$(cat f)" = new ]
}

@test "-l: a FILE.lock holding data (Gemfile.lock) is locked, never overwritten; a symlinked one is refused" {
	printf 'GEM\n  specs:\n    rake (13.0.6)\n' > Gemfile.lock
	cp Gemfile.lock expected
	echo x | "$ATOMICWRITE" -l Gemfile
	[ "$(cat Gemfile)" = x ]
	cmp Gemfile.lock expected
	echo secret > other
	ln -s other app.lock
	run --separate-stderr "$ATOMICWRITE" -l app <<< y
	[ "$status" -eq 73 ]
	[ "$stderr" = "atomicwrite: app.lock: Too many levels of symbolic links" ]
	[ "$(cat other)" = secret ]
	[ ! -e app ]
}

@test "-t rejects bad durations: 64" {
	for d in abc -1 1x '' 1.5.5 ' 1' 1e3 99999999999999999999; do
		run "$ATOMICWRITE" -l -t "$d" f <<< new
		[ "$status" -eq 64 ] || fail "duration '$d' gave $status"
	done
	[ ! -e f ]
	for d in 0 0.25 250ms 1.5s 2m 1h inf; do
		run "$ATOMICWRITE" -l -t "$d" f <<< new
		[ "$status" -eq 0 ] || fail "duration '$d' gave $status"
	done
}

@test "-l: a lock file removed while we wait is re-created, not used unlinked" {
	echo 0 > f
	# The holder deletes the lock file as it lets go (as staleclean may).
	hold_until_go f.lock 'rm f.lock'
	"$ATOMICWRITE" -l -t 10 f -- sh -c 'echo 1' &
	waiter=$!
	await lock_waited f.lock
	touch go
	wait "$HELD_BY"
	wait "$waiter"
	[ -f f.lock ]
	grep -q "^pid=" f.lock
	[ "$(cat f)" = 1 ]
}

@test "-l: 20 concurrent read-modify-write increments end at exactly 20" {
	echo 0 > counter
	pids=()
	for _ in $(seq 20); do
		"$ATOMICWRITE" -l -t 60 counter -- sh -c 'n=$(cat counter); sleep 0.01; echo $((n + 1))' &
		pids+=($!)
	done
	wait "${pids[@]}"
	[ "$(cat counter)" = 20 ]
	no_temps_left
}

@test "without -l the same increments lose updates (the race is real)" {
	echo 0 > counter
	pids=()
	for _ in $(seq 20); do
		"$ATOMICWRITE" counter -- sh -c 'n=$(cat counter); sleep 0.2; echo $((n + 1))' &
		pids+=($!)
	done
	wait "${pids[@]}"
	[ "$(cat counter)" -lt 20 ]
}

@test "-S none replaces atomically without fsync" {
	echo old > f
	run inject -f -o trace -e trace=fsync,fdatasync "$ATOMICWRITE" -S none f <<< new
	[ "$status" -eq 0 ]
	[ "$(cat f)" = new ]
	run ! grep -q sync trace
	run "$ATOMICWRITE" -S bogus f <<< x
	[ "$status" -eq 64 ]
	run "$ATOMICWRITE" --sync data f <<< x
	[ "$status" -eq 64 ]
}

@test "-S full: exactly one fsync of the file and one of the directory" {
	echo old > f
	run inject -o trace -e trace=fsync,fdatasync,sync,syncfs -y "$ATOMICWRITE" f <<< new
	[ "$status" -eq 0 ]
	[ "$(grep -c . trace)" -eq 2 ]
	grep -q '^fsync([0-9]*</.*/\.f\.cs-' trace
	grep -q "^fsync([0-9]*<$PWD>" trace
}

@test "-v reports the bytes written" {
	run --separate-stderr "$ATOMICWRITE" -v f <<< "12345"
	[ "$status" -eq 0 ]
	[ "$stderr" = "atomicwrite: f: 6 bytes written" ]
}

@test "--help and --version print to stdout and exit 0" {
	run --separate-stderr "$ATOMICWRITE" --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: atomicwrite "* ]]
	[ -z "$stderr" ]
	run "$ATOMICWRITE" -h
	[ "$status" -eq 0 ]
	run "$ATOMICWRITE" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^atomicwrite\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "usage errors are 64 with a one-line reason and the synopsis" {
	run --separate-stderr "$ATOMICWRITE"
	[ "$status" -eq 64 ]
	[[ "$stderr" == "atomicwrite: missing file operand"* ]]
	run --separate-stderr "$ATOMICWRITE" --frobnicate f
	[ "$status" -eq 64 ]
	[[ "$stderr" == "atomicwrite: unknown option: --frobnicate"* ]]
	run --separate-stderr "$ATOMICWRITE" -Z f
	[ "$status" -eq 64 ]
	[[ "$stderr" == "atomicwrite: unknown option: -Z"* ]]
	run "$ATOMICWRITE" f extra
	[ "$status" -eq 64 ]
	run "$ATOMICWRITE" f --
	[ "$status" -eq 64 ]
	run --separate-stderr "$ATOMICWRITE" -t
	[ "$status" -eq 64 ]
	[[ "$stderr" == "atomicwrite: option requires an argument: -t"* ]]
	[ ! -e f ]
}

# --- awkward names --------------------------------------------------------

@test "names with a leading dash, spaces, a newline and non-UTF-8 bytes" {
	echo x | "$ATOMICWRITE" -- -dash
	[ "$(cat -- -dash)" = x ]
	echo y | "$ATOMICWRITE" "with space"
	[ "$(cat "with space")" = y ]
	nl=$'new\nline'
	echo z | "$ATOMICWRITE" "$nl"
	[ "$(cat "$nl")" = z ]
	bad=$'caf\xe9'
	echo w | "$ATOMICWRITE" "$bad"
	[ "$(cat "$bad")" = w ]
	no_temps_left
}

@test "a 250-byte name: the temp name is shortened to fit NAME_MAX" {
	long=$(printf 'n%.0s' $(seq 250))
	echo old > "$long"
	run "$ATOMICWRITE" "$long" -- sh -c 'ls -a | grep "\.cs-" | awk "{ print length(\$0) }"'
	[ "$status" -eq 0 ]
	len=$(cat "$long")
	[ "$len" -le 255 ] || fail "temp name of $len bytes"
	echo new | "$ATOMICWRITE" "$long"
	[ "$(cat "$long")" = new ]
	long255=$(printf 'm%.0s' $(seq 255))
	echo new | "$ATOMICWRITE" "$long255"
	[ "$(cat "$long255")" = new ]
	no_temps_left
}

# --- errors (SPEC 1.3) ----------------------------------------------------

@test "missing directory: 73, nothing created" {
	run --separate-stderr "$ATOMICWRITE" no/such/dir/f <<< x
	[ "$status" -eq 73 ]
	[ "$stderr" = "atomicwrite: no/such/dir/f: No such file or directory" ]
	[ ! -e no ]
}

@test "FILE is a directory: 73, untouched" {
	mkdir d
	touch d/inside
	run --separate-stderr "$ATOMICWRITE" d <<< x
	[ "$status" -eq 73 ]
	[ "$stderr" = "atomicwrite: d: Is a directory" ]
	[ -d d ]
	[ -e d/inside ]
	run "$ATOMICWRITE" d/ <<< x
	[ "$status" -eq 73 ]
	no_temps_left
}

@test "FILE is a FIFO: refused at once (73), nothing opened or replaced" {
	mkfifo p
	run --separate-stderr timeout 10 "$ATOMICWRITE" p <<< x
	[ "$status" -eq 73 ]
	[[ "$stderr" == "atomicwrite: p: not a regular file"* ]]
	[ -p p ]
}

@test "read-only filesystem: 73, FILE untouched" {
	need_root "bind mounts"
	mkdir ro
	echo old > ro/f
	run unshare -m --propagation private sh -c '
		mount --bind ro ro && mount -o remount,bind,ro ro &&
		echo new | "$1" ro/f' sh "$ATOMICWRITE"
	[ "$status" -eq 73 ]
	[[ "$output" == *"ro/f: Read-only file system"* ]]
	[ "$(cat ro/f)" = old ]
}

@test "permission denied (another user): 77, FILE untouched" {
	need_root "run as another user"
	mkdir d
	chmod 755 d
	echo old > d/f
	chmod 666 d/f
	run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups -- "$ATOMICWRITE" d/f <<< new
	[ "$status" -eq 77 ]
	[ "$stderr" = "atomicwrite: d/f: Permission denied" ]
	[ "$(cat d/f)" = old ]
	no_temps_left d
}

@test "disk full (small tmpfs): 74, old content intact, no temp left" {
	need_root "tmpfs mount"
	mkdir mnt
	run unshare -m --propagation private sh -c '
		mount -t tmpfs -o size=64k tmpfs mnt &&
		echo old > mnt/f &&
		head -c 1000000 /dev/zero | "$1" mnt/f
		s=$?
		cat mnt/f
		ls -a mnt
		exit $s' sh "$ATOMICWRITE"
	[ "$status" -eq 74 ]
	[[ "${lines[0]}" == "atomicwrite: mnt/f: No space left on device" ]]
	[ "${lines[1]}" = old ]
	[[ "$output" != *".cs-"* ]]
}

@test "no inode left to create the temp file: 74, FILE untouched" {
	need_root "tmpfs mount"
	mkdir mnt
	run unshare -m --propagation private sh -c '
		mount -t tmpfs -o nr_inodes=2 tmpfs mnt &&
		echo old > mnt/f &&
		echo new | "$1" mnt/f
		s=$?
		cat mnt/f
		exit $s' sh "$ATOMICWRITE"
	[ "$status" -eq 74 ]
	[[ "$output" == *"mnt/f: No space left on device"* ]]
	[ "${lines[-1]}" = old ]
}

@test "file too large (RLIMIT_FSIZE): 74, FILE untouched" {
	echo old > f
	run bash -c 'trap "" XFSZ; ulimit -f 1; head -c 100000 /dev/zero | "$1" f' sh "$ATOMICWRITE"
	[ "$status" -eq 74 ]
	[[ "$output" == *"f: File too large"* ]]
	[ "$(cat f)" = old ]
	no_temps_left
}

@test "EIO reading stdin: 74 naming stdin, FILE untouched" {
	echo old > f
	head -c 100000 /dev/urandom > input
	run --separate-stderr inject -P "$PWD/input" -e trace=copy_file_range,read \
	    -e inject=copy_file_range:error=EXDEV -e inject=read:error=EIO "$ATOMICWRITE" f < input
	[ "$status" -eq 74 ]
	[ "$stderr" = "atomicwrite: stdin: Input/output error" ]
	[ "$(cat f)" = old ]
	no_temps_left
}

@test "stdin closed: 66, FILE untouched; closed stderr does not end up in FILE" {
	echo old > f
	# (bats' run cannot itself be started with stdin closed)
	run --separate-stderr sh -c 'exec "$1" f <&-' sh "$ATOMICWRITE"
	[ "$status" -eq 66 ]
	[ "$stderr" = "atomicwrite: stdin: Bad file descriptor" ]
	[ "$(cat f)" = old ]
	# a warning (hard links) with stderr closed must not land in the file
	ln f f2
	echo new | "$ATOMICWRITE" f 2>&-
	[ "$(cat f)" = new ]
	echo newer | "$ATOMICWRITE" f -- cat 2>&- >&-
	[ "$(cat f)" = newer ]
}

@test "stdin a directory: 74 naming stdin" {
	echo old > f
	mkdir d
	run --separate-stderr "$ATOMICWRITE" f < d
	[ "$status" -eq 74 ]
	[ "$stderr" = "atomicwrite: stdin: Is a directory" ]
	[ "$(cat f)" = old ]
}

@test "EIO on the file fsync: 74, no rename, temp removed, fsync not retried" {
	echo old > f
	run --separate-stderr inject -o trace -e trace=fsync,rename,renameat,renameat2 \
	    -e inject=fsync:error=EIO:when=1 "$ATOMICWRITE" f <<< new
	[ "$status" -eq 74 ]
	[ "$stderr" = "atomicwrite: f: Input/output error" ]
	[ "$(cat f)" = old ]
	no_temps_left
	run inject -o trace -e trace=fsync,rename,renameat,renameat2 \
	    -e inject=fsync:error=EIO:when=1 "$ATOMICWRITE" f <<< new
	[ "$(grep -c '^fsync' trace)" -eq 1 ]
	run ! grep -q '^rename' trace
}

@test "EIO on the directory fsync: 74, new content in place, durability unknown" {
	echo old > f
	run --separate-stderr inject -e trace=fsync -e inject=fsync:error=EIO:when=2 "$ATOMICWRITE" f <<< new
	[ "$status" -eq 74 ]
	[[ "$stderr" == "atomicwrite: f: new content is in place but its durability is unknown: directory fsync: Input/output error" ]]
	[ "$(cat f)" = new ]
	no_temps_left
}

@test "directory fsync not supported (EINVAL): not an error" {
	echo old > f
	run --separate-stderr inject -e trace=fsync -e inject=fsync:error=EINVAL:when=2 "$ATOMICWRITE" f <<< new
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(cat f)" = new ]
}

@test "EXDEV on rename: 73, FILE untouched, temp removed" {
	echo old > f
	run inject -e trace=renameat,rename,renameat2 -e inject=renameat,rename,renameat2:error=EXDEV "$ATOMICWRITE" f <<< new
	[ "$status" -eq 73 ]
	[ "$(cat f)" = old ]
	no_temps_left
}

@test "EINTR on write, read and copy_file_range is retried, not a failure" {
	head -c 500000 /dev/urandom > big
	run inject -y -o trace -e trace=write -e inject=write:error=EINTR:when=1 "$ATOMICWRITE" f < <(cat big)
	[ "$status" -eq 0 ]
	cmp f big
	grep -q '^write([0-9]*<.*/\.f\.cs-.*= -1 EINTR' trace
	# a named pipe, so that -P picks out the reads of stdin
	mkfifo in
	cat big > in &
	run inject -o trace -P "$PWD/in" -e trace=read -e inject=read:error=EINTR:when=1 "$ATOMICWRITE" g < in
	[ "$status" -eq 0 ]
	cmp g big
	grep -q '^read(0.*= -1 EINTR' trace
	run inject -e trace=copy_file_range -e inject=copy_file_range:error=EINTR:when=1 "$ATOMICWRITE" h < big
	[ "$status" -eq 0 ]
	cmp h big
}

@test "short writes (libfiu) on the read/write path are completed" {
	command -v fiu-run > /dev/null || skip "fiu-run not installed"
	if sanitized; then skip "libfiu's preloaded write() and ASan's interceptors crash together"; fi
	head -c 300000 /dev/urandom > big
	run strace -f -qq -y -o trace -e trace=write fiu-run -x -c 'enable_random name=posix/io/rw/write/reduce,probability=0.9' \
	    "$ATOMICWRITE" f < <(cat big)
	[ "$status" -eq 0 ]
	cmp f big
	# more writes than 128 KiB buffers: some of them were cut short
	[ "$(grep -c 'write([0-9]*<.*/\.f\.cs-' trace)" -gt 3 ]
}

# --- signals and crashes (SPEC 1.4) ---------------------------------------

@test "SIGTERM mid-input: temp removed, FILE untouched, exit 143" {
	echo old > f
	mkfifo in
	"$ATOMICWRITE" f < in &
	pid=$!
	exec {w}> in
	printf 'partial' >&"$w"
	for _ in $(seq 100); do [ -n "$(temps_in)" ] && break; sleep 0.05; done
	[ -n "$(temps_in)" ]
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	exec {w}>&-
	[ "$status" -eq 143 ]
	[ "$(cat f)" = old ]
	no_temps_left
}

@test "SIGINT and SIGHUP likewise: 130 and 129" {
	echo old > f
	for sig in INT HUP; do
		# a background job of a non-interactive shell ignores SIGINT
		# (and atomicwrite rightly leaves it ignored): restore it
		env --default-signal=INT "$ATOMICWRITE" f -- sleep 30 &
		pid=$!
		for _ in $(seq 100); do [ -n "$(temps_in)" ] && break; sleep 0.05; done
		kill -"$sig" "$pid"
		status=0
		wait "$pid" || status=$?
		[ "$status" -eq $((128 + $(kill -l "$sig"))) ] || fail "$sig gave $status"
		[ "$(cat f)" = old ]
		no_temps_left
	done
}

@test "a signal ignored by the caller stays ignored (nohup)" {
	echo old > f
	env --ignore-signal=HUP "$ATOMICWRITE" f -- sh -c 'sleep 1; echo new' &
	pid=$!
	for _ in $(seq 100); do [ -n "$(temps_in)" ] && break; sleep 0.05; done
	kill -HUP "$pid"
	wait "$pid"
	[ "$(cat f)" = new ]
}

@test "SIGTERM while COMMAND runs: the command is stopped too" {
	echo old > f
	"$ATOMICWRITE" f -- sh -c 'echo $$ > ../cmdpid; exec sleep 30' &
	pid=$!
	for _ in $(seq 100); do [ -s ../cmdpid ] && break; sleep 0.05; done
	cmd=$(cat ../cmdpid)
	rm ../cmdpid
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
	for _ in $(seq 100); do kill -0 "$cmd" 2>/dev/null || break; sleep 0.05; done
	run ! kill -0 "$cmd"
	[ "$(cat f)" = old ]
	no_temps_left
}

@test "a concurrent reader never sees a partial file" {
	head -c 1000000 /dev/zero | tr '\0' A > a
	head -c 1000000 /dev/zero | tr '\0' B > b
	cp a f
	(
		for i in $(seq 60); do
			if [ $((i % 2)) = 0 ]; then "$ATOMICWRITE" -S none f < a; else "$ATOMICWRITE" -S none f < b; fi
		done
	) &
	writer=$!
	bad=0 reads=0
	while kill -0 "$writer" 2>/dev/null; do
		# a reader holding the file open: cat reads one inode whole
		# (cp 9 gives up on a file replaced while it copies)
		cat f > snap
		reads=$((reads + 1))
		cmp -s snap a || cmp -s snap b || bad=$((bad + 1))
	done
	wait "$writer"
	[ "$bad" -eq 0 ] || fail "$bad of $reads reads saw a mixed file"
	[ "$reads" -gt 0 ]
}

@test "kill -9 at every system call: FILE is old or new, only orphan temps remain" {
	head -c 100000 /dev/urandom > new
	echo old > old
	run "$BATS_TEST_DIRNAME/crash/kill-sweep" -i new -g '.f.cs-*' \
	    -r 'cp old f; rm -f .f.cs-*' -c 'cmp -s f old || cmp -s f new' \
	    -- "$ATOMICWRITE" f
	echo "$output" | tail -1 >&3
	[ "$status" -eq 0 ]
	[[ "${lines[-1]}" =~ ^points=([0-9]+)\ passed=([0-9]+)\ failed=0 ]]
	[ "${BASH_REMATCH[1]}" -gt 30 ]
	# Every leftover is a temp of ours that staleclean --orphans can claim.
	odd=$(grep '^leftover' <<< "$output" | grep -vE ': \.f\.cs-[0-9]+-[A-Za-z0-9]{6} $' || true)
	[ -z "$odd" ] || fail "unexpected leftovers: $odd"
}

# --- hostile environments (issue 12) --------------------------------------

@test "protected_symlinks: root does not follow nobody's link in a sticky dir: 77, target untouched" {
	protect_symlinks
	sticky_dir pub
	printf 'secret\n' > victim
	chmod 600 victim
	symlink_as_nobody "$PWD/victim" pub/report
	# What the kernel itself says to a shell redirection:
	run bash -c 'echo x > pub/report'
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	run --separate-stderr "$ATOMICWRITE" pub/report <<< x
	[ "$status" -eq 77 ]
	[ "$stderr" = "atomicwrite: pub/report: cannot follow the symlink: Permission denied" ]
	[ "$(cat victim)" = secret ]
	[ "$(mode_of victim)" = 600 ]
	[ "$(readlink pub/report)" = "$PWD/victim" ]
	no_temps_left
	no_temps_left pub
	# The COMMAND form never starts its command.
	run "$ATOMICWRITE" pub/report -- touch ran
	[ "$status" -eq 77 ]
	[ ! -e ran ]
	[ "$(cat victim)" = secret ]
}

@test "protected_symlinks: a dangling link of nobody's in a sticky dir creates nothing: 77" {
	protect_symlinks
	sticky_dir pub
	mkdir etc
	symlink_as_nobody "$PWD/etc/cron-job" pub/report
	run --separate-stderr "$ATOMICWRITE" pub/report <<< '* * * * * root evil'
	[ "$status" -eq 77 ]
	[ "$stderr" = "atomicwrite: pub/report: cannot follow the symlink: Permission denied" ]
	[ -z "$(ls -A etc)" ]
	[ "$(readlink pub/report)" = "$PWD/etc/cron-job" ]
	no_temps_left pub
}

@test "protected_symlinks: nobody's link to a directory, in the middle of the path, is followed as by echo" {
	protect_symlinks
	sticky_dir pub
	mkdir real
	symlink_as_nobody "$PWD/real" pub/dl
	echo x > pub/dl/byshell
	echo x | "$ATOMICWRITE" pub/dl/f
	[ "$(cat real/f)" = x ]
	echo y | "$ATOMICWRITE" -l -b pub/dl/f
	[ "$(cat real/f)" = y ]
	[ "$(cat 'real/f~')" = x ]
	no_temps_left real
}

@test "FILE leading to a pipe or a removed file: 73, not a retryable 75" {
	run --separate-stderr bash -c 'echo hi | "$1" /dev/stdout | cat' sh "$ATOMICWRITE"
	[ "$status" -eq 0 ]
	run --separate-stderr bash -c 'set -o pipefail; echo hi | "$1" /dev/stdout | cat' sh "$ATOMICWRITE"
	[ "$status" -eq 73 ]
	[[ "$stderr" =~ ^"atomicwrite: /dev/stdout: leads to pipe:["[0-9]+"], not a file that can be replaced"$ ]]
	# an open file that was removed: nowhere to put its replacement
	exec 5> gone
	rm gone
	run --separate-stderr "$ATOMICWRITE" /proc/self/fd/5 <<< y
	exec 5>&-
	[ "$status" -eq 73 ]
	[ "$stderr" = "atomicwrite: /proc/self/fd/5: leads to $PWD/gone (deleted), a file no longer in any directory" ]
	no_temps_left
}

@test "protected_symlinks: links the kernel does follow (our own, through a chain) are followed" {
	protect_symlinks
	sticky_dir pub
	echo old > target
	ln -s "$PWD/target" pub/mine		# root's own link: allowed
	ln -s mine pub/chain
	echo new | "$ATOMICWRITE" pub/chain
	[ "$(cat target)" = new ]
	[ -L pub/mine ] && [ -L pub/chain ]
	ln -s "$PWD/fresh" pub/dangling	# a dangling link of our own
	echo made | "$ATOMICWRITE" pub/dangling
	[ "$(cat fresh)" = made ]
	[ -L pub/dangling ]
	no_temps_left pub
	no_temps_left
}

@test "protected_regular: root does not replace another user's file in a sticky dir: 77, untouched" {
	protect_symlinks 1
	sticky_dir pub
	as_nobody sh -c 'umask 0; echo planted > pub/report'
	run bash -c 'echo secret > pub/report'
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	run --separate-stderr "$ATOMICWRITE" pub/report <<< secret
	[ "$status" -eq 77 ]
	[ "$stderr" = "atomicwrite: pub/report: Permission denied (another user's file in a sticky directory: fs.protected_regular)" ]
	[ "$(cat pub/report)" = planted ]
	[ "$(stat -c %U pub/report)" = nobody ]
	no_temps_left pub
	# Our own file there, and any file where the rule is off, are replaced.
	echo mine > pub/mine
	echo new | "$ATOMICWRITE" pub/mine
	[ "$(cat pub/mine)" = new ]
	hostile_sysctl fs.protected_regular 0
	echo secret | "$ATOMICWRITE" pub/report
	[ "$(cat pub/report)" = secret ]
}

@test "ACL: a file without an ACL stays without one in a directory with a default ACL" {
	command -v setfacl > /dev/null || skip "acl not installed"
	mkdir d
	printf 'secret\n' > d/s
	chmod 640 d/s
	setfacl -d -m u:nobody:rw d || skip "no ACLs on this filesystem"
	before=$(getfacl -cp d/s)
	echo new | "$ATOMICWRITE" d/s
	[ "$(cat d/s)" = new ]
	[ "$(getfacl -cp d/s)" = "$before" ]
	run getfattr -n system.posix_acl_access d/s
	[ "$status" -ne 0 ]
	[ "$(mode_of d/s)" = 640 ]
	no_temps_left d
}

@test "ACL: a file with its own ACL keeps exactly that one, not the directory's default" {
	command -v setfacl > /dev/null || skip "acl not installed"
	mkdir d
	echo old > d/f
	setfacl -m u:daemon:r,m::r d/f || skip "no ACLs on this filesystem"
	setfacl -d -m u:nobody:rwx d
	before=$(getfacl -cp d/f)
	echo new | "$ATOMICWRITE" d/f
	[ "$(getfacl -cp d/f)" = "$before" ]
	[ "$(mode_of d/f)" = 644 ]
}

@test "ACL: a new file is created exactly as cat > FILE would (default ACL and its mask, no umask)" {
	command -v setfacl > /dev/null || skip "acl not installed"
	mkdir d
	setfacl -d -m u:nobody:rw,g::r,o::- d || skip "no ACLs on this filesystem"
	umask 022
	echo x > d/ref
	echo x | "$ATOMICWRITE" d/new
	[ "$(getfacl -cp d/new)" = "$(getfacl -cp d/ref)" ]
	[ "$(mode_of d/new)" = "$(mode_of d/ref)" ]
	getfacl -cp d/new | grep -qx 'mask::rw-'
	# and with an umask that would have hidden the mask's w
	umask 077
	echo x > d/ref2
	echo x | "$ATOMICWRITE" d/new2
	[ "$(getfacl -cp d/new2)" = "$(getfacl -cp d/ref2)" ]
	[ "$(mode_of d/new2)" = "$(mode_of d/ref2)" ]
	no_temps_left d
}

@test "a new file in a setgid directory gets its group, as cat > FILE would" {
	mkdir d
	chgrp daemon d && chmod g+s d
	echo x > d/ref
	echo x | "$ATOMICWRITE" d/new
	[ "$(stat -c %G:%a d/new)" = "$(stat -c %G:%a d/ref)" ]
}

@test "COMMAND form: a background child holding stdout is waited for; nothing lands after the commit" {
	echo key=1 > app.conf
	# Its late output is part of the content, so the validator sees it.
	run "$ATOMICWRITE" -V '! grep -q garbage "$1"' app.conf -- sh -c 'echo key=2; (sleep 1; echo garbage) &'
	[ "$status" -eq 65 ]
	[ "$(cat app.conf)" = key=1 ]
	# Without a validator the whole output is committed, and then nothing more.
	run "$ATOMICWRITE" app.conf -- sh -c 'echo key=2; (sleep 1; echo late) &'
	[ "$status" -eq 0 ]
	[ "$(cat app.conf)" = "$(printf 'key=2\nlate')" ]
	ino=$(stat -c %i app.conf)
	sleep 1.5
	[ "$(cat app.conf)" = "$(printf 'key=2\nlate')" ]
	[ "$(stat -c %i app.conf)" = "$ino" ]
	no_temps_left
}

@test "COMMAND form: a background child detached from stdout neither delays the commit nor writes into FILE" {
	echo old > f
	start=$SECONDS
	run "$ATOMICWRITE" f -- sh -c 'echo new; (sleep 3; echo late; echo late >&2) > /dev/null 2>&1 &'
	[ "$status" -eq 0 ]
	[ $((SECONDS - start)) -lt 3 ]
	[ "$(cat f)" = new ]
}

@test "COMMAND form: a failing command is not waited on for a background child holding stdout" {
	echo old > f
	start=$SECONDS
	run "$ATOMICWRITE" f -- sh -c 'sleep 30 2> /dev/null & echo $! > bgpid; echo partial; exit 3'
	kill "$(cat bgpid)"
	[ "$status" -eq 3 ]
	[ $((SECONDS - start)) -lt 20 ]
	[ "$(cat f)" = old ]
	no_temps_left
}

@test "-b: a replace that fails (chattr +i, +a) leaves the previous backup untouched: 77" {
	need_root "chattr"
	command -v chattr > /dev/null || skip "e2fsprogs not installed"
	for attr in i a; do
		echo v2 > f
		echo v1 > 'f~'
		chattr +$attr f 2> /dev/null || skip "no chattr +$attr on this filesystem"
		run --separate-stderr "$ATOMICWRITE" -b f <<< v3
		chattr -$attr f
		[ "$status" -eq 77 ]
		[ "$stderr" = "atomicwrite: f: Operation not permitted" ]
		[ "$(cat f)" = v2 ]
		[ "$(cat 'f~')" = v1 ]
		no_temps_left
	done
}

@test "-b: FILE~ a directory: 73 before anything is replaced" {
	echo v2 > f
	mkdir 'f~'
	run --separate-stderr "$ATOMICWRITE" -b f <<< v3
	[ "$status" -eq 73 ]
	[ "$stderr" = "atomicwrite: f~: Is a directory" ]
	[ "$(cat f)" = v2 ]
	[ -d 'f~' ] && [ -z "$(ls -A 'f~')" ]
	no_temps_left
}

@test "-b: a backup that cannot be made (immutable FILE~) stops the replace: 77, both untouched" {
	need_root "chattr"
	command -v chattr > /dev/null || skip "e2fsprogs not installed"
	echo v2 > f
	echo v1 > 'f~'
	chattr +i 'f~' 2> /dev/null || skip "no immutable files on this filesystem"
	run --separate-stderr "$ATOMICWRITE" -b f <<< v3
	chattr -i 'f~'
	[ "$status" -eq 77 ]
	[ "$stderr" = "atomicwrite: f~: Operation not permitted" ]
	[ "$(cat f)" = v2 ]
	[ "$(cat 'f~')" = v1 ]
	no_temps_left
}

@test "-b: when FILE cannot be replaced after FILE~ was, the previous FILE~ is put back" {
	echo v2 > f
	echo v1 > 'f~'
	# The first rename (the backup) goes through, the second (FILE) fails.
	run --separate-stderr inject -e trace=rename,renameat,renameat2 \
	    -e inject=rename,renameat,renameat2:error=EXDEV:when=2 "$ATOMICWRITE" -b f <<< v3
	[ "$status" -eq 73 ]
	[ "$stderr" = "atomicwrite: f: Invalid cross-device link" ]
	[ "$(cat f)" = v2 ]
	[ "$(cat 'f~')" = v1 ]
	no_temps_left
	# and when there was no FILE~ before, none is left
	rm 'f~'
	run inject -e trace=rename,renameat,renameat2 \
	    -e inject=rename,renameat,renameat2:error=EXDEV:when=2 "$ATOMICWRITE" -b f <<< v3
	[ "$status" -eq 73 ]
	[ ! -e 'f~' ]
	[ "$(cat f)" = v2 ]
	no_temps_left
}

@test "sshfs: -l is refused (69, nothing created) unless --unsafe-shared-fs; a plain replace is allowed" {
	mkdir export
	echo n=0 > export/f
	sshfs_up "$PWD/export" "$PWD/m1"
	run --separate-stderr "$ATOMICWRITE" -l m1/f <<< n=1
	[ "$status" -eq 69 ]
	[ "$stderr" = "atomicwrite: m1/f.lock: on fuse.sshfs, whose locks do not reach its other clients: a lock here excludes nothing (--unsafe-shared-fs to go on anyway)" ]
	[ "$(cat export/f)" = n=0 ]
	[ ! -e export/f.lock ]
	run "$ATOMICWRITE" -l m1/f -- touch ran
	[ "$status" -eq 69 ]
	[ ! -e ran ]
	echo n=1 | "$ATOMICWRITE" m1/f
	[ "$(cat export/f)" = n=1 ]
	echo n=2 | "$ATOMICWRITE" -l --unsafe-shared-fs m1/f
	[ "$(cat export/f)" = n=2 ]
	echo n=3 | CRASHSAFE_UNSAFE_SHARED_FS=1 "$ATOMICWRITE" -l m1/f
	[ "$(cat export/f)" = n=3 ]
	no_temps_left export
}

@test "bindfs (local FUSE): -l, -b and a new file work; no RENAME_NOREPLACE or O_TMPFILE needed" {
	mkdir src
	echo old > src/f
	bindfs_up "$PWD/src" "$PWD/b"
	echo new | "$ATOMICWRITE" -l -b b/f
	[ "$(cat src/f)" = new ]
	[ "$(cat 'src/f~')" = old ]
	umask 027
	echo x | "$ATOMICWRITE" b/fresh
	[ "$(cat src/fresh)" = x ]
	[ "$(mode_of src/fresh)" = 640 ]
	no_temps_left src
}

@test "xfs and btrfs loop images: ACL state kept, new files as cat > makes them, -b, input from a file" {
	command -v setfacl > /dev/null || skip "acl not installed"
	for fs in xfs btrfs; do
		loopfs_up "$fs" "$PWD/$fs"
		m=$PWD/$fs
		mkdir "$m/d"
		echo old > "$m/d/plain"
		chmod 640 "$m/d/plain"
		setfacl -d -m u:nobody:rw "$m/d"
		before=$(getfacl -cp "$m/d/plain")
		head -c 3000000 /dev/urandom > "$m/src"
		"$ATOMICWRITE" -b "$m/d/plain" < "$m/src"	# copy_file_range (a reflink on btrfs and xfs)
		cmp "$m/src" "$m/d/plain"
		[ "$(getfacl -cp "$m/d/plain")" = "$before" ]
		[ "$(cat "$m/d/plain~")" = old ]
		echo v2 > "$m/d/plain"
		run --separate-stderr "$ATOMICWRITE" "$m/d/plain" <<< v3	# no warning (xfs's trusted.SGI_ACL_*)
		[ "$status" -eq 0 ]
		[ -z "$stderr" ]
		echo x > "$m/d/ref"
		echo x | "$ATOMICWRITE" "$m/d/new"
		[ "$(getfacl -cp "$m/d/new")" = "$(getfacl -cp "$m/d/ref")" ]
		[ "$(mode_of "$m/d/new")" = "$(mode_of "$m/d/ref")" ]
		no_temps_left "$m/d"
	done
}
