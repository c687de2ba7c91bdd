/*
 * faultline's in-process API: what a program (or a test) preloaded with the
 * shim, or linked against the pager library, can ask of it.  Every function
 * here is safe to call from any thread and never allocates with malloc.
 */
#ifndef FAULTLINE_H
#define FAULTLINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FL_API __attribute__((visibility("default")))

/*
 * Memory pressure, derived from free headroom against the budget (the
 * budget less resident and inactive pages).  The levels have hysteresis:
 * WARN begins when the headroom falls below the low watermark (1/32 of
 * the budget) and ends only when it is back at the high watermark (1/16,
 * where the evictor stops) and has been above the low one, and the level
 * below CRITICAL, for 200 ms; CRITICAL lasts 200 ms after its last cause.
 * Without a budget the level is always NORMAL.
 */
enum fl_pressure {
	FL_PRESSURE_NORMAL = 0,   /* headroom back at the high watermark */
	FL_PRESSURE_WARN = 1,     /* below the low watermark: evictor behind */
	FL_PRESSURE_CRITICAL = 2, /* a fault had to reclaim, or eviction failed */
};

/* Kinds of resolved faults.  Counted per faulting access, not per page. */
enum fl_fault_kind {
	FL_FAULT_FIRST_TOUCH = 0, /* UNTOUCHED page zero-filled */
	FL_FAULT_SOFT = 1,        /* INACTIVE page moved back, no copy */
	FL_FAULT_DECOMPRESS = 2,  /* COMPRESSED page decompressed */
	FL_FAULT_SAME_FILLED = 3, /* same-filled page rebuilt from its word */
	FL_FAULT_SPILL = 4,       /* read back from the spill file */
	FL_FAULT_WP = 5,          /* write-protect fault */
	FL_FAULT__COUNT
};

/* Which engine manages memory in this process. */
enum fl_engine_kind {
	FL_ENGINE_OFF = 0,    /* unmanaged: the kernel pages everything */
	FL_ENGINE_UFFD = 1,   /* userfaultfd, kernel-mode faults included */
	FL_ENGINE_UFFD_USER = 2, /* userfaultfd limited to user-mode faults */
	FL_ENGINE_SIGNAL = 3, /* PROT_NONE + SIGSEGV */
	FL_ENGINE_UFFD_SIGBUS = 4, /* userfaultfd + SIGBUS: faults resolved in the faulting thread */
};

/*
 * A snapshot of the pager's counters.  Page counts are in pages of
 * page_size bytes.  "Resident" pages are mapped in the program; "inactive"
 * pages have been moved out of the program's view but are still held in
 * memory uncompressed.  The budget caps resident + inactive.
 */
struct fl_stats {
	uint64_t page_size;
	uint64_t budget_pages;     /* 0: no budget, nothing is evicted */
	uint64_t managed_pages;    /* virtual size of all managed regions */
	uint64_t regions;          /* live managed regions */
	uint64_t resident_pages;
	uint64_t resident_peak_pages; /* high-water mark of resident + inactive */
	uint64_t inactive_pages;
	uint64_t compressed_pages; /* pages held in the store with a payload */
	uint64_t same_filled_pages;/* pages held as one repeated word, no payload */
	uint64_t compressed_bytes; /* payload bytes of compressed pages */
	uint64_t store_bytes;      /* memory the store holds (slots in use + free) */
	uint64_t faults[FL_FAULT__COUNT];
	uint64_t pages_prefilled;  /* filled by fault-around, not faulted on */
	uint64_t pages_readahead;  /* brought back with a refault, not faulted on */
	uint64_t pages_evicted;    /* pages compressed (or made same-filled) */
	uint64_t pages_deactivated;/* pages moved to INACTIVE */
	uint64_t direct_reclaims;  /* times a fault had to evict first */
	uint64_t errors;           /* internal errors (see FAULTLINE_LOG) */
	uint64_t fault_ns_total;   /* time spent resolving faults */
	enum fl_pressure pressure;
	enum fl_pressure pressure_peak;
	enum fl_engine_kind engine;
	uint32_t compressor;       /* 0: lz4, 1: zstd */
	int32_t compressor_level;
};

/*
 * Fill *out with the current counters.  Returns 0, or -1 when no pager is
 * running in this process (out is then zeroed).
 */
FL_API int fl_stats_get(struct fl_stats *out);

/* Names for printing; never NULL. */
FL_API const char *fl_pressure_name(enum fl_pressure p);
FL_API const char *fl_fault_kind_name(enum fl_fault_kind k);
FL_API const char *fl_engine_name(enum fl_engine_kind e);

/*
 * Compressor efficiency as macOS reports it: bytes of pages held in the
 * store (compressed and same-filled) over the bytes the store uses for them.
 * Returns 0.0 when the store is empty.
 */
FL_API double fl_stats_efficiency(const struct fl_stats *s);

/*
 * Address ranges the shim holds: managed regions (by who asked for them)
 * and the shim's own memory (its tables, the compressed store, the
 * stash).  For tools that read /proc/PID/smaps and need to tell them apart.
 * Every kind but FL_RANGE_SHIM is managed memory.  Kinds are only ever
 * added; a value a reader does not know (a newer shim's) is named
 * "unknown" by fl_range_kind_name().
 */
