/*
 * The system calls the shim depends on, behind one table so tests can make
 * the Nth call of a kind fail (once, or from then on) with a chosen errno.
 * Every call is a raw syscall (sigaction: the C library's own, see sys.c):
 * the shim must reach the kernel even after it interposes the libc
 * functions of the same names.
 */
#ifndef FL_SYS_H
#define FL_SYS_H

#include <stddef.h>
#include <sys/types.h>

enum fl_sys_id {
	FL_SYS_MMAP,
	FL_SYS_MUNMAP,
	FL_SYS_MREMAP,
	FL_SYS_MADVISE,
	FL_SYS_MPROTECT,
	FL_SYS_IOCTL,
	FL_SYS_UFFD,     /* the userfaultfd(2) syscall and /dev/userfaultfd */
	FL_SYS_MEMFD,
	FL_SYS_FTRUNCATE,
	FL_SYS_FALLOCATE,
	FL_SYS_READ,
	FL_SYS_PMADVISE, /* process_madvise */
	FL_SYS_OPEN,     /* the spill file's open (openat) */
	FL_SYS_PWRITE,   /* writes to the spill file */
	FL_SYS_PREAD,    /* reads from the spill file */
	FL_SYS__COUNT
};

/* One entry of the table: the name and how often it has been called. */
struct fl_sys_entry {
	const char *name;
	unsigned long calls;
};

void *fl__sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int fl__sys_munmap(void *addr, size_t len);
void *fl__sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
int fl__sys_madvise(void *addr, size_t len, int advice);
int fl__sys_mprotect(void *addr, size_t len, int prot);
/* MADV_* over many ranges of this process, one TLB flush for all (6.13+);
 * returns the bytes advised. */
struct iovec;
long fl__sys_process_madvise(int pidfd, const struct iovec *iov, size_t n, int advice);
int fl__sys_pidfd_self(void); /* a pidfd for this process, or -1 */
int fl__sys_ioctl(int fd, unsigned long req, void *arg);
int fl__sys_userfaultfd(int flags);
int fl__sys_open_uffd_dev(int flags); /* /dev/userfaultfd + USERFAULTFD_IOC_NEW */
int fl__sys_memfd(const char *name, unsigned flags);
int fl__sys_ftruncate(int fd, off_t len);
int fl__sys_fallocate(int fd, int mode, off_t off, off_t len);
ssize_t fl__sys_read(int fd, void *buf, size_t len);
int fl__sys_openat(int dirfd, const char *path, int flags, unsigned mode);
ssize_t fl__sys_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t fl__sys_pread(int fd, void *buf, size_t len, off_t off);
int fl__sys_close(int fd);
/*
 * sigaction for the shim's own handlers (the signal engine's SIGSEGV, the
 * fault log's stack signal): the C library's, never the shim's interposed
 * one, which is there for the program.
 */
struct sigaction;
int fl__sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/*
 * Move a descriptor the shim keeps to a high number (close-on-exec), away
 * from the low numbers programs close and reuse by habit.  Returns the new
 * descriptor, or fd unchanged when that is not possible.
 */
int fl__sys_highfd(int fd);

/*
 * Make the nth next call of id fail with err (nth = 1: the very next one).
 * forever: that call and every later one fail.  For FL_SYS_IOCTL, req
 * restricts the failure to one request code (0: any).  One rule per id.
 */
void fl__sys_fail(enum fl_sys_id id, unsigned nth, int forever, int err,
		  unsigned long req);
/* Make calls nth .. nth+count-1 of id fail with err (then succeed again). */
void fl__sys_fail_n(enum fl_sys_id id, unsigned nth, unsigned count, int err,
		    unsigned long req);
/*
 * Make ioctl calls nth .. nth+count-1 with request req happen and then
 * report failure with err anyway: a kernel that did the work and says it
 * did not (UFFDIO_MOVE on Linux 6.17+ can, see engine_uffd.c).
 */
void fl__sys_lie_n(unsigned nth, unsigned count, int err, unsigned long req);
void fl__sys_fail_reset(void);
const struct fl_sys_entry *fl__sys_table(void);

#endif
