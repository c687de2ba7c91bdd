/*
 * Writer ops into SQL rows (ingest.h).  Only the writer thread (or the
 * fuzzer) calls this, on its own connection, so nothing here locks.
 *
 * Times arrive as the shim's CLOCK_MONOTONIC nanoseconds and are stored
 * as CLOCK_REALTIME nanoseconds: each process key keeps the offset its
 * HELLO gave (start_real - start_mono), and real = t + offset.  Addresses
 * and PCs are stored as SQLite's signed 64-bit integers (user-space
 * addresses are below 2^47, so they read the same).
 */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/faultline.h"
#include "idmap.h"

/* Rows per multi-row fault INSERT: 32 rows of 10 values each. */
#define MULTI 32

enum {
	S_PROC_INSERT,
	S_PROC_PARENT,
	S_PROC_RESUME,
	S_MOD_INSERT,
	S_MOD_UNLOAD,
	S_REG_INSERT,
	S_REG_CLOSE,
	S_STACK_INSERT,
	S_FRAME_INSERT,
	S_FAULT1,
	S_FAULTN,
	S_SAMPLE,
	S_DROPS_INSERT,
	S_DROPS_UPDATE,
	S_GOODBYE,
	S_VANISH,
	S_EXIT_ROW,
	S_EXIT_PID,
	S_SPAN,
	S_AGG,
	S_SYM_UPDATE,
	S_SYM_INSERT,
	S_ALLOC,
	S_SPILL,
	S__COUNT
};

static const char *const sql_text[S__COUNT] = {
	[S_PROC_INSERT] = "INSERT INTO processes(pid, ppid, parent_id, exe, argv, engine, compressor,"
			  " compressor_level, budget_bytes, page_size, stacks_every, start_ns, start_mono_ns)"
			  " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[S_PROC_PARENT] = "SELECT id FROM processes WHERE pid = ? AND start_ns <= ? ORDER BY start_ns DESC LIMIT 1",
	[S_PROC_RESUME] = "UPDATE processes SET how = 'running', end_ns = NULL, exit_status = NULL"
			  " WHERE id = ? AND how = 'vanished'",
	[S_MOD_INSERT] = "INSERT INTO modules(process, path, build_id, start, len, bias, loaded_ns)"
			 " VALUES(?,?,?,?,?,?,?)",
	[S_MOD_UNLOAD] = "UPDATE modules SET unloaded_ns = ? WHERE process = ? AND start = ? AND unloaded_ns IS NULL",
	[S_REG_INSERT] = "INSERT INTO regions(process, region_id, start, len, prot, kind, created_ns)"
			 " VALUES(?,?,?,?,?,?,?)",
	[S_REG_CLOSE] = "UPDATE regions SET destroyed_ns = ? WHERE process = ? AND region_id = ? AND destroyed_ns IS NULL",
	[S_STACK_INSERT] = "INSERT OR IGNORE INTO stacks(process, stack_id, nframes, defined_ns) VALUES(?,?,?,?)",
	[S_FRAME_INSERT] = "INSERT INTO frames(stack, depth, pc) VALUES(?,?,?)",
	[S_FAULT1] = NULL, /* built in fl_ingest_new */
	[S_FAULTN] = NULL,
	[S_SAMPLE] = "INSERT INTO samples(process, t_ns, managed_pages, resident_pages, inactive_pages,"
		     " compressed_pages, same_filled_pages, compressed_bytes, store_bytes, budget_pages,"
		     " resident_peak_pages, faults_first_touch, faults_soft, faults_decompress,"
		     " faults_same_filled, faults_spill, faults_wp, fault_ns_total, pages_evicted, pressure, regions)"
		     " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[S_DROPS_INSERT] = "INSERT INTO drops(process, t_ns, events, stacks, other) VALUES(?,?,?,?,?)",
	[S_DROPS_UPDATE] = "UPDATE processes SET dropped_events = ?, dropped_stacks = ?, dropped_other = ? WHERE id = ?",
	[S_GOODBYE] = "UPDATE processes SET how = ?, exit_status = ?, end_ns = ? WHERE id = ?",
	[S_VANISH] = "UPDATE processes SET how = 'vanished', end_ns = ? WHERE id = ? AND how = 'running'",
	[S_EXIT_ROW] = "UPDATE processes SET how = ?, exit_status = ?, end_ns = coalesce(end_ns, ?)"
		       " WHERE id = ? AND how IN ('running', 'vanished')",
	[S_EXIT_PID] = "UPDATE processes SET how = ?, exit_status = ?, end_ns = coalesce(end_ns, ?)"
		       " WHERE id = (SELECT id FROM processes WHERE pid = ? ORDER BY start_ns DESC, id DESC LIMIT 1)"
		       " AND how IN ('running', 'vanished')",
	[S_SPAN] = "INSERT INTO fault_spans(process, first_id, last_id, t_min, t_max, faults) VALUES(?,?,?,?,?,?)",
	[S_AGG] = "INSERT INTO stack_faults(process, stack, kind, faults, pages, writes, latency_ns,"
		  " latency_max_ns, first_ns, last_ns) VALUES(?,?,?,?,?,?,?,?,?,?)"
		  " ON CONFLICT(process, stack, kind) DO UPDATE SET faults = faults + excluded.faults,"
		  " pages = pages + excluded.pages, writes = writes + excluded.writes,"
		  " latency_ns = latency_ns + excluded.latency_ns,"
		  " latency_max_ns = max(latency_max_ns, excluded.latency_max_ns),"
		  " first_ns = min(first_ns, excluded.first_ns), last_ns = max(last_ns, excluded.last_ns)",
	[S_SYM_UPDATE] = "UPDATE frames SET module = ?, offset = ?, function = ?, file = ?, line = ?, symbolized = ?"
			 " WHERE id = ? AND symbolized = 0",
	[S_SYM_INSERT] = "INSERT INTO frames(stack, depth, inline_depth, pc, module, offset, function, file, line,"
			 " symbolized) VALUES(?,?,?,?,?,?,?,?,?,?)",
	[S_ALLOC] = "INSERT INTO allocs(process, alloc_id, stack, kind, addr, size, weight, t_ns, free_ns, faults,"
		    " pages, latency_ns, peak_ns, peak_resident_bytes, peak_compressed_bytes, dropped)"
		    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
		    " ON CONFLICT(process, alloc_id) DO UPDATE SET stack = excluded.stack, kind = excluded.kind,"
		    " addr = excluded.addr, size = excluded.size, weight = excluded.weight, t_ns = excluded.t_ns,"
		    " free_ns = excluded.free_ns, faults = excluded.faults, pages = excluded.pages,"
		    " latency_ns = excluded.latency_ns, peak_ns = excluded.peak_ns,"
		    " peak_resident_bytes = excluded.peak_resident_bytes,"
		    " peak_compressed_bytes = excluded.peak_compressed_bytes, dropped = excluded.dropped",
	[S_SPILL] = "INSERT INTO spill_samples(process, t_ns, spilled_pages, spilled_bytes, file_bytes, writes,"
		    " write_errors, reads, read_errors) VALUES(?,?,?,?,?,?,?,?,?)",
};

