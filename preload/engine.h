/*
 * The pager-engine contract: the one small interface behind which the
 * platform's way of catching page faults sits.  The pager core (fault.c)
 * decides what a fault needs; the engine does it with the platform's
 * primitives.  Backends: engine_uffd.c (userfaultfd, and uffd-sigbus),
 * engine_signal.c (PROT_NONE + SIGSEGV); later engine_mach.c.  pager.c
 * selects one at run time.
 *
 * Every call returns 0 on success and -1 with errno set on failure; fill
 * and give may return 1: done, but the pages are no longer managed (a
 * fallback placed them outside the engine's reach).  Calls that change a
 * region's pages are made with the pager lock held.  No call touches
 * managed memory through the program's view except as stated.
 */
#ifndef FL_ENGINE_H
#define FL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "faultline/faultline.h"

struct fl_region;

/* What a started engine can do, filled by start(). */
struct fl_engine_caps {
	int kernel_faults;  /* faults taken inside syscalls are served */
	int can_evict;      /* take() works, so a budget can be held */
	int move;           /* pages move out and back without a copy */
	int adopt;          /* region_adopt() works */
	int inactive_in_place; /* a taken page stays at its address (signal) */
	int fill_ahead;     /* the handler calls fl__pager_fill_ahead() when idle */
	int fault_signal;   /* faults come as this signal to the faulting thread, or 0 */
	int cow_faults;     /* write_protect() works: a write after fork is a fault */
	int fork_handoff;   /* a forked child's faults come to this process first
			     * (fork_begin .. fork_adopt below work) */
	char detail[256];   /* human-readable: features, limits */
};

struct fl_engine {
	const char *name;
	enum fl_engine_kind kind;

	/*
	 * Start the engine (fault handler thread or signal handler) before any
	 * region exists.  stash_pages: how many pages may be inactive at once.
	 * On failure, err says why (the selector may try another engine).
	 */
	int (*start)(size_t stash_pages, struct fl_engine_caps *caps,
		     char *err, size_t errlen);
	/* Stop the handler; regions must have been destroyed or detached. */
	void (*stop)(void);
	/*
	 * In a forked child (one thread, locks reset): forget the parent's
	 * threads and descriptors without touching them, so start() can run
	 * again.  Async-signal-safe.
	 */
	void (*forget)(void);

	/*
	 * Reserve r->len bytes and start catching its faults; sets r->base.
	 * want and want_flags (0, MAP_FIXED or MAP_FIXED_NOREPLACE) say where,
	 * as mmap's address and flags do.
	 */
	int (*region_create)(struct fl_region *r, uintptr_t want, int want_flags);
	/*
	 * Start catching faults on an existing plain anonymous range r->base,
	 * r->len (memory mapped before the engine started).  Optional.
	 */
	int (*region_adopt)(struct fl_region *r);
	/* Release pages [pg, pg+n) of r: the address range is unmapped. */
	int (*region_unmap)(struct fl_region *r, size_t pg, size_t n);
	/*
	 * Stop catching faults but leave the range mapped as plain memory, with
	 * every page's contents as it is now (all pages must be resident or
	 * untouched).  Used at shutdown.
	 */
	int (*region_detach)(struct fl_region *r);

	/* Make pages [pg, pg+n) resident and zero. */
	int (*fill_zero)(struct fl_region *r, size_t pg, size_t n, int write);
	/* Make pages [pg, pg+n) resident with the contents at src (n pages). */
	int (*fill_copy)(struct fl_region *r, size_t pg, size_t n, const void *src);

