/* SPDX-License-Identifier: ISC */
/*
 * etcd.c - a lock on an etcd cluster (SPEC 8), through its v3 HTTP/JSON
 * gateway: libcurl speaks HTTP, jansson JSON, libresolv's b64_ntop and
 * b64_pton base64. Only withlock-etcd links this file: a local lock does
 * not load any of them.
 *
 * The lock is etcd's own recipe (the key NAME/LEASE in hex, attached to
 * the lease; the oldest such key holds it; a waiter watches the key just
 * older than its own), so `etcdctl lock NAME` and we exclude each other. The lease is kept alive by a thread from the moment it is
 * granted, every TTL/3, through whichever endpoint answers. The lease
 * runs out on the cluster no sooner than TTL after the last keepalive
 * that it confirmed was sent; the thread declares it lost (lost_fd turns
 * readable) at TTL - grace - margin after that send, so that the command
 * can be stopped, TERM then KILL after grace, before anyone else can be
 * given the lock. The clock is CLOCK_BOOTTIME: a machine that slept was
 * not keeping the lease alive either.
 *
 * The token is the lock key's create_revision: it grows with every new
 * holder, across the whole cluster.
 */
#include <sys/param.h>

#include <netinet/in.h>

#include <curl/curl.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crashsafe.h"

#define MAX_REPLY	(1 << 20)	/* a gateway reply we read, at most */
#define RETRY_GAP	(100 * CS_MSEC)	/* between rounds of all endpoints */
#define WATCH_SLICE	CS_SEC		/* a waiter looks again at least this often */
#define END_GRACE	CS_SEC		/* a waiter's requests and revoke
					   past its -w */

/* One thread's way to the cluster. */
struct conn {
	CURL		*easy;
	CURLM		*multi;
	struct curl_slist *headers;
	int		 cur;		/* the endpoint that answered last */
	char		*reply;
	size_t		 len;
	char		 err[512];	/* why the last call failed */
	bool		 stream;	/* a watch: done at its first event */
	bool		 event;		/* ... which came */
};

struct cs_etcd {
	const char	*url;		/* as given: for messages */
	char		*name;		/* the lock's name (NAME of the URL) */
	char		**ep;		/* base URLs, "http://127.0.0.1:2379" */
	int		 nep;
	struct cs_etcd_opts opts;
	struct conn	 main;
	long long	 lease;		/* 0: none granted */
	cs_nsec		 ttl;		/* as granted */
	char		*key;		/* our lock key, once locked */
	/* the keepalive thread */
	struct conn	 ka;
	pthread_t	 thread;
	bool		 running;
	int		 stop[2];	/* we write: it stops */
	int		 lost[2];	/* it writes: the lease is presumed lost */
	cs_nsec		 confirmed;	/* boot time of the last confirmed send */
	atomic_bool	 gone;		/* the lease is gone (lost or not found) */
	cs_nsec		 wait_end;	/* while waiting: -w's end and a grace
					   (boot time); 0 none */
	cs_nsec		 gave_up;	/* when a wait ended without the lock, or 0 */
};

/* A signal that ends the wait (SIGINT...): its number, and where its
 * handler writes so that the call in progress returns at once. */
static volatile sig_atomic_t caught;
static int wake_fd = -1;

static void
on_signal(int sig)
{
	int save = errno;

	caught = sig;
	(void)!write(wake_fd, "", 1);
	errno = save;
}

enum call_result {
	CALL_OK,	/* 200, a JSON object in *out */
	CALL_DOWN,	/* no endpoint answered (c->err says why) */
	CALL_TIMEOUT,	/* the limit passed, the endpoint alive */
	CALL_LOST,	/* lost_fd turned readable meanwhile */
	CALL_ERROR,	/* the cluster answered with an error (c->err) */
};

static int	lock_wait(struct cs_etcd *, cs_nsec, unsigned long long *,
		    struct cs_holder *);

static cs_nsec
boot_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (cs_nsec)ts.tv_sec * CS_SEC + ts.tv_nsec;
}

/* ---- base64 and JSON values ---- */

static char *
b64(const void *s, size_t len)
{
	size_t size = (len + 2) / 3 * 4 + 1;
	char *out;

	if ((out = malloc(size)) == NULL)
		err(EX_OSERR, "malloc");
	if (b64_ntop(s, len, out, size) < 0)
		errx(EX_SOFTWARE, "b64_ntop");
	return out;
}

/* A base64 member of o, decoded and NUL-terminated (NULL if absent or not
 * base64; *lenp its length). */
