/*
 * faultline export [DB] --folded | --csv NAME: the fault log in the forms
 * other tools read.  --folded writes folded stacks (one line per stack,
 * "root;caller;...;innermost COUNT", the input of flamegraph.pl, inferno
 * and speedscope), weighted by faults, pages or time in faults, from the
 * per-stack totals (stack_faults) and the stacks' frames: the faults
 * table itself is not read.  --csv writes one table or view whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "faultdb.h"
#include "progress.h"
#include "rows.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline export [DB] --folded [--by fault|alloc] [--weight faults|pages|time|bytes]\n"
		"                        [--pid N] [--per-process]\n"
		"       faultline export [DB] --csv TABLE|VIEW [--pid N]\n"
		"\n"
		"Writes the fault log DB (default ./%s) to stdout in a form other\n"
		"tools read.\n"
		"\n"
		"  --folded          folded stacks for flame graphs (flamegraph.pl, inferno,\n"
		"                    speedscope): one line per distinct stack, frames from\n"
		"                    the outermost (root) to the faulting function separated\n"
		"                    by ';', then a space and the weight.  Inlined calls are\n"
		"                    frames of their own; a frame without a symbol is\n"
		"                    [module+0xOFFSET] or [0xPC]; faults logged without a\n"
		"                    stack are one line, [no stack].  Identical stacks of\n"
		"                    several processes are added together.  A process\n"
		"                    that took a stack for one fault in N (FAULTLINE_STACKS,\n"
		"                    default 8) weighs each stack N times and has no\n"
		"                    [no stack] line: the weights are estimates that add\n"
		"                    up to about its exact totals (faultline report).\n"
		"  --by alloc        by allocation site instead: each line is the stack that\n"
		"                    allocated the memory the faults were in (sampled\n"
		"                    allocations, FAULTLINE_ALLOC_SAMPLE), weighed by what\n"
		"                    the samples stand for (estimates); faults in no\n"
		"                    sampled allocation are one line, [unsampled]\n"
		"  --weight W        faults (default), pages (pages the faults resolved),\n"
		"                    time (nanoseconds spent resolving them), or with\n"
		"                    --by alloc bytes (bytes allocated)\n"
		"  --per-process     put each process under a root frame NAME[PID]\n"
		"  --csv NAME        the table or view NAME as CSV with a header (see\n"
		"                    faultline query --help for the views)\n"
		"  --pid N           only the processes with pid N (for --csv: tables and\n"
		"                    views with a process or pid column)\n"
		"  --help, -h        this text\n"
		"\n"
		"examples:\n"
		"  faultline export --folded > faults.folded && flamegraph.pl faults.folded > faults.svg\n"
		"  faultline export run.db --folded --weight time | inferno-flamegraph > time.svg\n"
		"  faultline export run.db --folded --by alloc > sites.folded\n"
		"  faultline export run.db --csv stack_totals > stacks.csv\n"
		"\n"
		"Exit status: 0; 1 when the database cannot be read or has no such table\n"
		"or view; 2 for bad usage.\n",
		FL_FAULTDB_DEFAULT);
}

/* Print the rows (folded text, weight) of st; 0, or 1 on an error.
 * none: what was logged, when there is nothing ("faults"). */
static int print_folded(sqlite3 *db, sqlite3_stmt *st, long long pid, const char *none, struct fl_progress *pg)
{
	int rc;
	fl_progress_step(pg, "collecting stacks");
	fl_progress_sqlite(pg, db);
	unsigned long long lines = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);
		printf("%s %lld\n", text && *text ? text : "[unknown]", (long long)sqlite3_column_int64(st, 1));
		lines++;
	}
	fl_progress_sqlite(NULL, db);
	fl_progress_end(pg);
	int bad = rc != SQLITE_DONE;
	if (bad)
		fprintf(stderr, "faultline export: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	if (!bad && lines == 0)
		fprintf(stderr, "faultline export: no %s logged%s\n", none, pid >= 0 ? " for that pid" : "");
	return bad;
}

/* In folded text with --per-process: the program's name and pid as the
 * outermost frame ("name[pid];"), for a query over t (with a process column). */
#define PROCESS_PREFIX                                                                            \
	"(SELECT replace(replace(substr(p.exe, length(rtrim(p.exe, replace(p.exe, '/', ''))) + 1),"  \
	" ';', ':'), ' ', '_') || '[' || p.pid || '];' FROM processes p WHERE p.id = t.process) ||"

/* Prepare sql (freed here; ?1 is the pid when pid >= 0) and print its
 * rows folded.  none: what was logged, for the message when nothing was. */
