/*
 * The subcommands of the faultline command.  Each takes its own argv
 * (argv[0] is the subcommand's name) and returns the process exit status.
 */
#ifndef FL_CLI_H
#define FL_CLI_H

int fl_cli_run(int argc, char **argv);

#endif
