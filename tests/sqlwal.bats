#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# sqlwal: SPEC section 6.
# shellcheck disable=SC2016 # SQL with $NAME parameters is single-quoted on purpose

load helpers
load hostile

setup() {
	common_setup
}

teardown() {
	[ -z "${READER:-}" ] || kill "$READER" 2> /dev/null || true
	hostile_teardown
}

# The journal mode written in DB's header: 2 is WAL, 1 the rollback journal.
header_mode() {
	od -An -tu1 -j18 -N1 "$1" | tr -d ' '
}

# Another client (Python's sqlite3) in a read transaction on DB's TABLE,
# until teardown; returns once it holds it.
hold_read_transaction() {
	python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN"); c.execute("SELECT * FROM " + sys.argv[2]).fetchall()
open("ready", "w").close(); time.sleep(30)' "$1" "$2" &
	READER=$!
	for _ in $(seq 100); do [ -e ready ] && break; sleep 0.1; done
	[ -e ready ]
}

# A library of authors and books whose books go with their author.
mklibrary() {
	"$SQLWAL" db "CREATE TABLE author(id INTEGER PRIMARY KEY, name TEXT);
	    CREATE TABLE book(id INTEGER PRIMARY KEY, title TEXT,
	        author_id INTEGER REFERENCES author(id) ON DELETE CASCADE);
	    INSERT INTO author VALUES (1, 'Le Guin'), (2, 'Lem');
	    INSERT INTO book VALUES (1, 'Earthsea', 1), (2, 'Dispossessed', 1),
	        (3, 'Solaris', 2)"
}

mkdb() {
	"$SQLWAL" db 'CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE, v)'
}

# --- transactions and parameters ------------------------------------------

@test "create, insert, select: WAL set silently, rows as TSV" {
	run --separate-stderr "$SQLWAL" db 'CREATE TABLE t(a, b)'
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	run "$SQLWAL" db 'INSERT INTO t VALUES (?, ?)' 1 two
	[ "$output" = "" ]
	run "$SQLWAL" db 'SELECT a, b FROM t'
	[ "$output" = "$(printf '1\ttwo')" ]
	[ "$(sqlite3 db 'PRAGMA journal_mode')" = wal ]
}

@test "synchronous=NORMAL (FULL with --durable), foreign_keys=ON" {
	run "$SQLWAL" db 'PRAGMA synchronous'
	[ "$output" = 1 ]
	run "$SQLWAL" --durable db 'PRAGMA synchronous'
	[ "$output" = 2 ]
	run "$SQLWAL" db 'PRAGMA foreign_keys'
	[ "$output" = 1 ]
	"$SQLWAL" db 'CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(p REFERENCES p(id))'
	run "$SQLWAL" db 'INSERT INTO c VALUES (42)'
	[ "$status" -eq 1 ]
}

@test "positional parameters: ?, ?NNN, values that look like options" {
	run "$SQLWAL" db 'SELECT ?, ?2, ?1' a -5
	[ "$output" = "$(printf 'a\t-5\ta')" ]
	run "$SQLWAL" db 'SELECT ? || ?' --help -x
	[ "$output" = "--help-x" ]
}

@test "named parameters :NAME @NAME \$NAME with types" {
	printf 'bin\000ary\377' > blob
	run "$SQLWAL" -p n=text -p i:int=-42 -p r:real=2.5e3 -p z:null -p b:blob=@blob -p t:text=007 \
	    db 'SELECT :n, typeof(@i), @i, $r, typeof(:z), hex(:b), typeof(:t), :t'
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'text\tinteger\t-42\t2500.0\tnull\t62696E00617279FF\ttext\t007')" ]
}

@test "SQL injection through parameters is stored literally" {
	mkdb
	evil="x'); DROP TABLE t; --"
	"$SQLWAL" db 'INSERT INTO t(name) VALUES (?)' "$evil"
	"$SQLWAL" -p v="1; DELETE FROM t" db 'INSERT INTO t(name) VALUES (:v)'
	run "$SQLWAL" db 'SELECT name FROM t ORDER BY id'
	[ "$output" = "$(printf '%s\n%s' "$evil" "1; DELETE FROM t")" ]
	run "$SQLWAL" db "SELECT count(*) FROM sqlite_master WHERE name = 't'"
	[ "$output" = 1 ]
}

@test "a referenced parameter without a value: 65 before anything runs" {
	mkdb
	run --separate-stderr "$SQLWAL" db 'INSERT INTO t(name) VALUES (?); INSERT INTO t(name) VALUES (?2)' only-one
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"no value for parameter ?2"* ]]
	run --separate-stderr "$SQLWAL" db 'INSERT INTO t(name) VALUES (:missing)'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"-p missing=VALUE"* ]]
	run "$SQLWAL" db 'SELECT count(*) FROM t'
	[ "$output" = 0 ]
}

@test "a value without a placeholder: 65" {
	run "$SQLWAL" db 'SELECT 1' extra
	[ "$status" -eq 65 ]
	run "$SQLWAL" -p unused=1 db 'SELECT 1'
	[ "$status" -eq 65 ]
}

@test "the whole script is one transaction: any error, nothing applied" {
	mkdb
	run "$SQLWAL" db "INSERT INTO t(name) VALUES ('a'); INSERT INTO t(name) VALUES ('b'); SELEC oops"
	[ "$status" -eq 65 ]
	run "$SQLWAL" db "INSERT INTO t(name) VALUES ('a'); INSERT INTO t(name) VALUES ('a')"
	[ "$status" -eq 1 ]
	run "$SQLWAL" db 'SELECT count(*) FROM t'
	[ "$output" = 0 ]
}

@test "a script can create a table and use it at once" {
	run "$SQLWAL" db 'CREATE TABLE n(x); INSERT INTO n VALUES (?); SELECT x FROM n' 7
	[ "$status" -eq 0 ]
	[ "$output" = 7 ]
}

@test "rows of a failed script are never printed" {
	mkdb
	run --separate-stderr "$SQLWAL" db "SELECT 'visible?'; INSERT INTO t(name) VALUES (NULL), ('x'), ('x')"
	[ "$status" -eq 1 ]
	[ "$output" = "" ]
}

@test "the same exit status from an argument, -f FILE and stdin" {
	mkdb
	"$SQLWAL" db "INSERT INTO t(name) VALUES ('dup')"
	echo "INSERT INTO t(name) VALUES ('dup')" > dup.sql
	echo "SELEC 1" > bad.sql
	run "$SQLWAL" db "$(cat dup.sql)"
	[ "$status" -eq 1 ]
	run "$SQLWAL" -f dup.sql db
	[ "$status" -eq 1 ]
	run "$SQLWAL" db < dup.sql
	[ "$status" -eq 1 ]
	run "$SQLWAL" -f - db < dup.sql
	[ "$status" -eq 1 ]
	for how in arg file stdin; do
		case $how in
		arg) run "$SQLWAL" db "$(cat bad.sql)" ;;
		file) run "$SQLWAL" -f bad.sql db ;;
		stdin) run "$SQLWAL" db < bad.sql ;;
		esac
		[ "$status" -eq 65 ] || fail "$how gave $status"
	done
	run "$SQLWAL" -f missing.sql db
	[ "$status" -eq 66 ]
}

