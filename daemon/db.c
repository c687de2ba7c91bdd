/*
 * Opening faultlined's database and the few reads the daemon makes of it
 * (db.h).  The schema below is the one daemon/SCHEMA.md documents; change
 * both together, and FL_DB_SCHEMA_VERSION with them.
 *
 * The faults table has no secondary index on purpose: each index on it
 * cost 0.7-2.5 us per row here (bench/README.md), which would put ingest
 * far below 1M faults/s.  fault_spans (row-id ranges of one process with
 * their time bounds) and stack_faults (totals per process, stack and kind)
 * answer the queries an index would, and cost one row per batch of faults.
 */
#include "db.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faultline/faultline.h"
#include "faultline/wire.h"
#include "views.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;\n"
	"CREATE TABLE IF NOT EXISTS processes(\n"
	"  id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, ppid INTEGER NOT NULL,\n"
	"  parent_id INTEGER REFERENCES processes(id),\n"
	"  exe TEXT NOT NULL, argv TEXT NOT NULL, engine TEXT NOT NULL,\n"
	"  compressor TEXT NOT NULL, compressor_level INTEGER NOT NULL,\n"
	"  budget_bytes INTEGER NOT NULL, page_size INTEGER NOT NULL, stacks_every INTEGER NOT NULL,\n"
	"  start_ns INTEGER NOT NULL, start_mono_ns INTEGER NOT NULL,\n"
	"  end_ns INTEGER, exit_status INTEGER,\n"
	"  how TEXT NOT NULL DEFAULT 'running' CHECK (how IN ('running','exited','signalled','vanished')),\n"
	"  dropped_events INTEGER NOT NULL DEFAULT 0, dropped_stacks INTEGER NOT NULL DEFAULT 0,\n"
	"  dropped_other INTEGER NOT NULL DEFAULT 0);\n"
	"CREATE INDEX IF NOT EXISTS processes_pid ON processes(pid, start_ns);\n"
	"CREATE TABLE IF NOT EXISTS modules(\n"
	"  id INTEGER PRIMARY KEY, process INTEGER NOT NULL REFERENCES processes(id),\n"
	"  path TEXT NOT NULL, build_id TEXT, start INTEGER NOT NULL, len INTEGER NOT NULL,\n"
	"  bias INTEGER NOT NULL, loaded_ns INTEGER NOT NULL, unloaded_ns INTEGER);\n"
	"CREATE INDEX IF NOT EXISTS modules_process ON modules(process, start);\n"
	"CREATE TABLE IF NOT EXISTS regions(\n"
	"  id INTEGER PRIMARY KEY, process INTEGER NOT NULL REFERENCES processes(id),\n"
	"  region_id INTEGER NOT NULL, start INTEGER NOT NULL, len INTEGER NOT NULL,\n"
	"  prot INTEGER NOT NULL, kind TEXT NOT NULL, created_ns INTEGER NOT NULL, destroyed_ns INTEGER);\n"
	"CREATE INDEX IF NOT EXISTS regions_process ON regions(process, region_id);\n"
	"CREATE TABLE IF NOT EXISTS stacks(\n"
	"  id INTEGER PRIMARY KEY, process INTEGER NOT NULL REFERENCES processes(id),\n"
	"  stack_id INTEGER NOT NULL, nframes INTEGER NOT NULL, defined_ns INTEGER NOT NULL,\n"
	"  UNIQUE(process, stack_id));\n"
	"CREATE TABLE IF NOT EXISTS frames(\n"
	"  id INTEGER PRIMARY KEY, stack INTEGER NOT NULL REFERENCES stacks(id),\n"
	"  depth INTEGER NOT NULL, inline_depth INTEGER NOT NULL DEFAULT 0, pc INTEGER NOT NULL,\n"
	"  module INTEGER REFERENCES modules(id), offset INTEGER,\n"
	"  function TEXT, file TEXT, line INTEGER, symbolized INTEGER NOT NULL DEFAULT 0);\n"
	"CREATE INDEX IF NOT EXISTS frames_stack ON frames(stack, depth, inline_depth);\n"
	"CREATE TABLE IF NOT EXISTS fault_kinds(kind INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
	"CREATE TABLE IF NOT EXISTS faults(\n"
	"  id INTEGER PRIMARY KEY, process INTEGER NOT NULL, t_ns INTEGER NOT NULL,\n"
	"  tid INTEGER NOT NULL, addr INTEGER NOT NULL, region INTEGER NOT NULL,\n"
	"  kind INTEGER NOT NULL, pages INTEGER NOT NULL, latency_ns INTEGER NOT NULL,\n"
	"  write INTEGER NOT NULL, stack INTEGER NOT NULL);\n"
	"CREATE TABLE IF NOT EXISTS fault_spans(\n"
	"  id INTEGER PRIMARY KEY, process INTEGER NOT NULL, first_id INTEGER NOT NULL,\n"
	"  last_id INTEGER NOT NULL, t_min INTEGER NOT NULL, t_max INTEGER NOT NULL,\n"
	"  faults INTEGER NOT NULL);\n"
	"CREATE INDEX IF NOT EXISTS fault_spans_process ON fault_spans(process, t_min);\n"
	"CREATE TABLE IF NOT EXISTS stack_faults(\n"
	"  process INTEGER NOT NULL, stack INTEGER NOT NULL, kind INTEGER NOT NULL,\n"
	"  faults INTEGER NOT NULL, pages INTEGER NOT NULL, writes INTEGER NOT NULL,\n"
	"  latency_ns INTEGER NOT NULL, latency_max_ns INTEGER NOT NULL,\n"
	"  first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,\n"
	"  PRIMARY KEY(process, stack, kind)) WITHOUT ROWID;\n"
	"CREATE TABLE IF NOT EXISTS samples(\n"
	"  id INTEGER PRIMARY KEY, process INTEGER NOT NULL, t_ns INTEGER NOT NULL,\n"
	"  managed_pages INTEGER NOT NULL, resident_pages INTEGER NOT NULL,\n"
	"  inactive_pages INTEGER NOT NULL, compressed_pages INTEGER NOT NULL,\n"
	"  same_filled_pages INTEGER NOT NULL, compressed_bytes INTEGER NOT NULL,\n"
	"  store_bytes INTEGER NOT NULL, budget_pages INTEGER NOT NULL,\n"
	"  resident_peak_pages INTEGER NOT NULL,\n"
	"  faults_first_touch INTEGER NOT NULL, faults_soft INTEGER NOT NULL,\n"
	"  faults_decompress INTEGER NOT NULL, faults_same_filled INTEGER NOT NULL,\n"
	"  faults_spill INTEGER NOT NULL, faults_wp INTEGER NOT NULL,\n"
	"  fault_ns_total INTEGER NOT NULL, pages_evicted INTEGER NOT NULL,\n"
	"  pressure TEXT NOT NULL, regions INTEGER NOT NULL);\n"
	"CREATE INDEX IF NOT EXISTS samples_process ON samples(process, t_ns);\n"
	"CREATE TABLE IF NOT EXISTS spill_samples(\n"
	"  id INTEGER PRIMARY KEY, process INTEGER NOT NULL, t_ns INTEGER NOT NULL,\n"
	"  spilled_pages INTEGER NOT NULL, spilled_bytes INTEGER NOT NULL, file_bytes INTEGER NOT NULL,\n"
	"  writes INTEGER NOT NULL, write_errors INTEGER NOT NULL,\n"
	"  reads INTEGER NOT NULL, read_errors INTEGER NOT NULL);\n"
	"CREATE INDEX IF NOT EXISTS spill_samples_process ON spill_samples(process, t_ns);\n"
	"CREATE TABLE IF NOT EXISTS drops(\n"
	"  id INTEGER PRIMARY KEY, process INTEGER NOT NULL, t_ns INTEGER NOT NULL,\n"
	"  events INTEGER NOT NULL, stacks INTEGER NOT NULL, other INTEGER NOT NULL);\n"
	"CREATE INDEX IF NOT EXISTS drops_process ON drops(process, t_ns);\n"
	"CREATE TABLE IF NOT EXISTS allocs(\n"
	"  process INTEGER NOT NULL, alloc_id INTEGER NOT NULL, stack INTEGER NOT NULL,\n"
	"  kind TEXT NOT NULL, addr INTEGER, size INTEGER, weight INTEGER,\n"
	"  t_ns INTEGER, free_ns INTEGER, faults INTEGER NOT NULL, pages INTEGER NOT NULL,\n"
	"  latency_ns INTEGER NOT NULL, peak_ns INTEGER, peak_resident_bytes INTEGER,\n"
	"  peak_compressed_bytes INTEGER, dropped INTEGER NOT NULL DEFAULT 0,\n"
	"  PRIMARY KEY(process, alloc_id)) WITHOUT ROWID;\n"
	"CREATE INDEX IF NOT EXISTS allocs_addr ON allocs(process, addr);\n";

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

