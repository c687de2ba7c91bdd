/*
 * A statement's rows as a table, CSV (RFC 4180) or JSON (rows.h).
 *
 * Tables buffer their first rows to size the columns, then stream: a
 * query over the whole fault log must not need memory for all of it.
 */
#include "rows.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define TABLE_SIZING_ROWS 1000

int fl_rows_format_parse(const char *name)
{
	if (!strcmp(name, "table"))
		return FL_ROWS_TABLE;
	if (!strcmp(name, "csv"))
		return FL_ROWS_CSV;
	if (!strcmp(name, "json"))
		return FL_ROWS_JSON;
	return -1;
}

/* Display width of UTF-8 text: code points, not bytes (no wide-glyph tables). */
static size_t width_of(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* ---- CSV ---------------------------------------------------------------- */

static void csv_field(FILE *out, const char *s, size_t n)
{
	int quote = n && (s[0] == ' ' || s[n - 1] == ' ');
	for (size_t i = 0; i < n && !quote; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
			quote = 1;
	if (!quote) {
		fwrite(s, 1, n, out);
		return;
	}
	putc('"', out);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			putc('"', out);
		putc(s[i], out);
	}
	putc('"', out);
}

static void csv_blob(FILE *out, const unsigned char *b, int n)
{
	for (int i = 0; i < n; i++)
		fprintf(out, "%02x", b[i]);
}

static int print_csv(sqlite3_stmt *st, FILE *out, struct fl_progress *pg)
{
	int nc = sqlite3_column_count(st);
	for (int c = 0; c < nc; c++) {
		const char *name = sqlite3_column_name(st, c);
		if (c)
			putc(',', out);
		csv_field(out, name ? name : "", name ? strlen(name) : 0);
	}
	fputs("\r\n", out);
	uint64_t rows = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < nc; c++) {
			if (c)
				putc(',', out);
			int type = sqlite3_column_type(st, c);
			if (type == SQLITE_NULL)
				continue;
			if (type == SQLITE_BLOB) {
				csv_blob(out, sqlite3_column_blob(st, c), sqlite3_column_bytes(st, c));
				continue;
			}
			const char *t = (const char *)sqlite3_column_text(st, c);
			csv_field(out, t ? t : "", (size_t)sqlite3_column_bytes(st, c));
		}
		fputs("\r\n", out);
		if (pg && (++rows & 0xffff) == 0)
			fl_progress_update(pg, rows, 0);
	}
	return rc;
}

/* ---- JSON --------------------------------------------------------------- */

static int print_json(sqlite3_stmt *st, FILE *out, struct fl_progress *pg)
{
	struct fl_json j;
	fl_json_init(&j, out);
	fl_json_array(&j, NULL);
	int nc = sqlite3_column_count(st);
	uint64_t rows = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fl_json_object(&j, NULL);
		for (int c = 0; c < nc; c++) {
			const char *name = sqlite3_column_name(st, c);
			if (!name)
				name = "";
			switch (sqlite3_column_type(st, c)) {
			case SQLITE_NULL:
				fl_json_null(&j, name);
				break;
			case SQLITE_INTEGER:
				fl_json_int(&j, name, sqlite3_column_int64(st, c));
				break;
			case SQLITE_FLOAT:
				fl_json_double(&j, name, sqlite3_column_double(st, c));
				break;
			case SQLITE_BLOB: {
				/* Hex text: JSON has no bytes. */
				int n = sqlite3_column_bytes(st, c);
				const unsigned char *b = sqlite3_column_blob(st, c);
				char *hex = malloc((size_t)n * 2 + 1);
				if (!hex)
					return SQLITE_NOMEM;
				for (int i = 0; i < n; i++)
					sprintf(hex + i * 2, "%02x", b[i]);
				hex[n * 2] = 0;
				fl_json_str(&j, name, hex);
				free(hex);
				break;
			}
			default: {
				const char *t = (const char *)sqlite3_column_text(st, c);
				fl_json_strn(&j, name, t ? t : "", (size_t)sqlite3_column_bytes(st, c));
			}
			}
		}
		fl_json_end(&j);
		if (pg && (++rows & 0xffff) == 0)
			fl_progress_update(pg, rows, 0);
	}
	fl_json_end(&j);
	return rc;
}

/* ---- table -------------------------------------------------------------- */

struct cell {
	char *text; /* NULL: SQL NULL */
	int num;    /* right-aligned */
};

