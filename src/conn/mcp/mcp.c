/* conn/mcp/mcp.c - the MCP-over-HTTP connector: the ops table behind include/connector.h; see mcp.h. */
#include "mcp.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "log.h"

static const struct connector_ops mcp_ops;

long up_timeout_ms(const struct upstream *up)
{
	return up->c->timeout_ms ? up->c->timeout_ms : up->cfg->call_timeout_ms;
}

struct connector *mcp_connector_new(struct loop *loop, const struct config *cfg,
				    const struct connector_cfg *c, const struct conn_events *ev,
				    struct creds *creds)
{
	struct upstream *up = xcalloc(1, sizeof(*up));

	up->base.ops = &mcp_ops;
	up->base.cfg = c;
	if (ev)
		up->base.ev = *ev;
	up->loop = loop;
	up->cfg = cfg;
	up->c = c;
	up->creds = creds;
	up->state = c->enabled ? CONN_STARTING : CONN_DISABLED;
	up->latency = -1;
	return &up->base;
}

static void mcp_start(struct connector *conn, const char *client_caps)
{
	struct upstream *up = UP(conn);

	free(up->client_caps);
	up->client_caps = client_caps ? xstrdup(client_caps) : NULL;
	if (up->state == CONN_DISABLED)
		return;
	session_start(up);
}

static void mcp_send(struct connector *conn, const char *json, size_t n)
{
	struct upstream *up = UP(conn);

	if (up->state == CONN_READY || up->state == CONN_STARTING)
		req_post(up, json, n);
}

static struct conn_req *mcp_request(struct connector *conn, const char *method,
				    const char *params, size_t params_len, long timeout_ms,
				    conn_reply_cb cb, void *arg);

static void ignore_reply(struct connector *up, const char *msg, size_t n, const struct json *j,
			 const char *err, void *arg)
{
	(void)up; (void)msg; (void)n; (void)j; (void)arg;
	if (err)
		log_debug("logging/setLevel: %s", err);
}

void up_send_log_level(struct upstream *up)
{
	struct buf p = BUF_INIT;

	if (!up->log_level || !up->server_logging || up->state != CONN_READY)
		return;
	buf_puts(&p, "{\"level\":");
	json_escape_str(&p, up->log_level);
	buf_putc(&p, '}');
	mcp_request(&up->base, "logging/setLevel", p.data, p.len, 0, ignore_reply, NULL);
	buf_free(&p);
}

static void mcp_set_log_level(struct connector *conn, const char *level)
{
	struct upstream *up = UP(conn);

	free(up->log_level);
	up->log_level = xstrdup(level);
	up_send_log_level(up);
}

static struct conn_req *mcp_request(struct connector *conn, const char *method,
				    const char *params, size_t params_len, long timeout_ms,
				    conn_reply_cb cb, void *arg)
{
	struct upstream *up = UP(conn);
	struct conn_req *r;

	if (!timeout_ms)
		timeout_ms = up_timeout_ms(up);
	r = req_new(up, REQ_USER, timeout_ms);
	r->cb = cb;
	r->arg = arg;
	req_message(r, method, params, params_len, 1);
	if (auth_reauth_call(up, r))
		return r;
	if (up->state == CONN_ERROR && !up->closing && !up->cred_failed) {
		/* Waiting for the next attempt: the server may be back (a laptop woke
		   up, a restart), so try now and let this call wait for it. */
		r->waiting = 1;
		session_reconnect_now(up);
		return r;
	}
	if (up->state == CONN_ERROR || up->state == CONN_DISABLED || up->closing) {
		/* Answer on the next turn of the loop, never inside the caller. */
		buf_printf(&r->failure, "connector '%s' is %s%s%s", up->c->alias,
			   up->state == CONN_DISABLED ? "disabled" : "unavailable",
			   up->state == CONN_ERROR ? ": " : "",
			   up->state == CONN_ERROR ? buf_str(&up->reason) : "");
		req_fail_later(r);
		return r;
	}
	req_send(r);
	return r;
}

static int mcp_wake(struct connector *conn)
{
	struct upstream *up = UP(conn);

	if (up->closing)
		return 0;
	if (up->state == CONN_ERROR) {
		if (up->cred_failed)
			return 0;
		session_reconnect_now(up);
		return 1;
	}
	return auth_wake(up);
}

static void mcp_cancel(struct connector *conn, struct conn_req *r, const char *reason)
{
	(void)conn;
	req_cancel(r, reason);
}

static void mcp_close(struct connector *conn, long timeout_ms)
{
	session_close(UP(conn), timeout_ms);
}

static int mcp_take_reply(struct connector *conn, const char *msg, struct buf *into)
{
	struct upstream *up = UP(conn);

	if (!up->delivering || !up->delivering->data || msg != up->delivering->data)
		return -1;
	buf_free(into);
	*into = *up->delivering;
	*up->delivering = (struct buf)BUF_INIT;
	up->delivering = NULL;
	return 0;
}

static void mcp_destroy(struct connector *conn)
{
	struct upstream *up = UP(conn);

	while (up->reqs)
		req_free(up->reqs);
	http_free(up->del);
	notif_stop(up);
	legacy_stop(up);
	tools_free(up->tools, up->ntools);
	tools_free(up->newtools, up->nnewtools);
	free(up->session_id);
	if (up->cred_wait)
		creds_cancel(up->creds, up->cred_wait);
	secret_free(up->rejected);
	if (up->retry)
		loop_timer_cancel(up->loop, up->retry);
	buf_free(&up->logged);
	buf_free(&up->refusal_logged);
	free(up->client_caps);
	free(up->log_level);
	buf_free(&up->reason);
	buf_free(&up->hint);
	free(up);
}

static const struct conn_tool *mcp_list(const struct connector *conn, size_t *n)
{
	const struct upstream *up = CUP(conn);

	*n = up->ntools;
	return up->tools;
}

static void mcp_status(const struct connector *conn, struct conn_status *out)
{
	const struct upstream *up = CUP(conn);

	out->state = up->state;
	out->reason = buf_str(&up->reason);
	out->hint = buf_str(&up->hint);
	out->latency_ms = up->latency;
	out->timeout_ms = up_timeout_ms(up);
	out->generation = up->generation;
	out->settling = up->state == CONN_STARTING && !up->settled_once;
	out->busy = up->state == CONN_STARTING || (up->state == CONN_REAUTH && up->cred_wait);
	out->closed = up->del == NULL;
}

static const struct connector_ops mcp_ops = {
	.kind = "mcp",
	.start = mcp_start,
	.list = mcp_list,
	.request = mcp_request,
	.cancel = mcp_cancel,
	.close = mcp_close,
	.status = mcp_status,
	.destroy = mcp_destroy,
	.send = mcp_send,
	.set_log_level = mcp_set_log_level,
	.wake = mcp_wake,
	.take_reply = mcp_take_reply,
};
