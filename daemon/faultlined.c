/*
 * faultlined: the fault log daemon.  Shims (and launchers reporting how
 * their children ended) connect over a unix socket; the daemon checks
 * every record and stores it in SQLite (daemon/SCHEMA.md).  This file is
 * the program: options, start-up order, signals, shutdown.  The work is
 * in server.c (network thread), writer.c (database thread) and resolve.c
 * (symbolization thread).
 *
 * Start-up order matters to the launcher, which waits on --ready-fd: the
 * socket is bound (a live daemon on it refuses us at once), the database
 * opened and checked, and only then is "ready" written, so that a
 * launcher never starts a program against a daemon about to exit.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "dlog.h"
#include "listen.h"
#include "options.h"
#include "procs.h"
#include "resolve.h"
#include "server.h"
#include "writer.h"

static const char usage[] =
	"usage: faultlined [--socket PATH] [--db PATH] [--ready-fd N] [--db-max-size SIZE]\n"
	"                  [--log quiet|warn|info|debug] [--help]\n"
	"\n"
	"The faultline fault log daemon: stores what preloaded programs report\n"
	"(processes, modules, regions, faults with their stacks, samples) in SQLite.\n"
	"\n"
	"  --socket PATH       listen here (default $XDG_RUNTIME_DIR/faultline/faultlined.sock,\n"
	"                      or /tmp/faultline-$UID/faultlined.sock; the default directory\n"
	"                      is made 0700 and must be ours and closed to others)\n"
	"  --db PATH           the database (default ./faultline.db; created if missing)\n"
	"  --ready-fd N        write \"ready\\n\" to descriptor N once serving, then close it\n"
	"  --db-max-size SIZE  never grow the database file past SIZE (e.g. 512M; its -wal\n"
	"                      file holds a few MiB more); when it is full, new events\n"
	"                      are counted and dropped\n"
	"  --log LEVEL         quiet, warn, info (default) or debug; messages go to stderr\n"
	"  --help              this text\n"
	"\n"
	"SIGTERM or SIGINT: stop accepting, store what peers already sent, exit 0.\n";

/* At shutdown, how long stacks not yet symbolized may still take. */
#define FINISH_SYMBOLS_MS 10000

static int pid_alive(int32_t pid)
{
	return kill(pid, 0) == 0 || errno != ESRCH;
}

