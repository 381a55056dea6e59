/* router.c - routed requests: catalog → policy → approval → connector → reply → audit; see include/router.h. */
#include "router.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "list.h"
#include "policy.h"
#include "xalloc.h"

#define OUT_HOLD_MIN (64u << 10) /* replies this big are written from their own buffer */

struct rcall;

/*
 * A row: `prepare` validates the params, finds the target and, when there
 * is one, makes the call (rcall_new, then rcall_decide). It answers what it
 * refuses itself, or says ROUTE_WAIT. `fail` answers a call that could not
 * be made or was not allowed, with text for the model.
 */
struct route {
	const char *method;
	enum route_result (*prepare)(struct router *r, const struct down_msg *m,
				     struct connector **wait);
	void (*fail)(struct rcall *c, const char *text);
};

/* One routed request in flight. */
struct rcall {
	struct router *r;
	struct rcall *prev, *next;
	const struct route *route;
	char *id;		/* the agent's id, its bytes as sent (string or number) */
	size_t id_len;
	struct connector *conn;	/* where it goes */
	struct conn_req *req;	/* the connector's request (owned by conn), once sent */
	struct approval_req *areq; /* the question to a human, while it waits */
	struct buf params;	/* the connector's params, sent once allowed */
	char *name;		/* exposed name, for the audit */
	const char *label;	/* "read" / "write" */
	const char *decision;	/* auto / allowed / denied / timeout */
	const char *by;		/* policy / terminal / elicitation / tty */
	int64_t started;	/* loop_now() when the request arrived */
	unsigned char args_sha256[crypto_hash_sha256_BYTES];
};

struct router {
	struct loop *loop;		/* not owned */
	struct mux *mux;		/* not owned */
	struct downstream *down;	/* not owned */
	struct approval *appr;		/* not owned */
	struct audit *audit;		/* not owned; NULL when off */
	struct rcall *calls;
};

/* --- one call's life --- */

static struct rcall *rcall_new(struct router *r, const struct route *rt, const struct down_msg *m,
			       struct connector *conn, const char *name)
{
	struct rcall *c = xcalloc(1, sizeof(*c));

	c->r = r;
	c->route = rt;
	c->id = xmemdup(m->id, m->idn);
	c->id_len = m->idn;
	c->conn = conn;
	c->name = xstrdup(name);
	c->started = loop_now();
	DLIST_PUSH(r->calls, c);
	return c;
}

/* Ends a call's record: one audit line, whatever happened. */
static void rcall_audit(struct rcall *c, const char *outcome)
{
	struct audit_rec a;

	a.tool = c->name;
	a.connector = connector_alias(c->conn);
	a.label = c->label;
	a.decision = c->decision;
	a.decided_by = c->by;
	a.outcome = outcome;
	a.duration_ms = loop_now() - c->started;
	memcpy(a.args_sha256, c->args_sha256, sizeof(a.args_sha256));
	audit_write(c->r->audit, &a);
}

static void rcall_free(struct rcall *c)
{
	DLIST_UNLINK(c->r->calls, c);
	if (c->areq)
		approval_cancel(c->r->appr, c->areq);
	free(c->id);
	free(c->name);
	buf_free(&c->params);
	free(c);
}

static void on_reply(struct connector *conn, const char *msg, size_t n,
		     const struct json *j, const char *err, void *arg)
{
	struct rcall *c = arg;
	struct buf body = BUF_INIT;
	int res;
	size_t s, e;

	if (err) {
		c->route->fail(c, err);
		rcall_audit(c, "error");
		rcall_free(c);
		return;
	}
	res = json_get(j, 0, "result");
	rcall_audit(c, res < 0 || json_is_true(j, json_get(j, res, "isError")) ? "error" : "ok");
	/* Splice: the connector's reply as it came, with the agent's id. */
	json_span(j, json_get(j, 0, "id"), &s, &e);
	down_splice(c->r->down, msg, n, s, e, c->id, c->id_len,
		    n >= OUT_HOLD_MIN && connector_take_reply(conn, msg, &body) == 0 ? &body : NULL);
	rcall_free(c);
}

