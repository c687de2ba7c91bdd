/*
 * mstress: a plain program for the shim to run (no faultline headers).
 * THREADS threads malloc, realloc and free blocks whose contents are a
 * function of a per-block seed, verify every block they touch, and now
 * and then map an anonymous region themselves to exercise mremap (grow,
 * move, shrink) and madvise(MADV_DONTNEED).  Twice, at a barrier, the
 * main thread forks: the child verifies every block of every thread while
 * the parent's threads carry on, then allocates and frees on its own, and
 * reports by exit status.  Prints "mstress: N ops, M bad" and exits 0
 * only when M is 0 and every child found nothing wrong.
 *
 * usage: mstress [THREADS] [OPS_PER_THREAD] [SLOTS_PER_THREAD]
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_THREADS 64
#define PAGE 4096

struct block {
	unsigned char *p;
	size_t size;
	uint64_t seed;
};

struct worker {
	pthread_t t;
	int id;
	uint64_t rng;
	struct block *slots;
	unsigned long ops, bad;
};

static int nthreads = 8;
static long ops_per_thread = 10000;
static int nslots = 256;
static struct worker workers[MAX_THREADS];
static pthread_barrier_t stop_all, go_all;
static long fork_at[2];

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rnd(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

/* Bytes [from, to) of a block with this seed. */
static void fill(unsigned char *p, size_t from, size_t to, uint64_t seed)
{
	for (size_t i = from; i < to;) {
		uint64_t v = mix(seed ^ (i / 8));
		unsigned char *b = (unsigned char *)&v;
		for (size_t k = i % 8; k < 8 && i < to; k++, i++)
			p[i] = b[k];
	}
}

static size_t wrong(const unsigned char *p, size_t from, size_t to, uint64_t seed)
{
	size_t bad = 0;
	for (size_t i = from; i < to;) {
		uint64_t v = mix(seed ^ (i / 8));
		const unsigned char *b = (const unsigned char *)&v;
		for (size_t k = i % 8; k < 8 && i < to; k++, i++)
			bad += p[i] != b[k];
	}
	return bad;
}

/* Count a failed expectation, and say what it was the first few times. */
#define EXPECT(w, cond, what)                                                                \
	do {                                                                                 \
		if (!(cond) && (w)->bad++ < 5)                                               \
			fprintf(stderr, "mstress: thread %d: %s\n", (w)->id, what);           \
	} while (0)

static int zero(const unsigned char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (p[i])
			return 0;
	return 1;
}

static size_t pick_size(struct worker *w)
{
	uint64_t r = rnd(w) % 100;
	if (r < 70)
		return 1 + rnd(w) % 512;
	if (r < 95)
		return 512 + rnd(w) % 32768;
	return 32768 + rnd(w) % (256 << 10);
}

static void check(struct worker *w, struct block *b)
{
	if (b->p && wrong(b->p, 0, b->size, b->seed)) {
		if (w->bad++ < 5)
			fprintf(stderr, "mstress: thread %d: block of %zu bytes at %p is wrong\n", w->id, b->size,
				(void *)b->p);
	}
}

/* A mapping of our own: fill, grow (maybe moving), shrink, drop a part. */
static void mapping_case(struct worker *w)
{
	size_t pages = 16 + rnd(w) % 240;
	uint64_t seed = rnd(w);
	unsigned char *m = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(w, m != MAP_FAILED, "mmap failed");
	if (m == MAP_FAILED)
		return;
	fill(m, 0, pages * PAGE, seed);
	size_t grown = pages * 2;
	unsigned char *g = mremap(m, pages * PAGE, grown * PAGE, MREMAP_MAYMOVE);
	EXPECT(w, g != MAP_FAILED, "mremap (grow) failed");
	if (g == MAP_FAILED) {
		munmap(m, pages * PAGE);
		return;
	}
	EXPECT(w, !wrong(g, 0, pages * PAGE, seed), "mremap (grow) lost bytes");
	EXPECT(w, zero(g, pages * PAGE, grown * PAGE), "mremap (grow): the new part is not zero");
	fill(g, pages * PAGE, grown * PAGE, seed);
	/* Drop a middle quarter: it reads zero, the rest is kept. */
	size_t q0 = grown / 4, q1 = grown / 2;
	EXPECT(w, madvise(g + q0 * PAGE, (q1 - q0) * PAGE, MADV_DONTNEED) == 0, "madvise failed");
	EXPECT(w, zero(g, q0 * PAGE, q1 * PAGE), "MADV_DONTNEED: the dropped part is not zero");
	EXPECT(w, !wrong(g, 0, q0 * PAGE, seed), "MADV_DONTNEED: bytes before the dropped part changed");
	EXPECT(w, !wrong(g, q1 * PAGE, grown * PAGE, seed), "MADV_DONTNEED: bytes after the dropped part changed");
	/* Shrink, and the head is still there. */
	unsigned char *s = mremap(g, grown * PAGE, q0 * PAGE, 0);
	if (s != g && w->bad++ < 5)
		fprintf(stderr, "mstress: thread %d: mremap (shrink %zu -> %zu pages) gave %p for %p: %s\n", w->id,
			grown, q0, (void *)s, (void *)g, s == MAP_FAILED ? strerror(errno) : "moved");
	if (s == g)
		EXPECT(w, !wrong(s, 0, q0 * PAGE, seed), "mremap (shrink) lost bytes");
	munmap(g, (s == g ? q0 : grown) * PAGE);
	w->ops++;
}

