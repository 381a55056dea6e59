/*
 * test_router.c - the router with fake connectors: catalog → policy →
 * approval → connector → reply → audit, as the agent and the audit file see it.
 *
 * The mux is built with a factory of fake connectors (mux_new_with); the
 * downstream writes into a pipe the test reads; approvals go through a fake
 * elicitation channel; the audit log is a temporary file.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "approval.h"
#include "audit.h"
#include "config.h"
#include "downstream.h"
#include "mux.h"
#include "router.h"
#include "xalloc.h"

/* --- a fake connector --- */

struct fake;

struct fake_req {
	struct fake_req *next;
	struct fake *f;
	char *method;
	char *params;
	conn_reply_cb cb;
	void *arg;
	int cancelled;
};

struct fake {
	struct connector base;
	struct conn_tool tools[2];
	size_t ntools;
	enum conn_state state;
	int settling;
	int wakes;
	struct fake_req *reqs;	/* newest first, kept until the test ends */
};

static struct fake *fakes[4];
static size_t nfakes;

static void f_start(struct connector *c, const char *caps) { (void)c; (void)caps; }

static const struct conn_tool *f_list(const struct connector *c, size_t *n)
{
	const struct fake *f = (const struct fake *)c;

	*n = f->state == CONN_READY ? f->ntools : 0;
	return f->tools;
}

static struct conn_req *f_request(struct connector *c, const char *method, const char *params,
				  size_t n, long timeout_ms, conn_reply_cb cb, void *arg)
{
	struct fake *f = (struct fake *)c;
	struct fake_req *r = xcalloc(1, sizeof(*r));

	(void)timeout_ms;
	r->f = f;
	r->method = xstrdup(method);
	r->params = xstrndup(params, n);
	r->cb = cb;
	r->arg = arg;
	r->next = f->reqs;
	f->reqs = r;
	return (struct conn_req *)r;
}

static void f_cancel(struct connector *c, struct conn_req *r, const char *reason)
{
	(void)c;
	(void)reason;
	((struct fake_req *)r)->cancelled = 1;
}

static void f_close(struct connector *c, long t) { (void)c; (void)t; }

static void f_status(const struct connector *c, struct conn_status *st)
{
	const struct fake *f = (const struct fake *)c;

	memset(st, 0, sizeof(*st));
	st->state = f->state;
	st->reason = f->state == CONN_ERROR ? "connection refused" : "";
	st->hint = f->state == CONN_ERROR ? "is the server running at that url?" : "";
	st->settling = f->settling;
	st->generation = f->state == CONN_READY;
	st->closed = 1;
}

static int f_wake(struct connector *c)
{
	((struct fake *)c)->wakes++;
	return 0;
}

static void f_destroy(struct connector *c)
{
	struct fake *f = (struct fake *)c;
	size_t i;

	while (f->reqs) {
		struct fake_req *r = f->reqs;

		f->reqs = r->next;
		free(r->method);
		free(r->params);
		free(r);
	}
	for (i = 0; i < f->ntools; i++) {
		free(f->tools[i].name);
		free(f->tools[i].json);
	}
	free(f);
}

static const struct connector_ops fake_ops = {
	.kind = "fake", .start = f_start, .list = f_list, .request = f_request,
	.cancel = f_cancel, .close = f_close, .status = f_status, .destroy = f_destroy,
	.wake = f_wake,
};

static void add_tool(struct fake *f, const char *name, int read_only)
{
	struct conn_tool *t = &f->tools[f->ntools++];
	char json[256];

	snprintf(json, sizeof(json), "{\"name\":\"%s\",\"inputSchema\":{\"type\":\"object\"}}", name);
	t->name = xstrdup(name);
	t->json = xstrdup(json);
	t->json_len = strlen(json);
	t->name_start = 8;
	t->name_end = 8 + strlen(name) + 2;
	t->read_only = read_only;
}

static struct connector *fake_new(struct loop *loop, const struct config *cfg,
				  const struct connector_cfg *c, const struct conn_events *ev,
				  struct creds *creds)
{
	struct fake *f = xcalloc(1, sizeof(*f));

	(void)loop; (void)cfg; (void)creds;
	f->base.ops = &fake_ops;
	f->base.cfg = c;
	f->base.ev = *ev;
	f->state = CONN_READY;
	add_tool(f, "get_thing", 1);
	add_tool(f, "make_thing", 0);
	fakes[nfakes++] = f;
	return &f->base;
}

