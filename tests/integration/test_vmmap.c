/*
 * `faultline vmmap` on real processes: a `sleep` (not preloaded) whose
 * table must match its /proc/PID/smaps, a preloaded holder under a small
 * budget whose totals must agree with the kernel's and whose managed
 * regions must show what the shim's state says it compressed, and bad
 * input (not a number, no such process, not ours, a zombie, a state file
 * that is not one or is left over): a clear message and the exit status.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runprog.h"
#include "state_read.h"
#include "vmmap_layout.h"
#include "wait.h"

struct cli_result {
	int status;
	char out[1 << 20];
	char err[16384];
};

static void slurp_into(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	size_t n = 0;
	ssize_t k;
	while (n < len - 1 && (k = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = 0;
	close(fd);
	unlink(path);
}

/* Run `faultline vmmap ARGS...` (as user uid when uid >= 0: a copy of
 * faultline that user can reach, or the test is skipped). */
static void vmmap(struct cli_result *r, int uid, char *const args[])
{
	char *shared = NULL;
	if (uid >= 0) {
		char why[256];
		shared = test_bin_shared("faultline", why, sizeof why);
		if (!shared)
			cr_skip_test("no copy of faultline for uid %d to run: %s", uid, why);
	}
	char *argv[16] = {shared ? shared : (char *)test_bin("faultline"), "vmmap"};
	size_t n = 2;
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	char out[] = "/tmp/fl-vmmap-out-XXXXXX", err[] = "/tmp/fl-vmmap-err-XXXXXX";
	int fo = mkstemp(out), fe = mkstemp(err);
	cr_assert(fo >= 0 && fe >= 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fo, 1);
		dup2(fe, 2);
		if (uid >= 0 && (setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0))
			_exit(120);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fo);
	close(fe);
	int st;
	pid_t w = waitpid(pid, &st, 0);
	test_bin_shared_remove(shared);
	cr_assert_eq(w, pid);
	cr_assert(WIFEXITED(st), "faultline vmmap died: signal %d", WTERMSIG(st));
	r->status = WEXITSTATUS(st);
	slurp_into(out, r->out, sizeof r->out);
	slurp_into(err, r->err, sizeof r->err);
}

struct execd {
	pid_t pid;
	char self[512];
};

/* Whether pid runs another program than this one (it has exec'd). */
static int has_execd(void *arg)
{
	struct execd *e = arg;
	char exe[64], target[512];
	snprintf(exe, sizeof exe, "/proc/%d/exe", (int)e->pid);
	ssize_t l = readlink(exe, target, sizeof target - 1);
	return l > 0 && (target[l] = 0, strcmp(target, e->self) != 0);
}

/* A child running argv with env added; when ready is set, wait for that
 * text on its stdout (what it wrote up to then into said, when given). */
static pid_t spawn_said(char *const argv[], char *const env[], const char *ready, char *said, size_t saidlen)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* A failed assertion ends the test without stop(): the child
		 * must not outlive it (holding the runner's stderr open). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		close(p[0]);
		for (size_t i = 0; env && env[i]; i++)
			putenv(env[i]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	if (ready) {
		char buf[4096];
		size_t n = 0;
		while (n < sizeof buf - 1) {
			struct pollfd pf = {.fd = p[0], .events = POLLIN};
			cr_assert_gt(poll(&pf, 1, 20000), 0, "%s did not get ready", argv[0]);
			ssize_t k = read(p[0], buf + n, sizeof buf - 1 - n);
			cr_assert_gt(k, 0, "%s ended before it was ready", argv[0]);
			n += (size_t)k;
			buf[n] = 0;
			if (strstr(buf, ready))
				break;
		}
		if (said)
			snprintf(said, saidlen, "%s", buf);
	} else {
		/* Until it has become the program (no longer a copy of us). */
		struct execd e = {.pid = pid};
		ssize_t sl = readlink("/proc/self/exe", e.self, sizeof e.self - 1);
		cr_assert_gt(sl, 0);
		e.self[sl] = 0;
		fl_test_wait_until(has_execd, &e, FL_WAIT_MS, "process %d to exec %s", (int)pid, argv[0]);
	}
	close(p[0]);
	return pid;
}

static pid_t spawn(char *const argv[], char *const env[], const char *ready)
{
	return spawn_said(argv, env, ready, NULL, 0);
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Sum of a field ("Rss", "Size") over pid's smaps, bytes; *n = VMAs. */
static uint64_t smaps_sum(pid_t pid, const char *field, size_t *n)
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	uint64_t sum = 0;
	size_t fl = strlen(field), vmas = 0;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, field, fl) && line[fl] == ':')
			sum += strtoull(line + fl + 1, NULL, 10) * 1024;
		if (!strncmp(line, "VmFlags:", 8))
			vmas++;
	}
	fclose(f);
	if (n)
		*n = vmas;
	return sum;
}

