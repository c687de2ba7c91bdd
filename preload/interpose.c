/*
 * The program's anonymous private memory, interposed: mmap, munmap,
 * mremap, madvise and mprotect on private anonymous read-write mappings go
 * to the pager, everything else (files, shared memory, stacks, executable
 * or huge-page mappings) straight to the kernel.  Each wrapper is a thin
 * dispatch; the semantics live in pager.c.
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

/* Mappings the pager takes: private, anonymous, read-write, ordinary. */
static int manageable(int prot, int flags, int fd)
{
	if (!__atomic_load_n(&fl__shim_ready, __ATOMIC_ACQUIRE) || fl__in_shim)
		return 0;
	if (!(flags & MAP_ANONYMOUS) || (flags & MAP_TYPE) != MAP_PRIVATE || fd != -1)
		return 0;
	if (prot != (PROT_READ | PROT_WRITE))
		return 0;
	/* Thread stacks (glibc maps them MAP_STACK), stacks that grow, huge
	 * pages, 32-bit address requests: the kernel's. */
	if (flags & (MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB | MAP_32BIT))
		return 0;
	return 1;
}

static int owned(const void *addr, size_t len)
{
	return __atomic_load_n(&fl__shim_ready, __ATOMIC_ACQUIRE) && fl_pager_owns_range(addr, len);
}

FL_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (manageable(prot, flags, fd))
		return fl_pager_map_at(addr, len, flags & (MAP_FIXED | MAP_FIXED_NOREPLACE),
				       FL_REGION_PROGRAM);
	/* MAP_FIXED over managed memory replaces it: the tables must follow. */
	if ((flags & MAP_FIXED) && owned(addr, len))
		fl_pager_unmap(addr, len);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

FL_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
	__attribute__((alias("mmap")));

FL_EXPORT int munmap(void *addr, size_t len)
{
	if (owned(addr, len))
		return fl_pager_unmap(addr, len);
	return (int)syscall(SYS_munmap, addr, len);
}

FL_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (owned(old, old_len ? old_len : 1))
		return fl_pager_remap(old, old_len, new_len, flags, new_addr);
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

FL_EXPORT int madvise(void *addr, size_t len, int advice)
{
	if (owned(addr, len)) {
		switch (advice) {
		case MADV_DONTNEED:
		case MADV_FREE:
		case MADV_REMOVE:
			/* Freed pages read as zero afterwards: a valid outcome for
			 * MADV_FREE too.  Their compressed copies go with them. */
			return fl_pager_discard(addr, len);
		case MADV_HUGEPAGE:
		case MADV_NOHUGEPAGE:
		case MADV_MERGEABLE:
		case MADV_UNMERGEABLE:
			/* The pager works in 4 KiB pages and keeps it that way. */
			return 0;
		default:
			break;
		}
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

FL_EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	if (advice == POSIX_MADV_DONTNEED)
		return 0; /* POSIX's DONTNEED is advisory: contents are kept */
	return madvise(addr, len, advice) == 0 ? 0 : errno;
}

FL_EXPORT int mprotect(void *addr, size_t len, int prot)
{
	if (owned(addr, len))
		return fl_pager_protect(addr, len, prot);
	return (int)syscall(SYS_mprotect, addr, len, prot);
}
