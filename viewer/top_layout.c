/*
 * faultline top's layout: plain structs (top.h: what the queries found,
 * what the user chose) and a screen size in, lines of text with attribute
 * spans out.  Nothing here knows about terminals, so every screen can be
 * checked in a unit test at any size; top_tui.c only copies the lines out.
 *
 * Text is ASCII, one byte per column, so widths are exact on any
 * terminal and over any ssh; names from the database that are not
 * printable ASCII show as '?'.
 */
#include "top.h"

#include <ctype.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* ------------------------------------------------------------ basics */

void fl_top_view_init(struct fl_top_view *v)
{
	memset(v, 0, sizeof *v);
	v->screen = FL_TOP_PROCS;
	v->interval = 1.0;
	v->sort_col = FL_TOP_COL_START;
	v->proc_sel_id = -1;
}

int fl_top_screen_alloc(struct fl_top_screen *s, int cols, int rows)
{
	if (cols < 1)
		cols = 1;
	if (rows < 1)
		rows = 1;
	if (cols > FL_TOP_MAX_COLS)
		cols = FL_TOP_MAX_COLS;
	struct fl_top_line *l = calloc((size_t)rows, sizeof *l);
	if (!l)
		return -1;
	free(s->lines);
	s->lines = l;
	s->cols = cols;
	s->rows = rows;
	return 0;
}

void fl_top_screen_free(struct fl_top_screen *s)
{
	free(s->lines);
	s->lines = NULL;
	s->cols = s->rows = 0;
}

static void line_clear(struct fl_top_line *l, int cols)
{
	memset(l->text, ' ', (size_t)cols);
	l->text[cols] = 0;
	l->nspans = 0;
}

static void span(struct fl_top_line *l, int cols, int start, int len, enum fl_top_attr a)
{
	if (start < 0) {
		len += start;
		start = 0;
	}
	if (start + len > cols)
		len = cols - start;
	if (len <= 0 || (a == FL_TOP_A_NORMAL && l->nspans == 0))
		return;
	if (l->nspans == FL_TOP_MAX_SPANS) {
		/* Out of room: the later span wins over the oldest, which
		 * keeps what the reader looks at last (the marker, the cursor). */
		memmove(l->spans, l->spans + 1, sizeof l->spans[0] * (FL_TOP_MAX_SPANS - 1));
		l->nspans--;
	}
	l->spans[l->nspans++] = (struct fl_top_span){(short)start, (short)len, (unsigned char)a};
}

/*
 * Write s at column x, at most max characters (-1: to the end), and mark
 * it with attribute a.  Returns the column after it.  Bytes that are not
 * printable ASCII are shown as '?' so one byte stays one column.
 */
