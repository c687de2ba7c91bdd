/*
 * faultline top [--db PATH] [--pid N] [--interval SECS] [--replay] ...:
 * the live view of processes under the shim.  This file is the command:
 * options, refusing bad input before the terminal is touched, keys ->
 * changes of the view (struct fl_top_view), and the refresh loop.  The
 * data comes from top_query.c, the screens from top_layout.c, the
 * terminal is top_tui.c's.
 *
 * The terminal is restored on every way out: the normal ones end the
 * loop and call fl_top_tui_end; SIGINT, SIGTERM, SIGHUP and SIGQUIT only
 * set a flag the loop sees within 200 ms, and the signal is raised again
 * after the restore so the shell sees how top ended.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "top.h"
#include "top_query.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline top [--db PATH] [--pid N] [--interval SECS] [--replay]\n"
		"                     [--screen NAME] [--once]\n\n"
		"A live view of the processes faultline manages, from the fault log that\n"
		"faultlined writes and the state each preloaded process publishes:\n"
		"  1 processes  running ones first, ended ones marked with how they ended\n"
		"  2 regions    the region table of one process: type, address range, sizes\n"
		"               (VSIZE; RSIZE resident; CSIZE what its compressed pages take\n"
		"               in the store, as vmmap shows it; wider terminals add INACT\n"
		"               inactive, CORIG the pages in the store at full size, UNTCH\n"
		"               untouched, a small page map), faults logged in it,\n"
		"               protection; sortable by any column, filtered by type or\n"
		"               name, searchable\n"
		"  3 page map   one region's pages: resident / inactive / compressed /\n"
		"               same-filled / untouched, where they are and how many\n"
		"  4 faults     fault rate per kind over the last samples, top stacks by\n"
		"               faults and by time spent resolving them\n"
		"The top lines show the process's sizes and its memory pressure (NORMAL,\n"
		"WARN, CRITICAL).  Press ? for the keys, q to quit.\n\n"
		"options:\n"
		"  --db PATH        the fault log (default ./faultline.db), read-only\n"
		"  --pid N          open process N: its newest row in the database, or, for a\n"
		"                   process the database does not know, /proc/N/smaps and the\n"
		"                   shim's state file when it has one\n"
		"  --interval SECS  seconds between refreshes (default 1; 0.1 to 3600)\n"
		"  --replay         step through a finished run: a time cursor over one\n"
		"                   process's samples (Left/Right or [ ], { } by 10) shows\n"
		"                   every screen as it was then; it starts at the end of\n"
		"                   the --pid process, or of the newest one\n"
		"  --screen NAME    start on processes, regions, pagemap or faults\n"
		"  --once           print one screen as text and exit (no keys; the size is\n"
		"                   the terminal's, or COLUMNS x LINES, or 80x24)\n"
		"  --help, -h       this text\n\n"
		"Per-region page states (RSIZE, CSIZE, the page map) come from the state\n"
		"file a running preloaded process publishes; the database keeps totals per\n"
		"process, so an ended process and a replay show '-' for them.\n\n"
		"Needs a terminal of at least 80x24; a smaller one shows a message until it\n"
		"is resized (with --once: exit status 1).  Colors follow the terminal;\n"
		"NO_COLOR (set and not empty) turns them off, and pressure is then marked\n"
		"!WARN! and !CRITICAL!.  Exit status: 0; 1 on bad input (a database that\n"
		"is not faultline's or is newer, a process that does not exist or is not\n"
		"yours); 2 on bad usage, or without a terminal (and no --once); 128+N\n"
		"after signal N (the terminal is restored first).\n");
}

static void synopsis(void)
{
	fprintf(stderr, "usage: faultline top [--db PATH] [--pid N] [--interval SECS] [--replay] [--screen NAME] "
			"[--once]\n'faultline top --help' says more.\n");
}

/* ------------------------------------------------------------- app */

struct app {
	struct fl_top_view v;
	struct fl_top_src *src;
	struct fl_top_data d;
	struct fl_top_screen scr;
	long long open_id;      /* the process the detail screens show */
	int open_pid;
	int quit;
	int reload;             /* query again before the next frame */
	int cols, rows;
};

static int64_t now_ms(void)
{
	return (int64_t)(fl_mono_ns() / 1000000);
}

