/*
 * The emitter: the shim's thread that takes the fault log out of the
 * process.  It drains the event rings (events.c), adds what a reader needs
 * to make sense of them (hello, the module map, region snapshots, stack
 * definitions before their first use, a stats sample every 100 ms, drop
 * totals) and writes records to faultlined's socket.  Nothing on the fault
 * path waits for it: while the daemon is slow the rings fill and drop,
 * while there is no daemon events are counted as dropped and the emitter
 * tries again every second.  At exit it sends the rest and a goodbye with
 * the exit status, bounded in time.  Its memory is the shim's own (raw),
 * never the program's heap.
 */
#include "emitter.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "events.h"
#include "faultline/faultline.h"
#include "faultline/wire.h"
#include "log.h"
#include "mem.h"
#include "modules.h"
#include "pager.h"
#include "publish.h"
#include "sys.h"
#include "clock.h"
#include "sigchain.h"

#define OUT_CAP (1u << 20)          /* bytes queued for the socket */
#define OUT_LOW (OUT_CAP - 2 * FL_WIRE_MAX)
#define BATCH ((size_t)FL_WIRE_MAX_FAULTS)
#define MAX_MODULES 512
#define SCRATCH 65536
#define MODULES_NS 1000000000ull     /* dlopen/dlclose: maps read again */
#define RETRY_NS 1000000000ull      /* reconnect attempts */
#define PUBLISH_NS 500000000ull     /* the state file, at most this often */
#define HANDOFF_MAX_AGE 100000000ull/* a stack hand-off nobody took */
#define EXIT_WAIT_NS 3000000000ull  /* the most exit waits for the daemon */

static struct {
	int configured;
	char path[108];
	unsigned stacks_every;
	uint64_t budget;
	int compressor, level;
	pid_t pid;
	int fd;          /* daemon socket, -1 when not connected */
	int wakefd;      /* eventfd: stop requested */
	pthread_t thread;
	int running;     /* the thread exists in this process */
	int start_pending; /* forked child: start when safe */
	int stop;
	int done;
	int32_t exit_status;
	uint32_t exit_how;
	uint8_t *out;
	size_t out_len;
	uint64_t out_events; /* faults in out not yet written */
	uint64_t next_try, next_sample;
	uint64_t sample_ns; /* FAULTLINE_SAMPLE_MS */
	uint64_t next_publish;
	uint64_t start_mono, start_real; /* this process's start, for every hello */
	struct fl_module *fresh;
	uint64_t sent_drops[3];
	struct fl_wire_fault *batch;
	struct fl_wire_region *regs;
	struct fl_module *mods;
	int nmods;
	char *scratch;
	uint64_t next_modules;
	struct fl_wire_alloc *allocs; /* ALLOCS scratch */
	uint64_t alloc_peak;          /* resident + inactive pages at the last new peak */
} M = {.fd = -1, .wakefd = -1};

#define ALLOC_BATCH ((size_t)FL_WIRE_MAX_ALLOCS)

int fl__emitter_owns_fd(int fd)
{
	return fd >= 0 && (fd == M.fd || fd == M.wakefd);
}

/* ---- the output buffer ------------------------------------------------ */

/* Room for the largest record? */
static int out_room(void)
{
	return M.out_len + FL_WIRE_MAX <= OUT_CAP;
}

/* Append a record made by an encoder; 0 when it did not fit. */
#define OUT_PUT(call_with_buf_cap)                                                   \
	({                                                                           \
		size_t _n = 0;                                                       \
		if (M.fd >= 0 && out_room()) {                                       \
			uint8_t *buf = M.out + M.out_len;                            \
			size_t cap = OUT_CAP - M.out_len;                            \
			_n = (call_with_buf_cap);                                    \
			M.out_len += _n;                                             \
		}                                                                    \
		_n;                                                                  \
	})

