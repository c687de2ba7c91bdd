/*
 * Unit tests of the pager core: fault-around and readahead accounting,
 * same-filled pages, discard and unmap, pressure levels, engine selection,
 * and failure injection through the system-call table.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "events.h"
#include "faultline/state.h"
#include "fltest.h"
#include "pager_int.h"
#include "sys.h"
#include "uffd_compat.h"

static void fill_range(unsigned char *m, size_t first, size_t n, enum data_kind k, unsigned gen)
{
	for (size_t i = first; i < first + n; i++)
		t_fill(m + i * TPS, k, i, gen);
}

static struct fl_stats stats(void)
{
	struct fl_stats s;
	cr_assert_eq(fl_stats_get(&s), 0);
	return s;
}

Test(pager, sequential_first_touch_is_faulted_around)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 0), 0);
	size_t n = 4096;
	unsigned char *m = fl_pager_map(n * TPS);
	for (size_t i = 0; i < n; i++)
		m[i * TPS] = 1;
	struct fl_stats s = stats();
	/* Every page is accounted for exactly once: faulted or prefilled. */
	cr_expect_eq(s.faults[FL_FAULT_FIRST_TOUCH] + s.pages_prefilled, n);
	cr_expect_eq(s.resident_pages, n);
	/* The window grows to 256 pages: a handful of round trips. */
	cr_expect_lt(s.faults[FL_FAULT_FIRST_TOUCH], n / 64,
		     "%llu first-touch faults for %zu sequential pages",
		     (unsigned long long)s.faults[FL_FAULT_FIRST_TOUCH], n);
	cr_expect_eq(s.pages_evicted, 0, "no budget: nothing is evicted");
	cr_expect_eq(s.pressure, FL_PRESSURE_NORMAL);
	fl_pager_shutdown();
}

Test(pager, random_first_touch_fills_blocks)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 0), 0);
	size_t n = 4096;
	unsigned char *m = fl_pager_map(n * TPS);
	uint64_t x = 12345;
	for (size_t k = 0; k < n; k++) {
		x = t_mix(x);
		m[(x % n) * TPS + 7] = 1;
	}
	struct fl_stats s = stats();
	cr_expect_leq(s.faults[FL_FAULT_FIRST_TOUCH], n / 64 + 1,
		      "random first touch: one round trip per 64-page block at most");
	cr_expect_eq(s.faults[FL_FAULT_FIRST_TOUCH] + s.pages_prefilled, s.resident_pages);
	fl_pager_shutdown();
}

Test(pager, descending_first_touch_is_a_stream_too)
{
	/* GNU sort fills its line table from the top of its buffer down:
	 * blocks of 64 alone would take n / 64 round trips. */
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 0), 0);
	size_t n = 4096;
	unsigned char *m = fl_pager_map(n * TPS);
	for (size_t i = n; i-- > 0;)
		t_fill(m + i * TPS, DATA_TEXT, i, 1);
	struct fl_stats s = stats();
	cr_expect_lt(s.faults[FL_FAULT_FIRST_TOUCH], n / 64 / 2,
		     "%llu first-touch faults for %zu pages written top down",
		     (unsigned long long)s.faults[FL_FAULT_FIRST_TOUCH], n);
	cr_expect_eq(s.faults[FL_FAULT_FIRST_TOUCH] + s.pages_prefilled, n);
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 1), 0);
	fl_pager_shutdown();
}

/* Resident pages once the fill-ahead queue has settled (it runs on the
 * handler thread when no fault is waiting). */
static struct fl_stats settled(void)
{
	struct fl_stats s = stats(), t;
	for (int i = 0; i < 200; i++) {
		usleep(5000);
		t = stats();
		if (t.resident_pages == s.resident_pages && i > 4)
			break;
		s = t;
	}
	return t;
}

Test(pager, a_stream_gets_its_next_window_filled_ahead_and_no_more)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 0), 0);
	size_t n = 8192, stop = 3000;
	unsigned char *m = fl_pager_map(n * TPS);
	for (size_t i = 0; i < stop; i++)
		t_fill(m + i * TPS, DATA_RANDOM, i, 2);
	struct fl_stats s = settled();
	/* The window in use (256) plus one window ahead, never the region.
	 * How far past `stop` depends on where the last fault fell (a window
	 * the program caught up with is not extended without a fault). */
	cr_expect_geq(s.resident_pages, stop, "resident %llu after %zu pages written",
		      (unsigned long long)s.resident_pages, stop);
	cr_expect_leq(s.resident_pages, stop + 2 * 256, "resident %llu after %zu pages written",
		      (unsigned long long)s.resident_pages, stop);
	cr_expect_eq(s.faults[FL_FAULT_FIRST_TOUCH] + s.pages_prefilled, s.resident_pages);
	cr_expect_eq(t_check_range(m, 0, stop, DATA_RANDOM, 2), 0);
	for (size_t i = stop; i < n; i++)
		cr_assert_eq(m[i * TPS + 100], 0, "page %zu filled ahead reads zero", i);
	fl_pager_shutdown();
}

Test(pager, filling_ahead_uses_free_room_only)
{
	size_t budget = 1024;
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, budget * TPS), 0);
	size_t n = 4096, stop = 700;
	unsigned char *m = fl_pager_map(n * TPS);
	for (size_t i = 0; i < stop; i++)
		t_fill(m + i * TPS, DATA_RANDOM, i, 3);
	struct fl_stats s = settled();
	cr_expect_eq(s.pages_evicted, 0, "%llu pages evicted to fill ahead",
		     (unsigned long long)s.pages_evicted);
	cr_expect_leq(s.resident_pages, budget);
	/* Past the budget the stream goes on, evicting, and every byte holds. */
	for (size_t i = stop; i < n; i++)
		t_fill(m + i * TPS, DATA_RANDOM, i, 3);
	cr_expect_eq(t_check_range(m, 0, n, DATA_RANDOM, 3), 0);
	s = stats();
	cr_expect_gt(s.pages_evicted, 0);
	fl_pager_shutdown();
}

static void touch(unsigned char *m, size_t first, size_t n)
{
	for (size_t i = first; i < first + n; i++)
		m[i * TPS] = 1;
}

static const struct fl_state_region *find_region(const struct fl_state_region *rs, size_t n,
						 const void *start)
{
	for (size_t i = 0; i < n; i++)
		if (rs[i].start == (uintptr_t)start)
			return &rs[i];
	return NULL;
}

