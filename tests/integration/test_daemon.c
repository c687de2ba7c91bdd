/*
 * faultlined, run for real: each test starts the daemon on a socket and a
 * database in its own temporary directory, speaks the wire protocol to it
 * with the encoders of faultline/wire.h, and reads what it stored with
 * the sqlite3 API.  Covered: every record type landing in its table with
 * times converted to real time, several peers at once (and one stalled
 * inside a record while another is served), a reconnecting shim (to the
 * same daemon and to a restarted one), vanished processes, goodbye and
 * exit statuses, each kind of bad record disconnecting only its peer,
 * another user's connection refused, stale and live sockets, a read-only
 * and a full database, SIGTERM storing everything already sent, and stack
 * frames symbolized.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/faultline.h"
#include "faultline/wire.h"
#include "runprog.h"
#include "wait.h"

/* The HELLO instant every test uses: real = START_REAL + (mono - START_MONO). */
#define START_REAL 1700000000000000000ull
#define START_MONO 5000000000ull
#define NOBODY 65534

struct daemon {
	pid_t pid;
	char dir[64];
	char sock[128];
	char db[128];
	char log[128];
};

static struct daemon D;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	chmod(path, 0700);
	return remove(path);
}

static void make_dir(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(D.dir, sizeof D.dir, "/tmp/fl-daemon-XXXXXX");
	cr_assert_not_null(mkdtemp(D.dir));
	snprintf(D.sock, sizeof D.sock, "%s/s/f.sock", D.dir);
	snprintf(D.db, sizeof D.db, "%s/f.db", D.dir);
	snprintf(D.log, sizeof D.log, "%s/log", D.dir);
}

static void stop_hard(void)
{
	if (D.pid > 0) {
		kill(D.pid, SIGKILL);
		waitpid(D.pid, NULL, 0);
		D.pid = 0;
	}
}

