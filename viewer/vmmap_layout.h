/*
 * Layout for `faultline vmmap`: a gathered map (vmmap_data.h) as the
 * text table and summary, fitted to a width, or as one JSON object.  Into
 * a memory buffer, never a terminal, so tests can compare the text.
 */
#ifndef FL_VIEWER_VMMAP_LAYOUT_H
#define FL_VIEWER_VMMAP_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "vmmap_data.h"

/* A growing buffer; failed is set (and text dropped) when memory runs out. */
struct fl_vmmap_out {
	char *buf;
	size_t len, cap;
	int failed;
};
void fl_vmmap_layout_out_free(struct fl_vmmap_out *o);

/*
 * A size in at most four characters, as vmmap prints them: "0", "512B",
 * "4K", "999K", "1.5M", "64M", "1.2G", "12T".  Units are powers of 1024;
 * below ten units one decimal unless it is .0, rounded to nearest.
 */
void fl_vmmap_layout_size(uint64_t bytes, char out[8]);

/*
 * The table, one row per region, and the summary, for a terminal width
 * columns wide (at least 40 is used).  Columns are fitted in this order
 * until the table fits: a SWAPPED or CSIZE column with nothing in it is
 * left out, addresses beyond 48 bits ([vsyscall]) overflow their column,
 * region types are abbreviated, the SWAPPED column is left out (the
 * summary has its total), DETAIL is cut (a path keeps its file name) down
 * to 10 characters.
 */
void fl_vmmap_layout_text(const struct fl_vmmap *m, unsigned width, struct fl_vmmap_out *o);

/* One JSON object: process, regions (sizes in bytes), summary. */
void fl_vmmap_layout_json(const struct fl_vmmap *m, struct fl_vmmap_out *o);

#endif
