/*
 * The program's action for a fault signal an engine holds (sigchain.h).
 * Each held signal keeps two slots switched atomically, so a handler never
 * reads a half-written action while the program changes it.
 */
#include "sigchain.h"

#include <errno.h>
#include <string.h>

#include "mem.h"
#include "sys.h"

struct chain {
	struct sigaction prog[2];
	int cur;
	int held;
};

static struct chain segv, bus;

static struct chain *chain_of(int sig)
{
	return sig == SIGSEGV ? &segv : sig == SIGBUS ? &bus : NULL;
}

static void record(struct chain *c, const struct sigaction *act)
{
	int next = __atomic_load_n(&c->cur, __ATOMIC_RELAXED) ^ 1;
	c->prog[next] = *act;
	__atomic_store_n(&c->cur, next, __ATOMIC_RELEASE);
}

static const struct sigaction *program(struct chain *c)
{
	return &c->prog[__atomic_load_n(&c->cur, __ATOMIC_ACQUIRE)];
}

int fl__sigchain_hold(int sig, fl_sig_fn fn)
{
	struct chain *c = chain_of(sig);
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	struct sigaction sa, prev;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	/* NODEFER: the stack walker run from the handler may fault again. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (fl__sys_sigaction(sig, &sa, &prev) != 0)
		return -1;
	/* A forked child re-arming finds this handler there: the program's
	 * action is the one already recorded. */
	if (!((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction == fn))
		record(c, &prev);
	__atomic_store_n(&c->held, 1, __ATOMIC_RELEASE);
	return 0;
}

void fl__sigchain_release(int sig)
{
	struct chain *c = chain_of(sig);
	if (!c || !c->held)
		return;
	__atomic_store_n(&c->held, 0, __ATOMIC_RELEASE);
	fl__sys_sigaction(sig, program(c), NULL);
}

int fl__sigchain_held(int sig)
{
	struct chain *c = chain_of(sig);
	return c && __atomic_load_n(&c->held, __ATOMIC_ACQUIRE);
}

int fl__sigchain_program_action(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!fl__sigchain_held(sig))
		return 0;
	struct chain *c = chain_of(sig);
	if (old)
		*old = *program(c);
	if (act)
		record(c, act);
	return 1;
}

void fl__sigchain_pass(int sig, siginfo_t *si, void *uc)
{
	struct chain *c = chain_of(sig);
	if (!c)
		return;
	const struct sigaction *o = program(c);
	if (o->sa_flags & SA_SIGINFO) {
		if (o->sa_sigaction) {
			o->sa_sigaction(sig, si, uc);
			return;
		}
	} else if (o->sa_handler == SIG_IGN) {
		/* The kernel does not let a real fault be ignored either. */
		if (si->si_code <= 0)
			return;
	} else if (o->sa_handler != SIG_DFL) {
		o->sa_handler(sig);
		return;
	}
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	fl__sys_sigaction(sig, &dfl, NULL);
	/* A signal sent by kill(2) does not come again by itself. */
	if (si->si_code <= 0)
		raise(sig);
}

void fl__sigchain_helper_mask(sigset_t *set)
{
	sigfillset(set);
	if (fl__sigchain_held(SIGSEGV))
		sigdelset(set, SIGSEGV);
	if (fl__sigchain_held(SIGBUS))
		sigdelset(set, SIGBUS);
}

int fl__sigchain_start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	fl__sigchain_helper_mask(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	fl__in_shim++;
	int rc = pthread_create(t, NULL, fn, arg);
	fl__in_shim--;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