static void remove_dir(void)
{
	stop_hard();
	/* Directories a test made read-only must open again before removal. */
	chmod(D.dir, 0700);
	nftw(D.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(daemon, .init = make_dir, .fini = remove_dir, .timeout = 120);

/*
 * Start faultlined (as uid when nonzero) with extra arguments after the
 * standard ones.  0 once it is ready; otherwise its exit status (it never
 * became ready), with the daemon reaped.
 */
static int start_as(struct daemon *d, uid_t uid, const char *db, const char *const extra[])
{
	/* Another user runs a copy it can reach: the checkout may be closed to it. */
	char *shared = NULL;
	if (uid) {
		char why[256];
		shared = test_bin_shared("faultlined", why, sizeof why);
		if (!shared)
			cr_skip_test("no copy of faultlined for uid %u to run: %s", (unsigned)uid, why);
	}
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		int lf = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0666);
		if (lf < 0)
			_exit(126);
		dup2(lf, 2);
		if (uid && (setgid(uid) != 0 || setuid(uid) != 0))
			_exit(125);
		char fdarg[16];
		snprintf(fdarg, sizeof fdarg, "%d", pfd[1]);
		const char *argv[32] = {shared ? shared : test_bin("faultlined"), "--socket", d->sock, "--db", db,
					"--ready-fd", fdarg};
		int n = 7;
		for (int i = 0; extra && extra[i] && n < 31; i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	close(pfd[1]);
	struct pollfd p = {.fd = pfd[0], .events = POLLIN};
	char buf[16];
	int r = poll(&p, 1, 30000);
	ssize_t n = r > 0 ? read(pfd[0], buf, sizeof buf) : -1;
	close(pfd[0]);
	test_bin_shared_remove(shared); /* ready or gone: exec'd, or never will */
	if (n == 6 && memcmp(buf, "ready\n", 6) == 0) {
		d->pid = pid;
		return 0;
	}
	if (r == 0)
		kill(pid, SIGKILL);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	d->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void start(const char *const extra[])
{
	int rc = start_as(&D, 0, D.db, extra);
	cr_assert_eq(rc, 0, "faultlined did not start (status %d)", rc);
}

struct reaped {
	pid_t pid;
	int status;
};

static int reap(void *arg)
{
	struct reaped *r = arg;
	return waitpid(r->pid, &r->status, WNOHANG) != 0;
}

/* SIGTERM and wait; the exit status (128+n for signal n). */
static int stop(void)
{
	cr_assert_gt(D.pid, 0);
	kill(D.pid, SIGTERM);
	struct reaped r = {.pid = D.pid};
	int st = 0;
	if (!fl_test_poll(reap, &r, 60000)) {
		kill(D.pid, SIGKILL);
		waitpid(D.pid, &st, 0);
		D.pid = 0;
		cr_assert_fail("faultlined did not exit within 60 s of SIGTERM");
	}
	D.pid = 0;
	st = r.status;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *read_log(void)
{
	static char buf[1 << 20];
	int fd = open(D.log, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static int log_has(void *needle)
{
	return strstr(read_log(), needle) != NULL;
}

static int wait_log(const char *needle, int ms)
{
	return fl_test_poll(log_has, (void *)needle, ms);
}

/* Start with this: the daemon logs each connection it closes. */
static const char *const log_debug[] = {"--log", "debug", NULL};

/* Until the daemon (started with log_debug) has closed n connections on
 * their peer's hang-up, in its event loop: not in the drain at SIGTERM. */
static void wait_closed(int n)
{
	fl_test_wait_text(D.log, "closed after", n, FL_WAIT_MS);
}

/* ---- speaking the protocol ---- */

static int peer(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cr_assert_lt(snprintf(sa.sun_path, sizeof sa.sun_path, "%s", D.sock), (int)sizeof sa.sun_path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect %s: %s", D.sock, strerror(errno));
	return fd;
}

/* Write it all; -1 when the daemon hung up on us. */
static int send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint64_t wbuf[FL_WIRE_MAX / 8 + 1]; /* 8-aligned, one record */

static void put(int fd, size_t len)
{
	cr_assert_gt(len, 0, "record did not encode");
	cr_assert_eq(send_all(fd, wbuf, len), 0, "the daemon hung up");
}

static void send_hello_at(int fd, int pid, int ppid, uint64_t real, uint64_t mono)
{
	struct fl_wire_hello h = {.pid = pid, .ppid = ppid, .start_real_ns = real, .start_mono_ns = mono,
				  .budget_bytes = 16 << 20, .page_size = 4096, .engine = FL_ENGINE_UFFD,
				  .compressor = 0, .compressor_level = 1, .stacks_every = 1};
	static const char argv[] = "demo\0-x\0a\"b";
	put(fd, fl_wire_put_hello(wbuf, sizeof wbuf, &h, "/usr/bin/demo", argv, sizeof argv));
}

static void send_hello(int fd, int pid)
{
	send_hello_at(fd, pid, 1, START_REAL, START_MONO);
}

static void send_stack(int fd, uint32_t id, const uint64_t *pcs, uint32_t n)
{
	put(fd, fl_wire_put_stack(wbuf, sizeof wbuf, id, pcs, n));
}

static void send_region_kind(int fd, uint32_t op, uint64_t id, uint64_t start, uint64_t len, uint64_t t,
			     uint32_t kind)
{
	struct fl_wire_region r = {.t_ns = START_MONO + t, .id = id, .start = start, .len = len, .op = op,
				   .prot = 3, .kind = kind};
	put(fd, fl_wire_put(wbuf, sizeof wbuf, FL_REC_REGION, &r, sizeof r, NULL, 0, NULL, 0));
}

static void send_region(int fd, uint32_t op, uint64_t id, uint64_t start, uint64_t len, uint64_t t)
{
	send_region_kind(fd, op, id, start, len, t, FL_RANGE_ALLOCATOR);
}

static void send_goodbye(int fd, uint32_t how, int status, uint64_t t)
{
	struct fl_wire_goodbye g = {.t_ns = START_MONO + t, .status = status, .how = how};
	put(fd, fl_wire_put(wbuf, sizeof wbuf, FL_REC_GOODBYE, &g, sizeof g, NULL, 0, NULL, 0));
}

static void send_exit(int fd, int pid, uint32_t how, int status)
{
	struct fl_wire_exit x = {.pid = pid, .status = status, .how = how};
	put(fd, fl_wire_put(wbuf, sizeof wbuf, FL_REC_EXIT, &x, sizeof x, NULL, 0, NULL, 0));
}

/* Fault number k: every field derived from k. */
static struct fl_wire_fault fault(uint64_t k, uint32_t stack, uint64_t region)
{
	return (struct fl_wire_fault){.t_ns = START_MONO + 1000 * k, .addr = 0x7f0000000000ull + 4096 * k,
				      .region = region, .tid = 100 + (uint32_t)(k % 4), .stack = stack,
				      .latency_ns = 500 + (uint32_t)(k % 100), .pages = (uint16_t)(1 + k % 3),
				      .kind = (uint8_t)(k % FL_FAULT__COUNT), .flags = (uint8_t)(k % 2)};
}

/* n faults numbered from first, in records of at most FL_WIRE_MAX_FAULTS. */
static int send_faults(int fd, uint64_t first, uint64_t n, uint32_t stack, uint64_t region)
{
	static struct fl_wire_fault f[FL_WIRE_MAX_FAULTS];
	for (uint64_t done = 0; done < n;) {
		uint32_t k = (uint32_t)(n - done < FL_WIRE_MAX_FAULTS ? n - done : FL_WIRE_MAX_FAULTS);
		for (uint32_t i = 0; i < k; i++)
			f[i] = fault(first + done + i, stack, region);
		size_t len = fl_wire_put_faults(wbuf, sizeof wbuf, f, k);
		cr_assert_gt(len, 0);
		if (send_all(fd, wbuf, len) != 0)
			return -1;
		done += k;
	}
	return 0;
}

/* Did the daemon close fd (within ms)? */
static int hung_up(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	for (;;) {
		if (poll(&p, 1, ms) <= 0)
			return 0;
		char c[256];
		ssize_t n = read(fd, c, sizeof c);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0)
			return 0;
	}
}

/* ---- reading the database ---- */

static sqlite3 *db_open(void)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open_v2(D.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

#define NO_ROW INT64_MIN

/* The first column of the first row, or NO_ROW; NULL reads as -1. */
static int64_t q_int(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	int64_t v = NO_ROW;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
	else
		cr_assert_eq(rc, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return v;
}

static const char *q_text(sqlite3 *db, const char *fmt, ...)
{
	static char out[4][1024];
	static int next;
	char *o = out[next++ & 3];
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	snprintf(o, 1024, "(no row)");
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(o, 1024, "%s", t ? (const char *)t : "(null)");
	}
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return o;
}

/* Poll (the daemon commits at least every 250 ms) until the query gives want. */
struct int_wait {
	const char *sql;
	int64_t want, got;
};

static int int_is(void *arg)
{
	struct int_wait *w = arg;
	sqlite3 *db = db_open();
	w->got = q_int(db, "%s", w->sql);
	sqlite3_close(db);
	return w->got == w->want;
}

static int64_t wait_int(int64_t want, int ms, const char *sql)
{
	struct int_wait w = {.sql = sql, .want = want, .got = NO_ROW};
	fl_test_poll(int_is, &w, ms);
	return w.got;
}

/* ---- tests ---- */

Test(daemon, records_land_in_their_tables_in_real_time)
{
	start(NULL);
	int fd = peer();
	send_hello(fd, 4242);
	struct fl_wire_module m = {.t_ns = START_MONO + 100, .start = 0x400000, .end = 0x500000, .bias = 0x1000,
				   .op = FL_WIRE_MODULE_LOAD, .build_id_len = 4};
	static const uint8_t bid[] = {0xde, 0xad, 0xbe, 0xef};
	put(fd, fl_wire_put_module(wbuf, sizeof wbuf, &m, bid, "/usr/bin/demo"));
	send_region(fd, FL_WIRE_REGION_CREATE, 7, 0x7f0000000000ull, 1 << 20, 200);
	uint64_t pcs[] = {0x401000, 0x402000, 0x403000};
	send_stack(fd, 1, pcs, 3);
	send_faults(fd, 0, 60, 1, 7);
	send_faults(fd, 60, 40, 0, 0);
	send_region(fd, FL_WIRE_REGION_UPDATE, 7, 0x7f0000000000ull, 2 << 20, 1000000);
	struct fl_wire_sample s = {.t_ns = START_MONO + 2000, .resident_pages = 10, .faults = {1, 2, 3, 4, 5, 6},
				   .pressure = FL_PRESSURE_WARN, .regions = 1};
	put(fd, fl_wire_put(wbuf, sizeof wbuf, FL_REC_SAMPLE, &s, sizeof s, NULL, 0, NULL, 0));
	struct fl_wire_drops dr = {.t_ns = START_MONO + 3000, .events = 5, .stacks = 6, .other = 7};
	put(fd, fl_wire_put(wbuf, sizeof wbuf, FL_REC_DROPS, &dr, sizeof dr, NULL, 0, NULL, 0));
	m.op = FL_WIRE_MODULE_UNLOAD;
	m.t_ns = START_MONO + 3500;
	put(fd, fl_wire_put_module(wbuf, sizeof wbuf, &m, bid, "/usr/bin/demo"));
	send_region(fd, FL_WIRE_REGION_DESTROY, 7, 0, 0, 4000000);
	send_goodbye(fd, FL_WIRE_END_EXITED, 3, 5000);
	close(fd);
	cr_assert_eq(stop(), 0, "%s", read_log());

	sqlite3 *db = db_open();
	const int64_t R = (int64_t)START_REAL;
	cr_expect_eq(q_int(db, "SELECT count(*) FROM processes"), 1);
	cr_expect_eq(q_int(db, "SELECT pid FROM processes"), 4242);
	cr_expect_eq(q_int(db, "SELECT ppid FROM processes"), 1);
	cr_expect_eq(q_int(db, "SELECT parent_id FROM processes"), -1, "no parent row exists");
	cr_expect_str_eq(q_text(db, "SELECT exe FROM processes"), "/usr/bin/demo");
	cr_expect_str_eq(q_text(db, "SELECT argv FROM processes"), "[\"demo\",\"-x\",\"a\\\"b\"]");
	cr_expect_str_eq(q_text(db, "SELECT json_extract(argv, '$[2]') FROM processes"), "a\"b");
	cr_expect_str_eq(q_text(db, "SELECT engine FROM processes"), "uffd");
	cr_expect_str_eq(q_text(db, "SELECT compressor FROM processes"), "lz4");
	cr_expect_eq(q_int(db, "SELECT budget_bytes FROM processes"), 16 << 20);
	cr_expect_eq(q_int(db, "SELECT page_size FROM processes"), 4096);
	cr_expect_eq(q_int(db, "SELECT stacks_every FROM processes"), 1);
	cr_expect_eq(q_int(db, "SELECT start_ns FROM processes"), R);
	cr_expect_eq(q_int(db, "SELECT end_ns FROM processes"), R + 5000);
	cr_expect_str_eq(q_text(db, "SELECT how FROM processes"), "exited");
	cr_expect_eq(q_int(db, "SELECT exit_status FROM processes"), 3);
	cr_expect_eq(q_int(db, "SELECT dropped_events + 10 * dropped_stacks + 100 * dropped_other FROM processes"), 765);

	cr_expect_str_eq(q_text(db, "SELECT path FROM modules"), "/usr/bin/demo");
	cr_expect_str_eq(q_text(db, "SELECT build_id FROM modules"), "deadbeef");
	cr_expect_eq(q_int(db, "SELECT start FROM modules"), 0x400000);
	cr_expect_eq(q_int(db, "SELECT len FROM modules"), 0x100000);
	cr_expect_eq(q_int(db, "SELECT bias FROM modules"), 0x1000);
	cr_expect_eq(q_int(db, "SELECT loaded_ns FROM modules"), R + 100);
	cr_expect_eq(q_int(db, "SELECT unloaded_ns FROM modules"), R + 3500);

	/* The update closed the first row and opened a second. */
	cr_expect_eq(q_int(db, "SELECT count(*) FROM regions WHERE region_id = 7"), 2);
	cr_expect_eq(q_int(db, "SELECT len FROM regions ORDER BY id LIMIT 1"), 1 << 20);
	cr_expect_eq(q_int(db, "SELECT created_ns FROM regions ORDER BY id LIMIT 1"), R + 200);
	cr_expect_eq(q_int(db, "SELECT destroyed_ns FROM regions ORDER BY id LIMIT 1"), R + 1000000);
	cr_expect_eq(q_int(db, "SELECT len FROM regions ORDER BY id DESC LIMIT 1"), 2 << 20);
	cr_expect_eq(q_int(db, "SELECT created_ns FROM regions ORDER BY id DESC LIMIT 1"), R + 1000000);
	cr_expect_eq(q_int(db, "SELECT destroyed_ns FROM regions ORDER BY id DESC LIMIT 1"), R + 4000000);
	cr_expect_str_eq(q_text(db, "SELECT kind FROM regions LIMIT 1"), "jemalloc");
	cr_expect_eq(q_int(db, "SELECT prot FROM regions LIMIT 1"), 3);
	/* Alive at a time inside the second row: one row, the resized one. */
	cr_expect_eq(q_int(db, "SELECT len FROM regions WHERE created_ns <= %lld AND (destroyed_ns IS NULL OR destroyed_ns > %lld)",
			   (long long)(R + 2000000), (long long)(R + 2000000)),
		     2 << 20);

	cr_expect_eq(q_int(db, "SELECT count(*) FROM stacks"), 1);
	cr_expect_eq(q_int(db, "SELECT stack_id FROM stacks"), 1);
	cr_expect_eq(q_int(db, "SELECT nframes FROM stacks"), 3);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM frames WHERE inline_depth = 0"), 3);
	cr_expect_eq(q_int(db, "SELECT pc FROM frames WHERE depth = 0 AND inline_depth = 0"), 0x401000);
	cr_expect_eq(q_int(db, "SELECT pc FROM frames WHERE depth = 2 AND inline_depth = 0"), 0x403000);

	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults"), 100);
	for (uint64_t k = 0; k < 100; k += 33) {
		struct fl_wire_fault f = fault(k, k < 60 ? 1 : 0, k < 60 ? 7 : 0);
		int64_t addr = (int64_t)f.addr;
		cr_expect_eq(q_int(db, "SELECT t_ns FROM faults WHERE addr = %lld", (long long)addr), R + 1000 * (int64_t)k);
		cr_expect_eq(q_int(db, "SELECT tid FROM faults WHERE addr = %lld", (long long)addr), f.tid);
		cr_expect_eq(q_int(db, "SELECT kind FROM faults WHERE addr = %lld", (long long)addr), f.kind);
		cr_expect_eq(q_int(db, "SELECT pages FROM faults WHERE addr = %lld", (long long)addr), f.pages);
		cr_expect_eq(q_int(db, "SELECT latency_ns FROM faults WHERE addr = %lld", (long long)addr), f.latency_ns);
		cr_expect_eq(q_int(db, "SELECT write FROM faults WHERE addr = %lld", (long long)addr), f.flags & 1);
		cr_expect_eq(q_int(db, "SELECT stack FROM faults WHERE addr = %lld", (long long)addr), f.stack);
		cr_expect_eq(q_int(db, "SELECT region FROM faults WHERE addr = %lld", (long long)addr), (int64_t)f.region);
	}
	/* The summaries agree with the rows. */
	cr_expect_eq(q_int(db, "SELECT sum(faults) FROM stack_faults"), 100);
	cr_expect_eq(q_int(db, "SELECT sum(faults) FROM stack_faults WHERE stack = 1"), 60);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM (SELECT kind, count(*) n FROM faults GROUP BY kind) f"
			       " JOIN (SELECT kind, sum(faults) n FROM stack_faults GROUP BY kind) s USING (kind)"
			       " WHERE f.n = s.n"),
		     FL_FAULT__COUNT);
	cr_expect_eq(q_int(db, "SELECT sum(pages) FROM stack_faults"), q_int(db, "SELECT sum(pages) FROM faults"));
	cr_expect_eq(q_int(db, "SELECT sum(faults) FROM fault_spans"), 100);
	cr_expect_eq(q_int(db, "SELECT min(t_min) FROM fault_spans"), R);
	cr_expect_eq(q_int(db, "SELECT max(t_max) FROM fault_spans"), R + 99000);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults f JOIN fault_spans s ON f.id BETWEEN s.first_id AND s.last_id"), 100);

	cr_expect_eq(q_int(db, "SELECT count(*) FROM samples"), 1);
	cr_expect_eq(q_int(db, "SELECT t_ns FROM samples"), R + 2000);
	cr_expect_eq(q_int(db, "SELECT resident_pages FROM samples"), 10);
	cr_expect_eq(q_int(db, "SELECT faults_first_touch + 10 * faults_wp FROM samples"), 61);
	cr_expect_str_eq(q_text(db, "SELECT pressure FROM samples"), "WARN");
	cr_expect_eq(q_int(db, "SELECT events FROM drops"), 5);
	cr_expect_eq(q_int(db, "SELECT t_ns FROM drops"), R + 3000);

	cr_expect_eq(q_int(db, "SELECT count(*) FROM fault_kinds"), FL_FAULT__COUNT);
	cr_expect_str_eq(q_text(db, "SELECT name FROM fault_kinds WHERE kind = %d", FL_FAULT_FIRST_TOUCH),
			 fl_fault_kind_name(FL_FAULT_FIRST_TOUCH));
	cr_expect_str_eq(q_text(db, "SELECT name FROM fault_kinds WHERE kind = %d", FL_FAULT_WP),
			 fl_fault_kind_name(FL_FAULT_WP));
	cr_expect_str_eq(q_text(db, "SELECT value FROM meta WHERE key = 'schema_version'"), "1");
	cr_expect_str_eq(q_text(db, "PRAGMA journal_mode"), "wal");
	sqlite3_close(db);
}

Test(daemon, four_peers_at_once)
{
	start(NULL);
	enum { PEERS = 4, EACH = 25000 };
	pid_t kids[PEERS];
	for (int i = 0; i < PEERS; i++) {
		kids[i] = fork();
		cr_assert_geq(kids[i], 0);
		if (kids[i] == 0) {
			int fd = peer();
			send_hello(fd, 1000 + i);
			uint64_t pcs[] = {0x1000 + (uint64_t)i, 0x2000};
			send_stack(fd, 1, pcs, 2);
			send_region(fd, FL_WIRE_REGION_CREATE, 1, 0x10000000, 1 << 20, 0);
			if (send_faults(fd, 0, EACH, 1, 1) != 0)
				_exit(1);
			send_goodbye(fd, FL_WIRE_END_EXITED, i, 999999999);
			close(fd);
			_exit(0);
		}
	}
	for (int i = 0; i < PEERS; i++) {
		int st;
		cr_assert_eq(waitpid(kids[i], &st, 0), kids[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "peer %d failed", i);
	}
	cr_assert_eq(stop(), 0, "%s", read_log());
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM processes"), PEERS);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults"), PEERS * EACH);
	for (int i = 0; i < PEERS; i++) {
		cr_expect_eq(q_int(db, "SELECT count(*) FROM faults f JOIN processes p ON p.id = f.process WHERE p.pid = %d", 1000 + i),
			     EACH);
		cr_expect_eq(q_int(db, "SELECT exit_status FROM processes WHERE pid = %d AND how = 'exited'", 1000 + i), i);
		cr_expect_eq(q_int(db, "SELECT sum(s.faults) FROM stack_faults s JOIN processes p ON p.id = s.process WHERE p.pid = %d",
				   1000 + i),
			     EACH);
		cr_expect_eq(q_int(db, "SELECT sum(s.faults) FROM fault_spans s JOIN processes p ON p.id = s.process WHERE p.pid = %d",
				   1000 + i),
			     EACH);
	}
	sqlite3_close(db);
}

Test(daemon, a_peer_stalled_inside_a_record_holds_up_nobody)
{
	start(NULL);
	/* Half of a large FAULTS record, then silence. */
	int stalled = peer();
	send_hello(stalled, 900);
	static struct fl_wire_fault f[FL_WIRE_MAX_FAULTS];
	for (uint32_t i = 0; i < FL_WIRE_MAX_FAULTS; i++)
		f[i] = fault(i, 0, 0);
	size_t len = fl_wire_put_faults(wbuf, sizeof wbuf, f, FL_WIRE_MAX_FAULTS);
	cr_assert_eq(send_all(stalled, wbuf, len / 2), 0);
	/* Another process is served meanwhile, start to finish. */
	int fd = peer();
	send_hello(fd, 901);
	send_faults(fd, 0, 3000, 0, 0);
	send_goodbye(fd, FL_WIRE_END_EXITED, 0, 1);
	cr_expect_eq(wait_int(3000, 5000, "SELECT count(*) FROM faults f JOIN processes p ON p.id = f.process WHERE p.pid = 901"),
		     3000, "%s", read_log());
	cr_expect_eq(wait_int(1, 5000, "SELECT count(*) FROM processes WHERE pid = 901 AND how = 'exited'"), 1);
	cr_expect_not(hung_up(stalled, 10), "the daemon dropped a peer for being slow");
	close(fd);
	/* The half record is never stored; its process vanished with it. */
	close(stalled);
	cr_expect_eq(wait_int(1, 5000, "SELECT count(*) FROM processes WHERE pid = 900 AND how = 'vanished'"), 1);
	cr_assert_eq(stop(), 0);
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults f JOIN processes p ON p.id = f.process WHERE p.pid = 900"), 0);
	sqlite3_close(db);
}

Test(daemon, a_reconnecting_shim_continues_its_process_row)
{
	start(NULL);
	int fd = peer();
	send_hello(fd, 777);
	uint64_t pcs[] = {0xabc000};
	send_stack(fd, 5, pcs, 1);
	send_region(fd, FL_WIRE_REGION_CREATE, 9, 0x20000000, 1 << 16, 10);
	send_faults(fd, 0, 100, 5, 9);
	close(fd);
	/* Gone without goodbye: vanished, for now. */
	cr_assert_eq(wait_int(1, 5000, "SELECT count(*) FROM processes WHERE how = 'vanished' AND end_ns IS NOT NULL"), 1);

	fd = peer();
	send_hello(fd, 777);
	/* Stack 5 and region 9 are still known: no redefinition needed. */
	send_faults(fd, 100, 50, 5, 9);
	/* The same definition sent again is no news; the process is running again. */
	send_stack(fd, 5, pcs, 1);
	cr_assert_eq(wait_int(1, 5000, "SELECT count(*) FROM processes WHERE how = 'running' AND end_ns IS NULL"), 1);
	send_goodbye(fd, FL_WIRE_END_EXITED, 0, 1000000);
	cr_expect_not(hung_up(fd, 200), "the daemon dropped a well-behaved reconnection: %s", read_log());
	close(fd);
	cr_assert_eq(stop(), 0, "%s", read_log());
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM processes"), 1);
	cr_expect_str_eq(q_text(db, "SELECT how FROM processes"), "exited");
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults"), 150);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM stacks"), 1);
	cr_expect_eq(q_int(db, "SELECT count(DISTINCT process) FROM faults"), 1);
	sqlite3_close(db);
}

Test(daemon, a_region_changed_while_disconnected_is_an_update_on_reconnection)
{
	start(NULL);
	int fd = peer();
	send_hello(fd, 778);
	send_region(fd, FL_WIRE_REGION_CREATE, 9, 0x20000000, 1 << 16, 10);
	send_region(fd, FL_WIRE_REGION_CREATE, 10, 0x30000000, 1 << 16, 11);
	close(fd);
	cr_assert_eq(wait_int(1, 5000, "SELECT count(*) FROM processes WHERE how = 'vanished'"), 1);
	/* The shim trimmed region 9 while no daemon listened; its snapshot
	 * announces 9 at its new size and 10 as it was. */
	fd = peer();
	send_hello(fd, 778);
	send_region(fd, FL_WIRE_REGION_CREATE, 9, 0x20000000, 1 << 12, 20);
	send_region(fd, FL_WIRE_REGION_CREATE, 10, 0x30000000, 1 << 16, 21);
	send_faults(fd, 0, 10, 0, 9);
	send_goodbye(fd, FL_WIRE_END_EXITED, 0, 1000000);
	cr_expect_not(hung_up(fd, 200), "the daemon dropped a reconnection's snapshot: %s", read_log());
	close(fd);
	cr_assert_eq(stop(), 0, "%s", read_log());
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM regions WHERE region_id = 9"), 2, "old size closed, new one opened");
	cr_expect_eq(q_int(db, "SELECT len FROM regions WHERE region_id = 9 AND destroyed_ns IS NULL"), 1 << 12);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM regions WHERE region_id = 10"), 1);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults"), 10);
	sqlite3_close(db);
}

