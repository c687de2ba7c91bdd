/*
 * Raw system calls for the shim, with the failure-injection table tests use
 * to make the Nth mmap, ioctl or userfaultfd call fail.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd_compat.h"

struct fail_rule {
	unsigned countdown; /* 0: no rule armed */
	int forever;
	int err;
	unsigned long req;
	int tripped;
	unsigned extra; /* further calls to fail after the nth */
	int after;      /* make the call, then report the failure (ioctl) */
};

static struct fl_sys_entry table[FL_SYS__COUNT] = {
	[FL_SYS_MMAP] = {"mmap", 0},
	[FL_SYS_MUNMAP] = {"munmap", 0},
	[FL_SYS_MREMAP] = {"mremap", 0},
	[FL_SYS_MADVISE] = {"madvise", 0},
	[FL_SYS_MPROTECT] = {"mprotect", 0},
	[FL_SYS_IOCTL] = {"ioctl", 0},
	[FL_SYS_UFFD] = {"userfaultfd", 0},
	[FL_SYS_MEMFD] = {"memfd_create", 0},
	[FL_SYS_FTRUNCATE] = {"ftruncate", 0},
	[FL_SYS_FALLOCATE] = {"fallocate", 0},
	[FL_SYS_READ] = {"read", 0},
	[FL_SYS_PMADVISE] = {"process_madvise", 0},
	[FL_SYS_OPEN] = {"openat", 0},
	[FL_SYS_PWRITE] = {"pwrite", 0},
	[FL_SYS_PREAD] = {"pread", 0},
};

static struct fail_rule rules[FL_SYS__COUNT];
static int any_rule; /* fast path: nothing armed */

/* Returns the errno to fail with, or 0 to make the call. */
static int should_fail(enum fl_sys_id id, unsigned long req)
{
	__atomic_fetch_add(&table[id].calls, 1, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&any_rule, __ATOMIC_RELAXED))
		return 0;
	struct fail_rule *r = &rules[id];
	if (__atomic_load_n(&r->countdown, __ATOMIC_ACQUIRE) == 0 &&
	    !__atomic_load_n(&r->tripped, __ATOMIC_ACQUIRE))
		return 0;
	if (r->req && r->req != req)
		return 0;
	if (__atomic_load_n(&r->tripped, __ATOMIC_ACQUIRE)) {
		if (r->forever)
			return r->err;
		unsigned x = __atomic_load_n(&r->extra, __ATOMIC_ACQUIRE);
		while (x && !__atomic_compare_exchange_n(&r->extra, &x, x - 1, 0,
							 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			;
		return x ? r->err : 0;
	}
	unsigned left = __atomic_sub_fetch(&r->countdown, 1, __ATOMIC_ACQ_REL);
	if (left == 0) {
		__atomic_store_n(&r->tripped, 1, __ATOMIC_RELEASE);
		return r->err;
	}
	return 0;
}

#define CHECK(id, req, failval)                     \
	do {                                        \
		int e_ = should_fail((id), (req));  \
		if (e_) {                           \
			errno = e_;                 \
			return failval;             \
		}                                   \
	} while (0)

static void arm(enum fl_sys_id id, unsigned nth, int forever, unsigned extra, int err,
		unsigned long req, int after)
{
	if (id >= FL_SYS__COUNT)
		return;
	struct fail_rule *r = &rules[id];
	r->forever = forever;
	r->err = err ? err : EIO;
	r->req = req;
	r->extra = extra;
	r->after = after;
	__atomic_store_n(&r->tripped, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&r->countdown, nth ? nth : 1, __ATOMIC_RELEASE);
	__atomic_store_n(&any_rule, 1, __ATOMIC_RELEASE);
}

void fl__sys_fail(enum fl_sys_id id, unsigned nth, int forever, int err,
		  unsigned long req)
{
	arm(id, nth, forever, 0, err, req, 0);
}

void fl__sys_fail_n(enum fl_sys_id id, unsigned nth, unsigned count, int err,
		    unsigned long req)
{
	if (count)
		arm(id, nth, 0, count - 1, err, req, 0);
}

void fl__sys_lie_n(unsigned nth, unsigned count, int err, unsigned long req)
{
	if (count)
		arm(FL_SYS_IOCTL, nth, 0, count - 1, err, req, 1);
}

void fl__sys_fail_reset(void)
{
	__atomic_store_n(&any_rule, 0, __ATOMIC_RELEASE);
	for (int i = 0; i < FL_SYS__COUNT; i++) {
		__atomic_store_n(&rules[i].countdown, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&rules[i].tripped, 0, __ATOMIC_RELEASE);
	}
}

const struct fl_sys_entry *fl__sys_table(void)
{
	return table;
}

void *fl__sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	CHECK(FL_SYS_MMAP, 0, MAP_FAILED);
	long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	return (void *)r;
}

