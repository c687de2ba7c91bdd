/*
 * The VM operations on managed memory, as the program's mmap, munmap,
 * madvise, mprotect and mremap reach the pager (the shim's interposition
 * sends them here): mapping and adopting regions, cutting ranges out of
 * them (trim, split, free), discarding pages, protections, and moving a
 * mapping with its pages.  Ranges that are only partly managed have their
 * other parts passed to the kernel.
 */
#include "pager_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "faultline/wire.h"
#include "log.h"
#include "mem.h"
#include "sys.h"

#define PS FL_PAGE_SIZE

static void *plain_map_at(void *addr, size_t len, int flags)
{
	return fl__sys_mmap(addr, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
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
		struct fl_region *r = fl__region_first_overlap(from, end);
		if (!r)
			break;
		if (P.busy) {
			/* Trims and splits renumber pages: the evictor must not be
			 * holding any of them. */
			fl__reclaim_wait_idle();
			continue;
		}
		uintptr_t lo = r->base > a ? r->base : a;
		uintptr_t hi = r->base + r->len < end ? r->base + r->len : end;
		size_t p0 = (lo - r->base) / PS, p1 = (hi - r->base) / PS;
		for (size_t i = p0; i < p1; i++) {
			/* Unmapped by us next: still there to copy into a
			 * snapshot (callers that let the kernel go first settle
			 * before it; fl__page_forget marks what is left lost). */
			if (unmap)
				fl__snap_leave(r, i, 1);
			fl__page_forget(r, i);
		}
		if (unmap && P.eng->region_unmap(r, p0, p1 - p0) != 0)
			fl__note_error();
		P.hand_region = 0;
		P.hand_page = 0;
		if (p0 == 0 && p1 == r->npages) {
			fl__region_free(r);
		} else if (p0 == 0) {
			size_t bytes;
			struct fl_page *t = fl__region_table_slice(r, p1, r->npages - p1, &bytes);
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
			fl__region_recount(r);
			fl__reclaim_requeue(r);
			r->fa_next = r->fa_low = r->ra_next = 0;
			FL_ASSERT(fl__region_ok(r));
			fl__region_announce(FL_WIRE_REGION_UPDATE, r);
		} else if (p1 == r->npages) {
			P.managed_pages -= r->npages - p0;
			r->npages = p0;
			r->len = p0 * PS;
			fl__region_recount(r);
			FL_ASSERT(fl__region_ok(r));
			fl__region_announce(FL_WIRE_REGION_UPDATE, r);
		} else {
			/* A hole in the middle: the tail becomes its own region. */
			struct fl_region *tail = fl__region_record(r->npages - p1, r->kind);
			if (tail)
				tail->pages = fl__region_table_slice(r, p1, tail->npages, &tail->pages_bytes);
			if (!tail || !tail->pages) {
				if (tail)
					fl__region_record_free(tail);
				rc = -1;
				from = hi;
				continue;
			}
			tail->base = r->base + p1 * PS;
			P.managed_pages -= p1 - p0;
			r->npages = p0;
			r->len = p0 * PS;
			fl__region_recount(r);
			fl__region_recount(tail);
			fl__region_insert(tail);
			fl__reclaim_requeue(tail);
			fl__reclaim_requeue(r);
			FL_ASSERT(fl__region_ok(r));
			fl__region_announce(FL_WIRE_REGION_UPDATE, r);
			fl__region_announce(FL_WIRE_REGION_CREATE, tail);
		}
		from = hi;
	}
	return rc;
}

int fl_pager_adopt(void *addr, size_t len, int kind)
{
	uintptr_t a = (uintptr_t)addr;
	if (!P.running || P.degraded || !P.caps.adopt || (a & (PS - 1)) || len == 0) {
		errno = ENOTSUP;
		return -1;
	}
	len = fl__round_pages(len);
	sigset_t oldmask;
	fl__pager_api_lock(&oldmask);
	int rc = -1;
	struct fl_region *r = NULL;
	if (fl__region_first_overlap(a, a + len)) {
		errno = EEXIST;
	} else if ((r = fl__region_new(len, a, REGION_ADOPT, kind)) != NULL) {
		fl__region_adopt_states(r);
		FL_ASSERT(fl__region_ok(r));
		rc = 0;
	}
	fl__pager_api_unlock(&oldmask);
	return rc;
}

