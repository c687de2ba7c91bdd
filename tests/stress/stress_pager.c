/*
 * A plain-main stress program for the slow tier: several threads write and
 * verify checksummed pages in managed memory under a tight budget while
 * the evictor runs, with map/discard/unmap churn on the side.  Built with
 * ThreadSanitizer (where the shim's threads meet the program's) and run
 * for both engines.  Exits 0 when every page read back what was written.
 *
 * usage: stress_pager uffd|signal [seconds]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pager.h"

#define PS 4096u
#define THREADS 4
#define PAGES_PER_THREAD 512u

static unsigned char *mem;
static int stop;
static unsigned long mismatches, checks;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static void fill(unsigned char *p, uint64_t tag)
{
	/* Half the page compressible, half not, stamped with the tag. */
	for (size_t i = 0; i < PS / 2; i += 8)
		memcpy(p + i, &tag, 8);
	uint64_t s = tag;
	for (size_t i = PS / 2; i < PS; i += 8) {
		s = mix(s + i);
		memcpy(p + i, &s, 8);
	}
}

static int check(const unsigned char *p, uint64_t tag)
{
	unsigned char exp[PS];
	fill(exp, tag);
	return memcmp(p, exp, PS) == 0;
}

static void *worker(void *arg)
{
	size_t id = (size_t)arg;
	unsigned char *base = mem + id * PAGES_PER_THREAD * PS;
	uint32_t *gen = calloc(PAGES_PER_THREAD, sizeof *gen);
	uint64_t r = mix(id + 1);
	for (size_t i = 0; i < PAGES_PER_THREAD; i++)
		fill(base + i * PS, mix((id << 40) | (i << 8)));
	unsigned long bad = 0, n = 0;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		r = mix(r);
		size_t i = r % PAGES_PER_THREAD;
		uint64_t tag = mix((id << 40) | (i << 8) | gen[i]);
		if (!check(base + i * PS, tag))
			bad++;
		n++;
		if (r & 1) {
			gen[i] = (gen[i] + 1) & 0xff;
			fill(base + i * PS, mix((id << 40) | (i << 8) | gen[i]));
		}
	}
	__atomic_add_fetch(&mismatches, bad, __ATOMIC_RELAXED);
	__atomic_add_fetch(&checks, n, __ATOMIC_RELAXED);
	free(gen);
	return NULL;
}

/* Map, write, discard and unmap small regions while the workers run. */
static void *churn(void *arg)
{
	(void)arg;
	unsigned long bad = 0;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned char *m = fl_pager_map(64 * PS);
		if (!m)
			continue;
		for (size_t i = 0; i < 64; i++)
			fill(m + i * PS, i);
		fl_pager_discard(m + 16 * PS, 16 * PS);
		for (size_t i = 0; i < 64; i++) {
			if (i >= 16 && i < 32)
				bad += m[i * PS] != 0;
			else
				bad += !check(m + i * PS, i);
		}
		fl_pager_unmap(m, 64 * PS);
	}
	__atomic_add_fetch(&mismatches, bad, __ATOMIC_RELAXED);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "uffd") && strcmp(argv[1], "signal"))) {
		fprintf(stderr, "usage: stress_pager uffd|signal [seconds]\n");
		return 2;
	}
	int secs = argc > 2 ? atoi(argv[2]) : 5;
	struct fl_pager_config c;
	fl_pager_config_default(&c);
	c.engine = strcmp(argv[1], "uffd") ? FL_ENGINE_CHOICE_SIGNAL : FL_ENGINE_CHOICE_UFFD;
	c.budget_bytes = (uint64_t)THREADS * PAGES_PER_THREAD * PS / 10;
	char err[256];
	if (fl_pager_init(&c, err, sizeof err) != 0) {
		fprintf(stderr, "stress_pager: %s\n", err);
		return 1;
	}
	mem = fl_pager_map((size_t)THREADS * PAGES_PER_THREAD * PS);
	pthread_t th[THREADS + 1];
	for (size_t i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	pthread_create(&th[THREADS], NULL, churn, NULL);
	struct timespec ts = {secs, 0};
	nanosleep(&ts, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i <= THREADS; i++)
		pthread_join(th[i], NULL);
	struct fl_stats s;
	fl_stats_get(&s);
	printf("stress_pager %s: %lu checks, %lu mismatches, %llu evicted, %llu faults, peak %llu of %llu pages, errors %llu\n",
	       argv[1], checks, mismatches, (unsigned long long)s.pages_evicted,
	       (unsigned long long)(s.faults[0] + s.faults[1] + s.faults[2] + s.faults[3]),
	       (unsigned long long)s.resident_peak_pages, (unsigned long long)s.budget_pages,
	       (unsigned long long)s.errors);
	fl_pager_shutdown();
	return mismatches || s.errors ? 1 : 0;
}
