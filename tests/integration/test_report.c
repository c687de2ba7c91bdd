/*
 * faultline report, query and export against expected output
 * (tests/golden/), on two kinds of fault log:
 *
 *  - one written by the real shim and daemon for tests/progs/faulter
 *    (--fault-around 1 --readahead 1 --stacks all, a fixed budget): what
 *    users get.  A run is not bit-for-bit repeatable, so its output is
 *    normalized first and the expected files mark what may vary;
 *  - one the test writes itself (synthetic_db: the daemon's schema via
 *    fl_db_open, then rows with known values: a parent, a forked child
 *    with copy-on-write faults, a process still running, every fault
 *    kind, pressure levels, an inlined frame, unsymbolized frames): every
 *    figure is known, so the comparison is exact (TZ=UTC).
 *
 * The normalizer (normalize()), applied to the output before comparing:
 *   the database's path -> <DB>; dates "YYYY-MM-DD HH:MM:SS.mmm ZONE" ->
 *   <DATE>; durations ("12.3 ms", "850 ns", "1.50 s") -> <DUR>; address
 *   ranges -> <ADDR>-<ADDR>; "pid N[, N]" -> "pid <PID>", a folded root
 *   frame "name[N]" -> "name[<PID>]"; a timeline's sparkline -> <SPARK>;
 *   runs of blanks after a line's indentation -> one blank (columns move
 *   with the width of the durations); and the rows of a region table are
 *   sorted (the order of mappings in the address space differs from run
 *   to run).
 * An expected line may hold {{ERE}}: that part matches the POSIX
 * extended regular expression (a count that depends on timing).  A line
 * that starts with {{?}} may be missing.  FL_GOLDEN_UPDATE=1 writes the
 * normalized output over the expected file (put the {{...}} back by hand).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "runprog.h"

#define FAULTER "build/tests/progs/faulter"
#define GOLDEN "tests/golden/"

static char dir[256];

static void make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/fl-report-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", dir);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	cr_assert_not_null(b);
	size_t k;
	while ((k = fread(b + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (cap - n - 1 == 0) {
			cap *= 2;
			b = realloc(b, cap);
			cr_assert_not_null(b);
		}
	}
	fclose(f);
	b[n] = 0;
	if (len)
		*len = n;
	return b;
}

/* ---- running faultline ------------------------------------------------- */

struct out {
	int status;
	char *text; /* stdout */
	char err[4096];
};

/* faultline ARGS... (NULL-terminated), stdout kept, in TZ=UTC. */
static void faultline(struct out *o, ...)
{
	char *argv[32];
	int n = 0;
	argv[n++] = (char *)test_bin("faultline");
	va_list ap;
	va_start(ap, o);
	char *a;
	while ((a = va_arg(ap, char *)) && n < 31)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	char outp[320];
	snprintf(outp, sizeof outp, "%s/stdout", dir);
	static struct run_result r;
	char *env[] = {"TZ=UTC", NULL};
	run_to(argv, NULL, outp, env, &r);
	o->status = r.status;
	o->text = slurp(outp, NULL);
	cr_assert_not_null(o->text);
	run_err_tail(&r, o->err, sizeof o->err);
	/* Under the sanitizer build (the slow tier) a report exits 1 too. */
	cr_expect(!strstr(o->err, "Sanitizer") && !strstr(o->err, "runtime error"), "faultline %s: %s", argv[1], o->err);
}

static void out_free(struct out *o)
{
	free(o->text);
	o->text = NULL;
}

/* faultline run --db db on the test's socket and the shim, then ARGS...
 * (NULL-terminated: options, "--", the program and its arguments); it
 * must succeed.  Its stdout goes to <dir>/<name>.out. */
static void run_db(const char *db, const char *name, ...)
{
	char sock[320], out[320];
	snprintf(sock, sizeof sock, "%s/d.sock", dir);
	snprintf(out, sizeof out, "%s/%s.out", dir, name);
	char *argv[40] = {(char *)test_bin("faultline"), "run", "--db", (char *)db, "--socket", sock, "--lib",
			  (char *)shim_lib()};
	int n = 8;
	va_list ap;
	va_start(ap, name);
	char *a;
	while ((a = va_arg(ap, char *)) && n < 39)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	static struct run_result r;
	run_to(argv, NULL, out, NULL, &r);
	cr_assert_eq(r.status, 0, "faultline run %s: %d\n%s", name, r.status, r.err);
}

/* A database of faulter's run under the real shim and daemon. */
static void faulter_db(const char *db, const char *budget, int fork_too)
{
	run_db(db, "faulter", "--fault-around", "1", "--readahead", "1", "--stacks", "all", "--budget", budget, "-q",
	       "--", FAULTER, "3000", "--protect", fork_too ? "--fork" : NULL, NULL);
}

/* A database of spiller's run (PAGES pages of random bytes, one pass back)
 * under a 4 MiB budget and a 4 MiB store: the rest goes to a spill file
 * in the test's directory. */
static void spiller_db(const char *db, const char *pages)
{
	char spill[320], opt[340];
	snprintf(spill, sizeof spill, "%s/spill", dir);
	snprintf(opt, sizeof opt, "--spill=%s", spill);
	cr_assert_eq(mkdir(spill, 0700), 0);
	run_db(db, "spiller", "--budget", "4M", "--store-max", "4M", opt, "--sample-ms", "10", "-q", "--",
	       "build/tests/progs/spiller", pages, "1", NULL);
}

/* ---- the synthetic fault log --------------------------------------------- */

/*
 * S = 1700000000 s (2023-11-14 22:13:20 UTC).  Process 1 (pid 4242) runs
 * 2 s under an 8 MiB budget and forks pid 4250 at +0.5 s; pid 5001 is
 * still running (no end, no samples, signal engine).
 */