int fl_db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		set_err(err, errlen, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc;
}

/* One integer (or text) out of a one-row query; SQLITE_ROW when there was a row. */
static int query1(sqlite3 *db, const char *sql, char *text, size_t textlen, int64_t *num)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (num)
			*num = sqlite3_column_int64(st, 0);
		if (text) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			snprintf(text, textlen, "%s", t ? (const char *)t : "");
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Why the file could not be opened, from the file system's point of view:
 * SQLite says only "unable to open database file".
 */
static void explain_cantopen(const char *path, const char *msg, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	const char *d = dirname(dir);
	if (access(path, F_OK) == 0) {
		if (access(path, R_OK | W_OK) != 0) {
			snprintf(err, errlen, "%s (%s)", msg, strerror(errno));
			return;
		}
	} else if (access(d, F_OK) != 0) {
		snprintf(err, errlen, "%s (directory %s: %s)", msg, d, strerror(errno));
		return;
	}
	if (access(d, W_OK | X_OK) != 0) {
		snprintf(err, errlen, "%s (directory %s is not writable: %s)", msg, d, strerror(errno));
		return;
	}
	set_err(err, errlen, msg);
}

static int is_memory(const char *path)
{
	return strcmp(path, ":memory:") == 0 || path[0] == 0;
}

