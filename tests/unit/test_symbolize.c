/*
 * Unit tests for the symbolizer (daemon/symbolize.c).  A fixture program
 * is compiled at test time with gcc -g -O2 from source written here, so its
 * lines are known; run, it prints the file addresses (return address - 1 -
 * load bias) of its own call sites, one of them inside two always_inline
 * functions from two headers, and the address of a noinline function.  The
 * symbolizer must name the function, file and line the source puts there,
 * inline chain included, for PIE and non-PIE, DWARF 4 and 5.  Then the
 * fallbacks and failures: DWARF stripped, separate debuginfo found by
 * .gnu_debuglink and (when libc6-dbg is installed) by build id under
 * /usr/lib/debug, build-id checks, missing, non-ELF and truncated files,
 * addresses outside code, the file cache's eviction and a file replaced on
 * disk.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <dlfcn.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runprog.h"
#include "symbolize.h"

/* The fixture.  Markers name the lines the tests expect; inner() and
 * outer() live in headers of their own so that a call-site file taken from
 * the wrong line-table entry shows.  twice() is on one line: which of its
 * lines gcc gives the entry address is gcc's choice. */
static const char fix_inner_h[] =
	"static inline __attribute__((always_inline)) void inner(void)\n"
	"{\n"
	"\tleaf(\"inl\"); /*@inner_call*/\n"
	"\t__asm__ volatile(\"\" ::: \"memory\");\n"
	"}\n";

static const char fix_outer_h[] =
	"#include \"inner.h\"\n"
	"static inline __attribute__((always_inline)) void outer(void)\n"
	"{\n"
	"\tinner(); /*@outer_call*/\n"
	"\t__asm__ volatile(\"\" ::: \"memory\");\n"
	"}\n";

static const char fix_c[] =
	"#define _GNU_SOURCE\n"
	"#include <link.h>\n"
	"#include <stdint.h>\n"
	"#include <stdio.h>\n"
	"static uintptr_t bias;\n"
	"int data_word = 1;\n"
	"static int first(struct dl_phdr_info *i, size_t n, void *d)\n"
	"{\n"
	"\t(void)n, (void)d;\n"
	"\tbias = i->dlpi_addr; /* the program is reported first */\n"
	"\treturn 1;\n"
	"}\n"
	"__attribute__((noinline)) void leaf(const char *tag)\n"
	"{\n"
	"\tuintptr_t ra = (uintptr_t)__builtin_return_address(0);\n"
	"\tprintf(\"%s %lx\\n\", tag, (unsigned long)(ra - 1 - bias));\n"
	"\t__asm__ volatile(\"\" ::: \"memory\");\n"
	"}\n"
	"#include \"outer.h\"\n"
	"__attribute__((noinline, aligned(16 << 8 * VARIANT))) int twice(int x) { return 2 * x + VARIANT; } /*@twice*/\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"\t(void)argv;\n"
	"\tdl_iterate_phdr(first, NULL);\n"
	"\touter(); /*@main_call*/\n"
	"\tleaf(\"plain\"); /*@plain_call*/\n"
	"\tprintf(\"twice %lx\\n\", (unsigned long)((uintptr_t)twice - bias));\n"
	"\tprintf(\"data %lx\\n\", (unsigned long)((uintptr_t)&data_word - bias));\n"
	"\treturn twice(argc) == 2 * argc + VARIANT ? 0 : 1;\n"
	"}\n";

struct fixture {
	char dir[64];
	char src[128], inner_h[128], outer_h[128];
	char bin[128];
	uint64_t inl, plain, twice, data; /* file addresses the program printed */
};

static struct fixture fx;

static void make_dir(void)
{
	snprintf(fx.dir, sizeof fx.dir, "/tmp/fl-sym-XXXXXX");
	cr_assert_not_null(mkdtemp(fx.dir));
}

static void remove_dir(void)
{
	char *argv[] = {"rm", "-rf", fx.dir, NULL};
	struct run_result r;
	run_to(argv, NULL, "/dev/null", NULL, &r);
}

