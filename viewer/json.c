/*
 * The JSON writer of the post-mortem commands (json.h).  It writes as it
 * goes: a report or a query result of millions of rows is never held
 * whole in memory.
 */
#include "json.h"

#include <math.h>
#include <string.h>

void fl_json_init(struct fl_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->count[0] = 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned min;
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		len = 2, min = 0x80, c &= 0x1f;
	else if ((c & 0xf0) == 0xe0)
		len = 3, min = 0x800, c &= 0x0f;
	else if ((c & 0xf8) == 0xf0)
		len = 4, min = 0x10000, c &= 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

void fl_json_quote(FILE *f, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	putc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			putc('\\', f);
			putc(c, f);
			i++;
		} else if (c < 0x20) {
			switch (c) {
			case '\n': fputs("\\n", f); break;
			case '\t': fputs("\\t", f); break;
			case '\r': fputs("\\r", f); break;
			default: fprintf(f, "\\u%04x", c); break;
			}
			i++;
		} else {
			size_t l = utf8_len(s + i, n - i);
			if (l == 0) {
				fputs("\\ufffd", f);
				i++;
			} else {
				fwrite(s + i, 1, l, f);
				i += l;
			}
		}
	}
	putc('"', f);
}

/* Separator, newline and indent before a member, and its key. */
static void member(struct fl_json *j, const char *key)
{
	if (j->count[j->depth]++)
		putc(',', j->f);
	if (j->depth) {
		putc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	if (key) {
		fl_json_quote(j->f, key, strlen(key));
		fputs(": ", j->f);
	}
}

static void open_(struct fl_json *j, const char *key, char c)
{
	member(j, key);
	putc(c, j->f);
	/* Deeper than the writer keeps track of: the caller's bug; the
	 * output stays well-formed only up to FL_JSON_DEPTH. */
	if (j->depth + 1 < FL_JSON_DEPTH)
		j->depth++;
	j->count[j->depth] = 0;
	j->close[j->depth] = c == '{' ? '}' : ']';
}

void fl_json_object(struct fl_json *j, const char *key)
{
	open_(j, key, '{');
}

void fl_json_array(struct fl_json *j, const char *key)
{
	open_(j, key, '[');
}

void fl_json_end(struct fl_json *j)
{
	if (j->depth == 0)
		return;
	int had = j->count[j->depth];
	char c = j->close[j->depth];
	j->depth--;
	if (had) {
		putc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	putc(c, j->f);
	if (j->depth == 0)
		putc('\n', j->f);
}

void fl_json_int(struct fl_json *j, const char *key, int64_t v)
{
	member(j, key);
	fprintf(j->f, "%lld", (long long)v);
}

void fl_json_double(struct fl_json *j, const char *key, double v)
{
	member(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.15g", v);
	else
		fputs("null", j->f);
}

void fl_json_strn(struct fl_json *j, const char *key, const char *s, size_t n)
{
	member(j, key);
	if (s)
		fl_json_quote(j->f, s, n);
	else
		fputs("null", j->f);
}

void fl_json_str(struct fl_json *j, const char *key, const char *s)
{
	fl_json_strn(j, key, s, s ? strlen(s) : 0);
}

void fl_json_bool(struct fl_json *j, const char *key, int v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void fl_json_null(struct fl_json *j, const char *key)
{
	member(j, key);
	fputs("null", j->f);
}
