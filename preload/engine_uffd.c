/*
 * The userfaultfd engine.  Handler threads, one pinned to each CPU and
 * started before anything is registered, read many fault messages per
 * read(2) and hand each to the pager core, which calls back here to
 * resolve it: UFFDIO_COPY /
 * UFFDIO_ZEROPAGE to fill, UFFDIO_MOVE to take a page out to the stash (a
 * registered range that holds inactive pages) and to bring it back.  Where
 * UFFDIO_MOVE is missing or refuses a page, a copy fallback keeps the same
 * contract: write-protect, copy to the stash, drop.  Where a fill keeps
 * failing, a last fallback builds the page elsewhere and mremaps it into
 * place, leaving that page unmanaged rather than leaving a thread hung.
 *
 * Kernel-mode faults (a read(2) into an evicted page) are served because the
 * descriptor is opened without UFFD_USER_MODE_ONLY whenever the kernel lets
 * us; when it does not, the engine says so and reports itself as uffd-user.
 *
 * The same operations make a second engine, uffd-sigbus, asked for by name:
 * with UFFD_FEATURE_SIGBUS no fault waits for a handler thread; the
 * faulting thread gets SIGBUS and resolves its own fault in the handler
 * here (UFFDIO_COPY needs no wake-up then), so no other thread runs and no
 * CPU is woken.  The price is the kernel's: a kernel-mode access to a
 * missing page (read(2) into an untouched or evicted page, a futex word)
 * fails with EFAULT instead of waiting.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "engine.h"
#include "events.h"
#include "log.h"
#include "mem.h"
#include "pager_int.h"
#include "sigchain.h"
#include "sys.h"
#include "uffd_compat.h"
#include "clock.h"

#define PS FL_PAGE_SIZE
#define MSG_BATCH 64
#define MAX_DEFERRED 256
#define ZERO_PAGES 512
#define MAX_HANDLERS 8
#define RELEASE_BATCH 64 /* stash slots dropped per TLB flush */

/*
 * A handler thread.  There is one per CPU the process may run on (up to
 * MAX_HANDLERS), each pinned to its CPU and all reading the same
 * descriptor: a thread that faults sleeps, its CPU is free, and the
 * handler pinned there takes the message without waking another CPU.
 * On this kind of VM, where an idle vCPU halts at once, a wake-up across
 * CPUs costs ~30 us each way; the handler on the faulting thread's own
 * CPU answers in ~10 us (DESIGN.md).  Faults it cannot resolve yet are
 * retried by the same handler.
 */
struct handler {
	pthread_t thread;
	int cpu; /* pinned to it; -1: not pinned */
	struct {
		uintptr_t addr;
		int write;
		uint32_t tid;
	} deferred[MAX_DEFERRED];
	size_t ndeferred;
};

static struct {
	int fd;
	int stopfd;
	uint64_t features;
	int move, wp, user_only;
	int sigbus;     /* uffd-sigbus: faults resolved in the faulting thread */
	unsigned spin_us;
	struct handler handlers[MAX_HANDLERS];
	int nhandlers;  /* started */
	int filling;    /* a handler is filling ahead (one at a time) */
	char *stash;
	size_t stash_pages;
	uint64_t *free_map;   /* a set bit: that slot is free */
	size_t map_words;
	size_t cursor;        /* next-fit: the word the next search starts at */
	size_t nfree;
	uint32_t dropping[RELEASE_BATCH]; /* freed, not yet emptied */
	size_t ndropping;
	int pidfd;            /* this process, for process_madvise; -1: none */
	char *zeros; /* ZERO_PAGES read-only zero pages: UFFDIO_COPY source */
	int paused;           /* a forked child's handlers wait for resume() */
	int arrived;          /* handlers that have reached handler_main (futex word) */
	int fork_wanted;      /* fork_begin .. fork_end: a fork is under way */
	int fork_fd;          /* the child's descriptor, read by a handler */
	int in_read;          /* handlers between read(2) and taking fork events */
	int pagemap_fd;       /* /proc/self/pagemap, for stash_swapped; -1: not open */
} U = {.fd = -1, .stopfd = -1, .pidfd = -1, .fork_fd = -1, .pagemap_fd = -1};

unsigned fl__uffd_spin_us;
unsigned fl__uffd_handlers;
unsigned fl__uffd_fork_events;

