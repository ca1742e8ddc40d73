# SPDX-License-Identifier: ISC
# shellcheck shell=bash
# Hostile environments built inside bats tests (../shared/TESTING.md section 9):
# a network filesystem (sshfs to a private sshd), a local FUSE mount (bindfs),
# a memory cgroup, kernel symlink protections, a logrotate loop and xfs/btrfs
# loop mounts.
#
#   load helpers
#   load hostile
#   setup()    { common_setup; }
#   teardown() { hostile_teardown; }
#
# Every fixture writes what it started (pids, mount points, cgroups, sysctl
# values) to a journal beside the test's temp dir: $BATS_TEST_TMPDIR.hostile,
# or $BATS_FILE_TMPDIR.hostile when called from setup_file (then call
# hostile_teardown from teardown_file too).  Nothing is added to the test's
# own directory.  hostile_teardown undoes the journal newest first; it kills
# only pids the fixtures recorded (and the session processes of the sshd they
# started), never by name, and is idempotent.
#
# A fixture skips the test when the machine lacks what it needs (root,
# /dev/fuse, a binary, a writable cgroup, a loop device).  With
# HOSTILE_STRICT=1 (for CI) those skips become failures.
#
# Do not call the *_up / in_memcg fixtures under `run`: `skip` and the
# variables they set would stay in run's subshell (the journal would not,
# so hostile_teardown still cleans up).

# --- internals ------------------------------------------------------------

# The journal directory of the current scope (test, or file in setup_file).
_hostile_dir() {
	local base=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-}}
	[ -n "$base" ] || { echo "hostile.bash: not running under bats" >&2; return 1; }
	mkdir -p "$base.hostile" && chmod 700 "$base.hostile" &&
		printf '%s\n' "$base.hostile"
}

# The journals a lookup may use: this test's, then the file's (setup_file).
_hostile_journals() {
	local b
	for b in "${BATS_TEST_TMPDIR:-}" "${BATS_FILE_TMPDIR:-}"; do
		[ -n "$b" ] && [ -f "$b.hostile/journal" ] && printf '%s\n' "$b.hostile/journal"
	done
	return 0
}

# _hostile_log KIND PID PATH EXTRA: one tab-separated journal line; "-" for
# an empty field (read with IFS=tab would merge empty fields).
_hostile_log() {
	local d
	d=$(_hostile_dir) || return 1
	printf '%s\t%s\t%s\t%s\n' "$1" "${2:--}" "${3:--}" "${4:--}" >> "$d/journal"
}

# _hostile_unlog LINE: drop one journal line once it has been undone.
_hostile_unlog() {
	local d j
	d=$(_hostile_dir) || return 1
	j=$d/journal
	[ -f "$j" ] || return 0
	grep -vxF -- "$1" "$j" > "$j.new" || true
	mv -f "$j.new" "$j"
}

# The journal lines of this scope, newest first, optionally only of KINDs.
_hostile_lines() {
	local d
	d=$(_hostile_dir) || return 1
	[ -f "$d/journal" ] || return 0
	if [ $# -eq 0 ]; then
		tac "$d/journal"
	else
		tac "$d/journal" | awk -F '\t' -v kinds=" $* " \
			'index(kinds, " " $1 " ") > 0'
	fi
}

# Skip the test (fail it with HOSTILE_STRICT=1): the machine lacks something.
_hostile_skip() {
	if [ "${HOSTILE_STRICT:-0}" = 1 ]; then
		fail "hostile environment unavailable (HOSTILE_STRICT=1): $1"
		return 1
	fi
	skip "$1"
}

_hostile_need_root() {
	[ "$(id -u)" -eq 0 ] || _hostile_skip "needs root: $1"
}

_hostile_need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" > /dev/null 2>&1 || { _hostile_skip "command not found: $c"; return 1; }
	done
}

_hostile_need_fuse() {
	if ! { [ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ]; }; then
		_hostile_skip "no usable /dev/fuse"
		return 1
	fi
	command -v fusermount3 > /dev/null 2>&1 || command -v fusermount > /dev/null 2>&1 ||
		{ _hostile_skip "no fusermount3/fusermount"; return 1; }
}

# True while PID exists and is not a zombie.
_hostile_alive() {
	local st
	[ -n "$1" ] && [ "$1" != - ] || return 1
	st=$(cat "/proc/$1/stat" 2> /dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# True when PID's command line contains STRING (guards against pid reuse).
_hostile_cmdline_has() {
	local cmd
	cmd=$(tr '\0' ' ' < "/proc/$1/cmdline" 2> /dev/null) || return 1
	[[ $cmd == *"$2"* ]]
}

# _hostile_poll TENTHS CMD...: run CMD every 0.1 s until it succeeds.
_hostile_poll() {
	local n=$1
	shift
	while ! "$@"; do
		[ "$n" -gt 0 ] || return 1
		n=$((n - 1))
		sleep 0.1
	done
}

_hostile_gone() { ! _hostile_alive "$1"; }

# _hostile_stop_pid PID [MATCH]: SIGCONT (a test may have stopped it), SIGTERM,
# SIGKILL after 5 s; reap it if it is our child.  With MATCH, a pid whose
# command line no longer contains MATCH is not ours any more and is left alone.
_hostile_stop_pid() {
	local pid=$1 match=${2:-}
	[ -n "$pid" ] && [ "$pid" != - ] || return 0
	if _hostile_alive "$pid" && { [ -z "$match" ] || _hostile_cmdline_has "$pid" "$match"; }; then
		kill -CONT "$pid" 2> /dev/null
		kill -TERM "$pid" 2> /dev/null
		if ! _hostile_poll 50 _hostile_gone "$pid"; then
			kill -KILL "$pid" 2> /dev/null
			_hostile_poll 50 _hostile_gone "$pid" || {
				echo "hostile: pid $pid does not die" >&2
				return 1
			}
		fi
	fi
	# Reap our own child (a zombie); for other pids wait fails at once.
	_hostile_alive "$pid" || wait "$pid" 2> /dev/null
	return 0
}

# _hostile_spawn PIDFILE LOG CMD...: start CMD in the background, detached
# from the test shell (a subshell starts it and exits: it is nobody's job
# here, so a test's bare `wait` does not wait for it), and print its pid.
_hostile_spawn() {
	local pidf=$1 log=$2
	shift 2
	rm -f "$pidf"
	("$@" < /dev/null >> "$log" 2>&1 3>&- & echo $! > "$pidf")
	cat "$pidf"
}

# PID and all its descendants (for the sshd listener: its sessions).
_hostile_tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			print root
			do {
				added = 0
				for (p in parent)
					if (!(p in seen) && (parent[p] == root || parent[p] in seen)) {
						seen[p] = 1; print p; added = 1
					}
			} while (added)
		}'
}

