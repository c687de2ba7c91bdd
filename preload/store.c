/*
 * The compressed store: evicted pages go in whole and come out whole.
 *
 * A page is first checked for being one 8-byte word repeated (zero pages
 * are the common case); such a page costs a reference and no memory.  Other
 * pages are compressed (LZ4 or zstd) into per-thread work memory and the
 * payload copied into a slot.  A page that does not compress to
 * FL_STORE_RAW_LIMIT bytes or fewer is kept raw in a page-sized slot: the
 * store never grows a page.
 *
 * Memory layout.  One MAP_NORESERVE reservation, sized to the capacity, is
 * cut into 64 KiB slabs.  Each slab in use serves one size class: 126
 * classes of 32-byte granularity (32 .. FL_STORE_RAW_LIMIT) and one class of
 * 4096-byte slots for raw pages.  Slabs of a class that have a free slot sit
 * on the class's partial list; a slab hands out never-used slots by bumping
 * an index (so a fresh slab is touched one page at a time, as it fills), and
 * reused slots from a free list threaded through the freed slots.  A slab
 * whose last slot is freed is given back to the kernel with MADV_DONTNEED
 * and queued for reuse by any class.  The slab metadata (list links,
 * counts, a bitmap of live slots) lives in a separate mapping so a released
 * slab keeps no resident page.
 *
 * A reference's val is the slot's byte offset in the reservation: the slab
 * is val / 64 KiB, its metadata (which says the slot size) sits at that
 * index, and ref.size is the payload, so get and drop need no lookup table.
 *
 * At capacity, a page whose class has no free slot goes into a free slot of
 * a larger class rather than being refused: that wastes the difference, but
 * a store that refuses pages while it has room would make the pager keep
 * them resident or spill them.
 *
 * The store makes no system call on put, get or drop other than the
 * MADV_DONTNEED that releases an empty slab: every mapping is made when the
 * store or a context is created, so running out of memory shows there and
 * as FL_STORE_EFULL, never half-way through storing a page.
 *
 * Locking: one lock (the shim's futex lock, lock.h: it spins briefly, then
 * sleeps, so a descheduled holder on a small VM costs no busy CPU) guards
 * slot allocation and release and the counters that go with them; it is
 * held for tens of nanoseconds.  Compression, decompression and the copy
 * into or out of a slot happen outside it, each thread in its own
 * fl_store_ctx.  The store never takes any other lock, so callers may hold
 * theirs (the pager calls in with its own lock held).
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "store.h"

#include <errno.h>
#include <lz4.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <zstd.h>

#include "lock.h"
#include "mem.h"
#include "spill.h"
#include "sys.h"

/*
 * Largest compressed payload worth keeping compressed.  Above it the page is
 * kept raw.  4096 - 64: a payload must save at least two 32-byte size-class
 * steps to be worth a decompression on every get.  Decompressing is cheap
 * next to the fault round trip that precedes a get (about 1 us for LZ4
 * against 30-100 us), so the cut sits close to a page; the point of the cut
 * is mostly that the compressor can stop early (its output buffer is this
 * size) instead of producing a payload no smaller than the page.
 */
#ifndef FL_STORE_RAW_LIMIT
#define FL_STORE_RAW_LIMIT 4032u
#endif

#define SLAB_SHIFT 16
#define SLAB_SIZE (1u << SLAB_SHIFT)
#define GRAIN 32u
#define NCLASS_COMP (FL_STORE_RAW_LIMIT / GRAIN)
#define CLS_RAW NCLASS_COMP
#define NCLASS (NCLASS_COMP + 1)
#define CLS_NONE 0xffffffffu /* slab_class() of a slab serving no class */
#define MAX_SLOTS (SLAB_SIZE / GRAIN)
#define NIL 0xffffffffu

_Static_assert(FL_STORE_RAW_LIMIT % GRAIN == 0, "raw limit on a class boundary");
_Static_assert(FL_STORE_RAW_LIMIT < FL_PAGE_SIZE, "raw limit below a page");
_Static_assert(MAX_SLOTS <= 0xffff, "slot indices fit 16 bits");

