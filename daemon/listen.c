/*
 * The listening socket (listen.h).
 */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "faultline/wire.h"

int fl_listen_default_path(char *out, size_t len, char *err, size_t errlen)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (fl_wire_default_socket(out, len, xdg, (unsigned)geteuid()) != 0) {
		snprintf(err, errlen, "the default socket path is too long (XDG_RUNTIME_DIR=%s)", xdg ? xdg : "");
		return -1;
	}
	return 0;
}

static int check_dir(const char *dir, int strict, char *err, size_t errlen)
{
	struct stat st;
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create the socket directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0) {
		snprintf(err, errlen, "socket directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "socket directory %s is not a directory", dir);
		return -1;
	}
	if (!strict)
		return 0;
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "refusing the socket directory %s: it belongs to uid %u, not to us (uid %u)", dir,
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "refusing the socket directory %s: it is writable by %s (mode %04o; want 0700)", dir,
			 st.st_mode & S_IWOTH ? "anyone" : "its group", (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Is someone accepting on path?  1 yes, 0 no (stale), -1 on an error (in err). */
static int live(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
	int e = errno;
	close(fd);
	if (rc == 0)
		return 1;
	if (e == ECONNREFUSED || e == ENOENT)
		return 0;
	/* EAGAIN: the backlog is full, so somebody is listening. */
	if (e == EAGAIN)
		return 1;
	snprintf(err, errlen, "cannot tell whether %s is in use: %s", sa->sun_path, strerror(e));
	return -1;
}

int fl_listen_open(const char *path, int strict_dir, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "socket path %s is too long (at most %zu bytes)", path, sizeof sa.sun_path - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (check_dir(dir, strict_dir, err, errlen) != 0)
			return -1;
	}

	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return -1;
		}
		int l = live(&sa, err, errlen);
		if (l < 0)
			return -1;
		if (l) {
			snprintf(err, errlen, "another faultlined is listening on %s", path);
			return -1;
		}
		/* Left by a daemon that did not clean up: nobody answers on it. */
		if (unlink(path) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(errno));
			return -1;
		}
	}

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Never a moment with the socket open to others: create it 0600. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	int e = errno;
	umask(old);
	if (rc != 0) {
		if (e == EADDRINUSE)
			snprintf(err, errlen, "another faultlined is listening on %s", path);
		else
			snprintf(err, errlen, "cannot bind %s: %s", path, strerror(e));
		close(fd);
		return -1;
	}
	if (chmod(path, 0600) != 0 || listen(fd, 512) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}
