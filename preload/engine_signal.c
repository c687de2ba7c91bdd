/*
 * The signal engine: the fallback where userfaultfd cannot be had.  Managed
 * regions are ordinary private anonymous mappings whose pages are PROT_NONE
 * until resolved; a SIGSEGV handler resolves faults in the faulting thread
 * itself, and faults that are not ours go to the program's own handler.
 * The shim reads and writes pages the program cannot see through
 * /proc/self/mem, which ignores page protections; so taking a page out is
 * an mprotect to PROT_NONE (atomic against every thread), and a page is
 * filled before it is made accessible.  Being private anonymous memory, a
 * region forks like any other (the child inherits the handler too).
 *
 * What it cannot do, and says so: accesses made by the kernel on the
 * program's behalf (read(2) into an evicted or untouched page) get EFAULT
 * instead of a fault; and each run of pages with a different protection is
 * its own VMA, so vm.max_map_count bounds how scattered eviction can be.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "engine.h"
#include "events.h"
#include "log.h"
#include "pager_int.h"
#include "sigchain.h"
#include "sys.h"

#define PS FL_PAGE_SIZE

static int memfd = -1; /* /proc/self/mem */

/* Inactive pages stay where they are (PROT_NONE); slots are unused. */

static void on_segv(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	int write = 1;
#if defined(__x86_64__)
	ucontext_t *uc = ucv;
	write = (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#endif
	int rc = 1;
	struct fl_fault_info fi;
	if (si->si_code == SEGV_ACCERR) {
		rc = fl__pager_fault((uintptr_t)si->si_addr, write, &fi);
		/* This thread took the fault: its stack is right here. */
		if (rc == 0)
			fl__events_fault_here((uintptr_t)si->si_addr, write, &fi, ucv);
	}
	if (rc == 1)
		fl__sigchain_pass(sig, si, ucv);
	/* rc == -1: could not resolve now; returning retries the access. */
	errno = saved;
}

static int mem_open(void)
{
	return fl__sys_highfd((int)syscall(SYS_openat, AT_FDCWD, "/proc/self/mem", O_RDWR | O_CLOEXEC));
}

static int s_start(size_t stash_pages, struct fl_engine_caps *caps, char *err, size_t errlen)
{
	(void)stash_pages;
	memfd = mem_open();
	if (memfd < 0) {
		snprintf(err, errlen, "cannot open /proc/self/mem: %s", strerror(errno));
		return -1;
	}
	if (fl__sigchain_hold(SIGSEGV, on_segv) != 0) {
		snprintf(err, errlen, "sigaction(SIGSEGV): %s", strerror(errno));
		fl__sys_close(memfd);
		memfd = -1;
		return -1;
	}
	caps->kernel_faults = 0;
	caps->can_evict = 1;
	caps->move = 0;
	caps->adopt = 0;
	caps->inactive_in_place = 1;
	caps->fault_signal = SIGSEGV;
	snprintf(caps->detail, sizeof caps->detail,
		 "signal engine (PROT_NONE + SIGSEGV): kernel-mode accesses to "
		 "untouched or evicted pages fail with EFAULT; scattered eviction is "
		 "bounded by vm.max_map_count");
	return 0;
}

static void s_stop(void)
{
	fl__sigchain_release(SIGSEGV);
	if (memfd >= 0)
		fl__sys_close(memfd);
	memfd = -1;
}

static void s_forget(void)
{
	/* The handler is inherited and stays (and with it the program's
	 * recorded action).  /proc/self/mem opened by the parent still points
	 * at the parent's memory: reopen it. */
	if (memfd >= 0)
		fl__sys_close(memfd);
	memfd = mem_open();
}

static int s_region_create(struct fl_region *r, uintptr_t want, int want_flags)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | want_flags;
	void *p = fl__sys_mmap((void *)want, r->len, PROT_NONE, flags, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	r->base = (uintptr_t)p;
	return 0;
}

static int s_region_unmap(struct fl_region *r, size_t pg, size_t n)
{
	return fl__sys_munmap((void *)(r->base + pg * PS), n * PS);
}

static int s_region_detach(struct fl_region *r)
{
	/* Only where the program did not restrict protection itself. */
	return fl__protect_runs(r, 0, r->npages, 0);
}

/* Open pages [pg, pg+n) with the protection the program gave each. */
static int open_pages(struct fl_region *r, size_t pg, size_t n)
{
	return fl__protect_runs(r, pg, n, 0);
}

static int s_fill_zero(struct fl_region *r, size_t pg, size_t n, int write)
{
	(void)write;
	/* Untouched and discarded pages are empty: the kernel zero-fills. */
	return open_pages(r, pg, n);
}

static int mem_rw(int wr, uintptr_t addr, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t k = wr ? pwrite(memfd, (char *)buf + done, len - done, (off_t)(addr + done))
			       : pread(memfd, (char *)buf + done, len - done, (off_t)(addr + done));
		if (k <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			if (k == 0)
				errno = EIO;
			return -1;
		}
		done += (size_t)k;
	}
	return 0;
}

