/* downstream.c - JSON-RPC over stdio towards the agent; see include/downstream.h. */
#include "downstream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "approval.h"
#include "audit.h"
#include "lines.h"
#include "log.h"
#include "policy.h"
#include "protocol.h"

#define CLOSE_TIMEOUT_MS 1000
#define LIST_CHANGED_DELAY_MS 20
#define OUT_KEEP (1u << 20)	/* output buffer capacity kept between replies */
#define OUT_HOLD_MIN (64u << 10) /* replies this big are written from their own buffer */
#define OUT_IOV 16		/* pieces per writev() */
#define OUT_HIGH (8u << 20)	/* output waiting for the agent: connectors pause above this */
#define OUT_LOW (1u << 20)	/* ...and go on below this */

/* A tools/call in flight upstream. */
struct dcall {
	struct downstream *d;
	struct dcall *prev, *next;
	char *id;		/* the agent's id, its bytes as sent (string or number) */
	size_t id_len;
	struct connector *up;	/* where it goes */
	struct conn_req *req;	/* the upstream request (owned by up), once sent */
	struct approval_req *areq; /* the question to a human, while it waits */
	struct buf params;	/* the upstream's params, sent once allowed */
	char *tool;		/* exposed name, for the audit */
	const char *label;	/* "read" / "write" */
	const char *decision;	/* auto / allowed / denied / timeout */
	const char *by;		/* policy / terminal / elicitation / tty */
	int64_t started;	/* loop_now() when the call arrived */
	unsigned char args_sha256[crypto_hash_sha256_BYTES];
};

/* A request mcpmux sent to the agent: its own approval question, or a
   connector's request passed on (then `up` and `orig_id` say where the answer goes). */
struct outreq {
	struct downstream *d;
	struct outreq *next;
	char id[48];		/* our id: "mcpmux-" and 128 random bits, which the agent echoes */
	void (*done)(void *ctx, int accepted); /* approval questions */
	void *ctx;
	struct connector *up;	/* forwarded requests: the connector that asked */
	char *orig_id;		/* ...and its id, as it sent it */
	size_t orig_id_len;
};

/* A request that waits for connectors still starting. */
struct deferred {
	struct downstream *d;
	struct deferred *prev, *next;
	struct connector *up;	/* the connector it waits for, or NULL: all that start */
	char *line;		/* the request as received */
	size_t len;
	struct loop_timer *timer; /* connect_timeout */
};

struct downstream {
	struct loop *loop;		/* not owned */
	struct mux *mux;		/* not owned */
	int in_fd, out_fd;
	struct lines in;		/* stdin, framed */
	struct outseg *segs;		/* queued output before `out`, oldest first */
	struct outseg **segs_tail;
	struct buf out;			/* queued output, after `segs` */
	size_t out_off;			/* out[0..out_off) is already written */
	struct loop_timer *flush;	/* writes `out` at the end of this turn */
	int out_watch;			/* POLLOUT is being watched */
	struct json j;			/* parse of the current line */
	struct dcall *calls;
	struct deferred *deferred;
	int listed;			/* a tools/list was answered */
	uint64_t listed_gen;		/* catalog generation the agent saw */
	struct loop_timer *changed;	/* pending notifications/tools/list_changed */
	struct approval *appr;		/* the approval broker (owned) */
	struct audit *audit;		/* the audit log (owned), NULL when off */
	int client_elicitation;		/* the agent declared the elicitation capability */
	int started;			/* the connectors were started */
	struct outreq *outreqs;		/* our requests the agent has not answered */
	int stopping;
	int status;			/* exit status */
};

/* Shorthands over connector_status(). */
static struct conn_status cs(const struct connector *c)
{
	struct conn_status st;

	connector_status(c, &st);
	return st;
}
static int cs_busy(const struct connector *c) { return cs(c).busy; }
static int cs_settling(const struct connector *c) { return cs(c).settling; }
static const char *cs_reason(const struct connector *c) { return cs(c).reason; }
static const char *cs_hint(const struct connector *c) { return cs(c).hint; }

static int sig_pipe[2] = { -1, -1 };

/* --- output --- */

static void write_out(struct downstream *d);

static void on_out_ready(int fd, short revents, void *arg)
{
	(void)fd;
	(void)revents;
	write_out(arg);
}

/*
 * A piece of output queued before `out`: bytes p[0..len) (p[0..off) already
 * written), in memory that `own` holds, or that a later piece owns (a big
 * reply is written in place from the buffer it arrived in, around its id).
 */
struct outseg {
	struct buf own;		/* freed once the piece is written; may be empty */
	const char *p;
	size_t len, off;
	struct outseg *next;
};

static int out_pending(const struct downstream *d)
{
	return d->segs || d->out_off < d->out.len;
}

static void segs_free(struct downstream *d)
{
	while (d->segs) {
		struct outseg *g = d->segs;

		d->segs = g->next;
		buf_free(&g->own);
		free(g);
	}
	d->segs_tail = &d->segs;
}

/* Queues p[0..len); takes *own (when not NULL) to free once written. */
static void seg_push(struct downstream *d, struct buf *own, const char *p, size_t len)
{
	struct outseg *g = calloc(1, sizeof(*g));

	if (!g)
		abort();
	if (own) {
		g->own = *own;
		*own = (struct buf)BUF_INIT;
	}
	g->p = p;
	g->len = len;
	*d->segs_tail = g;
	d->segs_tail = &g->next;
}

