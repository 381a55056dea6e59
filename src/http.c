/* http.c - one HTTP exchange over curl multi; see include/http.h. */
#include "xalloc.h"
#include "http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#define HTTP_PRESIZE_MAX (32u << 20)

/* Only this file reads or writes these fields; everyone else uses http.h. */
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
	http_want_cb want_stream; /* decides streaming once headers are in */
	http_data_cb on_data;
	http_done_cb on_done;
	void *arg;		/* passed back untouched */
	int running;		/* added to the loop and not yet done */
	int sensitive;		/* bodies may hold secrets: wipe them when freed */
};

static void check_headers(struct http *h)
{
	char *ct = NULL;
	size_t i;

	if (h->headers_done)
		return;
	h->headers_done = 1;
	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &h->status);
	curl_easy_getinfo(h->easy, CURLINFO_CONTENT_TYPE, &ct);
	h->ctype[0] = '\0';
	for (i = 0; ct && ct[i] && ct[i] != ';' && !isspace((unsigned char)ct[i]) &&
	     i + 1 < sizeof(h->ctype); i++)
		h->ctype[i] = (char)tolower((unsigned char)ct[i]);
	h->ctype[i] = '\0';
	if (h->want_stream)
		h->streaming = h->want_stream(h, h->arg);
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct http *h = ud;
	size_t n = size * nmemb;

	check_headers(h);
	if (loop_input_held(h->loop)) {
		/* curl keeps these bytes and hands them over again once resumed. */
		loop_note_paused(h->loop, h->easy);
		return CURL_WRITEFUNC_PAUSE;
	}
	if (h->streaming)
		return h->on_data(h, p, n, h->arg) ? 0 : n;
	if (h->body.len + n > (h->max_body ? h->max_body : HTTP_MAX_BODY)) {
		h->too_big = 1;
		return 0;
	}
	if (!h->body.cap) {
		/* A declared length sizes the buffer once: no growth, no copies.
		   Only up to HTTP_PRESIZE_MAX: a server's word is not memory. */
		curl_off_t cl = -1;

		curl_easy_getinfo(h->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (cl > 0 && cl <= HTTP_PRESIZE_MAX)
			buf_reserve(&h->body, (size_t)cl + 1);
	}
	buf_add(&h->body, p, n);
	return n;
}

void http_header_in(struct http *h, const char *p, size_t n)
{
	size_t k, e;
	char **slot = NULL;

	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx, or a redirect): forget the old one. */
		free(h->session_id);
		free(h->www_auth);
		h->session_id = NULL;
		h->www_auth = NULL;
		h->bad_session_id = 0;
		return;
	}
	if (n > 15 && strncasecmp(p, "mcp-session-id:", 15) == 0) {
		slot = &h->session_id;
		k = 15;
	} else if (n > 17 && strncasecmp(p, "www-authenticate:", 17) == 0) {
		slot = &h->www_auth;
		k = 17;
	} else {
		return;
	}
	while (k < n && (p[k] == ' ' || p[k] == '\t'))
		k++;
	e = n;
	while (e > k && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' '))
		e--;
	free(*slot);
	*slot = NULL;
	if (slot == &h->session_id) {
		/* The spec allows visible ASCII only; anything else (a CR, a NUL)
		   would be sent back on every request. */
		size_t i;

		h->bad_session_id = e == k;
		for (i = k; i < e; i++)
			if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
				h->bad_session_id = 1;
		if (h->bad_session_id)
			return;
	}
	*slot = xstrndup(p + k, e - k);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	http_header_in(ud, p, size * nmemb);
	return size * nmemb;
}

struct http *http_new(struct loop *loop, const char *method, const char *url)
{
	struct http *h = xcalloc(1, sizeof(*h));

