/*
 * firsttouch: what a page fault costs under the pager, next to what the
 * kernel charges for the same access, measured in one run on one machine.
 *
 *  (a) first touch: write one byte per 4 KiB page of a fresh region, in
 *      sequential and in random page order, under the pager (no budget)
 *      and in a plain anonymous mapping with MADV_NOHUGEPAGE (the kernel's
 *      own 4 KiB fault); a MADV_HUGEPAGE mapping is timed as an extra
 *      reference line.
 *  (b) refault: a region of compressible pages is pushed entirely into the
 *      store with fl_pager_reclaim(0) and read back one byte per page.  When
 *      swap is on (bench/zram.sh turns on a zram device and runs us with
 *      --part b) the same is done to a plain mapping with MADV_PAGEOUT, which
 *      gives the kernel's swap-in from zram; otherwise the kernel's
 *      anonymous fault is the reference.  Soft faults (INACTIVE pages moved
 *      back without a copy) are timed per access, each access classified by
 *      the pager's fault counters, because only the evictor makes pages
 *      inactive and it does not say which ones.
 *
 * The VMs this runs on are noisy: every figure is a median over repeats
 * with a fresh mapping each time, and the output is ratios, never a verdict.
 * Each part runs in its own child process because a process has one pager
 * and the parts need different budgets; a child that hangs is killed by an
 * alarm and reported rather than hanging the whole benchmark.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pager.h"
#include "options.h"
#include "clock.h"

#define PS 4096u
#define HUGE_SZ (2u << 20)
#define MAX_REPEATS 64
#define CHILD_TIMEOUT_S 900

/* ---- small helpers ---------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* One fixed random page order, so pager and kernel see the same one. */
static uint32_t *make_perm(size_t n, uint64_t seed)
{
	uint32_t *p = malloc(n * sizeof *p);
	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint32_t)i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = splitmix(&seed) % (i + 1);
		uint32_t t = p[i];
		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct summary {
	double med, min, max;
	int n;
};

static struct summary summarize(const double *v, int n)
{
	double s[MAX_REPEATS];
	struct summary r = {0, 0, 0, n};
	if (n <= 0)
		return r;
	memcpy(s, v, n * sizeof *s);
	qsort(s, n, sizeof *s, cmp_double);
	r.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	r.min = s[0];
	r.max = s[n - 1];
	return r;
}

/* Sizes are parsed as faultline parses them everywhere (options.c);
 * 0 means not a size. */
static uint64_t parse_size(const char *s)
{
	uint64_t v;
	return fl_parse_size(s, fl_phys_bytes(), &v) == 0 ? v : 0;
}

