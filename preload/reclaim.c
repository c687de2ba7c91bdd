/*
 * Reclaim: holding the budget.  The clock walks resident pages and moves
 * the unreferenced ones out to INACTIVE (no copy: the next touch is a
 * cheap soft fault); the inactive FIFO hands the oldest of those to
 * compression, by the evictor thread between its watermarks, or directly
 * by a fault that finds no room (make_room).  Memory pressure (NORMAL,
 * WARN, CRITICAL) is derived here from the headroom left; pressure.c
 * tells the program of each change.
 */
#include "pager_int.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "events.h"
#include "log.h"
#include "pressure.h"
#include "sigchain.h"

#define PS FL_PAGE_SIZE
#define CLOCK_SCAN_MAX 8192u  /* pages looked at per lock hold */
#define TAKE_RUN 64u          /* pages taken out in one step at most */
#define DIRECT_RUN 16u        /* ... by a fault that must make room */

static void set_pressure(enum fl_pressure p)
{
	if (p != P.pressure)
		fl__pressure_changed(p);
	P.pressure = p;
	if (p > P.pressure_peak)
		P.pressure_peak = p;
}

/* now: the caller's clock reading, so a fault reads the clock once. */
void fl__reclaim_update_pressure(uint64_t now)
{
	if (!P.budget) {
		P.pressure = FL_PRESSURE_NORMAL;
		return;
	}
	uint64_t used = fl__used_pages();
	uint64_t free_pages = used >= P.budget ? 0 : P.budget - used;
	int held = P.critical_until_ns && now < P.critical_until_ns;
	set_pressure(fl__pressure_derive(P.pressure, now, free_pages, P.low_free, P.high_free, held));
}

static void mark_critical(void)
{
	P.critical_until_ns = fl_mono_ns() + 200000000ull;
	set_pressure(FL_PRESSURE_CRITICAL);
}

