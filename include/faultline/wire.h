/*
 * The wire protocol between the shim (one connection per process) and
 * faultlined, defined once for both sides.  A connection carries records
 * back to back; each is a header (total length, type) and a body whose
 * fixed part is one of the structs below, possibly followed by variable
 * bytes whose lengths the fixed part gives.  All integers are in the
 * host's byte order (little-endian: x86-64 and arm64), so both ends must
 * run on the same machine, which a unix socket guarantees.
 *
 * A connection starts with HELLO and ends with GOODBYE; a connection that
 * ends without GOODBYE means the process vanished (or the shim lost the
 * daemon and will say HELLO again on a new connection: the daemon matches
 * the process by pid and start time).  Times are CLOCK_MONOTONIC
 * nanoseconds; HELLO gives the monotonic and real time of one instant so
 * the daemon can convert.
 *
 * fl_wire_decode() checks everything a record can say about itself
 * (lengths, counts, kinds, ranges); what needs the connection's history
 * (HELLO first, stack ids defined before use) is the daemon's to check.
 */
#ifndef FAULTLINE_WIRE_H
#define FAULTLINE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FL_WIRE_MAGIC 0x31574c46u /* "FLW1" in memory */
#define FL_WIRE_VERSION 1u
#define FL_WIRE_MAX 65536u        /* largest record, header included */
#define FL_WIRE_MAX_FRAMES 128u   /* deepest stack */
#define FL_WIRE_MAX_BUILD_ID 64u
#define FL_WIRE_MAX_FAULTS ((FL_WIRE_MAX - 16u) / 40u) /* per FAULTS record */
#define FL_WIRE_MAX_PATH 4096u    /* longest exe or module path */
/* The most bytes of argv a hello carries (whole strings only). */
#define FL_WIRE_MAX_ARGV (FL_WIRE_MAX - 8u - (uint32_t)sizeof(struct fl_wire_hello))

struct fl_wire_hdr {
	uint32_t len;   /* whole record, this header included: a multiple of 8
			 * (zero padding after the contents), 8..FL_WIRE_MAX */
	uint16_t type;  /* enum fl_wire_type */
	uint16_t flags; /* 0 */
};

enum fl_wire_type {
	FL_REC_HELLO = 1,
	FL_REC_MODULE = 2,
	FL_REC_REGION = 3,
	FL_REC_STACK = 4,
	FL_REC_FAULTS = 5,
	FL_REC_SAMPLE = 6,
	FL_REC_DROPS = 7,
	FL_REC_GOODBYE = 8,
	FL_REC_EXIT = 9, /* a launcher reports how a child it waited for ended */
	FL_REC_ALLOCS = 10, /* sampled allocations and the faults in them */
	FL_REC_SPILL = 11,  /* the spill file's counters, next to a SAMPLE */
	FL_REC__END
};

/* HELLO: who is speaking.  Followed by exe (exe_len bytes, no NUL) and
 * argv (argv_len bytes: argc strings, each NUL-terminated). */
struct fl_wire_hello {
	uint32_t magic;   /* FL_WIRE_MAGIC */
	uint32_t version; /* FL_WIRE_VERSION */
	int32_t pid, ppid;
	uint64_t start_real_ns; /* CLOCK_REALTIME at the same instant as... */
	uint64_t start_mono_ns; /* ...this CLOCK_MONOTONIC reading */
	uint64_t budget_bytes;  /* 0: no budget */
	uint32_t page_size;
	uint32_t engine;        /* enum fl_engine_kind */
	uint32_t compressor;    /* 0 lz4, 1 zstd */
	int32_t compressor_level;
	uint32_t stacks_every;  /* 0: no stacks, 1: every fault, N: one in N */
	uint32_t exe_len;
	uint32_t argc;
	uint32_t argv_len;
};

/* MODULE: an ELF object mapped (op LOAD) or unmapped (op UNLOAD) in the
 * process.  Addresses a PC to the object: file vaddr = pc - bias.
 * Followed by build_id (build_id_len bytes) and path (path_len bytes). */
