/*
 * The network thread: one epoll loop over the listening socket, the
 * signal descriptor and every peer.  Sockets are non-blocking and read
 * level-triggered, at most FL_SERVER_TURN_BYTES per peer per turn, so a
 * peer that floods cannot starve the others and a peer that stalls holds
 * only its own bounded buffer.  A peer whose uid is not ours is refused at
 * accept (SO_PEERCRED).  Records are decoded in place from each peer's
 * 8-aligned buffer, checked by the peer's fl_conn, and handed to the
 * writer in batches.
 *
 * On SIGTERM or SIGINT the loop stops accepting, reads what peers had
 * already sent (without waiting for more), hands everything to the
 * writer and returns; the processes of connections still open stay
 * 'running'.
 */
#ifndef FL_SERVER_H
#define FL_SERVER_H

#include <stddef.h>

#include "procs.h"
#include "writer.h"

#define FL_SERVER_TURN_BYTES (256u << 10) /* read per peer per loop turn */
#define FL_SERVER_MAX_PEERS 4096u

struct fl_server_config {
	int listen_fd;   /* closed by fl_server_run when it stops accepting */
	int signal_fd;   /* a signalfd for SIGTERM and SIGINT */
	struct fl_writer *writer;
	struct fl_procs *procs;
	size_t max_peers; /* 0: FL_SERVER_MAX_PEERS */
};

/* Serve until a signal; 0, or -1 when the loop could not run (logged). */
int fl_server_run(const struct fl_server_config *cfg);

#endif
