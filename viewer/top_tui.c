/*
 * faultline top's terminal: the one file that calls ncurses.  It copies
 * the lines top_layout.c made onto the screen, maps their attributes to
 * colors (or, without color, to reverse/bold/underline), and reads keys.
 *
 * Every frame is werase + draw into stdscr, then wnoutrefresh + doupdate:
 * ncurses compares with what the terminal shows and sends only the
 * difference, so a refresh never flickers (clear() would repaint it all).
 * Resizes come as KEY_RESIZE from ncurses' own SIGWINCH handling, with
 * stdscr already resized.
 */
#include "top.h"

#include <curses.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static SCREEN *screen;
static attr_t attr_of[FL_TOP_A__COUNT];
static short pair_of[FL_TOP_A__COUNT];

enum {
	P_TITLE = 1,
	P_TAB,
	P_HEADER,
	P_SELECTED,
	P_P_NORMAL,
	P_P_WARN,
	P_P_CRITICAL,
	P_RESIDENT,
	P_INACTIVE,
	P_COMPRESSED,
	P_SAME,
	P_GRAPH,
	P_RUNNING,
	P_ERROR,
};

static void set(enum fl_top_attr a, attr_t at, short pair)
{
	attr_of[a] = at;
	pair_of[a] = pair;
}

static void attrs_mono(void)
{
	for (int a = 0; a < FL_TOP_A__COUNT; a++)
		set(a, A_NORMAL, 0);
	set(FL_TOP_A_TITLE, A_REVERSE, 0);
	/* Out of the reversed bar: the one name not in reverse video. */
	set(FL_TOP_A_TAB, A_BOLD, 0);
	set(FL_TOP_A_HEADER, A_BOLD | A_UNDERLINE, 0);
	set(FL_TOP_A_SORTED, A_REVERSE | A_BOLD, 0);
	set(FL_TOP_A_SELECTED, A_REVERSE, 0);
	set(FL_TOP_A_DIM, A_DIM, 0);
	set(FL_TOP_A_BOLD, A_BOLD, 0);
	set(FL_TOP_A_KEY, A_BOLD, 0);
	/* The markers' text already differs ("!WARN!"); reverse video makes
	 * them the brightest thing on the line. */
	set(FL_TOP_A_P_WARN, A_REVERSE | A_BOLD, 0);
	set(FL_TOP_A_P_CRITICAL, A_REVERSE | A_BOLD | A_UNDERLINE, 0);
	set(FL_TOP_A_RESIDENT, A_BOLD, 0);
	set(FL_TOP_A_COMPRESSED, A_UNDERLINE, 0);
	set(FL_TOP_A_GRAPH, A_BOLD, 0);
	set(FL_TOP_A_RUNNING, A_BOLD, 0);
	set(FL_TOP_A_ERROR, A_BOLD, 0);
}

static void attrs_color(void)
{
	attrs_mono();
	/* -1: the terminal's own default (use_default_colors), so top sits on
	 * whatever background the user has. */
	init_pair(P_TITLE, COLOR_BLACK, COLOR_CYAN);
	init_pair(P_TAB, COLOR_WHITE, COLOR_BLUE);
	init_pair(P_HEADER, COLOR_BLACK, COLOR_GREEN);
	init_pair(P_SELECTED, COLOR_BLACK, COLOR_CYAN);
	init_pair(P_P_NORMAL, COLOR_GREEN, -1);
	init_pair(P_P_WARN, COLOR_BLACK, COLOR_YELLOW);
	init_pair(P_P_CRITICAL, COLOR_WHITE, COLOR_RED);
	init_pair(P_RESIDENT, COLOR_BLACK, COLOR_GREEN);
	init_pair(P_INACTIVE, COLOR_BLACK, COLOR_CYAN);
	init_pair(P_COMPRESSED, COLOR_BLACK, COLOR_MAGENTA);
	init_pair(P_SAME, COLOR_WHITE, COLOR_BLUE);
	init_pair(P_GRAPH, COLOR_CYAN, -1);
	init_pair(P_RUNNING, COLOR_GREEN, -1);
	init_pair(P_ERROR, COLOR_RED, -1);
	set(FL_TOP_A_TITLE, A_NORMAL, P_TITLE);
	set(FL_TOP_A_TAB, A_BOLD, P_TAB);
	set(FL_TOP_A_HEADER, A_NORMAL, P_HEADER);
	set(FL_TOP_A_SORTED, A_BOLD, P_SELECTED);
	set(FL_TOP_A_SELECTED, A_NORMAL, P_SELECTED);
	set(FL_TOP_A_P_NORMAL, A_BOLD, P_P_NORMAL);
	/* Reverse video in the marker's color, bold; never blinking. */
	set(FL_TOP_A_P_WARN, A_BOLD, P_P_WARN);
	set(FL_TOP_A_P_CRITICAL, A_BOLD, P_P_CRITICAL);
	set(FL_TOP_A_RESIDENT, A_NORMAL, P_RESIDENT);
	set(FL_TOP_A_INACTIVE, A_NORMAL, P_INACTIVE);
	set(FL_TOP_A_COMPRESSED, A_NORMAL, P_COMPRESSED);
	set(FL_TOP_A_SAME, A_NORMAL, P_SAME);
	set(FL_TOP_A_GRAPH, A_BOLD, P_GRAPH);
	set(FL_TOP_A_RUNNING, A_NORMAL, P_RUNNING);
	set(FL_TOP_A_ERROR, A_BOLD, P_ERROR);
}

