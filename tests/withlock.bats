#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# withlock: SPEC section 8 (the local lock), with the lock protocol of 1.5.
# shellcheck disable=SC2016,SC2154 # sh -c scripts are single-quoted on purpose; run sets stderr_lines

load helpers
load hostile

setup() {
	common_setup
}

teardown() {
	kill_noted
	# bind mounts a test made
	if [ -s mounts ]; then
		while read -r m; do umount "$m" 2> /dev/null || umount -l "$m"; done < mounts
	fi
	term_stop
	hostile_teardown
}

# Wait until the lock file names pid $2 as its holder (its metadata).
await_holder() {
	await grep -qx "pid=$2" "$1" || fail "$1 never held by $2"
}

# The number of processes whose command line is exactly the words given.
running() {
	pgrep -xfc -- "$*" || true
}

# gone WORDS...: no process runs that command line (for await).
gone() {
	[ "$(running "$@")" = 0 ]
}

running_is() {	# N WORDS...: N processes run that command line
	local n=$1
	shift
	[ "$(running "$@")" = "$n" ]
}

locks_of_is() {	# PID N: PID has N lines in /proc/locks (held or waited for)
	[ "$(grep -c " $1 " /proc/locks)" = "$2" ]
}

# --- running the command --------------------------------------------------

@test "the command runs with CRASHSAFE_LOCK (absolute) and a token that grows with every holder; the lock fd is not inherited" {
	# ls races the shell closing its pipe ends (an fd gone between its
	# readdir and lstat is an error line): only stdout is parsed.
	run --separate-stderr "$WITHLOCK" job.lock -- sh -c 'echo "$CRASHSAFE_LOCK $CRASHSAFE_LOCK_TOKEN"; ls -l /proc/$$/fd 2> /dev/null | grep -c job.lock; true'
	[ "$status" -eq 0 ]
	[ -z "$stderr" ] || fail "$stderr"
	read -r lock tok1 fds <<< "$(echo "$output" | tr '\n' ' ')"
	[ "$lock" = "$PWD/job.lock" ]
	[ "$fds" = 0 ] || fail "the command has the lock file open"
	run "$WITHLOCK" job.lock sh -c 'echo "$CRASHSAFE_LOCK_TOKEN"'
	tok2=$output
	run "$WITHLOCK" job.lock sh -c 'echo "$CRASHSAFE_LOCK_TOKEN"'
	tok3=$output
	[ "$tok2" -eq $((tok1 + 1)) ] && [ "$tok3" -eq $((tok2 + 1)) ] || fail "$tok1 $tok2 $tok3"
	# removed between two holders, the next token is still larger
	rm job.lock
	run "$WITHLOCK" job.lock sh -c 'echo "$CRASHSAFE_LOCK_TOKEN"'
	[ "$output" -gt "$tok3" ]
	# the metadata names withlock's pid and the command it runs
	grep -qx 'cmd=sh -c echo "$CRASHSAFE_LOCK_TOKEN"' job.lock
	grep -qx "gen=$output" job.lock
	# no token of an outer lock leaks into an inner one without its own
	run "$WITHLOCK" a.lock "$WITHLOCK" -s b.lock sh -c 'echo "${CRASHSAFE_LOCK_TOKEN:-none}"'
	[ "$output" = none ]
}

@test "every exit status 0-255 passes through; 126, 127; a command killed by a signal is 128+N" {
	for i in $(seq 0 255); do
		"$WITHLOCK" s.lock sh -c "exit $i" && r=0 || r=$?
		[ "$r" -eq "$i" ] || fail "exit $i came back as $r"
	done
	run -127 --separate-stderr "$WITHLOCK" s.lock ./nosuch
	[ "$stderr" = "withlock: ./nosuch: No such file or directory" ]
	printf 'x' > noexec
	run "$WITHLOCK" s.lock ./noexec
	[ "$status" -eq 126 ]
	run "$WITHLOCK" s.lock sh -c 'kill -SEGV $$'
	[ "$status" -eq 139 ]
	# without --, too; the command's own options are its own
	run "$WITHLOCK" s.lock echo -n -w 1
	[ "$output" = "-w 1" ]
}