#define FAULT_COLS "process, t_ns, tid, addr, region, kind, pages, latency_ns, write, stack"
#define FAULT_NCOLS 10

/* What ingest knows of one process key. */
struct slot {
	int64_t rowid;      /* its processes row; 0: none (yet, or rolled back) */
	uint64_t off;       /* start_real - start_mono: monotonic to real time */
	void *hello;        /* a copy of its FL_OP_PROC payload, until its row is committed */
	size_t hello_len;
	int txn_new;        /* its row was inserted in the open transaction */
	int span_open;      /* fault rows of this transaction, one contiguous run */
	int64_t span_first, span_last, span_tmin, span_tmax;
};

/* Fault totals of one (process, stack, kind). */
struct aggv {
	uint64_t faults, pages, writes, lat, lat_max;
	int64_t first, last;
};

/*
 * Totals not yet in stack_faults: pend from committed transactions, cur
 * from the open one (dropped if it rolls back).  Writing them costs an
 * upsert per key, as much as several fault rows, so they go out at most
 * once a second (AGG_EVERY_NS), not with every commit.
 */
struct agg {
	uint64_t mapkey; /* its key in aggmap */
	int64_t process;
	uint32_t stack, kind;
	struct aggv pend, cur;
};

#define AGG_EVERY_NS 1000000000ull
#define AGG_MAX_KEYS 200000u /* written sooner when this many keys wait */

struct fl_ingest {
	sqlite3 *db;
	sqlite3_stmt *st[S__COUNT];
	struct slot *slots;
	size_t nslots;
	/* keys with a row inserted, or a span open, in this transaction */
	uint32_t *txn_keys, *span_keys;
	size_t ntxn_keys, nspan_keys, cap_txn_keys, cap_span_keys;
	struct fl_idmap aggmap; /* (key, stack, kind) -> index in aggs */
	struct agg *aggs;
	size_t naggs, cap_aggs;
	uint64_t last_aggk;
	size_t last_agg;
	uint64_t agg_written_ns; /* CLOCK_MONOTONIC of the last write of the totals */
	int agg_in_txn;          /* the open transaction wrote them */
	uint64_t txn_faults, txn_records;
	int txn_stacks;
	struct fl_ingest_stats stats;
};

static int sqlerr(struct fl_ingest *g, int rc, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(g->db));
	return rc;
}

/* Step a statement that returns no rows, and reset it. */
static int run(struct fl_ingest *g, sqlite3_stmt *st, char *err, size_t errlen)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return SQLITE_OK;
	}
	sqlerr(g, rc, err, errlen); /* the message, before reset replaces it */
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? SQLITE_MISUSE : rc;
}

struct fl_ingest *fl_ingest_new(sqlite3 *db, char *err, size_t errlen)
{
	struct fl_ingest *g = calloc(1, sizeof *g);
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->db = db;
	g->last_aggk = UINT64_MAX;
	char *multi = malloc(64 + MULTI * (FAULT_NCOLS * 2 + 4) + sizeof FAULT_COLS);
	if (!multi) {
		snprintf(err, errlen, "out of memory");
		free(g);
		return NULL;
	}
	for (int i = 0; i < S__COUNT; i++) {
		const char *sql = sql_text[i];
		if (i == S_FAULT1 || i == S_FAULTN) {
			int rows = i == S_FAULT1 ? 1 : MULTI;
			int o = sprintf(multi, "INSERT INTO faults(" FAULT_COLS ") VALUES");
			for (int r = 0; r < rows; r++)
				o += sprintf(multi + o, "%s(?,?,?,?,?,?,?,?,?,?)", r ? "," : "");
			sql = multi;
		}
		if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &g->st[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "preparing statement %d: %s", i, sqlite3_errmsg(db));
			free(multi);
			fl_ingest_free(g);
			return NULL;
		}
	}
	free(multi);
	return g;
}

void fl_ingest_free(struct fl_ingest *g)
{
	if (!g)
		return;
	for (int i = 0; i < S__COUNT; i++)
		sqlite3_finalize(g->st[i]);
	for (size_t i = 0; i < g->nslots; i++)
		free(g->slots[i].hello);
	free(g->slots);
	free(g->txn_keys);
	free(g->span_keys);
	free(g->aggs);
	fl_idmap_free(&g->aggmap);
	free(g);
}

static int push_key(uint32_t **v, size_t *n, size_t *cap, uint32_t key)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		uint32_t *x = realloc(*v, c * sizeof *x);
		if (!x)
			return -1;
		*v = x;
		*cap = c;
	}
	(*v)[(*n)++] = key;
	return 0;
}

