/*
 * The shim's live state file (include/faultline/state.h): created at
 * start, rewritten by the emitter thread under a sequence lock, removed at
 * exit.  It is a shared file mapping, never managed memory; a forked
 * child drops its parent's mapping (writing it would overwrite the
 * parent's figures) and makes its own.  Raw system calls only.
 */
#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "faultline/state.h"
#include "log.h"
#include "mem.h"
#include "pager.h"
#include "sys.h"
#include "clock.h"

static struct {
	struct fl_state *st;
	char path[96];
	uint64_t start_real;
	unsigned sample_ms;
	int pending; /* a forked child's file, made at its first rewrite */
} S;

/*
 * Files of this user's processes that were killed (no exit handler
 * removed them) pile up in /dev/shm; each new process clears the ones
 * whose pid is gone.  (A reused pid's file is replaced by its new owner.)
 */
static void remove_stale(void)
{
	int dfd = (int)syscall(SYS_openat, AT_FDCWD, FL_STATE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	char prefix[48];
	int plen = snprintf(prefix, sizeof prefix, FL_STATE_PREFIX "%u-", (unsigned)getuid());
	char buf[4096];
	long n;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			off += d->reclen;
			if (strncmp(d->name, prefix, (size_t)plen))
				continue;
			char *end = NULL;
			long pid = strtol(d->name + plen, &end, 10);
			if (pid <= 0 || !end || strcmp(end, ".state"))
				continue;
			if (syscall(SYS_kill, (pid_t)pid, 0) != 0 && errno == ESRCH)
				syscall(SYS_unlinkat, dfd, d->name, 0);
		}
	}
	fl__sys_close(dfd);
}

static int open_file(void);

int fl__publish_open(unsigned sample_ms, uint64_t start_real_ns)
{
	remove_stale();
	S.start_real = start_real_ns;
	S.sample_ms = sample_ms;
	return open_file();
}

