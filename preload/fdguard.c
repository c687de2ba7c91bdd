/*
 * The shim's descriptors survive programs that close descriptors
 * wholesale.  If the userfaultfd were closed, the kernel would drop every
 * registration and an evicted page would read as zeros; if /proc/self/mem
 * were, the signal engine could not reach evicted pages.  So close,
 * close_range, closefrom, dup2 and dup3 leave them alone: closing one
 * reports success without closing it (it sits at a high number, see
 * fl__sys_highfd, so no program expects to get that number back), and
 * dup2/dup3 onto one fail with EBUSY.  A raw close_range system call
 * bypasses this; that limit is documented.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "emitter.h"
#include "pager.h"
#include "shim.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int shim_fd(int fd)
{
	return fl_pager_owns_fd(fd) || fl__emitter_owns_fd(fd);
}

static int ours(int fd)
{
	return __atomic_load_n(&fl__shim_ready, __ATOMIC_ACQUIRE) && shim_fd(fd);
}

FL_EXPORT int close(int fd)
{
	if (ours(fd))
		return 0;
	return (int)syscall(SYS_close, fd);
}

/* Close [first, last] except the shim's descriptors. */
static int close_range_guarded(unsigned first, unsigned last, unsigned flags)
{
	if (!__atomic_load_n(&fl__shim_ready, __ATOMIC_ACQUIRE) || (flags & CLOSE_RANGE_CLOEXEC))
		return (int)syscall(SYS_close_range, first, last, flags);
	unsigned from = first;
	int rc = 0;
	for (unsigned fd = first; fd <= last && fd < 1u << 20; fd++) {
		if (!shim_fd((int)fd))
			continue;
		if (fd > from && syscall(SYS_close_range, from, fd - 1, flags) != 0)
			rc = -1;
		from = fd + 1;
		if (fd == UINT_MAX)
			return rc;
	}
	if (from <= last && syscall(SYS_close_range, from, last, flags) != 0)
		rc = -1;
	return rc;
}

FL_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	if (first > last) {
		errno = EINVAL;
		return -1;
	}
	return close_range_guarded(first, last, (unsigned)flags);
}

FL_EXPORT void closefrom(int lowfd)
{
	if (lowfd < 0)
		lowfd = 0;
	close_range_guarded((unsigned)lowfd, UINT_MAX, 0);
}

FL_EXPORT int dup2(int oldfd, int newfd)
{
	if (oldfd != newfd && ours(newfd)) {
		errno = EBUSY;
		return -1;
	}
	return (int)syscall(SYS_dup2, oldfd, newfd);
}

FL_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	if (ours(newfd)) {
		errno = EBUSY;
		return -1;
	}
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}
