/*
 * faultline report as JSON (report.h): the same figures as the text, in
 * raw units (nanoseconds since the epoch or durations in ns, pages,
 * bytes), for scripts.  Addresses are numbers, as in the database.
 */
#include <string.h>

#include "json.h"
#include "report.h"

static void totals(struct fl_json *j, const struct rp_totals *t)
{
	fl_json_int(j, "faults", t->faults);
	fl_json_int(j, "pages", t->pages);
	fl_json_int(j, "writes", t->writes);
	fl_json_int(j, "time_ns", t->time_ns);
	fl_json_int(j, "max_ns", t->max_ns);
}

/* A stack's frames, innermost first, as an array named "frames". */
static void frames(struct fl_json *j, const struct rp_stack *s)
{
	fl_json_array(j, "frames");
	for (int i = 0; i < s->nframes; i++) {
		const struct rp_frame *f = &s->frames[i];
		fl_json_object(j, NULL);
		fl_json_int(j, "depth", f->depth);
		fl_json_int(j, "inline_depth", f->inline_depth);
		fl_json_str(j, "name", f->name);
		fl_json_str(j, "file", f->file);
		if (f->line)
			fl_json_int(j, "line", f->line);
		else
			fl_json_null(j, "line");
		fl_json_end(j);
	}
	fl_json_end(j);
}

/* The counts are what was logged; a sampled stack (scale > 1) also gets
 * "estimated": the faults, pages and time it stands for. */
static void stack(struct fl_json *j, const struct rp_report *r, const struct rp_stack *s, int64_t scale)
{
	fl_json_object(j, NULL);
	fl_json_int(j, "stack", s->stack);
	totals(j, &s->t);
	if (scale > 1) {
		fl_json_object(j, "estimated");
		fl_json_int(j, "faults", s->t.faults * scale);
		fl_json_int(j, "pages", s->t.pages * scale);
		fl_json_int(j, "time_ns", s->t.time_ns * scale);
		fl_json_end(j);
	}
	fl_json_object(j, "kinds");
	for (int k = 0; k < RP_KINDS; k++)
		if (s->kind_faults[k])
			fl_json_int(j, rp_kind_name(r, k), s->kind_faults[k]);
	fl_json_end(j);
	fl_json_bool(j, "symbolized", !s->unnamed);
	frames(j, s);
	fl_json_end(j);
}

