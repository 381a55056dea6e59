/* cmd_tools.c - `mcpmux tools` and `mcpmux check`: connect once, report. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "mux.h"
#include "policy.h"

/* Starts every connector and waits until all settled or connect_timeout. */
static void settle(struct loop *loop, struct mux *m)
{
	int64_t end = loop_now() + mux_config(m)->connect_timeout_ms, now;

	mux_start(m, NULL);
	while (!mux_settled(m) && (now = loop_now()) < end)
		if (loop_run_once(loop, (int)(end - now)))
			break;
}

struct session {
	struct config cfg;
	struct loop *loop;
	struct mux *m;
};

static int open_session(const struct cmd_opts *o, struct session *s)
{
	memset(s, 0, sizeof(*s));
	if (cmd_load_config(o->config, &s->cfg))
		return -1;
	if (cmd_global_init()) {
		config_free(&s->cfg);
		return -1;
	}
	s->loop = loop_new();
	if (!s->loop) {
		config_free(&s->cfg);
		return -1;
	}
	s->m = mux_new(s->loop, &s->cfg);
	settle(s->loop, s->m);
	return 0;
}

static void close_session(struct session *s)
{
	mux_close(s->m, 1000);
	mux_free(s->m);
	loop_free(s->loop);
	config_free(&s->cfg);
	cmd_global_cleanup();
}

static const char *status_of(const struct connector *c)
{
	enum conn_state st = connector_state(c);

	/* Still starting when the wait ended counts as a failure to the user. */
	return st == CONN_STARTING ? "error" : connector_state_name(st);
}

static void reason_of(const struct connector *c, const struct config *cfg, struct buf *out)
{
	struct conn_status st;

	connector_status(c, &st);
	if (st.state == CONN_STARTING) {
		buf_printf(out, "no answer within connect_timeout (%ld s) - is the server responsive?",
			   cfg->connect_timeout_ms / 1000);
		return;
	}
	buf_puts(out, st.reason);
	if (*st.hint)
		buf_printf(out, " - %s", st.hint);
}

static const char *label_of(const struct cat_entry *e)
{
	return policy_label_name(policy_label(e->conn->cfg, e->tool));
}

/* "ask": calling it waits for a human; "auto": it runs at once. */
static const char *approval_of(const struct cat_entry *e)
{
	return policy_asks(e->conn->cfg, e->tool) ? "ask" : "auto";
}

static void print_json(struct session *s)
{
	const struct catalog *cat = mux_catalog(s->m);
	struct buf out = BUF_INIT, why = BUF_INIT;
	size_t i;

	buf_puts(&out, "{\"tools\":[");
	for (i = 0; i < cat->n; i++) {
		const struct cat_entry *e = &cat->entries[i];

		buf_puts(&out, i ? ",\n  {\"name\":" : "\n  {\"name\":");
		json_escape_str(&out, e->exposed);
		buf_puts(&out, ",\"connector\":");
		json_escape_str(&out, connector_alias(e->conn));
		buf_puts(&out, ",\"tool\":");
		json_escape_str(&out, e->tool->name);
		buf_printf(&out, ",\"label\":\"%s\",\"approval\":\"%s\",\"status\":\"%s\"}",
			   label_of(e), approval_of(e), status_of(e->conn));
	}
	buf_puts(&out, "\n],\"connectors\":[");
	for (i = 0; i < mux_count(s->m); i++) {
		const struct connector *c = mux_connector(s->m, i);
		enum conn_state st = connector_state(c);
		size_t nt;

		connector_tools(c, &nt);
		buf_puts(&out, i ? ",\n  {\"connector\":" : "\n  {\"connector\":");
		json_escape_str(&out, connector_alias(c));
		buf_printf(&out, ",\"status\":\"%s\",\"tools\":%zu", status_of(c), nt);
		if (st == CONN_ERROR || st == CONN_STARTING || st == CONN_REAUTH) {
			buf_reset(&why);
			reason_of(c, &s->cfg, &why);
			buf_puts(&out, ",\"reason\":");
			json_escape_str(&out, why.data);
		}
		buf_putc(&out, '}');
	}
	buf_puts(&out, "\n]}\n");
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	buf_free(&why);
}

