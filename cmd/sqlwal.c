/* SPDX-License-Identifier: ISC */
/*
 * sqlwal - SQLite from shell scripts, safely under concurrency: WAL, the
 * suite's own busy handler, the whole script as one transaction (BEGIN
 * IMMEDIATE when it writes), retried whole on SQLITE_BUSY in every form,
 * parameters bound and never spliced into the SQL.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <err.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"
#include "sqlwal.h"



static const char *dbpath;
static cs_nsec deadline;
static char errmsg[512];		/* kept across the ROLLBACK that follows */
static bool busy_pragma_denied;
/* What the statement being surveyed writes to (set by the authorizer). */
static struct {
	bool	active;
	bool	temp, other;	/* the TEMP database; any other */
} writing;

struct stmt;
static int	exit_for(int rc);
static bool	read_only_fs(void);
static int	fail(sqlite3 *db, int rc, const char *what);
static bool	is_busy(int rc);
static bool	busy_again(int rc);
static int	busy_handler(void *arg, int count);
static int	authorizer(void *arg, int action, const char *a1,
	    const char *a2, const char *a3, const char *a4);
static int	bind_all(sqlite3 *db, sqlite3_stmt *st);
static int	unused_params(void);
static bool	listed(const char *w, const char *const *list, size_t n);
static const char *	skip_space(const char *p);
static const char *	skip_quoted(const char *p);
static bool	ident_char(char c);
static const char *	next_word(const char *p, char *w, size_t len);
static const char *	param_end(const char *p);
static int	check_params(const char *sql);
static void	classify(struct stmt *s);
static char *	statement_end(char *p);
static void	split_script(char *text);
static int	place_statements(void);
static int	survey(sqlite3 *db);
static int	exec_simple(sqlite3 *db, const char *sql);
static void	get_cell(sqlite3_stmt *st, int i, struct cs_cell *c);
static int	step_all(sqlite3 *db, sqlite3_stmt *st, struct cs_rows *w,
	    int *status);
static int	run_one(sqlite3 *db, const char *sql, struct cs_rows *w,
	    int *status);
static int	fence_stmt(sqlite3 *db, const char *sql,
	    const struct fence *f, sqlite3_int64 *had, int *status);
static int	check_fences(sqlite3 *db, int *status);
static int	run_setup(sqlite3 *db);
static int	run_body(sqlite3 *db, struct cs_rows *w, int *status);
static bool	header_says_wal(const char *path);
static int	open_db(sqlite3 **dbp, struct cs_backoff *b);
static bool	set_journal(sqlite3 *db, const char *schema, const char *mode,
	    int *rcp);
static int	journal(sqlite3 *db, const char *schema, const char *path,
	    bool writes);
static int	databases(sqlite3 *db, bool all);
static int	setup(sqlite3 *db);
static int	checkpoint(sqlite3 *db);
static int	check(sqlite3 *db);
static int	transact(sqlite3 *db);
static int	run(struct cs_backoff *busy);
static int	maintain(struct cs_backoff *busy);
static char *	read_sql(int argc, char *argv[]);

/* ---- errors ---- */

/* The exit status of SPEC 6 for an SQLite result code. */
static int
exit_for(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return CS_EX_FALSE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EX_TEMPFAIL;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_PROTOCOL:
		return EX_IOERR;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return EX_NOPERM;
	case SQLITE_CANTOPEN:
		return EX_CANTCREAT;
	case SQLITE_NOMEM:
		return EX_OSERR;
	default:
		return EX_DATAERR;
	}
}

static bool
read_only_fs(void)
{
	struct statvfs sv;
	char *dir, *base;
	bool ro;

	if (cs_split_path(dbpath, &dir, &base) == -1)
		return false;
	ro = statvfs(dir, &sv) == 0 && (sv.f_flag & ST_RDONLY);
	free(dir);
	free(base);
	return ro;
}

static int
fail(sqlite3 *db, int rc, const char *what)
{
	const char *msg = errmsg[0] != '\0' ? errmsg :
	    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	char reason[128] = "";
	int sys = 0;

	/* "disk I/O error" alone does not say which: the system's errno
	 * does (SQLite keeps it for these two classes only). */
	if (db != NULL && errmsg[0] == '\0' && ((rc & 0xff) == SQLITE_IOERR ||
	    (rc & 0xff) == SQLITE_CANTOPEN) &&
	    (sys = sqlite3_system_errno(db)) != 0) {
		/* On a read-only filesystem SQLite's last try is a read-only
		 * open of a -shm file that was never made: ENOENT, which
		 * misleads. */
		if ((rc & 0xff) == SQLITE_CANTOPEN && read_only_fs())
			sys = EROFS;
		snprintf(reason, sizeof(reason), " (%s)", strerror(sys));
	}

	if (busy_pragma_denied)
		warnx("%s: PRAGMA busy_timeout refused: sqlwal waits with its "
		    "own busy handler (see -t)", dbpath);
	else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		warnx("%s: database busy: still locked after the timeout",
		    dbpath);
	else if (what != NULL)
		warnx("%s: %s: %s%s", dbpath, what, msg, reason);
	else
		warnx("%s: %s%s", dbpath, msg, reason);
	return sys != 0 ? cs_exit_for_errno(sys, exit_for(rc)) : exit_for(rc);
}

static bool
is_busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Busy in a way the busy handler did not wait for (a connection setting,
 * BUSY_RECOVERY): whether to try again, after a short sleep, before -t. */
static bool
busy_again(int rc)
{
	if (!is_busy(rc) || cs_now() >= deadline)
		return false;
	cs_sleep(2 * CS_MSEC, deadline, -1, NULL);
	return true;
}

/* ---- waiting ---- */

/*
 * The suite's busy handler: short sleeps with capped jitter (a few ms), so
 * that a lock released is soon taken again, until the deadline. SQLite's
 * own busy_timeout sleeps up to 100 ms at a time and starves long waiters.
 */
static int
busy_handler(void *arg, int count)
{
	struct cs_backoff *b = arg;

	(void)count;
	if (cs_now() >= deadline)
		return 0;
	cs_sleep(cs_backoff_next(b), deadline, -1, NULL);
	return cs_now() < deadline;
}

