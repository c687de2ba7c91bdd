/*
 * The integrity suite: managed bytes read back what was written, under a
 * budget of 10%, 50% and 100% of the working set, with sequential, random
 * and clustered access, from 1 and 4 threads, with the three engines (uffd,
 * signal, uffd-sigbus), for zero, compressible and random data.  Every page
 * is checked against a checksum of what its writer put there, twice (after
 * the first writes and after a second generation of writes).  Plus
 * kernel-mode access to evicted pages.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "fltest.h"

#define WS_PAGES 2048u /* 8 MiB working set */
#define CLUSTER 16u

enum access { ACC_SEQ, ACC_RANDOM, ACC_CLUSTER };

struct combo {
	int budget_pct;
	enum access acc;
	int threads;
	enum fl_engine_choice engine;
	enum data_kind data;
};

static const char *acc_name[] = {"sequential", "random", "clustered"};
static const char *data_name[] = {"zero", "compressible", "random"};

struct run {
	const struct combo *c;
	unsigned char *mem;
	pthread_barrier_t bar;
	unsigned long mismatches;
	unsigned long checked;
};

struct worker {
	struct run *run;
	int id;
	size_t *order;
	size_t norder;
};

/* An access order over all pages for one thread. */
static size_t make_order(enum access acc, unsigned seed, size_t *out)
{
	size_t n = 0;
	uint64_t s = t_mix(seed + 1);
	switch (acc) {
	case ACC_SEQ:
		for (size_t i = 0; i < WS_PAGES; i++)
			out[n++] = i;
		break;
	case ACC_RANDOM:
		for (size_t i = 0; i < WS_PAGES; i++)
			out[n++] = i;
		for (size_t i = WS_PAGES - 1; i > 0; i--) {
			s = t_mix(s);
			size_t j = s % (i + 1);
			size_t t = out[i];
			out[i] = out[j];
			out[j] = t;
		}
		break;
	case ACC_CLUSTER: {
		/* Clusters in random order, each walked through; every page is
		 * still visited at least once. */
		size_t nc = WS_PAGES / CLUSTER;
		size_t cl[WS_PAGES / CLUSTER];
		for (size_t i = 0; i < nc; i++)
			cl[i] = i;
		for (size_t i = nc - 1; i > 0; i--) {
			s = t_mix(s);
			size_t j = s % (i + 1);
			size_t t = cl[i];
			cl[i] = cl[j];
			cl[j] = t;
		}
		for (size_t i = 0; i < nc; i++)
			for (size_t k = 0; k < CLUSTER; k++)
				out[n++] = cl[i] * CLUSTER + k;
		break;
	}
	}
	return n;
}

static void verify_all(struct worker *w, unsigned gen)
{
	struct run *r = w->run;
	unsigned char exp[TPS];
	unsigned long bad = 0;
	for (size_t k = 0; k < w->norder; k++) {
		size_t pg = w->order[k];
		t_fill(exp, r->c->data, pg, gen);
		if (t_sum(r->mem + pg * TPS) != t_sum(exp) ||
		    memcmp(r->mem + pg * TPS, exp, TPS) != 0)
			bad++;
	}
	__atomic_add_fetch(&r->mismatches, bad, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->checked, w->norder, __ATOMIC_RELAXED);
}