static char *
unb64(json_t *o, const char *member, size_t *lenp)
{
	const char *s = json_string_value(json_object_get(o, member));
	size_t size;
	char *out;
	int n;

	if (s == NULL)
		return NULL;
	size = strlen(s) / 4 * 3 + 4;
	if ((out = malloc(size)) == NULL)
		err(EX_OSERR, "malloc");
	if ((n = b64_pton(s, (unsigned char *)out, size)) < 0) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	if (lenp != NULL)
		*lenp = (size_t)n;
	return out;
}

/* The gateway writes 64-bit numbers as strings ("ID":"7587..."); 0 when
 * absent (proto3 leaves zero values out). */
static long long
int64_of(json_t *o, const char *member)
{
	json_t *v = json_object_get(o, member);
	const char *s;
	char *end;
	long long n;

	if (json_is_integer(v))
		return json_integer_value(v);
	if ((s = json_string_value(v)) == NULL)
		return 0;
	errno = 0;
	n = strtoll(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' ? 0 : n;
}

/* ---- HTTP: one call, every endpoint in turn ---- */

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	struct conn *c = arg;
	size_t add = size * n;
	char *p;

	if (c->len + add > MAX_REPLY)
		return 0;
	if ((p = realloc(c->reply, c->len + add + 1)) == NULL)
		return 0;
	memcpy(p + c->len, data, add);
	c->reply = p;
	c->len += add;
	c->reply[c->len] = '\0';
	/* A watch streams one JSON object per line and never ends: the
	 * first that reports events (or the watch's end) is all we wait for. */
	if (c->stream && (strstr(c->reply, "\"events\"") != NULL ||
	    strstr(c->reply, "\"canceled\"") != NULL)) {
		c->event = true;
		return 0;	/* ends the transfer */
	}
	return add;
}

