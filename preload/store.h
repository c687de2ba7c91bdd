/*
 * The compressed store: where evicted pages live.  Pages go in whole
 * (FL_PAGE_SIZE bytes) and come out whole.  Same-filled pages (all bytes
 * zero, or one 8-byte word repeated) are recognised and kept with no
 * payload; pages that do not compress below FL_STORE_RAW_LIMIT are kept raw
 * rather than grown.  Payloads are packed into size-classed slots carved
 * from slabs of one large raw-mmap reservation, so the store never calls
 * malloc and never touches managed memory.
 *
 * Thread safety: put, get and drop may be called from several threads at
 * once, each with its own fl_store_ctx (compression work memory).
 * Shared code: returns error codes, never logs.
 */
#ifndef FL_STORE_H
#define FL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "options.h" /* enum fl_compressor */
#include "spill.h"   /* struct fl_spill_stats */

#define FL_PAGE_SIZE 4096u


/* A page whose payload would exceed this is kept raw (see store.c). */
#define FL_STORE_RAW_LIMIT (FL_PAGE_SIZE - 64)

/* Error codes (negative).  0 is success. */
#define FL_STORE_EFULL (-1)   /* capacity reached: page not stored */
#define FL_STORE_ENOMEM (-2)  /* mmap failed */
#define FL_STORE_ECORRUPT (-3)/* payload did not decompress to one page */
#define FL_STORE_EINVAL (-4)
#define FL_STORE_ESPILL (-5)  /* the spill file could not take or give a page */

/* How a stored page is kept. */
enum fl_store_kind {
	FL_STORE_SAME = 1,  /* same-filled: ref.val is the repeated word */
	FL_STORE_COMP = 2,  /* compressed payload: ref.val is a slot handle */
	FL_STORE_RAW = 3,   /* incompressible, kept raw: ref.val is a handle */
	FL_STORE_SPILLED = 4, /* in the spill file: ref.val is its location, ref.size
			       * the payload (FL_PAGE_SIZE: kept raw) */
};

/* A reference to a stored page, kept by the caller (16 bytes). */
struct fl_store_ref {
	uint64_t val;
	uint32_t kind;     /* enum fl_store_kind; 0 = empty */
	uint32_t size;     /* payload bytes (0 for SAME) */
};

struct fl_store_config {
	enum fl_compressor compressor;
	int level;              /* zstd level (1..19); ignored for lz4 */
	uint64_t capacity;      /* max bytes of slab memory; 0 = default (1/2 RAM) */
};

struct fl_store_stats {
	uint64_t pages_same;     /* pages held as same-filled */
	uint64_t pages_comp;     /* pages held compressed */
	uint64_t pages_raw;      /* pages held raw (incompressible) */
	uint64_t payload_bytes;  /* sum of payload sizes of held pages */
	uint64_t slot_bytes;     /* sum of slot sizes of held pages */
	uint64_t slab_bytes;     /* bytes of slabs currently in use */
	uint64_t capacity;
	uint64_t puts, gets, drops, full_rejects;
	struct fl_spill_stats spill; /* the spill file (zero without one) */
};

struct fl_store;
struct fl_store_ctx;

/* Create a store.  Returns NULL with *err set to a code on failure. */
struct fl_store *fl_store_create(const struct fl_store_config *cfg, int *err);
void fl_store_destroy(struct fl_store *st);

/* Per-thread compression context (work memory from raw mmap). */
struct fl_store_ctx *fl_store_ctx_create(struct fl_store *st);
void fl_store_ctx_destroy(struct fl_store_ctx *ctx);

/*
 * Is the page one 8-byte word repeated?  If so store the word in *word.
 * Exposed for the pager's fast paths and for tests.
 */
int fl_store_same_filled(const void *page, uint64_t *word);

/* Store one page.  On success fills *ref and returns 0. */
int fl_store_put(struct fl_store_ctx *ctx, const void *page,
		 struct fl_store_ref *ref);

/* Rebuild the page into out (FL_PAGE_SIZE bytes).  Does not drop it. */
int fl_store_get(struct fl_store_ctx *ctx, const struct fl_store_ref *ref,
		 void *out);
/*
 * Rebuild n pages into out (n * FL_PAGE_SIZE bytes), page i from the
 * reference at (char *)first + i * stride (a reference inside each of an
 * array of structs).  Spilled payloads that lie near one another in the
 * spill file are read with one read.  Returns how many were rebuilt, from
 * the first; when fewer than n, *err is why the next one was not (else 0).
 */
size_t fl_store_get_many(struct fl_store_ctx *ctx, const struct fl_store_ref *first, size_t stride,
			 size_t n, void *out, int *err);

/* Release what ref holds.  ref is cleared. */
void fl_store_drop(struct fl_store *st, struct fl_store_ref *ref);

void fl_store_stats(struct fl_store *st, struct fl_store_stats *out);

/* In a forked child that keeps its parent's store (async-signal-safe):
 * the lock is free (no other thread of the parent's came along). */
void fl_store_fork_child(struct fl_store *st);

/*
 * The spill file (spill.h): payloads beyond the store's capacity go to a
 * file without a name in dir, at most max_bytes of it.  0, or
 * FL_STORE_ENOMEM.
 */
int fl_store_spill_setup(struct fl_store *st, const char *dir, uint64_t max_bytes);
/* Is there one? */
int fl_store_can_spill(const struct fl_store *st);
/* Bytes of slab memory the store may still take, and its capacity into
 * *cap. */
uint64_t fl_store_room(struct fl_store *st, uint64_t *cap);
/*
 * Move n held pages (FL_STORE_COMP or FL_STORE_RAW references, which the
 * caller keeps from changing) to the spill file in one write, packed into
 * buf (n * FL_PAGE_SIZE bytes, the caller's, aligned to a page).  On success each refs[i] is
 * FL_STORE_SPILLED and its slot is free: 0.  On failure nothing changes:
 * FL_STORE_ESPILL with *sys_errno the reason (ENOSPC: the cap or the disk
 * is full), or FL_STORE_EINVAL.
 */
int fl_store_spill(struct fl_store_ctx *ctx, struct fl_store_ref *refs, size_t n, void *buf,
		   int *sys_errno);
/* Before fork (the caller makes sure no spill is under way). */
void fl_store_fork_prepare(struct fl_store *st);
/* Is fd the store's (a spill file)? */
int fl_store_owns_fd(const struct fl_store *st, int fd);

/*
 * Fragmentation: 1 - payload_bytes / slab_bytes, in [0, 1]; 0 when empty.
 * Counts both slot rounding and free slots in partly used slabs.
 */
double fl_store_fragmentation(const struct fl_store_stats *s);

#endif
