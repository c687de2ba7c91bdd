/*
 * The pager's internals, shared by its files and its engines: the managed
 * region record, the per-page state table, the pager's one global state
 * (P) and the functions its files call across each other.  Neither regions
 * nor page tables live in managed memory; both come from raw mmap.
 *
 * The pager's files, bottom up: page.c (a page's state and its counters),
 * region.c (the region table), reclaim.c (clock, inactive list, evictor),
 * fault.c (fault resolution), vmops.c (mmap, munmap, madvise, mprotect,
 * mremap on managed memory), fork.c, pstats.c (statistics and the state
 * file's view), pager.c (start, engine choice, stop).  This header sits
 * above the engine contract (engine.h), which knows nothing of it.
 *
 * Locking: one lock (P.lock) guards the region table, every page table and
 * the counters.  The only work done outside it is the evictor's
 * compression, on pages it has marked BUSY; anyone else who meets a BUSY
 * page waits for it.
 */
#ifndef FL_PAGER_INT_H
#define FL_PAGER_INT_H

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "fl_assert.h"
#include "lock.h"
#include "pager.h"
#include "store.h"

#define FL_PAGE_SHIFT 12

struct fl_region_desc; /* events.h */

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
#define FL_PG_COW 128u      /* write-protected since a fork: a write is a COW fault */
#define FL_PG_SNAP (1u << 11) /* write-protected for a snapshot, not copied yet */
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
	/* spill faults: the last one's page, and how often lately the next
	 * came near it (0..3: its neighbours are read with it from 2 on) */
	size_t sp_last;
	unsigned sp_near;
	/* resident pages of this region (the clock skips regions without) */
	size_t n_resident;
	/* pages outside [t_lo, t_hi) are all UNTOUCHED (the state publisher
	 * skips them: jemalloc reserves gigabytes and touches megabytes) */
	size_t t_lo, t_hi;
};

/* Region kinds, for reporting: the managed values of enum fl_range_kind. */
enum {
	FL_REGION_PLAIN = FL_RANGE_PLAIN,
	FL_REGION_ALLOCATOR = FL_RANGE_ALLOCATOR,
	FL_REGION_PROGRAM = FL_RANGE_PROGRAM,
	FL_REGION_COMMITTED = FL_RANGE_COMMITTED, /* a committed piece of a reservation */
};

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

/* Only for a page's own bookkeeping (page.c); everyone else moves pages
 * with fl__page_move, which keeps the counters and checks the edge. */
static inline void fl__pg_set_state(struct fl_page *p, unsigned st)
{
	p->meta = (p->meta & ~FL_PG_STATE_MASK) | st;
}

/*
 * mprotect pages [pg, pg+n) of r, run by run, with the protection the
 * program gave each (skip_rw: leave read-write runs as they are).  0 or -1.
 */
int fl__protect_runs(struct fl_region *r, size_t pg, size_t n, int skip_rw);

/* ---- the pager's state ------------------------------------------------ */

#define MAX_REGIONS 65536u
#define EVICT_BATCH 32u

/* One entry of a page queue: a page, named so that a stale entry (its
 * region gone or renumbered, the page moved on) can be told. */
struct inq_entry {
	uint32_t id, gen;
	uint32_t slot;
	uint32_t pad;
	size_t pg;
};

/* A FIFO of pages (reclaim.c: fl__ring_push, ring_pop). */
struct fl_ring {
	struct inq_entry *e;
	size_t cap, head, len;
};

struct fl_pager {
	int running;
	int degraded;
	const struct fl_engine *eng;
	struct fl_engine_caps caps;
	enum fl_engine_kind kind;
	char reason[600];
	struct fl_pager_config cfg;
	fl_lock_t lock;

	struct fl_region *pool;        /* MAX_REGIONS records, by id */
	uint32_t *free_ids;
	uint32_t nfree_ids;
	struct fl_region **sorted;     /* live regions by base */
	size_t nregions;

	struct fl_store *store;
	struct fl_store_ctx *ctx_fault;
	struct fl_store_ctx *ctx_evict;
	unsigned char *bounce;         /* fault path: decompressed pages */
	size_t bounce_pages;
	unsigned char *scratch;        /* (EVICT_BATCH + 1) pages for peek() */

	uint64_t budget, low_free, high_free, inactive_target;

	/* counters (under lock; read racily by stats) */
	uint64_t managed_pages, resident, inactive, compressed, same, peak;
	uint64_t faults[FL_FAULT__COUNT];
	uint64_t prefilled, readahead, evicted, deactivated, direct_reclaims, errors;
	uint64_t fault_ns;
	enum fl_pressure pressure, pressure_peak;
	uint64_t critical_until_ns;

