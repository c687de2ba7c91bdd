/*
 * faultline top: what its three layers hand each other.
 *
 *   top_query.c   the fault log (SQLite), the shim's state file and
 *                 /proc/PID/smaps -> the plain structs below (struct fl_top_data)
 *   top_layout.c  plain structs + a screen size -> lines of text with
 *                 attribute spans (struct fl_top_screen); no terminal needed,
 *                 so tests/unit/test_top_layout.c checks it on hand-built data
 *   top_tui.c     the only file that calls ncurses: draws a fl_top_screen,
 *                 reads keys, follows resizes
 *   top.c         the command: options, bad input, keys -> view changes, the loop
 *
 * Sizes in the structs are bytes; a figure that is not known is -1 (page
 * states of a region outside the shim's state file, for instance), and
 * the layout prints it as "-".
 */
#ifndef FL_VIEWER_TOP_H
#define FL_VIEWER_TOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "faultline/faultline.h"
#include "faultline/state.h"

#define FL_TOP_KINDS FL_FAULT__COUNT
#define FL_TOP_STACKS 16     /* stacks kept per top list */
#define FL_TOP_HIST 512      /* samples kept for the fault-rate graph */
#define FL_TOP_MIN_COLS 80
#define FL_TOP_MIN_ROWS 24

/* ------------------------------------------------------------------ data */

/* One stats sample (a samples row, or the state file's struct fl_stats). */
struct fl_top_sample {
	int64_t t_ns;           /* CLOCK_REALTIME */
	uint64_t page_size;
	uint64_t managed, resident, inactive, compressed, same_filled; /* pages */
	uint64_t compressed_bytes, store_bytes;
	uint64_t budget;        /* pages, 0: none */
	uint64_t faults[FL_TOP_KINDS]; /* since the process started */
	uint64_t fault_ns;
	int pressure;           /* enum fl_pressure, -1: not known */
	uint64_t regions;
};

/* How a process stands (at the time shown). */
enum fl_top_how {
	FL_TOP_RUNNING,
	FL_TOP_EXITED,      /* exit_status is its status */
	FL_TOP_SIGNALLED,   /* exit_status is the signal */
	FL_TOP_VANISHED,    /* connection gone without a goodbye */
	FL_TOP_LOST,        /* the database says running, but no such process is alive */
	FL_TOP_UNLOGGED,    /* not in the database: --pid of another process */
};

struct fl_top_proc {
	long long id;           /* processes.id; 0: not in the database */
	int pid, ppid;
	char exe[256];
	char cmd[256];          /* argv, space-separated */
	char engine[16];
	enum fl_top_how how;
	int exit_status;
	int64_t start_ns, end_ns; /* end_ns 0 while running */
	uint64_t page_size, budget_bytes;
	int64_t stacks_every;   /* 0 none, 1 every fault, N: one in N (its stacks are estimates) */
	int has_sample;         /* last is set */
	struct fl_top_sample last; /* the newest sample (at the time shown) */
};

/* One row of the region table. */
struct fl_top_region {
	uint64_t id;            /* the shim's region id; 0: a kernel VMA */
	uint64_t start, len;
	unsigned prot;          /* PROT_* bits */
	char type[16];          /* REGION TYPE */
	char detail[192];
	int managed;            /* one of the shim's regions */
	uint64_t page_size;
	/* Bytes; -1 when not known. */
	int64_t rsize, isize, usize; /* resident, inactive, untouched */
	int64_t csize;          /* compressed size: payload bytes of its compressed pages (vmmap's CSIZE) */
	int64_t corig;          /* the pages held in the store (compressed, same-filled) at their own size */
	int64_t ssize;          /* the same-filled part of corig (no payload) */
	int64_t spsize;         /* pages in the spill file, at their own size (vmmap's SWAPPED) */
	int64_t faults;         /* faults logged in it (to the time shown) */
	int has_strip;
	uint8_t strip[FL_STATE_STRIP]; /* enum fl_state_page per part */
};

/* One stack in a top list: what was logged; a process that sampled one
 * fault in N (stacks_every) is shown with the counts times N. */
struct fl_top_stack {
	uint64_t stack;         /* the shim's stack id; 0: faults with no stack taken */
	uint64_t faults, pages;
	uint64_t latency_ns, latency_max_ns; /* total, slowest (0: not known) */
	int estimated;          /* an allocation site: the counts are estimates already */
	int unsampled;          /* an allocation site's row of the faults in no sample */
	char where[256];        /* innermost frames, "fn file:line < caller < ..." */
};

