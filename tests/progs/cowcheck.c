/*
 * cowcheck: copy-on-write after fork, checked byte for byte.  It maps
 * PAGES pages and fills each with a pattern of its index, then forks
 * CHILDREN children.  Each child first makes one call into the pager (a
 * page mapped and unmapped: a forked child's shim re-arms there), then
 * rewrites every second page of the first half in child_writes() and
 * checks every page; the parent rewrites every third page in
 * parent_writes() (the first by read(2) from a pipe, unless --user-only:
 * under the engines where a system call into an evicted page fails with
 * EFAULT), waits for the children and checks its own view.  The tests
 * that count each side's copies need to know what was still shared when:
 * with --parent-last the parent waits for its children before it writes,
 * with --parent-first the children wait until the parent has written.
 * With --orphan DIR the parent writes and exits without waiting; each
 * child waits until the parent is gone (EOF on a pipe only the parent
 * holds open), then writes, checks and reports in
 * DIR/child-N (its output line; the file appears whole, by rename); with
 * --hang too the parent puts its pid in DIR/parent and waits to be killed.  Exit
 * status 0 when every byte read is what that process wrote or inherited.
 * Prints the pages each side wrote, for the tests that count their COW
 * faults.
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

static uint64_t word(long page, size_t w, uint64_t who)
{
	uint64_t x = ((uint64_t)page << 20) ^ (w * 0x9e3779b97f4a7c15ull) ^ (who << 56);
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static void fill(uint64_t *p, long page, uint64_t who)
{
	for (size_t w = 0; w < WORDS; w++)
		p[w] = word(page, w, who);
}

/* Pages that differ from what this process should see: 0 when all is right. */
static long check(unsigned char *base, long pages, uint64_t (*who)(long))
{
	long bad = 0;
	for (long i = 0; i < pages; i++) {
		const uint64_t *p = (const uint64_t *)(base + i * PG);
		uint64_t o = who(i);
		for (size_t w = 0; w < WORDS; w++)
			if (p[w] != word(i, w, o)) {
				bad++;
				break;
			}
	}
	return bad;
}

static long npages;
static int user_only, parent_last, parent_first;
static const char *orphan_dir;
static int hang;

static uint64_t parent_view(long i) { return i % 3 == 0 ? 1 : 0; }
static uint64_t child_view(long i) { return i < npages / 2 && i % 2 == 0 ? 2 : 0; }

/* Page 0 is written by the kernel (read(2) from a pipe): a kernel-mode
 * write to a page shared since fork must wait for the pager, not fail. */
static int kernel_write_page0(unsigned char *base)
{
	static uint64_t buf[WORDS];
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	fill(buf, 0, 1);
	int ok = write(fds[1], buf, PG) == PG && read(fds[0], base, PG) == PG;
	close(fds[0]);
	close(fds[1]);
	return ok ? 0 : -1;
}

__attribute__((noinline)) static long parent_writes(unsigned char *base, long pages)
{
	if (user_only)
		fill((uint64_t *)base, 0, 1);
	else if (kernel_write_page0(base) != 0) {
		perror("cowcheck: read(2) into page 0");
		return -1;
	}
	long n = 1;
	for (long i = 3; i < pages; i += 3, n++)
		fill((uint64_t *)(base + i * PG), i, 1);
	return n;
}

__attribute__((noinline)) static long child_writes(unsigned char *base, long pages)
{
	long n = 0;
	for (long i = 0; i < pages / 2; i += 2, n++)
		fill((uint64_t *)(base + i * PG), i, 2);
	return n;
}

/* --orphan: a line in DIR/NAME, which appears once it is complete. */
static void report(const char *name, const char *line)
{
	char tmp[4200], path[4200];
	snprintf(tmp, sizeof tmp, "%s/.%s", orphan_dir, name);
	snprintf(path, sizeof path, "%s/%s", orphan_dir, name);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fputs(line, f);
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void report_orphan(int c, long n, long bad)
{
	char name[32], line[128];
	snprintf(name, sizeof name, "child-%d", c);
	snprintf(line, sizeof line, "cowcheck: orphan wrote %ld pages, %ld wrong\n", n, bad);
	report(name, line);
}

int main(int argc, char **argv)
{
	long pages = argc > 1 ? atol(argv[1]) : 4000;
	int children = argc > 2 ? atoi(argv[2]) : 1;
	int bad_arg = 0;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--user-only"))
			user_only = 1;
		else if (!strcmp(argv[i], "--parent-last"))
			parent_last = 1;
		else if (!strcmp(argv[i], "--parent-first"))
			parent_first = 1;
		else if (!strcmp(argv[i], "--orphan") && i + 1 < argc)
			orphan_dir = argv[++i];
		else if (!strcmp(argv[i], "--hang"))
			hang = 1;
		else
			bad_arg = 1;
	}
	if (pages < 2 || children < 0 || children > 64 || bad_arg ||
	    parent_last + parent_first + (orphan_dir != NULL) > 1) {
		fprintf(stderr, "usage: cowcheck [PAGES >= 2] [CHILDREN 0..64] [--user-only] "
				"[--parent-last | --parent-first | --orphan DIR]\n");
		return 2;
	}
	npages = pages;
	unsigned char *base = mmap(NULL, (size_t)pages * PG, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		perror("cowcheck: mmap");
		return 2;
	}
	for (long i = 0; i < pages; i++)
		fill((uint64_t *)(base + i * PG), i, 0);
	fflush(stdout);
	/* --parent-first: EOF once the parent has written; --orphan: once
	 * the parent is gone (its end closes when it exits or is killed). */
	int gate[2] = {-1, -1};
	if ((parent_first || orphan_dir) && pipe(gate) != 0) {
		perror("cowcheck: pipe");
		return 2;
	}
	pid_t kids[64], me = getpid();
	for (int c = 0; c < children; c++) {
		kids[c] = fork();
		if (kids[c] < 0) {
			perror("cowcheck: fork");
			return 2;
		}
		if (kids[c] == 0) {
			void *t = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (t != MAP_FAILED)
				munmap(t, PG);
			if (gate[1] >= 0) {
				char c;
				close(gate[1]);
				while (read(gate[0], &c, 1) > 0)
					;
			}
			long n = child_writes(base, pages);
			long bad = check(base, pages, child_view);
			if (orphan_dir)
				report_orphan(c, n, bad);
			printf("cowcheck: child wrote %ld pages, %ld wrong\n", n, bad);
			fflush(stdout);
			_exit(bad ? 3 : 0);
		}
	}
	long n = parent_last ? 0 : parent_writes(base, pages);
	if (parent_first)
		close(gate[1]);
	int ok = 1;
	for (int c = 0; c < children && !orphan_dir; c++) {
		int st = 0;
		if (waitpid(kids[c], &st, 0) != kids[c] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			ok = 0;
	}
	if (parent_last)
		n = parent_writes(base, pages);
	ok = ok && n > 0;
	long bad = check(base, pages, parent_view);
	printf("cowcheck: %ld pages, %d children, parent wrote %ld pages, %ld wrong, %s\n", pages,
	       children, n, bad, ok && !bad ? "ok" : "BAD");
	fflush(stdout);
	if (orphan_dir && hang) {
		char line[32];
		snprintf(line, sizeof line, "%d\n", (int)me);
		report("parent", line);
		for (;;)
			pause();
	}
	return ok && !bad ? 0 : 1;
}