static char *cell_text(sqlite3_stmt *st, int c, int *num)
{
	int type = sqlite3_column_type(st, c);
	*num = type == SQLITE_INTEGER || type == SQLITE_FLOAT;
	if (type == SQLITE_NULL)
		return NULL;
	if (type == SQLITE_BLOB) {
		int n = sqlite3_column_bytes(st, c);
		const unsigned char *b = sqlite3_column_blob(st, c);
		char *hex = malloc((size_t)n * 2 + 4); /* x' hex ' NUL */
		if (!hex)
			return NULL;
		strcpy(hex, "x'");
		for (int i = 0; i < n; i++)
			sprintf(hex + 2 + i * 2, "%02x", b[i]);
		strcpy(hex + 2 + n * 2, "'");
		return hex;
	}
	const char *t = (const char *)sqlite3_column_text(st, c);
	char *s = strdup(t ? t : "");
	/* A table row is one line. */
	for (char *p = s; p && *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	return s;
}

/* One line; blanks are written only when text follows them (none trail). */
static void table_row(FILE *out, const struct cell *row, const size_t *w, int nc)
{
	size_t blanks = 0;
	for (int c = 0; c < nc; c++) {
		const char *t = row[c].text ? row[c].text : "";
		size_t pad = w[c] > width_of(t) ? w[c] - width_of(t) : 0;
		if (c)
			blanks += 2;
		if (row[c].num)
			blanks += pad;
		if (*t) {
			fprintf(out, "%*s%s", (int)blanks, "", t);
			blanks = 0;
		}
		if (!row[c].num)
			blanks += pad;
	}
	putc('\n', out);
}

static int print_table(sqlite3_stmt *st, FILE *out, struct fl_progress *pg)
{
	int nc = sqlite3_column_count(st);
	if (nc == 0) {
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		return rc;
	}
	size_t *w = calloc((size_t)nc, sizeof *w);
	struct cell *rows = calloc((size_t)nc * TABLE_SIZING_ROWS, sizeof *rows);
	struct cell *head = calloc((size_t)nc, sizeof *head);
	int rc = SQLITE_NOMEM;
	if (!w || !rows || !head)
		goto out;
	for (int c = 0; c < nc; c++) {
		const char *name = sqlite3_column_name(st, c);
		head[c].text = strdup(name ? name : "");
		w[c] = head[c].text ? width_of(head[c].text) : 0;
	}
	size_t n = 0;
	while (n < TABLE_SIZING_ROWS && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < nc; c++) {
			struct cell *x = &rows[n * (size_t)nc + c];
			x->text = cell_text(st, c, &x->num);
			if (x->text && width_of(x->text) > w[c])
				w[c] = width_of(x->text);
		}
		n++;
	}
	/* Headers take the alignment of their column's first value. */
	for (int c = 0; c < nc && n; c++)
		head[c].num = rows[c].num;
	table_row(out, head, w, nc);
	for (int c = 0; c < nc; c++) {
		if (c)
			fputs("  ", out);
		for (size_t i = 0; i < w[c]; i++)
			putc('-', out);
	}
	putc('\n', out);
	for (size_t i = 0; i < n; i++)
		table_row(out, &rows[i * (size_t)nc], w, nc);
	if (n == TABLE_SIZING_ROWS) {
		uint64_t total = n;
		struct cell *row = rows; /* reused for one row at a time */
		for (size_t i = 0; i < n * (size_t)nc; i++) {
			free(rows[i].text);
			rows[i].text = NULL;
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			for (int c = 0; c < nc; c++)
				row[c].text = cell_text(st, c, &row[c].num);
			table_row(out, row, w, nc);
			for (int c = 0; c < nc; c++) {
				free(row[c].text);
				row[c].text = NULL;
			}
			if (pg && (++total & 0xffff) == 0)
				fl_progress_update(pg, total, 0);
		}
		n = 0;
	}
out:
	if (rows)
		for (size_t i = 0; i < (size_t)nc * TABLE_SIZING_ROWS; i++)
			free(rows[i].text);
	if (head)
		for (int c = 0; c < nc; c++)
			free(head[c].text);
	free(rows);
	free(head);
	free(w);
	return rc;
}

int fl_rows_print(sqlite3_stmt *st, enum fl_rows_format fmt, FILE *out, struct fl_progress *progress)
{
	switch (fmt) {
	case FL_ROWS_CSV:
		return print_csv(st, out, progress);
	case FL_ROWS_JSON:
		return print_json(st, out, progress);
	default:
		return print_table(st, out, progress);
	}
}
