/*
 * Compression benchmark for the store: how well and how fast LZ4 and zstd
 * (levels 1 and 3) compress real 4 KiB pages, and what the store makes of
 * them.  Pages come from three sources: the heap of a live python3 process
 * (read through /proc/PID/mem while it sleeps; needs root or ptrace
 * rights), a large ELF binary, and text files under /usr/share.  Same-filled
 * pages are counted apart and left out of the compressor timings, as the
 * store never compresses them.  The heap pages are then pushed through
 * fl_store_put to report the store's efficiency and fragmentation.
 *
 * Timings are medians over several passes over a whole page set, taken with
 * CLOCK_MONOTONIC.  Output is plain text.  This is a program, not the shim:
 * it uses malloc and stdio freely.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <lz4.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "store.h"

#define PG FL_PAGE_SIZE
#define REPEATS 5
#define MAX_HEAP_PAGES 32768	/* 128 MiB */
#define MAX_BIN_PAGES 8192	/* 32 MiB */
#define MAX_TEXT_PAGES 4096	/* 16 MiB */

struct pageset {
	const char *name;
	char source[160];
	unsigned char *pages;	/* n pages */
	size_t n, cap;
	size_t same;
	unsigned char *work;	/* the pages that are not same-filled */
	size_t nwork;
};

struct comp {
	const char *name;
	enum fl_compressor kind;
	int level;
};

static const struct comp comps[] = {
	{"lz4", FL_COMP_LZ4, 0},
	{"zstd-1", FL_COMP_ZSTD, 1},
	{"zstd-3", FL_COMP_ZSTD, 3},
};
#define NCOMP (sizeof(comps) / sizeof(comps[0]))

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "compress: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

static void set_init(struct pageset *s, const char *name, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->cap = cap;
	s->pages = xmalloc(cap * PG);
}

static int set_full(const struct pageset *s)
{
	return s->n >= s->cap;
}

/* Split off the same-filled pages: the store never compresses those. */
static void set_finish(struct pageset *s)
{
	s->work = xmalloc(s->n * PG + 1);
	s->nwork = 0;
	s->same = 0;
	for (size_t i = 0; i < s->n; i++) {
		const unsigned char *p = s->pages + i * PG;
		if (fl_store_same_filled(p, NULL))
			s->same++;
		else
			memcpy(s->work + s->nwork++ * PG, p, PG);
	}
}

/* ---- source 1: a live python3 heap ---------------------------------- */

static const char py_script[] =
	"import sys, time, random\n"
	"random.seed(1)\n"
	"words = ['alpha', 'beta', 'gamma', 'delta', 'page', 'fault', 'store',\n"
	"         'handler', 'region', 'budget', 'evict', 'compress']\n"
	"d = {}\n"
	"for i in range(300000):\n"
	"    d['key-%d-%s' % (i, words[i % len(words)])] = (i * 2654435761) % 1000003\n"
	"l = [' '.join(random.choice(words) for _ in range(6)) + ' #' + str(i)\n"
	"     for i in range(150000)]\n"
	"t = [(i, float(i) / 7, str(i)) for i in range(150000)]\n"
	"sys.stdout.write('ready\\n')\n"
	"sys.stdout.flush()\n"
	"time.sleep(300)\n";

/*
 * Read the resident pages of pid's [heap] and anonymous private rw
 * mappings.  pagemap says which pages are present, so untouched parts of
 * big reservations do not pad the set with zero pages the kernel never
 * allocated.
 */
