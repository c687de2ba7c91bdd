/*
 * Opening a fault log read-only for report, query and export (faultdb.h).
 *
 * SQLite's own messages for a bad file are terse ("unable to open
 * database file", "file is not a database"); the checks here say what is
 * wrong in the user's terms before SQLite is asked.  A WAL database read
 * through a normal read-only connection gets -wal and -shm files created
 * beside it, which a reader that promises not to touch the database must
 * not leave behind: with no -wal file there is no writer, so the file is
 * opened immutable instead (no locks, no side files).
 */
#include "faultdb.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "schema.h"
#include "views.h"

/* "file:" URI for path, with the characters URIs reserve escaped. */
static char *uri_for(const char *path, int immutable)
{
	size_t n = strlen(path);
	char *u = malloc(n * 3 + 64);
	if (!u)
		return NULL;
	char *o = u + sprintf(u, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p == '?' || *p == '#' || *p == '%' || *p < 0x20 || *p >= 0x7f)
			o += sprintf(o, "%%%02X", *p);
		else
			*o++ = (char)*p;
	}
	strcpy(o, immutable ? "?immutable=1" : "?mode=ro");
	return u;
}

/* What is wrong with the file before SQLite sees it; 0 if nothing. */
static int check_file(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "%s: no such file (faultline run and faultlined write ./%s by default)",
				 path, FL_FAULTDB_DEFAULT);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s is a directory, not a fault log", path);
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char head[16];
	ssize_t got = read(fd, head, sizeof head);
	int e = errno;
	close(fd);
	if (got < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	if (got == 0) {
		snprintf(err, errlen, "%s is empty, not a fault log", path);
		return -1;
	}
	if (got < (ssize_t)sizeof head || memcmp(head, "SQLite format 3", 16) != 0) {
		snprintf(err, errlen, "%s is not an SQLite database, so not a fault log", path);
		return -1;
	}
	return 0;
}

sqlite3 *fl_faultdb_open(const char *path, char *err, size_t errlen)
{
	if (check_file(path, err, errlen) != 0)
		return NULL;
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char wal[PATH_MAX + 8];
	snprintf(wal, sizeof wal, "%s-wal", real);
	int immutable = access(wal, F_OK) != 0;
	char *uri = uri_for(real, immutable);
	if (!uri) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	/* A daemon's checkpoint may hold the log for a moment. */
	sqlite3_busy_timeout(db, 2000);
	if (fl_schema_check(db, path, err, errlen) < 0)
		goto fail;
	char msg[256] = "";
	if (fl_views_create(db, 1, msg, sizeof msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot set up the views: %s", path, msg);
		goto fail;
	}
	if (sqlite3_exec(db, "PRAGMA query_only=1", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		goto fail;
	}
	return db;
fail:
	sqlite3_close(db);
	return NULL;
}

int fl_faultdb_writes(sqlite3_stmt *st)
{
	return !sqlite3_stmt_readonly(st);
}
