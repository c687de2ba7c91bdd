/*
 * The wire decoder (include/faultline/wire.h), for faultlined, which
 * trusts nothing: every length, count and kind a record states about
 * itself is checked here, without reading a byte outside the buffer it
 * was given.  No allocation, no stdio beyond snprintf into the caller's
 * buffer.  The shim does not link it (it only encodes: wire_encode.c).
 */
#include "faultline/wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "faultline/faultline.h"

_Static_assert(sizeof(struct fl_wire_hdr) == 8, "header is 8 bytes");
_Static_assert(sizeof(struct fl_wire_fault) == 40, "a fault is 40 bytes");
_Static_assert(FL_FAULT__COUNT == 6, "SAMPLE carries six fault counters");

static const char *const type_names[FL_REC__END] = {
	[0] = "invalid",
	[FL_REC_HELLO] = "hello",
	[FL_REC_MODULE] = "module",
	[FL_REC_REGION] = "region",
	[FL_REC_STACK] = "stack",
	[FL_REC_FAULTS] = "faults",
	[FL_REC_SAMPLE] = "sample",
	[FL_REC_DROPS] = "drops",
	[FL_REC_GOODBYE] = "goodbye",
	[FL_REC_EXIT] = "exit",
	[FL_REC_ALLOCS] = "allocs",
	[FL_REC_SPILL] = "spill",
};

const char *fl_wire_type_name(unsigned type)
{
	return type < FL_REC__END ? type_names[type] : "unknown";
}