/* Everything one frame shows. */
struct fl_top_data {
	char source[300];       /* the database's path, or "" */
	int64_t now_ns;         /* the time shown: wall clock, or the replay cursor */
	/* Replay: the cursor over the open (or selected) process's samples. */
	int replay;
	int t_index, t_count;   /* cursor position, samples */
	int64_t t_first, t_last;

	struct fl_top_proc *procs;
	int nprocs;

	/* The process the detail screens are about (proc.pid 0: none). */
	struct fl_top_proc proc;
	int has_summary;
	struct fl_top_sample summary; /* its counters at the time shown */
	int live_pages;         /* region page states came from the shim's state file */
	char note[320];         /* why something is missing, or "" */

	struct fl_top_region *regions;
	int nregions;

	struct fl_top_sample hist[FL_TOP_HIST]; /* oldest first, ending at the time shown */
	int nhist;

	struct fl_top_stack by_faults[FL_TOP_STACKS], by_time[FL_TOP_STACKS];
	int nby_faults, nby_time;
	int by_alloc;           /* the lists are allocation sites (whole run), not fault stacks */
};

/* ------------------------------------------------------------------ view */

enum fl_top_screen_id { FL_TOP_PROCS, FL_TOP_REGIONS, FL_TOP_PAGEMAP, FL_TOP_FAULTS, FL_TOP__SCREENS };

/* Region table columns, in display order. */
enum fl_top_col {
	FL_TOP_COL_TYPE,
	FL_TOP_COL_START,   /* START-END */
	FL_TOP_COL_VSIZE,
	FL_TOP_COL_RSIZE,
	FL_TOP_COL_INACT,
	FL_TOP_COL_CSIZE,
	FL_TOP_COL_CORIG,
	FL_TOP_COL_UNTCH,
	FL_TOP_COL_FAULTS,
	FL_TOP_COL_PRT,
	FL_TOP_COL_PAGES,   /* a small page map (wide terminals) */
	FL_TOP_COL_DETAIL,
	FL_TOP_COL__COUNT
};

enum fl_top_prompt { FL_TOP_PROMPT_NONE, FL_TOP_PROMPT_SEARCH, FL_TOP_PROMPT_FILTER };

/* What the user chose: which screen, selections, sort, filters. */
struct fl_top_view {
	enum fl_top_screen_id screen;
	int help;               /* the help screen is over it */
	int color;              /* the terminal shows colors (and NO_COLOR is not set) */
	int replay;
	double interval;        /* seconds between refreshes */
	int proc_sel, proc_top; /* process list: selected row, first row shown */
	long long proc_sel_id;  /* keeps the selection on its process across refreshes */
	int reg_sel, reg_top;   /* region table: row in the filtered, sorted list */
	uint64_t reg_sel_start; /* keeps the selection on its region across refreshes */
	enum fl_top_col sort_col;
	int sort_desc;
	char type_filter[16];   /* "" all types */
	char name_filter[64];   /* "" no filter */
	char search[64];        /* the last search */
	enum fl_top_prompt prompt;
	char input[64];         /* the prompt's text so far */
	char message[160];      /* one-shot note on the bottom line */
	int by_alloc;           /* faults screen: allocation sites instead of fault stacks */
};

void fl_top_view_init(struct fl_top_view *v);

/* ---------------------------------------------------------------- screen */

#define FL_TOP_MAX_COLS 400
#define FL_TOP_MAX_SPANS 24

/* Attributes a span asks for; top_tui.c maps them to colors or to
 * bold/reverse/underline (NO_COLOR, monochrome terminals). */
enum fl_top_attr {
	FL_TOP_A_NORMAL,
	FL_TOP_A_TITLE,        /* the top bar */
	FL_TOP_A_TAB,          /* the current screen's name in it */
	FL_TOP_A_HEADER,       /* column headers */
	FL_TOP_A_SORTED,       /* the sorted column's header */
	FL_TOP_A_SELECTED,     /* the selected row */
	FL_TOP_A_DIM,          /* ended processes, unknown figures */
	FL_TOP_A_BOLD,
	FL_TOP_A_KEY,          /* key names in hints */
	FL_TOP_A_P_NORMAL,     /* pressure markers */
	FL_TOP_A_P_WARN,
	FL_TOP_A_P_CRITICAL,
	FL_TOP_A_RESIDENT,     /* page states */
	FL_TOP_A_INACTIVE,
	FL_TOP_A_COMPRESSED,
	FL_TOP_A_SAME,
	FL_TOP_A_UNTOUCHED,
	FL_TOP_A_GRAPH,
	FL_TOP_A_RUNNING,
	FL_TOP_A_ERROR,
	FL_TOP_A__COUNT
};

struct fl_top_span {
	short start, len;
	unsigned char attr;     /* enum fl_top_attr */
};

