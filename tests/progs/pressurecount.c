/*
 * pressurecount: how often the pressure level changes while a program
 * stays over its budget.  It subscribes (dlsym, as pressurer does), maps
 * PAGES pages and writes 512 bytes into random ones for SECONDS, then
 * prints how many changes to each level it heard and the rate:
 *
 *     faultline run --socket none --budget 32M -- build/tests/progs/pressurecount 8704 3
 *
 * A measuring tool for README's figures, not a test: exit 0, or 3 without
 * the shim.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef void (*pressure_fn)(int level, void *arg);

static unsigned heard[3];

static void on_pressure(int level, void *arg)
{
	(void)arg;
	if (level >= 0 && level < 3)
		__atomic_add_fetch(&heard[level], 1, __ATOMIC_RELAXED);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? (size_t)atol(argv[1]) : 8704;
	double secs = argc > 2 ? atof(argv[2]) : 3;
	int (*sub)(pressure_fn, void *) = (int (*)(pressure_fn, void *))dlsym(RTLD_DEFAULT, "fl_pressure_subscribe");
	if (!sub || sub(on_pressure, NULL) != 0) {
		printf("pressurecount: no faultline shim loaded\n");
		return 3;
	}
	unsigned char *m = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 4;
	uint64_t x = 88172645463325252ull, touches = 0;
	double t0 = now();
	while (now() - t0 < secs) {
		for (int k = 0; k < 1000; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memset(m + (x % pages) * 4096, (int)(x >> 56), 512);
			touches++;
		}
	}
	double t = now() - t0;
	unsigned n = __atomic_load_n(&heard[0], __ATOMIC_RELAXED), w = __atomic_load_n(&heard[1], __ATOMIC_RELAXED),
		 c = __atomic_load_n(&heard[2], __ATOMIC_RELAXED);
	printf("pressurecount: %.1f s, %llu writes: heard NORMAL %u, WARN %u, CRITICAL %u (%.1f changes a second)\n", t,
	       (unsigned long long)touches, n, w, c, (n + w + c) / t);
	return 0;
}
