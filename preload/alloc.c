/*
 * The table of sampled allocations (alloc.h).  One block of raw memory:
 * ALLOC_CAP slots, found by hashing the allocation's address with linear
 * probing, so that free() can tell in a few loads whether its pointer was
 * sampled.  A slot goes EMPTY -> LIVE (sampled) -> FREED (its free seen,
 * not yet sent) -> TOMB (sent: reusable, probes go past it).
 *
 * The program's threads take the lock only to add a sample and to end
 * one; the emitter takes it to charge a batch of faults and to copy out
 * what changed.  Nobody holding it faults (the table is not managed
 * memory), calls malloc or waits for anything else.
 */
#define UNW_LOCAL_ONLY
#include "alloc.h"

#include <libunwind.h>
#include <link.h>
#include <string.h>

#include "clock.h"
#include "events.h"
#include "lock.h"
#include "log.h"
#include "mem.h"
#include "pager.h"
#include "shim.h"

#define ALLOC_CAP 4096u   /* samples held at once: 4096 * 112 bytes */
#define ALLOC_BITS 12
#define ALLOC_PROBES 32
#define ALLOC_FULL (ALLOC_CAP * 3 / 4) /* more in use than this: drop new samples */
#define MAX_FRAMES 64
#define RETIRE_NS 1000000000ull /* a freed sample waits this long for late faults */
#define FILTER_BITS 16          /* free's first look: 64 KiB of counters */

enum { A_EMPTY = 0, A_LIVE, A_FREED, A_TOMB };

struct entry {
	uint64_t addr, size, weight, t_ns, free_ns;
	uint64_t faults, pages, latency_ns;
	uint64_t peak_ns, peak_resident, peak_compressed;
	uint32_t id, stack, kind;
	uint32_t state; /* A_*; read without the lock by free's probe */
	uint32_t dirty; /* news for the daemon */
	uint32_t pad;
};

static struct {
	uint64_t mean;     /* bytes between samples on average; 0: off */
	struct entry *e;
	uint16_t *order;   /* the emitter's: slots in use, by address */
	uint8_t *filter;   /* live samples per hash of their address: free looks here first */
	uint32_t norder;
	uint32_t gen, order_gen; /* changes to the set of slots in use */
	uint32_t used;     /* slots LIVE or FREED */
	uint32_t next_id;
	uint64_t dropped; /* samples the table had no room for */
	uint64_t un_faults, un_pages, un_latency; /* faults in no sample */
	int un_dirty;
	uintptr_t own_lo, own_hi; /* the shim's own code: frames skipped */
	fl_lock_t lock;
} A;

uint32_t fl__alloc_nlive;
__thread int64_t fl__alloc_until __attribute__((tls_model("initial-exec")));
static __thread uint64_t rng __attribute__((tls_model("initial-exec")));
static __thread int sampling __attribute__((tls_model("initial-exec")));
static __thread int seeded __attribute__((tls_model("initial-exec")));

/* ---- random intervals ----------------------------------------------------- */

static uint64_t next_random(void)
{
	if (!rng) {
		/* Per thread: the thread's own address and the clock. */
		rng = (uint64_t)(uintptr_t)&rng ^ fl_mono_ns() ^ 0x9e3779b97f4a7c15ull;
		if (!rng)
			rng = 1;
	}
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* Natural logarithm of x in (0, 1], to about 1e-6: enough for intervals
 * (no libm in the shim). */
static double ln01(double x)
{
	int e = 0;
	while (x < 0.5) {
		x *= 2;
		e--;
	}
	/* x in [0.5, 1]: ln x = 2 atanh((x - 1) / (x + 1)), |z| <= 1/3 */
	double z = (x - 1) / (x + 1), z2 = z * z;
	double s = z * (1 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 * (1.0 / 9 + z2 / 11)))));
	return 2 * s + e * 0.6931471805599453;
}

