/*
 * Unit tests of pressure.c: the levels' hysteresis, the subscriber table's
 * limits and errors, unsubscribe waiting for a callback that runs, and
 * delivery through a running pager in this process: each change once, in order, on the notifier thread, with the
 * allocator's purge asked for at each rise, after the callbacks.  (The
 * pager library has no allocator of its own: this file supplies the purge
 * the shim's malloc.c would, and counts the calls.)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fltest.h"
#include "pager_int.h"
#include "pressure.h"
#include "wait.h"

/* ---- the hysteresis -------------------------------------------------- */

Test(pressure, warn_begins_below_low_and_ends_at_high)
{
	const uint64_t low = 8, high = 16;
	/* From NORMAL: WARN only below the low mark. */
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_NORMAL, 100, low, high, 0, 0), FL_PRESSURE_NORMAL);
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_NORMAL, 12, low, high, 0, 0), FL_PRESSURE_NORMAL);
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_NORMAL, 8, low, high, 0, 0), FL_PRESSURE_NORMAL);
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_NORMAL, 7, low, high, 0, 0), FL_PRESSURE_WARN);
	/* From WARN: still WARN between the marks, NORMAL from the high one. */
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_WARN, 8, low, high, 0, 0), FL_PRESSURE_WARN);
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_WARN, 15, low, high, 0, 0), FL_PRESSURE_WARN);
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_WARN, 16, low, high, 0, 0), FL_PRESSURE_NORMAL);
	/* CRITICAL while held; after, as from WARN. */
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_NORMAL, 100, low, high, 1, 0), FL_PRESSURE_CRITICAL);
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_CRITICAL, 12, low, high, 0, 0), FL_PRESSURE_WARN);
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_CRITICAL, 16, low, high, 0, 0), FL_PRESSURE_NORMAL);
}

/* Held, WARN outlasts the return of the headroom to the high mark. */
Test(pressure, warn_held_outlasts_the_high_mark)
{
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_WARN, 100, 8, 16, 0, 1), FL_PRESSURE_WARN);
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_CRITICAL, 100, 8, 16, 0, 1), FL_PRESSURE_WARN);
	/* ... but is never entered by the hold alone. */
	cr_expect_eq(fl__pressure_level(FL_PRESSURE_NORMAL, 100, 8, 16, 0, 1), FL_PRESSURE_NORMAL);
}

/* A program over its budget: every 10 ms the headroom falls below the low
 * mark and the evictor brings it back to the high one.  With the marks
 * alone that is a WARN and a NORMAL per round; held, one WARN in 2 s, and
 * NORMAL once the rounds stop for longer than the hold. */
Test(pressure, evictor_rounds_make_one_warn)
{
	const uint64_t low = 64, high = 128, ms = 1000 * 1000;
	enum fl_pressure l = FL_PRESSURE_NORMAL, m = FL_PRESSURE_NORMAL;
	unsigned changes = 0, marks_only = 0;
	uint64_t t = 1000 * ms;
	for (int round = 0; round < 200; round++) {
		uint64_t seen[] = {200, 100, 60, 90, 128, 140};
		for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++, t += 2 * ms) {
			enum fl_pressure n = fl__pressure_derive(l, t, seen[i], low, high, 0);
			changes += n != l;
			l = n;
			enum fl_pressure k = fl__pressure_level(m, seen[i], low, high, 0, 0);
			marks_only += k != m;
			m = k;
		}
	}
	cr_expect_eq(changes, 1, "%u changes", changes);
	cr_expect_geq(marks_only, 300, "the marks alone: %u changes", marks_only);
	cr_expect_eq(l, FL_PRESSURE_WARN);
	t += FL_PRESSURE_WARN_HOLD_NS / 2;
	cr_expect_eq(fl__pressure_derive(l, t, 200, low, high, 0), FL_PRESSURE_WARN, "still held");
	t += FL_PRESSURE_WARN_HOLD_NS;
	cr_expect_eq(fl__pressure_derive(l, t, 200, low, high, 0), FL_PRESSURE_NORMAL);
}

/* Headroom wandering around the low mark, as it does while the evictor
 * works in batches: one change in, none back until the high mark. */
