/*
 * `faultline run`: the program's exit status (or 128+signal) comes back,
 * a bad option or FAULTLINE_* variable is refused before the program
 * starts, a missing program is reported, and the summary names what the
 * shim did.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runprog.h"

#define LAUNCHER "build/bin/faultline"

/* Run argv with one extra environment entry (or none); stderr into err. */
static int launch(char *const argv[], const char *env, char *err, size_t errlen)
{
	static struct run_result r;
	char *envv[] = {(char *)env, NULL};
	run_to(argv, NULL, "/dev/null", envv, &r);
	cr_assert_eq(r.signal, 0, "the launcher itself died: signal %d", r.signal);
	run_err_tail(&r, err, errlen);
	return r.status;
}

Test(launcher, passes_the_exit_status_through)
{
	static char err[8192];
	char *argv[] = {LAUNCHER, "run", "--budget", "8M", "--", "/bin/sh", "-c", "exit 7", NULL};
	cr_expect_eq(launch(argv, NULL, err, sizeof err), 7, "%s", err);
	cr_expect(strstr(err, "faultline: sh exited with status 7") != NULL, "%s", err);
}

Test(launcher, a_signal_becomes_128_plus_n)
{
	static char err[8192];
	char *argv[] = {LAUNCHER, "run", "--", "/bin/sh", "-c", "kill -KILL $$", NULL};
	cr_expect_eq(launch(argv, NULL, err, sizeof err), 128 + 9, "%s", err);
	cr_expect(strstr(err, "was ended by signal 9") != NULL, "%s", err);
	cr_expect(strstr(err, "killed before its exit handlers ran") != NULL, "%s", err);
}

Test(launcher, summary_names_engine_budget_and_faults)
{
	static char err[16384];
	char *argv[] = {LAUNCHER, "run", "--budget=2M", "--engine", "uffd", "--",
			"build/tests/progs/mmapper", "4096", NULL};
	cr_expect_eq(launch(argv, NULL, err, sizeof err), 0, "%s", err);
	cr_expect(strstr(err, "faultline: mmapper exited with status 0") != NULL, "%s", err);
	cr_expect(strstr(err, "engine            uffd, budget 2.0 MiB") != NULL, "%s", err);
	cr_expect(strstr(err, "faults            first-touch ") != NULL, "%s", err);
	cr_expect(strstr(err, "pressure reached  ") != NULL, "%s", err);
	cr_expect(strstr(err, "kernel peak RSS") != NULL, "%s", err);
	/* 16 MiB through a 2 MiB budget: pages were compressed. */
	const char *c = strstr(err, "evictions");
	cr_expect(c && !strstr(err, " 0 evictions"), "%s", err);
}

/* The program must not run at all: it would create this file. */
static void refused(char *const argv[], const char *env, const char *expect, const char *marker)
{
	static char err[8192];
	unlink(marker);
	cr_expect_eq(launch(argv, env, err, sizeof err), 2, "%s", err);
	cr_expect(strstr(err, expect) != NULL, "expected '%s' in: %s", expect, err);
	cr_expect_neq(access(marker, F_OK), 0, "the program ran although the launcher refused");
	unlink(marker);
}

Test(launcher, refuses_bad_options_before_starting)
{
	const char *m = "/tmp/fl-launcher-ran";
	char *bad_budget[] = {LAUNCHER, "run", "--budget", "lots", "--", "/usr/bin/touch", (char *)m, NULL};
	refused(bad_budget, NULL, "faultline run: --budget: FAULTLINE_BUDGET='lots' is not valid", m);
	char *bad_comp[] = {LAUNCHER, "run", "--compressor=zstd:40", "/usr/bin/touch", (char *)m, NULL};
	refused(bad_comp, NULL, "expected lz4, zstd, or zstd:LEVEL with LEVEL 1..19", m);
	char *unknown[] = {LAUNCHER, "run", "--budgte", "1M", "--", "/usr/bin/touch", (char *)m, NULL};
	refused(unknown, NULL, "unknown option '--budgte'", m);
	char *novalue[] = {LAUNCHER, "run", "--engine", NULL};
	refused(novalue, NULL, "option '--engine' needs a value", m);
	char *noprog[] = {LAUNCHER, "run", "--budget", "1M", NULL};
	refused(noprog, NULL, "no program given", m);
	char *env_prog[] = {LAUNCHER, "run", "--", "/usr/bin/touch", (char *)m, NULL};
	refused(env_prog, "FAULTLINE_ENGINE=fast", "FAULTLINE_ENGINE='fast' is not valid", m);
	refused(env_prog, "FAULTLINE_BUDGETT=1M", "FAULTLINE_BUDGETT is not a faultline setting", m);
}

