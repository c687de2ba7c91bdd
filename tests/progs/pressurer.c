/*
 * pressurer: a program that listens to memory pressure through the
 * preloaded shim (fl_pressure_subscribe, found with dlsym: it is not linked
 * against faultline) while it grows its working set past the budget and
 * shrinks it again.
 *
 *     pressurer PAGES [signal=N] [purge] [fork]
 *
 * It maps PAGES pages in chunks and writes them, round after round (each
 * on fresh mappings, in order or with a stride), until it has heard WARN
 * and CRITICAL; checks every page; unmaps them all and waits to
 * hear NORMAL.  The callback writes each level into a pipe (and the
 * thread it runs on); with signal=N a SA_SIGINFO handler for signal N does
 * the same into a second pipe from si_value.  With purge it first mallocs
 * and frees 4 MiB in large blocks (run it with MALLOC_CONF=dirty_decay_ms:-1
 * so that only a purge returns them) and waits, after hearing CRITICAL,
 * for jemalloc's dirty pages to be gone.  With fork it subscribes, forks,
 * and the child does all the rest (the parent exits with its status).
 * Every wait has a deadline of 30 seconds.  Prints what it heard:
 *
 *     pressurer: levels WARN CRITICAL WARN NORMAL
 *     pressurer: signals WARN CRITICAL WARN NORMAL
 *     pressurer: callback thread other
 *     pressurer: dirty 1040 pages before, 0 after
 *     pressurer: ok
 *
 * and exits 0 when every check held, 1 otherwise, 3 without the shim.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG 4096
#define CHUNK_PAGES 256
#define DEADLINE_MS 30000

/* As in include/faultline/faultline.h (the program does not include it). */
enum level { NORMAL = 0, WARN = 1, CRITICAL = 2 };
typedef void (*pressure_fn)(int level, void *arg);
typedef int (*subscribe_fn)(pressure_fn fn, void *arg);
typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static int cb_pipe[2], sig_pipe[2];
static pid_t main_tid;
static volatile int other_thread = -1; /* 1: every callback ran off the main thread */

static const char *name(int l)
{
	return l == NORMAL ? "NORMAL" : l == WARN ? "WARN" : l == CRITICAL ? "CRITICAL" : "?";
}

static void on_pressure(int level, void *arg)
{
	unsigned char b = (unsigned char)level;
	if (arg != (void *)cb_pipe)
		b = 0xee;
	int off = (pid_t)syscall(SYS_gettid) != main_tid;
	if (other_thread != 0)
		other_thread = off;
	if (write(cb_pipe[1], &b, 1) != 1)
		_exit(5);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	int saved = errno;
	unsigned char b = si->si_code == SI_QUEUE ? (unsigned char)si->si_value.sival_int : 0xef;
	if (write(sig_pipe[1], &b, 1) != 1)
		_exit(5);
	errno = saved;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What was heard so far on one pipe. */
struct heard {
	unsigned char l[4096];
	size_t n;
};

/* Read what the pipe holds, waiting up to wait_ms for the first byte. */
static void drain(int fd, struct heard *h, int wait_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (poll(&p, 1, wait_ms) > 0) {
		unsigned char b[256];
		ssize_t k = read(fd, b, sizeof b);
		if (k <= 0)
			break;
		for (ssize_t i = 0; i < k && h->n < sizeof h->l; i++)
			h->l[h->n++] = b[i];
		wait_ms = 0;
	}
}

static int heard_level(const struct heard *h, int l)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->l[i] == l)
			return 1;
	return 0;
}

static void print(const char *what, const struct heard *h)
{
	printf("pressurer: %s", what);
	for (size_t i = 0; i < h->n; i++)
		printf(" %s", name(h->l[i]));
	printf("\n");
}