Test(pager, published_page_states_count_every_page_of_a_big_sparse_region)
{
	/* The publisher skips what was never touched and scans the rest a
	 * chunk per lock hold: its counts must still be exact. */
	struct fl_pager_config c = t_config(FL_ENGINE_CHOICE_UFFD, 0);
	c.fault_around_max = 1; /* exact page counts below */
	cr_assert_eq(t_start_config(&c), 0);
	size_t n = 1u << 20; /* 4 GiB of address space */
	unsigned char *m = fl_pager_map(n * TPS);
	cr_assert_not_null(m);
	touch(m, 1000, 20);
	touch(m, n / 2, 30000); /* several chunks */
	touch(m, n - 5, 5);
	static struct fl_state_region rs[16];
	size_t total = 0, got = fl__pager_region_states(rs, 16, &total);
	cr_assert_geq(got, 1);
	const struct fl_state_region *r = find_region(rs, got, m);
	cr_assert_not_null(r);
	cr_expect_eq(r->len, n * TPS);
	cr_expect_eq(r->resident, 20 + 30000 + 5);
	cr_expect_eq(r->untouched, n - (20 + 30000 + 5));
	/* Strip parts of n / 64 = 16384 pages: the 30000 pages from n / 2
	 * make parts 32 (all) and 33 (13616) mostly resident; the first and
	 * last parts hold a few resident pages but are mostly untouched. */
	for (unsigned k = 0; k < FL_STATE_STRIP; k++)
		cr_expect_eq(r->strip[k], k == 32 || k == 33 ? FL_STATE_RESIDENT : FL_STATE_UNTOUCHED,
			     "part %u", k);

	/* A hole punched in the middle: two regions, counts split. */
	cr_assert_eq(fl_pager_unmap(m + (n / 2 + 10000) * TPS, 1000 * TPS), 0);
	got = fl__pager_region_states(rs, 16, &total);
	const struct fl_state_region *lo = find_region(rs, got, m);
	const struct fl_state_region *hi = find_region(rs, got, m + (n / 2 + 11000) * TPS);
	cr_assert_not_null(lo);
	cr_assert_not_null(hi);
	cr_expect_eq(lo->resident, 20 + 10000);
	cr_expect_eq(hi->resident, 19000 + 5);
	cr_expect_eq(lo->resident + lo->untouched, n / 2 + 10000);
	cr_expect_eq(hi->resident + hi->untouched, n - (n / 2 + 11000));

	/* Discarded pages are untouched again; a dense small region is
	 * resident in every part of its strip. */
	cr_assert_eq(fl_pager_discard(m + 1000 * TPS, 20 * TPS), 0);
	unsigned char *d = fl_pager_map(640 * TPS);
	touch(d, 0, 640);
	got = fl__pager_region_states(rs, 16, &total);
	lo = find_region(rs, got, m);
	const struct fl_state_region *dr = find_region(rs, got, d);
	cr_assert_not_null(lo);
	cr_assert_not_null(dr);
	cr_expect_eq(lo->resident, 10000);
	cr_expect_eq(dr->resident, 640);
	for (unsigned k = 0; k < FL_STATE_STRIP; k++)
		cr_expect_eq(dr->strip[k], FL_STATE_RESIDENT, "part %u", k);
	fl_pager_shutdown();
}

Test(pager, fault_around_disabled_faults_every_page)
{
	struct fl_pager_config c = t_config(FL_ENGINE_CHOICE_UFFD, 0);
	c.fault_around_max = 1;
	cr_assert_eq(t_start_config(&c), 0);
	size_t n = 128;
	unsigned char *m = fl_pager_map(n * TPS);
	for (size_t i = 0; i < n; i++)
		m[i * TPS] = 1;
	struct fl_stats s = stats();
	cr_expect_eq(s.faults[FL_FAULT_FIRST_TOUCH], n);
	cr_expect_eq(s.pages_prefilled, 0);
	fl_pager_shutdown();
}

Test(pager, same_filled_pages_take_no_store_space)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 64 * TPS), 0);
	size_t n = 256;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_ZERO, 1); /* one repeated word per page */
	cr_assert_geq(fl_pager_reclaim(0), 1);
	struct fl_stats s = stats();
	cr_expect_eq(s.same_filled_pages, n);
	cr_expect_eq(s.compressed_pages, 0);
	cr_expect_eq(s.compressed_bytes, 0);
	cr_expect_eq(t_check_range(m, 0, n, DATA_ZERO, 1), 0);
	s = stats();
	cr_expect_geq(s.faults[FL_FAULT_SAME_FILLED], 1);
	fl_pager_shutdown();
}

Test(pager, compressed_pages_and_efficiency)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 64 * TPS), 0);
	size_t n = 512;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_TEXT, 0);
	fl_pager_reclaim(0);
	struct fl_stats s = stats();
	cr_expect_eq(s.compressed_pages, n, "compressed %llu same %llu", (unsigned long long)s.compressed_pages, (unsigned long long)s.same_filled_pages);
	cr_expect_gt(s.compressed_bytes, 0);
	cr_expect_lt(s.compressed_bytes, n * TPS / 2, "text-like pages compress at least 2x");
	cr_expect_gt(fl_stats_efficiency(&s), 1.5);
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	s = stats();
	/* Sequential refaults read ahead. */
	cr_expect_gt(s.pages_readahead, 0);
	cr_expect_lt(s.faults[FL_FAULT_DECOMPRESS], n);
	fl_pager_shutdown();
}

/* Refaults at scattered pages: each brings back the stored pages of its
 * aligned cluster (FAULTLINE_CLUSTER), and only those. */
static void cluster_case(unsigned cluster, uint64_t want_ahead)
{
	struct fl_pager_config c = t_config(FL_ENGINE_CHOICE_UFFD, 1024 * TPS);
	c.cluster_pages = cluster;
	cr_assert_eq(t_start_config(&c), 0);
	size_t n = 256;
	unsigned char *m = fl_pager_map(n * TPS);
	cr_assert_not_null(m);
	fill_range(m, 0, n, DATA_TEXT, 0);
	cr_expect_eq(fl_pager_reclaim(0), (long)n);
	struct fl_stats s0 = stats();
	static const size_t at[] = {10, 101, 50, 200};
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
		cr_expect_eq(t_check_range(m, at[i], 1, DATA_TEXT, 0), 0, "page %zu", at[i]);
	struct fl_stats s = stats();
	cr_expect_eq(s.faults[FL_FAULT_DECOMPRESS] - s0.faults[FL_FAULT_DECOMPRESS], 4);
	cr_expect_eq(s.pages_readahead - s0.pages_readahead, want_ahead, "%llu pages came along",
		     (unsigned long long)(s.pages_readahead - s0.pages_readahead));
	/* The cluster of page 10 is pages 8-11: resident now, no fault. */
	cr_expect_eq(t_check_range(m, 8, 4, DATA_TEXT, 0), 0);
	s0 = s;
	s = stats();
	cr_expect_eq(s.faults[FL_FAULT_DECOMPRESS], s0.faults[FL_FAULT_DECOMPRESS] + (cluster >= 4 ? 0 : 3));
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	fl_pager_shutdown();
}

