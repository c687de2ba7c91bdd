/*
 * faultline top's queries: the fault log (daemon/SCHEMA.md, opened
 * read-only; WAL lets it be read while faultlined writes), the shim's
 * state file (viewer/state.h) and /proc/PID/smaps, turned into the plain
 * structs of top.h.  Nothing here draws.
 *
 * The faults table has no index but its row id (SCHEMA.md says why), so
 * every question about faults goes through fault_spans (time ranges) or
 * stack_faults (totals per stack).  The per-region fault counts of the
 * region table are kept as running totals: live, only faults with a row
 * id past the last one counted are read; in replay, only the faults
 * between the old and the new cursor time (added or taken away), so a
 * step of the time slider costs what happened in that step, not the
 * whole run.
 */
#include "top_query.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "idmap.h"
#include "schema.h"
#include "state_read.h"
#include "vmmap_data.h"

/* ------------------------------------------------- running totals map */

struct agg_ent {
	uint64_t key;
	int64_t faults, pages, latency;
};

/* Entries in insertion order, found by key through the index. */
struct agg_map {
	struct fl_idmap index; /* key -> position in e */
	struct agg_ent *e;
	size_t n, cap;
};

static struct agg_ent *agg_get(struct agg_map *m, uint64_t key)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct agg_ent *e = realloc(m->e, cap * sizeof *e);
		if (!e)
			return NULL;
		m->e = e;
		m->cap = cap;
	}
	int added;
	uint64_t *at = fl_idmap_intern(&m->index, key, m->n, &added);
	if (!at)
		return NULL;
	if (added)
		m->e[m->n++] = (struct agg_ent){.key = key};
	return &m->e[*at];
}

static const struct agg_ent *agg_find(const struct agg_map *m, uint64_t key)
{
	const uint64_t *at = fl_idmap_get(&m->index, key);
	return at ? &m->e[*at] : NULL;
}

