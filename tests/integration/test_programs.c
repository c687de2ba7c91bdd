/*
 * Real programs through `faultline run`, byte-identical with and without
 * the shim.  Each program runs once plainly, which measures its peak RSS
 * (wait4's ru_maxrss, the largest process of the tree), then under the
 * shim with the budget at 50% and at 25% of that figure.  The outputs are
 * compared byte for byte, and each run's summary (FAULTLINE_SUMMARY) must
 * show no internal errors; at 25% the main process must have evicted.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runprog.h"
#include "wait.h"

#define LAUNCHER "build/bin/faultline"

/* 0 when the two files have the same bytes; else the first differing offset + 1. */
static long long differ(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	cr_assert(fa && fb);
	static char ba[1 << 16], bb[1 << 16];
	long long off = 0, result = 0;
	for (;;) {
		size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
		size_t m = na < nb ? na : nb;
		if (memcmp(ba, bb, m)) {
			size_t i = 0;
			while (ba[i] == bb[i])
				i++;
			result = off + (long long)i + 1;
			break;
		}
		if (na != nb) {
			result = off + (long long)m + 1;
			break;
		}
		if (na == 0)
			break;
		off += (long long)na;
	}
	fclose(fa);
	fclose(fb);
	return result;
}

static off_t file_size(const char *p)
{
	struct stat s;
	return stat(p, &s) == 0 ? s.st_size : -1;
}

/* The largest figure for key across every process's block. */
static long long summary_max(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[256];
	long long best = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && line[kl] == '=') {
			long long v = strtoll(line + kl + 1, NULL, 10);
			if (v > best)
				best = v;
		}
	fclose(f);
	return best;
}

static char workdir[64];

static void make_workdir(void)
{
	/* The programs run without sanitizers either way; the slow tier
	 * (whose harness is built with ASan) would only repeat them. */
	const char *tier = getenv("FL_TEST_TIER");
	if (tier && !strcmp(tier, "slow"))
		cr_skip_test("real programs run in the quick tier only");
	snprintf(workdir, sizeof workdir, "/tmp/fl-prog-XXXXXX");
	cr_assert_not_null(mkdtemp(workdir));
}

static void remove_workdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
	cr_expect_eq(system(cmd), 0);
}

/*
 * Run argv plainly, then under the shim at 50% and 25% of the measured
 * peak RSS; stdout must be identical.  fresh: a path removed before each
 * run (a database the program creates).  heap: the program keeps its
 * working memory in the heap or anonymous mappings, so 25% of its peak
 * must evict (gzip's buffers are static, in .bss, which the shim leaves
 * to the kernel).
 */