/*
 * Queues the message in *body (taken) with body[s..e) replaced by id, and a
 * newline, without copying the body. Whatever `out` held goes first.
 */
static void out_splice(struct downstream *d, struct buf *body, size_t s, size_t e,
		       const char *id, size_t idn)
{
	struct buf idb = BUF_INIT;
	const char *p = body->data;

	if (d->out_off < d->out.len) {
		struct buf old = d->out;

		d->out = (struct buf)BUF_INIT;
		seg_push(d, &old, old.data + d->out_off, old.len - d->out_off);
		d->out_off = 0;
	}
	buf_putc(body, '\n');
	p = body->data;		/* the newline may have moved it */
	seg_push(d, NULL, p, s);
	buf_add(&idb, id, idn);
	seg_push(d, &idb, idb.data, idb.len);
	seg_push(d, body, p + e, body->len - e);
}

/* Marks n more bytes written: the pieces first, then `out`. */
static void out_advance(struct downstream *d, size_t n)
{
	while (d->segs) {
		struct outseg *g = d->segs;
		size_t left = g->len - g->off;

		if (n < left) {
			g->off += n;
			return;
		}
		n -= left;
		d->segs = g->next;
		if (!d->segs)
			d->segs_tail = &d->segs;
		buf_free(&g->own);	/* a big reply's memory goes back now */
		free(g);
	}
	d->out_off += n;
}

/* Bytes queued for the agent and not written yet. */
static size_t out_bytes(const struct downstream *d)
{
	const struct outseg *g;
	size_t n = d->out.len - d->out_off;

	for (g = d->segs; g; g = g->next)
		n += g->len - g->off;
	return n;
}

/*
 * Back-pressure: an agent that stops reading must not make mcpmux buffer
 * without end. Above OUT_HIGH every connector transfer pauses (libcurl
 * keeps what it has, the servers see TCP flow control) until the agent has
 * read down to OUT_LOW.
 */
static void out_pressure(struct downstream *d)
{
	size_t n = out_bytes(d);

	if (!loop_input_held(d->loop) && n > OUT_HIGH) {
		log_debug("the agent is not reading: %zu bytes wait; connectors pause", n);
		loop_hold_input(d->loop, 1);
	} else if (loop_input_held(d->loop) && n < OUT_LOW) {
		log_debug("the agent reads again: connectors go on");
		loop_hold_input(d->loop, 0);
	}
}

static void write_out(struct downstream *d)
{
	while (out_pending(d)) {
		struct iovec iov[OUT_IOV];
		struct outseg *g;
		int k = 0;
		ssize_t w;

		for (g = d->segs; g && k < OUT_IOV - 1; g = g->next) {
			if (g->off == g->len)
				continue;	/* empty: out_advance drops it */
			iov[k].iov_base = (char *)g->p + g->off;
			iov[k].iov_len = g->len - g->off;
			k++;
		}
		if (!g && d->out_off < d->out.len) {
			iov[k].iov_base = d->out.data + d->out_off;
			iov[k].iov_len = d->out.len - d->out_off;
			k++;
		}
		w = k == 1 ? write(d->out_fd, iov[0].iov_base, iov[0].iov_len) : writev(d->out_fd, iov, k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w < 0) {
			/* The agent is gone: nothing more can be said to it. */
			segs_free(d);
			buf_reset(&d->out);
			d->out_off = 0;
			d->stopping = 1;
			loop_stop(d->loop);
			break;
		}
		out_advance(d, (size_t)w);
	}
	if (d->out_off == d->out.len) {
		d->out_off = 0;
		buf_reset(&d->out);
		/* A big reply does not keep its buffer for the rest of the session. */
		if (d->out.cap > OUT_KEEP)
			buf_free(&d->out);
	} else if (d->out_off > d->out.len / 2) {
		/* Moving the rest down only now and then keeps writing linear. */
		buf_consume(&d->out, d->out_off);
		d->out_off = 0;
	}
	out_pressure(d);
	if (out_pending(d) && !d->out_watch) {
		loop_io_add(d->loop, d->out_fd, POLLOUT, on_out_ready, d);
		d->out_watch = 1;
	} else if (!out_pending(d) && d->out_watch) {
		loop_io_del(d->loop, d->out_fd);
		d->out_watch = 0;
	}
}

static void on_flush(void *arg)
{
	struct downstream *d = arg;

	d->flush = NULL;
	write_out(d);
}

/* Output queued: it goes out at the end of the turn. */
static void end_queued(struct downstream *d)
{
	if (!d->flush && !d->out_watch)
		d->flush = loop_timer_add(d->loop, 0, on_flush, d);
	else if (d->out_watch && !loop_input_held(d->loop))
		out_pressure(d);
}

/* Ends a queued message: one line. */
static void end_message(struct downstream *d)
{
	buf_putc(&d->out, '\n');
	end_queued(d);
}

static void reply_result(struct downstream *d, const char *id, size_t idn, const char *result)
{
	buf_puts(&d->out, "{\"jsonrpc\":\"2.0\",\"id\":");
	buf_add(&d->out, id, idn);
	buf_puts(&d->out, ",\"result\":");
	buf_puts(&d->out, result);
	buf_putc(&d->out, '}');
	end_message(d);
}