static const char synthetic_sql[] =
	"INSERT INTO processes(id, pid, ppid, parent_id, exe, argv, engine, compressor, compressor_level,"
	" budget_bytes, page_size, stacks_every, start_ns, start_mono_ns, end_ns, exit_status, how,"
	" dropped_events, dropped_stacks, dropped_other) VALUES"
	" (1, 4242, 1000, NULL, '/opt/demo/bin/demo', '[\"demo\",\"--size\",\"64M\",\"two words\"]', 'uffd', 'lz4', 1,"
	"  8388608, 4096, 1, 1700000000000000000, 5000000000, 1700000002000000000, 0, 'exited', 3, 2, 0),"
	" (2, 4250, 4242, 1, '/opt/demo/bin/demo', '[\"demo\",\"--size\",\"64M\",\"two words\"]', 'uffd', 'lz4', 1,"
	"  8388608, 4096, 1, 1700000000500000000, 5500000000, 1700000001500000000, 0, 'exited', 0, 0, 0),"
	" (3, 5001, 1, NULL, '/usr/bin/python3', '[\"python3\",\"-c\",\"print(1)\"]', 'signal', 'zstd', 3,"
	"  0, 4096, 8, 1700000003000000000, 8000000000, NULL, NULL, 'running', 0, 0, 0);\n"
	"INSERT INTO modules VALUES"
	" (1, 1, '/opt/demo/bin/demo', 'ab12cd', 93824992231424, 131072, 93824992231424, 1700000000000000000, NULL),"
	" (2, 1, '/usr/lib/x86_64-linux-gnu/libc.so.6', 'ef34', 140737351516160, 1921024, 140737351516160,"
	"  1700000000000000000, NULL),"
	" (3, 2, '/opt/demo/bin/demo', 'ab12cd', 93824992231424, 131072, 93824992231424, 1700000000500000000, NULL),"
	" (4, 3, '/usr/bin/python3', NULL, 93824992231424, 4096000, 93824992231424, 1700000003000000000, NULL);\n"
	"INSERT INTO regions VALUES"
	" (1, 1, 1, 140737219919872, 4194304, 3, 'jemalloc', 1700000000001000000, NULL),"
	" (2, 1, 2, 140736951484416, 16777216, 3, 'program mmap', 1700000000010000000, 1700000001500000000),"
	" (3, 1, 2, 140736951484416, 16777216, 1, 'program mmap', 1700000001500000000, 1700000001900000000),"
	" (4, 1, 3, 140736683048960, 1048576, 3, 'managed', 1700000001950000000, NULL),"
	" (5, 2, 1, 140737219919872, 4194304, 3, 'jemalloc', 1700000000500000000, NULL),"
	" (6, 2, 2, 140736951484416, 16777216, 3, 'program mmap', 1700000000500000000, NULL),"
	" (7, 3, 1, 140737320583168, 262144, 3, 'jemalloc', 1700000003000000000, NULL);\n"
	"INSERT INTO stacks VALUES (1, 1, 1, 4, 1700000000000000000), (2, 1, 2, 3, 1700000000000000000),"
	" (3, 1, 3, 3, 1700000000000000000), (4, 2, 1, 3, 1700000000500000000), (5, 3, 1, 2, 1700000003000000000);\n"
	"INSERT INTO frames(stack, depth, inline_depth, pc, module, offset, function, file, line, symbolized) VALUES"
	" (1, 0, 0, 93824992235796, 1, 4372, 'fill_words', 'src/demo.c', 20, 1),"
	" (1, 0, 1, 93824992235796, 1, 4372, 'fill_buffer', 'src/demo.c', 41, 1),"
	" (1, 1, 0, 93824992236032, 1, 4608, 'load_input', 'src/demo.c', 77, 1),"
	" (1, 2, 0, 93824992236544, 1, 5120, 'main', 'src/demo.c', 120, 1),"
	" (1, 3, 0, 140737351676330, 2, 160170, '__libc_start_main', NULL, NULL, 1),"
	" (2, 0, 0, 93824992236288, 1, 4864, 'scan_table', 'src/demo.c', 88, 1),"
	" (2, 1, 0, 93824992236560, 1, 5136, 'main', 'src/demo.c', 125, 1),"
	" (2, 2, 0, 140737351676330, 2, 160170, '__libc_start_main', NULL, NULL, 1),"
	" (3, 0, 0, 140737352147137, 2, 630977, NULL, NULL, NULL, 3),"
	" (3, 1, 0, 93824992236800, 1, 5376, 'worker', 'src/demo.c', 140, 1),"
	" (3, 2, 0, 140737488346000, NULL, NULL, NULL, NULL, NULL, 0),"
	" (4, 0, 0, 93824992237056, 3, 5632, 'child_update', 'src/demo.c', 160, 1),"
	" (4, 1, 0, 93824992236576, 3, 5152, 'main', 'src/demo.c', 130, 1),"
	" (4, 2, 0, 140737351676330, NULL, NULL, '__libc_start_main', NULL, NULL, 1),"
	" (5, 0, 0, 4096, NULL, NULL, NULL, NULL, NULL, 2),"
	" (5, 1, 0, 93824992300000, 4, 68576, 'PyObject_Malloc', 'Objects/obmalloc.c', 1966, 1);\n"
	/* The faults, generated, then stored in arrival (time) order. */
	"CREATE TEMP TABLE gen(process, t_ns, addr, region, kind, pages, latency_ns, write, stack);\n"
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 199)"
	" INSERT INTO gen SELECT 1, 1700000000010000000 + i * 4000000, 140736951484416 + i * 4096, 2, 0, 1,"
	"  2000 + (i % 7) * 500, 1, 1 FROM n;\n"
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 59)"
	" INSERT INTO gen SELECT 1, 1700000000900000000 + i * 10000000, 140736951484416 + i * 12288, 2, 2,"
	"  CASE WHEN i % 10 = 0 THEN 4 ELSE 1 END, 9000 + (i % 5) * 1000, 0, 2 FROM n;\n"
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9)"
	" INSERT INTO gen SELECT 1, 1700000001005000000 + i * 50000000, 140736951484416 + i * 8192, 2, 1, 1, 1500, 0, 2"
	" FROM n;\n"
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 5)"
	" INSERT INTO gen SELECT 1, 1700000001200000000 + i * 20000000, 140737219919872 + i * 4096, 1, 3, 1, 3000, 0, 3"
	" FROM n;\n"
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 3)"
	" INSERT INTO gen SELECT 1, 1700000000002000000 + i * 1000000, 140737219919872 + 65536 + i * 4096, 1, 0, 1, 1200,"
	"  1, 0 FROM n;\n"
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2)"
	" INSERT INTO gen SELECT 1, 1700000000600000000 + i * 1000000, 140736951484416 + i * 4096, 2, 5, 1, 1100, 1, 2"
	" FROM n;\n"
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 24)"
	" INSERT INTO gen SELECT 2, 1700000000510000000 + i * 20000000, 140736951484416 + i * 4096, 2, 5, 1,"
	"  1000 + (i % 3) * 100, 1, 1 FROM n;\n"
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4)"
	" INSERT INTO gen SELECT 2, 1700000000520000000 + i * 30000000, 140737219919872 + i * 4096, 1, 0, 1, 1800, 1, 1"
	" FROM n;\n"
	"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 7)"
	" INSERT INTO gen SELECT 3, 1700000003100000000 + i * 10000000, 140737320583168 + i * 4096, 1, 0, 1, 2500, 1, 1"
	" FROM n;\n"
	"INSERT INTO gen VALUES (3, 1700000003200000000, 140737320583168, 1, 2, 1, 7000, 0, 0),"
	" (3, 1700000003210000000, 140737320587264, 1, 2, 1, 7500, 0, 0);\n"
	"INSERT INTO faults(process, t_ns, tid, addr, region, kind, pages, latency_ns, write, stack)"
	" SELECT process, t_ns, CASE process WHEN 1 THEN 4242 WHEN 2 THEN 4250 ELSE 5001 END, addr, region, kind, pages,"
	"  latency_ns, write, stack FROM gen ORDER BY t_ns, process;\n"
	/* A span: consecutive ids of one process (as the daemon's transactions make them). */
	"INSERT INTO fault_spans(process, first_id, last_id, t_min, t_max, faults)"
	" SELECT process, min(id), max(id), min(t_ns), max(t_ns), count(*) FROM"
	"  (SELECT id, process, t_ns, id - row_number() OVER (PARTITION BY process ORDER BY id) AS isl FROM faults)"
	" GROUP BY process, isl ORDER BY min(id);\n"
	"INSERT INTO stack_faults SELECT process, stack, kind, count(*), sum(pages), sum(write), sum(latency_ns),"
	" max(latency_ns), min(t_ns), max(t_ns) FROM faults GROUP BY process, stack, kind;\n"
	/* Samples every 100 ms: resident peaks at +1.1 s (the budget, 2048 pages). */
	"WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 19)"
	" INSERT INTO samples(process, t_ns, managed_pages, resident_pages, inactive_pages, compressed_pages,"
	"  same_filled_pages, compressed_bytes, store_bytes, budget_pages, resident_peak_pages, faults_first_touch,"
	"  faults_soft, faults_decompress, faults_same_filled, faults_spill, faults_wp, fault_ns_total, pages_evicted,"
	"  pressure, regions)"
	" SELECT 1, 1700000000100000000 + k * 100000000, 5120,"
	"  CASE WHEN k < 10 THEN 100 + k * 200 WHEN k < 14 THEN 2048 - (k - 10) * 100 ELSE 1700 END,"
	"  CASE WHEN k IN (8, 9) THEN 50 ELSE 0 END,"
	"  CASE WHEN k >= 10 THEN (k - 9) * 120 ELSE 0 END, CASE WHEN k >= 10 THEN 6 ELSE 0 END,"
	"  CASE WHEN k >= 10 THEN (k - 9) * 120 * 1100 ELSE 0 END, CASE WHEN k >= 10 THEN (k - 9) * 132000 + 65536 ELSE 0 END,"
	"  2048, CASE WHEN k >= 10 THEN 2048 ELSE 100 + k * 200 + CASE WHEN k IN (8, 9) THEN 50 ELSE 0 END END,"
	"  k * 10, 0, 0, 0, 0, 0, k * 30000, CASE WHEN k >= 10 THEN (k - 9) * 126 ELSE 0 END,"
	"  CASE WHEN k < 8 THEN 'NORMAL' WHEN k < 10 THEN 'WARN' WHEN k < 13 THEN 'CRITICAL' ELSE 'WARN' END, 3 FROM n;\n"
	"WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 4)"
	" INSERT INTO samples(process, t_ns, managed_pages, resident_pages, inactive_pages, compressed_pages,"
	"  same_filled_pages, compressed_bytes, store_bytes, budget_pages, resident_peak_pages, faults_first_touch,"
	"  faults_soft, faults_decompress, faults_same_filled, faults_spill, faults_wp, fault_ns_total, pages_evicted,"
	"  pressure, regions)"
	" SELECT 2, 1700000000600000000 + k * 200000000, 5120, 300 + k, 0, 0, 0, 0, 0, 2048, 300 + k, 5, 0, 0, 0, 0,"
	"  k * 5, k * 5000, 0, 'NORMAL', 2 FROM n;\n"
	"INSERT INTO drops(process, t_ns, events, stacks, other) VALUES (1, 1700000001000000000, 3, 2, 0);\n"
	/* Allocation sites of pid 4242: its 16 MiB mapping (made in make_table,
	 * sampled for sure), two small mallocs of read_input (sampled with
	 * P = 0.19 and 0.17: they stand for 512 KiB and 1 MiB), one freed;
	 * the second was last counted at an earlier peak.  The faults charged
	 * are the ones fault_allocs finds in each: 273 (region 2's), 4 (the
	 * first-touch faults at jemalloc's +64 KiB), none; in none: the 6
	 * same-filled faults below it. */
	"INSERT INTO stacks VALUES (6, 1, 6, 3, 1700000000000000000), (7, 1, 7, 2, 1700000000000000000);\n"
	"INSERT INTO frames(stack, depth, inline_depth, pc, module, offset, function, file, line, symbolized) VALUES"
	" (6, 0, 0, 93824992234496, 1, 3072, 'make_table', 'src/demo.c', 60, 1),"
	" (6, 1, 0, 93824992236520, 1, 5096, 'main', 'src/demo.c', 110, 1),"
	" (6, 2, 0, 140737351676330, 2, 160170, '__libc_start_main', NULL, NULL, 1),"
	" (7, 0, 0, 93824992234752, 1, 3328, 'read_input', 'src/demo.c', 70, 1),"
	" (7, 1, 0, 93824992236500, 1, 5076, 'main', 'src/demo.c', 105, 1);\n"
	"INSERT INTO allocs VALUES"
	" (1, 0, 0, 'unsampled', NULL, NULL, NULL, NULL, NULL, 6, 6, 18000, NULL, NULL, NULL, 0),"
	" (1, 1, 6, 'mmap', 140736951484416, 16777216, 16777216, 1700000000010000000, 1700000001900000000,"
	"  273, 291, 1300000, 1700000001100000000, 4194304, 2097152, 0),"
	" (1, 2, 7, 'malloc', 140737219985408, 100000, 524288, 1700000000001000000, NULL, 4, 4, 4800,"
	"  1700000001100000000, 100000, 0, 0),"
	" (1, 3, 7, 'malloc', 140737220085408, 200000, 1048576, 1700000000030000000, 1700000000500000000, 0, 0, 0,"
	"  1700000000800000000, 200000, 0, 0);\n";

