/*
 * segv: a plain program with its own fault handler, installed after the
 * shim started (in main): for SIGSEGV by default, for SIGBUS with the
 * argument "bus".  It fills a heap larger than the budget the test gives,
 * then touches pages of its own mapping that fault (PROT_NONE pages its
 * SIGSEGV handler opens, or pages of a file mapping past the file's end
 * that its SIGBUS handler makes exist by growing the file), reads its
 * action back with sigaction and signal, and verifies the heap, whose
 * evicted pages fault through the shim in between.  Prints "segv: handler
 * ran N times, M bad" and exits 0 when the handler ran for each of its own
 * pages and the heap is intact.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 32
static unsigned char *own;
static int own_fd = -1; /* bus: the file behind own */
static int sig = SIGSEGV;
static volatile sig_atomic_t ran;

static void on_fault(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	unsigned char *a = si->si_addr;
	if (a >= own && a < own + PAGES * 4096) {
		ran++;
		uintptr_t pg = (uintptr_t)a & ~(uintptr_t)4095;
		if (own_fd >= 0) {
			if (ftruncate(own_fd, (off_t)(pg - (uintptr_t)own + 4096)) != 0)
				signal(sig, SIG_DFL);
		} else {
			mprotect((void *)pg, 4096, PROT_READ | PROT_WRITE);
		}
		return;
	}
	/* Not ours either: die as the default would. */
	signal(sig, SIG_DFL);
}

static void on_fault_plain(int s)
{
	(void)s;
}

static unsigned char *own_mapping(int bus)
{
	if (!bus)
		return mmap(NULL, PAGES * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FILE *f = tmpfile();
	if (!f)
		return MAP_FAILED;
	own_fd = dup(fileno(f));
	fclose(f);
	return mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, own_fd, 0);
}

int main(int argc, char **argv)
{
	int bus = argc > 1 && !strcmp(argv[1], "bus");
	sig = bus ? SIGBUS : SIGSEGV;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		return 3;
	enum { N = 4000, SZ = 4096 };
	static unsigned char *blk[N];
	for (int i = 0; i < N; i++) {
		blk[i] = malloc(SZ);
		if (!blk[i])
			return 3;
		for (int k = 0; k < SZ; k++)
			blk[i][k] = (unsigned char)(i * 31 + k * 7);
	}
	own = own_mapping(bus);
	if (own == MAP_FAILED)
		return 3;
	long bad = 0;
	for (int p = 0; p < PAGES; p++) {
		own[p * 4096 + 5] = (unsigned char)p; /* the program's handler opens it */
		/* Heap pages evicted meanwhile fault through the shim. */
		for (int i = p; i < N; i += PAGES)
			bad += blk[i][100] != (unsigned char)(i * 31 + 700);
	}
	struct sigaction back;
	if (sigaction(sig, NULL, &back) != 0 || !(back.sa_flags & SA_SIGINFO) ||
	    back.sa_sigaction != on_fault) {
		fprintf(stderr, "segv: sigaction did not give back the program's own action\n");
		bad++;
	}
	__sighandler_t prev = signal(sig, on_fault_plain);
	if (prev != (__sighandler_t)(void (*)(void))on_fault) {
		fprintf(stderr, "segv: signal() did not return the previous handler\n");
		bad++;
	}
	if (signal(sig, SIG_DFL) != on_fault_plain) {
		fprintf(stderr, "segv: signal() did not return on_fault_plain\n");
		bad++;
	}
	sigaction(sig, &sa, NULL);
	for (int i = 0; i < N; i++)
		for (int k = 0; k < SZ; k += 512)
			bad += blk[i][k] != (unsigned char)(i * 31 + k * 7);
	printf("segv: handler ran %d times, %ld bad\n", (int)ran, bad);
	return ran == PAGES && bad == 0 ? 0 : 1;
}