static struct slot *slot_at(struct fl_ingest *g, uint32_t key)
{
	if (key >= g->nslots) {
		size_t n = g->nslots ? g->nslots : 64;
		while (n <= key)
			n *= 2;
		struct slot *s = realloc(g->slots, n * sizeof *s);
		if (!s)
			return NULL;
		memset(s + g->nslots, 0, (n - g->nslots) * sizeof *s);
		g->slots = s;
		g->nslots = n;
	}
	return &g->slots[key];
}

static inline int64_t real_ns(const struct slot *s, uint64_t mono)
{
	return (int64_t)(mono + s->off);
}

/* argv (argc NUL-terminated strings) as a JSON array of strings. */
static char *json_argv(const char *argv, size_t len)
{
	/* Worst case: every byte becomes \u00XX, plus quotes and commas. */
	char *out = malloc(len * 6 + 3 * (len + 1) + 3);
	if (!out)
		return NULL;
	size_t o = 0;
	out[o++] = '[';
	size_t i = 0;
	int first = 1;
	while (i < len) {
		if (!first)
			out[o++] = ',';
		first = 0;
		out[o++] = '"';
		for (; i < len && argv[i]; i++) {
			unsigned char ch = (unsigned char)argv[i];
			if (ch == '"' || ch == '\\') {
				out[o++] = '\\';
				out[o++] = (char)ch;
			} else if (ch < 0x20 || ch == 0x7f) {
				o += (size_t)sprintf(out + o, "\\u%04x", ch);
			} else if (ch < 0x80) {
				out[o++] = (char)ch;
			} else {
				/* Keep valid UTF-8 as it is; a stray byte becomes the
				 * code point of the same value, so the text stays JSON. */
				size_t need = ch >= 0xf0 && ch < 0xf5 ? 3 : ch >= 0xe0 ? 2 : ch >= 0xc2 && ch < 0xe0 ? 1 : 0;
				size_t k = 1;
				if (need && i + need < len)
					for (; k <= need && ((unsigned char)argv[i + k] & 0xc0) == 0x80; k++)
						;
				if (need && k == need + 1) {
					memcpy(out + o, argv + i, need + 1);
					o += need + 1;
					i += need;
				} else {
					o += (size_t)sprintf(out + o, "\\u%04x", ch);
				}
			}
		}
		out[o++] = '"';
		i++; /* the NUL */
	}
	out[o++] = ']';
	out[o] = 0;
	return out;
}

/* Insert the processes row of key s from its HELLO copy. */
static int insert_proc(struct fl_ingest *g, uint32_t key, struct slot *s, char *err, size_t errlen)
{
	const struct fl_op_proc *op = s->hello;
	const struct fl_wire_hello *h = &op->hello;
	const char *exe = (const char *)(op + 1);
	char *argv = json_argv(exe + h->exe_len, h->argv_len);
	if (!argv)
		return sqlerr(g, SQLITE_NOMEM, err, errlen);
	/* The parent: the newest row of the parent's pid that started before. */
	sqlite3_stmt *p = g->st[S_PROC_PARENT];
	sqlite3_bind_int64(p, 1, h->ppid);
	sqlite3_bind_int64(p, 2, (int64_t)h->start_real_ns);
	int64_t parent = 0;
	int rc = sqlite3_step(p);
	if (rc == SQLITE_ROW)
		parent = sqlite3_column_int64(p, 0);
	sqlite3_reset(p);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		free(argv);
		return sqlerr(g, rc, err, errlen);
	}
	sqlite3_stmt *st = g->st[S_PROC_INSERT];
	sqlite3_bind_int64(st, 1, h->pid);
	sqlite3_bind_int64(st, 2, h->ppid);
	if (parent)
		sqlite3_bind_int64(st, 3, parent);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_text(st, 4, exe, (int)h->exe_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, argv, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, fl_engine_name((enum fl_engine_kind)h->engine), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, h->compressor == 1 ? "zstd" : "lz4", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, h->compressor_level);
	sqlite3_bind_int64(st, 9, (int64_t)h->budget_bytes);
	sqlite3_bind_int64(st, 10, h->page_size);
	sqlite3_bind_int64(st, 11, h->stacks_every);
	sqlite3_bind_int64(st, 12, (int64_t)h->start_real_ns);
	sqlite3_bind_int64(st, 13, (int64_t)h->start_mono_ns);
	rc = run(g, st, err, errlen);
	sqlite3_clear_bindings(st);
	free(argv);
	if (rc != SQLITE_OK)
		return rc;
	if (push_key(&g->txn_keys, &g->ntxn_keys, &g->cap_txn_keys, key) != 0)
		return sqlerr(g, SQLITE_NOMEM, err, errlen);
	s->rowid = sqlite3_last_insert_rowid(g->db);
	s->txn_new = 1;
	return SQLITE_OK;
}

/* The slot of an op's process with a row (inserting it if it has only a HELLO), or NULL. */
static struct slot *row_for(struct fl_ingest *g, uint32_t key, int *rc, char *err, size_t errlen)
{
	*rc = SQLITE_OK;
	if (key == 0 || key >= g->nslots)
		return NULL;
	struct slot *s = &g->slots[key];
	if (s->rowid)
		return s;
	if (!s->hello)
		return NULL;
	*rc = insert_proc(g, key, s, err, errlen);
	return *rc == SQLITE_OK ? s : NULL;
}

/* Remember a process's HELLO (and its row, when the network thread found one). */
static int note_proc(struct fl_ingest *g, const struct fl_op *op, struct slot **out)
{
	const struct fl_op_proc *p = fl_batch_body(op);
	struct slot *s = slot_at(g, op->proc);
	if (!s)
		return -1;
	*out = s;
	if (op->flags & FL_OP_PROC_RESUME)
		return 0;
	s->off = p->hello.start_real_ns - p->hello.start_mono_ns;
	if (p->rowid) {
		s->rowid = p->rowid;
		return 0;
	}
	size_t len = op->len - sizeof *op;
	void *copy = malloc(len);
	if (!copy)
		return -1;
	memcpy(copy, p, len);
	free(s->hello);
	s->hello = copy;
	s->hello_len = len;
	s->rowid = 0;
	return 0;
}

