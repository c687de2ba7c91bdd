/*
 * faultlined's log (dlog.h): a line is formatted into a stack buffer and
 * written whole, so concurrent threads cannot split each other's lines and
 * a reader of stderr (a test, the launcher) sees complete lines.
 */
#include "dlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int fl_dlog_level = FL_DLOG_INFO;

void fl_dlog_write(const char *fmt, ...)
{
	char line[2048];
	static const char prefix[] = "faultlined: ";
	size_t n = sizeof prefix - 1;
	memcpy(line, prefix, n);
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	if (k < 0)
		k = 0;
	n += (size_t)k < sizeof line - n - 1 ? (size_t)k : sizeof line - n - 2;
	/* One line per message, whatever the message held. */
	for (size_t i = sizeof prefix - 1; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[n++] = '\n';
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(2, line + off, n - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

int fl_dlog_parse(const char *name)
{
	static const char *const names[] = {"quiet", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}