static void agg_free(struct agg_map *m)
{
	fl_idmap_free(&m->index);
	free(m->e);
	memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------- source */

struct fl_top_src {
	sqlite3 *db;
	char path[300];
	/* The process the detail screens show. */
	long long proc_id;
	int pid;
	/* Fault totals of that process, per region and per stack. */
	long long agg_proc;
	int agg_mode;           /* 0 none, 1 by row id (live), 2 by time (replay) */
	long long agg_last_id;
	int64_t agg_t;
	struct agg_map by_region, by_stack;
	/* Replay: the sample times of the cursor's process. */
	int replay;
	long long cursor_proc;
	int64_t *times;
	int ntimes, t_index;
	/* --pid without a database row: samples from successive state reads. */
	struct fl_top_sample ring[FL_TOP_HIST];
	int nring;
	struct fl_state *state; /* a buffer for fl_state_read (large) */
	int by_alloc;           /* faults screen: allocation sites */
};

static void set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int fl_top_src_open(struct fl_top_src **out, const char *db_path, char *err, size_t errlen)
{
	*out = NULL;
	struct fl_top_src *s = calloc(1, sizeof *s);
	if (!s) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	s->state = malloc(sizeof *s->state);
	if (!s->state) {
		free(s);
		set_err(err, errlen, "out of memory");
		return -1;
	}
	if (!db_path) {
		*out = s;
		return 0;
	}
	snprintf(s->path, sizeof s->path, "%s", db_path);
	struct stat sb;
	if (stat(db_path, &sb) != 0) {
		set_err(err, errlen, "%s: %s", db_path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		set_err(err, errlen, "%s is not a faultline database (not a regular file)", db_path);
		goto fail;
	}
	if (sqlite3_open_v2(db_path, &s->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		set_err(err, errlen, "%s: %s", db_path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 2000);
	if (fl_schema_check(s->db, db_path, err, errlen) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	sqlite3_close(s->db);
	free(s->state);
	free(s);
	return -1;
}

void fl_top_src_close(struct fl_top_src *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	agg_free(&s->by_region);
	agg_free(&s->by_stack);
	free(s->times);
	free(s->state);
	free(s);
}

int fl_top_src_has_db(const struct fl_top_src *s)
{
	return s->db != NULL;
}

static sqlite3_stmt *prep(struct fl_top_src *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

long long fl_top_src_find_pid(struct fl_top_src *s, int pid)
{
	if (!s->db)
		return 0;
	sqlite3_stmt *st = prep(s, "SELECT id FROM processes WHERE pid = ? ORDER BY start_ns DESC LIMIT 1");
	if (!st)
		return 0;
	sqlite3_bind_int(st, 1, pid);
	long long id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return id;
}

/* ------------------------------------------------------------ samples */

#define SAMPLE_COLS                                                                                                 \
	"t_ns, managed_pages, resident_pages, inactive_pages, compressed_pages, same_filled_pages, "             \
	"compressed_bytes, store_bytes, budget_pages, faults_first_touch, faults_soft, faults_decompress, "     \
	"faults_same_filled, faults_spill, faults_wp, fault_ns_total, pressure, regions"

static int pressure_of(const char *p)
{
	if (!p)
		return -1;
	if (!strcmp(p, "NORMAL"))
		return FL_PRESSURE_NORMAL;
	if (!strcmp(p, "WARN"))
		return FL_PRESSURE_WARN;
	if (!strcmp(p, "CRITICAL"))
		return FL_PRESSURE_CRITICAL;
	return -1;
}

static uint64_t u64(sqlite3_stmt *st, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(st, i);
	return v < 0 ? 0 : (uint64_t)v;
}

static void read_sample(sqlite3_stmt *st, int c, uint64_t page_size, struct fl_top_sample *o)
{
	memset(o, 0, sizeof *o);
	o->t_ns = sqlite3_column_int64(st, c + 0);
	o->page_size = page_size;
	o->managed = u64(st, c + 1);
	o->resident = u64(st, c + 2);
	o->inactive = u64(st, c + 3);
	o->compressed = u64(st, c + 4);
	o->same_filled = u64(st, c + 5);
	o->compressed_bytes = u64(st, c + 6);
	o->store_bytes = u64(st, c + 7);
	o->budget = u64(st, c + 8);
	for (int k = 0; k < FL_TOP_KINDS; k++)
		o->faults[k] = u64(st, c + 9 + k);
	o->fault_ns = u64(st, c + 15);
	o->pressure = pressure_of((const char *)sqlite3_column_text(st, c + 16));
	o->regions = u64(st, c + 17);
}

/* The newest n samples of proc at or before at (oldest first).  Returns how many. */
static int query_hist(struct fl_top_src *s, long long proc, int64_t at, uint64_t ps, struct fl_top_sample *out, int n)
{
	sqlite3_stmt *st = prep(s, "SELECT " SAMPLE_COLS " FROM samples WHERE process = ? AND t_ns <= ? "
				   "ORDER BY t_ns DESC LIMIT ?");
	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, proc);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_int(st, 3, n);
	int k = 0;
	while (k < n && sqlite3_step(st) == SQLITE_ROW)
		read_sample(st, 0, ps, &out[k++]);
	sqlite3_finalize(st);
	for (int i = 0; i < k / 2; i++) {
		struct fl_top_sample t = out[i];
		out[i] = out[k - 1 - i];
		out[k - 1 - i] = t;
	}
	return k;
}

static void sample_from_stats(const struct fl_stats *x, int64_t t, struct fl_top_sample *o)
{
	memset(o, 0, sizeof *o);
	o->t_ns = t;
	o->page_size = x->page_size;
	o->managed = x->managed_pages;
	o->resident = x->resident_pages;
	o->inactive = x->inactive_pages;
	o->compressed = x->compressed_pages;
	o->same_filled = x->same_filled_pages;
	o->compressed_bytes = x->compressed_bytes;
	o->store_bytes = x->store_bytes;
	o->budget = x->budget_pages;
	for (int k = 0; k < FL_TOP_KINDS; k++)
		o->faults[k] = x->faults[k];
	o->fault_ns = x->fault_ns_total;
	o->pressure = x->pressure <= FL_PRESSURE_CRITICAL ? (int)x->pressure : -1;
	o->regions = x->regions;
}

/* ---------------------------------------------------------- processes */

static int alive(int pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static void read_proc(sqlite3_stmt *st, int replay, int64_t at, struct fl_top_proc *p)
{
	memset(p, 0, sizeof *p);
	p->id = sqlite3_column_int64(st, 0);
	p->pid = sqlite3_column_int(st, 1);
	p->ppid = sqlite3_column_int(st, 2);
	snprintf(p->exe, sizeof p->exe, "%s", sqlite3_column_text(st, 3) ? (const char *)sqlite3_column_text(st, 3) : "");
	snprintf(p->cmd, sizeof p->cmd, "%s", sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "");
	snprintf(p->engine, sizeof p->engine, "%s",
		 sqlite3_column_text(st, 5) ? (const char *)sqlite3_column_text(st, 5) : "");
	p->budget_bytes = u64(st, 6);
	p->page_size = u64(st, 7);
	if (!p->page_size)
		p->page_size = 4096;
	p->start_ns = sqlite3_column_int64(st, 8);
	p->end_ns = sqlite3_column_type(st, 9) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 9);
	p->exit_status = sqlite3_column_int(st, 10);
	p->stacks_every = sqlite3_column_int64(st, 12);
	const char *how = (const char *)sqlite3_column_text(st, 11);
	how = how ? how : "";
	if (!strcmp(how, "exited"))
		p->how = FL_TOP_EXITED;
	else if (!strcmp(how, "signalled"))
		p->how = FL_TOP_SIGNALLED;
	else if (!strcmp(how, "vanished"))
		p->how = FL_TOP_VANISHED;
	else
		p->how = FL_TOP_RUNNING;
	if (replay) {
		/* At the cursor it had not ended yet. */
		if (!p->end_ns || p->end_ns > at)
			p->how = FL_TOP_RUNNING;
	} else if (p->how == FL_TOP_RUNNING && !alive(p->pid)) {
		/* The daemon stopped before it could see the end. */
		p->how = FL_TOP_LOST;
	}
}

#define PROC_COLS                                                                                                   \
	"id, pid, ppid, exe, "                                                                                      \
	"CASE WHEN json_valid(argv) THEN (SELECT group_concat(value, ' ') FROM json_each(argv)) ELSE argv END, " \
	"engine, budget_bytes, page_size, start_ns, end_ns, exit_status, how, stacks_every"

static int query_proc(struct fl_top_src *s, long long id, int64_t at, struct fl_top_proc *p)
{
	sqlite3_stmt *st = prep(s, "SELECT " PROC_COLS " FROM processes WHERE id = ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		read_proc(st, s->replay, at, p);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static void proc_last_sample(struct fl_top_src *s, struct fl_top_proc *p, int64_t at)
{
	p->has_sample = query_hist(s, p->id, at, p->page_size, &p->last, 1) == 1;
}

/* Live processes first, then the newest. */
static int query_procs(struct fl_top_src *s, int64_t at, struct fl_top_data *d)
{
	d->nprocs = 0;
	if (!s->db)
		return 0;
	sqlite3_stmt *st = prep(s, "SELECT " PROC_COLS " FROM processes WHERE start_ns <= ? "
				   "ORDER BY (end_ns IS NULL OR end_ns > ?) DESC, start_ns DESC, id DESC LIMIT 2000");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, at);
	sqlite3_bind_int64(st, 2, at);
	int cap = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (d->nprocs == cap) {
			int nc = cap ? cap * 2 : 32;
			struct fl_top_proc *np = realloc(d->procs, sizeof *np * (size_t)nc);
			if (!np)
				break;
			d->procs = np;
			cap = nc;
		}
		read_proc(st, s->replay, at, &d->procs[d->nprocs++]);
	}
	sqlite3_finalize(st);
	for (int i = 0; i < d->nprocs; i++)
		proc_last_sample(s, &d->procs[i], at);
	return 0;
}

/* ------------------------------------------------------- fault totals */

static void agg_reset(struct fl_top_src *s, long long proc, int mode)
{
	agg_free(&s->by_region);
	agg_free(&s->by_stack);
	s->agg_proc = proc;
	s->agg_mode = mode;
	s->agg_last_id = 0;
	s->agg_t = 0;
}

/* Add (sign 1) or take away (-1) the grouped rows of st: region, stack, count, pages, latency. */
static void agg_rows(struct fl_top_src *s, sqlite3_stmt *st, int sign)
{
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint64_t region = (uint64_t)sqlite3_column_int64(st, 0);
		uint64_t stack = (uint64_t)sqlite3_column_int64(st, 1);
		int64_t n = sqlite3_column_int64(st, 2), pages = sqlite3_column_int64(st, 3),
			lat = sqlite3_column_int64(st, 4);
		struct agg_ent *e = agg_get(&s->by_region, region);
		if (e)
			e->faults += sign * n;
		e = agg_get(&s->by_stack, stack);
		if (e) {
			e->faults += sign * n;
			e->pages += sign * pages;
			e->latency += sign * lat;
		}
	}
}

/* Live: count the faults stored since the last call. */
static void agg_live(struct fl_top_src *s, long long proc)
{
	if (s->agg_proc != proc || s->agg_mode != 1)
		agg_reset(s, proc, 1);
	sqlite3_stmt *st = prep(s, "SELECT max(last_id) FROM fault_spans WHERE process = ?");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, proc);
	long long top = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (top <= s->agg_last_id)
		return;
	/* Spans are written whole, once: the bound on f.id keeps a span
	 * committed meanwhile out, to be counted next time. */
	st = prep(s, "SELECT f.region, f.stack, count(*), sum(f.pages), sum(f.latency_ns) "
		     "FROM fault_spans sp JOIN faults f ON f.id BETWEEN sp.first_id AND sp.last_id "
		     "WHERE sp.process = ?1 AND sp.last_id > ?2 AND f.id > ?2 AND f.id <= ?3 "
		     "GROUP BY f.region, f.stack");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, proc);
	sqlite3_bind_int64(st, 2, s->agg_last_id);
	sqlite3_bind_int64(st, 3, top);
	agg_rows(s, st, 1);
	sqlite3_finalize(st);
	s->agg_last_id = top;
}

/* Replay: the totals of faults up to time t, moved from the last t by the difference. */
static void agg_at(struct fl_top_src *s, long long proc, int64_t t)
{
	if (s->agg_proc != proc || s->agg_mode != 2)
		agg_reset(s, proc, 2);
	if (t == s->agg_t)
		return;
	int64_t a = t > s->agg_t ? s->agg_t : t, b = t > s->agg_t ? t : s->agg_t;
	sqlite3_stmt *st = prep(s, "SELECT f.region, f.stack, count(*), sum(f.pages), sum(f.latency_ns) "
				   "FROM fault_spans sp JOIN faults f ON f.id BETWEEN sp.first_id AND sp.last_id "
				   "WHERE sp.process = ?1 AND sp.t_max > ?2 AND sp.t_min <= ?3 "
				   "AND f.t_ns > ?2 AND f.t_ns <= ?3 GROUP BY f.region, f.stack");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, proc);
	sqlite3_bind_int64(st, 2, a);
	sqlite3_bind_int64(st, 3, b);
	agg_rows(s, st, t > s->agg_t ? 1 : -1);
	sqlite3_finalize(st);
	s->agg_t = t;
}

/* ------------------------------------------------------------- stacks */

static const char *base(const char *path)
{
	const char *b = strrchr(path, '/');
	return b ? b + 1 : path;
}

/* "write_pages faulter.c:36 < main < __libc_start_call_main" */
static void stack_where(struct fl_top_src *s, long long proc, uint64_t stack, char *out, size_t len)
{
	out[0] = 0;
	sqlite3_stmt *st = prep(s, "SELECT f.depth, f.function, f.file, f.line, f.pc, f.symbolized "
				   "FROM stacks s JOIN frames f ON f.stack = s.id "
				   "WHERE s.process = ? AND s.stack_id = ? ORDER BY f.depth, f.inline_depth LIMIT 24");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, proc);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)stack);
	size_t n = 0;
	int frames = 0, named = 0;
	char last[128] = "";
	while (sqlite3_step(st) == SQLITE_ROW && frames < 8 && n + 1 < len) {
		const char *fn = (const char *)sqlite3_column_text(st, 1);
		const char *file = (const char *)sqlite3_column_text(st, 2);
		int line = sqlite3_column_int(st, 3);
		char one[200];
		if (fn && fn[0]) {
			if (!strcmp(fn, last))
				continue;
			snprintf(last, sizeof last, "%s", fn);
			if (!named && file && file[0])
				snprintf(one, sizeof one, "%s %s:%d", fn, base(file), line);
			else
				snprintf(one, sizeof one, "%s", fn);
			named = 1;
		} else {
			snprintf(one, sizeof one, "0x%llx%s", (unsigned long long)sqlite3_column_int64(st, 4),
				 sqlite3_column_int(st, 5) == 0 ? " (not named yet)" : "");
			last[0] = 0;
		}
		n += (size_t)snprintf(out + n, len - n, "%s%s", frames ? " < " : "", one);
		if (n >= len)
			n = len - 1;
		frames++;
	}
	sqlite3_finalize(st);
	if (!frames)
		snprintf(out, len, "stack %" PRIu64 " (frames not stored)", stack);
}