Test(launcher, reports_a_program_that_cannot_run)
{
	static char err[8192];
	char *argv[] = {LAUNCHER, "run", "--", "/nonexistent/prog", NULL};
	cr_expect_eq(launch(argv, NULL, err, sizeof err), 127, "%s", err);
	cr_expect(strstr(err, "cannot run '/nonexistent/prog': No such file or directory") != NULL, "%s", err);
	char *notexec[] = {LAUNCHER, "run", "--", "/tmp", NULL}; /* a directory */
	cr_expect_eq(launch(notexec, NULL, err, sizeof err), 126, "%s", err);
}

Test(launcher, help_lists_every_setting)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl(LAUNCHER, LAUNCHER, "run", "--help", (char *)NULL);
		_exit(99);
	}
	close(p[1]);
	static char out[16384];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof out - 1 && (k = read(p[0], out + n, sizeof out - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = 0;
	int st;
	waitpid(pid, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	const char *flags[] = {"--budget", "--compressor", "--engine", "--log", "--store-max",
			       "--fault-around", "--readahead", "--spin-us", "--lib", "--quiet"};
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		cr_expect(strstr(out, flags[i]) != NULL, "--help does not mention %s", flags[i]);
}

/*
 * README's settings table is what `faultline settings --markdown` prints
 * from the table (regenerate with `make readme-settings`).
 */
/* What `faultline settings [flag]` prints, into buf; its length. */
static size_t settings_output(const char *flag, char *buf, size_t len)
{
	static struct run_result r;
	char out[] = "/tmp/fl-settings-XXXXXX";
	int fd = mkstemp(out);
	cr_assert_geq(fd, 0);
	close(fd);
	char *argv[] = {(char *)test_bin("faultline"), "settings", (char *)flag, NULL};
	run_to(argv, NULL, out, NULL, &r);
	cr_assert_eq(r.status, 0, "faultline settings: %s", r.err);
	FILE *f = fopen(out, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	unlink(out);
	buf[n] = 0;
	return n;
}

Test(launcher, readme_settings_table_is_the_table)
{
	static char table[16384], readme[262144];
	size_t tn = settings_output("--markdown", table, sizeof table);
	cr_assert_gt(tn, 100, "no table printed");
	FILE *f = fopen("README.md", "r");
	cr_assert_not_null(f, "README.md (the tests run from the checkout)");
	size_t rn = fread(readme, 1, sizeof readme - 1, f);
	fclose(f);
	readme[rn] = 0;
	const char *begin = strstr(readme, "<!-- settings-table: begin");
	cr_assert_not_null(begin, "README.md has no settings-table marker");
	begin = strchr(begin, '\n');
	cr_assert_not_null(begin);
	begin++;
	const char *end = strstr(begin, "<!-- settings-table: end");
	cr_assert_not_null(end, "README.md's settings table has no end marker");
	cr_expect((size_t)(end - begin) == tn && !memcmp(begin, table, tn),
		  "README.md's settings table differs from the settings table: run `make readme-settings`\n"
		  "README:\n%.*s\ntable:\n%s",
		  (int)(end - begin), begin, table);
}

/* `faultline settings` lists every variable with its default and range. */
Test(launcher, settings_lists_every_variable)
{
	static char text[16384];
	settings_output(NULL, text, sizeof text);
	cr_expect(strstr(text, "FAULTLINE_FAULT_AROUND\n"), "%s", text);
	cr_expect(strstr(text, "Accepts an integer 1..512 (pages); default 256."), "%s", text);
	cr_expect(strstr(text, "FAULTLINE_SUMMARY\n"), "%s", text);
	static struct run_result r;
	char *bad[] = {(char *)test_bin("faultline"), "settings", "--bogus", NULL};
	run_to(bad, NULL, "/dev/null", NULL, &r);
	cr_expect_eq(r.status, 2);
	cr_expect(strstr(r.err, "unknown argument '--bogus'"), "%s", r.err);
}

/* The shim follows exec through LD_PRELOAD: system(), posix_spawn() and
 * vfork()+exec children each run managed and write their own summary. */
Test(launcher, children_started_every_way_run_under_the_shim)
{
	char sum[] = "/tmp/fl-spawn-XXXXXX";
	int fd = mkstemp(sum);
	cr_assert_geq(fd, 0);
	close(fd);
	char env[300];
	snprintf(env, sizeof env, "FAULTLINE_SUMMARY=%s", sum);
	static char err[16384];
	char *argv[] = {LAUNCHER, "run", "--budget", "1M", "--engine", "uffd", "--",
			"build/tests/progs/spawner", "build/tests/progs/mmapper", "1024", NULL};
	cr_expect_eq(launch(argv, env, err, sizeof err), 0, "%s", err);
	/* spawner, the shell system() runs, and three mmappers. */
	FILE *f = fopen(sum, "r");
	cr_assert_not_null(f);
	char line[256];
	int managed = 0;
	while (fgets(line, sizeof line, f))
		managed += !strcmp(line, "engine=uffd\n");
	fclose(f);
	unlink(sum);
	cr_expect_geq(managed, 4, "processes that ran managed: %d\n%s", managed, err);
	cr_expect(strstr(err, "other processes") != NULL, "%s", err);
}
