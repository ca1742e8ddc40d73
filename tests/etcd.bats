#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# withlock on etcd: SPEC section 8, against a real three-member cluster of
# Debian's etcd-server on 127.0.0.1 (tests/etcd.bash).
# shellcheck disable=SC2016,SC2154,SC2153 # sh -c scripts are single-quoted on purpose; run sets stderr_lines; etcd.bash exports ETCD_EPn

load helpers
load etcd

setup_file() {
	etcd_cluster_start 3
}

teardown_file() {
	etcd_cluster_stop
}

setup() {
	common_setup
	[ -n "${ETCD_EPS:-}" ] || skip "no etcd cluster"
	etcd_cluster_ensure || fail "the cluster is not healthy: $(tail -n 5 "$ETCD_DIR"/log*)"
	E="etcd://$ETCD_EPS"
	# a lock name of this test's own
	L="t$BATS_SUITE_TEST_NUMBER-$RANDOM"
}

teardown() {
	kill_noted
}

etcd_healthy_at() {	# ENDPOINT
	etcdctl --endpoints="$1" endpoint health > /dev/null 2>&1
}

ss_listening() {	# PORT
	[ -n "$(ss -Hltn "sport = :$1" 2> /dev/null)" ]
}

keys_are() {	# NAME N: N keys in NAME's queue (for await)
	[ "$(etcd_keys "$1" | wc -l)" -eq "$2" ]
}

# Wait until the lock NAME has a holder (a key under NAME/).
await_held() {
	await keys_are "$1" 1 || fail "$1 never held"
}

# --- exclusion and tokens -------------------------------------------------

@test "8 processes x 25 increments through one etcd lock: exact, and every holder's token higher than the last" {
	echo 0 > counter
	for p in $(seq 8); do
		bg sh -c 'for i in $(seq 25); do
			"$1" -w 60 "$2" -- sh -c "n=\$(cat counter); echo \$CRASHSAFE_LOCK_TOKEN >> tokens; echo \$((n + 1)) > counter" || echo fail >> failures
		done' sh "$WITHLOCK" "$E/$L"
	done
	while read -r p; do wait "$p"; done < pids
	[ ! -e failures ] || fail "$(wc -l < failures) calls failed"
	[ "$(cat counter)" = 200 ]
	[ "$(wc -l < tokens)" = 200 ]
	sort -n -c -u tokens || fail "tokens not strictly increasing in lock order"
	[ -z "$(etcd_keys "$L")" ]
}

@test "CRASHSAFE_LOCK_TOKEN is the lock key's create_revision; CRASHSAFE_LOCK the URL; the key holds who we are" {
	run "$WITHLOCK" "$E/$L" -- sh -c 'echo "$CRASHSAFE_LOCK_TOKEN $CRASHSAFE_LOCK"; etcdctl --endpoints="$ETCD_EPS" get --prefix "$0/" -w json' "$L"
	[ "$status" -eq 0 ]
	read -r tok lock <<< "${lines[0]}"
	[ "$lock" = "$E/$L" ]
	json=${lines[1]}
	[ "$(jq -r '.kvs[0].create_revision' <<< "$json")" = "$tok" ]
	jq -r '.kvs[0].value' <<< "$json" | base64 -d > meta
	grep -qx "pid=[0-9]*" meta
	run ! grep -q "^gen=" meta	# the token is the key's own revision
	grep -qx "host=$(hostname)" meta
	grep -q '^cmd=sh -c echo' meta
	# unlocked and revoked: nothing left under the name
	[ -z "$(etcd_keys "$L")" ]
}

@test "etcdctl lock and withlock exclude each other (etcd's own lock); the busy message names what it can" {
	bg etcdctl --endpoints="$ETCD_EPS" lock "$L" sleep 30
	await_held "$L"
	run -75 "$WITHLOCK" -w 0.5 "$E/$L" true
	[[ "$output" == *"$E/$L: busy for 500ms; held by lease "*"(no owner recorded: etcdctl lock?)"* ]]
	# etcdctl leaves its command running when it is killed: that too
	pkill -P "$BG"
	kill "$BG"
	wait "$BG" || true
	# and the other way round
	bg "$WITHLOCK" "$E/$L" sleep 30
	await_held "$L"
	run timeout 1 etcdctl --endpoints="$ETCD_EPS" lock "$L" echo got-it
	[ "$status" -eq 124 ]
	[[ "$output" != *got-it* ]]
}

