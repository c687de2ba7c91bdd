/*
 * Progress on stderr for the post-mortem commands: nothing for work that
 * ends within a second, then a line saying what is being done and how
 * far along it is, rewritten in place on a terminal and repeated every
 * few seconds otherwise.
 */
#ifndef FL_PROGRESS_H
#define FL_PROGRESS_H

#include <sqlite3.h>
#include <stdint.h>

struct fl_progress {
	const char *cmd;      /* "faultline report" */
	char what[96];        /* what is being done now */
	double start, last;   /* monotonic seconds: started, last printed */
	int tty;              /* stderr is a terminal */
	int shown;            /* a line is on the terminal (to be cleared) */
	uint64_t done, total; /* the last figures given (total 0: unknown) */
};

/* Start timing; nothing is printed yet. */
void fl_progress_init(struct fl_progress *p, const char *cmd);

/* Name the current step (printf format); resets nothing else. */
void fl_progress_step(struct fl_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* done of total units (total 0: unknown) of the current step. */
void fl_progress_update(struct fl_progress *p, uint64_t done, uint64_t total);

/* Clear the terminal line, if one is shown. */
void fl_progress_end(struct fl_progress *p);

/*
 * Keep p's line going (elapsed time, the current step) from SQLite's
 * progress handler while a long statement of db runs; p NULL removes
 * the handler.
 */
void fl_progress_sqlite(struct fl_progress *p, sqlite3 *db);

#endif
