/* downstream.c - JSON-RPC over stdio towards the agent; see include/downstream.h. */
#include "downstream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "lines.h"
#include "list.h"
#include "log.h"
#include "xalloc.h"

#define OUT_KEEP (1u << 20)	/* output buffer capacity kept between replies */
#define OUT_IOV 16		/* pieces per writev() */
#define OUT_HIGH (8u << 20)	/* output waiting for the agent: connectors pause above this */
#define OUT_LOW (1u << 20)	/* ...and go on below this */

/* A request mcpmux sent to the agent, waiting for its answer. */
struct down_outreq {
	struct down_outreq *prev, *next;
	char id[48];		/* "mcpmux-" and 128 random bits, which the agent echoes */
	down_answer_cb cb;
	void *ctx;
};

struct downstream {
	struct loop *loop;		/* not owned */
	struct down_handler h;
	int in_fd, out_fd;
	struct lines in;		/* stdin, framed */
	struct outseg *segs;		/* queued output before `out`, oldest first */
	struct outseg **segs_tail;
	struct buf out;			/* queued output, after `segs` */
	size_t out_off;			/* out[0..out_off) is already written */
	struct loop_defer *flush;	/* writes `out` at the start of the next turn */
	int out_watch;			/* POLLOUT is being watched */
	struct json j;			/* parse of the current line */
	struct down_outreq *outreqs;	/* our requests the agent has not answered */
	int stopping;
	int status;			/* exit status */
};

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
	struct outseg *g = xcalloc(1, sizeof(*g));

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

/* Output queued: it goes out at the start of the next turn, one write for a burst. */
static void end_queued(struct downstream *d)
{
	if (!d->flush && !d->out_watch)
		d->flush = loop_defer(d->loop, on_flush, d);
	else if (d->out_watch && !loop_input_held(d->loop))
		out_pressure(d);
}

/* Ends a queued message: one line. */
static void end_message(struct downstream *d)
{
	buf_putc(&d->out, '\n');
	end_queued(d);
}

void down_result(struct downstream *d, const char *id, size_t idn, const char *result)
{
	buf_puts(&d->out, "{\"jsonrpc\":\"2.0\",\"id\":");
	buf_add(&d->out, id, idn);
	buf_puts(&d->out, ",\"result\":");
	buf_puts(&d->out, result);
	buf_putc(&d->out, '}');
	end_message(d);
}

void down_error(struct downstream *d, const char *id, size_t idn, int code, const char *msg)
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

struct buf *down_begin(struct downstream *d)
{
	return &d->out;
}

void down_end(struct downstream *d)
{
	end_message(d);
}

void down_splice(struct downstream *d, const char *msg, size_t n, size_t s, size_t e,
		 const char *id, size_t idn, struct buf *own)
{
	if (own) {
		/* Big: written from the buffer it arrived in, around the id. */
		out_splice(d, own, s, e, id, idn);
		end_queued(d);
		return;
	}
	buf_reserve(&d->out, n + idn + 1);
	buf_add(&d->out, msg, s);
	buf_add(&d->out, id, idn);
	buf_add(&d->out, msg + e, n - e);
	end_message(d);
}

/* --- requests to the agent --- */

/*
 * Ids of requests to the agent cannot be guessed: a connector (or anything
 * else that gets text in front of the agent) must not be able to answer a
 * question it was not asked, such as one of mcpmux's own approvals.
 */
struct down_outreq *down_outreq_new(struct downstream *d, down_answer_cb cb, void *ctx)
{
	struct down_outreq *o = xcalloc(1, sizeof(*o));
	unsigned char rnd[16];

	randombytes_buf(rnd, sizeof(rnd));
	memcpy(o->id, "mcpmux-", 7);
	sodium_bin2hex(o->id + 7, sizeof(o->id) - 7, rnd, sizeof(rnd));
	o->cb = cb;
	o->ctx = ctx;
	DLIST_PUSH(d->outreqs, o);
	return o;
}

const char *down_outreq_id(const struct down_outreq *o)
{
	return o->id;
}

void down_outreq_free(struct downstream *d, struct down_outreq *o)
{
	DLIST_UNLINK(d->outreqs, o);
	free(o);
}

void down_outreq_withdraw(struct downstream *d, struct down_outreq *o, const char *reason)
{
	buf_printf(&d->out, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
		   "\"params\":{\"requestId\":\"%s\",\"reason\":", o->id);
	json_escape_str(&d->out, reason);
	buf_puts(&d->out, "}}");
	end_message(d);
	down_outreq_free(d, o);
}

/* The agent answered one of our requests: its callback, once. */
static void handle_response(struct downstream *d, const struct json *j, int id)
{
	struct down_outreq *o;
	down_answer_cb cb;
	void *ctx;

	for (o = d->outreqs; o; o = o->next)
		if (json_streq(j, id, o->id))
			break;
	if (!o)
		return;
	cb = o->cb;
	ctx = o->ctx;
	down_outreq_free(d, o);
	cb(ctx, j, id);
}