static void synthetic_db(const char *path)
{
	char err[512] = "";
	sqlite3 *db = fl_db_open(path, 0, err, sizeof err);
	cr_assert_not_null(db, "fl_db_open: %s", err);
	cr_assert_eq(fl_db_exec(db, "BEGIN", err, sizeof err), SQLITE_OK, "%s", err);
	cr_assert_eq(fl_db_exec(db, synthetic_sql, err, sizeof err), SQLITE_OK, "%s", err);
	cr_assert_eq(fl_db_exec(db, "COMMIT", err, sizeof err), SQLITE_OK, "%s", err);
	/* Checkpointed and closed: no -wal left, as after a daemon's exit. */
	sqlite3_close(db);
}

/* ---- normalizing and comparing -------------------------------------------- */

struct buf {
	char *s;
	size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		cr_assert_not_null(b->s);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
}

/* Every match of the ERE in line replaced by with (a new string). */
static char *replace_re(const char *line, const char *ere, const char *with)
{
	regex_t re;
	cr_assert_eq(regcomp(&re, ere, REG_EXTENDED), 0, "bad ERE %s", ere);
	struct buf b = {0};
	put(&b, "", 0);
	const char *p = line;
	regmatch_t m;
	while (*p && regexec(&re, p, 1, &m, p == line ? 0 : REG_NOTBOL) == 0) {
		if (m.rm_eo == m.rm_so) { /* empty match: step on */
			put(&b, p, 1);
			p++;
			continue;
		}
		put(&b, p, (size_t)m.rm_so);
		put(&b, with, strlen(with));
		p += m.rm_eo;
	}
	put(&b, p, strlen(p));
	regfree(&re);
	return b.s;
}

static char *replace_str(const char *line, const char *what, const char *with)
{
	struct buf b = {0};
	put(&b, "", 0);
	const char *p = line, *q;
	size_t wl = strlen(what);
	while (wl && (q = strstr(p, what))) {
		put(&b, p, (size_t)(q - p));
		put(&b, with, strlen(with));
		p = q + wl;
	}
	put(&b, p, strlen(p));
	return b.s;
}

static int is_region_row(const char *l)
{
	return !strncmp(l, "  jemalloc ", 11) || !strncmp(l, "  program mmap ", 15) || !strncmp(l, "  managed ", 10);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Durations ("12.3 ms", "850 ns", "1.50 s") -> <DUR>; "2 stacks" stays. */
static char *replace_durations(const char *line)
{
	regex_t re;
	cr_assert_eq(regcomp(&re, "[0-9]+(\\.[0-9]+)? (ns|us|ms|s|min)", REG_EXTENDED), 0);
	struct buf b = {0};
	put(&b, "", 0);
	const char *p = line;
	regmatch_t m;
	while (*p && regexec(&re, p, 1, &m, p == line ? 0 : REG_NOTBOL) == 0) {
		const char *end = p + m.rm_eo;
		int word_goes_on = (*end >= 'a' && *end <= 'z') || (*end >= 'A' && *end <= 'Z') || (*end >= '0' && *end <= '9');
		/* A number glued to what precedes it (an address, a name) is not a duration. */
		int glued = m.rm_so > 0 && ((p[m.rm_so - 1] >= '0' && p[m.rm_so - 1] <= '9') || p[m.rm_so - 1] == '.' ||
					    (p[m.rm_so - 1] >= 'a' && p[m.rm_so - 1] <= 'z'));
		if (word_goes_on || glued) {
			put(&b, p, (size_t)m.rm_so + 1);
			p += m.rm_so + 1;
			continue;
		}
		put(&b, p, (size_t)m.rm_so);
		put(&b, "<DUR>", 5);
		p = end;
	}
	put(&b, p, strlen(p));
	regfree(&re);
	return b.s;
}

/* Lines of text, empty ones included (no last empty line after a final newline). */
static char **split_lines(const char *text, size_t *n)
{
	char **v = NULL;
	size_t cap = 0;
	*n = 0;
	for (const char *p = text; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, cap * sizeof *v);
			cr_assert_not_null(v);
		}
		v[(*n)++] = strndup(p, len);
		p += len + (e ? 1 : 0);
	}
	return v;
}