static int uffd_open(int flags, int *user_only, char *err, size_t errlen)
{
	int fd = fl__sys_userfaultfd(flags | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	int e1 = errno;
	fd = fl__sys_open_uffd_dev(flags | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	int e2 = errno;
	fd = fl__sys_userfaultfd(flags | UFFD_USER_MODE_ONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		*user_only = 1;
		return fd;
	}
	snprintf(err, errlen,
		 "userfaultfd(2): %s; /dev/userfaultfd: %s; user-mode-only: %s",
		 strerror(e1), strerror(e2), strerror(errno));
	return -1;
}

static char *stash_addr(uint32_t slot);
static void stash_drain(void);

static void stash_free(uint32_t slot)
{
	U.free_map[slot / 64] |= 1ull << (slot % 64);
	U.nfree++;
}

/*
 * Up to want free slots in a row, next-fit from the cursor, so that pages
 * taken together land together and one UFFDIO_MOVE (one TLB flush) takes
 * them all.  Returns how many (the first in *slot), 0 with ENOSPC.
 */
static size_t stash_alloc_run(size_t want, uint32_t *slot)
{
	if (!U.nfree)
		stash_drain();
	if (!U.nfree) {
		errno = ENOSPC;
		return 0;
	}
	for (size_t k = 0; k < U.map_words; k++) {
		size_t w = (U.cursor + k) % U.map_words;
		if (!U.free_map[w])
			continue;
		size_t first = w * 64 + (size_t)__builtin_ctzll(U.free_map[w]);
		size_t n = 0;
		while (n < want && first + n < U.stash_pages &&
		       (U.free_map[(first + n) / 64] & (1ull << ((first + n) % 64)))) {
			U.free_map[(first + n) / 64] &= ~(1ull << ((first + n) % 64));
			n++;
		}
		U.nfree -= n;
		U.cursor = ((first + n) / 64) % U.map_words;
		*slot = (uint32_t)first;
		return n;
	}
	errno = ENOSPC; /* nfree disagrees with the map: never meant to happen */
	return 0;
}

/*
 * Empty the slots waiting to be dropped and make them free.  One
 * process_madvise(MADV_DONTNEED) over all of them costs one TLB flush; a
 * madvise per slot costs one each, and on this kind of VM a flush that
 * must reach a thread running on the other vCPU costs ~17 us.
 */
static void stash_drain(void)
{
	size_t n = U.ndropping;
	if (!n)
		return;
	struct iovec iov[RELEASE_BATCH];
	size_t niov = 0;
	for (size_t i = 0; i < n; i++) {
		char *a = stash_addr(U.dropping[i]);
		if (niov && (char *)iov[niov - 1].iov_base + iov[niov - 1].iov_len == a)
			iov[niov - 1].iov_len += PS;
		else
			iov[niov++] = (struct iovec){.iov_base = a, .iov_len = PS};
	}
	long done = -1;
	if (U.pidfd >= 0) {
		done = fl__sys_process_madvise(U.pidfd, iov, niov, MADV_DONTNEED);
		if (done < 0 && (errno == ENOSYS || errno == EINVAL || errno == EPERM ||
				 errno == EBADF)) {
			/* An older kernel (before 6.13 it advises only other
			 * processes, and only to page out): a slot at a time. */
			fl__sys_close(U.pidfd);
			U.pidfd = -1;
		}
	}
	if (done != (long)(n * PS)) {
		for (size_t i = 0; i < niov; i++)
			if (fl__sys_madvise(iov[i].iov_base, iov[i].iov_len, MADV_DONTNEED) != 0)
				FL_WARN("cannot free a stash page: %s", fl__errname(errno));
	}
	for (size_t i = 0; i < n; i++)
		stash_free(U.dropping[i]);
	U.ndropping = 0;
}

/* A slot whose page is no longer needed: emptied with the next batch. */
static void stash_drop(uint32_t slot)
{
	U.dropping[U.ndropping++] = slot;
	if (U.ndropping == RELEASE_BATCH)
		stash_drain();
}

static char *stash_addr(uint32_t slot)
{
	return U.stash + (size_t)slot * PS;
}

static int stash_owns(uintptr_t a)
{
	return a >= (uintptr_t)U.stash && a < (uintptr_t)U.stash + U.stash_pages * PS;
}

/*
 * While the handler resolves a fault whose thread must get the stack
 * signal before it runs again, fills do not wake anyone; the range they
 * covered is woken afterwards.  Thread-local: only the handler defers, and
 * other threads' fills (fork, shutdown) must keep waking.
 */
static __thread int defer_wake __attribute__((tls_model("initial-exec")));
static __thread uintptr_t dw_lo __attribute__((tls_model("initial-exec")));
static __thread uintptr_t dw_hi __attribute__((tls_model("initial-exec")));

/* Should this fill leave waking to the caller?  Notes the range if so. */
static int deferring(uintptr_t dst, size_t len)
{
	if (!defer_wake)
		return 0;
	if (dst < dw_lo)
		dw_lo = dst;
	if (dst + len > dw_hi)
		dw_hi = dst + len;
	return 1;
}

static int io_copy(uintptr_t dst, const void *src, size_t len, int dontwake)
{
	if (U.sigbus || (!dontwake && deferring(dst, len)))
		dontwake = 1; /* under uffd-sigbus no thread ever waits */
	size_t done = 0;
	int tries = 0;
	while (done < len) {
		struct uffdio_copy c = {
			.dst = dst + done,
			.src = (uintptr_t)src + done,
			.len = len - done,
			.mode = dontwake ? UFFDIO_COPY_MODE_DONTWAKE : 0,
		};
		int rc = fl__sys_ioctl(U.fd, UFFDIO_COPY, &c);
		if (c.copy > 0)
			done += (size_t)c.copy;
		if (rc == 0)
			continue;
		if (errno == EEXIST) {
			/* A stash slot is empty by contract: something there
			 * is a defect, and keeping it would keep the wrong
			 * bytes, so that copy fails.  A program page already
			 * there was filled by another path: skip it. */
			if (stash_owns(dst))
				return -1;
			done += PS;
			continue;
		}
		if ((errno == EAGAIN || errno == EINTR || c.copy > 0) && ++tries < 100)
			continue;
		if (++tries < 3)
			continue;
		return -1;
	}
	return 0;
}

static void io_wake(uintptr_t addr, size_t len)
{
	if (U.sigbus)
		return;
	struct uffdio_range r = {.start = addr, .len = len};
	if (fl__sys_ioctl(U.fd, UFFDIO_WAKE, &r) != 0)
		FL_WARN("UFFDIO_WAKE failed: %s", fl__errname(errno));
}

/*
 * Last resort when the kernel refuses to fill: build the pages in a fresh
 * mapping and mremap it over the target.  The pages leave the registered
 * range (the region keeps them as pinned, resident forever) but the data is
 * where the program expects it.  Returns 1 (pinned) or -1.
 */
static int fill_by_remap(uintptr_t dst, const void *src, size_t len)
{
	void *tmp = fl__sys_mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tmp == MAP_FAILED)
		return -1;
	if (src)
		memcpy(tmp, src, len);
	void *r = fl__sys_mremap(tmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)dst);
	if (r == MAP_FAILED) {
		fl__sys_munmap(tmp, len);
		return -1;
	}
	io_wake(dst, len);
	FL_WARN("fill at %p fell back to mremap: %zu bytes are no longer managed",
		(void *)dst, len);
	return 1;
}

/* ---- engine operations ------------------------------------------------ */

