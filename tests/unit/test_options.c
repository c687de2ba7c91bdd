/*
 * The options table and its parser: sizes, percentages, enums, ranges,
 * unknown names, and messages that name the variable and what it accepts.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "options.h"

Test(options, sizes)
{
	uint64_t v;
	cr_assert_eq(fl_parse_size("256M", 0, &v), 0);
	cr_expect_eq(v, 256ull << 20);
	cr_assert_eq(fl_parse_size("1G", 0, &v), 0);
	cr_expect_eq(v, 1ull << 30);
	cr_assert_eq(fl_parse_size("1.5GiB", 0, &v), 0);
	cr_expect_eq(v, 3ull << 29);
	cr_assert_eq(fl_parse_size("512k", 0, &v), 0);
	cr_expect_eq(v, 512ull << 10);
	cr_assert_eq(fl_parse_size("4096", 0, &v), 0);
	cr_expect_eq(v, 4096);
	cr_assert_eq(fl_parse_size("none", 0, &v), 0);
	cr_expect_eq(v, 0);
	cr_assert_eq(fl_parse_size("50%", 1000, &v), 0);
	cr_expect_eq(v, 500);
	const char *bad[] = {"", "M", "12Q", "-5M", "50%%", "101%", "1.G", "99999999999999999999", "1e9", "5 M"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(fl_parse_size(bad[i], 1000, &v), -1, "'%s' must be refused", bad[i]);
}

Test(options, env_sets_the_pager_config)
{
	char *env[] = {"PATH=/bin", "FAULTLINE_BUDGET=64M", "FAULTLINE_COMPRESSOR=zstd:5",
		       "FAULTLINE_ENGINE=signal", "FAULTLINE_FAULT_AROUND=32", "FAULTLINE_LOG=quiet", NULL};
	struct fl_settings st;
	char err[256] = "";
	cr_assert_eq(fl_settings_from_env(&st, env, err, sizeof err), 0, "%s", err);
	cr_expect_eq(st.pager.budget_bytes, 64ull << 20);
	cr_expect_eq(st.pager.compressor, FL_COMP_ZSTD);
	cr_expect_eq(st.pager.compressor_level, 5);
	cr_expect_eq(st.pager.engine, FL_ENGINE_CHOICE_SIGNAL);
	cr_expect_eq(st.pager.fault_around_max, 32);
	cr_expect_eq(st.pager.log_level, 0);
	cr_expect_eq(st.pager.pressure_signal, 0, "off by default");
	char *sig[] = {"FAULTLINE_PRESSURE_SIGNAL=SIGUSR2", NULL};
	cr_assert_eq(fl_settings_from_env(&st, sig, err, sizeof err), 0, "%s", err);
	cr_expect_eq(st.pager.pressure_signal, SIGUSR2);
	char *num[] = {"FAULTLINE_PRESSURE_SIGNAL=40", NULL};
	cr_assert_eq(fl_settings_from_env(&st, num, err, sizeof err), 0, "%s", err);
	cr_expect_eq(st.pager.pressure_signal, 40);
}

Test(options, bad_values_name_variable_and_accepted_values)
{
	struct {
		const char *env;
		const char *want;
	} cases[] = {
		{"FAULTLINE_BUDGET=lots", "FAULTLINE_BUDGET='lots' is not valid: expected a size like 256M"},
		{"FAULTLINE_COMPRESSOR=zstd:30", "expected lz4, zstd, or zstd:LEVEL with LEVEL 1..19"},
		{"FAULTLINE_ENGINE=fast", "expected auto, uffd, uffd-sigbus, signal, off"},
		{"FAULTLINE_FAULT_AROUND=0", "expected an integer 1..512"},
		{"FAULTLINE_BUGDET=1G", "FAULTLINE_BUGDET is not a faultline setting"},
		{"FAULTLINE_PRESSURE_SIGNAL=SIGFOO",
		 "expected off, SIGUSR1, SIGUSR2, USR1, USR2, or N (an integer 1..64: a signal number)"},
		{"FAULTLINE_PRESSURE_SIGNAL=65", "an integer 1..64"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *env[] = {(char *)cases[i].env, NULL};
		struct fl_settings st;
		char err[256] = "";
		cr_expect_eq(fl_settings_from_env(&st, env, err, sizeof err), -1, "%s accepted", cases[i].env);
		cr_expect(strstr(err, cases[i].want) != NULL, "message for %s: '%s'", cases[i].env, err);
	}
}

Test(options, every_option_is_documented)
{
	size_t n = 0;
	for (const struct fl_option *o = fl_options; o->name; o++, n++) {
		char acc[160];
		cr_expect(o->help && *o->help, "%s has no help", o->name);
		cr_expect(*fl_option_accepted(o, acc, sizeof acc), "%s has no accepted values", o->name);
		cr_expect(o->dflt != NULL);
		cr_expect_lt(o->field + o->field_size, sizeof(struct fl_settings) + 1, "%s's field", o->name);
	}
	cr_expect_geq(n, 4);
}

/* Every row's default is a value its own parser accepts, and setting it
 * changes nothing in the defaults (the table is their only source). */