Test(pressure, no_flapping_at_the_low_mark)
{
	const uint64_t low = 64, high = 128;
	enum fl_pressure l = FL_PRESSURE_NORMAL;
	unsigned changes = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t free_pages = 60 + (uint64_t)(i % 9); /* 60..68 */
		enum fl_pressure n = fl__pressure_level(l, free_pages, low, high, 0, 0);
		changes += n != l;
		l = n;
	}
	cr_expect_eq(changes, 1, "%u changes", changes);
	cr_expect_eq(l, FL_PRESSURE_WARN);
	cr_expect_eq(fl__pressure_level(l, 128, low, high, 0, 0), FL_PRESSURE_NORMAL);
}

/* ---- the subscriber table -------------------------------------------- */

static void nop(enum fl_pressure level, void *arg)
{
	(void)level;
	(void)arg;
}

Test(pressure, table_limits_and_errors)
{
	static int args[FL_PRESSURE_SUBSCRIBERS_MAX + 1];
	errno = 0;
	cr_expect_eq(fl_pressure_subscribe(NULL, NULL), -1);
	cr_expect_eq(errno, EINVAL);
	for (int i = 0; i < FL_PRESSURE_SUBSCRIBERS_MAX; i++)
		cr_assert_eq(fl_pressure_subscribe(nop, &args[i]), 0, "subscriber %d: %s", i, strerror(errno));
	cr_expect_eq(fl_pressure_subscribe(nop, &args[0]), -1);
	cr_expect_eq(errno, EEXIST);
	cr_expect_eq(fl_pressure_subscribe(nop, &args[FL_PRESSURE_SUBSCRIBERS_MAX]), -1);
	cr_expect_eq(errno, ENOSPC);
	/* A slot given back is taken again. */
	cr_expect_eq(fl_pressure_unsubscribe(nop, &args[3]), 0);
	cr_expect_eq(fl_pressure_unsubscribe(nop, &args[3]), -1);
	cr_expect_eq(errno, ENOENT);
	cr_expect_eq(fl_pressure_subscribe(nop, &args[FL_PRESSURE_SUBSCRIBERS_MAX]), 0);
	for (int i = 0; i <= FL_PRESSURE_SUBSCRIBERS_MAX; i++)
		if (i != 3)
			cr_expect_eq(fl_pressure_unsubscribe(nop, &args[i]), 0, "subscriber %d", i);
}

/* ---- delivery through a running pager ---------------------------------- */

/* What the callback heard, and the purges: one sequence, so that their
 * order shows ('N', 'W', 'C' for levels, 'p' for a purge). */
static char heard[4096];
static unsigned nheard;
static int test_tid;
static int on_test_thread; /* a callback ran on the test's own thread */

static void note(char c)
{
	unsigned i = __atomic_fetch_add(&nheard, 1, __ATOMIC_ACQ_REL);
	if (i < sizeof heard - 1)
		__atomic_store_n(&heard[i], c, __ATOMIC_RELEASE);
}

int fl__malloc_purge(void)
{
	note('p');
	return 0;
}

static void record(enum fl_pressure level, void *arg)
{
	if ((int)syscall(SYS_gettid) == test_tid)
		on_test_thread = 1;
	note(level == FL_PRESSURE_NORMAL ? 'N' : level == FL_PRESSURE_WARN ? 'W' : level == FL_PRESSURE_CRITICAL ? 'C' : '?');
	(void)arg;
}

/* The last level heard is want (and at least one was). */
static int last_is(void *arg)
{
	char want = *(char *)arg;
	for (unsigned i = __atomic_load_n(&nheard, __ATOMIC_ACQUIRE); i > 0; i--) {
		char c = __atomic_load_n(&heard[i - 1], __ATOMIC_ACQUIRE);
		if (c != 'p')
			return c == want;
	}
	return 0;
}

static int heard_c(void *arg)
{
	return strchr(heard, *(char *)arg) != NULL;
}