static void free_lines(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The normalizer (see the top of this file); db is the path as given. */
static char *normalize(const char *text, const char *db)
{
	static const struct {
		const char *ere, *with;
	} rules[] = {
		{"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?( [A-Z]+)?", "<DATE>"},
		{"[0-9a-f]{16}-[0-9a-f]{16}", "<ADDR>-<ADDR>"},
		{"pid [0-9]+(, [0-9]+)*", "pid <PID>"},
		{"\\[[0-9]+\\];", "[<PID>];"},
	};
	size_t n;
	char **lines = split_lines(text, &n);
	for (size_t i = 0; i < n; i++) {
		char *cur = replace_str(lines[i], db, "<DB>");
		for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
			char *next = replace_re(cur, rules[r].ere, rules[r].with);
			free(cur);
			cur = next;
		}
		char *next = replace_durations(cur);
		free(cur);
		cur = next;
		/* Runs of blanks after the indentation -> one (durations vary in width). */
		{
			char *w = cur, *r = cur;
			while (*r == ' ')
				*w++ = *r++;
			for (; *r; r++)
				if (*r != ' ' || (w > cur && w[-1] != ' '))
					*w++ = *r;
			*w = 0;
		}
		if (strstr(cur, " in a column")) {
			char *a = strchr(cur, '|'), *b = strrchr(cur, '|');
			if (a && b > a) {
				struct buf s = {0};
				put(&s, cur, (size_t)(a - cur) + 1);
				put(&s, "<SPARK>", 7);
				put(&s, b, strlen(b));
				free(cur);
				cur = s.s;
			}
		}
		free(lines[i]);
		lines[i] = cur;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && is_region_row(lines[j]))
			j++;
		if (j > i + 1)
			qsort(lines + i, j - i, sizeof *lines, cmp_str);
		i = j > i ? j : i + 1;
	}
	struct buf out = {0};
	put(&out, "", 0);
	for (size_t i = 0; i < n; i++) {
		put(&out, lines[i], strlen(lines[i]));
		put(&out, "\n", 1);
	}
	free_lines(lines, n);
	return out.s;
}

/* An expected line as an anchored ERE: literal text, {{...}} verbatim. */
static int line_matches(const char *want, const char *got)
{
	struct buf re = {0};
	put(&re, "^", 1);
	for (const char *p = want; *p;) {
		if (p[0] == '{' && p[1] == '{') {
			const char *e = strstr(p + 2, "}}");
			cr_assert_not_null(e, "unterminated {{ in %s", want);
			put(&re, "(", 1);
			put(&re, p + 2, (size_t)(e - p - 2));
			put(&re, ")", 1);
			p = e + 2;
			continue;
		}
		if (strchr(".[]{}()\\*+?^$|", *p))
			put(&re, "\\", 1);
		put(&re, p, 1);
		p++;
	}
	put(&re, "$", 1);
	regex_t r;
	cr_assert_eq(regcomp(&r, re.s, REG_EXTENDED | REG_NOSUB), 0, "bad expected line %s", want);
	int ok = regexec(&r, got, 0, NULL, 0) == 0;
	regfree(&r);
	free(re.s);
	return ok;
}

/* Compare output with tests/golden/name: normalized (norm), or with only
 * db's path replaced (db set), or as it is. */
static void golden_cmp(const char *name, const char *text, const char *db, int norm)
{
	char *got = norm ? normalize(text, db) : db ? replace_str(text, db, "<DB>") : strdup(text);
	char path[256];
	snprintf(path, sizeof path, GOLDEN "%s", name);
	const char *upd = getenv("FL_GOLDEN_UPDATE");
	if (upd && *upd == '1') {
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f, "%s: %s", path, strerror(errno));
		fputs(got, f);
		fclose(f);
	}
	char *want = slurp(path, NULL);
	cr_assert_not_null(want, "%s: missing (FL_GOLDEN_UPDATE=1 writes it)", path);
	/* Keep what we got beside the test's files, for a diff by hand. */
	char keep[320];
	snprintf(keep, sizeof keep, "/tmp/fl-golden-%s.actual", name);
	FILE *kf = fopen(keep, "w");
	if (kf) {
		fputs(got, kf);
		fclose(kf);
	}
	size_t nw, ng, iw = 0, ig = 0;
	char **wl = split_lines(want, &nw), **gl = split_lines(got, &ng);
	while (iw < nw || ig < ng) {
		int optional = iw < nw && !strncmp(wl[iw], "{{?}}", 5);
		const char *w = iw < nw ? wl[iw] + (optional ? 5 : 0) : NULL;
		if (w && ig < ng && line_matches(w, gl[ig])) {
			iw++;
			ig++;
		} else if (optional) {
			iw++;
		} else {
			cr_assert_fail("%s, expected line %zu:\n  want: %s\n  got:  %s\n(the whole output: %s)", path,
				       iw + 1, w ? w : "(end)", ig < ng ? gl[ig] : "(end)", keep);
		}
	}
	free_lines(wl, nw);
	free_lines(gl, ng);
	free(want);
	free(got);
}

/* A run of the real shim: normalized. */
static void golden(const char *name, const char *text, const char *db)
{
	golden_cmp(name, text, db, 1);
}

/* The synthetic log: exact, but for its path. */
static void golden_exact(const char *name, const char *text, const char *db)
{
	golden_cmp(name, text, db, 0);
}

/* Each line is flamegraph.pl's input: frames;separated;by;semicolons COUNT. */
static void check_folded_format(const char *text)
{
	regex_t r;
	cr_assert_eq(regcomp(&r, "^[^; ][^;]*(;[^;]+)* [0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
	char *copy = strdup(text), *save = NULL;
	int n = 0;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save), n++)
		cr_expect_eq(regexec(&r, l, 0, NULL, 0), 0, "not a folded stack line: '%s'", l);
	cr_expect_gt(n, 0, "no folded lines");
	regfree(&r);
	free(copy);
}

/* ---- the database is never modified ------------------------------------------ */

struct snap {
	struct stat st;
	char *bytes;
	size_t len;
};

static void snap_take(struct snap *s, const char *db)
{
	cr_assert_eq(stat(db, &s->st), 0);
	s->bytes = slurp(db, &s->len);
	cr_assert_not_null(s->bytes);
}

static void snap_check(struct snap *s, const char *db)
{
	struct stat now;
	cr_assert_eq(stat(db, &now), 0);
	cr_expect_eq(now.st_mtim.tv_sec, s->st.st_mtim.tv_sec, "%s: modified", db);
	cr_expect_eq(now.st_mtim.tv_nsec, s->st.st_mtim.tv_nsec, "%s: modified", db);
	size_t len;
	char *b = slurp(db, &len);
	cr_assert_not_null(b);
	cr_expect(len == s->len && memcmp(b, s->bytes, len) == 0, "%s: its bytes changed", db);
	char side[400];
	snprintf(side, sizeof side, "%s-wal", db);
	cr_expect_neq(access(side, F_OK), 0, "%s appeared", side);
	snprintf(side, sizeof side, "%s-shm", db);
	cr_expect_neq(access(side, F_OK), 0, "%s appeared", side);
	free(b);
	free(s->bytes);
}

/* sql, whose ?1 is the JSON text json, in a database of its own: a
 * statement ready to step.  json_done finalizes it and closes that. */
static sqlite3_stmt *json_query(const char *json, const char *sql)
{
	sqlite3 *h;
	cr_assert_eq(sqlite3_open(":memory:", &h), SQLITE_OK);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
	sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
	return st;
}

static void json_done(sqlite3_stmt *st)
{
	sqlite3 *h = sqlite3_db_handle(st);
	sqlite3_finalize(st);
	sqlite3_close(h);
}

/* ---- report ------------------------------------------------------------------ */

Test(report, faulter_run_matches_golden, .timeout = 120)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/faulter.db", dir);
	faulter_db(db, "2M", 0);
	struct snap s;
	snap_take(&s, db);
	struct out o;
	faultline(&o, "report", db, "--top", "2", NULL);
	cr_assert_eq(o.status, 0, "report: %d\n%s", o.status, o.err);
	golden("report-faulter.txt", o.text, db);
	out_free(&o);

	/* The JSON is valid and says the same: checked with SQLite's JSON. */
	faultline(&o, "report", db, "--format", "json", NULL);
	cr_assert_eq(o.status, 0, "report --format json: %d\n%s", o.status, o.err);
	sqlite3_stmt *st = json_query(o.text,
				       "SELECT json_valid(?1), json_extract(?1, '$.processes[0].top_stacks_by_faults[0].frames[0].name'),"
				       " json_extract(?1, '$.processes[0].top_stacks_by_faults[0].faults'),"
				       " json_extract(?1, '$.processes[0].faults_by_kind[0].name'),"
				       " json_array_length(?1, '$.processes[0].timeline.kinds.\"first-touch\"')");
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int(st, 0), 1, "report --format json is not JSON");
	cr_expect_str_eq((const char *)sqlite3_column_text(st, 1), "write_pages");
	cr_expect_eq(sqlite3_column_int(st, 2), 3000);
	cr_expect_str_eq((const char *)sqlite3_column_text(st, 3), "first-touch");
	cr_expect_eq(sqlite3_column_int(st, 4), 60);
	json_done(st);
	out_free(&o);
	snap_check(&s, db);
	remove_dir();
}

