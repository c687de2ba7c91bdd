/*
 * snapper: snapshots through the preloaded shim, as a program would use
 * them.  It maps PAGES pages, fills them, takes a snapshot with the
 * shim's fl_snapshot_take (found with dlsym: the program is not linked
 * against faultline), rewrites every page, checks that the snapshot still
 * reads the old contents, restores, checks again and drops.  Prints
 * "snapper: N pages ok" or what went wrong; exit 0 only when all held.
 * Without the shim (or another engine than uffd) it says so and exits 3.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096

struct fl_snapshot;
typedef struct fl_snapshot *(*take_fn)(void *, size_t);
typedef int (*read_fn)(struct fl_snapshot *, const void *, void *);
typedef int (*restore_fn)(struct fl_snapshot *);
typedef void (*drop_fn)(struct fl_snapshot *);

static void fill(unsigned char *p, size_t page, unsigned gen)
{
	uint64_t x = page * 0x9e3779b97f4a7c15ull + gen;
	for (size_t i = 0; i < PG; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* compressible: only the low half of each word varies */
		uint64_t w = x & 0xffffffffu;
		memcpy(p + i, &w, 8);
	}
}

static size_t wrong(unsigned char *m, size_t pages, unsigned gen)
{
	unsigned char exp[PG];
	size_t bad = 0;
	for (size_t i = 0; i < pages; i++) {
		fill(exp, i, gen);
		bad += memcmp(m + i * PG, exp, PG) != 0;
	}
	return bad;
}

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? (size_t)atol(argv[1]) : 2048;
	take_fn take = (take_fn)dlsym(RTLD_DEFAULT, "fl_snapshot_take");
	read_fn rd = (read_fn)dlsym(RTLD_DEFAULT, "fl_snapshot_read");
	restore_fn restore = (restore_fn)dlsym(RTLD_DEFAULT, "fl_snapshot_restore");
	drop_fn drop = (drop_fn)dlsym(RTLD_DEFAULT, "fl_snapshot_drop");
	if (!take || !rd || !restore || !drop) {
		printf("snapper: no faultline shim loaded\n");
		return 3;
	}
	unsigned char *m = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("snapper: mmap");
		return 2;
	}
	for (size_t i = 0; i < pages; i++)
		fill(m + i * PG, i, 1);
	struct fl_snapshot *s = take(m, pages * PG);
	if (!s) {
		printf("snapper: fl_snapshot_take: %s\n", strerror(errno));
		return 3;
	}
	for (size_t i = 0; i < pages; i++)
		fill(m + i * PG, i, 2);
	size_t bad_now = wrong(m, pages, 2), bad_snap = 0;
	unsigned char got[PG], exp[PG];
	for (size_t i = 0; i < pages; i++) {
		fill(exp, i, 1);
		if (rd(s, m + i * PG, got) != 0 || memcmp(got, exp, PG) != 0)
			bad_snap++;
	}
	int rrc = restore(s);
	size_t bad_restored = wrong(m, pages, 1);
	drop(s);
	for (size_t i = 0; i < pages; i++)
		fill(m + i * PG, i, 3);
	size_t bad_after = wrong(m, pages, 3);
	if (bad_now || bad_snap || rrc || bad_restored || bad_after) {
		printf("snapper: wrong pages: %zu rewritten, %zu in the snapshot, %zu restored (restore %d), "
		       "%zu after drop\n", bad_now, bad_snap, bad_restored, rrc, bad_after);
		return 1;
	}
	printf("snapper: %zu pages ok\n", pages);
	return 0;
}
