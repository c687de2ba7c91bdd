/*
 * `faultline top` driven in a tmux pane, as a person would (send-keys,
 * capture-pane), on the fault log of a real run: faulter under the shim
 * and its private faultlined.  The process list shows the running
 * program and then marks it ended; the region table appears with its
 * header, sorting and filtering change it, search finds, the help opens
 * and closes, resizes (larger, too small, back) keep the layout whole,
 * and every way out (q, SIGINT, SIGTERM) leaves the terminal as it was.
 * A replay steps through the finished run.  Bad input (not a database,
 * a SQLite file that is not faultline's, a newer schema, no such process,
 * not ours, not a terminal, a terminal too small with --once) gets a
 * clear message and a non-zero status.
 *
 * Each test has its own tmux server (-L) and kills it at the end; every
 * wait polls the pane with a deadline instead of sleeping.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runprog.h"
#include "wait.h"

#define FAULTER "build/tests/progs/faulter"

static char dir[64], db[128], sock[128], tsock[64];
static pid_t launcher;

static void skip_unless_quick(void)
{
	/* Real programs run in the quick tier only (see test_programs.c). */
	const char *tier = getenv("FL_TEST_TIER");
	if (tier && !strcmp(tier, "slow"))
		cr_skip_test("real programs run in the quick tier only");
}

static void make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/fl-top-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(db, sizeof db, "%s/log.db", dir);
	snprintf(sock, sizeof sock, "%s/d.sock", dir);
}

/* A tmux server of our own for each session: parallel tests never share
 * a pane, and a new server never races the exit of the one before. */
static void new_tmux_name(void)
{
	static int n;
	snprintf(tsock, sizeof tsock, "fltop-%d-%d", (int)getpid(), n++);
}

/* Run tmux -L <ours> ARGS...; its status.  Output to out (may be NULL). */
static int tmux(char *out, size_t outlen, ...)
{
	char *argv[32] = {"tmux", "-L", tsock, "-f", "/dev/null"};
	int n = 5;
	va_list ap;
	va_start(ap, outlen);
	char *a;
	while (n < 31 && (a = va_arg(ap, char *)))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	/* Output through a pipe only when wanted: a tmux that starts the
	 * server leaves it holding the client's stdout, and a pipe read to
	 * its end would then wait for the server to exit. */
	int p[2] = {-1, -1};
	if (out)
		cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		dup2(out ? p[1] : nul, 1);
		dup2(nul, 0);
		dup2(nul, 2);
		if (out)
			close(p[0]);
		execvp("tmux", argv);
		_exit(127);
	}
	if (out) {
		close(p[1]);
		size_t got = 0;
		char buf[4096];
		ssize_t k;
		while ((k = read(p[0], buf, sizeof buf)) > 0)
			if (got + 1 < outlen) {
				size_t take = (size_t)k < outlen - 1 - got ? (size_t)k : outlen - 1 - got;
				memcpy(out + got, buf, take);
				got += take;
			}
		out[got] = 0;
		close(p[0]);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char pane[65536];

static void capture(void)
{
	tmux(pane, sizeof pane, "capture-pane", "-p", "-t", "top", (char *)NULL);
}

/* The pane with its attributes as escape sequences (capture-pane -e). */
static void capture_attrs(void)
{
	tmux(pane, sizeof pane, "capture-pane", "-p", "-e", "-t", "top", (char *)NULL);
}

/* Does the captured text set a color (SGR 30-37, 40-47, 38;..., 48;...)? */
static int has_color(const char *t)
{
	for (const char *p = t; (p = strstr(p, "\033[")); ) {
		p += 2;
		while (*p >= '0' && *p <= '9') {
			int v = (int)strtol(p, (char **)&p, 10);
			if ((v >= 30 && v <= 38) || (v >= 40 && v <= 48))
				return 1;
			if (*p == ';')
				p++;
		}
	}
	return 0;
}

struct pane_wait {
	const char *text;
	int present;
};

static int pane_is(void *arg)
{
	struct pane_wait *w = arg;
	capture();
	return (strstr(pane, w->text) != NULL) == w->present;
}

/* Poll the pane until it shows text (present) or no longer does; 1 if so within ms. */
static int wait_pane(const char *text, int present, int ms)
{
	struct pane_wait w = {.text = text, .present = present};
	return fl_test_poll(pane_is, &w, ms);
}

#define SHOWS(text) cr_assert(wait_pane(text, 1, 10000), "the pane never showed '%s':\n%s", text, pane)
#define GONE(text) cr_assert(wait_pane(text, 0, 10000), "the pane still shows '%s':\n%s", text, pane)

static void keys(const char *k)
{
	cr_assert_eq(tmux(NULL, 0, "send-keys", "-t", "top", k, (char *)NULL), 0);
}

/* Literal text, each character a key. */
static void type(const char *t)
{
	cr_assert_eq(tmux(NULL, 0, "send-keys", "-t", "top", "-l", t, (char *)NULL), 0);
}

static void resize(const char *x, const char *y)
{
	cr_assert_eq(tmux(NULL, 0, "resize-window", "-t", "top", "-x", x, "-y", y, (char *)NULL), 0);
}

/*
 * Start top with args in a new tmux session of cols x rows.  The pane's
 * shell remembers the terminal's settings, runs top, and then prints
 * STTY-SAME when they are back as they were, and top's exit status.
 * (The trap keeps the shell alive when C-c ends top: a shell whose
 * child died of SIGINT would otherwise end itself the same way.)
 */
static void start_top(const char *cols, const char *rows, const char *env, const char *args)
{
	new_tmux_name();
	if (tmux(NULL, 0, "-V", (char *)NULL) != 0)
		cr_skip_test("tmux is not installed (scripts/setup.sh installs it)");
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
		 "trap : INT; a=$(stty -g); echo $$ > %s/sh.pid; %s %s top %s; rc=$?; b=$(stty -g); "
		 "[ \"$a\" = \"$b\" ] && echo STTY-SAME; echo EXIT=$rc; sleep 120",
		 dir, env ? env : "", test_bin("faultline"), args);
	cr_assert_eq(tmux(NULL, 0, "new-session", "-d", "-s", "top", "-x", cols, "-y", rows, cmd, (char *)NULL), 0,
		     "tmux new-session failed");
}

