/*
 * The symbolizer (see symbolize.h): file addresses to function, file and
 * line, inlined calls included, with elfutils' libdwfl.
 *
 * libdwfl rather than libdw or libelf alone, because it already does the
 * parts that are easy to get wrong: finding separate debuginfo (by build id
 * under /usr/lib/debug/.build-id, by .gnu_debuglink, dwz alternate files),
 * reconciling the address biases of the main file and the debug file, and
 * falling back from .symtab to .dynsym and the MiniDebugInfo .gnu_debugdata
 * section.  Each file is a Dwfl of its own holding one module reported at
 * its link-time addresses, so a file address is a module address as is.
 *
 * Opened files are kept in a small table searched linearly (a daemon sees
 * tens of distinct libraries, not thousands); the least recently used is
 * closed when the table is full.
 *
 * Two lookups libdw and libdwfl do by linear scan are indexed here, built
 * lazily, because a daemon resolves thousands of PCs per file: the
 * functions of a compilation unit (libdw would step over every DIE at the
 * CU's top level, types included: ~0.8 ms a lookup in a 4000-function CU
 * such as an SQLite amalgamation) and the symbol table (dwfl_module_addrname
 * reads every symbol, every time).
 */
#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

/* Files held open at once.  Each costs one or two descriptors (main file,
 * debug file) and whatever DWARF has been decoded so far. */
#define SYM_MAX_FILES 64

/* How often a cached file is checked against the disk, in nanoseconds.
 * Often enough that a rebuilt program or upgraded library is noticed
 * between two batches of stacks, rarely enough that resolving thousands of
 * PCs in a row does not stat the file thousands of times. */
#define SYM_RECHECK_NS 1000000000ll

/* Executable segments remembered per file; more are ignored (ELF files
 * have one or two). */
#define SYM_MAX_EXEC 8

/* DIE nesting the scope walk follows; deeper is malformed DWARF, and the
 * walk is recursive. */
#define SYM_MAX_DEPTH 256

/* One address range of a top-level function DIE. */
struct fn_range {
	Dwarf_Addr lo, hi;
	Dwarf_Die die;
};

/* The functions of one CU, by address. */
struct cu_fns {
	Dwarf_Off cu;              /* the CU DIE's offset: the key */
	struct fn_range *fns;
	size_t n;
};

/* A code symbol from the symbol table, by address. */
struct sym_ent {
	Dwarf_Addr lo, hi;
	const char *name;          /* owned by the Dwfl */
	int rank;                  /* which of several at one address wins */
};

struct sym_file {
	char *path;
	uint64_t hash;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf_Addr exec[SYM_MAX_EXEC][2]; /* executable PT_LOAD ranges */
	int nexec;
	unsigned char *bid;        /* build id (malloc'd); NULL: none */
	size_t bid_len;
	dev_t dev;                 /* identity on disk when opened */
	ino_t ino;
	off_t size;
	struct timespec mtime;
	long long checked_ns;      /* last compared with the disk */
	uint64_t used;             /* LRU clock */
	struct cu_fns *cus;        /* indexed CUs, sorted by offset */
	size_t ncus, cus_cap;
	struct sym_ent *syms;      /* code symbols, sorted by address */
	size_t nsyms;
	int syms_loaded;
};

struct fl_symbolizer {
	struct sym_file files[SYM_MAX_FILES];
	int nfiles;
	uint64_t clock;
	/* What files age by (fl_sym_set_clock); NULL: the coarse monotonic clock. */
	uint64_t (*now)(void *arg);
	void *now_arg;
	/* The scope walk's result, reused between calls: subprogram and
	 * inlined-subroutine DIEs containing the address, outermost first. */
	Dwarf_Die *chain;
	size_t nchain, chain_cap;
};

/* The standard callbacks look for debuginfo by build id under
 * /usr/lib/debug/.build-id, then by .gnu_debuglink next to the file, in
 * its .debug directory and under /usr/lib/debug (elfutils' default path,
 * used when debuginfo_path is NULL).  find_elf is never called for a
 * module reported with dwfl_report_elf, but the structure wants one. */
static const Dwfl_Callbacks sym_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = NULL,
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* One line: paths and libdwfl messages may hold newlines. */
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

static uint64_t hash_path(const char *p)
{
	uint64_t h = 1469598103934665603ull;
	while (*p)
		h = (h ^ (unsigned char)*p++) * 1099511628211ull;
	return h;
}

