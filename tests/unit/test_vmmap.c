/*
 * faultline vmmap's gathering and layout on fixture maps: the smaps
 * parser (tests/data/vmmap/plain.smaps, a hand-made map of every kind of
 * region), how rows are typed and their share modes, managed regions from
 * a hand-built state laid over the VMAs they cover, a state that cannot
 * be believed, the size format, the table fitted to 80 and more columns,
 * and JSON that parses.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/faultline.h"
#include "vmmap_data.h"
#include "vmmap_layout.h"

#define KB 1024ull
#define FIXTURE "tests/data/vmmap/plain.smaps"

static char *read_fixture(size_t *len)
{
	FILE *f = fopen(FIXTURE, "r");
	cr_assert_not_null(f, "%s is missing (tests run from the repository root)", FIXTURE);
	static char buf[1 << 16];
	*len = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[*len] = 0;
	return buf;
}

static void parse_fixture(struct fl_vmmap_vmas *vs)
{
	size_t len;
	char *text = read_fixture(&len);
	char err[256] = "";
	cr_assert_eq(fl_vmmap_data_parse_smaps(text, len, vs, err, sizeof err), 0, "%s", err);
}

/* The row that starts at addr. */
static const struct fl_vmmap_row *row_at(const struct fl_vmmap *m, uint64_t addr)
{
	for (size_t i = 0; i < m->nrows; i++)
		if (m->rows[i].start == addr)
			return &m->rows[i];
	cr_assert_fail("no row starts at %#llx", (unsigned long long)addr);
	return NULL;
}

/* The plain fixture built with one thread whose stack pointer is in the
 * anonymous mapping after the guard page at 7f0000000000. */
static void build_plain(struct fl_vmmap *m, struct fl_vmmap_vmas *vs)
{
	parse_fixture(vs);
	memset(m, 0, sizeof *m);
	m->pid = 4242;
	snprintf(m->comm, sizeof m->comm, "demo");
	struct fl_vmmap_thread t = {.tid = 4243, .sp = 0x7f0000700000ull};
	char err[256] = "";
	cr_assert_eq(fl_vmmap_data_build(m, vs, NULL, &t, 1, 4096, err, sizeof err), 0, "%s", err);
}

Test(vmmap, parses_smaps_fields_flags_and_paths)
{
	struct fl_vmmap_vmas vs;
	parse_fixture(&vs);
	cr_assert_eq(vs.n, 18);
	const struct fl_vmmap_vma *text = &vs.v[1];
	cr_expect_eq(text->start, 0x555500001000ull);
	cr_expect_eq(text->end, 0x555500003000ull);
	cr_expect_eq(text->prot, FL_VMMAP_R | FL_VMMAP_X);
	cr_expect_eq(text->max_prot, FL_VMMAP_R | FL_VMMAP_W | FL_VMMAP_X);
	cr_expect_eq(text->offset, 0x1000);
	cr_expect_eq(text->inode, 100);
	cr_expect_str_eq(text->path, "/usr/bin/demo");
	cr_expect_eq(text->rss, 8 * KB);
	cr_expect_eq(text->shared_clean, 8 * KB);
	const struct fl_vmmap_vma *heap = &vs.v[5];
	cr_expect_str_eq(heap->path, "[heap]");
	cr_expect_eq(heap->swap, 8 * KB);
	cr_expect_eq(heap->private_dirty, 16 * KB);
	/* A path with a space in it, and a deleted file. */
	cr_expect_str_eq(vs.v[9].path, "/usr/share/demo/data file.bin");
	cr_expect_str_eq(vs.v[10].path, "/dev/shm/demo (deleted)");
	cr_expect(vs.v[10].shared);
	cr_expect(vs.v[11].noreserve);
	cr_expect(vs.v[15].grows_down);
	cr_expect_str_eq(vs.v[4].path, "");
	/* [vsyscall]: only VM_EXEC, nothing mprotect could add. */
	cr_expect_eq(vs.v[17].prot, FL_VMMAP_X);
	cr_expect_eq(vs.v[17].max_prot, 0);
	cr_expect_eq(vs.v[17].start, 0xffffffffff600000ull);
	fl_vmmap_data_free_vmas(&vs);
}