TestSuite(symbolize, .init = make_dir, .fini = remove_dir, .timeout = 120);

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

/* Run argv; fail the test, with its stderr, unless it exits 0. */
static void run_ok(char *const argv[], const char *out)
{
	static struct run_result r;
	run_to(argv, NULL, out ? out : "/dev/null", NULL, &r);
	cr_assert_eq(r.status, 0, "%s failed (%d): %s", argv[0], r.status, r.err);
}

static int marker_line(const char *src, const char *marker)
{
	int line = 1;
	const char *m = strstr(src, marker);
	cr_assert_not_null(m, "no marker %s", marker);
	for (const char *p = src; p < m; p++)
		line += *p == '\n';
	return line;
}

/*
 * Build the fixture into fx.dir as name with the extra gcc flags (a
 * NULL-terminated list), run it and read the addresses it prints.
 */
static void build(const char *name, const char *const *flags)
{
	snprintf(fx.src, sizeof fx.src, "%s/fix.c", fx.dir);
	snprintf(fx.inner_h, sizeof fx.inner_h, "%s/inner.h", fx.dir);
	snprintf(fx.outer_h, sizeof fx.outer_h, "%s/outer.h", fx.dir);
	snprintf(fx.bin, sizeof fx.bin, "%s/%s", fx.dir, name);
	write_file(fx.src, fix_c, strlen(fix_c));
	write_file(fx.inner_h, fix_inner_h, strlen(fix_inner_h));
	write_file(fx.outer_h, fix_outer_h, strlen(fix_outer_h));

	char *argv[32];
	int n = 0;
	argv[n++] = "gcc";
	argv[n++] = "-g";
	argv[n++] = "-O2";
	for (int i = 0; flags && flags[i]; i++)
		argv[n++] = (char *)flags[i];
	argv[n++] = "-o";
	argv[n++] = fx.bin;
	argv[n++] = fx.src;
	argv[n] = NULL;
	run_ok(argv, NULL);

	char out[160];
	snprintf(out, sizeof out, "%s.addrs", fx.bin);
	char *run[] = {fx.bin, NULL};
	run_ok(run, out);
	FILE *f = fopen(out, "r");
	cr_assert_not_null(f);
	char tag[16];
	unsigned long a;
	int seen = 0;
	while (fscanf(f, "%15s %lx", tag, &a) == 2) {
		if (!strcmp(tag, "inl"))
			fx.inl = a, seen |= 1;
		else if (!strcmp(tag, "plain"))
			fx.plain = a, seen |= 2;
		else if (!strcmp(tag, "twice"))
			fx.twice = a, seen |= 4;
		else if (!strcmp(tag, "data"))
			fx.data = a, seen |= 8;
	}
	fclose(f);
	cr_assert_eq(seen, 15, "fixture printed %#x of its addresses", seen);
}

static const char *const default_flags[] = {"-DVARIANT=0", NULL};

static size_t build_id_of(const char *path, uint8_t *id, size_t len)
{
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	elf_version(EV_CURRENT);
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	cr_assert_not_null(elf);
	const void *bits;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &bits);
	cr_assert_gt(n, 0, "%s has no build id", path);
	cr_assert_leq((size_t)n, len);
	memcpy(id, bits, (size_t)n);
	elf_end(elf);
	close(fd);
	return (size_t)n;
}

static void expect_frame(const struct fl_sym_frame *fr, const char *fn, const char *file, int line, int inlined)
{
	cr_expect_str_eq(fr->function, fn);
	cr_expect_str_eq(fr->file, file);
	cr_expect_eq(fr->line, line, "%s: line %d, expected %d", fn, fr->line, line);
	cr_expect_eq(fr->inlined, inlined, "%s: inlined %d", fn, fr->inlined);
}

static int resolve(struct fl_symbolizer *s, const char *path, uint64_t addr, struct fl_sym_frame *out, int max)
{
	char err[256];
	int n = fl_sym_resolve(s, path, NULL, 0, addr, out, max, err, sizeof err);
	cr_assert_geq(n, 0, "%s at %#lx: %s", path, (unsigned long)addr, err);
	return n;
}

