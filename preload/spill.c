/*
 * The spill file (spill.h).  Block counts are uint16: a block of 4 KiB
 * holds at most 4096 / 16 payloads (none is that small: a same-filled page
 * is never spilled, and LZ4's smallest page is larger).
 */
#include "spill.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.h"
#include "mem.h"
#include "sys.h"

#define BLK FL_SPILL_BLOCK
#define MAX_FILES 16
/* Freed space goes back to the file system a chunk of this many blocks
 * at a time, once none of them is in use: a hole punched per block cost
 * ext4 0.3 ms each (a punch waits for the file's direct I/O in flight),
 * more than the read that freed it. */
#define CHUNK 64u

struct sfile {
	int fd;           /* -1: a free entry */
	int frozen;       /* shared since a fork: only read, then closed */
	uint16_t *count;  /* per block: payloads with bytes in it */
	uint8_t *chunk;   /* per CHUNK blocks: those with a nonzero count */
	size_t count_len; /* both arrays' mapping */
	uint64_t used;    /* blocks with a nonzero count */
	uint64_t cursor;  /* next-fit */
};

struct fl_spill {
	fl_lock_t lock;
	char dir[256];
	uint64_t max_blocks; /* the cap, all files together; also each file's length in blocks */
	uint64_t used_blocks;
	int cur;             /* the file written now, or -1 */
	struct sfile f[MAX_FILES];
	uint64_t payloads, payload_bytes, writes, write_errors, reads, read_errors;
};

struct fl_spill *fl_spill_create(const char *dir, uint64_t max_bytes)
{
	struct fl_spill *sp = fl__mem_alloc(sizeof *sp);
	if (!sp)
		return NULL;
	snprintf(sp->dir, sizeof sp->dir, "%s", dir);
	sp->max_blocks = max_bytes / BLK;
	sp->cur = -1;
	for (int i = 0; i < MAX_FILES; i++)
		sp->f[i].fd = -1;
	return sp;
}

static void file_close(struct sfile *f)
{
	if (f->fd >= 0)
		fl__sys_close(f->fd);
	if (f->count)
		fl__sys_munmap(f->count, f->count_len);
	memset(f, 0, sizeof *f);
	f->fd = -1;
}

void fl_spill_destroy(struct fl_spill *sp)
{
	if (!sp)
		return;
	for (int i = 0; i < MAX_FILES; i++)
		file_close(&sp->f[i]);
	fl__mem_free(sp, sizeof *sp);
}

/* Open a file with no name in sp->dir: O_TMPFILE, else a name unlinked
 * at once.  The fd, or -1 with errno. */
static int open_nameless(const struct fl_spill *sp, int slot, int extra)
{
	int fd = fl__sys_openat(AT_FDCWD, sp->dir, O_TMPFILE | O_RDWR | O_CLOEXEC | extra, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	char path[300];
	snprintf(path, sizeof path, "%s/faultline-spill-%ld-%d", sp->dir, (long)syscall(SYS_getpid), slot);
	fd = fl__sys_openat(AT_FDCWD, path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | extra, 0600);
	if (fd >= 0)
		syscall(SYS_unlinkat, AT_FDCWD, path, 0);
	return fd;
}

/* A new file in sp->dir, O_DIRECT where the file system takes it.  Its
 * number, or a negative errno (lock held). */
static int file_open(struct fl_spill *sp)
{
	int i = 0;
	while (i < MAX_FILES && sp->f[i].fd >= 0)
		i++;
	if (i == MAX_FILES)
		return -ENOSPC; /* frozen files all still in use */
	int fd = open_nameless(sp, i, O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		fd = open_nameless(sp, i, 0);
	if (fd < 0)
		return -errno;
	struct sfile *f = &sp->f[i];
	size_t counts = sp->max_blocks * sizeof(uint16_t);
	f->count_len = (counts + sp->max_blocks / CHUNK + 1 + 4095) & ~(size_t)4095;
	f->count = fl__sys_mmap(NULL, f->count_len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f->count == MAP_FAILED) {
		f->count = NULL;
		fl__sys_close(fd);
		return -ENOMEM;
	}
	f->chunk = (uint8_t *)f->count + counts;
	f->fd = fl__sys_highfd(fd);
	f->frozen = 0;
	f->used = 0;
	f->cursor = 0;
	return i;
}

/* k free blocks in a row in f, next-fit; the first, or -1. */
static int64_t run_alloc(struct fl_spill *sp, struct sfile *f, uint64_t k)
{
	uint64_t n = sp->max_blocks;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t b = pass ? 0 : f->cursor;
		uint64_t stop = pass ? f->cursor + k : n;
		if (stop > n)
			stop = n;
		while (b + k <= stop) {
			uint64_t j = 0;
			while (j < k && f->count[b + j] == 0)
				j++;
			if (j == k)
				return (int64_t)b;
			b += j + 1;
		}
	}
	return -1;
}

/* Count (d = +1) or uncount (-1) the blocks of one payload (lock held);
 * chunks left with no block in use are punched out of a file still
 * written. */
static void count_payload(struct fl_spill *sp, struct sfile *f, uint64_t off, uint32_t size, int d)
{
	uint64_t b0 = off / BLK, b1 = (off + size - 1) / BLK;
	uint64_t hole_lo = 0, hole_n = 0;
	for (uint64_t b = b0; b <= b1; b++) {
		if (d > 0) {
			if (f->count[b]++ == 0) {
				f->used++;
				sp->used_blocks++;
				f->chunk[b / CHUNK]++;
			}
			continue;
		}
		if (f->count[b] == 0)
			continue; /* never meant to happen: nothing counted there */
		if (--f->count[b] == 0) {
			f->used--;
			sp->used_blocks--;
			if (--f->chunk[b / CHUNK] == 0) {
				if (!hole_n)
					hole_lo = b / CHUNK;
				hole_n++;
			}
		}
	}
	if (hole_n && !f->frozen)
		fl__sys_fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t)(hole_lo * CHUNK * BLK), (off_t)(hole_n * CHUNK * BLK));
}

