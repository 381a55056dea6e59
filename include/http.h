/*
 * http.h - one HTTP exchange on the loop (a libcurl easy handle).
 *
 * The response body is either streamed to on_data as it arrives (the caller
 * decides per response, e.g. SSE) or collected in `body`, capped at
 * HTTP_MAX_BODY. A struct http is owned by the module that started it; it
 * must call http_free() after on_done, or http_abort() to stop it early
 * (no callback then). Request header strings are zeroed when freed, because
 * one of them may carry a credential. While the loop holds input
 * (loop_hold_input), a transfer that receives data is paused, its data kept
 * by libcurl until the loop lets it go on.
 */
#ifndef MCPMUX_HTTP_H
#define MCPMUX_HTTP_H

#include <curl/curl.h>

#include "buf.h"
#include "loop.h"

#define HTTP_MAX_BODY	(256u << 20)

struct http;

/* Return non-zero to abort the transfer. Called after the headers are known. */
typedef int (*http_data_cb)(struct http *h, const char *data, size_t n, void *arg);
typedef void (*http_done_cb)(struct http *h, void *arg);

struct http {
	struct loop *loop;	/* the loop it runs on (not owned) */
	CURL *easy;		/* the transfer */
	struct curl_slist *hdrs; /* request headers, zeroed on free */
	struct buf reqbody;	/* request body */
	long status;		/* HTTP status, 0 until known */
	char ctype[64];		/* response media type, lower case, no parameters */
	char *session_id;	/* Mcp-Session-Id response header, or NULL */
	int bad_session_id;	/* ...it was sent, empty or with bytes outside visible ASCII */
	char *www_auth;		/* WWW-Authenticate response header, or NULL */
	struct buf body;	/* collected body (when not streamed) */
	int streaming;		/* body goes to on_data instead of `body` */
	int headers_done;	/* the first body byte (or the end) was seen */
	int too_big;		/* body exceeded max_body */
	size_t max_body;	/* cap on a collected body; 0 = HTTP_MAX_BODY */
	CURLcode result;	/* transfer result, valid in on_done */
	char errbuf[CURL_ERROR_SIZE]; /* curl's message for result */
	int (*want_stream)(struct http *h, void *arg); /* decides streaming once headers are in */
	http_data_cb on_data;
	http_done_cb on_done;
	void *arg;		/* passed back untouched */
	int running;		/* added to the loop and not yet done */
	int sensitive;		/* bodies may hold secrets: wipe them when freed */
};

/* Creates a request; nothing is sent until http_start(). */
struct http *http_new(struct loop *loop, const char *method, const char *url);
void http_header(struct http *h, const char *name, const char *value);
void http_header_line(struct http *h, const char *line);
void http_body(struct http *h, const char *data, size_t n);
/* timeout_ms 0 = none (for long-lived streams); connect timeout always applies. */
int http_start(struct http *h, long timeout_ms, long connect_timeout_ms);
void http_abort(struct http *h);
void http_free(struct http *h);

/*
 * One response header line as libcurl hands it over (p[0..n), "Name: value"
 * with its CRLF, or a status line, which starts a new response): keeps the
 * ones mcpmux acts on in session_id and www_auth. Exposed for the fuzzer.
 */
void http_header_in(struct http *h, const char *p, size_t n);

/* A short description of a failed exchange ("connection refused", "HTTP 500"). */
void http_describe_error(const struct http *h, struct buf *out);

#endif