/* The daemon stopped once fd's 10 faults are stored, fd hung up on, and
 * the daemon started again: a new peer (our pid, alive for the new
 * daemon's start-up check) has said hello; its fd. */
static int restart_under(int fd)
{
	cr_assert_eq(wait_int(10, 5000, "SELECT count(*) FROM faults"), 10);
	cr_assert_eq(stop(), 0, "%s", read_log());
	cr_assert(hung_up(fd, 2000));
	close(fd);
	start(NULL);
	fd = peer();
	send_hello(fd, getpid());
	return fd;
}

Test(daemon, a_shim_reconnecting_to_a_restarted_daemon_continues_too)
{
	start(NULL);
	int fd = peer();
	/* Our own pid, so that the new daemon's start-up check sees it alive. */
	send_hello(fd, getpid());
	uint64_t pcs[] = {0x1234, 0x5678};
	send_stack(fd, 3, pcs, 2);
	send_region(fd, FL_WIRE_REGION_CREATE, 4, 0x30000000, 1 << 16, 10);
	send_faults(fd, 0, 10, 3, 4);
	fd = restart_under(fd);
	send_faults(fd, 10, 10, 3, 4);
	/* A shim may announce its live regions again to a new daemon. */
	send_region(fd, FL_WIRE_REGION_CREATE, 4, 0x30000000, 1 << 16, 10);
	send_goodbye(fd, FL_WIRE_END_EXITED, 0, 1000000);
	cr_expect_not(hung_up(fd, 300), "%s", read_log());
	close(fd);
	cr_assert_eq(stop(), 0, "%s", read_log());
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM processes"), 1);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults"), 20);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM regions"), 1);
	cr_expect_str_eq(q_text(db, "SELECT how FROM processes"), "exited");
	sqlite3_close(db);
}