__attribute__((format(printf, 3, 4))) static long bad(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* The body size each type's fixed part needs. */
static size_t fixed_size(unsigned type)
{
	switch (type) {
	case FL_REC_HELLO: return sizeof(struct fl_wire_hello);
	case FL_REC_MODULE: return sizeof(struct fl_wire_module);
	case FL_REC_REGION: return sizeof(struct fl_wire_region);
	case FL_REC_STACK: return sizeof(struct fl_wire_stack);
	case FL_REC_FAULTS: return sizeof(struct fl_wire_faults);
	case FL_REC_SAMPLE: return sizeof(struct fl_wire_sample);
	case FL_REC_DROPS: return sizeof(struct fl_wire_drops);
	case FL_REC_GOODBYE: return sizeof(struct fl_wire_goodbye);
	case FL_REC_EXIT: return sizeof(struct fl_wire_exit);
	case FL_REC_ALLOCS: return sizeof(struct fl_wire_allocs);
	case FL_REC_SPILL: return sizeof(struct fl_wire_spill);
	default: return 0;
	}
}

static int valid_end(uint32_t how)
{
	return how == FL_WIRE_END_EXITED || how == FL_WIRE_END_SIGNALLED;
}

/*
 * Records are decoded in place, so a body must be aligned for its fields:
 * every record length is a multiple of 8 (the encoders pad) and a reader
 * keeps its buffer 8-aligned, so each record starts aligned.
 */
long fl_wire_decode(const void *buf, size_t len, struct fl_wire_rec *out, char *err, size_t errlen)
{
	const uint8_t *b = buf;
	struct fl_wire_hdr h;
	if (len < sizeof h)
		return 0;
	memcpy(&h, b, sizeof h);
	if (h.len < sizeof h || h.len > FL_WIRE_MAX)
		return bad(err, errlen, "record length %u out of range 8..%u", h.len, FL_WIRE_MAX);
	if (h.len % 8)
		return bad(err, errlen, "record length %u is not a multiple of 8", h.len);
	if (h.type == 0 || h.type >= FL_REC__END)
		return bad(err, errlen, "unknown record type %u", (unsigned)h.type);
	if (h.flags)
		return bad(err, errlen, "%s record has flags 0x%x set (none are defined)",
			   fl_wire_type_name(h.type), (unsigned)h.flags);
	size_t fixed = fixed_size(h.type);
	size_t body_len = h.len - sizeof h;
	if (body_len < fixed)
		return bad(err, errlen, "%s record of %u bytes is shorter than its fixed part (%zu)",
			   fl_wire_type_name(h.type), h.len, fixed + sizeof h);
	if (len < h.len)
		return 0;
	if (((uintptr_t)b & 7u) != 0)
		return bad(err, errlen, "record is not 8-byte aligned in memory");

	memset(out, 0, sizeof *out);
	out->type = h.type;
	out->len = h.len;
	const uint8_t *body = b + sizeof h;
	const uint8_t *tail = body + fixed;
	size_t tail_len = body_len - fixed;
	out->u.body = body;
	/* Variable parts must fill the record up to at most 7 bytes of padding. */
	size_t want_tail = 0;

	switch (h.type) {
	case FL_REC_HELLO: {
		const struct fl_wire_hello *x = (const void *)body;
		if (x->magic != FL_WIRE_MAGIC)
			return bad(err, errlen, "hello has magic 0x%08x, not 0x%08x (not a faultline peer)",
				   x->magic, FL_WIRE_MAGIC);
		if (x->version != FL_WIRE_VERSION)
			return bad(err, errlen, "hello speaks protocol version %u; this side speaks %u",
				   x->version, FL_WIRE_VERSION);
		if (x->pid <= 0 || x->ppid < 0)
			return bad(err, errlen, "hello has pid %d ppid %d", x->pid, x->ppid);
		if (x->page_size < 4096 || (x->page_size & (x->page_size - 1)))
			return bad(err, errlen, "hello has page size %u", x->page_size);
		if (x->engine > FL_ENGINE_UFFD_SIGBUS)
			return bad(err, errlen, "hello has unknown engine %u", x->engine);
		if (x->compressor > 1)
			return bad(err, errlen, "hello has unknown compressor %u", x->compressor);
		if (x->exe_len > FL_WIRE_MAX_PATH)
			return bad(err, errlen, "hello exe path of %u bytes (most %u)", x->exe_len, FL_WIRE_MAX_PATH);
		if (x->argv_len > FL_WIRE_MAX_ARGV || x->argc > x->argv_len)
			return bad(err, errlen, "hello argv of %u bytes holding %u strings", x->argv_len, x->argc);
		want_tail = (size_t)x->exe_len + x->argv_len;
		if (want_tail > tail_len)
			return bad(err, errlen, "hello strings (%zu bytes) run past the record", want_tail);
		const uint8_t *av = tail + x->exe_len;
		uint32_t nuls = 0;
		for (uint32_t i = 0; i < x->argv_len; i++)
			nuls += av[i] == 0;
		if (nuls != x->argc || (x->argv_len && av[x->argv_len - 1] != 0))
			return bad(err, errlen, "hello argv holds %u terminated strings, says %u", nuls, x->argc);
		out->str = (const char *)tail;
		out->str_len = x->exe_len;
		out->bytes = av;
		out->bytes_len = x->argv_len;
		out->nitems = x->argc;
		break;
	}
	case FL_REC_MODULE: {
		const struct fl_wire_module *x = (const void *)body;
		if (x->op != FL_WIRE_MODULE_LOAD && x->op != FL_WIRE_MODULE_UNLOAD)
			return bad(err, errlen, "module has unknown op %u", x->op);
		if (x->start >= x->end)
			return bad(err, errlen, "module range 0x%llx-0x%llx is empty",
				   (unsigned long long)x->start, (unsigned long long)x->end);
		if (x->build_id_len > FL_WIRE_MAX_BUILD_ID)
			return bad(err, errlen, "module build id of %u bytes (most %u)", x->build_id_len,
				   FL_WIRE_MAX_BUILD_ID);
		if (x->path_len > FL_WIRE_MAX_PATH)
			return bad(err, errlen, "module path of %u bytes (most %u)", x->path_len, FL_WIRE_MAX_PATH);
		if (x->reserved)
			return bad(err, errlen, "module reserved field is %u", x->reserved);
		want_tail = (size_t)x->build_id_len + x->path_len;
		if (want_tail > tail_len)
			return bad(err, errlen, "module build id and path run past the record");
		if (memchr(tail + x->build_id_len, 0, x->path_len))
			return bad(err, errlen, "module path holds a NUL byte");
		out->bytes = tail;
		out->bytes_len = x->build_id_len;
		out->str = (const char *)tail + x->build_id_len;
		out->str_len = x->path_len;
		break;
	}
	case FL_REC_REGION: {
		const struct fl_wire_region *x = (const void *)body;
		if (x->op < FL_WIRE_REGION_CREATE || x->op > FL_WIRE_REGION_DESTROY)
			return bad(err, errlen, "region has unknown op %u", x->op);
		if (x->id == 0)
			return bad(err, errlen, "region id 0");
		if (x->prot > 7)
			return bad(err, errlen, "region protection 0x%x", x->prot);
		if (x->kind >= FL_RANGE__COUNT || x->kind == FL_RANGE_SHIM)
			return bad(err, errlen, "region kind %u is not a managed kind", x->kind);
		if (x->op != FL_WIRE_REGION_DESTROY && (x->len == 0 || (x->len & 4095) || (x->start & 4095)))
			return bad(err, errlen, "region 0x%llx+0x%llx is not whole pages",
				   (unsigned long long)x->start, (unsigned long long)x->len);
		if (x->start + x->len < x->start)
			return bad(err, errlen, "region 0x%llx+0x%llx wraps", (unsigned long long)x->start,
				   (unsigned long long)x->len);
		if (x->reserved)
			return bad(err, errlen, "region reserved field is %u", x->reserved);
		break;
	}
	case FL_REC_STACK: {
		const struct fl_wire_stack *x = (const void *)body;
		if (x->id == 0)
			return bad(err, errlen, "stack id 0");
		if (x->nframes == 0 || x->nframes > FL_WIRE_MAX_FRAMES)
			return bad(err, errlen, "stack of %u frames (1..%u)", x->nframes, FL_WIRE_MAX_FRAMES);
		want_tail = (size_t)x->nframes * 8;
		if (want_tail > tail_len)
			return bad(err, errlen, "stack frames run past the record");
		out->items = tail;
		out->nitems = x->nframes;
		break;
	}
	case FL_REC_FAULTS: {
		const struct fl_wire_faults *x = (const void *)body;
		if (x->count == 0 || x->count > FL_WIRE_MAX_FAULTS)
			return bad(err, errlen, "faults record of %u faults (1..%u)", x->count,
				   FL_WIRE_MAX_FAULTS);
		if (x->reserved)
			return bad(err, errlen, "faults reserved field is %u", x->reserved);
		want_tail = (size_t)x->count * sizeof(struct fl_wire_fault);
		if (want_tail > tail_len)
			return bad(err, errlen, "faults run past the record");
		for (uint32_t i = 0; i < x->count; i++) {
			struct fl_wire_fault f;
			memcpy(&f, tail + (size_t)i * sizeof f, sizeof f);
			if (f.kind >= FL_FAULT__COUNT)
				return bad(err, errlen, "fault %u has unknown kind %u", i, f.kind);
			if (f.pages == 0)
				return bad(err, errlen, "fault %u resolved 0 pages", i);
			if (f.flags & ~FL_WIRE_FAULT_WRITE)
				return bad(err, errlen, "fault %u has unknown flags 0x%x", i, f.flags);
		}
		out->items = tail;
		out->nitems = x->count;
		break;
	}
	case FL_REC_ALLOCS: {
		const struct fl_wire_allocs *x = (const void *)body;
		if (x->count == 0 || x->count > FL_WIRE_MAX_ALLOCS)
			return bad(err, errlen, "allocs record of %u allocations (1..%u)", x->count,
				   FL_WIRE_MAX_ALLOCS);
		if (x->reserved)
			return bad(err, errlen, "allocs reserved field is %u", x->reserved);
		want_tail = (size_t)x->count * sizeof(struct fl_wire_alloc);
		if (want_tail > tail_len)
			return bad(err, errlen, "allocations run past the record");
		for (uint32_t i = 0; i < x->count; i++) {
			struct fl_wire_alloc a;
			memcpy(&a, tail + (size_t)i * sizeof a, sizeof a);
			if (a.id != 0 && a.dropped)
				return bad(err, errlen, "allocation %u (id %u) counts dropped samples", i, a.id);
			if (a.pages < a.faults)
				return bad(err, errlen, "allocation %u: %llu faults resolved %llu pages", i,
					   (unsigned long long)a.faults, (unsigned long long)a.pages);
			if (a.id == 0) {
				if (a.t_ns || a.free_ns || a.addr || a.size || a.weight || a.peak_ns || a.peak_resident ||
				    a.peak_compressed || a.stack || a.kind)
					return bad(err, errlen, "allocation %u: the unsampled (id 0) says more than its faults", i);
				continue;
			}
			if (a.kind != FL_WIRE_ALLOC_MALLOC && a.kind != FL_WIRE_ALLOC_MMAP)
				return bad(err, errlen, "allocation %u has unknown kind %u", i, a.kind);
			if (a.size == 0 || a.addr + a.size < a.addr)
				return bad(err, errlen, "allocation %u: 0x%llx+0x%llx is empty or wraps", i,
					   (unsigned long long)a.addr, (unsigned long long)a.size);
			if (a.weight < a.size)
				return bad(err, errlen, "allocation %u stands for %llu bytes, fewer than its %llu", i,
					   (unsigned long long)a.weight, (unsigned long long)a.size);
			if (a.free_ns && a.free_ns < a.t_ns)
				return bad(err, errlen, "allocation %u freed before it was made", i);
			if (a.peak_resident > a.size || a.peak_compressed > a.size ||
			    a.peak_resident + a.peak_compressed > a.size)
				return bad(err, errlen, "allocation %u: more bytes at the peak than its size", i);
			if (!a.peak_ns && (a.peak_resident || a.peak_compressed))
				return bad(err, errlen, "allocation %u: bytes at a peak without its time", i);
		}
		out->items = tail;
		out->nitems = x->count;
		break;
	}
	case FL_REC_SAMPLE: {
		const struct fl_wire_sample *x = (const void *)body;
		if (x->pressure > FL_PRESSURE_CRITICAL)
			return bad(err, errlen, "sample has unknown pressure level %u", x->pressure);
		break;
	}
	case FL_REC_SPILL: {
		const struct fl_wire_spill *x = (const void *)body;
		if ((x->spilled_pages == 0) != (x->spilled_bytes == 0))
			return bad(err, errlen, "spill record holds %llu pages in %llu bytes",
				   (unsigned long long)x->spilled_pages, (unsigned long long)x->spilled_bytes);
		if (x->spilled_bytes > x->file_bytes)
			return bad(err, errlen, "spill record holds %llu bytes in a file of %llu",
				   (unsigned long long)x->spilled_bytes, (unsigned long long)x->file_bytes);
		break;
	}
	case FL_REC_DROPS:
		break;
	case FL_REC_GOODBYE: {
		const struct fl_wire_goodbye *x = (const void *)body;
		if (!valid_end(x->how))
			return bad(err, errlen, "goodbye says the process ended in unknown way %u", x->how);
		break;
	}
	case FL_REC_EXIT: {
		const struct fl_wire_exit *x = (const void *)body;
		if (x->pid <= 0)
			return bad(err, errlen, "exit record for pid %d", x->pid);
		if (!valid_end(x->how))
			return bad(err, errlen, "exit record says the process ended in unknown way %u", x->how);
		if (x->reserved)
			return bad(err, errlen, "exit reserved field is %u", x->reserved);
		break;
	}
	}
	if (tail_len - want_tail > 7)
		return bad(err, errlen, "%s record has %zu bytes past its contents",
			   fl_wire_type_name(h.type), tail_len - want_tail);
	return (long)h.len;
}

void fl_wire_fault_at(const struct fl_wire_rec *rec, uint32_t i, struct fl_wire_fault *out)
{
	memcpy(out, (const uint8_t *)rec->items + (size_t)i * sizeof *out, sizeof *out);
}

void fl_wire_alloc_at(const struct fl_wire_rec *rec, uint32_t i, struct fl_wire_alloc *out)
{
	memcpy(out, (const uint8_t *)rec->items + (size_t)i * sizeof *out, sizeof *out);
}

uint64_t fl_wire_pc_at(const struct fl_wire_rec *rec, uint32_t i)
{
	uint64_t pc;
	memcpy(&pc, (const uint8_t *)rec->items + (size_t)i * 8, 8);
	return pc;
}