# --- busy, statuses, --status ---------------------------------------------

@test "busy: 75 after -w with the holder named (pid, command, host, since); -n at once; --conflict-exit; -q" {
	bg "$WITHLOCK" "$E/$L" -- sleep 30
	await_held "$L"
	t0=$(now_ms)
	run -75 "$WITHLOCK" -w 1 "$E/$L" true
	t1=$(now_ms)
	[ $((t1 - t0)) -ge 1000 ]
	[ $((t1 - t0)) -lt 5000 ]
	[[ "$output" =~ busy\ for\ 1s\;\ held\ by\ pid\ [0-9]+\ \(sleep\ 30\)\ on\ host\ .+\ since\ [0-9:]+$ ]]
	t0=$(now_ms)
	run -75 "$WITHLOCK" -n "$E/$L" true
	[ $(($(now_ms) - t0)) -lt 1000 ]
	run -0 "$WITHLOCK" -n -E 0 "$E/$L" true
	[ -z "$output" ]
	run -9 "$WITHLOCK" -q -n -E 9 "$E/$L" true
	[ -z "$output" ]
	# a waiter that gave up left no key in the queue
	[ "$(etcd_keys "$L" | wc -l)" -eq 1 ]
}

@test "exit statuses 0-255 pass through; 126, 127 and a signal's 128+N too" {
	for s in $(seq 0 255); do
		"$WITHLOCK" "$E/$L" sh -c "exit $s" && r=0 || r=$?
		[ "$r" -eq "$s" ] || fail "exit $s came out as $r"
	done
	run -127 "$WITHLOCK" "$E/$L" /nonexistent/cmd
	touch noexec
	run -126 "$WITHLOCK" "$E/$L" ./noexec
	run -143 "$WITHLOCK" "$E/$L" sh -c 'kill -TERM $$'
	[ -z "$(etcd_keys "$L")" ]
}

@test "--status: 0 held (who, --json), 1 free" {
	run -1 "$WITHLOCK" --status "$E/$L"
	[ "$output" = "$E/$L: free" ]
	bg "$WITHLOCK" "$E/$L" -- sleep 30
	await_held "$L"
	run -0 "$WITHLOCK" --status "$E/$L"
	[[ "$output" =~ ^"$E/$L: held by pid "[0-9]+" (sleep 30) on host " ]]
	run -0 "$WITHLOCK" --status --json "$E/$L"
	[ "$(jq -r '.backend, .held, .holder.cmd' <<< "$output" | tr '\n' ' ')" = "etcd true sleep 30 " ]
}

@test "-v and --json report the etcd lock: backend, token, times, holder when busy" {
	run -0 --separate-stderr "$WITHLOCK" -v "$E/$L" true
	[[ "$stderr" =~ ^"withlock: $E/$L: lock waited "[0-9.]+"s, held "[0-9.]+s$ ]] || fail "$stderr"
	# with --json the record says the times: one object, no text beside it
	run -0 "$WITHLOCK" -v --json "$E/$L" true
	[ "${#lines[@]}" -eq 1 ] || fail "not one record alone: $output"
	[ "$(jq -r '.backend, (.token > 0), .status, (.waited_s >= 0), (.held_s >= 0)' <<< "${lines[0]}" | tr '\n' ' ')" = "etcd true 0 true true " ]
	bg "$WITHLOCK" "$E/$L" -- sleep 30
	await_held "$L"
	run -75 "$WITHLOCK" -n --json "$E/$L" true
	[ "${#lines[@]}" -eq 1 ] || fail "not one record alone: $output"
	[ "$(jq -r '.holder_when_busy.cmd, .token, .status' <<< "${lines[0]}" | tr '\n' ' ')" = "sleep 30 null 75 " ]
}

# --- the lease: lost, stalled, killed -------------------------------------