static void stop_tmux(void)
{
	if (tsock[0])
		tmux(NULL, 0, "kill-server", (char *)NULL);
	tsock[0] = 0;
}

static void stop_faulter(void);

static void remove_dir(void)
{
	if (!dir[0])
		return;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", dir);
	dir[0] = 0;
}

/* Whatever a test leaves behind when an assertion stops it. */
static void cleanup(void)
{
	stop_tmux();
	stop_faulter();
	if (dir[0])
		remove_dir();
	dir[0] = 0;
}

TestSuite(top, .fini = cleanup);

/* One integer from the database (-1: no row). */
static long long q1(const char *sql)
{
	sqlite3 *h = NULL;
	long long v = -1;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(h, 2000);
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return v;
}

/* Whether faulter's regions, samples and a stack have been stored. */
static int run_stored(void *arg)
{
	(void)arg;
	return q1("select count(*) from regions") >= 2 && q1("select count(*) from samples") >= 3 &&
	       q1("select count(*) from stack_faults") >= 1;
}

/*
 * faulter under `faultline run` with its own daemon and database, left
 * running (--hang) once it has written its pages; returns faulter's pid
 * (from the database) when its regions and samples are there.
 */
static int start_run(const char *prog, const char *arg1, const char *arg2)
{
	launcher = fork();
	cr_assert_geq(launcher, 0);
	if (launcher == 0) {
		/* A test stopped by its timeout skips its clean-up: the
		 * launcher then ends with it, and passes SIGTERM on to faulter. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		execl(test_bin("faultline"), "faultline", "run", "--db", db, "--socket", sock, "--stacks", "all", "-q",
		      "--", prog, arg1, arg2, (char *)NULL);
		_exit(127);
	}
	cr_assert(fl_test_poll(run_stored, NULL, 20000), "%s's run never reached the database %s", prog, db);
	return (int)q1("select pid from processes");
}

static int start_faulter(void)
{
	return start_run(FAULTER, "3000", "--hang");
}

/* End faulter: the launcher passes SIGTERM on, reports how it ended, and stops its daemon. */
static void stop_faulter(void)
{
	if (launcher <= 0)
		return;
	kill(launcher, SIGTERM);
	int st;
	waitpid(launcher, &st, 0);
	launcher = 0;
}

/* The lines of the pane's region table (below the header), in order. */
static int table_rows(char rows[][128], int max)
{
	const char *h = strstr(pane, "REGION TYPE");
	if (!h)
		return 0;
	const char *p = strchr(h, '\n');
	int n = 0;
	while (p && *++p && n < max) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		/* Table rows start with a type: lowercase letters. */
		if (!len || p[0] < 'a' || p[0] > 'z')
			break;
		snprintf(rows[n++], 128, "%.*s", (int)(len < 127 ? len : 127), p);
		p = e;
	}
	return n;
}

/* The VSIZE column of a row, in bytes. */
static double vsize_of(const char *row)
{
	/* TYPE (12) START-END (25) VSIZE: the size is the token after the range. */
	const char *r = strchr(row + 13, ' ');
	double v = r ? strtod(r, (char **)&r) : 0;
	if (r && *r == 'K')
		v *= 1024;
	else if (r && *r == 'M')
		v *= 1024 * 1024;
	else if (r && *r == 'G')
		v *= 1024.0 * 1024 * 1024;
	return v;
}

/* Does the captured table start with this row? */
static int first_row_is(void *arg)
{
	char rows[64][128];
	capture();
	return table_rows(rows, 64) > 0 && !strcmp(rows[0], (const char *)arg);
}

/* Is the captured table in VSIZE order (desc: largest first), with every
 * row drawn?  The header's sort mark is drawn before the rows are. */
static int vsize_sorted(void *arg)
{
	int desc = *(int *)arg;
	char rows[64][128];
	capture();
	int n = table_rows(rows, 64);
	if (n < 2)
		return 0;
	for (int i = 1; i < n; i++) {
		double a = vsize_of(rows[i - 1]), b = vsize_of(rows[i]);
		if (desc ? a < b : a > b)
			return 0;
	}
	return 1;
}

/* Is every row of the captured table of type arg (and is there one)?  The
 * header's filter is drawn before the rows are. */
static int rows_all_of_type(void *arg)
{
	const char *type = arg;
	char rows[64][128];
	capture();
	int n = table_rows(rows, 64);
	for (int i = 0; i < n; i++)
		if (strncmp(rows[i], type, strlen(type)))
			return 0;
	return n > 0;
}

/* No line wider than the window, the header once, the key line at the bottom. */
static void whole_layout(int cols, int rows)
{
	int lines = 0, headers = 0;
	for (const char *p = pane; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		cr_expect_leq(len, (size_t)cols, "a line wider than %d: '%.*s'", cols, (int)len, p);
		if (memmem(p, len, "REGION TYPE", 11))
			headers++;
		if (memmem(p, len, "q:quit", 6))
			cr_expect_eq(lines, rows - 1, "the key line is on row %d of %d", lines, rows);
		lines++;
		p = e ? e + 1 : p + len;
	}
	cr_expect_eq(headers, 1, "%d headers:\n%s", headers, pane);
}

Test(top, live_process_region_table_and_keys, .timeout = 180)
{
	skip_unless_quick();
	make_dir();
	int pid = start_faulter();
	char args[512];
	snprintf(args, sizeof args, "--db %s --interval 0.2", db);
	start_top("80", "24", "", args);

	/* The process list: the running preloaded program. */
	SHOWS("PID STATE");
	char want[64];
	snprintf(want, sizeof want, "%d running", pid);
	SHOWS(want);
	SHOWS("faulter 3000 --hang");

	/* Its region table. */
	keys("Enter");
	SHOWS("REGION TYPE  START-END^");
	SHOWS("page states: live");
	SHOWS("jemalloc ");
	capture();
	whole_layout(80, 24);
	char rows[64][128];
	int n = table_rows(rows, 64);
	cr_assert_geq(n, 2, "fewer than two regions:\n%s", pane);
	char first[128];
	snprintf(first, sizeof first, "%s", rows[0]);
	/* Without NO_COLOR, a terminal with colors gets them. */
	capture_attrs();
	cr_expect(has_color(pane), "no colors:\n%s", pane);

	/* Sorting: by VSIZE, largest first, then reversed. */
	keys(">");
	SHOWS("vVSIZE");
	int desc = 1;
	fl_test_poll(vsize_sorted, &desc, 10000);
	n = table_rows(rows, 64);
	for (int i = 1; i < n; i++)
		cr_expect_geq(vsize_of(rows[i - 1]), vsize_of(rows[i]), "not by VSIZE descending:\n%s", pane);
	char big[128];
	snprintf(big, sizeof big, "%s", rows[0]);
	keys("r");
	SHOWS("^VSIZE");
	desc = 0;
	fl_test_poll(vsize_sorted, &desc, 10000);
	n = table_rows(rows, 64);
	for (int i = 1; i < n; i++)
		cr_expect_leq(vsize_of(rows[i - 1]), vsize_of(rows[i]), "not by VSIZE ascending:\n%s", pane);
	cr_expect(strcmp(big, rows[0]), "reversing did not change the first row:\n%s", pane);
	keys("<");
	SHOWS("START-END^");
	fl_test_poll(first_row_is, first, 10000);
	n = table_rows(rows, 64);
	cr_expect_str_eq(rows[0], first);

	/* Filtering by type: only jemalloc regions, then all again. */
	/* t cycles through the types present, in name order. */
	for (int i = 0; i < 6 && !strstr(pane, "type=jemalloc"); i++) {
		keys("t");
		wait_pane("type=jemalloc", 1, 1500);
	}
	SHOWS("type=jemalloc");
	fl_test_poll(rows_all_of_type, "jemalloc", 10000);
	n = table_rows(rows, 64);
	cr_assert_geq(n, 1);
	for (int i = 0; i < n; i++)
		cr_expect(!strncmp(rows[i], "jemalloc", 8), "row '%s' under type=jemalloc", rows[i]);
	keys("c");
	GONE("type=jemalloc");
	/* By name: the program's own mappings. */
	keys("f");
	SHOWS("filter: _");
	type("program");
	keys("Enter");
	SHOWS("name~program");
	n = table_rows(rows, 64);
	cr_assert_geq(n, 1, "no program mmap region:\n%s", pane);
	for (int i = 0; i < n; i++)
		cr_expect(!strncmp(rows[i], "program mmap", 12), "row '%s' under name~program", rows[i]);
	keys("c");
	GONE("name~program");

	/* Search. */
	keys("/");
	type("jemalloc");
	keys("Enter");
	SHOWS("/jemalloc  (n: next");
	keys("/");
	type("no-such-region");
	keys("Enter");
	SHOWS("no region matches 'no-such-region'");

	/* Help opens over the table, and any key closes it. */
	keys("?");
	SHOWS("faultline top: keys");
	GONE("REGION TYPE");
	keys("x");
	SHOWS("REGION TYPE");
	GONE("faultline top: keys");

	/* Resizes: wider shows more columns, too small says so, back is whole. */
	resize("120", "40");
	SHOWS("INACT");
	capture();
	whole_layout(120, 40);
	resize("60", "20");
	SHOWS("terminal too small: need 80x24, have 60x20");
	resize("80", "24");
	SHOWS("REGION TYPE");
	GONE("INACT");
	capture();
	whole_layout(80, 24);

	/* The page map and the faults screens. */
	keys("Enter");
	SHOWS("legend:");
	SHOWS("pages by state");
	keys("4");
	SHOWS("TOP STACKS BY FAULTS");
	SHOWS("write_pages");
	/* a: where the faulting memory was allocated (the faulter's mapping,
	 * made in work()), and back. */
	keys("a");
	SHOWS("ALLOCATION SITES BY FAULTS");
	SHOWS("work faulter.c:66");
	keys("a");
	SHOWS("TOP STACKS BY FAULTS");

	/* The program ends: the list marks it, with how. */
	keys("1");
	SHOWS(want);
	stop_faulter();
	snprintf(want, sizeof want, "%d killed TERM", pid);
	SHOWS(want);
	SHOWS("0 running, 1 ended");

	/* q: top ends and the terminal is as it was. */
	keys("q");
	SHOWS("EXIT=0");
	cr_expect(strstr(pane, "STTY-SAME"), "terminal settings not restored:\n%s", pane);
	cr_expect(!strstr(pane, "REGION TYPE") && !strstr(pane, "faultline top"), "top's screen is left:\n%s", pane);
	stop_tmux();
	remove_dir();
}

/*
 * reserver (tests/progs) left running with its 112 committed pieces of
 * reservations: the live region table names them resv->commit, and
 * filtering on that name finds all of them and nothing else.
 */
Test(top, committed_pieces_of_reservations_are_resv_commit, .timeout = 120)
{
	skip_unless_quick();
	make_dir();
	start_run("build/tests/progs/reserver", "--hang", NULL);
	char args[512];
	snprintf(args, sizeof args, "--db %s --interval 0.2", db);
	start_top("100", "30", "", args);
	SHOWS("reserver --hang");
	keys("Enter");
	SHOWS("page states: live");
	SHOWS("resv->commit ");
	keys("f");
	SHOWS("filter: _");
	type("resv->commit");
	keys("Enter");
	SHOWS("name~resv->commit");
	/* The state is rewritten every sample: until it holds every piece. */
	SHOWS("112 of ");
	capture();
	char rows[64][128];
	int n = table_rows(rows, 64);
	cr_assert_geq(n, 10, "few rows:\n%s", pane);
	for (int i = 0; i < n; i++)
		cr_expect(!strncmp(rows[i], "resv->commit ", 13), "row '%s' under name~resv->commit", rows[i]);
	keys("q");
	SHOWS("EXIT=0");
	stop_faulter();
	stop_tmux();
	remove_dir();
}

/* A finished run, for the tests that need no live program. */
static void finished_run(void)
{
	start_faulter();
	/* A few more samples stored. */
	fl_test_wait_sql(db, "select count(*) from samples", q1("select count(*) from samples") + 3, 1, FL_WAIT_MS);
	stop_faulter();
	cr_assert_eq(q1("select count(*) from processes where how = 'signalled'"), 1);
}

Test(top, replay_steps_through_a_finished_run, .timeout = 120)
{
	skip_unless_quick();
	make_dir();
	finished_run();
	long long samples = q1("select count(*) from samples");
	char args[512];
	snprintf(args, sizeof args, "--db %s --replay", db);
	start_top("80", "24", "", args);
	/* The cursor starts at the end: the process has ended there. */
	char want[64];
	snprintf(want, sizeof want, "%lld/%lld", samples + 1, samples + 1);
	SHOWS(want);
	SHOWS("killed TERM");
	/* A step back: still running then. */
	keys("Left");
	snprintf(want, sizeof want, "%lld/%lld", samples, samples + 1);
	SHOWS(want);
	SHOWS("1 running, 0 ended");
	keys("[");
	snprintf(want, sizeof want, "%lld/%lld", samples - 1, samples + 1);
	SHOWS(want);
	keys("]");
	keys("Right");
	SHOWS("killed TERM");
	/* To the start: fewer faults than at the end. */
	for (int i = 0; i < 5; i++)
		keys("{");
	SHOWS("REPLAY T+0.0s");
	keys("Enter");
	SHOWS("REGION TYPE");
	keys("q");
	SHOWS("EXIT=0");
	cr_expect(strstr(pane, "STTY-SAME"), "%s", pane);
	stop_tmux();
	remove_dir();
}

/* The pane's shell wrote its pid; top is its only child. */
static int top_child(void *arg)
{
	pid_t *top = arg;
	char path[160];
	snprintf(path, sizeof path, "%s/sh.pid", dir);
	FILE *f = fopen(path, "r");
	int sh = 0;
	if (f) {
		if (fscanf(f, "%d", &sh) != 1)
			sh = 0;
		fclose(f);
	}
	if (sh <= 0)
		return 0;
	char cp[96], buf[256] = "";
	snprintf(cp, sizeof cp, "/proc/%d/task/%d/children", sh, sh);
	f = fopen(cp, "r");
	if (f) {
		if (!fgets(buf, sizeof buf, f))
			buf[0] = 0;
		fclose(f);
	}
	*top = atoi(buf);
	return *top > 0;
}

static pid_t top_pid(void)
{
	pid_t t = 0;
	cr_assert(fl_test_poll(top_child, &t, 10000), "top's pid not found");
	return t;
}

Test(top, signals_restore_the_terminal, .timeout = 120)
{
	skip_unless_quick();
	make_dir();
	finished_run();
	char args[512];
	snprintf(args, sizeof args, "--db %s", db);
	/* SIGINT from the keyboard. */
	start_top("80", "24", "", args);
	SHOWS("PID STATE");
	keys("C-c");
	SHOWS("EXIT=130");
	cr_expect(strstr(pane, "STTY-SAME"), "terminal settings not restored:\n%s", pane);
	cr_expect(!strstr(pane, "PID STATE"), "top's screen is left:\n%s", pane);
	stop_tmux();
	/* SIGTERM from elsewhere. */
	start_top("80", "24", "", args);
	SHOWS("PID STATE");
	pid_t t = top_pid();
	cr_assert_eq(kill(t, SIGTERM), 0);
	SHOWS("EXIT=143");
	cr_expect(strstr(pane, "STTY-SAME"), "terminal settings not restored:\n%s", pane);
	stop_tmux();
	remove_dir();
}

Test(top, too_small_waits_for_a_resize_and_no_color, .timeout = 120)
{
	skip_unless_quick();
	make_dir();
	finished_run();
	char args[512];
	snprintf(args, sizeof args, "--db %s --pid %lld --screen regions", db, q1("select pid from processes"));
	start_top("60", "20", "NO_COLOR=1", args);
	SHOWS("terminal too small: need 80x24, have 60x20");
	resize("80", "24");
	SHOWS("REGION TYPE");
	capture();
	whole_layout(80, 24);
	/* NO_COLOR: attributes only (reverse video for the selection). */
	capture_attrs();
	cr_expect(!has_color(pane), "colors under NO_COLOR:\n%s", pane);
	cr_expect(strstr(pane, "\033[7m"), "no reverse video:\n%s", pane);
	keys("q");
	SHOWS("EXIT=0");
	cr_expect(strstr(pane, "STTY-SAME"), "%s", pane);
	stop_tmux();
	/* Not interactive (--once): it cannot wait, so it says so and fails. */
	snprintf(args, sizeof args, "--db %s --once", db);
	start_top("60", "20", "", args);
	SHOWS("EXIT=1");
	cr_expect(strstr(pane, "faultline top: terminal too small: need 80x24, have 60x20"), "%s", pane);
	stop_tmux();
	remove_dir();
}

/*
 * Not ours: pid 1, looked at by another user.  As root that is nobody,
 * running a copy of faultline outside the checkout (which nobody may be
 * unable to reach); otherwise ourselves, when pid 1 is someone else's.
 */
Test(top, a_process_that_is_not_ours_is_refused, .timeout = 60)
{
	struct stat sb;
	cr_assert_eq(stat("/proc/1", &sb), 0);
	char *shared = NULL;
	const char *bin;
	int as = -1;
	if (geteuid() == 0) {
		char why[256];
		shared = test_bin_shared("faultline", why, sizeof why);
		if (!shared)
			cr_skip_test("no copy of faultline for nobody to run: %s", why);
		bin = shared;
		as = 65534;
	} else if (sb.st_uid != geteuid()) {
		bin = test_bin("faultline");
	} else {
		cr_skip_test("pid 1 is ours and we cannot become another user (not root)");
	}
	make_dir();
	char errp[160];
	snprintf(errp, sizeof errp, "%s/other.err", dir);
	pid_t c = fork();
	cr_assert_geq(c, 0);
	if (c == 0) {
		int fd = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
		if (fd < 0 || dup2(fd, 2) < 0 || chdir("/") != 0)
			_exit(120);
		if (as >= 0 && (setgid((gid_t)as) != 0 || setuid((uid_t)as) != 0))
			_exit(120);
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		execl(bin, "faultline", "top", "--pid", "1", "--once", (char *)NULL);
		_exit(127);
	}
	int st = 0;
	pid_t w = waitpid(c, &st, 0);
	char ran[512];
	snprintf(ran, sizeof ran, "%s as uid %d", bin, as);
	test_bin_shared_remove(shared);
	cr_assert_eq(w, c);
	char buf[512] = "";
	FILE *f = fopen(errp, "r");
	if (f) {
		size_t k = fread(buf, 1, sizeof buf - 1, f);
		buf[k] = 0;
		fclose(f);
	}
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d (%s): %s", st, ran, buf);
	cr_expect(strstr(buf, "process 1 is not yours to inspect"), "%s", buf);
	remove_dir();
}

/* faultline top ARGS with stdin from /dev/null; its status and stderr. */
static void top_cmd(struct run_result *r, const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *argv[8] = {(char *)test_bin("faultline"), "top", (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
	char out[160];
	snprintf(out, sizeof out, "%s/out", dir);
	run_to(argv, NULL, out, NULL, r);
}

static void sql_file(const char *path, const char *sql)
{
	sqlite3 *h = NULL;
	cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
	sqlite3_close(h);
}

Test(top, bad_input, .timeout = 60)
{
	make_dir();
	static struct run_result r;
	char path[160];

	snprintf(path, sizeof path, "%s/notes.txt", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database, only some text\n", f);
	fclose(f);
	top_cmd(&r, "--db", path, "--once", NULL);
	cr_expect_eq(r.status, 1, "%s", r.err);
	cr_expect(strstr(r.err, "is not an SQLite database, so not a fault log"), "%s", r.err);

	snprintf(path, sizeof path, "%s/other.db", dir);
	sql_file(path, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
	top_cmd(&r, "--db", path, "--once", NULL);
	cr_expect_eq(r.status, 1, "%s", r.err);
	cr_expect(strstr(r.err, "is an SQLite database but not a fault log (it has no meta table with a schema_version)"), "%s", r.err);

	snprintf(path, sizeof path, "%s/meta.db", dir);
	sql_file(path, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);");
	top_cmd(&r, "--db", path, "--once", NULL);
	cr_expect_eq(r.status, 1, "%s", r.err);
	cr_expect(strstr(r.err, "is an SQLite database but not a fault log (its meta table has no schema_version)"), "%s", r.err);

	snprintf(path, sizeof path, "%s/newer.db", dir);
	sql_file(path, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
		       "INSERT INTO meta VALUES('schema_version', '99');");
	top_cmd(&r, "--db", path, "--once", NULL);
	cr_expect_eq(r.status, 1, "%s", r.err);
	cr_expect(strstr(r.err, "has schema version 99, newer than this faultline reads"), "%s", r.err);

	top_cmd(&r, "--db", "/nonexistent/faultline.db", "--once", NULL);
	cr_expect_eq(r.status, 1, "%s", r.err);
	cr_expect(strstr(r.err, "/nonexistent/faultline.db: No such file or directory"), "%s", r.err);

	/* A pid nobody has: a child of ours, gone. */
	pid_t gone = fork();
	cr_assert_geq(gone, 0);
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	char pid[16];
	snprintf(pid, sizeof pid, "%d", (int)gone);
	top_cmd(&r, "--pid", pid, "--once", NULL);
	cr_expect_eq(r.status, 1, "%s", r.err);
	char want[96];
	snprintf(want, sizeof want, "faultline top: no process %d", (int)gone);
	cr_expect(strstr(r.err, want), "%s", r.err);
	/* Interactive too: refused before the terminal is touched. */
	top_cmd(&r, "--pid", pid, NULL, NULL);
	cr_expect_eq(r.status, 1, "%s", r.err);
	cr_expect(strstr(r.err, want), "%s", r.err);

	top_cmd(&r, "--pid", "12abc", NULL, NULL);
	cr_expect_eq(r.status, 2, "%s", r.err);
	top_cmd(&r, "--interval", "0", NULL, NULL);
	cr_expect_eq(r.status, 2, "%s", r.err);
	cr_expect(strstr(r.err, "--interval '0'"), "%s", r.err);
	top_cmd(&r, "--frobnicate", NULL, NULL, NULL);
	cr_expect_eq(r.status, 2, "%s", r.err);
	cr_expect(strstr(r.err, "unknown option '--frobnicate'"), "%s", r.err);

	/* Not a terminal (stdin is /dev/null here). */
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	top_cmd(&r, "--pid", pid, NULL, NULL);
	cr_expect_eq(r.status, 2, "%s", r.err);
	cr_expect(strstr(r.err, "standard input is not a terminal"), "%s", r.err);

	/* --help says what top does and lists every option. */
	top_cmd(&r, "--help", NULL, NULL, NULL);
	cr_expect_eq(r.status, 0);
	snprintf(path, sizeof path, "%s/out", dir);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	static char help[16384];
	size_t k = fread(help, 1, sizeof help - 1, f);
	help[k] = 0;
	fclose(f);
	static const char *const opts[] = {"--db PATH", "--pid N", "--interval SECS", "--replay", "--screen NAME",
					   "--once", "--help", "NO_COLOR", "80x24"};
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
		cr_expect(strstr(help, opts[i]), "--help does not mention %s", opts[i]);
	remove_dir();
}
