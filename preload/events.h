/*
 * The shim's fault log on its way out: per-thread rings of resolved
 * faults, one ring of region changes, the table of call stacks (each
 * stored once, by hash), and the running totals of what was dropped.
 * Producers are fault paths (the uffd handler thread, a faulting thread in
 * a signal handler) and never block; the one consumer is the emitter
 * (emitter.c).  Nothing here allocates after fl__events_init.
 */
#ifndef FL_EVENTS_H
#define FL_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "faultline/wire.h"

/* What the pager says about a fault it resolved. */
struct fl_fault_info {
	uint64_t t_ns;       /* CLOCK_MONOTONIC when resolved */
	uint64_t region;     /* wire id of the region */
	uint32_t latency_ns;
	uint16_t pages;      /* pages made resident together */
	uint8_t kind;        /* enum fl_fault_kind */
	uint8_t resolved;    /* 0: nothing was needed (another thread won) */
};

/*
 * What is said about a managed region, in the fault log and in the state
 * file: the pager describes its regions (fl__region_describe), so the log
 * needs nothing of the pager's own records.
 */
struct fl_region_desc {
	uint64_t id;         /* wire id: nonzero, not reused while the process lives */
	uint64_t start, len; /* bytes */
	uint32_t prot;       /* its first page's PROT_* (pages may differ) */
	uint32_t kind;       /* enum fl_range_kind */
};

/* d as the fault log's region record, at t_ns (op FL_WIRE_REGION_*; a
 * destroyed region is sent without its length). */
static inline struct fl_wire_region fl__region_wire(const struct fl_region_desc *d, uint32_t op,
						   uint64_t t_ns)
{
	return (struct fl_wire_region){.t_ns = t_ns, .id = d->id, .start = d->start,
				       .len = op == FL_WIRE_REGION_DESTROY ? 0 : d->len, .op = op,
				       .prot = d->prot, .kind = d->kind};
}

/*
 * Prepare the rings and tables (raw memory) and say one stack in every
 * stacks_every faults is wanted (0: none).  Returns 0 or -1; until it
 * succeeds every other call here does nothing.
 */
int fl__events_init(unsigned stacks_every);

/* The emitter says whether anyone is listening: stacks are only taken
 * for a connected log. */
void fl__events_set_connected(int on);

/*
 * A fault resolved on the faulting thread itself (signal engine): record
 * it, with its stack unwound from uc (the signal's ucontext) when wanted.
 */
void fl__events_fault_here(uintptr_t addr, int write, const struct fl_fault_info *fi, void *uc);

/*
 * uffd engine, on the handler thread.  begin: should this fault get a
 * stack?  Returns a ticket (> 0) reserving the hand-off, or 0.  With a
 * ticket, the fault is resolved without waking the thread, then
 * handoff() queues the stack signal to tid (or records the fault without
 * a stack when that fails) before the caller wakes it; without one,
 * fault() records it plainly.
 */
int fl__events_stack_begin(uint32_t tid);
void fl__events_stack_handoff(int ticket, uintptr_t addr, int write, uint32_t tid,
			      const struct fl_fault_info *fi);
void fl__events_fault(uintptr_t addr, int write, uint32_t tid, const struct fl_fault_info *fi);

/*
 * own_thread: called by each of the shim's threads as it starts (entry:
 * its start routine).  Its faults get no stack hand-off (it blocks the
 * signal) but a one-frame stack naming entry, when stacks are wanted.
 * own_thread_gone: by whoever joined that thread (its exit still faults:
 * the allocator flushes its thread cache then).
 */
void fl__events_own_thread(uintptr_t entry);
void fl__events_own_thread_gone(uintptr_t entry);

/* The signal that asks a faulting thread for its stack, or 0: a shim
 * thread that runs the program's code (pressure.c) leaves it open then. */
int fl__events_stack_signal(void);

/* A region was created, changed or destroyed (op: FL_WIRE_REGION_*;
 * pager lock held). */
void fl__events_region(uint32_t op, const struct fl_region_desc *d);

/* Nonzero while this thread walks its stack (see sigguard.c). */
extern __thread int fl__unwinding __attribute__((tls_model("initial-exec")));

/* After fork, in the child: the parent's queued events are the parent's. */
void fl__events_fork_child(void);

/* ---- for the emitter -------------------------------------------------- */

/* Totals of what was dropped (struct fl_wire_drops without t_ns). */
void fl__events_drops(uint64_t *events, uint64_t *stacks, uint64_t *other);
void fl__events_count_dropped(uint64_t events, uint64_t other);

/*
 * The uffd handler brackets each fault with these: it wakes the faulting
 * thread before it records the fault, and a thread that was just woken
 * may be the one draining the log at exit (or one the drainer joins).
 */
int fl__events_resolving(void);           /* returns what to pass to: */
void fl__events_resolved(int counted);

/* Are faults queued in any ring, or is one being resolved? */
int fl__events_pending(void);
/* Take up to max queued faults from any ring; returns how many. */
size_t fl__events_take_faults(struct fl_wire_fault *out, size_t max);
/* Take up to max queued region changes; returns how many. */
size_t fl__events_take_regions(struct fl_wire_region *out, size_t max);
/*
 * At a (re)connection, with the pager's lock held while the snapshot of
 * live regions is taken: drop the queued changes of regions alive now
 * (the snapshot has them), and keep the whole queued lives of regions
 * that ended before it, from their creation on: faults still queued may
 * name them (a forked child can create, fault in and unmap a region
 * before its emitter first connects).
 */
void fl__events_keep_ended_regions(int (*alive)(uint64_t id));
/*
 * Stack id's frames (innermost first) into pcs (FL_EVENTS_MAX_FRAMES);
 * returns the count, 0 for an unknown id.  sent: has the current
 * connection had the definition (set_sent marks it; forget_sent clears all
 * for a new connection).
 */
#define FL_EVENTS_MAX_FRAMES 64
unsigned fl__events_stack(uint32_t id, uint64_t *pcs);
int fl__events_stack_sent(uint32_t id);
void fl__events_stack_set_sent(uint32_t id);
void fl__events_stack_forget_sent(void);
/* The id of a stack taken elsewhere (an allocation's), adding it to the
 * table when new; 0 when the log is off or the table full. */
uint32_t fl__events_stack_intern(const uint64_t *pcs, unsigned n);
/* Hand-offs no thread picked up within max_age_ns become plain faults
 * (max_age_ns 0, at exit: all of them, however young). */
void fl__events_expire_handoffs(uint64_t now_ns, uint64_t max_age_ns);
/* Rings whose threads have exited and that are empty become free again. */
void fl__events_reap_rings(void);

#endif
