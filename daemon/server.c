/*
 * The network thread (server.h).
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "conn.h"
#include "dlog.h"
#include "faultline/wire.h"
#include "clock.h"

/* Twice the largest record: after the complete records are taken, what is
 * left is less than one record, so a whole one always fits behind it. */
#define PEER_BUF (2u * FL_WIRE_MAX)
#define BATCH_HANDOFF (1u << 20)            /* bytes of ops before a batch goes to the writer */
#define DRAIN_CAP (64u << 20)               /* read from one peer at shutdown, at most */
#define GC_GRACE_NS (60ull * 1000000000ull) /* an ended process stays known this long */

struct peer {
	int fd;
	int pid;      /* SO_PEERCRED */
	unsigned uid;
	uint8_t *buf; /* 8-aligned (malloc), PEER_BUF bytes */
	size_t len;
	uint64_t records;
	struct fl_conn *conn;
	struct peer *prev, *next;
};

struct server {
	const struct fl_server_config *cfg;
	int ep;
	struct peer *peers;
	size_t npeers;
	struct fl_batch *batch;
	int spare_fd; /* given up when descriptors run out, to accept and refuse */
	uint64_t refused_full;
};

enum { PEER_KEEP, PEER_EOF, PEER_BAD };

static void handoff(struct server *s)
{
	if (!s->batch || !s->batch->len)
		return;
	fl_writer_push(s->cfg->writer, s->batch);
	s->batch = fl_batch_new(2 * BATCH_HANDOFF);
	if (!s->batch)
		DLOG_WARN("out of memory for a batch: peers are not read until memory is available");
}

static void close_peer(struct server *s, struct peer *p, int shutting_down)
{
	epoll_ctl(s->ep, EPOLL_CTL_DEL, p->fd, NULL);
	close(p->fd);
	if (p->conn) {
		struct fl_batch *b = s->batch;
		if (!b || fl_conn_end(p->conn, shutting_down, b) != 0)
			DLOG_WARN("peer pid %d: out of memory; its process is not marked vanished", p->pid);
	}
	if (p->prev)
		p->prev->next = p->next;
	else
		s->peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	s->npeers--;
	free(p->buf);
	free(p);
}

/* Decode and check the complete records in p's buffer. */
static int take_records(struct server *s, struct peer *p)
{
	size_t off = 0;
	int rc = PEER_KEEP;
	while (off < p->len) {
		struct fl_wire_rec rec;
		char err[256];
		long n = fl_wire_decode(p->buf + off, p->len - off, &rec, err, sizeof err);
		if (n == 0)
			break;
		if (n < 0 || fl_conn_feed(p->conn, &rec, s->batch, err, sizeof err) != 0) {
			int32_t said = fl_conn_pid(p->conn);
			if (said && said != p->pid)
				DLOG_WARN("peer pid %d (process %d): bad record: %s; disconnected", p->pid, said, err);
			else
				DLOG_WARN("peer pid %d: bad record: %s; disconnected", p->pid, err);
			rc = PEER_BAD;
			break;
		}
		off += (size_t)n;
		p->records++;
		if (s->batch->len >= BATCH_HANDOFF) {
			handoff(s);
			if (!s->batch)
				break;
		}
	}
	memmove(p->buf, p->buf + off, p->len - off);
	p->len -= off;
	return rc;
}

/* Read and take up to budget bytes from p. */
static int read_peer(struct server *s, struct peer *p, size_t budget)
{
	size_t done = 0;
	while (done < budget && s->batch) {
		size_t want = PEER_BUF - p->len;
		if (want > budget - done)
			want = budget - done;
		/* Full of whole records not taken yet (no batch memory): later. */
		if (want == 0)
			return PEER_KEEP;
		ssize_t n = read(p->fd, p->buf + p->len, want);
		if (n == 0) {
			if (p->len)
				DLOG_DEBUG("peer pid %d: connection ended inside a record (%zu bytes kept back)", p->pid, p->len);
			return PEER_EOF;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return PEER_KEEP;
			DLOG_DEBUG("peer pid %d: read: %s", p->pid, strerror(errno));
			return PEER_EOF;
		}
		p->len += (size_t)n;
		done += (size_t)n;
		int rc = take_records(s, p);
		if (rc != PEER_KEEP)
			return rc;
	}
	return PEER_KEEP;
}