static void write_own(struct worker *w, unsigned gen)
{
	struct run *r = w->run;
	for (size_t k = 0; k < w->norder; k++) {
		size_t pg = w->order[k];
		if ((int)(pg % r->c->threads) != w->id)
			continue;
		t_fill(r->mem + pg * TPS, r->c->data, pg, gen);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (unsigned gen = 0; gen < 2; gen++) {
		write_own(w, gen);
		pthread_barrier_wait(&w->run->bar);
		verify_all(w, gen);
		pthread_barrier_wait(&w->run->bar);
	}
	return NULL;
}

static enum fl_engine_kind engine_kind(enum fl_engine_choice c)
{
	return c == FL_ENGINE_CHOICE_UFFD ? FL_ENGINE_UFFD
	       : c == FL_ENGINE_CHOICE_SIGNAL ? FL_ENGINE_SIGNAL
					       : FL_ENGINE_UFFD_SIGBUS;
}

static struct combo combos[3 * 3 * 2 * 3 * 3];

ParameterizedTestParameters(integrity, matrix)
{
	static const int budgets[] = {10, 50, 100};
	static const int threads[] = {1, 4};
	static const enum fl_engine_choice engines[] = {FL_ENGINE_CHOICE_UFFD, FL_ENGINE_CHOICE_SIGNAL,
							FL_ENGINE_CHOICE_UFFD_SIGBUS};
	size_t n = 0;
	for (int b = 0; b < 3; b++)
		for (int a = 0; a < 3; a++)
			for (int t = 0; t < 2; t++)
				for (int e = 0; e < 3; e++)
					for (int d = 0; d < 3; d++)
						combos[n++] = (struct combo){budgets[b], (enum access)a, threads[t],
									     engines[e], (enum data_kind)d};
	return cr_make_param_array(struct combo, combos, n);
}

ParameterizedTest(struct combo *c, integrity, matrix, .timeout = 120)
{
	uint64_t budget = (uint64_t)WS_PAGES * TPS * c->budget_pct / 100;
	cr_assert_eq(t_start(c->engine, budget), 0);
	cr_assert_eq(fl_pager_engine(), engine_kind(c->engine));

	struct run run = {.c = c};
	run.mem = fl_pager_map(WS_PAGES * TPS);
	cr_assert_not_null(run.mem);
	cr_assert(fl_pager_owns(run.mem));
	pthread_barrier_init(&run.bar, NULL, (unsigned)c->threads);

	struct worker w[4];
	pthread_t th[4];
	for (int i = 0; i < c->threads; i++) {
		w[i].run = &run;
		w[i].id = i;
		w[i].order = malloc(WS_PAGES * 2 * sizeof(size_t));
		w[i].norder = make_order(c->acc, 17u * (unsigned)i + 3u, w[i].order);
		cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < c->threads; i++)
		pthread_join(th[i], NULL);

	struct fl_stats s;
	cr_assert_eq(fl_stats_get(&s), 0);
	cr_expect_eq(run.mismatches, 0,
		     "%lu of %lu page checks mismatched (budget %d%%, %s, %d threads, %s engine, %s data)",
		     run.mismatches, run.checked, c->budget_pct, acc_name[c->acc], c->threads,
		     fl_engine_name(engine_kind(c->engine)), data_name[c->data]);
	cr_expect_eq(run.checked, (unsigned long)WS_PAGES * 2 * c->threads);
	cr_expect_eq(s.errors, 0);
	/* The budget holds: resident + inactive never went past it. */
	cr_expect_leq(s.resident_peak_pages, s.budget_pages,
		      "peak %llu pages over a budget of %llu",
		      (unsigned long long)s.resident_peak_pages, (unsigned long long)s.budget_pages);
	if (c->budget_pct < 100) {
		/* The budget was below the working set: pages must have left. */
		cr_expect_gt(s.pages_evicted, 0);
		cr_expect_gt(s.faults[FL_FAULT_DECOMPRESS] + s.faults[FL_FAULT_SAME_FILLED] +
				     s.faults[FL_FAULT_SOFT],
			     0);
	}
	if (c->data == DATA_ZERO && s.pages_evicted)
		cr_expect_eq(s.compressed_pages, 0, "zero/one-word pages must be same-filled");

	cr_assert_eq(fl_pager_unmap(run.mem, WS_PAGES * TPS), 0);
	cr_assert_eq(fl_stats_get(&s), 0);
	cr_expect_eq(s.compressed_pages + s.same_filled_pages + s.resident_pages + s.inactive_pages, 0,
		     "unmap must free every page the region held");
	fl_pager_shutdown();
	for (int i = 0; i < c->threads; i++)
		free(w[i].order);
}

/* ---- kernel-mode accesses ------------------------------------------- */

static unsigned char *evicted_region(size_t npages)
{
	unsigned char *m = fl_pager_map(npages * TPS);
	cr_assert_not_null(m);
	for (size_t i = 0; i < npages; i++)
		t_fill(m + i * TPS, DATA_TEXT, i, 0);
	cr_assert_geq(fl_pager_reclaim(0), (long)npages);
	struct fl_stats s;
	fl_stats_get(&s);
	cr_assert_eq(s.resident_pages + s.inactive_pages, 0, "everything evicted before the syscall");
	return m;
}

Test(integrity, kernel_write_from_evicted_page)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 64 * TPS), 0);
	unsigned char *m = evicted_region(16);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	/* The kernel reads the evicted page to fill the pipe. */
	cr_assert_eq(write(p[1], m + 3 * TPS, TPS), (ssize_t)TPS, "write(2) from an evicted page: %s",
		     strerror(errno));
	unsigned char got[TPS], exp[TPS];
	cr_assert_eq(read(p[0], got, TPS), (ssize_t)TPS);
	t_fill(exp, DATA_TEXT, 3, 0);
	cr_assert_eq(memcmp(got, exp, TPS), 0);
	struct fl_stats s;
	fl_stats_get(&s);
	cr_expect_geq(s.faults[FL_FAULT_DECOMPRESS], 1);
	fl_pager_shutdown();
}

