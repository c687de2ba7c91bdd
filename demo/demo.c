/*
 * faultline-demo: a workload run under the pager with a budget smaller
 * than its working set, ending in a report of what the pager did.  It
 * writes a mix of page kinds (zero, text-like, numeric tables, random),
 * reads them back sequentially and with a skewed (zipf-like) pattern,
 * checks every page against its checksum and prints the pager's figures.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pager.h"
#include "options.h"

#define PS 4096u

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static const char *words[] = {"page", "fault", "memory", "budget", "compress",
			      "region", "resident", "inactive", "kernel", "thread",
			      "the", "of", "and", "a", "to", "in", "is", "it"};

static void fill_page(unsigned char *p, size_t idx)
{
	switch (idx % 4) {
	case 0: /* zero page */
		memset(p, 0, PS);
		break;
	case 1: { /* text */
		size_t o = 0;
		while (o < PS) {
			const char *w = words[rng() % (sizeof words / sizeof words[0])];
			size_t l = strlen(w);
			for (size_t i = 0; i < l && o < PS; i++)
				p[o++] = (unsigned char)w[i];
			if (o < PS)
				p[o++] = ' ';
		}
		break;
	}
	case 2: { /* a table of small integers, like a heap of counters */
		uint32_t *q = (uint32_t *)p;
		for (size_t i = 0; i < PS / 4; i++)
			q[i] = (uint32_t)(idx * 7 + (i % 64));
		break;
	}
	default: /* random: incompressible */
		for (size_t i = 0; i < PS / 8; i++)
			((uint64_t *)p)[i] = rng();
		break;
	}
	/* Stamp the index so no two non-zero pages are the same. */
	if (idx % 4)
		memcpy(p + PS - 8, &idx, 8);
}

/* Sizes are parsed as faultline parses them everywhere (options.c);
 * 0 means not a size. */
static uint64_t parse_size(const char *s)
{
	uint64_t v;
	return fl_parse_size(s, fl_phys_bytes(), &v) == 0 ? v : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline-demo [--size BYTES] [--budget BYTES] [--engine auto|uffd|signal]\n"
		"                      [--compressor lz4|zstd[:LEVEL]]\n"
		"Runs a workload of SIZE bytes (default 256M) under the pager with a\n"
		"budget (default 64M), verifies every page and prints a report.\n");
}

