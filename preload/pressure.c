/*
 * Memory pressure, delivered to the program.  reclaim.c derives the level
 * (with the hysteresis of fl__pressure_level) under the pager lock,
 * wherever it looks: at the end of each fault, after each eviction batch,
 * in fl_stats_get.  Each change is queued here, still under that lock, and
 * a small notifier thread takes the queue from there and, with no lock of
 * the pager's held, calls the program's subscribers in order, sends the
 * optional signal (FAULTLINE_PRESSURE_SIGNAL) and, when the level rises,
 * asks the allocator to purge its dirty pages.  The notifier also looks at
 * the level itself while it is above NORMAL (CRITICAL is held for a while
 * after its last cause, and memory unmapped or discarded lowers usage
 * without a fault to notice it), so that NORMAL comes back on time.
 *
 * The notifier runs the program's code: it is not one of the shim's own
 * threads for the fault log (its faults are the program's, with their
 * stacks), it keeps every signal blocked but the stack signal while a
 * callback runs, and it never holds the pager lock then.  It runs only
 * with a budget (without one the level never changes).
 */
#include "pressure.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "events.h"
#include "lock.h"
#include "log.h"
#include "mem.h"
#include "pager_int.h"
#include "sigchain.h"

#define QUEUE 64u                      /* level changes not yet delivered */
#define POLL_NS (50 * 1000 * 1000)     /* the notifier's look while above NORMAL */
#define PURGE_GAP_NS (100 * 1000 * 1000) /* purges at most this often */

struct sub {
	fl_pressure_fn fn;
	void *arg;
};

static struct {
	/* Level changes, under the pager lock: written by fl__pressure_changed,
	 * read by the notifier.  When it falls behind by QUEUE changes the
	 * oldest are dropped (counted in lost). */
	unsigned char q[QUEUE];
	uint32_t qw, qr;
	uint64_t lost;
	int seq; /* futex word: bumped at each change and at stop */

	/* The notifier (started, stop and pid by whoever starts or stops it). */
	pthread_t thread;
	int started, stop;
	pid_t pid; /* the process the state belongs to: a forked child resets it */
	enum fl_pressure last; /* the last level delivered */
	uint64_t purges, last_purge_ns;
	int purge_due; /* a rise came too soon after the last purge */
	int bad_signal_said;

	/* Subscribers, under lock.  calling: the slot whose callback runs
	 * (-1 none), a futex word an unsubscriber waits on. */
	fl_lock_t lock;
	struct sub subs[FL_PRESSURE_SUBSCRIBERS_MAX];
	int calling;
} N = {.lock = FL_LOCK_INIT, .calling = -1};

static __thread int in_notifier;

enum fl_pressure fl__pressure_level(enum fl_pressure cur, uint64_t free_pages, uint64_t low_free,
				    uint64_t high_free, int critical_held, int warn_held)
{
	if (critical_held)
		return FL_PRESSURE_CRITICAL;
	if (free_pages < low_free)
		return FL_PRESSURE_WARN;
	if (cur != FL_PRESSURE_NORMAL && (free_pages < high_free || warn_held))
		return FL_PRESSURE_WARN;
	return FL_PRESSURE_NORMAL;
}

/* Until when WARN is held (under the pager lock). */
static uint64_t warn_until_ns;

enum fl_pressure fl__pressure_derive(enum fl_pressure cur, uint64_t now, uint64_t free_pages,
				     uint64_t low_free, uint64_t high_free, int critical_held)
{
	if (free_pages < low_free || critical_held)
		warn_until_ns = now + FL_PRESSURE_WARN_HOLD_NS;
	return fl__pressure_level(cur, free_pages, low_free, high_free, critical_held, now < warn_until_ns);
}

