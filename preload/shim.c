/*
 * The shim's life cycle inside a preloaded program: read the options from
 * the environment before anything else is ready, start the pager, hook
 * fork, and at exit write a summary where FAULTLINE_SUMMARY says.  A bad
 * setting gets one line on stderr and the program runs unmanaged.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"
#include "emitter.h"
#include "faultline/faultline.h"
#include "faultline/summary.h"
#include "faultline/wire.h"
#include "log.h"
#include "options.h"
#include "pager.h"
#include "shim.h"

int fl__shim_ready;
static struct fl_settings settings;
static pid_t shim_pid; /* this process's pid, as the shim last saw it */

/* Not a vfork child borrowing the parent's memory (and the shim's). */
static int fl__shim_own_pid(void)
{
	return (pid_t)syscall(SYS_getpid) == shim_pid;
}

static void say(const char *msg)
{
	char line[400];
	int n = snprintf(line, sizeof line, "faultline: %s\n", msg);
	if (n > (int)sizeof line - 1)
		n = (int)sizeof line - 1;
	syscall(SYS_write, 2, line, (size_t)n);
}

/*
 * Fork handlers: jemalloc's and the pager's, in one registration and in
 * the order they need.  Before the fork, jemalloc first takes every one of
 * its locks (touching its metadata, which is managed memory: those faults
 * are served as usual), and then the pager takes its lock and brings every
 * evicted page back.  The other way round deadlocked: the pager held its
 * lock while jemalloc waited for a lock held by a thread (the emitter
 * reading jemalloc's statistics) that was waiting on a fault, which the
 * handler could not serve without the pager's lock.  After the fork the
 * pager goes first (in the child, before jemalloc touches anything), and
 * a child that was handed its parent's evicted pages starts its own fault
 * handlers last, when malloc works again (until then its parent answers
 * its faults).
 * jemalloc's call to pthread_atfork is renamed to fl__je_pthread_atfork at
 * build time (Makefile), so its handlers run only from here.
 */
static void (*je_prepare)(void), (*je_parent)(void), (*je_child)(void);
static int fork_handlers_registered;

static void fork_prepare(void)
{
	if (je_prepare)
		je_prepare();
	fl__alloc_fork_prepare();
	fl_pager_fork_prepare();
}

static void fork_parent(void)
{
	fl_pager_fork_parent();
	fl__alloc_fork_parent();
	if (je_parent)
		je_parent();
}

static void fork_child(void)
{
	shim_pid = (pid_t)syscall(SYS_getpid);
	fl_pager_fork_child();
	fl__alloc_fork_child();
	fl__emitter_fork_child();
	if (je_child)
		je_child();
	fl_pager_fork_child_late();
}

static void register_fork_handlers(void)
{
	if (!__atomic_exchange_n(&fork_handlers_registered, 1, __ATOMIC_ACQ_REL))
		pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int fl__je_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));
int fl__je_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	je_prepare = prepare;
	je_parent = parent;
	je_child = child;
	register_fork_handlers();
	return 0;
}

static void at_exit(int status, void *arg)
{
	(void)arg;
	fl__emitter_exit(status, FL_WIRE_END_EXITED);
}

static void write_summary(void);

/*
 * The program's _exit and _Exit, which skip on_exit handlers: the fault
 * log's goodbye and the summary are written here, then the process ends
 * as the program asked (the shim never ends it on its own account).  A
 * vfork child, which shares our memory, is told apart by its pid and
 * writes nothing.
 */
__attribute__((noreturn)) static void program_exit(int status)
{
	if (__atomic_load_n(&fl__shim_ready, __ATOMIC_ACQUIRE)) {
		fl__emitter_exit(status, FL_WIRE_END_EXITED);
		if (fl__shim_own_pid())
			write_summary();
	}
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

FL_EXPORT void _exit(int status)
{
	program_exit(status);
}

FL_EXPORT void _Exit(int status)
{
	program_exit(status);
}

__attribute__((constructor(101))) static void shim_init(void)
{
	extern char **environ;
	char err[256];
	shim_pid = (pid_t)syscall(SYS_getpid);
	if (fl_settings_from_env(&settings, environ, err, sizeof err) != 0) {
		char msg[400];
		snprintf(msg, sizeof msg, "%s; the program runs unmanaged", err);
		say(msg);
		return;
	}
	if (settings.pager.engine == FL_ENGINE_CHOICE_OFF)
		return;
	int logging = fl__emitter_prepare(&settings, environ) == 0;
	if (fl_pager_init(&settings.pager, err, sizeof err) != 0) {
		char msg[400];
		snprintf(msg, sizeof msg, "%s; the program runs unmanaged", err);
		say(msg);
		return;
	}
	register_fork_handlers();
	/* The fault log: its thread starts now, and on_exit gives it the
	 * exit status (a destructor would not know it). */
	if (logging && fl__emitter_start() == 0)
		on_exit(at_exit, NULL);
	/* The allocator's first extents were mapped while the pager started
	 * its threads (pthread_create mallocs); they become managed now. */
	fl__shim_adopt_early();
	__atomic_store_n(&fl__shim_ready, 1, __ATOMIC_RELEASE);
}

/* The summary block (include/faultline/summary.h) for the launcher.  Once
 * per process: at exit (destructor) or at _exit, whichever comes first. */
static void write_summary(void)
{
	static pid_t done_pid;
	pid_t me = (pid_t)syscall(SYS_getpid);
	if (!settings.summary_path[0] || done_pid == me)
		return;
	done_pid = me;
	struct fl_stats s;
	struct fl_summary sum;
	memset(&sum, 0, sizeof sum);
	sum.pid = me;
	sum.managed = fl_stats_get(&s) == 0;
	snprintf(sum.engine, sizeof sum.engine, "%s", fl_engine_name(fl_pager_engine()));
	if (sum.managed) {
		sum.page_size = s.page_size;
		sum.budget_pages = s.budget_pages;
		sum.peak_pages = s.resident_peak_pages;
		sum.resident_pages = s.resident_pages;
		sum.inactive_pages = s.inactive_pages;
		sum.compressed_pages = s.compressed_pages;
		sum.same_filled_pages = s.same_filled_pages;
		sum.compressed_bytes = s.compressed_bytes;
		sum.store_bytes = s.store_bytes;
		sum.errors = s.errors;
		sum.prefilled = s.pages_prefilled;
		sum.readahead = s.pages_readahead;
		sum.evicted = s.pages_evicted;
		sum.efficiency = fl_stats_efficiency(&s);
		fl_pager_spill_stats(&sum.spilled_pages, &sum.spilled_bytes, &sum.spill_file_bytes);
		snprintf(sum.pressure_peak, sizeof sum.pressure_peak, "%s", fl_pressure_name(s.pressure_peak));
		for (int k = 0; k < FL_FAULT__COUNT && k < FL_SUMMARY_MAX_KINDS; k++) {
			snprintf(sum.kind[k], sizeof sum.kind[k], "%s", fl_fault_kind_name(k));
			sum.faults[k] = s.faults[k];
			sum.nkinds++;
		}
	}
	char buf[2048];
	size_t n = fl_summary_format(&sum, buf, sizeof buf);
	if (!n)
		return;
	/* One file per run: each process appends its own block in one write. */
	int fd = (int)syscall(SYS_openat, AT_FDCWD, settings.summary_path,
			      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	syscall(SYS_write, fd, buf, n);
	syscall(SYS_close, fd);
}

__attribute__((destructor)) static void shim_fini(void)
{
	write_summary();
}
