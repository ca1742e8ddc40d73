/* SPDX-License-Identifier: ISC */
/* libFuzzer: JSON, TSV, CSV, hex and base64 output (lib/encode.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crashsafe.h"

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

/* Strict UTF-8 check of the whole buffer. */
static int
valid_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0, k, len;
	unsigned cp;

	while (i < n) {
		if (p[i] < 0x80) { i++; continue; }
		if (p[i] >= 0xc2 && p[i] <= 0xdf) len = 2, cp = p[i] & 0x1f;
		else if (p[i] >= 0xe0 && p[i] <= 0xef) len = 3, cp = p[i] & 0x0f;
		else if (p[i] >= 0xf0 && p[i] <= 0xf4) len = 4, cp = p[i] & 0x07;
		else return 0;
		if (i + len > n) return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80) return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
		i += len;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *out = NULL;
	size_t len = 0, i, quotes = 0;
	FILE *f;

	/* JSON: quoted, valid UTF-8, no raw control characters. */
	if ((f = open_memstream(&out, &len)) == NULL)
		return 0;
	cs_put_json_string(f, data, size);
	fclose(f);
	if (len < 2 || out[0] != '"' || out[len - 1] != '"' ||
	    !valid_utf8((unsigned char *)out, len))
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)out[i] < 0x20)
			abort();
	free(out);

	/* TSV: no raw tab, newline or CR. */
	if ((f = open_memstream(&out, &len)) == NULL)
		return 0;
	cs_put_tsv_field(f, data, size);
	fclose(f);
	if (memchr(out, '\t', len) || memchr(out, '\n', len) ||
	    memchr(out, '\r', len))
		abort();
	free(out);

	/* CSV: quotes balanced; a field with , " CR LF is quoted. */
	if ((f = open_memstream(&out, &len)) == NULL)
		return 0;
	cs_put_csv_field(f, data, size);
	fclose(f);
	for (i = 0; i < len; i++)
		quotes += out[i] == '"';
	if (quotes % 2 != 0 || (len != size && (len < 2 || out[0] != '"')))
		abort();
	free(out);

	/* hex and base64 lengths. */
	if ((f = open_memstream(&out, &len)) == NULL)
		return 0;
	cs_put_hex(f, data, size);
	cs_put_base64(f, data, size);
	fclose(f);
	if (len != 2 * size + (size + 2) / 3 * 4)
		abort();
	free(out);
	return 0;
}
