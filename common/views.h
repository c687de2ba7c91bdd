/*
 * The fault log's views for users (daemon/SCHEMA.md, "Views"): fault_log,
 * stack_frames, stack_totals, process_summary.  Their definitions live
 * once, in views.c; faultlined creates them in every database it opens
 * (fl_db_open), and the post-mortem commands (faultline report, query,
 * export) create the ones a database lacks as TEMP views on their
 * read-only connection, so they work on databases made before the views
 * existed without writing to them.
 */
#ifndef FL_VIEWS_H
#define FL_VIEWS_H

#include <sqlite3.h>
#include <stddef.h>

/* One view: its name and the SELECT that defines it. */
struct fl_view {
	const char *name;
	const char *summary; /* one line, for `faultline query --help` */
	const char *select;
};

/* The views, in dependency order (a view uses only those before it). */
extern const struct fl_view fl_views[];
extern const size_t fl_views_count;

/*
 * Create the views.  temp == 0: CREATE VIEW IF NOT EXISTS in the main
 * database (faultlined, inside its schema transaction).  temp != 0: for
 * each view the main database does not have, CREATE TEMP VIEW; the main
 * database is not written.  SQLite's result code; the message in err.
 */
int fl_views_create(sqlite3 *db, int temp, char *err, size_t errlen);

#endif