/* Every managed kind is stored by its name, the committed pieces of
 * reservations too, and a restarted daemon knows a region of that kind
 * again when the shim announces it anew (no update row). */
Test(daemon, committed_regions_are_stored_by_name_and_known_after_a_restart)
{
	start(NULL);
	int fd = peer();
	send_hello(fd, getpid());
	send_region_kind(fd, FL_WIRE_REGION_CREATE, 1, 0x10000000, 1 << 16, 10, FL_RANGE_PLAIN);
	send_region_kind(fd, FL_WIRE_REGION_CREATE, 2, 0x20000000, 1 << 16, 10, FL_RANGE_ALLOCATOR);
	send_region_kind(fd, FL_WIRE_REGION_CREATE, 3, 0x30000000, 1 << 16, 10, FL_RANGE_PROGRAM);
	send_region_kind(fd, FL_WIRE_REGION_CREATE, 4, 0x40000000, 1 << 18, 10, FL_RANGE_COMMITTED);
	send_faults(fd, 0, 10, 0, 4);
	fd = restart_under(fd);
	send_region_kind(fd, FL_WIRE_REGION_CREATE, 4, 0x40000000, 1 << 18, 10, FL_RANGE_COMMITTED);
	send_faults(fd, 10, 10, 0, 4);
	send_goodbye(fd, FL_WIRE_END_EXITED, 0, 1000000);
	cr_expect_not(hung_up(fd, 300), "%s", read_log());
	close(fd);
	cr_assert_eq(stop(), 0, "%s", read_log());
	sqlite3 *db = db_open();
	cr_expect_str_eq(q_text(db, "SELECT group_concat(kind, ',') FROM (SELECT kind FROM regions ORDER BY region_id)"),
			 "managed,jemalloc,program mmap,resv->commit");
	cr_expect_eq(q_int(db, "SELECT count(*) FROM regions WHERE region_id = 4"), 1,
		     "announced again after the restart: the same region, not an update");
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults f JOIN regions r ON r.process = f.process AND"
			       " r.region_id = f.region WHERE r.kind = 'resv->commit'"),
		     20);
	sqlite3_close(db);
}

Test(daemon, a_process_gone_without_goodbye_is_vanished)
{
	start(NULL);
	int fd = peer();
	send_hello(fd, 31337);
	send_faults(fd, 0, 10, 0, 0);
	cr_assert_eq(wait_int(1, 5000, "SELECT count(*) FROM processes WHERE how = 'running'"), 1);
	close(fd);
	cr_assert_eq(wait_int(1, 5000, "SELECT count(*) FROM processes WHERE how = 'vanished'"), 1);
	cr_assert_eq(stop(), 0);
	sqlite3 *db = db_open();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t end = q_int(db, "SELECT end_ns FROM processes");
	int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	cr_expect(end > now - 60000000000ll && end <= now, "end_ns %lld is not the time it vanished", (long long)end);
	cr_expect_eq(q_int(db, "SELECT exit_status FROM processes"), -1);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults"), 10);
	sqlite3_close(db);
}

