/* conn/mcp/notify.c - the GET stream: messages the server sends on its own; see mcp.h. */
#include "mcp.h"

#include <stdlib.h>

#include "log.h"

#define NOTIF_RETRY_MIN_MS	1000
#define NOTIF_RETRY_MAX_MS	30000

static void notif_done(struct http *h, void *arg);

static const struct stream_kind notif_kind = { STREAM_EVENTS, NULL, notif_done };

static void notif_reopen(void *arg)
{
	struct upstream *up = arg;

	up->notif_retry = NULL;
	notif_open(up);
}

/* Reopen: after the server's retry: hint, and back off while it keeps failing. */
static void schedule_reopen(struct upstream *up, CURLcode result)
{
	struct sse_parser *p = &up->notif.parser;
	long wait;

	/* A stream that broke reopens at once the first time; one that keeps
	   breaking waits longer each time. */
	if (result != CURLE_OK && !up->notif_backoff_ms)
		p->retry_ms = p->retry_ms >= 0 ? p->retry_ms : 100;
	wait = p->retry_ms >= 0 ? p->retry_ms : NOTIF_RETRY_MIN_MS;
	if (up->notif_backoff_ms > wait)
		wait = up->notif_backoff_ms;
	up->notif_backoff_ms = wait * 2 > NOTIF_RETRY_MAX_MS ? NOTIF_RETRY_MAX_MS : wait * 2;
	up->notif_retry = loop_timer_add(up->loop, wait, notif_reopen, up);
}

static void notif_done(struct http *h, void *arg)
{
	struct upstream *up = arg;
	CURLcode result = http_result(h);	/* h is up->notif.http, freed below */
	long status = http_status(h);

	/* A stream that got through is healthy: the next reopen waits only `retry`. */
	if (up->notif.data_seen)
		up->notif_backoff_ms = 0;
	stream_close(&up->notif);
	/* What arrived before the end is handled first (and may change the state). */
	stream_drain(&up->notif);
	if (status == 404 && up->session_id && up->state == CONN_READY && !up->closing) {
		/* The session is gone (the server restarted): start a new one now rather
		   than at the next call, so its notifications are not lost meanwhile. */
		session_renew(up);
		return;
	}
	if (status == 405 || status == 404 || status == 400) {
		/* No stream offered (405), or no session to attach it to. */
		up->notif_none = status == 405;
		log_debug("connector '%s': no notification stream (HTTP %ld)", up->c->alias, status);
		return;
	}
	if (result == CURLE_COULDNT_CONNECT && up->state == CONN_READY && !up->closing) {
		session_down(up, CONN_ERROR, "connection refused", "is the server running at that url?");
		return;
	}
	if (up->closing || up->state != CONN_READY)
		return;
	schedule_reopen(up, result);
}

void notif_open(struct upstream *up)
{
	if (up->notif.http || up->notif_none || up->closing || !up->session_id)
		return;
	if (!up->notif.up)
		stream_init(&up->notif, up, &notif_kind, 0, DEPTH_SHALLOW, up);
	/* The stream lives as long as the session. */
	stream_get(&up->notif, 1);
}

void notif_stop(struct upstream *up)
{
	/* A new session starts a new stream: no Last-Event-ID from the old one. */
	stream_free(&up->notif);
	loop_timer_cancel(up->loop, up->notif_retry);
	up->notif_retry = NULL;
	up->notif_none = 0;
	up->notif_backoff_ms = 0;
}