@test "the holder's member is killed mid-hold: the command is stopped (75) before the next holder starts" {
	# A reaches the cluster through member 1 alone; B through 2 and 3.
	bg "$WITHLOCK" --ttl 3 -k 1 "etcd://$ETCD_EP1/$L" -- sh -c 'while :; do now=$(date +%s%3N); echo "$now" >> a.ts; sleep 0.02; done'
	A=$BG
	await test -s a.ts
	etcd_member_kill 1
	t_kill=$(now_ms)
	bg "$WITHLOCK" -w 30 "etcd://$ETCD_EP2,$ETCD_EP3/$L" -- sh -c 'date +%s%3N > b.start'
	B=$BG
	wait "$A" && ra=0 || ra=$?
	wait "$B" && rb=0 || rb=$?
	[ "$ra" -eq 75 ] || fail "A: $ra"
	[ "$rb" -eq 0 ] || fail "B: $rb"
	a_last=$(tail -n 1 a.ts)
	b_start=$(cat b.start)
	echo "# member killed: A's command stopped $((a_last - t_kill)) ms after, B started $((b_start - a_last)) ms after A's last write (overlap: none)" >&3
	[ "$a_last" -lt "$b_start" ] || fail "overlap: A wrote at $a_last, B started at $b_start"
}

@test "the holder's member is killed mid-hold, other endpoints given: the keepalive fails over, the command finishes" {
	bg "$WITHLOCK" --ttl 3 "etcd://$ETCD_EP1,$ETCD_EP2,$ETCD_EP3/$L" -- sh -c 'touch a.started; sleep 5; date +%s%3N > a.end'
	A=$BG
	await test -e a.started
	etcd_member_kill 1
	bg "$WITHLOCK" -w 30 "etcd://$ETCD_EP2,$ETCD_EP3/$L" -- sh -c 'date +%s%3N > b.start'
	B=$BG
	wait "$A" || fail "A: $?"
	wait "$B" || fail "B: $?"
	[ "$(cat a.end)" -lt "$(cat b.start)" ]
}

@test "SIGSTOP withlock past the TTL: the next holder gets in, the paused one's write is refused by sqlwal --fence, on SIGCONT its command is stopped (75)" {
	"$SQLWAL" db 'CREATE TABLE log(who TEXT, token INTEGER)'
	bg "$WITHLOCK" --ttl 2 -k 1 "$E/$L" -- sh -c '
		echo $$ > a.cmd
		"$0" --fence job="$CRASHSAFE_LOCK_TOKEN" db "INSERT INTO log VALUES (?, ?)" A1 "$CRASHSAFE_LOCK_TOKEN"
		touch a.ready
		while [ ! -e go ]; do sleep 0.02; done
		"$0" --fence job="$CRASHSAFE_LOCK_TOKEN" db "INSERT INTO log VALUES (?, ?)" A2 "$CRASHSAFE_LOCK_TOKEN"
		echo $? > a.rc2
		exec sleep 60' "$SQLWAL"
	A=$BG
	await test -e a.ready
	kill -STOP "$A"
	t_stop=$(now_ms)
	run -0 "$WITHLOCK" -w 30 "$E/$L" -- sh -c '"$0" --fence job="$CRASHSAFE_LOCK_TOKEN" db "INSERT INTO log VALUES (?, ?)" B "$CRASHSAFE_LOCK_TOKEN"' "$SQLWAL"
	echo "# paused holder: B got the lock $(($(now_ms) - t_stop)) ms after A was stopped" >&3
	touch go
	await test -s a.rc2
	[ "$(cat a.rc2)" -eq 75 ]
	kill -CONT "$A"
	t_cont=$(now_ms)
	wait "$A" && ra=0 || ra=$?
	[ "$ra" -eq 75 ]
	echo "# on SIGCONT A's command was stopped and A exited in $(($(now_ms) - t_cont)) ms" >&3
	[ "$("$SQLWAL" db 'SELECT group_concat(who, " ") FROM (SELECT who FROM log ORDER BY rowid)')" = "A1 B" ]
	pid_gone "$(cat a.cmd)"	# its command (exec sleep 60)
}