@test "-f SCRIPT takes positional parameters after DB" {
	mkdb
	echo 'INSERT INTO t(name, v) VALUES (?, ?)' > ins.sql
	"$SQLWAL" -f ins.sql db alpha 1
	run "$SQLWAL" db 'SELECT name, v FROM t'
	[ "$output" = "$(printf 'alpha\t1')" ]
}

# --- output formats -------------------------------------------------------

@test "tsv: tab, newline, CR and backslash escaped; NULL empty or --null" {
	run "$SQLWAL" db "SELECT 'a' || char(9) || 'b' || char(10) || 'c' || char(13) || '\\', NULL, 3"
	# shellcheck disable=SC1003 # a literal backslash at the end
	[ "$output" = "$(printf '%s\t\t3' 'a\tb\nc\r\\')" ]
	run "$SQLWAL" --null NULL db 'SELECT NULL, 1'
	[ "$output" = "$(printf 'NULL\t1')" ]
	run "$SQLWAL" -H db 'SELECT 1 AS "one", 2 AS "t	wo"'
	[ "$output" = "$(printf '%s\t%s\n1\t2' one 't\two')" ]
}

@test "csv: RFC 4180 quoting, CRLF rows, header" {
	run "$SQLWAL" --format csv -H db "SELECT 'a,b' AS x, 'say \"hi\"' AS y, 'line' || char(10) || 'two' AS z, NULL AS n"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'x,y,z,n\r\n"a,b","say ""hi""","line\ntwo",\r')" ]
}

@test "json and jsonl: valid UTF-8 JSON, blobs in base64, types kept" {
	run "$SQLWAL" --format json db "SELECT 1 AS i, 1.5 AS r, 'a\"b' AS s, NULL AS n, x'00ff' AS b, CAST(x'ff41' AS TEXT) AS bad UNION ALL SELECT 2, 0, '', NULL, x'', ''"
	[ "$status" -eq 0 ]
	python3 -c 'import json,sys; rows = json.loads(sys.argv[1]); assert rows[0] == {"i": 1, "r": 1.5, "s": "a\"b", "n": None, "b": "AP8=", "bad": "\u00ffA"}, rows[0]; assert len(rows) == 2' "$output"
	run "$SQLWAL" --format jsonl db "SELECT 1 AS a UNION ALL SELECT 2"
	[ "$output" = "$(printf '{"a":1}\n{"a":2}')" ]
}

@test "table: aligned columns for humans, blobs in hex" {
	run "$SQLWAL" --format table -H db "SELECT 1 AS id, 'long name' AS name UNION ALL SELECT 22, x'0a'"
	[ "$output" = "$(printf 'id  name\n1   long name\n22  0a')" ]
}

# --- options and errors ---------------------------------------------------

@test "-c prints the number of rows changed" {
	mkdb
	run "$SQLWAL" -c db "INSERT INTO t(name) VALUES ('a'), ('b'), ('c')"
	[ "$output" = 3 ]
	run "$SQLWAL" --changes db "UPDATE t SET v = 1 WHERE name <> 'a'"
	[ "$output" = 2 ]
}

@test "-r: read-only, no WAL change, writes refused with 77" {
	sqlite3 plain.db 'CREATE TABLE t(a); INSERT INTO t VALUES (1)'
	run "$SQLWAL" -r plain.db 'SELECT a FROM t'
	[ "$output" = 1 ]
	[ "$(sqlite3 plain.db 'PRAGMA journal_mode')" = delete ]
	run --separate-stderr "$SQLWAL" -r plain.db 'INSERT INTO t VALUES (2)'
	[ "$status" -eq 77 ]
	[[ "$stderr" == *readonly* ]]
}

@test "--no-create: a missing DB is 66, nothing created" {
	run --separate-stderr "$SQLWAL" --no-create none.db 'SELECT 1'
	[ "$status" -eq 66 ]
	[ "$stderr" = "sqlwal: none.db: No such file or directory" ]
	[ ! -e none.db ]
}

@test "a missing directory is 73; permission denied is 77" {
	run "$SQLWAL" no/such/dir.db 'SELECT 1'
	[ "$status" -eq 73 ]
	need_root "run as another user"
	mkdb
	chmod 644 db
	run setpriv --reuid=65534 --regid=65534 --clear-groups -- "$SQLWAL" db "INSERT INTO t(name) VALUES ('x')"
	[ "$status" -eq 77 ]
}

@test "--checkpoint TRUNCATE empties the WAL" {
	mkdb
	# a connection kept open, so that closing ours does not checkpoint
	rm -f go opened
	printf '%s\n' 'SELECT count(*) FROM t;' '.shell touch opened' \
	    ".shell $GO_WAIT" | sqlite3 db > /dev/null 3>&- &
	reader=$!
	await test -e opened
	"$SQLWAL" db "INSERT INTO t(name) SELECT value FROM json_each('[1,2,3,4,5,6,7,8,9]')"
	[ "$(stat -c %s db-wal)" -gt 0 ]
	run "$SQLWAL" --checkpoint TRUNCATE db
	[ "$status" -eq 0 ]
	[ "$(stat -c %s db-wal)" -eq 0 ]
	run "$SQLWAL" --checkpoint passive -v db
	[[ "$output" == *"checkpointed"* ]]
	run "$SQLWAL" --checkpoint SOMETIMES db
	[ "$status" -eq 64 ]
	touch go
	wait "$reader"
}

@test "--check: ok is 0; a corrupt database is 74; not a database is 74" {
	mkdb
	"$SQLWAL" db "INSERT INTO t(name) SELECT hex(randomblob(200)) FROM json_each('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30]')"
	"$SQLWAL" --checkpoint TRUNCATE db
	run "$SQLWAL" --check db
	[ "$status" -eq 0 ]
	# scribble over the header of the table's root page (page 2)
	printf 'garbagegarbagegarbage%.0s' $(seq 100) | dd of=db bs=1 seek=4096 conv=notrunc status=none
	run "$SQLWAL" --check db
	[ "$status" -eq 74 ]
	head -c 4096 /dev/urandom > notdb
	run --separate-stderr "$SQLWAL" notdb 'SELECT 1'
	[ "$status" -eq 74 ]
	[[ "$stderr" == *"not a database"* ]]
}

@test "PRAGMA busy_timeout in a script is refused (65); reading it is fine" {
	run --separate-stderr "$SQLWAL" db 'PRAGMA busy_timeout = 1'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"busy_timeout refused"* ]]
	run "$SQLWAL" db 'PRAGMA busy_timeout'
	[ "$status" -eq 0 ]
}

@test "VACUUM runs alone, outside a transaction" {
	mkdb
	run "$SQLWAL" db 'VACUUM'
	[ "$status" -eq 0 ]
}

# --- where statements run (SPEC 6) ----------------------------------------

