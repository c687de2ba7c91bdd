/*
 * faultlined's log: one line per message on stderr, prefixed "faultlined: ",
 * each written with a single write(2) so lines from the daemon's threads
 * (network, writer, symbolizer) never interleave mid-line.  The level is
 * checked before the arguments are evaluated.  Fatal start-up errors go
 * out at FL_DLOG_ERROR, which even --log quiet prints.
 */
#ifndef FL_DLOG_H
#define FL_DLOG_H

enum fl_dlog_level {
	FL_DLOG_ERROR = 0, /* printed at every level: the daemon is about to exit 1 */
	FL_DLOG_WARN = 1,
	FL_DLOG_INFO = 2,
	FL_DLOG_DEBUG = 3,
};

extern int fl_dlog_level;

void fl_dlog_write(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "quiet", "warn", "info", "debug" -> level (quiet prints errors only); -1 if unknown. */
int fl_dlog_parse(const char *name);

#define FL_DLOG(level, ...)                                   \
	do {                                                  \
		if (fl_dlog_level >= (level))                 \
			fl_dlog_write(__VA_ARGS__);           \
	} while (0)

#define DLOG_ERROR(...) fl_dlog_write(__VA_ARGS__)
#define DLOG_WARN(...) FL_DLOG(FL_DLOG_WARN, __VA_ARGS__)
#define DLOG_INFO(...) FL_DLOG(FL_DLOG_INFO, __VA_ARGS__)
#define DLOG_DEBUG(...) FL_DLOG(FL_DLOG_DEBUG, __VA_ARGS__)

#endif