static int put(struct fl_top_line *l, int cols, int x, const char *s, int max, enum fl_top_attr a)
{
	if (x >= cols || x < 0)
		return x;
	int room = cols - x;
	if (max >= 0 && max < room)
		room = max;
	int n = 0;
	for (; s[n] && n < room; n++) {
		unsigned char c = (unsigned char)s[n];
		l->text[x + n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (n && a != FL_TOP_A_NORMAL)
		span(l, cols, x, n, a);
	return x + n;
}

__attribute__((format(printf, 6, 7))) static int putf(struct fl_top_line *l, int cols, int x, int max,
						      enum fl_top_attr a, const char *fmt, ...)
{
	char buf[FL_TOP_MAX_COLS + 1];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return put(l, cols, x, buf, max, a);
}

/* s right-aligned in [x, x+w). */
static void put_right(struct fl_top_line *l, int cols, int x, int w, const char *s, enum fl_top_attr a)
{
	int n = (int)strlen(s);
	if (n > w)
		n = w;
	put(l, cols, x + w - n, s + (int)strlen(s) - n, n, a);
}

/* A path or name cut to w columns keeping its end ("...b/libc.so.6"): the
 * end is the part that tells files apart. */
static void put_tail(struct fl_top_line *l, int cols, int x, int w, const char *s, enum fl_top_attr a)
{
	int n = (int)strlen(s);
	if (n <= w || w < 4) {
		put(l, cols, x, s, w, a);
		return;
	}
	put(l, cols, x, "...", 3, a);
	put(l, cols, x + 3, s + n - (w - 3), w - 3, a);
}

void fl_top_size(int64_t bytes, char *buf, size_t len)
{
	if (bytes < 0) {
		snprintf(buf, len, "-");
		return;
	}
	if (bytes < 1024) {
		snprintf(buf, len, "%dB", (int)bytes);
		return;
	}
	static const char units[] = "KMGTPE";
	double v = (double)bytes / 1024.0;
	int u = 0;
	while (v >= 1023.95 && u < 5) {
		v /= 1024.0;
		u++;
	}
	if (v < 9.95)
		snprintf(buf, len, "%.1f%c", v, units[u]);
	else
		snprintf(buf, len, "%.0f%c", v, units[u]);
}

/* A count in at most 6 characters: 1234, 12.3k, 1.2M. */
static void count_text(double v, char *buf, size_t len)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else if (v < 9999.5)
		snprintf(buf, len, "%.0f", v);
	else if (v < 999.95e3)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else if (v < 999.95e6)
		snprintf(buf, len, "%.1fM", v / 1e6);
	else
		snprintf(buf, len, "%.1fG", v / 1e9);
}

static const char *signal_abbrev(int sig)
{
	const char *s = sigabbrev_np(sig);
	return s ? s : "?";
}

void fl_top_how_text(const struct fl_top_proc *p, char *buf, size_t len)
{
	switch (p->how) {
	case FL_TOP_RUNNING:
		snprintf(buf, len, "running");
		break;
	case FL_TOP_EXITED:
		snprintf(buf, len, "exited %d", p->exit_status);
		break;
	case FL_TOP_SIGNALLED:
		snprintf(buf, len, "killed %s", signal_abbrev(p->exit_status));
		break;
	case FL_TOP_VANISHED:
		snprintf(buf, len, "vanished");
		break;
	case FL_TOP_LOST:
		snprintf(buf, len, "lost");
		break;
	case FL_TOP_UNLOGGED:
		snprintf(buf, len, "not logged");
		break;
	}
}

static int proc_ended(const struct fl_top_proc *p)
{
	return p->how != FL_TOP_RUNNING && p->how != FL_TOP_UNLOGGED;
}

/* --------------------------------------------------------- pressure */

const char *fl_top_pressure_text(int pressure, int color)
{
	switch (pressure) {
	case FL_PRESSURE_NORMAL:
		return "NORMAL";
	case FL_PRESSURE_WARN:
		/* With color the marker's background says it; without, the
		 * text must, and bangs are what an eye scanning a line stops at. */
		return color ? " WARN " : "!WARN!";
	case FL_PRESSURE_CRITICAL:
		return color ? " CRITICAL " : "!CRITICAL!";
	default:
		return "-";
	}
}

enum fl_top_attr fl_top_pressure_attr(int pressure)
{
	switch (pressure) {
	case FL_PRESSURE_NORMAL:
		return FL_TOP_A_P_NORMAL;
	case FL_PRESSURE_WARN:
		return FL_TOP_A_P_WARN;
	case FL_PRESSURE_CRITICAL:
		return FL_TOP_A_P_CRITICAL;
	default:
		return FL_TOP_A_DIM;
	}
}

/* ------------------------------------------------------ region table */

static const struct {
	const char *name;
	int width;
	int right;     /* right-aligned (numbers) */
	int optional;  /* shown only when there is room, in this order of preference */
} cols_def[FL_TOP_COL__COUNT] = {
	[FL_TOP_COL_TYPE] = {"REGION TYPE", 12, 0, 0},
	[FL_TOP_COL_START] = {"START-END", 25, 0, 0},
	[FL_TOP_COL_VSIZE] = {"VSIZE", 6, 1, 0},
	[FL_TOP_COL_RSIZE] = {"RSIZE", 6, 1, 0},
	[FL_TOP_COL_INACT] = {"INACT", 6, 1, 1},
	[FL_TOP_COL_CSIZE] = {"CSIZE", 6, 1, 0},
	[FL_TOP_COL_CORIG] = {"CORIG", 6, 1, 3},
	[FL_TOP_COL_UNTCH] = {"UNTCH", 6, 1, 2},
	[FL_TOP_COL_FAULTS] = {"FAULTS", 7, 1, 0},
	[FL_TOP_COL_PRT] = {"PRT", 3, 0, 0},
	[FL_TOP_COL_PAGES] = {"PAGE MAP", 16, 0, 4},
	[FL_TOP_COL_DETAIL] = {"DETAIL", 8, 0, 0},
};

const char *fl_top_col_name(enum fl_top_col c)
{
	return c >= 0 && c < FL_TOP_COL__COUNT ? cols_def[c].name : "?";
}

int fl_top_col_default_desc(enum fl_top_col c)
{
	return c != FL_TOP_COL_TYPE && c != FL_TOP_COL_START && c != FL_TOP_COL_PRT && c != FL_TOP_COL_DETAIL;
}

void fl_top_region_columns(int cols, int width[FL_TOP_COL__COUNT])
{
	int used = 0;
	for (int c = 0; c < FL_TOP_COL__COUNT; c++) {
		width[c] = cols_def[c].optional ? 0 : cols_def[c].width;
		if (width[c] && c != FL_TOP_COL_DETAIL)
			used += width[c] + 1;
	}
	/* Optional columns join while DETAIL keeps room for a name. */
	for (int pref = 1; pref <= 4; pref++)
		for (int c = 0; c < FL_TOP_COL__COUNT; c++)
			if (cols_def[c].optional == pref && cols - used - (cols_def[c].width + 1) >= 24) {
				width[c] = cols_def[c].width;
				used += width[c] + 1;
			}
	width[FL_TOP_COL_DETAIL] = cols - used > 1 ? cols - used : 1;
}

void fl_top_region_header(const struct fl_top_view *v, int cols, struct fl_top_line *out)
{
	int w[FL_TOP_COL__COUNT];
	fl_top_region_columns(cols, w);
	line_clear(out, cols);
	span(out, cols, 0, cols, FL_TOP_A_HEADER);
	int x = 0;
	for (int c = 0; c < FL_TOP_COL__COUNT; c++) {
		if (!w[c])
			continue;
		char name[32];
		int sorted = v && (int)v->sort_col == c;
		/* The sorted column carries its direction: a caret up for
		 * ascending, a 'v' for descending. */
		if (sorted && cols_def[c].right)
			snprintf(name, sizeof name, "%c%s", v->sort_desc ? 'v' : '^', cols_def[c].name);
		else if (sorted)
			snprintf(name, sizeof name, "%s%c", cols_def[c].name, v->sort_desc ? 'v' : '^');
		else
			snprintf(name, sizeof name, "%s", cols_def[c].name);
		if (cols_def[c].right)
			put_right(out, cols, x, w[c], name, sorted ? FL_TOP_A_SORTED : FL_TOP_A_NORMAL);
		else
			put(out, cols, x, name, w[c], sorted ? FL_TOP_A_SORTED : FL_TOP_A_NORMAL);
		x += w[c] + 1;
	}
}

static const char page_char[] = {
	[FL_STATE_UNTOUCHED] = '.', [FL_STATE_RESIDENT] = 'R', [FL_STATE_INACTIVE] = 'i',
	[FL_STATE_COMPRESSED] = 'C', [FL_STATE_SAME_FILLED] = 's',
};
static const enum fl_top_attr page_attr[] = {
	[FL_STATE_UNTOUCHED] = FL_TOP_A_UNTOUCHED, [FL_STATE_RESIDENT] = FL_TOP_A_RESIDENT,
	[FL_STATE_INACTIVE] = FL_TOP_A_INACTIVE, [FL_STATE_COMPRESSED] = FL_TOP_A_COMPRESSED,
	[FL_STATE_SAME_FILLED] = FL_TOP_A_SAME,
};

static int page_state_ok(unsigned s)
{
	return s <= FL_STATE_SAME_FILLED;
}

/* The strip squeezed or stretched into w columns, colored by state. */
static void put_strip(struct fl_top_line *l, int cols, int x, int w, const uint8_t *strip)
{
	for (int i = 0; i < w && x + i < cols; i++) {
		unsigned s = strip[(size_t)i * FL_STATE_STRIP / (size_t)w];
		if (!page_state_ok(s))
			s = FL_STATE_UNTOUCHED;
		l->text[x + i] = page_char[s];
	}
	/* One span per run of a state: the span budget is per line. */
	int i = 0;
	while (i < w && x + i < cols) {
		unsigned s = strip[(size_t)i * FL_STATE_STRIP / (size_t)w];
		int j = i + 1;
		while (j < w && strip[(size_t)j * FL_STATE_STRIP / (size_t)w] == s)
			j++;
		if (page_state_ok(s) && s != FL_STATE_UNTOUCHED)
			span(l, cols, x + i, j - i, page_attr[s]);
		i = j;
	}
}

static void prot_text(unsigned prot, char out[4])
{
	out[0] = prot & PROT_READ ? 'r' : '-';
	out[1] = prot & PROT_WRITE ? 'w' : '-';
	out[2] = prot & PROT_EXEC ? 'x' : '-';
	out[3] = 0;
}

void fl_top_region_row(const struct fl_top_region *r, int cols, struct fl_top_line *out)
{
	int w[FL_TOP_COL__COUNT];
	fl_top_region_columns(cols, w);
	line_clear(out, cols);
	int x = 0;
	char buf[64];
	for (int c = 0; c < FL_TOP_COL__COUNT; c++) {
		if (!w[c])
			continue;
		int64_t size = -2;
		switch (c) {
		case FL_TOP_COL_TYPE:
			put(out, cols, x, r->type, w[c], FL_TOP_A_NORMAL);
			break;
		case FL_TOP_COL_START:
			snprintf(buf, sizeof buf, "%012" PRIx64 "-%012" PRIx64, r->start, r->start + r->len);
			put(out, cols, x, buf, w[c], FL_TOP_A_NORMAL);
			break;
		case FL_TOP_COL_VSIZE:
			size = (int64_t)r->len;
			break;
		case FL_TOP_COL_RSIZE:
			size = r->rsize;
			break;
		case FL_TOP_COL_INACT:
			size = r->isize;
			break;
		case FL_TOP_COL_CSIZE:
			size = r->csize;
			break;
		case FL_TOP_COL_CORIG:
			size = r->corig;
			break;
		case FL_TOP_COL_UNTCH:
			size = r->usize;
			break;
		case FL_TOP_COL_FAULTS:
			count_text((double)r->faults, buf, sizeof buf);
			put_right(out, cols, x, w[c], buf, r->faults < 0 ? FL_TOP_A_DIM : FL_TOP_A_NORMAL);
			break;
		case FL_TOP_COL_PRT:
			prot_text(r->prot, buf);
			put(out, cols, x, buf, w[c], FL_TOP_A_NORMAL);
			break;
		case FL_TOP_COL_PAGES:
			if (r->has_strip)
				put_strip(out, cols, x, w[c], r->strip);
			else
				put(out, cols, x, "-", w[c], FL_TOP_A_DIM);
			break;
		case FL_TOP_COL_DETAIL:
			put_tail(out, cols, x, w[c], r->detail, FL_TOP_A_NORMAL);
			break;
		}
		if (size != -2) {
			fl_top_size(size, buf, sizeof buf);
			put_right(out, cols, x, w[c], buf, size < 0 ? FL_TOP_A_DIM : FL_TOP_A_NORMAL);
		}
		x += w[c] + 1;
	}
}

static int has_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	if (!n)
		return 1;
	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return 1;
	return 0;
}