static void open_process(struct app *a, long long id, int pid)
{
	a->open_id = id;
	a->open_pid = pid;
	fl_top_src_open_proc(a->src, id, pid);
	if (a->v.replay)
		fl_top_src_replay(a->src, id);
	a->v.reg_sel = a->v.reg_top = 0;
	a->v.reg_sel_start = 0;
	a->reload = 1;
}

/* The region table as shown (filters, sort): its row indexes into d.regions. */
static int visible(struct app *a, int **idx)
{
	*idx = a->d.nregions ? malloc(sizeof **idx * (size_t)a->d.nregions) : NULL;
	if (!*idx)
		return 0;
	return fl_top_regions_visible(&a->v, a->d.regions, a->d.nregions, *idx);
}

/* Keep the selections on the same process and region when the data
 * changes under them, and the selected row on screen. */
static void fix_selection(struct app *a)
{
	struct fl_top_view *v = &a->v;
	int rows = fl_top_table_rows(a->rows > 0 ? a->rows : FL_TOP_MIN_ROWS);
	if (rows < 1)
		rows = 1;
	for (int i = 0; i < a->d.nprocs; i++)
		if (a->d.procs[i].id == v->proc_sel_id && (v->proc_sel_id || a->d.procs[i].pid == a->open_pid)) {
			v->proc_sel = i;
			break;
		}
	if (v->proc_sel >= a->d.nprocs)
		v->proc_sel = a->d.nprocs - 1;
	if (v->proc_sel < 0)
		v->proc_sel = 0;
	if (a->d.nprocs)
		v->proc_sel_id = a->d.procs[v->proc_sel].id;
	if (v->proc_sel < v->proc_top)
		v->proc_top = v->proc_sel;
	if (v->proc_sel >= v->proc_top + rows)
		v->proc_top = v->proc_sel - rows + 1;

	int *idx;
	int n = visible(a, &idx);
	if (v->reg_sel_start)
		for (int i = 0; i < n; i++)
			if (a->d.regions[idx[i]].start == v->reg_sel_start) {
				v->reg_sel = i;
				break;
			}
	if (v->reg_sel >= n)
		v->reg_sel = n - 1;
	if (v->reg_sel < 0)
		v->reg_sel = 0;
	if (n)
		v->reg_sel_start = a->d.regions[idx[v->reg_sel]].start;
	if (v->reg_sel < v->reg_top)
		v->reg_top = v->reg_sel;
	if (v->reg_sel >= v->reg_top + rows)
		v->reg_top = v->reg_sel - rows + 1;
	if (v->reg_top > 0 && v->reg_top > n - rows)
		v->reg_top = n - rows > 0 ? n - rows : 0;
	free(idx);
}

static void refresh_data(struct app *a)
{
	fl_top_src_refresh(a->src, a->v.screen, &a->d);
	fix_selection(a);
}

/* Move a list selection by delta rows (INT_MIN/INT_MAX: to the ends). */
static void move_sel(int *sel, int n, int delta)
{
	long long s = (long long)*sel + delta;
	if (s >= n)
		s = n - 1;
	if (s < 0)
		s = 0;
	*sel = (int)s;
}

static void select_region(struct app *a, int i)
{
	int *idx;
	int n = visible(a, &idx);
	move_sel(&i, n, 0);
	a->v.reg_sel = i;
	a->v.reg_sel_start = n ? a->d.regions[idx[i]].start : 0;
	free(idx);
	fix_selection(a);
}

/* Search for the view's text from the selection (dir 1 forward, -1
 * back; from_here: the selected row counts), wrapping around. */
static void search(struct app *a, int dir, int from_here)
{
	struct fl_top_view *v = &a->v;
	if (!v->search[0])
		return;
	int *idx;
	int n = visible(a, &idx);
	for (int k = from_here ? 0 : 1; k <= n && n; k++) {
		int i = ((v->reg_sel + dir * k) % n + n) % n;
		if (fl_top_region_matches(&a->d.regions[idx[i]], v->search)) {
			free(idx);
			select_region(a, i);
			snprintf(v->message, sizeof v->message, "/%s  (n: next, N: previous)", v->search);
			return;
		}
	}
	free(idx);
	snprintf(v->message, sizeof v->message, "no region matches '%s'", v->search);
}

