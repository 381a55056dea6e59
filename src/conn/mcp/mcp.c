/* conn/mcp/mcp.c - the MCP-over-HTTP connector: one Streamable HTTP (or legacy HTTP+SSE) session; see include/connector.h. */
#include "connector.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "creds.h"
#include "http.h"
#include "log.h"
#include "protocol.h"
#include "sse.h"

#define MAX_PAGES	1000
#define MAX_TOOLS	10000
#define REAUTH_PROBE_MS	5000	/* a refused credential is looked up again at most this often */
#define RETRY_MIN_MS	1000	/* first reconnect attempt after a failure */
#define RETRY_MAX_MS	30000	/* backoff cap */

enum req_kind {
	REQ_INIT,	/* initialize */
	REQ_INITIALIZED, /* notifications/initialized */
	REQ_LIST,	/* tools/list, one page */
	REQ_USER,	/* a request made through the request op (connector_request) */
	REQ_POST,	/* a fire-and-forget message (notification, reply to the server) */
	REQ_DELETE	/* ending the session */
};

struct upstream;
struct conn_req;


/* --- receiving messages --- */

/*
 * Token depths: how deep a message is tokenized while it arrives. A reply to
 * a call is forwarded as it came and read only near its top (result.isError),
 * and so are notifications and requests (params.logger, params.requestId):
 * no tokens for their content, however big. A tools/list reply is read down
 * to each tool's annotations (result.tools[i].annotations.readOnlyHint); its
 * schemas are one token each.
 */
#define DEPTH_SHALLOW	2
#define DEPTH_INIT	3
#define DEPTH_LIST	5

/* One message from the connector, checked and tokenized as it arrived. */
struct up_msg {
	struct up_msg *next;
	struct buf text;	/* the message, on one line (owned) */
	struct json j;		/* its tokens; j.js is text.data */
	int depth;		/* how deep j is tokenized */
	int refused;		/* no message: one was refused, text says why */
};

/*
 * A byte stream of the connector's messages: an event stream (a POST's
 * reply, the GET stream, the legacy stream) or one JSON body. Each message
 * is checked and tokenized while its bytes arrive (json_scan), so that its
 * last byte costs no more than its first, and is refused as soon as it
 * passes the size cap or cannot be valid. Complete messages wait in a queue
 * for a 0 ms timer: they arrive inside curl's write callback, where the
 * transfer must not be freed. Owned by whoever embeds it (a request, or the
 * connector for its GET and legacy streams).
 */
struct rx {
	struct upstream *up;		/* the connector, or NULL before rx_init() */
	long long own_id;		/* the request whose reply this is, or 0 */
	int sse;			/* an event stream (else one JSON body) */
	struct sse_parser parser;	/* sse: its parser (kept across resumptions) */
	struct buf body;		/* !sse: the body so far */
	struct json j;			/* tokens of the message being received */
	struct json_scan *scan;		/* over it, once it started */
	int depth;			/* tokenized this deep */
	size_t max;			/* the cap on one message, bytes */
	int refused;			/* the message being received cannot be used */
	struct buf why;			/* why the last one was refused, for the user */
	struct up_msg *head, **tail;	/* complete messages, oldest first */
	struct loop_timer *drain;	/* will hand them over */
};


struct conn_req {
	struct upstream *up;	/* owner */
	struct conn_req *prev, *next; /* in up->reqs */
	enum req_kind kind;
	long long id;		/* JSON-RPC id sent upstream; 0 for messages without one */
	struct buf body;	/* the JSON-RPC message, kept for a retry */
	struct http *http;	/* the exchange in flight, or NULL while waiting */
	struct rx rx;		/* its reply: one JSON body or an event stream */
	struct loop_timer *deadline;
	long timeout_ms;
	int waiting;		/* queued until the session is ready */
	int sent;		/* the message reached the wire at least once */
	int answered;		/* the reply callback ran */
	int retried;		/* already retried after a session expiry */
	int waiting_cred;	/* queued until the credential is fetched */
	int resumes;		/* GETs with Last-Event-ID made to resume the reply */
	struct loop_timer *resume; /* the next resumption, after the server's retry: */
	int retried_401;	/* already retried with a fresh credential */
	conn_reply_cb cb;
	void *arg;
	struct buf failure;	/* error to report from a 0 ms timer */
};

struct upstream {
	struct connector base;		/* first: what the mux sees */
	struct loop *loop;		/* not owned */
	const struct config *cfg;	/* not owned */
	const struct connector_cfg *c;	/* not owned */
	enum conn_state state;
	struct buf reason;		/* why ERROR, for the user */
	struct buf hint;		/* what to do about it */
	char *session_id;		/* Mcp-Session-Id, or NULL */
	char proto[16];			/* negotiated protocol version */
	long long next_id;
	struct conn_req *reqs;		/* every request and message in flight or waiting */
	struct buf *delivering;		/* the message a reply callback is reading, or NULL */
	struct conn_tool *tools, *newtools; /* current list; the one being listed */
	size_t ntools, nnewtools;
	int pages;
	size_t skipped_bad, skipped_names, skipped_cap; /* tools left out of this listing */
	unsigned char list_hash[crypto_generichash_BYTES]; /* of the current list */
	crypto_generichash_state hashing; /* over the list being built */
	uint64_t generation;
	int64_t started_at, latency;
	struct creds *creds;		/* the credential cache (not owned) */
	struct creds_wait *cred_wait;	/* the fetch this connector waits for */
	struct secret *rejected;	/* the credential the connector refused (401), or NULL */
	int64_t reauth_probe;		/* reauth_required: when a call may fetch again */
	struct loop_timer *retry;	/* the next reconnect attempt */
	long backoff_ms;		/* wait before the attempt after that */
	int settled_once;		/* the first start ended (ready or failed) */
	int cred_failed;		/* the last credential fetch failed */
	struct buf logged;		/* the last failure logged: a repeat is not logged again */
	struct buf refusal_logged;	/* the same, for messages refused */
	int closing;
	struct http *del;		/* the DELETE in flight */
	struct http *notif;		/* GET stream for the server's own messages, or NULL */
	struct rx notif_rx;		/* its messages (the parser's last id persists across reopens) */
	struct loop_timer *notif_retry;	/* reopens the stream */
	long notif_backoff_ms;		/* wait before the next reopen after a failure */
	int notif_none;			/* the server has no such stream (405) */
	int relist;			/* 0 idle, 1 re-listing, 2 re-listing and asked again */
	int legacy;			/* speaks the 2024-11-05 HTTP+SSE transport */
	char *post_url;			/* legacy: where messages go (the endpoint event) */
	struct http *lstream;		/* legacy: the GET stream every reply comes on */
	struct rx lrx;			/* its messages */
	struct loop_timer *lsend;	/* sends what waited for the endpoint */
	char *client_caps;		/* capabilities declared upstream (the agent's, mirrored) */
	int server_logging;		/* the server declared the logging capability */
	char *log_level;		/* the agent's logging/setLevel, applied to this connector */
};

#define UP(c)	((struct upstream *)(c))
#define CUP(c)	((const struct upstream *)(c))

static struct conn_req *mcp_request(struct connector *conn, const char *method,
				    const char *params, size_t params_len, long timeout_ms,
				    conn_reply_cb cb, void *arg);
static void mcp_cancel(struct connector *conn, struct conn_req *r, const char *reason);

/* --- small helpers --- */


static void free_tools(struct conn_tool *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].json);
	}
	free(t);
}

static long up_timeout_ms(const struct upstream *up)
{
	return up->c->timeout_ms ? up->c->timeout_ms : up->cfg->call_timeout_ms;
}

static void notify_changed(struct upstream *up)
{
	if (up->base.ev.changed)
		up->base.ev.changed(&up->base, up->base.ev.arg);
}

