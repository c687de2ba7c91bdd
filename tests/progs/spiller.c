/*
 * spiller: pages that do not compress, far more of them than a budget and
 * a small store hold together, so that most end up in the spill file;
 * every page checked with its checksum.  It maps PAGES pages and fills
 * each with random bytes from a seed of its index, then makes ROUNDS
 * passes in a random order, each reading and checking every page and
 * rewriting one in four with a new seed; a last pass checks them all.
 * With --hold it then prints "holding pid=PID" and waits until its
 * standard input ends (a test can look at it, or kill it, meanwhile).
 *
 * Prints "spiller: N pages, R rounds, bad=B"; exit status 0 when B is 0.
 *
 * usage: spiller PAGES ROUNDS [--hold]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096
#define WORDS (PG / sizeof(uint64_t))

static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void fill(uint64_t *p, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t w = 0; w < WORDS; w++)
		p[w] = next(&x);
}

static int ok(const uint64_t *p, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t w = 0; w < WORDS; w++)
		if (p[w] != next(&x))
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	long pages = argc > 2 ? atol(argv[1]) : 0;
	int rounds = argc > 2 ? atoi(argv[2]) : -1;
	int hold = argc > 3 && !strcmp(argv[3], "--hold");
	if (pages < 1 || rounds < 0 || (argc > 3 && !hold)) {
		fprintf(stderr, "usage: spiller PAGES ROUNDS [--hold]\n");
		return 2;
	}
	unsigned char *m = mmap(NULL, (size_t)pages * PG, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *seed = calloc((size_t)pages, sizeof *seed);
	long *order = calloc((size_t)pages, sizeof *order);
	if (m == MAP_FAILED || !seed || !order) {
		perror("spiller");
		return 1;
	}
	for (long i = 0; i < pages; i++) {
		seed[i] = (uint64_t)i + 1;
		fill((uint64_t *)(m + (size_t)i * PG), seed[i]);
		order[i] = i;
	}
	uint64_t x = 88172645463325252ull;
	long bad = 0;
	for (int r = 0; r < rounds; r++) {
		for (long i = pages - 1; i > 0; i--) {
			long j = (long)(next(&x) % (uint64_t)(i + 1));
			long t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (long k = 0; k < pages; k++) {
			long i = order[k];
			uint64_t *p = (uint64_t *)(m + (size_t)i * PG);
			bad += !ok(p, seed[i]);
			if (next(&x) % 4 == 0) {
				seed[i] = next(&x) | 1;
				fill(p, seed[i]);
			}
		}
	}
	for (long i = 0; i < pages; i++)
		bad += !ok((uint64_t *)(m + (size_t)i * PG), seed[i]);
	printf("spiller: %ld pages, %d rounds, bad=%ld\n", pages, rounds, bad);
	fflush(stdout);
	if (hold) {
		printf("holding pid=%ld\n", (long)getpid());
		fflush(stdout);
		char c;
		while (read(0, &c, 1) > 0)
			;
	}
	return bad != 0;
}
