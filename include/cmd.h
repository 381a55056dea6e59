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

/*
 * Parses the options `allowed` (a subset of "cjh") into o, and ends the
 * command where they say so: returns -1 to go on, else the exit status to
 * return at once: 0 after printing --help (cmd_print_help()), 2 after a
 * usage error (printed: cmd_usage_error()).
 */
int cmd_options(const struct cmd *c, int argc, char **argv, const char *allowed,
		struct cmd_opts *o);
/* 1 when arg is -h or --help. */
int cmd_is_help(const char *arg);
/* "usage: mcpmux USAGE" on stderr; returns 2, the exit status of a usage error. */
int cmd_usage(const struct cmd *c);
/* "mcpmux NAME: MESSAGE" on stderr, then the usage line; returns 2. */
int cmd_usage_error(const struct cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Finds and loads the config, reporting errors on stderr. Returns 0 or -1. */
int cmd_load_config(const char *explicit_path, struct config *cfg);
/* Process-wide setup for commands that talk to connectors (curl, sodium). */
int cmd_global_init(void);
void cmd_global_cleanup(void);
void cmd_print_help(const struct cmd *c);

extern const struct cmd cmd_serve, cmd_tools, cmd_check, cmd_config, cmd_approve, cmd_vault,
	cmd_init;

#endif
