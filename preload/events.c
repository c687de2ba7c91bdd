/*
 * The fault log's queues (see events.h).  Every structure lives in raw
 * memory taken once at init, because producers run in signal handlers and
 * on the uffd handler thread, where neither malloc nor a lock another
 * thread may hold is allowed.  Rings are single-producer (a thread claims
 * one by its tid), single-consumer (the emitter); a full ring drops and
 * counts.  Call stacks are unwound in the faulting thread with libunwind
 * from the signal's context, so frame 0 is the faulting instruction.
 */
#define UNW_LOCAL_ONLY
#include "events.h"

#include <errno.h>
#include <libunwind.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "faultline/faultline.h"
#include "log.h"
#include "mem.h"
#include "sys.h"
#include "clock.h"

#define NRINGS 64
#define RING_N 4096u          /* faults per ring (160 KiB) */
#define REGION_N 4096u
#define STACK_CAP 16384u      /* distinct stacks a process may log */
#define STACK_SLOTS 32768u    /* hash index, twice the capacity */
#define STACK_PROBES 64
#define NPEND 256u            /* stack hand-offs in flight */
#define SLOT_RESERVED 0xffffffffu

struct ring {
	uint64_t head; /* next write (producer) */
	char pad0[56];
	uint64_t tail; /* next read (consumer) */
	char pad1[56];
	int32_t owner; /* tid of the producing thread, 0: free */
	char pad2[60];
	struct fl_wire_fault ev[RING_N];
};

struct stack_def {
	uint64_t hash;
	uint32_t n;
	uint32_t ready;
	uint64_t pcs[FL_EVENTS_MAX_FRAMES];
};

enum { PEND_FREE = 0, PEND_RESERVED, PEND_QUEUED, PEND_TAKEN };
struct pend {
	uint32_t state;
	uint32_t tid;
	uint64_t addr;
	uint64_t queued_ns;
	struct fl_fault_info fi;
	int write;
};

static struct {
	int on;
	int connected;
	unsigned every;
	uint64_t counter;
	int sig;
	pid_t pid;
	struct ring *rings;
	struct fl_wire_region *regions;
	uint64_t reg_head, reg_tail;
	struct stack_def *defs;
	uint32_t *index;
	uint8_t *sent;
	uint32_t next_id;
	struct pend *pend;
	uint32_t pend_next;
	uint64_t dropped_events, dropped_stacks, dropped_other;
	uint32_t resolving; /* faults the uffd handler is between wake and record */
} E;

/*
 * The shim's own threads (handler, evictor, emitter), by tid: they block
 * every signal the shim might send, so a stack hand-off to one would only
 * wait out its age and hold a slot meanwhile.  Their faults are logged at
 * once with a one-frame stack naming the thread's start routine, so that
 * the log says whose memory it was.  Outside E: filled before and
 * regardless of fl__events_init.
 */
#define OWN_MAX 16 /* up to 8 fault handlers, the evictor, the emitter */
static struct {
	int32_t tid;
	uint64_t pc;
} own[OWN_MAX];

__thread int fl__unwinding __attribute__((tls_model("initial-exec")));
static __thread struct ring *my_ring __attribute__((tls_model("initial-exec")));
static __thread int my_tid __attribute__((tls_model("initial-exec")));

static int gettid_cached(void)
{
	if (!my_tid)
		my_tid = (int)syscall(SYS_gettid);
	return my_tid;
}

void fl__events_set_connected(int on)
{
	__atomic_store_n(&E.connected, on, __ATOMIC_RELEASE);
}

/* ---- rings -------------------------------------------------------------- */

