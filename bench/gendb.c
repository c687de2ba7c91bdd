/*
 * gendb: writes a large fault log for the post-mortem benchmarks
 * (bench/report.py): the daemon's own schema (fl_db_open, so the tables,
 * indexes and views are exactly faultlined's), filled the way faultlined
 * fills it, with everything consistent: fault ids consecutive within a
 * batch of one process and each batch one fault_spans row, stack_faults
 * the exact totals of faults, regions alive at the time of every fault
 * that names them, samples every 100 ms.
 *
 * What it holds: four processes over a ten-minute run (a parent, two
 * forked workers with copy-on-write faults early on, an unrelated
 * server), 2000 stacks each of 6-28 frames sharing their outer frames as
 * real call trees do, about a tenth of them with inlined calls, a few
 * unsymbolized; about 300 regions each (jemalloc extents and program
 * mappings, some unmapped during the run); faults of every kind, most of
 * them on a few hot stacks (a Zipf law), first touches early and
 * refaults later.  The same seed gives the same database.
 *
 *   gendb PATH [--faults N] [--seed S]      (N default 10000000)
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"

#define NPROC 4
#define NSTACKS 2000
#define NREGIONS 300
#define NKINDS 6
#define T0 1700000000000000000ll
#define SEC 1000000000ll

static uint64_t seed = 42;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unif(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int64_t between(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* A latency around med ns, with a long tail (log-normal-ish). */
static int64_t latency(double med)
{
	double u1 = unif() + 1e-12, u2 = unif();
	double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
	double v = med * exp(0.5 * z);
	return v < 300 ? 300 : v > 4e9 ? 4000000000ll : (int64_t)v;
}

struct proc {
	int64_t id, pid, ppid, parent_id;
	int64_t start, end;
	const char *exe, *argv, *how, *engine;
	int64_t exit_status; /* -1: NULL */
	int64_t budget;
	double share; /* of all faults */
	int64_t faults;
	int64_t region_start[NREGIONS], region_len[NREGIONS], region_created[NREGIONS], region_destroyed[NREGIONS];
	int region_prot_change[NREGIONS];
	double zipf_cdf[NSTACKS + 1];
	int64_t kind_total[NKINDS];
};

static struct proc P[NPROC] = {
	{1, 31000, 30990, 0, T0, T0 + 600 * SEC, "/usr/bin/python3.11", "[\"python3\",\"train.py\",\"--epochs\",\"40\"]",
	 "exited", "uffd", 0, 2ll << 30, 0.60, 0, {0}, {0}, {0}, {0}, {0}, {0}, {0}},
	{2, 31010, 31000, 1, T0 + 60 * SEC, T0 + 500 * SEC, "/usr/bin/python3.11",
	 "[\"python3\",\"train.py\",\"--epochs\",\"40\"]", "exited", "uffd", 0, 1ll << 30, 0.15, 0, {0}, {0}, {0}, {0}, {0}, {0}, {0}},
	{3, 31011, 31000, 1, T0 + 61 * SEC, T0 + 480 * SEC, "/usr/bin/python3.11",
	 "[\"python3\",\"train.py\",\"--epochs\",\"40\"]", "signalled", "uffd", 9, 1ll << 30, 0.15, 0, {0}, {0}, {0}, {0}, {0}, {0}, {0}},
	{4, 42000, 1, 0, T0 + 5 * SEC, T0 + 590 * SEC, "/usr/sbin/kvstore", "[\"kvstore\",\"--port\",\"7000\"]", "vanished",
	 "signal", -1, 512ll << 20, 0.10, 0, {0}, {0}, {0}, {0}, {0}, {0}, {0}},
};

/* Function names: the outer frames every stack shares, then a pool the call trees draw from. */
static const char *outer[] = {"_start", "__libc_start_main_impl", "__libc_start_call_main", "main"};
static const char *verbs[] = {"load", "parse", "build", "scan", "merge", "copy", "hash", "encode", "decode",
			      "alloc", "grow", "fill", "sort", "index", "flush", "compact", "resize", "update",
			      "insert", "lookup", "visit", "emit", "read", "write"};
static const char *nouns[] = {"table", "buffer", "tensor", "batch", "record", "page", "node", "tree", "chunk",
			      "arena", "slab", "block", "entry", "string", "list", "dict", "frame", "column"};
