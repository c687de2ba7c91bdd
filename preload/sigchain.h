/*
 * The fault signals an engine resolves in the faulting thread (SIGSEGV for
 * the signal engine, SIGBUS for uffd-sigbus) and the program's own action
 * for them.  While an engine holds such a signal its handler stays
 * installed; the program's action is recorded here, handed back to the
 * program's sigaction/signal calls (sigguard.c), and chained to for every
 * signal that is not a fault on managed memory.
 */
#ifndef FL_SIGCHAIN_H
#define FL_SIGCHAIN_H

#include <pthread.h>
#include <signal.h>

typedef void (*fl_sig_fn)(int sig, siginfo_t *si, void *uc);

/*
 * Install fn for sig (SIGSEGV or SIGBUS) and record the program's action.
 * Installing again (a forked child re-arming) keeps the recorded action.
 * Returns 0, or -1 with errno set.
 */
int fl__sigchain_hold(int sig, fl_sig_fn fn);

/* Give the program its recorded action back. */
void fl__sigchain_release(int sig);

/*
 * For the interposed sigaction: while sig is held, *old gets the program's
 * action and act (if not NULL) replaces it; returns 1.  Returns 0 when sig
 * is not held (the kernel's action is the program's then).
 */
int fl__sigchain_program_action(int sig, const struct sigaction *act, struct sigaction *old);

/*
 * Hand a signal that is not ours to the program's action, from inside the
 * engine's handler.  For the default action, the kernel's default is put
 * back and the handler returns: the access faults again and the kernel
 * acts (a core dump names the real fault).
 */
void fl__sigchain_pass(int sig, siginfo_t *si, void *uc);

/* Nonzero while an engine holds sig. */
int fl__sigchain_held(int sig);

/*
 * The mask for the shim's own threads: every signal blocked (so the
 * program's handlers never run on them) except the fault signals an
 * engine holds, since a helper that touches a managed page resolves the
 * fault itself then, and a blocked fault signal kills the process.
 */
void fl__sigchain_helper_mask(sigset_t *set);
/* Start one of the shim's threads with that mask, its start marked as the
 * shim's (not a sampled allocation of the program).  pthread_create's
 * result. */
int fl__sigchain_start_thread(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