@test "PRAGMA foreign_keys=OFF mid-script is refused (65, nothing runs); leading, the migration keeps every row" {
	mklibrary
	cat > migrate.sql <<-'EOF'
	CREATE TABLE IF NOT EXISTS migrations(id INTEGER PRIMARY KEY, at TEXT);
	INSERT INTO migrations VALUES (1, 'now');
	PRAGMA foreign_keys=OFF;
	CREATE TABLE author_new(id INTEGER PRIMARY KEY, name TEXT NOT NULL, born INTEGER);
	INSERT INTO author_new(id, name) SELECT id, name FROM author;
	DROP TABLE author;
	ALTER TABLE author_new RENAME TO author;
	EOF
	run --separate-stderr "$SQLWAL" -f migrate.sql db
	[ "$status" -eq 65 ]
	[ "$stderr" = "sqlwal: db: PRAGMA foreign_keys must come before the script's other statements: inside the transaction SQLite would ignore it" ]
	[ "$(sqlite3 db "SELECT count(*) FROM sqlite_master WHERE name = 'migrations'")" = 0 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM book')" = 3 ]
	# leading, it runs before BEGIN, where SQLite honours it
	{ echo 'PRAGMA foreign_keys=OFF;'; grep -v PRAGMA migrate.sql; } > migrate2.sql
	run "$SQLWAL" -f migrate2.sql db
	[ "$status" -eq 0 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM book')" = 3 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM migrations')" = 1 ]
	[ "$(sqlite3 db 'PRAGMA table_info(author)' | wc -l)" = 3 ]
	# -- comments and a schema name do not hide it
	run "$SQLWAL" db "SELECT 1; /* x */ PRAGMA main.foreign_keys = 0; SELECT 2"
	[ "$status" -eq 65 ]
	# reading it is a query, which runs anywhere
	run "$SQLWAL" db "SELECT 1; PRAGMA foreign_keys"
	[ "$status" -eq 0 ]
	[ "$output" = "1
1" ]
}

@test "COMMIT, END, ROLLBACK and BEGIN in a script are refused before anything runs; savepoints work" {
	"$SQLWAL" db 'CREATE TABLE n(x UNIQUE)'
	for sql in 'INSERT INTO n VALUES (1); ROLLBACK TRANSACTION "to"; INSERT INTO n VALUES (2)' \ 'INSERT INTO n VALUES (1); COMMIT; INSERT INTO n VALUES (2); INSERT INTO n VALUES (1)' \
	    'INSERT INTO n VALUES (7); ROLLBACK; INSERT INTO n VALUES (8)' \
	    'INSERT INTO n VALUES (7); END TRANSACTION; INSERT INTO n VALUES (8)' \
	    'BEGIN; INSERT INTO n VALUES (9); COMMIT'; do
		run --separate-stderr "$SQLWAL" db "$sql"
		[ "$status" -eq 65 ] || fail "$sql: exit $status"
		[[ "$stderr" == *" refused: the whole script is one transaction already"* ]]
		[ "$(sqlite3 db 'SELECT count(*) FROM n')" = 0 ] || fail "$sql applied a row"
	done
	run "$SQLWAL" db 'SAVEPOINT a; INSERT INTO n VALUES (3); ROLLBACK TO a;
	    INSERT INTO n VALUES (4); ROLLBACK TRANSACTION TO SAVEPOINT a; INSERT INTO n VALUES (5); RELEASE a'
	[ "$status" -eq 0 ]
	[ "$(sqlite3 db 'SELECT x FROM n')" = 5 ]
}

@test "a leading ATTACH runs before BEGIN: archiving rows is one call; ATTACH elsewhere is refused" {
	sqlite3 archive.db 'CREATE TABLE logs(at INTEGER, msg TEXT)'
	"$SQLWAL" db "CREATE TABLE logs(at INTEGER, msg TEXT); INSERT INTO logs VALUES (1, 'a'), (2, 'b'), (9, 'c')"
	run "$SQLWAL" -p cut:int=5 db 'ATTACH ? AS arch; INSERT INTO arch.logs SELECT * FROM logs WHERE at < :cut;
	    DELETE FROM logs WHERE at < :cut' archive.db
	[ "$status" -eq 0 ]
	[ "$(sqlite3 archive.db 'SELECT group_concat(msg) FROM logs')" = a,b ]
	[ "$(sqlite3 db 'SELECT group_concat(msg) FROM logs')" = c ]
	# a failure leaves both as they were
	run "$SQLWAL" db 'ATTACH ? AS arch; INSERT INTO arch.logs SELECT * FROM logs; DELETE FROM logs; SELECT nosuch FROM logs' archive.db
	[ "$status" -eq 65 ]
	[ "$(sqlite3 archive.db 'SELECT count(*) FROM logs')" = 2 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM logs')" = 1 ]
	run --separate-stderr "$SQLWAL" db 'DELETE FROM logs; ATTACH ? AS arch; SELECT 1' archive.db
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"ATTACH must come before the script's other statements: SQLite cannot run it inside a transaction"* ]]
	[ "$(sqlite3 db 'SELECT count(*) FROM logs')" = 1 ]
}

@test "VACUUM after a comment runs alone; VACUUM among other statements is refused (65)" {
	mkdb
	run "$SQLWAL" db "$(printf -- '-- nightly\nVACUUM;\n')"
	[ "$status" -eq 0 ]
	run "$SQLWAL" db '/* x */ VACUUM'
	[ "$status" -eq 0 ]
	printf -- '-- nightly\nVACUUM;\n' > nightly.sql
	run "$SQLWAL" -f nightly.sql db
	[ "$status" -eq 0 ]
	run --separate-stderr "$SQLWAL" db "INSERT INTO t(name) VALUES ('x'); VACUUM"
	[ "$status" -eq 65 ]
	[ "$stderr" = "sqlwal: db: VACUUM cannot run in a transaction: give it as the only statement" ]
	[ "$(sqlite3 db 'SELECT count(*) FROM t')" = 0 ]
}

@test "a PRAGMA later in the script does not change how earlier statements run (nothing is prepared ahead)" {
	sqlite3 db 'CREATE TABLE t(x CHECK (x > 0))'
	run "$SQLWAL" db 'INSERT INTO t VALUES (-1); PRAGMA ignore_check_constraints=ON'
	[ "$status" -eq 1 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM t')" = 0 ]
	run "$SQLWAL" db 'CREATE TABLE q(x); INSERT INTO q VALUES (1); PRAGMA query_only=ON; SELECT * FROM q'
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
	run "$SQLWAL" db "SELECT 'a' LIKE 'A'; PRAGMA case_sensitive_like=ON; SELECT 'a' LIKE 'A'"
	[ "$output" = "1
0" ]
	# nor does EXPLAIN of one
	sqlite3 db 'CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(p REFERENCES p(id)); INSERT INTO p VALUES (1); INSERT INTO c VALUES (1)'
	run "$SQLWAL" db 'EXPLAIN PRAGMA foreign_keys=OFF; DELETE FROM p'
	[ "$status" -eq 1 ]
}

@test "trailing setup statements that change nothing are dropped, lasting ones refused; connection PRAGMAs may lead (SQLite's and Django's table rebuilds)" {
	mklibrary
	sqlite3 archive.db 'CREATE TABLE logs(x)'
	cat > rebuild.sql <<-'EOF'
	PRAGMA legacy_alter_table=ON;
	PRAGMA foreign_keys=OFF;
	CREATE TABLE author_new(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
	INSERT INTO author_new SELECT id, name FROM author;
	DROP TABLE author;
	ALTER TABLE author_new RENAME TO author;
	PRAGMA foreign_key_check;
	PRAGMA foreign_keys=ON;
	EOF
	run "$SQLWAL" -f rebuild.sql db
	[ "$status" -eq 0 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM book')" = 3 ]
	run "$SQLWAL" db 'ATTACH ? AS arch; INSERT INTO arch.logs VALUES (1); DETACH arch' archive.db
	[ "$status" -eq 0 ]
	[ "$(sqlite3 archive.db 'SELECT count(*) FROM logs')" = 1 ]
	# after the script the connection ends: a trailing DETACH changes
	# nothing; a trailing journal_mode would, outside the transaction
	run "$SQLWAL" db 'INSERT INTO author VALUES (9, "x"); DETACH nosuch'
	[ "$status" -eq 0 ]
	run --separate-stderr "$SQLWAL" db 'INSERT INTO author VALUES (10, "y"); PRAGMA journal_mode=DELETE'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"PRAGMA journal_mode must come before the script's other statements"* ]]
	[ "$(sqlite3 db 'SELECT count(*) FROM author WHERE id = 10')" = 0 ]
	# --no-wal and a WAL journal_mode contradict each other
	run "$SQLWAL" --no-wal db 'PRAGMA journal_mode=WAL; SELECT 1'
	[ "$status" -eq 65 ]
}

@test "scripts as files: a UTF-8 BOM is skipped, a NUL byte is refused (65, nothing runs)" {
	sqlite3 archive.db 'CREATE TABLE t(x)'
	printf '\xef\xbb\xbfATTACH %s AS a; INSERT INTO a.t VALUES (1);\n' "'archive.db'" > bom.sql
	run "$SQLWAL" -f bom.sql db
	[ "$status" -eq 0 ]
	[ "$(sqlite3 archive.db 'SELECT count(*) FROM t')" = 1 ]
	printf '\xef\xbb\xbfVACUUM;\n' | "$SQLWAL" db
	# one in the middle (cat a.sql b.sql) hides nothing either
	mklibrary
	printf 'INSERT INTO author VALUES (3, "x");\n' > a.sql
	printf '\xef\xbb\xbfPRAGMA foreign_keys=OFF; DROP TABLE author;\n' > b.sql
	run bash -c 'cat a.sql b.sql | "$1" db' sh "$SQLWAL"
	[ "$status" -eq 65 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM book')" = 3 ]
	run bash -c 'printf "INSERT INTO author VALUES (4, 1); \xef\xbb\xbfCOMMIT; INSERT INTO author VALUES (5, 1)" | "$1" db' sh "$SQLWAL"
	[ "$status" -eq 65 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM author')" = 2 ]
	printf 'CREATE TABLE n(x); INSERT INTO n VALUES (1);\0INSERT INTO n VALUES (2);' > nul.sql
	run --separate-stderr "$SQLWAL" -f nul.sql db
	[ "$status" -eq 65 ]
	[ "$stderr" = "sqlwal: nul.sql: a NUL byte at byte 45 of the script" ]
	[ "$(sqlite3 db "SELECT count(*) FROM sqlite_master WHERE name = 'n'")" = 0 ]
}

@test "a value without a placeholder is 65 also when the script creates the table it uses" {
	for i in 1 2; do
		run "$SQLWAL" c.db 'CREATE TABLE IF NOT EXISTS c(a, b); INSERT INTO c VALUES (?, ?)' 1 2 3
		[ "$status" -eq 65 ] || fail "call $i: exit $status"
	done
	run "$SQLWAL" c.db 'CREATE TABLE IF NOT EXISTS c(a, b); INSERT INTO c VALUES (:a, ?2)' 1 2
	[ "$status" -eq 65 ]
	# SQLite numbers :a 1, so ?2 is the second value and the first has no place
	run "$SQLWAL" -p a=x c.db 'CREATE TABLE IF NOT EXISTS c(a, b); INSERT INTO c VALUES (:a, ?2)' 1 2
	[ "$status" -eq 65 ]
	run "$SQLWAL" -p a=x -p b:int=2 c.db 'CREATE TABLE IF NOT EXISTS c(a, b); INSERT INTO c VALUES (:a, @b)'
	[ "$status" -eq 0 ]
	[ "$(sqlite3 c.db 'SELECT a, b FROM c')" = "x|2" ]
	# a ? in a string, a name in a comment, a $ inside a name, are no
	# parameters
	run "$SQLWAL" c.db "INSERT INTO c VALUES ('?', ':x') -- :y ?"
	[ "$status" -eq 0 ]
	run "$SQLWAL" c.db 'SELECT 1 AS a$b'
	[ "$output" = 1 ]
	# names do not take the numbers of ? (the first ? is the first value)
	run "$SQLWAL" -p a=x c.db 'SELECT :a, ?, ?' 1 2
	[ "$output" = "$(printf 'x\t1\t2')" ]
	# SQLite would bind ?1 and :a to one slot: refused, not one dropped
	run --separate-stderr "$SQLWAL" -p a=Y c.db 'SELECT :a, ?1' X
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"?1 is also :a to SQLite"* ]]
}

@test "reads that write only TEMP tables, VACUUM INTO and a lone VACUUM leave the journal as it is" {
	sqlite3 db 'CREATE TABLE t(a); INSERT INTO t VALUES (1), (2)'
	run "$SQLWAL" db 'CREATE TEMP TABLE x AS SELECT a * 10 AS b FROM t; SELECT sum(b) FROM x'
	[ "$output" = 30 ]
	[ "$(header_mode db)" = 1 ]
	run "$SQLWAL" db "VACUUM INTO 'copy.db'"
	[ "$status" -eq 0 ]
	[ "$(header_mode db)" = 1 ]
	[ "$(sqlite3 copy.db 'SELECT count(*) FROM t')" = 2 ]
	# page_size takes effect: VACUUM runs in the rollback journal
	run "$SQLWAL" db 'PRAGMA page_size=8192; VACUUM'
	[ "$status" -eq 0 ]
	[ "$(sqlite3 db 'PRAGMA page_size')" = 8192 ]
}

@test ":memory: is a file name too, and an empty DB name is a usage error" {
	run "$SQLWAL" :memory: 'CREATE TABLE t(a); INSERT INTO t VALUES (5)'
	[ "$status" -eq 0 ]
	[ "$(sqlite3 ./:memory: 'SELECT a FROM t')" = 5 ]
	run "$SQLWAL" '' 'SELECT 1'
	[ "$status" -eq 64 ]
	# an ATTACHed in-memory database would lose what is written to it
	run --separate-stderr "$SQLWAL" db "ATTACH ':memory:' AS m; CREATE TABLE m.t(a)"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"ATTACH of an in-memory database (m)"* ]]
}

@test "stdout that fails after COMMIT: 74, saying the transaction was committed" {
	mkdb
	run --separate-stderr bash -c '"$1" db "INSERT INTO t(name) VALUES ('"'a'"') RETURNING id" > /dev/full' sh "$SQLWAL"
	[ "$status" -eq 74 ]
	[[ "$stderr" == *"(the transaction was committed)"* ]]
	[ "$(sqlite3 db 'SELECT count(*) FROM t')" = 1 ]
}

# --- the journal ----------------------------------------------------------

@test "--no-wal on a WAL database switches it back to the rollback journal, or refuses (69)" {
	mkdb
	[ "$(header_mode db)" = 2 ]
	run "$SQLWAL" --no-wal db "INSERT INTO t(name) VALUES ('a')"
	[ "$status" -eq 0 ]
	[ "$(header_mode db)" = 1 ]
	[ "$(sqlite3 db 'PRAGMA journal_mode')" = delete ]
	[ "$(sqlite3 db 'SELECT name FROM t')" = a ]
	# in WAL again, and held open in WAL by another client: refused
	"$SQLWAL" db "INSERT INTO t(name) VALUES ('b')"
	[ "$(header_mode db)" = 2 ]
	hold_read_transaction db t
	run --separate-stderr "$SQLWAL" --no-wal -t 0.3 db "INSERT INTO t(name) VALUES ('c')"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"in WAL mode, and still in use in it"* ]]
	[ "$(sqlite3 db 'SELECT count(*) FROM t')" = 2 ]
	# -r cannot switch it back
	run "$SQLWAL" -r --no-wal db 'SELECT count(*) FROM t'
	[ "$status" -eq 69 ]
	# nor is an ATTACHed one left in WAL, whatever its schema name
	kill "$READER"
	sqlite3 arch.db 'PRAGMA journal_mode=WAL; CREATE TABLE a(x)' > /dev/null
	long=archive_of_every_job_that_ever_ran_here_since_the_beginning
	run "$SQLWAL" --no-wal db "ATTACH 'arch.db' AS $long; INSERT INTO $long.a VALUES (1)"
	[ "$status" -eq 0 ]
	[ "$(header_mode arch.db)" = 1 ]
	[ "$(sqlite3 arch.db 'SELECT count(*) FROM a')" = 1 ]
}