Test(daemon, processes_left_running_by_a_dead_daemon_are_vanished_at_start)
{
	start(NULL);
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	int a = peer(), b = peer();
	send_hello(a, gone);     /* a pid that no longer exists */
	send_hello(b, getpid()); /* one that does */
	send_faults(a, 0, 5, 0, 0);
	cr_assert_eq(wait_int(5, 5000, "SELECT count(*) FROM faults"), 5);
	/* A daemon that dies leaves its processes running. */
	kill(D.pid, SIGKILL);
	waitpid(D.pid, NULL, 0);
	D.pid = 0;
	close(a);
	close(b);
	start(NULL);
	cr_assert_eq(stop(), 0);
	sqlite3 *db = db_open();
	cr_expect_str_eq(q_text(db, "SELECT how FROM processes WHERE pid = %d", gone), "vanished");
	/* It ended, as far as anyone can tell, with its last event. */
	cr_expect_eq(q_int(db, "SELECT end_ns FROM processes WHERE pid = %d", gone), (int64_t)START_REAL + 4000);
	cr_expect_str_eq(q_text(db, "SELECT how FROM processes WHERE pid = %d", getpid()), "running");
	sqlite3_close(db);
}

Test(daemon, goodbye_and_exit_statuses)
{
	start(log_debug);
	/* A goodbye tells how: signalled 9. */
	int a = peer();
	send_hello(a, 201);
	send_goodbye(a, FL_WIRE_END_SIGNALLED, 9, 100);
	close(a);
	/* A launcher's exit report for a process still connected. */
	int b = peer();
	send_hello(b, 202);
	/* Exit reports for a process that vanished, and for one that said goodbye. */
	int c = peer();
	send_hello(c, 203);
	close(c);
	int e = peer();
	send_hello(e, 204);
	send_goodbye(e, FL_WIRE_END_EXITED, 0, 100);
	close(e);
	cr_assert_eq(wait_int(1, 5000, "SELECT count(*) FROM processes WHERE pid = 203 AND how = 'vanished'"), 1);
	cr_assert_eq(wait_int(1, 5000, "SELECT count(*) FROM processes WHERE pid = 204 AND how = 'exited'"), 1);
	int ctl = peer();
	send_exit(ctl, 202, FL_WIRE_END_EXITED, 3);
	send_exit(ctl, 203, FL_WIRE_END_SIGNALLED, 11);
	send_exit(ctl, 204, FL_WIRE_END_SIGNALLED, 6);
	cr_expect_not(hung_up(ctl, 200), "%s", read_log());
	close(ctl);
	cr_assert_eq(wait_int(1, 5000, "SELECT count(*) FROM processes WHERE pid = 202 AND how = 'exited'"), 1);
	/* Its connection closing afterwards does not make it vanished. */
	close(b);
	wait_closed(5); /* a, c, e, ctl and b */
	cr_assert_eq(stop(), 0);
	sqlite3 *db = db_open();
	cr_expect_str_eq(q_text(db, "SELECT how || ' ' || exit_status FROM processes WHERE pid = 201"), "signalled 9");
	cr_expect_str_eq(q_text(db, "SELECT how || ' ' || exit_status FROM processes WHERE pid = 202"), "exited 3");
	cr_expect_str_eq(q_text(db, "SELECT how || ' ' || exit_status FROM processes WHERE pid = 203"), "signalled 11");
	cr_expect_str_eq(q_text(db, "SELECT how || ' ' || exit_status FROM processes WHERE pid = 204"), "exited 0");
	cr_expect_eq(q_int(db, "SELECT count(*) FROM processes WHERE end_ns IS NULL"), 0);
	sqlite3_close(db);
}

Test(daemon, an_exit_report_read_before_the_processes_hello_still_applies)
{
	start(log_debug);
	/* The launcher's report wins the race with the process's own data. */
	int ctl = peer();
	send_exit(ctl, 321, FL_WIRE_END_SIGNALLED, 9);
	cr_expect_not(hung_up(ctl, 200), "%s", read_log());
	int fd = peer();
	send_hello(fd, 321);
	send_faults(fd, 0, 5, 0, 0);
	close(fd); /* killed: no goodbye */
	close(ctl);
	wait_closed(2);
	cr_assert_eq(stop(), 0);
	sqlite3 *db = db_open();
	cr_expect_str_eq(q_text(db, "SELECT how || ' ' || exit_status FROM processes WHERE pid = 321"), "signalled 9");
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults"), 5);
	sqlite3_close(db);
}

/*
 * A well-behaved peer and a bad one at once: the bad one's record is
 * refused with a logged reason and it alone is disconnected; the good one
 * keeps going and all its faults are stored.
 */
static void bad_case(int hello_first, void (*prepare)(int fd), const void *bad, size_t badlen, const char *reason)
{
	start(NULL);
	int good = peer();
	send_hello(good, 5001);
	uint64_t pcs[] = {0x4000};
	send_stack(good, 1, pcs, 1);
	send_faults(good, 0, 500, 1, 0);
	int b = peer();
	if (hello_first)
		send_hello(b, 5002);
	if (prepare)
		prepare(b);
	send_all(b, bad, badlen);
	cr_assert(hung_up(b, 5000), "the daemon kept a peer that sent a bad record; log: %s", read_log());
	close(b);
	char line[256];
	snprintf(line, sizeof line, "faultlined: peer pid %d", getpid());
	cr_assert(wait_log(line, 2000), "no line naming the peer's pid: %s", read_log());
	cr_assert(wait_log(reason, 2000), "expected '%s' in the log: %s", reason, read_log());
	cr_assert(wait_log("; disconnected", 2000), "%s", read_log());
	send_faults(good, 500, 500, 1, 0);
	send_goodbye(good, FL_WIRE_END_EXITED, 0, 1000000000);
	cr_expect_not(hung_up(good, 200), "the good peer was dropped too: %s", read_log());
	close(good);
	cr_assert_eq(stop(), 0, "%s", read_log());
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults f JOIN processes p ON p.id = f.process WHERE p.pid = 5001"), 1000);
	cr_expect_str_eq(q_text(db, "SELECT how FROM processes WHERE pid = 5001"), "exited");
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults f JOIN processes p ON p.id = f.process WHERE p.pid = 5002"), 0);
	sqlite3_close(db);
}

static size_t raw_record(uint32_t len, uint16_t type, size_t total)
{
	memset(wbuf, 0, total);
	struct fl_wire_hdr h = {.len = len, .type = type};
	memcpy(wbuf, &h, sizeof h);
	return total;
}

Test(daemon, bad_length_disconnects_only_that_peer)
{
	size_t n = raw_record(12, FL_REC_SAMPLE, 16);
	static uint8_t rec[16];
	memcpy(rec, wbuf, n);
	bad_case(1, NULL, rec, n, "record length 12 is not a multiple of 8");
}

Test(daemon, huge_length_disconnects_only_that_peer)
{
	size_t n = raw_record(1u << 30, FL_REC_FAULTS, 64);
	static uint8_t rec[64];
	memcpy(rec, wbuf, n);
	bad_case(1, NULL, rec, n, "record length 1073741824 out of range 8..65536");
}

Test(daemon, unknown_type_disconnects_only_that_peer)
{
	size_t n = raw_record(16, 77, 16);
	static uint8_t rec[16];
	memcpy(rec, wbuf, n);
	bad_case(1, NULL, rec, n, "unknown record type 77");
}

Test(daemon, fault_before_hello_disconnects_only_that_peer)
{
	struct fl_wire_fault f = fault(0, 0, 0);
	static uint8_t rec[FL_WIRE_MAX];
	size_t n = fl_wire_put_faults(rec, sizeof rec, &f, 1);
	bad_case(0, NULL, rec, n, "faults record before hello");
}

Test(daemon, undefined_stack_disconnects_only_that_peer)
{
	struct fl_wire_fault f[3] = {fault(0, 0, 0), fault(1, 0, 0), fault(2, 9, 0)};
	static uint8_t rec[FL_WIRE_MAX];
	size_t n = fl_wire_put_faults(rec, sizeof rec, f, 3);
	bad_case(1, NULL, rec, n, "fault 2 of 3 uses stack 9, which was never defined");
}

Test(daemon, unknown_region_disconnects_only_that_peer)
{
	struct fl_wire_fault f = fault(0, 0, 33);
	static uint8_t rec[FL_WIRE_MAX];
	size_t n = fl_wire_put_faults(rec, sizeof rec, &f, 1);
	bad_case(1, NULL, rec, n, "fault 0 of 1 names region 33, which was never created");
}

/* A region record of the given kind (the shim's own memory, or a kind
 * this daemon does not know). */
static size_t region_of_kind(uint32_t kind, uint8_t *rec, size_t cap)
{
	struct fl_wire_region r = {.t_ns = START_MONO, .id = 1, .start = 0x10000000, .len = 4096,
				   .op = FL_WIRE_REGION_CREATE, .prot = 3, .kind = kind};
	return fl_wire_put(rec, cap, FL_REC_REGION, &r, sizeof r, NULL, 0, NULL, 0);
}