enum fl_range_kind {
	FL_RANGE_PLAIN = 0,     /* managed, mapped through the pager API */
	FL_RANGE_ALLOCATOR = 1, /* managed, an extent of the allocator (jemalloc) */
	FL_RANGE_PROGRAM = 2,   /* managed, the program's own anonymous mmap */
	FL_RANGE_SHIM = 3,      /* the shim's own memory, not the program's */
	FL_RANGE_COMMITTED = 4, /* managed, a piece of a PROT_NONE reservation the
				 * program committed (made read-write with mprotect,
				 * or mapped read-write with MAP_FIXED over it) */
	FL_RANGE__COUNT
};

struct fl_range {
	uint64_t start, end; /* [start, end) */
	uint32_t kind;       /* enum fl_range_kind */
	uint32_t reserved;
	uint64_t resident_pages; /* managed ranges: pages RESIDENT; shim: 0 */
};

/*
 * Fill up to max ranges (managed regions in address order, then the
 * shim's own).  Returns how many there are (which may exceed max), or -1
 * when no pager is running in this process.
 */
FL_API long fl_ranges_get(struct fl_range *out, size_t max);
FL_API const char *fl_range_kind_name(enum fl_range_kind k);

/*
 * Pressure notifications.  fn(level, arg) is called at each change of the
 * level, once per change and in order, on a thread of the shim's (the
 * pressure notifier; never a fault handler, never with the pager's lock
 * held), so it may allocate, free, touch managed memory and take the
 * program's locks; it should return soon, as later changes wait for it.
 * Only changes are reported: the level at subscription is
 * fl_pressure_get()'s.  With FAULTLINE_PRESSURE_SIGNAL set the process is
 * also sent that signal at each change (sigqueue: the level is in
 * si_value.sival_int), and at each rise to WARN or CRITICAL the shim asks
 * its allocator (jemalloc) to purge its dirty pages, after the callbacks
 * (which may free memory) have run.
 *
 * subscribe: 0, or -1 with errno EINVAL (fn NULL), EEXIST (fn with arg
 *   subscribed already) or ENOSPC (FL_PRESSURE_SUBSCRIBERS_MAX of them).
 * unsubscribe: 0, or -1 with ENOENT.  Once it returns the callback is not
 *   running (unless it is the caller) and is not called again.
 * get: the level as the pager last derived it.
 * Neither subscribe nor unsubscribe may be called from a signal handler.
 * A forked child keeps its parent's subscribers.  A program not linked
 * against faultline finds these with dlsym(RTLD_DEFAULT, ...) (NULL when
 * the shim is not loaded):
 *
 *     static void on_pressure(enum fl_pressure level, void *cache)
 *     {
 *             if (level >= FL_PRESSURE_WARN)
 *                     cache_shrink(cache);    // free what can be rebuilt
 *     }
 *     ...
 *     int (*sub)(fl_pressure_fn, void *) =
 *             (int (*)(fl_pressure_fn, void *))dlsym(RTLD_DEFAULT, "fl_pressure_subscribe");
 *     if (sub && sub(on_pressure, &cache) != 0)
 *             perror("fl_pressure_subscribe");
 */
#define FL_PRESSURE_SUBSCRIBERS_MAX 16
typedef void (*fl_pressure_fn)(enum fl_pressure level, void *arg);
FL_API int fl_pressure_subscribe(fl_pressure_fn fn, void *arg);
FL_API int fl_pressure_unsubscribe(fl_pressure_fn fn, void *arg);
FL_API enum fl_pressure fl_pressure_get(void);

/*
 * Snapshots of managed memory, taken in O(1) per resident page: the
 * range's resident pages are write-protected, and each is copied into
 * the compressed store at its first write afterwards (or before the pager
 * evicts, discards, unmaps or moves it); pages already out of memory are
 * copied at once, untouched ones read as zero.  addr and len are page
 * aligned and inside one managed mapping, whose pages must be readable;
 * snapshots do not overlap.  Under the uffd engine only (elsewhere ENOTSUP:
 * a system call writing into a protected page must wait, not fail).  Not
 * inherited by fork: in a child every call fails with ECHILD.
 *
 * take: a handle, or NULL with errno (EINVAL, ENOENT: not one managed
 *   mapping, EBUSY: overlaps another snapshot, EACCES, ENOTSUP, ENOMEM).
 * read: the page at addr (page aligned, in the range) as it was when the
 *   snapshot was taken, into buf (one page).  0, or -1 with errno.
 * restore: put every page of the range back as it was (no other thread
 *   should write the range meanwhile); the snapshot stays.  0 or -1.
 * drop: free the copies and lift the protection.
 *
 *     struct fl_snapshot *s = fl_snapshot_take(buf, 64 << 12);
 *     update(buf);                        // pages copied as they are written
 *     if (!valid(buf))
 *             fl_snapshot_restore(s);     // buf is as it was at take
 *     fl_snapshot_drop(s);
 */
struct fl_snapshot;
FL_API struct fl_snapshot *fl_snapshot_take(void *addr, size_t len);
FL_API int fl_snapshot_read(struct fl_snapshot *s, const void *addr, void *buf);
FL_API int fl_snapshot_restore(struct fl_snapshot *s);
FL_API void fl_snapshot_drop(struct fl_snapshot *s);

#ifdef __cplusplus
}
#endif
#endif
