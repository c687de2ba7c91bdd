/*
 * The wire encoder (include/faultline/wire.h): records as the shim sends
 * them, padded to 8-byte multiples, and the default socket path.  The
 * shim links this half of the codec only; faultlined decodes with
 * wire_decode.c.  No allocation, no stdio beyond snprintf.
 */
#include "faultline/wire.h"

#include <stdio.h>
#include <string.h>

size_t fl_wire_put(void *buf, size_t cap, uint16_t type, const void *body, size_t body_len,
		   const void *tail1, size_t tail1_len, const void *tail2, size_t tail2_len)
{
	size_t len = sizeof(struct fl_wire_hdr) + body_len + tail1_len + tail2_len;
	size_t padded = (len + 7) & ~(size_t)7;
	if (padded > FL_WIRE_MAX || padded > cap)
		return 0;
	struct fl_wire_hdr h = {.len = (uint32_t)padded, .type = type, .flags = 0};
	uint8_t *p = buf;
	memcpy(p, &h, sizeof h);
	p += sizeof h;
	if (body_len)
		memcpy(p, body, body_len);
	p += body_len;
	if (tail1_len)
		memcpy(p, tail1, tail1_len);
	p += tail1_len;
	if (tail2_len)
		memcpy(p, tail2, tail2_len);
	p += tail2_len;
	memset(p, 0, padded - len);
	return padded;
}

size_t fl_wire_put_hello(void *buf, size_t cap, const struct fl_wire_hello *h,
			 const char *exe, const char *argv, size_t argv_len)
{
	struct fl_wire_hello x = *h;
	x.magic = FL_WIRE_MAGIC;
	x.version = FL_WIRE_VERSION;
	x.exe_len = (uint32_t)strnlen(exe ? exe : "", FL_WIRE_MAX_PATH);
	/* Keep whole strings only, as many as fit. */
	if (argv_len > FL_WIRE_MAX_ARGV - x.exe_len - 8) {
		size_t keep = 0;
		for (size_t i = 0; i < FL_WIRE_MAX_ARGV - x.exe_len - 8; i++)
			if (argv[i] == 0)
				keep = i + 1;
		argv_len = keep;
	}
	x.argv_len = (uint32_t)argv_len;
	x.argc = 0;
	for (size_t i = 0; i < argv_len; i++)
		x.argc += argv[i] == 0;
	return fl_wire_put(buf, cap, FL_REC_HELLO, &x, sizeof x, exe, x.exe_len, argv, argv_len);
}

size_t fl_wire_put_module(void *buf, size_t cap, const struct fl_wire_module *m,
			  const uint8_t *build_id, const char *path)
{
	struct fl_wire_module x = *m;
	if (x.build_id_len > FL_WIRE_MAX_BUILD_ID)
		x.build_id_len = 0;
	x.path_len = (uint32_t)strnlen(path ? path : "", FL_WIRE_MAX_PATH);
	x.reserved = 0;
	return fl_wire_put(buf, cap, FL_REC_MODULE, &x, sizeof x, build_id, x.build_id_len, path,
			   x.path_len);
}

size_t fl_wire_put_stack(void *buf, size_t cap, uint32_t id, const uint64_t *pcs, uint32_t n)
{
	if (n == 0 || n > FL_WIRE_MAX_FRAMES || id == 0)
		return 0;
	struct fl_wire_stack x = {.id = id, .nframes = n};
	return fl_wire_put(buf, cap, FL_REC_STACK, &x, sizeof x, pcs, (size_t)n * 8, NULL, 0);
}

size_t fl_wire_put_faults(void *buf, size_t cap, const struct fl_wire_fault *f, uint32_t n)
{
	if (n == 0 || n > FL_WIRE_MAX_FAULTS)
		return 0;
	struct fl_wire_faults x = {.count = n, .reserved = 0};
	return fl_wire_put(buf, cap, FL_REC_FAULTS, &x, sizeof x, f, (size_t)n * sizeof *f, NULL, 0);
}

size_t fl_wire_put_allocs(void *buf, size_t cap, const struct fl_wire_alloc *a, uint32_t n)
{
	if (n == 0 || n > FL_WIRE_MAX_ALLOCS)
		return 0;
	struct fl_wire_allocs x = {.count = n, .reserved = 0};
	return fl_wire_put(buf, cap, FL_REC_ALLOCS, &x, sizeof x, a, (size_t)n * sizeof *a, NULL, 0);
}

int fl_wire_default_socket(char *out, size_t len, const char *xdg, unsigned uid)
{
	int n = xdg && *xdg ? snprintf(out, len, "%s/faultline/faultlined.sock", xdg)
			    : snprintf(out, len, "/tmp/faultline-%u/faultlined.sock", uid);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}
