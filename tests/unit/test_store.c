/*
 * Unit tests for the compressed store (preload/store.c): every page kind
 * round-trips byte for byte with each compressor, same-filled detection,
 * the raw fallback, capacity, slab release, statistics, concurrent use from
 * several threads, and behaviour under injected mmap/madvise failures.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <lz4.h>
#include <zstd.h>

#include "store.h"
#include "sys.h"

/* Documented in store.c; the tests hold the store to them. */
#ifndef FL_STORE_RAW_LIMIT
#define FL_STORE_RAW_LIMIT 4032u
#endif
#define SLAB 65536u

#define PG FL_PAGE_SIZE

/* xorshift64*: deterministic pages from a seed. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t seed0(uint64_t seed)
{
	return seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
}

static void fill_random(void *page, uint64_t seed)
{
	uint64_t s = seed0(seed);

	for (size_t i = 0; i < PG; i += 8) {
		uint64_t v = rnd(&s);
		memcpy((char *)page + i, &v, 8);
	}
}

static void fill_text(void *page, uint64_t seed)
{
	static const char *words[] = {
		"the", "page", "fault", "handler", "resolves", "a", "missing",
		"entry", "by", "copying", "compressed", "data", "back", "into",
		"memory", "while", "other", "threads", "keep", "running", "\n",
	};
	uint64_t s = seed0(seed);
	char *p = page;
	size_t n = 0;

	while (n < PG) {
		const char *w = words[rnd(&s) % (sizeof(words) / sizeof(words[0]))];
		for (size_t i = 0; w[i] && n < PG; i++)
			p[n++] = w[i];
		if (n < PG)
			p[n++] = ' ';
	}
}

/*
 * Something like a heap page: pointers sharing their high bits, small
 * integers, repeated words and some noise.  The mix depends on the seed so
 * payload sizes spread over many size classes.
 */
static void fill_heapish(void *page, uint64_t seed)
{
	uint64_t s = seed0(seed);
	unsigned noise = 1 + (unsigned)(rnd(&s) % 60); /* percent random words */
	uint64_t prev = 0;

	for (size_t i = 0; i < PG; i += 8) {
		uint64_t r = rnd(&s), v;
		unsigned pick = (unsigned)(r % 100);

		if (pick < noise)
			v = rnd(&s);
		else if (pick < noise + (100 - noise) / 3)
			v = 0x00007f3a00000000ull | ((r >> 8) & 0xfffff0ull);
		else if (pick < noise + 2 * (100 - noise) / 3)
			v = (r >> 16) % 1000;
		else
			v = prev;
		prev = v;
		memcpy((char *)page + i, &v, 8);
	}
}

static void fill_word(void *page, uint64_t w)
{
	for (size_t i = 0; i < PG; i += 8)
		memcpy((char *)page + i, &w, 8);
}

static struct fl_store *mk_store(enum fl_compressor c, int level, uint64_t cap)
{
	struct fl_store_config cfg = {c, level, cap};
	int err = 12345;
	struct fl_store *st = fl_store_create(&cfg, &err);

	cr_assert_not_null(st, "fl_store_create failed: %d", err);
	cr_assert_eq(err, 0);
	return st;
}

static struct fl_store_ctx *mk_ctx(struct fl_store *st)
{
	struct fl_store_ctx *ctx = fl_store_ctx_create(st);

	cr_assert_not_null(ctx);
	return ctx;
}

/* get into a buffer full of junk, so a get that writes too little fails. */
static void assert_reads_back(struct fl_store_ctx *ctx,
			      const struct fl_store_ref *ref, const void *want)
{
	static __thread unsigned char out[PG + 1];

	memset(out, 0x5a, sizeof(out));
	cr_assert_eq(fl_store_get(ctx, ref, out), 0);
	cr_assert_eq(memcmp(out, want, PG), 0, "page differs after round trip");
	cr_assert_eq(out[PG], 0x5a, "get wrote past the page");
}

static void roundtrip_all_kinds(enum fl_compressor c, int level)
{
	struct fl_store *st = mk_store(c, level, 64u << 20);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG], copy[PG];
	struct fl_store_ref ref;

	/* Zero page. */
	memset(page, 0, PG);
	cr_assert_eq(fl_store_put(ctx, page, &ref), 0);
	cr_assert_eq(ref.kind, FL_STORE_SAME);
	cr_assert_eq(ref.val, 0);
	cr_assert_eq(ref.size, 0);
	assert_reads_back(ctx, &ref, page);
	fl_store_drop(st, &ref);
	cr_assert_eq(ref.kind, 0, "drop clears the reference");

	/* One word repeated. */
	fill_word(page, 0x0123456789abcdefull);
	cr_assert_eq(fl_store_put(ctx, page, &ref), 0);
	cr_assert_eq(ref.kind, FL_STORE_SAME);
	cr_assert_eq(ref.val, 0x0123456789abcdefull);
	assert_reads_back(ctx, &ref, page);
	fl_store_drop(st, &ref);

	/* Text: compresses well. */
	fill_text(page, 7);
	memcpy(copy, page, PG);
	cr_assert_eq(fl_store_put(ctx, page, &ref), 0);
	cr_assert_eq(ref.kind, FL_STORE_COMP);
	cr_assert(ref.size > 0 && ref.size < PG / 2,
		  "text page compressed to %u bytes", ref.size);
	cr_assert_eq(memcmp(page, copy, PG), 0, "put changed its input");
	assert_reads_back(ctx, &ref, copy);
	fl_store_drop(st, &ref);

	/* Random: incompressible, kept raw. */
	fill_random(page, 99);
	cr_assert_eq(fl_store_put(ctx, page, &ref), 0);
	cr_assert_eq(ref.kind, FL_STORE_RAW);
	cr_assert_eq(ref.size, PG);
	assert_reads_back(ctx, &ref, page);
	fl_store_drop(st, &ref);

	/* Many pages held at once, each still intact when read later. */
	enum { N = 300 };
	static struct fl_store_ref refs[N];
	for (unsigned i = 0; i < N; i++) {
		fill_heapish(page, i);
		cr_assert_eq(fl_store_put(ctx, page, &refs[i]), 0);
	}
	for (unsigned i = 0; i < N; i++) {
		fill_heapish(page, i);
		assert_reads_back(ctx, &refs[i], page);
	}
	/* Unaligned output buffer. */
	static unsigned char big[PG + 8];
	fill_heapish(page, 5);
	cr_assert_eq(fl_store_get(ctx, &refs[5], big + 3), 0);
	cr_assert_eq(memcmp(big + 3, page, PG), 0);
	for (unsigned i = 0; i < N; i++)
		fl_store_drop(st, &refs[i]);

	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

