/*
 * forkstore: fork under a budget, checked byte for byte, with the
 * children's memory and the parent's freed in turn.  It maps PAGES pages
 * (A) and mallocs PAGES/4 blocks of 3000 bytes (B), fills both with
 * patterns of their index (compressible: the store stays small, so the
 * resident figures are the pages' own), then forks CHILDREN children.
 *
 * Each child checks all of A and B (pages out of memory at the fork
 * included), frees B's even blocks and unmaps A's first quarter (the
 * parent still holds both), rewrites A's third quarter with its own
 * pattern (under a budget its pager evicts and compresses as it goes),
 * waits until the parent has freed its own share (EOF on a pipe only the
 * parent holds open), then checks everything it still holds: B's odd
 * blocks, which the parent has freed by then, among them.  With --nest
 * the first child forks a grandchild that does the same checks on its
 * view before the child goes on.  The parent, once all are forked, frees
 * B's odd blocks and unmaps A's last quarter, lets the children go on,
 * waits for them and checks what it holds, the blocks its children freed
 * among them.
 *
 * Prints one line per process: "parent: peak rss before fork N KiB, after
 * fork M KiB, bad=K", "child C: bad=K" and "grandchild: bad=K"; exit
 * status 0 when every process read what it should.
 *
 * usage: forkstore PAGES CHILDREN [--nest]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
#define WORDS (PG / sizeof(uint64_t))
#define BLOCK 3000

/* Eight words that repeat through a page: compressible, and distinct per
 * page and writer. */
static uint64_t word(long page, size_t w, uint64_t who)
{
	uint64_t x = ((uint64_t)page << 20) ^ ((w % 8) * 0x9e3779b97f4a7c15ull) ^ (who << 56);
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static long pages, nblocks;
static unsigned char *A;
static unsigned char **B;

static void fill_page(long i, uint64_t who)
{
	uint64_t *p = (uint64_t *)(A + (size_t)i * PG);
	for (size_t w = 0; w < WORDS; w++)
		p[w] = word(i, w, who);
}

static long check_pages(long lo, long hi, uint64_t who)
{
	long bad = 0;
	for (long i = lo; i < hi; i++) {
		const uint64_t *p = (const uint64_t *)(A + (size_t)i * PG);
		for (size_t w = 0; w < WORDS; w++)
			if (p[w] != word(i, w, who)) {
				bad++;
				break;
			}
	}
	return bad;
}

static void fill_block(long b)
{
	for (size_t k = 0; k < BLOCK; k++)
		B[b][k] = (unsigned char)(b * 31 + k / 64);
}

/* Blocks lo, lo+2, ... that differ from their pattern. */
static long check_blocks(long lo)
{
	long bad = 0;
	for (long b = lo; b < nblocks; b += 2)
		for (size_t k = 0; k < BLOCK; k++)
			if (B[b][k] != (unsigned char)(b * 31 + k / 64)) {
				bad++;
				break;
			}
	return bad;
}

static long peak_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* The quarters of A. */
#define Q(k) (pages * (k) / 4)

/* A child's (or grandchild's) view after its own writes: A's first quarter
 * is gone here, the third is its own (who), the rest the parent's. */
static long check_view(uint64_t who)
{
	return check_pages(Q(1), Q(2), 0) + check_pages(Q(2), Q(3), who) + check_pages(Q(3), Q(4), 0);
}

static void wait_eof(int fd)
{
	char c;
	while (read(fd, &c, 1) > 0)
		;
}

static int child(int c, int go, int nest)
{
	uint64_t who = (uint64_t)c + 1;
	long bad = check_pages(0, pages, 0) + check_blocks(0) + check_blocks(1);
	for (long b = 0; b < nblocks; b += 2)
		free(B[b]);
	munmap(A, (size_t)Q(1) * PG);
	for (long i = Q(2); i < Q(3); i++)
		fill_page(i, who);
	bad += check_view(who);
	if (nest) {
		pid_t g = fork();
		if (g < 0) {
			perror("forkstore: fork");
			return 1;
		}
		if (g == 0) {
			long gbad = check_view(who) + check_blocks(1);
			/* The grandchild writes too; its parent must not see it. */
			for (long i = Q(3); i < Q(4); i += 2)
				fill_page(i, 99);
			for (long i = Q(3); i < Q(4); i += 2)
				gbad += check_pages(i, i + 1, 99);
			printf("grandchild: bad=%ld\n", gbad);
			fflush(stdout);
			_exit(gbad != 0);
		}
		int st;
		if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	wait_eof(go);
	bad += check_view(who) + check_blocks(1);
	printf("child %d: bad=%ld\n", c, bad);
	fflush(stdout);
	return bad != 0;
}

int main(int argc, char **argv)
{
	pages = argc > 1 ? atol(argv[1]) : 0;
	int children = argc > 2 ? atoi(argv[2]) : 0;
	int nest = argc > 3 && strcmp(argv[3], "--nest") == 0;
	if (pages < 16 || children < 1 || children > 64 || (argc > 3 && !nest)) {
		fprintf(stderr, "usage: forkstore PAGES CHILDREN [--nest]\n");
		return 2;
	}
	A = mmap(NULL, (size_t)pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	nblocks = pages / 4;
	B = calloc((size_t)nblocks, sizeof *B);
	if (A == MAP_FAILED || !B) {
		perror("forkstore");
		return 1;
	}
	for (long i = 0; i < pages; i++)
		fill_page(i, 0);
	for (long b = 0; b < nblocks; b++) {
		B[b] = malloc(BLOCK);
		if (!B[b]) {
			perror("forkstore: malloc");
			return 1;
		}
		fill_block(b);
	}
	long before = peak_kib();
	int go[2];
	if (pipe(go) != 0) {
		perror("forkstore: pipe");
		return 1;
	}
	pid_t kids[64];
	long after = -1;
	for (int c = 0; c < children; c++) {
		fflush(stdout);
		kids[c] = fork();
		if (kids[c] < 0) {
			perror("forkstore: fork");
			return 1;
		}
		if (kids[c] == 0) {
			close(go[1]);
			_exit(child(c, go[0], nest && c == 0));
		}
		if (c == 0)
			after = peak_kib();
	}
	close(go[0]);
	for (long b = 1; b < nblocks; b += 2)
		free(B[b]);
	munmap(A + (size_t)Q(3) * PG, (size_t)(Q(4) - Q(3)) * PG);
	close(go[1]);
	int failed = 0;
	for (int c = 0; c < children; c++) {
		int st;
		if (waitpid(kids[c], &st, 0) != kids[c] || !WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	long bad = check_pages(0, Q(3), 0) + check_blocks(0);
	printf("parent: peak rss before fork %ld KiB, after fork %ld KiB, bad=%ld, children failed %d\n", before,
	       after, bad, failed);
	return bad || failed;
}
