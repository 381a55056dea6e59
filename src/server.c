/* server.c - the MCP session with the agent; see include/server.h. */
#include "server.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "approval.h"
#include "audit.h"
#include "downstream.h"
#include "list.h"
#include "log.h"
#include "protocol.h"
#include "router.h"
#include "xalloc.h"

#define CLOSE_TIMEOUT_MS 1000
#define LIST_CHANGED_DELAY_MS 20

/* A connector's request passed on to the agent, until the agent answers it. */
struct relay {
	struct server *s;
	struct relay *prev, *next;
	struct down_outreq *o;	/* our request to the agent, under our id */
	struct connector *conn;	/* the connector that asked */
	char *orig_id;		/* ...and its id, as it sent it */
	size_t orig_id_len;
};

/* An approval question asked through the agent (elicitation). */
struct ask {
	struct down_outreq *o;
	void (*done)(void *ctx, int accepted);
	void *ctx;
};

/* A request that waits for connectors still starting. */
struct deferred {
	struct server *s;
	struct deferred *prev, *next;
	struct connector *conn;	/* the connector it waits for, or NULL: all that start */
	char *line;		/* the request as received */
	size_t len;
	struct loop_timer *timer; /* connect_timeout */
};

struct server {
	struct loop *loop;		/* not owned */
	struct mux *mux;		/* not owned */
	struct downstream *down;	/* JSON-RPC with the agent (owned) */
	struct router *router;		/* routed requests (owned) */
	struct approval *appr;		/* the approval broker (owned) */
	struct audit *audit;		/* the audit log (owned), NULL when off */
	struct deferred *deferred;
	struct relay *relays;
	int listed;			/* a tools/list was answered */
	uint64_t listed_gen;		/* catalog generation the agent saw */
	struct loop_timer *changed;	/* pending notifications/tools/list_changed */
	int client_elicitation;		/* the agent declared the elicitation capability */
	int started;			/* the connectors were started */
};

/* --- requests that wait for connectors --- */

static void deferred_free(struct deferred *q)
{
	struct server *s = q->s;

	DLIST_UNLINK(s->deferred, q);
	if (q->timer)
		loop_timer_cancel(s->loop, q->timer);
	free(q->line);
	free(q);
}

static void redispatch(struct deferred *q)
{
	struct server *s = q->s;
	char *line = q->line;
	size_t len = q->len;

	q->line = NULL;
	deferred_free(q);
	down_redispatch(s->down, line, len);
	free(line);
}

static void on_deferred_timeout(void *arg)
{
	struct deferred *q = arg;

	q->timer = NULL;
	redispatch(q);
}

static void defer_request(struct server *s, const struct down_msg *m, struct connector *conn)
{
	struct deferred *q = xcalloc(1, sizeof(*q));

	q->s = s;
	q->conn = conn;
	q->line = xmemdup(m->line, m->len);
	q->len = m->len;
	q->timer = loop_timer_add(s->loop, mux_config(s->mux)->connect_timeout_ms,
				  on_deferred_timeout, q);
	DLIST_PUSH(s->deferred, q);
}

/* --- what the connectors say --- */

static void on_list_changed(void *arg)
{
	struct server *s = arg;
	struct buf *out;

	s->changed = NULL;
	if (mux_generation(s->mux) == s->listed_gen)
		return;
	out = down_begin(s->down);
	buf_puts(out, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}");
	down_end(s->down);
	/* The agent re-lists; until then further changes need no second notice. */
	s->listed_gen = mux_generation(s->mux);
}

static void on_mux_change(struct mux *m, void *arg)
{
	struct server *s = arg;
	struct deferred *q, *next;
	struct conn_status st;

	if (s->listed && mux_generation(m) != s->listed_gen && !s->changed)
		s->changed = loop_timer_add(s->loop, LIST_CHANGED_DELAY_MS, on_list_changed, s);
	/* Each waits for its own connector's attempt, or for all that start. */
	for (q = s->deferred; q; q = next) {
		next = q->next;
		if (q->conn)
			connector_status(q->conn, &st);
		if (q->conn ? !st.busy : mux_settled(m))
			redispatch(q);
	}
}

