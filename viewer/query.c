/*
 * faultline query [DB] SQL: SQL over a fault log, printed as an aligned
 * table, CSV or JSON.  The database is opened read-only (faultdb.c) and
 * every statement is checked with sqlite3_stmt_readonly() before any of
 * them runs, so a statement that would write is refused with a message
 * rather than failing halfway through a script.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"
#include "args.h"
#include "cli.h"
#include "faultdb.h"
#include "progress.h"
#include "rows.h"

#define MAX_STATEMENTS 64
#define MAX_PARAMS 32

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline query [DB] SQL [--format table|csv|json] [--param NAME=VALUE]...\n"
		"\n"
		"Runs SQL (one statement or several, separated by ';') on the fault log DB\n"
		"(default ./%s) and prints the rows.  The database is opened read-only:\n"
		"a statement that would change it is refused before anything runs.\n"
		"\n"
		"views (daemon/SCHEMA.md describes every column, with examples):\n",
		FL_FAULTDB_DEFAULT);
	for (size_t i = 0; i < fl_views_count; i++)
		fprintf(f, "  %-16s %s\n", fl_views[i].name, fl_views[i].summary);
	fprintf(f,
		"tables: processes, modules, regions, stacks, frames, faults, fault_spans,\n"
		"  stack_faults, fault_kinds, samples, spill_samples, drops, allocs, meta.\n"
		"  faults has no index but its row id: filter fault_log by process or pid\n"
		"  (it reads faults through fault_spans), and prefer stack_totals and\n"
		"  process_summary for totals (and alloc_sites for allocation sites).\n"
		"\n"
		"options:\n"
		"  --format F          table (aligned, the default), csv (RFC 4180, with a\n"
		"                      header) or json (an array of objects per statement)\n"
		"  --param NAME=VALUE  bind :NAME (also @NAME, $NAME) in the SQL; VALUE is\n"
		"                      an integer when it reads as one, else text\n"
		"  --help, -h          this text\n"
		"\n"
		"examples:\n"
		"  faultline query \"SELECT pid, exe, faults, duration_ns / 1e9 AS s FROM process_summary\"\n"
		"  faultline query run.db \"SELECT faults, function, file, line FROM stack_totals\n"
		"                          ORDER BY faults DESC LIMIT 10\" --format csv\n"
		"\n"
		"Exit status: 0; 1 when the database cannot be read or the SQL fails or\n"
		"would write; 2 for bad usage.\n");
}

struct param {
	char *name;
	const char *value;
};

static void bind_params(sqlite3_stmt *st, const struct param *pv, int np)
{
	for (int i = 0; i < np; i++) {
		static const char prefix[] = ":@$";
		for (int k = 0; k < 3; k++) {
			char name[256];
			snprintf(name, sizeof name, "%c%s", prefix[k], pv[i].name);
			int idx = sqlite3_bind_parameter_index(st, name);
			if (!idx)
				continue;
			char *end = NULL;
			long long v = strtoll(pv[i].value, &end, 10);
			if (*pv[i].value && end && *end == 0)
				sqlite3_bind_int64(st, idx, v);
			else
				sqlite3_bind_text(st, idx, pv[i].value, -1, SQLITE_STATIC);
		}
	}
}

/* The statement's text, shortened to one line for a message. */
static void snippet(sqlite3_stmt *st, char *buf, size_t len)
{
	const char *sql = sqlite3_sql(st);
	size_t o = 0;
	for (const char *p = sql ? sql : ""; *p && o + 4 < len; p++) {
		char c = *p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p;
		if (c == ' ' && (o == 0 || buf[o - 1] == ' '))
			continue;
		buf[o++] = c;
	}
	if (sql && strlen(sql) >= len - 4)
		memcpy(buf + o, "...", 4);
	else
		buf[o] = 0;
}

