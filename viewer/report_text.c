/*
 * faultline report as text (report.h): per process a header, the
 * summary, faults by kind, the regions alive at the peak, the top stacks
 * by faults and by time, the timeline and, for a parent, what fork
 * copied.  Sizes use K, M, G as powers of 1024, like faultline vmmap.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report.h"

/* Rotating static buffers, so that several can appear in one printf. */
static char *buf(void)
{
	static char b[16][64];
	static int n;
	return b[n++ & 15];
}

static const char *dur(int64_t ns)
{
	char *b = buf();
	double v = (double)ns;
	if (ns < 0)
		snprintf(b, 64, "-");
	else if (ns < 1000)
		snprintf(b, 64, "%" PRId64 " ns", ns);
	else if (ns < 1000000)
		snprintf(b, 64, "%.1f us", v / 1e3);
	else if (ns < 1000000000)
		snprintf(b, 64, "%.1f ms", v / 1e6);
	else if (ns < 600000000000ll)
		snprintf(b, 64, "%.2f s", v / 1e9);
	else
		snprintf(b, 64, "%.1f min", v / 6e10);
	return b;
}

static const char *bytes(int64_t n)
{
	char *b = buf();
	double v = (double)n;
	if (n < 1024)
		snprintf(b, 64, "%" PRId64 " B", n);
	else if (n < 1024 * 1024)
		snprintf(b, 64, "%.1f KiB", v / 1024);
	else if (n < 1024ll * 1024 * 1024)
		snprintf(b, 64, "%.1f MiB", v / 1048576);
	else
		snprintf(b, 64, "%.2f GiB", v / 1073741824.0);
	return b;
}

/* vmmap's short form: 12K, 11.7M, 1.5G. */
static const char *vsize(int64_t n)
{
	char *b = buf();
	double v = (double)n;
	if (n < 1024)
		snprintf(b, 64, "%" PRId64, n);
	else if (n < 1024 * 1024)
		snprintf(b, 64, "%.0fK", v / 1024);
	else if (n < 1024ll * 1024 * 1024)
		snprintf(b, 64, "%.1fM", v / 1048576);
	else
		snprintf(b, 64, "%.1fG", v / 1073741824.0);
	return b;
}

static const char *pct(int64_t part, int64_t whole)
{
	char *b = buf();
	if (whole <= 0)
		snprintf(b, 64, "-");
	else
		snprintf(b, 64, "%.1f%%", 100.0 * (double)part / (double)whole);
	return b;
}

static const char *when(int64_t ns)
{
	char *b = buf();
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	if (!localtime_r(&s, &tm)) {
		snprintf(b, 64, "%" PRId64, ns);
		return b;
	}
	char d[24], z[8];
	if (!strftime(d, sizeof d, "%Y-%m-%d %H:%M:%S", &tm))
		d[0] = 0;
	if (!strftime(z, sizeof z, "%Z", &tm))
		z[0] = 0;
	snprintf(b, 64, "%s.%03d %s", d, (int)(ns % 1000000000 / 1000000), z);
	return b;
}

/* A time inside the process, as an offset from its start. */
static const char *rel(const struct rp_proc *p, int64_t ns)
{
	char *b = buf();
	snprintf(b, 64, "+%s", ns == p->start_ns ? "0" : dur(ns - p->start_ns));
	return b;
}

static const char *prot(int64_t pr)
{
	char *b = buf();
	snprintf(b, 64, "%c%c%c", pr & 1 ? 'r' : '-', pr & 2 ? 'w' : '-', pr & 4 ? 'x' : '-');
	return b;
}

static void how_it_ended(const struct rp_proc *p, FILE *out)
{
	if (!strcmp(p->how, "exited") && p->has_status)
		fprintf(out, "exited with status %" PRId64, p->exit_status);
	else if (!strcmp(p->how, "signalled") && p->has_status) {
		const char *name = p->exit_status > 0 && p->exit_status < 65 ? sigabbrev_np((int)p->exit_status) : NULL;
		fprintf(out, "killed by signal %" PRId64 "%s%s%s", p->exit_status, name ? " (SIG" : "", name ? name : "",
			name ? ")" : "");
	} else if (!strcmp(p->how, "vanished"))
		fprintf(out, "vanished (its connection ended without a goodbye)");
	else if (!strcmp(p->how, "running"))
		fprintf(out, "still running when the log was last written");
	else
		fprintf(out, "%s", p->how);
}

