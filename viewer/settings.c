/*
 * faultline settings [--markdown]: every FAULTLINE_* variable with its
 * default, accepted values and meaning, printed from the settings table
 * (common/options.c).  --markdown prints the README's settings table,
 * which `make readme-settings` puts in README.md.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline settings [--markdown]\n\n"
		"Lists every FAULTLINE_* environment variable the shim reads, with its\n"
		"default and the values it accepts.  `faultline run --NAME VALUE` sets\n"
		"the one of the same name.  --markdown prints the table as the README has it.\n");
}

int fl_cli_settings(int argc, char **argv)
{
	int md = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--markdown")) {
			md = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "faultline settings: unknown argument '%s' (see faultline settings --help)\n",
				argv[i]);
			return 2;
		}
	}
	if (md)
		printf("| variable | default | accepted | what it does |\n|---|---|---|---|\n");
	for (const struct fl_option *o = fl_options; o->name; o++) {
		char acc[160];
		const char *dflt = o->dflt[0] ? o->dflt : "(unset)";
		fl_option_accepted(o, acc, sizeof acc);
		if (md)
			printf("| `FAULTLINE_%s` | %s | %s | %s |\n", o->name, dflt, acc, o->help);
		else
			printf("FAULTLINE_%s\n    %s\n    Accepts %s; default %s.\n", o->name, o->help, acc, dflt);
	}
	return 0;
}
