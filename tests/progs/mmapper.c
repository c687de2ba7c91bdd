/*
 * A test program for the preloaded shim: it maps, writes, checksums,
 * partially unmaps, remaps, discards, protects and forks anonymous memory
 * through the ordinary libc calls, and exits 0 only if every byte reads
 * back what was written.  Run it under LD_PRELOAD with a small budget.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PS 4096u

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static void fill(unsigned char *p, size_t pages, uint64_t tag)
{
	for (size_t i = 0; i < pages; i++) {
		uint64_t w = mix(tag + i);
		/* Half a page of a repeated word, half of varying words. */
		for (size_t k = 0; k < PS / 2; k += 8)
			memcpy(p + i * PS + k, &w, 8);
		for (size_t k = PS / 2; k < PS; k += 8) {
			uint64_t v = mix(w + k);
			memcpy(p + i * PS + k, &v, 8);
		}
	}
}

static size_t bad(const unsigned char *p, size_t pages, uint64_t tag)
{
	unsigned char *exp = malloc(PS);
	size_t n = 0;
	for (size_t i = 0; i < pages; i++) {
		fill(exp, 1, tag + i);
		n += memcmp(p + i * PS, exp, PS) != 0;
	}
	free(exp);
	return n;
}

#define CHECK(cond, what)                                            \
	do {                                                         \
		if (!(cond)) {                                       \
			fprintf(stderr, "mmapper: %s failed\n", what); \
			return 1;                                    \
		}                                                    \
	} while (0)

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? (size_t)atol(argv[1]) : 8192; /* 32 MiB */
	unsigned char *m = mmap(NULL, pages * PS, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED, "mmap");
	fill(m, pages, 1);
	CHECK(bad(m, pages, 1) == 0, "first read-back");

	/* Partial munmap in the middle; both sides intact. */
	size_t h = pages / 2;
	CHECK(munmap(m + h * PS, 16 * PS) == 0, "munmap middle");
	CHECK(bad(m, h, 1) == 0 && bad(m + (h + 16) * PS, pages - h - 16, 1 + h + 16) == 0,
	      "read-back after munmap");

	/* mremap the tail part to a bigger, moved mapping. */
	size_t tail = pages - h - 16;
	unsigned char *t = mremap(m + (h + 16) * PS, tail * PS, 2 * tail * PS, MREMAP_MAYMOVE);
	CHECK(t != MAP_FAILED, "mremap");
	CHECK(bad(t, tail, 1 + h + 16) == 0, "read-back after mremap");
	for (size_t i = tail; i < 2 * tail; i += 97)
		CHECK(t[i * PS] == 0, "grown part reads zero");
	fill(t + tail * PS, tail, 77);

	/* madvise(DONTNEED) drops contents; the rest survives. */
	CHECK(madvise(m, 64 * PS, MADV_DONTNEED) == 0, "madvise");
	for (size_t i = 0; i < 64; i++)
		CHECK(m[i * PS + 100] == 0, "discarded page reads zero");
	CHECK(bad(m + 64 * PS, h - 64, 1 + 64) == 0, "read-back after madvise");

	/* mprotect read-only and back. */
	CHECK(mprotect(m + 64 * PS, 128 * PS, PROT_READ) == 0, "mprotect ro");
	CHECK(bad(m + 64 * PS, 128, 1 + 64) == 0, "read-only read-back");
	CHECK(mprotect(m + 64 * PS, 128 * PS, PROT_READ | PROT_WRITE) == 0, "mprotect rw");

	/* fork: the child sees everything, writes privately. */
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		size_t b = bad(m + 64 * PS, h - 64, 1 + 64) + bad(t, tail, 1 + h + 16) +
			   bad(t + tail * PS, tail, 77);
		fill(m + 64 * PS, h - 64, 999);
		b += bad(m + 64 * PS, h - 64, 999);
		_exit(b ? 3 : 0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child read-back");
	CHECK(bad(m + 64 * PS, h - 64, 1 + 64) == 0, "parent unchanged by child");
	CHECK(bad(t + tail * PS, tail, 77) == 0, "final read-back");
	printf("mmapper: %zu pages ok\n", pages);
	return 0;
}