# MNT as /proc/self/mountinfo escapes it.
_hostile_mi_escape() {
	local e=${1//\\/\\134}
	e=${e// /\\040}
	e=${e//$'\t'/\\011}
	printf '%s' "${e//$'\n'/\\012}"
}

# Whether MNT (a canonical path) is a mount point, from /proc/self/mountinfo:
# no stat(2), so a hung FUSE daemon cannot hang the check.
_hostile_mounted() {
	HOSTILE_MNT=$(_hostile_mi_escape "$1") \
		awk '$5 == ENVIRON["HOSTILE_MNT"] { found = 1 } END { exit !found }' \
		/proc/self/mountinfo
}

# The file system type of mount point MNT as mountinfo names it (fuse.sshfs,
# fuse, xfs, ...), without touching the mount.
mount_fstype() {
	local mnt
	mnt=$(realpath -m "$1")
	HOSTILE_MNT=$(_hostile_mi_escape "$mnt") awk '
		$5 == ENVIRON["HOSTILE_MNT"] {
			for (i = 7; $i != "-"; i++) ;
			t = $(i + 1)
		}
		END { if (t == "") exit 1; print t }' /proc/self/mountinfo
}

# _hostile_unmount MNT fuse|block: unmount, then detach lazily as a last
# resort (so that bats' rm -r of the temp dir can never walk into it).
_hostile_unmount() {
	local mnt=$1 fm
	_hostile_mounted "$mnt" || return 0
	if [ "$2" = fuse ]; then
		for fm in fusermount3 fusermount; do
			command -v "$fm" > /dev/null 2>&1 || continue
			timeout -s KILL 10 "$fm" -u -z "$mnt" 2> /dev/null
			break
		done
		_hostile_mounted "$mnt" || return 0
	fi
	timeout -s KILL 20 umount -c "$mnt" 2> /dev/null
	_hostile_mounted "$mnt" || return 0
	timeout -s KILL 10 umount -c -l "$mnt" 2> /dev/null
	_hostile_mounted "$mnt" || return 0
	echo "hostile: cannot unmount $mnt" >&2
	return 1
}

# Undo one journal line; remove it from the journal when done.
_hostile_undo() {
	local line=$1 kind pid path extra ok=0 p
	IFS=$'\t' read -r kind pid path extra <<< "$line"
	case $kind in
	sshfs | bindfs)
		kill -CONT "$pid" 2> /dev/null
		if [ "$kind" = sshfs ]; then
			# A test may have stopped the server side too.
			for p in $(_hostile_lines sshd | cut -f2); do
				# shellcheck disable=SC2046 # a list of pids
				_hostile_alive "$p" && kill -CONT $(_hostile_tree "$p") 2> /dev/null
			done
		fi
		_hostile_unmount "$path" fuse || ok=1
		if _hostile_alive "$pid"; then
			_hostile_poll 30 _hostile_gone "$pid" || _hostile_stop_pid "$pid" "$kind" || ok=1
		fi
		_hostile_alive "$pid" || wait "$pid" 2> /dev/null
		;;
	sshd)
		# The listener and its sessions (they exit by themselves once the
		# sshfs clients are gone; a stopped one would not).
		if _hostile_alive "$pid" && _hostile_cmdline_has "$pid" "$path"; then
			local tree
			tree=$(_hostile_tree "$pid")
			# shellcheck disable=SC2086 # a list of pids
			kill -CONT $tree 2> /dev/null
			_hostile_stop_pid "$pid" "$path" || ok=1
			for p in $tree; do
				[ "$p" = "$pid" ] || _hostile_stop_pid "$p" sshd || ok=1
			done
		fi
		;;
	loopfs)
		_hostile_unmount "$path" block || ok=1
		local dev
		for dev in $(losetup -n -O NAME -j "$extra" 2> /dev/null); do
			losetup -d "$dev" 2> /dev/null
		done
		if [ -n "$(losetup -n -O NAME -j "$extra" 2> /dev/null)" ]; then
			_hostile_mounted "$path" || ok=1 # a lazy unmount still holds it
		fi
		[ "$ok" -ne 0 ] || rm -f "$extra"
		;;
	memcg)
		_hostile_memcg_remove "$path" kill || ok=1
		;;
	rotate)
		: > "$path"
		_hostile_poll 100 _hostile_gone "$pid" || _hostile_stop_pid "$pid" rotate-loop || ok=1
		_hostile_alive "$pid" || wait "$pid" 2> /dev/null
		;;
	sysctl)
		_hostile_sysctl_ctl leave "$path" || ok=1
		;;
	esac
	[ "$ok" -ne 0 ] || _hostile_unlog "$line"
	return "$ok"
}

