#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The build's own promises: install layout, usage text matching the manual.

load helpers

@test "make install puts binaries and manual pages under DESTDIR/PREFIX" {
	run make -s -C "$BATS_TEST_DIRNAME/.." install DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/usr
	assert_success
	[ -x "$BATS_TEST_TMPDIR/root/usr/bin/atomicwrite" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/man/man1/atomicwrite.1" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/man/man7/crashsafe.7" ]
}

@test "every tool's usage synopsis matches its manual page" {
	for tool in "$CS_BIN"/*; do
		name=${tool##*/}
		man="$BATS_TEST_DIRNAME/../man/$name.1"
		[ -f "$man" ] || fail "no manual page for $name"
		want=$(mandoc -Tascii -O width=200 "$man" | sed 's/.\x08//g' |
			awk '/^SYNOPSIS/ { on = 1; next } /^[A-Z]/ { on = 0 } on' |
			tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
		got=$("$tool" --help | awk '/^usage:/ { on = 1 } on && /^$/ { exit } on && !/^[A-Z]/' |
			sed 's/^usage: //' | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
		[ "$got" = "$want" ] || fail "$name: usage '$got' but manual '$want'"
	done
}
