/*
 * The subcommands of the faultline command.  Each takes its own argv
 * (argv[0] is the subcommand's name) and returns the process exit status.
 */
#ifndef FL_CLI_H
#define FL_CLI_H

int fl_cli_run(int argc, char **argv);
int fl_cli_vmmap(int argc, char **argv);
int fl_cli_top(int argc, char **argv);
int fl_cli_report(int argc, char **argv);
int fl_cli_query(int argc, char **argv);
int fl_cli_export(int argc, char **argv);
int fl_cli_settings(int argc, char **argv);

/* The fault log of a run (logd.c). */
#include <limits.h>
#include <sys/types.h>
struct fl_logd {
	int on;                /* a daemon takes this run's log */
	int shared;            /* it was already running (not ours to stop) */
	pid_t pid;             /* our private daemon, 0 if none */
	char socket[108];
	char dir[PATH_MAX];    /* private socket directory, removed at stop */
	char db[PATH_MAX];
};

/*
 * Choose the daemon for a run: socket_set is FAULTLINE_SOCKET's value
 * ("none": no log; NULL or "": the default socket); db is --db (NULL:
 * ./faultline.db for a private daemon, or whatever a running daemon
 * writes).  Starts a private daemon when needed.  0, or -1 after saying
 * why on stderr.
 */
int fl_logd_start(struct fl_logd *d, const char *db, const char *socket_set);
/* Tell the daemon how process pid ended (its wait status). */
void fl_logd_report_exit(const struct fl_logd *d, pid_t pid, int status);
/* Stop a private daemon, which writes everything first.  0 or -1. */
int fl_logd_stop(struct fl_logd *d);

#endif
