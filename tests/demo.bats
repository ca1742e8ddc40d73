#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# make demo: the usual idiom's side shows its loss, ours loses nothing.

load helpers

# --- make demo ------------------------------------------------------------

@test "make demo: '... | cat >> log' tears records on every run while atomicappend keeps all 800 whole; every crashsafe side is exact" {
	command -v jq > /dev/null || skip "jq not installed"
	command -v sqlite3 > /dev/null || skip "sqlite3 not installed"
	run "$BATS_TEST_DIRNAME/../demo/demo" "$CS_BIN"
	[ "$status" -eq 0 ]
	echo "$output" >&3
	plain=$(grep -F '... | cat >> log:' <<< "$output" | grep -oE 'records=[0-9]+ torn=[0-9]+')
	[ -n "$plain" ] || fail "no append scene"
	[ "$plain" != "records=800 torn=0" ] || fail "the plain writer neither tore nor lost a record"
	grep -qE 'atomicappend log \.\.\.: +writers=8 records=800 torn=0 ' <<< "$output"
	grep -qE 'atomicwrite -l f -- jq \.\.\. f: +runs = 20 \(expected 20\)' <<< "$output"
	grep -qE "sqlwal db 'INSERT \.\.\. \(\?, \?\)' w i: +320 of 320 rows stored, 0 calls failed" <<< "$output"
	grep -qE 'withlock -w 60 c\.lock sh -c \.\.\.: +count = 300 \(expected 300\)' <<< "$output"
}
