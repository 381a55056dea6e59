/* connector.c - the kinds of connector and the calls through their ops; see include/connector.h. */
#include "connector.h"

#include <stddef.h>

/* A new kind is a row: the first whose `wants` says yes builds the connector. */
static int any(const struct connector_cfg *c)
{
	(void)c;
	return 1;
}

static const struct kind {
	int (*wants)(const struct connector_cfg *c);
	struct connector *(*create)(struct loop *loop, const struct config *cfg,
				    const struct connector_cfg *c, const struct conn_events *ev,
				    struct creds *creds);
} kinds[] = {
	{ any, mcp_connector_new },	/* MCP over Streamable HTTP or HTTP+SSE */
};

struct connector *connector_new(struct loop *loop, const struct config *cfg,
				const struct connector_cfg *c, const struct conn_events *ev,
				struct creds *creds)
{
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].wants(c))
			return kinds[i].create(loop, cfg, c, ev, creds);
	return NULL;
}

void connector_free(struct connector *c)
{
	if (c)
		c->ops->destroy(c);
}

void connector_start(struct connector *c, const char *client_caps)
{
	c->ops->start(c, client_caps);
}

const struct conn_tool *connector_tools(const struct connector *c, size_t *n)
{
	return c->ops->list(c, n);
}

struct conn_req *connector_request(struct connector *c, const char *method, const char *params,
				   size_t params_len, long timeout_ms, conn_reply_cb cb, void *arg)
{
	return c->ops->request(c, method, params, params_len, timeout_ms, cb, arg);
}

void connector_cancel(struct connector *c, struct conn_req *r, const char *reason)
{
	c->ops->cancel(c, r, reason);
}

void connector_close(struct connector *c, long timeout_ms)
{
	c->ops->close(c, timeout_ms);
}

void connector_status(const struct connector *c, struct conn_status *out)
{
	c->ops->status(c, out);
}

void connector_send(struct connector *c, const char *json, size_t n)
{
	if (c->ops->send)
		c->ops->send(c, json, n);
}

void connector_set_log_level(struct connector *c, const char *level)
{
	if (c->ops->set_log_level)
		c->ops->set_log_level(c, level);
}

int connector_wake(struct connector *c)
{
	return c->ops->wake ? c->ops->wake(c) : 0;
}

int connector_take_reply(struct connector *c, const char *msg, struct buf *into)
{
	return c->ops->take_reply ? c->ops->take_reply(c, msg, into) : -1;
}

enum conn_state connector_state(const struct connector *c)
{
	struct conn_status st;

	c->ops->status(c, &st);
	return st.state;
}

const char *connector_alias(const struct connector *c)
{
	return c->cfg->alias;
}

const char *connector_state_name(enum conn_state s)
{
	switch (s) {
	case CONN_DISABLED: return "disabled";
	case CONN_STARTING: return "starting";
	case CONN_READY: return "active";
	case CONN_ERROR: return "error";
	case CONN_CLOSED: return "closed";
	case CONN_REAUTH: return "reauth_required";
	}
	return "?";
}
