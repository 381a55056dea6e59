/*
 * test_downstream.c - JSON-RPC over stdio: framing, the envelope checks,
 * what reaches the handler, mcpmux's own requests and their answers, and
 * output (splicing, back-pressure), through pipes and the real loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "downstream.h"
#include "loop.h"
#include "xalloc.h"

#define MAX_TURNS 1000

struct world {
	struct loop *l;
	struct downstream *d;
	int in[2], out[2];
	struct buf got;		/* what the agent read */
	int nmsg;		/* messages the handler saw */
	char method[64];	/* the last one's method */
	char id[64];		/* ...and its raw id ("" for a notification) */
	int final;
	int answers;		/* answers to our requests */
	char answer_ctx[16];
	int replay;		/* the handler hands the message back once (down_redispatch) */
};

static void on_message(void *arg, const struct down_msg *m)
{
	struct world *w = arg;
	size_t s, e;

	w->nmsg++;
	s = (size_t)m->j->tok[m->method].start;	/* a string token: without its quotes */
	e = (size_t)m->j->tok[m->method].end;
	snprintf(w->method, sizeof(w->method), "%.*s", (int)(e - s), m->j->js + s);
	snprintf(w->id, sizeof(w->id), "%.*s", (int)m->idn, m->id ? m->id : "");
	w->final = m->final;
	if (w->replay && !m->final) {
		w->replay = 0;
		down_redispatch(w->d, m->line, m->len);
	}
}