	/* inactive FIFO (full: the oldest entry goes) */
	struct fl_ring inq;
	/* compressed pages, oldest first (those the spill file takes first;
	 * full: newer ones are left to the spill hand's walk) */
	struct fl_ring cq;
	size_t spill_hand_region, spill_hand_page;
	uint64_t spill_retry_ns; /* after a spill error: not before then */
	int spill_warned;
	int store_warned;        /* "the store refused a page" said */

	/* clock hand */
	size_t hand_region, hand_page;

	/* evictor */
	pthread_t evictor;
	int evictor_started;
	int evictor_stop;
	int evict_seq; /* futex word */
	int store_full;
	size_t busy; /* pages the evictor is compressing */
	int rearm_pending;
	/* fork.c: /proc/self/pagemap, and when to lift protections that
	 * guard nothing */
	int pagemap_fd;
	unsigned cow_breaks, cow_excl_breaks, cow_walk_after;
	/* fork.c: a fork that leaves evicted pages out (caps.fork_handoff):
	 * under way from prepare to parent (handlers read it without the
	 * lock), its socket pair (0 the parent's end, 1 the child's), and in
	 * the child, handoff: a descriptor taken over, not yet served here */
	int forking;
	int fork_sock[2];
	int handoff;
};

/* One pager per process (pager.c); every file of the pager calls it P. */
extern struct fl_pager fl__pager;
#define P fl__pager

static inline size_t fl__round_pages(size_t len)
{
	return (len + FL_PAGE_SIZE - 1) & ~(size_t)(FL_PAGE_SIZE - 1);
}

/* Pages the budget counts: resident and inactive (still in memory). */
static inline uint64_t fl__used_pages(void)
{
	return P.resident + P.inactive;
}

static inline void fl__note_error(void)
{
	P.errors++;
}

static inline void fl__note_used(void)
{
	uint64_t u = fl__used_pages();
	if (u > P.peak)
		P.peak = u;
}

/* ---- the pager lock ------------------------------------------------------ */

/* Let the evictor (or whoever holds a page BUSY) run, then take the lock
 * again: everything read under the lock before must be looked up anew. */
static inline void fl__pager_yield_lock(void)
{
	fl_unlock(&P.lock);
	sched_yield();
	fl_lock(&P.lock);
}

/*
 * P.lock for an API call.  With an engine that resolves faults in the
 * faulting thread (signal, uffd-sigbus), faults are resolved under P.lock
 * in a signal handler: a program thread inside an API call holds P.lock,
 * and a signal handler of the program's that touched managed memory there
 * would wait for itself.  So API calls block signals while they hold the
 * lock, all but the engine's fault signal.
 */
static inline void fl__pager_api_lock(sigset_t *old)
{
	if (P.caps.fault_signal) {
		sigset_t all;
		sigfillset(&all);
		sigdelset(&all, P.caps.fault_signal);
		pthread_sigmask(SIG_SETMASK, &all, old);
	}
	fl_lock(&P.lock);
}

