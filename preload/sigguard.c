/*
 * The program's SIGSEGV handler and the signal engine's live together.
 * While the signal engine holds SIGSEGV (its handler resolves faults on
 * managed pages and chains the rest to the program's), a program that
 * sets its own action with sigaction or signal must not replace the
 * engine's handler: the action is recorded as the one to chain to, and
 * the program reads back its own action, never the engine's.  Every other
 * signal, and SIGSEGV under the other engines, goes to glibc untouched.
 *
 * sigprocmask is here for the stack walker: libunwind blocks every signal
 * while it walks the loader's list of objects, which lives in the heap;
 * under the signal engine a touch of an evicted heap page with SIGSEGV
 * blocked would kill the process.  While this thread unwinds
 * (fl__unwinding), SIGSEGV and SIGBUS stay deliverable.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "engine.h"
#include "events.h"
#include "shim.h"

extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* glibc's signal() (BSD semantics); the shim exports its own `signal`. */
extern __sighandler_t bsd_signal(int sig, __sighandler_t handler);

FL_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig == SIGSEGV) {
		struct sigaction prev;
		if (fl__signal_segv_action(act, &prev)) {
			if (old)
				*old = prev;
			return 0;
		}
	}
	return __sigaction(sig, act, old);
}

FL_EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
	if (sig == SIGSEGV && handler != SIG_ERR) {
		/* glibc's signal(): BSD semantics. */
		struct sigaction sa, prev;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = handler;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaddset(&sa.sa_mask, SIGSEGV);
		if (fl__signal_segv_action(&sa, &prev))
			return (prev.sa_flags & SA_SIGINFO) ? (__sighandler_t)(void (*)(void))prev.sa_sigaction
							 : prev.sa_handler;
	}
	return bsd_signal(sig, handler);
}

FL_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t keep;
	if (set && fl__unwinding && how != SIG_UNBLOCK) {
		keep = *set;
		sigdelset(&keep, SIGSEGV);
		sigdelset(&keep, SIGBUS);
		set = &keep;
	}
	int rc = pthread_sigmask(how, set, old);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}
