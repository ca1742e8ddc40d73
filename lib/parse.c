/* SPDX-License-Identifier: ISC */
/*
 * parse.c - strict parsing of durations, numbers, modes and code lists.
 * Anything not entirely understood is an error: no sign, no spaces, no
 * exponent, no trailing junk.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crashsafe.h"

static const struct {
	const char	*name;
	cs_nsec		 ns;
} units[] = {
	{ "",	CS_SEC },
	{ "ms",	CS_MSEC },
	{ "s",	CS_SEC },
	{ "m",	60 * CS_SEC },
	{ "h",	3600 * CS_SEC },
};

int
cs_parse_duration(const char *s, bool allow_inf, cs_nsec *out,
    const char **errstr)
{
	const char *p = s, *frac = NULL;
	cs_nsec whole = 0, unit = 0, fracns = 0, scale;
	size_t i, nint = 0, nfrac = 0;

	*errstr = "invalid";
	if (allow_inf && strcmp(s, "inf") == 0) {
		*out = CS_INF;
		return 0;
	}
	for (; *p >= '0' && *p <= '9'; p++, nint++) {
		if (whole > (INT64_MAX - 9) / 10) {
			*errstr = "too large";
			return -1;
		}
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		frac = ++p;
		while (*p >= '0' && *p <= '9')
			p++, nfrac++;
	}
	if (nint + nfrac == 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].name) == 0)
			unit = units[i].ns;
	if (unit == 0)
		return -1;
	if (whole > INT64_MAX / unit) {
		*errstr = "too large";
		return -1;
	}
	/* The fraction, exact to the nanosecond: digits * unit / 10^k. */
	scale = unit;
	for (i = 0; i < nfrac && scale > 0; i++) {
		scale /= 10;
		fracns += (frac[i] - '0') * scale;
	}
	if (whole * unit > INT64_MAX - fracns - 1) {
		*errstr = "too large";
		return -1;
	}
	*out = whole * unit + fracns;
	*errstr = NULL;
	return 0;
}

cs_nsec
ecs_duration(const char *arg, bool allow_inf, const char *what)
{
	const char *errstr;
	cs_nsec d;

	if (cs_parse_duration(arg, allow_inf, &d, &errstr) == -1)
		errx(EX_USAGE, "%s: %s duration: '%s'", what, errstr, arg);
	return d;
}

long long
ecs_number(const char *arg, long long min, long long max, const char *what)
{
	const char *errstr;
	long long n;

	n = strtonum(arg, min, max, &errstr);
	if (errstr != NULL)
		errx(EX_USAGE, "%s: %s number: '%s'", what, errstr, arg);
	return n;
}

int
cs_parse_real(const char *s, double min, double max, double *out)
{
	const char *p;
	char *end;
	double d;

	/* Plain decimal only: strtod would also take hex, "nan", exponents. */
	for (p = s; *p != '\0'; p++)
		if ((*p < '0' || *p > '9') && *p != '.')
			return -1;
	errno = 0;
	d = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(d) ||
	    d < min || d > max)
		return -1;
	*out = d;
	return 0;
}

int
cs_parse_mode(const char *s, mode_t *out)
{
	unsigned long m = 0;
	const char *p;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			return -1;
		m = m * 8 + (unsigned long)(*p - '0');
	}
	if (m > 07777)
		return -1;
	*out = (mode_t)m;
	return 0;
}

void
cs_codeset_add(cs_codeset *set, int lo, int hi)
{
	for (; lo <= hi; lo++)
		set->bits[lo / 64] |= (uint64_t)1 << (lo % 64);
}

bool
cs_codeset_has(const cs_codeset *set, int code)
{
	if (code < 0 || code > 255)
		return false;
	return (set->bits[code / 64] >> (code % 64)) & 1;
}

/* One code 0..255: digits only, at most three. */
static int
parse_code(const char **pp)
{
	const char *p = *pp;
	int n = 0, digits = 0;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (++digits > 3)
			return -1;
		n = n * 10 + (*p - '0');
	}
	if (digits == 0 || n > 255)
		return -1;
	*pp = p;
	return n;
}

int
cs_parse_codes(const char *s, cs_codeset *out)
{
	cs_codeset set = { { 0 } };
	const char *p = s;
	int lo, hi;

	for (;;) {
		if ((lo = parse_code(&p)) == -1)
			return -1;
		hi = lo;
		if (*p == '-') {
			p++;
			if ((hi = parse_code(&p)) == -1 || hi < lo)
				return -1;
		}
		cs_codeset_add(&set, lo, hi);
		if (*p == '\0')
			break;
		if (*p++ != ',')
			return -1;
	}
	*out = set;
	return 0;
}

int
cs_parse_word(const char *s, const char *const *words, size_t n, bool nocase)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((nocase ? strcasecmp(s, words[i]) : strcmp(s, words[i])) == 0)
			return (int)i;
	return -1;
}
