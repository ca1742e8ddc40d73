# SPDX-License-Identifier: ISC
# A real etcd cluster for the bats suites: three members of Debian's
# etcd-server on 127.0.0.1, free ports, data in the file's temp dir,
# stopped by pid. Loaded by tests/etcd.bats.
# shellcheck shell=bash

# etcd_cluster_start [N]: N members (3). Sets and exports ETCD_DIR,
# ETCD_EPS ("127.0.0.1:P1,127.0.0.1:P2,...") and ETCD_EP1..N; the pids are
# in $ETCD_DIR/pidI. Skips where etcd cannot run.
# Outside bats (bench/bench), set ETCD_DIR first; a skip there returns 1.
etcd_cluster_start() {
	local n=${1:-3} i port cluster='' ports=()
	command -v etcd > /dev/null || { skip "etcd-server is not installed (scripts/install-deps)"; return 1; }
	command -v etcdctl > /dev/null || { skip "etcd-client is not installed (scripts/install-deps)"; return 1; }
	ETCD_DIR=${ETCD_DIR:-$BATS_FILE_TMPDIR/etcd}
	export ETCD_DIR ETCD_N=$n
	for _ in $(seq 10); do
		rm -rf "$ETCD_DIR"
		mkdir -p "$ETCD_DIR"
		# Below the kernel's ephemeral range (32768-60999), so that no
		# outgoing connection takes a port between the check and etcd.
		ports=()
		while [ "${#ports[@]}" -lt $((2 * n)) ]; do
			port=$((20000 + RANDOM % 12768))
			[ -z "$(ss -Hltn "sport = :$port" 2> /dev/null)" ] || continue
			[[ " ${ports[*]} " == *" $port "* ]] && continue
			ports+=("$port")
		done
		cluster=
		for i in $(seq "$n"); do
			cluster+="${cluster:+,}m$i=http://127.0.0.1:${ports[2 * i - 1]}"
		done
		ETCD_EPS=
		for i in $(seq "$n"); do
			_etcd_member_script "$i" "${ports[2 * i - 2]}" "${ports[2 * i - 1]}" "$cluster"
			ETCD_EPS+="${ETCD_EPS:+,}127.0.0.1:${ports[2 * i - 2]}"
			export "ETCD_EP$i=127.0.0.1:${ports[2 * i - 2]}"
		done
		export ETCD_EPS
		for i in $(seq "$n"); do etcd_member_start "$i"; done
		if etcd_await_healthy; then
			return 0
		fi
		grep -qi 'address already in use' "$ETCD_DIR"/log* 2> /dev/null || break
		etcd_cluster_stop	# lost a race for a port: others
	done
	echo "# etcd cluster does not come up: $(tail -n 3 "$ETCD_DIR"/log* 2> /dev/null)" >&"${ETCD_NOTE_FD:-3}"
	etcd_cluster_stop
	return 1
}

# The script that starts member I (so that a test can restart it).
_etcd_member_script() {
	local i=$1 client=$2 peer=$3 cluster=$4
	cat > "$ETCD_DIR/m$i.sh" <<- EOF
		#!/bin/sh
		exec etcd --name m$i --data-dir '$ETCD_DIR/data$i' \\
		    --listen-client-urls http://127.0.0.1:$client \\
		    --advertise-client-urls http://127.0.0.1:$client \\
		    --listen-peer-urls http://127.0.0.1:$peer \\
		    --initial-advertise-peer-urls http://127.0.0.1:$peer \\
		    --initial-cluster '$cluster' --initial-cluster-state new \\
		    --initial-cluster-token 'crashsafe-$$' \\
		    --logger zap --log-level warn
	EOF
	chmod +x "$ETCD_DIR/m$i.sh"
}

etcd_member_start() {	# I
	"$ETCD_DIR/m$1.sh" >> "$ETCD_DIR/log$1" 2>&1 < /dev/null 3>&- &
	echo $! > "$ETCD_DIR/pid$1"
}

etcd_member_pid() {	# I
	cat "$ETCD_DIR/pid$1"
}

# kill -9 member I, and wait for it to be gone.
etcd_member_kill() {
	local pid
	pid=$(etcd_member_pid "$1")
	# either may find it gone (reaped already): not a failure under set -e
	kill -KILL "$pid" 2> /dev/null || :
	kill -CONT "$pid" 2> /dev/null || :
	while kill -0 "$pid" 2> /dev/null; do sleep 0.05; done
}

_etcd_member_alive() {	# I
	local pid
	pid=$(etcd_member_pid "$1")
	[ -n "$pid" ] && [ -d "/proc/$pid" ] &&
		[ "$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$pid/status")" != Z ]
}

etcd_healthy() {
	etcdctl --endpoints="$ETCD_EPS" --command-timeout=2s endpoint health > /dev/null 2>&1
}

etcd_await_healthy() {
	local _
	for _ in $(seq 150); do etcd_healthy && return 0; sleep 0.1; done
	return 1
}

# Every member running, not stopped, healthy: what a test broke, mended.
etcd_cluster_ensure() {
	local i
	[ -n "${ETCD_DIR:-}" ] && [ -f "$ETCD_DIR/m1.sh" ] || return 1
	for i in $(seq "$ETCD_N"); do
		kill -CONT "$(etcd_member_pid "$i")" 2> /dev/null
		_etcd_member_alive "$i" || etcd_member_start "$i"
	done
	etcd_await_healthy
}

# Stop every member by its pid (ours alone), and wait for them.
etcd_cluster_stop() {
	local i pid
	[ -n "${ETCD_DIR:-}" ] || return 0
	for i in $(seq "${ETCD_N:-3}"); do
		pid=$(cat "$ETCD_DIR/pid$i" 2> /dev/null) || continue
		kill -KILL "$pid" 2> /dev/null || :
		kill -CONT "$pid" 2> /dev/null || :
	done
	for i in $(seq "${ETCD_N:-3}"); do
		pid=$(cat "$ETCD_DIR/pid$i" 2> /dev/null) || continue
		while kill -0 "$pid" 2> /dev/null; do sleep 0.05; done
		rm -f "$ETCD_DIR/pid$i"
	done
}

# Keys under NAME/ (the lock's queue), one per line.
etcd_keys() {	# NAME
	etcdctl --endpoints="$ETCD_EPS" get --prefix --keys-only "$1/" | sed '/^$/d'
}

# Milliseconds since the epoch.
now_ms() {
	date +%s%3N
}

# etcd_proxy PORT TARGET_PORT [lose-txn-replies]: a TCP proxy on
# 127.0.0.1:PORT to a member, in the background (its pid in $PROXY_PID):
# killing it cuts every connection through it while the member lives on.
# With lose-txn-replies, a connection that has carried a /v3/kv/txn
# request passes no more replies (the request reached the member).
etcd_proxy() {
	python3 -c '
import socket, sys, threading
lose = len(sys.argv) > 3
def pipe(a, b, up, state):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            if up and lose and b"/v3/kv/txn" in d:
                state["txn"] = True
            if not up and state["txn"]:
                continue
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(64)
while True:
    c, _ = l.accept()
    u = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    state = {"txn": False}
    for x, y, up in ((c, u, True), (u, c, False)):
        threading.Thread(target=pipe, args=(x, y, up, state), daemon=True).start()
' "$@" 3>&- &
	export PROXY_PID=$!
}