static void step(struct worker *w)
{
	struct block *b = &w->slots[rnd(w) % (uint64_t)nslots];
	uint64_t op = rnd(w) % 100;
	if (!b->p) {
		b->size = pick_size(w);
		b->seed = rnd(w);
		b->p = op < 20 ? calloc(1, b->size) : malloc(b->size);
		EXPECT(w, b->p != NULL, "malloc failed");
		if (!b->p)
			return;
		if (op < 20)
			EXPECT(w, zero(b->p, 0, b->size), "calloc returned bytes that are not zero");
		fill(b->p, 0, b->size, b->seed);
	} else if (op < 40) {
		check(w, b);
		free(b->p);
		b->p = NULL;
	} else if (op < 75) {
		/* realloc keeps the common prefix. */
		size_t ns = pick_size(w);
		unsigned char *q = realloc(b->p, ns);
		EXPECT(w, q != NULL, "realloc failed");
		if (!q)
			return;
		size_t keep = ns < b->size ? ns : b->size;
		if (wrong(q, 0, keep, b->seed) && w->bad++ < 5)
			fprintf(stderr, "mstress: thread %d: realloc lost bytes\n", w->id);
		b->p = q;
		fill(q, keep, ns, b->seed);
		b->size = ns;
	} else if (op < 98) {
		check(w, b);
	} else {
		mapping_case(w);
	}
	w->ops++;
}

static int verify_everything(void)
{
	unsigned long bad = 0;
	for (int t = 0; t < nthreads; t++)
		for (int s = 0; s < nslots; s++) {
			struct block *b = &workers[t].slots[s];
			if (b->p && wrong(b->p, 0, b->size, b->seed))
				bad++;
		}
	return bad ? 1 : 0;
}

/* In a forked child: the others' blocks are as they were at the fork. */
static void child_work(void)
{
	int rc = verify_everything();
	/* The child's allocator works too: churn, then verify again. */
	struct worker me = {.id = 99, .rng = 0x1234567ull};
	me.slots = calloc((size_t)nslots, sizeof *me.slots);
	if (!me.slots)
		_exit(3);
	for (int i = 0; i < 3000; i++)
		step(&me);
	for (int s = 0; s < nslots; s++)
		check(&me, &me.slots[s]);
	rc |= verify_everything();
	fflush(stderr);
	_exit(rc || me.bad ? 1 : 0);
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	for (long i = 0; i < ops_per_thread; i++) {
		if (i == fork_at[0] || i == fork_at[1]) {
			/* Everyone stops (consistent blocks), the main thread
			 * forks, everyone goes on. */
			pthread_barrier_wait(&stop_all);
			pthread_barrier_wait(&go_all);
		}
		step(w);
	}
	for (int s = 0; s < nslots; s++)
		check(w, &w->slots[s]);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		nthreads = atoi(argv[1]);
	if (argc > 2)
		ops_per_thread = atol(argv[2]);
	if (argc > 3)
		nslots = atoi(argv[3]);
	if (nthreads < 1 || nthreads > MAX_THREADS || ops_per_thread < 10 || nslots < 1) {
		fprintf(stderr, "usage: mstress [THREADS 1..%d] [OPS >= 10] [SLOTS >= 1]\n", MAX_THREADS);
		return 2;
	}
	fork_at[0] = ops_per_thread / 3;
	fork_at[1] = 2 * ops_per_thread / 3;
	pthread_barrier_init(&stop_all, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&go_all, NULL, (unsigned)nthreads + 1);
	for (int t = 0; t < nthreads; t++) {
		workers[t].id = t;
		workers[t].rng = mix((uint64_t)t + 1);
		workers[t].slots = calloc((size_t)nslots, sizeof(struct block));
		if (!workers[t].slots)
			return 3;
	}
	for (int t = 0; t < nthreads; t++)
		pthread_create(&workers[t].t, NULL, thread_main, &workers[t]);
	pid_t kids[2];
	for (int f = 0; f < 2; f++) {
		pthread_barrier_wait(&stop_all);
		kids[f] = fork();
		if (kids[f] == 0)
			child_work();
		pthread_barrier_wait(&go_all);
	}
	unsigned long ops = 0, bad = 0;
	for (int t = 0; t < nthreads; t++) {
		pthread_join(workers[t].t, NULL);
		ops += workers[t].ops;
		bad += workers[t].bad;
	}
	int kids_bad = 0;
	for (int f = 0; f < 2; f++) {
		int st = 0;
		if (kids[f] < 0 || waitpid(kids[f], &st, 0) != kids[f] || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "mstress: child %d found wrong bytes (status %#x)\n", f, st);
			kids_bad++;
		}
	}
	for (int t = 0; t < nthreads; t++) {
		for (int s = 0; s < nslots; s++)
			free(workers[t].slots[s].p);
		free(workers[t].slots);
	}
	printf("mstress: %lu ops, %lu bad, %d bad children\n", ops, bad, kids_bad);
	return bad || kids_bad ? 1 : 0;
}