Test(daemon, region_of_the_shims_own_kind_disconnects_only_that_peer)
{
	static uint8_t rec[256];
	size_t n = region_of_kind(FL_RANGE_SHIM, rec, sizeof rec);
	bad_case(1, NULL, rec, n, "region kind 3 is not a managed kind");
}

Test(daemon, region_of_an_unknown_kind_disconnects_only_that_peer)
{
	static uint8_t rec[256];
	size_t n = region_of_kind(FL_RANGE__COUNT, rec, sizeof rec);
	char reason[64];
	snprintf(reason, sizeof reason, "region kind %u is not a managed kind", (unsigned)FL_RANGE__COUNT);
	bad_case(1, NULL, rec, n, reason);
}

static void say_goodbye(int fd)
{
	send_goodbye(fd, FL_WIRE_END_EXITED, 0, 10);
}

/* Sample k of an ALLOCS record: a malloc of 64 KiB per k (stack 1). */
static struct fl_wire_alloc alloc_rec(uint32_t id, uint64_t faults)
{
	return (struct fl_wire_alloc){.t_ns = START_MONO + 100 * id, .addr = 0x7f0000000000ull + ((uint64_t)id << 20),
				      .size = 65536 * id, .weight = 524288, .faults = faults, .pages = 2 * faults,
				      .latency_ns = 1000 * faults, .id = id, .stack = 1, .kind = FL_WIRE_ALLOC_MALLOC};
}

Test(daemon, allocation_samples_land_in_allocs_and_the_newest_state_wins)
{
	start(NULL);
	int fd = peer();
	send_hello(fd, 4343);
	uint64_t pcs[] = {0x401000, 0x402000};
	send_stack(fd, 1, pcs, 2);
	struct fl_wire_alloc a[3] = {alloc_rec(1, 0), alloc_rec(2, 5), {.faults = 4, .pages = 4, .latency_ns = 99}};
	put(fd, fl_wire_put_allocs(wbuf, sizeof wbuf, a, 3));
	/* Later: sample 2 has more faults and was freed; sample 1 was at a peak. */
	a[0].peak_ns = START_MONO + 5000;
	a[0].peak_resident = 4096;
	a[0].peak_compressed = 8192;
	a[1] = alloc_rec(2, 9);
	a[1].free_ns = START_MONO + 7000;
	put(fd, fl_wire_put_allocs(wbuf, sizeof wbuf, a, 2));
	send_goodbye(fd, FL_WIRE_END_EXITED, 0, 1000000);
	close(fd);
	cr_assert_eq(stop(), 0, "%s", read_log());
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM allocs"), 3);
	cr_expect_eq(q_int(db, "SELECT faults FROM allocs WHERE alloc_id = 2"), 9);
	cr_expect_eq(q_int(db, "SELECT pages FROM allocs WHERE alloc_id = 2"), 18);
	cr_expect_eq(q_int(db, "SELECT free_ns - t_ns FROM allocs WHERE alloc_id = 2"), 6800);
	cr_expect_eq(q_int(db, "SELECT peak_compressed_bytes FROM allocs WHERE alloc_id = 1"), 8192);
	cr_expect_eq(q_int(db, "SELECT t_ns FROM allocs WHERE alloc_id = 1"), (int64_t)(START_REAL + 100));
	cr_expect_str_eq(q_text(db, "SELECT kind || ' ' || faults || ' ' || coalesce(addr, 'null') FROM allocs"
				    " WHERE alloc_id = 0"),
			 "unsampled 4 null");
	/* One site (stack 1) of two samples, and the unsampled. */
	cr_expect_eq(q_int(db, "SELECT samples FROM alloc_sites WHERE stack = 1"), 2);
	cr_expect_eq(q_int(db, "SELECT bytes_live_at_end FROM alloc_sites WHERE stack = 1"), 524288);
	cr_expect_eq(q_int(db, "SELECT faults FROM alloc_sites WHERE stack IS NULL"), 4);
	sqlite3_close(db);
}

Test(daemon, an_allocation_on_an_undefined_stack_disconnects_only_that_peer)
{
	struct fl_wire_alloc a = alloc_rec(1, 1);
	a.stack = 7;
	static uint8_t rec[FL_WIRE_MAX];
	size_t n = fl_wire_put_allocs(rec, sizeof rec, &a, 1);
	bad_case(1, NULL, rec, n, "allocation 0 of 1 uses stack 7, which was never defined");
}

Test(daemon, an_allocation_standing_for_less_than_its_size_disconnects_only_that_peer)
{
	/* The first is fine; the second's weight is under its size. */
	struct fl_wire_alloc a[2] = {alloc_rec(1, 1), alloc_rec(20, 1)};
	a[0].stack = a[1].stack = 0;
	static uint8_t rec[FL_WIRE_MAX];
	size_t n = fl_wire_put_allocs(rec, sizeof rec, a, 2);
	bad_case(1, NULL, rec, n, "allocation 1 stands for 524288 bytes, fewer than its 1310720");
}

/* A spill sample at +t: 10 pages in 30000 bytes of a 32 KiB file. */
static struct fl_wire_spill spill_at(uint64_t t)
{
	return (struct fl_wire_spill){.t_ns = START_MONO + t, .spilled_pages = 10, .spilled_bytes = 30000,
				      .file_bytes = 32768, .writes = 3, .write_errors = 1, .reads = 7, .read_errors = 2};
}

static size_t spill_rec(const struct fl_wire_spill *x, uint8_t *rec, size_t cap)
{
	return fl_wire_put(rec, cap, FL_REC_SPILL, x, sizeof *x, NULL, 0, NULL, 0);
}

/* x, whole, from a bad peer: refused with reason (bad_case). */
static void bad_spill(const struct fl_wire_spill *x, const char *reason)
{
	static uint8_t rec[256];
	size_t n = spill_rec(x, rec, sizeof rec);
	bad_case(1, NULL, rec, n, reason);
}

Test(daemon, spill_records_land_in_spill_samples_beside_their_samples)
{
	start(NULL);
	int fd = peer();
	send_hello(fd, 4344);
	struct fl_wire_sample s = {.t_ns = START_MONO + 2000, .faults = {0, 0, 0, 0, 9, 0}};
	put(fd, fl_wire_put(wbuf, sizeof wbuf, FL_REC_SAMPLE, &s, sizeof s, NULL, 0, NULL, 0));
	struct fl_wire_spill held = spill_at(2000);
	put(fd, spill_rec(&held, (uint8_t *)wbuf, sizeof wbuf));
	/* Everything given back: nothing held, the counters kept. */
	struct fl_wire_spill empty = {.t_ns = START_MONO + 3000, .writes = 3, .write_errors = 1, .reads = 17};
	put(fd, spill_rec(&empty, (uint8_t *)wbuf, sizeof wbuf));
	say_goodbye(fd);
	close(fd);
	cr_assert_eq(stop(), 0, "%s", read_log());
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM spill_samples"), 2);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM spill_samples sp JOIN samples s"
			       " ON s.process = sp.process AND s.t_ns = sp.t_ns"),
		     1);
	cr_expect_eq(q_int(db, "SELECT t_ns FROM spill_samples ORDER BY t_ns LIMIT 1"), (int64_t)(START_REAL + 2000));
	cr_expect_str_eq(q_text(db, "SELECT spilled_pages || ' ' || spilled_bytes || ' ' || file_bytes || ' ' || writes"
				    " || ' ' || write_errors || ' ' || reads || ' ' || read_errors"
				    " FROM spill_samples ORDER BY t_ns LIMIT 1"),
			 "10 30000 32768 3 1 7 2");
	cr_expect_str_eq(q_text(db, "SELECT spilled_pages || ' ' || spilled_bytes || ' ' || file_bytes || ' ' || reads"
				    " FROM spill_samples ORDER BY t_ns DESC LIMIT 1"),
			 "0 0 0 17");
	cr_expect_eq(q_int(db, "SELECT count(DISTINCT process) FROM spill_samples"), 1);
	sqlite3_close(db);
}

Test(daemon, spilled_pages_without_bytes_disconnect_only_that_peer)
{
	struct fl_wire_spill x = spill_at(0);
	x.spilled_bytes = 0;
	bad_spill(&x, "spill record holds 10 pages in 0 bytes");
}

Test(daemon, more_spilled_bytes_than_the_file_holds_disconnect_only_that_peer)
{
	struct fl_wire_spill x = spill_at(0);
	x.file_bytes = 28672;
	bad_spill(&x, "spill record holds 30000 bytes in a file of 28672");
}