TestSuite(store);

Test(store, roundtrip_lz4) { roundtrip_all_kinds(FL_COMP_LZ4, 0); }
Test(store, roundtrip_zstd1) { roundtrip_all_kinds(FL_COMP_ZSTD, 1); }
Test(store, roundtrip_zstd3) { roundtrip_all_kinds(FL_COMP_ZSTD, 3); }
/* The static zstd context is sized from the level: a high level must still
 * fit (a too-small workspace would silently turn every page raw). */
Test(store, roundtrip_zstd19) { roundtrip_all_kinds(FL_COMP_ZSTD, 19); }

Test(store, same_filled_detection)
{
	static unsigned char buf[PG + 8];
	unsigned char *page = buf;
	uint64_t w = 0xdead;

	memset(page, 0, PG);
	cr_assert(fl_store_same_filled(page, &w));
	cr_assert_eq(w, 0);

	memset(page, 0xff, PG);
	cr_assert(fl_store_same_filled(page, &w));
	cr_assert_eq(w, ~0ull);

	fill_word(page, 0x1122334455667788ull);
	cr_assert(fl_store_same_filled(page, &w));
	cr_assert_eq(w, 0x1122334455667788ull);
	cr_assert(fl_store_same_filled(page, NULL));

	/* Differs in the last byte. */
	page[PG - 1] ^= 1;
	w = 42;
	cr_assert_not(fl_store_same_filled(page, &w));
	cr_assert_eq(w, 42, "word written for a page that is not same-filled");
	page[PG - 1] ^= 1;

	/* Differs in the first byte. */
	page[0] ^= 0x80;
	cr_assert_not(fl_store_same_filled(page, &w));
	page[0] ^= 0x80;

	/* One word in the middle, at a chunk boundary and inside one. */
	page[2048] ^= 4;
	cr_assert_not(fl_store_same_filled(page, &w));
	page[2048] ^= 4;
	page[PG - 72] ^= 4;
	cr_assert_not(fl_store_same_filled(page, &w));
	page[PG - 72] ^= 4;
	cr_assert(fl_store_same_filled(page, &w), "page restored");

	/* A 16-byte period is not one word repeated. */
	for (size_t i = 0; i < PG; i += 16) {
		uint64_t a = 1, b = 2;
		memcpy(page + i, &a, 8);
		memcpy(page + i + 8, &b, 8);
	}
	cr_assert_not(fl_store_same_filled(page, &w));

	/* Unaligned pointer. */
	fill_word(buf + 3, 0xababababababababull);
	cr_assert(fl_store_same_filled(buf + 3, &w));
	cr_assert_eq(w, 0xababababababababull);
}

/* A nearly-same page must not be taken for a same-filled one by put. */
static void near_same_put(enum fl_compressor c, int level)
{
	struct fl_store *st = mk_store(c, level, 4u << 20);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG];
	struct fl_store_ref ref;

	memset(page, 0, PG);
	page[PG - 1] = 1;
	cr_assert_eq(fl_store_put(ctx, page, &ref), 0);
	cr_assert_eq(ref.kind, FL_STORE_COMP);
	assert_reads_back(ctx, &ref, page);
	fl_store_drop(st, &ref);

	fill_word(page, 0x5555aaaa5555aaaaull);
	page[0] = 0;
	cr_assert_eq(fl_store_put(ctx, page, &ref), 0);
	cr_assert_eq(ref.kind, FL_STORE_COMP);
	assert_reads_back(ctx, &ref, page);
	fl_store_drop(st, &ref);

	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

Test(store, near_same_pages_are_compressed)
{
	near_same_put(FL_COMP_LZ4, 0);
	near_same_put(FL_COMP_ZSTD, 3);
}

/*
 * Pages with k random bytes and a zero tail, k around the raw limit: below
 * it they compress, above it they must be kept raw, and no page is ever
 * stored in more than a page.
 */
