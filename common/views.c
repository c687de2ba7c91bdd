/*
 * The views users query instead of the internal tables (views.h).  Each
 * is documented in daemon/SCHEMA.md ("Views"), with examples; a change
 * here changes that page too.  They read the small tables (stack_faults,
 * fault_spans, stacks, frames, samples) wherever they can: faults has no
 * index but its row id, so fault_log reaches it through fault_spans, and
 * a filter on its process (or pid) reads only that process's rows.
 * alloc_sites reads allocs, one row per sampled allocation (and one for
 * the faults in none); fault_allocs finds each fault's allocation there
 * by address and time, the rule the shim charges faults by.
 */
#include "views.h"

#include <stdio.h>
#include <string.h>

/* A frame's name in folded stacks: the function, else [module+0xoffset],
 * else [0xpc]; ';' (the folded separator) never appears in it. */
#define FRAME_NAME                                                                              \
	"CASE WHEN f.function IS NOT NULL THEN replace(f.function, ';', ':')\n"                 \
	"     WHEN m.path IS NOT NULL THEN printf('[%s+0x%x]', replace(substr(m.path,\n"        \
	"          length(rtrim(m.path, replace(m.path, '/', ''))) + 1), ';', ':'), f.offset)\n" \
	"     ELSE printf('[0x%x]', f.pc) END"

