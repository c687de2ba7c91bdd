/*
 * allocsites: a program with a hot and a cold allocation site, for the
 * allocation-site tests.  hot_site() mallocs HOT MiB in 1 MiB blocks,
 * cold_site() mallocs COLD MiB the same way, map_site() maps 1 MiB with
 * mmap.  The cold blocks and the mapping are written once; the hot ones
 * are written, then read ROUNDS more times.  Under a budget smaller than
 * the hot blocks, every round brings each hot page back: the faults are
 * the hot site's, about ROUNDS + 1 to 1 against the cold site's.
 * Usage: allocsites [HOT_MIB COLD_MIB ROUNDS]; prints "sum N" at the end.
 *        allocsites small COUNT KIB: COUNT mallocs of KIB KiB in
 *        small_site(), each written once and kept (for the estimate of a
 *        site of small allocations, a few of which are sampled).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096
#define MIB (1024 * 1024)

__attribute__((noipa)) static unsigned char **hot_site(int n)
{
	unsigned char **v = calloc((size_t)n, sizeof *v);
	for (int i = 0; v && i < n; i++)
		v[i] = malloc(MIB);
	return v;
}

__attribute__((noipa)) static unsigned char **cold_site(int n)
{
	unsigned char **v = calloc((size_t)n, sizeof *v);
	for (int i = 0; v && i < n; i++)
		v[i] = malloc(MIB);
	return v;
}

__attribute__((noipa)) static unsigned char *map_site(void)
{
	void *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

__attribute__((noinline)) static void write_blocks(unsigned char **v, int n)
{
	for (int i = 0; i < n; i++)
		for (size_t o = 0; o < MIB; o += PG)
			v[i][o] = (unsigned char)(i + o / PG + 1);
}

__attribute__((noinline)) static uint64_t read_blocks(unsigned char **v, int n)
{
	uint64_t sum = 0;
	for (int i = 0; i < n; i++)
		for (size_t o = 0; o < MIB; o += PG)
			sum += ((volatile unsigned char *)v[i])[o];
	return sum;
}

/* Not a tail call (its frame would be gone from the stack). */
__attribute__((noipa)) static unsigned char *small_site(size_t n)
{
	unsigned char *p = malloc(n);
	if (p)
		p[0] = 1;
	return p;
}

static int small(int count, int kib)
{
	size_t n = (size_t)kib * 1024;
	uint64_t sum = 0;
	for (int i = 0; i < count; i++) {
		unsigned char *p = small_site(n);
		if (!p)
			return 1;
		for (size_t o = 0; o < n; o += PG)
			p[o] = (unsigned char)i;
		sum += p[0];
	}
	printf("sum %llu\n", (unsigned long long)sum);
	fflush(stdout); /* before exit: a test waits for it to know the work is done */
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "small"))
		return small(atoi(argv[2]), atoi(argv[3]));
	int hot = argc > 3 ? atoi(argv[1]) : 8, cold = argc > 3 ? atoi(argv[2]) : 8;
	int rounds = argc > 3 ? atoi(argv[3]) : 6;
	unsigned char **h = hot_site(hot), **c = cold_site(cold), *m = map_site();
	if (!h || !c || !m) {
		fprintf(stderr, "allocsites: out of memory\n");
		return 1;
	}
	for (int i = 0; i < hot; i++)
		if (!h[i])
			return 1;
	for (int i = 0; i < cold; i++)
		if (!c[i])
			return 1;
	write_blocks(c, cold);
	memset(m, 1, MIB);
	write_blocks(h, hot);
	uint64_t sum = 0;
	for (int r = 0; r < rounds; r++)
		sum += read_blocks(h, hot);
	sum += read_blocks(c, cold);
	printf("sum %llu\n", (unsigned long long)sum);
	for (int i = 0; i < hot; i++)
		free(h[i]);
	free(h);
	munmap(m, MIB);
	/* The cold blocks stay: live at the end. */
	return 0;
}