static int op_proc(struct fl_ingest *g, const struct fl_op *op, char *err, size_t errlen)
{
	struct slot *s;
	if (note_proc(g, op, &s) != 0)
		return sqlerr(g, SQLITE_NOMEM, err, errlen);
	const struct fl_op_proc *p = fl_batch_body(op);
	if ((op->flags & FL_OP_PROC_RESUME) || p->rowid) {
		/* Back again: a process marked vanished is running after all. */
		if (!s->rowid)
			return SQLITE_OK;
		sqlite3_stmt *st = g->st[S_PROC_RESUME];
		sqlite3_bind_int64(st, 1, s->rowid);
		return run(g, st, err, errlen);
	}
	return insert_proc(g, op->proc, s, err, errlen);
}

static void hex(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = 0;
}

static int op_module(struct fl_ingest *g, struct slot *s, const struct fl_op *op, char *err, size_t errlen)
{
	const struct fl_op_module *m = fl_batch_body(op);
	const uint8_t *bid = (const uint8_t *)(m + 1);
	const char *path = (const char *)bid + m->m.build_id_len;
	sqlite3_stmt *st;
	if (m->m.op == FL_WIRE_MODULE_UNLOAD) {
		st = g->st[S_MOD_UNLOAD];
		sqlite3_bind_int64(st, 1, real_ns(s, m->m.t_ns));
		sqlite3_bind_int64(st, 2, s->rowid);
		sqlite3_bind_int64(st, 3, (int64_t)m->m.start);
		return run(g, st, err, errlen);
	}
	char idhex[2 * FL_WIRE_MAX_BUILD_ID + 1];
	hex(idhex, bid, m->m.build_id_len);
	st = g->st[S_MOD_INSERT];
	sqlite3_bind_int64(st, 1, s->rowid);
	sqlite3_bind_text(st, 2, path, (int)m->m.path_len, SQLITE_STATIC);
	if (m->m.build_id_len)
		sqlite3_bind_text(st, 3, idhex, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, (int64_t)m->m.start);
	sqlite3_bind_int64(st, 5, (int64_t)(m->m.end - m->m.start));
	sqlite3_bind_int64(st, 6, (int64_t)m->m.bias);
	sqlite3_bind_int64(st, 7, real_ns(s, m->m.t_ns));
	return run(g, st, err, errlen);
}

static int op_region(struct fl_ingest *g, struct slot *s, const struct fl_op *op, char *err, size_t errlen)
{
	const struct fl_wire_region *r = fl_batch_body(op);
	int64_t t = real_ns(s, r->t_ns);
	if (r->op != FL_WIRE_REGION_CREATE) {
		/* An update ends the old row and starts a new one, so that the
		 * regions alive at time T are the rows with created_ns <= T <
		 * destroyed_ns. */
		sqlite3_stmt *st = g->st[S_REG_CLOSE];
		sqlite3_bind_int64(st, 1, t);
		sqlite3_bind_int64(st, 2, s->rowid);
		sqlite3_bind_int64(st, 3, (int64_t)r->id);
		int rc = run(g, st, err, errlen);
		if (rc != SQLITE_OK || r->op == FL_WIRE_REGION_DESTROY)
			return rc;
	}
	sqlite3_stmt *st = g->st[S_REG_INSERT];
	sqlite3_bind_int64(st, 1, s->rowid);
	sqlite3_bind_int64(st, 2, (int64_t)r->id);
	sqlite3_bind_int64(st, 3, (int64_t)r->start);
	sqlite3_bind_int64(st, 4, (int64_t)r->len);
	sqlite3_bind_int64(st, 5, r->prot);
	sqlite3_bind_text(st, 6, fl_range_kind_name((enum fl_range_kind)r->kind), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, t);
	return run(g, st, err, errlen);
}

static int op_stack(struct fl_ingest *g, struct slot *s, const struct fl_op *op, char *err, size_t errlen)
{
	const struct fl_op_stack *x = fl_batch_body(op);
	const uint64_t *pcs = (const uint64_t *)(x + 1);
	sqlite3_stmt *st = g->st[S_STACK_INSERT];
	sqlite3_bind_int64(st, 1, s->rowid);
	sqlite3_bind_int64(st, 2, x->id);
	sqlite3_bind_int64(st, 3, x->nframes);
	sqlite3_bind_int64(st, 4, (int64_t)x->recv_real_ns);
	int rc = run(g, st, err, errlen);
	/* Known already (a reconnecting shim sent it again): same frames. */
	if (rc != SQLITE_OK || sqlite3_changes(g->db) == 0)
		return rc;
	int64_t stack = sqlite3_last_insert_rowid(g->db);
	st = g->st[S_FRAME_INSERT];
	for (uint32_t i = 0; i < x->nframes && rc == SQLITE_OK; i++) {
		sqlite3_bind_int64(st, 1, stack);
		sqlite3_bind_int64(st, 2, i);
		sqlite3_bind_int64(st, 3, (int64_t)pcs[i]);
		rc = run(g, st, err, errlen);
	}
	g->txn_stacks = 1;
	return rc;
}

static inline void bind_fault(sqlite3_stmt *st, int b, int64_t process, const struct slot *s,
			      const struct fl_wire_fault *f)
{
	sqlite3_bind_int64(st, b + 1, process);
	sqlite3_bind_int64(st, b + 2, real_ns(s, f->t_ns));
	sqlite3_bind_int64(st, b + 3, f->tid);
	sqlite3_bind_int64(st, b + 4, (int64_t)f->addr);
	sqlite3_bind_int64(st, b + 5, (int64_t)f->region);
	sqlite3_bind_int64(st, b + 6, f->kind);
	sqlite3_bind_int64(st, b + 7, f->pages);
	sqlite3_bind_int64(st, b + 8, f->latency_ns);
	sqlite3_bind_int64(st, b + 9, f->flags & FL_WIRE_FAULT_WRITE);
	sqlite3_bind_int64(st, b + 10, f->stack);
}

