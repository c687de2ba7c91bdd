/*
 * The reader side of the shim's state file (see include/faultline/state.h):
 * open it read-only, copy it out under its sequence lock, and refuse a
 * file that is not one, is of another version, or outlived its process.
 */
#include "state_read.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void fl_state_path(pid_t pid, uid_t uid, char *buf, size_t len)
{
	snprintf(buf, len, FL_STATE_PATH_FMT, (unsigned)uid, (int)pid);
}

/* When pid started, by the real-time clock (from /proc/PID/stat). */
static int started_real_ns(pid_t pid, unsigned long long *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* Field 22 (starttime, clock ticks since boot); p is at field 2's end. */
	unsigned long long ticks = 0;
	int field = 2;
	for (char *q = p + 1; *q && field < 22; q++)
		if (*q == ' ' && ++field == 22 && sscanf(q + 1, "%llu", &ticks) != 1)
			return -1;
	struct timespec real, boot;
	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long boot_real = (unsigned long long)real.tv_sec * 1000000000ull + (unsigned long long)real.tv_nsec -
				       ((unsigned long long)boot.tv_sec * 1000000000ull + (unsigned long long)boot.tv_nsec);
	*out = boot_real + ticks * (1000000000ull / (unsigned long long)(hz > 0 ? hz : 100));
	return 0;
}

int fl_state_read(pid_t pid, struct fl_state *out, char *err, size_t errlen)
{
	char path[128];
	/* The file is named after the process's owner, who may not be us
	 * (root looking at another user's process). */
	char proc[64];
	struct stat ps;
	snprintf(proc, sizeof proc, "/proc/%d", (int)pid);
	uid_t owner = stat(proc, &ps) == 0 ? ps.st_uid : getuid();
	fl_state_path(pid, owner, path, sizeof path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			snprintf(err, errlen, "process %d publishes no faultline state (not preloaded, the shim "
					      "did not start, or it is still starting)", (int)pid);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0 || (size_t)sb.st_size < sizeof *out) {
		close(fd);
		snprintf(err, errlen, "%s is not a faultline state file (size %lld)", path, (long long)sb.st_size);
		errno = EPROTO;
		return -1;
	}
	const struct fl_state *m = mmap(NULL, sizeof *out, PROT_READ, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	int rc = -1;
	for (int tries = 0; tries < 200; tries++) {
		uint64_t s0 = __atomic_load_n(&m->seq, __ATOMIC_ACQUIRE);
		if (s0 & 1) {
			usleep(500);
			continue;
		}
		memcpy(out, m, sizeof *out);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&m->seq, __ATOMIC_RELAXED) == s0) {
			rc = 0;
			break;
		}
	}
	munmap((void *)m, sizeof *out);
	if (rc != 0) {
		snprintf(err, errlen, "%s kept changing while it was read", path);
		errno = EAGAIN;
		return -1;
	}
	if (out->magic != FL_STATE_MAGIC || out->version != FL_STATE_VERSION || out->pid != pid ||
	    out->nregions > FL_STATE_MAX_REGIONS) {
		snprintf(err, errlen, "%s is not a faultline state file of version %u", path, FL_STATE_VERSION);
		errno = EPROTO;
		return -1;
	}
	unsigned long long started;
	if (kill(pid, 0) != 0 && errno == ESRCH) {
		snprintf(err, errlen, "process %d has ended (%s is left over)", (int)pid, path);
		errno = ESTALE;
		return -1;
	}
	/* A reused pid: the process running now started after the file's. */
	if (started_real_ns(pid, &started) == 0 && started > out->start_real_ns + 2000000000ull) {
		snprintf(err, errlen, "process %d is not the one that wrote %s", (int)pid, path);
		errno = ESTALE;
		return -1;
	}
	return 0;
}