/* With sampled stacks (every > 1) the faults without one are left out:
 * the sampled stacks stand for them. */
static int query_stacks_live(struct fl_top_src *s, long long proc, int64_t every, int by_time,
			     struct fl_top_stack *out)
{
	sqlite3_stmt *st = prep(s, by_time ? "SELECT stack, sum(faults), sum(pages), sum(latency_ns), max(latency_max_ns) "
					     "FROM stack_faults WHERE process = ?1 AND (stack <> 0 OR ?3 <= 1) "
					     "GROUP BY stack ORDER BY 4 DESC LIMIT ?2"
					   : "SELECT stack, sum(faults), sum(pages), sum(latency_ns), max(latency_max_ns) "
					     "FROM stack_faults WHERE process = ?1 AND (stack <> 0 OR ?3 <= 1) "
					     "GROUP BY stack ORDER BY 2 DESC LIMIT ?2");
	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, proc);
	sqlite3_bind_int(st, 2, FL_TOP_STACKS);
	sqlite3_bind_int64(st, 3, every);
	int n = 0;
	while (n < FL_TOP_STACKS && sqlite3_step(st) == SQLITE_ROW) {
		struct fl_top_stack *x = &out[n++];
		memset(x, 0, sizeof *x);
		x->stack = u64(st, 0);
		x->faults = u64(st, 1);
		x->pages = u64(st, 2);
		x->latency_ns = u64(st, 3);
		x->latency_max_ns = u64(st, 4);
	}
	sqlite3_finalize(st);
	for (int i = 0; i < n; i++)
		if (out[i].stack)
			stack_where(s, proc, out[i].stack, out[i].where, sizeof out[i].where);
	return n;
}