int fl_top_tui_start(int want_color, int *color, char *err, size_t errlen)
{
	setlocale(LC_ALL, "");
	/* newterm, not initscr: initscr exits the program on a terminal type
	 * it does not know, before we can say so and restore anything. */
	screen = newterm(NULL, stdout, stdin);
	if (!screen) {
		const char *t = getenv("TERM");
		snprintf(err, errlen, "cannot use the terminal (TERM=%s)", t ? t : "(unset)");
		return -1;
	}
	set_term(screen);
	cbreak();
	noecho();
	nonl();
	intrflush(stdscr, FALSE);
	keypad(stdscr, TRUE);
	curs_set(0);
	/* Esc closes prompts: do not wait a second to see whether an escape
	 * sequence follows. */
	set_escdelay(25);
	*color = 0;
	if (want_color && has_colors() && start_color() == OK) {
		use_default_colors();
		attrs_color();
		*color = 1;
	} else {
		attrs_mono();
	}
	return 0;
}

void fl_top_tui_end(void)
{
	if (!screen)
		return;
	endwin();
	delscreen(screen);
	screen = NULL;
	fflush(stdout);
}

void fl_top_tui_size(int *cols, int *rows)
{
	int y, x;
	getmaxyx(stdscr, y, x);
	*cols = x;
	*rows = y;
}

void fl_top_tui_draw(const struct fl_top_screen *s)
{
	werase(stdscr);
	int maxy, maxx;
	getmaxyx(stdscr, maxy, maxx);
	for (int y = 0; y < s->rows && y < maxy; y++) {
		const struct fl_top_line *l = &s->lines[y];
		int n = s->cols < maxx ? s->cols : maxx;
		/* The bottom-right cell: writing it moves the cursor past the
		 * screen's end, which addnstr reports as an error although the
		 * text is there.  Nothing to do about it. */
		mvwaddnstr(stdscr, y, 0, l->text, n);
		for (int i = 0; i < l->nspans; i++) {
			const struct fl_top_span *sp = &l->spans[i];
			if (sp->start >= n)
				continue;
			int len = sp->start + sp->len > n ? n - sp->start : sp->len;
			mvwchgat(stdscr, y, sp->start, len, attr_of[sp->attr], pair_of[sp->attr], NULL);
		}
	}
	wnoutrefresh(stdscr);
	doupdate();
}

int fl_top_tui_key(int timeout_ms)
{
	wtimeout(stdscr, timeout_ms);
	int c = wgetch(stdscr);
	switch (c) {
	case ERR:
		return FL_TOP_KEY_NONE;
	case KEY_UP:
		return FL_TOP_KEY_UP;
	case KEY_DOWN:
		return FL_TOP_KEY_DOWN;
	case KEY_LEFT:
		return FL_TOP_KEY_LEFT;
	case KEY_RIGHT:
		return FL_TOP_KEY_RIGHT;
	case KEY_PPAGE:
		return FL_TOP_KEY_PGUP;
	case KEY_NPAGE:
		return FL_TOP_KEY_PGDN;
	case KEY_HOME:
		return FL_TOP_KEY_HOME;
	case KEY_END:
		return FL_TOP_KEY_END;
	case KEY_BACKSPACE:
	case 127:
	case 8:
		return FL_TOP_KEY_BACKSPACE;
	case KEY_BTAB:
		return FL_TOP_KEY_BTAB;
	case KEY_RESIZE:
		return FL_TOP_KEY_RESIZE;
	case KEY_ENTER:
	case '\r':
	case '\n':
		return FL_TOP_KEY_ENTER;
	case 12: /* ctrl-L */
		/* The one full repaint, asked for: the terminal was scribbled on. */
		clearok(curscr, TRUE);
		return FL_TOP_KEY_REDRAW;
	default:
		return c >= 0 && c < 256 ? c : FL_TOP_KEY_NONE;
	}
}