Test(report, synthetic_log_matches_golden_exactly, .timeout = 60)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/synthetic.db", dir);
	synthetic_db(db);
	struct snap s;
	snap_take(&s, db);
	struct out o;
	faultline(&o, "report", db, NULL);
	cr_assert_eq(o.status, 0, "report: %d\n%s", o.status, o.err);
	golden_exact("report-synthetic.txt", o.text, db);
	out_free(&o);
	faultline(&o, "report", db, "--format", "json", NULL);
	cr_assert_eq(o.status, 0, "report --format json: %d\n%s", o.status, o.err);
	golden_exact("report-synthetic.json", o.text, db);
	out_free(&o);
	/* A window, relative to each process's start, and one process. */
	faultline(&o, "report", db, "--pid", "4242", "--since", "1s", "--until", "1500ms", "--top", "3", NULL);
	cr_assert_eq(o.status, 0, "report --since: %d\n%s", o.status, o.err);
	golden_exact("report-synthetic-window.txt", o.text, db);
	out_free(&o);
	snap_check(&s, db);
	remove_dir();
}

/* The section of process pid in a text report (up to the next one). */
static char *proc_section(const char *text, const char *pid)
{
	char head[64];
	snprintf(head, sizeof head, "== pid %s:", pid);
	const char *a = strstr(text, head);
	cr_assert(a, "no %s in\n%s", head, text);
	const char *b = strstr(a + 1, "\n== pid ");
	return strndup(a, b ? (size_t)(b - a) : strlen(a));
}

/*
 * The spill lines, exactly, on the synthetic log with spill samples for
 * the child (pid 4250, started at +0.5 s): its pages peak at 250 in its
 * second sample, all come back by the fourth; errors and spill faults are
 * running totals, so a window counts only its own.  The other processes
 * never spilled: no line, no "spill" object.  A log made before the table
 * reports as before.
 */
Test(report, spill_lines_on_the_synthetic_log, .timeout = 60)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/spill.db", dir);
	synthetic_db(db);
	char err[256] = "";
	sqlite3 *h = fl_db_open(db, 0, err, sizeof err);
	cr_assert_not_null(h, "%s", err);
	cr_assert_eq(fl_db_exec(h,
				"UPDATE samples SET faults_spill = (t_ns - 1700000000600000000) / 200000000 * 7"
				" WHERE process = 2;"
				"INSERT INTO spill_samples(process, t_ns, spilled_pages, spilled_bytes, file_bytes, writes,"
				" write_errors, reads, read_errors) VALUES"
				" (2, 1700000000600000000, 100, 300000, 307200, 4, 0, 0, 0),"
				" (2, 1700000000800000000, 250, 760000, 786432, 9, 1, 20, 0),"
				" (2, 1700000001000000000, 180, 540000, 786432, 9, 1, 90, 0),"
				" (2, 1700000001200000000, 0, 0, 0, 9, 1, 270, 1),"
				" (2, 1700000001400000000, 0, 0, 0, 9, 2, 270, 1)",
				err, sizeof err),
		     SQLITE_OK, "%s", err);
	sqlite3_close(h);
	struct out o;
	faultline(&o, "report", db, NULL);
	cr_assert_eq(o.status, 0, "report: %d\n%s", o.status, o.err);
	char *child = proc_section(o.text, "4250");
	cr_expect(strstr(child, "\n  spilled           250 pages (1000.0 KiB) at most, at +300.0 ms: 742.2 KiB of payload;"
				" the file 768.0 KiB at most; 28 spill faults, 2 write errors, 1 read error\n"),
		  "%s", child);
	free(child);
	const char *line = strstr(o.text, "\n  spilled ");
	cr_expect(line && !strstr(line + 1, "\n  spilled "), "not one spill line:\n%s", o.text);
	out_free(&o);
	faultline(&o, "report", db, "--pid", "4250", "--since", "500ms", NULL);
	cr_assert_eq(o.status, 0, "report --since: %d\n%s", o.status, o.err);
	cr_expect(strstr(o.text, "\n  spilled           180 pages (720.0 KiB) at most, at +500.0 ms: 527.3 KiB of payload;"
				 " the file 768.0 KiB at most; 21 spill faults, 1 write error, 1 read error\n"),
		  "%s", o.text);
	out_free(&o);
	faultline(&o, "report", db, "--pid", "4250", "--since", "700ms", NULL);
	cr_assert_eq(o.status, 0, "report --since: %d\n%s", o.status, o.err);
	cr_expect(strstr(o.text, "\n  spilled           nothing held; 14 spill faults, 1 write error, 1 read error\n"),
		  "%s", o.text);
	out_free(&o);

	faultline(&o, "report", db, "--format", "json", NULL);
	cr_assert_eq(o.status, 0, "report --format json: %d\n%s", o.status, o.err);
	sqlite3_stmt *st = json_query(o.text,
				       "SELECT json_extract(value, '$.summary.spill') FROM json_each(?1, '$.processes')"
				       " ORDER BY json_extract(value, '$.pid')");
	const char *want[] = {NULL,
			      "{\"samples\":5,\"max_spilled_pages\":250,\"max_spilled_t_ns\":1700000000800000000,"
			      "\"spilled_bytes_then\":760000,\"max_file_bytes\":786432,\"spill_faults\":28,"
			      "\"write_errors\":2,\"read_errors\":1}",
			      NULL};
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "process %d of the JSON", i);
		const char *got = (const char *)sqlite3_column_text(st, 0);
		if (want[i])
			cr_expect_str_eq(got ? got : "(none)", want[i]);
		else
			cr_expect_null(got, "process %d has a spill object: %s", i, got);
	}
	json_done(st);
	out_free(&o);

	/* A log made before spill_samples. */
	cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h, "DROP TABLE spill_samples", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	faultline(&o, "report", db, NULL);
	cr_assert_eq(o.status, 0, "report: %d\n%s", o.status, o.err);
	cr_expect_null(strstr(o.text, "spilled"), "%s", o.text);
	out_free(&o);
	remove_dir();
}

/*
 * A real run that spills and one that does not, in one log: spiller's
 * section says how much was spilled (nonzero bytes, spill faults, no
 * errors), faulter's has no spill line, and JSON has the same figures.
 */