static void reply_error(struct downstream *d, const char *id, size_t idn, int code,
			const char *msg)
{
	buf_puts(&d->out, "{\"jsonrpc\":\"2.0\",\"id\":");
	if (id)
		buf_add(&d->out, id, idn);
	else
		buf_puts(&d->out, "null");
	buf_printf(&d->out, ",\"error\":{\"code\":%d,\"message\":", code);
	json_escape_str(&d->out, msg);
	buf_puts(&d->out, "}}");
	end_message(d);
}

/* A tool result the model can read: failures while running a tool are not protocol errors. */
static void reply_tool_error(struct downstream *d, const char *id, size_t idn, const char *text)
{
	buf_puts(&d->out, "{\"jsonrpc\":\"2.0\",\"id\":");
	buf_add(&d->out, id, idn);
	buf_puts(&d->out, ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":");
	json_escape_str(&d->out, text);
	buf_puts(&d->out, "}],\"isError\":true}}");
	end_message(d);
}

/* --- list_changed --- */

static void on_list_changed(void *arg)
{
	struct downstream *d = arg;

	d->changed = NULL;
	if (mux_generation(d->mux) == d->listed_gen)
		return;
	buf_puts(&d->out, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}");
	end_message(d);
	/* The agent re-lists; until then further changes need no second notice. */
	d->listed_gen = mux_generation(d->mux);
}

static void redispatch(struct deferred *q);

static void on_mux_change(struct mux *m, void *arg)
{
	struct downstream *d = arg;
	struct deferred *q, *next;

	if (d->listed && mux_generation(m) != d->listed_gen && !d->changed)
		d->changed = loop_timer_add(d->loop, LIST_CHANGED_DELAY_MS, on_list_changed, d);
	/* Each waits for its own connector's attempt, or for all that start. */
	for (q = d->deferred; q; q = next) {
		next = q->next;
		if (q->up ? !cs_busy(q->up) : mux_settled(m))
			redispatch(q);
	}
}

/* notifications/message with the connector in `logger` ("alias" or "alias/logger"). */
static void forward_log(struct downstream *d, struct connector *up, const char *msg,
			const struct json *j)
{
	int params = json_get(j, 0, "params"), logger = json_get(j, params, "logger");
	const char *alias = connector_alias(up);
	struct buf name = BUF_INIT;
	size_t s, e;

	if (json_type(j, params) != JSMN_OBJECT)
		return;
	buf_puts(&name, alias);
	if (json_type(j, logger) == JSMN_STRING) {
		buf_putc(&name, '/');
		json_string(j, logger, &name);
		json_span(j, logger, &s, &e);
		buf_add(&d->out, msg, s);
		json_escape_str(&d->out, name.data);
		buf_add(&d->out, msg + e, j->len - e);
	} else {
		json_span(j, params, &s, &e);
		buf_add(&d->out, msg, s + 1);
		buf_puts(&d->out, "\"logger\":");
		json_escape_str(&d->out, name.data);
		if (json_size(j, params))
			buf_putc(&d->out, ',');
		buf_add(&d->out, msg + s + 1, j->len - s - 1);
	}
	end_message(d);
	buf_free(&name);
}

static void outreq_unlink(struct outreq *o);

/*
 * Ids of requests to the agent cannot be guessed: a connector (or anything
 * else that gets text in front of the agent) must not be able to answer a
 * question it was not asked, such as one of mcpmux's own approvals.
 */
static void outreq_new_id(struct outreq *o)
{
	unsigned char rnd[16];

	randombytes_buf(rnd, sizeof(rnd));
	memcpy(o->id, "mcpmux-", 7);
	sodium_bin2hex(o->id + 7, sizeof(o->id) - 7, rnd, sizeof(rnd));
}

/* A connector gave up on a request it had sent the agent: tell the agent, under our id. */
static void cancel_forwarded(struct downstream *d, struct connector *up, const struct json *j)
{
	int rid = json_get(j, json_get(j, 0, "params"), "requestId");
	struct outreq *o;
	size_t s, e;

	if (rid < 0)
		return;
	json_span(j, rid, &s, &e);
	for (o = d->outreqs; o; o = o->next)
		if (o->up == up && o->orig_id_len == e - s && !memcmp(o->orig_id, j->js + s, e - s))
			break;
	if (!o)
		return;
	buf_printf(&d->out, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
		   "\"params\":{\"requestId\":\"%s\",\"reason\":\"the connector cancelled it\"}}", o->id);
	end_message(d);
	outreq_unlink(o);
	free(o->orig_id);
	free(o);
}

static void on_mux_notify(struct mux *m, struct connector *up, const char *msg, size_t n,
			  const struct json *j, void *arg)
{
	struct downstream *d = arg;
	int method = json_get(j, 0, "method");

	(void)m;
	/* Progress tokens are the agent's own, passed upstream in _meta untouched. */
	if (json_streq(j, method, "notifications/progress")) {
		buf_add(&d->out, msg, n);
		end_message(d);
	} else if (json_streq(j, method, "notifications/message")) {
		forward_log(d, up, msg, j);
	} else if (json_streq(j, method, "notifications/cancelled")) {
		cancel_forwarded(d, up, j);
	} else {
		log_debug("connector '%s': notification not forwarded", connector_alias(up));
	}
}

