/*
 * ingest: how fast faultlined stores fault events.  Starts the daemon on a
 * temporary socket and database, then C connections (threads) send E
 * fault events in all, in FAULTS records as large as the protocol allows,
 * after a realistic preamble (HELLO, the program's modules, regions, and
 * S stacks of 6-28 frames per connection; faults pick stacks with a
 * skewed law, as a real program's hot paths do).  Every byte is encoded
 * before the clock starts.  The clock runs from the first send until the
 * database holds every row (polled with a read-only connection: max(id)
 * of faults, whose ids are consecutive); then the daemon gets SIGTERM and
 * the rows are counted.
 *
 * Beside it, the baseline: the same rows inserted by one thread into the
 * same schema (copied from the daemon's database) with one prepared
 * single-row INSERT and a commit every 250k rows, as a program writing
 * SQLite directly would.
 *
 * --faults-indexes adds the three per-row indexes on faults that the
 * daemon leaves out (process+time, process+stack, process+kind) before
 * sending, to measure what they would cost.
 *
 * Prints events/s against the 1M/s target and against the baseline.
 * Exits nonzero only when the daemon cannot run or rows go missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/faultline.h"
#include "faultline/wire.h"

#define TARGET 1000000.0
#define START_REAL 1700000000000000000ull
#define START_MONO 1000000000ull

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One connection's whole stream, encoded in advance. */
struct stream {
	uint8_t *buf;
	size_t len, cap;
	int fd;
	int failed;
	uint64_t events;
};

static void *grow(struct stream *s, size_t more)
{
	if (s->len + more > s->cap) {
		s->cap = (s->len + more) * 2;
		s->buf = realloc(s->buf, s->cap);
		if (!s->buf) {
			fprintf(stderr, "ingest: out of memory\n");
			exit(2);
		}
	}
	return s->buf + s->len;
}

static void emit(struct stream *s, size_t n)
{
	if (!n) {
		fprintf(stderr, "ingest: a record did not encode\n");
		exit(2);
	}
	s->len += n;
}

static void build(struct stream *s, int conn, uint64_t events, unsigned nstacks)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(conn + 1);
	struct fl_wire_hello h = {.pid = 100000 + conn, .ppid = 1, .start_real_ns = START_REAL,
				  .start_mono_ns = START_MONO, .budget_bytes = 256ull << 20, .page_size = 4096,
				  .engine = FL_ENGINE_UFFD, .stacks_every = 1};
	static const char argv[] = "python3\0train.py\0--epochs\0003";
	emit(s, fl_wire_put_hello(grow(s, FL_WIRE_MAX), FL_WIRE_MAX, &h, "/usr/bin/python3.11", argv, sizeof argv));
	/* The program and a few libraries. */
	static const char *const libs[] = {"/usr/bin/python3.11", "/usr/lib/x86_64-linux-gnu/libc.so.6",
					   "/usr/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libz.so.1"};
	uint64_t base[4];
	for (int i = 0; i < 4; i++) {
		base[i] = (i ? 0x7f0000000000ull + (uint64_t)i * 0x10000000 : 0x555555554000ull);
		struct fl_wire_module m = {.t_ns = START_MONO, .start = base[i], .end = base[i] + 0x400000,
					   .bias = base[i], .op = FL_WIRE_MODULE_LOAD, .build_id_len = 20};
		uint8_t bid[20];
		for (int k = 0; k < 20; k++)
			bid[k] = (uint8_t)rng(&seed);
		emit(s, fl_wire_put_module(grow(s, FL_WIRE_MAX), FL_WIRE_MAX, &m, bid, libs[i]));
	}
	enum { REGIONS = 16 };
	for (int r = 0; r < REGIONS; r++) {
		struct fl_wire_region reg = {.t_ns = START_MONO + 1, .id = (uint64_t)r + 1,
					     .start = 0x7e0000000000ull + (uint64_t)r * (64ull << 20),
					     .len = 64ull << 20, .op = FL_WIRE_REGION_CREATE, .prot = 3,
					     .kind = r ? FL_RANGE_ALLOCATOR : FL_RANGE_PROGRAM};
		emit(s, fl_wire_put(grow(s, 64), 64, FL_REC_REGION, &reg, sizeof reg, NULL, 0, NULL, 0));
	}
	for (unsigned id = 1; id <= nstacks; id++) {
		uint64_t pcs[32];
		uint32_t n = 6 + (uint32_t)(rng(&seed) % 23);
		for (uint32_t k = 0; k < n; k++) {
			/* Inner frames in libraries, outer ones in the program. */
			int mod = k < n / 3 ? 1 + (int)(rng(&seed) % 3) : 0;
			pcs[k] = base[mod] + 0x1000 + rng(&seed) % 0x3f0000;
		}
		emit(s, fl_wire_put_stack(grow(s, FL_WIRE_MAX), FL_WIRE_MAX, id, pcs, n));
	}
	static struct fl_wire_fault f[FL_WIRE_MAX_FAULTS];
	uint64_t t = START_MONO + 1000;
	for (uint64_t done = 0; done < events;) {
		uint32_t k = (uint32_t)(events - done < FL_WIRE_MAX_FAULTS ? events - done : FL_WIRE_MAX_FAULTS);
		for (uint32_t i = 0; i < k; i++) {
			uint64_t x = rng(&seed);
			/* Skewed: the smaller of two uniform picks, twice. */
			unsigned a = (unsigned)(x % nstacks), b = (unsigned)((x >> 20) % nstacks);
			unsigned c = (unsigned)((x >> 40) % nstacks), st = a < b ? a : b;
			st = st < c ? st : c;
			uint32_t kind = (x >> 8) % 10 < 6 ? FL_FAULT_FIRST_TOUCH : (uint32_t)((x >> 12) % FL_FAULT__COUNT);
			t += 200 + (x & 1023);
			uint64_t region = 1 + (x >> 50) % REGIONS;
			f[i] = (struct fl_wire_fault){.t_ns = t, .addr = 0x7e0000000000ull + (region - 1) * (64ull << 20) +
									 ((x >> 4) & 0x3fff000),
						      .region = region, .tid = 1000 + (uint32_t)(x >> 60),
						      .stack = st + 1, .latency_ns = 2000 + (uint32_t)((x >> 30) & 0xffff),
						      .pages = (uint16_t)(kind == FL_FAULT_FIRST_TOUCH ? 1 + (x >> 24) % 64 : 1),
						      .kind = (uint8_t)kind, .flags = (uint8_t)((x >> 3) & 1)};
		}
		emit(s, fl_wire_put_faults(grow(s, FL_WIRE_MAX), FL_WIRE_MAX, f, k));
		done += k;
	}
	struct fl_wire_goodbye g = {.t_ns = t + 1, .status = 0, .how = FL_WIRE_END_EXITED};
	emit(s, fl_wire_put(grow(s, 64), 64, FL_REC_GOODBYE, &g, sizeof g, NULL, 0, NULL, 0));
	s->events = events;
}