@test "a read never changes the journal: it reads at once beside another reader of a rollback-journal database" {
	sqlite3 db 'CREATE TABLE t(a); INSERT INTO t VALUES (1), (2)'
	[ "$(header_mode db)" = 1 ]
	hold_read_transaction db t
	run "$SQLWAL" -t 1 db 'SELECT count(*) FROM t'
	[ "$status" -eq 0 ]
	[ "$output" = 2 ]
	run "$SQLWAL" -t 1 --check db
	[ "$status" -eq 0 ]
	run "$SQLWAL" -t 1 --format json db "SELECT a FROM t WHERE a > 5"
	[ "$output" = "[]" ]
	[ "$(header_mode db)" = 1 ]
	kill "$READER"
	# a write does switch it, once
	"$SQLWAL" db 'INSERT INTO t VALUES (3)'
	[ "$(header_mode db)" = 2 ]
}

@test "a DB name is a file name, never a URI: file:x.db?mode=memory is a file" {
	run "$SQLWAL" 'file:jobs.db?mode=memory' 'CREATE TABLE t(a); INSERT INTO t VALUES (42)'
	[ "$status" -eq 0 ]
	[ -f 'file:jobs.db?mode=memory' ]
	[ "$("$SQLWAL" 'file:jobs.db?mode=memory' 'SELECT a FROM t')" = 42 ]
	# nor in ATTACH
	run "$SQLWAL" db 'ATTACH ? AS m; CREATE TABLE m.u(a); INSERT INTO m.u VALUES (7)' 'file:other.db?mode=memory'
	[ "$status" -eq 0 ]
	[ "$(sqlite3 'file:./file:other.db?mode=rw' 'SELECT a FROM u' 2> /dev/null || "$SQLWAL" 'file:other.db?mode=memory' 'SELECT a FROM u')" = 7 ]
}