static void
conn_init(struct conn *c, const struct cs_etcd_opts *o)
{
	memset(c, 0, sizeof(*c));
	if ((c->easy = curl_easy_init()) == NULL ||
	    (c->multi = curl_multi_init()) == NULL)
		errx(EX_OSERR, "curl: cannot initialise");
	c->headers = curl_slist_append(NULL,
	    "Content-Type: application/json");
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
	if (o->cacert != NULL)
		curl_easy_setopt(c->easy, CURLOPT_CAINFO, o->cacert);
	if (o->cert != NULL)
		curl_easy_setopt(c->easy, CURLOPT_SSLCERT, o->cert);
	if (o->key != NULL)
		curl_easy_setopt(c->easy, CURLOPT_SSLKEY, o->key);
	if (o->insecure_skip_verify) {
		curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static void
conn_free(struct conn *c)
{
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	free(c->reply);
	memset(c, 0, sizeof(*c));
}

/* Errors that say this member cannot serve us now, where another can. */
static bool
member_unavailable(long http, const char *msg, long long code)
{
	return http == 503 || code == 14 /* Unavailable */ ||
	    code == 4 /* DeadlineExceeded */ ||
	    strstr(msg, "no leader") != NULL ||
	    strstr(msg, "timed out") != NULL ||
	    strstr(msg, "leader changed") != NULL ||
	    strstr(msg, "not capable") != NULL;
}

/*
 * POST body to path on one endpoint after another, starting with the one
 * that answered last, until one answers or until (boot time) passes.
 * Each endpoint gets at most try_limit. An endpoint that answers with an
 * error that another member may not have (no leader) is passed over too.
 * watch: an fd whose turning readable ends the wait (CALL_LOST), or -1.
 */
static enum call_result
call(const struct cs_etcd *e, struct conn *c, const char *path, json_t *req,
    json_t **out, cs_nsec until, cs_nsec try_limit, int watch)
{
	char *body, url[1024];
	enum call_result worst = CALL_DOWN;
	int i, tried;

	*out = NULL;
	c->err[0] = '\0';
	if ((body = json_dumps(req, JSON_COMPACT)) == NULL)
		errx(EX_OSERR, "json_dumps");
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
	for (i = c->cur, tried = 0; tried < e->nep; i = (i + 1) % e->nep,
	    tried++) {
		struct curl_waitfd wfd = { .fd = watch, .events = CURL_WAIT_POLLIN };
		cs_nsec now = boot_now(), limit;
		CURLcode cc = CURLE_OK;
		CURLMsg *m;
		json_t *j, *error;
		json_error_t jerr;
		long http = 0;
		int running = 1, n;

		if (until != CS_INF && now >= until)
			break;
		limit = until == CS_INF ? try_limit : MIN(try_limit, until - now);
		snprintf(url, sizeof(url), "%s%s", e->ep[i], path);
		curl_easy_setopt(c->easy, CURLOPT_URL, url);
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, limit == CS_INF ?
		    0L : MAX(1L, (long)(limit / CS_MSEC)));
		curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS,
		    limit == CS_INF || limit > 2 * CS_SEC ? 2000L :
		    MAX(1L, (long)(limit / CS_MSEC)));
		c->len = 0;
		c->event = false;
		curl_multi_add_handle(c->multi, c->easy);
		while (running) {
			if (curl_multi_perform(c->multi, &running) != CURLM_OK)
				break;
			if (!running)
				break;
			if (curl_multi_poll(c->multi, watch != -1 ? &wfd : NULL,
			    watch != -1 ? 1 : 0, 1000, &n) != CURLM_OK)
				break;
			if (watch != -1 && (wfd.revents & CURL_WAIT_POLLIN)) {
				curl_multi_remove_handle(c->multi, c->easy);
				free(body);
				snprintf(c->err, sizeof(c->err),
				    "lease lost while waiting");
				return CALL_LOST;
			}
		}
		while ((m = curl_multi_info_read(c->multi, &n)) != NULL)
			if (m->msg == CURLMSG_DONE)
				cc = m->data.result;
		curl_multi_remove_handle(c->multi, c->easy);
		if (c->stream && c->event) {
			c->cur = i;
			free(body);
			return CALL_OK;		/* *out stays NULL */
		}
		if (cc == CURLE_OPERATION_TIMEDOUT && until != CS_INF &&
		    boot_now() >= until) {
			/* asked, and waited all the time there was: the
			 * member is alive, what we asked for did not come */
			long sent = 0;

			curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &sent);
			if (sent > 0)
				worst = CALL_TIMEOUT;
		}
		if (cc != CURLE_OK) {
			snprintf(c->err, sizeof(c->err), "%s: %s", e->ep[i],
			    curl_easy_strerror(cc));
			continue;
		}
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &http);
		j = json_loadb(c->reply != NULL ? c->reply : "", c->len, 0,
		    &jerr);
		if (!json_is_object(j)) {
			snprintf(c->err, sizeof(c->err), "%s: HTTP %ld, not "
			    "an etcd v3 gateway reply", e->ep[i], http);
			json_decref(j);
			worst = CALL_ERROR;
			continue;
		}
		error = json_object_get(j, "error");
		if (http == 200 && error == NULL &&
		    !json_is_object(json_object_get(j, "header")) &&
		    !json_is_object(json_object_get(j, "result"))) {
			snprintf(c->err, sizeof(c->err), "%s: HTTP 200 without "
			    "an etcd header: not an etcd v3 gateway", e->ep[i]);
			json_decref(j);
			worst = CALL_ERROR;
			continue;
		}
		if (http == 200 && error == NULL) {
			c->cur = i;
			*out = j;
			free(body);
			return CALL_OK;
		}
		snprintf(c->err, sizeof(c->err), "%s: %s", e->ep[i],
		    json_is_string(error) ? json_string_value(error) :
		    "HTTP error");
		if (member_unavailable(http, c->err, int64_of(j, "code"))) {
			json_decref(j);
			continue;
		}
		c->cur = i;
		*out = j;
		free(body);
		return CALL_ERROR;
	}
	free(body);
	return worst;
}

/* ---- the lease and its keepalive thread ---- */

static cs_nsec
margin_of(cs_nsec ttl)
{
	return ttl / 20 + 100 * CS_MSEC;
}

static void
lose(struct cs_etcd *e)
{
	atomic_store(&e->gone, true);
	(void)!write(e->lost[1], "", 1);
}

/* One keepalive: 1 confirmed (e->confirmed moved on), 0 not now (try
 * again), -1 the lease is gone. */
static int
keepalive(struct cs_etcd *e, cs_nsec deadline)
{
	json_t *req, *out, *res;
	enum call_result r;
	cs_nsec sent = boot_now(), ttl;
	int ok;

	req = json_pack("{s:I}", "ID", (json_int_t)e->lease);
	/* (cut short when we are told to stop: a frozen member must not
	 * hold cs_etcd_close up for the rest of the deadline) */
	r = call(e, &e->ka, "/v3/lease/keepalive", req, &out, deadline,
	    MAX(e->ttl / 6, 200 * CS_MSEC), e->stop[0]);
	json_decref(req);
	if (r != CALL_OK) {
		json_decref(out);
		return 0;
	}
	res = json_object_get(out, "result");
	ttl = int64_of(res, "TTL") * CS_SEC;
	ok = ttl > 0 ? 1 : -1;	/* no TTL: the lease is not found */
	if (ok == 1) {
		e->confirmed = sent;
		e->ttl = ttl;
	}
	json_decref(out);
	return ok;
}

