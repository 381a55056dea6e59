/* fake_http.c - include/http.h answered by the test instead of a network; see fake_http.h. */
#include "fake_http.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum step_kind { STEP_HEAD, STEP_DATA, STEP_END };

/* One thing the test said about a response, waiting for its turn of the loop. */
struct step {
	struct step *next;
	enum step_kind kind;
	long status;		/* HEAD */
	struct buf text;	/* HEAD: the content type, then the header lines; DATA: the bytes */
	CURLcode result;	/* END */
};

struct http {
	struct loop *loop;
	struct fake_req *rec;
	long status;
	char ctype[64];
	char *session_id;
	int bad_session_id;
	char *www_auth;
	struct buf body;
	int streaming, too_big, running, refused;
	size_t max_body;
	CURLcode result;
	struct fake_cb {
		http_want_cb want;
		http_data_cb on_data;
		http_done_cb on_done;
		void *arg;
	} cb;
	struct step *steps, **tail;
	struct loop_timer *timer;
};

static struct fake_req *recs, **recs_tail = &recs;

static void step_free(struct step *s)
{
	buf_free(&s->text);
	free(s);
}

static void rec_free(struct fake_req *r)
{
	free(r->method);
	free(r->url);
	buf_free(&r->headers);
	buf_free(&r->body);
	free(r);
}

void fake_http_reset(void)
{
	struct fake_req *r;

	while ((r = recs)) {
		recs = r->next;
		if (r->h)
			r->h->rec = NULL;
		rec_free(r);
	}
	recs_tail = &recs;
}

struct fake_req *fake_http_list(void)
{
	return recs;
}

struct fake_req *fake_find(const char *method, const char *body_has)
{
	struct fake_req *r;

	for (r = recs; r; r = r->next)
		if (r->started && r->h && !r->answered && strcmp(r->method, method) == 0 &&
		    (!body_has || strstr(buf_str(&r->body), body_has)))
			return r;
	return NULL;
}

const char *fake_header(const struct fake_req *r, const char *name)
{
	static struct buf value;
	const char *p = buf_str(&r->headers), *nl;
	size_t n = strlen(name);

	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			p += strspn(p, " ");
			buf_reset(&value);
			buf_add(&value, p, (size_t)(nl - p));
			return buf_str(&value);
		}
	}
	return NULL;
}

/* --- delivering what the test said --- */

static void deliver(void *arg);

static void push(struct http *h, struct step *s)
{
	*h->tail = s;
	h->tail = &s->next;
	if (!h->timer && h->running)
		h->timer = loop_timer_add(h->loop, 0, deliver, h);
}

static void drop_steps(struct http *h)
{
	struct step *s;

	while ((s = h->steps)) {
		h->steps = s->next;
		step_free(s);
	}
	h->tail = &h->steps;
}

/* Bytes refused (by on_data, or past max_body): curl ends such a transfer at once. */
static void refuse(struct http *h)
{
	struct step *end = xcalloc(1, sizeof(*end));

	h->refused = 1;
	drop_steps(h);
	end->kind = STEP_END;
	end->result = CURLE_WRITE_ERROR;
	push(h, end);
}

static void deliver_head(struct http *h, const struct step *s)
{
	const char *p = s->text.data, *nl;

	h->status = s->status;
	snprintf(h->ctype, sizeof(h->ctype), "%s", p);
	for (p += strlen(p) + 1; *p; p = nl + 1) {
		nl = p + strcspn(p, "\n");	/* the last line may lack its '\n' */
		http_header_in(h, p, (size_t)(nl - p));
	}
	if (h->cb.want)
		h->streaming = h->cb.want(h, h->cb.arg);
}

static void deliver_data(struct http *h, const struct step *s)
{
	if (h->streaming) {
		if (h->cb.on_data(h, s->text.data, s->text.len, h->cb.arg))
			refuse(h);
		return;
	}
	if (h->body.len + s->text.len > (h->max_body ? h->max_body : HTTP_MAX_BODY)) {
		h->too_big = 1;
		refuse(h);
		return;
	}
	buf_add(&h->body, s->text.data, s->text.len);
}

static void deliver(void *arg)
{
	struct http *h = arg;
	struct step *s = h->steps;

	h->timer = NULL;
	h->steps = s->next;
	if (!h->steps)
		h->tail = &h->steps;
	if (s->kind == STEP_END) {
		/* The last step: on_done may free h. */
		h->running = 0;
		h->result = s->result;
		if (h->rec)
			h->rec->done = 1;
		step_free(s);
		h->cb.on_done(h, h->cb.arg);
		return;
	}
	if (s->kind == STEP_HEAD)
		deliver_head(h, s);
	else
		deliver_data(h, s);
	step_free(s);
	if (h->steps && !h->timer)
		h->timer = loop_timer_add(h->loop, 0, deliver, h);
}

/* Queues s on r's exchange, or drops it when nobody listens any more. */
static void queue_step(struct fake_req *r, struct step *s)
{
	if (r->h && !r->h->refused)
		push(r->h, s);
	else
		step_free(s);
}

void fake_open(struct fake_req *r, long status, const char *ctype, const char *headers)
{
	struct step *s = xcalloc(1, sizeof(*s));

	r->answered = 1;
	s->kind = STEP_HEAD;
	s->status = status;
	buf_puts(&s->text, ctype ? ctype : "");
	buf_putc(&s->text, '\0');
	buf_puts(&s->text, headers ? headers : "");
	buf_putc(&s->text, '\0');
	queue_step(r, s);
}

