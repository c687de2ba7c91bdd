/*
 * What `faultline vmmap` shows, gathered: a process's memory map as
 * /proc/PID/smaps describes it, cut into vmmap-style regions and merged
 * with the page states a preloaded process publishes (viewer/state.h),
 * plus the summary figures.  Plain structs, no output: the layout
 * (vmmap_layout.h) turns them into text or JSON, so both can be tested on
 * fixture text without a live process.
 */
#ifndef FL_VIEWER_VMMAP_DATA_H
#define FL_VIEWER_VMMAP_DATA_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "faultline/state.h"

/* Protection bits, as in PROT_READ/WRITE/EXEC but ours to print. */
#define FL_VMMAP_R 1u
#define FL_VMMAP_W 2u
#define FL_VMMAP_X 4u

/* One kernel VMA: a /proc/PID/smaps entry.  Sizes in bytes. */
struct fl_vmmap_vma {
	uint64_t start, end;
	unsigned prot;         /* FL_VMMAP_* now */
	unsigned max_prot;     /* what mprotect may still grant (VmFlags mr/mw/me) */
	int shared;            /* 's' in the permissions: MAP_SHARED */
	uint64_t offset, inode;
	unsigned dev_major, dev_minor;
	char *path;            /* "" for anonymous memory; owned */
	uint64_t rss, pss, shared_clean, shared_dirty, private_clean, private_dirty;
	uint64_t anonymous, swap, locked, anon_huge, hugetlb;
	uint64_t kernel_page_size;
	int uffd;              /* VmFlags um/uw: registered with a userfaultfd */
	int noreserve;         /* VmFlags nr: no swap space reserved (MAP_NORESERVE) */
	int grows_down;        /* VmFlags gd */
	int has_vmflags;       /* a VmFlags line was seen (max_prot is real) */
};

struct fl_vmmap_vmas {
	size_t n, cap;
	struct fl_vmmap_vma *v;
};

/*
 * Parse smaps text (the whole file) into vmas, in file (address) order.
 * Returns 0, or -1 with a one-line reason in err (a malformed header
 * line, out of memory).  Unknown field lines are skipped: the kernel adds
 * some from time to time.
 */
int fl_vmmap_data_parse_smaps(const char *text, size_t len, struct fl_vmmap_vmas *out, char *err,
			      size_t errlen);
void fl_vmmap_data_free_vmas(struct fl_vmmap_vmas *v);

/* The REGION TYPE column, as macOS vmmap names its kinds where Linux has them. */
enum fl_vmmap_type {
	FL_VMMAP_TEXT,      /* executable mapping of a program or library (or [vdso]) */
	FL_VMMAP_DATA,      /* the rest of a program or library: rodata, relro, data, bss */
	FL_VMMAP_HEAP,      /* the brk heap, [heap] */
	FL_VMMAP_STACK,     /* [stack], or a thread's stack (found by its stack pointer) */
	FL_VMMAP_GUARD,     /* PROT_NONE next to a stack or small, or a library's padding */
	FL_VMMAP_RESERVED,  /* larger PROT_NONE anonymous reservations */
	FL_VMMAP_FILE,      /* mapped file that is not a loaded module */
	FL_VMMAP_SHM,       /* shared memory: MAP_SHARED anonymous, /dev/shm, SysV, memfd */
	FL_VMMAP_ANON,      /* private anonymous memory nobody claims */
	FL_VMMAP_UFFD,      /* registered with a userfaultfd, no state to say by whom */
	FL_VMMAP_ARENA,     /* managed: a jemalloc extent (FL_RANGE_ALLOCATOR) */
	FL_VMMAP_PROGRAM,   /* managed: the program's own mmap (FL_RANGE_PROGRAM) */
	FL_VMMAP_COMMITTED, /* managed: a committed piece of a reservation (FL_RANGE_COMMITTED) */
	FL_VMMAP_MANAGED,   /* managed: through the pager API (FL_RANGE_PLAIN) */
	FL_VMMAP_SHIM,      /* faultline's own memory (FL_RANGE_SHIM) */
	FL_VMMAP__TYPES
};
const char *fl_vmmap_data_type_name(enum fl_vmmap_type t);

/*
 * SM= share mode, macOS's letters mapped onto what smaps can tell:
 *   NUL  nothing there: no resident, swapped, or (managed) held pages.
 *   PRV  private pages only this process has: anonymous memory it
 *        touched, or a private file mapping every resident page of which
 *        it has written (each page its own copy).
 *   COW  private pages still shared with someone: a private file mapping
 *        with clean (unwritten) pages, which the page cache holds and a
 *        write would copy, or anonymous pages shared with a parent or
 *        child since fork (Shared_* in a private mapping).
 *   SHM  a MAP_SHARED mapping: writes are seen by every process mapping it.
 *   ZER  managed memory whose only held pages are same-filled (all zero,
 *        or one repeated word): they cost no store space and are rebuilt
 *        on the next touch, which is what macOS's zero-fill means.
 * macOS's ALI (aliased) and S/A have no Linux counterpart smaps shows; a
 * hugetlb mapping is shown with its share mode like any other (its
 * KernelPageSize says what it is) rather than given a letter of its own.
 */
