/*
 * faultlined's database: opening it (WAL, the schema of daemon/SCHEMA.md,
 * its version), the start-up check of processes left 'running' by an
 * earlier daemon, and the reads the network thread makes when a process
 * it does not know says HELLO (a shim reconnecting to a restarted
 * daemon).  The writes are ingest.c's; the threads that use a connection
 * are writer.c (one read-write connection), server.c and resolve.c (a
 * read-only connection each).
 */
#ifndef FL_DB_H
#define FL_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "procs.h"

#include "schema.h" /* FL_DB_SCHEMA_VERSION */

/*
 * Open (creating if needed) the database at path for writing: WAL mode,
 * synchronous=NORMAL, the schema created or checked.  max_bytes > 0 caps
 * the file (PRAGMA max_page_count), for a disk that should not fill up.
 * Returns the connection, or NULL with the reason in err (one line,
 * without the path).
 */
sqlite3 *fl_db_open(const char *path, uint64_t max_bytes, char *err, size_t errlen);

/* A read-only connection to a database fl_db_open() made; NULL with err. */
sqlite3 *fl_db_open_reader(const char *path, char *err, size_t errlen);

/* Run SQL that returns no rows; SQLite's result code, message in err. */
int fl_db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/*
 * Processes left 'running' whose pid no longer exists (alive(pid) == 0)
 * become 'vanished', ending at the last event stored for them.  Returns
 * how many, or -1 with err.
 */
int fl_db_reap(sqlite3 *db, int (*alive)(int32_t pid), char *err, size_t errlen);

/*
 * The procs.h lookup hook, with ctx the read-only connection: find the
 * row of (p->pid, p->start_real_ns), and the stacks and regions stored for
 * it.
 */
int fl_db_lookup(void *ctx, struct fl_proc *p, char *err, size_t errlen);

#endif
