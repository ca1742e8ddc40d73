/*
 * sqlwal - SQLite from shell scripts, safely under concurrency: WAL, the
 * suite's own busy handler, the whole script as one transaction (BEGIN
 * IMMEDIATE when it writes), retried whole on SQLITE_BUSY in every form,
 * parameters bound and never spliced into the SQL.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <err.h>
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

enum { OPT_FORMAT = CHAR_MAX + 1, OPT_NULL, OPT_NO_WAL, OPT_NO_CREATE,
	OPT_CHECKPOINT, OPT_CHECK, OPT_DURABLE, OPT_VERSION };

static const struct option longopts[] = {
	{ "changes",	no_argument,		NULL, 'c' },
	{ "check",	no_argument,		NULL, OPT_CHECK },
	{ "checkpoint",	required_argument,	NULL, OPT_CHECKPOINT },
	{ "durable",	no_argument,		NULL, OPT_DURABLE },
	{ "file",	required_argument,	NULL, 'f' },
	{ "format",	required_argument,	NULL, OPT_FORMAT },
	{ "header",	no_argument,		NULL, 'H' },
	{ "help",	no_argument,		NULL, 'h' },
	{ "no-create",	no_argument,		NULL, OPT_NO_CREATE },
	{ "no-wal",	no_argument,		NULL, OPT_NO_WAL },
	{ "null",	required_argument,	NULL, OPT_NULL },
	{ "param",	required_argument,	NULL, 'p' },
	{ "quiet",	no_argument,		NULL, 'q' },
	{ "readonly",	no_argument,		NULL, 'r' },
	{ "timeout",	required_argument,	NULL, 't' },
	{ "verbose",	no_argument,		NULL, 'v' },
	{ "version",	no_argument,		NULL, OPT_VERSION },
	{ NULL,		0,			NULL, 0 }
};

static const char synopsis[] =
"usage: sqlwal [-cHqrv] [-p name[:type]=value] [-t timeout] [--format format]\n"
"              [--null string] [--no-wal] [--no-create] [--durable] db\n"
"              [sql [param ...]]\n"
"       sqlwal [-cHqrv] [-p name[:type]=value] [-t timeout] [--format format]\n"
"              [--null string] [--no-wal] [--no-create] [--durable] -f script\n"
"              db [param ...]\n"
"       sqlwal [-qv] [-t timeout] --checkpoint mode | --check db\n";

static const char options_help[] =
"\nRun SQL (argument, -f SCRIPT, or stdin) against DB as one transaction.\n"
"  -f, --file SCRIPT          read the SQL from SCRIPT (- is stdin)\n"
"  -p, --param NAME[:TYPE]=V  bind :NAME @NAME $NAME; TYPE int, real, text,\n"
"                             null (no =V), blob (=@FILE)\n"
"      --format FMT           tsv (default), csv, json, jsonl, table\n"
"  -H, --header               column names first (tsv, csv, table)\n"
"      --null STR             how NULL is shown in tsv, csv, table\n"
"  -t, --timeout DURATION     longest wait for the database (10s)\n"
"  -r, --readonly             open read-only\n"
"      --no-wal               keep the rollback journal (network filesystems)\n"
"      --no-create            a missing DB is an error (66)\n"
"      --checkpoint MODE      PASSIVE, FULL, RESTART or TRUNCATE\n"
"      --check                quick_check; exit 74 unless ok\n"
"  -c, --changes              print the number of rows changed\n"
"      --durable              synchronous=FULL\n";

enum format { F_TSV, F_CSV, F_JSON, F_JSONL, F_TABLE };

struct param {
	const char	*name;		/* without its : @ $ prefix */
	int		 type;		/* SQLITE_TEXT, _INTEGER, _FLOAT, _NULL, _BLOB */
	const char	*text;
	sqlite3_int64	 i;
	double		 r;
	void		*blob;
	size_t		 len;
	bool		 used;
};

static struct {
	const char	*file;
	struct param	*named;
	size_t		 nnamed;
	enum format	 format;
	bool		 header;
	const char	*null;
	cs_nsec		 timeout;
	bool		 readonly, no_wal, no_create, check, changes, durable;
	int		 checkpoint;	/* -1: none */
} opt = { .format = F_TSV, .null = "", .timeout = 10 * CS_SEC,
	.checkpoint = -1 };

static const char *dbpath;
static cs_nsec deadline;
static char errmsg[512];		/* kept across the ROLLBACK that follows */
static bool busy_pragma_denied;

