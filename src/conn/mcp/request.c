/* conn/mcp/request.c - the life of a request to the connector, and routing its messages; see mcp.h. */
#include "mcp.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "list.h"
#include "log.h"

#define MAX_RESUMES	5

static void on_reply_done(struct http *h, void *arg);

/* A request's exchange: its reply is read as messages, or (a message that gets no
   reply, or any POST of the legacy transport, answered on the GET stream) not at all. */
static const struct stream_kind reply_kind = { STREAM_REPLY, NULL, on_reply_done };
static const struct stream_kind post_kind = { STREAM_NONE, NULL, on_reply_done };

void req_free(struct conn_req *r)
{
	DLIST_UNLINK(r->up->reqs, r);
	if (r->deadline)
		loop_timer_cancel(r->up->loop, r->deadline);
	loop_defer_cancel(r->up->loop, r->fail_soon);
	stream_free(&r->reply);
	buf_free(&r->body);
	buf_free(&r->failure);
	free(r);
}

struct conn_req *req_pending(struct upstream *up, long long id)
{
	struct conn_req *r;

	if (id <= 0)
		return NULL;
	for (r = up->reqs; r; r = r->next)
		if (r->id == id && !r->answered &&
		    (r->kind == REQ_INIT || r->kind == REQ_LIST || r->kind == REQ_USER))
			return r;
	return NULL;
}

/* The request with this id, answered or not (it may still drain its stream), or NULL. */
static struct conn_req *req_by_id(struct upstream *up, long long id)
{
	struct conn_req *r;