/* A connector asks the agent something: pass it on under an id of ours. */
static void on_mux_request(struct mux *m, struct connector *up, const char *msg, size_t n,
			   const struct json *j, void *arg)
{
	struct downstream *d = arg;
	struct outreq *o = calloc(1, sizeof(*o));
	size_t s, e;

	(void)m;
	(void)n;
	if (!o)
		abort();
	o->d = d;
	o->up = up;
	outreq_new_id(o);
	json_span(j, json_get(j, 0, "id"), &s, &e);
	o->orig_id = malloc(e - s);
	if (!o->orig_id)
		abort();
	memcpy(o->orig_id, msg + s, e - s);
	o->orig_id_len = e - s;
	o->next = d->outreqs;
	d->outreqs = o;
	buf_add(&d->out, msg, s);
	buf_printf(&d->out, "\"%s\"", o->id);
	buf_add(&d->out, msg + e, j->len - e);
	end_message(d);
}

/* --- requests --- */

struct req {
	struct downstream *d;
	const struct json *j;
	const char *id;		/* raw id bytes, or NULL for a notification */
	size_t idn;
	int params;		/* token of params, or -1 */
	const char *line;	/* the whole request, for deferring */
	size_t len;
	int final;		/* deferred already: answer with what there is */
};

static void defer_request(struct req *r, struct connector *up);

/*
 * Connectors start once the agent has said what it can do: the capabilities
 * a connector may use through mcpmux (elicitation, sampling, roots) are the
 * agent's, declared upstream as the agent declared them.
 */
static void start_connectors(struct downstream *d, const struct json *j, int caps)
{
	static const char *const mirrored[] = { "elicitation", "sampling", "roots" };
	struct buf c = BUF_INIT;
	size_t i, s, e;
	int v, n = 0;

	if (d->started)
		return;
	d->started = 1;
	buf_putc(&c, '{');
	for (i = 0; j && i < sizeof(mirrored) / sizeof(mirrored[0]); i++) {
		v = json_get(j, caps, mirrored[i]);
		if (json_type(j, v) != JSMN_OBJECT)
			continue;
		json_span(j, v, &s, &e);
		buf_printf(&c, "%s\"%s\":", n++ ? "," : "", mirrored[i]);
		buf_add(&c, j->js + s, e - s);
	}
	buf_putc(&c, '}');
	mux_start(d->mux, c.data);
	buf_free(&c);
}

/* Who the agent is (for the approval terminal) and whether it can be asked. */
static void note_client(struct downstream *d, const struct json *j, int params)
{
	int info = json_get(j, params, "clientInfo");
	int caps = json_get(j, params, "capabilities");
	struct buf agent = BUF_INIT;

	d->client_elicitation = json_type(j, json_get(j, caps, "elicitation")) == JSMN_OBJECT;
	start_connectors(d, j, caps);
	if (json_string(j, json_get(j, info, "name"), &agent) || !agent.len) {
		buf_reset(&agent);
		buf_puts(&agent, "unknown agent");
	}
	if (json_type(j, json_get(j, info, "version")) == JSMN_STRING) {
		buf_putc(&agent, ' ');
		json_string(j, json_get(j, info, "version"), &agent);
	}
	approval_set_agent(d->appr, agent.data);
	buf_free(&agent);
}

/* --- requests to the agent (elicitation) --- */

static int elicit_available(void *arg)
{
	struct downstream *d = arg;

	return d->client_elicitation;
}

static void *elicit_start(void *arg, const char *message, void (*done)(void *ctx, int accepted),
			  void *ctx)
{
	struct downstream *d = arg;
	struct outreq *o = calloc(1, sizeof(*o));

	if (!o)
		abort();
	o->d = d;
	outreq_new_id(o);
	o->done = done;
	o->ctx = ctx;
	o->next = d->outreqs;
	d->outreqs = o;
	buf_printf(&d->out, "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":\"elicitation/create\","
		   "\"params\":{\"message\":", o->id);
	json_escape_str(&d->out, message);
	buf_puts(&d->out, ",\"requestedSchema\":{\"type\":\"object\",\"properties\":{\"approve\":"
		 "{\"type\":\"boolean\",\"title\":\"Allow this call\","
		 "\"description\":\"Check to let the tool run once.\"}},\"required\":[\"approve\"]}}}");
	end_message(d);
	return o;
}

