/* SPDX-License-Identifier: ISC */
/*
 * encode.c - writing values unambiguously for machines: JSON strings
 * (valid UTF-8 out, whatever comes in), TSV and CSV fields, hex, base64,
 * numbers that read back as themselves; and how wide text is on a screen.
 */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "crashsafe.h"

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t
utf8_len(const unsigned char *p, size_t left)
{
	size_t n, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

bool
cs_utf8_valid(const void *s, size_t len)
{
	const unsigned char *p = s, *end = p + len;
	size_t n;

	for (; p < end; p += n)
		if ((n = utf8_len(p, (size_t)(end - p))) == 0)
			return false;
	return true;
}

void
cs_put_json_string(FILE *f, const void *s, size_t len)
{
	const unsigned char *p = s, *end = p + len;
	size_t n;

	putc('"', f);
	while (p < end) {
		const unsigned char *run = p;

		/* printable ASCII that needs no escape, in one write */
		while (p < end && *p >= 0x20 && *p < 0x7f && *p != '"' &&
		    *p != '\\')
			p++;
		if (p > run) {
			fwrite(run, 1, (size_t)(p - run), f);
			continue;
		}
		switch (*p) {
		case '"':  fputs("\\\"", f); p++; continue;
		case '\\': fputs("\\\\", f); p++; continue;
		case '\n': fputs("\\n", f); p++; continue;
		case '\r': fputs("\\r", f); p++; continue;
		case '\t': fputs("\\t", f); p++; continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p++);
			continue;
		}
		if ((n = utf8_len(p, (size_t)(end - p))) == 0) {
			/* Not UTF-8: the byte as its Latin-1 code point. */
			fprintf(f, "\\u%04x", *p++);
			continue;
		}
		fwrite(p, 1, n, f);
		p += n;
	}
	putc('"', f);
}

void
cs_put_tsv_field(FILE *f, const void *s, size_t len)
{
	const unsigned char *p = s, *end = p + len, *run;

	while (p < end) {
		/* the bytes that need nothing, in one write */
		for (run = p; p < end && *p != '\t' && *p != '\n' &&
		    *p != '\r' && *p != '\\'; p++)
			;
		fwrite(run, 1, (size_t)(p - run), f);
		if (p == end)
			break;
		switch (*p++) {
		case '\t': fputs("\\t", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		default: fputs("\\\\", f);
		}
	}
}

void
cs_put_csv_field(FILE *f, const void *s, size_t len)
{
	const unsigned char *p = s, *end = p + len;

	if (memchr(s, ',', len) == NULL && memchr(s, '"', len) == NULL &&
	    memchr(s, '\n', len) == NULL && memchr(s, '\r', len) == NULL) {
		fwrite(s, 1, len, f);
		return;
	}
	putc('"', f);
	for (; p < end; p++) {
		if (*p == '"')
			putc('"', f);
		putc(*p, f);
	}
	putc('"', f);
}

void
cs_put_hex(FILE *f, const void *s, size_t len)
{
	const unsigned char *p = s;
	size_t i;

	for (i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
}

void
cs_put_base64(FILE *f, const void *s, size_t len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = s;
	unsigned v;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		putc(b64[v >> 18], f);
		putc(b64[v >> 12 & 63], f);
		putc(b64[v >> 6 & 63], f);
		putc(b64[v & 63], f);
	}
	if (i < len) {
		v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
		putc(b64[v >> 18], f);
		putc(b64[v >> 12 & 63], f);
		putc(i + 1 < len ? b64[v >> 6 & 63] : '=', f);
		putc('=', f);
	}
}

/*
 * The common case fast (prices, measures: 0.37, 2500.0): a value with at
 * most 8 decimals is the integer m over 10^k for the smallest such k, when
 * m / 10^k divides back to it exactly (IEEE division rounds correctly, as
 * strtod does). Printed with integers alone; false if it is not such a
 * value.
 */
static bool
put_short_real(FILE *f, double d)
{
	static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
	    1e8 };
	long long m;
	unsigned long long a, p;
	int k;

	if (!(fabs(d) >= 1e-4 && fabs(d) < 1e15))
		return false;
	for (k = 0, p = 1; k <= 8; k++, p *= 10) {
		if (fabs(d) * p10[k] >= 0x1p50)
			return false;
		m = llround(d * p10[k]);
		if ((double)m / p10[k] != d)
			continue;
		a = (unsigned long long)(m < 0 ? -m : m);
		if (k == 0)
			fprintf(f, "%s%llu.0", d < 0 ? "-" : "", a);
		else
			fprintf(f, "%s%llu.%0*llu", d < 0 ? "-" : "", a / p, k,
			    a % p);
		return true;
	}
	return false;
}

