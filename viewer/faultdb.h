/*
 * Opening a fault log for the post-mortem commands (report, query,
 * export): read-only, checked to be faultline's and of a schema version
 * this program reads, with the user views (daemon/views.h) available.
 */
#ifndef FL_FAULTDB_H
#define FL_FAULTDB_H

#include <sqlite3.h>
#include <stddef.h>

/* The database the commands read when none is named. */
#define FL_FAULTDB_DEFAULT "faultline.db"

/*
 * Open path read-only.  The file is never written: a database no daemon
 * has open (no -wal file beside it) is opened immutable, so that not even
 * the -wal and -shm files SQLite makes for a WAL reader appear; one being
 * written is read through its write-ahead log.  Then: the meta table's
 * schema_version must be one this program reads; the views the database
 * lacks (made before they existed) are created as TEMP views on this
 * connection; PRAGMA query_only is set.  Returns the connection, or NULL
 * with one line in err saying what is wrong with the file (missing, not
 * SQLite, not a fault log, too new, unreadable).
 */
sqlite3 *fl_faultdb_open(const char *path, char *err, size_t errlen);

/* The statement would change a database: sqlite3_stmt_readonly() says no. */
int fl_faultdb_writes(sqlite3_stmt *st);

#endif
