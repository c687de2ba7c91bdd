/*
 * Waiting in tests on the thing itself, never on time: a test that needs
 * the daemon to have stored a row, a process to have gone or a pane to
 * show some text polls for exactly that, with a short back-off (1 ms,
 * doubling to 50 ms), until it holds or a deadline passes.  The deadline
 * is only there so a broken build fails instead of hanging: it is set
 * generously, and reaching it fails the test with a message naming what
 * was awaited and what was seen last.  A sleep that hopes something has
 * happened meanwhile has no place in the suite.
 */
#ifndef FL_TEST_WAIT_H
#define FL_TEST_WAIT_H

#include <stddef.h>
#include <sys/types.h>

/* The deadline for things that happen within a second when all is well. */
#define FL_WAIT_MS 30000

/*
 * Poll cond(arg) until it returns nonzero: 1 when it did within
 * timeout_ms, 0 when the deadline passed first (cond is tried once more
 * at the deadline).  Does not fail the test: for callers that report the
 * failure themselves.
 */
int fl_test_poll(int (*cond)(void *arg), void *arg, int timeout_ms);

/* fl_test_poll, failing the test on the deadline with "waited N ms for <what>". */
void fl_test_wait_until(int (*cond)(void *arg), void *arg, int timeout_ms, const char *what, ...)
	__attribute__((format(printf, 4, 5)));

/* Until path exists and holds at least min_size bytes. */
void fl_test_wait_file(const char *path, off_t min_size, int timeout_ms);

/* Until path holds at least count occurrences of text (a log file). */
void fl_test_wait_text(const char *path, const char *text, int count, int timeout_ms);

/*
 * Until the integer the query gives (its first column of its first row;
 * -1: no row) on the SQLite database at db is want, or with at_least set
 * want or more.  The database is opened read-only for each try, so a
 * writer's commits are seen.  Returns the value last read.
 */
long long fl_test_wait_sql(const char *db, const char *sql, long long want, int at_least, int timeout_ms);

/*
 * Until child pid has ended, and leave it unreaped (a zombie) when reap is
 * 0; with reap set, reap it.  Returns its wait status (as waitpid's).
 */
int fl_test_wait_child(pid_t pid, int reap, int timeout_ms);

#endif