@test "kill -9 of withlock: its command dies too, and the lock is free again once the lease ends" {
	bg "$WITHLOCK" --ttl 2 "$E/$L" -- sh -c 'echo $$ > cmd.pid; exec sleep 60'
	A=$BG
	await test -s cmd.pid
	kill -KILL "$A"
	await pid_gone "$(cat cmd.pid)" || fail "the command outlived withlock"
	run -0 "$WITHLOCK" -w 10 "$E/$L" true
}

@test "SIGTERM: passed on, withlock dies of it, and the lock is free at once (unlocked and revoked, not left to the TTL)" {
	bg "$WITHLOCK" --ttl 30 "$E/$L" -- sh -c 'echo $$ > cmd.pid; exec sleep 60'
	A=$BG
	await test -s cmd.pid
	kill -TERM "$A"
	wait "$A" && r=0 || r=$?
	[ "$r" -eq 143 ]
	run -0 "$WITHLOCK" -n "$E/$L" true
}

@test "a waiter interrupted while it waits (SIGINT, SIGTERM) revokes its key and dies of the signal: the next waiter is not held up for its TTL" {
	bg "$WITHLOCK" --ttl 30 "$E/$L" -- sh -c 'while [ ! -e finish ]; do sleep 0.02; done'
	A=$BG
	await_held "$L"
	bg env --default-signal=INT "$WITHLOCK" --ttl 30 -w 60 "$E/$L" true
	B=$BG
	await keys_are "$L" 2
	bg "$WITHLOCK" --ttl 30 -w 60 "$E/$L" true
	B2=$BG
	await keys_are "$L" 3
	bg "$WITHLOCK" --ttl 30 -w 60 "$E/$L" -- touch c.ran
	C=$BG
	await keys_are "$L" 4
	kill -INT "$B"
	kill -TERM "$B2"
	wait "$B" && rb=0 || rb=$?
	wait "$B2" && rb2=0 || rb2=$?
	[ "$rb" -eq 130 ] && [ "$rb2" -eq 143 ]
	# their keys left with them, not at their lease's end (30 s)
	keys_are "$L" 2
	touch finish
	t0=$(now_ms)
	wait "$C"
	[ -e c.ran ]
	[ $(($(now_ms) - t0)) -lt 10000 ]
}

@test "a waiter whose connection is cut (the member lives on) keeps its place: its token and metadata are those of the key that holds the lock" {
	bg "$WITHLOCK" "etcd://$ETCD_EP2/$L" -- sh -c 'while [ ! -e finish ]; do sleep 0.02; done'
	await_held "$L"
	port=$((20000 + RANDOM % 12768))
	etcd_proxy "$port" "${ETCD_EP1#*:}"
	echo "$PROXY_PID" >> pids
	await etcd_healthy_at "127.0.0.1:$port"
	bg "$WITHLOCK" -w 60 "etcd://127.0.0.1:$port,$ETCD_EP2/$L" -- sh -c '
		echo "$CRASHSAFE_LOCK_TOKEN" > b.token
		etcdctl --endpoints="$0" get --prefix "$1/" -w json > b.keys' "$ETCD_EPS" "$L"
	B=$BG
	await keys_are "$L" 2
	queued=$(etcdctl --endpoints="$ETCD_EPS" get --prefix --sort-by=CREATE --order=ASCEND "$L/" -w json | jq -r '.kvs[1].create_revision')
	kill -KILL "$PROXY_PID"
	sleep 1.5	# a waiter looks again every second: it has, through EP2
	touch finish
	wait "$B"
	[ "$(cat b.token)" = "$queued" ]
	[ "$(jq -r '.kvs[0].create_revision' b.keys)" = "$queued" ]
	jq -r '.kvs[0].value' b.keys | base64 -d | grep -qx "pid=$B"
}

@test "a waiter whose member freezes (SIGSTOP) is not held up: it gets the lock when the holder is done" {
	# B waits through member 1 first; A holds through member 2.
	bg "$WITHLOCK" "etcd://$ETCD_EP2/$L" -- sh -c 'while [ ! -e finish ]; do sleep 0.02; done; date +%s%3N > a.end'
	await_held "$L"
	bg "$WITHLOCK" -w 60 "etcd://$ETCD_EP1,$ETCD_EP2,$ETCD_EP3/$L" -- sh -c 'date +%s%3N > b.start'
	B=$BG
	await keys_are "$L" 2
	kill -STOP "$(etcd_member_pid 1)"
	touch finish
	wait "$B" || fail "B: $?"
	echo "# waiter's member frozen: B started $(($(cat b.start) - $(cat a.end))) ms after A's end" >&3
	[ "$(cat b.start)" -ge "$(cat a.end)" ]
	[ $(($(cat b.start) - $(cat a.end))) -lt 15000 ]
}

