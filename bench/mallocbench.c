/*
 * mallocbench: a multithreaded malloc benchmark, a plain program (it uses
 * nothing of faultline's) so that bench/preload.sh can run it with glibc's
 * malloc and under the shim (jemalloc inside, every extent managed).
 * THREADS threads each keep SLOTS live blocks and replace a random one per
 * operation: sizes mostly small (16..512 bytes), some medium (to 32 KiB),
 * a few large (to 256 KiB); each new block has its first and last bytes
 * written and checked on free, so the memory is really touched.  A tenth
 * of the frees happen on another thread (a hand-off ring), as in
 * producer/consumer programs.  Prints "mallocbench: T threads, N ops,
 * S s, R Mops/s".
 *
 * usage: mallocbench [THREADS] [OPS_PER_THREAD] [SLOTS]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 1024

static int nthreads = 4;
static long ops = 2000000;
static int nslots = 4096;
static long bad;

/* Blocks handed to the next thread, which frees them. */
struct ring {
	pthread_mutex_t mu;
	void *item[RING];
	unsigned head, tail;
};
static struct ring *rings;

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t pick(uint64_t *s)
{
	uint64_t r = next(s) % 1000;
	if (r < 900)
		return 16 + next(s) % 497;
	if (r < 995)
		return 512 + next(s) % (32 << 10);
	return (32 << 10) + next(s) % (224 << 10);
}

static void *block_new(size_t n)
{
	unsigned char *p = malloc(n);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof n);
	p[n - 1] = (unsigned char)n;
	return p;
}

static void block_free(void *v)
{
	unsigned char *p = v;
	size_t n;
	memcpy(&n, p, sizeof n);
	if (p[n - 1] != (unsigned char)n)
		__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
	free(p);
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
	void **slot = calloc((size_t)nslots, sizeof *slot);
	struct ring *mine = &rings[id], *to = &rings[(id + 1) % nthreads];
	for (long i = 0; i < ops; i++) {
		int k = (int)(next(&s) % (uint64_t)nslots);
		if (slot[k]) {
			int handed = 0;
			if (nthreads > 1 && next(&s) % 10 == 0) {
				pthread_mutex_lock(&to->mu);
				if (to->head - to->tail < RING) {
					to->item[to->head++ % RING] = slot[k];
					handed = 1;
				}
				pthread_mutex_unlock(&to->mu);
			}
			if (!handed)
				block_free(slot[k]);
		}
		slot[k] = block_new(pick(&s));
		if ((i & 255) == 0) {
			pthread_mutex_lock(&mine->mu);
			while (mine->tail != mine->head)
				block_free(mine->item[mine->tail++ % RING]);
			pthread_mutex_unlock(&mine->mu);
		}
	}
	for (int k = 0; k < nslots; k++)
		if (slot[k])
			block_free(slot[k]);
	free(slot);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		nthreads = atoi(argv[1]);
	if (argc > 2)
		ops = atol(argv[2]);
	if (argc > 3)
		nslots = atoi(argv[3]);
	if (nthreads < 1 || nthreads > 256 || ops < 1 || nslots < 1) {
		fprintf(stderr, "usage: mallocbench [THREADS 1..256] [OPS_PER_THREAD] [SLOTS]\n");
		return 2;
	}
	rings = calloc((size_t)nthreads, sizeof *rings);
	pthread_t *t = calloc((size_t)nthreads, sizeof *t);
	if (!rings || !t)
		return 3;
	for (int i = 0; i < nthreads; i++)
		pthread_mutex_init(&rings[i].mu, NULL);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	for (int i = 0; i < nthreads; i++)
		while (rings[i].tail != rings[i].head)
			block_free(rings[i].item[rings[i].tail++ % RING]);
	double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("mallocbench: %d threads, %ld ops, %.3f s, %.2f Mops/s\n", nthreads, ops * nthreads, secs,
	       (double)ops * nthreads / secs / 1e6);
	if (bad)
		fprintf(stderr, "mallocbench: %ld blocks with wrong bytes\n", bad);
	return bad ? 1 : 0;
}
