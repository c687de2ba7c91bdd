/*
 * Fault resolution: what a fault on a managed page needs, decided under
 * the pager lock and done by the engine.  First touch fills a window of
 * zero pages around the fault (growing along a sequential stream, and
 * filled ahead of it by an idle handler); a refault brings back the
 * faulting page and the ones evicted after it (readahead), from the
 * inactive list or the compressed store.  Every fault is timed and, for
 * the fault log, described in its fl_fault_info.
 */
#include "pager_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "clock.h"
#include "events.h"
#include "log.h"
#include "spill.h"

#define PS FL_PAGE_SIZE
#define RANDOM_BLOCK 64u      /* first-touch block for non-sequential faults */
#define AHEAD_MAX 8u          /* streams with a window queued for filling ahead */
#define AHEAD_CHUNK 64u       /* pages filled ahead per lock hold */

/* First-touch streams' next windows, for the idle handler to fill (lock
 * held; nahead is read without it to know whether to take it). */
static struct ahead {
	uint32_t id, gen;
	size_t lo, hi; /* pages still to fill */
	int down, write;
} ahead[AHEAD_MAX];
static unsigned nahead;

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
		fl__page_move(r, p, FL_PG_RESIDENT);
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
	for (i = 0; i < nahead; i++)
		if (ahead[i].id == r->id && ahead[i].down == down)
			break;
	if (i == AHEAD_MAX) {
		/* Full: the oldest stream gives way. */
		memmove(&ahead[0], &ahead[1], (AHEAD_MAX - 1) * sizeof ahead[0]);
		i = AHEAD_MAX - 1;
	} else if (i == nahead) {
		__atomic_store_n(&nahead, nahead + 1, __ATOMIC_RELAXED);
	}
	ahead[i] = (struct ahead){.id = r->id, .gen = r->gen, .lo = lo, .hi = hi,
				    .down = down, .write = write};
}

static void ahead_pop(void)
{
	memmove(&ahead[0], &ahead[1], (nahead - 1) * sizeof ahead[0]);
	__atomic_store_n(&nahead, nahead - 1, __ATOMIC_RELAXED);
}

/*
 * The lock, for a fault handler.  A fork that leaves evicted pages out
 * holds it until the child's faults are served, and the fork waits until
 * a handler has read the child's descriptor: a handler asleep on the lock
 * then would wait for ever.  So it gives up (0) while a fork is under way
 * and the fault is retried after it.
 */
static int lock_for_handler(void)
{
	return fl_lock_unless(&P.lock, &P.forking);
}