/* --- a fake elicitation channel: the test answers --- */

struct question {
	void (*done)(void *ctx, int accepted);
	void *ctx;
	char *message;
	int open;
};
static struct question q;

static int el_available(void *arg) { (void)arg; return 1; }

static void *el_start(void *arg, const char *message, void (*done)(void *, int), void *ctx)
{
	(void)arg;
	free(q.message);
	q.message = xstrdup(message);
	q.done = done;
	q.ctx = ctx;
	q.open = 1;
	return &q;
}

static void el_cancel(void *arg, void *h)
{
	(void)arg;
	((struct question *)h)->open = 0;
}

/* --- the world --- */

struct world {
	char dir[64], cfgpath[96], auditpath[96];
	struct config cfg;
	struct loop *loop;
	struct mux *mux;
	struct downstream *down;
	struct approval *appr;
	struct audit *audit;
	struct router *r;
	int out[2];
	struct json j;
	struct buf line;
};

static void msg_ignored(void *arg, const struct down_msg *m) { (void)arg; (void)m; }

static int setup(void **state)
{
	struct world *w = xcalloc(1, sizeof(*w));
	struct approval_elicit_ops ops = { el_available, el_start, el_cancel, NULL };
	struct down_handler h = { msg_ignored, NULL };
	struct buf err = BUF_INIT;
	FILE *f;

	nfakes = 0;
	memset(&q, 0, sizeof(q));
	strcpy(w->dir, "/tmp/mcpmux-router-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->cfgpath, sizeof(w->cfgpath), "%s/c.ini", w->dir);
	snprintf(w->auditpath, sizeof(w->auditpath), "%s/audit.jsonl", w->dir);
	f = fopen(w->cfgpath, "w");
	assert_non_null(f);
	fprintf(f, "[mcpmux]\napprovals = elicitation\naudit_log = %s\n"
		"[connector \"one\"]\nurl = http://127.0.0.1:9/mcp\n"
		"[connector \"two\"]\nurl = http://127.0.0.1:9/mcp\n", w->auditpath);
	fclose(f);
	assert_int_equal(config_load(&w->cfg, w->cfgpath, &err), 0);
	w->loop = loop_new();
	w->mux = mux_new_with(w->loop, &w->cfg, fake_new);
	/* ready: the mux hears it as from real connectors, and builds its catalog */
	fakes[0]->base.ev.changed(&fakes[0]->base, fakes[0]->base.ev.arg);
	assert_int_equal(pipe2(w->out, O_CLOEXEC | O_NONBLOCK), 0);
	w->down = down_new(w->loop, -1, w->out[1], &h);
	ops.arg = w;
	w->appr = approval_new(w->loop, &w->cfg, &ops, &err);
	assert_non_null(w->appr);
	w->audit = audit_open(w->auditpath, &err);
	assert_non_null(w->audit);
	w->r = router_new(w->loop, w->mux, w->down, w->appr, w->audit);
	json_init(&w->j);
	buf_free(&err);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	router_free(w->r);
	approval_free(w->appr);
	down_free(w->down);
	audit_close(w->audit);
	mux_free(w->mux);
	loop_free(w->loop);
	config_free(&w->cfg);
	close(w->out[0]);
	close(w->out[1]);
	json_free(&w->j);
	buf_free(&w->line);
	unlink(w->auditpath);
	unlink(w->cfgpath);
	rmdir(w->dir);
	free(q.message);
	q.message = NULL;
	free(w);
	return 0;
}

/* Hands one message from the agent to the router. */
static enum route_result send_msg(struct world *w, const char *text, int final,
				  struct connector **wait)
{
	struct down_msg m;
	int id;
	size_t s, e;

	assert_int_equal(json_parse(&w->j, text, strlen(text)), 0);
	memset(&m, 0, sizeof(m));
	m.j = &w->j;
	id = json_get(&w->j, 0, "id");
	if (id >= 0) {
		json_span(&w->j, id, &s, &e);
		m.id = text + s;
		m.idn = e - s;
	}
	m.method = json_get(&w->j, 0, "method");
	m.params = json_get(&w->j, 0, "params");
	m.line = text;
	m.len = strlen(text);
	m.final = final;
	return router_handle(w->r, &m, wait);
}

/* What the agent got since the last call: every line, concatenated. */
static const char *agent_got(struct world *w)
{
	char chunk[4096];
	ssize_t n;
	int i;

	for (i = 0; i < 3; i++)
		loop_run_once(w->loop, 0);
	buf_reset(&w->line);
	while ((n = read(w->out[0], chunk, sizeof(chunk))) > 0)
		buf_add(&w->line, chunk, (size_t)n);
	return buf_str(&w->line);
}

static char *audit_text(struct world *w)
{
	FILE *f = fopen(w->auditpath, "r");
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;

	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b, NULL);
}

