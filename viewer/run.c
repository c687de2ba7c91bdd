/*
 * faultline run [OPTIONS] [--] PROG [ARGS...]: run a program under the
 * shim.  The options are the shim's settings table (options.h), checked
 * here before the program starts; the launcher sets LD_PRELOAD and the
 * FAULTLINE_* variables, runs the program, forwards SIGTERM and SIGHUP to
 * it, and at its end prints a summary from what each process's shim wrote
 * (FAULTLINE_SUMMARY) plus the kernel's figure for peak RSS.  The exit
 * status is the program's, or 128+N when signal N ended it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "faultline/summary.h"
#include "options.h"

static pid_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/* "--store-max" for STORE_MAX. */
static void option_flag(const char *name, char *out, size_t len)
{
	size_t i = 0;
	for (; name[i] && i + 1 < len; i++)
		out[i] = name[i] == '_' ? '-' : (char)(name[i] | 0x20);
	out[i] = 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline run [OPTIONS] [--] PROG [ARGS...]\n\n"
		"Runs PROG with the faultline shim preloaded and prints a summary of\n"
		"what the shim did when it ends (to stderr).  Every fault is logged to\n"
		"faultlined: a running one, or one started for this run writing\n"
		"./faultline.db (--db, --socket none).  The exit status is PROG's,\n"
		"or 128+N if signal N ended it.  Each option sets the FAULTLINE_ variable\n"
		"of the same name; a bad value is refused before PROG starts.\n\n"
		"options:\n");
	for (const struct fl_option *o = fl_options; o->name; o++) {
		if (!o->launcher)
			continue;
		char flag[32], acc[160];
		option_flag(o->name, flag, sizeof flag);
		fprintf(f, "  --%s VALUE\n      %s\n      Accepts %s; default %s.\n", flag, o->help,
			fl_option_accepted(o, acc, sizeof acc), o->dflt[0] ? o->dflt : "unset");
	}
	fprintf(f,
		"  --db PATH\n      The fault log's database (default: ./faultline.db).  Without --db, a\n"
		"      faultlined already listening on the socket takes the log instead.\n"
		"  --lib PATH\n      The shim to preload (default: ../lib/libfaultline.so beside this program).\n"
		"  --quiet, -q\n      No summary at exit.\n"
		"  --help, -h\n      This text.\n\n"
		"FAULTLINE_* variables already in the environment are checked too.  If\n"
		"FAULTLINE_SUMMARY is set, the raw per-process summary is kept there.\n");
}

/* The shim beside this executable: <dir>/../lib/libfaultline.so. */
static int default_lib(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	if ((size_t)snprintf(out, len, "%s/../lib/libfaultline.so", exe) >= len)
		return -1;
	char *real = realpath(out, NULL);
	if (!real)
		return -1;
	snprintf(out, len, "%s", real);
	free(real);
	return 0;
}

/* What the other processes (children, grandchildren) did, summed. */
struct others {
	int n;
	uint64_t peak_bytes, faults;
	char pressure[16];
};

static int pressure_rank(const char *p)
{
	return !strcmp(p, "CRITICAL") ? 2 : !strcmp(p, "WARN") ? 1 : 0;
}

static void add_other(struct others *o, const struct fl_summary *p)
{
	uint64_t pz = p->page_size ? p->page_size : 4096;
	o->n++;
	if (p->peak_pages * pz > o->peak_bytes)
		o->peak_bytes = p->peak_pages * pz;
	for (int k = 0; k < p->nkinds; k++)
		o->faults += p->faults[k];
	if (pressure_rank(p->pressure_peak) > pressure_rank(o->pressure))
		snprintf(o->pressure, sizeof o->pressure, "%s", p->pressure_peak);
}

/*
 * Read the key=value blocks ("end" closes one).  The main process's last
 * block goes to *m (a process that execs writes once, at the end of the
 * last program it became); the others are summed.  Returns whether the
 * main process wrote one.
 */
static int read_summaries(const char *path, long main_pid, struct fl_summary *m,
			  struct others *o)
{
	FILE *f = fopen(path, "r");
	memset(o, 0, sizeof *o);
	snprintf(o->pressure, sizeof o->pressure, "NORMAL");
	if (!f)
		return 0;
	char line[256];
	int have = 0;
	struct fl_summary cur;
	memset(&cur, 0, sizeof cur);
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		if (!fl_summary_parse_line(&cur, line))
			continue;
		if (cur.pid == main_pid) {
			*m = cur;
			have = 1;
		} else {
			add_other(o, &cur);
		}
		memset(&cur, 0, sizeof cur);
	}
	fclose(f);
	return have;
}

static const char *human(uint64_t bytes, char *buf, size_t len)
{
	const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}