static struct agg *agg_for(struct fl_ingest *g, uint32_t key, int64_t process, const struct fl_wire_fault *f)
{
	uint64_t k = ((uint64_t)key << 35) | ((uint64_t)f->stack << 3) | f->kind;
	if (k == g->last_aggk)
		return &g->aggs[g->last_agg];
	uint64_t *v = fl_idmap_get(&g->aggmap, k);
	size_t i;
	if (v) {
		i = (size_t)*v;
	} else {
		if (g->naggs == g->cap_aggs) {
			size_t c = g->cap_aggs ? g->cap_aggs * 2 : 256;
			struct agg *a = realloc(g->aggs, c * sizeof *a);
			if (!a)
				return NULL;
			g->aggs = a;
			g->cap_aggs = c;
		}
		i = g->naggs;
		if (fl_idmap_put(&g->aggmap, k, i) != 0)
			return NULL;
		g->naggs++;
		struct agg *a = &g->aggs[i];
		memset(a, 0, sizeof *a);
		a->mapkey = k;
		a->process = process;
		a->stack = f->stack;
		a->kind = f->kind;
		a->pend.first = a->cur.first = INT64_MAX;
		a->pend.last = a->cur.last = INT64_MIN;
	}
	g->last_aggk = k;
	g->last_agg = i;
	return &g->aggs[i];
}

static int op_faults(struct fl_ingest *g, uint32_t key, struct slot *s, const struct fl_op *op, char *err,
		     size_t errlen)
{
	const struct fl_wire_fault *f = fl_batch_body(op);
	uint32_t n = op->n, i = 0;
	int rc = SQLITE_OK;
	sqlite3_stmt *st = g->st[S_FAULTN];
	for (; n - i >= MULTI && rc == SQLITE_OK; i += MULTI) {
		for (int r = 0; r < MULTI; r++)
			bind_fault(st, r * FAULT_NCOLS, s->rowid, s, &f[i + r]);
		rc = run(g, st, err, errlen);
	}
	st = g->st[S_FAULT1];
	for (; i < n && rc == SQLITE_OK; i++) {
		bind_fault(st, 0, s->rowid, s, &f[i]);
		rc = run(g, st, err, errlen);
	}
	if (rc != SQLITE_OK)
		return rc;
	/* One connection writes, so the rows of one op have consecutive ids. */
	int64_t last = sqlite3_last_insert_rowid(g->db), first = last - n + 1;
	int64_t tmin = INT64_MAX, tmax = INT64_MIN;
	for (i = 0; i < n; i++) {
		int64_t t = real_ns(s, f[i].t_ns);
		tmin = t < tmin ? t : tmin;
		tmax = t > tmax ? t : tmax;
		struct agg *ag = agg_for(g, key, s->rowid, &f[i]);
		if (!ag)
			return sqlerr(g, SQLITE_NOMEM, err, errlen);
		struct aggv *a = &ag->cur;
		a->faults++;
		a->pages += f[i].pages;
		a->writes += f[i].flags & FL_WIRE_FAULT_WRITE;
		a->lat += f[i].latency_ns;
		a->lat_max = f[i].latency_ns > a->lat_max ? f[i].latency_ns : a->lat_max;
		a->first = t < a->first ? t : a->first;
		a->last = t > a->last ? t : a->last;
	}
	if (s->span_open && s->span_last + 1 == first) {
		s->span_last = last;
		s->span_tmin = tmin < s->span_tmin ? tmin : s->span_tmin;
		s->span_tmax = tmax > s->span_tmax ? tmax : s->span_tmax;
	} else {
		if (s->span_open) {
			/* Another process's rows came between: close this run. */
			sqlite3_stmt *sp = g->st[S_SPAN];
			sqlite3_bind_int64(sp, 1, s->rowid);
			sqlite3_bind_int64(sp, 2, s->span_first);
			sqlite3_bind_int64(sp, 3, s->span_last);
			sqlite3_bind_int64(sp, 4, s->span_tmin);
			sqlite3_bind_int64(sp, 5, s->span_tmax);
			sqlite3_bind_int64(sp, 6, s->span_last - s->span_first + 1);
			if ((rc = run(g, sp, err, errlen)) != SQLITE_OK)
				return rc;
		} else if (push_key(&g->span_keys, &g->nspan_keys, &g->cap_span_keys, key) != 0) {
			return sqlerr(g, SQLITE_NOMEM, err, errlen);
		}
		s->span_open = 1;
		s->span_first = first;
		s->span_last = last;
		s->span_tmin = tmin;
		s->span_tmax = tmax;
	}
	g->txn_faults += n;
	return SQLITE_OK;
}

/* Bind a sample-like row's first columns: process, time, then n counters.
 * The next column's number. */
static int bind_counters(sqlite3_stmt *st, const struct slot *s, uint64_t t_ns, const uint64_t *v, size_t n)
{
	sqlite3_bind_int64(st, 1, s->rowid);
	sqlite3_bind_int64(st, 2, real_ns(s, t_ns));
	int col = 3;
	for (size_t i = 0; i < n; i++)
		sqlite3_bind_int64(st, col++, (int64_t)v[i]);
	return col;
}

static int op_sample(struct fl_ingest *g, struct slot *s, const struct fl_op *op, char *err, size_t errlen)
{
	const struct fl_wire_sample *x = fl_batch_body(op);
	sqlite3_stmt *st = g->st[S_SAMPLE];
	const uint64_t v[] = {x->managed_pages, x->resident_pages, x->inactive_pages, x->compressed_pages,
			      x->same_filled_pages, x->compressed_bytes, x->store_bytes, x->budget_pages,
			      x->resident_peak_pages, x->faults[0], x->faults[1], x->faults[2], x->faults[3],
			      x->faults[4], x->faults[5], x->fault_ns_total, x->pages_evicted};
	int col = bind_counters(st, s, x->t_ns, v, sizeof v / sizeof v[0]);
	sqlite3_bind_text(st, col++, fl_pressure_name((enum fl_pressure)x->pressure), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, col, x->regions);
	return run(g, st, err, errlen);
}

