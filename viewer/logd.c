/*
 * Where `faultline run` sends the fault log: to a faultlined already
 * listening on the socket, or to a private one it starts for the run
 * (writing ./faultline.db unless told otherwise) and stops afterwards,
 * once everything sent has been written.  The launcher also tells the
 * daemon how the program ended, which only its parent can know when a
 * signal killed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "faultline/wire.h"

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return -1;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* faultlined beside this executable, else from PATH. */
static void daemon_path(char *out, size_t len)
{
	char exe[PATH_MAX - 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			snprintf(out, len, "%s/faultlined", exe);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, len, "faultlined");
}

/* Start faultlined and wait until it listens (it says "ready"). */
static int spawn(struct fl_logd *d)
{
	char prog[PATH_MAX];
	daemon_path(prog, sizeof prog);
	int rp[2];
	if (pipe2(rp, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(rp[0]);
		close(rp[1]);
		return -1;
	}
	if (pid == 0) {
		/* Its own process group: a ^C at the terminal is for the
		 * program, and the daemon must live to write what it got. */
		setpgid(0, 0);
		int fd = dup(rp[1]); /* without CLOEXEC */
		char fdarg[16];
		snprintf(fdarg, sizeof fdarg, "%d", fd);
		unsetenv("LD_PRELOAD");
		execlp(prog, prog, "--socket", d->socket, "--db", d->db, "--ready-fd", fdarg, "--log", "warn",
		       (char *)NULL);
		fprintf(stderr, "faultline run: cannot start %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(rp[1]);
	d->pid = pid;
	char buf[16] = {0};
	size_t got = 0;
	struct pollfd p = {.fd = rp[0], .events = POLLIN};
	while (got < 6 && poll(&p, 1, 10000) > 0) {
		ssize_t n = read(rp[0], buf + got, sizeof buf - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(rp[0]);
	if (got >= 5 && !strncmp(buf, "ready", 5))
		return 0;
	/* It said why on stderr (or hung): make sure it is gone. */
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	d->pid = 0;
	return -1;
}

int fl_logd_start(struct fl_logd *d, const char *db, const char *socket_set)
{
	memset(d, 0, sizeof *d);
	if (socket_set && !strcmp(socket_set, "none"))
		return 0; /* no fault log */
	snprintf(d->db, sizeof d->db, "%s", db ? db : "faultline.db");
	if (socket_set && *socket_set)
		snprintf(d->socket, sizeof d->socket, "%s", socket_set);
	else if (fl_wire_default_socket(d->socket, sizeof d->socket, getenv("XDG_RUNTIME_DIR"), (unsigned)getuid()) != 0) {
		fprintf(stderr, "faultline run: the default socket path is too long (XDG_RUNTIME_DIR)\n");
		return -1;
	}
	/* A daemon already there takes the log, unless the user asked for a
	 * database of this run's own. */
	if (!db) {
		int fd = connect_to(d->socket);
		if (fd >= 0) {
			close(fd);
			d->on = 1;
			d->shared = 1;
			return 0;
		}
	}
	if (!socket_set || !*socket_set) {
		const char *tmp = getenv("TMPDIR");
		snprintf(d->dir, sizeof d->dir, "%s/faultline-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(d->dir)) {
			fprintf(stderr, "faultline run: cannot make a directory for the fault log's socket: %s\n",
				strerror(errno));
			return -1;
		}
		if (strlen(d->dir) + sizeof "/faultlined.sock" > sizeof d->socket) {
			fprintf(stderr, "faultline run: TMPDIR is too long for a socket path (%s)\n", d->dir);
			rmdir(d->dir);
			return -1;
		}
		memcpy(d->socket, d->dir, strlen(d->dir));
		memcpy(d->socket + strlen(d->dir), "/faultlined.sock", sizeof "/faultlined.sock");
	}
	if (spawn(d) != 0) {
		fprintf(stderr, "faultline run: the fault log daemon did not start (database %s); "
				"give --db PATH, or --socket none to run without a fault log\n",
			d->db);
		if (d->dir[0])
			rmdir(d->dir);
		return -1;
	}
	d->on = 1;
	return 0;
}

void fl_logd_report_exit(const struct fl_logd *d, pid_t pid, int status)
{
	if (!d->on)
		return;
	int fd = connect_to(d->socket);
	if (fd < 0)
		return;
	struct fl_wire_exit x = {.pid = pid};
	if (WIFSIGNALED(status)) {
		x.how = FL_WIRE_END_SIGNALLED;
		x.status = WTERMSIG(status);
	} else {
		x.how = FL_WIRE_END_EXITED;
		x.status = WEXITSTATUS(status);
	}
	_Alignas(8) unsigned char buf[64];
	size_t n = fl_wire_put(buf, sizeof buf, FL_REC_EXIT, &x, sizeof x, NULL, 0, NULL, 0);
	if (n && write(fd, buf, n) < 0) {
		/* the daemon will mark it vanished instead */
	}
	close(fd);
}

int fl_logd_stop(struct fl_logd *d)
{
	int rc = 0;
	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		int st = 0;
		while (waitpid(d->pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "faultline run: the fault log daemon ended badly (%s %d); "
					"%s may be incomplete\n",
				WIFSIGNALED(st) ? "signal" : "status",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), d->db);
			rc = -1;
		}
		d->pid = 0;
	}
	if (d->dir[0]) {
		unlink(d->socket);
		rmdir(d->dir);
	}
	return rc;
}
