/*
 * The fault log's emitter thread (emitter.c): started by the shim once
 * the pager runs, it sends the process's fault log to faultlined.
 */
#ifndef FL_EMITTER_H
#define FL_EMITTER_H

#include "options.h"

/*
 * Set up the event queues (unless FAULTLINE_SOCKET is "none"), before the
 * pager starts so that no fault goes unrecorded.  envp: the environment,
 * read without getenv.  0 or -1.
 */
int fl__emitter_prepare(const struct fl_settings *st, char *const *envp);
/* Once the pager runs: connect and start the thread.  0 or -1. */
int fl__emitter_start(void);

/* fork, in the child: forget the parent's connection and queues; the
 * thread starts again at fl__emitter_ensure (or exit). */
void fl__emitter_fork_child(void);
/* Start a forked child's emitter if it is pending (may create a thread). */
void fl__emitter_ensure(void);

/*
 * The process is exiting: send what is queued and a goodbye (how:
 * FL_WIRE_END_EXITED with the status), waiting a bounded time.  Once.
 */
void fl__emitter_exit(int status, int how);

/* Is fd one of the emitter's (the close guard keeps it open)? */
int fl__emitter_owns_fd(int fd);

#endif
