/*
 * conn/mcp/mcp.h - the inside of the MCP-over-HTTP connector; private to src/conn/mcp/.
 *
 * Contract. One struct upstream is one connector of kind "mcp": one session
 * over Streamable HTTP, or over the legacy HTTP+SSE transport (2024-11-05).
 * The rest of mcpmux sees only its first member, struct connector
 * (include/connector.h); nothing outside this directory includes this
 * header. The files split it by concern, and each writes only the fields
 * its part of struct upstream names:
 *
 *   mcp.c      the ops table and the public entry points (connector_*)
 *   request.c  the life of a request: its deadline, sending, retrying, its
 *              answer; routing each message from the connector by id
 *   stream.c   struct stream, the one way an HTTP response becomes messages
 *              (a JSON body or an event stream, capped, checked as it
 *              arrives, handed over from the loop), and its resumption
 *   session.c  initialize, notifications/initialized, tools/list and the
 *              tool list; failure, reconnecting with backoff, DELETE on close
 *   notify.c   the GET stream of the server's own messages
 *   legacy.c   the HTTP+SSE transport: its GET stream and endpoint event
 *   auth.c     the credential: its header, fetching it, 401 and reauth
 *
 * Every function runs on the loop. A function that may free a request says
 * so; a caller holding a struct conn_req * across such a call looks it up
 * again by its id instead of trusting the pointer.
 */
#ifndef MCPMUX_CONN_MCP_H
#define MCPMUX_CONN_MCP_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "buf.h"
#include "config.h"
#include "connector.h"
#include "http.h"
#include "json.h"
#include "loop.h"
#include "sse.h"

struct secret;
struct creds_wait;

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

enum req_kind {
	REQ_INIT,	/* initialize */
	REQ_INITIALIZED, /* notifications/initialized */
	REQ_LIST,	/* tools/list, one page */
	REQ_USER,	/* a request made through the request op (connector_request) */
	REQ_POST,	/* a fire-and-forget message (notification, reply to the server) */
	REQ_DELETE	/* ending the session */
};

/* One message from the connector, checked and tokenized as it arrived (stream.c). */
struct up_msg {
	struct up_msg *next;
	struct buf text;	/* the message, on one line (owned) */
	struct json j;		/* its tokens; j.js is text.data */
	int depth;		/* how deep j is tokenized */
	int refused;		/* no message: one was refused, text says why */
};

/* --- stream.c: struct stream --- */

/* What a stream makes of a response. Anything but a 200 is never read as messages. */
enum stream_mode {
	STREAM_NONE,	/* nothing: the body is collected by http.c, for nobody */
	STREAM_REPLY,	/* one JSON body, or an event stream (a POST's reply, its resumption) */
	STREAM_EVENTS	/* an event stream only (the GET and legacy streams) */
};

/* How a stream reads its response, and who hears that it ended: one per owner, static. */
struct stream_kind {
	enum stream_mode mode;
	sse_event_cb on_event;	/* NULL: stream_event() (each "message" event is a message) */
	http_done_cb done;	/* the transfer ended: (h, the arg of stream_init()) */
};

/*
 * A byte stream of the connector's messages: an event stream (a POST's
 * reply, the GET stream, the legacy stream) or one JSON body, with the
 * transfer that carries it. Each message is checked and tokenized while its
 * bytes arrive (json_scan), so that its last byte costs no more than its
 * first, and is refused as soon as it passes the size cap or cannot be
 * valid. Complete messages wait in a queue for a 0 ms timer: they arrive
 * inside curl's write callback, where the transfer must not be freed; they
 * go to dispatch_message(). Owned by whoever embeds it (a request, or the
 * connector for its GET and legacy streams). Only stream.c writes its
 * fields, but for `discard`, which its owner sets, and the GET stream's
 * parser.retry_ms, which notify.c lowers after a broken stream.
 */
struct stream {
	struct upstream *up;		/* the connector, or NULL before stream_init() */
	const struct stream_kind *kind;
	void *arg;			/* for kind->done */
	struct http *http;		/* the transfer in flight or just ended, or NULL */
	long long own_id;		/* the request whose reply this is, or 0 */
	int discard;			/* the owner has its answer: the rest is read and dropped */
	int data_seen;			/* the current transfer delivered bytes */
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
	struct loop_defer *drain;	/* will hand them over, next turn */
	struct loop_timer *resume;	/* will ask for the rest of the stream (stream_resume) */
};

/* --- request.c: struct conn_req --- */

/* A request or message to the connector. Created and freed by request.c (req_new,
   req_free); its waiting flags are also set by whoever makes it wait or go on
   (session.c, auth.c, legacy.c). */