/* --- input --- */

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
		down_error(d, NULL, 0, -32600, m.data);
	} else if (j->err == JSON_ERR_KEY) {
		buf_printf(&m, "invalid request: the key %.*s holds a lone surrogate escape, which "
			   "JSON readers decode differently", (int)(j->err_len > 66 ? 66 : j->err_len),
			   line + j->err_at);
		down_error(d, NULL, 0, -32600, m.data);
	} else if (j->err == JSON_ERR_DEPTH) {
		buf_printf(&m, "invalid request: nested deeper than %d levels", JSON_MAX_DEPTH);
		down_error(d, NULL, 0, -32600, m.data);
	} else {
		down_error(d, NULL, 0, -32700, "parse error: the line is not valid JSON");
	}
	buf_free(&m);
}

/* A JSON-RPC id: a string, or a number (not true, false or null). */
static int id_ok(const struct json *j, int id)
{
	return json_type(j, id) == JSMN_STRING ||
	       (json_type(j, id) == JSMN_PRIMITIVE && !json_is_null(j, id) &&
		!json_is_true(j, id) && j->js[j->tok[id].start] != 'f');
}

static void handle_line(struct downstream *d, const char *line, size_t len, int final)
{
	struct json *j = &d->j;
	struct down_msg m = { j, NULL, 0, -1, -1, line, len, final };
	int id, params;
	size_t s, e;

	if (json_parse(j, line, len)) {
		refuse_line(d, j, line);
		return;
	}
	if (json_type(j, 0) == JSMN_ARRAY) {
		down_error(d, NULL, 0, -32600, "invalid request: batches are not supported");
		return;
	}
	id = json_get(j, 0, "id");
	m.method = json_get(j, 0, "method");
	params = json_get(j, 0, "params");
	if (id >= 0 && id_ok(j, id)) {
		json_span(j, id, &s, &e);
		m.id = j->js + s;
		m.idn = e - s;
	}
	if (json_type(j, 0) != JSMN_OBJECT || !json_streq(j, json_get(j, 0, "jsonrpc"), "2.0") ||
	    (id >= 0 && !m.id) || (params >= 0 && json_type(j, params) != JSMN_OBJECT &&
				   json_type(j, params) != JSMN_ARRAY)) {
		down_error(d, m.id, m.idn, -32600, "invalid request: not a JSON-RPC 2.0 message");
		return;
	}
	if (m.method < 0) {
		if (m.id && (json_get(j, 0, "result") >= 0 || json_get(j, 0, "error") >= 0))
			handle_response(d, j, id);
		else
			down_error(d, m.id, m.idn, -32600, "invalid request: no method");
		return;
	}
	if (json_type(j, m.method) != JSMN_STRING) {
		down_error(d, m.id, m.idn, -32600, "invalid request: method must be a string");
		return;
	}
	m.params = params;
	d->h.message(d->h.arg, &m);
}

void down_redispatch(struct downstream *d, const char *line, size_t len)
{
	handle_line(d, line, len, 1);
}

void down_stop(struct downstream *d)
{
	d->stopping = 1;
	loop_stop(d->loop);
}

static int take_line(void *arg, char *line, size_t len, int too_long)
{
	struct downstream *d = arg;

	if (too_long)
		down_error(d, NULL, 0, -32700, "parse error: the line is too long");
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
		down_stop(d);
		return;
	}
	lines_commit(&d->in, (size_t)n);
	lines_take(&d->in, take_line, d);
	json_release(&d->j);
}

struct downstream *down_new(struct loop *loop, int in_fd, int out_fd,
			    const struct down_handler *h)
{
	struct downstream *d = xcalloc(1, sizeof(*d));

	d->loop = loop;
	d->h = *h;
	d->segs_tail = &d->segs;
	d->in_fd = in_fd;
	d->out_fd = out_fd;
	json_init(&d->j);
	lines_init(&d->in, DOWN_MAX_LINE);
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

void down_drain(struct downstream *d, long timeout_ms)
{
	drain_output(d, loop_now() + timeout_ms);
}

int down_run(struct downstream *d)
{
	set_nonblock(d->out_fd);
	loop_io_add(d->loop, d->in_fd, POLLIN, on_stdin, d);
	if (loop_run(d->loop))
		d->status = 1;
	loop_io_del(d->loop, d->in_fd);
	if (d->out_watch) {
		loop_io_del(d->loop, d->out_fd);
		d->out_watch = 0;
	}
	return d->status;
}

void down_free(struct downstream *d)
{
	if (!d)
		return;
	while (d->outreqs)
		down_outreq_free(d, d->outreqs);
	loop_defer_cancel(d->loop, d->flush);
	lines_free(&d->in);
	segs_free(d);
	buf_free(&d->out);
	json_free(&d->j);
	free(d);
}