sqlite3 *fl_db_open(const char *path, uint64_t max_bytes, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	/* NOMUTEX: each connection is used by one thread at a time. */
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		explain_cantopen(path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), err, errlen);
		sqlite3_close(db);
		return NULL;
	}
	char mode[32] = "";
	/* SQLite opens a file it may not write read-only without a word;
	 * the daemon would only find out at its first insert. */
	if (sqlite3_db_readonly(db, "main") == 1) {
		snprintf(err, errlen, "the file is read-only (%s)",
			 access(path, W_OK) != 0 ? strerror(errno) : "opened read-only");
		goto fail;
	}
	sqlite3_busy_timeout(db, 5000);
	rc = query1(db, "PRAGMA journal_mode=WAL", mode, sizeof mode, NULL);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_CANTOPEN || rc == SQLITE_READONLY || rc == SQLITE_IOERR ||
		    (rc & 0xff) == SQLITE_IOERR)
			explain_cantopen(path, sqlite3_errmsg(db), err, errlen);
		else
			set_err(err, errlen, sqlite3_errmsg(db));
		goto fail;
	}
	if (strcmp(mode, "wal") != 0 && !is_memory(path)) {
		snprintf(err, errlen, "cannot switch to write-ahead logging (journal mode stays %s)", mode);
		goto fail;
	}
	/* NORMAL: a power cut may lose the last commits, never corrupt.
	 * The cache is for the writer's working set of index pages. */
	if (fl_db_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY",
		       err, errlen) != SQLITE_OK)
		goto fail;
	if (max_bytes) {
		int64_t page = 4096;
		query1(db, "PRAGMA page_size", NULL, 0, &page);
		char sql[96];
		uint64_t pages = max_bytes / (uint64_t)(page > 0 ? page : 4096);
		snprintf(sql, sizeof sql, "PRAGMA max_page_count=%llu", (unsigned long long)(pages ? pages : 1));
		if (fl_db_exec(db, sql, err, errlen) != SQLITE_OK)
			goto fail;
	}
	if (fl_db_exec(db, "BEGIN IMMEDIATE", err, errlen) != SQLITE_OK)
		goto fail_explain;
	if (fl_db_exec(db, schema, err, errlen) != SQLITE_OK)
		goto fail_rollback;
	char version[32] = "";
	rc = query1(db, "SELECT value FROM meta WHERE key='schema_version'", version, sizeof version, NULL);
	if (rc == SQLITE_DONE) {
		char sql[512];
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(sql, sizeof sql,
			 "INSERT INTO meta VALUES('schema_version','%d'),('faultline_version','%s'),"
			 "('created_ns','%lld')",
			 FL_DB_SCHEMA_VERSION, FL_DB_FAULTLINE_VERSION,
			 (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec);
		if (fl_db_exec(db, sql, err, errlen) != SQLITE_OK)
			goto fail_rollback;
	} else if (rc != SQLITE_ROW) {
		set_err(err, errlen, sqlite3_errmsg(db));
		goto fail_rollback;
	} else if (atoi(version) != FL_DB_SCHEMA_VERSION) {
		snprintf(err, errlen, "it has schema version %s; this faultlined writes version %d", version,
			 FL_DB_SCHEMA_VERSION);
		goto fail_rollback;
	}
	/* The user views (views.c): added to databases made before them too
	 * (views only add to the schema: its version stays). */
	if (fl_views_create(db, 0, err, errlen) != SQLITE_OK)
		goto fail_rollback;
	/* The names of enum fl_fault_kind, refreshed so they follow the code. */
	for (int k = 0; k < FL_FAULT__COUNT; k++) {
		char *sql = sqlite3_mprintf("INSERT OR REPLACE INTO fault_kinds VALUES(%d, %Q)", k,
					    fl_fault_kind_name((enum fl_fault_kind)k));
		rc = sql ? fl_db_exec(db, sql, err, errlen) : SQLITE_NOMEM;
		sqlite3_free(sql);
		if (rc != SQLITE_OK)
			goto fail_rollback;
	}
	if (fl_db_exec(db, "COMMIT", err, errlen) != SQLITE_OK)
		goto fail_rollback;
	return db;

fail_rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	goto fail;
fail_explain:
	explain_cantopen(path, sqlite3_errmsg(db), err, errlen);
fail:
	sqlite3_close(db);
	return NULL;
}