static void raw_threshold(enum fl_compressor c, int level)
{
	struct fl_store *st = mk_store(c, level, 16u << 20);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG];
	struct fl_store_ref ref;
	struct fl_store_stats s;
	unsigned comp = 0, raw = 0;

	for (unsigned k = 3700; k <= PG; k += 4) {
		fill_random(page, k);
		memset(page + k, 0, PG - k);
		cr_assert_eq(fl_store_put(ctx, page, &ref), 0);
		cr_assert(ref.size <= PG, "page grew to %u bytes", ref.size);
		if (ref.kind == FL_STORE_COMP) {
			cr_assert(ref.size <= FL_STORE_RAW_LIMIT,
				  "k=%u compressed to %u, above the raw limit",
				  k, ref.size);
			comp++;
		} else {
			cr_assert_eq(ref.kind, FL_STORE_RAW);
			cr_assert_eq(ref.size, PG);
			raw++;
		}
		assert_reads_back(ctx, &ref, page);
		fl_store_stats(st, &s);
		cr_assert_eq(s.payload_bytes, ref.size);
		cr_assert(s.slot_bytes <= PG && s.slot_bytes >= ref.size);
		fl_store_drop(st, &ref);
	}
	cr_assert(comp > 0 && raw > 0, "threshold not crossed: %u comp, %u raw",
		  comp, raw);

	/* Fully random pages: raw, exactly one page each. */
	for (unsigned i = 0; i < 10; i++) {
		fill_random(page, 1000 + i);
		cr_assert_eq(fl_store_put(ctx, page, &ref), 0);
		cr_assert_eq(ref.kind, FL_STORE_RAW);
		cr_assert_eq(ref.size, PG);
		fl_store_stats(st, &s);
		cr_assert_eq(s.slot_bytes, PG);
		cr_assert_eq(s.pages_raw, 1);
		assert_reads_back(ctx, &ref, page);
		fl_store_drop(st, &ref);
	}
	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

Test(store, incompressible_kept_raw_lz4) { raw_threshold(FL_COMP_LZ4, 0); }
Test(store, incompressible_kept_raw_zstd) { raw_threshold(FL_COMP_ZSTD, 3); }

Test(store, full_store_raw_pages)
{
	/* Four slabs: exactly 64 raw pages fit. */
	struct fl_store *st = mk_store(FL_COMP_LZ4, 0, 4 * SLAB);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG], copy[PG];
	static struct fl_store_ref refs[100];
	struct fl_store_stats s;
	unsigned n = 0;
	int rc;

	for (;;) {
		cr_assert(n < 100, "store never filled");
		fill_random(page, n);
		memcpy(copy, page, PG);
		rc = fl_store_put(ctx, page, &refs[n]);
		if (rc != 0)
			break;
		n++;
	}
	cr_assert_eq(rc, FL_STORE_EFULL);
	cr_assert_eq(n, 4 * SLAB / PG);
	cr_assert_eq(memcmp(page, copy, PG), 0, "rejected page was modified");
	fl_store_stats(st, &s);
	cr_assert_eq(s.capacity, 4 * SLAB);
	cr_assert_eq(s.slab_bytes, 4 * SLAB);
	cr_assert_eq(s.full_rejects, 1);
	cr_assert_eq(s.pages_raw, n);
	cr_assert_eq(s.puts, n);

	/* A same-filled page needs no slot, so it still fits. */
	struct fl_store_ref z;
	memset(page, 0, PG);
	cr_assert_eq(fl_store_put(ctx, page, &z), 0);
	cr_assert_eq(z.kind, FL_STORE_SAME);

	for (unsigned i = 0; i < n; i++) {
		fill_random(page, i);
		assert_reads_back(ctx, &refs[i], page);
	}

	/* Free one slot: one more page fits, then the store is full again. */
	fl_store_drop(st, &refs[10]);
	fill_random(page, 10);
	cr_assert_eq(fl_store_put(ctx, page, &refs[10]), 0);
	fill_random(page, 500);
	cr_assert_eq(fl_store_put(ctx, page, &refs[n]), FL_STORE_EFULL);
	for (unsigned i = 0; i < n; i++) {
		fill_random(page, i);
		assert_reads_back(ctx, &refs[i], page);
	}
	fl_store_stats(st, &s);
	cr_assert_eq(s.full_rejects, 2);

	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

