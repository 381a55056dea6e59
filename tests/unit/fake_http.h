/*
 * fake_http.h - include/http.h without a network, for unit tests (fake_http.c).
 *
 * Contract. Linked instead of src/http.c (FAKES_X in the Makefile). Every
 * exchange the code under test creates is recorded as a struct fake_req,
 * oldest first: method, url, request headers and body. Once started it
 * waits for the test to answer it: fake_reply() for a whole response, or
 * fake_open(), fake_chunk()... and fake_end() for a stream, or fake_fail()
 * for a transfer that never got a response. What the test says is queued
 * and delivered through the real loop, one step per 0 ms timer, the way
 * src/http.c delivers curl's callbacks: want once the headers are in, then
 * on_data (or the collected body, capped at max_body), then on_done. When
 * on_data refuses bytes, the rest is dropped and the transfer ends with
 * CURLE_WRITE_ERROR, as with curl. The records belong to the fake; they
 * outlive their exchanges (h is NULL once the code freed it) until
 * fake_http_reset().
 */
#ifndef MCPMUX_FAKE_HTTP_H
#define MCPMUX_FAKE_HTTP_H

#include "buf.h"
#include "http.h"

struct fake_req {
	struct fake_req *next;
	char *method;
	char *url;
	struct buf headers;	/* request header lines, each ended by '\n' */
	struct buf body;	/* the request body */
	long timeout_ms;	/* as given to http_start() */
	struct http *h;		/* the live exchange, NULL once freed */
	int started;		/* http_start() was called */
	int answered;		/* the test answered it (fake_reply, fake_open, fake_fail) */
	int done;		/* on_done was delivered */
	int aborted;		/* freed or aborted before on_done */
};

/* Forgets every record (the exchanges must be freed already). */
void fake_http_reset(void);
/* Every record, oldest first. */
struct fake_req *fake_http_list(void);
/* The oldest started, live, unanswered record with this method whose body holds
   body_has (NULL: any), or NULL. */
struct fake_req *fake_find(const char *method, const char *body_has);
/* The value of request header `name` (case-insensitive), or NULL; valid until the next call. */
const char *fake_header(const struct fake_req *r, const char *name);

/* A whole response: status, content type (NULL: none), extra header lines
   ("Name: value\n" each, or NULL) and the body. */
void fake_reply(struct fake_req *r, long status, const char *ctype, const char *headers,
		const char *body);
/* The status and headers of a response whose body follows in chunks. */
void fake_open(struct fake_req *r, long status, const char *ctype, const char *headers);
void fake_chunk(struct fake_req *r, const char *data);
void fake_end(struct fake_req *r, CURLcode result);
/* No response at all: the transfer fails with result (e.g. CURLE_COULDNT_CONNECT). */
void fake_fail(struct fake_req *r, CURLcode result);

#endif
