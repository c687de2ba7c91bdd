/*
 * The symbolizer: turns a file address inside an ELF file (a program or a
 * shared library) into the chain of functions and source lines it belongs
 * to, inlined calls included, using the file's DWARF (or the separate
 * debuginfo Debian's -dbgsym packages install under /usr/lib/debug) and
 * falling back to the symbol table.  faultlined calls it off the hot path,
 * for stacks the shim sent as raw PCs.
 *
 * Each opened file stays open in the symbolizer (up to a fixed number, the
 * least recently used closed first) so resolving many addresses in the same
 * file costs a DWARF lookup each, not an open.  A file replaced on disk
 * (an upgraded library) is opened again when a caller names the new build
 * id, while the old one still serves callers naming the old id; without
 * build ids, a change is noticed within a second.
 *
 * Thread safety: none; one symbolizer per thread.  Returns error codes and
 * messages, never logs.
 */
#ifndef FL_SYMBOLIZE_H
#define FL_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

struct fl_sym_frame {
	char function[256]; /* "" in the rare frame neither DWARF nor the symbol table names */
	char file[512];     /* path from the line table, "" when unknown; relative
			     * where the build recorded it so (Debian's own
			     * packages: "./stdlib/getenv.c") */
	int line;           /* 0 when unknown */
	int inlined;        /* 1: an inlined call inside the next frame */
};

struct fl_symbolizer;

/* A symbolizer with no files open, or NULL when out of memory. */
struct fl_symbolizer *fl_sym_new(void);

/*
 * The clock the symbolizer ages its open files by: now(arg) returns
 * monotonic nanoseconds.  It decides when a file named without a build id
 * is compared with the disk again (at most once a second).  By default,
 * and after now == NULL, it is CLOCK_MONOTONIC_COARSE; tests set a clock
 * of their own and advance it instead of sleeping.  now must not go back.
 */
void fl_sym_set_clock(struct fl_symbolizer *s, uint64_t (*now)(void *arg), void *arg);

/* Closes every file the symbolizer holds and frees it.  NULL is a no-op. */
void fl_sym_free(struct fl_symbolizer *s);

/*
 * Resolve file address `addr` (pc - module load bias; the caller has
 * already subtracted 1 for return addresses) in the ELF at path.
 *
 * When build_id_len > 0 the file's build id (NT_GNU_BUILD_ID) must match
 * (else -1, err "build id mismatch: ...").
 *
 * Fills up to max frames, innermost inlined call first, the containing real
 * function last: for an address in g, inlined into f, inlined into main,
 * [g at the address's line, f at g's call site, main at f's call site],
 * inlined set on the first two.  When the chain is deeper than max, the
 * innermost max frames are filled.  Without a DWARF function for addr
 * (no debuginfo, an assembler source) the one frame is the symbol table's
 * name, with the line table's file and line if it has them, else "" and 0.
 *
 * Returns the number filled (0: no symbol known for addr, which includes
 * addresses outside the file's executable segments and the padding
 * between functions; or max is 0), or
 * -1 with a one-line message in err (file missing, not ELF, build id
 * mismatch, bad arguments).  err may be NULL; a message longer than errlen
 * is cut.  Not thread-safe: one symbolizer per thread.
 */
int fl_sym_resolve(struct fl_symbolizer *s, const char *path, const uint8_t *build_id, size_t build_id_len,
		   uint64_t addr, struct fl_sym_frame *out, int max, char *err, size_t errlen);

#endif