/* e^-x for x >= 0. */
static double exp_neg(double x)
{
	if (x > 700)
		return 0;
	int k = 0;
	while (x > 0.5) {
		x /= 2;
		k++;
	}
	/* Taylor series for e^-x, |x| <= 0.5, then square k times. */
	double t = 1, s = 1;
	for (int i = 1; i < 14; i++) {
		t *= -x / i;
		s += t;
	}
	while (k--)
		s *= s;
	return s;
}

/* An exponential interval of mean A.mean bytes (the gaps of a Poisson process). */
static int64_t draw(void)
{
	double u = (double)((next_random() >> 11) + 1) / 9007199254740992.0; /* (0, 1] */
	double v = -ln01(u) * (double)A.mean;
	if (v < 1)
		v = 1;
	if (v > 4e18)
		v = 4e18;
	return (int64_t)v;
}

/* ---- the table -------------------------------------------------------------- */

static uint32_t slot_of(uint64_t addr)
{
	return (uint32_t)((addr * 0x9e3779b97f4a7c15ull) >> (64 - ALLOC_BITS));
}

/* A second hash for the filter: most frees are of unsampled blocks, and
 * one byte tells them so (a probe of the table walks past tombstones). */
static uint8_t *filter_of(uint64_t addr)
{
	return &A.filter[(addr * 0xc2b2ae3d27d4eb4full) >> (64 - FILTER_BITS)];
}

/* The shim's own code, so that an allocation's stack starts at the
 * program's call to malloc, not inside the shim. */
static int find_own(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uintptr_t me = (uintptr_t)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (me >= lo && me < hi && (ph->p_flags & PF_X)) {
			A.own_lo = lo;
			A.own_hi = hi;
			return 1;
		}
	}
	return 0;
}

int fl__alloc_init(uint64_t mean_bytes)
{
	if (!mean_bytes || A.e)
		return 0;
	A.e = fl__mem_alloc(ALLOC_CAP * sizeof *A.e);
	A.order = fl__mem_alloc(ALLOC_CAP * sizeof *A.order);
	A.filter = fl__mem_alloc((size_t)1 << FILTER_BITS);
	if (!A.e || !A.order || !A.filter) {
		FL_WARN("no memory for allocation sampling; allocation sites are not logged");
		return -1;
	}
	dl_iterate_phdr(find_own, (void *)(uintptr_t)fl__alloc_init);
	/* libunwind sets itself up at its first use: here, not in the
	 * program's first sampled malloc. */
	void *pcs[4];
	fl__in_shim++;
	unw_backtrace(pcs, 4);
	fl__in_shim--;
	A.next_id = 1;
	__atomic_store_n(&A.mean, mean_bytes, __ATOMIC_RELEASE);
	return 0;
}

/* The stack of the program's call, innermost first: 0 when none. */
static uint32_t caller_stack(void)
{
	void *buf[MAX_FRAMES];
	uint64_t pcs[MAX_FRAMES];
	/* libunwind maps its own memory: keep it away from the pager, and
	 * a fault in the walker gets no stack of its own. */
	fl__in_shim++;
	fl__unwinding++;
	int n = unw_backtrace(buf, MAX_FRAMES);
	fl__unwinding--;
	fl__in_shim--;
	unsigned k = 0, i = 0;
	while (i < (unsigned)(n > 0 ? n : 0) && (uintptr_t)buf[i] >= A.own_lo && (uintptr_t)buf[i] < A.own_hi)
		i++;
	for (; i < (unsigned)n; i++)
		pcs[k++] = (uint64_t)(uintptr_t)buf[i];
	return k ? fl__events_stack_intern(pcs, k) : 0;
}