/* Until pid sleeps and its memory holds still: a program just exec'd is
 * still loading and faulting in for a while. */
static void wait_idle(pid_t pid)
{
	uint64_t last = 0;
	int same = 0;
	for (int i = 0; i < 500 && same < 3; i++) {
		usleep(20000);
		char path[64], buf[512] = "";
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
		FILE *f = fopen(path, "r");
		cr_assert_not_null(f);
		char *ok = fgets(buf, sizeof buf, f);
		fclose(f);
		const char *st = ok ? strrchr(buf, ')') : NULL;
		uint64_t rss = smaps_sum(pid, "Rss", NULL);
		same = st && st[2] == 'S' && rss == last ? same + 1 : 0;
		last = rss;
	}
	cr_assert_eq(same, 3, "process %d did not settle", (int)pid);
}

/* Run a python3 expression over the JSON in text (as d); its output into out. */
static void json_eval(const char *text, const char *expr, char *out, size_t outlen)
{
	char path[] = "/tmp/fl-vmmap-json-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(%s)' %s 2>&1",
		 expr, path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = 0;
	int st = pclose(p);
	unlink(path);
	cr_assert_eq(st, 0, "the JSON did not parse: %s", out);
}

/* The line of text that starts with prefix and contains what (or NULL). */
static const char *line_with(const char *text, const char *prefix, const char *what)
{
	size_t pl = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l >= pl && !strncmp(p, prefix, pl)) {
			const char *w = strstr(p, what);
			if (w && w + strlen(what) <= p + l)
				return p;
		}
	}
	return NULL;
}

static struct cli_result R;