static void disconnect(const char *why)
{
	if (M.fd < 0)
		return;
	fl__events_set_connected(0);
	fl__sys_close(M.fd);
	M.fd = -1;
	fl__events_count_dropped(M.out_events, 0);
	M.out_len = 0;
	M.out_events = 0;
	FL_INFO("fault log: lost the daemon (%s); events are counted as dropped until it is back", why);
}

/* Write what is queued without blocking; 0, or -1 when the peer is gone. */
static int flush_out(void)
{
	size_t off = 0;
	while (M.fd >= 0 && off < M.out_len) {
		ssize_t n = send(M.fd, M.out + off, M.out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		disconnect(n == 0 ? "closed" : strerror(errno));
		return -1;
	}
	if (off) {
		memmove(M.out, M.out + off, M.out_len - off);
		M.out_len -= off;
		if (M.out_len == 0)
			M.out_events = 0;
	}
	return 0;
}

/* ---- modules ------------------------------------------------------------ */

static void send_module(const struct fl_module *m, uint32_t op)
{
	struct fl_wire_module w = {.t_ns = fl_mono_ns(), .start = m->start, .end = m->end,
				   .bias = m->bias, .op = op, .build_id_len = m->build_id_len};
	if (!OUT_PUT(fl_wire_put_module(buf, cap, &w, m->build_id, m->path)))
		fl__events_count_dropped(0, 1);
}

static int same_module(const struct fl_module *a, const struct fl_module *b)
{
	return a->start == b->start && !strcmp(a->path, b->path);
}

/* Compare the mapped objects with what was sent; send the difference
 * (everything, for a new connection). */
static void sync_modules(int resend_all)
{
	int n = fl__modules_scan(M.fresh, MAX_MODULES, M.mods, M.nmods, M.scratch, SCRATCH);
	if (n < 0)
		return;
	for (int i = 0; i < M.nmods && !resend_all; i++) {
		int still = 0;
		for (int j = 0; j < n && !still; j++)
			still = same_module(&M.fresh[j], &M.mods[i]);
		if (!still)
			send_module(&M.mods[i], FL_WIRE_MODULE_UNLOAD);
	}
	for (int j = 0; j < n; j++) {
		int known = 0;
		for (int i = 0; i < M.nmods && !known && !resend_all; i++)
			known = same_module(&M.fresh[j], &M.mods[i]);
		if (!known)
			send_module(&M.fresh[j], FL_WIRE_MODULE_LOAD);
	}
	memcpy(M.mods, M.fresh, (size_t)n * sizeof M.fresh[0]);
	M.nmods = n;
}

/* ---- connecting --------------------------------------------------------- */

static size_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t n = 0;
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	fl__sys_close(fd);
	return n;
}

static void region_snapshot_one(const struct fl_region_desc *d, void *arg)
{
	(void)arg;
	struct fl_wire_region w = fl__region_wire(d, FL_WIRE_REGION_CREATE, fl_mono_ns());
	if (!OUT_PUT(fl_wire_put(buf, cap, FL_REC_REGION, &w, sizeof w, NULL, 0, NULL, 0)))
		fl__events_count_dropped(0, 1);
}

static void send_hello(void)
{
	static char exe[4096], argv[16384];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[l > 0 ? l : 0] = 0;
	size_t alen = read_file("/proc/self/cmdline", argv, sizeof argv);
	if (alen == sizeof argv) {
		/* Cut at the last whole string. */
		while (alen && argv[alen - 1])
			alen--;
	}
	if (alen && argv[alen - 1])
		argv[alen++ - 1] = 0;
	struct fl_wire_hello h;
	memset(&h, 0, sizeof h);
	h.pid = M.pid;
	h.ppid = getppid();
	/* Every connection of this process says the same start, so that a
	 * reconnection finds the same process in the daemon. */
	h.start_mono_ns = M.start_mono;
	h.start_real_ns = M.start_real;
	h.budget_bytes = M.budget;
	h.page_size = 4096;
	h.engine = (uint32_t)fl_pager_engine();
	h.compressor = (uint32_t)M.compressor;
	h.compressor_level = M.level;
	h.stacks_every = M.stacks_every;
	OUT_PUT(fl_wire_put_hello(buf, cap, &h, exe, argv, alen));
}