int main(int argc, char **argv)
{
	const char *db_path = "faultline.db";
	char sock[256] = "";
	int ready_fd = -1;
	uint64_t max_bytes = 0;
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'}, {"db", required_argument, NULL, 'd'},
		{"ready-fd", required_argument, NULL, 'r'}, {"db-max-size", required_argument, NULL, 'm'},
		{"log", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 's':
			if (strlen(optarg) >= sizeof sock) {
				DLOG_ERROR("--socket: path too long (at most %zu bytes)", sizeof sock - 1);
				return 2;
			}
			snprintf(sock, sizeof sock, "%s", optarg);
			break;
		case 'd':
			db_path = optarg;
			break;
		case 'r':
			errno = 0;
			long fd = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || fd < 0 || fd > 1 << 20) {
				DLOG_ERROR("--ready-fd: '%s' is not a descriptor number", optarg);
				return 2;
			}
			ready_fd = (int)fd;
			break;
		case 'm':
			if (fl_parse_size(optarg, fl_phys_bytes(), &max_bytes) != 0) {
				DLOG_ERROR("--db-max-size: '%s' is not a size (a number with K, M, G or T)", optarg);
				return 2;
			}
			break;
		case 'l':
			if ((fl_dlog_level = fl_dlog_parse(optarg)) < 0) {
				DLOG_ERROR("--log: '%s' is not one of quiet, warn, info, debug", optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs("usage: faultlined [--socket PATH] [--db PATH] [--ready-fd N] [--db-max-size SIZE]\n"
			      "                  [--log quiet|warn|info|debug] [--help]\n",
			      stderr);
			return 2;
		}
	}
	if (optind < argc) {
		DLOG_ERROR("unexpected argument '%s' (see --help)", argv[optind]);
		return 2;
	}

	/* Signals are read from a descriptor in the event loop; every thread
	 * started below inherits the mask, so none of them takes one. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* An ignored signal never reaches a signalfd, and whoever started us
	 * (a test runner, nohup) may have left SIGINT or SIGTERM ignored. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		DLOG_ERROR("signalfd: %s", strerror(errno));
		return 1;
	}
	/* One descriptor per peer: take all the kernel allows us. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	char err[1024];
	int strict = !sock[0];
	if (!sock[0] && fl_listen_default_path(sock, sizeof sock, err, sizeof err) != 0) {
		DLOG_ERROR("%s", err);
		return 1;
	}
	int lfd = fl_listen_open(sock, strict, err, sizeof err);
	if (lfd < 0) {
		DLOG_ERROR("%s", err);
		return 1;
	}
	struct stat sock_st;
	if (stat(sock, &sock_st) != 0)
		memset(&sock_st, 0, sizeof sock_st);

	sqlite3 *db = fl_db_open(db_path, max_bytes, err, sizeof err);
	if (!db) {
		DLOG_ERROR("cannot open database %s: %s", db_path, err);
		close(lfd);
		unlink(sock);
		return 1;
	}
	int reaped = fl_db_reap(db, pid_alive, err, sizeof err);
	if (reaped < 0)
		DLOG_WARN("checking processes left running: %s", err);
	else if (reaped)
		DLOG_INFO("%d process%s left running by an earlier daemon no longer exist%s: marked vanished", reaped,
			  reaped == 1 ? "" : "es", reaped == 1 ? "s" : "");
	sqlite3 *reader = fl_db_open_reader(db_path, err, sizeof err);
	struct fl_writer *w = reader ? fl_writer_start(db, db_path, err, sizeof err) : NULL;
	if (!w) {
		DLOG_ERROR("cannot open database %s: %s", db_path, err);
		sqlite3_close(reader);
		sqlite3_close(db);
		close(lfd);
		unlink(sock);
		return 1;
	}
	struct fl_resolver *res = fl_resolve_start(db_path, w, err, sizeof err);
	if (res)
		fl_writer_on_stacks(w, fl_resolve_kick, res);
	else
		DLOG_WARN("frames will not be symbolized: %s", err);
	struct fl_procs *procs = fl_procs_new(fl_db_lookup, reader);
	if (!procs) {
		DLOG_ERROR("out of memory");
		return 1;
	}

	if (ready_fd >= 0) {
		static const char ready[] = "ready\n";
		if (write(ready_fd, ready, sizeof ready - 1) != (ssize_t)sizeof ready - 1)
			DLOG_WARN("--ready-fd %d: %s", ready_fd, strerror(errno));
		close(ready_fd);
	}
	DLOG_INFO("listening on %s, storing into %s", sock, db_path);

	struct fl_server_config cfg = {.listen_fd = lfd, .signal_fd = sfd, .writer = w, .procs = procs};
	int rc = fl_server_run(&cfg);

	/* The socket is ours to remove unless a new daemon has put its own there. */
	struct stat now_st;
	if (stat(sock, &now_st) == 0 && now_st.st_ino == sock_st.st_ino && now_st.st_dev == sock_st.st_dev)
		unlink(sock);
	/* Everything the peers sent is stored; then the resolver names the
	 * stacks (it hands its results to the writer, and the writer kicks it:
	 * unhook first), then the writer drains and stops. */
	if (!fl_writer_sync(w, 60000))
		DLOG_WARN("the database writer is still busy after 60 s; stopping anyway");
	fl_writer_on_stacks(w, NULL, NULL);
	long left = fl_resolve_stop(res, FINISH_SYMBOLS_MS);
	if (left)
		DLOG_INFO("%ld stacks not yet symbolized at shutdown (%d s): the next faultlined on %s names them",
			  left, FINISH_SYMBOLS_MS / 1000, db_path);
	struct fl_writer_stats st;
	fl_writer_stop(w, &st);
	fl_procs_free(procs);
	sqlite3_close(reader);
	int crc = sqlite3_close(db);
	if (crc != SQLITE_OK) {
		DLOG_ERROR("closing the database %s: %s", db_path, sqlite3_errstr(crc));
		rc = -1;
	}
	if (st.lost_faults || st.lost_records)
		DLOG_WARN("stored %llu fault events; %llu fault events and %llu other records could not be stored",
			  (unsigned long long)st.faults, (unsigned long long)st.lost_faults,
			  (unsigned long long)st.lost_records);
	else
		DLOG_INFO("stored %llu fault events in %llu commits; exiting", (unsigned long long)st.faults,
			  (unsigned long long)st.commits);
	close(sfd);
	return rc == 0 ? 0 : 1;
}
