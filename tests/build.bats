#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The build's own promises: install layout, usage text matching the manual.

load helpers

# --- install, usage and manual pages --------------------------------------

@test "make install puts binaries, the etcd helper, manual pages, completions and docs under DESTDIR/PREFIX; make uninstall takes them all away" {
	run make -s -C "$BATS_TEST_DIRNAME/.." install DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/usr
	[ "$status" -eq 0 ]
	[ -x "$BATS_TEST_TMPDIR/root/usr/bin/atomicwrite" ]
	[ -x "$BATS_TEST_TMPDIR/root/usr/libexec/crashsafe/withlock-etcd" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/man/man1/atomicwrite.1" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/man/man7/crashsafe.7" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/doc/crashsafe/README.md" ]
	[ -f "$BATS_TEST_TMPDIR/root/usr/share/doc/crashsafe/LICENSE" ]
	for t in atomicappend atomicwrite retry sqlwal staleclean withlock; do
		grep -q "^complete -F _$t $t\$" "$BATS_TEST_TMPDIR/root/usr/share/bash-completion/completions/$t"
	done
	run make -s -C "$BATS_TEST_DIRNAME/.." uninstall DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/usr
	[ "$status" -eq 0 ]
	[ -z "$(find "$BATS_TEST_TMPDIR/root" ! -type d)" ] || fail "left: $(find "$BATS_TEST_TMPDIR/root" ! -type d)"
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

# --- the Debian package ---------------------------------------------------

@test "the package's version is the tools' version; debian/control's Build-Depends are install-deps' build group, and its test group's <!nocheck>" {
	top=$BATS_TEST_DIRNAME/..
	version=$("$RETRY" --version | head -n 1 | awk '{ print $2 }')
	[ "$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)" = "$version" ]
	deps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$top/debian/control" | sed '$d; s/^Build-Depends://' |
		tr ',' '\n' | sed 's/^ *//; s/ *$//' | grep -v '^$')
	build=$(grep -v -e '<!nocheck>' -e '^debhelper-compat' <<< "$deps" | sort)
	[ "$build" = "$("$top/scripts/install-deps" --print build | grep -vx -e build-essential -e debhelper -e lintian | sort)" ] ||
		fail "build group and Build-Depends differ: $build"
	# every package the build-time tests need is in the test group
	missing=$(grep '<!nocheck>' <<< "$deps" | awk '{ print $1 }' |
		grep -vxF -f <("$top/scripts/install-deps" --print test)) || :
	[ -z "$missing" ] || fail "not in install-deps' test group: $missing"
}

@test "every manual page renders under man-db's groff at 80 and 200 columns without a warning (mandoc -Tlint does not see groff's table breaks)" {
	command -v man > /dev/null || skip "man-db not installed"
	for page in "$BATS_TEST_DIRNAME"/../man/*.[17]; do
		for width in 80 200; do
			warnings=$(MANWIDTH=$width man --warnings -l "$page" 2>&1 > /dev/null)
			[ -z "$warnings" ] || fail "${page##*/} at $width columns: $warnings"
		done
	done
}

# --- bench plots ------------------------------------------------------------

@test "bench/plot draws every curve bench/bench writes, from data in bench/bench's own columns, and copies the data beside each picture; a missing curve is named, a bad call is 64" {
	command -v gnuplot > /dev/null || skip "gnuplot is not installed (scripts/install-deps)"
	top=$BATS_TEST_DIRNAME/..
	d=$BATS_TEST_TMPDIR/data
	mkdir -p "$d"
	# Each `tsv NAME "what" "columns"` of bench/bench (continuation lines
	# joined) gives a data file: its columns, three rows of numbers.
	sed -e :a -e '/\\$/N; s/\\\n//; ta' "$top/bench/bench" |
	    sed -n 's/^tsv \([a-z-]*\) "\([^"]*\)" *"\([^"]*\)"$/\1|\2|\3/p' > "$BATS_TEST_TMPDIR/curves"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/curves")" -ge 6 ]
	while IFS='|' read -r name what cols; do
		{
			printf '# test machine 9 cores; 2026-01-02\n# %s\n%s\n' "$what" "$cols"
			for x in 1 10 100; do
				printf '%s' "$x"
				for _ in $(seq 2 "$(printf '%s\n' "$cols" | awk -F '\t' '{ print NF }')"); do printf '\t%s' "$((x * 2))"; done
				printf '\n'
			done
		} > "$d/$name.tsv"
	done < "$BATS_TEST_TMPDIR/curves"
	run "$top/bench/plot" "$d" "$BATS_TEST_TMPDIR/out"
	[ "$status" -eq 0 ] || fail "$output"
	# every curve plot draws is one bench writes, and became a PNG
	drawn=$(sed -n 's/^plot \([a-z-]*\) ".*/\1/p' "$top/bench/plot")
	[ "$(printf '%s\n' "$drawn" | wc -l)" -ge 5 ]
	for name in $drawn; do
		grep -q "^$name|" "$BATS_TEST_TMPDIR/curves" || fail "bench/plot draws $name, which bench/bench does not write"
		[ "$(head -c 8 "$BATS_TEST_TMPDIR/out/$name.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
			fail "$name.png is not a PNG"
		cmp "$d/$name.tsv" "$BATS_TEST_TMPDIR/out/$name.tsv"
	done
	rm "$d/withlock-contenders.tsv"
	run "$top/bench/plot" "$d" "$BATS_TEST_TMPDIR/out2"
	[ "$status" -eq 0 ]
	[[ $output == *"withlock-contenders.tsv: no data"* ]] || fail "$output"
	run "$top/bench/plot" "$d"
	[ "$status" -eq 64 ]
}
