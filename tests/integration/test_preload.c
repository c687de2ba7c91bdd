/*
 * The shim preloaded into real programs: a C program exercising mmap,
 * munmap, mremap, madvise, mprotect and fork under a tight budget with
 * both engines; fork churn under a 1 MiB budget; descriptors surviving programs that close them wholesale;
 * a bad setting reported in
 * one line naming the variable while the program runs unmanaged.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runprog.h"

#define MMAPPER "build/tests/progs/mmapper"

/* Run argv with extra environment entries; stdout and the tail of stderr
 * into the buffers. */
static int run(char *const argv[], char *const extra_env[], char *out, size_t outlen,
	       char *err, size_t errlen)
{
	static struct run_result r;
	char path[] = "/tmp/fl-preload-out-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	run_to(argv, NULL, path, extra_env, &r);
	ssize_t n = read(fd, out, outlen - 1);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	unlink(path);
	run_err_tail(&r, err, errlen);
	return r.status;
}

static char *read_file(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static unsigned long field(const char *summary, const char *key)
{
	char k[64];
	snprintf(k, sizeof k, "\n%s=", key);
	const char *p = strstr(summary, k);
	return p ? strtoul(p + strlen(k), NULL, 10) : (unsigned long)-1;
}

/* key summed over every process's record in the summary file (-1: none). */
static long field_sum(const char *summary, const char *key)
{
	char k[64];
	snprintf(k, sizeof k, "\n%s=", key);
	long sum = -1;
	for (const char *p = strstr(summary, k); p; p = strstr(p + 1, k))
		sum = (sum < 0 ? 0 : sum) + strtol(p + strlen(k), NULL, 10);
	return sum;
}

static void mmapper_case(const char *engine)
{
	char sum[] = "/tmp/fl-preload-XXXXXX";
	int fd = mkstemp(sum);
	close(fd);
	unlink(sum);
	char env_sum[300], env_eng[64];
	snprintf(env_sum, sizeof env_sum, "FAULTLINE_SUMMARY=%s", sum);
	snprintf(env_eng, sizeof env_eng, "FAULTLINE_ENGINE=%s", engine);
	char *env[] = {preload_env(), env_sum, env_eng, "FAULTLINE_BUDGET=4M", NULL};
	char *argv[] = {MMAPPER, "8192", NULL};
	static char out[8192], err[65536];
	int rc = run(argv, env, out, sizeof out, err, sizeof err);
	cr_expect_eq(rc, 0, "mmapper under the %s engine: %s%s", engine, out, err);
	cr_expect(strstr(out, "8192 pages ok") != NULL);
	char *s = read_file(sum);
	cr_assert_not_null(s, "no summary written");
	/* mmapper's forked child writes its block first (the parent waits for
	 * it); a child counts only its own faults and evictions, so the
	 * figures below are the parent's, the last block. */
	for (char *b = strstr(s, "\npid="); b; b = strstr(b + 1, "\npid="))
		s = b;
	cr_expect(strstr(s, "managed=1") != NULL, "summary: %s", s);
	cr_expect_eq(field(s, "budget_pages"), 1024);
	cr_expect_gt(field(s, "evicted"), 1000, "a 32 MiB working set under 4 MiB must evict");
	cr_expect_eq(field(s, "errors"), 0, "summary: %s", s);
	unlink(sum);
}

Test(preload, mmapper_uffd, .timeout = 120) { mmapper_case("uffd"); }
Test(preload, mmapper_signal, .timeout = 120) { mmapper_case("signal"); }
Test(preload, mmapper_uffd_sigbus, .timeout = 120) { mmapper_case("uffd-sigbus"); }

/*
 * A program that replaces heap blocks and forks, over and over, under a
 * 1 MiB budget; every child checks a share of the blocks.  Each fork
 * brings every evicted page back and leaves the parent's pages shared
 * (taken by write-protect and copy) until the child exits.  Meanwhile the
 * kernel is asked to compact memory every 20 ms where the test may (root):
 * migration makes UFFDIO_MOVE start over, which is where Linux 6.17+
 * reports EEXIST for a page it moved.  An engine that believed it hung
 * 3 runs in 4 here (README, Managed mappings).
 */
static volatile int compacting;
static void *compact(void *arg)
{
	int fd = *(int *)arg;
	while (__atomic_load_n(&compacting, __ATOMIC_ACQUIRE)) {
		if (pwrite(fd, "1", 1, 0) != 1)
			break;
		usleep(20000);
	}
	return NULL;
}

Test(preload, fork_churn_under_a_tiny_budget, .timeout = 120)
{
	char sum[] = "/tmp/fl-preload-XXXXXX";
	int fd = mkstemp(sum);
	close(fd);
	unlink(sum);
	char env_sum[300];
	snprintf(env_sum, sizeof env_sum, "FAULTLINE_SUMMARY=%s", sum);
	char *env[] = {preload_env(), env_sum, "FAULTLINE_ENGINE=uffd", "FAULTLINE_BUDGET=1M", NULL};
	char *argv[] = {"build/tests/progs/forkchurn", "300", "800", "100", NULL};
	static char out[8192], err[65536];
	int cfd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);
	pthread_t t;
	if (cfd >= 0) {
		__atomic_store_n(&compacting, 1, __ATOMIC_RELEASE);
		cr_assert_eq(pthread_create(&t, NULL, compact, &cfd), 0);
	} else {
		cr_log_info("cannot write /proc/sys/vm/compact_memory (%s): no compaction during the run",
			    strerror(errno));
	}
	int rc = run(argv, env, out, sizeof out, err, sizeof err);
	if (cfd >= 0) {
		__atomic_store_n(&compacting, 0, __ATOMIC_RELEASE);
		pthread_join(t, NULL);
		close(cfd);
	}
	cr_expect_eq(rc, 0, "forkchurn: %s%s", out, err);
	cr_expect(strstr(out, "ok") != NULL, "forkchurn: %s", out);
	char *s = read_file(sum);
	cr_assert_not_null(s, "no summary written");
	/* Each process writes its record; a child handed its pages evicted
	 * may evict none of its own. */
	cr_expect_gt(field_sum(s, "evicted"), 0, "summary: %s", s);
	cr_expect_eq(field_sum(s, "errors"), 0, "summary: %s", s);
	unlink(sum);
}