static long long now_ns(const struct fl_symbolizer *s)
{
	if (s->now)
		return (long long)s->now(s->now_arg);
	/* The coarse clock is a vDSO read: cheap enough to call per address. */
	return (long long)fl_clock_ns(CLOCK_MONOTONIC_COARSE);
}

static void hex(char *buf, size_t len, const unsigned char *b, size_t n)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && o + 3 <= len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%02x", b[i]);
}

static void file_close(struct sym_file *f)
{
	dwfl_end(f->dwfl); /* closes the descriptors the Dwfl holds */
	for (size_t i = 0; i < f->ncus; i++)
		free(f->cus[i].fns);
	free(f->cus);
	free(f->syms);
	free(f->bid);
	free(f->path);
	memset(f, 0, sizeof *f);
}

static int file_open(const struct fl_symbolizer *s, struct sym_file *f, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	memset(f, 0, sizeof *f);
	f->path = strdup(path);
	f->dwfl = f->path ? dwfl_begin(&sym_callbacks) : NULL;
	if (!f->dwfl) {
		seterr(err, errlen, "%s: out of memory", path);
		free(f->path);
		f->path = NULL;
		close(fd);
		return -1;
	}
	dwfl_report_begin(f->dwfl);
	/* Base 0 with add_p_vaddr: the module sits at the addresses its
	 * program headers name, which is what pc - load bias gives, for
	 * executables and shared objects (prelinked ones too) alike. */
	f->mod = dwfl_report_elf(f->dwfl, path, path, fd, 0, true);
	if (!f->mod) {
		/* The descriptor is the Dwfl's only when reporting worked. */
		seterr(err, errlen, "%s: %s", path, dwfl_errmsg(-1));
		close(fd);
		file_close(f);
		return -1;
	}
	if (dwfl_report_end(f->dwfl, NULL, NULL) != 0) {
		seterr(err, errlen, "%s: %s", path, dwfl_errmsg(-1));
		file_close(f);
		return -1;
	}
	/* Only code can be a PC.  Outside it the symbol table would still
	 * offer the nearest symbol: an absolute version symbol at 0, a data
	 * object, a linker warning in a non-loaded section. */
	GElf_Addr ebias;
	Elf *elf = dwfl_module_getelf(f->mod, &ebias);
	size_t nph = 0;
	if (elf && elf_getphdrnum(elf, &nph) == 0)
		for (size_t i = 0; i < nph && f->nexec < SYM_MAX_EXEC; i++) {
			GElf_Phdr mem, *ph = gelf_getphdr(elf, (int)i, &mem);
			if (ph && ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && ph->p_memsz) {
				f->exec[f->nexec][0] = ph->p_vaddr + ebias;
				f->exec[f->nexec][1] = ph->p_vaddr + ebias + ph->p_memsz;
				f->nexec++;
			}
		}
	/* A copy, compared on every call, so that checking a file that
	 * changed on disk never reads the old one's memory. */
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(f->mod, &bits, &vaddr);
	if (n > 0) {
		f->bid = malloc((size_t)n);
		if (!f->bid) {
			seterr(err, errlen, "%s: out of memory", path);
			file_close(f);
			return -1;
		}
		memcpy(f->bid, bits, (size_t)n);
		f->bid_len = (size_t)n;
	}
	f->hash = hash_path(path);
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	f->checked_ns = now_ns(s);
	return 0;
}

/* Whether addr lies in one of f's executable segments. */
static int in_code(const struct sym_file *f, uint64_t addr)
{
	for (int i = 0; i < f->nexec; i++)
		if (addr >= f->exec[i][0] && addr < f->exec[i][1])
			return 1;
	return 0;
}

/* Whether the file at f->path is still the one f holds open. */
static int file_unchanged(const struct sym_file *f)
{
	struct stat st;
	if (stat(f->path, &st) != 0)
		return 0;
	return st.st_dev == f->dev && st.st_ino == f->ino && st.st_size == f->size &&
	       st.st_mtim.tv_sec == f->mtime.tv_sec && st.st_mtim.tv_nsec == f->mtime.tv_nsec;
}

static int same_id(const struct sym_file *f, const uint8_t *id, size_t len)
{
	return f->bid_len == len && memcmp(f->bid, id, len) == 0;
}