@test "on sshfs, writes are refused (69) unless --unsafe-shared-fs; a read of a rollback-journal database works" {
	mkdir export
	sqlite3 export/db 'CREATE TABLE t(a); INSERT INTO t VALUES (1)'
	sshfs_up "$PWD/export" "$PWD/m1"
	# an ATTACHed database there is checked as main is
	sqlite3 local.db 'CREATE TABLE t(a)'
	run --separate-stderr "$SQLWAL" local.db 'ATTACH ? AS r; INSERT INTO r.t VALUES (5)' m1/db
	[ "$status" -eq 69 ]
	run --separate-stderr "$SQLWAL" --no-wal local.db 'ATTACH ? AS r; INSERT INTO r.t VALUES (5)' m1/db
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"locks do not reach its other clients"* ]]
	[ "$(sqlite3 export/db 'SELECT count(*) FROM t')" = 1 ]
	run --separate-stderr "$SQLWAL" --no-wal m1/db 'INSERT INTO t VALUES (2)'
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"locks do not reach its other clients"* ]]
	run "$SQLWAL" --no-wal m1/new.db 'CREATE TABLE t(a)'
	[ "$status" -eq 69 ]
	[ ! -e export/new.db ]
	run "$SQLWAL" --no-wal m1/db 'SELECT count(*) FROM t'
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
	run "$SQLWAL" -r --no-wal m1/db 'SELECT count(*) FROM t'
	[ "$output" = 1 ]
	run "$SQLWAL" --no-wal --unsafe-shared-fs m1/db 'INSERT INTO t VALUES (2)'
	[ "$status" -eq 0 ]
	[ "$(sqlite3 export/db 'SELECT count(*) FROM t')" = 2 ]
	[ "$(header_mode export/db)" = 1 ]
}

# --- output ---------------------------------------------------------------

@test "REALs print as the shortest decimal that reads back the same, in every format" {
	[ "$("$SQLWAL" db 'SELECT 9.99, 0.1, 2500.0, 1e300, -0.5, 1e-5')" = "$(printf '9.99\t0.1\t2500.0\t1e+300\t-0.5\t1e-05')" ]
	[ "$("$SQLWAL" --format csv db 'SELECT 9.99, 0.1')" = "$(printf '9.99,0.1\r')" ]
	[ "$("$SQLWAL" --format json db 'SELECT 9.99 AS a, 0.1 AS b, 1e999 AS inf')" = '[{"a":9.99,"b":0.1,"inf":null}]' ]
	[ "$("$SQLWAL" db 'SELECT 1e999, -1e999')" = "$(printf 'Inf\t-Inf')" ]
	# each reads back as the same double
	run "$SQLWAL" db 'SELECT 0.1 + 0.2, 1.0 / 3, 123456789.123456789'
	[ "$output" = "$(printf '0.30000000000000004\t0.3333333333333333\t123456789.12345679')" ]
	[ "$("$SQLWAL" db 'SELECT ? = 0.1 + 0.2' "$(cut -f1 <<< "$output")" )" = 0 ]
	[ "$("$SQLWAL" db 'SELECT CAST(? AS REAL) = 0.1 + 0.2' "$(cut -f1 <<< "$output")" )" = 1 ]
}

@test "--format json of no rows is []; a statement without columns prints nothing" {
	mkdb
	run "$SQLWAL" --format json db 'SELECT * FROM t'
	[ "$output" = "[]" ]
	jq -e 'length == 0' <<< "$output"
	run "$SQLWAL" --format json db "INSERT INTO t(name) VALUES ('a')"
	[ "$output" = "" ]
	run "$SQLWAL" --format jsonl db 'SELECT * FROM t WHERE 0'
	[ "$output" = "" ]
}

