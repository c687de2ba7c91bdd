/*
 * forkchurn: replace heap blocks and fork, over and over; each child reads
 * part of the heap and leaves.  Under `faultline run --socket none --budget
 * 1M -- forkchurn 1000 800 100` about one run in 30 hung while the engine
 * believed UFFDIO_MOVE's false failures (README, Managed mappings); the
 * suite runs 300 forks (tests/integration/test_preload.c).
 *
 * usage: forkchurn [FORKS [BLOCKS [REPLACED_PER_FORK]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int forks = argc > 1 ? atoi(argv[1]) : 200;
	size_t n = argc > 2 ? (size_t)atoi(argv[2]) : 20000;
	int churn = argc > 3 ? atoi(argv[3]) : 20000;
	if (forks < 0 || n == 0 || churn < 0) {
		fprintf(stderr, "usage: forkchurn [FORKS [BLOCKS [REPLACED_PER_FORK]]]\n");
		return 2;
	}
	char **v = calloc(n, sizeof *v);
	if (!v)
		return 1;
	unsigned x = 1;
	for (int f = 0; f < forks; f++) {
		for (int k = 0; k < churn; k++) {
			x = x * 1103515245 + 12345;
			size_t i = x % n;
			free(v[i]);
			size_t sz = 16 + (x >> 8) % 4000;
			v[i] = malloc(sz);
			if (!v[i])
				return 1;
			memset(v[i], (int)(i & 0xff), sz);
		}
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			return 1;
		}
		if (p == 0) {
			/* Every block still holds its index's byte. */
			int bad = 0;
			for (size_t i = 0; i < n; i += 7)
				if (v[i] && (unsigned char)v[i][0] != (i & 0xff))
					bad = 1;
			_exit(bad);
		}
		int st;
		if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "forkchurn: child %d read wrong bytes or failed\n", f);
			return 1;
		}
	}
	puts("ok");
	return 0;
}