/* One screen line: text (ASCII, exactly cols characters) and its spans,
 * applied in order over the normal attribute. */
struct fl_top_line {
	char text[FL_TOP_MAX_COLS + 1];
	int nspans;
	struct fl_top_span spans[FL_TOP_MAX_SPANS];
};

struct fl_top_screen {
	int cols, rows;         /* cols at most FL_TOP_MAX_COLS */
	struct fl_top_line *lines; /* rows of them */
};

/* A screen of cols x rows (cols clamped to FL_TOP_MAX_COLS).  0 or -1 (no memory). */
int fl_top_screen_alloc(struct fl_top_screen *s, int cols, int rows);
void fl_top_screen_free(struct fl_top_screen *s);

/* ------------------------------------------------------------------ keys */

/* Keys as top_tui.c reports them: printable characters as themselves,
 * the rest as these. */
enum fl_top_key {
	FL_TOP_KEY_NONE = -1,
	FL_TOP_KEY_ENTER = '\n',
	FL_TOP_KEY_TAB = '\t',
	FL_TOP_KEY_ESC = 27,
	FL_TOP_KEY_UP = 0x1000,
	FL_TOP_KEY_DOWN,
	FL_TOP_KEY_LEFT,
	FL_TOP_KEY_RIGHT,
	FL_TOP_KEY_PGUP,
	FL_TOP_KEY_PGDN,
	FL_TOP_KEY_HOME,
	FL_TOP_KEY_END,
	FL_TOP_KEY_BACKSPACE,
	FL_TOP_KEY_BTAB,       /* shift-tab */
	FL_TOP_KEY_RESIZE,     /* the terminal changed size */
	FL_TOP_KEY_REDRAW,     /* ctrl-L */
};

/* --------------------------------------------------------------- terminal */

/*
 * top_tui.c.  Start curses on the terminal (stdin/stdout); color when
 * want_color and the terminal has colors.  Returns 0 and sets *color to
 * whether colors are used, or -1 with a reason in err (an unknown
 * terminal type).  fl_top_tui_end restores the terminal and may be
 * called any number of times.
 */
int fl_top_tui_start(int want_color, int *color, char *err, size_t errlen);
void fl_top_tui_end(void);
void fl_top_tui_size(int *cols, int *rows);
void fl_top_tui_draw(const struct fl_top_screen *s);
/* A key within timeout_ms, or FL_TOP_KEY_NONE. */
int fl_top_tui_key(int timeout_ms);

/* --------------------------------------------------------------- layout */

/*
 * Lay out one frame of view v over data d into s (whose size is the
 * terminal's).  Returns 0, or 1 when the terminal is smaller than 80x24
 * (s then holds the "terminal too small" message).
 */
int fl_top_layout(const struct fl_top_view *v, const struct fl_top_data *d, struct fl_top_screen *s);

/* "terminal too small: need 80x24, have WxH" */
void fl_top_too_small_text(int cols, int rows, char *buf, size_t len);

/* The region table's visible rows: indexes into r[] after the view's
 * filters, in its sort order.  Returns how many (written to idx, which
 * holds n). */
int fl_top_regions_visible(const struct fl_top_view *v, const struct fl_top_region *r, int n, int *idx);
/* Does region r match text (type, detail, or its address range in hex)?  Case-insensitive. */
int fl_top_region_matches(const struct fl_top_region *r, const char *text);

/* Which columns fit in cols, and their widths (0: hidden). */
void fl_top_region_columns(int cols, int width[FL_TOP_COL__COUNT]);
const char *fl_top_col_name(enum fl_top_col c);
/* Numbers and sizes read best largest first; names and addresses in order. */
int fl_top_col_default_desc(enum fl_top_col c);
/* The region table's header line for cols columns and view v. */
void fl_top_region_header(const struct fl_top_view *v, int cols, struct fl_top_line *out);
/* One region's row. */
void fl_top_region_row(const struct fl_top_region *r, int cols, struct fl_top_line *out);

/* The pressure marker: its text and attribute.  Without color the text
 * itself stands out ("!WARN!", "!CRITICAL!"). */
const char *fl_top_pressure_text(int pressure, int color);
enum fl_top_attr fl_top_pressure_attr(int pressure);

/* The help screen's lines (NULL-terminated). */
const char *const *fl_top_help_lines(void);

/* "4.0K", "12M", "1.5G": at most 6 characters.  -1 prints "-". */
void fl_top_size(int64_t bytes, char *buf, size_t len);
/* "running", "exited 0", "killed KILL"... */
void fl_top_how_text(const struct fl_top_proc *p, char *buf, size_t len);

/* How many table rows the region and process screens have room for. */
int fl_top_table_rows(int rows);

#endif