int fl_top_region_matches(const struct fl_top_region *r, const char *text)
{
	if (!text || !text[0])
		return 1;
	char range[64];
	snprintf(range, sizeof range, "%012" PRIx64 "-%012" PRIx64, r->start, r->start + r->len);
	const char *t = text;
	/* "0x7f12..." is how people write addresses. */
	if (t[0] == '0' && (t[1] == 'x' || t[1] == 'X') && t[2])
		t += 2;
	return has_ci(r->type, text) || has_ci(r->detail, text) || has_ci(range, t);
}

/* The fraction of a region that holds pages (for sorting by the page map). */
static double fullness(const struct fl_top_region *r)
{
	if (!r->len || r->usize < 0)
		return -1;
	return 1.0 - (double)r->usize / (double)r->len;
}

static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int region_cmp(const struct fl_top_region *a, const struct fl_top_region *b, enum fl_top_col c)
{
	int d = 0;
	switch (c) {
	case FL_TOP_COL_TYPE:
		d = strcmp(a->type, b->type);
		break;
	case FL_TOP_COL_START:
		d = a->start < b->start ? -1 : a->start > b->start;
		break;
	case FL_TOP_COL_VSIZE:
		d = cmp_i64((int64_t)a->len, (int64_t)b->len);
		break;
	case FL_TOP_COL_RSIZE:
		d = cmp_i64(a->rsize, b->rsize);
		break;
	case FL_TOP_COL_INACT:
		d = cmp_i64(a->isize, b->isize);
		break;
	case FL_TOP_COL_CSIZE:
		d = cmp_i64(a->csize, b->csize);
		break;
	case FL_TOP_COL_CORIG:
		d = cmp_i64(a->corig, b->corig);
		break;
	case FL_TOP_COL_UNTCH:
		d = cmp_i64(a->usize, b->usize);
		break;
	case FL_TOP_COL_FAULTS:
		d = cmp_i64(a->faults, b->faults);
		break;
	case FL_TOP_COL_PRT:
		d = cmp_i64(a->prot, b->prot);
		break;
	case FL_TOP_COL_PAGES: {
		double fa = fullness(a), fb = fullness(b);
		d = fa < fb ? -1 : fa > fb;
		break;
	}
	case FL_TOP_COL_DETAIL:
		d = strcmp(a->detail, b->detail);
		break;
	default:
		break;
	}
	return d;
}

/* qsort has no context argument; the sort runs on one thread. */
static const struct fl_top_region *sort_regions;
static enum fl_top_col sort_col;
static int sort_desc;

static int idx_cmp(const void *pa, const void *pb)
{
	const struct fl_top_region *a = &sort_regions[*(const int *)pa], *b = &sort_regions[*(const int *)pb];
	int d = region_cmp(a, b, sort_col);
	if (sort_desc)
		d = -d;
	/* Ties in address order, which also makes the order stable. */
	if (!d)
		d = a->start < b->start ? -1 : a->start > b->start;
	return d;
}

int fl_top_regions_visible(const struct fl_top_view *v, const struct fl_top_region *r, int n, int *idx)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (v->type_filter[0] && strcasecmp(r[i].type, v->type_filter))
			continue;
		if (!fl_top_region_matches(&r[i], v->name_filter))
			continue;
		idx[k++] = i;
	}
	sort_regions = r;
	sort_col = v->sort_col;
	sort_desc = v->sort_desc;
	qsort(idx, (size_t)k, sizeof *idx, idx_cmp);
	return k;
}

/* ----------------------------------------------------------- common */

int fl_top_table_rows(int rows)
{
	/* title, summary, status, info, header ... hints */
	return rows - 6 > 0 ? rows - 6 : 0;
}

static const char *const screen_names[FL_TOP__SCREENS] = {"processes", "regions", "page map", "faults"};

static void layout_title(const struct fl_top_view *v, const struct fl_top_data *d, struct fl_top_screen *s)
{
	struct fl_top_line *l = &s->lines[0];
	int cols = s->cols;
	line_clear(l, cols);
	span(l, cols, 0, cols, FL_TOP_A_TITLE);
	int x = put(l, cols, 0, " faultline top ", -1, FL_TOP_A_NORMAL);
	for (int i = 0; i < FL_TOP__SCREENS; i++) {
		x = putf(l, cols, x + 1, -1, FL_TOP_A_NORMAL, "%d:", i + 1);
		int x0 = x;
		x = put(l, cols, x, screen_names[i], -1, FL_TOP_A_NORMAL);
		if (!v->help && (int)v->screen == i)
			span(l, cols, x0 - 2, x - x0 + 2, FL_TOP_A_TAB);
		x = put(l, cols, x, " ", -1, FL_TOP_A_NORMAL);
	}
	char right[64];
	if (d->now_ns > 0) {
		time_t t = (time_t)(d->now_ns / 1000000000);
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(right, sizeof right, "%H:%M:%S ", &tm);
	} else {
		right[0] = 0;
	}
	int rl = (int)strlen(right);
	if (cols - rl > x)
		put(l, cols, cols - rl, right, -1, FL_TOP_A_NORMAL);
}

