/*
 * test_mcp_conn.c - the MCP connector's state machine (src/conn/mcp/), driven
 * through include/connector.h over the fake transport (fake_http.c): the test
 * plays the server, answering each recorded request, and the real loop
 * delivers the answers. Time is never measured: the loop turns until what is
 * awaited happened, up to a generous number of turns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "config.h"
#include "connector.h"
#include "creds.h"
#include "fake_http.h"
#include "log.h"
#include "loop.h"
#include "xalloc.h"

#define MAX_TURNS	10000	/* a cap on loop turns, not a clock */
#define URL		"http://alpha.test/mcp"
#define TOKEN_VAR	"MCPMUX_TEST_TOKEN"
#define CALL		"{\"name\":\"t1\",\"arguments\":{}}"

/* The loop turns until cond holds; the test fails if it never does. */
#define RUN_UNTIL(cond) do {						\
	int turns_ = 0;							\
	while (!(cond) && turns_++ < MAX_TURNS)				\
		loop_run_once(w.loop, 10);				\
	assert_true(cond);						\
} while (0)

/* What a reply callback was given. */
struct reply {
	int calls;
	char *msg;
	char *err;
};

static struct {
	struct loop *loop;
	struct config cfg;
	struct creds *creds;
	struct connector *c;
	char *cfg_path;
	int changed;		/* events.changed calls */
	struct buf notes;	/* notifications received, one a line */
	struct reply rp;	/* the reply to the test's call */
} w;

static void on_changed(struct connector *c, void *arg)
{
	(void)c;
	(void)arg;
	w.changed++;
}

static void on_notify(struct connector *c, const char *msg, size_t n, const struct json *j,
		      void *arg)
{
	(void)c;
	(void)j;
	(void)arg;
	buf_add(&w.notes, msg, n);
	buf_putc(&w.notes, '\n');
}

static void on_reply(struct connector *c, const char *msg, size_t n, const struct json *j,
		     const char *err, void *arg)
{
	struct reply *rp = arg;

	(void)c;
	(void)j;
	rp->calls++;
	free(rp->msg);
	free(rp->err);
	rp->msg = msg ? xstrndup(msg, n) : NULL;
	rp->err = err ? xstrdup(err) : NULL;
}

/* --- the world: a config, the credential cache, one connector --- */

static int world_up(void **state)
{
	static const char text[] = "[connector \"alpha\"]\nurl = " URL "\ntoken = env:" TOKEN_VAR "\n";
	char tmpl[] = "/tmp/mcpmux-test-conn-XXXXXX";
	struct conn_events ev = { on_changed, on_notify, NULL, NULL };
	struct buf err = BUF_INIT;
	int fd = mkstemp(tmpl);

	(void)state;
	memset(&w, 0, sizeof(w));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	w.cfg_path = xstrdup(tmpl);
	setenv(TOKEN_VAR, "tok1", 1);
	if (config_load(&w.cfg, w.cfg_path, &err) != 0)
		fail_msg("config: %s", buf_str(&err));
	buf_free(&err);
	w.loop = loop_new();
	assert_non_null(w.loop);
	w.creds = creds_new(w.loop, &w.cfg);
	w.c = connector_new(w.loop, &w.cfg, &w.cfg.connectors[0], &ev, w.creds);
	assert_non_null(w.c);
	connector_start(w.c, NULL);
	return 0;
}

static int world_down(void **state)
{
	const struct fake_req *r;

	(void)state;
	connector_free(w.c);
	/* Every exchange the connector started, it freed. */
	for (r = fake_http_list(); r; r = r->next)
		assert_null(r->h);
	fake_http_reset();
	creds_free(w.creds);
	config_free(&w.cfg);
	loop_free(w.loop);
	unlink(w.cfg_path);
	free(w.cfg_path);
	buf_free(&w.notes);
	free(w.rp.msg);
	free(w.rp.err);
	return 0;
}

/* --- playing the server --- */

/* The next request with this method (and body_has in its body), once the connector made it. */
static struct fake_req *expect(const char *method, const char *body_has)
{
	struct fake_req *r;
	int turns = 0;

	while (!(r = fake_find(method, body_has)) && turns++ < MAX_TURNS)
		loop_run_once(w.loop, 10);
	if (!r)
		fail_msg("the connector made no %s request with %s", method,
			 body_has ? body_has : "any body");
	return r;
}

