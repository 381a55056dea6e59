/* cmd_serve.c - `mcpmux serve`: the stdio MCP server. */
#include <stdio.h>
#include <unistd.h>

#include "cmd.h"
#include "server.h"
#include "log.h"

static int serve_exec(int argc, char **argv)
{
	struct cmd_opts o;
	struct config cfg = { 0 };
	struct loop *loop;
	struct mux *m;
	struct server *s;
	struct buf err = BUF_INIT;
	int rc;

	if ((rc = cmd_options(&cmd_serve, argc, argv, "ch", &o)) >= 0)
		return rc;
	if (cmd_load_config(o.config, &cfg))
		return 1;
	if (cmd_global_init()) {
		config_free(&cfg);
		return 1;
	}
	loop = loop_new();
	if (!loop) {
		log_error("cannot create the event loop");
		config_free(&cfg);
		return 1;
	}
	m = mux_new(loop, &cfg);
	s = server_new(loop, m, STDIN_FILENO, STDOUT_FILENO, &err);
	if (!s) {
		log_error("%s", err.data);
		buf_free(&err);
		mux_free(m);
		loop_free(loop);
		config_free(&cfg);
		cmd_global_cleanup();
		return 1;
	}
	log_info("serving %zu connector(s) from %s", cfg.nconnectors, cfg.path);
	rc = server_run(s);
	server_free(s);
	mux_free(m);
	loop_free(loop);
	config_free(&cfg);
	cmd_global_cleanup();
	return rc;
}

const struct cmd cmd_serve = {
	"serve", "serve [-c FILE]",
	"Run the stdio MCP server an agent launches (the default command).",
	"Speaks MCP (newline-delimited JSON-RPC) on stdin/stdout; logs go to stderr only.\n"
	"Connects to every enabled connector at once and exposes their tools as\n"
	"<alias>__<tool>. Exits when stdin closes (after ending upstream sessions).\n",
	serve_exec,
};
