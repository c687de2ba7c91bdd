/*
 * The signal engine: the fallback where userfaultfd cannot be had.  Each
 * managed region is a memfd mapped twice: the program's view, PROT_NONE
 * until a page is resolved, and an alias the shim reads and writes freely.
 * A SIGSEGV handler resolves faults in the faulting thread itself; faults
 * that are not ours go to the program's own handler.  Taking a page out is
 * an mprotect back to PROT_NONE (atomic against every thread) and its
 * contents stay readable through the alias until the pager compresses them
 * and punches the page out of the memfd.
 *
 * What it cannot do, and says so: accesses made by the kernel on the
 * program's behalf (read(2) into an evicted or untouched page) get EFAULT
 * instead of a fault; and the memfd is shared, so a fork would share
 * managed memory with the child (fork support is the shim's job, not
 * handled here).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "pager_int.h"
#include "sys.h"

#define PS FL_PAGE_SIZE

static struct sigaction old_segv;
static int installed;

static void chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction *o = &old_segv;
	if (o->sa_flags & SA_SIGINFO) {
		if (o->sa_sigaction) {
			o->sa_sigaction(sig, si, uc);
			return;
		}
	} else if (o->sa_handler == SIG_IGN) {
		return;
	} else if (o->sa_handler != SIG_DFL) {
		o->sa_handler(sig);
		return;
	}
	/* Default action: restore it and return; the access faults again and
	 * the kernel delivers the real SIGSEGV. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGSEGV, &dfl, NULL);
}

static void on_segv(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	int write = 1;
#if defined(__x86_64__)
	ucontext_t *uc = ucv;
	write = (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#endif
	int rc = 1;
	if (si->si_code == SEGV_ACCERR)
		rc = fl__pager_fault((uintptr_t)si->si_addr, write);
	if (rc == 1)
		chain(sig, si, ucv);
	/* rc == -1: could not resolve now; returning retries the access. */
	errno = saved;
}

static int s_start(size_t stash_pages, struct fl_engine_caps *caps, char *err, size_t errlen)
{
	(void)stash_pages;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) != 0) {
		snprintf(err, errlen, "sigaction(SIGSEGV): %s", strerror(errno));
		return -1;
	}
	installed = 1;
	caps->kernel_faults = 0;
	caps->can_evict = 1;
	caps->move = 0;
	snprintf(caps->detail, sizeof caps->detail,
		 "signal engine (PROT_NONE + SIGSEGV): kernel-mode accesses to "
		 "untouched or evicted pages fail with EFAULT; fork shares managed memory");
	return 0;
}

static void s_stop(void)
{
	if (installed) {
		sigaction(SIGSEGV, &old_segv, NULL);
		installed = 0;
	}
}

static int s_region_create(struct fl_region *r)
{
	int fd = fl__sys_memfd("faultline", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fl__sys_ftruncate(fd, (off_t)r->len) != 0)
		goto fail_fd;
	void *app = fl__sys_mmap(NULL, r->len, PROT_NONE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (app == MAP_FAILED)
		goto fail_fd;
	void *alias = fl__sys_mmap(NULL, r->len, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (alias == MAP_FAILED) {
		int e = errno;
		fl__sys_munmap(app, r->len);
		errno = e;
		goto fail_fd;
	}
	r->memfd = fd;
	r->base = (uintptr_t)app;
	r->alias = alias;
	return 0;
fail_fd:;
	int e = errno;
	fl__sys_close(fd);
	errno = e;
	return -1;
}

static int s_region_destroy(struct fl_region *r)
{
	int rc = fl__sys_munmap((void *)r->base, r->len);
	fl__sys_munmap(r->alias, r->len);
	fl__sys_close(r->memfd);
	r->memfd = -1;
	r->alias = NULL;
	return rc;
}

static int s_region_detach(struct fl_region *r)
{
	/* Untouched pages are holes in the memfd and read as zero. */
	int rc = fl__sys_mprotect((void *)r->base, r->len, PROT_READ | PROT_WRITE);
	fl__sys_munmap(r->alias, r->len);
	fl__sys_close(r->memfd);
	r->memfd = -1;
	r->alias = NULL;
	return rc;
}

static int s_fill_zero(struct fl_region *r, size_t pg, size_t n, int write)
{
	(void)write;
	return fl__sys_mprotect((void *)(r->base + pg * PS), n * PS, PROT_READ | PROT_WRITE);
}

static int s_fill_copy(struct fl_region *r, size_t pg, size_t n, const void *src)
{
	memcpy(r->alias + pg * PS, src, n * PS);
	return fl__sys_mprotect((void *)(r->base + pg * PS), n * PS, PROT_READ | PROT_WRITE);
}

static int s_take(struct fl_region *r, size_t pg, uint32_t *slot)
{
	*slot = 0;
	return fl__sys_mprotect((void *)(r->base + pg * PS), PS, PROT_NONE);
}

static const void *s_peek(struct fl_region *r, size_t pg, uint32_t slot)
{
	(void)slot;
	return r->alias + pg * PS;
}

static int s_give(struct fl_region *r, size_t pg, uint32_t slot)
{
	(void)slot;
	return fl__sys_mprotect((void *)(r->base + pg * PS), PS, PROT_READ | PROT_WRITE);
}

static void s_release(struct fl_region *r, size_t pg, uint32_t slot)
{
	(void)slot;
	if (fl__sys_fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(pg * PS), PS) != 0) {
		/* The page stays allocated but must read as zero if reused. */
		memset(r->alias + pg * PS, 0, PS);
	}
}

static int s_discard(struct fl_region *r, size_t pg, size_t n)
{
	if (fl__sys_mprotect((void *)(r->base + pg * PS), n * PS, PROT_NONE) != 0)
		return -1;
	if (fl__sys_fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(pg * PS), (off_t)(n * PS)) != 0)
		memset(r->alias + pg * PS, 0, n * PS);
	return 0;
}

static void s_wake(uintptr_t addr, size_t len)
{
	(void)addr;
	(void)len;
}

const struct fl_engine fl__engine_signal = {
	.name = "signal",
	.kind = FL_ENGINE_SIGNAL,
	.start = s_start,
	.stop = s_stop,
	.region_create = s_region_create,
	.region_destroy = s_region_destroy,
	.region_detach = s_region_detach,
	.fill_zero = s_fill_zero,
	.fill_copy = s_fill_copy,
	.take = s_take,
	.peek = s_peek,
	.give = s_give,
	.release = s_release,
	.discard = s_discard,
	.wake = s_wake,
};