@test "exclusion: 300 increments exact while staleclean --min-age 0 --max-age 0 and rm -f remove the lock file in a tight loop" {
	echo 0 > count
	(
		while [ ! -e stop ]; do
			rm -f c.lock
			"$STALECLEAN" -q --min-age 0 --max-age 0 c.lock 2> /dev/null
		done
	) &
	echo $! >> pids
	for _ in 1 2 3 4; do
		(
			for _ in $(seq 75); do
				"$WITHLOCK" -w inf c.lock sh -c 'n=$(cat count); echo $((n + 1)) > count.new; mv count.new count' || exit 1
			done
		) &
		workers="${workers:-} $!"
	done
	for p in $workers; do wait "$p" || fail "a worker failed"; done
	touch stop
	[ "$(cat count)" -eq 300 ] || fail "lost $((300 - $(cat count))) increments"
}

@test "shared locks coexist and exclude an exclusive one, which names them" {
	bg "$WITHLOCK" -s sh.lock sh -c 'touch a; until [ -e b ]; do sleep 0.05; done; sleep 30'
	a=$BG
	bg "$WITHLOCK" -s sh.lock sh -c 'touch b; until [ -e a ]; do sleep 0.05; done; sleep 30'
	b=$BG
	await test -e a -a -e b || fail "the two shared holders did not run together"
	run --separate-stderr "$WITHLOCK" -n sh.lock true
	[ "$status" -eq 75 ]
	[[ "$stderr" =~ ^"withlock: sh.lock: busy; held by pid "($a|$b)" ("[^\)]*") and 1 other (shared)"$ ]] || fail "$stderr"
	# a third reader gets in at once
	run "$WITHLOCK" -s -n sh.lock echo reader
	[ "$output" = reader ]
	kill "$a" "$b"
	run "$WITHLOCK" -w 5 sh.lock echo writer
	[ "$output" = writer ]
}

@test "rm -f of a held lock file lets no second holder in: a newcomer waits for the holder of the removed file, and names it" {
	bg "$WITHLOCK" r.lock sh -c 'sleep 30'
	holder=$BG
	await_holder r.lock "$holder"
	rm -f r.lock
	# --status sees it too
	run "$WITHLOCK" --status r.lock
	[ "$status" -eq 0 ]
	[[ "$output" == "r.lock: held by pid $holder (sh -c sleep 30)"* ]]
	run --separate-stderr "$WITHLOCK" -w 0.3 r.lock touch ran
	[ "$status" -eq 75 ]
	[ ! -e ran ]
	[[ "$stderr" == "withlock: r.lock: busy for 300ms; held by pid $holder (sh -c sleep 30) since "* ]] || fail "$stderr"
	# the name exists again; a waiter gets in once the first holder is gone
	"$WITHLOCK" -w 10 r.lock sh -c 'echo "$$" > got' &
	waiter=$!
	echo "$waiter" >> pids
	# it waits on the removed file's lock
	await grep -q "^[0-9]*: -> FLOCK .* $waiter " /proc/locks
	[ ! -e got ]
	kill "$holder"
	wait "$waiter"
	[ -s got ]
}

@test "a lock file removed or replaced while we wait is not used unlinked: the waiter locks what the name holds then" {
	bg "$WITHLOCK" r.lock sleep 30
	holder=$BG
	await_holder r.lock "$holder"
	"$WITHLOCK" -w 10 r.lock sh -c 'echo "$$" > got; sleep 30' &
	waiter=$!
	echo "$waiter" >> pids
	await grep -q "^[0-9]*: -> FLOCK .* $waiter " /proc/locks
	# replaced by a new file (logrotate's create, an editor): another
	# holder takes it; the waiter, woken on the old one, follows the name
	mv r.lock r.lock.old
	bg "$WITHLOCK" r.lock sleep 30
	second=$BG
	await_holder r.lock "$second"
	kill "$holder"
	# woken on the old file, it follows the name and waits for the second
	await grep -q "^[0-9]*: -> FLOCK .* $waiter " /proc/locks
	await locks_of_is "$waiter" 1
	[ ! -e got ] || fail "the waiter ran beside the holder of the new file"
	kill "$second"
	await test -s got
	await_holder r.lock "$waiter"
}

