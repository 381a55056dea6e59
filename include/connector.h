/*
 * connector.h - what mcpmux asks of a connector, whatever kind it is.
 *
 * Contract. A connector is one configured [connector.NAME]: something that
 * offers tools and answers requests for them. Each kind implements struct
 * connector_ops; today there is one, MCP over HTTP (src/conn/mcp/: the
 * Streamable HTTP and the legacy HTTP+SSE transports). The 2026-07-28
 * stateless transport and OpenAPI descriptions are further kinds: a new
 * kind is a new ops table and a row in connector.c's table of kinds, not a
 * branch in the router.
 *
 * Life of a connector: DISABLED (enabled = no) or STARTING → READY, or →
 * ERROR / REAUTH with a reason and a hint for the user; CLOSED once
 * connector_close() has ended it. Requests made before READY wait for it
 * (bounded by their own deadline); a request made in ERROR starts a new
 * attempt at once.
 *
 * Ownership. The mux creates every connector (connector_new) and frees it
 * (connector_free); nobody else does. A struct conn_req is owned by its
 * connector until its reply callback has returned or connector_cancel() was
 * called: the caller keeps the pointer only as a handle. The tool array
 * belongs to the connector and is replaced as a whole when its list changes
 * (events.changed is called then, and the generation is bumped). Every
 * callback runs on the loop, never inside the call that caused it unless
 * that call's comment says so.
 *
 * An implementation embeds struct connector as its first member and
 * converts with container_of-style casts; only it writes the fields of its
 * own struct. `ops`, `cfg` and `ev` are set by connector_new() and never
 * change.
 */
#ifndef MCPMUX_CONNECTOR_H
#define MCPMUX_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "json.h"
#include "loop.h"

enum conn_state {
	CONN_DISABLED,	/* enabled = no */
	CONN_STARTING,	/* connecting, or listing tools */
	CONN_READY,	/* tools known, calls flow */
	CONN_ERROR,	/* failed; reason and hint say why */
	CONN_CLOSED,	/* ended by connector_close() */
	CONN_REAUTH	/* the connector refuses the credential and no better one exists */
};

/* One tool as the connector described it. */
struct conn_tool {
	char *name;		/* the connector's tool name, unescaped */
	char *json;		/* the tool object as received, on one line */
	size_t json_len;
	size_t name_start;	/* the name value, quotes included, within json */
	size_t name_end;
	int read_only;		/* annotations.readOnlyHint is true */
};

/* A snapshot of what a connector is doing; strings are borrowed until the next loop turn. */
struct conn_status {
	enum conn_state state;
	const char *reason;	/* why it is not READY, "" if none */
	const char *hint;	/* what the user can do about it, "" if none */
	int64_t latency_ms;	/* start → ready, -1 if not ready */
	long timeout_ms;	/* the connector's call_timeout */
	uint64_t generation;	/* bumped each time the tool list really changes */
	int settling;		/* starting for the first time (a reconnect does not count) */
	int busy;		/* an attempt to (re)connect or fetch a credential is under way */
	int closed;		/* nothing is left to end: connector_close() is done */
};

struct connector;
struct conn_req;
struct creds;

/*
 * The reply to a request: either the connector's JSON-RPC response (msg, n
 * and the parsed j, whose token 0 is the message) with err NULL, or err (a
 * sentence for a human) with msg NULL. Called exactly once per request
 * unless it was cancelled.
 */
typedef void (*conn_reply_cb)(struct connector *c, const char *msg, size_t n,
			      const struct json *j, const char *err, void *arg);

/* What a connector tells its owner (the mux). */
struct conn_events {
	/* state or tool list changed */
	void (*changed)(struct connector *c, void *arg);
	/* a notification from the connector (e.g. notifications/progress) */
	void (*notify)(struct connector *c, const char *msg, size_t n,
		       const struct json *j, void *arg);
	/* a request from the connector for the agent (elicitation, sampling, roots):
	   answer it with connector_send() and the request's own id */
	void (*request)(struct connector *c, const char *msg, size_t n,
			const struct json *j, void *arg);
	void *arg;
};

struct connector_ops {
	const char *kind;	/* for messages: "mcp" */
	/* client_caps: the capabilities to declare (the agent's, mirrored), or NULL for {}. */
	void (*start)(struct connector *c, const char *client_caps);
	const struct conn_tool *(*list)(const struct connector *c, size_t *n);
	/* method with params (raw JSON, or NULL); timeout_ms 0 = the connector's call_timeout. */
	struct conn_req *(*request)(struct connector *c, const char *method, const char *params,
				    size_t params_len, long timeout_ms, conn_reply_cb cb, void *arg);
	/* Abandons a request (the connector is told when it was sent); no callback. */
	void (*cancel)(struct connector *c, struct conn_req *r, const char *reason);
	/* Abandons every request (no callbacks) and ends the session. */
	void (*close)(struct connector *c, long timeout_ms);
	void (*status)(const struct connector *c, struct conn_status *out);
	void (*destroy)(struct connector *c);
	/* The rest may be NULL where a kind has no such thing. */
	/* A JSON-RPC message from the agent for the connector (an answer to its request,
	   notifications/roots/list_changed). */
	void (*send)(struct connector *c, const char *json, size_t n);
	void (*set_log_level)(struct connector *c, const char *level);
	/* A call waits for a connector that is down: try again now. 1 when an attempt started. */
	int (*wake)(struct connector *c);
	/* From inside a reply callback: moves the buffer msg lies in to `into`; see below. */
	int (*take_reply)(struct connector *c, const char *msg, struct buf *into);
};

struct connector {
	const struct connector_ops *ops;
	const struct connector_cfg *cfg;	/* not owned */
	struct conn_events ev;
};

/*
 * A connector of the kind the config asks for (every kind today: "mcp").
 * creds: the shared credential cache (not owned). Nothing starts before
 * connector_start().
 */
struct connector *connector_new(struct loop *loop, const struct config *cfg,
				const struct connector_cfg *c, const struct conn_events *ev,
				struct creds *creds);
void connector_free(struct connector *c);

void connector_start(struct connector *c, const char *client_caps);
const struct conn_tool *connector_tools(const struct connector *c, size_t *n);
struct conn_req *connector_request(struct connector *c, const char *method, const char *params,
				   size_t params_len, long timeout_ms, conn_reply_cb cb, void *arg);
void connector_cancel(struct connector *c, struct conn_req *r, const char *reason);
void connector_close(struct connector *c, long timeout_ms);
void connector_status(const struct connector *c, struct conn_status *out);
/* No-ops where the kind has no such thing. */
void connector_send(struct connector *c, const char *json, size_t n);
void connector_set_log_level(struct connector *c, const char *level);
int connector_wake(struct connector *c);		/* 0 when it has nothing to try */
/*
 * From inside a reply callback: when msg is the whole body of an HTTP
 * response (not an event of a stream), moves that buffer into `into` (freed
 * first) and returns 0; msg and j stay valid, the bytes do not move. A big
 * result is then written to the agent from the buffer it arrived in, with
 * no second copy. Returns -1, taking nothing, otherwise.
 */
int connector_take_reply(struct connector *c, const char *msg, struct buf *into);

/* Kinds: each one's constructor, used by connector_new() only. */
struct connector *mcp_connector_new(struct loop *loop, const struct config *cfg,
				    const struct connector_cfg *c, const struct conn_events *ev,
				    struct creds *creds);	/* conn/mcp */

/* Shorthands over connector_status(). */
enum conn_state connector_state(const struct connector *c);
const char *connector_state_name(enum conn_state s);
const char *connector_alias(const struct connector *c);

#endif
