/*
 * Gathering for `faultline vmmap`: /proc/PID/smaps parsed into VMAs, the
 * VMAs cut into vmmap-style rows (what kind of memory each is, its share
 * mode), managed regions from the shim's state file laid over the VMAs
 * they cover, and the summary.  Everything here returns plain structs;
 * nothing prints (vmmap_layout.c does).
 */
#include "vmmap_data.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faultline/faultline.h"
#include "state_read.h"

/* PROT_NONE anonymous memory up to this size is a guard, larger a reservation. */
#define GUARD_MAX (1024u * 1024u)

static int set_err(char *err, size_t errlen, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", what);
	return -1;
}

/* ---- smaps ---------------------------------------------------------- */

static int is_header(const char *line, const char *end)
{
	/* "start-end perms ...": hex digits up to a '-'.  Field lines are
	 * "Name: value", and a name never starts with a hex digit followed
	 * by only hex digits and '-'. */
	const char *p = line;
	while (p < end && isxdigit((unsigned char)*p))
		p++;
	return p > line && p < end && *p == '-';
}

static int parse_header(const char *line, const char *end, struct fl_vmmap_vma *v)
{
	char buf[PATH_MAX + 256];
	size_t l = (size_t)(end - line);
	if (l >= sizeof buf)
		l = sizeof buf - 1;
	memcpy(buf, line, l);
	buf[l] = 0;
	unsigned long long s, e, off, ino;
	char perms[8];
	unsigned maj, min;
	int n = 0;
	if (sscanf(buf, "%llx-%llx %7s %llx %x:%x %llu %n", &s, &e, perms, &off, &maj, &min, &ino, &n) < 7 ||
	    e < s || strlen(perms) < 4)
		return -1;
	memset(v, 0, sizeof *v);
	v->start = s;
	v->end = e;
	v->offset = off;
	v->inode = ino;
	v->dev_major = maj;
	v->dev_minor = min;
	v->prot = (perms[0] == 'r' ? FL_VMMAP_R : 0) | (perms[1] == 'w' ? FL_VMMAP_W : 0) |
		  (perms[2] == 'x' ? FL_VMMAP_X : 0);
	v->max_prot = v->prot;
	v->shared = perms[3] == 's';
	const char *path = buf + n;
	while (*path == ' ')
		path++;
	size_t pl = strlen(path);
	while (pl && (path[pl - 1] == '\n' || path[pl - 1] == ' '))
		pl--;
	v->path = strndup(path, pl);
	v->kernel_page_size = 4096;
	return v->path ? 0 : -1;
}

/* "Name:   123 kB" -> bytes into the field it names. */
static void parse_field(const char *line, const char *end, struct fl_vmmap_vma *v)
{
	const char *colon = memchr(line, ':', (size_t)(end - line));
	if (!colon)
		return;
	size_t nl = (size_t)(colon - line);
	if (nl == 7 && !memcmp(line, "VmFlags", 7)) {
		v->has_vmflags = 1;
		v->max_prot = 0;
		/* Two-letter codes: mr/mw/me say what mprotect may grant
		 * (VM_MAYREAD...), um/uw/ui a userfaultfd registration. */
		for (const char *p = colon + 1; p + 1 < end; p++) {
			if (p[0] == ' ' || (p > colon + 1 && p[-1] != ' '))
				continue;
			if (p + 2 < end && p[2] != ' ' && p[2] != '\n')
				continue;
			if (p[0] == 'm' && p[1] == 'r')
				v->max_prot |= FL_VMMAP_R;
			else if (p[0] == 'm' && p[1] == 'w')
				v->max_prot |= FL_VMMAP_W;
			else if (p[0] == 'm' && p[1] == 'e')
				v->max_prot |= FL_VMMAP_X;
			else if (p[0] == 'u' && (p[1] == 'm' || p[1] == 'w' || p[1] == 'i'))
				v->uffd = 1;
			else if (p[0] == 'n' && p[1] == 'r')
				v->noreserve = 1;
			else if (p[0] == 'g' && p[1] == 'd')
				v->grows_down = 1;
		}
		return;
	}
	char *ep;
	unsigned long long x = strtoull(colon + 1, &ep, 10);
	if (ep == colon + 1)
		return;
	uint64_t b = (uint64_t)x * 1024; /* every size field is in kB */
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{"Rss", offsetof(struct fl_vmmap_vma, rss)},
		{"Pss", offsetof(struct fl_vmmap_vma, pss)},
		{"Shared_Clean", offsetof(struct fl_vmmap_vma, shared_clean)},
		{"Shared_Dirty", offsetof(struct fl_vmmap_vma, shared_dirty)},
		{"Private_Clean", offsetof(struct fl_vmmap_vma, private_clean)},
		{"Private_Dirty", offsetof(struct fl_vmmap_vma, private_dirty)},
		{"Anonymous", offsetof(struct fl_vmmap_vma, anonymous)},
		{"Swap", offsetof(struct fl_vmmap_vma, swap)},
		{"Locked", offsetof(struct fl_vmmap_vma, locked)},
		{"AnonHugePages", offsetof(struct fl_vmmap_vma, anon_huge)},
		{"KernelPageSize", offsetof(struct fl_vmmap_vma, kernel_page_size)},
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (strlen(fields[i].name) == nl && !memcmp(line, fields[i].name, nl)) {
			*(uint64_t *)((char *)v + fields[i].off) = b;
			return;
		}
	/* Hugetlb pages are counted apart from Rss; they are resident all the same. */
	if ((nl == 14 && !memcmp(line, "Shared_Hugetlb", 14)) || (nl == 15 && !memcmp(line, "Private_Hugetlb", 15)))
		v->hugetlb += b;
}