@test "a directory works as a lock (flock(1) does that too): locked, nothing written into it" {
	mkdir d
	bg "$WITHLOCK" d sleep 30
	await grep -q " $BG " /proc/locks
	run "$WITHLOCK" -n d true
	[ "$status" -eq 75 ]
	[ -z "$(ls -A d)" ]
}

# --- busy -----------------------------------------------------------------

@test "busy: 75 after the wait, naming the withlock holder, its command and since when" {
	bg "$WITHLOCK" b.lock -- sh -c 'sleep 30'
	holder=$BG
	await_holder b.lock "$holder"
	start=$(date +%s%N)
	run --separate-stderr "$WITHLOCK" -w 0.5 b.lock true
	elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$status" -eq 75 ]
	[[ "$stderr" =~ ^"withlock: b.lock: busy for 500ms; held by pid $holder (sh -c sleep 30) since "[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$ ]] || fail "$stderr"
	[ "$elapsed" -ge 450 ] || fail "gave up after ${elapsed}ms"
	run --separate-stderr "$WITHLOCK" -n b.lock true
	[ "$status" -eq 75 ]
	[[ "$stderr" == "withlock: b.lock: busy; held by pid $holder "* ]]
}

@test "a caller's alarm(2) still ends a lock wait (the wait's own timer is not the caller's); with no timer to be had the wait still ends" {
	bg "$WITHLOCK" al.lock -- sleep 30
	await_holder al.lock "$BG"
	start=$(date +%s%N)
	run perl -e 'alarm 1; exec @ARGV' "$WITHLOCK" -w 10 al.lock true
	elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$status" -eq 142 ] || fail "status $status after ${elapsed}ms: $output"
	[ "$elapsed" -lt 5000 ] || fail "the alarm came after ${elapsed}ms"
	# no timer to be had (no signal may be queued): the wait still ends
	start=$(date +%s%N)
	run -75 prlimit --sigpending=0 "$WITHLOCK" -w 0.5 al.lock true
	elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$elapsed" -lt 5000 ] || fail "gave up after ${elapsed}ms"
}

@test "busy under flock(1): the holder's pid from /proc/locks, with its command line" {
	flock f.lock sleep 30 &
	holder=$!
	echo "$holder" >> pids
	await grep -q " $holder " /proc/locks
	run --separate-stderr "$WITHLOCK" -w 0.2 f.lock true
	[ "$status" -eq 75 ]
	[ "$stderr" = "withlock: f.lock: busy for 200ms; held by pid $holder (flock f.lock sleep 30)" ]
	# and --status says the same, without taking the lock
	run env ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=flock -o trace "$WITHLOCK" --status f.lock
	[ "$status" -eq 0 ]
	[ "$output" = "f.lock: held by pid $holder (flock f.lock sleep 30)" ]
	if grep -q 'flock(' trace; then fail "--status took the lock: $(cat trace)"; fi
}

@test "--conflict-exit 0 exits 0 silently; -E 3 exits 3 with the message; -q is 75 without it" {
	bg "$WITHLOCK" q.lock sleep 30
	await_holder q.lock "$BG"
	run --separate-stderr "$WITHLOCK" -n --conflict-exit 0 q.lock touch ran
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ ! -e ran ]
	run --separate-stderr "$WITHLOCK" -n -E 3 q.lock touch ran
	[ "$status" -eq 3 ]
	[[ "$stderr" == "withlock: q.lock: busy; held by pid $BG "* ]]
	run --separate-stderr "$WITHLOCK" -n -q q.lock touch ran
	[ "$status" -eq 75 ]
	[ -z "$stderr" ]
	[ ! -e ran ]
}

@test "--status: 0 and the holder when held, 1 when free or missing; --json" {
	run "$WITHLOCK" --status none.lock
	[ "$status" -eq 1 ]
	[ "$output" = "none.lock: free" ]
	"$WITHLOCK" st.lock true
	run "$WITHLOCK" --status st.lock
	[ "$status" -eq 1 ]
	bg "$WITHLOCK" st.lock sleep 30
	await_holder st.lock "$BG"
	run "$WITHLOCK" --status st.lock
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^"st.lock: held by pid $BG (sleep 30) since " ]] || fail "$output"
	run "$WITHLOCK" --status --json st.lock
	[ "$status" -eq 0 ]
	echo "$output" | jq -e --argjson p "$BG" '.lock == "st.lock" and .backend == "file" and .held and .holder.pid == $p and .holder.cmd == "sleep 30" and (.holder.since | test("^[0-9-]+T[0-9:]+Z$"))'
	run "$WITHLOCK" --status st.lock extra
	[ "$status" -eq 64 ]
}

