/* Running a program from a test (see runprog.h). */
#include "runprog.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void run_to(char *const argv[], const char *in, const char *out, char *const env[],
		   struct run_result *r)
{
	int pe[2];
	cr_assert_eq(pipe(pe), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int i = open(in ? in : "/dev/null", O_RDONLY);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (i < 0 || o < 0)
			_exit(126);
		dup2(i, 0);
		dup2(o, 1);
		dup2(pe[1], 2);
		close(pe[0]);
		for (size_t k = 0; env && env[k]; k++)
			putenv(env[k]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pe[1]);
	size_t n = 0;
	char chunk[4096];
	ssize_t k;
	while ((k = read(pe[0], chunk, sizeof chunk)) > 0) {
		/* Keep the last part: that is where a failure is explained. */
		if (n + (size_t)k >= sizeof r->err) {
			size_t drop = n + (size_t)k - (sizeof r->err - 1);
			if (drop > n)
				drop = n;
			memmove(r->err, r->err + drop, n - drop);
			n -= drop;
		}
		size_t take = (size_t)k < sizeof r->err - 1 - n ? (size_t)k : sizeof r->err - 1 - n;
		memcpy(r->err + n, chunk, take);
		n += take;
	}
	r->err[n] = 0;
	close(pe[0]);
	int st;
	struct rusage ru;
	cr_assert_eq(wait4(pid, &st, 0, &ru), pid);
	r->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	r->status = r->signal ? 128 + r->signal : WEXITSTATUS(st);
	r->maxrss_kb = ru.ru_maxrss;
}

void read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot read %s", path);
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
}

void run_err_tail(const struct run_result *r, char *buf, size_t len)
{
	size_t l = strlen(r->err);
	const char *t = r->err + (l >= len ? l - len + 1 : 0);
	memcpy(buf, t, strlen(t) + 1);
}

const char *shim_lib(void)
{
	static char lib[4200];
	char cwd[4096];
	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(lib, sizeof lib, "%s/build/lib/libfaultline.so", cwd);
	return lib;
}

char *preload_env(void)
{
	static char env[4300];
	snprintf(env, sizeof env, "LD_PRELOAD=%s", shim_lib());
	return env;
}

pid_t start_to(char *const argv[], const char *out, char *const env[])
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = creat(out, 0600);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		for (size_t k = 0; env && env[k]; k++)
			putenv(env[k]);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

const char *test_bin(const char *name)
{
	static __thread char path[4][512];
	static __thread int next;
	const char *dir = getenv("FL_BIN_DIR");
	char *p = path[next++ & 3];
	snprintf(p, sizeof path[0], "%s/%s", dir && *dir ? dir : "build/bin", name);
	return p;
}

/*
 * Programs the tests run under the shim keep their fault log to
 * themselves unless a test asks for one: no daemon of the user's gets
 * test traffic, and `faultline run` starts no daemon writing
 * ./faultline.db into the checkout.
 */
__attribute__((constructor)) static void no_fault_log_by_default(void)
{
	setenv("FAULTLINE_SOCKET", "none", 0);
}

char *test_bin_shared(const char *name, char *why, size_t whylen)
{
	const char *from = test_bin(name);
	char dir[] = "/tmp/fl-bin-XXXXXX";
	if (!mkdtemp(dir)) {
		snprintf(why, whylen, "mkdtemp %s: %s", dir, strerror(errno));
		return NULL;
	}
	char *to = NULL;
	int in = -1, out = -1, ok = 0;
	if (asprintf(&to, "%s/%s", dir, name) < 0) {
		to = NULL;
		snprintf(why, whylen, "out of memory");
		goto done;
	}
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		snprintf(why, whylen, "%s: %s", from, strerror(errno));
		goto done;
	}
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	if (out < 0) {
		snprintf(why, whylen, "%s: %s", to, strerror(errno));
		goto done;
	}
	char buf[65536];
	ssize_t k;
	while ((k = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)k) != k) {
			snprintf(why, whylen, "writing %s: %s", to, strerror(errno));
			goto done;
		}
	if (k < 0) {
		snprintf(why, whylen, "reading %s: %s", from, strerror(errno));
		goto done;
	}
	/* Modes set outright: the umask does not narrow them. */
	if (fchmod(out, 0755) != 0 || chmod(dir, 0755) != 0) {
		snprintf(why, whylen, "chmod in %s: %s", dir, strerror(errno));
		goto done;
	}
	ok = 1;
done:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0 && ok) {
		snprintf(why, whylen, "writing %s: %s", to, strerror(errno));
		ok = 0;
	}
	if (!ok) {
		if (to)
			unlink(to);
		rmdir(dir);
		free(to);
		return NULL;
	}
	return to;
}

void test_bin_shared_remove(char *path)
{
	if (!path)
		return;
	unlink(path);
	rmdir(dirname(path)); /* path is freed next: dirname may write into it */
	free(path);
}

pid_t start_faultlined(const char *sock, const char *db)
{
	int rp[2];
	cr_assert_eq(pipe(rp), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(rp[0]);
		char fd[16];
		snprintf(fd, sizeof fd, "%d", rp[1]);
		execl(test_bin("faultlined"), "faultlined", "--socket", sock, "--db", db, "--ready-fd", fd, "--log",
		      "warn", (char *)NULL);
		_exit(127);
	}
	close(rp[1]);
	char buf[8] = "";
	ssize_t n = read(rp[0], buf, sizeof buf - 1);
	close(rp[0]);
	cr_assert(n >= 5 && !strncmp(buf, "ready", 5), "faultlined did not start");
	return pid;
}
