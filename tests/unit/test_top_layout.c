/*
 * faultline top's layout (viewer/top_layout.c) on hand-built structs, no
 * terminal: the region table's header and rows, sorting by every column
 * both ways, type and name filters, whole frames at 80x24 and 200x50
 * (every line exactly as wide as the screen, the parts where they
 * belong), the pressure marker with and without color, the help screen,
 * and the too-small message.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "top.h"

#define K 1024ll
#define M (1024ll * 1024)

static void region(struct fl_top_region *r, uint64_t start, uint64_t len, const char *type, const char *detail,
		   unsigned prot, int64_t rsize, int64_t isize, int64_t corig, int64_t csize, int64_t faults)
{
	memset(r, 0, sizeof *r);
	r->id = ((uint64_t)1 << 32) | (start >> 21);
	r->start = start;
	r->len = len;
	r->prot = prot;
	r->managed = 1;
	r->page_size = 4096;
	snprintf(r->type, sizeof r->type, "%s", type);
	snprintf(r->detail, sizeof r->detail, "%s", detail);
	r->rsize = rsize;
	r->isize = isize;
	r->corig = corig;
	r->ssize = corig / 4;
	r->csize = csize;
	r->usize = (int64_t)len - rsize - isize - corig;
	r->faults = faults;
	r->has_strip = 1;
	for (unsigned i = 0; i < FL_STATE_STRIP; i++)
		r->strip[i] = (uint8_t)(i * 5 / FL_STATE_STRIP);
}

/* Four regions whose every column sorts them differently. */
static struct fl_top_region regs[4];

static void four(void)
{
	region(&regs[0], 0x7f0000000000, 2 * M, "jemalloc", "#2", PROT_READ | PROT_WRITE, 512 * K, 64 * K, 256 * K,
	       80 * K, 120);
	region(&regs[1], 0x7f0000400000, 8 * M, "program mmap", "#7", PROT_READ, 4 * M, 0, 1 * M, 300 * K, 40);
	region(&regs[2], 0x7e0000000000, 1 * M, "managed", "#1", PROT_READ | PROT_WRITE | PROT_EXEC, 8 * K,
	       128 * K, 0, 0, 3000);
	region(&regs[3], 0x7f1000000000, 4 * M, "jemalloc", "#3/g2", PROT_NONE, 1 * M, 16 * K, 2 * M, 1 * M, 7);
}

static struct fl_top_proc proc_of(int pid, enum fl_top_how how, int status, const char *cmd)
{
	struct fl_top_proc p;
	memset(&p, 0, sizeof p);
	p.id = pid - 1000;
	p.pid = pid;
	p.how = how;
	p.exit_status = status;
	snprintf(p.exe, sizeof p.exe, "/usr/bin/%s", cmd);
	snprintf(p.cmd, sizeof p.cmd, "/usr/bin/%s --flag", cmd);
	snprintf(p.engine, sizeof p.engine, "uffd");
	p.page_size = 4096;
	p.has_sample = 1;
	p.last.page_size = 4096;
	p.last.resident = 1000;
	p.last.compressed = 200;
	p.last.store_bytes = 200 * 1024;
	p.last.budget = 2048;
	p.last.faults[0] = 5000;
	p.last.faults[2] = 300;
	p.last.pressure = FL_PRESSURE_NORMAL;
	return p;
}

static struct fl_top_proc procs[3];
static struct fl_top_data data;

/* A database-like frame: three processes, the first open, four regions,
 * a fault history and stacks. */
