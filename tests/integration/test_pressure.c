/*
 * Pressure notifications in a preloaded program (tests/progs/pressurer):
 * a subscriber found with dlsym hears WARN and CRITICAL and then NORMAL
 * again as the program grows past its budget and shrinks, under each
 * engine and in a forked child; FAULTLINE_PRESSURE_SIGNAL (through the launcher) brings the
 * same levels in si_value; a signal the program leaves at its default is
 * not sent (one warning, the program lives); a rise makes jemalloc purge
 * its dirty pages.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runprog.h"

#define PRESSURER "build/tests/progs/pressurer"
#define LAUNCHER "build/bin/faultline"

static struct run_result R;
static char out[8192], err[8192];

/* Run argv with extra environment entries: its stdout into out, the tail
 * of its stderr into err; returns its status. */
static int run(char *const argv[], char *const env[])
{
	char path[] = "/tmp/fl-pressure-out-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	run_to(argv, NULL, path, env, &R);
	ssize_t n = read(fd, out, sizeof out - 1);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	unlink(path);
	run_err_tail(&R, err, sizeof err);
	return R.status;
}

/* The levels the program printed after "pressurer: <what>" (one line). */
static const char *line(const char *what)
{
	static char buf[1024];
	char key[64];
	snprintf(key, sizeof key, "pressurer: %s", what);
	const char *p = strstr(out, key);
	if (!p)
		return "";
	p += strlen(key);
	size_t n = strcspn(p, "\n");
	if (n >= sizeof buf)
		n = sizeof buf - 1;
	memcpy(buf, p, n);
	buf[n] = 0;
	return buf;
}

/* WARN and CRITICAL heard, NORMAL last. */
static void expect_levels(const char *levels, const char *what)
{
	cr_expect(strstr(levels, " WARN") != NULL, "%s: no WARN in '%s'", what, levels);
	cr_expect(strstr(levels, " CRITICAL") != NULL, "%s: no CRITICAL in '%s'", what, levels);
	size_t l = strlen(levels);
	cr_expect(l >= 7 && !strcmp(levels + l - 7, " NORMAL"), "%s: '%s' does not end at NORMAL", what,
		  levels);
}

static void grow_and_shrink(const char *engine)
{
	char eng[64];
	snprintf(eng, sizeof eng, "FAULTLINE_ENGINE=%s", engine);
	char *env[] = {preload_env(), eng, "FAULTLINE_BUDGET=8M", NULL};
	char *argv[] = {PRESSURER, "8192", NULL};
	int rc = run(argv, env);
	cr_expect_eq(rc, 0, "pressurer under %s: %s%s", engine, out, err);
	expect_levels(line("levels"), engine);
	cr_expect(strstr(out, "pressurer: callback thread other") != NULL, "%s", out);
	cr_expect(strstr(out, " 0 pages wrong") != NULL, "%s", out);
}

Test(pressure, subscriber_hears_warn_critical_normal_uffd, .timeout = 120) { grow_and_shrink("uffd"); }
Test(pressure, subscriber_hears_warn_critical_normal_signal, .timeout = 120) { grow_and_shrink("signal"); }
Test(pressure, subscriber_hears_warn_critical_normal_uffd_sigbus, .timeout = 120)
{
	grow_and_shrink("uffd-sigbus");
}

/* A forked child keeps its parent's subscriber and hears its own levels,
 * from a notifier of its own. */
Test(pressure, a_forked_child_hears_its_own_levels, .timeout = 120)
{
	char *env[] = {preload_env(), "FAULTLINE_BUDGET=8M", NULL};
	char *argv[] = {PRESSURER, "8192", "fork", NULL};
	int rc = run(argv, env);
	cr_expect_eq(rc, 0, "%s%s", out, err);
	cr_expect(strstr(out, "pressurer: in a forked child") != NULL, "%s", out);
	expect_levels(line("levels"), "forked child");
	cr_expect(strstr(out, "pressurer: callback thread other") != NULL, "%s", out);
}

/* Through the launcher's option: a real-time signal (queued, one per
 * change) with the level in si_value, the same sequence as the callback. */
Test(pressure, signal_carries_each_level, .timeout = 120)
{
	char *argv[] = {LAUNCHER, "run", "--budget", "8M", "--pressure-signal", "40", "--", PRESSURER, "8192",
			"signal=40", NULL};
	int rc = run(argv, NULL);
	cr_expect_eq(rc, 0, "%s%s", out, err);
	const char *sig = line("signals");
	expect_levels(sig, "signals");
	char levels[1024];
	snprintf(levels, sizeof levels, "%s", line("levels"));
	cr_expect_str_eq(sig, levels, "signals '%s', callback '%s'", sig, levels);
}

/* SIGUSR1 left at its default would end the program: not sent, said once. */
Test(pressure, signal_left_at_its_default_is_not_sent, .timeout = 120)
{
	char *env[] = {preload_env(), "FAULTLINE_BUDGET=8M", "FAULTLINE_PRESSURE_SIGNAL=SIGUSR1", NULL};
	char *argv[] = {PRESSURER, "8192", NULL};
	int rc = run(argv, env);
	cr_expect_eq(rc, 0, "%s%s", out, err);
	cr_expect_eq(R.signal, 0);
	const char *w = "faultline: FAULTLINE_PRESSURE_SIGNAL=10 has no handler in this program";
	const char *p = strstr(err, w);
	cr_expect(p != NULL, "stderr: %s", err);
	cr_expect(p == NULL || strstr(p + 1, w) == NULL, "said more than once: %s", err);
}

/* A rise purges jemalloc's dirty pages (decay turned off, so that nothing
 * else would return them). */
Test(pressure, a_rise_purges_the_allocator, .timeout = 120)
{
	char *env[] = {preload_env(), "FAULTLINE_BUDGET=8M", "MALLOC_CONF=dirty_decay_ms:-1", NULL};
	char *argv[] = {PRESSURER, "8192", "purge", NULL};
	int rc = run(argv, env);
	cr_expect_eq(rc, 0, "%s%s", out, err);
	cr_expect(strstr(out, " 0 after") != NULL, "%s", out);
	expect_levels(line("levels"), "purge");
}

/* Without the shim the program says so (the other cases' checks are its). */
Test(pressure, without_the_shim_the_program_says_so, .timeout = 60)
{
	char *argv[] = {PRESSURER, "64", NULL};
	int rc = run(argv, NULL);
	cr_expect_eq(rc, 3, "%s", out);
	cr_expect(strstr(out, "no faultline shim") != NULL, "%s", out);
}
