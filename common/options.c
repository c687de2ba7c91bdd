/*
 * The settings table and the one parser that reads it (see options.h).
 * Every default, range and accepted-values message comes from a row, so
 * the shim, the launcher, --help and the README cannot disagree.
 */
#include "options.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>

#define F(member) offsetof(struct fl_settings, member), sizeof(((struct fl_settings *)0)->member)

/* FAULTLINE_ALLOC_SAMPLE: off, or a size. */
static const struct fl_opt_word off_only[] = {{"off", 0}, {NULL, 0}};
static const struct fl_opt_word compressors[] = {
	{"lz4", FL_COMP_LZ4}, {"zstd", FL_COMP_ZSTD}, {NULL, 0}};
static const struct fl_opt_word engines[] = {
	{"auto", FL_ENGINE_CHOICE_AUTO}, {"uffd", FL_ENGINE_CHOICE_UFFD},
	{"uffd-sigbus", FL_ENGINE_CHOICE_UFFD_SIGBUS}, {"signal", FL_ENGINE_CHOICE_SIGNAL},
	{"off", FL_ENGINE_CHOICE_OFF}, {NULL, 0}};
static const struct fl_opt_word log_levels[] = {
	{"quiet", FL_LOG_QUIET}, {"warn", FL_LOG_WARN}, {"info", FL_LOG_INFO},
	{"debug", FL_LOG_DEBUG}, {NULL, 0}};
