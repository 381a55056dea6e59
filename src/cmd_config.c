/* cmd_config.c - `mcpmux config claude`: the agent-side config snippet. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "json.h"

static int config_exec(int argc, char **argv)
{
	struct cmd_opts o;
	struct buf path = BUF_INIT, looked = BUF_INIT, out = BUF_INIT;
	char exe[PATH_MAX], *cfgabs;
	ssize_t n;
	int rc;

	if (argc < 1 || strcmp(argv[0], "claude") != 0) {
		if (argc >= 1 && cmd_is_help(argv[0])) {
			cmd_print_help(&cmd_config);
			return 0;
		}
		return cmd_usage(&cmd_config);
	}
	if ((rc = cmd_options(&cmd_config, argc - 1, argv + 1, "ch", &o)) >= 0)
		return rc;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "mcpmux: cannot find the path of this program\n");
		return 1;
	}
	exe[n] = '\0';
	if (config_find(o.config, &path, &looked) != 0) {
		fprintf(stderr, "mcpmux: warning: no config file exists yet; looked at:\n%s",
			buf_str(&looked));
	}
	cfgabs = realpath(path.data, NULL);
	buf_puts(&out, "{\n  \"mcpServers\": {\n    \"mux\": {\n      \"command\": ");
	json_escape_str(&out, exe);
	buf_puts(&out, ",\n      \"args\": [\"serve\", \"-c\", ");
	json_escape_str(&out, cfgabs ? cfgabs : path.data);
	buf_puts(&out, "]\n    }\n  }\n}\n");
	fwrite(out.data, 1, out.len, stdout);
	free(cfgabs);
	buf_free(&path);
	buf_free(&looked);
	buf_free(&out);
	return 0;
}

const struct cmd cmd_config = {
	"config", "config claude [-c FILE]",
	"Print the JSON snippet for a Claude-Desktop-style client config.",
	"Paste it into claude_desktop_config.json (mcpServers). Paths are absolute,\n"
	"because desktop clients start servers from an unknown working directory.\n",
	config_exec,
};