struct slab {
	uint32_t next;	/* partial list of the class, or the free-slab list */
	uint32_t prev;	/* partial list only */
	uint16_t cls1;	/* size class + 1; 0 while never used, free or being
			 * released (so untouched metadata reads as free) */
	uint16_t used;	/* live slots */
	uint16_t bump;	/* slots ever handed out since the slab was assigned */
	uint16_t free;	/* 1 + first free slot below bump; 0: none */
	uint8_t partial; /* on its class's partial list */
	uint8_t pad[7];
	/* Live slots: catches a reference dropped twice (or made up) before it
	 * can hand one slot to two pages. */
	uint64_t live[MAX_SLOTS / 64];
};

struct fl_store {
	/* Configuration, fixed after create. */
	enum fl_compressor comp;
	int level;
	uint64_t capacity;	/* rounded down to whole slabs */
	unsigned char *base;	/* the slab reservation */
	size_t res_len;
	uint32_t nslabs;
	size_t map_len;		/* this struct and the slab metadata */
	struct slab *slabs;
	size_t ctx_len, lz4_len, cctx_len, dctx_len;

	/* Under lock. */
	fl_lock_t lock;
	uint32_t partial[NCLASS];
	uint32_t free_slabs;	/* released slabs, ready for any class */
	uint32_t top;		/* slabs below top have been used at least once */
	uint64_t pages_comp, pages_raw, payload_bytes, slot_bytes, slab_bytes;

	/* Atomic, outside the lock. */
	uint64_t pages_same, puts, gets, drops, full_rejects;

	struct fl_spill *spill; /* NULL: no spill file */
};

/* Spill file bytes one round of reads brings in at most, and the most
 * pages fl_store_get_many plans at a time. */
#define SPILL_WINDOW (256u << 10)
#define GET_RUN 256u

struct fl_store_ctx {
	struct fl_store *st;
	size_t len;
	void *lz4_state;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	/* Where fl_store_get_many reads the spill file's blocks into
	 * (SPILL_WINDOW bytes, mapped at the first spilled page). */
	unsigned char *win;
	struct fl_spill_reader rd;
	/* fl_store_get_many's plan (here, not on a signal handler's stack). */
	struct fl_spill_run runs[FL_SPILL_RUNS];
	uint8_t run_of[GET_RUN];
	unsigned char buf[FL_STORE_RAW_LIMIT] __attribute__((aligned(64)));
};

static inline uint32_t slot_size(unsigned cls)
{
	return cls == CLS_RAW ? FL_PAGE_SIZE : (cls + 1) * GRAIN;
}

static inline unsigned slots_per_slab(unsigned cls)
{
	return SLAB_SIZE / slot_size(cls);
}

/* The class a slab serves, or CLS_NONE.  Read without the lock by get. */
static inline unsigned slab_class(const struct slab *s)
{
	return (unsigned)__atomic_load_n(&s->cls1, __ATOMIC_RELAXED) - 1u;
}

static inline void slab_set_class(struct slab *s, unsigned cls)
{
	__atomic_store_n(&s->cls1, (uint16_t)(cls + 1), __ATOMIC_RELAXED);
}

/* Smallest size class for a payload; the kind decides raw or compressed.
 * A payload may sit in a larger class when the store is at capacity. */
static inline unsigned class_of(uint32_t kind, uint32_t size)
{
	return kind == FL_STORE_RAW ? CLS_RAW : (size + GRAIN - 1) / GRAIN - 1;
}

static inline size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

static inline void store_lock(struct fl_store *st)
{
	fl_lock(&st->lock);
}

static inline void store_unlock(struct fl_store *st)
{
	fl_unlock(&st->lock);
}

void fl_store_fork_child(struct fl_store *st)
{
	st->lock.v = 0;
	if (st->spill)
		fl_spill_fork_child(st->spill);
}

void fl_store_fork_prepare(struct fl_store *st)
{
	if (st && st->spill)
		fl_spill_fork_prepare(st->spill);
}

int fl_store_owns_fd(const struct fl_store *st, int fd)
{
	return st && fl_spill_owns_fd(st->spill, fd);
}

int fl_store_spill_setup(struct fl_store *st, const char *dir, uint64_t max_bytes)
{
	if (!st || st->spill)
		return FL_STORE_EINVAL;
	st->spill = fl_spill_create(dir, max_bytes);
	return st->spill ? 0 : FL_STORE_ENOMEM;
}

int fl_store_can_spill(const struct fl_store *st)
{
	return st && st->spill;
}

uint64_t fl_store_room(struct fl_store *st, uint64_t *cap)
{
	store_lock(st);
	uint64_t used = st->slab_bytes;
	store_unlock(st);
	*cap = st->capacity;
	return used < st->capacity ? st->capacity - used : 0;
}