static void frame(void)
{
	four();
	memset(&data, 0, sizeof data);
	procs[0] = proc_of(4242, FL_TOP_RUNNING, 0, "trainer");
	procs[1] = proc_of(4100, FL_TOP_EXITED, 3, "builder");
	procs[2] = proc_of(4000, FL_TOP_SIGNALLED, 9, "victim");
	data.procs = procs;
	data.nprocs = 3;
	data.proc = procs[0];
	data.has_summary = 1;
	data.summary = procs[0].last;
	data.regions = regs;
	data.nregions = 4;
	data.live_pages = 1;
	data.now_ns = 1700000000000000000ll;
	snprintf(data.source, sizeof data.source, "faultline.db");
	data.nhist = 100;
	for (int i = 0; i < data.nhist; i++) {
		data.hist[i].t_ns = data.now_ns - (data.nhist - i) * 100000000ll;
		data.hist[i].page_size = 4096;
		data.hist[i].faults[0] = (uint64_t)i * 10;
		data.hist[i].faults[1] = (uint64_t)(i % 10) * (uint64_t)i;
		data.hist[i].pressure = FL_PRESSURE_NORMAL;
	}
	data.nby_faults = data.nby_time = 2;
	data.by_faults[0] = (struct fl_top_stack){.stack = 5, .faults = 900, .pages = 950, .latency_ns = 9000000};
	snprintf(data.by_faults[0].where, sizeof data.by_faults[0].where, "write_pages faulter.c:35 < main");
	data.by_faults[1] = (struct fl_top_stack){.stack = 0, .faults = 100, .pages = 100, .latency_ns = 100000};
	data.by_time[0] = data.by_faults[0];
	data.by_time[1] = data.by_faults[1];
}

static struct fl_top_screen scr;

static void lay(const struct fl_top_view *v, int cols, int rows, int want)
{
	cr_assert_eq(fl_top_screen_alloc(&scr, cols, rows), 0);
	cr_assert_eq(fl_top_layout(v, &data, &scr), want);
	/* Every line exactly as wide as the screen, printable ASCII, spans inside it. */
	for (int r = 0; r < rows; r++) {
		const struct fl_top_line *l = &scr.lines[r];
		cr_assert_eq((int)strlen(l->text), cols, "line %d is %zu wide: '%s'", r, strlen(l->text), l->text);
		for (int c = 0; c < cols; c++)
			cr_assert(l->text[c] >= 0x20 && l->text[c] < 0x7f, "line %d col %d: byte %d", r, c, l->text[c]);
		for (int i = 0; i < l->nspans; i++) {
			cr_assert_geq(l->spans[i].start, 0);
			cr_assert_leq(l->spans[i].start + l->spans[i].len, cols, "line %d span %d", r, i);
			cr_assert_lt(l->spans[i].attr, FL_TOP_A__COUNT);
		}
	}
}

static int row_with(const char *text)
{
	for (int r = 0; r < scr.rows; r++)
		if (strstr(scr.lines[r].text, text))
			return r;
	return -1;
}

static int has_span(int row, int attr)
{
	for (int i = 0; i < scr.lines[row].nspans; i++)
		if (scr.lines[row].spans[i].attr == attr)
			return 1;
	return 0;
}

static void teardown(void)
{
	fl_top_screen_free(&scr);
}

TestSuite(top_layout, .fini = teardown);

Test(top_layout, region_header_at_80_columns)
{
	struct fl_top_view v;
	fl_top_view_init(&v);
	struct fl_top_line l;
	fl_top_region_header(&v, 80, &l);
	cr_assert_eq(strlen(l.text), 80);
	static const char *const want[] = {"REGION TYPE", "START-END^", "VSIZE", "RSIZE", "CSIZE", "FAULTS", "PRT",
					   "DETAIL"};
	const char *prev = l.text;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const char *at = strstr(l.text, want[i]);
		cr_assert_not_null(at, "header lacks %s: '%s'", want[i], l.text);
		cr_assert_geq(at, prev, "%s out of order: '%s'", want[i], l.text);
		prev = at;
	}
	/* The narrow screen leaves the optional columns out. */
	cr_expect_null(strstr(l.text, "INACT"));
	cr_expect_null(strstr(l.text, "PAGE MAP"));
	/* The sorted column's header is marked, both ways. */
	v.sort_col = FL_TOP_COL_RSIZE;
	v.sort_desc = 1;
	fl_top_region_header(&v, 80, &l);
	cr_expect_not_null(strstr(l.text, "vRSIZE"), "'%s'", l.text);
	cr_expect_not_null(strstr(l.text, "START-END "), "'%s'", l.text);
	int sorted = 0;
	for (int i = 0; i < l.nspans; i++)
		sorted |= l.spans[i].attr == FL_TOP_A_SORTED &&
			  !strncmp(l.text + l.spans[i].start, "vRSIZE", 6);
	cr_expect(sorted, "the sorted column is not highlighted");
}

