/*
 * peakrss CMD [ARGS...]: run CMD and print its peak RSS in KiB (the
 * largest process of its tree, from wait4) on stderr as "peakrss: N",
 * with CMD's exit status.  A small process of its own, because the kernel
 * carries a process's peak RSS across exec: measured from a big parent
 * (a Python benchmark driver), a small program would inherit its figure.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: peakrss CMD [ARGS...]\n");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("peakrss: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		perror("peakrss: exec");
		_exit(127);
	}
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) != pid) {
		perror("peakrss: wait4");
		return 2;
	}
	fprintf(stderr, "peakrss: %ld\n", ru.ru_maxrss);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
