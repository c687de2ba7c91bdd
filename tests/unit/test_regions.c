/*
 * Managed mappings behave like the kernel's anonymous mappings: partial
 * munmap (head, tail, middle), MAP_FIXED over managed memory, mremap that
 * shrinks, grows in place and moves, mprotect, and fork, with pages in
 * every state (resident, inactive, compressed, same-filled, untouched) and
 * each engine (uffd, signal, uffd-sigbus).  Contents are checked page by
 * page.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fltest.h"

static void fill(unsigned char *m, size_t first, size_t n, unsigned gen)
{
	for (size_t i = first; i < first + n; i++)
		t_fill(m + i * TPS, (i % 5 == 0) ? DATA_ZERO : DATA_TEXT, i, gen);
}

static size_t bad_pages(const unsigned char *m, size_t first, size_t n, unsigned gen, size_t shift)
{
	unsigned char exp[TPS];
	size_t bad = 0;
	for (size_t i = first; i < first + n; i++) {
		size_t orig = i + shift;
		t_fill(exp, (orig % 5 == 0) ? DATA_ZERO : DATA_TEXT, orig, gen);
		bad += memcmp(m + i * TPS, exp, TPS) != 0;
	}
	return bad;
}

/* A 256-page mapping with pages in every state: the first 64 untouched,
 * the rest written, then most of them evicted. */
static unsigned char *mixed(void)
{
	unsigned char *m = fl_pager_map(256 * TPS);
	cr_assert_not_null(m);
	fill(m, 64, 192, 0);
	fl_pager_reclaim(40);
	struct fl_stats s;
	fl_stats_get(&s);
	cr_assert_gt(s.compressed_pages + s.same_filled_pages, 0);
	return m;
}

static void check_mixed(const unsigned char *m, size_t first, size_t n, size_t shift)
{
	for (size_t i = first; i < first + n; i++) {
		size_t orig = i + shift;
		if (orig < 64) {
			cr_expect_eq(m[i * TPS + 100], 0, "untouched page %zu", orig);
		} else {
			cr_expect_eq(bad_pages(m, i, 1, 0, shift), 0, "page %zu", orig);
		}
	}
}

static enum fl_engine_choice engines[] = {FL_ENGINE_CHOICE_UFFD, FL_ENGINE_CHOICE_SIGNAL,
					   FL_ENGINE_CHOICE_UFFD_SIGBUS};

/* A test run once per engine; the body gets the engine as *eng. */
#define EACH_ENGINE(name)                                                     \
	ParameterizedTestParameters(regions, name)                            \
	{                                                                     \
		return cr_make_param_array(enum fl_engine_choice, engines, 3); \
	}                                                                     \
	ParameterizedTest(enum fl_engine_choice *eng, regions, name)

EACH_ENGINE(partial_unmap)
{
	cr_assert_eq(t_start(*eng, 64 * TPS), 0);
	unsigned char *m = mixed();
	/* Head, tail, middle. */
	cr_assert_eq(fl_pager_unmap(m, 16 * TPS), 0);
	cr_assert_eq(fl_pager_unmap(m + 240 * TPS, 16 * TPS), 0);
	cr_assert_eq(fl_pager_unmap(m + 100 * TPS, 20 * TPS), 0);
	cr_expect_not(fl_pager_owns(m));
	cr_expect_not(fl_pager_owns(m + 110 * TPS));
	cr_expect(fl_pager_owns(m + 99 * TPS));
	cr_expect(fl_pager_owns(m + 120 * TPS));
	check_mixed(m, 16, 84, 0);
	check_mixed(m, 120, 120, 0);
	/* The pieces still page under the budget. */
	fill(m, 120, 120, 3);
	fl_pager_reclaim(0);
	cr_expect_eq(bad_pages(m, 120, 120, 3, 0), 0);
	check_mixed(m, 16, 84, 0);
	struct fl_stats s;
	fl_stats_get(&s);
	cr_expect_eq(s.managed_pages, 84 + 120);
	cr_expect_eq(s.errors, 0);
	/* Unmapping the rest frees everything. */
	cr_assert_eq(fl_pager_unmap(m, 256 * TPS), 0);
	fl_stats_get(&s);
	cr_expect_eq(s.managed_pages, 0);
	cr_expect_eq(s.compressed_pages + s.same_filled_pages + s.resident_pages + s.inactive_pages, 0);
	cr_expect_eq(s.compressed_bytes, 0);
	fl_pager_shutdown();
}