static int u_fill_zero(struct fl_region *r, size_t pg, size_t n, int write)
{
	uintptr_t dst = r->base + pg * PS;
	size_t len = n * PS;
	if (!write) {
		struct uffdio_zeropage z = {.range = {.start = dst, .len = len},
					    .mode = U.sigbus || deferring(dst, len) ? UFFDIO_ZEROPAGE_MODE_DONTWAKE : 0};
		int tries = 0;
		for (;;) {
			int rc = fl__sys_ioctl(U.fd, UFFDIO_ZEROPAGE, &z);
			if (rc == 0)
				return 0;
			if (errno == EEXIST || (z.zeropage > 0 && (size_t)z.zeropage < len)) {
				/* Partly done or raced: finish page by page with COPY. */
				break;
			}
			if (errno == EAGAIN && ++tries < 100)
				continue;
			break;
		}
	}
	size_t done = 0;
	while (done < len) {
		size_t chunk = len - done;
		if (chunk > ZERO_PAGES * PS)
			chunk = ZERO_PAGES * PS;
		if (io_copy(dst + done, U.zeros, chunk, 0) != 0)
			return fill_by_remap(dst + done, NULL, len - done);
		done += chunk;
	}
	return 0;
}

static int u_fill_copy(struct fl_region *r, size_t pg, size_t n, const void *src)
{
	uintptr_t dst = r->base + pg * PS;
	if (io_copy(dst, src, n * PS, 0) == 0)
		return 0;
	return fill_by_remap(dst, src, n * PS);
}

/* Is there a page (or a swap or migration entry) at a? */
static int mapped(uintptr_t a)
{
	unsigned char v = 0;
	return mincore((void *)a, PS, &v) == 0 && (v & 1);
}

/*
 * UFFDIO_MOVE n pages from src to dst; returns how many moved, counting
 * from the first (n, or fewer with errno set).
 *
 * A failure is checked against the page tables before it is believed.
 * Since Linux 6.17 (batched MOVE) a move that had to start over because
 * the source entry changed under it (the program wrote to the page, or
 * reclaim aged it) can move the page and then report EEXIST, having tried
 * the destination it just filled once more; nothing is woken then either.
 * Believed, that loses the page: the pager keeps it as resident while it
 * sits in a stash slot it thinks is free, the program faults on it forever
 * and every later take of that slot fails.  With the pager lock held
 * nothing else fills an empty destination or empties a source, so "source
 * gone, destination there" means the page moved.
 */
static size_t move_checked(uintptr_t dst, uintptr_t src, size_t n, int dontwake)
{
	size_t done = 0;
	while (done < n) {
		uintptr_t d = dst + done * PS, s = src + done * PS;
		struct uffdio_move m = {.dst = d, .src = s, .len = (n - done) * PS,
					.mode = dontwake ? UFFDIO_MOVE_MODE_DONTWAKE : 0};
		if (fl__sys_ioctl(U.fd, UFFDIO_MOVE, &m) == 0)
			return n;
		int e = errno;
		if (m.move > 0) {
			done += (size_t)m.move / PS; /* moved and woken: the rest again */
			continue;
		}
		if (mapped(s) || !mapped(d)) {
			errno = e;
			return done;
		}
		if (!dontwake)
			io_wake(d, PS);
		done++;
	}
	return n;
}

static long u_take(struct fl_region *r, size_t pg, size_t n, uint32_t *slot)
{
	uintptr_t page = r->base + pg * PS;
	uint32_t s;
	size_t got = stash_alloc_run(U.move ? n : 1, &s);
	if (!got)
		return -1;
	if (U.move) {
		size_t moved = move_checked((uintptr_t)stash_addr(s), page, got, 1);
		for (size_t i = moved ? moved : 1; i < got; i++)
			stash_free(s + (uint32_t)i); /* not needed after all */
		if (moved) {
			*slot = s;
			return (long)moved;
		}
		if (errno == EEXIST && mapped((uintptr_t)stash_addr(s))) {
			/* A free slot that holds a page: a defect.  Whose bytes
			 * they are is unknown, so they stay, and the slot is
			 * never handed out again (handing it out again would
			 * fail the same way, forever). */
			FL_WARN("stash slot %u is in use but was free; it is set aside", s);
			return -1;
		}
		/* Only a page that is there but shared (EBUSY: a forked child
		 * still maps it) may be copied instead: copying from a page that
		 * is not there would fault on the shim's own thread. */
		if (!U.wp || errno != EBUSY) {
			stash_free(s);
			return -1;
		}
	}
	if (!U.wp) {
		stash_free(s);
		errno = ENOTSUP;
		return -1;
	}
	struct uffdio_writeprotect w = {.range = {.start = page, .len = PS},
					.mode = UFFDIO_WRITEPROTECT_MODE_WP};
	if (fl__sys_ioctl(U.fd, UFFDIO_WRITEPROTECT, &w) != 0) {
		stash_free(s);
		return -1;
	}
	/* Writers now wait for us; the contents are stable. */
	if (io_copy((uintptr_t)stash_addr(s), (void *)page, PS, 1) != 0 ||
	    fl__sys_madvise((void *)page, PS, MADV_DONTNEED) != 0) {
		int e = errno;
		fl__sys_madvise(stash_addr(s), PS, MADV_DONTNEED);
		w.mode = 0;
		fl__sys_ioctl(U.fd, UFFDIO_WRITEPROTECT, &w);
		stash_free(s);
		errno = e;
		return -1;
	}
	*slot = s;
	return 1;
}

/* Has the kernel swapped this stash slot's page out?  (Its page map
 * entry, read through a descriptor opened at the first need.) */