static void reply(struct fake_req *r, const char *json)
{
	struct json j;

	json_init(&j);
	assert_int_equal(json_parse(&j, json, strlen(json)), 0);
	r->cb(&r->f->base, json, strlen(json), &j, NULL, r->arg);
	json_free(&j);
}

/* --- tests --- */

static void test_read_tool_runs_and_splices(void **state)
{
	struct world *w = *state;
	struct connector *wait;
	char *audit;

	assert_int_equal(send_msg(w, "{\"jsonrpc\":\"2.0\",\"id\":\"a-7\",\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"one__get_thing\",\"arguments\":{\"x\":1}}}",
				  0, &wait), ROUTE_DONE);
	assert_non_null(fakes[0]->reqs);
	assert_null(fakes[1]->reqs);
	assert_string_equal(fakes[0]->reqs->method, "tools/call");
	/* the connector's own name, the agent's arguments as sent */
	assert_string_equal(fakes[0]->reqs->params, "{\"name\":\"get_thing\",\"arguments\":{\"x\":1}}");
	reply(fakes[0]->reqs, "{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{\"content\":[]}}");
	assert_string_equal(agent_got(w), "{\"jsonrpc\":\"2.0\",\"id\":\"a-7\",\"result\":{\"content\":[]}}\n");
	audit = audit_text(w);
	assert_non_null(strstr(audit, "\"tool\":\"one__get_thing\",\"connector\":\"one\",\"label\":\"read\","
				      "\"decision\":\"auto\",\"decided_by\":\"policy\""));
	assert_non_null(strstr(audit, "\"outcome\":\"ok\""));
	free(audit);
}

static void test_write_tool_asks_and_runs_what_was_shown(void **state)
{
	struct world *w = *state;
	struct connector *wait;
	char *audit;

	send_msg(w, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"two__make_thing\",\"arguments\":{\"title\":\"hi\"}}}", 0, &wait);
	assert_true(q.open);
	assert_null(fakes[1]->reqs);		/* nothing runs before the human says yes */
	assert_non_null(strstr(q.message, "two__make_thing"));
	assert_non_null(strstr(q.message, "\"title\":\"hi\""));
	q.open = 0;
	q.done(q.ctx, 1);
	assert_non_null(fakes[1]->reqs);
	assert_string_equal(fakes[1]->reqs->params, "{\"name\":\"make_thing\",\"arguments\":{\"title\":\"hi\"}}");
	reply(fakes[1]->reqs, "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{\"content\":[],\"isError\":true}}");
	assert_string_equal(agent_got(w),
			    "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"content\":[],\"isError\":true}}\n");
	audit = audit_text(w);
	assert_non_null(strstr(audit, "\"label\":\"write\",\"decision\":\"allowed\",\"decided_by\":\"elicitation\""));
	assert_non_null(strstr(audit, "\"outcome\":\"error\""));
	free(audit);
}

static void test_denied_never_reaches_the_connector(void **state)
{
	struct world *w = *state;
	struct connector *wait;
	char *audit;

	send_msg(w, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"one__make_thing\"}}", 0, &wait);
	assert_true(q.open);
	q.open = 0;
	q.done(q.ctx, 0);
	assert_null(fakes[0]->reqs);
	assert_non_null(strstr(agent_got(w), "\"id\":4,\"result\":{\"content\":[{\"type\":\"text\""));
	assert_non_null(strstr(buf_str(&w->line), "\"isError\":true"));
	audit = audit_text(w);
	assert_non_null(strstr(audit, "\"decision\":\"denied\""));
	assert_non_null(strstr(audit, "\"outcome\":\"denied\""));
	free(audit);
}

