/*
 * The writer thread (writer.h).
 *
 * Why a thread of its own: a commit, and the WAL checkpoint SQLite runs
 * after one, can take tens of milliseconds; on the network thread that
 * would be tens of milliseconds in which no peer is read.  With two
 * threads, reading and decoding overlap with SQLite's work, which is what
 * bounds ingest (bench/ingest.c).
 */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlog.h"
#include "ingest.h"
#include "clock.h"

#define FLUSH_NS 250000000ull   /* longest a transaction stays open */
#define BIG_TXN_FAULTS 262144u  /* commit a transaction holding this many faults */
#define RETRY_NS 2000000000ull  /* how often a full database is tried again */

struct fl_writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, room;
	struct fl_batch *head, *tail;
	size_t queued; /* bytes pushed and not yet applied */
	int stop;
	uint64_t sync_want, sync_done; /* fl_writer_sync() requests and the last one met */

	sqlite3 *db;
	struct fl_ingest *g;
	char path[512];
	void (*on_stacks)(void *);
	void *on_stacks_ctx;

	int in_txn;
	uint64_t txn_start;
	int full;         /* dropping: the database cannot take rows */
	int probing;      /* trying again after being full */
	uint64_t retry_at;
	uint64_t commits;
	int op_errors;    /* other errors logged, to rate-limit them */
	uint64_t applied; /* fault events applied (atomic: read by the resolver) */
};

/* Errors that mean "the database cannot take rows now", not "this op is wrong". */
static int is_trouble(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_BUSY:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return 1;
	}
	return 0;
}

static void enter_trouble(struct fl_writer *w, int rc, const char *msg)
{
	if (!w->full && !w->probing) {
		if ((rc & 0xff) == SQLITE_FULL)
			DLOG_WARN("database full (%s: %s): new events are dropped", w->path, msg);
		else
			DLOG_WARN("cannot write the database %s (%s): new events are dropped", w->path, msg);
	}
	w->full = 1;
	w->probing = 0;
	w->retry_at = fl_mono_ns() + RETRY_NS;
}

/* The open transaction is lost (or SQLite already rolled it back). */
static void fail_txn(struct fl_writer *w, int rc, const char *msg)
{
	if (!sqlite3_get_autocommit(w->db))
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	fl_ingest_rolled_back(w->g);
	w->in_txn = 0;
	if (is_trouble(rc))
		enter_trouble(w, rc, msg);
}

static void commit(struct fl_writer *w, int final)
{
	char err[256];
	if (!w->in_txn)
		return;
	int stacks = fl_ingest_txn_stacks(w->g);
	int rc = fl_ingest_finish(w->g, final, fl_mono_ns(), err, sizeof err);
	if (rc == SQLITE_OK) {
		char *msg = NULL;
		rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, &msg);
		snprintf(err, sizeof err, "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
	}
	if (rc != SQLITE_OK) {
		fail_txn(w, rc, err);
		return;
	}
	w->in_txn = 0;
	w->commits++;
	fl_ingest_committed(w->g);
	if (w->probing) {
		struct fl_ingest_stats st;
		fl_ingest_stats(w->g, &st);
		DLOG_WARN("database %s takes rows again (%llu fault events and %llu other records dropped so far)",
			  w->path, (unsigned long long)st.lost_faults, (unsigned long long)st.lost_records);
		w->probing = 0;
	}
	if (stacks) {
		pthread_mutex_lock(&w->mu);
		void (*fn)(void *) = w->on_stacks;
		void *ctx = w->on_stacks_ctx;
		pthread_mutex_unlock(&w->mu);
		if (fn)
			fn(ctx);
	}
}

/* While full: bookkeeping, and process state changes tried one by one. */
static void apply_full(struct fl_writer *w, const struct fl_op *op)
{
	char err[256];
	if (!fl_ingest_note(w->g, op))
		return;
	int rc = fl_ingest_op(w->g, op, err, sizeof err);
	/* Autocommit: whatever succeeded is stored. */
	fl_ingest_committed(w->g);
	if (rc != SQLITE_OK)
		fl_ingest_lost(w->g, 0, 1);
}

static void apply(struct fl_writer *w, const struct fl_op *op)
{
	char err[256];
	if (w->full) {
		if (fl_mono_ns() < w->retry_at) {
			apply_full(w, op);
			return;
		}
		w->full = 0;
		w->probing = 1;
	}
	if (!w->in_txn) {
		int rc = sqlite3_exec(w->db, "BEGIN", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			enter_trouble(w, rc, sqlite3_errmsg(w->db));
			apply_full(w, op);
			return;
		}
		w->in_txn = 1;
		w->txn_start = fl_mono_ns();
	}
	int rc = fl_ingest_op(w->g, op, err, sizeof err);
	if (rc != SQLITE_OK) {
		fl_ingest_lost(w->g, op->type == FL_OP_FAULTS ? op->n : 0, op->type == FL_OP_FAULTS ? 0 : 1);
		if (is_trouble(rc) || sqlite3_get_autocommit(w->db)) {
			fail_txn(w, rc, err);
			return;
		}
		/* A bad op (which the checks upstream should have caught): say so
		 * a few times, keep the transaction. */
		if (w->op_errors++ < 10)
			DLOG_WARN("storing a record of type %u failed: %s", op->type, err);
		return;
	}
	if (op->type == FL_OP_FAULTS)
		__atomic_fetch_add(&w->applied, op->n, __ATOMIC_RELAXED);
	if (fl_ingest_txn_faults(w->g) >= BIG_TXN_FAULTS)
		commit(w, 0);
}

