/*
 * The options table and its parser (see options.h).  The same table is
 * read by the shim (from the environment, before anything else is ready),
 * by the launcher (from its command line) and by the documentation
 * generator, so the three can never disagree.
 */
#include "options.h"

#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "log.h"

const struct fl_option fl_options[] = {
	{"BUDGET", FL_OPT_SIZE, "none", "a size like 256M, 1G, 512K, or a percentage of RAM like 50%, or none",
	 "Cap on managed memory held uncompressed (resident + inactive pages). Pages beyond it are compressed."},
	{"COMPRESSOR", FL_OPT_ENUM, "lz4", "lz4, zstd, or zstd:LEVEL with LEVEL 1..19",
	 "Compressor for evicted pages."},
	{"ENGINE", FL_OPT_ENUM, "auto", "auto, uffd, signal, off",
	 "How faults are caught: userfaultfd, PROT_NONE + SIGSEGV, or not at all (auto tries uffd, then signal)."},
	{"LOG", FL_OPT_ENUM, "warn", "quiet, warn, info, debug",
	 "What the shim writes to stderr (always prefixed 'faultline:')."},
	{"STORE_MAX", FL_OPT_SIZE, "50%", "a size like 4G, or a percentage of RAM like 25%",
	 "Cap on the compressed store's memory. When full, pages stay in memory over the budget."},
	{"FAULT_AROUND", FL_OPT_INT, "256", "an integer 1..512 (pages)",
	 "Most pages resolved per first-touch fault when access is sequential, up or down (1 turns fault-around off). Under uffd, a stream at the full window also gets its next window filled while the handler is idle."},
	{"READAHEAD", FL_OPT_INT, "64", "an integer 1..256 (pages)",
	 "Most pages brought back per refault when refaults are sequential (1 turns readahead off)."},
	{"SPIN_US", FL_OPT_INT, "0", "an integer 0..10000 (microseconds)",
	 "How long the fault handler polls for the next fault before sleeping (trades CPU for latency)."},
	{"STACKS", FL_OPT_ENUM, "8", "all, off, or N (an integer 1..1000000: one fault in N)",
	 "Which faults get their call stack taken (in the faulting thread) and logged."},
	{"SOCKET", FL_OPT_STRING, "", "a socket path, or none",
	 "The faultlined socket the fault log goes to (default: $XDG_RUNTIME_DIR/faultline/faultlined.sock, "
	 "else /tmp/faultline-$UID/faultlined.sock); none turns the fault log off."},
	{"SAMPLE_MS", FL_OPT_INT, "100", "an integer 10..60000 (milliseconds)",
	 "How often the fault log records the pager's counters (resident, compressed, pressure, faults)."},
	{"SUMMARY", FL_OPT_STRING, "", "a file path",
	 "Where the shim writes its exit summary (the launcher sets this)."},
	{NULL, 0, NULL, NULL, NULL},
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

void fl_settings_default(struct fl_settings *st)
{
	memset(st, 0, sizeof *st);
	fl_pager_config_default(&st->pager);
	/* One fault in 8: the sampled stacks still rank the hot paths, at
	 * about a third of the cost of a stack per fault (bench/faultlog.py). */
	st->stacks_every = 8;
	st->sample_ms = 100;
}

static const struct fl_option *find(const char *name)
{
	for (const struct fl_option *o = fl_options; o->name; o++)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

int fl_settings_set(struct fl_settings *st, const char *name, const char *value,
		    char *err, size_t errlen)
{
	const struct fl_option *o = find(name);
	if (!o) {
		snprintf(err, errlen, "FAULTLINE_%s is not a faultline setting (see the README's settings table)",
			 name);
		return -1;
	}
	struct fl_pager_config *c = &st->pager;
	uint64_t phys = fl_phys_bytes();
	long n;
	int bad = 0;
	if (!strcmp(name, "BUDGET")) {
		bad = fl_parse_size(value, phys, &c->budget_bytes);
	} else if (!strcmp(name, "STORE_MAX")) {
		bad = fl_parse_size(value, phys, &c->store_capacity) || c->store_capacity == 0;
	} else if (!strcmp(name, "COMPRESSOR")) {
		if (!strcmp(value, "lz4")) {
			c->compressor = FL_COMP_LZ4;
		} else if (!strcmp(value, "zstd")) {
			c->compressor = FL_COMP_ZSTD;
			c->compressor_level = 1;
		} else if (!strncmp(value, "zstd:", 5) && !parse_int(value + 5, 1, 19, &n)) {
			c->compressor = FL_COMP_ZSTD;
			c->compressor_level = (int)n;
		} else {
			bad = 1;
		}
	} else if (!strcmp(name, "ENGINE")) {
		if (!strcmp(value, "auto")) c->engine = FL_ENGINE_CHOICE_AUTO;
		else if (!strcmp(value, "uffd")) c->engine = FL_ENGINE_CHOICE_UFFD;
		else if (!strcmp(value, "signal")) c->engine = FL_ENGINE_CHOICE_SIGNAL;
		else if (!strcmp(value, "off")) c->engine = FL_ENGINE_CHOICE_OFF;
		else bad = 1;
	} else if (!strcmp(name, "LOG")) {
		if (!strcmp(value, "quiet")) c->log_level = FL_LOG_QUIET;
		else if (!strcmp(value, "warn")) c->log_level = FL_LOG_WARN;
		else if (!strcmp(value, "info")) c->log_level = FL_LOG_INFO;
		else if (!strcmp(value, "debug")) c->log_level = FL_LOG_DEBUG;
		else bad = 1;
	} else if (!strcmp(name, "FAULT_AROUND")) {
		bad = parse_int(value, 1, 512, &n);
		if (!bad)
			c->fault_around_max = (unsigned)n;
	} else if (!strcmp(name, "READAHEAD")) {
		bad = parse_int(value, 1, 256, &n);
		if (!bad)
			c->readahead_max = (unsigned)n;
	} else if (!strcmp(name, "SPIN_US")) {
		bad = parse_int(value, 0, 10000, &n);
		if (!bad)
			c->spin_us = (unsigned)n;
	} else if (!strcmp(name, "STACKS")) {
		if (!strcmp(value, "all"))
			st->stacks_every = 1;
		else if (!strcmp(value, "off"))
			st->stacks_every = 0;
		else if (!(bad = parse_int(value, 1, 1000000, &n)))
			st->stacks_every = (unsigned)n;
	} else if (!strcmp(name, "SAMPLE_MS")) {
		bad = parse_int(value, 10, 60000, &n);
		if (!bad)
			st->sample_ms = (unsigned)n;
	} else if (!strcmp(name, "SOCKET")) {
		size_t l = strlen(value);
		if (l == 0 || l >= sizeof st->socket_path)
			bad = 1;
		else
			memcpy(st->socket_path, value, l + 1);
	} else if (!strcmp(name, "SUMMARY")) {
		size_t l = strlen(value);
		if (l >= sizeof st->summary_path)
			bad = 1;
		else
			memcpy(st->summary_path, value, l + 1);
	}
	if (bad) {
		snprintf(err, errlen, "FAULTLINE_%s='%s' is not valid: expected %s", name, value,
			 o->accepted);
		return -1;
	}
	return 0;
}

int fl_settings_from_env(struct fl_settings *st, char *const *envp, char *err, size_t errlen)
{
	static const char prefix[] = "FAULTLINE_";
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
