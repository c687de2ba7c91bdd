/*
 * The fault log's schema version (daemon/SCHEMA.md), shared by the
 * daemon, which writes it, and the commands that read a fault log
 * (report, query, export, top), which refuse a file that is not one or
 * is of a newer schema.
 */
#ifndef FL_SCHEMA_H
#define FL_SCHEMA_H

#include <sqlite3.h>
#include <stddef.h>

#define FL_DB_SCHEMA_VERSION 1
#define FL_DB_FAULTLINE_VERSION "0.1.0"

/*
 * The schema version of the fault log open on db (path is for messages).
 * Returns it, or -1 with one line in err when the file is not SQLite, is
 * damaged, is not a fault log, or is of a schema newer than
 * FL_DB_SCHEMA_VERSION.
 */
int fl_schema_check(sqlite3 *db, const char *path, char *err, size_t errlen);

#endif