static void header(const struct rp_report *r, const struct rp_proc *p, FILE *out)
{
	fprintf(out, "== pid %" PRId64 ": %s\n", p->pid, p->cmdline && *p->cmdline ? p->cmdline : p->exe);
	fprintf(out, "   exe %s\n", p->exe);
	fprintf(out, "   started %s, %s %s, ", when(p->start_ns), p->ended ? "ran" : "seen for",
		dur(p->end_ns - p->start_ns));
	how_it_ended(p, out);
	fprintf(out, "\n   engine %s, %s level %" PRId64 ", budget %s, ", p->engine ? p->engine : "?",
		p->compressor ? p->compressor : "?", p->compressor_level,
		p->budget_bytes ? bytes(p->budget_bytes) : "none");
	if (p->stacks_every == 0)
		fprintf(out, "no stacks taken\n");
	else if (p->stacks_every == 1)
		fprintf(out, "a stack for every fault\n");
	else
		fprintf(out, "a stack for one fault in %" PRId64 "\n", p->stacks_every);
	if (p->parent_id || p->nchildren) {
		fprintf(out, "   ");
		if (p->parent_id)
			fprintf(out, "parent: pid %" PRId64 "%s", p->parent_pid, p->nchildren ? "; " : "");
		if (p->nchildren) {
			fprintf(out, "children: pid");
			for (size_t i = 0; i < p->nchildren; i++)
				fprintf(out, "%s %" PRId64, i ? "," : "", p->child_pids[i]);
		}
		fprintf(out, "\n");
	}
	if (r->window)
		fprintf(out, "   window: %s to %s\n", rel(p, p->t0), rel(p, p->t1));
}

static const char *count(int64_t n, const char *what)
{
	char *b = buf();
	snprintf(b, 64, "%" PRId64 " %s%s", n, what, n == 1 ? "" : "s");
	return b;
}

/* The spill file, for a process that spilled (or tried to). */
static void spilled(const struct rp_proc *p, FILE *out)
{
	if (!p->nspill)
		return;
	fprintf(out, "  %-17s ", "spilled");
	if (p->spill_max_pages)
		fprintf(out, "%" PRId64 " pages (%s) at most, at %s: %s of payload; the file %s at most",
			p->spill_max_pages, bytes(p->spill_max_pages * p->page_size), rel(p, p->spill_max_t),
			bytes(p->spill_max_bytes), bytes(p->spill_file_max));
	else
		fprintf(out, "nothing held");
	fprintf(out, "; %s", count(p->spill_faults, "spill fault"));
	if (p->spill_write_errors || p->spill_read_errors)
		fprintf(out, ", %s, %s\n", count(p->spill_write_errors, "write error"),
			count(p->spill_read_errors, "read error"));
	else
		fprintf(out, ", no I/O errors\n");
}