Test(vmmap, refuses_a_line_that_is_not_a_mapping)
{
	const char *bad = "555500000000-555500001000 r--p 00000000 fe:00 100 /bin/x\nRss: 4 kB\n"
			  "5555-zz r--p\n";
	struct fl_vmmap_vmas vs;
	char err[256] = "";
	cr_expect_eq(fl_vmmap_data_parse_smaps(bad, strlen(bad), &vs, err, sizeof err), -1);
	cr_expect(strstr(err, "smaps line 3 is not a mapping") != NULL, "%s", err);
	cr_expect_eq(vs.n, 0);
}

Test(vmmap, types_rows_as_vmmap_does)
{
	struct fl_vmmap_vmas vs;
	struct fl_vmmap m;
	build_plain(&m, &vs);
	cr_assert_eq(m.nrows, 18);
	struct {
		uint64_t at;
		enum fl_vmmap_type type;
		enum fl_vmmap_share sm;
		const char *detail;
	} want[] = {
		{0x555500000000ull, FL_VMMAP_DATA, FL_VMMAP_SM_COW, "/usr/bin/demo"},
		{0x555500001000ull, FL_VMMAP_TEXT, FL_VMMAP_SM_COW, "/usr/bin/demo"},
		{0x555500003000ull, FL_VMMAP_DATA, FL_VMMAP_SM_NUL, "/usr/bin/demo"},
		{0x555500004000ull, FL_VMMAP_DATA, FL_VMMAP_SM_PRV, "/usr/bin/demo"},
		{0x555500005000ull, FL_VMMAP_DATA, FL_VMMAP_SM_PRV, "/usr/bin/demo (bss)"},
		{0x555501000000ull, FL_VMMAP_HEAP, FL_VMMAP_SM_PRV, "[heap]"},
		{0x7f0000000000ull, FL_VMMAP_GUARD, FL_VMMAP_SM_NUL, ""},
		{0x7f0000001000ull, FL_VMMAP_STACK, FL_VMMAP_SM_PRV, "[stack:4243]"},
		{0x7f0001000000ull, FL_VMMAP_RESERVED, FL_VMMAP_SM_NUL, ""},
		{0x7f0006000000ull, FL_VMMAP_FILE, FL_VMMAP_SM_COW, "/usr/share/demo/data file.bin"},
		{0x7f0006100000ull, FL_VMMAP_SHM, FL_VMMAP_SM_SHM, "/dev/shm/demo (deleted)"},
		{0x7f0006200000ull, FL_VMMAP_ANON, FL_VMMAP_SM_NUL, ""},
		{0x7f0007000000ull, FL_VMMAP_DATA, FL_VMMAP_SM_COW, "/usr/lib/x86_64-linux-gnu/libc.so.6"},
		{0x7f0007100000ull, FL_VMMAP_TEXT, FL_VMMAP_SM_COW, "/usr/lib/x86_64-linux-gnu/libc.so.6"},
		{0x7f0007200000ull, FL_VMMAP_GUARD, FL_VMMAP_SM_NUL, "/usr/lib/x86_64-linux-gnu/libc.so.6"},
		{0x7ffc00000000ull, FL_VMMAP_STACK, FL_VMMAP_SM_PRV, "[stack]"},
		{0x7ffc00100000ull, FL_VMMAP_TEXT, FL_VMMAP_SM_COW, "[vdso]"},
		{0xffffffffff600000ull, FL_VMMAP_TEXT, FL_VMMAP_SM_NUL, "[vsyscall]"},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct fl_vmmap_row *r = row_at(&m, want[i].at);
		cr_expect_eq(r->type, want[i].type, "%#llx: type %s, want %s", (unsigned long long)want[i].at,
			     fl_vmmap_data_type_name(r->type), fl_vmmap_data_type_name(want[i].type));
		cr_expect_eq(r->share, want[i].sm, "%#llx: SM=%s, want %s", (unsigned long long)want[i].at,
			     fl_vmmap_data_share_name(r->share), fl_vmmap_data_share_name(want[i].sm));
		cr_expect_str_eq(r->detail, want[i].detail, "%#llx", (unsigned long long)want[i].at);
	}
	cr_expect_eq(row_at(&m, 0x7f0000001000ull)->tid, 4243);
	fl_vmmap_data_free(&m);
	fl_vmmap_data_free_vmas(&vs);
}

