/*
 * budget: the workload for the side-by-side run against the kernel's own
 * paging to zram (bench/zram.sh).  A working set twice the memory it is
 * allowed is filled with compressible data (text-like pages and tables of
 * small integers, so that zram and faultline's store both have something to
 * compress) and then accessed in three patterns:
 *
 *   sequential  whole passes over the working set, in page order;
 *   zipf        64 KiB clusters chosen with a zipf law (s = 1.0 by default)
 *               from a shuffled ranking, every page of a chosen cluster
 *               touched, the way a program walks objects it keeps hot;
 *   uniform     pages chosen uniformly at random.
 *
 * Each access reads a word of the page, checks it against the value this
 * program last wrote there (kept outside the working set), and writes the
 * next value; at the end every page is compared whole with what it should
 * hold and a checksum of all the data is printed, which must be the same in
 * both modes.  The memory comes from the kernel (--mode kernel, run inside a
 * memory cgroup whose limit is the budget, with zram as swap) or from the
 * pager (--mode pager --budget N, run with no limit at all).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "pager.h"
#include "options.h"

#define PS 4096u
#define WORD_OFF 8 /* the word accesses read and write; 0..7 hold the index */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
	return (double)(splitmix(s) >> 11) / 9007199254740992.0;
}

/* Sizes are parsed as faultline parses them everywhere (options.c);
 * 0 means not a size. */
static uint64_t parse_size(const char *s)
{
	uint64_t v;
	return fl_parse_size(s, fl_phys_bytes(), &v) == 0 ? v : 0;
}

static const char *words[] = {"page", "fault", "memory", "budget", "compress",
			      "region", "resident", "inactive", "kernel", "thread",
			      "the", "of", "and", "a", "to", "in", "is", "it", "{", "}",
			      "return", "int", "size_t", "=", ";", "\n"};

/*
 * A page's initial contents, a function of its index only (so the final
 * check can rebuild it): text-like or a small-integer table, stamped with
 * the index so no two pages are alike and none is same-filled.
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
	uint64_t w0 = idx;
	memcpy(p + WORD_OFF, &w0, sizeof w0);
}

static unsigned char *mem;
static uint64_t *expect;  /* per page: the word last written (unmanaged) */
static size_t npages;
static uint64_t mismatches;

/* The access every pattern is made of: read the word, check it, write. */
static inline void access_page(size_t pg)
{
	volatile uint64_t *w = (volatile uint64_t *)(mem + pg * PS + WORD_OFF);
	uint64_t v = *w;
	if (v != expect[pg])
		mismatches++;
	v = v * 6364136223846793005ull + 1442695040888963407ull;
	*w = v;
	expect[pg] = v;
}

struct counts {
	double t;
	long majflt, minflt;
	uint64_t uffd;
};

static void snap(struct counts *c)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	c->t = now_s();
	c->majflt = ru.ru_majflt;
	c->minflt = ru.ru_minflt;
	c->uffd = 0;
	struct fl_stats s;
	if (fl_stats_get(&s) == 0)
		for (int k = 0; k < FL_FAULT__COUNT; k++)
			c->uffd += s.faults[k];
}

static void row(const char *name, const struct counts *a, const struct counts *b,
		uint64_t accesses, uint64_t mism, int pager)
{
	char uffd[32] = "-";
	if (pager)
		snprintf(uffd, sizeof uffd, "%llu", (unsigned long long)(b->uffd - a->uffd));
	printf("%-11s %9.3f %14llu %10llu %12ld %12ld %12s\n", name, b->t - a->t,
	       (unsigned long long)accesses, (unsigned long long)mism,
	       b->majflt - a->majflt, b->minflt - a->minflt, uffd);
	fflush(stdout);
}

static void print_status(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6) || !strncmp(line, "VmSwap:", 7))
			printf("  %s", line);
	fclose(f);
}

static void print_zram(void)
{
	FILE *f = fopen("/sys/block/zram0/mm_stat", "r");
	unsigned long long orig, compr, used, limit, used_max;
	if (!f)
		return;
	if (fscanf(f, "%llu %llu %llu %llu %llu", &orig, &compr, &used, &limit, &used_max) == 5 && orig)
		printf("  zram0: %.1f MiB of pages in %.1f MiB compressed, %.1f MiB used (ratio %.2fx)\n",
		       orig / 1048576.0, compr / 1048576.0, used / 1048576.0,
		       used ? (double)orig / used : 0.0);
	fclose(f);
}

