/* cmd_init.c - `mcpmux init [FILE]`: a commented starter config, never over another file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "cmd.h"

#define SYSTEM_CONFIG	"/etc/mcpmux/mcpmux.ini"

/* It must load as it is: the example connector is disabled and has no token. */
static const char starter[] =
	"; mcpmux configuration, written by `mcpmux init`.\n"
	";\n"
	"; Add one [connector \"NAME\"] section per remote MCP server, then run\n"
	"; `mcpmux check` to test each one and `mcpmux config claude` for the entry\n"
	"; to add to your agent's config. Every key is described in mcpmux.ini(5)\n"
	"; (`man 5 mcpmux.ini`); sample.ini, installed with the documentation,\n"
	"; uses them all.\n"
	";\n"
	"; Comments start with ';' or '#'. Unknown sections and keys are errors.\n"
	"; Durations are whole seconds from 1 to 86400.\n"
	"\n"
	"[mcpmux]\n"
	"; The defaults, commented out:\n"
	";client_prefix    = mcp__mux__  ; what the agent puts before the tool names\n"
	";call_timeout     = 60          ; seconds one upstream request may take\n"
	";connect_timeout  = 10          ; seconds tools/list waits for starting connectors\n"
	";approvals        = auto        ; auto | terminal | tty | elicitation | deny\n"
	";approval_timeout = 120         ; seconds a call waits for a human, then it is denied\n"
	";audit_log        = ~/.local/state/mcpmux/audit.jsonl  ; or off\n"
	";max_message      = 16          ; MiB: the largest message a connector may send\n"
	"\n"
	"; Where local:, vault: and oauth: credentials come from.\n"
	"[vault]\n"
	"type = local   ; local (`mcpmux vault set NAME`) | hashicorp (also OpenBao) | none\n"
	"\n"
	"; An example, kept in the file but not started. Point url at a real MCP\n"
	"; endpoint, set enabled = yes, and give it a credential if it needs one.\n"
	"[connector \"example\"]\n"
	"url     = https://mcp.example.com/mcp  ; http:// or https:// only\n"
	"enabled = no\n"
	";token    = local:example      ; stored with `mcpmux vault set example`\n"
	";token    = env:EXAMPLE_TOKEN  ; or env:VAR, file:/path, vault:..., oauth:...\n"
	";tools    = *                  ; allow-list globs; hide = deny-list globs\n"
	";approval = default            ; read tools run, write tools ask; ask | auto\n";

/* 0, or -1 after a message; the file is then removed again. */
static int write_starter(const char *path)
{
	size_t off = 0, len = sizeof(starter) - 1;
	struct buf err = BUF_INIT;
	ssize_t w;
	int fd;

	if (mkdir_parent(path, &err) != 0) {
		fprintf(stderr, "mcpmux init: %s\n", buf_str(&err));
		buf_free(&err);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			fprintf(stderr, "mcpmux init: %s already exists; not overwriting it.\n"
				"Edit it, or give another FILE: mcpmux init FILE\n", path);
		else
			fprintf(stderr, "mcpmux init: cannot create %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (off < len) {
		w = write(fd, starter + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off < len || fsync(fd) != 0 || close(fd) != 0) {
		fprintf(stderr, "mcpmux init: cannot write %s: %s\n", path, strerror(errno));
		if (off < len)
			close(fd);
		unlink(path);
		return -1;
	}
	return 0;
}

/* Without FILE: where config_find() would look first; refuses when a config exists. */
static int default_path(struct buf *out)
{
	struct buf looked = BUF_INIT;
	int found = config_find(NULL, out, &looked) == 0;

	buf_free(&looked);
	if (found && !strcmp(buf_str(out), SYSTEM_CONFIG)) {
		fprintf(stderr, "mcpmux init: mcpmux already uses the system-wide %s.\n"
			"To write a per-user config that takes its place, name it:\n"
			"  mcpmux init ~/.config/mcpmux/mcpmux.ini\n", SYSTEM_CONFIG);
		return -1;
	}
	if (found) {
		fprintf(stderr, "mcpmux init: %s already exists; not overwriting it.\n"
			"Edit it, or give another FILE: mcpmux init FILE\n", buf_str(out));
		return -1;
	}
	if (!out->len) {
		fprintf(stderr, "mcpmux init: $HOME is not set, so there is no default place "
			"for the config: give one, mcpmux init FILE\n");
		return -1;
	}
	return 0;
}

static void print_next(const char *path, int explicit_path)
{
	char *abs = realpath(path, NULL);
	const char *p = abs ? abs : path;

	printf("wrote %s\n\nNext:\n"
	       "  1. Edit it: one [connector \"NAME\"] section per remote MCP server\n"
	       "     (every key: man 5 mcpmux.ini).\n", p);
	if (explicit_path) {
		printf("  2. mcpmux check -c %s\n"
		       "     tests the config and each connector.\n"
		       "  3. mcpmux config claude -c %s\n"
		       "     prints the entry for your agent's config.\n", p, p);
	} else {
		printf("  2. mcpmux check            tests the config and each connector.\n"
		       "  3. mcpmux config claude    prints the entry for your agent's config.\n");
	}
	free(abs);
}

static int init_exec(int argc, char **argv)
{
	struct buf path = BUF_INIT;
	const char *file = NULL;
	int i, rc = 1;

	for (i = 0; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			cmd_print_help(&cmd_init);
			return 0;
		}
		if ((argv[i][0] == '-' && argv[i][1]) || file)
			return cmd_usage_error(&cmd_init, "unexpected '%s'", argv[i]);
		file = argv[i];
	}
	if (file)
		buf_puts(&path, file);
	else if (default_path(&path))
		goto out;
	if (write_starter(buf_str(&path)))
		goto out;
	print_next(buf_str(&path), file != NULL);
	rc = 0;
out:
	buf_free(&path);
	return rc;
}

const struct cmd cmd_init = {
	"init", "init [FILE]",
	"Write a commented starter config (never overwrites a file).",
	"FILE defaults to $MCPMUX_CONFIG when that is set, else to\n"
	"$XDG_CONFIG_HOME/mcpmux/mcpmux.ini (~/.config/mcpmux/mcpmux.ini). Missing\n"
	"directories are created 0700 and the file 0600. It holds the defaults,\n"
	"commented out, and one example connector that is disabled, so it loads as\n"
	"it is; exits 1 when FILE (or the default) already exists.\n",
	init_exec,
};