void fl__reclaim_wake(void)
{
	if (!P.evictor_started)
		return;
	__atomic_add_fetch(&P.evict_seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &P.evict_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Queue page pg of r at q's tail; a full q drops its oldest entry
 * (drop_oldest) or this one. */
static void ring_push(struct fl_ring *q, struct fl_region *r, size_t pg, uint32_t slot, int drop_oldest)
{
	if (!q->e)
		return;
	if (q->len == q->cap) {
		if (!drop_oldest)
			return;
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	q->e[(q->head + q->len) % q->cap] = (struct inq_entry){.id = r->id, .gen = r->gen, .slot = slot, .pg = pg};
	q->len++;
}

/* The oldest entry of q whose region is still the one it named, its page
 * in *rp and *pgp (stale ones are dropped).  0 when none. */
static int ring_pop(struct fl_ring *q, struct fl_region **rp, size_t *pgp, uint32_t *slot)
{
	while (q->len) {
		struct inq_entry e = q->e[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
		if (e.id >= MAX_REGIONS)
			continue;
		struct fl_region *r = &P.pool[e.id];
		if (r->gen != e.gen || !r->pages || e.pg >= r->npages)
			continue;
		*rp = r;
		*pgp = e.pg;
		*slot = e.slot;
		return 1;
	}
	return 0;
}

void fl__reclaim_inq_push(struct fl_region *r, size_t pg, uint32_t slot)
{
	/* Full of stale entries: drop the oldest (its page is re-checked
	 * anyway, and a live inactive page still gets found by reclaim's
	 * fallback scan). */
	ring_push(&P.inq, r, pg, slot, 1);
}

/* Page indexes changed: old FIFO entries are stale, queue the pages again. */
void fl__reclaim_requeue(struct fl_region *r)
{
	r->gen++;
	for (size_t i = 0; i < r->npages; i++)
		if (fl__pg_state(&r->pages[i]) == FL_PG_INACTIVE)
			fl__reclaim_inq_push(r, i, r->pages[i].slot);
}

/* Pop the oldest still-valid inactive page.  Returns 0 if none. */
static int inq_pop(struct fl_region **rp, size_t *pgp)
{
	uint32_t slot;
	while (ring_pop(&P.inq, rp, pgp, &slot)) {
		struct fl_page *p = &(*rp)->pages[*pgp];
		if (fl__pg_state(p) == FL_PG_INACTIVE && !(p->meta & FL_PG_BUSY) && p->slot == slot)
			return 1;
	}
	return 0;
}

/* Could the clock take this page out? */
static int clock_can_take(const struct fl_page *p)
{
	return fl__pg_state(p) == FL_PG_RESIDENT &&
	       !(p->meta & (FL_PG_BUSY | FL_PG_PINNED | FL_PG_PROT_MASK));
}

/*
 * Move unreferenced resident pages to INACTIVE, giving referenced ones a
 * second chance: the first page the hand finds and the unreferenced pages
 * right after it, up to max, in one take (one TLB flush for the run where
 * a page at a time costs a flush each: DESIGN.md).  force: ignore
 * reference bits (after a full pass found nothing).  Returns how many
 * pages were deactivated.
 */
static size_t clock_deactivate(int force, size_t max, size_t *scanned)
{
	if (max > TAKE_RUN)
		max = TAKE_RUN;
	if (!max)
		max = 1;
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
		if (!clock_can_take(p))
			continue;
		if ((p->meta & FL_PG_REF) && !force) {
			p->meta &= ~FL_PG_REF;
			continue;
		}
		size_t n = 1;
		while (n < max && pg + n < r->npages && clock_can_take(&r->pages[pg + n]) &&
		       (force || !(r->pages[pg + n].meta & FL_PG_REF)))
			n++;
		/* A snapshot's pages are copied into it before they leave; one
		 * the store refuses stays, and ends the run. */
		for (size_t i = 0; i < n; i++)
			if ((r->pages[pg + i].meta & FL_PG_SNAP) && fl__snap_settle(r, pg + i) != 0) {
				n = i;
				break;
			}
		if (!n) {
			p->meta |= FL_PG_REF;
			continue;
		}
		uint32_t slot;
		long got = P.eng->take(r, pg, n, &slot);
		if (got <= 0) {
			fl__note_error();
			FL_WARN("could not move a page out (%s); it stays resident", fl__errname(errno));
			/* A failed copy-out may have lifted the write protection. */
			p->meta = (p->meta & ~FL_PG_COW) | FL_PG_REF;
			continue;
		}
		FL_ASSERT((size_t)got <= n);
		for (size_t i = 0; i < (size_t)got; i++) {
			struct fl_page *q = &r->pages[pg + i];
			q->meta &= ~(FL_PG_REF | FL_PG_PREFILLED | FL_PG_COW);
			q->slot = slot + (uint32_t)i;
			fl__page_move(r, q, FL_PG_INACTIVE);
			fl__reclaim_inq_push(r, pg + i, q->slot);
		}
		P.hand_page = pg + (size_t)got;
		*scanned += (size_t)got - 1;
		P.deactivated += (uint64_t)got;
		return (size_t)got;
	}
	return 0;
}

static void refill_inactive(size_t want)
{
	size_t scanned = 0;
	size_t got = 0;
	while (got < want && P.resident && scanned < CLOCK_SCAN_MAX) {
		size_t k = clock_deactivate(0, want - got, &scanned);
		if (!k)
			break;
		got += k;
	}
}

/* A compressed page, newest at the tail of the spill file's queue (a full
 * queue leaves it to the spill hand's walk). */
static void cq_push(struct fl_region *r, size_t pg)
{
	ring_push(&P.cq, r, pg, 0, 0);
}

/* Store an inactive page's contents; the caller holds what it needs. */
static void finish_compress(struct fl_region *r, size_t pg, struct fl_store_ref *ref)
{
	struct fl_page *p = &r->pages[pg];
	P.eng->release(r, pg, p->slot);
	p->slot = 0;
	p->ref = *ref;
	p->meta &= ~(FL_PG_BUSY | FL_PG_REF | FL_PG_PREFILLED);
	fl__page_move(r, p, ref->kind == FL_STORE_SAME ? FL_PG_SAME : FL_PG_COMPRESSED);
	if (ref->kind != FL_STORE_SAME)
		cq_push(r, pg);
	P.evicted++;
}

/* The store took no page (lock held): pressure CRITICAL; said once. */
static void store_refused(int rc)
{
	if (!P.store_warned)
		FL_WARN("compressed store refused a page (%s): the budget cannot be held while it is full",
			rc == FL_STORE_EFULL ? fl_store_can_spill(P.store)
						       ? "full, and what went to the spill file freed no slot it could use"
						       : "full, and no spill file"
					     : "broken");
	P.store_warned = 1;
	P.store_full = 1;
	mark_critical();
}

/* ---- the spill file: the store's coldest pages go out to disk ---------- */

#define SPILL_WALK_MAX 65536u /* pages the spill hand looks at per lock hold */

/* A page the spill file may take: held in the store's memory, not busy. */
static int spillable(const struct fl_page *p)
{
	return fl__pg_state(p) == FL_PG_COMPRESSED && !(p->meta & FL_PG_BUSY) &&
	       (p->ref.kind == FL_STORE_COMP || p->ref.kind == FL_STORE_RAW);
}

/* The oldest compressed page still held in memory (lock held): from the
 * queue, else from the hand's walk over the regions.  0 if none. */
static int spill_pick(struct fl_region **rp, size_t *pgp)
{
	uint32_t slot;
	while (ring_pop(&P.cq, rp, pgp, &slot))
		if (spillable(&(*rp)->pages[*pgp]))
			return 1;
	for (size_t looked = 0; looked < SPILL_WALK_MAX && P.nregions;) {
		if (P.spill_hand_region >= P.nregions) {
			P.spill_hand_region = 0;
			P.spill_hand_page = 0;
		}
		struct fl_region *r = P.sorted[P.spill_hand_region];
		while (P.spill_hand_page < r->npages && looked < SPILL_WALK_MAX) {
			size_t i = P.spill_hand_page++;
			looked++;
			if (spillable(&r->pages[i])) {
				*rp = r;
				*pgp = i;
				return 1;
			}
		}
		if (P.spill_hand_page >= r->npages) {
			P.spill_hand_region++;
			P.spill_hand_page = 0;
		}
	}
	return 0;
}

/* Is there a spill file, and no error within the last second? */
static int spill_allowed(uint64_t now)
{
	return fl_store_can_spill(P.store) && now >= P.spill_retry_ns;
}

/* Is the store close enough to its capacity that its coldest pages should
 * go to the spill file?  (Lock held.) */
static int spill_due(uint64_t now)
{
	if (!spill_allowed(now))
		return 0;
	if (P.store_full)
		return 1;
	uint64_t cap = 0, room = fl_store_room(P.store, &cap);
	return room < cap / 8;
}

/* A spill that failed (lock held): said once, pressure CRITICAL, no
 * other try for a second. */
static void spill_failed(int e)
{
	if (!P.spill_warned)
		FL_WARN("the spill file took no pages (%s): they stay in memory",
			e ? strerror(e) : "bad reference");
	P.spill_warned = 1;
	P.spill_retry_ns = fl_mono_ns() + 1000000000ull;
	mark_critical();
}

/* A batch of pages on their way to the spill file. */
struct spill_set {
	size_t n;
	struct {
		struct fl_region *r;
		size_t pg;
	} b[EVICT_BATCH];
	struct fl_store_ref refs[EVICT_BATCH];
};

/* Up to max of the oldest compressed pages, marked BUSY (lock held): a
 * page queued twice is taken once (a second copy of its payload in the
 * file would never be freed), and nobody else moves them meanwhile. */
static void spill_take(struct spill_set *s, size_t max)
{
	s->n = 0;
	while (s->n < max && spill_pick(&s->b[s->n].r, &s->b[s->n].pg)) {
		struct fl_page *p = &s->b[s->n].r->pages[s->b[s->n].pg];
		p->meta |= FL_PG_BUSY;
		s->refs[s->n++] = p->ref;
	}
}

/* After the write (lock held): the pages' new references, or on a failure
 * (rc != 0, e its errno) the pages as they were, queued again.  Returns
 * how many left memory. */
static int spill_settle(struct spill_set *s, int rc, int e)
{
	for (size_t i = 0; i < s->n; i++) {
		struct fl_page *p = &s->b[i].r->pages[s->b[i].pg];
		p->meta &= ~FL_PG_BUSY;
		if (rc == 0)
			p->ref = s->refs[i];
		else
			cq_push(s->b[i].r, s->b[i].pg);
	}
	if (rc != 0) {
		spill_failed(e);
		return 0;
	}
	P.store_full = 0;
	return (int)s->n;
}

/*
 * A fault that must make room finds the store full (lock held): the
 * oldest compressed pages go to the spill file now, with the lock held
 * across the write (a direct write to the disk: about 0.3 ms for a batch
 * here; the evictor's batches usually leave room first).  Returns how
 * many left memory.
 */
static int spill_locked(void)
{
	if (!spill_allowed(fl_mono_ns()))
		return 0;
	struct spill_set s;
	spill_take(&s, P.bounce_pages < EVICT_BATCH ? P.bounce_pages : EVICT_BATCH);
	if (!s.n)
		return 0;
	int e = 0;
	int rc = fl_store_spill(P.ctx_fault, s.refs, s.n, P.bounce, &e);
	return spill_settle(&s, rc, e);
}

/*
 * Write up to EVICT_BATCH of the oldest compressed pages to the spill file
 * in one go.  The pages are BUSY while the write runs outside the lock (a
 * fault on one waits for BUSY to go, fl__region_wait_busy, and finds it
 * spilled or as it was).  Returns how many left memory; on an error (disk
 * or cap full, I/O) they all stay where they were, pressure goes
 * CRITICAL, one warning is said and no spill is tried for a second.
 */
static int spill_batch(void)
{
	struct spill_set s;
	fl_lock(&P.lock);
	spill_take(&s, EVICT_BATCH);
	P.busy += s.n;
	fl_unlock(&P.lock);
	if (!s.n)
		return 0;
	int e = 0;
	int rc = fl_store_spill(P.ctx_evict, s.refs, s.n, P.scratch, &e);
	fl_lock(&P.lock);
	P.busy -= s.n;
	int done = spill_settle(&s, rc, e);
	fl_unlock(&P.lock);
	return done;
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
		if (!clock_deactivate(0, DIRECT_RUN, &scanned)) {
			scanned = 0;
			if (!clock_deactivate(1, DIRECT_RUN, &scanned))
				return 0;
		}
		if (!inq_pop(&r, &pg))
			return 0;
	}
	struct fl_page *p = &r->pages[pg];
	struct fl_store_ref ref;
	const void *src = P.eng->peek(r, pg, p->slot, P.scratch + EVICT_BATCH * PS);
	int rc = src ? fl_store_put(P.ctx_fault, src, &ref) : FL_STORE_EINVAL;
	/* A full store frees a slot of the size this page needs only when
	 * enough of its neighbours have left: a few batches at most. */
	for (int tries = 0; rc == FL_STORE_EFULL && tries < 8 && spill_locked() > 0; tries++)
		rc = fl_store_put(P.ctx_fault, src, &ref);
	if (rc != 0) {
		/* Store full or broken: the page stays inactive, in memory. */
		fl__reclaim_inq_push(r, pg, p->slot);
		store_refused(rc);
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
size_t fl__reclaim_make_room(size_t n, size_t must)
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
	while (fl__used_pages() + must > P.budget) {
		if (!reclaim_one_locked())
			break;
		reclaimed = 1;
	}
	if (fl__used_pages() + n > P.budget) {
		size_t room = fl__used_pages() < P.budget ? P.budget - fl__used_pages() : 0;
		n = room > must ? room : must;
	}
	if (reclaimed)
		P.direct_reclaims++;
	if (reclaimed || fl__used_pages() + n > P.budget)
		mark_critical();
	if (fl__used_pages() + n + P.low_free > P.budget)
		fl__reclaim_wake();
	return n ? n : 1;
}

/* Wait until the evictor holds no page BUSY. */
void fl__reclaim_wait_idle(void)
{
	while (P.busy)
		fl__pager_yield_lock();
}

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
			fl__reclaim_inq_push(b[i].r, b[i].pg, p->slot);
			store_refused(b[i].rc);
		}
	}
	fl__reclaim_update_pressure(fl_mono_ns());
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
		uint64_t used = fl__used_pages();
		int spill = spill_due(fl_mono_ns());
		int full = P.store_full;
		fl_unlock(&P.lock);
		if (!evicting && used + P.low_free > P.budget)
			evicting = 1;
		if (evicting && used + P.high_free <= P.budget)
			evicting = 0;
		/* A spill that took nothing left store_full as it was. */
		if (spill && spill_batch() > 0)
			continue;
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

void fl__reclaim_start(void)
{
	fl__pressure_start();
	if (!P.budget || !P.caps.can_evict || P.evictor_started)
		return;
	P.evictor_stop = 0;
	if (fl__sigchain_start_thread(&P.evictor, evictor_main, NULL) == 0)
		P.evictor_started = 1;
	else
		FL_WARN("cannot start the evictor; faults will reclaim directly");
}

long fl_pager_reclaim(uint64_t target)
{
	if (!P.running || !P.caps.can_evict)
		return -1;
	long n = 0;
	sigset_t oldmask;
	fl__pager_api_lock(&oldmask);
	while (fl__used_pages() > target) {
		if (reclaim_one_locked()) {
			n++;
			continue;
		}
		if (!P.busy || P.store_full)
			break;
		/* The evictor holds some pages: let it finish them. */
		fl__pager_api_unlock(&oldmask);
		sched_yield();
		fl__pager_api_lock(&oldmask);
	}
	FL_ASSERT(fl__region_counts_ok());
	fl__pager_api_unlock(&oldmask);
	return n;
}

void fl__reclaim_stop(void)
{
	fl__pressure_stop();
	if (!P.evictor_started)
		return;
	__atomic_store_n(&P.evictor_stop, 1, __ATOMIC_RELEASE);
	fl__reclaim_wake();
	pthread_join(P.evictor, NULL);
	fl__events_own_thread_gone((uintptr_t)evictor_main);
	P.evictor_started = 0;
}
