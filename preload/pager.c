/*
 * The pager: one per process, managing anonymous memory on top of one
 * engine (engine.h) and the compressed store (store.h).  This file holds
 * its global state and its life cycle: the configuration, the engine's
 * choice at start (userfaultfd, then the signal engine, then none), the
 * lock discipline of API calls, and shutdown.  What it does between start
 * and stop is in the files pager_int.h lists.
 */
#include "pager.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "pager_int.h"

#define PS FL_PAGE_SIZE
#define MIN_BUDGET_PAGES 32u

struct fl_pager fl__pager = {.lock = FL_LOCK_INIT};

void fl_pager_config_default(struct fl_pager_config *cfg)
{
	struct fl_settings st;
	fl_settings_default(&st);
	*cfg = st.pager;
}

/* The largest power of two not above v (v > 0). */
static unsigned floor_pow2(unsigned v)
{
	while (v & (v - 1))
		v &= v - 1;
	return v;
}

static int try_engine(const struct fl_engine *e, size_t stash, char *err, size_t errlen)
{
	memset(&P.caps, 0, sizeof P.caps);
	if (e->start(stash, &P.caps, err, errlen) != 0)
		return -1;
	P.eng = e;
	P.kind = e->kind;
	if (e->kind == FL_ENGINE_UFFD && !P.caps.kernel_faults)
		P.kind = FL_ENGINE_UFFD_USER;
	return 0;
}

/*
 * The spill file's directory: FAULTLINE_SPILL, else $XDG_RUNTIME_DIR, else
 * $TMPDIR, else /tmp; "off": none.  A directory that cannot be opened is
 * said once; pages then stay in memory as without a spill file.
 */
static void setup_spill(void)
{
	const char *dir = P.cfg.spill_dir;
	if (!strcmp(dir, "off"))
		return;
	if (!dir[0])
		dir = getenv("XDG_RUNTIME_DIR");
	if (!dir || !dir[0])
		dir = getenv("TMPDIR");
	if (!dir || !dir[0])
		dir = "/tmp";
	int fd = (int)syscall(SYS_openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		FL_WARN("no spill file: cannot open the directory %s (%s); pages the store cannot hold "
			"stay in memory", dir, strerror(errno));
		return;
	}
	syscall(SYS_close, fd);
	if (fl_store_spill_setup(P.store, dir, P.cfg.spill_max ? P.cfg.spill_max : 4ull << 30) != 0)
		FL_WARN("no spill file: out of memory for its tables");
}

static void setup_budget(void)
{
	uint64_t b = P.cfg.budget_bytes / PS;
	if (P.cfg.budget_bytes && b < MIN_BUDGET_PAGES) {
		FL_WARN("budget of %llu bytes is below the minimum; using %u pages",
			(unsigned long long)P.cfg.budget_bytes, MIN_BUDGET_PAGES);
		b = MIN_BUDGET_PAGES;
	}
	P.budget = b;
	P.low_free = b / 32 > 8 ? b / 32 : 8;
	P.high_free = b / 16 > 16 ? b / 16 : 16;
	if (P.high_free >= b / 2)
		P.high_free = b / 4;
	if (P.low_free >= P.high_free)
		P.low_free = P.high_free / 2;
	P.inactive_target = b / 8 > 16 ? b / 8 : 16;
	if (P.inactive_target > b / 2)
		P.inactive_target = b / 2;
}

static int pager_init(const struct fl_pager_config *cfg, char *err, size_t errlen);

int fl_pager_init(const struct fl_pager_config *cfg, char *err, size_t errlen)
{
	fl__in_shim++;
	int rc = pager_init(cfg, err, errlen);
	fl__in_shim--;
	return rc;
}

