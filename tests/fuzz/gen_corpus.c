/*
 * Writes the seed corpus of the wire fuzz target (tests/fuzz/corpus/wire):
 * valid streams using every record type, built with the real encoders,
 * and streams that are cut short or wrong in each way the daemon must
 * refuse.  Rerun after a protocol change:
 *
 *   make build/tests/fuzz_gen_corpus && build/tests/fuzz_gen_corpus tests/fuzz/corpus/wire
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/faultline.h"
#include "faultline/wire.h"

#define MONO 1000000000ull

static uint64_t buf[1 << 17]; /* 1 MiB, 8-aligned */
static size_t len;
static const char *dir;

static void add(size_t n)
{
	if (!n) {
		fprintf(stderr, "gen_corpus: a record did not encode\n");
		exit(1);
	}
	len += n;
}

static uint8_t *at(void)
{
	return (uint8_t *)buf + len;
}

static size_t room(void)
{
	return sizeof buf - len;
}

static void save(const char *name, size_t n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void hello(int pid)
{
	struct fl_wire_hello h = {.pid = pid, .ppid = 1, .start_real_ns = 1700000000000000000ull, .start_mono_ns = MONO,
				  .budget_bytes = 1 << 24, .page_size = 4096, .engine = FL_ENGINE_UFFD,
				  .compressor = 1, .compressor_level = 3, .stacks_every = 1};
	static const char argv[] = "prog\0--flag\0\xc3\xa9t\xe9";
	add(fl_wire_put_hello(at(), room(), &h, "/usr/bin/prog", argv, sizeof argv));
}

static void module(uint32_t op)
{
	struct fl_wire_module m = {.t_ns = MONO + 1, .start = 0x400000, .end = 0x600000, .bias = 0, .op = op,
				   .build_id_len = 20};
	uint8_t id[20];
	for (int i = 0; i < 20; i++)
		id[i] = (uint8_t)(i * 13);
	add(fl_wire_put_module(at(), room(), &m, id, "/usr/bin/prog"));
}

static void region_kind(uint32_t op, uint64_t id, uint64_t len_, uint32_t kind)
{
	struct fl_wire_region r = {.t_ns = MONO + 2, .id = id, .start = 0x7f0000000000ull + (id << 32), .len = len_,
				   .op = op, .prot = 3, .kind = kind};
	add(fl_wire_put(at(), room(), FL_REC_REGION, &r, sizeof r, NULL, 0, NULL, 0));
}

static void region(uint32_t op, uint64_t id, uint64_t len_)
{
	struct fl_wire_region r = {.t_ns = MONO + 2, .id = id, .start = 0x7f0000000000ull, .len = len_, .op = op,
				   .prot = 3, .kind = FL_RANGE_ALLOCATOR};
	add(fl_wire_put(at(), room(), FL_REC_REGION, &r, sizeof r, NULL, 0, NULL, 0));
}

static void stack(uint32_t id, uint32_t n)
{
	uint64_t pcs[FL_WIRE_MAX_FRAMES];
	for (uint32_t i = 0; i < n; i++)
		pcs[i] = 0x401000 + i * 0x40 + id;
	add(fl_wire_put_stack(at(), room(), id, pcs, n));
}

static void faults(uint32_t n, uint32_t stack_id, uint64_t region_id)
{
	static struct fl_wire_fault f[FL_WIRE_MAX_FAULTS];
	for (uint32_t i = 0; i < n; i++)
		f[i] = (struct fl_wire_fault){.t_ns = MONO + 10 + i, .addr = 0x7f0000000000ull + 4096ull * i,
					      .region = region_id, .tid = 7, .stack = i % 2 ? stack_id : 0,
					      .latency_ns = 1000 + i, .pages = 1, .kind = (uint8_t)(i % FL_FAULT__COUNT),
					      .flags = i % 2};
	add(fl_wire_put_faults(at(), room(), f, n));
}

static void sample(void)
{
	struct fl_wire_sample s = {.t_ns = MONO + 100, .managed_pages = 100, .resident_pages = 50,
				   .faults = {1, 2, 3, 4, 5, 6}, .pressure = FL_PRESSURE_CRITICAL, .regions = 1};
	add(fl_wire_put(at(), room(), FL_REC_SAMPLE, &s, sizeof s, NULL, 0, NULL, 0));
}

/* The spill file's counters; bad (0: none) spoils one field. */
enum { S_OK, S_PAGES_NO_BYTES, S_BYTES_NO_PAGES, S_OVER_FILE };
static void spill(int bad)
{
	struct fl_wire_spill x = {.t_ns = MONO + 100, .spilled_pages = 40, .spilled_bytes = 120000,
				  .file_bytes = 122880, .writes = 4, .write_errors = 1, .reads = 9, .read_errors = 0};
	switch (bad) {
	case S_PAGES_NO_BYTES: x.spilled_bytes = 0; break;
	case S_BYTES_NO_PAGES: x.spilled_pages = 0; break;
	case S_OVER_FILE: x.file_bytes = 118784; break;
	}
	add(fl_wire_put(at(), room(), FL_REC_SPILL, &x, sizeof x, NULL, 0, NULL, 0));
}

static void drops(void)
{
	struct fl_wire_drops d = {.t_ns = MONO + 200, .events = 3, .stacks = 2, .other = 1};
	add(fl_wire_put(at(), room(), FL_REC_DROPS, &d, sizeof d, NULL, 0, NULL, 0));
}

static void goodbye(void)
{
	struct fl_wire_goodbye g = {.t_ns = MONO + 300, .status = 0, .how = FL_WIRE_END_EXITED};
	add(fl_wire_put(at(), room(), FL_REC_GOODBYE, &g, sizeof g, NULL, 0, NULL, 0));
}

static void exit_rec(int pid, uint32_t how)
{
	struct fl_wire_exit x = {.pid = pid, .status = 9, .how = how};
	add(fl_wire_put(at(), room(), FL_REC_EXIT, &x, sizeof x, NULL, 0, NULL, 0));
}

/* Sampled allocations: the unsampled, a live malloc with a stack, a
 * freed mmap with bytes at a peak; bad (0: none) spoils one field. */
enum { A_OK, A_STACK, A_WEIGHT, A_KIND, A_FREED, A_UNSAMPLED, A_PEAK, A_RESERVED, A_PAGES };
static void allocs(uint32_t stack_id, int bad)
{
	struct fl_wire_alloc a[3] = {
		{.faults = 5, .pages = 9, .latency_ns = 12345, .dropped = 2},
		{.t_ns = MONO + 5, .addr = 0x7f0000001000ull, .size = 100000, .weight = 524288, .faults = 3, .pages = 3,
		 .latency_ns = 3000, .id = 1, .stack = stack_id, .kind = FL_WIRE_ALLOC_MALLOC},
		{.t_ns = MONO + 6, .free_ns = MONO + 50, .addr = 0x7f0000100000ull, .size = 1 << 20, .weight = 1 << 20,
		 .faults = 256, .pages = 256, .latency_ns = 256000, .peak_ns = MONO + 40, .peak_resident = 4096,
		 .peak_compressed = 8192, .id = 2, .kind = FL_WIRE_ALLOC_MMAP},
	};
	switch (bad) {
	case A_STACK: a[1].stack = 99; break;
	case A_WEIGHT: a[1].weight = 10; break;
	case A_KIND: a[2].kind = 7; break;
	case A_FREED: a[2].free_ns = MONO + 1; break;
	case A_UNSAMPLED: a[0].addr = 4096; break;
	case A_PEAK: a[2].peak_compressed = 2 << 20; break;
	case A_RESERVED: a[1].dropped = 1; break;
	case A_PAGES: a[2].pages = 2; break;
	}
	add(fl_wire_put_allocs(at(), room(), a, 3));
}

/* A complete session: every record type a shim sends. */
static void session(void)
{
	hello(100);
	module(FL_WIRE_MODULE_LOAD);
	region(FL_WIRE_REGION_CREATE, 1, 1 << 20);
	region(FL_WIRE_REGION_CREATE, 2, 1 << 16);
	stack(1, 5);
	stack(2, FL_WIRE_MAX_FRAMES);
	faults(40, 1, 1);
	faults(3, 2, 0);
	allocs(2, A_OK);
	sample();
	spill(S_OK);
	drops();
	region(FL_WIRE_REGION_UPDATE, 1, 2 << 20);
	module(FL_WIRE_MODULE_UNLOAD);
	region(FL_WIRE_REGION_DESTROY, 2, 0);
	faults(2, 1, 2); /* a destroyed region may still be named */
}

/* Overwrite the header of the record starting at off. */
static void patch_hdr(size_t off, uint32_t rlen, uint16_t type, uint16_t flags)
{
	struct fl_wire_hdr h = {.len = rlen, .type = type, .flags = flags};
	memcpy((uint8_t *)buf + off, &h, sizeof h);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];

	len = 0;
	session();
	goodbye();
	size_t whole = len;
	save("valid-session", whole);
	/* Cut inside records and between them: the daemon waits for more, and
	 * the connection then ends without goodbye. */
	save("truncated-in-hello", 20);
	save("truncated-mid-session", whole / 2 + 3);
	save("truncated-before-goodbye", whole - 8);
	len = 0;
	hello(100);
	save("truncated-after-hello", len);

	len = 0;
	session();
	save("vanishes-without-goodbye", len);

	len = 0;
	hello(101);
	stack(1, 3);
	region(FL_WIRE_REGION_CREATE, 1, 1 << 20);
	faults(FL_WIRE_MAX_FAULTS, 1, 1);
	faults(FL_WIRE_MAX_FAULTS, 1, 1);
	goodbye();
	save("valid-full-faults-records", len);

	/* The same definitions sent again, as after a reconnect. */
	len = 0;
	hello(102);
	stack(1, 3);
	region(FL_WIRE_REGION_CREATE, 1, 1 << 20);
	stack(1, 3);
	region(FL_WIRE_REGION_CREATE, 1, 1 << 20);
	faults(4, 1, 1);
	save("valid-repeated-definitions", len);

	/* A region of every managed kind, faults in each. */
	len = 0;
	hello(114);
	for (uint32_t k = 0; k < FL_RANGE__COUNT; k++)
		if (k != FL_RANGE_SHIM)
			region_kind(FL_WIRE_REGION_CREATE, k + 1, 1 << 20, k);
	for (uint32_t k = 0; k < FL_RANGE__COUNT; k++)
		if (k != FL_RANGE_SHIM)
			faults(3, 0, k + 1);
	region_kind(FL_WIRE_REGION_UPDATE, FL_RANGE_COMMITTED + 1, 1 << 16, FL_RANGE_COMMITTED);
	goodbye();
	save("valid-region-kinds", len);

	/* The shim's own memory is no managed region, and a kind past the
	 * last is none this daemon knows. */
	len = 0;
	hello(115);
	region_kind(FL_WIRE_REGION_CREATE, 1, 4096, FL_RANGE_SHIM);
	save("bad-region-kind-shim", len);
	len = 0;
	hello(115);
	region_kind(FL_WIRE_REGION_CREATE, 1, 4096, FL_RANGE__COUNT);
	save("bad-region-kind-unknown", len);

	len = 0;
	exit_rec(100, FL_WIRE_END_EXITED);
	exit_rec(101, FL_WIRE_END_SIGNALLED);
	save("valid-control-connection", len);

	/* A process and its launcher's report in one stream (the daemon sees them
	 * on two connections; here the exit must be refused after hello). */
	len = 0;
	hello(103);
	exit_rec(103, FL_WIRE_END_EXITED);
	save("bad-exit-on-process-connection", len);

	len = 0;
	exit_rec(100, FL_WIRE_END_EXITED);
	hello(100);
	save("bad-hello-on-control-connection", len);

	len = 0;
	faults(2, 0, 0);
	save("bad-faults-before-hello", len);

	len = 0;
	hello(104);
	faults(2, 9, 0);
	save("bad-undefined-stack", len);

	len = 0;
	hello(105);
	faults(1, 0, 33);
	save("bad-unknown-region", len);

	len = 0;
	hello(106);
	region(FL_WIRE_REGION_UPDATE, 5, 4096);
	save("bad-update-unknown-region", len);

	len = 0;
	hello(107);
	region(FL_WIRE_REGION_CREATE, 5, 4096);
	region(FL_WIRE_REGION_DESTROY, 5, 0);
	region(FL_WIRE_REGION_DESTROY, 5, 0);
	save("bad-destroy-twice", len);

	len = 0;
	hello(108);
	stack(3, 2);
	stack(4, 2);
	{
		uint64_t pcs[] = {1, 2};
		add(fl_wire_put_stack(at(), room(), 3, pcs, 2));
	}
	save("bad-stack-redefined", len);

	len = 0;
	hello(109);
	goodbye();
	sample();
	save("bad-after-goodbye", len);

	len = 0;
	hello(110);
	hello(110);
	save("bad-second-hello", len);

	/* Header damage, each after a valid hello. */
	static const struct {
		const char *name;
		uint32_t len;
		uint16_t type, flags;
	} hdr[] = {
		{"bad-length-not-multiple-of-8", 12, FL_REC_SAMPLE, 0},
		{"bad-length-huge", 1u << 30, FL_REC_FAULTS, 0},
		{"bad-length-too-short", 8, FL_REC_HELLO, 0},
		{"bad-unknown-type", 16, 77, 0},
		{"bad-flags", 0, FL_REC_DROPS, 1},
	};
	for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++) {
		len = 0;
		hello(111);
		size_t off = len;
		drops();
		patch_hdr(off, hdr[i].len ? hdr[i].len : (uint32_t)(len - off), hdr[i].type, hdr[i].flags);
		save(hdr[i].name, len);
	}

	/* Body damage: one field of an otherwise valid record. */
	len = 0;
	hello(112);
	memcpy((uint8_t *)buf + 8, "XXXX", 4); /* magic */
	save("bad-hello-magic", len);
	len = 0;
	hello(112);
	((uint8_t *)buf)[12] = 9; /* version */
	save("bad-hello-version", len);
	len = 0;
	hello(112);
	/* argv's last NUL: the record is the header, the fixed part, exe, argv. */
	((uint8_t *)buf)[8 + sizeof(struct fl_wire_hello) + strlen("/usr/bin/prog") + 17 - 1] = 'x';
	save("bad-hello-argv", len);
	len = 0;
	hello(113);
	size_t off = len;
	faults(3, 0, 0);
	((uint8_t *)buf)[off + 16 + 40 + 38] = 17; /* second fault's kind */
	save("bad-fault-kind", len);
	len = 0;
	hello(113);
	off = len;
	faults(3, 0, 0);
	memset((uint8_t *)buf + off + 16 + 36, 0, 2); /* first fault's pages */
	save("bad-fault-zero-pages", len);
	len = 0;
	hello(114);
	off = len;
	stack(1, 4);
	memset((uint8_t *)buf + off + 12, 0, 4); /* nframes 0 */
	save("bad-stack-no-frames", len);
	len = 0;
	exit_rec(0, FL_WIRE_END_EXITED);
	save("bad-exit-pid-0", len);
	static const struct {
		const char *name;
		int bad;
	} abad[] = {
		{"bad-alloc-undefined-stack", A_STACK},     {"bad-alloc-weight-below-size", A_WEIGHT},
		{"bad-alloc-kind", A_KIND},                 {"bad-alloc-freed-before-made", A_FREED},
		{"bad-alloc-unsampled-with-range", A_UNSAMPLED}, {"bad-alloc-peak-over-size", A_PEAK},
		{"bad-alloc-dropped-on-a-sample", A_RESERVED},         {"bad-alloc-fewer-pages-than-faults", A_PAGES},
	};
	for (size_t i = 0; i < sizeof abad / sizeof abad[0]; i++) {
		len = 0;
		hello(115);
		stack(1, 2);
		allocs(1, abad[i].bad);
		save(abad[i].name, len);
	}
	len = 0;
	hello(116);
	stack(1, 2);
	allocs(1, A_OK);
	allocs(1, A_OK); /* the same samples again, as their numbers grow */
	goodbye();
	save("valid-allocs", len);

	static const struct {
		const char *name;
		int bad;
	} sbad[] = {
		{"bad-spill-pages-without-bytes", S_PAGES_NO_BYTES},
		{"bad-spill-bytes-without-pages", S_BYTES_NO_PAGES},
		{"bad-spill-more-bytes-than-the-file", S_OVER_FILE},
	};
	for (size_t i = 0; i < sizeof sbad / sizeof sbad[0]; i++) {
		len = 0;
		hello(117);
		sample();
		spill(sbad[i].bad);
		save(sbad[i].name, len);
	}
	/* A spill record whose header says it is 8 bytes shorter than its fixed part. */
	len = 0;
	hello(117);
	off = len;
	spill(S_OK);
	patch_hdr(off, (uint32_t)(len - off - 8), FL_REC_SPILL, 0);
	save("bad-spill-short", len - 8);
	len = 0;
	hello(118);
	sample();
	spill(S_OK);
	sample();
	spill(S_OK); /* the counters again at the next sample */
	goodbye();
	save("valid-spill", len);

	/* Garbage. */
	for (size_t i = 0; i < 512; i++)
		((uint8_t *)buf)[i] = (uint8_t)(i * 37 + 11);
	save("garbage", 512);
	memset(buf, 0, 64);
	save("zeros", 64);
	printf("gen_corpus: wrote the corpus into %s\n", dir);
	return 0;
}
