/*
 * Figures derived from the pager's counters (struct fl_stats in
 * include/faultline/faultline.h), computed the same way by the shim's
 * summary, the state file's readers and the CLI.
 */
#include "faultline/faultline.h"

double fl_stats_efficiency(const struct fl_stats *s)
{
	uint64_t held = (s->compressed_pages + s->same_filled_pages) * s->page_size;
	if (!held)
		return 0.0;
	uint64_t used = s->store_bytes ? s->store_bytes : 1;
	return (double)held / (double)used;
}