Test(vmmap_cli, a_process_not_preloaded_matches_its_smaps)
{
	char *argv[] = {"/bin/sleep", "60", NULL};
	pid_t pid = spawn(argv, NULL, NULL);
	wait_idle(pid);
	char spid[16];
	snprintf(spid, sizeof spid, "%d", (int)pid);

	char *text_args[] = {"--width", "80", spid, NULL};
	vmmap(&R, -1, text_args);
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_expect_str_eq(R.err, "");
	static char text[1 << 20];
	memcpy(text, R.out, sizeof text);
	cr_expect(strstr(text, "Process:  sleep [") != NULL, "%s", text);
	cr_expect(strstr(text, "Managed:  no\n") != NULL, "%s", text);
	cr_expect(line_with(text, "stack ", " PRV [stack]") != NULL || line_with(text, "stack ", " COW [stack]"),
		  "a [stack] row: %s", text);
	cr_expect(line_with(text, "text ", "r-x/rwx COW /usr/bin/sleep") != NULL, "sleep's text: %s", text);
	cr_expect(line_with(text, "text ", " libc.so.6") != NULL, "libc's text: %s", text);
	cr_expect(line_with(text, "data ", " libc.so.6") != NULL, "libc's data: %s", text);
	char maps[64];
	snprintf(maps, sizeof maps, "grep -q '\\[heap\\]' /proc/%d/maps", (int)pid);
	if (system(maps) == 0)
		cr_expect(line_with(text, "heap ", "[heap]") != NULL, "[heap]: %s", text);
	/* 80 columns; only the [vsyscall] row's 16-digit addresses overflow. */
	for (const char *p = strstr(text, "START-END"); p && *p != '\n'; p = strchr(p, '\n') + 1) {
		while (p > text && p[-1] != '\n')
			p--;
		const char *e = strchr(p, '\n');
		if (!strstr(p, "[vsyscall]") || strstr(p, "[vsyscall]") > e)
			cr_expect_leq(e - p, 80, "%.*s", (int)(e - p), p);
		p = e;
	}
	cr_expect(strstr(text, "VSS (virtual size)") && strstr(text, "RSS (resident)") &&
			  strstr(text, "lazy set (never touched)") && strstr(text, "swapped / compressed"),
		  "%s", text);

	char *json_args[] = {"--json", spid, NULL};
	vmmap(&R, -1, json_args);
	cr_assert_eq(R.status, 0, "%s", R.err);
	size_t vmas = 0;
	uint64_t rss = smaps_sum(pid, "Rss", &vmas), vss = smaps_sum(pid, "Size", NULL);
	char out[1024];
	json_eval(R.out,
		  "d[\"summary\"][\"rss\"], d[\"summary\"][\"vss\"], d[\"summary\"][\"lazy\"], len(d[\"regions\"]), "
		  "sum(r[\"rsize\"] for r in d[\"regions\"]), "
		  "sum(1 for r in d[\"regions\"] if r[\"type\"]==\"stack\" and r[\"detail\"]==\"[stack]\"), "
		  "d[\"managed\"]",
		  out, sizeof out);
	unsigned long long jrss, jvss, jlazy, jrows, jsum, jstack;
	char managed[16];
	cr_assert_eq(sscanf(out, "%llu %llu %llu %llu %llu %llu %15s", &jrss, &jvss, &jlazy, &jrows, &jsum, &jstack,
			    managed),
		     7, "%s", out);
	cr_expect_eq(jrss, jsum, "the summary's RSS is the sum of the rows");
	/* sleep is idle: the kernel's figures hold still between the reads. */
	cr_expect_eq(jrss, rss, "RSS %llu, smaps says %llu", jrss, (unsigned long long)rss);
	cr_expect_eq(jvss, vss);
	cr_expect_eq(jrows, vmas, "one row per VMA");
	cr_expect_eq(jstack, 1);
	cr_expect_str_eq(managed, "False");
	/* The text showed the same totals. */
	char s_rss[8], s_vss[8], s_lazy[8], want[64];
	fl_vmmap_layout_size(jrss, s_rss);
	fl_vmmap_layout_size(jvss, s_vss);
	fl_vmmap_layout_size(jlazy, s_lazy);
	snprintf(want, sizeof want, "RSS (resident)             %6s\n", s_rss);
	cr_expect(strstr(text, want) != NULL, "want '%s' in %s", want, text);
	snprintf(want, sizeof want, "VSS (virtual size)         %6s\n", s_vss);
	cr_expect(strstr(text, want) != NULL, "want '%s' in %s", want, text);
	snprintf(want, sizeof want, "lazy set (never touched)   %6s", s_lazy);
	cr_expect(strstr(text, want) != NULL, "want '%s' in %s", want, text);
	stop(pid);
}

/* The preloaded holder's state once the evictor is done: its counters
 * the same over three samples. */
static void settled_state(pid_t pid, struct fl_state *st)
{
	static struct fl_state prev;
	char err[256] = "";
	int same = 0;
	for (int i = 0; i < 200 && same < 3; i++) {
		usleep(100000);
		if (fl_state_read(pid, st, err, sizeof err) != 0)
			continue;
		const struct fl_stats *a = &st->stats, *b = &prev.stats;
		if (i > 0 && a->compressed_bytes == b->compressed_bytes && a->resident_pages == b->resident_pages &&
		    a->inactive_pages == b->inactive_pages && a->compressed_pages == b->compressed_pages &&
		    a->compressed_pages > 0)
			same++;
		else
			same = 0;
		memcpy(&prev, st, sizeof prev);
	}
	cr_assert_eq(same, 3, "the state of %d did not settle (%s)", (int)pid, err);
}

struct rewrites {
	pid_t pid;
	struct fl_state *st;
	uint64_t from; /* seq when counting began */
	char err[256];
};