/* Next type filter: the types present, in order, then all again. */
static void cycle_type(struct app *a)
{
	struct fl_top_view *v = &a->v;
	const char *best = NULL;
	for (int i = 0; i < a->d.nregions; i++) {
		const char *t = a->d.regions[i].type;
		if (v->type_filter[0] && strcmp(t, v->type_filter) <= 0)
			continue;
		if (!best || strcmp(t, best) < 0)
			best = t;
	}
	snprintf(v->type_filter, sizeof v->type_filter, "%s", best ? best : "");
	v->reg_sel_start = 0;
	v->reg_sel = v->reg_top = 0;
}

static void cycle_sort(struct app *a, int dir)
{
	int w[FL_TOP_COL__COUNT];
	fl_top_region_columns(a->cols > 0 ? a->cols : FL_TOP_MIN_COLS, w);
	int c = (int)a->v.sort_col;
	for (int k = 0; k < FL_TOP_COL__COUNT; k++) {
		c = (c + dir + FL_TOP_COL__COUNT) % FL_TOP_COL__COUNT;
		if (w[c])
			break;
	}
	a->v.sort_col = (enum fl_top_col)c;
	a->v.sort_desc = fl_top_col_default_desc(a->v.sort_col);
}

static void go_screen(struct app *a, enum fl_top_screen_id s)
{
	/* A detail screen with nothing open opens the selected process. */
	if (s != FL_TOP_PROCS && !a->open_id && !a->open_pid && a->d.nprocs) {
		const struct fl_top_proc *p = &a->d.procs[a->v.proc_sel];
		open_process(a, p->id, p->pid);
	}
	a->v.screen = s;
	a->reload = 1;
}

static void key_prompt(struct app *a, int key)
{
	struct fl_top_view *v = &a->v;
	size_t n = strlen(v->input);
	if (key == FL_TOP_KEY_ESC) {
		v->prompt = FL_TOP_PROMPT_NONE;
	} else if (key == FL_TOP_KEY_BACKSPACE) {
		if (n)
			v->input[n - 1] = 0;
	} else if (key == FL_TOP_KEY_ENTER) {
		if (v->prompt == FL_TOP_PROMPT_FILTER) {
			snprintf(v->name_filter, sizeof v->name_filter, "%s", v->input);
			v->reg_sel_start = 0;
			v->reg_sel = v->reg_top = 0;
			fix_selection(a);
		} else if (v->input[0]) {
			snprintf(v->search, sizeof v->search, "%s", v->input);
			search(a, 1, 1);
		}
		v->prompt = FL_TOP_PROMPT_NONE;
	} else if (key >= 0x20 && key < 0x7f && n + 1 < sizeof v->input) {
		v->input[n] = (char)key;
		v->input[n + 1] = 0;
	}
}

static void key_list(struct app *a, int key, int *sel, int n)
{
	int page = fl_top_table_rows(a->rows) - 1;
	if (page < 1)
		page = 1;
	switch (key) {
	case FL_TOP_KEY_UP:
	case 'k':
		move_sel(sel, n, -1);
		break;
	case FL_TOP_KEY_DOWN:
	case 'j':
		move_sel(sel, n, 1);
		break;
	case FL_TOP_KEY_PGUP:
		move_sel(sel, n, -page);
		break;
	case FL_TOP_KEY_PGDN:
		move_sel(sel, n, page);
		break;
	case FL_TOP_KEY_HOME:
	case 'g':
		*sel = 0;
		break;
	case FL_TOP_KEY_END:
	case 'G':
		move_sel(sel, n, n);
		break;
	}
}

