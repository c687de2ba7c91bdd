/*
 * Unit tests for the spill file under the store (preload/spill.c through
 * store.c's fl_store_spill and fl_store_get_many): the file is opened
 * O_DIRECT where its file system takes O_DIRECT and buffered where it
 * does not, payloads spilled together come back with one read, payloads
 * far apart each with their own, and freed space goes back to the file
 * system a chunk at a time.  Every page is compared byte for byte.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spill.h"
#include "store.h"
#include "sys.h"

#define PG FL_PAGE_SIZE
#define BATCH 32u

/* Half random, half a repeated word: compresses to about half a page, so
 * payloads straddle block boundaries in the file. */
static void fill(unsigned char *page, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < PG; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t v = i < PG / 2 ? x : seed;
		memcpy(page + i, &v, 8);
	}
}

struct rig {
	char dir[64];
	struct fl_store *st;
	struct fl_store_ctx *ctx;
	unsigned char *buf; /* BATCH pages, page-aligned (mmap) */
};

static void rig_start(struct rig *g, const char *parent)
{
	snprintf(g->dir, sizeof g->dir, "%s/fl-spillfile-XXXXXX", parent);
	cr_assert_not_null(mkdtemp(g->dir), "mkdtemp in %s: %s", parent, strerror(errno));
	struct fl_store_config cfg = {FL_COMP_LZ4, 0, 16u << 20};
	int err = 0;
	g->st = fl_store_create(&cfg, &err);
	cr_assert_not_null(g->st, "fl_store_create: %d", err);
	cr_assert_eq(fl_store_spill_setup(g->st, g->dir, 64u << 20), 0);
	g->ctx = fl_store_ctx_create(g->st);
	cr_assert_not_null(g->ctx);
	g->buf = mmap(NULL, BATCH * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(g->buf, MAP_FAILED);
}

static void rig_stop(struct rig *g)
{
	fl_store_ctx_destroy(g->ctx);
	fl_store_destroy(g->st);
	munmap(g->buf, BATCH * PG);
	cr_expect_eq(rmdir(g->dir), 0, "%s not empty or gone: %s", g->dir, strerror(errno));
}

/* Put n pages (seeds seed0..) and spill them in one batch. */
static void put_and_spill(struct rig *g, struct fl_store_ref *refs, size_t n, uint64_t seed0)
{
	unsigned char page[PG];
	for (size_t i = 0; i < n; i++) {
		fill(page, seed0 + i);
		cr_assert_eq(fl_store_put(g->ctx, page, &refs[i]), 0);
		cr_assert_eq(refs[i].kind, FL_STORE_COMP, "page %zu did not compress", i);
	}
	int e = 0;
	cr_assert_eq(fl_store_spill(g->ctx, refs, n, g->buf, &e), 0, "spill: %s", strerror(e));
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(refs[i].kind, FL_STORE_SPILLED);
}

/* Pages [0, n) of out are the pages of seeds seed0... */
static void expect_pages(const unsigned char *out, size_t n, uint64_t seed0)
{
	unsigned char want[PG];
	for (size_t i = 0; i < n; i++) {
		fill(want, seed0 + i);
		cr_expect_eq(memcmp(out + i * PG, want, PG), 0, "page %zu differs", i);
	}
}

static uint64_t reads(struct rig *g)
{
	struct fl_store_stats s;
	fl_store_stats(g->st, &s);
	return s.spill.reads;
}

/* The spill file's descriptor, found as the one open file named in dir. */
static int spill_fd(const char *dir)
{
	int found = -1;
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], target[300];
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strncmp(target, dir, strlen(dir)) && target[strlen(dir)] == '/')
			found = atoi(e->d_name);
	}
	closedir(d);
	cr_assert_geq(found, 0, "no open file in %s", dir);
	return found;
}

/* Does a file in dir open with O_DIRECT? */
static int dir_takes_o_direct(const char *dir)
{
	char path[128];
	snprintf(path, sizeof path, "%s/probe", dir);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_DIRECT, 0600);
	int ok = fd >= 0;
	if (fd >= 0)
		close(fd);
	else
		cr_assert_eq(errno, EINVAL, "probe open in %s: %s", dir, strerror(errno));
	unlink(path);
	return ok;
}