void fl__alloc_sampled(void *p, size_t size, uint32_t kind)
{
	uint64_t mean = __atomic_load_n(&A.mean, __ATOMIC_ACQUIRE);
	if (!mean || !fl__shim_ready) {
		/* Off (or not yet on): never come here again, or not soon. */
		fl__alloc_until = mean ? (int64_t)mean : INT64_MAX;
		return;
	}
	if (!seeded) {
		/* This thread's first allocation: it had no interval yet. */
		seeded = 1;
		fl__alloc_until = draw() - (int64_t)size;
		if (fl__alloc_until > 0)
			return;
	}
	fl__alloc_until = draw();
	if (sampling || fl__in_shim)
		return; /* the unwinder's own allocations, the shim's */
	sampling = 1;
	/* P(sampled) = 1 - e^(-size/mean): the sample stands for size / P. */
	double pr = 1 - exp_neg((double)size / (double)mean);
	uint64_t weight = pr > 0 ? (uint64_t)((double)size / pr) : (uint64_t)mean;
	if (weight < size)
		weight = size;
	uint32_t stack = caller_stack();
	uint64_t now = fl_mono_ns();
	uint64_t addr = (uint64_t)(uintptr_t)p;
	fl_lock(&A.lock);
	struct entry *slot = NULL;
	if (A.used < ALLOC_FULL) {
		uint32_t h = slot_of(addr);
		for (unsigned i = 0; i < ALLOC_PROBES; i++) {
			struct entry *e = &A.e[(h + i) & (ALLOC_CAP - 1)];
			if (e->state == A_EMPTY || e->state == A_TOMB) {
				slot = e;
				break;
			}
		}
	}
	if (slot) {
		/* Field by field, not memset: a TOMB slot must not read as EMPTY
		 * meanwhile, or free's probe would stop short of a live sample
		 * further along. */
		__atomic_store_n(&slot->addr, addr, __ATOMIC_RELAXED);
		slot->free_ns = 0;
		slot->faults = slot->pages = slot->latency_ns = 0;
		slot->peak_ns = slot->peak_resident = slot->peak_compressed = 0;
		slot->size = size;
		slot->weight = weight;
		slot->t_ns = now;
		slot->id = A.next_id++;
		slot->stack = stack;
		slot->kind = kind;
		slot->dirty = 1;
		__atomic_add_fetch(filter_of(addr), 1, __ATOMIC_RELEASE);
		__atomic_store_n(&slot->state, A_LIVE, __ATOMIC_RELEASE);
		A.used++;
		A.gen++;
		__atomic_add_fetch(&fl__alloc_nlive, 1, __ATOMIC_RELAXED);
	} else {
		A.dropped++;
		A.un_dirty = 1; /* row 0 carries the count */
	}
	fl_unlock(&A.lock);
	sampling = 0;
}

/* End the live sample at addr (of kind, or any kind when 0), under the lock. */
static void end_locked(uint64_t addr, uint64_t now)
{
	uint32_t h = slot_of(addr);
	for (unsigned i = 0; i < ALLOC_PROBES; i++) {
		struct entry *e = &A.e[(h + i) & (ALLOC_CAP - 1)];
		if (e->state == A_EMPTY)
			return;
		if (e->state == A_LIVE && e->addr == addr) {
			e->free_ns = now;
			e->dirty = 1;
			__atomic_store_n(&e->state, A_FREED, __ATOMIC_RELEASE);
			__atomic_sub_fetch(filter_of(addr), 1, __ATOMIC_RELEASE);
			__atomic_sub_fetch(&fl__alloc_nlive, 1, __ATOMIC_RELAXED);
			return;
		}
	}
}

/* Is addr a live sample?  Without the lock: a sample made by another
 * thread reached this one with the pointer, so its slot is visible. */
static int maybe_live(uint64_t addr)
{
	uint32_t h = slot_of(addr);
	for (unsigned i = 0; i < ALLOC_PROBES; i++) {
		struct entry *e = &A.e[(h + i) & (ALLOC_CAP - 1)];
		uint32_t st = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
		if (st == A_EMPTY)
			return 0;
		if (st == A_LIVE && __atomic_load_n(&e->addr, __ATOMIC_RELAXED) == addr)
			return 1;
	}
	return 0;
}

void fl__alloc_freed(void *p)
{
	uint64_t addr = (uint64_t)(uintptr_t)p;
	if (!A.e || !__atomic_load_n(filter_of(addr), __ATOMIC_ACQUIRE) || !maybe_live(addr))
		return;
	uint64_t now = fl_mono_ns();
	fl_lock(&A.lock);
	end_locked(addr, now);
	fl_unlock(&A.lock);
}

