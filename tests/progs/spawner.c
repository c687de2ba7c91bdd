/*
 * spawner: a plain program for the shim to run.  With a heap of seeded
 * blocks in place, it starts PROG (argv[1], with argv[2] as its argument)
 * three ways, system(), posix_spawn() and vfork()+execv(), checks each
 * exits 0, then verifies its own heap.  Prints "spawner: N ok, M bad".
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int status_ok(int st)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spawner PROG ARG\n");
		return 2;
	}
	enum { N = 2000 };
	static unsigned char *blocks[N];
	for (int i = 0; i < N; i++) {
		blocks[i] = malloc(1000 + (size_t)i * 7);
		if (!blocks[i])
			return 3;
		memset(blocks[i], i & 0xff, 1000 + (size_t)i * 7);
	}
	int ok = 0, bad = 0;
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "%s %s", argv[1], argv[2]);
	if (status_ok(system(cmd)))
		ok++;
	else
		bad++, fprintf(stderr, "spawner: system() child failed\n");

	pid_t pid;
	char *cargv[] = {argv[1], argv[2], NULL};
	int st = 0;
	if (posix_spawn(&pid, argv[1], NULL, NULL, cargv, environ) == 0 && waitpid(pid, &st, 0) == pid &&
	    status_ok(st))
		ok++;
	else
		bad++, fprintf(stderr, "spawner: posix_spawn child failed\n");

	pid = vfork();
	if (pid == 0) {
		execv(argv[1], cargv);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &st, 0) == pid && status_ok(st))
		ok++;
	else
		bad++, fprintf(stderr, "spawner: vfork child failed\n");

	for (int i = 0; i < N; i++) {
		for (size_t k = 0; k < 1000 + (size_t)i * 7; k++)
			if (blocks[i][k] != (unsigned char)(i & 0xff)) {
				bad++;
				break;
			}
		free(blocks[i]);
	}
	printf("spawner: %d ok, %d bad\n", ok, bad);
	return bad ? 1 : 0;
}