/* notifications/message with the connector in `logger` ("alias" or "alias/logger"). */
static void forward_log(struct server *s, struct connector *conn, const char *msg,
			const struct json *j)
{
	int params = json_get(j, 0, "params"), logger = json_get(j, params, "logger");
	struct buf name = BUF_INIT, *out;
	size_t st, e;

	if (json_type(j, params) != JSMN_OBJECT)
		return;
	out = down_begin(s->down);
	buf_puts(&name, connector_alias(conn));
	if (json_type(j, logger) == JSMN_STRING) {
		buf_putc(&name, '/');
		json_string(j, logger, &name);
		json_span(j, logger, &st, &e);
		buf_add(out, msg, st);
		json_escape_str(out, name.data);
		buf_add(out, msg + e, j->len - e);
	} else {
		json_span(j, params, &st, &e);
		buf_add(out, msg, st + 1);
		buf_puts(out, "\"logger\":");
		json_escape_str(out, name.data);
		if (json_size(j, params))
			buf_putc(out, ',');
		buf_add(out, msg + st + 1, j->len - st - 1);
	}
	down_end(s->down);
	buf_free(&name);
}

static void relay_free(struct relay *y)
{
	DLIST_UNLINK(y->s->relays, y);
	free(y->orig_id);
	free(y);
}

/* A connector gave up on a request it had sent the agent: tell the agent, under our id. */
static void cancel_relayed(struct server *s, struct connector *conn, const struct json *j)
{
	int rid = json_get(j, json_get(j, 0, "params"), "requestId");
	struct relay *y;
	size_t st, e;

	if (rid < 0)
		return;
	json_span(j, rid, &st, &e);
	for (y = s->relays; y; y = y->next)
		if (y->conn == conn && y->orig_id_len == e - st &&
		    !memcmp(y->orig_id, j->js + st, e - st))
			break;
	if (!y)
		return;
	down_outreq_withdraw(s->down, y->o, "the connector cancelled it");
	relay_free(y);
}

static void on_mux_notify(struct mux *m, struct connector *conn, const char *msg, size_t n,
			  const struct json *j, void *arg)
{
	struct server *s = arg;
	int method = json_get(j, 0, "method");

	(void)m;
	/* Progress tokens are the agent's own, passed upstream in _meta untouched. */
	if (json_streq(j, method, "notifications/progress")) {
		buf_add(down_begin(s->down), msg, n);
		down_end(s->down);
	} else if (json_streq(j, method, "notifications/message")) {
		forward_log(s, conn, msg, j);
	} else if (json_streq(j, method, "notifications/cancelled")) {
		cancel_relayed(s, conn, j);
	} else {
		log_debug("connector '%s': notification not forwarded", connector_alias(conn));
	}
}

/* The agent answered a relayed request: its answer as it came, with the connector's own id. */
static void on_relay_answer(void *ctx, const struct json *j, int id)
{
	struct relay *y = ctx;
	struct buf out = BUF_INIT;
	size_t st, e;

	json_span(j, id, &st, &e);
	buf_add(&out, j->js, st);
	buf_add(&out, y->orig_id, y->orig_id_len);
	buf_add(&out, j->js + e, j->len - e);
	connector_send(y->conn, out.data, out.len);
	buf_free(&out);
	relay_free(y);
}

