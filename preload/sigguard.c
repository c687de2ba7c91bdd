/*
 * The program's fault handlers and an engine's live together.  While an
 * engine holds SIGSEGV (the signal engine) or SIGBUS (uffd-sigbus), its
 * handler resolves faults on managed pages and chains the rest to the
 * program's (sigchain.h); a program that sets its own action with
 * sigaction or signal must not replace the engine's handler: the action is
 * recorded as the one to chain to, and the program reads back its own
 * action, never the engine's.  Every other signal goes to glibc untouched.
 *
 * sigprocmask and pthread_sigmask never block a signal an engine holds: a
 * fault on a managed page with it blocked would kill the process (the
 * kernel does not queue a fault signal).  The stack walker is the first
 * user: libunwind blocks every signal while it walks the loader's list of
 * objects, which lives in the heap; while this thread unwinds
 * (fl__unwinding), SIGSEGV and SIGBUS stay deliverable under any engine.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "events.h"
#include "shim.h"
#include "sigchain.h"

extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* glibc's signal() (BSD semantics); the shim exports its own `signal`. */
extern __sighandler_t bsd_signal(int sig, __sighandler_t handler);

FL_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig == SIGSEGV || sig == SIGBUS) {
		struct sigaction prev;
		if (fl__sigchain_program_action(sig, act, &prev)) {
			if (old)
				*old = prev;
			return 0;
		}
	}
	return __sigaction(sig, act, old);
}

FL_EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
	if ((sig == SIGSEGV || sig == SIGBUS) && handler != SIG_ERR) {
		/* glibc's signal(): BSD semantics. */
		struct sigaction sa, prev;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = handler;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaddset(&sa.sa_mask, sig);
		if (fl__sigchain_program_action(sig, &sa, &prev))
			return (prev.sa_flags & SA_SIGINFO) ? (__sighandler_t)(void (*)(void))prev.sa_sigaction
							 : prev.sa_handler;
	}
	return bsd_signal(sig, handler);
}

/*
 * What glibc's pthread_sigmask does, which the shim's export replaces: its
 * own two real-time signals (cancellation, set*id) never get blocked.
 */
static int mask_syscall(int how, const sigset_t *set, sigset_t *old)
{
	/* sigdelset refuses those two: clear their bits by hand. */
	const unsigned long internal = 3ul << (__SIGRTMIN - 1);
	sigset_t buf;
	if (set && how != SIG_UNBLOCK && (set->__val[0] & internal)) {
		buf = *set;
		buf.__val[0] &= ~internal;
		set = &buf;
	}
	long rc = syscall(SYS_rt_sigprocmask, how, set, old, _NSIG / 8);
	return rc == 0 ? 0 : errno;
}

/* The mask the program asked for, less the signals that must stay open. */
static const sigset_t *keep_open(int how, const sigset_t *set, sigset_t *buf)
{
	if (!set || how == SIG_UNBLOCK)
		return set;
	int unwinding = fl__unwinding != 0;
	int segv = unwinding || fl__sigchain_held(SIGSEGV);
	int bus = unwinding || fl__sigchain_held(SIGBUS);
	if (!segv && !bus)
		return set;
	*buf = *set;
	if (segv)
		sigdelset(buf, SIGSEGV);
	if (bus)
		sigdelset(buf, SIGBUS);
	return buf;
}

FL_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t keep;
	int rc = mask_syscall(how, keep_open(how, set, &keep), old);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

FL_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t keep;
	return mask_syscall(how, keep_open(how, set, &keep), old);
}