# --- signals, kill -9, time limits ----------------------------------------

@test "kill -9 of withlock kills the command and what it started in its group; the lock is free at once" {
	bg "$WITHLOCK" k.lock sh -c 'sleep 300 & echo $! > bgpid; echo $$ > shpid; exec sleep 301'
	wl=$BG
	await test -s shpid
	await_holder k.lock "$wl"
	kill -9 "$wl"
	# these very processes, by pid (another "sleep 300" on the machine,
	# a zombie not yet reaped by init, is not one of them)
	both_gone() { ! pid_alive "$(cat bgpid)" && ! pid_alive "$(cat shpid)"; }
	await both_gone || fail "left running: $(ps -o pid,stat,args -p "$(cat bgpid),$(cat shpid)")"
	run "$WITHLOCK" -n k.lock echo free
	[ "$output" = free ]
}

@test "SIGTERM to withlock stops the command too (it sees TERM) and withlock dies of it: 143" {
	cat > job.sh <<- 'EOF'
		trap 'echo got-term > term; exit 9' TERM
		echo "$$" > cmdpid
		while :; do sleep 0.1; done
	EOF
	bg "$WITHLOCK" t.lock sh job.sh
	wl=$BG
	await test -s cmdpid
	kill -TERM "$wl"
	wait "$wl" && r=0 || r=$?
	[ "$r" -eq 143 ]
	[ "$(cat term)" = got-term ]
	if kill -0 "$(cat cmdpid)" 2> /dev/null; then fail "the command survived"; fi
}

@test "a command that ignores SIGTERM is killed after -k" {
	bg "$WITHLOCK" -k 0.3 i.lock sh -c 'trap "" TERM; echo $$ > p; while :; do sleep 0.1; done'
	wl=$BG
	await test -s p
	kill -TERM "$wl"
	start=$(date +%s%N)
	wait "$wl" && r=0 || r=$?
	[ "$r" -eq 143 ]
	if kill -0 "$(cat p)" 2> /dev/null; then fail "the command survived"; fi
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 3000 ]
}

@test "-T: the command is stopped (124) and nothing it started outlives it, in another group or session" {
	run --separate-stderr "$WITHLOCK" -T 0.5 -k 0.3 m.lock sh -c 'setsid sleep 302 & sleep 303 & trap "" TERM; sleep 304; wait'
	[ "$status" -eq 124 ]
	[ "$stderr" = "withlock: sh: stopped after 0.5s (--max-time)" ]
	await gone sleep 302 && await gone sleep 303 && await gone sleep 304 ||
		fail "left running: $(pgrep -af 'sleep 30[234]')"
	run "$WITHLOCK" -n m.lock echo free
	[ "$output" = free ]
}

@test "a daemonizing command does not keep the lock: withlock returns, the next holder gets in while the daemon runs" {
	run "$WITHLOCK" dm.lock sh -c 'setsid sleep 305 > /dev/null 2>&1 < /dev/null & echo $! > d1; sleep 306 > /dev/null 2>&1 < /dev/null & echo $! > d2; exit 4'
	[ "$status" -eq 4 ]
	cat d1 d2 >> pids
	kill -0 "$(cat d1)" && kill -0 "$(cat d2)"
	# neither has the lock file open, and the lock is free while they run
	for d in d1 d2; do
		run ls -l "/proc/$(cat "$d")/fd"
		[[ $output != *"dm.lock"* ]]
	done
	run "$WITHLOCK" -n dm.lock echo free
	[ "$output" = free ]
	kill -0 "$(cat d1)" && kill -0 "$(cat d2)"
}

