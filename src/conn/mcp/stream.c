/* conn/mcp/stream.c - an HTTP response read as the connector's messages; see mcp.h. */
#include "mcp.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define RESUME_DEFAULT_MS 1000

static size_t max_message(const struct upstream *up)
{
	return up->c->max_message ? up->c->max_message : up->cfg->max_message;
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

static void msg_free(struct up_msg *m)
{
	buf_free(&m->text);
	json_free(&m->j);
	free(m);
}

static int sse_data(const struct buf *data, void *arg);

/* The stream turned out to be an event stream: its parser, kept across resumptions. */
static void start_sse(struct stream *s)
{
	s->sse = 1;
	if (s->parser.on_event)
		return;
	sse_init(&s->parser, s->kind->on_event ? s->kind->on_event : stream_event, s);
	s->parser.on_data = sse_data;
	s->parser.max_event = s->max;
}

void stream_init(struct stream *s, struct upstream *up, const struct stream_kind *kind,
		 long long own_id, int depth, void *arg)
{
	memset(s, 0, sizeof(*s));
	s->up = up;
	s->kind = kind;
	s->arg = arg;
	s->own_id = own_id;
	s->depth = depth;
	s->max = max_message(up);
	s->tail = &s->head;
	json_init(&s->j);
	if (kind->mode == STREAM_EVENTS)
		start_sse(s);
}

void stream_free(struct stream *s)
{
	struct up_msg *m;

	if (!s->up)
		return;
	http_free(s->http);
	loop_defer_cancel(s->up->loop, s->drain);
	if (s->resume)
		loop_timer_cancel(s->up->loop, s->resume);
	while ((m = s->head)) {
		s->head = m->next;
		msg_free(m);
	}
	sse_free(&s->parser);
	buf_free(&s->body);
	json_free(&s->j);
	json_scan_free(s->scan);
	buf_free(&s->why);
	memset(s, 0, sizeof(*s));
}

/* --- checking messages as they arrive --- */

void stream_next_message(struct stream *s)
{
	if (s->scan)
		json_scan_reset(s->scan, s->depth);
	s->refused = 0;
}

static void refuse(struct stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void refuse(struct stream *s, const char *fmt, ...)
{
	struct upstream *up = s->up;
	va_list ap;

	s->refused = 1;
	buf_reset(&s->why);
	va_start(ap, fmt);
	buf_vprintf(&s->why, fmt, ap);
	va_end(ap);
	/* The request this stream answers learns why too; anyone else only from the
	   log, once for a refusal that repeats (a server that always sends it). */
	if (strcmp(s->why.data, buf_str(&up->refusal_logged))) {
		log_warn("connector '%s': %s", up->c->alias, s->why.data);
		buf_reset(&up->refusal_logged);
		buf_puts(&up->refusal_logged, s->why.data);
	}
}

static void refuse_too_big(struct stream *s)
{
	refuse(s, "a message larger than %zu MiB was refused (max_message)", s->max >> 20);
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
static void refuse_json(struct stream *s, const char *text, size_t n)
{
	const struct json *j = &s->j;
	struct buf key = BUF_INIT;

	if (j->err == JSON_ERR_DUPKEY) {
		quote_key(text + j->err_at, j->err_len, &key);
		refuse(s, "a message with a repeated key (%s) was refused: it could mean different "
		       "things to different readers", key.data);
	} else if (j->err == JSON_ERR_KEY) {
		quote_key(text + j->err_at, j->err_len, &key);
		refuse(s, "a message with a key that holds a lone surrogate (%s) was refused: "
		       "readers decode it differently", key.data);
	} else if (j->err == JSON_ERR_DEPTH) {
		refuse(s, "a message nested deeper than %d levels was refused", JSON_MAX_DEPTH);
	} else {
		refuse(s, "a message that is not valid JSON was refused (at byte %zu of %zu)",
		       j->err_at, n);
	}
	buf_free(&key);
}

static void on_drain(void *arg);

static void queue(struct stream *s, struct up_msg *m)
{
	*s->tail = m;
	s->tail = &m->next;
	if (!s->drain)
		s->drain = loop_defer(s->up->loop, on_drain, s);
}

/* A whole message arrived in *text (taken): checked and queued, or refused. */
static void complete(struct stream *s, struct buf *text)
{
	struct up_msg *m = xcalloc(1, sizeof(*m));

	if (!s->refused) {
		if (!s->scan)
			s->scan = json_scan_new(&s->j, s->depth);
		if (json_scan_end(s->scan, buf_str(text), text->len))
			refuse_json(s, buf_str(text), text->len);
	}
	if (s->refused) {
		buf_free(text);
		m->refused = 1;
		buf_puts(&m->text, buf_str(&s->why));
	} else {
		m->text = *text;
		*text = (struct buf)BUF_INIT;
		/* Valid JSON holds CR and LF only as white space: the agent gets one line. */
		one_line_all(m->text.data, m->text.len);
		m->j = s->j;
		json_init(&s->j);
		m->j.js = m->text.data;
		m->depth = s->depth;
	}
	stream_next_message(s);
	queue(s, m);
}

/* The bytes so far of the message being received. -1: nothing sensible can follow. */
static int progress(struct stream *s, const char *text, size_t n)
{
	if (s->refused)
		return 0;
	if (n > s->max) {
		refuse_too_big(s);
		return -1;
	}
	if (!s->scan)
		s->scan = json_scan_new(&s->j, s->depth);
	if (json_scan_feed(s->scan, text, n))
		refuse_json(s, text, n);
	return 0;
}

static int sse_data(const struct buf *data, void *arg)
{
	return progress(arg, buf_str(data), data->len);
}

int stream_event(const struct sse_event *ev, void *arg)
{
	struct stream *s = arg;
	struct buf text = BUF_INIT;

	if (strcmp(ev->type, "message") != 0) {
		stream_next_message(s);
		return 0;
	}
	sse_take_data(&s->parser, &text);
	complete(s, &text);
	return 0;
}

/* Bytes of the stream as they arrive: 0, or -1 to end the transfer. */
static int feed(struct stream *s, const char *data, size_t n)
{
	if (s->sse) {
		if (sse_feed(&s->parser, data, n) == 0)
			return 0;
		if (!s->refused)
			refuse_too_big(s);
		return -1;
	}
	/* One body, one message: once it cannot be used, the rest is not wanted. */
	if (s->refused)
		return -1;
	buf_add(&s->body, data, n);
	if (progress(s, s->body.data, s->body.len) || s->refused)
		return -1;
	return 0;
}

void stream_end_body(struct stream *s)
{
	struct buf body = s->body;

	s->body = (struct buf)BUF_INIT;
	complete(s, &body);
}

/*
 * Hands the queued messages over, in order, until the stream's own request
 * is no longer pending. The queue is detached first, and nothing of s is
 * used after the first message: handling one may free the request that
 * embeds s.
 */
void stream_drain(struct stream *s)
{
	struct upstream *up = s->up;
	long long own = s->own_id;
	struct up_msg *list = s->head, *m;
	int done = 0;

	loop_defer_cancel(up->loop, s->drain);
	s->drain = NULL;
	s->head = NULL;
	s->tail = &s->head;
	while ((m = list)) {
		list = m->next;
		if (!done)
			done = dispatch_message(up, own, m);
		msg_free(m);
	}
}

static void on_drain(void *arg)
{
	struct stream *s = arg;

	s->drain = NULL;
	stream_drain(s);
}

/* --- the transfer --- */

static int on_want(struct http *h, void *arg)
{
	struct stream *s = arg;

	if (http_status(h) != 200 || s->kind->mode == STREAM_NONE)
		return 0;
	if (strcmp(http_content_type(h), "text/event-stream") == 0) {
		start_sse(s);
		return 1;
	}
	return s->kind->mode == STREAM_REPLY;
}

static int on_data(struct http *h, const char *data, size_t n, void *arg)
{
	struct stream *s = arg;

	(void)h;
	s->data_seen = 1;
	/* Once answered, the rest of the stream is drained and ignored. */
	if (s->discard)
		return 0;
	return feed(s, data, n) ? 1 : 0;
}

static void on_done(struct http *h, void *arg)
{
	struct stream *s = arg;

	s->kind->done(h, s->arg);
}

struct http *up_http(struct upstream *up, const char *method, const char *url, int session)
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
	auth_add(up, h);
	return h;
}

int stream_start(struct stream *s, struct http *h, long timeout_ms)
{
	s->http = h;
	s->data_seen = 0;
	http_callbacks(h, on_want, on_data, on_done, s);
	return http_start(h, timeout_ms, s->up->cfg->connect_timeout_ms);
}

int stream_get(struct stream *s, int session)
{
	struct http *h = up_http(s->up, "GET", s->up->c->url, session);

	http_header(h, "Accept", "text/event-stream");
	if (s->parser.last_id.len)
		http_header(h, "Last-Event-ID", s->parser.last_id.data);
	if (stream_start(s, h, 0) != 0) {
		http_free(h);
		s->http = NULL;
		return -1;
	}
	return 0;
}

void stream_close(struct stream *s)
{
	http_free(s->http);
	s->http = NULL;
}

void stream_why(const struct stream *s, const struct http *h, const char *ended,
		const char *not_messages, struct buf *out)
{
	int ok = http_result(h) == CURLE_OK && !http_too_big(h);

	if (s->refused || (http_streaming(h) && http_result(h) == CURLE_WRITE_ERROR && s->why.len))
		buf_puts(out, buf_str(&s->why));
	else if (ok && http_status(h) == 200 && http_streaming(h) && s->sse)
		buf_puts(out, ended);
	else if (ok && http_status(h) == 200)
		buf_puts(out, not_messages);
	else
		http_describe_error(h, out);
}

/* --- resumption (Last-Event-ID) --- */

int stream_resumable(const struct stream *s)
{
	return s->sse && s->parser.last_id.len;
}

static void on_resume(void *arg)
{
	struct stream *s = arg;

	s->resume = NULL;
	/* Not started: the owner's deadline ends it. */
	if (stream_get(s, 1) != 0)
		log_error("connector '%s': cannot start a transfer", s->up->c->alias);
}

void stream_resume(struct stream *s)
{
	long wait = s->parser.retry_ms >= 0 ? s->parser.retry_ms : RESUME_DEFAULT_MS;

	stream_close(s);
	log_debug("connector '%s': resuming a reply stream in %ld ms", s->up->c->alias, wait);
	s->resume = loop_timer_add(s->up->loop, wait, on_resume, s);
}