int fl__pager_fill_ahead(void)
{
	if (!__atomic_load_n(&nahead, __ATOMIC_RELAXED))
		return 0;
	if (!lock_for_handler())
		return 0;
	while (nahead) {
		struct ahead *q = &ahead[0];
		struct fl_region *r = &P.pool[q->id];
		size_t k = 0;
		/* Still the same region, and the stream still ends where the
		 * window starts (a fault elsewhere moved it: drop). */
		if (P.running && r->pages && r->gen == q->gen && q->hi <= r->npages &&
		    (q->down ? r->fa_low == q->hi : r->fa_next == q->lo)) {
			size_t max = q->hi - q->lo < AHEAD_CHUNK ? q->hi - q->lo : AHEAD_CHUNK;
			if (P.budget) {
				uint64_t used = fl__used_pages() + P.low_free;
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
		fl__note_used();
		if (q->lo >= q->hi)
			ahead_pop();
		break;
	}
	int more = nahead != 0;
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
	size_t fit = fl__reclaim_make_room(want, fill_write ? want : 1);
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
	fl__note_used();
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
		fl__page_move(r, p, FL_PG_RESIDENT);
	}
	r->ra_next = i;
	P.faults[FL_FAULT_SOFT]++;
	note_fault(r, FL_FAULT_SOFT, i - pg);
	P.readahead += (i - pg) - 1;
	return 0;
}

static int stored(const struct fl_page *p)
{
	unsigned st = fl__pg_state(p);
	return (st == FL_PG_COMPRESSED || st == FL_PG_SAME) && !(p->meta & FL_PG_BUSY);
}

/* Spilled neighbours a refault brings along: at most this many on each
 * side, with payloads within FL_SPILL_NEAR_BYTES of its own in the file. */
#define SPILL_NEAR 8u

static int spilled_near(const struct fl_page *p, uint64_t loc)
{
	if (!stored(p) || p->ref.kind != FL_STORE_SPILLED || fl_spill_loc_file(p->ref.val) != fl_spill_loc_file(loc))
		return 0;
	uint64_t d = p->ref.val > loc ? p->ref.val - loc : loc - p->ref.val;
	return d <= FL_SPILL_NEAR_BYTES;
}

static int resolve_stored(struct fl_region *r, size_t pg)
{
	unsigned first = fl__pg_state(&r->pages[pg]);
	int spilled = r->pages[pg].ref.kind == FL_STORE_SPILLED;
	size_t w = readahead_window(r, pg); /* <= bounce_pages */
	size_t a = pg, end = pg + w > r->npages ? r->npages : pg + w;
	size_t cl = P.cfg.cluster_pages;
	uint64_t loc = r->pages[pg].ref.val;
	if (w == 1 && spilled) {
		/* Pages written to the spill file together lie together in
		 * it: the address neighbours whose payloads are near this
		 * one's come too, all in one read from the file, while the
		 * region's spill faults come near one another (one that comes
		 * just past the last one's neighbours counts as near).  In a
		 * random walk they would only push out pages in use: 6.3 s
		 * against 9.4 for spiller 32768 1 at a 32 MiB budget. */
		size_t d = pg > r->sp_last ? pg - r->sp_last : r->sp_last - pg;
		if (d <= 2 * SPILL_NEAR + 1)
			r->sp_near += r->sp_near < 3;
		else
			r->sp_near -= r->sp_near > 0;
		r->sp_last = pg;
		size_t side = r->sp_near < 2 ? 0
			      : SPILL_NEAR < (P.bounce_pages - 1) / 2 ? SPILL_NEAR : (P.bounce_pages - 1) / 2;
		while (a > 0 && pg - a < side && spilled_near(&r->pages[a - 1], loc))
			a--;
		end = pg + side + 1 > r->npages ? r->npages : pg + side + 1;
	} else if (w == 1 && cl > 1) {
		/* Not a stream: the stored neighbours in the page's aligned
		 * cluster come too (pages the clock took out in one run are
		 * neighbours, and tend to be wanted together). */
		size_t c0 = pg & ~(cl - 1);
		while (a > c0 && stored(&r->pages[a - 1]))
			a--;
		end = c0 + cl > r->npages ? r->npages : c0 + cl;
	}
	size_t n = pg - a + 1;
	while (a + n < end && (w == 1 && spilled ? spilled_near(&r->pages[a + n], loc) : stored(&r->pages[a + n])))
		n++;
	size_t fit = fl__reclaim_make_room(n, n);
	if (fit < n) {
		/* What fits, from the faulting page on (all stored, as counted). */
		n = a + n - pg < fit ? a + n - pg : fit;
		a = pg;
	}
	int rc;
	size_t got = fl_store_get_many(P.ctx_fault, &r->pages[a].ref, sizeof *r->pages, n, P.bounce, &rc);
	if (got < n) {
		fl__note_error();
		FL_WARN("store could not rebuild a page at %p (%d)", (void *)(r->base + (a + got) * PS), rc);
		if (a + got <= pg)
			return -1;
		n = got;
	}
	int frc = P.eng->fill_copy(r, a, n, P.bounce);
	if (frc < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct fl_page *p = &r->pages[a + i];
		if (frc > 0)
			p->meta |= FL_PG_PINNED;
		fl_store_drop(P.store, &p->ref);
		p->meta |= (a + i == pg) ? FL_PG_REF : FL_PG_PREFILLED;
		fl__page_move(r, p, FL_PG_RESIDENT);
	}
	r->ra_next = a + n;
	unsigned kind = spilled ? FL_FAULT_SPILL : first == FL_PG_SAME ? FL_FAULT_SAME_FILLED : FL_FAULT_DECOMPRESS;
	P.faults[kind]++;
	note_fault(r, kind, n);
	P.readahead += n - 1;
	fl__note_used();
	return 0;
}

/*
 * The first write to a page shared with a child since fork (or with the
 * parent, in a child), or to a page a snapshot holds: copy it into the
 * snapshot, let the write through, and count it as a write-protect fault;
 * after a fork the kernel then makes the program's own copy.
 */
static int resolve_protected(struct fl_region *r, size_t pg)
{
	/* A snapshot's page is copied before anything writes to it. */
	if ((r->pages[pg].meta & FL_PG_SNAP) && fl__snap_settle(r, pg) != 0)
		return -1;
	if ((r->pages[pg].meta & FL_PG_COW) && fl__cow_break(r, pg) != 0) {
		fl__note_error();
		FL_WARN("cannot let a write through at %p after fork: %s",
			(void *)(r->base + pg * PS), fl__errname(errno));
		return -1;
	}
	P.faults[FL_FAULT_WP]++;
	note_fault(r, FL_FAULT_WP, 1);
	return 0;
}

int fl__pager_fault(uintptr_t addr, int write, struct fl_fault_info *fi)
{
	uint64_t t0 = fl_mono_ns();
	if (fi)
		fi->resolved = 0;
	if (!lock_for_handler()) {
		errno = EAGAIN;
		return -1;
	}
	cur_fault = fi;
	struct fl_region *r = fl__region_lookup(addr);
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
			r = fl__region_wait_busy(addr);
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
			if (write && (p->meta & (FL_PG_COW | FL_PG_SNAP))) {
				rc = resolve_protected(r, pg);
				break;
			}
			/* Already resident: another thread's fault won the race. */
			p->meta |= FL_PG_REF;
			P.eng->wake(addr & ~(uintptr_t)(PS - 1), PS);
			break;
		}
		break;
	}
	if (rc != 0)
		fl__note_error();
	uint64_t t1 = fl_mono_ns();
	P.fault_ns += t1 - t0;
	cur_fault = NULL;
	if (fi) {
		fi->t_ns = t1;
		fi->latency_ns = t1 - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
	}
	fl__reclaim_update_pressure(t1);
	fl_unlock(&P.lock);
	return rc;
}