static void outreq_unlink(struct outreq *o)
{
	struct outreq **pp;

	for (pp = &o->d->outreqs; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
}

static void elicit_cancel(void *arg, void *handle)
{
	struct downstream *d = arg;
	struct outreq *o = handle;

	buf_printf(&d->out, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
		   "\"params\":{\"requestId\":\"%s\",\"reason\":\"decided elsewhere\"}}", o->id);
	end_message(d);
	outreq_unlink(o);
	free(o);
}

/* The agent answered one of our requests. */
static void handle_response(struct downstream *d, const struct json *j, int id)
{
	struct outreq *o;
	int res = json_get(j, 0, "result"), content, accepted = -1;

	for (o = d->outreqs; o; o = o->next)
		if (json_streq(j, id, o->id))
			break;
	if (!o)
		return;
	outreq_unlink(o);
	if (o->up) {
		/* Splice: the agent's answer as it came, with the connector's own id. */
		struct buf out = BUF_INIT;
		size_t s, e;

		json_span(j, id, &s, &e);
		buf_add(&out, j->js, s);
		buf_add(&out, o->orig_id, o->orig_id_len);
		buf_add(&out, j->js + e, j->len - e);
		connector_send(o->up, out.data, out.len);
		buf_free(&out);
		free(o->orig_id);
		free(o);
		return;
	}
	if (res >= 0) {
		content = json_get(j, res, "content");
		accepted = json_streq(j, json_get(j, res, "action"), "accept") &&
			   json_is_true(j, json_get(j, content, "approve"));
	}
	o->done(o->ctx, accepted);
	free(o);
}

static void do_initialize(struct req *r)
{
	const struct json *j = r->j;
	int pv = json_get(j, r->params, "protocolVersion");
	const char *ver = mcp_versions[mcp_nversions - 1];
	struct buf res = BUF_INIT;
	size_t i;

	for (i = 0; i < mcp_nversions; i++)
		if (json_streq(j, pv, mcp_versions[i]))
			ver = mcp_versions[i];
	note_client(r->d, j, r->params);
	buf_printf(&res, "{\"protocolVersion\":\"%s\",\"capabilities\":{\"tools\":{\"listChanged\":true},"
		   "\"logging\":{}},"
		   "\"serverInfo\":{\"name\":\"mcpmux\",\"version\":\"%s\"}}", ver, MCPMUX_VERSION);
	reply_result(r->d, r->id, r->idn, res.data);
	buf_free(&res);
}

static void do_ping(struct req *r)
{
	reply_result(r->d, r->id, r->idn, "{}");
}

static void do_tools_list(struct req *r)
{
	struct downstream *d = r->d;

	if (!mux_settled(d->mux) && !r->final) {
		defer_request(r, NULL);
		return;
	}
	buf_puts(&d->out, "{\"jsonrpc\":\"2.0\",\"id\":");
	buf_add(&d->out, r->id, r->idn);
	buf_puts(&d->out, ",\"result\":{\"tools\":[");
	catalog_write_tools(mux_catalog(d->mux), &d->out);
	buf_puts(&d->out, "]}}");
	end_message(d);
	d->listed = 1;
	d->listed_gen = mux_generation(d->mux);
}

/* Ends a call's record: one audit line, whatever happened. */
static void dcall_audit(struct dcall *c, const char *outcome)
{
	struct audit_rec r;

	r.tool = c->tool;
	r.connector = connector_alias(c->up);
	r.label = c->label;
	r.decision = c->decision;
	r.decided_by = c->by;
	r.outcome = outcome;
	r.duration_ms = loop_now() - c->started;
	memcpy(r.args_sha256, c->args_sha256, sizeof(r.args_sha256));
	audit_write(c->d->audit, &r);
}

static void dcall_free(struct dcall *c)
{
	struct downstream *d = c->d;

	if (c->prev)
		c->prev->next = c->next;
	else
		d->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->areq)
		approval_cancel(d->appr, c->areq);
	free(c->id);
	free(c->tool);
	buf_free(&c->params);
	free(c);
}

static void on_call_reply(struct connector *up, const char *msg, size_t n,
			  const struct json *j, const char *err, void *arg)
{
	struct dcall *c = arg;
	struct downstream *d = c->d;
	struct buf body = BUF_INIT;
	size_t s, e;

	if (err) {
		reply_tool_error(d, c->id, c->id_len, err);
		dcall_audit(c, "error");
	} else {
		int res = json_get(j, 0, "result");

		dcall_audit(c, res < 0 || json_is_true(j, json_get(j, res, "isError")) ? "error" : "ok");
		/* Splice: the connector's reply as it came, with the agent's id. */
		json_span(j, json_get(j, 0, "id"), &s, &e);
		if (n >= OUT_HOLD_MIN && connector_take_reply(up, msg, &body) == 0) {
			/* Big: written from the buffer it arrived in, around the id. */
			out_splice(d, &body, s, e, c->id, c->id_len);
			end_queued(d);
		} else {
			buf_reserve(&d->out, n + c->id_len + 1);
			buf_add(&d->out, msg, s);
			buf_add(&d->out, c->id, c->id_len);
			buf_add(&d->out, msg + e, n - e);
			end_message(d);
		}
	}
	dcall_free(c);
}

static void send_call(struct dcall *c)
{
	c->req = connector_request(c->up, "tools/call", c->params.data, c->params.len, 0,
				  on_call_reply, c);
	buf_free(&c->params);
}

static void on_approval(enum approval_result res, const char *by, const char *text, void *arg)
{
	struct dcall *c = arg;

	c->areq = NULL;
	c->by = by;
	if (res == APPROVAL_ALLOWED) {
		c->decision = "allowed";
		send_call(c);
		return;
	}
	c->decision = res == APPROVAL_TIMEOUT ? "timeout" : "denied";
	reply_tool_error(c->d, c->id, c->id_len, text);
	dcall_audit(c, c->decision);
	dcall_free(c);
}

static void unavailable(struct req *r, struct connector *up)
{
	struct buf t = BUF_INIT;
	const char *hint = cs_hint(up);

	if (connector_state(up) == CONN_DISABLED)
		buf_printf(&t, "connector '%s' is disabled in the mcpmux config", connector_alias(up));
	else if (connector_state(up) == CONN_STARTING)
		buf_printf(&t, "connector '%s' is reconnecting after: %s; try again shortly",
			   connector_alias(up), cs_reason(up));
	else
		buf_printf(&t, "connector '%s' is unavailable: %s%s%s (run `mcpmux check` for details)",
			   connector_alias(up), cs_reason(up), *hint ? " - " : "", hint);
	reply_tool_error(r->d, r->id, r->idn, t.data);
	buf_free(&t);
}