Test(daemon, a_short_spill_record_disconnects_only_that_peer)
{
	static uint8_t rec[256];
	struct fl_wire_spill x = spill_at(0);
	size_t n = spill_rec(&x, rec, sizeof rec);
	struct fl_wire_hdr h = {.len = (uint32_t)n - 8, .type = FL_REC_SPILL};
	memcpy(rec, &h, sizeof h);
	char reason[96];
	snprintf(reason, sizeof reason, "spill record of %zu bytes is shorter than its fixed part (%zu)", n - 8, n);
	bad_case(1, NULL, rec, n - 8, reason);
}

Test(daemon, records_after_goodbye_disconnect_only_that_peer)
{
	struct fl_wire_drops d = {.events = 1};
	static uint8_t rec[64];
	size_t n = fl_wire_put(rec, sizeof rec, FL_REC_DROPS, &d, sizeof d, NULL, 0, NULL, 0);
	bad_case(1, say_goodbye, rec, n, "drops record after goodbye");
	/* And the goodbye's answer stands. */
	sqlite3 *db = db_open();
	cr_expect_str_eq(q_text(db, "SELECT how FROM processes WHERE pid = 5002"), "exited");
	sqlite3_close(db);
}

Test(daemon, garbage_after_goodbye_disconnects_only_that_peer)
{
	static uint8_t rec[32];
	memset(rec, 0xa5, sizeof rec);
	bad_case(1, say_goodbye, rec, sizeof rec, "record length 2779096485 out of range");
}

Test(daemon, update_of_an_unknown_region_disconnects_only_that_peer)
{
	struct fl_wire_region r = {.t_ns = START_MONO, .id = 5, .start = 0x1000, .len = 0x1000,
				   .op = FL_WIRE_REGION_UPDATE, .prot = 3};
	static uint8_t rec[64];
	size_t n = fl_wire_put(rec, sizeof rec, FL_REC_REGION, &r, sizeof r, NULL, 0, NULL, 0);
	bad_case(1, NULL, rec, n, "region update of region 5, which was never created");
}

static void define_stack_2(int fd)
{
	uint64_t pcs[] = {1, 2, 3};
	send_stack(fd, 2, pcs, 3);
}

Test(daemon, a_stack_redefined_differently_disconnects_only_that_peer)
{
	uint64_t pcs[] = {1, 2, 4};
	static uint8_t rec[256];
	size_t n = fl_wire_put_stack(rec, sizeof rec, 2, pcs, 3);
	bad_case(1, define_stack_2, rec, n, "stack 2 redefined with different frames");
}

Test(daemon, another_users_connection_is_refused)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to connect as another user");
	start(NULL);
	/* Let uid 65534 reach the socket; the daemon must still refuse it. */
	char sdir[160];
	snprintf(sdir, sizeof sdir, "%s/s", D.dir);
	cr_assert_eq(chmod(D.dir, 0711), 0);
	cr_assert_eq(chmod(sdir, 0711), 0);
	cr_assert_eq(chmod(D.sock, 0666), 0);
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t kid = fork();
	cr_assert_geq(kid, 0);
	if (kid == 0) {
		close(pfd[0]);
		if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
			_exit(2);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		cr_assert_lt(snprintf(sa.sun_path, sizeof sa.sun_path, "%s", D.sock), (int)sizeof sa.sun_path);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
			_exit(3);
		struct fl_wire_hello h = {.pid = getpid(), .ppid = 1, .start_real_ns = START_REAL,
					  .start_mono_ns = START_MONO, .page_size = 4096};
		size_t n = fl_wire_put_hello(wbuf, sizeof wbuf, &h, "/bin/intruder", "x", 2);
		send_all(fd, wbuf, n);
		struct fl_wire_fault f = fault(0, 0, 0);
		n = fl_wire_put_faults(wbuf, sizeof wbuf, &f, 1);
		send_all(fd, wbuf, n);
		/* Report whether the daemon hung up on us. */
		char r = hung_up(fd, 5000) ? 'h' : 'k';
		if (write(pfd[1], &r, 1) != 1)
			_exit(4);
		_exit(0);
	}
	close(pfd[1]);
	char r = 0;
	cr_assert_eq(read(pfd[0], &r, 1), 1, "the other user's client failed to connect");
	close(pfd[0]);
	int st;
	waitpid(kid, &st, 0);
	cr_expect_eq(r, 'h', "the daemon kept the other user's connection");
	char line[128];
	snprintf(line, sizeof line, "refused a connection from pid %d uid %d", kid, NOBODY);
	cr_expect(wait_log(line, 2000), "expected '%s' in: %s", line, read_log());
	/* Our own user is still served. */
	int fd = peer();
	send_hello(fd, 42);
	send_goodbye(fd, FL_WIRE_END_EXITED, 0, 1);
	close(fd);
	cr_assert_eq(stop(), 0);
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM processes WHERE exe = '/bin/intruder'"), 0);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults"), 0);
	cr_expect_eq(q_int(db, "SELECT count(*) FROM processes WHERE pid = 42"), 1);
	sqlite3_close(db);
}