static void test_unknown_and_bad_params(void **state)
{
	struct world *w = *state;
	struct connector *wait;

	assert_int_equal(send_msg(w, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"nope__x\"}}", 0, &wait), ROUTE_DONE);
	assert_non_null(strstr(agent_got(w), "\"code\":-32602,\"message\":\"unknown tool: \\\"nope__x\\\"\""));
	send_msg(w, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":1}}", 0, &wait);
	assert_non_null(strstr(agent_got(w), "\"id\":6,\"error\":{\"code\":-32602"));
	send_msg(w, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"one__get_thing\",\"arguments\":[1]}}", 0, &wait);
	assert_non_null(strstr(agent_got(w), "\"id\":7,\"error\":{\"code\":-32602"));
	/* a request sent as a notification gets no answer and runs nothing */
	assert_int_equal(send_msg(w, "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"one__get_thing\"}}", 0, &wait), ROUTE_DONE);
	assert_null(fakes[0]->reqs);
	assert_string_equal(agent_got(w), "");
	/* not a routed method */
	assert_int_equal(send_msg(w, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}", 0, &wait),
			 ROUTE_NONE);
}

static void test_starting_connector_waits_then_answers(void **state)
{
	struct world *w = *state;
	struct connector *wait = NULL;
	const char *call = "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"tools/call\","
			   "\"params\":{\"name\":\"two__get_thing\"}}";

	fakes[1]->state = CONN_STARTING;
	fakes[1]->settling = 1;
	fakes[1]->base.ev.changed(&fakes[1]->base, fakes[1]->base.ev.arg);
	assert_int_equal(send_msg(w, call, 0, &wait), ROUTE_WAIT);
	assert_ptr_equal(wait, &fakes[1]->base);
	assert_string_equal(agent_got(w), "");
	/* handed back after connect_timeout: answered with what there is */
	assert_int_equal(send_msg(w, call, 1, &wait), ROUTE_DONE);
	assert_non_null(strstr(agent_got(w), "connector 'two' is reconnecting after"));
	/* down: woken once, and the reason reaches the model */
	fakes[1]->state = CONN_ERROR;
	fakes[1]->settling = 0;
	assert_int_equal(send_msg(w, call, 0, &wait), ROUTE_DONE);
	assert_int_equal(fakes[1]->wakes, 1);
	assert_non_null(strstr(agent_got(w), "connector 'two' is unavailable: connection refused - "
						 "is the server running at that url? (run `mcpmux check`"));
	assert_null(fakes[1]->reqs);
}

static void test_connector_error_and_cancel(void **state)
{
	struct world *w = *state;
	struct connector *wait;
	char *audit;

	send_msg(w, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"one__get_thing\"}}", 0, &wait);
	fakes[0]->reqs->cb(&fakes[0]->base, NULL, 0, NULL, "connector 'one' did not answer within 30 s",
			   fakes[0]->reqs->arg);
	assert_non_null(strstr(agent_got(w), "\"id\":11,\"result\":{\"content\":[{\"type\":\"text\","
						 "\"text\":\"connector 'one' did not answer within 30 s\"}],"
						 "\"isError\":true}"));
	send_msg(w, "{\"jsonrpc\":\"2.0\",\"id\":\"c\",\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"one__get_thing\"}}", 0, &wait);
	router_cancel(w->r, "\"c\"", 3);
	assert_true(fakes[0]->reqs->cancelled);
	assert_string_equal(agent_got(w), "");
	audit = audit_text(w);
	assert_non_null(strstr(audit, "\"outcome\":\"error\""));
	assert_non_null(strstr(audit, "\"outcome\":\"cancelled\""));
	free(audit);
}

static void test_shutdown_audits_what_is_in_flight(void **state)
{
	struct world *w = *state;
	struct connector *wait;
	char *audit;

	send_msg(w, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"one__make_thing\"}}", 0, &wait);
	assert_true(q.open);
	router_shutdown(w->r);
	assert_false(q.open);	/* the question is withdrawn */
	assert_string_equal(agent_got(w), "");
	audit = audit_text(w);
	assert_non_null(strstr(audit, "\"decision\":\"denied\",\"decided_by\":\"policy\""));
	assert_non_null(strstr(audit, "\"outcome\":\"cancelled\""));
	free(audit);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_tool_runs_and_splices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_tool_asks_and_runs_what_was_shown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_denied_never_reaches_the_connector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_bad_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starting_connector_waits_then_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connector_error_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_audits_what_is_in_flight, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
