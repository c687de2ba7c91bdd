/*
 * holder: a program that keeps memory for a viewer to look at.  It
 * allocates MALLOC_MB MiB through malloc (jemalloc's arenas under the
 * shim) and MMAP_MB MiB through its own anonymous mmap, writes every page
 * with compressible text (a budget smaller than that makes the shim
 * compress some), leaves UNTOUCHED_MB MiB of a further mapping untouched
 * (the lazy set), prints "holder: ready" and sleeps until killed.  The
 * `faultline vmmap` tests compare what it shows with /proc/PID/smaps.
 *
 * usage: holder [MALLOC_MB [MMAP_MB [UNTOUCHED_MB]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096

/* Text-like contents, different in every page, that LZ4 shrinks. */
static void fill(unsigned char *p, size_t bytes)
{
	static const char words[] = "region page fault budget store arena ";
	for (size_t off = 0; off < bytes; off += PG) {
		for (size_t i = 0; i < PG; i++)
			p[off + i] = (unsigned char)words[(i + off / PG) % (sizeof words - 1)];
		memcpy(p + off, &off, sizeof off);
	}
}

int main(int argc, char **argv)
{
	long malloc_mb = argc > 1 ? atol(argv[1]) : 4;
	long mmap_mb = argc > 2 ? atol(argv[2]) : 4;
	long lazy_mb = argc > 3 ? atol(argv[3]) : 4;
	if (malloc_mb < 0 || mmap_mb < 0 || lazy_mb < 0) {
		fprintf(stderr, "usage: holder [MALLOC_MB [MMAP_MB [UNTOUCHED_MB]]]\n");
		return 2;
	}
	/* Many blocks, as a program would have, not one huge allocation. */
	size_t block = 64 * 1024, nblocks = (size_t)malloc_mb * 16;
	for (size_t i = 0; i < nblocks; i++) {
		unsigned char *b = malloc(block);
		if (!b) {
			perror("holder: malloc");
			return 1;
		}
		fill(b, block);
	}
	if (mmap_mb > 0) {
		unsigned char *m = mmap(NULL, (size_t)mmap_mb << 20, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			perror("holder: mmap");
			return 1;
		}
		fill(m, (size_t)mmap_mb << 20);
	}
	if (lazy_mb > 0 && mmap(NULL, (size_t)lazy_mb << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0) == MAP_FAILED) {
		perror("holder: mmap");
		return 1;
	}
	printf("holder: ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