Test(pager, a_scattered_refault_brings_back_its_cluster) { cluster_case(4, 4 * 3); }
Test(pager, cluster_of_one_brings_back_one_page) { cluster_case(1, 0); }

Test(pager, zstd_round_trip)
{
	struct fl_pager_config c = t_config(FL_ENGINE_CHOICE_UFFD, 64 * TPS);
	c.compressor = FL_COMP_ZSTD;
	c.compressor_level = 3;
	cr_assert_eq(t_start_config(&c), 0);
	size_t n = 300;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_TEXT, 0);
	fill_range(m, 100, 50, DATA_RANDOM, 0);
	fl_pager_reclaim(0);
	cr_expect_eq(t_check_range(m, 0, 100, DATA_TEXT, 0), 0);
	cr_expect_eq(t_check_range(m, 100, 50, DATA_RANDOM, 0), 0);
	cr_expect_eq(t_check_range(m, 150, 150, DATA_TEXT, 0), 0);
	struct fl_stats s = stats();
	cr_expect_eq(s.compressor, FL_COMP_ZSTD);
	fl_pager_shutdown();
}

Test(pager, inactive_pages_come_back_with_a_soft_fault)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 1024 * TPS), 0);
	size_t n = 1200; /* more than the budget: the evictor deactivates */
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_TEXT, 0);
	for (int pass = 0; pass < 3; pass++)
		cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	struct fl_stats s = stats();
	cr_expect_gt(s.pages_deactivated, 0);
	cr_expect_gt(s.faults[FL_FAULT_SOFT] + s.faults[FL_FAULT_DECOMPRESS], 0);
	cr_expect_leq(s.resident_peak_pages, s.budget_pages);
	fl_pager_shutdown();
}

/* Is the running kernel at least major.minor? */
static int kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;
	if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma > major || (ma == major && mi >= minor);
}

/*
 * Pages leave memory a run at a time: neighbours that are all cold go out
 * in one UFFDIO_MOVE, and the stash slots of compressed pages are emptied
 * many at a time, so that each costs a fraction of a TLB flush (a flush
 * that must reach the other vCPU costs ~17 us here).
 */
Test(pager, reclaim_takes_pages_out_in_runs)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 4096 * TPS), 0);
	size_t n = 1024;
	unsigned char *m = fl_pager_map(n * TPS);
	cr_assert_not_null(m);
	fill_range(m, 0, n, DATA_TEXT, 0);
	const struct fl_sys_entry *t = fl__sys_table();
	unsigned long io0 = t[FL_SYS_IOCTL].calls, mad0 = t[FL_SYS_MADVISE].calls;
	unsigned long pm0 = t[FL_SYS_PMADVISE].calls;
	struct fl_stats s0 = stats();
	cr_expect_geq(fl_pager_reclaim(0), (long)n - 8);
	struct fl_stats s = stats();
	uint64_t taken = s.pages_deactivated - s0.pages_deactivated;
	uint64_t stored = s.pages_evicted - s0.pages_evicted;
	unsigned long ios = t[FL_SYS_IOCTL].calls - io0;
	unsigned long mads = t[FL_SYS_MADVISE].calls - mad0;
	unsigned long pms = t[FL_SYS_PMADVISE].calls - pm0;
	cr_expect_geq(taken, n - 8, "%llu pages taken out", (unsigned long long)taken);
	cr_expect_leq(ios, taken / 8, "%lu ioctls to take %llu pages out", ios,
		      (unsigned long long)taken);
	if (kernel_at_least(6, 13)) {
		cr_expect_leq(mads + pms, stored / 32 + 2,
			      "%lu madvise and %lu process_madvise calls to empty %llu slots", mads,
			      pms, (unsigned long long)stored);
	}
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	cr_expect_eq(stats().errors, 0);
	fl_pager_shutdown();
}

/* A kernel without process_madvise for its own process: the stash slots
 * are emptied one madvise at a time, and nothing is lost. */
Test(inject, process_madvise_refused_empties_slots_one_by_one)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 64 * TPS), 0);
	fl__sys_fail(FL_SYS_PMADVISE, 1, 1, EINVAL, 0);
	size_t n = 512;
	unsigned char *m = fl_pager_map(n * TPS);
	cr_assert_not_null(m);
	const struct fl_sys_entry *t = fl__sys_table();
	unsigned long pm0 = t[FL_SYS_PMADVISE].calls;
	for (unsigned pass = 0; pass < 3; pass++) {
		fill_range(m, 0, n, DATA_RANDOM, pass);
		cr_expect_eq(t_check_range(m, 0, n, DATA_RANDOM, pass), 0);
	}
	struct fl_stats s = stats();
	cr_expect_gt(s.pages_evicted, n, "pages left memory and came back, again and again");
	cr_expect_leq(t[FL_SYS_PMADVISE].calls - pm0, 1, "refused once, not asked again");
	cr_expect_eq(s.errors, 0);
	cr_expect_leq(s.resident_peak_pages, 64);
	fl__sys_fail_reset();
	fl_pager_shutdown();
}

static void count_region(const struct fl_region_desc *d, void *arg)
{
	(void)d;
	++*(int *)arg;
}

/*
 * A (re)connecting emitter announces the live regions from a snapshot and
 * drops their queued changes, but a region created and unmapped before the
 * connection (a forked child's, before its emitter first connects) is in
 * no snapshot while its faults may still be queued: its queued life must
 * be kept, or the daemon is sent faults naming a region it never heard of
 * (and disconnects the process).
 */
Test(pager, region_snapshot_keeps_the_queued_lives_of_ended_regions)
{
	cr_assert_eq(fl__events_init(0), 0);
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 0), 0);
	unsigned char *gone = fl_pager_map(8 * TPS);
	unsigned char *live = fl_pager_map(8 * TPS);
	cr_assert(gone && live);
	gone[0] = 1;
	cr_assert_eq(fl_pager_unmap(gone, 8 * TPS), 0);
	cr_assert_eq(fl_pager_unmap(live + 4 * TPS, 4 * TPS), 0); /* an update */
	int announced = 0;
	fl__pager_region_snapshot(count_region, &announced);
	cr_expect_eq(announced, 1, "only the live region is in the snapshot");
	struct fl_wire_region q[16];
	size_t n = fl__events_take_regions(q, 16);
	cr_assert_eq(n, 2, "the ended region's creation and end stay queued, nothing else (%zu)", n);
	cr_expect_eq(q[0].op, FL_WIRE_REGION_CREATE);
	cr_expect_eq(q[0].start, (uintptr_t)gone);
	cr_expect_eq(q[1].op, FL_WIRE_REGION_DESTROY);
	cr_expect_eq(q[1].id, q[0].id);
	fl_pager_shutdown();
}