static void summary(const struct rp_report *r, const struct rp_proc *p, FILE *out)
{
	int64_t ps = p->page_size;
	fprintf(out, "\nsummary\n");
	fprintf(out, "  %-17s %s\n", "duration", dur(p->t1 - p->t0));
	if (p->nsamples) {
		int64_t peak = p->peak_resident + p->peak_inactive;
		fprintf(out, "  %-17s %" PRId64 " pages (%s) resident + inactive at %s", "peak resident", peak,
			bytes(peak * ps), rel(p, p->peak_t));
		if (p->budget_pages)
			fprintf(out, ", %s of the budget", pct(peak, p->budget_pages));
		fprintf(out, "; high-water mark %" PRId64 " pages (%s)\n", p->peak_hwm, bytes(p->peak_hwm * ps));
		if (p->max_stored) {
			fprintf(out, "  %-17s %" PRId64 " pages (%s) at most, at %s: %" PRId64 " compressed", "compressed",
				p->max_stored, bytes(p->max_stored * ps), rel(p, p->max_stored_t), p->max_compressed);
			if (p->max_compressed && p->max_compressed_bytes)
				fprintf(out, " into %s (%.1fx)", bytes(p->max_compressed_bytes),
					(double)(p->max_compressed * ps) / (double)p->max_compressed_bytes);
			fprintf(out, ", %" PRId64 " same-filled\n", p->max_same_filled);
		} else
			fprintf(out, "  %-17s nothing\n", "compressed");
	} else {
		fprintf(out, "  %-17s no samples in the window\n", "peak resident");
	}
	spilled(p, out);
	int64_t back = 0;
	for (int k = 1; k <= 4 && k < RP_KINDS; k++)
		back += p->kinds[k].pages;
	fprintf(out, "  %-17s %s in faults, %s of the time", "efficiency", dur(p->total.time_ns),
		pct(p->total.time_ns, p->t1 - p->t0));
	if (p->evicted)
		fprintf(out, "; %" PRId64 " pages evicted, %" PRId64 " brought back (%s)", p->evicted, back,
			pct(back, p->evicted));
	else
		fprintf(out, "; nothing evicted");
	fprintf(out, "\n");
	if (p->pressure_max >= 0)
		fprintf(out, "  %-17s %s (samples: %" PRId64 " NORMAL, %" PRId64 " WARN, %" PRId64 " CRITICAL)\n",
			"pressure reached", rp_pressure_name(p->pressure_max), p->pressure_samples[0],
			p->pressure_samples[1], p->pressure_samples[2]);
	else
		fprintf(out, "  %-17s unknown (no samples)\n", "pressure reached");
	fprintf(out, "  %-17s %" PRId64 " faults, %" PRId64 " pages, %" PRId64 " writes\n", "faults", p->total.faults,
		p->total.pages, p->total.writes);
	fprintf(out, "  %-17s %" PRId64 " fault events, %" PRId64 " stacks, %" PRId64 " other records%s\n", "drops",
		p->dropped_events, p->dropped_stacks, p->dropped_other, r->window ? " (whole run)" : "");

	fprintf(out, "\nfaults by kind\n");
	fprintf(out, "  %-14s %9s %9s %9s %10s %9s %9s\n", "KIND", "FAULTS", "PAGES", "WRITES", "TIME", "AVG", "MAX");
	for (int k = 0; k < RP_KINDS; k++) {
		const struct rp_totals *t = &p->kinds[k];
		if (!t->faults)
			continue;
		fprintf(out, "  %-14s %9" PRId64 " %9" PRId64 " %9" PRId64 " %10s %9s %9s\n", rp_kind_name(r, k), t->faults,
			t->pages, t->writes, dur(t->time_ns), dur(t->time_ns / t->faults), dur(t->max_ns));
	}
	if (p->total.faults)
		fprintf(out, "  %-14s %9" PRId64 " %9" PRId64 " %9" PRId64 " %10s %9s %9s\n", "total", p->total.faults,
			p->total.pages, p->total.writes, dur(p->total.time_ns), dur(p->total.time_ns / p->total.faults),
			dur(p->total.max_ns));
	else
		fprintf(out, "  no faults logged%s\n", r->window ? " in the window" : "");
}

static void regions(const struct rp_proc *p, FILE *out)
{
	fprintf(out, "\nregions alive at %s (%s): %" PRId64 " region%s, %s\n",
		p->nsamples ? "peak resident" : "the end, without samples", rel(p, p->regions_t), p->regions_alive,
		p->regions_alive == 1 ? "" : "s", bytes(p->regions_bytes));
	if (p->nsamples && (p->peak_resident + p->peak_inactive) * 10 < p->peak_hwm * 9)
		fprintf(out, "  (the samples missed the high-water mark of %" PRId64 " pages: at that moment other regions may have been alive)\n",
			p->peak_hwm);
	if (!p->nregions)
		return;
	fprintf(out, "  %-14s %-33s %7s %4s %9s %9s\n", "REGION TYPE", "START-END", "VSIZE", "PRT", "FAULTS", "PAGES");
	for (size_t i = 0; i < p->nregions; i++) {
		const struct rp_region *g = &p->regions[i];
		char range[48];
		snprintf(range, sizeof range, "%016" PRIx64 "-%016" PRIx64, (uint64_t)g->start,
			 (uint64_t)(g->start + g->len));
		fprintf(out, "  %-14s %-33s %7s %4s %9" PRId64 " %9" PRId64 "\n", g->kind ? g->kind : "?", range,
			vsize(g->len), prot(g->prot), g->faults, g->pages);
	}
	if (p->regions_hidden)
		fprintf(out, "  (%" PRId64 " smaller regions not listed, %s)\n", p->regions_hidden,
			bytes(p->regions_hidden_bytes));
	if (p->nregion_kinds > 1 || p->regions_hidden) {
		fprintf(out, "  by type:");
		for (size_t k = 0; k < p->nregion_kinds; k++)
			fprintf(out, "%s %s %" PRId64 " (%s, %" PRId64 " faults)", k ? ";" : "", p->region_kinds[k].kind,
				p->region_kinds[k].count, vsize(p->region_kinds[k].bytes), p->region_kinds[k].faults);
		fprintf(out, "\n");
	}
	if (p->faults_elsewhere)
		fprintf(out, "  %" PRId64 " faults were in regions not alive at that moment\n", p->faults_elsewhere);
}