Test(store, full_store_mixed_pages)
{
	/* 8 MiB: enough slabs that the 127 size classes do not each need
	 * one of their own before the store can fill. */
	struct fl_store *st = mk_store(FL_COMP_ZSTD, 1, 128 * SLAB);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG];
	enum { MAX = 20000 };
	static struct fl_store_ref refs[MAX];
	struct fl_store_stats s;
	unsigned n = 0;
	int rc;

	for (;;) {
		cr_assert(n < MAX, "store never filled");
		fill_heapish(page, n);
		rc = fl_store_put(ctx, page, &refs[n]);
		if (rc != 0)
			break;
		n++;
	}
	cr_assert_eq(rc, FL_STORE_EFULL);
	fl_store_stats(st, &s);
	cr_assert(s.slab_bytes <= s.capacity);
	cr_assert(s.slab_bytes + SLAB > s.capacity,
		  "EFULL with %lu of %lu bytes of slabs in use",
		  (unsigned long)s.slab_bytes, (unsigned long)s.capacity);
	/* With slots of a larger class taken at capacity, the first refusal
	 * comes only when the memory is mostly payload. */
	cr_assert(s.payload_bytes > s.capacity / 10 * 8, "only %u pages, %lu bytes fit",
		  n, (unsigned long)s.payload_bytes);
	for (unsigned i = 0; i < n; i++) {
		fill_heapish(page, i);
		assert_reads_back(ctx, &refs[i], page);
	}

	/* Drop every other page; the same pages fit again, in the same
	 * classes, and everything reads back. */
	for (unsigned i = 0; i < n; i += 2)
		fl_store_drop(st, &refs[i]);
	for (unsigned i = 0; i < n; i += 2) {
		fill_heapish(page, i);
		cr_assert_eq(fl_store_put(ctx, page, &refs[i]), 0,
			     "re-put of page %u failed", i);
	}
	for (unsigned i = 0; i < n; i++) {
		fill_heapish(page, i);
		assert_reads_back(ctx, &refs[i], page);
	}

	/* Drop everything: a page that did not fit now does. */
	for (unsigned i = 0; i < n; i++)
		fl_store_drop(st, &refs[i]);
	fill_heapish(page, n);
	cr_assert_eq(fl_store_put(ctx, page, &refs[0]), 0);
	assert_reads_back(ctx, &refs[0], page);

	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

/*
 * At capacity a page whose size class has no free slot is put into a free
 * slot of a larger class instead of being refused.
 */
Test(store, at_capacity_uses_larger_slot)
{
	struct fl_store *st = mk_store(FL_COMP_LZ4, 0, 2 * SLAB);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG];
	struct fl_store_ref small, raw, mid, more[16];
	struct fl_store_stats s;

	fill_text(page, 1);		/* small class: slab 1 */
	cr_assert_eq(fl_store_put(ctx, page, &small), 0);
	cr_assert_eq(small.kind, FL_STORE_COMP);
	fill_random(page, 2);		/* raw class: slab 2 */
	cr_assert_eq(fl_store_put(ctx, page, &raw), 0);
	cr_assert_eq(raw.kind, FL_STORE_RAW);

	/* A page of another class: no slab left for it. */
	unsigned k = 2600;
	fill_random(page, 3);
	memset(page + k, 0, PG - k);
	cr_assert_eq(fl_store_put(ctx, page, &mid), 0);
	cr_assert_eq(mid.kind, FL_STORE_COMP);
	cr_assert(mid.size > 1024 && mid.size < 3000, "size %u", mid.size);
	cr_assert_eq(mid.val / SLAB, raw.val / SLAB, "not in the raw slab");
	fl_store_stats(st, &s);
	cr_assert_eq(s.slab_bytes, 2 * SLAB);
	cr_assert_eq(s.slot_bytes, (small.size + 31) / 32 * 32 + 2 * PG);
	cr_assert_eq(s.payload_bytes, small.size + PG + mid.size);
	assert_reads_back(ctx, &mid, page);

	/* The raw slab has 16 slots; two are taken, 14 more fit, then full. */
	unsigned n = 0;
	while (n < 16 && fl_store_put(ctx, page, &more[n]) == 0)
		n++;
	cr_assert_eq(n, 14);
	fl_store_stats(st, &s);
	cr_assert_eq(s.full_rejects, 1);

	fl_store_drop(st, &mid);
	fl_store_stats(st, &s);
	cr_assert_eq(s.slot_bytes, (small.size + 31) / 32 * 32 + 15 * PG);
	for (unsigned i = 0; i < n; i++) {
		assert_reads_back(ctx, &more[i], page);
		fl_store_drop(st, &more[i]);
	}
	fill_random(page, 2);
	assert_reads_back(ctx, &raw, page);
	fill_text(page, 1);
	assert_reads_back(ctx, &small, page);
	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

static uint64_t madvise_calls(void)
{
	return fl__sys_table()[FL_SYS_MADVISE].calls;
}

Test(store, drop_returns_slabs)
{
	struct fl_store *st = mk_store(FL_COMP_LZ4, 0, 64u << 20);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG];
	enum { N = 2000 };
	static struct fl_store_ref refs[N];
	struct fl_store_stats s;
	uint64_t slabs, max_slab = 0, m0;

	for (unsigned i = 0; i < N; i++) {
		if (i % 10 == 0)
			fill_random(page, i);
		else
			fill_heapish(page, i);
		cr_assert_eq(fl_store_put(ctx, page, &refs[i]), 0);
		if (refs[i].val / SLAB > max_slab)
			max_slab = refs[i].val / SLAB;
	}
	fl_store_stats(st, &s);
	cr_assert(s.slab_bytes >= 4 * SLAB);
	cr_assert_eq(s.slab_bytes % SLAB, 0);
	slabs = s.slab_bytes / SLAB;

	m0 = madvise_calls();
	for (unsigned i = 0; i < N; i++)
		fl_store_drop(st, &refs[i]);
	fl_store_stats(st, &s);
	cr_assert_eq(s.slab_bytes, 0);
	cr_assert_eq(s.payload_bytes, 0);
	cr_assert_eq(s.slot_bytes, 0);
	cr_assert_eq(s.pages_comp + s.pages_raw + s.pages_same, 0);
	cr_assert_eq(s.drops, N);
	cr_assert_float_eq(fl_store_fragmentation(&s), 0.0, 1e-12);
	/* Each slab went back to the kernel exactly once. */
	cr_assert_eq(madvise_calls() - m0, slabs);

	/* Released slabs are reused: the same pages again take the same
	 * number of slabs and no slab beyond the first round's. */
	for (unsigned i = 0; i < N; i++) {
		if (i % 10 == 0)
			fill_random(page, i);
		else
			fill_heapish(page, i);
		cr_assert_eq(fl_store_put(ctx, page, &refs[i]), 0);
		cr_assert(refs[i].val / SLAB <= max_slab);
	}
	fl_store_stats(st, &s);
	cr_assert_eq(s.slab_bytes / SLAB, slabs);
	for (unsigned i = 0; i < N; i++) {
		if (i % 10 == 0)
			fill_random(page, i);
		else
			fill_heapish(page, i);
		assert_reads_back(ctx, &refs[i], page);
	}
	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