Test(vmmap, summary_adds_up_the_kernel_figures)
{
	struct fl_vmmap_vmas vs;
	struct fl_vmmap m;
	build_plain(&m, &vs);
	uint64_t rss = 0, vss = 0;
	for (size_t i = 0; i < vs.n; i++) {
		rss += vs.v[i].rss;
		vss += vs.v[i].end - vs.v[i].start;
	}
	cr_expect_eq(rss, 876 * KB);
	cr_expect_eq(m.sum.rss, rss, "RSS is the sum of smaps Rss");
	cr_expect_eq(m.sum.vss, vss);
	cr_expect_eq(m.sum.swapped, 8 * KB);
	cr_expect_eq(m.sum.compressed, 0);
	/* Lazy: bss 8K-4K, heap 132K-16K-8K, thread stack 8M-12K, the
	 * MAP_NORESERVE anonymous 2M, [stack] 132K-20K.  Not the file's
	 * absent pages, nor PROT_NONE. */
	uint64_t lazy = 4 * KB + 108 * KB + (8192 - 12) * KB + 2048 * KB + 112 * KB;
	cr_expect_eq(m.sum.lazy, lazy, "lazy %llu, want %llu", (unsigned long long)m.sum.lazy,
		     (unsigned long long)lazy);
	cr_expect_eq(m.sum.lazy_noreserve, 2048 * KB);
	cr_expect_eq(m.sum.types[FL_VMMAP_TEXT].count, 4);
	cr_expect_eq(m.sum.types[FL_VMMAP_TEXT].rsize, (8 + 600 + 4) * KB);
	cr_expect_eq(m.sum.types[FL_VMMAP_STACK].count, 2);
	cr_expect_eq(m.sum.types[FL_VMMAP_SHM].rsize, 64 * KB);
	/* Writable: demo's data + bss, heap, thread stack, shm, anon, [stack]. */
	cr_expect_eq(m.sum.w_written, (4 + 4 + 16 + 12 + 64 + 20) * KB);
	cr_expect_eq(m.sum.w_resident, (4 + 4 + 16 + 12 + 64 + 20) * KB);
	cr_expect_eq(m.sum.managed_regions, 0);
	fl_vmmap_data_free(&m);
	fl_vmmap_data_free_vmas(&vs);
}

/* Three registered VMAs: one holding an arena extent, a program mapping
 * and an unmanaged rest; then one region across two VMAs (mprotect split
 * it).  Plus a region the map no longer has. */
static const char managed_smaps[] =
	"7f1000000000-7f1000400000 rw-p 00000000 00:00 0 \n"
	"Size: 4096 kB\nRss: 1024 kB\nPrivate_Dirty: 1024 kB\nSwap: 0 kB\nVmFlags: rd wr mr mw me um uw\n"
	"7f2000000000-7f2000100000 rw-p 00000000 00:00 0 \n"
	"Size: 1024 kB\nRss: 256 kB\nShared_Dirty: 64 kB\nPrivate_Dirty: 192 kB\nSwap: 64 kB\n"
	"VmFlags: rd wr mr mw me um uw\n"
	"7f2000100000-7f2000200000 r--p 00000000 00:00 0 \n"
	"Size: 1024 kB\nRss: 0 kB\nVmFlags: rd mr mw me um uw\n"
	"7f3000000000-7f3000010000 rw-p 00000000 00:00 0 \n"
	"Size: 64 kB\nRss: 64 kB\nPrivate_Dirty: 64 kB\nVmFlags: rd wr mr mw me um uw\n";