static long long id_of(const struct fake_req *r)
{
	const char *p = strstr(buf_str(&r->body), "\"id\":");

	assert_non_null(p);
	return strtoll(p + 5, NULL, 10);
}

/* A JSON-RPC response to request id with `result`, as a JSON body or an SSE event. */
static void response(struct buf *out, long long id, const char *result)
{
	buf_printf(out, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":%s}", id, result);
}

static void answer(struct fake_req *r, const char *result, const char *headers)
{
	struct buf b = BUF_INIT;

	response(&b, id_of(r), result);
	fake_reply(r, 200, "application/json", headers, b.data);
	buf_free(&b);
}

/* The same response as one event on an event stream. */
static void answer_event(struct fake_req *stream, long long id, const char *result)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "event: message\ndata: ");
	response(&b, id, result);
	buf_puts(&b, "\n\n");
	fake_chunk(stream, b.data);
	buf_free(&b);
}

static const char init_result[] = "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
				  "\"serverInfo\":{\"name\":\"fake\",\"version\":\"1\"}}";

/* One page of tools/list: tool t<page>, and a cursor to the next page unless it is the last. */
static void list_result(struct buf *out, int page, int pages)
{
	buf_printf(out, "{\"tools\":[{\"name\":\"t%d\",\"inputSchema\":{\"type\":\"object\"}}]", page);
	if (page < pages)
		buf_printf(out, ",\"nextCursor\":\"p%d\"", page + 1);
	buf_putc(out, '}');
}

/* tools/list over `pages` pages, each request checked for the cursor it must carry. */
static void answer_listing(int pages)
{
	struct buf res = BUF_INIT, cursor = BUF_INIT;
	struct fake_req *r;
	int page;

	for (page = 1; page <= pages; page++) {
		buf_reset(&cursor);
		if (page > 1)
			buf_printf(&cursor, "\"params\":{\"cursor\":\"p%d\"}", page);
		r = expect("POST", page > 1 ? cursor.data : "\"method\":\"tools/list\"");
		buf_reset(&res);
		list_result(&res, page, pages);
		answer(r, res.data, NULL);
	}
	buf_free(&res);
	buf_free(&cursor);
}

/* initialize (answered with session id sid), initialized, tools/list: READY. */
static void handshake(const char *sid, int pages)
{
	struct buf hdr = BUF_INIT;
	struct fake_req *r = expect("POST", "\"method\":\"initialize\"");

	assert_null(fake_header(r, "Mcp-Session-Id"));
	buf_printf(&hdr, "Mcp-Session-Id: %s\n", sid);
	answer(r, init_result, hdr.data);
	buf_free(&hdr);
	r = expect("POST", "\"method\":\"notifications/initialized\"");
	fake_reply(r, 202, NULL, NULL, NULL);
	answer_listing(pages);
	RUN_UNTIL(connector_state(w.c) == CONN_READY);
}

static struct fake_req *call(long timeout_ms)
{
	connector_request(w.c, "tools/call", CALL, strlen(CALL), timeout_ms, on_reply, &w.rp);
	return expect("POST", "\"method\":\"tools/call\"");
}

/* --- the tests --- */