	/*
	 * Atomically remove resident pages [pg, pg+n) from the program's view,
	 * keeping their contents in memory.  Returns how many were taken,
	 * counting from pg (at least 1; fewer than n when the engine could not
	 * take them all in one step), or -1 with errno when none was.  The
	 * i-th taken page's contents are at slot *slot + i (engine-defined).
	 * After take a program access faults; the contents cannot change.
	 * A run costs one TLB flush where a page at a time costs one each.
	 */
	long (*take)(struct fl_region *r, size_t pg, size_t n, uint32_t *slot);
	/*
	 * The contents of a taken page: a pointer into the engine's memory, or
	 * scratch (one page, the caller's) after filling it.  NULL on error.
	 */
	const void *(*peek)(struct fl_region *r, size_t pg, uint32_t slot, void *scratch);
	/* Put a taken page back into the program's view, resident. */
	int (*give)(struct fl_region *r, size_t pg, uint32_t slot);
	/* Free a taken page's contents (after it has been compressed). */
	void (*release)(struct fl_region *r, size_t pg, uint32_t slot);

	/* Drop resident pages [pg, pg+n): next access reads zeros. */
	int (*discard)(struct fl_region *r, size_t pg, size_t n);
	/*
	 * Move n resident pages from (src, spg) to (dst, dpg), which are
	 * untouched; afterwards the source pages are untouched.
	 */
	int (*move_pages)(struct fl_region *src, size_t spg, struct fl_region *dst,
			  size_t dpg, size_t n);

	/*
	 * Write-protect resident pages [pg, pg+n) of r (on), so that the next
	 * write to each faults to the pager with write set, or let writes
	 * through again (off, which wakes a writer waiting there).  Pages
	 * that are not resident are left as they are.  Optional: NULL when
	 * caps.cow_faults is 0.
	 */
	int (*write_protect)(struct fl_region *r, size_t pg, size_t n, int on);
	/* Wake threads waiting on a fault at addr that needs no resolution. */
	void (*wake)(uintptr_t addr, size_t len);

	/*
	 * Fork without bringing pages back (caps.fork_handoff).  The kernel
	 * gives a forked child a fault descriptor of its own, whose faults
	 * wait for a reader, and hands it to this process while fork runs.
	 * In the parent: fork_begin before the fork (a descriptor that comes
	 * without it is closed: a fork the shim did not see), fork_end after
	 * it (the child's descriptor, or -1), and fork_serve, lock held,
	 * answers the child's faults from content() until until_fd is
	 * readable: content fills scratch (one page) and returns 1, returns 0
	 * for a page of zeros, or -1 when it cannot say.  In the child:
	 * fork_adopt takes the descriptor over (async-signal-safe; the
	 * parent's threads and descriptors are forgotten, the engine's
	 * memory kept), start_forked starts handlers that wait for resume.
	 */
	void (*fork_begin)(void);
	int (*fork_end)(void);
	int (*fork_serve)(int cfd, int until_fd, int (*content)(uintptr_t page, void *scratch),
			  void *scratch);
	void (*fork_adopt)(int fd);
	int (*start_forked)(char *err, size_t errlen);
	void (*resume)(void);

	/* Descriptors the engine owns (for the shim's close guard); -1 ends. */
	void (*fds)(int out[4]);
};

extern const struct fl_engine fl__engine_uffd;
extern const struct fl_engine fl__engine_signal;
extern const struct fl_engine fl__engine_uffd_sigbus;

/*
 * Entry from an engine's fault path into the pager core.  addr: faulting
 * address; write: nonzero for a write access; fi (may be NULL) receives
 * what was done, for the fault log (events.h).  Returns 0 when the fault
 * was resolved (or needed nothing), 1 when addr is not managed memory or
 * the program's own protection forbids the access, -1 on an error the
 * engine should retry later.
 */
struct fl_fault_info;
int fl__pager_fault(uintptr_t addr, int write, struct fl_fault_info *fi);

/*
 * Work for an idle fault handler: fill the next window of a first-touch
 * stream before the program gets there (a chunk per call).  Returns
 * nonzero while more is queued.
 */
int fl__pager_fill_ahead(void);

/* How long the uffd handlers poll before sleeping, and how many there are
 * at most (0: one per CPU); set before start. */
extern unsigned fl__uffd_spin_us;
extern unsigned fl__uffd_handlers;
extern unsigned fl__uffd_fork_events; /* ask the kernel for forked children's faults */

#endif
