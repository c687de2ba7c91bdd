/*
 * Gathering faultline report's figures (report.h) from a fault log.
 *
 * The faults table has no index but its row id (daemon/SCHEMA.md), so
 * each process's faults are read once, front to back, through
 * fault_spans (the row-id ranges of that process, with their times: a
 * window reads only the spans that overlap it).  That one pass gives the
 * totals by kind and by stack, the timeline and the faults per region;
 * everything else comes from small tables: samples (peaks, pressure),
 * regions, stacks and frames (the stack_frames view) for the stacks
 * shown, stack_faults for what fork copied.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idmap.h"
#include "report.h"

/* ---- small helpers --------------------------------------------------------- */

static char *col_dup(sqlite3_stmt *st, int c)
{
	const unsigned char *t = sqlite3_column_text(st, c);
	return t ? strdup((const char *)t) : NULL;
}

static int fail(sqlite3 *db, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
	return -1;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return fail(db, err, errlen, "reading the fault log");
	return 0;
}

/* prepare, with ?1 bound to p and ?2, ?3 to its window's ends. */
static int prepare_window(sqlite3 *db, const char *sql, const struct rp_proc *p, sqlite3_stmt **st, char *err,
			  size_t errlen)
{
	if (prepare(db, sql, st, err, errlen))
		return -1;
	sqlite3_bind_int64(*st, 1, p->id);
	sqlite3_bind_int64(*st, 2, p->t0);
	sqlite3_bind_int64(*st, 3, p->t1);
	return 0;
}

/* The index of key's entry; when absent, next (inserted, *added set).  -1 when out of memory. */
static long index_of(struct fl_idmap *m, int64_t key, uint32_t next, int *added)
{
	uint64_t *v = fl_idmap_intern(m, (uint64_t)key, next, added);
	return v ? (long)*v : -1;
}

/* The index of key's entry, or -1. */
static long index_find(const struct fl_idmap *m, int64_t key)
{
	const uint64_t *v = fl_idmap_get(m, (uint64_t)key);
	return v ? (long)*v : -1;
}

/* Grow *v (n used, *cap allocated, elements of size sz) for one more. */
static int grow(void *v, size_t n, size_t *cap, size_t sz)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *x = realloc(*(void **)v, c * sz);
	if (!x)
		return -1;
	memset((char *)x + *cap * sz, 0, (c - *cap) * sz);
	*(void **)v = x;
	*cap = c;
	return 0;
}

const char *rp_pressure_name(int level)
{
	static const char *names[] = {"NORMAL", "WARN", "CRITICAL"};
	return level >= 0 && level < 3 ? names[level] : "-";
}

const char *rp_kind_name(const struct rp_report *r, int kind)
{
	static __thread char buf[24];
	if (kind >= 0 && kind < r->nkinds && r->kind_names[kind][0])
		return r->kind_names[kind];
	snprintf(buf, sizeof buf, "kind %d", kind);
	return buf;
}

/* ---- --since / --until ------------------------------------------------------ */