/* The summary of process p (at the time shown), with pressure at the right end. */
static void layout_summary(const struct fl_top_view *v, const struct fl_top_data *d, const struct fl_top_proc *p,
			   const struct fl_top_sample *sm, struct fl_top_line *l, int cols)
{
	line_clear(l, cols);
	if (!p || !p->pid) {
		put(l, cols, 1, "no process selected", -1, FL_TOP_A_DIM);
		return;
	}
	const char *name = strrchr(p->exe, '/') ? strrchr(p->exe, '/') + 1 : p->exe;
	char how[32], a[16], b[16], c[16];
	fl_top_how_text(p, how, sizeof how);
	int x = putf(l, cols, 0, -1, FL_TOP_A_BOLD, "pid %d %.24s", p->pid, name[0] ? name : "?");
	/* "running" is what a rate already says; in 80 columns its room goes to the figures. */
	if (p->how != FL_TOP_RUNNING || cols >= 100)
		x = put(l, cols, x + 1, how, -1, proc_ended(p) ? FL_TOP_A_DIM : FL_TOP_A_RUNNING);
	/* The marker first, at the right edge, so the figures never push it off. */
	const char *mark = fl_top_pressure_text(sm ? sm->pressure : -1, v->color);
	int mx = cols - (int)strlen(mark);
	if (sm && sm->pressure >= 0) {
		put(l, cols, mx, mark, -1, fl_top_pressure_attr(sm->pressure));
		mx -= 1;
	}
	if (!sm) {
		put(l, cols, x + 2, p->how == FL_TOP_UNLOGGED ? "not under the shim" : "no samples", mx - x - 3,
		    FL_TOP_A_DIM);
		return;
	}
	uint64_t ps = sm->page_size ? sm->page_size : 4096;
	fl_top_size((int64_t)(sm->resident * ps), a, sizeof a);
	char seg[128];
	if (sm->budget) {
		fl_top_size((int64_t)(sm->budget * ps), b, sizeof b);
		snprintf(seg, sizeof seg, "RSIZE %s/%s", a, b);
	} else {
		snprintf(seg, sizeof seg, "RSIZE %s", a);
	}
	/* CSIZE as vmmap has it: what the compressed pages take; then what
	 * the store holds at full size (same-filled pages included). */
	uint64_t held = (sm->compressed + sm->same_filled) * ps;
	char hb[16];
	fl_top_size((int64_t)sm->compressed_bytes, hb, sizeof hb);
	fl_top_size((int64_t)held, c, sizeof c);
	char seg2[64];
	if (held)
		snprintf(seg2, sizeof seg2, "CSIZE %s (%s orig)", hb, c);
	else
		snprintf(seg2, sizeof seg2, "CSIZE %s", hb);
	uint64_t total = 0;
	for (int k = 0; k < FL_TOP_KINDS; k++)
		total += sm->faults[k];
	count_text((double)total, a, sizeof a);
	char seg3[64];
	/* The rate over the last two samples the graph has. */
	if (d->nhist >= 2 && !proc_ended(p)) {
		const struct fl_top_sample *s1 = &d->hist[d->nhist - 1], *s0 = &d->hist[d->nhist - 2];
		uint64_t t1 = 0, t0 = 0;
		for (int k = 0; k < FL_TOP_KINDS; k++) {
			t1 += s1->faults[k];
			t0 += s0->faults[k];
		}
		double dt = (double)(s1->t_ns - s0->t_ns) / 1e9;
		count_text(dt > 0 && t1 >= t0 ? (double)(t1 - t0) / dt : 0, b, sizeof b);
		snprintf(seg3, sizeof seg3, "faults %s %s/s", a, b);
	} else {
		snprintf(seg3, sizeof seg3, "faults %s", a);
	}
	const char *segs[3] = {seg, seg2, seg3};
	int need = 0;
	for (int i = 0; i < 3; i++)
		need += 2 + (int)strlen(segs[i]);
	/* Short of room, the original size goes before the fault count does. */
	if (x + need >= mx && held) {
		need -= (int)strlen(seg2);
		snprintf(seg2, sizeof seg2, "CSIZE %s", hb);
		need += (int)strlen(seg2);
	}
	/* The word "pressure" goes first when the figures need its room. */
	if (sm->pressure >= 0 && x + need + 9 <= mx) {
		put(l, cols, mx - 8, "pressure", -1, FL_TOP_A_NORMAL);
		mx -= 9;
	}
	for (int i = 0; i < 3; i++) {
		int n = (int)strlen(segs[i]);
		if (x + 2 + n <= mx)
			x = put(l, cols, x + 2, segs[i], -1, FL_TOP_A_NORMAL);
	}
}

/* The status line: the replay slider, or what the live view is reading. */
static void layout_status(const struct fl_top_view *v, const struct fl_top_data *d, struct fl_top_line *l, int cols)
{
	line_clear(l, cols);
	if (!d->replay) {
		int x = putf(l, cols, 0, -1, FL_TOP_A_NORMAL, "live, every %.3gs", v->interval);
		if (d->source[0])
			x = putf(l, cols, x, -1, FL_TOP_A_NORMAL, "  db %s", d->source);
		(void)x;
		return;
	}
	char when[48];
	double at = d->t_count ? (double)(d->now_ns - d->t_first) / 1e9 : 0;
	double len = (double)(d->t_last - d->t_first) / 1e9;
	snprintf(when, sizeof when, "REPLAY T+%.1fs of %.1fs", at, len);
	int x = put(l, cols, 0, when, -1, FL_TOP_A_BOLD);
	char pos[48];
	snprintf(pos, sizeof pos, " %d/%d  <-/-> [ ] step", d->t_count ? d->t_index + 1 : 0, d->t_count);
	int bar = cols - x - (int)strlen(pos) - 3;
	if (bar > 60)
		bar = 60;
	if (bar >= 5) {
		x = put(l, cols, x + 1, "[", -1, FL_TOP_A_NORMAL);
		int at_col = d->t_count > 1 ? (int)((long long)d->t_index * (bar - 1) / (d->t_count - 1)) : 0;
		for (int i = 0; i < bar; i++)
			l->text[x + i] = i < at_col ? '=' : i == at_col ? '|' : '-';
		span(l, cols, x + at_col, 1, FL_TOP_A_SELECTED);
		x = put(l, cols, x + bar, "]", -1, FL_TOP_A_NORMAL);
	}
	put(l, cols, x, pos, -1, FL_TOP_A_NORMAL);
}

static void layout_hints(const struct fl_top_view *v, struct fl_top_line *l, int cols)
{
	line_clear(l, cols);
	if (v->prompt != FL_TOP_PROMPT_NONE) {
		int x = put(l, cols, 0, v->prompt == FL_TOP_PROMPT_SEARCH ? "/" : "filter: ", -1, FL_TOP_A_BOLD);
		x = put(l, cols, x, v->input, -1, FL_TOP_A_NORMAL);
		put(l, cols, x, "_", -1, FL_TOP_A_SELECTED);
		put(l, cols, cols - 26 > x + 2 ? cols - 26 : x + 2, "Enter: apply  Esc: cancel", -1, FL_TOP_A_DIM);
		return;
	}
	if (v->message[0]) {
		put(l, cols, 0, v->message, -1, FL_TOP_A_BOLD);
		return;
	}
	static const char *const hints[FL_TOP__SCREENS] = {
		"Enter:open  Up/Down:move  Tab:next screen  ?:help  q:quit",
		"Enter:page map  <>:sort  r:reverse  t:type  f:filter  /:search  ?:help  q:quit",
		"Up/Down:region  Esc:back  Tab:next screen  ?:help  q:quit",
		"a:stacks/allocation sites  Esc:back  Tab:next screen  ?:help  q:quit",
	};
	const char *h = v->help ? "any key: close help" : hints[v->screen];
	/* Key names bold, descriptions plain. */
	int x = 0;
	const char *p = h;
	while (*p && x < cols) {
		const char *sp = strchr(p, ' ');
		int n = sp ? (int)(sp - p) : (int)strlen(p);
		const char *colon = memchr(p, ':', (size_t)n);
		if (colon && colon > p) {
			put(l, cols, x, p, (int)(colon - p), FL_TOP_A_KEY);
			put(l, cols, x + (int)(colon - p), colon, n - (int)(colon - p), FL_TOP_A_NORMAL);
		} else {
			put(l, cols, x, p, n, FL_TOP_A_NORMAL);
		}
		x += n;
		p += n;
		while (*p == ' ' && x < cols) {
			p++;
			x++;
		}
	}
}