static void frames(const struct rp_stack *s, FILE *out)
{
	if (s->stack == 0) {
		fprintf(out, "      (no stack: faults logged without one)\n");
		return;
	}
	if (!s->nframes) {
		fprintf(out, "      (the stack's frames are not in the log)\n");
		return;
	}
	int w = 0;
	for (int i = 0; i < s->nframes && i < RP_FRAMES; i++) {
		int l = s->frames[i].name ? (int)strlen(s->frames[i].name) : 1;
		if (l > w)
			w = l;
	}
	if (w > 40)
		w = 40;
	for (int i = 0; i < s->nframes && i < RP_FRAMES; i++) {
		const struct rp_frame *f = &s->frames[i];
		/* An inlined call: the row below it (same depth) is its caller. */
		int inl = i + 1 < s->nframes && s->frames[i + 1].depth == f->depth;
		fprintf(out, "      %-*s", f->file ? w : 0, f->name ? f->name : "?");
		if (f->file) {
			fprintf(out, "  %s", f->file);
			if (f->line)
				fprintf(out, ":%" PRId64, f->line);
		}
		fprintf(out, "%s\n", inl ? "  (inlined)" : "");
	}
	if (s->nframes > RP_FRAMES)
		fprintf(out, "      (%d more frames)\n", s->nframes - RP_FRAMES);
	if (s->unnamed)
		fprintf(out, "      (not all frames symbolized yet)\n");
}

static void kinds_of(const struct rp_report *r, const struct rp_stack *s, int64_t scale, FILE *out)
{
	int n = 0;
	for (int k = 0; k < RP_KINDS; k++)
		if (s->kind_faults[k])
			fprintf(out, "%s%s %s%" PRId64, n++ ? ", " : "; ", rp_kind_name(r, k), scale > 1 ? "~" : "",
				s->kind_faults[k] * scale);
}

/* The line under a sampled table's title: what its numbers are. */
static void estimate_note(const struct rp_proc *p, FILE *out)
{
	fprintf(out,
		"  (estimates, marked ~: each stack taken stands for the %" PRId64 " faults it was sampled from;"
		" exact: %" PRId64 " faults, %" PRId64 " pages, %s in faults, %" PRId64 " with a stack)\n",
		p->scale, p->total.faults, p->total.pages, dur(p->total.time_ns), p->sampled.faults);
}

