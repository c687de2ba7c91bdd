/*
 * fork: a child keeps every byte of managed memory.
 *
 * Where the engine can hand the child its faults (caps.fork_handoff: the
 * kernel's UFFD_FEATURE_EVENT_FORK), pages that are out of memory stay
 * out.  The child inherits the store, the stash and the page tables as
 * copy-on-write memory like any other (the kernel counts the sharing), and
 * the kernel gives it a fault descriptor of its own on which its faults
 * wait.  The parent's handler reads that descriptor while fork runs; the
 * forking thread, still holding the pager lock so its tables stay as they
 * were at the fork, sends it to the child over a socket pair made for this
 * fork and answers the child's faults itself (glibc's and jemalloc's fork
 * handlers touch managed memory before the child can) until the child,
 * from its last fork handler, has started its own handlers and says so.
 * The child then reconciles its tables with what its parent filled in.
 *
 * Otherwise every page out of the program's view is brought back before
 * the fork, with the pager lock held across it so the child's tables are a
 * consistent snapshot; in the child the shim's threads and (for
 * userfaultfd) the registrations are gone, and the engine re-arms at the
 * child's next call into the pager, when it may allocate again.
 *
 * Copy-on-write breaks are faults: after the fork the parent write-protects
 * its resident managed pages (and a child its own, once it has re-armed),
 * so the first write to each after the fork comes to the pager, which logs
 * it as a write-protect fault with its stack and lets the write through to
 * the kernel's own copy.
 */
#include "pager_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "sys.h"

/* A page whose next write can be made a fault after fork. */
static int cow_can_arm(const struct fl_page *p)
{
	return fl__pg_state(p) == FL_PG_RESIDENT &&
	       !(p->meta & (FL_PG_BUSY | FL_PG_PINNED | FL_PG_PROT_MASK));
}

/*
 * Put every page of r that is out of the program's view back into it,
 * whatever the budget says (lock held, evictor idle).  A page that cannot
 * come back is counted as an error and stays where it is.
 */
void fl__fork_bring_back(struct fl_region *r)
{
	for (size_t i = 0; i < r->npages; i++) {
		struct fl_page *p = &r->pages[i];
		unsigned st = fl__pg_state(p);
		int rc;
		if (st == FL_PG_INACTIVE) {
			rc = P.eng->give(r, i, p->slot);
		} else if (st == FL_PG_COMPRESSED || st == FL_PG_SAME) {
			rc = fl_store_get(P.ctx_fault, &p->ref, P.bounce) == 0
				     ? P.eng->fill_copy(r, i, 1, P.bounce)
				     : -1;
			if (rc >= 0)
				fl_store_drop(P.store, &p->ref);
		} else {
			continue;
		}
		if (rc < 0) {
			fl__note_error();
			continue;
		}
		p->slot = 0;
		if (rc > 0)
			p->meta |= FL_PG_PINNED;
		fl__page_move(r, p, FL_PG_RESIDENT);
	}
}

/*
 * Before fork, lock held across it so the child's tables are a consistent
 * snapshot.  With a hand-over: the socket pair for it, and the handlers
 * told to keep the child's descriptor (and to leave faults for later
 * rather than wait for the lock).  Without: every page that is not in the
 * program's view is brought back, so the child inherits all managed bytes
 * as ordinary memory and nothing it touches can read as zeros before it
 * re-arms.
 */
void fl_pager_fork_prepare(void)
{
	if (!P.running)
		return;
	fl_lock(&P.lock);
	fl__reclaim_wait_idle();
	/* Both processes keep the spill file as it is now and write new
	 * ones of their own. */
	fl_store_fork_prepare(P.store);
	if (P.caps.fork_handoff && P.eng->fork_begin &&
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, P.fork_sock) == 0) {
		P.fork_sock[0] = fl__sys_highfd(P.fork_sock[0]);
		P.fork_sock[1] = fl__sys_highfd(P.fork_sock[1]);
		P.eng->fork_begin();
		__atomic_store_n(&P.forking, 1, __ATOMIC_RELEASE);
		FL_ASSERT(fl__region_counts_ok());
		return;
	}
	if (P.caps.fork_handoff)
		FL_INFO("cannot make the fork's socket pair (%s): pages are brought back",
			fl__errname(errno));
	for (size_t k = 0; k < P.nregions; k++)
		fl__fork_bring_back(P.sorted[k]);
	fl__note_used();
	FL_ASSERT(fl__region_counts_ok());
}