static struct ring *claim_ring(void)
{
	if (my_ring)
		return my_ring;
	int tid = gettid_cached();
	for (int i = 0; i < NRINGS; i++) {
		int32_t z = 0;
		if (__atomic_load_n(&E.rings[i].owner, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&E.rings[i].owner, &z, tid, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			my_ring = &E.rings[i];
			return my_ring;
		}
	}
	return NULL;
}

static void push(const struct fl_wire_fault *f)
{
	struct ring *r = claim_ring();
	if (!r) {
		__atomic_add_fetch(&E.dropped_events, 1, __ATOMIC_RELAXED);
		return;
	}
	uint64_t h = r->head;
	uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	if (h - t >= RING_N) {
		__atomic_add_fetch(&E.dropped_events, 1, __ATOMIC_RELAXED);
		return;
	}
	r->ev[h % RING_N] = *f;
	__atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
}

static void make_event(struct fl_wire_fault *f, uintptr_t addr, int write, uint32_t tid,
		       const struct fl_fault_info *fi, uint32_t stack)
{
	f->t_ns = fi->t_ns;
	f->addr = addr;
	f->region = fi->region;
	f->tid = tid;
	f->stack = stack;
	f->latency_ns = fi->latency_ns;
	f->pages = fi->pages ? fi->pages : 1;
	f->kind = fi->kind;
	f->flags = write ? FL_WIRE_FAULT_WRITE : 0;
}

/* ---- stacks ------------------------------------------------------------- */

static uint64_t hash_pcs(const uint64_t *pcs, unsigned n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n;
	for (unsigned i = 0; i < n; i++) {
		h ^= pcs[i];
		h *= 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h ? h : 1;
}

static int same_stack(const struct stack_def *d, uint64_t h, const uint64_t *pcs, unsigned n)
{
	return d->hash == h && d->n == n && !memcmp(d->pcs, pcs, n * sizeof pcs[0]);
}

/* The id of this stack, adding it when new; 0 when the table is full. */
static uint32_t stack_id(const uint64_t *pcs, unsigned n)
{
	uint64_t h = hash_pcs(pcs, n);
	for (unsigned probe = 0; probe < STACK_PROBES; probe++) {
		uint32_t *slot = &E.index[(h + probe) & (STACK_SLOTS - 1)];
		uint32_t id = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (id == 0) {
			uint32_t z = 0;
			if (!__atomic_compare_exchange_n(slot, &z, SLOT_RESERVED, 0, __ATOMIC_ACQ_REL,
							 __ATOMIC_ACQUIRE)) {
				id = z;
			} else {
				uint32_t nid = __atomic_fetch_add(&E.next_id, 1, __ATOMIC_RELAXED);
				if (nid >= STACK_CAP) {
					/* Full: free the slot so lookups keep working. */
					__atomic_store_n(slot, 0, __ATOMIC_RELEASE);
					return 0;
				}
				struct stack_def *d = &E.defs[nid];
				d->hash = h;
				d->n = n;
				memcpy(d->pcs, pcs, n * sizeof pcs[0]);
				__atomic_store_n(&d->ready, 1, __ATOMIC_RELEASE);
				__atomic_store_n(slot, nid, __ATOMIC_RELEASE);
				return nid;
			}
		}
		/* Another thread is writing this slot: wait a little, then
		 * look further (a duplicate id for one stack is harmless). */
		for (int spin = 0; id == SLOT_RESERVED && spin < 1000; spin++)
			id = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (id == SLOT_RESERVED || id == 0)
			continue;
		struct stack_def *d = &E.defs[id];
		if (__atomic_load_n(&d->ready, __ATOMIC_ACQUIRE) && same_stack(d, h, pcs, n))
			return id;
	}
	return 0;
}

/* Unwind from a signal's context: pcs[0] is the interrupted instruction. */
static unsigned unwind(void *uc, uint64_t *pcs, unsigned max)
{
	unw_cursor_t c;
	unsigned n = 0;
	/* libunwind maps its own memory: keep it away from the pager. */
	fl__in_shim++;
	fl__unwinding++;
	if (unw_init_local2(&c, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) == 0) {
		do {
			unw_word_t ip = 0;
			if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
				break;
			pcs[n++] = ip;
		} while (n < max && unw_step(&c) > 0);
	}
	fl__unwinding--;
	fl__in_shim--;
	return n;
}

static uint32_t stack_here(void *uc)
{
	uint64_t pcs[FL_EVENTS_MAX_FRAMES];
	unsigned n = unwind(uc, pcs, FL_EVENTS_MAX_FRAMES);
	uint32_t id = n ? stack_id(pcs, n) : 0;
	if (!id)
		__atomic_add_fetch(&E.dropped_stacks, 1, __ATOMIC_RELAXED);
	return id;
}

/* Is a stack wanted for the next fault?  (Sampling one in E.every.) */
static int want_stack(void)
{
	if (!E.every || !__atomic_load_n(&E.connected, __ATOMIC_ACQUIRE))
		return 0;
	if (E.every == 1)
		return 1;
	return __atomic_fetch_add(&E.counter, 1, __ATOMIC_RELAXED) % E.every == 0;
}

/* ---- the shim's own threads --------------------------------------------- */

void fl__events_own_thread(uintptr_t entry)
{
	int32_t tid = (int32_t)gettid_cached();
	for (int i = 0; i < OWN_MAX; i++) {
		int32_t z = 0;
		/* Reserve (-1), fill, then publish the tid with its pc. */
		if (!__atomic_compare_exchange_n(&own[i].tid, &z, -1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		own[i].pc = entry;
		__atomic_store_n(&own[i].tid, tid, __ATOMIC_RELEASE);
		return;
	}
	FL_WARN("more than %d faultline threads: the faults of this one are logged as the program's",
		OWN_MAX);
}

void fl__events_own_thread_gone(uintptr_t entry)
{
	for (int i = 0; i < OWN_MAX; i++) {
		int32_t tid = __atomic_load_n(&own[i].tid, __ATOMIC_ACQUIRE);
		if (tid > 0 && own[i].pc == entry)
			__atomic_store_n(&own[i].tid, 0, __ATOMIC_RELEASE);
	}
}

int fl__events_stack_signal(void)
{
	return E.sig;
}

/* The start routine of the shim thread tid, or 0 for the program's. */
static uint64_t own_entry(uint32_t tid)
{
	if (!tid)
		return 0;
	for (int i = 0; i < OWN_MAX; i++)
		if ((uint32_t)__atomic_load_n(&own[i].tid, __ATOMIC_ACQUIRE) == tid)
			return own[i].pc;
	return 0;
}

/* ---- producers ---------------------------------------------------------- */

void fl__events_fault_here(uintptr_t addr, int write, const struct fl_fault_info *fi, void *uc)
{
	if (!E.on || !fi->resolved)
		return;
	uint32_t stack = 0;
	if (uc && want_stack()) {
		/* A fault inside the stack walker itself (it reads the
		 * loader's heap data) gets no stack: the walker holds its
		 * lock. */
		if (fl__unwinding)
			__atomic_add_fetch(&E.dropped_stacks, 1, __ATOMIC_RELAXED);
		else
			stack = stack_here(uc);
	}
	struct fl_wire_fault f;
	make_event(&f, addr, write, (uint32_t)gettid_cached(), fi, stack);
	push(&f);
}

void fl__events_fault(uintptr_t addr, int write, uint32_t tid, const struct fl_fault_info *fi)
{
	if (!E.on || !fi->resolved)
		return;
	uint32_t stack = 0;
	/* Only a shim thread's fault gets a stack here (a program thread's
	 * was not wanted, or its hand-off failed); no lookup without stacks. */
	uint64_t entry = E.every ? own_entry(tid) : 0;
	if (entry && want_stack())
		stack = stack_id(&entry, 1);
	struct fl_wire_fault f;
	make_event(&f, addr, write, tid, fi, stack);
	push(&f);
}

int fl__events_stack_begin(uint32_t tid)
{
	if (!E.on || !E.sig || own_entry(tid) || !want_stack())
		return 0;
	/* pend_next is a hint shared by the handlers (one per CPU): the
	 * slot itself is taken by the compare-and-swap. */
	uint32_t next = __atomic_load_n(&E.pend_next, __ATOMIC_RELAXED);
	for (unsigned k = 0; k < NPEND; k++) {
		uint32_t i = (next + k) % NPEND;
		uint32_t z = PEND_FREE;
		if (__atomic_compare_exchange_n(&E.pend[i].state, &z, PEND_RESERVED, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			__atomic_store_n(&E.pend_next, i + 1, __ATOMIC_RELAXED);
			return (int)i + 1;
		}
	}
	__atomic_add_fetch(&E.dropped_stacks, 1, __ATOMIC_RELAXED);
	return 0;
}

void fl__events_stack_handoff(int ticket, uintptr_t addr, int write, uint32_t tid,
			      const struct fl_fault_info *fi)
{
	struct pend *p = &E.pend[ticket - 1];
	if (!fi->resolved) {
		__atomic_store_n(&p->state, PEND_FREE, __ATOMIC_RELEASE);
		return;
	}
	p->tid = tid;
	p->addr = addr;
	p->write = write;
	p->fi = *fi;
	/* Atomic: the emitter may look at an old hand-off's age while this
	 * slot is being reused (its CAS then fails). */
	__atomic_store_n(&p->queued_ns, fl_mono_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&p->state, PEND_QUEUED, __ATOMIC_RELEASE);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = E.sig;
	si.si_code = SI_QUEUE;
	si.si_pid = E.pid;
	si.si_uid = getuid();
	si.si_value.sival_int = ticket - 1;
	if (tid && syscall(SYS_rt_tgsigqueueinfo, E.pid, (pid_t)tid, E.sig, &si) == 0)
		return;
	/* No signal (thread gone, queue full): log it without a stack. */
	uint32_t q = PEND_QUEUED;
	if (__atomic_compare_exchange_n(&p->state, &q, PEND_TAKEN, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&E.dropped_stacks, 1, __ATOMIC_RELAXED);
		fl__events_fault(addr, write, tid, fi);
		__atomic_store_n(&p->state, PEND_FREE, __ATOMIC_RELEASE);
	}
}

/* In the faulting thread: the handler thread asks for this fault's stack. */
static void on_stack_signal(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	int saved = errno;
	if (si->si_code != SI_QUEUE || si->si_pid != E.pid || (unsigned)si->si_value.sival_int >= NPEND)
		goto out;
	struct pend *p = &E.pend[si->si_value.sival_int];
	uint32_t q = PEND_QUEUED;
	if (!__atomic_compare_exchange_n(&p->state, &q, PEND_TAKEN, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		goto out; /* the emitter gave up on it already */
	if ((int)p->tid != gettid_cached() || fl__unwinding) {
		__atomic_store_n(&p->state, PEND_QUEUED, __ATOMIC_RELEASE);
		goto out;
	}
	uint32_t stack = stack_here(uc);
	struct fl_wire_fault f;
	make_event(&f, p->addr, p->write, p->tid, &p->fi, stack);
	__atomic_store_n(&p->state, PEND_FREE, __ATOMIC_RELEASE);
	push(&f);
out:
	errno = saved;
}

void fl__events_region(uint32_t op, const struct fl_region_desc *d)
{
	if (!E.on)
		return;
	uint64_t h = E.reg_head, t = __atomic_load_n(&E.reg_tail, __ATOMIC_ACQUIRE);
	if (h - t >= REGION_N) {
		__atomic_add_fetch(&E.dropped_other, 1, __ATOMIC_RELAXED);
		return;
	}
	E.regions[h % REGION_N] = fl__region_wire(d, op, fl_mono_ns());
	__atomic_store_n(&E.reg_head, h + 1, __ATOMIC_RELEASE);
}

/* ---- consumer ----------------------------------------------------------- */

int fl__events_resolving(void)
{
	if (!__atomic_load_n(&E.on, __ATOMIC_ACQUIRE))
		return 0;
	__atomic_add_fetch(&E.resolving, 1, __ATOMIC_ACQ_REL);
	return 1;
}

void fl__events_resolved(int counted)
{
	if (counted)
		__atomic_sub_fetch(&E.resolving, 1, __ATOMIC_ACQ_REL);
}

int fl__events_pending(void)
{
	if (!E.on)
		return 0;
	if (__atomic_load_n(&E.resolving, __ATOMIC_ACQUIRE))
		return 1;
	for (int i = 0; i < NRINGS; i++)
		if (__atomic_load_n(&E.rings[i].head, __ATOMIC_ACQUIRE) != E.rings[i].tail)
			return 1;
	return 0;
}

size_t fl__events_take_faults(struct fl_wire_fault *out, size_t max)
{
	size_t n = 0;
	if (!E.on)
		return 0;
	for (int i = 0; i < NRINGS && n < max; i++) {
		struct ring *r = &E.rings[i];
		uint64_t t = r->tail;
		uint64_t h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		while (t < h && n < max)
			out[n++] = r->ev[t++ % RING_N];
		__atomic_store_n(&r->tail, t, __ATOMIC_RELEASE);
	}
	return n;
}

size_t fl__events_take_regions(struct fl_wire_region *out, size_t max)
{
	size_t n = 0;
	if (!E.on)
		return 0;
	uint64_t t = E.reg_tail, h = __atomic_load_n(&E.reg_head, __ATOMIC_ACQUIRE);
	while (t < h && n < max)
		out[n++] = E.regions[t++ % REGION_N];
	__atomic_store_n(&E.reg_tail, t, __ATOMIC_RELEASE);
	return n;
}

void fl__events_keep_ended_regions(int (*alive)(uint64_t id))
{
	if (!E.on)
		return;
	uint64_t t = E.reg_tail, h = __atomic_load_n(&E.reg_head, __ATOMIC_ACQUIRE), w = t;
	for (uint64_t i = t; i < h; i++) {
		struct fl_wire_region e = E.regions[i % REGION_N];
		if (alive(e.id))
			continue; /* the snapshot has it as it is now */
		int created = e.op == FL_WIRE_REGION_CREATE;
		for (uint64_t k = t; k < w && !created; k++)
			created = E.regions[k % REGION_N].id == e.id;
		if (created)
			E.regions[w++ % REGION_N] = e;
	}
	__atomic_store_n(&E.reg_head, w, __ATOMIC_RELEASE);
}

uint32_t fl__events_stack_intern(const uint64_t *pcs, unsigned n)
{
	if (!E.on || n == 0)
		return 0;
	return stack_id(pcs, n < FL_EVENTS_MAX_FRAMES ? n : FL_EVENTS_MAX_FRAMES);
}

unsigned fl__events_stack(uint32_t id, uint64_t *pcs)
{
	if (!E.on || id == 0 || id >= STACK_CAP || id >= __atomic_load_n(&E.next_id, __ATOMIC_ACQUIRE))
		return 0;
	struct stack_def *d = &E.defs[id];
	if (!__atomic_load_n(&d->ready, __ATOMIC_ACQUIRE))
		return 0;
	memcpy(pcs, d->pcs, d->n * sizeof pcs[0]);
	return d->n;
}

int fl__events_stack_sent(uint32_t id)
{
	return id < STACK_CAP && E.sent[id];
}

void fl__events_stack_set_sent(uint32_t id)
{
	if (id < STACK_CAP)
		E.sent[id] = 1;
}

void fl__events_stack_forget_sent(void)
{
	if (E.on)
		memset(E.sent, 0, STACK_CAP);
}

void fl__events_expire_handoffs(uint64_t now, uint64_t max_age)
{
	if (!E.on)
		return;
	for (unsigned i = 0; i < NPEND; i++) {
		struct pend *p = &E.pend[i];
		if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) != PEND_QUEUED)
			continue;
		/* Queued after the caller read its clock: young, not ancient
		 * (the unsigned difference would wrap and expire it at once).
		 * A max_age of 0 (the process is ending) takes everything. */
		uint64_t queued = __atomic_load_n(&p->queued_ns, __ATOMIC_RELAXED);
		if (max_age && (queued >= now || now - queued < max_age))
			continue;
		uint32_t q = PEND_QUEUED;
		if (!__atomic_compare_exchange_n(&p->state, &q, PEND_TAKEN, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		/* The thread has our signal blocked (or is gone): no stack. */
		__atomic_add_fetch(&E.dropped_stacks, 1, __ATOMIC_RELAXED);
		fl__events_fault(p->addr, p->write, p->tid, &p->fi);
		__atomic_store_n(&p->state, PEND_FREE, __ATOMIC_RELEASE);
	}
}

void fl__events_reap_rings(void)
{
	if (!E.on)
		return;
	for (int i = 0; i < NRINGS; i++) {
		struct ring *r = &E.rings[i];
		int32_t tid = __atomic_load_n(&r->owner, __ATOMIC_ACQUIRE);
		if (tid <= 0 || __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) != r->tail)
			continue;
		if (syscall(SYS_tgkill, E.pid, tid, 0) != 0 && errno == ESRCH)
			__atomic_compare_exchange_n(&r->owner, &tid, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	}
}

void fl__events_drops(uint64_t *events, uint64_t *stacks, uint64_t *other)
{
	*events = __atomic_load_n(&E.dropped_events, __ATOMIC_RELAXED);
	*stacks = __atomic_load_n(&E.dropped_stacks, __ATOMIC_RELAXED);
	*other = __atomic_load_n(&E.dropped_other, __ATOMIC_RELAXED);
}

void fl__events_count_dropped(uint64_t events, uint64_t other)
{
	__atomic_add_fetch(&E.dropped_events, events, __ATOMIC_RELAXED);
	__atomic_add_fetch(&E.dropped_other, other, __ATOMIC_RELAXED);
}

/* ---- life cycle --------------------------------------------------------- */

void fl__events_fork_child(void)
{
	if (!E.on)
		return;
	E.pid = (pid_t)syscall(SYS_getpid);
	my_tid = 0;
	my_ring = NULL;
	/* The parent's threads are not the child's: its own start anew. */
	for (int i = 0; i < OWN_MAX; i++)
		own[i].tid = 0;
	for (int i = 0; i < NRINGS; i++) {
		E.rings[i].head = E.rings[i].tail = 0;
		E.rings[i].owner = 0;
	}
	E.reg_head = E.reg_tail = 0;
	memset(E.pend, 0, NPEND * sizeof E.pend[0]);
	memset(E.sent, 0, STACK_CAP);
	E.dropped_events = E.dropped_stacks = E.dropped_other = 0;
	E.resolving = 0;
	E.connected = 0;
}

int fl__events_init(unsigned stacks_every)
{
	if (E.on)
		return 0;
	E.rings = fl__mem_alloc(NRINGS * sizeof(struct ring));
	E.regions = fl__mem_alloc(REGION_N * sizeof(struct fl_wire_region));
	E.defs = fl__mem_alloc(STACK_CAP * sizeof(struct stack_def));
	E.index = fl__mem_alloc(STACK_SLOTS * sizeof(uint32_t));
	E.sent = fl__mem_alloc(STACK_CAP);
	E.pend = fl__mem_alloc(NPEND * sizeof(struct pend));
	if (!E.rings || !E.regions || !E.defs || !E.index || !E.sent || !E.pend) {
		FL_WARN("no memory for the fault log; faults are not logged");
		return -1;
	}
	E.next_id = 1;
	E.every = stacks_every;
	if (stacks_every) {
		/* libunwind sets itself up at its first use, under a lock and
		 * with global state other threads then read: do that here, on
		 * one thread, not in the first fault's signal handler. */
		unw_context_t uc;
		unw_cursor_t c;
		fl__in_shim++;
		if (unw_getcontext(&uc) == 0 && unw_init_local(&c, &uc) == 0)
			unw_step(&c);
		fl__in_shim--;
	}
	E.pid = (pid_t)syscall(SYS_getpid);
	E.sig = 0;
	if (stacks_every) {
		/* A real-time signal glibc leaves to programs, near the top
		 * where programs rarely look. */
		int sig = SIGRTMAX - 3;
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_stack_signal;
		sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		if (fl__sys_sigaction(sig, &sa, NULL) == 0)
			E.sig = sig;
		else
			FL_WARN("cannot install the stack signal (%d): faults are logged without stacks", sig);
	}
	__atomic_store_n(&E.on, 1, __ATOMIC_RELEASE);
	return 0;
}
