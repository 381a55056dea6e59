/*
 * downstream.h - JSON-RPC 2.0 over stdio with the agent, and nothing else.
 *
 * Contract. Input: newline-delimited JSON-RPC on in_fd (a trailing CR is
 * accepted; lines of any size up to DOWN_MAX_LINE). Each line is parsed and
 * its envelope checked here (valid JSON, no repeated key anywhere, jsonrpc
 * "2.0", id a string or number, params an object or array, no batches);
 * what fails is answered here with the JSON-RPC error. A request or
 * notification goes to the handler as a struct down_msg; a response is
 * matched to the request mcpmux sent under that id (down_outreq_new), and a
 * response to anything else is dropped. What the methods mean is not known
 * here (see server.h and router.h).
 *
 * Output: every message is queued and written when out_fd is writable,
 * never blocking the loop; a big reply can be queued from the buffer it
 * arrived in (down_splice). When the agent stops reading and more than
 * 8 MiB wait, every connector transfer pauses (loop_hold_input) until it is
 * down to 1 MiB.
 *
 * Ids: the ids of requests mcpmux sends the agent are "mcpmux-" and 128
 * random bits: nothing that gets text in front of the agent can answer a
 * question it was not asked.
 *
 * Ownership. Owned by the server (server.h). It owns its input framer, its
 * output queue and its outgoing requests; struct down_msg and the json it
 * points to are borrowed for the duration of the handler call.
 */
#ifndef MCPMUX_DOWNSTREAM_H
#define MCPMUX_DOWNSTREAM_H

#include <stddef.h>

#include "buf.h"
#include "json.h"
#include "loop.h"

#define DOWN_MAX_LINE (256u << 20)

struct downstream;
struct down_outreq;

/* One request or notification from the agent. */
struct down_msg {
	const struct json *j;	/* the parse; token 0 is the message */
	const char *id;		/* the id's raw bytes (string or number), NULL for a notification */
	size_t idn;
	int method;		/* token of the method string */
	int params;		/* token of params, or -1 */
	const char *line;	/* the message as received (for down_redispatch) */
	size_t len;
	int final;		/* handed over again by down_redispatch: answer with what there is */
};

struct down_handler {
	/* A request or notification; answer requests with down_result / down_error / ... */
	void (*message)(void *arg, const struct down_msg *m);
	void *arg;
};

struct downstream *down_new(struct loop *loop, int in_fd, int out_fd,
			    const struct down_handler *h);
void down_free(struct downstream *d);

/* Reads and dispatches until stdin ends, down_stop() or a loop failure (status 1). */
int down_run(struct downstream *d);
void down_stop(struct downstream *d);
/* Writes what is queued, waiting at most timeout_ms for the agent to read it. */
void down_drain(struct downstream *d, long timeout_ms);

/* Dispatches line[0..len) again, as if just read, with final set; line stays the caller's
   and must stay valid and unchanged until this returns. */
void down_redispatch(struct downstream *d, const char *line, size_t len);

/* --- output: each call queues one whole message --- */
void down_result(struct downstream *d, const char *id, size_t idn, const char *result);
/* id NULL: "id":null. */
void down_error(struct downstream *d, const char *id, size_t idn, int code, const char *msg);
/* Any message: append it to the buffer down_begin() returns, then down_end(). */
struct buf *down_begin(struct downstream *d);
void down_end(struct downstream *d);
/*
 * msg[0..n) with msg[s..e) (an id) replaced by id[0..idn). own: NULL, or
 * the buffer msg lies in (taken, written from in place: no copy of a big
 * reply).
 */
void down_splice(struct downstream *d, const char *msg, size_t n, size_t s, size_t e,
		 const char *id, size_t idn, struct buf *own);

/* --- requests to the agent --- */
/* j, id_tok: the agent's response, borrowed for the call. */
typedef void (*down_answer_cb)(void *ctx, const struct json *j, int id_tok);
/* A new outgoing request and its id (NUL-terminated, valid until it is answered or freed). */
struct down_outreq *down_outreq_new(struct downstream *d, down_answer_cb cb, void *ctx);
const char *down_outreq_id(const struct down_outreq *o);
/* Forgets it: an answer that comes later is dropped. */
void down_outreq_free(struct downstream *d, struct down_outreq *o);
/* Withdraws it: notifications/cancelled with reason goes to the agent, then down_outreq_free(). */
void down_outreq_withdraw(struct downstream *d, struct down_outreq *o, const char *reason);

#endif
