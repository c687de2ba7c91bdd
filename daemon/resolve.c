/*
 * The resolver thread (resolve.h).
 */
#include "resolve.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "db.h"
#include "dlog.h"
#include "idmap.h"
#include "symbolize.h"
#include "clock.h"

#define ROUND_STACKS 32    /* stacks named per round (and per writer batch) */
#define MAX_RESULTS 16     /* inlined calls kept per pc */
#define CACHE_BUCKETS 4096u
#define CACHE_MAX 65536u   /* entries before the cache starts over */
#define IDLE_WAIT_MS 2000  /* look again this often without a kick */
/* The writer is busy when it applies faults faster than this: the
 * resolver's results would compete with them for the one writer. */
#define BUSY_FAULTS_PER_S 200000u
#define BUSY_PAUSE_MS 250

struct centry {
	struct centry *next;
	uint64_t hash;
	char *module; /* build id hex, or path */
	uint64_t addr;
	int status, n;
	struct fl_sym_frame *frames;
};

struct fl_resolver {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int kicked, stop;
	int finishing;      /* shutting down: name what is left, until finish_by */
	uint64_t finish_by; /* CLOCK_MONOTONIC */
	long left;          /* stacks not reached when finishing ran out of time */
	char path[4096];
	struct fl_writer *w;
	sqlite3 *db;
	sqlite3_stmt *q_stacks, *q_frames, *q_module, *q_left;
	struct fl_symbolizer *sym;
	int64_t cursor;
	uint64_t gauge, gauge_ns; /* the writer's fault count when last looked at */
	int busy;
	struct centry *cache[CACHE_BUCKETS];
	size_t ncache;
	struct fl_idmap logged; /* modules whose error was logged */
};

static uint64_t hash_str(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void cache_clear(struct fl_resolver *r)
{
	for (unsigned b = 0; b < CACHE_BUCKETS; b++) {
		struct centry *e = r->cache[b];
		while (e) {
			struct centry *n = e->next;
			free(e->module);
			free(e->frames);
			free(e);
			e = n;
		}
		r->cache[b] = NULL;
	}
	r->ncache = 0;
}

static struct centry *cache_get(struct fl_resolver *r, const char *module, uint64_t addr, uint64_t h)
{
	for (struct centry *e = r->cache[h & (CACHE_BUCKETS - 1)]; e; e = e->next)
		if (e->hash == h && e->addr == addr && strcmp(e->module, module) == 0)
			return e;
	return NULL;
}

static void cache_put(struct fl_resolver *r, const char *module, uint64_t addr, uint64_t h, int status,
		      const struct fl_sym_frame *frames, int n)
{
	if (r->ncache >= CACHE_MAX)
		cache_clear(r);
	struct centry *e = calloc(1, sizeof *e);
	if (!e)
		return;
	e->module = strdup(module);
	e->frames = n ? malloc((size_t)n * sizeof *frames) : NULL;
	if (!e->module || (n && !e->frames)) {
		free(e->module);
		free(e->frames);
		free(e);
		return;
	}
	if (n)
		memcpy(e->frames, frames, (size_t)n * sizeof *frames);
	e->hash = h;
	e->addr = addr;
	e->status = status;
	e->n = n;
	unsigned b = h & (CACHE_BUCKETS - 1);
	e->next = r->cache[b];
	r->cache[b] = e;
	r->ncache++;
}

static int unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s);
	if (n % 2 || n / 2 > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return 0;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
	}
	return (int)(n / 2);
}

struct module {
	int64_t id;
	char path[4096];
	char build_id[2 * FL_WIRE_MAX_BUILD_ID + 1];
	uint64_t bias;
};

/*
 * The module of process that held pc when the stack was defined: among
 * those whose range holds pc, one loaded then and not yet unloaded, else
 * the newest.
 */
static int find_module(struct fl_resolver *r, int64_t process, uint64_t pc, int64_t when, struct module *m)
{
	sqlite3_stmt *q = r->q_module;
	sqlite3_bind_int64(q, 1, process);
	sqlite3_bind_int64(q, 2, (int64_t)pc);
	int found = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		uint64_t start = (uint64_t)sqlite3_column_int64(q, 1), len = (uint64_t)sqlite3_column_int64(q, 2);
		if (pc - start >= len)
			continue;
		int64_t loaded = sqlite3_column_int64(q, 5);
		int live = loaded <= when &&
			   (sqlite3_column_type(q, 6) == SQLITE_NULL || sqlite3_column_int64(q, 6) >= when);
		if (found && !live)
			continue;
		const unsigned char *path = sqlite3_column_text(q, 3), *bid = sqlite3_column_text(q, 4);
		m->id = sqlite3_column_int64(q, 0);
		m->bias = (uint64_t)sqlite3_column_int64(q, 7);
		snprintf(m->path, sizeof m->path, "%s", path ? (const char *)path : "");
		snprintf(m->build_id, sizeof m->build_id, "%s", bid ? (const char *)bid : "");
		found = 1;
		if (live)
			break;
	}
	sqlite3_reset(q);
	return found;
}