/* Moves the connector to ERROR (or REAUTH), once per failure: one clear line, not a flood. */
static void set_error(struct upstream *up, enum conn_state st, const char *reason, const char *hint)
{
	int same = strcmp(buf_str(&up->logged), reason) == 0;

	buf_reset(&up->reason);
	buf_puts(&up->reason, reason);
	buf_reset(&up->hint);
	buf_puts(&up->hint, hint ? hint : "");
	up->state = st;
	up->settled_once = 1;
	if (!same) {
		log_warn("connector '%s': %s%s%s", up->c->alias, reason,
			 hint && *hint ? " - " : "", hint ? hint : "");
		buf_reset(&up->logged);
		buf_puts(&up->logged, reason);
	}
	notify_changed(up);
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

/* Flattens an upstream JSON value onto one line: outside strings, CR and LF
   are only white space, and inside strings JSON cannot hold them raw. */
static void one_line_all(char *p, size_t n)
{
	char *e = p + n, *q = p;

	if (!n)
		return;
	while ((q = memchr(q, '\n', (size_t)(e - q))))
		*q++ = ' ';
	q = p;
	while ((q = memchr(q, '\r', (size_t)(e - q))))
		*q++ = ' ';
}

/* --- receiving: the message streams --- */

static void msg_free(struct up_msg *m)
{
	buf_free(&m->text);
	json_free(&m->j);
	free(m);
}

static size_t max_message(const struct upstream *up)
{
	return up->c->max_message ? up->c->max_message : up->cfg->max_message;
}

static void rx_init(struct rx *x, struct upstream *up, long long own_id, int depth)
{
	memset(x, 0, sizeof(*x));
	x->up = up;
	x->own_id = own_id;
	x->depth = depth;
	x->max = max_message(up);
	x->tail = &x->head;
	json_init(&x->j);
}

/* Releases everything; rx_init() makes it usable again. */
static void rx_free(struct rx *x)
{
	struct up_msg *m;

	if (!x->up)
		return;
	if (x->drain)
		loop_timer_cancel(x->up->loop, x->drain);
	while ((m = x->head)) {
		x->head = m->next;
		msg_free(m);
	}
	sse_free(&x->parser);
	buf_free(&x->body);
	json_free(&x->j);
	json_scan_free(x->scan);
	buf_free(&x->why);
	memset(x, 0, sizeof(*x));
}

/* The next message starts from nothing (the event stream's own state stays). */
static void rx_next_message(struct rx *x)
{
	if (x->scan)
		json_scan_reset(x->scan, x->depth);
	x->refused = 0;
}

static void rx_refuse(struct rx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rx_refuse(struct rx *x, const char *fmt, ...)
{
	va_list ap;

	x->refused = 1;
	buf_reset(&x->why);
	va_start(ap, fmt);
	buf_vprintf(&x->why, fmt, ap);
	va_end(ap);
	/* The request this stream answers learns why too; anyone else only from the
	   log, once for a refusal that repeats (a server that always sends it). */
	if (strcmp(x->why.data, buf_str(&x->up->refusal_logged))) {
		log_warn("connector '%s': %s", x->up->c->alias, x->why.data);
		buf_reset(&x->up->refusal_logged);
		buf_puts(&x->up->refusal_logged, x->why.data);
	}
}

/* The raw key at p[0..n) (quotes included) for a message: at most 64 bytes, cut
   at a character boundary. */
static void quote_key(const char *p, size_t n, struct buf *out)
{
	size_t k = n;

	if (n > 64) {
		k = 60;
		while (k > 1 && ((unsigned char)p[k] & 0xc0) == 0x80)
			k--;
	}
	buf_add(out, p, k);
	if (k < n)
		buf_puts(out, "...\"");
}

/* The scanner refused text[0..n): say what was wrong, quoting a repeated key. */
static void rx_refuse_json(struct rx *x, const char *text, size_t n)
{
	const struct json *j = &x->j;
	struct buf key = BUF_INIT;

	if (j->err == JSON_ERR_DUPKEY) {
		quote_key(text + j->err_at, j->err_len, &key);
		rx_refuse(x, "a message with a repeated key (%s) was refused: it could mean different "
			  "things to different readers", key.data);
	} else if (j->err == JSON_ERR_KEY) {
		quote_key(text + j->err_at, j->err_len, &key);
		rx_refuse(x, "a message with a key that holds a lone surrogate (%s) was refused: "
			  "readers decode it differently", key.data);
	} else if (j->err == JSON_ERR_DEPTH) {
		rx_refuse(x, "a message nested deeper than %d levels was refused", JSON_MAX_DEPTH);
	} else {
		rx_refuse(x, "a message that is not valid JSON was refused (at byte %zu of %zu)",
			  j->err_at, n);
	}
	buf_free(&key);
}

static void rx_on_drain(void *arg);

static void rx_queue(struct rx *x, struct up_msg *m)
{
	*x->tail = m;
	x->tail = &m->next;
	if (!x->drain)
		x->drain = loop_timer_add(x->up->loop, 0, rx_on_drain, x);
}

/* A whole message arrived in *text (taken): checked and queued, or refused. */
static void rx_complete(struct rx *x, struct buf *text)
{
	struct up_msg *m = calloc(1, sizeof(*m));

	if (!m)
		abort();
	if (!x->refused) {
		if (!x->scan)
			x->scan = json_scan_new(&x->j, x->depth);
		if (json_scan_end(x->scan, buf_str(text), text->len))
			rx_refuse_json(x, buf_str(text), text->len);
	}
	if (x->refused) {
		buf_free(text);
		m->refused = 1;
		buf_puts(&m->text, buf_str(&x->why));
	} else {
		m->text = *text;
		*text = (struct buf)BUF_INIT;
		/* Valid JSON holds CR and LF only as white space: the agent gets one line. */
		one_line_all(m->text.data, m->text.len);
		m->j = x->j;
		json_init(&x->j);
		m->j.js = m->text.data;
		m->depth = x->depth;
	}
	rx_next_message(x);
	rx_queue(x, m);
}

/* The bytes so far of the message being received. -1: nothing sensible can follow. */
static int rx_progress(struct rx *x, const char *text, size_t n)
{
	if (x->refused)
		return 0;
	if (n > x->max) {
		rx_refuse(x, "a message larger than %zu MiB was refused (max_message)", x->max >> 20);
		return -1;
	}
	if (!x->scan)
		x->scan = json_scan_new(&x->j, x->depth);
	if (json_scan_feed(x->scan, text, n))
		rx_refuse_json(x, text, n);
	return 0;
}

static int rx_sse_data(const struct buf *data, void *arg)
{
	return rx_progress(arg, buf_str(data), data->len);
}

/* A "message" event: one JSON-RPC message. Other event types are not ours. */
static int rx_sse_event(const struct sse_event *ev, void *arg)
{
	struct rx *x = arg;
	struct buf text = BUF_INIT;

	if (strcmp(ev->type, "message") != 0) {
		rx_next_message(x);
		return 0;
	}
	sse_take_data(&x->parser, &text);
	rx_complete(x, &text);
	return 0;
}

/* The stream turned out to be an event stream: its parser, kept across resumptions. */
static void rx_start_sse(struct rx *x, sse_event_cb on_event)
{
	x->sse = 1;
	if (x->parser.on_event)
		return;
	sse_init(&x->parser, on_event ? on_event : rx_sse_event, x);
	x->parser.on_data = rx_sse_data;
	x->parser.max_event = x->max;
}

/* Bytes of the stream as they arrive: 0, or -1 to end the transfer. */
static int rx_feed(struct rx *x, const char *data, size_t n)
{
	if (x->sse) {
		if (sse_feed(&x->parser, data, n) == 0)
			return 0;
		if (!x->refused)
			rx_refuse(x, "a message larger than %zu MiB was refused (max_message)",
				  x->max >> 20);
		return -1;
	}
	/* One body, one message: once it cannot be used, the rest is not wanted. */
	if (x->refused)
		return -1;
	buf_add(&x->body, data, n);
	if (rx_progress(x, x->body.data, x->body.len) || x->refused)
		return -1;
	return 0;
}

/* A JSON body ended: its message is queued (or refused, with why). */
static void rx_end_body(struct rx *x)
{
	struct buf body = x->body;

	x->body = (struct buf)BUF_INIT;
	rx_complete(x, &body);
}

static int dispatch(struct upstream *up, long long own_id, struct up_msg *m);

/*
 * Hands the queued messages over, in order, until the stream's own request
 * is no longer pending; returns 1 then. The queue is detached first, and
 * nothing of x is used after the first message: handling one may free the
 * request that embeds x.
 */
static int rx_drain(struct rx *x)
{
	struct upstream *up = x->up;
	long long own = x->own_id;
	struct up_msg *list = x->head, *m;
	int done = 0;

	if (x->drain)
		loop_timer_cancel(up->loop, x->drain);
	x->drain = NULL;
	x->head = NULL;
	x->tail = &x->head;
	while ((m = list)) {
		list = m->next;
		if (!done)
			done = dispatch(up, own, m);
		msg_free(m);
	}
	return done;
}

static void rx_on_drain(void *arg)
{
	struct rx *x = arg;

	x->drain = NULL;
	rx_drain(x);
}


/* --- request life cycle --- */

static void req_unlink(struct conn_req *r)
{
	struct upstream *up = r->up;

	if (r->prev)
		r->prev->next = r->next;
	else if (up->reqs == r)
		up->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void req_free(struct conn_req *r)
{
	req_unlink(r);
	if (r->deadline)
		loop_timer_cancel(r->up->loop, r->deadline);
	if (r->resume)
		loop_timer_cancel(r->up->loop, r->resume);
	http_free(r->http);
	rx_free(&r->rx);
	buf_free(&r->body);
	buf_free(&r->failure);
	free(r);
}

/* The request with this id that still waits for its response, or NULL. */
static struct conn_req *pending_req(struct upstream *up, long long id)
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

static void req_finish(struct conn_req *r, const char *msg, size_t n,
		       const struct json *j, const char *err);
static void req_send(struct conn_req *r);
static void start_session(struct upstream *up);
static void session_failed(struct upstream *up, const char *reason, const char *hint);
static void reauth_required(struct upstream *up, const char *why);
static void connector_down(struct upstream *up, enum conn_state st, const char *reason,
			   const char *hint);
static void need_cred(struct upstream *up, int force);
static void relist(struct upstream *up);
static void post_message(struct upstream *up, const char *json, size_t n);

/* What a request whose deadline passed was still waiting for, for the message. */
static void waited_for(const struct conn_req *r, long secs, struct buf *out)
{
	const struct upstream *up = r->up;

	if (r->waiting_cred)
		buf_printf(out, "the credential (%s) could not be fetched within %ld s - is the "
			   "vault answering?", up->c->token, secs);
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
	mcp_cancel(&up->base, r, "timed out");
	if (cb)
		cb(&up->base, NULL, 0, NULL, msg.data, cb_arg);
	buf_free(&msg);
	buf_free(&why);
}

static struct conn_req *req_new(struct upstream *up, enum req_kind kind, long timeout_ms)
{
	struct conn_req *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->up = up;
	r->kind = kind;
	r->timeout_ms = timeout_ms;
	r->next = up->reqs;
	if (up->reqs)
		up->reqs->prev = r;
	up->reqs = r;
	if (timeout_ms > 0)
		r->deadline = loop_timer_add(up->loop, timeout_ms, on_deadline, r);
	return r;
}

static void build_message(struct conn_req *r, const char *method, const char *params,
			  size_t plen, int with_id)
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
	post_message(up, out.data, out.len);
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

/*
 * One message from the connector, whatever stream it came on: a response
 * goes to the request with its id (on any stream: a server may answer on
 * the GET stream), a request to answer_server_request(), a notification to
 * the listener. own_id is the request whose reply stream carried it (0 for
 * the GET and legacy streams); returns 1 once that one no longer waits.
 */
static int dispatch(struct upstream *up, long long own_id, struct up_msg *m)
{
	struct json *j = &m->j;
	struct conn_req *r;
	int id, method;
	long long v;

	if (m->refused) {
		/* The stream's own call fails with the reason; nobody else is blamed. */
		r = pending_req(up, own_id);
		if (r) {
			struct buf why = BUF_INIT;

			buf_printf(&why, "connector '%s' sent %s", up->c->alias, m->text.data);
			if (r->kind == REQ_USER)
				req_finish(r, NULL, 0, NULL, why.data);
			else
				session_failed(up, why.data, "the server sent a message mcpmux cannot use");
			buf_free(&why);
		}
		return own_id && !pending_req(up, own_id);
	}
	if (json_type(j, 0) != JSMN_OBJECT)
		goto ignored;
	id = json_get(j, 0, "id");
	method = json_get(j, 0, "method");
	if (method >= 0) {
		if (json_type(j, method) != JSMN_STRING)
			goto ignored;
		if (id >= 0 && !json_is_null(j, id)) {
			if (!valid_id(j, id))
				goto ignored;
			answer_server_request(up, m->text.data, m->text.len, j);
		} else if (json_streq(j, method, "notifications/tools/list_changed")) {
			relist(up);
		} else if (up->base.ev.notify) {
			up->base.ev.notify(&up->base, m->text.data, m->text.len, j, up->base.ev.arg);
		}
		return 0;
	}
	if ((json_get(j, 0, "result") < 0 && json_get(j, 0, "error") < 0) || json_int(j, id, &v))
		goto ignored;
	r = pending_req(up, v);
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

static int want_stream(struct http *h, void *arg)
{
	struct conn_req *r = arg;

	/* Legacy: the POST is only accepted; replies come on the GET stream. */
	if (http_status(h) != 200 || r->kind == REQ_POST || r->kind == REQ_INITIALIZED || r->up->legacy)
		return 0;
	if (strcmp(http_content_type(h), "text/event-stream") == 0)
		rx_start_sse(&r->rx, NULL);
	return 1;
}

static int on_stream_data(struct http *h, const char *data, size_t n, void *arg)
{
	struct conn_req *r = arg;

	(void)h;
	/* Once answered, the rest of the stream is drained and ignored. */
	if (r->answered)
		return 0;
	return rx_feed(&r->rx, data, n) ? 1 : 0;
}


static const char *hint_for(const struct http *h)
{
	if (http_result(h) == CURLE_COULDNT_CONNECT || http_result(h) == CURLE_COULDNT_RESOLVE_HOST)
		return "is the server running at that url?";
	if (http_result(h) == CURLE_OPERATION_TIMEDOUT)
		return "the server did not answer in time";
	if (http_result(h) != CURLE_OK)
		return "check the url and the network";
	if (http_status(h) == 401 || http_status(h) == 403)
		return "check the connector's token";
	if (http_status(h) == 404 || http_status(h) == 405)
		return "check the url path of the MCP endpoint";
	if (http_status(h) >= 500)
		return "the server failed; see its logs";
	return "is this an MCP Streamable HTTP endpoint?";
}

static void session_expired(struct conn_req *r)
{
	struct upstream *up = r->up;

	log_info("connector '%s': session expired, initializing again", up->c->alias);
	free(up->session_id);
	up->session_id = NULL;
	r->retried = 1;
	r->waiting = 1;
	http_free(r->http);
	r->http = NULL;
	if (up->state != CONN_STARTING)
		start_session(up);
}

static void handle_init_reply(struct conn_req *r, const char *msg, size_t n, const struct json *j);
static void handle_list_reply(struct conn_req *r, const struct json *j);
static struct http *connector_http(struct upstream *up, const char *method, const char *url,
				   int session);
static struct http *open_stream(struct upstream *up, int session, const char *last_id,
				int (*want)(struct http *, void *), http_data_cb on_data,
				http_done_cb on_done, void *arg);
static void on_http_done(struct http *h, void *arg);

#define MAX_RESUMES	5
#define RESUME_DEFAULT_MS 1000

/* The reply stream ended (or broke) before the response, after an event with an id. */
static int can_resume(const struct conn_req *r)
{
	return r->kind == REQ_USER && r->rx.sse && r->rx.parser.last_id.len &&
	       r->resumes < MAX_RESUMES && !r->up->closing && !r->answered;
}

static void on_resume(void *arg)
{
	struct conn_req *r = arg;
	struct upstream *up = r->up;

	r->resume = NULL;
	/* Not started: the request's deadline ends it. */
	r->http = open_stream(up, 1, r->rx.parser.last_id.data, want_stream, on_stream_data,
			      on_http_done, r);
	if (!r->http)
		log_error("connector '%s': cannot start a transfer", up->c->alias);
}

/* Waits the server's retry: time (SSE), then asks for the rest of the stream. */
static void schedule_resume(struct conn_req *r)
{
	long wait = r->rx.parser.retry_ms >= 0 ? r->rx.parser.retry_ms : RESUME_DEFAULT_MS;

	http_free(r->http);
	r->http = NULL;
	r->resumes++;
	log_debug("connector '%s': resuming a reply stream in %ld ms", r->up->c->alias, wait);
	r->resume = loop_timer_add(r->up->loop, wait, on_resume, r);
}

static void send_initialized(struct upstream *up);
static void notif_open(struct upstream *up);
static void notif_stop(struct upstream *up);
static void legacy_open(struct upstream *up);
static void legacy_stop(struct upstream *up);
static void send_log_level(struct upstream *up);

/* 401 on r: fetch the credential once more (bypassing the cache) and retry once. */
static void retry_after_401(struct conn_req *r)
{
	struct upstream *up = r->up;
	const struct secret *cur = creds_peek(up->creds, up->c->token);
	long long id = r->id;

	if (r->retried_401) {
		reauth_required(up, "the connector answered HTTP 401 to a freshly fetched one");
		r = pending_req(up, id);
		if (r && r->kind == REQ_USER) {
			struct buf err = BUF_INIT;

			buf_printf(&err, "connector '%s' needs a new credential: %s - %s", up->c->alias,
				   buf_str(&up->reason), buf_str(&up->hint));
			req_finish(r, NULL, 0, NULL, err.data);
			buf_free(&err);
		}
		return;
	}
	if (cur && !up->rejected)
		up->rejected = secret_dup(cur->p, cur->len);
	r->retried_401 = 1;
	r->waiting_cred = 1;
	http_free(r->http);
	r->http = NULL;
	need_cred(up, 1);
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
			   r->rx.refused ? "the server sent what mcpmux cannot pass on safely" :
			   hint_for(h));
		req_finish(r, NULL, 0, NULL, why.data);
		buf_free(&why);
		/* Refused: the server is gone, not just this call. Reconnect with backoff. */
		if (dead && up->state == CONN_READY && !up->closing)
			connector_down(up, CONN_ERROR, what, "is the server running at that url?");
		return;
	}
	req_finish(r, NULL, 0, NULL, what);
}

static void on_http_done(struct http *h, void *arg)
{
	struct conn_req *r = arg;
	struct upstream *up = r->up;
	struct buf err = BUF_INIT;
	int ok = http_result(h) == CURLE_OK && !http_too_big(h);
	long long id = r->id;

	if (r->kind == REQ_POST) {
		req_free(r);
		return;
	}
	if (r->kind == REQ_INITIALIZED) {
		int accepted = ok && http_status(h) >= 200 && http_status(h) < 300;

		if (!accepted) {
			buf_puts(&err, "notifications/initialized failed: ");
			http_describe_error(h, &err);
		}
		req_free(r);	/* frees h too */
		if (!accepted)
			session_failed(up, err.data, "is this an MCP Streamable HTTP endpoint?");
		buf_free(&err);
		return;
	}
	/* A JSON body is one message, complete now; an event stream's are queued already. */
	if (!r->answered && http_streaming(h) && !r->rx.sse && ok)
		rx_end_body(&r->rx);
	if (!r->answered) {
		rx_drain(&r->rx);
		/* Handling a message may have answered r, and freed it with h. */
		r = req_by_id(up, id);
		if (!r)
			return;
	}
	if (r->answered) {
		req_free(r);
		return;
	}
	if (ok && http_status(h) == 401 && up->c->token) {
		retry_after_401(r);
		return;
	}
	if (ok && up->rejected && r->retried_401) {
		secret_free(up->rejected);
		up->rejected = NULL;
	}
	if (r->kind == REQ_INIT && !up->legacy && ok &&
	    (http_status(h) == 400 || http_status(h) == 404 || http_status(h) == 405)) {
		/* No Streamable HTTP here: try the legacy HTTP+SSE transport (2024-11-05). */
		log_debug("connector '%s': POST initialize got HTTP %ld, trying HTTP+SSE",
			  up->c->alias, http_status(h));
		up->legacy = 1;
		http_free(r->http);
		r->http = NULL;
		r->waiting = 1;
		legacy_open(up);
		return;
	}
	if (up->legacy && ok && http_status(h) >= 200 && http_status(h) < 300) {
		/* Legacy: the POST is only accepted; the reply comes on the GET stream. */
		http_free(r->http);
		r->http = NULL;
		return;
	}
	if (can_resume(r) && http_streaming(h) && !r->rx.refused && (ok ? http_status(h) == 200 : 1)) {
		schedule_resume(r);
		return;
	}
	/* A 404 on a resumption must not re-send the request: it may have run. */
	if (ok && http_status(h) == 404 && r->kind == REQ_USER && up->session_id && !r->retried &&
	    !r->resumes) {
		session_expired(r);
		return;
	}
	if (r->rx.refused || (http_streaming(h) && http_result(h) == CURLE_WRITE_ERROR && r->rx.why.len))
		buf_puts(&err, buf_str(&r->rx.why));
	else if (ok && http_status(h) == 200 && http_streaming(h) && r->rx.sse)
		buf_puts(&err, "the event stream ended without a response");
	else if (ok && http_status(h) == 200)
		buf_puts(&err, "no JSON-RPC response to the request");
	else
		http_describe_error(h, &err);
	reply_failed(r, h, err.data);
	buf_free(&err);
}

/* The connector answered r (or failed to): dispatch by kind, then free r. */
static void req_finish(struct conn_req *r, const char *msg, size_t n,
		       const struct json *j, const char *err)
{
	struct upstream *up = r->up;

	r->answered = 1;
	if (r->kind == REQ_INIT || r->kind == REQ_LIST) {
		struct http *h = r->http;

		if (err) {
			struct buf why = BUF_INIT;
			const char *hint = h ? hint_for(h) : "";

			buf_printf(&why, "%s failed: %s",
				   r->kind == REQ_INIT ? "initialize" : "tools/list", err);
			session_failed(up, why.data, hint);
			buf_free(&why);
		} else if (r->kind == REQ_INIT) {
			handle_init_reply(r, msg, n, j);
		} else {
			handle_list_reply(r, j);
		}
		/* r may already be gone if the session failed (all requests freed). */
		return;
	}
	if (r->deadline) {
		loop_timer_cancel(up->loop, r->deadline);
		r->deadline = NULL;
	}
	if (r->cb) {
		r->cb(&up->base, msg, n, j, err, r->arg);
		r->cb = NULL;
	}
	/* A streamed reply goes on draining; free once the transfer ends. */
	if (!r->http || !http_running(r->http))
		req_free(r);
}

static void add_auth(struct upstream *up, struct http *h)
{
	const struct secret *tok;
	struct secret *line;

	if (!up->c->token)
		return;
	tok = creds_peek(up->creds, up->c->token);
	if (!tok)
		return;
	line = creds_header_line(up->c->auth_header, up->c->auth_scheme, tok);
	http_header_line(h, line->p);
	secret_free(line);
}

/*
 * A request to the connector with what every request carries: the configured
 * headers and the credential, and once a session exists (session = 1) its
 * protocol version and id.
 */
static struct http *connector_http(struct upstream *up, const char *method, const char *url,
				   int session)
{
	struct http *h = http_new(up->loop, method, url);
	size_t i;

	http_set_max_body(h, max_message(up));
	if (session && up->proto[0])
		http_header(h, "MCP-Protocol-Version", up->proto);
	if (session && up->session_id)
		http_header(h, "Mcp-Session-Id", up->session_id);
	for (i = 0; i < up->c->nheaders; i++)
		http_header_line(h, up->c->headers[i]);
	add_auth(up, h);
	return h;
}

/*
 * Opens a GET event stream on the connector's URL (resuming after last_id
 * when set), with no overall timeout. Returns the running transfer, or NULL
 * (nothing left to free) when it could not start.
 */
static struct http *open_stream(struct upstream *up, int session, const char *last_id,
				int (*want)(struct http *, void *), http_data_cb on_data,
				http_done_cb on_done, void *arg)
{
	struct http *h = connector_http(up, "GET", up->c->url, session);

	http_header(h, "Accept", "text/event-stream");
	if (last_id && last_id[0])
		http_header(h, "Last-Event-ID", last_id);
	http_callbacks(h, want, on_data, on_done, arg);
	if (http_start(h, 0, up->cfg->connect_timeout_ms) != 0) {
		http_free(h);
		return NULL;
	}
	return h;
}

static void on_cred(int ok, const char *err, void *arg);

/* Starts fetching the connector's credential, unless a fetch is on its way. */
static void need_cred(struct upstream *up, int force)
{
	if (up->cred_wait)
		return;
	up->cred_wait = creds_fetch(up->creds, up->c->token, force, on_cred, up);
}

static void req_send(struct conn_req *r)
{
	struct upstream *up = r->up;
	struct http *h;

	if (up->state != CONN_STARTING && up->state != CONN_READY) {
		r->waiting = 1;
		return;
	}
	if (r->kind == REQ_USER && up->state != CONN_READY) {
		r->waiting = 1;
		return;
	}
	if (up->legacy && !up->post_url) {
		r->waiting = 1;	/* until the endpoint event says where to post */
		return;
	}
	r->waiting = 0;
	if (up->c->token && !creds_peek(up->creds, up->c->token)) {
		r->waiting_cred = 1;
		need_cred(up, 0);
		return;
	}
	r->waiting_cred = 0;
	h = connector_http(up, "POST", up->legacy ? up->post_url : up->c->url, r->kind != REQ_INIT);
	r->http = h;
	http_header(h, "Content-Type", "application/json");
	http_header(h, "Accept", "application/json, text/event-stream");
	http_body(h, r->body.data, r->body.len);
	http_callbacks(h, want_stream, on_stream_data, on_http_done, r);
	/* A new exchange: a new reply (a resumption keeps the old one instead). */
	rx_free(&r->rx);
	rx_init(&r->rx, up, r->id, depth_for(r));
	r->sent = 1;
	if (http_start(h, r->timeout_ms ? r->timeout_ms + 1000 : 0,
		       up->cfg->connect_timeout_ms) != 0)
		log_error("connector '%s': cannot start a transfer", up->c->alias);
}

static void post_message(struct upstream *up, const char *json, size_t n)
{
	struct conn_req *r = req_new(up, REQ_POST, 5000);

	buf_add(&r->body, json, n);
	req_send(r);
}

/* --- the session --- */

static void fail_waiting(struct upstream *up)
{
	struct conn_req *r = up->reqs, *next;
	struct buf err = BUF_INIT;

	if (up->state == CONN_REAUTH)
		buf_printf(&err, "connector '%s' needs a new credential: %s - %s", up->c->alias,
			   buf_str(&up->reason), buf_str(&up->hint));
	else
		buf_printf(&err, "connector '%s' is unavailable: %s", up->c->alias, buf_str(&up->reason));
	for (; r; r = next) {
		next = r->next;
		if (r->kind == REQ_USER && (r->waiting || r->waiting_cred))
			req_finish(r, NULL, 0, NULL, err.data);
		else if (r->kind == REQ_POST && r->waiting_cred)
			req_free(r);
	}
	buf_free(&err);
}

static void abort_session_reqs(struct upstream *up)
{
	struct conn_req *r = up->reqs, *next;

	for (; r; r = next) {
		next = r->next;
		if (r->kind == REQ_INIT || r->kind == REQ_INITIALIZED || r->kind == REQ_LIST)
			req_free(r);
	}
	free_tools(up->newtools, up->nnewtools);
	up->newtools = NULL;
	up->nnewtools = 0;
	up->pages = 0;
	up->relist = 0;
	up->skipped_bad = up->skipped_names = up->skipped_cap = 0;
}

static void on_retry(void *arg)
{
	struct upstream *up = arg;

	up->retry = NULL;
	if (up->state == CONN_ERROR && !up->closing)
		start_session(up);
}

/* An attempt now instead of at the end of the backoff; one at a time (the
   state is STARTING until it ends, and only ERROR starts one). */
static void reconnect_now(struct upstream *up)
{
	if (up->state != CONN_ERROR || up->closing || up->cred_failed)
		return;
	if (up->retry)
		loop_timer_cancel(up->loop, up->retry);
	up->retry = NULL;
	log_debug("connector '%s': a call is waiting, connecting again now", up->c->alias);
	start_session(up);
}

/* Capped exponential backoff with jitter, so that many mcpmux processes
   facing one restarting server do not knock in step. */
static void schedule_retry(struct upstream *up)
{
	long wait = up->backoff_ms ? up->backoff_ms : RETRY_MIN_MS;

	if (up->retry || up->closing)
		return;
	up->backoff_ms = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
	wait = wait * 4 / 5 + (long)randombytes_uniform((uint32_t)(wait * 2 / 5 + 1));
	up->retry = loop_timer_add(up->loop, wait, on_retry, up);
}

static void connector_down(struct upstream *up, enum conn_state st, const char *reason,
			   const char *hint)
{
	abort_session_reqs(up);
	notif_stop(up);
	legacy_stop(up);
	if (st == CONN_ERROR && up->ntools) {
		/* A dead connector's tools leave the list (the agent hears list_changed). */
		free_tools(up->tools, up->ntools);
		up->tools = NULL;
		up->ntools = 0;
		memset(up->list_hash, 0, sizeof(up->list_hash));
		up->generation++;
	}
	free(up->session_id);
	up->session_id = NULL;
	set_error(up, st, reason, hint);
	fail_waiting(up);
	if (st == CONN_ERROR)
		schedule_retry(up);
}

static void session_failed(struct upstream *up, const char *reason, const char *hint)
{
	connector_down(up, CONN_ERROR, reason, hint);
}

/* The connector refuses the credential and the source has nothing better. */
static void reauth_required(struct upstream *up, const char *why)
{
	struct buf reason = BUF_INIT, hint = BUF_INIT;

	buf_printf(&reason, "the credential (%s) was refused: %s", up->c->token, why);
	buf_puts(&hint, "update it at its source (the vault, `mcpmux vault set`, the variable or "
		 "the file); mcpmux fetches it again on the next call");
	up->reauth_probe = loop_now() + REAUTH_PROBE_MS;
	connector_down(up, CONN_REAUTH, reason.data, hint.data);
	buf_free(&reason);
	buf_free(&hint);
}

static int same_secret(const struct secret *a, const struct secret *b)
{
	return a && b && a->len == b->len && sodium_memcmp(a->p, b->p, a->len) == 0;
}

static void on_cred(int ok, const char *err, void *arg)
{
	struct upstream *up = arg;
	const struct secret *now = ok ? creds_peek(up->creds, up->c->token) : NULL;
	struct conn_req *r, *next;

	up->cred_wait = NULL;
	if (ok && up->rejected && same_secret(now, up->rejected)) {
		reauth_required(up, "its source still returns the same value");
		return;
	}
	if (!ok || !now) {
		/* The credential cache paces its own retries: a call does not start one. */
		up->cred_failed = 1;
		if (up->rejected)
			reauth_required(up, err ? err : "it could not be fetched again");
		else
			connector_down(up, up->state == CONN_REAUTH ? CONN_REAUTH : CONN_ERROR,
				       err ? err : "the credential could not be fetched", "");
		return;
	}
	up->cred_failed = 0;
	if (up->state == CONN_REAUTH) {
		/* A new credential: start over with a new session; waiting calls follow. */
		log_info("connector '%s': got a new credential, connecting again", up->c->alias);
		for (r = up->reqs; r; r = r->next)
			if (r->waiting_cred && r->kind == REQ_USER) {
				r->waiting_cred = 0;
				r->waiting = 1;
			}
		start_session(up);
		return;
	}
	for (r = up->reqs; r; r = next) {
		next = r->next;
		if (r->waiting_cred)
			req_send(r);
	}
}

static void start_session(struct upstream *up)
{
	struct conn_req *r;
	struct buf params = BUF_INIT;

	abort_session_reqs(up);
	notif_stop(up);
	legacy_stop(up);
	up->state = CONN_STARTING;
	up->started_at = loop_now();
	if (up->legacy)
		legacy_open(up);
	buf_printf(&params, "{\"protocolVersion\":\"%s\",\"capabilities\":%s,"
		   "\"clientInfo\":{\"name\":\"mcpmux\",\"version\":\"%s\"}}",
		   mcp_versions[mcp_nversions - 1], up->client_caps ? up->client_caps : "{}",
		   MCPMUX_VERSION);
	r = req_new(up, REQ_INIT, up_timeout_ms(up));
	build_message(r, "initialize", params.data, params.len, 1);
	buf_free(&params);
	req_send(r);
}

static void handle_init_reply(struct conn_req *r, const char *msg, size_t n, const struct json *j)
{
	struct upstream *up = r->up;
	int res = json_get(j, 0, "result"), pv = json_get(j, res, "protocolVersion");
	size_t len;

	(void)msg;
	(void)n;
	if (res < 0) {
		struct buf why = BUF_INIT;
		int emsg = json_get(j, json_get(j, 0, "error"), "message");

		buf_puts(&why, "initialize was refused: ");
		if (json_string(j, emsg, &why))
			buf_puts(&why, "no message");
		session_failed(up, why.data, "check the server's logs");
		buf_free(&why);
		return;
	}
	len = json_type(j, pv) == JSMN_STRING ? (size_t)(j->tok[pv].end - j->tok[pv].start) : 0;
	if (!len || !mcp_version_known(j->js + j->tok[pv].start, len) || len >= sizeof(up->proto)) {
		session_failed(up, "the server speaks an unsupported protocol version",
			       "mcpmux speaks 2024-11-05 to 2025-11-25");
		return;
	}
	if (r->http && http_bad_session_id(r->http)) {
		/* Sent back on every request, a CR in it would end a header line. */
		session_failed(up, "the server sent an Mcp-Session-Id that is empty or holds characters "
			       "other than visible ASCII", "the server is broken: report it to its authors");
		return;
	}
	memcpy(up->proto, j->js + j->tok[pv].start, len);
	up->proto[len] = '\0';
	up->server_logging = json_type(j, json_get(j, json_get(j, res, "capabilities"), "logging")) ==
			     JSMN_OBJECT;
	free(up->session_id);
	up->session_id = r->http && http_session_id(r->http) ? xstrdup(http_session_id(r->http)) : NULL;
	req_free(r);
	send_initialized(up);
}

/*
 * After the initialize response requests may flow (the spec asks only that
 * none but ping come before it), so tools/list goes out with the
 * initialized notification instead of a round trip later.
 */
static void send_initialized(struct upstream *up)
{
	struct conn_req *r = req_new(up, REQ_INITIALIZED, up_timeout_ms(up));
	struct conn_req *l;

	build_message(r, "notifications/initialized", NULL, 0, 0);
	req_send(r);
	l = req_new(up, REQ_LIST, up_timeout_ms(up));
	build_message(l, "tools/list", NULL, 0, 1);
	req_send(l);
}


/* --- listing tools --- */

enum tool_verdict {
	TOOL_OK,
	TOOL_BAD,	/* not an object with a string name */
	TOOL_NAME,	/* a name that cannot be exposed safely */
	TOOL_CAP	/* past MAX_TOOLS */
};

/* 1 when the decoded name holds a control character (NUL included): filters,
   logs and terminals would all read it differently from what it is. */
static int name_unsafe(const struct buf *name)
{
	size_t i = 0, len;
	unsigned int cp;

	while (i < name->len) {
		len = json_utf8_next(name->data + i, name->len - i, &cp);
		if (!len || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 1;
		i += len;
	}
	return 0;
}

static enum tool_verdict add_tool(struct upstream *up, const struct json *j, int t)
{
	struct conn_tool *tool;
	struct buf name = BUF_INIT;
	size_t s, e, ns, ne;
	int nm = json_get(j, t, "name");
	int ann = json_get(j, t, "annotations");

	if (up->nnewtools >= MAX_TOOLS)
		return TOOL_CAP;
	if (json_type(j, t) != JSMN_OBJECT || json_string(j, nm, &name) || !name.len) {
		buf_free(&name);
		return TOOL_BAD;
	}
	json_span(j, nm, &ns, &ne);
	if (name_unsafe(&name)) {
		log_warn("connector '%s': tool %.*s is left out: its name holds a control character",
			 up->c->alias, (int)(ne - ns > 80 ? 80 : ne - ns), j->js + ns);
		buf_free(&name);
		return TOOL_NAME;
	}
	up->newtools = realloc(up->newtools, (up->nnewtools + 1) * sizeof(*up->newtools));
	if (!up->newtools)
		abort();
	tool = &up->newtools[up->nnewtools++];
	json_span(j, t, &s, &e);
	tool->json_len = e - s;
	tool->json = malloc(tool->json_len + 1);
	if (!tool->json)
		abort();
	memcpy(tool->json, j->js + s, tool->json_len);
	tool->json[tool->json_len] = '\0';
	tool->name_start = ns - s;
	tool->name_end = ne - s;
	tool->name = buf_detach(&name, NULL);
	tool->read_only = json_is_true(j, json_get(j, ann, "readOnlyHint"));
	crypto_generichash_update(&up->hashing, (const unsigned char *)tool->json,
				  tool->json_len);
	return TOOL_OK;
}

/* What the listing left out, said once per listing. */
static void report_skipped(struct upstream *up)
{
	if (up->skipped_bad)
		log_warn("connector '%s': skipped %zu malformed tool definition%s", up->c->alias,
			 up->skipped_bad, up->skipped_bad == 1 ? "" : "s");
	if (up->skipped_cap)
		log_warn("connector '%s': lists more than %d tools; the other %zu are left out",
			 up->c->alias, MAX_TOOLS, up->skipped_cap);
	up->skipped_bad = up->skipped_names = up->skipped_cap = 0;
}

static void finish_listing(struct upstream *up)
{
	unsigned char h[crypto_generichash_BYTES];
	int first = up->latency < 0;

	report_skipped(up);
	crypto_generichash_final(&up->hashing, h, sizeof(h));
	if (first || memcmp(h, up->list_hash, sizeof(h)) != 0) {
		memcpy(up->list_hash, h, sizeof(h));
		free_tools(up->tools, up->ntools);
		up->tools = up->newtools;
		up->ntools = up->nnewtools;
		up->generation++;
	} else {
		free_tools(up->newtools, up->nnewtools);
	}
	up->newtools = NULL;
	up->nnewtools = 0;
	if (first)
		up->latency = loop_now() - up->started_at;
	up->state = CONN_READY;
	up->settled_once = 1;
	up->backoff_ms = 0;
	if (up->logged.len)
		log_info("connector '%s': connected again", up->c->alias);
	buf_reset(&up->logged);
	if (up->relist) {
		int again = up->relist == 2;

		up->relist = 0;
		log_info("connector '%s': tool list updated, %zu tools", up->c->alias, up->ntools);
		if (again)
			relist(up);
	} else {
		log_info("connector '%s': ready, %zu tools (%s)", up->c->alias, up->ntools, up->proto);
		notif_open(up);
		send_log_level(up);
	}
	notify_changed(up);
	/* Requests that waited for the session go out now. */
	for (struct conn_req *r = up->reqs; r; r = r->next)
		if (r->waiting && r->kind == REQ_USER && up->state == CONN_READY)
			req_send(r);
}

static void handle_list_reply(struct conn_req *r, const struct json *j)
{
	struct upstream *up = r->up;
	int res = json_get(j, 0, "result"), tools = json_get(j, res, "tools");
	int cur = json_get(j, res, "nextCursor"), k, i;
	struct conn_req *next;
	size_t s, e;

	if (up->pages == 0)
		crypto_generichash_init(&up->hashing, NULL, 0, sizeof(up->list_hash));
	if (json_type(j, tools) != JSMN_ARRAY) {
		session_failed(up, "tools/list returned no tools array", "is this an MCP server with tools?");
		return;
	}
	for (i = 0, k = tools + 1; i < json_size(j, tools); i++, k = json_next(j, k)) {
		switch (add_tool(up, j, k)) {
		case TOOL_OK:
			break;
		case TOOL_BAD:
			up->skipped_bad++;
			break;
		case TOOL_NAME:
			up->skipped_names++;
			break;
		case TOOL_CAP:
			up->skipped_cap++;
			break;
		}
	}
	up->pages++;
	if (json_type(j, cur) == JSMN_STRING && up->pages < MAX_PAGES) {
		struct buf params = BUF_INIT;

		json_span(j, cur, &s, &e);
		buf_puts(&params, "{\"cursor\":");
		buf_add(&params, j->js + s, e - s);
		buf_putc(&params, '}');
		next = req_new(up, REQ_LIST, up_timeout_ms(up));
		build_message(next, "tools/list", params.data, params.len, 1);
		buf_free(&params);
		req_free(r);
		req_send(next);
		return;
	}
	up->pages = 0;
	req_free(r);
	finish_listing(up);
}


/* --- the GET stream: messages the server sends on its own --- */

#define NOTIF_RETRY_MIN_MS	1000
#define NOTIF_RETRY_MAX_MS	30000

static void relist(struct upstream *up)
{
	struct conn_req *r;

	if (up->relist) {
		up->relist = 2;	/* once the current listing ends */
		return;
	}
	if (up->state != CONN_READY)
		return;
	up->relist = 1;
	r = req_new(up, REQ_LIST, up_timeout_ms(up));
	build_message(r, "tools/list", NULL, 0, 1);
	req_send(r);
}

static int notif_want_stream(struct http *h, void *arg)
{
	(void)arg;
	return http_status(h) == 200 && strcmp(http_content_type(h), "text/event-stream") == 0;
}

static int notif_data(struct http *h, const char *data, size_t n, void *arg)
{
	struct upstream *up = arg;

	(void)h;
	/* A stream that got through is healthy: the next reopen waits only `retry`. */
	up->notif_backoff_ms = 0;
	return rx_feed(&up->notif_rx, data, n) ? 1 : 0;
}

static void notif_reopen(void *arg)
{
	struct upstream *up = arg;

	up->notif_retry = NULL;
	notif_open(up);
}

static void notif_done(struct http *h, void *arg)
{
	struct upstream *up = arg;
	CURLcode result = http_result(h);	/* h is up->notif, freed below */
	long status = http_status(h), wait;

	http_free(up->notif);
	up->notif = NULL;
	/* What arrived before the end is handled first (and may change the state). */
	rx_drain(&up->notif_rx);
	if (status == 404 && up->session_id && up->state == CONN_READY && !up->closing) {
		/* The session is gone (the server restarted): start a new one now rather
		   than at the next call, so its notifications are not lost meanwhile. */
		log_info("connector '%s': session expired, initializing again", up->c->alias);
		free(up->session_id);
		up->session_id = NULL;
		start_session(up);
		return;
	}
	if (status == 405 || status == 404 || status == 400) {
		/* No stream offered (405), or no session to attach it to. */
		up->notif_none = status == 405;
		log_debug("connector '%s': no notification stream (HTTP %ld)", up->c->alias, status);
		return;
	}
	if (result == CURLE_COULDNT_CONNECT && up->state == CONN_READY && !up->closing) {
		connector_down(up, CONN_ERROR, "connection refused", "is the server running at that url?");
		return;
	}
	if (up->closing || up->state != CONN_READY)
		return;
	/* A stream that broke reopens at once the first time; one that keeps
	   breaking waits longer each time. */
	if (result != CURLE_OK && !up->notif_backoff_ms)
		up->notif_rx.parser.retry_ms = up->notif_rx.parser.retry_ms >= 0 ?
					       up->notif_rx.parser.retry_ms : 100;
	/* Reopen: after the server's retry: hint, and back off while it keeps failing. */
	wait = up->notif_rx.parser.retry_ms >= 0 ? up->notif_rx.parser.retry_ms : NOTIF_RETRY_MIN_MS;
	if (up->notif_backoff_ms > wait)
		wait = up->notif_backoff_ms;
	up->notif_backoff_ms = wait * 2 > NOTIF_RETRY_MAX_MS ? NOTIF_RETRY_MAX_MS : wait * 2;
	up->notif_retry = loop_timer_add(up->loop, wait, notif_reopen, up);
}

static void notif_open(struct upstream *up)
{
	if (up->notif || up->notif_none || up->closing || !up->session_id)
		return;
	if (!up->notif_rx.up) {
		rx_init(&up->notif_rx, up, 0, DEPTH_SHALLOW);
		rx_start_sse(&up->notif_rx, NULL);
	}
	/* The stream lives as long as the session. */
	up->notif = open_stream(up, 1, up->notif_rx.parser.last_id.data, notif_want_stream,
				notif_data, notif_done, up);
}

static void notif_stop(struct upstream *up)
{
	http_free(up->notif);
	up->notif = NULL;
	if (up->notif_retry)
		loop_timer_cancel(up->loop, up->notif_retry);
	up->notif_retry = NULL;
	/* A new session starts a new stream: no Last-Event-ID from the old one. */
	rx_free(&up->notif_rx);
	up->notif_none = 0;
	up->notif_backoff_ms = 0;
}

/* --- the legacy HTTP+SSE transport (2024-11-05) --- */

/* The endpoint event's URL, resolved against the connector's url; same origin only. */
static char *legacy_endpoint(const struct upstream *up, const char *data)
{
	const char *url = up->c->url, *host = strstr(url, "://");
	size_t origin;
	struct buf b = BUF_INIT;

	if (!host)
		return NULL;
	origin = (size_t)(host + 3 - url) + strcspn(host + 3, "/?#");
	if (data[0] == '/') {
		buf_add(&b, url, origin);
		buf_puts(&b, data);
	} else if (strstr(data, "://")) {
		if (strncasecmp(data, url, origin) || (data[origin] && !strchr("/?#", data[origin])))
			return NULL;	/* a message endpoint on another origin: refused */
		buf_puts(&b, data);
	} else {
		const char *q = url + strcspn(url, "?#"), *slash = q;

		while (slash > url + origin && slash[-1] != '/')
			slash--;
		buf_add(&b, url, (size_t)(slash - url));
		if (slash == url + origin)
			buf_putc(&b, '/');
		buf_puts(&b, data);
	}
	return buf_detach(&b, NULL);
}

static void legacy_send_waiting(void *arg)
{
	struct upstream *up = arg;
	struct conn_req *r, *next;

	up->lsend = NULL;
	for (r = up->reqs; r; r = next) {
		next = r->next;
		if (r->waiting)
			req_send(r);
	}
}

/* The endpoint event says where to post; every other event is a message. */
static int legacy_event(const struct sse_event *ev, void *arg)
{
	struct rx *x = arg;
	struct upstream *up = x->up;

	if (strcmp(ev->type, "endpoint") != 0)
		return rx_sse_event(ev, arg);
	rx_next_message(x);
	free(up->post_url);
	up->post_url = NULL;
	/* A URL with a control character (a CR) would not be the URL it seems. */
	if (!memchr(ev->data, '\r', ev->data_len) && strlen(ev->data) == ev->data_len)
		up->post_url = legacy_endpoint(up, ev->data);
	if (!up->post_url) {
		log_warn("connector '%s': refused a message endpoint on another origin",
			 up->c->alias);
		return 1;
	}
	/* Requests held for the endpoint go out on the next turn of the loop. */
	if (!up->lsend)
		up->lsend = loop_timer_add(up->loop, 0, legacy_send_waiting, up);
	return 0;
}

static int legacy_want_stream(struct http *h, void *arg)
{
	(void)arg;
	return http_status(h) == 200 && strcmp(http_content_type(h), "text/event-stream") == 0;
}

static int legacy_data(struct http *h, const char *data, size_t n, void *arg)
{
	struct upstream *up = arg;

	(void)h;
	return rx_feed(&up->lrx, data, n) ? 1 : 0;
}

static void legacy_done(struct http *h, void *arg)
{
	struct upstream *up = arg;
	struct buf why = BUF_INIT;
	const char *hint;

	if (up->lrx.refused || (http_result(h) == CURLE_WRITE_ERROR && up->lrx.why.len))
		buf_puts(&why, buf_str(&up->lrx.why));
	else if (http_result(h) == CURLE_OK && http_status(h) == 200 && http_streaming(h))
		buf_puts(&why, "the HTTP+SSE event stream closed");
	else if (http_result(h) == CURLE_OK && http_status(h) == 200)
		buf_puts(&why, "neither Streamable HTTP nor HTTP+SSE: the GET is not an event stream");
	else
		http_describe_error(h, &why);
	hint = hint_for(h);	/* before h (up->lstream) is freed */
	http_free(up->lstream);
	up->lstream = NULL;
	rx_drain(&up->lrx);
	if (!up->closing)
		connector_down(up, CONN_ERROR, why.data, hint);
	buf_free(&why);
}

static void legacy_open(struct upstream *up)
{
	if (up->lstream)
		return;
	rx_free(&up->lrx);
	rx_init(&up->lrx, up, 0, DEPTH_LIST);
	rx_start_sse(&up->lrx, legacy_event);
	free(up->post_url);
	up->post_url = NULL;
	up->lstream = open_stream(up, 0, NULL, legacy_want_stream, legacy_data, legacy_done, up);
}

static void legacy_stop(struct upstream *up)
{
	http_free(up->lstream);
	up->lstream = NULL;
	if (up->lsend)
		loop_timer_cancel(up->loop, up->lsend);
	up->lsend = NULL;
	rx_free(&up->lrx);
	free(up->post_url);
	up->post_url = NULL;
}


/* --- public --- */

static const struct connector_ops mcp_ops;

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
	start_session(up);
}

static void mcp_send(struct connector *conn, const char *json, size_t n)
{
	struct upstream *up = UP(conn);

	if (up->state == CONN_READY || up->state == CONN_STARTING)
		post_message(up, json, n);
}

static void ignore_reply(struct connector *up, const char *msg, size_t n, const struct json *j,
			 const char *err, void *arg)
{
	(void)up; (void)msg; (void)n; (void)j; (void)arg;
	if (err)
		log_debug("logging/setLevel: %s", err);
}

static void send_log_level(struct upstream *up)
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
	send_log_level(up);
}

static void fail_later(void *arg)
{
	struct conn_req *r = arg;

	r->deadline = NULL;
	req_finish(r, NULL, 0, NULL, r->failure.data);
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
	build_message(r, method, params, params_len, 1);
	if (up->state == CONN_REAUTH && !up->closing && loop_now() >= up->reauth_probe) {
		/* Maybe the credential was updated at its source: look once, then at most every few seconds. */
		up->reauth_probe = loop_now() + REAUTH_PROBE_MS;
		r->waiting_cred = 1;
		need_cred(up, 1);
		return r;
	}
	if (up->state == CONN_REAUTH && !up->closing) {
		buf_printf(&r->failure, "connector '%s' needs a new credential: %s - %s", up->c->alias,
			   buf_str(&up->reason), buf_str(&up->hint));
		loop_timer_cancel(up->loop, r->deadline);
		r->deadline = loop_timer_add(up->loop, 0, fail_later, r);
		return r;
	}
	if (up->state == CONN_ERROR && !up->closing && !up->cred_failed) {
		/* Waiting for the next attempt: the server may be back (a laptop woke
		   up, a restart), so try now and let this call wait for it. */
		r->waiting = 1;
		reconnect_now(up);
		return r;
	}
	if (up->state == CONN_ERROR || up->state == CONN_DISABLED || up->closing) {
		/* Answer on the next turn of the loop, never inside the caller. */
		buf_printf(&r->failure, "connector '%s' is %s%s%s", up->c->alias,
			   up->state == CONN_DISABLED ? "disabled" : "unavailable",
			   up->state == CONN_ERROR ? ": " : "",
			   up->state == CONN_ERROR ? buf_str(&up->reason) : "");
		loop_timer_cancel(up->loop, r->deadline);
		r->deadline = loop_timer_add(up->loop, 0, fail_later, r);
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
		reconnect_now(up);
		return 1;
	}
	if (up->state != CONN_REAUTH || loop_now() < up->reauth_probe || up->cred_wait)
		return 0;
	up->reauth_probe = loop_now() + REAUTH_PROBE_MS;
	need_cred(up, 1);
	return 1;
}

static int up_busy(const struct upstream *up)
{
	return up->state == CONN_STARTING || (up->state == CONN_REAUTH && up->cred_wait);
}

static void mcp_cancel(struct connector *conn, struct conn_req *r, const char *reason)
{
	struct upstream *up = UP(conn);
	int was_sent = r->sent && !r->answered && r->id;

	r->cb = NULL;
	if (was_sent && up->state == CONN_READY) {
		struct buf n = BUF_INIT;

		buf_printf(&n, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
			   "\"params\":{\"requestId\":%lld,\"reason\":", r->id);
		json_escape_str(&n, reason ? reason : "cancelled");
		buf_puts(&n, "}}");
		post_message(up, n.data, n.len);
		buf_free(&n);
	}
	req_free(r);
}

static void on_delete_done(struct http *h, void *arg)
{
	struct upstream *up = arg;

	(void)h;
	http_free(up->del);
	up->del = NULL;
	up->state = CONN_CLOSED;
}

static void mcp_close(struct connector *conn, long timeout_ms)
{
	struct upstream *up = UP(conn);
	struct http *h;

	up->closing = 1;
	notif_stop(up);
	legacy_stop(up);
	if (up->retry)
		loop_timer_cancel(up->loop, up->retry);
	up->retry = NULL;
	while (up->reqs)
		req_free(up->reqs);
	if (!up->session_id || up->state == CONN_DISABLED) {
		up->state = up->state == CONN_DISABLED ? CONN_DISABLED : CONN_CLOSED;
		return;
	}
	h = connector_http(up, "DELETE", up->c->url, 1);
	http_callbacks(h, NULL, NULL, on_delete_done, up);
	up->del = h;
	if (http_start(h, timeout_ms, timeout_ms) != 0) {
		http_free(h);
		up->del = NULL;
		up->state = CONN_CLOSED;
	}
}

static int up_settling(const struct upstream *up)
{
	return up->state == CONN_STARTING && !up->settled_once;
}

static int up_closed(const struct upstream *up)
{
	return up->del == NULL;
}

static void mcp_destroy(struct connector *conn)
{
	struct upstream *up = UP(conn);

	while (up->reqs)
		req_free(up->reqs);
	http_free(up->del);
	notif_stop(up);
	legacy_stop(up);
	free_tools(up->tools, up->ntools);
	free_tools(up->newtools, up->nnewtools);
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
	out->settling = up_settling(up);
	out->busy = up_busy(up);
	out->closed = up_closed(up);
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