/* Whether the state file was rewritten twice since w->from (each write
 * adds 2 to seq); leaves the newest copy in w->st. */
static int rewritten_twice(void *arg)
{
	struct rewrites *w = arg;
	return fl_state_read(w->pid, w->st, w->err, sizeof w->err) == 0 && w->st->seq >= w->from + 4;
}

Test(vmmap_cli, a_preloaded_process_agrees_with_smaps_and_the_shim, .timeout = 120)
{
	char *argv[] = {"build/tests/progs/holder", "4", "4", "4", NULL};
	char budget[] = "FAULTLINE_BUDGET=2M";
	char *env[] = {preload_env(), budget, NULL};
	pid_t pid = spawn(argv, env, "holder: ready");
	char spid[16];
	snprintf(spid, sizeof spid, "%d", (int)pid);
	static struct fl_state s1, s2;
	char serr[256];

	int agreed = 0;
	for (int attempt = 0; attempt < 5 && !agreed; attempt++) {
		settled_state(pid, &s1);
		char *json_args[] = {"--json", spid, NULL};
		vmmap(&R, -1, json_args);
		uint64_t rss = smaps_sum(pid, "Rss", NULL);
		/* Two samples on from what vmmap read: the shim writes its
		 * counters, then its regions, while the pager runs; one copy
		 * can be torn by a page in flight, the next shows it. */
		struct rewrites w = {.pid = pid, .st = &s2};
		cr_assert_eq(fl_state_read(pid, &s2, serr, sizeof serr), 0, "%s", serr);
		w.from = s2.seq;
		cr_assert(fl_test_poll(rewritten_twice, &w, FL_WAIT_MS),
			  "the shim of %d did not rewrite its state twice (seq %llu, then %llu) %s", (int)pid,
			  (unsigned long long)w.from, (unsigned long long)s2.seq, w.err);
		cr_assert_eq(R.status, 0, "%s", R.err);
		cr_expect_str_eq(R.err, "");
		if (s1.stats.compressed_bytes != s2.stats.compressed_bytes ||
		    s1.stats.resident_pages != s2.stats.resident_pages)
			continue; /* the shim moved pages meanwhile */
		agreed = 1;
		char out[1024];
		json_eval(R.out,
			  "d[\"summary\"][\"rss\"], sum(r[\"csize\"] for r in d[\"regions\"]), "
			  "d[\"summary\"][\"faultline\"][\"compressed_bytes\"], "
			  "sum(1 for r in d[\"regions\"] if r[\"type\"]==\"jemalloc arena\"), "
			  "sum(1 for r in d[\"regions\"] if r[\"type\"]==\"program mapping\"), "
			  "sum(r[\"csize\"] for r in d[\"regions\"] if \"managed\" in r), "
			  "d[\"summary\"][\"lazy\"], d[\"summary\"][\"compressed\"], d[\"managed\"], "
			  "sum(1 for r in d[\"regions\"] if r[\"type\"]==\"stack\" and r[\"detail\"].startswith(\"[stack:\"))",
			  out, sizeof out);
		unsigned long long jrss, csum, jcomp, arenas, progs, mcsum, lazy, scomp, tstacks;
		char managed[16];
		cr_assert_eq(sscanf(out, "%llu %llu %llu %llu %llu %llu %llu %llu %15s %llu", &jrss, &csum, &jcomp,
				    &arenas, &progs, &mcsum, &lazy, &scomp, managed, &tstacks),
			     10, "%s", out);
		cr_expect_str_eq(managed, "True");
		double off = 100.0 * ((double)jrss - (double)rss) / (double)rss;
		cr_log_info("vmmap RSS %llu, smaps Rss %llu: %+.2f%%", jrss, (unsigned long long)rss, off);
		cr_expect(off < 2.0 && off > -2.0, "RSS %llu vs smaps %llu: %.2f%% apart", jrss,
			  (unsigned long long)rss, off);
		/* What the shim compressed (4 MiB of text pages through a 2 MiB
		 * budget) is what the managed rows show, to the byte. */
		cr_expect_gt(s1.stats.compressed_bytes, 0);
		cr_expect_eq(csum, mcsum, "only managed regions have a CSIZE");
		cr_expect_eq(csum, jcomp, "CSIZE sum %llu, the state's stats %llu", csum, jcomp);
		cr_expect_eq(csum, s1.stats.compressed_bytes, "CSIZE sum %llu, the shim reports %llu", csum,
			     (unsigned long long)s1.stats.compressed_bytes);
		cr_expect_eq(scomp, csum);
		cr_expect_gt(arenas, 0, "jemalloc arena rows: %s", out);
		cr_expect_gt(progs, 0, "program mapping rows: %s", out);
		/* The holder's third mapping (4 MiB) is never touched. */
		cr_expect_geq(lazy, 4ull << 20);
		/* The shim's threads wait in system calls: their stacks are found. */
		cr_expect_gt(tstacks, 0, "%s", out);
	}
	cr_expect(agreed, "the shim kept moving pages while vmmap read");

	char *text_args[] = {"--width", "80", spid, NULL};
	vmmap(&R, -1, text_args);
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_expect(strstr(R.out, "Managed:  yes, by faultline") != NULL, "%s", R.out);
	cr_expect(strstr(R.out, "VSS (virtual size)") && strstr(R.out, "RSS (resident)") &&
			  strstr(R.out, "lazy set (never touched)") && strstr(R.out, "swapped / compressed"),
		  "%s", R.out);
	cr_expect(line_with(R.out, "jemalloc ", " extent #") != NULL, "%s", R.out);
	cr_expect(line_with(R.out, "prog mmap ", " mmap #") != NULL, "%s", R.out);
	cr_expect(strstr(R.out, "engine uffd, budget 2M, pressure ") != NULL, "%s", R.out);
	cr_expect(strstr(R.out, "compressor: lz4, efficiency ") != NULL, "%s", R.out);
	cr_expect(strstr(R.out, "allocator (jemalloc): ") != NULL, "%s", R.out);
	stop(pid);
}

