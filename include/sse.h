/*
 * sse.h - an incremental parser for text/event-stream (WHATWG "server-sent
 * events"), fed bytes exactly as they arrive from the network.
 *
 * Events may be of any size and split anywhere, including inside a CRLF or a
 * multi-byte UTF-8 character. Lines end in "\r\n", "\n" or "\r". A leading
 * UTF-8 BOM is skipped. Fields: "event", "data" (several data lines are
 * joined with "\n"), "id" (ignored when it contains NUL), "retry" (digits
 * only); a line starting with ':' is a comment; "field" without a colon has
 * an empty value; one space after the colon is dropped. A blank line
 * dispatches the event; an event whose data is empty is not dispatched (but
 * its id still updates last_id). Unknown fields are ignored.
 *
 * The parser is owned by the transfer that feeds it; sse_free() releases its
 * buffers. Callbacks run synchronously inside sse_feed().
 */
#ifndef MCPMUX_SSE_H
#define MCPMUX_SSE_H

#include <stddef.h>

#include "buf.h"

struct sse_event {
	const char *type;	/* "message" unless an event: field said otherwise */
	const char *data;	/* the joined data lines, NUL-terminated */
	size_t data_len;
	const char *id;		/* last event id seen so far on this stream ("" if none) */
};

/* Return non-zero from the callback to stop parsing: sse_feed() then returns -1. */
typedef int (*sse_event_cb)(const struct sse_event *ev, void *arg);
/* After each data line joins the event being built (data: the lines so far,
   joined with "\n"). Non-zero stops parsing, as above. */
typedef int (*sse_data_cb)(const struct buf *data, void *arg);

struct sse_parser {
	sse_event_cb on_event;	/* called for each dispatched event */
	sse_data_cb on_data;	/* NULL, or called as an event's data grows */
	void *arg;		/* passed back untouched */
	struct buf line;	/* the current, incomplete line */
	struct buf data;	/* data lines of the event being built */
	struct buf type;	/* event type of the event being built */
	struct buf last_id;	/* the stream's last event id (persists across events) */
	long retry_ms;		/* last retry: value, -1 if none */
	int saw_cr;		/* previous chunk ended in '\r' (a following '\n' is part of it) */
	int bom_checked;	/* the first bytes were checked for a BOM */
	int has_data;		/* a data field was seen in this event */
	size_t max_event;	/* cap on line/data size in bytes; 0 = 256 MiB */
};

void sse_init(struct sse_parser *p, sse_event_cb cb, void *arg);
/* Returns 0, or -1 when the callback stopped parsing or an event exceeded max_event. */
int sse_feed(struct sse_parser *p, const char *bytes, size_t n);
void sse_free(struct sse_parser *p);

/* From inside on_event: moves the event's data buffer into `into` (freed
   first), without a copy; ev->data is not valid afterwards. */
void sse_take_data(struct sse_parser *p, struct buf *into);

#endif
