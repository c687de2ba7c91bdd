/*
 * faultline: the command-line front end.  One binary, one subcommand per
 * job; each subcommand lives in its own file and is listed here.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"run", fl_cli_run, "run a program under the shim and print a summary at exit"},
	{"vmmap", fl_cli_vmmap, "one look at a process's memory, region by region (any pid)"},
	{"top", fl_cli_top, "live view of processes under the shim: regions, page maps, faults"},
	{"report", fl_cli_report, "post-mortem summary of a fault log: per process, regions, top stacks"},
	{"query", fl_cli_query, "SQL over a fault log (read-only), as a table, CSV or JSON"},
	{"export", fl_cli_export, "a fault log as folded stacks (flame graphs) or CSV"},
	{"settings", fl_cli_settings, "every FAULTLINE_* setting: default, accepted values, meaning"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: faultline COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'faultline COMMAND --help' describes one command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "faultline: '%s' is not a command\n\n", cmd);
	usage(stderr);
	return 2;
}