static inline void stat_add(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static uint64_t default_capacity(void)
{
	struct sysinfo si;

	if (sysinfo(&si) != 0 || si.totalram == 0)
		return 0;
	return (uint64_t)si.totalram * si.mem_unit / 2;
}

/* Partial-list surgery; under lock. */
static void partial_push(struct fl_store *st, uint32_t idx)
{
	struct slab *s = &st->slabs[idx];
	uint32_t head = st->partial[slab_class(s)];

	s->prev = NIL;
	s->next = head;
	if (head != NIL)
		st->slabs[head].prev = idx;
	st->partial[slab_class(s)] = idx;
	s->partial = 1;
}

static void partial_unlink(struct fl_store *st, uint32_t idx)
{
	struct slab *s = &st->slabs[idx];

	if (s->prev != NIL)
		st->slabs[s->prev].next = s->next;
	else
		st->partial[slab_class(s)] = s->next;
	if (s->next != NIL)
		st->slabs[s->next].prev = s->prev;
	s->next = s->prev = NIL;
	s->partial = 0;
}

/*
 * Take a slot of class cls.  Returns its offset in the reservation, or -1
 * when the store is at capacity.  Accounts the page as held.
 */
static int64_t slot_alloc(struct fl_store *st, unsigned cls, uint32_t kind,
			  uint32_t payload)
{
	uint32_t idx, slot;
	struct slab *s;

	store_lock(st);
	idx = st->partial[cls];
	/* The second test follows from the first (slab_bytes counts every
	 * slab neither free nor unused); it is there so that a slip in the
	 * accounting refuses a page instead of reaching past the reservation. */
	if (idx == NIL && (st->slab_bytes + SLAB_SIZE > st->capacity ||
			   (st->free_slabs == NIL && st->top >= st->nslabs))) {
		/* At capacity: a free slot of a larger class still beats
		 * turning the page away. */
		for (unsigned c = cls + 1; c < NCLASS && idx == NIL; c++) {
			idx = st->partial[c];
			if (idx != NIL)
				cls = c;
		}
		if (idx == NIL)
			goto full;
	}
	if (idx == NIL) {
		if (st->free_slabs != NIL) {
			idx = st->free_slabs;
			st->free_slabs = st->slabs[idx].next;
		} else {
			idx = st->top++;
		}
		s = &st->slabs[idx];
		slab_set_class(s, cls);
		s->used = 0;
		s->bump = 0;
		s->free = 0;
		memset(s->live, 0, sizeof(s->live));
		partial_push(st, idx);
		st->slab_bytes += SLAB_SIZE;
	}
	s = &st->slabs[idx];
	if (s->free) {
		uint16_t next;

		slot = s->free - 1u;
		memcpy(&next, st->base + ((size_t)idx << SLAB_SHIFT) +
			      (size_t)slot * slot_size(cls), sizeof(next));
		s->free = next;
	} else {
		slot = s->bump++;
	}
	s->live[slot / 64] |= 1ull << (slot % 64);
	if (++s->used == slots_per_slab(cls))
		partial_unlink(st, idx);

	if (kind == FL_STORE_RAW)
		st->pages_raw++;
	else
		st->pages_comp++;
	st->payload_bytes += payload;
	st->slot_bytes += slot_size(cls);
	store_unlock(st);
	return (int64_t)((uint64_t)idx << SLAB_SHIFT) + (int64_t)slot * slot_size(cls);

full:
	store_unlock(st);
	return -1;
}

/*
 * Where a reference points: its slab, that slab's class and the slot.
 * Returns 0 when the reference cannot name a slot holding its payload.
 * Checks what the reference and the slab's class say; whether the slot is
 * live is checked under the lock in drop.  get, which runs without the
 * lock, relies on the caller holding a live reference: these checks only
 * keep a bad one from reading outside the reservation.
 */
static int ref_locate(const struct fl_store *st, const struct fl_store_ref *ref,
		      uint32_t *idx, unsigned *cls, uint32_t *slot)
{
	uint32_t off;

	if (ref->kind == FL_STORE_RAW) {
		if (ref->size != FL_PAGE_SIZE)
			return 0;
	} else if (ref->kind == FL_STORE_COMP) {
		if (ref->size == 0 || ref->size > FL_STORE_RAW_LIMIT)
			return 0;
	} else {
		return 0;
	}
	if (ref->val >= st->res_len)
		return 0;
	*idx = (uint32_t)(ref->val >> SLAB_SHIFT);
	*cls = slab_class(&st->slabs[*idx]);
	if (*cls == CLS_NONE || *cls < class_of(ref->kind, ref->size))
		return 0;
	if (ref->kind == FL_STORE_RAW && *cls != CLS_RAW)
		return 0;
	off = (uint32_t)(ref->val & (SLAB_SIZE - 1));
	if (off % slot_size(*cls) != 0)
		return 0;
	*slot = off / slot_size(*cls);
	return *slot < slots_per_slab(*cls);
}

static void slot_free(struct fl_store *st, const struct fl_store_ref *ref)
{
	uint32_t idx, slot;
	unsigned cls;
	unsigned char *slab_mem;
	struct slab *s;
	int release = 0;

	store_lock(st);
	if (!ref_locate(st, ref, &idx, &cls, &slot))
		goto stale;
	s = &st->slabs[idx];
	slab_mem = st->base + ((size_t)idx << SLAB_SHIFT);
	if (idx >= st->top || slot >= s->bump ||
	    !(s->live[slot / 64] & (1ull << (slot % 64))))
		goto stale;
	s->live[slot / 64] &= ~(1ull << (slot % 64));
	uint16_t link = s->free;
	memcpy(slab_mem + (size_t)slot * slot_size(cls), &link, sizeof(link));
	s->free = (uint16_t)(slot + 1);

	if (ref->kind == FL_STORE_RAW)
		st->pages_raw--;
	else
		st->pages_comp--;
	st->payload_bytes -= ref->size;
	st->slot_bytes -= slot_size(cls);
	__atomic_fetch_add(&st->drops, 1, __ATOMIC_RELAXED);

	if (--s->used == 0) {
		/* Nobody can allocate from it while it is off every list, so the
		 * madvise can run without the lock. */
		if (s->partial)
			partial_unlink(st, idx);
		__atomic_store_n(&s->cls1, 0, __ATOMIC_RELAXED);
		release = 1;
	} else if (!s->partial) {
		partial_push(st, idx);
	}
	store_unlock(st);

	if (!release)
		return;
	/* A failed madvise only leaves the memory resident; the slab is
	 * reusable either way, since nothing relies on it reading as zero. */
	fl__sys_madvise(slab_mem, SLAB_SIZE, MADV_DONTNEED);
	store_lock(st);
	s->next = st->free_slabs;
	st->free_slabs = idx;
	st->slab_bytes -= SLAB_SIZE;
	store_unlock(st);
	return;

stale:
	/* Not a live slot: a reference dropped twice, or made up.  Leave the
	 * store as it is rather than hand the slot out twice. */
	store_unlock(st);
}

struct fl_store *fl_store_create(const struct fl_store_config *cfg, int *err)
{
	struct fl_store_config c = {FL_COMP_LZ4, 0, 0};
	struct fl_store *st;
	uint64_t cap, nslabs;
	size_t map_len, res_len;
	void *map, *res;
	int dummy;

	if (!err)
		err = &dummy;
	if (cfg)
		c = *cfg;
	if (c.compressor != FL_COMP_LZ4 && c.compressor != FL_COMP_ZSTD)
		goto einval;
	if (c.compressor == FL_COMP_ZSTD) {
		/* 0 means the default, level 1, as in fl_pager_config. */
		if (c.level == 0)
			c.level = 1;
		if (c.level < ZSTD_minCLevel() || c.level > ZSTD_maxCLevel())
			goto einval;
	}
	cap = c.capacity ? c.capacity : default_capacity();
	nslabs = cap >> SLAB_SHIFT;
	if (nslabs == 0)
		goto einval;
	if (nslabs > NIL - 1)
		nslabs = NIL - 1;
	cap = nslabs << SLAB_SHIFT;

	map_len = align_up(align_up(sizeof(*st), 64) +
			   nslabs * sizeof(struct slab), FL_PAGE_SIZE);
	res_len = (size_t)cap;
	map = fl__sys_mmap(NULL, map_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		goto enomem;
	res = fl__sys_mmap(NULL, res_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED) {
		fl__sys_munmap(map, map_len);
		goto enomem;
	}
	/* Huge pages would make the first slot of a slab cost 2 MiB and turn
	 * each slab release into a split.  Best effort. */
	fl__sys_madvise(res, res_len, MADV_NOHUGEPAGE);
	fl__mem_note(map, map_len);
	fl__mem_note(res, res_len);

	st = map;	/* fresh anonymous memory: already zero */
	st->comp = c.compressor;
	st->level = c.level;
	st->capacity = cap;
	st->base = res;
	st->res_len = res_len;
	st->nslabs = (uint32_t)nslabs;
	st->map_len = map_len;
	st->slabs = (struct slab *)((char *)map + align_up(sizeof(*st), 64));
	for (unsigned i = 0; i < NCLASS; i++)
		st->partial[i] = NIL;
	st->free_slabs = NIL;

	if (st->comp == FL_COMP_LZ4) {
		st->lz4_len = align_up((size_t)LZ4_sizeofState(), 64);
	} else {
		/* Sized for one page of input: ZSTD_compressCCtx derives its
		 * parameters from the source size, and a 4 KiB source needs a
		 * small window and small tables at any level. */
		ZSTD_compressionParameters cp =
			ZSTD_getCParams(st->level, FL_PAGE_SIZE, 0);
		st->cctx_len = align_up(ZSTD_estimateCCtxSize_usingCParams(cp), 64);
		st->dctx_len = align_up(ZSTD_estimateDCtxSize(), 64);
	}
	st->ctx_len = align_up(align_up(sizeof(struct fl_store_ctx), 64) +
			       st->lz4_len + st->cctx_len + st->dctx_len,
			       FL_PAGE_SIZE);
	*err = 0;
	return st;

einval:
	*err = FL_STORE_EINVAL;
	return NULL;
enomem:
	*err = FL_STORE_ENOMEM;
	return NULL;
}

void fl_store_destroy(struct fl_store *st)
{
	if (!st)
		return;
	fl_spill_destroy(st->spill);
	fl__mem_unnote(st->base);
	fl__mem_unnote(st);
	fl__sys_munmap(st->base, st->res_len);
	fl__sys_munmap(st, st->map_len);
}

struct fl_store_ctx *fl_store_ctx_create(struct fl_store *st)
{
	struct fl_store_ctx *ctx;
	unsigned char *work;
	void *map;

	if (!st)
		return NULL;
	map = fl__sys_mmap(NULL, st->ctx_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	ctx = map;
	ctx->st = st;
	ctx->len = st->ctx_len;
	work = (unsigned char *)map + align_up(sizeof(*ctx), 64);
	if (st->comp == FL_COMP_LZ4) {
		ctx->lz4_state = work;
	} else {
		ctx->cctx = ZSTD_initStaticCCtx(work, st->cctx_len);
		ctx->dctx = ZSTD_initStaticDCtx(work + st->cctx_len, st->dctx_len);
		if (!ctx->cctx || !ctx->dctx) {
			fl__sys_munmap(map, st->ctx_len);
			return NULL;
		}
	}
	fl__mem_note(map, st->ctx_len);
	return ctx;
}

void fl_store_ctx_destroy(struct fl_store_ctx *ctx)
{
	if (ctx) {
		fl_spill_reader_close(&ctx->rd);
		if (ctx->win) {
			fl__mem_unnote(ctx->win);
			fl__sys_munmap(ctx->win, SPILL_WINDOW);
		}
		fl__mem_unnote(ctx);
		fl__sys_munmap(ctx, ctx->len);
	}
}

int fl_store_same_filled(const void *page, uint64_t *word)
{
	const unsigned char *p = page;
	uint64_t w, v[8];

	memcpy(&w, p, sizeof(w));
	/* Eight words a round, so a mismatch (the usual answer) is found in
	 * the first round and a matching page is checked with wide loads. */
	for (size_t off = 0; off < FL_PAGE_SIZE; off += sizeof(v)) {
		uint64_t diff = 0;

		memcpy(v, p + off, sizeof(v));
		for (int i = 0; i < 8; i++)
			diff |= v[i] ^ w;
		if (diff)
			return 0;
	}
	if (word)
		*word = w;
	return 1;
}

/* Compress into ctx->buf.  Returns the payload size, or 0 when the page does
 * not fit in FL_STORE_RAW_LIMIT bytes (or the compressor failed). */
static uint32_t compress_page(struct fl_store_ctx *ctx, const void *page)
{
	struct fl_store *st = ctx->st;

	if (st->comp == FL_COMP_LZ4) {
		int n = LZ4_compress_fast_extState(ctx->lz4_state, page,
						   (char *)ctx->buf, FL_PAGE_SIZE,
						   FL_STORE_RAW_LIMIT, 1);
		return n > 0 ? (uint32_t)n : 0;
	}
	size_t n = ZSTD_compressCCtx(ctx->cctx, ctx->buf, FL_STORE_RAW_LIMIT,
				     page, FL_PAGE_SIZE, st->level);
	return ZSTD_isError(n) ? 0 : (uint32_t)n;
}

int fl_store_put(struct fl_store_ctx *ctx, const void *page,
		 struct fl_store_ref *ref)
{
	struct fl_store *st;
	const void *src;
	uint64_t word;
	uint32_t kind, size;
	int64_t off;

	if (!ctx || !page || !ref)
		return FL_STORE_EINVAL;
	st = ctx->st;
	if (fl_store_same_filled(page, &word)) {
		ref->val = word;
		ref->kind = FL_STORE_SAME;
		ref->size = 0;
		stat_add(&st->pages_same, 1);
		stat_add(&st->puts, 1);
		return 0;
	}
	size = compress_page(ctx, page);
	if (size) {
		kind = FL_STORE_COMP;
		src = ctx->buf;
	} else {
		kind = FL_STORE_RAW;
		size = FL_PAGE_SIZE;
		src = page;
	}
	off = slot_alloc(st, class_of(kind, size), kind, size);
	if (off < 0) {
		stat_add(&st->full_rejects, 1);
		return FL_STORE_EFULL;
	}
	memcpy(st->base + off, src, size);
	ref->val = (uint64_t)off;
	ref->kind = kind;
	ref->size = size;
	stat_add(&st->puts, 1);
	return 0;
}

static inline const struct fl_store_ref *ref_at(const struct fl_store_ref *first, size_t stride, size_t i)
{
	return (const struct fl_store_ref *)((const char *)first + i * stride);
}

static inline uint64_t block_down(uint64_t off)
{
	return off & ~(uint64_t)(FL_SPILL_BLOCK - 1);
}

/* Bit i of a set of GET_RUN. */
#define BIT(set, i) ((set)[(i) / 64] >> ((i) % 64) & 1)
/* One read's most bytes: a fault's near neighbours either way. */
#define RUN_MAX (2 * FL_SPILL_NEAR_BYTES)

/* Rebuild the page of ref into out from src, its payload; src is NULL
 * unless ref is spilled. */
static int get_page(struct fl_store_ctx *ctx, const struct fl_store_ref *ref, const unsigned char *src, void *out)
{
	struct fl_store *st = ctx->st;

	if (ref->kind == FL_STORE_SAME) {
		uint64_t *o = out;

		if (((uintptr_t)out & 7) == 0) {
			for (size_t i = 0; i < FL_PAGE_SIZE / 8; i++)
				o[i] = ref->val;
		} else {
			for (size_t i = 0; i < FL_PAGE_SIZE; i += 8)
				memcpy((char *)out + i, &ref->val, 8);
		}
		stat_add(&st->gets, 1);
		return 0;
	}
	uint32_t idx, slot;
	unsigned cls;
	int raw = ref->kind == FL_STORE_RAW;
	if (ref->kind == FL_STORE_SPILLED) {
		raw = ref->size == FL_PAGE_SIZE;
	} else if (!ref_locate(st, ref, &idx, &cls, &slot)) {
		return FL_STORE_EINVAL;
	} else {
		src = st->base + ref->val;
	}
	if (raw) {
		memcpy(out, src, FL_PAGE_SIZE);
	} else if (st->comp == FL_COMP_LZ4) {
		int n = LZ4_decompress_safe((const char *)src, out,
					    (int)ref->size, FL_PAGE_SIZE);
		if (n != (int)FL_PAGE_SIZE)
			return FL_STORE_ECORRUPT;
	} else {
		size_t n = ZSTD_decompressDCtx(ctx->dctx, out, FL_PAGE_SIZE,
					       src, ref->size);
		if (ZSTD_isError(n) || n != FL_PAGE_SIZE)
			return FL_STORE_ECORRUPT;
	}
	stat_add(&st->gets, 1);
	return 0;
}

static int spilled_ok(const struct fl_store *st, const struct fl_store_ref *ref)
{
	return st->spill && ref->size && ref->size <= FL_PAGE_SIZE &&
	       (ref->size <= FL_STORE_RAW_LIMIT || ref->size == FL_PAGE_SIZE);
}

/*
 * Plan the reads for the spilled pages still wanted from i on: runs of
 * blocks, each holding one or more of their payloads (near ones share a
 * run of at most RUN_MAX), at most FL_SPILL_RUNS of them and
 * SPILL_WINDOW bytes in all, laid out one after another in the window.
 * ctx->run_of[j] is 1 + the run holding page j's payload, 0 for none yet.
 * Returns how many runs (in ctx->runs).
 */
static size_t plan_runs(struct fl_store_ctx *ctx, const struct fl_store_ref *first, size_t stride, size_t i,
			size_t n, const uint64_t *want)
{
	struct fl_spill_run *runs = ctx->runs;
	uint64_t total = 0;
	size_t k = 0;
	for (size_t j = i; j < n; j++) {
		const struct fl_store_ref *ref = ref_at(first, stride, j);
		ctx->run_of[j] = 0;
		if (!BIT(want, j) || ref->kind != FL_STORE_SPILLED || !spilled_ok(ctx->st, ref))
			continue;
		uint64_t lo = block_down(ref->val), hi = align_up(ref->val + ref->size, FL_SPILL_BLOCK);
		size_t r = 0;
		for (; r < k; r++) {
			uint64_t rlo = runs[r].loc, rhi = rlo + runs[r].len;
			if (fl_spill_loc_file(rlo) != fl_spill_loc_file(lo))
				continue;
			uint64_t nlo = lo < rlo ? lo : rlo, nhi = hi > rhi ? hi : rhi;
			uint64_t grow = (nhi - nlo) - runs[r].len;
			if (nhi - nlo <= RUN_MAX && total + grow <= SPILL_WINDOW) {
				runs[r].loc = nlo;
				runs[r].len = nhi - nlo;
				total += grow;
				break;
			}
		}
		if (r == k) {
			if (k == FL_SPILL_RUNS || total + (hi - lo) > SPILL_WINDOW)
				continue; /* the next round's */
			runs[k].loc = lo;
			runs[k].len = hi - lo;
			total += hi - lo;
			k++;
		}
		ctx->run_of[j] = (uint8_t)(r + 1);
	}
	unsigned char *buf = ctx->win;
	for (size_t r = 0; r < k; r++) {
		runs[r].buf = buf;
		buf += runs[r].len;
	}
	return k;
}

/*
 * Rebuild refs[0..n) (n <= GET_RUN) into out: the spilled ones read in
 * rounds of parallel reads, each page from whichever read holds it.
 * Returns how many from the first were rebuilt; *err why the next was
 * not.
 */
static size_t get_run(struct fl_store_ctx *ctx, const struct fl_store_ref *first, size_t stride, size_t n,
		      unsigned char *out, int *err)
{
	uint64_t want[GET_RUN / 64] = {0};
	for (size_t j = 0; j < n; j++)
		want[j / 64] |= 1ull << (j % 64);
	size_t i = 0;
	for (; i < n; i++) {
		if (!BIT(want, i))
			continue;
		const struct fl_store_ref *ref = ref_at(first, stride, i);
		if (ref->kind != FL_STORE_SPILLED) {
			if ((*err = get_page(ctx, ref, NULL, out + i * FL_PAGE_SIZE)) != 0)
				break;
			want[i / 64] &= ~(1ull << (i % 64));
			continue;
		}
		*err = FL_STORE_EINVAL;
		if (!spilled_ok(ctx->st, ref))
			break;
		*err = FL_STORE_ESPILL; /* unless a read brings it */
		if (!ctx->win) {
			void *w = fl__sys_mmap(NULL, SPILL_WINDOW, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
					       -1, 0);
			if (w == MAP_FAILED)
				break;
			fl__mem_note(w, SPILL_WINDOW);
			ctx->win = w;
		}
		size_t k = plan_runs(ctx, first, stride, i, n, want);
		fl_spill_read_runs(ctx->st->spill, &ctx->rd, ctx->runs, k);
		/* Every page a read brought, this one (run 1) first. */
		for (size_t j = i; j < n; j++) {
			if (!ctx->run_of[j])
				continue;
			const struct fl_spill_run *r = &ctx->runs[ctx->run_of[j] - 1];
			const struct fl_store_ref *o = ref_at(first, stride, j);
			uint64_t at = o->val - r->loc;
			if (r->got < 0 || at + o->size > (uint64_t)r->got)
				continue; /* not read: tried again as the first wanted */
			int rc = get_page(ctx, o, (const unsigned char *)r->buf + at, out + j * FL_PAGE_SIZE);
			if (j == i)
				*err = rc;
			if (rc == 0)
				want[j / 64] &= ~(1ull << (j % 64));
		}
		if (*err)
			break;
	}
	return i;
}

size_t fl_store_get_many(struct fl_store_ctx *ctx, const struct fl_store_ref *first, size_t stride,
			 size_t n, void *out, int *err)
{
	*err = 0;
	if (!ctx || !first || !out)
		return *err = FL_STORE_EINVAL, 0;
	size_t done = 0;
	while (done < n) {
		size_t m = n - done < GET_RUN ? n - done : GET_RUN;
		size_t got = get_run(ctx, ref_at(first, stride, done), stride, m,
				     (unsigned char *)out + done * FL_PAGE_SIZE, err);
		done += got;
		if (got < m)
			break;
	}
	return done;
}

int fl_store_get(struct fl_store_ctx *ctx, const struct fl_store_ref *ref,
		 void *out)
{
	int err;
	fl_store_get_many(ctx, ref, 0, 1, out, &err);
	return err;
}

void fl_store_drop(struct fl_store *st, struct fl_store_ref *ref)
{
	if (!st || !ref)
		return;
	if (ref->kind == FL_STORE_SAME) {
		__atomic_fetch_sub(&st->pages_same, 1, __ATOMIC_RELAXED);
		stat_add(&st->drops, 1);
	} else if (ref->kind == FL_STORE_SPILLED) {
		if (st->spill)
			fl_spill_free(st->spill, ref->val, ref->size);
		stat_add(&st->drops, 1);
	} else {
		slot_free(st, ref);
	}
	ref->val = 0;
	ref->kind = 0;
	ref->size = 0;
}

void fl_store_stats(struct fl_store *st, struct fl_store_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!st)
		return;
	store_lock(st);
	out->pages_comp = st->pages_comp;
	out->pages_raw = st->pages_raw;
	out->payload_bytes = st->payload_bytes;
	out->slot_bytes = st->slot_bytes;
	out->slab_bytes = st->slab_bytes;
	store_unlock(st);
	out->pages_same = __atomic_load_n(&st->pages_same, __ATOMIC_RELAXED);
	out->capacity = st->capacity;
	out->puts = __atomic_load_n(&st->puts, __ATOMIC_RELAXED);
	out->gets = __atomic_load_n(&st->gets, __ATOMIC_RELAXED);
	out->drops = __atomic_load_n(&st->drops, __ATOMIC_RELAXED);
	out->full_rejects = __atomic_load_n(&st->full_rejects, __ATOMIC_RELAXED);
	fl_spill_stats(st->spill, &out->spill);
}

int fl_store_spill(struct fl_store_ctx *ctx, struct fl_store_ref *refs, size_t n, void *buf,
		   int *sys_errno)
{
	uint32_t sizes[64];
	uint64_t locs[64];
	*sys_errno = 0;
	if (!ctx || !ctx->st->spill || !n || n > 64)
		return FL_STORE_EINVAL;
	struct fl_store *st = ctx->st;
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t idx, slot;
		unsigned cls;
		if ((refs[i].kind != FL_STORE_COMP && refs[i].kind != FL_STORE_RAW) ||
		    !ref_locate(st, &refs[i], &idx, &cls, &slot))
			return FL_STORE_EINVAL;
		memcpy((unsigned char *)buf + off, st->base + refs[i].val, refs[i].size);
		sizes[i] = refs[i].size;
		off += refs[i].size;
	}
	int rc = fl_spill_write(st->spill, buf, sizes, n, locs);
	if (rc != 0) {
		*sys_errno = -rc;
		return FL_STORE_ESPILL;
	}
	for (size_t i = 0; i < n; i++) {
		slot_free(st, &refs[i]);
		refs[i].val = locs[i];
		refs[i].kind = FL_STORE_SPILLED;
		refs[i].size = sizes[i];
	}
	return 0;
}

double fl_store_fragmentation(const struct fl_store_stats *s)
{
	double f;

	if (!s || s->slab_bytes == 0)
		return 0.0;
	f = 1.0 - (double)s->payload_bytes / (double)s->slab_bytes;
	if (f < 0.0)
		f = 0.0;
	if (f > 1.0)
		f = 1.0;
	return f;
}