struct committed {
	pid_t pid;
	unsigned n;
	uint64_t bytes;
	char err[256];
};

/* Whether the shim's state shows n regions of kind FL_RANGE_COMMITTED
 * with bytes in all (a state published midway through the program's
 * recommits can have the count with fewer bytes). */
static int committed_shown(void *arg)
{
	struct committed *c = arg;
	static struct fl_state st;
	if (fl_state_read(c->pid, &st, c->err, sizeof c->err) != 0)
		return 0;
	unsigned n = 0;
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < st.nregions; i++) {
		if (st.regions[i].kind != FL_RANGE_COMMITTED)
			continue;
		n++;
		bytes += st.regions[i].len;
	}
	snprintf(c->err, sizeof c->err, "%u committed regions of %llu bytes in the state", n,
		 (unsigned long long)bytes);
	return n == c->n && bytes == c->bytes;
}

/*
 * tests/progs/reserver commits 96 pieces of 256K of one reservation with
 * mprotect (V8's way; 24 decommitted again, 12 of those recommitted: each
 * stays a region) and 24 pieces of 1M of another with MAP_FIXED (the
 * JVM's; 8 uncommitted, so their regions end, and 4 of those committed
 * again as 2M with the committed piece after each, which that region
 * replaces): 112 committed regions, every one inside a reservation, and
 * no program mapping there.
 */
