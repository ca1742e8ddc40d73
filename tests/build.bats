#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The build's own promises: install layout, usage text matching the manual.

load helpers

@test "make install puts binaries, the etcd helper, manual pages and docs under DESTDIR/PREFIX; make uninstall takes them all away" {
	run make -s -C "$BATS_TEST_DIRNAME/.." install DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/usr
	assert_success
	[ -x "$BATS_TEST_TMPDIR/root/usr/bin/atomicwrite" ]
	[ -x "$BATS_TEST_TMPDIR/root/usr/libexec/crashsafe/withlock-etcd" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/man/man1/atomicwrite.1" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/man/man7/crashsafe.7" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/doc/crashsafe/README.md" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/doc/crashsafe/LICENSE" ]
	run make -s -C "$BATS_TEST_DIRNAME/.." uninstall DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/usr
	assert_success
	[ -z "$(find "$BATS_TEST_TMPDIR/root" -type f)" ] || fail "left: $(find "$BATS_TEST_TMPDIR/root" -type f)"
}

@test "every tool's --help ends with 'See TOOL(1).'; every manual page's footer names crashsafe and the version the tools print" {
	for tool in "$CS_BIN"/*; do
		name=${tool##*/}
		[ "$("$tool" --help | tail -n 1)" = "See $name(1)." ] || fail "$name --help"
		version=$("$tool" --version | head -n 1 | awk '{ print $2 }')
		grep -qx ".Os crashsafe $version" "$BATS_TEST_DIRNAME/../man/$name.1" || fail "$name(1): .Os"
	done
	grep -qx ".Os crashsafe $version" "$BATS_TEST_DIRNAME/../man/crashsafe.7"
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