/* The top stacks of the running totals (replay: up to the cursor). */
static int stacks_from_agg(struct fl_top_src *s, long long proc, int64_t every, int by_time,
			   struct fl_top_stack *out)
{
	int n = 0;
	for (size_t i = 0; i < s->by_stack.n; i++) {
		const struct agg_ent *e = &s->by_stack.e[i];
		if (e->faults <= 0 || (e->key == 0 && every > 1))
			continue;
		struct fl_top_stack x = {.stack = e->key,
					 .faults = (uint64_t)e->faults,
					 .pages = e->pages > 0 ? (uint64_t)e->pages : 0,
					 .latency_ns = e->latency > 0 ? (uint64_t)e->latency : 0};
		uint64_t key = by_time ? x.latency_ns : x.faults;
		/* Insertion into a short sorted list. */
		int j = n < FL_TOP_STACKS ? n : FL_TOP_STACKS - 1;
		if (n == FL_TOP_STACKS && key <= (by_time ? out[j].latency_ns : out[j].faults))
			continue;
		while (j > 0 && key > (by_time ? out[j - 1].latency_ns : out[j - 1].faults)) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = x;
		if (n < FL_TOP_STACKS)
			n++;
	}
	for (int i = 0; i < n; i++)
		if (out[i].stack)
			stack_where(s, proc, out[i].stack, out[i].where, sizeof out[i].where);
	return n;
}

