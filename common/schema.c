/*
 * The reader's check of a fault log's schema version (schema.h): one
 * message per way a file can fail to be a fault log this faultline reads.
 */
#include "schema.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fl_schema_check(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		int ext = sqlite3_errcode(db);
		if (ext == SQLITE_NOTADB)
			snprintf(err, errlen, "%s is not an SQLite database, so not a fault log", path);
		else if (ext == SQLITE_CORRUPT)
			snprintf(err, errlen, "%s is damaged: %s", path, sqlite3_errmsg(db));
		else if (strstr(sqlite3_errmsg(db), "no such table"))
			snprintf(err, errlen,
				 "%s is an SQLite database but not a fault log (it has no meta table with a "
				 "schema_version)",
				 path);
		else
			snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	rc = sqlite3_step(st);
	int version = -1;
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		char *end = NULL;
		long v = t ? strtol((const char *)t, &end, 10) : -1;
		if (t && end != (const char *)t && *end == 0 && v > 0 && v < INT_MAX)
			version = (int)v;
		else
			snprintf(err, errlen, "%s is not a fault log (its schema_version is '%s')", path,
				 t ? (const char *)t : "");
	} else if (rc == SQLITE_DONE) {
		snprintf(err, errlen, "%s is an SQLite database but not a fault log (its meta table has no schema_version)",
			 path);
	} else {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	if (version > FL_DB_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "%s has schema version %d, newer than this faultline reads (%d): use the faultline that wrote it",
			 path, version, FL_DB_SCHEMA_VERSION);
		return -1;
	}
	return version;
}
