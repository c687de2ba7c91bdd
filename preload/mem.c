/*
 * The shim's table allocator (see mem.h): a reserved range carved into
 * power-of-two page blocks, with one list of free blocks per size.
 */
#include "mem.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "lock.h"
#include "sys.h"

__thread int fl__in_shim;

#define PAGE 4096u
#define ARENA_BYTES (64ull << 30)
#define CLASSES 40

static fl_lock_t lock = FL_LOCK_INIT;
static char *arena;
static size_t bump;
/* Free blocks are listed here, outside the blocks: writing a link into a
 * block would make its first page present, and a block reused as the
 * uffd stash must be entirely empty. */
#define FREE_PER_CLASS 64
static void *freeblocks[CLASSES][FREE_PER_CLASS];
static unsigned nfree[CLASSES];

static unsigned class_of(size_t len, size_t *block)
{
	size_t pages = (len + PAGE - 1) / PAGE;
	unsigned c = 0;
	while (((size_t)1 << c) < pages)
		c++;
	*block = ((size_t)1 << c) * PAGE;
	return c;
}

void *fl__mem_alloc(size_t len)
{
	if (len == 0)
		len = 1;
	size_t block;
	unsigned c = class_of(len, &block);
	if (c >= CLASSES)
		return NULL;
	fl_lock(&lock);
	if (!arena) {
		void *a = fl__sys_mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (a == MAP_FAILED) {
			fl_unlock(&lock);
			return NULL;
		}
		arena = a;
	}
	void *p = NULL;
	if (nfree[c]) {
		p = freeblocks[c][--nfree[c]];
	} else if (bump + block <= ARENA_BYTES) {
		p = arena + bump;
		bump += block;
	}
	fl_unlock(&lock);
	return p;
}

void fl__mem_free(void *p, size_t len)
{
	if (!p)
		return;
	size_t block;
	unsigned c = class_of(len ? len : 1, &block);
	/* Give the memory back; the block reads as zero when reused. */
	fl__sys_madvise(p, block, MADV_DONTNEED);
	fl_lock(&lock);
	/* A full list leaks the block's addresses, not its memory. */
	if (nfree[c] < FREE_PER_CLASS)
		freeblocks[c][nfree[c]++] = p;
	fl_unlock(&lock);
}

#define NOTES 16
static struct {
	uintptr_t start, end;
} notes[NOTES];

void fl__mem_note(void *p, size_t len)
{
	fl_lock(&lock);
	for (unsigned i = 0; i < NOTES; i++)
		if (!notes[i].start) {
			notes[i].start = (uintptr_t)p;
			notes[i].end = (uintptr_t)p + len;
			break;
		}
	fl_unlock(&lock);
}

void fl__mem_unnote(void *p)
{
	fl_lock(&lock);
	for (unsigned i = 0; i < NOTES; i++)
		if (notes[i].start == (uintptr_t)p)
			notes[i].start = notes[i].end = 0;
	fl_unlock(&lock);
}

size_t fl__mem_ranges(uintptr_t *start, uintptr_t *end, size_t max)
{
	size_t n = 0;
	fl_lock(&lock);
	if (arena) {
		if (n < max) {
			start[n] = (uintptr_t)arena;
			end[n] = (uintptr_t)arena + ARENA_BYTES;
		}
		n++;
	}
	for (unsigned i = 0; i < NOTES; i++)
		if (notes[i].start) {
			if (n < max) {
				start[n] = notes[i].start;
				end[n] = notes[i].end;
			}
			n++;
		}
	fl_unlock(&lock);
	return n;
}