@test "kill -9 of an outer withlock: the inner withlock's command dies too (each watchdog outside the group it guards)" {
	setsid "$WITHLOCK" a.lock "$WITHLOCK" b.lock sh -c 'sleep 308 & sleep 309' &
	echo $! >> pids
	await test -s b.lock
	await running_is 1 sleep 309
	outer=$(pgrep -of "^$WITHLOCK a.lock")	# not its watchdog, a younger fork
	kill -9 "$outer"
	await gone sleep 308 && await gone sleep 309 ||
		fail "left running: $(pgrep -af 'sleep 30[89]')"
	run "$WITHLOCK" -n b.lock echo free
	[ "$output" = free ]
}

@test "timeout -k around withlock (TERM, then KILL to the whole group): nothing of the command survives" {
	cat > job.sh <<- 'EOF'
		trap '' TERM
		sh -c 'trap "" TERM; exec sleep 307' &
		wait
	EOF
	run setsid timeout -k 0.5 0.5 "$WITHLOCK" wd.lock sh job.sh
	[ "$status" -eq 137 ] || [ "$status" -eq 124 ]
	await gone sleep 307 || fail "left running: $(pgrep -af 'sleep 307')"
}

@test "SIGINT, SIGHUP and SIGQUIT are passed on too, and withlock dies of each" {
	for sig in INT HUP QUIT; do
		rm -f got
		# a background job of a script starts with INT and QUIT ignored
		bg env --default-signal=INT,QUIT "$WITHLOCK" sg.lock sh -c "trap 'echo $sig > got; exit 3' $sig; echo \$\$ > p; while :; do sleep 0.1; done"
		wl=$BG
		await test -s p
		rm p
		kill "-$sig" "$wl"
		wait "$wl" && r=0 || r=$?
		[ "$r" -eq $((128 + $(kill -l "$sig"))) ] || fail "$sig: $r"
		[ "$(cat got)" = "$sig" ]
	done
}

@test "the flock(1) shell idiom (exec 9>f; flock 9): the holder named is the shell, and rm -f of the file lets no second holder in" {
	cat > held.sh <<- 'EOF'
		exec 9> sh.lock
		flock 9
		echo "$$" > holder
		while :; do sleep 0.1; done
	EOF
	bg bash held.sh
	await test -s holder
	h=$(cat holder)
	run --separate-stderr "$WITHLOCK" -n sh.lock true
	[ "$status" -eq 75 ]
	[ "$stderr" = "withlock: sh.lock: busy; held by pid $h (bash held.sh)" ]
	rm -f sh.lock
	run --separate-stderr "$WITHLOCK" -w 0.3 sh.lock touch ran
	[ "$status" -eq 75 ]
	[ ! -e ran ]
	[ "$stderr" = "withlock: sh.lock: busy for 300ms; held by pid $h (bash held.sh)" ]
}

@test "POSIX (fcntl) locks do not exclude flock locks on a local filesystem: not counted as holders" {
	python3 -c 'import fcntl, sys, time
f = open("px.lock", "w"); fcntl.lockf(f, fcntl.LOCK_EX); open("locked", "w").close(); time.sleep(30)' &
	echo $! >> pids
	await test -e locked
	run "$WITHLOCK" --status px.lock
	[ "$status" -eq 1 ]
	run "$WITHLOCK" -n px.lock echo in
	[ "$output" = in ]
}

@test "--status in another pid namespace: a free lock with old metadata is free, a held one held" {
	need_root "unshare -p"
	"$WITHLOCK" ns.lock true
	run unshare -pf --mount-proc "$WITHLOCK" --status ns.lock
	[ "$status" -eq 1 ] || fail "$output"
	bg "$WITHLOCK" ns.lock sleep 30
	await_holder ns.lock "$BG"
	run unshare -pf --mount-proc "$WITHLOCK" --status ns.lock
	[ "$status" -eq 0 ] || fail "$output"
	[[ "$output" == "ns.lock: held by pid $BG (sleep 30) since "* ]] || fail "$output"
}

@test "--json records for 124, 127 and a death by signal (143); a shared holder gets the last exclusive holder's token" {
	run --separate-stderr "$WITHLOCK" --json -T 0.2 -k 0.1 j.lock sleep 5
	[ "$status" -eq 124 ]
	echo "${stderr_lines[1]}" | jq -e '.status == 124 and .token > 0'
	run -127 --separate-stderr "$WITHLOCK" --json j.lock ./nosuch
	echo "${stderr_lines[1]}" | jq -e '.status == 127'
	"$WITHLOCK" --json j.lock sh -c 'echo $$ > p; sleep 30' 2> err &
	wl=$!
	await test -s p
	kill -TERM "$wl"
	wait "$wl" || true
	jq -e '.status == 143' err
	tok=$(sed -n 's/^gen=//p' j.lock)
	run "$WITHLOCK" -s j.lock sh -c 'echo "$CRASHSAFE_LOCK_TOKEN"'
	[ "$output" = "$tok" ]
}

