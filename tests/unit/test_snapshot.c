/*
 * Snapshots (preload/snapshot.c), on the pager linked in: every page of a
 * snapshot reads back as it was when taken, whatever happened to it since
 * (written by threads, evicted, discarded, never touched), restore puts the
 * range back byte for byte, and drop leaves the store as it was.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "faultline/faultline.h"
#include "fltest.h"
#include "pager.h"

#define NPAGES 512u

static unsigned char *m;

/* Contents at take: generation 1 everywhere but the untouched tail. */
#define UNTOUCHED_FROM 480u

static size_t check_gen(size_t first, size_t n, unsigned gen)
{
	return t_check_range(m, first, n, DATA_TEXT, gen);
}

/* What the snapshot says of every page: 0 when each is as it was at take. */
static size_t check_snapshot(struct fl_snapshot *s)
{
	unsigned char got[TPS], exp[TPS];
	size_t bad = 0;
	for (size_t i = 0; i < NPAGES; i++) {
		cr_assert_eq(fl_snapshot_read(s, m + i * TPS, got), 0, "read page %zu: %s", i, strerror(errno));
		if (i >= UNTOUCHED_FROM)
			memset(exp, 0, TPS);
		else
			t_fill(exp, DATA_TEXT, i, 1);
		bad += memcmp(got, exp, TPS) != 0;
	}
	return bad;
}

struct writer {
	size_t first, n;
};

/* Generation 2 over its share of the pages, every page. */
static void *write_share(void *arg)
{
	const struct writer *w = arg;
	for (size_t i = w->first; i < w->first + w->n; i++)
		t_fill(m + i * TPS, DATA_TEXT, i, 2);
	return NULL;
}

static void write_all_with_threads(void)
{
	pthread_t t[4];
	struct writer w[4];
	for (int k = 0; k < 4; k++) {
		w[k] = (struct writer){.first = k * (NPAGES / 4), .n = NPAGES / 4};
		cr_assert_eq(pthread_create(&t[k], NULL, write_share, &w[k]), 0);
	}
	for (int k = 0; k < 4; k++)
		pthread_join(t[k], NULL);
}

/*
 * Pages resident, inactive or compressed and untouched at take; four
 * threads then rewrite every page while the budget (budget_pages) keeps
 * evicting; the snapshot still reads the old contents, restore brings them
 * back, drop frees what the snapshot held.
 */
static void take_write_read_restore(uint64_t budget_pages)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, budget_pages * TPS), 0);
	m = fl_pager_map(NPAGES * TPS);
	cr_assert_not_null(m);
	for (size_t i = 0; i < UNTOUCHED_FROM; i++)
		t_fill(m + i * TPS, DATA_TEXT, i, 1);
	/* A third of the pages out of memory at take. */
	fl_pager_reclaim(UNTOUCHED_FROM * 2 / 3 < budget_pages ? UNTOUCHED_FROM * 2 / 3 : budget_pages / 2);
	struct fl_stats before;
	cr_assert_eq(fl_stats_get(&before), 0);

	struct fl_snapshot *s = fl_snapshot_take(m, NPAGES * TPS);
	cr_assert_not_null(s, "take: %s", strerror(errno));
	cr_expect_eq(check_snapshot(s), 0, "just taken");
	write_all_with_threads();
	cr_expect_eq(check_gen(0, NPAGES, 2), 0, "the threads' writes");
	cr_expect_eq(check_snapshot(s), 0, "after every page was rewritten");
	/* Evict what can be, then read the snapshot again. */
	fl_pager_reclaim(0);
	cr_expect_eq(check_snapshot(s), 0, "after the range was pushed out");

	cr_expect_eq(fl_snapshot_restore(s), 0, "restore: %s", strerror(errno));
	cr_expect_eq(check_gen(0, UNTOUCHED_FROM, 1), 0, "restored contents");
	unsigned char zero[TPS] = {0};
	for (size_t i = UNTOUCHED_FROM; i < NPAGES; i++)
		cr_expect_eq(memcmp(m + i * TPS, zero, TPS), 0, "page %zu was untouched at take", i);
	fl_snapshot_drop(s);
	/* Writable without the snapshot, and still right. */
	write_all_with_threads();
	cr_expect_eq(check_gen(0, NPAGES, 2), 0);
	fl_pager_shutdown();
}