/* ---- the hand-over ------------------------------------------------------ */

/* What the child reads at page (lock held, tables as at the fork): 1 with
 * scratch filled, 0 for zeros, -1 when the pager cannot say. */
static int child_content(uintptr_t page, void *scratch)
{
	struct fl_region *r = fl__region_lookup(page);
	if (!r)
		return -1;
	size_t pg = (page - r->base) >> FL_PAGE_SHIFT;
	struct fl_page *p = &r->pages[pg];
	switch (fl__pg_state(p)) {
	case FL_PG_UNTOUCHED:
		return 0;
	case FL_PG_INACTIVE: {
		const void *src = P.eng->peek(r, pg, p->slot, scratch);
		if (!src)
			return -1;
		if (src != scratch)
			memcpy(scratch, src, FL_PAGE_SIZE);
		return 1;
	}
	case FL_PG_COMPRESSED:
	case FL_PG_SAME:
		return fl_store_get(P.ctx_fault, &p->ref, scratch) == 0 ? 1 : -1;
	default:
		/* Resident here, so present in the child too: it cannot fault
		 * for want of it. */
		return -1;
	}
}

/* One byte: the child has its handlers ('T'), the parent has stopped
 * answering ('D').  The descriptor goes with an 'F' ('N': none). */
static int sock_send(int s, char what, int fd)
{
	struct iovec iov = {.iov_base = &what, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof u);
		m.msg_control = u.buf;
		m.msg_controllen = sizeof u.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	long rc;
	do
		rc = syscall(SYS_sendmsg, s, &m, MSG_NOSIGNAL);
	while (rc < 0 && errno == EINTR);
	return rc == 1 ? 0 : -1;
}

/* The next byte (0 at end of file or on error), and a descriptor with it
 * into *fd when fd is not NULL (-1 without one). */
static char sock_recv(int s, int *fd)
{
	char what = 0;
	struct iovec iov = {.iov_base = &what, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			   .msg_controllen = sizeof u.buf};
	long rc;
	do
		rc = syscall(SYS_recvmsg, s, &m, MSG_CMSG_CLOEXEC);
	while (rc < 0 && errno == EINTR);
	if (fd)
		*fd = -1;
	if (rc != 1)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int got;
		memcpy(&got, CMSG_DATA(c), sizeof got);
		if (fd && *fd < 0)
			*fd = got;
		else
			syscall(SYS_close, got);
	}
	return what;
}

/*
 * In the parent, after the fork (lock held since prepare): send the child
 * its descriptor and answer its faults until it has handlers of its own
 * (or is gone).
 */
static void handoff_parent(void)
{
	int cfd = P.eng->fork_end();
	syscall(SYS_close, P.fork_sock[1]);
	int s = P.fork_sock[0];
	if (cfd >= 0 && !P.inactive && !P.compressed && !P.same) {
		/* Nothing is out: the child needs no descriptor (a page it
		 * faults on reads zeros once this one is closed, as it
		 * should) and re-arms at its first call into the pager, so a
		 * child that only execs starts no thread. */
		syscall(SYS_close, cfd);
		cfd = -1;
		sock_send(s, 'P', -1);
	} else if (sock_send(s, cfd >= 0 ? 'F' : 'N', cfd) == 0 && cfd >= 0) {
		if (P.eng->fork_serve(cfd, s, child_content, P.bounce) != 0)
			FL_WARN("answering a forked child's faults failed: %s", fl__errname(errno));
		if (sock_recv(s, NULL) == 'T')
			sock_send(s, 'D', -1);
	}
	if (cfd >= 0)
		syscall(SYS_close, cfd);
	syscall(SYS_close, s);
	P.fork_sock[0] = P.fork_sock[1] = -1;
	__atomic_store_n(&P.forking, 0, __ATOMIC_RELEASE);
}

/*
 * /proc/self/pagemap, read a chunk at a time: which pages are still shared
 * with another process (present, and not "exclusively mapped", bit 56).
 */
