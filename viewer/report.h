/*
 * faultline report: what it gathers per process (report_data.c) and
 * writes as text (report_text.c) or JSON (report_json.c).  The data is
 * plain structs, so each writer only formats.
 */
#ifndef FL_REPORT_H
#define FL_REPORT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "progress.h"

#define RP_KINDS 16       /* fault kinds a report keeps apart (fault_kinds has 6) */
#define RP_BUCKETS 60     /* columns of the fault timeline */
#define RP_TOP 10         /* stacks in each top list, unless --top says */
#define RP_FRAMES 8       /* frames printed per stack in text */
#define RP_MAX_REGIONS 40 /* regions listed at peak; the rest summed up */
#define RP_KIND_WP 5      /* fault_kinds: write-protect (copy-on-write) */

struct rp_totals {
	int64_t faults, pages, writes, time_ns, max_ns;
};

struct rp_frame {
	int depth, inline_depth;
	char *name;   /* function, or [module+0xoff], or [0xpc] */
	char *file;   /* NULL when unknown */
	int64_t line; /* 0 when unknown */
};

struct rp_stack {
	int64_t stack; /* the shim's id; 0: faults without a stack */
	struct rp_totals t;
	int64_t kind_faults[RP_KINDS];
	struct rp_frame *frames; /* innermost first; loaded for stacks shown */
	int nframes;
	int unnamed; /* some frames not symbolized yet (the daemon names them later) */
};

struct rp_region {
	int64_t region_id, start, len, prot;
	char *kind;
	int64_t faults, pages; /* in the window, under this region id */
};

struct rp_region_kind {
	char *kind;
	int64_t count, bytes, faults;
};

/* Copy-on-write faults of one process (the reported one or a child). */
struct rp_cow {
	int64_t id, pid;
	struct rp_stack *stacks; /* with write-protect faults, most first */
	size_t nstacks;
	int64_t faults, pages;
	int64_t scale;         /* faults one sampled stack stands for (1: exact) */
	int64_t sampled;       /* write-protect faults with a stack */
};

/* One allocation site (the alloc_sites view): whole run.  est_*: what its
 * sampled allocations stand for (estimates); the others were logged. */
struct rp_site {
	struct rp_stack s;     /* s.stack: the allocation stack; -1: the unsampled */
	int64_t samples, bytes_allocated, bytes_live_at_end;
	int64_t faults, est_faults, pages, est_pages, time_ns, est_time_ns;
	int64_t resident_at_peak, compressed_at_peak; /* bytes, estimated */
};

struct rp_proc {
	int64_t id, pid, ppid, parent_id, parent_pid; /* parent_id 0: unknown */
	char *exe, *cmdline, *argv_json, *engine, *compressor, *how;
	int64_t compressor_level, budget_bytes, page_size, stacks_every;
	int64_t start_ns, end_ns; /* end_ns: the end, or the last event of a process still running */
	int ended;                /* end_ns is the process's end */
	int has_status;
	int64_t exit_status;
	int64_t dropped_events, dropped_stacks, dropped_other;
	int64_t t0, t1; /* the window reported: [t0, t1] */

	/* samples in the window */
	int64_t nsamples;
	int64_t peak_t, peak_resident, peak_inactive, peak_hwm;
	int64_t peak_compressed, peak_same_filled, peak_compressed_bytes, peak_store_bytes;
	int64_t max_stored, max_stored_t; /* compressed + same-filled pages, at most */
	int64_t max_compressed, max_same_filled, max_compressed_bytes; /* at that moment */
	int64_t budget_pages, evicted;
	int64_t pressure_samples[3]; /* NORMAL, WARN, CRITICAL */
	int pressure_max;            /* -1: no samples */
	int64_t spill_faults;        /* samples' faults_spill in the window */

	/* the spill file (spill_samples in the window; nspill 0: none, as
	 * for a process that never spilled or a log older than the table) */
	int64_t nspill;
	int64_t spill_max_pages, spill_max_t, spill_max_bytes; /* the most pages held there; their payload */
	int64_t spill_file_max;                                /* the files' blocks in use, at most (bytes) */
	int64_t spill_write_errors, spill_read_errors;         /* in the window */

	/* faults in the window */
	struct rp_totals total;
	struct rp_totals kinds[RP_KINDS];
	struct rp_stack *stacks; /* all stacks seen, unordered */
	/* With one fault in N sampled (N > 1) every stack stands for N faults:
	 * scale is N (1 when stacks are taken for every fault or none), and
	 * the top lists leave out the faults without a stack, which the
	 * sampled ones stand for.  sampled: the faults that have a stack. */
	int64_t scale;
	struct rp_totals sampled;
	size_t nstacks;
	struct rp_stack **by_faults, **by_time; /* the top r->top of each (no stack 0 when scale > 1) */
	size_t ntop_faults, ntop_time;
	int64_t timeline[RP_KINDS][RP_BUCKETS];
	int64_t bucket_ns;

	/* regions alive at the peak (or at t1 without samples) */
	int64_t regions_t;
	struct rp_region *regions; /* by address; at most RP_MAX_REGIONS */
	size_t nregions;
	int64_t regions_alive, regions_bytes, regions_hidden, regions_hidden_bytes;
	struct rp_region_kind *region_kinds;
	size_t nregion_kinds;
	int64_t faults_elsewhere; /* in regions not alive at that moment */

	/* allocation sites (whole run): by estimated faults, and by bytes at
	 * the peak (alloc_peak_ns: 0 when no sample recorded one) */
	int has_allocs;               /* the log has allocation sites for it */
	struct rp_site *sites;        /* all, most faults first */
	size_t nsites;
	struct rp_site **by_peak;     /* with bytes at the peak, most first */
	size_t nby_peak;
	int64_t alloc_peak_ns;
	int64_t alloc_dropped;        /* samples the shim's table had no room for */

	/* children, and what fork copied (whole run) */
	int64_t *child_pids;
	size_t nchildren;
	struct rp_cow *cow; /* this process first, then its children */
	size_t ncow;
};

struct rp_report {
	const char *path;
	int64_t schema_version;
	char kind_names[RP_KINDS][24];
	int nkinds; /* names known for kinds [0, nkinds) */
	int window; /* --since or --until given */
	int top;    /* stacks in each top list */
	char since[64], until[64];
	struct rp_proc *procs;
	size_t nprocs;
};

/* A --since / --until value: relative to each process's start, or absolute. */
struct rp_time {
	int set, relative;
	int64_t ns;
};

/* Parse "2.5s", "300ms", "+1.5" (seconds after the start), "@EPOCH" or
 * "YYYY-MM-DD HH:MM[:SS[.frac]]" (local time); 0, or -1. */
int rp_time_parse(const char *s, struct rp_time *t);

/*
 * Gather the report: the processes with pid (pid < 0: all) that overlap
 * the window.  0, or -1 with err.
 */
int rp_gather(sqlite3 *db, struct rp_report *r, long long pid, const struct rp_time *since,
	      const struct rp_time *until, struct fl_progress *pg, char *err, size_t errlen);
void rp_free(struct rp_report *r);

const char *rp_kind_name(const struct rp_report *r, int kind);
const char *rp_pressure_name(int level);

void rp_write_text(const struct rp_report *r, FILE *out);
void rp_write_json(const struct rp_report *r, FILE *out);

#endif