	for (r = up->reqs; r && id > 0; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

/* What a request whose deadline passed was still waiting for, for the message. */
static void waited_for(const struct conn_req *r, long secs, struct buf *out)
{
	const struct upstream *up = r->up;

	if (r->waiting_cred)
		buf_printf(out, "the credential (%s) could not be fetched within %ld s - is the "
			   "vault answering?", up->c->token->text, secs);
	else if (r->waiting && up->legacy && !up->post_url && up->state == CONN_STARTING)
		buf_printf(out, "the HTTP+SSE server sent no endpoint event within %ld s", secs);
	else if (r->waiting)
		buf_printf(out, "the connector did not become ready within %ld s", secs);
	else
		buf_printf(out, "no answer within %ld s", secs);
}

/*
 * A request's deadline. It may be waiting with no transfer at all (for the
 * session, the legacy endpoint, a credential or a resumption), have one in
 * flight, or have been answered while its stream drains: each ends here
 * without touching a transfer that is not there.
 */
static void on_deadline(void *arg)
{
	struct conn_req *r = arg;
	struct upstream *up = r->up;
	struct buf why = BUF_INIT, msg = BUF_INIT;
	long secs = (r->timeout_ms + 999) / 1000;
	conn_reply_cb cb;
	void *cb_arg;

	r->deadline = NULL;
	waited_for(r, secs, &why);
	if (r->kind == REQ_INIT || r->kind == REQ_LIST || r->kind == REQ_INITIALIZED) {
		/* Frees every request of the session, r with them. */
		session_failed(up, why.data, r->waiting_cred ? "" :
			       "check that the url is an MCP endpoint and the server is responsive");
		buf_free(&why);
		return;
	}
	cb = r->answered ? NULL : r->cb;
	cb_arg = r->arg;
	if (r->waiting_cred || r->waiting)
		buf_printf(&msg, "timed out: connector '%s': %s (raise call_timeout or the "
			   "connector's timeout if it needs longer)", up->c->alias, why.data);
	else
		buf_printf(&msg, "timed out: connector '%s' did not answer within %ld s (the request "
			   "was cancelled; raise call_timeout or the connector's timeout if it needs "
			   "longer)", up->c->alias, secs);
	req_cancel(r, "timed out");
	if (cb)
		cb(&up->base, NULL, 0, NULL, msg.data, cb_arg);
	buf_free(&msg);
	buf_free(&why);
}

struct conn_req *req_new(struct upstream *up, enum req_kind kind, long timeout_ms)
{
	struct conn_req *r = xcalloc(1, sizeof(*r));

	r->up = up;
	r->kind = kind;
	r->timeout_ms = timeout_ms;
	DLIST_PUSH(up->reqs, r);
	if (timeout_ms > 0)
		r->deadline = loop_timer_add(up->loop, timeout_ms, on_deadline, r);
	return r;
}

void req_message(struct conn_req *r, const char *method, const char *params, size_t plen,
		 int with_id)
{
	buf_reset(&r->body);
	buf_puts(&r->body, "{\"jsonrpc\":\"2.0\",");
	if (with_id) {
		r->id = ++r->up->next_id;
		buf_printf(&r->body, "\"id\":%lld,", r->id);
	}
	buf_puts(&r->body, "\"method\":");
	json_escape_str(&r->body, method);
	if (params) {
		buf_puts(&r->body, ",\"params\":");
		buf_add(&r->body, params, plen);
	}
	buf_putc(&r->body, '}');
}

/* --- messages from the connector --- */

/* The capability a server->client request needs from the agent, or NULL. */
static const char *needed_capability(const struct json *j, int method)
{
	if (json_streq(j, method, "elicitation/create"))
		return "\"elicitation\"";
	if (json_streq(j, method, "sampling/createMessage"))
		return "\"sampling\"";
	if (json_streq(j, method, "roots/list"))
		return "\"roots\"";
	return NULL;
}

/* A request from the server: ping is answered here; what the agent can answer
   goes to it (when it declared the capability, which was mirrored upstream). */
static void answer_server_request(struct upstream *up, const char *msg, size_t n,
				  const struct json *j)
{
	int id = json_get(j, 0, "id"), method = json_get(j, 0, "method");
	const char *cap = needed_capability(j, method);
	struct buf out = BUF_INIT;
	size_t s, e;

	if (cap && up->client_caps && strstr(up->client_caps, cap) && up->base.ev.request) {
		up->base.ev.request(&up->base, msg, n, j, up->base.ev.arg);
		return;
	}
	json_span(j, id, &s, &e);
	buf_puts(&out, "{\"jsonrpc\":\"2.0\",\"id\":");
	buf_add(&out, j->js + s, e - s);
	if (json_streq(j, method, "ping"))
		buf_puts(&out, ",\"result\":{}}");
	else if (cap)
		buf_puts(&out, ",\"error\":{\"code\":-32601,\"message\":\"the client behind mcpmux "
			 "does not support this request\"}}");
	else
		buf_puts(&out, ",\"error\":{\"code\":-32601,\"message\":\"method not found\"}}");
	req_post(up, out.data, out.len);
	buf_free(&out);
}

/* A JSON-RPC id as a peer may send it: a string or a number. */
static int valid_id(const struct json *j, int id)
{
	char c;

	if (json_type(j, id) == JSMN_STRING)
		return 1;
	if (json_type(j, id) != JSMN_PRIMITIVE)
		return 0;
	c = j->js[j->tok[id].start];
	return c == '-' || (c >= '0' && c <= '9');
}

/* How deep a reply to r must be tokenized. */
static int depth_for(const struct conn_req *r)
{
	return r->kind == REQ_LIST ? DEPTH_LIST : r->kind == REQ_INIT ? DEPTH_INIT : DEPTH_SHALLOW;
}

/* A refused message: the stream's own call fails with the reason; nobody else is blamed. */
static int dispatch_refused(struct upstream *up, long long own_id, const struct up_msg *m)
{
	struct conn_req *r = req_pending(up, own_id);

	if (r) {
		struct buf why = BUF_INIT;

		buf_printf(&why, "connector '%s' sent %s", up->c->alias, m->text.data);
		if (r->kind == REQ_USER)
			req_finish(r, NULL, 0, NULL, why.data);
		else
			session_failed(up, why.data, "the server sent a message mcpmux cannot use");
		buf_free(&why);
	}
	return own_id && !req_pending(up, own_id);
}

/* A request or a notification from the server; -1 when it is not JSON-RPC. */
static int dispatch_method(struct upstream *up, const struct up_msg *m, int id, int method)
{
	const struct json *j = &m->j;

	if (json_type(j, method) != JSMN_STRING)
		return -1;
	if (id >= 0 && !json_is_null(j, id)) {
		if (!valid_id(j, id))
			return -1;
		answer_server_request(up, m->text.data, m->text.len, j);
	} else if (json_streq(j, method, "notifications/tools/list_changed")) {
		session_relist(up);
	} else if (up->base.ev.notify) {
		up->base.ev.notify(&up->base, m->text.data, m->text.len, j, up->base.ev.arg);
	}
	return 0;
}

/*
 * One message from the connector, whatever stream it came on: a response
 * goes to the request with its id (on any stream: a server may answer on
 * the GET stream), a request to answer_server_request(), a notification to
 * the listener.
 */
int dispatch_message(struct upstream *up, long long own_id, struct up_msg *m)
{
	struct json *j = &m->j;
	struct conn_req *r;
	int id, method;
	long long v;

	if (m->refused)
		return dispatch_refused(up, own_id, m);
	if (json_type(j, 0) != JSMN_OBJECT)
		goto ignored;
	id = json_get(j, 0, "id");
	method = json_get(j, 0, "method");
	if (method >= 0) {
		if (dispatch_method(up, m, id, method) == 0)
			return 0;
		goto ignored;
	}
	if ((json_get(j, 0, "result") < 0 && json_get(j, 0, "error") < 0) || json_int(j, id, &v))
		goto ignored;
	r = req_pending(up, v);
	if (!r) {
		log_debug("connector '%s': dropped a response to no pending request (id %lld)",
			  up->c->alias, v);
		return own_id && v == own_id;
	}
	if (m->depth < depth_for(r)) {
		if (json_parse_top(j, m->text.data, m->text.len, depth_for(r)))
			goto ignored;
		m->depth = depth_for(r);
	}
	up->delivering = &m->text;
	req_finish(r, m->text.data, m->text.len, j, NULL);
	up->delivering = NULL;
	return own_id && v == own_id;
ignored:
	log_debug("connector '%s': ignored a message that is not JSON-RPC", up->c->alias);
	return 0;
}

/* --- a request's reply --- */

const char *failure_hint(const struct http *h)
{
	CURLcode res = http_result(h);
	long status = http_status(h);

	if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST)
		return "is the server running at that url?";
	if (res == CURLE_OPERATION_TIMEDOUT)
		return "the server did not answer in time";
	if (res != CURLE_OK)
		return "check the url and the network";
	if (status == 401 || status == 403)
		return "check the connector's token";
	if (status == 404 || status == 405)
		return "check the url path of the MCP endpoint";
	if (status >= 500)
		return "the server failed; see its logs";
	return "is this an MCP Streamable HTTP endpoint?";
}

/* The reply stream ended (or broke) before the response, after an event with an id. */
static int can_resume(const struct conn_req *r)
{
	return r->kind == REQ_USER && stream_resumable(&r->reply) && r->resumes < MAX_RESUMES &&
	       !r->up->closing && !r->answered;
}

/* The reply could not be used: r fails (a call gets a sentence; the session fails otherwise). */
static void reply_failed(struct conn_req *r, struct http *h, const char *what)
{
	struct upstream *up = r->up;

	if (r->kind == REQ_USER) {
		/* The model reads this: name the connector and what to do. */
		struct buf why = BUF_INIT;
		int dead = http_result(h) == CURLE_COULDNT_CONNECT;

		buf_printf(&why, "connector '%s' failed: %s - %s", up->c->alias, what,
			   r->reply.refused ? "the server sent what mcpmux cannot pass on safely" :
			   failure_hint(h));
		req_finish(r, NULL, 0, NULL, why.data);
		buf_free(&why);
		/* Refused: the server is gone, not just this call. Reconnect with backoff. */
		if (dead && up->state == CONN_READY && !up->closing)
			session_down(up, CONN_ERROR, what, "is the server running at that url?");
		return;
	}
	req_finish(r, NULL, 0, NULL, what);
}

/* A message that gets no reply ended: a POST is forgotten; notifications/initialized
   must have been accepted, or the session fails. Frees r (and h). */
static void message_done(struct conn_req *r, struct http *h, int ok)
{
	struct upstream *up = r->up;
	struct buf err = BUF_INIT;
	int accepted = ok && http_status(h) >= 200 && http_status(h) < 300;

	if (r->kind == REQ_POST) {
		req_free(r);
		return;
	}
	if (!accepted) {
		buf_puts(&err, "notifications/initialized failed: ");
		http_describe_error(h, &err);
	}
	req_free(r);	/* frees h too */
	if (!accepted)
		session_failed(up, err.data, "is this an MCP Streamable HTTP endpoint?");
	buf_free(&err);
}

/* r's exchange ended without its response: the next step (a fresh credential, the legacy
   transport, a resumption, a new session), or r fails. */
static void no_response(struct conn_req *r, struct http *h, int ok)
{
	struct upstream *up = r->up;
	struct buf err = BUF_INIT;
	long status = http_status(h);

	if (ok && status == 401 && up->c->token) {
		auth_retry_401(r);
		return;
	}
	if (ok)
		auth_accepted(r);
	if (legacy_post_done(r, h, ok))
		return;
	if (can_resume(r) && http_streaming(h) && !r->reply.refused && (ok ? status == 200 : 1)) {
		r->resumes++;
		stream_resume(&r->reply);
		return;
	}
	/* A 404 on a resumption must not re-send the request: it may have run. */
	if (ok && status == 404 && r->kind == REQ_USER && up->session_id && !r->retried &&
	    !r->resumes) {
		r->retried = 1;
		r->waiting = 1;
		stream_close(&r->reply);
		session_renew(up);
		return;
	}
	stream_why(&r->reply, h, "the event stream ended without a response",
		   "no JSON-RPC response to the request", &err);
	reply_failed(r, h, err.data);
	buf_free(&err);
}

static void on_reply_done(struct http *h, void *arg)
{
	struct conn_req *r = arg;
	struct upstream *up = r->up;
	int ok = http_result(h) == CURLE_OK && !http_too_big(h);
	long long id = r->id;

	if (r->kind == REQ_POST || r->kind == REQ_INITIALIZED) {
		message_done(r, h, ok);
		return;
	}
	/* A JSON body is one message, complete now; an event stream's are queued already. */
	if (!r->answered && http_streaming(h) && !r->reply.sse && ok)
		stream_end_body(&r->reply);
	if (!r->answered) {
		stream_drain(&r->reply);
		/* Handling a message may have answered r, and freed it with h. */
		r = req_by_id(up, id);
		if (!r)
			return;
	}
	if (r->answered) {
		req_free(r);
		return;
	}
	no_response(r, h, ok);
}

/* initialize and tools/list answer the session, not a caller; r may be freed. */
static void session_reply(struct conn_req *r, const struct json *j, const char *err)
{
	struct buf why = BUF_INIT;

	if (!err && r->kind == REQ_INIT) {
		session_init_reply(r, j);
		return;
	}
	if (!err) {
		session_list_reply(r, j);
		return;
	}
	buf_printf(&why, "%s failed: %s", r->kind == REQ_INIT ? "initialize" : "tools/list", err);
	session_failed(r->up, why.data, r->reply.http ? failure_hint(r->reply.http) : "");
	buf_free(&why);
}

void req_finish(struct conn_req *r, const char *msg, size_t n, const struct json *j,
		const char *err)
{
	struct upstream *up = r->up;

	r->answered = 1;
	r->reply.discard = 1;
	if (r->kind == REQ_INIT || r->kind == REQ_LIST) {
		/* r may already be gone if the session failed (all requests freed). */
		session_reply(r, j, err);
		return;
	}
	if (r->deadline) {
		loop_timer_cancel(up->loop, r->deadline);
		r->deadline = NULL;
	}
	loop_defer_cancel(up->loop, r->fail_soon);
	r->fail_soon = NULL;
	if (r->cb) {
		r->cb(&up->base, msg, n, j, err, r->arg);
		r->cb = NULL;
	}
	/* A streamed reply goes on draining; free once the transfer ends. */
	if (!r->reply.http || !http_running(r->reply.http))
		req_free(r);
}

/* --- sending --- */

void req_send(struct conn_req *r)
{
	struct upstream *up = r->up;
	int legacy = up->legacy, plain = r->kind == REQ_POST || r->kind == REQ_INITIALIZED;
	struct http *h;

	/* Not before the session (a call, not before READY), nor before the endpoint
	   event of the legacy transport says where to post. */
	if ((up->state != CONN_STARTING && up->state != CONN_READY) ||
	    (r->kind == REQ_USER && up->state != CONN_READY) || (legacy && !up->post_url)) {
		r->waiting = 1;
		return;
	}
	r->waiting = 0;
	if (up->c->token && !creds_peek(up->creds, up->c->token)) {
		r->waiting_cred = 1;
		auth_fetch(up, 0);
		return;
	}
	r->waiting_cred = 0;
	/* A new exchange: a new reply (a resumption keeps the old one instead). Legacy:
	   the POST is only accepted; replies come on the GET stream. */
	stream_free(&r->reply);
	stream_init(&r->reply, up, plain || legacy ? &post_kind : &reply_kind, r->id, depth_for(r),
		    r);
	h = up_http(up, "POST", legacy ? up->post_url : up->c->url, r->kind != REQ_INIT);
	http_header(h, "Content-Type", "application/json");
	http_header(h, "Accept", "application/json, text/event-stream");
	http_body(h, r->body.data, r->body.len);
	r->sent = 1;
	if (stream_start(&r->reply, h, r->timeout_ms ? r->timeout_ms + 1000 : 0) != 0)
		log_error("connector '%s': cannot start a transfer", up->c->alias);
}

void req_post(struct upstream *up, const char *json, size_t n)
{
	struct conn_req *r = req_new(up, REQ_POST, 5000);

	buf_add(&r->body, json, n);
	req_send(r);
}

static void on_fail_later(void *arg)
{
	struct conn_req *r = arg;

	r->fail_soon = NULL;
	req_finish(r, NULL, 0, NULL, r->failure.data);
}

void req_fail_later(struct conn_req *r)
{
	loop_timer_cancel(r->up->loop, r->deadline);
	r->deadline = NULL;
	if (!r->fail_soon)
		r->fail_soon = loop_defer(r->up->loop, on_fail_later, r);
}

void req_cancel(struct conn_req *r, const char *reason)
{
	struct upstream *up = r->up;
	int was_sent = r->sent && !r->answered && r->id;

	r->cb = NULL;
	if (was_sent && up->state == CONN_READY) {
		struct buf n = BUF_INIT;

		buf_printf(&n, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
			   "\"params\":{\"requestId\":%lld,\"reason\":", r->id);
		json_escape_str(&n, reason ? reason : "cancelled");
		buf_puts(&n, "}}");
		req_post(up, n.data, n.len);
		buf_free(&n);
	}
	req_free(r);
}