struct conn_req {
	struct upstream *up;	/* owner */
	struct conn_req *prev, *next; /* in up->reqs */
	enum req_kind kind;
	long long id;		/* JSON-RPC id sent upstream; 0 for messages without one */
	struct buf body;	/* the JSON-RPC message, kept for a retry */
	struct stream reply;	/* its exchange and its reply: one JSON body or an event stream */
	struct loop_timer *deadline;
	long timeout_ms;
	int waiting;		/* queued until the session is ready */
	int sent;		/* the message reached the wire at least once */
	int answered;		/* the reply callback ran */
	int retried;		/* already retried after a session expiry */
	int waiting_cred;	/* queued until the credential is fetched */
	int resumes;		/* GETs with Last-Event-ID made to resume the reply */
	int retried_401;	/* already retried with a fresh credential */
	conn_reply_cb cb;
	void *arg;
	struct buf failure;	/* error to report on the next turn */
	struct loop_defer *fail_soon;	/* ...which reports it (req_fail_later) */
};

/* The connector. Which file writes which field is said per group. */
struct upstream {
	struct connector base;		/* first: what the mux sees (set by mcp.c) */
	/* mcp.c: at creation (read-only afterwards), but for client_caps and log_level,
	   which its entry points replace */
	struct loop *loop;		/* not owned */
	const struct config *cfg;	/* not owned */
	const struct connector_cfg *c;	/* not owned */
	struct creds *creds;		/* the credential cache (not owned) */
	char *client_caps;		/* capabilities declared upstream (the agent's, mirrored) */
	char *log_level;		/* the agent's logging/setLevel, applied to this connector */
	/* request.c */
	long long next_id;
	struct conn_req *reqs;		/* every request and message in flight or waiting */
	struct buf *delivering;		/* the message a reply callback is reading, or NULL
					   (mcp_take_reply() takes it) */
	/* stream.c */
	struct buf refusal_logged;	/* the last refusal logged: a repeat is not logged again */
	/* session.c */
	enum conn_state state;
	struct buf reason;		/* why ERROR, for the user */
	struct buf hint;		/* what to do about it */
	char *session_id;		/* Mcp-Session-Id, or NULL */
	char proto[16];			/* negotiated protocol version */
	int server_logging;		/* the server declared the logging capability */
	struct conn_tool *tools, *newtools; /* current list; the one being listed */
	size_t ntools, nnewtools;
	int pages;
	size_t skipped_bad, skipped_names, skipped_cap; /* tools left out of this listing */
	unsigned char list_hash[crypto_generichash_BYTES]; /* of the current list */
	crypto_generichash_state hashing; /* over the list being built */
	uint64_t generation;
	int64_t started_at, latency;
	int relist;			/* 0 idle, 1 re-listing, 2 re-listing and asked again */
	struct loop_timer *retry;	/* the next reconnect attempt */
	long backoff_ms;		/* wait before the attempt after that */
	int settled_once;		/* the first start ended (ready or failed) */
	struct buf logged;		/* the last failure logged: a repeat is not logged again */
	int closing;
	struct http *del;		/* the DELETE in flight */
	/* auth.c */
	struct creds_wait *cred_wait;	/* the fetch this connector waits for */
	struct secret *rejected;	/* the credential the connector refused (401), or NULL */
	int64_t reauth_probe;		/* reauth_required: when a call may fetch again */
	int cred_failed;		/* the last credential fetch failed */
	/* notify.c */
	struct stream notif;		/* GET stream for the server's own messages (its
					   parser's last id persists across reopens) */
	struct loop_timer *notif_retry;	/* reopens the stream */
	long notif_backoff_ms;		/* wait before the next reopen after a failure */
	int notif_none;			/* the server has no such stream (405) */
	/* legacy.c */
	int legacy;			/* speaks the 2024-11-05 HTTP+SSE transport */
	char *post_url;			/* legacy: where messages go (the endpoint event) */
	struct stream lstream;		/* legacy: the GET stream every reply comes on */
	struct loop_defer *lsend;	/* sends what waited for the endpoint */
};

#define UP(c)	((struct upstream *)(c))
#define CUP(c)	((const struct upstream *)(c))

/* --- mcp.c: for the other files --- */

long up_timeout_ms(const struct upstream *up);	/* the connector's call_timeout */
/* Applies the agent's logging level once READY, when the server logs (session.c). */
void up_send_log_level(struct upstream *up);

/* --- stream.c: for the owners of streams (request.c, notify.c, legacy.c) --- */

/* Resets s for a new response; EVENTS starts its event-stream parser at once. */
void stream_init(struct stream *s, struct upstream *up, const struct stream_kind *kind,
		 long long own_id, int depth, void *arg);
/* Releases everything, the transfer and the timers too; stream_init() makes it usable again. */
void stream_free(struct stream *s);
/* A request to the connector with what every request carries: the configured headers
   and the credential, and once a session exists (session = 1) its version and id. */
struct http *up_http(struct upstream *up, const char *method, const char *url, int session);
/* Starts h as s's transfer (its callbacks are s's). Returns http_start()'s result. */
int stream_start(struct stream *s, struct http *h, long timeout_ms);
/* A GET event stream on the connector's url, after s's last event id if any, with no
   overall timeout. -1 (nothing left to free) when it could not start. */