/* A connector asks the agent something: pass it on under an id of ours. */
static void on_mux_request(struct mux *m, struct connector *conn, const char *msg, size_t n,
			   const struct json *j, void *arg)
{
	struct server *s = arg;
	struct relay *y = xcalloc(1, sizeof(*y));
	struct buf *out;
	size_t st, e;

	(void)m;
	(void)n;
	y->s = s;
	y->conn = conn;
	y->o = down_outreq_new(s->down, on_relay_answer, y);
	json_span(j, json_get(j, 0, "id"), &st, &e);
	y->orig_id = xmemdup(msg + st, e - st);
	y->orig_id_len = e - st;
	DLIST_PUSH(s->relays, y);
	out = down_begin(s->down);
	buf_add(out, msg, st);
	buf_printf(out, "\"%s\"", down_outreq_id(y->o));
	buf_add(out, msg + e, j->len - e);
	down_end(s->down);
}

/* --- approval questions through the agent (elicitation) --- */

static int elicit_available(void *arg)
{
	struct server *s = arg;

	return s->client_elicitation;
}

static void on_ask_answer(void *ctx, const struct json *j, int id)
{
	struct ask *a = ctx;
	int res = json_get(j, 0, "result"), content, accepted = -1;

	(void)id;
	if (res >= 0) {
		content = json_get(j, res, "content");
		accepted = json_streq(j, json_get(j, res, "action"), "accept") &&
			   json_is_true(j, json_get(j, content, "approve"));
	}
	a->done(a->ctx, accepted);
	free(a);
}

static void *elicit_start(void *arg, const char *message, void (*done)(void *ctx, int accepted),
			  void *ctx)
{
	struct server *s = arg;
	struct ask *a = xcalloc(1, sizeof(*a));
	struct buf *out;

	a->done = done;
	a->ctx = ctx;
	a->o = down_outreq_new(s->down, on_ask_answer, a);
	out = down_begin(s->down);
	buf_printf(out, "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":\"elicitation/create\","
		   "\"params\":{\"message\":", down_outreq_id(a->o));
	json_escape_str(out, message);
	buf_puts(out, ",\"requestedSchema\":{\"type\":\"object\",\"properties\":{\"approve\":"
		 "{\"type\":\"boolean\",\"title\":\"Allow this call\","
		 "\"description\":\"Check to let the tool run once.\"}},\"required\":[\"approve\"]}}}");
	down_end(s->down);
	return a;
}

static void elicit_cancel(void *arg, void *handle)
{
	struct server *s = arg;
	struct ask *a = handle;

	down_outreq_withdraw(s->down, a->o, "decided elsewhere");
	free(a);
}

/* --- the agent's requests that mcpmux answers itself --- */

/*
 * Connectors start once the agent has said what it can do: the capabilities
 * a connector may use through mcpmux (elicitation, sampling, roots) are the
 * agent's, declared upstream as the agent declared them.
 */
static void start_connectors(struct server *s, const struct json *j, int caps)
{
	static const char *const mirrored[] = { "elicitation", "sampling", "roots" };
	struct buf c = BUF_INIT;
	size_t i, st, e;
	int v, n = 0;

	if (s->started)
		return;
	s->started = 1;
	buf_putc(&c, '{');
	for (i = 0; j && i < sizeof(mirrored) / sizeof(mirrored[0]); i++) {
		v = json_get(j, caps, mirrored[i]);
		if (json_type(j, v) != JSMN_OBJECT)
			continue;
		json_span(j, v, &st, &e);
		buf_printf(&c, "%s\"%s\":", n++ ? "," : "", mirrored[i]);
		buf_add(&c, j->js + st, e - st);
	}
	buf_putc(&c, '}');
	mux_start(s->mux, c.data);
	buf_free(&c);
}