void fl__pressure_changed(enum fl_pressure p)
{
	if (N.qw - N.qr >= QUEUE) {
		N.qr++;
		N.lost++;
	}
	N.q[N.qw++ % QUEUE] = (unsigned char)p;
	__atomic_add_fetch(&N.seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &N.seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

uint64_t fl__pressure_purges(void)
{
	return __atomic_load_n(&N.purges, __ATOMIC_RELAXED);
}

/*
 * In a forked child the notifier is the parent's (gone here), and the
 * subscriber lock and the calling slot are as the parent's threads left
 * them at the fork: reset them at the child's first call.  (The child keeps
 * its parent's subscribers, as it keeps its signal handlers.)
 */
static void fork_check(void)
{
	pid_t me = (pid_t)syscall(SYS_getpid);
	pid_t was = __atomic_load_n(&N.pid, __ATOMIC_ACQUIRE);
	if (was == me || !__atomic_compare_exchange_n(&N.pid, &was, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	if (!was)
		return;
	N.started = 0;
	N.stop = 0;
	N.lock.v = 0;
	N.calling = -1;
}

/* A signal the program can be sent: not one the kernel, the C library or
 * the shim keeps for itself. */
static int usable_signal(int sig)
{
	if (sig <= 0 || sig > SIGRTMAX)
		return 0;
	if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS)
		return 0;
	if (sig >= 32 && sig < SIGRTMIN)
		return 0;
	return sig != fl__events_stack_signal();
}

/* Does sig, left at its default, end the process? */
static int kills_by_default(int sig)
{
	return sig != SIGCHLD && sig != SIGCONT && sig != SIGURG && sig != SIGWINCH;
}

static void send_signal(enum fl_pressure level)
{
	int sig = (int)P.cfg.pressure_signal;
	if (!sig)
		return;
	struct sigaction sa;
	const char *why = NULL;
	if (!usable_signal(sig))
		why = "is one the kernel, the C library or faultline keeps for itself";
	else if (sigaction(sig, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
		 sa.sa_handler == SIG_DFL && kills_by_default(sig))
		why = "has no handler in this program and would end it";
	if (why) {
		if (!N.bad_signal_said)
			FL_WARN("FAULTLINE_PRESSURE_SIGNAL=%d %s: pressure changes are not signalled", sig, why);
		N.bad_signal_said = 1;
		return;
	}
	union sigval v = {.sival_int = (int)level};
	sigqueue((pid_t)syscall(SYS_getpid), sig, v);
}

static void call_subscribers(enum fl_pressure level)
{
	for (int i = 0; i < FL_PRESSURE_SUBSCRIBERS_MAX; i++) {
		fl_lock(&N.lock);
		struct sub s = N.subs[i];
		if (s.fn)
			__atomic_store_n(&N.calling, i, __ATOMIC_RELEASE);
		fl_unlock(&N.lock);
		if (!s.fn)
			continue;
		s.fn(level, s.arg);
		__atomic_store_n(&N.calling, -1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &N.calling, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	}
}

/*
 * The allocator's purge, when one is due and the last was long enough
 * ago.  Returns how long until it may run (0: nothing left to do).
 */
static uint64_t purge_if_due(void)
{
	if (!N.purge_due || !fl__malloc_purge)
		return 0;
	uint64_t now = fl_mono_ns();
	if (N.last_purge_ns && now - N.last_purge_ns < PURGE_GAP_NS)
		return N.last_purge_ns + PURGE_GAP_NS - now;
	N.purge_due = 0;
	N.last_purge_ns = now;
	if (fl__malloc_purge() == 0)
		__atomic_add_fetch(&N.purges, 1, __ATOMIC_RELAXED);
	return 0;
}

/* One change, from was to level: subscribers, signal, purge (on a rise,
 * after the callbacks, which may have freed memory). */
static void deliver(enum fl_pressure level, enum fl_pressure was, const sigset_t *open)
{
	pthread_sigmask(SIG_UNBLOCK, open, NULL);
	call_subscribers(level);
	send_signal(level);
	if (level > was && level >= FL_PRESSURE_WARN)
		N.purge_due = 1;
	purge_if_due();
	pthread_sigmask(SIG_BLOCK, open, NULL);
}

static void *notifier_main(void *arg)
{
	(void)arg;
	in_notifier = 1;
	sigset_t open;
	sigemptyset(&open);
	if (fl__events_stack_signal())
		sigaddset(&open, fl__events_stack_signal());
	enum fl_pressure batch[QUEUE];
	while (!__atomic_load_n(&N.stop, __ATOMIC_ACQUIRE)) {
		int seq = __atomic_load_n(&N.seq, __ATOMIC_ACQUIRE);
		size_t n = 0;
		fl_lock(&P.lock);
		if (P.running)
			fl__reclaim_update_pressure(fl_mono_ns());
		while (N.qr != N.qw)
			batch[n++] = (enum fl_pressure)N.q[N.qr++ % QUEUE];
		int elevated = P.pressure != FL_PRESSURE_NORMAL;
		fl_unlock(&P.lock);
		for (size_t i = 0; i < n; i++) {
			/* Changes dropped from a full queue can leave two alike. */
			if (batch[i] == N.last)
				continue;
			deliver(batch[i], N.last, &open);
			N.last = batch[i];
		}
		if (n)
			continue;
		/* A purge put off (the jemalloc metadata it touches is the
		 * program's memory: the stack signal stays open for it). */
		uint64_t wait_ns = 0;
		if (N.purge_due) {
			pthread_sigmask(SIG_UNBLOCK, &open, NULL);
			wait_ns = purge_if_due();
			pthread_sigmask(SIG_BLOCK, &open, NULL);
		}
		if (elevated && (!wait_ns || wait_ns > POLL_NS))
			wait_ns = POLL_NS;
		struct timespec ts = {0, (long)wait_ns};
		syscall(SYS_futex, &N.seq, FUTEX_WAIT_PRIVATE, seq, wait_ns ? &ts : NULL, NULL, 0);
	}
	return NULL;
}

void fl__pressure_start(void)
{
	fork_check();
	if (!P.budget || N.started)
		return;
	fl_lock(&P.lock);
	N.qr = N.qw;
	N.last = P.pressure;
	fl_unlock(&P.lock);
	N.stop = 0;
	int rc = fl__sigchain_start_thread(&N.thread, notifier_main, NULL);
	if (rc == 0)
		N.started = 1;
	else
		FL_WARN("cannot start the pressure notifier (%s): the program hears no pressure changes",
			strerror(rc));
}

void fl__pressure_stop(void)
{
	fork_check();
	if (!N.started)
		return;
	__atomic_store_n(&N.stop, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&N.seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &N.seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	/* Stopped from one of its own callbacks: it ends when that returns. */
	if (in_notifier)
		pthread_detach(N.thread);
	else
		pthread_join(N.thread, NULL);
	N.started = 0;
}

FL_API int fl_pressure_subscribe(fl_pressure_fn fn, void *arg)
{
	if (!fn) {
		errno = EINVAL;
		return -1;
	}
	fork_check();
	fl_lock(&N.lock);
	int slot = -1;
	for (int i = 0; i < FL_PRESSURE_SUBSCRIBERS_MAX; i++) {
		if (N.subs[i].fn == fn && N.subs[i].arg == arg) {
			fl_unlock(&N.lock);
			errno = EEXIST;
			return -1;
		}
		if (!N.subs[i].fn && slot < 0)
			slot = i;
	}
	if (slot >= 0) {
		N.subs[slot].arg = arg;
		N.subs[slot].fn = fn;
	}
	fl_unlock(&N.lock);
	if (slot < 0) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

FL_API int fl_pressure_unsubscribe(fl_pressure_fn fn, void *arg)
{
	fork_check();
	fl_lock(&N.lock);
	int slot = -1;
	for (int i = 0; i < FL_PRESSURE_SUBSCRIBERS_MAX && slot < 0; i++)
		if (fn && N.subs[i].fn == fn && N.subs[i].arg == arg)
			slot = i;
	if (slot >= 0)
		N.subs[slot].fn = NULL;
	fl_unlock(&N.lock);
	if (slot < 0) {
		errno = ENOENT;
		return -1;
	}
	/* Its callback may be running: return once it has (unless this is
	 * that callback). */
	if (!in_notifier)
		while (__atomic_load_n(&N.calling, __ATOMIC_ACQUIRE) == slot) {
			struct timespec ts = {0, 1000000};
			syscall(SYS_futex, &N.calling, FUTEX_WAIT_PRIVATE, slot, &ts, NULL, 0);
		}
	return 0;
}

FL_API enum fl_pressure fl_pressure_get(void)
{
	return __atomic_load_n(&P.pressure, __ATOMIC_RELAXED);
}