@test "the reply to the lock key's put is lost: the next endpoint finds the key the put made, and the lock is taken" {
	port=$((20000 + RANDOM % 12768))
	etcd_proxy "$port" "${ETCD_EP1#*:}" lose-txn-replies
	echo "$PROXY_PID" >> pids
	await etcd_healthy_at "127.0.0.1:$port"
	run -0 "$WITHLOCK" -w 30 "etcd://127.0.0.1:$port,$ETCD_EP2/$L" -- sh -c 'echo "$CRASHSAFE_LOCK_TOKEN"; etcdctl --endpoints="$0" get --prefix "$1/" -w json' "$ETCD_EPS" "$L"
	[ "$(jq -r '.kvs | length' <<< "${lines[1]}")" = 1 ]
	[ "$(jq -r '.kvs[0].create_revision' <<< "${lines[1]}")" = "${lines[0]}" ]
	[ -z "$(etcd_keys "$L")" ]
}

@test "a holder's release during a leader election: retried until done, the next holder is not held up for the TTL" {
	leader=
	for i in 1 2 3; do
		ep=ETCD_EP$i
		if etcdctl --endpoints="${!ep}" endpoint status -w json | jq -e '.[0].Status.leader == .[0].Status.header.member_id' > /dev/null; then
			leader=$i
		fi
	done
	[ -n "$leader" ] || fail "no leader found"
	lep=ETCD_EP$leader
	bg "$WITHLOCK" --ttl 30 "etcd://${!lep},$ETCD_EPS/$L" -- sh -c 'while [ ! -e finish ]; do sleep 0.02; done; date +%s%3N > a.end'
	A=$BG
	await_held "$L"
	bg "$WITHLOCK" -w 60 "$E/$L" -- sh -c 'date +%s%3N > b.start'
	B=$BG
	await keys_are "$L" 2
	kill -STOP "$(etcd_member_pid "$leader")"
	touch finish
	wait "$A" || fail "A: $?"
	wait "$B" || fail "B: $?"
	kill -CONT "$(etcd_member_pid "$leader")"
	gap=$(($(cat b.start) - $(cat a.end)))
	echo "# leader frozen at the holder's release: the next holder started $gap ms after" >&3
	[ "$gap" -lt 20000 ]	# the lease had 30 s
}

@test "an endpoint that is not etcd (HTTP 200 with no etcd header) is passed over" {
	port=$((20000 + RANDOM % 12768))
	python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(9)
while True:
    c, _ = s.accept(); c.recv(4096)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"); c.close()' "$port" 3>&- &
	echo $! >> pids
	await ss_listening "$port"
	run -0 "$WITHLOCK" "etcd://127.0.0.1:$port,$ETCD_EP2/$L" -- echo ran
	[ "$output" = ran ]
	run -69 "$WITHLOCK" "etcd://127.0.0.1:$port/$L" true
	[[ "$output" == *"not an etcd v3 gateway"* ]]
	bg "$WITHLOCK" "$E/$L" -- sleep 30
	await_held "$L"
	run -0 "$WITHLOCK" --status "etcd://127.0.0.1:$port,$ETCD_EP2/$L"
}

# --- unreachable ----------------------------------------------------------

@test "no endpoint answers: 69 naming the endpoints' failure, fast when refused" {
	port=$((20000 + RANDOM % 12768))
	run -69 "$WITHLOCK" "etcd://127.0.0.1:$port/$L" true
	[[ "$output" == *"etcd://127.0.0.1:$port/$L: no etcd endpoint answers (http://127.0.0.1:$port: "* ]]
	run -69 "$WITHLOCK" --status "etcd://127.0.0.1:$port/$L"
}