static int stash_swapped(uint32_t slot)
{
	if (U.pagemap_fd < 0)
		U.pagemap_fd = fl__sys_highfd(
			(int)syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
	uint64_t e = 0;
	off_t off = (off_t)((uintptr_t)stash_addr(slot) / PS * sizeof e);
	return U.pagemap_fd >= 0 && syscall(SYS_pread64, U.pagemap_fd, &e, sizeof e, off) == (long)sizeof e &&
	       (e & (1ull << 62));
}

static const void *u_peek(struct fl_region *r, size_t pg, uint32_t slot, void *scratch)
{
	(void)scratch;
	/* A slot that holds an inactive page is never empty; if it were,
	 * reading it would be a userfault in the stash, and on the handler
	 * thread (direct reclaim) one that nobody could serve.  Check first
	 * and refuse (the caller keeps the page inactive) rather than hang or
	 * compress zeros. */
	unsigned char present = 0;
	if (mincore(stash_addr(slot), PS, &present) != 0 || !(present & 1)) {
		/* Not in memory may mean swapped out by the kernel (a memory
		 * cgroup's limit below the budget): reading it then swaps it
		 * in, no userfault.  The page map tells (bit 62). */
		if (stash_swapped(slot))
			return stash_addr(slot);
		FL_WARN("stash slot %u for page %zu of region %u is empty; that page's contents are lost",
			slot, pg, r->id);
		return NULL;
	}
	return stash_addr(slot);
}

static void u_release(struct fl_region *r, size_t pg, uint32_t slot)
{
	(void)r;
	(void)pg;
	stash_drop(slot);
}

/*
 * Back into place by copy, not by UFFDIO_MOVE: a move clears the stash
 * slot's entry and so flushes it from every CPU running this process,
 * which on the fault path costs a wake-up of the other vCPU whenever the
 * evictor runs there (~17 us against ~1 us for the copy); the slot is
 * emptied later with others in one flush.
 */
static int u_give(struct fl_region *r, size_t pg, uint32_t slot)
{
	uintptr_t page = r->base + pg * PS;
	int rc = 0;
	if (io_copy(page, stash_addr(slot), PS, 0) != 0)
		rc = fill_by_remap(page, stash_addr(slot), PS);
	if (rc < 0)
		return -1;
	u_release(r, pg, slot);
	return rc;
}

static int u_discard(struct fl_region *r, size_t pg, size_t n)
{
	return fl__sys_madvise((void *)(r->base + pg * PS), n * PS, MADV_DONTNEED);
}

static void u_wake(uintptr_t addr, size_t len)
{
	io_wake(addr, len);
}

static int u_write_protect(struct fl_region *r, size_t pg, size_t n, int on)
{
	if (!U.wp) {
		errno = ENOTSUP;
		return -1;
	}
	uintptr_t a = r->base + pg * PS;
	struct uffdio_writeprotect w = {.range = {.start = a, .len = n * PS}};
	if (on)
		w.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	else if (U.sigbus || deferring(a, n * PS))
		w.mode = UFFDIO_WRITEPROTECT_MODE_DONTWAKE;
	return fl__sys_ioctl(U.fd, UFFDIO_WRITEPROTECT, &w) == 0 ? 0 : -1;
}

static int do_register(uintptr_t base, size_t len)
{
	/* Huge pages would make every resolution 2 MiB; the pager works in 4 KiB. */
	fl__sys_madvise((void *)base, len, MADV_NOHUGEPAGE);
	struct uffdio_register reg = {
		.range = {.start = base, .len = len},
		.mode = UFFDIO_REGISTER_MODE_MISSING | (U.wp ? UFFDIO_REGISTER_MODE_WP : 0),
	};
	return fl__sys_ioctl(U.fd, UFFDIO_REGISTER, &reg);
}

static int u_region_create(struct fl_region *r, uintptr_t want, int want_flags)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | want_flags;
	void *p = fl__sys_mmap((void *)want, r->len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (do_register((uintptr_t)p, r->len) != 0) {
		int e = errno;
		fl__sys_munmap(p, r->len);
		errno = e;
		return -1;
	}
	r->base = (uintptr_t)p;
	return 0;
}

static int u_region_adopt(struct fl_region *r)
{
	return do_register(r->base, r->len);
}

static int u_region_unmap(struct fl_region *r, size_t pg, size_t n)
{
	return fl__sys_munmap((void *)(r->base + pg * PS), n * PS);
}

static int u_move_pages(struct fl_region *src, size_t spg, struct fl_region *dst,
			size_t dpg, size_t n)
{
	uintptr_t s = src->base + spg * PS, d = dst->base + dpg * PS;
	if (U.move) {
		size_t done = move_checked(d, s, n, 0);
		if (done == n)
			return 0;
		/* Partly moved: finish with copies from where it stopped. */
		s += done * PS;
		d += done * PS;
		n -= done;
	}
	if (io_copy(d, (void *)s, n * PS, 0) != 0)
		return -1;
	return fl__sys_madvise((void *)s, n * PS, MADV_DONTNEED);
}

static void u_fds(int out[4])
{
	/* -1 ends the list: the open ones first. */
	int n = 0, all[4] = {U.fd, U.stopfd, U.pidfd, U.pagemap_fd};
	for (int i = 0; i < 4; i++)
		if (all[i] >= 0)
			out[n++] = all[i];
	while (n < 4)
		out[n++] = -1;
}

static int u_region_detach(struct fl_region *r)
{
	struct uffdio_range rg = {.start = r->base, .len = r->len};
	return fl__sys_ioctl(U.fd, UFFDIO_UNREGISTER, &rg);
}

/* ---- the handler thread ----------------------------------------------- */

/* Resolve one fault and record it (it wakes its thread before it is recorded). */
static void resolve_and_record(struct handler *h, uintptr_t addr, int write, uint32_t tid)
{
	struct fl_fault_info fi;
	int ticket = tid ? fl__events_stack_begin(tid) : 0;
	int rc;
	if (ticket) {
		/* The thread must have the stack signal pending when it wakes,
		 * so that it is delivered at the faulting instruction. */
		defer_wake = 1;
		dw_lo = UINTPTR_MAX;
		dw_hi = 0;
		rc = fl__pager_fault(addr, write, &fi);
		defer_wake = 0;
		if (rc != 0)
			fi.resolved = 0;
		fl__events_stack_handoff(ticket, addr, write, tid, &fi);
		if (dw_hi > dw_lo)
			io_wake(dw_lo, dw_hi - dw_lo);
	} else {
		rc = fl__pager_fault(addr, write, &fi);
		if (rc == 0)
			fl__events_fault(addr, write, tid, &fi);
	}
	if (rc == 0)
		return;
	if (rc == 1) {
		uintptr_t page = addr & ~(uintptr_t)(PS - 1);
		if (stash_owns(addr)) {
			/* Never meant to happen: the shim read a stash slot it had
			 * not filled.  Serve zeros rather than hang. */
			FL_WARN("fault in the stash at %p", (void *)addr);
			struct uffdio_zeropage z = {.range = {.start = page, .len = PS}};
			if (fl__sys_ioctl(U.fd, UFFDIO_ZEROPAGE, &z) != 0)
				io_wake(page, PS);
		} else {
			/* The region went away under the fault: let it retry. */
			io_wake(page, PS);
		}
		return;
	}
	if (h->ndeferred < MAX_DEFERRED) {
		h->deferred[h->ndeferred].addr = addr;
		h->deferred[h->ndeferred].write = write;
		h->deferred[h->ndeferred].tid = tid;
		h->ndeferred++;
	} else {
		FL_WARN("fault at %p could not be resolved and the retry list is full",
			(void *)addr);
	}
}

/* A fault counts as pending for the log's final drain until recorded. */
static void handle_fault(struct handler *h, uintptr_t addr, int write, uint32_t tid)
{
	int counted = fl__events_resolving();
	resolve_and_record(h, addr, write, tid);
	fl__events_resolved(counted);
}

static void retry_deferred(struct handler *h)
{
	size_t n = h->ndeferred;
	h->ndeferred = 0;
	for (size_t i = 0; i < n; i++)
		handle_fault(h, h->deferred[i].addr, h->deferred[i].write, h->deferred[i].tid);
}

/* Fill ahead while no fault waits, one handler at a time (the others
 * stay free for faults).  Nonzero when there may be more to fill. */
static int fill_ahead(void)
{
	if (__atomic_exchange_n(&U.filling, 1, __ATOMIC_ACQUIRE))
		return 0;
	int more = fl__pager_fill_ahead();
	__atomic_store_n(&U.filling, 0, __ATOMIC_RELEASE);
	return more;
}

/*
 * A forked child's descriptor, read from ours while fork runs (the fork
 * returns once it has been read).  Kept for fork_end when the pager is
 * forking; closed otherwise: that child's faults then read zeros where
 * pages were out, as without the hand-over.
 */
static void on_fork_event(int cfd)
{
	if (__atomic_load_n(&U.fork_wanted, __ATOMIC_ACQUIRE) && U.fork_fd < 0) {
		__atomic_store_n(&U.fork_fd, fl__sys_highfd(cfd), __ATOMIC_RELEASE);
		return;
	}
	fl__sys_close(cfd);
	FL_WARN("a child was forked without the shim's fork handlers (a raw fork system call?): "
		"its managed pages that were out of memory read as zeros");
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	fl__events_own_thread((uintptr_t)handler_main);
	struct uffd_msg msgs[MSG_BATCH];
	uint64_t spin_until = 0;
	/* Here glibc's start of the thread is behind it (in a forked child
	 * it may have faulted: the locale's tables are managed memory, and
	 * the parent answers those faults only until start_forked returns). */
	__atomic_add_fetch(&U.arrived, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &U.arrived, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
	/* A forked child's handlers wait until its tables are its own. */
	while (__atomic_load_n(&U.paused, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &U.paused, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
	for (;;) {
		/* The kernel lets fork return once its event has been read,
		 * before this thread has kept the descriptor: fork_end waits
		 * while any handler is between the two. */
		__atomic_add_fetch(&U.in_read, 1, __ATOMIC_SEQ_CST);
		ssize_t n = fl__sys_read(U.fd, msgs, sizeof msgs);
		for (ssize_t i = 0; i < n / (ssize_t)sizeof msgs[0]; i++)
			if (msgs[i].event == UFFD_EVENT_FORK)
				on_fork_event((int)msgs[i].arg.fork.ufd);
		__atomic_sub_fetch(&U.in_read, 1, __ATOMIC_RELEASE);
		if (n > 0) {
			size_t cnt = (size_t)n / sizeof msgs[0];
			for (size_t i = 0; i < cnt; i++) {
				if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
					continue;
				uint64_t fl = msgs[i].arg.pagefault.flags;
				handle_fault(h, (uintptr_t)msgs[i].arg.pagefault.address,
					     (fl & (UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP)) != 0,
					     (U.features & UFFD_FEATURE_THREAD_ID) ? msgs[i].arg.pagefault.feat.ptid : 0);
			}
			if (U.spin_us)
				spin_until = (fl_mono_ns() / 1000) + U.spin_us;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			FL_WARN("reading the userfaultfd failed: %s", fl__errname(errno));
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		if (h->ndeferred)
			retry_deferred(h);
		if (fill_ahead())
			continue; /* look for faults between chunks */
		if (spin_until && (fl_mono_ns() / 1000) < spin_until)
			continue;
		spin_until = 0;
		struct pollfd pfd[2] = {{.fd = U.fd, .events = POLLIN}, {.fd = U.stopfd, .events = POLLIN}};
		int rc = poll(pfd, 2, h->ndeferred ? 1 : -1);
		if (rc > 0 && (pfd[1].revents & POLLIN))
			break;
	}
	return NULL;
}

/* ---- uffd-sigbus: the faulting thread resolves its own fault ---------- */

static void on_sigbus(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	uintptr_t addr = (uintptr_t)si->si_addr;
	int rc = 1;
	if (si->si_code == BUS_ADRERR && __atomic_load_n(&U.sigbus, __ATOMIC_ACQUIRE)) {
		int write = 1;
#if defined(__x86_64__)
		write = (((ucontext_t *)ucv)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#endif
		struct fl_fault_info fi;
		int counted = fl__events_resolving();
		rc = fl__pager_fault(addr, write, &fi);
		/* This thread took the fault: its stack is right here. */
		if (rc == 0)
			fl__events_fault_here(addr, write, &fi, ucv);
		fl__events_resolved(counted);
		if (rc == 1 && stash_owns(addr)) {
			/* As in the handler thread: never meant to happen. */
			FL_WARN("fault in the stash at %p", (void *)addr);
			struct uffdio_zeropage z = {
				.range = {.start = addr & ~(uintptr_t)(PS - 1), .len = PS},
				.mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE};
			fl__sys_ioctl(U.fd, UFFDIO_ZEROPAGE, &z);
			rc = 0;
		}
	}
	if (rc == 1)
		fl__sigchain_pass(sig, si, ucv);
	else if (rc < 0)
		sched_yield(); /* not resolvable yet: the access is retried */
	errno = saved;
}

/* Close the engine's descriptors (a forked child's copies of its
 * parent's included: the page map there is the parent's). */
static void close_descriptors(void)
{
	int *fds[] = {&U.fd, &U.stopfd, &U.pidfd, &U.pagemap_fd};
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
		if (*fds[i] >= 0)
			fl__sys_close(*fds[i]);
		*fds[i] = -1;
	}
}

/*
 * Give back everything the engine holds.  join: stop and join the handler
 * threads first (not in a forked child, where they do not exist).  The
 * descriptor is closed before the stash is freed: closing drops the
 * stash's registration, and the freed block may be reused.
 */
static void release(int join)
{
	if (join && U.nhandlers) {
		/* The eventfd stays readable: every handler sees it. */
		uint64_t one = 1;
		if (write(U.stopfd, &one, sizeof one) < 0)
			FL_WARN("cannot stop the fault handlers: %s", fl__errname(errno));
		for (int i = 0; i < U.nhandlers; i++)
			pthread_join(U.handlers[i].thread, NULL);
		fl__events_own_thread_gone((uintptr_t)handler_main);
	}
	U.nhandlers = 0;
	U.filling = 0;
	if (U.sigbus && join) {
		/* Nothing is registered any more (regions were detached): no
		 * SIGBUS of ours can come.  A forked child keeps the handler
		 * and the recorded action for its re-arm. */
		__atomic_store_n(&U.sigbus, 0, __ATOMIC_RELEASE);
		fl__sigchain_release(SIGBUS);
	}
	U.sigbus = 0;
	close_descriptors();
	fl__mem_free(U.stash, U.stash_pages * PS);
	fl__mem_free(U.zeros, ZERO_PAGES * PS);
	fl__mem_free(U.free_map, U.map_words * sizeof(uint64_t));
	U.stash = U.zeros = NULL;
	U.free_map = NULL;
	U.ndropping = 0;
}

/*
 * The CPUs to pin handlers to: one per CPU this process may run on, up to
 * fl__uffd_handlers when that is set (and MAX_HANDLERS).  A single handler
 * (one CPU, or asked for) is not pinned.  Returns how many.
 */
static int handler_cpus(int cpus[MAX_HANDLERS])
{
	int want = fl__uffd_handlers ? (int)fl__uffd_handlers : MAX_HANDLERS;
	if (want > MAX_HANDLERS)
		want = MAX_HANDLERS;
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		for (int c = 0; c < CPU_SETSIZE && n < want; c++)
			if (CPU_ISSET(c, &set))
				cpus[n++] = c;
	if (n <= 1) {
		cpus[0] = -1;
		n = 1;
	}
	return n;
}

/*
 * The handler threads, one per CPU (handler_cpus), with every signal
 * blocked so the host's handlers never run on them.  Before anything is
 * registered, or (a forked child) paused until resume.
 */
static int start_handlers(char *err, size_t errlen)
{
	int cpus[MAX_HANDLERS];
	int want_handlers = handler_cpus(cpus);
	sigset_t all, old;
	fl__sigchain_helper_mask(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = 0;
	for (int i = 0; i < want_handlers; i++) {
		struct handler *h = &U.handlers[i];
		h->cpu = cpus[i];
		h->ndeferred = 0;
		rc = pthread_create(&h->thread, NULL, handler_main, h);
		if (rc != 0)
			break;
		U.nhandlers++;
		/* Pinned before start returns (a syscall, no allocation). */
		if (h->cpu >= 0) {
			cpu_set_t one;
			CPU_ZERO(&one);
			CPU_SET(h->cpu, &one);
			int prc = pthread_setaffinity_np(h->thread, sizeof one, &one);
			if (prc != 0)
				FL_INFO("fault handler: cannot pin to CPU %d: %s", h->cpu, fl__errname(prc));
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (U.nhandlers == 0) {
		snprintf(err, errlen, "cannot start the fault handler: %s", strerror(rc));
		return -1;
	}
	if (rc != 0)
		FL_INFO("started %d of %d fault handlers: %s", U.nhandlers, want_handlers, strerror(rc));
	return 0;
}

static int start(size_t stash_pages, struct fl_engine_caps *caps, char *err, size_t errlen,
		 int sigbus)
{
	int user_only = 0;
	U.stash_pages = stash_pages;
	int probe = uffd_open(0, &user_only, err, errlen);
	if (probe < 0)
		return -1;
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	if (fl__sys_ioctl(probe, UFFDIO_API, &api) != 0) {
		snprintf(err, errlen, "UFFDIO_API: %s", strerror(errno));
		fl__sys_close(probe);
		return -1;
	}
	fl__sys_close(probe);
	uint64_t avail = api.features;
	uint64_t want = avail & (UFFD_FEATURE_MOVE | UFFD_FEATURE_PAGEFAULT_FLAG_WP |
				 UFFD_FEATURE_THREAD_ID);
	if (sigbus) {
		if (!(avail & UFFD_FEATURE_SIGBUS)) {
			snprintf(err, errlen, "the kernel has no UFFD_FEATURE_SIGBUS");
			return -1;
		}
		want |= UFFD_FEATURE_SIGBUS;
	}
	int uo2 = 0;
	U.fd = fl__sys_highfd(uffd_open(user_only ? UFFD_USER_MODE_ONLY : 0, &uo2, err, errlen));
	if (U.fd < 0)
		return -1;
	user_only |= uo2;
	/* A forked child's faults handed to us (fork.c): the kernel grants
	 * it only to a process with CAP_SYS_PTRACE, and a refused UFFDIO_API
	 * leaves the descriptor as new, so ask again without it. */
	uint64_t fork_ev = !sigbus && fl__uffd_fork_events ? avail & UFFD_FEATURE_EVENT_FORK : 0;
	api.api = UFFD_API;
	api.features = want | fork_ev;
	if (fork_ev && fl__sys_ioctl(U.fd, UFFDIO_API, &api) == 0) {
		want |= fork_ev;
	} else {
		api.api = UFFD_API;
		api.features = want;
		if (fl__sys_ioctl(U.fd, UFFDIO_API, &api) != 0) {
			snprintf(err, errlen, "UFFDIO_API with features %#llx: %s",
				 (unsigned long long)want, strerror(errno));
			goto fail;
		}
	}
	U.features = want;
	U.move = (want & UFFD_FEATURE_MOVE) != 0;
	/* Write-protect mode too where the kernel has it: the copy fallback
	 * needs it, for kernels without UFFDIO_MOVE and for pages MOVE refuses
	 * (shared with a forked child until one side writes). */
	U.wp = (want & UFFD_FEATURE_PAGEFAULT_FLAG_WP) != 0;
	U.user_only = user_only;
	U.spin_us = fl__uffd_spin_us;

	U.stopfd = fl__sys_highfd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (U.stopfd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	/* From the shim's own range (mem.h), never a hole the program made. */
	U.zeros = fl__mem_alloc(ZERO_PAGES * PS); /* never written: reads zero */
	U.stash = fl__mem_alloc(stash_pages * PS);
	U.map_words = (stash_pages + 63) / 64;
	U.free_map = fl__mem_alloc(U.map_words * sizeof(uint64_t));
	if (!U.zeros || !U.stash || !U.free_map) {
		snprintf(err, errlen, "cannot map the engine's buffers: %s", strerror(errno));
		goto fail;
	}
	fl__sys_madvise(U.stash, stash_pages * PS, MADV_NOHUGEPAGE);
	U.nfree = 0;
	U.cursor = 0;
	U.ndropping = 0;
	for (size_t i = 0; i < stash_pages; i++)
		stash_free((uint32_t)i);
	U.pidfd = fl__sys_highfd(fl__sys_pidfd_self()); /* -1: slots dropped one by one */

	if (sigbus) {
		/* Held before anything is registered; no handler threads. */
		if (fl__sigchain_hold(SIGBUS, on_sigbus) != 0) {
			snprintf(err, errlen, "sigaction(SIGBUS): %s", strerror(errno));
			goto fail;
		}
		__atomic_store_n(&U.sigbus, 1, __ATOMIC_RELEASE);
		goto handlers_done;
	}
	if (start_handlers(err, errlen) != 0)
		goto fail;
handlers_done:

	struct uffdio_register reg = {
		.range = {.start = (uintptr_t)U.stash, .len = stash_pages * PS},
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (fl__sys_ioctl(U.fd, UFFDIO_REGISTER, &reg) != 0) {
		snprintf(err, errlen, "UFFDIO_REGISTER: %s", strerror(errno));
		goto fail;
	}

	caps->move = U.move;
	caps->can_evict = U.move || U.wp;
	caps->adopt = 1;
	const char *evict = U.move ? (U.wp ? "UFFDIO_MOVE, else write-protect and copy" : "UFFDIO_MOVE")
				   : U.wp ? "write-protect and copy" : "nothing (cannot evict)";
	if (sigbus) {
		caps->kernel_faults = 0;
		/* No write protection after fork: a read(2) into a page not yet
		 * written since would fail with EFAULT, as for evicted pages. */
		caps->cow_faults = 0;
		caps->fill_ahead = 0;
		caps->fault_signal = SIGBUS;
		snprintf(caps->detail, sizeof caps->detail,
			 "userfaultfd with SIGBUS: each fault resolved in the faulting thread; "
			 "kernel-mode accesses to untouched or evicted pages fail with EFAULT; "
			 "eviction by %s", evict);
		return 0;
	}
	caps->kernel_faults = !user_only;
	/* Copy-on-write breaks as faults, where a kernel-mode write to a
	 * protected page waits for the handler like a program's own. */
	caps->cow_faults = U.wp && !user_only;
	caps->fork_handoff = (want & UFFD_FEATURE_EVENT_FORK) != 0;
	caps->fill_ahead = 1;
	snprintf(caps->detail, sizeof caps->detail,
		 "userfaultfd%s: eviction by %s%s; %d fault handler%s%s; fork %s",
		 user_only ? " (user-mode faults only: kernel-mode accesses to evicted pages fail with EFAULT)" : "",
		 evict, (avail & UFFD_FEATURE_THREAD_ID) ? ", thread ids" : "", U.nhandlers,
		 U.nhandlers > 1 ? "s" : "", U.handlers[0].cpu >= 0 ? ", each pinned to a CPU" : "",
		 caps->fork_handoff ? "hands evicted pages to the child" : "brings evicted pages back");
	return 0;

fail:
	release(1);
	return -1;
}

static int u_start(size_t stash_pages, struct fl_engine_caps *caps, char *err, size_t errlen)
{
	return start(stash_pages, caps, err, errlen, 0);
}

static int u_start_sigbus(size_t stash_pages, struct fl_engine_caps *caps, char *err, size_t errlen)
{
	return start(stash_pages, caps, err, errlen, 1);
}

static void u_forget(void)
{
	/* In a forked child: the handler thread does not exist here, the
	 * descriptor is the parent's context, the stash is plain memory. */
	release(0);
}

static void u_stop(void)
{
	release(1);
}

/* ---- fork: the child's descriptor handed over -------------------------- */

static void u_fork_begin(void)
{
	U.fork_fd = -1;
	__atomic_store_n(&U.fork_wanted, 1, __ATOMIC_RELEASE);
}

static int u_fork_end(void)
{
	/* A fork that made a child returned after a handler read its
	 * event; that handler may not have kept the descriptor yet. */
	while (__atomic_load_n(&U.fork_fd, __ATOMIC_ACQUIRE) < 0 &&
	       __atomic_load_n(&U.in_read, __ATOMIC_ACQUIRE) > 0)
		sched_yield();
	__atomic_store_n(&U.fork_wanted, 0, __ATOMIC_RELEASE);
	return __atomic_exchange_n(&U.fork_fd, -1, __ATOMIC_ACQ_REL);
}

/* One of the child's faults, on its descriptor cfd (lock held). */
static void serve_one(int cfd, const struct uffd_msg *m,
		      int (*content)(uintptr_t page, void *scratch), void *scratch)
{
	uintptr_t page = (uintptr_t)m->arg.pagefault.address & ~(uintptr_t)(PS - 1);
	int rc;
	if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
		/* A protection the child inherited: its tables decide later
		 * whether it stands for anything; let this write through. */
		struct uffdio_writeprotect w = {.range = {.start = page, .len = PS}};
		rc = fl__sys_ioctl(cfd, UFFDIO_WRITEPROTECT, &w);
	} else {
		int k = content(page, scratch);
		if (k < 0)
			FL_WARN("a forked child faulted at %p, which the pager cannot account for: "
				"it reads zeros", (void *)page);
		if (k > 0) {
			struct uffdio_copy c = {.dst = page, .src = (uintptr_t)scratch, .len = PS};
			rc = fl__sys_ioctl(cfd, UFFDIO_COPY, &c);
		} else {
			struct uffdio_zeropage z = {.range = {.start = page, .len = PS}};
			rc = fl__sys_ioctl(cfd, UFFDIO_ZEROPAGE, &z);
		}
	}
	if (rc != 0) {
		/* EEXIST: already there.  Anything else: let it retry. */
		struct uffdio_range r = {.start = page, .len = PS};
		if (errno != EEXIST)
			FL_WARN("cannot resolve a forked child's fault at %p: %s", (void *)page,
				fl__errname(errno));
		fl__sys_ioctl(cfd, UFFDIO_WAKE, &r);
	}
}

static int u_fork_serve(int cfd, int until_fd, int (*content)(uintptr_t page, void *scratch),
			void *scratch)
{
	struct uffd_msg msgs[MSG_BATCH];
	for (;;) {
		ssize_t n = fl__sys_read(cfd, msgs, sizeof msgs);
		if (n > 0) {
			for (size_t i = 0; i < (size_t)n / sizeof msgs[0]; i++) {
				if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
					serve_one(cfd, &msgs[i], content, scratch);
				else if (msgs[i].event == UFFD_EVENT_FORK)
					fl__sys_close((int)msgs[i].arg.fork.ufd); /* not ours to serve */
			}
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		struct pollfd pfd[2] = {{.fd = cfd, .events = POLLIN}, {.fd = until_fd, .events = POLLIN}};
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return -1;
		/* The child speaks only when it is not waiting on a fault. */
		if (pfd[1].revents && !(pfd[0].revents & POLLIN))
			return 0;
	}
}

static void u_fork_adopt(int fd)
{
	/* The parent's descriptors: this process's copies are closed, the
	 * parent's threads are gone; the stash, the zero pages and the map
	 * of free slots are this child's copies, in step with its tables. */
	close_descriptors();
	U.fd = fd;
	U.nhandlers = 0;
	U.filling = 0;
	U.fork_fd = -1;
	U.fork_wanted = 0;
	U.paused = 1;
}

static int u_start_forked(char *err, size_t errlen)
{
	U.stopfd = fl__sys_highfd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (U.stopfd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	U.pidfd = fl__sys_highfd(fl__sys_pidfd_self());
	U.arrived = 0;
	if (start_handlers(err, errlen) != 0)
		return -1;
	/* A new thread's start in glibc touches managed memory (the locale's
	 * tables, malloc'd): let every handler get through it while the
	 * parent still answers this child's faults, or a handler could wait
	 * on a fault only the handlers can serve. */
	int n;
	while ((n = __atomic_load_n(&U.arrived, __ATOMIC_ACQUIRE)) < U.nhandlers)
		syscall(SYS_futex, &U.arrived, FUTEX_WAIT_PRIVATE, n, NULL, NULL, 0);
	return 0;
}

static void u_resume(void)
{
	__atomic_store_n(&U.paused, 0, __ATOMIC_RELEASE);
	syscall(SYS_futex, &U.paused, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Both engines are this file; only how a fault reaches it differs. */
#define UFFD_OPS                                                                        \
	.stop = u_stop, .forget = u_forget, .region_create = u_region_create,               \
	.region_adopt = u_region_adopt, .region_unmap = u_region_unmap,                     \
	.region_detach = u_region_detach, .fill_zero = u_fill_zero, .fill_copy = u_fill_copy, \
	.take = u_take, .peek = u_peek, .give = u_give, .release = u_release,               \
	.discard = u_discard, .move_pages = u_move_pages, .write_protect = u_write_protect, \
	.wake = u_wake, .fds = u_fds, .fork_begin = u_fork_begin, .fork_end = u_fork_end,           \
	.fork_serve = u_fork_serve, .fork_adopt = u_fork_adopt, .start_forked = u_start_forked,   \
	.resume = u_resume

const struct fl_engine fl__engine_uffd = {
	.name = "uffd",
	.kind = FL_ENGINE_UFFD,
	.start = u_start,
	UFFD_OPS,
};

const struct fl_engine fl__engine_uffd_sigbus = {
	.name = "uffd-sigbus",
	.kind = FL_ENGINE_UFFD_SIGBUS,
	.start = u_start_sigbus,
	UFFD_OPS,
};