Test(store, stats_and_fragmentation)
{
	struct fl_store *st = mk_store(FL_COMP_ZSTD, 3, 64u << 20);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG], out[PG];
	enum { NZ = 3, NR = 2, NC = 40, N = NZ + NR + NC };
	struct fl_store_ref refs[N];
	struct fl_store_stats s;
	uint64_t payload = 0, slots = 0;
	uint64_t slab_ids[N];
	unsigned nslab = 0, i;

	fl_store_stats(st, &s);
	cr_assert_eq(s.puts + s.slab_bytes + s.payload_bytes, 0);
	cr_assert_float_eq(fl_store_fragmentation(&s), 0.0, 1e-12);

	for (i = 0; i < N; i++) {
		if (i < NZ)
			memset(page, 0, PG);
		else if (i < NZ + NR)
			fill_random(page, i);
		else
			fill_heapish(page, i);
		cr_assert_eq(fl_store_put(ctx, page, &refs[i]), 0);
		payload += refs[i].size;
		if (refs[i].kind == FL_STORE_SAME)
			continue;
		slots += (refs[i].size + 31) / 32 * 32;
		uint64_t id = refs[i].val / SLAB, j;
		for (j = 0; j < nslab && slab_ids[j] != id; j++)
			;
		if (j == nslab)
			slab_ids[nslab++] = id;
	}
	fl_store_stats(st, &s);
	cr_assert_eq(s.pages_same, NZ);
	cr_assert_eq(s.pages_raw, NR);
	cr_assert_eq(s.pages_comp, NC, "heap-like pages should all compress");
	cr_assert_eq(s.payload_bytes, payload);
	cr_assert_eq(s.slot_bytes, slots);
	cr_assert_eq(s.slab_bytes, (uint64_t)nslab * SLAB,
		     "slab_bytes counts the slabs the references point into");
	cr_assert_eq(s.puts, N);
	cr_assert_eq(s.gets, 0);
	cr_assert_eq(s.capacity, 64u << 20);
	double f = fl_store_fragmentation(&s);
	cr_assert_float_eq(f, 1.0 - (double)payload / (double)s.slab_bytes, 1e-12);
	cr_assert(f > 0.0 && f < 1.0);

	for (i = 0; i < N; i++)
		cr_assert_eq(fl_store_get(ctx, &refs[i], out), 0);
	fl_store_stats(st, &s);
	cr_assert_eq(s.gets, N);

	/* Dropping the raw pages removes exactly their bytes. */
	for (i = NZ; i < NZ + NR; i++)
		fl_store_drop(st, &refs[i]);
	fl_store_stats(st, &s);
	cr_assert_eq(s.pages_raw, 0);
	cr_assert_eq(s.payload_bytes, payload - NR * PG);
	cr_assert_eq(s.slot_bytes, slots - NR * PG);
	cr_assert_eq(s.drops, NR);
	cr_assert_float_eq(fl_store_fragmentation(&s),
			   1.0 - (double)s.payload_bytes / (double)s.slab_bytes,
			   1e-12);

	/* The formula itself. */
	struct fl_store_stats fake = {0};
	fake.slab_bytes = 4 * SLAB;
	fake.payload_bytes = SLAB;
	cr_assert_float_eq(fl_store_fragmentation(&fake), 0.75, 1e-12);

	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

/*
 * Concurrency.  Each page carries its seed in its first word and a checksum
 * of the rest in its last, and is also compared with a fresh copy made
 * from the seed.  Threads hand some pages to each other through a mailbox,
 * so pages are read and dropped through a context other than the one that
 * stored them, as the pager's handler does with the evictor's pages.
 */
enum { NTHREADS = 4, OPS = 3000, LIVE = 96, MAILBOX = 64 };

struct entry {
	struct fl_store_ref ref;
	uint64_t seed;
};

struct shared {
	struct fl_store *st;
	pthread_mutex_t mu;
	struct entry mail[MAILBOX];
	unsigned nmail;
	unsigned long mismatches, errors, puts, drops;
};

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void make_page(unsigned char *page, uint64_t seed)
{
	unsigned kind = (unsigned)(seed % 16);

	if (kind == 0) {
		memset(page, 0, PG);
		return;
	}
	if (kind == 1) {
		fill_word(page, seed);
		return;
	}
	if (kind == 2)
		fill_random(page, seed);
	else if (kind < 6)
		fill_text(page, seed);
	else
		fill_heapish(page, seed);
	memcpy(page, &seed, 8);
	uint64_t h = fnv(page, PG - 8);
	memcpy(page + PG - 8, &h, 8);
}