void fl__alloc_unmapped(void *p, size_t len)
{
	if (!A.e || !__atomic_load_n(&fl__alloc_nlive, __ATOMIC_RELAXED))
		return;
	uint64_t a = (uint64_t)(uintptr_t)p, b = a + len;
	uint64_t now = fl_mono_ns();
	fl_lock(&A.lock);
	/* Mappings in the range end (an unmap of their middle ends them too:
	 * the sample is of the mapping as it was made). */
	for (uint32_t i = 0; i < ALLOC_CAP; i++) {
		struct entry *e = &A.e[i];
		if (e->state == A_LIVE && e->kind == FL_WIRE_ALLOC_MMAP && e->addr < b && e->addr + e->size > a)
			end_locked(e->addr, now);
	}
	fl_unlock(&A.lock);
}

/* ---- the emitter ------------------------------------------------------------ */

/* Heap sort of A.order by address (no qsort: it may call malloc). */
static int before(uint16_t x, uint16_t y)
{
	return A.e[x].addr < A.e[y].addr;
}

static void sift(uint16_t *v, uint32_t i, uint32_t n)
{
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && before(v[c], v[c + 1]))
			c++;
		if (!before(v[i], v[c]))
			return;
		uint16_t t = v[i];
		v[i] = v[c];
		v[c] = t;
		i = c;
	}
}

static void build_order(void)
{
	if (A.order_gen == A.gen)
		return;
	uint32_t n = 0;
	for (uint32_t i = 0; i < ALLOC_CAP; i++)
		if (A.e[i].state == A_LIVE || A.e[i].state == A_FREED)
			A.order[n++] = (uint16_t)i;
	for (uint32_t i = n / 2; i-- > 0;)
		sift(A.order, i, n);
	for (uint32_t end = n; end > 1; end--) {
		uint16_t t = A.order[0];
		A.order[0] = A.order[end - 1];
		A.order[end - 1] = t;
		sift(A.order, 0, end - 1);
	}
	A.norder = n;
	A.order_gen = A.gen;
}