static void try_connect(void)
{
	if (!M.path[0])
		return; /* no fault log */
	int fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	fd = fl__sys_highfd(fd);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, M.path, strlen(M.path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		fl__sys_close(fd);
		return;
	}
	/* Only a daemon of this user (or root) gets the program's log. */
	struct ucred cred;
	socklen_t cl = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
	    (cred.uid != getuid() && cred.uid != 0)) {
		FL_WARN("fault log: %s belongs to another user; not connecting", M.path);
		fl__sys_close(fd);
		return;
	}
	M.fd = fd;
	M.out_len = 0;
	M.out_events = 0;
	send_hello();
	sync_modules(1);
	fl__pager_region_snapshot(region_snapshot_one, NULL);
	fl__events_stack_forget_sent();
	fl__alloc_resend_all();
	M.sent_drops[0] = M.sent_drops[1] = M.sent_drops[2] = UINT64_MAX;
	fl__events_set_connected(1);
	FL_INFO("fault log: connected to %s", M.path);
}

/* ---- one turn of work ------------------------------------------------- */

/* Beside each sample, the spill file's counters, once the process has
 * written to one or tried to (a process that never spills sends none). */
static void send_spill(uint64_t now)
{
	struct fl_spill_stats s;
	fl_pager_spill_get(&s);
	if (!s.writes && !s.write_errors)
		return;
	struct fl_wire_spill w = {.t_ns = now, .spilled_pages = s.payloads, .spilled_bytes = s.payload_bytes,
				  .file_bytes = s.file_bytes, .writes = s.writes, .write_errors = s.write_errors,
				  .reads = s.reads, .read_errors = s.read_errors};
	if (!OUT_PUT(fl_wire_put(buf, cap, FL_REC_SPILL, &w, sizeof w, NULL, 0, NULL, 0)))
		fl__events_count_dropped(0, 1);
}

static void send_sample(uint64_t now)
{
	struct fl_stats s;
	if (fl_stats_get(&s) != 0)
		return;
	struct fl_wire_sample w;
	memset(&w, 0, sizeof w);
	w.t_ns = now;
	w.managed_pages = s.managed_pages;
	w.resident_pages = s.resident_pages;
	w.inactive_pages = s.inactive_pages;
	w.compressed_pages = s.compressed_pages;
	w.same_filled_pages = s.same_filled_pages;
	w.compressed_bytes = s.compressed_bytes;
	w.store_bytes = s.store_bytes;
	w.budget_pages = s.budget_pages;
	w.resident_peak_pages = s.resident_peak_pages;
	for (int k = 0; k < FL_FAULT__COUNT; k++)
		w.faults[k] = s.faults[k];
	w.fault_ns_total = s.fault_ns_total;
	w.pages_evicted = s.pages_evicted;
	w.pressure = (uint32_t)s.pressure;
	w.regions = (uint32_t)s.regions;
	/* A new peak: the allocation sites' bytes at it (the report's "at the
	 * peak resident sample" is this sample). */
	if (M.allocs && s.resident_pages + s.inactive_pages > M.alloc_peak) {
		M.alloc_peak = s.resident_pages + s.inactive_pages;
		fl__alloc_peak(now);
	}
	if (!OUT_PUT(fl_wire_put(buf, cap, FL_REC_SAMPLE, &w, sizeof w, NULL, 0, NULL, 0)))
		fl__events_count_dropped(0, 1);
	send_spill(now);
}

static void send_drops(uint64_t now, int force)
{
	uint64_t d[3];
	fl__events_drops(&d[0], &d[1], &d[2]);
	if (!force && !memcmp(d, M.sent_drops, sizeof d))
		return;
	struct fl_wire_drops w = {.t_ns = now, .events = d[0], .stacks = d[1], .other = d[2]};
	if (OUT_PUT(fl_wire_put(buf, cap, FL_REC_DROPS, &w, sizeof w, NULL, 0, NULL, 0)))
		memcpy(M.sent_drops, d, sizeof d);
}