static void accept_peers(struct server *s)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(s->cfg->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if ((errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
				/* Out of descriptors: take one connection with the spare
				 * and close it, or it would keep the listener readable. */
				close(s->spare_fd);
				fd = accept4(s->cfg->listen_fd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					close(fd);
				s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				if (s->refused_full++ % 1000 == 0)
					DLOG_WARN("out of file descriptors: refusing new connections");
			}
			return;
		}
		struct ucred cr;
		socklen_t crl = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) != 0) {
			DLOG_WARN("refused a connection: cannot read its credentials: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (cr.uid != geteuid()) {
			DLOG_WARN("refused a connection from pid %d uid %u: only uid %u may connect", (int)cr.pid,
				  (unsigned)cr.uid, (unsigned)geteuid());
			close(fd);
			continue;
		}
		size_t max = s->cfg->max_peers ? s->cfg->max_peers : FL_SERVER_MAX_PEERS;
		if (s->npeers >= max) {
			if (s->refused_full++ % 1000 == 0)
				DLOG_WARN("refused a connection from pid %d: %zu peers already", (int)cr.pid, s->npeers);
			close(fd);
			continue;
		}
		struct peer *p = calloc(1, sizeof *p);
		if (p)
			p->buf = malloc(PEER_BUF);
		if (p && p->buf)
			p->conn = fl_conn_new(s->cfg->procs);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
		if (!p || !p->buf || !p->conn || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			DLOG_WARN("refused a connection from pid %d: out of memory", (int)cr.pid);
			if (p) {
				if (p->conn)
					fl_conn_end(p->conn, 1, s->batch);
				free(p->buf);
				free(p);
			}
			close(fd);
			continue;
		}
		p->fd = fd;
		p->pid = (int)cr.pid;
		p->uid = (unsigned)cr.uid;
		p->next = s->peers;
		if (s->peers)
			s->peers->prev = p;
		s->peers = p;
		s->npeers++;
		DLOG_DEBUG("peer pid %d connected", p->pid);
	}
}

/* Stop accepting; read what peers already sent; hand everything over. */
static void drain(struct server *s)
{
	epoll_ctl(s->ep, EPOLL_CTL_DEL, s->cfg->listen_fd, NULL);
	close(s->cfg->listen_fd);
	while (s->peers) {
		struct peer *p = s->peers;
		int rc = PEER_KEEP;
		for (size_t done = 0; rc == PEER_KEEP && done < DRAIN_CAP; done += FL_SERVER_TURN_BYTES) {
			/* Let the writer work off its queue rather than grow it. */
			fl_writer_wait_room(s->cfg->writer, 1000);
			if (!s->batch)
				s->batch = fl_batch_new(2 * BATCH_HANDOFF);
			size_t before = p->len;
			uint64_t rec = p->records;
			rc = read_peer(s, p, FL_SERVER_TURN_BYTES);
			if (rc == PEER_KEEP && p->len == before && p->records == rec)
				break; /* nothing more arrived: EAGAIN */
		}
		close_peer(s, p, rc == PEER_KEEP);
	}
	handoff(s);
}

int fl_server_run(const struct fl_server_config *cfg)
{
	struct server s = {.cfg = cfg, .spare_fd = -1};
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	s.batch = fl_batch_new(2 * BATCH_HANDOFF);
	s.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s.cfg};
	struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &s.ep};
	if (s.ep < 0 || !s.batch || epoll_ctl(s.ep, EPOLL_CTL_ADD, cfg->listen_fd, &ev) != 0 ||
	    epoll_ctl(s.ep, EPOLL_CTL_ADD, cfg->signal_fd, &sev) != 0) {
		DLOG_ERROR("cannot start the event loop: %s", s.batch ? strerror(errno) : "out of memory");
		if (s.ep >= 0)
			close(s.ep);
		fl_batch_free(s.batch);
		return -1;
	}
	uint64_t last_gc = fl_mono_ns();
	int stop = 0;
	while (!stop) {
		handoff(&s);
		if (!s.batch)
			s.batch = fl_batch_new(2 * BATCH_HANDOFF);
		struct epoll_event evs[64];
		int n = epoll_wait(s.ep, evs, 64, 1000);
		if (n < 0 && errno != EINTR) {
			DLOG_ERROR("epoll_wait: %s", strerror(errno));
			break;
		}
		/* Over the writer's high-water mark: leave peers unread (their
		 * sockets fill, the shims count drops) and let the writer catch up. */
		int room = fl_writer_wait_room(cfg->writer, 0);
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &s.cfg) {
				accept_peers(&s);
			} else if (tag == &s.ep) {
				struct signalfd_siginfo si;
				if (read(cfg->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
					DLOG_INFO("signal %u: shutting down", si.ssi_signo);
					stop = 1;
				}
			} else if (room && s.batch) {
				struct peer *p = tag;
				int rc = read_peer(&s, p, FL_SERVER_TURN_BYTES);
				if (rc != PEER_KEEP) {
					DLOG_DEBUG("peer pid %d %s after %llu records", p->pid,
						   rc == PEER_EOF ? "closed" : "dropped", (unsigned long long)p->records);
					close_peer(&s, p, 0);
				}
			}
		}
		if (!room)
			fl_writer_wait_room(cfg->writer, 50);
		uint64_t now = fl_mono_ns();
		if (now - last_gc >= 1000000000ull) {
			fl_procs_gc(cfg->procs, now, GC_GRACE_NS);
			last_gc = now;
		}
	}
	drain(&s);
	fl_batch_free(s.batch);
	if (s.spare_fd >= 0)
		close(s.spare_fd);
	close(s.ep);
	return 0;
}
