/*
 * Allocation sites and sampled stacks, end to end: tests/progs/allocsites
 * under the real shim and daemon, then the fault log read with SQL (the
 * alloc_sites view, stack_totals) and faultline report.
 *   - a hot and a cold site under a budget: each fault charged to the
 *     site whose memory it was in, in the proportion the program's
 *     accesses make (every block sampled: a small mean interval);
 *   - a site of many small allocations at the default interval: the
 *     bytes its few samples stand for are within sampling error of what
 *     it allocated;
 *   - more live samples than the shim's table holds: it keeps what fits
 *     and counts the rest;
 *   - stacks sampled one fault in 8: the stacks' estimates add up to
 *     about the exact total, and no "(no stack" row leads the tables;
 *   - a daemon stopped while the program runs: nothing of the table is
 *     lost while the shim's queue for the socket is full.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runprog.h"
#include "wait.h"

#define ALLOCSITES "build/tests/progs/allocsites"

static char dir[256];

static void make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/fl-allocsites-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", dir);
}

TestSuite(alloc_sites, .init = make_dir, .fini = remove_dir, .timeout = 180);

/* Run allocsites (args after the program) under faultline run into db. */
static void run_db(const char *db, const char *sample, const char *stacks, const char *budget, char **args)
{
	char sock[320], out[320];
	snprintf(sock, sizeof sock, "%s/d.sock", dir);
	snprintf(out, sizeof out, "%s/prog.out", dir);
	char *argv[40] = {(char *)test_bin("faultline"), "run", "--db", (char *)db, "--socket", sock, "--lib",
			  (char *)shim_lib(), "--alloc-sample", (char *)sample, "--stacks", (char *)stacks, "--budget",
			  (char *)budget, "--sample-ms", "10", "-q", "--", ALLOCSITES};
	int n = 19;
	for (int i = 0; args && args[i] && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	static struct run_result r;
	run_to(argv, NULL, out, NULL, &r);
	cr_assert_eq(r.status, 0, "faultline run: %d\n%s", r.status, r.err);
	char text[256];
	read_text(out, text, sizeof text);
	cr_assert(!strncmp(text, "sum ", 4), "allocsites said: %s", text);
}

/* faultline CMD db [ARG] (ARG may be NULL): its output into text; it must
 * succeed. */
static void cli_text(const char *cmd, const char *db, const char *arg, char *text, size_t len)
{
	char out[320];
	snprintf(out, sizeof out, "%s/%s.out", dir, cmd);
	char *argv[] = {(char *)test_bin("faultline"), (char *)cmd, (char *)db, (char *)arg, NULL};
	static struct run_result r;
	run_to(argv, NULL, out, NULL, &r);
	cr_assert_eq(r.status, 0, "faultline %s: %s", cmd, r.err);
	read_text(out, text, len);
}

static double q(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	double v = NAN;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	return v;
}

static sqlite3 *open_db(const char *path)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}

