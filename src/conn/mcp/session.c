/* conn/mcp/session.c - the session with the connector and its tool list; see mcp.h. */
#include "mcp.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "protocol.h"

#define MAX_PAGES	1000
#define MAX_TOOLS	10000
#define RETRY_MIN_MS	1000	/* first reconnect attempt after a failure */
#define RETRY_MAX_MS	30000	/* backoff cap */

void tools_free(struct conn_tool *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].json);
	}
	free(t);
}

static void notify_changed(struct upstream *up)
{
	if (up->base.ev.changed)
		up->base.ev.changed(&up->base, up->base.ev.arg);
}

/* Moves the connector to ERROR (or REAUTH), once per failure: one clear line, not a flood. */
static void set_error(struct upstream *up, enum conn_state st, const char *reason, const char *hint)
{
	int same = strcmp(buf_str(&up->logged), reason) == 0;

	buf_reset(&up->reason);
	buf_puts(&up->reason, reason);
	buf_reset(&up->hint);
	buf_puts(&up->hint, hint ? hint : "");
	up->state = st;
	up->settled_once = 1;
	if (!same) {
		log_warn("connector '%s': %s%s%s", up->c->alias, reason,
			 hint && *hint ? " - " : "", hint ? hint : "");
		buf_reset(&up->logged);
		buf_puts(&up->logged, reason);
	}
	notify_changed(up);
}

/* --- failing and reconnecting --- */

static void fail_waiting(struct upstream *up)
{
	struct conn_req *r = up->reqs, *next;
	struct buf err = BUF_INIT;

	if (up->state == CONN_REAUTH)
		auth_refused_msg(up, &err);
	else
		buf_printf(&err, "connector '%s' is unavailable: %s", up->c->alias, buf_str(&up->reason));
	for (; r; r = next) {
		next = r->next;
		if (r->kind == REQ_USER && (r->waiting || r->waiting_cred))
			req_finish(r, NULL, 0, NULL, err.data);
		else if (r->kind == REQ_POST && r->waiting_cred)
			req_free(r);
	}
	buf_free(&err);
}

static void abort_session_reqs(struct upstream *up)
{
	struct conn_req *r = up->reqs, *next;

	for (; r; r = next) {
		next = r->next;
		if (r->kind == REQ_INIT || r->kind == REQ_INITIALIZED || r->kind == REQ_LIST)
			req_free(r);
	}
	tools_free(up->newtools, up->nnewtools);
	up->newtools = NULL;
	up->nnewtools = 0;
	up->pages = 0;
	up->relist = 0;
	up->skipped_bad = up->skipped_names = up->skipped_cap = 0;
}

static void on_retry(void *arg)
{
	struct upstream *up = arg;

	up->retry = NULL;
	if (up->state == CONN_ERROR && !up->closing)
		session_start(up);
}

/* One attempt at a time: the state is STARTING until it ends, and only ERROR starts one. */
void session_reconnect_now(struct upstream *up)
{
	if (up->state != CONN_ERROR || up->closing || up->cred_failed)
		return;
	if (up->retry)
		loop_timer_cancel(up->loop, up->retry);
	up->retry = NULL;
	log_debug("connector '%s': a call is waiting, connecting again now", up->c->alias);
	session_start(up);
}

/* Capped exponential backoff with jitter, so that many mcpmux processes
   facing one restarting server do not knock in step. */
static void schedule_retry(struct upstream *up)
{
	long wait = up->backoff_ms ? up->backoff_ms : RETRY_MIN_MS;

	if (up->retry || up->closing)
		return;
	up->backoff_ms = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
	wait = wait * 4 / 5 + (long)randombytes_uniform((uint32_t)(wait * 2 / 5 + 1));
	up->retry = loop_timer_add(up->loop, wait, on_retry, up);
}