# _hostile_undo_kinds KIND...: undo this scope's lines of those kinds.
_hostile_undo_kinds() {
	local line rc=0 lines
	lines=$(_hostile_lines "$@") || return 1
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		_hostile_undo "$line" || rc=1
	done <<< "$lines"
	return "$rc"
}

# Undo everything the fixtures set up in this scope (test, or file when
# called from teardown_file), newest first.  Idempotent; returns nonzero
# (failing the test) only when something could not be undone.  When a test
# times out (BATS_TEST_TIMEOUT), bats' watchdog runs `pkill -P` on the test
# shell while teardown already runs and may kill one of our commands: so
# try again.
hostile_teardown() {
	local i
	for i in 1 2 3; do
		_hostile_undo_kinds && return 0
		[ "$i" -eq 3 ] || sleep 0.3
	done
	return 1
}

# --- 1. a network file system: sshfs to a private sshd ----------------------

# Start this scope's sshd on 127.0.0.1 unless it runs already.  Sets and
# exports SSHD_PID, SSHFS_PORT and SSHD_DIR (keys, config, logs).
_hostile_sshd_start() {
	local line pid conf port d i rc
	line=$(_hostile_lines sshd | head -n 1)
	if [ -n "$line" ]; then
		IFS=$'\t' read -r _ pid conf port <<< "$line"
		if _hostile_alive "$pid"; then
			SSHD_PID=$pid SSHFS_PORT=$port SSHD_DIR=${conf%/*}
			export SSHD_PID SSHFS_PORT SSHD_DIR
			return 0
		fi
		_hostile_undo "$line" || return 1
	fi
	d=$(_hostile_dir)/sshd.$$.$RANDOM
	mkdir -m 700 "$d" || return 1
	if ! { ssh-keygen -q -t ed25519 -N '' -C hostile-host -f "$d/host_key" < /dev/null &&
		ssh-keygen -q -t ed25519 -N '' -C hostile-client -f "$d/client_key" < /dev/null &&
		cp "$d/client_key.pub" "$d/authorized_keys"; }; then
		fail "ssh-keygen failed"
		return 1
	fi
	mkdir -p /run/sshd || return 1
	for i in $(seq 30); do
		# Below the kernel's ephemeral range (32768-60999 by default), so
		# no outgoing connection takes the port between the check and sshd.
		port=$((20000 + RANDOM % 12768))
		[ -z "$(ss -Hltn "sport = :$port" 2> /dev/null)" ] || continue
		conf=$d/sshd_config
		cat > "$conf" <<- EOF
			# private sshd of a bats test (tests/hostile.bash)
			Port $port
			ListenAddress 127.0.0.1
			HostKey $d/host_key
			AuthorizedKeysFile $d/authorized_keys
			PidFile $d/sshd.pid
			PermitRootLogin prohibit-password
			AllowUsers root
			PubkeyAuthentication yes
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			UsePAM no
			StrictModes no
			X11Forwarding no
			AllowTcpForwarding no
			PrintMotd no
			Subsystem sftp internal-sftp
		EOF
		rm -f "$d/sshd.pid" "$d/sshd.log"
		rc=0
		/usr/sbin/sshd -f "$conf" -E "$d/sshd.log" < /dev/null > /dev/null 2>&1 3>&- || rc=$?
		if [ "$rc" -ne 0 ]; then
			# Lost a race for the port: try another; anything else is fatal.
			grep -qiE 'bind|address already in use' "$d/sshd.log" 2> /dev/null && continue
			_hostile_skip "sshd does not start: $(tail -n 3 "$d/sshd.log" 2> /dev/null)"
			return 1
		fi
		# sshd daemonizes before it binds: a lost race shows in its log.
		_hostile_poll 50 test -s "$d/sshd.pid" || {
			grep -qiE 'bind|address already in use' "$d/sshd.log" 2> /dev/null && continue
			fail "sshd wrote no pid file: $(tail -n 3 "$d/sshd.log")"
			return 1
		}
		pid=$(cat "$d/sshd.pid")
		_hostile_log sshd "$pid" "$conf" "$port" || return 1
		_hostile_poll 50 _hostile_listening "$port" || {
			fail "sshd (pid $pid) does not listen on $port: $(tail -n 3 "$d/sshd.log")"
			return 1
		}
		SSHD_PID=$pid SSHFS_PORT=$port SSHD_DIR=$d
		export SSHD_PID SSHFS_PORT SSHD_DIR
		return 0
	done
	fail "no free port for sshd after $i tries"
	return 1
}

_hostile_listening() {
	[ -n "$(ss -Hltn "sport = :$1" 2> /dev/null)" ]
}

# _hostile_await_fuse TRIES MNT PID LOG WHAT: wait until the FUSE daemon
# PID serves MNT; skip where FUSE cannot mount here, fail otherwise.
_hostile_await_fuse() {
	local tries=$1 mnt=$2 pid=$3 log=$4 what=$5
	_hostile_poll "$tries" _hostile_mount_ready "$mnt" "$pid" && return 0
	if grep -qiE 'fuse: (device not found|failed to open)|operation not permitted' "$log"; then
		_hostile_skip "cannot mount FUSE here: $(tail -n 2 "$log")"
		return 1
	fi
	fail "$what (pid $pid) failed: $(tail -n 3 "$log")"
	return 1
}

# sshfs_up EXPORT_DIR MNT...
# Export EXPORT_DIR through a private sshd (127.0.0.1, a free port in
# 20000-32767, key auth as root, config/keys/logs in the journal dir) and
# mount it at each MNT (created if missing) with its own sshfs process: two
# mounts of one export are two network clients (their flock/fcntl locks do
# not see each other).  Caches are off (dir_cache=no, attr/entry/negative
# timeouts 0) so each mount sees the other's writes at once; more -o options
# in HOSTILE_SSHFS_OPTS.  Sets SSHD_PID, SSHFS_PORT, SSHD_DIR, SSHFS_PIDS
# (the sshfs daemons, in mount order; `sshfs_pid MNT` for one).  Can be called
# again to add mounts (same sshd).  SIGSTOP an sshfs pid, or the sshd session
# (sshd_session_pids), to simulate a hung server; teardown resumes them.
sshfs_up() {
	if [ $# -lt 2 ]; then
		fail "usage: sshfs_up EXPORT_DIR MNT..."
		return 1
	fi
	need_sshfs || return 1
	local exp mnt pid log opts
	if ! { exp=$(realpath -e "$1") && [ -d "$exp" ]; }; then
		fail "sshfs_up: no directory $1"
		return 1
	fi
	shift
	_hostile_sshd_start || return 1
	opts=IdentityFile=$SSHD_DIR/client_key,IdentitiesOnly=yes,BatchMode=yes
	opts+=,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR
	opts+=,ConnectTimeout=10,dir_cache=no,attr_timeout=0,entry_timeout=0,negative_timeout=0
	opts+=${HOSTILE_SSHFS_OPTS:+,$HOSTILE_SSHFS_OPTS}
	for mnt in "$@"; do
		if ! { mkdir -p "$mnt" && mnt=$(realpath -e "$mnt"); }; then
			fail "sshfs_up: bad mount point $mnt"
			return 1
		fi
		log=$SSHD_DIR/sshfs.$(printf '%s' "$mnt" | cksum | cut -d' ' -f1).log
		pid=$(_hostile_spawn "$log.pid" "$log" sshfs -f -p "$SSHFS_PORT" -F /dev/null \
			-o "$opts" "root@127.0.0.1:$exp" "$mnt") || return 1
		_hostile_log sshfs "$pid" "$mnt" "$exp" || return 1
		SSHFS_PIDS="${SSHFS_PIDS:+$SSHFS_PIDS }$pid"
		export SSHFS_PIDS
		_hostile_await_fuse 150 "$mnt" "$pid" "$log" "sshfs $mnt" || return 1
	done
}

# need_sshfs: skip unless sshfs_up can work here (root, sshfs, sshd,
# /dev/fuse); for setup_file, or before `run sshfs_up`.
need_sshfs() {
	_hostile_need_root "sshfs through a private sshd" || return 1
	_hostile_need_cmd sshfs ssh ssh-keygen ss realpath || return 1
	[ -x /usr/sbin/sshd ] || { _hostile_skip "no /usr/sbin/sshd (openssh-server)"; return 1; }
	_hostile_need_fuse
}

# Mounted, or give up early when the daemon died.
_hostile_mount_ready() {
	_hostile_mounted "$1" && return 0
	_hostile_alive "$2" || { _hostile_mounted "$1"; return 2; }
	return 1
}

# sshfs_pid MNT: the pid of the sshfs daemon serving MNT.
sshfs_pid() {
	_hostile_pid_of sshfs "$1"
}

# sshd_session_pids: the processes of this scope's sshd sessions (one per
# sshfs mount: stop them to simulate a hung server).
sshd_session_pids() {
	local p
	[ -n "${SSHD_PID:-}" ] || return 0
	for p in $(_hostile_tree "$SSHD_PID"); do
		[ "$p" = "$SSHD_PID" ] || printf '%s\n' "$p"
	done
}

# _hostile_pid_of KIND MNT: the recorded daemon pid of a FUSE mount.
_hostile_pid_of() {
	local mnt j
	mnt=$(realpath -m "$2")
	for j in $(_hostile_journals); do
		awk -F '\t' -v k="$1" -v m="$mnt" '$1 == k && $3 == m { p = $2 } END { if (p == "") exit 1; print p }' "$j" &&
			return 0
	done
	return 1
}

# sshfs_down: unmount every sshfs mount of this scope (fusermount -u, then
# umount, then umount -l), stop their sshfs daemons and the sshd (by the pid
# its PidFile gave, checked against its command line).  Idempotent, and safe
# after a failed or partial sshfs_up.
sshfs_down() {
	_hostile_undo_kinds sshfs sshd || return 1
	unset SSHD_PID SSHFS_PORT SSHD_DIR SSHFS_PIDS
}

# --- 2. a local FUSE file system: bindfs ----------------------------------

# bindfs_up SRC MNT [BINDFS_OPTION...]
# Mount SRC at MNT (created if missing) with bindfs in the foreground of a
# background job, so BINDFS_PID (exported; also `bindfs_pid MNT`) is the very
# process serving the mount: `kill -STOP "$BINDFS_PID"` hangs every access,
# like a dead FUSE server.  Teardown resumes it before unmounting.
bindfs_up() {
	if [ $# -lt 2 ]; then
		fail "usage: bindfs_up SRC MNT [BINDFS_OPTION...]"
		return 1
	fi
	need_bindfs || return 1
	local src mnt pid log
	if ! { src=$(realpath -e "$1") && [ -d "$src" ]; }; then
		fail "bindfs_up: no directory $1"
		return 1
	fi
	if ! { mkdir -p "$2" && mnt=$(realpath -e "$2"); }; then
		fail "bindfs_up: bad mount point $2"
		return 1
	fi
	shift 2
	log=$(_hostile_dir)/bindfs.$(printf '%s' "$mnt" | cksum | cut -d' ' -f1).log
	pid=$(_hostile_spawn "$log.pid" "$log" bindfs -f "$@" "$src" "$mnt") || return 1
	_hostile_log bindfs "$pid" "$mnt" "$src" || return 1
	_hostile_await_fuse 100 "$mnt" "$pid" "$log" "bindfs $src $mnt" || return 1
	BINDFS_PID=$pid
	export BINDFS_PID
}

# need_bindfs: skip unless bindfs_up can work here.
need_bindfs() {
	_hostile_need_root "bindfs mount" || return 1
	_hostile_need_cmd bindfs realpath || return 1
	_hostile_need_fuse
}

# bindfs_pid MNT: the pid of the bindfs daemon serving MNT.
bindfs_pid() {
	_hostile_pid_of bindfs "$1"
}

# bindfs_down: unmount every bindfs mount of this scope and stop (after
# SIGCONT) its daemon.  Idempotent.
bindfs_down() {
	_hostile_undo_kinds bindfs || return 1
	unset BINDFS_PID
}

# --- 3. a memory cgroup ---------------------------------------------------

# Find where a child memory cgroup can be made: sets _HOSTILE_MEMCG_VER (1 or
# 2) and _HOSTILE_MEMCG_PARENT, or _HOSTILE_MEMCG_WHY and returns 1.
_hostile_memcg_find() {
	local line path mi root mp
	_HOSTILE_MEMCG_VER='' _HOSTILE_MEMCG_PARENT='' _HOSTILE_MEMCG_WHY=''
	line=$(grep -E '^[0-9]+:([^:]*,)?memory(,[^:]*)?:' /proc/self/cgroup || true)
	if [ -n "$line" ]; then
		# cgroup v1 (or hybrid): the memory hierarchy.
		path=${line#*:*:}
		mi=$(awk '{
			for (i = 7; $i != "-"; i++) ;
			if ($(i + 1) == "cgroup" && ("," $(i + 3) ",") ~ /,memory,/) { print $4 " " $5; exit }
		}' /proc/self/mountinfo)
		[ -n "$mi" ] || { _HOSTILE_MEMCG_WHY="memory cgroup v1 hierarchy not mounted"; return 1; }
		root=${mi%% *} mp=${mi#* }
		[ "$root" = / ] || path=${path#"$root"}
		_HOSTILE_MEMCG_VER=1 _HOSTILE_MEMCG_PARENT=$mp${path%/}
		[ -f "$_HOSTILE_MEMCG_PARENT/memory.limit_in_bytes" ] || {
			_HOSTILE_MEMCG_WHY="no memory.limit_in_bytes in $_HOSTILE_MEMCG_PARENT"
			return 1
		}
	else
		# cgroup v2: a new group needs memory in its parent's
		# cgroup.subtree_control.  Our own group has it only if it is the
		# root (no-internal-processes rule), so use the nearest ancestor
		# that has it: the new group is a leaf holding only CMD.
		path=$(sed -n 's/^0:://p' /proc/self/cgroup)
		mi=$(awk '{ for (i = 7; $i != "-"; i++) ; if ($(i + 1) == "cgroup2") { print $4 " " $5; exit } }' /proc/self/mountinfo)
		if [ -z "$path" ] || [ -z "$mi" ]; then
			_HOSTILE_MEMCG_WHY="no memory cgroup (v1 or v2)"
			return 1
		fi
		root=${mi%% *} mp=${mi#* }
		[ "$root" = / ] || path=${path#"$root"}
		path=${path%/}
		_HOSTILE_MEMCG_VER=2
		while ! grep -qw memory "$mp$path/cgroup.subtree_control" 2> /dev/null; do
			if [ -z "$path" ]; then
				_HOSTILE_MEMCG_WHY="cgroup v2: memory controller enabled in no cgroup.subtree_control from $mp$(sed -n 's/^0:://p' /proc/self/cgroup) up to $mp (enabling it would need a group emptied: no-internal-processes rule)"
				return 1
			fi
			path=${path%/*}
		done
		_HOSTILE_MEMCG_PARENT=$mp$path
	fi
	[ -w "$_HOSTILE_MEMCG_PARENT" ] || {
		_HOSTILE_MEMCG_WHY="$_HOSTILE_MEMCG_PARENT is not writable"
		return 1
	}
}

# need_memcg: skip unless in_memcg can work here.
need_memcg() {
	_hostile_need_root "memory cgroup" || return 1
	_hostile_memcg_find || { _hostile_skip "$_HOSTILE_MEMCG_WHY"; return 1; }
}

# in_memcg LIMIT_BYTES CMD [ARG...]
# Run CMD (stdin/stdout/stderr passed through) in a fresh memory cgroup
# limited to LIMIT_BYTES with no swap, wait for it, remove the group, and
# return CMD's exit status (137 when the OOM killer took it; 125 if the shell
# could not enter the group).  Sets MEMCG_OOM_KILLS (OOM kills in the group,
# "" if the kernel does not count them) and MEMCG_PEAK_BYTES (peak usage,
# "" if unknown); `memcg_oom_kills` / `memcg_peak_bytes` read the last values
# from the journal dir, for use after `run in_memcg ...`.  cgroup v1 (the
# group is made in our memory cgroup of /proc/self/cgroup) or v2 (made in our
# cgroup or, as usual, the nearest ancestor whose cgroup.subtree_control
# enables memory); skips otherwise, with the reason.  Page cache and memfd count
# against the limit; reclaimable page cache does not get CMD killed.
in_memcg() {
	if [ $# -lt 2 ]; then
		fail "usage: in_memcg LIMIT_BYTES CMD [ARG...]"
		return 1
	fi
	local limit=$1 g d st=0 oom='' peak=''
	shift
	need_memcg || return 1
	d=$(_hostile_dir) || return 1
	g=$_HOSTILE_MEMCG_PARENT/hostile-$$-$RANDOM$RANDOM
	mkdir "$g" 2> /dev/null || { _hostile_skip "cannot create a cgroup in $_HOSTILE_MEMCG_PARENT"; return 1; }
	_hostile_log memcg - "$g" "$_HOSTILE_MEMCG_VER" || return 1
	if [ "$_HOSTILE_MEMCG_VER" = 1 ]; then
		{ echo "$limit" > "$g/memory.limit_in_bytes"; } 2> /dev/null || {
			_hostile_memcg_remove "$g"
			fail "cannot set memory.limit_in_bytes in $g"
			return 1
		}
		# No swap: memsw = mem when the kernel accounts swap, else swappiness 0.
		if ! { [ -f "$g/memory.memsw.limit_in_bytes" ] &&
			{ echo "$limit" > "$g/memory.memsw.limit_in_bytes"; } 2> /dev/null; }; then
			{ echo 0 > "$g/memory.swappiness"; } 2> /dev/null || true
		fi
	else
		{ echo "$limit" > "$g/memory.max"; } 2> /dev/null || {
			_hostile_memcg_remove "$g"
			fail "cannot set memory.max in $g"
			return 1
		}
		[ ! -f "$g/memory.swap.max" ] || { echo 0 > "$g/memory.swap.max"; } 2> /dev/null || true
		[ ! -f "$g/memory.zswap.max" ] || { echo 0 > "$g/memory.zswap.max"; } 2> /dev/null || true
	fi
	# shellcheck disable=SC2016 # expanded by the inner shell
	sh -c 'echo $$ > "$1" || exit 125; shift; exec "$@"' in_memcg "$g/cgroup.procs" "$@" 3>&- || st=$?
	if [ "$_HOSTILE_MEMCG_VER" = 1 ]; then
		oom=$(awk '$1 == "oom_kill" { print $2 }' "$g/memory.oom_control" 2> /dev/null || true)
		peak=$(cat "$g/memory.max_usage_in_bytes" 2> /dev/null || true)
	else
		oom=$(awk '$1 == "oom_kill" { print $2 }' "$g/memory.events" 2> /dev/null || true)
		peak=$(cat "$g/memory.peak" 2> /dev/null || true)
	fi
	MEMCG_OOM_KILLS=$oom MEMCG_PEAK_BYTES=$peak
	export MEMCG_OOM_KILLS MEMCG_PEAK_BYTES
	printf '%s\n' "$oom" > "$d/memcg.oom_kills"
	printf '%s\n' "$peak" > "$d/memcg.peak_bytes"
	_hostile_memcg_remove "$g" && _hostile_unlog "$(printf 'memcg\t-\t%s\t%s' "$g" "$_HOSTILE_MEMCG_VER")"
	return "$st"
}

memcg_oom_kills() { cat "$(_hostile_dir)/memcg.oom_kills" 2> /dev/null; }
memcg_peak_bytes() { cat "$(_hostile_dir)/memcg.peak_bytes" 2> /dev/null; }

_hostile_memcg_empty() {
	[ ! -d "$1" ] || [ -z "$(cat "$1/cgroup.procs" 2> /dev/null)" ]
}

# _hostile_memcg_remove GROUP [kill]: remove a group of ours once its
# processes are gone (waits up to 10 s).  Whatever still runs in it was
# started by in_memcg's command: with "kill" (teardown only) those pids,
# read from the group itself, are killed first.
_hostile_memcg_remove() {
	local g=$1 p
	[ -d "$g" ] || return 0
	if ! _hostile_poll 100 _hostile_memcg_empty "$g"; then
		if [ "${2:-}" = kill ]; then
			while read -r p; do
				kill -KILL "$p" 2> /dev/null
			done < "$g/cgroup.procs"
		fi
		_hostile_poll 50 _hostile_memcg_empty "$g"
	fi
	_hostile_poll 50 rmdir "$g" 2> /dev/null || [ ! -d "$g" ] || {
		echo "hostile: cannot remove cgroup $g" >&2
		return 1
	}
}

# --- 4. kernel symlink protections ------------------------------------------

# Sysctls are machine-wide and suites may run at the same time (two make
# check, bats --jobs), so the value from before the first change is kept in
# /run/crashsafe-hostile/sysctl.KEY.orig, each scope holding a change is a
# line "PID JOURNAL_DIR" in sysctl.KEY.holders, and the last holder to leave
# restores the original.  Holders whose process or directory is gone (a
# killed run) are forgotten.
_HOSTILE_RUN=/run/crashsafe-hostile

# _hostile_sysctl_ctl join KEY VALUE | leave KEY
_hostile_sysctl_ctl() {
	local op=$1 key=$2 value=${3:-} me f s
	me="$$ $(_hostile_dir)" || return 1
	f=/proc/sys/${key//.//}
	s=$_HOSTILE_RUN/sysctl.$key
	mkdir -p "$_HOSTILE_RUN" || return 1
	(
		flock -w 30 9 || exit 1
		touch "$s.holders" || exit 1
		while read -r pid dir; do
			if [ "$pid $dir" != "$me" ] && [ -d "/proc/$pid" ] && [ -d "$dir" ]; then
				printf '%s %s\n' "$pid" "$dir"
			fi
		done < "$s.holders" > "$s.new"
		if [ "$op" = join ]; then
			# The original is taken when nobody holds a change yet: not
			# when this scope changes the same key a second time.
			if ! grep -qxF "$me" "$s.holders" &&
				{ [ ! -s "$s.new" ] || [ ! -f "$s.orig" ]; }; then
				cat "$f" > "$s.orig" || exit 1
			fi
			printf '%s\n' "$me" >> "$s.new"
			mv -f "$s.new" "$s.holders"
			{ printf '%s\n' "$value" > "$f"; } 2> /dev/null || exit 2
		else
			mv -f "$s.new" "$s.holders"
			if [ ! -s "$s.holders" ]; then
				if [ -f "$s.orig" ]; then
					cat "$s.orig" > "$f" || exit 1
				fi
				rm -f "$s.orig" "$s.holders"
			fi
		fi
	) 9> "$_HOSTILE_RUN/lock"
}

# hostile_sysctl KEY VALUE: set a sysctl for this test (or file); teardown
# puts back the value it had before (see above for concurrent suites).
hostile_sysctl() {
	local key=$1 value=$2 f rc=0
	f=/proc/sys/${key//.//}
	_hostile_need_root "sysctl $key" || return 1
	_hostile_need_cmd flock || return 1
	[ -f "$f" ] || { _hostile_skip "no sysctl $key"; return 1; }
	if ! _hostile_lines sysctl | awk -F '\t' -v k="$key" '$3 == k { f = 1 } END { exit !f }'; then
		_hostile_log sysctl - "$key" "$(cat "$f")" || return 1
	fi
	_hostile_sysctl_ctl join "$key" "$value" || rc=$?
	case $rc in
	0) ;;
	2) _hostile_skip "cannot set $key (read-only /proc/sys?)"; return 1 ;;
	*) fail "hostile_sysctl: cannot record $key in $_HOSTILE_RUN"; return 1 ;;
	esac
}

# protect_symlinks [PROTECTED_REGULAR]
# fs.protected_symlinks=1 (Debian's default; some machines boot with 0) and,
# when given, fs.protected_regular=PROTECTED_REGULAR (1 or 2); restored by
# hostile_teardown.  These are machine-wide: a test that needs the old
# values must not run at the same time as one that changed them.
protect_symlinks() {
	hostile_sysctl fs.protected_symlinks 1 || return 1
	[ -z "${1:-}" ] || hostile_sysctl fs.protected_regular "$1"
}

# sticky_dir DIR: create DIR (and parents) with mode 1777, like /tmp.
sticky_dir() {
	mkdir -p "$1" && chmod 1777 "$1"
}

# as_nobody CMD [ARG...]
# Run CMD as nobody (65534:65534, no groups).  The bats temp dir is 0700
# root, so CMD keeps CAP_DAC_READ_SEARCH (ambient) to reach a directory
# inside it; creating a file there still needs write permission (a sticky
# 1777 directory gives it), and what it creates is nobody's.
as_nobody() {
	_hostile_need_root "setpriv to nobody" || return 1
	_hostile_need_cmd setpriv || return 1
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		--inh-caps=+dac_read_search --ambient-caps=+dac_read_search \
		"$@" 2> /dev/null ||
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# symlink_as_nobody TARGET LINK: symlink LINK -> TARGET owned by nobody.
symlink_as_nobody() {
	as_nobody ln -s -- "$1" "$2"
}

# --- 5. logrotate in a loop -----------------------------------------------

# rotate_loop_start LOG [copytruncate|create]
# Rotate LOG with `logrotate -f -s STATE CONFIG` over and over in a
# background loop (a private config and state file in the journal dir;
# copytruncate by default; rotate 1000, numbered LOG.1 newest, missingok,
# notifempty, no compression; `su root root` so a 1777 directory is fine).
# The loop sleeps HOSTILE_ROTATE_INTERVAL (0.05 s) between runs and ends by
# itself after HOSTILE_ROTATE_SECONDS (60) or HOSTILE_ROTATE_MAX (999) runs,
# so rotation never deletes a file.  Sets ROTATE_LOOP_PID.
rotate_loop_start() {
	if [ $# -lt 1 ]; then
		fail "usage: rotate_loop_start LOG [copytruncate|create]"
		return 1
	fi
	_hostile_need_cmd logrotate realpath || return 1
	local log mode=${2:-copytruncate} d n conf
	case $mode in
	copytruncate | create) ;;
	*) fail "rotate_loop_start: mode copytruncate or create, not $mode"; return 1 ;;
	esac
	log=$(realpath -m "$1")
	case $log in *'"'* | *$'\n'*) fail "rotate_loop_start: unusable name $log"; return 1 ;; esac
	d=$(_hostile_dir) || return 1
	n=$d/rotate.$$.$RANDOM
	conf=$n.conf
	{
		printf '"%s" {\n' "$log"
		[ "$(id -u)" -ne 0 ] || printf '\tsu root root\n'
		printf '\t%s\n' "$mode" rotate\ 1000 missingok notifempty nocompress \
			nodateext nomail noolddir nosharedscripts
		printf '}\n'
	} > "$conf" && chmod 644 "$conf" || return 1
	rm -f "$n.stop"
	# shellcheck disable=SC2016 # the loop's own script
	ROTATE_LOOP_PID=$(_hostile_spawn "$n.pid" "$n.log" bash -c '
		conf=$1 state=$2 stop=$3 runs=$4 interval=$5 max=$6 seconds=$7
		n=0
		end=$((SECONDS + seconds))
		while [ ! -e "$stop" ] && [ "$n" -lt "$max" ] && [ "$SECONDS" -lt "$end" ]; do
			logrotate -f -s "$state" "$conf"
			n=$((n + 1))
			echo "$n" > "$runs.new" && mv -f "$runs.new" "$runs"
			sleep "$interval"
		done' rotate-loop "$conf" "$n.state" "$n.stop" "$n.runs" \
		"${HOSTILE_ROTATE_INTERVAL:-0.05}" "${HOSTILE_ROTATE_MAX:-999}" \
		"${HOSTILE_ROTATE_SECONDS:-60}") || return 1
	export ROTATE_LOOP_PID
	printf '%s\n' "$n.runs" > "$d/rotate.last"
	_hostile_log rotate "$ROTATE_LOOP_PID" "$n.stop" "$log"
}

# rotate_loop_stop: end this scope's rotate loops; returns once no logrotate
# of theirs runs any more (asks the loop to stop after its current run, kills
# the loop's pid after 10 s).
rotate_loop_stop() {
	_hostile_undo_kinds rotate
}

# rotate_loop_runs: how many logrotate runs the newest loop has made.
rotate_loop_runs() {
	local f runs
	f=$(cat "$(_hostile_dir)/rotate.last" 2> /dev/null || true)
	runs=$(cat "$f" 2> /dev/null || true)
	echo "${runs:-0}"
}

# rotated_files LOG: the rotated files of LOG, oldest first (LOG.N .. LOG.1).
# Stable only once the loop is stopped.
rotated_files() {
	local n=1
	while [ -e "$1.$n" ]; do n=$((n + 1)); done
	while [ "$n" -gt 1 ]; do
		n=$((n - 1))
		printf '%s\n' "$1.$n"
	done
}

# rotated_cat LOG: everything LOG ever held that rotation kept, oldest first
# (the rotated files, then LOG itself).
rotated_cat() {
	local f
	for f in $(rotated_files "$1"); do cat "$f"; done
	[ ! -e "$1" ] || cat "$1"
}

# --- 6. loop-mounted file systems -----------------------------------------

# loopfs_up TYPE MNT [SIZE]
# A fresh TYPE file system (xfs, btrfs, ext4, ...) of SIZE (300M: xfs's
# minimum) in a sparse image in the journal dir, mounted at MNT (created if
# missing) with mount -o loop.  Sets LOOPFS_DEV (/dev/loopN).  Skips when
# mkfs.TYPE is missing or the mount fails.
loopfs_up() {
	if [ $# -lt 2 ]; then
		fail "usage: loopfs_up TYPE MNT [SIZE]"
		return 1
	fi
	local type=$1 mnt size=${3:-300M} d img out
	need_loopfs "$type" || return 1
	if ! { mkdir -p "$2" && mnt=$(realpath -e "$2"); }; then
		fail "loopfs_up: bad mount point $2"
		return 1
	fi
	d=$(_hostile_dir) || return 1
	img=$d/loopfs.$$.$RANDOM.$type.img
	truncate -s "$size" "$img" || return 1
	_hostile_log loopfs - "$mnt" "$img" || return 1
	case $type in
	xfs | btrfs) out=$("mkfs.$type" -q -f "$img" 2>&1) ;;
	ext[234]) out=$("mkfs.$type" -q -F "$img" 2>&1) ;;
	*) out=$("mkfs.$type" "$img" 2>&1) ;;
	esac || { _hostile_skip "mkfs.$type $size failed: $out"; return 1; }
	out=$(mount -o loop "$img" "$mnt" 2>&1) ||
		{ _hostile_skip "cannot mount a $type loop image: $out"; return 1; }
	LOOPFS_DEV=$(losetup -n -O NAME -j "$img" | head -n 1)
	export LOOPFS_DEV
}

# need_loopfs TYPE: skip unless loopfs_up TYPE can try here (root, mkfs.TYPE,
# losetup, /dev/loop-control); loopfs_up itself also skips when mkfs or the
# mount fails.
need_loopfs() {
	_hostile_need_root "loop mount" || return 1
	_hostile_need_cmd "mkfs.$1" losetup realpath || return 1
	[ -e /dev/loop-control ] || { _hostile_skip "no /dev/loop-control"; return 1; }
}

# loopfs_down: unmount this scope's loop file systems (umount, umount -l as
# a last resort), detach their loop devices if still attached, delete the
# images.  Idempotent.
loopfs_down() {
	_hostile_undo_kinds loopfs || return 1
	unset LOOPFS_DEV
}
