/*
 * faultline vmmap [--json] [--width N] PID: one look at a process's
 * memory, one row per region in the manner of macOS vmmap, then a
 * summary.  Any process the user may inspect; for one running under the
 * shim, the managed regions come from its state file.  This file is the
 * command: options, then gathering (vmmap_data.c), layout
 * (vmmap_layout.c), and writing the result.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "vmmap_data.h"
#include "vmmap_layout.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline vmmap [--json] [--width N] PID\n"
		"\n"
		"Shows the memory of process PID, one row per region, and a summary.  Any\n"
		"process you may inspect (/proc/PID/smaps); for one running under the\n"
		"faultline shim, its managed regions come from the shim's page states.\n"
		"\n"
		"columns:\n"
		"  REGION TYPE  text, data (a module's other segments and bss), heap\n"
		"               ([heap]), stack ([stack], [stack:TID]), guard (PROT_NONE\n"
		"               next to a stack, small, or a library's padding), reserved\n"
		"               (larger PROT_NONE), mapped file, shared memory, anonymous,\n"
		"               userfaultfd (registered, no state says by whom); managed by\n"
		"               faultline: jemalloc arena, program mapping, resv->commit\n"
		"               (a piece of a PROT_NONE reservation, committed), managed\n"
		"  START-END    the region's addresses\n"
		"  VSIZE        virtual size\n"
		"  RSIZE        resident: the kernel's Rss; for managed regions the\n"
		"               shim's resident pages\n"
		"  CSIZE        managed regions: bytes their compressed pages take in the\n"
		"               shim's store; 0 otherwise\n"
		"  SWAPPED      in the kernel's swap (smaps Swap)\n"
		"  PRT/MAX      protection now / the most mprotect may grant (VmFlags)\n"
		"  SM           share mode: PRV private pages; COW private pages still\n"
		"               shared (a file's clean pages, or since fork); SHM a shared\n"
		"               mapping; NUL nothing there; ZER managed, only same-filled\n"
		"               pages held\n"
		"  DETAIL       file, [heap], [stack], [vdso], or the managed region\n"
		"\n"
		"summary: VSS; RSS; the lazy set, memory reserved but never touched (a\n"
		"managed region's untouched pages; for other private writable anonymous\n"
		"memory VSIZE - Rss - Swap); swapped and compressed; writable regions;\n"
		"totals per region type; and under the shim its engine, budget, pressure,\n"
		"compressor and allocator arenas.  Sizes: K, M, G are powers of 1024.\n"
		"\n"
		"options:\n"
		"  --json       one JSON object instead (sizes in bytes)\n"
		"  --width N    fit the table to N columns (default: the terminal's width,\n"
		"               else $COLUMNS, else 80)\n"
		"  --help, -h   this text\n"
		"\n"
		"Exit status: 0; 1 when the process cannot be read; 2 for bad usage.\n");
}

static int parse_uint(const char *s, long max, long *out)
{
	if (!*s)
		return -1;
	long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

static unsigned term_width(long opt)
{
	if (opt > 0)
		return (unsigned)opt;
	struct winsize ws;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	long v;
	if (c && parse_uint(c, 100000, &v) == 0 && v > 0)
		return (unsigned)v;
	return 80;
}

int fl_cli_vmmap(int argc, char **argv)
{
	int json = 0;
	long width = 0;
	const char *pid_arg = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--width") || !strncmp(a, "--width=", 8)) {
			const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v) {
				fprintf(stderr, "faultline vmmap: option '--width' needs a value\n");
				return 2;
			}
			if (parse_uint(v, 100000, &width) != 0 || width < 1) {
				fprintf(stderr, "faultline vmmap: --width '%s' is not a number of columns\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--")) {
			if (i + 1 < argc)
				pid_arg = argv[++i];
			break;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "faultline vmmap: unknown option '%s'\n", a);
			fprintf(stderr, "usage: faultline vmmap [--json] [--width N] PID\n");
			return 2;
		} else if (pid_arg) {
			fprintf(stderr, "faultline vmmap: one process at a time ('%s' and '%s')\n", pid_arg, a);
			return 2;
		} else {
			pid_arg = a;
		}
	}
	if (!pid_arg) {
		fprintf(stderr, "usage: faultline vmmap [--json] [--width N] PID\n");
		return 2;
	}
	long pid;
	if (parse_uint(pid_arg, 0x7fffffffL, &pid) != 0 || pid < 1) {
		fprintf(stderr, "faultline vmmap: '%s' is not a process id\n", pid_arg);
		return 2;
	}

	struct fl_vmmap m;
	char err[512], note[768];
	if (fl_vmmap_data_gather((pid_t)pid, &m, err, sizeof err, note, sizeof note) != 0) {
		fprintf(stderr, "faultline vmmap: %s\n", err);
		fl_vmmap_data_free(&m);
		return 1;
	}
	if (note[0])
		fprintf(stderr, "faultline vmmap: %s\n", note);
	struct fl_vmmap_out o = {0};
	if (json)
		fl_vmmap_layout_json(&m, &o);
	else
		fl_vmmap_layout_text(&m, term_width(width), &o);
	fl_vmmap_data_free(&m);
	if (o.failed) {
		fprintf(stderr, "faultline vmmap: out of memory\n");
		fl_vmmap_layout_out_free(&o);
		return 1;
	}
	int rc = 0;
	if (fwrite(o.buf, 1, o.len, stdout) != o.len || fflush(stdout) != 0) {
		if (errno != EPIPE)
			fprintf(stderr, "faultline vmmap: writing the output: %s\n", strerror(errno));
		rc = 1;
	}
	fl_vmmap_layout_out_free(&o);
	return rc;
}