int fl_spill_write(struct fl_spill *sp, void *buf, const uint32_t *sizes, size_t n, uint64_t *locs)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += sizes[i];
	if (!n || !total)
		return -EINVAL;
	uint64_t k = (total + BLK - 1) / BLK;
	fl_lock(&sp->lock);
	if (sp->cur < 0 || sp->f[sp->cur].frozen) {
		int i = file_open(sp);
		if (i < 0) {
			sp->write_errors++;
			fl_unlock(&sp->lock);
			return i;
		}
		sp->cur = i;
	}
	struct sfile *f = &sp->f[sp->cur];
	int64_t b = sp->used_blocks + k <= sp->max_blocks ? run_alloc(sp, f, k) : -1;
	if (b < 0) {
		sp->write_errors++;
		fl_unlock(&sp->lock);
		return -ENOSPC;
	}
	uint64_t base = (uint64_t)b * BLK, off = base;
	for (size_t i = 0; i < n; i++) {
		count_payload(sp, f, off, sizes[i], +1);
		locs[i] = fl_spill_loc((unsigned)sp->cur, off);
		off += sizes[i];
	}
	f->cursor = (uint64_t)b + k;
	int fd = f->fd;
	fl_unlock(&sp->lock);

	/* Whole blocks (O_DIRECT wants them; the tail of the last is no
	 * other batch's): a short write of a direct file stops at a block. */
	uint64_t len = k * BLK, done = 0;
	memset((char *)buf + total, 0, len - total);
	int err = 0;
	while (done < len) {
		ssize_t w = fl__sys_pwrite(fd, (const char *)buf + done, len - done, (off_t)(base + done));
		if (w > 0) {
			done += (uint64_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		err = w < 0 ? errno : ENOSPC;
		break;
	}
	fl_lock(&sp->lock);
	if (err) {
		off = base;
		for (size_t i = 0; i < n; i++) {
			count_payload(sp, f, off, sizes[i], -1);
			off += sizes[i];
		}
		sp->write_errors++;
	} else {
		sp->writes++;
		sp->payloads += n;
		sp->payload_bytes += total;
	}
	fl_unlock(&sp->lock);
	return err ? -err : 0;
}

long fl_spill_read_blocks(struct fl_spill *sp, unsigned file, uint64_t off, size_t len, void *buf)
{
	if (file >= MAX_FILES || (off | len) % BLK)
		return -EINVAL;
	int fd = __atomic_load_n(&sp->f[file].fd, __ATOMIC_ACQUIRE);
	if (fd < 0)
		return -EBADF;
	size_t done = 0;
	while (done < len) {
		ssize_t r = fl__sys_pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r == 0)
			break; /* the file's end */
		if (errno == EINTR)
			continue;
		__atomic_fetch_add(&sp->read_errors, 1, __ATOMIC_RELAXED);
		return -errno;
	}
	__atomic_fetch_add(&sp->reads, 1, __ATOMIC_RELAXED);
	return (long)done;
}

_Static_assert(sizeof(struct iocb) == sizeof(((struct fl_spill_reader *)0)->cbs[0]), "iocb size");
_Static_assert(sizeof(struct io_event) == sizeof(((struct fl_spill_reader *)0)->evs[0]), "io_event size");

static int reader_ready(struct fl_spill_reader *rd)
{
	long pid = (long)syscall(SYS_getpid);
	if (rd->pid != pid) {
		/* A forked child has none of its parent's AIO contexts. */
		rd->aio = 0;
		rd->broken = 0;
		rd->pid = pid;
	}
	if (!rd->aio && !rd->broken) {
		aio_context_t c = 0;
		if (syscall(SYS_io_setup, FL_SPILL_RUNS, &c) == 0)
			rd->aio = c;
		else
			rd->broken = 1;
	}
	return rd->aio != 0;
}

/* Submit runs[0..n) to the reader's context and wait for them all.
 * How many were submitted (the rest are not). */
