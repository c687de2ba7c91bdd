/*
 * The daemon's listening socket: where it goes by default, the directory
 * it lives in (created 0700; an existing one must be ours and closed to
 * others, since anyone who can write there could put their own socket in
 * our place), a stale socket left by a daemon that died (replaced) or a
 * live one (refused: one daemon per socket).
 */
#ifndef FL_LISTEN_H
#define FL_LISTEN_H

#include <stddef.h>

/*
 * The default socket path: $XDG_RUNTIME_DIR/faultline/faultlined.sock, or
 * /tmp/faultline-$UID/faultlined.sock.  0, or -1 with err.
 */
int fl_listen_default_path(char *out, size_t len, char *err, size_t errlen);

/*
 * Bind and listen on path (mode 0600).  The directory is created 0700 if
 * missing; when strict_dir, an existing one must be owned by the
 * effective uid and not writable by group or others.  Returns the
 * listening socket (non-blocking, close-on-exec), or -1 with err.
 */
int fl_listen_open(const char *path, int strict_dir, char *err, size_t errlen);

#endif
