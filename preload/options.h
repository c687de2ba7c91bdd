/*
 * faultline's options: one table (name, kind, default, accepted values,
 * help) that the shim reads from FAULTLINE_<NAME> environment variables,
 * that the launcher maps its command-line options onto, and that prints
 * the documentation.  Parsing uses no malloc, no getenv and no stdio, so
 * the shim can read its options before anything else in the process is
 * ready.  Shared code: errors come back in a caller-owned buffer.
 */
#ifndef FL_OPTIONS_H
#define FL_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "pager.h"

enum fl_opt_kind { FL_OPT_SIZE, FL_OPT_INT, FL_OPT_ENUM, FL_OPT_STRING };

struct fl_option {
	const char *name;     /* FAULTLINE_<name>; launcher option --<lowercase> */
	enum fl_opt_kind kind;
	const char *dflt;     /* default, as a user would write it */
	const char *accepted; /* accepted values, for messages */
	const char *help;
};

/* The table, terminated by an entry with a NULL name. */
extern const struct fl_option fl_options[];

/* Everything the options say, parsed. */
struct fl_settings {
	struct fl_pager_config pager;
	char summary_path[256]; /* FAULTLINE_SUMMARY: where to write the exit summary */
	unsigned stacks_every;  /* FAULTLINE_STACKS: 0 none, 1 all, N one in N */
	char socket_path[108];  /* FAULTLINE_SOCKET: "" default, "none" no log */
	unsigned sample_ms;     /* FAULTLINE_SAMPLE_MS: counters sampled this often */
};

/*
 * Parse a size: a number with an optional K, M, G or T suffix (powers of
 * 1024, optional trailing B or iB), or a percentage of physical memory
 * ("50%").  "0" and "none" mean no size.  Returns 0 or -1.
 */
int fl_parse_size(const char *s, uint64_t phys_bytes, uint64_t *out);

/*
 * Set one option by name (without the FAULTLINE_ prefix, case-sensitive,
 * upper case) from a string.  Returns 0, or -1 with a one-line message in
 * err naming the variable and the accepted values.
 */
int fl_settings_set(struct fl_settings *st, const char *name, const char *value,
		    char *err, size_t errlen);

/* Defaults for everything. */
void fl_settings_default(struct fl_settings *st);

/*
 * Read every FAULTLINE_* variable from envp.  Unknown FAULTLINE_ names
 * are errors too (a typo should not pass silently).  Returns 0 or -1 with
 * err set (the first problem).
 */
int fl_settings_from_env(struct fl_settings *st, char *const *envp, char *err, size_t errlen);

/* Physical memory in bytes (sysinfo; no allocation). */
uint64_t fl_phys_bytes(void);

#endif
