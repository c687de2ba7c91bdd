/*
 * The shim's logging: one line per message on stderr, prefixed
 * "faultline:", written with write(2) from a fixed stack buffer so it is
 * safe on every shim thread.  The level is checked before the arguments are
 * evaluated, and warnings are rate-limited so a broken engine cannot flood
 * the host's stderr.
 */
#ifndef FL_LOG_H
#define FL_LOG_H

#include "options.h" /* enum fl_log_level */

extern int fl__log_level;

void fl__log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define FL_LOG(level, ...)                                    \
	do {                                                  \
		if (__builtin_expect(fl__log_level >= (level), 0)) \
			fl__log_write((level), __VA_ARGS__);  \
	} while (0)

/*
 * The name of an errno value ("ENOMEM").  For messages on the shim's own
 * threads: strerror may translate, and translating may allocate.
 */
const char *fl__errname(int e);

#define FL_WARN(...) FL_LOG(FL_LOG_WARN, __VA_ARGS__)
#define FL_INFO(...) FL_LOG(FL_LOG_INFO, __VA_ARGS__)
#define FL_DEBUG(...) FL_LOG(FL_LOG_DEBUG, __VA_ARGS__)

#endif