static const struct fl_opt_word stack_words[] = {{"all", 1}, {"off", 0}, {NULL, 0}};
static const struct fl_opt_word handler_words[] = {{"auto", 0}, {NULL, 0}};
static const struct fl_opt_word on_off[] = {{"on", 1}, {"off", 0}, {NULL, 0}};
static const struct fl_opt_word fork_words[] = {{"handoff", 1}, {"bring-back", 0}, {NULL, 0}};
static const struct fl_opt_word signal_words[] = {
	{"off", 0}, {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
	{NULL, 0}};

const struct fl_option fl_options[] = {
	{.name = "BUDGET", .kind = FL_OPT_SIZE, .dflt = "none", .lo = 0, .field = F(pager.budget_bytes),
	 .launcher = 1,
	 .help = "Cap on managed memory held uncompressed (resident + inactive pages). Pages beyond it are compressed."},
	{.name = "COMPRESSOR", .kind = FL_OPT_ENUM, .dflt = "lz4", .lo = 1, .hi = 19, .unit = "LEVEL",
	 .words = compressors, .number = FL_OPT_OR_LEVEL, .field = F(pager.compressor),
	 .field2 = offsetof(struct fl_settings, pager.compressor_level), .launcher = 1,
	 .help = "Compressor for evicted pages (zstd alone is level 1)."},
	{.name = "ENGINE", .kind = FL_OPT_ENUM, .dflt = "auto", .words = engines, .field = F(pager.engine),
	 .launcher = 1,
	 .help = "How faults are caught: userfaultfd, userfaultfd with each fault resolved in the faulting thread "
		 "(uffd-sigbus: faster, but a system call that touches an untouched or evicted page fails with EFAULT), "
		 "PROT_NONE + SIGSEGV, or not at all (auto tries uffd, then signal)."},
	{.name = "LOG", .kind = FL_OPT_ENUM, .dflt = "warn", .words = log_levels, .field = F(pager.log_level),
	 .launcher = 1, .help = "What the shim writes to stderr (always prefixed 'faultline:')."},
	{.name = "STORE_MAX", .kind = FL_OPT_SIZE, .dflt = "50%", .lo = 1, .field = F(pager.store_capacity),
	 .launcher = 1,
	 .help = "Cap on the compressed store's memory. When full, pages stay in memory over the budget."},
	{.name = "FAULT_AROUND", .kind = FL_OPT_INT, .dflt = "256", .lo = 1, .hi = 512, .unit = "pages",
	 .field = F(pager.fault_around_max), .launcher = 1,
	 .help = "Most pages resolved per first-touch fault when access is sequential, up or down (1 turns "
		 "fault-around off; rounded down to a power of two). Under uffd, a stream at the full window "
		 "also gets its next window filled while the handler is idle."},
	{.name = "READAHEAD", .kind = FL_OPT_INT, .dflt = "64", .lo = 1, .hi = 256, .unit = "pages",
	 .field = F(pager.readahead_max), .launcher = 1,
	 .help = "Most pages brought back per refault when refaults are sequential (1 turns readahead off)."},
	/* Off by default: 4 made python3 at half its peak 12% faster and
	 * sort, sqlite3 and perl at a quarter up to 2.2x slower (bench/README). */
	{.name = "CLUSTER", .kind = FL_OPT_INT, .dflt = "1", .lo = 1, .hi = 64, .unit = "pages",
	 .field = F(pager.cluster_pages), .launcher = 1,
	 .help = "A refault that is not part of a sequential run also brings back the stored pages next to it "
		 "in its aligned block of this many pages (1: off; rounded down to a power of two). Pages that "
		 "left memory together often come back together; under a tight budget the extra pages push "
		 "out others."},
	{.name = "SPIN_US", .kind = FL_OPT_INT, .dflt = "0", .lo = 0, .hi = 10000, .unit = "microseconds",
	 .field = F(pager.spin_us), .launcher = 1,
	 .help = "How long a fault handler polls for the next fault before sleeping (trades CPU for latency)."},
	{.name = "HANDLERS", .kind = FL_OPT_ENUM, .dflt = "auto", .lo = 1, .hi = 8, .unit = "at most N handlers",
	 .words = handler_words, .number = FL_OPT_OR_NUMBER, .field = F(pager.handlers), .launcher = 1,
	 .help = "Fault handler threads of the uffd engine: auto is one per CPU the program may run on (up to 8), "
		 "each pinned to its CPU, so that a fault is served on the faulting thread's own CPU without "
		 "waking another; 1 is a single unpinned handler."},
	{.name = "COW_FAULTS", .kind = FL_OPT_ENUM, .dflt = "on", .words = on_off, .field = F(pager.cow_faults),
	 .launcher = 1,
	 .help = "After a fork, write-protect managed pages so that each side's first write to a page it shares "
		 "is a write-protect fault, logged with its stack, before the kernel copies the page (uffd "
		 "engine only). Each such write then waits for the fault handler: about 15 us against the "
		 "kernel's 3 us copy, measured here. off leaves the copies to the kernel, unlogged."},
	{.name = "SPILL", .kind = FL_OPT_STRING, .dflt = "", .unit = "a directory, or off", .field = F(pager.spill_dir),
	 .launcher = 1,
	 .help = "Where the compressed store writes its coldest pages once it holds STORE_MAX (default: "
		 "$XDG_RUNTIME_DIR, else $TMPDIR, else /tmp). The file has no name from the start, so nothing "
		 "is left behind, even after kill -9; off keeps every page in memory (over the budget when "
		 "the store is full)."},
	{.name = "SPILL_MAX", .kind = FL_OPT_SIZE, .dflt = "4G", .lo = 1, .field = F(pager.spill_max), .launcher = 1,
	 .help = "Cap on the spill file's size. When it is full, or the disk is, pages stay in memory "
		 "(pressure CRITICAL, one warning)."},
	{.name = "FORK", .kind = FL_OPT_ENUM, .dflt = "handoff", .words = fork_words,
	 .field = F(pager.fork_handoff), .launcher = 1,
	 .help = "What a fork does with managed pages that are out of memory (uffd engine). handoff: they "
		 "stay out; the kernel gives the child a fault descriptor of its own, this process answers "
		 "the child's faults until the child's handlers take over, and the child reads them from "
		 "its copy of the store. The kernel grants this only with CAP_SYS_PTRACE; without it, and "
		 "with bring-back, every page is brought back into memory before the fork."},
	{.name = "PRESSURE_SIGNAL", .kind = FL_OPT_ENUM, .dflt = "off", .lo = 1, .hi = 64, .unit = "a signal number",
	 .words = signal_words, .number = FL_OPT_OR_NUMBER, .field = F(pager.pressure_signal), .launcher = 1,
	 .help = "A signal sent to the process at each change of the memory pressure level (with a budget), "
		 "by sigqueue with the level (0 NORMAL, 1 WARN, 2 CRITICAL) in si_value. The program must "
		 "handle it: one it leaves at its default, or one the C library or faultline needs, is not "
		 "sent (with a warning). In-process subscribers: fl_pressure_subscribe."},
	/* One fault in 8: the sampled stacks still rank the hot paths, at
	 * about a third of the cost of a stack per fault (bench/faultlog.py). */
	{.name = "STACKS", .kind = FL_OPT_ENUM, .dflt = "8", .lo = 1, .hi = 1000000, .unit = "one fault in N",
	 .words = stack_words, .number = FL_OPT_OR_NUMBER, .field = F(stacks_every), .launcher = 1,
	 .help = "Which faults get their call stack taken (in the faulting thread) and logged."},
	/* jemalloc's heap profiler samples every 512 KiB on average too: the
	 * allocations that page are large and all but certain to be sampled,
	 * and a program of small ones pays one stack per 512 KiB. */
	{.name = "ALLOC_SAMPLE", .kind = FL_OPT_ENUM, .dflt = "512K", .lo = 4096, .hi = 1L << 40,
	 .unit = "mean bytes between samples", .words = off_only, .number = FL_OPT_OR_SIZE,
	 .field = F(alloc_sample), .launcher = 1,
	 .help = "Allocation sites: one allocation (malloc and friends, the program's anonymous mmaps) is "
		 "sampled for about every this many bytes allocated, at random, with its call stack; each "
		 "fault is charged to the sampled allocation its page is in (needs the fault log)."},
	{.name = "SOCKET", .kind = FL_OPT_STRING, .dflt = "", .unit = "a socket path, or none",
	 .field = F(socket_path), .launcher = 1,
	 .help = "The faultlined socket the fault log goes to (default: $XDG_RUNTIME_DIR/faultline/faultlined.sock, "
		 "else /tmp/faultline-$UID/faultlined.sock); none turns the fault log off."},
	{.name = "SAMPLE_MS", .kind = FL_OPT_INT, .dflt = "100", .lo = 10, .hi = 60000, .unit = "milliseconds",
	 .field = F(sample_ms), .launcher = 1,
	 .help = "How often the fault log records the pager's counters (resident, compressed, pressure, faults)."},
	{.name = "SUMMARY", .kind = FL_OPT_STRING, .dflt = "", .unit = "a file path", .field = F(summary_path),
	 .launcher = 0, .help = "Where the shim writes its exit summary (the launcher sets this)."},
	{.name = NULL},
};

uint64_t fl_phys_bytes(void)
{
	struct sysinfo si;
	if (sysinfo(&si) != 0)
		return 0;
	return (uint64_t)si.totalram * si.mem_unit;
}

int fl_parse_size(const char *s, uint64_t phys, uint64_t *out)
{
	if (!s || !*s)
		return -1;
	if (!strcmp(s, "none") || !strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	uint64_t v = 0, frac = 0, fdiv = 1;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9') {
			if (fdiv < 1000000) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				fdiv *= 10;
			}
			p++;
		}
	}
	if (*p == '%') {
		if (p[1] || v > 100 || (v == 100 && frac))
			return -1;
		*out = (uint64_t)((double)phys * ((double)v + (double)frac / (double)fdiv) / 100.0);
		return *out ? 0 : -1;
	}
	uint64_t mult = 1;
	switch (*p) {
	case 'k': case 'K': mult = 1ull << 10; p++; break;
	case 'm': case 'M': mult = 1ull << 20; p++; break;
	case 'g': case 'G': mult = 1ull << 30; p++; break;
	case 't': case 'T': mult = 1ull << 40; p++; break;
	default: break;
	}
	if (mult > 1 && *p == 'i')
		p++;
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p)
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	*out = v * mult + frac * mult / fdiv;
	return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	long v = 0;
	if (!*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > 100000000)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

