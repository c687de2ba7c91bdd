/*
 * Allocation sites: the program's allocations sampled by bytes (one sample
 * for about every FAULTLINE_ALLOC_SAMPLE bytes, the interval drawn at
 * random as jemalloc's and tcmalloc's heap profilers do), each sample kept
 * with its call stack, range, times and the faults later resolved in it.
 *
 * Producers are the program's threads in malloc and friends (malloc.c) and
 * in mmap/munmap (interpose.c); the one consumer is the emitter, which
 * charges each fault it sends to the sampled allocation its address is in
 * (never on the fault path) and sends the samples (FL_REC_ALLOCS).  The
 * table is a fixed block of raw memory: bounded whatever the program
 * allocates; when it is full, samples are dropped and counted.
 */
#ifndef FL_ALLOC_H
#define FL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "faultline/wire.h"

/* Set up with a mean interval in bytes (0: off).  0, or -1 (then off). */
int fl__alloc_init(uint64_t mean_bytes);

/* Per thread: bytes left before the next sample.  Every allocation takes
 * its size off; the one that crosses zero is sampled (fl__alloc_sampled). */
extern __thread int64_t fl__alloc_until __attribute__((tls_model("initial-exec")));

void fl__alloc_sampled(void *p, size_t size, uint32_t kind);
/* p was freed (or [p, p+len) unmapped, kind MMAP): its sample, if any, ends. */
void fl__alloc_freed(void *p);
void fl__alloc_unmapped(void *p, size_t len);

/* An allocation of size bytes at p was made: sample it when its turn. */
static inline void fl__alloc_note(void *p, size_t size, uint32_t kind)
{
	if (__builtin_expect((fl__alloc_until -= (int64_t)size) > 0, 1) || !p)
		return;
	fl__alloc_sampled(p, size, kind);
}

/* Whether any sample is live (free's fast way out). */
extern uint32_t fl__alloc_nlive;
static inline void fl__alloc_free_note(void *p)
{
	if (__builtin_expect(__atomic_load_n(&fl__alloc_nlive, __ATOMIC_RELAXED) == 0, 1) || !p)
		return;
	fl__alloc_freed(p);
}

/* ---- the emitter's side ------------------------------------------------- */

/* Charge each fault to the sampled allocation it was in (by address and
 * time), or to the unsampled. */
void fl__alloc_charge(const struct fl_wire_fault *f, size_t n);

/* Copy out up to max samples with news (and the unsampled, id 0), marking
 * them sent.  retire: samples freed and sent may give up their slots. */
size_t fl__alloc_take(struct fl_wire_alloc *out, size_t max, int retire);

/* A new peak of resident pages at t: record the bytes of each live sample
 * in resident and in compressed pages now. */
void fl__alloc_peak(uint64_t t_ns);

/* A new connection: everything is news again. */
void fl__alloc_resend_all(void);


void fl__alloc_fork_prepare(void);
void fl__alloc_fork_parent(void);
void fl__alloc_fork_child(void);

#endif
