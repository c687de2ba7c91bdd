/*
 * What the pager core shares with its engines: the managed region record
 * and the per-page state table.  Neither lives in managed memory; both come
 * from raw mmap.
 */
#ifndef FL_PAGER_INT_H
#define FL_PAGER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define FL_PAGE_SHIFT 12

/* Page states (low bits of fl_page.meta). */
enum fl_page_state {
	FL_PG_UNTOUCHED = 0,  /* never touched (or discarded): reads as zero */
	FL_PG_RESIDENT = 1,   /* mapped in the program */
	FL_PG_INACTIVE = 2,   /* moved out, held uncompressed (slot) */
	FL_PG_COMPRESSED = 3, /* in the store with a payload (ref) */
	FL_PG_SAME = 4,       /* in the store as one repeated word (ref) */
};
#define FL_PG_STATE_MASK 7u
#define FL_PG_BUSY 8u       /* the evictor is compressing it: wait */
#define FL_PG_REF 16u       /* faulted on since the clock last passed */
#define FL_PG_PREFILLED 32u /* filled by fault-around or readahead */
#define FL_PG_PINNED 64u    /* no longer managed (fallback fill): never evict */
/*
 * The program's protection of the page (mprotect), stored as prot XOR
 * (PROT_READ | PROT_WRITE) so that zero means read-write, the common case.
 * Only read-write pages are evicted.
 */
#define FL_PG_PROT_SHIFT 8
#define FL_PG_PROT_MASK (7u << FL_PG_PROT_SHIFT)

struct fl_page {
	uint32_t meta;
	uint32_t slot;          /* INACTIVE: engine slot */
	struct fl_store_ref ref;/* COMPRESSED / SAME */
};

struct fl_region {
	uintptr_t base;
	size_t len;
	size_t npages;
	struct fl_page *pages;
	size_t pages_bytes;
	uint32_t id;
	uint32_t gen;
	int kind;               /* who asked for it (FL_REGION_*), for reports */
	/* first-touch fault-around: the page after the last fill (a stream
	 * going up continues there) and the first page of it (one going down
	 * continues just below) */
	size_t fa_next;
	size_t fa_low;
	unsigned fa_win;
	/* refault readahead */
	size_t ra_next;
	unsigned ra_win;
	/* resident pages of this region (the clock skips regions without) */
	size_t n_resident;
	/* pages outside [t_lo, t_hi) are all UNTOUCHED (the state publisher
	 * skips them: jemalloc reserves gigabytes and touches megabytes) */
	size_t t_lo, t_hi;
};

/* Region kinds, for reporting. */
enum { FL_REGION_PLAIN = 0, FL_REGION_ALLOCATOR = 1, FL_REGION_PROGRAM = 2 };

/* The mprotect value a page's protection bits stand for. */
static inline int fl__pg_prot(const struct fl_page *p)
{
	return (int)(((p->meta & FL_PG_PROT_MASK) >> FL_PG_PROT_SHIFT) ^ 3u);
}

static inline void fl__pg_set_prot(struct fl_page *p, int prot)
{
	p->meta = (p->meta & ~FL_PG_PROT_MASK) | ((((unsigned)prot & 7u) ^ 3u) << FL_PG_PROT_SHIFT);
}

static inline unsigned fl__pg_state(const struct fl_page *p)
{
	return p->meta & FL_PG_STATE_MASK;
}

static inline void fl__pg_set_state(struct fl_page *p, unsigned st)
{
	p->meta = (p->meta & ~FL_PG_STATE_MASK) | st;
}

/*
 * mprotect pages [pg, pg+n) of r, run by run, with the protection the
 * program gave each (skip_rw: leave read-write runs as they are).  0 or -1.
 */
int fl__protect_runs(struct fl_region *r, size_t pg, size_t n, int skip_rw);

#endif