static int run_folded(sqlite3 *db, char *sql, long long pid, const char *none, struct fl_progress *pg)
{
	sqlite3_stmt *st = NULL;
	int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &st, NULL) : SQLITE_NOMEM;
	sqlite3_free(sql);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "faultline export: %s%s\n", sqlite3_errmsg(db),
			strstr(sqlite3_errmsg(db), "allocs") ? " (a log made before allocation sites)" : "");
		return 1;
	}
	if (pid >= 0)
		sqlite3_bind_int64(st, 1, pid);
	return print_folded(db, st, pid, none, pg);
}

/* --by alloc: the allocation sites (alloc_sites), weighed by what their
 * sampled allocations stand for; the faults in none are [unsampled]. */
static int export_alloc(sqlite3 *db, const char *weight, long long pid, int per_process, struct fl_progress *pg)
{
	const char *col = !strcmp(weight, "time")    ? "coalesce(est_time_ns, time_ns)"
			  : !strcmp(weight, "pages") ? "coalesce(est_pages, pages)"
			  : !strcmp(weight, "bytes") ? "bytes_allocated"
						     : "coalesce(est_faults, faults)";
	char *sql = sqlite3_mprintf(
		"SELECT %s folded, sum(%s) AS w FROM alloc_sites t%s GROUP BY 1 HAVING w > 0 ORDER BY 1",
		per_process ? PROCESS_PREFIX : "",
		col, pid >= 0 ? " WHERE t.pid = ?1" : "");
	return run_folded(db, sql, pid, "allocations", pg);
}

/* The folded lines, in SQL: per-stack totals joined with the stacks'
 * folded text (the stack_totals view), summed over identical text.  A
 * process that took a stack for one fault in N (N > 1) counts each of
 * its stacks N times, and its faults without a stack not at all: the
 * sampled stacks stand for them (an estimate; exact totals are in
 * faultline report). */
static int export_folded(sqlite3 *db, const char *weight, long long pid, int per_process, int by_alloc,
			 struct fl_progress *pg)
{
	if (by_alloc)
		return export_alloc(db, weight, pid, per_process, pg);
	const char *col = !strcmp(weight, "time") ? "time_ns" : !strcmp(weight, "pages") ? "pages" : "faults";
	char *sql = sqlite3_mprintf(
		"SELECT %s folded, sum(%s * (SELECT max(p.stacks_every, 1) FROM processes p WHERE p.id = t.process)) AS w"
		" FROM stack_totals t"
		" WHERE (t.stack <> 0 OR (SELECT p.stacks_every <= 1 FROM processes p WHERE p.id = t.process))%s"
		" GROUP BY 1 HAVING w > 0 ORDER BY 1",
		per_process ? PROCESS_PREFIX : "",
		col, pid >= 0 ? " AND t.pid = ?1" : "");
	return run_folded(db, sql, pid, "faults", pg);
}