/* A script may read busy_timeout but not replace our handler with it. */
static int
authorizer(void *arg, int action, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	const char *schema = a3;

	(void)arg, (void)a4;
	if (action == SQLITE_PRAGMA && a1 != NULL &&
	    sqlite3_stricmp(a1, "busy_timeout") == 0 && a2 != NULL) {
		busy_pragma_denied = true;
		return SQLITE_DENY;
	}
	if (!writing.active)
		return SQLITE_OK;
	switch (action) {
	case SQLITE_CREATE_TEMP_INDEX: case SQLITE_CREATE_TEMP_TABLE:
	case SQLITE_CREATE_TEMP_TRIGGER: case SQLITE_CREATE_TEMP_VIEW:
	case SQLITE_DROP_TEMP_INDEX: case SQLITE_DROP_TEMP_TABLE:
	case SQLITE_DROP_TEMP_TRIGGER: case SQLITE_DROP_TEMP_VIEW:
		writing.temp = true;
		break;
	case SQLITE_ALTER_TABLE:
		schema = a1;
		/* FALLTHROUGH */
	case SQLITE_CREATE_INDEX: case SQLITE_CREATE_TABLE:
	case SQLITE_CREATE_TRIGGER: case SQLITE_CREATE_VIEW:
	case SQLITE_DELETE: case SQLITE_DROP_INDEX: case SQLITE_DROP_TABLE:
	case SQLITE_DROP_TRIGGER: case SQLITE_DROP_VIEW: case SQLITE_INSERT:
	case SQLITE_UPDATE: case SQLITE_REINDEX: case SQLITE_ANALYZE:
	case SQLITE_CREATE_VTABLE: case SQLITE_DROP_VTABLE:
		if (schema != NULL && sqlite3_stricmp(schema, "temp") == 0)
			writing.temp = true;
		else
			writing.other = true;
		break;
	}
	return SQLITE_OK;
}

/* ---- parameters ---- */

/* Bind every parameter of st; 65 with a message if one has no value. */
static int
bind_all(sqlite3 *db, sqlite3_stmt *st)
{
	struct param *p;
	const char *name;
	size_t k;
	int i, n, idx, posnext = 0, rc = SQLITE_OK;

	n = sqlite3_bind_parameter_count(st);
	for (i = 1; i <= n && rc == SQLITE_OK; i++) {
		name = sqlite3_bind_parameter_name(st, i);
		if (name == NULL || name[0] == '?') {
			/* ?NNN: the NNN-th positional PARAM; ?: the one after
			 * the highest so far (names do not count) */
			idx = name == NULL || name[1] == '\0' ? ++posnext :
			    atoi(name + 1);
			if (idx > posnext)
				posnext = idx;
			if (idx < 1 || (size_t)idx > params.npos) {
				warnx("%s: no value for parameter ?%d (%zu given)",
				    dbpath, idx, params.npos);
				return EX_DATAERR;
			}
			params.pos_used[idx - 1] = true;
			rc = sqlite3_bind_text(st, i, params.pos[idx - 1], -1,
			    SQLITE_STATIC);
			continue;
		}
		for (k = 0, p = NULL; k < params.nnamed; k++)
			if (strcmp(params.named[k].name, name + 1) == 0)
				p = &params.named[k];
		if (p == NULL) {
			warnx("%s: no value for parameter %s (use -p %s=VALUE)",
			    dbpath, name, name + 1);
			return EX_DATAERR;
		}
		p->used = true;
		switch (p->type) {
		case SQLITE_NULL:
			rc = sqlite3_bind_null(st, i);
			break;
		case SQLITE_INTEGER:
			rc = sqlite3_bind_int64(st, i, p->i);
			break;
		case SQLITE_FLOAT:
			rc = sqlite3_bind_double(st, i, p->r);
			break;
		case SQLITE_BLOB:
			rc = sqlite3_bind_blob64(st, i, p->blob, p->len,
			    SQLITE_STATIC);
			break;
		default:
			rc = sqlite3_bind_text(st, i, p->text, -1,
			    SQLITE_STATIC);
		}
	}
	return rc == SQLITE_OK ? 0 : fail(db, rc, "bind");
}

/* A value with nowhere to go is a mistake too: 0 or 65. */
static int
unused_params(void)
{
	size_t i;

	for (i = 0; i < params.npos; i++)
		if (!params.pos_used[i]) {
			warnx("%s: parameter %zu has no placeholder", dbpath,
			    i + 1);
			return EX_DATAERR;
		}
	for (i = 0; i < params.nnamed; i++)
		if (!params.named[i].used) {
			warnx("%s: parameter %s has no placeholder", dbpath,
			    params.named[i].name);
			return EX_DATAERR;
		}
	return 0;
}

/* ---- statements: where each may run (SPEC 6) ---- */

enum kind {
	K_SETUP,	/* ATTACH, DETACH, a PRAGMA SQLite ignores in a
			   transaction: before BEGIN (or after COMMIT) */
	K_CONN,		/* a PRAGMA of the connection, good anywhere */
	K_TXCTL,	/* BEGIN, COMMIT, END, ROLLBACK: refused */
	K_ALONE,	/* VACUUM, wal_checkpoint: only as the only one */
	K_BODY,		/* everything else: in the transaction */
};

struct stmt {
	char		*sql;		/* NUL-terminated, in the script */
	enum kind	 kind;
	char		 what[48];	/* "PRAGMA foreign_keys", for messages */
	bool		 pragma;	/* never prepared before it runs */
	bool		 writes;	/* by its words: a PRAGMA, VACUUM */
	bool		 journal;	/* sets main's journal_mode */
	bool		 wal;		/* sets a journal_mode to WAL */
	bool		 lasting;	/* a setup statement whose effect
					   outlives the connection */
};

static struct {
	struct stmt	*v;
	size_t		 n;
	size_t		 nsetup;	/* v[0..nsetup) run before BEGIN */
	size_t		 body_end;	/* v[body_end..n): dropped, as they
					   would change nothing */
	bool		 writes;	/* the body writes (or may) */
	bool		 alone;		/* its one statement runs outside BEGIN */
	bool		 journal;	/* a setup statement sets journal_mode */
} script;

/*
 * PRAGMAs that SQLite ignores or refuses inside a transaction (measured
 * with sqlite3 3.40: foreign_keys, page_size, auto_vacuum and encoding
 * are silently ignored; synchronous and journal_mode=WAL fail), and
 * locking_mode, which is the connection's.
 */
static const char *const setup_pragmas[] = { "AUTO_VACUUM", "ENCODING",
	"FOREIGN_KEYS", "JOURNAL_MODE", "LOCKING_MODE", "PAGE_SIZE",
	"SYNCHRONOUS" };