static struct fl_state *managed_state(void)
{
	struct fl_state *st = calloc(1, sizeof *st);
	cr_assert_not_null(st);
	st->magic = FL_STATE_MAGIC;
	st->version = FL_STATE_VERSION;
	st->pid = 4242;
	st->sample_ms = 100;
	st->stats.page_size = 4096;
	st->stats.engine = FL_ENGINE_UFFD;
	st->stats.budget_pages = 512;
	st->stats.compressed_pages = 50;
	st->stats.same_filled_pages = 50;
	st->stats.compressed_bytes = 40000;
	st->stats.store_bytes = 65536;
	struct fl_state_region *r = st->regions;
	/* Gone from the map since the state was written. */
	r[0] = (struct fl_state_region){.id = 1, .start = 0x7f0f00000000ull, .len = 1 << 20, .kind = FL_RANGE_PROGRAM,
					.untouched = 256};
	r[1] = (struct fl_state_region){.id = 2, .start = 0x7f1000000000ull, .len = 2 << 20, .kind = FL_RANGE_ALLOCATOR,
					.resident = 100, .inactive = 10, .compressed = 50, .same_filled = 20,
					.untouched = 332, .compressed_bytes = 40000};
	r[2] = (struct fl_state_region){.id = (1ull << 32) | 3, .start = 0x7f1000200000ull, .len = 1 << 20,
					.kind = FL_RANGE_PROGRAM, .same_filled = 30, .untouched = 226};
	r[3] = (struct fl_state_region){.id = 4, .start = 0x7f2000000000ull, .len = 2 << 20, .kind = FL_RANGE_PROGRAM,
					.resident = 64, .untouched = 448};
	st->nregions = 4;
	st->allocator_ok = 1;
	st->narenas = 1;
	st->arenas[0] = (struct fl_state_arena){.index = 0, .threads = 2, .mapped = 2 << 20, .active = 1 << 20,
						.allocated = 768 << 10, .allocations = 1000};
	st->alloc_allocated = 768 << 10;
	st->alloc_active = 1 << 20;
	return st;
}

static void build_managed(struct fl_vmmap *m, struct fl_vmmap_vmas *vs, const struct fl_state *st, int want_rc)
{
	char err[256] = "";
	cr_assert_eq(fl_vmmap_data_parse_smaps(managed_smaps, sizeof managed_smaps - 1, vs, err, sizeof err), 0, "%s",
		     err);
	memset(m, 0, sizeof *m);
	m->pid = 4242;
	m->preloaded = 1;
	cr_assert_eq(fl_vmmap_data_build(m, vs, st, NULL, 0, 4096, err, sizeof err), want_rc, "%s", err);
}

Test(vmmap, managed_regions_split_and_override_the_vmas)
{
	struct fl_state *st = managed_state();
	struct fl_vmmap_vmas vs;
	struct fl_vmmap m;
	build_managed(&m, &vs, st, 0);
	cr_assert(m.has_state);
	cr_assert_eq(m.nrows, 5, "rows: %zu", m.nrows);

	const struct fl_vmmap_row *arena = &m.rows[0];
	cr_expect_eq(arena->start, 0x7f1000000000ull);
	cr_expect_eq(arena->end, 0x7f1000200000ull);
	cr_expect_eq(arena->type, FL_VMMAP_ARENA);
	cr_expect_eq(arena->vsize, 2 << 20);
	cr_expect_eq(arena->rsize, 100 * 4096, "RSIZE is the shim's resident pages");
	cr_expect_eq(arena->csize, 40000);
	cr_expect_eq(arena->lazy, 332 * 4096);
	cr_expect_eq(arena->dirty, (100 + 10 + 50 + 20) * 4096);
	cr_expect_eq(arena->share, FL_VMMAP_SM_PRV);
	cr_expect_str_eq(arena->detail, "extent #2");

	const struct fl_vmmap_row *prog = &m.rows[1];
	cr_expect_eq(prog->type, FL_VMMAP_PROGRAM);
	cr_expect_eq(prog->share, FL_VMMAP_SM_ZER, "only same-filled pages: ZER");
	cr_expect_eq(prog->rsize, 0);
	cr_expect_str_eq(prog->detail, "mmap #3", "the slot, without the reuse count");
	cr_expect_eq(prog->region_id, (1ull << 32) | 3);

	/* The unmanaged rest of the VMA gets what its Rss has beyond the
	 * managed resident pages: 1024K - 400K. */
	const struct fl_vmmap_row *rest = &m.rows[2];
	cr_expect_eq(rest->start, 0x7f1000300000ull);
	cr_expect_eq(rest->end, 0x7f1000400000ull);
	cr_expect_eq(rest->type, FL_VMMAP_UFFD);
	cr_expect_eq(rest->rsize, (1024 - 400) * KB);
	cr_expect(!rest->managed);

	/* One region over two VMAs stays one row. */
	const struct fl_vmmap_row *split = &m.rows[3];
	cr_expect_eq(split->start, 0x7f2000000000ull);
	cr_expect_eq(split->end, 0x7f2000200000ull);
	cr_expect_eq(split->vsize, 2 << 20);
	cr_expect_eq(split->rsize, 64 * 4096);
	cr_expect_eq(split->swapped, 64 * KB);
	cr_expect_eq(split->prot, FL_VMMAP_R | FL_VMMAP_W);
	cr_expect_eq(split->share, FL_VMMAP_SM_COW, "pages the kernel still shares since a fork: COW");

	/* Registered but in no region of the state. */
	cr_expect_eq(m.rows[4].type, FL_VMMAP_UFFD);
	cr_expect_eq(m.rows[4].rsize, 64 * KB);

	cr_expect_eq(m.sum.managed_regions, 3);
	cr_expect_eq(m.sum.compressed, 40000, "CSIZE adds up to the state's compressed bytes");
	cr_expect_eq(m.sum.compressed_orig, 50 * 4096);
	cr_expect_eq(m.sum.arena_regions, 1);
	cr_expect_eq(m.sum.arena_vsize, 2 << 20);
	cr_expect_eq(m.sum.lazy, (332 + 226 + 448) * 4096ull + (1024 - 624) * KB);
	cr_expect_eq(m.sum.rss, 100 * 4096 + 624 * KB + 64 * 4096 + 64 * KB);
	fl_vmmap_data_free(&m);
	fl_vmmap_data_free_vmas(&vs);
	free(st);
}