void session_down(struct upstream *up, enum conn_state st, const char *reason, const char *hint)
{
	abort_session_reqs(up);
	notif_stop(up);
	legacy_stop(up);
	if (st == CONN_ERROR && up->ntools) {
		/* A dead connector's tools leave the list (the agent hears list_changed). */
		tools_free(up->tools, up->ntools);
		up->tools = NULL;
		up->ntools = 0;
		memset(up->list_hash, 0, sizeof(up->list_hash));
		up->generation++;
	}
	free(up->session_id);
	up->session_id = NULL;
	set_error(up, st, reason, hint);
	fail_waiting(up);
	if (st == CONN_ERROR)
		schedule_retry(up);
}

void session_failed(struct upstream *up, const char *reason, const char *hint)
{
	session_down(up, CONN_ERROR, reason, hint);
}

void session_renew(struct upstream *up)
{
	log_info("connector '%s': session expired, initializing again", up->c->alias);
	free(up->session_id);
	up->session_id = NULL;
	if (up->state != CONN_STARTING)
		session_start(up);
}

/* --- initialize --- */

void session_start(struct upstream *up)
{
	struct conn_req *r;
	struct buf params = BUF_INIT;

	abort_session_reqs(up);
	notif_stop(up);
	legacy_stop(up);
	up->state = CONN_STARTING;
	up->started_at = loop_now();
	if (up->legacy)
		legacy_open(up);
	buf_printf(&params, "{\"protocolVersion\":\"%s\",\"capabilities\":%s,"
		   "\"clientInfo\":{\"name\":\"mcpmux\",\"version\":\"%s\"}}",
		   mcp_versions[mcp_nversions - 1], up->client_caps ? up->client_caps : "{}",
		   MCPMUX_VERSION);
	r = req_new(up, REQ_INIT, up_timeout_ms(up));
	req_message(r, "initialize", params.data, params.len, 1);
	buf_free(&params);
	req_send(r);
}

static void list_page(struct upstream *up, const char *params, size_t plen)
{
	struct conn_req *r = req_new(up, REQ_LIST, up_timeout_ms(up));

	req_message(r, "tools/list", params, plen, 1);
	req_send(r);
}

/*
 * After the initialize response requests may flow (the spec asks only that
 * none but ping come before it), so tools/list goes out with the
 * initialized notification instead of a round trip later.
 */
static void send_initialized(struct upstream *up)
{
	struct conn_req *r = req_new(up, REQ_INITIALIZED, up_timeout_ms(up));

	req_message(r, "notifications/initialized", NULL, 0, 0);
	req_send(r);
	list_page(up, NULL, 0);
}

/* initialize was answered with an error: its message, for the user. */
static void init_refused(struct upstream *up, const struct json *j)
{
	struct buf why = BUF_INIT;
	int emsg = json_get(j, json_get(j, 0, "error"), "message");

	buf_puts(&why, "initialize was refused: ");
	if (json_string(j, emsg, &why))
		buf_puts(&why, "no message");
	session_failed(up, why.data, "check the server's logs");
	buf_free(&why);
}

void session_init_reply(struct conn_req *r, const struct json *j)
{
	struct upstream *up = r->up;
	struct http *h = r->reply.http;
	int res = json_get(j, 0, "result"), pv = json_get(j, res, "protocolVersion");
	size_t len;

	if (res < 0) {
		init_refused(up, j);
		return;
	}
	len = json_type(j, pv) == JSMN_STRING ? (size_t)(j->tok[pv].end - j->tok[pv].start) : 0;
	if (!len || !mcp_version_known(j->js + j->tok[pv].start, len) || len >= sizeof(up->proto)) {
		session_failed(up, "the server speaks an unsupported protocol version",
			       "mcpmux speaks 2024-11-05 to 2025-11-25");
		return;
	}
	if (h && http_bad_session_id(h)) {
		/* Sent back on every request, a CR in it would end a header line. */
		session_failed(up, "the server sent an Mcp-Session-Id that is empty or holds characters "
			       "other than visible ASCII", "the server is broken: report it to its authors");
		return;
	}
	memcpy(up->proto, j->js + j->tok[pv].start, len);
	up->proto[len] = '\0';
	up->server_logging = json_type(j, json_get(j, json_get(j, res, "capabilities"), "logging")) ==
			     JSMN_OBJECT;
	free(up->session_id);
	up->session_id = h && http_session_id(h) ? xstrdup(http_session_id(h)) : NULL;
	req_free(r);
	send_initialized(up);
}