static CS_NORETURN void
usage(int status)
{
	cs_usage(status, synopsis, options_help);
}

/* A strict decimal (sign and exponent allowed, as SQL has them). */
static int
parse_sqlreal(const char *s, double *out)
{
	char *end;

	if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	return *end == '\0' && errno == 0 && isfinite(*out) ? 0 : -1;
}

static void *
read_file(const char *path, size_t *lenp)
{
	struct stat st;
	char *buf = NULL;
	off_t n = 0;
	int fd, mfd, failed;

	fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) :
	    open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		err(errno == ENOENT ? EX_NOINPUT : cs_exit_for_errno(errno,
		    EX_NOINPUT), "%s", path);
	/* Through a memory file: works for pipes and files alike. */
	if ((mfd = cs_memfile("sqlwal-input")) == -1 ||
	    cs_copy_fd(fd, mfd, &n, &failed) == -1 || fstat(mfd, &st) == -1)
		err(cs_exit_for_errno(errno, EX_NOINPUT), "%s", path);
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL ||
	    pread(mfd, buf, (size_t)st.st_size, 0) != st.st_size)
		err(EX_OSERR, "%s", path);
	buf[st.st_size] = '\0';
	*lenp = (size_t)st.st_size;
	close(fd);
	close(mfd);
	return buf;
}

/* -p NAME[:TYPE]=VALUE */
static void
add_param(char *arg)
{
	struct param *p;
	char *eq, *colon, *type = NULL;

	opt.named = reallocarray(opt.named, opt.nnamed + 1, sizeof(*p));
	if (opt.named == NULL)
		err(EX_OSERR, NULL);
	p = &opt.named[opt.nnamed++];
	memset(p, 0, sizeof(*p));
	eq = strchr(arg, '=');
	if (eq != NULL)
		*eq = '\0';
	if ((colon = strchr(arg, ':')) != NULL) {
		*colon = '\0';
		type = colon + 1;
	}
	if (*arg == ':' || *arg == '@' || *arg == '$')
		arg++;
	p->name = arg;
	if (*p->name == '\0' || strspn(p->name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(p->name))
		errx(EX_USAGE, "param: invalid name: '%s'", p->name);
	for (size_t i = 0; i + 1 < opt.nnamed; i++)
		if (strcmp(opt.named[i].name, p->name) == 0)
			errx(EX_USAGE, "param: %s given twice", p->name);
	if (type != NULL && strcmp(type, "null") == 0) {
		if (eq != NULL)
			errx(EX_USAGE, "param: %s:null takes no value", p->name);
		p->type = SQLITE_NULL;
		return;
	}
	if (eq == NULL)
		errx(EX_USAGE, "param: %s needs =VALUE", p->name);
	p->text = eq + 1;
	if (type == NULL || strcmp(type, "text") == 0)
		p->type = SQLITE_TEXT;
	else if (strcmp(type, "int") == 0) {
		const char *errstr;

		p->type = SQLITE_INTEGER;
		p->i = strtonum(p->text, LLONG_MIN, LLONG_MAX, &errstr);
		if (errstr != NULL)
			errx(EX_USAGE, "param: %s: %s integer: '%s'", p->name,
			    errstr, p->text);
	} else if (strcmp(type, "real") == 0) {
		p->type = SQLITE_FLOAT;
		if (parse_sqlreal(p->text, &p->r) == -1)
			errx(EX_USAGE, "param: %s: invalid real: '%s'", p->name,
			    p->text);
	} else if (strcmp(type, "blob") == 0) {
		p->type = SQLITE_BLOB;
		if (p->text[0] != '@')
			errx(EX_USAGE, "param: %s: a blob is =@FILE", p->name);
		p->blob = read_file(p->text + 1, &p->len);
	} else
		errx(EX_USAGE, "param: %s: unknown type '%s' (int, real, "
		    "text, null, blob)", p->name, type);
}

static void
parse_options(int argc, char *argv[])
{
	static const char *const formats[] = { "tsv", "csv", "json", "jsonl",
	    "table" };
	static const char *const modes[] = { "PASSIVE", "FULL", "RESTART",
	    "TRUNCATE" };
	size_t i;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:cf:Hhp:qrt:v", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			opt.changes = true;
			break;
		case 'f':
			opt.file = optarg;
			break;
		case 'H':
			opt.header = true;
			break;
		case 'h':
			usage(0);
		case 'p':
			add_param(optarg);
			break;
		case 'q':
			cs_verbosity = -1;
			break;
		case 'r':
			opt.readonly = true;
			break;
		case 't':
			opt.timeout = ecs_duration(optarg, true, "timeout");
			break;
		case 'v':
			cs_verbosity = 1;
			break;
		case OPT_FORMAT:
			for (i = 0; i < 5 && strcmp(optarg, formats[i]); i++)
				;
			if (i == 5)
				errx(EX_USAGE, "format: '%s' is not tsv, csv, "
				    "json, jsonl or table", optarg);
			opt.format = (enum format)i;
			break;
		case OPT_NULL:
			opt.null = optarg;
			break;
		case OPT_NO_WAL:
			opt.no_wal = true;
			break;
		case OPT_NO_CREATE:
			opt.no_create = true;
			break;
		case OPT_CHECKPOINT:
			for (i = 0; i < 4 && strcasecmp(optarg, modes[i]); i++)
				;
			if (i == 4)
				errx(EX_USAGE, "checkpoint: '%s' is not PASSIVE, "
				    "FULL, RESTART or TRUNCATE", optarg);
			opt.checkpoint = (int)i;	/* SQLITE_CHECKPOINT_* */
			break;
		case OPT_CHECK:
			opt.check = true;
			break;
		case OPT_DURABLE:
			opt.durable = true;
			break;
		case OPT_VERSION: {
			char v[64];

			snprintf(v, sizeof(v), " (SQLite %s)",
			    sqlite3_libversion());
			cs_version(v);
		}
		default:
			cs_bad_option(ch, argv, synopsis);
		}
	}
}

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
	(void)arg, (void)a3, (void)a4;
	if (action == SQLITE_PRAGMA && a1 != NULL &&
	    sqlite3_stricmp(a1, "busy_timeout") == 0 && a2 != NULL) {
		busy_pragma_denied = true;
		return SQLITE_DENY;
	}
	return SQLITE_OK;
}

