/* main.c - command dispatch, common options and process setup. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cmd.h"
#include "log.h"
#include "protocol.h"

static const struct cmd *const commands[] = { &cmd_serve, &cmd_tools, &cmd_check, &cmd_config, &cmd_approve, &cmd_vault, &cmd_init };
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_usage(FILE *f)
{
	size_t i;

	fprintf(f, "mcpmux %s - one stdio MCP server in front of many remote MCP servers\n\n"
		"usage: mcpmux [COMMAND] [OPTIONS]\n\ncommands:\n", MCPMUX_VERSION);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-16s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\noptions:\n"
		"  -c, --config FILE  the config file (else $MCPMUX_CONFIG, then\n"
		"                     $XDG_CONFIG_HOME/mcpmux/mcpmux.ini, then /etc/mcpmux/mcpmux.ini)\n"
		"  -h, --help         this help; `mcpmux COMMAND --help` for one command\n"
		"  -V, --version      version and supported MCP protocol versions\n"
		"\nWith no command, mcpmux runs `serve`.\n");
}

static void print_version(void)
{
	size_t i;

	printf("mcpmux %s\n", MCPMUX_VERSION);
	printf("libcurl %s, libsodium %s\n", curl_version_info(CURLVERSION_NOW)->version,
	       sodium_version_string());
	printf("MCP protocol versions:");
	for (i = 0; i < mcp_nversions; i++)
		printf(" %s", mcp_versions[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "serve";
	int first = 2;
	size_t i;

	log_init();
#ifdef M_MMAP_THRESHOLD
	/* Big buffers (a result of megabytes) get their own mapping, whatever
	   was freed before: growing one moves pages instead of copying bytes,
	   and freeing it gives the memory back at once. Setting the threshold
	   turns off glibc's habit of raising it after such a free, which would
	   put the next big buffer on the heap, copied on growth and kept. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
	if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
		print_usage(stdout);
		return 0;
	}
	if (!strcmp(name, "-V") || !strcmp(name, "--version") || !strcmp(name, "version")) {
		if (sodium_init() < 0)
			return 1;
		print_version();
		return 0;
	}
	if (name[0] == '-') {
		/* Options with no command: `mcpmux -c FILE` means serve. */
		name = "serve";
		first = 1;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(name, commands[i]->name))
			return commands[i]->exec(argc - first, argv + first);
	fprintf(stderr, "mcpmux: unknown command '%s'\n\n", name);
	print_usage(stderr);
	return 2;
}
