/*
 * The summary file: what each managed process tells the launcher about
 * its run when it exits.  FAULTLINE_SUMMARY names the file; every process
 * of the run (children, exec'd programs) appends one block to it, written
 * at once with one write(2) and O_APPEND, so blocks never interleave.
 *
 * A block is text, one "key=value" line per figure, closed by a line
 * "end":
 *
 *     pid=4242
 *     managed=1                  (0: the shim ran but the pager did not start)
 *     engine=uffd
 *     page_size=4096             (the figures below only when managed=1)
 *     budget_pages=512
 *     peak_pages=512 ...
 *     efficiency=144.40
 *     pressure_peak=CRITICAL
 *     faults.first-touch=3071    (one line per fault kind, by fl_fault_kind_name)
 *     end
 *
 * Readers skip keys they do not know, so figures can be added.  The shim
 * writes it (preload/shim.c), `faultline run` reads it (viewer/run.c),
 * both through the functions here (common/summary.c).
 */
#ifndef FAULTLINE_SUMMARY_H
#define FAULTLINE_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#define FL_SUMMARY_MAX_KINDS 16

struct fl_summary {
	long pid;
	int managed;
	char engine[32];
	char pressure_peak[16]; /* "" when not managed */
	uint64_t page_size, budget_pages, peak_pages, resident_pages, inactive_pages;
	uint64_t compressed_pages, same_filled_pages, compressed_bytes, store_bytes;
	uint64_t errors, prefilled, readahead, evicted;
	uint64_t spilled_pages, spilled_bytes, spill_file_bytes;
	double efficiency;
	int nkinds;
	char kind[FL_SUMMARY_MAX_KINDS][24];
	uint64_t faults[FL_SUMMARY_MAX_KINDS];
};

/*
 * One block for s, "end" line included, into buf (no allocation: the shim
 * calls it at exit).  Returns its length, or 0 when it does not fit.
 */
size_t fl_summary_format(const struct fl_summary *s, char *buf, size_t len);

/*
 * Take one line of a summary file (without its newline) into *s.
 * Returns 1 when the line ends the block (s is then complete), 0 otherwise
 * (unknown keys and malformed lines are skipped).
 */
int fl_summary_parse_line(struct fl_summary *s, const char *line);

#endif