/* Who the agent is (for the approval terminal) and whether it can be asked. */
static void note_client(struct server *s, const struct json *j, int params)
{
	int info = json_get(j, params, "clientInfo");
	int caps = json_get(j, params, "capabilities");
	struct buf agent = BUF_INIT;

	s->client_elicitation = json_type(j, json_get(j, caps, "elicitation")) == JSMN_OBJECT;
	start_connectors(s, j, caps);
	if (json_string(j, json_get(j, info, "name"), &agent) || !agent.len) {
		buf_reset(&agent);
		buf_puts(&agent, "unknown agent");
	}
	if (json_type(j, json_get(j, info, "version")) == JSMN_STRING) {
		buf_putc(&agent, ' ');
		json_string(j, json_get(j, info, "version"), &agent);
	}
	approval_set_agent(s->appr, agent.data);
	buf_free(&agent);
}

static void do_initialize(struct server *s, const struct down_msg *m)
{
	const struct json *j = m->j;
	int pv = json_get(j, m->params, "protocolVersion");
	const char *ver = mcp_versions[mcp_nversions - 1];
	struct buf res = BUF_INIT;
	size_t i;

	for (i = 0; i < mcp_nversions; i++)
		if (json_streq(j, pv, mcp_versions[i]))
			ver = mcp_versions[i];
	note_client(s, j, m->params);
	buf_printf(&res, "{\"protocolVersion\":\"%s\",\"capabilities\":{\"tools\":{\"listChanged\":true},"
		   "\"logging\":{}},"
		   "\"serverInfo\":{\"name\":\"mcpmux\",\"version\":\"%s\"}}", ver, MCPMUX_VERSION);
	down_result(s->down, m->id, m->idn, res.data);
	buf_free(&res);
}

static void do_ping(struct server *s, const struct down_msg *m)
{
	down_result(s->down, m->id, m->idn, "{}");
}

static void do_tools_list(struct server *s, const struct down_msg *m)
{
	struct buf *out;

	if (!mux_settled(s->mux) && !m->final) {
		defer_request(s, m, NULL);
		return;
	}
	out = down_begin(s->down);
	buf_puts(out, "{\"jsonrpc\":\"2.0\",\"id\":");
	buf_add(out, m->id, m->idn);
	buf_puts(out, ",\"result\":{\"tools\":[");
	catalog_write_tools(mux_catalog(s->mux), out);
	buf_puts(out, "]}}");
	down_end(s->down);
	s->listed = 1;
	s->listed_gen = mux_generation(s->mux);
}

static void do_cancelled(struct server *s, const struct down_msg *m)
{
	const struct json *j = m->j;
	int rid = json_get(j, m->params, "requestId");
	size_t st, e;

	if (rid < 0 || (json_type(j, rid) != JSMN_STRING && json_type(j, rid) != JSMN_PRIMITIVE))
		return;
	json_span(j, rid, &st, &e);
	router_cancel(s->router, j->js + st, e - st);
}

static void do_nothing(struct server *s, const struct down_msg *m)
{
	(void)s;
	(void)m;
}

static void do_set_level(struct server *s, const struct down_msg *m)
{
	struct buf level = BUF_INIT;
	size_t i;

	if (json_string(m->j, json_get(m->j, m->params, "level"), &level) || !level.len) {
		down_error(s->down, m->id, m->idn, -32602, "logging/setLevel needs params {level: string}");
		buf_free(&level);
		return;
	}
	for (i = 0; i < mux_count(s->mux); i++)
		connector_set_log_level(mux_connector(s->mux, i), level.data);
	down_result(s->down, m->id, m->idn, "{}");
	buf_free(&level);
}