static void spill_and_read_back(const char *parent)
{
	struct rig g;
	rig_start(&g, parent);
	struct fl_store_ref refs[BATCH];
	put_and_spill(&g, refs, BATCH, 100);

	/* O_DIRECT exactly where the file system allows it. */
	int fd = spill_fd(g.dir);
	int flags = fcntl(fd, F_GETFL);
	cr_assert_geq(flags, 0);
	cr_expect_eq(!!(flags & O_DIRECT), dir_takes_o_direct(g.dir), "O_DIRECT %s in %s",
		     flags & O_DIRECT ? "set" : "not set", parent);

	/* Spilled together: one read brings the whole batch back. */
	unsigned char *out = malloc(BATCH * PG);
	cr_assert_not_null(out);
	uint64_t r0 = reads(&g);
	int err = -1;
	cr_assert_eq(fl_store_get_many(g.ctx, refs, sizeof *refs, BATCH, out, &err), BATCH, "err %d", err);
	cr_expect_eq(err, 0);
	cr_expect_eq(reads(&g) - r0, 1, "%llu reads for one batch", (unsigned long long)(reads(&g) - r0));
	expect_pages(out, BATCH, 100);

	/* One at a time, each on its own (a page in the middle of a batch). */
	memset(out, 0x5a, PG);
	cr_assert_eq(fl_store_get(g.ctx, &refs[BATCH / 2], out), 0);
	expect_pages(out, 1, 100 + BATCH / 2);
	free(out);
	for (size_t i = 0; i < BATCH; i++)
		fl_store_drop(g.st, &refs[i]);
	rig_stop(&g);
}

TestSuite(spillfile);

Test(spillfile, on_disk_reads_a_batch_in_one_read) { spill_and_read_back("/var/tmp"); }
Test(spillfile, on_tmpfs_reads_a_batch_in_one_read) { spill_and_read_back("/dev/shm"); }

/*
 * Pages asked for together whose payloads lie far apart in the file (more
 * than one read can take between them) and interleaved with pages held in
 * memory: each comes back right, with one read per run of near payloads.
 */
Test(spillfile, far_apart_payloads_read_separately)
{
	struct rig g;
	rig_start(&g, "/var/tmp");
	/* Batches 0 and 2 are the ones asked for; batch 1 (not asked for)
	 * lies between them, as do eight more batches of filler, so that
	 * the two are over 256 KiB apart. */
	enum { FILL = 9 };
	struct fl_store_ref a[BATCH], mid[FILL][BATCH], b[BATCH];
	put_and_spill(&g, a, BATCH, 1000);
	for (int k = 0; k < FILL; k++)
		put_and_spill(&g, mid[k], BATCH, 5000 + k * BATCH);
	put_and_spill(&g, b, BATCH, 2000);

	/* Alternate: a page of a, one held in memory, a page of b. */
	struct fl_store_ref want[3 * 8];
	unsigned char page[PG];
	for (int i = 0; i < 8; i++) {
		want[3 * i] = a[i];
		fill(page, 3000 + i);
		cr_assert_eq(fl_store_put(g.ctx, page, &want[3 * i + 1]), 0);
		want[3 * i + 2] = b[i];
	}
	unsigned char *out = malloc(sizeof want / sizeof *want * PG);
	cr_assert_not_null(out);
	uint64_t r0 = reads(&g);
	int err = -1;
	cr_assert_eq(fl_store_get_many(g.ctx, want, sizeof *want, 24, out, &err), 24, "err %d", err);
	for (int i = 0; i < 8; i++) {
		expect_pages(out + (3 * i) * PG, 1, 1000 + i);
		expect_pages(out + (3 * i + 1) * PG, 1, 3000 + i);
		expect_pages(out + (3 * i + 2) * PG, 1, 2000 + i);
	}
	cr_expect_eq(reads(&g) - r0, 2, "%llu reads for two far runs", (unsigned long long)(reads(&g) - r0));
	free(out);
	for (int i = 0; i < 8; i++)
		fl_store_drop(g.st, &want[3 * i + 1]);
	for (size_t i = 0; i < BATCH; i++) {
		fl_store_drop(g.st, &a[i]);
		fl_store_drop(g.st, &b[i]);
		for (int k = 0; k < FILL; k++)
			fl_store_drop(g.st, &mid[k][i]);
	}
	rig_stop(&g);
}

