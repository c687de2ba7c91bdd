/*
 * The allocator: jemalloc (Debian's libjemalloc_pic.a) is linked into the
 * shim and serves malloc and friends.  At build time its calls to mmap,
 * munmap, madvise and mprotect are renamed to the fl__je_* functions here
 * (objcopy --redefine-sym on pages.pic.o), so every extent it maps comes
 * from the pager as an allocator region, its purges drop compressed copies
 * too, and nothing it maps escapes, arena 0's metadata included.  Memory
 * jemalloc maps before the shim's constructor runs (a library constructor
 * that mallocs first) stays plain memory.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pager.h"
#include "pager_int.h"
#include "shim.h"

/*
 * jemalloc's options: keep virtual memory (retain) rather than unmapping
 * it, no sbrk (dss), no separate huge arena (oversize_threshold:0) and no
 * transparent huge pages: the pager works in 4 KiB pages.
 */
FL_EXPORT const char *malloc_conf = "retain:true,dss:disabled,oversize_threshold:0,thp:never,metadata_thp:disabled";

static int pager_ok(void)
{
	return __atomic_load_n(&fl__shim_ready, __ATOMIC_ACQUIRE) && !fl__in_shim;
}

void *fl__je_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (pager_ok() && fd == -1 && (flags & MAP_ANONYMOUS) &&
	    (flags & MAP_TYPE) == MAP_PRIVATE && prot == (PROT_READ | PROT_WRITE))
		return fl_pager_map_at(addr, len, flags & (MAP_FIXED | MAP_FIXED_NOREPLACE),
				       FL_REGION_ALLOCATOR);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int fl__je_munmap(void *addr, size_t len)
{
	if (pager_ok() && fl_pager_owns_range(addr, len))
		return fl_pager_unmap(addr, len);
	return (int)syscall(SYS_munmap, addr, len);
}

int fl__je_madvise(void *addr, size_t len, int advice)
{
	if (pager_ok() && fl_pager_owns_range(addr, len)) {
		if (advice == MADV_DONTNEED || advice == MADV_FREE)
			return fl_pager_discard(addr, len);
		if (advice == MADV_HUGEPAGE || advice == MADV_NOHUGEPAGE)
			return 0;
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

int fl__je_mprotect(void *addr, size_t len, int prot)
{
	if (pager_ok() && fl_pager_owns_range(addr, len))
		return fl_pager_protect(addr, len, prot);
	return (int)syscall(SYS_mprotect, addr, len, prot);
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