enum { FL_WIRE_MODULE_LOAD = 1, FL_WIRE_MODULE_UNLOAD = 2 };
struct fl_wire_module {
	uint64_t t_ns;
	uint64_t start, end; /* [start, end): the object's loaded segments */
	uint64_t bias;       /* load bias */
	uint32_t op;
	uint32_t build_id_len; /* 0..FL_WIRE_MAX_BUILD_ID */
	uint32_t path_len;     /* 0..4096 */
	uint32_t reserved;
};

/* REGION: a managed region was created, changed (moved, resized,
 * protection) or destroyed.  id is unique within the process. */
enum { FL_WIRE_REGION_CREATE = 1, FL_WIRE_REGION_UPDATE = 2, FL_WIRE_REGION_DESTROY = 3 };
struct fl_wire_region {
	uint64_t t_ns;
	uint64_t id;        /* nonzero */
	uint64_t start, len;/* len: a multiple of the page size, nonzero unless DESTROY */
	uint32_t op;
	uint32_t prot;      /* PROT_* bits, 0..7 */
	uint32_t kind;      /* enum fl_range_kind, managed kinds only (not SHIM) */
	uint32_t reserved;
};
/* FL_RANGE_COMMITTED came later than version 1 and kept its number: an
 * older shim never sends it, so a newer daemon serves it as before.  A
 * daemon older than the kind refuses the record ("region kind 4 is not a
 * managed kind") and drops that connection, each time the shim
 * reconnects and announces such a region; a new version number would
 * have made it refuse every process of the new shim at HELLO instead. */

/* STACK: a call stack's definition, sent once, before the first fault
 * that uses it.  Followed by nframes program counters (uint64_t),
 * innermost first: pcs[0] is the faulting instruction. */
struct fl_wire_stack {
	uint32_t id;      /* nonzero */
	uint32_t nframes; /* 1..FL_WIRE_MAX_FRAMES */
};

/* One resolved fault (40 bytes). */
#define FL_WIRE_FAULT_WRITE 1u  /* the access was a write */
struct fl_wire_fault {
	uint64_t t_ns;       /* when it was resolved */
	uint64_t addr;       /* faulting address */
	uint64_t region;     /* region id (0: unknown) */
	uint32_t tid;        /* faulting thread (0: unknown) */
	uint32_t stack;      /* stack id (0: no stack taken) */
	uint32_t latency_ns; /* time to resolve, saturating */
	uint16_t pages;      /* pages resolved together, >= 1 */
	uint8_t kind;        /* enum fl_fault_kind */
	uint8_t flags;       /* FL_WIRE_FAULT_* */
};

/* FAULTS: count (1..FL_WIRE_MAX_FAULTS) faults follow. */
struct fl_wire_faults {
	uint32_t count;
	uint32_t reserved;
};

/* SAMPLE: the pager's counters (struct fl_stats) at one time. */
struct fl_wire_sample {
	uint64_t t_ns;
	uint64_t managed_pages, resident_pages, inactive_pages;
	uint64_t compressed_pages, same_filled_pages;
	uint64_t compressed_bytes, store_bytes;
	uint64_t budget_pages, resident_peak_pages;
	uint64_t faults[6];  /* by enum fl_fault_kind */
	uint64_t fault_ns_total;
	uint64_t pages_evicted;
	uint32_t pressure;   /* enum fl_pressure */
	uint32_t regions;
};

/*
 * SPILL: the spill file's counters at one time, sent right after the
 * SAMPLE of the same t_ns by a process that has written (or tried to
 * write) to a spill file; a process that never spilled sends none.  All
 * come from one look at the spill file's counters (under its lock), so
 * spilled_bytes <= file_bytes (payloads are packed into whole blocks, each
 * counted in use while anything in it is wanted; a block can hold parts
 * of several payloads, so pages and blocks have no fixed ratio), and
 * pages and bytes are both 0 or both not (no payload is empty).  The
 * last four are running totals since the process started (a forked
 * child's include its parent's before the fork).
 */
