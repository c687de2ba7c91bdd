/*
 * Batches of operations for the database writer.  The network thread
 * turns checked records into ops and appends them to a batch; a full batch
 * (or whatever is pending when the thread is about to sleep) goes to the
 * writer thread's queue whole, so the hand-off costs one lock per batch,
 * not per fault.  Ops are self-contained copies: the peer's read buffer is
 * reused as soon as a record has been turned into an op.
 *
 * An op is a 16-byte header and a payload, padded to 8 bytes so payloads
 * can be read in place.  Processes are named by a key the network thread
 * hands out (struct fl_proc); the writer maps keys to database rows, which
 * keeps row ids, and the database, out of the network thread's hot path.
 */
#ifndef FL_BATCH_H
#define FL_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "faultline/wire.h"
#include "symbolize.h"

enum fl_op_type {
	FL_OP_PROC = 1, /* struct fl_op_proc + exe + argv: a process row, new or reattached */
	FL_OP_MODULE,   /* struct fl_op_module + build id + path */
	FL_OP_REGION,   /* struct fl_wire_region */
	FL_OP_STACK,    /* struct fl_op_stack + nframes pcs */
	FL_OP_FAULTS,   /* n x struct fl_wire_fault */
	FL_OP_SAMPLE,   /* struct fl_wire_sample */
	FL_OP_DROPS,    /* struct fl_wire_drops */
	FL_OP_GOODBYE,  /* struct fl_wire_goodbye */
	FL_OP_VANISH,   /* struct fl_op_time: the connection ended without GOODBYE */
	FL_OP_EXIT,     /* struct fl_op_exit: a launcher's report; proc 0 = find by pid */
	FL_OP_SYMBOLS,  /* struct fl_op_symbols + n x struct fl_sym_frame (from the resolver) */
	FL_OP_ALLOCS,   /* n x struct fl_wire_alloc */
	FL_OP_SPILL,    /* struct fl_wire_spill */
	FL_OP__END
};

struct fl_op {
	uint32_t len;  /* header and payload, a multiple of 8 */
	uint16_t type; /* enum fl_op_type */
	uint16_t flags;
	uint32_t proc; /* process key (0: none) */
	uint32_t n;    /* FAULTS: faults; STACK: frames; SYMBOLS: frames */
};

#define FL_OP_PROC_RESUME 1u /* flags of FL_OP_PROC: the key already has a row */

struct fl_op_proc {
	int64_t rowid; /* an existing row to attach to (0: insert one) */
	struct fl_wire_hello hello; /* exe_len + argv_len bytes follow */
};

struct fl_op_module {
	struct fl_wire_module m; /* build_id_len + path_len bytes follow */
};

struct fl_op_stack {
	uint32_t id;
	uint32_t nframes;
	uint64_t recv_real_ns; /* when the daemon got the definition */
};

struct fl_op_time {
	uint64_t real_ns;
};

struct fl_op_exit {
	struct fl_wire_exit x;
	uint64_t real_ns; /* when the report arrived */
};

/* Resolver results for one frame row; the results follow (n of them). */
enum {
	FL_SYM_PENDING = 0,  /* not looked at yet */
	FL_SYM_OK = 1,       /* function (and, with debug info, file and line) known */
	FL_SYM_NO_MODULE = 2,/* no module of the process holds the pc */
	FL_SYM_UNKNOWN = 3,  /* the module has no symbol for it */
	FL_SYM_ERROR = 4,    /* the module's file could not be read (gone, changed) */
};
struct fl_op_symbols {
	int64_t frame;  /* frames.id of the row to fill */
	int64_t stack;  /* frames.stack */
	int64_t module; /* modules.id, 0 when none */
	uint64_t pc;
	uint64_t offset; /* pc - bias */
	uint32_t depth;
	int32_t status;  /* FL_SYM_* */
};

struct fl_batch {
	uint8_t *buf;
	size_t len, cap;
	uint64_t faults;  /* fault events in the batch */
	uint64_t records; /* ops other than FAULTS */
	struct fl_batch *next; /* the writer's queue */
};

/* An empty batch, or NULL when out of memory. */
struct fl_batch *fl_batch_new(size_t cap);
void fl_batch_free(struct fl_batch *b);

/*
 * Append an op with room for payload bytes; returns the payload (zeroed
 * padding included) for the caller to fill, or NULL when out of memory.
 */
void *fl_batch_add(struct fl_batch *b, uint16_t type, uint32_t proc, uint32_t n, size_t payload);

/* Take back the op fl_batch_add() just returned payload for. */
void fl_batch_undo(struct fl_batch *b, void *payload);

/* The op at offset off, and the next offset. */
static inline const struct fl_op *fl_batch_op(const struct fl_batch *b, size_t off)
{
	return (const struct fl_op *)(const void *)(b->buf + off);
}
static inline const void *fl_batch_body(const struct fl_op *op)
{
	return op + 1;
}

#endif