/* initialize → notifications/initialized → tools/list over three pages → READY. */
static void test_handshake(void **state)
{
	struct fake_req *r;
	const struct conn_tool *t;
	struct conn_status st;
	size_t n;

	(void)state;
	r = expect("POST", "\"method\":\"initialize\"");
	assert_string_equal(r->url, URL);
	assert_string_equal(fake_header(r, "Authorization"), "Bearer tok1");
	assert_string_equal(fake_header(r, "Accept"), "application/json, text/event-stream");
	assert_string_equal(fake_header(r, "Content-Type"), "application/json");
	assert_null(fake_header(r, "MCP-Protocol-Version"));
	assert_non_null(strstr(r->body.data, "\"protocolVersion\":\"2025-11-25\""));
	connector_status(w.c, &st);
	assert_int_equal(st.state, CONN_STARTING);
	assert_true(st.settling);
	answer(r, init_result, "Mcp-Session-Id: s1\n");

	r = expect("POST", "\"method\":\"notifications/initialized\"");
	assert_null(strstr(r->body.data, "\"id\""));
	assert_string_equal(fake_header(r, "Mcp-Session-Id"), "s1");
	assert_string_equal(fake_header(r, "MCP-Protocol-Version"), "2025-06-18");
	fake_reply(r, 202, NULL, NULL, NULL);
	answer_listing(3);
	RUN_UNTIL(connector_state(w.c) == CONN_READY);

	t = connector_tools(w.c, &n);
	assert_int_equal(n, 3);
	assert_string_equal(t[0].name, "t1");
	assert_string_equal(t[1].name, "t2");
	assert_string_equal(t[2].name, "t3");
	connector_status(w.c, &st);
	assert_int_equal(st.generation, 1);
	assert_false(st.settling);
	assert_true(w.changed >= 1);

	/* READY opens the GET stream for the server's own messages; 405: there is none. */
	r = expect("GET", NULL);
	assert_string_equal(fake_header(r, "Accept"), "text/event-stream");
	assert_string_equal(fake_header(r, "Mcp-Session-Id"), "s1");
	fake_reply(r, 405, NULL, NULL, NULL);
	RUN_UNTIL(r->h == NULL);
	assert_int_equal(connector_state(w.c), CONN_READY);
}

/* The reply to a call on an event stream, split anywhere, after a notification. */
static void test_reply_on_sse(void **state)
{
	struct buf ev = BUF_INIT;
	struct fake_req *r;

	(void)state;
	handshake("s1", 1);
	r = call(0);
	assert_string_equal(fake_header(r, "Mcp-Session-Id"), "s1");
	fake_open(r, 200, "text/event-stream", NULL);
	fake_chunk(r, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
		   "\"params\":{\"progressToken\":1,\"progress\":1}}\n\n");
	buf_printf(&ev, "id: e1\ndata: {\"jsonrpc\":\"2.0\",\"id\":%lld,\"res", id_of(r));
	fake_chunk(r, ev.data);
	fake_chunk(r, "ult\":{\"content\":[]}}\n\n");
	fake_end(r, CURLE_OK);
	RUN_UNTIL(w.rp.calls == 1);
	assert_null(w.rp.err);
	assert_non_null(strstr(w.rp.msg, "\"result\":{\"content\":[]}"));
	assert_non_null(strstr(buf_str(&w.notes), "notifications/progress"));
	RUN_UNTIL(r->h == NULL);
	assert_int_equal(w.rp.calls, 1);
	buf_free(&ev);
}

/* A response goes to the request with its id, whatever stream it comes on. */
static void test_response_by_id(void **state)
{
	struct reply second = { 0, NULL, NULL };
	struct fake_req *get, *r1, *r2;

	(void)state;
	handshake("s1", 1);
	get = expect("GET", NULL);
	fake_open(get, 200, "text/event-stream", NULL);

	/* On the GET stream, while the call's own stream stays silent. */
	r1 = call(0);
	fake_open(r1, 200, "text/event-stream", NULL);
	answer_event(get, 999, "{}");	/* no such request: dropped */
	answer_event(get, id_of(r1), "{\"on\":\"get\"}");
	RUN_UNTIL(w.rp.calls == 1);
	assert_null(w.rp.err);
	assert_non_null(strstr(w.rp.msg, "\"on\":\"get\""));
	fake_end(r1, CURLE_OK);
	RUN_UNTIL(r1->h == NULL);

	/* Two calls answered in the other order. */
	r1 = call(0);
	connector_request(w.c, "tools/call", CALL, strlen(CALL), 0, on_reply, &second);
	r2 = r1->next;
	assert_non_null(r2);
	assert_string_equal(r2->method, "POST");
	assert_true(id_of(r2) > id_of(r1));
	answer(r2, "{\"n\":2}", NULL);
	RUN_UNTIL(second.calls == 1);
	assert_int_equal(w.rp.calls, 1);
	answer(r1, "{\"n\":1}", NULL);
	RUN_UNTIL(w.rp.calls == 2);
	assert_non_null(strstr(w.rp.msg, "\"n\":1"));
	assert_non_null(strstr(second.msg, "\"n\":2"));
	free(second.msg);
}