static void empty_note(struct fl_top_screen *s, int row, const char *text)
{
	if (row < s->rows - 1)
		put(&s->lines[row], s->cols, 1, text, -1, FL_TOP_A_DIM);
}

/* --------------------------------------------------------- processes */

static void layout_procs(const struct fl_top_view *v, const struct fl_top_data *d, struct fl_top_screen *s)
{
	int cols = s->cols;
	int running = 0;
	for (int i = 0; i < d->nprocs; i++)
		running += !proc_ended(&d->procs[i]);
	putf(&s->lines[3], cols, 0, -1, FL_TOP_A_NORMAL, "%d process%s: %d running, %d ended", d->nprocs,
	     d->nprocs == 1 ? "" : "es", running, d->nprocs - running);
	int engine = cols >= 100;
	int cmdx = 7 + 1 + 12 + 1 + (engine ? 10 : 0) + 7 + 7 + 9 + 13;
	struct fl_top_line *h = &s->lines[4];
	span(h, cols, 0, cols, FL_TOP_A_HEADER);
	int x = 0;
	put_right(h, cols, x, 7, "PID", FL_TOP_A_NORMAL);
	x += 8;
	put(h, cols, x, "STATE", -1, FL_TOP_A_NORMAL);
	x += 13;
	if (engine) {
		put(h, cols, x, "ENGINE", -1, FL_TOP_A_NORMAL);
		x += 10;
	}
	put_right(h, cols, x, 6, "RSIZE", FL_TOP_A_NORMAL);
	x += 7;
	put_right(h, cols, x, 6, "CSIZE", FL_TOP_A_NORMAL);
	x += 7;
	put_right(h, cols, x, 8, "FAULTS", FL_TOP_A_NORMAL);
	x += 9;
	put(h, cols, x, "PRESSURE", -1, FL_TOP_A_NORMAL);
	put(h, cols, cmdx, "COMMAND", -1, FL_TOP_A_NORMAL);

	int nrows = fl_top_table_rows(s->rows);
	if (!d->nprocs)
		empty_note(s, 5, d->source[0] ? "no processes in the database yet" : "no database: use --db PATH or --pid N");
	for (int r = 0; r < nrows && v->proc_top + r < d->nprocs; r++) {
		int i = v->proc_top + r;
		const struct fl_top_proc *p = &d->procs[i];
		struct fl_top_line *l = &s->lines[5 + r];
		int ended = proc_ended(p);
		char buf[64];
		x = 0;
		putf(l, cols, x, 7, FL_TOP_A_NORMAL, "%7d", p->pid);
		x += 8;
		fl_top_how_text(p, buf, sizeof buf);
		put(l, cols, x, buf, 12, ended ? FL_TOP_A_NORMAL : FL_TOP_A_RUNNING);
		x += 13;
		if (engine) {
			put(l, cols, x, p->engine, 9, FL_TOP_A_NORMAL);
			x += 10;
		}
		const struct fl_top_sample *sm = p->has_sample ? &p->last : NULL;
		uint64_t ps = sm && sm->page_size ? sm->page_size : 4096;
		fl_top_size(sm ? (int64_t)(sm->resident * ps) : -1, buf, sizeof buf);
		put_right(l, cols, x, 6, buf, FL_TOP_A_NORMAL);
		x += 7;
		fl_top_size(sm ? (int64_t)sm->compressed_bytes : -1, buf, sizeof buf);
		put_right(l, cols, x, 6, buf, FL_TOP_A_NORMAL);
		x += 7;
		uint64_t total = 0;
		for (int k = 0; sm && k < FL_TOP_KINDS; k++)
			total += sm->faults[k];
		count_text(sm ? (double)total : -1, buf, sizeof buf);
		put_right(l, cols, x, 8, buf, FL_TOP_A_NORMAL);
		x += 9;
		if (sm && sm->pressure >= 0 && !ended)
			put(l, cols, x, fl_top_pressure_text(sm->pressure, v->color), 12,
			    fl_top_pressure_attr(sm->pressure));
		else
			put(l, cols, x, "-", 12, FL_TOP_A_NORMAL);
		/* The program's name, not its directory: the column is narrow. */
		const char *cmd = p->cmd[0] ? p->cmd : p->exe;
		const char *sp = strchr(cmd, ' ');
		const char *slash = cmd;
		for (const char *q = cmd; *q && (!sp || q < sp); q++)
			if (*q == '/')
				slash = q + 1;
		put(l, cols, cmdx, slash, -1, FL_TOP_A_NORMAL);
		if (ended)
			span(l, cols, 0, cols, FL_TOP_A_DIM);
		if (i == v->proc_sel)
			span(l, cols, 0, cols, FL_TOP_A_SELECTED);
	}
}

/* ------------------------------------------------------------ regions */

static void layout_regions(const struct fl_top_view *v, const struct fl_top_data *d, struct fl_top_screen *s)
{
	int cols = s->cols;
	if (!d->proc.pid) {
		fl_top_region_header(v, cols, &s->lines[4]);
		empty_note(s, 5, "no process open: choose one on the process screen (1) and press Enter");
		return;
	}
	int *idx = d->nregions ? malloc(sizeof *idx * (size_t)d->nregions) : NULL;
	int n = idx ? fl_top_regions_visible(v, d->regions, d->nregions, idx) : 0;
	struct fl_top_line *info = &s->lines[3];
	int x;
	if (v->type_filter[0] || v->name_filter[0]) {
		x = putf(info, cols, 0, -1, FL_TOP_A_NORMAL, "%d of %d regions", n, d->nregions);
		if (v->type_filter[0])
			x = putf(info, cols, x, -1, FL_TOP_A_BOLD, "  type=%s", v->type_filter);
		if (v->name_filter[0])
			x = putf(info, cols, x, -1, FL_TOP_A_BOLD, "  name~%s", v->name_filter);
	} else {
		x = putf(info, cols, 0, -1, FL_TOP_A_NORMAL, "%d regions", d->nregions);
	}
	x = putf(info, cols, x, -1, FL_TOP_A_NORMAL, "  sorted by %s%s", fl_top_col_name(v->sort_col),
		 v->sort_desc ? ", largest first" : "");
	if (d->note[0])
		put(info, cols, x + 2, d->note, -1, FL_TOP_A_DIM);
	else if (d->live_pages)
		put(info, cols, x + 2, "page states: live", -1, FL_TOP_A_DIM);
	fl_top_region_header(v, cols, &s->lines[4]);
	int nrows = fl_top_table_rows(s->rows);
	if (!n)
		empty_note(s, 5, d->nregions ? "no region matches the filter (c clears it)" : "no regions at this time");
	for (int r = 0; r < nrows && v->reg_top + r < n; r++) {
		struct fl_top_line *l = &s->lines[5 + r];
		fl_top_region_row(&d->regions[idx[v->reg_top + r]], cols, l);
		if (v->reg_top + r == v->reg_sel)
			span(l, cols, 0, cols, FL_TOP_A_SELECTED);
	}
	free(idx);
}

