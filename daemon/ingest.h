/*
 * Ingest: writer ops (batch.h) into SQL rows, on the writer's connection.
 * The caller (writer.c, or the fuzzer) owns the transaction: it opens one,
 * feeds ops, calls fl_ingest_finish() before COMMIT, and tells ingest
 * whether the commit held (fl_ingest_committed) or the transaction was
 * rolled back (fl_ingest_rolled_back), so that what ingest remembers
 * across transactions (each process key's row, the per-stack totals not
 * yet written) stays true to what the database holds.
 *
 * Faults are inserted 32 rows per statement (one statement per row costs
 * a third more) and summed per (process, stack, kind) in memory; the
 * fault_spans rows go out with each transaction, the sums (stack_faults)
 * at most once a second: an upsert per stack and kind with every commit
 * cost a third of the writer's time at 1M faults/s.
 */
#ifndef FL_INGEST_H
#define FL_INGEST_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"

struct fl_ingest;

struct fl_ingest_stats {
	uint64_t faults;         /* fault rows stored (committed) */
	uint64_t lost_faults;    /* fault events not stored: errors, database full, rollbacks */
	uint64_t lost_records;   /* other records not stored */
	uint64_t symbolized;     /* frame rows the resolver filled */
};

/* Prepare everything; NULL with err when the schema does not fit (or no memory). */
struct fl_ingest *fl_ingest_new(sqlite3 *db, char *err, size_t errlen);
void fl_ingest_free(struct fl_ingest *g);

/*
 * Apply one op inside the caller's transaction.  Returns SQLITE_OK, or
 * the SQLite error that stopped it (message in err).  An op about a
 * process key with no row (its row was rolled back and cannot be made
 * again) is counted as lost and returns SQLITE_OK.
 */
int fl_ingest_op(struct fl_ingest *g, const struct fl_op *op, char *err, size_t errlen);

/*
 * The database cannot take rows (full): keep the bookkeeping an op
 * carries (a new process's HELLO, so its row can be made later), count
 * the rest as lost.  Returns 1 when the op changes a process's state
 * (goodbye, exit, vanish) and is worth trying on its own, else 0.
 */
int fl_ingest_note(struct fl_ingest *g, const struct fl_op *op);

/*
 * Before COMMIT: write the transaction's fault spans, and the per-stack
 * totals when they were last written a second or more before now_ns
 * (CLOCK_MONOTONIC), or when force (shutting down).  SQLite's result code.
 */
int fl_ingest_finish(struct fl_ingest *g, int force, uint64_t now_ns, char *err, size_t errlen);

/* The transaction committed / was rolled back (everything since the last of either). */
void fl_ingest_committed(struct fl_ingest *g);
void fl_ingest_rolled_back(struct fl_ingest *g);

/* Fault rows and other ops applied in the open transaction. */
uint64_t fl_ingest_txn_faults(const struct fl_ingest *g);
uint64_t fl_ingest_txn_records(const struct fl_ingest *g);
/* 1 when the open transaction defined stacks (the resolver has work after the commit). */
int fl_ingest_txn_stacks(const struct fl_ingest *g);

/* Count lost what the caller could not apply (whole ops it dropped). */
void fl_ingest_lost(struct fl_ingest *g, uint64_t faults, uint64_t records);

void fl_ingest_stats(const struct fl_ingest *g, struct fl_ingest_stats *out);

#endif
