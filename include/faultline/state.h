/*
 * The shim's live state, published for viewers on the same machine
 * (`faultline vmmap`, `faultline top`): one file per preloaded process,
 * /dev/shm/faultline-<uid>-<pid>.state (mode 0600), mapped shared.  The
 * shim's emitter thread rewrites it every sample period (FAULTLINE_SAMPLE_MS)
 * under a sequence lock and removes it at exit; a reader copies it out and
 * retries while seq is odd or changed during the copy.  A file whose pid
 * is gone, or whose pid now belongs to a process started after
 * start_real_ns, is stale (a killed process cannot remove it).
 *
 * The figures are the shim's page states, authoritative for managed
 * regions: /proc/PID/smaps cannot tell an inactive or compressed page from
 * one never touched.
 */
#ifndef FAULTLINE_STATE_H
#define FAULTLINE_STATE_H

#include <stdint.h>

#include "faultline/faultline.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FL_STATE_MAGIC 0x54534c46u /* "FLST" in memory */
#define FL_STATE_VERSION 2u
#define FL_STATE_MAX_REGIONS 4096u
#define FL_STATE_STRIP 64u         /* buckets in a region's page map */
/* The file of process pid of user uid: printf with (unsigned uid, int pid). */
#define FL_STATE_DIR "/dev/shm"
#define FL_STATE_PREFIX "faultline-"
#define FL_STATE_PATH_FMT FL_STATE_DIR "/" FL_STATE_PREFIX "%u-%d.state"

/* What a strip bucket shows: the state most of its pages are in. */
enum fl_state_page {
	FL_STATE_UNTOUCHED = 0,
	FL_STATE_RESIDENT = 1,
	FL_STATE_INACTIVE = 2,
	FL_STATE_COMPRESSED = 3,
	FL_STATE_SAME_FILLED = 4,
};

/* "resident", "same-filled", ...; never NULL ("?" for a bad value). */
const char *fl_state_page_name(unsigned state);

struct fl_state_region {
	uint64_t id;           /* the fault log's region id */
	uint64_t start, len;   /* bytes */
	uint32_t kind;         /* enum fl_range_kind */
	uint32_t prot;         /* PROT_* of its first page */
	uint64_t resident, inactive, compressed, same_filled; /* pages */
	uint64_t untouched;    /* pages never touched (or discarded) */
	uint64_t compressed_bytes; /* store payload of its compressed pages */
	uint64_t spilled;      /* pages in the spill file (not in compressed) */
	uint64_t spilled_bytes;/* their payload there */
	/* The region cut in FL_STATE_STRIP equal parts, one enum
	 * fl_state_page each (the last part may be shorter). */
	uint8_t strip[FL_STATE_STRIP];
};

/* One jemalloc arena (the allocator inside the shim). */
#define FL_STATE_MAX_ARENAS 64u
struct fl_state_arena {
	uint32_t index;
	uint32_t threads;          /* threads bound to it */
	uint64_t mapped;           /* bytes of extents it holds */
	uint64_t active;           /* bytes in pages with live allocations */
	uint64_t allocated;        /* bytes the program holds (small + large) */
	uint64_t allocations;      /* live allocations (mallocs - frees) */
};

struct fl_state {
	uint32_t magic;        /* FL_STATE_MAGIC */
	uint32_t version;      /* FL_STATE_VERSION */
	uint64_t seq;          /* odd while the shim writes */
	int32_t pid;
	uint32_t nregions;     /* valid entries in regions[] */
	uint32_t truncated;    /* regions left out (more than the maximum) */
	uint32_t sample_ms;    /* how often it is rewritten */
	uint64_t start_real_ns;/* when the process started (CLOCK_REALTIME) */
	uint64_t t_real_ns;    /* when this copy was written */
	struct fl_stats stats; /* the process's counters (compressed_pages: in memory) */
	/* The spill file: pages there, their payload, and the file's size in use. */
	uint64_t spilled_pages, spilled_bytes, spill_file_bytes;
	/*
	 * The allocator's own figures (jemalloc's mallctl stats), when
	 * allocator_ok: reading them touches jemalloc's metadata, which is
	 * managed memory, so they are only gathered where a shim thread may
	 * fault (the uffd engine).  % full of an arena = allocated / active.
	 */
	uint32_t allocator_ok;
	uint32_t narenas;          /* entries in arenas[] (arenas in use) */
	uint64_t alloc_allocated, alloc_active, alloc_resident, alloc_mapped, alloc_retained;
	struct fl_state_arena arenas[FL_STATE_MAX_ARENAS];
	/* Managed regions, and the shim's own memory (kind FL_RANGE_SHIM,
	 * page counts 0: the kernel pages it), in address order. */
	struct fl_state_region regions[FL_STATE_MAX_REGIONS];
};

#ifdef __cplusplus
}
#endif
#endif