	h->loop = loop;
	h->easy = loop_easy_get(loop);
	if (!h->easy)
		xalloc_die();
	curl_easy_setopt(h->easy, CURLOPT_URL, url);
	curl_easy_setopt(h->easy, CURLOPT_CUSTOMREQUEST,
			 strcmp(method, "GET") == 0 ? NULL : method);
	curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h->easy, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->easy, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(h->easy, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L);
	/* A credential must never follow a redirect to another host. */
	curl_easy_setopt(h->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Responses are whatever the server sends; no transparent decoding games. */
	curl_easy_setopt(h->easy, CURLOPT_ACCEPT_ENCODING, NULL);
	return h;
}

void http_header_line(struct http *h, const char *line)
{
	struct curl_slist *n = curl_slist_append(h->hdrs, line);

	if (!n)
		xalloc_die();
	h->hdrs = n;
}

void http_header(struct http *h, const char *name, const char *value)
{
	size_t nn = strlen(name), nv = strlen(value);
	char stack[256], *line = nn + nv + 3 <= sizeof(stack) ? stack : xmalloc(nn + nv + 3);

	memcpy(line, name, nn);
	line[nn] = ':';
	line[nn + 1] = ' ';
	memcpy(line + nn + 2, value, nv + 1);
	http_header_line(h, line);
	sodium_memzero(line, nn + nv + 3);
	if (line != stack)
		free(line);
}

void http_body(struct http *h, const char *data, size_t n)
{
	buf_reset(&h->reqbody);
	buf_add(&h->reqbody, data, n);
}

void http_callbacks(struct http *h, http_want_cb want, http_data_cb on_data,
		    http_done_cb on_done, void *arg)
{
	h->want_stream = want;
	h->on_data = on_data;
	h->on_done = on_done;
	h->arg = arg;
}

void http_set_max_body(struct http *h, size_t max)
{
	h->max_body = max;
}

void http_set_sensitive(struct http *h)
{
	h->sensitive = 1;
}

void http_set_ca_file(struct http *h, const char *path)
{
	curl_easy_setopt(h->easy, CURLOPT_CAINFO, path);
}

void http_set_no_proxy(struct http *h)
{
	curl_easy_setopt(h->easy, CURLOPT_NOPROXY, "*");
}

static void on_done(CURL *easy, CURLcode res, void *arg)
{
	struct http *h = arg;

	(void)easy;
	h->running = 0;
	h->result = res;
	check_headers(h);
	h->on_done(h, h->arg);
}

int http_start(struct http *h, long timeout_ms, long connect_timeout_ms)
{
	/* Without "Expect:" curl waits up to a second before sending a large body. */
	http_header_line(h, "Expect:");
	curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->hdrs);
	if (h->reqbody.len || h->reqbody.data) {
		curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, buf_str(&h->reqbody));
		curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)h->reqbody.len);
	}
	curl_easy_setopt(h->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
	/* Room up front: a growing buffer would leave copies of a secret behind in freed memory. */
	if (h->sensitive)
		buf_reserve(&h->body, 65536);
	if (loop_xfer_add(h->loop, h->easy, on_done, h))
		return -1;
	h->running = 1;
	return 0;
}

void http_abort(struct http *h)
{
	if (h->running)
		loop_xfer_del(h->loop, h->easy);
	h->running = 0;
}

void http_free(struct http *h)
{
	struct curl_slist *s;

	if (!h)
		return;
	http_abort(h);
	loop_easy_put(h->loop, h->easy);
	for (s = h->hdrs; s; s = s->next)
		sodium_memzero(s->data, strlen(s->data));
	curl_slist_free_all(h->hdrs);
	if (h->sensitive) {
		buf_wipe(&h->reqbody);
		buf_wipe(&h->body);
	}
	buf_free(&h->reqbody);
	buf_free(&h->body);
	free(h->session_id);
	free(h->www_auth);
	free(h);
}

void http_describe_error(const struct http *h, struct buf *out)
{
	if (h->too_big) {
		buf_printf(out, "response larger than %zu MiB",
			   (h->max_body ? h->max_body : HTTP_MAX_BODY) >> 20);
	} else if (h->result == CURLE_COULDNT_CONNECT) {
		buf_puts(out, "connection refused");
	} else if (h->result == CURLE_OPERATION_TIMEDOUT) {
		buf_puts(out, "timed out");
	} else if (h->result != CURLE_OK && h->result != CURLE_WRITE_ERROR) {
		buf_puts(out, h->errbuf[0] ? h->errbuf : curl_easy_strerror(h->result));
	} else if (h->status >= 400 || h->status < 200) {
		buf_printf(out, "HTTP %ld", h->status);
	} else {
		buf_puts(out, "unexpected response");
	}
}

long http_status(const struct http *h)
{
	return h->status;
}

const char *http_content_type(const struct http *h)
{
	return h->ctype;
}

const char *http_session_id(const struct http *h)
{
	return h->session_id;
}

int http_bad_session_id(const struct http *h)
{
	return h->bad_session_id;
}

const char *http_www_auth(const struct http *h)
{
	return h->www_auth;
}

int http_streaming(const struct http *h)
{
	return h->streaming;
}

int http_too_big(const struct http *h)
{
	return h->too_big;
}

const struct buf *http_response(const struct http *h)
{
	return &h->body;
}

CURLcode http_result(const struct http *h)
{
	return h->result;
}

int http_running(const struct http *h)
{
	return h->running;
}
