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

#include "emitter.h"
#include "lock.h"
#include "log.h"
#include "mem.h"
#include "pager.h"
#include "pager_int.h"
#include "alloc.h"
#include "shim.h"
#include "sys.h"

/*
 * May this call go to the pager?  Not before the shim is ready, and not on
 * a thread where the pager itself is starting threads (it holds its lock
 * then, and the allocations pthread_create makes come back here).
 */
static int dispatch(void)
{
	if (!__atomic_load_n(&fl__shim_ready, __ATOMIC_ACQUIRE) || fl__in_shim)
		return 0;
	/* A forked child's fault log starts at its first memory call (a
	 * child that only execs never reports itself twice). */
	fl__emitter_ensure();
	return 1;
}

/*
 * Mappings the pager would take that were made before it was ready (the
 * allocator's first extents: the pager's own thread creation mallocs), kept
 * up to date through munmap and MAP_FIXED until shim.c adopts them.
 */
#define EARLY_MAX 32
static struct {
	uintptr_t start, end;
	int kind;
} early[EARLY_MAX];
static fl_lock_t early_lock = FL_LOCK_INIT;

/* Forget [a, b) (lock held); a split that finds no slot drops the tail,
 * which then stays plain memory. */
static void early_cut(uintptr_t a, uintptr_t b)
{
	for (int i = 0; i < EARLY_MAX; i++) {
		uintptr_t s = early[i].start, e = early[i].end;
		if (s == e || b <= s || e <= a)
			continue;
		early[i].start = early[i].end = 0;
		if (s < a) {
			early[i].start = s;
			early[i].end = a;
		}
		if (b < e) {
			int j = early[i].start == early[i].end ? i : -1;
			for (int k = 0; j < 0 && k < EARLY_MAX; k++)
				if (early[k].start == early[k].end)
					j = k;
			if (j >= 0) {
				early[j].start = b;
				early[j].end = e;
				early[j].kind = early[i].kind;
			}
		}
	}
}

/* Before the shim is ready: [p, p+len) was mapped (note) or unmapped or
 * mapped over by something the pager does not take (!note). */
static void early_change(void *p, size_t len, int note, int kind)
{
	if (__atomic_load_n(&fl__shim_ready, __ATOMIC_ACQUIRE))
		return;
	uintptr_t a = (uintptr_t)p, b = a + ((len + 4095) & ~(size_t)4095);
	fl_lock(&early_lock);
	early_cut(a, b);
	for (int i = 0; note && i < EARLY_MAX; i++)
		if (early[i].start == early[i].end) {
			early[i].start = a;
			early[i].end = b;
			early[i].kind = kind;
			break;
		}
	fl_unlock(&early_lock);
}

void fl__shim_adopt_early(void)
{
	fl_lock(&early_lock);
	for (int i = 0; i < EARLY_MAX; i++) {
		if (early[i].start == early[i].end)
			continue;
		if (fl_pager_adopt((void *)early[i].start, early[i].end - early[i].start, early[i].kind) != 0)
			FL_INFO("%zu bytes mapped before the shim was ready stay plain memory: %s",
				(size_t)(early[i].end - early[i].start), fl__errname(errno));
		early[i].start = early[i].end = 0;
	}
	fl_unlock(&early_lock);
}

/* The pager takes private, anonymous, read-write mappings, except thread
 * stacks (glibc maps them MAP_STACK), stacks that grow, huge pages and
 * 32-bit address requests. */
