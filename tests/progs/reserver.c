/*
 * reserver: the two ways runtimes commit memory they reserved first, with
 * every byte checked.  V8's: a large PROT_NONE reservation, 256 KiB pieces
 * made read-write with mprotect, some decommitted (MADV_DONTNEED, then
 * PROT_NONE) and committed again (they must read zero), one flipped to
 * read-execute like JIT code (its bytes kept).  The JVM's: pieces of a
 * reservation committed with mmap(MAP_FIXED) read-write, some uncommitted
 * with mmap(MAP_FIXED, PROT_NONE), and some of those committed again
 * together with the committed piece after each (they must read zero).  Prints a checksum of everything still
 * committed and "ok"; exit 0 only when every page read back right.
 *
 * --hang: print the two reservations' ranges too, then wait for a signal
 * with every piece still mapped (the viewers' tests look at it meanwhile).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096
#define V8_PIECE (256 << 10)
#define V8_PIECES 96
#define JVM_PIECE (1 << 20)
#define JVM_PIECES 24

static uint64_t word(size_t piece, size_t w, unsigned who)
{
	uint64_t x = (piece << 24) ^ (w * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)who << 56);
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x & 0x0000ffff0000ffffull; /* compressible, as heaps are */
}

static void fill(unsigned char *p, size_t len, size_t piece, unsigned who)
{
	uint64_t *q = (uint64_t *)p;
	for (size_t w = 0; w < len / 8; w++)
		q[w] = word(piece, w, who);
}

static size_t wrong(const unsigned char *p, size_t len, size_t piece, unsigned who, uint64_t *sum)
{
	const uint64_t *q = (const uint64_t *)p;
	size_t bad = 0;
	for (size_t w = 0; w < len / 8; w++) {
		bad += q[w] != (who ? word(piece, w, who) : 0);
		*sum = (*sum ^ q[w]) * 1099511628211ull;
	}
	return bad;
}

static int zero_piece(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	int hang = argc > 1 && !strcmp(argv[1], "--hang");
	if (argc > 2 || (argc == 2 && !hang)) {
		fprintf(stderr, "usage: reserver [--hang]\n");
		return 2;
	}
	uint64_t sum = 1469598103934665603ull;
	size_t bad = 0;

	/* V8: reserve, commit with mprotect every other piece-sized slot. */
	size_t v8len = (size_t)V8_PIECES * 2 * V8_PIECE;
	unsigned char *v8 = mmap(NULL, v8len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v8 == MAP_FAILED) {
		perror("reserver: reserve");
		return 2;
	}
	for (size_t i = 0; i < V8_PIECES; i++) {
		unsigned char *p = v8 + 2 * i * V8_PIECE;
		if (mprotect(p, V8_PIECE, PROT_READ | PROT_WRITE) != 0) {
			perror("reserver: commit");
			return 2;
		}
		fill(p, V8_PIECE, i, 1);
	}
	/* Decommit a quarter, commit half of those again: zeros. */
	for (size_t i = 0; i < V8_PIECES; i += 4) {
		unsigned char *p = v8 + 2 * i * V8_PIECE;
		madvise(p, V8_PIECE, MADV_DONTNEED);
		mprotect(p, V8_PIECE, PROT_NONE);
	}
	for (size_t i = 0; i < V8_PIECES; i += 8) {
		unsigned char *p = v8 + 2 * i * V8_PIECE;
		mprotect(p, V8_PIECE, PROT_READ | PROT_WRITE);
		bad += !zero_piece(p, V8_PIECE);
		fill(p, V8_PIECE, i, 2);
	}
	/* A JIT-like flip: written, then read-execute. */
	mprotect(v8 + 2 * V8_PIECE, V8_PIECE, PROT_READ | PROT_EXEC);

	/* The JVM: commit pieces with MAP_FIXED, uncommit some the same way. */
	size_t jlen = (size_t)JVM_PIECES * JVM_PIECE;
	unsigned char *j = mmap(NULL, jlen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (j == MAP_FAILED) {
		perror("reserver: reserve");
		return 2;
	}
	for (size_t i = 0; i < JVM_PIECES; i++) {
		unsigned char *p = j + i * JVM_PIECE;
		if (mmap(p, JVM_PIECE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p) {
			perror("reserver: commit");
			return 2;
		}
		fill(p, JVM_PIECE, 1000 + i, 1);
	}
	for (size_t i = 0; i < JVM_PIECES; i += 3)
		mmap(j + i * JVM_PIECE, JVM_PIECE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
		     0);
	/* One commit across an uncommitted piece and a committed one. */
	for (size_t i = 0; i < JVM_PIECES; i += 6) {
		unsigned char *p = j + i * JVM_PIECE;
		if (mmap(p, 2 * JVM_PIECE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p) {
			perror("reserver: commit again");
			return 2;
		}
		bad += !zero_piece(p, 2 * JVM_PIECE);
		fill(p, JVM_PIECE, 1000 + i, 3);
		fill(p + JVM_PIECE, JVM_PIECE, 1000 + i + 1, 3);
	}

	/* Everything still committed, read back (the whole heap twice over
	 * the budgets the tests give). */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < V8_PIECES; i++) {
			if (i % 4 == 0 && i % 8 != 0)
				continue; /* decommitted */
			unsigned who = i % 8 == 0 ? 2 : 1;
			bad += wrong(v8 + 2 * i * V8_PIECE, V8_PIECE, i, who, &sum);
		}
		for (size_t i = 0; i < JVM_PIECES; i++) {
			if (i % 3 == 0 && i % 6 != 0)
				continue; /* uncommitted */
			unsigned who = i % 6 <= 1 ? 3 : 1;
			bad += wrong(j + i * JVM_PIECE, JVM_PIECE, 1000 + i, who, &sum);
		}
	}
	if (hang)
		printf("reserver: v8 %p-%p, jvm %p-%p\n", (void *)v8, (void *)(v8 + v8len), (void *)j,
		       (void *)(j + jlen));
	printf("reserver: checksum %016llx, %s\n", (unsigned long long)sum, bad ? "BAD" : "ok");
	fflush(stdout);
	while (hang)
		pause();
	return bad ? 1 : 0;
}