/* Settings of the connection, which work anywhere and write nothing. */
static const char *const conn_pragmas[] = { "ANALYSIS_LIMIT",
	"AUTOMATIC_INDEX", "BUSY_TIMEOUT", "CACHE_SIZE", "CACHE_SPILL",
	"CASE_SENSITIVE_LIKE", "CELL_SIZE_CHECK", "CHECKPOINT_FULLFSYNC",
	"FULLFSYNC", "HARD_HEAP_LIMIT", "IGNORE_CHECK_CONSTRAINTS",
	"JOURNAL_SIZE_LIMIT", "LEGACY_ALTER_TABLE", "MMAP_SIZE", "QUERY_ONLY",
	"READ_UNCOMMITTED", "RECURSIVE_TRIGGERS", "REVERSE_UNORDERED_SELECTS",
	"SECURE_DELETE", "SOFT_HEAP_LIMIT", "TEMP_STORE", "THREADS",
	"TRUSTED_SCHEMA", "WAL_AUTOCHECKPOINT", "WRITABLE_SCHEMA" };
/* PRAGMAs that take an argument and only read. */
static const char *const reading_pragmas[] = { "FOREIGN_KEY_CHECK",
	"FOREIGN_KEY_LIST", "INDEX_INFO", "INDEX_LIST", "INDEX_XINFO",
	"INTEGRITY_CHECK", "QUICK_CHECK", "TABLE_INFO", "TABLE_LIST",
	"TABLE_XINFO" };

static bool
listed(const char *w, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(w, list[i]) == 0)
			return true;
	return false;
}
#define LISTED(w, list)	listed(w, list, sizeof(list) / sizeof(list[0]))

/* Past whitespace and comments. */
static const char *
skip_space(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		    *p == '\f' || *p == '\v')
			p++;
		/* a UTF-8 byte order mark is white space to SQLite, anywhere
		 * (cat a.sql b.sql with a BOM in b.sql) */
		if (strncmp(p, "\xef\xbb\xbf", 3) == 0) {
			p += 3;
			continue;
		}
		if (p[0] == '-' && p[1] == '-') {
			p += strcspn(p, "\n");
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");

			p = e != NULL ? e + 2 : p + strlen(p);
			continue;
		}
		return p;
	}
}

/* Past a quoted string or name starting at p ('...', "...", `...`, with
 * the quote doubled inside; [...]). */
static const char *
skip_quoted(const char *p)
{
	char q = *p == '[' ? ']' : *p;

	for (p++; *p != '\0'; p++)
		if (*p == q) {
			if (q != ']' && p[1] == q) {
				p++;
				continue;
			}
			return p + 1;
		}
	return p;
}

static bool
ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || (c & 0x80) != 0;
}

/* The next word (an identifier, bare or quoted), upper-cased into w. */
static const char *
next_word(const char *p, char *w, size_t len)
{
	const char *e;
	size_t i = 0;

	p = skip_space(p);
	if (*p == '"' || *p == '`' || *p == '[') {
		e = skip_quoted(p);
		for (p++; p < e - 1; p++)
			if (i + 1 < len)
				w[i++] = (char)toupper((unsigned char)*p);
		p = e;
	} else
		for (; ident_char(*p); p++)
			if (i + 1 < len)
				w[i++] = (char)toupper((unsigned char)*p);
	w[i] = '\0';
	return p;
}

/* A parameter's name as SQLite reads it: after :, @ or $ the characters
 * of an identifier, and for $ (Tcl's) also :: parts and one (...). */
static const char *
param_end(const char *p)
{
	const char *e = p + 1;

	for (;;) {
		while (ident_char(*e))
			e++;
		if (*p == '$' && e[0] == ':' && e[1] == ':') {
			e += 2;
			continue;
		}
		break;
	}
	if (*p == '$' && *e == '(') {
		while (*e != '\0' && *e != ')' && *e != ' ')
			e++;
		if (*e == ')')
			e++;
	}
	return e;
}

/*
 * The parameters of one statement, found by reading it as SQLite's
 * tokenizer does (strings, quoted names, comments and identifiers
 * skipped). ?N is the N-th value, ? the one after the highest so far
 * (names do not count, as in bind_all); each name must have a -p value.
 * SQLite gives a name and a later ?N the same slot when N is the name's
 * number: that is refused, since one could not bind both. 65 before
 * anything runs, or 0; every value given is marked used.
 */
static int
check_params(const char *sql)
{
	struct { const char *p; size_t len, slot; } *names = NULL;
	const char *p = sql, *e;
	size_t nnames = 0, i, k, len;
	void *grown;
	long idx, posnext = 0, nslots = 0;
	int r = 0;

	while (*p != '\0' && r == 0) {
		if (*p == '\'' || *p == '"' || *p == '`' || *p == '[') {
			p = skip_quoted(p);
			continue;
		}
		if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
			p = skip_space(p);
			continue;
		}
		if (ident_char(*p)) {		/* a name: a$b is one */
			while (ident_char(*p) || *p == '$')
				p++;
			continue;
		}
		if (*p == '?') {
			if (p[1] >= '0' && p[1] <= '9') {
				idx = strtol(p + 1, (char **)&e, 10);
				p = e;
				for (i = 0; i < nnames && names[i].slot !=
				    (size_t)idx; i++)
					;
				if (i < nnames) {
					warnx("%s: ?%ld is also %.*s to SQLite: "
					    "use one of them", dbpath, idx,
					    (int)names[i].len, names[i].p);
					r = EX_DATAERR;
					break;
				}
				if (idx > nslots)
					nslots = idx;
			} else {
				idx = posnext + 1;
				nslots++;
				p++;
			}
			if (idx > posnext)
				posnext = idx;
			if (idx < 1 || (size_t)idx > params.npos) {
				warnx("%s: no value for parameter ?%ld (%zu given)",
				    dbpath, idx, params.npos);
				r = EX_DATAERR;
				break;
			}
			params.pos_used[idx - 1] = true;
			continue;
		}
		if ((*p == ':' || *p == '@' || *p == '$') && ident_char(p[1])) {
			e = param_end(p);
			len = (size_t)(e - p);
			for (i = 0; i < nnames && (names[i].len != len ||
			    strncmp(names[i].p, p, len) != 0); i++)
				;
			if (i == nnames) {
				if ((grown = reallocarray(names, nnames + 1,
				    sizeof(*names))) == NULL)
					err(EX_OSERR, NULL);
				names = grown;
				names[nnames].p = p;
				names[nnames].len = len;
				names[nnames++].slot = (size_t)++nslots;
			}
			for (k = 0; k < params.nnamed &&
			    (strlen(params.named[k].name) != len - 1 ||
			    strncmp(params.named[k].name, p + 1, len - 1) != 0);
			    k++)
				;
			if (k == params.nnamed) {
				warnx("%s: no value for parameter %.*s (use -p "
				    "%.*s=VALUE)", dbpath, (int)len, p,
				    (int)len - 1, p + 1);
				r = EX_DATAERR;
				break;
			}
			params.named[k].used = true;
			p = e;
			continue;
		}
		p++;
	}
	free(names);
	return r;
}