enum fl_vmmap_share { FL_VMMAP_SM_NUL, FL_VMMAP_SM_PRV, FL_VMMAP_SM_COW, FL_VMMAP_SM_SHM, FL_VMMAP_SM_ZER };
const char *fl_vmmap_data_share_name(enum fl_vmmap_share s);

/* One row of the table.  Sizes in bytes. */
struct fl_vmmap_row {
	uint64_t start, end;
	enum fl_vmmap_type type;
	enum fl_vmmap_share share;
	unsigned prot, max_prot;
	uint64_t vsize;
	uint64_t rsize;        /* resident: smaps Rss; managed: the shim's resident pages */
	uint64_t csize;        /* managed: payload of its compressed pages; else 0 */
	uint64_t swapped;      /* smaps Swap (the kernel's swap, not the shim's store) */
	uint64_t dirty;        /* written: smaps *_Dirty; managed: pages the shim holds */
	uint64_t lazy;         /* reserved, never touched (see fl_vmmap_summary.lazy) */
	int noreserve;         /* from MAP_NORESERVE memory */
	int managed;           /* from the state file: the fields below are set */
	uint64_t region_id;
	uint32_t kind;         /* enum fl_range_kind */
	uint64_t resident_pages, inactive_pages, compressed_pages, same_filled_pages, untouched_pages;
	int tid;               /* a thread stack: its thread id */
	char *detail;          /* owned; never NULL in a built map */
};

/* Totals of one REGION TYPE. */
struct fl_vmmap_type_total {
	uint64_t count, vsize, rsize, csize, swapped;
};

struct fl_vmmap_summary {
	/* The four sizes of a process. */
	uint64_t vss;          /* virtual size: every mapping */
	uint64_t rss;          /* resident: the sum of the RSIZE column */
	/*
	 * Lazy set: memory the process has reserved but never touched.  For
	 * managed regions, the shim's untouched pages; for other private
	 * anonymous writable mappings (heap, stacks, bss, anonymous),
	 * VSIZE - Rss - Swap.  File mappings are left out (their other
	 * pages are on disk, not lazily zero) and so is PROT_NONE (it cannot
	 * be touched before an mprotect).  lazy_noreserve is the part in
	 * MAP_NORESERVE mappings: address space reserved without committing
	 * memory (allocators and the shim reserve large ranges that way).
	 */
	uint64_t lazy, lazy_noreserve;
	uint64_t swapped;      /* the kernel's swap (smaps Swap) */
	uint64_t compressed;   /* the shim's store: payload of compressed pages */
	uint64_t compressed_orig; /* the bytes of those pages before compression */
	/* Writable regions. */
	uint64_t w_vsize, w_written, w_resident, w_compressed, w_swapped;
	struct fl_vmmap_type_total types[FL_VMMAP__TYPES];
	/* Managed memory (when the state file was read). */
	uint64_t managed_regions, managed_vsize, managed_resident, managed_inactive;
	uint64_t managed_compressed_pages, managed_same_pages, managed_untouched;
	/* The jemalloc-kind regions: the allocator's arenas' extents. */
	uint64_t arena_regions, arena_vsize, arena_rsize, arena_csize;
};

/* A process as vmmap shows it. */
struct fl_vmmap {
	pid_t pid;
	uint64_t now_real_ns;  /* when it was gathered (CLOCK_REALTIME) */
	char comm[64];
	char exe[PATH_MAX];    /* "" when unreadable */
	uint64_t page_size;
	int preloaded;         /* libfaultline.so is mapped */
	int has_state;         /* the state file was read and used: state is valid */
	struct fl_state *state;/* owned, NULL without state */
	size_t nrows, cap;
	struct fl_vmmap_row *rows;
	struct fl_vmmap_summary sum;
};

/* A thread's stack pointer, to tell thread stacks from anonymous memory. */
struct fl_vmmap_thread {
	int tid;
	uint64_t sp;
};

/*
 * Build the rows and summary from parsed vmas, the state (NULL: none;
 * it is copied) and thread stack pointers (may be empty).  page_size is
 * the system's.  A state whose regions are out of order, overlap, or
 * hold more pages than they span is refused: 1 is returned with the
 * reason in err and the map is built without it.  Returns 0, 1, or -1
 * (out of memory, err says so).
 */
int fl_vmmap_data_build(struct fl_vmmap *m, const struct fl_vmmap_vmas *vmas, const struct fl_state *st,
			const struct fl_vmmap_thread *threads, size_t nthreads, uint64_t page_size, char *err,
			size_t errlen);

/*
 * Gather pid's map: read /proc/PID/smaps, comm, exe, the threads' stack
 * pointers and the state file, and build.  Returns 0, or -1 with errno
 * and a one-line reason in err: ESRCH (no such process), EACCES (not
 * ours to inspect), ENODATA (no memory map: a zombie or kernel thread),
 * or another error reading.  A state file that cannot be used (stale,
 * corrupt, another version) is not an error: its reason goes to note
 * (empty when there is nothing to say) and the map is shown without it.
 */
int fl_vmmap_data_gather(pid_t pid, struct fl_vmmap *m, char *err, size_t errlen, char *note, size_t notelen);

void fl_vmmap_data_free(struct fl_vmmap *m);

#endif