static int setup(void **state)
{
	struct world *w = xcalloc(1, sizeof(*w));
	struct down_handler h = { on_message, NULL };

	assert_int_equal(pipe2(w->in, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(pipe2(w->out, O_CLOEXEC | O_NONBLOCK), 0);
	w->l = loop_new();
	h.arg = w;
	w->d = down_new(w->l, w->in[0], w->out[1], &h);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	down_free(w->d);
	loop_free(w->l);
	close(w->in[0]);
	close(w->in[1]);
	close(w->out[0]);
	close(w->out[1]);
	buf_free(&w->got);
	free(w);
	return 0;
}

static void agent_writes(struct world *w, const char *text)
{
	assert_int_equal(write(w->in[1], text, strlen(text)), (ssize_t)strlen(text));
}

static void on_stop_soon(void *arg)
{
	down_stop(arg);
}

/* Runs down_run() for a moment: it reads what the agent wrote, then stops. */
static void turn(struct world *w)
{
	char chunk[65536];
	ssize_t n;

	loop_timer_add(w->l, 20, on_stop_soon, w->d);
	assert_int_equal(down_run(w->d), 0);
	down_drain(w->d, 5000);	/* whatever the stop left queued */
	while ((n = read(w->out[0], chunk, sizeof(chunk))) > 0)
		buf_add(&w->got, chunk, (size_t)n);
}

static const char *agent_reads(struct world *w)
{
	turn(w);
	return buf_str(&w->got);
}

static void test_requests_reach_the_handler(void **state)
{
	struct world *w = *state;

	agent_writes(w, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0031\",\"method\":\"tools/list\"}\r\n"
		     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
	turn(w);
	assert_int_equal(w->nmsg, 2);
	assert_string_equal(w->method, "notifications/initialized");
	assert_string_equal(w->id, "");
	assert_string_equal(buf_str(&w->got), "");	/* nothing answered here */
}

static void test_bad_envelopes_answered_here(void **state)
{
	struct world *w = *state;
	const char *got;

	agent_writes(w, "not json\n"
		     "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]\n"
		     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"method\":\"tools/call\"}\n"
		     "{\"jsonrpc\":\"1.0\",\"id\":3,\"method\":\"ping\"}\n"
		     "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}\n"
		     "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":7}\n"
		     "{\"jsonrpc\":\"2.0\",\"id\":5}\n");
	got = agent_reads(w);
	assert_int_equal(w->nmsg, 0);
	assert_non_null(strstr(got, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"));
	assert_non_null(strstr(got, "batches are not supported"));
	/* a repeated key is refused: what mcpmux checks must be what goes on */
	assert_non_null(strstr(got, "\"code\":-32600,\"message\":\"invalid request: the key \\\"method\\\" "
				    "appears twice in one object"));
	assert_non_null(strstr(got, "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32600,"));
	assert_non_null(strstr(got, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
				    "\"message\":\"invalid request: not a JSON-RPC 2.0 message\"}}"));
	assert_non_null(strstr(got, "\"id\":4,\"error\":{\"code\":-32600,\"message\":\"invalid request: "
				    "method must be a string\"}"));
	assert_non_null(strstr(got, "\"id\":5,\"error\":{\"code\":-32600,\"message\":\"invalid request: "
				    "no method\"}"));
}

static void test_redispatch_is_final(void **state)
{
	struct world *w = *state;

	w->replay = 1;
	agent_writes(w, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\"}\n");
	turn(w);
	assert_int_equal(w->nmsg, 2);
	assert_true(w->final);
	assert_string_equal(w->id, "9");
}

static void on_answer_never(void *ctx, const struct json *j, int id)
{
	(void)ctx;
	(void)j;
	(void)id;
	fail_msg("the answer to a withdrawn request reached its callback");
}

static void on_answer_ok(void *ctx, const struct json *j, int id)
{
	struct world *w = ctx;

	(void)id;
	w->answers++;
	assert_true(json_get(j, 0, "result") >= 0);
}

static void test_own_requests_and_their_answers(void **state)
{
	struct world *w = *state;
	struct down_outreq *a = down_outreq_new(w->d, on_answer_ok, w);
	struct down_outreq *b = down_outreq_new(w->d, on_answer_never, w);
	char line[256], ida[48], idb[48];

	snprintf(ida, sizeof(ida), "%s", down_outreq_id(a));
	snprintf(idb, sizeof(idb), "%s", down_outreq_id(b));
	/* unpredictable: "mcpmux-" and 32 hex digits, never the same twice */
	assert_int_equal(strlen(ida), 7 + 32);
	assert_int_equal(strncmp(ida, "mcpmux-", 7), 0);
	assert_string_not_equal(ida, idb);
	/* b is withdrawn: the agent hears it, and a late answer is dropped */
	down_outreq_withdraw(w->d, b, "decided elsewhere");
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"result\":{}}\n"
		 "{\"jsonrpc\":\"2.0\",\"id\":\"mcpmux-guessed\",\"result\":{}}\n"
		 "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"result\":{}}\n", idb, ida);
	agent_writes(w, line);
	turn(w);
	assert_int_equal(w->answers, 1);	/* a's, once; not b's, not a guess */
	assert_int_equal(w->nmsg, 0);
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
		 "\"params\":{\"requestId\":\"%s\",\"reason\":\"decided elsewhere\"}}\n", idb);
	assert_string_equal(buf_str(&w->got), line);
	/* answered once: a second answer under a's id is dropped too */
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"result\":{}}\n", ida);
	agent_writes(w, line);
	turn(w);
	assert_int_equal(w->answers, 1);
}

static void test_splice_and_output(void **state)
{
	struct world *w = *state;
	const char *reply = "{\"jsonrpc\":\"2.0\",\"id\":41,\"result\":{\"ok\":true}}";
	struct buf own = BUF_INIT;

	down_result(w->d, "\"r\"", 3, "{}");
	down_error(w->d, NULL, 0, -32601, "method \"x\" not found");
	/* id 41 (bytes 22..24) becomes the agent's "a-7", from a copy and from its own buffer */
	down_splice(w->d, reply, strlen(reply), 22, 24, "\"a-7\"", 5, NULL);
	buf_puts(&own, reply);
	down_splice(w->d, own.data, own.len, 22, 24, "8", 1, &own);
	assert_null(own.data);	/* taken */
	assert_string_equal(agent_reads(w),
			    "{\"jsonrpc\":\"2.0\",\"id\":\"r\",\"result\":{}}\n"
			    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32601,"
			    "\"message\":\"method \\\"x\\\" not found\"}}\n"
			    "{\"jsonrpc\":\"2.0\",\"id\":\"a-7\",\"result\":{\"ok\":true}}\n"
			    "{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{\"ok\":true}}\n");
}

/* An agent that stops reading: past 8 MiB waiting, connectors' input is held; read, it goes on. */
static void test_back_pressure(void **state)
{
	struct world *w = *state;
	struct buf big = BUF_INIT;
	char chunk[65536];
	int i, k;

	buf_puts(&big, "\"");
	for (i = 0; i < (1 << 20); i++)
		buf_putc(&big, 'x');
	buf_puts(&big, "\"");
	for (i = 0; i < 10; i++)
		down_result(w->d, "1", 1, big.data);
	for (k = 0; k < MAX_TURNS && !loop_input_held(w->l); k++)
		loop_run_once(w->l, 10);
	assert_true(loop_input_held(w->l));
	/* the agent reads everything: the hold is released */
	for (k = 0; k < MAX_TURNS && loop_input_held(w->l); k++) {
		while (read(w->out[0], chunk, sizeof(chunk)) > 0)
			;
		loop_run_once(w->l, 10);
	}
	assert_false(loop_input_held(w->l));
	buf_free(&big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_requests_reach_the_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_envelopes_answered_here, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redispatch_is_final, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_requests_and_their_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_splice_and_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
