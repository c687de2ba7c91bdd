/*
 * The network thread's table of processes: what the daemon must remember
 * about a process across its connections to check what it says.  A shim
 * that loses its connection says HELLO again with the same pid and start
 * time and continues its numbering, so the stack ids it defined (with a
 * hash of each definition, to catch a redefinition that differs) and the
 * region ids it created outlive the connection, as long as the process is
 * running.  An ended process (GOODBYE, a launcher's EXIT, or its last
 * connection gone without GOODBYE) is kept a grace period, then
 * forgotten; a HELLO after that finds it again through the lookup hook,
 * which reads the database.
 *
 * Each process gets a key, a small number the writer maps to its database
 * row: the network thread never waits for the database to learn a row id.
 */
#ifndef FL_PROCS_H
#define FL_PROCS_H

#include <stddef.h>
#include <stdint.h>

#include "idmap.h"

/* Region states in fl_proc.regions. */
enum { FL_REGION_ALIVE = 1, FL_REGION_DESTROYED = 2 };

/* Limits on what one process may declare: the daemon's memory is not the peer's to spend. */
#define FL_PROCS_MAX_STACKS (1u << 20)
#define FL_PROCS_MAX_REGIONS (1u << 20)

struct fl_proc {
	uint32_t key;
	int32_t pid;
	uint64_t start_real_ns, start_mono_ns;
	int64_t rowid;          /* the database row, when the lookup hook found one */
	int nconns;             /* connections attached now */
	int ended;              /* GOODBYE, EXIT or vanished: maps go after the grace period */
	int goodbye;            /* its answer is final: EXIT does not override it */
	uint64_t ended_at_ns;   /* CLOCK_MONOTONIC, for the grace period */
	struct fl_idmap stacks; /* stack id -> hash of the pcs */
	struct fl_idmap regions;/* region id -> FL_REGION_* */
	struct fl_proc *next;   /* hash chain */
};

/*
 * Find a process that is not in memory in the database: fill p->rowid and
 * its stacks and regions (fl_procs_add_stack/region) and return 1; return
 * 0 when there is none, -1 on a database error (message in err).
 */
typedef int (*fl_procs_lookup_fn)(void *ctx, struct fl_proc *p, char *err, size_t errlen);

struct fl_procs;

/* An empty table; lookup may be NULL (no database to search). */
struct fl_procs *fl_procs_new(fl_procs_lookup_fn lookup, void *ctx);
void fl_procs_free(struct fl_procs *t);

/*
 * The process (pid, start_real_ns) for a HELLO: found in memory, or through
 * the lookup hook (rowid set), or new (rowid 0).  *fresh is 1 when it was
 * not in memory.  NULL with a message in err when out of memory or when
 * the lookup failed.
 */
struct fl_proc *fl_procs_hello(struct fl_procs *t, int32_t pid, uint64_t start_real_ns,
			       uint64_t start_mono_ns, int *fresh, char *err, size_t errlen);

/* The newest process in memory with this pid, or NULL. */
struct fl_proc *fl_procs_by_pid(struct fl_procs *t, int32_t pid);

/*
 * A launcher's EXIT for a pid with no process in memory: the process may
 * still be unread in its own connection (the launcher reports as soon as
 * wait() returns, and connections are read in no particular order).  The
 * report is kept a while (a few hundred at most) so that a HELLO of that
 * pid from a process that started before the report can take it.
 */
struct fl_procs_exit {
	int32_t pid, status;
	uint32_t how;
	uint64_t real_ns; /* when the report arrived (CLOCK_REALTIME) */
	uint64_t mono_ns; /* the same, CLOCK_MONOTONIC, for expiry */
};
void fl_procs_exit_later(struct fl_procs *t, const struct fl_procs_exit *x);
/* Take the kept report for pid that arrived after start_real_ns; 1 if there was one. */
int fl_procs_exit_take(struct fl_procs *t, int32_t pid, uint64_t start_real_ns, struct fl_procs_exit *out);

/* Mark p ended now (mono_ns); its maps are freed grace_ns after its last connection goes. */
void fl_procs_end(struct fl_proc *p, uint64_t mono_ns);

/* Forget ended processes with no connection whose grace period is over. */
void fl_procs_gc(struct fl_procs *t, uint64_t mono_ns, uint64_t grace_ns);

/* Processes in memory. */
size_t fl_procs_count(const struct fl_procs *t);

/* FNV-1a of a stack's pcs: what a redefinition is compared against (never 0). */
uint64_t fl_procs_stack_hash(const void *pcs, uint32_t n);

/* The value fl_proc.regions holds for a region: its state and a hash of its geometry. */
uint64_t fl_procs_region_val(uint64_t start, uint64_t len, uint32_t prot, uint32_t kind, int state);

/* For the lookup hook: record a stack or region the database knows.  0 or -1 (no memory). */
int fl_procs_add_stack(struct fl_proc *p, uint32_t id, uint64_t hash);
int fl_procs_add_region(struct fl_proc *p, uint64_t id, uint64_t val);

#endif