static void handle_key(struct app *a, int key)
{
	struct fl_top_view *v = &a->v;
	if (key == FL_TOP_KEY_RESIZE || key == FL_TOP_KEY_REDRAW || key == FL_TOP_KEY_NONE)
		return;
	if (v->prompt != FL_TOP_PROMPT_NONE) {
		key_prompt(a, key);
		return;
	}
	v->message[0] = 0;
	if (v->help) {
		/* Any key closes the help, and does nothing else: the user was
		 * reading, not asking for the key's action. */
		v->help = 0;
		if (key != 'q')
			return;
	}
	if (a->cols < FL_TOP_MIN_COLS || a->rows < FL_TOP_MIN_ROWS) {
		if (key == 'q' || key == 'Q')
			a->quit = 1;
		return;
	}
	switch (key) {
	case 'q':
	case 'Q':
		a->quit = 1;
		return;
	case '?':
		v->help = 1;
		return;
	case '1':
	case '2':
	case '3':
	case '4':
		go_screen(a, (enum fl_top_screen_id)(key - '1'));
		return;
	case FL_TOP_KEY_TAB:
		go_screen(a, (enum fl_top_screen_id)((v->screen + 1) % FL_TOP__SCREENS));
		return;
	case FL_TOP_KEY_BTAB:
		go_screen(a, (enum fl_top_screen_id)((v->screen + FL_TOP__SCREENS - 1) % FL_TOP__SCREENS));
		return;
	case FL_TOP_KEY_ESC:
	case FL_TOP_KEY_BACKSPACE:
	case 'h':
		go_screen(a, v->screen == FL_TOP_PAGEMAP || v->screen == FL_TOP_FAULTS ? FL_TOP_REGIONS : FL_TOP_PROCS);
		return;
	}
	if (v->replay) {
		int step = 0;
		if (key == FL_TOP_KEY_LEFT || key == '[')
			step = -1;
		else if (key == FL_TOP_KEY_RIGHT || key == ']')
			step = 1;
		else if (key == '{')
			step = -10;
		else if (key == '}')
			step = 10;
		if (step) {
			fl_top_src_step(a->src, step);
			a->reload = 1;
			return;
		}
	}
	if (v->screen == FL_TOP_PROCS) {
		if (key == FL_TOP_KEY_ENTER && a->d.nprocs) {
			const struct fl_top_proc *p = &a->d.procs[v->proc_sel];
			open_process(a, p->id, p->pid);
			v->screen = FL_TOP_REGIONS;
			return;
		}
		int was = v->proc_sel;
		key_list(a, key, &v->proc_sel, a->d.nprocs);
		if (v->proc_sel != was && a->d.nprocs) {
			v->proc_sel_id = a->d.procs[v->proc_sel].id;
			/* In replay the cursor follows the selected process's samples. */
			if (v->replay && !a->open_id) {
				fl_top_src_replay(a->src, v->proc_sel_id);
				a->reload = 1;
			}
		}
		fix_selection(a);
		return;
	}
	if (v->screen == FL_TOP_REGIONS || v->screen == FL_TOP_PAGEMAP) {
		int *idx;
		int n = visible(a, &idx);
		free(idx);
		int sel = v->reg_sel;
		key_list(a, key, &sel, n);
		if (sel != v->reg_sel) {
			select_region(a, sel);
			return;
		}
	}
	if (v->screen == FL_TOP_FAULTS && key == 'a') {
		v->by_alloc = !v->by_alloc;
		fl_top_src_by_alloc(a->src, v->by_alloc);
		a->reload = 1;
		return;
	}
	if (v->screen != FL_TOP_REGIONS)
		return;
	switch (key) {
	case FL_TOP_KEY_ENTER:
		go_screen(a, FL_TOP_PAGEMAP);
		break;
	case '>':
	case '.':
	case 's':
		cycle_sort(a, 1);
		break;
	case '<':
	case ',':
		cycle_sort(a, -1);
		break;
	case 'r':
		v->sort_desc = !v->sort_desc;
		break;
	case 't':
		cycle_type(a);
		break;
	case 'c':
		v->type_filter[0] = v->name_filter[0] = 0;
		break;
	case 'f':
		v->prompt = FL_TOP_PROMPT_FILTER;
		snprintf(v->input, sizeof v->input, "%s", v->name_filter);
		break;
	case '/':
		v->prompt = FL_TOP_PROMPT_SEARCH;
		v->input[0] = 0;
		break;
	case 'n':
		search(a, 1, 0);
		break;
	case 'N':
		search(a, -1, 0);
		break;
	}
	fix_selection(a);
}

/* ----------------------------------------------------------- running */