Test(pressure, changes_reach_a_subscriber_in_order)
{
	test_tid = (int)syscall(SYS_gettid);
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 128 * TPS), 0);
	cr_assert_eq(fl_pressure_subscribe(record, heard), 0);
	size_t n = 2048;
	unsigned char *m = fl_pager_map(n * TPS);
	cr_assert_not_null(m);
	for (size_t i = 0; i < n; i++)
		t_fill(m + i * TPS, DATA_TEXT, i, 0);
	char crit = 'C', normal = 'N';
	fl_test_wait_until(heard_c, &crit, FL_WAIT_MS, "CRITICAL heard (so far: '%s')", heard);
	cr_expect_eq(t_check_range(m, 0, n, DATA_TEXT, 0), 0);
	/* Shrink: the level comes down with no fault to notice it. */
	cr_assert_eq(fl_pager_unmap(m, n * TPS), 0);
	fl_test_wait_until(last_is, &normal, FL_WAIT_MS, "NORMAL heard last (so far: '%s')", heard);
	cr_expect_eq(fl_pressure_get(), FL_PRESSURE_NORMAL);
	cr_expect_eq(fl_pressure_unsubscribe(record, heard), 0);
	fl_pager_shutdown();

	/* Each level a change from the one before.  The first change is a
	 * rise, and the purge (never put off the first time) comes right
	 * after its callback; later ones may be put off (one in 100 ms). */
	char prev = 'N';
	unsigned levels = 0;
	for (unsigned i = 0; i < nheard && heard[i]; i++) {
		char c = heard[i];
		if (c == 'p')
			continue;
		levels++;
		cr_expect_neq(c, prev, "level heard twice in a row: '%s'", heard);
		prev = c;
	}
	cr_expect_geq(levels, 2, "'%s'", heard);
	cr_expect(heard[0] == 'W' || heard[0] == 'C', "'%s'", heard);
	cr_expect_eq(heard[1], 'p', "the first rise's purge: '%s'", heard);
	unsigned purges = 0;
	for (unsigned i = 0; i < nheard && heard[i]; i++)
		purges += heard[i] == 'p';
	cr_expect_eq(fl__pressure_purges(), purges, "'%s'", heard);
	cr_expect_eq(on_test_thread, 0, "a callback ran on the faulting thread");
}

/* ---- unsubscribe waits for a callback that runs -------------------------- */

static int in_slow, release_slow, unsub_done;

static void slow(enum fl_pressure level, void *arg)
{
	(void)level;
	(void)arg;
	__atomic_store_n(&in_slow, 1, __ATOMIC_RELEASE);
	/* Until the test releases it (a futex on the flag itself). */
	while (!__atomic_load_n(&release_slow, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &release_slow, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	__atomic_store_n(&in_slow, 0, __ATOMIC_RELEASE);
}

static void *unsubscriber(void *arg)
{
	cr_expect_eq(fl_pressure_unsubscribe(slow, arg), 0);
	/* Returned: the callback must be over. */
	cr_expect_eq(__atomic_load_n(&in_slow, __ATOMIC_ACQUIRE), 0, "unsubscribe returned during the callback");
	__atomic_store_n(&unsub_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int flag_set(void *arg)
{
	return __atomic_load_n((int *)arg, __ATOMIC_ACQUIRE) != 0;
}

/* The slot is free again (the unsubscriber has cleared it): subscribing
 * the same callback anew takes it. */
static int resubscribed(void *arg)
{
	return fl_pressure_subscribe(slow, arg) == 0;
}

Test(pressure, unsubscribe_waits_for_a_running_callback)
{
	static int arg;
	cr_assert_eq(t_start(FL_ENGINE_CHOICE_UFFD, 128 * TPS), 0);
	cr_assert_eq(fl_pressure_subscribe(slow, &arg), 0);
	size_t n = 1024;
	unsigned char *m = fl_pager_map(n * TPS);
	cr_assert_not_null(m);
	for (size_t i = 0; i < n; i++)
		t_fill(m + i * TPS, DATA_TEXT, i, 0);
	fl_test_wait_until(flag_set, &in_slow, FL_WAIT_MS, "the callback to run");
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, unsubscriber, &arg), 0);
	fl_test_wait_until(resubscribed, &arg, FL_WAIT_MS, "the unsubscriber to clear the slot");
	/* The callback still runs: the unsubscriber must still wait. */
	cr_expect_eq(__atomic_load_n(&unsub_done, __ATOMIC_ACQUIRE), 0, "unsubscribe did not wait");
	__atomic_store_n(&release_slow, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &release_slow, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	fl_test_wait_until(flag_set, &unsub_done, FL_WAIT_MS, "unsubscribe to return");
	pthread_join(t, NULL);
	cr_expect_eq(fl_pressure_unsubscribe(slow, &arg), 0);
	cr_expect_eq(fl_pager_unmap(m, n * TPS), 0);
	fl_pager_shutdown();
}