/* A decimal number times unit (ns per unit), without going through a double. */
static int decimal_ns(const char *s, const char **end, int64_t unit, int64_t *out)
{
	int64_t whole = 0, frac = 0, scale = 1;
	const char *p = s;
	int digits = 0;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (whole > (INT64_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (scale < 1000000000) {
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			}
	}
	if (!digits || whole > INT64_MAX / unit)
		return -1;
	*out = whole * unit + (int64_t)((__int128)frac * unit / scale);
	*end = p;
	return 0;
}

int rp_time_parse(const char *s, struct rp_time *t)
{
	memset(t, 0, sizeof *t);
	const char *end = NULL;
	if (s[0] == '@') {
		if (decimal_ns(s + 1, &end, 1000000000, &t->ns) != 0 || *end)
			return -1;
		t->set = 1;
		return 0;
	}
	if (strchr(s, ':')) {
		/* A local date and time, or a time of today. */
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		const char *rest = NULL;
		if (strchr(s, '-')) {
			rest = strptime(s, "%Y-%m-%d", &tm);
			if (!rest || (*rest != ' ' && *rest != 'T'))
				return -1;
			rest++;
		} else {
			time_t now = time(NULL);
			localtime_r(&now, &tm);
			rest = s;
		}
		int h, m, n = 0;
		if (sscanf(rest, "%2d:%2d%n", &h, &m, &n) != 2 || h > 23 || m > 59)
			return -1;
		rest += n;
		int64_t sec_ns = 0;
		if (*rest == ':') {
			if (decimal_ns(rest + 1, &end, 1000000000, &sec_ns) != 0 || *end || sec_ns >= 61000000000ll)
				return -1;
		} else if (*rest) {
			return -1;
		}
		tm.tm_hour = h;
		tm.tm_min = m;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		time_t when = mktime(&tm);
		if (when == (time_t)-1)
			return -1;
		t->ns = (int64_t)when * 1000000000 + sec_ns;
		t->set = 1;
		return 0;
	}
	const char *p = s[0] == '+' ? s + 1 : s;
	/* The unit follows the number; find it first. */
	const char *u = p;
	while ((*u >= '0' && *u <= '9') || *u == '.')
		u++;
	int64_t unit;
	if (!*u || !strcmp(u, "s"))
		unit = 1000000000;
	else if (!strcmp(u, "ms"))
		unit = 1000000;
	else if (!strcmp(u, "us"))
		unit = 1000;
	else if (!strcmp(u, "ns"))
		unit = 1;
	else if (!strcmp(u, "min"))
		unit = 60000000000ll;
	else
		return -1;
	if (decimal_ns(p, &end, unit, &t->ns) != 0 || end != u)
		return -1;
	t->set = t->relative = 1;
	return 0;
}

/* ---- one process --------------------------------------------------------- */

/* The command line from the argv column (a JSON array); raw text if it is not one. */
static char *command_line(sqlite3 *db, const char *argv_json)
{
	sqlite3_stmt *st = NULL;
	size_t len = 0, cap = 0;
	char *out = NULL;
	if (!argv_json)
		return strdup("");
	if (sqlite3_prepare_v2(db, "SELECT value FROM json_each(?1)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, argv_json, -1, SQLITE_STATIC);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *a = (const char *)sqlite3_column_text(st, 0);
			if (!a)
				a = "";
			int quote = !*a || strpbrk(a, " \t\n'\"\\$`*?;&|<>()") != NULL;
			size_t need = len + strlen(a) * 4 + 4;
			if (need > cap) {
				cap = need * 2;
				char *x = realloc(out, cap);
				if (!x)
					break;
				out = x;
			}
			if (len)
				out[len++] = ' ';
			if (quote)
				out[len++] = '\'';
			for (; *a; a++) {
				if (*a == '\'' && quote) {
					memcpy(out + len, "'\\''", 4);
					len += 4;
				} else {
					out[len++] = *a == '\n' ? ' ' : *a;
				}
			}
			if (quote)
				out[len++] = '\'';
			out[len] = 0;
		}
		sqlite3_finalize(st);
		if (rc == SQLITE_DONE && out)
			return out;
	} else {
		sqlite3_finalize(st);
	}
	free(out);
	return strdup(argv_json);
}

static int pressure_level(const unsigned char *t)
{
	if (!t)
		return -1;
	if (!strcmp((const char *)t, "NORMAL"))
		return 0;
	if (!strcmp((const char *)t, "WARN"))
		return 1;
	if (!strcmp((const char *)t, "CRITICAL"))
		return 2;
	return -1;
}

static int has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

/*
 * The newest values of running totals (n columns, cols) in table before
 * the window, to take from the last ones in it; 0s when the window starts
 * at the process's start or nothing is older.
 */
static int totals_before(sqlite3 *db, const struct rp_proc *p, const char *table, const char *cols, int64_t *v,
			 int n, char *err, size_t errlen)
{
	memset(v, 0, (size_t)n * sizeof *v);
	if (p->t0 <= p->start_ns)
		return 0;
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE process = ?1 AND t_ns < ?2 ORDER BY t_ns DESC, id DESC LIMIT 1",
		 cols, table);
	sqlite3_stmt *st;
	if (prepare(db, sql, &st, err, errlen))
		return -1;
	sqlite3_bind_int64(st, 1, p->id);
	sqlite3_bind_int64(st, 2, p->t0);
	if (sqlite3_step(st) == SQLITE_ROW)
		for (int c = 0; c < n; c++)
			v[c] = sqlite3_column_int64(st, c);
	sqlite3_finalize(st);
	return 0;
}