Test(preload, bad_setting_runs_unmanaged, .timeout = 60)
{
	char *env[] = {preload_env(), "FAULTLINE_BUDGET=lots", NULL};
	char *argv[] = {MMAPPER, "1024", NULL};
	static char out[4096], err[4096];
	int rc = run(argv, env, out, sizeof out, err, sizeof err);
	cr_expect_eq(rc, 0);
	cr_expect(strstr(out, "1024 pages ok") != NULL);
	cr_expect(strstr(err, "faultline: FAULTLINE_BUDGET='lots' is not valid: expected a size") != NULL,
		  "stderr: %s", err);
	cr_expect(strstr(err, "runs unmanaged") != NULL);
	/* One line, not a flood. */
	size_t lines = 0;
	for (char *p = err; *p; p++)
		lines += *p == '\n';
	cr_expect_eq(lines, 1, "stderr: %s", err);
}

/* Without the close guard this loses evicted pages (tens of thousands of
 * bad reads): the userfaultfd goes and the kernel zero-fills. */
static void closer_case(const char *engine)
{
	char env_eng[64];
	snprintf(env_eng, sizeof env_eng, "FAULTLINE_ENGINE=%s", engine);
	char *env[] = {preload_env(), env_eng, "FAULTLINE_BUDGET=2M", NULL};
	char *argv[] = {"build/tests/progs/closer", NULL};
	static char out[4096], err[65536];
	int rc = run(argv, env, out, sizeof out, err, sizeof err);
	cr_expect_eq(rc, 0, "closer under %s: %s %s", engine, out, err);
	cr_expect(strstr(out, "closer: 0 bad") != NULL, "%s", out);
}

Test(preload, descriptors_survive_closing_sprees_uffd, .timeout = 120) { closer_case("uffd"); }
Test(preload, descriptors_survive_closing_sprees_signal, .timeout = 120) { closer_case("signal"); }

