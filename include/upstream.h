/*
 * upstream.h - one MCP session with one connector over Streamable HTTP.
 *
 * Life of a connector: STARTING (initialize, notifications/initialized,
 * tools/list followed through every page) → READY, or → ERROR with a reason
 * and a hint for the user. Requests made before READY wait for it (bounded
 * by their own deadline); a request made in ERROR starts a new attempt at
 * once instead of waiting for the backoff, and waits for it. Every message
 * from the connector is checked (valid JSON, no repeated key, at most
 * max_message bytes) and tokenized while it arrives; a response is matched
 * to its request by id on whatever stream it comes. A 404 on a request that carried the session id
 * means the session expired: initialize again, re-list, retry that request
 * once. Every request has a deadline; past it the connector gets
 * notifications/cancelled and the caller gets an error.
 *
 * Ownership: the mux owns every struct upstream (upstream_new/upstream_free).
 * Each struct up_req is owned by its upstream until its reply callback has
 * returned, or until upstream_cancel(); the caller keeps the pointer only
 * as a handle. The tool array belongs to the upstream and is replaced as a
 * whole when the connector's list changes (events.changed is called then).
 */
#ifndef MCPMUX_UPSTREAM_H
#define MCPMUX_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "json.h"
#include "loop.h"
#include "protocol.h"


enum up_state {
	UP_DISABLED,	/* enabled = no */
	UP_STARTING,	/* initializing or listing tools */
	UP_READY,	/* tools known, calls flow */
	UP_ERROR,	/* failed; reason and hint say why */
	UP_CLOSED,	/* session ended (DELETE sent or nothing to end) */
	UP_REAUTH	/* the connector refuses the credential and no better one exists */
};

struct up_tool {
	char *name;		/* upstream tool name, unescaped */
	char *json;		/* the tool object as received, on one line */
	size_t json_len;
	size_t name_start;	/* the name value, quotes included, within json */
	size_t name_end;
	int read_only;		/* annotations.readOnlyHint is true */
};

struct upstream;
struct up_req;

/*
 * The reply to a request: either the connector's JSON-RPC response (msg, n
 * and the parsed j, whose token 0 is the message) with err NULL, or err (a
 * sentence for a human) with msg NULL. Called exactly once per request
 * unless it was cancelled.
 */
typedef void (*up_reply_cb)(struct upstream *up, const char *msg, size_t n,
			    const struct json *j, const char *err, void *arg);

/*
 * From inside a reply callback: when msg is the whole body of an HTTP
 * response (not an event of a stream), moves that buffer into `into` (freed
 * first) and returns 0; msg and j stay valid, the bytes do not move. A big
 * result is then written to the agent from the buffer it arrived in, with
 * no second copy. Returns -1, taking nothing, otherwise.
 */
int upstream_take_reply(struct upstream *up, const char *msg, struct buf *into);

struct up_events {
	/* state or tool list changed */
	void (*changed)(struct upstream *up, void *arg);
	/* a notification from the connector (e.g. notifications/progress) */
	void (*notify)(struct upstream *up, const char *msg, size_t n,
		       const struct json *j, void *arg);
	/* a request from the connector for the agent (elicitation, sampling, roots):
	   answer it with upstream_send() and the request's own id */
	void (*request)(struct upstream *up, const char *msg, size_t n,
			const struct json *j, void *arg);
	void *arg;
};

struct creds;

/* creds: the shared credential cache (not owned). */
struct upstream *upstream_new(struct loop *loop, const struct config *cfg,
			      const struct connector_cfg *c, const struct up_events *ev,
			      struct creds *creds);
void upstream_free(struct upstream *up);

/* client_caps: the capabilities object to declare upstream (the agent's
   elicitation / sampling / roots, mirrored), or NULL for {}. */
void upstream_start(struct upstream *up, const char *client_caps);

/* Posts a JSON-RPC message (e.g. the agent's answer to a server request). */
void upstream_send(struct upstream *up, const char *json, size_t n);

/* The agent's logging/setLevel; applied now and whenever the connector is (re)ready,
   if the server declared the logging capability. */
void upstream_set_log_level(struct upstream *up, const char *level);

/* Sends method with params (raw JSON, or NULL). timeout_ms 0 = the connector's. */
struct up_req *upstream_request(struct upstream *up, const char *method,
				const char *params, size_t params_len, long timeout_ms,
				up_reply_cb cb, void *arg);
/* Abandons a request: notifications/cancelled upstream when it was sent; no callback. */
void upstream_cancel(struct upstream *up, struct up_req *r, const char *reason);

/*
 * A call is waiting for a connector that is down: one in error tries to
 * connect again at once rather than at the end of its backoff; a
 * reauth_required one looks its credential up again (at most every few
 * seconds). 1 when an attempt started; it reports its outcome as a state
 * change. 0 when there is nothing to do now.
 */
int upstream_wake(struct upstream *up);
/* An attempt to (re)connect or to fetch a credential again is under way. */
int upstream_busy(const struct upstream *up);

/* Abandons every request (no callbacks) and ends the session (DELETE). */
void upstream_close(struct upstream *up, long timeout_ms);
int upstream_closed(const struct upstream *up);

/* Starting for the first time (a reconnect attempt does not count): callers may wait for it. */
int upstream_settling(const struct upstream *up);

/* Read-only views */
const struct connector_cfg *upstream_cfg(const struct upstream *up);
enum up_state upstream_state(const struct upstream *up);
const char *upstream_state_name(enum up_state s);
const char *upstream_reason(const struct upstream *up);	/* "" if none */
const char *upstream_hint(const struct upstream *up);	/* "" if none */
const struct up_tool *upstream_tools(const struct upstream *up, size_t *n);
int64_t upstream_latency_ms(const struct upstream *up);	/* start → ready, -1 if not */
long upstream_timeout_ms(const struct upstream *up);
/* Bumped each time the tool list really changes (not on an identical re-list). */
uint64_t upstream_generation(const struct upstream *up);

#endif
