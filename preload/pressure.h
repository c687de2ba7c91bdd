/*
 * Memory pressure as the program hears it (pressure.c): the level's
 * hysteresis, the queue of level changes that reclaim.c fills under the
 * pager lock, and the notifier thread that takes them from there to the
 * subscribers (fl_pressure_subscribe), the optional signal and
 * jemalloc's purge.
 */
#ifndef FL_PRESSURE_H
#define FL_PRESSURE_H

#include <stdint.h>

#include "faultline/faultline.h"

/*
 * The level for free_pages of headroom, coming from level cur: CRITICAL
 * while held (a fault had to reclaim, or eviction failed, lately); WARN
 * below the low mark; and once WARN or above, NORMAL again only when the
 * headroom is back at the high mark (the evictor's stopping point) and
 * WARN is no longer held (warn_held: the headroom was below the low mark,
 * or the level CRITICAL, lately).  Pure: no state.
 */
enum fl_pressure fl__pressure_level(enum fl_pressure cur, uint64_t free_pages, uint64_t low_free,
				    uint64_t high_free, int critical_held, int warn_held);

/*
 * fl__pressure_level with WARN held for FL_PRESSURE_WARN_HOLD_NS after its
 * last cause (pager lock held; now: the caller's clock).  The marks alone
 * are not enough: a program over its budget sends the headroom from below
 * the low mark to the high one and back with every round of the evictor
 * (about 100 a second measured here), and each round would be a WARN and a
 * NORMAL for every subscriber.
 */
#define FL_PRESSURE_WARN_HOLD_NS (200ull * 1000 * 1000)
enum fl_pressure fl__pressure_derive(enum fl_pressure cur, uint64_t now, uint64_t free_pages,
				     uint64_t low_free, uint64_t high_free, int critical_held);

/* The level changed to p (pager lock held; any thread, a fault handler
 * or a signal handler included): queue it and wake the notifier.  No
 * allocation, no lock but the caller's. */
void fl__pressure_changed(enum fl_pressure p);

/* Start the notifier (with a budget: nothing changes without one) and stop
 * it; start again after a fork (the thread is the parent's). */
void fl__pressure_start(void);
void fl__pressure_stop(void);

/* How many purges of the allocator pressure has asked for (tests). */
uint64_t fl__pressure_purges(void);

/* The allocator's purge of its dirty pages: defined where the allocator is
 * (malloc.c, the shim only; weak here: the pager library has none).  0 or
 * an errno. */
int fl__malloc_purge(void) __attribute__((weak));

#endif