Test(vmmap, the_shims_own_ranges_keep_the_kernels_figures)
{
	struct fl_state *st = managed_state();
	st->regions[4] = (struct fl_state_region){.start = 0x7f3000000000ull, .len = 64 << 10, .kind = FL_RANGE_SHIM};
	st->nregions = 5;
	struct fl_vmmap_vmas vs;
	struct fl_vmmap m;
	build_managed(&m, &vs, st, 0);
	cr_assert_eq(m.nrows, 5);
	cr_expect_eq(m.rows[4].type, FL_VMMAP_SHIM);
	cr_expect_str_eq(m.rows[4].detail, "the shim's own");
	cr_expect_eq(m.rows[4].rsize, 64 * KB, "the kernel's Rss: the shim does not page its own memory");
	cr_expect(!m.rows[4].managed);
	cr_expect_eq(m.sum.managed_regions, 3);
	cr_expect_eq(m.sum.types[FL_VMMAP_SHIM].count, 1);
	fl_vmmap_data_free(&m);
	fl_vmmap_data_free_vmas(&vs);
	free(st);
}

Test(vmmap, an_unbelievable_state_is_refused_and_the_map_shown_without_it)
{
	struct fl_state *st = managed_state();
	/* Overlapping regions. */
	st->regions[2].start = 0x7f1000100000ull;
	struct fl_vmmap_vmas vs;
	struct fl_vmmap m;
	build_managed(&m, &vs, st, 1);
	cr_expect(!m.has_state);
	cr_expect_eq(m.nrows, 4, "one row per VMA");
	cr_expect_eq(m.sum.compressed, 0);
	cr_expect_eq(m.sum.rss, (1024 + 256 + 64) * KB);
	fl_vmmap_data_free(&m);
	fl_vmmap_data_free_vmas(&vs);

	/* More pages held than the region spans. */
	free(st);
	st = managed_state();
	st->regions[3].resident = 10000;
	char err[256] = "";
	cr_assert_eq(fl_vmmap_data_parse_smaps(managed_smaps, sizeof managed_smaps - 1, &vs, err, sizeof err), 0);
	memset(&m, 0, sizeof m);
	cr_expect_eq(fl_vmmap_data_build(&m, &vs, st, NULL, 0, 4096, err, sizeof err), 1);
	cr_expect(strstr(err, "region 3") && strstr(err, "inconsistent"), "%s", err);
	fl_vmmap_data_free(&m);
	fl_vmmap_data_free_vmas(&vs);
	free(st);
}