/* A record about to name stack *id: define the stack first (once per
 * connection), or name none (0) rather than one never defined. */
static void define_stack(uint32_t *id)
{
	if (!*id || fl__events_stack_sent(*id))
		return;
	uint64_t pcs[FL_EVENTS_MAX_FRAMES];
	unsigned nf = fl__events_stack(*id, pcs);
	if (nf && OUT_PUT(fl_wire_put_stack(buf, cap, *id, pcs, nf)))
		fl__events_stack_set_sent(*id);
	else
		*id = 0;
}

/* Queue one batch of faults, their new stacks first.  Returns how many. */
static size_t send_faults(void)
{
	if (M.fd >= 0 && M.out_len > OUT_LOW)
		return 0; /* the daemon is behind: let the rings hold (and drop) */
	size_t n = fl__events_take_faults(M.batch, BATCH);
	if (!n)
		return 0;
	/* Each fault to the sampled allocation its page is in, connected or not. */
	fl__alloc_charge(M.batch, n);
	if (M.fd < 0) {
		fl__events_count_dropped(n, 0);
		return n;
	}
	for (size_t i = 0; i < n; i++)
		define_stack(&M.batch[i].stack);
	if (OUT_PUT(fl_wire_put_faults(buf, cap, M.batch, (uint32_t)n)))
		M.out_events += n;
	else
		fl__events_count_dropped(n, 0);
	return n;
}

/* The sampled allocations with news, their new stacks first. */
static void send_allocs(void)
{
	if (!M.allocs)
		return;
	int retire = !fl__events_pending();
	size_t n;
	for (;;) {
		/* A socket that is behind leaves them dirty, to go at a later
		 * turn: taken, they would be sent now or never. */
		if (M.fd >= 0 && !out_room() && (flush_out() != 0 || !out_room()))
			break;
		if ((n = fl__alloc_take(M.allocs, ALLOC_BATCH, retire)) == 0)
			break;
		if (M.fd < 0) {
			fl__events_count_dropped(0, 1);
			continue; /* resent whole at the next connection */
		}
		for (size_t i = 0; i < n; i++)
			define_stack(&M.allocs[i].stack);
		if (!OUT_PUT(fl_wire_put_allocs(buf, cap, M.allocs, (uint32_t)n)))
			fl__events_count_dropped(0, 1);
		if (n < ALLOC_BATCH)
			break;
	}
}

static void send_regions(void)
{
	size_t n;
	while ((n = fl__events_take_regions(M.regs, 256)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (M.fd < 0 ||
			    !OUT_PUT(fl_wire_put(buf, cap, FL_REC_REGION, &M.regs[i], sizeof M.regs[i], NULL,
						 0, NULL, 0)))
				fl__events_count_dropped(0, 1);
		}
	}
}

static void pump(uint64_t now, int final)
{
	if (M.fd < 0 && (now >= M.next_try || final)) {
		M.next_try = now + RETRY_NS;
		try_connect();
	}
	fl__events_expire_handoffs(now, final ? 0 : HANDOFF_MAX_AGE);
	/* Regions before the faults that may name them. */
	send_regions();
	while (send_faults() == BATCH)
		if (flush_out() != 0 || M.out_len > OUT_LOW)
			break;
	if (now >= M.next_sample || final) {
		M.next_sample = now + M.sample_ns;
		if (M.fd >= 0)
			send_sample(now);
		fl__events_reap_rings();
	}
	/* After the sample: a new peak's bytes go with it. */
	send_allocs();
	/* The state file scans every page: twice a second at most. */
	if (now >= M.next_publish && !final) {
		M.next_publish = now + (M.sample_ns > PUBLISH_NS ? M.sample_ns : PUBLISH_NS);
		fl__publish();
	}
	if (M.fd >= 0 && (now >= M.next_modules || final)) {
		M.next_modules = now + MODULES_NS;
		sync_modules(0);
	}
	if (M.fd >= 0)
		send_drops(now, final);
	flush_out();
}