#define PM_CHUNK 512
#define PM_PRESENT (1ull << 63)
#define PM_EXCLUSIVE (1ull << 56)
/* The chunk last read (lock held: one user at a time); r NULL: none, as
 * after any change of the page tables. */
static struct {
	const struct fl_region *r;
	size_t lo, n;
	uint64_t e[PM_CHUNK];
} pm;

/* Is page i of r still shared?  1 when the page map cannot say. */
static int pm_shared(const struct fl_region *r, size_t i)
{
	if (P.pagemap_fd < 0)
		return 1;
	if (pm.r != r || i < pm.lo || i >= pm.lo + pm.n) {
		size_t n = r->npages - i < PM_CHUNK ? r->npages - i : PM_CHUNK;
		long got = syscall(SYS_pread64, P.pagemap_fd, pm.e, n * sizeof pm.e[0],
				   (off_t)((r->base / FL_PAGE_SIZE + i) * sizeof pm.e[0]));
		pm.r = r;
		pm.lo = i;
		pm.n = got > 0 ? (size_t)got / sizeof pm.e[0] : 0;
		if (!pm.n)
			return 1;
	}
	uint64_t e = pm.e[i - pm.lo];
	return (e & PM_PRESENT) && !(e & PM_EXCLUSIVE);
}

/* The process's page map, opened once (opening it costs ~20 us, more
 * than the fault it serves); fl_pager_owns_fd guards it.  -1 if it cannot
 * be read. */
