/*
 * Fuzz target for the wire protocol as faultlined reads it: the bytes
 * are one connection's stream, copied into an 8-aligned buffer of exactly
 * their size (so a read past the end is an ASan error), decoded record by
 * record with fl_wire_decode(), checked by the daemon's per-connection
 * state machine (daemon/conn.c) and stored by its ingest code
 * (daemon/ingest.c) in an in-memory SQLite database with the real schema,
 * inside a transaction rolled back at the end so that every input starts
 * from the same empty database.
 *
 * The stream is played twice: once as a connection to a fresh daemon,
 * whose end (without GOODBYE) marks the process vanished, then again as
 * the same shim reconnecting to a restarted daemon, which finds the
 * process, its stacks and its regions through the database (db.c's
 * lookup) rather than in memory.
 *
 * Built two ways: with libFuzzer (make build/fuzz/fuzz_wire; clang
 * -fsanitize=fuzzer,address,undefined), and with tests/fuzz/replay.c as a
 * plain program that runs the corpus in every `make check`.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "conn.h"
#include "db.h"
#include "faultline/wire.h"
#include "ingest.h"
#include "procs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *db;

/* One connection playing the whole stream; its ops applied to g. */
static void play(struct fl_procs *procs, struct fl_ingest *g, const uint8_t *buf, size_t size)
{
	struct fl_batch *b = fl_batch_new(1 << 16);
	struct fl_conn *c = fl_conn_new(procs);
	if (!b || !c) {
		fl_batch_free(b);
		free(c);
		return;
	}
	char err[256];
	size_t off = 0;
	while (off < size) {
		struct fl_wire_rec rec;
		long n = fl_wire_decode(buf + off, size - off, &rec, err, sizeof err);
		if (n <= 0)
			break;
		/* A decoder that accepts a record must have consumed it whole. */
		if ((size_t)n > size - off || n % 8)
			abort();
		if (fl_conn_feed(c, &rec, b, err, sizeof err) != 0)
			break;
		off += (size_t)n;
	}
	fl_conn_end(c, 0, b);
	for (size_t o = 0; o < b->len;) {
		const struct fl_op *op = fl_batch_op(b, o);
		if (op->len < sizeof *op || op->len % 8 || op->len > b->len - o)
			abort(); /* the batch is the daemon's own format: never malformed */
		fl_ingest_op(g, op, err, sizeof err);
		o += op->len;
	}
	fl_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (!db) {
		db = fl_db_open(":memory:", 0, err, sizeof err);
		if (!db)
			abort();
	}
	/* malloc's result is 16-aligned; exactly size bytes, for ASan. */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct fl_procs *first = fl_procs_new(NULL, NULL);
	/* The restarted daemon finds what the first one stored. */
	struct fl_procs *second = fl_procs_new(fl_db_lookup, db);
	if (!first || !second)
		abort();
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (int pass = 0; pass < 2; pass++) {
		struct fl_ingest *g = fl_ingest_new(db, err, sizeof err);
		if (!g)
			abort();
		play(pass ? second : first, g, buf, size);
		fl_ingest_finish(g, 1, 0, err, sizeof err);
		fl_ingest_free(g);
	}
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	fl_procs_free(first);
	fl_procs_free(second);
	free(buf);
	return 0;
}