struct fl_wire_spill {
	uint64_t t_ns;
	uint64_t spilled_pages; /* pages held in spill files */
	uint64_t spilled_bytes; /* their payload bytes */
	uint64_t file_bytes;    /* blocks in use, all files */
	uint64_t writes, write_errors; /* batches written, and writes that failed (not kept) */
	uint64_t reads, read_errors;   /* reads from the files (one may bring back several payloads), and reads that failed */
};
/* SPILL came later than version 1 and kept the version: an older shim
 * never sends it.  A daemon older than the record refuses it ("unknown
 * record type 11") and drops that connection, each time a process that
 * spilled reconnects and samples; processes that never spill are served
 * as before.  A new version number would have made it refuse every
 * process of the new shim at HELLO instead. */

/* DROPS: running totals of what the shim could not send. */
struct fl_wire_drops {
	uint64_t t_ns;
	uint64_t events;  /* fault events lost (ring full, no daemon) */
	uint64_t stacks;  /* faults that wanted a stack and got none */
	uint64_t other;   /* region/module/sample records lost */
};

/* GOODBYE: the process is exiting. */
enum { FL_WIRE_END_EXITED = 1, FL_WIRE_END_SIGNALLED = 2, FL_WIRE_END_VANISHED = 3 };
struct fl_wire_goodbye {
	uint64_t t_ns;
	int32_t status; /* exit status, or the signal number */
	uint32_t how;   /* FL_WIRE_END_EXITED or _SIGNALLED */
};

/* EXIT: a launcher saw process pid end (wait status decoded). */
struct fl_wire_exit {
	int32_t pid;
	int32_t status;
	uint32_t how;   /* FL_WIRE_END_EXITED or _SIGNALLED */
	uint32_t reserved;
};

/*
 * ALLOCS: count (1..FL_WIRE_MAX_ALLOCS) struct fl_wire_alloc follow.  Each
 * is the whole state of one sampled allocation, sent when it is made and
 * again whenever something about it changes (faults resolved in it, its
 * free, its pages at a new peak): the daemon keeps the latest.  An
 * allocation is sampled by bytes (one sample every FAULTLINE_ALLOC_SAMPLE
 * bytes on average, at random), so weight, the bytes it stands for, is
 * size / P(sampled) and at least size.  id 0 is the faults that were in
 * no sampled allocation (then everything but the fault counts and dropped
 * is 0).
 * Its stack, when nonzero, was defined by a STACK record before.
 */
enum { FL_WIRE_ALLOC_MALLOC = 1, FL_WIRE_ALLOC_MMAP = 2 };
struct fl_wire_alloc {
	uint64_t t_ns;          /* allocated (CLOCK_MONOTONIC) */
	uint64_t free_ns;       /* freed; 0: live (>= t_ns otherwise) */
	uint64_t addr, size;    /* [addr, addr + size), size > 0 */
	uint64_t weight;        /* bytes it stands for, >= size */
	uint64_t faults, pages; /* faults resolved in it so far, the pages they resolved */
	uint64_t latency_ns;    /* time resolving them */
	uint64_t peak_ns;       /* the sample of the highest resident count it was live at, 0: none */
	uint64_t peak_resident; /* its bytes in resident or inactive pages then (<= size) */
	uint64_t peak_compressed; /* its bytes in compressed or same-filled pages then (<= size) */
	uint32_t id;            /* the process's sample number; 0: the unsampled */
	uint32_t stack;         /* the allocation's stack id; 0: none */
	uint32_t kind;          /* FL_WIRE_ALLOC_MALLOC or _MMAP (0 for id 0) */
	uint32_t dropped;       /* id 0: samples the shim's table had no room for, so far; else 0 */
};
struct fl_wire_allocs {
	uint32_t count;
	uint32_t reserved;
};
#define FL_WIRE_MAX_ALLOCS ((FL_WIRE_MAX - 16u) / (uint32_t)sizeof(struct fl_wire_alloc))