Test(snapshot, take_write_read_restore_no_budget) { take_write_read_restore(0); }
Test(snapshot, take_write_read_restore_under_a_budget) { take_write_read_restore(96); }

/* Pages discarded or unmapped after take are still in the snapshot. */
Test(snapshot, discarded_and_unmapped_pages_keep_their_contents)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 0), 0);
	m = fl_pager_map(NPAGES * TPS);
	cr_assert_not_null(m);
	for (size_t i = 0; i < UNTOUCHED_FROM; i++)
		t_fill(m + i * TPS, DATA_TEXT, i, 1);
	struct fl_snapshot *s = fl_snapshot_take(m, NPAGES * TPS);
	cr_assert_not_null(s, "take: %s", strerror(errno));
	cr_assert_eq(fl_pager_discard(m, 64 * TPS), 0);
	cr_expect_eq(m[10 * TPS + 100], 0, "discarded: reads zero");
	cr_assert_eq(fl_pager_unmap(m + 448 * TPS, 64 * TPS), 0);
	unsigned char got[TPS], exp[TPS];
	for (size_t i = 0; i < 448; i++) {
		cr_assert_eq(fl_snapshot_read(s, m + i * TPS, got), 0);
		t_fill(exp, DATA_TEXT, i, 1);
		cr_expect_eq(memcmp(got, exp, TPS), 0, "page %zu", i);
	}
	for (size_t i = 448; i < UNTOUCHED_FROM; i++) {
		cr_assert_eq(fl_snapshot_read(s, m + i * TPS, got), 0, "unmapped page %zu", i);
		t_fill(exp, DATA_TEXT, i, 1);
		cr_expect_eq(memcmp(got, exp, TPS), 0, "unmapped page %zu", i);
	}
	fl_snapshot_drop(s);
	fl_pager_shutdown();
}

Test(snapshot, bad_calls_say_why)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 0), 0);
	m = fl_pager_map(NPAGES * TPS);
	cr_assert_not_null(m);
	m[0] = 1;
	errno = 0;
	cr_expect_null(fl_snapshot_take(m + 1, TPS));
	cr_expect_eq(errno, EINVAL);
	cr_expect_null(fl_snapshot_take(m, 0));
	cr_expect_eq(errno, EINVAL);
	cr_expect_null(fl_snapshot_take(m, (NPAGES + 1) * TPS), "past the mapping");
	cr_expect_eq(errno, ENOENT);
	static unsigned char plain[2 * TPS] __attribute__((aligned(4096)));
	cr_expect_null(fl_snapshot_take(plain, TPS), "not managed");
	cr_expect_eq(errno, ENOENT);
	struct fl_snapshot *s = fl_snapshot_take(m, 16 * TPS);
	cr_assert_not_null(s);
	cr_expect_null(fl_snapshot_take(m + 8 * TPS, 16 * TPS), "overlap");
	cr_expect_eq(errno, EBUSY);
	unsigned char buf[TPS];
	cr_expect_eq(fl_snapshot_read(s, m + 16 * TPS, buf), -1, "outside the snapshot");
	cr_expect_eq(errno, EINVAL);
	fl_snapshot_drop(s);
	/* Dropped: the range can be taken again. */
	s = fl_snapshot_take(m + 8 * TPS, 16 * TPS);
	cr_expect_not_null(s);
	fl_snapshot_drop(s);
	fl_pager_shutdown();
}

Test(snapshot, not_under_the_signal_engine)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_SIGNAL, 0), 0);
	m = fl_pager_map(16 * TPS);
	cr_assert_not_null(m);
	errno = 0;
	cr_expect_null(fl_snapshot_take(m, 16 * TPS));
	cr_expect_eq(errno, ENOTSUP);
	fl_pager_shutdown();
}
