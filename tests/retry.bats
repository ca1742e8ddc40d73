#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# retry: SPEC section 5.
# shellcheck disable=SC2016 # sh -c scripts are single-quoted on purpose

load helpers
load hostile

setup() {
	common_setup
}

teardown() {
	# a reader a test stopped
	[ -z "${STOPPED:-}" ] || { kill -CONT "$STOPPED"; kill "$STOPPED"; } 2> /dev/null || true
	term_stop
	hostile_teardown
}

# Milliseconds since the epoch.
now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

# The delays ("retrying in X") of the progress lines in $stderr, one a line.
delays() {
	sed -n 's/.*retrying in \([0-9.]*\)s$/\1/p' <<< "$stderr"
}

# --- attempts and statuses ------------------------------------------------

@test "success at once: the command's output, nothing else, exit 0" {
	run --separate-stderr "$RETRY" -- echo hello
	[ "$status" -eq 0 ]
	[ "$output" = hello ]
	[ -z "$stderr" ]
}

@test "failures exhaust the attempts; the last status is returned; progress lines" {
	run --separate-stderr "$RETRY" -d 1ms -- sh -c 'exit 3'
	[ "$status" -eq 3 ]
	[ "$(grep -c . <<< "$stderr")" -eq 5 ]
	[[ "$(sed -n 1p <<< "$stderr")" =~ ^retry:\ attempt\ 1/5\ failed\ \(exit\ 3\)\;\ retrying\ in\ [0-9]+\.[0-9]{2}s$ ]]
	[ "$(sed -n 5p <<< "$stderr")" = "retry: attempt 5/5 failed (exit 3); giving up" ]
}

@test "success on the third attempt ends the loop with 0" {
	run --separate-stderr "$RETRY" -d 1ms -- sh -c 'echo "$RETRY_ATTEMPT" >> tries; [ "$RETRY_ATTEMPT" = 3 ]'
	[ "$status" -eq 0 ]
	[ "$(cat tries)" = "$(printf '1\n2\n3')" ]
	[ "$(grep -c 'failed' <<< "$stderr")" -eq 2 ]
}

@test "RETRY_ATTEMPT and RETRY_MAX are in each attempt's environment" {
	run "$RETRY" -n 2 -d 1ms -- sh -c 'echo "$RETRY_ATTEMPT/$RETRY_MAX" >> env; exit 1'
	[ "$(cat env)" = "$(printf '1/2\n2/2')" ]
	run "$RETRY" -n inf -d 1ms -- sh -c 'echo "$RETRY_MAX" > max'
	[ "$(cat max)" = inf ]
}

@test "-n inf retries until success" {
	run "$RETRY" -n inf -d 1ms -M 2ms -- sh -c '[ "$RETRY_ATTEMPT" -ge 12 ]'
	[ "$status" -eq 0 ]
}

@test "-n rejects 0, negatives and junk: 64" {
	for n in 0 -1 abc 1x '' 99999999999; do
		run "$RETRY" -n "$n" -- true
		[ "$status" -eq 64 ] || fail "-n '$n' gave $status"
	done
}

# --- backoff and jitter (SPEC 1.6) ----------------------------------------

@test "backoff without jitter: initial x factor^(n-1), slept for real" {
	start=$(now_ms)
	run --separate-stderr "$RETRY" -j none -d 100ms -f 2 -n 4 -- false
	elapsed=$(( $(now_ms) - start ))
	[ "$status" -eq 1 ]
	[ "$(delays | tr '\n' ' ')" = "0.10 0.20 0.40 " ]
	[ "$elapsed" -ge 700 ] || fail "slept only ${elapsed}ms"
	[ "$elapsed" -lt 5000 ] || fail "took ${elapsed}ms"
}

@test "-M caps every delay" {
	run --separate-stderr "$RETRY" -j none -d 100ms -f 10 -M 150ms -n 4 -- false
	[ "$(delays | tr '\n' ' ')" = "0.10 0.15 0.15 " ]
}

@test "jitter never exceeds the nominal delay (full, equal, decorrelated)" {
	run --separate-stderr "$RETRY" -j full -d 40ms -f 1 -n 30 -- false
	[ "$(delays | wc -l)" -eq 29 ]
	delays | awk '$1 > 0.04 { bad = 1 } END { exit bad }'
	# full jitter really varies
	[ "$(delays | sort -u | wc -l)" -gt 3 ]
	run --separate-stderr "$RETRY" --jitter equal -d 40ms -f 1 -n 30 -- false
	delays | awk '$1 < 0.02 || $1 > 0.04 { bad = 1 } END { exit bad }'
	run --separate-stderr "$RETRY" -j decorrelated -d 10ms -M 50ms -n 30 -- false
	delays | awk '$1 < 0.01 || $1 > 0.05 { bad = 1 } END { exit bad }'
	run "$RETRY" -j sometimes -- true
	[ "$status" -eq 64 ]
}

# --- --json ---------------------------------------------------------------

@test "--json: one object per attempt with the fields of SPEC 5" {
	run --separate-stderr "$RETRY" --json -j none -d 10ms -n 3 -- sh -c 'exit 7'
	[ "$status" -eq 7 ]
	python3 - "$stderr" <<'EOF'
import json, sys
lines = sys.argv[1].splitlines()
assert len(lines) == 3, lines
for i, line in enumerate(lines, 1):
    o = json.loads(line)
    assert set(o) == {"attempt", "status", "signal", "timed_out", "duration_s", "next_delay_s"}, o
    assert o["attempt"] == i and o["status"] == 7 and o["signal"] is None
    assert o["timed_out"] is False and o["duration_s"] >= 0
assert json.loads(lines[0])["next_delay_s"] == 0.01
assert json.loads(lines[2])["next_delay_s"] is None
EOF
}