const struct fl_view fl_views[] = {
	{"stack_frames", "every frame of every stack, innermost (depth 0) first, with a printable name",
	 "SELECT st.process AS process, st.stack_id AS stack, f.depth AS depth,\n"
	 "  f.inline_depth AS inline_depth, f.pc AS pc, f.function AS function, f.file AS file,\n"
	 "  f.line AS line, m.path AS module, f.offset AS offset, f.symbolized AS symbolized,\n"
	 "  " FRAME_NAME " AS name\n"
	 "FROM stacks st JOIN frames f ON f.stack = st.id LEFT JOIN modules m ON m.id = f.module"},
	{"fault_log", "every fault with its process's pid, kind name, time and innermost source line",
	 "SELECT f.id AS id, p.id AS process, p.pid AS pid, f.t_ns AS t_ns,\n"
	 "  f.t_ns - p.start_ns AS t_rel_ns,\n"
	 "  strftime('%Y-%m-%d %H:%M:%f', f.t_ns / 1000000000.0, 'unixepoch') AS time,\n"
	 "  f.tid AS tid, f.addr AS addr, f.region AS region, k.name AS kind, f.pages AS pages,\n"
	 "  f.latency_ns AS latency_ns, f.write AS write, f.stack AS stack,\n"
	 "  fr.function AS function, fr.file AS file, fr.line AS line\n"
	 "FROM processes p\n"
	 "CROSS JOIN fault_spans sp ON sp.process = p.id\n"
	 "CROSS JOIN faults f ON f.id BETWEEN sp.first_id AND sp.last_id\n"
	 "LEFT JOIN fault_kinds k ON k.kind = f.kind\n"
	 "LEFT JOIN stacks st ON st.process = f.process AND st.stack_id = f.stack\n"
	 "LEFT JOIN frames fr ON fr.stack = st.id AND fr.depth = 0 AND fr.inline_depth = 0"},
	{"stack_totals", "faults, pages and time in faults per process and stack, its innermost line and folded text",
	 "SELECT t.process AS process, p.pid AS pid, t.stack AS stack, t.faults AS faults,\n"
	 "  t.pages AS pages, t.writes AS writes, t.time_ns AS time_ns, t.max_ns AS max_ns,\n"
	 "  t.first_ns AS first_ns, t.last_ns AS last_ns, t.kinds AS kinds,\n"
	 "  fr.function AS function, fr.file AS file, fr.line AS line,\n"
	 "  CASE WHEN t.stack = 0 THEN '[no stack]' ELSE\n"
	 "    (SELECT group_concat(name, ';') FROM (SELECT sf.name AS name FROM stack_frames sf\n"
	 "      WHERE sf.process = t.process AND sf.stack = t.stack\n"
	 "      ORDER BY sf.depth DESC, sf.inline_depth DESC)) END AS folded\n"
	 "FROM (SELECT s.process AS process, s.stack AS stack, sum(s.faults) AS faults,\n"
	 "        sum(s.pages) AS pages, sum(s.writes) AS writes, sum(s.latency_ns) AS time_ns,\n"
	 "        max(s.latency_max_ns) AS max_ns, min(s.first_ns) AS first_ns, max(s.last_ns) AS last_ns,\n"
	 "        group_concat(coalesce(k.name, s.kind) || ' ' || s.faults, ', ') AS kinds\n"
	 "      FROM stack_faults s LEFT JOIN fault_kinds k ON k.kind = s.kind\n"
	 "      GROUP BY s.process, s.stack) t\n"
	 "JOIN processes p ON p.id = t.process\n"
	 "LEFT JOIN stacks st ON st.process = t.process AND st.stack_id = t.stack\n"
	 "LEFT JOIN frames fr ON fr.stack = st.id AND fr.depth = 0 AND fr.inline_depth = 0"},
	{"process_summary", "one row per process: how it ran and ended, faults by kind, peaks, pressure, drops",
	 "SELECT p.id AS process, p.pid AS pid, p.ppid AS ppid, p.parent_id AS parent_id, p.exe AS exe,\n"
	 "  p.argv AS argv, p.engine AS engine, p.how AS how, p.exit_status AS exit_status,\n"
	 "  p.start_ns AS start_ns, p.end_ns AS end_ns,\n"
	 "  coalesce(p.end_ns, max(p.start_ns, coalesce(sm.last_ns, 0), coalesce(t.last_ns, 0))) - p.start_ns\n"
	 "    AS duration_ns,\n"
	 "  p.budget_bytes AS budget_bytes, p.page_size AS page_size,\n"
	 "  coalesce(t.faults, 0) AS faults, coalesce(t.pages, 0) AS pages, coalesce(t.time_ns, 0) AS time_ns,\n"
	 "  coalesce(t.first_touch, 0) AS first_touch, coalesce(t.soft, 0) AS soft,\n"
	 "  coalesce(t.decompress, 0) AS decompress, coalesce(t.same_filled, 0) AS same_filled,\n"
	 "  coalesce(t.spill, 0) AS spill, coalesce(t.write_protect, 0) AS write_protect,\n"
	 "  sm.peak_resident_pages AS peak_resident_pages,\n"
	 "  sm.peak_compressed_pages AS peak_compressed_pages,\n"
	 "  CASE sm.pressure WHEN 2 THEN 'CRITICAL' WHEN 1 THEN 'WARN' WHEN 0 THEN 'NORMAL' END AS pressure_max,\n"
	 "  coalesce(sm.samples, 0) AS samples,\n"
	 "  p.dropped_events AS dropped_events, p.dropped_stacks AS dropped_stacks,\n"
	 "  p.dropped_other AS dropped_other,\n"
	 "  (SELECT count(*) FROM processes c WHERE c.parent_id = p.id) AS children\n"
	 "FROM processes p\n"
	 "LEFT JOIN (SELECT process, sum(faults) AS faults, sum(pages) AS pages, sum(latency_ns) AS time_ns,\n"
	 "        max(last_ns) AS last_ns,\n"
	 "        sum(CASE kind WHEN 0 THEN faults END) AS first_touch,\n"
	 "        sum(CASE kind WHEN 1 THEN faults END) AS soft,\n"
	 "        sum(CASE kind WHEN 2 THEN faults END) AS decompress,\n"
	 "        sum(CASE kind WHEN 3 THEN faults END) AS same_filled,\n"
	 "        sum(CASE kind WHEN 4 THEN faults END) AS spill,\n"
	 "        sum(CASE kind WHEN 5 THEN faults END) AS write_protect\n"
	 "      FROM stack_faults GROUP BY process) t ON t.process = p.id\n"
	 "LEFT JOIN (SELECT process, count(*) AS samples, max(t_ns) AS last_ns,\n"
	 "        max(resident_peak_pages) AS peak_resident_pages,\n"
	 "        max(compressed_pages + same_filled_pages) AS peak_compressed_pages,\n"
	 "        max(CASE pressure WHEN 'CRITICAL' THEN 2 WHEN 'WARN' THEN 1 ELSE 0 END) AS pressure\n"
	 "      FROM samples GROUP BY process) sm ON sm.process = p.id"},
	{"fault_allocs",
	 "every fault with the sampled allocation its address was in at the time (NULL: none), and its stack",
	 "SELECT f.id AS id, p.id AS process, p.pid AS pid, f.t_ns AS t_ns, f.addr AS addr, k.name AS kind,\n"
	 "  f.pages AS pages, f.latency_ns AS latency_ns, f.stack AS stack, a.alloc_id AS alloc_id,\n"
	 "  a.stack AS alloc_stack, a.kind AS alloc_kind, a.addr AS alloc_addr, a.size AS alloc_size,\n"
	 "  fr.function AS alloc_function, fr.file AS alloc_file, fr.line AS alloc_line\n"
	 "FROM processes p\n"
	 "CROSS JOIN fault_spans sp ON sp.process = p.id\n"
	 "CROSS JOIN faults f ON f.id BETWEEN sp.first_id AND sp.last_id\n"
	 "LEFT JOIN fault_kinds k ON k.kind = f.kind\n"
	 "LEFT JOIN allocs a ON a.process = f.process AND a.alloc_id = (SELECT b.alloc_id FROM allocs b\n"
	 "    WHERE b.process = f.process AND b.addr <= f.addr AND b.addr + b.size > f.addr AND b.t_ns <= f.t_ns\n"
	 "      AND (b.free_ns IS NULL OR b.free_ns >= f.t_ns)\n"
	 "    ORDER BY b.t_ns DESC, b.alloc_id DESC LIMIT 1)\n"
	 "LEFT JOIN stacks st ON st.process = a.process AND st.stack_id = a.stack\n"
	 "LEFT JOIN frames fr ON fr.stack = st.id AND fr.depth = 0 AND fr.inline_depth = 0"},
	{"alloc_sites",
	 "per process and allocation stack: bytes allocated and live at the end, faults, pages, time and "
	 "bytes at the peak in its sampled allocations",
	 "SELECT t.process AS process, p.pid AS pid, t.stack AS stack, t.samples AS samples,\n"
	 "  t.bytes_allocated AS bytes_allocated, t.bytes_live_at_end AS bytes_live_at_end,\n"
	 "  t.faults AS faults, t.est_faults AS est_faults, t.pages AS pages, t.est_pages AS est_pages,\n"
	 "  t.time_ns AS time_ns, t.est_time_ns AS est_time_ns,\n"
	 "  t.resident_at_peak_bytes AS resident_at_peak_bytes,\n"
	 "  t.compressed_at_peak_bytes AS compressed_at_peak_bytes,\n"
	 "  (t.compressed_at_peak_bytes + p.page_size - 1) / p.page_size AS pages_compressed_at_peak,\n"
	 "  fr.function AS function, fr.file AS file, fr.line AS line,\n"
	 "  CASE WHEN t.stack IS NULL THEN '[unsampled]' WHEN t.stack = 0 THEN '[no stack]' ELSE\n"
	 "    (SELECT group_concat(name, ';') FROM (SELECT sf.name AS name FROM stack_frames sf\n"
	 "      WHERE sf.process = t.process AND sf.stack = t.stack\n"
	 "      ORDER BY sf.depth DESC, sf.inline_depth DESC)) END AS folded\n"
	 "FROM (SELECT a.process AS process, CASE WHEN a.alloc_id = 0 THEN NULL ELSE a.stack END AS stack,\n"
	 "        sum(a.alloc_id <> 0) AS samples, coalesce(sum(a.weight), 0) AS bytes_allocated,\n"
	 "        coalesce(sum(CASE WHEN a.free_ns IS NULL THEN a.weight END), 0) AS bytes_live_at_end,\n"
	 "        sum(a.faults) AS faults, sum(a.pages) AS pages, sum(a.latency_ns) AS time_ns,\n"
	 "        CAST(round(sum(a.faults * 1.0 * a.weight / a.size)) AS INTEGER) AS est_faults,\n"
	 "        CAST(round(sum(a.pages * 1.0 * a.weight / a.size)) AS INTEGER) AS est_pages,\n"
	 "        CAST(round(sum(a.latency_ns * 1.0 * a.weight / a.size)) AS INTEGER) AS est_time_ns,\n"
	 "        coalesce(CAST(round(sum(CASE WHEN a.peak_ns = pk.peak_ns\n"
	 "          THEN a.peak_resident_bytes * 1.0 * a.weight / a.size END)) AS INTEGER), 0) AS resident_at_peak_bytes,\n"
	 "        coalesce(CAST(round(sum(CASE WHEN a.peak_ns = pk.peak_ns\n"
	 "          THEN a.peak_compressed_bytes * 1.0 * a.weight / a.size END)) AS INTEGER), 0)\n"
	 "          AS compressed_at_peak_bytes\n"
	 "      FROM allocs a\n"
	 "      LEFT JOIN (SELECT process, max(peak_ns) AS peak_ns FROM allocs GROUP BY process) pk\n"
	 "        ON pk.process = a.process\n"
	 "      GROUP BY a.process, CASE WHEN a.alloc_id = 0 THEN NULL ELSE a.stack END) t\n"
	 "JOIN processes p ON p.id = t.process\n"
	 "LEFT JOIN stacks st ON st.process = t.process AND st.stack_id = t.stack\n"
	 "LEFT JOIN frames fr ON fr.stack = st.id AND fr.depth = 0 AND fr.inline_depth = 0"},
};