static void *sender(void *arg)
{
	struct stream *s = arg;
	for (size_t off = 0; off < s->len;) {
		ssize_t n = send(s->fd, s->buf + off, s->len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->failed = errno ? errno : EPIPE;
			break;
		}
		off += (size_t)n;
	}
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int64_t q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The baseline: the same fault rows, one thread, plain prepared inserts. */
static double raw_sqlite(const char *daemon_db, const char *path, struct stream *streams, int conns)
{
	sqlite3 *src, *db;
	if (sqlite3_open_v2(daemon_db, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536", NULL, NULL, NULL);
	sqlite3_stmt *st;
	sqlite3_prepare_v2(src, "SELECT sql FROM sqlite_master WHERE sql NOT NULL AND name NOT LIKE 'sqlite_%'", -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW)
		sqlite3_exec(db, (const char *)sqlite3_column_text(st, 0), NULL, NULL, NULL);
	sqlite3_finalize(st);
	sqlite3_close(src);
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO faults(process, t_ns, tid, addr, region, kind, pages, latency_ns, write, stack)"
			       " VALUES(?,?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "ingest: baseline: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	double t0 = now_s();
	uint64_t rows = 0;
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (int c = 0; c < conns; c++) {
		const uint8_t *p = streams[c].buf, *e = p + streams[c].len;
		while (p < e) {
			struct fl_wire_rec r;
			long n = fl_wire_decode(p, (size_t)(e - p), &r, NULL, 0);
			if (n <= 0)
				break;
			for (uint32_t i = 0; r.type == FL_REC_FAULTS && i < r.nitems; i++) {
				struct fl_wire_fault f;
				fl_wire_fault_at(&r, i, &f);
				sqlite3_bind_int64(st, 1, c + 1);
				sqlite3_bind_int64(st, 2, (int64_t)(START_REAL + f.t_ns - START_MONO));
				sqlite3_bind_int64(st, 3, f.tid);
				sqlite3_bind_int64(st, 4, (int64_t)f.addr);
				sqlite3_bind_int64(st, 5, (int64_t)f.region);
				sqlite3_bind_int64(st, 6, f.kind);
				sqlite3_bind_int64(st, 7, f.pages);
				sqlite3_bind_int64(st, 8, f.latency_ns);
				sqlite3_bind_int64(st, 9, f.flags & 1);
				sqlite3_bind_int64(st, 10, f.stack);
				sqlite3_step(st);
				sqlite3_reset(st);
				if (++rows % 250000 == 0) {
					sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
					sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
				}
			}
			p += n;
		}
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	double t = now_s() - t0;
	sqlite3_finalize(st);
	int64_t stored = q_int(db, "SELECT count(*) FROM faults");
	sqlite3_close(db);
	if ((uint64_t)stored != rows)
		fprintf(stderr, "ingest: baseline stored %lld of %llu rows\n", (long long)stored, (unsigned long long)rows);
	return (double)rows / t;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ingest [--events N] [--conns C] [--stacks S] [--daemon PATH] [--no-baseline] [--faults-indexes]\n"
		   "  --events N   fault events in all (default 5000000)\n"
		   "  --conns C    connections sending at once (default 4)\n"
		   "  --stacks S   distinct stacks per connection (default 2000)\n"
		   "  --daemon P   the faultlined to run (default $FL_BIN_DIR/faultlined, or build/bin/faultlined)\n"
		   "  --faults-indexes  index faults by (process, t_ns), (process, stack), (process, kind) first\n");
}

int main(int argc, char **argv)
{
	uint64_t events = 5000000;
	int conns = 4, baseline = 1, indexes = 0;
	unsigned nstacks = 2000;
	char daemon[4096];
	const char *bindir = getenv("FL_BIN_DIR");
	snprintf(daemon, sizeof daemon, "%s/faultlined", bindir && *bindir ? bindir : "build/bin");
	static const struct option lo[] = {{"events", 1, NULL, 'e'}, {"conns", 1, NULL, 'c'}, {"stacks", 1, NULL, 's'},
					   {"daemon", 1, NULL, 'd'}, {"no-baseline", 0, NULL, 'n'}, {"faults-indexes", 0, NULL, 'i'},
					   {"help", 0, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'e': events = strtoull(optarg, NULL, 10); break;
		case 'c': conns = atoi(optarg); break;
		case 's': nstacks = (unsigned)atoi(optarg); break;
		case 'd': snprintf(daemon, sizeof daemon, "%s", optarg); break;
		case 'n': baseline = 0; break;
		case 'i': indexes = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (conns < 1 || conns > 256 || events < (uint64_t)conns || nstacks < 1 || nstacks > 1000000) {
		usage(stderr);
		return 2;
	}
	if (access(daemon, X_OK) != 0) {
		fprintf(stderr, "ingest: %s: %s (run make first)\n", daemon, strerror(errno));
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	char dir[] = "/tmp/fl-ingest-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	char sock[256], db[256], rawdb[256], log[256];
	snprintf(sock, sizeof sock, "%s/s.sock", dir);
	snprintf(db, sizeof db, "%s/f.db", dir);
	snprintf(rawdb, sizeof rawdb, "%s/raw.db", dir);
	snprintf(log, sizeof log, "%s/log", dir);

	struct stream *streams = calloc((size_t)conns, sizeof *streams);
	uint64_t bytes = 0;
	for (int c = 0; c < conns; c++) {
		build(&streams[c], c, events / (uint64_t)conns + ((uint64_t)c < events % (uint64_t)conns), nstacks);
		bytes += streams[c].len;
	}

	int pfd[2];
	if (pipe(pfd) != 0)
		return 2;
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(lf, 2);
		char fdarg[16];
		snprintf(fdarg, sizeof fdarg, "%d", pfd[1]);
		execl(daemon, "faultlined", "--socket", sock, "--db", db, "--ready-fd", fdarg, "--log", "warn", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char ready[8] = "";
	struct pollfd p = {.fd = pfd[0], .events = POLLIN};
	if (poll(&p, 1, 30000) <= 0 || read(pfd[0], ready, sizeof ready) != 6) {
		fprintf(stderr, "ingest: faultlined did not start (log in %s)\n", log);
		kill(pid, SIGKILL);
		return 1;
	}
	close(pfd[0]);

	if (indexes) {
		sqlite3 *w;
		char *msg = NULL;
		if (sqlite3_open(db, &w) != SQLITE_OK ||
		    sqlite3_exec(w, "CREATE INDEX faults_time ON faults(process, t_ns);"
				    "CREATE INDEX faults_stack ON faults(process, stack);"
				    "CREATE INDEX faults_kind ON faults(process, kind);",
				 NULL, NULL, &msg) != SQLITE_OK) {
			fprintf(stderr, "ingest: creating the indexes: %s\n", msg ? msg : sqlite3_errmsg(w));
			kill(pid, SIGKILL);
			return 1;
		}
		sqlite3_close(w);
	}
	printf("ingest: %llu fault events over %d connections (%u stacks of 6-28 frames each), "
	       "FAULTS records of up to %u, %.0f MiB on the wire\n",
	       (unsigned long long)events, conns, nstacks, FL_WIRE_MAX_FAULTS, (double)bytes / (1 << 20));
	for (int c = 0; c < conns; c++) {
		streams[c].fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		if (snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock) >= (int)sizeof sa.sun_path)
			return 2;
		if (connect(streams[c].fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
			perror("connect");
			kill(pid, SIGKILL);
			return 1;
		}
	}
	sqlite3 *rd;
	if (sqlite3_open_v2(db, &rd, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return 1;
	sqlite3_busy_timeout(rd, 1000);

	pthread_t th[256];
	double t0 = now_s();
	for (int c = 0; c < conns; c++)
		pthread_create(&th[c], NULL, sender, &streams[c]);
	double t_sent = 0, t_stored = 0;
	int joined = 0;
	char done[256] = {0};
	for (;;) {
		usleep(20000);
		if (!joined) {
			int all = 1;
			for (int c = 0; c < conns; c++) {
				if (!done[c] && pthread_tryjoin_np(th[c], NULL) == 0)
					done[c] = 1;
				all &= done[c];
			}
			if (all) {
				joined = 1;
				t_sent = now_s() - t0;
			}
		}
		int64_t max = q_int(rd, "SELECT max(id) FROM faults");
		if (max >= (int64_t)events) {
			t_stored = now_s() - t0;
			break;
		}
		if (now_s() - t0 > 600) {
			fprintf(stderr, "ingest: only %lld of %llu rows after 600 s\n", (long long)max, (unsigned long long)events);
			break;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "ingest: faultlined exited (status %d); log in %s\n", st, log);
			return 1;
		}
	}
	for (int c = 0; c < conns; c++)
		if (!done[c])
			pthread_join(th[c], NULL);
	for (int c = 0; c < conns; c++) {
		if (streams[c].failed)
			fprintf(stderr, "ingest: connection %d: send failed: %s\n", c, strerror(streams[c].failed));
		close(streams[c].fd);
	}
	double t_term = now_s();
	kill(pid, SIGTERM);
	int st;
	struct rusage ru;
	wait4(pid, &st, 0, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
		     (double)ru.ru_stime.tv_usec * 1e-6;
	t_term = now_s() - t_term;
	int64_t count = q_int(rd, "SELECT count(*) FROM faults");
	int64_t agg = q_int(rd, "SELECT sum(faults) FROM stack_faults");
	sqlite3_close(rd);
	int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && count == (int64_t)events && agg == (int64_t)events;

	double rate = t_stored > 0 ? (double)events / t_stored : 0;
	printf("\n%-34s %12s %9s %8s\n", "", "events/s", "seconds", "target");
	printf("%-34s %12.0f %9.2f %7.2fx   (>= 1M/s; send %.2f s, then until committed)\n",
	       indexes ? "faultlined, faults with 3 indexes" : "faultlined (socket -> SQLite)", rate, t_stored, rate / TARGET, t_sent);
	if (baseline) {
		double raw = raw_sqlite(db, rawdb, streams, conns);
		printf("%-34s %12.0f %9.2f %7.2fx\n", "raw SQLite, 1 thread, 1 row/INSERT", raw, (double)events / raw,
		       raw / TARGET);
		printf("faultlined / raw SQLite: %.2fx\n", rate / raw);
	}
	printf("faultlined used %.2f s of CPU (all threads): %.2f us per event, %.0f events per CPU-second\n", cpu,
	       cpu * 1e6 / (double)events, (double)events / cpu);
	printf("rows stored %lld of %llu, stack_faults total %lld; SIGTERM to exit %.2f s; faultlined exit status %d\n",
	       (long long)count, (unsigned long long)events, (long long)agg, t_term,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	struct stat dbst;
	if (stat(db, &dbst) == 0)
		printf("database %.0f MiB (%.1f bytes per fault)\n", (double)dbst.st_size / (1 << 20),
		       (double)dbst.st_size / (double)events);
	if (!ok)
		fprintf(stderr, "ingest: rows missing or daemon failed; log in %s\n", log);
	else
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (int c = 0; c < conns; c++)
		free(streams[c].buf);
	free(streams);
	return ok ? 0 : 1;
}
