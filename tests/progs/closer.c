/*
 * A test program that closes descriptors every way programs do (a loop of
 * close, close_range, closefrom, dup2 over everything) while half its
 * memory is evicted, then checks every byte.  Under the shim, losing the
 * userfaultfd would make evicted pages read as zeros.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PS 4096u

static size_t check(const unsigned char *m, size_t pages, unsigned salt)
{
	size_t bad = 0;
	for (size_t i = 0; i < pages; i++)
		for (size_t k = 0; k < PS; k += 256)
			bad += m[i * PS + k] != (unsigned char)(i * 31 + k + salt);
	return bad;
}

static void fill(unsigned char *m, size_t pages, unsigned salt)
{
	for (size_t i = 0; i < pages; i++)
		for (size_t k = 0; k < PS; k++)
			m[i * PS + k] = (unsigned char)(i * 31 + (k & ~255u) + salt);
}

int main(void)
{
	size_t pages = 4096; /* 16 MiB */
	unsigned char *m = mmap(NULL, pages * PS, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	fill(m, pages, 1);
	for (int fd = 3; fd < 4096; fd++)
		close(fd);
	size_t bad = check(m, pages, 1);
	fill(m, pages, 2);
	close_range(3, ~0U, 0);
	bad += check(m, pages, 2);
	fill(m, pages, 3);
	closefrom(3);
	bad += check(m, pages, 3);
	fill(m, pages, 4);
	for (int fd = 3; fd < 4096; fd++)
		dup2(2, fd);
	closefrom(3);
	bad += check(m, pages, 4);
	printf("closer: %zu bad\n", bad);
	return bad ? 1 : 0;
}