Test(report, a_program_that_spilled_and_one_that_did_not, .timeout = 180)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/spill.db", dir);
	spiller_db(db, "4096");
	faulter_db(db, "64M", 0);
	struct out o;
	faultline(&o, "report", db, NULL);
	cr_assert_eq(o.status, 0, "report: %d\n%s", o.status, o.err);
	const char *sp = strstr(o.text, "spiller");
	const char *fa = strstr(o.text, "faulter");
	cr_assert(sp && fa, "%s", o.text);
	const char *line = strstr(o.text, "\n  spilled           ");
	cr_assert(line, "no spill line:\n%s", o.text);
	cr_expect(line > sp && line < fa, "the spill line is not spiller's:\n%s", o.text);
	cr_expect_null(strstr(line + 1, "\n  spilled "), "two spill lines:\n%s", o.text);
	long long pages = 0, faults = 0;
	char payload[32] = "", unit[8] = "";
	cr_expect_eq(sscanf(line, "\n  spilled %lld pages (%*[^)]) at most, at %*s %*s %31[0-9.] %7s of payload", &pages,
			    payload, unit),
		     3, "%s", line);
	cr_expect_gt(pages, 256, "%s", line);
	cr_expect(atof(payload) > 0 && strstr(unit, "B"), "%s", line);
	const char *f = strstr(line, "; the file ");
	cr_expect(f && strstr(f, " at most; "), "%s", line);
	const char *sf = f ? strstr(f, " at most; ") : NULL;
	cr_expect(sf && sscanf(sf, " at most; %lld spill fault", &faults) == 1 && faults > 0, "%s", line);
	cr_expect(strstr(line, ", no I/O errors\n"), "%s", line);
	out_free(&o);

	faultline(&o, "report", db, "--format", "json", NULL);
	cr_assert_eq(o.status, 0, "report --format json: %d\n%s", o.status, o.err);
	sqlite3_stmt *st = json_query(o.text,
				       "SELECT json_extract(value, '$.exe'), json_extract(value, '$.summary.spill.max_spilled_pages'),"
				       " json_extract(value, '$.summary.spill.spilled_bytes_then'),"
				       " json_extract(value, '$.summary.spill.max_file_bytes'),"
				       " json_extract(value, '$.summary.spill.spill_faults'),"
				       " json_extract(value, '$.summary.spill.write_errors') + json_extract(value, '$.summary.spill.read_errors')"
				       " FROM json_each(?1, '$.processes')");
	int seen = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *exe = (const char *)sqlite3_column_text(st, 0);
		if (exe && strstr(exe, "spiller")) {
			seen |= 1;
			cr_expect_eq(sqlite3_column_int64(st, 1), pages);
			cr_expect_gt(sqlite3_column_int64(st, 2), 0);
			cr_expect_geq(sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 2));
			cr_expect_eq(sqlite3_column_int64(st, 4), faults);
			cr_expect_eq(sqlite3_column_int64(st, 5), 0);
		} else if (exe && strstr(exe, "faulter")) {
			seen |= 2;
			cr_expect_eq(sqlite3_column_type(st, 1), SQLITE_NULL, "faulter has a spill object");
		}
	}
	json_done(st);
	cr_expect_eq(seen, 3, "%s", o.text);
	out_free(&o);
	remove_dir();
}

Test(report, forked_child_and_the_pages_fork_copied, .timeout = 120)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/fork.db", dir);
	faulter_db(db, "64M", 1);
	struct out o;
	faultline(&o, "report", db, NULL);
	cr_assert_eq(o.status, 0, "report: %d\n%s", o.status, o.err);
	const char *sec = strstr(o.text, "what fork copied");
	cr_assert(sec, "no fork section:\n%s", o.text);
	/* faulter forks before its own mapping: what the parent writes after
	 * the fork in memory it had then (the allocator's, at least in its
	 * fork handlers) is copied, and each copy is a logged fault. */
	cr_expect(strstr(sec, "(this process): "), "%s", sec);
	cr_expect(strstr(sec, "postfork"), "no copy by the allocator's fork handler:\n%s", sec);
	cr_expect(!strstr(sec, "no COW faults logged for pid"), "%s", sec);
	cr_expect(strstr(o.text, "children: pid"), "%s", o.text);
	cr_expect(strstr(o.text, "parent: pid"), "%s", o.text);
	out_free(&o);
	remove_dir();
}

/* ---- query ------------------------------------------------------------------- */

Test(query, faulter_run_views_match_golden, .timeout = 120)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/faulter.db", dir);
	faulter_db(db, "2M", 0);
	struct snap s;
	snap_take(&s, db);
	struct out o;
	faultline(&o, "query", db,
		  "SELECT stack, faults, pages, writes, kinds, function, file, line FROM stack_totals"
		  " WHERE function IN ('write_pages', 'read_pages') ORDER BY stack;"
		  "SELECT function, line, kind, count(*) AS faults, sum(pages) AS pages FROM fault_log"
		  " WHERE function IS NOT NULL AND function IN ('write_pages', 'read_pages') GROUP BY 1, 2, 3 ORDER BY 1, 3;"
		  "SELECT how, exit_status, engine, budget_bytes, faults = first_touch + soft + decompress + same_filled"
		  " + spill + write_protect AS kinds_add_up, children FROM process_summary",
		  NULL);
	cr_assert_eq(o.status, 0, "query: %d\n%s", o.status, o.err);
	golden("query-faulter.txt", o.text, db);
	out_free(&o);
	snap_check(&s, db);
	remove_dir();
}

Test(query, synthetic_log_table_csv_json_match_golden, .timeout = 60)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/synthetic.db", dir);
	synthetic_db(db);
	struct snap s;
	snap_take(&s, db);
	static const char sql[] =
		"SELECT pid, exe, how, exit_status, duration_ns, faults, first_touch, soft, decompress, same_filled,"
		" write_protect, peak_resident_pages, peak_compressed_pages, pressure_max, samples, dropped_events,"
		" children FROM process_summary ORDER BY process;"
		"SELECT pid, stack, faults, pages, time_ns, kinds, function, file, line, folded FROM stack_totals"
		" ORDER BY process, stack";
	struct out o;
	faultline(&o, "query", db, sql, NULL);
	cr_assert_eq(o.status, 0, "query: %d\n%s", o.status, o.err);
	golden_exact("query-synthetic.txt", o.text, NULL);
	out_free(&o);
	faultline(&o, "query", db, "--format", "csv", sql, NULL);
	cr_assert_eq(o.status, 0, "query --format csv: %d\n%s", o.status, o.err);
	golden_exact("query-synthetic.csv", o.text, NULL);
	out_free(&o);
	faultline(&o, "query", db,
		  "SELECT id, pid, t_rel_ns, time, kind, pages, latency_ns, write, stack, function, file, line"
		  " FROM fault_log WHERE process = :p ORDER BY id LIMIT 3",
		  "--param", "p=3", "--format", "json", NULL);
	cr_assert_eq(o.status, 0, "query --format json: %d\n%s", o.status, o.err);
	golden_exact("query-synthetic.json", o.text, NULL);
	out_free(&o);
	snap_check(&s, db);
	remove_dir();
}

/* The alloc_sites view over the synthetic allocs rows: every column, exactly
 * (the estimates scale each sample by weight / size; the sample counted at
 * an earlier peak is not in the peak's bytes), and its folded export. */
Test(query, alloc_sites_view_on_the_synthetic_log_exactly, .timeout = 60)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/syn.db", dir);
	synthetic_db(db);
	struct out o;
	faultline(&o, "query", db, "SELECT * FROM alloc_sites ORDER BY process, stack", "--format", "csv", NULL);
	cr_assert_eq(o.status, 0, "query: %d\n%s", o.status, o.err);
	golden_exact("query-synthetic-alloc_sites.csv", o.text, NULL);
	out_free(&o);
	/* Each fault's allocation, by address and time: the counts the
	 * allocs rows were charged with. */
	faultline(&o, "query", db,
		  "SELECT pid, coalesce(alloc_id, 'none') AS alloc, alloc_kind, alloc_function, count(*) AS faults,"
		  " sum(pages) AS pages FROM fault_allocs GROUP BY pid, alloc_id ORDER BY pid, alloc_id",
		  "--format", "csv", NULL);
	cr_assert_eq(o.status, 0, "query: %d\n%s", o.status, o.err);
	golden_exact("query-synthetic-fault_allocs.csv", o.text, NULL);
	out_free(&o);
	faultline(&o, "query", db,
		  "SELECT count(*) AS differ FROM allocs a WHERE a.alloc_id <> 0 AND a.faults <>"
		  " (SELECT count(*) FROM fault_allocs f WHERE f.process = a.process AND f.alloc_id = a.alloc_id)",
		  "--format", "csv", NULL);
	cr_assert_eq(o.status, 0, "query: %d\n%s", o.status, o.err);
	cr_expect_str_eq(o.text, "differ\r\n0\r\n", "an allocs row charged differently from fault_allocs");
	out_free(&o);
	faultline(&o, "export", db, "--folded", "--by", "alloc", NULL);
	cr_assert_eq(o.status, 0, "export --by alloc: %d\n%s", o.status, o.err);
	check_folded_format(o.text);
	golden_exact("export-synthetic-alloc.folded", o.text, NULL);
	out_free(&o);
	faultline(&o, "export", db, "--folded", "--by", "alloc", "--weight", "bytes", "--per-process", NULL);
	cr_assert_eq(o.status, 0, "export --by alloc --weight bytes: %d\n%s", o.status, o.err);
	cr_expect(strstr(o.text, "demo[4242];__libc_start_main;main;make_table 16777216\n"), "%s", o.text);
	cr_expect(strstr(o.text, "demo[4242];main;read_input 1572864\n"), "%s", o.text);
	out_free(&o);
	remove_dir();
}