Test(vmmap_cli, committed_pieces_of_reservations_are_resv_commit, .timeout = 120)
{
	char *argv[] = {"build/tests/progs/reserver", "--hang", NULL};
	char *env[] = {preload_env(), NULL};
	char said[4096];
	pid_t pid = spawn_said(argv, env, "reserver: checksum", said, sizeof said);
	cr_assert(strstr(said, ", ok\n") != NULL, "%s", said);
	unsigned long long v8a, v8b, ja, jb;
	const char *ranges = strstr(said, "reserver: v8 ");
	cr_assert(ranges && sscanf(ranges, "reserver: v8 %llx-%llx, jvm %llx-%llx", &v8a, &v8b, &ja, &jb) == 4, "%s",
		  said);
	const uint64_t committed_bytes = 96ull * (256 << 10) + 12ull * (1 << 20) + 4ull * (2 << 20);
	struct committed c = {.pid = pid, .n = 112, .bytes = committed_bytes};
	fl_test_wait_until(committed_shown, &c, FL_WAIT_MS,
			   "the state of %d to show 112 committed regions of 44 MiB (%s)", (int)pid, c.err);
	char spid[16];
	snprintf(spid, sizeof spid, "%d", (int)pid);

	char *json_args[] = {"--json", spid, NULL};
	vmmap(&R, -1, json_args);
	cr_assert_eq(R.status, 0, "%s", R.err);
	char expr[2048], out[1024];
	snprintf(expr, sizeof expr,
		 "(lambda rs, inside: (len([r for r in rs if r[\"type\"]==\"resv->commit\"]), "
		 "sum(r[\"vsize\"] for r in rs if r[\"type\"]==\"resv->commit\"), "
		 "sum(1 for r in rs if r[\"type\"]==\"resv->commit\" and not inside(r)), "
		 "sum(1 for r in rs if r[\"type\"]==\"resv->commit\" and r.get(\"managed\",{}).get(\"kind\")!=\"resv->commit\"), "
		 "sum(1 for r in rs if r[\"type\"]==\"program mapping\" and inside(r)), "
		 "sum(1 for r in rs if r[\"type\"]==\"resv->commit\" and r[\"detail\"].startswith(\"commit #\"))))"
		 "(d[\"regions\"], lambda r: any(a <= int(r[\"start\"],16) and int(r[\"end\"],16) <= b "
		 "for a, b in ((%llu, %llu), (%llu, %llu))))",
		 v8a, v8b, ja, jb);
	json_eval(R.out, expr, out, sizeof out);
	unsigned long long rows, vsize, outside, wrong_kind, programs, details;
	cr_assert_eq(sscanf(out, "(%llu, %llu, %llu, %llu, %llu, %llu)", &rows, &vsize, &outside, &wrong_kind,
			    &programs, &details),
		     6, "%s", out);
	cr_expect_eq(rows, 112, "resv->commit rows: %s", out);
	cr_expect_eq(vsize, committed_bytes, "their virtual size: %s", out);
	cr_expect_eq(outside, 0, "resv->commit rows outside the reservations: %s", out);
	cr_expect_eq(wrong_kind, 0, "resv->commit rows whose region kind is another: %s", out);
	cr_expect_eq(programs, 0, "program mappings inside the reservations: %s", out);
	cr_expect_eq(details, 112, "%s", out);

	char *wide[] = {"--width", "160", spid, NULL};
	vmmap(&R, -1, wide);
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_expect(line_with(R.out, "resv->commit ", " PRV commit #") != NULL, "%s", R.out);
	cr_expect(line_with(R.out, "resv->commit ", "112 ") != NULL, "the summary's count: %s", R.out);
	char *narrow[] = {"--width", "80", spid, NULL};
	vmmap(&R, -1, narrow);
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_expect(line_with(R.out, "committed ", " commit #") != NULL, "%s", R.out);
	stop(pid);
}

