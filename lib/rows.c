/* SPDX-License-Identifier: ISC */
/*
 * rows.c - query results for shells and humans: typed cells written as
 * TSV, CSV, JSON, JSONL or a table aligned by display width. Each format
 * streams, except a table, whose cells wait in a spool (memory, then disk)
 * until the set's column widths are known.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashsafe.h"

static void	put_text(const struct cs_rows *, FILE *, const void *, size_t);
static void	put_cell(const struct cs_rows *, FILE *, const struct cs_cell *);
static int	keep_cell(struct cs_rows *, const struct cs_cell *);
static void	end_line(const struct cs_rows *);
static int	put_table(struct cs_rows *);
static void	free_set(struct cs_rows *);
static int	put_header(struct cs_rows *);

/* Text as the format has it (JSON string, CSV field, escaped TSV). */
static void
put_text(const struct cs_rows *w, FILE *f, const void *p, size_t len)
{
	switch (w->format) {
	case CS_ROWS_JSON:
	case CS_ROWS_JSONL:
		cs_put_json_string(f, p, len);
		break;
	case CS_ROWS_CSV:
		cs_put_csv_field(f, p, len);
		break;
	default:
		cs_put_tsv_field(f, p, len);
	}
}

static void
put_cell(const struct cs_rows *w, FILE *f, const struct cs_cell *c)
{
	bool json = w->format == CS_ROWS_JSON || w->format == CS_ROWS_JSONL;

	switch (c->type) {
	case CS_CELL_NULL:
		if (json)
			fputs("null", f);
		else
			put_text(w, f, w->null, strlen(w->null));
		break;
	case CS_CELL_INT:
		fprintf(f, "%lld", c->i);
		break;
	case CS_CELL_REAL:
		if (json && (c->r != c->r || c->r - c->r != 0))
			fputs("null", f);	/* JSON has no Inf */
		else
			cs_put_real(f, c->r);
		break;
	case CS_CELL_BLOB:
		if (json) {
			putc('"', f);
			cs_put_base64(f, c->p, c->len);
			putc('"', f);
		} else
			cs_put_hex(f, c->p, c->len);
		break;
	default:
		put_text(w, f, c->p, c->len);
	}
}

static void
free_set(struct cs_rows *w)
{
	int i;

	for (i = 0; w->names != NULL && i < w->ncols; i++)
		free(w->names[i]);
	free(w->names);
	free(w->width);
	w->names = NULL;
	w->width = NULL;
	cs_sink_close(&w->cells);
}

int
cs_rows_begin(struct cs_rows *w, int ncols, const char *const *names)
{
	int i;

	w->ncols = ncols;
	w->nrows = w->kept = 0;
	w->cells.fd = -1;
	if ((w->names = calloc((size_t)ncols + 1, sizeof(char *))) == NULL ||
	    (w->width = calloc((size_t)ncols + 1, sizeof(size_t))) == NULL)
		goto fail;
	for (i = 0; i < ncols; i++)
		if ((w->names[i] = strdup(names[i])) == NULL)
			goto fail;
	if (w->format == CS_ROWS_TABLE && cs_sink_open(&w->cells) == -1)
		goto fail;
	return 0;
fail:
	i = errno;
	free_set(w);
	errno = i;
	return -1;
}

/* One cell of a table, as text, into its spool (NUL-terminated); its
 * column's width updated. */
static int
keep_cell(struct cs_rows *w, const struct cs_cell *c)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, col, dw;
	int r;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return -1;
	put_cell(w, f, c);
	if (fclose(f) == EOF) {
		free(buf);
		return -1;
	}
	r = cs_sink_write(&w->cells, buf, len + 1);
	col = (size_t)(w->kept++ % (unsigned long long)w->ncols);
	dw = cs_display_width(buf, len);
	if (dw > w->width[col])
		w->width[col] = dw;
	free(buf);
	return r;
}

static void
end_line(const struct cs_rows *w)
{
	fputs(w->format == CS_ROWS_CSV ? "\r\n" : "\n", w->f);
}

/* Column names before the first row (-H), as a row of text cells. */
static int
put_header(struct cs_rows *w)
{
	struct cs_cell *c;
	int i, r;

	if ((c = calloc((size_t)w->ncols, sizeof(*c))) == NULL)
		return -1;
	for (i = 0; i < w->ncols; i++) {
		c[i].type = CS_CELL_TEXT;
		c[i].p = w->names[i];
		c[i].len = strlen(w->names[i]);
	}
	w->header = false;
	r = cs_rows_put(w, c);
	w->header = true;
	w->nrows = 0;
	free(c);
	return r;
}

int
cs_rows_put(struct cs_rows *w, const struct cs_cell *cells)
{
	int i, r = 0;

	if (w->header && w->nrows == 0 && w->format != CS_ROWS_JSON &&
	    w->format != CS_ROWS_JSONL && put_header(w) == -1)
		return -1;
	switch (w->format) {
	case CS_ROWS_JSON:
	case CS_ROWS_JSONL:
		if (w->format == CS_ROWS_JSON)
			fputs(w->nrows == 0 ? "[" : ",\n", w->f);
		putc('{', w->f);
		for (i = 0; i < w->ncols; i++) {
			if (i > 0)
				putc(',', w->f);
			cs_put_json_string(w->f, w->names[i],
			    strlen(w->names[i]));
			putc(':', w->f);
			put_cell(w, w->f, &cells[i]);
		}
		putc('}', w->f);
		if (w->format == CS_ROWS_JSONL)
			putc('\n', w->f);
		w->nrows++;
		return 0;
	case CS_ROWS_TABLE:
		for (i = 0; i < w->ncols && r == 0; i++)
			r = keep_cell(w, &cells[i]);
		w->nrows++;
		return r;
	default:
		for (i = 0; i < w->ncols; i++) {
			if (i > 0)
				putc(w->format == CS_ROWS_CSV ? ',' : '\t', w->f);
			put_cell(w, w->f, &cells[i]);
		}
		end_line(w);
		w->nrows++;
		return 0;
	}
}

/* The kept cells, each column padded to its widest (in columns on the
 * screen, not bytes), two spaces between, the last one unpadded. */
static int
put_table(struct cs_rows *w)
{
	FILE *in;
	char *cell = NULL;
	size_t cap = 0, col;
	ssize_t n;
	unsigned long long i;
	int fd;

	if (w->kept == 0)
		return 0;
	if (lseek(w->cells.fd, 0, SEEK_SET) == -1 ||
	    (fd = dup(w->cells.fd)) == -1)
		return -1;
	if ((in = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	for (i = 0; (n = getdelim(&cell, &cap, '\0', in)) > 0; i++) {
		col = (size_t)(i % (unsigned long long)w->ncols);
		if (col > 0)
			fputs("  ", w->f);
		fputs(cell, w->f);
		if (col + 1 == (size_t)w->ncols)
			putc('\n', w->f);
		else
			fprintf(w->f, "%*s", (int)(w->width[col] -
			    cs_display_width(cell, (size_t)n - 1)), "");
	}
	n = ferror(in) ? -1 : 0;
	free(cell);
	fclose(in);
	return (int)n;
}

int
cs_rows_end(struct cs_rows *w)
{
	int r = 0;

	if (w->format == CS_ROWS_JSON)
		fputs(w->nrows == 0 ? "[]\n" : "]\n", w->f);
	else if (w->format == CS_ROWS_TABLE)
		r = put_table(w);
	free_set(w);
	return r;
}