/* Whether relation name has a column col. */
static int has_column(sqlite3 *db, const char *name, const char *col)
{
	sqlite3_stmt *st = NULL;
	int yes = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
	yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

/* The names of the tables and views, for the message about a wrong one. */
static void list_relations(sqlite3 *db, char *buf, size_t len)
{
	sqlite3_stmt *st = NULL;
	buf[0] = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT name FROM (SELECT name, type FROM main.sqlite_master UNION "
			       "SELECT name, type FROM temp.sqlite_master) WHERE type IN ('table', 'view') "
			       "AND name NOT LIKE 'sqlite_%' ORDER BY type, name",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	size_t o = 0;
	while (sqlite3_step(st) == SQLITE_ROW && o + 1 < len) {
		const char *n = (const char *)sqlite3_column_text(st, 0);
		int k = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", n ? n : "");
		if (k < 0)
			break;
		o += (size_t)k;
	}
	sqlite3_finalize(st);
}

static int export_csv(sqlite3 *db, const char *path, const char *name, long long pid, struct fl_progress *pg)
{
	sqlite3_stmt *st = NULL;
	int found = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT 1 FROM (SELECT name, type FROM main.sqlite_master UNION ALL "
			       "SELECT name, type FROM temp.sqlite_master) WHERE type IN ('table', 'view') AND name = ?1 "
			       "AND name NOT LIKE 'sqlite_%'",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	if (!found) {
		char names[1024];
		list_relations(db, names, sizeof names);
		fprintf(stderr, "faultline export: %s has no table or view named '%s' (it has: %s)\n", path, name, names);
		return 1;
	}
	char *sql;
	if (pid < 0)
		sql = sqlite3_mprintf("SELECT * FROM \"%w\"", name);
	else if (has_column(db, name, "process") && strcmp(name, "processes") != 0)
		sql = sqlite3_mprintf("SELECT * FROM \"%w\" WHERE process IN (SELECT id FROM processes WHERE pid = ?1)",
				      name);
	else if (has_column(db, name, "pid"))
		sql = sqlite3_mprintf("SELECT * FROM \"%w\" WHERE pid = ?1", name);
	else {
		fprintf(stderr, "faultline export: --pid: %s has no process or pid column\n", name);
		return 1;
	}
	int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &st, NULL) : SQLITE_NOMEM;
	sqlite3_free(sql);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "faultline export: %s: %s\n", name, sqlite3_errmsg(db));
		return 1;
	}
	if (pid >= 0)
		sqlite3_bind_int64(st, 1, pid);
	fl_progress_step(pg, "writing %s", name);
	rc = fl_rows_print(st, FL_ROWS_CSV, stdout, pg);
	fl_progress_end(pg);
	if (rc != SQLITE_DONE)
		fprintf(stderr, "faultline export: %s: %s\n", name, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc != SQLITE_DONE;
}

int fl_cli_export(int argc, char **argv)
{
	const char *path = NULL, *csv = NULL, *weight = "faults", *by = "fault";
	int folded = 0, per_process = 0;
	long long pid = -1;
#define IS(opt) fl_args_is(&g, opt)
#define VALUE() fl_args_value(&g)
	struct fl_args g;
	fl_args_init(&g, argc, argv);
	while (fl_args_next(&g)) {
		const char *a = g.a;
		if (IS("-h") || IS("--help")) {
			usage(stdout);
			return 0;
		} else if (IS("--folded")) {
			folded = 1;
		} else if (IS("--per-process")) {
			per_process = 1;
		} else if (IS("--csv")) {
			csv = VALUE();
			if (!csv || !*csv) {
				fprintf(stderr, "faultline export: --csv takes the name of a table or view\n");
				return 2;
			}
		} else if (IS("--weight")) {
			weight = VALUE();
			if (!weight || (strcmp(weight, "faults") && strcmp(weight, "pages") && strcmp(weight, "time") &&
					strcmp(weight, "bytes"))) {
				fprintf(stderr, "faultline export: --weight takes faults, pages, time or bytes%s%s\n",
					weight ? ", not " : "", weight ? weight : "");
				return 2;
			}
		} else if (IS("--by")) {
			by = VALUE();
			if (!by || (strcmp(by, "fault") && strcmp(by, "alloc"))) {
				fprintf(stderr, "faultline export: --by takes fault or alloc%s%s\n", by ? ", not " : "",
					by ? by : "");
				return 2;
			}
		} else if (IS("--pid")) {
			if (fl_args_pid(VALUE(), &pid) != 0) {
				fprintf(stderr, "faultline export: --pid takes a process id\n");
				return 2;
			}
		} else if (fl_args_option_like(&g)) {
			fprintf(stderr, "faultline export: unknown option %s (faultline export --help)\n", a);
			return 2;
		} else if (!path) {
			path = a;
		} else {
			fprintf(stderr, "faultline export: one database at a time (%s, then %s)\n", path, a);
			return 2;
		}
	}
#undef IS
#undef VALUE
	if (folded == !!csv) {
		fprintf(stderr, "faultline export: say what to write: --folded or --csv TABLE|VIEW (faultline export --help)\n");
		return 2;
	}
	int by_alloc = !strcmp(by, "alloc");
	if (!folded && strcmp(by, "fault")) {
		fprintf(stderr, "faultline export: --by goes with --folded\n");
		return 2;
	}
	if (folded && !by_alloc && !strcmp(weight, "bytes")) {
		fprintf(stderr, "faultline export: --weight bytes goes with --by alloc\n");
		return 2;
	}
	if (per_process && !folded) {
		fprintf(stderr, "faultline export: --per-process goes with --folded\n");
		return 2;
	}
	if (!path)
		path = FL_FAULTDB_DEFAULT;
	char err[1024];
	sqlite3 *db = fl_faultdb_open(path, err, sizeof err);
	if (!db) {
		fprintf(stderr, "faultline export: %s\n", err);
		return 1;
	}
	struct fl_progress pg;
	fl_progress_init(&pg, "faultline export");
	int rc = folded ? export_folded(db, weight, pid, per_process, by_alloc, &pg)
			: export_csv(db, path, csv, pid, &pg);
	sqlite3_close(db);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "faultline export: writing the output failed\n");
		rc = 1;
	}
	return rc;
}