void fl_top_src_by_alloc(struct fl_top_src *s, int on)
{
	s->by_alloc = on;
}

/* The allocation sites of proc (alloc_sites, whole run), estimated counts,
 * most faults (or time) first; the faults in no sample are one row. */
static int query_sites(struct fl_top_src *s, long long proc, int by_time, struct fl_top_stack *out)
{
	sqlite3_stmt *st = prep(s, by_time ? "SELECT stack, coalesce(est_faults, faults), coalesce(est_pages, pages),"
					     " coalesce(est_time_ns, time_ns) FROM alloc_sites WHERE process = ?1"
					     " ORDER BY 4 DESC LIMIT ?2"
					   : "SELECT stack, coalesce(est_faults, faults), coalesce(est_pages, pages),"
					     " coalesce(est_time_ns, time_ns) FROM alloc_sites WHERE process = ?1"
					     " ORDER BY 2 DESC, 3 DESC LIMIT ?2");
	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, proc);
	sqlite3_bind_int(st, 2, FL_TOP_STACKS);
	int n = 0;
	while (n < FL_TOP_STACKS && sqlite3_step(st) == SQLITE_ROW) {
		struct fl_top_stack *x = &out[n++];
		memset(x, 0, sizeof *x);
		x->unsampled = sqlite3_column_type(st, 0) == SQLITE_NULL;
		x->estimated = !x->unsampled;
		x->stack = u64(st, 0);
		x->faults = u64(st, 1);
		x->pages = u64(st, 2);
		x->latency_ns = u64(st, 3);
	}
	sqlite3_finalize(st);
	for (int i = 0; i < n; i++) {
		if (out[i].unsampled)
			snprintf(out[i].where, sizeof out[i].where, "(in no sampled allocation)");
		else if (out[i].stack)
			stack_where(s, proc, out[i].stack, out[i].where, sizeof out[i].where);
	}
	return n;
}

/* ------------------------------------------------------------ regions */

static int regions_grow(struct fl_top_data *d, int *cap)
{
	if (d->nregions < *cap)
		return 0;
	int nc = *cap ? *cap * 2 : 64;
	struct fl_top_region *r = realloc(d->regions, sizeof *r * (size_t)nc);
	if (!r)
		return -1;
	d->regions = r;
	*cap = nc;
	return 0;
}

/* "#2" for the shim's region id (slot 2, first generation); "#2/g3" when reused. */
static void region_detail(uint64_t id, char *out, size_t len)
{
	uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32);
	if (gen <= 1)
		snprintf(out, len, "#%u", slot);
	else
		snprintf(out, len, "#%u/g%u", slot, gen);
}

static void region_unknown(struct fl_top_region *r)
{
	r->rsize = r->isize = r->csize = r->corig = r->ssize = r->usize = r->spsize = -1;
	r->has_strip = 0;
}