/* Resolve one frame row into an op in b. */
static void resolve_frame(struct fl_resolver *r, struct fl_batch *b, int64_t frame, int64_t stack, uint32_t depth,
			  uint64_t pc, int64_t process, int64_t when)
{
	struct module m;
	struct fl_sym_frame out[MAX_RESULTS];
	int status, n = 0;
	uint64_t offset = 0;
	int64_t module = 0;
	if (!find_module(r, process, pc, when, &m)) {
		status = FL_SYM_NO_MODULE;
	} else {
		module = m.id;
		offset = pc - m.bias;
		/* Return addresses point after the call: look up the call. */
		uint64_t addr = offset - (depth > 0 ? 1 : 0);
		const char *key = m.build_id[0] ? m.build_id : m.path;
		uint64_t h = hash_str(key, 1469598103934665603ull) ^ (addr * 0x9e3779b97f4a7c15ull);
		struct centry *e = cache_get(r, key, addr, h);
		if (e) {
			status = e->status;
			n = e->n;
			memcpy(out, e->frames, (size_t)n * sizeof out[0]);
		} else if (m.path[0] == '[' || m.path[0] == 0) {
			status = FL_SYM_UNKNOWN; /* [vdso] and the like: no file to read */
			cache_put(r, key, addr, h, status, NULL, 0);
		} else {
			uint8_t bid[FL_WIRE_MAX_BUILD_ID];
			int bidlen = unhex(m.build_id, bid, sizeof bid);
			char err[256] = "";
			n = fl_sym_resolve(r->sym, m.path, bid, (size_t)bidlen, addr, out, MAX_RESULTS, err, sizeof err);
			if (n < 0) {
				n = 0;
				status = FL_SYM_ERROR;
				uint64_t ph = hash_str(m.path, 7);
				if (!fl_idmap_get(&r->logged, ph ? ph : 1)) {
					fl_idmap_put(&r->logged, ph ? ph : 1, 1);
					DLOG_INFO("cannot symbolize frames in %s: %s", m.path, err);
				}
			} else {
				status = n ? FL_SYM_OK : FL_SYM_UNKNOWN;
			}
			cache_put(r, key, addr, h, status, out, n);
		}
	}
	struct fl_op_symbols *op = fl_batch_add(b, FL_OP_SYMBOLS, 0, (uint32_t)n,
						sizeof *op + (size_t)n * sizeof(struct fl_sym_frame));
	if (!op)
		return;
	op->frame = frame;
	op->stack = stack;
	op->module = module;
	op->pc = pc;
	op->offset = offset;
	op->depth = depth;
	op->status = status;
	memcpy(op + 1, out, (size_t)n * sizeof out[0]);
}

/* Stopped, or finishing past its deadline. */
static int should_quit(struct fl_resolver *r)
{
	pthread_mutex_lock(&r->mu);
	int quit = r->stop || (r->finishing && fl_mono_ns() >= r->finish_by);
	pthread_mutex_unlock(&r->mu);
	return quit;
}

/*
 * The next ROUND_STACKS stacks, every frame of each: a stack's results go
 * to the writer in one batch, applied in one transaction, so a reader
 * never sees a stack half named.  Returns how many stacks were looked at.
 */
static int round_once(struct fl_resolver *r)
{
	struct {
		int64_t id, process, when;
	} stacks[ROUND_STACKS];
	int ns = 0;
	sqlite3_stmt *q = r->q_stacks;
	sqlite3_bind_int64(q, 1, r->cursor);
	while (ns < ROUND_STACKS && sqlite3_step(q) == SQLITE_ROW) {
		stacks[ns].id = sqlite3_column_int64(q, 0);
		stacks[ns].process = sqlite3_column_int64(q, 1);
		stacks[ns].when = sqlite3_column_int64(q, 2);
		ns++;
	}
	sqlite3_reset(q);
	if (!ns)
		return 0;
	struct fl_batch *b = fl_batch_new(64 << 10);
	if (!b)
		return 0;
	int done = 0;
	for (; done < ns; done++) {
		if (should_quit(r))
			break;
		/* Collect first: the module lookups must not run inside this read. */
		struct {
			int64_t frame;
			uint64_t pc;
			uint32_t depth;
		} fr[FL_WIRE_MAX_FRAMES];
		int nf = 0;
		q = r->q_frames;
		sqlite3_bind_int64(q, 1, stacks[done].id);
		while (nf < (int)FL_WIRE_MAX_FRAMES && sqlite3_step(q) == SQLITE_ROW) {
			fr[nf].frame = sqlite3_column_int64(q, 0);
			fr[nf].depth = (uint32_t)sqlite3_column_int64(q, 1);
			fr[nf].pc = (uint64_t)sqlite3_column_int64(q, 2);
			nf++;
		}
		sqlite3_reset(q);
		for (int i = 0; i < nf; i++)
			resolve_frame(r, b, fr[i].frame, stacks[done].id, fr[i].depth, fr[i].pc, stacks[done].process,
				      stacks[done].when);
		r->cursor = stacks[done].id;
	}
	if (b->len)
		fl_writer_push(r->w, b);
	else
		fl_batch_free(b);
	return done;
}