static int pager_init(const struct fl_pager_config *cfg, char *err, size_t errlen)
{
	char ebuf[256] = "";
	if (P.running) {
		snprintf(err, errlen, "pager already running");
		return -1;
	}
	/* Not opened yet (zero is a descriptor the program owns); one from
	 * an earlier start in this process is kept. */
	if (P.pagemap_fd <= 0)
		P.pagemap_fd = -1;
	fl__cow_reset();
	if (cfg)
		P.cfg = *cfg;
	else
		fl_pager_config_default(&P.cfg);
	fl__log_level = P.cfg.log_level;
	/* A zero window (a config not from fl_pager_config_default) is the default one. */
	struct fl_pager_config dflt;
	fl_pager_config_default(&dflt);
	if (P.cfg.fault_around_max == 0)
		P.cfg.fault_around_max = dflt.fault_around_max;
	if (P.cfg.readahead_max == 0)
		P.cfg.readahead_max = dflt.readahead_max;
	if (P.cfg.cluster_pages == 0)
		P.cfg.cluster_pages = dflt.cluster_pages;
	/* Windows must be powers of two for the aligned blocks. */
	P.cfg.fault_around_max = floor_pow2(P.cfg.fault_around_max);
	P.cfg.cluster_pages = floor_pow2(P.cfg.cluster_pages);
	setup_budget();

	P.pool = fl__mem_alloc(MAX_REGIONS * sizeof *P.pool);
	P.sorted = fl__mem_alloc(MAX_REGIONS * sizeof *P.sorted);
	P.free_ids = fl__mem_alloc(MAX_REGIONS * sizeof *P.free_ids);
	P.bounce_pages = P.cfg.readahead_max > P.cfg.cluster_pages ? P.cfg.readahead_max
								     : P.cfg.cluster_pages;
	P.bounce = fl__mem_alloc(P.bounce_pages * PS);
	P.scratch = fl__mem_alloc((EVICT_BATCH + 1) * PS);
	P.inq.cap = (P.budget ? P.budget : 1024) * 2 + 64;
	P.inq.e = fl__mem_alloc(P.inq.cap * sizeof *P.inq.e);
	P.cq.cap = 1u << 16;
	P.cq.e = fl__mem_alloc(P.cq.cap * sizeof *P.cq.e);
	if (!P.pool || !P.sorted || !P.free_ids || !P.bounce || !P.inq.e || !P.scratch || !P.cq.e) {
		snprintf(err, errlen, "cannot map the pager's tables: %s", strerror(errno));
		goto fail;
	}
	P.nfree_ids = 0;
	for (uint32_t i = MAX_REGIONS; i > 0; i--)
		P.free_ids[P.nfree_ids++] = i - 1;

	struct fl_store_config sc = {
		.compressor = P.cfg.compressor,
		.level = P.cfg.compressor_level ? P.cfg.compressor_level : 1,
		.capacity = P.cfg.store_capacity,
	};
	int serr = 0;
	P.store = fl_store_create(&sc, &serr);
	if (!P.store) {
		snprintf(err, errlen, "cannot create the compressed store (error %d)", serr);
		goto fail;
	}
	setup_spill();
	P.ctx_fault = fl_store_ctx_create(P.store);
	P.ctx_evict = fl_store_ctx_create(P.store);
	if (!P.ctx_fault || !P.ctx_evict) {
		snprintf(err, errlen, "cannot create compression contexts");
		goto fail;
	}

	size_t stash = P.budget ? P.budget + 64 : 64;
	fl__uffd_spin_us = P.cfg.spin_us;
	fl__uffd_handlers = P.cfg.handlers;
	fl__uffd_fork_events = P.cfg.fork_handoff;
	enum fl_engine_choice ch = P.cfg.engine;
	int ok = -1;
	if (ch == FL_ENGINE_CHOICE_OFF) {
		snprintf(err, errlen, "engine off: memory is not managed");
		goto fail;
	}
	if (ch == FL_ENGINE_CHOICE_AUTO || ch == FL_ENGINE_CHOICE_UFFD) {
		ok = try_engine(&fl__engine_uffd, stash, ebuf, sizeof ebuf);
		if (ok == 0)
			snprintf(P.reason, sizeof P.reason, "%s", P.caps.detail);
		else if (ch == FL_ENGINE_CHOICE_UFFD) {
			snprintf(err, errlen, "userfaultfd engine unavailable: %s", ebuf);
			goto fail;
		}
	}
	if (ch == FL_ENGINE_CHOICE_UFFD_SIGBUS) {
		/* Never chosen by auto: it changes what system calls see. */
		ok = try_engine(&fl__engine_uffd_sigbus, stash, ebuf, sizeof ebuf);
		if (ok != 0) {
			snprintf(err, errlen, "uffd-sigbus engine unavailable: %s", ebuf);
			goto fail;
		}
		snprintf(P.reason, sizeof P.reason, "asked for; %s", P.caps.detail);
	}
	if (ok != 0 && (ch == FL_ENGINE_CHOICE_AUTO || ch == FL_ENGINE_CHOICE_SIGNAL)) {
		char sbuf[256] = "";
		ok = try_engine(&fl__engine_signal, stash, sbuf, sizeof sbuf);
		if (ok == 0) {
			if (ch == FL_ENGINE_CHOICE_AUTO)
				snprintf(P.reason, sizeof P.reason,
					 "userfaultfd unavailable (%s); %s", ebuf, P.caps.detail);
			else
				snprintf(P.reason, sizeof P.reason, "asked for; %s", P.caps.detail);
		} else {
			snprintf(err, errlen, "no engine: userfaultfd: %s; signal: %s", ebuf, sbuf);
			goto fail;
		}
	}
	if (P.budget && !P.caps.can_evict)
		FL_WARN("engine %s cannot evict: the budget will not be held", P.eng->name);

	P.running = 1;
	P.degraded = 0;
	fl__reclaim_start();
	FL_INFO("engine %s: %s", P.eng->name, P.reason);
	return 0;

fail:
	if (P.ctx_fault)
		fl_store_ctx_destroy(P.ctx_fault);
	if (P.ctx_evict)
		fl_store_ctx_destroy(P.ctx_evict);
	if (P.store)
		fl_store_destroy(P.store);
	fl__mem_free(P.pool, MAX_REGIONS * sizeof *P.pool);
	fl__mem_free(P.sorted, MAX_REGIONS * sizeof *P.sorted);
	fl__mem_free(P.free_ids, MAX_REGIONS * sizeof *P.free_ids);
	fl__mem_free(P.bounce, P.bounce_pages * PS);
	fl__mem_free(P.scratch, (EVICT_BATCH + 1) * PS);
	fl__mem_free(P.inq.e, P.inq.cap * sizeof *P.inq.e);
	fl__mem_free(P.cq.e, P.cq.cap * sizeof *P.cq.e);
	P.ctx_fault = P.ctx_evict = NULL;
	P.store = NULL;
	P.pool = NULL;
	P.sorted = NULL;
	P.free_ids = NULL;
	P.bounce = NULL;
	P.scratch = NULL;
	P.inq = P.cq = (struct fl_ring){0};
	P.eng = NULL;
	P.kind = FL_ENGINE_OFF;
	snprintf(P.reason, sizeof P.reason, "%s", err);
	return -1;
}