static int gather_samples(sqlite3 *db, struct rp_proc *p, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (prepare_window(db,
			   "SELECT t_ns, resident_pages, inactive_pages, compressed_pages, same_filled_pages,"
			   " compressed_bytes, store_bytes, budget_pages, resident_peak_pages, pages_evicted, pressure,"
			   " faults_spill FROM samples WHERE process = ?1 AND t_ns BETWEEN ?2 AND ?3 ORDER BY t_ns, id",
			   p, &st, err, errlen))
		return -1;
	p->pressure_max = -1;
	int64_t last[2] = {0, 0}; /* pages_evicted, faults_spill */
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t t = sqlite3_column_int64(st, 0);
		int64_t res = sqlite3_column_int64(st, 1), inact = sqlite3_column_int64(st, 2);
		int64_t comp = sqlite3_column_int64(st, 3), same = sqlite3_column_int64(st, 4);
		if (!p->nsamples || res + inact > p->peak_resident + p->peak_inactive) {
			p->peak_t = t;
			p->peak_resident = res;
			p->peak_inactive = inact;
			p->peak_compressed = comp;
			p->peak_same_filled = same;
			p->peak_compressed_bytes = sqlite3_column_int64(st, 5);
			p->peak_store_bytes = sqlite3_column_int64(st, 6);
		}
		if (!p->nsamples || comp + same > p->max_stored) {
			p->max_stored = comp + same;
			p->max_stored_t = t;
			p->max_compressed = comp;
			p->max_same_filled = same;
			p->max_compressed_bytes = sqlite3_column_int64(st, 5);
		}
		p->budget_pages = sqlite3_column_int64(st, 7);
		if (sqlite3_column_int64(st, 8) > p->peak_hwm)
			p->peak_hwm = sqlite3_column_int64(st, 8);
		last[0] = sqlite3_column_int64(st, 9);
		last[1] = sqlite3_column_int64(st, 11);
		int lvl = pressure_level(sqlite3_column_text(st, 10));
		if (lvl >= 0) {
			p->pressure_samples[lvl]++;
			if (lvl > p->pressure_max)
				p->pressure_max = lvl;
		}
		p->nsamples++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(db, err, errlen, "reading samples");
	/* Pages evicted and spill faults in the window: the counters are cumulative. */
	if (!p->nsamples)
		return 0;
	int64_t before[2];
	if (totals_before(db, p, "samples", "pages_evicted, faults_spill", before, 2, err, errlen) != 0)
		return -1;
	p->evicted = last[0] - before[0];
	p->spill_faults = last[1] - before[1];
	return 0;
}

/* The spill file's samples in the window (a log without the table has none). */
static int gather_spill(sqlite3 *db, struct rp_proc *p, char *err, size_t errlen)
{
	if (!has_table(db, "spill_samples"))
		return 0;
	sqlite3_stmt *st;
	if (prepare_window(db,
			   "SELECT t_ns, spilled_pages, spilled_bytes, file_bytes, write_errors, read_errors"
			   " FROM spill_samples WHERE process = ?1 AND t_ns BETWEEN ?2 AND ?3 ORDER BY t_ns, id",
			   p, &st, err, errlen))
		return -1;
	int64_t last[2] = {0, 0}; /* write_errors, read_errors */
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t pages = sqlite3_column_int64(st, 1), file = sqlite3_column_int64(st, 3);
		if (!p->nspill || pages > p->spill_max_pages) {
			p->spill_max_t = sqlite3_column_int64(st, 0);
			p->spill_max_pages = pages;
			p->spill_max_bytes = sqlite3_column_int64(st, 2);
		}
		if (file > p->spill_file_max)
			p->spill_file_max = file;
		last[0] = sqlite3_column_int64(st, 4);
		last[1] = sqlite3_column_int64(st, 5);
		p->nspill++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(db, err, errlen, "reading spill_samples");
	if (!p->nspill)
		return 0;
	int64_t before[2];
	if (totals_before(db, p, "spill_samples", "write_errors, read_errors", before, 2, err, errlen) != 0)
		return -1;
	p->spill_write_errors = last[0] - before[0];
	p->spill_read_errors = last[1] - before[1];
	return 0;
}

struct region_count {
	int64_t region_id, faults, pages;
};

struct scan {
	struct fl_idmap stacks, regions;
	size_t stacks_cap;
	struct region_count *rc;
	size_t nrc, rc_cap;
};

