/*
 * The fuzz corpus replayed without libFuzzer: every regular file under
 * the directories named on the command line goes through
 * LLVMFuzzerTestOneInput() once.  `make check` runs it on
 * tests/fuzz/corpus/wire, so every input that ever found a bug keeps
 * being tried.  A crash names the file it happened on.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char current[4096];

static void crashed(int sig)
{
	/* Only async-signal-safe calls: say which input, then die of sig. */
	static const char a[] = "fuzz_replay: crashed on ";
	if (write(2, a, sizeof a - 1) < 0 || write(2, current, strlen(current)) < 0 || write(2, "\n", 1) < 0)
		_exit(1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *b = realloc(buf, cap);
			if (!b) {
				fclose(f);
				free(buf);
				return -1;
			}
			buf = b;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	snprintf(current, sizeof current, "%s", path);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR...\n", argv[0]);
		return 2;
	}
	signal(SIGSEGV, crashed);
	signal(SIGABRT, crashed);
	signal(SIGBUS, crashed);
	signal(SIGFPE, crashed);
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		unsigned n = 0;
		struct dirent *e;
		while ((e = readdir(d))) {
			char path[4096];
			struct stat st;
			snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
			if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			if (run_file(path) != 0)
				rc = 1;
			n++;
		}
		closedir(d);
		printf("fuzz_replay: %u inputs from %s ran without a crash\n", n, argv[i]);
		if (n == 0) {
			fprintf(stderr, "fuzz_replay: %s holds no inputs\n", argv[i]);
			rc = 1;
		}
	}
	return rc;
}