const size_t fl_views_count = sizeof fl_views / sizeof fl_views[0];

static int exists_in_main(sqlite3 *db, const char *name, int *yes)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM main.sqlite_master WHERE name = ? AND type IN ('view', 'table')", -1, &st,
				    NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*yes = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int fl_views_create(sqlite3 *db, int temp, char *err, size_t errlen)
{
	for (size_t i = 0; i < fl_views_count; i++) {
		const struct fl_view *v = &fl_views[i];
		int rc;
		if (temp) {
			int yes = 0;
			if ((rc = exists_in_main(db, v->name, &yes)) != SQLITE_OK) {
				if (err && errlen)
					snprintf(err, errlen, "%s", sqlite3_errmsg(db));
				return rc;
			}
			if (yes)
				continue;
		}
		char *sql = sqlite3_mprintf("CREATE %s %s AS\n%s", temp ? "TEMP VIEW IF NOT EXISTS" : "VIEW IF NOT EXISTS",
					    v->name, v->select);
		if (!sql)
			return SQLITE_NOMEM;
		char *msg = NULL;
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
		sqlite3_free(sql);
		if (rc != SQLITE_OK) {
			if (err && errlen)
				snprintf(err, errlen, "view %s: %s", v->name, msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			return rc;
		}
	}
	return SQLITE_OK;
}
