/*
 * movecheck: does this kernel's UFFDIO_MOVE report failure for pages it
 * did move?  (Linux 6.17+ can: a move that starts over because the source
 * entry changed under it moves the page, then retries the now-full
 * destination and returns EEXIST.)  The engine copes (move_checked in
 * preload/engine_uffd.c); this program shows what the running kernel does,
 * without the shim.
 *
 * One thread keeps writing page X, another ages X and Y (MADV_COLD,
 * MADV_PAGEOUT), the main thread moves the page X -> Y -> X.  After every
 * failed move the page tables say whether the page moved.
 *
 * usage: movecheck [ROUND_TRIPS]   exit 0: counted; 2: no UFFDIO_MOVE here;
 * 1: a move failed and did not happen where it should have (unexpected).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd_compat.h"

#define PS 4096

static int ufd;
static char *X, *Y;
static volatile int stop;

static void *writer(void *arg)
{
	(void)arg;
	for (unsigned long i = 0; !stop; i++)
		X[(i * 64) % PS] = (char)i;
	return NULL;
}

static void *ager(void *arg)
{
	(void)arg;
	while (!stop) {
		madvise(X, 2 * PS, MADV_COLD);
		madvise(X, 2 * PS, MADV_PAGEOUT);
	}
	return NULL;
}

static int present(const void *p)
{
	unsigned char v = 0;
	return mincore((void *)p, PS, &v) == 0 && (v & 1);
}

/* Move the page from src to dst: 0 moved and said so, 1 moved but the
 * kernel said it failed, 2 did not move (EBUSY and the like: try again),
 * -1 neither here nor there. */
static int move(char *dst, char *src, int wake)
{
	struct uffdio_move m = {.dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = PS,
				.mode = wake ? 0 : UFFDIO_MOVE_MODE_DONTWAKE};
	if (ioctl(ufd, UFFDIO_MOVE, &m) == 0)
		return 0;
	int e = errno;
	if (!present(src) && present(dst)) {
		if (wake) {
			struct uffdio_range r = {.start = (uintptr_t)dst, .len = PS};
			ioctl(ufd, UFFDIO_WAKE, &r);
		}
		return e == EEXIST ? 1 : -1;
	}
	if (present(src) && !present(dst))
		return 2;
	fprintf(stderr, "movecheck: MOVE failed (%s) and the page is in neither place\n",
		strerror(e));
	return -1;
}

int main(int argc, char **argv)
{
	long trips = argc > 1 ? atol(argv[1]) : 100000;
	ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_MOVE};
	if (ufd < 0 || ioctl(ufd, UFFDIO_API, &api) != 0) {
		fprintf(stderr, "movecheck: no userfaultfd with UFFDIO_MOVE: %s\n", strerror(errno));
		return 2;
	}
	char *m = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 2;
	madvise(m, 2 * PS, MADV_NOHUGEPAGE);
	X = m;
	Y = m + PS;
	struct uffdio_register reg = {.range = {.start = (uintptr_t)m, .len = 2 * PS},
				      .mode = UFFDIO_REGISTER_MODE_MISSING};
	static char zeros[PS];
	struct uffdio_copy c = {.dst = (uintptr_t)X, .src = (uintptr_t)zeros, .len = PS};
	if (ioctl(ufd, UFFDIO_REGISTER, &reg) != 0 || ioctl(ufd, UFFDIO_COPY, &c) != 0) {
		fprintf(stderr, "movecheck: cannot set up: %s\n", strerror(errno));
		return 2;
	}
	pthread_t w, a;
	pthread_create(&w, NULL, writer, NULL);
	pthread_create(&a, NULL, ager, NULL);
	long moves = 0, misreported = 0, busy = 0;
	int rc = 0;
	for (long i = 0; i < trips && rc == 0; i++) {
		int r = move(Y, X, 0); /* out: nobody waits on Y */
		if (r == 2) {
			busy++;
			continue;
		}
		if (r < 0) {
			rc = 1;
			break;
		}
		moves++;
		misreported += r;
		do { /* back, waking the writer */
			r = move(X, Y, 1);
			busy += r == 2;
		} while (r == 2);
		if (r < 0) {
			rc = 1;
			break;
		}
		moves++;
		misreported += r;
	}
	stop = 1;
	if (!present(X) && present(Y))
		move(X, Y, 1);
	struct uffdio_range r = {.start = (uintptr_t)X, .len = PS};
	ioctl(ufd, UFFDIO_WAKE, &r);
	pthread_join(w, NULL);
	pthread_join(a, NULL);
	printf("%ld moves, %ld reported failed although the page moved (%.2f%%), %ld refused\n",
	       moves, misreported, moves ? 100.0 * (double)misreported / (double)moves : 0.0, busy);
	return rc;
}