EACH_ENGINE(map_fixed_over_managed)
{
	cr_assert_eq(t_start(*eng, 64 * TPS), 0);
	unsigned char *m = mixed();
	void *p = fl_pager_map_at(m + 128 * TPS, 32 * TPS, MAP_FIXED, 0);
	cr_assert_eq(p, m + 128 * TPS);
	for (size_t i = 128; i < 160; i++)
		cr_expect_eq(m[i * TPS + 9], 0, "a fresh mapping reads zero");
	check_mixed(m, 0, 128, 0);
	check_mixed(m, 160, 96, 0);
	fill(m, 128, 32, 7);
	fl_pager_reclaim(0);
	cr_expect_eq(bad_pages(m, 128, 32, 7, 0), 0);
	/* NOREPLACE over managed memory is refused. */
	errno = 0;
	cr_expect_eq(fl_pager_map_at(m, TPS, MAP_FIXED_NOREPLACE, 0), MAP_FAILED);
	cr_expect_eq(errno, EEXIST);
	fl_pager_shutdown();
}

EACH_ENGINE(mremap_shrink_grow_move)
{
	cr_assert_eq(t_start(*eng, 64 * TPS), 0);
	unsigned char *m = mixed();
	/* Shrink in place. */
	cr_assert_eq(fl_pager_remap(m, 256 * TPS, 200 * TPS, 0, NULL), m);
	check_mixed(m, 0, 200, 0);
	cr_expect_not(fl_pager_owns(m + 210 * TPS));
	/* Grow in place (the space after was just freed). */
	void *g = fl_pager_remap(m, 200 * TPS, 230 * TPS, 0, NULL);
	if (g != MAP_FAILED) {
		cr_expect_eq(g, m);
		for (size_t i = 200; i < 230; i++)
			cr_expect_eq(m[i * TPS], 0);
		fill(m, 200, 30, 1);
		cr_expect_eq(bad_pages(m, 200, 30, 1, 0), 0);
	}
	/* Move and grow: every state travels. */
	fl_pager_reclaim(30);
	unsigned char *n = fl_pager_remap(m, 200 * TPS, 400 * TPS, MREMAP_MAYMOVE, NULL);
	cr_assert_neq(n, MAP_FAILED);
	cr_expect(fl_pager_owns(n));
	check_mixed(n, 0, 200, 0);
	for (size_t i = 200; i < 400; i++)
		cr_expect_eq(n[i * TPS + 1], 0, "grown part reads zero");
	fill(n, 300, 100, 2);
	fl_pager_reclaim(0);
	check_mixed(n, 0, 200, 0);
	cr_expect_eq(bad_pages(n, 300, 100, 2, 0), 0);
	/* MREMAP_FIXED to a chosen place, shrinking at the same time. */
	unsigned char *target = fl_pager_map(64 * TPS);
	unsigned char *f = fl_pager_remap(n + 64 * TPS, 64 * TPS, 32 * TPS,
					  MREMAP_MAYMOVE | MREMAP_FIXED, target);
	cr_assert_eq(f, target);
	check_mixed(f, 0, 32, 64);
	/* The rest of the mapping that was at target is still there. */
	cr_expect(fl_pager_owns(target + 40 * TPS));
	cr_expect_eq(target[40 * TPS + 3], 0);
	struct fl_stats s;
	fl_stats_get(&s);
	cr_expect_eq(s.errors, 0);
	fl_pager_shutdown();
}

static sigjmp_buf jb;
static volatile sig_atomic_t got_segv;

static void on_segv(int sig)
{
	(void)sig;
	got_segv = 1;
	siglongjmp(jb, 1);
}