@test "all members stopped (SIGSTOP: connections hang): 69 within the grant's time limit" {
	for i in 1 2 3; do kill -STOP "$(etcd_member_pid "$i")"; done
	t0=$(now_ms)
	run -69 "$WITHLOCK" "$E/$L" true
	for i in 1 2 3; do kill -CONT "$(etcd_member_pid "$i")"; done
	[ $(($(now_ms) - t0)) -lt 15000 ]
	[[ "$output" == *"no etcd endpoint answers"* ]]
}

@test "a waiter whose whole cluster freezes gives up at its -w, and tries to revoke its lease for a second more, not for the rest of the TTL" {
	bg "$WITHLOCK" "$E/$L" -- sleep 30
	await_held "$L"
	t0=$(now_ms)
	rc=0
	"$WITHLOCK" -w 3 "$E/$L" -- true 2> err &
	B=$!
	await keys_are "$L" 2
	for i in 1 2 3; do kill -STOP "$(etcd_member_pid "$i")"; done
	wait "$B" || rc=$?
	took=$(($(now_ms) - t0))
	for i in 1 2 3; do kill -CONT "$(etcd_member_pid "$i")"; done
	echo "# -w 3, the cluster frozen while waiting: exit $rc after $took ms" >&3
	[ "$rc" -eq 69 ] || [ "$rc" -eq 75 ] || fail "exit $rc: $(cat err)"
	# 3 s of -w, 1 s of revoke, and slack for a loaded machine (the
	# TTL, 10 s, is what it waited before)
	[ "$took" -lt 7000 ] || fail "took $took ms: $(cat err)"
	grep -q "not revoked" err
	# -w inf, interrupted while the cluster is frozen: it dies of the
	# signal after a second's try to revoke, not after the TTL (a lock
	# of its own, whose holder outlasts the first freeze)
	bg "$WITHLOCK" --ttl 60 "$E/$L-inf" -- sleep 30
	await_held "$L-inf"
	"$WITHLOCK" -w inf "$E/$L-inf" -- true 2> err &
	B=$!
	await keys_are "$L-inf" 2
	for i in 1 2 3; do kill -STOP "$(etcd_member_pid "$i")"; done
	t0=$(now_ms)
	kill -TERM "$B"
	rc=0
	wait "$B" || rc=$?
	took=$(($(now_ms) - t0))
	for i in 1 2 3; do kill -CONT "$(etcd_member_pid "$i")"; done
	echo "# -w inf, SIGTERM while the cluster is frozen: exit $rc after $took ms" >&3
	[ "$rc" -eq 143 ] || fail "exit $rc: $(cat err)"
	[ "$took" -lt 4000 ] || fail "took $took ms: $(cat err)"
}

@test "failover at the start: a dead endpoint first, a live one next" {
	port=$((20000 + RANDOM % 12768))
	run -0 "$WITHLOCK" "etcd://127.0.0.1:$port,$ETCD_EP2/$L" -- echo ran
	[ "$output" = ran ]
}

# --- the command line -----------------------------------------------------

@test "CRASHSAFE_ETCD (then ETCDCTL_ENDPOINTS) gives the endpoints of etcd:///NAME" {
	CRASHSAFE_ETCD=$ETCD_EPS run -0 "$WITHLOCK" "etcd:///$L" -- sh -c 'echo "$CRASHSAFE_LOCK_TOKEN"'
	[ "${lines[0]}" -gt 0 ]
	ETCDCTL_ENDPOINTS="http://$ETCD_EP1" run -0 "$WITHLOCK" "etcd:///$L" true
	run -64 env -u CRASHSAFE_ETCD -u ETCDCTL_ENDPOINTS "$WITHLOCK" "etcd:///$L" true
	[[ "$output" == *"no endpoints"* ]]
}

