/*
 * The id map (idmap.h).  Kept at most half full so that probe runs stay
 * short; ids from the shim are small sequential integers, which a
 * multiplicative hash spreads well.  Key 0 marks an empty slot, so it is
 * kept beside the table.
 */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

uint64_t *fl_idmap_get(const struct fl_idmap *m, uint64_t key)
{
	if (key == 0)
		return m->has_zero ? (uint64_t *)&m->zero_val : NULL;
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key)
			return &m->vals[i];
		if (m->keys[i] == 0)
			return NULL;
	}
}

static int grow(struct fl_idmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	uint64_t *keys = calloc(cap, sizeof *keys);
	uint64_t *vals = malloc(cap * sizeof *vals);
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = slot_of(m->keys[i], cap);
		while (keys[j])
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

uint64_t *fl_idmap_intern(struct fl_idmap *m, uint64_t key, uint64_t val, int *added)
{
	*added = 0;
	uint64_t *v = fl_idmap_get(m, key);
	if (v)
		return v;
	if (key == 0) {
		m->has_zero = 1;
		m->zero_val = val;
		m->count++;
		*added = 1;
		return &m->zero_val;
	}
	if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
		return NULL;
	size_t i = slot_of(key, m->cap);
	while (m->keys[i])
		i = (i + 1) & (m->cap - 1);
	m->keys[i] = key;
	m->vals[i] = val;
	m->count++;
	*added = 1;
	return &m->vals[i];
}

int fl_idmap_put(struct fl_idmap *m, uint64_t key, uint64_t val)
{
	int added;
	uint64_t *v = fl_idmap_intern(m, key, val, &added);
	if (!v)
		return -1;
	*v = val;
	return 0;
}

void fl_idmap_clear(struct fl_idmap *m)
{
	if (m->cap)
		memset(m->keys, 0, m->cap * sizeof *m->keys);
	m->count = 0;
	m->has_zero = 0;
}

void fl_idmap_free(struct fl_idmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}