Test(options, defaults_come_from_the_table)
{
	struct fl_settings d;
	fl_settings_default(&d);
	for (const struct fl_option *o = fl_options; o->name; o++) {
		if (!o->dflt[0])
			continue; /* unset strings */
		struct fl_settings st = d;
		char err[256] = "";
		cr_expect_eq(fl_settings_set(&st, o->name, o->dflt, err, sizeof err), 0, "%s: %s", o->name, err);
		cr_expect(!memcmp(&st, &d, sizeof st), "FAULTLINE_%s=%s is not the default", o->name, o->dflt);
	}
	cr_expect_eq(d.pager.fault_around_max, 256);
	cr_expect_eq(d.pager.readahead_max, 64);
	cr_expect_eq(d.pager.compressor, FL_COMP_LZ4);
	cr_expect_eq(d.pager.engine, FL_ENGINE_CHOICE_AUTO);
	cr_expect_eq(d.pager.log_level, FL_LOG_WARN);
	cr_expect_eq(d.pager.budget_bytes, 0);
	cr_expect_gt(d.pager.store_capacity, 0, "50%% of RAM");
	cr_expect_eq(d.stacks_every, 8);
}

/* The ranges in the messages are the ranges the parser enforces. */
Test(options, ranges_are_the_rows)
{
	for (const struct fl_option *o = fl_options; o->name; o++) {
		if (o->kind != FL_OPT_INT)
			continue;
		struct fl_settings st;
		fl_settings_default(&st);
		char v[32], err[256];
		snprintf(v, sizeof v, "%ld", o->lo);
		cr_expect_eq(fl_settings_set(&st, o->name, v, err, sizeof err), 0, "%s=%s: %s", o->name, v, err);
		snprintf(v, sizeof v, "%ld", o->hi);
		cr_expect_eq(fl_settings_set(&st, o->name, v, err, sizeof err), 0, "%s=%s: %s", o->name, v, err);
		snprintf(v, sizeof v, "%ld", o->hi + 1);
		cr_expect_eq(fl_settings_set(&st, o->name, v, err, sizeof err), -1, "%s=%s accepted", o->name, v);
		char range[64];
		snprintf(range, sizeof range, "%ld..%ld", o->lo, o->hi);
		cr_expect(strstr(err, range), "%s", err);
		if (o->lo > 0) {
			snprintf(v, sizeof v, "%ld", o->lo - 1);
			cr_expect_eq(fl_settings_set(&st, o->name, v, err, sizeof err), -1, "%s=%s accepted", o->name, v);
		}
	}
}

Test(options, stacks_and_socket)
{
	struct fl_settings st;
	char err[256];
	fl_settings_default(&st);
	cr_expect_eq(st.stacks_every, 8, "default: one fault in 8");
	cr_expect_str_eq(st.socket_path, "");
	cr_assert_eq(fl_settings_set(&st, "STACKS", "all", err, sizeof err), 0);
	cr_expect_eq(st.stacks_every, 1);
	cr_assert_eq(fl_settings_set(&st, "STACKS", "off", err, sizeof err), 0);
	cr_expect_eq(st.stacks_every, 0);
	cr_assert_eq(fl_settings_set(&st, "STACKS", "100", err, sizeof err), 0);
	cr_expect_eq(st.stacks_every, 100);
	const char *bad[] = {"0", "-3", "some", "1000001", ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_expect_eq(fl_settings_set(&st, "STACKS", bad[i], err, sizeof err), -1, "STACKS=%s", bad[i]);
		cr_expect(strstr(err, "FAULTLINE_STACKS") && strstr(err, "all, off"), "%s", err);
	}
	cr_expect_eq(st.stacks_every, 100, "a refused value changes nothing");
	cr_assert_eq(fl_settings_set(&st, "SOCKET", "/run/x.sock", err, sizeof err), 0);
	cr_expect_str_eq(st.socket_path, "/run/x.sock");
	char longp[200];
	memset(longp, 'a', sizeof longp - 1);
	longp[sizeof longp - 1] = 0;
	cr_expect_eq(fl_settings_set(&st, "SOCKET", longp, err, sizeof err), -1, "longer than a socket path");
	cr_expect_eq(fl_settings_set(&st, "SOCKET", "", err, sizeof err), -1);
	cr_expect_eq(st.sample_ms, 100, "default sample period");
	cr_assert_eq(fl_settings_set(&st, "SAMPLE_MS", "250", err, sizeof err), 0);
	cr_expect_eq(st.sample_ms, 250);
	cr_expect_eq(fl_settings_set(&st, "SAMPLE_MS", "5", err, sizeof err), -1);
	cr_expect(strstr(err, "FAULTLINE_SAMPLE_MS") && strstr(err, "10..60000"), "%s", err);
	cr_expect_str_eq(st.socket_path, "/run/x.sock");
}