static int read_heap(pid_t pid, struct pageset *s)
{
	char path[64], line[512];
	FILE *maps;
	int mem, pm;
	uint64_t bytes = 0;
	unsigned nmaps = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	pm = open(path, O_RDONLY);
	if (!maps || mem < 0 || pm < 0) {
		fprintf(stderr, "compress: cannot read /proc/%d: %s\n", (int)pid,
			strerror(errno));
		if (maps)
			fclose(maps);
		if (mem >= 0)
			close(mem);
		if (pm >= 0)
			close(pm);
		return -1;
	}
	while (fgets(line, sizeof(line), maps) && !set_full(s)) {
		unsigned long start, end, off, inode;
		char perms[8], dev[16], name[256] = "";

		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %255s", &start, &end,
			   perms, &off, dev, &inode, name) < 6)
			continue;
		if (strncmp(perms, "rw", 2) != 0 || perms[3] != 'p')
			continue;
		if (name[0] && strcmp(name, "[heap]") != 0)
			continue;
		nmaps++;
		for (unsigned long a = start; a < end && !set_full(s); a += PG) {
			uint64_t ent;
			if (pread(pm, &ent, 8, (off_t)(a / PG * 8)) != 8)
				break;
			if (!(ent >> 63 & 1))	/* not present */
				continue;
			unsigned char *dst = s->pages + s->n * PG;
			if (pread(mem, dst, PG, (off_t)a) != PG)
				continue;
			s->n++;
			bytes += PG;
		}
	}
	fclose(maps);
	close(mem);
	close(pm);
	snprintf(s->source, sizeof(s->source),
		 "python3 pid %d: %u mappings, %.1f MiB resident", (int)pid,
		 nmaps, bytes / 1048576.0);
	return s->n ? 0 : -1;
}