/*
 * The shortest decimal that reads back as the same double, written as
 * Python's repr and sqlite3(1) write it: plain from 1e-4 to 1e16 (9.99,
 * 0.1, 2500.0, with ".0" so that it still reads as a real), with an
 * exponent outside (1e+300); Inf and -Inf as sqlite3(1) has them.
 *
 * A double holds every decimal of 15 significant digits, so when 15
 * digits read back, the shortest form is those digits without their
 * trailing zeros; otherwise 16 or 17 digits do. One snprintf and one
 * strtod for most values. (Subnormals, which hold fewer, are searched
 * digit by digit.)
 */
void
cs_put_real(FILE *f, double d)
{
	char e[40], out[48], *digits, *o = out;
	int prec, exp, n, i;

	if (isinf(d)) {
		fputs(d < 0 ? "-Inf" : "Inf", f);
		return;
	}
	if (put_short_real(f, d))
		return;
	/* subnormals hold fewer digits: search them from 1 */
	for (prec = fabs(d) < DBL_MIN ? 1 : 15; prec < 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, d);
		if (strtod(e, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(e, sizeof(e), "%.16e", d);
	/* e is [-]D.DDDDe[+-]XX: the digits, then the exponent */
	exp = atoi(strchr(e, 'e') + 1);
	digits = e[0] == '-' ? e + 1 : e;
	if (e[0] == '-')
		*o++ = '-';
	memmove(digits + 1, digits + 2, (size_t)prec - 1);	/* drop '.' */
	for (n = prec; n > 1 && digits[n - 1] == '0'; n--)
		;
	if (d != 0 && (exp < -4 || exp >= 16)) {
		*o++ = digits[0];
		if (n > 1) {
			*o++ = '.';
			for (i = 1; i < n; i++)
				*o++ = digits[i];
		}
		snprintf(o, sizeof(out) - (size_t)(o - out), "e%c%02d",
		    exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	} else if (exp < 0) {
		*o++ = '0';
		*o++ = '.';
		for (i = exp + 1; i < 0; i++)
			*o++ = '0';
		for (i = 0; i < n; i++)
			*o++ = digits[i];
		*o = '\0';
	} else {
		for (i = 0; i <= exp; i++)
			*o++ = i < n ? digits[i] : '0';
		*o++ = '.';
		if (n <= exp + 1)
			*o++ = '0';
		for (i = exp + 1; i < n; i++)
			*o++ = digits[i];
		*o = '\0';
	}
	fputs(out, f);
}

static bool
is_emoji(wchar_t wc)
{
	return (wc >= 0x1f300 && wc <= 0x1faff) || (wc >= 0x2600 &&
	    wc <= 0x27bf);
}

/*
 * Columns that UTF-8 text takes on a terminal (wcwidth(3) in the C.UTF-8
 * locale, whatever the caller's: SQLite's text is UTF-8): 日本語 is 6, a
 * combining accent 0, an emoji sequence as its first emoji. A byte that
 * is not UTF-8, or a control character, counts 1.
 */
size_t
cs_display_width(const void *s, size_t len)
{
	static locale_t utf8;
	static bool tried;
	const char *p = s;
	locale_t old;
	mbstate_t ms;
	wchar_t wc;
	size_t w = 0, n;
	int cw;
	bool joined = false, emoji = false;

	if (!tried) {
		tried = true;
		utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	}
	if (utf8 == (locale_t)0)
		return len;
	old = uselocale(utf8);
	memset(&ms, 0, sizeof(ms));
	while (len > 0) {
		n = mbrtowc(&wc, p, len, &ms);
		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&ms, 0, sizeof(ms));
			n = 1;
			cw = 1;
		} else {
			if (n == 0)
				n = 1;
			cw = wcwidth(wc);
			if (cw < 0)
				cw = 1;
			/* an emoji's skin tone, and an emoji that a zero-width
			 * joiner joins to one, draw in its cells (👍🏽, 👨‍👩‍👧) */
			if ((wc >= 0x1f3fb && wc <= 0x1f3ff && emoji) ||
			    (joined && is_emoji(wc)))
				cw = 0;
			joined = wc == 0x200d && emoji;
			if (wc != 0x200d && !(wc >= 0x1f3fb && wc <= 0x1f3ff) &&
			    wc != 0xfe0f)
				emoji = is_emoji(wc);
		}
		w += (size_t)cw;
		p += n;
		len -= n;
	}
	uselocale(old);
	return w;
}

void
cs_one_line(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0')
			s[i] = ' ';
		else if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
}