Test(daemon, a_stale_socket_is_replaced_and_a_live_one_refused)
{
	/* A socket file nobody listens on, as a killed daemon leaves it. */
	char sdir[160];
	snprintf(sdir, sizeof sdir, "%s/s", D.dir);
	cr_assert_eq(mkdir(sdir, 0700), 0);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cr_assert_lt(snprintf(sa.sun_path, sizeof sa.sun_path, "%s", D.sock), (int)sizeof sa.sun_path);
	cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	close(s);
	struct stat st;
	cr_assert_eq(stat(D.sock, &st), 0);
	start(NULL);
	cr_expect_eq(stat(D.sock, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600, "socket mode %o", st.st_mode & 0777);
	int fd = peer();
	send_hello(fd, 1);
	close(fd);

	/* A second daemon on the same socket: refused, and the first goes on. */
	struct daemon second = D;
	snprintf(second.log, sizeof second.log, "%s/log2", D.dir);
	char db2[160];
	snprintf(db2, sizeof db2, "%s/other.db", D.dir);
	cr_expect_eq(start_as(&second, 0, db2, NULL), 1);
	int lf = open(second.log, O_RDONLY);
	char msg[1024] = "";
	ssize_t n = read(lf, msg, sizeof msg - 1);
	close(lf);
	msg[n > 0 ? n : 0] = 0;
	char want[256];
	snprintf(want, sizeof want, "faultlined: another faultlined is listening on %s\n", D.sock);
	cr_expect_str_eq(msg, want);
	fd = peer();
	send_hello(fd, 2);
	send_goodbye(fd, FL_WIRE_END_EXITED, 0, 1);
	close(fd);
	cr_assert_eq(stop(), 0);
	cr_expect_neq(stat(D.sock, &st), 0, "the daemon left its socket behind");
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM processes"), 2);
	sqlite3_close(db);
}

Test(daemon, the_default_socket_directory_must_be_private)
{
	/* XDG_RUNTIME_DIR pointing at a directory others may write. */
	char xdg[160], fl[200];
	snprintf(xdg, sizeof xdg, "%s/xdg", D.dir);
	snprintf(fl, sizeof fl, "%s/faultline", xdg);
	cr_assert_eq(mkdir(xdg, 0700), 0);
	cr_assert_eq(mkdir(fl, 0700), 0);
	cr_assert_eq(chmod(fl, 0777), 0);
	pid_t pid = fork();
	if (pid == 0) {
		int lf = open(D.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(lf, 2);
		setenv("XDG_RUNTIME_DIR", xdg, 1);
		execl(test_bin("faultlined"), "faultlined", "--db", D.db, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
	cr_expect(strstr(read_log(), "refusing the socket directory") != NULL, "%s", read_log());
	/* Private again: it serves there. */
	cr_assert_eq(chmod(fl, 0700), 0);
	cr_assert_lt(snprintf(D.sock, sizeof D.sock, "%s/faultlined.sock", fl), (int)sizeof D.sock);
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		int lf = open(D.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(lf, 2);
		setenv("XDG_RUNTIME_DIR", xdg, 1);
		char fdarg[16];
		snprintf(fdarg, sizeof fdarg, "%d", pfd[1]);
		execl(test_bin("faultlined"), "faultlined", "--db", D.db, "--ready-fd", fdarg, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char buf[8] = "";
	cr_assert_eq(read(pfd[0], buf, sizeof buf), 6, "%s", read_log());
	close(pfd[0]);
	D.pid = pid;
	struct stat sst;
	cr_expect_eq(stat(D.sock, &sst), 0, "not listening on the default path %s", D.sock);
	cr_expect_eq(stop(), 0);
}

/* faultlined as a user who may not write where the database goes. */
static void readonly_case(int make_file)
{
	char rodir[160], sdir[160], db[200];
	snprintf(rodir, sizeof rodir, "%s/ro", D.dir);
	snprintf(sdir, sizeof sdir, "%s/s", D.dir);
	snprintf(db, sizeof db, "%s/f.db", rodir);
	cr_assert_eq(mkdir(rodir, 0755), 0);
	if (make_file) {
		sqlite3 *x;
		cr_assert_eq(sqlite3_open(db, &x), SQLITE_OK);
		sqlite3_exec(x, "CREATE TABLE t(x)", NULL, NULL, NULL);
		sqlite3_close(x);
		chmod(db, 0444);
	}
	uid_t as = 0;
	if (geteuid() == 0) {
		/* root writes anywhere: run the daemon as nobody instead. */
		as = NOBODY;
		cr_assert_eq(chmod(D.dir, 0755), 0);
		cr_assert_eq(mkdir(sdir, 0700), 0);
		cr_assert_eq(chown(sdir, NOBODY, NOBODY), 0);
		int lf = open(D.log, O_WRONLY | O_CREAT, 0666);
		close(lf);
		chmod(D.log, 0666);
	} else {
		cr_assert_eq(chmod(rodir, 0555), 0);
	}
	int rc = start_as(&D, as, db, NULL);
	cr_expect_eq(rc, 1, "faultlined started (or died: %d) with a database it cannot write: %s", rc, read_log());
	char want[256];
	snprintf(want, sizeof want, "faultlined: cannot open database %s: ", db);
	const char *log = read_log();
	cr_expect(strncmp(log, want, strlen(want)) == 0, "expected a line starting '%s', got: %s", want, log);
	cr_expect(strchr(log, '\n') == log + strlen(log) - 1, "expected one line, got: %s", log);
	cr_expect_neq(access(D.sock, F_OK), 0, "the socket was left behind");
}

Test(daemon, a_database_in_a_read_only_directory_is_a_clear_error)
{
	readonly_case(0);
	cr_expect(strstr(read_log(), "not writable") != NULL, "%s", read_log());
}

Test(daemon, a_read_only_database_file_is_a_clear_error)
{
	readonly_case(1);
	cr_expect(strstr(read_log(), "read-only") != NULL, "%s", read_log());
}

Test(daemon, a_full_database_drops_events_and_keeps_serving)
{
	const char *args[] = {"--db-max-size", "1M", NULL};
	start(args);
	int fd = peer();
	send_hello(fd, 600);
	uint64_t pcs[] = {0x10};
	send_stack(fd, 1, pcs, 1);
	/* 1 MiB holds some 20 thousand fault rows; send ten times that. */
	cr_assert_eq(send_faults(fd, 0, 200000, 1, 0), 0, "the daemon hung up on a peer: %s", read_log());
	cr_assert(wait_log("database full", 10000), "no 'database full' error: %s", read_log());
	cr_expect(wait_log("new events are dropped", 100), "%s", read_log());
	/* Still serving: the peer is read on, and a new peer is accepted and read. */
	cr_assert_eq(send_faults(fd, 200000, 50000, 1, 0), 0, "%s", read_log());
	int other = peer();
	send_hello(other, 601);
	cr_assert_eq(send_faults(other, 0, 50000, 0, 0), 0, "%s", read_log());
	send_goodbye(other, FL_WIRE_END_EXITED, 0, 1);
	cr_expect_not(hung_up(other, 300), "%s", read_log());
	cr_expect_not(hung_up(fd, 10), "%s", read_log());
	close(other);
	close(fd);
	cr_assert_eq(stop(), 0, "%s", read_log());
	cr_expect(strstr(read_log(), "could not be stored") != NULL, "%s", read_log());
	struct stat st;
	cr_assert_eq(stat(D.db, &st), 0);
	cr_expect_leq(st.st_size, 1 << 20, "the database grew past its limit: %lld bytes", (long long)st.st_size);
	/* What was stored is whole. */
	sqlite3 *db = db_open();
	cr_expect_str_eq(q_text(db, "PRAGMA integrity_check"), "ok");
	int64_t stored = q_int(db, "SELECT count(*) FROM faults");
	cr_expect_lt(stored, 300000);
	cr_expect_eq(q_int(db, "SELECT coalesce(sum(faults), 0) FROM stack_faults"), stored);
	sqlite3_close(db);
}

Test(daemon, sigterm_stores_everything_sent_before_it)
{
	start(NULL);
	enum { N = 300000 };
	int fd = peer();
	send_hello(fd, 700);
	cr_assert_eq(send_faults(fd, 0, N, 0, 0), 0);
	/* Sent, maybe not yet read: the daemon must read it before it exits. */
	cr_assert_eq(stop(), 0, "%s", read_log());
	close(fd);
	sqlite3 *db = db_open();
	cr_expect_eq(q_int(db, "SELECT count(*) FROM faults"), N);
	cr_expect_eq(q_int(db, "SELECT sum(faults) FROM stack_faults"), N);
	/* Still connected when the daemon stopped: still running. */
	cr_expect_str_eq(q_text(db, "SELECT how FROM processes"), "running");
	sqlite3_close(db);
}

/* ---- symbolization ---- */

__attribute__((noinline)) int fl_test_marker_function(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

struct self_module {
	uint64_t start, end, bias;
	uint8_t build_id[64];
	uint32_t build_id_len;
};

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct self_module *m = arg;
	m->bias = info->dlpi_addr;
	m->start = UINT64_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD) {
			uint64_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
			m->start = lo < m->start ? lo : m->start;
			m->end = hi > m->end ? hi : m->end;
		} else if (ph->p_type == PT_NOTE) {
			const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *e = p + ph->p_memsz;
			while (p + sizeof(ElfW(Nhdr)) <= e) {
				const ElfW(Nhdr) *nh = (const void *)p;
				const uint8_t *name = p + sizeof *nh, *desc = name + ((nh->n_namesz + 3) & ~3u);
				if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && nh->n_descsz <= 64) {
					memcpy(m->build_id, desc, nh->n_descsz);
					m->build_id_len = nh->n_descsz;
				}
				p = desc + ((nh->n_descsz + 3) & ~3u);
			}
		}
	}
	return 1; /* the first object is the program itself */
}

Test(daemon, stack_frames_are_symbolized_off_the_hot_path)
{
	start(NULL);
	struct self_module self = {0};
	dl_iterate_phdr(find_self, &self);
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	cr_assert_gt(n, 0);
	exe[n] = 0;
	int fd = peer();
	send_hello(fd, getpid());
	struct fl_wire_module m = {.t_ns = START_MONO, .start = self.start, .end = self.end, .bias = self.bias,
				   .op = FL_WIRE_MODULE_LOAD, .build_id_len = self.build_id_len};
	put(fd, fl_wire_put_module(wbuf, sizeof wbuf, &m, self.build_id, exe));
	/* The innermost frame inside the marker; an outer one nowhere mapped. */
	uint64_t pcs[] = {(uint64_t)(uintptr_t)&fl_test_marker_function + 4, 0x10};
	send_stack(fd, 1, pcs, 2);
	send_faults(fd, 0, 3, 1, 0);
	cr_expect_eq(wait_int(1, 20000, "SELECT count(*) FROM frames WHERE depth = 0 AND function = 'fl_test_marker_function'"),
		     1, "not symbolized: %s", read_log());
	cr_expect_eq(wait_int(2, 5000, "SELECT symbolized FROM frames WHERE depth = 1"), 2, "a pc outside every module");
	sqlite3 *db = db_open();
	cr_expect(strstr(q_text(db, "SELECT file FROM frames WHERE depth = 0"), "test_daemon.c") != NULL, "file %s",
		  q_text(db, "SELECT file FROM frames WHERE depth = 0"));
	cr_expect_gt(q_int(db, "SELECT line FROM frames WHERE depth = 0"), 0);
	cr_expect_eq(q_int(db, "SELECT module FROM frames WHERE depth = 0"), q_int(db, "SELECT id FROM modules"));
	cr_expect_eq(q_int(db, "SELECT offset FROM frames WHERE depth = 0"), (int64_t)(pcs[0] - self.bias));
	sqlite3_close(db);
	/* A stack defined just before SIGTERM is named before the daemon exits. */
	uint64_t late[] = {(uint64_t)(uintptr_t)&find_self + 8};
	send_stack(fd, 2, late, 1);
	close(fd);
	cr_assert_eq(stop(), 0);
	db = db_open();
	cr_expect_str_eq(q_text(db, "SELECT f.function FROM frames f JOIN stacks s ON s.id = f.stack WHERE s.stack_id = 2"),
			 "find_self");
	sqlite3_close(db);
}
