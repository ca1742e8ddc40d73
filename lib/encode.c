/*
 * encode.c - writing values unambiguously for machines: JSON strings
 * (valid UTF-8 out, whatever comes in), TSV and CSV fields, hex, base64.
 */
#include <stdio.h>
#include <string.h>

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
	const unsigned char *p = s, *end = p + len;

	for (; p < end; p++)
		switch (*p) {
		case '\t': fputs("\\t", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\\': fputs("\\\\", f); break;
		default: putc(*p, f);
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
