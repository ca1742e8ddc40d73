# SPDX-License-Identifier: ISC
# shellcheck shell=bash
# shellcheck disable=SC2016 # stub bodies are sh, single-quoted on purpose
# The examples of the manual pages and of the README, run as written in a
# sandbox: absolute paths (/etc, /srv, /var, /run) moved under a temp root,
# the network and services (curl, ssh, rsync, systemctl, haproxy, visudo)
# replaced by stubs that log their arguments, the working directory a git
# repository with an origin, and the files the examples name (app.db,
# state.json, hosts, ...) made beforehand.

# examples_of DOC OUTDIR: each example of DOC as OUTDIR/N, one script each;
# prints how many. A man page's are the literal displays of EXAMPLES
# (mdoc escapes undone); the README's the indented blocks of the tools'
# sections. A crontab line becomes its command.
examples_of() {
	local doc=$1 out=$2
	mkdir -p "$out"
	case $doc in
	*.md)
		awk -v out="$out" '
			/^## / { tool = $0 ~ /^## (atomicwrite|atomicappend|retry|sqlwal|staleclean|withlock) / }
			tool && /^    / { if (!inb) { n++; inb = 1 } sub(/^    /, ""); print > (out "/" n); next }
			{ inb = 0 }
			END { print n + 0 }' "$doc"
		;;
	*)
		awk -v out="$out" '
			/^\.Sh EXAMPLES/ { ex = 1; next }
			/^\.Sh / { ex = 0 }
			ex && /^\.Bd -literal/ { n++; inb = 1; next }
			ex && /^\.Ed/ { inb = 0; next }
			ex && inb {
				gsub(/\\e/, "\\"); gsub(/\\&/, ""); gsub(/\\\(dq/, "\"")
				print > (out "/" n)
			}
			END { print n + 0 }' "$doc"
		;;
	esac
}

# The sandbox: $EX_ROOT (absolute paths), $EX_STUB (stubs), $EX_WORK (the
# working directory, a git repository), $EX_LOG (what the stubs did).
example_sandbox() {
	EX_ROOT=$BATS_TEST_TMPDIR/root
	EX_STUB=$BATS_TEST_TMPDIR/stub
	EX_WORK=$BATS_TEST_TMPDIR/work
	EX_LOG=$BATS_TEST_TMPDIR/stub.log
	export EX_LOG
	local d
	for d in etc/haproxy etc/sudoers.d etc/app srv/www srv/git srv/app/run \
	    var/log var/lock run/lock home; do
		mkdir -p "$EX_ROOT/$d"
	done
	mkdir -p "$EX_STUB" "$EX_WORK"
	: > "$EX_LOG"
	_example_stub curl 'case "$*" in *status*) echo "{\"state\":\"ok\"}" ;; *) echo "<feed/>" ;; esac'
	_example_stub ssh ''
	_example_stub rsync ''
	_example_stub systemctl ''
	_example_stub alert ''
	_example_stub haproxy 'test -s "$4"'
	_example_stub visudo 'test -s "$2"'
	_example_stub render-haproxy-cfg 'printf "global\n  maxconn 100\n"'
	_example_stub sync-mirror 'exit 1'
	_example_stub long-job 'echo step 1; echo step 2 >&2; echo done'
	_example_stub generate-report 'printf "report\nline 2\n"'

	"$SQLWAL" "$EX_ROOT/srv/app.db" 'CREATE TABLE runs(at)'
	(
		cd "$EX_WORK" || exit 1
		printf 'b\na\nb\n' > list
		printf 'deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart app\n' > deploy.sudoers
		printf '{"runs": 0, "n": 0}\n' > state.json
		printf 'web1\nweb2\n' > hosts
		"$SQLWAL" app.db "CREATE TABLE jobs(id INTEGER PRIMARY KEY, host, state);
		    INSERT INTO jobs VALUES (1, 'web1', 'failed'), (2, 'web2', 'ok'),
		        (3, 'web3', 'failed');
		    CREATE TABLE runs(at)"
		"$SQLWAL" users.db 'CREATE TABLE u(name)'
		git init -q --bare "$BATS_TEST_TMPDIR/origin.git"
		git init -q .
		git config user.email ex@example.org
		git config user.name Example
		git add list
		git commit -q -m 'first commit'
		git remote add origin "$BATS_TEST_TMPDIR/origin.git"
	) || return 1
}

# A stub NAME that logs its arguments, then runs BODY (sh).
_example_stub() {
	printf '#!/bin/sh\necho "%s $*" >> "$EX_LOG"\n%s\n' "$1" "$2" > "$EX_STUB/$1"
	chmod +x "$EX_STUB/$1"
}

# The example in FILE as a script for the sandbox: crontab schedules
# dropped, absolute paths under $EX_ROOT, an etcd cluster's endpoints the
# test's own ($EX_ETCD, from tests/etcd.bash).
_example_script() {
	sed -E \
	    -e "s#etcd://[^/ ]*/#etcd://${EX_ETCD:-127.0.0.1:1}/#g" \
	    -e 's/^([-*\/0-9,]+ ){5}//' \
	    -e "s#(^|[ \"'=(])/(etc|srv|var|run)/#\\1$EX_ROOT/\\2/#g" \
	    -e "s#(^|[ \"'=(])/(var|run)/lock( |\$)#\\1$EX_ROOT/\\2/lock\\3#g" \
	    "$1"
}

# run_example FILE: run it (sh -e) in the sandbox, stdin a post-receive
# hook's line. A transcript ("$ command" lines, then what it prints) is
# run command by command and its output compared. Returns its status;
# output in $EX_OUT.
run_example() {
	local script st=0
	script=$(_example_script "$1")
	if [[ "$script" == '$ '* ]]; then
		local cmd expect
		cmd=$(sed -n 's/^\$ //p' <<< "$script")
		expect=$(sed '/^\$ /d' <<< "$script")
		EX_OUT=$(cd "$EX_WORK" && PATH=$EX_STUB:$CS_BIN:$PATH HOME=$EX_ROOT/home \
		    sh -ec "$cmd" 2>&1 < /dev/null) || st=$?
		[ "$st" -eq 0 ] || return "$st"
		[ "$EX_OUT" = "$expect" ] || { EX_OUT="expected: $expect
got: $EX_OUT"; return 1; }
		return 0
	fi
	EX_OUT=$(cd "$EX_WORK" && printf '%s\n' "0000000 1111111 refs/heads/main" |
	    PATH=$EX_STUB:$CS_BIN:$PATH HOME=$EX_ROOT/home timeout 60 sh -ec "$script" 2>&1) || st=$?
	return "$st"
}

# examples_run DOC: every example of DOC runs with exit 0; fails naming
# each that did not, with its output.
examples_run() {
	local n i bad=""
	n=$(examples_of "$1" "$BATS_TEST_TMPDIR/ex")
	[ "$n" -gt 0 ] || { fail "no examples found in $1"; return 1; }
	for i in $(seq "$n"); do
		if ! run_example "$BATS_TEST_TMPDIR/ex/$i"; then
			bad+="--- example $i of $1 failed:
$(cat "$BATS_TEST_TMPDIR/ex/$i")
--- it printed:
$EX_OUT
"
		fi
	done
	[ -z "$bad" ] || { fail "$bad"; return 1; }
	export EXAMPLES_COUNT=$n
}