@test "--format table aligns by display width (Müller, 日本語, combining accents)" {
	run "$SQLWAL" --format table -H db "SELECT 'Müller' AS name, 1 AS n UNION ALL SELECT '日本語', 22
	    UNION ALL SELECT 'Ame' || char(769) || 'lie', 4 UNION ALL SELECT 'abc', 333
	    UNION ALL SELECT '👍🏽 ok', 5"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "name    n" ]
	[ "${lines[1]}" = "Müller  1" ]
	[ "${lines[2]}" = "日本語  22" ]
	[ "${lines[4]}" = "abc     333" ]
	# the last column starts at the same screen column on every line
	for line in "${lines[@]}"; do
		last=${line##* }
		pre=${line%"$last"}
		w=$(printf '%s' "$pre" | python3 -c 'import sys, unicodedata
s = sys.stdin.buffer.read().decode()
print(sum(0 if 0x1f3fb <= ord(c) <= 0x1f3ff else 2 if unicodedata.east_asian_width(c) == "W" else 0 if unicodedata.combining(c) else 1 for c in s))')
		[ "$w" -eq 8 ] || fail "misaligned: '$line' ($w)"
	done
}

@test "a writing script whose rows fill the spool disk: 74 naming the spool, nothing applied, nothing printed" {
	need_root "a small tmpfs"
	run --separate-stderr unshare -m --propagation private sh -c '
		mkdir -p spool && mount -t tmpfs -o size=1m tmpfs spool &&
		TMPDIR=$PWD/spool "$1" db "CREATE TABLE z(a); INSERT INTO z VALUES (1);
		    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 200000)
		    SELECT x, printf(\"%090d\", x) FROM c" > out' sh "$SQLWAL"
	[ "$status" -eq 74 ]
	[ "$stderr" = "sqlwal: spool in $PWD/spool: No space left on device" ]
	[ ! -s out ]
	[ "$(sqlite3 db "SELECT count(*) FROM sqlite_master WHERE name = 'z'")" = 0 ]
}

@test "a read-only export streams: 300 MiB out of a 64 MiB memory cgroup, as sqlite3 manages" {
	need_memcg || return 0
	mkdir spool
	# ASan's shadow and quarantine are not sqlwal's: more room, still far
	# below the 300 MiB that pass through
	lim=$((64 << 20))
	if sanitized; then lim=$((192 << 20)); export ASAN_OPTIONS=quarantine_size_mb=16; fi
	q="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 3000000)
	    SELECT x, printf('%090d', x) FROM c"
	st=0
	in_memcg "$lim" sh -c 'TMPDIR=$3 "$1" db "$2" > out' sh "$SQLWAL" "$q" "$PWD/spool" || st=$?
	[ "$st" -eq 0 ] || fail "exit $st, OOM kills: ${MEMCG_OOM_KILLS:-unknown}"
	[ "$(wc -l < out)" -eq 3000000 ]
	[ "$(tail -n1 out)" = "$(printf '3000000\t%090d' 3000000)" ]
	rm out
	# a writing script's rows wait for COMMIT, in a spool that goes to disk
	in_memcg "$lim" sh -c 'TMPDIR=$3 "$1" db "CREATE TABLE IF NOT EXISTS z(a); $2" > out' sh "$SQLWAL" "$q" "$PWD/spool" || st=$?
	[ "$st" -eq 0 ] || fail "exit $st, OOM kills: ${MEMCG_OOM_KILLS:-unknown}"
	[ "$(wc -l < out)" -eq 3000000 ]
	[ -z "$(ls -A spool)" ]
	# and a table's cells wait in one too
	in_memcg "$lim" sh -c 'TMPDIR=$3 "$1" --format table db "$2" > out' sh "$SQLWAL" "$q LIMIT 600000" "$PWD/spool" || st=$?
	[ "$st" -eq 0 ] || fail "exit $st, OOM kills: ${MEMCG_OOM_KILLS:-unknown}"
	[ "$(wc -l < out)" -eq 600000 ]
}

@test "a writer holding the lock past --timeout: 75, nothing applied" {
	mkdb
	sqlite3_hold db
	run --separate-stderr "$SQLWAL" -t 0.5 db "INSERT INTO t(name) VALUES ('late')"
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"database busy"* ]]
	touch go
	wait "$HELD_BY"
	run "$SQLWAL" db 'SELECT count(*) FROM t'
	[ "$output" = 0 ]
}

@test "a writer holding the lock less than --timeout is waited for" {
	mkdb
	sqlite3_hold db
	"$SQLWAL" -t 10 db "INSERT INTO t(name) VALUES ('patient')" &
	writer=$!
	await busy_waiting "$writer"	# busy: it waits for the lock
	touch go
	wait "$HELD_BY"
	wait "$writer"
	run "$SQLWAL" db 'SELECT name FROM t'
	[ "$output" = patient ]
}

@test "64 concurrent writers x 50 inserts: all succeed, every row present" {
	# Under ASan a run costs 90 ms, not 12 (the leak check at exit):
	# 64 x 50 of them would not fit the test timeout on two cores.
	n=50
	if sanitized; then n=15; fi
	"$SQLWAL" db 'CREATE TABLE r(w INT, i INT, PRIMARY KEY (w, i))'
	pids=()
	for w in $(seq 64); do
		( for i in $(seq "$n"); do "$SQLWAL" -t 60 db 'INSERT INTO r VALUES (?, ?)' "$w" "$i" || echo "fail $w $i"; done ) > "out.$w" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	run cat out.*
	[ "$output" = "" ]
	run "$SQLWAL" db 'SELECT count(*), count(DISTINCT w) FROM r'
	[ "$output" = "$(printf '%d\t64' $((64 * n)))" ]
}

@test "kill -9 of random writers: integrity ok, every acknowledged row present" {
	# Each transaction inserts 400 rows of 2 KB: long enough to be killed in.
	"$SQLWAL" db 'CREATE TABLE r(w INT, i INT, k INT, pad, PRIMARY KEY (w, i, k))'
	ins='WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < 400)
	     INSERT INTO r SELECT ?, ?, k, randomblob(2000) FROM c'
	pids=()
	for w in $(seq 6); do
		( for i in $(seq 25); do
			"$SQLWAL" -t 60 db "$ins" "$w" "$i" && echo "$w $i" >> "ack.$w"
		done; true ) 2>/dev/null &
		pids+=($!)
	done
	killed=0
	for _ in $(seq 40); do
		sleep 0.03
		# only our own writers, the children of our loops: not their
		# helpers (LeakSanitizer's tracer shares their command line,
		# and its parent waits for it forever if it is killed)
		victim=$(pgrep -P "$(IFS=,; echo "${pids[*]}")" -f "^$SQLWAL -t 60 db WITH RECURSIVE" |
		    shuf -n 1 || true)
		[ -n "$victim" ] && kill -9 "$victim" 2>/dev/null && killed=$((killed + 1))
	done
	wait "${pids[@]}"
	echo "# killed $killed writers" >&3
	[ "$killed" -gt 0 ]
	run "$SQLWAL" db 'PRAGMA integrity_check'
	[ "$output" = ok ]
	# no transaction half there; every acknowledged one whole
	run "$SQLWAL" db 'SELECT count(*) FROM (SELECT w, i FROM r GROUP BY w, i HAVING count(*) <> 400)'
	[ "$output" = 0 ]
	cat ack.* | sort > acked
	"$SQLWAL" db 'SELECT DISTINCT w, i FROM r' | tr '\t' ' ' | sort > present
	run comm -23 acked present
	[ "$output" = "" ]
	[ -s acked ]
}

@test "a file size limit is an error (74, db intact), not death by SIGXFSZ" {
	mkdb
	"$SQLWAL" db "INSERT INTO t(name) VALUES ('before')"
	run --separate-stderr bash -c 'ulimit -f 64; "$1" --durable db \
	    "WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < 2000)
	     INSERT INTO t(name, v) SELECT k, zeroblob(400) FROM c"' sh "$SQLWAL"
	[ "$status" -eq 74 ]
	[[ "$stderr" == *"/db: "* || "$stderr" == *"db: "* ]]
	run "$SQLWAL" db 'PRAGMA integrity_check'
	[ "$output" = ok ]
	run "$SQLWAL" db 'SELECT group_concat(name) FROM t'
	[ "$output" = before ]
}