static int check_page(const unsigned char *got, uint64_t seed)
{
	unsigned char want[PG];
	unsigned kind = (unsigned)(seed % 16);

	if (kind >= 2) {
		uint64_t s, h;
		memcpy(&s, got, 8);
		memcpy(&h, got + PG - 8, 8);
		if (s != seed || h != fnv(got, PG - 8))
			return 0;
	}
	make_page(want, seed);
	return memcmp(want, got, PG) == 0;
}

struct worker {
	struct shared *sh;
	unsigned id;
};

static void verify_drop(struct shared *sh, struct fl_store_ctx *ctx,
			struct entry *e, unsigned long *bad, unsigned long *errs)
{
	unsigned char out[PG];

	memset(out, 0xee, PG);
	if (fl_store_get(ctx, &e->ref, out) != 0)
		(*errs)++;
	else if (!check_page(out, e->seed))
		(*bad)++;
	fl_store_drop(sh->st, &e->ref);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct fl_store_ctx *ctx = fl_store_ctx_create(sh->st);
	struct entry live[LIVE];
	unsigned nlive = 0;
	unsigned long bad = 0, errs = 0, puts = 0, drops = 0;
	uint64_t rs = 0xfeed0000ull + w->id;
	unsigned char page[PG];

	if (!ctx) {
		__atomic_fetch_add(&sh->errors, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	for (unsigned op = 0; op < OPS; op++) {
		unsigned r = (unsigned)(rnd(&rs) % 8);

		if (nlive < LIVE && (r < 4 || nlive == 0)) {
			struct entry *e = &live[nlive];
			e->seed = ((uint64_t)w->id << 32) | op;
			make_page(page, e->seed);
			if (fl_store_put(ctx, page, &e->ref) != 0) {
				errs++;
				continue;
			}
			nlive++;
			puts++;
		} else if (r < 6) {
			/* Read one back without dropping it. */
			unsigned char out[PG];
			struct entry *e = &live[rnd(&rs) % nlive];
			if (fl_store_get(ctx, &e->ref, out) != 0)
				errs++;
			else if (!check_page(out, e->seed))
				bad++;
		} else if (r < 7) {
			unsigned k = (unsigned)(rnd(&rs) % nlive);
			verify_drop(sh, ctx, &live[k], &bad, &errs);
			live[k] = live[--nlive];
			drops++;
		} else {
			/* Swap a page with the mailbox. */
			unsigned k = (unsigned)(rnd(&rs) % nlive);
			struct entry got;
			int have = 0;

			pthread_mutex_lock(&sh->mu);
			if (sh->nmail > 0) {
				got = sh->mail[--sh->nmail];
				have = 1;
			}
			if (sh->nmail < MAILBOX) {
				sh->mail[sh->nmail++] = live[k];
				live[k] = live[--nlive];
			}
			pthread_mutex_unlock(&sh->mu);
			if (have) {
				verify_drop(sh, ctx, &got, &bad, &errs);
				drops++;
			}
		}
	}
	for (unsigned i = 0; i < nlive; i++) {
		verify_drop(sh, ctx, &live[i], &bad, &errs);
		drops++;
	}
	fl_store_ctx_destroy(ctx);
	__atomic_fetch_add(&sh->mismatches, bad, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sh->errors, errs, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sh->puts, puts, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sh->drops, drops, __ATOMIC_RELAXED);
	return NULL;
}

static void concurrent(enum fl_compressor c, int level)
{
	struct shared sh = {0};
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	struct fl_store_stats s;

	sh.st = mk_store(c, level, 64u << 20);
	pthread_mutex_init(&sh.mu, NULL);
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i].sh = &sh;
		w[i].id = i + 1;
		cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);

	/* Whatever is left in the mailbox. */
	struct fl_store_ctx *ctx = mk_ctx(sh.st);
	unsigned long bad = 0, errs = 0;
	for (unsigned i = 0; i < sh.nmail; i++) {
		verify_drop(&sh, ctx, &sh.mail[i], &bad, &errs);
		sh.drops++;
	}
	sh.mismatches += bad;
	sh.errors += errs;

	cr_assert_eq(sh.mismatches, 0, "%lu pages came back wrong", sh.mismatches);
	cr_assert_eq(sh.errors, 0, "%lu store calls failed", sh.errors);
	cr_assert(sh.puts > NTHREADS * OPS / 4, "only %lu puts", sh.puts);
	cr_assert_eq(sh.puts, sh.drops);
	fl_store_stats(sh.st, &s);
	cr_assert_eq(s.puts, sh.puts);
	cr_assert_eq(s.drops, sh.drops);
	cr_assert_eq(s.pages_same + s.pages_comp + s.pages_raw, 0);
	cr_assert_eq(s.payload_bytes, 0);
	cr_assert_eq(s.slot_bytes, 0);
	cr_assert_eq(s.slab_bytes, 0, "slabs leaked: %lu bytes",
		     (unsigned long)s.slab_bytes);
	fl_store_ctx_destroy(ctx);
	fl_store_destroy(sh.st);
}

Test(store, concurrent_lz4) { concurrent(FL_COMP_LZ4, 0); }
Test(store, concurrent_zstd) { concurrent(FL_COMP_ZSTD, 1); }

static uint64_t mmap_calls(void)
{
	return fl__sys_table()[FL_SYS_MMAP].calls;
}

static uint64_t munmap_calls(void)
{
	return fl__sys_table()[FL_SYS_MUNMAP].calls;
}