static void region_from_state(const struct fl_state_region *sr, uint64_t ps, struct fl_top_region *r)
{
	memset(r, 0, sizeof *r);
	r->id = sr->id;
	r->start = sr->start;
	r->len = sr->len;
	r->prot = sr->prot;
	r->managed = 1;
	r->page_size = ps;
	if (sr->kind < FL_RANGE__COUNT)
		snprintf(r->type, sizeof r->type, "%s", fl_range_kind_name(sr->kind));
	else /* a newer shim's kind: managed all the same */
		snprintf(r->type, sizeof r->type, "kind %u", sr->kind);
	if (sr->kind == FL_RANGE_SHIM) {
		/* The shim's own memory: the kernel pages it, the state has no
		 * page counts for it, and no fault is ever logged in it. */
		r->managed = 0;
		r->detail[0] = 0;
		region_unknown(r);
		r->faults = -1;
		return;
	}
	region_detail(sr->id, r->detail, sizeof r->detail);
	r->rsize = (int64_t)(sr->resident * ps);
	r->isize = (int64_t)(sr->inactive * ps);
	r->corig = (int64_t)((sr->compressed + sr->same_filled) * ps);
	r->ssize = (int64_t)(sr->same_filled * ps);
	r->usize = (int64_t)(sr->untouched * ps);
	r->csize = (int64_t)sr->compressed_bytes;
	r->spsize = (int64_t)(sr->spilled * ps);
	r->has_strip = 1;
	memcpy(r->strip, sr->strip, sizeof r->strip);
	r->faults = -1;
}

/* The managed regions of proc alive at time at, from the database. */
static int query_regions(struct fl_top_src *s, long long proc, int64_t at, uint64_t ps, struct fl_top_data *d)
{
	sqlite3_stmt *st = prep(s, "SELECT region_id, start, len, prot, kind FROM regions WHERE process = ? AND "
				   "created_ns <= ?2 AND (destroyed_ns IS NULL OR destroyed_ns > ?2) ORDER BY start");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, proc);
	sqlite3_bind_int64(st, 2, at);
	int cap = 0;
	d->nregions = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (regions_grow(d, &cap))
			break;
		struct fl_top_region *r = &d->regions[d->nregions++];
		memset(r, 0, sizeof *r);
		r->id = u64(st, 0);
		r->start = u64(st, 1);
		r->len = u64(st, 2);
		r->prot = (unsigned)sqlite3_column_int(st, 3);
		r->managed = 1;
		r->page_size = ps;
		snprintf(r->type, sizeof r->type, "%s",
			 sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "managed");
		region_detail(r->id, r->detail, sizeof r->detail);
		region_unknown(r);
	}
	sqlite3_finalize(st);
	return 0;
}

/* The end of src into dst: of a long path, the end tells files apart. */
static void copy_tail(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);
	memcpy(dst, n >= len ? src + n - (len - 1) : src, n >= len ? len : n + 1);
	dst[len - 1] = 0;
}

/* vmmap's REGION TYPE names, cut to the table's column where they are long. */
static const char *vmmap_type(enum fl_vmmap_type t)
{
	switch (t) {
	case FL_VMMAP_SHM:
		return "shared mem";
	case FL_VMMAP_ARENA:
		return "jemalloc";
	case FL_VMMAP_PROGRAM:
		return "program mmap";
	case FL_VMMAP_COMMITTED:
		return fl_range_kind_name(FL_RANGE_COMMITTED);
	case FL_VMMAP_UFFD:
		return "uffd";
	default:
		return fl_vmmap_data_type_name(t);
	}
}

/* One row of vmmap's table (viewer/vmmap_data.h) as a region table row. */
static void region_from_vmmap(const struct fl_vmmap *m, const struct fl_vmmap_row *w, struct fl_top_region *r)
{
	memset(r, 0, sizeof *r);
	uint64_t ps = m->page_size ? m->page_size : 4096;
	r->start = w->start;
	r->len = w->end - w->start;
	r->prot = w->prot;
	r->page_size = ps;
	snprintf(r->type, sizeof r->type, "%s", vmmap_type(w->type));
	copy_tail(r->detail, sizeof r->detail, w->detail);
	region_unknown(r);
	r->faults = -1;
	r->rsize = (int64_t)w->rsize;
	if (!w->managed)
		return;
	r->managed = 1;
	r->id = w->region_id;
	r->isize = (int64_t)(w->inactive_pages * ps);
	r->corig = (int64_t)((w->compressed_pages + w->same_filled_pages) * ps);
	r->ssize = (int64_t)(w->same_filled_pages * ps);
	r->usize = (int64_t)(w->untouched_pages * ps);
	r->csize = (int64_t)w->csize;
	r->spsize = (int64_t)w->swapped;
	if (!r->detail[0])
		region_detail(w->region_id, r->detail, sizeof r->detail);
	/* The strip is the state file's, found by the region's id. */
	for (uint32_t i = 0; m->state && i < m->state->nregions; i++)
		if (m->state->regions[i].id == w->region_id) {
			r->has_strip = 1;
			memcpy(r->strip, m->state->regions[i].strip, sizeof r->strip);
			break;
		}
}

/* Region fault totals from the running totals. */
static void regions_faults(struct fl_top_src *s, struct fl_top_data *d)
{
	for (int i = 0; i < d->nregions; i++) {
		if (!d->regions[i].managed)
			continue;
		const struct agg_ent *e = agg_find(&s->by_region, d->regions[i].id);
		d->regions[i].faults = e ? e->faults : 0;
	}
}