@test "rm -f through another path (a bind mount of the directory) is seen too; a file merely named 'x (deleted)' is not a removed one" {
	need_root "bind mounts"
	mkdir src A B
	mount --bind src A
	echo "$PWD/A" >> mounts
	mount --bind src B
	echo "$PWD/B" >> mounts
	bg "$WITHLOCK" A/k.lock sleep 30
	await_holder A/k.lock "$BG"
	rm -f B/k.lock
	run --separate-stderr "$WITHLOCK" -w 0.2 B/k.lock touch ran
	[ "$status" -eq 75 ]
	[ ! -e ran ]
	kill "$BG"
	# a live file whose name ends in " (deleted)", held: no holder of ours
	flock "$PWD/src/s.lock (deleted)" sleep 30 &
	echo $! >> pids
	await grep -q " $! " /proc/locks
	run "$WITHLOCK" -n src/s.lock echo in
	[ "$output" = in ]
}

@test "a lock file that is immutable or append-only (chattr +i, +a) is locked without metadata, as flock(1) does" {
	touch i.lock a.lock
	chattr +i i.lock 2> /dev/null || skip "no chattr +i on this filesystem"
	chattr +a a.lock
	run "$WITHLOCK" i.lock echo immutable
	chattr -i i.lock
	[ "$output" = immutable ]
	run "$WITHLOCK" a.lock echo append-only
	chattr -a a.lock
	[ "$output" = append-only ]
	[ ! -s i.lock ] && [ ! -s a.lock ]
}

@test "-w holds when the caller has SIGALRM blocked; a FIFO as lock file never hangs the open" {
	bg "$WITHLOCK" al.lock sleep 30
	await_holder al.lock "$BG"
	run timeout 10 python3 -c 'import signal, os, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
os.execv(sys.argv[1], [sys.argv[1], "-w", "0.3", "al.lock", "true"])' "$WITHLOCK"
	[ "$status" -eq 75 ]
	mkfifo ff.lock
	run timeout 10 "$WITHLOCK" -n ff.lock echo fifo
	[ "$output" = fifo ]
}

# --- a terminal -----------------------------------------------------------

@test "at a bash prompt: Ctrl-C ends the command and a script (130); Ctrl-Z stops the job, fg resumes it; /dev/tty reads work" {
	term_start
	printf '%s\n' "\"$WITHLOCK\" tty.lock sh -c 'echo \$\$ > cmd; sleep 30'" 'echo after > after' > job.sh
	term_keys "bash job.sh" Enter
	await test -s cmd
	term_keys C-c
	term_keys 'echo "rc=$?" > rc' Enter
	await test -s rc || fail "no prompt: $(tmux -S "$TMUX_SOCK" capture-pane -p)"
	[ "$(cat rc)" = rc=130 ]
	[ ! -e after ]
	if kill -0 "$(cat cmd)" 2> /dev/null; then fail "the command survived"; fi
	# Ctrl-Z: the prompt comes back; fg resumes; the lock is held meanwhile
	term_keys "$WITHLOCK tty.lock sh -c 'echo \$\$ > cmd2; sleep 30'" Enter
	await test -s cmd2
	c=$(cat cmd2)
	term_keys C-z
	await state_is "$c" T || fail "not stopped"
	term_keys "echo back > back" Enter
	await test -s back || fail "no prompt after Ctrl-Z: $(tmux -S "$TMUX_SOCK" capture-pane -p)"
	run "$WITHLOCK" -n tty.lock true
	[ "$status" -eq 75 ]
	term_keys "fg" Enter
	await state_is "$c" S || fail "fg did not resume it"
	term_keys C-c
	# a prompt on /dev/tty, stdin not the terminal
	term_keys "echo | $WITHLOCK tty.lock sh -c ': > reading; read -r a < /dev/tty; echo \"\$a\" > answer'" Enter
	await test -e reading
	term_keys "yes-typed" Enter
	await test -s answer || fail "no answer: $(tmux -S "$TMUX_SOCK" capture-pane -p)"
	[ "$(cat answer)" = yes-typed ]
	# a command that ignores Ctrl-Z keeps the terminal, as it would bare
	term_ctrl_z_ignored "$WITHLOCK" tz.lock
	# Ctrl-C: what the command started in another session goes too
	term_keys "$WITHLOCK tty2.lock sh -c 'setsid sleep 313 & echo \$! > sid; wait'" Enter
	await test -s sid
	sid=$(cat sid)
	echo "$sid" >> pids
	kill -0 "$sid"
	term_keys C-c
	await pid_gone "$sid" || fail "the setsid'd child outlived the lock"
}