/* What kind a statement is, by its words (it need not be preparable:
 * it may use a table that an earlier one creates). */
static void
classify(struct stmt *s)
{
	char w[32], name[32];
	const char *p;
	size_t i;

	p = next_word(s->sql, w, sizeof(w));
	s->kind = K_BODY;
	snprintf(s->what, sizeof(s->what), "%s", w);
	if (strcmp(w, "BEGIN") == 0 || strcmp(w, "COMMIT") == 0 ||
	    strcmp(w, "END") == 0)
		s->kind = K_TXCTL;
	else if (strcmp(w, "ROLLBACK") == 0) {
		/* ROLLBACK [TRANSACTION] TO [SAVEPOINT] x is a savepoint's;
		 * ROLLBACK TRANSACTION "to" is a (named) transaction's */
		p = next_word(p, w, sizeof(w));
		if (strcmp(w, "TRANSACTION") == 0) {
			p = skip_space(p);
			if (*p == '"' || *p == '`' || *p == '[' || *p == '\'')
				w[0] = '\0';
			else
				next_word(p, w, sizeof(w));
		}
		if (strcmp(w, "TO") != 0)
			s->kind = K_TXCTL;
	} else if (strcmp(w, "ATTACH") == 0) {
		s->kind = K_SETUP;
		s->lasting = true;	/* nothing to attach to after */
	} else if (strcmp(w, "DETACH") == 0)
		s->kind = K_SETUP;
	else if (strcmp(w, "EXPLAIN") == 0)
		s->pragma = true;	/* EXPLAIN PRAGMA is applied as well */
	else if (strcmp(w, "VACUUM") == 0) {
		/* VACUUM [schema] [INTO file]: INTO writes another file */
		s->kind = K_ALONE;
		s->writes = true;
		p = next_word(p, w, sizeof(w));
		if (strcmp(w, "INTO") != 0)
			next_word(p, w, sizeof(w));
		s->writes = strcmp(w, "INTO") != 0;
	} else if (strcmp(w, "PRAGMA") == 0) {
		/* PRAGMA [schema.]name [= value | (value)] */
		bool main_db = true;

		s->pragma = true;
		p = next_word(p, name, sizeof(name));
		p = skip_space(p);
		if (*p == '.') {
			main_db = strcmp(name, "MAIN") == 0;
			p = next_word(p + 1, name, sizeof(name));
			p = skip_space(p);
		}
		snprintf(s->what, sizeof(s->what), "PRAGMA ");
		for (i = 0; name[i] != '\0' && 7 + i + 1 < sizeof(s->what);
		    i++)
			s->what[7 + i] = (char)tolower((unsigned char)name[i]);
		s->what[7 + i] = '\0';
		if (strcmp(name, "WAL_CHECKPOINT") == 0) {
			s->kind = K_ALONE;	/* writes nothing but a WAL's */
			return;
		}
		if (*p != '=' && *p != '(') {
			/* a query: reads, but for these two */
			s->writes = strcmp(name, "OPTIMIZE") == 0 ||
			    strcmp(name, "INCREMENTAL_VACUUM") == 0;
			return;
		}
		if (LISTED(name, setup_pragmas))
			s->kind = K_SETUP;
		else if (LISTED(name, conn_pragmas))
			s->kind = K_CONN;
		else
			s->writes = !LISTED(name, reading_pragmas);
		s->lasting = strcmp(name, "JOURNAL_MODE") == 0 ||
		    strcmp(name, "PAGE_SIZE") == 0 ||
		    strcmp(name, "AUTO_VACUUM") == 0 ||
		    strcmp(name, "ENCODING") == 0;
		if (strcmp(name, "JOURNAL_MODE") == 0) {
			s->journal = main_db;
			next_word(p + 1, w, sizeof(w));
			s->wal = strcmp(w, "WAL") == 0;
		}
	}
}

/* The end of the statement at p: its ';' (outside strings, quoted names
 * and comments, and past a trigger's body, as sqlite3_complete says), or
 * the end of the text. */
static char *
statement_end(char *p)
{
	char *q = p, keep;

	for (;;) {
		while (*q != '\0' && *q != ';') {
			if (*q == '\'' || *q == '"' || *q == '`' || *q == '[')
				q = (char *)skip_quoted(q);
			else if ((q[0] == '-' && q[1] == '-') ||
			    (q[0] == '/' && q[1] == '*'))
				q = (char *)skip_space(q);
			else
				q++;
		}
		if (*q == '\0')
			return q;
		keep = q[1];
		q[1] = '\0';
		if (sqlite3_complete(p)) {
			q[1] = keep;
			return q;
		}
		q[1] = keep;
		q++;
	}
}

/*
 * Cut the script into statements, each NUL-terminated in place, and
 * classify them. SQL that is only whitespace and comments is no statement;
 * a leading UTF-8 byte order mark is skipped, as SQLite skips it.
 */
