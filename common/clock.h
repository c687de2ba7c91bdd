/*
 * Clock readings in nanoseconds, shared by the shim, the daemon, the CLI,
 * the tests and the benchmarks.  clock_gettime is a vDSO call and
 * async-signal-safe, so these are usable anywhere, the shim's fault path
 * and signal handlers included.
 */
#ifndef FL_COMMON_CLOCK_H
#define FL_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on clock id (CLOCK_MONOTONIC, CLOCK_REALTIME, ...). */
static inline uint64_t fl_clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t fl_mono_ns(void)
{
	return fl_clock_ns(CLOCK_MONOTONIC);
}

static inline uint64_t fl_real_ns(void)
{
	return fl_clock_ns(CLOCK_REALTIME);
}

/* A CLOCK_MONOTONIC deadline ms milliseconds from now, for pthread_cond_timedwait. */
static inline struct timespec fl_mono_deadline(long ms)
{
	uint64_t due = fl_mono_ns() + (uint64_t)ms * 1000000ull;
	struct timespec ts = { .tv_sec = (time_t)(due / 1000000000ull), .tv_nsec = (long)(due % 1000000000ull) };
	return ts;
}

#endif