/* A read error on the file: the page is not rebuilt, and says so. */
Test(spillfile, read_error_is_reported)
{
	struct rig g;
	rig_start(&g, "/var/tmp");
	struct fl_store_ref refs[4];
	put_and_spill(&g, refs, 4, 7);
	unsigned char *out = malloc(4 * PG);
	cr_assert_not_null(out);
	fl__sys_fail(FL_SYS_PREAD, 1, 1, EIO, 0);
	int err = 0;
	size_t got = fl_store_get_many(g.ctx, refs, sizeof *refs, 4, out, &err);
	fl__sys_fail_reset();
	cr_expect_eq(got, 0);
	cr_expect_eq(err, FL_STORE_ESPILL);
	/* The file is fine again: everything reads back. */
	cr_assert_eq(fl_store_get_many(g.ctx, refs, sizeof *refs, 4, out, &err), 4, "err %d", err);
	expect_pages(out, 4, 7);
	free(out);
	for (size_t i = 0; i < 4; i++)
		fl_store_drop(g.st, &refs[i]);
	rig_stop(&g);
}

/* A payload overwritten in the file behind the store's back: its page is
 * refused as corrupt (never handed out wrong); the others read back. */
Test(spillfile, corrupt_payload_is_refused)
{
	struct rig g;
	rig_start(&g, "/var/tmp");
	struct fl_store_ref refs[BATCH];
	put_and_spill(&g, refs, BATCH, 40);
	/* A second description of the file (without O_DIRECT). */
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", spill_fd(g.dir));
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0, "reopen %s: %s", path, strerror(errno));
	uint64_t off = fl_spill_loc_off(refs[0].val);
	unsigned char zero[256] = {0};
	cr_assert_eq(pwrite(fd, zero, sizeof zero, (off_t)off), (ssize_t)sizeof zero);
	close(fd);
	unsigned char *out = malloc(BATCH * PG);
	cr_assert_not_null(out);
	int err = 0;
	cr_expect_eq(fl_store_get_many(g.ctx, refs, sizeof *refs, BATCH, out, &err), 0);
	cr_expect_eq(err, FL_STORE_ECORRUPT, "err %d", err);
	cr_expect_eq(fl_store_get_many(g.ctx, &refs[1], sizeof *refs, BATCH - 1, out, &err), BATCH - 1,
		     "err %d", err);
	expect_pages(out, BATCH - 1, 41);
	free(out);
	for (size_t i = 0; i < BATCH; i++)
		fl_store_drop(g.st, &refs[i]);
	rig_stop(&g);
}

/*
 * Freed payloads give their disk space back once a whole chunk of the
 * file is free, while the file stays open for more.
 */
Test(spillfile, freed_chunks_are_punched)
{
	struct rig g;
	rig_start(&g, "/var/tmp");
	enum { BATCHES = 40 }; /* 1280 half pages: about 2.5 MiB of file */
	struct fl_store_ref (*refs)[BATCH] = calloc(BATCHES, sizeof *refs);
	cr_assert_not_null(refs);
	for (int k = 0; k < BATCHES; k++)
		put_and_spill(&g, refs[k], BATCH, 10000 + k * BATCH);
	int fd = spill_fd(g.dir);
	struct stat sb;
	cr_assert_eq(fstat(fd, &sb), 0);
	uint64_t full = (uint64_t)sb.st_blocks * 512;
	cr_expect_geq(full, 2u << 20, "only %llu bytes on disk", (unsigned long long)full);
	for (int k = 0; k < BATCHES; k++)
		for (size_t i = 0; i < BATCH; i++)
			fl_store_drop(g.st, &refs[k][i]);
	cr_assert_eq(fstat(fd, &sb), 0, "the file closed while the store may still write it");
	uint64_t left = (uint64_t)sb.st_blocks * 512;
	cr_expect_leq(left, 256u << 10, "%llu bytes still on disk of %llu", (unsigned long long)left,
		      (unsigned long long)full);
	struct fl_store_stats s;
	fl_store_stats(g.st, &s);
	cr_expect_eq(s.spill.file_bytes, 0);
	cr_expect_eq(s.spill.payloads, 0);
	free(refs);
	rig_stop(&g);
}
