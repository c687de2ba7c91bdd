/*
 * A hash map from 64-bit ids to 64-bit values, open addressing with
 * linear probing, for the daemon and the commands that read a fault log.
 * The daemon keeps one per process for the stack ids (to their
 * definition's hash) and the region ids (to their state) the shim has
 * declared, and the writer one for its per-stack aggregates; report and
 * top map stack and region ids to the index of their totals.  All are
 * looked up once per fault or row, so a lookup is a multiply and a probe
 * or two.  Any key is allowed (0 included).  Entries are never removed
 * one by one: a map is cleared or freed whole.
 */
#ifndef FL_IDMAP_H
#define FL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct fl_idmap {
	uint64_t *keys; /* 0: empty slot (key 0 lives in zero_val) */
	uint64_t *vals;
	size_t cap;     /* a power of two, or 0 before the first insert */
	size_t count;   /* entries, key 0 included */
	int has_zero;
	uint64_t zero_val;
};

/* The value stored for key, or NULL when absent. */
uint64_t *fl_idmap_get(const struct fl_idmap *m, uint64_t key);

/*
 * Set key to val, inserting it if absent.  Returns 0, or -1 when the
 * table could not grow (out of memory; the map is unchanged).
 */
int fl_idmap_put(struct fl_idmap *m, uint64_t key, uint64_t val);

/*
 * The value of key; when absent, key is inserted with val and *added set
 * (cleared otherwise).  NULL when the table could not grow.  The pointer
 * is good until the next insert.
 */
uint64_t *fl_idmap_intern(struct fl_idmap *m, uint64_t key, uint64_t val, int *added);

/* Forget every entry (keeps the memory). */
void fl_idmap_clear(struct fl_idmap *m);

/* Free the table; the map is empty and reusable afterwards. */
void fl_idmap_free(struct fl_idmap *m);

#endif
