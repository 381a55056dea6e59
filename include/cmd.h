/*
 * cmd.h - the subcommands of mcpmux, one file each (cmd_*.c), same shape:
 * an entry in the table of main.c with a name, a usage line, a one-line
 * summary and an exec function that gets argv after the command name and
 * returns the exit status.
 */
#ifndef MCPMUX_CMD_H
#define MCPMUX_CMD_H

#include "config.h"

struct cmd {
	const char *name;
	const char *usage;	/* after "mcpmux " */
	const char *summary;	/* one line */
	const char *help;	/* the rest of `mcpmux CMD --help` */
	int (*exec)(int argc, char **argv);
};

/* Common options: -c FILE / --config FILE, --json, -h / --help. */
struct cmd_opts {
	const char *config;	/* -c FILE, or NULL */
	int json;		/* --json */
	int help;		/* --help */
};

/* Parses the options `allowed` (a subset of "cjh"); prints an error and returns -1
   on anything else. */
int cmd_parse(const struct cmd *c, int argc, char **argv, const char *allowed,
	      struct cmd_opts *o);
/* Finds and loads the config, reporting errors on stderr. Returns 0 or -1. */
int cmd_load_config(const char *explicit_path, struct config *cfg);
/* Process-wide setup for commands that talk to connectors (curl, sodium). */
int cmd_global_init(void);
void cmd_global_cleanup(void);
void cmd_print_help(const struct cmd *c);

extern const struct cmd cmd_serve, cmd_tools, cmd_check, cmd_config, cmd_approve, cmd_vault,
	cmd_init;

#endif