# --- time limits: -t, -k, -T ----------------------------------------------

@test "-t: a hung attempt is stopped with SIGTERM and counts as 124" {
	start=$(now_ms)
	run --separate-stderr "$RETRY" -t 0.3 -n 2 -d 1ms -- sleep 30
	elapsed=$(( $(now_ms) - start ))
	[ "$status" -eq 124 ]
	[[ "$stderr" == *"attempt 2/2 failed (timed out after 0."*"s); giving up"* ]]
	[ "$elapsed" -lt 10000 ]
}

@test "-t: the attempt's whole process group goes, grandchildren included" {
	run "$RETRY" -t 0.5 -n 1 -- sh -c 'sleep 60 & echo $! > grandchild; sleep 60'
	[ "$status" -eq 124 ]
	gc=$(cat grandchild)
	for _ in $(seq 50); do kill -0 "$gc" 2>/dev/null || break; sleep 0.1; done
	run ! kill -0 "$gc"
}

@test "-t: nothing a timed-out attempt started outlives it, in another group or session (nested retry, setsid)" {
	run "$RETRY" -n 1 -t 0.5 -k 0.2 -- "$RETRY" -- sh -c \
	    'trap "" TERM; echo $$ > sh.pid; sleep 30 & echo $! > sleep.pid; wait'
	[ "$status" -eq 124 ]
	run "$RETRY" -n 1 -t 0.3 -k 0.2 -- sh -c 'setsid sleep 30 & echo $! > setsid.pid; wait'
	[ "$status" -eq 124 ]
	for p in sh sleep setsid; do
		await pid_gone "$(cat "$p.pid")" || fail "$p survived"
	done
}

@test "-t: during the -k grace the attempt's output is still drained (3 MB flushed on SIGTERM arrive)" {
	run --separate-stderr timeout 20 "$RETRY" -n 1 -t 1 -k 5 -- python3 -c 'import signal, sys, time
def h(*a):
    sys.stdout.write("x" * 3000000 + "\nflushed\n"); sys.stdout.flush(); sys.exit(1)
signal.signal(signal.SIGTERM, h); time.sleep(30)'
	[ "$status" -eq 124 ]
	[[ "$stderr" == *"flushed"* ]]
	[[ "$stderr" == *"timed out after 1."* ]]
}

@test "-k: an attempt that ignores SIGTERM gets SIGKILL after the grace" {
	start=$(now_ms)
	run "$RETRY" -t 0.2 -k 0.3 -n 1 -- sh -c 'trap "" TERM; sleep 30 & wait; sleep 30'
	elapsed=$(( $(now_ms) - start ))
	[ "$status" -eq 124 ]
	[ "$elapsed" -ge 450 ] || fail "killed after ${elapsed}ms, before the grace"
	[ "$elapsed" -lt 10000 ]
}

@test "-T: no sleep runs past the deadline, and no attempt starts after it" {
	start=$(now_ms)
	run "$RETRY" -T 1 -j none -d 10s -n 10 -- sh -c 'echo x >> tries; exit 1'
	elapsed=$(( $(now_ms) - start ))
	[ "$status" -eq 1 ]
	[ "$(wc -l < tries)" -eq 1 ]
	[ "$elapsed" -lt 5000 ] || fail "deadline overrun: ${elapsed}ms"
}

@test "-T: an attempt still running at the deadline is stopped (124)" {
	start=$(now_ms)
	run "$RETRY" -T 0.5 -n 3 -- sleep 30
	elapsed=$(( $(now_ms) - start ))
	[ "$status" -eq 124 ]
	[ "$elapsed" -lt 8000 ]
}

# --- which statuses are retried -------------------------------------------

@test "--on: only the listed statuses are retried" {
	run "$RETRY" --on 75 -d 1ms -- sh -c 'echo x >> a; exit 3'
	[ "$status" -eq 3 ]
	[ "$(wc -l < a)" -eq 1 ]
	run "$RETRY" --on 1-2,75 -n 3 -d 1ms -- sh -c 'echo x >> b; exit 75'
	[ "$status" -eq 75 ]
	[ "$(wc -l < b)" -eq 3 ]
}

@test "--except: defaults 64,126,127,130 are not retried; a list replaces them" {
	for code in 64 126 127 130; do
		rm -f c
		run "-$code" "$RETRY" -d 1ms -- sh -c "echo x >> c; exit $code"
		[ "$(wc -l < c)" -eq 1 ] || fail "exit $code was retried"
	done
	rm -f c
	run "$RETRY" --except 3 -d 1ms -- sh -c 'echo x >> c; exit 3'
	[ "$(wc -l < c)" -eq 1 ]
	rm -f c
	run "$RETRY" --except 3 -n 2 -d 1ms -- sh -c 'echo x >> c; exit 64'
	[ "$(wc -l < c)" -eq 2 ]
	for bad in '' 256 1- a 5-1; do
		run "$RETRY" --except "$bad" -- true
		[ "$status" -eq 64 ] || fail "--except '$bad' gave $status"
		run "$RETRY" --on "$bad" -- true
		[ "$status" -eq 64 ] || fail "--on '$bad' gave $status"
	done
}

@test "75 (the suite's try-again) is retried by default" {
	run "$RETRY" -n 2 -d 1ms -- sh -c 'echo x >> t; exit 75'
	[ "$status" -eq 75 ]
	[ "$(wc -l < t)" -eq 2 ]
}

@test "command not found is 127 and not executable 126, not retried" {
	run -127 --separate-stderr "$RETRY" -d 1ms -- ./no-such-command
	[[ "$stderr" == "retry: ./no-such-command: No such file or directory" ]]
	printf '#!/bin/sh\n' > script
	chmod 644 script
	run -126 "$RETRY" -d 1ms -- ./script
}