static void print_summary(const char *prog, int status, double secs, const struct rusage *ru,
			  const struct fl_summary *m, const struct others *o)
{
	char a[32], b[32];
	if (WIFEXITED(status))
		fprintf(stderr, "faultline: %s exited with status %d after %.2f s\n", prog,
			WEXITSTATUS(status), secs);
	else
		fprintf(stderr, "faultline: %s was ended by signal %d (%s) after %.2f s\n", prog,
			WTERMSIG(status), strsignal(WTERMSIG(status)), secs);
	fprintf(stderr, "faultline:   kernel peak RSS   %s (largest process)\n",
		human((uint64_t)ru->ru_maxrss * 1024, a, sizeof a));
	if (!m) {
		fprintf(stderr, "faultline:   no summary from the shim: %s\n",
			WIFSIGNALED(status) ? "the program was killed before its exit handlers ran"
					    : "the program left by a raw exit system call, or the shim was "
					      "not loaded (a static binary, LD_PRELOAD dropped)");
	} else if (!m->managed) {
		fprintf(stderr, "faultline:   not managed: the shim ran but did not start (see the message above)\n");
	} else {
		uint64_t pz = m->page_size ? m->page_size : 4096;
		fprintf(stderr, "faultline:   engine            %s, budget %s\n", m->engine,
			m->budget_pages ? human(m->budget_pages * pz, a, sizeof a) : "none");
		fprintf(stderr, "faultline:   peak resident     %s of managed memory\n",
			human(m->peak_pages * pz, a, sizeof a));
		fprintf(stderr,
			"faultline:   compressed        %llu pages (%s) held in %s, efficiency %.2fx; "
			"%llu same-filled pages; %llu evictions\n",
			(unsigned long long)m->compressed_pages, human(m->compressed_pages * pz, a, sizeof a),
			human(m->store_bytes, b, sizeof b), m->efficiency, (unsigned long long)m->same_filled_pages,
			(unsigned long long)m->evicted);
		if (m->spilled_pages || m->spill_file_bytes)
			fprintf(stderr, "faultline:   spilled           %llu pages (%s) in a file of %s\n",
				(unsigned long long)m->spilled_pages, human(m->spilled_pages * pz, a, sizeof a),
				human(m->spill_file_bytes, b, sizeof b));
		fprintf(stderr, "faultline:   faults           ");
		for (int k = 0; k < m->nkinds; k++)
			fprintf(stderr, " %s %llu", m->kind[k], (unsigned long long)m->faults[k]);
		fprintf(stderr, "\n");
		fprintf(stderr, "faultline:   pressure reached  %s\n", m->pressure_peak[0] ? m->pressure_peak : "NORMAL");
		if (m->errors)
			fprintf(stderr, "faultline:   internal errors   %llu (see the messages above)\n",
				(unsigned long long)m->errors);
	}
	if (o->n)
		fprintf(stderr,
			"faultline:   other processes   %d (largest peak resident %s, %llu faults, pressure reached %s)\n",
			o->n, human(o->peak_bytes, a, sizeof a), (unsigned long long)o->faults, o->pressure);
}

