/*
 * forkcost: what one fork costs a process whose memory is half out of
 * RAM.  It maps SIZE MiB, fills every page with compressible text, then
 * forks once: the parent times fork() (until it returns in the parent),
 * the child reads one byte in 64 of every page and exits, and the parent
 * times the child's whole life.  Run plainly inside a memory cgroup that
 * swaps to zram, or under `faultline run --budget`: bench/fork.py runs
 * both and reads the cgroup's peak usage around them.
 *
 * Prints one line: fork_ms=... child_ms=... parent_hwm_kib=... ok=1
 * (ok=0 when a page read back wrong on either side).
 *
 * forkcost --rewrite SIZE_MIB: what copy-on-write costs instead.  After
 * the fork the child waits while the parent writes one byte to every page
 * (each write a copy, the page being shared), then the child checks its
 * pages and exits.  Prints: rewrite_us_per_page=... ok=1
 *
 * forkcost --spawn SIZE_MIB: what a fork that execs costs instead: 50
 * times, fork, exec /bin/true in the child and wait for it.  Prints:
 * spawn_ms_each=... ok=1
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG 4096

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Text-like: words from a small vocabulary, the page's index in front. */
static void fill(unsigned char *p, size_t page)
{
	static const char *words[] = {"page ", "fault ", "store ", "budget ", "fork ", "copy ",
				      "write ", "kernel ", "handler ", "region "};
	int n = snprintf((char *)p, PG, "%zu:", page);
	uint32_t x = (uint32_t)page * 2654435761u + 1;
	while (n < PG) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		const char *w = words[x % 10];
		size_t l = strlen(w);
		if (l > (size_t)(PG - n))
			l = (size_t)(PG - n);
		memcpy(p + n, w, l);
		n += (int)l;
	}
}

/* Does the page still start with its index? */
static int page_ok(const unsigned char *p, size_t page)
{
	char want[32];
	int n = snprintf(want, sizeof want, "%zu:", page);
	return memcmp(p, want, (size_t)n) == 0;
}

static long hwm_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmHWM:", 6))
			v = atol(line + 6);
	if (f)
		fclose(f);
	return v;
}

/* After the fork, the parent writes a byte to every page while the child
 * waits on a pipe, so that every write is a copy-on-write break. */
static int rewrite(unsigned char *m, size_t pages)
{
	int gate[2];
	if (pipe(gate) != 0) {
		perror("forkcost: pipe");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("forkcost: fork");
		return 2;
	}
	if (pid == 0) {
		char c;
		close(gate[1]);
		while (read(gate[0], &c, 1) > 0)
			;
		size_t bad = 0;
		for (size_t i = 0; i < pages; i += 64)
			bad += !page_ok(m + i * PG, i);
		_exit(bad ? 3 : 0);
	}
	close(gate[0]);
	double t0 = now_ms();
	for (size_t i = 0; i < pages; i++)
		m[i * PG + PG - 1] ^= 1;
	double t1 = now_ms();
	close(gate[1]);
	int st = 0;
	waitpid(pid, &st, 0);
	int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	printf("rewrite_us_per_page=%.3f ok=%d\n", (t1 - t0) * 1000.0 / (double)pages, ok);
	return ok ? 0 : 1;
}

/* fork + exec of /bin/true, SPAWNS times, each waited for. */
#define SPAWNS 50
static int spawn(void)
{
	double t0 = now_ms();
	int ok = 1;
	for (int k = 0; k < SPAWNS; k++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("forkcost: fork");
			return 2;
		}
		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		int st = 0;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			ok = 0;
	}
	printf("spawn_ms_each=%.3f ok=%d\n", (now_ms() - t0) / SPAWNS, ok);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rw = argc > 1 && !strcmp(argv[1], "--rewrite");
	int sp = argc > 1 && !strcmp(argv[1], "--spawn");
	if (rw || sp) {
		argv++;
		argc--;
	}
	long mib = argc > 1 ? atol(argv[1]) : 512;
	if (mib < 1 || argc > 2) {
		fprintf(stderr, "usage: forkcost [--rewrite | --spawn] [SIZE_MIB]\n");
		return 2;
	}
	size_t pages = (size_t)mib * 256;
	unsigned char *m = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("forkcost: mmap");
		return 2;
	}
	for (size_t i = 0; i < pages; i++)
		fill(m + i * PG, i);
	fflush(stdout);
	if (rw)
		return rewrite(m, pages);
	if (sp)
		return spawn();
	double t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		perror("forkcost: fork");
		return 2;
	}
	if (pid == 0) {
		size_t bad = 0;
		for (size_t i = 0; i < pages; i += 64)
			bad += !page_ok(m + i * PG, i);
		_exit(bad ? 3 : 0);
	}
	double t1 = now_ms();
	int st = 0;
	waitpid(pid, &st, 0);
	double t2 = now_ms();
	size_t bad = 0;
	for (size_t i = 0; i < pages; i += 64)
		bad += !page_ok(m + i * PG, i);
	int ok = !bad && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	printf("fork_ms=%.2f child_ms=%.2f parent_hwm_kib=%ld ok=%d\n", t1 - t0, t2 - t0, hwm_kib(), ok);
	return ok ? 0 : 1;
}