@test "an attempt killed by a signal: 128+N, and retried" {
	run --separate-stderr "$RETRY" -n 2 -d 1ms -- sh -c 'echo x >> k; kill -TERM $$'
	[ "$status" -eq 143 ]
	[ "$(wc -l < k)" -eq 2 ]
	[[ "$stderr" == *"failed (killed by signal 15)"* ]]
}

@test "an exit status above 128 is an exit, not a signal: retried, and reported as such" {
	run --separate-stderr "$RETRY" -n 3 -d 0 -- sh -c 'echo x >> c; exit 131'
	[ "$status" -eq 131 ]
	[ "$(wc -l < c)" -eq 3 ]
	[ "$stderr" = "retry: attempt 1/3 failed (exit 131); retrying in 0.00s
retry: attempt 2/3 failed (exit 131); retrying in 0.00s
retry: attempt 3/3 failed (exit 131); giving up" ]
	run --separate-stderr "$RETRY" -n 1 --json -- sh -c 'exit 200'
	[ "$status" -eq 200 ]
	[ "$(jq -c '[.status, .signal]' <<< "$stderr")" = "[200,null]" ]
	run -255 "$RETRY" -n 1 -q -- sh -c 'exit 255'
}

# --- progress lines and records on stderr ---------------------------------

@test "progress lines and --json records start on a line of their own" {
	# held output of a failed attempt, released to stderr without a newline
	run --separate-stderr "$RETRY" -n 2 -d 0 --json -- sh -c 'printf "progress 50%%"; exit 1'
	[ "$status" -eq 1 ]
	[ "$(grep -c '^{"attempt":' <<< "$stderr")" -eq 2 ]
	[ "$(grep -c '^progress 50%$' <<< "$stderr")" -eq 2 ]
	# the attempt's own stderr, a file
	"$RETRY" -n 2 -d 0 -- sh -c 'printf "working..." >&2; exit 1' 2> err || true
	[ "$(grep -c '^retry: attempt' err)" -eq 2 ]
	# and nothing is added after a success
	"$RETRY" -n 2 -d 0 -- sh -c 'printf "done" >&2' 2> err
	[ "$(cat err)" = "done" ]
}

@test "--json records start on a line of their own when stderr is a pipe (2>&1 | a collector)" {
	run bash -c '"$1" -n 2 -d 0 --json -- sh -c "printf \"progress 50%%\" >&2; exit 1" 2>&1 > /dev/null | cat' sh "$RETRY"
	[ "${lines[0]}" = "progress 50%" ]
	[ "$(jq -c '[.attempt, .status]' <<< "${lines[1]}")" = "[1,1]" ]
	[ "${lines[2]}" = "progress 50%" ]
	[ "$(jq -c '[.attempt, .status]' <<< "${lines[3]}")" = "[2,1]" ]
	[ "${#lines[@]}" -eq 4 ]
	# a finished line gets no blank line after it
	run bash -c '"$1" -n 1 --json -- sh -c "echo done >&2; exit 3" 2>&1 > /dev/null | cat' sh "$RETRY"
	[ "${lines[0]}" = "done" ]
	[ "${#lines[@]}" -eq 2 ]
	# released stdout sharing stderr's pipe (held, then a success record)
	run bash -c '"$1" --json -- printf out 2>&1 | cat' sh "$RETRY"
	[ "${lines[0]}" = out ]
	[ "$(jq -c .status <<< "${lines[1]}")" = 0 ]
	# the attempt's stderr is still a pipe
	run bash -c '"$1" --json -- sh -c "[ -p /dev/stderr ] && echo pipe >&2" 2>&1 | head -1' sh "$RETRY"
	[ "$output" = pipe ]
	# without --json, stderr is the attempt's own, untouched
	run bash -c '"$1" -- sh -c "readlink /proc/self/fd/2; readlink /proc/\$PPID/fd/2" 2>&1 | cat' sh "$RETRY"
	[ "${lines[0]}" = "${lines[1]}" ]
}

@test "--json --live with 2>&1 into one pipe keeps stdout and stderr in the order written" {
	run bash -c '"$1" --live --json -- sh -c "i=0; while [ \$i -lt 500 ]; do echo out\$i; echo err\$i >&2; i=\$((i+1)); done" 2>&1 | cat' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$(head -n 1000 <<< "$output")" = "$(i=0; while [ $i -lt 500 ]; do echo "out$i"; echo "err$i"; i=$((i+1)); done)" ]
	[ "$(tail -n 1 <<< "$output" | jq -c .status)" = 0 ]
}

@test "--json, stderr's reader gone: the attempt's write to stderr fails as it would without retry" {
	run bash -c '"$1" --json -n 1 -- sh -c "yes err >&2; echo \$? > st" 2>&1 > /dev/null | head -2' sh "$RETRY"
	[ "$output" = "err
err" ]
	[ "$(cat st)" = 141 ]
}

@test "--json with a stalled stderr reader: -t still stops the attempt, and SIGTERM ends retry" {
	mkfifo f
	cat f > /dev/null &
	rd=$!
	STOPPED=$rd
	exec 8> f
	kill -STOP "$rd"
	"$RETRY" --json -n 1 -t 1 -k 1 -- sh -c 'echo $$ > att; exec yes err >&2' 2>&8 &
	pid=$!
	await test -s att
	att=$(cat att)
	# the attempt, blocked writing into the relay, is stopped at -t
	await test ! -e "/proc/$att" || fail "the attempt outlived -t"
	# retry, blocked writing its record, still dies of SIGTERM
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	kill -CONT "$rd"
	exec 8>&-
	kill "$rd" 2> /dev/null || true
	[ "$st" -eq 143 ]
}

@test "--json: an attempt done in time keeps its whole stderr while a slow reader catches up within -k" {
	run bash -c '"$1" --json -t 1 -k 10 -- sh -c "seq 1 20000 >&2; echo DONE >&2" 2>&1 > /dev/null | { sleep 2; cat; }' sh "$RETRY"
	[ "${lines[20000]}" = DONE ]
	[ "$(jq -c .status <<< "${lines[20001]}")" = 0 ]
}

@test "progress lines in a terminal's log start at the start of a line (no padding)" {
	command -v script > /dev/null || skip "script(1) not installed"
	script -qc "stty cols 120; $RETRY -n 2 -d 0 -- false" /dev/null > log || true
	[ "$(tr -d '\r' < log | grep -c '^retry: attempt')" -eq 2 ]
}

# --- stdin and stdout -----------------------------------------------------

@test "stdin is replayed from the start to every attempt" {
	run "$RETRY" -n 3 -d 1ms -- sh -c 'cat > "in.$RETRY_ATTEMPT"; [ "$RETRY_ATTEMPT" = 3 ]' <<< "the input"
	[ "$status" -eq 0 ]
	for i in 1 2 3; do [ "$(cat "in.$i")" = "the input" ]; done
}

@test "stdin replay has no pipe to deadlock on (10 MiB through cat)" {
	run bash -c 'head -c 10485760 /dev/zero | timeout 60 "$1" -- cat | wc -c' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$output" = 10485760 ]
	# an attempt that reads only part of it and fails, then one that reads all
	run bash -c 'head -c 10485760 /dev/zero |
		timeout 60 "$1" -d 1ms -- sh -c "[ \$RETRY_ATTEMPT = 2 ] && exec wc -c; head -c 1 > /dev/null; exit 1"' sh "$RETRY"
	[ "$status" -eq 0 ]
	[[ "$output" == *10485760 ]]
}

@test "-I: attempts inherit stdin (a while-read loop keeps its input)" {
	run bash -c 'printf "a\nb\nc\n" | while read -r l; do "$1" -I -- true; echo "$l"; done' sh "$RETRY"
	[ "$output" = "$(printf 'a\nb\nc')" ]
	# without -I the first retry swallows the loop's input, as documented
	run bash -c 'printf "a\nb\nc\n" | while read -r l; do "$1" -- true; echo "$l"; done' sh "$RETRY"
	[ "$output" = a ]
}

@test "stdout is held: a pipeline sees only the successful attempt's output" {
	run --separate-stderr bash -c '"$1" -d 1ms -- sh -c "echo out\$RETRY_ATTEMPT; [ \$RETRY_ATTEMPT = 3 ]" | cat' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$output" = out3 ]
	[[ "$stderr" == *out1* && "$stderr" == *out2* ]]
}

@test "stdout held for a failed loop goes to stderr only" {
	run --separate-stderr "$RETRY" -n 2 -d 1ms -- sh -c 'echo half; exit 1'
	[ "$status" -eq 1 ]
	[ "$output" = "" ]
	[ "$(grep -c '^half$' <<< "$stderr")" -eq 2 ]
}

@test "--live streams every attempt's output; --hold overrides a TTY" {
	run --separate-stderr "$RETRY" --live -d 1ms -- sh -c 'echo out$RETRY_ATTEMPT; [ $RETRY_ATTEMPT = 2 ]'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'out1\nout2')" ]
	command -v script > /dev/null || skip "script(1) not installed"
	# on a terminal, output is live by default ...
	run script -qec "$RETRY -d 1ms -- sh -c 'echo out\$RETRY_ATTEMPT; [ \$RETRY_ATTEMPT = 2 ]' 2>/dev/null" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *out1*out2* ]]
	# ... unless --hold
	run script -qec "$RETRY --hold -d 1ms -- sh -c 'echo out\$RETRY_ATTEMPT; [ \$RETRY_ATTEMPT = 2 ]' 2>/dev/null" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" != *out1* && "$output" == *out2* ]]
}

