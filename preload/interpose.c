/*
 * The program's anonymous private memory, interposed: mmap, munmap,
 * mremap, madvise and mprotect on private anonymous read-write mappings go
 * to the pager, everything else (files, shared memory, stacks, executable
 * or huge-page mappings) straight to the kernel.  The fl__shim_* entry
 * points are shared with jemalloc's renamed calls (malloc.c); the
 * semantics live in pager.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pager.h"
#include "pager_int.h"
#include "shim.h"
#include "sys.h"

/*
 * May this call go to the pager?  Not before the shim is ready, and not on
 * a thread where the pager itself is starting threads (it holds its lock
 * then, and the allocations pthread_create makes come back here).
 */
static int dispatch(void)
{
	return __atomic_load_n(&fl__shim_ready, __ATOMIC_ACQUIRE) && !fl__in_shim;
}

void *fl__shim_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, int kind)
{
	if (!dispatch())
		return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	/* The pager takes private, anonymous, read-write mappings, except
	 * thread stacks (glibc maps them MAP_STACK), stacks that grow, huge
	 * pages and 32-bit address requests. */
	if ((flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE && fd == -1 &&
	    prot == (PROT_READ | PROT_WRITE) &&
	    !(flags & (MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB | MAP_32BIT)))
		return fl_pager_map_at(addr, len, flags & (MAP_FIXED | MAP_FIXED_NOREPLACE), kind);
	void *p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	/* MAP_FIXED over managed memory replaced it: the tables follow. */
	if ((flags & MAP_FIXED) && p != MAP_FAILED)
		fl_pager_forget(addr, len);
	return p;
}

int fl__shim_munmap(void *addr, size_t len)
{
	if (dispatch())
		return fl_pager_unmap(addr, len);
	return (int)syscall(SYS_munmap, addr, len);
}

int fl__shim_madvise(void *addr, size_t len, int advice)
{
	if (dispatch())
		return fl_pager_advise(addr, len, advice);
	return (int)syscall(SYS_madvise, addr, len, advice);
}

int fl__shim_mprotect(void *addr, size_t len, int prot)
{
	if (dispatch())
		return fl_pager_protect(addr, len, prot);
	return (int)syscall(SYS_mprotect, addr, len, prot);
}

FL_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return fl__shim_mmap(addr, len, prot, flags, fd, off, FL_REGION_PROGRAM);
}

FL_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
	__attribute__((alias("mmap")));

FL_EXPORT int munmap(void *addr, size_t len) __attribute__((alias("fl__shim_munmap")));
FL_EXPORT int madvise(void *addr, size_t len, int advice) __attribute__((alias("fl__shim_madvise")));
FL_EXPORT int mprotect(void *addr, size_t len, int prot) __attribute__((alias("fl__shim_mprotect")));

FL_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (dispatch())
		return fl_pager_remap(old, old_len, new_len, flags, new_addr);
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

FL_EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	if (advice == POSIX_MADV_DONTNEED)
		return 0; /* POSIX's DONTNEED is advisory: contents are kept */
	return madvise(addr, len, advice) == 0 ? 0 : errno;
}