static void top(const struct rp_report *r, const struct rp_proc *p, FILE *out)
{
	if (!p->ntop_faults)
		return;
	int64_t x = p->scale;
	const char *est = x > 1 ? "~" : "";
	/* Shares are of what the table counts: the sampled faults when sampled. */
	const struct rp_totals *whole = x > 1 ? &p->sampled : &p->total;
	fprintf(out, "\ntop stacks by faults%s\n", x > 1 ? " (estimated from sampled stacks)" : "");
	if (x > 1)
		estimate_note(p, out);
	for (size_t i = 0; i < p->ntop_faults; i++) {
		const struct rp_stack *s = p->by_faults[i];
		fprintf(out, "  #%zu  %s%" PRId64 " faults (%s), %s%" PRId64 " pages, %s%s", i + 1, est, s->t.faults * x,
			pct(s->t.faults, whole->faults), est, s->t.pages * x, est, dur(s->t.time_ns * x));
		kinds_of(r, s, x, out);
		if (x > 1)
			fprintf(out, "; %" PRId64 " sampled", s->t.faults);
		fprintf(out, "\n");
		frames(s, out);
	}
	fprintf(out, "\ntop stacks by time in faults%s\n", x > 1 ? " (estimated from sampled stacks, as above)" : "");
	for (size_t i = 0; i < p->ntop_time; i++) {
		const struct rp_stack *s = p->by_time[i];
		fprintf(out, "  #%zu  %s%s (%s), %s%" PRId64 " faults, %s each on average, %s at most", i + 1, est,
			dur(s->t.time_ns * x), pct(s->t.time_ns, whole->time_ns), est, s->t.faults * x,
			dur(s->t.faults ? s->t.time_ns / s->t.faults : 0), dur(s->t.max_ns));
		fprintf(out, "\n");
		frames(s, out);
	}
}

/* Allocation sites: whole run; the figures of sampled allocations are
 * estimates (each sample stands for the bytes it was drawn from). */
static void site_frames(const struct rp_site *x, FILE *out)
{
	if (x->s.stack < 0)
		fprintf(out, "      (in no sampled allocation: the pager's own, the allocator's, or not sampled)\n");
	else
		frames(&x->s, out);
}

static void sites(const struct rp_report *r, const struct rp_proc *p, FILE *out)
{
	if (!p->has_allocs)
		return;
	fprintf(out, "\nfaults by allocation site (estimated from sampled allocations, marked ~%s)\n",
		r->window ? "; whole run" : "");
	int64_t all = 0, unsampled = 0;
	for (size_t i = 0; i < p->nsites; i++) {
		all += p->sites[i].faults;
		if (p->sites[i].s.stack < 0)
			unsampled += p->sites[i].faults;
	}
	fprintf(out, "  (exact: %" PRId64 " faults charged, %" PRId64 " of them in sampled allocations)\n", all,
		all - unsampled);
	if (p->alloc_dropped)
		fprintf(out, "  (%" PRId64 " allocations drawn for a sample were not kept: the shim's table was full)\n",
			p->alloc_dropped);
	for (size_t i = 0; i < p->nsites && i < (size_t)r->top; i++) {
		const struct rp_site *x = &p->sites[i];
		if (x->s.stack < 0) {
			fprintf(out, "  #%zu  %" PRId64 " faults (%s), %" PRId64 " pages, %s; unsampled\n", i + 1, x->faults,
				pct(x->faults, all), x->pages, dur(x->time_ns));
		} else {
			fprintf(out,
				"  #%zu  ~%" PRId64 " faults (%s), ~%" PRId64 " pages, ~%s; %" PRId64
				" sampled allocation%s (%" PRId64 " faults): ~%s allocated, ~%s live at the end\n",
				i + 1, x->est_faults, pct(x->faults, all), x->est_pages, dur(x->est_time_ns), x->samples,
				x->samples == 1 ? "" : "s", x->faults, bytes(x->bytes_allocated), bytes(x->bytes_live_at_end));
		}
		site_frames(x, out);
	}
	if (p->nsites > (size_t)r->top)
		fprintf(out, "  (%zu more sites)\n", p->nsites - (size_t)r->top);

	fprintf(out, "\nmemory by allocation site at the peak resident sample");
	if (!p->alloc_peak_ns) {
		fprintf(out, ": no peak recorded\n");
		return;
	}
	fprintf(out, " (%s%s)\n", rel(p, p->alloc_peak_ns), r->window ? ", whole run" : "");
	if (!p->nby_peak) {
		fprintf(out, "  no sampled allocation held pages then\n");
		return;
	}
	for (size_t i = 0; i < p->nby_peak && i < (size_t)r->top; i++) {
		const struct rp_site *x = p->by_peak[i];
		fprintf(out, "  #%zu  ~%s resident, ~%s compressed (%" PRId64 " pages)\n", i + 1, bytes(x->resident_at_peak),
			bytes(x->compressed_at_peak),
			p->page_size ? (x->compressed_at_peak + p->page_size - 1) / p->page_size : 0);
		site_frames(x, out);
	}
	if (p->nby_peak > (size_t)r->top)
		fprintf(out, "  (%zu more sites)\n", p->nby_peak - (size_t)r->top);
}