/* ----------------------------------------------------------- page map */

static void bar(struct fl_top_line *l, int cols, int x, int w, double frac, enum fl_top_attr a)
{
	int n = (int)(frac * w + 0.5);
	if (frac > 0 && n == 0)
		n = 1;
	if (n > w)
		n = w;
	for (int i = 0; i < w && x + i < cols; i++)
		l->text[x + i] = i < n ? '#' : '.';
	span(l, cols, x, n, a);
}

static const unsigned state_order[] = {FL_STATE_RESIDENT, FL_STATE_INACTIVE, FL_STATE_COMPRESSED,
				       FL_STATE_SAME_FILLED, FL_STATE_UNTOUCHED};

/* One line per state from row on: pages, bytes, share of total, a bar.
 * by[] is in state_order.  Returns the row after them. */
static int state_bars(struct fl_top_screen *s, int row, const int64_t by[5], uint64_t total, uint64_t ps)
{
	int cols = s->cols;
	for (int i = 0; i < 5 && row < s->rows - 1; i++, row++) {
		struct fl_top_line *l = &s->lines[row];
		int64_t b = by[i] < 0 ? 0 : by[i];
		char sz[16];
		fl_top_size(b, sz, sizeof sz);
		double frac = total ? (double)b / (double)total : 0;
		int x = putf(l, cols, 1, -1, FL_TOP_A_NORMAL, "%-12s %9" PRIu64 " %6s %5.1f%%  ",
			     fl_state_page_name(state_order[i]), (uint64_t)b / (ps ? ps : 4096), sz, frac * 100);
		int bw = cols - x - 1;
		if (bw > 50)
			bw = 50;
		if (bw > 4)
			bar(l, cols, x, bw, frac, page_attr[state_order[i]]);
	}
	return row;
}

static void layout_pagemap(const struct fl_top_view *v, const struct fl_top_data *d, struct fl_top_screen *s)
{
	int cols = s->cols;
	const struct fl_top_region *r = NULL;
	int *idx = d->nregions ? malloc(sizeof *idx * (size_t)d->nregions) : NULL;
	int n = idx ? fl_top_regions_visible(v, d->regions, d->nregions, idx) : 0;
	if (n && v->reg_sel >= 0 && v->reg_sel < n)
		r = &d->regions[idx[v->reg_sel]];
	free(idx);
	if (!r) {
		empty_note(s, 4, d->proc.pid ? "no region selected: choose one on the region screen (2)"
					     : "no process open: choose one on the process screen (1) and press Enter");
		return;
	}
	char prot[4], size[16], range[64];
	prot_text(r->prot, prot);
	fl_top_size((int64_t)r->len, size, sizeof size);
	snprintf(range, sizeof range, "%012" PRIx64 "-%012" PRIx64, r->start, r->start + r->len);
	int x = putf(&s->lines[3], cols, 0, -1, FL_TOP_A_BOLD, "%s %s", r->type, range);
	x = putf(&s->lines[3], cols, x, -1, FL_TOP_A_NORMAL, "  %s %s", size, prot);
	put(&s->lines[3], cols, x + 2, r->detail, -1, FL_TOP_A_NORMAL);

	int row = 5;
	uint64_t ps = r->page_size ? r->page_size : 4096;
	uint64_t pages = r->len / ps;
	if (!r->has_strip || r->rsize < 0) {
		put(&s->lines[row++], cols, 1,
		    r->managed ? "page states of this region are not known here:" : "not managed by faultline:", -1,
		    FL_TOP_A_BOLD);
		if (!r->managed)
			put(&s->lines[row++], cols, 3, "the kernel pages it; RSIZE is the kernel's resident set", -1,
			    FL_TOP_A_NORMAL);
		else if (d->replay || proc_ended(&d->proc))
			put(&s->lines[row++], cols, 3, "the shim publishes them only while the process runs", -1,
			    FL_TOP_A_NORMAL);
		else
			put(&s->lines[row++], cols, 3, "the process publishes no state file (or it could not be read)", -1,
			    FL_TOP_A_NORMAL);
		if (d->note[0])
			put(&s->lines[row++], cols, 3, d->note, -1, FL_TOP_A_DIM);
		if (r->rsize >= 0) {
			char a[16];
			fl_top_size(r->rsize, a, sizeof a);
			row++;
			putf(&s->lines[row++], cols, 1, -1, FL_TOP_A_NORMAL, "resident %s of %s", a, size);
		}
		if (r->managed && d->has_summary && d->summary.managed) {
			/* What the database does keep: the whole process's pages. */
			const struct fl_top_sample *sm = &d->summary;
			uint64_t sps = sm->page_size ? sm->page_size : ps;
			uint64_t held = sm->resident + sm->inactive + sm->compressed + sm->same_filled;
			int64_t by[5] = {(int64_t)(sm->resident * sps), (int64_t)(sm->inactive * sps),
					 (int64_t)(sm->compressed * sps), (int64_t)(sm->same_filled * sps),
					 (int64_t)((sm->managed > held ? sm->managed - held : 0) * sps)};
			row++;
			char part[16];
			fl_top_size((int64_t)sps, part, sizeof part);
			if (row < s->rows - 1)
				putf(&s->lines[row++], cols, 1, -1, FL_TOP_A_BOLD,
				     "all managed memory of the process, by state (%" PRIu64 " pages of %s)", sm->managed,
				     part);
			state_bars(s, row, by, sm->managed * sps, sps);
		}
		return;
	}
	char part[16];
	fl_top_size((int64_t)((r->len + FL_STATE_STRIP - 1) / FL_STATE_STRIP), part, sizeof part);
	putf(&s->lines[row++], cols, 1, -1, FL_TOP_A_NORMAL,
	     "page map: %u parts of %s, each shown in the state most of its pages are in", FL_STATE_STRIP, part);
	int label = 14;
	int w = cols - label - 1;
	/* Whole characters per part, so every part is as wide as the others. */
	int per = w / (int)FL_STATE_STRIP;
	int sw = per >= 1 ? per * (int)FL_STATE_STRIP : w;
	put(&s->lines[row], cols, 1, "all", -1, FL_TOP_A_BOLD);
	put_strip(&s->lines[row++], cols, label, sw, r->strip);
	/* Legend: each state's character in its own color. */
	struct fl_top_line *lg = &s->lines[row++];
	x = put(lg, cols, 1, "legend:", -1, FL_TOP_A_DIM);
	static const unsigned order[] = {FL_STATE_RESIDENT, FL_STATE_INACTIVE, FL_STATE_COMPRESSED,
					 FL_STATE_SAME_FILLED, FL_STATE_UNTOUCHED};
	for (int i = 0; i < 5; i++) {
		char c[2] = {page_char[order[i]], 0};
		x = put(lg, cols, x + 2, c, -1, page_attr[order[i]]);
		x = put(lg, cols, x + 1, fl_state_page_name(order[i]), -1, FL_TOP_A_NORMAL);
	}
	row++;
	/* One strip per state: where its parts are. */
	for (int i = 0; i < 5 && row < s->rows - 1; i++, row++) {
		struct fl_top_line *l = &s->lines[row];
		put(l, cols, 1, fl_state_page_name(order[i]), -1, FL_TOP_A_NORMAL);
		for (int c = 0; c < sw && label + c < cols; c++) {
			unsigned st = r->strip[(size_t)c * FL_STATE_STRIP / (size_t)sw];
			l->text[label + c] = st == order[i] ? page_char[st] : ' ';
		}
		int c = 0;
		while (c < sw) {
			unsigned st = r->strip[(size_t)c * FL_STATE_STRIP / (size_t)sw];
			int e = c + 1;
			while (e < sw && r->strip[(size_t)e * FL_STATE_STRIP / (size_t)sw] == st)
				e++;
			if (st == order[i])
				span(l, cols, label + c, e - c, page_attr[st]);
			c = e;
		}
	}
	row++;
	fl_top_size((int64_t)ps, part, sizeof part);
	if (row < s->rows - 1)
		putf(&s->lines[row++], cols, 1, -1, FL_TOP_A_BOLD, "pages by state (%" PRIu64 " pages of %s)", pages,
		     part);
	int64_t by[5] = {r->rsize, r->isize, r->corig - r->ssize, r->ssize, r->usize};
	row = state_bars(s, row, by, r->len, ps);
	if (r->csize > 0 && row < s->rows - 1) {
		char a[16], b2[16];
		fl_top_size(r->corig - r->ssize, a, sizeof a);
		fl_top_size(r->csize, b2, sizeof b2);
		putf(&s->lines[row++], cols, 1, -1, FL_TOP_A_NORMAL, "compressed pages: %s held in %s of store (%.1fx)",
		     a, b2, (double)(r->corig - r->ssize) / (double)r->csize);
	}
	if (r->spsize > 0 && row < s->rows - 1) {
		char a[16];
		fl_top_size(r->spsize, a, sizeof a);
		putf(&s->lines[row++], cols, 1, -1, FL_TOP_A_NORMAL, "spilled pages: %s in the spill file", a);
	}
}

