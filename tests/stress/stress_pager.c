/*
 * A plain-main stress program for the slow tier: several threads write and
 * verify checksummed pages in managed memory under a tight budget while
 * the evictor runs, with map/discard/unmap churn on the side.  Built with
 * ThreadSanitizer (where the shim's threads meet the program's) and run
 * for both engines.  The fault log's rings run too, every fault asking for
 * its stack, drained by a consumer thread as the emitter would; at the end
 * every fault the pager counted must have been taken from a ring or
 * counted as dropped.  Exits 0 when every page read back what was written
 * and the log adds up.
 *
 * usage: stress_pager uffd|signal [seconds]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
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

static uint64_t drained, with_stack, bad_stacks;

static void drain_once(uint64_t max_age_ns)
{
	static struct fl_wire_fault buf[1024];
	static struct fl_wire_region regs[256];
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	fl__events_expire_handoffs((uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec, max_age_ns);
	while (fl__events_take_regions(regs, 256) > 0)
		;
	size_t n;
	while ((n = fl__events_take_faults(buf, 1024)) > 0) {
		for (size_t i = 0; i < n; i++) {
			uint64_t pcs[FL_EVENTS_MAX_FRAMES];
			if (buf[i].stack) {
				with_stack++;
				if (fl__events_stack(buf[i].stack, pcs) == 0)
					bad_stacks++;
			}
		}
		drained += n;
	}
}

static void *consumer(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		drain_once(100000000ull);
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
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
	if (fl__events_init(1) != 0) {
		fprintf(stderr, "stress_pager: no fault log\n");
		return 1;
	}
	fl__events_set_connected(1);
	if (fl_pager_init(&c, err, sizeof err) != 0) {
		fprintf(stderr, "stress_pager: %s\n", err);
		return 1;
	}
	mem = fl_pager_map((size_t)THREADS * PAGES_PER_THREAD * PS);
	pthread_t th[THREADS + 2];
	for (size_t i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	pthread_create(&th[THREADS], NULL, churn, NULL);
	pthread_create(&th[THREADS + 1], NULL, consumer, NULL);
	struct timespec ts = {secs, 0};
	nanosleep(&ts, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i <= THREADS + 1; i++)
		pthread_join(th[i], NULL);
	struct fl_stats s;
	fl_stats_get(&s);
	drain_once(0);
	uint64_t ev, st, other;
	fl__events_drops(&ev, &st, &other);
	uint64_t total = 0;
	for (int k = 0; k < FL_FAULT__COUNT; k++)
		total += s.faults[k];
	int log_ok = drained + ev == total && bad_stacks == 0 && with_stack > 0;
	printf("stress_pager %s: fault log: %llu faults counted, %llu taken from the rings (%llu with a stack), "
	       "%llu dropped, %llu stacks dropped, %llu unknown stack ids: %s\n",
	       argv[1], (unsigned long long)total, (unsigned long long)drained, (unsigned long long)with_stack,
	       (unsigned long long)ev, (unsigned long long)st, (unsigned long long)bad_stacks,
	       log_ok ? "adds up" : "DOES NOT ADD UP");
	printf("stress_pager %s: %lu checks, %lu mismatches, %llu evicted, %llu faults, peak %llu of %llu pages, errors %llu\n",
	       argv[1], checks, mismatches, (unsigned long long)s.pages_evicted,
	       (unsigned long long)(s.faults[0] + s.faults[1] + s.faults[2] + s.faults[3]),
	       (unsigned long long)s.resident_peak_pages, (unsigned long long)s.budget_pages,
	       (unsigned long long)s.errors);
	fl_pager_shutdown();
	return mismatches || s.errors || !log_ok ? 1 : 0;
}