static void
split_script(char *text)
{
	struct stmt *s;
	char *p = text, *end;

	if (strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	for (;;) {
		p = (char *)skip_space(p);
		if (*p == ';') {	/* an empty statement */
			p++;
			continue;
		}
		if (*p == '\0')
			break;
		end = statement_end(p);
		script.v = reallocarray(script.v, script.n + 1, sizeof(*s));
		if (script.v == NULL)
			err(EX_OSERR, NULL);
		s = &script.v[script.n++];
		memset(s, 0, sizeof(*s));
		s->sql = p;
		if (*end == '\0') {
			classify(s);
			break;
		}
		*end = '\0';		/* the ';' is not needed to run it */
		classify(s);
		p = end + 1;
	}
}

/*
 * Where each statement may run: leading setup statements before BEGIN,
 * trailing ones after COMMIT, the body between; a statement that cannot
 * run in a transaction only as the body's one statement. Anything else is
 * refused before anything runs: SQLite would ignore it silently, or end
 * our transaction halfway. Every parameter must have a value, every value
 * a parameter. 0, or 65 with a message.
 */
static int
place_statements(void)
{
	struct stmt *s;
	size_t i, body;
	int r;

#define OUTSIDE(k)	((k) == K_SETUP || (k) == K_CONN)
	for (i = 0; i < script.n && OUTSIDE(script.v[i].kind); i++)
		;
	script.nsetup = i;
	for (i = script.n; i > script.nsetup && OUTSIDE(script.v[i - 1].kind);
	    i--)
		;
	script.body_end = i;
	body = script.body_end - script.nsetup;
	for (i = 0; i < script.n; i++) {
		s = &script.v[i];
		if (i < script.nsetup && s->journal)
			script.journal = true;
		if (s->wal && opt.no_wal) {
			warnx("%s: %s=WAL contradicts --no-wal", dbpath,
			    s->what);
			return EX_DATAERR;
		}
		if ((r = check_params(s->sql)) != 0)
			return r;
		if (i >= script.body_end && s->lasting && body > 0) {
			warnx("%s: %s must come before the script's other "
			    "statements: after them it would run outside the "
			    "transaction", dbpath, s->what);
			return EX_DATAERR;
		}
		if (i < script.nsetup || i >= script.body_end)
			continue;
		if (s->kind == K_TXCTL) {
			warnx("%s: %s refused: the whole script is one "
			    "transaction already (SAVEPOINT and RELEASE work "
			    "inside it)", dbpath, s->what);
			return EX_DATAERR;
		}
		if (s->kind == K_SETUP) {
			warnx("%s: %s must come before the script's other "
			    "statements: %s", dbpath, s->what, s->pragma ?
			    "inside the transaction SQLite would ignore it" :
			    "SQLite cannot run it inside a transaction");
			return EX_DATAERR;
		}
		if (s->kind == K_ALONE && body > 1) {
			warnx("%s: %s cannot run in a transaction: give it "
			    "as the only statement", dbpath, s->what);
			return EX_DATAERR;
		}
	}
	script.alone = body == 1 && script.v[script.nsetup].kind == K_ALONE;
	if (script.alone && opt.nfence > 0) {
		warnx("%s: %s cannot run in a transaction, which --fence needs "
		    "to check and record its token", dbpath,
		    script.v[script.nsetup].what);
		return EX_DATAERR;
	}
	return unused_params();
}

/*
 * Whether the body writes, found before running it: by preparing it,
 * after the setup statements (an ATTACHed schema is known), until one
 * statement is found to write to a database other than TEMP (a report
 * that fills a TEMP table only reads). PRAGMAs are never prepared here
 * (SQLite applies some as it prepares them); their words say. A statement
 * that cannot be prepared yet (it needs a table an earlier one creates)
 * means the body writes. 0, an exit status, or minus SQLite's code when
 * the schema was busy.
 */
static int
survey(sqlite3 *db)
{
	sqlite3_stmt *st;
	struct stmt *s;
	char w[16];
	size_t i;
	int rc;
	bool temp = false;	/* an earlier statement wrote TEMP */

	script.writes = false;
	for (i = script.nsetup; i < script.body_end && !script.writes; i++) {
		s = &script.v[i];
		if (s->pragma || s->kind == K_ALONE) {
			script.writes = s->writes;
			continue;
		}
		memset(&writing, 0, sizeof(writing));
		writing.active = true;
		rc = sqlite3_prepare_v2(db, s->sql, -1, &st, NULL);
		writing.active = false;
		if (is_busy(rc))
			return -rc;	/* the caller waits, or says so */
		if (rc != SQLITE_OK) {
			/* Maybe a table created earlier in the script (a
			 * query of a TEMP table reads). */
			if (i == script.nsetup)
				return fail(db, rc, NULL);
			next_word(s->sql, w, sizeof(w));
			script.writes = !temp || (strcmp(w, "SELECT") != 0 &&
			    strcmp(w, "VALUES") != 0);
			continue;
		}
		if (st != NULL && !sqlite3_stmt_readonly(st))
			script.writes = writing.other || !writing.temp;
		temp |= writing.temp;
		sqlite3_finalize(st);
	}
	/* A fenced call records its token, whatever the script does. */
	if (opt.nfence > 0)
		script.writes = true;
	return 0;
}

/* ---- running ---- */

static unsigned long sets_out;	/* result sets begun: output was written */
static sqlite3_int64 fence_changes;	/* rows --fence changed, not the
					   script: -c leaves them out */

static int
exec_simple(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* One cell of the current row. */
static void
get_cell(sqlite3_stmt *st, int i, struct cs_cell *c)
{
	memset(c, 0, sizeof(*c));
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		c->type = CS_CELL_NULL;
		break;
	case SQLITE_INTEGER:
		c->type = CS_CELL_INT;
		c->i = sqlite3_column_int64(st, i);
		break;
	case SQLITE_FLOAT:
		c->type = CS_CELL_REAL;
		c->r = sqlite3_column_double(st, i);
		break;
	case SQLITE_BLOB:
		c->type = CS_CELL_BLOB;
		c->p = sqlite3_column_blob(st, i);
		c->len = (size_t)sqlite3_column_bytes(st, i);
		break;
	default:
		c->type = CS_CELL_TEXT;
		c->p = sqlite3_column_text(st, i);
		c->len = (size_t)sqlite3_column_bytes(st, i);
	}
}

/*
 * Step one prepared statement to its end, its rows (if it has columns)
 * written as one set. An SQLite code; *status for anything else.
 */
static int
step_all(sqlite3 *db, sqlite3_stmt *st, struct cs_rows *w, int *status)
{
	const char **names;
	struct cs_cell *cells;
	int i, n = sqlite3_column_count(st), rc;

	if (n == 0 || w == NULL) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		return rc == SQLITE_DONE ? SQLITE_OK :
		    sqlite3_extended_errcode(db);
	}
	if ((names = calloc((size_t)n, sizeof(*names))) == NULL ||
	    (cells = calloc((size_t)n, sizeof(*cells))) == NULL)
		err(EX_OSERR, NULL);
	rc = sqlite3_step(st);
	for (i = 0; i < n; i++)
		names[i] = sqlite3_column_name(st, i);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto out;
	if (cs_rows_begin(w, n, names) == -1)
		goto spool;
	sets_out++;
	for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
		for (i = 0; i < n; i++)
			get_cell(st, i, &cells[i]);
		if (cs_rows_put(w, cells) == -1)
			goto spool;
	}
	if (cs_rows_end(w) == -1)
		goto spool;
out:
	free(names);
	free(cells);
	return rc == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(db);
spool:
	*status = cs_fail(errno, EX_IOERR, cs_spool_name());
	free(names);
	free(cells);
	return SQLITE_ERROR;
}

/* Prepare, bind and step one statement of the script. */
static int
run_one(sqlite3 *db, const char *sql, struct cs_rows *w, int *status)
{
	sqlite3_stmt *st;
	int rc, r;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK || st == NULL)
		return rc;
	if ((r = bind_all(db, st)) != 0) {
		sqlite3_finalize(st);
		*status = r;
		return SQLITE_ERROR;
	}
	rc = step_all(db, st, w, status);
	sqlite3_finalize(st);	/* the extended code was taken before */
	return rc;
}