void fake_chunk(struct fake_req *r, const char *data)
{
	struct step *s = xcalloc(1, sizeof(*s));

	s->kind = STEP_DATA;
	buf_puts(&s->text, data);
	queue_step(r, s);
}

void fake_end(struct fake_req *r, CURLcode result)
{
	struct step *s = xcalloc(1, sizeof(*s));

	s->kind = STEP_END;
	s->result = result;
	queue_step(r, s);
}

void fake_fail(struct fake_req *r, CURLcode result)
{
	r->answered = 1;
	fake_end(r, result);
}

void fake_reply(struct fake_req *r, long status, const char *ctype, const char *headers,
		const char *body)
{
	fake_open(r, status, ctype, headers);
	if (body && *body)
		fake_chunk(r, body);
	fake_end(r, CURLE_OK);
}

/* --- include/http.h --- */

struct http *http_new(struct loop *loop, const char *method, const char *url)
{
	struct http *h = xcalloc(1, sizeof(*h));
	struct fake_req *r = xcalloc(1, sizeof(*r));

	r->method = xstrdup(method);
	r->url = xstrdup(url);
	r->h = h;
	*recs_tail = r;
	recs_tail = &r->next;
	h->loop = loop;
	h->rec = r;
	h->tail = &h->steps;
	return h;
}

void http_header_line(struct http *h, const char *line)
{
	buf_puts(&h->rec->headers, line);
	buf_putc(&h->rec->headers, '\n');
}

void http_header(struct http *h, const char *name, const char *value)
{
	buf_printf(&h->rec->headers, "%s: %s\n", name, value);
}

void http_body(struct http *h, const char *data, size_t n)
{
	buf_reset(&h->rec->body);
	buf_add(&h->rec->body, data, n);
}

void http_callbacks(struct http *h, http_want_cb want, http_data_cb on_data,
		    http_done_cb on_done, void *arg)
{
	h->cb = (struct fake_cb){ want, on_data, on_done, arg };
}

void http_set_max_body(struct http *h, size_t max) { h->max_body = max; }
/* Options the fake has no use for. */
void http_set_sensitive(struct http *h) { (void)h; }
void http_set_ca_file(struct http *h, const char *path) { (void)h; (void)path; }
void http_set_no_proxy(struct http *h) { (void)h; }

int http_start(struct http *h, long timeout_ms, long connect_timeout_ms)
{
	(void)connect_timeout_ms;
	h->rec->started = 1;
	h->rec->timeout_ms = timeout_ms;
	h->running = 1;
	if (h->steps && !h->timer)
		h->timer = loop_timer_add(h->loop, 0, deliver, h);
	return 0;
}

void http_abort(struct http *h)
{
	if (h->running && h->rec)
		h->rec->aborted = 1;
	h->running = 0;
	loop_timer_cancel(h->loop, h->timer);
	h->timer = NULL;
	drop_steps(h);
}

void http_free(struct http *h)
{
	if (!h)
		return;
	http_abort(h);
	if (h->rec)
		h->rec->h = NULL;
	free(h->session_id);
	free(h->www_auth);
	buf_free(&h->body);
	free(h);
}

/* Keeps Mcp-Session-Id and WWW-Authenticate ("Name: value", no CRLF); a status line
   forgets them. Enough for the tests: src/http.c is the one that checks them. */
void http_header_in(struct http *h, const char *p, size_t n)
{
	char **slot = NULL;
	size_t k;

	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
		free(h->session_id);
		free(h->www_auth);
		h->session_id = h->www_auth = NULL;
		h->bad_session_id = 0;
		return;
	}
	if (n > 15 && strncasecmp(p, "mcp-session-id:", 15) == 0)
		slot = &h->session_id;
	else if (n > 17 && strncasecmp(p, "www-authenticate:", 17) == 0)
		slot = &h->www_auth;
	if (!slot)
		return;
	k = (size_t)(strchr(p, ':') - p) + 1;
	while (k < n && isspace((unsigned char)p[k]))
		k++;
	free(*slot);
	*slot = xstrndup(p + k, n - k);
	if (slot == &h->session_id && !**slot) {
		free(*slot);
		*slot = NULL;
		h->bad_session_id = 1;
	}
}

/* The response, as the test described it. */
#define GETTER(type, name, value) type name(const struct http *h) { return value; }
GETTER(long, http_status, h->status)
GETTER(const char *, http_content_type, h->ctype)
GETTER(const char *, http_session_id, h->session_id)
GETTER(int, http_bad_session_id, h->bad_session_id)
GETTER(const char *, http_www_auth, h->www_auth)
GETTER(int, http_streaming, h->streaming)
GETTER(int, http_too_big, h->too_big)
GETTER(const struct buf *, http_response, &h->body)
GETTER(CURLcode, http_result, h->result)
GETTER(int, http_running, h->running)

/* Shorter than src/http.c's: curl's own words for a transfer error. */
void http_describe_error(const struct http *h, struct buf *out)
{
	if (h->too_big)
		buf_puts(out, "response too large");
	else if (h->result != CURLE_OK && h->result != CURLE_WRITE_ERROR)
		buf_puts(out, curl_easy_strerror(h->result));
	else if (h->status < 200 || h->status >= 400)
		buf_printf(out, "HTTP %ld", h->status);
	else
		buf_puts(out, "unexpected response");
}