static void do_tools_call(struct req *r)
{
	struct downstream *d = r->d;
	const struct json *j = r->j;
	int name = json_get(j, r->params, "name"), args = json_get(j, r->params, "arguments");
	const struct cat_entry *e;
	struct connector *up;
	struct approval_call call;
	struct dcall *c;
	struct buf want = BUF_INIT;
	const char *argbytes;
	size_t ps, pe, ns, ne, as, ae;

	if (json_type(j, r->params) != JSMN_OBJECT || json_string(j, name, &want) ||
	    (args >= 0 && json_type(j, args) != JSMN_OBJECT)) {
		reply_error(d, r->id, r->idn, -32602,
			    "tools/call needs params {name: string, arguments?: object}");
		buf_free(&want);
		return;
	}
	/* The name as it reads: "odd__ech\u006f" is odd__echo. */
	e = want.len && memchr(want.data, '\0', want.len) ? NULL :
	    catalog_find(mux_catalog(d->mux), buf_str(&want), want.len);
	if (!e) {
		up = mux_connector_for(d->mux, buf_str(&want), want.len);
		if (up && !r->final && (cs_settling(up) || connector_wake(up))) {
			defer_request(r, up);
		} else if (up && connector_state(up) != CONN_READY) {
			unavailable(r, up);
		} else {
			struct buf m = BUF_INIT;

			buf_puts(&m, "unknown tool: ");
			json_escape(&m, want.data, want.len);
			reply_error(d, r->id, r->idn, -32602, m.data);
			buf_free(&m);
		}
		buf_free(&want);
		return;
	}
	buf_free(&want);
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->d = d;
	c->id = malloc(r->idn);
	if (!c->id)
		abort();
	memcpy(c->id, r->id, r->idn);
	c->id_len = r->idn;
	c->up = e->conn;
	c->tool = strdup(e->exposed);
	if (!c->tool)
		abort();
	c->started = loop_now();
	c->label = policy_label_name(policy_label(e->conn->cfg, e->tool));
	/* Splice: the agent's params as sent, with the upstream's own name exactly
	   as the connector wrote it (its JSON string, escapes and all). */
	json_span(j, r->params, &ps, &pe);
	json_span(j, name, &ns, &ne);
	buf_add(&c->params, j->js + ps, ns - ps);
	buf_add(&c->params, e->tool->json + e->tool->name_start,
		e->tool->name_end - e->tool->name_start);
	buf_add(&c->params, j->js + ne, pe - ne);
	if (args >= 0) {
		json_span(j, args, &as, &ae);
	} else {
		as = 0;
		ae = 2;
	}
	argbytes = args >= 0 ? j->js + as : "{}";
	if (d->audit)
		crypto_hash_sha256(c->args_sha256, (const unsigned char *)argbytes, ae - as);
	c->next = d->calls;
	if (d->calls)
		d->calls->prev = c;
	d->calls = c;
	if (!policy_asks(e->conn->cfg, e->tool)) {
		c->decision = "auto";
		c->by = "policy";
		send_call(c);
		return;
	}
	call.connector = connector_alias(e->conn);
	call.tool = e->exposed;
	call.upstream_tool = e->tool->name;
	call.label = c->label;
	call.args = argbytes;
	call.args_len = ae - as;
	c->areq = approval_ask(d->appr, &call, on_approval, c);
}

static void do_cancelled(struct req *r)
{
	struct downstream *d = r->d;
	const struct json *j = r->j;
	int rid = json_get(j, r->params, "requestId");
	struct dcall *c;
	size_t s, e;

	if (rid < 0 || (json_type(j, rid) != JSMN_STRING && json_type(j, rid) != JSMN_PRIMITIVE))
		return;
	json_span(j, rid, &s, &e);
	for (c = d->calls; c; c = c->next) {
		if (c->id_len == e - s && memcmp(c->id, j->js + s, e - s) == 0) {
			/* The agent expects no answer; the connector is told and late replies dropped. */
			if (c->req)
				connector_cancel(c->up, c->req, "cancelled by the client");
			if (!c->decision)
				c->decision = "denied";
			if (!c->by)
				c->by = "policy";
			dcall_audit(c, "cancelled");
			dcall_free(c);
			return;
		}
	}
}

static void do_nothing(struct req *r)
{
	(void)r;
}

static void do_set_level(struct req *r)
{
	struct buf level = BUF_INIT;
	size_t i;

	if (json_string(r->j, json_get(r->j, r->params, "level"), &level) || !level.len) {
		reply_error(r->d, r->id, r->idn, -32602, "logging/setLevel needs params {level: string}");
		buf_free(&level);
		return;
	}
	for (i = 0; i < mux_count(r->d->mux); i++)
		connector_set_log_level(mux_connector(r->d->mux, i), level.data);
	reply_result(r->d, r->id, r->idn, "{}");
	buf_free(&level);
}