/* One pass over the process's faults in the window. */
static int scan_faults(sqlite3 *db, struct rp_proc *p, struct scan *s, struct fl_progress *pg, char *err,
		       size_t errlen)
{
	sqlite3_stmt *spans, *rows;
	if (prepare_window(db,
			   "SELECT first_id, last_id, faults FROM fault_spans"
			   " WHERE process = ?1 AND t_min <= ?3 AND t_max >= ?2 ORDER BY first_id",
			   p, &spans, err, errlen))
		return -1;
	if (prepare(db,
		    "SELECT t_ns, region, kind, pages, latency_ns, stack, write FROM faults"
		    " WHERE id BETWEEN ?1 AND ?2",
		    &rows, err, errlen)) {
		sqlite3_finalize(spans);
		return -1;
	}
	/* The spans first: their sum is the progress's total. */
	int64_t (*range)[2] = NULL;
	size_t nrange = 0, range_cap = 0;
	uint64_t total = 0, done = 0;
	int rc;
	while ((rc = sqlite3_step(spans)) == SQLITE_ROW) {
		int64_t a = sqlite3_column_int64(spans, 0), b = sqlite3_column_int64(spans, 1);
		total += (uint64_t)sqlite3_column_int64(spans, 2);
		if (nrange && range[nrange - 1][1] + 1 == a) { /* adjacent: one range */
			range[nrange - 1][1] = b;
			continue;
		}
		if (grow(&range, nrange, &range_cap, sizeof *range) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		range[nrange][0] = a;
		range[nrange][1] = b;
		nrange++;
	}
	sqlite3_finalize(spans);
	if (rc != SQLITE_DONE) {
		free(range);
		sqlite3_finalize(rows);
		return fail(rc == SQLITE_NOMEM ? NULL : db, err, errlen, "reading fault_spans");
	}
	fl_progress_step(pg, "reading the faults of pid %lld", (long long)p->pid);
	int64_t span = p->t1 - p->t0 + 1;
	p->bucket_ns = (span + RP_BUCKETS - 1) / RP_BUCKETS;
	if (p->bucket_ns < 1)
		p->bucket_ns = 1;
	rc = SQLITE_DONE;
	for (size_t i = 0; i < nrange && rc == SQLITE_DONE; i++) {
		sqlite3_bind_int64(rows, 1, range[i][0]);
		sqlite3_bind_int64(rows, 2, range[i][1]);
		while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
			if ((++done & 0x3ffff) == 0)
				fl_progress_update(pg, done, total);
			int64_t t = sqlite3_column_int64(rows, 0);
			if (t < p->t0 || t > p->t1)
				continue;
			int64_t region = sqlite3_column_int64(rows, 1);
			int64_t kind = sqlite3_column_int64(rows, 2);
			int64_t pages = sqlite3_column_int64(rows, 3);
			int64_t lat = sqlite3_column_int64(rows, 4);
			int64_t stack = sqlite3_column_int64(rows, 5);
			int write = sqlite3_column_int(rows, 6) != 0;
			int k = kind >= 0 && kind < RP_KINDS ? (int)kind : -1;

			p->total.faults++;
			p->total.pages += pages;
			p->total.writes += write;
			p->total.time_ns += lat;
			if (lat > p->total.max_ns)
				p->total.max_ns = lat;
			if (k >= 0) {
				struct rp_totals *kt = &p->kinds[k];
				kt->faults++;
				kt->pages += pages;
				kt->writes += write;
				kt->time_ns += lat;
				if (lat > kt->max_ns)
					kt->max_ns = lat;
				int64_t b = (t - p->t0) / p->bucket_ns;
				p->timeline[k][b < RP_BUCKETS ? b : RP_BUCKETS - 1]++;
			}

			int added;
			long si = index_of(&s->stacks, stack, (uint32_t)p->nstacks, &added);
			if (si < 0 || (added && grow(&p->stacks, p->nstacks, &s->stacks_cap, sizeof *p->stacks) != 0)) {
				rc = SQLITE_NOMEM;
				break;
			}
			if (added)
				p->stacks[p->nstacks++].stack = stack;
			struct rp_stack *sk = &p->stacks[si];
			if (stack != 0) {
				p->sampled.faults++;
				p->sampled.pages += pages;
				p->sampled.writes += write;
				p->sampled.time_ns += lat;
				if (lat > p->sampled.max_ns)
					p->sampled.max_ns = lat;
			}
			sk->t.faults++;
			sk->t.pages += pages;
			sk->t.writes += write;
			sk->t.time_ns += lat;
			if (lat > sk->t.max_ns)
				sk->t.max_ns = lat;
			if (k >= 0)
				sk->kind_faults[k]++;

			long ri = index_of(&s->regions, region, (uint32_t)s->nrc, &added);
			if (ri < 0 || (added && grow(&s->rc, s->nrc, &s->rc_cap, sizeof *s->rc) != 0)) {
				rc = SQLITE_NOMEM;
				break;
			}
			if (added)
				s->rc[s->nrc++].region_id = region;
			s->rc[ri].faults++;
			s->rc[ri].pages += pages;
		}
		sqlite3_reset(rows);
	}
	sqlite3_finalize(rows);
	free(range);
	if (rc != SQLITE_DONE)
		return fail(rc == SQLITE_NOMEM ? NULL : db, err, errlen, "reading faults");
	return 0;
}

static int load_frames(sqlite3 *db, int64_t process, struct rp_stack *s, char *err, size_t errlen)
{
	if (s->frames || s->stack == 0)
		return 0;
	sqlite3_stmt *st;
	if (prepare(db,
		    "SELECT depth, inline_depth, name, file, line, symbolized FROM stack_frames"
		    " WHERE process = ?1 AND stack = ?2 ORDER BY depth, inline_depth",
		    &st, err, errlen))
		return -1;
	sqlite3_bind_int64(st, 1, process);
	sqlite3_bind_int64(st, 2, s->stack);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow(&s->frames, (size_t)s->nframes, &cap, sizeof *s->frames) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		struct rp_frame *f = &s->frames[s->nframes++];
		f->depth = sqlite3_column_int(st, 0);
		f->inline_depth = sqlite3_column_int(st, 1);
		f->name = col_dup(st, 2);
		f->file = col_dup(st, 3);
		f->line = sqlite3_column_int64(st, 4);
		if (sqlite3_column_int(st, 5) == 0)
			s->unnamed = 1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(rc == SQLITE_NOMEM ? NULL : db, err, errlen, "reading frames");
	return 0;
}