/* ------------------------------------------------------------- faults */

static const char *const kind_names[FL_TOP_KINDS] = {"first-touch", "soft", "decompress", "same-filled", "spill",
						     "write-prot"};

static const char graph_levels[] = " .:|#";

/* every > 1: the process sampled one fault in every; each stack is shown
 * as the faults it stands for, marked ~ (an estimate). */
static void layout_stacks(const struct fl_top_stack *st, int n, int64_t every, int by_alloc, int by_time, int replay,
			  int row, int k, struct fl_top_screen *s)
{
	int cols = s->cols;
	if (by_alloc)
		every = 1; /* the sites' counts are estimated already */
	double x = every > 1 ? (double)every : 1.0;
	const char *est = every > 1 ? "~" : "";
	struct fl_top_line *h = &s->lines[row];
	span(h, cols, 0, cols, FL_TOP_A_HEADER);
	if (by_time) {
		put_right(h, cols, 0, 9, "TIME ms", FL_TOP_A_NORMAL);
		put_right(h, cols, 10, 7, "FAULTS", FL_TOP_A_NORMAL);
		put_right(h, cols, 18, 8, "MAX us", FL_TOP_A_NORMAL);
		put(h, cols, 28,
		    by_alloc    ? "ALLOCATION SITES BY TIME ~est"
		    : every > 1 ? "TOP STACKS BY TIME SPENT ~est"
				: "TOP STACKS BY TIME SPENT",
		    -1, FL_TOP_A_NORMAL);
	} else {
		put_right(h, cols, 0, 9, "FAULTS", FL_TOP_A_NORMAL);
		put_right(h, cols, 10, 7, "PAGES", FL_TOP_A_NORMAL);
		put_right(h, cols, 18, 8, "AVG us", FL_TOP_A_NORMAL);
		put(h, cols, 28,
		    by_alloc    ? "ALLOCATION SITES BY FAULTS ~est"
		    : every > 1 ? "TOP STACKS BY FAULTS ~est"
				: "TOP STACKS BY FAULTS",
		    -1, FL_TOP_A_NORMAL);
	}
	int tx = 28 + 26 + (every > 1 || by_alloc ? 6 : 0);
	if (by_alloc) {
		put(h, cols, tx, "(whole run; a: fault stacks)", -1, FL_TOP_A_NORMAL);
		tx += 29;
		replay = 0;
	}
	if (every > 1) {
		char note[48];
		snprintf(note, sizeof note, "(1 in %lld sampled)", (long long)every);
		put(h, cols, tx, note, -1, FL_TOP_A_NORMAL);
		tx += (int)strlen(note) + 1;
	}
	if (replay)
		put(h, cols, tx, "(up to the cursor)", -1, FL_TOP_A_NORMAL);
	if (!n && row + 1 < s->rows - 1)
		put(&s->lines[row + 1], cols, 28, "no faults logged", -1, FL_TOP_A_DIM);
	for (int i = 0; i < n && i < k && row + 1 + i < s->rows - 1; i++) {
		struct fl_top_line *l = &s->lines[row + 1 + i];
		char a[24], b[24], c[16], t[16];
		if (st[i].estimated)
			est = "~";
		else if (by_alloc)
			est = "";
		if (by_time) {
			snprintf(a, sizeof a, "%s%.1f", est, (double)st[i].latency_ns * x / 1e6);
			count_text((double)st[i].faults * x, t, sizeof t);
			snprintf(b, sizeof b, "%s%s", est, t);
			if (st[i].latency_max_ns)
				snprintf(c, sizeof c, "%.0f", (double)st[i].latency_max_ns / 1e3);
			else
				snprintf(c, sizeof c, "-");
		} else {
			count_text((double)st[i].faults * x, t, sizeof t);
			snprintf(a, sizeof a, "%s%s", est, t);
			count_text((double)st[i].pages * x, t, sizeof t);
			snprintf(b, sizeof b, "%s%s", est, t);
			snprintf(c, sizeof c, "%.1f",
				 st[i].faults ? (double)st[i].latency_ns / (double)st[i].faults / 1e3 : 0.0);
		}
		put_right(l, cols, 0, 9, a, FL_TOP_A_NORMAL);
		put_right(l, cols, 10, 7, b, FL_TOP_A_NORMAL);
		put_right(l, cols, 18, 8, c, FL_TOP_A_NORMAL);
		int plain = st[i].stack && !st[i].unsampled;
		put(l, cols, 28, st[i].stack || st[i].unsampled ? st[i].where : "(faults without a stack)", -1,
		    plain ? FL_TOP_A_NORMAL : FL_TOP_A_DIM);
	}
}

