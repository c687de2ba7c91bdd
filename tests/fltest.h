/*
 * Helpers shared by faultline's tests: deterministic page contents of the
 * three kinds the integrity suite uses, checksums, and starting a pager
 * with a given engine and budget.
 */
#ifndef FL_TEST_H
#define FL_TEST_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "pager.h"

#define TPS 4096u

enum data_kind { DATA_ZERO, DATA_TEXT, DATA_RANDOM };

static inline uint64_t t_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Fill one page with contents determined by (kind, page, gen). */
static inline void t_fill(unsigned char *p, enum data_kind kind, size_t page, unsigned gen)
{
	uint64_t seed = t_mix(page * 1315423911u + gen * 2654435761u + 7);
	switch (kind) {
	case DATA_ZERO:
		memset(p, 0, TPS);
		/* gen > 0 makes the page one repeated word: still same-filled. */
		if (gen) {
			uint64_t w = seed | 1;
			for (size_t i = 0; i < TPS / 8; i++)
				memcpy(p + i * 8, &w, 8);
		}
		break;
	case DATA_TEXT: {
		static const char *w[] = {"alpha ", "beta ", "gamma ", "delta ", "page ",
					  "fault ", "store ", "budget "};
		size_t o = 0;
		uint64_t s = seed;
		while (o < TPS) {
			s = t_mix(s);
			const char *x = w[s & 7];
			size_t l = strlen(x);
			if (l > TPS - o)
				l = TPS - o;
			memcpy(p + o, x, l);
			o += l;
		}
		memcpy(p, &page, sizeof page); /* unique per page */
		break;
	}
	case DATA_RANDOM: {
		uint64_t s = seed;
		for (size_t i = 0; i < TPS / 8; i++) {
			s = t_mix(s + i);
			memcpy(p + i * 8, &s, 8);
		}
		break;
	}
	}
}

/* Pages [first, first+n) of m that differ from (kind, page, gen): 0 when all match. */
static inline size_t t_check_range(const unsigned char *m, size_t first, size_t n, enum data_kind k,
				   unsigned gen)
{
	unsigned char exp[TPS];
	size_t bad = 0;
	for (size_t i = first; i < first + n; i++) {
		t_fill(exp, k, i, gen);
		bad += memcmp(m + i * TPS, exp, TPS) != 0;
	}
	return bad;
}

static inline uint64_t t_sum(const unsigned char *p)
{
	uint64_t h = 1469598103934665603ull;
	const uint64_t *q = (const uint64_t *)p;
	for (size_t i = 0; i < TPS / 8; i++)
		h = (h ^ q[i]) * 1099511628211ull;
	return h;
}

/* The default configuration with this engine and budget; tests change
 * what they need and start with t_start_config. */
static inline struct fl_pager_config t_config(enum fl_engine_choice eng, uint64_t budget_bytes)
{
	struct fl_pager_config c;
	fl_pager_config_default(&c);
	c.engine = eng;
	c.budget_bytes = budget_bytes;
	return c;
}

static inline int t_start_config(const struct fl_pager_config *c)
{
	char err[256];
	int rc = fl_pager_init(c, err, sizeof err);
	if (rc != 0)
		cr_log_error("fl_pager_init: %s", err);
	return rc;
}

static inline int t_start(enum fl_engine_choice eng, uint64_t budget_bytes)
{
	struct fl_pager_config c = t_config(eng, budget_bytes);
	return t_start_config(&c);
}

#endif
