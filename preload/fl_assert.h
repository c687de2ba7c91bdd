/*
 * FL_ASSERT: the shim's defensive checks.  Checked in debug and sanitizer
 * builds (compiled with -DFL_ASSERTS=1; not FL_DEBUG, which is log.h's
 * debug-level message), where a failure writes
 * "faultline: assertion failed: EXPR at FILE:LINE" with write(2) and
 * aborts; free in release builds, where the shim must never abort inside
 * someone else's process (the expression is still compiled, unevaluated,
 * so it cannot rot).  Async-signal-safe: the fault paths run in signal
 * handlers.  Self-contained (system headers only), so that code outside
 * the shim can use it too.
 */
#ifndef FL_ASSERT_H
#define FL_ASSERT_H

#if defined(FL_ASSERTS) && FL_ASSERTS

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noreturn, cold, unused)) static void fl__assert_fail(const char *expr,
								const char *file, int line)
{
	/* One write, so that threads failing together do not interleave. */
	char buf[512];
	size_t n = 0;
	const char *parts[] = {"faultline: assertion failed: ", expr, " at ", file, ":"};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		size_t l = strlen(parts[i]);
		if (l > sizeof buf - 16 - n)
			l = sizeof buf - 16 - n;
		memcpy(buf + n, parts[i], l);
		n += l;
	}
	char digits[12];
	int d = 0;
	unsigned v = line > 0 ? (unsigned)line : 0;
	do {
		digits[d++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && d < (int)sizeof digits);
	while (d)
		buf[n++] = digits[--d];
	buf[n++] = '\n';
	ssize_t w = write(2, buf, n);
	(void)w;
	abort();
}

#define FL_ASSERT(e) ((e) ? (void)0 : fl__assert_fail(#e, __FILE__, __LINE__))

#else

#define FL_ASSERT(e) ((void)sizeof(!(e)))

#endif

#endif