static void *
keeper(void *arg)
{
	struct cs_etcd *e = arg;
	cs_nsec deadline, next, now;
	struct pollfd pfd = { .fd = e->stop[0], .events = POLLIN };
	int r;

	next = e->confirmed + e->ttl / 3;
	for (;;) {
		deadline = e->confirmed + e->ttl - e->opts.grace -
		    margin_of(e->ttl);
		now = boot_now();
		if (now >= deadline) {
			lose(e);
			return NULL;
		}
		if (now < next) {
			cs_nsec wait = MIN(next, deadline) - now;

			if (poll(&pfd, 1, (int)((wait + CS_MSEC - 1) /
			    CS_MSEC)) > 0)
				return NULL;	/* stop */
			continue;
		}
		if ((r = keepalive(e, deadline)) == -1) {
			lose(e);
			return NULL;
		}
		next = r == 1 ? e->confirmed + e->ttl / 3 : boot_now() +
		    RETRY_GAP;
		if (poll(&pfd, 1, 0) > 0)
			return NULL;
	}
}

/* ---- the lock ---- */

static int
unavailable(const struct cs_etcd *e, const struct conn *c)
{
	warnx("%s: no etcd endpoint answers (%s)", e->url, c->err[0] != '\0' ?
	    c->err : "no endpoint");
	return EX_UNAVAILABLE;
}

static int
refused(const struct cs_etcd *e, const struct conn *c)
{
	warnx("%s: %s", e->url, c->err);
	return EX_UNAVAILABLE;
}

/* HOST:PORT, or a URL with one, ending in a port of 1..65535. */
static bool
port_ok(const char *ep)
{
	const char *colon = strrchr(ep, ':'), *errstr;
	const char *start = strstr(ep, "://");

	if (colon == NULL || (start != NULL && colon < start + 3) ||
	    colon[1] == '\0')
		return false;
	(void)strtonum(colon + 1, 1, 65535, &errstr);
	return errstr == NULL;
}

/* "host:port", "http://host:port" or "https://host:port", comma-separated. */
static int
add_endpoints(struct cs_etcd *e, const char *list, bool tls)
{
	char *copy, *p, *save = NULL;

	if ((copy = strdup(list)) == NULL)
		err(EX_OSERR, "strdup");
	for (p = strtok_r(copy, ",", &save); p != NULL;
	    p = strtok_r(NULL, ",", &save)) {
		size_t len = strlen(p);

		while (len > 0 && p[len - 1] == '/')
			p[--len] = '\0';
		if (len == 0)
			continue;
		if (!port_ok(p)) {
			warnx("%s: endpoint %s: not HOST:PORT (a port from 1 "
			    "to 65535)", e->url, p);
			free(copy);
			return EX_USAGE;
		}
		if ((e->ep = reallocarray(e->ep, (size_t)e->nep + 1,
		    sizeof(*e->ep))) == NULL)
			err(EX_OSERR, "realloc");
		if (strstr(p, "://") != NULL) {
			if (strncmp(p, "http://", 7) != 0 &&
			    strncmp(p, "https://", 8) != 0) {
				warnx("%s: endpoint %s: only http:// and "
				    "https:// are etcd's", e->url, p);
				free(copy);
				return EX_USAGE;
			}
			e->ep[e->nep] = strdup(p);
		} else if (asprintf(&e->ep[e->nep], "%s://%s",
		    tls ? "https" : "http", p) == -1)
			e->ep[e->nep] = NULL;
		if (e->ep[e->nep++] == NULL)
			err(EX_OSERR, "strdup");
	}
	free(copy);
	return 0;
}

