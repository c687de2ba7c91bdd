/*
 * The writer thread: the one thread that writes the database.  The
 * network thread (and the resolver) push whole batches of ops; the writer
 * applies them inside a transaction that it commits at least every 250 ms,
 * and sooner when it holds many faults.  Its queue is bounded: above a
 * high-water mark the network thread stops reading peers (their sockets
 * fill, and the shims count drops) until the writer catches up.
 *
 * When the database cannot take rows (full disk, --db-max-size reached,
 * an I/O error), the writer logs it once, rolls back, counts what it
 * drops, keeps consuming its queue so nothing upstream stalls, tries to
 * store process state changes (goodbye, exit, vanish) on their own, and
 * tries again every two seconds.
 */
#ifndef FL_WRITER_H
#define FL_WRITER_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"

struct fl_writer;

struct fl_writer_stats {
	uint64_t faults;       /* fault rows committed */
	uint64_t lost_faults;  /* fault events that could not be stored */
	uint64_t lost_records; /* other records that could not be stored */
	uint64_t commits;
};

/* Queue bytes above which the network thread stops reading peers. */
#define FL_WRITER_HIGH_WATER (64u << 20)

/*
 * Start the writer on db (a connection from fl_db_open, which the writer
 * uses from now on; the caller closes it after fl_writer_stop).  path is
 * for messages.  NULL with err when it cannot start.
 */
struct fl_writer *fl_writer_start(sqlite3 *db, const char *path, char *err, size_t errlen);

/* Queue a batch; the writer owns and frees it.  Any thread. */
void fl_writer_push(struct fl_writer *w, struct fl_batch *b);

/* 1 when the queue is below the high-water mark; else wait up to timeout_ms for it to be. */
int fl_writer_wait_room(struct fl_writer *w, int timeout_ms);

/*
 * Wait until everything pushed before the call is applied and committed
 * (the per-stack totals too), up to timeout_ms.  1 when it is, 0 on
 * timeout.  For shutdown: the resolver then sees every stack.
 */
int fl_writer_sync(struct fl_writer *w, int timeout_ms);

/* Fault events applied so far (a load gauge for the resolver).  Any thread. */
uint64_t fl_writer_faults(struct fl_writer *w);

/* Called (on the writer thread) after a commit that stored new stacks. */
void fl_writer_on_stacks(struct fl_writer *w, void (*fn)(void *), void *ctx);

/* Apply everything queued, commit, stop the thread, fill out (may be NULL) and free w. */
void fl_writer_stop(struct fl_writer *w, struct fl_writer_stats *out);

#endif