Test(top_layout, region_row)
{
	four();
	struct fl_top_line l;
	fl_top_region_row(&regs[0], 80, &l);
	cr_assert_eq(strlen(l.text), 80);
	cr_expect(!strncmp(l.text, "jemalloc ", 9), "'%s'", l.text);
	cr_expect_not_null(strstr(l.text, "7f0000000000-7f0000200000"), "'%s'", l.text);
	cr_expect_not_null(strstr(l.text, " 2.0M   512K    80K     120 rw- #2"), "'%s'", l.text);
	/* Unknown figures print as '-', dimmed. */
	regs[1].rsize = regs[1].csize = -1;
	regs[1].faults = -1;
	fl_top_region_row(&regs[1], 80, &l);
	cr_expect_not_null(strstr(l.text, " 8.0M      -      -       - r-- #7"), "'%s'", l.text);
	/* Long paths keep their end. */
	snprintf(regs[1].detail, sizeof regs[1].detail, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	fl_top_region_row(&regs[1], 80, &l);
	cr_expect_not_null(strstr(l.text, "...so.6"), "'%s'", l.text);
	fl_top_region_row(&regs[3], 80, &l);
	cr_expect_not_null(strstr(l.text, "--- #3/g2"), "'%s'", l.text);
}

/* The value a column sorts regs[i] by. */
static double key(int c, int i)
{
	const struct fl_top_region *r = &regs[i];
	switch (c) {
	case FL_TOP_COL_START:
		return (double)r->start;
	case FL_TOP_COL_VSIZE:
		return (double)r->len;
	case FL_TOP_COL_RSIZE:
		return (double)r->rsize;
	case FL_TOP_COL_INACT:
		return (double)r->isize;
	case FL_TOP_COL_CSIZE:
		return (double)r->csize;
	case FL_TOP_COL_CORIG:
		return (double)r->corig;
	case FL_TOP_COL_UNTCH:
		return (double)r->usize;
	case FL_TOP_COL_FAULTS:
		return (double)r->faults;
	case FL_TOP_COL_PRT:
		return (double)r->prot;
	case FL_TOP_COL_PAGES:
		return 1.0 - (double)r->usize / (double)r->len;
	default:
		return 0;
	}
}

Test(top_layout, sort_by_every_column_both_ways)
{
	four();
	struct fl_top_view v;
	fl_top_view_init(&v);
	for (int c = 0; c < FL_TOP_COL__COUNT; c++) {
		for (int desc = 0; desc < 2; desc++) {
			v.sort_col = (enum fl_top_col)c;
			v.sort_desc = desc;
			int idx[4];
			cr_assert_eq(fl_top_regions_visible(&v, regs, 4, idx), 4);
			for (int i = 1; i < 4; i++) {
				const struct fl_top_region *a = &regs[idx[i - 1]], *b = &regs[idx[i]];
				int ok;
				if (c == FL_TOP_COL_TYPE)
					ok = desc ? strcmp(a->type, b->type) >= 0 : strcmp(a->type, b->type) <= 0;
				else if (c == FL_TOP_COL_DETAIL)
					ok = desc ? strcmp(a->detail, b->detail) >= 0 : strcmp(a->detail, b->detail) <= 0;
				else
					ok = desc ? key(c, idx[i - 1]) >= key(c, idx[i]) : key(c, idx[i - 1]) <= key(c, idx[i]);
				cr_expect(ok, "column %s %s: row %d (%s) before row %d (%s)", fl_top_col_name(c),
					  desc ? "desc" : "asc", idx[i - 1], a->detail, idx[i], b->detail);
			}
		}
	}
	/* Ties (two jemalloc regions) fall back to address order. */
	v.sort_col = FL_TOP_COL_TYPE;
	v.sort_desc = 0;
	int idx[4];
	fl_top_regions_visible(&v, regs, 4, idx);
	cr_expect_eq(idx[0], 0);
	cr_expect_eq(idx[1], 3);
	/* Sizes default to largest first, names and addresses to ascending. */
	cr_expect(fl_top_col_default_desc(FL_TOP_COL_RSIZE));
	cr_expect(!fl_top_col_default_desc(FL_TOP_COL_START));
	cr_expect(!fl_top_col_default_desc(FL_TOP_COL_TYPE));
}

Test(top_layout, filters)
{
	four();
	struct fl_top_view v;
	fl_top_view_init(&v);
	int idx[4];
	snprintf(v.type_filter, sizeof v.type_filter, "jemalloc");
	cr_expect_eq(fl_top_regions_visible(&v, regs, 4, idx), 2);
	cr_expect_eq(idx[0], 0);
	cr_expect_eq(idx[1], 3);
	snprintf(v.type_filter, sizeof v.type_filter, "PROGRAM MMAP"); /* case does not matter */
	cr_expect_eq(fl_top_regions_visible(&v, regs, 4, idx), 1);
	cr_expect_eq(idx[0], 1);
	v.type_filter[0] = 0;
	/* Names: detail, type, or the address range (with or without 0x). */
	snprintf(v.name_filter, sizeof v.name_filter, "g2");
	cr_expect_eq(fl_top_regions_visible(&v, regs, 4, idx), 1);
	cr_expect_eq(idx[0], 3);
	snprintf(v.name_filter, sizeof v.name_filter, "0x7E00");
	cr_expect_eq(fl_top_regions_visible(&v, regs, 4, idx), 1);
	cr_expect_eq(idx[0], 2);
	snprintf(v.name_filter, sizeof v.name_filter, "mmap");
	cr_expect_eq(fl_top_regions_visible(&v, regs, 4, idx), 1);
	snprintf(v.name_filter, sizeof v.name_filter, "nothing like it");
	cr_expect_eq(fl_top_regions_visible(&v, regs, 4, idx), 0);
	/* Both filters at once. */
	snprintf(v.type_filter, sizeof v.type_filter, "jemalloc");
	snprintf(v.name_filter, sizeof v.name_filter, "#2");
	cr_expect_eq(fl_top_regions_visible(&v, regs, 4, idx), 1);
	cr_expect_eq(idx[0], 0);
}

Test(top_layout, regions_frame_80x24)
{
	frame();
	struct fl_top_view v;
	fl_top_view_init(&v);
	v.screen = FL_TOP_REGIONS;
	lay(&v, 80, 24, 0);
	cr_expect(strstr(scr.lines[0].text, "faultline top"), "'%s'", scr.lines[0].text);
	cr_expect(has_span(0, FL_TOP_A_TAB), "the current screen is not marked in the title");
	cr_expect(strstr(scr.lines[1].text, "pid 4242 trainer  RSIZE"), "'%s'", scr.lines[1].text);
	cr_expect(strstr(scr.lines[1].text, "RSIZE 3.9M/8.0M"), "'%s'", scr.lines[1].text);
	cr_expect(strstr(scr.lines[3].text, "4 regions"), "'%s'", scr.lines[3].text);
	cr_expect_eq(row_with("REGION TYPE"), 4);
	cr_expect(has_span(4, FL_TOP_A_HEADER));
	/* Address order by default; the first row selected. */
	cr_expect(!strncmp(scr.lines[5].text, "managed", 7), "'%s'", scr.lines[5].text);
	cr_expect(!strncmp(scr.lines[8].text, "jemalloc", 8), "'%s'", scr.lines[8].text);
	cr_expect(has_span(5, FL_TOP_A_SELECTED));
	cr_expect(!has_span(6, FL_TOP_A_SELECTED));
	cr_expect(strstr(scr.lines[23].text, "q:quit"), "'%s'", scr.lines[23].text);
	cr_expect_eq(fl_top_table_rows(24), 18);

	/* A filter says what it hides. */
	snprintf(v.type_filter, sizeof v.type_filter, "jemalloc");
	lay(&v, 80, 24, 0);
	cr_expect(strstr(scr.lines[3].text, "2 of 4 regions"), "'%s'", scr.lines[3].text);
	cr_expect(strstr(scr.lines[3].text, "type=jemalloc"), "'%s'", scr.lines[3].text);
	cr_expect_eq(row_with("managed "), -1);

	/* The prompt takes the bottom line. */
	v.prompt = FL_TOP_PROMPT_SEARCH;
	snprintf(v.input, sizeof v.input, "7f00");
	lay(&v, 80, 24, 0);
	cr_expect(!strncmp(scr.lines[23].text, "/7f00_", 6), "'%s'", scr.lines[23].text);
}

Test(top_layout, processes_frame_80x24)
{
	frame();
	struct fl_top_view v;
	fl_top_view_init(&v);
	v.proc_sel = 1;
	lay(&v, 80, 24, 0);
	cr_expect(strstr(scr.lines[3].text, "3 processes: 1 running, 2 ended"), "'%s'", scr.lines[3].text);
	int h = row_with("PID");
	cr_assert_eq(h, 4);
	cr_expect(strstr(scr.lines[h].text, "STATE"));
	cr_expect(strstr(scr.lines[h].text, "COMMAND"));
	cr_expect(strstr(scr.lines[5].text, "4242 running"), "'%s'", scr.lines[5].text);
	cr_expect(strstr(scr.lines[5].text, "trainer --flag"), "'%s'", scr.lines[5].text);
	cr_expect(strstr(scr.lines[6].text, "4100 exited 3"), "'%s'", scr.lines[6].text);
	cr_expect(strstr(scr.lines[7].text, "4000 killed KILL"), "'%s'", scr.lines[7].text);
	cr_expect(has_span(7, FL_TOP_A_DIM), "an ended process is not dimmed");
	cr_expect(has_span(6, FL_TOP_A_SELECTED));
	/* The summary follows the selection. */
	cr_expect(strstr(scr.lines[1].text, "pid 4100 builder exited 3"), "'%s'", scr.lines[1].text);
	/* Wider: the engine appears. */
	lay(&v, 120, 30, 0);
	cr_expect(strstr(scr.lines[4].text, "ENGINE"));
}

Test(top_layout, pagemap_and_faults_80x24)
{
	frame();
	struct fl_top_view v;
	fl_top_view_init(&v);
	v.screen = FL_TOP_PAGEMAP;
	lay(&v, 80, 24, 0);
	/* The selected region (the first in address order) is regs[2]. */
	cr_expect(strstr(scr.lines[3].text, "managed 7e0000000000-7e0000100000"), "'%s'", scr.lines[3].text);
	int legend = row_with("legend:");
	cr_assert_geq(legend, 0);
	static const char *const states[] = {"R resident", "i inactive", "C compressed", "s same-filled",
					     ". untouched"};
	for (int i = 0; i < 5; i++)
		cr_expect(strstr(scr.lines[legend].text, states[i]), "legend lacks %s", states[i]);
	int all = row_with(" all ");
	cr_assert_geq(all, 0);
	/* The strip: 64 parts in 64 columns at this width, one state each. */
	cr_expect(strstr(scr.lines[all].text, " .............RRRRRRRRRRRRRiiiiiiiiiiiii"), "'%s'", scr.lines[all].text);
	cr_expect(has_span(all, FL_TOP_A_RESIDENT));
	cr_expect_geq(row_with("resident "), 0);
	cr_expect_geq(row_with("pages by state (256 pages of 4.0K)"), 0);
	/* A region the shim does not describe says so. */
	regs[2].has_strip = 0;
	regs[2].rsize = -1;
	lay(&v, 80, 24, 0);
	cr_expect_geq(row_with("page states of this region are not known here"), 0);

	frame();
	v.screen = FL_TOP_FAULTS;
	lay(&v, 80, 24, 0);
	int ft = row_with("first-touch");
	cr_assert_geq(ft, 0);
	cr_expect(strstr(scr.lines[ft].text, "100/s"), "'%s'", scr.lines[ft].text);
	cr_expect(strstr(scr.lines[ft].text, "#"), "no graph: '%s'", scr.lines[ft].text);
	cr_expect_geq(row_with("write-prot"), 0);
	int st = row_with("TOP STACKS BY FAULTS");
	cr_assert_geq(st, 0);
	cr_expect(strstr(scr.lines[st + 1].text, "write_pages faulter.c:35 < main"), "'%s'", scr.lines[st + 1].text);
	cr_expect(strstr(scr.lines[st + 2].text, "(faults without a stack)"), "'%s'", scr.lines[st + 2].text);
	cr_expect_geq(row_with("TOP STACKS BY TIME SPENT"), st + 2);
}

/* Stacks sampled one fault in 8: each stands for 8 faults, marked ~ (and
 * the faults without a stack do not lead: the refresh leaves them out);
 * allocation sites: their own titles, estimates marked, the unsampled not. */
Test(top_layout, faults_screen_estimates_and_allocation_sites)
{
	frame();
	struct fl_top_view v;
	fl_top_view_init(&v);
	v.screen = FL_TOP_FAULTS;
	data.proc.stacks_every = 8;
	data.nby_faults = data.nby_time = 1;
	lay(&v, 80, 24, 0);
	int st = row_with("TOP STACKS BY FAULTS ~est");
	cr_assert_geq(st, 0);
	cr_expect(strstr(scr.lines[st].text, "(1 in 8 sampled)"), "'%s'", scr.lines[st].text);
	/* 900 faults sampled: about 7200. */
	cr_expect(strstr(scr.lines[st + 1].text, "~7"), "'%s'", scr.lines[st + 1].text);
	cr_expect(strstr(scr.lines[st + 1].text, "write_pages faulter.c:35 < main"), "'%s'", scr.lines[st + 1].text);
	cr_expect_geq(row_with("TOP STACKS BY TIME SPENT ~est"), st + 2);

	data.by_alloc = 1;
	data.nby_faults = data.nby_time = 2;
	data.by_faults[0] = (struct fl_top_stack){.stack = 3, .faults = 400, .pages = 500, .latency_ns = 4000000,
						  .estimated = 1};
	snprintf(data.by_faults[0].where, sizeof data.by_faults[0].where, "make_table demo.c:60 < main");
	data.by_faults[1] = (struct fl_top_stack){.faults = 30, .pages = 30, .latency_ns = 30000, .unsampled = 1};
	snprintf(data.by_faults[1].where, sizeof data.by_faults[1].where, "(in no sampled allocation)");
	data.by_time[0] = data.by_faults[0];
	data.by_time[1] = data.by_faults[1];
	lay(&v, 80, 24, 0);
	st = row_with("ALLOCATION SITES BY FAULTS ~est");
	cr_assert_geq(st, 0, "no allocation sites title");
	cr_expect_eq(row_with("TOP STACKS BY FAULTS"), -1);
	cr_expect(strstr(scr.lines[st + 1].text, "~400") && strstr(scr.lines[st + 1].text, "make_table demo.c:60"), "'%s'",
		  scr.lines[st + 1].text);
	cr_expect(!strchr(scr.lines[st + 2].text, '~') && strstr(scr.lines[st + 2].text, "(in no sampled allocation)"),
		  "'%s'", scr.lines[st + 2].text);
	cr_expect_geq(row_with("ALLOCATION SITES BY TIME ~est"), st + 2);
	cr_expect_geq(row_with("a:stacks/allocation sites"), 0);
}

Test(top_layout, frames_200x50)
{
	frame();
	struct fl_top_view v;
	fl_top_view_init(&v);
	v.screen = FL_TOP_REGIONS;
	lay(&v, 200, 50, 0);
	const char *h = scr.lines[4].text;
	static const char *const cols[] = {"REGION TYPE", "START-END", "VSIZE", "RSIZE", "INACT", "CSIZE", "CORIG",
					   "UNTCH", "FAULTS", "PRT", "PAGE MAP", "DETAIL"};
	for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
		cr_expect(strstr(h, cols[i]), "200 columns and no %s: '%s'", cols[i], h);
	cr_expect(strstr(scr.lines[49].text, "q:quit"));
	cr_expect_eq(fl_top_table_rows(50), 44);
	/* Short of room (80 columns, no color, CRITICAL): the store size goes, the faults stay. */
	data.summary.pressure = FL_PRESSURE_CRITICAL;
	data.summary.compressed = 3000;
	data.summary.compressed_bytes = 5 << 20;
	v.color = 0;
	lay(&v, 80, 24, 0);
	cr_expect(strstr(scr.lines[1].text, "CSIZE 5.0M "), "'%s'", scr.lines[1].text);
	cr_expect(strstr(scr.lines[1].text, "faults 5300 1170/s"), "'%s'", scr.lines[1].text);
	cr_expect(strstr(scr.lines[1].text, "!CRITICAL!"), "'%s'", scr.lines[1].text);
	frame();
	/* The pressure marker stays at the right edge. */
	data.summary.pressure = FL_PRESSURE_CRITICAL;
	lay(&v, 200, 50, 0);
	cr_expect(!strcmp(scr.lines[1].text + 200 - 10, "!CRITICAL!"), "'%s'", scr.lines[1].text);
	/* Taller graphs on a taller screen. */
	v.screen = FL_TOP_FAULTS;
	lay(&v, 200, 50, 0);
	int ft = row_with("first-touch");
	cr_assert_gt(ft, 4, "the graph of the first kind should take more than one row");
	v.screen = FL_TOP_PAGEMAP;
	lay(&v, 200, 50, 0);
	int all = row_with(" all ");
	cr_assert_geq(all, 0);
	/* 64 parts, each as wide as the others: 2 columns at this width. */
	cr_expect(strstr(scr.lines[all].text, "RRRR"), "'%s'", scr.lines[all].text);
}

Test(top_layout, pressure_marker)
{
	cr_expect_str_eq(fl_top_pressure_text(FL_PRESSURE_NORMAL, 1), "NORMAL");
	cr_expect_str_eq(fl_top_pressure_text(FL_PRESSURE_NORMAL, 0), "NORMAL");
	cr_expect_str_eq(fl_top_pressure_text(FL_PRESSURE_WARN, 1), " WARN ");
	cr_expect_str_eq(fl_top_pressure_text(FL_PRESSURE_WARN, 0), "!WARN!");
	cr_expect_str_eq(fl_top_pressure_text(FL_PRESSURE_CRITICAL, 1), " CRITICAL ");
	cr_expect_str_eq(fl_top_pressure_text(FL_PRESSURE_CRITICAL, 0), "!CRITICAL!");
	cr_expect_eq(fl_top_pressure_attr(FL_PRESSURE_WARN), FL_TOP_A_P_WARN);
	cr_expect_eq(fl_top_pressure_attr(FL_PRESSURE_CRITICAL), FL_TOP_A_P_CRITICAL);
	cr_expect_eq(fl_top_pressure_attr(-1), FL_TOP_A_DIM);

	frame();
	struct fl_top_view v;
	fl_top_view_init(&v);
	v.screen = FL_TOP_REGIONS;
	for (int color = 0; color < 2; color++) {
		v.color = color;
		data.summary.pressure = FL_PRESSURE_WARN;
		lay(&v, 80, 24, 0);
		const char *want = color ? " WARN " : "!WARN!";
		const char *at = strstr(scr.lines[1].text, want);
		cr_assert_not_null(at, "color %d: '%s'", color, scr.lines[1].text);
		int x = (int)(at - scr.lines[1].text), marked = 0;
		for (int i = 0; i < scr.lines[1].nspans; i++)
			marked |= scr.lines[1].spans[i].attr == FL_TOP_A_P_WARN && scr.lines[1].spans[i].start == x &&
				  scr.lines[1].spans[i].len == 6;
		cr_expect(marked, "color %d: the marker has no WARN attribute", color);
		data.summary.pressure = FL_PRESSURE_CRITICAL;
		lay(&v, 80, 24, 0);
		cr_expect(strstr(scr.lines[1].text, color ? " CRITICAL " : "!CRITICAL!"), "'%s'", scr.lines[1].text);
		cr_expect(has_span(1, FL_TOP_A_P_CRITICAL));
	}
	/* The process list marks it too. */
	v.screen = FL_TOP_PROCS;
	v.color = 0;
	procs[0].last.pressure = FL_PRESSURE_WARN;
	lay(&v, 80, 24, 0);
	cr_expect(strstr(scr.lines[5].text, "!WARN!"), "'%s'", scr.lines[5].text);
}

Test(top_layout, help_screen)
{
	const char *const *h = fl_top_help_lines();
	int n = 0, quit = 0, help = 0, sort = 0, filter = 0, search = 0, replay = 0, screens = 0;
	for (; h[n]; n++) {
		cr_expect_leq(strlen(h[n]), 78, "help line %d too wide for 80 columns: '%s'", n, h[n]);
		quit |= strstr(h[n], "q  quit") != NULL;
		help |= strstr(h[n], "?  this help") != NULL;
		sort |= strstr(h[n], "sort") != NULL;
		filter |= strstr(h[n], "filter by type") != NULL && strstr(h[n], "t ") != NULL;
		search |= strstr(h[n], "/ ") != NULL && strstr(h[n], "search") != NULL;
		replay |= strstr(h[n], "[ ]") != NULL;
		screens |= strstr(h[n], "1 2 3 4") != NULL;
	}
	cr_expect(quit && help && sort && filter && search && replay && screens, "a key is missing from the help");
	/* It fits between the title lines and the hints of an 80x24 screen. */
	cr_expect_leq(n, 24 - 3);
	frame();
	struct fl_top_view v;
	fl_top_view_init(&v);
	v.screen = FL_TOP_REGIONS;
	v.help = 1;
	lay(&v, 80, 24, 0);
	cr_expect_eq(row_with("faultline top: keys"), 2);
	cr_expect_eq(row_with("REGION TYPE"), -1, "the table shows through the help");
	cr_expect_geq(row_with("q  quit"), 0);
	cr_expect(strstr(scr.lines[23].text, "any key: close help"), "'%s'", scr.lines[23].text);
}

Test(top_layout, too_small)
{
	frame();
	struct fl_top_view v;
	fl_top_view_init(&v);
	lay(&v, 79, 24, 1);
	cr_expect_geq(row_with("terminal too small: need 80x24, have 79x24"), 0);
	lay(&v, 80, 23, 1);
	cr_expect_geq(row_with("have 80x23"), 0);
	/* Narrower than the message: it wraps, and nothing is cut. */
	lay(&v, 20, 10, 1);
	int found = 0;
	for (int r = 0; r < 10; r++)
		found += strstr(scr.lines[r].text, "80x24") != NULL || strstr(scr.lines[r].text, "20x10") != NULL;
	cr_expect_eq(found, 2);
	char buf[80];
	fl_top_too_small_text(60, 20, buf, sizeof buf);
	cr_expect_str_eq(buf, "terminal too small: need 80x24, have 60x20");
}

Test(top_layout, sizes_and_states)
{
	char b[16];
	fl_top_size(-1, b, sizeof b);
	cr_expect_str_eq(b, "-");
	fl_top_size(0, b, sizeof b);
	cr_expect_str_eq(b, "0B");
	fl_top_size(4096, b, sizeof b);
	cr_expect_str_eq(b, "4.0K");
	fl_top_size(12288000, b, sizeof b);
	cr_expect_str_eq(b, "12M");
	fl_top_size(3ll << 30, b, sizeof b);
	cr_expect_str_eq(b, "3.0G");
	fl_top_size(1023 * 1024, b, sizeof b);
	cr_expect_str_eq(b, "1023K");
	struct fl_top_proc p = proc_of(1, FL_TOP_VANISHED, 0, "x");
	fl_top_how_text(&p, b, sizeof b);
	cr_expect_str_eq(b, "vanished");
	p.how = FL_TOP_LOST;
	fl_top_how_text(&p, b, sizeof b);
	cr_expect_str_eq(b, "lost");
}

Test(top_layout, empty_and_short_data_on_every_screen)
{
	/* Nothing at all, then a process with no samples, one sample, no
	 * regions: every screen at both sizes, no crash, lines whole. */
	struct fl_top_view v;
	fl_top_view_init(&v);
	for (int variant = 0; variant < 3; variant++) {
		memset(&data, 0, sizeof data);
		if (variant > 0) {
			data.proc = proc_of(77, FL_TOP_UNLOGGED, 0, "sleep");
			data.proc.has_sample = 0;
		}
		if (variant == 2) {
			data.nhist = 1;
			data.hist[0].page_size = 4096;
			data.has_summary = 1;
			data.summary = data.hist[0];
			data.summary.pressure = -1;
		}
		for (int sc = 0; sc < FL_TOP__SCREENS; sc++) {
			v.screen = (enum fl_top_screen_id)sc;
			lay(&v, 80, 24, 0);
			lay(&v, 200, 50, 0);
		}
	}
}