/*
 * Where a preloaded python3's anonymous memory is (tests/scripts/
 * smaps_bound.py reads its own /proc/self/smaps and asks the shim for its
 * ranges with fl_ranges_get): managed regions, the shim's own tables and
 * store, stacks and .bss.  The bound held: at most 256 KiB of resident
 * anonymous memory anywhere else (the brk heap included); 20 KiB measured,
 * the dynamic loader's own pages.
 */
Test(preload, python_anonymous_memory_is_managed, .timeout = 120)
{
	char *env[] = {preload_env(), "FAULTLINE_ENGINE=uffd", NULL};
	const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
	char *argv[] = {(char *)py, "tests/scripts/smaps_bound.py", NULL};
	static char out[65536], err[65536];
	cr_assert_eq(run(argv, env, out, sizeof out, err, sizeof err), 0, "%s%s", out, err);
	const char *p = strstr(out, "other_kib=");
	cr_assert_not_null(p, "%s", out);
	long other = -1, heap = -1, managed = -1;
	cr_assert_eq(sscanf(p, "other_kib=%ld heap_kib=%ld managed_kib=%ld", &other, &heap, &managed), 3);
	cr_expect_leq(other + heap, 256, "unmanaged anonymous memory:\n%s", out);
	cr_expect_geq(managed, 32 * 1024, "the heap should be tens of MiB of managed memory:\n%s", out);
}

/*
 * node's V8 heap lives in PROT_NONE reservations committed piece by piece
 * with mprotect: those pieces are managed.  tests/scripts/node_anon.py runs
 * node under the launcher and, while it waits, sums its anonymous resident
 * memory in userfaultfd-registered mappings against all the rest (stacks
 * and the shim's own memory included): the rest must stay under 5%
 * (measured 2.1%; before the pieces were managed, most of node's heap).
 */
Test(preload, node_heap_is_managed, .timeout = 120)
{
	if (access("/usr/bin/node", X_OK) != 0)
		cr_skip_test("no /usr/bin/node (scripts/setup.sh installs Debian's nodejs)");
	const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
	char *argv[] = {(char *)py, "tests/scripts/node_anon.py", (char *)test_bin("faultline"), (char *)shim_lib(),
			NULL};
	static char out[4096], err[65536];
	char *env[] = {NULL};
	cr_assert_eq(run(argv, env, out, sizeof out, err, sizeof err), 0, "%s%s", out, err);
	long managed = -1, outside = -1;
	double pct = 100;
	const char *p = strstr(out, "managed_kib=");
	cr_assert_not_null(p, "%s%s", out, err);
	cr_assert_eq(sscanf(p, "managed_kib=%ld outside_kib=%ld outside_pct=%lf", &managed, &outside, &pct), 3);
	cr_expect_lt(pct, 5.0, "anonymous memory outside managed regions: %s", out);
	cr_expect_geq(managed, 32 * 1024, "node's heap should be tens of MiB of managed memory: %s", out);
}

/* A program that sets its own SIGSEGV (or SIGBUS) handler after the shim
 * started: with the signal engine (uffd-sigbus) that used to replace the
 * engine's handler, and the first fault on a managed page killed the
 * program. */
static void own_handler_case(const char *engine, const char *mode)
{
	char env_eng[64];
	snprintf(env_eng, sizeof env_eng, "FAULTLINE_ENGINE=%s", engine);
	char *env[] = {preload_env(), env_eng, "FAULTLINE_BUDGET=2M", NULL};
	char *argv[] = {"build/tests/progs/segv", (char *)mode, NULL};
	static char out[4096], err[65536];
	int rc = run(argv, env, out, sizeof out, err, sizeof err);
	cr_expect_eq(rc, 0, "segv %s under %s: %s %s", mode, engine, out, err);
	cr_expect(strstr(out, "segv: handler ran 32 times, 0 bad") != NULL, "%s %s", out, err);
}

Test(preload, program_segv_handler_set_late_signal, .timeout = 120) { own_handler_case("signal", "segv"); }
Test(preload, program_segv_handler_set_late_uffd, .timeout = 120) { own_handler_case("uffd", "segv"); }
Test(preload, program_sigbus_handler_set_late_uffd_sigbus, .timeout = 120)
{
	own_handler_case("uffd-sigbus", "bus");
}
Test(preload, program_sigbus_handler_set_late_uffd, .timeout = 120) { own_handler_case("uffd", "bus"); }