@test "a TTY stdin is passed through and the attempt can read it (foreground)" {
	command -v script > /dev/null || skip "script(1) not installed"
	run timeout 20 script -qec "$RETRY -- sh -c 'read -r x; echo got:\$x'" /dev/null <<< "typed"
	[ "$status" -eq 0 ]
	[[ "$output" == *"got:typed"* ]]
}

# --- signals, the terminal, job control -----------------------------------

@test "SIGTERM to retry: forwarded to the attempt's group, no further attempt, 143" {
	"$RETRY" -n 5 -d 1ms -- sh -c 'trap "echo got >> log; exit 1" TERM; echo x >> tries; sleep 30 & wait' &
	pid=$!
	await test -s tries	# written once the trap is set
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
	[ "$(cat log)" = got ]
	[ "$(wc -l < tries)" -eq 1 ]
}

@test "SIGINT and SIGHUP to retry: forwarded, loop stopped, 128+N" {
	for sig in INT HUP; do
		rm -f tries
		env --default-signal=INT "$RETRY" -n 5 -d 1ms -- sh -c 'echo x >> tries; sleep 30' &
		pid=$!
		for _ in $(seq 100); do [ -s tries ] && break; sleep 0.05; done
		kill -"$sig" "$pid"
		status=0
		wait "$pid" || status=$?
		[ "$status" -eq $((128 + $(kill -l "$sig"))) ] || fail "$sig gave $status"
		[ "$(wc -l < tries)" -eq 1 ]
	done
}

@test "a signal during the backoff sleep stops retry at once" {
	"$RETRY" -n 5 -d 30s -j none -- sh -c 'echo x >> tries; exit 1' 2>/dev/null &
	pid=$!
	await test -s tries
	await no_children "$pid"	# the attempt is over: retry sleeps
	start=$(now_ms)
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
	[ $(( $(now_ms) - start )) -lt 5000 ]
}