Test(query, views_on_a_database_made_before_them, .timeout = 60)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/old.db", dir);
	synthetic_db(db);
	sqlite3 *h;
	cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h,
				  "DROP VIEW fault_log; DROP VIEW stack_totals; DROP VIEW process_summary;"
				  " DROP VIEW stack_frames; DROP VIEW alloc_sites; DROP VIEW fault_allocs;"
				  " DROP TABLE allocs;"
				  " PRAGMA journal_mode=DELETE",
				  NULL, NULL, NULL),
		     SQLITE_OK);
	sqlite3_close(h);
	struct snap s;
	snap_take(&s, db);
	struct out o;
	faultline(&o, "query", db,
		  "SELECT pid, faults, pressure_max FROM process_summary ORDER BY pid;"
		  " SELECT count(*) FROM fault_log; SELECT count(*) FROM stack_frames;"
		  " SELECT count(*) AS views_in_the_file FROM main.sqlite_master WHERE type = 'view'",
		  NULL);
	cr_assert_eq(o.status, 0, "query: %d\n%s", o.status, o.err);
	golden_exact("query-old-database.txt", o.text, NULL);
	out_free(&o);
	snap_check(&s, db);
	remove_dir();
}

Test(query, writes_are_refused_and_nothing_runs, .timeout = 60)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/synthetic.db", dir);
	synthetic_db(db);
	struct snap s;
	snap_take(&s, db);
	static const char *writes[] = {
		"DELETE FROM faults",
		"SELECT 1; UPDATE processes SET pid = 1",
		"CREATE INDEX faults_kind ON faults(kind)",
		"DROP VIEW fault_log",
		"VACUUM",
		"PRAGMA user_version = 7",
		"CREATE TEMP TABLE scratch(x)",
		"INSERT INTO meta VALUES ('x', 'y')",
	};
	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
		struct out o;
		faultline(&o, "query", db, writes[i], NULL);
		cr_expect_eq(o.status, 1, "%s: status %d", writes[i], o.status);
		cr_expect(strstr(o.err, "refused") && strstr(o.err, "would write"), "%s: %s", writes[i], o.err);
		cr_expect_str_eq(o.text, "", "%s printed: %s", writes[i], o.text);
		out_free(&o);
	}
	snap_check(&s, db);
	remove_dir();
}

/* ---- export ------------------------------------------------------------------ */

Test(export, faulter_run_folded_matches_golden_and_flamegraph_format, .timeout = 120)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/faulter.db", dir);
	/* No eviction: every stack then faults the same number of times each run. */
	faulter_db(db, "64M", 0);
	struct snap s;
	snap_take(&s, db);
	struct out o;
	faultline(&o, "export", db, "--folded", NULL);
	cr_assert_eq(o.status, 0, "export --folded: %d\n%s", o.status, o.err);
	check_folded_format(o.text);
	golden("export-faulter.folded", o.text, db);
	out_free(&o);
	faultline(&o, "export", db, "--folded", "--weight", "time", "--per-process", NULL);
	cr_assert_eq(o.status, 0, "export --folded --weight time: %d\n%s", o.status, o.err);
	check_folded_format(o.text);
	cr_expect(strstr(o.text, "faulter["), "no per-process root frame:\n%s", o.text);
	out_free(&o);
	snap_check(&s, db);
	remove_dir();
}

Test(export, synthetic_log_folded_and_csv_match_golden, .timeout = 60)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/synthetic.db", dir);
	synthetic_db(db);
	struct snap s;
	snap_take(&s, db);
	struct out o;
	faultline(&o, "export", db, "--folded", NULL);
	cr_assert_eq(o.status, 0, "export --folded: %d\n%s", o.status, o.err);
	check_folded_format(o.text);
	golden_exact("export-synthetic.folded", o.text, NULL);
	out_free(&o);
	faultline(&o, "export", db, "--folded", "--weight", "time", "--pid", "4242", "--per-process", NULL);
	cr_assert_eq(o.status, 0, "export --folded --weight time: %d\n%s", o.status, o.err);
	check_folded_format(o.text);
	golden_exact("export-synthetic-time.folded", o.text, NULL);
	out_free(&o);
	faultline(&o, "export", db, "--csv", "stack_totals", NULL);
	cr_assert_eq(o.status, 0, "export --csv: %d\n%s", o.status, o.err);
	golden_exact("export-synthetic-stack_totals.csv", o.text, NULL);
	out_free(&o);
	faultline(&o, "export", db, "--csv", "regions", "--pid", "4250", NULL);
	cr_assert_eq(o.status, 0, "export --csv regions --pid: %d\n%s", o.status, o.err);
	golden_exact("export-synthetic-regions.csv", o.text, NULL);
	out_free(&o);
	snap_check(&s, db);
	remove_dir();
}

/* ---- bad input: one clear message each, non-zero exit, nothing printed ---- */

static void expect_refusal(const char *cmd, const char *db, const char *arg, const char *says)
{
	struct out o;
	if (!strcmp(cmd, "query"))
		faultline(&o, "query", db, arg ? arg : "SELECT 1", NULL);
	else if (!strcmp(cmd, "export"))
		faultline(&o, "export", db, arg ? "--csv" : "--folded", arg, NULL);
	else
		faultline(&o, "report", db, NULL);
	cr_expect_eq(o.status, 1, "%s %s: status %d (%s)", cmd, db, o.status, o.err);
	cr_expect(strstr(o.err, says), "%s %s: said '%s', not '%s'", cmd, db, o.err, says);
	/* One line, naming the command. */
	cr_expect(!strncmp(o.err, "faultline ", 10) && strchr(o.err, '\n') == o.err + strlen(o.err) - 1,
		  "%s: not one line: '%s'", cmd, o.err);
	cr_expect_str_eq(o.text, "", "%s %s printed: %s", cmd, db, o.text);
	out_free(&o);
}

static void bad_input(const char *cmd)
{
	make_dir();
	char path[320];
	snprintf(path, sizeof path, "%s/missing.db", dir);
	expect_refusal(cmd, path, NULL, "no such file");

	snprintf(path, sizeof path, "%s/text.db", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("this is not a database, it is text long enough to have a header\n", f);
	fclose(f);
	expect_refusal(cmd, path, NULL, "not an SQLite database");

	snprintf(path, sizeof path, "%s/empty.db", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	expect_refusal(cmd, path, NULL, "empty");

	expect_refusal(cmd, dir, NULL, "is a directory");

	snprintf(path, sizeof path, "%s/other.db", dir);
	sqlite3 *h;
	cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h, "CREATE TABLE recipes(name TEXT)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	expect_refusal(cmd, path, NULL, "not a fault log");

	snprintf(path, sizeof path, "%s/nometa.db", dir);
	cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h, "CREATE TABLE meta(key TEXT, value TEXT)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	expect_refusal(cmd, path, NULL, "not a fault log");

	snprintf(path, sizeof path, "%s/newer.db", dir);
	synthetic_db(path);
	cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h, "UPDATE meta SET value = '2' WHERE key = 'schema_version'", NULL, NULL, NULL),
		     SQLITE_OK);
	sqlite3_close(h);
	struct snap s;
	snap_take(&s, path);
	expect_refusal(cmd, path, NULL, "schema version 2, newer than this faultline reads (1)");
	snap_check(&s, path);
	remove_dir();
}

Test(report, bad_input_is_refused_clearly, .timeout = 60)
{
	bad_input("report");
}

Test(query, bad_input_is_refused_clearly, .timeout = 60)
{
	bad_input("query");
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/synthetic.db", dir);
	synthetic_db(db);
	expect_refusal("query", db, "SELEC pid FROM processes", "SQL error: near \"SELEC\": syntax error");
	expect_refusal("query", db, "SELECT nope FROM processes", "SQL error: no such column: nope");
	expect_refusal("query", db, "SELECT * FROM no_such_view", "SQL error: no such table: no_such_view");
	expect_refusal("query", db, "  ;  -- nothing", "no SQL statement given");
	remove_dir();
}