/* Is the writer storing faults fast (measured over at least 50 ms)? */
static int writer_busy(struct fl_resolver *r)
{
	uint64_t now = fl_mono_ns(), n = fl_writer_faults(r->w);
	uint64_t dt = now - r->gauge_ns;
	if (dt < 50000000u)
		return r->busy;
	r->busy = (double)(n - r->gauge) * 1e9 / (double)dt > BUSY_FAULTS_PER_S;
	r->gauge = n;
	r->gauge_ns = now;
	return r->busy;
}

/* Sleep up to ms, or until stopped, finishing (or kicked, when kick). */
static void nap(struct fl_resolver *r, long ms, int kick)
{
	struct timespec ts = fl_mono_deadline(ms);
	pthread_mutex_lock(&r->mu);
	if (!r->stop && !r->finishing && !(kick && r->kicked))
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
	pthread_mutex_unlock(&r->mu);
}

static void *resolve_main(void *arg)
{
	struct fl_resolver *r = arg;
	/* Only time nobody else wants: ingest must not wait for DWARF. */
	struct sched_param sp = {0};
	sched_setscheduler(0, SCHED_IDLE, &sp);
	for (;;) {
		nap(r, IDLE_WAIT_MS, 1);
		pthread_mutex_lock(&r->mu);
		r->kicked = 0;
		int stop = r->stop, finishing = r->finishing;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			break;
		if (finishing) {
			/* Nothing else runs now; ask for a normal share (may be refused). */
			sched_setscheduler(0, SCHED_OTHER, &sp);
		}
		/* Round after round until no stack is left, each only while the
		 * writer is not busy with faults: ingest first. */
		int more = 1;
		while (more && !should_quit(r)) {
			while (!finishing && !should_quit(r) && writer_busy(r)) {
				nap(r, BUSY_PAUSE_MS, 0);
				pthread_mutex_lock(&r->mu);
				finishing = r->finishing;
				pthread_mutex_unlock(&r->mu);
			}
			if (!should_quit(r))
				more = round_once(r) == ROUND_STACKS;
		}
		if (finishing) {
			if (more) {
				/* Out of time: count what is left for the log. */
				sqlite3_stmt *q = r->q_left;
				sqlite3_bind_int64(q, 1, r->cursor);
				r->left = sqlite3_step(q) == SQLITE_ROW ? (long)sqlite3_column_int64(q, 0) : -1;
				sqlite3_reset(q);
			}
			break;
		}
	}
	return NULL;
}

struct fl_resolver *fl_resolve_start(const char *path, struct fl_writer *w, char *err, size_t errlen)
{
	struct fl_resolver *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(r->path, sizeof r->path, "%s", path);
	r->w = w;
	r->db = fl_db_open_reader(path, err, errlen);
	if (!r->db)
		goto fail;
	if (sqlite3_prepare_v2(r->db, "SELECT id, process, defined_ns FROM stacks WHERE id > ? ORDER BY id", -1,
			       &r->q_stacks, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db,
			       "SELECT id, depth, pc FROM frames"
			       " WHERE stack = ? AND inline_depth = 0 AND symbolized = 0 ORDER BY depth",
			       -1, &r->q_frames, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db, "SELECT count(*) FROM stacks WHERE id > ?", -1, &r->q_left, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db,
			       "SELECT id, start, len, path, build_id, loaded_ns, unloaded_ns, bias FROM modules"
			       " WHERE process = ? AND start <= ? ORDER BY start DESC, id DESC",
			       -1, &r->q_module, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(r->db));
		goto fail;
	}
	r->sym = fl_sym_new();
	if (!r->sym) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	r->kicked = 1; /* frames an earlier daemon left unnamed */
	int e = pthread_create(&r->thread, NULL, resolve_main, r);
	if (e != 0) {
		snprintf(err, errlen, "cannot start the resolver thread: %s", strerror(e));
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		goto fail;
	}
	return r;
fail:
	fl_sym_free(r->sym);
	sqlite3_finalize(r->q_stacks);
	sqlite3_finalize(r->q_frames);
	sqlite3_finalize(r->q_module);
	sqlite3_finalize(r->q_left);
	sqlite3_close(r->db);
	free(r);
	return NULL;
}

void fl_resolve_kick(void *arg)
{
	struct fl_resolver *r = arg;
	pthread_mutex_lock(&r->mu);
	r->kicked = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

long fl_resolve_stop(struct fl_resolver *r, int finish_ms)
{
	if (!r)
		return 0;
	pthread_mutex_lock(&r->mu);
	if (finish_ms > 0) {
		r->finishing = 1;
		r->finish_by = fl_mono_ns() + (uint64_t)finish_ms * 1000000u;
	} else {
		r->stop = 1;
	}
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	long left = r->left;
	cache_clear(r);
	fl_idmap_free(&r->logged);
	fl_sym_free(r->sym);
	sqlite3_finalize(r->q_stacks);
	sqlite3_finalize(r->q_frames);
	sqlite3_finalize(r->q_module);
	sqlite3_finalize(r->q_left);
	sqlite3_close(r->db);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
	return left;
}