@test "a read-only filesystem is named as such (not SQLite's misleading ENOENT)" {
	need_root "mounts a tmpfs"
	mkdir ro && mount -t tmpfs -o size=1m cs-ro ro || skip "cannot mount tmpfs"
	"$SQLWAL" ro/db 'CREATE TABLE t(a)'
	mount -o remount,ro ro
	run --separate-stderr "$SQLWAL" ro/db "INSERT INTO t VALUES (1)"
	umount ro
	[ "$status" -eq 73 ]
	[[ "$stderr" == *"ro/db: "*"(Read-only file system)" ]]
}

@test "on a network filesystem: 69 unless --no-wal" {
	[ -f "$CS_BIN/../obj/fakenfs.so" ] || skip "fakenfs.so not built"
	if sanitized; then skip "the statfs shim and ASan cannot share LD_PRELOAD"; fi
	run --separate-stderr env LD_PRELOAD="$CS_BIN/../obj/fakenfs.so" "$SQLWAL" db 'SELECT 1'
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"network filesystem (nfs)"* ]]
	[ ! -e db ]
	run env LD_PRELOAD="$CS_BIN/../obj/fakenfs.so" "$SQLWAL" --no-wal db 'CREATE TABLE t(a)'
	[ "$status" -eq 0 ]
	[ "$(sqlite3 db 'PRAGMA journal_mode')" = delete ]
}

@test "usage errors: 64" {
	run -64 "$SQLWAL"
	for args in "--format xml db 'SELECT 1'" "-p novalue db 'SELECT 1'" "-p x:int=1.5 db 'SELECT 1'" \
	    "-p x:real=abc db 'SELECT 1'" "-p x:weird=1 db 'SELECT 1'" "-p x:null=1 db 'SELECT 1'" \
	    "-p 'bad name=1' db 'SELECT 1'" "-p x:blob=nofile db 'SELECT 1'" "-t 1x db 'SELECT 1'" \
	    "--check db 'SELECT 1'" "--bogus db"; do
		eval "run $SQLWAL $args"
		[ "$status" -eq 64 ] || fail "'$args' gave $status"
	done
}

@test "--help and --version" {
	run "$SQLWAL" --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: sqlwal "* ]]
	run "$SQLWAL" --version
	[[ "$output" =~ ^sqlwal\ [0-9.]+\ \(SQLite\ [0-9.]+\)$ ]]
}

# --- --fence --------------------------------------------------------------

# The fence table, one "name|token" a line (sqlite3's own reading of it).
fences() {
	sqlite3 db 'SELECT name, token FROM crashsafe_fence ORDER BY name'
}

mklog() {
	"$SQLWAL" db 'CREATE TABLE log(id INTEGER PRIMARY KEY, tok INTEGER)'
}

@test "--fence: the first fenced write records NAME and TOKEN in crashsafe_fence" {
	mklog
	run --separate-stderr "$SQLWAL" --fence nightly=42 db 'INSERT INTO log(tok) VALUES (?)' 42
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(fences)" = "nightly|42" ]
	[ "$(sqlite3 db 'SELECT tok FROM log')" = 42 ]
	[ "$(sqlite3 db "SELECT typeof(token) FROM crashsafe_fence")" = integer ]
}

@test "--fence: a higher token is accepted and recorded; an equal one is accepted" {
	mklog
	"$SQLWAL" --fence job=7 db 'INSERT INTO log(tok) VALUES (7)'
	run "$SQLWAL" --fence job=1000 db 'INSERT INTO log(tok) VALUES (1000)'
	[ "$status" -eq 0 ]
	[ "$(fences)" = "job|1000" ]
	# one holder writes several times with its token
	run "$SQLWAL" --fence job=1000 db 'INSERT INTO log(tok) VALUES (1000)'
	[ "$status" -eq 0 ]
	[ "$(fences)" = "job|1000" ]
	[ "$(sqlite3 db 'SELECT group_concat(tok) FROM log')" = 7,1000,1000 ]
	# INT64_MAX is a token too
	run "$SQLWAL" --fence job=9223372036854775807 db 'INSERT INTO log(tok) VALUES (1)'
	[ "$status" -eq 0 ]
	[ "$(fences)" = "job|9223372036854775807" ]
}

@test "--fence: a lower token is refused (75): nothing of the script applied, the recorded token kept" {
	mklog
	"$SQLWAL" --fence job=42 db 'INSERT INTO log(tok) VALUES (42)'
	run --separate-stderr "$SQLWAL" --fence job=41 db 'INSERT INTO log(tok) VALUES (41); INSERT INTO log(tok) VALUES (41)'
	[ "$status" -eq 75 ]
	[ "$stderr" = "sqlwal: db: fence job: token 41 is older than 42, already recorded: a newer lock holder has written; nothing applied" ]
	[ "$output" = "" ]
	[ "$(sqlite3 db 'SELECT count(*) FROM log')" = 1 ]
	[ "$(fences)" = "job|42" ]
	# the same call again can never succeed: only a new lock (token) can
	run "$SQLWAL" --fence job=41 db 'INSERT INTO log(tok) VALUES (41)'
	[ "$status" -eq 75 ]
	# 0 is a token, lower than any recorded one
	run "$SQLWAL" --fence job=0 db 'SELECT 1'
	[ "$status" -eq 75 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM log')" = 1 ]
}

@test "--fence: a script that fails (SQL error 65, constraint 1) does not record its token" {
	mklog
	"$SQLWAL" db 'CREATE UNIQUE INDEX one ON log(tok)'
	"$SQLWAL" --fence job=5 db 'INSERT INTO log(tok) VALUES (5)'
	run --separate-stderr "$SQLWAL" --fence job=9 db 'INSERT INTO log(tok) VALUES (9); INSERT INTO nosuch VALUES (1)'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"no such table: nosuch"* ]]
	[ "$(fences)" = "job|5" ]
	run "$SQLWAL" --fence job=9 db 'INSERT INTO log(tok) VALUES (9); INSERT INTO log(tok) VALUES (5)'
	[ "$status" -eq 1 ]
	[ "$(fences)" = "job|5" ]
	[ "$(sqlite3 db 'SELECT group_concat(tok) FROM log')" = 5 ]
	# so a lower token than the failed one still passes
	run "$SQLWAL" --fence job=6 db 'INSERT INTO log(tok) VALUES (6)'
	[ "$status" -eq 0 ]
	[ "$(fences)" = "job|6" ]
}

