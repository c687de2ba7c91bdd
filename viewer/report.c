/*
 * faultline report [DB]: a finished (or running) program's fault log,
 * summed up per process.  This file is the command: options, opening the
 * database (faultdb.c), then gathering (report_data.c) and writing the
 * text (report_text.c) or JSON (report_json.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "faultdb.h"
#include "report.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline report [DB] [--pid N] [--since T] [--until T] [--top N] [--format text|json]\n"
		"\n"
		"Sums up the fault log DB (default ./%s), process by process:\n"
		"  - how it ran: command, engine, budget, how it ended, its parent and children;\n"
		"  - summary: duration, peak resident (resident + inactive pages, the budget's\n"
		"    measure) and the shim's high-water mark, the most it held compressed,\n"
		"    efficiency (time spent in faults against the run's; pages evicted against\n"
		"    those that had to come back), the worst memory pressure, faults, drops;\n"
		"  - faults by kind, with their time: total, average, slowest;\n"
		"  - the regions alive at the peak, vmmap style, with the faults each took;\n"
		"  - the top stacks by faults and by time spent in faults, with source lines;\n"
		"  - a timeline of each kind of fault (%d columns over the run);\n"
		"  - for a process with children: what fork copied (write-protect faults by stack).\n"
		"\n"
		"options:\n"
		"  --pid N          only the processes with pid N\n"
		"  --since T        only what happened from T on, and --until T up to T.  T is\n"
		"  --until T        a time after each process's start (2.5, 2.5s, 300ms, 40us,\n"
		"                   2min), a local date and time (2026-11-21 18:03:43.5, or\n"
		"                   18:03 for today) or @EPOCH seconds\n"
		"  --top N          stacks in each top list (default %d)\n"
		"  --format F       text (the default) or json (raw figures: ns, pages, bytes)\n"
		"  --help, -h       this text\n"
		"\n"
		"The faults are read once, through fault_spans; on a log of ten million\n"
		"faults that takes seconds (progress is shown on stderr after one).\n"
		"\n"
		"Exit status: 0; 1 when the database cannot be read; 2 for bad usage.\n",
		FL_FAULTDB_DEFAULT, RP_BUCKETS, RP_TOP);
}

int fl_cli_report(int argc, char **argv)
{
	const char *path = NULL;
	int json = 0;
	long long pid = -1;
	struct rp_time since = {0}, until = {0};
	struct rp_report r;
	memset(&r, 0, sizeof r);
	r.top = RP_TOP;
#define IS(opt) fl_args_is(&g, opt)
#define VALUE() fl_args_value(&g)
	struct fl_args g;
	fl_args_init(&g, argc, argv);
	while (fl_args_next(&g)) {
		const char *a = g.a;
		if (IS("-h") || IS("--help")) {
			usage(stdout);
			return 0;
		} else if (IS("--format")) {
			const char *v = VALUE();
			if (v && !strcmp(v, "json"))
				json = 1;
			else if (v && !strcmp(v, "text"))
				json = 0;
			else {
				fprintf(stderr, "faultline report: --format takes text or json%s%s\n", v ? ", not " : "",
					v ? v : "");
				return 2;
			}
		} else if (IS("--top")) {
			const char *v = VALUE();
			char *end = NULL;
			long n = v ? strtol(v, &end, 10) : -1;
			if (!v || !*v || *end || n < 1 || n > 1000) {
				fprintf(stderr, "faultline report: --top takes a number of stacks, 1 to 1000\n");
				return 2;
			}
			r.top = (int)n;
		} else if (IS("--pid")) {
			if (fl_args_pid(VALUE(), &pid) != 0) {
				fprintf(stderr, "faultline report: --pid takes a process id\n");
				return 2;
			}
		} else if (IS("--since") || IS("--until")) {
			int is_since = a[2] == 's';
			const char *v = VALUE();
			if (!v || rp_time_parse(v, is_since ? &since : &until) != 0) {
				fprintf(stderr,
					"faultline report: %s takes a time after the start (2.5s, 300ms), a local date "
					"and time (2026-11-21 18:03:43) or @EPOCH%s%s\n",
					is_since ? "--since" : "--until", v ? ", not " : "", v ? v : "");
				return 2;
			}
			snprintf(is_since ? r.since : r.until, sizeof r.since, "%s", v);
		} else if (fl_args_option_like(&g)) {
			fprintf(stderr, "faultline report: unknown option %s (faultline report --help)\n", a);
			return 2;
		} else if (!path) {
			path = a;
		} else {
			fprintf(stderr, "faultline report: one database at a time (%s, then %s)\n", path, a);
			return 2;
		}
	}
#undef IS
#undef VALUE
	if (!path)
		path = FL_FAULTDB_DEFAULT;
	r.path = path;
	char err[1024];
	sqlite3 *db = fl_faultdb_open(path, err, sizeof err);
	if (!db) {
		fprintf(stderr, "faultline report: %s\n", err);
		return 1;
	}
	struct fl_progress pg;
	fl_progress_init(&pg, "faultline report");
	int rc = 0;
	if (rp_gather(db, &r, pid, &since, &until, &pg, err, sizeof err) != 0) {
		fl_progress_end(&pg);
		fprintf(stderr, "faultline report: %s: %s\n", path, err);
		rc = 1;
	} else if (r.nprocs == 0 && (pid >= 0 || r.window)) {
		/* Nothing matched what was asked for: say so, as an error. */
		fprintf(stderr, "faultline report: %s: no process%s%s\n", path, pid >= 0 ? " with that pid" : "",
			r.window ? " in that window" : "");
		rc = 1;
	} else {
		if (json)
			rp_write_json(&r, stdout);
		else
			rp_write_text(&r, stdout);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "faultline report: writing the output failed\n");
			rc = 1;
		}
	}
	rp_free(&r);
	sqlite3_close(db);
	return rc;
}