EACH_ENGINE(mprotect_is_honoured)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_segv;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	cr_assert_eq(t_start(*eng, 64 * TPS), 0);
	unsigned char *m = mixed();
	/* Read-only over pages in every state. */
	cr_assert_eq(fl_pager_protect(m + 32 * TPS, 128 * TPS, PROT_READ), 0);
	check_mixed(m, 32, 128, 0);
	got_segv = 0;
	if (!sigsetjmp(jb, 1))
		((volatile unsigned char *)m)[100 * TPS] = 1;
	cr_expect_eq(got_segv, 1, "write to a read-only managed page must fault");
	got_segv = 0;
	if (!sigsetjmp(jb, 1))
		((volatile unsigned char *)m)[40 * TPS] = 1; /* untouched, read-only */
	cr_expect_eq(got_segv, 1);
	/* Read-only pages are kept resident under pressure. */
	fill(m, 200, 56, 4);
	fl_pager_reclaim(0);
	check_mixed(m, 32, 128, 0);
	/* PROT_NONE: even reads fault. */
	cr_assert_eq(fl_pager_protect(m + 64 * TPS, 8 * TPS, PROT_NONE), 0);
	got_segv = 0;
	if (!sigsetjmp(jb, 1))
		(void)((volatile unsigned char *)m)[65 * TPS];
	cr_expect_eq(got_segv, 1);
	/* Back to read-write: contents intact and writable. */
	cr_assert_eq(fl_pager_protect(m, 256 * TPS, PROT_READ | PROT_WRITE), 0);
	check_mixed(m, 0, 200, 0);
	fill(m, 64, 100, 5);
	fl_pager_reclaim(0);
	cr_expect_eq(bad_pages(m, 64, 100, 5, 0), 0);
	fl_pager_shutdown();
}

EACH_ENGINE(fork_child_reads_every_byte)
{
	cr_assert_eq(t_start(*eng, 64 * TPS), 0);
	unsigned char *m = mixed();
	/* Half the pages inactive or compressed at the fork. */
	fl_pager_fork_prepare();
	pid_t pid = fork();
	if (pid == 0) {
		fl_pager_fork_child();
		size_t bad = bad_pages(m, 64, 192, 0, 0);
		for (size_t i = 0; i < 64; i++)
			bad += m[i * TPS + 5] != 0;
		/* The child re-arms and pages under its own budget. */
		unsigned char *c = fl_pager_map(256 * TPS);
		fill(c, 0, 256, 9);
		fl_pager_reclaim(0);
		bad += bad_pages(c, 0, 256, 9, 0);
		/* Writes in the child do not reach the parent. */
		fill(m, 64, 192, 8);
		bad += bad_pages(m, 64, 192, 8, 0);
		struct fl_stats s;
		fl_stats_get(&s);
		if (s.pages_evicted == 0)
			bad += 1000;
		_exit(bad ? 1 : 0);
	}
	fl_pager_fork_parent();
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child saw wrong bytes (status %d)", st);
	/* The parent's pages are its own and still page. */
	fl_pager_reclaim(0);
	check_mixed(m, 0, 256, 0);
	fl_pager_shutdown();
}

/* One entry point for madvise: managed pages are dropped with their held
 * copies, other memory goes to the kernel, huge-page advice is ignored. */
EACH_ENGINE(advise_managed_and_plain)
{
	cr_assert_eq(t_start(*eng, 64 * TPS), 0);
	unsigned char *m = mixed();
	cr_expect_eq(fl_pager_advise(m, 256 * TPS, MADV_HUGEPAGE), 0);
	check_mixed(m, 0, 256, 0);
	cr_assert_eq(fl_pager_advise(m + 100 * TPS, 50 * TPS, MADV_DONTNEED), 0);
	for (size_t i = 100; i < 150; i++)
		cr_expect_eq(m[i * TPS + 17], 0, "page %zu after MADV_DONTNEED", i);
	check_mixed(m, 64, 36, 0);
	check_mixed(m, 150, 106, 0);
	unsigned char *plain = mmap(NULL, 4 * TPS, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(plain, 7, 4 * TPS);
	cr_assert_eq(fl_pager_advise(plain, 4 * TPS, MADV_DONTNEED), 0);
	cr_expect_eq(plain[TPS], 0, "plain memory: the kernel's MADV_DONTNEED");
	struct fl_stats s;
	fl_stats_get(&s);
	cr_expect_eq(s.errors, 0);
	fl_pager_shutdown();
}
