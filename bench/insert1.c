/* SPDX-License-Identifier: ISC */
/*
 * insert1 DB W I: the floor under `sqlwal DB 'INSERT INTO r VALUES (?, ?)'
 * W I` in make bench's writer curve. One process, one connection, one
 * IMMEDIATE transaction with one bound INSERT, and sqlwal's busy handler
 * and settings (short capped-jitter sleeps until 10 s, synchronous=NORMAL
 * in WAL), and nothing else: no script to read, no statement survey, no
 * spool, no lock protocol.
 */
#include <err.h>
#include <stdlib.h>
#include <sqlite3.h>

#include "crashsafe.h"

static cs_nsec deadline;

/* sqlwal's busy_handler (cmd/sqlwal.c), as it waits. */
static int
busy(void *arg, int count)
{
	(void)count;
	if (cs_now() >= deadline)
		return 0;
	cs_sleep(cs_backoff_next(arg), deadline, -1, NULL);
	return cs_now() < deadline;
}

static void
run(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		errx(75, "%s: %s", sql, sqlite3_errmsg(db));
}

int
main(int argc, char *argv[])
{
	struct cs_backoff b;
	sqlite3_stmt *st;
	sqlite3 *db;

	if (argc != 4)
		errx(64, "usage: insert1 db w i");
	deadline = cs_deadline(10 * CS_SEC);
	cs_backoff_init(&b, CS_MSEC, 2, 8 * CS_MSEC, CS_JITTER_FULL);
	if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		errx(66, "%s: %s", argv[1], sqlite3_errmsg(db));
	sqlite3_busy_handler(db, busy, &b);
	run(db, "PRAGMA synchronous=NORMAL");
	run(db, "BEGIN IMMEDIATE");
	if (sqlite3_prepare_v2(db, "INSERT INTO r VALUES (?, ?)", -1, &st,
	    NULL) != SQLITE_OK)
		errx(65, "%s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, strtoll(argv[2], NULL, 10));
	sqlite3_bind_int64(st, 2, strtoll(argv[3], NULL, 10));
	if (sqlite3_step(st) != SQLITE_DONE)
		errx(75, "INSERT: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	run(db, "COMMIT");
	if (sqlite3_close(db) != SQLITE_OK)
		errx(74, "%s: close", argv[1]);
	return 0;
}