@test "--fence: a script that only reads still records its token (a write: WAL is set), and prints its rows" {
	sqlite3 db 'CREATE TABLE log(id INTEGER PRIMARY KEY, tok INTEGER); INSERT INTO log(tok) VALUES (1), (2)'
	[ "$(header_mode db)" = 1 ]
	run --separate-stderr "$SQLWAL" --fence job=3 db 'SELECT tok FROM log ORDER BY tok'
	[ "$status" -eq 0 ]
	[ "$output" = "1
2" ]
	[ "$(fences)" = "job|3" ]
	[ "$(header_mode db)" = 2 ]
	# an empty script claims the token: older holders are refused from now on
	run "$SQLWAL" --fence job=4 db ''
	[ "$status" -eq 0 ]
	[ "$(fences)" = "job|4" ]
	run --separate-stderr "$SQLWAL" --fence job=3 db 'SELECT 1'
	[ "$status" -eq 75 ]
	[ "$output" = "" ]
}

@test "--fence: a bad TOKEN, an empty or repeated NAME, -r, --check, --checkpoint: 64, the database untouched" {
	mklog
	"$SQLWAL" db 'INSERT INTO log(tok) VALUES (1)'
	sum=$(cksum < db)
	for tok in -1 +5 '' 1x 99999999999999999999 ' 5' '5 ' 0x10 1e3; do
		run --separate-stderr "$SQLWAL" --fence "job=$tok" db 'INSERT INTO log(tok) VALUES (2)'
		[ "$status" -eq 64 ] || fail "token '$tok' gave $status"
		[[ "$stderr" == "sqlwal: fence: job: "* && "$stderr" != *$'\n'* ]] ||
		    fail "token '$tok': $stderr"
	done
	for args in "--fence =5" "--fence job" "--fence job=1 --fence job=2" "-r --fence job=1" \
	    "--fence job=1 --readonly"; do
		eval "run $SQLWAL $args db 'SELECT 1'"
		[ "$status" -eq 64 ] || fail "'$args' gave $status"
	done
	run "$SQLWAL" --fence job=1 --check db
	[ "$status" -eq 64 ]
	run "$SQLWAL" --fence job=1 --checkpoint TRUNCATE db
	[ "$status" -eq 64 ]
	[ "$(cksum < db)" = "$sum" ]
	[ "$(sqlite3 db "SELECT count(*) FROM sqlite_master WHERE name = 'crashsafe_fence'")" = 0 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM log')" = 1 ]
	# a name may hold anything: the token is after the last '='
	run "$SQLWAL" --fence 'nightly job: 10.0.0.1/x' db 'SELECT 1'
	[ "$status" -eq 64 ]
	run "$SQLWAL" --fence 'a=b=1x' db 'SELECT 1'
	[ "$status" -eq 64 ]
	run "$SQLWAL" --fence 'nightly job: 10.0.0.1/x=3' db 'SELECT 1'
	[ "$status" -eq 0 ]
	[ "$(fences)" = "nightly job: 10.0.0.1/x|3" ]
}

@test "--fence: 16 racing holders with shuffled tokens: accepted tokens never go down, every other one 75" {
	mklog
	toks=$(seq 16 | shuf | tr '\n' ' ')
	rm -f go
	pids=()
	for tok in $toks; do
		# each waits for ./go, so that all start together
		( until [ -e go ]; do sleep 0.01; done
		  st=0
		  "$SQLWAL" -t 60 --fence job="$tok" db 'INSERT INTO log(tok) VALUES (?)' "$tok" 2> "err.$tok" || st=$?
		  echo "$st" > "status.$tok" ) &
		pids+=($!)
	done
	touch go
	wait "${pids[@]}"
	echo "# tokens: $toks; accepted: $(sqlite3 db 'SELECT group_concat(tok) FROM log')" >&3
	ok=0
	for tok in $toks; do
		st=$(cat "status.$tok")
		if [ "$st" -eq 0 ]; then
			ok=$((ok + 1))
		else
			[ "$st" -eq 75 ] || fail "token $tok: exit $st: $(cat "err.$tok")"
			grep -q "fence job: token $tok is older than " "err.$tok" || fail "token $tok: $(cat "err.$tok")"
		fi
	done
	# in commit order (rowid), each accepted token at least the one before
	run sqlite3 db 'SELECT count(*) FROM log a JOIN log b ON b.id > a.id WHERE b.tok < a.tok'
	[ "$output" = 0 ]
	[ "$(sqlite3 db 'SELECT count(*) FROM log')" -eq "$ok" ]
	[ "$(sqlite3 db 'SELECT count(*) FROM log WHERE tok = 16')" = 1 ]
	[ "$(fences)" = "job|$(sqlite3 db 'SELECT max(tok) FROM log')" ]
	[ "$(fences)" = "job|16" ]
}

@test "--fence: two names, each checked: one lower token refuses the whole call" {
	mklog
	run "$SQLWAL" --fence a=5 --fence b=3 db 'INSERT INTO log(tok) VALUES (1)'
	[ "$status" -eq 0 ]
	[ "$(fences)" = "$(printf 'a|5\nb|3')" ]
	run --separate-stderr "$SQLWAL" --fence a=6 --fence b=2 db 'INSERT INTO log(tok) VALUES (2)'
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"fence b: token 2 is older than 3, already recorded"* ]]
	[ "$(fences)" = "$(printf 'a|5\nb|3')" ]
	[ "$(sqlite3 db 'SELECT group_concat(tok) FROM log')" = 1 ]
	run "$SQLWAL" --fence b=3 --fence a=6 db 'INSERT INTO log(tok) VALUES (3)'
	[ "$status" -eq 0 ]
	[ "$(fences)" = "$(printf 'a|6\nb|3')" ]
	# a name with '=' in it: split at the last one
	run "$SQLWAL" --fence 'k=v=7' db 'SELECT 1'
	[ "$status" -eq 0 ]
	[ "$(sqlite3 db "SELECT token FROM crashsafe_fence WHERE name = 'k=v'")" = 7 ]
}

@test "--fence waits for a writer holding the lock, then checks what that writer recorded" {
	mklog
	"$SQLWAL" --fence job=10 db 'SELECT 1'
	sqlite3_hold db "UPDATE crashsafe_fence SET token = 50 WHERE name = 'job';"
	# when it starts, 40 is newer than the 10 recorded
	"$SQLWAL" -t 10 --fence job=40 db 'INSERT INTO log(tok) VALUES (40)' 2> err &
	writer=$!
	await busy_waiting "$writer"
	touch go
	wait "$HELD_BY"
	st=0
	wait "$writer" || st=$?
	[ "$st" -eq 75 ]
	grep -q "token 40 is older than 50" err
	[ "$(sqlite3 db 'SELECT count(*) FROM log')" = 0 ]
}

@test "--fence with -f, stdin, parameters and --no-wal; -c counts the script's rows only" {
	mklog
	echo 'INSERT INTO log(tok) VALUES (?); INSERT INTO log(tok) VALUES (:t)' > ins.sql
	run "$SQLWAL" -c -p t:int=2 --fence job=2 -f ins.sql db 1
	[ "$status" -eq 0 ]
	[ "$output" = 2 ]
	[ "$(fences)" = "job|2" ]
	run "$SQLWAL" --fence job=1 -f ins.sql -p t=0 db 0
	[ "$status" -eq 75 ]
	run bash -c 'echo "INSERT INTO log(tok) VALUES (3)" | "$1" --fence job=3 --no-wal db' sh "$SQLWAL"
	[ "$status" -eq 0 ]
	[ "$(header_mode db)" = 1 ]
	[ "$(fences)" = "job|3" ]
	run bash -c 'echo "INSERT INTO log(tok) VALUES (-1)" | "$1" --fence job=2 --no-wal db' sh "$SQLWAL"
	[ "$status" -eq 75 ]
	[ "$(sqlite3 db 'SELECT group_concat(tok) FROM log')" = 1,2,3 ]
	# VACUUM cannot run in the transaction the check needs
	run --separate-stderr "$SQLWAL" --fence job=4 db 'VACUUM'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"VACUUM cannot run in a transaction, which --fence needs"* ]]
	[ "$(fences)" = "job|3" ]
}