/*
 * One statement on the fence table, for f (?1 its name, ?2 its token):
 * an SQLite code. *had is the token recorded for the name, or -1 when
 * the statement returns none. Errors other than busy are reported here,
 * naming the fence, with *status set.
 */
static int
fence_stmt(sqlite3 *db, const char *sql, const struct fence *f,
    sqlite3_int64 *had, int *status)
{
	sqlite3_stmt *st;
	const unsigned char *v;
	char what[256];
	int rc;

	*had = -1;
	if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, f->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, f->token);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW &&
		    sqlite3_column_type(st, 0) != SQLITE_INTEGER) {
			v = sqlite3_column_text(st, 0);
			warnx("%s: fence %s: the token recorded in "
			    "crashsafe_fence is not an integer: %s", dbpath,
			    f->name, v != NULL ? (const char *)v : "NULL");
			*status = EX_DATAERR;
			rc = SQLITE_ERROR;
		} else if (rc == SQLITE_ROW) {
			*had = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		else
			rc = sqlite3_extended_errcode(db);
	}
	if (rc != SQLITE_OK && *status == 0 && !is_busy(rc)) {
		snprintf(what, sizeof(what), "fence %s", f->name);
		errmsg[0] = '\0';	/* this message, not an earlier try's */
		*status = fail(db, rc, what);
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * --fence, first in the transaction (IMMEDIATE: it writes), so that the
 * token is compared with what the last writer recorded while no other
 * writer can come between: a token lower than the one recorded for its
 * name means a newer lock holder has written since this one took the
 * lock, and nothing may be applied (75, as withlock's "lock lost").
 * Otherwise the highest token is recorded, to commit or roll back with
 * the script. An SQLite code; *status set when refused.
 */
static int
check_fences(sqlite3 *db, int *status)
{
	const struct fence *f;
	sqlite3_int64 had, before = sqlite3_total_changes64(db);
	size_t i;
	int rc;

	rc = exec_simple(db, "CREATE TABLE IF NOT EXISTS main.crashsafe_fence("
	    "name TEXT PRIMARY KEY, token INTEGER NOT NULL)");
	if (rc != SQLITE_OK && !is_busy(rc)) {
		errmsg[0] = '\0';
		*status = fail(db, rc, "fence");
	}
	for (i = 0; rc == SQLITE_OK && i < opt.nfence; i++) {
		f = &fences[i];
		rc = fence_stmt(db, "SELECT token FROM main.crashsafe_fence "
		    "WHERE name = ?1", f, &had, status);
		if (rc == SQLITE_OK && f->token < had) {
			warnx("%s: fence %s: token %lld is older than %lld, "
			    "already recorded: a newer lock holder has written; "
			    "nothing applied", dbpath, f->name,
			    (long long)f->token, (long long)had);
			*status = EX_TEMPFAIL;
			rc = SQLITE_ERROR;
		}
		if (rc == SQLITE_OK && f->token > had)
			rc = fence_stmt(db, "INSERT INTO main.crashsafe_fence"
			    "(name, token) VALUES (?1, ?2) ON CONFLICT (name) "
			    "DO UPDATE SET token = excluded.token", f, &had,
			    status);
	}
	fence_changes += sqlite3_total_changes64(db) - before;
	return rc;
}


/*
 * The leading setup statements, once, before BEGIN (connection settings,
 * not part of the transaction; what they print is dropped), each waited
 * for while the database is busy; what an ATTACH brought in is checked
 * before the next one runs. 0 or an exit status.
 */
static int
run_setup(sqlite3 *db)
{
	size_t i;
	int rc, r, status = 0;

	for (i = 0; i < script.nsetup; i++) {
		while ((rc = run_one(db, script.v[i].sql, NULL, &status)) !=
		    SQLITE_OK && status == 0 && busy_again(rc))
			;
		if (status != 0)
			return status;
		if (rc != SQLITE_OK)
			return fail(db, rc, script.v[i].what);
		if (strcmp(script.v[i].what, "ATTACH") == 0 &&
		    (r = databases(db, false)) != 0)
			return r;
	}
	return 0;
}

/*
 * One attempt at the body: BEGIN (IMMEDIATE when it writes), every
 * statement, COMMIT; any error, ROLLBACK. Rows go to w. An SQLite code;
 * *status is set for errors that are not SQLite's.
 */
static int
run_body(sqlite3 *db, struct cs_rows *w, int *status)
{
	size_t i;
	int rc = SQLITE_OK;

	*status = 0;
	if (!script.alone)
		rc = exec_simple(db, script.writes ? "BEGIN IMMEDIATE" :
		    "BEGIN");
	if (rc == SQLITE_OK && opt.nfence > 0)
		rc = check_fences(db, status);
	for (i = script.nsetup; rc == SQLITE_OK && i < script.body_end; i++)
		rc = run_one(db, script.v[i].sql, w, status);
	/* Held rows that the spool could not take: nothing is applied. */
	if (rc == SQLITE_OK && w->f != stdout && fflush(w->f) == EOF) {
		*status = cs_fail(errno, EX_IOERR, cs_spool_name());
		rc = SQLITE_ERROR;
	}
	if (rc == SQLITE_OK && !script.alone)
		rc = exec_simple(db, "COMMIT");
	errmsg[0] = '\0';
	if (rc != SQLITE_OK)
		strlcpy(errmsg, sqlite3_errmsg(db), sizeof(errmsg));
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
		exec_simple(db, "ROLLBACK");
	return rc;
}

/* ---- the database ---- */

/* The journal mode in DB's header (bytes 18 and 19 are 2 in WAL mode),
 * read without SQLite, which would open the WAL to answer. */
static bool
header_says_wal(const char *path)
{
	unsigned char h[20];
	int fd;
	bool wal;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	wal = pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
	    (h[18] == 2 || h[19] == 2);
	close(fd);
	return wal;
}

static int
open_db(sqlite3 **dbp, struct cs_backoff *b)
{
	struct stat st;
	const char *net;
	char *dir, *base;
	int flags, rc, r;

	if (stat(dbpath, &st) == -1) {
		if (errno != ENOENT || opt.no_create || opt.readonly ||
		    opt.check || opt.checkpoint != -1)
			return cs_fail(errno, EX_NOINPUT, dbpath);
		if (cs_split_path(dbpath, &dir, &base) == -1)
			return cs_fail(errno, EX_CANTCREAT, dbpath);
		if (stat(dir, &st) == -1) {
			free(dir);
			free(base);
			return cs_fail(errno, EX_CANTCREAT, dbpath);
		}
		net = cs_network_fs(dir, st.st_dev);
		free(dir);
		free(base);
		/* Creating it is a write. */
		if ((r = cs_locks_exclude(dbpath, dbpath)) != 0)
			return r;
	} else
		net = cs_network_fs(dbpath, st.st_dev);
	if (net != NULL && !opt.no_wal) {
		warnx("%s: on a network filesystem (%s): WAL needs shared "
		    "memory there is not; use --no-wal", dbpath, net);
		return EX_UNAVAILABLE;
	}
	flags = opt.readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	/* ":memory:" is a file name here too */
	rc = sqlite3_open_v2(strcmp(dbpath, ":memory:") == 0 ? "./:memory:" :
	    dbpath, dbp, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		int e = sqlite3_system_errno(*dbp);

		sqlite3_close(*dbp);
		*dbp = NULL;
		if (e != 0)
			return cs_fail(e, EX_CANTCREAT, dbpath);
		return fail(NULL, rc, NULL);
	}
	sqlite3_extended_result_codes(*dbp, 1);
	sqlite3_busy_handler(*dbp, busy_handler, b);
	return 0;
}

/* PRAGMA schema.journal_mode=MODE, waited for while the database is
 * busy; whether it took. */
static bool
set_journal(sqlite3 *db, const char *schema, const char *mode, int *rcp)
{
	sqlite3_stmt *st;
	const unsigned char *now;
	bool ok = false;
	int rc;
	char *sql;

	/* any schema name, quoted as SQLite quotes it */
	if ((sql = sqlite3_mprintf("PRAGMA \"%w\".journal_mode=%s", schema,
	    mode)) == NULL)
		err(EX_OSERR, NULL);
	do {
		if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) ==
		    SQLITE_OK) {
			if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				now = sqlite3_column_text(st, 0);
				ok = now != NULL &&
				    strcasecmp((const char *)now, mode) == 0;
				rc = SQLITE_OK;
			} else
				rc = sqlite3_extended_errcode(db);
			sqlite3_finalize(st);
		}
	} while (busy_again(rc));
	sqlite3_free(sql);
	*rcp = rc;
	return ok;
}

