/*
 * Memory for the shim's own tables.  It comes from one range reserved up
 * front, never from mmap(NULL) at the time of need: the kernel may place a
 * fresh mapping in a hole the program has just unmapped, and the program may
 * then unmap or map over that hole again (it once held its memory), taking
 * the shim's table with it.  Blocks are power-of-two numbers of pages,
 * reused by size; freed blocks are returned to the kernel with
 * MADV_DONTNEED and read as zero when handed out again.
 */
#ifndef FL_MEM_H
#define FL_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Zeroed memory of at least len bytes, page aligned; NULL on failure. */
void *fl__mem_alloc(size_t len);
/* Give back a block from fl__mem_alloc (len as passed to it). */
void fl__mem_free(void *p, size_t len);

/*
 * The shim's own mappings made outside this allocator (the store's) are
 * noted here so they can be reported apart from the program's memory.
 */
void fl__mem_note(void *p, size_t len);
void fl__mem_unnote(void *p);
/* Up to max ranges the shim holds for itself (this allocator's reserved
 * range and the noted mappings); returns how many there are. */
size_t fl__mem_ranges(uintptr_t *start, uintptr_t *end, size_t max);

/*
 * Nonzero on a thread while the shim itself is making threads or calling a
 * library that allocates (pthread_create, libunwind): what they allocate
 * or map must go to the kernel, not come back into the pager (which may
 * hold its lock meanwhile).  The interposed calls check it.
 */
extern __thread int fl__in_shim;

#endif