Test(export, bad_input_is_refused_clearly, .timeout = 60)
{
	bad_input("export");
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/synthetic.db", dir);
	synthetic_db(db);
	expect_refusal("export", db, "no_such_view", "has no table or view named 'no_such_view'");
	expect_refusal("export", db, "sqlite_master", "has no table or view named 'sqlite_master'");
	remove_dir();
}

Test(export, usage_errors_exit_2, .timeout = 60)
{
	make_dir();
	static const char *const cases[][4] = {
		{"export", NULL},
		{"export", "--folded", "--csv", "faults"},
		{"export", "--folded", "--weight", "bytes"},
		{"report", "--format", "xml", NULL},
		{"report", "--since", "yesterday", NULL},
		{"query", NULL},
		{"query", "--format", "yaml", "SELECT 1"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct out o;
		faultline(&o, cases[i][0], cases[i][1], cases[i][1] ? cases[i][2] : NULL,
			  cases[i][1] && cases[i][2] ? cases[i][3] : NULL, NULL);
		cr_expect_eq(o.status, 2, "faultline %s %s: status %d (%s)", cases[i][0], cases[i][1] ? cases[i][1] : "",
			     o.status, o.err);
		cr_expect_neq(o.err[0], 0, "faultline %s: no message", cases[i][0]);
		out_free(&o);
	}
	remove_dir();
}

Test(query, every_value_type_in_each_format, .timeout = 60)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/synthetic.db", dir);
	synthetic_db(db);
	static const char sql[] = "SELECT x'00ff' AS b, x'' AS e, 1.5 AS f, NULL AS n, -7 AS i, 'a,\"b\"' AS s,"
				  " 'two\nlines' AS t, 'é' AS u";
	struct out o;
	faultline(&o, "query", db, sql, NULL);
	cr_assert_eq(o.status, 0, "%s", o.err);
	cr_expect_str_eq(o.text, "b        e      f  n   i  s      t          u\n"
				 "-------  ---  ---  -  --  -----  ---------  -\n"
				 "x'00ff'  x''  1.5     -7  a,\"b\"  two lines  é\n");
	out_free(&o);
	faultline(&o, "query", db, "--format=csv", sql, NULL);
	cr_assert_eq(o.status, 0, "%s", o.err);
	cr_expect_str_eq(o.text, "b,e,f,n,i,s,t,u\r\n00ff,,1.5,,-7,\"a,\"\"b\"\"\",\"two\nlines\",é\r\n");
	out_free(&o);
	faultline(&o, "query", db, "--format", "json", sql, NULL);
	cr_assert_eq(o.status, 0, "%s", o.err);
	cr_expect_str_eq(o.text, "[\n  {\n    \"b\": \"00ff\",\n    \"e\": \"\",\n    \"f\": 1.5,\n    \"n\": null,\n"
				 "    \"i\": -7,\n    \"s\": \"a,\\\"b\\\"\",\n    \"t\": \"two\\nlines\",\n    \"u\": \"é\"\n"
				 "  }\n]\n");
	out_free(&o);
	/* No rows: the header alone; JSON an empty array. */
	faultline(&o, "query", db, "--format", "json", "SELECT 1 AS x WHERE 0", NULL);
	cr_expect_str_eq(o.text, "[]\n");
	out_free(&o);
	faultline(&o, "query", db, "SELECT 1 AS x WHERE 0", NULL);
	cr_expect_str_eq(o.text, "x\n-\n");
	out_free(&o);
	remove_dir();
}

/* A log with rows no daemon writes (damaged, or from a buggy one): never a crash. */
Test(report, odd_rows_are_reported_not_crashed_on, .timeout = 60)
{
	make_dir();
	char db[320];
	snprintf(db, sizeof db, "%s/odd.db", dir);
	synthetic_db(db);
	sqlite3 *h;
	cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h,
				  "PRAGMA ignore_check_constraints = 1;"
				  "UPDATE faults SET kind = 99 WHERE id % 7 = 0;"
				  "UPDATE faults SET kind = -1 WHERE id % 11 = 0;"
				  "UPDATE faults SET stack = 12345 WHERE id % 13 = 0;"
				  "UPDATE faults SET t_ns = 0 WHERE id % 17 = 0;"
				  "UPDATE faults SET pages = -5, latency_ns = -1 WHERE id % 19 = 0;"
				  "UPDATE processes SET argv = 'not json [', page_size = 0 WHERE id = 1;"
				  "UPDATE processes SET end_ns = start_ns - 1000 WHERE id = 2;"
				  "UPDATE processes SET how = 'weird', exit_status = 300 WHERE id = 3;"
				  "UPDATE samples SET pressure = 'BOGUS' WHERE id % 3 = 0;"
				  "UPDATE frames SET function = NULL, file = NULL, module = 999 WHERE id % 2 = 0;"
				  "UPDATE frames SET function = 'a;b c' WHERE id = 1;"
				  "INSERT INTO fault_kinds VALUES (12, 'made-up');"
				  "INSERT INTO fault_spans(process, first_id, last_id, t_min, t_max, faults)"
				  " VALUES (1, 999999, 999990, 0, 0, -9), (7, 1, 10, 0, 0, 10);"
				  "INSERT INTO regions VALUES (99, 1, 42, 0, -4096, 99, 'x', 0, NULL);"
				  "INSERT INTO processes(pid, ppid, exe, argv, engine, compressor, compressor_level,"
				  " budget_bytes, page_size, stacks_every, start_ns, start_mono_ns, how)"
				  " VALUES (77, 1, '', '[]', 'off', 'lz4', 1, 0, 4096, 0, 0, 0, 'running');",
				  NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(h));
	sqlite3_close(h);
	static const char *const cases[][6] = {
		{"report", NULL},
		{"report", "--format", "json", NULL},
		{"report", "--since", "0", "--until", "@0", NULL},
		{"report", "--since", "@1700000000.5", NULL},
		{"export", "--folded", NULL},
		{"export", "--folded", "--per-process", "--weight", "time", NULL},
		{"export", "--csv", "fault_log", NULL},
		{"query", "SELECT * FROM process_summary; SELECT * FROM stack_totals; SELECT * FROM stack_frames", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct out o;
		faultline(&o, cases[i][0], db, cases[i][1], cases[i][1] ? cases[i][2] : NULL,
			  cases[i][1] && cases[i][2] ? cases[i][3] : NULL,
			  cases[i][1] && cases[i][2] && cases[i][3] ? cases[i][4] : NULL, NULL);
		cr_expect(o.status == 0 || o.status == 1, "faultline %s %s: status %d\n%s", cases[i][0],
			  cases[i][1] ? cases[i][1] : "", o.status, o.err);
		out_free(&o);
	}
	remove_dir();
}

/* A log no process has reached yet: an answer, not an error; a pid it lacks is one. */
Test(report, empty_log_and_unknown_pid, .timeout = 60)
{
	make_dir();
	char db[320], err[256];
	snprintf(db, sizeof db, "%s/empty.db", dir);
	sqlite3 *h = fl_db_open(db, 0, err, sizeof err);
	cr_assert_not_null(h, "%s", err);
	sqlite3_close(h);
	struct out o;
	faultline(&o, "report", db, NULL);
	cr_expect_eq(o.status, 0, "%s", o.err);
	cr_expect(strstr(o.text, ", 0 processes") && strstr(o.text, "no process has said hello"), "%s", o.text);
	out_free(&o);
	faultline(&o, "export", db, "--folded", NULL);
	cr_expect_eq(o.status, 0, "%s", o.err);
	cr_expect_str_eq(o.text, "");
	cr_expect(strstr(o.err, "no faults logged"), "%s", o.err);
	out_free(&o);
	synthetic_db(strcat(db, "2"));
	faultline(&o, "report", db, "--pid", "99999", NULL);
	cr_expect_eq(o.status, 1);
	cr_expect(strstr(o.err, "no process with that pid"), "%s", o.err);
	out_free(&o);
	faultline(&o, "report", db, "--since", "@1", "--until", "@2", NULL);
	cr_expect_eq(o.status, 1);
	cr_expect(strstr(o.err, "no process in that window"), "%s", o.err);
	out_free(&o);
	remove_dir();
}