int stream_get(struct stream *s, int session);
/* Frees the transfer; what was received stays (the parser's last id, queued messages). */
void stream_close(struct stream *s);
/* A JSON body ended: its message is queued (or refused, with why). */
void stream_end_body(struct stream *s);
/* Hands the queued messages to dispatch_message() now. May free the request that embeds s. */
void stream_drain(struct stream *s);
/* The default on_event: a "message" event is one JSON-RPC message, others are not ours. */
int stream_event(const struct sse_event *ev, void *arg);
/* From an on_event that consumed the event itself: the next message starts from nothing. */
void stream_next_message(struct stream *s);
/* Why the transfer h of s ended without what its owner waited for: the refusal, `ended`
   (an event stream ended), `not_messages` (a 200 that was not one), or the error. */
void stream_why(const struct stream *s, const struct http *h, const char *ended,
		const char *not_messages, struct buf *out);
/* An event stream whose events carried an id: it can be resumed. */
int stream_resumable(const struct stream *s);
/* Frees the transfer, waits the server's retry: time, then asks for the rest. */
void stream_resume(struct stream *s);

/* --- request.c: for every file --- */

/* A new request, in up->reqs, with its deadline running when timeout_ms > 0. */
struct conn_req *req_new(struct upstream *up, enum req_kind kind, long timeout_ms);
void req_free(struct conn_req *r);
/* Writes r's JSON-RPC message; with_id gives it the next id. */
void req_message(struct conn_req *r, const char *method, const char *params, size_t plen,
		 int with_id);
/* Sends r now, or marks it waiting (for the session, the endpoint, the credential). */
void req_send(struct conn_req *r);
/* A fire-and-forget message (a notification, an answer to the server). */
void req_post(struct upstream *up, const char *json, size_t n);
/* The connector answered r (msg) or it failed (err): by kind, then r is freed (or drains). */
void req_finish(struct conn_req *r, const char *msg, size_t n, const struct json *j,
		const char *err);
/* Fails r with r->failure on the next turn of the loop, never inside the caller. */
void req_fail_later(struct conn_req *r);
/* Abandons r (the connector is told when it was sent); no callback; frees r. */
void req_cancel(struct conn_req *r, const char *reason);
/* The request with this id that still waits for its response, or NULL. */
struct conn_req *req_pending(struct upstream *up, long long id);
/* One message from the connector, on any stream; own_id is the request whose reply
   stream carried it. Returns 1 once that one no longer waits. May free requests. */
int dispatch_message(struct upstream *up, long long own_id, struct up_msg *m);
/* What the user can do about a failed exchange. */
const char *failure_hint(const struct http *h);

/* --- session.c: for every file --- */

/* A new session: initialize, then initialized and tools/list. Frees the session's requests. */
void session_start(struct upstream *up);
/* Ends the session in st (ERROR or REAUTH): its requests freed, waiting calls failed,
   tools gone on ERROR, a reconnect scheduled. */
void session_down(struct upstream *up, enum conn_state st, const char *reason, const char *hint);
void session_failed(struct upstream *up, const char *reason, const char *hint); /* → ERROR */
/* The session is gone (a 404 for its id): forgets it and starts a new one, unless
   one is starting already. Requests marked waiting go out once it is ready. */
void session_renew(struct upstream *up);
/* A call waits in ERROR: an attempt now instead of at the end of the backoff. */
void session_reconnect_now(struct upstream *up);
/* The answers to initialize and to one page of tools/list (from req_finish; free r). */
void session_init_reply(struct conn_req *r, const struct json *j);
void session_list_reply(struct conn_req *r, const struct json *j);
/* notifications/tools/list_changed: lists again (once the current listing ends). */
void session_relist(struct upstream *up);
/* Abandons every request and ends the session (DELETE within timeout_ms). */
void session_close(struct upstream *up, long timeout_ms);
void tools_free(struct conn_tool *t, size_t n);

/* --- notify.c --- */

void notif_open(struct upstream *up);	/* once READY (session.c) */
void notif_stop(struct upstream *up);	/* the session ends (session.c, mcp.c) */

/* --- legacy.c --- */

void legacy_open(struct upstream *up);	/* the GET stream, waiting for its endpoint */
void legacy_stop(struct upstream *up);
/* From request.c, a POST of r ended (ok: a transfer without error): 1 when the legacy
   transport takes it from here (initialize refused: HTTP+SSE is tried; a POST accepted:
   the reply comes on the GET stream). */
int legacy_post_done(struct conn_req *r, struct http *h, int ok);

/* --- auth.c --- */

void auth_add(struct upstream *up, struct http *h);	/* the credential header, if cached */
/* Starts fetching the credential (force: bypass the cache), unless a fetch is on its way. */
void auth_fetch(struct upstream *up, int force);
/* 401 on r: fetch once more and retry once; the second time, reauth (may free r). */
void auth_retry_401(struct conn_req *r);
/* A request that was retried with a fresh credential got through. */
void auth_accepted(struct conn_req *r);
/* A call in REAUTH: 1 when handled (waits for a fresh look, or fails on the next turn). */
int auth_reauth_call(struct upstream *up, struct conn_req *r);
/* The connector is in REAUTH and a call wakes it: 1 when a fetch started. */
int auth_wake(struct upstream *up);
/* "connector 'X' needs a new credential: reason - hint", for the caller. */
void auth_refused_msg(const struct upstream *up, struct buf *out);

#endif