Test(vmmap, sizes_fit_in_four_characters)
{
	struct {
		uint64_t b;
		const char *s;
	} c[] = {
		{0, "0"},
		{555, "555B"},
		{999, "999B"},
		{1000, "1K"},
		{1024, "1K"},
		{4096, "4K"},
		{1536, "1.5K"},
		{999 * KB, "999K"},
		{1000 * KB, "1M"},
		{1023 * KB, "1M"},
		{1536 * KB, "1.5M"},
		{10 * 1024 * KB, "10M"},
		{(uint64_t)(9.96 * 1024 * 1024), "10M"},
		{64ull << 30, "64G"},
		{76ull << 30, "76G"},
		{5ull << 40, "5T"},
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char out[8];
		fl_vmmap_layout_size(c[i].b, out);
		cr_expect_str_eq(out, c[i].s, "%llu bytes", (unsigned long long)c[i].b);
		cr_expect_leq(strlen(out), 4);
	}
}

/* The longest line of the table part of a text layout (up to the summary). */
static size_t widest_table_line(const char *text, const char **first_row)
{
	const char *p = strstr(text, "START-END");
	cr_assert_not_null(p);
	while (p > text && p[-1] != '\n')
		p--;
	*first_row = p;
	size_t widest = 0;
	while (*p && *p != '\n') {
		const char *e = strchr(p, '\n');
		size_t l = (size_t)(e - p);
		widest = l > widest ? l : widest;
		p = e + 1;
	}
	return widest;
}

Test(vmmap, text_fits_80_columns_and_uses_wider_ones)
{
	struct fl_vmmap_vmas vs;
	struct fl_vmmap m;
	build_plain(&m, &vs);
	struct fl_vmmap_out o = {0};
	fl_vmmap_layout_text(&m, 80, &o);
	cr_assert(!o.failed);
	const char *table;
	/* The [vsyscall] row's addresses overflow; every other row fits. */
	size_t widest = 0;
	widest_table_line(o.buf, &table);
	for (const char *p = table; *p && *p != '\n';) {
		const char *e = strchr(p, '\n');
		if (!strstr(p, "[vsyscall]") || strstr(p, "[vsyscall]") > e)
			widest = (size_t)(e - p) > widest ? (size_t)(e - p) : widest;
		p = e + 1;
	}
	cr_expect_leq(widest, 80, "%s", o.buf);
	/* 80 columns: region types abbreviated; swap is in use (the heap) but
	 * its column gives way to DETAIL, the summary keeps the total. */
	cr_expect(strstr(table, "TYPE     START-END                 VSIZE RSIZE PRT/MAX SM  DETAIL\n") == table,
		  "%.200s", table);
	/* A path too long keeps its file name. */
	cr_expect(strstr(o.buf, " libc.so.6\n") != NULL, "%s", o.buf);
	cr_expect(strstr(o.buf, "\nstack    7f0000001000-7f0000801000    8M   12K rw-/rwx PRV [stack:4243]\n") != NULL,
		  "%s", o.buf);
	cr_expect(strstr(o.buf, "\nheap     555501000000-555501021000  132K   16K rw-/rwx PRV [heap]\n") != NULL, "%s",
		  o.buf);
	cr_expect(strstr(o.buf, "\nshm      7f0006100000-7f0006200000    1M   64K rw-/rwx SHM demo (deleted)\n") !=
			  NULL,
		  "%s", o.buf);
	cr_expect(strstr(o.buf, "swapped / compressed           8K / 0\n") != NULL, "%s", o.buf);
	cr_expect(strstr(o.buf, "VSS (virtual size)") && strstr(o.buf, "RSS (resident)") &&
			  strstr(o.buf, "lazy set (never touched)") && strstr(o.buf, "swapped / compressed"),
		  "the four sizes: %s", o.buf);
	cr_expect(strstr(o.buf, "RSS (resident)               876K\n") != NULL, "%s", o.buf);
	cr_expect(strstr(o.buf, "\nTOTAL                18") != NULL, "%s", o.buf);
	fl_vmmap_layout_out_free(&o);

	/* Wide: every column, full names and paths, 16-digit addresses for all rows. */
	fl_vmmap_layout_text(&m, 160, &o);
	cr_assert(!o.failed);
	cr_expect_leq(widest_table_line(o.buf, &table), 160);
	cr_expect(strstr(table, "REGION TYPE   START-END                         VSIZE RSIZE CSIZE SWAPPED PRT/MAX SM  "
				"DETAIL\n") == table,
		  "%.200s", table);
	cr_expect(strstr(o.buf, "\nheap          0000555501000000-0000555501021000  132K   16K     0      8K rw-/rwx PRV "
				"[heap]\n") != NULL,
		  "%s", o.buf);
	cr_expect(strstr(o.buf, "\nmapped file   ") != NULL, "%s", o.buf);
	cr_expect(strstr(o.buf, " /usr/lib/x86_64-linux-gnu/libc.so.6\n") != NULL, "%s", o.buf);
	cr_expect(strstr(o.buf, "0000555500000000-0000555500001000") != NULL, "%s", o.buf);
	fl_vmmap_layout_out_free(&o);
	fl_vmmap_data_free(&m);
	fl_vmmap_data_free_vmas(&vs);
}