/* The agent's roots changed: every connector that may ask for them hears it. */
static void do_roots_changed(struct req *r)
{
	static const char msg[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/roots/list_changed\"}";
	size_t i;

	for (i = 0; i < mux_count(r->d->mux); i++)
		connector_send(mux_connector(r->d->mux, i), msg, sizeof(msg) - 1);
}

static const struct method {
	const char *name;
	void (*fn)(struct req *r);
	int is_request;		/* needs an id */
} methods[] = {
	{ "initialize", do_initialize, 1 },
	{ "ping", do_ping, 1 },
	{ "tools/list", do_tools_list, 1 },
	{ "tools/call", do_tools_call, 1 },
	{ "notifications/initialized", do_nothing, 0 },
	{ "notifications/cancelled", do_cancelled, 0 },
	{ "logging/setLevel", do_set_level, 1 },
	{ "notifications/roots/list_changed", do_roots_changed, 0 },
};

static void handle_line(struct downstream *d, const char *line, size_t len, int final);

static void deferred_free(struct deferred *q)
{
	struct downstream *d = q->d;

	if (q->prev)
		q->prev->next = q->next;
	else
		d->deferred = q->next;
	if (q->next)
		q->next->prev = q->prev;
	if (q->timer)
		loop_timer_cancel(d->loop, q->timer);
	free(q->line);
	free(q);
}

static void redispatch(struct deferred *q)
{
	struct downstream *d = q->d;
	char *line = q->line;
	size_t len = q->len;

	q->line = NULL;
	deferred_free(q);
	handle_line(d, line, len, 1);
	free(line);
}

static void on_deferred_timeout(void *arg)
{
	struct deferred *q = arg;

	q->timer = NULL;
	redispatch(q);
}

static void defer_request(struct req *r, struct connector *up)
{
	struct downstream *d = r->d;
	struct deferred *q = calloc(1, sizeof(*q));

	if (!q)
		abort();
	q->d = d;
	q->up = up;
	q->line = malloc(r->len + 1);
	if (!q->line)
		abort();
	memcpy(q->line, r->line, r->len);
	q->line[r->len] = '\0';
	q->len = r->len;
	q->timer = loop_timer_add(d->loop, mux_config(d->mux)->connect_timeout_ms, on_deferred_timeout, q);
	q->next = d->deferred;
	if (d->deferred)
		d->deferred->prev = q;
	d->deferred = q;
}

/*
 * A line json_parse() refused. A repeated key is an invalid request, not a
 * parse error: the text is JSON, but which value counts depends on who reads
 * it, and what mcpmux checks must be what the connector gets.
 */
static void refuse_line(struct downstream *d, const struct json *j, const char *line)
{
	struct buf m = BUF_INIT;

	if (j->err == JSON_ERR_DUPKEY) {
		buf_printf(&m, "invalid request: the key %.*s appears twice in one object; "
			   "every key must be unique", (int)(j->err_len > 66 ? 66 : j->err_len),
			   line + j->err_at);
		reply_error(d, NULL, 0, -32600, m.data);
	} else if (j->err == JSON_ERR_KEY) {
		buf_printf(&m, "invalid request: the key %.*s holds a lone surrogate escape, which "
			   "JSON readers decode differently", (int)(j->err_len > 66 ? 66 : j->err_len),
			   line + j->err_at);
		reply_error(d, NULL, 0, -32600, m.data);
	} else if (j->err == JSON_ERR_DEPTH) {
		buf_printf(&m, "invalid request: nested deeper than %d levels", JSON_MAX_DEPTH);
		reply_error(d, NULL, 0, -32600, m.data);
	} else {
		reply_error(d, NULL, 0, -32700, "parse error: the line is not valid JSON");
	}
	buf_free(&m);
}

static void handle_line(struct downstream *d, const char *line, size_t len, int final)
{
	struct json *j = &d->j;
	struct req r = { d, j, NULL, 0, -1, line, len, final };
	int id, method, params;
	size_t s, e, i;

	if (json_parse(j, line, len)) {
		refuse_line(d, j, line);
		return;
	}
	if (json_type(j, 0) == JSMN_ARRAY) {
		reply_error(d, NULL, 0, -32600, "invalid request: batches are not supported");
		return;
	}
	id = json_get(j, 0, "id");
	method = json_get(j, 0, "method");
	params = json_get(j, 0, "params");
	if (id >= 0 && (json_type(j, id) == JSMN_STRING ||
			(json_type(j, id) == JSMN_PRIMITIVE && !json_is_null(j, id) &&
			 !json_is_true(j, id) && j->js[j->tok[id].start] != 'f'))) {
		json_span(j, id, &s, &e);
		r.id = j->js + s;
		r.idn = e - s;
	}
	if (json_type(j, 0) != JSMN_OBJECT || !json_streq(j, json_get(j, 0, "jsonrpc"), "2.0") ||
	    (id >= 0 && !r.id) || (params >= 0 && json_type(j, params) != JSMN_OBJECT &&
				   json_type(j, params) != JSMN_ARRAY)) {
		reply_error(d, r.id, r.idn, -32600, "invalid request: not a JSON-RPC 2.0 message");
		return;
	}
	if (method < 0) {
		if (r.id && (json_get(j, 0, "result") >= 0 || json_get(j, 0, "error") >= 0))
			handle_response(d, j, id);
		else
			reply_error(d, r.id, r.idn, -32600, "invalid request: no method");
		return;
	}
	if (json_type(j, method) != JSMN_STRING) {
		reply_error(d, r.id, r.idn, -32600, "invalid request: method must be a string");
		return;
	}
	r.params = params;
	if (!d->started && !json_streq(j, method, "initialize"))
		start_connectors(d, NULL, -1);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!json_streq(j, method, methods[i].name))
			continue;
		if (methods[i].is_request && !r.id)
			return;	/* a request sent as a notification gets no answer */
		methods[i].fn(&r);
		return;
	}
	if (r.id) {
		struct buf m = BUF_INIT;

		buf_puts(&m, "method not found: ");
		json_string(j, method, &m);
		reply_error(d, r.id, r.idn, -32601, m.data);
		buf_free(&m);
	}
}