sqlite3 *fl_db_open_reader(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		set_err(err, errlen, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	/* Readers never wait on the writer in WAL mode, except for the
	 * moment a checkpoint resets the log. */
	sqlite3_busy_timeout(db, 1000);
	return db;
}

int fl_db_reap(sqlite3 *db, int (*alive)(int32_t pid), char *err, size_t errlen)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int n = 0;
	int rc = sqlite3_prepare_v2(db, "SELECT id, pid, start_ns FROM processes WHERE how = 'running'", -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(
			db,
			"UPDATE processes SET how = 'vanished', end_ns = max(start_ns,"
			" coalesce((SELECT max(t_max) FROM fault_spans WHERE process = ?1), 0),"
			" coalesce((SELECT max(t_ns) FROM samples WHERE process = ?1), 0),"
			" coalesce((SELECT max(t_ns) FROM drops WHERE process = ?1), 0))"
			" WHERE id = ?1 AND how = 'running'",
			-1, &upd, NULL);
	if (rc != SQLITE_OK)
		goto out;
	/* Collect first: updating rows under a running SELECT on them is allowed
	 * in SQLite but reads badly. */
	int64_t *ids = NULL;
	size_t nids = 0, cap = 0;
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		if (alive((int32_t)sqlite3_column_int64(sel, 1)))
			continue;
		if (nids == cap) {
			cap = cap ? cap * 2 : 16;
			int64_t *x = realloc(ids, cap * sizeof *x);
			if (!x) {
				rc = SQLITE_NOMEM;
				break;
			}
			ids = x;
		}
		ids[nids++] = sqlite3_column_int64(sel, 0);
	}
	if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
		for (size_t i = 0; i < nids && rc == SQLITE_OK; i++) {
			sqlite3_bind_int64(upd, 1, ids[i]);
			rc = sqlite3_step(upd) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
			sqlite3_reset(upd);
			n++;
		}
	}
	free(ids);
