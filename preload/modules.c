/*
 * The process's module map for the fault log: which ELF files are mapped
 * where, with their load bias and build id, so the daemon can turn PCs
 * into functions and lines.  It is read from /proc/self/maps and the
 * files' own headers, never from the loader's link map: that lives in the
 * heap, which is managed memory, and the emitter thread must not touch
 * managed memory (with the signal engine it would die on a blocked
 * SIGSEGV).  Raw system calls and caller-provided buffers only.
 */
#include "modules.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static const char *parse_hex(const char *p, uint64_t *out)
{
	uint64_t v = 0;
	int d;
	while ((d = hexval(*p)) >= 0) {
		v = v * 16 + (uint64_t)d;
		p++;
	}
	*out = v;
	return p;
}

static const char *skip_field(const char *p)
{
	while (*p && *p != ' ')
		p++;
	while (*p == ' ')
		p++;
	return p;
}

/* Bias and build id from the file's own headers.  0 or -1. */
static int read_elf(struct fl_module *m, uint64_t base)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, m->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	Elf64_Ehdr eh;
	int rc = -1;
	if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64)
		goto out;
	Elf64_Phdr ph[64];
	size_t phn = eh.e_phnum;
	if (pread(fd, ph, phn * sizeof ph[0], (off_t)eh.e_phoff) != (ssize_t)(phn * sizeof ph[0]))
		goto out;
	int have_load = 0;
	for (size_t i = 0; i < phn; i++) {
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0 && !have_load) {
			/* The mapping at file offset 0 is this segment's page. */
			m->bias = base - (ph[i].p_vaddr & ~(uint64_t)4095);
			have_load = 1;
		}
	}
	if (!have_load)
		goto out;
	m->build_id_len = 0;
	for (size_t i = 0; i < phn && !m->build_id_len; i++) {
		if (ph[i].p_type != PT_NOTE || ph[i].p_filesz > 4096)
			continue;
		uint8_t notes[4096];
		ssize_t n = pread(fd, notes, ph[i].p_filesz, (off_t)ph[i].p_offset);
		if (n <= 0)
			continue;
		size_t off = 0;
		while (off + sizeof(Elf64_Nhdr) <= (size_t)n) {
			Elf64_Nhdr nh;
			memcpy(&nh, notes + off, sizeof nh);
			size_t name_at = off + sizeof nh;
			size_t desc_at = name_at + ((nh.n_namesz + 3u) & ~3u);
			size_t next = desc_at + ((nh.n_descsz + 3u) & ~3u);
			if (next > (size_t)n || next <= off)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp(notes + name_at, "GNU", 4) && nh.n_descsz <= sizeof m->build_id) {
				memcpy(m->build_id, notes + desc_at, nh.n_descsz);
				m->build_id_len = nh.n_descsz;
				break;
			}
			off = next;
		}
	}
	rc = 0;
out:
	fl__sys_close(fd);
	return rc;
}

/* One line of /proc/self/maps into the table. */
static void take_line(const char *line, struct fl_module *out, int *n, int max)
{
	uint64_t start, end, off;
	const char *p = parse_hex(line, &start);
	if (*p++ != '-')
		return;
	p = parse_hex(p, &end);
	while (*p == ' ')
		p++;
	int exec = p[2] == 'x';
	p = skip_field(p);             /* perms */
	p = parse_hex(p, &off);
	while (*p == ' ')
		p++;
	p = skip_field(p);             /* dev */
	p = skip_field(p);             /* inode */
	if (*p != '/')
		return;                /* anonymous, [stack], [vdso] ... */
	size_t len = strlen(p);
	static const char deleted[] = " (deleted)";
	if (len >= sizeof deleted - 1 && !strcmp(p + len - (sizeof deleted - 1), deleted))
		return;
	for (int i = 0; i < *n; i++) {
		struct fl_module *m = &out[i];
		if (strcmp(m->path, p))
			continue;
		if (end > m->end && start <= m->end + (64u << 20))
			m->end = end;
		if (start < m->start && off == 0)
			m->start = start;
		m->has_exec |= exec;
		return;
	}
	if (off != 0 || *n >= max || len >= sizeof out[0].path)
		return;
	struct fl_module *m = &out[(*n)++];
	memset(m, 0, sizeof *m);
	m->start = start;
	m->end = end;
	m->has_exec = exec;
	memcpy(m->path, p, len + 1);
}

/* An object already read at this address: its headers need no reading. */
static const struct fl_module *known_module(const struct fl_module *m, const struct fl_module *known, int nknown)
{
	for (int i = 0; i < nknown; i++)
		if (known[i].start == m->start && !strcmp(known[i].path, m->path))
			return &known[i];
	return NULL;
}

int fl__modules_scan(struct fl_module *out, int max, const struct fl_module *known, int nknown, char *scratch,
		     size_t scratch_len)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int n = 0;
	size_t have = 0;
	for (;;) {
		ssize_t r = read(fd, scratch + have, scratch_len - 1 - have);
		if (r <= 0)
			break;
		have += (size_t)r;
		scratch[have] = 0;
		char *line = scratch;
		char *nl;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = 0;
			take_line(line, out, &n, max);
			line = nl + 1;
		}
		have = (size_t)(scratch + have - line);
		memmove(scratch, line, have);
		if (have == scratch_len - 1)
			have = 0; /* a line longer than the buffer: skip it */
	}
	fl__sys_close(fd);
	/* Keep only objects with code; find each one's bias and build id. */
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (!out[i].has_exec)
			continue;
		const struct fl_module *seen = known_module(&out[i], known, nknown);
		if (seen) {
			uint64_t end = out[i].end;
			out[i] = *seen;
			out[i].end = end;
		} else if (read_elf(&out[i], out[i].start) != 0) {
			continue;
		}
		if (k != i)
			out[k] = out[i];
		k++;
	}
	return k;
}