int fl_cli_query(int argc, char **argv)
{
	const char *pos[3];
	int npos = 0, fmt = FL_ROWS_TABLE, np = 0, rc = 1;
	struct param params[MAX_PARAMS];
	struct fl_args g;
	fl_args_init(&g, argc, argv);
	while (fl_args_next(&g)) {
		const char *a = g.a;
		if (fl_args_is(&g, "-h") || fl_args_is(&g, "--help")) {
			usage(stdout);
			return 0;
		} else if (fl_args_is(&g, "--format")) {
			const char *v = fl_args_value(&g);
			if (!v || (fmt = fl_rows_format_parse(v)) < 0) {
				fprintf(stderr, "faultline query: --format takes table, csv or json%s%s\n",
					v ? ", not " : "", v ? v : "");
				return 2;
			}
		} else if (fl_args_is(&g, "--param")) {
			const char *v = fl_args_value(&g);
			const char *eq = v ? strchr(v, '=') : NULL;
			if (!eq || eq == v || eq - v > 200) {
				fprintf(stderr, "faultline query: --param takes NAME=VALUE\n");
				return 2;
			}
			if (np == MAX_PARAMS) {
				fprintf(stderr, "faultline query: at most %d --param\n", MAX_PARAMS);
				return 2;
			}
			params[np].name = strndup(v, (size_t)(eq - v));
			params[np].value = eq + 1;
			if (!params[np].name) {
				fprintf(stderr, "faultline query: out of memory\n");
				return 1;
			}
			np++;
		} else if (g.options && a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "faultline query: unknown option %s (faultline query --help)\n", a);
			return 2;
		} else if (npos < 3) {
			pos[npos++] = a;
		} else {
			npos++;
		}
	}
	if (npos < 1 || npos > 2) {
		fprintf(stderr, "usage: faultline query [DB] SQL [--format table|csv|json] (faultline query --help)\n");
		return 2;
	}
	const char *path = npos == 2 ? pos[0] : FL_FAULTDB_DEFAULT;
	const char *sql = pos[npos - 1];

	char err[1024];
	sqlite3 *db = fl_faultdb_open(path, err, sizeof err);
	sqlite3_stmt *sts[MAX_STATEMENTS];
	int ns = 0;
	if (!db) {
		fprintf(stderr, "faultline query: %s\n", err);
		goto out;
	}
	/* Prepare and check everything first: nothing runs if any of it is
	 * wrong or would write. */
	for (const char *tail = sql; tail && *tail;) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK) {
			fprintf(stderr, "faultline query: SQL error: %s\n", sqlite3_errmsg(db));
			goto out;
		}
		if (!st)
			continue; /* blanks or a comment */
		if (ns == MAX_STATEMENTS) {
			sqlite3_finalize(st);
			fprintf(stderr, "faultline query: at most %d statements at once\n", MAX_STATEMENTS);
			goto out;
		}
		sts[ns++] = st;
		if (fl_faultdb_writes(st)) {
			char text[120];
			snippet(st, text, sizeof text);
			fprintf(stderr,
				"faultline query: refused: \"%s\" would write to the database; faultline query only "
				"reads (copy the file to change it)\n",
				text);
			goto out;
		}
		bind_params(st, params, np);
	}
	if (ns == 0) {
		fprintf(stderr, "faultline query: no SQL statement given\n");
		goto out;
	}
	struct fl_progress pg;
	fl_progress_init(&pg, "faultline query");
	fl_progress_step(&pg, "running the query");
	fl_progress_sqlite(&pg, db);
	rc = 0;
	for (int i = 0; i < ns && rc == 0; i++) {
		if (i && fmt == FL_ROWS_TABLE && sqlite3_column_count(sts[i - 1]))
			putchar('\n');
		int r = fl_rows_print(sts[i], (enum fl_rows_format)fmt, stdout, &pg);
		if (r != SQLITE_DONE) {
			fflush(stdout);
			fl_progress_end(&pg);
			fprintf(stderr, "faultline query: SQL error: %s\n", sqlite3_errmsg(db));
			rc = 1;
		}
	}
	fl_progress_end(&pg);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "faultline query: writing the output failed\n");
		rc = 1;
	}
out:
	for (int i = 0; i < ns; i++)
		sqlite3_finalize(sts[i]);
	sqlite3_close(db);
	for (int i = 0; i < np; i++)
		free(params[i].name);
	return rc;
}