# --- reports --------------------------------------------------------------

@test "-v reports the wait and the hold; --json one record when done (also with -v), and when busy with the holder" {
	run --separate-stderr "$WITHLOCK" -v v.lock sleep 0.3
	[[ "$stderr" =~ ^"withlock: v.lock: lock waited "[0-9]+\.[0-9]{3}"s, held "([0-9]+\.[0-9]{3})"s"$ ]] || fail "$stderr"
	awk -v h="${BASH_REMATCH[1]}" 'BEGIN { exit !(h >= 0.3) }' || fail "$stderr"
	run --separate-stderr "$WITHLOCK" -v --json v.lock sh -c 'exit 7'
	[ "$status" -eq 7 ]
	# -v adds no text line beside the record: it says the times
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "$stderr"
	echo "$stderr" | jq -e '.lock == "v.lock" and .backend == "file" and .status == 7 and .token > 0 and .holder_when_busy == null and .waited_s >= 0 and .held_s > 0'
	bg "$WITHLOCK" v.lock sleep 30
	await_holder v.lock "$BG"
	run --separate-stderr "$WITHLOCK" --json -w 0.2 v.lock true
	[ "$status" -eq 75 ]
	# the record names the holder: no busy line beside it
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "$stderr"
	echo "$stderr" | jq -e --argjson p "$BG" '.status == 75 and .token == null and .holder_when_busy.pid == $p and .holder_when_busy.cmd == "sleep 30" and .waited_s >= 0.19'
	# a name that is not UTF-8 also as hex; a long command line cut at a
	# character in the metadata
	name=$(printf 'n\xff.lock')
	"$WITHLOCK" --json "$name" true 2> err
	jq -e '.lock_hex == "6eff2e6c6f636b"' err
	long=$(printf '%0.sé' $(seq 200))
	"$WITHLOCK" u.lock echo "$long" > /dev/null
	sed -n 's/^cmd=//p' u.lock | iconv -f UTF-8 -t UTF-8 > /dev/null
	# the record starts a line of its own when stderr ended mid-line
	"$WITHLOCK" --json v2.lock sh -c 'printf partial >&2' 2> err
	[ "$(head -n 1 err)" = partial ]
	sed -n 2p err | jq -e '.status == 0'
}

# --- where locks cannot work ----------------------------------------------

@test "a lock file on a read-only filesystem: an existing one is locked without metadata; a missing one is a clear error (73)" {
	loopfs_up ext4 ro 16M
	"$WITHLOCK" ro/x.lock true
	cp ro/x.lock before
	mount -o remount,ro ro
	run "$WITHLOCK" ro/x.lock sh -c 'echo "${CRASHSAFE_LOCK_TOKEN:-no token}"'
	[ "$status" -eq 0 ]
	[ "$output" = "no token" ]
	cmp before ro/x.lock
	run --separate-stderr "$WITHLOCK" ro/new.lock true
	[ "$status" -eq 73 ]
	[ "$stderr" = "withlock: ro/new.lock: Read-only file system" ]
}

@test "a lock file in a directory we may not write: 77 with the reason; someone else's existing lock file is locked read-only" {
	need_root "running as nobody"
	mkdir d
	chmod 755 d
	run --separate-stderr as_nobody "$WITHLOCK" d/x.lock true
	[ "$status" -eq 77 ]
	[ "$stderr" = "withlock: d/x.lock: Permission denied" ]
	"$WITHLOCK" d/y.lock true
	run as_nobody "$WITHLOCK" d/y.lock echo ran
	[ "$output" = ran ]
}