static void discard_case(enum fl_engine_choice eng)
{
	cr_assert_eq(t_start(eng, 64 * TPS), 0);
	size_t n = 128;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_TEXT, 0);
	/* Half evicted, half resident; discard a range across both. */
	fl_pager_reclaim(32);
	cr_assert_eq(fl_pager_discard(m + 16 * TPS, 96 * TPS), 0);
	for (size_t i = 16; i < 112; i++)
		for (size_t b = 0; b < TPS; b += 512)
			cr_assert_eq(m[i * TPS + b], 0, "discarded page %zu reads non-zero", i);
	cr_expect_eq(t_check_range(m, 0, 16, DATA_TEXT, 0), 0);
	cr_expect_eq(t_check_range(m, 112, 16, DATA_TEXT, 0), 0);
	/* Written again after the discard, it keeps the new contents. */
	fill_range(m, 16, 96, DATA_RANDOM, 2);
	fl_pager_reclaim(0);
	cr_expect_eq(t_check_range(m, 16, 96, DATA_RANDOM, 2), 0);
	cr_assert_eq(fl_pager_unmap(m, n * TPS), 0);
	struct fl_stats s = stats();
	cr_expect_eq(s.compressed_pages + s.same_filled_pages + s.resident_pages + s.inactive_pages, 0);
	cr_expect_eq(s.managed_pages, 0);
	cr_expect_eq(s.compressed_bytes, 0, "the store dropped the region's pages");
	fl_pager_shutdown();
}

Test(pager, discard_drops_pages_uffd) { discard_case(FL_ENGINE_CHOICE_UFFD); }
Test(pager, discard_drops_pages_signal) { discard_case(FL_ENGINE_CHOICE_SIGNAL); }

Test(pager, pressure_levels)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 128 * TPS), 0);
	struct fl_stats s = stats();
	cr_expect_eq(s.pressure, FL_PRESSURE_NORMAL);
	size_t n = 1024;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_TEXT, 0);
	s = stats();
	cr_expect_geq(s.pressure_peak, FL_PRESSURE_WARN, "8x over budget must be visible");
	cr_expect_leq(s.resident_peak_pages, 128);
	fl_pager_shutdown();
}

Test(pager, shutdown_leaves_memory_readable)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 64 * TPS), 0);
	size_t n = 256;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_TEXT, 0);
	fl_pager_reclaim(0);
	fl_pager_shutdown();
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	m[5] = 9; /* plain memory now */
	cr_expect_eq(m[5], 9);
	/* Untouched pages of a detached region read as zero. */
	unsigned char *u = m + 200 * TPS;
	(void)u;
}

Test(pager, shutdown_leaves_memory_readable_signal)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_SIGNAL, 64 * TPS), 0);
	size_t n = 256;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, 200, DATA_TEXT, 0);
	fl_pager_reclaim(0);
	fl_pager_shutdown();
	cr_expect_eq(t_check_range(m, 0, 200, DATA_TEXT, 0), 0);
	cr_expect_eq(m[230 * TPS + 3], 0);
}

Test(pager, signal_engine_chains_foreign_segv, .signal = SIGSEGV)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_SIGNAL, 0), 0);
	unsigned char *m = fl_pager_map(16 * TPS);
	m[0] = 1;
	/* A fault that is not ours must still kill the program. */
	volatile unsigned char *bad = mmap(NULL, TPS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bad[0] = 1;
}

static volatile sig_atomic_t own_handler_ran;
static volatile unsigned char *volatile own_page;

static void own_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if ((volatile unsigned char *)si->si_addr == own_page) {
		own_handler_ran = 1;
		mprotect((void *)own_page, TPS, PROT_READ | PROT_WRITE);
	}
}

Test(pager, signal_engine_keeps_program_handler)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = own_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_SIGNAL, 0), 0);
	unsigned char *m = fl_pager_map(16 * TPS);
	m[0] = 1;
	own_page = mmap(NULL, TPS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	own_page[0] = 42;
	cr_expect_eq(own_handler_ran, 1, "handler ran %d", (int)own_handler_ran);
	cr_expect_eq(own_page[0], 42);
	cr_expect_eq(m[0], 1);
	fl_pager_shutdown();
}

/* ---- uffd-sigbus -------------------------------------------------------- */

static int task_count(void)
{
	DIR *d = opendir("/proc/self/task");
	cr_assert_not_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void *sigbus_toucher(void *arg)
{
	unsigned char *m = arg;
	fill_range(m, 0, 64, DATA_TEXT, 7);
	return (void *)(uintptr_t)t_check_range(m, 0, 64, DATA_TEXT, 7);
}

/* No handler thread exists: every fault, from any thread, is resolved by
 * the thread that took it, and evicted pages read back intact. */
Test(pager, uffd_sigbus_resolves_faults_without_a_handler_thread)
{
	int before = task_count();
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD_SIGBUS, 0), 0);
	cr_assert_eq(fl_pager_engine(), FL_ENGINE_UFFD_SIGBUS);
	cr_expect_eq(task_count(), before, "the engine started a thread");
	unsigned char *m = fl_pager_map(64 * TPS);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, sigbus_toucher, m), 0);
	void *bad;
	pthread_join(th, &bad);
	cr_expect_eq((uintptr_t)bad, 0, "%zu pages read back wrong", (size_t)(uintptr_t)bad);
	struct fl_stats s;
	fl_stats_get(&s);
	cr_expect_gt(s.faults[FL_FAULT_FIRST_TOUCH], 0);
	/* Evicted and brought back by this thread. */
	cr_assert_geq(fl_pager_reclaim(0), 64);
	cr_expect_eq(t_check_range(m, 0, 64, DATA_TEXT, 7), 0);
	fl_stats_get(&s);
	cr_expect_gt(s.faults[FL_FAULT_DECOMPRESS] + s.faults[FL_FAULT_SOFT], 0);
	fl_pager_shutdown();
}

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_seen;
static volatile uintptr_t bus_addr;

static void own_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	bus_seen++;
	bus_addr = (uintptr_t)si->si_addr;
	siglongjmp(bus_jmp, 1);
}

/* A SIGBUS that is not a fault on managed memory (a page of a file
 * mapping past the file's end) goes to the program's own handler, and
 * shutdown gives the program its action back. */
