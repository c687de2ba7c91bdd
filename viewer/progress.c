/*
 * Progress on stderr (progress.h).  The first second is silent so that
 * quick commands print nothing but their answer; after that a terminal
 * gets a line rewritten four times a second, and a file or pipe one line
 * every five seconds (a log, not an animation).
 */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static double now(void)
{
	return (double)fl_mono_ns() / 1e9;
}

void fl_progress_init(struct fl_progress *p, const char *cmd)
{
	p->cmd = cmd;
	p->what[0] = 0;
	p->start = now();
	p->last = 0;
	p->tty = isatty(2);
	p->shown = 0;
	p->done = p->total = 0;
}

void fl_progress_step(struct fl_progress *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->what, sizeof p->what, fmt, ap);
	va_end(ap);
	p->done = p->total = 0;
	fl_progress_update(p, 0, 0);
}

void fl_progress_update(struct fl_progress *p, uint64_t done, uint64_t total)
{
	p->done = done;
	p->total = total;
	double t = now();
	if (t - p->start < 1.0 || t - p->last < (p->tty ? 0.25 : 5.0))
		return;
	p->last = t;
	char fig[64] = "";
	if (total)
		snprintf(fig, sizeof fig, ": %.0f%%", 100.0 * (double)done / (double)total);
	else if (done)
		snprintf(fig, sizeof fig, ": %llu", (unsigned long long)done);
	fprintf(stderr, "%s%s: %s%s (%.0f s)%s", p->tty ? "\r\033[K" : "", p->cmd, p->what, fig, t - p->start,
		p->tty ? "" : "\n");
	fflush(stderr);
	p->shown = p->tty;
}

void fl_progress_end(struct fl_progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r\033[K");
	p->shown = 0;
}

static int on_progress(void *arg)
{
	struct fl_progress *p = arg;
	fl_progress_update(p, 0, 0);
	return 0;
}

void fl_progress_sqlite(struct fl_progress *p, sqlite3 *db)
{
	/* About every millisecond or two of VM work: cheap, and often enough. */
	sqlite3_progress_handler(db, p ? 100000 : 0, p ? on_progress : NULL, p);
}
