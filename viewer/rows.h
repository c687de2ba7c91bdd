/*
 * Printing the rows of an SQL statement as an aligned table, CSV or JSON:
 * what `faultline query` prints, and `faultline export --csv`.
 */
#ifndef FL_ROWS_H
#define FL_ROWS_H

#include <sqlite3.h>
#include <stdio.h>

#include "progress.h"

enum fl_rows_format { FL_ROWS_TABLE, FL_ROWS_CSV, FL_ROWS_JSON };

/* "table", "csv", "json" -> the format; -1 if none of them. */
int fl_rows_format_parse(const char *name);

/*
 * Step st to its end, printing every row to out with a header (the
 * column names).  A table is aligned on the widths of its first 1000
 * rows (wider values later just push their line out); numbers are
 * right-aligned, NULL is empty.  JSON is one array of objects, one
 * object per row.  progress (may be NULL) is kept up to date with the
 * rows written.  Returns SQLITE_DONE, or SQLite's error code (the
 * message is sqlite3_errmsg) after the rows printed so far.
 */
int fl_rows_print(sqlite3_stmt *st, enum fl_rows_format fmt, FILE *out, struct fl_progress *progress);

#endif