Test(store, create_fails_cleanly_on_mmap_failure)
{
	struct fl_store_config cfg = {FL_COMP_ZSTD, 3, 8u << 20};
	struct fl_store *st;
	int err;

	/* First mapping of create (metadata). */
	fl__sys_fail(FL_SYS_MMAP, 1, 0, ENOMEM, 0);
	err = 0;
	st = fl_store_create(&cfg, &err);
	cr_assert_null(st);
	cr_assert_eq(err, FL_STORE_ENOMEM);

	/* Second mapping (slab reservation): the first is given back. */
	uint64_t u0 = munmap_calls();
	fl__sys_fail(FL_SYS_MMAP, 2, 0, ENOMEM, 0);
	err = 0;
	st = fl_store_create(&cfg, &err);
	cr_assert_null(st);
	cr_assert_eq(err, FL_STORE_ENOMEM);
	cr_assert_eq(munmap_calls() - u0, 1);
	fl__sys_fail_reset();

	st = fl_store_create(&cfg, &err);
	cr_assert_not_null(st);
	cr_assert_eq(err, 0);
	fl_store_destroy(st);
}

Test(store, mmap_failure_keeps_existing_pages)
{
	struct fl_store *st = mk_store(FL_COMP_LZ4, 0, 16u << 20);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG];
	enum { N = 200 };
	static struct fl_store_ref refs[2 * N];
	struct fl_store_config cfg = {FL_COMP_LZ4, 0, 1u << 20};
	int err;

	for (unsigned i = 0; i < N; i++) {
		fill_heapish(page, i);
		cr_assert_eq(fl_store_put(ctx, page, &refs[i]), 0);
	}

	fl__sys_fail(FL_SYS_MMAP, 1, 1, ENOMEM, 0);
	cr_assert_null(fl_store_ctx_create(st), "ctx_create must fail");
	err = 0;
	cr_assert_null(fl_store_create(&cfg, &err));
	cr_assert_eq(err, FL_STORE_ENOMEM);

	/* Growing the store needs no mapping: puts that take new slabs
	 * still succeed, and make no mmap call at all. */
	uint64_t m0 = mmap_calls();
	for (unsigned i = N; i < 2 * N; i++) {
		fill_random(page, i);
		cr_assert_eq(fl_store_put(ctx, page, &refs[i]), 0);
	}
	cr_assert_eq(mmap_calls(), m0, "put called mmap");

	for (unsigned i = 0; i < 2 * N; i++) {
		if (i < N)
			fill_heapish(page, i);
		else
			fill_random(page, i);
		assert_reads_back(ctx, &refs[i], page);
	}
	fl__sys_fail_reset();

	struct fl_store_ctx *ctx2 = fl_store_ctx_create(st);
	cr_assert_not_null(ctx2);
	fill_heapish(page, 0);
	assert_reads_back(ctx2, &refs[0], page);
	fl_store_ctx_destroy(ctx2);
	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

Test(store, madvise_failure_on_release)
{
	struct fl_store *st = mk_store(FL_COMP_ZSTD, 1, 16u << 20);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG];
	enum { N = 300 };
	static struct fl_store_ref refs[N];
	struct fl_store_stats s;

	for (unsigned i = 0; i < N; i++) {
		fill_heapish(page, i);
		cr_assert_eq(fl_store_put(ctx, page, &refs[i]), 0);
	}
	fl__sys_fail(FL_SYS_MADVISE, 1, 1, EINVAL, 0);
	for (unsigned i = 0; i < N; i++)
		fl_store_drop(st, &refs[i]);
	fl_store_stats(st, &s);
	cr_assert_eq(s.slab_bytes, 0);
	/* The slabs (not zeroed by the kernel this time) are reused. */
	for (unsigned i = 0; i < N; i++) {
		fill_heapish(page, i + 7);
		cr_assert_eq(fl_store_put(ctx, page, &refs[i]), 0);
	}
	for (unsigned i = 0; i < N; i++) {
		fill_heapish(page, i + 7);
		assert_reads_back(ctx, &refs[i], page);
	}
	fl__sys_fail_reset();
	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

