/*
 * faulter: a program with known fault behaviour, for the fault log's
 * end-to-end tests.  It maps PAGES pages, writes each once in
 * write_pages() (the hottest stack: one first-touch fault per page with
 * fault-around off), reads a third of them back in read_pages() and
 * prints whether they held what was written.  Options:
 *   --fork       a child does the same on its own mapping and exits
 *   --slow MS    spread the writes over about MS milliseconds
 *   --hang       sleep forever after the work (to be killed)
 *   --protect    make the mapping read-only before unmapping it
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG 4096

static long pause_every, pause_ns;
static int protect;

static void nap(long ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	nanosleep(&ts, NULL);
}

__attribute__((noinline)) static void write_pages(volatile unsigned char *p, long n)
{
	for (long i = 0; i < n; i++) {
		p[i * PG] = (unsigned char)(i * 7 + 1); /* FAULTER_WRITE_LINE */
		if (pause_every && i % pause_every == pause_every - 1)
			nap(pause_ns);
	}
}

__attribute__((noinline)) static uint64_t read_pages(volatile unsigned char *p, long n, long step)
{
	uint64_t sum = 0;
	for (long i = 0; i < n; i += step)
		sum += p[i * PG];
	return sum;
}

static uint64_t work(long pages)
{
	unsigned char *p = mmap(NULL, (size_t)pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
	if (p == MAP_FAILED) {
		perror("faulter: mmap");
		exit(2);
	}
	write_pages(p, pages);
	uint64_t sum = read_pages(p, pages, 3);
	if (protect && mprotect(p, (size_t)pages * PG, PROT_READ) != 0) {
		perror("faulter: mprotect");
		exit(2);
	}
	munmap(p, (size_t)pages * PG);
	return sum;
}

static uint64_t expect(long pages)
{
	uint64_t sum = 0;
	for (long i = 0; i < pages; i += 3)
		sum += (unsigned char)(i * 7 + 1);
	return sum;
}

int main(int argc, char **argv)
{
	long pages = 2000;
	int do_fork = 0, hang = 0;
	long slow_ms = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fork"))
			do_fork = 1;
		else if (!strcmp(argv[i], "--hang"))
			hang = 1;
		else if (!strcmp(argv[i], "--protect"))
			protect = 1;
		else if (!strcmp(argv[i], "--slow") && i + 1 < argc)
			slow_ms = atol(argv[++i]);
		else
			pages = atol(argv[i]);
	}
	if (pages < 1) {
		fprintf(stderr, "usage: faulter [PAGES] [--fork] [--slow MS] [--hang] [--protect]\n");
		return 2;
	}
	if (slow_ms > 0) {
		pause_every = pages / 100 > 0 ? pages / 100 : 1;
		pause_ns = slow_ms * 1000000 / 100;
	}
	pid_t child = -1;
	if (do_fork) {
		fflush(stdout);
		child = fork();
		if (child == 0) {
			uint64_t s = work(pages / 2);
			return s == expect(pages / 2) ? 0 : 3;
		}
	}
	uint64_t s = work(pages);
	int ok = s == expect(pages);
	if (child > 0) {
		int st = 0;
		waitpid(child, &st, 0);
		ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	printf("faulter: %ld pages, checksum %s\n", pages, ok ? "ok" : "BAD");
	fflush(stdout);
	while (hang)
		pause();
	return ok ? 0 : 1;
}