/* inner inlined into outer inlined into main: three frames, each at the
 * line of the call into the next inner one. */
static void check_chain(const char *path, const char *debug)
{
	struct fl_symbolizer *s = fl_sym_new();
	struct fl_sym_frame fr[8];
	int n = resolve(s, path, fx.inl, fr, 8);
	cr_assert_eq(n, 3, "%s: %d frames", debug, n);
	expect_frame(&fr[0], "inner", fx.inner_h, marker_line(fix_inner_h, "@inner_call"), 1);
	expect_frame(&fr[1], "outer", fx.outer_h, marker_line(fix_outer_h, "@outer_call"), 1);
	expect_frame(&fr[2], "main", fx.src, marker_line(fix_c, "@main_call"), 0);

	n = resolve(s, path, fx.plain, fr, 8);
	cr_assert_eq(n, 1);
	expect_frame(&fr[0], "main", fx.src, marker_line(fix_c, "@plain_call"), 0);

	n = resolve(s, path, fx.twice, fr, 8);
	cr_assert_eq(n, 1);
	expect_frame(&fr[0], "twice", fx.src, marker_line(fix_c, "@twice"), 0);
	fl_sym_free(s);
}

Test(symbolize, inline_chain_pie)
{
	build("fix", default_flags);
	check_chain(fx.bin, "pie");
}

Test(symbolize, inline_chain_no_pie)
{
	const char *const flags[] = {"-DVARIANT=0", "-no-pie", NULL};
	build("fix", flags);
	check_chain(fx.bin, "no-pie");
}

/* DWARF 4 numbers the line table's files from 1, DWARF 5 from 0: the call
 * sites' DW_AT_call_file must be read either way. */
Test(symbolize, inline_chain_dwarf4)
{
	const char *const flags[] = {"-DVARIANT=0", "-gdwarf-4", NULL};
	build("fix", flags);
	check_chain(fx.bin, "dwarf4");
}

Test(symbolize, max_keeps_the_innermost_frames)
{
	build("fix", default_flags);
	struct fl_symbolizer *s = fl_sym_new();
	struct fl_sym_frame fr[3];
	memset(fr, 0x5a, sizeof fr);
	cr_assert_eq(resolve(s, fx.bin, fx.inl, fr, 1), 1);
	expect_frame(&fr[0], "inner", fx.inner_h, marker_line(fix_inner_h, "@inner_call"), 1);
	cr_expect_eq(fr[1].line, 0x5a5a5a5a, "frame past max written");
	cr_assert_eq(resolve(s, fx.bin, fx.inl, fr, 2), 2);
	expect_frame(&fr[1], "outer", fx.outer_h, marker_line(fix_outer_h, "@outer_call"), 1);
	cr_assert_eq(resolve(s, fx.bin, fx.inl, NULL, 0), 0);
	fl_sym_free(s);
}

/* The cached file answers the same as the first lookup, however often. */
Test(symbolize, repeated_lookups_agree)
{
	build("fix", default_flags);
	struct fl_symbolizer *s = fl_sym_new();
	for (int i = 0; i < 2000; i++) {
		struct fl_sym_frame fr[4];
		uint64_t a = i % 2 ? fx.inl : fx.twice;
		int n = resolve(s, fx.bin, a, fr, 4);
		cr_assert_eq(n, i % 2 ? 3 : 1);
		cr_assert_str_eq(fr[n - 1].function, i % 2 ? "main" : "twice");
	}
	fl_sym_free(s);
}

/*
 * Many functions in one CU, each on a line of its own, with types between
 * them: every function's address inside it resolves to it (the per-CU
 * function index and the symbol-table index are binary searches), with
 * DWARF and, stripped, from the symbol table.
 */