/* The kernel's plain anonymous mapping: 4 KiB pages, or 2 MiB ones. */
static unsigned char *kernel_map(size_t len, int huge, void **raw, size_t *rawlen)
{
	size_t l = huge ? len + HUGE_SZ : len;
	unsigned char *p = mmap(NULL, l, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	*raw = p;
	*rawlen = l;
	unsigned char *a = p;
	if (huge)
		a = (unsigned char *)(((uintptr_t)p + HUGE_SZ - 1) & ~(uintptr_t)(HUGE_SZ - 1));
	if (madvise(a, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0 && huge) {
		munmap(p, l);
		return NULL;
	}
	return a;
}

/* Bytes of this process's memory in transparent huge pages. */
static uint64_t anon_huge_bytes(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	unsigned long long kb = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static int thp_available(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[128] = "";
	if (!f)
		return 0;
	if (!fgets(line, sizeof line, f))
		line[0] = 0;
	fclose(f);
	return strstr(line, "[never]") == NULL && line[0];
}

/* Is any swap device on?  Returns its name in name (first one). */
static int swap_on(char *name, size_t len)
{
	FILE *f = fopen("/proc/swaps", "r");
	char line[512];
	int found = 0;
	if (!f)
		return 0;
	if (fgets(line, sizeof line, f)) {
		while (fgets(line, sizeof line, f)) {
			char dev[256];
			if (sscanf(line, "%255s", dev) == 1) {
				snprintf(name, len, "%s", dev);
				found = 1;
				break;
			}
		}
	}
	fclose(f);
	return found;
}

/*
 * Touch loops.  order NULL means sequential.  volatile keeps the compiler
 * from merging or dropping the one-byte accesses, which are the point.
 */
static uint64_t touch_write(volatile unsigned char *m, const uint32_t *order, size_t n)
{
	uint64_t t0 = fl_mono_ns();
	if (!order)
		for (size_t i = 0; i < n; i++)
			m[i * PS] = 1;
	else
		for (size_t i = 0; i < n; i++)
			m[(size_t)order[i] * PS] = 1;
	return fl_mono_ns() - t0;
}

static unsigned read_sink;

static uint64_t touch_read(volatile unsigned char *m, const uint32_t *order, size_t n)
{
	unsigned s = 0;
	uint64_t t0 = fl_mono_ns();
	if (!order)
		for (size_t i = 0; i < n; i++)
			s += m[i * PS + 100];
	else
		for (size_t i = 0; i < n; i++)
			s += m[(size_t)order[i] * PS + 100];
	uint64_t t = fl_mono_ns() - t0;
	read_sink += s;
	return t;
}

static const char *words[] = {"page", "fault", "memory", "budget", "compress",
			      "region", "resident", "inactive", "kernel", "thread",
			      "the", "of", "and", "a", "to", "in", "is", "it", "{", "}",
			      "return", "int", "size_t", "=", ";", "\n"};

/*
 * Compressible page contents, a function of the page index only, so a
 * page can be checked after a round trip through the store: text-like
 * pages and tables of small integers, stamped with the index so that no two
 * pages are alike and none is same-filled (those would cost nothing).
 */
static void fill_page(unsigned char *p, size_t idx)
{
	uint64_t s = idx * 0x2545f4914f6cdd1dull + 1;
	if (idx % 2 == 0) {
		size_t o = 0;
		while (o < PS) {
			const char *w = words[splitmix(&s) % (sizeof words / sizeof words[0])];
			for (size_t i = 0; w[i] && o < PS; i++)
				p[o++] = (unsigned char)w[i];
			if (o < PS)
				p[o++] = ' ';
		}
	} else {
		uint32_t *q = (uint32_t *)p;
		uint32_t base = (uint32_t)(splitmix(&s) % 1000);
		for (size_t i = 0; i < PS / 4; i++)
			q[i] = base + (uint32_t)(i % 37) * 3;
	}
	memcpy(p, &idx, sizeof idx);
}

/* Pages of m that do not read back what fill_page wrote. */
static size_t verify(const unsigned char *m, size_t npages)
{
	unsigned char buf[PS];
	size_t bad = 0;
	for (size_t i = 0; i < npages; i++) {
		fill_page(buf, i);
		bad += memcmp(buf, m + i * PS, PS) != 0;
	}
	return bad;
}

/* Fraction of [m, m+len) resident, by mincore. */
static double resident_fraction(void *m, size_t len)
{
	size_t n = len / PS, in = 0;
	unsigned char *v = malloc(n);
	if (!v || mincore(m, len, v) != 0) {
		free(v);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		in += v[i] & 1;
	free(v);
	return (double)in / n;
}

/*
 * In a VM the first touch of a guest-physical page the guest has never used
 * also costs a fault in the host (here ~10 us a page against ~2 us warm),
 * and which side of a comparison meets cold pages is luck.  Touching
 * and freeing more memory than a part will use, before it starts, lets the
 * page allocator hand both sides warm pages (it reuses what was freed last).
 * A huge-page mapping where possible, so that whole 2 MiB blocks are warm
 * for the THP reference too.
 */
static void warm_up(size_t len)
{
	void *raw;
	size_t rawlen;
	int huge = thp_available();
	unsigned char *m = kernel_map(len, huge, &raw, &rawlen);
	if (!m && huge)
		m = kernel_map(len, 0, &raw, &rawlen);
	if (!m)
		return;
	touch_write(m, NULL, len / PS);
	munmap(raw, rawlen);
}

static int start_pager(uint64_t budget)
{
	/* FAULTLINE_* settings from the environment apply, as under the shim
	 * (FAULTLINE_HANDLERS=1 measures a single handler). */
	struct fl_settings st;
	char err[256];
	if (fl_settings_from_env(&st, environ, err, sizeof err) != 0) {
		printf("skipped: %s\n", err);
		return -1;
	}
	struct fl_pager_config cfg = st.pager;
	cfg.budget_bytes = budget;
	if (fl_pager_init(&cfg, err, sizeof err) != 0) {
		printf("skipped: the pager did not start: %s\n", err);
		return -1;
	}
	if (fl_pager_engine() != FL_ENGINE_UFFD && fl_pager_engine() != FL_ENGINE_UFFD_USER)
		printf("note: engine is %s, not uffd (%s)\n",
		       fl_engine_name(fl_pager_engine()), fl_pager_engine_reason());
	return 0;
}

static uint64_t all_faults(const struct fl_stats *s)
{
	uint64_t n = 0;
	for (int k = 0; k < FL_FAULT__COUNT; k++)
		n += s->faults[k];
	return n;
}

static void fmt_summary(char *out, size_t len, struct summary s)
{
	if (s.n == 0)
		snprintf(out, len, "n/a");
	else
		snprintf(out, len, "%.0f [%.0f..%.0f]", s.med, s.min, s.max);
}

/* ---- (a) first touch -------------------------------------------------- */

static int part_a(size_t size, int reps)
{
	size_t n = size / PS;
	const char *oname[2] = {"sequential", "random"};
	const char *target[2] = {"<=1.0x", "<=2x"};
	double kern[2][MAX_REPEATS], pager[2][MAX_REPEATS], thp[2][MAX_REPEATS];
	double thp_frac[2] = {0, 0};
	uint64_t faults[2] = {0, 0}, prefilled[2] = {0, 0};
	size_t bad = 0;
	int have_thp = thp_available();

	warm_up(3 * size);
	if (start_pager(0) != 0)
		return 0;
	uint32_t *perm = make_perm(n, 42);
	if (!perm) {
		printf("skipped: out of memory\n");
		return 1;
	}
	for (int r = 0; r < reps; r++) {
		for (int o = 0; o < 2; o++) {
			const uint32_t *ord = o ? perm : NULL;
			/* Alternate who goes first: the VM's noise drifts. */
			for (int turn = 0; turn < 2; turn++) {
				if ((turn == 0) == (r % 2 == 0)) {
					void *raw;
					size_t rawlen;
					unsigned char *m = kernel_map(size, 0, &raw, &rawlen);
					if (!m) {
						printf("skipped: mmap: %s\n", strerror(errno));
						return 1;
					}
					kern[o][r] = (double)touch_write(m, ord, n) / n;
					munmap(raw, rawlen);
				} else {
					struct fl_stats s0, s1;
					fl_stats_get(&s0);
					unsigned char *m = fl_pager_map(size);
					if (!m) {
						printf("skipped: fl_pager_map failed\n");
						return 1;
					}
					pager[o][r] = (double)touch_write(m, ord, n) / n;
					fl_stats_get(&s1);
					faults[o] += all_faults(&s1) - all_faults(&s0);
					prefilled[o] += s1.pages_prefilled - s0.pages_prefilled;
					/* Every page must read as written: 1 at the start,
					 * zero elsewhere (spot-checked). */
					for (size_t i = 0; i < n; i++)
						bad += m[i * PS] != 1 || m[i * PS + 1] != 0;
					fl_pager_unmap(m, size);
				}
			}
			if (have_thp) {
				void *raw;
				size_t rawlen;
				uint64_t h0 = anon_huge_bytes();
				unsigned char *m = kernel_map(size, 1, &raw, &rawlen);
				if (m) {
					thp[o][r] = (double)touch_write(m, ord, n) / n;
					thp_frac[o] += (double)(anon_huge_bytes() - h0) / size;
					munmap(raw, rawlen);
				} else {
					have_thp = 0;
				}
			}
		}
	}

	printf("(a) first touch: write one byte per 4 KiB page of a fresh %zu MiB region (%zu pages),\n"
	       "    %d repeats, fresh mapping each; ns/page as median [min..max]; pager has no budget\n\n",
	       size >> 20, n, reps);
	printf("%-11s %-22s %-22s %7s  %-7s %12s %12s\n", "order", "kernel 4K (NOHUGEPAGE)",
	       "faultline", "ratio", "target", "uffd faults", "prefilled");
	for (int o = 0; o < 2; o++) {
		char a[64], b[64];
		struct summary k = summarize(kern[o], reps), f = summarize(pager[o], reps);
		fmt_summary(a, sizeof a, k);
		fmt_summary(b, sizeof b, f);
		printf("%-11s %-22s %-22s %6.2fx  %-7s %12.0f %12.0f\n", oname[o], a, b,
		       f.med / k.med, target[o], (double)faults[o] / reps,
		       (double)prefilled[o] / reps);
	}
	printf("(uffd faults and prefilled pages are per pass: handler round trips, and pages\n"
	       " filled ahead by fault-around that took no round trip)\n");
	if (have_thp) {
		for (int o = 0; o < 2; o++) {
			char a[64];
			struct summary t = summarize(thp[o], reps);
			fmt_summary(a, sizeof a, t);
			printf("reference, kernel THP (MADV_HUGEPAGE), %-10s %s ns/page, %.0f%% of the region in huge pages; faultline/THP %.2fx\n",
			       oname[o], a, 100.0 * thp_frac[o] / reps,
			       summarize(pager[o], reps).med / t.med);
		}
	} else {
		printf("reference, kernel THP: not measured (transparent huge pages are off)\n");
	}
	if (bad)
		printf("WRONG DATA: %zu pages under the pager did not read back as written\n", bad);
	struct fl_stats s;
	fl_stats_get(&s);
	if (s.errors)
		printf("pager internal errors: %llu\n", (unsigned long long)s.errors);
	printf("\n");
	free(perm);
	fl_pager_shutdown();
	return bad ? 1 : 0;
}

/* ---- (b) refault ------------------------------------------------------ */

/* Wait until the evictor has stopped moving pages (or 3 s have passed). */
static void settle(void)
{
	struct fl_stats s;
	uint64_t last = ~0ull;
	int still = 0;
	for (int i = 0; i < 150 && still < 3; i++) {
		fl_stats_get(&s);
		uint64_t v = s.pages_evicted + s.pages_deactivated;
		still = v == last ? still + 1 : 0;
		last = v;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/*
 * One pass over a budget-sized region the evictor has partly worked on,
 * timing each read and classifying it by what the pager counted for it.
 * Returns ns per page of the pages soft faults brought back (the faulting
 * page and its readahead), and their count in *pages.  In order, the pass
 * starts at page first (see the caller).
 */
static double soft_pass(unsigned char *m, const uint32_t *order, size_t first, size_t n,
			size_t *pages)
{
	volatile unsigned char *vm = m;
	struct fl_stats s0, s1;
	uint64_t t_soft = 0;
	size_t n_soft = 0, ra_left = 0;
	unsigned sink = 0;
	fl_stats_get(&s0);
	for (size_t i = order ? 0 : first; i < n; i++) {
		size_t pg = order ? order[i] : i;
		uint64_t t0 = fl_mono_ns();
		sink += vm[pg * PS + 100];
		uint64_t t = fl_mono_ns() - t0;
		fl_stats_get(&s1);
		uint64_t soft = s1.faults[FL_FAULT_SOFT] - s0.faults[FL_FAULT_SOFT];
		uint64_t any = all_faults(&s1) - all_faults(&s0);
		uint64_t ra = s1.pages_readahead - s0.pages_readahead;
		if (soft == 1 && any == 1) {
			t_soft += t;
			n_soft += 1 + ra;
			/* In order, the readahead pages are the next ones read;
			 * their (cheap) reads belong to this fault. */
			ra_left = order ? 0 : ra;
		} else if (any == 0 && ra_left) {
			t_soft += t;
			ra_left--;
		} else {
			ra_left = 0;
		}
		s0 = s1;
	}
	read_sink += sink;
	*pages = n_soft;
	return n_soft ? (double)t_soft / n_soft : 0;
}

/* What timing one read costs by itself (soft_pass times every read). */
static double timer_ns(void)
{
	uint64_t sum = 0;
	for (int i = 0; i < 100000; i++) {
		uint64_t t0 = fl_mono_ns();
		sum += fl_mono_ns() - t0;
	}
	return sum / 100000.0;
}

static int part_b(size_t size, uint64_t budget, int reps)
{
	size_t n = size / PS, nb = budget / PS;
	const char *oname[2] = {"sequential", "random"};
	double pager[2][MAX_REPEATS], swapin[2][MAX_REPEATS], anon[2][MAX_REPEATS];
	double soft[2][MAX_REPEATS], swap_out_frac = 0;
	size_t soft_pages[2] = {0, 0};
	int nsoft[2] = {0, 0};
	uint64_t faults[2] = {0, 0}, ra[2] = {0, 0};
	size_t bad = 0, kbad = 0, not_stored = 0;
	char swapdev[256] = "";
	int have_swap = swap_on(swapdev, sizeof swapdev);

	if (size + (budget / 8) > budget) {
		/* The refault passes must not trigger eviction, or they would time
		 * the evictor too. */
		printf("note: --refault-size should stay below 7/8 of --budget\n");
	}
	warm_up(3 * (budget > size ? budget : size));
	if (start_pager(budget) != 0)
		return 0;
	uint32_t *perm = make_perm(n, 7);
	uint32_t *perm_soft = make_perm(nb, 9);
	if (!perm || !perm_soft) {
		printf("skipped: out of memory\n");
		return 1;
	}
	for (int r = 0; r < reps; r++) {
		/* faultline: fill, push everything into the store, read back. */
		unsigned char *m = fl_pager_map(size);
		if (!m) {
			printf("skipped: fl_pager_map failed\n");
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			fill_page(m + i * PS, i);
		for (int o = 0; o < 2; o++) {
			struct fl_stats s0, s1;
			fl_pager_reclaim(0);
			fl_stats_get(&s0);
			not_stored += s0.resident_pages + s0.inactive_pages;
			pager[o][r] = (double)touch_read(m, o ? perm : NULL, n) / n;
			fl_stats_get(&s1);
			faults[o] += all_faults(&s1) - all_faults(&s0);
			ra[o] += s1.pages_readahead - s0.pages_readahead;
			bad += verify(m, n);
		}
		fl_pager_unmap(m, size);

		/* The kernel, the same way, when there is swap to page out to. */
		if (have_swap) {
			void *raw;
			size_t rawlen;
			m = kernel_map(size, 0, &raw, &rawlen);
			if (!m) {
				printf("skipped: mmap: %s\n", strerror(errno));
				return 1;
			}
			for (size_t i = 0; i < n; i++)
				fill_page(m + i * PS, i);
			for (int o = 0; o < 2; o++) {
				if (madvise(m, size, MADV_PAGEOUT) != 0) {
					printf("note: MADV_PAGEOUT: %s; no swap-in figure\n", strerror(errno));
					have_swap = 0;
					break;
				}
				swap_out_frac += 1 - resident_fraction(m, size);
				swapin[o][r] = (double)touch_read(m, o ? perm : NULL, n) / n;
				kbad += verify(m, n);
			}
			munmap(raw, rawlen);
		}

		/* Reference: the kernel's anonymous write fault, same size. */
		for (int o = 0; o < 2; o++) {
			void *raw;
			size_t rawlen;
			m = kernel_map(size, 0, &raw, &rawlen);
			if (!m) {
				printf("skipped: mmap: %s\n", strerror(errno));
				return 1;
			}
			anon[o][r] = (double)touch_write(m, o ? perm : NULL, n) / n;
			munmap(raw, rawlen);
		}

		/*
		 * Soft faults: fill a region the size of the budget, so the
		 * evictor wakes, deactivates about budget/8 pages and compresses
		 * some; then read everything and keep the reads that met an
		 * INACTIVE page.
		 */
		for (int o = 0; o < 2; o++) {
			size_t got;
			m = fl_pager_map(budget);
			if (!m) {
				printf("skipped: fl_pager_map failed\n");
				return 1;
			}
			for (size_t i = 0; i < nb; i++)
				fill_page(m + i * PS, i);
			settle();
			/*
			 * The clock deactivated pages from the start of the region
			 * and the evictor compressed the oldest of them, so the
			 * compressed pages come first and the inactive ones after.
			 * An in-order pass starts past the compressed ones: reading
			 * them would raise the resident count, and the reclaim that
			 * follows takes the oldest inactive pages, the very ones the
			 * pass is about to read.
			 */
			struct fl_stats st;
			fl_stats_get(&st);
			size_t first = st.compressed_pages + st.same_filled_pages;
			double v = soft_pass(m, o ? perm_soft : NULL, first, nb, &got);
			if (got) {
				soft[o][nsoft[o]++] = v;
				soft_pages[o] += got;
			}
			bad += verify(m, nb);
			fl_pager_unmap(m, budget);
		}
	}

	printf("(b) refault: %zu MiB region (%zu pages) of compressible pages (text-like and small-int\n"
	       "    tables, lz4), all pushed out, then read one byte per page; budget %llu MiB;\n"
	       "    %d repeats, fresh mapping each; ns/page as median [min..max]\n\n",
	       size >> 20, n, (unsigned long long)(budget >> 20), reps);
	if (have_swap) {
		printf("%-11s %-22s %-24s %7s %11s %11s\n", "order", "faultline (store)",
		       "kernel swap-in", "ratio", "uffd faults", "read ahead");
		for (int o = 0; o < 2; o++) {
			char a[64], b[64];
			struct summary f = summarize(pager[o], reps), k = summarize(swapin[o], reps);
			fmt_summary(a, sizeof a, f);
			fmt_summary(b, sizeof b, k);
			printf("%-11s %-22s %-24s %6.2fx %11.0f %11.0f\n", oname[o], a, b,
			       f.med / k.med, (double)faults[o] / reps, (double)ra[o] / reps);
		}
		printf("(kernel: MADV_PAGEOUT to %s, %.1f%% of the pages were out before each read pass)\n",
		       swapdev, 100.0 * swap_out_frac / (2.0 * reps));
	} else {
		printf("%-11s %-22s %11s %11s\n", "order", "faultline (store)", "uffd faults",
		       "read ahead");
		for (int o = 0; o < 2; o++) {
			char a[64];
			fmt_summary(a, sizeof a, summarize(pager[o], reps));
			printf("%-11s %-22s %11.0f %11.0f\n", oname[o], a,
			       (double)faults[o] / reps, (double)ra[o] / reps);
		}
		printf("(kernel swap-in: not measured, no swap is on; bench/zram.sh measures it)\n");
	}
	for (int o = 0; o < 2; o++) {
		char a[64];
		struct summary k = summarize(anon[o], reps);
		fmt_summary(a, sizeof a, k);
		printf("reference, kernel anonymous write fault (4K), %-10s %s ns/page; faultline refault/that %.2fx\n",
		       oname[o], a, summarize(pager[o], reps).med / k.med);
	}
	printf("(uffd faults and read-ahead pages are per pass)\n");
	for (int o = 0; o < 2; o++) {
		if (!nsoft[o]) {
			printf("soft faults (INACTIVE -> resident), %-10s: none met; skipped\n", oname[o]);
			continue;
		}
		char a[64];
		fmt_summary(a, sizeof a, summarize(soft[o], nsoft[o]));
		printf("soft faults (INACTIVE -> resident), %-10s %s ns/page, %zu pages/pass\n",
		       oname[o], a, soft_pages[o] / nsoft[o]);
	}
	printf("(soft faults: every read timed alone, %.0f ns of timer per read included)\n", timer_ns());
	if (not_stored)
		printf("note: fl_pager_reclaim(0) left %zu pages in memory over all passes\n", not_stored);
	if (bad)
		printf("WRONG DATA: %zu pages under the pager did not read back as written\n", bad);
	if (kbad)
		printf("WRONG DATA: %zu pages of the kernel's mapping did not read back (!)\n", kbad);
	struct fl_stats s;
	fl_stats_get(&s);
	if (s.errors)
		printf("pager internal errors: %llu\n", (unsigned long long)s.errors);
	printf("\n");
	free(perm);
	free(perm_soft);
	fl_pager_shutdown();
	return bad ? 1 : 0;
}

/* ---- driver ----------------------------------------------------------- */

static int run_child(int (*fn)(size_t, uint64_t, int), size_t size, uint64_t budget,
		     int reps, const char *what)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		printf("%s: fork: %s\n", what, strerror(errno));
		return 1;
	}
	if (pid == 0) {
		alarm(CHILD_TIMEOUT_S);
		int rc = fn(size, budget, reps);
		fflush(stdout);
		_exit(rc);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		printf("%s: FAILED: killed by signal %d (%s)%s\n", what, WTERMSIG(st),
		       strsignal(WTERMSIG(st)),
		       WTERMSIG(st) == SIGALRM ? ": it hung for longer than the time limit" : "");
		return 1;
	}
	return WEXITSTATUS(st);
}

static int part_a_entry(size_t size, uint64_t budget, int reps)
{
	(void)budget;
	return part_a(size, reps);
}

static int part_b_entry(size_t size, uint64_t budget, int reps)
{
	return part_b(size, budget, reps);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: firsttouch [--part a|b|all] [--size BYTES] [--refault-size BYTES]\n"
		"                  [--budget BYTES] [--repeats N]\n"
		"(a) first-touch cost per page, pager vs kernel (--size, default 256M);\n"
		"(b) refault cost from the store (--refault-size, default 48M, under\n"
		"--budget, default 64M), vs the kernel's swap-in when swap is on.\n");
}

int main(int argc, char **argv)
{
	size_t size = 256u << 20, rsize = 48u << 20;
	uint64_t budget = 64u << 20;
	int reps = 5, do_a = 1, do_b = 1;
	static struct option opts[] = {
		{"part", required_argument, 0, 'p'},
		{"size", required_argument, 0, 's'},
		{"refault-size", required_argument, 0, 'r'},
		{"budget", required_argument, 0, 'b'},
		{"repeats", required_argument, 0, 'n'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "p:s:r:b:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			do_a = !strcmp(optarg, "a") || !strcmp(optarg, "all");
			do_b = !strcmp(optarg, "b") || !strcmp(optarg, "all");
			if (!do_a && !do_b) {
				fprintf(stderr, "firsttouch: --part: '%s' is not a, b or all\n", optarg);
				return 2;
			}
			break;
		case 's':
		case 'r':
		case 'b': {
			uint64_t v = parse_size(optarg);
			if (v < 64 * PS) {
				fprintf(stderr, "firsttouch: '%s' is not a size of at least 256K (like 64M)\n", optarg);
				return 2;
			}
			v &= ~(uint64_t)(PS - 1);
			if (c == 's')
				size = v;
			else if (c == 'r')
				rsize = v;
			else
				budget = v;
			break;
		}
		case 'n':
			reps = atoi(optarg);
			if (reps < 1 || reps > MAX_REPEATS) {
				fprintf(stderr, "firsttouch: --repeats: 1..%d\n", MAX_REPEATS);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	int rc = 0;
	if (do_a)
		rc |= run_child(part_a_entry, size, 0, reps, "(a) first touch");
	if (do_b)
		rc |= run_child(part_b_entry, rsize, budget, reps, "(b) refault");
	return rc;
}