/* A 404 for the session: a new session, the list again, the call retried once. */
static void test_session_expired(void **state)
{
	struct fake_req *r;
	char *body;

	(void)state;
	handshake("s1", 1);
	r = call(0);
	body = xstrdup(r->body.data);
	fake_reply(r, 404, NULL, NULL, NULL);
	handshake("s2", 2);
	r = expect("POST", "\"method\":\"tools/call\"");
	assert_string_equal(r->body.data, body);
	assert_string_equal(fake_header(r, "Mcp-Session-Id"), "s2");
	answer(r, "{\"content\":[]}", NULL);
	RUN_UNTIL(w.rp.calls == 1);
	assert_null(w.rp.err);

	/* Once: the retried call's own 404 is its answer. */
	r = call(0);
	fake_reply(r, 404, NULL, NULL, NULL);
	handshake("s3", 1);
	r = expect("POST", "\"method\":\"tools/call\"");
	fake_reply(r, 404, NULL, NULL, NULL);
	RUN_UNTIL(w.rp.calls == 2);
	assert_string_equal(w.rp.err, "connector 'alpha' failed: HTTP 404 - check the url path "
			    "of the MCP endpoint");
	free(body);
}

/* A 401: the credential is fetched again and the call retried once; a second 401 is REAUTH. */
static void test_401(void **state)
{
	struct fake_req *r;

	(void)state;
	handshake("s1", 1);
	r = call(0);
	assert_string_equal(fake_header(r, "Authorization"), "Bearer tok1");
	setenv(TOKEN_VAR, "tok2", 1);
	fake_reply(r, 401, NULL, "WWW-Authenticate: Bearer\n", NULL);
	r = expect("POST", "\"method\":\"tools/call\"");
	assert_string_equal(fake_header(r, "Authorization"), "Bearer tok2");
	answer(r, "{\"content\":[]}", NULL);
	RUN_UNTIL(w.rp.calls == 1);
	assert_null(w.rp.err);

	r = call(0);
	setenv(TOKEN_VAR, "tok3", 1);
	fake_reply(r, 401, NULL, NULL, NULL);
	r = expect("POST", "\"method\":\"tools/call\"");
	assert_string_equal(fake_header(r, "Authorization"), "Bearer tok3");
	fake_reply(r, 401, NULL, NULL, NULL);
	RUN_UNTIL(w.rp.calls == 2);
	assert_non_null(strstr(w.rp.err, "connector 'alpha' needs a new credential: the credential "
			       "(env:" TOKEN_VAR ") was refused: the connector answered HTTP 401 "
			       "to a freshly fetched one"));
	assert_int_equal(connector_state(w.c), CONN_REAUTH);
}

/* A call past its deadline: notifications/cancelled upstream, an error to the caller. */
static void test_deadline(void **state)
{
	struct fake_req *r, *n;
	struct buf want = BUF_INIT;

	(void)state;
	handshake("s1", 1);
	r = call(50);
	RUN_UNTIL(w.rp.calls == 1);
	assert_non_null(strstr(w.rp.err, "timed out: connector 'alpha' did not answer within 1 s "
			       "(the request was cancelled"));
	assert_null(r->h);
	assert_true(r->aborted);
	n = expect("POST", "notifications/cancelled");
	buf_printf(&want, "\"requestId\":%lld,\"reason\":\"timed out\"", id_of(r));
	assert_non_null(strstr(n->body.data, want.data));
	fake_reply(n, 202, NULL, NULL, NULL);
	RUN_UNTIL(n->h == NULL);
	assert_int_equal(w.rp.calls, 1);
	buf_free(&want);
}

/* A cancelled call: the connector is told, the caller hears nothing more. */
static void test_cancel(void **state)
{
	struct conn_req *q;
	struct fake_req *r, *n;

	(void)state;
	handshake("s1", 1);
	q = connector_request(w.c, "tools/call", CALL, strlen(CALL), 0, on_reply, &w.rp);
	r = expect("POST", "\"method\":\"tools/call\"");
	connector_cancel(w.c, q, "the agent cancelled");
	assert_null(r->h);
	n = expect("POST", "notifications/cancelled");
	assert_non_null(strstr(n->body.data, "\"reason\":\"the agent cancelled\""));
	fake_reply(n, 202, NULL, NULL, NULL);
	RUN_UNTIL(n->h == NULL);
	assert_int_equal(w.rp.calls, 0);
}