static int open_file(void)
{
	pid_t pid = (pid_t)syscall(SYS_getpid);
	snprintf(S.path, sizeof S.path, FL_STATE_PATH_FMT, (unsigned)getuid(), (int)pid);
	/* A file left by an earlier process with this pid is stale. */
	syscall(SYS_unlinkat, AT_FDCWD, S.path, 0);
	int fd = (int)syscall(SYS_openat, AT_FDCWD, S.path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			      0600);
	if (fd < 0) {
		FL_INFO("no state file for viewers (%s: %s)", S.path, fl__errname(errno));
		return -1;
	}
	void *m = MAP_FAILED;
	if (syscall(SYS_ftruncate, fd, (long)sizeof(struct fl_state)) == 0)
		m = fl__sys_mmap(NULL, sizeof(struct fl_state), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	fl__sys_close(fd);
	if (m == MAP_FAILED) {
		syscall(SYS_unlinkat, AT_FDCWD, S.path, 0);
		FL_INFO("no state file for viewers (%s: %s)", S.path, fl__errname(errno));
		return -1;
	}
	S.st = m;
	S.st->magic = FL_STATE_MAGIC;
	S.st->version = FL_STATE_VERSION;
	S.st->pid = (int32_t)pid;
	S.st->start_real_ns = S.start_real;
	S.st->sample_ms = S.sample_ms;
	return 0;
}

/* jemalloc's mallctl, linked into the shim (weak: the pager library
 * without the allocator has none). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
	__attribute__((weak));

static uint64_t ctl_u64(const char *name)
{
	uint64_t v = 0;
	size_t sz = sizeof v;
	if (mallctl(name, &v, &sz, NULL, 0) != 0)
		return 0;
	return v;
}

static uint64_t ctl_arena_u64(unsigned i, const char *what)
{
	char name[96];
	snprintf(name, sizeof name, "stats.arenas.%u.%s", i, what);
	return ctl_u64(name);
}

/* The allocator's figures; only where this thread may touch managed
 * memory (a uffd handler serves its faults, or under uffd-sigbus the
 * thread itself; under the signal engine a shim thread must not). */
static void allocator_stats(struct fl_state *st)
{
	st->allocator_ok = 0;
	st->narenas = 0;
	enum fl_engine_kind e = fl_pager_engine();
	if (!mallctl || (e != FL_ENGINE_UFFD && e != FL_ENGINE_UFFD_USER && e != FL_ENGINE_UFFD_SIGBUS))
		return;
	uint64_t epoch = 1;
	size_t sz = sizeof epoch;
	if (mallctl("epoch", &epoch, &sz, &epoch, sz) != 0)
		return;
	st->alloc_allocated = ctl_u64("stats.allocated");
	st->alloc_active = ctl_u64("stats.active");
	st->alloc_resident = ctl_u64("stats.resident");
	st->alloc_mapped = ctl_u64("stats.mapped");
	st->alloc_retained = ctl_u64("stats.retained");
	unsigned narenas = 0;
	sz = sizeof narenas;
	if (mallctl("arenas.narenas", &narenas, &sz, NULL, 0) != 0)
		narenas = 0;
	for (unsigned i = 0; i < narenas && st->narenas < FL_STATE_MAX_ARENAS; i++) {
		uint64_t mapped = ctl_arena_u64(i, "mapped");
		if (!mapped)
			continue; /* never used */
		struct fl_state_arena *a = &st->arenas[st->narenas++];
		a->index = i;
		a->mapped = mapped;
		a->active = ctl_arena_u64(i, "pactive") * 4096;
		a->allocated = ctl_arena_u64(i, "small.allocated") + ctl_arena_u64(i, "large.allocated");
		uint64_t m = ctl_arena_u64(i, "small.nmalloc") + ctl_arena_u64(i, "large.nmalloc");
		uint64_t d = ctl_arena_u64(i, "small.ndalloc") + ctl_arena_u64(i, "large.ndalloc");
		a->allocations = m > d ? m - d : 0;
		unsigned th = 0;
		sz = sizeof th;
		char name[64];
		snprintf(name, sizeof name, "stats.arenas.%u.nthreads", i);
		if (mallctl(name, &th, &sz, NULL, 0) == 0)
			a->threads = th;
	}
	st->allocator_ok = 1;
}

void fl__publish(void)
{
	if (!S.st && S.pending) {
		S.pending = 0;
		open_file();
	}
	struct fl_state *st = S.st;
	if (!st)
		return;
	uint64_t seq = st->seq;
	__atomic_store_n(&st->seq, seq + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	fl_stats_get(&st->stats);
	fl_pager_spill_stats(&st->spilled_pages, &st->spilled_bytes, &st->spill_file_bytes);
	allocator_stats(st);
	size_t total = 0;
	size_t n = fl__pager_region_states(st->regions, FL_STATE_MAX_REGIONS, &total);
	/* The shim's own memory too (its tables' reservation is most of a
	 * preloaded process's virtual size), so viewers can name it. */
	uintptr_t lo[32], hi[32];
	size_t own = fl__mem_ranges(lo, hi, 32);
	for (size_t i = 0; i < own && i < 32; i++) {
		total++;
		if (n >= FL_STATE_MAX_REGIONS)
			continue;
		struct fl_state_region r;
		memset(&r, 0, sizeof r);
		r.start = lo[i];
		r.len = hi[i] - lo[i];
		r.kind = FL_RANGE_SHIM;
		r.prot = 3;
		/* Address order, as the managed regions are. */
		size_t at = n;
		while (at > 0 && st->regions[at - 1].start > r.start) {
			st->regions[at] = st->regions[at - 1];
			at--;
		}
		st->regions[at] = r;
		n++;
	}
	st->nregions = (uint32_t)n;
	st->truncated = total > n ? (uint32_t)(total - n) : 0;
	st->t_real_ns = fl_real_ns();
	__atomic_store_n(&st->seq, seq + 2, __ATOMIC_RELEASE);
}

void fl__publish_close(void)
{
	if (!S.st)
		return;
	fl__sys_munmap(S.st, sizeof(struct fl_state));
	S.st = NULL;
	syscall(SYS_unlinkat, AT_FDCWD, S.path, 0);
}

void fl__publish_fork_child(uint64_t start_real_ns)
{
	if (!S.st)
		return;
	/* The parent's file: not ours to write or remove. */
	fl__sys_munmap(S.st, sizeof(struct fl_state));
	S.st = NULL;
	/* Made by the child's emitter when it starts: a child that only
	 * execs (a shell's fork + exec) pays nothing for it here. */
	S.start_real = start_real_ns;
	S.pending = 1;
}