static int load_heap(struct pageset *s)
{
	int out[2];
	pid_t pid;
	char buf[16] = "";
	ssize_t r;

	set_init(s, "heap", MAX_HEAP_PAGES);
	if (pipe(out) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execlp("python3", "python3", "-c", py_script, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	r = read(out[0], buf, sizeof(buf) - 1);	/* blocks until ready */
	close(out[0]);
	if (r <= 0 || strncmp(buf, "ready", 5) != 0) {
		int st;
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fprintf(stderr, "compress: skipping the heap set: python3 %s\n",
			WIFEXITED(st) && WEXITSTATUS(st) == 127 ?
			"is not installed" : "did not start");
		return -1;
	}
	int rc = read_heap(pid, s);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (rc != 0)
		fprintf(stderr, "compress: skipping the heap set: no pages read\n");
	return rc;
}

/* ---- source 2: a binary --------------------------------------------- */

static int is_elf(const char *path, off_t *size)
{
	unsigned char m[4];
	struct stat st;
	int fd, ok;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ok = read(fd, m, 4) == 4 && memcmp(m, "\177ELF", 4) == 0;
	close(fd);
	*size = st.st_size;
	return ok;
}

static int load_file_pages(struct pageset *s, const char *path)
{
	int fd = open(path, O_RDONLY);
	ssize_t r;

	if (fd < 0)
		return -1;
	while (!set_full(s)) {
		unsigned char *dst = s->pages + s->n * PG;
		size_t got = 0;
		while (got < PG && (r = read(fd, dst + got, PG - got)) > 0)
			got += (size_t)r;
		if (got < PG)	/* partial tail: not a page */
			break;
		s->n++;
	}
	close(fd);
	return 0;
}

static int load_binary(struct pageset *s)
{
	static const char *globs[] = {
		"/usr/lib/gcc/*/*/cc1", "/usr/lib/gcc/*/*/cc1plus",
		"/usr/bin/python3", "/usr/bin/python3.*", "/usr/bin/gdb",
		"/usr/bin/perl", "/usr/lib/*/libc.so.6", "/usr/bin/bash",
		"/usr/lib/*/libLLVM*.so*", "/usr/bin/git",
	};
	char best[PATH_MAX] = "";
	off_t best_size = 0;

	set_init(s, "binary", MAX_BIN_PAGES);
	for (size_t i = 0; i < sizeof(globs) / sizeof(globs[0]); i++) {
		glob_t g;
		if (glob(globs[i], 0, NULL, &g) != 0)
			continue;
		for (size_t j = 0; j < g.gl_pathc; j++) {
			char real[PATH_MAX];
			off_t sz;
			if (!realpath(g.gl_pathv[j], real) || !is_elf(real, &sz))
				continue;
			if (sz > best_size) {
				best_size = sz;
				snprintf(best, sizeof(best), "%s", real);
			}
		}
		globfree(&g);
	}
	if (!best[0]) {
		fprintf(stderr, "compress: skipping the binary set: no known ELF file\n");
		return -1;
	}
	load_file_pages(s, best);
	snprintf(s->source, sizeof(s->source), "%s (%.1f MiB)", best,
		 best_size / 1048576.0);
	return s->n ? 0 : -1;
}

/* ---- source 3: text ------------------------------------------------- */

static struct pageset *text_set;
static unsigned text_files;
static size_t text_fill;	/* bytes in the current partial page */

static int text_visit(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	static const char *skip[] = {".gz", ".bz2", ".xz", ".zst", ".zip",
				     ".png", ".jpg", ".gif", ".svg", ".pdf",
				     ".woff", ".ttf", ".ico"};
	unsigned char buf[65536];
	size_t len = strlen(path);
	ssize_t r;
	int fd;

	(void)ftw;
	if (set_full(text_set))
		return 1;
	if (type != FTW_F || !S_ISREG(st->st_mode) || st->st_size == 0)
		return 0;
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
		size_t k = strlen(skip[i]);
		if (len > k && strcmp(path + len - k, skip[i]) == 0)
			return 0;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	r = read(fd, buf, 512);
	if (r <= 0 || memchr(buf, 0, (size_t)r)) {	/* binary */
		close(fd);
		return 0;
	}
	text_files++;
	do {
		for (ssize_t i = 0; i < r && !set_full(text_set);) {
			unsigned char *dst = text_set->pages + text_set->n * PG;
			size_t k = PG - text_fill;
			if ((size_t)(r - i) < k)
				k = (size_t)(r - i);
			memcpy(dst + text_fill, buf + i, k);
			text_fill += k;
			i += (ssize_t)k;
			if (text_fill == PG) {
				text_set->n++;
				text_fill = 0;
			}
		}
	} while (!set_full(text_set) && (r = read(fd, buf, sizeof(buf))) > 0);
	close(fd);
	return set_full(text_set);
}

static int load_text(struct pageset *s)
{
	static const char *dirs[] = {"/usr/share/common-licenses",
				     "/usr/share/doc", "/usr/share/perl5",
				     "/usr/include"};

	set_init(s, "text", MAX_TEXT_PAGES);
	text_set = s;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !set_full(s); i++)
		nftw(dirs[i], text_visit, 16, FTW_PHYS);
	snprintf(s->source, sizeof(s->source), "%u text files under /usr/share",
		 text_files);
	if (!s->n)
		fprintf(stderr, "compress: skipping the text set: no text files\n");
	return s->n ? 0 : -1;
}

/* ---- compressors ---------------------------------------------------- */

struct coder {
	const struct comp *c;
	void *lz4_state;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};

static void coder_init(struct coder *k, const struct comp *c)
{
	memset(k, 0, sizeof(*k));
	k->c = c;
	k->lz4_state = xmalloc((size_t)LZ4_sizeofState());
	k->cctx = ZSTD_createCCtx();
	k->dctx = ZSTD_createDCtx();
}

static void coder_free(struct coder *k)
{
	free(k->lz4_state);
	ZSTD_freeCCtx(k->cctx);
	ZSTD_freeDCtx(k->dctx);
}

/* Same calls and parameters as the store, but with room for any output so
 * the ratio is the compressor's own. */
static size_t encode(struct coder *k, const void *src, void *dst, size_t cap)
{
	if (k->c->kind == FL_COMP_LZ4)
		return (size_t)LZ4_compress_fast_extState(k->lz4_state, src, dst,
							  PG, (int)cap, 1);
	size_t n = ZSTD_compressCCtx(k->cctx, dst, cap, src, PG, k->c->level);
	return ZSTD_isError(n) ? 0 : n;
}

static size_t decode(struct coder *k, const void *src, size_t n, void *dst)
{
	if (k->c->kind == FL_COMP_LZ4) {
		int r = LZ4_decompress_safe(src, dst, (int)n, PG);
		return r < 0 ? 0 : (size_t)r;
	}
	size_t r = ZSTD_decompressDCtx(k->dctx, dst, PG, src, n);
	return ZSTD_isError(r) ? 0 : r;
}

struct result {
	double ratio, c_us, d_us;
	int ok;
};

static struct result run_codec(const struct pageset *s, const struct comp *c)
{
	struct result res = {0};
	struct coder k;
	size_t cap = ZSTD_compressBound(PG) > (size_t)LZ4_compressBound(PG) ?
		     ZSTD_compressBound(PG) : (size_t)LZ4_compressBound(PG);
	unsigned char *out = xmalloc(s->nwork * cap + 1);
	size_t *len = xmalloc((s->nwork + 1) * sizeof(*len));
	unsigned char page[PG];
	double tc[REPEATS], td[REPEATS];
	uint64_t total = 0;

	if (s->nwork == 0) {
		free(out);
		free(len);
		return res;
	}
	coder_init(&k, c);
	res.ok = 1;
	for (int r = 0; r < REPEATS; r++) {
		double t0 = now();
		for (size_t i = 0; i < s->nwork; i++)
			len[i] = encode(&k, s->work + i * PG, out + i * cap, cap);
		tc[r] = now() - t0;
	}
	for (size_t i = 0; i < s->nwork; i++) {
		total += len[i];
		if (len[i] == 0)
			res.ok = 0;
	}
	for (int r = 0; r < REPEATS; r++) {
		double t0 = now();
		for (size_t i = 0; i < s->nwork; i++) {
			size_t n = decode(&k, out + i * cap, len[i], page);
			if (r == 0 && (n != PG ||
				       memcmp(page, s->work + i * PG, PG) != 0))
				res.ok = 0;
		}
		td[r] = now() - t0;
	}
	res.ratio = (double)s->nwork * PG / (double)total;
	res.c_us = median(tc, REPEATS) / (double)s->nwork * 1e6;
	res.d_us = median(td, REPEATS) / (double)s->nwork * 1e6;
	coder_free(&k);
	free(out);
	free(len);
	return res;
}

static double mbps(double us_per_page)
{
	return us_per_page > 0 ? PG / us_per_page : 0;	/* bytes/us = MB/s */
}

/* ---- the store ------------------------------------------------------ */

struct store_result {
	struct fl_store_stats st;
	double frag, put_us, get_us;
	unsigned long rejects, errors;
};

static int run_store(const struct pageset *s, const struct comp *c,
		     struct store_result *out)
{
	struct fl_store_config cfg = {c->kind, c->level, 0};
	struct fl_store_ref *refs = xmalloc(s->n * sizeof(*refs));
	unsigned char page[PG];
	double tp[REPEATS], tg[REPEATS];
	struct fl_store *st;
	struct fl_store_ctx *ctx;
	int err;

	/* Room for every page raw: the point is the layout, not the cap. */
	cfg.capacity = (uint64_t)(s->n + 256) * PG + (16u << 20);
	st = fl_store_create(&cfg, &err);
	if (!st) {
		fprintf(stderr, "compress: fl_store_create failed: %d\n", err);
		free(refs);
		return -1;
	}
	ctx = fl_store_ctx_create(st);
	if (!ctx) {
		fprintf(stderr, "compress: fl_store_ctx_create failed\n");
		fl_store_destroy(st);
		free(refs);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	for (int r = 0; r < REPEATS; r++) {
		double t0 = now();
		for (size_t i = 0; i < s->n; i++) {
			int rc = fl_store_put(ctx, s->pages + i * PG, &refs[i]);
			if (rc == FL_STORE_EFULL)
				out->rejects++;
			else if (rc)
				out->errors++;
			if (rc)
				refs[i].kind = 0;
		}
		tp[r] = now() - t0;
		if (r == 0) {
			fl_store_stats(st, &out->st);
			out->frag = fl_store_fragmentation(&out->st);
		}
		t0 = now();
		for (size_t i = 0; i < s->n; i++) {
			if (!refs[i].kind)
				continue;
			if (fl_store_get(ctx, &refs[i], page) != 0 ||
			    (r == 0 && memcmp(page, s->pages + i * PG, PG) != 0))
				out->errors++;
		}
		tg[r] = now() - t0;
		for (size_t i = 0; i < s->n; i++)
			fl_store_drop(st, &refs[i]);
	}
	out->put_us = median(tp, REPEATS) / (double)s->n * 1e6;
	out->get_us = median(tg, REPEATS) / (double)s->n * 1e6;
	fl_store_ctx_destroy(ctx);
	fl_store_destroy(st);
	free(refs);
	return 0;
}

int main(void)
{
	struct pageset sets[3];
	int have[3];
	double t_start = now();

	setvbuf(stdout, NULL, _IOLBF, 0);
	have[0] = load_heap(&sets[0]) == 0;
	have[1] = load_binary(&sets[1]) == 0;
	have[2] = load_text(&sets[2]) == 0;

	printf("faultline compression benchmark: 4 KiB pages, median of %d passes\n\n",
	       REPEATS);
	for (int i = 0; i < 3; i++) {
		if (!have[i])
			continue;
		set_finish(&sets[i]);
		printf("  %-7s %s\n", sets[i].name, sets[i].source);
	}
	printf("\n%-7s %7s %6s  %-7s %6s %10s %9s %10s %9s  %s\n", "set",
	       "pages", "same", "codec", "ratio", "comp us/pg", "comp MB/s",
	       "dec us/pg", "dec MB/s", "");
	for (int i = 0; i < 3; i++) {
		if (!have[i])
			continue;
		for (size_t c = 0; c < NCOMP; c++) {
			struct result r = run_codec(&sets[i], &comps[c]);
			printf("%-7s %7zu %6zu  %-7s %6.2f %10.2f %9.0f %10.2f %9.0f  %s\n",
			       c == 0 ? sets[i].name : "", sets[i].n,
			       sets[i].same, comps[c].name, r.ratio, r.c_us,
			       mbps(r.c_us), r.d_us, mbps(r.d_us),
			       r.ok ? "" : "ROUND TRIP FAILED");
		}
	}
	printf("\nratio: bytes in / bytes out over the pages that are not "
	       "same-filled, with no raw cap.\n");

	if (!have[0]) {
		printf("\nstore: skipped (no heap pages; see above)\n");
		return 0;
	}
	const struct pageset *h = &sets[0];
	printf("\nstore, heap pages (%zu pages, %.1f MiB), fl_store_put of every page:\n\n",
	       h->n, h->n * (double)PG / 1048576.0);
	printf("%-7s %9s %9s %10s %6s %7s %7s %7s %10s %10s  %s\n", "codec",
	       "slot MiB", "slab MiB", "efficiency", "frag", "same%", "comp%", "raw%",
	       "put us/pg", "get us/pg", "");
	for (size_t c = 0; c < NCOMP; c++) {
		struct store_result r;
		if (run_store(h, &comps[c], &r) != 0)
			continue;
		double n = (double)h->n;
		printf("%-7s %9.2f %9.2f %10.2f %6.3f %7.1f %7.1f %7.1f %10.2f %10.2f  %s\n",
		       comps[c].name, r.st.slot_bytes / 1048576.0,
		       r.st.slab_bytes / 1048576.0,
		       r.st.slab_bytes ? n * PG / (double)r.st.slab_bytes : 0.0,
		       r.frag, 100.0 * r.st.pages_same / n,
		       100.0 * r.st.pages_comp / n, 100.0 * r.st.pages_raw / n,
		       r.put_us, r.get_us,
		       r.errors ? "ERRORS" : r.rejects ? "REJECTS" : "");
	}
	printf("\nefficiency: original bytes / slab bytes (same-filled pages "
	       "cost nothing); frag: 1 - payload/slab.\n"
	       "slot: the slots in use; slab - slot is free slots, mostly the "
	       "one partly filled slab of each size class.\n");
	printf("\ntotal run time %.1f s\n", now() - t_start);
	return 0;
}