@test "an attempt that dies of SIGINT (Ctrl-C at the terminal) stops the loop" {
	run "$RETRY" --except 1 -n 5 -d 1ms -- sh -c 'echo x >> tries; kill -INT $$'
	[ "$status" -eq 130 ]
	[ "$(wc -l < tries)" -eq 1 ]
}

# Run a script in a terminal (script(1)'s pty) and press KEYS after a second.
in_pty() {	# SCRIPT KEYS
	timeout 30 script -qec "bash $1" /dev/null < <(sleep 1; printf "%b" "$2"; sleep 1)
}

@test "Ctrl-C at a terminal stops the calling script too, as it stops it for the bare command" {
	command -v script > /dev/null || skip "script(1) not installed"
	# the bare command: the script stops at Ctrl-C
	printf '%s\n' 'sleep 30' 'echo after > after-bare' > bare.sh
	in_pty bare.sh '\003' || true
	[ ! -e after-bare ]
	# the same through retry (wait and cooperative exit)
	printf '%s\n' "$RETRY -n 5 -d 1ms -- sh -c 'echo x >> tries; sleep 30'" \
	    'echo "after=$?" > after' > job.sh
	in_pty job.sh '\003' || true
	[ "$(wc -l < tries)" -eq 1 ]
	[ ! -e after ] || fail "the script went on: $(cat after)"
}