static const char *files[] = {"src/model.c", "src/data.c", "src/tensor.c", "src/io.c", "src/alloc.c",
			      "Objects/dictobject.c", "Objects/listobject.c", "Objects/obmalloc.c", "Python/ceval.c",
			      "src/store/table.c", "src/store/index.c", "src/net/conn.c"};

struct agg {
	int64_t faults, pages, writes, lat, max, first, last;
};

static struct agg AGG[NPROC][NSTACKS + 1][NKINDS];

static int check(int rc, sqlite3 *db, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "gendb: %s: %s\n", what, sqlite3_errmsg(db));
		exit(1);
	}
	return rc;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	check(sqlite3_prepare_v2(db, sql, -1, &st, NULL), db, sql);
	return st;
}

static void step(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	check(sqlite3_step(st), db, what);
	sqlite3_reset(st);
}

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "gendb: %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static void processes(sqlite3 *db)
{
	sqlite3_stmt *st = prep(db,
				"INSERT INTO processes(id, pid, ppid, parent_id, exe, argv, engine, compressor,"
				" compressor_level, budget_bytes, page_size, stacks_every, start_ns, start_mono_ns, end_ns,"
				" exit_status, how, dropped_events, dropped_stacks, dropped_other)"
				" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'lz4', 1, ?8, 4096, 1, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 0)");
	sqlite3_stmt *mod = prep(db, "INSERT INTO modules(process, path, build_id, start, len, bias, loaded_ns)"
				     " VALUES(?1, ?2, ?3, ?4, ?5, ?4, ?6)");
	for (int i = 0; i < NPROC; i++) {
		struct proc *p = &P[i];
		sqlite3_bind_int64(st, 1, p->id);
		sqlite3_bind_int64(st, 2, p->pid);
		sqlite3_bind_int64(st, 3, p->ppid);
		if (p->parent_id)
			sqlite3_bind_int64(st, 4, p->parent_id);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_text(st, 5, p->exe, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, p->argv, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, p->engine, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 8, p->budget);
		sqlite3_bind_int64(st, 9, p->start);
		sqlite3_bind_int64(st, 10, 1000 * SEC + (p->start - T0));
		sqlite3_bind_int64(st, 11, p->end);
		if (p->exit_status >= 0)
			sqlite3_bind_int64(st, 12, p->exit_status);
		else
			sqlite3_bind_null(st, 12);
		sqlite3_bind_text(st, 13, p->how, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 14, i == 0 ? 1200 : 0);
		sqlite3_bind_int64(st, 15, i == 0 ? 5400 : 300);
		step(db, st, "processes");
		static const char *mods[] = {NULL, "/usr/lib/x86_64-linux-gnu/libc.so.6",
					     "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
					     "/usr/local/lib/libfaultline.so"};
		for (int m = 0; m < 4; m++) {
			char bid[41];
			snprintf(bid, sizeof bid, "%016llx%016llx", (unsigned long long)rnd(), (unsigned long long)rnd());
			sqlite3_bind_int64(mod, 1, p->id);
			sqlite3_bind_text(mod, 2, mods[m] ? mods[m] : p->exe, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(mod, 3, bid, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(mod, 4, m == 0 ? 0x555555554000ll : 0x7ffff7000000ll - m * 0x4000000ll);
			sqlite3_bind_int64(mod, 5, 0x400000);
			sqlite3_bind_int64(mod, 6, p->start);
			step(db, mod, "modules");
		}
	}
	sqlite3_finalize(st);
	sqlite3_finalize(mod);
}

static void regions(sqlite3 *db)
{
	sqlite3_stmt *st = prep(db, "INSERT INTO regions(process, region_id, start, len, prot, kind, created_ns, destroyed_ns)"
				    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	for (int i = 0; i < NPROC; i++) {
		struct proc *p = &P[i];
		int64_t addr = 0x7f0000000000ll;
		int64_t dur = p->end - p->start;
		for (int r = 0; r < NREGIONS; r++) {
			int jem = r % 3 != 0;
			int64_t len = jem ? (2ll << 20) << between(0, 5) : (16ll << 20) << between(0, 4);
			p->region_start[r] = addr;
			p->region_len[r] = len;
			addr += len + (2ll << 20);
			/* A third exist from the start; the rest appear during the run. */
			p->region_created[r] = p->start + (r % 3 == 0 ? between(0, SEC) : between(0, dur * 8 / 10));
			p->region_destroyed[r] = r % 4 == 1 ? p->region_created[r] + between(dur / 20, dur / 4) : 0;
			if (p->region_destroyed[r] > p->end)
				p->region_destroyed[r] = 0;
			p->region_prot_change[r] = r % 50 == 7;
			int64_t until = p->region_destroyed[r];
			int64_t change = p->region_prot_change[r] ? p->region_created[r] + dur / 50 : 0;
			sqlite3_bind_int64(st, 1, p->id);
			sqlite3_bind_int64(st, 2, (1ll << 32) + r);
			sqlite3_bind_int64(st, 3, addr - len - (2ll << 20));
			sqlite3_bind_int64(st, 4, len);
			sqlite3_bind_int64(st, 5, 3);
			sqlite3_bind_text(st, 6, jem ? "jemalloc" : "program mmap", -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 7, p->region_created[r]);
			int64_t first_end = change && (!until || change < until) ? change : until;
			if (first_end)
				sqlite3_bind_int64(st, 8, first_end);
			else
				sqlite3_bind_null(st, 8);
			step(db, st, "regions");
			if (change && (!until || change < until)) {
				/* mprotect: the old shape ends, a read-only one starts. */
				sqlite3_bind_int64(st, 5, 1);
				sqlite3_bind_int64(st, 7, change);
				if (until)
					sqlite3_bind_int64(st, 8, until);
				else
					sqlite3_bind_null(st, 8);
				step(db, st, "regions");
			}
		}
	}
	sqlite3_finalize(st);
}

/* Stacks: call trees under main; frames named from the pools. */
static void stacks(sqlite3 *db)
{
	sqlite3_stmt *st = prep(db, "INSERT INTO stacks(id, process, stack_id, nframes, defined_ns) VALUES(?1, ?2, ?3, ?4, ?5)");
	sqlite3_stmt *fr = prep(db, "INSERT INTO frames(stack, depth, inline_depth, pc, module, offset, function, file,"
				    " line, symbolized) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
	int64_t row = 0;
	for (int i = 0; i < NPROC; i++) {
		struct proc *p = &P[i];
		int64_t exe_module = (int64_t)i * 4 + 1;
		for (int s = 1; s <= NSTACKS; s++) {
			int depth = (int)between(6, 28);
			/* Path from main outward-in: level k's function depends on the
			 * path so far, so stacks share their outer frames. */
			int names[32];
			uint64_t h = (uint64_t)(s % 17) * 0x9e3779b97f4a7c15ull;
			int inner = depth - 4;
			for (int k = 0; k < inner; k++) {
				h = h * 6364136223846793005ull + (uint64_t)(k < 3 ? s % (k + 3) : s * 31 + k);
				names[k] = (int)((h >> 33) % (sizeof verbs / sizeof verbs[0] * (sizeof nouns / sizeof nouns[0])));
			}
			sqlite3_bind_int64(st, 1, ++row);
			sqlite3_bind_int64(st, 2, p->id);
			sqlite3_bind_int64(st, 3, s);
			sqlite3_bind_int64(st, 4, depth);
			sqlite3_bind_int64(st, 5, p->start);
			step(db, st, "stacks");
			int unnamed = s % 97 == 0;
			for (int d = 0; d < depth; d++) {
				/* depth 0 innermost: the last of the inner path. */
				char fn[64];
				const char *file = NULL;
				int line = 0;
				int64_t module = exe_module;
				if (d >= depth - 4) {
					snprintf(fn, sizeof fn, "%s", outer[depth - 1 - d]);
					module = d >= depth - 3 ? exe_module + 1 : exe_module;
				} else {
					int n = names[inner - 1 - d];
					int nv = (int)(sizeof verbs / sizeof verbs[0]);
					snprintf(fn, sizeof fn, "%s_%s", verbs[n % nv], nouns[n / nv]);
					file = files[n % (int)(sizeof files / sizeof files[0])];
					line = 20 + n % 900;
				}
				int64_t pc = 0x555555554000ll + 0x1000 + (int64_t)(rnd() % 0x3f0000);
				int inl = d < depth - 4 && rnd() % 10 == 0; /* an inlined call here too */
				for (int x = 0; x <= inl; x++) {
					sqlite3_bind_int64(fr, 1, row);
					sqlite3_bind_int64(fr, 2, d);
					sqlite3_bind_int64(fr, 3, x);
					sqlite3_bind_int64(fr, 4, pc);
					sqlite3_bind_int64(fr, 5, module);
					sqlite3_bind_int64(fr, 6, pc - 0x555555554000ll);
					if (unnamed && d == 0) {
						sqlite3_bind_null(fr, 7);
						sqlite3_bind_null(fr, 8);
						sqlite3_bind_null(fr, 9);
						sqlite3_bind_int64(fr, 10, 3);
					} else {
						char ifn[80];
						snprintf(ifn, sizeof ifn, x == 0 && inl ? "%s_inline" : "%s", fn);
						sqlite3_bind_text(fr, 7, ifn, -1, SQLITE_TRANSIENT);
						if (file) {
							sqlite3_bind_text(fr, 8, file, -1, SQLITE_STATIC);
							sqlite3_bind_int64(fr, 9, line + x * 7);
						} else {
							sqlite3_bind_null(fr, 8);
							sqlite3_bind_null(fr, 9);
						}
						sqlite3_bind_int64(fr, 10, 1);
					}
					step(db, fr, "frames");
				}
			}
		}
		/* Zipf (s = 1.1): a few hot stacks take most faults. */
		double sum = 0;
		for (int s = 1; s <= NSTACKS; s++)
			sum += 1.0 / pow(s, 1.1);
		double acc = 0;
		for (int s = 1; s <= NSTACKS; s++) {
			acc += 1.0 / pow(s, 1.1) / sum;
			p->zipf_cdf[s] = acc;
		}
	}
	sqlite3_finalize(st);
	sqlite3_finalize(fr);
}

static int pick_stack(const struct proc *p)
{
	if (rnd() % 100 == 0)
		return 0; /* no stack taken */
	double u = unif();
	int lo = 1, hi = NSTACKS;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (p->zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The kind of a fault at fraction f of the process's life. */
static int pick_kind(int proc, double f)
{
	double u = unif();
	if (proc == 1 || proc == 2) { /* forked workers: copy-on-write at first */
		double wp = f < 0.1 ? 0.5 : 0.02;
		if (u < wp)
			return 5;
		u = (u - wp) / (1 - wp);
	}
	double first = f < 0.2 ? 0.85 : 0.30;
	if (u < first)
		return 0;
	if (u < first + (1 - first) * 0.30)
		return 1;
	if (u < first + (1 - first) * 0.88)
		return 2;
	if (u < first + (1 - first) * 0.98)
		return 3;
	return 4;
}

static void faults(sqlite3 *db, int64_t total)
{
	sqlite3_stmt *ins = prep(db, "INSERT INTO faults(id, process, t_ns, tid, addr, region, kind, pages, latency_ns,"
				     " write, stack) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
	sqlite3_stmt *span = prep(db, "INSERT INTO fault_spans(process, first_id, last_id, t_min, t_max, faults)"
				      " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
	int64_t id = 0, batches = 0;
	int64_t tend = T0 + 600 * SEC;
	/* Batches in time order, as the daemon commits them. */
	int64_t nbatch = total / 4096 + 1;
	double t_start = (double)clock() / CLOCKS_PER_SEC;
	exec(db, "BEGIN");
	while (id < total) {
		/* The clock follows the faults written, so the run ends with them. */
		int64_t t = T0 + (int64_t)((double)(tend - T0 - SEC) * (double)id / (double)total);
		/* A process alive now, by share. */
		double w = 0, ws[NPROC];
		for (int i = 0; i < NPROC; i++) {
			ws[i] = t >= P[i].start && t < P[i].end ? P[i].share : 0;
			w += ws[i];
		}
		batches++;
		if (w == 0) /* never: the first process lives the whole run */
			ws[0] = w = 1;
		double u = unif() * w;
		int pi = 0;
		while (pi < NPROC - 1 && u >= ws[pi])
			u -= ws[pi++];
		struct proc *p = &P[pi];
		double f = (double)(t - p->start) / (double)(p->end - p->start);
		int64_t n = between(1024, 7168);
		if (id + n > total)
			n = total - id;
		/* The regions alive now. */
		int alive[NREGIONS], na = 0;
		for (int r = 0; r < NREGIONS; r++)
			if (p->region_created[r] <= t && (!p->region_destroyed[r] || p->region_destroyed[r] > t + SEC))
				alive[na++] = r;
		int64_t step_ns = (tend - T0) / nbatch / (n + 1);
		int64_t first = id + 1, tmin = 0, tmax = 0;
		for (int64_t k = 0; k < n; k++) {
			int64_t ft = t + k * step_ns;
			int kind = pick_kind(pi, f);
			int stack = pick_stack(p);
			int r = na ? alive[rnd() % (uint64_t)na] : 0;
			int64_t addr = p->region_start[r] + (int64_t)(rnd() % (uint64_t)(p->region_len[r] / 4096)) * 4096;
			static const double med[NKINDS] = {4000, 1500, 9000, 2500, 120000, 1200};
			int64_t lat = latency(med[kind]);
			int64_t pages = kind == 0 ? (rnd() % 8 == 0 ? between(2, 16) : 1)
					: kind == 2 ? (rnd() % 4 == 0 ? between(2, 8) : 1)
						    : 1;
			int write = kind == 5 ? 1 : kind == 0 ? rnd() % 5 != 0 : rnd() % 5 == 0;
			sqlite3_bind_int64(ins, 1, ++id);
			sqlite3_bind_int64(ins, 2, p->id);
			sqlite3_bind_int64(ins, 3, ft);
			sqlite3_bind_int64(ins, 4, p->pid + (int64_t)(rnd() % 4));
			sqlite3_bind_int64(ins, 5, addr);
			sqlite3_bind_int64(ins, 6, (1ll << 32) + r);
			sqlite3_bind_int64(ins, 7, kind);
			sqlite3_bind_int64(ins, 8, pages);
			sqlite3_bind_int64(ins, 9, lat);
			sqlite3_bind_int64(ins, 10, write);
			sqlite3_bind_int64(ins, 11, stack);
			step(db, ins, "faults");
			struct agg *a = &AGG[pi][stack][kind];
			if (!a->faults++ || ft < a->first)
				a->first = ft;
			if (ft > a->last)
				a->last = ft;
			a->pages += pages;
			a->writes += write;
			a->lat += lat;
			if (lat > a->max)
				a->max = lat;
			p->kind_total[kind]++;
			p->faults++;
			if (k == 0)
				tmin = ft;
			tmax = ft;
		}
		sqlite3_bind_int64(span, 1, p->id);
		sqlite3_bind_int64(span, 2, first);
		sqlite3_bind_int64(span, 3, id);
		sqlite3_bind_int64(span, 4, tmin);
		sqlite3_bind_int64(span, 5, tmax);
		sqlite3_bind_int64(span, 6, n);
		step(db, span, "fault_spans");
		if (batches % 128 == 0) {
			exec(db, "COMMIT");
			exec(db, "BEGIN");
			fprintf(stderr, "\rgendb: %lld of %lld faults (%.0f s)", (long long)id, (long long)total,
				(double)clock() / CLOCKS_PER_SEC - t_start);
		}
	}
	exec(db, "COMMIT");
	fprintf(stderr, "\rgendb: %lld faults in %lld batches%20s\n", (long long)id, (long long)batches, "");
	sqlite3_finalize(ins);
	sqlite3_finalize(span);
}

static void totals(sqlite3 *db)
{
	sqlite3_stmt *st = prep(db, "INSERT INTO stack_faults VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
	exec(db, "BEGIN");
	for (int i = 0; i < NPROC; i++)
		for (int s = 0; s <= NSTACKS; s++)
			for (int k = 0; k < NKINDS; k++) {
				struct agg *a = &AGG[i][s][k];
				if (!a->faults)
					continue;
				int64_t v[] = {P[i].id, s, k, a->faults, a->pages, a->writes, a->lat, a->max, a->first, a->last};
				for (int c = 0; c < 10; c++)
					sqlite3_bind_int64(st, c + 1, v[c]);
				step(db, st, "stack_faults");
			}
	exec(db, "COMMIT");
	sqlite3_finalize(st);
}

/* Samples every 100 ms: resident climbs to the budget, then the store fills. */
static void samples(sqlite3 *db)
{
	sqlite3_stmt *st = prep(db,
				"INSERT INTO samples(process, t_ns, managed_pages, resident_pages, inactive_pages,"
				" compressed_pages, same_filled_pages, compressed_bytes, store_bytes, budget_pages,"
				" resident_peak_pages, faults_first_touch, faults_soft, faults_decompress, faults_same_filled,"
				" faults_spill, faults_wp, fault_ns_total, pages_evicted, pressure, regions)"
				" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)");
	sqlite3_stmt *drop = prep(db, "INSERT INTO drops(process, t_ns, events, stacks, other) VALUES(?1, ?2, ?3, ?4, 0)");
	exec(db, "BEGIN");
	for (int i = 0; i < NPROC; i++) {
		struct proc *p = &P[i];
		int64_t budget = p->budget / 4096, peak = 0;
		for (int64_t t = p->start + SEC / 10; t <= p->end; t += SEC / 10) {
			double f = (double)(t - p->start) / (double)(p->end - p->start);
			int64_t want = (int64_t)((double)budget * 1.8 * (f < 0.5 ? f * 2 : 1.0) * (0.9 + 0.1 * sin(f * 40)));
			int64_t res = want < budget ? want : budget - between(0, budget / 50);
			int64_t inact = res / 20;
			if (res + inact > budget)
				res = budget - inact;
			int64_t comp = want > budget ? (want - budget) * 9 / 10 : 0, same = comp / 9;
			if (res + inact > peak)
				peak = res + inact;
			double head = 1.0 - (double)(res + inact) / (double)budget;
			const char *pr = head < 0.02 ? "CRITICAL" : head < 0.10 ? "WARN" : "NORMAL";
			int64_t v[] = {p->id, t, budget * 2, res, inact, comp, same, comp * 1100, comp * 1100 + (4 << 20),
				       budget, peak};
			for (int c = 0; c < 11; c++)
				sqlite3_bind_int64(st, c + 1, v[c]);
			for (int k = 0; k < NKINDS; k++)
				sqlite3_bind_int64(st, 12 + k, (int64_t)((double)p->kind_total[k] * f));
			sqlite3_bind_int64(st, 18, (int64_t)((double)p->faults * f * 6000));
			sqlite3_bind_int64(st, 19, comp + same + (int64_t)((double)p->kind_total[1] * f));
			sqlite3_bind_text(st, 20, pr, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 21, NREGIONS / 2);
			step(db, st, "samples");
		}
		sqlite3_bind_int64(drop, 1, p->id);
		sqlite3_bind_int64(drop, 2, p->start + (p->end - p->start) / 2);
		sqlite3_bind_int64(drop, 3, i == 0 ? 1200 : 0);
		sqlite3_bind_int64(drop, 4, i == 0 ? 5400 : 300);
		step(db, drop, "drops");
	}
	exec(db, "COMMIT");
	sqlite3_finalize(st);
	sqlite3_finalize(drop);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int64_t total = 10000000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--faults") && i + 1 < argc)
			total = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			fprintf(stderr, "usage: gendb PATH [--faults N] [--seed S]\n");
			return 2;
		}
	}
	if (!path || total < 1) {
		fprintf(stderr, "usage: gendb PATH [--faults N] [--seed S]\n");
		return 2;
	}
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "gendb: %s exists; it writes a new database only\n", path);
		return 2;
	}
	char err[512];
	sqlite3 *db = fl_db_open(path, 0, err, sizeof err);
	if (!db) {
		fprintf(stderr, "gendb: %s: %s\n", path, err);
		return 1;
	}
	/* A generated file: no need to survive a power cut while it is written. */
	exec(db, "PRAGMA synchronous=OFF");
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	exec(db, "BEGIN");
	processes(db);
	regions(db);
	stacks(db);
	exec(db, "COMMIT");
	faults(db, total);
	totals(db);
	samples(db);
	exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(db);
	clock_gettime(CLOCK_MONOTONIC, &b);
	fprintf(stderr, "gendb: wrote %s (%lld faults, %d processes) in %.1f s\n", path, (long long)total, NPROC,
		(double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