int fl__sys_munmap(void *addr, size_t len)
{
	CHECK(FL_SYS_MUNMAP, 0, -1);
	return (int)syscall(SYS_munmap, addr, len);
}

void *fl__sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	CHECK(FL_SYS_MREMAP, 0, MAP_FAILED);
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

int fl__sys_madvise(void *addr, size_t len, int advice)
{
	CHECK(FL_SYS_MADVISE, 0, -1);
	return (int)syscall(SYS_madvise, addr, len, advice);
}

long fl__sys_process_madvise(int pidfd, const struct iovec *iov, size_t n, int advice)
{
#ifdef SYS_process_madvise
	CHECK(FL_SYS_PMADVISE, 0, -1);
	return syscall(SYS_process_madvise, pidfd, iov, n, advice, 0);
#else
	(void)pidfd, (void)iov, (void)n, (void)advice;
	errno = ENOSYS;
	return -1;
#endif
}

int fl__sys_pidfd_self(void)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, (int)syscall(SYS_getpid), 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

int fl__sys_mprotect(void *addr, size_t len, int prot)
{
	CHECK(FL_SYS_MPROTECT, 0, -1);
	return (int)syscall(SYS_mprotect, addr, len, prot);
}

int fl__sys_ioctl(int fd, unsigned long req, void *arg)
{
	int e = should_fail(FL_SYS_IOCTL, req);
	if (e && !rules[FL_SYS_IOCTL].after) {
		errno = e;
		return -1;
	}
	int rc = (int)syscall(SYS_ioctl, fd, req, arg);
	if (e && rc == 0) {
		/* Done, and reported as not done, the way the kernel reports
		 * a failed MOVE: the error in the result field too. */
		if (req == UFFDIO_MOVE)
			((struct uffdio_move *)arg)->move = -e;
		errno = e;
		return -1;
	}
	return rc;
}

int fl__sys_userfaultfd(int flags)
{
	CHECK(FL_SYS_UFFD, 0, -1);
	return (int)syscall(SYS_userfaultfd, flags);
}

int fl__sys_open_uffd_dev(int flags)
{
	CHECK(FL_SYS_UFFD, 0, -1);
	int dev = (int)syscall(SYS_openat, AT_FDCWD, "/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -1;
	int fd = (int)syscall(SYS_ioctl, dev, USERFAULTFD_IOC_NEW, flags);
	int saved = errno;
	syscall(SYS_close, dev);
	errno = saved;
	return fd;
}

int fl__sys_memfd(const char *name, unsigned flags)
{
	CHECK(FL_SYS_MEMFD, 0, -1);
	return (int)syscall(SYS_memfd_create, name, flags);
}

int fl__sys_ftruncate(int fd, off_t len)
{
	CHECK(FL_SYS_FTRUNCATE, 0, -1);
	return (int)syscall(SYS_ftruncate, fd, len);
}

int fl__sys_fallocate(int fd, int mode, off_t off, off_t len)
{
	CHECK(FL_SYS_FALLOCATE, 0, -1);
	return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

ssize_t fl__sys_read(int fd, void *buf, size_t len)
{
	CHECK(FL_SYS_READ, 0, -1);
	return syscall(SYS_read, fd, buf, len);
}

int fl__sys_openat(int dirfd, const char *path, int flags, unsigned mode)
{
	CHECK(FL_SYS_OPEN, 0, -1);
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

ssize_t fl__sys_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	CHECK(FL_SYS_PWRITE, 0, -1);
	return syscall(SYS_pwrite64, fd, buf, len, off);
}

ssize_t fl__sys_pread(int fd, void *buf, size_t len, off_t off)
{
	CHECK(FL_SYS_PREAD, 0, -1);
	return syscall(SYS_pread64, fd, buf, len, off);
}

int fl__sys_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

/*
 * glibc's own sigaction, under the name no preload interposes: the shim
 * exports `sigaction` itself (sigguard.c), which keeps SIGSEGV for the
 * signal engine.  Not the raw rt_sigaction syscall: on x86-64 that needs
 * an SA_RESTORER trampoline to return from the handler, which glibc
 * supplies (and checks the signals it reserves for itself).
 */
extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

int fl__sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return __sigaction(sig, act, old);
}

int fl__sys_highfd(int fd)
{
	if (fd < 0)
		return fd;
	int hi = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 1000);
	if (hi < 0)
		return fd;
	syscall(SYS_close, fd);
	return hi;
}