int fl_cli_run(int argc, char **argv)
{
	struct fl_settings st;
	fl_settings_default(&st);
	char lib[PATH_MAX] = "";
	const char *db = NULL;
	int quiet = 0;
	int i = 1;
	char err[512];
	/* Values the options set, applied to the environment once all parse. */
	const char *set_name[32];
	const char *set_value[32];
	int nset = 0;

	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			quiet = 1;
			continue;
		}
		/* --name VALUE or --name=VALUE */
		const char *name = a + 2;
		const char *value = NULL;
		size_t nl = strlen(name);
		const char *eq = strchr(name, '=');
		if (eq) {
			nl = (size_t)(eq - name);
			value = eq + 1;
		}
		if (a[1] != '-' || nl == 0) {
			fprintf(stderr, "faultline run: unknown option '%s' (see faultline run --help)\n", a);
			return 2;
		}
		int is_lib = nl == 3 && !strncmp(name, "lib", 3);
		int is_db = nl == 2 && !strncmp(name, "db", 2);
		const struct fl_option *opt = NULL;
		for (const struct fl_option *o = fl_options; o->name && !is_lib && !is_db; o++) {
			char flag[32];
			option_flag(o->name, flag, sizeof flag);
			if (strlen(flag) == nl && !strncmp(flag, name, nl) && o->launcher)
				opt = o;
		}
		if (!opt && !is_lib && !is_db) {
			fprintf(stderr, "faultline run: unknown option '%s' (see faultline run --help)\n", a);
			return 2;
		}
		if (!value) {
			if (i + 1 >= argc) {
				fprintf(stderr, "faultline run: option '%s' needs a value\n", a);
				return 2;
			}
			value = argv[++i];
		}
		if (is_lib) {
			snprintf(lib, sizeof lib, "%s", value);
			continue;
		}
		if (is_db) {
			if (!*value) {
				fprintf(stderr, "faultline run: --db needs a file name\n");
				return 2;
			}
			db = value;
			continue;
		}
		if (fl_settings_set(&st, opt->name, value, err, sizeof err) != 0) {
			char flag[32];
			option_flag(opt->name, flag, sizeof flag);
			fprintf(stderr, "faultline run: --%s: %s\n", flag, err);
			return 2;
		}
		if (nset < 32) {
			set_name[nset] = opt->name;
			set_value[nset++] = value;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "faultline run: no program given (usage: faultline run [OPTIONS] [--] PROG [ARGS...])\n");
		return 2;
	}
	char **prog = argv + i;

	if (!lib[0] && default_lib(lib, sizeof lib) != 0) {
		fprintf(stderr, "faultline run: cannot find libfaultline.so beside this program; give --lib PATH\n");
		return 2;
	}
	if (access(lib, R_OK) != 0) {
		fprintf(stderr, "faultline run: --lib %s: %s\n", lib, strerror(errno));
		return 2;
	}

	for (int k = 0; k < nset; k++) {
		char var[64];
		snprintf(var, sizeof var, "FAULTLINE_%s", set_name[k]);
		setenv(var, set_value[k], 1);
	}
	/* The summary file: the user's if they named one, else a private one. */
	char sumpath[PATH_MAX];
	int own_summary = 0;
	const char *user_sum = getenv("FAULTLINE_SUMMARY");
	if (user_sum && *user_sum) {
		snprintf(sumpath, sizeof sumpath, "%s", user_sum);
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(sumpath, sizeof sumpath, "%s/faultline-summary-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		int fd = mkstemp(sumpath);
		if (fd < 0) {
			fprintf(stderr, "faultline run: cannot create a summary file in %s: %s\n",
				tmp && *tmp ? tmp : "/tmp", strerror(errno));
			return 2;
		}
		close(fd);
		own_summary = 1;
		setenv("FAULTLINE_SUMMARY", sumpath, 1);
	}
	/* Everything the shim will read, checked the way it will read it. */
	extern char **environ;
	struct fl_settings check;
	if (fl_settings_from_env(&check, environ, err, sizeof err) != 0) {
		fprintf(stderr, "faultline run: %s (from the environment)\n", err);
		if (own_summary)
			unlink(sumpath);
		return 2;
	}
	/* The fault log: a daemon that is there, or one of our own. */
	struct fl_logd logd;
	if (fl_logd_start(&logd, db, check.socket_path) != 0) {
		if (own_summary)
			unlink(sumpath);
		return 2;
	}
	if (logd.on)
		setenv("FAULTLINE_SOCKET", logd.socket, 1);
	const char *old = getenv("LD_PRELOAD");
	char *preload = malloc(strlen(lib) + (old ? strlen(old) : 0) + 2);
	if (!preload) {
		fprintf(stderr, "faultline run: out of memory\n");
		return 2;
	}
	sprintf(preload, old && *old ? "%s %s" : "%s", lib, old);
	setenv("LD_PRELOAD", preload, 1);
	free(preload);

	/* A pipe that closes on a successful exec carries errno otherwise. */
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) != 0) {
		fprintf(stderr, "faultline run: pipe: %s\n", strerror(errno));
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	child_pid = fork();
	if (child_pid < 0) {
		fprintf(stderr, "faultline run: fork: %s\n", strerror(errno));
		fl_logd_stop(&logd);
		return 2;
	}
	if (child_pid == 0) {
		close(ep[0]);
		execvp(prog[0], prog);
		int e = errno;
		if (write(ep[1], &e, sizeof e) < 0)
			_exit(127);
		_exit(127);
	}
	close(ep[1]);
	struct sigaction sa = {.sa_handler = forward};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* The terminal sends these to the program too; the launcher waits. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);

	int e = 0;
	ssize_t got;
	do
		got = read(ep[0], &e, sizeof e);
	while (got < 0 && errno == EINTR);
	close(ep[0]);

	int status = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	while (wait4(child_pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "faultline run: wait: %s\n", strerror(errno));
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (got == (ssize_t)sizeof e) {
		fprintf(stderr, "faultline run: cannot run '%s': %s\n", prog[0], strerror(e));
		fl_logd_stop(&logd);
		if (own_summary)
			unlink(sumpath);
		return e == ENOENT ? 127 : 126;
	}
	fl_logd_report_exit(&logd, child_pid, status);
	int log_ok = fl_logd_stop(&logd) == 0;
	if (!quiet) {
		struct fl_summary m;
		struct others o;
		int have = read_summaries(sumpath, (long)child_pid, &m, &o);
		double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		const char *base = strrchr(prog[0], '/');
		print_summary(base ? base + 1 : prog[0], status, secs, &ru, have ? &m : NULL, &o);
		if (logd.on && logd.shared)
			fprintf(stderr, "faultline:   fault log         sent to the faultlined at %s\n", logd.socket);
		else if (logd.on && log_ok)
			fprintf(stderr, "faultline:   fault log         %s\n", logd.db);
	}
	if (own_summary)
		unlink(sumpath);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
