/*
 * The region table: the records of managed mappings (a fixed pool, by id,
 * with a generation so that stale references can be told), the table of
 * live regions sorted by address with its lookups and overlap walks, and
 * each region's page table.  Also the one description of a region the
 * rest of the shim gets (fl__region_describe): the fault log and the state
 * file never read a region record themselves.  Lock held throughout.
 */
#include "pager_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "events.h"
#include "faultline/wire.h"
#include "mem.h"

#define PS FL_PAGE_SIZE

struct fl_region *fl__region_lookup(uintptr_t addr)
{
	size_t lo = 0, hi = P.nregions;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct fl_region *r = P.sorted[mid];
		FL_ASSERT(r->len && !(r->base & (PS - 1)));
		if (addr < r->base)
			hi = mid;
		else if (addr >= r->base + r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

void fl__region_insert(struct fl_region *r)
{
	FL_ASSERT(fl__region_ok(r));
	FL_ASSERT(P.nregions < MAX_REGIONS);
	size_t i = P.nregions;
	while (i > 0 && P.sorted[i - 1]->base > r->base) {
		P.sorted[i] = P.sorted[i - 1];
		i--;
	}
	/* Regions never overlap: a caller that maps over managed memory cuts
	 * it first. */
	FL_ASSERT(i == 0 || P.sorted[i - 1]->base + P.sorted[i - 1]->len <= r->base);
	FL_ASSERT(i == P.nregions || r->base + r->len <= P.sorted[i]->base);
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

/* A fresh region record (lock held), or NULL when all are in use. */
struct fl_region *fl__region_record(size_t npages, int kind)
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

void fl__region_record_free(struct fl_region *r)
{
	r->pages = NULL;
	r->gen++;
	P.free_ids[P.nfree_ids++] = r->id;
}

/*
 * Create a managed region with the lock held: a new mapping where want
 * and want_flags (0, MAP_FIXED, MAP_FIXED_NOREPLACE) say, or, with
 * REGION_ADOPT, the plain mapping already at want.  NULL with errno on
 * failure, leaving nothing behind.
 */
struct fl_region *fl__region_new(size_t len, uintptr_t want, int want_flags, int kind)
{
	struct fl_region *r = fl__region_record(len / PS, kind);
	if (!r)
		return NULL;
	r->pages_bytes = fl__round_pages(r->npages * sizeof(struct fl_page));
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
		fl__region_record_free(r);
		errno = e;
		return NULL;
	}
	fl__region_insert(r);
	P.managed_pages += r->npages;
	fl__region_announce(FL_WIRE_REGION_CREATE, r);
	return r;
}

void fl__region_free(struct fl_region *r)
{
	fl__region_announce(FL_WIRE_REGION_DESTROY, r);
	region_remove(r);
	P.managed_pages -= r->npages;
	fl__mem_free(r->pages, r->pages_bytes);
	fl__region_record_free(r);
}

/* Wait for a BUSY page with the lock dropped; returns the region again. */
struct fl_region *fl__region_wait_busy(uintptr_t addr)
{
	fl__pager_yield_lock();
	return fl__region_lookup(addr);
}

/* Wait until no page in [a, b) of the region at addr is BUSY. */
static struct fl_region *wait_range(uintptr_t addr, size_t a, size_t b)
{
	struct fl_region *r = fl__region_lookup(addr);
	for (;;) {
		if (!r)
			return NULL;
		size_t i;
		for (i = a; i < b && i < r->npages; i++)
			if (r->pages[i].meta & FL_PG_BUSY)
				break;
		if (i >= b || i >= r->npages)
			return r;
		r = fl__region_wait_busy(addr);
	}
}

/* Count a region's resident pages and find its touched bounds again
 * (after a split or a trim). */
void fl__region_recount(struct fl_region *r)
{
	r->n_resident = 0;
	r->t_lo = r->t_hi = 0;
	for (size_t i = 0; i < r->npages; i++) {
		unsigned st = fl__pg_state(&r->pages[i]);
		r->n_resident += st == FL_PG_RESIDENT;
		if (st != FL_PG_UNTOUCHED)
			fl__page_touched(r, i);
	}
}

/* A new table holding pages [from, from + n) of r's table. */
struct fl_page *fl__region_table_slice(struct fl_region *r, size_t from, size_t n, size_t *bytes)
{
	*bytes = fl__round_pages(n * sizeof(struct fl_page));
	struct fl_page *t = fl__mem_alloc(*bytes);
	if (t)
		memcpy(t, r->pages + from, n * sizeof *t);
	return t;
}

/* The first region overlapping [a, b), or NULL. */
struct fl_region *fl__region_first_overlap(uintptr_t a, uintptr_t b)
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
struct fl_region *fl__region_next_overlap(uintptr_t a, uintptr_t end, uintptr_t from,
				      size_t *first, size_t *last, uintptr_t *hi)
{
	for (;;) {
		struct fl_region *r = fl__region_first_overlap(from, end);
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
 * Rebuild page states of a range from what is present: an adopted range,
 * or a forked child's (a page its parent filled in while answering its
 * faults is present whatever the tables, a copy of the parent's, say:
 * resident now, its stored copy freed).
 */
void fl__region_adopt_states(struct fl_region *r)
{
	size_t vb = fl__round_pages(r->npages);
	unsigned char *vec = fl__mem_alloc(vb);
	if (!vec || mincore((void *)r->base, r->len, vec) != 0) {
		/* Unknown: treat untouched pages as resident (conservative);
		 * stored ones stay counted out. */
		for (size_t i = 0; i < r->npages; i++)
			if (fl__pg_state(&r->pages[i]) == FL_PG_UNTOUCHED)
				fl__page_move(r, &r->pages[i], FL_PG_RESIDENT);
	} else {
		for (size_t i = 0; i < r->npages; i++) {
			struct fl_page *p = &r->pages[i];
			unsigned st = fl__pg_state(p);
			int present = vec[i] & 1;
			if (st == FL_PG_RESIDENT) {
				if (!present)
					fl__page_move(r, p, FL_PG_UNTOUCHED);
				continue;
			}
			if (!present)
				continue;
			if (st == FL_PG_INACTIVE)
				P.eng->release(r, i, p->slot);
			else if (st != FL_PG_UNTOUCHED)
				fl_store_drop(P.store, &p->ref);
			p->slot = 0;
			fl__page_move(r, p, FL_PG_RESIDENT);
		}
	}
	fl__mem_free(vec, vb);
}

/* Is the region with this wire id (fl__region_wire_id) still there? */
int fl__region_alive(uint64_t id)
{
	uint32_t i = (uint32_t)id;
	return i < MAX_REGIONS && P.pool[i].pages && P.pool[i].gen == (uint32_t)(id >> 32);
}

uint64_t fl__region_wire_id(const struct fl_region *r)
{
	return ((uint64_t)r->gen << 32) | r->id;
}

void fl__region_describe(const struct fl_region *r, struct fl_region_desc *d)
{
	d->id = fl__region_wire_id(r);
	d->start = r->base;
	d->len = r->len;
	/* Pages may differ: the first page's stands for the region. */
	d->prot = r->pages && r->npages ? (uint32_t)fl__pg_prot(&r->pages[0]) : 3u;
	d->kind = (uint32_t)r->kind;
}

void fl__region_announce(uint32_t op, const struct fl_region *r)
{
	struct fl_region_desc d;
	fl__region_describe(r, &d);
	fl__events_region(op, &d);
}

#if defined(FL_ASSERTS) && FL_ASSERTS
/* O(pages): for assertions at region-level changes, never per page (and
 * defined only where assertions are checked). */
int fl__region_ok(const struct fl_region *r)
{
	if ((r->base & (PS - 1)) || r->len != r->npages * PS || !r->pages)
		return 0;
	size_t resident = 0;
	for (size_t i = 0; i < r->npages; i++) {
		unsigned st = fl__pg_state(&r->pages[i]);
		if (st > FL_PG_SAME)
			return 0;
		if (st != FL_PG_UNTOUCHED && (i < r->t_lo || i >= r->t_hi))
			return 0; /* the state publisher would skip it */
		resident += st == FL_PG_RESIDENT;
	}
	return resident == r->n_resident;
}

int fl__region_counts_ok(void)
{
	uint64_t n[FL_PG_SAME + 1] = {0}, managed = 0;
	for (size_t k = 0; k < P.nregions; k++) {
		const struct fl_region *r = P.sorted[k];
		if (!fl__region_ok(r) || (k && P.sorted[k - 1]->base + P.sorted[k - 1]->len > r->base))
			return 0;
		for (size_t i = 0; i < r->npages; i++)
			n[fl__pg_state(&r->pages[i])]++;
		managed += r->npages;
	}
	/* Every managed page is in exactly one state, and the counters say so. */
	return managed == P.managed_pages && n[FL_PG_RESIDENT] == P.resident &&
	       n[FL_PG_INACTIVE] == P.inactive && n[FL_PG_COMPRESSED] == P.compressed &&
	       n[FL_PG_SAME] == P.same &&
	       n[FL_PG_UNTOUCHED] + P.resident + P.inactive + P.compressed + P.same == managed;
}
#endif
