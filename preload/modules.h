/*
 * The module map the fault log sends (modules.c): ELF objects with code
 * mapped in this process, from /proc/self/maps and the files' headers.
 */
#ifndef FL_MODULES_H
#define FL_MODULES_H

#include <stddef.h>
#include <stdint.h>

#include "faultline/wire.h"

struct fl_module {
	uint64_t start, end; /* [start, end) of its mappings */
	uint64_t bias;       /* load bias: file vaddr = address - bias */
	uint32_t build_id_len;
	int has_exec;
	uint8_t build_id[FL_WIRE_MAX_BUILD_ID];
	char path[512];
};

/*
 * Fill up to max modules; scratch is a buffer for reading the maps.
 * Objects in known (the previous scan) at the same address and path are
 * not read again.  Returns how many, or -1 when /proc/self/maps cannot
 * be read.  Allocates nothing; safe on the shim's own threads.
 */
int fl__modules_scan(struct fl_module *out, int max, const struct fl_module *known, int nknown, char *scratch,
		     size_t scratch_len);

#endif