static void corrupt_refs(enum fl_compressor c, int level)
{
	struct fl_store *st = mk_store(c, level, 4u << 20);
	struct fl_store_ctx *ctx = mk_ctx(st);
	static unsigned char page[PG], out[PG];
	struct fl_store_ref ref, bad;
	struct fl_store_stats s;

	fill_text(page, 3);
	cr_assert_eq(fl_store_put(ctx, page, &ref), 0);
	cr_assert_eq(ref.kind, FL_STORE_COMP);

	/* A truncated payload must not pass for a page. */
	bad = ref;
	bad.size = ref.size - 1;
	cr_assert_eq(fl_store_get(ctx, &bad, out), FL_STORE_ECORRUPT);
	bad.size = ref.size / 2;
	cr_assert_eq(fl_store_get(ctx, &bad, out), FL_STORE_ECORRUPT);

	/* Malformed references. */
	bad = ref;
	bad.kind = 0;
	cr_assert_eq(fl_store_get(ctx, &bad, out), FL_STORE_EINVAL);
	bad.kind = 9;
	cr_assert_eq(fl_store_get(ctx, &bad, out), FL_STORE_EINVAL);
	bad = ref;
	bad.val = 1ull << 40;
	cr_assert_eq(fl_store_get(ctx, &bad, out), FL_STORE_EINVAL);
	bad = ref;
	bad.size = FL_STORE_RAW_LIMIT + 1;
	cr_assert_eq(fl_store_get(ctx, &bad, out), FL_STORE_EINVAL);
	bad = ref;
	bad.kind = FL_STORE_RAW;
	bad.size = 100;
	cr_assert_eq(fl_store_get(ctx, &bad, out), FL_STORE_EINVAL);
	cr_assert_eq(fl_store_put(ctx, NULL, &bad), FL_STORE_EINVAL);

	/*
	 * A payload that is well formed but decodes to less (or more) than a
	 * page.  Stored as the head of a raw page, then read through a
	 * made-up compressed reference to that slot.
	 */
	static unsigned char small[PG], payload[400];
	size_t plen;
	struct fl_store_ref rawref;
	fill_text(small, 4);
	if (c == FL_COMP_LZ4)
		plen = (size_t)LZ4_compress_default((const char *)small,
						    (char *)payload, 100,
						    sizeof(payload));
	else
		plen = ZSTD_compress(payload, sizeof(payload), small, 100, 1);
	cr_assert(plen > 0 && plen < 200);
	fill_random(page, 11);
	memcpy(page, payload, plen);
	cr_assert_eq(fl_store_put(ctx, page, &rawref), 0);
	cr_assert_eq(rawref.kind, FL_STORE_RAW);
	bad = rawref;
	bad.kind = FL_STORE_COMP;
	bad.size = (uint32_t)plen;
	cr_assert_eq(fl_store_get(ctx, &bad, out), FL_STORE_ECORRUPT,
		     "a payload of 100 bytes passed for a page");
	fl_store_drop(st, &rawref);

	/* Dropping a reference twice (through a copy), or one that names a
	 * slot never handed out, changes nothing.  A second page of the same
	 * class keeps the slab in use, so the slab's own state is what
	 * catches the second drop. */
	struct fl_store_ref keep, copy = ref;
	fill_text(page, 3);
	cr_assert_eq(fl_store_put(ctx, page, &keep), 0);
	cr_assert_eq(keep.size, ref.size);
	cr_assert_eq(keep.val / SLAB, ref.val / SLAB);
	fl_store_drop(st, &ref);
	fl_store_drop(st, &copy);
	bad = copy;
	bad.val = copy.val + 20 * ((copy.size + 31) / 32 * 32);
	fl_store_drop(st, &bad);
	fl_store_stats(st, &s);
	cr_assert_eq(s.drops, 2, "raw page and one text page");
	cr_assert_eq(s.pages_comp, 1);
	cr_assert_eq(s.payload_bytes, keep.size);

	/* The slot was not put on the free list twice: two more copies of
	 * the page get two different slots, and all three read back. */
	struct fl_store_ref a, b;
	cr_assert_eq(fl_store_put(ctx, page, &a), 0);
	cr_assert_eq(fl_store_put(ctx, page, &b), 0);
	cr_assert_neq(a.val, b.val);
	cr_assert_neq(a.val, keep.val);
	cr_assert_neq(b.val, keep.val);
	assert_reads_back(ctx, &a, page);
	assert_reads_back(ctx, &b, page);
	assert_reads_back(ctx, &keep, page);

	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
}

Test(store, corrupt_and_bad_refs_lz4) { corrupt_refs(FL_COMP_LZ4, 0); }
Test(store, corrupt_and_bad_refs_zstd) { corrupt_refs(FL_COMP_ZSTD, 3); }

Test(store, config_validation_and_default_capacity)
{
	struct fl_store_config cfg;
	struct fl_store_stats s;
	struct fl_store *st;
	int err;

	cfg = (struct fl_store_config){(enum fl_compressor)7, 0, 1u << 20};
	err = 0;
	cr_assert_null(fl_store_create(&cfg, &err));
	cr_assert_eq(err, FL_STORE_EINVAL);

	cfg = (struct fl_store_config){FL_COMP_ZSTD, 99, 1u << 20};
	err = 0;
	cr_assert_null(fl_store_create(&cfg, &err));
	cr_assert_eq(err, FL_STORE_EINVAL);

	/* Less than one slab. */
	cfg = (struct fl_store_config){FL_COMP_LZ4, 0, SLAB - 1};
	err = 0;
	cr_assert_null(fl_store_create(&cfg, &err));
	cr_assert_eq(err, FL_STORE_EINVAL);

	/* Capacity is whole slabs. */
	cfg = (struct fl_store_config){FL_COMP_LZ4, 0, 3 * SLAB + 100};
	st = fl_store_create(&cfg, &err);
	cr_assert_not_null(st);
	fl_store_stats(st, &s);
	cr_assert_eq(s.capacity, 3 * SLAB);
	fl_store_destroy(st);

	/* Default: half of physical memory. */
	cfg = (struct fl_store_config){FL_COMP_LZ4, 0, 0};
	st = fl_store_create(&cfg, &err);
	cr_assert_not_null(st);
	fl_store_stats(st, &s);
	uint64_t half = (uint64_t)sysconf(_SC_PHYS_PAGES) *
			(uint64_t)sysconf(_SC_PAGESIZE) / 2;
	cr_assert_eq(s.capacity, half / SLAB * SLAB);
	fl_store_destroy(st);
}
