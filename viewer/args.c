/*
 * The subcommands' argument walker (args.h).
 */
#include "args.h"

#include <stdlib.h>
#include <string.h>

void fl_args_init(struct fl_args *g, int argc, char **argv)
{
	memset(g, 0, sizeof *g);
	g->argc = argc;
	g->argv = argv;
	g->options = 1;
}

int fl_args_next(struct fl_args *g)
{
	for (;;) {
		if (++g->i >= g->argc)
			return 0;
		g->a = g->argv[g->i];
		if (g->options && !strcmp(g->a, "--")) {
			g->options = 0;
			continue;
		}
		g->eq = g->options && g->a[0] == '-' && g->a[1] == '-' ? strchr(g->a, '=') : NULL;
		g->alen = g->eq ? (size_t)(g->eq - g->a) : strlen(g->a);
		return 1;
	}
}

int fl_args_is(const struct fl_args *g, const char *opt)
{
	return g->options && g->alen == strlen(opt) && !strncmp(g->a, opt, g->alen);
}

int fl_args_option_like(const struct fl_args *g)
{
	return g->options && g->a[0] == '-' && g->a[1];
}

const char *fl_args_value(struct fl_args *g)
{
	if (g->eq)
		return g->eq + 1;
	if (g->i + 1 < g->argc)
		return g->argv[++g->i];
	return NULL;
}

int fl_args_pid(const char *s, long long *out)
{
	char *end = NULL;
	long long v = s ? strtoll(s, &end, 10) : -1;
	if (!s || !*s || *end || v < 0 || v > 0x7fffffff)
		return -1;
	*out = v;
	return 0;
}