Test(symbolize, many_functions_in_one_cu)
{
	enum { NFN = 400 };
	char path[160], bin[160], stripped[160];
	snprintf(path, sizeof path, "%s/many.c", fx.dir);
	snprintf(bin, sizeof bin, "%s/many", fx.dir);
	snprintf(stripped, sizeof stripped, "%s/many.stripped", fx.dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "#define _GNU_SOURCE\n#include <stdio.h>\n#include <stdint.h>\n#include <link.h>\n"
		   "static uintptr_t bias;\n"
		   "static int first(struct dl_phdr_info *i, size_t n, void *d) { bias = i->dlpi_addr; return 1; }\n"
		   "volatile int sink;\n");
	int first_line = 8;
	for (int i = 0; i < NFN; i++)
		fprintf(f, "struct t%d { int a[%d]; }; __attribute__((noinline)) void fn%d(int x) "
			   "{ struct t%d t = {{x}}; sink += t.a[0] * %d; }\n",
			i, i % 5 + 1, i, i, i + 1);
	fprintf(f, "int main(void)\n{\n\tdl_iterate_phdr(first, NULL);\n");
	for (int i = 0; i < NFN; i++)
		fprintf(f, "\tfn%d(%d); printf(\"%%lx\\n\", (unsigned long)((uintptr_t)fn%d - bias));\n", i, i, i);
	fprintf(f, "\treturn 0;\n}\n");
	cr_assert_eq(fclose(f), 0);

	char *cc[] = {"gcc", "-g", "-O2", "-o", bin, path, NULL};
	run_ok(cc, NULL);
	char out[176];
	snprintf(out, sizeof out, "%s.addrs", bin);
	char *run[] = {bin, NULL};
	run_ok(run, out);
	char *strip[] = {"strip", "-g", "-o", stripped, bin, NULL};
	run_ok(strip, NULL);

	static uint64_t addr[NFN];
	f = fopen(out, "r");
	cr_assert_not_null(f);
	for (int i = 0; i < NFN; i++) {
		unsigned long a;
		cr_assert_eq(fscanf(f, "%lx", &a), 1);
		addr[i] = a;
	}
	fclose(f);

	struct fl_symbolizer *s = fl_sym_new();
	struct fl_sym_frame fr[4];
	char name[32];
	/* Backwards, so the lookups do not follow the order of the code. */
	for (int i = NFN - 1; i >= 0; i--) {
		snprintf(name, sizeof name, "fn%d", i);
		/* The entry address and a byte in: both sides of the
		 * indexes' boundaries. */
		uint64_t a = addr[i] + (uint64_t)(i % 2);
		cr_assert_eq(resolve(s, bin, a, fr, 4), 1, "%s", name);
		expect_frame(&fr[0], name, path, first_line + i, 0);
		cr_assert_eq(resolve(s, stripped, a, fr, 4), 1, "%s", name);
		expect_frame(&fr[0], name, "", 0, 0);
	}
	fl_sym_free(s);
}

/* strip -g keeps .symtab: the function's name, no file or line. */
Test(symbolize, stripped_falls_back_to_the_symbol_table)
{
	build("fix", default_flags);
	char stripped[160];
	snprintf(stripped, sizeof stripped, "%s.stripped", fx.bin);
	char *argv[] = {"strip", "-g", "-o", stripped, fx.bin, NULL};
	run_ok(argv, NULL);

	struct fl_symbolizer *s = fl_sym_new();
	struct fl_sym_frame fr[4];
	cr_assert_eq(resolve(s, stripped, fx.twice, fr, 4), 1);
	expect_frame(&fr[0], "twice", "", 0, 0);
	/* Inlined code is main's, as far as the symbol table knows. */
	cr_assert_eq(resolve(s, stripped, fx.inl, fr, 4), 1);
	expect_frame(&fr[0], "main", "", 0, 0);
	fl_sym_free(s);
}

/* DWARF moved to a separate file the stripped one names in
 * .gnu_debuglink, next to it: found through the standard callbacks. */
