/*
 * A small futex lock for the shim's internals.  pthread mutexes would do,
 * but the signal engine takes this lock inside a SIGSEGV handler, and a
 * futex word plus atomics is async-signal-safe where libc makes no promise.
 */
#ifndef FL_LOCK_H
#define FL_LOCK_H

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline void fl_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

typedef struct {
	int v; /* 0 free, 1 locked, 2 locked with waiters */
} fl_lock_t;

#define FL_LOCK_INIT {0}

static inline void fl_lock(fl_lock_t *l)
{
	int c = 0;
	if (__atomic_compare_exchange_n(&l->v, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	for (int i = 0; i < 100; i++) {
		c = 0;
		if (__atomic_load_n(&l->v, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&l->v, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
		fl_cpu_relax();
	}
	if (c != 2)
		c = __atomic_exchange_n(&l->v, 2, __ATOMIC_ACQUIRE);
	while (c != 0) {
		syscall(SYS_futex, &l->v, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
		c = __atomic_exchange_n(&l->v, 2, __ATOMIC_ACQUIRE);
	}
}

/*
 * fl_lock, but give up (0) once *stop is set: for a waiter that must not
 * sleep through something the holder waits for.  A waiter that went to
 * sleep just before *stop was set sees it within a millisecond.
 */
static inline int fl_lock_unless(fl_lock_t *l, const int *stop)
{
	int c = 0;
	if (__atomic_compare_exchange_n(&l->v, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 1;
	for (;;) {
		if (__atomic_load_n(stop, __ATOMIC_ACQUIRE))
			return 0;
		if (__atomic_exchange_n(&l->v, 2, __ATOMIC_ACQUIRE) == 0)
			return 1;
		struct timespec ts = {0, 1000000};
		syscall(SYS_futex, &l->v, FUTEX_WAIT_PRIVATE, 2, &ts, NULL, 0);
	}
}

static inline void fl_unlock(fl_lock_t *l)
{
	if (__atomic_exchange_n(&l->v, 0, __ATOMIC_RELEASE) == 2)
		syscall(SYS_futex, &l->v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

#endif
