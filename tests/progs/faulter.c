/*
 * faulter: a program with known fault behaviour, for the fault log's
 * end-to-end tests.  It maps PAGES pages, writes each once in
 * write_pages() (the hottest stack: one first-touch fault per page with
 * fault-around off), reads a third of them back in read_pages() and
 * prints whether they held what was written.  Options:
 *   --fork       a child does the same on its own mapping and exits
 *   --phases DIR after each of the first two thirds of the writes, create
 *                DIR/stopK and wait until DIR/goK exists (K = 1, 2), so a
 *                test can change the world between them
 *   --hang       sleep forever after the work, its mapping kept (to be killed)
 *   --protect    make the mapping read-only before unmapping it
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG 4096

static const char *phases;
static int protect, hang;

/* Tell the test this phase is done; wait until it says go on. */
static void phase_gate(int k)
{
	char path[512];
	snprintf(path, sizeof path, "%s/stop%d", phases, k);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof path, "%s/go%d", phases, k);
	while (access(path, F_OK) != 0) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
}


__attribute__((noinline)) static void write_pages(volatile unsigned char *p, long n)
{
	for (long i = 0; i < n; i++) {
		p[i * PG] = (unsigned char)(i * 7 + 1); /* FAULTER_WRITE_LINE */
		if (phases && (i + 1 == n / 3 || i + 1 == 2 * (n / 3)))
			phase_gate(i + 1 == n / 3 ? 1 : 2);
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
	if (!hang)
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
	int do_fork = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fork"))
			do_fork = 1;
		else if (!strcmp(argv[i], "--hang"))
			hang = 1;
		else if (!strcmp(argv[i], "--protect"))
			protect = 1;
		else if (!strcmp(argv[i], "--phases") && i + 1 < argc)
			phases = argv[++i];
		else
			pages = atol(argv[i]);
	}
	if (pages < 1) {
		fprintf(stderr, "usage: faulter [PAGES] [--fork] [--phases DIR] [--hang] [--protect]\n");
		return 2;
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