static int parse_screen(const char *s, enum fl_top_screen_id *out)
{
	static const char *const names[] = {"processes", "regions", "pagemap", "faults"};
	for (int i = 0; i < FL_TOP__SCREENS; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum fl_top_screen_id)i;
			return 0;
		}
	if (!strcmp(s, "page-map") || !strcmp(s, "procs")) {
		*out = s[0] == 'p' && s[1] == 'a' ? FL_TOP_PAGEMAP : FL_TOP_PROCS;
		return 0;
	}
	return -1;
}

static void size_once(int *cols, int *rows)
{
	struct winsize ws;
	*cols = FL_TOP_MIN_COLS;
	*rows = FL_TOP_MIN_ROWS;
	if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
		return;
	}
	const char *c = getenv("COLUMNS"), *l = getenv("LINES");
	if (c && atoi(c) > 0)
		*cols = atoi(c);
	if (l && atoi(l) > 0)
		*rows = atoi(l);
}

/* --once: one frame, as plain text. */
static int run_once(struct app *a)
{
	size_once(&a->cols, &a->rows);
	if (fl_top_screen_alloc(&a->scr, a->cols, a->rows) != 0) {
		fprintf(stderr, "faultline top: out of memory\n");
		return 1;
	}
	refresh_data(a);
	if (fl_top_layout(&a->v, &a->d, &a->scr) != 0) {
		char msg[128];
		fl_top_too_small_text(a->cols, a->rows, msg, sizeof msg);
		fprintf(stderr, "faultline top: %s\n", msg);
		return 1;
	}
	for (int r = 0; r < a->scr.rows; r++) {
		const char *t = a->scr.lines[r].text;
		int n = (int)strlen(t);
		while (n > 0 && t[n - 1] == ' ')
			n--;
		printf("%.*s\n", n, t);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

static int run_tui(struct app *a)
{
	char err[256];
	int color = 0;
	const char *nc = getenv("NO_COLOR");
	if (fl_top_tui_start(!(nc && nc[0]), &color, err, sizeof err) != 0) {
		fprintf(stderr, "faultline top: %s\n", err);
		return 1;
	}
	atexit(fl_top_tui_end);
	a->v.color = color;
	int64_t next = 0;
	int rc = 0;
	while (!a->quit && !got_signal) {
		int cols, rows;
		fl_top_tui_size(&cols, &rows);
		if (cols != a->cols || rows != a->rows || !a->scr.lines) {
			if (fl_top_screen_alloc(&a->scr, cols, rows) != 0) {
				snprintf(err, sizeof err, "out of memory");
				rc = 1;
				break;
			}
			a->cols = cols;
			a->rows = rows;
			fix_selection(a);
		}
		int64_t now = now_ms();
		if (a->reload || now >= next) {
			refresh_data(a);
			a->reload = 0;
			next = now + (int64_t)(a->v.interval * 1000);
		}
		fl_top_layout(&a->v, &a->d, &a->scr);
		fl_top_tui_draw(&a->scr);
		/* Short waits, so a signal's flag is seen soon whatever the interval. */
		int64_t wait = next - now_ms();
		int key = fl_top_tui_key(wait < 0 ? 0 : wait > 200 ? 200 : (int)wait);
		handle_key(a, key);
	}
	fl_top_tui_end();
	if (rc)
		fprintf(stderr, "faultline top: %s\n", err);
	return rc;
}

static int alive_or_ours(int pid, char *err, size_t len)
{
	if (kill(pid, 0) != 0 && errno == ESRCH) {
		snprintf(err, len, "no process %d", pid);
		return -1;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/smaps", pid);
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		if (e == EACCES || e == EPERM)
			snprintf(err, len, "process %d is not yours to inspect (%s: %s)", pid, path, strerror(e));
		else if (e == ENOENT)
			snprintf(err, len, "no process %d", pid);
		else
			snprintf(err, len, "%s: %s", path, strerror(e));
		return -1;
	}
	/* A zombie or a kernel thread has an empty map. */
	int c = fgetc(f);
	fclose(f);
	if (c == EOF) {
		snprintf(err, len, "process %d has no memory map (a kernel thread, or a process that has ended)", pid);
		return -1;
	}
	return 0;
}

int fl_cli_top(int argc, char **argv)
{
	const char *db = NULL;
	int pid = 0, once = 0, replay = 0, screen_set = 0;
	double interval = 1.0;
	enum fl_top_screen_id screen = FL_TOP_PROCS;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(o, "--once")) {
			once = 1;
		} else if (!strcmp(o, "--replay")) {
			replay = 1;
		} else if (!strcmp(o, "--db") || !strcmp(o, "--pid") || !strcmp(o, "--interval") ||
			   !strcmp(o, "--screen")) {
			if (!val) {
				fprintf(stderr, "faultline top: %s needs a value\n", o);
				synopsis();
				return 2;
			}
			i++;
			char *end = NULL;
			if (!strcmp(o, "--db")) {
				db = val;
			} else if (!strcmp(o, "--pid")) {
				long n = strtol(val, &end, 10);
				if (end == val || *end || n <= 0 || n > 0x7fffffff) {
					fprintf(stderr, "faultline top: --pid '%s' is not a process id\n", val);
					return 2;
				}
				pid = (int)n;
			} else if (!strcmp(o, "--interval")) {
				interval = strtod(val, &end);
				if (end == val || *end || !(interval >= 0.1 && interval <= 3600)) {
					fprintf(stderr, "faultline top: --interval '%s': give seconds from 0.1 to 3600\n",
						val);
					return 2;
				}
			} else if (parse_screen(val, &screen) != 0) {
				fprintf(stderr,
					"faultline top: --screen '%s': one of processes, regions, pagemap, faults\n", val);
				return 2;
			} else {
				screen_set = 1;
			}
		} else {
			fprintf(stderr, "faultline top: unknown option '%s'\n", o);
			synopsis();
			return 2;
		}
	}

	char err[512];
	struct app a;
	memset(&a, 0, sizeof a);
	fl_top_view_init(&a.v);
	a.v.interval = interval;
	a.v.replay = replay;
	const char *path = db;
	if (!path && access("faultline.db", F_OK) == 0)
		path = "faultline.db";
	if (!path && (!pid || replay)) {
		fprintf(stderr, "faultline top: ./faultline.db: no such file (run a program with 'faultline run' first, "
				"or name a database with --db PATH%s)\n",
			replay ? "" : ", or a process with --pid N");
		return 1;
	}
	if (fl_top_src_open(&a.src, path, err, sizeof err) != 0) {
		fprintf(stderr, "faultline top: %s\n", err);
		return 1;
	}
	int rc = 1;
	if (pid) {
		long long id = fl_top_src_find_pid(a.src, pid);
		if (!id && replay) {
			fprintf(stderr, "faultline top: process %d is not in %s; --replay shows logged runs only\n", pid,
				path);
			goto out;
		}
		if (!id && alive_or_ours(pid, err, sizeof err) != 0) {
			fprintf(stderr, "faultline top: %s\n", err);
			goto out;
		}
		open_process(&a, id, pid);
		a.v.proc_sel_id = id;
		if (!screen_set)
			screen = FL_TOP_REGIONS;
	}
	if (replay) {
		/* The cursor needs a process: the one asked for, else the newest. */
		if (!fl_top_src_replay(a.src, a.open_id)) {
			fprintf(stderr, "faultline top: %s holds no samples to replay%s\n", path,
				a.open_id ? " of that process" : "");
			goto out;
		}
	}
	/* Everything that can be wrong is said before the terminal changes:
	 * a message on a restored terminal is one people read. */
	if (!once && (!isatty(0) || !isatty(1))) {
		fprintf(stderr, "faultline top: standard %s is not a terminal (top is interactive; --once prints one "
				"screen as text)\n",
			!isatty(0) ? "input" : "output");
		rc = 2;
		goto out;
	}
	a.v.screen = screen;
	if (screen != FL_TOP_PROCS) {
		/* A detail screen first: it opens the newest process, if none was named. */
		if (!pid)
			refresh_data(&a);
		go_screen(&a, screen);
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the key wait returns at once and the loop sees the flag. */
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);

	rc = once ? run_once(&a) : run_tui(&a);
out:
	fl_top_screen_free(&a.scr);
	fl_top_data_free(&a.d);
	fl_top_src_close(a.src);
	if (got_signal) {
		/* Terminal restored: now end the way the signal asked. */
		signal(got_signal, SIG_DFL);
		raise(got_signal);
	}
	return rc;
}
