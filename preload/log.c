/*
 * Implementation of the shim's rate-limited stderr logging (see log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int fl__log_level = FL_LOG_WARN;

/* At most this many warnings per second; the rest are counted. */
#define FL_LOG_BURST 10

static long window_sec;
static int window_count;
static unsigned long suppressed;

void fl__log_write(int level, const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	long sec = __atomic_load_n(&window_sec, __ATOMIC_RELAXED);
	if (sec != ts.tv_sec) {
		__atomic_store_n(&window_sec, ts.tv_sec, __ATOMIC_RELAXED);
		__atomic_store_n(&window_count, 0, __ATOMIC_RELAXED);
	}
	if (level <= FL_LOG_WARN &&
	    __atomic_add_fetch(&window_count, 1, __ATOMIC_RELAXED) > FL_LOG_BURST) {
		__atomic_add_fetch(&suppressed, 1, __ATOMIC_RELAXED);
		return;
	}
	char buf[512];
	int n = snprintf(buf, sizeof buf, "faultline: ");
	unsigned long sup = __atomic_exchange_n(&suppressed, 0, __ATOMIC_RELAXED);
	if (sup)
		n += snprintf(buf + n, sizeof buf - n, "(%lu messages suppressed) ", sup);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof buf - n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	syscall(SYS_write, 2, buf, (size_t)n);
}

const char *fl__errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "unknown error";
}