/* A free slot, or the least recently used one closed. */
static struct sym_file *file_slot(struct fl_symbolizer *s)
{
	if (s->nfiles < SYM_MAX_FILES)
		return &s->files[s->nfiles++];
	struct sym_file *f = &s->files[0];
	for (int i = 1; i < s->nfiles; i++)
		if (s->files[i].used < f->used)
			f = &s->files[i];
	file_close(f);
	return f;
}

/* Give back a slot file_slot handed out and left closed. */
static void file_unslot(struct fl_symbolizer *s, struct sym_file *f)
{
	struct sym_file *last = &s->files[s->nfiles - 1];
	if (f != last)
		*f = *last; /* keep the table dense */
	memset(last, 0, sizeof *last);
	s->nfiles--;
}

/*
 * The open file to resolve in for path, opening it if needed, or NULL
 * with err set.  Its build id may differ from the one asked for: the
 * caller checks.
 *
 * One path can have several entries: a process still running the old
 * build of a library that was upgraded under it names the old build id,
 * and the entry opened before the upgrade serves it, while processes
 * started since name the new one, which a second entry serves.  So an
 * entry with the build id asked for is used whatever the disk holds now.
 * Without a build id the newest entry is used, reopened when the file
 * changed on disk (checked at most every SYM_RECHECK_NS), and kept when
 * the file is gone.
 */
static struct sym_file *file_get(struct fl_symbolizer *s, const char *path, const uint8_t *id, size_t idlen,
				 char *err, size_t errlen)
{
	uint64_t h = hash_path(path);
	struct sym_file *newest = NULL, *match = NULL;
	for (int i = 0; i < s->nfiles; i++) {
		struct sym_file *e = &s->files[i];
		if (e->hash != h || strcmp(e->path, path) != 0)
			continue;
		if (!newest || e->used > newest->used)
			newest = e;
		if (idlen && same_id(e, id, idlen) && (!match || e->used > match->used))
			match = e;
	}
	struct sym_file *f = match;
	if (!f && newest) {
		long long t = now_ns(s);
		if (!idlen && t - newest->checked_ns < SYM_RECHECK_NS) {
			f = newest;
		} else {
			newest->checked_ns = t;
			if (file_unchanged(newest))
				f = newest; /* with a build id: a real mismatch */
		}
		if (!f && !idlen) {
			/* Changed on disk: the new file replaces the entry,
			 * which is kept if the new one cannot be opened (a
			 * deleted file: what was there is the best guess). */
			struct sym_file tmp;
			if (file_open(s, &tmp, path, NULL, 0) == 0) {
				file_close(newest);
				*newest = tmp;
			}
			f = newest;
		}
	}
	if (!f) {
		f = file_slot(s);
		if (file_open(s, f, path, err, errlen) != 0) {
			file_unslot(s, f);
			return NULL;
		}
	}
	f->used = ++s->clock;
	return f;
}

struct fl_symbolizer *fl_sym_new(void)
{
	/* libdwfl needs libelf's version handshake done once per process;
	 * dwfl_begin does it, but say so rather than depend on that. */
	elf_version(EV_CURRENT);
	return calloc(1, sizeof(struct fl_symbolizer));
}

void fl_sym_set_clock(struct fl_symbolizer *s, uint64_t (*now)(void *arg), void *arg)
{
	s->now = now;
	s->now_arg = now ? arg : NULL;
}

void fl_sym_free(struct fl_symbolizer *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nfiles; i++)
		file_close(&s->files[i]);
	free(s->chain);
	free(s);
}

static int chain_push(struct fl_symbolizer *s, const Dwarf_Die *die)
{
	if (s->nchain == s->chain_cap) {
		size_t cap = s->chain_cap ? s->chain_cap * 2 : 16;
		Dwarf_Die *c = realloc(s->chain, cap * sizeof *c);
		if (!c)
			return -1;
		s->chain = c;
		s->chain_cap = cap;
	}
	s->chain[s->nchain++] = *die;
	return 0;
}

/* The next sibling of die, in place; 0 when there is one.  Refuses to go
 * backwards, so a corrupt DW_AT_sibling cannot make a loop. */
static int next_sibling(Dwarf_Die *die)
{
	void *at = die->addr;
	return dwarf_siblingof(die, die) == 0 && (char *)die->addr > (char *)at ? 0 : -1;
}