@test "usage: no name, -s, --ttl below 1s, etcd options on a lock file, a scheme that is not http(s)" {
	run -64 "$WITHLOCK" "etcd://$ETCD_EP1/" true
	[[ "${lines[0]}" == *"no lock name"* ]]
	run -64 "$WITHLOCK" "etcd://127.0.0.1:99999/$L" true
	[[ "${lines[0]}" == *"not HOST:PORT"* ]]
	run -64 "$WITHLOCK" "etcds://$ETCD_EP1/$L" true
	[[ "${lines[0]}" == *"not a lock file nor an etcd:// lock"* ]]
	run -64 "$WITHLOCK" --ttl 1.5s "$E/$L" true
	run -64 "$WITHLOCK" --ttl 9000000001 "$E/$L" true
	run -64 "$WITHLOCK" -s "$E/$L" true
	run -64 "$WITHLOCK" --ttl 0.5s "$E/$L" true
	run -64 "$WITHLOCK" --ttl 5 lockfile true
	[ ! -e lockfile ]
	run -64 "$WITHLOCK" --cacert ca.pem lockfile true
	CRASHSAFE_ETCD="ftp://$ETCD_EP1" run -64 "$WITHLOCK" "etcd:///$L" true
	[[ "$output" == *"only http:// and https://"* ]]
}

@test "a local lock loads neither libcurl nor jansson; etcd:// without withlock-etcd installed: 69" {
	sanitized && skip "the sanitizer build is linked dynamically"
	ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=openat,execve -o trace "$WITHLOCK" lockfile true
	run ! grep -qE 'libcurl|libjansson|withlock-etcd' trace
	mkdir -p alone/bin
	cp "$WITHLOCK" alone/bin/
	run -69 alone/bin/withlock "$E/$L" true
	[[ "$output" == *"etcd locks need "*"/libexec/crashsafe/withlock-etcd"* ]]
}

# --- TLS ------------------------------------------------------------------

@test "TLS with client certificates, as etcdctl takes them (--cacert --cert --key, or ETCDCTL_*)" {
	command -v openssl > /dev/null || skip "openssl not installed"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem 2> /dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2> /dev/null
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem 2> /dev/null
	printf 'extendedKeyUsage=clientAuth\n' > client.ext
	openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout client.key -out client.csr 2> /dev/null
	openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.pem 2> /dev/null
	for i in 1 2; do
		port=$((20000 + RANDOM % 12768))
		[ -z "$(ss -Hltn "sport = :$port" 2> /dev/null)" ] || continue
		[ -z "$(ss -Hltn "sport = :$((port + 1))" 2> /dev/null)" ] || continue
		bg etcd --name tls --data-dir tlsdata --listen-client-urls "https://127.0.0.1:$port" \
		    --advertise-client-urls "https://127.0.0.1:$port" \
		    --listen-peer-urls "http://127.0.0.1:$((port + 1))" \
		    --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
		    --initial-cluster "tls=http://127.0.0.1:$((port + 1))" \
		    --cert-file server.pem --key-file server.key --client-cert-auth \
		    --trusted-ca-file ca.pem --logger zap --log-level warn 2> tls.log 3>&-
		etcd_ok() { etcdctl --endpoints="https://127.0.0.1:$port" --cacert ca.pem --cert client.pem --key client.key endpoint health > /dev/null 2>&1; }
		await etcd_ok && break
	done
	etcd_ok || fail "TLS etcd does not come up: $(tail -n 3 tls.log)"
	run -0 "$WITHLOCK" --cacert ca.pem --cert client.pem --key client.key "etcd://127.0.0.1:$port/$L" -- echo ran
	[ "$output" = ran ]
	ETCDCTL_CACERT=ca.pem ETCDCTL_CERT=client.pem ETCDCTL_KEY=client.key run -0 "$WITHLOCK" "etcd://127.0.0.1:$port/$L" -- echo ran
	[ "$output" = ran ]
	# no client certificate: refused by the server, 69
	run -69 "$WITHLOCK" --cacert ca.pem "etcd://127.0.0.1:$port/$L" true
	# a CA that did not sign the server's: 69
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other -keyout other.key -out other.pem 2> /dev/null
	run -69 "$WITHLOCK" --cacert other.pem --cert client.pem --key client.key "etcd://127.0.0.1:$port/$L" true
	[[ "$output" == *"no etcd endpoint answers"* ]]
	run -0 "$WITHLOCK" --insecure-skip-tls-verify --cacert other.pem --cert client.pem --key client.key "etcd://127.0.0.1:$port/$L" true
}
