/*
 * The layout of `faultline vmmap`: a gathered map as text lines fitted to
 * a width, or as JSON.  Pure: it reads the structs and writes a buffer,
 * so the unit tests check the table against fixture maps.
 */
#include "vmmap_layout.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/faultline.h"

#define DETAIL_MIN 10u   /* DETAIL is never cut shorter */
#define DETAIL_SHORT 16u /* below this, region types are abbreviated */
#define DETAIL_WANT 24u  /* room for a library name: worth dropping empty columns */
#define ADDR_DIGITS 12u /* user addresses on x86-64 and arm64: 48 bits */

void fl_vmmap_layout_out_free(struct fl_vmmap_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof *o);
}

static void put(struct fl_vmmap_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct fl_vmmap_out *o, const char *fmt, ...)
{
	if (o->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = o->cap - o->len;
		int n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if (o->buf && (size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap ? o->cap : 4096;
		while (cap - o->len <= (size_t)n)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->failed = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
}

void fl_vmmap_layout_size(uint64_t bytes, char out[8])
{
	static const char units[] = "KMGTPE";
	if (bytes == 0) {
		snprintf(out, 8, "0");
		return;
	}
	if (bytes < 1000) {
		snprintf(out, 8, "%uB", (unsigned)bytes);
		return;
	}
	/* Tenths of a unit, rounded, then the unit that keeps it under 1000:
	 * four characters at most. */
	double v = (double)bytes / 1024.0;
	int u = 0;
	while (u < 5 && v >= 999.5) {
		v /= 1024.0;
		u++;
	}
	/* "4K", not "4.0K": whole numbers of pages are the usual case. */
	if (v < 9.95 && (long)(v * 10 + 0.5) % 10 != 0)
		snprintf(out, 8, "%.1f%c", v, units[u]);
	else
		snprintf(out, 8, "%.0f%c", v, units[u]);
}

static const char *sz(uint64_t bytes, char buf[8])
{
	fl_vmmap_layout_size(bytes, buf);
	return buf;
}

static void prot_str(unsigned p, char out[4])
{
	out[0] = (p & FL_VMMAP_R) ? 'r' : '-';
	out[1] = (p & FL_VMMAP_W) ? 'w' : '-';
	out[2] = (p & FL_VMMAP_X) ? 'x' : '-';
	out[3] = 0;
}

/* The REGION TYPE column for narrow terminals. */
static const char *type_short(enum fl_vmmap_type t)
{
	switch (t) {
	case FL_VMMAP_FILE: return "file";
	case FL_VMMAP_SHM: return "shm";
	case FL_VMMAP_ANON: return "anon";
	case FL_VMMAP_UFFD: return "uffd";
	case FL_VMMAP_ARENA: return "jemalloc";
	case FL_VMMAP_PROGRAM: return "prog mmap";
	case FL_VMMAP_COMMITTED: return "committed";
	default: return fl_vmmap_data_type_name(t);
	}
}

/* Hex digits of an address (at least one). */
static unsigned hex_digits(uint64_t x)
{
	unsigned d = 1;
	while (x >>= 4)
		d++;
	return d;
}

struct columns {
	unsigned type_w, addr_digits, detail_w;
	int csize, swap, short_types;
};

static unsigned fixed_width(const struct columns *c)
{
	/* TYPE, " START-END", " VSIZE", " RSIZE", [" CSIZE"], [" SWAPPED"], " PRT/MAX", " SM", " " */
	return c->type_w + (1 + 2 * c->addr_digits + 1) + 6 + 6 + (c->csize ? 6 : 0) + (c->swap ? 8 : 0) + 8 + 4 + 1;
}

static void fit(const struct fl_vmmap *m, unsigned width, struct columns *c)
{
	uint64_t any_c = 0, any_s = 0;
	unsigned tw = 11, tws = 4, digits = ADDR_DIGITS, dw = 6;
	for (size_t i = 0; i < m->nrows; i++) {
		const struct fl_vmmap_row *r = &m->rows[i];
		any_c |= r->csize;
		any_s |= r->swapped;
		unsigned l = (unsigned)strlen(fl_vmmap_data_type_name(r->type));
		tw = l > tw ? l : tw;
		l = (unsigned)strlen(type_short(r->type));
		tws = l > tws ? l : tws;
		unsigned d = hex_digits(r->end - 1);
		digits = d > digits ? d : digits;
		l = (unsigned)strlen(r->detail);
		dw = l > dw ? l : dw;
	}
	c->type_w = tw;
	c->addr_digits = digits;
	c->csize = 1;
	c->swap = 1;
	c->short_types = 0;
	/* First what loses nothing: empty columns, then the one [vsyscall]
	 * row's alignment; abbreviations when DETAIL would still be too
	 * narrow to name a file; last the per-row SWAPPED figures (the
	 * summary keeps their total, --json and wider terminals all). */
	if (fixed_width(c) + DETAIL_WANT > width && !any_s)
		c->swap = 0;
	if (fixed_width(c) + DETAIL_WANT > width && !any_c && !m->has_state)
		c->csize = 0;
	if (fixed_width(c) + DETAIL_WANT > width)
		c->addr_digits = ADDR_DIGITS;
	if (fixed_width(c) + DETAIL_SHORT > width) {
		c->short_types = 1;
		c->type_w = tws;
	}
	if (fixed_width(c) + DETAIL_SHORT > width)
		c->swap = 0;
	unsigned fw = fixed_width(c);
	c->detail_w = width > fw + DETAIL_MIN ? width - fw : DETAIL_MIN;
	if (c->detail_w > dw)
		c->detail_w = dw;
}

/* DETAIL in w characters.  A path too long keeps its file name (what
 * names it), cut from the left if even that is too long ("...line.so");
 * other text is cut on the right. */
static void cut_detail(const char *s, unsigned w, char *out, size_t outlen)
{
	size_t l = strlen(s);
	if (l <= w || w < 4) {
		snprintf(out, outlen, "%.*s", (int)w, s);
		return;
	}
	if (s[0] != '/') {
		snprintf(out, outlen, "%.*s...", (int)w - 3, s);
		return;
	}
	const char *base = strrchr(s, '/') + 1;
	size_t bl = strlen(base);
	if (bl <= w)
		snprintf(out, outlen, "%s", base);
	else
		snprintf(out, outlen, "...%s", base + bl - (w - 3));
}

static void table(const struct fl_vmmap *m, unsigned width, struct fl_vmmap_out *o)
{
	struct columns c;
	fit(m, width, &c);
	unsigned aw = 2 * c.addr_digits + 1;
	put(o, "%-*s %-*s %5s %5s", (int)c.type_w, c.type_w >= 11 ? "REGION TYPE" : "TYPE", (int)aw, "START-END",
	    "VSIZE", "RSIZE");
	if (c.csize)
		put(o, " %5s", "CSIZE");
	if (c.swap)
		put(o, " %7s", "SWAPPED");
	put(o, " PRT/MAX SM  DETAIL\n");
	for (size_t i = 0; i < m->nrows; i++) {
		const struct fl_vmmap_row *r = &m->rows[i];
		char b1[8], b2[8], p[4], mx[4], det[PATH_MAX + 64];
		prot_str(r->prot, p);
		prot_str(r->max_prot, mx);
		cut_detail(r->detail, c.detail_w, det, sizeof det);
		put(o, "%-*s %0*llx-%0*llx %5s %5s", (int)c.type_w,
		    c.short_types ? type_short(r->type) : fl_vmmap_data_type_name(r->type), (int)c.addr_digits,
		    (unsigned long long)r->start, (int)c.addr_digits, (unsigned long long)r->end, sz(r->vsize, b1),
		    sz(r->rsize, b2));
		if (c.csize)
			put(o, " %5s", sz(r->csize, b1));
		if (c.swap)
			put(o, " %7s", sz(r->swapped, b1));
		put(o, " %s/%s %s%s%s\n", p, mx, fl_vmmap_data_share_name(r->share), det[0] ? " " : "", det);
	}
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void summary(const struct fl_vmmap *m, struct fl_vmmap_out *o)
{
	const struct fl_vmmap_summary *s = &m->sum;
	char a[8], b[8], c[8], d[8], e[8];
	put(o, "\n==== Summary for process %d\n\n", (int)m->pid);
	put(o, "VSS (virtual size)         %6s\n", sz(s->vss, a));
	put(o, "RSS (resident)             %6s\n", sz(s->rss, a));
	put(o, "lazy set (never touched)   %6s", sz(s->lazy, a));
	if (s->lazy_noreserve)
		put(o, "   (%s of it MAP_NORESERVE)", sz(s->lazy_noreserve, b));
	put(o, "\n");
	put(o, "swapped / compressed       %6s / %s", sz(s->swapped, a), sz(s->compressed, b));
	if (s->compressed_orig)
		put(o, "   (%s of pages in the store)", sz(s->compressed_orig, c));
	put(o, "\n\n");
	put(o, "writable regions: %s virtual, written %s (%.0f%%), resident %s (%.0f%%),\n"
	       "                  compressed %s, swapped %s\n\n",
	    sz(s->w_vsize, a), sz(s->w_written, b), pct(s->w_written, s->w_vsize), sz(s->w_resident, c),
	    pct(s->w_resident, s->w_vsize), sz(s->w_compressed, d), sz(s->w_swapped, e));

	put(o, "%-16s %6s %6s %6s %6s %7s\n", "REGION TYPE", "COUNT", "VSIZE", "RSIZE", "CSIZE", "SWAPPED");
	uint64_t n = 0;
	for (int t = 0; t < FL_VMMAP__TYPES; t++) {
		const struct fl_vmmap_type_total *tt = &s->types[t];
		if (!tt->count)
			continue;
		n += tt->count;
		put(o, "%-16s %6llu %6s %6s %6s %7s\n", fl_vmmap_data_type_name((enum fl_vmmap_type)t),
		    (unsigned long long)tt->count, sz(tt->vsize, a), sz(tt->rsize, b), sz(tt->csize, c),
		    sz(tt->swapped, d));
	}
	put(o, "%-16s %6llu %6s %6s %6s %7s\n", "TOTAL", (unsigned long long)n, sz(s->vss, a), sz(s->rss, b),
	    sz(s->compressed, c), sz(s->swapped, d));

	if (!m->has_state) {
		if (m->preloaded)
			put(o, "\nfaultline: preloaded, but its state could not be read (see the message above).\n");
		return;
	}
	const struct fl_state *st = m->state;
	const struct fl_stats *fs = &st->stats;
	uint64_t ps = fs->page_size;
	put(o, "\n==== faultline\n\n");
	put(o, "engine %s, budget %s, pressure %s (peak %s)\n", fl_engine_name(fs->engine),
	    fs->budget_pages ? sz(fs->budget_pages * ps, a) : "none", fl_pressure_name(fs->pressure),
	    fl_pressure_name(fs->pressure_peak));
	char f[8], g[8];
	put(o, "managed: %llu regions, %s virtual\n  resident %s, inactive %s, compressed %s into %s,\n"
	       "  same-filled %s, untouched %s\n",
	    (unsigned long long)s->managed_regions, sz(s->managed_vsize, a), sz(s->managed_resident, b),
	    sz(s->managed_inactive, c), sz(s->managed_compressed_pages * ps, d), sz(s->compressed, e),
	    sz(s->managed_same_pages * ps, f), sz(s->managed_untouched, g));
	put(o, "compressor: %s", fs->compressor ? "zstd" : "lz4");
	if (fs->compressor)
		put(o, ":%d", (int)fs->compressor_level);
	put(o, ", efficiency %.2fx (%s of pages held in %s of store)\n", fl_stats_efficiency(fs),
	    sz((fs->compressed_pages + fs->same_filled_pages) * ps, a), sz(fs->store_bytes, b));
	if (st->truncated)
		put(o, "(%u regions more than the state file holds are shown as the kernel sees them)\n",
		    st->truncated);

	put(o, "\nallocator (jemalloc): %llu extents, %s virtual, %s resident, %s compressed\n",
	    (unsigned long long)s->arena_regions, sz(s->arena_vsize, a), sz(s->arena_rsize, b),
	    sz(s->arena_csize, c));
	if (!st->allocator_ok) {
		/* The shim gathers jemalloc's own figures only where its thread
		 * may fault on the allocator's metadata (the uffd engine). */
		put(o, "  (no allocation figures: the shim publishes them under the uffd engine only)\n");
		return;
	}
	put(o, "  allocated %s in %s of active pages (%.0f%% full)\n"
	       "  by jemalloc's count: resident %s, mapped %s, retained %s\n",
	    sz(st->alloc_allocated, a), sz(st->alloc_active, b), pct(st->alloc_allocated, st->alloc_active),
	    sz(st->alloc_resident, c), sz(st->alloc_mapped, d), sz(st->alloc_retained, e));
	put(o, "  %-6s %7s %6s %6s %9s %11s %6s\n", "ARENA", "THREADS", "MAPPED", "ACTIVE", "ALLOCATED", "ALLOCATIONS",
	    "%FULL");
	for (uint32_t i = 0; i < st->narenas && i < FL_STATE_MAX_ARENAS; i++) {
		const struct fl_state_arena *ar = &st->arenas[i];
		put(o, "  %-6u %7u %6s %6s %9s %11llu %5.0f%%\n", ar->index, ar->threads, sz(ar->mapped, a),
		    sz(ar->active, b), sz(ar->allocated, c), (unsigned long long)ar->allocations,
		    pct(ar->allocated, ar->active));
	}
}

void fl_vmmap_layout_text(const struct fl_vmmap *m, unsigned width, struct fl_vmmap_out *o)
{
	if (width < 40)
		width = 40;
	put(o, "Process:  %s [%d]\n", m->comm[0] ? m->comm : "?", (int)m->pid);
	if (m->exe[0])
		put(o, "Path:     %s\n", m->exe);
	if (m->has_state) {
		const struct fl_state *st = m->state;
		uint64_t age = m->now_real_ns > st->t_real_ns ? m->now_real_ns - st->t_real_ns : 0;
		put(o, "Managed:  yes, by faultline (state of %.1f s ago, written every %u ms)\n", (double)age / 1e9,
		    st->sample_ms);
	} else {
		put(o, "Managed:  %s\n", m->preloaded ? "preloaded, no state" : "no");
	}
	put(o, "\n");
	table(m, width, o);
	summary(m, o);
}

/* ---- JSON ------------------------------------------------------------ */

/* Length of a valid UTF-8 sequence at p (0 if it is not one). */
static size_t utf8_len(const unsigned char *p)
{
	unsigned char c = p[0];
	size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
	if (n == 0 || (n == 2 && c < 0xc2))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A JSON string; bytes that are not UTF-8 (paths may hold any) become U+FFFD. */
static void jstr(struct fl_vmmap_out *o, const char *s)
{
	put(o, "\"");
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p == '"' || *p == '\\') {
			put(o, "\\%c", *p++);
		} else if (*p < 0x20) {
			put(o, "\\u%04x", *p++);
		} else {
			size_t n = utf8_len(p);
			if (!n) {
				put(o, "\\ufffd");
				p++;
			} else {
				put(o, "%.*s", (int)n, (const char *)p);
				p += n;
			}
		}
	}
	put(o, "\"");
}

static void jtotal(struct fl_vmmap_out *o, const struct fl_vmmap_type_total *t)
{
	put(o, "\"count\":%llu,\"vsize\":%llu,\"rsize\":%llu,\"csize\":%llu,\"swapped\":%llu",
	    (unsigned long long)t->count, (unsigned long long)t->vsize, (unsigned long long)t->rsize,
	    (unsigned long long)t->csize, (unsigned long long)t->swapped);
}

void fl_vmmap_layout_json(const struct fl_vmmap *m, struct fl_vmmap_out *o)
{
	const struct fl_vmmap_summary *s = &m->sum;
	put(o, "{\"pid\":%d,\"command\":", (int)m->pid);
	jstr(o, m->comm);
	put(o, ",\"exe\":");
	if (m->exe[0])
		jstr(o, m->exe);
	else
		put(o, "null");
	put(o, ",\"page_size\":%llu,\"preloaded\":%s,\"managed\":%s,\n\"regions\":[\n",
	    (unsigned long long)m->page_size, m->preloaded ? "true" : "false", m->has_state ? "true" : "false");
	for (size_t i = 0; i < m->nrows; i++) {
		const struct fl_vmmap_row *r = &m->rows[i];
		char p[4], mx[4];
		prot_str(r->prot, p);
		prot_str(r->max_prot, mx);
		put(o, "{\"type\":\"%s\",\"start\":\"0x%llx\",\"end\":\"0x%llx\",\"vsize\":%llu,\"rsize\":%llu,"
		       "\"csize\":%llu,\"swapped\":%llu,\"written\":%llu,\"lazy\":%llu,\"prot\":\"%s\","
		       "\"max_prot\":\"%s\",\"share_mode\":\"%s\",\"detail\":",
		    fl_vmmap_data_type_name(r->type), (unsigned long long)r->start, (unsigned long long)r->end,
		    (unsigned long long)r->vsize, (unsigned long long)r->rsize, (unsigned long long)r->csize,
		    (unsigned long long)r->swapped, (unsigned long long)r->dirty, (unsigned long long)r->lazy, p, mx,
		    fl_vmmap_data_share_name(r->share));
		jstr(o, r->detail);
		if (r->tid)
			put(o, ",\"tid\":%d", r->tid);
		if (r->managed)
			put(o, ",\"managed\":{\"region_id\":%llu,\"kind\":\"%s\",\"resident_pages\":%llu,"
			       "\"inactive_pages\":%llu,\"compressed_pages\":%llu,\"same_filled_pages\":%llu,"
			       "\"untouched_pages\":%llu}",
			    (unsigned long long)r->region_id, fl_range_kind_name((enum fl_range_kind)r->kind),
			    (unsigned long long)r->resident_pages, (unsigned long long)r->inactive_pages,
			    (unsigned long long)r->compressed_pages, (unsigned long long)r->same_filled_pages,
			    (unsigned long long)r->untouched_pages);
		put(o, "}%s\n", i + 1 < m->nrows ? "," : "");
	}
	put(o, "],\n\"summary\":{\"vss\":%llu,\"rss\":%llu,\"lazy\":%llu,\"lazy_noreserve\":%llu,\"swapped\":%llu,"
	       "\"compressed\":%llu,\"compressed_original\":%llu,\n\"writable\":{\"vsize\":%llu,\"written\":%llu,"
	       "\"resident\":%llu,\"compressed\":%llu,\"swapped\":%llu},\n\"types\":[",
	    (unsigned long long)s->vss, (unsigned long long)s->rss, (unsigned long long)s->lazy,
	    (unsigned long long)s->lazy_noreserve, (unsigned long long)s->swapped, (unsigned long long)s->compressed,
	    (unsigned long long)s->compressed_orig, (unsigned long long)s->w_vsize, (unsigned long long)s->w_written,
	    (unsigned long long)s->w_resident, (unsigned long long)s->w_compressed, (unsigned long long)s->w_swapped);
	int first = 1;
	for (int t = 0; t < FL_VMMAP__TYPES; t++) {
		if (!s->types[t].count)
			continue;
		put(o, "%s{\"type\":\"%s\",", first ? "" : ",", fl_vmmap_data_type_name((enum fl_vmmap_type)t));
		jtotal(o, &s->types[t]);
		put(o, "}");
		first = 0;
	}
	put(o, "]");
	if (m->has_state) {
		const struct fl_state *st = m->state;
		const struct fl_stats *fs = &st->stats;
		put(o, ",\n\"faultline\":{\"state_written_ns\":%llu,\"sample_ms\":%u,\"engine\":\"%s\","
		       "\"budget\":%llu,\"pressure\":\"%s\",\"pressure_peak\":\"%s\",\"compressor\":\"%s\","
		       "\"efficiency\":%.4f,\"compressed_pages\":%llu,\"same_filled_pages\":%llu,"
		       "\"compressed_bytes\":%llu,\"store_bytes\":%llu,\"managed_regions\":%llu,"
		       "\"managed_vsize\":%llu,\"resident\":%llu,\"inactive\":%llu,\"untouched\":%llu,"
		       "\"regions_left_out\":%u}",
		    (unsigned long long)st->t_real_ns, st->sample_ms, fl_engine_name(fs->engine),
		    (unsigned long long)(fs->budget_pages * fs->page_size), fl_pressure_name(fs->pressure),
		    fl_pressure_name(fs->pressure_peak), fs->compressor ? "zstd" : "lz4", fl_stats_efficiency(fs),
		    (unsigned long long)fs->compressed_pages, (unsigned long long)fs->same_filled_pages,
		    (unsigned long long)fs->compressed_bytes, (unsigned long long)fs->store_bytes,
		    (unsigned long long)s->managed_regions, (unsigned long long)s->managed_vsize,
		    (unsigned long long)s->managed_resident, (unsigned long long)s->managed_inactive,
		    (unsigned long long)s->managed_untouched, st->truncated);
		put(o, ",\n\"allocator\":{\"extents\":%llu,\"vsize\":%llu,\"rsize\":%llu,\"csize\":%llu",
		    (unsigned long long)s->arena_regions, (unsigned long long)s->arena_vsize,
		    (unsigned long long)s->arena_rsize, (unsigned long long)s->arena_csize);
		if (st->allocator_ok) {
			put(o, ",\"allocated\":%llu,\"active\":%llu,\"resident\":%llu,\"mapped\":%llu,\"retained\":%llu,"
			       "\"arenas\":[",
			    (unsigned long long)st->alloc_allocated, (unsigned long long)st->alloc_active,
			    (unsigned long long)st->alloc_resident, (unsigned long long)st->alloc_mapped,
			    (unsigned long long)st->alloc_retained);
			for (uint32_t i = 0; i < st->narenas && i < FL_STATE_MAX_ARENAS; i++) {
				const struct fl_state_arena *ar = &st->arenas[i];
				put(o, "%s{\"index\":%u,\"threads\":%u,\"mapped\":%llu,\"active\":%llu,\"allocated\":%llu,"
				       "\"allocations\":%llu}",
				    i ? "," : "", ar->index, ar->threads, (unsigned long long)ar->mapped,
				    (unsigned long long)ar->active, (unsigned long long)ar->allocated,
				    (unsigned long long)ar->allocations);
			}
			put(o, "]");
		}
		put(o, "}");
	}
	put(o, "}}\n");
}
