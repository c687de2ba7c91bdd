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

/* Zeroed memory of at least len bytes, page aligned; NULL on failure. */
void *fl__mem_alloc(size_t len);
/* Give back a block from fl__mem_alloc (len as passed to it). */
void fl__mem_free(void *p, size_t len);

#endif
