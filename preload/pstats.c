/*
 * What the pager says about itself: the counters of the in-process API
 * (fl_stats_get), the managed ranges (fl_ranges_get), the live regions
 * for a (re)connecting fault log, and each region's page-state counts and
 * strip for the state file (publish.c).  Read-only over the pager's state;
 * long scans take the lock in short holds so faults do not wait on them.
 */
#include "pager_int.h"

#include <string.h>

#include "clock.h"
#include "events.h"
#include "faultline/state.h"
#include "mem.h"

#define PS FL_PAGE_SIZE

void fl__pager_region_snapshot(void (*fn)(const struct fl_region_desc *d, void *arg), void *arg)
{
	/* A forked child's regions are there before it re-arms, and its
	 * faults will name them once it has: announce them either way. */
	if (!P.running && !P.rearm_pending)
		return;
	sigset_t oldmask;
	fl__pager_api_lock(&oldmask);
	if (!P.running && !P.rearm_pending) {
		fl__pager_api_unlock(&oldmask);
		return; /* re-arming failed meanwhile: no regions */
	}
	/* Changes queued before now are in the snapshot, except those of
	 * regions that are gone. */
	fl__events_keep_ended_regions(fl__region_alive);
	for (size_t k = 0; k < P.nregions; k++) {
		struct fl_region_desc d;
		fl__region_describe(P.sorted[k], &d);
		fn(&d, arg);
	}
	fl__pager_api_unlock(&oldmask);
}

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
	struct fl_region_desc d;
	fl__region_describe(r, &d);
	memset(o, 0, sizeof *o);
	o->id = d.id;
	o->start = d.start;
	o->len = d.len;
	o->kind = d.kind;
	o->prot = d.prot;
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
			case FL_PG_COMPRESSED:
				if (p->ref.kind == FL_STORE_SPILLED) {
					o->spilled++;
					o->spilled_bytes += p->ref.size;
				} else {
					o->compressed++;
					o->compressed_bytes += p->ref.size;
				}
				break;
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
	fl__pager_api_lock(&oldmask);
	for (;;) {
		struct fl_region *r = fl__region_first_overlap(from, UINTPTR_MAX);
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
			fl__pager_api_unlock(&oldmask);
			fl__pager_api_lock(&oldmask);
			if (r->pages == pages && r->gen == gen && r->base == base &&
			    r->npages == npages)
				continue;
			/* Changed or gone: start over with what is there now. */
			r = fl__region_first_overlap(base, UINTPTR_MAX);
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
		fl__pager_api_unlock(&oldmask);
		fl__pager_api_lock(&oldmask);
	}
	fl__pager_api_unlock(&oldmask);
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
	fl__reclaim_update_pressure(fl_mono_ns());
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
	/* Spilled pages are counted apart (fl_pager_spill_stats). */
	s->compressed_pages = s->compressed_pages > ss.spill.payloads ? s->compressed_pages - ss.spill.payloads : 0;
	s->compressed_bytes = ss.payload_bytes;
	s->store_bytes = ss.slab_bytes;
	return 0;
}

void fl_pager_spill_get(struct fl_spill_stats *out)
{
	struct fl_store_stats ss;
	fl_store_stats(P.running ? P.store : NULL, &ss);
	*out = ss.spill;
}

void fl_pager_spill_stats(uint64_t *pages, uint64_t *bytes, uint64_t *file_bytes)
{
	struct fl_spill_stats s;
	fl_pager_spill_get(&s);
	*pages = s.payloads;
	*bytes = s.payload_bytes;
	*file_bytes = s.file_bytes;
}

void fl__pager_range_bytes(uintptr_t a, size_t len, uint64_t *resident, uint64_t *stored)
{
	*resident = *stored = 0;
	if (!P.running || !len)
		return;
	uintptr_t end = a + len, at = a;
	sigset_t oldmask;
	/* 4096 pages per hold of the lock, as for the state file. */
	while (at < end) {
		fl__pager_api_lock(&oldmask);
		struct fl_region *r = fl__region_first_overlap(at, end);
		if (!r) {
			fl__pager_api_unlock(&oldmask);
			break;
		}
		uintptr_t lo = at > r->base ? at : r->base;
		uintptr_t hi = end < r->base + r->len ? end : r->base + r->len;
		size_t pg = (lo - r->base) >> FL_PAGE_SHIFT, last = (hi - 1 - r->base) >> FL_PAGE_SHIFT;
		if (last - pg >= 4096) {
			last = pg + 4095;
			hi = r->base + ((last + 1) << FL_PAGE_SHIFT);
		}
		for (; pg <= last; pg++) {
			uintptr_t p0 = r->base + (pg << FL_PAGE_SHIFT), p1 = p0 + PS;
			uint64_t bytes = (p1 < hi ? p1 : hi) - (p0 > lo ? p0 : lo);
			unsigned st = fl__pg_state(&r->pages[pg]);
			if (st == FL_PG_RESIDENT || st == FL_PG_INACTIVE)
				*resident += bytes;
			else if (st == FL_PG_COMPRESSED || st == FL_PG_SAME)
				*stored += bytes;
		}
		fl__pager_api_unlock(&oldmask);
		at = hi;
	}
}