static void rcall_send(struct rcall *c)
{
	c->req = connector_request(c->conn, c->route->method, c->params.data, c->params.len, 0,
				   on_reply, c);
	buf_free(&c->params);
}

static void on_approval(enum approval_result res, const char *by, const char *text, void *arg)
{
	struct rcall *c = arg;

	c->areq = NULL;
	c->by = by;
	if (res == APPROVAL_ALLOWED) {
		c->decision = "allowed";
		rcall_send(c);
		return;
	}
	c->decision = res == APPROVAL_TIMEOUT ? "timeout" : "denied";
	c->route->fail(c, text);
	rcall_audit(c, c->decision);
	rcall_free(c);
}

/* Policy, then the connector or a human: call (when not NULL) is what the human is shown. */
static void rcall_decide(struct rcall *c, const struct approval_call *call)
{
	if (!call) {
		c->decision = "auto";
		c->by = "policy";
		rcall_send(c);
		return;
	}
	c->areq = approval_ask(c->r->appr, call, on_approval, c);
}

/* The arguments as the agent sent them (args: a token, or -1 for none: "{}"). */
static void rcall_args(struct rcall *c, const struct json *j, int args, const char **p, size_t *n)
{
	size_t s, e;

	if (args >= 0) {
		json_span(j, args, &s, &e);
		*p = j->js + s;
		*n = e - s;
	} else {
		*p = "{}";
		*n = 2;
	}
	if (c->r->audit)
		crypto_hash_sha256(c->args_sha256, (const unsigned char *)*p, *n);
}

/* --- answers that are not the connector's --- */

/* A tool result the model can read: failures while running a tool are not protocol errors. */
static void tool_error(struct downstream *d, const char *id, size_t idn, const char *text)
{
	struct buf *out = down_begin(d);

	buf_puts(out, "{\"jsonrpc\":\"2.0\",\"id\":");
	buf_add(out, id, idn);
	buf_puts(out, ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":");
	json_escape_str(out, text);
	buf_puts(out, "}],\"isError\":true}}");
	down_end(d);
}

static void tools_fail(struct rcall *c, const char *text)
{
	tool_error(c->r->down, c->id, c->id_len, text);
}

/* Why conn cannot take the request now, for the model. */
static void unavailable(const struct connector *conn, struct buf *t)
{
	struct conn_status st;
	const char *alias = connector_alias(conn);

	connector_status(conn, &st);
	if (st.state == CONN_DISABLED)
		buf_printf(t, "connector '%s' is disabled in the mcpmux config", alias);
	else if (st.state == CONN_STARTING)
		buf_printf(t, "connector '%s' is reconnecting after: %s; try again shortly",
			   alias, st.reason);
	else
		buf_printf(t, "connector '%s' is unavailable: %s%s%s (run `mcpmux check` for details)",
			   alias, st.reason, *st.hint ? " - " : "", st.hint);
}

/*
 * No catalog entry for name: the connector its prefix names may be starting
 * or able to try again at once (wait for it), or down (say why); else the
 * name is unknown.
 */
static enum route_result not_listed(struct router *r, const struct down_msg *m,
				    const struct buf *name, struct connector **wait)
{
	struct connector *conn = mux_connector_for(r->mux, buf_str(name), name->len);
	struct conn_status st;
	struct buf t = BUF_INIT;

	if (conn) {
		connector_status(conn, &st);
		if (!m->final && (st.settling || connector_wake(conn))) {
			*wait = conn;
			return ROUTE_WAIT;
		}
	}
	if (conn && connector_state(conn) != CONN_READY) {
		unavailable(conn, &t);
		tool_error(r->down, m->id, m->idn, t.data);
	} else {
		buf_puts(&t, "unknown tool: ");
		json_escape(&t, name->data, name->len);
		down_error(r->down, m->id, m->idn, -32602, t.data);
	}
	buf_free(&t);
	return ROUTE_DONE;
}

/* --- tools/call --- */

static const struct route routes[];