const struct fl_option *fl_option_find(const char *name)
{
	for (const struct fl_option *o = fl_options; o->name; o++)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

const char *fl_option_accepted(const struct fl_option *o, char *out, size_t len)
{
	size_t n = 0;
#define PUT(...) (n += (size_t)snprintf(out + (n < len ? n : len), n < len ? len - n : 0, __VA_ARGS__))
	if (len)
		out[0] = 0;
	switch (o->kind) {
	case FL_OPT_SIZE:
		PUT("a size like 256M, 1G, 512K, or a percentage of RAM like 50%%%s", o->lo ? "" : ", or none");
		break;
	case FL_OPT_INT:
		PUT("an integer %ld..%ld (%s)", o->lo, o->hi, o->unit);
		break;
	case FL_OPT_STRING:
		PUT("%s", o->unit);
		break;
	case FL_OPT_ENUM: {
		const struct fl_opt_word *w = o->words, *last = NULL;
		for (; w->word; w++) {
			PUT("%s%s", w == o->words ? "" : ", ", w->word);
			last = w;
		}
		if (o->number == FL_OPT_OR_NUMBER)
			PUT(", or N (an integer %ld..%ld: %s)", o->lo, o->hi, o->unit);
		else if (o->number == FL_OPT_OR_SIZE)
			PUT(", or a size like 64K or 1M (%s)", o->unit);
		else if (o->number == FL_OPT_OR_LEVEL && last)
			PUT(", or %s:%s with %s %ld..%ld", last->word, o->unit, o->unit, o->lo, o->hi);
		break;
	}
	}
#undef PUT
	return out;
}

/* Store v in a field of size sz (an enum, int, unsigned or uint64_t). */
static void store_num(void *field, size_t sz, uint64_t v)
{
	if (sz == sizeof(uint64_t)) {
		memcpy(field, &v, sizeof v);
	} else {
		unsigned u = (unsigned)v;
		memcpy(field, &u, sizeof u);
	}
}

/* Parse value for row o into st; 0 or -1 (st is changed only on success). */
static int parse(const struct fl_option *o, struct fl_settings *st, const char *value, uint64_t phys)
{
	char *field = (char *)st + o->field;
	long n;
	uint64_t v;
	switch (o->kind) {
	case FL_OPT_SIZE:
		if (fl_parse_size(value, phys, &v) != 0 || (o->lo && v == 0))
			return -1;
		store_num(field, o->field_size, v);
		return 0;
	case FL_OPT_INT:
		if (parse_int(value, o->lo, o->hi, &n) != 0)
			return -1;
		store_num(field, o->field_size, (uint64_t)n);
		return 0;
	case FL_OPT_STRING: {
		size_t l = strlen(value);
		if (l >= o->field_size)
			return -1;
		memcpy(field, value, l + 1);
		return 0;
	}
	case FL_OPT_ENUM:
		for (const struct fl_opt_word *w = o->words; w->word; w++) {
			if (!strcmp(value, w->word)) {
				store_num(field, o->field_size, (uint64_t)w->value);
				if (o->number == FL_OPT_OR_LEVEL)
					store_num((char *)st + o->field2, sizeof(int), (uint64_t)o->lo);
				return 0;
			}
		}
		if (o->number == FL_OPT_OR_NUMBER && parse_int(value, o->lo, o->hi, &n) == 0) {
			store_num(field, o->field_size, (uint64_t)n);
			return 0;
		}
		if (o->number == FL_OPT_OR_SIZE && !strchr(value, '%') && fl_parse_size(value, phys, &v) == 0 &&
		    v >= (uint64_t)o->lo && v <= (uint64_t)o->hi) {
			store_num(field, o->field_size, v);
			return 0;
		}
		if (o->number == FL_OPT_OR_LEVEL) {
			const struct fl_opt_word *last = o->words;
			while (last[1].word)
				last++;
			size_t wl = strlen(last->word);
			if (!strncmp(value, last->word, wl) && value[wl] == ':' &&
			    parse_int(value + wl + 1, o->lo, o->hi, &n) == 0) {
				store_num(field, o->field_size, (uint64_t)last->value);
				store_num((char *)st + o->field2, sizeof(int), (uint64_t)n);
				return 0;
			}
		}
		return -1;
	}
	return -1;
}

void fl_settings_default(struct fl_settings *st)
{
	memset(st, 0, sizeof *st);
	uint64_t phys = fl_phys_bytes();
	for (const struct fl_option *o = fl_options; o->name; o++)
		parse(o, st, o->dflt, phys); /* every default parses: test_options.c checks */
}

int fl_settings_set(struct fl_settings *st, const char *name, const char *value,
		    char *err, size_t errlen)
{
	const struct fl_option *o = fl_option_find(name);
	if (!o) {
		snprintf(err, errlen, "FAULTLINE_%s is not a faultline setting (see the README's settings table)",
			 name);
		return -1;
	}
	/* A string set is never empty: unset is its default. */
	struct fl_settings tmp = *st;
	if ((o->kind == FL_OPT_STRING && !*value) || parse(o, &tmp, value, fl_phys_bytes()) != 0) {
		char acc[160];
		snprintf(err, errlen, "FAULTLINE_%s='%s' is not valid: expected %s", name, value,
			 fl_option_accepted(o, acc, sizeof acc));
		return -1;
	}
	*st = tmp;
	return 0;
}

int fl_settings_from_env(struct fl_settings *st, char *const *envp, char *err, size_t errlen)
{
	static const char prefix[] = "FAULTLINE_";
	fl_settings_default(st);
	if (!envp)
		return 0;
	for (char *const *e = envp; *e; e++) {
		if (strncmp(*e, prefix, sizeof prefix - 1))
			continue;
		const char *kv = *e + sizeof prefix - 1;
		const char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		char name[64];
		size_t l = (size_t)(eq - kv);
		if (l >= sizeof name) {
			snprintf(err, errlen, "FAULTLINE_%.40s... is not a faultline setting", kv);
			return -1;
		}
		memcpy(name, kv, l);
		name[l] = 0;
		if (fl_settings_set(st, name, eq + 1, err, errlen) != 0)
			return -1;
	}
	return 0;
}