static inline void fl__pager_api_unlock(sigset_t *old)
{
	fl_unlock(&P.lock);
	if (P.caps.fault_signal)
		pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* ---- page.c: one page's state ------------------------------------------ */

/* Move page p of r to state st: counters, touched bounds, and (debug
 * builds) a check that the edge is one of the state machine's. */
void fl__page_move(struct fl_region *r, struct fl_page *p, unsigned st);
/* Page pg of r is (or may be) touched: widen r's touched bounds. */
void fl__page_touched(struct fl_region *r, size_t pg);
/* Free everything page pg holds outside the program's view; it becomes
 * UNTOUCHED (its protection stays). */
void fl__page_forget(struct fl_region *r, size_t pg);
/* A held copy (INACTIVE, COMPRESSED or SAME) changes owner from page s of
 * src to the UNTOUCHED page d of dst, contents untouched; s is left
 * UNTOUCHED.  Returns the state d now has. */
unsigned fl__page_carry(struct fl_region *src, struct fl_page *s, struct fl_region *dst,
			struct fl_page *d);

/* ---- region.c: the region table ---------------------------------------- */

/* The region containing addr, or NULL. */
struct fl_region *fl__region_lookup(uintptr_t addr);
/* The first region overlapping [a, b), or NULL. */
struct fl_region *fl__region_first_overlap(uintptr_t a, uintptr_t b);
/*
 * The next region overlapping [from, end) (of a walk over [a, end)), with
 * no BUSY page in the overlap: pages [*first, *last) of it, ending at
 * address *hi.  NULL when the walk is done.  May drop the lock to wait.
 */
struct fl_region *fl__region_next_overlap(uintptr_t a, uintptr_t end, uintptr_t from,
					  size_t *first, size_t *last, uintptr_t *hi);
/* Wait for a BUSY page with the lock dropped; returns the region again. */
struct fl_region *fl__region_wait_busy(uintptr_t addr);

/* fl__region_new's want_flags for taking over the existing range at want. */
#define REGION_ADOPT (1 << 30)
/*
 * Create a managed region with the lock held: a new mapping where want
 * and want_flags (0, MAP_FIXED, MAP_FIXED_NOREPLACE) say, or, with
 * REGION_ADOPT, the plain mapping already at want.  NULL with errno on
 * failure, leaving nothing behind.
 */
struct fl_region *fl__region_new(size_t len, uintptr_t want, int want_flags, int kind);
/* Unregister, announce and free a region whose pages hold nothing. */
void fl__region_free(struct fl_region *r);
/* A fresh record (no pages, not in the table), or NULL with errno. */
struct fl_region *fl__region_record(size_t npages, int kind);
void fl__region_record_free(struct fl_region *r);
/* Into the sorted table (no overlap with what is there). */
void fl__region_insert(struct fl_region *r);
/* A new table holding pages [from, from + n) of r's table. */
struct fl_page *fl__region_table_slice(struct fl_region *r, size_t from, size_t n, size_t *bytes);
/* Count r's resident pages and find its touched bounds again (after a
 * split or a trim). */
void fl__region_recount(struct fl_region *r);
/* Page indexes changed: old FIFO entries are stale, queue the pages again. */
/* Rebuild page states of an adopted range from what is present. */
void fl__region_adopt_states(struct fl_region *r);

/* The wire id of a region: nonzero, not reused while the process lives. */
uint64_t fl__region_wire_id(const struct fl_region *r);
/*
 * What the fault log and the state file say about r (events.h): the one
 * place a region record is turned into its outward description.
 */
void fl__region_describe(const struct fl_region *r, struct fl_region_desc *d);
/* Tell the fault log that r was created, changed or destroyed (op:
 * FL_WIRE_REGION_*). */
void fl__region_announce(uint32_t op, const struct fl_region *r);
/* Is the region with this wire id still there? */
int fl__region_alive(uint64_t id);
/*
 * For FL_ASSERT (defined in debug builds only): r's invariants hold (page
 * aligned, its resident count and touched bounds match its pages); every
 * region's do, they do not overlap, and the page counts of all regions
 * add up to the global counters.
 */
int fl__region_ok(const struct fl_region *r);
int fl__region_counts_ok(void);

/* ---- reclaim.c: the budget, the clock and the evictor ------------------ */

/* Make room for n more pages, evicting for the first must of them;
 * returns how many of the n fit (at least 1). */
size_t fl__reclaim_make_room(size_t n, size_t must);
/* Queue an inactive page for compression. */
void fl__reclaim_inq_push(struct fl_region *r, size_t pg, uint32_t slot);
/* r's page indexes changed: its queued entries are stale, queue its inactive pages again. */
void fl__reclaim_requeue(struct fl_region *r);
/* Pressure from the budget's headroom (now: the caller's clock reading);
 * each change goes to pressure.c. */
void fl__reclaim_update_pressure(uint64_t now);
/* Wait until the evictor holds no page BUSY (may drop the lock). */
void fl__reclaim_wait_idle(void);
void fl__reclaim_wake(void);
/* Start (if a budget wants it) and stop the evictor thread, and with it
 * the pressure notifier (pressure.h). */
void fl__reclaim_start(void);
void fl__reclaim_stop(void);

/* ---- fork.c ------------------------------------------------------------- */

/* Put every page of r that is out of the program's view back into it
 * (lock held, evictor idle). */
void fl__fork_bring_back(struct fl_region *r);
/* Lazily re-arm a forked child (see fl_pager_fork_child); a child that
 * took its parent's descriptor over re-arms from fl_pager_fork_child_late. */
void fl__fork_rearm(void);
/* The first write to page pg of r since fork (FL_PG_COW, lock held): let
 * it through to the kernel's copy.  0, or -1 with errno. */
int fl__cow_break(struct fl_region *r, size_t pg);
/* Start counting breaks afresh (a new pager, a fork's new protections). */
void fl__cow_reset(void);

/* ---- snapshot.c (lock held) ---------------------------------------------- */

/* Page pg of r (FL_PG_SNAP, resident) is about to change or leave: copy it
 * into its snapshot first and lift the snapshot's protection.  0 or -1
 * (the store refused it: the page stays as it is). */
int fl__snap_settle(struct fl_region *r, size_t pg);
/* Page pg is going away: settle it, or (settle 0: its contents are gone
 * already, the mapping was replaced) mark that page of the snapshot lost. */
void fl__snap_leave(struct fl_region *r, size_t pg, int settle);
/* Settle every snapshot page in [a, end) (its mapping is about to go). */
void fl__snap_settle_range(uintptr_t a, uintptr_t end);
/* In a forked child: snapshots are the parent's; none is usable here. */
void fl__snap_fork_child(void);

#endif