/* ---- output ---- */

struct out {
	FILE		*f;
	bool		 any_json;	/* json: an array is open */
	bool		 first_row;
	/* table: rows kept until the statement is done */
	char		**cells;
	size_t		 ncells, cap;
	int		 ncols;
};

static void
put_value(struct out *o, sqlite3_stmt *st, int i, bool json)
{
	const void *p;
	int n;

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		if (json)
			fputs("null", o->f);
		else if (opt.format == F_CSV)
			cs_put_csv_field(o->f, opt.null, strlen(opt.null));
		else
			cs_put_tsv_field(o->f, opt.null, strlen(opt.null));
		return;
	case SQLITE_INTEGER:
		fprintf(o->f, "%lld", (long long)sqlite3_column_int64(st, i));
		return;
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(st, i);

		if (json && !isfinite(d))
			fputs("null", o->f);
		else
			fprintf(o->f, "%.17g", d);
		return;
	}
	case SQLITE_BLOB:
		p = sqlite3_column_blob(st, i);
		n = sqlite3_column_bytes(st, i);
		if (json) {
			putc('"', o->f);
			cs_put_base64(o->f, p, (size_t)n);
			putc('"', o->f);
		} else
			cs_put_hex(o->f, p, (size_t)n);
		return;
	default:
		p = sqlite3_column_text(st, i);
		n = sqlite3_column_bytes(st, i);
		if (json)
			cs_put_json_string(o->f, p, (size_t)n);
		else if (opt.format == F_CSV)
			cs_put_csv_field(o->f, p, (size_t)n);
		else
			cs_put_tsv_field(o->f, p, (size_t)n);
	}
}

/* A cell of the table format, as text. */
static char *
cell_text(sqlite3_stmt *st, int i)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f;
	struct out tmp = { 0 };

	if ((f = open_memstream(&s, &len)) == NULL)
		err(EX_OSERR, NULL);
	tmp.f = f;
	put_value(&tmp, st, i, false);
	fclose(f);
	return s;
}

static void
table_keep(struct out *o, char *s)
{
	if (o->ncells == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 64;
		if ((o->cells = reallocarray(o->cells, o->cap,
		    sizeof(char *))) == NULL)
			err(EX_OSERR, NULL);
	}
	o->cells[o->ncells++] = s;
}

