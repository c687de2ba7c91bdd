/*
 * The pager: managed regions, their per-page state, the budget, the clock
 * and the evictor, on top of one engine (engine.h) and the compressed store
 * (store.h).  One pager per process.  This is the library the shim's
 * interposition (and the tests, before any interposition) build on.
 */
#ifndef FL_PAGER_H
#define FL_PAGER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "faultline/faultline.h"
#include "options.h" /* struct fl_pager_config: the settings table sets it */
#include "store.h"

/* Defaults for every field: the settings table's (common/options.c). */
void fl_pager_config_default(struct fl_pager_config *cfg);

/*
 * Start the pager: pick the engine, start its threads, create the store.
 * Returns 0, or -1 with a message in err (the process then runs unmanaged:
 * fl_pager_map falls back to plain anonymous memory).
 */
int fl_pager_init(const struct fl_pager_config *cfg, char *err, size_t errlen);

/*
 * Stop: stop the threads, bring every evicted page back (so the memory stays
 * readable as plain anonymous memory), unregister.  Safe to call twice.
 */
void fl_pager_shutdown(void);

/* Which engine is running, and why it was chosen (for reporting). */
enum fl_engine_kind fl_pager_engine(void);
const char *fl_pager_engine_reason(void);

/*
 * Managed anonymous private memory, like mmap(NULL, len, PROT_READ |
 * PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS).  len is rounded up to pages.
 * Returns NULL on failure.  If the pager is not running or has degraded,
 * returns plain (unmanaged) anonymous memory.
 */
void *fl_pager_map(size_t len);

/*
 * Like mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS
 * | flags): flags may hold MAP_FIXED or MAP_FIXED_NOREPLACE (addr is a hint
 * otherwise).  kind is recorded for reports (FL_REGION_* in pager_int.h).
 * Returns MAP_FAILED with errno on failure; when the memory cannot be
 * managed it is mapped plainly instead.
 */
void *fl_pager_map_at(void *addr, size_t len, int flags, int kind);

/*
 * Take over an existing private anonymous read-write mapping (one made
 * before the pager was ready): its present pages become RESIDENT, the rest
 * UNTOUCHED.  Only engines that can adopt (uffd); -1 with errno otherwise
 * (ENOTSUP, EEXIST when part of it is managed already).
 */
int fl_pager_adopt(void *addr, size_t len, int kind);

/*
 * Unmap [addr, addr+len), like munmap: any part of managed mappings (they
 * are trimmed or split) and whatever else is there.  0 or -1.
 */
int fl_pager_unmap(void *addr, size_t len);

/*
 * madvise over any range: MADV_DONTNEED, MADV_FREE and MADV_REMOVE drop
 * managed pages and their held copies; huge-page and merge advice is
 * ignored for managed pages; the rest, and every part that is not managed,
 * goes to the kernel.  0 or -1.
 */
int fl_pager_advise(void *addr, size_t len, int advice);

/*
 * mmap(2) with MAP_FIXED of something the pager does not take (a file, a
 * PROT_NONE reservation) over [addr, addr+len): the managed memory there
 * stops being managed, under the pager lock so that no eviction sees the
 * range in between.  mmap's result.
 */
void *fl_pager_map_over(void *addr, size_t len, int prot, int flags, int fd, off_t off);

/*
 * mremap: a range inside one managed mapping moves or resizes with its
 * contents; a range with no managed memory goes to the kernel.
 */
void *fl_pager_remap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);

/* mprotect over managed (and other) memory.  0 or -1. */
int fl_pager_protect(void *addr, size_t len, int prot);

/* Does [addr, addr+len) overlap managed memory? */
int fl_pager_owns_range(const void *addr, size_t len);

/* Is fd one the pager needs (the shim must not let the program close it)? */
int fl_pager_owns_fd(int fd);

/* The spill file: pages held there, their payload bytes, and the file's
 * bytes in use (all 0 without one). */
void fl_pager_spill_stats(uint64_t *pages, uint64_t *bytes, uint64_t *file_bytes);
/* The same with its I/O counters (running totals), all from one look at
 * the spill file's counters (all 0 without one). */
void fl_pager_spill_get(struct fl_spill_stats *out);

/* fork hooks (pthread_atfork order: prepare, then parent or child). */
void fl_pager_fork_prepare(void);
void fl_pager_fork_parent(void);
void fl_pager_fork_child(void);
/* In the child, after every other fork handler of the shim's (jemalloc's
 * included: malloc works again): a child whose parent hands it its
 * evicted pages starts its own handlers here. */
void fl_pager_fork_child_late(void);

/*
 * Drop the contents of [addr, addr+len) (page aligned, inside one managed
 * mapping), like MADV_DONTNEED: the pages read as zero afterwards and their
 * compressed or inactive copies are freed.  0 or -1.
 */
int fl_pager_discard(void *addr, size_t len);

/* Is addr inside a managed mapping? */
int fl_pager_owns(const void *addr);

/*
 * Evict now, as the evictor would under pressure, until at most
 * target_pages are resident + inactive (tests and benchmarks use this to
 * reach a known state).  Returns pages evicted or -1.
 */
long fl_pager_reclaim(uint64_t target_pages);

/*
 * For the state file: every live region's page-state counts and strip, in
 * address order, up to max; *total gets how many there are.  Takes the
 * pager lock region by region.
 */
struct fl_state_region;
size_t fl__pager_region_states(struct fl_state_region *out, size_t max, size_t *total);

/*
 * For the fault log's emitter: call fn with the description of every live
 * region (events.h), under the pager lock (fn must not call into the
 * pager), after forgetting the region changes queued so far (the snapshot
 * supersedes them).
 */
struct fl_region_desc;
/*
 * For allocation sites: of [a, a + len), the bytes in resident or inactive
 * pages and in stored (compressed, same-filled) pages.  Takes the pager
 * lock in short holds; never from a fault path.
 */
void fl__pager_range_bytes(uintptr_t a, size_t len, uint64_t *resident, uint64_t *stored);
struct fl_region_desc;
void fl__pager_region_snapshot(void (*fn)(const struct fl_region_desc *d, void *arg), void *arg);

#endif