Test(alloc_sites, hot_and_cold_sites_are_charged_their_faults_in_proportion)
{
	char db[320];
	snprintf(db, sizeof db, "%s/hc.db", dir);
	/* 8 MiB hot (written, then read 6 times), 8 MiB cold (written, read
	 * once at the end), 1 MiB mapped once, under a 4 MiB budget; every
	 * 1 MiB block sampled (P = 1 - e^-16 at a 64 KiB mean). */
	char *args[] = {"8", "8", "6", NULL};
	run_db(db, "64K", "all", "4M", args);
	sqlite3 *h = open_db(db);
	double hot = q(h, "SELECT pages FROM alloc_sites WHERE function = 'hot_site'");
	double cold = q(h, "SELECT pages FROM alloc_sites WHERE function = 'cold_site'");
	double mapped = q(h, "SELECT pages FROM alloc_sites WHERE function = 'map_site'");
	double all = q(h, "SELECT sum(pages) FROM stack_totals");
	cr_expect_eq(q(h, "SELECT samples FROM alloc_sites WHERE function = 'hot_site'"), 8);
	cr_expect_eq(q(h, "SELECT samples FROM alloc_sites WHERE function = 'cold_site'"), 8);
	cr_expect_eq(q(h, "SELECT count(*) FROM allocs a JOIN alloc_sites s ON s.stack = a.stack"
			  " WHERE s.function = 'map_site' AND a.kind = 'mmap'"),
		     1);
	/* The hot blocks' pages come back each round: 7 passes over 2048
	 * pages against the cold blocks' 2 (expected share 7/9 = 0.78). */
	cr_expect(hot / (hot + cold) > 0.70 && hot / (hot + cold) < 0.86, "hot %.0f pages, cold %.0f", hot, cold);
	cr_expect(hot >= 0.9 * 7 * 2048 && cold >= 0.9 * 2 * 2048, "hot %.0f pages, cold %.0f", hot, cold);
	cr_expect(mapped >= 256 && mapped < 2 * 256, "mapped %.0f pages", mapped);
	/* Almost every faulting page was in a sampled block. */
	cr_expect((hot + cold + mapped) / all > 0.9, "sites %.0f of %.0f pages", hot + cold + mapped, all);
	/* Each fault's allocation found again in SQL (fault_allocs: by address
	 * and time) agrees with what the shim charged. */
	double hot_f = q(h, "SELECT faults FROM alloc_sites WHERE function = 'hot_site'");
	double hot_q = q(h, "SELECT count(*) FROM fault_allocs WHERE alloc_function = 'hot_site'");
	double cold_f = q(h, "SELECT faults FROM alloc_sites WHERE function = 'cold_site'");
	double cold_q = q(h, "SELECT count(*) FROM fault_allocs WHERE alloc_function = 'cold_site'");
	cr_expect(fabs(hot_f - hot_q) <= 0.01 * hot_f + 1 && fabs(cold_f - cold_q) <= 0.01 * cold_f + 1,
		  "charged hot %.0f cold %.0f; fault_allocs hot %.0f cold %.0f", hot_f, cold_f, hot_q, cold_q);
	/* What stays allocated: the cold blocks, exactly (weight = size). */
	cr_expect_eq(q(h, "SELECT bytes_live_at_end FROM alloc_sites WHERE function = 'cold_site'"), 8 << 20);
	cr_expect_eq(q(h, "SELECT bytes_live_at_end FROM alloc_sites WHERE function = 'hot_site'"), 0);
	cr_expect_eq(q(h, "SELECT bytes_allocated FROM alloc_sites WHERE function = 'hot_site'"), 8 << 20);
	/* At the peak (a sample every 10 ms) the budget holds at most 4 MiB,
	 * the blocks' other touched pages are compressed.  The first sample
	 * at the highest resident count may come as the budget is first
	 * filled, when the program's other managed pages (its seed tables,
	 * the allocator's own) hold part of it: the blocks then held 3.3 to
	 * 3.9 MiB in loaded runs, hence 3. */
	double res = q(h, "SELECT sum(resident_at_peak_bytes) FROM alloc_sites");
	double comp = q(h, "SELECT sum(compressed_at_peak_bytes) FROM alloc_sites");
	cr_expect(res > 0 && res <= 4.5 * 1048576 && comp > 0 && res + comp >= 3.0 * 1048576,
		  "at the peak: %.0f resident, %.0f compressed", res, comp);
	sqlite3_close(h);

	/* The report says so, hot first. */
	static char text[1 << 16];
	cli_text("report", db, NULL, text, sizeof text);
	const char *sec = strstr(text, "faults by allocation site");
	cr_assert(sec, "%s", text);
	const char *h1 = strstr(sec, "hot_site"), *c1 = strstr(sec, "cold_site");
	cr_expect(h1 && c1 && h1 < c1, "hot_site is not first:\n%s", sec);
	cr_expect(strstr(text, "memory by allocation site at the peak resident sample"), "%s", text);
}