int main(int argc, char **argv)
{
	uint64_t size = 256ull << 20, budget = 64ull << 20;
	struct fl_pager_config cfg;
	fl_pager_config_default(&cfg);
	static struct option opts[] = {
		{"size", required_argument, 0, 's'},
		{"budget", required_argument, 0, 'b'},
		{"engine", required_argument, 0, 'e'},
		{"compressor", required_argument, 0, 'c'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "s:b:e:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			size = parse_size(optarg);
			if (size < 16 * PS) {
				fprintf(stderr, "faultline-demo: --size: '%s' is not a size of at least 64K (like 256M)\n", optarg);
				return 2;
			}
			break;
		case 'b':
			budget = parse_size(optarg);
			if (!budget && strcmp(optarg, "0") != 0 && strcmp(optarg, "none") != 0) {
				fprintf(stderr, "faultline-demo: --budget: '%s' is not a size (like 64M, 0 for none)\n", optarg);
				return 2;
			}
			break;
		case 'e':
			if (!strcmp(optarg, "auto")) cfg.engine = FL_ENGINE_CHOICE_AUTO;
			else if (!strcmp(optarg, "uffd")) cfg.engine = FL_ENGINE_CHOICE_UFFD;
			else if (!strcmp(optarg, "signal")) cfg.engine = FL_ENGINE_CHOICE_SIGNAL;
			else {
				fprintf(stderr, "faultline-demo: --engine: '%s' is not one of auto, uffd, signal\n", optarg);
				return 2;
			}
			break;
		case 'c':
			if (!strcmp(optarg, "lz4")) cfg.compressor = FL_COMP_LZ4;
			else if (!strncmp(optarg, "zstd", 4) && (optarg[4] == 0 || optarg[4] == ':')) {
				cfg.compressor = FL_COMP_ZSTD;
				cfg.compressor_level = optarg[4] ? atoi(optarg + 5) : 1;
				if (cfg.compressor_level < 1 || cfg.compressor_level > 19) {
					fprintf(stderr, "faultline-demo: --compressor: zstd level must be 1..19\n");
					return 2;
				}
			} else {
				fprintf(stderr, "faultline-demo: --compressor: '%s' is not lz4 or zstd[:LEVEL]\n", optarg);
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
	cfg.budget_bytes = budget;
	char err[256];
	if (fl_pager_init(&cfg, err, sizeof err) != 0) {
		fprintf(stderr, "faultline-demo: cannot start the pager: %s\n", err);
		return 1;
	}
	size_t npages = size / PS;
	unsigned char *m = fl_pager_map(npages * PS);
	uint64_t *sum = calloc(npages, sizeof *sum);
	if (!m || !sum) {
		fprintf(stderr, "faultline-demo: out of memory\n");
		return 1;
	}
	printf("faultline demo: %zu MiB working set, budget %llu MiB, engine %s\n",
	       (size_t)(size >> 20), (unsigned long long)(budget >> 20),
	       fl_engine_name(fl_pager_engine()));
	printf("  (%s)\n", fl_pager_engine_reason());

	double t0 = now_s();
	for (size_t i = 0; i < npages; i++) {
		fill_page(m + i * PS, i);
		sum[i] = fnv(m + i * PS, PS);
	}
	double t1 = now_s();
	size_t bad = 0;
	for (size_t i = 0; i < npages; i++)
		bad += fnv(m + i * PS, PS) != sum[i];
	double t2 = now_s();
	/* Skewed reads: page = n * u^3 keeps a small hot set. */
	size_t reads = npages * 2;
	for (size_t k = 0; k < reads; k++) {
		double u = (double)(rng() >> 11) / 9007199254740992.0;
		size_t i = (size_t)(npages * u * u * u);
		bad += fnv(m + i * PS, PS) != sum[i];
	}
	double t3 = now_s();

	struct fl_stats s;
	fl_stats_get(&s);
	double mib = 1.0 / 256;
	printf("\nphase                 seconds\n");
	printf("write all pages       %7.3f\n", t1 - t0);
	printf("read back, in order   %7.3f\n", t2 - t1);
	printf("skewed reads (%zux)    %7.3f\n", reads / npages, t3 - t2);
	printf("\nchecksum mismatches   %zu of %zu pages checked\n", bad, npages + reads);
	printf("\nmemory (MiB)\n");
	printf("  budget              %9.1f\n", s.budget_pages * mib);
	printf("  peak resident       %9.1f  (resident + inactive)\n", s.resident_peak_pages * mib);
	printf("  resident now        %9.1f\n", s.resident_pages * mib);
	printf("  inactive now        %9.1f\n", s.inactive_pages * mib);
	printf("  compressed pages    %9.1f  in %.1f MiB of store\n",
	       s.compressed_pages * mib, s.store_bytes / 1048576.0);
	printf("  same-filled pages   %9.1f  (no payload)\n", s.same_filled_pages * mib);
	printf("  compressor          %s, efficiency %.2fx\n",
	       s.compressor ? "zstd" : "lz4", fl_stats_efficiency(&s));
	printf("\nfaults\n");
	for (int k = 0; k < FL_FAULT__COUNT; k++)
		if (s.faults[k])
			printf("  %-18s %10llu\n", fl_fault_kind_name(k), (unsigned long long)s.faults[k]);
	printf("  pages prefilled    %10llu  (fault-around, not faulted on)\n",
	       (unsigned long long)s.pages_prefilled);
	printf("  pages read ahead   %10llu\n", (unsigned long long)s.pages_readahead);
	printf("  pages evicted      %10llu  (%llu direct reclaims)\n",
	       (unsigned long long)s.pages_evicted, (unsigned long long)s.direct_reclaims);
	uint64_t nf = 0;
	for (int k = 0; k < FL_FAULT__COUNT; k++)
		nf += s.faults[k];
	printf("  time in faults     %10.3f s (%.1f us per fault)\n", s.fault_ns_total / 1e9,
	       nf ? s.fault_ns_total / 1e3 / nf : 0.0);
	printf("\npressure now %s, peak %s; internal errors %llu\n",
	       fl_pressure_name(s.pressure), fl_pressure_name(s.pressure_peak),
	       (unsigned long long)s.errors);
	fl_pager_unmap(m, npages * PS);
	fl_pager_shutdown();
	free(sum);
	if (bad) {
		printf("FAILED: %zu pages did not read back what was written\n", bad);
		return 1;
	}
	printf("OK: every page read back what was written\n");
	return 0;
}