static enum route_result route_tools_call(struct router *r, const struct down_msg *m,
					  struct connector **wait)
{
	const struct json *j = m->j;
	int name = json_get(j, m->params, "name"), args = json_get(j, m->params, "arguments");
	const struct cat_entry *e;
	struct approval_call call;
	struct buf want = BUF_INIT;
	struct rcall *c;
	size_t ps, pe, ns, ne;

	if (json_type(j, m->params) != JSMN_OBJECT || json_string(j, name, &want) ||
	    (args >= 0 && json_type(j, args) != JSMN_OBJECT)) {
		down_error(r->down, m->id, m->idn, -32602,
			   "tools/call needs params {name: string, arguments?: object}");
		buf_free(&want);
		return ROUTE_DONE;
	}
	/* The name as it reads: "odd__ech\u006f" is odd__echo. */
	e = want.len && memchr(want.data, '\0', want.len) ? NULL :
	    catalog_find(mux_catalog(r->mux), buf_str(&want), want.len);
	if (!e) {
		enum route_result res = not_listed(r, m, &want, wait);

		buf_free(&want);
		return res;
	}
	buf_free(&want);
	c = rcall_new(r, &routes[0], m, e->conn, e->exposed);
	c->label = policy_label_name(policy_label(e->conn->cfg, e->tool));
	/* Splice: the agent's params as sent, with the connector's own name exactly
	   as the connector wrote it (its JSON string, escapes and all). */
	json_span(j, m->params, &ps, &pe);
	json_span(j, name, &ns, &ne);
	buf_add(&c->params, j->js + ps, ns - ps);
	buf_add(&c->params, e->tool->json + e->tool->name_start,
		e->tool->name_end - e->tool->name_start);
	buf_add(&c->params, j->js + ne, pe - ne);
	rcall_args(c, j, args, &call.args, &call.args_len);
	call.connector = connector_alias(e->conn);
	call.tool = e->exposed;
	call.upstream_tool = e->tool->name;
	call.label = c->label;
	rcall_decide(c, policy_asks(e->conn->cfg, e->tool) ? &call : NULL);
	return ROUTE_DONE;
}

/* The routed methods. Adding one is a row and its prepare function. */
static const struct route routes[] = {
	{ "tools/call", route_tools_call, tools_fail },
};

/* --- public --- */

struct router *router_new(struct loop *loop, struct mux *m, struct downstream *d,
			  struct approval *appr, struct audit *audit)
{
	struct router *r = xcalloc(1, sizeof(*r));

	r->loop = loop;
	r->mux = m;
	r->down = d;
	r->appr = appr;
	r->audit = audit;
	return r;
}

void router_free(struct router *r)
{
	if (!r)
		return;
	while (r->calls)
		rcall_free(r->calls);
	free(r);
}

enum route_result router_handle(struct router *r, const struct down_msg *m,
				struct connector **wait)
{
	size_t i;

	*wait = NULL;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!json_streq(m->j, m->method, routes[i].method))
			continue;
		if (!m->id)
			return ROUTE_DONE;	/* a request sent as a notification gets no answer */
		return routes[i].prepare(r, m, wait);
	}
	return ROUTE_NONE;
}

void router_cancel(struct router *r, const char *id, size_t idn)
{
	struct rcall *c;

	for (c = r->calls; c; c = c->next) {
		if (c->id_len != idn || memcmp(c->id, id, idn) != 0)
			continue;
		/* The agent expects no answer; the connector is told and late replies dropped. */
		if (c->req)
			connector_cancel(c->conn, c->req, "cancelled by the client");
		if (!c->decision)
			c->decision = "denied";
		if (!c->by)
			c->by = "policy";
		rcall_audit(c, "cancelled");
		rcall_free(c);
		return;
	}
}

void router_shutdown(struct router *r)
{
	while (r->calls) {
		if (!r->calls->decision) {
			r->calls->decision = "denied";
			r->calls->by = "policy";
		}
		rcall_audit(r->calls, "cancelled");
		rcall_free(r->calls);
	}
}