Test(pager, uffd_sigbus_chains_a_sigbus_that_is_not_ours)
{
	struct sigaction sa, now;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = own_sigbus;
	sa.sa_flags = SA_SIGINFO;
	cr_assert_eq(sigaction(SIGBUS, &sa, NULL), 0);
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD_SIGBUS, 64 * TPS), 0);
	unsigned char *m = fl_pager_map(16 * TPS);
	m[0] = 1;
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	cr_assert_eq(ftruncate(fileno(f), 100), 0);
	volatile unsigned char *fm = mmap(NULL, 2 * TPS, PROT_READ, MAP_PRIVATE, fileno(f), 0);
	cr_assert_neq((void *)fm, MAP_FAILED);
	if (sigsetjmp(bus_jmp, 1) == 0)
		(void)fm[TPS + 5]; /* past the end of the file */
	cr_expect_eq(bus_seen, 1);
	cr_expect_eq(bus_addr, (uintptr_t)fm + TPS + 5);
	cr_expect_eq(m[0], 1);
	fl_pager_shutdown();
	cr_assert_eq(sigaction(SIGBUS, NULL, &now), 0);
	cr_expect(now.sa_sigaction == own_sigbus, "the program's action was not given back");
	munmap((void *)fm, 2 * TPS);
	fclose(f);
}

/* ---- engine selection ------------------------------------------------ */

Test(select, no_userfaultfd_falls_back_to_signal)
{
	fl__sys_fail(FL_SYS_UFFD, 1, 1, EPERM, 0);
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_AUTO, 64 * TPS), 0);
	cr_expect_eq(fl_pager_engine(), FL_ENGINE_SIGNAL);
	cr_expect(strstr(fl_pager_engine_reason(), "userfaultfd unavailable") != NULL,
		  "reason: %s", fl_pager_engine_reason());
	unsigned char *m = fl_pager_map(128 * TPS);
	fill_range(m, 0, 128, DATA_TEXT, 0);
	fl_pager_reclaim(0);
	cr_expect_eq(t_check_range(m, 0, 128, DATA_TEXT, 0), 0);
	fl_pager_shutdown();
	fl__sys_fail_reset();
}

Test(select, uffd_required_but_missing_is_a_clear_error)
{
	fl__sys_fail(FL_SYS_UFFD, 1, 1, EPERM, 0);
	struct fl_pager_config c;
	fl_pager_config_default(&c);
	c.engine = FL_ENGINE_CHOICE_UFFD;
	char err[256] = "";
	cr_assert_eq(fl_pager_init(&c, err, sizeof err), -1);
	cr_expect(strstr(err, "userfaultfd") != NULL, "message: %s", err);
	cr_expect(strstr(err, "Operation not permitted") != NULL, "message: %s", err);
	cr_expect_eq(fl_pager_engine(), FL_ENGINE_OFF);
	/* The program still gets working (unmanaged) memory. */
	unsigned char *m = fl_pager_map(8 * TPS);
	cr_assert_not_null(m);
	m[3 * TPS] = 7;
	cr_expect_eq(m[3 * TPS], 7);
	cr_expect_not(fl_pager_owns(m));
	fl__sys_fail_reset();
}

Test(select, uffdio_api_failure_falls_back)
{
	fl__sys_fail(FL_SYS_IOCTL, 1, 1, EINVAL, UFFDIO_API);
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_AUTO, 0), 0);
	cr_expect_eq(fl_pager_engine(), FL_ENGINE_SIGNAL);
	fl__sys_fail_reset();
	fl_pager_shutdown();
}

Test(select, engine_off)
{
	struct fl_pager_config c;
	fl_pager_config_default(&c);
	c.engine = FL_ENGINE_CHOICE_OFF;
	char err[256];
	cr_assert_eq(fl_pager_init(&c, err, sizeof err), -1);
	unsigned char *m = fl_pager_map(4 * TPS);
	m[0] = 1;
	cr_expect_not(fl_pager_owns(m));
}

/* ---- failure injection ------------------------------------------------ */

Test(inject, copy_fails_once_then_retries)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 64 * TPS), 0);
	size_t n = 128;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_TEXT, 0);
	fl_pager_reclaim(0);
	fl__sys_fail(FL_SYS_IOCTL, 1, 0, ENOMEM, UFFDIO_COPY);
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	fl__sys_fail_reset();
	fl_pager_shutdown();
}

Test(inject, copy_fails_forever_falls_back_to_remap)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 64 * TPS), 0);
	size_t n = 128;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_TEXT, 0);
	fl_pager_reclaim(0);
	fl__sys_fail(FL_SYS_IOCTL, 1, 1, ENOMEM, UFFDIO_COPY);
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	fl__sys_fail_reset();
	/* Those pages are unmanaged now but keep their data. */
	fl_pager_reclaim(0);
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	fl_pager_shutdown();
}

Test(inject, move_fails_forever_keeps_pages_resident)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 64 * TPS), 0);
	size_t n = 128;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, 60, DATA_TEXT, 0);
	fl__sys_fail(FL_SYS_IOCTL, 1, 1, EINVAL, UFFDIO_MOVE);
	fill_range(m, 60, n - 60, DATA_TEXT, 0);
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	struct fl_stats s = stats();
	cr_expect_gt(s.errors, 0, "failed moves are counted");
	cr_expect_eq(s.pressure_peak, FL_PRESSURE_CRITICAL);
	fl__sys_fail_reset();
	fl_pager_shutdown();
}

/* EBUSY is what MOVE says for a page shared with a forked child: the
 * write-protect + copy path takes over and nothing is lost. */
Test(inject, move_ebusy_falls_back_to_copy)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 64 * TPS), 0);
	size_t n = 256;
	unsigned char *m = fl_pager_map(n * TPS);
	fl__sys_fail(FL_SYS_IOCTL, 1, 1, EBUSY, UFFDIO_MOVE);
	fill_range(m, 0, n, DATA_TEXT, 0);
	fl_pager_reclaim(0);
	struct fl_stats s = stats();
	cr_expect_gt(s.pages_evicted, n / 2, "pages still leave memory");
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	s = stats();
	cr_expect_eq(s.errors, 0);
	cr_expect_leq(s.resident_peak_pages, 64);
	fl__sys_fail_reset();
	fl_pager_shutdown();
}

/*
 * Linux 6.17+ can move a page with UFFDIO_MOVE and report EEXIST (see
 * move_checked in engine_uffd.c).  Here every MOVE is made and then
 * reported failed: takes (evictions), gives (soft faults) and an mremap
 * must all see through it.  Believing the error loses pages: the program
 * then faults forever on a page the pager thinks is resident (a hang, which
 * the timeout turns into a failure).
 */
