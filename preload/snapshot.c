/*
 * Snapshots of managed memory (the Mach vm_copy idea): fl_snapshot_take
 * write-protects the range's resident pages and copies nothing else that
 * is already out of the program's view but held by the pager (inactive,
 * compressed and same-filled pages are copied into the store at once,
 * untouched ones read as zero).  The first write to a protected page
 * after the snapshot copies it into the store first (a write-protect
 * fault); so does anything else that would change or drop it: the clock
 * taking it out, a discard, an unmap, a move.  Reading a page as it was,
 * restoring the range and dropping the snapshot follow from that.
 *
 * Only where write protection serves kernel-mode writes too (the uffd
 * engine: caps.cow_faults); elsewhere take fails with ENOTSUP.
 */
#include "pager_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "mem.h"
#include "sys.h"

#define PS FL_PAGE_SIZE

enum { SNAP_ZERO = 0, SNAP_PENDING = 1, SNAP_COPY = 2, SNAP_LOST = 3 };

struct fl_snapshot {
	struct fl_snapshot *next;
	uintptr_t base;
	size_t npages;
	struct fl_store_ref *refs;  /* SNAP_COPY: the page as it was */
	unsigned char *state;       /* per page, SNAP_* */
	size_t bytes;               /* of refs + state, for fl__mem_free */
	int forked;                 /* a copy of the parent's, in a child: unusable */
};

static struct fl_snapshot *snaps; /* under the pager lock */

static struct fl_snapshot *snap_of(uintptr_t addr)
{
	for (struct fl_snapshot *s = snaps; s; s = s->next)
		if (addr >= s->base && addr < s->base + s->npages * PS)
			return s;
	return NULL;
}

/* Copy [src] into the store as page i of s.  0 or -1. */
static int snap_copy(struct fl_snapshot *s, size_t i, const void *src)
{
	struct fl_store_ref ref;
	if (fl_store_put(P.ctx_fault, src, &ref) != 0)
		return -1;
	s->refs[i] = ref;
	s->state[i] = SNAP_COPY;
	return 0;
}

int fl__snap_settle(struct fl_region *r, size_t pg)
{
	struct fl_page *p = &r->pages[pg];
	if (!(p->meta & FL_PG_SNAP))
		return 0;
	uintptr_t a = r->base + pg * PS;
	struct fl_snapshot *s = snap_of(a);
	if (s) {
		size_t i = (a - s->base) / PS;
		/* Resident; the program may have made it unreadable since. */
		int prot = fl__pg_prot(p);
		if (!(prot & PROT_READ) && fl__sys_mprotect((void *)a, PS, prot | PROT_READ) != 0)
			return -1;
		int rc = snap_copy(s, i, (const void *)a);
		if (!(prot & PROT_READ))
			fl__sys_mprotect((void *)a, PS, prot);
		if (rc != 0)
			return -1;
	}
	p->meta &= ~FL_PG_SNAP;
	/* A page also shared since fork keeps its protection for that. */
	if (!(p->meta & FL_PG_COW) && P.eng->write_protect(r, pg, 1, 0) != 0)
		FL_WARN("cannot lift a snapshot's write protection at %p: %s", (void *)a, fl__errname(errno));
	return 0;
}

void fl__snap_leave(struct fl_region *r, size_t pg, int settle)
{
	if (!(r->pages[pg].meta & FL_PG_SNAP))
		return;
	if (settle && fl__snap_settle(r, pg) == 0)
		return;
	uintptr_t a = r->base + pg * PS;
	struct fl_snapshot *s = snap_of(a);
	if (s)
		s->state[(a - s->base) / PS] = SNAP_LOST;
	r->pages[pg].meta &= ~FL_PG_SNAP;
	FL_WARN("a snapshot's page at %p is lost (%s)", (void *)a,
		settle ? "the compressed store refused it" : "the mapping was replaced");
}