static int pm_open(void)
{
	if (P.pagemap_fd < 0)
		P.pagemap_fd = fl__sys_highfd(
			(int)syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
	return P.pagemap_fd;
}

void fl__cow_reset(void)
{
	P.cow_breaks = P.cow_excl_breaks = 0;
	P.cow_walk_after = 1;
}

/* Page i of r: protect it after fork (arm), or lift a protection that
 * guards nothing any more (!arm: no other process shares the page). */
static int cow_pick(const struct fl_region *r, size_t i, int arm, int shared_only)
{
	const struct fl_page *p = &r->pages[i];
	if (arm)
		return cow_can_arm(p) && (!shared_only || pm_shared(r, i));
	return (p->meta & FL_PG_COW) && fl__pg_state(p) == FL_PG_RESIDENT &&
	       !(p->meta & (FL_PG_BUSY | FL_PG_SNAP)) && !pm_shared(r, i);
}

/*
 * arm: write-protect every resident read-write page of every region (lock
 * held), run by run, and mark it FL_PG_COW; shared_only (a child that
 * re-arms late): only the pages still shared with another process, so
 * that a page the parent has already copied is not counted as a copy
 * here too.  Pages the engine cannot protect are left writable: their
 * copy is not logged, nothing else changes.  !arm: lift the protection of
 * every marked page that no other process shares any more.
 */
static size_t cow_walk(int arm, int shared_only)
{
	size_t changed = 0;
	if (!P.caps.cow_faults || !P.eng->write_protect || (arm && !P.cfg.cow_faults))
		return 0;
	pm.r = NULL;
	if (!arm && pm_open() < 0)
		return 0; /* nothing can be known unshared */
	if (shared_only)
		pm_open(); /* unreadable: every page counts as shared */
	for (size_t k = 0; k < P.nregions; k++) {
		struct fl_region *r = P.sorted[k];
		size_t i = 0;
		while (i < r->npages) {
			if (!cow_pick(r, i, arm, shared_only)) {
				i++;
				continue;
			}
			size_t j = i + 1;
			while (j < r->npages && cow_pick(r, j, arm, shared_only))
				j++;
			if (P.eng->write_protect(r, i, j - i, arm) == 0) {
				for (size_t q = i; q < j; q++)
					r->pages[q].meta = arm ? r->pages[q].meta | FL_PG_COW
							       : r->pages[q].meta & ~FL_PG_COW;
				changed += j - i;
			} else if (arm) {
				FL_INFO("cannot write-protect %zu pages after fork (%s): their copies are "
					"not logged", j - i, fl__errname(errno));
			}
			i = j;
		}
	}
	return changed;
}

int fl__cow_break(struct fl_region *r, size_t pg)
{
	struct fl_page *p = &r->pages[pg];
	if (P.eng->write_protect(r, pg, 1, 0) != 0)
		return -1;
	p->meta = (p->meta & ~FL_PG_COW) | FL_PG_REF;
	/* Once the other side has exited (or exec'd, or written the page
	 * first), a protected page costs a fault and nothing is copied: a
	 * process that forked a child which exec'd, then rewrote its heap,
	 * took a fault per page (7x the rewrite's time).  So one break in 16
	 * (reading the page map costs ~10 us here, half a break) looks
	 * whether its page was still shared; when it was not, every
	 * protection that guards nothing is lifted.  A walk reads the page
	 * map of every region, so one that lifted little makes the next wait
	 * for twice as many such breaks (a child still alive, writing its
	 * pages one by one). */
	if (P.cow_breaks++ % 16 != 0)
		return 0;
	pm_open();
	pm.r = NULL;
	int shared = pm_shared(r, pg);
	if (!shared && ++P.cow_excl_breaks >= P.cow_walk_after) {
		size_t lifted = cow_walk(0, 0);
		P.cow_excl_breaks = 0;
		P.cow_walk_after = lifted >= 64 ? 1 : P.cow_walk_after < 1024 ? P.cow_walk_after * 2 : 1024;
	}
	return 0;
}

void fl_pager_fork_parent(void)
{
	if (!P.running)
		return;
	if (P.forking)
		handoff_parent();
	cow_walk(1, 0);
	fl__cow_reset();
	fl_unlock(&P.lock);
	fl__reclaim_wake();
}

/*
 * In the child: the shim's threads are gone and, for userfaultfd, so is
 * every registration (all pages are present, so nothing is lost).  Only
 * async-signal-safe work here; the engine is restarted at the next call
 * into the pager (rearm_if_needed), when malloc is safe again.
 */
void fl_pager_fork_child(void)
{
	if (!P.running)
		return;
	P.lock.v = 0;
	P.evictor_started = 0;
	P.evict_seq = 0;
	P.busy = 0;
	/* The child is a process of its own in the log and the summary: it
	 * counts its own faults and evictions from here, not its parent's. */
	memset(P.faults, 0, sizeof P.faults);
	/* The page map open here is the parent's. */
	if (P.pagemap_fd >= 0)
		syscall(SYS_close, P.pagemap_fd);
	P.pagemap_fd = -1;
	fl__cow_reset();
	P.prefilled = P.readahead = P.evicted = P.deactivated = 0;
	P.direct_reclaims = P.errors = P.fault_ns = 0;
	P.peak = fl__used_pages();
	P.pressure_peak = P.pressure;
	fl_store_fork_child(P.store);
	if (P.forking) {
		/* The parent sends this child its descriptor (or says it has
		 * none) as soon as fork returns there. */
		int fd;
		syscall(SYS_close, P.fork_sock[0]);
		char what = sock_recv(P.fork_sock[1], &fd);
		P.forking = 0;
		if (what == 'F' && fd >= 0) {
			P.eng->fork_adopt(fl__sys_highfd(fd));
			P.handoff = 1;
			P.running = 0;
			P.rearm_pending = 1; /* from fl_pager_fork_child_late */
			return;
		}
		if (fd >= 0)
			syscall(SYS_close, fd);
		syscall(SYS_close, P.fork_sock[1]);
		P.fork_sock[0] = P.fork_sock[1] = -1;
		if (what != 'P')
			FL_WARN("forked child got no fault descriptor from its parent (%s): managed "
				"pages that were out of memory at the fork read as zeros here",
				what ? "the kernel gave none" : "the parent is gone");
	}
	P.eng->forget();
	if (P.kind == FL_ENGINE_SIGNAL) {
		/* The SIGSEGV handler came along: regions keep working. */
		P.rearm_pending = 1; /* only the evictor to restart */
		return;
	}
	P.running = 0;
	P.rearm_pending = 1;
}

/*
 * A child that took its parent's descriptor over (lock held): start its
 * handlers, tell the parent to stop answering, make the tables its own.
 * 0, or -1 after every page has been brought back and the engine
 * forgotten (the caller then re-arms as after a plain fork).
 */
static int handoff_rearm(void)
{
	char err[256];
	int s = P.fork_sock[1];
	int ok = P.eng->start_forked(err, sizeof err) == 0;
	if (!ok) {
		/* The parent still answers this thread's faults; the fills
		 * need no handler. */
		FL_WARN("forked child could not start its fault handlers (%s); its pages are "
			"brought back", err);
		for (size_t k = 0; k < P.nregions; k++)
			fl__fork_bring_back(P.sorted[k]);
	}
	sock_send(s, 'T', -1);
	sock_recv(s, NULL); /* 'D', or the parent is gone: either way done */
	syscall(SYS_close, s);
	P.fork_sock[0] = P.fork_sock[1] = -1;
	P.handoff = 0;
	if (!ok) {
		P.eng->forget();
		return -1;
	}
	/* Pages protected at the fork (the parent's copy-on-write marks and
	 * snapshots) are still protected here: they stand for sharing with
	 * the parent now, so a write to one is this child's copy. */
	for (size_t k = 0; k < P.nregions; k++) {
		struct fl_region *r = P.sorted[k];
		for (size_t i = 0; i < r->npages; i++)
			if (r->pages[i].meta & FL_PG_SNAP)
				r->pages[i].meta = (r->pages[i].meta & ~FL_PG_SNAP) | FL_PG_COW;
	}
	fl__snap_fork_child();
	for (size_t k = 0; k < P.nregions; k++)
		fl__region_adopt_states(P.sorted[k]);
	cow_walk(1, 1);
	fl__note_used();
	FL_ASSERT(fl__region_counts_ok());
	return 0;
}

void fl_pager_fork_child_late(void)
{
	if (P.handoff)
		fl__fork_rearm();
}

void fl__fork_rearm(void)
{
	if (!__atomic_load_n(&P.rearm_pending, __ATOMIC_ACQUIRE))
		return;
	fl_lock(&P.lock);
	if (!P.rearm_pending) {
		fl_unlock(&P.lock);
		return;
	}
	/* rearm_pending stays set until the engine runs again (it is cleared
	 * under the lock, below): the fault log reads it without the lock to
	 * know that this child's regions and engine are real. */
	fl__in_shim++;
	if (P.handoff && handoff_rearm() == 0) {
		P.running = 1;
		__atomic_store_n(&P.rearm_pending, 0, __ATOMIC_RELEASE);
		fl_unlock(&P.lock);
		P.eng->resume();
		fl__reclaim_start();
		fl__in_shim--;
		return;
	}
	if (P.kind != FL_ENGINE_SIGNAL) {
		char err[256];
		size_t stash = P.budget ? P.budget + 64 : 64;
		if (P.eng->start(stash, &P.caps, err, sizeof err) != 0) {
			/* Stay unmanaged: every page is plain memory already. */
			FL_WARN("forked child could not re-arm the pager (%s); it runs unmanaged", err);
			for (size_t k = 0; k < P.nregions; k++) {
				fl__mem_free(P.sorted[k]->pages, P.sorted[k]->pages_bytes);
				P.sorted[k]->pages = NULL;
			}
			P.nregions = 0;
			P.degraded = 1;
			__atomic_store_n(&P.rearm_pending, 0, __ATOMIC_RELEASE);
			fl_unlock(&P.lock);
			fl__in_shim--;
			return;
		}
		/* The parent's FIFO names pages that are all resident now. */
		P.inq.len = P.inq.head = 0;
		fl__snap_fork_child();
		for (size_t k = 0; k < P.nregions; k++) {
			struct fl_region *r = P.sorted[k];
			if (P.eng->region_adopt(r) != 0) {
				FL_WARN("forked child could not re-register a region: %s",
					fl__errname(errno));
				fl__note_error();
				/* Unregistered: plain memory; forget it. */
				for (size_t i = 0; i < r->npages; i++)
					fl__page_forget(r, i);
				fl__region_free(r);
				k--;
				continue;
			}
			fl__region_adopt_states(r);
			/* The parent's marks are its own: none of this child's
			 * pages is protected yet. */
			for (size_t i = 0; i < r->npages; i++)
				r->pages[i].meta &= ~FL_PG_COW;
		}
		cow_walk(1, 1);
		P.running = 1;
	}
	__atomic_store_n(&P.rearm_pending, 0, __ATOMIC_RELEASE);
	fl_unlock(&P.lock);
	fl__reclaim_start();
	fl__in_shim--;
}
