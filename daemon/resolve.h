/*
 * The resolver: the low-priority pass that names the frames of stored
 * stacks (function, file, line, inlined calls) with the symbolizer
 * (symbolize.h).  It runs on a thread of its own under SCHED_IDLE, so it
 * uses only CPU time nobody else wants: reading DWARF for a large binary
 * takes hundreds of milliseconds, which inside the writer would hold a
 * transaction open past its 250 ms and stall ingest.  It reads frames
 * with symbolized = 0 and the process's modules through its own read-only
 * connection, and hands its results to the writer as ops, so the
 * database keeps a single writer.
 *
 * Results are cached per (module build id, or path when there is none;
 * file address); a frame other than the innermost is a return address,
 * so the address looked up is pc - bias - 1, the call instruction.
 */
#ifndef FL_RESOLVE_H
#define FL_RESOLVE_H

#include <stddef.h>

#include "writer.h"

struct fl_resolver;

/* Start on the database at path; results go to w.  NULL with err. */
struct fl_resolver *fl_resolve_start(const char *path, struct fl_writer *w, char *err, size_t errlen);

/* New stacks were committed: look soon.  Any thread. */
void fl_resolve_kick(void *r);

/*
 * Stop the thread and free r.  With finish_ms > 0, first name every stack
 * stored so far (no longer holding back for ingest), for at most that
 * long: a short program run under `faultline run` gets its stacks named
 * before the private daemon exits.  Frames left over stay symbolized = 0
 * for the next daemon on the database.  Returns how many stacks were
 * left, 0 when all were named.
 */
long fl_resolve_stop(struct fl_resolver *r, int finish_ms);

#endif