/* ------------------------------------------------------------- replay */

int fl_top_src_replay(struct fl_top_src *s, long long proc)
{
	s->replay = 1;
	if (proc == s->cursor_proc && s->times)
		return s->ntimes;
	int64_t was = s->times && s->ntimes ? s->times[s->t_index] : INT64_MAX;
	free(s->times);
	s->times = NULL;
	s->ntimes = s->t_index = 0;
	if (s->db && !proc) {
		/* No process named: the newest one that has samples. */
		sqlite3_stmt *q = prep(s, "SELECT p.id FROM processes p WHERE EXISTS "
					  "(SELECT 1 FROM samples s WHERE s.process = p.id) ORDER BY p.start_ns DESC LIMIT 1");
		if (q && sqlite3_step(q) == SQLITE_ROW)
			proc = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	s->cursor_proc = proc;
	if (!s->db || !proc)
		return 0;
	sqlite3_stmt *st = prep(s, "SELECT t_ns FROM samples WHERE process = ? ORDER BY t_ns");
	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, proc);
	int cap = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (s->ntimes == cap) {
			int nc = cap ? cap * 2 : 1024;
			int64_t *t = realloc(s->times, sizeof *t * (size_t)nc);
			if (!t)
				break;
			s->times = t;
			cap = nc;
		}
		s->times[s->ntimes++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	/* The process's end is the cursor's last stop: where it shows how it ended. */
	st = prep(s, "SELECT end_ns FROM processes WHERE id = ? AND end_ns IS NOT NULL");
	if (st) {
		sqlite3_bind_int64(st, 1, proc);
		if (sqlite3_step(st) == SQLITE_ROW && s->ntimes) {
			int64_t end = sqlite3_column_int64(st, 0);
			int64_t *t = end > s->times[s->ntimes - 1] ? realloc(s->times, sizeof *t * (size_t)(s->ntimes + 1))
								     : NULL;
			if (t) {
				s->times = t;
				s->times[s->ntimes++] = end;
			}
		}
		sqlite3_finalize(st);
	}
	/* Keep the cursor where it was in time; a first cursor starts at the end. */
	s->t_index = s->ntimes ? s->ntimes - 1 : 0;
	if (was != INT64_MAX)
		for (int i = 0; i < s->ntimes; i++)
			if (s->times[i] >= was) {
				s->t_index = i;
				break;
			}
	return s->ntimes;
}

void fl_top_src_step(struct fl_top_src *s, int delta)
{
	if (!s->ntimes)
		return;
	long long i = (long long)s->t_index + delta;
	if (i < 0)
		i = 0;
	if (i >= s->ntimes)
		i = s->ntimes - 1;
	s->t_index = (int)i;
}

/* ------------------------------------------------------------ refresh */

void fl_top_src_open_proc(struct fl_top_src *s, long long id, int pid)
{
	if (s->proc_id != id || s->pid != pid)
		s->nring = 0;
	s->proc_id = id;
	s->pid = pid;
}

void fl_top_data_free(struct fl_top_data *d)
{
	free(d->procs);
	free(d->regions);
	memset(d, 0, sizeof *d);
}

/* An unlogged process (--pid): what vmmap gathers (smaps, the state file). */
static void refresh_unlogged(struct fl_top_src *s, struct fl_top_data *d, int want_regions)
{
	struct fl_top_proc *p = &d->proc;
	memset(p, 0, sizeof *p);
	p->pid = s->pid;
	p->how = FL_TOP_UNLOGGED;
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/cmdline", s->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		for (ssize_t i = 0; i < n - 1; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[n > 0 ? n : 0] = 0;
		snprintf(p->cmd, sizeof p->cmd, "%s", buf);
	}
	struct fl_vmmap m;
	char err[512];
	if (fl_vmmap_data_gather(s->pid, &m, err, sizeof err, d->note, sizeof d->note) != 0) {
		if (!alive(s->pid))
			p->how = FL_TOP_LOST;
		snprintf(d->note, sizeof d->note, "%.300s", err);
		return;
	}
	copy_tail(p->exe, sizeof p->exe, m.exe[0] ? m.exe : m.comm);
	p->page_size = m.page_size;
	d->live_pages = m.has_state;
	if (m.has_state) {
		snprintf(p->engine, sizeof p->engine, "%s", fl_engine_name(m.state->stats.engine));
		struct fl_top_sample now;
		sample_from_stats(&m.state->stats, (int64_t)m.state->t_real_ns, &now);
		if (!s->nring || s->ring[s->nring - 1].t_ns != now.t_ns) {
			if (s->nring == FL_TOP_HIST) {
				memmove(s->ring, s->ring + 1, sizeof s->ring[0] * (FL_TOP_HIST - 1));
				s->nring--;
			}
			s->ring[s->nring++] = now;
		}
		d->has_summary = 1;
		d->summary = now;
		p->has_sample = 1;
		p->last = now;
		memcpy(d->hist, s->ring, sizeof s->ring[0] * (size_t)s->nring);
		d->nhist = s->nring;
	} else if (!d->note[0]) {
		snprintf(d->note, sizeof d->note, "not under the shim: the kernel's figures only");
	}
	if (want_regions) {
		int cap = 0;
		d->nregions = 0;
		for (size_t i = 0; i < m.nrows; i++) {
			if (regions_grow(d, &cap))
				break;
			region_from_vmmap(&m, &m.rows[i], &d->regions[d->nregions++]);
		}
	}
	fl_vmmap_data_free(&m);
}