Test(inject, moves_reported_failed_that_happened_lose_nothing, .timeout = 60)
{
	struct fl_pager_config c = t_config(FL_ENGINE_CHOICE_UFFD, 64 * TPS);
	/* A store too small for these random pages: most evicted pages stay
	 * inactive, in stash slots, taken out by MOVE (soft faults bring
	 * them back). */
	c.store_capacity = 64 * 1024;
	cr_assert_eq(t_start_config(&c), 0);
	size_t n = 256;
	unsigned char *m = fl_pager_map(n * TPS);
	cr_assert_not_null(m);
	fl__sys_lie_n(1, 1u << 30, EEXIST, UFFDIO_MOVE);
	fill_range(m, 0, n, DATA_RANDOM, 0);
	/* Read until some pages have come back from the stash: which pages
	 * are inactive when the reads come depends on the evictor's timing. */
	for (int pass = 0; pass < 3 || (stats().faults[FL_FAULT_SOFT] == 0 && pass < 200); pass++) {
		cr_expect_eq(t_check_range(m, 0, n, DATA_RANDOM, 0), 0);
		if (pass >= 3)
			usleep(1000);
	}
	/* mremap to a fixed address moves the resident pages with MOVE. */
	unsigned char *to = mmap(NULL, n * TPS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(to, MAP_FAILED);
	unsigned char *moved = fl_pager_remap(m, n * TPS, n * TPS, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	cr_assert_eq(moved, to);
	cr_expect_eq(t_check_range(moved, 0, n, DATA_RANDOM, 0), 0);
	struct fl_stats s = stats();
	cr_expect_gt(s.pages_deactivated, 0, "pages were taken out");
	cr_expect_gt(s.faults[FL_FAULT_SOFT], 0, "and given back");
	cr_expect_eq(s.errors, 0, "no move counted as failed");
	fl__sys_fail_reset();
	fl_pager_shutdown();
}

Test(inject, register_failure_gives_plain_memory)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 0), 0);
	fl__sys_fail(FL_SYS_IOCTL, 1, 0, EINVAL, UFFDIO_REGISTER);
	unsigned char *m = fl_pager_map(16 * TPS);
	cr_assert_not_null(m);
	cr_expect_not(fl_pager_owns(m));
	fill_range(m, 0, 16, DATA_RANDOM, 0);
	cr_expect_eq(t_check_range(m, 0, 16, DATA_RANDOM, 0), 0);
	struct fl_stats s = stats();
	cr_expect_eq(s.errors, 1);
	/* The next mapping is managed again. */
	unsigned char *m2 = fl_pager_map(16 * TPS);
	cr_expect(fl_pager_owns(m2));
	fl__sys_fail_reset();
	fl_pager_shutdown();
}

Test(inject, mmap_failure_in_map)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 0), 0);
	fl__sys_fail(FL_SYS_MMAP, 1, 0, ENOMEM, 0);
	unsigned char *m = fl_pager_map(16 * TPS);
	cr_assert_not_null(m, "one failed mmap: the fallback mapping succeeds");
	m[0] = 1;
	fl__sys_fail(FL_SYS_MMAP, 1, 1, ENOMEM, 0);
	cr_expect_null(fl_pager_map(16 * TPS), "no memory at all: NULL, not a crash");
	fl__sys_fail_reset();
	fl_pager_shutdown();
}

Test(inject, mmap_failure_signal_engine)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_SIGNAL, 0), 0);
	/* The reservation fails once: the mapping is left to the kernel. */
	fl__sys_fail(FL_SYS_MMAP, 1, 0, ENOMEM, 0);
	unsigned char *m = fl_pager_map(16 * TPS);
	cr_assert_not_null(m);
	cr_expect_not(fl_pager_owns(m));
	m[0] = 5;
	fl__sys_fail_reset();
	fl_pager_shutdown();
}

Test(inject, mprotect_failure_in_signal_take)
{
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_SIGNAL, 64 * TPS), 0);
	size_t n = 128;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, 64, DATA_TEXT, 0);
	fl__sys_fail(FL_SYS_MPROTECT, 1, 0, ENOMEM, 0);
	fill_range(m, 64, 64, DATA_TEXT, 0);
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	fl__sys_fail_reset();
	fl_pager_shutdown();
}

Test(inject, store_creation_failure)
{
	/* The store's reservation is the first mmap after the tables. */
	fl__sys_fail(FL_SYS_MMAP, 1, 1, ENOMEM, 0);
	struct fl_pager_config c;
	fl_pager_config_default(&c);
	char err[256] = "";
	cr_assert_eq(fl_pager_init(&c, err, sizeof err), -1);
	cr_expect(strlen(err) > 0);
	fl__sys_fail_reset();
	unsigned char *m = fl_pager_map(4 * TPS);
	cr_assert_not_null(m);
	m[0] = 1;
}

Test(inject, full_store_keeps_pages_in_memory)
{
	struct fl_pager_config c = t_config(FL_ENGINE_CHOICE_UFFD, 64 * TPS);
	c.store_capacity = 256 * 1024; /* room for a few dozen random pages */
	snprintf(c.spill_dir, sizeof c.spill_dir, "off");
	cr_assert_eq(t_start_config(&c), 0);
	size_t n = 256;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_RANDOM, 0);
	cr_expect_eq(t_check_range(m, 0, n, DATA_RANDOM, 0), 0);
	struct fl_stats s = stats();
	cr_expect_eq(s.pressure_peak, FL_PRESSURE_CRITICAL, "a full store is critical pressure");
	cr_expect_gt(s.resident_peak_pages, s.budget_pages, "over budget rather than losing data");
	fl_pager_shutdown();
}

/* ---- the spill file ---------------------------------------------------- */

/* A pager whose store holds a few dozen random pages, spilling into a
 * fresh directory (its path in dir). */
static void spill_start(char dir[64], uint64_t spill_max)
{
	snprintf(dir, 64, "/tmp/fl-spill-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	struct fl_pager_config c = t_config(FL_ENGINE_CHOICE_UFFD, 64 * TPS);
	c.store_capacity = 256 * 1024;
	snprintf(c.spill_dir, sizeof c.spill_dir, "%s", dir);
	c.spill_max = spill_max;
	cr_assert_eq(t_start_config(&c), 0);
}

/* spill_start, then n pages mapped and written with random data of gen. */
static unsigned char *spill_filled(char dir[64], uint64_t spill_max, size_t n, unsigned gen)
{
	spill_start(dir, spill_max);
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_RANDOM, gen);
	return m;
}