Test(vmmap, managed_text_shows_faultline_and_the_arenas)
{
	struct fl_state *st = managed_state();
	struct fl_vmmap_vmas vs;
	struct fl_vmmap m;
	build_managed(&m, &vs, st, 0);
	struct fl_vmmap_out o = {0};
	fl_vmmap_layout_text(&m, 80, &o);
	cr_assert(!o.failed);
	const char *table;
	cr_expect_leq(widest_table_line(o.buf, &table), 80, "%s", o.buf);
	cr_expect(strstr(table, "CSIZE") != NULL, "%s", o.buf);
	cr_expect(strstr(o.buf, "39K") != NULL, "the arena's 40000 compressed bytes: %s", o.buf);
	cr_expect(strstr(o.buf, "engine uffd, budget 2M, pressure NORMAL") != NULL, "%s", o.buf);
	cr_expect(strstr(o.buf, "allocator (jemalloc): 1 extents, 2M virtual, 400K resident, 39K compressed") !=
			  NULL,
		  "%s", o.buf);
	cr_expect(strstr(o.buf, "allocated 768K in 1M of active pages (75% full)") != NULL, "%s", o.buf);
	cr_expect(strstr(o.buf, "efficiency 6.25x") != NULL, "(50+50 pages) / 64K of store: %s", o.buf);
	fl_vmmap_layout_out_free(&o);
	fl_vmmap_data_free(&m);
	fl_vmmap_data_free_vmas(&vs);
	free(st);
}

/* JSON through python3's parser; returns what the script prints. */
static void json_check(const char *json, const char *script, char *out, size_t outlen)
{
	char path[] = "/tmp/fl-vmmap-json-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); %s' %s 2>&1", script,
		 path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = 0;
	int st = pclose(p);
	unlink(path);
	cr_assert_eq(st, 0, "python3 could not read the JSON: %s", out);
}

Test(vmmap, json_parses_and_carries_the_figures)
{
	struct fl_state *st = managed_state();
	struct fl_vmmap_vmas vs;
	struct fl_vmmap m;
	build_managed(&m, &vs, st, 0);
	/* A path that is not UTF-8 and one with quotes must still give JSON. */
	snprintf(m.exe, sizeof m.exe, "/tmp/a \"b\"\\\xff\x01");
	struct fl_vmmap_out o = {0};
	fl_vmmap_layout_json(&m, &o);
	cr_assert(!o.failed);
	char out[1024];
	json_check(o.buf,
		   "s=d[\"summary\"]; print(len(d[\"regions\"]), s[\"rss\"], sum(r[\"csize\"] for r in d[\"regions\"]), "
		   "s[\"faultline\"][\"compressed_bytes\"], d[\"regions\"][0][\"managed\"][\"kind\"], "
		   "s[\"allocator\"][\"arenas\"][0][\"allocations\"], ascii(d[\"exe\"]))",
		   out, sizeof out);
	char want[256];
	snprintf(want, sizeof want, "5 %llu 40000 40000 jemalloc 1000 '/tmp/a \"b\"\\\\\\ufffd\\x01'\n",
		 (unsigned long long)m.sum.rss);
	cr_expect_str_eq(out, want);
	fl_vmmap_layout_out_free(&o);
	fl_vmmap_data_free(&m);
	fl_vmmap_data_free_vmas(&vs);
	free(st);
}

