/*
 * The fault log's producer side (preload/events.c): stack hand-offs from
 * the uffd handler to the faulting thread, and the shim's own threads.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "clock.h"

#define MS 1000000ull

static uint32_t my_tid(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

static struct fl_fault_info resolved_fault(void)
{
	struct fl_fault_info fi = {.t_ns = fl_mono_ns(), .region = 7, .latency_ns = 1000, .pages = 1,
				   .kind = 0, .resolved = 1};
	return fi;
}

static void start_log(void)
{
	cr_assert_eq(fl__events_init(1), 0);
	fl__events_set_connected(1);
}

/*
 * The emitter reads its clock, then looks for hand-offs nobody took.  One
 * queued in between is younger than that clock reading: it must wait for
 * its signal, not be logged at once without a stack (the unsigned age
 * wrapped, and one fault in a few thousand lost its stack).
 */
Test(events, a_hand_off_queued_after_the_emitters_clock_reading_is_young)
{
	start_log();
	/* This thread holds the stack signal blocked: nothing takes the
	 * hand-off but the expiry. */
	sigset_t all;
	sigfillset(&all);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &all, NULL), 0);
	uint64_t before = fl_mono_ns();
	int ticket = fl__events_stack_begin(my_tid());
	cr_assert_gt(ticket, 0, "a stack is wanted for every fault");
	struct fl_fault_info fi = resolved_fault();
	fl__events_stack_handoff(ticket, 0x10000, 1, my_tid(), &fi);
	struct fl_wire_fault out[4];
	fl__events_expire_handoffs(before, 100 * MS);
	cr_expect_eq(fl__events_take_faults(out, 4), 0, "a hand-off queued after the clock reading expired");
	fl__events_expire_handoffs(fl_mono_ns() + 50 * MS, 100 * MS);
	cr_expect_eq(fl__events_take_faults(out, 4), 0, "a 50 ms old hand-off expired (the limit is 100 ms)");
	fl__events_expire_handoffs(fl_mono_ns() + 200 * MS, 100 * MS);
	cr_assert_eq(fl__events_take_faults(out, 4), 1, "a hand-off past its age was not logged");
	cr_expect_eq(out[0].addr, 0x10000);
	cr_expect_eq(out[0].stack, 0, "an expired hand-off has no stack to give");
	uint64_t ev, st, ot;
	fl__events_drops(&ev, &st, &ot);
	cr_expect_eq(st, 1, "the expired hand-off counts as one dropped stack (%llu)", (unsigned long long)st);

	/* At exit (age 0) every hand-off goes, even one younger than the
	 * clock reading: a fault the exiting thread took with its signals
	 * blocked must still be logged, or the counts do not add up. */
	before = fl_mono_ns();
	ticket = fl__events_stack_begin(my_tid());
	cr_assert_gt(ticket, 0);
	fl__events_stack_handoff(ticket, 0x11000, 0, my_tid(), &fi);
	fl__events_expire_handoffs(before, 0);
	cr_assert_eq(fl__events_take_faults(out, 4), 1, "the final expiry left a young hand-off behind");
	cr_expect_eq(out[0].addr, 0x11000);
}

static void *pretend_entry(void *arg)
{
	return arg;
}

static void *other_entry(void *arg)
{
	return arg;
}

/*
 * A fault of one of the shim's threads gets no hand-off (it blocks the
 * signal: the slot would wait out its age) but a one-frame stack naming
 * the thread's start routine; the program's threads are unaffected, and
 * a joined thread's tid is the program's again.
 */
Test(events, the_shims_own_threads_are_named_without_a_hand_off)
{
	start_log();
	fl__events_own_thread((uintptr_t)pretend_entry);
	uint32_t me = my_tid();
	cr_expect_eq(fl__events_stack_begin(me), 0, "a hand-off was offered to a shim thread");
	struct fl_fault_info fi = resolved_fault();
	fl__events_fault(0x20000, 0, me, &fi);
	fl__events_fault(0x30000, 0, me + 100000, &fi); /* some program thread */
	struct fl_wire_fault out[4];
	cr_assert_eq(fl__events_take_faults(out, 4), 2);
	cr_assert_neq(out[0].stack, 0, "the shim thread's fault has no stack");
	uint64_t pcs[FL_EVENTS_MAX_FRAMES];
	cr_assert_eq(fl__events_stack(out[0].stack, pcs), 1);
	cr_expect_eq(pcs[0], (uint64_t)(uintptr_t)pretend_entry, "the stack does not name the thread's start");
	cr_expect_eq(out[1].stack, 0, "a program thread's plain fault got a stack from nowhere");

	/* Another entry does not unregister this one; its own does. */
	fl__events_own_thread_gone((uintptr_t)other_entry);
	cr_expect_eq(fl__events_stack_begin(me), 0);
	fl__events_own_thread_gone((uintptr_t)pretend_entry);
	int ticket = fl__events_stack_begin(me);
	cr_expect_gt(ticket, 0, "a joined shim thread's tid still refuses hand-offs");
	if (ticket) {
		fi.resolved = 0; /* give the slot back */
		fl__events_stack_handoff(ticket, 0x20000, 0, me, &fi);
	}
	uint64_t ev, st, ot;
	fl__events_drops(&ev, &st, &ot);
	cr_expect_eq(st, 0, "a shim thread's fault counted as a dropped stack");
}

/*
 * The uffd handler wakes a faulting thread before it records the fault.
 * If that thread is the one draining the log at exit (or the emitter it
 * joins, whose exit faults in its thread cache), the drain must not end
 * in between: a fault being resolved counts as pending.
 */
Test(events, a_fault_being_resolved_keeps_the_final_drain_waiting)
{
	start_log();
	cr_expect_eq(fl__events_pending(), 0);
	int counted = fl__events_resolving();
	cr_assert_eq(counted, 1);
	cr_expect_eq(fl__events_pending(), 1, "a fault between wake and record is not pending");
	struct fl_fault_info fi = resolved_fault();
	fl__events_fault(0x40000, 1, my_tid(), &fi);
	fl__events_resolved(counted);
	cr_expect_eq(fl__events_pending(), 1, "the recorded fault is not pending");
	struct fl_wire_fault out[2];
	cr_assert_eq(fl__events_take_faults(out, 2), 1);
	cr_expect_eq(fl__events_pending(), 0);
}
