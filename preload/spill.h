/*
 * The spill file: where the compressed store puts its coldest payloads
 * when it is over its capacity (store.c calls it; nothing else does).
 *
 * A spill file has no name from the moment it exists (O_TMPFILE, else
 * created and unlinked at once), so nothing is left behind after any
 * exit.  Payloads are written a batch at a time, packed one after another
 * into a run of 4 KiB blocks; each block counts the payloads with bytes in
 * it, and a block whose count falls to zero is free again (its space
 * returned with a punched hole).  A location is the file's number in the
 * top byte and the byte offset below.
 *
 * After a fork both processes hold the same open file, so the file that
 * was being written is frozen in both (fl_spill_fork_prepare): each reads
 * what it inherited from it, neither writes, reuses or punches it again,
 * and each writes a file of its own from then on.  A frozen file is
 * closed once this process holds nothing in it.
 *
 * The file is opened with O_DIRECT where the file system allows it (not
 * tmpfs), so what is spilled does not sit in the page cache as well: the
 * page cache would hold the very memory the budget keeps out, charged to
 * the program's memory cgroup if it has one.  Reads and writes are
 * therefore in whole blocks, from and into buffers aligned to a block.
 *
 * Errors are negative errno values; nothing here logs.  Thread safety:
 * one lock for the block counts; reads take no lock (the caller holds a
 * live location); one writer at a time (the evictor).
 */
#ifndef FL_SPILL_H
#define FL_SPILL_H

#include <stddef.h>
#include <stdint.h>

struct fl_spill;

/* No file is opened until the first write.  NULL when out of memory. */
struct fl_spill *fl_spill_create(const char *dir, uint64_t max_bytes);
void fl_spill_destroy(struct fl_spill *sp);

#define FL_SPILL_BLOCK 4096u
/* Payloads this near one another in a file count as near: a fault's
 * spilled neighbours within it come along (fault.c), and one read covers
 * twice it (store.c), so a fault and its near neighbours take one read. */
#define FL_SPILL_NEAR_BYTES (64u << 10)

/* A location: the file's number and a byte offset in it. */
static inline uint64_t fl_spill_loc(unsigned file, uint64_t off) { return ((uint64_t)file << 56) | off; }
static inline unsigned fl_spill_loc_file(uint64_t loc) { return (unsigned)(loc >> 56); }
static inline uint64_t fl_spill_loc_off(uint64_t loc) { return loc & ((1ull << 56) - 1); }

/*
 * Write n payloads, packed one after another in buf (sizes[i] bytes each),
 * in one go; locs[i] receives where each went.  buf is aligned to
 * FL_SPILL_BLOCK and has room for the payloads' total rounded up to a
 * block: the rest of the last block is zeroed and written with them.
 * 0, or a negative errno: -ENOSPC when the cap or the file system is
 * full, -EIO and others as the kernel says.  On failure nothing is kept.
 */
int fl_spill_write(struct fl_spill *sp, void *buf, const uint32_t *sizes, size_t n, uint64_t *locs);
/*
 * Read the blocks [off, off + len) of file number file into buf (off and
 * len multiples of FL_SPILL_BLOCK, buf aligned to one).  Returns the
 * bytes read, fewer than len only at the file's end, or a negative errno.
 * Bytes of payloads the caller holds are as written; the rest may be
 * anything.
 */
long fl_spill_read_blocks(struct fl_spill *sp, unsigned file, uint64_t off, size_t len, void *buf);
/*
 * Several reads at once: runs of blocks scattered over the file (pages
 * wanted together that went out at different times) are read in parallel
 * with Linux AIO where the file is O_DIRECT, one after another otherwise.
 * A reader is one thread's (zeroed to start, closed with
 * fl_spill_reader_close); a forked child makes its own on first use.
 */
#define FL_SPILL_RUNS 32u
struct fl_spill_run {
	uint64_t loc;  /* file number and block-aligned offset, as a location */
	size_t len;    /* a multiple of FL_SPILL_BLOCK */
	void *buf;     /* aligned to a block */
	long got;      /* out: bytes read (fewer only at the file's end), or a negative errno */
};
struct fl_spill_reader {
	unsigned long aio; /* aio_context_t; 0: none yet */
	long pid;          /* the process it belongs to */
	int broken;        /* AIO refused: read one after another */
	uint64_t cbs[FL_SPILL_RUNS][8], evs[FL_SPILL_RUNS][4]; /* struct iocb, struct io_event */
	void *cbp[FL_SPILL_RUNS];
};
/* Read runs[0..n) (n <= FL_SPILL_RUNS), each's got filled in. */
void fl_spill_read_runs(struct fl_spill *sp, struct fl_spill_reader *rd, struct fl_spill_run *runs, size_t n);
void fl_spill_reader_close(struct fl_spill_reader *rd);

/* The payload at loc is no longer wanted. */
void fl_spill_free(struct fl_spill *sp, uint64_t loc, uint32_t size);

/* Before fork (no write under way): freeze the file being written. */
void fl_spill_fork_prepare(struct fl_spill *sp);
/* In a forked child: the lock is free. */
void fl_spill_fork_child(struct fl_spill *sp);

/* Is fd one of the spill's files? */
int fl_spill_owns_fd(const struct fl_spill *sp, int fd);

struct fl_spill_stats {
	uint64_t payloads;     /* held in files */
	uint64_t payload_bytes;
	uint64_t file_bytes;   /* blocks in use, all files */
	uint64_t writes, write_errors, reads, read_errors;
	int files;             /* open */
};
void fl_spill_stats(struct fl_spill *sp, struct fl_spill_stats *out);

#endif