/* A decoded record: pointers into the caller's buffer (not copied). */
struct fl_wire_rec {
	uint16_t type;
	uint32_t len;
	union {
		const struct fl_wire_hello *hello;
		const struct fl_wire_module *module;
		const struct fl_wire_region *region;
		const struct fl_wire_stack *stack;
		const struct fl_wire_faults *faults;
		const struct fl_wire_sample *sample;
		const struct fl_wire_drops *drops;
		const struct fl_wire_goodbye *goodbye;
		const struct fl_wire_exit *exit;
		const struct fl_wire_allocs *allocs;
		const struct fl_wire_spill *spill;
		const void *body;
	} u;
	/* HELLO: exe; MODULE: path.  Not NUL-terminated. */
	const char *str;
	uint32_t str_len;
	/* HELLO: argv (argc NUL-terminated strings); MODULE: build id. */
	const uint8_t *bytes;
	uint32_t bytes_len;
	/* STACK: the pcs; FAULTS: the faults; ALLOCS: the allocations.  May
	 * be unaligned in the buffer: read them with memcpy or the _at()s. */
	const void *items;
	uint32_t nitems;
};

/*
 * Decode the record at the start of buf[0..len), which must be 8-byte
 * aligned (records are decoded in place).  Returns the record's
 * length (bytes consumed) with *out filled, 0 when buf holds only part of
 * a record (read more), or -1 when the bytes are not a valid record, with
 * a one-line reason in err.  Never reads outside buf.
 */
long fl_wire_decode(const void *buf, size_t len, struct fl_wire_rec *out, char *err, size_t errlen);

/* Fault i of a decoded FAULTS record, copied out (alignment-safe). */
void fl_wire_fault_at(const struct fl_wire_rec *rec, uint32_t i, struct fl_wire_fault *out);
/* Allocation i of a decoded ALLOCS record, copied out. */
void fl_wire_alloc_at(const struct fl_wire_rec *rec, uint32_t i, struct fl_wire_alloc *out);
/* Frame i of a decoded STACK record. */
uint64_t fl_wire_pc_at(const struct fl_wire_rec *rec, uint32_t i);

/*
 * Encoders: write one record into buf (cap bytes) and return its length,
 * or 0 when it does not fit (or a length is over the limits).
 */
size_t fl_wire_put(void *buf, size_t cap, uint16_t type, const void *body, size_t body_len,
		   const void *tail1, size_t tail1_len, const void *tail2, size_t tail2_len);
size_t fl_wire_put_hello(void *buf, size_t cap, const struct fl_wire_hello *h,
			 const char *exe, const char *argv, size_t argv_len);
size_t fl_wire_put_module(void *buf, size_t cap, const struct fl_wire_module *m,
			  const uint8_t *build_id, const char *path);
size_t fl_wire_put_stack(void *buf, size_t cap, uint32_t id, const uint64_t *pcs, uint32_t n);
size_t fl_wire_put_faults(void *buf, size_t cap, const struct fl_wire_fault *f, uint32_t n);
size_t fl_wire_put_allocs(void *buf, size_t cap, const struct fl_wire_alloc *a, uint32_t n);

/* Names for logs and reports; never NULL. */
const char *fl_wire_type_name(unsigned type);

/*
 * Where faultlined listens unless told otherwise, the one rule the shim,
 * the launcher and the daemon share: $XDG_RUNTIME_DIR/faultline/faultlined.sock
 * when xdg_runtime_dir is set and not empty, else
 * /tmp/faultline-<uid>/faultlined.sock.  0, or -1 when it does not fit.
 */
int fl_wire_default_socket(char *out, size_t len, const char *xdg_runtime_dir, unsigned uid);

#ifdef __cplusplus
}
#endif
#endif