/*
 * Append to s->chain the subprogram and inlined-subroutine DIEs under
 * parent that contain pc, outermost first.  Returns -1 when out of memory.
 *
 * Not dwarf_getscopes: it stops at the innermost inlined instance and then
 * follows that instance's abstract origin (the scopes a debugger needs for
 * variables), so the callers of an inlined call are not in its answer; and
 * dwarf_getscopes_die would walk the whole CU again to find them.  Here
 * each level looks only at the children of the one DIE that matched.
 */
static int walk_scopes(struct fl_symbolizer *s, Dwarf_Die *parent, Dwarf_Addr pc, int depth)
{
	Dwarf_Die child;
	if (depth >= SYM_MAX_DEPTH || dwarf_child(parent, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);
		switch (tag) {
		case DW_TAG_subprogram: /* a nested function (GNU C) */
		case DW_TAG_inlined_subroutine:
		case DW_TAG_lexical_block:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
			if (dwarf_haspc(&child, pc) != 1)
				break;
			if ((tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) &&
			    chain_push(s, &child) != 0)
				return -1;
			return walk_scopes(s, &child, pc, depth + 1);
		default:
			break;
		}
	} while (next_sibling(&child) == 0);
	return 0;
}

static int fn_push(struct fn_range **v, size_t *n, size_t *cap, Dwarf_Addr lo, Dwarf_Addr hi,
		   const Dwarf_Die *die)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct fn_range *p = realloc(*v, c * sizeof *p);
		if (!p)
			return -1;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = (struct fn_range){lo, hi, *die};
	return 0;
}

/* Every address range of every function DIE at parent's top level, and
 * inside namespaces and modules (C++ and Fortran put functions there). */
static int collect_fns(Dwarf_Die *parent, struct fn_range **v, size_t *n, size_t *cap, int depth)
{
	Dwarf_Die child;
	if (depth >= SYM_MAX_DEPTH || dwarf_child(parent, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);
		if (tag == DW_TAG_subprogram) {
			/* Abstract definitions of inline functions have no
			 * ranges and add nothing; a function split into hot
			 * and cold parts adds both. */
			Dwarf_Addr base, lo, hi;
			ptrdiff_t off = 0;
			while ((off = dwarf_ranges(&child, off, &base, &lo, &hi)) > 0)
				if (lo < hi && fn_push(v, n, cap, lo, hi, &child) != 0)
					return -1;
		} else if (tag == DW_TAG_namespace || tag == DW_TAG_module) {
			if (collect_fns(&child, v, n, cap, depth + 1) != 0)
				return -1;
		}
	} while (next_sibling(&child) == 0);
	return 0;
}

static int fn_cmp(const void *a, const void *b)
{
	const struct fn_range *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	/* Then in DIE order: the first of several DIEs for one function
	 * (an assembler function and its alias) is the one kept. */
	return (char *)x->die.addr < (char *)y->die.addr ? -1 : (char *)x->die.addr > (char *)y->die.addr;
}

/* The function index of the CU, built on first use; NULL when out of
 * memory. */
static struct cu_fns *cu_fns_get(struct sym_file *f, Dwarf_Die *cu)
{
	Dwarf_Off key = dwarf_dieoffset(cu);
	size_t lo = 0, hi = f->ncus;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (f->cus[mid].cu < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < f->ncus && f->cus[lo].cu == key)
		return &f->cus[lo];

