#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The library's parsers and backoff maths, tested in C (tests/unit/unit.c).

load helpers

# --- tests/unit/unit.c, one group a test ----------------------------------

@test "unit: durations parse strictly, exactly to the nanosecond" {
	run "$CS_UNIT" durations
	[ "$status" -eq 0 ]
}

@test "unit: modes, factors and exit-code lists parse strictly" {
	run "$CS_UNIT" parsers
	[ "$status" -eq 0 ]
}

@test "unit: reals print as the shortest decimal that reads back as the same double" {
	run "$CS_UNIT" reals
	[ "$status" -eq 0 ]
}

@test "unit: backoff schedule, caps and the four jitter kinds" {
	run "$CS_UNIT" backoff
	[ "$status" -eq 0 ]
}

@test "unit: sleeps never run past the deadline" {
	run "$CS_UNIT" sleep
	[ "$status" -eq 0 ]
}

@test "unit: temp names fit NAME_MAX and keep the recognisable tail" {
	run "$CS_UNIT" tempname
	[ "$status" -eq 0 ]
}

@test "unit: errno values map to the exit codes of SPEC 1.3" {
	run "$CS_UNIT" errno
	[ "$status" -eq 0 ]
}

@test "unit: process facts from /proc" {
	run "$CS_UNIT" proc
	[ "$status" -eq 0 ]
}

@test "unit: open and locked files from fdinfo and /proc/locks, keyed by superblock" {
	run "$CS_UNIT" openfiles
	[ "$status" -eq 0 ]
}

@test "unit: /proc/locks lines, lock metadata and how a holder is named" {
	run "$CS_UNIT" holders
	[ "$status" -eq 0 ]
}

@test "unit: every group in the binary has a test here" {
	run "$CS_UNIT"
	[ "$status" -eq 0 ]
	for g in $output; do
		grep -q "\"\$CS_UNIT\" $g\$" "$BATS_TEST_FILENAME" || fail "group $g not run"
	done
}

@test "unit: a parallel for runs every item once, on the other cores too" {
	run "$CS_UNIT" par
	[ "$status" -eq 0 ]
}
