/* SPDX-License-Identifier: ISC */
/*
 * sqlwal-options.c - sqlwal's command line: the options, their help, and
 * parse_options, which fills opt, params and fences (see sqlwal.h).
 */

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crashsafe.h"
#include "sqlwal.h"

static int	parse_sqlreal(const char *s, double *out);
static void	add_param(char *arg);
static void	add_fence(char *arg);

enum { OPT_FORMAT = CHAR_MAX + 1, OPT_NULL, OPT_NO_WAL, OPT_NO_CREATE,
	OPT_CHECKPOINT, OPT_CHECK, OPT_DURABLE, OPT_FENCE };

static const struct option longopts[] = {
	{ "changes",	no_argument,		NULL, 'c' },
	{ "check",	no_argument,		NULL, OPT_CHECK },
	{ "checkpoint",	required_argument,	NULL, OPT_CHECKPOINT },
	{ "durable",	no_argument,		NULL, OPT_DURABLE },
	{ "fence",	required_argument,	NULL, OPT_FENCE },
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
	{ "unsafe-shared-fs", no_argument,	NULL, CS_OPT_UNSAFE_SHARED },
	{ "verbose",	no_argument,		NULL, 'v' },
	{ "version",	no_argument,		NULL, CS_OPT_VERSION },
	{ NULL,		0,			NULL, 0 }
};

static const char synopsis[] =
"usage: sqlwal [-cHqrv] [-p name[:type]=value] [-t timeout] [--format format]\n"
"              [--null string] [--no-wal] [--no-create] [--durable]\n"
"              [--fence name=token] [--unsafe-shared-fs] db [sql [param ...]]\n"
"       sqlwal [-cHqrv] [-p name[:type]=value] [-t timeout] [--format format]\n"
"              [--null string] [--no-wal] [--no-create] [--durable]\n"
"              [--fence name=token] [--unsafe-shared-fs] -f script db\n"
"              [param ...]\n"
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
"      --no-wal               the rollback journal (network filesystems); a\n"
"                             WAL database is switched back\n"
"      --unsafe-shared-fs     write even where locks do not reach other clients\n"
"      --no-create            a missing DB is an error (66)\n"
"      --checkpoint MODE      PASSIVE, FULL, RESTART or TRUNCATE\n"
"      --check                quick_check; exit 74 unless ok\n"
"  -c, --changes              print the number of rows changed\n"
"      --durable              synchronous=FULL\n"
"      --fence NAME=TOKEN     refuse (75) a TOKEN lower than the one recorded\n"
"                             for NAME in DB, else record it with the script\n"
"  -q, --quiet                no warnings\n"
"  -v, --verbose              report what --check and --checkpoint found\n";

struct sqlwal_params params;
struct fence *fences;
struct sqlwal_opt opt = { .format = CS_ROWS_TSV, .null = "", .timeout = 10 * CS_SEC,
	.checkpoint = -1 };

CS_NORETURN void
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

void *
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

	params.named = reallocarray(params.named, params.nnamed + 1, sizeof(*p));
	if (params.named == NULL)
		err(EX_OSERR, NULL);
	p = &params.named[params.nnamed++];
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
	for (size_t i = 0; i + 1 < params.nnamed; i++)
		if (strcmp(params.named[i].name, p->name) == 0)
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

/*
 * --fence NAME=TOKEN, split at the last '=' (a token has none). The
 * token is plain decimal, 0 to INT64_MAX: strtonum alone would take a
 * sign or leading blanks, and an empty one is most likely an unset
 * CRASHSAFE_LOCK_TOKEN, which must not pass as 0.
 */
static void
add_fence(char *arg)
{
	struct fence *f;
	const char *errstr, *token;
	char *eq;
	size_t i;

	if ((eq = strrchr(arg, '=')) == NULL)
		errx(EX_USAGE, "fence: '%s' is not NAME=TOKEN", arg);
	*eq = '\0';
	token = eq + 1;
	if (*arg == '\0')
		errx(EX_USAGE, "fence: empty name in '=%s'", token);
	if (*token == '\0')
		errx(EX_USAGE, "fence: %s: empty token (is CRASHSAFE_LOCK_TOKEN "
		    "set?)", arg);
	if (strspn(token, "0123456789") != strlen(token))
		errx(EX_USAGE, "fence: %s: token '%s' is not a decimal number",
		    arg, token);
	for (i = 0; i < opt.nfence; i++)
		if (strcmp(fences[i].name, arg) == 0)
			errx(EX_USAGE, "fence: %s given twice", arg);
	if ((f = reallocarray(fences, opt.nfence + 1, sizeof(*f))) == NULL)
		err(EX_OSERR, NULL);
	fences = f;
	f = &fences[opt.nfence];
	f->name = arg;
	f->token = strtonum(token, 0, LLONG_MAX, &errstr);
	if (errstr != NULL)
		errx(EX_USAGE, "fence: %s: token '%s' is %s", arg, token,
		    errstr);
	opt.nfence++;
}

void
parse_options(int argc, char *argv[])
{
	static const char *const formats[] = {
		[CS_ROWS_TSV] = "tsv", [CS_ROWS_CSV] = "csv",
		[CS_ROWS_JSON] = "json", [CS_ROWS_JSONL] = "jsonl",
		[CS_ROWS_TABLE] = "table",
	};
	static const char *const modes[] = {
		[SQLITE_CHECKPOINT_PASSIVE] = "PASSIVE",
		[SQLITE_CHECKPOINT_FULL] = "FULL",
		[SQLITE_CHECKPOINT_RESTART] = "RESTART",
		[SQLITE_CHECKPOINT_TRUNCATE] = "TRUNCATE",
	};
	char version[64];
	int ch, i;

	snprintf(version, sizeof(version), " (SQLite %s)", sqlite3_libversion());
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
		case 'p':
			add_param(optarg);
			break;
		case 'r':
			opt.readonly = true;
			break;
		case 't':
			opt.timeout = ecs_duration(optarg, true, "timeout");
			break;
		case OPT_FORMAT:
			i = cs_parse_word(optarg, formats, CS_NWORDS(formats),
			    false);
			if (i == -1)
				errx(EX_USAGE, "format: '%s' is not tsv, csv, "
				    "json, jsonl or table", optarg);
			opt.format = (enum cs_rows_format)i;
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
			i = cs_parse_word(optarg, modes, CS_NWORDS(modes), true);
			if (i == -1)
				errx(EX_USAGE, "checkpoint: '%s' is not PASSIVE, "
				    "FULL, RESTART or TRUNCATE", optarg);
			opt.checkpoint = i;	/* SQLITE_CHECKPOINT_* */
			break;
		case OPT_CHECK:
			opt.check = true;
			break;
		case OPT_DURABLE:
			opt.durable = true;
			break;
		case OPT_FENCE:
			add_fence(optarg);
			break;
		default:
			cs_option(ch, argv, synopsis, options_help, version);
		}
	}
}
