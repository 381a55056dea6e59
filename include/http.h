/*
 * http.h - one HTTP exchange on the loop (a libcurl easy handle).
 *
 * Contract. A struct http is opaque: it is owned by the module that created
 * it (http_new), which must call http_free() after on_done, or http_abort()
 * to stop it early (no callback then). Everything is set up between
 * http_new() and http_start(): headers, body, callbacks and the set_*
 * options; the response is read through the accessors, which are valid
 * from the moment the headers are known (want, on_data) until http_free().
 *
 * The response body is either streamed to on_data as it arrives (want, when
 * set, decides per response once the headers are in, e.g. for SSE) or
 * collected, capped at max_body (HTTP_MAX_BODY by default) and read with
 * http_response() in on_done. Request header strings are zeroed when freed,
 * because one of them may carry a credential. While the loop holds input
 * (loop_hold_input), a transfer that receives data is paused, its data kept
 * by libcurl until the loop lets it go on. Every callback runs on the loop,
 * never inside the call that set it up.
 */
#ifndef MCPMUX_HTTP_H
#define MCPMUX_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "buf.h"
#include "loop.h"

#define HTTP_MAX_BODY	(256u << 20)

struct http;

/* Once the headers are known: non-zero streams the body to on_data instead of collecting it. */
typedef int (*http_want_cb)(struct http *h, void *arg);
/* Return non-zero to abort the transfer. Called after the headers are known. */
typedef int (*http_data_cb)(struct http *h, const char *data, size_t n, void *arg);
/* The exchange ended (result, status and body are final). */
typedef void (*http_done_cb)(struct http *h, void *arg);

/* --- setting up: the creator, before http_start() --- */

/* Creates a request; nothing is sent until http_start(). */
struct http *http_new(struct loop *loop, const char *method, const char *url);
void http_header(struct http *h, const char *name, const char *value);
void http_header_line(struct http *h, const char *line);
void http_body(struct http *h, const char *data, size_t n);
/* want and on_data may be NULL (the body is then collected); arg is passed back untouched. */
void http_callbacks(struct http *h, http_want_cb want, http_data_cb on_data,
		    http_done_cb on_done, void *arg);
/* The cap on a collected body; 0 = HTTP_MAX_BODY. */
void http_set_max_body(struct http *h, size_t max);
/* The bodies may hold secrets: wipe them when freed (and size the response buffer once). */
void http_set_sensitive(struct http *h);
/* A CA bundle to verify the server with, instead of the system's. */
void http_set_ca_file(struct http *h, const char *path);
/* Never through a proxy ($http_proxy and the like are ignored). */
void http_set_no_proxy(struct http *h);

/* timeout_ms 0 = none (for long-lived streams); connect timeout always applies. */
int http_start(struct http *h, long timeout_ms, long connect_timeout_ms);
void http_abort(struct http *h);
void http_free(struct http *h);

/* --- the response: anyone holding h, from want/on_data on --- */

long http_status(const struct http *h);			/* HTTP status, 0 until known */
const char *http_content_type(const struct http *h);	/* media type, lower case, no parameters */
const char *http_session_id(const struct http *h);	/* Mcp-Session-Id, or NULL */
/* An Mcp-Session-Id was sent, empty or with bytes outside visible ASCII (and not kept). */
int http_bad_session_id(const struct http *h);
const char *http_www_auth(const struct http *h);	/* WWW-Authenticate, or NULL */
int http_streaming(const struct http *h);		/* the body went to on_data */
int http_too_big(const struct http *h);			/* the collected body passed max_body */
const struct buf *http_response(const struct http *h);	/* the collected body */
CURLcode http_result(const struct http *h);		/* the transfer's result, in on_done */
int http_running(const struct http *h);			/* started and not yet done */

/*
 * One response header line as libcurl hands it over (p[0..n), "Name: value"
 * with its CRLF, or a status line, which starts a new response): keeps the
 * ones mcpmux acts on (session id, WWW-Authenticate). Exposed for the fuzzer.
 */
void http_header_in(struct http *h, const char *p, size_t n);

/* A short description of a failed exchange ("connection refused", "HTTP 500"). */
void http_describe_error(const struct http *h, struct buf *out);

#endif