void fl__snap_settle_range(uintptr_t a, uintptr_t end)
{
	if (!snaps)
		return;
	for (size_t k = 0; k < P.nregions; k++) {
		struct fl_region *r = P.sorted[k];
		if (r->base >= end || r->base + r->len <= a)
			continue;
		size_t p0 = a > r->base ? (a - r->base) / PS : 0;
		size_t p1 = end < r->base + r->len ? (end - r->base + PS - 1) / PS : r->npages;
		for (size_t i = p0; i < p1; i++)
			fl__snap_leave(r, i, 1);
	}
}

void fl__snap_fork_child(void)
{
	for (struct fl_snapshot *s = snaps; s; s = s->next)
		s->forked = 1;
	for (size_t k = 0; k < P.nregions; k++) {
		struct fl_region *r = P.sorted[k];
		for (size_t i = 0; i < r->npages; i++)
			r->pages[i].meta &= ~FL_PG_SNAP;
	}
}

/* Page i of s at take, by its state (lock held).  0 or -1 with errno. */
static int take_page(struct fl_snapshot *s, struct fl_region *r, size_t pg, size_t i)
{
	struct fl_page *p = &r->pages[pg];
	const void *src = NULL;
	switch (fl__pg_state(p)) {
	case FL_PG_UNTOUCHED:
		s->state[i] = SNAP_ZERO;
		return 0;
	case FL_PG_RESIDENT:
		if (p->meta & FL_PG_PINNED) {
			src = (const void *)(r->base + pg * PS);
			break;
		}
		p->meta |= FL_PG_SNAP;
		s->state[i] = SNAP_PENDING;
		return 0;
	case FL_PG_INACTIVE:
		src = P.eng->peek(r, pg, p->slot, P.scratch + EVICT_BATCH * PS);
		break;
	default:
		if (fl_store_get(P.ctx_fault, &p->ref, P.bounce) != 0) {
			errno = EIO;
			return -1;
		}
		src = P.bounce;
		break;
	}
	if (!src || snap_copy(s, i, src) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Undo a take that failed half way (lock held). */
static void take_undo(struct fl_snapshot *s, struct fl_region *r, size_t pg0, size_t done)
{
	for (size_t i = 0; i < done; i++) {
		struct fl_page *p = &r->pages[pg0 + i];
		if (s->state[i] == SNAP_COPY) {
			fl_store_drop(P.store, &s->refs[i]);
		} else if (s->state[i] == SNAP_PENDING) {
			p->meta &= ~FL_PG_SNAP;
			if (!(p->meta & FL_PG_COW))
				P.eng->write_protect(r, pg0 + i, 1, 0);
		}
	}
}

/* Write-protect the pending runs of s (lock held).  0 or -1. */
static int protect_pending(struct fl_snapshot *s, struct fl_region *r, size_t pg0)
{
	size_t i = 0;
	while (i < s->npages) {
		if (s->state[i] != SNAP_PENDING) {
			i++;
			continue;
		}
		size_t j = i + 1;
		while (j < s->npages && s->state[j] == SNAP_PENDING)
			j++;
		if (P.eng->write_protect(r, pg0 + i, j - i, 1) != 0)
			return -1;
		i = j;
	}
	return 0;
}

FL_API struct fl_snapshot *fl_snapshot_take(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	if (!len || (a & (PS - 1)) || (len & (PS - 1))) {
		errno = EINVAL;
		return NULL;
	}
	if (!P.running || !P.caps.cow_faults || !P.eng->write_protect) {
		errno = ENOTSUP;
		return NULL;
	}
	size_t n = len / PS;
	size_t bytes = n * (sizeof(struct fl_store_ref) + 1) + sizeof(struct fl_snapshot);
	struct fl_snapshot *s = fl__mem_alloc(bytes);
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	memset(s, 0, sizeof *s);
	s->refs = (struct fl_store_ref *)(s + 1);
	s->state = (unsigned char *)(s->refs + n);
	s->base = a;
	s->npages = n;
	s->bytes = bytes;
	sigset_t old;
	fl__pager_api_lock(&old);
	fl__reclaim_wait_idle();
	int err = 0;
	struct fl_region *r = fl__region_lookup(a);
	if (!r || a + len > r->base + r->len)
		err = ENOENT;
	size_t pg0 = r ? (a - r->base) / PS : 0;
	for (size_t i = 0; !err && i < n; i++) {
		const struct fl_page *p = &r->pages[pg0 + i];
		if (p->meta & FL_PG_SNAP)
			err = EBUSY;
		else if (fl__pg_state(p) != FL_PG_UNTOUCHED && !(fl__pg_prot(p) & PROT_READ))
			err = EACCES;
	}
	size_t done = 0;
	for (; !err && done < n; done++)
		if (take_page(s, r, pg0 + done, done) != 0)
			err = errno;
	if (!err && protect_pending(s, r, pg0) != 0)
		err = errno ? errno : EIO;
	if (err) {
		if (r && done)
			take_undo(s, r, pg0, done);
		fl__pager_api_unlock(&old);
		fl__mem_free(s, bytes);
		errno = err;
		return NULL;
	}
	s->next = snaps;
	snaps = s;
	fl__pager_api_unlock(&old);
	return s;
}

static int usable(const struct fl_snapshot *s)
{
	if (s && s->forked) {
		errno = ECHILD;
		return 0;
	}
	if (!s || !P.running) {
		errno = EINVAL;
		return 0;
	}
	return 1;
}

FL_API int fl_snapshot_read(struct fl_snapshot *s, const void *page, void *buf)
{
	uintptr_t a = (uintptr_t)page;
	if (!usable(s))
		return -1;
	if ((a & (PS - 1)) || a < s->base || a >= s->base + s->npages * PS || !buf) {
		errno = EINVAL;
		return -1;
	}
	size_t i = (a - s->base) / PS;
	sigset_t old;
	fl__pager_api_lock(&old);
	int rc = 0;
	switch (s->state[i]) {
	case SNAP_ZERO:
		memset(buf, 0, PS);
		break;
	case SNAP_PENDING:
		/* Not written since: the page itself, resident while pending. */
		memcpy(buf, page, PS);
		break;
	case SNAP_COPY:
		if (fl_store_get(P.ctx_fault, &s->refs[i], buf) != 0) {
			errno = EIO;
			rc = -1;
		}
		break;
	default:
		errno = EIO;
		rc = -1;
		break;
	}
	fl__pager_api_unlock(&old);
	return rc;
}

FL_API int fl_snapshot_restore(struct fl_snapshot *s)
{
	if (!usable(s))
		return -1;
	unsigned char *buf = fl__mem_alloc(PS);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < s->npages && rc == 0; i++) {
		if (s->state[i] == SNAP_PENDING)
			continue; /* never written since the snapshot */
		rc = fl_snapshot_read(s, (const void *)(s->base + i * PS), buf);
		/* Written through the program's view, without the lock: the
		 * page may be out and fault like any write. */
		if (rc == 0)
			memcpy((void *)(s->base + i * PS), buf, PS);
	}
	fl__mem_free(buf, PS);
	return rc;
}

FL_API void fl_snapshot_drop(struct fl_snapshot *s)
{
	if (!s)
		return;
	sigset_t old;
	fl__pager_api_lock(&old);
	struct fl_snapshot **pp = &snaps;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	for (size_t i = 0; i < s->npages; i++) {
		uintptr_t a = s->base + i * PS;
		if (s->state[i] == SNAP_COPY) {
			fl_store_drop(P.store, &s->refs[i]);
		} else if (s->state[i] == SNAP_PENDING && !s->forked) {
			struct fl_region *r = fl__region_lookup(a);
			if (!r)
				continue;
			size_t pg = (a - r->base) / PS;
			struct fl_page *p = &r->pages[pg];
			if (!(p->meta & FL_PG_SNAP))
				continue;
			p->meta &= ~FL_PG_SNAP;
			if (!(p->meta & FL_PG_COW))
				P.eng->write_protect(r, pg, 1, 0);
		}
	}
	fl__pager_api_unlock(&old);
	fl__mem_free(s, s->bytes);
}