void *fl_pager_map_at(void *addr, size_t len, int flags, int kind)
{
	if (len == 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	len = fl__round_pages(len);
	fl__fork_rearm();
	if (!P.running || P.degraded)
		return plain_map_at(addr, len, flags);
	int fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	sigset_t oldmask;
	fl__pager_api_lock(&oldmask);
	if (fixed & MAP_FIXED) {
		fl__snap_settle_range((uintptr_t)addr, (uintptr_t)addr + len);
		cut_range_locked((uintptr_t)addr, len, 0);
	}
	struct fl_region *r = fl__region_new(len, (uintptr_t)addr, fixed, kind);
	int e = errno;
	fl__pager_api_unlock(&oldmask);
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

int fl_pager_unmap(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	if ((a & (PS - 1)) || len == 0) {
		errno = EINVAL;
		return -1;
	}
	len = fl__round_pages(len);
	fl__fork_rearm();
	if (!P.running)
		return fl__sys_munmap(addr, len);
	sigset_t oldmask;
	fl__pager_api_lock(&oldmask);
	/* The kernel unmaps (and validates) first; then the tables follow. */
	int managed = fl__region_first_overlap(a, a + len) != NULL;
	/* Nothing may be mid-eviction when the addresses go away. */
	if (managed) {
		fl__reclaim_wait_idle();
		fl__snap_settle_range(a, a + len);
	}
	int rc = fl__sys_munmap(addr, len);
	if (rc == 0 && managed)
		cut_range_locked(a, len, 0);
	fl__pager_api_unlock(&oldmask);
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
		struct fl_region *r = fl__region_next_overlap(a, end, from, &first, &last, &hi);
		if (!r)
			break;
		/* Resident runs are dropped by the engine; held copies are freed. */
		size_t i = first;
		while (i < last) {
			size_t j = i;
			while (j < last && fl__pg_state(&r->pages[j]) == FL_PG_RESIDENT)
				j++;
			if (j > i) {
				for (size_t k = i; k < j; k++)
					fl__snap_leave(r, k, 1);
				if (P.eng->discard(r, i, j - i) != 0) {
					rc = -1;
					fl__note_error();
				}
				for (size_t k = i; k < j; k++)
					fl__page_forget(r, k);
				i = j;
			} else {
				fl__page_forget(r, i);
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
		struct fl_region *r = fl__region_first_overlap(x, end);
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
	len = fl__round_pages(len);
	sigset_t oldmask;
	fl__pager_api_lock(&oldmask);
	int rc = discard_locked(a, a + len);
	fl__pager_api_unlock(&oldmask);
	return rc;
}

int fl_pager_advise(void *addr, size_t len, int advice)
{
	uintptr_t a = (uintptr_t)addr;
	fl__fork_rearm();
	if (!P.running || (a & (PS - 1)))
		return fl__sys_madvise(addr, len, advice);
	len = fl__round_pages(len);
	sigset_t oldmask;
	fl__pager_api_lock(&oldmask);
	int rc;
	if (!fl__region_first_overlap(a, a + len)) {
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
	fl__pager_api_unlock(&oldmask);
	return rc;
}

void *fl_pager_map_over(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	uintptr_t a = (uintptr_t)addr & ~(uintptr_t)(PS - 1);
	fl__fork_rearm();
	if (!P.running)
		return fl__sys_mmap(addr, len, prot, flags, fd, off);
	sigset_t oldmask;
	fl__pager_api_lock(&oldmask);
	/* Under the lock, with the evictor idle: a take between the kernel's
	 * replacing the range and the tables following would fail on a
	 * mapping that is not managed (EINVAL from UFFDIO_MOVE). */
	int managed = fl__region_first_overlap(a, a + fl__round_pages(len)) != NULL;
	if (managed) {
		fl__reclaim_wait_idle();
		fl__snap_settle_range(a, a + fl__round_pages(len));
	}
	void *p = fl__sys_mmap(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED && managed)
		cut_range_locked(a, fl__round_pages(len), 0);
	fl__pager_api_unlock(&oldmask);
	return p;
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
	fl__pager_api_lock(&oldmask);
	int r = fl__region_first_overlap(a, (uintptr_t)addr + (len ? len : 1)) != NULL;
	fl__pager_api_unlock(&oldmask);
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
	len = fl__round_pages(len);
	fl__fork_rearm();
	if (!P.running)
		return fl__sys_mprotect(addr, len, prot);
	sigset_t oldmask;
	fl__pager_api_lock(&oldmask);
	int rc = 0;
	if (P.kind != FL_ENGINE_SIGNAL) {
		/* The kernel keeps protections; it also checks the range. */
		rc = fl__sys_mprotect(addr, len, prot);
		if (rc != 0) {
			fl__pager_api_unlock(&oldmask);
			return rc;
		}
	}
	uintptr_t end = a + len, from = a;
	for (;;) {
		size_t first, last;
		uintptr_t hi;
		struct fl_region *r = fl__region_next_overlap(a, end, from, &first, &last, &hi);
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
			fl__region_announce(FL_WIRE_REGION_UPDATE, r);
		from = hi;
	}
	/* Parts that are not ours are the kernel's. */
	if (P.kind == FL_ENGINE_SIGNAL && kernel_gaps(a, end, MPROTECT, prot) != 0)
		rc = -1;
	fl__pager_api_unlock(&oldmask);
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
			fl__page_move(src, s, FL_PG_RESIDENT);
			st = FL_PG_RESIDENT;
		}
		if (st == FL_PG_RESIDENT) {
			size_t j = i;
			while (j < n && fl__pg_state(&src->pages[sp + j]) == FL_PG_RESIDENT &&
			       !(src->pages[sp + j].meta & FL_PG_PINNED))
				j++;
			/* A snapshot is of addresses: its pages are copied before
			 * they move away. */
			for (size_t k = i; k < j; k++)
				fl__snap_leave(src, sp + k, 1);
			if (j == i)
				j = i + 1; /* a pinned page: copied by the engine like the rest */
			for (size_t k = i; k < j; k++)
				fl__pg_set_prot(&dst->pages[dp + k], fl__pg_prot(&src->pages[sp + k]));
			if (P.eng->move_pages(src, sp + i, dst, dp + i, j - i) != 0)
				return -1;
			for (size_t k = i; k < j; k++) {
				struct fl_page *d = &dst->pages[dp + k];
				fl__page_move(dst, d, FL_PG_RESIDENT);
				d->meta |= FL_PG_REF;
				fl__page_move(src, &src->pages[sp + k], FL_PG_UNTOUCHED);
			}
			i = j;
			continue;
		}
		struct fl_page *d = &dst->pages[dp + i];
		fl__pg_set_prot(d, fl__pg_prot(s));
		if (st != FL_PG_UNTOUCHED) {
			/* Held copies change owner; nothing is copied. */
			if (fl__page_carry(src, s, dst, d) == FL_PG_INACTIVE)
				fl__reclaim_inq_push(dst, dp + i, d->slot);
		}
		i++;
	}
	return 0;
}

void *fl_pager_remap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	uintptr_t a = (uintptr_t)old;
	fl__fork_rearm();
	/* What the kernel refuses (or, for old_len 0, only does for shared
	 * mappings, which are never managed) it can say itself. */
	if (!P.running || (a & (PS - 1)) || old_len == 0 || new_len == 0)
		return fl__sys_mremap(old, old_len, new_len, flags, new_addr);
	old_len = fl__round_pages(old_len);
	new_len = fl__round_pages(new_len);
	sigset_t oldmask;
	fl__pager_api_lock(&oldmask);
	if (!fl__region_first_overlap(a, a + old_len)) {
		fl__pager_api_unlock(&oldmask);
		return fl__sys_mremap(old, old_len, new_len, flags, new_addr);
	}
	/* A mapping grown in place is several adjacent regions: the range
	 * must be managed from end to end, by one region or more. */
	for (uintptr_t at = a; at < a + old_len;) {
		struct fl_region *c = fl__region_lookup(at);
		if (!c) {
			/* Part managed, part not: one mapping cannot be both. */
			fl__pager_api_unlock(&oldmask);
			errno = EFAULT;
			return MAP_FAILED;
		}
		at = c->base + c->len;
	}
	struct fl_region *r = fl__region_lookup(a + old_len - 1);
	void *ret = MAP_FAILED;
	if (!(flags & MREMAP_FIXED) && new_len <= old_len) {
		if (new_len < old_len)
			cut_range_locked(a + new_len, old_len - new_len, 1);
		fl__pager_api_unlock(&oldmask);
		return old;
	}
	if (!(flags & MREMAP_FIXED) && a + old_len == r->base + r->len) {
		/* Grow in place: a new region right after, if the space is free. */
		struct fl_region *ext = fl__region_new(new_len - old_len, a + old_len,
						   MAP_FIXED_NOREPLACE, r->kind);
		if (ext) {
			for (size_t i = 0; i < ext->npages; i++)
				fl__pg_set_prot(&ext->pages[i], fl__pg_prot(&r->pages[r->npages - 1]));
			apply_prot(ext, 0, ext->npages);
			fl__pager_api_unlock(&oldmask);
			return old;
		}
	}
	if (!(flags & (MREMAP_MAYMOVE | MREMAP_FIXED))) {
		fl__pager_api_unlock(&oldmask);
		errno = ENOMEM;
		return MAP_FAILED;
	}
	uintptr_t want = 0;
	int want_flags = 0;
	if (flags & MREMAP_FIXED) {
		want = (uintptr_t)new_addr;
		want_flags = MAP_FIXED;
		if ((want & (PS - 1)) || (want < a + old_len && a < want + new_len)) {
			fl__pager_api_unlock(&oldmask);
			errno = EINVAL;
			return MAP_FAILED;
		}
		cut_range_locked(want, new_len, 0);
	}
	struct fl_region *dst = fl__region_new(new_len, want, want_flags, r->kind);
	if (!dst) {
		int e = errno;
		fl__pager_api_unlock(&oldmask);
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
		struct fl_region *s = fl__region_next_overlap(a, stop, at, &first, &last, &hi);
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
		fl__note_error();
		FL_WARN("mremap could not move managed pages; the old mapping stays");
		errno = ENOMEM;
	}
	fl__pager_api_unlock(&oldmask);
	return ret;
}
