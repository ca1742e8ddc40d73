#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Every example of the manual pages and of the README runs as written
# (tests/examples.bash builds the sandbox), and does what it says.

# shellcheck disable=SC2030,SC2031 # each @test runs in its own process: EX_ETCD is its own
load helpers
load examples
load etcd

setup() {
	common_setup
	command -v git > /dev/null || skip "git not installed"
	example_sandbox
}

teardown() {
	etcd_cluster_stop	# the one a test started, by its pid
}

# --- the README -----------------------------------------------------------

@test "README: every tool's example runs" {
	etcd_cluster_start 1 || fail "etcd does not start"
	export EX_ETCD=$ETCD_EPS
	# a crashed git's index.lock, for `staleclean -v -r .git`
	touch -d '2 days ago' "$EX_WORK/.git/index.lock"
	examples_run "$BATS_TEST_DIRNAME/../README.md"
	[ "$EXAMPLES_COUNT" -ge 7 ]
	[ ! -e "$EX_WORK/.git/index.lock" ]
	# the sqlwal loop reruns every failed job (retry -I leaves it stdin)
	grep -qx 'ssh -n web1 rerun 1' "$EX_LOG"
	grep -qx 'ssh -n web3 rerun 3' "$EX_LOG"
	[ "$(jq -c . "$EX_WORK/state.json")" = '{"runs":1,"n":1}' ]
	grep -q 'sync-mirror failed' "$EX_ROOT/var/log/mirror-failures.log"
	grep -qx 'systemctl reload haproxy' "$EX_LOG"
	[ "$(git -C "$BATS_TEST_TMPDIR/origin.git" rev-parse HEAD)" = "$(git -C "$EX_WORK" rev-parse HEAD)" ]
}

# --- the manual pages -----------------------------------------------------

@test "atomicwrite(1): every example runs" {
	examples_run "$BATS_TEST_DIRNAME/../man/atomicwrite.1"
	[ "$(cat "$EX_WORK/list")" = "$(printf 'a\nb')" ]
	[ "$(cat "$EX_ROOT/srv/www/feed.xml")" = "<feed/>" ]
	[ "$(stat -c %a "$EX_ROOT/etc/sudoers.d/deploy")" = 440 ]
	[ "$(jq -c . "$EX_WORK/state.json")" = '{"runs":1,"n":0}' ]
	[ "$(cat "$EX_WORK/.version")" = "$(git -C "$EX_WORK" describe --always --dirty)" ]
}

@test "atomicappend(1): every example runs" {
	examples_run "$BATS_TEST_DIRNAME/../man/atomicappend.1"
	grep -q 'refs/heads/main 0000000 1111111$' "$EX_ROOT/srv/git/audit.log"
	[ "$(grep -c . "$EX_ROOT/var/log/jobs.log")" -eq 3 ]
	[ "$(cat "$EX_WORK/reports.log")" = "$(printf 'report\nline 2')" ]
}

@test "retry(1): every example runs" {
	examples_run "$BATS_TEST_DIRNAME/../man/retry.1"
	# the while-read loop reaches every host
	grep -qx 'ssh -n web1 uptime' "$EX_LOG"
	grep -qx 'ssh -n web2 uptime' "$EX_LOG"
	[ "$("$SQLWAL" "$EX_WORK/app.db" 'SELECT count(*) FROM runs')" = 1 ]
}

@test "sqlwal(1): every example runs" {
	examples_run "$BATS_TEST_DIRNAME/../man/sqlwal.1"
	[ "$("$SQLWAL" "$EX_ROOT/home/commits.db" 'SELECT subject FROM c')" = "first commit" ]
	grep -qx 'ssh -n web1 rerun 1' "$EX_LOG"
	grep -qx 'ssh -n web3 rerun 3' "$EX_LOG"
	[ "$("$SQLWAL" "$EX_WORK/users.db" 'SELECT name FROM u')" = "Robert'); DROP TABLE u;--" ]
}

@test "withlock(1): every example runs (etcd's on a one-member cluster of the test's)" {
	etcd_cluster_start 1 || fail "etcd does not start"
	export EX_ETCD=$ETCD_EPS
	examples_run "$BATS_TEST_DIRNAME/../man/withlock.1"
	[ "$("$SQLWAL" "$EX_WORK/app.db" 'SELECT count(*) FROM crashsafe_fence WHERE name = "nightly"')" = 1 ]
	grep -qx 'rsync -a /srv/ backup:/srv/' "$EX_LOG" || grep -q 'rsync -a .*/srv/ backup:/srv/$' "$EX_LOG"
	[ "$(cat "$EX_ROOT/srv/www/feed.xml")" = "<feed/>" ]
	[ -e "$EX_ROOT/var/lock/backup.lock" ]
}

@test "staleclean(1): every example runs, and the transcript is what it prints" {
	touch -d '2 days ago' "$EX_WORK/.git/index.lock"
	examples_run "$BATS_TEST_DIRNAME/../man/staleclean.1"
	[ ! -e "$EX_WORK/.git/index.lock" ]
}