int fl_vmmap_data_parse_smaps(const char *text, size_t len, struct fl_vmmap_vmas *out, char *err,
			      size_t errlen)
{
	memset(out, 0, sizeof *out);
	const char *p = text, *end = text + len;
	struct fl_vmmap_vma *cur = NULL;
	size_t lineno = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		lineno++;
		if (le > p && is_header(p, le)) {
			if (out->n == out->cap) {
				size_t cap = out->cap ? out->cap * 2 : 256;
				struct fl_vmmap_vma *nv = realloc(out->v, cap * sizeof *nv);
				if (!nv) {
					fl_vmmap_data_free_vmas(out);
					return set_err(err, errlen, "out of memory");
				}
				out->v = nv;
				out->cap = cap;
			}
			cur = &out->v[out->n];
			if (parse_header(p, le, cur) != 0) {
				if (err && errlen)
					snprintf(err, errlen, "smaps line %zu is not a mapping: %.60s", lineno, p);
				fl_vmmap_data_free_vmas(out);
				return -1;
			}
			out->n++;
		} else if (cur && le > p) {
			parse_field(p, le, cur);
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

void fl_vmmap_data_free_vmas(struct fl_vmmap_vmas *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i].path);
	free(v->v);
	memset(v, 0, sizeof *v);
}

/* ---- names ---------------------------------------------------------- */

const char *fl_vmmap_data_type_name(enum fl_vmmap_type t)
{
	static const char *names[FL_VMMAP__TYPES] = {
		[FL_VMMAP_TEXT] = "text",
		[FL_VMMAP_DATA] = "data",
		[FL_VMMAP_HEAP] = "heap",
		[FL_VMMAP_STACK] = "stack",
		[FL_VMMAP_GUARD] = "guard",
		[FL_VMMAP_RESERVED] = "reserved",
		[FL_VMMAP_FILE] = "mapped file",
		[FL_VMMAP_SHM] = "shared memory",
		[FL_VMMAP_ANON] = "anonymous",
		[FL_VMMAP_UFFD] = "userfaultfd",
		[FL_VMMAP_ARENA] = "jemalloc arena",
		[FL_VMMAP_PROGRAM] = "program mapping",
		[FL_VMMAP_COMMITTED] = "resv->commit",
		[FL_VMMAP_MANAGED] = "managed",
		[FL_VMMAP_SHIM] = "faultline",
	};
	return (unsigned)t < FL_VMMAP__TYPES ? names[t] : "?";
}