	if (f->ncus == f->cus_cap) {
		size_t c = f->cus_cap ? f->cus_cap * 2 : 16;
		struct cu_fns *p = realloc(f->cus, c * sizeof *p);
		if (!p)
			return NULL;
		f->cus = p;
		f->cus_cap = c;
	}
	struct fn_range *v = NULL;
	size_t n = 0, cap = 0;
	if (collect_fns(cu, &v, &n, &cap, 0) != 0) {
		free(v);
		return NULL;
	}
	qsort(v, n, sizeof *v, fn_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (m == 0 || v[m - 1].lo != v[i].lo)
			v[m++] = v[i];
	n = m;
	memmove(&f->cus[lo + 1], &f->cus[lo], (f->ncus - lo) * sizeof *f->cus);
	f->ncus++;
	f->cus[lo] = (struct cu_fns){key, v, n};
	return &f->cus[lo];
}

/* How far back from the last range starting at or before pc to look for
 * one containing it: ranges overlap only in odd DWARF. */
#define SYM_OVERLAP_LOOK 4

/*
 * Fill s->chain for pc (a DWARF address) in cu: the function containing
 * it, then the inlined calls and nested functions inside that contain it.
 * Returns -1 when out of memory; s->chain empty when no function does.
 */
static int function_chain(struct fl_symbolizer *s, struct sym_file *f, Dwarf_Die *cu, Dwarf_Addr pc)
{
	s->nchain = 0;
	struct cu_fns *c = cu_fns_get(f, cu);
	if (!c)
		return -1;
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c->fns[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, k = 0; i > 0 && k < SYM_OVERLAP_LOOK; i--, k++) {
		struct fn_range *r = &c->fns[i - 1];
		if (pc < r->hi) {
			Dwarf_Die die = r->die;
			if (chain_push(s, &die) != 0)
				return -1;
			return walk_scopes(s, &die, pc, 1);
		}
	}
	return 0;
}

/* Where the code holding addr ends: its executable section (so that a
 * sizeless _init does not swallow the .plt after it), or its segment in a
 * file without section headers. */
static Dwarf_Addr code_end(struct sym_file *f, Dwarf_Addr addr)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(f->mod, &bias);
	Elf_Scn *scn = NULL;
	while (elf && (scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr mem, *sh = gelf_getshdr(scn, &mem);
		if (sh && (sh->sh_flags & SHF_ALLOC) && (sh->sh_flags & SHF_EXECINSTR) &&
		    sh->sh_type != SHT_NOBITS && addr >= sh->sh_addr + bias &&
		    addr < sh->sh_addr + bias + sh->sh_size)
			return sh->sh_addr + bias + sh->sh_size;
	}
	for (int e = 0; e < f->nexec; e++)
		if (addr >= f->exec[e][0] && addr < f->exec[e][1])
			return f->exec[e][1];
	return addr + 1;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct sym_ent *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return y->rank - x->rank; /* the preferred first */
}

/* The code symbols of f's symbol table (.symtab, or .dynsym and
 * MiniDebugInfo, as libdwfl found them), sorted; -1 when out of memory. */
static int syms_load(struct sym_file *f)
{
	int n = dwfl_module_getsymtab(f->mod);
	f->syms_loaded = 1;
	if (n <= 0)
		return 0;
	f->syms = malloc((size_t)n * sizeof *f->syms);
	if (!f->syms)
		return -1;
	size_t k = 0;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(f->mod, i, &sym, &addr, &shndx, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
		/* Undefined symbols can carry the address of their PLT
		 * entry (in executables): not the function's code. */
		if (!name || !*name || shndx == SHN_UNDEF || !in_code(f, addr))
			continue;
		if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE)
			continue;
		/* Where several name one address: a function over an
		 * untyped label, a sized one over a sizeless one, global
		 * over weak over local (as libdwfl prefers). */
		int rank = (type != STT_NOTYPE) * 8 + (sym.st_size > 0) * 4 +
			   (bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0);
		f->syms[k++] = (struct sym_ent){addr, addr + sym.st_size, name, rank};
	}
	qsort(f->syms, k, sizeof *f->syms, sym_cmp);
	/* One entry per address; a sizeless symbol reaches the next one. */
	size_t m = 0;
	for (size_t i = 0; i < k; i++)
		if (m == 0 || f->syms[m - 1].lo != f->syms[i].lo)
			f->syms[m++] = f->syms[i];
	for (size_t i = 0; i < m; i++)
		if (f->syms[i].hi == f->syms[i].lo) {
			Dwarf_Addr end = code_end(f, f->syms[i].lo);
			if (i + 1 < m && f->syms[i + 1].lo < end)
				end = f->syms[i + 1].lo;
			f->syms[i].hi = end;
		}
	f->nsyms = m;
	return 0;
}

/* The symbol table's name for the code at addr, or NULL.  The same answer
 * as dwfl_module_addrname for code, by binary search. */
static const char *sym_name(struct sym_file *f, Dwarf_Addr addr)
{
	if (!f->syms_loaded && syms_load(f) != 0)
		return NULL;
	size_t lo = 0, hi = f->nsyms;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (f->syms[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, k = 0; i > 0 && k < SYM_OVERLAP_LOOK; i--, k++)
		if (addr < f->syms[i - 1].hi)
			return f->syms[i - 1].name;
	return NULL;
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute mem;
	/* An inlined instance or an out-of-line copy names itself through
	 * DW_AT_abstract_origin (or DW_AT_specification): follow them. */
	return dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &mem));
}

