/* cmd.c - what every subcommand shares: options, usage errors, help, config
   loading, process setup. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cmd.h"

void cmd_print_help(const struct cmd *c)
{
	printf("usage: mcpmux %s\n\n%s\n", c->usage, c->summary);
	if (c->help && *c->help)
		printf("\n%s", c->help);
}

int cmd_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

int cmd_usage(const struct cmd *c)
{
	fprintf(stderr, "usage: mcpmux %s\n", c->usage);
	return 2;
}

int cmd_usage_error(const struct cmd *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mcpmux %s: ", c->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return cmd_usage(c);
}

/* Fills o from argv; -1 after printing what is wrong. */
static int parse(const struct cmd *c, int argc, char **argv, const char *allowed,
		 struct cmd_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (cmd_is_help(a) && strchr(allowed, 'h')) {
			o->help = 1;
		} else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && strchr(allowed, 'c')) {
			if (i + 1 >= argc) {
				fprintf(stderr, "mcpmux %s: %s needs a file name\n", c->name, a);
				return -1;
			}
			o->config = argv[++i];
		} else if (!strncmp(a, "--config=", 9) && strchr(allowed, 'c')) {
			o->config = a + 9;
		} else if (!strcmp(a, "--json") && strchr(allowed, 'j')) {
			o->json = 1;
		} else {
			cmd_usage_error(c, "unknown option '%s'", a);
			return -1;
		}
	}
	return 0;
}

int cmd_options(const struct cmd *c, int argc, char **argv, const char *allowed,
		struct cmd_opts *o)
{
	if (parse(c, argc, argv, allowed, o))
		return 2;
	if (o->help) {
		cmd_print_help(c);
		return 0;
	}
	return -1;
}

int cmd_load_config(const char *explicit_path, struct config *cfg)
{
	struct buf path = BUF_INIT, looked = BUF_INIT, err = BUF_INIT;
	int rc = -1;

	if (config_find(explicit_path, &path, &looked) != 0) {
		if (path.len)
			fprintf(stderr, "mcpmux: no config file found. Looked at:\n%s"
				"Run `mcpmux init` to write a starter config at %s,\n"
				"or pass -c FILE.\n", buf_str(&looked), buf_str(&path));
		else
			fprintf(stderr, "mcpmux: no config file found. Looked at:\n%s"
				"Run `mcpmux init FILE` to write a starter config, or pass -c FILE.\n",
				buf_str(&looked));
		goto out;
	}
	if (config_load(cfg, path.data, &err) != 0) {
		fputs(buf_str(&err), stderr);
		if (err.len && err.data[err.len - 1] != '\n')
			fputc('\n', stderr);
		goto out;
	}
	rc = 0;
out:
	buf_free(&path);
	buf_free(&looked);
	buf_free(&err);
	return rc;
}

int cmd_global_init(void)
{
	struct rlimit no_core = { 0, 0 };

	if (sodium_init() < 0) {
		fprintf(stderr, "mcpmux: libsodium failed to initialize\n");
		return -1;
	}
	/* Credentials live in this process: no core dumps, no ptrace by others. */
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "mcpmux: libcurl failed to initialize\n");
		return -1;
	}
	return 0;
}

void cmd_global_cleanup(void)
{
	curl_global_cleanup();
}