/* The agent's roots changed: every connector that may ask for them hears it. */
static void do_roots_changed(struct server *s, const struct down_msg *m)
{
	static const char msg[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/roots/list_changed\"}";
	size_t i;

	(void)m;
	for (i = 0; i < mux_count(s->mux); i++)
		connector_send(mux_connector(s->mux, i), msg, sizeof(msg) - 1);
}

static const struct method {
	const char *name;
	void (*fn)(struct server *s, const struct down_msg *m);
	int is_request;		/* needs an id */
} methods[] = {
	{ "initialize", do_initialize, 1 },
	{ "ping", do_ping, 1 },
	{ "tools/list", do_tools_list, 1 },
	{ "notifications/initialized", do_nothing, 0 },
	{ "notifications/cancelled", do_cancelled, 0 },
	{ "logging/setLevel", do_set_level, 1 },
	{ "notifications/roots/list_changed", do_roots_changed, 0 },
};

static void on_message(void *arg, const struct down_msg *m)
{
	struct server *s = arg;
	const struct json *j = m->j;
	struct connector *wait;
	struct buf t = BUF_INIT;
	size_t i;

	if (!s->started && !json_streq(j, m->method, "initialize"))
		start_connectors(s, NULL, -1);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!json_streq(j, m->method, methods[i].name))
			continue;
		if (methods[i].is_request && !m->id)
			return;	/* a request sent as a notification gets no answer */
		methods[i].fn(s, m);
		return;
	}
	switch (router_handle(s->router, m, &wait)) {
	case ROUTE_WAIT:
		defer_request(s, m, wait);
		return;
	case ROUTE_DONE:
		return;
	case ROUTE_NONE:
		break;
	}
	if (m->id) {
		buf_puts(&t, "method not found: ");
		json_string(j, m->method, &t);
		down_error(s->down, m->id, m->idn, -32601, t.data);
		buf_free(&t);
	}
}

/* --- life cycle --- */

struct server *server_new(struct loop *loop, struct mux *m, int in_fd, int out_fd,
			  struct buf *err)
{
	struct server *s = xcalloc(1, sizeof(*s));
	struct approval_elicit_ops ops = { elicit_available, elicit_start, elicit_cancel, NULL };
	struct down_handler h = { on_message, NULL };
	struct mux_listener l = { on_mux_change, on_mux_notify, on_mux_request, NULL };

	ops.arg = s;
	s->audit = audit_open(mux_config(m)->audit_log, err);
	if (mux_config(m)->audit_log && !s->audit) {
		free(s);
		return NULL;
	}
	s->appr = approval_new(loop, mux_config(m), &ops, err);
	if (!s->appr) {
		audit_close(s->audit);
		free(s);
		return NULL;
	}
	s->loop = loop;
	s->mux = m;
	h.arg = s;
	s->down = down_new(loop, in_fd, out_fd, &h);
	s->router = router_new(loop, m, s->down, s->appr, s->audit);
	l.arg = s;
	mux_listen(m, &l);
	return s;
}

/* SIGTERM, SIGINT, SIGHUP: stop reading, end the sessions, exit. */
static void on_stop_signal(int signo, void *arg)
{
	struct server *s = arg;

	(void)signo;
	down_stop(s->down);
}

int server_run(struct server *s)
{
	static const int stops[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;
	int64_t end;
	size_t i;
	int rc;

	/* A closed stdout is an error on write(), not a signal that kills us. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		loop_signal_add(s->loop, stops[i], on_stop_signal, s);
	rc = down_run(s->down);
	end = loop_now() + CLOSE_TIMEOUT_MS + 500;

	/* Stop: abandon pending work, end the sessions, say what is queued.
	   Ending the sessions needs their answers, whoever is not reading. */
	loop_hold_input(s->loop, 0);
	mux_close(s->mux, CLOSE_TIMEOUT_MS);
	router_shutdown(s->router);
	down_drain(s->down, (long)(end - loop_now()));
	/* Until here a second signal changed nothing: the sessions are ended either way. */
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		loop_signal_del(s->loop, stops[i]);
	return rc;
}

void server_free(struct server *s)
{
	if (!s)
		return;
	router_free(s->router);
	while (s->deferred)
		deferred_free(s->deferred);
	while (s->relays)
		relay_free(s->relays);
	approval_free(s->appr);	/* cancels its elicitations: before the downstream goes */
	if (s->changed)
		loop_timer_cancel(s->loop, s->changed);
	down_free(s->down);
	audit_close(s->audit);
	free(s);
}