Test(alloc_sites, a_site_of_small_allocations_is_estimated_within_sampling_error)
{
	char db[320];
	snprintf(db, sizeof db, "%s/small.db", dir);
	/* 4096 mallocs of 16 KiB (64 MiB) at the default 512 KiB: each is
	 * sampled with P = 1 - e^(-1/32) = 0.031, about 126 samples, and each
	 * sample stands for 16 KiB / P.  The estimate's relative standard
	 * error is sqrt((1 - P) / (4096 P)) = 0.088. */
	char *args[] = {"small", "4096", "16", NULL};
	run_db(db, "512K", "8", "none", args);
	sqlite3 *h = open_db(db);
	double est = q(h, "SELECT bytes_allocated FROM alloc_sites WHERE function = 'small_site'");
	double samples = q(h, "SELECT samples FROM alloc_sites WHERE function = 'small_site'");
	double truth = 4096.0 * 16384;
	double p = 1 - exp(-16384.0 / 524288), se = sqrt((1 - p) / (4096 * p));
	cr_expect(fabs(est / truth - 1) < 4 * se, "estimated %.0f bytes from %.0f samples, allocated %.0f (4 sigma %.2f)",
		  est, samples, truth, 4 * se);
	cr_expect(samples > 4096 * p * 0.5 && samples < 4096 * p * 1.5, "%.0f samples", samples);
	/* All kept: live at the end is all of it. */
	cr_expect_eq(q(h, "SELECT bytes_live_at_end FROM alloc_sites WHERE function = 'small_site'"), est);
	sqlite3_close(h);
}

Test(alloc_sites, the_shims_table_is_bounded_and_says_what_it_dropped)
{
	char db[320];
	snprintf(db, sizeof db, "%s/full.db", dir);
	/* 8192 live blocks of 16 KiB, nearly all drawn at a 4 KiB interval:
	 * more than the table keeps (three quarters of 4096 slots). */
	char *args[] = {"small", "8192", "16", NULL};
	run_db(db, "4K", "8", "none", args);
	sqlite3 *h = open_db(db);
	double live = q(h, "SELECT count(*) FROM allocs WHERE alloc_id <> 0 AND free_ns IS NULL");
	double dropped = q(h, "SELECT dropped FROM allocs WHERE alloc_id = 0");
	cr_expect(live > 1000 && live <= 3072, "%.0f samples kept live", live);
	cr_expect(dropped > 8192 * 0.9 - 3072 - 500, "%.0f samples dropped, %.0f kept", dropped, live);
	sqlite3_close(h);
	static char text[1 << 16];
	cli_text("report", db, NULL, text, sizeof text);
	cr_expect(strstr(text, "allocations drawn for a sample were not kept: the shim's table was full"), "%s", text);
}

