/*
 * faultline's settings as data: one table whose rows carry each setting's
 * name, type, range, default, help and the field it sets.  The shim
 * parses FAULTLINE_<NAME> variables with it (before anything else in the
 * process is ready: no malloc, no getenv, no stdio), the launcher maps its
 * command-line options onto it and prints --help from it, and
 * `faultline settings --markdown` prints the README's settings table from
 * it (`make readme-settings` regenerates that table; a test compares
 * them).  Shared code: errors come back in a caller-owned buffer.
 */
#ifndef FL_OPTIONS_H
#define FL_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

/* The values of the enumerated settings. */
enum fl_compressor { FL_COMP_LZ4 = 0, FL_COMP_ZSTD = 1 };

enum fl_engine_choice {
	FL_ENGINE_CHOICE_AUTO = 0, /* uffd, then signal, then off */
	FL_ENGINE_CHOICE_UFFD,
	FL_ENGINE_CHOICE_SIGNAL,
	FL_ENGINE_CHOICE_OFF,
	FL_ENGINE_CHOICE_UFFD_SIGBUS, /* only when asked for by name */
};

enum fl_log_level { FL_LOG_QUIET = 0, FL_LOG_WARN = 1, FL_LOG_INFO = 2, FL_LOG_DEBUG = 3 };

/* The pager's part of the settings (preload/pager.h takes it as its configuration). */
struct fl_pager_config {
	uint64_t budget_bytes;         /* 0: no budget */
	enum fl_compressor compressor;
	int compressor_level;          /* zstd level */
	enum fl_engine_choice engine;
	uint64_t store_capacity;       /* bytes; 0: the store's default */
	unsigned fault_around_max;     /* pages; 1 disables */
	unsigned readahead_max;        /* pages; 1 disables */
	unsigned cluster_pages;        /* refault cluster, pages; 1 disables */
	unsigned spin_us;              /* handler polls this long before sleeping */
	unsigned handlers;             /* uffd fault handlers at most; 0: one per CPU */
	unsigned cow_faults;           /* write-protect after fork: COW breaks are faults */
	unsigned fork_handoff;         /* fork hands evicted pages to the child (1) or brings them back (0) */
	char spill_dir[200];           /* "": the default directory; "off": no spill file */
	uint64_t spill_max;            /* bytes the spill file may hold */
	unsigned pressure_signal;      /* sent at each pressure change; 0: none */
	enum fl_log_level log_level;
};

/* Everything the settings say, parsed. */
struct fl_settings {
	struct fl_pager_config pager;
	char summary_path[256]; /* FAULTLINE_SUMMARY: where to write the exit summary */
	unsigned stacks_every;  /* FAULTLINE_STACKS: 0 none, 1 all, N one in N */
	char socket_path[108];  /* FAULTLINE_SOCKET: "" default, "none" no log */
	unsigned sample_ms;     /* FAULTLINE_SAMPLE_MS: counters sampled this often */
	uint64_t alloc_sample;  /* FAULTLINE_ALLOC_SAMPLE: mean bytes between sampled allocations; 0 off */
};

enum fl_opt_kind {
	FL_OPT_SIZE,   /* bytes: 256M, 1.5G, 50% of RAM; "none"/"0" only when lo is 0 */
	FL_OPT_INT,    /* an integer lo..hi, unit says of what */
	FL_OPT_ENUM,   /* one of words; see number */
	FL_OPT_STRING, /* text shorter than the field; unit says what it is */
};

/* What an enumerated setting takes besides its words. */
enum fl_opt_number {
	FL_OPT_WORDS_ONLY,
	FL_OPT_OR_NUMBER, /* or N in lo..hi, stored as it is (unit: what N means) */
	FL_OPT_OR_LEVEL,  /* or WORD:N in lo..hi for the last word, N in field2 (unit: N's name) */
	FL_OPT_OR_SIZE,   /* or a size in bytes (512K, 1M) in lo..hi (unit: what it means) */
};

struct fl_opt_word {
	const char *word;
	int value;
};

struct fl_option {
	const char *name;        /* FAULTLINE_<name>; launcher option --<lower-case-with-dashes> */
	enum fl_opt_kind kind;
	const char *dflt;        /* the default as a user writes it ("" for unset strings) */
	long lo, hi;             /* INT and numbers: the range; SIZE: lo 1 refuses none */
	const char *unit;        /* see the kinds */
	const struct fl_opt_word *words; /* ENUM: terminated by a NULL word */
	enum fl_opt_number number;
	size_t field, field_size; /* offsetof and sizeof of the field in struct fl_settings */
	size_t field2;            /* FL_OPT_OR_LEVEL: offsetof of the level (an int) */
	int launcher;             /* 1: `faultline run --<name>` sets it; 0: the launcher's own */
	const char *help;
};

/* The table, terminated by an entry with a NULL name. */
extern const struct fl_option fl_options[];

/* The row named name (FAULTLINE_ without its prefix), or NULL. */
const struct fl_option *fl_option_find(const char *name);

/*
 * What the option accepts, in words generated from its row ("an integer
 * 1..512 (pages)").  Returns out.
 */
const char *fl_option_accepted(const struct fl_option *o, char *out, size_t len);

/*
 * Parse a size: a number with an optional K, M, G or T suffix (powers of
 * 1024, optional trailing B or iB), or a percentage of physical memory
 * ("50%").  "0" and "none" mean no size.  Returns 0 or -1.
 */
int fl_parse_size(const char *s, uint64_t phys_bytes, uint64_t *out);

/*
 * Set one option by name (without the FAULTLINE_ prefix, case-sensitive,
 * upper case) from a string.  Returns 0, or -1 with a one-line message in
 * err naming the variable and the accepted values (st is then unchanged).
 */
int fl_settings_set(struct fl_settings *st, const char *name, const char *value,
		    char *err, size_t errlen);

/* Every setting at its default (the rows' dflt, parsed). */
void fl_settings_default(struct fl_settings *st);

/*
 * The settings as the environment says: every setting at its default,
 * then every FAULTLINE_* variable of envp applied.  Unknown FAULTLINE_
 * names are errors too (a typo should not pass silently).  Returns 0 or
 * -1 with err set (the first problem).
 */
int fl_settings_from_env(struct fl_settings *st, char *const *envp, char *err, size_t errlen);

/* Physical memory in bytes (sysinfo; no allocation). */
uint64_t fl_phys_bytes(void);

#endif