Test(integrity, kernel_read_into_evicted_page)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 64 * TPS), 0);
	unsigned char *m = evicted_region(16);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	unsigned char msg[100];
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (unsigned char)(0xA0 + i);
	cr_assert_eq(write(p[1], msg, sizeof msg), (ssize_t)sizeof msg);
	/* The kernel writes into the middle of an evicted page: the rest of
	 * the page must keep what was there. */
	cr_assert_eq(read(p[0], m + 5 * TPS + 1000, sizeof msg), (ssize_t)sizeof msg,
		     "read(2) into an evicted page: %s", strerror(errno));
	unsigned char exp[TPS];
	t_fill(exp, DATA_TEXT, 5, 0);
	memcpy(exp + 1000, msg, sizeof msg);
	cr_assert_eq(memcmp(m + 5 * TPS, exp, TPS), 0);
	/* And an untouched page. */
	unsigned char *u = fl_pager_map(4 * TPS);
	cr_assert_eq(write(p[1], msg, sizeof msg), (ssize_t)sizeof msg);
	cr_assert_eq(read(p[0], u + TPS, sizeof msg), (ssize_t)sizeof msg);
	cr_assert_eq(memcmp(u + TPS, msg, sizeof msg), 0);
	cr_assert_eq(u[TPS + sizeof msg], 0);
	fl_pager_shutdown();
}

/* The signal and uffd-sigbus engines state their limit; this checks the
 * statement is true. */
static void kernel_access_is_efault(enum fl_engine_choice eng)
{
	cr_assert_eq(t_start(eng, 64 * TPS), 0);
	cr_assert(strstr(fl_pager_engine_reason(), "EFAULT") != NULL);
	unsigned char *m = evicted_region(16);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	errno = 0;
	cr_assert_eq(write(p[1], m + 3 * TPS, TPS), -1);
	cr_assert_eq(errno, EFAULT);
	/* A user-mode touch still brings the page back intact. */
	unsigned char exp[TPS];
	t_fill(exp, DATA_TEXT, 3, 0);
	cr_assert_eq(memcmp(m + 3 * TPS, exp, TPS), 0);
	/* And the kernel can read it now. */
	cr_assert_eq(write(p[1], m + 3 * TPS, TPS), (ssize_t)TPS);
	close(p[0]);
	close(p[1]);
	fl_pager_shutdown();
}

Test(integrity, signal_engine_kernel_access_is_efault)
{
	kernel_access_is_efault(FL_ENGINE_CHOICE_SIGNAL);
}

Test(integrity, uffd_sigbus_kernel_access_is_efault)
{
	kernel_access_is_efault(FL_ENGINE_CHOICE_UFFD_SIGBUS);
}