static size_t aio_runs(struct fl_spill *sp, struct fl_spill_reader *rd, struct fl_spill_run *runs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct iocb *cb = (struct iocb *)rd->cbs[i];
		memset(cb, 0, sizeof *cb);
		cb->aio_data = i;
		cb->aio_lio_opcode = IOCB_CMD_PREAD;
		cb->aio_fildes = (uint32_t)__atomic_load_n(&sp->f[fl_spill_loc_file(runs[i].loc)].fd, __ATOMIC_ACQUIRE);
		cb->aio_buf = (uint64_t)(uintptr_t)runs[i].buf;
		cb->aio_nbytes = runs[i].len;
		cb->aio_offset = (int64_t)fl_spill_loc_off(runs[i].loc);
		rd->cbp[i] = cb;
	}
	long sub;
	do
		sub = syscall(SYS_io_submit, rd->aio, (long)n, rd->cbp);
	while (sub < 0 && errno == EINTR);
	if (sub <= 0) {
		rd->broken = 1;
		return 0;
	}
	for (long left = sub; left > 0;) {
		long got = syscall(SYS_io_getevents, rd->aio, 1L, left, (struct io_event *)rd->evs, NULL);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			/* Never seen: the context is unusable.  Destroying it
			 * waits for the reads still in flight (they write into
			 * the caller's buffers); those count as failed. */
			syscall(SYS_io_destroy, rd->aio);
			rd->aio = 0;
			rd->broken = 1;
			for (size_t i = 0; i < (size_t)sub; i++)
				if (runs[i].got == -EBADF)
					runs[i].got = -EIO;
			break;
		}
		for (long e = 0; e < got; e++) {
			const struct io_event *ev = (const struct io_event *)rd->evs[e];
			runs[ev->data].got = (long)ev->res;
		}
		left -= got;
	}
	return (size_t)sub;
}

void fl_spill_read_runs(struct fl_spill *sp, struct fl_spill_reader *rd, struct fl_spill_run *runs, size_t n)
{
	size_t done = 0;
	for (size_t i = 0; i < n; i++)
		runs[i].got = -EBADF;
	for (size_t i = 0; i < n; i++)
		if (fl_spill_loc_file(runs[i].loc) >= MAX_FILES ||
		    __atomic_load_n(&sp->f[fl_spill_loc_file(runs[i].loc)].fd, __ATOMIC_ACQUIRE) < 0)
			return; /* never meant to happen: the caller holds payloads there */
	if (n > 1 && reader_ready(rd)) {
		done = aio_runs(sp, rd, runs, n);
		for (size_t i = 0; i < done; i++) {
			if (runs[i].got < 0)
				__atomic_fetch_add(&sp->read_errors, 1, __ATOMIC_RELAXED);
			else
				__atomic_fetch_add(&sp->reads, 1, __ATOMIC_RELAXED);
		}
	}
	for (size_t i = done; i < n; i++)
		runs[i].got = fl_spill_read_blocks(sp, fl_spill_loc_file(runs[i].loc), fl_spill_loc_off(runs[i].loc),
						   runs[i].len, runs[i].buf);
}

void fl_spill_reader_close(struct fl_spill_reader *rd)
{
	if (rd->aio && rd->pid == (long)syscall(SYS_getpid))
		syscall(SYS_io_destroy, rd->aio);
	rd->aio = 0;
}

void fl_spill_free(struct fl_spill *sp, uint64_t loc, uint32_t size)
{
	unsigned fi = fl_spill_loc_file(loc);
	if (fi >= MAX_FILES || !size)
		return;
	fl_lock(&sp->lock);
	struct sfile *f = &sp->f[fi];
	if (f->fd >= 0 && fl_spill_loc_off(loc) + size <= sp->max_blocks * BLK) {
		count_payload(sp, f, fl_spill_loc_off(loc), size, -1);
		sp->payloads--;
		sp->payload_bytes -= size;
		if (!f->used && (int)fi != sp->cur)
			file_close(f);
	}
	fl_unlock(&sp->lock);
}

void fl_spill_fork_prepare(struct fl_spill *sp)
{
	fl_lock(&sp->lock);
	if (sp->cur >= 0) {
		struct sfile *f = &sp->f[sp->cur];
		if (f->used)
			f->frozen = 1;
		else
			file_close(f);
		sp->cur = -1;
	}
	fl_unlock(&sp->lock);
}

void fl_spill_fork_child(struct fl_spill *sp)
{
	sp->lock.v = 0;
}

int fl_spill_owns_fd(const struct fl_spill *sp, int fd)
{
	for (int i = 0; sp && i < MAX_FILES; i++)
		if (fd >= 0 && sp->f[i].fd == fd)
			return 1;
	return 0;
}

void fl_spill_stats(struct fl_spill *sp, struct fl_spill_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!sp)
		return;
	fl_lock(&sp->lock);
	out->payloads = sp->payloads;
	out->payload_bytes = sp->payload_bytes;
	out->file_bytes = sp->used_blocks * BLK;
	out->writes = sp->writes;
	out->write_errors = sp->write_errors;
	for (int i = 0; i < MAX_FILES; i++)
		out->files += sp->f[i].fd >= 0;
	fl_unlock(&sp->lock);
	out->reads = __atomic_load_n(&sp->reads, __ATOMIC_RELAXED);
	out->read_errors = __atomic_load_n(&sp->read_errors, __ATOMIC_RELAXED);
}