static void
table_flush(struct out *o)
{
	size_t *w, i;
	int c;

	if (o->ncols == 0 || o->ncells == 0)
		goto done;
	if ((w = calloc((size_t)o->ncols, sizeof(*w))) == NULL)
		err(EX_OSERR, NULL);
	for (i = 0; i < o->ncells; i++)
		if (strlen(o->cells[i]) > w[i % (size_t)o->ncols])
			w[i % (size_t)o->ncols] = strlen(o->cells[i]);
	for (i = 0; i < o->ncells; i++) {
		c = (int)(i % (size_t)o->ncols);
		fprintf(o->f, "%s%-*s", c ? "  " : "",
		    c == o->ncols - 1 ? 0 : (int)w[c], o->cells[i]);
		if (c == o->ncols - 1)
			putc('\n', o->f);
	}
	free(w);
done:
	for (i = 0; i < o->ncells; i++)
		free(o->cells[i]);
	o->ncells = 0;
	o->ncols = 0;
}

static void
put_row(struct out *o, sqlite3_stmt *st, bool first)
{
	int i, n = sqlite3_column_count(st);
	const char *name;

	switch (opt.format) {
	case F_JSON:
	case F_JSONL:
		if (opt.format == F_JSON)
			fputs(first ? "[" : ",\n", o->f);
		putc('{', o->f);
		for (i = 0; i < n; i++) {
			name = sqlite3_column_name(st, i);
			if (i > 0)
				putc(',', o->f);
			cs_put_json_string(o->f, name, strlen(name));
			putc(':', o->f);
			put_value(o, st, i, true);
		}
		putc('}', o->f);
		if (opt.format == F_JSONL)
			putc('\n', o->f);
		return;
	case F_TABLE:
		o->ncols = n;
		if (first && opt.header) {
			for (i = 0; i < n; i++) {
				char *h = strdup(sqlite3_column_name(st, i));

				if (h == NULL)
					err(EX_OSERR, NULL);
				table_keep(o, h);
			}
		}
		for (i = 0; i < n; i++)
			table_keep(o, cell_text(st, i));
		return;
	default:
		if (first && opt.header) {
			for (i = 0; i < n; i++) {
				name = sqlite3_column_name(st, i);
				if (i > 0)
					putc(opt.format == F_CSV ? ',' : '\t', o->f);
				if (opt.format == F_CSV)
					cs_put_csv_field(o->f, name, strlen(name));
				else
					cs_put_tsv_field(o->f, name, strlen(name));
			}
			fputs(opt.format == F_CSV ? "\r\n" : "\n", o->f);
		}
		for (i = 0; i < n; i++) {
			if (i > 0)
				putc(opt.format == F_CSV ? ',' : '\t', o->f);
			put_value(o, st, i, false);
		}
		fputs(opt.format == F_CSV ? "\r\n" : "\n", o->f);
	}
}

static void
end_rows(struct out *o, bool any)
{
	if (!any)
		return;
	if (opt.format == F_JSON)
		fputs("]\n", o->f);
	else if (opt.format == F_TABLE)
		table_flush(o);
}

/* ---- binding ---- */

static size_t nargs;
static char **args;
static bool *arg_used;

