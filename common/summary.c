/*
 * The summary file's one writer and one reader (include/faultline/summary.h).
 * The numeric keys are a table, so both directions use the same names.
 */
#include "faultline/summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *key;
	size_t off;
} counters[] = {
#define C(key, field) {key, offsetof(struct fl_summary, field)}
	C("page_size", page_size),
	C("budget_pages", budget_pages),
	C("peak_pages", peak_pages),
	C("resident_pages", resident_pages),
	C("inactive_pages", inactive_pages),
	C("compressed_pages", compressed_pages),
	C("same_filled_pages", same_filled_pages),
	C("compressed_bytes", compressed_bytes),
	C("store_bytes", store_bytes),
	C("errors", errors),
	C("prefilled", prefilled),
	C("readahead", readahead),
	C("evicted", evicted),
	C("spilled_pages", spilled_pages),
	C("spilled_bytes", spilled_bytes),
	C("spill_file_bytes", spill_file_bytes),
#undef C
};
#define NCOUNTERS (sizeof counters / sizeof counters[0])

static uint64_t *counter(struct fl_summary *s, size_t i)
{
	return (uint64_t *)((char *)s + counters[i].off);
}

size_t fl_summary_format(const struct fl_summary *s, char *buf, size_t len)
{
	size_t n = 0;
#define PUT(...)                                                                          \
	do {                                                                              \
		int k_ = snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__);           \
		n += k_ > 0 ? (size_t)k_ : 0;                                             \
		if (n >= len)                                                             \
			return 0;                                                         \
	} while (0)
	PUT("pid=%ld\nmanaged=%d\nengine=%s\n", s->pid, s->managed, s->engine);
	if (s->managed) {
		for (size_t i = 0; i < NCOUNTERS; i++)
			PUT("%s=%llu\n", counters[i].key,
			    (unsigned long long)*counter((struct fl_summary *)s, i));
		PUT("efficiency=%.2f\npressure_peak=%s\n", s->efficiency, s->pressure_peak);
		for (int k = 0; k < s->nkinds && k < FL_SUMMARY_MAX_KINDS; k++)
			PUT("faults.%s=%llu\n", s->kind[k], (unsigned long long)s->faults[k]);
	}
	PUT("end\n");
#undef PUT
	return n;
}

int fl_summary_parse_line(struct fl_summary *s, const char *line)
{
	if (!strcmp(line, "end"))
		return 1;
	const char *eq = strchr(line, '=');
	if (!eq)
		return 0;
	size_t kl = (size_t)(eq - line);
	const char *v = eq + 1;
#define IS(name) (kl == sizeof(name) - 1 && !memcmp(line, name, kl))
	if (IS("pid")) {
		s->pid = strtol(v, NULL, 10);
	} else if (IS("managed")) {
		s->managed = atoi(v);
	} else if (IS("engine")) {
		snprintf(s->engine, sizeof s->engine, "%s", v);
	} else if (IS("pressure_peak")) {
		snprintf(s->pressure_peak, sizeof s->pressure_peak, "%s", v);
	} else if (IS("efficiency")) {
		s->efficiency = strtod(v, NULL);
	} else if (kl > 7 && !memcmp(line, "faults.", 7)) {
		if (s->nkinds < FL_SUMMARY_MAX_KINDS) {
			snprintf(s->kind[s->nkinds], sizeof s->kind[0], "%.*s", (int)(kl - 7), line + 7);
			s->faults[s->nkinds++] = strtoull(v, NULL, 10);
		}
	} else {
		for (size_t i = 0; i < NCOUNTERS; i++) {
			if (strlen(counters[i].key) == kl && !memcmp(line, counters[i].key, kl)) {
				*counter(s, i) = strtoull(v, NULL, 10);
				break;
			}
		}
	}
#undef IS
	return 0;
}