static void print_pager(void)
{
	struct fl_stats s;
	if (fl_stats_get(&s) != 0)
		return;
	double mib = s.page_size / 1048576.0;
	printf("  pager: budget %.0f MiB, peak resident+inactive %.1f MiB; %.1f MiB held compressed and\n"
	       "         %.1f MiB same-filled in %.1f MiB of store (efficiency %.2fx)\n",
	       s.budget_pages * mib, s.resident_peak_pages * mib, s.compressed_pages * mib,
	       s.same_filled_pages * mib, s.store_bytes / 1048576.0, fl_stats_efficiency(&s));
	printf("  faults:");
	for (int k = 0; k < FL_FAULT__COUNT; k++)
		if (s.faults[k])
			printf(" %s %llu", fl_fault_kind_name(k), (unsigned long long)s.faults[k]);
	printf("; prefilled %llu, read ahead %llu\n", (unsigned long long)s.pages_prefilled,
	       (unsigned long long)s.pages_readahead);
	printf("  evicted %llu pages, deactivated %llu, %llu direct reclaims, pressure peak %s, errors %llu\n",
	       (unsigned long long)s.pages_evicted, (unsigned long long)s.pages_deactivated,
	       (unsigned long long)s.direct_reclaims, fl_pressure_name(s.pressure_peak),
	       (unsigned long long)s.errors);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: budget --mode kernel|pager [--budget BYTES] [--wset BYTES]\n"
		"              [--passes N] [--zipf-s S] [--cluster BYTES] [--seed N]\n"
		"  --mode kernel   plain anonymous memory; run it inside a memory cgroup\n"
		"  --mode pager    memory from fl_pager_map, with --budget (required)\n"
		"  --wset          working set (default 512M); --passes sequential passes (2)\n"
		"  --zipf-s        zipf exponent over clusters (1.0); --cluster (64K)\n");
}