/* Nothing in dir (the spill file never has a name there); removes it. */
static void spill_dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	int names = 0;
	while ((e = readdir(d)))
		names += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	cr_expect_eq(names, 0, "%d names left in %s", names, dir);
	rmdir(dir);
}

/* The n pages at m unmapped, the pager shut down, dir left empty. */
static void spill_end(const char *dir, unsigned char *m, size_t n)
{
	fl_pager_unmap(m, n * TPS);
	fl_pager_shutdown();
	spill_dir_empty(dir);
}

/*
 * Random pages, 16 times what the store holds: the store's oldest pages
 * go to the spill file, every page reads back right (twice: after being
 * read back from the file some are spilled again), spill faults are
 * counted and the budget is held.
 */
Test(spill, full_store_spills_to_a_file)
{
	char dir[64];
	size_t n = 1024;
	unsigned char *m = spill_filled(dir, 64ull << 20, n, 0);
	cr_expect_eq(t_check_range(m, 0, n, DATA_RANDOM, 0), 0);
	uint64_t pages, bytes, file;
	fl_pager_spill_stats(&pages, &bytes, &file);
	cr_expect_gt(pages, n / 2, "only %llu pages spilled", (unsigned long long)pages);
	cr_expect_geq(file, bytes, "the file holds its payloads");
	cr_expect_eq(t_check_range(m, 0, n, DATA_RANDOM, 0), 0);
	struct fl_stats s = stats();
	cr_expect_gt(s.faults[FL_FAULT_SPILL], 0);
	cr_expect_leq(s.resident_peak_pages, s.budget_pages + 64, "peak %llu over a budget of %llu",
		      (unsigned long long)s.resident_peak_pages, (unsigned long long)s.budget_pages);
	/* Freed pages give their place in the file back. */
	fl_pager_unmap(m, n * TPS);
	fl_pager_spill_stats(&pages, &bytes, &file);
	cr_expect_eq(pages, 0);
	cr_expect_eq(file, 0, "%llu bytes of the file still in use", (unsigned long long)file);
	fl_pager_shutdown();
	spill_dir_empty(dir);
}

/*
 * Spill faults bring their address neighbours along only while they come
 * near one another: every other page in ascending order takes about one
 * fault per neighbourhood, a random order one fault per page with no page
 * brought along after the first few.  Every page reads back right.
 */
Test(spill, neighbours_come_along_only_when_faults_come_near)
{
	char dir[64];
	size_t n = 2048;
	unsigned char *m = spill_filled(dir, 64ull << 20, n, 5);
	/* Push everything towards the file: the last pages written are the
	 * ones in memory; the first half is read below. */
	struct fl_stats s0 = stats();
	size_t near_pages = 0;
	for (size_t i = 0; i < n / 2; i += 2, near_pages++)
		cr_assert_eq(t_check_range(m, i, 1, DATA_RANDOM, 5), 0, "page %zu", i);
	struct fl_stats s1 = stats();
	uint64_t near_faults = s1.faults[FL_FAULT_SPILL] - s0.faults[FL_FAULT_SPILL];
	cr_expect_gt(near_faults, 0);
	cr_expect_lt(near_faults * 3, near_pages, "%llu spill faults for %zu pages two apart",
		     (unsigned long long)near_faults, near_pages);
	/* Now the second half in a random order (a fixed permutation). */
	size_t half = n / 2, idx[1024];
	for (size_t i = 0; i < half; i++)
		idx[i] = half + i;
	uint64_t x = 88172645463325252ull;
	for (size_t i = half - 1; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t j = x % (i + 1), t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	for (size_t i = 0; i < half; i++)
		cr_assert_eq(t_check_range(m, idx[i], 1, DATA_RANDOM, 5), 0, "page %zu", idx[i]);
	struct fl_stats s2 = stats();
	uint64_t far_faults = s2.faults[FL_FAULT_SPILL] - s1.faults[FL_FAULT_SPILL];
	uint64_t far_ra = s2.pages_readahead - s1.pages_readahead;
	cr_expect_gt(far_faults, half / 2, "%llu spill faults for %zu pages in a random order",
		     (unsigned long long)far_faults, half);
	cr_expect_lt(far_ra, far_faults / 4, "%llu pages came along with %llu random spill faults",
		     (unsigned long long)far_ra, (unsigned long long)far_faults);
	cr_expect_eq(t_check_range(m, 0, n, DATA_RANDOM, 5), 0);
	spill_end(dir, m, n);
}

/* The disk full (every write ENOSPC) or failing (EIO): no page is lost,
 * the pages stay in memory over the budget, pressure is critical. */
static void spill_write_fails(int err)
{
	char dir[64];
	spill_start(dir, 64ull << 20);
	fl__sys_fail(FL_SYS_PWRITE, 1, 1, err, 0);
	size_t n = 512;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_RANDOM, 1);
	cr_expect_eq(t_check_range(m, 0, n, DATA_RANDOM, 1), 0);
	uint64_t pages, bytes, file;
	fl_pager_spill_stats(&pages, &bytes, &file);
	cr_expect_eq(pages, 0);
	cr_expect_eq(file, 0);
	struct fl_stats s = stats();
	cr_expect_eq(s.pressure_peak, FL_PRESSURE_CRITICAL);
	cr_expect_gt(s.resident_peak_pages, s.budget_pages, "over budget rather than losing data");
	fl__sys_fail_reset();
	spill_end(dir, m, n);
}

Test(spill, disk_full_loses_no_page) { spill_write_fails(ENOSPC); }
Test(spill, write_error_loses_no_page) { spill_write_fails(EIO); }

/* The cap (FAULTLINE_SPILL_MAX) reached: what fits goes out, the rest
 * stays in memory, every byte right. */
Test(spill, cap_reached_keeps_the_rest_in_memory)
{
	char dir[64];
	size_t n = 1024;
	unsigned char *m = spill_filled(dir, 512 * 1024, n, 2);
	uint64_t pages, bytes, file;
	fl_pager_spill_stats(&pages, &bytes, &file);
	cr_expect_gt(pages, 0);
	cr_expect_leq(file, 512 * 1024, "the file grew to %llu bytes", (unsigned long long)file);
	cr_expect_eq(t_check_range(m, 0, n, DATA_RANDOM, 2), 0);
	cr_expect_eq(stats().pressure_peak, FL_PRESSURE_CRITICAL);
	spill_end(dir, m, n);
}

/*
 * Only a user-mode-only userfaultfd to be had (an unprivileged user with
 * vm.unprivileged_userfaultfd=0): the engine runs as uffd-user, says what
 * it cannot do, and that statement is true.
 */