/* The caller's file and line an inlined-subroutine DIE records. */
static void call_site(Dwarf_Die *cu, Dwarf_Die *die, struct fl_sym_frame *fr)
{
	Dwarf_Attribute mem;
	Dwarf_Word idx, line;
	Dwarf_Files *files;
	size_t nfiles;

	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &mem), &line) == 0 && line <= INT32_MAX)
		fr->line = (int)line;
	/* DW_AT_call_file indexes the CU's line-table file list. */
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &mem), &idx) == 0 &&
	    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && idx < nfiles) {
		const char *name = dwarf_filesrc(files, idx, NULL, NULL);
		if (name)
			snprintf(fr->file, sizeof fr->file, "%s", name);
	}
}

static void frame_clear(struct fl_sym_frame *fr)
{
	fr->function[0] = 0;
	fr->file[0] = 0;
	fr->line = 0;
	fr->inlined = 0;
}

/* The line table's file and line for addr into fr; 1 if it had them. */
static int line_of(Dwfl_Module *mod, Dwarf_Addr addr, struct fl_sym_frame *fr)
{
	Dwfl_Line *l = dwfl_module_getsrc(mod, addr);
	int line = 0;
	const char *file = l ? dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL) : NULL;
	if (!file)
		return 0;
	snprintf(fr->file, sizeof fr->file, "%s", file);
	fr->line = line;
	return 1;
}

int fl_sym_resolve(struct fl_symbolizer *s, const char *path, const uint8_t *build_id, size_t build_id_len,
		   uint64_t addr, struct fl_sym_frame *out, int max, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = 0;
	if (!s || !path || !*path || max < 0 || (max > 0 && !out) || (build_id_len && !build_id)) {
		seterr(err, errlen, "fl_sym_resolve: bad arguments");
		return -1;
	}
	struct sym_file *f = file_get(s, path, build_id, build_id_len, err, errlen);
	if (!f)
		return -1;
	if (build_id_len && !same_id(f, build_id, build_id_len)) {
		/* Build ids are 20 bytes in practice; a longer one is shown
		 * cut at 64. */
		char have[129], want[129];
		hex(have, sizeof have, f->bid, f->bid_len);
		hex(want, sizeof want, build_id, build_id_len);
		seterr(err, errlen, "build id mismatch: %s has %s, expected %s", path, f->bid_len ? have : "none",
		       want);
		return -1;
	}
	if (max == 0 || !in_code(f, addr))
		return 0;

	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = dwfl_module_addrdie(f->mod, addr, &bias);
	s->nchain = 0;
	if (cu && function_chain(s, f, cu, addr - bias) < 0) {
		seterr(err, errlen, "%s: out of memory", path);
		return -1;
	}

	if (s->nchain == 0) {
		/* No function DIE (no DWARF, or an assembler CU with only a
		 * line table): the symbol table names it, the line table may
		 * still place it. */
		const char *name = sym_name(f, addr);
		if (!name)
			/* Padding between functions, typically: the line
			 * table may run over it, but no function owns it. */
			return 0;
		struct fl_sym_frame *fr = &out[0];
		frame_clear(fr);
		snprintf(fr->function, sizeof fr->function, "%s", name);
		if (cu)
			line_of(f->mod, addr, fr);
		return 1;
	}

	/* chain[k] is the innermost scope; frame i describes chain[k - i],
	 * at the line chain[k - i + 1] was called from (the address's own
	 * line for the innermost). */
	int k = (int)s->nchain - 1, n = 0;
	for (int i = 0; i <= k && n < max; i++, n++) {
		Dwarf_Die *die = &s->chain[k - i];
		struct fl_sym_frame *fr = &out[n];
		frame_clear(fr);
		const char *name = die_name(die);
		if (!name && i == k)
			/* The real function unnamed in DWARF (rare: an
			 * artificial DIE): the symbol table may know it. */
			name = sym_name(f, addr);
		if (name)
			snprintf(fr->function, sizeof fr->function, "%s", name);
		fr->inlined = dwarf_tag(die) == DW_TAG_inlined_subroutine;
		if (i == 0)
			line_of(f->mod, addr, fr);
		else
			call_site(cu, &s->chain[k - i + 1], fr);
	}
	return n;
}