@test "btrfs subvolume: /proc/locks names another device than stat: the holder is still named" {
	need_loopfs btrfs
	loopfs_up btrfs b
	btrfs -q subvolume create b/sub
	flock b/sub/x.lock sleep 30 &
	holder=$!
	echo "$holder" >> pids
	await grep -q " $holder " /proc/locks
	run --separate-stderr "$WITHLOCK" -n b/sub/x.lock true
	[ "$status" -eq 75 ]
	[ "$stderr" = "withlock: b/sub/x.lock: busy; held by pid $holder (flock b/sub/x.lock sleep 30)" ]
	# subvolumes repeat inode numbers: another subvolume's file of the
	# same inode is not taken for held
	btrfs -q subvolume create b/sub2
	touch b/sub2/x.lock
	[ "$(stat -c %i b/sub/x.lock)" = "$(stat -c %i b/sub2/x.lock)" ] || skip "inode numbers differ here"
	run "$WITHLOCK" --status b/sub2/x.lock
	[ "$status" -eq 1 ] || fail "$output"
	run "$WITHLOCK" -n b/sub2/x.lock echo in
	[ "$output" = in ]
}

@test "sshfs: a lock file where locks do not reach other clients is refused (69) unless --unsafe-shared-fs" {
	need_sshfs
	mkdir export
	sshfs_up "$PWD/export" "$PWD/m1"
	run --separate-stderr "$WITHLOCK" m1/x.lock touch ran
	[ "$status" -eq 69 ]
	[[ "$stderr" == "withlock: m1/x.lock: on fuse.sshfs, whose locks do not reach its other clients"* ]]
	[ ! -e ran ]
	[ ! -e export/x.lock ]
	# a symlink to a lock file there (dangling: none yet) is no way round
	ln -s "$PWD/m1/y.lock" via.lock
	run --separate-stderr "$WITHLOCK" via.lock touch ran
	[ "$status" -eq 69 ]
	[ ! -e ran ]
	run "$WITHLOCK" --unsafe-shared-fs m1/x.lock echo ran
	[ "$output" = ran ]
	CRASHSAFE_UNSAFE_SHARED_FS=1 run "$WITHLOCK" m1/x.lock echo ran2
	[ "$output" = ran2 ]
}

# --- the suite's other tools ----------------------------------------------

@test "staleclean knows withlock's lock files: held is live and names the command; after the holder, stale and removed" {
	bg "$WITHLOCK" sc.lock sleep 30
	await_holder sc.lock "$BG"
	run "$STALECLEAN" -v --min-age 0 --max-age 0 sc.lock
	[ "$output" = "sc.lock: live (flock held by pid $BG (sleep 30))" ]
	[ -e sc.lock ]
	run "$STALECLEAN" -n --json --min-age 0 sc.lock
	echo "$output" | jq -e --argjson p "$BG" '.kind == "lock-file" and .verdict == "live" and .pid == $p'
	kill "$BG"
	wait "$BG" || true
	run "$STALECLEAN" -v --min-age 0 --max-age 0 sc.lock
	[[ "$output" == "sc.lock: stale (pid $BG "*"), removed" ]] || fail "$output"
	[ ! -e sc.lock ]
}

# --- usage ----------------------------------------------------------------

@test "usage errors: 64 with a reason; --help, --version" {
	run --separate-stderr "$WITHLOCK"
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "withlock: missing lock file" ]
	run --separate-stderr "$WITHLOCK" x.lock
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "withlock: missing command" ]
	run --separate-stderr "$WITHLOCK" -w abc x.lock true
	[ "$status" -eq 64 ]
	run --separate-stderr "$WITHLOCK" -E 256 x.lock true
	[ "$status" -eq 64 ]
	run --separate-stderr "$WITHLOCK" --bogus x.lock true
	[ "$status" -eq 64 ]
	run --separate-stderr "$WITHLOCK" '' true
	[ "$status" -eq 64 ]
	[ ! -e x.lock ]
	run "$WITHLOCK" --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: withlock "* ]]
	run "$WITHLOCK" --version
	[[ "$output" =~ ^withlock\ [0-9.]+$ ]]
}
