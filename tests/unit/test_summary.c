/*
 * The summary file (include/faultline/summary.h): what the shim writes
 * reads back the same, unknown keys are skipped, a block too large for
 * its buffer is not written half.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "faultline/summary.h"

static void parse_all(struct fl_summary *out, char *text, int *blocks)
{
	memset(out, 0, sizeof *out);
	*blocks = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (fl_summary_parse_line(out, line)) {
			(*blocks)++;
			return;
		}
	}
}

Test(summary, round_trip)
{
	struct fl_summary s = {.pid = 4242, .managed = 1, .page_size = 4096, .budget_pages = 512,
			       .peak_pages = 511, .resident_pages = 300, .inactive_pages = 12,
			       .compressed_pages = 2632, .same_filled_pages = 50, .compressed_bytes = 73216,
			       .store_bytes = 1 << 20, .errors = 1, .prefilled = 7, .readahead = 9,
			       .evicted = 3626, .efficiency = 144.4, .nkinds = 2};
	strcpy(s.engine, "uffd");
	strcpy(s.pressure_peak, "CRITICAL");
	strcpy(s.kind[0], "first-touch");
	s.faults[0] = 3071;
	strcpy(s.kind[1], "decompress");
	s.faults[1] = 1026;
	char buf[2048];
	size_t n = fl_summary_format(&s, buf, sizeof buf);
	cr_assert_gt(n, 0);
	cr_assert_eq(strlen(buf), n);
	cr_expect(strstr(buf, "faults.first-touch=3071\n"), "%s", buf);
	cr_expect(!strcmp(buf + n - 4, "end\n"), "%s", buf);
	struct fl_summary r;
	int blocks;
	parse_all(&r, buf, &blocks);
	cr_assert_eq(blocks, 1);
	cr_expect_eq(r.pid, 4242);
	cr_expect_eq(r.managed, 1);
	cr_expect_str_eq(r.engine, "uffd");
	cr_expect_str_eq(r.pressure_peak, "CRITICAL");
	cr_expect_eq(r.page_size, 4096);
	cr_expect_eq(r.peak_pages, 511);
	cr_expect_eq(r.compressed_pages, 2632);
	cr_expect_eq(r.same_filled_pages, 50);
	cr_expect_eq(r.store_bytes, 1 << 20);
	cr_expect_eq(r.evicted, 3626);
	cr_expect_eq(r.readahead, 9);
	cr_expect_float_eq(r.efficiency, 144.4, 0.006);
	cr_assert_eq(r.nkinds, 2);
	cr_expect_str_eq(r.kind[1], "decompress");
	cr_expect_eq(r.faults[1], 1026);
}

Test(summary, unknown_keys_and_bad_lines_are_skipped)
{
	char text[] = "pid=7\nfuture_figure=12\nno equals sign\nmanaged=1\npeak_pages=3\nend\n";
	struct fl_summary r;
	int blocks;
	parse_all(&r, text, &blocks);
	cr_assert_eq(blocks, 1);
	cr_expect_eq(r.pid, 7);
	cr_expect_eq(r.peak_pages, 3);
}

Test(summary, an_unmanaged_process_writes_no_figures)
{
	struct fl_summary s = {.pid = 9, .managed = 0, .peak_pages = 5};
	strcpy(s.engine, "off");
	char buf[256];
	size_t n = fl_summary_format(&s, buf, sizeof buf);
	cr_assert_gt(n, 0);
	cr_expect_str_eq(buf, "pid=9\nmanaged=0\nengine=off\nend\n");
	cr_expect_eq(fl_summary_format(&s, buf, 10), 0, "does not fit: nothing");
}
