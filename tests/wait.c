/*
 * The tests' waits on conditions (tests/wait.h): one polling loop with a
 * back-off and a deadline, and the conditions several tests wait on.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "wait.h"

int fl_test_poll(int (*cond)(void *arg), void *arg, int timeout_ms)
{
	uint64_t end = fl_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	long step_us = 1000;
	for (;;) {
		if (cond(arg))
			return 1;
		uint64_t now = fl_mono_ns();
		if (now >= end)
			return 0;
		long left_us = (long)((end - now) / 1000);
		usleep((useconds_t)(step_us < left_us ? step_us : left_us));
		if (step_us < 50000)
			step_us *= 2;
	}
}

void fl_test_wait_until(int (*cond)(void *arg), void *arg, int timeout_ms, const char *what, ...)
{
	if (fl_test_poll(cond, arg, timeout_ms))
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, what);
	vsnprintf(msg, sizeof msg, what, ap);
	va_end(ap);
	cr_assert_fail("waited %d ms for %s", timeout_ms, msg);
}

struct file_wait {
	const char *path;
	off_t min_size;
	off_t size; /* -1: absent */
};

static int file_ready(void *arg)
{
	struct file_wait *w = arg;
	struct stat sb;
	w->size = stat(w->path, &sb) == 0 ? sb.st_size : -1;
	return w->size >= 0 && w->size >= w->min_size;
}

void fl_test_wait_file(const char *path, off_t min_size, int timeout_ms)
{
	struct file_wait w = {.path = path, .min_size = min_size, .size = -1};
	if (!fl_test_poll(file_ready, &w, timeout_ms))
		cr_assert_fail("waited %d ms for %s to hold %lld bytes or more: %s", timeout_ms, path,
			       (long long)min_size, w.size < 0 ? "it does not exist" : "it is shorter");
}

struct text_wait {
	const char *path, *text;
	int count, seen;
};

static int text_seen(void *arg)
{
	struct text_wait *w = arg;
	static char buf[1 << 20];
	int fd = open(w->path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t k;
	while (fd >= 0 && n < sizeof buf - 1 && (k = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)k;
	if (fd >= 0)
		close(fd);
	buf[n] = 0;
	w->seen = 0;
	for (const char *p = buf; (p = strstr(p, w->text)); p += strlen(w->text))
		w->seen++;
	return w->seen >= w->count;
}

void fl_test_wait_text(const char *path, const char *text, int count, int timeout_ms)
{
	struct text_wait w = {.path = path, .text = text, .count = count};
	if (!fl_test_poll(text_seen, &w, timeout_ms))
		cr_assert_fail("waited %d ms for %d of '%s' in %s: %d there", timeout_ms, count, text, path, w.seen);
}

struct sql_wait {
	const char *db, *sql;
	long long want, got;
	int at_least;
	char err[256];
};

static int sql_holds(void *arg)
{
	struct sql_wait *w = arg;
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	w->got = -1;
	w->err[0] = 0;
	if (sqlite3_open_v2(w->db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(h, 2000) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, w->sql, -1, &st, NULL) != SQLITE_OK) {
		/* Not there yet (the daemon creates it), or a bad query: say which at the end. */
		snprintf(w->err, sizeof w->err, "%s", h ? sqlite3_errmsg(h) : "out of memory");
	} else {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			w->got = sqlite3_column_int64(st, 0);
		else if (rc != SQLITE_DONE)
			snprintf(w->err, sizeof w->err, "%s", sqlite3_errmsg(h));
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return w->at_least ? w->got >= w->want : w->got == w->want;
}

long long fl_test_wait_sql(const char *db, const char *sql, long long want, int at_least, int timeout_ms)
{
	struct sql_wait w = {.db = db, .sql = sql, .want = want, .at_least = at_least};
	if (!fl_test_poll(sql_holds, &w, timeout_ms))
		cr_assert_fail("waited %d ms for %s %s%lld on %s: it gave %lld%s%s", timeout_ms, sql,
			       at_least ? ">= " : "", want, db, w.got, w.err[0] ? "; " : "", w.err);
	return w.got;
}

struct child_wait {
	pid_t pid;
	int reap, status, err;
};

static int child_ended(void *arg)
{
	struct child_wait *w = arg;
	if (w->reap) {
		pid_t r = waitpid(w->pid, &w->status, WNOHANG);
		if (r < 0 && errno != EINTR)
			w->err = errno;
		return r == w->pid || w->err;
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
		if (errno != EINTR)
			w->err = errno;
		return w->err != 0;
	}
	if (si.si_pid != w->pid)
		return 0;
	/* The status waitpid would give. */
	if (si.si_code == CLD_EXITED)
		w->status = (si.si_status & 0xff) << 8;
	else
		w->status = (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
	return 1;
}

int fl_test_wait_child(pid_t pid, int reap, int timeout_ms)
{
	struct child_wait w = {.pid = pid, .reap = reap};
	fl_test_wait_until(child_ended, &w, timeout_ms, "process %d to end", (int)pid);
	cr_assert_eq(w.err, 0, "waiting for process %d: %s", (int)pid, strerror(w.err));
	return w.status;
}