static int cmp_faults(const void *a, const void *b)
{
	const struct rp_stack *x = *(struct rp_stack *const *)a, *y = *(struct rp_stack *const *)b;
	if (x->t.faults != y->t.faults)
		return x->t.faults > y->t.faults ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int cmp_time(const void *a, const void *b)
{
	const struct rp_stack *x = *(struct rp_stack *const *)a, *y = *(struct rp_stack *const *)b;
	if (x->t.time_ns != y->t.time_ns)
		return x->t.time_ns > y->t.time_ns ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* The top n stacks by cmp, frames loaded. */
static int top_stacks(sqlite3 *db, struct rp_proc *p, size_t n, int (*cmp)(const void *, const void *),
		      struct rp_stack ***out, size_t *nout, char *err, size_t errlen)
{
	if (!p->nstacks)
		return 0;
	struct rp_stack **v = malloc(p->nstacks * sizeof *v);
	if (!v)
		return fail(NULL, err, errlen, "sorting stacks");
	for (size_t i = 0; i < p->nstacks; i++)
		v[i] = &p->stacks[i];
	/* Sampled stacks stand for the faults without one: that row goes. */
	size_t m = 0;
	for (size_t i = 0; i < p->nstacks; i++)
		if (p->scale <= 1 || v[i]->stack != 0)
			v[m++] = v[i];
	qsort(v, m, sizeof *v, cmp);
	*nout = m < n ? m : n;
	*out = v;
	for (size_t i = 0; i < *nout; i++)
		if (load_frames(db, p->id, v[i], err, errlen) != 0)
			return -1;
	return 0;
}

static int cmp_region_len(const void *a, const void *b)
{
	const struct rp_region *x = a, *y = b;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_region_start(const void *a, const void *b)
{
	const struct rp_region *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_region_kind(const void *a, const void *b)
{
	return strcmp(((const struct rp_region_kind *)a)->kind, ((const struct rp_region_kind *)b)->kind);
}

static int gather_regions(sqlite3 *db, struct rp_proc *p, struct scan *s, char *err, size_t errlen)
{
	p->regions_t = p->nsamples ? p->peak_t : p->t1;
	sqlite3_stmt *st;
	if (prepare(db,
		    "SELECT region_id, start, len, prot, kind FROM regions WHERE process = ?1 AND created_ns <= ?2"
		    " AND (destroyed_ns IS NULL OR destroyed_ns > ?2) ORDER BY start, id",
		    &st, err, errlen))
		return -1;
	sqlite3_bind_int64(st, 1, p->id);
	sqlite3_bind_int64(st, 2, p->regions_t);
	size_t cap = 0, kcap = 0;
	int64_t faults_in = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow(&p->regions, p->nregions, &cap, sizeof *p->regions) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		struct rp_region *r = &p->regions[p->nregions++];
		r->region_id = sqlite3_column_int64(st, 0);
		r->start = sqlite3_column_int64(st, 1);
		r->len = sqlite3_column_int64(st, 2);
		r->prot = sqlite3_column_int64(st, 3);
		r->kind = col_dup(st, 4);
		long ri = index_find(&s->regions, r->region_id);
		if (ri >= 0) {
			r->faults = s->rc[ri].faults;
			r->pages = s->rc[ri].pages;
			/* Counted once even when a region id has two live rows. */
			s->rc[ri].faults = s->rc[ri].pages = 0;
		}
		faults_in += r->faults;
		p->regions_alive++;
		p->regions_bytes += r->len;
		size_t k = 0;
		while (k < p->nregion_kinds && strcmp(p->region_kinds[k].kind, r->kind ? r->kind : "?"))
			k++;
		if (k == p->nregion_kinds) {
			if (grow(&p->region_kinds, p->nregion_kinds, &kcap, sizeof *p->region_kinds) != 0) {
				rc = SQLITE_NOMEM;
				break;
			}
			p->region_kinds[k].kind = strdup(r->kind ? r->kind : "?");
			if (!p->region_kinds[k].kind) {
				rc = SQLITE_NOMEM;
				break;
			}
			p->nregion_kinds++;
		}
		p->region_kinds[k].count++;
		p->region_kinds[k].bytes += r->len;
		p->region_kinds[k].faults += r->faults;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(rc == SQLITE_NOMEM ? NULL : db, err, errlen, "reading regions");
	p->faults_elsewhere = p->total.faults - faults_in;
	if (p->nregion_kinds > 1)
		qsort(p->region_kinds, p->nregion_kinds, sizeof *p->region_kinds, cmp_region_kind);
	if (p->nregions > RP_MAX_REGIONS) {
		qsort(p->regions, p->nregions, sizeof *p->regions, cmp_region_len);
		for (size_t i = RP_MAX_REGIONS; i < p->nregions; i++) {
			p->regions_hidden++;
			p->regions_hidden_bytes += p->regions[i].len;
			free(p->regions[i].kind);
		}
		p->nregions = RP_MAX_REGIONS;
		qsort(p->regions, p->nregions, sizeof *p->regions, cmp_region_start);
	}
	return 0;
}

/* What fork copied: the write-protect faults of q (the whole run). */
static int gather_cow(sqlite3 *db, struct rp_cow *c, int top, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (prepare(db,
		    "SELECT stack, faults, pages, writes, latency_ns, latency_max_ns FROM stack_faults"
		    " WHERE process = ?1 AND kind = 5 AND faults > 0 ORDER BY faults DESC, stack",
		    &st, err, errlen))
		return -1;
	sqlite3_bind_int64(st, 1, c->id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow(&c->stacks, c->nstacks, &cap, sizeof *c->stacks) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		int64_t id = sqlite3_column_int64(st, 0);
		if (id == 0 && c->scale > 1) {
			/* Faults without a stack, stood for by the sampled ones. */
			c->faults += sqlite3_column_int64(st, 1);
			c->pages += sqlite3_column_int64(st, 2);
			continue;
		}
		struct rp_stack *s = &c->stacks[c->nstacks++];
		s->stack = id;
		s->t.faults = sqlite3_column_int64(st, 1);
		s->t.pages = sqlite3_column_int64(st, 2);
		s->t.writes = sqlite3_column_int64(st, 3);
		s->t.time_ns = sqlite3_column_int64(st, 4);
		s->t.max_ns = sqlite3_column_int64(st, 5);
		s->kind_faults[RP_KIND_WP] = s->t.faults;
		c->faults += s->t.faults;
		c->pages += s->t.pages;
		if (id != 0)
			c->sampled += s->t.faults;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(rc == SQLITE_NOMEM ? NULL : db, err, errlen, "reading stack_faults");
	for (size_t i = 0; i < c->nstacks && i < (size_t)top; i++)
		if (load_frames(db, c->id, &c->stacks[i], err, errlen) != 0)
			return -1;
	return 0;
}

static int gather_children(sqlite3 *db, struct rp_proc *p, int top, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (prepare(db, "SELECT id, pid, stacks_every FROM processes WHERE parent_id = ?1 ORDER BY start_ns, id", &st,
		    err, errlen))
		return -1;
	sqlite3_bind_int64(st, 1, p->id);
	size_t cap = 0, ccap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow(&p->child_pids, p->nchildren, &cap, sizeof *p->child_pids) != 0 ||
		    grow(&p->cow, p->ncow, &ccap, sizeof *p->cow) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (p->ncow == 0) {
			p->cow[0].id = p->id;
			p->cow[0].pid = p->pid;
			p->cow[0].scale = p->scale;
			p->ncow = 1;
			if (grow(&p->cow, p->ncow, &ccap, sizeof *p->cow) != 0) {
				rc = SQLITE_NOMEM;
				break;
			}
		}
		p->child_pids[p->nchildren++] = sqlite3_column_int64(st, 1);
		p->cow[p->ncow].id = sqlite3_column_int64(st, 0);
		p->cow[p->ncow].pid = sqlite3_column_int64(st, 1);
		p->cow[p->ncow].scale = sqlite3_column_int64(st, 2) > 1 ? sqlite3_column_int64(st, 2) : 1;
		p->ncow++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(rc == SQLITE_NOMEM ? NULL : db, err, errlen, "reading processes");
	for (size_t i = 0; i < p->ncow; i++)
		if (gather_cow(db, &p->cow[i], top, err, errlen) != 0)
			return -1;
	return 0;
}

static int cmp_site_peak(const void *a, const void *b)
{
	const struct rp_site *x = *(struct rp_site *const *)a, *y = *(struct rp_site *const *)b;
	int64_t u = x->resident_at_peak + x->compressed_at_peak, v = y->resident_at_peak + y->compressed_at_peak;
	if (u != v)
		return u > v ? -1 : 1;
	return x->s.stack < y->s.stack ? -1 : x->s.stack > y->s.stack;
}

/* Allocation sites (a log without the allocs table has none). */
static int gather_sites(sqlite3 *db, struct rp_proc *p, int top, char *err, size_t errlen)
{
	if (!has_table(db, "allocs"))
		return 0;
	sqlite3_stmt *st;
	if (prepare(db,
		    "SELECT coalesce(stack, -1), samples, bytes_allocated, bytes_live_at_end, faults,"
		    " coalesce(est_faults, faults), pages, coalesce(est_pages, pages), time_ns,"
		    " coalesce(est_time_ns, time_ns), resident_at_peak_bytes, compressed_at_peak_bytes,"
		    " (SELECT coalesce(max(peak_ns), 0) FROM allocs WHERE process = ?1),"
		    " (SELECT coalesce(sum(dropped), 0) FROM allocs WHERE process = ?1)"
		    " FROM alloc_sites WHERE process = ?1 ORDER BY 6 DESC, 7 DESC, 1",
		    &st, err, errlen))
		return -1;
	sqlite3_bind_int64(st, 1, p->id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow(&p->sites, p->nsites, &cap, sizeof *p->sites) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		struct rp_site *x = &p->sites[p->nsites++];
		memset(x, 0, sizeof *x);
		int64_t *v[] = {&x->s.stack, &x->samples, &x->bytes_allocated, &x->bytes_live_at_end, &x->faults,
				&x->est_faults, &x->pages, &x->est_pages, &x->time_ns, &x->est_time_ns,
				&x->resident_at_peak, &x->compressed_at_peak, &p->alloc_peak_ns, &p->alloc_dropped};
		for (int c = 0; c < (int)(sizeof v / sizeof v[0]); c++)
			*v[c] = sqlite3_column_int64(st, c);
		x->s.t.faults = x->faults;
		x->s.t.pages = x->pages;
		x->s.t.time_ns = x->time_ns;
		p->has_allocs = 1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(rc == SQLITE_NOMEM ? NULL : db, err, errlen, "reading alloc_sites");
	if (!p->nsites)
		return 0;
	p->by_peak = malloc(p->nsites * sizeof *p->by_peak);
	if (!p->by_peak)
		return fail(NULL, err, errlen, "sorting allocation sites");
	for (size_t i = 0; i < p->nsites; i++)
		if (p->sites[i].s.stack >= 0 && p->sites[i].resident_at_peak + p->sites[i].compressed_at_peak > 0)
			p->by_peak[p->nby_peak++] = &p->sites[i];
	qsort(p->by_peak, p->nby_peak, sizeof *p->by_peak, cmp_site_peak);
	for (size_t i = 0; i < p->nsites && i < (size_t)top; i++)
		if (p->sites[i].s.stack > 0 && load_frames(db, p->id, &p->sites[i].s, err, errlen) != 0)
			return -1;
	for (size_t i = 0; i < p->nby_peak && i < (size_t)top; i++)
		if (p->by_peak[i]->s.stack > 0 && load_frames(db, p->id, &p->by_peak[i]->s, err, errlen) != 0)
			return -1;
	return 0;
}

static int gather_proc(sqlite3 *db, struct rp_proc *p, int top, struct fl_progress *pg, char *err, size_t errlen)
{
	struct scan s;
	memset(&s, 0, sizeof s);
	int rc = -1;
	if (gather_samples(db, p, err, errlen) != 0 || gather_spill(db, p, err, errlen) != 0 ||
	    scan_faults(db, p, &s, pg, err, errlen) != 0)
		goto out;
	if (top_stacks(db, p, (size_t)top, cmp_faults, &p->by_faults, &p->ntop_faults, err, errlen) != 0 ||
	    top_stacks(db, p, (size_t)top, cmp_time, &p->by_time, &p->ntop_time, err, errlen) != 0)
		goto out;
	if (gather_regions(db, p, &s, err, errlen) != 0 || gather_children(db, p, top, err, errlen) != 0 ||
	    gather_sites(db, p, top, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	fl_idmap_free(&s.stacks);
	fl_idmap_free(&s.regions);
	free(s.rc);
	return rc;
}

/* ---- the report ------------------------------------------------------------ */

static int load_kinds(sqlite3 *db, struct rp_report *r, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (prepare(db, "SELECT kind, name FROM fault_kinds ORDER BY kind", &st, err, errlen))
		return -1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int k = sqlite3_column_int(st, 0);
		const unsigned char *n = sqlite3_column_text(st, 1);
		if (k < 0 || k >= RP_KINDS || !n)
			continue;
		snprintf(r->kind_names[k], sizeof r->kind_names[k], "%s", (const char *)n);
		if (k + 1 > r->nkinds)
			r->nkinds = k + 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(db, err, errlen, "reading fault_kinds");
}

int rp_gather(sqlite3 *db, struct rp_report *r, long long pid, const struct rp_time *since,
	      const struct rp_time *until, struct fl_progress *pg, char *err, size_t errlen)
{
	if (load_kinds(db, r, err, errlen) != 0)
		return -1;
	sqlite3_stmt *st;
	if (prepare(db, "SELECT value FROM meta WHERE key = 'schema_version'", &st, err, errlen))
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		r->schema_version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	r->window = since->set || until->set;
	if (prepare(db,
		    "SELECT p.id, p.pid, p.ppid, coalesce(p.parent_id, 0), coalesce(pp.pid, 0), p.exe, p.argv,"
		    " p.engine, p.compressor, p.compressor_level, p.budget_bytes, p.page_size, p.stacks_every,"
		    " p.start_ns, p.end_ns, p.exit_status, p.how, p.dropped_events, p.dropped_stacks, p.dropped_other,"
		    " max(p.start_ns, coalesce((SELECT max(t_max) FROM fault_spans s WHERE s.process = p.id), 0),"
		    "  coalesce((SELECT max(t_ns) FROM samples s WHERE s.process = p.id), 0))"
		    " FROM processes p LEFT JOIN processes pp ON pp.id = p.parent_id"
		    " WHERE ?1 < 0 OR p.pid = ?1 ORDER BY p.start_ns, p.id",
		    &st, err, errlen))
		return -1;
	sqlite3_bind_int64(st, 1, pid);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow(&r->procs, r->nprocs, &cap, sizeof *r->procs) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		struct rp_proc *p = &r->procs[r->nprocs];
		memset(p, 0, sizeof *p);
		p->id = sqlite3_column_int64(st, 0);
		p->pid = sqlite3_column_int64(st, 1);
		p->ppid = sqlite3_column_int64(st, 2);
		p->parent_id = sqlite3_column_int64(st, 3);
		p->parent_pid = sqlite3_column_int64(st, 4);
		p->exe = col_dup(st, 5);
		p->argv_json = col_dup(st, 6);
		p->engine = col_dup(st, 7);
		p->compressor = col_dup(st, 8);
		p->compressor_level = sqlite3_column_int64(st, 9);
		p->budget_bytes = sqlite3_column_int64(st, 10);
		p->page_size = sqlite3_column_int64(st, 11);
		if (p->page_size <= 0)
			p->page_size = 4096;
		p->stacks_every = sqlite3_column_int64(st, 12);
		p->scale = p->stacks_every > 1 ? p->stacks_every : 1;
		p->start_ns = sqlite3_column_int64(st, 13);
		int64_t last = sqlite3_column_int64(st, 20);
		p->ended = sqlite3_column_type(st, 14) != SQLITE_NULL;
		p->end_ns = p->ended ? sqlite3_column_int64(st, 14) : last;
		p->has_status = sqlite3_column_type(st, 15) != SQLITE_NULL;
		p->exit_status = sqlite3_column_int64(st, 15);
		p->how = col_dup(st, 16);
		p->dropped_events = sqlite3_column_int64(st, 17);
		p->dropped_stacks = sqlite3_column_int64(st, 18);
		p->dropped_other = sqlite3_column_int64(st, 19);
		p->cmdline = command_line(db, p->argv_json);
		r->nprocs++;
		p->t0 = p->start_ns;
		p->t1 = last > p->end_ns ? last : p->end_ns;
		if (since->set)
			p->t0 = since->relative ? p->start_ns + since->ns : since->ns > p->t0 ? since->ns : p->t0;
		if (until->set) {
			int64_t u = until->relative ? p->start_ns + until->ns : until->ns;
			if (u < p->t1)
				p->t1 = u;
		}
		if (p->t1 < p->t0 || !p->exe || !p->how) {
			/* Outside the window (or a row too damaged to report). */
			r->nprocs--;
			free(p->exe);
			free(p->argv_json);
			free(p->engine);
			free(p->compressor);
			free(p->how);
			free(p->cmdline);
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(rc == SQLITE_NOMEM ? NULL : db, err, errlen, "reading processes");
	for (size_t i = 0; i < r->nprocs; i++)
		if (gather_proc(db, &r->procs[i], r->top, pg, err, errlen) != 0)
			return -1;
	fl_progress_end(pg);
	return 0;
}

static void free_stack(struct rp_stack *s)
{
	for (int i = 0; i < s->nframes; i++) {
		free(s->frames[i].name);
		free(s->frames[i].file);
	}
	free(s->frames);
}

void rp_free(struct rp_report *r)
{
	for (size_t i = 0; i < r->nprocs; i++) {
		struct rp_proc *p = &r->procs[i];
		free(p->exe);
		free(p->cmdline);
		free(p->argv_json);
		free(p->engine);
		free(p->compressor);
		free(p->how);
		for (size_t k = 0; k < p->nstacks; k++)
			free_stack(&p->stacks[k]);
		free(p->stacks);
		for (size_t k = 0; k < p->nsites; k++)
			free_stack(&p->sites[k].s);
		free(p->sites);
		free(p->by_peak);
		free(p->by_faults);
		free(p->by_time);
		for (size_t k = 0; k < p->nregions; k++)
			free(p->regions[k].kind);
		free(p->regions);
		for (size_t k = 0; k < p->nregion_kinds; k++)
			free(p->region_kinds[k].kind);
		free(p->region_kinds);
		free(p->child_pids);
		for (size_t c = 0; c < p->ncow; c++) {
			for (size_t k = 0; k < p->cow[c].nstacks; k++)
				free_stack(&p->cow[c].stacks[k]);
			free(p->cow[c].stacks);
		}
		free(p->cow);
	}
	free(r->procs);
	r->procs = NULL;
	r->nprocs = 0;
}