const char *fl_vmmap_data_share_name(enum fl_vmmap_share s)
{
	switch (s) {
	case FL_VMMAP_SM_NUL: return "NUL";
	case FL_VMMAP_SM_PRV: return "PRV";
	case FL_VMMAP_SM_COW: return "COW";
	case FL_VMMAP_SM_SHM: return "SHM";
	case FL_VMMAP_SM_ZER: return "ZER";
	}
	return "?";
}

/* ---- classifying ---------------------------------------------------- */

static int is_file(const struct fl_vmmap_vma *v)
{
	return v->path[0] == '/';
}

/* Memory no file backs: named by the kernel ([heap], [stack], [anon:x]) or not at all. */
static int is_anon(const struct fl_vmmap_vma *v)
{
	return v->path[0] == 0 || !strcmp(v->path, "[heap]") || !strcmp(v->path, "[stack]") ||
	       !strncmp(v->path, "[anon:", 6);
}

static int is_shm_path(const char *p)
{
	return !strncmp(p, "/dev/shm/", 9) || !strncmp(p, "/SYSV", 5) || !strncmp(p, "/memfd:", 7) ||
	       !strncmp(p, "/dev/zero", 9) || !strncmp(p, "[anon_shmem", 11) || p[0] == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Paths with an executable mapping somewhere: loaded programs and libraries. */
struct modules {
	size_t n;
	char **paths;
};

static int modules_find(const struct modules *m, const char *path)
{
	return m->n && bsearch(&path, m->paths, m->n, sizeof *m->paths, cmp_str) != NULL;
}

static int is_stack(const struct fl_vmmap_vma *v, const int *tids, size_t i)
{
	return !strcmp(v->path, "[stack]") || tids[i] != 0;
}

static enum fl_vmmap_type classify(const struct fl_vmmap_vmas *vs, size_t i, const struct modules *mods,
				   const int *tids, int have_state, char *detail, size_t dl)
{
	const struct fl_vmmap_vma *v = &vs->v[i];
	const struct fl_vmmap_vma *prev = i > 0 ? &vs->v[i - 1] : NULL;
	const struct fl_vmmap_vma *next = i + 1 < vs->n ? &vs->v[i + 1] : NULL;
	snprintf(detail, dl, "%s", v->path);
	if (!strcmp(v->path, "[heap]"))
		return FL_VMMAP_HEAP;
	if (!strcmp(v->path, "[stack]"))
		return FL_VMMAP_STACK;
	if (!strcmp(v->path, "[vdso]") || !strcmp(v->path, "[vsyscall]") || !strcmp(v->path, "[uprobes]"))
		return FL_VMMAP_TEXT;
	if (!strncmp(v->path, "[vvar", 5))
		return FL_VMMAP_DATA;
	if (v->shared) {
		/* The shim's own state file (include/faultline/state.h). */
		static const char state_prefix[] = FL_STATE_DIR "/" FL_STATE_PREFIX;
		if (!strncmp(v->path, state_prefix, sizeof state_prefix - 1) && strstr(v->path, ".state"))
			return FL_VMMAP_SHIM;
		return is_shm_path(v->path) ? FL_VMMAP_SHM : FL_VMMAP_FILE;
	}
	if (v->prot == 0) {
		/* ld.so leaves PROT_NONE holes between a library's segments:
		 * padding, shown as the library's guard. */
		if (is_file(v))
			return FL_VMMAP_GUARD;
		int by_stack = (prev && prev->end == v->start && is_stack(prev, tids, i - 1)) ||
			       (next && next->start == v->end && is_stack(next, tids, i + 1));
		return by_stack || v->end - v->start <= GUARD_MAX ? FL_VMMAP_GUARD : FL_VMMAP_RESERVED;
	}
	if (is_file(v))
		return modules_find(mods, v->path) ? ((v->prot & FL_VMMAP_X) ? FL_VMMAP_TEXT : FL_VMMAP_DATA)
						   : FL_VMMAP_FILE;
	if (tids[i]) {
		snprintf(detail, dl, "[stack:%d]", tids[i]);
		return FL_VMMAP_STACK;
	}
	/* ld.so maps a module's bss as anonymous memory right after its
	 * last file page. */
	if (prev && prev->end == v->start && is_file(prev) && (prev->prot & FL_VMMAP_W) && (v->prot & FL_VMMAP_W) &&
	    !v->uffd && modules_find(mods, prev->path)) {
		snprintf(detail, dl, "%s (bss)", prev->path);
		return FL_VMMAP_DATA;
	}
	if (v->uffd) {
		/* Registered, and no region of the state covers it: the shim's
		 * memory without a state file, or changed since it was written. */
		snprintf(detail, dl, "%s", have_state ? "uffd-registered, not in the state" : "uffd-registered");
		return FL_VMMAP_UFFD;
	}
	return FL_VMMAP_ANON;
}

static enum fl_vmmap_share vma_share(const struct fl_vmmap_vma *v)
{
	if (v->rss == 0 && v->swap == 0 && v->hugetlb == 0)
		return FL_VMMAP_SM_NUL;
	if (v->shared)
		return FL_VMMAP_SM_SHM;
	if (v->shared_clean + v->shared_dirty > 0)
		return FL_VMMAP_SM_COW;
	if (is_file(v) && v->private_clean > 0)
		return FL_VMMAP_SM_COW;
	return FL_VMMAP_SM_PRV;
}

/* ---- building ------------------------------------------------------- */

static struct fl_vmmap_row *add_row(struct fl_vmmap *m)
{
	if (m->nrows == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		struct fl_vmmap_row *r = realloc(m->rows, cap * sizeof *r);
		if (!r)
			return NULL;
		m->rows = r;
		m->cap = cap;
	}
	struct fl_vmmap_row *r = &m->rows[m->nrows++];
	memset(r, 0, sizeof *r);
	return r;
}

/* x * num / den without overflow for the sizes here (num <= den). */
static uint64_t scale(uint64_t x, uint64_t num, uint64_t den)
{
	if (den == 0 || num >= den)
		return x;
	return (uint64_t)((unsigned __int128)x * num / den);
}

/* Refuse a state whose regions could not be laid over a memory map.  A
 * kind this viewer does not know is no reason: a newer shim's regions are
 * shown as managed memory (managed_row names the kind's number). */
static int state_check(const struct fl_state *st, char *err, size_t errlen)
{
	uint64_t ps = st->stats.page_size;
	if (ps < 512 || (ps & (ps - 1)) || st->nregions > FL_STATE_MAX_REGIONS) {
		snprintf(err, errlen, "the state file's page size (%llu) or region count (%u) is not believable",
			 (unsigned long long)ps, st->nregions);
		return -1;
	}
	uint64_t prev_end = 0;
	for (uint32_t i = 0; i < st->nregions; i++) {
		const struct fl_state_region *r = &st->regions[i];
		uint64_t pages = r->len / ps;
		uint64_t held = r->resident + r->inactive + r->compressed + r->same_filled + r->untouched + r->spilled;
		if (r->len == 0 || r->start % ps || r->len % ps || r->start + r->len < r->start || r->start < prev_end ||
		    held > pages) {
			snprintf(err, errlen,
				 "the state file's region %u (%#llx+%#llx) is inconsistent (out of order, "
				 "overlapping, or more pages than it spans)",
				 i, (unsigned long long)r->start, (unsigned long long)r->len);
			return -1;
		}
		prev_end = r->start + r->len;
	}
	return 0;
}

static enum fl_vmmap_type managed_type(uint32_t kind)
{
	switch (kind) {
	case FL_RANGE_ALLOCATOR: return FL_VMMAP_ARENA;
	case FL_RANGE_PROGRAM: return FL_VMMAP_PROGRAM;
	case FL_RANGE_COMMITTED: return FL_VMMAP_COMMITTED;
	case FL_RANGE_SHIM: return FL_VMMAP_SHIM;
	default: return FL_VMMAP_MANAGED;
	}
}

static int managed_row(struct fl_vmmap_row *row, const struct fl_state_region *r, uint64_t ps)
{
	row->managed = 1;
	row->region_id = r->id;
	row->kind = r->kind;
	row->type = managed_type(r->kind);
	row->resident_pages = r->resident;
	row->inactive_pages = r->inactive;
	row->compressed_pages = r->compressed;
	row->same_filled_pages = r->same_filled;
	row->untouched_pages = r->untouched;
	/* The shim's resident pages, not the kernel's Rss of the range: the
	 * same pages when it is quiet, but the shim's count moves with its
	 * page states (an inactive page is out of the range, in the shim's
	 * stash) and is what the budget caps. */
	row->rsize = r->resident * ps;
	row->csize = r->compressed_bytes;
	/* Pages in the spill file, at their own size, as macOS shows
	 * pages its compressor swapped out. */
	row->swapped = r->spilled * ps;
	/* The shim cannot tell a page read from one written (a first touch
	 * fills it either way): "written" is every page it holds. */
	row->dirty = (r->resident + r->inactive + r->compressed + r->same_filled + r->spilled) * ps;
	row->lazy = r->untouched * ps;
	/* The type names the kind.  The fault log's region id is the
	 * shim's slot number with a reuse count in its high half
	 * (preload/events.c); the slot tells live regions apart and is
	 * short enough for 80 columns.  JSON has the whole id. */
	unsigned slot = (unsigned)(r->id & 0xffffffffu);
	char det[64];
	switch (r->kind) {
	case FL_RANGE_ALLOCATOR: snprintf(det, sizeof det, "extent #%u", slot); break;
	case FL_RANGE_PROGRAM: snprintf(det, sizeof det, "mmap #%u", slot); break;
	case FL_RANGE_COMMITTED: snprintf(det, sizeof det, "commit #%u", slot); break;
	case FL_RANGE_SHIM: snprintf(det, sizeof det, "the shim's own"); break;
	case FL_RANGE_PLAIN: snprintf(det, sizeof det, "region #%u", slot); break;
	/* A kind from a newer shim: managed memory all the same. */
	default: snprintf(det, sizeof det, "region #%u, kind %u", slot, r->kind); break;
	}
	if (r->resident + r->inactive + r->compressed + r->same_filled + r->spilled == 0)
		row->share = FL_VMMAP_SM_NUL;
	else if (r->resident + r->inactive + r->compressed + r->spilled == 0)
		row->share = FL_VMMAP_SM_ZER;
	else
		row->share = FL_VMMAP_SM_PRV;
	row->detail = strdup(det);
	return row->detail ? 0 : -1;
}

/* An unmanaged piece [s, e) of vma v, with its share of the VMA's figures. */
static int piece_row(struct fl_vmmap *m, const struct fl_vmmap_vmas *vs, size_t i, uint64_t s, uint64_t e,
		     uint64_t rss_left, uint64_t unmanaged_len, const struct modules *mods, const int *tids,
		     int have_state)
{
	const struct fl_vmmap_vma *v = &vs->v[i];
	struct fl_vmmap_row *row = add_row(m);
	if (!row)
		return -1;
	uint64_t vlen = v->end - v->start, len = e - s;
	row->start = s;
	row->end = e;
	row->vsize = len;
	row->prot = v->prot;
	row->max_prot = v->max_prot;
	char det[PATH_MAX + 32];
	row->type = classify(vs, i, mods, tids, have_state, det, sizeof det);
	if (!(row->detail = strdup(det)))
		return -1;
	if (row->type == FL_VMMAP_STACK && tids[i])
		row->tid = tids[i];
	row->share = vma_share(v);
	/* Whole VMA: the kernel's figures.  A VMA that managed regions
	 * share (rare: a userfaultfd registration gets VMAs of its own) is
	 * split: what its Rss has beyond the managed pages goes to the
	 * rest, by size; its other figures by size. */
	row->rsize = scale(rss_left, len, unmanaged_len) + scale(v->hugetlb, len, vlen);
	row->swapped = scale(v->swap, len, vlen);
	row->dirty = scale(v->shared_dirty + v->private_dirty, len, vlen);
	row->noreserve = v->noreserve;
	if (!v->shared && is_anon(v) && (v->prot & FL_VMMAP_W)) {
		uint64_t used = row->rsize + row->swapped;
		row->lazy = len > used ? len - used : 0;
	}
	return 0;
}

static void summarize(struct fl_vmmap *m)
{
	struct fl_vmmap_summary *s = &m->sum;
	memset(s, 0, sizeof *s);
	uint64_t ps = m->page_size;
	for (size_t i = 0; i < m->nrows; i++) {
		const struct fl_vmmap_row *r = &m->rows[i];
		s->vss += r->vsize;
		s->rss += r->rsize;
		s->lazy += r->lazy;
		if (r->noreserve)
			s->lazy_noreserve += r->lazy;
		s->swapped += r->swapped;
		s->compressed += r->csize;
		if (r->prot & FL_VMMAP_W) {
			s->w_vsize += r->vsize;
			s->w_written += r->dirty;
			s->w_resident += r->rsize;
			s->w_compressed += r->csize;
			s->w_swapped += r->swapped;
		}
		struct fl_vmmap_type_total *t = &s->types[r->type];
		t->count++;
		t->vsize += r->vsize;
		t->rsize += r->rsize;
		t->csize += r->csize;
		t->swapped += r->swapped;
		if (r->managed) {
			s->compressed_orig += r->compressed_pages * ps;
			s->managed_regions++;
			s->managed_vsize += r->vsize;
			s->managed_resident += r->resident_pages * ps;
			s->managed_inactive += r->inactive_pages * ps;
			s->managed_compressed_pages += r->compressed_pages;
			s->managed_same_pages += r->same_filled_pages;
			s->managed_untouched += r->untouched_pages * ps;
		}
		if (r->type == FL_VMMAP_ARENA) {
			s->arena_regions++;
			s->arena_vsize += r->vsize;
			s->arena_rsize += r->rsize;
			s->arena_csize += r->csize;
		}
	}
}

int fl_vmmap_data_build(struct fl_vmmap *m, const struct fl_vmmap_vmas *vs, const struct fl_state *st,
			const struct fl_vmmap_thread *threads, size_t nthreads, uint64_t page_size, char *err,
			size_t errlen)
{
	int rc = 0;
	m->page_size = page_size;
	for (size_t i = 0; i < m->nrows; i++)
		free(m->rows[i].detail);
	m->nrows = 0;
	m->has_state = 0;
	free(m->state);
	m->state = NULL;
	if (st && state_check(st, err, errlen) != 0) {
		st = NULL;
		rc = 1;
	}
	if (st) {
		m->state = malloc(sizeof *st);
		if (!m->state)
			return set_err(err, errlen, "out of memory");
		memcpy(m->state, st, sizeof *st);
		m->has_state = 1;
		st = m->state;
	}
	uint64_t sps = st ? st->stats.page_size : page_size;

	/* Which paths are modules, which VMAs hold a thread's stack. */
	struct modules mods = {0, NULL};
	int *tids = calloc(vs->n ? vs->n : 1, sizeof *tids);
	mods.paths = malloc((vs->n ? vs->n : 1) * sizeof *mods.paths);
	if (!tids || !mods.paths) {
		free(tids);
		free(mods.paths);
		return set_err(err, errlen, "out of memory");
	}
	for (size_t i = 0; i < vs->n; i++)
		if (is_file(&vs->v[i]) && (vs->v[i].prot & FL_VMMAP_X))
			mods.paths[mods.n++] = vs->v[i].path;
	qsort(mods.paths, mods.n, sizeof *mods.paths, cmp_str);
	for (size_t t = 0; t < nthreads; t++) {
		size_t lo = 0, hi = vs->n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (vs->v[mid].end <= threads[t].sp)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < vs->n && vs->v[lo].start <= threads[t].sp && strcmp(vs->v[lo].path, "[stack]") != 0 &&
		    is_anon(&vs->v[lo]))
			tids[lo] = threads[t].tid;
	}

	/* Walk VMAs and state regions together, both in address order.
	 * open_row: the row of region j when it began in an earlier VMA. */
	size_t j = 0;
	long open_row = -1;
	for (size_t i = 0; i < vs->n; i++) {
		const struct fl_vmmap_vma *v = &vs->v[i];
		/* Regions that ended before this VMA (unmapped since the state
		 * was written, or in a gap) are passed over. */
		while (st && j < st->nregions && st->regions[j].start + st->regions[j].len <= v->start) {
			j++;
			open_row = -1;
		}
		/* The managed pages inside this VMA, for what its Rss has left. */
		uint64_t managed_len = 0, managed_rss = 0;
		for (size_t k = j; st && k < st->nregions && st->regions[k].start < v->end; k++) {
			const struct fl_state_region *r = &st->regions[k];
			if (r->kind == FL_RANGE_SHIM)
				continue;
			uint64_t s = r->start > v->start ? r->start : v->start;
			uint64_t e = r->start + r->len < v->end ? r->start + r->len : v->end;
			managed_len += e - s;
			managed_rss += scale(r->resident * sps, e - s, r->len);
		}
		uint64_t vlen = v->end - v->start;
		uint64_t rss_left = v->rss > managed_rss ? v->rss - managed_rss : 0;
		uint64_t unmanaged_len = vlen - managed_len;
		uint64_t cur = v->start;
		while (cur < v->end) {
			const struct fl_state_region *r = st && j < st->nregions ? &st->regions[j] : NULL;
			if (!r || r->start >= v->end) {
				if (piece_row(m, vs, i, cur, v->end, rss_left, unmanaged_len, &mods, tids, st != NULL))
					goto oom;
				break;
			}
			if (r->start > cur) {
				if (piece_row(m, vs, i, cur, r->start, rss_left, unmanaged_len, &mods, tids, st != NULL))
					goto oom;
				cur = r->start;
			}
			uint64_t rend = r->start + r->len;
			uint64_t e = rend < v->end ? rend : v->end;
			struct fl_vmmap_row *row;
			if (r->kind == FL_RANGE_SHIM) {
				/* The shim's own memory: not paged by it, so the
				 * kernel's figures, under faultline's name. */
				if (piece_row(m, vs, i, cur, e, rss_left, unmanaged_len, &mods, tids, 1))
					goto oom;
				row = &m->rows[m->nrows - 1];
				row->type = FL_VMMAP_SHIM;
				free(row->detail);
				if (!(row->detail = strdup("the shim's own")))
					goto oom;
				cur = e;
				if (rend <= v->end)
					j++;
				continue;
			}
			if (open_row >= 0) {
				/* A region across VMAs (mprotect split it, or a hole
				 * was unmapped from it) stays one row; VSIZE counts
				 * what is mapped. */
				row = &m->rows[open_row];
				row->end = e;
				row->max_prot |= v->max_prot;
			} else {
				row = add_row(m);
				if (!row)
					goto oom;
				if (managed_row(row, r, sps) != 0)
					goto oom;
				row->start = cur;
				row->end = e;
				row->prot = v->prot;
				row->max_prot = v->max_prot;
				open_row = (long)(row - m->rows);
			}
			row->vsize += e - cur;
			row->swapped += scale(v->swap, e - cur, vlen);
			row->noreserve = row->noreserve || v->noreserve;
			/* Pages the kernel still shares with a forked child (or
			 * parent): the region is copy-on-write until each side
			 * has written them. */
			if (row->share == FL_VMMAP_SM_PRV && v->shared_clean + v->shared_dirty > 0)
				row->share = FL_VMMAP_SM_COW;
			cur = e;
			if (rend <= v->end) {
				j++;
				open_row = -1;
			}
		}
	}
	free(tids);
	free(mods.paths);
	summarize(m);
	return rc;
oom:
	free(tids);
	free(mods.paths);
	return set_err(err, errlen, "out of memory");
}