/* --- input --- */

static void begin_stop(struct downstream *d)
{
	d->stopping = 1;
	loop_stop(d->loop);
}

static int take_line(void *arg, char *line, size_t len, int too_long)
{
	struct downstream *d = arg;

	if (too_long)
		reply_error(d, NULL, 0, -32700, "parse error: the line is too long");
	else if (len)
		handle_line(d, line, len, 0);
	return d->stopping;
}

static void on_stdin(int fd, short revents, void *arg)
{
	struct downstream *d = arg;
	ssize_t n;

	(void)revents;
	n = read(fd, lines_space(&d->in, 65536), 65536);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		log_debug("stdin closed");
		begin_stop(d);
		return;
	}
	lines_commit(&d->in, (size_t)n);
	lines_take(&d->in, take_line, d);
	json_release(&d->j);
}

static void on_signal(int fd, short revents, void *arg)
{
	char c[16];

	(void)revents;
	while (read(fd, c, sizeof(c)) > 0)
		;
	begin_stop(arg);
}

static void signal_handler(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(sig_pipe[1], &c, 1) < 0)
		(void)0;
	errno = saved;
}

static void setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return;
	sa.sa_handler = signal_handler;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

struct downstream *downstream_new(struct loop *loop, struct mux *m, int in_fd, int out_fd,
				  struct buf *err)
{
	struct downstream *d = calloc(1, sizeof(*d));
	struct approval_elicit_ops ops = { elicit_available, elicit_start, elicit_cancel, NULL };

	if (!d)
		abort();
	ops.arg = d;
	d->loop = loop;
	d->segs_tail = &d->segs;
	d->audit = audit_open(mux_config(m)->audit_log, err);
	if (mux_config(m)->audit_log && !d->audit) {
		free(d);
		return NULL;
	}
	d->appr = approval_new(loop, mux_config(m), &ops, err);
	if (!d->appr) {
		audit_close(d->audit);
		free(d);
		return NULL;
	}
	d->loop = loop;
	d->mux = m;
	d->in_fd = in_fd;
	d->out_fd = out_fd;
	json_init(&d->j);
	lines_init(&d->in, DOWN_MAX_LINE);
	{
		struct mux_listener l = { on_mux_change, on_mux_notify, on_mux_request, d };

		mux_listen(m, &l);
	}
	return d;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Writes what is queued, waiting at most until `end`. */
static void drain_output(struct downstream *d, int64_t end)
{
	struct pollfd p = { d->out_fd, POLLOUT, 0 };
	int64_t now;

	write_out(d);
	while (out_pending(d) && (now = loop_now()) < end) {
		if (poll(&p, 1, (int)(end - now)) <= 0)
			break;
		write_out(d);
	}
}

int downstream_run(struct downstream *d)
{
	int64_t end;

	setup_signals();
	set_nonblock(d->out_fd);
	loop_io_add(d->loop, d->in_fd, POLLIN, on_stdin, d);
	if (sig_pipe[0] >= 0)
		loop_io_add(d->loop, sig_pipe[0], POLLIN, on_signal, d);
	if (loop_run(d->loop))
		d->status = 1;
	/* Stop: abandon pending work, end the sessions, say what is queued. */
	end = loop_now() + CLOSE_TIMEOUT_MS + 500;
	loop_io_del(d->loop, d->in_fd);
	if (sig_pipe[0] >= 0)
		loop_io_del(d->loop, sig_pipe[0]);
	if (d->out_watch) {
		loop_io_del(d->loop, d->out_fd);
		d->out_watch = 0;
	}
	/* Ending the sessions needs their answers, whoever is not reading. */
	loop_hold_input(d->loop, 0);
	mux_close(d->mux, CLOSE_TIMEOUT_MS);
	while (d->calls) {
		if (!d->calls->decision) {
			d->calls->decision = "denied";
			d->calls->by = "policy";
		}
		dcall_audit(d->calls, "cancelled");
		dcall_free(d->calls);
	}
	drain_output(d, end);
	return d->status;
}

void downstream_free(struct downstream *d)
{
	if (!d)
		return;
	while (d->calls)
		dcall_free(d->calls);
	while (d->deferred)
		deferred_free(d->deferred);
	while (d->outreqs) {
		struct outreq *o = d->outreqs;

		d->outreqs = o->next;
		free(o->orig_id);
		free(o);
	}
	approval_free(d->appr);
	audit_close(d->audit);
	if (d->flush)
		loop_timer_cancel(d->loop, d->flush);
	if (d->changed)
		loop_timer_cancel(d->loop, d->changed);
	lines_free(&d->in);
	segs_free(d);
	buf_free(&d->out);
	json_free(&d->j);
	free(d);
}