/*
 * The journal of one database (main, or one ATTACHed) at path: a writing
 * call puts main in WAL mode (once; it stays), unless --no-wal, which
 * takes a WAL database back to the rollback journal (or refuses, 69): it
 * never runs in WAL where WAL is unsafe. A call that only reads changes
 * nothing, nor does a lone VACUUM or checkpoint. 0 or an exit status.
 */
static int
journal(sqlite3 *db, const char *schema, const char *path, bool writes)
{
	int rc = SQLITE_OK;

	if (opt.no_wal && header_says_wal(path)) {
		if (opt.readonly) {
			warnx("%s: in WAL mode, which --no-wal says is unsafe "
			    "here; -r cannot switch it back", path);
			return EX_UNAVAILABLE;
		}
		if (!set_journal(db, schema, "DELETE", &rc)) {
			if (rc != SQLITE_OK && !is_busy(rc))
				return fail(db, rc, "journal_mode=DELETE");
			warnx("%s: in WAL mode, and still in use in it: not "
			    "run, as --no-wal says WAL is unsafe here", path);
			return EX_UNAVAILABLE;
		}
		return 0;
	}
	if (strcmp(schema, "main") != 0 || !writes || opt.readonly ||
	    opt.no_wal || script.journal || script.alone)
		return 0;
	if (!set_journal(db, schema, "WAL", &rc) && rc != SQLITE_OK)
		return fail(db, rc, "journal_mode=WAL");
	return 0;
}

/*
 * Every database the script uses, main and ATTACHed, where it is: a file
 * (an in-memory ATTACH would lose what is written to it), on a network
 * filesystem only without WAL (--no-wal); and, once whether the script
 * writes is known (all), on a FUSE network mount not written to (unless
 * --unsafe-shared-fs), its journal put right. 0 or an exit status.
 */
static int
databases(sqlite3 *db, bool all)
{
	sqlite3_stmt *st;
	struct stat sb;
	const char *schema, *file, *net;
	int rc, r = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA database_list", -1, &st, NULL) !=
	    SQLITE_OK)
		return fail(db, sqlite3_errcode(db), "database_list");
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		schema = (const char *)sqlite3_column_text(st, 1);
		file = (const char *)sqlite3_column_text(st, 2);
		if (schema == NULL || strcmp(schema, "temp") == 0)
			continue;
		if (file == NULL || *file == '\0') {
			warnx("%s: ATTACH of an in-memory database (%s): what is "
			    "written to it would be lost; use TEMP tables",
			    dbpath, schema);
			r = EX_DATAERR;
			break;
		}
		if (strcmp(schema, "main") != 0 && stat(file, &sb) == 0 &&
		    (net = cs_network_fs(file, sb.st_dev)) != NULL &&
		    !opt.no_wal) {
			warnx("%s: on a network filesystem (%s): WAL needs "
			    "shared memory there is not; use --no-wal", file,
			    net);
			r = EX_UNAVAILABLE;
			break;
		}
		if (!all)
			continue;
		/* Writing where locks reach no other client loses rows. */
		if (script.writes && !opt.readonly &&
		    (r = cs_locks_exclude(file, file)) != 0)
			break;
		r = journal(db, schema, file, script.writes);
	}
	sqlite3_finalize(st);
	return r;
}

/* synchronous, foreign_keys, and our busy handler kept: nothing echoed,
 * nothing written to the database. */
static int
setup(sqlite3 *db)
{
	int rc;

#ifdef CS_PLANT_NO_FSYNC
	/* make crashtest's planted bug: SQLite never fsyncs. */
	rc = exec_simple(db, "PRAGMA synchronous=OFF");
#else
	rc = exec_simple(db, opt.durable ? "PRAGMA synchronous=FULL" :
	    "PRAGMA synchronous=NORMAL");
#endif
	if (rc == SQLITE_OK)
		rc = exec_simple(db, "PRAGMA foreign_keys=ON");
	if (rc != SQLITE_OK)
		return fail(db, rc, NULL);
	sqlite3_set_authorizer(db, authorizer, NULL);
	return 0;
}

static int
checkpoint(sqlite3 *db)
{
	int rc, log = 0, done = 0;

	rc = sqlite3_wal_checkpoint_v2(db, NULL, opt.checkpoint, &log, &done);
	if (rc != SQLITE_OK)
		return fail(db, rc, "checkpoint");
	cs_info("%s: checkpointed %d of %d WAL frames", dbpath, done, log);
	return 0;
}