static void *emitter_main(void *arg)
{
	(void)arg;
	fl__events_own_thread((uintptr_t)emitter_main);
	for (;;) {
		uint64_t now = fl_mono_ns();
		int stop = __atomic_load_n(&M.stop, __ATOMIC_ACQUIRE);
		pump(now, 0);
		if (stop)
			break;
		struct pollfd pfd[2] = {{.fd = M.wakefd, .events = POLLIN},
					{.fd = M.fd, .events = M.out_len ? POLLOUT : 0}};
		poll(pfd, M.fd >= 0 ? 2 : 1, 10);
		if (pfd[0].revents & POLLIN) {
			uint64_t v;
			if (read(M.wakefd, &v, sizeof v) < 0) {
				/* nothing to do: the flag is what counts */
			}
		}
	}
	return NULL;
}

/* Everything left, then goodbye; waits for the socket up to a deadline. */
static void finish(void)
{
	uint64_t deadline = fl_mono_ns() + EXIT_WAIT_NS;
	/* Drain the rings: a batch per turn while the socket takes them. */
	for (;;) {
		pump(fl_mono_ns(), 1);
		if (M.fd < 0 || fl_mono_ns() > deadline)
			break;
		if (M.out_len == 0 && !fl__events_pending())
			break;
		struct pollfd p = {.fd = M.fd, .events = POLLOUT};
		/* Nothing to write: the handler is recording a fault. */
		poll(&p, M.out_len ? 1 : 0, M.out_len ? 50 : 1);
	}
	if (M.fd < 0)
		return; /* whatever was queued is counted as dropped */
	{
		send_drops(fl_mono_ns(), 1);
		struct fl_wire_goodbye g = {.t_ns = fl_mono_ns(), .status = M.exit_status, .how = M.exit_how};
		OUT_PUT(fl_wire_put(buf, cap, FL_REC_GOODBYE, &g, sizeof g, NULL, 0, NULL, 0));
	}
	while (M.fd >= 0 && M.out_len && fl_mono_ns() < deadline) {
		struct pollfd p = {.fd = M.fd, .events = POLLOUT};
		poll(&p, 1, 50);
		flush_out();
	}
	if (M.fd >= 0) {
		fl__events_set_connected(0);
		fl__sys_close(M.fd);
		M.fd = -1;
	}
}

/* ---- life cycle --------------------------------------------------------- */

/* $XDG_RUNTIME_DIR from envp (no getenv before the program is ready). */
static const char *xdg_runtime_dir(char *const *envp)
{
	for (char *const *e = envp; e && *e; e++)
		if (!strncmp(*e, "XDG_RUNTIME_DIR=", 16))
			return *e + 16;
	return NULL;
}

static int start_thread(void)
{
	int rc = fl__sigchain_start_thread(&M.thread, emitter_main, NULL);
	if (rc != 0) {
		FL_WARN("cannot start the fault log's emitter thread: %s", strerror(rc));
		return -1;
	}
	M.running = 1;
	return 0;
}