/* Bind every parameter of st; 65 with a message if one has no value. */
static int
bind_all(sqlite3 *db, sqlite3_stmt *st)
{
	struct param *p;
	const char *name;
	size_t k;
	int i, n, idx, rc = SQLITE_OK;

	n = sqlite3_bind_parameter_count(st);
	for (i = 1; i <= n && rc == SQLITE_OK; i++) {
		name = sqlite3_bind_parameter_name(st, i);
		if (name == NULL || name[0] == '?') {
			/* ?, ?NNN: the NNN-th positional PARAM */
			idx = name == NULL || name[1] == '\0' ? i : atoi(name + 1);
			if (idx < 1 || (size_t)idx > nargs) {
				warnx("%s: no value for parameter ?%d (%zu given)",
				    dbpath, idx, nargs);
				return EX_DATAERR;
			}
			arg_used[idx - 1] = true;
			rc = sqlite3_bind_text(st, i, args[idx - 1], -1,
			    SQLITE_STATIC);
			continue;
		}
		for (k = 0, p = NULL; k < opt.nnamed; k++)
			if (strcmp(opt.named[k].name, name + 1) == 0)
				p = &opt.named[k];
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

/* ---- the transaction ---- */

/* First word of a statement, upper-cased, for the few checks needing it. */
static void
first_word(const char *sql, char *w, size_t len)
{
	size_t i = 0;

	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r')
		sql++;
	while (i + 1 < len && ((*sql >= 'a' && *sql <= 'z') ||
	    (*sql >= 'A' && *sql <= 'Z')))
		w[i++] = (char)(*sql++ & ~0x20);
	w[i] = '\0';
}

/*
 * Look at the script without running it: how many statements, whether any
 * writes, whether every parameter has a value. A statement that cannot be
 * prepared yet (it needs a table an earlier one creates) means the script
 * writes. Returns 0, or an exit status.
 */
static int
survey(sqlite3 *db, const char *sql, int *nstmt, bool *writes, bool *lone,
    bool *complete)
{
	sqlite3_stmt *st;
	const char *tail = sql;
	char word[16];
	int rc, r;

	*nstmt = 0;
	*writes = false;
	*lone = false;
	*complete = false;
	while (*tail != '\0') {
		rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
		if (is_busy(rc))
			return fail(db, rc, NULL);
		if (rc != SQLITE_OK) {
			/* Maybe a table created earlier in the script. */
			if (*nstmt > 0 && *writes)
				return 0;
			return fail(db, rc, NULL);
		}
		if (st == NULL)
			continue;	/* whitespace or a comment */
		(*nstmt)++;
		if (!sqlite3_stmt_readonly(st))
			*writes = true;
		first_word(sqlite3_sql(st), word, sizeof(word));
		*lone = strcmp(word, "VACUUM") == 0 ||
		    strcmp(word, "PRAGMA") == 0 || strcmp(word, "ATTACH") == 0 ||
		    strcmp(word, "DETACH") == 0;
		r = bind_all(db, st);
		sqlite3_finalize(st);
		if (r != 0)
			return r;
	}
	if (*nstmt != 1)
		*lone = false;
	*complete = true;
	return 0;
}

static int
exec_simple(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/*
 * One attempt at the whole script. Output goes to o (a spool released only
 * on commit). Returns an SQLite code; *status is set for non-SQLite errors.
 */
static int
run_script(sqlite3 *db, const char *sql, bool writes, bool lone,
    struct out *o, int *status)
{
	sqlite3_stmt *st;
	const char *tail = sql;
	int rc = SQLITE_OK, r;
	bool first, any;

	*status = 0;
	if (!lone) {
		rc = exec_simple(db, writes ? "BEGIN IMMEDIATE" : "BEGIN");
		if (rc != SQLITE_OK)
			return rc;
	}
	while (*tail != '\0') {
		rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
		if (rc != SQLITE_OK)
			break;
		if (st == NULL)
			continue;
		if ((r = bind_all(db, st)) != 0) {
			sqlite3_finalize(st);
			*status = r;
			rc = SQLITE_ERROR;
			break;
		}
		first = true;
		any = false;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			put_row(o, st, first);
			first = false;
			any = true;
		}
		end_rows(o, any);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		if (rc != SQLITE_OK) {
			/* sqlite3_finalize would lose the extended code */
			rc = sqlite3_extended_errcode(db);
			sqlite3_finalize(st);
			break;
		}
		sqlite3_finalize(st);
	}
	if (rc == SQLITE_OK && !lone)
		rc = exec_simple(db, "COMMIT");
	errmsg[0] = '\0';
	if (rc != SQLITE_OK)
		strlcpy(errmsg, sqlite3_errmsg(db), sizeof(errmsg));
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
		exec_simple(db, "ROLLBACK");
	return rc;
}

static int
open_db(sqlite3 **dbp, struct cs_backoff *b)
{
	struct stat st;
	const char *net;
	char *dir, *base;
	int flags, rc;

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
	} else
		net = cs_network_fs(dbpath, st.st_dev);
	if (net != NULL && !opt.no_wal) {
		warnx("%s: on a network filesystem (%s): WAL needs shared "
		    "memory there is not; use --no-wal", dbpath, net);
		return EX_UNAVAILABLE;
	}
	flags = opt.readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(dbpath, dbp, flags | SQLITE_OPEN_NOMUTEX, NULL);
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

/* journal_mode, synchronous, foreign_keys: nothing echoed. */
static int
setup(sqlite3 *db)
{
	int rc;

	if (!opt.readonly && !opt.no_wal) {
		for (;;) {
			rc = exec_simple(db, "PRAGMA journal_mode=WAL");
			if (!is_busy(rc) || cs_now() >= deadline)
				break;
			cs_sleep(2 * CS_MSEC, deadline, -1, NULL);
		}
		if (rc != SQLITE_OK)
			return fail(db, rc, "journal_mode=WAL");
	}
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

int
main(int argc, char *argv[])
{
	struct cs_backoff busy, again;
	struct out o = { 0 };
	sqlite3 *db = NULL;
	char *sql = NULL;
	size_t len, i;
	sqlite3_int64 before;
	bool writes, lone, complete;
	int spool, nstmt, rc, r, status;
	off_t n;

	parse_options(argc, argv);
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		warnx("missing database operand");
		usage(EX_USAGE);
	}
	dbpath = argv[0];
	argc--, argv++;
	cs_tool_init();
	deadline = cs_deadline(opt.timeout);
	cs_backoff_init(&busy, CS_MSEC, 2, 8 * CS_MSEC, CS_JITTER_FULL);
	cs_backoff_init(&again, CS_MSEC, 2, 16 * CS_MSEC, CS_JITTER_FULL);

	if (opt.check || opt.checkpoint != -1) {
		if (argc > 0 || opt.file != NULL) {
			warnx("--check and --checkpoint take no SQL");
			usage(EX_USAGE);
		}
		if ((r = open_db(&db, &busy)) == 0 && (r = setup(db)) == 0)
			r = opt.check ? check(db) : checkpoint(db);
		sqlite3_close(db);
		return r;
	}

	/* The SQL, and the positional parameters after it. */
	if (opt.file != NULL)
		sql = read_file(opt.file, &len);
	else if (argc > 0) {
		if ((sql = strdup(argv[0])) == NULL)
			err(EX_OSERR, NULL);
		argc--, argv++;
	} else
		sql = read_file("-", &len);
	nargs = (size_t)argc;
	args = argv;
	if ((arg_used = calloc(nargs + 1, sizeof(bool))) == NULL)
		err(EX_OSERR, NULL);

	if ((r = open_db(&db, &busy)) != 0 || (r = setup(db)) != 0)
		goto out;
	/* Everything referenced must have a value before anything runs. */
	do {
		r = survey(db, sql, &nstmt, &writes, &lone, &complete);
	} while (r == EX_TEMPFAIL && cs_now() < deadline);
	if (r != 0)
		goto out;
	/* A value with nowhere to go is a mistake too (complete: when
	 * every statement could be looked at before running). */
	for (i = 0; complete && i < nargs; i++)
		if (!arg_used[i]) {
			warnx("%s: parameter %zu has no placeholder", dbpath,
			    i + 1);
			r = EX_DATAERR;
			goto out;
		}
	for (i = 0; complete && i < opt.nnamed; i++)
		if (!opt.named[i].used) {
			warnx("%s: parameter %s has no placeholder", dbpath,
			    opt.named[i].name);
			r = EX_DATAERR;
			goto out;
		}

	/* The whole script, retried whole while the database is busy in
	 * any form (BUSY_SNAPSHOT, BUSY_RECOVERY skip the busy handler). */
	before = sqlite3_total_changes64(db);
	for (;;) {
		if ((spool = cs_memfile("sqlwal-out")) == -1 ||
		    (o.f = fdopen(spool, "w+")) == NULL)
			err(EX_OSERR, "output spool");
		rc = run_script(db, sql, writes, lone, &o, &status);
		if (status != 0) {
			r = status;
			break;
		}
		if (rc == SQLITE_OK || !is_busy(rc) || cs_now() >= deadline)
			break;
		fclose(o.f);
		cs_sleep(cs_backoff_next(&again), deadline, -1, NULL);
	}
	if (status == 0 && rc != SQLITE_OK)
		r = fail(db, rc, NULL);
	else if (status == 0) {
		/* Committed: now the rows may be seen. */
		if (fflush(o.f) == EOF || lseek(spool, 0, SEEK_SET) == -1 ||
		    cs_copy_fd(spool, STDOUT_FILENO, &n, &nstmt) == -1)
			err(EX_IOERR, "stdout");
		if (opt.changes)
			printf("%lld\n", (long long)(sqlite3_total_changes64(db)
			    - before));
		ecs_close_stdout();
	}
	fclose(o.f);
	free(o.cells);
out:
	for (i = 0; i < opt.nnamed; i++)
		free(opt.named[i].blob);
	free(opt.named);
	free(arg_used);
	free(sql);
	sqlite3_close(db);
	return r;
}