static void layout_faults(const struct fl_top_view *v, const struct fl_top_data *d, struct fl_top_screen *s)
{
	int cols = s->cols, rows = s->rows;
	if (!d->proc.pid) {
		empty_note(s, 4, "no process open: choose one on the process screen (1) and press Enter");
		return;
	}
	/* Graph rows per kind grow with the terminal; the rest goes to stacks. */
	int h = 1 + (rows - FL_TOP_MIN_ROWS) / 12;
	if (h > 4)
		h = 4;
	if (h < 1)
		h = 1;
	int k = (rows - 14 - FL_TOP_KINDS * (h - 1)) / 2;
	if (k > FL_TOP_STACKS)
		k = FL_TOP_STACKS;
	if (k < 1)
		k = 1;
	int gx = 31, gw = cols - gx - 1;
	/* Interval rates between consecutive samples, newest at the right. */
	int nr = d->nhist - 1;
	if (nr > gw)
		nr = gw;
	if (nr < 0)
		nr = 0;
	double dt_avg = 0;
	if (d->nhist >= 2)
		dt_avg = (double)(d->hist[d->nhist - 1].t_ns - d->hist[d->nhist - 1 - (nr > 0 ? nr : 0)].t_ns) /
			 (nr > 0 ? nr : 1) / 1e9;
	putf(&s->lines[3], cols, 0, -1, FL_TOP_A_NORMAL,
	     "faults/s by kind, last %d samples of %.0f ms, newest at the right", nr > 0 ? nr : 0, dt_avg * 1e3);
	int row = 4;
	for (int kind = 0; kind < FL_TOP_KINDS; kind++) {
		double rate[FL_TOP_MAX_COLS];
		double peak = 0;
		for (int i = 0; i < nr; i++) {
			const struct fl_top_sample *b = &d->hist[d->nhist - nr + i], *a = b - 1;
			double dt = (double)(b->t_ns - a->t_ns) / 1e9;
			rate[i] = dt > 0 && b->faults[kind] >= a->faults[kind] ? (double)(b->faults[kind] - a->faults[kind]) / dt
									       : 0;
			if (rate[i] > peak)
				peak = rate[i];
		}
		char now[16], pk[16];
		count_text(nr ? rate[nr - 1] : 0, now, sizeof now);
		count_text(peak, pk, sizeof pk);
		struct fl_top_line *l = &s->lines[row + h - 1];
		put(l, cols, 0, kind_names[kind], 11, FL_TOP_A_NORMAL);
		putf(l, cols, 12, -1, FL_TOP_A_NORMAL, "%6s/s", now);
		putf(l, cols, 21, -1, FL_TOP_A_DIM, "max %s", pk);
		for (int y = 0; y < h; y++) {
			struct fl_top_line *g = &s->lines[row + y];
			put(g, cols, gx - 1, "|", -1, FL_TOP_A_DIM);
			int levels = h * 4;
			for (int i = 0; i < nr; i++) {
				int lv = peak > 0 ? (int)(rate[i] / peak * levels + 0.999) : 0;
				int cell = lv - (h - 1 - y) * 4;
				if (cell < 0)
					cell = 0;
				if (cell > 4)
					cell = 4;
				g->text[gx + gw - nr + i] = graph_levels[cell];
			}
			if (nr)
				span(g, cols, gx + gw - nr, nr, FL_TOP_A_GRAPH);
		}
		row += h;
	}
	row++;
	layout_stacks(d->by_faults, d->nby_faults, d->proc.stacks_every, d->by_alloc, 0, d->replay, row, k, s);
	row += k + 1;
	if (row < rows - 1)
		layout_stacks(d->by_time, d->nby_time, d->proc.stacks_every, d->by_alloc, 1, d->replay, row, k, s);
}

/* --------------------------------------------------------------- help */

static const char *const help_text[] = {
	"faultline top: keys",
	"",
	"  1 2 3 4     processes / region table / page map / faults",
	"  Tab, S-Tab  next / previous screen",
	"  Enter       open the selected process (its regions) or region (its page map)",
	"  Esc, h      back to the screen before",
	"  Up Down j k move; PgUp PgDn: a page; Home End g G: first, last",
	"",
	"  Region table:",
	"  < > s       sort by the previous / next column;  r  reverse the order",
	"  t           filter by type (cycles through the types present)",
	"  f           filter by name: text in the type, detail or address",
	"  c           clear the filters",
	"  /           search: select the next region holding the text;  n N  again",
	"",
	"  Faults:  a  fault stacks / allocation sites (who allocated the memory)",
	"  Replay (--replay):  Left Right or [ ]  a sample back / on;  { }  10 samples",
	"  Pressure:  NORMAL, WARN (yellow, or !WARN!), CRITICAL (red, or !CRITICAL!)",
	"  Pages:  R resident  i inactive  C compressed  s same-filled  . untouched",
	"",
	"  ?  this help     Ctrl-L  redraw     q  quit",
	NULL,
};

const char *const *fl_top_help_lines(void)
{
	return help_text;
}

static void layout_help(struct fl_top_screen *s)
{
	for (int r = 2; r < s->rows - 1; r++)
		line_clear(&s->lines[r], s->cols);
	for (int i = 0; help_text[i] && 2 + i < s->rows - 1; i++)
		put(&s->lines[2 + i], s->cols, 1, help_text[i], -1, i == 0 ? FL_TOP_A_BOLD : FL_TOP_A_NORMAL);
}

/* -------------------------------------------------------------- frame */

void fl_top_too_small_text(int cols, int rows, char *buf, size_t len)
{
	snprintf(buf, len, "terminal too small: need %dx%d, have %dx%d", FL_TOP_MIN_COLS, FL_TOP_MIN_ROWS, cols, rows);
}

/* Word-wrapped, centred text for a screen too small for anything else. */
static void layout_too_small(struct fl_top_screen *s)
{
	char msg[128];
	fl_top_too_small_text(s->cols, s->rows, msg, sizeof msg);
	const char *parts[2] = {msg, "(resize it, or press q to quit)"};
	int row = s->rows / 2 - 1;
	if (row < 0)
		row = 0;
	for (int p = 0; p < 2; p++) {
		const char *t = parts[p];
		while (*t && row < s->rows) {
			int n = (int)strlen(t);
			if (n > s->cols) {
				n = s->cols;
				while (n > 0 && t[n] != ' ')
					n--;
				if (n == 0)
					n = s->cols;
			}
			int x = (s->cols - n) / 2;
			put(&s->lines[row++], s->cols, x < 0 ? 0 : x, t, n, p == 0 ? FL_TOP_A_BOLD : FL_TOP_A_NORMAL);
			t += n;
			while (*t == ' ')
				t++;
		}
	}
}

int fl_top_layout(const struct fl_top_view *v, const struct fl_top_data *d, struct fl_top_screen *s)
{
	for (int r = 0; r < s->rows; r++)
		line_clear(&s->lines[r], s->cols);
	if (s->cols < FL_TOP_MIN_COLS || s->rows < FL_TOP_MIN_ROWS) {
		layout_too_small(s);
		return 1;
	}
	layout_title(v, d, s);
	const struct fl_top_proc *p = NULL;
	const struct fl_top_sample *sm = NULL;
	if (v->screen == FL_TOP_PROCS) {
		/* The list's summary is the selected process's newest sample. */
		if (v->proc_sel >= 0 && v->proc_sel < d->nprocs) {
			p = &d->procs[v->proc_sel];
			sm = p->has_sample ? &p->last : NULL;
		}
	} else if (d->proc.pid) {
		p = &d->proc;
		sm = d->has_summary ? &d->summary : NULL;
	}
	layout_summary(v, d, p, sm, &s->lines[1], s->cols);
	layout_status(v, d, &s->lines[2], s->cols);
	if (v->help)
		layout_help(s);
	else if (v->screen == FL_TOP_PROCS)
		layout_procs(v, d, s);
	else if (v->screen == FL_TOP_REGIONS)
		layout_regions(v, d, s);
	else if (v->screen == FL_TOP_PAGEMAP)
		layout_pagemap(v, d, s);
	else
		layout_faults(v, d, s);
	layout_hints(v, &s->lines[s->rows - 1], s->cols);
	return 0;
}
