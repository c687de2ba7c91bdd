/*
 * One page's state and what it costs: the page-state machine of DESIGN.md
 * (UNTOUCHED -> RESIDENT -> INACTIVE -> COMPRESSED or SAME, and back to
 * RESIDENT on a touch, or to UNTOUCHED when discarded), the global and
 * per-region counters that follow every move, and the region's touched
 * bounds.  Every state change goes through here (lock held), so that the
 * counters always add up and debug builds can check that each move is an
 * edge of the machine.
 */
#include "pager_int.h"

#include <string.h>

/*
 * The edges of the state machine, by state left: the states a page may go
 * to.  Any state may go back to UNTOUCHED (discarded, unmapped, or found
 * absent when adopted); a held page goes back to RESIDENT when touched.
 */
#define EDGE(st) (1u << (st))
static const unsigned legal_edges[] = {
	[FL_PG_UNTOUCHED] = EDGE(FL_PG_UNTOUCHED) | EDGE(FL_PG_RESIDENT),
	[FL_PG_RESIDENT] = EDGE(FL_PG_INACTIVE) | EDGE(FL_PG_UNTOUCHED),
	[FL_PG_INACTIVE] = EDGE(FL_PG_RESIDENT) | EDGE(FL_PG_COMPRESSED) | EDGE(FL_PG_SAME) |
			   EDGE(FL_PG_UNTOUCHED),
	[FL_PG_COMPRESSED] = EDGE(FL_PG_RESIDENT) | EDGE(FL_PG_UNTOUCHED),
	[FL_PG_SAME] = EDGE(FL_PG_RESIDENT) | EDGE(FL_PG_UNTOUCHED),
};

static int legal_edge(unsigned from, unsigned to)
{
	return from <= FL_PG_SAME && to <= FL_PG_SAME && (legal_edges[from] & EDGE(to));
}

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

void fl__page_touched(struct fl_region *r, size_t pg)
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

void fl__page_move(struct fl_region *r, struct fl_page *p, unsigned st)
{
	FL_ASSERT(p >= r->pages && p < r->pages + r->npages);
	FL_ASSERT(legal_edge(fl__pg_state(p), st));
	/* The evictor's pages are its own until it clears BUSY. */
	FL_ASSERT(!(p->meta & FL_PG_BUSY));
	/* Only read-write pages the pager still manages are taken out. */
	FL_ASSERT(st != FL_PG_INACTIVE ||
		  !(p->meta & (FL_PG_PINNED | FL_PG_PROT_MASK)));
	count(r, fl__pg_state(p), -1);
	fl__pg_set_state(p, st);
	count(r, st, +1);
	if (st != FL_PG_UNTOUCHED)
		fl__page_touched(r, (size_t)(p - r->pages));
}

void fl__page_forget(struct fl_region *r, size_t pg)
{
	struct fl_page *p = &r->pages[pg];
	fl__snap_leave(r, pg, 0); /* callers settle first where the page is still there */
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
	fl__page_move(r, p, FL_PG_UNTOUCHED);
	/* The program's protection outlives the contents. */
	p->meta &= FL_PG_PROT_MASK;
	p->slot = 0;
}

unsigned fl__page_carry(struct fl_region *src, struct fl_page *s, struct fl_region *dst,
			struct fl_page *d)
{
	unsigned st = fl__pg_state(s);
	FL_ASSERT(st == FL_PG_INACTIVE || st == FL_PG_COMPRESSED || st == FL_PG_SAME);
	FL_ASSERT(fl__pg_state(d) == FL_PG_UNTOUCHED && !(s->meta & FL_PG_BUSY));
	/* Not an edge of the machine: the same held copy, under a new
	 * address.  Nothing is copied. */
	d->slot = s->slot;
	d->ref = s->ref;
	fl__pg_set_state(d, st);
	count(dst, st, +1);
	fl__page_touched(dst, (size_t)(d - dst->pages));
	count(src, st, -1);
	fl__pg_set_state(s, FL_PG_UNTOUCHED);
	s->slot = 0;
	memset(&s->ref, 0, sizeof s->ref);
	return st;
}