/* ---- gathering from /proc ------------------------------------------ */

/* The whole of a /proc file (they have no size): 0, or -1 with errno. */
static int slurp(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			close(fd);
			errno = ENOMEM;
			return -1;
		}
		if (n + 4096 > cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				continue;
			}
			buf = nb;
		}
		ssize_t k = read(fd, buf + n, cap - n - 1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			close(fd);
			errno = e;
			return -1;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

/* Each thread's stack pointer, from /proc/PID/task/TID/syscall ("nr
 * args... sp pc" while it waits in a system call; "running" otherwise,
 * and then its stack stays anonymous memory here). */
static size_t thread_sps(pid_t pid, struct fl_vmmap_thread **out)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	*out = NULL;
	DIR *d = opendir(path);
	if (!d)
		return 0;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		int tid = atoi(de->d_name);
		if (tid <= 0 || tid == pid)
			continue;
		char p2[96], buf[512];
		snprintf(p2, sizeof p2, "/proc/%d/task/%d/syscall", (int)pid, tid);
		int fd = open(p2, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t k = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (k <= 0)
			continue;
		buf[k] = 0;
		/* The last two fields are sp and pc. */
		char *tok[16];
		int nt = 0;
		for (char *s = strtok(buf, " \n"); s && nt < 16; s = strtok(NULL, " \n"))
			tok[nt++] = s;
		if (nt < 3)
			continue;
		uint64_t sp = strtoull(tok[nt - 2], NULL, 0);
		if (!sp)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct fl_vmmap_thread *t = realloc(*out, cap * sizeof *t);
			if (!t)
				break;
			*out = t;
		}
		(*out)[n].tid = tid;
		(*out)[n].sp = sp;
		n++;
	}
	closedir(d);
	return n;
}

