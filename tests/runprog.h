/*
 * Running a program from a test: fork, exec, wait.  Shared by the
 * integration tests that run real programs, the shim's test programs and
 * the launcher.
 */
#ifndef FL_RUNPROG_H
#define FL_RUNPROG_H

#include <stddef.h>
#include <sys/types.h>

struct run_result {
	int status;      /* exit status, or 128+signal */
	int signal;      /* the signal that ended it, or 0 */
	long maxrss_kb;  /* peak RSS of the largest process of its tree (wait4) */
	char err[65536]; /* the tail of its stderr */
};

/*
 * Run argv (searched in PATH) with env's entries added to the environment,
 * stdin from in (NULL: /dev/null) and stdout into the file out (created or
 * truncated).  Fails the test when fork or wait fail.
 */
void run_to(char *const argv[], const char *in, const char *out, char *const env[], struct run_result *r);

/* Start argv (argv[0] a path, not searched) with env's entries added to
 * the environment and stdout into the file out (created or truncated);
 * stdin and stderr are the test's.  Its pid, for the caller to wait for. */
pid_t start_to(char *const argv[], const char *out, char *const env[]);

/* "<cwd>/build/lib/libfaultline.so": the shim of the normal build, also
 * for a sanitizer build's launcher (faultline run --lib). */
const char *shim_lib(void);

/* "LD_PRELOAD=" shim_lib(), for run_to's env. */
char *preload_env(void);

/*
 * The path of one of faultline's programs (faultline, faultlined): under
 * $FL_BIN_DIR when set (the slow tier points it at the sanitizer build),
 * build/bin otherwise.  The last four results stay valid.
 */
const char *test_bin(const char *name);

/*
 * A copy of test_bin(name) that any user can run, for tests that run it as
 * another user (nobody): the checkout may sit where only its owner can
 * enter (a clone under /root, a `mktemp -d`).  The copy is made in a new
 * 0755 directory under /tmp, itself 0755; faultline and faultlined need
 * only system libraries (ldd), nothing from the checkout.  Returns its
 * path (malloc'd), or NULL with the reason in why when it cannot be made
 * (the caller skips).  test_bin_shared_remove deletes the copy, its
 * directory and the path; the program may still be running.
 */
char *test_bin_shared(const char *name, char *why, size_t whylen);
void test_bin_shared_remove(char *path);

/* faultlined of the test's own on sock and db, started and ready (it
 * said so on its --ready-fd); its pid. */
pid_t start_faultlined(const char *sock, const char *db);

/* The first len-1 bytes of the file at path into buf (NUL-terminated);
 * fails the test when it cannot be read. */
void read_text(const char *path, char *buf, size_t len);

/* The last len-1 bytes of r's stderr into buf (NUL-terminated). */
void run_err_tail(const struct run_result *r, char *buf, size_t len);

#endif
