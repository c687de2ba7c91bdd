/*
 * State the shim's interposition shares with its life cycle (shim.c).
 */
#ifndef FL_SHIM_H
#define FL_SHIM_H

/* Set once the pager runs in this process: interposed calls may use it. */
extern int fl__shim_ready;

/*
 * The shim's memory calls (interpose.c): the program's mmap family and
 * jemalloc's (its calls are renamed to these at build time) both land here.
 * kind: the FL_REGION_* a new managed mapping is recorded as.
 */
#include <sys/types.h>
void *fl__shim_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, int kind);
int fl__shim_munmap(void *addr, size_t len);
int fl__shim_madvise(void *addr, size_t len, int advice);
int fl__shim_mprotect(void *addr, size_t len, int prot);

/* Hand the pager what was mapped before it was ready (before fl__shim_ready). */
void fl__shim_adopt_early(void);

#define FL_EXPORT __attribute__((visibility("default")))

#endif