int
cs_etcd_open(struct cs_etcd **ep, const char *url,
    const struct cs_etcd_opts *opts)
{
	struct cs_etcd *e;
	const char *rest = url + strlen(CS_ETCD_SCHEME), *slash, *env;
	char *list;
	bool tls;
	int r;

	*ep = NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		err(EX_OSERR, "calloc");
	e->url = url;
	e->opts = *opts;
	e->stop[0] = e->stop[1] = e->lost[0] = e->lost[1] = -1;
	tls = opts->cacert != NULL || opts->cert != NULL;
	if ((slash = strchr(rest, '/')) == NULL || slash[1] == '\0') {
		warnx("%s: no lock name (etcd://HOST:PORT[,HOST:PORT...]/NAME)",
		    url);
		free(e);
		return EX_USAGE;
	}
	if ((e->name = strdup(slash + 1)) == NULL ||
	    (list = strndup(rest, (size_t)(slash - rest))) == NULL)
		err(EX_OSERR, "strdup");
	/* etcd:///NAME: the endpoints of the environment */
	if (list[0] == '\0' && (((env = getenv("CRASHSAFE_ETCD")) != NULL &&
	    *env != '\0') || ((env = getenv("ETCDCTL_ENDPOINTS")) != NULL &&
	    *env != '\0'))) {
		free(list);
		if ((list = strdup(env)) == NULL)
			err(EX_OSERR, "strdup");
	}
	r = add_endpoints(e, list, tls);
	free(list);
	if (r == 0 && e->nep == 0) {
		warnx("%s: no endpoints (give HOST:PORT, or set CRASHSAFE_ETCD)",
		    url);
		r = EX_USAGE;
	}
	if (r != 0) {
		cs_etcd_close(e);
		return r;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		errx(EX_OSERR, "curl: cannot initialise");
	conn_init(&e->main, opts);
	conn_init(&e->ka, opts);
	*ep = e;
	return 0;
}

int
cs_etcd_lease(struct cs_etcd *e)
{
	json_t *req, *out;
	enum call_result r;
	sigset_t all, old;
	cs_nsec sent = boot_now();
	int rc;

	req = json_pack("{s:I}", "TTL", (json_int_t)((e->opts.ttl +
	    CS_SEC - 1) / CS_SEC));
	r = call(e, &e->main, "/v3/lease/grant", req, &out, sent +
	    MAX(e->opts.ttl, 5 * CS_SEC), 2 * CS_SEC, -1);
	json_decref(req);
	if (r == CALL_ERROR) {
		json_decref(out);
		return refused(e, &e->main);
	}
	if (r != CALL_OK)
		return unavailable(e, &e->main);
	e->lease = int64_of(out, "ID");
	e->ttl = int64_of(out, "TTL") * CS_SEC;
	json_decref(out);
	if (e->lease == 0 || e->ttl <= 0) {
		warnx("%s: the lease grant answered no lease", e->url);
		return EX_UNAVAILABLE;
	}
	e->confirmed = sent;
	e->ka.cur = e->main.cur;
	if (pipe2(e->stop, O_CLOEXEC) == -1 || pipe2(e->lost, O_CLOEXEC) == -1)
		return cs_fail(errno, EX_OSERR, "pipe");
	/* The thread takes no signal: they are the main thread's to read. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&e->thread, NULL, keeper, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return cs_fail(rc, EX_OSERR, "pthread_create");
	e->running = true;
	return 0;
}

int
cs_etcd_lost_fd(const struct cs_etcd *e)
{
	return e->lost[0];
}

/* The queue's range, NAME/ to NAME0 (the prefix's end), in base64 (to
 * free). */
static void
queue_range(const struct cs_etcd *e, char **key, char **end)
{
	size_t len = strlen(e->name);
	char *pfx;

	if (asprintf(&pfx, "%s/", e->name) == -1)
		err(EX_OSERR, "asprintf");
	*key = b64(pfx, len + 1);
	pfx[len] = '/' + 1;
	*end = b64(pfx, len + 1);
	free(pfx);
}

/* One request as the lock needs it: 0 and *out (to json_decref), or
 * -(exit status), the message printed (none for a lost lease: the
 * caller's, or for a signal: nobody's). */
static int
ask(struct cs_etcd *e, const char *path, json_t *req, json_t **out,
    cs_nsec limit, int watch)
{
	enum call_result r;
	cs_nsec until = boot_now() + limit;

	/* While waiting, no request outlasts -w by more than the grace. */
	if (e->wait_end != 0 && e->wait_end < until)
		until = e->wait_end;
	r = call(e, &e->main, path, req, out, until, 2 * CS_SEC, watch);
	json_decref(req);
	switch (r) {
	case CALL_OK:
		return 0;
	case CALL_LOST:
		return -EX_TEMPFAIL;
	case CALL_ERROR:
		json_decref(*out);
		*out = NULL;
		return -refused(e, &e->main);
	default:
		return -unavailable(e, &e->main);
	}
}

/* The key that holds the lock now (the oldest under NAME/): 1 and *kv
 * (to json_decref), 0 none, or -(exit status). */
static int
owner_kv(struct cs_etcd *e, json_t **kv, json_t **reply)
{
	char *k, *end;
	json_t *out;
	int r;

	*kv = *reply = NULL;
	queue_range(e, &k, &end);
	r = ask(e, "/v3/kv/range", json_pack("{s:s, s:s, s:s, s:s, s:i}",
	    "key", k, "range_end", end, "sort_order", "ASCEND", "sort_target",
	    "CREATE", "limit", 1), &out, 5 * CS_SEC, -1);
	free(k);
	free(end);
	if (r != 0)
		return r;
	*reply = out;
	*kv = json_array_get(json_object_get(out, "kvs"), 0);
	return *kv != NULL;
}

/* A key's holder, from the owner metadata we keep in its value. */
static void
holder_of(json_t *kv, struct cs_holder *h)
{
	struct cs_owner o;
	char *value = unb64(kv, "value", NULL);

	memset(h, 0, sizeof(*h));
	if (value != NULL && cs_parse_owner(value, &o) && o.pid > 0) {
		h->pid = o.pid;
		strlcpy(h->cmd, o.cmd, sizeof(h->cmd));
		strlcpy(h->host, o.host, sizeof(h->host));
		h->since = o.since;
	} else
		snprintf(h->what, sizeof(h->what), "lease %llx (no owner "
		    "recorded: etcdctl lock?)",
		    (unsigned long long)int64_of(kv, "lease"));
	free(value);
}

int
cs_etcd_holder(struct cs_etcd *e, struct cs_holder *h)
{
	json_t *kv, *reply;
	int r;

	if ((r = owner_kv(e, &kv, &reply)) == 1)
		holder_of(kv, h);
	json_decref(reply);
	return r;
}

/* We waited in vain: who holds it, for the message. */
static int
busy(struct cs_etcd *e, struct cs_holder *who)
{
	json_t *kv, *reply;

	if (owner_kv(e, &kv, &reply) == 1)
		holder_of(kv, who);
	else {
		memset(who, 0, sizeof(*who));
		strlcpy(who->what, "a holder that just left", sizeof(who->what));
	}
	json_decref(reply);
	return EX_TEMPFAIL;
}

/*
 * Join the queue: our key, NAME/LEASE (in hex, as etcd's own lock names
 * it), put with our owner metadata in one transaction that also reads
 * who is first (the oldest key). Its revision is the key's
 * create_revision: the token. 1 we are first (hold it), 0 we are queued
 * (*first: the holder, to json_decref), or -(exit status).
 */
static int
enqueue(struct cs_etcd *e, unsigned long long *token, json_t **first,
    json_t **reply)
{
	char owner[1024], *k, *v, *kpfx, *kend;
	json_t *out, *kv;
	long long rev;
	size_t len;
	int r;

	*first = *reply = NULL;
	if (asprintf(&e->key, "%s/%llx", e->name,
	    (unsigned long long)e->lease) == -1)
		err(EX_OSERR, "asprintf");
	len = cs_owner_text(owner, sizeof(owner), 0, time(NULL));
	k = b64(e->key, strlen(e->key));
	v = b64(owner, len);
	queue_range(e, &kpfx, &kend);
	/*
	 * Put only if absent, else read it back: a reply lost on the way
	 * (the call goes on to the next endpoint) makes the second try find
	 * the key the first one put.
	 */
	r = ask(e, "/v3/kv/txn", json_pack("{s:[{s:s, s:s, s:s, s:s}], "
	    "s:[{s:{s:s, s:s, s:I}}, {s:{s:s, s:s, s:s, s:s, s:i}}], "
	    "s:[{s:{s:s}}, {s:{s:s, s:s, s:s, s:s, s:i}}]}",
	    "compare", "key", k, "target", "CREATE", "result", "EQUAL",
	    "create_revision", "0",
	    "success",
	    "request_put", "key", k, "value", v, "lease", (json_int_t)e->lease,
	    "request_range", "key", kpfx, "range_end", kend, "sort_order",
	    "ASCEND", "sort_target", "CREATE", "limit", 1,
	    "failure",
	    "request_range", "key", k,
	    "request_range", "key", kpfx, "range_end", kend, "sort_order",
	    "ASCEND", "sort_target", "CREATE", "limit", 1), &out, 10 * CS_SEC,
	    e->lost[0]);
	free(k);
	free(v);
	free(kpfx);
	free(kend);
	if (r == -EX_TEMPFAIL && !caught)
		warnx("%s: lease lost before the lock was taken", e->url);
	if (r != 0)
		return r;
	rev = int64_of(json_object_get(out, "header"), "revision");
	if (!json_is_true(json_object_get(out, "succeeded")))
		rev = int64_of(json_array_get(json_object_get(json_object_get(
		    json_array_get(json_object_get(out, "responses"), 0),
		    "response_range"), "kvs"), 0), "create_revision");
	kv = json_array_get(json_object_get(json_object_get(json_array_get(
	    json_object_get(out, "responses"), 1), "response_range"), "kvs"),
	    0);
	if (rev <= 0 || kv == NULL) {
		json_decref(out);
		warnx("%s: the lock key could not be put (lease %llx)", e->url,
		    (unsigned long long)e->lease);
		return -EX_UNAVAILABLE;
	}
	*token = (unsigned long long)rev;
	*reply = out;
	*first = kv;
	return int64_of(kv, "create_revision") == rev;
}

/*
 * The key queued just before ours (created before rev), or none: we hold
 * the lock. 1 (its key in *pred, the revision read at in *at), 0 none,
 * or -(exit status).
 */
static int
predecessor(struct cs_etcd *e, long long rev, char **pred, long long *at)
{
	char *k, *end;
	json_t *out, *kv;
	int r;

	*pred = NULL;
	queue_range(e, &k, &end);
	r = ask(e, "/v3/kv/range", json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, "
	    "s:b}", "key", k, "range_end", end, "sort_order", "DESCEND",
	    "sort_target", "CREATE", "limit", 1, "max_create_revision",
	    (json_int_t)(rev - 1), "keys_only", 1), &out, 10 * CS_SEC,
	    e->lost[0]);
	free(k);
	free(end);
	if (r != 0)
		return r;
	*at = int64_of(json_object_get(out, "header"), "revision");
	kv = json_array_get(json_object_get(out, "kvs"), 0);
	if (kv != NULL)
		*pred = unb64(kv, "key", NULL);
	json_decref(out);
	return *pred != NULL;
}

/*
 * Wait (until slice) for an event on key after revision at: its
 * deletion, most likely. Returns when one came, or when the slice is
 * over, or the endpoint failed: the caller looks again either way, so
 * that a frozen member cannot keep us waiting on a lock that is ours.
 */
static enum call_result
watch(struct cs_etcd *e, const char *key, long long at, cs_nsec slice)
{
	json_t *req, *out;
	enum call_result r;
	char *k = b64(key, strlen(key));

	req = json_pack("{s:{s:s, s:I}}", "create_request", "key", k,
	    "start_revision", (json_int_t)(at + 1));
	free(k);
	e->main.stream = true;
	r = call(e, &e->main, "/v3/watch", req, &out, boot_now() + slice,
	    slice, e->lost[0]);
	e->main.stream = false;
	json_decref(req);
	json_decref(out);
	return r;
}

int
cs_etcd_lock(struct cs_etcd *e, cs_nsec wait, unsigned long long *token,
    struct cs_holder *who)
{
	static const int ends[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa, old[4];
	size_t i;
	int r;

	/*
	 * A waiter's key stays in the queue until its lease ends: one that
	 * is interrupted revokes it first (the caller's drop), so that the
	 * waiters after it are not held up for a TTL; then it dies of the
	 * signal. Signals the caller ignores stay ignored.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	wake_fd = e->lost[1];
	caught = 0;
	for (i = 0; i < 4; i++)
		if (sigaction(ends[i], NULL, &old[i]) == 0 &&
		    old[i].sa_handler != SIG_IGN)
			sigaction(ends[i], &sa, NULL);
	e->wait_end = wait == CS_INF ? 0 : boot_now() + wait + END_GRACE;
	r = lock_wait(e, wait, token, who);
	e->wait_end = 0;
	if (r != 0)		/* gave up, was interrupted, or unreachable */
		e->gave_up = boot_now();
	for (i = 0; i < 4; i++)
		if (old[i].sa_handler != SIG_IGN)
			sigaction(ends[i], &old[i], NULL);
	if (caught != 0) {
		/* the lost pipe was written: the lease is not lost */
		*token = 0;
		return CS_EX_SIGNAL + caught;
	}
	return r;
}

/* The lease ended under a waiter: said, unless a signal ended the wait
 * (it wrote to the same pipe). */
static void
lost_waiting(const struct cs_etcd *e)
{
	if (!caught)
		warnx("%s: lease lost while waiting for the lock (no "
		    "keepalive confirmed)", e->url);
}

static int
lock_wait(struct cs_etcd *e, cs_nsec wait, unsigned long long *token,
    struct cs_holder *who)
{
	json_t *first, *reply;
	cs_nsec until = wait == CS_INF ? CS_INF : boot_now() + wait;
	unsigned long long tok = 0;
	enum call_result r;
	int q;

	/* Free: ours in one round trip. Held: busy at once with no wait. */
	*token = 0;
	if ((q = enqueue(e, &tok, &first, &reply)) != 0 || wait == 0) {
		if (q == 0)
			holder_of(first, who);
		else if (q == 1)
			*token = tok;
		json_decref(reply);
		return q < 0 ? -q : q == 1 ? 0 : EX_TEMPFAIL;
	}
	json_decref(reply);
	/*
	 * Queued: wait as etcd's own lock does, for the key just before
	 * ours to go, but in slices of a second, each starting from a fresh
	 * look through whichever endpoint answers. etcd's lock call would
	 * wait on one connection for as long as it takes: on a frozen
	 * member, forever, with the lock ours meanwhile (everyone else
	 * waiting for us); and when such a call is cut short, etcd deletes
	 * the waiter's key, which only that member would do, when it wakes.
	 */
	for (;;) {
		char *pred;
		long long at = 0;
		int p;
		cs_nsec now = boot_now();

		if ((p = predecessor(e, (long long)tok, &pred, &at)) < 0) {
			if (p == -EX_TEMPFAIL)
				lost_waiting(e);
			return -p;
		}
		if (p == 0) {
			*token = tok;
			return 0;
		}
		if (until != CS_INF && now >= until) {
			free(pred);
			return busy(e, who);
		}
		r = watch(e, pred, at, until == CS_INF ? WATCH_SLICE :
		    MIN(WATCH_SLICE, until - now));
		free(pred);
		if (r == CALL_LOST) {
			lost_waiting(e);
			return EX_TEMPFAIL;
		}
	}
}

int
cs_etcd_lease_ok(struct cs_etcd *e)
{
	return !atomic_load(&e->gone);
}

/*
 * Until it is done, or until the lease would have ended anyway: a
 * leader election (a member answering "no leader", or frozen) lasts a
 * second or two, and a key left behind holds every waiter up until then.
 */
static void
end_lease(struct cs_etcd *e)
{
	cs_nsec until = e->confirmed + e->ttl;
	enum call_result r;
	json_t *req, *out;

	/* A waiter that gave up keeps its -w: a second more, not the rest
	 * of the TTL (the lease ends by itself then anyway). */
	if (e->gave_up != 0)
		until = MIN(until, MAX(e->gave_up, boot_now()) + END_GRACE);

	req = json_pack("{s:I}", "ID", (json_int_t)e->lease);
	for (;;) {
		r = call(e, &e->main, "/v3/lease/revoke", req, &out, until,
		    CS_SEC, -1);
		json_decref(out);
		/* done, or refused: not found (it ended) is as good */
		if (r == CALL_OK || r == CALL_ERROR || boot_now() + RETRY_GAP >=
		    until)
			break;
		(void)cs_sleep(RETRY_GAP, CS_INF, -1, NULL);
	}
	if (r != CALL_OK && r != CALL_ERROR)
		cs_warnx("%s: lease %llx not revoked (%s): it ends by itself "
		    "within %llds", e->url, (unsigned long long)e->lease,
		    e->main.err, (long long)(e->ttl / CS_SEC));
	json_decref(req);
}

void
cs_etcd_close(struct cs_etcd *e)
{
	int i;

	if (e == NULL)
		return;
	if (e->running) {
		(void)!write(e->stop[1], "", 1);
		pthread_join(e->thread, NULL);
	}
	/*
	 * Revoking the lease deletes our key in the same step: that is the
	 * unlock (a separate /v3/lock/unlock would cost one more write to
	 * the cluster's log and leave nothing different). Even a lease
	 * presumed lost: it may not be yet, and the command is gone.
	 */
	if (e->lease != 0)
		end_lease(e);
	conn_free(&e->main);
	conn_free(&e->ka);
	for (i = 0; i < 2; i++) {
		if (e->stop[i] != -1)
			close(e->stop[i]);
		if (e->lost[i] != -1)
			close(e->lost[i]);
	}
	for (i = 0; i < e->nep; i++)
		free(e->ep[i]);
	free(e->ep);
	free(e->name);
	free(e->key);
	free(e);
}