int main(int argc, char **argv)
{
	int pager = -1, passes = 2;
	uint64_t budget = 0, wset = 512ull << 20, cluster = 64 << 10, seed = 1;
	double zs = 1.0;
	static struct option opts[] = {
		{"mode", required_argument, 0, 'm'},
		{"budget", required_argument, 0, 'b'},
		{"wset", required_argument, 0, 'w'},
		{"passes", required_argument, 0, 'p'},
		{"zipf-s", required_argument, 0, 'z'},
		{"cluster", required_argument, 0, 'c'},
		{"seed", required_argument, 0, 'S'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "m:b:w:p:z:c:S:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "kernel"))
				pager = 0;
			else if (!strcmp(optarg, "pager"))
				pager = 1;
			else {
				fprintf(stderr, "budget: --mode: '%s' is not kernel or pager\n", optarg);
				return 2;
			}
			break;
		case 'b':
			budget = parse_size(optarg);
			break;
		case 'w':
			wset = parse_size(optarg);
			break;
		case 'p':
			passes = atoi(optarg);
			break;
		case 'z':
			zs = atof(optarg);
			break;
		case 'c':
			cluster = parse_size(optarg);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (pager < 0 || (pager && budget < (1 << 20)) || wset < (1 << 20) ||
	    cluster < PS || cluster % PS || wset % cluster || passes < 1 || zs <= 0) {
		fprintf(stderr, "budget: need --mode, a --budget of at least 1M in pager mode, a --wset\n"
				"of at least 1M that is a multiple of --cluster (a multiple of 4K)\n");
		usage(stderr);
		return 2;
	}
	npages = wset / PS;
	size_t cpages = cluster / PS, nclusters = wset / cluster;

	if (pager) {
		/* FAULTLINE_* settings from the environment apply, as under the shim. */
		struct fl_settings st;
		char err[256];
		if (fl_settings_from_env(&st, environ, err, sizeof err) != 0) {
			fprintf(stderr, "budget: %s\n", err);
			return 1;
		}
		struct fl_pager_config cfg = st.pager;
		cfg.budget_bytes = budget;
		if (fl_pager_init(&cfg, err, sizeof err) != 0) {
			fprintf(stderr, "budget: the pager did not start: %s\n", err);
			return 1;
		}
		mem = fl_pager_map(wset);
	} else {
		/* No madvise: the kernel's defaults are what is being measured. */
		mem = mmap(NULL, wset, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			mem = NULL;
	}
	expect = calloc(npages, sizeof *expect);
	/* The zipf ranking: cumulative weights, and which cluster has which rank
	 * (shuffled, so hot clusters are spread over the working set). */
	double *cdf = malloc(nclusters * sizeof *cdf);
	uint32_t *rank = malloc(nclusters * sizeof *rank);
	if (!mem || !expect || !cdf || !rank) {
		fprintf(stderr, "budget: out of memory\n");
		return 1;
	}
	double h = 0;
	for (size_t k = 0; k < nclusters; k++)
		cdf[k] = h += 1.0 / pow((double)(k + 1), zs);
	for (size_t k = 0; k < nclusters; k++) {
		cdf[k] /= h;
		rank[k] = (uint32_t)k;
	}
	uint64_t rs = seed * 0x9e3779b97f4a7c15ull + 12345;
	for (size_t k = nclusters - 1; k > 0; k--) {
		size_t j = splitmix(&rs) % (k + 1);
		uint32_t t = rank[k];
		rank[k] = rank[j];
		rank[j] = t;
	}

	printf("budget: mode %s, working set %llu MiB (%zu pages)", pager ? "pager" : "kernel",
	       (unsigned long long)(wset >> 20), npages);
	if (pager)
		printf(", budget %llu MiB, engine %s", (unsigned long long)(budget >> 20),
		       fl_engine_name(fl_pager_engine()));
	printf("\n        zipf s=%.2f over %zu clusters of %llu KiB; %d sequential passes\n\n",
	       zs, nclusters, (unsigned long long)(cluster >> 10), passes);
	printf("%-11s %9s %14s %10s %12s %12s %12s\n", "pattern", "seconds", "page-accesses",
	       "mismatches", "major-flt", "minor-flt", "uffd-faults");

	struct counts a, b;
	uint64_t m0;

	/* Fill: the data every pattern then works on. */
	snap(&a);
	for (size_t i = 0; i < npages; i++) {
		fill_page(mem + i * PS, i);
		expect[i] = i;
	}
	snap(&b);
	row("fill", &a, &b, npages, 0, pager);

	m0 = mismatches;
	snap(&a);
	for (int p = 0; p < passes; p++)
		for (size_t i = 0; i < npages; i++)
			access_page(i);
	snap(&b);
	row("sequential", &a, &b, (uint64_t)passes * npages, mismatches - m0, pager);

	/* As many page accesses as one sequential pass, twice over. */
	uint64_t picks = 2 * nclusters;
	m0 = mismatches;
	uint64_t zr = seed * 31 + 7;
	snap(&a);
	for (uint64_t n = 0; n < picks; n++) {
		double u = unit(&zr);
		size_t lo = 0, hi = nclusters - 1;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		size_t first = (size_t)rank[lo] * cpages;
		for (size_t i = 0; i < cpages; i++)
			access_page(first + i);
	}
	snap(&b);
	row("zipf", &a, &b, picks * cpages, mismatches - m0, pager);

	m0 = mismatches;
	uint64_t ur = seed * 131 + 3;
	snap(&a);
	for (size_t n = 0; n < npages; n++)
		access_page(splitmix(&ur) % npages);
	snap(&b);
	row("uniform", &a, &b, npages, mismatches - m0, pager);

	printf("\n");
	if (pager)
		print_pager();
	else {
		print_status();
		print_zram();
	}

	/* Every page whole, against what it must hold; and one checksum of all
	 * the data, the same in both modes when both are right. */
	unsigned char buf[PS];
	size_t bad = 0;
	uint64_t sum = 1469598103934665603ull;
	double tv = now_s();
	for (size_t i = 0; i < npages; i++) {
		fill_page(buf, i);
		memcpy(buf + WORD_OFF, &expect[i], sizeof expect[i]);
		const unsigned char *pg = mem + i * PS;
		bad += memcmp(buf, pg, PS) != 0;
		for (size_t j = 0; j < PS; j += 8) {
			uint64_t w;
			memcpy(&w, pg + j, 8);
			sum = (sum ^ w) * 1099511628211ull;
		}
	}
	printf("\nverify: %zu of %zu pages wrong, %llu word mismatches during the patterns (%.1f s)\n",
	       bad, npages, (unsigned long long)mismatches, now_s() - tv);
	printf("checksum %016llx\n", (unsigned long long)sum);
	if (pager) {
		fl_pager_unmap(mem, wset);
		fl_pager_shutdown();
	}
	return bad || mismatches ? 1 : 0;
}