Test(vmmap_cli, bad_input_gets_one_clear_line_and_a_status)
{
	char *nan[] = {"12abc", NULL};
	vmmap(&R, -1, nan);
	cr_expect_eq(R.status, 2);
	cr_expect_str_eq(R.err, "faultline vmmap: '12abc' is not a process id\n");
	cr_expect_str_eq(R.out, "");

	char *none[] = {NULL};
	vmmap(&R, -1, none);
	cr_expect_eq(R.status, 2);
	cr_expect(strstr(R.err, "usage: faultline vmmap") != NULL, "%s", R.err);

	char *opt[] = {"--colour", "1", NULL};
	vmmap(&R, -1, opt);
	cr_expect_eq(R.status, 2);
	cr_expect(strstr(R.err, "unknown option '--colour'") != NULL, "%s", R.err);

	char *width[] = {"--width", "wide", "1", NULL};
	vmmap(&R, -1, width);
	cr_expect_eq(R.status, 2);
	cr_expect(strstr(R.err, "--width 'wide' is not a number of columns") != NULL, "%s", R.err);

	/* A process that has ended and been reaped. */
	pid_t gone = fork();
	cr_assert_geq(gone, 0);
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	char sgone[16], want[128];
	snprintf(sgone, sizeof sgone, "%d", (int)gone);
	char *g[] = {sgone, NULL};
	vmmap(&R, -1, g);
	cr_expect_eq(R.status, 1);
	snprintf(want, sizeof want, "faultline vmmap: no process %d\n", (int)gone);
	cr_expect_str_eq(R.err, want);

	/* A zombie has no memory map left. */
	pid_t z = fork();
	cr_assert_geq(z, 0);
	if (z == 0)
		_exit(0);
	fl_test_wait_child(z, 0, FL_WAIT_MS); /* ended, not reaped */
	char sz[16];
	snprintf(sz, sizeof sz, "%d", (int)z);
	char *zz[] = {sz, NULL};
	vmmap(&R, -1, zz);
	cr_expect_eq(R.status, 1);
	cr_expect(strstr(R.err, "has no memory map (a zombie, or a kernel thread)") != NULL, "%s", R.err);
	waitpid(z, NULL, 0);
}

Test(vmmap_cli, a_process_that_is_not_ours_is_refused)
{
	/* As root every process is ours: look at this one as nobody.
	 * Otherwise, at pid 1 when another user runs it. */
	char target[16];
	int as = -1;
	if (geteuid() == 0) {
		as = 65534;
		snprintf(target, sizeof target, "%d", (int)getpid());
	} else {
		struct stat sb;
		if (stat("/proc/1", &sb) != 0 || sb.st_uid == geteuid())
			cr_skip_test("no process of another user to look at");
		snprintf(target, sizeof target, "1");
	}
	char *args[] = {target, NULL};
	vmmap(&R, as, args);
	cr_expect_neq(R.status, 120, "could not become uid %d", as);
	cr_expect_eq(R.status, 1, "%s", R.err);
	char want[160];
	snprintf(want, sizeof want, "faultline vmmap: process %s is not yours to inspect (/proc/%s/smaps: permission denied)\n",
		 target, target);
	cr_expect_str_eq(R.err, want);
	cr_expect_str_eq(R.out, "");
}

Test(vmmap_cli, a_state_file_that_cannot_be_used_is_named_and_left_out)
{
	char *argv[] = {"/bin/sleep", "60", NULL};
	pid_t pid = spawn(argv, NULL, NULL);
	char spid[16], path[128];
	snprintf(spid, sizeof spid, "%d", (int)pid);
	fl_state_path(pid, getuid(), path, sizeof path);
	static struct fl_state st;

	/* Not a state file: the right size, the wrong contents. */
	memset(&st, 0x5a, sizeof st);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, &st, sizeof st), (ssize_t)sizeof st);
	close(fd);
	char *args[] = {"--width", "100", spid, NULL};
	vmmap(&R, -1, args);
	cr_expect_eq(R.status, 0, "%s", R.err);
	cr_expect(strstr(R.err, "is not a faultline state file") &&
			  strstr(R.err, "showing the process without its managed regions"),
		  "%s", R.err);
	cr_expect(strstr(R.out, "Managed:  no\n") && strstr(R.out, "[stack]"), "%s", R.out);

	/* A state file of this version, left over by an earlier process
	 * that had this pid. */
	memset(&st, 0, sizeof st);
	st.magic = FL_STATE_MAGIC;
	st.version = FL_STATE_VERSION;
	st.pid = pid;
	st.start_real_ns = 1;
	st.stats.page_size = 4096;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, &st, sizeof st), (ssize_t)sizeof st);
	close(fd);
	vmmap(&R, -1, args);
	cr_expect_eq(R.status, 0, "%s", R.err);
	cr_expect(strstr(R.err, "is not the one that wrote") != NULL, "%s", R.err);
	cr_expect(strstr(R.out, "RSS (resident)") != NULL, "%s", R.out);
	unlink(path);
	stop(pid);
}