static int op_spill(struct fl_ingest *g, struct slot *s, const struct fl_op *op, char *err, size_t errlen)
{
	const struct fl_wire_spill *x = fl_batch_body(op);
	const uint64_t v[] = {x->spilled_pages, x->spilled_bytes, x->file_bytes, x->writes,
			      x->write_errors, x->reads, x->read_errors};
	bind_counters(g->st[S_SPILL], s, x->t_ns, v, sizeof v / sizeof v[0]);
	return run(g, g->st[S_SPILL], err, errlen);
}

/* Each record is a sample's whole state: the newest replaces the row. */
static int op_allocs(struct fl_ingest *g, struct slot *s, const struct fl_op *op, char *err, size_t errlen)
{
	const uint8_t *items = fl_batch_body(op);
	sqlite3_stmt *st = g->st[S_ALLOC];
	for (uint32_t i = 0; i < op->n; i++) {
		struct fl_wire_alloc a;
		memcpy(&a, items + (size_t)i * sizeof a, sizeof a);
		int c = 1;
		sqlite3_bind_int64(st, c++, s->rowid);
		sqlite3_bind_int64(st, c++, a.id);
		sqlite3_bind_int64(st, c++, a.stack);
		sqlite3_bind_text(st, c++, a.id == 0 ? "unsampled" : a.kind == FL_WIRE_ALLOC_MMAP ? "mmap" : "malloc", -1,
				  SQLITE_STATIC);
		if (a.id == 0) {
			for (int k = 0; k < 5; k++)
				sqlite3_bind_null(st, c++);
		} else {
			sqlite3_bind_int64(st, c++, (int64_t)a.addr);
			sqlite3_bind_int64(st, c++, (int64_t)a.size);
			sqlite3_bind_int64(st, c++, (int64_t)a.weight);
			sqlite3_bind_int64(st, c++, real_ns(s, a.t_ns));
			if (a.free_ns)
				sqlite3_bind_int64(st, c++, real_ns(s, a.free_ns));
			else
				sqlite3_bind_null(st, c++);
		}
		sqlite3_bind_int64(st, c++, (int64_t)a.faults);
		sqlite3_bind_int64(st, c++, (int64_t)a.pages);
		sqlite3_bind_int64(st, c++, (int64_t)a.latency_ns);
		if (a.peak_ns) {
			sqlite3_bind_int64(st, c++, real_ns(s, a.peak_ns));
			sqlite3_bind_int64(st, c++, (int64_t)a.peak_resident);
			sqlite3_bind_int64(st, c++, (int64_t)a.peak_compressed);
		} else {
			for (int k = 0; k < 3; k++)
				sqlite3_bind_null(st, c++);
		}
		sqlite3_bind_int64(st, c++, a.dropped);
		int rc = run(g, st, err, errlen);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int op_drops(struct fl_ingest *g, struct slot *s, const struct fl_op *op, char *err, size_t errlen)
{
	const struct fl_wire_drops *x = fl_batch_body(op);
	sqlite3_stmt *st = g->st[S_DROPS_INSERT];
	sqlite3_bind_int64(st, 1, s->rowid);
	sqlite3_bind_int64(st, 2, real_ns(s, x->t_ns));
	sqlite3_bind_int64(st, 3, (int64_t)x->events);
	sqlite3_bind_int64(st, 4, (int64_t)x->stacks);
	sqlite3_bind_int64(st, 5, (int64_t)x->other);
	int rc = run(g, st, err, errlen);
	if (rc != SQLITE_OK)
		return rc;
	st = g->st[S_DROPS_UPDATE];
	sqlite3_bind_int64(st, 1, (int64_t)x->events);
	sqlite3_bind_int64(st, 2, (int64_t)x->stacks);
	sqlite3_bind_int64(st, 3, (int64_t)x->other);
	sqlite3_bind_int64(st, 4, s->rowid);
	return run(g, st, err, errlen);
}

static const char *how_name(uint32_t how)
{
	return how == FL_WIRE_END_SIGNALLED ? "signalled" : "exited";
}

static int op_goodbye(struct fl_ingest *g, struct slot *s, const struct fl_op *op, char *err, size_t errlen)
{
	const struct fl_wire_goodbye *x = fl_batch_body(op);
	sqlite3_stmt *st = g->st[S_GOODBYE];
	sqlite3_bind_text(st, 1, how_name(x->how), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->status);
	sqlite3_bind_int64(st, 3, real_ns(s, x->t_ns));
	sqlite3_bind_int64(st, 4, s->rowid);
	return run(g, st, err, errlen);
}

static int op_vanish(struct fl_ingest *g, struct slot *s, const struct fl_op *op, char *err, size_t errlen)
{
	const struct fl_op_time *x = fl_batch_body(op);
	sqlite3_stmt *st = g->st[S_VANISH];
	sqlite3_bind_int64(st, 1, (int64_t)x->real_ns);
	sqlite3_bind_int64(st, 2, s->rowid);
	return run(g, st, err, errlen);
}

static int op_exit(struct fl_ingest *g, const struct fl_op *op, char *err, size_t errlen)
{
	const struct fl_op_exit *x = fl_batch_body(op);
	int rc;
	struct slot *s = row_for(g, op->proc, &rc, err, errlen);
	if (rc != SQLITE_OK)
		return rc;
	/* Not GOODBYE's answer: the row must still be running or vanished. */
	sqlite3_stmt *st = g->st[s ? S_EXIT_ROW : S_EXIT_PID];
	sqlite3_bind_text(st, 1, how_name(x->x.how), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->x.status);
	sqlite3_bind_int64(st, 3, (int64_t)x->real_ns);
	sqlite3_bind_int64(st, 4, s ? s->rowid : x->x.pid);
	return run(g, st, err, errlen);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s[0])
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static int op_symbols(struct fl_ingest *g, const struct fl_op *op, char *err, size_t errlen)
{
	const struct fl_op_symbols *x = fl_batch_body(op);
	const struct fl_sym_frame *fr = (const struct fl_sym_frame *)(x + 1);
	sqlite3_stmt *st = g->st[S_SYM_UPDATE];
	if (x->module) {
		sqlite3_bind_int64(st, 1, x->module);
		sqlite3_bind_int64(st, 2, (int64_t)x->offset);
	} else {
		sqlite3_bind_null(st, 1);
		sqlite3_bind_null(st, 2);
	}
	if (op->n) {
		bind_text_or_null(st, 3, fr[0].function);
		bind_text_or_null(st, 4, fr[0].file);
		if (fr[0].line)
			sqlite3_bind_int64(st, 5, fr[0].line);
		else
			sqlite3_bind_null(st, 5);
	} else {
		sqlite3_bind_null(st, 3);
		sqlite3_bind_null(st, 4);
		sqlite3_bind_null(st, 5);
	}
	sqlite3_bind_int64(st, 6, x->status);
	sqlite3_bind_int64(st, 7, x->frame);
	int rc = run(g, st, err, errlen);
	/* Filled already (two resolvers, or a retry): leave it. */
	if (rc != SQLITE_OK || sqlite3_changes(g->db) == 0)
		return rc;
	/* The frames a pc's inlined calls make: rows with the same depth,
	 * inline_depth 1.. outward, the containing function last. */
	st = g->st[S_SYM_INSERT];
	for (uint32_t i = 1; i < op->n && rc == SQLITE_OK; i++) {
		sqlite3_bind_int64(st, 1, x->stack);
		sqlite3_bind_int64(st, 2, x->depth);
		sqlite3_bind_int64(st, 3, i);
		sqlite3_bind_int64(st, 4, (int64_t)x->pc);
		if (x->module) {
			sqlite3_bind_int64(st, 5, x->module);
			sqlite3_bind_int64(st, 6, (int64_t)x->offset);
		} else {
			sqlite3_bind_null(st, 5);
			sqlite3_bind_null(st, 6);
		}
		bind_text_or_null(st, 7, fr[i].function);
		bind_text_or_null(st, 8, fr[i].file);
		if (fr[i].line)
			sqlite3_bind_int64(st, 9, fr[i].line);
		else
			sqlite3_bind_null(st, 9);
		sqlite3_bind_int64(st, 10, FL_SYM_OK);
		rc = run(g, st, err, errlen);
	}
	g->stats.symbolized++;
	return rc;
}

int fl_ingest_op(struct fl_ingest *g, const struct fl_op *op, char *err, size_t errlen)
{
	int rc;
	struct slot *s;
	switch (op->type) {
	case FL_OP_PROC:
		rc = op_proc(g, op, err, errlen);
		goto counted;
	case FL_OP_EXIT:
		rc = op_exit(g, op, err, errlen);
		goto counted;
	case FL_OP_SYMBOLS:
		rc = op_symbols(g, op, err, errlen);
		goto counted;
	}
	s = row_for(g, op->proc, &rc, err, errlen);
	if (!s) {
		if (rc == SQLITE_OK)
			fl_ingest_lost(g, op->type == FL_OP_FAULTS ? op->n : 0, op->type == FL_OP_FAULTS ? 0 : 1);
		return rc;
	}
	switch (op->type) {
	case FL_OP_FAULTS:
		return op_faults(g, op->proc, s, op, err, errlen);
	case FL_OP_MODULE:
		rc = op_module(g, s, op, err, errlen);
		break;
	case FL_OP_REGION:
		rc = op_region(g, s, op, err, errlen);
		break;
	case FL_OP_STACK:
		rc = op_stack(g, s, op, err, errlen);
		break;
	case FL_OP_SAMPLE:
		rc = op_sample(g, s, op, err, errlen);
		break;
	case FL_OP_DROPS:
		rc = op_drops(g, s, op, err, errlen);
		break;
	case FL_OP_SPILL:
		rc = op_spill(g, s, op, err, errlen);
		break;
	case FL_OP_ALLOCS:
		rc = op_allocs(g, s, op, err, errlen);
		break;
	case FL_OP_GOODBYE:
		rc = op_goodbye(g, s, op, err, errlen);
		break;
	case FL_OP_VANISH:
		rc = op_vanish(g, s, op, err, errlen);
		break;
	default:
		fl_ingest_lost(g, 0, 1);
		return SQLITE_OK;
	}
counted:
	if (rc == SQLITE_OK)
		g->txn_records++;
	return rc;
}

int fl_ingest_note(struct fl_ingest *g, const struct fl_op *op)
{
	struct slot *s;
	switch (op->type) {
	case FL_OP_PROC:
		if (note_proc(g, op, &s) != 0)
			fl_ingest_lost(g, 0, 1);
		return 0;
	case FL_OP_GOODBYE:
	case FL_OP_VANISH:
	case FL_OP_EXIT:
		return 1;
	case FL_OP_FAULTS:
		fl_ingest_lost(g, op->n, 0);
		return 0;
	default:
		fl_ingest_lost(g, 0, 1);
		return 0;
	}
}

/* Primary-key order: upserts walk the stack_faults b-tree front to back. */
static int agg_cmp(const void *a, const void *b)
{
	const struct agg *x = a, *y = b;
	if (x->process != y->process)
		return x->process < y->process ? -1 : 1;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	return (x->kind > y->kind) - (x->kind < y->kind);
}

static void aggv_merge(struct aggv *into, const struct aggv *v)
{
	into->faults += v->faults;
	into->pages += v->pages;
	into->writes += v->writes;
	into->lat += v->lat;
	into->lat_max = v->lat_max > into->lat_max ? v->lat_max : into->lat_max;
	into->first = v->first < into->first ? v->first : into->first;
	into->last = v->last > into->last ? v->last : into->last;
}

static void aggs_reset(struct fl_ingest *g)
{
	g->naggs = 0;
	fl_idmap_clear(&g->aggmap);
	g->last_aggk = UINT64_MAX;
}

int fl_ingest_finish(struct fl_ingest *g, int force, uint64_t now_ns, char *err, size_t errlen)
{
	int rc = SQLITE_OK;
	sqlite3_stmt *st = g->st[S_SPAN];
	for (size_t i = 0; i < g->nspan_keys && rc == SQLITE_OK; i++) {
		struct slot *s = &g->slots[g->span_keys[i]];
		if (!s->span_open)
			continue;
		sqlite3_bind_int64(st, 1, s->rowid);
		sqlite3_bind_int64(st, 2, s->span_first);
		sqlite3_bind_int64(st, 3, s->span_last);
		sqlite3_bind_int64(st, 4, s->span_tmin);
		sqlite3_bind_int64(st, 5, s->span_tmax);
		sqlite3_bind_int64(st, 6, s->span_last - s->span_first + 1);
		rc = run(g, st, err, errlen);
		s->span_open = 0;
	}
	g->nspan_keys = 0;
	if (rc != SQLITE_OK || g->naggs == 0)
		return rc;
	if (!force && now_ns - g->agg_written_ns < AGG_EVERY_NS && g->naggs < AGG_MAX_KEYS)
		return SQLITE_OK;
	/* Primary-key order: the upserts walk the b-tree front to back. */
	qsort(g->aggs, g->naggs, sizeof *g->aggs, agg_cmp);
	fl_idmap_clear(&g->aggmap);
	g->last_aggk = UINT64_MAX;
	st = g->st[S_AGG];
	for (size_t i = 0; i < g->naggs && rc == SQLITE_OK; i++) {
		const struct agg *ag = &g->aggs[i];
		struct aggv a = ag->pend;
		aggv_merge(&a, &ag->cur);
		if (!a.faults)
			continue;
		sqlite3_bind_int64(st, 1, ag->process);
		sqlite3_bind_int64(st, 2, ag->stack);
		sqlite3_bind_int64(st, 3, ag->kind);
		sqlite3_bind_int64(st, 4, (int64_t)a.faults);
		sqlite3_bind_int64(st, 5, (int64_t)a.pages);
		sqlite3_bind_int64(st, 6, (int64_t)a.writes);
		sqlite3_bind_int64(st, 7, (int64_t)a.lat);
		sqlite3_bind_int64(st, 8, (int64_t)a.lat_max);
		sqlite3_bind_int64(st, 9, a.first);
		sqlite3_bind_int64(st, 10, a.last);
		rc = run(g, st, err, errlen);
	}
	g->agg_in_txn = 1;
	g->agg_written_ns = now_ns;
	return rc;
}

static void aggv_zero(struct aggv *v)
{
	memset(v, 0, sizeof *v);
	v->first = INT64_MAX;
	v->last = INT64_MIN;
}

static void end_txn(struct fl_ingest *g)
{
	for (size_t i = 0; i < g->nspan_keys; i++)
		g->slots[g->span_keys[i]].span_open = 0;
	g->nspan_keys = 0;
	g->ntxn_keys = 0;
	g->txn_faults = g->txn_records = 0;
	g->txn_stacks = 0;
	g->agg_in_txn = 0;
}

void fl_ingest_committed(struct fl_ingest *g)
{
	/* Rows that exist for good: their HELLO copies are no longer needed. */
	for (size_t i = 0; i < g->ntxn_keys; i++) {
		struct slot *s = &g->slots[g->txn_keys[i]];
		s->txn_new = 0;
		free(s->hello);
		s->hello = NULL;
	}
	if (g->agg_in_txn) {
		aggs_reset(g); /* all of it is in stack_faults now */
	} else {
		for (size_t i = 0; i < g->naggs; i++) {
			aggv_merge(&g->aggs[i].pend, &g->aggs[i].cur);
			aggv_zero(&g->aggs[i].cur);
		}
	}
	g->stats.faults += g->txn_faults;
	end_txn(g);
}

void fl_ingest_rolled_back(struct fl_ingest *g)
{
	/* Rows made in the transaction are gone; the HELLO copies make them again. */
	for (size_t i = 0; i < g->ntxn_keys; i++) {
		struct slot *s = &g->slots[g->txn_keys[i]];
		if (s->txn_new) {
			s->rowid = 0;
			s->txn_new = 0;
		}
	}
	/* The transaction's totals go with its rows; the committed ones wait.
	 * Their map is rebuilt: a write of the totals sorted them. */
	size_t n = 0;
	fl_idmap_clear(&g->aggmap);
	g->last_aggk = UINT64_MAX;
	for (size_t i = 0; i < g->naggs; i++) {
		struct agg *a = &g->aggs[i];
		aggv_zero(&a->cur);
		if (!a->pend.faults)
			continue;
		g->aggs[n] = *a;
		if (fl_idmap_put(&g->aggmap, a->mapkey, n) != 0)
			break; /* out of memory: these totals are lost */
		n++;
	}
	g->naggs = n;
	fl_ingest_lost(g, g->txn_faults, g->txn_records);
	end_txn(g);
}

uint64_t fl_ingest_txn_faults(const struct fl_ingest *g)
{
	return g->txn_faults;
}

uint64_t fl_ingest_txn_records(const struct fl_ingest *g)
{
	return g->txn_records;
}

int fl_ingest_txn_stacks(const struct fl_ingest *g)
{
	return g->txn_stacks;
}

void fl_ingest_lost(struct fl_ingest *g, uint64_t faults, uint64_t records)
{
	g->stats.lost_faults += faults;
	g->stats.lost_records += records;
}

void fl_ingest_stats(const struct fl_ingest *g, struct fl_ingest_stats *out)
{
	*out = g->stats;
}