int fl_top_src_refresh(struct fl_top_src *s, enum fl_top_screen_id screen, struct fl_top_data *d)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t wall = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	snprintf(d->source, sizeof d->source, "%s", s->path);
	d->replay = s->replay;
	d->note[0] = 0;
	d->live_pages = 0;
	d->has_summary = 0;
	d->nhist = 0;
	d->nby_faults = d->nby_time = 0;
	int64_t at = INT64_MAX;
	if (s->replay) {
		d->t_count = s->ntimes;
		d->t_index = s->t_index;
		d->t_first = s->ntimes ? s->times[0] : 0;
		d->t_last = s->ntimes ? s->times[s->ntimes - 1] : 0;
		at = s->ntimes ? s->times[s->t_index] : 0;
		d->now_ns = at;
	} else {
		d->now_ns = wall;
	}
	if (s->db)
		sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL); /* one snapshot for the whole frame */
	query_procs(s, at, d);
	memset(&d->proc, 0, sizeof d->proc);
	d->nregions = 0;
	int want_regions = screen == FL_TOP_REGIONS || screen == FL_TOP_PAGEMAP;
	if (!s->proc_id && s->pid) {
		refresh_unlogged(s, d, want_regions);
		/* The list shows it too, first. */
		struct fl_top_proc *np = realloc(d->procs, sizeof *np * (size_t)(d->nprocs + 1));
		if (np) {
			d->procs = np;
			memmove(np + 1, np, sizeof *np * (size_t)d->nprocs);
			np[0] = d->proc;
			d->nprocs++;
		}
	} else if (s->proc_id && s->db && query_proc(s, s->proc_id, at, &d->proc) == 0) {
		struct fl_top_proc *p = &d->proc;
		/* An ended process is shown as it was at its end. */
		int64_t t = at;
		if (!s->replay && p->end_ns)
			t = p->end_ns;
		d->nhist = query_hist(s, p->id, at, p->page_size, d->hist, FL_TOP_HIST);
		if (d->nhist) {
			d->has_summary = 1;
			d->summary = d->hist[d->nhist - 1];
			p->has_sample = 1;
			p->last = d->summary;
		}
		/* The running totals cost a pass over the process's faults the
		 * first time: only the screens that show them pay it. */
		if (s->replay && (want_regions || screen == FL_TOP_FAULTS))
			agg_at(s, p->id, at);
		else if (!s->replay && want_regions)
			agg_live(s, p->id);
		if (want_regions) {
			int live = !s->replay && p->how == FL_TOP_RUNNING;
			char err[256];
			if (live && fl_state_read(p->pid, s->state, err, sizeof err) == 0) {
				int cap = 0;
				for (uint32_t i = 0; i < s->state->nregions; i++) {
					if (regions_grow(d, &cap))
						break;
					region_from_state(&s->state->regions[i], p->page_size, &d->regions[d->nregions++]);
				}
				d->live_pages = 1;
			} else {
				query_regions(s, p->id, t == INT64_MAX ? INT64_MAX : t, p->page_size, d);
				if (live)
					snprintf(d->note, sizeof d->note, "page states not known (%s)", err);
				else if (!s->replay)
					snprintf(d->note, sizeof d->note, "regions at its end; page states are known live only");
			}
			regions_faults(s, d);
		}
		d->by_alloc = 0;
		if (screen == FL_TOP_FAULTS && s->by_alloc) {
			d->by_alloc = 1;
			d->nby_faults = query_sites(s, p->id, 0, d->by_faults);
			d->nby_time = query_sites(s, p->id, 1, d->by_time);
		} else if (screen == FL_TOP_FAULTS) {
			if (s->replay) {
				d->nby_faults = stacks_from_agg(s, p->id, p->stacks_every, 0, d->by_faults);
				d->nby_time = stacks_from_agg(s, p->id, p->stacks_every, 1, d->by_time);
			} else {
				d->nby_faults = query_stacks_live(s, p->id, p->stacks_every, 0, d->by_faults);
				d->nby_time = query_stacks_live(s, p->id, p->stacks_every, 1, d->by_time);
			}
		}
	}
	if (s->db)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return 0;
}