enum fl_engine_kind fl_pager_engine(void)
{
	/* A forked child re-arms at its next call into the pager: its engine
	 * is the parent's until then (the fault log's hello says so). */
	return P.running || P.rearm_pending ? P.kind : FL_ENGINE_OFF;
}

const char *fl_pager_engine_reason(void)
{
	return P.reason;
}

int fl_pager_owns_fd(int fd)
{
	if (fd < 0 || !P.eng || (!P.running && !P.rearm_pending))
		return 0;
	int fds[4] = {-1, -1, -1, -1};
	P.eng->fds(fds);
	for (int i = 0; i < 4 && fds[i] >= 0; i++)
		if (fds[i] == fd)
			return 1;
	return fd == P.pagemap_fd || fl_store_owns_fd(P.store, fd);
}

void fl_pager_shutdown(void)
{
	if (!P.running)
		return;
	fl__reclaim_stop();
	fl_lock(&P.lock);
	FL_ASSERT(P.degraded || fl__region_counts_ok());
	/* Regions still mapped stay readable: bring their pages back and let
	 * the kernel have them. */
	while (P.nregions) {
		struct fl_region *r = P.sorted[P.nregions - 1];
		fl__fork_bring_back(r);
		P.eng->region_detach(r);
		fl__mem_free(r->pages, r->pages_bytes);
		r->pages = NULL;
		r->gen++;
		P.nregions--;
	}
	P.running = 0;
	fl_unlock(&P.lock);
	P.eng->stop();
}
