/*
 * The network thread's process table (procs.h): a chained hash table on
 * (pid, start time).  Only the network thread touches it, so it has no
 * lock.
 */
#include "procs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024u
#define MAX_EXITS 256u
#define EXIT_KEEP_NS (30ull * 1000000000ull)

struct fl_procs {
	struct fl_proc *buckets[NBUCKETS];
	struct fl_procs_exit exits[MAX_EXITS]; /* a ring: the oldest is overwritten */
	unsigned nexits, next_exit;
	size_t count;
	uint32_t next_key;
	fl_procs_lookup_fn lookup;
	void *ctx;
};

static unsigned bucket(int32_t pid, uint64_t start)
{
	uint64_t h = ((uint64_t)(uint32_t)pid * 0x9e3779b97f4a7c15ull) ^ (start * 0xc2b2ae3d27d4eb4full);
	return (unsigned)(h >> 40) & (NBUCKETS - 1);
}

struct fl_procs *fl_procs_new(fl_procs_lookup_fn lookup, void *ctx)
{
	struct fl_procs *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->lookup = lookup;
	t->ctx = ctx;
	return t;
}

static void proc_free(struct fl_proc *p)
{
	fl_idmap_free(&p->stacks);
	fl_idmap_free(&p->regions);
	free(p);
}

void fl_procs_free(struct fl_procs *t)
{
	if (!t)
		return;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct fl_proc *p = t->buckets[b];
		while (p) {
			struct fl_proc *n = p->next;
			proc_free(p);
			p = n;
		}
	}
	free(t);
}

struct fl_proc *fl_procs_hello(struct fl_procs *t, int32_t pid, uint64_t start_real_ns,
			       uint64_t start_mono_ns, int *fresh, char *err, size_t errlen)
{
	unsigned b = bucket(pid, start_real_ns);
	for (struct fl_proc *p = t->buckets[b]; p; p = p->next) {
		if (p->pid == pid && p->start_real_ns == start_real_ns) {
			*fresh = 0;
			return p;
		}
	}
	struct fl_proc *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory for a process");
		return NULL;
	}
	p->pid = pid;
	p->start_real_ns = start_real_ns;
	p->start_mono_ns = start_mono_ns;
	if (t->lookup && t->lookup(t->ctx, p, err, errlen) < 0) {
		proc_free(p);
		return NULL;
	}
	/* Keys start at 1: 0 means "no process" in an op. */
	p->key = ++t->next_key;
	p->next = t->buckets[b];
	t->buckets[b] = p;
	t->count++;
	*fresh = 1;
	return p;
}

struct fl_proc *fl_procs_by_pid(struct fl_procs *t, int32_t pid)
{
	struct fl_proc *best = NULL;
	for (unsigned b = 0; b < NBUCKETS; b++)
		for (struct fl_proc *p = t->buckets[b]; p; p = p->next)
			if (p->pid == pid && (!best || p->start_real_ns > best->start_real_ns))
				best = p;
	return best;
}

void fl_procs_exit_later(struct fl_procs *t, const struct fl_procs_exit *x)
{
	t->exits[t->next_exit] = *x;
	t->next_exit = (t->next_exit + 1) % MAX_EXITS;
	if (t->nexits < MAX_EXITS)
		t->nexits++;
}

int fl_procs_exit_take(struct fl_procs *t, int32_t pid, uint64_t start_real_ns, struct fl_procs_exit *out)
{
	for (unsigned i = 0; i < t->nexits; i++) {
		struct fl_procs_exit *x = &t->exits[i];
		if (x->pid != pid || x->real_ns < start_real_ns)
			continue;
		*out = *x;
		x->pid = 0; /* taken */
		return 1;
	}
	return 0;
}

void fl_procs_end(struct fl_proc *p, uint64_t mono_ns)
{
	p->ended = 1;
	p->ended_at_ns = mono_ns;
}

void fl_procs_gc(struct fl_procs *t, uint64_t mono_ns, uint64_t grace_ns)
{
	for (unsigned i = 0; i < t->nexits; i++)
		if (t->exits[i].pid && mono_ns - t->exits[i].mono_ns >= EXIT_KEEP_NS)
			t->exits[i].pid = 0;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct fl_proc **pp = &t->buckets[b];
		while (*pp) {
			struct fl_proc *p = *pp;
			if (p->ended && p->nconns == 0 && mono_ns - p->ended_at_ns >= grace_ns) {
				*pp = p->next;
				proc_free(p);
				t->count--;
			} else {
				pp = &p->next;
			}
		}
	}
}

size_t fl_procs_count(const struct fl_procs *t)
{
	return t->count;
}

uint64_t fl_procs_stack_hash(const void *pcs, uint32_t n)
{
	uint64_t h = 1469598103934665603ull ^ n;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t pc;
		memcpy(&pc, (const uint8_t *)pcs + (size_t)i * 8, sizeof pc);
		for (int k = 0; k < 8; k++) {
			h ^= (pc >> (8 * k)) & 0xff;
			h *= 1099511628211ull;
		}
	}
	return h ? h : 1;
}

int fl_procs_add_stack(struct fl_proc *p, uint32_t id, uint64_t hash)
{
	return fl_idmap_put(&p->stacks, id, hash);
}

int fl_procs_add_region(struct fl_proc *p, uint64_t id, uint64_t val)
{
	return fl_idmap_put(&p->regions, id, val);
}

/* The geometry is kept (hashed) so that a shim announcing a live region
 * again, after a reconnect, can be told from one reusing an id. */
uint64_t fl_procs_region_val(uint64_t start, uint64_t len, uint32_t prot, uint32_t kind, int state)
{
	uint64_t h = start * 0x9e3779b97f4a7c15ull;
	h ^= (len + 0x632be59bd9b4e019ull) * 0xc2b2ae3d27d4eb4full;
	h ^= ((uint64_t)prot << 8 | kind) * 0x165667b19e3779f9ull;
	return (h << 2) | (uint64_t)state;
}
