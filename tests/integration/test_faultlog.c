/*
 * The fault log end to end: a program with known fault behaviour
 * (tests/progs/faulter) runs under the real shim, its log goes through
 * the real faultlined into SQLite, and the database is checked against
 * what the shim itself counted: counts by kind, the drop totals that
 * account for any difference, the hottest stack symbolized to the right
 * function and line, a forked child linked to its parent, how processes
 * ended, several programs at once, and a daemon killed and restarted
 * while a program runs.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runprog.h"
#include "wait.h"

#define FAULTER "build/tests/progs/faulter"
#define COWCHECK "build/tests/progs/cowcheck"
#define RESERVER "build/tests/progs/reserver"

static char dir[256], db[300], sock[300];

static void make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/fl-log-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(db, sizeof db, "%s/log.db", dir);
	snprintf(sock, sizeof sock, "%s/d.sock", dir);
}

static void remove_dir(void)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", dir);
}

static sqlite3 *open_db(void)
{
	sqlite3 *h = NULL;
	cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "open %s", db);
	sqlite3_busy_timeout(h, 5000);
	return h;
}

/* One integer from a query (formatted with args); fails the test on error. */
__attribute__((format(printf, 2, 3))) static long long q1(sqlite3 *h, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	sqlite3_stmt *st = NULL;
	cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
	long long v = -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* One text value (static buffer). */
static const char *qs(sqlite3 *h, const char *sql)
{
	static char out[1024];
	sqlite3_stmt *st = NULL;
	cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
	out[0] = 0;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

/* The line of faulter.c holding the marker. */
static int source_line(const char *marker)
{
	FILE *f = fopen("tests/progs/faulter.c", "r");
	cr_assert_not_null(f);
	char line[512];
	int n = 0, found = 0;
	while (fgets(line, sizeof line, f)) {
		n++;
		if (strstr(line, marker) && !strstr(line, "#define")) {
			found = n;
			break;
		}
	}
	fclose(f);
	return found;
}

static void run_launcher(char *const *args, const char *out, struct run_result *r)
{
	char *argv[32];
	int n = 0;
	argv[n++] = (char *)test_bin("faultline");
	argv[n++] = "run";
	argv[n++] = "--db";
	argv[n++] = db;
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--lib";
	argv[n++] = (char *)shim_lib();
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	run_to(argv, NULL, out, NULL, r);
}

static void check_stdout(const char *out, const char *want)
{
	FILE *f = fopen(out, "r");
	cr_assert_not_null(f);
	char buf[256] = "";
	cr_assert_not_null(fgets(buf, sizeof buf, f));
	fclose(f);
	cr_assert(strstr(buf, want), "program said: %s", buf);
}

static void counts_match_shim(sqlite3 *h, long long proc)
{
	static const char *cols[] = {"faults_first_touch", "faults_soft", "faults_decompress",
				     "faults_same_filled", "faults_spill", "faults_wp"};
	long long shim_total = 0, db_total = 0;
	for (int k = 0; k < 6; k++) {
		/* The last sample is the shim's own count, sent at exit. */
		long long shim = q1(h, "select %s from samples where process=%lld order by t_ns desc, id desc limit 1",
				    cols[k], proc);
		long long got = q1(h, "select count(*) from faults where process=%lld and kind=%d", proc, k);
		cr_assert_geq(shim, 0, "no sample for process %lld", proc);
		cr_expect_leq(got, shim, "kind %s: %lld logged, the shim counted %lld", cols[k], got, shim);
		shim_total += shim;
		db_total += got;
	}
	long long dropped = q1(h, "select dropped_events from processes where id=%lld", proc);
	cr_expect_eq(db_total + dropped, shim_total,
		     "process %lld: %lld logged + %lld dropped != %lld counted by the shim", proc, db_total, dropped,
		     shim_total);
	cr_expect_gt(db_total, 0);
}

static void counts_and_hottest_stack(const char *engine)
{
	make_dir();
	char out[320];
	snprintf(out, sizeof out, "%s/out", dir);
	char *args[] = {"--engine", (char *)engine, "--stacks", "all", "--fault-around", "1", "--readahead", "1",
			"--budget", "2M", "-q", "--", FAULTER, "3000", "--protect", NULL};
	struct run_result r;
	run_launcher(args, out, &r);
	cr_assert_eq(r.status, 0, "faultline run: %d\n%s", r.status, r.err);
	check_stdout(out, "checksum ok");

	sqlite3 *h = open_db();
	cr_assert_eq(q1(h, "select count(*) from processes"), 1);
	long long proc = q1(h, "select id from processes");
	cr_expect_str_eq(qs(h, "select how from processes"), "exited");
	cr_expect_eq(q1(h, "select exit_status from processes"), 0);
	counts_match_shim(h, proc);
	/* Fault-around off: one first-touch fault per page written. */
	cr_expect_geq(q1(h, "select count(*) from faults where kind=0"), 3000);
	cr_expect_gt(q1(h, "select count(*) from faults where kind in (1,2,3)"), 0,
		     "a 2M budget under 12M of writes must bring pages back");

	/* The mapping's life: created read-write, made read-only, destroyed. */
	cr_expect_eq(q1(h, "select count(*) from regions where process=%lld and len=%d and prot=3", proc, 3000 * 4096), 1);
	cr_expect_eq(q1(h, "select count(*) from regions where process=%lld and len=%d and prot=1 and destroyed_ns "
			   "is not null", proc, 3000 * 4096),
		     1);
	/* The hottest stack: write_pages, at the line that writes. */
	/* faults.stack is the shim's id for the stack, per process. */
	long long stack = q1(h, "select s.id from faults f join stacks s on s.process = f.process and "
				"s.stack_id = f.stack where f.stack != 0 group by s.id order by count(*) desc limit 1");
	cr_assert_gt(stack, 0, "no stacks logged");
	/* Symbolization runs off the hot path: until the stack has been
	 * through it (all its frames are named in one commit). */
	char sql[512];
	snprintf(sql, sizeof sql, "select count(*) from frames where stack=%lld and depth=0 and symbolized != 0",
		 stack);
	fl_test_wait_sql(db, sql, 1, 1, FL_WAIT_MS);
	snprintf(sql, sizeof sql,
		 "select function from frames where stack=%lld and depth=0 order by inline_depth desc limit 1", stack);
	cr_expect_str_eq(qs(h, sql), "write_pages");
	snprintf(sql, sizeof sql,
		 "select line from frames where stack=%lld and depth=0 order by inline_depth desc limit 1", stack);
	cr_expect_eq(atoi(qs(h, sql)), source_line("FAULTER_WRITE_LINE"));
	snprintf(sql, sizeof sql, "select file from frames where stack=%lld and depth=0 limit 1", stack);
	cr_expect(strstr(qs(h, sql), "faulter.c"), "file %s", qs(h, sql));
	snprintf(sql, sizeof sql,
		 "select count(*) from frames where stack=%lld and function='main'", stack);
	cr_expect_gt(atoi(qs(h, sql)), 0, "main is not on the hottest stack");
	sqlite3_close(h);
	remove_dir();
}

Test(faultlog, counts_by_kind_and_hottest_stack_symbolized, .timeout = 120)
{
	counts_and_hottest_stack("uffd");
}

Test(faultlog, counts_by_kind_and_hottest_stack_signal_engine, .timeout = 120)
{
	counts_and_hottest_stack("signal");
}

/*
 * reserver's committed pieces in the fault log: every region it committed
 * out of a reservation (96 with mprotect, 24 + 4 with MAP_FIXED) is
 * stored with the kind resv->commit, and with fault-around off and no
 * budget its first-touch faults there are one per page it wrote: 96 + 12
 * recommitted pieces of 64 pages, 24 of 256 and 4 of 512.  `faultline
 * report` names the type.
 */
Test(faultlog, faults_in_committed_reservations_name_their_kind, .timeout = 120)
{
	make_dir();
	char out[320];
	snprintf(out, sizeof out, "%s/out", dir);
	char *args[] = {"--fault-around", "1", "--readahead", "1", "-q", "--", RESERVER, NULL};
	struct run_result r;
	run_launcher(args, out, &r);
	cr_assert_eq(r.status, 0, "faultline run: %d\n%s", r.status, r.err);
	check_stdout(out, ", ok");

	sqlite3 *h = open_db();
	long long proc = q1(h, "select id from processes");
	cr_expect_str_eq(qs(h, "select how from processes"), "exited");
	cr_expect_eq(q1(h, "select count(distinct region_id) from regions where process=%lld and kind='resv->commit'",
			proc),
		     96 + 24 + 4);
	cr_expect_eq(q1(h, "select count(distinct region_id) from regions where process=%lld and kind='resv->commit'"
			   " and len=%d",
			proc, 256 << 10),
		     96);
	/* The 8 pieces the JVM's way uncommitted ended with their regions,
	 * and so did the 4 committed over again with the piece before. */
	cr_expect_eq(q1(h, "select count(*) from regions where process=%lld and kind='resv->commit' and len=%d"
			   " and destroyed_ns is not null",
			proc, 1 << 20),
		     8 + 4);
	cr_expect_eq(q1(h, "select count(*) from regions where process=%lld and kind='resv->commit' and len=%d",
			proc, 2 << 20),
		     4);
	cr_expect_eq(q1(h, "select count(*) from regions where process=%lld and kind='program mmap'", proc), 0,
		     "no commit is taken for a program mapping");
	long long want = (96 + 12) * 64 + 24 * 256 + 4 * 512;
	long long pages = q1(h, "select coalesce(sum(pages), 0) from faults where process=%lld and kind=0 and region in"
				" (select region_id from regions where process=%lld and kind='resv->commit')",
			     proc, proc);
	long long dropped = q1(h, "select dropped_events from processes where id=%lld", proc);
	cr_expect_leq(pages, want, "first-touch pages in committed pieces");
	cr_expect_geq(pages + dropped, want, "%lld first-touch pages logged in committed pieces, %lld events dropped",
		      pages, dropped);
	counts_match_shim(h, proc);
	sqlite3_close(h);

	char rep[320];
	snprintf(rep, sizeof rep, "%s/report", dir);
	char *rargs[] = {(char *)test_bin("faultline"), "report", db, NULL};
	run_to(rargs, NULL, rep, NULL, &r);
	cr_assert_eq(r.status, 0, "faultline report: %s", r.err);
	static char text[1 << 16];
	read_text(rep, text, sizeof text);
	const char *by = strstr(text, "  by type:");
	cr_expect(by && strstr(by, " resv->commit ") && strstr(by, " resv->commit ") < strchr(by, '\n'), "%s", text);
	cr_expect(strstr(text, "\n  resv->commit   ") != NULL, "a region row of the type: %s", text);
	remove_dir();
}

Test(faultlog, forked_child_is_its_own_process_linked_to_its_parent, .timeout = 120)
{
	make_dir();
	char out[320];
	snprintf(out, sizeof out, "%s/out", dir);
	char *args[] = {"--fault-around", "1", "-q", "--", FAULTER, "2000", "--fork", NULL};
	struct run_result r;
	run_launcher(args, out, &r);
	cr_assert_eq(r.status, 0, "faultline run: %d\n%s", r.status, r.err);
	check_stdout(out, "checksum ok");
	sqlite3 *h = open_db();
	cr_assert_eq(q1(h, "select count(*) from processes"), 2);
	long long parent = q1(h, "select id from processes where parent_id is null");
	long long child = q1(h, "select id from processes where parent_id is not null");
	cr_assert_gt(parent, 0);
	cr_assert_gt(child, 0);
	cr_expect_eq(q1(h, "select parent_id from processes where id=%lld", child), parent);
	cr_expect_eq(q1(h, "select ppid from processes where id=%lld", child),
		     q1(h, "select pid from processes where id=%lld", parent));
	/* The child wrote its own 1000 pages after the fork. */
	cr_expect_geq(q1(h, "select count(*) from faults where process=%lld and kind=0", child), 1000);
	counts_match_shim(h, parent);
	counts_match_shim(h, child);
	cr_expect_str_eq(qs(h, "select group_concat(how) from processes"), "exited,exited");
	sqlite3_close(h);
	remove_dir();
}

/* Does the program's output (all of it) contain want? */
static int stdout_has(const char *out, const char *want)
{
	char buf[4096];
	read_text(out, buf, sizeof buf);
	return strstr(buf, want) != NULL;
}

/* Write-protect faults inside cowcheck's own mapping (3000 pages). */
static const char *in_map = "select count(*) from faults f join regions g on g.process = f.process"
			    " and f.addr >= g.start and f.addr < g.start + g.len"
			    " where f.process=%lld and f.kind=5 and g.len = 3000 * 4096";

/* Run cowcheck 3000 pages with these children and that order; returns the
 * parent's process id in the database (left open in *hp). */
static long long cowcheck_run(const char *children, const char *order, sqlite3 **hp)
{
	char out[320];
	snprintf(out, sizeof out, "%s/out", dir);
	char *args[] = {"--stacks", "all", "-q", "--", COWCHECK, "3000", (char *)children, (char *)order, NULL};
	struct run_result r;
	run_launcher(args, out, &r);
	cr_assert_eq(r.status, 0, "faultline run: %d\n%s", r.status, r.err);
	cr_assert(stdout_has(out, "parent wrote 1000 pages, 0 wrong, ok"), "cowcheck did not say ok");
	sqlite3 *h = open_db();
	cr_assert_eq(q1(h, "select count(*) from processes"), 1 + atoi(children));
	long long parent = q1(h, "select id from processes where parent_id is null");
	*hp = h;
	return parent;
}

static long long nth_child(sqlite3 *h, long long parent, int c)
{
	return q1(h, "select id from processes where parent_id=%lld order by id limit 1 offset %d", parent, c);
}

/*
 * Copy-on-write after fork: the first write to a managed page still shared
 * with the other side is a write-protect fault of the process that wrote
 * it, charged to the function that wrote; the kernel still makes the copy
 * (cowcheck checks every byte of every view).  Here the parent writes its
 * 1000 of the 3000 pages (the first by read(2): a kernel-mode write waits
 * for the pager) while its child waits, then the child writes its 750, of
 * which 250 the parent has copied already: those cost the child no copy,
 * and once one in 16 of its breaks finds such a page, the pager lifts the
 * protection of all of them.
 */
Test(faultlog, cow_breaks_after_fork_are_write_protect_faults_of_the_writer, .timeout = 120)
{
	make_dir();
	sqlite3 *h;
	long long parent = cowcheck_run("1", "--parent-first", &h);
	/* 1000, and in 2 of several hundred runs under a loaded machine 1001:
	 * an extra fault not explained yet (README, Managed mappings). */
	long long pw = q1(h, in_map, parent);
	cr_expect(pw >= 1000 && pw <= 1001, "parent: %lld write-protect faults in its mapping, %lld dropped", pw,
		  q1(h, "select dropped_events from processes where id=%lld", parent));
	/* Each charged to parent_writes, where it has a stack (a stack can be
	 * dropped under load; the fault is still logged).  Once in a loaded
	 * CI run one of the 1000 had a stack without parent_writes in it; not
	 * explained yet (the read(2) page's stack is taken as the system call
	 * returns), so one may be missing. */
	long long in_pw = q1(h, "select count(*) from fault_log where process=%lld and kind='write-protect'"
				" and stack in (select stack from stack_frames where process=%lld"
				" and function='parent_writes')", parent, parent);
	long long no_stack = q1(h, "select count(*) from faults where process=%lld and kind=5 and stack=0", parent);
	cr_expect(in_pw >= 999 - no_stack && in_pw <= pw, "parent_writes: %lld faults, %lld without a stack", in_pw,
		  no_stack);
	long long child = nth_child(h, parent, 0);
	long long got = q1(h, in_map, child);
	cr_expect(got >= 500 && got <= 500 + 64, "child: %lld write-protect faults, want 500 to 564", got);
	counts_match_shim(h, parent);
	counts_match_shim(h, child);
	sqlite3_close(h);
	remove_dir();
}

/*
 * Two children write 750 pages each while the parent waits; every one of
 * those pages is still shared when written (with the parent and the other
 * child).  Then the children are gone and the parent writes: its pages
 * are its own again, and the protections that guard nothing are lifted
 * within a few of its writes instead of costing a fault each.
 */
Test(faultlog, cow_protection_is_lifted_once_the_children_are_gone, .timeout = 120)
{
	make_dir();
	sqlite3 *h;
	long long parent = cowcheck_run("2", "--parent-last", &h);
	for (int c = 0; c < 2; c++) {
		long long child = nth_child(h, parent, c);
		cr_expect_eq(q1(h, in_map, child), 750, "child %d: %lld dropped", c,
			     q1(h, "select dropped_events from processes where id=%lld", child));
		counts_match_shim(h, child);
	}
	long long got = q1(h, in_map, parent);
	cr_expect_leq(got, 64, "parent: %lld write-protect faults after its children exited", got);
	counts_match_shim(h, parent);
	sqlite3_close(h);
	remove_dir();
}

Test(faultlog, killed_program_is_signalled_through_the_launcher, .timeout = 120)
{
	make_dir();
	char out[320];
	snprintf(out, sizeof out, "%s/out", dir);
	/* The program kills itself the hard way once its work is done. */
	char script[400];
	snprintf(script, sizeof script, "%s 500 && kill -9 $$", FAULTER);
	char *args[] = {"-q", "--", "/bin/sh", "-c", script, NULL};
	struct run_result r;
	run_launcher(args, out, &r);
	cr_assert_eq(r.status, 128 + SIGKILL, "status %d\n%s", r.status, r.err);
	sqlite3 *h = open_db();
	/* sh (killed) and faulter (exited) both ran under the shim. */
	cr_expect_eq(q1(h, "select count(*) from processes where how='signalled' and exit_status=9"), 1);
	cr_expect_eq(q1(h, "select count(*) from processes where how='exited'"), 1);
	sqlite3_close(h);
	remove_dir();
}

/* A daemon of the test's own, on the test's socket and database. */
static pid_t start_daemon(void)
{
	return start_faultlined(sock, db);
}

static void stop_daemon(pid_t pid)
{
	kill(pid, SIGTERM);
	int st = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "faultlined ended with %d", st);
}

static pid_t start_faulter(char *const *args, const char *out)
{
	char sockenv[512];
	snprintf(sockenv, sizeof sockenv, "FAULTLINE_SOCKET=%s", sock);
	char *env[] = {sockenv, preload_env(), "FAULTLINE_FAULT_AROUND=1", NULL};
	return start_to(args, out, env);
}

Test(faultlog, sigkilled_program_is_vanished_and_others_are_served, .timeout = 120)
{
	make_dir();
	pid_t d = start_daemon();
	char out[3][320];
	pid_t p[3];
	char *hang[] = {FAULTER, "800", "--hang", NULL};
	char *plain[] = {FAULTER, "1500", NULL};
	for (int i = 0; i < 3; i++) {
		snprintf(out[i], sizeof out[i], "%s/out%d", dir, i);
		p[i] = start_faulter(i == 0 ? hang : plain, out[i]);
	}
	for (int i = 1; i < 3; i++) {
		int st = 0;
		cr_assert_eq(waitpid(p[i], &st, 0), p[i]);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		check_stdout(out[i], "checksum ok");
	}
	/* The hanging one has done its work once it printed, and its
	 * faults have reached the daemon once they are in the database. */
	fl_test_wait_file(out[0], 1, FL_WAIT_MS);
	char sql[200];
	snprintf(sql, sizeof sql, "select count(*) from faults where process=(select id from processes where pid=%d)",
		 (int)p[0]);
	fl_test_wait_sql(db, sql, 800, 1, FL_WAIT_MS);
	kill(p[0], SIGKILL);
	waitpid(p[0], NULL, 0);
	/* The daemon has seen its connection end without a goodbye. */
	snprintf(sql, sizeof sql, "select count(*) from processes where how='vanished' and pid=%d", (int)p[0]);
	fl_test_wait_sql(db, sql, 1, 0, FL_WAIT_MS);
	stop_daemon(d);
	sqlite3 *h = open_db();
	cr_expect_eq(q1(h, "select count(*) from processes"), 3);
	cr_expect_eq(q1(h, "select count(*) from processes where how='vanished' and pid=%d", (int)p[0]), 1);
	cr_expect_eq(q1(h, "select count(*) from processes where how='exited'"), 2);
	for (int i = 1; i < 3; i++) {
		long long proc = q1(h, "select id from processes where pid=%d", (int)p[i]);
		counts_match_shim(h, proc);
		cr_expect_geq(q1(h, "select count(*) from faults where process=%lld and kind=0", proc), 1500);
	}
	cr_expect_geq(q1(h, "select count(*) from faults where process=(select id from processes where pid=%d)",
			 (int)p[0]),
		      800);
	sqlite3_close(h);
	remove_dir();
}

/* Until faulter creates dir/name (its gate); fails the test if it ends. */
struct gate {
	pid_t p;
	const char *path;
	int ended, status;
};

static int gate_reached(void *arg)
{
	struct gate *g = arg;
	if (access(g->path, F_OK) == 0)
		return 1;
	g->ended = waitpid(g->p, &g->status, WNOHANG) != 0;
	return g->ended;
}

static void gate_wait(pid_t p, const char *name)
{
	char path[400];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	struct gate g = {.p = p, .path = path};
	fl_test_wait_until(gate_reached, &g, 60000, "faulter to reach %s", name);
	cr_assert(!g.ended, "faulter ended (status %d) before %s", g.status, name);
}

static void gate_open(const char *name)
{
	char path[400];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = creat(path, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
}

/* One integer from the database (opened for this query only). */
static long long q1_db(const char *sql)
{
	sqlite3 *h = open_db();
	long long v = q1(h, "%s", sql);
	sqlite3_close(h);
	return v;
}

/* Until the query says at least want (the daemon commits within 250 ms). */
static void wait_rows(const char *sql, long long want)
{
	fl_test_wait_sql(db, sql, want, 1, FL_WAIT_MS);
}

Test(faultlog, daemon_killed_and_restarted_mid_run, .timeout = 120)
{
	make_dir();
	pid_t d = start_daemon();
	char out[320];
	snprintf(out, sizeof out, "%s/out", dir);
	/* faulter waits after each third of its writes: the first third goes
	 * to this daemon, the second to none, the last to a new one on the
	 * same socket and database once the shim has found it. */
	char *args[] = {FAULTER, "20000", "--phases", dir, NULL};
	pid_t p = start_faulter(args, out);
	gate_wait(p, "stop1");
	wait_rows("select count(*) from faults", 1);
	kill(d, SIGKILL);
	waitpid(d, NULL, 0);
	gate_open("go1");
	gate_wait(p, "stop2"); /* the second third ran without a daemon */
	long long samples = q1_db("select count(*) from samples");
	d = start_daemon();
	wait_rows("select count(*) from samples", samples + 1); /* reconnected */
	gate_open("go2");
	int st = 0;
	cr_assert_eq(waitpid(p, &st, 0), p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "faulter ended with %d", st);
	check_stdout(out, "checksum ok");
	stop_daemon(d);
	sqlite3 *h = open_db();
	/* One process, found again on reconnection; what it could not send
	 * while no daemon listened is counted. */
	cr_expect_eq(q1(h, "select count(*) from processes"), 1);
	cr_expect_str_eq(qs(h, "select how from processes"), "exited");
	cr_expect_gt(q1(h, "select dropped_events from processes"), 0);
	long long logged = q1(h, "select count(*) from faults");
	cr_expect_gt(logged, 0);
	cr_expect_lt(logged + q1(h, "select dropped_events from processes"), 20000 + 20000,
		     "more faults than the program can have taken");
	sqlite3_close(h);
	remove_dir();
}