/* WARN and CRITICAL heard, each a change from the one before, NORMAL last. */
static int sequence_ok(const struct heard *h)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->l[i] > CRITICAL || (i && h->l[i] == h->l[i - 1]))
			return 0;
	return heard_level(h, WARN) && heard_level(h, CRITICAL) && h->n && h->l[h->n - 1] == NORMAL;
}

static void fill(unsigned char *p, size_t page, unsigned round)
{
	uint64_t x = page * 0x9e3779b97f4a7c15ull + round + 1;
	for (size_t i = 0; i < PG; i += 64) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
}

static size_t dirty_pages(mallctl_fn ctl)
{
	uint64_t epoch = 1;
	size_t sz = sizeof epoch;
	ctl("epoch", &epoch, &sz, &epoch, sz);
	size_t pdirty = 0;
	sz = sizeof pdirty;
	if (ctl("stats.arenas.4096.pdirty", &pdirty, &sz, NULL, 0) != 0)
		return (size_t)-1;
	return pdirty;
}

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? (size_t)atol(argv[1]) : 8192;
	int sig = 0, purge = 0, forked = 0;
	for (int i = 2; i < argc; i++) {
		if (!strncmp(argv[i], "signal=", 7))
			sig = atoi(argv[i] + 7);
		else if (!strcmp(argv[i], "purge"))
			purge = 1;
		else if (!strcmp(argv[i], "fork"))
			forked = 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	main_tid = (pid_t)syscall(SYS_gettid);
	subscribe_fn sub = (subscribe_fn)dlsym(RTLD_DEFAULT, "fl_pressure_subscribe");
	subscribe_fn unsub = (subscribe_fn)dlsym(RTLD_DEFAULT, "fl_pressure_unsubscribe");
	mallctl_fn ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
	if (!sub || !unsub) {
		printf("pressurer: no faultline shim loaded\n");
		return 3;
	}
	if (pipe2(cb_pipe, O_CLOEXEC) != 0 || pipe2(sig_pipe, O_CLOEXEC) != 0)
		return 4;
	if (sig) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_signal;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, NULL) != 0) {
			printf("pressurer: sigaction %d: %s\n", sig, strerror(errno));
			return 4;
		}
	}
	int bad = 0;
	size_t dirty_before = 0;
	if (purge) {
		if (!ctl) {
			printf("pressurer: no mallctl\n");
			return 3;
		}
		enum { BLOCKS = 16, BLOCK = 256 << 10 };
		static void *blk[BLOCKS];
		for (int i = 0; i < BLOCKS; i++) {
			blk[i] = malloc(BLOCK);
			if (!blk[i])
				return 4;
			memset(blk[i], i + 1, BLOCK);
		}
		for (int i = 0; i < BLOCKS; i++)
			free(blk[i]);
		dirty_before = dirty_pages(ctl);
	}
	if (sub(on_pressure, cb_pipe) != 0) {
		printf("pressurer: fl_pressure_subscribe: %s\n", strerror(errno));
		return 1;
	}
	if (sub(on_pressure, cb_pipe) == 0 || errno != EEXIST) {
		printf("pressurer: a second subscription of the same callback was not refused\n");
		bad = 1;
	}

	if (forked) {
		/* The child does it all, with the subscription it inherited
		 * and a notifier of its own; the parent only waits. */
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0)
			return 4;
		if (pid > 0) {
			int st;
			if (waitpid(pid, &st, 0) != pid)
				return 4;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		main_tid = (pid_t)syscall(SYS_gettid);
		printf("pressurer: in a forked child\n");
	}

	/* Grow, round after round, until WARN and CRITICAL have been heard. */
	size_t chunks = (pages + CHUNK_PAGES - 1) / CHUNK_PAGES;
	unsigned char **c = calloc(chunks, sizeof *c);
	struct heard cb = {.n = 0}, sg = {.n = 0};
	unsigned round = 0, written = 0;
	long long t0 = now_ms();
	for (;;) {
		drain(cb_pipe[0], &cb, 0);
		if ((heard_level(&cb, WARN) && heard_level(&cb, CRITICAL)) || now_ms() - t0 > DEADLINE_MS)
			break;
		/* At CRITICAL, hold still until it eases (as a program that
		 * sheds load would), so that the next round starts with
		 * headroom to lose. */
		if (round && cb.n && cb.l[cb.n - 1] == CRITICAL) {
			drain(cb_pipe[0], &cb, 100);
			continue;
		}
		for (size_t k = 0; k < chunks; k++) {
			/* Fresh memory each round: first touches in windows of
			 * fault-around outrun the evictor, as a growing program
			 * does. */
			if (c[k])
				munmap(c[k], (size_t)CHUNK_PAGES * PG);
			c[k] = mmap(NULL, (size_t)CHUNK_PAGES * PG, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (c[k] == MAP_FAILED)
				return 4;
			/* Odd rounds creep (a page a fault, no fault-around):
			 * the headroom shrinks a page at a time through the
			 * WARN mark, which a window of fault-around can jump.
			 * Even rounds rush in order. */
			size_t step = round % 2 ? 17 : 1;
			for (size_t j = 0; j < CHUNK_PAGES; j++) {
				size_t i = j * step % CHUNK_PAGES;
				fill(c[k] + i * PG, k * CHUNK_PAGES + i, round);
			}
		}
		written = round++;
	}
	unsigned char exp[PG];
	memset(exp, 0, sizeof exp);
	size_t wrong = 0;
	for (size_t k = 0; k < chunks; k++)
		for (size_t i = 0; i < CHUNK_PAGES; i++) {
			fill(exp, k * CHUNK_PAGES + i, written);
			wrong += memcmp(c[k] + i * PG, exp, PG) != 0;
		}
	printf("pressurer: %u rounds over %zu pages, %zu pages wrong\n", round, chunks * CHUNK_PAGES, wrong);
	if (wrong)
		bad = 1;

	if (purge) {
		/* The notifier purges after the callbacks of the rise: poll
		 * the dirty count itself, giving the CPU away between looks. */
		size_t d = dirty_pages(ctl);
		long long t1 = now_ms();
		while (d != 0 && now_ms() - t1 < DEADLINE_MS) {
			sched_yield();
			d = dirty_pages(ctl);
		}
		printf("pressurer: dirty %zu pages before, %zu after (%lld ms after WARN and CRITICAL were heard)\n",
		       dirty_before, d, now_ms() - t1);
		if (!dirty_before || dirty_before == (size_t)-1 || d != 0)
			bad = 1;
	}

	/* Shrink, and wait for NORMAL (and the signals to catch up). */
	for (size_t k = 0; k < chunks; k++)
		munmap(c[k], (size_t)CHUNK_PAGES * PG);
	long long t2 = now_ms();
	while (!(cb.n && cb.l[cb.n - 1] == NORMAL) && now_ms() - t2 < DEADLINE_MS)
		drain(cb_pipe[0], &cb, 100);
	while (sig && sg.n < cb.n && now_ms() - t2 < DEADLINE_MS)
		drain(sig_pipe[0], &sg, 100);
	if (unsub(on_pressure, cb_pipe) != 0) {
		printf("pressurer: fl_pressure_unsubscribe: %s\n", strerror(errno));
		bad = 1;
	}
	if (unsub(on_pressure, cb_pipe) == 0 || errno != ENOENT) {
		printf("pressurer: a second unsubscribe was not refused\n");
		bad = 1;
	}
	print("levels", &cb);
	if (!sequence_ok(&cb))
		bad = 1;
	if (sig) {
		print("signals", &sg);
		if (sg.n != cb.n || memcmp(sg.l, cb.l, cb.n))
			bad = 1;
	}
	printf("pressurer: callback thread %s\n", other_thread == 1 ? "other" : other_thread == 0 ? "main" : "none");
	if (other_thread != 1)
		bad = 1;
	printf("pressurer: %s\n", bad ? "FAILED" : "ok");
	return bad;
}
