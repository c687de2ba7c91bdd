/*
 * Walking a subcommand's arguments: options as --name VALUE or
 * --name=VALUE, "--" ending them, and the rest positional.  Shared by the
 * post-mortem commands so that they read their command lines alike.
 */
#ifndef FL_ARGS_H
#define FL_ARGS_H

#include <stddef.h>

struct fl_args {
	int argc;
	char **argv;
	int i;          /* index of the current argument */
	int options;    /* still reading options (no "--" seen) */
	const char *a;  /* the current argument */
	const char *eq; /* its '=' when it is --name=VALUE */
	size_t alen;    /* length of its name part */
};

/* Start before argv[1]. */
void fl_args_init(struct fl_args *g, int argc, char **argv);
/* Step to the next argument, passing over a first "--"; 0 at the end. */
int fl_args_next(struct fl_args *g);
/* Is the current argument option opt (while options are read)? */
int fl_args_is(const struct fl_args *g, const char *opt);
/* Does it look like an option (a dash and more, while options are read)? */
int fl_args_option_like(const struct fl_args *g);
/* The current option's value: after '=', else the next argument (which
 * is consumed); NULL when there is none. */
const char *fl_args_value(struct fl_args *g);
/* A process id 0..2^31-1 from s (NULL is refused).  0 or -1. */
int fl_args_pid(const char *s, long long *out);

#endif