/* A reply that holds a key twice is refused, and the caller is told why. */
static void test_duplicate_key(void **state)
{
	struct fake_req *r;

	(void)state;
	handshake("s1", 1);
	r = call(0);
	answer(r, "{\"a\":1,\"a\":2}", NULL);
	RUN_UNTIL(w.rp.calls == 1);
	assert_null(w.rp.msg);
	assert_non_null(strstr(w.rp.err, "a message with a repeated key (\"a\") was refused: it "
			       "could mean different things to different readers"));
	assert_int_equal(connector_state(w.c), CONN_READY);
}

/* No Streamable HTTP: the HTTP+SSE transport, its endpoint event and its GET stream. */
static void test_legacy(void **state)
{
	static const char post_url[] = "http://alpha.test/messages?session=abc";
	struct buf res = BUF_INIT;
	struct fake_req *r, *get;
	size_t n;

	(void)state;
	r = expect("POST", "\"method\":\"initialize\"");
	fake_reply(r, 405, NULL, NULL, NULL);
	get = expect("GET", NULL);
	assert_string_equal(get->url, URL);
	assert_null(fake_header(get, "Mcp-Session-Id"));
	fake_open(get, 200, "text/event-stream", NULL);
	fake_chunk(get, "event: endpoint\ndata: /messages?session=abc\n\n");

	r = expect("POST", "\"method\":\"initialize\"");
	assert_string_equal(r->url, post_url);
	fake_reply(r, 202, NULL, NULL, NULL);
	answer_event(get, id_of(r), init_result);
	r = expect("POST", "\"method\":\"notifications/initialized\"");
	assert_string_equal(r->url, post_url);
	fake_reply(r, 202, NULL, NULL, NULL);
	r = expect("POST", "\"method\":\"tools/list\"");
	fake_reply(r, 202, NULL, NULL, NULL);
	list_result(&res, 1, 1);
	answer_event(get, id_of(r), res.data);
	RUN_UNTIL(connector_state(w.c) == CONN_READY);
	connector_tools(w.c, &n);
	assert_int_equal(n, 1);

	r = call(0);
	assert_string_equal(r->url, post_url);
	fake_reply(r, 202, NULL, NULL, NULL);
	answer_event(get, id_of(r), "{\"via\":\"sse\"}");
	RUN_UNTIL(w.rp.calls == 1);
	assert_non_null(strstr(w.rp.msg, "\"via\":\"sse\""));
	buf_free(&res);
}

/* close: the calls in flight are dropped without a callback, the session ends with DELETE. */
static void test_close(void **state)
{
	struct conn_status st;
	struct fake_req *r, *d;

	(void)state;
	handshake("s1", 1);
	r = call(0);
	connector_close(w.c, 1000);
	assert_null(r->h);
	d = expect("DELETE", NULL);
	assert_string_equal(d->url, URL);
	assert_string_equal(fake_header(d, "Mcp-Session-Id"), "s1");
	connector_status(w.c, &st);
	assert_false(st.closed);
	fake_reply(d, 200, NULL, NULL, NULL);
	RUN_UNTIL(connector_state(w.c) == CONN_CLOSED);
	connector_status(w.c, &st);
	assert_true(st.closed);
	assert_int_equal(w.rp.calls, 0);
}

/* Each test in a world of its own. */
#define CONN_TEST(f) cmocka_unit_test_setup_teardown(f, world_up, world_down)

int main(void)
{
	const struct CMUnitTest tests[] = {
		CONN_TEST(test_handshake),
		CONN_TEST(test_reply_on_sse),
		CONN_TEST(test_response_by_id),
		CONN_TEST(test_session_expired),
		CONN_TEST(test_401),
		CONN_TEST(test_deadline),
		CONN_TEST(test_cancel),
		CONN_TEST(test_duplicate_key),
		CONN_TEST(test_legacy),
		CONN_TEST(test_close),
	};

	/* Secrets live in sodium_malloc memory, as in the program. */
	if (sodium_init() < 0)
		return 1;
	if (!getenv("MCPMUX_TEST_LOG"))
		log_quiet(1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