static void *writer_main(void *arg)
{
	struct fl_writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop && w->sync_want == w->sync_done) {
			if (!w->in_txn) {
				pthread_cond_wait(&w->work, &w->mu);
				continue;
			}
			uint64_t due = w->txn_start + FLUSH_NS;
			struct timespec ts = {.tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u)};
			if (pthread_cond_timedwait(&w->work, &w->mu, &ts) == ETIMEDOUT)
				break;
		}
		struct fl_batch *list = w->head;
		w->head = w->tail = NULL;
		int stopping = w->stop;
		uint64_t sync = w->sync_want;
		pthread_mutex_unlock(&w->mu);

		while (list) {
			struct fl_batch *b = list;
			list = b->next;
			for (size_t off = 0; off < b->len;) {
				const struct fl_op *op = fl_batch_op(b, off);
				apply(w, op);
				off += op->len;
			}
			size_t len = b->cap;
			fl_batch_free(b);
			pthread_mutex_lock(&w->mu);
			w->queued -= len;
			pthread_cond_broadcast(&w->room);
			pthread_mutex_unlock(&w->mu);
			/* A backlog takes long to apply: commit on time regardless. */
			if (w->in_txn && fl_mono_ns() - w->txn_start >= FLUSH_NS)
				commit(w, 0);
		}
		/* (sync_done is written by this thread only.) */
		int syncing = sync != w->sync_done;
		if (w->in_txn && (stopping || syncing || fl_mono_ns() - w->txn_start >= FLUSH_NS))
			commit(w, stopping || syncing);

		pthread_mutex_lock(&w->mu);
		if (syncing && !w->head) {
			w->sync_done = sync;
			pthread_cond_broadcast(&w->room);
		}
		if (stopping && !w->head)
			break;
	}
	pthread_mutex_unlock(&w->mu);
	commit(w, 1);
	/* Totals still waiting (the last transaction was committed before
	 * they were due): one more transaction for them. */
	if (!w->full && sqlite3_exec(w->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK) {
		w->in_txn = 1;
		commit(w, 1);
	}
	return NULL;
}

struct fl_writer *fl_writer_start(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	struct fl_writer *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->db = db;
	snprintf(w->path, sizeof w->path, "%s", path);
	w->g = fl_ingest_new(db, err, errlen);
	if (!w->g) {
		free(w);
		return NULL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, &ca);
	pthread_cond_init(&w->room, &ca);
	pthread_condattr_destroy(&ca);
	int e = pthread_create(&w->thread, NULL, writer_main, w);
	if (e != 0) {
		snprintf(err, errlen, "cannot start the writer thread: %s", strerror(e));
		fl_ingest_free(w->g);
		free(w);
		return NULL;
	}
	return w;
}

void fl_writer_push(struct fl_writer *w, struct fl_batch *b)
{
	b->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->next = b;
	else
		w->head = b;
	w->tail = b;
	w->queued += b->cap;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
}

int fl_writer_wait_room(struct fl_writer *w, int timeout_ms)
{
	pthread_mutex_lock(&w->mu);
	if (w->queued > FL_WRITER_HIGH_WATER && timeout_ms > 0) {
		struct timespec ts = fl_mono_deadline(timeout_ms);
		while (w->queued > FL_WRITER_HIGH_WATER)
			if (pthread_cond_timedwait(&w->room, &w->mu, &ts) == ETIMEDOUT)
				break;
	}
	int room = w->queued <= FL_WRITER_HIGH_WATER;
	pthread_mutex_unlock(&w->mu);
	return room;
}

uint64_t fl_writer_faults(struct fl_writer *w)
{
	return __atomic_load_n(&w->applied, __ATOMIC_RELAXED);
}

int fl_writer_sync(struct fl_writer *w, int timeout_ms)
{
	struct timespec ts = fl_mono_deadline(timeout_ms);
	pthread_mutex_lock(&w->mu);
	uint64_t want = ++w->sync_want;
	pthread_cond_signal(&w->work);
	while (w->sync_done < want)
		if (pthread_cond_timedwait(&w->room, &w->mu, &ts) == ETIMEDOUT)
			break;
	int done = w->sync_done >= want;
	pthread_mutex_unlock(&w->mu);
	return done;
}

void fl_writer_on_stacks(struct fl_writer *w, void (*fn)(void *), void *ctx)
{
	pthread_mutex_lock(&w->mu);
	w->on_stacks = fn;
	w->on_stacks_ctx = ctx;
	pthread_mutex_unlock(&w->mu);
}

void fl_writer_stop(struct fl_writer *w, struct fl_writer_stats *out)
{
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	if (out) {
		struct fl_ingest_stats st;
		fl_ingest_stats(w->g, &st);
		out->faults = st.faults;
		out->lost_faults = st.lost_faults;
		out->lost_records = st.lost_records;
		out->commits = w->commits;
	}
	fl_ingest_free(w->g);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->room);
	free(w);
}