static void timeline(const struct rp_report *r, const struct rp_proc *p, FILE *out)
{
	if (!p->total.faults)
		return;
	static const char *glyph[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
	fprintf(out, "\nfault timeline: %s to %s, %d columns of %s\n", rel(p, p->t0), rel(p, p->t1), RP_BUCKETS,
		dur(p->bucket_ns));
	for (int k = 0; k < RP_KINDS; k++) {
		if (!p->kinds[k].faults)
			continue;
		int64_t max = 0;
		for (int b = 0; b < RP_BUCKETS; b++)
			if (p->timeline[k][b] > max)
				max = p->timeline[k][b];
		fprintf(out, "  %-14s |", rp_kind_name(r, k));
		for (int b = 0; b < RP_BUCKETS; b++) {
			int64_t v = p->timeline[k][b];
			/* Any fault shows: 1..8 eighths, never blank. */
			int g = v ? 1 + (int)((v * 8 - 1) / max) : 0;
			fputs(glyph[g > 8 ? 8 : g], out);
		}
		fprintf(out, "| %" PRId64 " faults, at most %" PRId64 " in a column\n", p->kinds[k].faults, max);
	}
}

static void cow(const struct rp_report *r, const struct rp_proc *p, FILE *out)
{
	if (!p->nchildren)
		return;
	int64_t any = 0;
	for (size_t c = 0; c < p->ncow; c++)
		any += p->cow[c].faults;
	fprintf(out, "\nwhat fork copied (write-protect faults, whole run)\n");
	if (!any) {
		fprintf(out, "  no COW faults logged for pid %" PRId64 " or its %zu %s\n", p->pid, p->nchildren,
			p->nchildren == 1 ? "child" : "children");
		return;
	}
	for (size_t c = 0; c < p->ncow; c++) {
		const struct rp_cow *w = &p->cow[c];
		fprintf(out, "  pid %" PRId64 " (%s): ", w->pid, c == 0 ? "this process" : "child");
		if (!w->faults) {
			fprintf(out, "no COW faults logged\n");
			continue;
		}
		fprintf(out, "%" PRId64 " faults, %" PRId64 " pages (%s) copied", w->faults, w->pages,
			bytes(w->pages * p->page_size));
		if (w->scale > 1)
			fprintf(out, "; stacks estimated (~) from %" PRId64 " sampled, one in %" PRId64, w->sampled,
				w->scale);
		fprintf(out, "\n");
		const char *est = w->scale > 1 ? "~" : "";
		for (size_t i = 0; i < w->nstacks && i < (size_t)r->top; i++) {
			const struct rp_stack *s = &w->stacks[i];
			fprintf(out, "  #%zu  %s%" PRId64 " faults, %s%" PRId64 " pages, %s%s\n", i + 1, est,
				s->t.faults * w->scale, est, s->t.pages * w->scale, est, dur(s->t.time_ns * w->scale));
			frames(s, out);
		}
		if (w->nstacks > (size_t)r->top)
			fprintf(out, "  (%zu more stacks)\n", w->nstacks - (size_t)r->top);
	}
}

void rp_write_text(const struct rp_report *r, FILE *out)
{
	fprintf(out, "faultline report: %s, %zu process%s", r->path, r->nprocs, r->nprocs == 1 ? "" : "es");
	if (r->window)
		fprintf(out, " in the window%s%s%s%s", r->since[0] ? " since " : "", r->since, r->until[0] ? " until " : "",
			r->until);
	fprintf(out, "\n");
	if (!r->nprocs)
		fprintf(out, "\nno process has said hello to the daemon that wrote this log yet\n");
	for (size_t i = 0; i < r->nprocs; i++) {
		const struct rp_proc *p = &r->procs[i];
		fprintf(out, "\n");
		header(r, p, out);
		summary(r, p, out);
		regions(p, out);
		top(r, p, out);
		sites(r, p, out);
		timeline(r, p, out);
		cow(r, p, out);
	}
}
