/*
 * The pager core: managed regions and their page states, fault resolution
 * (fault-around on first touch, readahead on refault), the budget, the
 * clock that sends unreferenced pages through INACTIVE, and the evictor
 * thread that compresses them.  Engines (engine.h) do the platform work;
 * this file decides what is to be done.
 *
 * Locking: one lock (P.lock) guards the region table, every page table and
 * the counters.  The only work done outside it is the evictor's
 * compression, on pages it has marked BUSY; anyone else who meets a BUSY
 * page waits for it.
 */
#include "pager.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "events.h"
#include "faultline/state.h"
#include "lock.h"
#include "log.h"
#include "mem.h"
#include "pager_int.h"
#include "sys.h"
#include "clock.h"

#define PS FL_PAGE_SIZE
#define MAX_REGIONS 65536u
#define MIN_BUDGET_PAGES 32u
#define RANDOM_BLOCK 64u      /* first-touch block for non-sequential faults */
#define AHEAD_MAX 8u          /* streams with a window queued for filling ahead */
#define AHEAD_CHUNK 64u       /* pages filled ahead per lock hold */
#define EVICT_BATCH 32u
#define CLOCK_SCAN_MAX 8192u  /* pages looked at per lock hold */

struct inq_entry {
	uint32_t id, gen;
	uint32_t slot;
	uint32_t pad;
	size_t pg;
};

static struct {
	int running;
	int degraded;
	const struct fl_engine *eng;
	struct fl_engine_caps caps;
	enum fl_engine_kind kind;
	char reason[256];
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

	/* inactive FIFO */
	struct inq_entry *inq;
	size_t inq_cap, inq_head, inq_len;

	/* clock hand */
	size_t hand_region, hand_page;

	/* evictor */
	pthread_t evictor;
	int evictor_started;
	int evictor_stop;
	int evict_seq; /* futex word */
	int store_full;
	size_t busy; /* pages the evictor is compressing */
	/* first-touch streams' next windows, for the idle handler to fill */
	struct ahead {
		uint32_t id, gen;
		size_t lo, hi; /* pages still to fill */
		int down, write;
	} ahead[AHEAD_MAX];
	unsigned nahead;
	int rearm_pending;
} P = {.lock = FL_LOCK_INIT};

/* ---- small helpers ---------------------------------------------------- */

static size_t round_pages(size_t len)
{
	return (len + PS - 1) & ~(size_t)(PS - 1);
}

static uint64_t used_pages(void)
{
	return P.resident + P.inactive;
}

static void note_error(void)
{
	P.errors++;
}

static void set_pressure(enum fl_pressure p)
{
	P.pressure = p;
	if (p > P.pressure_peak)
		P.pressure_peak = p;
}

/* now: the caller's clock reading, so a fault reads the clock once. */
static void update_pressure(uint64_t now)
{
	if (!P.budget) {
		P.pressure = FL_PRESSURE_NORMAL;
		return;
	}
	uint64_t used = used_pages();
	uint64_t free_pages = used >= P.budget ? 0 : P.budget - used;
	if (P.critical_until_ns && now < P.critical_until_ns)
		set_pressure(FL_PRESSURE_CRITICAL);
	else if (free_pages < P.low_free)
		set_pressure(FL_PRESSURE_WARN);
	else
		set_pressure(FL_PRESSURE_NORMAL);
}

static void mark_critical(void)
{
	P.critical_until_ns = fl_mono_ns() + 200000000ull;
	set_pressure(FL_PRESSURE_CRITICAL);
}

static void note_used(void)
{
	uint64_t u = used_pages();
	if (u > P.peak)
		P.peak = u;
}