static void proc(struct fl_json *j, const struct rp_report *r, const struct rp_proc *p)
{
	fl_json_object(j, NULL);
	fl_json_int(j, "process", p->id);
	fl_json_int(j, "pid", p->pid);
	fl_json_int(j, "ppid", p->ppid);
	if (p->parent_id)
		fl_json_int(j, "parent_pid", p->parent_pid);
	else
		fl_json_null(j, "parent_pid");
	fl_json_str(j, "exe", p->exe);
	fl_json_str(j, "command", p->cmdline);
	fl_json_str(j, "engine", p->engine);
	fl_json_str(j, "compressor", p->compressor);
	fl_json_int(j, "compressor_level", p->compressor_level);
	fl_json_int(j, "budget_bytes", p->budget_bytes);
	fl_json_int(j, "page_size", p->page_size);
	fl_json_int(j, "stacks_every", p->stacks_every);
	fl_json_int(j, "start_ns", p->start_ns);
	if (p->ended)
		fl_json_int(j, "end_ns", p->end_ns);
	else
		fl_json_null(j, "end_ns");
	fl_json_str(j, "how", p->how);
	if (p->has_status)
		fl_json_int(j, "exit_status", p->exit_status);
	else
		fl_json_null(j, "exit_status");
	fl_json_int(j, "window_start_ns", p->t0);
	fl_json_int(j, "window_end_ns", p->t1);
	fl_json_int(j, "duration_ns", p->t1 - p->t0);
	fl_json_array(j, "children");
	for (size_t i = 0; i < p->nchildren; i++)
		fl_json_int(j, NULL, p->child_pids[i]);
	fl_json_end(j);

	fl_json_object(j, "summary");
	fl_json_int(j, "samples", p->nsamples);
	if (p->nsamples) {
		fl_json_int(j, "peak_t_ns", p->peak_t);
		fl_json_int(j, "peak_resident_pages", p->peak_resident);
		fl_json_int(j, "peak_inactive_pages", p->peak_inactive);
		fl_json_int(j, "high_water_pages", p->peak_hwm);
		fl_json_int(j, "budget_pages", p->budget_pages);
		fl_json_int(j, "max_stored_pages", p->max_stored);
		fl_json_int(j, "max_stored_t_ns", p->max_stored_t);
		fl_json_int(j, "compressed_pages_then", p->max_compressed);
		fl_json_int(j, "compressed_bytes_then", p->max_compressed_bytes);
		fl_json_int(j, "same_filled_pages_then", p->max_same_filled);
		fl_json_int(j, "pages_evicted", p->evicted);
		fl_json_str(j, "pressure_max", rp_pressure_name(p->pressure_max));
		fl_json_object(j, "pressure_samples");
		for (int l = 0; l < 3; l++)
			fl_json_int(j, rp_pressure_name(l), p->pressure_samples[l]);
		fl_json_end(j);
	}
	if (p->nspill) {
		fl_json_object(j, "spill");
		fl_json_int(j, "samples", p->nspill);
		fl_json_int(j, "max_spilled_pages", p->spill_max_pages);
		fl_json_int(j, "max_spilled_t_ns", p->spill_max_t);
		fl_json_int(j, "spilled_bytes_then", p->spill_max_bytes);
		fl_json_int(j, "max_file_bytes", p->spill_file_max);
		fl_json_int(j, "spill_faults", p->spill_faults);
		fl_json_int(j, "write_errors", p->spill_write_errors);
		fl_json_int(j, "read_errors", p->spill_read_errors);
		fl_json_end(j);
	}
	fl_json_object(j, "faults");
	totals(j, &p->total);
	fl_json_end(j);
	fl_json_object(j, "drops");
	fl_json_int(j, "events", p->dropped_events);
	fl_json_int(j, "stacks", p->dropped_stacks);
	fl_json_int(j, "other", p->dropped_other);
	fl_json_end(j);
	fl_json_end(j);

	fl_json_array(j, "faults_by_kind");
	for (int k = 0; k < RP_KINDS; k++) {
		if (!p->kinds[k].faults)
			continue;
		fl_json_object(j, NULL);
		fl_json_int(j, "kind", k);
		fl_json_str(j, "name", rp_kind_name(r, k));
		totals(j, &p->kinds[k]);
		fl_json_end(j);
	}
	fl_json_end(j);

	fl_json_object(j, "regions_at_peak");
	fl_json_int(j, "t_ns", p->regions_t);
	fl_json_int(j, "alive", p->regions_alive);
	fl_json_int(j, "bytes", p->regions_bytes);
	fl_json_int(j, "not_listed", p->regions_hidden);
	fl_json_int(j, "faults_elsewhere", p->faults_elsewhere);
	fl_json_array(j, "regions");
	for (size_t i = 0; i < p->nregions; i++) {
		const struct rp_region *g = &p->regions[i];
		fl_json_object(j, NULL);
		fl_json_int(j, "region_id", g->region_id);
		fl_json_int(j, "start", g->start);
		fl_json_int(j, "len", g->len);
		fl_json_int(j, "prot", g->prot);
		fl_json_str(j, "kind", g->kind);
		fl_json_int(j, "faults", g->faults);
		fl_json_int(j, "pages", g->pages);
		fl_json_end(j);
	}
	fl_json_end(j);
	fl_json_end(j);

	if (p->scale > 1) {
		fl_json_object(j, "stacks_sampled");
		fl_json_int(j, "scale", p->scale);
		totals(j, &p->sampled);
		fl_json_end(j);
	}
	fl_json_array(j, "top_stacks_by_faults");
	for (size_t i = 0; i < p->ntop_faults; i++)
		stack(j, r, p->by_faults[i], p->scale);
	fl_json_end(j);
	fl_json_array(j, "top_stacks_by_time");
	for (size_t i = 0; i < p->ntop_time; i++)
		stack(j, r, p->by_time[i], p->scale);
	fl_json_end(j);

	if (p->has_allocs) {
		/* Whole run; est_*: what the sampled allocations stand for. */
		fl_json_array(j, "alloc_sites");
		for (size_t i = 0; i < p->nsites; i++) {
			const struct rp_site *x = &p->sites[i];
			fl_json_object(j, NULL);
			if (x->s.stack < 0)
				fl_json_null(j, "stack");
			else
				fl_json_int(j, "stack", x->s.stack);
			fl_json_int(j, "samples", x->samples);
			fl_json_int(j, "bytes_allocated", x->bytes_allocated);
			fl_json_int(j, "bytes_live_at_end", x->bytes_live_at_end);
			fl_json_int(j, "faults", x->faults);
			fl_json_int(j, "est_faults", x->est_faults);
			fl_json_int(j, "pages", x->pages);
			fl_json_int(j, "est_pages", x->est_pages);
			fl_json_int(j, "time_ns", x->time_ns);
			fl_json_int(j, "est_time_ns", x->est_time_ns);
			fl_json_int(j, "resident_at_peak_bytes", x->resident_at_peak);
			fl_json_int(j, "compressed_at_peak_bytes", x->compressed_at_peak);
			frames(j, &x->s);
			fl_json_end(j);
		}
		fl_json_end(j);
		fl_json_int(j, "alloc_samples_dropped", p->alloc_dropped);
		if (p->alloc_peak_ns)
			fl_json_int(j, "alloc_peak_ns", p->alloc_peak_ns);
		else
			fl_json_null(j, "alloc_peak_ns");
	}

	fl_json_object(j, "timeline");
	fl_json_int(j, "start_ns", p->t0);
	fl_json_int(j, "bucket_ns", p->bucket_ns);
	fl_json_object(j, "kinds");
	for (int k = 0; k < RP_KINDS; k++) {
		if (!p->kinds[k].faults)
			continue;
		fl_json_array(j, rp_kind_name(r, k));
		for (int b = 0; b < RP_BUCKETS; b++)
			fl_json_int(j, NULL, p->timeline[k][b]);
		fl_json_end(j);
	}
	fl_json_end(j);
	fl_json_end(j);

	if (p->nchildren) {
		fl_json_array(j, "fork_copied");
		for (size_t c = 0; c < p->ncow; c++) {
			const struct rp_cow *w = &p->cow[c];
			fl_json_object(j, NULL);
			fl_json_int(j, "pid", w->pid);
			fl_json_int(j, "faults", w->faults);
			fl_json_int(j, "pages", w->pages);
			fl_json_array(j, "stacks");
			for (size_t i = 0; i < w->nstacks && i < (size_t)r->top; i++)
				stack(j, r, &w->stacks[i], w->scale);
			fl_json_end(j);
			fl_json_end(j);
		}
		fl_json_end(j);
	}
	fl_json_end(j);
}

void rp_write_json(const struct rp_report *r, FILE *out)
{
	struct fl_json j;
	fl_json_init(&j, out);
	fl_json_object(&j, NULL);
	fl_json_str(&j, "database", r->path);
	fl_json_int(&j, "schema_version", r->schema_version);
	if (r->window) {
		fl_json_str(&j, "since", r->since[0] ? r->since : NULL);
		fl_json_str(&j, "until", r->until[0] ? r->until : NULL);
	}
	fl_json_array(&j, "processes");
	for (size_t i = 0; i < r->nprocs; i++)
		proc(&j, r, &r->procs[i]);
	fl_json_end(&j);
	fl_json_end(&j);
}