static int
check(sqlite3 *db)
{
	sqlite3_stmt *st;
	const unsigned char *msg;
	int rc, bad = 0;

	rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(db, rc, "quick_check");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		msg = sqlite3_column_text(st, 0);
		if (msg == NULL || strcmp((const char *)msg, "ok") != 0) {
			warnx("%s: %s", dbpath, msg ? (const char *)msg : "?");
			bad = 1;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(db, rc, "quick_check");
	if (bad)
		return EX_IOERR;
	cs_info("%s: ok", dbpath);
	return 0;
}

/*
 * The body, retried whole while the database is busy in any form
 * (BUSY_SNAPSHOT, BUSY_RECOVERY skip the busy handler). A writing body's
 * rows are held in a spool (memory, then disk) until COMMIT; a reading
 * body's rows stream. 0 or an exit status.
 */
static int
transact(sqlite3 *db)
{
	struct cs_backoff again;
	struct cs_sink held = { .fd = -1 };
	struct cs_rows w = { .format = opt.format, .header = opt.header,
	    .null = opt.null };
	sqlite3_int64 before = sqlite3_total_changes64(db);
	off_t n;
	int rc, status, failed;

	cs_backoff_init(&again, CS_MSEC, 2, 16 * CS_MSEC, CS_JITTER_FULL);
	for (;;) {
		w.f = stdout;
		if (script.writes && (cs_sink_open(&held) == -1 ||
		    (w.f = cs_sink_stream(&held)) == NULL))
			err(EX_OSERR, "output spool");
		rc = run_body(db, &w, &status);
		if (status != 0 || rc == SQLITE_OK || !is_busy(rc) ||
		    cs_now() >= deadline || (!script.writes && sets_out > 0))
			break;
		fclose(w.f);
		cs_sink_close(&held);
		cs_sleep(cs_backoff_next(&again), deadline, -1, NULL);
	}
	if (status == 0 && rc != SQLITE_OK)
		status = fail(db, rc, NULL);
	if (script.writes) {
		/* Committed: now the rows may be seen. */
		if (status == 0 && (lseek(held.fd, 0, SEEK_SET) == -1 ||
		    cs_copy_fd(held.fd, STDOUT_FILENO, &n, &failed) == -1)) {
			warn("stdout (the transaction was committed)");
			status = EX_IOERR;
		}
		fclose(w.f);
		cs_sink_close(&held);
	}
	if (status != 0)
		return status;
	if (opt.changes)
		printf("%lld\n", (long long)(sqlite3_total_changes64(db) -
		    before - fence_changes));
	if (fflush(stdout) == EOF || ferror(stdout)) {
		warn("stdout%s", script.writes ?
		    " (the transaction was committed)" : "");
		return EX_IOERR;
	}
	return 0;
}

/*
 * A script: open, set up, run the leading setup statements, look at the
 * body, check where the databases are and put their journals right, run
 * the body, then the trailing setup statements.
 */
static int
run(struct cs_backoff *busy)
{
	sqlite3 *db = NULL;
	int r;

	if ((r = open_db(&db, busy)) != 0)
		return r;
	/* --no-wal: out of WAL before anything reads through it */
	if (opt.no_wal && (r = journal(db, "main", dbpath, false)) != 0) {
		sqlite3_close(db);
		return r;
	}
	if ((r = setup(db)) == 0 && (r = run_setup(db)) == 0) {
		while ((r = survey(db)) < 0 && busy_again(-r))
			;
		if (r < 0)
			r = fail(db, -r, NULL);
	}
	if (r == 0)
		r = databases(db, true);
	if (r == 0)
		r = transact(db);
	if (r == 0)
		ecs_close_stdout();
	sqlite3_close(db);
	return r;
}

/* --check, --checkpoint: no SQL, nothing else changed. */
static int
maintain(struct cs_backoff *busy)
{
	sqlite3 *db = NULL;
	int r;

	if ((r = open_db(&db, busy)) == 0 && (r = setup(db)) == 0)
		r = opt.check ? check(db) : checkpoint(db);
	sqlite3_close(db);
	return r;
}

/* The SQL (argument, -f SCRIPT or stdin), and the values after it. */
static char *
read_sql(int argc, char *argv[])
{
	char *sql;
	size_t len;

	if (opt.file != NULL)
		sql = read_file(opt.file, &len);
	else if (argc > 0) {
		if ((sql = strdup(argv[0])) == NULL)
			err(EX_OSERR, NULL);
		len = strlen(sql);
		argc--, argv++;
	} else
		sql = read_file("-", &len);
	/* SQLite would stop at it, and the rest would never run */
	if (strlen(sql) != len)
		errx(EX_DATAERR, "%s: a NUL byte at byte %zu of the script",
		    opt.file != NULL ? opt.file : "stdin", strlen(sql) + 1);
	params.pos = argv;
	params.npos = (size_t)argc;
	if ((params.pos_used = calloc(params.npos + 1, sizeof(bool))) == NULL)
		err(EX_OSERR, NULL);
	return sql;
}

int
main(int argc, char *argv[])
{
	struct cs_backoff busy;
	char *sql;
	size_t i;
	int r;

	/* DB and ATTACH names are file names, never URIs (SPEC 6). */
	sqlite3_config(SQLITE_CONFIG_URI, 0);
	parse_options(argc, argv);
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		warnx("missing database operand");
		usage(EX_USAGE);
	}
	dbpath = argv[0];
	if (*dbpath == '\0') {
		warnx("empty database name");
		usage(EX_USAGE);
	}
	argc--, argv++;
	cs_tool_init();
	deadline = cs_deadline(opt.timeout);
	cs_backoff_init(&busy, CS_MSEC, 2, 8 * CS_MSEC, CS_JITTER_FULL);
	if (opt.nfence > 0 && (opt.readonly || opt.check ||
	    opt.checkpoint != -1)) {
		warnx("--fence records its token: not with %s", opt.readonly ?
		    "-r" : opt.check ? "--check" : "--checkpoint");
		usage(EX_USAGE);
	}
	if (opt.check || opt.checkpoint != -1) {
		if (argc > 0 || opt.file != NULL) {
			warnx("--check and --checkpoint take no SQL");
			usage(EX_USAGE);
		}
		return maintain(&busy);
	}

	sql = read_sql(argc, argv);
	split_script(sql);
	if ((r = place_statements()) == 0)
		r = run(&busy);
	for (i = 0; i < params.nnamed; i++)
		free(params.named[i].blob);
	free(params.named);
	free(fences);
	free(params.pos_used);
	free(script.v);
	free(sql);
	return r;
}