/* The line of text that starts with prefix and holds what, or NULL. */
static const char *row_with(const char *text, const char *prefix, const char *what)
{
	size_t pl = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		const char *w = strstr(p, what);
		if (l >= pl && !strncmp(p, prefix, pl) && w && w + strlen(what) <= p + l)
			return p;
	}
	return NULL;
}

Test(vmmap, committed_pieces_have_their_type_and_unknown_kinds_stay_managed)
{
	struct fl_state *st = managed_state();
	/* A committed piece of a reservation, and a region of a kind a newer
	 * shim might send. */
	st->regions[2].kind = FL_RANGE_COMMITTED;
	st->regions[3].kind = 9;
	struct fl_vmmap_vmas vs;
	struct fl_vmmap m;
	build_managed(&m, &vs, st, 0);
	cr_assert(m.has_state, "a kind the viewer does not know must not cost the whole state");
	cr_assert_eq(m.nrows, 5, "rows: %zu", m.nrows);
	const struct fl_vmmap_row *c = &m.rows[1];
	cr_expect_eq(c->type, FL_VMMAP_COMMITTED);
	cr_expect(c->managed);
	cr_expect_eq(c->kind, FL_RANGE_COMMITTED);
	cr_expect_str_eq(c->detail, "commit #3");
	cr_expect_str_eq(fl_vmmap_data_type_name(c->type), "resv->commit");
	cr_expect_str_eq(fl_range_kind_name(FL_RANGE_COMMITTED), "resv->commit");
	const struct fl_vmmap_row *u = &m.rows[3];
	cr_expect_eq(u->type, FL_VMMAP_MANAGED);
	cr_expect(u->managed);
	cr_expect_eq(u->rsize, 64 * 4096, "its page counts are used as any managed region's");
	cr_expect_str_eq(u->detail, "region #4, kind 9");
	cr_expect_str_eq(fl_range_kind_name((enum fl_range_kind)9), "unknown");
	cr_expect_eq(m.sum.managed_regions, 3);
	cr_expect_eq(m.sum.types[FL_VMMAP_COMMITTED].count, 1);

	struct fl_vmmap_out o = {0};
	fl_vmmap_layout_text(&m, 160, &o);
	cr_assert(!o.failed);
	cr_expect(row_with(o.buf, "resv->commit   7f1000200000-7f1000300000 ", " ZER commit #3") != NULL, "%s",
		  o.buf);
	cr_expect(row_with(o.buf, "managed        7f2000000000-7f2000200000 ", " region #4, kind 9") != NULL,
		  "%s", o.buf);
	cr_expect(row_with(o.buf, "resv->commit          1     1M      0 ", "") != NULL, "the summary's row: %s", o.buf);
	fl_vmmap_layout_out_free(&o);
	/* Narrow: the short name. */
	fl_vmmap_layout_text(&m, 80, &o);
	cr_assert(!o.failed);
	cr_expect(row_with(o.buf, "committed 7f1000200000-7f1000300000 ", " commit #3") != NULL, "%s", o.buf);
	fl_vmmap_layout_out_free(&o);

	fl_vmmap_layout_json(&m, &o);
	cr_assert(!o.failed);
	char out[512];
	json_check(o.buf,
		   "r=d[\"regions\"]; print(r[1][\"type\"], r[1][\"managed\"][\"kind\"], r[3][\"type\"], "
		   "r[3][\"managed\"][\"kind\"], r[3][\"detail\"])",
		   out, sizeof out);
	cr_expect_str_eq(out, "resv->commit resv->commit managed unknown region #4, kind 9\n");
	fl_vmmap_layout_out_free(&o);
	fl_vmmap_data_free(&m);
	fl_vmmap_data_free_vmas(&vs);
	free(st);
}
