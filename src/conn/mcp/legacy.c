/* conn/mcp/legacy.c - the legacy HTTP+SSE transport (2024-11-05); see mcp.h. */
#include "mcp.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static int legacy_event(const struct sse_event *ev, void *arg);
static void legacy_done(struct http *h, void *arg);

static const struct stream_kind legacy_kind = { STREAM_EVENTS, legacy_event, legacy_done };

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
	struct stream *s = arg;
	struct upstream *up = s->up;

	if (strcmp(ev->type, "endpoint") != 0)
		return stream_event(ev, arg);
	stream_next_message(s);
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
		up->lsend = loop_defer(up->loop, legacy_send_waiting, up);
	return 0;
}

static void legacy_done(struct http *h, void *arg)
{
	struct upstream *up = arg;
	struct buf why = BUF_INIT;
	const char *hint;

	stream_why(&up->lstream, h, "the HTTP+SSE event stream closed",
		   "neither Streamable HTTP nor HTTP+SSE: the GET is not an event stream", &why);
	hint = failure_hint(h);	/* before h (up->lstream.http) is freed */
	stream_close(&up->lstream);
	stream_drain(&up->lstream);
	if (!up->closing)
		session_down(up, CONN_ERROR, why.data, hint);
	buf_free(&why);
}

void legacy_open(struct upstream *up)
{
	if (up->lstream.http)
		return;
	stream_free(&up->lstream);
	stream_init(&up->lstream, up, &legacy_kind, 0, DEPTH_LIST, up);
	free(up->post_url);
	up->post_url = NULL;
	stream_get(&up->lstream, 0);
}

void legacy_stop(struct upstream *up)
{
	stream_free(&up->lstream);
	loop_defer_cancel(up->loop, up->lsend);
	up->lsend = NULL;
	free(up->post_url);
	up->post_url = NULL;
}

int legacy_post_done(struct conn_req *r, struct http *h, int ok)
{
	struct upstream *up = r->up;
	long status = http_status(h);

	if (!ok)
		return 0;
	if (r->kind == REQ_INIT && !up->legacy && (status == 400 || status == 404 || status == 405)) {
		/* No Streamable HTTP here: try the legacy HTTP+SSE transport (2024-11-05). */
		log_debug("connector '%s': POST initialize got HTTP %ld, trying HTTP+SSE",
			  up->c->alias, status);
		up->legacy = 1;
		stream_close(&r->reply);
		r->waiting = 1;
		legacy_open(up);
		return 1;
	}
	if (up->legacy && status >= 200 && status < 300) {
		/* Legacy: the POST is only accepted; the reply comes on the GET stream. */
		stream_close(&r->reply);
		return 1;
	}
	return 0;
}