static void same_under_budgets(const char *what, char *const argv[], const char *in, const char *fresh,
			       int heap)
{
	char plain[128], under[128], sum[128];
	snprintf(plain, sizeof plain, "%s/plain.out", workdir);
	snprintf(under, sizeof under, "%s/under.out", workdir);
	snprintf(sum, sizeof sum, "%s/summary", workdir);
	static struct run_result r;
	if (fresh)
		unlink(fresh);
	run_to(argv, in, plain, NULL, &r);
	cr_assert_eq(r.status, 0, "%s (plain) failed with %d: %s", what, r.status, r.err);
	cr_assert_gt(file_size(plain), 0, "%s printed nothing", what);
	long peak_kb = r.maxrss_kb;
	cr_assert_gt(peak_kb, 0);

	static const int pct[] = {50, 25};
	for (size_t p = 0; p < 2; p++) {
		long budget_kb = peak_kb * pct[p] / 100;
		char budget[32], env_sum[160];
		snprintf(budget, sizeof budget, "%ldK", budget_kb);
		snprintf(env_sum, sizeof env_sum, "FAULTLINE_SUMMARY=%s", sum);
		char *env[] = {env_sum, NULL};
		char *full[64] = {LAUNCHER, "run", "--budget", budget, "--"};
		size_t n = 5;
		for (size_t i = 0; argv[i] && n < 63; i++)
			full[n++] = argv[i];
		full[n] = NULL;
		unlink(sum);
		if (fresh)
			unlink(fresh);
		run_to(full, in, under, env, &r);
		cr_assert_eq(r.status, 0, "%s under a %s budget (%d%% of %ld KiB) failed with %d: %s", what,
			     budget, pct[p], peak_kb, r.status, r.err);
		long long d = differ(plain, under);
		cr_expect_eq(d, 0, "%s under a %s budget: output differs at byte %lld", what, budget, d - 1);
		cr_expect(strstr(r.err, "faultline:   engine") != NULL, "%s: no launcher summary: %s", what, r.err);
		cr_expect_eq(summary_max(sum, "errors"), 0, "%s at %d%%: the shim reported errors: %s", what,
			     pct[p], r.err);
		cr_expect_gt(summary_max(sum, "managed"), 0, "%s at %d%%: nothing was managed", what, pct[p]);
		if (pct[p] == 25 && heap)
			cr_expect_gt(summary_max(sum, "evicted"), 0,
				     "%s at 25%% of its peak RSS evicted nothing: %s", what, r.err);
		fprintf(stderr, "programs: %s: peak RSS %ld KiB, budget %s, evicted %lld, same output\n", what,
			peak_kb, budget, summary_max(sum, "evicted"));
	}
	unlink(plain);
	unlink(under);
	unlink(sum);
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Text lines with some redundancy, like a log or a table dump. */
static off_t make_text(const char *path, off_t bytes)
{
	static const char *w[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
				  "hotel", "india", "juliet", "kilo", "lima", "mike", "november"};
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	static char buf[1 << 16];
	setvbuf(f, buf, _IOFBF, sizeof buf);
	off_t n = 0;
	while (n < bytes) {
		uint64_t x = next();
		n += fprintf(f, "%08llx %s %s %llu\n", (unsigned long long)(x >> 32), w[x % 14],
			     w[(x >> 8) % 14], (unsigned long long)(x & 0xfffff));
	}
	cr_assert_eq(fclose(f), 0);
	return n;
}

static const char *python3(void)
{
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

TestSuite(programs, .init = make_workdir, .fini = remove_workdir, .timeout = 900);

static const char *pyscript =
	"import gc, hashlib\n"
	"d = {}\n"
	"for i in range(150000):\n"
	"    d['k%d' % i] = [i, str(i) * 3, (i, i * 2)]\n"
	"lst = [('x' * (i % 50)) + str(i) for i in range(200000)]\n"
	"class N:\n"
	"    def __init__(s, v): s.v = v; s.me = s\n"
	"nodes = [N(i) for i in range(50000)]\n"
	"del nodes\n"
	"gc.collect()\n"
	"h = hashlib.sha256()\n"
	"for k in sorted(d)[::97]:\n"
	"    h.update(repr(d[k]).encode())\n"
	"for s in lst[::89]:\n"
	"    h.update(s.encode())\n"
	"print(len(d), len(lst), h.hexdigest())\n";

Test(programs, python3_dicts_lists_strings_gc)
{
	char *argv[] = {(char *)python3(), "-c", (char *)pyscript, NULL};
	same_under_budgets("python3", argv, NULL, NULL, 1);
}

/* Workers forked from a parent holding 400k tuples (its heap shared with
 * them copy-on-write; their reference counts write to it), each hashing
 * its share: at 25% of the peak every fork brings the parent's evicted
 * pages back first, and the children's writes are copies. */
static const char *pymp =
	"import multiprocessing as mp, hashlib\n"
	"data = [('k%d' % i, i, str(i) * 4) for i in range(400000)]\n"
	"def work(k):\n"
	"    h = hashlib.sha256()\n"
	"    for t in data[k::8]:\n"
	"        h.update(t[2].encode())\n"
	"    return h.hexdigest()\n"
	"if __name__ == '__main__':\n"
	"    mp.set_start_method('fork')\n"
	"    with mp.Pool(2) as p:\n"
	"        print('\\n'.join(p.map(work, range(8))))\n";

Test(programs, python3_multiprocessing_fork)
{
	char *argv[] = {(char *)python3(), "-c", (char *)pymp, NULL};
	same_under_budgets("python3 multiprocessing (fork)", argv, NULL, NULL, 1);
}

/* Runtimes that reserve address space and commit it later: V8's
 * mprotect commits and the JVM's MAP_FIXED ones (tests/progs/reserver). */
Test(programs, reserved_then_committed_memory)
{
	char *argv[] = {"build/tests/progs/reserver", NULL};
	same_under_budgets("reserver", argv, NULL, NULL, 1);
}

/* node: V8's heap is committed piece by piece inside PROT_NONE
 * reservations; it builds, sorts and serializes 300k objects. */
static const char *nodejs =
	"const a = [];\n"
	"for (let i = 0; i < 300000; i++) a.push({k: 'key' + i, v: i * 2, s: String(i).repeat(3)});\n"
	"a.sort((x, y) => (x.s < y.s ? -1 : x.s > y.s ? 1 : 0));\n"
	"const json = JSON.stringify(a.slice(0, 100000));\n"
	"const h = require('crypto').createHash('sha256').update(json).digest('hex');\n"
	"console.log(a.length, json.length, h);\n";

Test(programs, node_objects_sorted_and_serialized)
{
	if (access("/usr/bin/node", X_OK) != 0)
		cr_skip_test("no /usr/bin/node (scripts/setup.sh installs Debian's nodejs)");
	char *argv[] = {"/usr/bin/node", "-e", (char *)nodejs, NULL};
	same_under_budgets("node", argv, NULL, NULL, 1);
}

Test(programs, sort_100mb)
{
	char in[128];
	snprintf(in, sizeof in, "%s/lines.txt", workdir);
	off_t n = make_text(in, 100ll << 20);
	cr_assert_geq(n, 100ll << 20);
	char *argv[] = {"env", "LC_ALL=C", "sort", in, NULL};
	same_under_budgets("sort of 100 MiB", argv, NULL, NULL, 1);
}

Test(programs, gzip_gunzip_round_trip)
{
	char in[128], gz[128];
	snprintf(in, sizeof in, "%s/text", workdir);
	snprintf(gz, sizeof gz, "%s/text.gz", workdir);
	make_text(in, 24ll << 20);
	char *zip[] = {"gzip", "-6", "-c", in, NULL};
	same_under_budgets("gzip", zip, NULL, NULL, 0);
	/* The compressed file for the other direction, made plainly. */
	static struct run_result r;
	run_to(zip, NULL, gz, NULL, &r);
	cr_assert_eq(r.status, 0);
	char *unzip[] = {"gunzip", "-c", gz, NULL};
	same_under_budgets("gunzip", unzip, NULL, NULL, 0);
	/* And the round trip gives the original back. */
	char back[128];
	snprintf(back, sizeof back, "%s/back", workdir);
	char *env[] = {preload_env(), "FAULTLINE_BUDGET=1M", NULL};
	run_to(unzip, NULL, back, env, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_eq(differ(in, back), 0);
}

Test(programs, sqlite3_build_and_query)
{
	if (access("/usr/bin/sqlite3", X_OK) != 0)
		cr_assert_fail("sqlite3 is not installed (scripts/setup.sh installs it)");
	char db[128], sql[128];
	snprintf(db, sizeof db, "%s/t.db", workdir);
	snprintf(sql, sizeof sql, "%s/script.sql", workdir);
	FILE *f = fopen(sql, "w");
	cr_assert_not_null(f);
	fputs("pragma cache_size = -65536;\n"
	      "create table t(a integer primary key, b text, c real);\n"
	      "with recursive c(x) as (select 1 union all select x + 1 from c where x < 300000)\n"
	      "  insert into t select x, printf('%08d-%d', (x * 7919) % 1000003, x), x * 0.5 from c;\n"
	      "create index tb on t(b);\n"
	      "select count(*), sum(a), max(b), min(b), avg(c) from t where a % 3 = 0;\n"
	      "select b from t order by b desc limit 5;\n"
	      "select substr(b, 1, 2) k, count(*) from t group by k order by k limit 10;\n",
	      f);
	cr_assert_eq(fclose(f), 0);
	char *argv[] = {"/usr/bin/sqlite3", "-batch", db, NULL};
	same_under_budgets("sqlite3", argv, sql, db, 1);
}

/* A C file with enough functions to make cc1 work (a few hundred MB of
 * GC'd heap from anonymous mmaps at -O2). */
static void make_c_source(const char *path)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("#include <stdio.h>\n#include <string.h>\n", f);
	for (int i = 0; i < 1500; i++) {
		fprintf(f,
			"struct s%d { int a[%d]; double d; char name[32]; };\n"
			"static int f%d(struct s%d *p, int n) {\n"
			"  int acc = %d;\n"
			"  for (int i = 0; i < n && i < %d; i++) {\n"
			"    acc += p->a[i] * (i ^ %d);\n"
			"    if (acc > %d) acc -= (int)(p->d * %d.5);\n"
			"    switch (acc & 7) { case 0: acc ^= %d; break; case 3: acc += i; break; default: acc--; }\n"
			"  }\n"
			"  snprintf(p->name, sizeof p->name, \"s%d-%%d\", acc);\n"
			"  return acc + (int)strlen(p->name);\n"
			"}\n"
			"int g%d(int n) { struct s%d v; memset(&v, %d, sizeof v); v.d = %d.25; return f%d(&v, n); }\n",
			i, 4 + i % 29, i, i, i, 4 + i % 29, i * 7, 1000 + i, i % 9, i * 13, i, i, i, i % 5, i, i);
	}
	cr_assert_eq(fclose(f), 0);
}

Test(programs, gcc_compile)
{
	char src[128];
	snprintf(src, sizeof src, "%s/unit.c", workdir);
	make_c_source(src);
	/* The object goes to stdout (a regular file here), so the two runs
	 * write the same path. */
	char *argv[] = {"gcc", "-O2", "-g0", "-c", "-o", "/dev/stdout", src, NULL};
	same_under_budgets("gcc -O2 -c", argv, NULL, NULL, 1);
}

/*
 * 8 threads of malloc/calloc/realloc/free with checksummed contents, their
 * own mmap/mremap/madvise cases, and two forks whose children verify every
 * block, under 10% of the program's measured peak RSS.
 */
static void mstress_case(const char *engine)
{
	char out[128];
	snprintf(out, sizeof out, "%s/mstress.out", workdir);
	static struct run_result r;
	char *plain[] = {"build/tests/progs/mstress", "8", "6000", NULL};
	run_to(plain, NULL, out, NULL, &r);
	cr_assert_eq(r.status, 0, "mstress (plain): %s", r.err);
	char budget[32], eng[32];
	snprintf(budget, sizeof budget, "%ldK", r.maxrss_kb / 10);
	snprintf(eng, sizeof eng, "--engine=%s", engine);
	char *under[] = {LAUNCHER, "run", "--budget", budget, eng, "--", "build/tests/progs/mstress", "8", "6000", NULL};
	run_to(under, NULL, out, NULL, &r);
	cr_expect_eq(r.status, 0, "mstress under %s with %s: %s", engine, budget, r.err);
	FILE *f = fopen(out, "r");
	cr_assert_not_null(f);
	char line[256] = "";
	cr_expect_not_null(fgets(line, sizeof line, f));
	fclose(f);
	cr_expect(strstr(line, " 0 bad, 0 bad children") != NULL, "mstress under %s: %s %s", engine, line, r.err);
	cr_expect(strstr(r.err, "engine            ") && strstr(r.err, engine), "%s", r.err);
	fprintf(stderr, "programs: mstress under %s, budget %s: %s", engine, budget, line);
}

Test(programs, malloc_stress_8_threads_fork_uffd) { mstress_case("uffd"); }
Test(programs, malloc_stress_8_threads_fork_signal) { mstress_case("signal"); }

/*
 * Copy-on-write under a budget: 8000 pages (31 MiB) filled, three
 * children, a 2 MiB budget, so that pages shared since the fork are
 * evicted and brought back on both sides while each side writes its own;
 * every byte of every view checked.  Under uffd each side's first write
 * to a shared page is a write-protect fault (counted in the summary),
 * unless --cow-faults is off.
 */
static void cowcheck_case(const char *engine, int wp_faults, const char *cow)
{
	/* Under signal and uffd-sigbus a read(2) into an evicted page fails
	 * with EFAULT (their stated limit): the program writes every page. */
	char out[128];
	snprintf(out, sizeof out, "%s/cowcheck.out", workdir);
	static struct run_result r;
	char eng[32];
	snprintf(eng, sizeof eng, "--engine=%s", engine);
	char cowopt[32];
	snprintf(cowopt, sizeof cowopt, "--cow-faults=%s", cow);
	char *under[] = {LAUNCHER, "run", "--budget", "2M", eng, cowopt, "--", "build/tests/progs/cowcheck", "8000",
			 "3", !strcmp(engine, "uffd") ? NULL : "--user-only", NULL};
	run_to(under, NULL, out, NULL, &r);
	cr_expect_eq(r.status, 0, "cowcheck under %s: %s", engine, r.err);
	char text[2048];
	read_text(out, text, sizeof text);
	cr_expect(strstr(text, "3 children, parent wrote 2667 pages, 0 wrong, ok"), "cowcheck under %s:\n%s%s",
		  engine, text, r.err);
	const char *wp = strstr(r.err, "write-protect ");
	cr_assert(wp, "no write-protect count in the summary: %s", r.err);
	long got = atol(wp + strlen("write-protect "));
	if (wp_faults)
		cr_expect_gt(got, 0, "no COW fault counted under %s: %s", engine, r.err);
	else
		cr_expect_eq(got, 0, "write-protect faults under %s: %s", engine, r.err);
}

/*
 * Children that outlive their parent: the parent writes its pages and
 * exits without waiting; each child waits until it is an orphan, then
 * writes its own and checks every byte, under a 2 MiB budget (its pages
 * shared with a parent that is gone, some evicted, its own userfaultfd
 * serving them).
 */
Test(programs, cow_children_outlive_their_parent_under_budget)
{
	char dir[160], out[160];
	snprintf(dir, sizeof dir, "%s/orphans", workdir);
	snprintf(out, sizeof out, "%s/cowcheck.out", workdir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	static struct run_result r;
	char *under[] = {LAUNCHER, "run", "--budget", "2M", "--", "build/tests/progs/cowcheck", "8000", "2",
			 "--orphan", dir, NULL};
	run_to(under, NULL, out, NULL, &r);
	cr_expect_eq(r.status, 0, "cowcheck --orphan: %s", r.err);
	for (int c = 0; c < 2; c++) {
		char path[200], text[256];
		snprintf(path, sizeof path, "%s/child-%d", dir, c);
		fl_test_wait_file(path, 1, 60000);
		read_text(path, text, sizeof text);
		cr_expect(strstr(text, "orphan wrote 2000 pages, 0 wrong"), "child %d: %s", c, text);
	}
}

/* The same with the parent killed (SIGKILL) once it has written, its
 * children still waiting to write theirs. */
Test(programs, cow_children_outlive_a_killed_parent_under_budget)
{
	char dir[160], out[160], ppath[200];
	snprintf(dir, sizeof dir, "%s/orphans", workdir);
	snprintf(out, sizeof out, "%s/cowcheck.out", workdir);
	snprintf(ppath, sizeof ppath, "%s/parent", dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	pid_t launcher = fork();
	cr_assert_geq(launcher, 0);
	if (launcher == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execl(LAUNCHER, LAUNCHER, "run", "-q", "--budget", "2M", "--", "build/tests/progs/cowcheck", "8000",
		      "2", "--orphan", dir, "--hang", (char *)NULL);
		_exit(127);
	}
	fl_test_wait_file(ppath, 2, 60000);
	char text[256];
	read_text(ppath, text, sizeof text);
	pid_t parent = (pid_t)atoi(text);
	cr_assert_gt(parent, 1);
	cr_assert_eq(kill(parent, SIGKILL), 0);
	int st = 0;
	cr_assert_eq(waitpid(launcher, &st, 0), launcher);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL, "the launcher said %#x", st);
	for (int c = 0; c < 2; c++) {
		char path[200];
		snprintf(path, sizeof path, "%s/child-%d", dir, c);
		fl_test_wait_file(path, 1, 60000);
		read_text(path, text, sizeof text);
		cr_expect(strstr(text, "orphan wrote 2000 pages, 0 wrong"), "child %d: %s", c, text);
	}
}

/* forkstore --fork how ended well (r, its stdout in text): every byte
 * right in the parent, its children and its grandchild. */
static void forkstore_ok(const char *how, const char *text, const struct run_result *r)
{
	cr_expect_eq(r->status, 0, "forkstore --fork %s: %s%s", how, text, r->err);
	const char *want[] = {"child 0: bad=0", "child 1: bad=0", "child 2: bad=0", "grandchild: bad=0",
			      ", bad=0, children failed 0"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect(strstr(text, want[i]), "forkstore --fork %s: no \"%s\" in\n%s", how, want[i], text);
}

/*
 * fork under a 10% budget with the evicted pages handed to the children
 * (--fork handoff, the default under uffd where the kernel grants it):
 * forkstore's parent and three children (the first forks a grandchild)
 * read every byte right, pages out of memory at the fork, pages the child
 * compressed after it and blocks the other side freed included; and the
 * parent's peak resident memory does not rise at the fork.  With
 * --fork bring-back (what a process without CAP_SYS_PTRACE gets) the same
 * bytes, and the peak rises by the whole working set; the same where the
 * kernel refuses the hand-over (no CAP_SYS_PTRACE).
 */
static void forkstore_case(const char *how, int handed_over, int no_ptrace)
{
	char out[160], text[2048], opt[40];
	snprintf(out, sizeof out, "%s/forkstore.out", workdir);
	snprintf(opt, sizeof opt, "--fork=%s", how);
	static struct run_result r;
	char *under[] = {"setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace", "--",
			 LAUNCHER, "run", "--budget", "3M", opt, "--log=info", "--", "build/tests/progs/forkstore",
			 "8000", "3", "--nest", NULL};
	/* Without CAP_SYS_PTRACE: root drops it (setpriv, util-linux);
	 * anyone else has not got it. */
	int skip = no_ptrace && geteuid() == 0 ? 0 : 4;
	run_to(under + skip, NULL, out, NULL, &r);
	read_text(out, text, sizeof text);
	forkstore_ok(how, text, &r);
	const char *hand = strstr(r.err, "fork hands evicted pages to the child");
	if (handed_over)
		cr_assert(hand, "the engine does not hand pages over (CAP_SYS_PTRACE?): %s", r.err);
	else
		cr_expect(!hand, "--fork bring-back still hands pages over: %s", r.err);
	long before = -1, after = -1;
	const char *pl = strstr(text, "parent: peak rss before fork ");
	cr_assert(pl && sscanf(pl, "parent: peak rss before fork %ld KiB, after fork %ld KiB", &before, &after) == 2,
		  "no parent line: %s", text);
	/* The working set is 8000 pages and 2000 blocks: 39 MiB. */
	if (handed_over)
		cr_expect_lt(after - before, 8000, "the peak rose by %ld KiB at the fork (%ld -> %ld)", after - before,
			     before, after);
	else
		cr_expect_gt(after - before, 16000, "bring-back: the peak rose by only %ld KiB (%ld -> %ld)",
			     after - before, before, after);
}

Test(programs, fork_hands_evicted_pages_to_children_under_budget) { forkstore_case("handoff", 1, 0); }
Test(programs, fork_brings_pages_back_when_asked) { forkstore_case("bring-back", 0, 0); }
/* The kernel's refusal (UFFD_FEATURE_EVENT_FORK needs CAP_SYS_PTRACE):
 * the same bytes, brought back. */
Test(programs, fork_brings_pages_back_without_cap_sys_ptrace) { forkstore_case("handoff", 0, 1); }

/* Names in dir other than . and .. */
static int names_in(const char *dir)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "cannot open %s", dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* A new directory for the spill file, <workdir>/spill, into dir, and
 * its launcher option --spill=<dir> into opt. */
static void spill_dir(char dir[160], char opt[200])
{
	snprintf(dir, 160, "%s/spill", workdir);
	snprintf(opt, 200, "--spill=%s", dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
}

/* The spill faults on the launcher's summary line "faults ... spill N";
 * -1 without one. */
static long summary_spill_faults(const char *err)
{
	const char *f = strstr(err, "faultline:   faults ");
	const char *sp = f ? strstr(f, " spill ") : NULL;
	return sp ? atol(sp + strlen(" spill ")) : -1;
}

/*
 * fork with most pages in the spill file (a 256 KiB store): the file the
 * parent was writing is frozen at each fork, both sides read what they
 * inherited from it and write files of their own; every byte right in
 * every process, handed over and brought back.
 */
static void fork_spill_case(const char *how)
{
	char out[160], text[2048], opt[40], dir[160], sopt[200];
	snprintf(out, sizeof out, "%s/forkstore.out", workdir);
	snprintf(opt, sizeof opt, "--fork=%s", how);
	spill_dir(dir, sopt);
	static struct run_result r;
	char *under[] = {LAUNCHER, "run", "--budget", "3M", "--store-max", "256K", sopt, opt, "--",
			 "build/tests/progs/forkstore", "8000", "3", "--nest", NULL};
	run_to(under, NULL, out, NULL, &r);
	read_text(out, text, sizeof text);
	forkstore_ok(how, text, &r);
	cr_expect_gt(summary_spill_faults(r.err), 0, "no spill faults: %s", r.err);
	cr_expect_eq(names_in(dir), 0);
}

Test(programs, fork_with_pages_in_the_spill_file_handoff) { fork_spill_case("handoff"); }
Test(programs, fork_with_pages_in_the_spill_file_bring_back) { fork_spill_case("bring-back"); }

/*
 * Beyond RAM: spiller's 32 MiB of random pages under a 4 MiB budget and a
 * 4 MiB store, the rest spilled to a file in a directory of the test's:
 * every page right after two passes in random order, spill faults
 * counted, and no name left in the directory.
 */
Test(programs, spill_beyond_the_store)
{
	char dir[160], out[160], opt[200], text[512];
	snprintf(out, sizeof out, "%s/spiller.out", workdir);
	spill_dir(dir, opt);
	static struct run_result r;
	char *under[] = {LAUNCHER, "run", "--budget", "4M", "--store-max", "4M", opt, "--",
			 "build/tests/progs/spiller", "8192", "2", NULL};
	run_to(under, NULL, out, NULL, &r);
	read_text(out, text, sizeof text);
	cr_expect_eq(r.status, 0, "spiller: %s%s", text, r.err);
	cr_expect(strstr(text, "8192 pages, 2 rounds, bad=0"), "spiller: %s", text);
	cr_expect_gt(summary_spill_faults(r.err), 1000, "few spill faults: %s", r.err);
	cr_expect(strstr(r.err, "faultline:   spilled "), "no spilled line: %s", r.err);
	cr_expect_eq(names_in(dir), 0, "names left in %s", dir);
}

struct holding {
	const char *path;
	long pid;
};

static int says_holding(void *arg)
{
	struct holding *h = arg;
	char text[512] = "";
	FILE *f = fopen(h->path, "r");
	if (!f)
		return 0;
	size_t k = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[k] = 0;
	const char *p = strstr(text, "holding pid=");
	if (p)
		h->pid = atol(p + strlen("holding pid="));
	return p != NULL;
}

struct vmmap_swapped {
	long pid;
	long long swapped;
};

/* faultline vmmap --json of pid: its summary's swapped bytes over 4 MiB? */
static int vmmap_swapped_over_4m(void *arg)
{
	struct vmmap_swapped *v = arg;
	char pidarg[32], vout[160];
	static char vtext[1 << 20];
	snprintf(pidarg, sizeof pidarg, "%ld", v->pid);
	snprintf(vout, sizeof vout, "%s/vmmap.json", workdir);
	static struct run_result vr;
	char *vm[] = {LAUNCHER, "vmmap", "--json", pidarg, NULL};
	run_to(vm, NULL, vout, NULL, &vr);
	if (vr.status != 0)
		return 0;
	read_text(vout, vtext, sizeof vtext);
	const char *sum = strstr(vtext, "\"summary\":");
	const char *sw = sum ? strstr(sum, "\"swapped\":") : NULL;
	v->swapped = sw ? atoll(sw + strlen("\"swapped\":")) : -1;
	return v->swapped > (4ll << 20);
}

/*
 * The spill file while the program runs: open in the program, in the
 * directory asked for, with no name there; vmmap shows the program's
 * spilled pages as SWAPPED; after kill -9 the directory is still empty.
 */
Test(programs, spill_file_has_no_name_and_shows_as_swapped)
{
	char dir[160], out[160], opt[200];
	snprintf(out, sizeof out, "%s/spiller.out", workdir);
	spill_dir(dir, opt);
	int in[2];
	cr_assert_eq(pipe(in), 0);
	pid_t launcher = fork();
	cr_assert_geq(launcher, 0);
	if (launcher == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(in[0], 0) < 0)
			_exit(126);
		close(in[1]);
		execl(LAUNCHER, LAUNCHER, "run", "-q", "--socket", "none", "--budget", "4M", "--store-max", "4M", opt,
		      "--", "build/tests/progs/spiller", "8192", "1", "--hold", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	struct holding h = {out, 0};
	fl_test_wait_until(says_holding, &h, 60000, "spiller to say holding in %s", out);
	cr_assert_gt(h.pid, 1);
	/* Its spill file: under dir, deleted. */
	char fddir[64], link[400], target[400];
	snprintf(fddir, sizeof fddir, "/proc/%ld/fd", h.pid);
	DIR *d = opendir(fddir);
	cr_assert_not_null(d);
	struct dirent *e;
	int found = 0;
	while ((e = readdir(d))) {
		snprintf(link, sizeof link, "%s/%s", fddir, e->d_name);
		ssize_t k = readlink(link, target, sizeof target - 1);
		if (k <= 0)
			continue;
		target[k] = 0;
		if (!strncmp(target, dir, strlen(dir)) && strstr(target, "(deleted)"))
			found++;
	}
	closedir(d);
	cr_expect_eq(found, 1, "the spill file open in the program, under %s, deleted", dir);
	cr_expect_eq(names_in(dir), 0);
	/* vmmap: the spilled pages are SWAPPED (once the state file, written
	 * twice a second at most, has them). */
	struct vmmap_swapped v = {.pid = h.pid};
	fl_test_wait_until(vmmap_swapped_over_4m, &v, 60000, "vmmap to show 4 MiB swapped (last: %lld)", v.swapped);
	cr_assert_eq(kill((pid_t)h.pid, SIGKILL), 0);
	int st = fl_test_wait_child(launcher, 1, 60000);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL, "the launcher said %#x", st);
	close(in[1]);
	cr_expect_eq(names_in(dir), 0, "names left in %s after kill -9", dir);
}

/* Snapshots through the preloaded shim, found with dlsym as a program
 * not linked against faultline would: every page rewritten after take,
 * the snapshot read back and restored, with and without a budget. */
static void snapper_case(const char *budget, const char *engine, int want_status, const char *want)
{
	char out[160], eng[32], text[512];
	snprintf(out, sizeof out, "%s/snapper.out", workdir);
	snprintf(eng, sizeof eng, "--engine=%s", engine);
	static struct run_result r;
	char *under[] = {LAUNCHER, "run", "--budget", (char *)budget, eng, "--", "build/tests/progs/snapper", "2048",
			 NULL};
	run_to(under, NULL, out, NULL, &r);
	read_text(out, text, sizeof text);
	cr_expect_eq(r.status, want_status, "snapper under %s, budget %s: %s%s", engine, budget, text, r.err);
	cr_expect(strstr(text, want), "snapper under %s, budget %s: %s", engine, budget, text);
}

Test(programs, snapshot_through_the_shim) { snapper_case("none", "uffd", 0, "2048 pages ok"); }
Test(programs, snapshot_through_the_shim_under_budget) { snapper_case("2M", "uffd", 0, "2048 pages ok"); }
Test(programs, snapshot_not_under_the_signal_engine)
{
	snapper_case("none", "signal", 3, "Operation not supported");
}

Test(programs, cow_after_fork_under_budget_uffd) { cowcheck_case("uffd", 1, "on"); }
Test(programs, cow_after_fork_under_budget_uffd_cow_faults_off) { cowcheck_case("uffd", 0, "off"); }
Test(programs, cow_after_fork_under_budget_signal) { cowcheck_case("signal", 0, "on"); }
Test(programs, cow_after_fork_under_budget_uffd_sigbus) { cowcheck_case("uffd-sigbus", 0, "on"); }
