/*
 * A hash map from nonzero 64-bit ids to 64-bit values, open addressing
 * with linear probing.  The daemon keeps one per process for the stack ids
 * (to their definition's hash) and the region ids (to their state) the
 * shim has declared, and the writer one for its per-stack aggregates; all
 * are looked up once per fault, so a lookup is a multiply and a probe or
 * two.  Entries are never removed one by one: a map is cleared or freed
 * whole.
 */
#ifndef FL_IDMAP_H
#define FL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct fl_idmap {
	uint64_t *keys; /* 0: empty slot */
	uint64_t *vals;
	size_t cap;     /* a power of two, or 0 before the first insert */
	size_t count;
};

/* The value stored for key (nonzero), or NULL when absent. */
uint64_t *fl_idmap_get(const struct fl_idmap *m, uint64_t key);

/*
 * Set key (nonzero) to val, inserting it if absent.  Returns 0, or -1 when
 * the table could not grow (out of memory; the map is unchanged).
 */
int fl_idmap_put(struct fl_idmap *m, uint64_t key, uint64_t val);

/* Forget every entry (keeps the memory). */
void fl_idmap_clear(struct fl_idmap *m);

/* Free the table; the map is empty and reusable afterwards. */
void fl_idmap_free(struct fl_idmap *m);

/* Visit every entry, in no particular order. */
#define FL_IDMAP_EACH(m, i) for (size_t i = 0; i < (m)->cap; i++) if ((m)->keys[i])

#endif