Test(alloc_sites, sampled_stacks_add_up_to_the_exact_total)
{
	char db[320];
	snprintf(db, sizeof db, "%s/st.db", dir);
	char *args[] = {"8", "8", "6", NULL};
	run_db(db, "off", "8", "4M", args);
	sqlite3 *h = open_db(db);
	double total = q(h, "SELECT count(*) FROM faults");
	double sampled = q(h, "SELECT count(*) FROM faults WHERE stack <> 0");
	double dropped = q(h, "SELECT dropped_stacks FROM processes");
	cr_expect_eq(q(h, "SELECT count(*) FROM allocs"), 0, "allocation sampling was off");
	sqlite3_close(h);
	/* One fault in 8 has a stack (a counter, not a draw): the estimate
	 * is within a stack of the faults that wanted one. */
	cr_expect(fabs(sampled * 8 - (total - dropped)) <= 8 + 0.02 * total, "%.0f sampled x 8 against %.0f faults",
		  sampled, total);

	static char text[1 << 16];
	cli_text("export", db, "--folded", text, sizeof text);
	double sum = 0;
	for (char *l = text; *l;) {
		char *e = strchr(l, '\n');
		char *sp = e ? memrchr(l, ' ', (size_t)(e - l)) : strrchr(l, ' ');
		cr_assert_not_null(sp, "%s", l);
		cr_expect(strncmp(l, "[no stack]", 10) != 0, "a [no stack] line with sampled stacks: %s", text);
		sum += atof(sp + 1);
		if (!e)
			break;
		l = e + 1;
	}
	cr_expect(fabs(sum - total) <= 8 + 0.1 * total, "the folded weights add up to %.0f, the faults are %.0f", sum,
		  total);

	cli_text("report", db, NULL, text, sizeof text);
	cr_expect(strstr(text, "top stacks by faults (estimated from sampled stacks)"), "%s", text);
	cr_expect(!strstr(text, "(no stack: faults logged without one)"), "%s", text);
	cr_expect(strstr(text, "#1  ~"), "%s", text);
}

/*
 * The daemon stopped while the program runs (a slow daemon, or one
 * under a sanitizer): the shim's queue for the socket fills, and what it
 * knows of the allocations waits there instead of being lost.  Once the
 * daemon goes on, the log holds the table and the count of what it had
 * no room for, adding up to about every block, as with a daemon that
 * kept up.
 */
Test(alloc_sites, a_stalled_daemon_loses_no_allocation_state)
{
	char db[320], sock[320], out[320], sockenv[340];
	snprintf(db, sizeof db, "%s/stall.db", dir);
	snprintf(sock, sizeof sock, "%s/stall.sock", dir);
	snprintf(out, sizeof out, "%s/stall.out", dir);
	snprintf(sockenv, sizeof sockenv, "FAULTLINE_SOCKET=%s", sock);
	pid_t d = start_faultlined(sock, db);
	/* Stopped: the program connects (the kernel queues the connection)
	 * and its records pile up. */
	cr_assert_eq(kill(d, SIGSTOP), 0);
	char *argv[] = {ALLOCSITES, "small", "8192", "16", NULL};
	char *env[] = {sockenv, "FAULTLINE_ALLOC_SAMPLE=4K", "FAULTLINE_STACKS=8", preload_env(), NULL};
	pid_t p = start_to(argv, out, env);
	/* Its work is done once it printed; it now waits (3 s at most) for
	 * the daemon to take the rest. */
	fl_test_wait_file(out, 4, FL_WAIT_MS);
	cr_assert_eq(kill(d, SIGCONT), 0);
	int st = 0;
	cr_assert_eq(waitpid(p, &st, 0), p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "allocsites ended with %d", st);
	char sql[200];
	snprintf(sql, sizeof sql, "select count(*) from processes where pid = %d and how is not null", (int)p);
	fl_test_wait_sql(db, sql, 1, 0, FL_WAIT_MS);
	kill(d, SIGTERM);
	cr_assert_eq(waitpid(d, &st, 0), d);
	sqlite3 *h = open_db(db);
	snprintf(sql, sizeof sql, "select how = 'exited' from processes where pid = %d", (int)p);
	if (q(h, sql) != 1) {
		sqlite3_close(h);
		cr_skip_test("the daemon could not take the queue in the 3 s the program waits at exit");
	}
	double live = q(h, "SELECT count(*) FROM allocs WHERE alloc_id <> 0 AND free_ns IS NULL");
	double dropped = q(h, "SELECT dropped FROM allocs WHERE alloc_id = 0");
	sqlite3_close(h);
	cr_expect(live > 1000 && live <= 3072, "%.0f samples kept live", live);
	cr_expect(live + dropped > 8192 * 0.9 - 500, "%.0f samples kept and %.0f dropped of 8192 blocks", live, dropped);
}