static int s_fill_copy(struct fl_region *r, size_t pg, size_t n, const void *src)
{
	uintptr_t a = r->base + pg * PS;
	/* Written while still inaccessible, then opened in one step. */
	if (mem_rw(1, a, (void *)src, n * PS) != 0)
		return -1;
	return open_pages(r, pg, n);
}

static long s_take(struct fl_region *r, size_t pg, size_t n, uint32_t *slot)
{
	*slot = 0;
	if (fl__sys_mprotect((void *)(r->base + pg * PS), n * PS, PROT_NONE) != 0)
		return -1;
	return (long)n;
}

static const void *s_peek(struct fl_region *r, size_t pg, uint32_t slot, void *scratch)
{
	(void)slot;
	if (mem_rw(0, r->base + pg * PS, scratch, PS) != 0)
		return NULL;
	return scratch;
}

static int s_give(struct fl_region *r, size_t pg, uint32_t slot)
{
	(void)slot;
	return open_pages(r, pg, 1);
}

static void s_release(struct fl_region *r, size_t pg, uint32_t slot)
{
	(void)slot;
	/* The page is PROT_NONE; dropping it makes the next fill a zero page. */
	if (fl__sys_madvise((void *)(r->base + pg * PS), PS, MADV_DONTNEED) != 0 &&
	    errno != ENOMEM) /* ENOMEM: the program unmapped it already */
		FL_WARN("cannot free an evicted page: %s", fl__errname(errno));
}

static int s_discard(struct fl_region *r, size_t pg, size_t n)
{
	void *a = (void *)(r->base + pg * PS);
	if (fl__sys_mprotect(a, n * PS, PROT_NONE) != 0)
		return -1;
	return fl__sys_madvise(a, n * PS, MADV_DONTNEED);
}

static int s_move_pages(struct fl_region *src, size_t spg, struct fl_region *dst,
			size_t dpg, size_t n)
{
	char buf[PS];
	for (size_t i = 0; i < n; i++) {
		if (mem_rw(0, src->base + (spg + i) * PS, buf, PS) != 0 ||
		    mem_rw(1, dst->base + (dpg + i) * PS, buf, PS) != 0)
			return -1;
	}
	if (open_pages(dst, dpg, n) != 0)
		return -1;
	return s_discard(src, spg, n);
}

static void s_wake(uintptr_t addr, size_t len)
{
	(void)addr;
	(void)len;
}

static void s_fds(int out[4])
{
	out[0] = memfd;
	out[1] = -1;
}

const struct fl_engine fl__engine_signal = {
	.name = "signal",
	.kind = FL_ENGINE_SIGNAL,
	.start = s_start,
	.stop = s_stop,
	.forget = s_forget,
	.region_create = s_region_create,
	.region_adopt = NULL,
	.region_unmap = s_region_unmap,
	.region_detach = s_region_detach,
	.fill_zero = s_fill_zero,
	.fill_copy = s_fill_copy,
	.take = s_take,
	.peek = s_peek,
	.give = s_give,
	.release = s_release,
	.discard = s_discard,
	.move_pages = s_move_pages,
	.wake = s_wake,
	.fds = s_fds,
};