Test(select, user_mode_only_userfaultfd)
{
	/* Fail userfaultfd(2) and /dev/userfaultfd for the probe; then the
	 * user-mode-only request succeeds. */
	fl__sys_fail_n(FL_SYS_UFFD, 1, 2, EPERM, 0);
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_AUTO, 64 * TPS), 0);
	fl__sys_fail_reset();
	cr_expect_eq(fl_pager_engine(), FL_ENGINE_UFFD_USER);
	cr_expect(strstr(fl_pager_engine_reason(), "user-mode faults only") != NULL,
		  "reason: %s", fl_pager_engine_reason());
	size_t n = 32;
	unsigned char *m = fl_pager_map(n * TPS);
	fill_range(m, 0, n, DATA_TEXT, 0);
	fl_pager_reclaim(0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	errno = 0;
	cr_expect_eq(write(p[1], m + 3 * TPS, TPS), -1);
	cr_expect_eq(errno, EFAULT);
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	fl_pager_shutdown();
}

Test(inject, nth_of_a_run_fails)
{
	/* The table itself: calls 2 and 3 fail, 1 and 4 do not. */
	fl__sys_fail_n(FL_SYS_MADVISE, 2, 2, EAGAIN, 0);
	void *p = mmap(NULL, TPS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_expect_eq(fl__sys_madvise(p, TPS, MADV_NORMAL), 0);
	cr_expect_eq(fl__sys_madvise(p, TPS, MADV_NORMAL), -1);
	cr_expect_eq(errno, EAGAIN);
	cr_expect_eq(fl__sys_madvise(p, TPS, MADV_NORMAL), -1);
	cr_expect_eq(fl__sys_madvise(p, TPS, MADV_NORMAL), 0);
	fl__sys_fail_reset();
}

#if defined(FL_ASSERTS) && FL_ASSERTS
/*
 * A checked build (FL_ASSERTS) stops at a page-state move that is no edge
 * of the state machine: an untouched page cannot become compressed
 * without having been resident and inactive.  (Release builds have no
 * such check, and no such test.)
 */
Test(pager, illegal_page_edge_asserts, .signal = SIGABRT)
{
	static struct fl_page pages[1];
	struct fl_region r = {.len = TPS, .npages = 1, .pages = pages};
	fl__page_move(&r, &pages[0], FL_PG_COMPRESSED);
}
#endif

/* Threads of this process pinned to exactly one CPU, as a CPU mask. */
static unsigned long long pinned_threads_cpus(int *count)
{
	unsigned long long cpus = 0;
	*count = 0;
	DIR *d = opendir("/proc/self/task");
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], line[256];
		snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof line, f)) {
			int c;
			char rest;
			if (sscanf(line, "Cpus_allowed_list:\t%d%c", &c, &rest) == 2 && rest == '\n' && c < 64) {
				cpus |= 1ull << c;
				++*count;
			}
		}
		fclose(f);
	}
	closedir(d);
	return cpus;
}

struct cpu_worker {
	int cpu;
	unsigned char *m;
	size_t n;
	size_t bad;
};

static void *cpu_worker_main(void *arg)
{
	struct cpu_worker *w = arg;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(w->cpu, &one);
	sched_setaffinity(0, sizeof one, &one);
	for (unsigned gen = 1; gen <= 2; gen++) {
		fill_range(w->m, 0, w->n, DATA_TEXT, gen + (unsigned)w->cpu * 7);
		w->bad += t_check_range(w->m, 0, w->n, DATA_TEXT, gen + (unsigned)w->cpu * 7);
	}
	return NULL;
}

/*
 * uffd: one handler per CPU, each pinned to its CPU, so a fault is served
 * where it was taken; threads faulting on every CPU under a budget read
 * back what they wrote.
 */
Test(pager, a_pinned_handler_serves_each_cpu)
{
	cpu_set_t set;
	cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
	int ncpu = CPU_COUNT(&set);
	if (ncpu < 2)
		cr_skip_test("one CPU: a single unpinned handler");
	int before;
	unsigned long long pinned_before = pinned_threads_cpus(&before);
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 2u << 20), 0);
	int want = ncpu < 8 ? ncpu : 8;
	char expect[64];
	snprintf(expect, sizeof expect, "%d fault handlers, each pinned to a CPU", want);
	cr_expect(strstr(fl_pager_engine_reason(), expect), "%s", fl_pager_engine_reason());
	int after;
	unsigned long long pinned = pinned_threads_cpus(&after) & ~pinned_before;
	cr_expect_eq(after - before, want, "%d threads pinned to one CPU", after - before);
	for (int c = 0, k = 0; c < 64 && k < want; c++)
		if (CPU_ISSET(c, &set)) {
			cr_expect(pinned & (1ull << c), "no handler pinned to CPU %d", c);
			k++;
		}

	struct cpu_worker w[8];
	pthread_t t[8];
	int nw = 0;
	for (int c = 0; c < CPU_SETSIZE && nw < want; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		w[nw] = (struct cpu_worker){.cpu = c, .n = 2048};
		w[nw].m = fl_pager_map(w[nw].n * TPS);
		cr_assert_not_null(w[nw].m);
		cr_assert_eq(pthread_create(&t[nw], NULL, cpu_worker_main, &w[nw]), 0);
		nw++;
	}
	for (int i = 0; i < nw; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(w[i].bad, 0, "CPU %d: %zu pages read back wrong", w[i].cpu, w[i].bad);
	}
	struct fl_stats s = stats();
	cr_expect_gt(s.faults[FL_FAULT_DECOMPRESS] + s.faults[FL_FAULT_SOFT], 0, "nothing came back from eviction");
	fl_pager_shutdown();
	int left;
	pinned_threads_cpus(&left);
	cr_expect_eq(left, before, "the handlers are gone after shutdown");
}

/* HANDLERS=1: one handler, not pinned. */
Test(pager, one_handler_when_asked)
{
	struct fl_pager_config c = t_config(FL_ENGINE_CHOICE_UFFD, 0);
	c.handlers = 1;
	int before, after;
	pinned_threads_cpus(&before);
	cr_assert_eq(t_start_config(&c), 0);
	cr_expect(strstr(fl_pager_engine_reason(), "; 1 fault handler") &&
			  !strstr(fl_pager_engine_reason(), "pinned"),
		  "%s", fl_pager_engine_reason());
	pinned_threads_cpus(&after);
	cr_expect_eq(after, before, "no handler is pinned");
	unsigned char *m = fl_pager_map(64 * TPS);
	fill_range(m, 0, 64, DATA_RANDOM, 3);
	cr_expect_eq(t_check_range(m, 0, 64, DATA_RANDOM, 3), 0);
	fl_pager_shutdown();
}