/* --- listing tools --- */

enum tool_verdict {
	TOOL_OK,
	TOOL_BAD,	/* not an object with a string name */
	TOOL_NAME,	/* a name that cannot be exposed safely */
	TOOL_CAP	/* past MAX_TOOLS */
};

/* 1 when the decoded name holds a control character (NUL included): filters,
   logs and terminals would all read it differently from what it is. */
static int name_unsafe(const struct buf *name)
{
	size_t i = 0, len;
	unsigned int cp;

	while (i < name->len) {
		len = json_utf8_next(name->data + i, name->len - i, &cp);
		if (!len || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 1;
		i += len;
	}
	return 0;
}

static enum tool_verdict add_tool(struct upstream *up, const struct json *j, int t)
{
	struct conn_tool *tool;
	struct buf name = BUF_INIT;
	size_t s, e, ns, ne;
	int nm = json_get(j, t, "name");
	int ann = json_get(j, t, "annotations");

	if (up->nnewtools >= MAX_TOOLS)
		return TOOL_CAP;
	if (json_type(j, t) != JSMN_OBJECT || json_string(j, nm, &name) || !name.len) {
		buf_free(&name);
		return TOOL_BAD;
	}
	json_span(j, nm, &ns, &ne);
	if (name_unsafe(&name)) {
		log_warn("connector '%s': tool %.*s is left out: its name holds a control character",
			 up->c->alias, (int)(ne - ns > 80 ? 80 : ne - ns), j->js + ns);
		buf_free(&name);
		return TOOL_NAME;
	}
	up->newtools = xrealloc(up->newtools, up->nnewtools + 1, sizeof(*up->newtools));
	tool = &up->newtools[up->nnewtools++];
	json_span(j, t, &s, &e);
	tool->json_len = e - s;
	tool->json = xmemdup(j->js + s, tool->json_len);
	tool->name_start = ns - s;
	tool->name_end = ne - s;
	tool->name = buf_detach(&name, NULL);
	tool->read_only = json_is_true(j, json_get(j, ann, "readOnlyHint"));
	crypto_generichash_update(&up->hashing, (const unsigned char *)tool->json,
				  tool->json_len);
	return TOOL_OK;
}

/* The tools of one page, counting those left out. */
static void add_tools(struct upstream *up, const struct json *j, int tools)
{
	int i, k;

	for (i = 0, k = tools + 1; i < json_size(j, tools); i++, k = json_next(j, k)) {
		switch (add_tool(up, j, k)) {
		case TOOL_OK:
			break;
		case TOOL_BAD:
			up->skipped_bad++;
			break;
		case TOOL_NAME:
			up->skipped_names++;
			break;
		case TOOL_CAP:
			up->skipped_cap++;
			break;
		}
	}
}

/* What the listing left out, said once per listing. */
static void report_skipped(struct upstream *up)
{
	if (up->skipped_bad)
		log_warn("connector '%s': skipped %zu malformed tool definition%s", up->c->alias,
			 up->skipped_bad, up->skipped_bad == 1 ? "" : "s");
	if (up->skipped_cap)
		log_warn("connector '%s': lists more than %d tools; the other %zu are left out",
			 up->c->alias, MAX_TOOLS, up->skipped_cap);
	up->skipped_bad = up->skipped_names = up->skipped_cap = 0;
}

/* The listing is complete: it replaces the current list when it differs (or is the first). */
static void take_list(struct upstream *up, int first)
{
	unsigned char h[crypto_generichash_BYTES];

	report_skipped(up);
	crypto_generichash_final(&up->hashing, h, sizeof(h));
	if (first || memcmp(h, up->list_hash, sizeof(h)) != 0) {
		memcpy(up->list_hash, h, sizeof(h));
		tools_free(up->tools, up->ntools);
		up->tools = up->newtools;
		up->ntools = up->nnewtools;
		up->generation++;
	} else {
		tools_free(up->newtools, up->nnewtools);
	}
	up->newtools = NULL;
	up->nnewtools = 0;
}

static void finish_listing(struct upstream *up)
{
	int first = up->latency < 0;

	take_list(up, first);
	if (first)
		up->latency = loop_now() - up->started_at;
	up->state = CONN_READY;
	up->settled_once = 1;
	up->backoff_ms = 0;
	if (up->logged.len)
		log_info("connector '%s': connected again", up->c->alias);
	buf_reset(&up->logged);
	if (up->relist) {
		int again = up->relist == 2;

		up->relist = 0;
		log_info("connector '%s': tool list updated, %zu tools", up->c->alias, up->ntools);
		if (again)
			session_relist(up);
	} else {
		log_info("connector '%s': ready, %zu tools (%s)", up->c->alias, up->ntools, up->proto);
		notif_open(up);
		up_send_log_level(up);
	}
	notify_changed(up);
	/* Requests that waited for the session go out now. */
	for (struct conn_req *r = up->reqs; r; r = r->next)
		if (r->waiting && r->kind == REQ_USER && up->state == CONN_READY)
			req_send(r);
}

void session_list_reply(struct conn_req *r, const struct json *j)
{
	struct upstream *up = r->up;
	int res = json_get(j, 0, "result"), tools = json_get(j, res, "tools");
	int cur = json_get(j, res, "nextCursor");
	struct buf params = BUF_INIT;
	size_t s, e;

	if (up->pages == 0)
		crypto_generichash_init(&up->hashing, NULL, 0, sizeof(up->list_hash));
	if (json_type(j, tools) != JSMN_ARRAY) {
		session_failed(up, "tools/list returned no tools array", "is this an MCP server with tools?");
		return;
	}
	add_tools(up, j, tools);
	up->pages++;
	req_free(r);
	if (json_type(j, cur) == JSMN_STRING && up->pages < MAX_PAGES) {
		json_span(j, cur, &s, &e);
		buf_puts(&params, "{\"cursor\":");
		buf_add(&params, j->js + s, e - s);
		buf_putc(&params, '}');
		list_page(up, params.data, params.len);
		buf_free(&params);
		return;
	}
	up->pages = 0;
	finish_listing(up);
}

void session_relist(struct upstream *up)
{
	if (up->relist) {
		up->relist = 2;	/* once the current listing ends */
		return;
	}
	if (up->state != CONN_READY)
		return;
	up->relist = 1;
	list_page(up, NULL, 0);
}

/* --- the end --- */

static void on_delete_done(struct http *h, void *arg)
{
	struct upstream *up = arg;

	(void)h;
	http_free(up->del);
	up->del = NULL;
	up->state = CONN_CLOSED;
}

void session_close(struct upstream *up, long timeout_ms)
{
	struct http *h;

	up->closing = 1;
	notif_stop(up);
	legacy_stop(up);
	if (up->retry)
		loop_timer_cancel(up->loop, up->retry);
	up->retry = NULL;
	while (up->reqs)
		req_free(up->reqs);
	if (!up->session_id || up->state == CONN_DISABLED) {
		up->state = up->state == CONN_DISABLED ? CONN_DISABLED : CONN_CLOSED;
		return;
	}
	h = up_http(up, "DELETE", up->c->url, 1);
	http_callbacks(h, NULL, NULL, on_delete_done, up);
	up->del = h;
	if (http_start(h, timeout_ms, timeout_ms) != 0) {
		http_free(h);
		up->del = NULL;
		up->state = CONN_CLOSED;
	}
}