@test "Ctrl-C stops the loop also when the attempt catches SIGINT and exits 1 (-n inf); handled, it does not kill the script" {
	command -v script > /dev/null || skip "script(1) not installed"
	printf '%s\n' "$RETRY -n inf -d 1ms -- sh -c 'echo x >> tries; trap \"exit 1\" INT; sleep 30 & wait'" \
	    'echo "after=$?" > after' > job.sh
	in_pty job.sh '\003' || true
	await test -s after
	[ "$(wc -l < tries)" -eq 1 ]
	# the attempt handled it: the script goes on, as after the bare
	# command (wait and cooperative exit), with its status
	[ "$(cat after)" = after=1 ]
	# and one that handles it and succeeds is a success, output and all
	printf '%s\n' "$RETRY -n 3 -- python3 -c 'import time
try: time.sleep(30)
except KeyboardInterrupt: print(\"result\")' > out" 'echo "after=$?" > after' > job2.sh
	rm -f after
	in_pty job2.sh '\003' || true
	await test -s after
	[ "$(cat after)" = after=0 ]
	[ "$(cat out)" = result ]
}

@test "Ctrl-C in 'retry ... 2>&1 | cat' at a bash prompt: retry dies of SIGINT (not SIGPIPE) and the line stops" {
	term_start
	term_keys "$RETRY -n 3 -- sh -c 'echo \$\$ > att; sleep 30' 2>&1 | cat; echo after > after" Enter
	await test -s att
	term_keys C-c
	term_keys 'echo "rc=${PIPESTATUS[0]}" > rc' Enter
	await test -s rc || fail "no prompt: $(tmux -S "$TMUX_SOCK" capture-pane -p)"
	[ ! -e after ]
	run cat rc
	[ "$output" = rc=130 ] || [ "$output" = rc=0 ] || fail "$output"
	# what the shell saw of the pipeline: retry's own status
	# (the line stops, as above: the status is asked at the next prompt)
	term_keys "$RETRY -n 3 -- sh -c 'echo \$\$ > att2; sleep 30' 2>&1 | cat" Enter
	await test -s att2
	term_keys C-c
	term_keys 'echo "st=${PIPESTATUS[*]}" > st' Enter
	await test -s st
	[[ "$(cat st)" != *141* ]] || fail "retry died of SIGPIPE: $(cat st)"
}

@test "a process substitution's reader (a child of ours before we ran) outlives a timed-out attempt" {
	run bash -c '"$1" -t 0.5 -n 3 -d 0 -- sh -c "echo attempt \$RETRY_ATTEMPT >&2; sleep 5" 2> >(cat > log); sleep 0.5' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^attempt' log)" -eq 3 ]
	[ "$(grep -c 'timed out' log)" -eq 3 ]
}

@test "Ctrl-Z at a bash prompt stops the job and gives the prompt back; fg resumes it; Ctrl-C ends it" {
	term_start
	term_keys "$RETRY -n 2 -- sh -c 'echo \$\$ > att; sleep 30'" Enter
	await test -s att
	a=$(cat att)
	term_keys C-z
	await state_is "$a" T || fail "the attempt was not stopped"
	# the prompt is back: the shell runs the next command
	term_keys "echo back > back" Enter
	await test -s back || fail "no prompt after Ctrl-Z: $(tmux -S "$TMUX_SOCK" capture-pane -p)"
	term_keys "fg" Enter
	await state_is "$a" S || fail "fg did not resume the attempt"
	term_keys C-c
	term_keys 'echo "rc=$?" > rc' Enter
	await test -s rc
	[ "$(cat rc)" = rc=130 ]
	if kill -0 "$a" 2> /dev/null; then fail "the attempt survived"; fi
}

@test "Ctrl-Z to an attempt that ignores it: retry does not stop either, the attempt keeps the terminal" {
	term_start
	term_ctrl_z_ignored "$RETRY" -n 2 --
}

@test "an attempt that stops itself (ssh's ~^Z) gives the prompt back; fg resumes it" {
	term_start
	term_keys "$RETRY -n 2 -- python3 -c 'import os, signal; os.kill(os.getpid(), signal.SIGTSTP); open(\"resumed\", \"w\")'" Enter
	term_keys "echo back > back" Enter
	await test -s back || fail "no prompt: $(tmux -S "$TMUX_SOCK" capture-pane -p)"
	[ ! -e resumed ]
	term_keys "fg" Enter
	await test -e resumed || fail "fg did not resume it: $(tmux -S "$TMUX_SOCK" capture-pane -p)"
	term_keys 'echo "rc=$?" > rc' Enter
	await test -s rc
	[ "$(cat rc)" = rc=0 ]
}

@test "a prompt on /dev/tty works when stdin is not the terminal (-I in a while-read loop)" {
	command -v script > /dev/null || skip "script(1) not installed"
	printf '%s\n' "echo host1 | while read -r h; do $RETRY -I -n 1 -t 10 -- sh -c 'read -r a < /dev/tty; echo \"\$a\" > answer'; echo \"rc=\$?\" > rc; done" > job.sh
	in_pty job.sh 'yes\r' || true
	[ "$(cat answer)" = yes ]
	[ "$(cat rc)" = rc=0 ]
}

# --- pipes, spools, odd stdin and stdout ----------------------------------

@test "the attempt's stdout is a pipe: cp FILE /dev/stdout and tee /dev/stdout behave as without retry" {
	printf 'body\n' > body.txt
	run bash -c '"$1" -- sh -c "echo header; cp body.txt /dev/stdout; echo footer" | cat' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$output" = "header
body
footer" ]
	run bash -c '"$1" -- sh -c "echo header; tee /dev/stdout < body.txt; echo footer" | od -An -c | tr -d " \n"' sh "$RETRY"
	[ "$output" = 'header\nbody\nbody\nfooter\n' ]
}

@test "stdin: a pipe is fed through a pipe (sort /dev/stdin sees only the rest); a file keeps its offset" {
	run bash -c 'printf "H\nb\na\n" | "$1" -n 2 -d 0 -- sh -c "read -r h; sort /dev/stdin; [ \$RETRY_ATTEMPT = 2 ]"' sh "$RETRY"
	[ "$status" -eq 0 ]
	# each attempt got the whole input, and read consumed H from it
	[ "$output" = "a
b
retry: attempt 1/2 failed (exit 1); retrying in 0.00s
a
b" ]
	printf 'H\nb\na\n' > in.txt
	run bash -c '{ read -r h; "$1" -n 2 -d 0 -- sh -c "cat; [ \$RETRY_ATTEMPT = 2 ]"; } < in.txt' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$output" = "b
a
retry: attempt 1/2 failed (exit 1); retrying in 0.00s
b
a" ]
}

@test "spools are on disk: in a 128 MiB memory cgroup 384 MiB in and out of retry arrive whole" {
	mkdir spool
	st=0
	in_memcg $((128 << 20)) sh -c 'TMPDIR=$2 "$1" -- head -c 384M /dev/zero > out' sh "$RETRY" "$PWD/spool" || st=$?
	[ "$st" -eq 0 ] || fail "exit $st, OOM kills: ${MEMCG_OOM_KILLS:-unknown}"
	[ "$(stat -c %s out)" -eq $((384 << 20)) ]
	rm out
	in_memcg $((128 << 20)) sh -c 'head -c 384M /dev/zero | TMPDIR=$2 "$1" -- wc -c > count' sh "$RETRY" "$PWD/spool" || st=$?
	[ "$st" -eq 0 ] || fail "exit $st, OOM kills: ${MEMCG_OOM_KILLS:-unknown}"
	[ "$(cat count)" -eq $((384 << 20)) ]
	[ -z "$(ls -A spool)" ]
}

@test "output past the memory spool and a 64 MiB release chunk arrives whole: into a pipe, a file, >>, and stderr when it failed" {
	mkdir spool
	head -c 72M /dev/urandom > src
	export TMPDIR=$PWD/spool
	# stdout a pipe (splice), stdin a pipe spooled to disk
	# shellcheck disable=SC2002 # stdin must be a pipe
	cat src | "$RETRY" -- cat | cmp - src
	# a regular file (copy_file_range), and one opened O_APPEND (read/write)
	"$RETRY" -- cat src > out
	cmp out src
	echo first > app
	"$RETRY" -- cat src >> app
	[ "$(head -1 app)" = first ]
	tail -c +7 app | cmp - src
	# failed: all of it on stderr, then the progress line on a line of its own
	st=0
	"$RETRY" -n 1 -- sh -c 'cat src; exit 3' > out 2> err || st=$?
	[ "$st" -eq 3 ]
	[ ! -s out ]
	head -c $((72 << 20)) err | cmp - src
	[ "$(tail -c +$(((72 << 20) + 1)) err)" = "$(printf '\nretry: attempt 1/1 failed (exit 3); giving up')" ]
	[ -z "$(ls -A spool)" ]
}

@test "a full spool disk is 74 with a message, never a silent truncation" {
	need_root "a small tmpfs"
	run unshare -m --propagation private sh -c '
		mkdir -p spool && mount -t tmpfs -o size=1m tmpfs spool &&
		TMPDIR=$PWD/spool "$1" -n 1 -- head -c 8M /dev/zero > out; echo "rc=$?"' sh "$RETRY"
	[ "${lines[0]}" = "retry: spool in $PWD/spool: No space left on device" ]
	[ "${lines[1]}" = rc=74 ]
	[ ! -s out ]
}

@test "when stdout's reader is gone, retry stops (held and --live): no attempt after" {
	run bash -c '"$1" --live -n 5 -d 0 -- sh -c "echo x >> tries; yes" | head -1; echo "${PIPESTATUS[0]}"' sh "$RETRY"
	[ "${lines[0]}" = y ]
	[ "${lines[1]}" = 141 ]
	[ "$(wc -l < tries)" -eq 1 ]
	rm tries
	# held: the reader goes away while the attempt runs
	run bash -c '"$1" -n 5 -d 0 -- sh -c "echo x >> tries; sleep 2; exit 1" | sleep 0.3; echo "${PIPESTATUS[0]}"' sh "$RETRY"
	[ "$output" = 141 ]
	[ "$(wc -l < tries)" -eq 1 ]
	rm tries
	# and its caller ignoring SIGPIPE: 74 with a message
	run bash -c 'trap "" PIPE; "$1" -n 5 -d 0 -- sh -c "echo x >> tries; sleep 2; exit 1" 2> err | sleep 0.3; echo "${PIPESTATUS[0]}"' sh "$RETRY"
	[ "$output" = 74 ]
	[ "$(wc -l < tries)" -eq 1 ]
	[ "$(tail -n 1 err)" = "retry: stdout: Broken pipe" ]
}

@test "held output waits for EOF, as \$(cmd) does: a background child's late output is delivered" {
	run bash -c '"$1" -- sh -c "echo start; (sleep .3; echo late) &" | cat' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$output" = "start
late" ]
}

@test "stdout that cannot take the output is 74, as for any write; a signal while a slow reader takes it ends retry" {
	run bash -c '"$1" -- /bin/echo hi > /dev/full' sh "$RETRY"
	[ "$status" -eq 74 ]
	[ "$output" = "retry: stdout: No space left on device" ]
	mkfifo slow
	# shellcheck disable=SC2217 # a reader that opens and takes nothing
	sleep 30 < slow &
	s=$!
	"$RETRY" -- sh -c 'head -c 3M /dev/zero; : > attempt.done' > slow &
	pid=$!
	await test -e attempt.done
	await no_children "$pid"	# the attempt is over: retry writes what it held
	kill -TERM "$pid"
	st=0
	timeout 10 tail --pid="$pid" -f /dev/null || st=$?
	kill "$s"
	[ "$st" -eq 0 ] || fail "retry ignored SIGTERM while releasing"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 143 ]
}

@test "stderr's reader gone: a failed attempt's held output is lost there, as progress lines are, and the attempts go on" {
	# stderr a pipe whose read end is closed before retry starts
	run -0 perl -e 'pipe(my $r, my $w) or die; close $r; open(STDERR, ">&", $w) or die; close $w; exec @ARGV' \
	    "$RETRY" -n 3 -d 0 -- sh -c 'n=$(cat c 2> /dev/null || echo 0); echo $((n + 1)) > c; echo "out $n"; [ "$n" -ge 2 ]'
	[ "$output" = "out 2" ]
	[ "$(cat c)" = 3 ]
}

@test "kill -PIPE ends retry like any signal (141); its own EPIPEs do not" {
	"$RETRY" -- sleep 5 &
	pid=$!
	await has_child "$pid"
	kill -PIPE "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 141 ]
	# an attempt that closes stdin early: the feed's EPIPE is no signal
	run bash -c 'head -c 1M /dev/zero | "$1" -- sh -c "exec <&-; echo done"' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$output" = "done" ]
}

@test "a device on stdin (/dev/zero, /dev/null) is read as it is, not spooled" {
	run bash -c 'TMPDIR=/nonexistent "$1" -- head -c 5 < /dev/zero | od -An -c | tr -d " "' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$output" = '\0\0\0\0\0' ]
	run bash -c '"$1" -- sh -c "[ -c /dev/stdin ] && echo device" < /dev/null' sh "$RETRY"
	[ "$output" = device ]
}

@test "stdin is fed while anyone reads it, also a background reader after the leader exited" {
	run timeout 20 bash -c 'seq 3 | "$1" -- bash -c "cat <&0 & exit 0" | cat' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$output" = "1
2
3" ]
}

@test "-t: an attempt that succeeded in time is not re-run because a background child holds stdout" {
	run --separate-stderr "$RETRY" -t 1 -n 3 -- sh -c 'echo run >> runs; sleep 5 > /dev/null & echo started; exec >&-'
	[ "$status" -eq 0 ]
	[ "$(wc -l < runs)" -eq 1 ]
	run --separate-stderr timeout 20 "$RETRY" -t 1 -n 3 -- sh -c 'echo run >> runs2; sleep 5 & echo started'
	[ "$status" -eq 0 ]
	[ "$(wc -l < runs2)" -eq 1 ]
}

@test "orphans of failed attempts are reaped, not left as zombies" {
	"$RETRY" -n inf -d 20ms -T 3s -- sh -c 'sleep 0.01 & exit 1' 2> /dev/null &
	pid=$!
	sleep 2
	z=$(pgrep -c -P "$pid" -r Z || true)
	wait "$pid" || true
	[ "$z" -le 2 ] || fail "$z zombies"
}

@test "stdin opened read-write (0<>file) stays writable in the attempt" {
	echo old > f
	run "$RETRY" -- sh -c 'echo new >&0' 0<> f
	[ "$status" -eq 0 ]
	[ "$(cat f)" = new ]
}

# --- the command line -----------------------------------------------------

@test "-q: no progress lines; -v: success reported with its time" {
	run --separate-stderr "$RETRY" -q -n 2 -d 1ms -- false
	[ "$status" -eq 1 ]
	[ -z "$stderr" ]
	run --separate-stderr "$RETRY" -v -- true
	[ "$status" -eq 0 ]
	[[ "$stderr" =~ ^retry:\ attempt\ 1/5\ succeeded\ after\ [0-9.]+s$ ]]
}

@test "the command's own flags are its own (options stop at the command)" {
	run "$RETRY" printf '%s-%s' -n -v
	[ "$status" -eq 0 ]
	[ "$output" = "-n--v" ]
}

@test "an attempt that stops reading its stdin: the feed's EPIPE never kills retry (its SIGPIPE is taken, not left pending)" {
	# failed attempts that each read part of it: all five run
	run --separate-stderr bash -c 'head -c 3M /dev/zero | "$1" -d 1ms -- sh -c "head -c 1000000 | wc -c; exit 1"' sh "$RETRY"
	[ "$status" -eq 1 ] || fail "exit $status: $stderr"
	[ "$(grep -c '^retry: attempt [1-5]/5 failed' <<< "$stderr")" -eq 5 ] || fail "$stderr"
	# a success that never reads it: its output is released whole
	head -c 20000000 /dev/urandom > in
	for _ in 1 2 3; do
		run bash -c 'cat in | "$1" -- sh -c "head -c 20000000 /dev/zero" | wc -c' sh "$RETRY"
		[ "$output" = 20000000 ] || fail "released $output bytes"
	done
	for _ in $(seq 10); do
		run bash -c 'yes | "$1" -- echo hi | cat' sh "$RETRY"
		[ "$output" = hi ] || fail "output '$output', status $status"
	done
}

# 15 runs of retry -t 0.5 whose stdin pipe has a second reader, blocked
# in read(2) before the byte that wakes retry's poll comes, so that it
# often takes that byte first; retry is run by "$@" (a prefix, then
# retry's path).
stdin_stolen() {
	# shellcheck disable=SC2016 # python's own
	timeout 120 python3 -c '
import os, subprocess, sys, threading, time
for i in range(15):
    r, w = os.pipe()
    p = subprocess.Popen(sys.argv[1:] + ["-n1", "-t", "0.5", "-k", "0.5",
        "--", "sh", "-c", "cat > /dev/null"], stdin=r,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    threading.Thread(target=os.read, args=(r, 1), daemon=True).start()
    time.sleep(0.1)
    os.write(w, b"x")
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        sys.exit("run %d: retry blocked past its -t" % i)
    os.close(w)
    os.close(r)
' "$@"
}

@test "another reader of the same stdin pipe that takes what poll saw cannot block retry: -t and signals still work" {
	stdin_stolen "$RETRY"
}

@test "... also where retry cannot open a description of its own (another user's pipe): the read is under an alarm" {
	need_root "running retry as nobody on root's pipe"
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$RETRY" -- true ||
	    skip "nobody cannot run $RETRY here"
	stdin_stolen setpriv --reuid=nobody --regid=nogroup --clear-groups "$RETRY"
}

@test "a caller's alarm(2) still ends retry reading stdin under its own timer (as nobody on root's pipe)" {
	need_root "running retry as nobody on root's pipe"
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$RETRY" -- true ||
	    skip "nobody cannot run $RETRY here"
	# shellcheck disable=SC2016 # the inner script's own
	run --separate-stderr timeout 30 bash -c 'for _ in $(seq 100); do echo a; sleep 0.1; done |
	    setpriv --reuid=nobody --regid=nogroup --clear-groups perl -e "alarm 1; exec @ARGV" \
	    "$1" -q -n 1 -- sh -c "cat > /dev/null"; echo "${PIPESTATUS[1]}"' sh "$RETRY"
	[ "$output" = 142 ] || fail "$output"
}

@test "stdin larger than the file size limit: 74, the attempt reading it is stopped and not retried" {
	head -c 2000000 /dev/zero > in
	# (a pipe is spooled as it is read; a regular file is given as it is)
	run --separate-stderr bash -c 'ulimit -f 512; cat in | "$1" -n 2 sh -c "echo x >> tries; cat > /dev/null; touch ran"' sh "$RETRY"
	[ "$status" -eq 74 ]
	[[ "$stderr" == *"spool in "*": File too large"* ]]
	[ ! -e ran ]
	[ "$(wc -l < tries)" -eq 1 ]
	# a command that does not read its stdin never meets the limit (what
	# is read ahead of it is a pipe's worth or two, as a bare pipe holds)
	run bash -c 'ulimit -f 512; cat in | "$1" -n 2 touch ran' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ -e ran ]
}

# Producer for the tests below: "first", then (once $1 exists, or after
# 20 s) "seen" into producer.out if it did, then "second".
produce() {
	echo first
	for _ in $(seq 200); do [ -e "$1" ] && break; sleep 0.1; done
	[ -e "$1" ] && echo seen > producer.out
	echo second
}

@test "stdin from a pipe is spooled as the first attempt reads it: it runs beside its producer, as bare; yes | retry -- head -1 ends" {
	# the attempt answers the first line before the producer goes on
	# (spooled to its end first, this took the producer's 20 s)
	produce got | "$RETRY" -- sh -c 'read -r x; echo "$x" > got; read -r y; echo "$y" >> got'
	[ "$(cat producer.out)" = seen ] || fail "the attempt did not get its first line before the producer's end"
	[ "$(cat got)" = "first
second" ]
	# an endless producer: only what the attempt reads is spooled
	run timeout 20 bash -c 'yes | "$1" -- head -1' sh "$RETRY"
	[ "$status" -eq 0 ]
	[ "$output" = y ]
	# a failed attempt that read part of it: the next sees all of it,
	# from the start, also what came after the first attempt ended
	rm got producer.out
	produce got | "$RETRY" -d 1ms -- sh -c 'read -r x; echo "$x" >> got; [ "$RETRY_ATTEMPT" = 2 ] || exit 1; cat >> got'
	[ "$(cat producer.out)" = seen ]
	[ "$(cat got)" = "first
first
second" ]
}

@test "usage errors: 64 with a reason" {
	run -64 --separate-stderr "$RETRY"
	[[ "$stderr" == "retry: missing command"* ]]
	for args in "-d abc" "-d -1" "-M 1x" "-t ''" "-k inf" "-f 0" "-f -2" "-f abc" "-f nan" "-T 1y" "--bogus" "-x"; do
		eval "run $RETRY $args -- true"
		[ "$status" -eq 64 ] || fail "'$args' gave $status"
	done
}

@test "--help and --version" {
	run --separate-stderr "$RETRY" --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: retry "* ]]
	run "$RETRY" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^retry\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}