out:
	if (rc != SQLITE_OK)
		set_err(err, errlen, sqlite3_errmsg(db));
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rc == SQLITE_OK ? n : -1;
}

static uint32_t kind_of(const char *name)
{
	for (uint32_t k = FL_RANGE_PLAIN; k < FL_RANGE__COUNT; k++)
		if (strcmp(name, fl_range_kind_name((enum fl_range_kind)k)) == 0)
			return k;
	return FL_RANGE_PLAIN;
}

/* The stacks of a process row, hashed as conn.c hashes a STACK record. */
static int load_stacks(sqlite3 *db, struct fl_proc *p)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT s.stack_id, f.pc FROM stacks s JOIN frames f ON f.stack = s.id"
				    " WHERE s.process = ? AND f.inline_depth = 0 ORDER BY s.id, f.depth",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, p->rowid);
	uint64_t pcs[FL_WIRE_MAX_FRAMES];
	uint32_t n = 0, id = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t sid = (uint32_t)sqlite3_column_int64(st, 0);
		if (n && sid != id) {
			if (fl_procs_add_stack(p, id, fl_procs_stack_hash(pcs, n)) != 0) {
				rc = SQLITE_NOMEM;
				break;
			}
			n = 0;
		}
		id = sid;
		if (n < FL_WIRE_MAX_FRAMES)
			pcs[n++] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (rc == SQLITE_DONE && n && fl_procs_add_stack(p, id, fl_procs_stack_hash(pcs, n)) != 0)
		rc = SQLITE_NOMEM;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Its regions: the newest row of each id says whether it is alive. */
static int load_regions(sqlite3 *db, struct fl_proc *p)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT region_id, start, len, prot, kind, destroyed_ns IS NULL FROM regions"
				    " WHERE process = ? ORDER BY id",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, p->rowid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *kind = sqlite3_column_text(st, 4);
		int state = sqlite3_column_int(st, 5) ? FL_REGION_ALIVE : FL_REGION_DESTROYED;
		uint64_t val = fl_procs_region_val((uint64_t)sqlite3_column_int64(st, 1),
						   (uint64_t)sqlite3_column_int64(st, 2),
						   (uint32_t)sqlite3_column_int64(st, 3),
						   kind_of(kind ? (const char *)kind : ""), state);
		if (fl_procs_add_region(p, (uint64_t)sqlite3_column_int64(st, 0), val) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int fl_db_lookup(void *ctx, struct fl_proc *p, char *err, size_t errlen)
{
	sqlite3 *db = ctx;
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "SELECT id FROM processes WHERE pid = ? AND start_ns = ? ORDER BY id DESC LIMIT 1",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, p->pid);
	sqlite3_bind_int64(st, 2, (int64_t)p->start_real_ns);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		p->rowid = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		goto fail;
	if ((rc = load_stacks(db, p)) != SQLITE_OK || (rc = load_regions(db, p)) != SQLITE_OK)
		goto fail;
	return 1;
fail:
	snprintf(err, errlen, "reading the database for pid %d: %s", p->pid,
		 rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(db));
	p->rowid = 0;
	return -1;
}