static void wake_evictor(void)
{
	if (!P.evictor_started)
		return;
	__atomic_add_fetch(&P.evict_seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &P.evict_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- region table ----------------------------------------------------- */

static struct fl_region *region_lookup(uintptr_t addr)
{
	size_t lo = 0, hi = P.nregions;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct fl_region *r = P.sorted[mid];
		if (addr < r->base)
			hi = mid;
		else if (addr >= r->base + r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

static void region_insert(struct fl_region *r)
{
	size_t i = P.nregions;
	while (i > 0 && P.sorted[i - 1]->base > r->base) {
		P.sorted[i] = P.sorted[i - 1];
		i--;
	}
	P.sorted[i] = r;
	P.nregions++;
}

static void region_remove(struct fl_region *r)
{
	for (size_t i = 0; i < P.nregions; i++) {
		if (P.sorted[i] == r) {
			memmove(&P.sorted[i], &P.sorted[i + 1],
				(P.nregions - i - 1) * sizeof P.sorted[0]);
			P.nregions--;
			break;
		}
	}
	if (P.hand_region >= P.nregions) {
		P.hand_region = 0;
		P.hand_page = 0;
	}
}

/* ---- page bookkeeping ------------------------------------------------- */

/* Add d (+1 or -1) to the counters of state st. */
static void count(struct fl_region *r, unsigned st, int d)
{
	switch (st) {
	case FL_PG_RESIDENT: P.resident += d; r->n_resident += d; break;
	case FL_PG_INACTIVE: P.inactive += d; break;
	case FL_PG_COMPRESSED: P.compressed += d; break;
	case FL_PG_SAME: P.same += d; break;
	default: break;
	}
}

/* Page pg of r is (or may be) touched: widen r's touched bounds. */
static void touched(struct fl_region *r, size_t pg)
{
	if (r->t_lo == r->t_hi) {
		r->t_lo = pg;
		r->t_hi = pg + 1;
	} else if (pg < r->t_lo) {
		r->t_lo = pg;
	} else if (pg >= r->t_hi) {
		r->t_hi = pg + 1;
	}
}

static void page_move(struct fl_region *r, struct fl_page *p, unsigned st)
{
	count(r, fl__pg_state(p), -1);
	fl__pg_set_state(p, st);
	count(r, st, +1);
	if (st != FL_PG_UNTOUCHED)
		touched(r, (size_t)(p - r->pages));
}

static void inq_push(struct fl_region *r, size_t pg, uint32_t slot)
{
	if (P.inq_len == P.inq_cap) {
		/* Full of stale entries: drop the oldest (its page is re-checked
		 * anyway, and a live inactive page still gets found by reclaim's
		 * fallback scan). */
		P.inq_head = (P.inq_head + 1) % P.inq_cap;
		P.inq_len--;
	}
	struct inq_entry *e = &P.inq[(P.inq_head + P.inq_len) % P.inq_cap];
	e->id = r->id;
	e->gen = r->gen;
	e->slot = slot;
	e->pg = pg;
	P.inq_len++;
}

/* Pop the oldest still-valid inactive page.  Returns 0 if none. */
static int inq_pop(struct fl_region **rp, size_t *pgp)
{
	while (P.inq_len) {
		struct inq_entry e = P.inq[P.inq_head];
		P.inq_head = (P.inq_head + 1) % P.inq_cap;
		P.inq_len--;
		if (e.id >= MAX_REGIONS)
			continue;
		struct fl_region *r = &P.pool[e.id];
		if (r->gen != e.gen || !r->pages || e.pg >= r->npages)
			continue;
		struct fl_page *p = &r->pages[e.pg];
		if (fl__pg_state(p) != FL_PG_INACTIVE || (p->meta & FL_PG_BUSY) || p->slot != e.slot)
			continue;
		*rp = r;
		*pgp = e.pg;
		return 1;
	}
	return 0;
}

/* ---- clock and eviction ----------------------------------------------- */

/*
 * Move one unreferenced resident page to INACTIVE, giving referenced ones a
 * second chance.  force: ignore reference bits (after a full pass found
 * nothing).  Returns 1 if a page was deactivated.
 */
static int clock_deactivate_one(int force, size_t *scanned)
{
	while (*scanned < CLOCK_SCAN_MAX && P.nregions) {
		if (P.hand_region >= P.nregions) {
			P.hand_region = 0;
			P.hand_page = 0;
		}
		struct fl_region *r = P.sorted[P.hand_region];
		if (P.hand_page >= r->npages || r->n_resident == 0) {
			P.hand_region++;
			P.hand_page = 0;
			(*scanned)++;
			continue;
		}
		size_t pg = P.hand_page++;
		(*scanned)++;
		struct fl_page *p = &r->pages[pg];
		if (fl__pg_state(p) != FL_PG_RESIDENT || (p->meta & (FL_PG_BUSY | FL_PG_PINNED)) ||
		    (p->meta & FL_PG_PROT_MASK))
			continue;
		if ((p->meta & FL_PG_REF) && !force) {
			p->meta &= ~FL_PG_REF;
			continue;
		}
		uint32_t slot;
		if (P.eng->take(r, pg, &slot) != 0) {
			note_error();
			FL_WARN("could not move a page out (%s); it stays resident", fl__errname(errno));
			p->meta |= FL_PG_REF;
			continue;
		}
		p->meta &= ~(FL_PG_REF | FL_PG_PREFILLED);
		p->slot = slot;
		page_move(r, p, FL_PG_INACTIVE);
		inq_push(r, pg, slot);
		P.deactivated++;
		return 1;
	}
	return 0;
}

static void refill_inactive(size_t want)
{
	size_t scanned = 0;
	size_t got = 0;
	while (got < want && P.resident && scanned < CLOCK_SCAN_MAX) {
		if (clock_deactivate_one(0, &scanned))
			got++;
	}
}

/* Store an inactive page's contents; the caller holds what it needs. */
static void finish_compress(struct fl_region *r, size_t pg, struct fl_store_ref *ref)
{
	struct fl_page *p = &r->pages[pg];
	P.eng->release(r, pg, p->slot);
	p->slot = 0;
	p->ref = *ref;
	p->meta &= ~(FL_PG_BUSY | FL_PG_REF | FL_PG_PREFILLED);
	page_move(r, p, ref->kind == FL_STORE_SAME ? FL_PG_SAME : FL_PG_COMPRESSED);
	P.evicted++;
}

/*
 * Evict one page with the lock held (direct reclaim): the oldest inactive
 * page, or, when there is none, one the clock picks.  Returns 1 if a page
 * left memory.
 */
static int reclaim_one_locked(void)
{
	struct fl_region *r;
	size_t pg;
	if (!inq_pop(&r, &pg)) {
		size_t scanned = 0;
		if (!clock_deactivate_one(0, &scanned)) {
			scanned = 0;
			if (!clock_deactivate_one(1, &scanned))
				return 0;
		}
		if (!inq_pop(&r, &pg))
			return 0;
	}
	struct fl_page *p = &r->pages[pg];
	struct fl_store_ref ref;
	const void *src = P.eng->peek(r, pg, p->slot, P.scratch + EVICT_BATCH * PS);
	int rc = src ? fl_store_put(P.ctx_fault, src, &ref) : FL_STORE_EINVAL;
	if (rc != 0) {
		/* Store full or broken: the page stays inactive, in memory. */
		inq_push(r, pg, p->slot);
		if (!P.store_full)
			FL_WARN("compressed store refused a page (%d): budget cannot be held", rc);
		P.store_full = 1;
		mark_critical();
		return 0;
	}
	finish_compress(r, pg, &ref);
	return 1;
}

/*
 * Make room for n more pages under the budget, evicting for the first
 * `must` of them (the faulting page and, for a sequential stream, the
 * whole window: a round trip costs more than the compressions) and
 * trimming the rest to what fits.  Returns how many of the n fit (at least
 * 1: the faulting page is always served, even over budget).
 */
static size_t make_room(size_t n, size_t must)
{
	if (!P.budget)
		return n;
	/* A window is never worth evicting a quarter of the budget for. */
	size_t cap = P.budget / 4 ? P.budget / 4 : 1;
	if (must > cap)
		must = cap;
	if (must < 1)
		must = 1;
	if (must > n)
		must = n;
	int reclaimed = 0;
	while (used_pages() + must > P.budget) {
		if (!reclaim_one_locked())
			break;
		reclaimed = 1;
	}
	if (used_pages() + n > P.budget) {
		size_t room = used_pages() < P.budget ? P.budget - used_pages() : 0;
		n = room > must ? room : must;
	}
	if (reclaimed)
		P.direct_reclaims++;
	if (reclaimed || used_pages() + n > P.budget)
		mark_critical();
	if (used_pages() + n + P.low_free > P.budget)
		wake_evictor();
	return n ? n : 1;
}

static int cut_range_locked(uintptr_t a, size_t len, int unmap);
static void start_evictor(void);

/* ---- fault resolution ------------------------------------------------- */

/* Let the evictor (or whoever holds a page BUSY) run, then take the lock
 * again: everything read under the lock before must be looked up anew. */
static void yield_lock(void)
{
	fl_unlock(&P.lock);
	sched_yield();
	fl_lock(&P.lock);
}

/* Wait until the evictor holds no page BUSY. */
static void wait_evictor_idle(void)
{
	while (P.busy)
		yield_lock();
}

/* Wait for a BUSY page with the lock dropped; returns the region again. */
static struct fl_region *wait_busy(uintptr_t addr)
{
	yield_lock();
	return region_lookup(addr);
}

/* What the fault being resolved did, for the fault log (lock held). */
static struct fl_fault_info *cur_fault;

static void note_fault(struct fl_region *r, unsigned kind, size_t pages)
{
	if (!cur_fault)
		return;
	cur_fault->region = fl__region_wire_id(r);
	cur_fault->kind = (uint8_t)kind;
	cur_fault->pages = pages > 0xffff ? 0xffff : (uint16_t)pages;
	cur_fault->resolved = 1;
}

/* Pages [a, b) of r were just filled with zeros (frc from fill_zero):
 * resident, the faulting page pg referenced, the others prefilled. */
static void zero_filled(struct fl_region *r, size_t a, size_t b, int frc, size_t pg)
{
	for (size_t i = a; i < b; i++) {
		struct fl_page *p = &r->pages[i];
		if (frc > 0)
			p->meta |= FL_PG_PINNED;
		p->meta |= i == pg ? FL_PG_REF : FL_PG_PREFILLED;
		page_move(r, p, FL_PG_RESIDENT);
	}
}

/*
 * Fill-ahead.  A stream at the full window (the program has written a few
 * MiB front to back, or back to front) gets its next window queued; the
 * uffd handler fills it in chunks while it has no fault to serve, so the
 * program's next touches find their pages there: the zeroing moves off
 * the program's critical path onto an otherwise idle CPU, and the round
 * trips halve.  Only free room under the budget is used (never an
 * eviction), and a stream that ended leaves at most one window of zero
 * pages resident.
 */
static void queue_ahead(struct fl_region *r, int down, int write)
{
	size_t lo, hi;
	if (down) {
		hi = r->fa_low;
		lo = hi > r->fa_win ? hi - r->fa_win : 0;
	} else {
		lo = r->fa_next;
		hi = lo + r->fa_win < r->npages ? lo + r->fa_win : r->npages;
	}
	if (lo >= hi)
		return;
	unsigned i;
	for (i = 0; i < P.nahead; i++)
		if (P.ahead[i].id == r->id && P.ahead[i].down == down)
			break;
	if (i == AHEAD_MAX) {
		/* Full: the oldest stream gives way. */
		memmove(&P.ahead[0], &P.ahead[1], (AHEAD_MAX - 1) * sizeof P.ahead[0]);
		i = AHEAD_MAX - 1;
	} else if (i == P.nahead) {
		__atomic_store_n(&P.nahead, P.nahead + 1, __ATOMIC_RELAXED);
	}
	P.ahead[i] = (struct ahead){.id = r->id, .gen = r->gen, .lo = lo, .hi = hi,
				    .down = down, .write = write};
}

static void ahead_pop(void)
{
	memmove(&P.ahead[0], &P.ahead[1], (P.nahead - 1) * sizeof P.ahead[0]);
	__atomic_store_n(&P.nahead, P.nahead - 1, __ATOMIC_RELAXED);
}

int fl__pager_fill_ahead(void)
{
	if (!__atomic_load_n(&P.nahead, __ATOMIC_RELAXED))
		return 0;
	fl_lock(&P.lock);
	while (P.nahead) {
		struct ahead *q = &P.ahead[0];
		struct fl_region *r = &P.pool[q->id];
		size_t k = 0;
		/* Still the same region, and the stream still ends where the
		 * window starts (a fault elsewhere moved it: drop). */
		if (P.running && r->pages && r->gen == q->gen && q->hi <= r->npages &&
		    (q->down ? r->fa_low == q->hi : r->fa_next == q->lo)) {
			size_t max = q->hi - q->lo < AHEAD_CHUNK ? q->hi - q->lo : AHEAD_CHUNK;
			if (P.budget) {
				uint64_t used = used_pages() + P.low_free;
				uint64_t room = used < P.budget ? P.budget - used : 0;
				if (room < max)
					max = (size_t)room;
			}
			size_t edge = q->down ? q->hi - 1 : q->lo;
			while (k < max && fl__pg_state(&r->pages[q->down ? edge - k : edge + k]) ==
						  FL_PG_UNTOUCHED)
				k++;
		}
		if (k == 0) {
			ahead_pop();
			continue;
		}
		size_t a = q->down ? q->hi - k : q->lo;
		int frc = P.eng->fill_zero(r, a, k, q->write);
		if (frc < 0) {
			ahead_pop();
			break;
		}
		zero_filled(r, a, a + k, frc, SIZE_MAX);
		if (q->down) {
			q->hi -= k;
			r->fa_low = q->hi;
		} else {
			q->lo += k;
			r->fa_next = q->lo;
		}
		P.prefilled += k;
		note_used();
		if (q->lo >= q->hi)
			ahead_pop();
		break;
	}
	int more = P.nahead != 0;
	fl_unlock(&P.lock);
	return more;
}

static int resolve_untouched(struct fl_region *r, size_t pg, int write)
{
	size_t start = pg, n;
	int fill_write, stream = 0;
	unsigned maxw = P.cfg.fault_around_max;
	/* A stream going up continues at fa_next; one going down (GNU sort
	 * fills its line table from the top of its buffer) just below fa_low. */
	if (r->fa_win && pg == r->fa_next)
		stream = 1;
	else if (r->fa_win && pg + 1 == r->fa_low)
		stream = -1;
	if (stream) {
		/* The stream continues: grow the window, fill ahead of it. */
		unsigned w = r->fa_win * 2;
		r->fa_win = w > maxw ? maxw : w;
		if (stream < 0)
			start = pg + 1 > r->fa_win ? pg + 1 - r->fa_win : 0;
		n = stream > 0 ? r->fa_win : pg + 1 - start;
		fill_write = write;
	} else {
		/* Not sequential: fill an aligned block.  A read maps the
		 * zero page, which costs no memory until the program writes;
		 * a write gets real zeroed pages: each write to a zero page
		 * would be a second fault whose copy flushes the TLB of every
		 * CPU running the program's threads (an IPI a page: the
		 * 4-thread malloc benchmark ran at half speed). */
		unsigned blk = RANDOM_BLOCK < maxw ? RANDOM_BLOCK : maxw;
		start = pg & ~(size_t)(blk - 1);
		n = blk;
		fill_write = write;
		/* A touch just past the block continues from its size: a
		 * 1 MiB arena filled front to back takes 3 round trips, not 8. */
		r->fa_win = blk;
	}
	if (start + n > r->npages)
		n = r->npages - start;
	/* Only a run of untouched pages can be filled in one call. */
	size_t a = pg;
	while (a > start && fl__pg_state(&r->pages[a - 1]) == FL_PG_UNTOUCHED)
		a--;
	size_t b = pg + 1;
	while (b < start + n && fl__pg_state(&r->pages[b]) == FL_PG_UNTOUCHED)
		b++;
	size_t want = b - a;
	size_t fit = make_room(want, fill_write ? want : 1);
	if (fit < want) {
		/* Over budget: keep the faulting page, trim the prefill. */
		a = pg;
		b = pg + fit < b ? pg + fit : b;
	}
	int frc = P.eng->fill_zero(r, a, b - a, fill_write);
	if (frc < 0)
		return -1;
	zero_filled(r, a, b, frc, pg);
	r->fa_next = b;
	r->fa_low = a;
	if (stream && r->fa_win == maxw && maxw > 1 && P.caps.fill_ahead)
		queue_ahead(r, stream < 0, fill_write);
	P.faults[FL_FAULT_FIRST_TOUCH]++;
	note_fault(r, FL_FAULT_FIRST_TOUCH, b - a);
	P.prefilled += (b - a) - 1;
	note_used();
	return 0;
}

/* Grow or reset the refault readahead window of a region. */
static size_t readahead_window(struct fl_region *r, size_t pg)
{
	unsigned maxw = P.cfg.readahead_max;
	if (pg == r->ra_next && r->ra_win) {
		unsigned w = r->ra_win * 2;
		r->ra_win = w > maxw ? maxw : w;
	} else {
		r->ra_win = 1;
	}
	return r->ra_win;
}

static int resolve_inactive(struct fl_region *r, size_t pg)
{
	size_t w = readahead_window(r, pg);
	size_t end = pg + w > r->npages ? r->npages : pg + w;
	size_t i;
	for (i = pg; i < end; i++) {
		struct fl_page *p = &r->pages[i];
		if (fl__pg_state(p) != FL_PG_INACTIVE || (p->meta & FL_PG_BUSY))
			break;
		int grc = P.eng->give(r, i, p->slot);
		if (grc < 0) {
			if (i == pg)
				return -1;
			break;
		}
		if (grc > 0)
			p->meta |= FL_PG_PINNED;
		p->slot = 0;
		p->meta |= (i == pg) ? FL_PG_REF : FL_PG_PREFILLED;
		page_move(r, p, FL_PG_RESIDENT);
	}
	r->ra_next = i;
	P.faults[FL_FAULT_SOFT]++;
	note_fault(r, FL_FAULT_SOFT, i - pg);
	P.readahead += (i - pg) - 1;
	return 0;
}

static int resolve_stored(struct fl_region *r, size_t pg)
{
	unsigned first = fl__pg_state(&r->pages[pg]);
	size_t w = readahead_window(r, pg); /* <= readahead_max == bounce_pages */
	size_t end = pg + w > r->npages ? r->npages : pg + w;
	size_t n = 0;
	while (pg + n < end) {
		struct fl_page *p = &r->pages[pg + n];
		unsigned st = fl__pg_state(p);
		if ((st != FL_PG_COMPRESSED && st != FL_PG_SAME) || (p->meta & FL_PG_BUSY))
			break;
		n++;
	}
	n = make_room(n, n);
	for (size_t i = 0; i < n; i++) {
		struct fl_page *p = &r->pages[pg + i];
		int rc = fl_store_get(P.ctx_fault, &p->ref, P.bounce + i * PS);
		if (rc != 0) {
			note_error();
			FL_WARN("store could not rebuild a page at %p (%d)",
				(void *)(r->base + (pg + i) * PS), rc);
			if (i == 0)
				return -1;
			n = i;
			break;
		}
	}
	int frc = P.eng->fill_copy(r, pg, n, P.bounce);
	if (frc < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct fl_page *p = &r->pages[pg + i];
		if (frc > 0)
			p->meta |= FL_PG_PINNED;
		fl_store_drop(P.store, &p->ref);
		p->meta |= (i == 0) ? FL_PG_REF : FL_PG_PREFILLED;
		page_move(r, p, FL_PG_RESIDENT);
	}
	r->ra_next = pg + n;
	P.faults[first == FL_PG_SAME ? FL_FAULT_SAME_FILLED : FL_FAULT_DECOMPRESS]++;
	note_fault(r, first == FL_PG_SAME ? FL_FAULT_SAME_FILLED : FL_FAULT_DECOMPRESS, n);
	P.readahead += n - 1;
	note_used();
	return 0;
}

int fl__pager_fault(uintptr_t addr, int write, struct fl_fault_info *fi)
{
	uint64_t t0 = fl_mono_ns();
	fl_lock(&P.lock);
	if (fi)
		fi->resolved = 0;
	cur_fault = fi;
	struct fl_region *r = region_lookup(addr);
	int rc = 0;
	for (;;) {
		if (!r) {
			cur_fault = NULL;
			fl_unlock(&P.lock);
			return 1;
		}
		size_t pg = (addr - r->base) >> FL_PAGE_SHIFT;
		struct fl_page *p = &r->pages[pg];
		int prot = fl__pg_prot(p);
		if (!(prot & PROT_READ) || (write && !(prot & PROT_WRITE))) {
			/* The program's own protection says no: its fault. */
			cur_fault = NULL;
			fl_unlock(&P.lock);
			return 1;
		}
		if (p->meta & FL_PG_BUSY) {
			r = wait_busy(addr);
			cur_fault = fi; /* another fault may have run meanwhile */
			continue;
		}
		switch (fl__pg_state(p)) {
		case FL_PG_UNTOUCHED:
			rc = resolve_untouched(r, pg, write);
			break;
		case FL_PG_INACTIVE:
			rc = resolve_inactive(r, pg);
			break;
		case FL_PG_COMPRESSED:
		case FL_PG_SAME:
			rc = resolve_stored(r, pg);
			break;
		default:
			/* Already resident: another thread's fault won the race. */
			p->meta |= FL_PG_REF;
			P.eng->wake(addr & ~(uintptr_t)(PS - 1), PS);
			break;
		}
		break;
	}
	if (rc != 0)
		note_error();
	uint64_t t1 = fl_mono_ns();
	P.fault_ns += t1 - t0;
	cur_fault = NULL;
	if (fi) {
		fi->t_ns = t1;
		fi->latency_ns = t1 - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
	}
	update_pressure(t1);
	fl_unlock(&P.lock);
	return rc;
}

/* ---- evictor thread --------------------------------------------------- */

static int evict_batch(void)
{
	struct {
		struct fl_region *r;
		size_t pg;
		const void *src;
		struct fl_store_ref ref;
		int rc;
	} b[EVICT_BATCH];
	size_t n = 0;

	fl_lock(&P.lock);
	if (P.inactive < P.inactive_target + EVICT_BATCH)
		refill_inactive(P.inactive_target + EVICT_BATCH - P.inactive);
	while (n < EVICT_BATCH) {
		struct fl_region *r;
		size_t pg;
		if (!inq_pop(&r, &pg))
			break;
		struct fl_page *p = &r->pages[pg];
		p->meta |= FL_PG_BUSY;
		P.busy++;
		b[n].r = r;
		b[n].pg = pg;
		b[n].src = P.eng->peek(r, pg, p->slot, P.scratch + n * PS);
		n++;
	}
	fl_unlock(&P.lock);
	if (!n)
		return 0;

	for (size_t i = 0; i < n; i++)
		b[i].rc = b[i].src ? fl_store_put(P.ctx_evict, b[i].src, &b[i].ref) : FL_STORE_EINVAL;

	int done = 0;
	fl_lock(&P.lock);
	for (size_t i = 0; i < n; i++) {
		struct fl_page *p = &b[i].r->pages[b[i].pg];
		P.busy--;
		if (b[i].rc == 0) {
			finish_compress(b[i].r, b[i].pg, &b[i].ref);
			done++;
		} else {
			p->meta &= ~FL_PG_BUSY;
			inq_push(b[i].r, b[i].pg, p->slot);
			if (!P.store_full)
				FL_WARN("compressed store refused a page (%d): budget cannot be held",
					b[i].rc);
			P.store_full = 1;
			mark_critical();
		}
	}
	update_pressure(fl_mono_ns());
	fl_unlock(&P.lock);
	return done;
}

static void *evictor_main(void *arg)
{
	(void)arg;
	fl__events_own_thread((uintptr_t)evictor_main);
	int evicting = 0; /* hysteresis: between the watermarks */
	while (!__atomic_load_n(&P.evictor_stop, __ATOMIC_ACQUIRE)) {
		int seq = __atomic_load_n(&P.evict_seq, __ATOMIC_ACQUIRE);
		fl_lock(&P.lock);
		uint64_t used = used_pages();
		int full = P.store_full;
		fl_unlock(&P.lock);
		if (!evicting && used + P.low_free > P.budget)
			evicting = 1;
		if (evicting && used + P.high_free <= P.budget)
			evicting = 0;
		if (evicting && !full) {
			if (evict_batch() > 0)
				continue;
			evicting = 0;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		syscall(SYS_futex, &P.evict_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
		if (full) {
			/* Drops may have made room: try again now and then. */
			fl_lock(&P.lock);
			P.store_full = 0;
			fl_unlock(&P.lock);
		}
	}
	return NULL;
}

/* ---- public API ------------------------------------------------------- */

/*
 * With the signal engine, faults are resolved under P.lock in the faulting
 * thread.  A program thread inside an API call holds P.lock; a signal
 * handler of the program's that touched managed memory there would wait for
 * itself.  So API calls block signals while they hold the lock.
 */
static void api_lock(sigset_t *old)
{
	if (P.kind == FL_ENGINE_SIGNAL) {
		sigset_t all;
		sigfillset(&all);
		sigdelset(&all, SIGSEGV);
		pthread_sigmask(SIG_SETMASK, &all, old);
	}
	fl_lock(&P.lock);
}

static void api_unlock(sigset_t *old)
{
	fl_unlock(&P.lock);
	if (P.kind == FL_ENGINE_SIGNAL)
		pthread_sigmask(SIG_SETMASK, old, NULL);
}

void fl_pager_config_default(struct fl_pager_config *cfg)
{
	struct fl_settings st;
	fl_settings_default(&st);
	*cfg = st.pager;
}

static int try_engine(const struct fl_engine *e, size_t stash, char *err, size_t errlen)
{
	memset(&P.caps, 0, sizeof P.caps);
	if (e->start(stash, &P.caps, err, errlen) != 0)
		return -1;
	P.eng = e;
	P.kind = e->kind;
	if (e->kind == FL_ENGINE_UFFD && !P.caps.kernel_faults)
		P.kind = FL_ENGINE_UFFD_USER;
	return 0;
}

static void setup_budget(void)
{
	uint64_t b = P.cfg.budget_bytes / PS;
	if (P.cfg.budget_bytes && b < MIN_BUDGET_PAGES) {
		FL_WARN("budget of %llu bytes is below the minimum; using %u pages",
			(unsigned long long)P.cfg.budget_bytes, MIN_BUDGET_PAGES);
		b = MIN_BUDGET_PAGES;
	}
	P.budget = b;
	P.low_free = b / 32 > 8 ? b / 32 : 8;
	P.high_free = b / 16 > 16 ? b / 16 : 16;
	if (P.high_free >= b / 2)
		P.high_free = b / 4;
	if (P.low_free >= P.high_free)
		P.low_free = P.high_free / 2;
	P.inactive_target = b / 8 > 16 ? b / 8 : 16;
	if (P.inactive_target > b / 2)
		P.inactive_target = b / 2;
}

static int pager_init(const struct fl_pager_config *cfg, char *err, size_t errlen);

int fl_pager_init(const struct fl_pager_config *cfg, char *err, size_t errlen)
{
	fl__in_shim++;
	int rc = pager_init(cfg, err, errlen);
	fl__in_shim--;
	return rc;
}

static int pager_init(const struct fl_pager_config *cfg, char *err, size_t errlen)
{
	char ebuf[256] = "";
	if (P.running) {
		snprintf(err, errlen, "pager already running");
		return -1;
	}
	if (cfg)
		P.cfg = *cfg;
	else
		fl_pager_config_default(&P.cfg);
	fl__log_level = P.cfg.log_level;
	/* A zero window (a config not from fl_pager_config_default) is the default one. */
	struct fl_pager_config dflt;
	fl_pager_config_default(&dflt);
	if (P.cfg.fault_around_max == 0)
		P.cfg.fault_around_max = dflt.fault_around_max;
	if (P.cfg.readahead_max == 0)
		P.cfg.readahead_max = dflt.readahead_max;
	/* Windows must be powers of two for the aligned blocks. */
	while (P.cfg.fault_around_max & (P.cfg.fault_around_max - 1))
		P.cfg.fault_around_max &= P.cfg.fault_around_max - 1;
	setup_budget();

	P.pool = fl__mem_alloc(MAX_REGIONS * sizeof *P.pool);
	P.sorted = fl__mem_alloc(MAX_REGIONS * sizeof *P.sorted);
	P.free_ids = fl__mem_alloc(MAX_REGIONS * sizeof *P.free_ids);
	P.bounce_pages = P.cfg.readahead_max;
	P.bounce = fl__mem_alloc(P.bounce_pages * PS);
	P.scratch = fl__mem_alloc((EVICT_BATCH + 1) * PS);
	P.inq_cap = (P.budget ? P.budget : 1024) * 2 + 64;
	P.inq = fl__mem_alloc(P.inq_cap * sizeof *P.inq);
	if (!P.pool || !P.sorted || !P.free_ids || !P.bounce || !P.inq || !P.scratch) {
		snprintf(err, errlen, "cannot map the pager's tables: %s", strerror(errno));
		goto fail;
	}
	P.nfree_ids = 0;
	for (uint32_t i = MAX_REGIONS; i > 0; i--)
		P.free_ids[P.nfree_ids++] = i - 1;

	struct fl_store_config sc = {
		.compressor = P.cfg.compressor,
		.level = P.cfg.compressor_level ? P.cfg.compressor_level : 1,
		.capacity = P.cfg.store_capacity,
	};
	int serr = 0;
	P.store = fl_store_create(&sc, &serr);
	if (!P.store) {
		snprintf(err, errlen, "cannot create the compressed store (error %d)", serr);
		goto fail;
	}
	P.ctx_fault = fl_store_ctx_create(P.store);
	P.ctx_evict = fl_store_ctx_create(P.store);
	if (!P.ctx_fault || !P.ctx_evict) {
		snprintf(err, errlen, "cannot create compression contexts");
		goto fail;
	}

	size_t stash = P.budget ? P.budget + 64 : 64;
	fl__uffd_spin_us = P.cfg.spin_us;
	enum fl_engine_choice ch = P.cfg.engine;
	int ok = -1;
	if (ch == FL_ENGINE_CHOICE_OFF) {
		snprintf(err, errlen, "engine off: memory is not managed");
		goto fail;
	}
	if (ch == FL_ENGINE_CHOICE_AUTO || ch == FL_ENGINE_CHOICE_UFFD) {
		ok = try_engine(&fl__engine_uffd, stash, ebuf, sizeof ebuf);
		if (ok == 0)
			snprintf(P.reason, sizeof P.reason, "%s", P.caps.detail);
		else if (ch == FL_ENGINE_CHOICE_UFFD) {
			snprintf(err, errlen, "userfaultfd engine unavailable: %s", ebuf);
			goto fail;
		}
	}
	if (ok != 0 && (ch == FL_ENGINE_CHOICE_AUTO || ch == FL_ENGINE_CHOICE_SIGNAL)) {
		char sbuf[256] = "";
		ok = try_engine(&fl__engine_signal, stash, sbuf, sizeof sbuf);
		if (ok == 0) {
			if (ch == FL_ENGINE_CHOICE_AUTO)
				snprintf(P.reason, sizeof P.reason,
					 "userfaultfd unavailable (%s); %s", ebuf, P.caps.detail);
			else
				snprintf(P.reason, sizeof P.reason, "asked for; %s", P.caps.detail);
		} else {
			snprintf(err, errlen, "no engine: userfaultfd: %s; signal: %s", ebuf, sbuf);
			goto fail;
		}
	}
	if (P.budget && !P.caps.can_evict)
		FL_WARN("engine %s cannot evict: the budget will not be held", P.eng->name);

	P.running = 1;
	P.degraded = 0;
	start_evictor();
	FL_INFO("engine %s: %s", P.eng->name, P.reason);
	return 0;

fail:
	if (P.ctx_fault)
		fl_store_ctx_destroy(P.ctx_fault);
	if (P.ctx_evict)
		fl_store_ctx_destroy(P.ctx_evict);
	if (P.store)
		fl_store_destroy(P.store);
	fl__mem_free(P.pool, MAX_REGIONS * sizeof *P.pool);
	fl__mem_free(P.sorted, MAX_REGIONS * sizeof *P.sorted);
	fl__mem_free(P.free_ids, MAX_REGIONS * sizeof *P.free_ids);
	fl__mem_free(P.bounce, P.bounce_pages * PS);
	fl__mem_free(P.scratch, (EVICT_BATCH + 1) * PS);
	fl__mem_free(P.inq, P.inq_cap * sizeof *P.inq);
	P.ctx_fault = P.ctx_evict = NULL;
	P.store = NULL;
	P.pool = NULL;
	P.sorted = NULL;
	P.free_ids = NULL;
	P.bounce = NULL;
	P.scratch = NULL;
	P.inq = NULL;
	P.eng = NULL;
	P.kind = FL_ENGINE_OFF;
	snprintf(P.reason, sizeof P.reason, "%s", err);
	return -1;
}

enum fl_engine_kind fl_pager_engine(void)
{
	/* A forked child re-arms at its next call into the pager: its engine
	 * is the parent's until then (the fault log's hello says so). */
	return P.running || P.rearm_pending ? P.kind : FL_ENGINE_OFF;
}

const char *fl_pager_engine_reason(void)
{
	return P.reason;
}

static void *plain_map_at(void *addr, size_t len, int flags)
{
	return fl__sys_mmap(addr, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
}

/* Lazily re-arm a forked child (see fl_pager_fork_child). */
static void rearm_if_needed(void);

/* A fresh region record (lock held), or NULL when all are in use. */
static struct fl_region *region_record(size_t npages, int kind)
{
	if (!P.nfree_ids) {
		errno = ENOMEM;
		return NULL;
	}
	uint32_t id = P.free_ids[--P.nfree_ids];
	struct fl_region *r = &P.pool[id];
	uint32_t gen = r->gen + 1;
	memset(r, 0, sizeof *r);
	r->id = id;
	r->gen = gen;
	r->kind = kind;
	r->npages = npages;
	r->len = npages * PS;
	return r;
}

static void region_record_free(struct fl_region *r)
{
	r->pages = NULL;
	r->gen++;
	P.free_ids[P.nfree_ids++] = r->id;
}

/* region_new's want_flags for taking over the existing range at want. */
#define REGION_ADOPT (1 << 30)

/*
 * Create a managed region with the lock held: a new mapping where want
 * and want_flags (0, MAP_FIXED, MAP_FIXED_NOREPLACE) say, or, with
 * REGION_ADOPT, the plain mapping already at want.  NULL with errno on
 * failure, leaving nothing behind.
 */
static struct fl_region *region_new(size_t len, uintptr_t want, int want_flags, int kind)
{
	struct fl_region *r = region_record(len / PS, kind);
	if (!r)
		return NULL;
	r->pages_bytes = round_pages(r->npages * sizeof(struct fl_page));
	r->pages = fl__mem_alloc(r->pages_bytes); /* zeroed: UNTOUCHED, read-write */
	int rc = -1;
	errno = ENOMEM;
	if (r->pages && want_flags == REGION_ADOPT) {
		r->base = want;
		rc = P.eng->region_adopt(r);
	} else if (r->pages) {
		rc = P.eng->region_create(r, want, want_flags);
	}
	if (rc != 0) {
		int e = errno;
		fl__mem_free(r->pages, r->pages_bytes);
		region_record_free(r);
		errno = e;
		return NULL;
	}
	region_insert(r);
	P.managed_pages += r->npages;
	fl__events_region(FL_WIRE_REGION_CREATE, r);
	return r;
}

static void region_free(struct fl_region *r)
{
	fl__events_region(FL_WIRE_REGION_DESTROY, r);
	region_remove(r);
	P.managed_pages -= r->npages;
	fl__mem_free(r->pages, r->pages_bytes);
	region_record_free(r);
}

static void adopt_states(struct fl_region *r);
static struct fl_region *first_overlap(uintptr_t a, uintptr_t b);

int fl_pager_adopt(void *addr, size_t len, int kind)
{
	uintptr_t a = (uintptr_t)addr;
	if (!P.running || P.degraded || !P.caps.adopt || (a & (PS - 1)) || len == 0) {
		errno = ENOTSUP;
		return -1;
	}
	len = round_pages(len);
	sigset_t oldmask;
	api_lock(&oldmask);
	int rc = -1;
	struct fl_region *r = NULL;
	if (first_overlap(a, a + len)) {
		errno = EEXIST;
	} else if ((r = region_new(len, a, REGION_ADOPT, kind)) != NULL) {
		adopt_states(r);
		rc = 0;
	}
	api_unlock(&oldmask);
	return rc;
}

void *fl_pager_map_at(void *addr, size_t len, int flags, int kind)
{
	if (len == 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	len = round_pages(len);
	rearm_if_needed();
	if (!P.running || P.degraded)
		return plain_map_at(addr, len, flags);
	int fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	sigset_t oldmask;
	api_lock(&oldmask);
	if (fixed & MAP_FIXED)
		cut_range_locked((uintptr_t)addr, len, 0);
	struct fl_region *r = region_new(len, (uintptr_t)addr, fixed, kind);
	int e = errno;
	api_unlock(&oldmask);
	if (r)
		return (void *)r->base;
	if (e == EEXIST && (fixed & MAP_FIXED_NOREPLACE)) {
		errno = EEXIST;
		return MAP_FAILED;
	}
	__atomic_add_fetch(&P.errors, 1, __ATOMIC_RELAXED);
	FL_WARN("cannot manage a mapping of %zu bytes (%s); it is left to the kernel",
		len, fl__errname(e));
	return plain_map_at(addr, len, flags);
}

void *fl_pager_map(size_t len)
{
	void *p = fl_pager_map_at(NULL, len, 0, FL_REGION_PLAIN);
	return p == MAP_FAILED ? NULL : p;
}

/* Free everything a page holds outside the program's view. */
static void page_forget(struct fl_region *r, size_t pg)
{
	struct fl_page *p = &r->pages[pg];
	switch (fl__pg_state(p)) {
	case FL_PG_INACTIVE:
		P.eng->release(r, pg, p->slot);
		break;
	case FL_PG_COMPRESSED:
	case FL_PG_SAME:
		fl_store_drop(P.store, &p->ref);
		break;
	default:
		break;
	}
	page_move(r, p, FL_PG_UNTOUCHED);
	/* The program's protection outlives the contents. */
	p->meta &= FL_PG_PROT_MASK;
	p->slot = 0;
}

/* Wait until no page in [a, b) of the region at addr is BUSY. */
static struct fl_region *wait_range(uintptr_t addr, size_t a, size_t b)
{
	struct fl_region *r = region_lookup(addr);
	for (;;) {
		if (!r)
			return NULL;
		size_t i;
		for (i = a; i < b && i < r->npages; i++)
			if (r->pages[i].meta & FL_PG_BUSY)
				break;
		if (i >= b || i >= r->npages)
			return r;
		r = wait_busy(addr);
	}
}

/* Count a region's resident pages and find its touched bounds again
 * (after a split or a trim). */
static void recount(struct fl_region *r)
{
	r->n_resident = 0;
	r->t_lo = r->t_hi = 0;
	for (size_t i = 0; i < r->npages; i++) {
		unsigned st = fl__pg_state(&r->pages[i]);
		r->n_resident += st == FL_PG_RESIDENT;
		if (st != FL_PG_UNTOUCHED)
			touched(r, i);
	}
}

/* Page indexes changed: old FIFO entries are stale, queue the pages again. */
static void requeue_inactive(struct fl_region *r)
{
	r->gen++;
	for (size_t i = 0; i < r->npages; i++)
		if (fl__pg_state(&r->pages[i]) == FL_PG_INACTIVE)
			inq_push(r, i, r->pages[i].slot);
}

/* A new table holding pages [from, from + n) of r's table. */
static struct fl_page *table_slice(struct fl_region *r, size_t from, size_t n, size_t *bytes)
{
	*bytes = round_pages(n * sizeof(struct fl_page));
	struct fl_page *t = fl__mem_alloc(*bytes);
	if (t)
		memcpy(t, r->pages + from, n * sizeof *t);
	return t;
}

/* The first region overlapping [a, b), or NULL. */
static struct fl_region *first_overlap(uintptr_t a, uintptr_t b)
{
	if (a >= b)
		return NULL;
	size_t lo = 0, hi = P.nregions;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (P.sorted[mid]->base + P.sorted[mid]->len <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < P.nregions && P.sorted[lo]->base < b)
		return P.sorted[lo];
	return NULL;
}

/*
 * The next region overlapping [from, end) (of a walk over [a, end)), with
 * no BUSY page in the overlap: pages [*first, *last) of it, ending at
 * address *hi.  NULL when the walk is done.  May drop the lock to wait.
 */
static struct fl_region *next_overlap(uintptr_t a, uintptr_t end, uintptr_t from,
				      size_t *first, size_t *last, uintptr_t *hi)
{
	for (;;) {
		struct fl_region *r = first_overlap(from, end);
		if (!r)
			return NULL;
		uintptr_t lo = r->base > a ? r->base : a;
		*hi = r->base + r->len < end ? r->base + r->len : end;
		*first = (lo - r->base) / PS;
		*last = (*hi - r->base) / PS;
		uintptr_t rbase = r->base;
		r = wait_range(rbase, *first, *last);
		if (r && r->base == rbase)
			return r;
	}
}

/*
 * Stop managing [a, a + len) with the lock held: free what its pages hold,
 * and trim, split or free the regions it overlaps.  unmap: also unmap the
 * addresses (otherwise the caller is about to map over them).  Returns -1
 * if a region could not be split (no memory for tables); what was done
 * stays done.
 */
static int cut_range_locked(uintptr_t a, size_t len, int unmap)
{
	uintptr_t end = a + len;
	int rc = 0;
	uintptr_t from = a;
	for (;;) {
		struct fl_region *r = first_overlap(from, end);
		if (!r)
			break;
		if (P.busy) {
			/* Trims and splits renumber pages: the evictor must not be
			 * holding any of them. */
			wait_evictor_idle();
			continue;
		}
		uintptr_t lo = r->base > a ? r->base : a;
		uintptr_t hi = r->base + r->len < end ? r->base + r->len : end;
		size_t p0 = (lo - r->base) / PS, p1 = (hi - r->base) / PS;
		for (size_t i = p0; i < p1; i++)
			page_forget(r, i);
		if (unmap && P.eng->region_unmap(r, p0, p1 - p0) != 0)
			note_error();
		P.hand_region = 0;
		P.hand_page = 0;
		if (p0 == 0 && p1 == r->npages) {
			region_free(r);
		} else if (p0 == 0) {
			size_t bytes;
			struct fl_page *t = table_slice(r, p1, r->npages - p1, &bytes);
			if (!t) {
				/* Keep the old table: pages [0, p1) are untouched and
				 * unmapped; they never fault again. */
				rc = -1;
				from = hi;
				continue;
			}
			fl__mem_free(r->pages, r->pages_bytes);
			r->pages = t;
			r->pages_bytes = bytes;
			r->base += p1 * PS;
			r->npages -= p1;
			r->len = r->npages * PS;
			P.managed_pages -= p1;
			recount(r);
			requeue_inactive(r);
			r->fa_next = r->fa_low = r->ra_next = 0;
			fl__events_region(FL_WIRE_REGION_UPDATE, r);
		} else if (p1 == r->npages) {
			P.managed_pages -= r->npages - p0;
			r->npages = p0;
			r->len = p0 * PS;
			recount(r);
			fl__events_region(FL_WIRE_REGION_UPDATE, r);
		} else {
			/* A hole in the middle: the tail becomes its own region. */
			struct fl_region *tail = region_record(r->npages - p1, r->kind);
			if (tail)
				tail->pages = table_slice(r, p1, tail->npages, &tail->pages_bytes);
			if (!tail || !tail->pages) {
				if (tail)
					region_record_free(tail);
				rc = -1;
				from = hi;
				continue;
			}
			tail->base = r->base + p1 * PS;
			P.managed_pages -= p1 - p0;
			r->npages = p0;
			r->len = p0 * PS;
			recount(r);
			recount(tail);
			region_insert(tail);
			requeue_inactive(tail);
			requeue_inactive(r);
			fl__events_region(FL_WIRE_REGION_UPDATE, r);
			fl__events_region(FL_WIRE_REGION_CREATE, tail);
		}
		from = hi;
	}
	return rc;
}

int fl_pager_unmap(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	if ((a & (PS - 1)) || len == 0) {
		errno = EINVAL;
		return -1;
	}
	len = round_pages(len);
	rearm_if_needed();
	if (!P.running)
		return fl__sys_munmap(addr, len);
	sigset_t oldmask;
	api_lock(&oldmask);
	/* The kernel unmaps (and validates) first; then the tables follow. */
	int managed = first_overlap(a, a + len) != NULL;
	/* Nothing may be mid-eviction when the addresses go away. */
	if (managed)
		wait_evictor_idle();
	int rc = fl__sys_munmap(addr, len);
	if (rc == 0 && managed)
		cut_range_locked(a, len, 0);
	api_unlock(&oldmask);
	return rc;
}

/* Drop the managed pages in [a, end) (lock held). */
static int discard_locked(uintptr_t a, uintptr_t end)
{
	uintptr_t from = a;
	int rc = 0;
	for (;;) {
		size_t first, last;
		uintptr_t hi;
		struct fl_region *r = next_overlap(a, end, from, &first, &last, &hi);
		if (!r)
			break;
		/* Resident runs are dropped by the engine; held copies are freed. */
		size_t i = first;
		while (i < last) {
			size_t j = i;
			while (j < last && fl__pg_state(&r->pages[j]) == FL_PG_RESIDENT)
				j++;
			if (j > i) {
				if (P.eng->discard(r, i, j - i) != 0) {
					rc = -1;
					note_error();
				}
				for (size_t k = i; k < j; k++)
					page_forget(r, k);
				i = j;
			} else {
				page_forget(r, i);
				i++;
			}
		}
		r->fa_next = r->fa_low = 0;
		from = hi;
	}
	return rc;
}

/*
 * madvise(2) or mprotect(2) with arg on the parts of [a, end) that are not
 * managed (lock held): for ranges that straddle managed and other memory.
 */
enum gap_call { MADVISE, MPROTECT };
static int kernel_gaps(uintptr_t a, uintptr_t end, enum gap_call call, int arg)
{
	int rc = 0;
	uintptr_t x = a;
	while (x < end) {
		struct fl_region *r = first_overlap(x, end);
		uintptr_t stop = r ? (r->base > x ? r->base : x) : end;
		if (stop > x && (call == MADVISE ? fl__sys_madvise((void *)x, stop - x, arg)
						 : fl__sys_mprotect((void *)x, stop - x, arg)) != 0)
			rc = -1;
		if (!r)
			break;
		x = r->base + r->len;
	}
	return rc;
}

int fl_pager_discard(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	if ((a & (PS - 1)) || !P.running) {
		errno = EINVAL;
		return -1;
	}
	len = round_pages(len);
	sigset_t oldmask;
	api_lock(&oldmask);
	int rc = discard_locked(a, a + len);
	api_unlock(&oldmask);
	return rc;
}

int fl_pager_advise(void *addr, size_t len, int advice)
{
	uintptr_t a = (uintptr_t)addr;
	rearm_if_needed();
	if (!P.running || (a & (PS - 1)))
		return fl__sys_madvise(addr, len, advice);
	len = round_pages(len);
	sigset_t oldmask;
	api_lock(&oldmask);
	int rc;
	if (!first_overlap(a, a + len)) {
		rc = fl__sys_madvise(addr, len, advice);
	} else {
		switch (advice) {
		case MADV_DONTNEED:
		case MADV_FREE:
		case MADV_REMOVE:
			/* Freed pages read as zero afterwards: a valid outcome for
			 * MADV_FREE too.  Their compressed copies go with them. */
			rc = discard_locked(a, a + len);
			if (kernel_gaps(a, a + len, MADVISE, advice) != 0)
				rc = -1;
			break;
		case MADV_HUGEPAGE:
		case MADV_NOHUGEPAGE:
		case MADV_MERGEABLE:
		case MADV_UNMERGEABLE:
			/* The pager works in 4 KiB pages and keeps it that way. */
			rc = kernel_gaps(a, a + len, MADVISE, advice);
			break;
		default:
			rc = fl__sys_madvise(addr, len, advice);
			break;
		}
	}
	api_unlock(&oldmask);
	return rc;
}

void fl_pager_forget(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr & ~(uintptr_t)(PS - 1);
	rearm_if_needed();
	if (!P.running)
		return;
	sigset_t oldmask;
	api_lock(&oldmask);
	if (first_overlap(a, a + round_pages(len)))
		cut_range_locked(a, round_pages(len), 0);
	api_unlock(&oldmask);
}

int fl_pager_owns(const void *addr)
{
	return fl_pager_owns_range(addr, 1);
}

int fl_pager_owns_range(const void *addr, size_t len)
{
	if (!P.running && !P.rearm_pending)
		return 0;
	uintptr_t a = (uintptr_t)addr & ~(uintptr_t)(PS - 1);
	sigset_t oldmask;
	api_lock(&oldmask);
	int r = first_overlap(a, (uintptr_t)addr + (len ? len : 1)) != NULL;
	api_unlock(&oldmask);
	return r;
}

int fl__protect_runs(struct fl_region *r, size_t pg, size_t n, int skip_rw)
{
	int rc = 0;
	size_t i = pg;
	while (i < pg + n) {
		size_t j = i;
		int prot = fl__pg_prot(&r->pages[i]);
		while (j < pg + n && fl__pg_prot(&r->pages[j]) == prot)
			j++;
		if ((!skip_rw || prot != (PROT_READ | PROT_WRITE)) &&
		    fl__sys_mprotect((void *)(r->base + i * PS), (j - i) * PS, prot) != 0)
			rc = -1;
		i = j;
	}
	return rc;
}

/* Apply the program's protection to pages the kernel maps (uffd engine;
 * the signal engine applies it when it opens a page). */
static void apply_prot(struct fl_region *r, size_t pg, size_t n)
{
	if (P.kind != FL_ENGINE_SIGNAL)
		fl__protect_runs(r, pg, n, 1);
}

int fl_pager_protect(void *addr, size_t len, int prot)
{
	uintptr_t a = (uintptr_t)addr;
	if ((a & (PS - 1))) {
		errno = EINVAL;
		return -1;
	}
	len = round_pages(len);
	rearm_if_needed();
	if (!P.running)
		return fl__sys_mprotect(addr, len, prot);
	sigset_t oldmask;
	api_lock(&oldmask);
	int rc = 0;
	if (P.kind != FL_ENGINE_SIGNAL) {
		/* The kernel keeps protections; it also checks the range. */
		rc = fl__sys_mprotect(addr, len, prot);
		if (rc != 0) {
			api_unlock(&oldmask);
			return rc;
		}
	}
	uintptr_t end = a + len, from = a;
	for (;;) {
		size_t first, last;
		uintptr_t hi;
		struct fl_region *r = next_overlap(a, end, from, &first, &last, &hi);
		if (!r)
			break;
		for (size_t i = first; i < last; i++) {
			struct fl_page *p = &r->pages[i];
			fl__pg_set_prot(p, prot);
			/* Signal engine: only pages the program can see carry its
			 * protection; the others stay PROT_NONE until resolved. */
			if (P.kind == FL_ENGINE_SIGNAL && fl__pg_state(p) == FL_PG_RESIDENT &&
			    fl__sys_mprotect((void *)(r->base + i * PS), PS, prot) != 0)
				rc = -1;
		}
		if (first == 0)
			fl__events_region(FL_WIRE_REGION_UPDATE, r);
		from = hi;
	}
	/* Parts that are not ours are the kernel's. */
	if (P.kind == FL_ENGINE_SIGNAL && kernel_gaps(a, end, MPROTECT, prot) != 0)
		rc = -1;
	api_unlock(&oldmask);
	return rc;
}

/* Carry pages [sp, sp+n) of src over to [dp, dp+n) of dst (lock held). */
static int transfer_pages(struct fl_region *src, size_t sp, struct fl_region *dst, size_t dp, size_t n)
{
	size_t i = 0;
	while (i < n) {
		struct fl_page *s = &src->pages[sp + i];
		unsigned st = fl__pg_state(s);
		if (st == FL_PG_INACTIVE && P.caps.inactive_in_place) {
			/* Its contents are at its address: move it like a resident
			 * page. */
			if (P.eng->give(src, sp + i, s->slot) < 0)
				return -1;
			s->slot = 0;
			page_move(src, s, FL_PG_RESIDENT);
			st = FL_PG_RESIDENT;
		}
		if (st == FL_PG_RESIDENT) {
			size_t j = i;
			while (j < n && fl__pg_state(&src->pages[sp + j]) == FL_PG_RESIDENT &&
			       !(src->pages[sp + j].meta & FL_PG_PINNED))
				j++;
			if (j == i)
				j = i + 1; /* a pinned page: copied by the engine like the rest */
			for (size_t k = i; k < j; k++)
				fl__pg_set_prot(&dst->pages[dp + k], fl__pg_prot(&src->pages[sp + k]));
			if (P.eng->move_pages(src, sp + i, dst, dp + i, j - i) != 0)
				return -1;
			for (size_t k = i; k < j; k++) {
				struct fl_page *d = &dst->pages[dp + k];
				page_move(dst, d, FL_PG_RESIDENT);
				d->meta |= FL_PG_REF;
				page_move(src, &src->pages[sp + k], FL_PG_UNTOUCHED);
			}
			i = j;
			continue;
		}
		struct fl_page *d = &dst->pages[dp + i];
		fl__pg_set_prot(d, fl__pg_prot(s));
		if (st != FL_PG_UNTOUCHED) {
			/* Held copies change owner; nothing is copied. */
			d->slot = s->slot;
			d->ref = s->ref;
			page_move(dst, d, st);
			if (st == FL_PG_INACTIVE)
				inq_push(dst, dp + i, d->slot);
			count(src, st, -1);
			fl__pg_set_state(s, FL_PG_UNTOUCHED);
			s->slot = 0;
			memset(&s->ref, 0, sizeof s->ref);
		}
		i++;
	}
	return 0;
}

void *fl_pager_remap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	uintptr_t a = (uintptr_t)old;
	rearm_if_needed();
	/* What the kernel refuses (or, for old_len 0, only does for shared
	 * mappings, which are never managed) it can say itself. */
	if (!P.running || (a & (PS - 1)) || old_len == 0 || new_len == 0)
		return fl__sys_mremap(old, old_len, new_len, flags, new_addr);
	old_len = round_pages(old_len);
	new_len = round_pages(new_len);
	sigset_t oldmask;
	api_lock(&oldmask);
	if (!first_overlap(a, a + old_len)) {
		api_unlock(&oldmask);
		return fl__sys_mremap(old, old_len, new_len, flags, new_addr);
	}
	/* A mapping grown in place is several adjacent regions: the range
	 * must be managed from end to end, by one region or more. */
	for (uintptr_t at = a; at < a + old_len;) {
		struct fl_region *c = region_lookup(at);
		if (!c) {
			/* Part managed, part not: one mapping cannot be both. */
			api_unlock(&oldmask);
			errno = EFAULT;
			return MAP_FAILED;
		}
		at = c->base + c->len;
	}
	struct fl_region *r = region_lookup(a + old_len - 1);
	void *ret = MAP_FAILED;
	if (!(flags & MREMAP_FIXED) && new_len <= old_len) {
		if (new_len < old_len)
			cut_range_locked(a + new_len, old_len - new_len, 1);
		api_unlock(&oldmask);
		return old;
	}
	if (!(flags & MREMAP_FIXED) && a + old_len == r->base + r->len) {
		/* Grow in place: a new region right after, if the space is free. */
		struct fl_region *ext = region_new(new_len - old_len, a + old_len,
						   MAP_FIXED_NOREPLACE, r->kind);
		if (ext) {
			for (size_t i = 0; i < ext->npages; i++)
				fl__pg_set_prot(&ext->pages[i], fl__pg_prot(&r->pages[r->npages - 1]));
			apply_prot(ext, 0, ext->npages);
			api_unlock(&oldmask);
			return old;
		}
	}
	if (!(flags & (MREMAP_MAYMOVE | MREMAP_FIXED))) {
		api_unlock(&oldmask);
		errno = ENOMEM;
		return MAP_FAILED;
	}
	uintptr_t want = 0;
	int want_flags = 0;
	if (flags & MREMAP_FIXED) {
		want = (uintptr_t)new_addr;
		want_flags = MAP_FIXED;
		if ((want & (PS - 1)) || (want < a + old_len && a < want + new_len)) {
			api_unlock(&oldmask);
			errno = EINVAL;
			return MAP_FAILED;
		}
		cut_range_locked(want, new_len, 0);
	}
	struct fl_region *dst = region_new(new_len, want, want_flags, r->kind);
	if (!dst) {
		int e = errno;
		api_unlock(&oldmask);
		FL_WARN("mremap of managed memory failed: %s", fl__errname(e));
		errno = ENOMEM;
		return MAP_FAILED;
	}
	size_t n = (old_len < new_len ? old_len : new_len) / PS;
	/* Region by region (waiting for BUSY pages may drop the lock); a gap
	 * means the program unmapped part of the range meanwhile. */
	int moved = 1;
	uintptr_t stop = a + n * PS;
	for (uintptr_t at = a; moved && at < stop;) {
		size_t first, last;
		uintptr_t hi = stop;
		struct fl_region *s = next_overlap(a, stop, at, &first, &last, &hi);
		moved = s && s->base + first * PS == at &&
			transfer_pages(s, first, dst, (at - a) / PS, last - first) == 0;
		at = hi;
	}
	if (moved) {
		/* The grown part inherits the last page's protection, as the
		 * kernel's mremap would give it the mapping's. */
		for (size_t i = n; i < dst->npages; i++)
			fl__pg_set_prot(&dst->pages[i], fl__pg_prot(&dst->pages[n ? n - 1 : 0]));
		apply_prot(dst, 0, dst->npages);
		cut_range_locked(a, old_len, 1);
		ret = (void *)dst->base;
	} else {
		note_error();
		FL_WARN("mremap could not move managed pages; the old mapping stays");
		errno = ENOMEM;
	}
	api_unlock(&oldmask);
	return ret;
}

long fl_pager_reclaim(uint64_t target)
{
	if (!P.running || !P.caps.can_evict)
		return -1;
	long n = 0;
	sigset_t oldmask;
	api_lock(&oldmask);
	while (used_pages() > target) {
		if (reclaim_one_locked()) {
			n++;
			continue;
		}
		if (!P.busy || P.store_full)
			break;
		/* The evictor holds some pages: let it finish them. */
		api_unlock(&oldmask);
		sched_yield();
		api_lock(&oldmask);
	}
	api_unlock(&oldmask);
	return n;
}

int fl_pager_owns_fd(int fd)
{
	if (fd < 0 || !P.eng || (!P.running && !P.rearm_pending))
		return 0;
	int fds[4] = {-1, -1, -1, -1};
	P.eng->fds(fds);
	for (int i = 0; i < 4 && fds[i] >= 0; i++)
		if (fds[i] == fd)
			return 1;
	return 0;
}

/*
 * Put every page of r that is out of the program's view back into it,
 * whatever the budget says (lock held, evictor idle).  A page that cannot
 * come back is counted as an error and stays where it is.
 */
static void bring_back(struct fl_region *r)
{
	for (size_t i = 0; i < r->npages; i++) {
		struct fl_page *p = &r->pages[i];
		unsigned st = fl__pg_state(p);
		int rc;
		if (st == FL_PG_INACTIVE) {
			rc = P.eng->give(r, i, p->slot);
		} else if (st == FL_PG_COMPRESSED || st == FL_PG_SAME) {
			rc = fl_store_get(P.ctx_fault, &p->ref, P.bounce) == 0
				     ? P.eng->fill_copy(r, i, 1, P.bounce)
				     : -1;
			if (rc >= 0)
				fl_store_drop(P.store, &p->ref);
		} else {
			continue;
		}
		if (rc < 0) {
			note_error();
			continue;
		}
		p->slot = 0;
		if (rc > 0)
			p->meta |= FL_PG_PINNED;
		page_move(r, p, FL_PG_RESIDENT);
	}
}

/* ---- fork ------------------------------------------------------------- */

/*
 * Before fork: every page that is not in the program's view is brought
 * back, so the child inherits all managed bytes as ordinary memory and
 * nothing it touches can read as zeros before it re-arms.  The lock is held
 * across the fork so the child's tables are a consistent snapshot.
 */
void fl_pager_fork_prepare(void)
{
	if (!P.running)
		return;
	fl_lock(&P.lock);
	wait_evictor_idle();
	for (size_t k = 0; k < P.nregions; k++)
		bring_back(P.sorted[k]);
	note_used();
}

void fl_pager_fork_parent(void)
{
	if (!P.running)
		return;
	fl_unlock(&P.lock);
	wake_evictor();
}

/*
 * In the child: the shim's threads are gone and, for userfaultfd, so is
 * every registration (all pages are present, so nothing is lost).  Only
 * async-signal-safe work here; the engine is restarted at the next call
 * into the pager (rearm_if_needed), when malloc is safe again.
 */
void fl_pager_fork_child(void)
{
	if (!P.running)
		return;
	P.lock.v = 0;
	P.evictor_started = 0;
	P.evict_seq = 0;
	P.busy = 0;
	P.eng->forget();
	if (P.kind == FL_ENGINE_SIGNAL) {
		/* The SIGSEGV handler came along: regions keep working. */
		P.rearm_pending = 1; /* only the evictor to restart */
		return;
	}
	P.running = 0;
	P.rearm_pending = 1;
}

static void start_evictor(void)
{
	if (!P.budget || !P.caps.can_evict || P.evictor_started)
		return;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	P.evictor_stop = 0;
	if (pthread_create(&P.evictor, NULL, evictor_main, NULL) == 0)
		P.evictor_started = 1;
	else
		FL_WARN("cannot start the evictor; faults will reclaim directly");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Rebuild page states of an adopted range from what is present. */
static void adopt_states(struct fl_region *r)
{
	size_t vb = round_pages(r->npages);
	unsigned char *vec = fl__mem_alloc(vb);
	if (!vec || mincore((void *)r->base, r->len, vec) != 0) {
		/* Unknown: treat everything as resident (conservative). */
		for (size_t i = 0; i < r->npages; i++)
			if (fl__pg_state(&r->pages[i]) == FL_PG_UNTOUCHED)
				page_move(r, &r->pages[i], FL_PG_RESIDENT);
	} else {
		for (size_t i = 0; i < r->npages; i++) {
			struct fl_page *p = &r->pages[i];
			unsigned st = fl__pg_state(p);
			if (st == FL_PG_UNTOUCHED && (vec[i] & 1))
				page_move(r, p, FL_PG_RESIDENT);
			else if (st == FL_PG_RESIDENT && !(vec[i] & 1))
				page_move(r, p, FL_PG_UNTOUCHED);
		}
	}
	fl__mem_free(vec, vb);
}

__thread int fl__in_shim;

static void rearm_if_needed(void)
{
	if (!__atomic_load_n(&P.rearm_pending, __ATOMIC_ACQUIRE))
		return;
	fl_lock(&P.lock);
	if (!P.rearm_pending) {
		fl_unlock(&P.lock);
		return;
	}
	/* rearm_pending stays set until the engine runs again (it is cleared
	 * under the lock, below): the fault log reads it without the lock to
	 * know that this child's regions and engine are real. */
	fl__in_shim++;
	if (P.kind != FL_ENGINE_SIGNAL) {
		char err[256];
		size_t stash = P.budget ? P.budget + 64 : 64;
		if (P.eng->start(stash, &P.caps, err, sizeof err) != 0) {
			/* Stay unmanaged: every page is plain memory already. */
			FL_WARN("forked child could not re-arm the pager (%s); it runs unmanaged", err);
			for (size_t k = 0; k < P.nregions; k++) {
				fl__mem_free(P.sorted[k]->pages, P.sorted[k]->pages_bytes);
				P.sorted[k]->pages = NULL;
			}
			P.nregions = 0;
			P.degraded = 1;
			__atomic_store_n(&P.rearm_pending, 0, __ATOMIC_RELEASE);
			fl_unlock(&P.lock);
			fl__in_shim--;
			return;
		}
		/* The parent's FIFO names pages that are all resident now. */
		P.inq_len = 0;
		P.inq_head = 0;
		for (size_t k = 0; k < P.nregions; k++) {
			struct fl_region *r = P.sorted[k];
			if (P.eng->region_adopt(r) != 0) {
				FL_WARN("forked child could not re-register a region: %s",
					fl__errname(errno));
				note_error();
				/* Unregistered: plain memory; forget it. */
				for (size_t i = 0; i < r->npages; i++)
					page_forget(r, i);
				region_free(r);
				k--;
				continue;
			}
			adopt_states(r);
		}
		P.running = 1;
	}
	__atomic_store_n(&P.rearm_pending, 0, __ATOMIC_RELEASE);
	fl_unlock(&P.lock);
	start_evictor();
	fl__in_shim--;
}

void fl_pager_shutdown(void)
{
	if (!P.running)
		return;
	if (P.evictor_started) {
		__atomic_store_n(&P.evictor_stop, 1, __ATOMIC_RELEASE);
		wake_evictor();
		pthread_join(P.evictor, NULL);
		fl__events_own_thread_gone((uintptr_t)evictor_main);
		P.evictor_started = 0;
	}
	fl_lock(&P.lock);
	/* Regions still mapped stay readable: bring their pages back and let
	 * the kernel have them. */
	while (P.nregions) {
		struct fl_region *r = P.sorted[P.nregions - 1];
		bring_back(r);
		P.eng->region_detach(r);
		fl__mem_free(r->pages, r->pages_bytes);
		r->pages = NULL;
		r->gen++;
		P.nregions--;
	}
	P.running = 0;
	fl_unlock(&P.lock);
	P.eng->stop();
}

/* Is the region with this wire id (fl__region_wire_id) still there? */
static int region_alive(uint64_t id)
{
	uint32_t i = (uint32_t)id;
	return i < MAX_REGIONS && P.pool[i].pages && P.pool[i].gen == (uint32_t)(id >> 32);
}

void fl__pager_region_snapshot(void (*fn)(const struct fl_region *r, void *arg), void *arg)
{
	/* A forked child's regions are there before it re-arms, and its
	 * faults will name them once it has: announce them either way. */
	if (!P.running && !P.rearm_pending)
		return;
	sigset_t oldmask;
	api_lock(&oldmask);
	if (!P.running && !P.rearm_pending) {
		api_unlock(&oldmask);
		return; /* re-arming failed meanwhile: no regions */
	}
	/* Changes queued before now are in the snapshot, except those of
	 * regions that are gone. */
	fl__events_keep_ended_regions(region_alive);
	for (size_t k = 0; k < P.nregions; k++)
		fn(P.sorted[k], arg);
	api_unlock(&oldmask);
}

/* ---- stats ------------------------------------------------------------ */

long fl_ranges_get(struct fl_range *out, size_t max)
{
	if (!P.running)
		return -1;
	size_t n = 0;
	fl_lock(&P.lock);
	for (size_t i = 0; i < P.nregions; i++, n++) {
		if (n >= max)
			continue;
		struct fl_region *r = P.sorted[i];
		out[n] = (struct fl_range){.start = r->base, .end = r->base + r->len,
					   .kind = (uint32_t)r->kind, .resident_pages = r->n_resident};
	}
	fl_unlock(&P.lock);
	uintptr_t lo[32], hi[32];
	size_t own = fl__mem_ranges(lo, hi, 32);
	for (size_t i = 0; i < own; i++, n++)
		if (n < max && i < 32)
			out[n] = (struct fl_range){.start = lo[i], .end = hi[i], .kind = FL_RANGE_SHIM};
	return (long)n;
}

/* Pages of one region the state publisher counts per hold of the lock:
 * a fault arriving meanwhile waits for this many at most (about 20 us). */
#define STATE_CHUNK 8192u

/* Pages of r per strip part. */
static size_t strip_per(const struct fl_region *r)
{
	size_t per = (r->npages + FL_STATE_STRIP - 1) / FL_STATE_STRIP;
	return per ? per : 1;
}

/* Start one region's record: its identity, no pages counted yet. */
static void region_state_begin(const struct fl_region *r, struct fl_state_region *o)
{
	memset(o, 0, sizeof *o);
	o->id = fl__region_wire_id(r);
	o->start = r->base;
	o->len = r->len;
	o->kind = (uint32_t)r->kind;
	o->prot = fl__region_wire_prot(r);
}

/* Count pages [i, end) of r into o; tally holds the states seen so far in
 * the strip part i falls in.  Returns end. */
static size_t region_state_scan(const struct fl_region *r, struct fl_state_region *o,
				unsigned tally[5], size_t i, size_t end)
{
	size_t per = strip_per(r);
	while (i < end) {
		size_t part = i / per;
		size_t pend = (part + 1) * per;
		if (pend > r->npages)
			pend = r->npages;
		size_t stop = pend < end ? pend : end;
		/* Outside the touched bounds every page is untouched. */
		size_t lo = i > r->t_lo ? i : r->t_lo;
		size_t hi = stop < r->t_hi ? stop : r->t_hi;
		if (lo >= hi)
			lo = hi = stop;
		size_t skip = (lo - i) + (stop - hi);
		o->untouched += skip;
		tally[FL_PG_UNTOUCHED] += (unsigned)skip;
		for (i = lo; i < hi; i++) {
			const struct fl_page *p = &r->pages[i];
			unsigned st = fl__pg_state(p);
			switch (st) {
			case FL_PG_RESIDENT: o->resident++; break;
			case FL_PG_INACTIVE: o->inactive++; break;
			case FL_PG_COMPRESSED: o->compressed++; o->compressed_bytes += p->ref.size; break;
			case FL_PG_SAME: o->same_filled++; break;
			default: o->untouched++; st = FL_PG_UNTOUCHED; break;
			}
			/* The page-state enums line up with the strip's. */
			tally[st < 5 ? st : 0]++;
		}
		i = stop;
		if (i == pend) {
			unsigned best = 0;
			for (unsigned k = 1; k < 5; k++)
				if (tally[k] > tally[best])
					best = k;
			o->strip[part] = (uint8_t)best;
			memset(tally, 0, 5 * sizeof tally[0]);
		}
	}
	return i;
}

size_t fl__pager_region_states(struct fl_state_region *out, size_t max, size_t *total)
{
	size_t n = 0, all = 0;
	if (!P.running && !P.rearm_pending) {
		*total = 0;
		return 0;
	}
	/* STATE_CHUNK pages per hold of the lock, so that a program faulting
	 * meanwhile waits for a short scan at most (a whole region of a
	 * million pages held the handler for 10 ms).  A region that changed
	 * while the lock was dropped is counted again from its start; after
	 * a few tries, in one go. */
	uintptr_t from = 0;
	sigset_t oldmask;
	api_lock(&oldmask);
	for (;;) {
		struct fl_region *r = first_overlap(from, UINTPTR_MAX);
		if (!r)
			break;
		if (n >= max) {
			all++;
			from = r->base + r->len;
			continue;
		}
		struct fl_state_region *o = &out[n];
		unsigned tally[5] = {0}, tries = 0;
		size_t i = 0;
		region_state_begin(r, o);
		for (;;) {
			size_t end = r->npages;
			size_t at = i > r->t_lo ? i : r->t_lo;
			if (tries < 3 && at < r->t_hi && r->t_hi - at > STATE_CHUNK)
				end = at + STATE_CHUNK;
			i = region_state_scan(r, o, tally, i, end);
			if (i == r->npages)
				break;
			const struct fl_page *pages = r->pages;
			uintptr_t base = r->base;
			size_t npages = r->npages;
			uint32_t gen = r->gen;
			api_unlock(&oldmask);
			api_lock(&oldmask);
			if (r->pages == pages && r->gen == gen && r->base == base &&
			    r->npages == npages)
				continue;
			/* Changed or gone: start over with what is there now. */
			r = first_overlap(base, UINTPTR_MAX);
			if (!r)
				break;
			tries++;
			i = 0;
			memset(tally, 0, sizeof tally);
			region_state_begin(r, o);
		}
		if (!r)
			break;
		n++;
		all++;
		from = r->base + r->len;
		api_unlock(&oldmask);
		api_lock(&oldmask);
	}
	api_unlock(&oldmask);
	*total = all;
	return n;
}

int fl_stats_get(struct fl_stats *s)
{
	memset(s, 0, sizeof *s);
	s->page_size = PS;
	if (!P.running)
		return -1;
	fl_lock(&P.lock);
	update_pressure(fl_mono_ns());
	s->budget_pages = P.budget;
	s->managed_pages = P.managed_pages;
	s->regions = P.nregions;
	s->resident_pages = P.resident;
	s->resident_peak_pages = P.peak;
	s->inactive_pages = P.inactive;
	s->compressed_pages = P.compressed;
	s->same_filled_pages = P.same;
	memcpy(s->faults, P.faults, sizeof s->faults);
	s->pages_prefilled = P.prefilled;
	s->pages_readahead = P.readahead;
	s->pages_evicted = P.evicted;
	s->pages_deactivated = P.deactivated;
	s->direct_reclaims = P.direct_reclaims;
	s->errors = P.errors;
	s->fault_ns_total = P.fault_ns;
	s->pressure = P.pressure;
	s->pressure_peak = P.pressure_peak;
	s->engine = P.kind;
	s->compressor = P.cfg.compressor;
	s->compressor_level = P.cfg.compressor_level;
	fl_unlock(&P.lock);
	struct fl_store_stats ss;
	fl_store_stats(P.store, &ss);
	s->compressed_bytes = ss.payload_bytes;
	s->store_bytes = ss.slab_bytes;
	return 0;
}