int fl_vmmap_data_gather(pid_t pid, struct fl_vmmap *m, char *err, size_t errlen, char *note, size_t notelen)
{
	memset(m, 0, sizeof *m);
	m->pid = pid;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	m->now_real_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	if (note && notelen)
		note[0] = 0;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
	char *text;
	size_t len;
	if (slurp(path, &text, &len) != 0) {
		int e = errno;
		if (e == ENOENT || e == ESRCH) {
			snprintf(err, errlen, "no process %d", (int)pid);
			e = ESRCH;
		} else if (e == EACCES || e == EPERM) {
			snprintf(err, errlen, "process %d is not yours to inspect (%s: permission denied)", (int)pid, path);
			e = EACCES;
		} else {
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		}
		errno = e;
		return -1;
	}
	struct fl_vmmap_vmas vs;
	if (fl_vmmap_data_parse_smaps(text, len, &vs, err, errlen) != 0) {
		free(text);
		errno = EPROTO;
		return -1;
	}
	free(text);
	if (vs.n == 0) {
		snprintf(err, errlen, "process %d has no memory map (a zombie, or a kernel thread)", (int)pid);
		fl_vmmap_data_free_vmas(&vs);
		errno = ENODATA;
		return -1;
	}

	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t k = read(fd, m->comm, sizeof m->comm - 1);
		close(fd);
		if (k > 0)
			m->comm[k - (m->comm[k - 1] == '\n')] = 0;
	}
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	ssize_t k = readlink(path, m->exe, sizeof m->exe - 1);
	m->exe[k > 0 ? k : 0] = 0;
	for (size_t i = 0; i < vs.n; i++) {
		const char *p = vs.v[i].path, *slash = strrchr(p, '/');
		if (slash && !strcmp(slash + 1, "libfaultline.so"))
			m->preloaded = 1;
	}

	struct fl_state *st = malloc(sizeof *st);
	char serr[512] = "";
	int have = 0;
	if (st && fl_state_read(pid, st, serr, sizeof serr) == 0)
		have = 1;
	else if (st && (errno != ENOENT || m->preloaded) && note && notelen)
		snprintf(note, notelen, "%s; showing the process without its managed regions", serr);

	struct fl_vmmap_thread *threads;
	size_t nthreads = thread_sps(pid, &threads);
	long ps = sysconf(_SC_PAGESIZE);
	char berr[512] = "";
	int rc = fl_vmmap_data_build(m, &vs, have ? st : NULL, threads, nthreads, ps > 0 ? (uint64_t)ps : 4096, berr,
				     sizeof berr);
	free(threads);
	free(st);
	fl_vmmap_data_free_vmas(&vs);
	if (rc < 0) {
		snprintf(err, errlen, "%s", berr);
		errno = ENOMEM;
		return -1;
	}
	if (rc == 1 && note && notelen)
		snprintf(note, notelen, "%s; showing the process without its managed regions", berr);
	return 0;
}

void fl_vmmap_data_free(struct fl_vmmap *m)
{
	for (size_t i = 0; i < m->nrows; i++)
		free(m->rows[i].detail);
	free(m->rows);
	free(m->state);
	m->rows = NULL;
	m->state = NULL;
	m->nrows = m->cap = 0;
}
