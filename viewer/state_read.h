/*
 * Reading a preloaded process's published state
 * (include/faultline/state.h) from outside it.
 */
#ifndef FL_VIEWER_STATE_READ_H
#define FL_VIEWER_STATE_READ_H

#include <stddef.h>
#include <sys/types.h>

#include "faultline/state.h"

/* Where pid's state file is, for a process of user uid. */
void fl_state_path(pid_t pid, uid_t uid, char *buf, size_t len);

/*
 * Copy pid's current state into *out (a consistent copy: retried while the
 * shim is writing).  Returns 0, or -1 with errno and a one-line reason in
 * err: ENOENT (no state file: not preloaded, or the shim publishes
 * nothing), ESTALE (the file outlived its process), EPROTO (not a state
 * file of this version), EAGAIN (it kept changing), or the error opening
 * or mapping it.  out is large (about 600 KiB): allocate it.
 */
int fl_state_read(pid_t pid, struct fl_state *out, char *err, size_t errlen);

#endif
