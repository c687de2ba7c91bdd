/*
 * One connection's protocol state: what it may send next, given what it
 * sent before.  fl_wire_decode() has checked each record on its own; this
 * checks the history: a connection starts with HELLO (a shim speaking for
 * a process) or with EXIT (a launcher's control connection, which sends
 * nothing else); stacks are defined before faults use them and never
 * redefined differently; region ids are created before they are updated,
 * destroyed or named by a fault; nothing follows GOODBYE.
 *
 * Checked records become writer ops in the caller's batch.  No sockets
 * and no database here, so the fuzzer drives this exactly as the server
 * does.
 */
#ifndef FL_CONN_H
#define FL_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "faultline/wire.h"
#include "procs.h"

struct fl_conn;

/* A new connection; NULL when out of memory. */
struct fl_conn *fl_conn_new(struct fl_procs *procs);

/*
 * Take one decoded record.  Returns 0, with any ops appended to out, or
 * -1 with a one-line reason in err: the record is bad for this connection
 * (or memory ran out), nothing of it went into out, and the caller must
 * drop the connection with fl_conn_end().
 */
int fl_conn_feed(struct fl_conn *c, const struct fl_wire_rec *r, struct fl_batch *out, char *err,
		 size_t errlen);

/*
 * The connection is gone; frees c.  Unless shutting_down, a process whose
 * last connection this was and that did not say GOODBYE is reported
 * vanished (an op in out).  When the daemon shuts down, processes stay
 * running: they may reconnect to the next daemon.  Returns -1 when the
 * vanish op could not be queued (out of memory), 0 otherwise.
 */
int fl_conn_end(struct fl_conn *c, int shutting_down, struct fl_batch *out);

/* The pid the connection's HELLO named (0 before HELLO, or on a control connection). */
int32_t fl_conn_pid(const struct fl_conn *c);

#endif
