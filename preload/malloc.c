/*
 * The allocator: jemalloc (Debian's libjemalloc_pic.a) is linked into the
 * shim and serves malloc and friends.  At build time (objcopy
 * --redefine-sym on pages.pic.o) its mmap becomes fl__je_mmap here and its
 * munmap, madvise and mprotect the shim's own (interpose.c), so every
 * extent it maps comes from the pager as an allocator region, its purges
 * drop compressed copies too, and nothing it maps escapes, arena 0's
 * metadata included.  Memory
 * jemalloc maps before the shim's constructor runs (a library constructor
 * that mallocs first) stays plain memory.
 *
 * malloc, free and the others that make or end an allocation are renamed
 * too (fl__je_NAME) and wrapped here, for allocation sampling (alloc.h):
 * a countdown per thread on the way out, a probe of the sample table on
 * free only while some sample is live.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"
#include "pager.h"
#include "pager_int.h"
#include "pressure.h"
#include "shim.h"

/*
 * jemalloc's options: keep virtual memory (retain) rather than unmapping
 * it, no sbrk (dss), no separate huge arena (oversize_threshold:0) and no
 * transparent huge pages: the pager works in 4 KiB pages.
 */
FL_EXPORT const char *malloc_conf = "retain:true,dss:disabled,oversize_threshold:0,thp:never,metadata_thp:disabled";

/* jemalloc's mmap (renamed at build time): its extents are allocator regions. */
void *fl__je_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return fl__shim_mmap(addr, len, prot, flags, fd, off, FL_REGION_ALLOCATOR);
}

void *fl__je_malloc(size_t n);
void fl__je_free(void *p);
void *fl__je_calloc(size_t n, size_t size);
void *fl__je_realloc(void *p, size_t n);
int fl__je_posix_memalign(void **out, size_t align, size_t n);
void *fl__je_aligned_alloc(size_t align, size_t n);
void *fl__je_memalign(size_t align, size_t n);
void *fl__je_valloc(size_t n);

FL_EXPORT void *malloc(size_t n)
{
	void *p = fl__je_malloc(n);
	fl__alloc_note(p, n, FL_WIRE_ALLOC_MALLOC);
	return p;
}

FL_EXPORT void free(void *p)
{
	fl__alloc_free_note(p);
	fl__je_free(p);
}

FL_EXPORT void *calloc(size_t n, size_t size)
{
	void *p = fl__je_calloc(n, size);
	fl__alloc_note(p, n * size, FL_WIRE_ALLOC_MALLOC); /* no overflow: p would be NULL */
	return p;
}

FL_EXPORT void *realloc(void *old, size_t n)
{
	/* A new allocation as far as sampling goes: the old one ends. */
	fl__alloc_free_note(old);
	void *p = fl__je_realloc(old, n);
	fl__alloc_note(p, n, FL_WIRE_ALLOC_MALLOC);
	return p;
}

FL_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	int rc = fl__je_posix_memalign(out, align, n);
	if (rc == 0)
		fl__alloc_note(*out, n, FL_WIRE_ALLOC_MALLOC);
	return rc;
}

FL_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	void *p = fl__je_aligned_alloc(align, n);
	fl__alloc_note(p, n, FL_WIRE_ALLOC_MALLOC);
	return p;
}

FL_EXPORT void *memalign(size_t align, size_t n)
{
	void *p = fl__je_memalign(align, n);
	fl__alloc_note(p, n, FL_WIRE_ALLOC_MALLOC);
	return p;
}

FL_EXPORT void *valloc(size_t n)
{
	void *p = fl__je_valloc(n);
	fl__alloc_note(p, n, FL_WIRE_ALLOC_MALLOC);
	return p;
}

/* glibc has these two; jemalloc 5.3 as Debian builds it does not. */
FL_EXPORT void *pvalloc(size_t n)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t r = (n + (size_t)ps - 1) & ~((size_t)ps - 1);
	return valloc(r ? r : (size_t)ps);
}

FL_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, total);
}

/*
 * Under pressure (pressure.c, on its notifier thread, no pager lock held):
 * every arena returns its dirty and muzzy pages now rather than when they
 * decay; its madvise comes back to the pager, which drops them.
 * ("arena.4096.purge": 4096 is jemalloc's MALLCTL_ARENAS_ALL.)
 */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

int fl__malloc_purge(void)
{
	return mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
}