Test(symbolize, separate_debuginfo_by_debuglink)
{
	build("fix", default_flags);
	char dbg[160], stripped[160];
	snprintf(dbg, sizeof dbg, "%s.debug", fx.bin);
	snprintf(stripped, sizeof stripped, "%s.run", fx.bin);
	char *keep[] = {"objcopy", "--only-keep-debug", fx.bin, dbg, NULL};
	char *strip[] = {"strip", "-g", "-o", stripped, fx.bin, NULL};
	char *link[] = {"objcopy", "--add-gnu-debuglink", dbg, stripped, NULL};
	run_ok(keep, NULL);
	run_ok(strip, NULL);
	run_ok(link, NULL); /* records the base name, and dbg's CRC */
	check_chain(stripped, "debuglink");
}

/* Debian's -dbgsym / -dbg packages: /usr/lib/debug/.build-id/xx/rest.debug.
 * libc6-dbg is what a test machine is likely to have; skip without it. */
Test(symbolize, separate_debuginfo_by_build_id)
{
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	cr_assert_not_null(h);
	void *fn = dlsym(h, "getenv");
	struct link_map *lm;
	cr_assert_not_null(fn);
	cr_assert_eq(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
	char libc[512];
	cr_assert_not_null(realpath(lm->l_name, libc));

	uint8_t id[64];
	size_t idlen = build_id_of(libc, id, sizeof id);
	char debug[128];
	int o = snprintf(debug, sizeof debug, "/usr/lib/debug/.build-id/%02x/", id[0]);
	for (size_t i = 1; i < idlen; i++)
		o += snprintf(debug + o, sizeof debug - (size_t)o, "%02x", id[i]);
	snprintf(debug + o, sizeof debug - (size_t)o, ".debug");
	if (access(debug, R_OK) != 0) {
		dlclose(h);
		cr_skip_test("no %s (libc6-dbg not installed)", debug);
	}

	struct fl_symbolizer *s = fl_sym_new();
	struct fl_sym_frame fr[8];
	char err[256];
	uint64_t addr = (uintptr_t)fn - lm->l_addr;
	int n = fl_sym_resolve(s, libc, id, idlen, addr, fr, 8, err, sizeof err);
	cr_assert_eq(n, 1, "%d frames: %s", n, err);
	cr_expect_str_eq(fr[0].function, "getenv");
	size_t l = strlen(fr[0].file);
	cr_expect(l >= 8 && !strcmp(fr[0].file + l - 8, "getenv.c"), "file %s", fr[0].file);
	cr_expect_gt(fr[0].line, 0);
	fl_sym_free(s);
	dlclose(h);
}

Test(symbolize, build_id_checked)
{
	build("fix", default_flags);
	uint8_t id[64], wrong[64];
	size_t idlen = build_id_of(fx.bin, id, sizeof id);
	memcpy(wrong, id, idlen);
	wrong[idlen - 1] ^= 1;

	struct fl_symbolizer *s = fl_sym_new();
	struct fl_sym_frame fr[4];
	char err[256];
	cr_assert_eq(fl_sym_resolve(s, fx.bin, id, idlen, fx.twice, fr, 4, err, sizeof err), 1, "%s", err);
	cr_expect_str_eq(fr[0].function, "twice");

	cr_assert_eq(fl_sym_resolve(s, fx.bin, wrong, idlen, fx.twice, fr, 4, err, sizeof err), -1);
	cr_expect_eq(strncmp(err, "build id mismatch: ", 19), 0, "err: %s", err);
	cr_expect_null(strchr(err, '\n'));
	/* A prefix of the right id is not the id. */
	cr_assert_eq(fl_sym_resolve(s, fx.bin, id, idlen - 1, fx.twice, fr, 4, err, sizeof err), -1);
	cr_expect_eq(strncmp(err, "build id mismatch: ", 19), 0, "err: %s", err);
	/* The refusals left the cached file usable. */
	cr_assert_eq(fl_sym_resolve(s, fx.bin, id, idlen, fx.inl, fr, 4, err, sizeof err), 3, "%s", err);
	fl_sym_free(s);
}

/* A file without a build id matches no id, and still resolves without one. */
Test(symbolize, no_build_id)
{
	const char *const flags[] = {"-DVARIANT=0", "-Wl,--build-id=none", NULL};
	build("fix", flags);
	uint8_t id[20] = {1, 2, 3};
	struct fl_symbolizer *s = fl_sym_new();
	struct fl_sym_frame fr[4];
	char err[256];
	cr_assert_eq(fl_sym_resolve(s, fx.bin, id, sizeof id, fx.twice, fr, 4, err, sizeof err), -1);
	cr_expect(strstr(err, "build id mismatch: ") == err && strstr(err, "none"), "err: %s", err);
	cr_assert_eq(fl_sym_resolve(s, fx.bin, NULL, 0, fx.twice, fr, 4, err, sizeof err), 1, "%s", err);
	fl_sym_free(s);
}

static void expect_fails(struct fl_symbolizer *s, const char *path, const char *why)
{
	struct fl_sym_frame fr[4];
	char err[256] = "unset";
	cr_assert_eq(fl_sym_resolve(s, path, NULL, 0, 0x1000, fr, 4, err, sizeof err), -1, "%s", path);
	cr_expect_neq(strstr(err, path), NULL, "err: %s", err);
	cr_expect_neq(strstr(err, why), NULL, "err: %s, expected %s", err, why);
	cr_expect_null(strchr(err, '\n'));
}

Test(symbolize, bad_files_fail_with_a_message)
{
	struct fl_symbolizer *s = fl_sym_new();
	char path[160];

	snprintf(path, sizeof path, "%s/missing", fx.dir);
	expect_fails(s, path, "No such file or directory");
	expect_fails(s, fx.dir, "not a regular file");

	snprintf(path, sizeof path, "%s/text", fx.dir);
	write_file(path, fix_c, strlen(fix_c));
	expect_fails(s, path, "not a valid ELF file");

	snprintf(path, sizeof path, "%s/empty", fx.dir);
	write_file(path, "", 0);
	expect_fails(s, path, "not a valid ELF file");

	/* An ELF header and nothing after it. */
	build("fix", default_flags);
	static char head[64];
	FILE *f = fopen(fx.bin, "r");
	cr_assert_eq(fread(head, 1, sizeof head, f), sizeof head);
	fclose(f);
	snprintf(path, sizeof path, "%s/truncated", fx.dir);
	write_file(path, head, sizeof head);
	expect_fails(s, path, ""); /* libelf's words vary */

	/* Failures cache nothing: the good file still resolves. */
	struct fl_sym_frame fr[4];
	cr_assert_eq(resolve(s, fx.bin, fx.inl, fr, 4), 3);
	fl_sym_free(s);
}

/* Cut at every 512 bytes the file is still a prefix of an ELF file; whatever
 * the symbolizer makes of it, it must not crash or report garbage frames. */
Test(symbolize, truncated_files_never_crash)
{
	build("fix", default_flags);
	struct stat st;
	cr_assert_eq(stat(fx.bin, &st), 0);
	char *data = malloc((size_t)st.st_size);
	FILE *f = fopen(fx.bin, "r");
	cr_assert_eq(fread(data, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);

	struct fl_symbolizer *s = fl_sym_new();
	char path[160];
	for (off_t cut = 512; cut < st.st_size; cut += 512) {
		snprintf(path, sizeof path, "%s/cut%ld", fx.dir, (long)cut);
		write_file(path, data, (size_t)cut);
		struct fl_sym_frame fr[4];
		char err[256];
		uint64_t addrs[] = {fx.inl, fx.twice, 0};
		for (int i = 0; i < 3; i++) {
			int n = fl_sym_resolve(s, path, NULL, 0, addrs[i], fr, 4, err, sizeof err);
			cr_assert(n >= -1 && n <= 4);
			for (int k = 0; k < n; k++)
				cr_assert(memchr(fr[k].function, 0, sizeof fr[k].function) &&
					  memchr(fr[k].file, 0, sizeof fr[k].file));
		}
		unlink(path);
	}
	fl_sym_free(s);
	free(data);
}

/* Only code holds PCs: the ELF header, data and the far end say 0. */
Test(symbolize, addresses_outside_code_resolve_to_nothing)
{
	build("fix", default_flags);
	struct fl_symbolizer *s = fl_sym_new();
	struct fl_sym_frame fr[4];
	cr_expect_eq(resolve(s, fx.bin, 0, fr, 4), 0);
	cr_expect_eq(resolve(s, fx.bin, fx.data, fr, 4), 0);
	cr_expect_eq(resolve(s, fx.bin, 0x7fffffffffffull, fr, 4), 0);
	cr_expect_eq(resolve(s, fx.bin, ~0ull, fr, 4), 0);
	fl_sym_free(s);
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* More files than the cache holds: the least recently used are closed,
 * reopened on demand, and nothing is left open afterwards. */
Test(symbolize, cache_evicts_and_closes)
{
	build("fix", default_flags);
	int fds = count_fds();
	struct fl_symbolizer *s = fl_sym_new();
	enum { NLINKS = 150 };
	char path[160];
	struct fl_sym_frame fr[4];
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < NLINKS; i++) {
			/* Distinct paths to one file: distinct cache entries. */
			snprintf(path, sizeof path, "%s/link%d", fx.dir, i);
			if (round == 0)
				cr_assert_eq(symlink(fx.bin, path), 0);
			cr_assert_eq(resolve(s, path, fx.inl, fr, 4), 3);
			cr_assert_str_eq(fr[2].function, "main");
			/* Keep link0 the most recently used: it stays open. */
			snprintf(path, sizeof path, "%s/link0", fx.dir);
			cr_assert_eq(resolve(s, path, fx.twice, fr, 4), 1);
		}
	cr_expect_lt(count_fds(), fds + NLINKS / 2, "descriptors held: %d", count_fds() - fds);
	fl_sym_free(s);
	cr_expect_eq(count_fds(), fds);
}

/* Two builds of the fixture, A and B, whose twice() sits at different
 * addresses (B aligns it to 4 KiB), and a path holding A. */
struct two_builds {
	char a[160], b[160], path[160];
	uint64_t twice_a, twice_b;
	uint8_t ida[64], idb[64];
	size_t la, lb;
};

static void two_builds(struct two_builds *t)
{
	build("a", default_flags);
	snprintf(t->a, sizeof t->a, "%s", fx.bin);
	t->twice_a = fx.twice;
	const char *const flags_b[] = {"-DVARIANT=1", NULL};
	build("b", flags_b);
	snprintf(t->b, sizeof t->b, "%s", fx.bin);
	t->twice_b = fx.twice;
	cr_assert_neq(t->twice_a, t->twice_b);
	t->la = build_id_of(t->a, t->ida, sizeof t->ida);
	t->lb = build_id_of(t->b, t->idb, sizeof t->idb);
	cr_assert(t->la != t->lb || memcmp(t->ida, t->idb, t->la) != 0);
	snprintf(t->path, sizeof t->path, "%s/prog", fx.dir);
	cr_assert_eq(link(t->a, t->path), 0);
}

/* Replace t->path with B the way package managers do: rename over it. */
static void install_b(struct two_builds *t)
{
	char tmp[176];
	snprintf(tmp, sizeof tmp, "%s.new", t->path);
	cr_assert_eq(link(t->b, tmp), 0);
	cr_assert_eq(rename(tmp, t->path), 0);
}

static int twice_at(struct fl_symbolizer *s, const char *path, const uint8_t *id, size_t idlen, uint64_t addr)
{
	struct fl_sym_frame fr[4];
	char err[256];
	int n = fl_sym_resolve(s, path, id, idlen, addr, fr, 4, err, sizeof err);
	if (n < 0)
		cr_expect_eq(strncmp(err, "build id mismatch: ", 19), 0, "err: %s", err);
	return n == 1 && !strcmp(fr[0].function, "twice");
}

/*
 * A library upgraded under running processes: those started before name
 * the old build id and are served by the file opened before the upgrade,
 * those started after name the new one, which is opened.  A symbolizer
 * that never saw the old file can only refuse it.
 */
Test(symbolize, replaced_file_old_and_new_build)
{
	struct two_builds t;
	two_builds(&t);
	struct fl_symbolizer *s = fl_sym_new();
	cr_assert(twice_at(s, t.path, t.ida, t.la, t.twice_a));
	install_b(&t);
	cr_expect(twice_at(s, t.path, t.idb, t.lb, t.twice_b));
	cr_expect(twice_at(s, t.path, t.ida, t.la, t.twice_a));
	cr_expect(twice_at(s, t.path, t.idb, t.lb, t.twice_b));
	fl_sym_free(s);

	s = fl_sym_new();
	struct fl_sym_frame fr[4];
	char err[256];
	cr_expect_eq(fl_sym_resolve(s, t.path, t.ida, t.la, t.twice_a, fr, 4, err, sizeof err), -1);
	cr_expect_eq(strncmp(err, "build id mismatch: ", 19), 0, "err: %s", err);
	fl_sym_free(s);
}

/* A clock the test moves: the symbolizer ages its files by it. */
static uint64_t test_clock(void *arg)
{
	return *(const uint64_t *)arg;
}

#define MS 1000000ull

/* Without build ids a replaced file is noticed within a second (the
 * recheck interval), and a deleted one goes on being served.  The
 * symbolizer's clock is the test's, moved on instead of slept through. */
Test(symbolize, replaced_file_without_build_id)
{
	struct two_builds t;
	two_builds(&t);
	struct fl_symbolizer *s = fl_sym_new();
	uint64_t now = 1000000 * MS;
	fl_sym_set_clock(s, test_clock, &now);
	cr_assert(twice_at(s, t.path, NULL, 0, t.twice_a));
	install_b(&t);
	/* Within the interval the file opened before serves, unchecked. */
	now += 900 * MS;
	cr_expect(twice_at(s, t.path, NULL, 0, t.twice_a));
	now += 200 * MS;
	cr_expect(twice_at(s, t.path, NULL, 0, t.twice_b));
	cr_assert_eq(unlink(t.path), 0);
	now += 1100 * MS;
	cr_expect(twice_at(s, t.path, NULL, 0, t.twice_b));
	fl_sym_free(s);
}

Test(symbolize, bad_arguments)
{
	struct fl_symbolizer *s = fl_sym_new();
	struct fl_sym_frame fr[1];
	char err[8];
	cr_expect_eq(fl_sym_resolve(NULL, "/bin/sh", NULL, 0, 0x1000, fr, 1, err, sizeof err), -1);
	cr_expect_eq(fl_sym_resolve(s, NULL, NULL, 0, 0x1000, fr, 1, err, sizeof err), -1);
	cr_expect_eq(fl_sym_resolve(s, "", NULL, 0, 0x1000, fr, 1, err, sizeof err), -1);
	cr_expect_eq(fl_sym_resolve(s, "/bin/sh", NULL, 0, 0x1000, NULL, 1, err, sizeof err), -1);
	cr_expect_eq(fl_sym_resolve(s, "/bin/sh", NULL, 0, 0x1000, fr, -1, err, sizeof err), -1);
	cr_expect_eq(fl_sym_resolve(s, "/bin/sh", NULL, 4, 0x1000, fr, 1, err, sizeof err), -1);
	/* A short buffer gets the message's start, terminated. */
	cr_expect_eq(fl_sym_resolve(s, "/nonexistent/x", NULL, 0, 0x1000, fr, 1, err, sizeof err), -1);
	cr_expect_str_eq(err, "/nonexi");
	cr_expect_eq(fl_sym_resolve(s, "/nonexistent/x", NULL, 0, 0x1000, fr, 1, NULL, 0), -1);
	fl_sym_free(s);
	fl_sym_free(NULL);
}