static void print_table(struct session *s)
{
	const struct catalog *cat = mux_catalog(s->m);
	size_t i, w = 4;

	for (i = 0; i < cat->n; i++)
		if (strlen(cat->entries[i].exposed) > w)
			w = strlen(cat->entries[i].exposed);
	printf("%-*s  %-16s %-32s %-5s  %-8s %s\n", (int)w, "NAME", "CONNECTOR", "TOOL", "LABEL",
	       "APPROVAL", "STATUS");
	for (i = 0; i < cat->n; i++) {
		const struct cat_entry *e = &cat->entries[i];

		printf("%-*s  %-16s %-32s %-5s  %-8s %s\n", (int)w, e->exposed,
		       connector_alias(e->conn), e->tool->name, label_of(e), approval_of(e),
		       status_of(e->conn));
	}
	for (i = 0; i < mux_count(s->m); i++) {
		const struct connector *c = mux_connector(s->m, i);

		if (connector_state(c) != CONN_READY)
			printf("# connector '%s' is %s: its tools are not listed\n",
			       connector_alias(c), status_of(c));
	}
}

static int tools_exec(int argc, char **argv)
{
	struct cmd_opts o;
	struct session s;
	int rc;

	if ((rc = cmd_options(&cmd_tools, argc, argv, "cjh", &o)) >= 0)
		return rc;
	log_quiet(1);
	if (open_session(&o, &s))
		return 1;
	if (o.json)
		print_json(&s);
	else
		print_table(&s);
	close_session(&s);
	return 0;
}

static int check_exec(int argc, char **argv)
{
	struct cmd_opts o;
	struct session s;
	struct buf why = BUF_INIT;
	int bad = 0, rc;
	size_t i, nt;

	if ((rc = cmd_options(&cmd_check, argc, argv, "ch", &o)) >= 0)
		return rc;
	log_quiet(1);
	if (open_session(&o, &s))
		return 1;
	printf("config %s: ok (%zu connectors)\n", s.cfg.path, s.cfg.nconnectors);
	for (i = 0; i < mux_count(s.m); i++) {
		const struct connector *c = mux_connector(s.m, i);
		struct conn_status st;

		connector_status(c, &st);
		connector_tools(c, &nt);
		if (st.state == CONN_READY) {
			printf("%-16s active    %zu tools, %lld ms\n", connector_alias(c), nt,
			       (long long)st.latency_ms);
		} else if (st.state == CONN_DISABLED) {
			printf("%-16s disabled\n", connector_alias(c));
		} else {
			buf_reset(&why);
			reason_of(c, &s.cfg, &why);
			printf("%-16s %-9s %s\n", connector_alias(c), status_of(c), why.data);
			bad = 1;
		}
	}
	buf_free(&why);
	close_session(&s);
	return bad ? 1 : 0;
}

const struct cmd cmd_tools = {
	"tools", "tools [-c FILE] [--json]",
	"Connect to every enabled connector and print the merged tool catalog.",
	"Columns: exposed name, connector, upstream tool name, label (read/write),\n"
	"approval (ask: a human decides each call; auto: it runs at once), status.\n"
	"--json prints {\"tools\": [...], \"connectors\": [...]} instead.\n",
	tools_exec,
};

const struct cmd cmd_check = {
	"check", "check [-c FILE]",
	"Validate the config and test each connector end to end.",
	"One line per connector: active (tools, latency), disabled, error or\n"
	"reauth_required (the connector refuses the credential) with the reason and\n"
	"what to do. Exits 0 only when every enabled connector is active.\n",
	check_exec,
};