/* The sample covering addr at time t, or NULL. */
static struct entry *covering(uint64_t addr, uint64_t t)
{
	uint32_t lo = 0, hi = A.norder;
	while (lo < hi) { /* first with addr > the fault's */
		uint32_t mid = (lo + hi) / 2;
		if (A.e[A.order[mid]].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Below it, newest first among overlapping ones (a freed sample and a
	 * later one at the same address): a few steps at most. */
	struct entry *best = NULL;
	for (uint32_t k = lo, steps = 0; k-- > 0 && steps < 16; steps++) {
		struct entry *e = &A.e[A.order[k]];
		if (e->addr + e->size <= addr || e->t_ns > t)
			continue;
		if (e->state == A_FREED && e->free_ns < t)
			continue;
		if (!best || e->t_ns > best->t_ns)
			best = e;
	}
	return best;
}

void fl__alloc_charge(const struct fl_wire_fault *f, size_t n)
{
	if (!A.e || !n)
		return;
	fl_lock(&A.lock);
	build_order();
	for (size_t i = 0; i < n; i++) {
		struct entry *e = A.norder ? covering(f[i].addr, f[i].t_ns) : NULL;
		if (e) {
			e->faults++;
			e->pages += f[i].pages;
			e->latency_ns += f[i].latency_ns;
			e->dirty = 1;
		} else {
			A.un_faults++;
			A.un_pages += f[i].pages;
			A.un_latency += f[i].latency_ns;
			A.un_dirty = 1;
		}
	}
	fl_unlock(&A.lock);
}

size_t fl__alloc_take(struct fl_wire_alloc *out, size_t max, int retire)
{
	if (!A.e || !max)
		return 0;
	size_t n = 0;
	uint64_t now = fl_mono_ns();
	fl_lock(&A.lock);
	if (A.un_dirty) {
		memset(&out[n], 0, sizeof out[n]);
		out[n].faults = A.un_faults;
		out[n].pages = A.un_pages;
		out[n].latency_ns = A.un_latency;
		out[n].dropped = A.dropped > UINT32_MAX ? UINT32_MAX : (uint32_t)A.dropped;
		n++;
		A.un_dirty = 0;
	}
	for (uint32_t i = 0; i < ALLOC_CAP && n < max; i++) {
		struct entry *e = &A.e[i];
		if (e->state != A_LIVE && e->state != A_FREED)
			continue;
		if (e->dirty) {
			struct fl_wire_alloc *w = &out[n++];
			memset(w, 0, sizeof *w);
			w->t_ns = e->t_ns;
			w->free_ns = e->state == A_FREED ? (e->free_ns > e->t_ns ? e->free_ns : e->t_ns) : 0;
			w->addr = e->addr;
			w->size = e->size;
			w->weight = e->weight;
			w->faults = e->faults;
			w->pages = e->pages;
			w->latency_ns = e->latency_ns;
			w->peak_ns = e->peak_ns;
			w->peak_resident = e->peak_resident;
			w->peak_compressed = e->peak_compressed;
			w->id = e->id;
			w->stack = e->stack;
			w->kind = e->kind;
			e->dirty = 0;
		}
		/* Sent and freed: its slot may go, once late faults had time. */
		if (e->state == A_FREED && !e->dirty && (retire || now - e->free_ns > RETIRE_NS)) {
			__atomic_store_n(&e->state, A_TOMB, __ATOMIC_RELEASE);
			A.used--;
			A.gen++;
		}
	}
	fl_unlock(&A.lock);
	return n;
}

void fl__alloc_peak(uint64_t t_ns)
{
	if (!A.e)
		return;
	/* Copy the live samples out, count their pages with the pager's lock
	 * alone, then write the counts back to the ones still there. */
	static struct {
		uint64_t addr, size;
		uint32_t id, slot;
		uint64_t res, stored;
	} live[ALLOC_CAP];
	uint32_t n = 0;
	fl_lock(&A.lock);
	for (uint32_t i = 0; i < ALLOC_CAP; i++)
		if (A.e[i].state == A_LIVE) {
			live[n].addr = A.e[i].addr;
			live[n].size = A.e[i].size;
			live[n].id = A.e[i].id;
			live[n].slot = i;
			n++;
		}
	fl_unlock(&A.lock);
	for (uint32_t k = 0; k < n; k++)
		fl__pager_range_bytes((uintptr_t)live[k].addr, live[k].size, &live[k].res, &live[k].stored);
	fl_lock(&A.lock);
	for (uint32_t k = 0; k < n; k++) {
		struct entry *e = &A.e[live[k].slot];
		if (e->state != A_LIVE || e->id != live[k].id)
			continue;
		e->peak_ns = t_ns;
		e->peak_resident = live[k].res;
		e->peak_compressed = live[k].stored;
		e->dirty = 1;
	}
	fl_unlock(&A.lock);
}

void fl__alloc_resend_all(void)
{
	if (!A.e)
		return;
	fl_lock(&A.lock);
	for (uint32_t i = 0; i < ALLOC_CAP; i++)
		if (A.e[i].state == A_LIVE || A.e[i].state == A_FREED)
			A.e[i].dirty = 1;
	A.un_dirty = A.un_faults != 0 || A.dropped != 0;
	fl_unlock(&A.lock);
}

/* ---- fork ------------------------------------------------------------------- */

void fl__alloc_fork_prepare(void)
{
	if (A.e)
		fl_lock(&A.lock);
}

void fl__alloc_fork_parent(void)
{
	if (A.e)
		fl_unlock(&A.lock);
}

void fl__alloc_fork_child(void)
{
	if (!A.e)
		return;
	/* The parent's samples are the parent's: the child starts empty. */
	memset(A.e, 0, ALLOC_CAP * sizeof *A.e);
	memset(A.filter, 0, (size_t)1 << FILTER_BITS);
	A.norder = 0;
	A.gen = A.order_gen = 0;
	A.used = 0;
	A.next_id = 1;
	A.dropped = 0;
	A.un_faults = A.un_pages = A.un_latency = 0;
	A.un_dirty = 0;
	fl__alloc_nlive = 0;
	A.lock.v = 0;
}