static int pager_takes(int prot, int flags, int fd)
{
	return (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE && fd == -1 &&
	       prot == (PROT_READ | PROT_WRITE) &&
	       !(flags & (MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB | MAP_32BIT));
}

/*
 * Reservations: private anonymous address space mapped PROT_NONE, which
 * runtimes (V8, the JVM, Go) commit piece by piece later.  A piece made
 * read-write with mprotect becomes managed memory then (MAP_FIXED
 * read-write mappings over a reservation are managed like any such
 * mapping); either way its region's kind is FL_REGION_COMMITTED, which
 * the viewers and the fault log name.  A reservation is the address
 * space the program set aside: committed pieces stay inside it, and only
 * munmap or a MAP_FIXED mapping of something else cuts it.  Up to
 * RESV_MAX of them are remembered; one that does not fit stays with the
 * kernel.
 */
#define RESV_MAX 4096 /* node made about 400 at once; 64 KiB of table */
static struct {
	uintptr_t start, end;
} resv[RESV_MAX];
static int resv_hi; /* slots at and above are free */
static fl_lock_t resv_lock = FL_LOCK_INIT;

/* A free slot (lock held), or -1. */
static int resv_free_slot(void)
{
	for (int i = 0; i < resv_hi; i++)
		if (resv[i].start == resv[i].end)
			return i;
	return resv_hi < RESV_MAX ? resv_hi++ : -1;
}

static int reserves(int prot, int flags, int fd)
{
	return (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE && fd == -1 && prot == PROT_NONE &&
	       !(flags & (MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB | MAP_32BIT));
}

/* [a, b) was unmapped or mapped over: it is no reservation any more. */
static void resv_cut(uintptr_t a, uintptr_t b)
{
	fl_lock(&resv_lock);
	for (int i = 0; i < resv_hi; i++) {
		uintptr_t s = resv[i].start, e = resv[i].end;
		if (s == e || b <= s || e <= a)
			continue;
		if (a <= s && e <= b) {
			resv[i].start = resv[i].end = 0;
		} else if (a <= s) {
			resv[i].start = b;
		} else if (e <= b) {
			resv[i].end = a;
		} else {
			/* A hole in the middle: the tail needs a slot of its own;
			 * without one it is forgotten (stays with the kernel). */
			resv[i].end = a;
			int j = resv_free_slot();
			if (j >= 0) {
				resv[j].start = b;
				resv[j].end = e;
			}
		}
	}
	fl_unlock(&resv_lock);
}

/* Is [a, b) inside one reservation?  (lock held) */
static int resv_holds_locked(uintptr_t a, uintptr_t b)
{
	for (int i = 0; i < resv_hi; i++)
		if (resv[i].start != resv[i].end && resv[i].start <= a && b <= resv[i].end)
			return 1;
	return 0;
}

static int resv_holds(uintptr_t a, uintptr_t b)
{
	fl_lock(&resv_lock);
	int yes = resv_holds_locked(a, b);
	fl_unlock(&resv_lock);
	return yes;
}

/* A piece uncommitted inside a reservation is in it already. */
static void resv_add(uintptr_t a, uintptr_t b)
{
	fl_lock(&resv_lock);
	int i = resv_holds_locked(a, b) ? -1 : resv_free_slot();
	if (i >= 0) {
		resv[i].start = a;
		resv[i].end = b;
	}
	fl_unlock(&resv_lock);
}

void *fl__shim_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, int kind)
{
	if (!dispatch()) {
		void *p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
		/* The shim's own libraries (libunwind's pools, mapped while the
		 * fault log starts) stay plain memory: they are touched inside
		 * fault handlers, where a fault of their own could not be served. */
		int takes = pager_takes(prot, flags, fd) && !(fl__in_shim && kind == FL_REGION_PROGRAM);
		if (p != MAP_FAILED && (takes || (flags & MAP_FIXED)))
			early_change(p, len, takes, kind);
		return p;
	}
	if ((flags & MAP_FIXED) && len) {
		uintptr_t a = (uintptr_t)addr, b = a + fl__round_pages(len);
		/* The JVM's commit (read-write over its own reservation) and
		 * uncommit (PROT_NONE over it again).  The reservation stays
		 * whole under both, so that committing again over a committed
		 * piece, or across committed and uncommitted ones, is a commit
		 * too.  Anything else mapped there ends it. */
		int takes = pager_takes(prot, flags, fd);
		if ((takes || reserves(prot, flags, fd)) && resv_holds(a, b)) {
			if (takes && kind == FL_REGION_PROGRAM)
				kind = FL_REGION_COMMITTED;
		} else {
			resv_cut(a, b);
		}
	}
	if (pager_takes(prot, flags, fd))
		return fl_pager_map_at(addr, len, flags & (MAP_FIXED | MAP_FIXED_NOREPLACE), kind);
	/* MAP_FIXED over managed memory replaces it: the tables follow. */
	void *p = (flags & MAP_FIXED) ? fl_pager_map_over(addr, len, prot, flags, fd, off)
				      : (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED && len && reserves(prot, flags, fd))
		resv_add((uintptr_t)p, (uintptr_t)p + fl__round_pages(len));
	return p;
}

int fl__shim_munmap(void *addr, size_t len)
{
	if (dispatch()) {
		int rc = fl_pager_unmap(addr, len);
		if (rc == 0 && len)
			resv_cut((uintptr_t)addr, (uintptr_t)addr + fl__round_pages(len));
		return rc;
	}
	int rc = (int)syscall(SYS_munmap, addr, len);
	if (rc == 0)
		early_change(addr, len, 0, 0);
	return rc;
}

int fl__shim_madvise(void *addr, size_t len, int advice)
{
	if (dispatch())
		return fl_pager_advise(addr, len, advice);
	return (int)syscall(SYS_madvise, addr, len, advice);
}

int fl__shim_mprotect(void *addr, size_t len, int prot)
{
	if (!dispatch())
		return (int)syscall(SYS_mprotect, addr, len, prot);
	int rc = fl_pager_protect(addr, len, prot);
	uintptr_t a = (uintptr_t)addr, b = a + fl__round_pages(len);
	/* A reserved piece committed read-write: managed from now on. */
	if (rc == 0 && len && prot == (PROT_READ | PROT_WRITE) && resv_holds(a, b) &&
	    !fl_pager_owns_range(addr, len) && fl_pager_adopt(addr, len, FL_REGION_COMMITTED) != 0 && errno != EEXIST)
		FL_INFO("a committed piece of %zu bytes stays with the kernel: %s", len, fl__errname(errno));
	return rc;
}

FL_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = fl__shim_mmap(addr, len, prot, flags, fd, off, FL_REGION_PROGRAM);
	/* The program's own anonymous memory is an allocation (sampled by
	 * bytes like malloc's); a reservation (no write access) is not yet. */
	if (p != MAP_FAILED && (flags & MAP_ANONYMOUS) && (prot & PROT_WRITE) && !fl__in_shim)
		fl__alloc_note(p, len, FL_WIRE_ALLOC_MMAP);
	return p;
}

FL_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
	__attribute__((alias("mmap")));

FL_EXPORT int munmap(void *addr, size_t len)
{
	fl__alloc_unmapped(addr, len);
	return fl__shim_munmap(addr, len);
}
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