int fl__emitter_prepare(const struct fl_settings *st, char *const *envp)
{
	/* FAULTLINE_SOCKET=none: no fault log, but the state file for
	 * viewers is still kept (by the same thread). */
	int log = strcmp(st->socket_path, "none") != 0;
	if (!log)
		M.path[0] = 0;
	else if (st->socket_path[0])
		snprintf(M.path, sizeof M.path, "%s", st->socket_path);
	else
		if (fl_wire_default_socket(M.path, sizeof M.path, xdg_runtime_dir(envp), (unsigned)getuid()) != 0)
			M.path[0] = 0; /* too long for a socket: no fault log */
	M.stacks_every = st->stacks_every;
	M.sample_ns = (uint64_t)(st->sample_ms ? st->sample_ms : 100) * 1000000ull;
	M.budget = st->pager.budget_bytes;
	M.compressor = st->pager.compressor == FL_COMP_ZSTD;
	M.level = st->pager.compressor_level;
	M.pid = (pid_t)syscall(SYS_getpid);
	M.out = fl__mem_alloc(OUT_CAP);
	M.batch = fl__mem_alloc(BATCH * sizeof(struct fl_wire_fault));
	M.regs = fl__mem_alloc(256 * sizeof(struct fl_wire_region));
	M.mods = fl__mem_alloc(MAX_MODULES * sizeof(struct fl_module));
	M.fresh = fl__mem_alloc(MAX_MODULES * sizeof(struct fl_module));
	M.scratch = fl__mem_alloc(SCRATCH);
	M.start_mono = fl_mono_ns();
	M.start_real = fl_real_ns();
	if (!M.out || !M.batch || !M.regs || !M.mods || !M.fresh || !M.scratch)
		return -1;
	if (log && fl__events_init(st->stacks_every) != 0)
		return -1;
	/* Allocation sites go to the fault log, or nowhere. */
	if (log && st->alloc_sample) {
		M.allocs = fl__mem_alloc(ALLOC_BATCH * sizeof(struct fl_wire_alloc));
		if (!M.allocs || fl__alloc_init(st->alloc_sample) != 0)
			M.allocs = NULL;
	}
	fl__publish_open(st->sample_ms, M.start_real);
	M.wakefd = fl__sys_highfd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (M.wakefd < 0)
		return -1;
	M.configured = 1;
	return 0;
}

int fl__emitter_start(void)
{
	if (!M.configured)
		return -1;
	/* Connect now, on this thread: the program's first faults then go
	 * to the daemon instead of being counted as dropped while the
	 * emitter thread starts. */
	M.next_try = fl_mono_ns() + RETRY_NS;
	try_connect();
	flush_out();
	return start_thread();
}

void fl__emitter_fork_child(void)
{
	if (!M.configured)
		return;
	fl__events_fork_child();
	/* The parent's connection is the parent's: drop our copy unsent. */
	if (M.fd >= 0)
		fl__sys_close(M.fd);
	M.fd = -1;
	M.out_len = 0;
	M.out_events = 0;
	M.pid = (pid_t)syscall(SYS_getpid);
	M.running = 0;
	M.stop = M.done = 0;
	M.next_try = 0;
	M.nmods = 0;
	M.next_publish = 0;
	M.alloc_peak = 0;
	M.start_mono = fl_mono_ns();
	M.start_real = fl_real_ns();
	fl__publish_fork_child(M.start_real);
	__atomic_store_n(&M.start_pending, 1, __ATOMIC_RELEASE);
}

void fl__emitter_ensure(void)
{
	int one = 1;
	if (!__atomic_load_n(&M.start_pending, __ATOMIC_ACQUIRE) ||
	    !__atomic_compare_exchange_n(&M.start_pending, &one, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return;
	start_thread();
}

void fl__emitter_exit(int status, int how)
{
	if (!M.configured || (pid_t)syscall(SYS_getpid) != M.pid)
		return; /* not set up, or a vfork child sharing our memory */
	if (__atomic_exchange_n(&M.done, 1, __ATOMIC_ACQ_REL))
		return;
	M.exit_status = status;
	M.exit_how = (uint32_t)how;
	if (M.running) {
		__atomic_store_n(&M.stop, 1, __ATOMIC_RELEASE);
		uint64_t one = 1;
		if (write(M.wakefd, &one, sizeof one) < 0) {
			/* the thread polls every 10 ms anyway */
		}
		pthread_join(M.thread, NULL);
		fl__events_own_thread_gone((uintptr_t)emitter_main);
		M.running = 0;
	}
	/* The rest, on this thread (the emitter has stopped consuming). */
	finish();
	fl__publish_close();
}
