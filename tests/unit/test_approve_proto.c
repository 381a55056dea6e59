/*
 * test_approve_proto.c - unit tests for the approval protocol's messages
 * (src/approve_proto.c): each message as the writers put it, byte for byte,
 * read back by the readers both sides use; and the lines that are no
 * message at all (invalid JSON, not an object, a key twice, a bad decision).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "approve_proto.h"
#include "approve_ui.h"

/* The line in b without its '\n' (which must be its last byte, and only '\n'). */
static size_t line_len(const struct buf *b)
{
	assert_true(b->len > 0);
	assert_int_equal(b->data[b->len - 1], '\n');
	assert_null(memchr(b->data, '\n', b->len - 1));
	return b->len - 1;
}

/* Member f of the message in j as a NUL-terminated string (the caller frees). */
static char *str_field(const struct json *j, enum approve_field f)
{
	struct buf b = BUF_INIT;

	assert_int_equal(json_string(j, approve_field(j, f), &b), 0);
	buf_add(&b, "", 0);
	return buf_detach(&b, NULL);
}

static long long int_field(const struct json *j, enum approve_field f)
{
	long long v;

	assert_int_equal(json_int(j, approve_field(j, f), &v), 0);
	return v;
}

static void test_hello(void **state)
{
	struct buf b = BUF_INIT;
	struct json j;
	char *s;

	json_init(&j);
	approve_put_hello(&b, 4242, "claude \"ai\" 0.9", "/home/ann/.config/mcpmux/mcpmux.ini");
	assert_string_equal(b.data, "{\"type\":\"hello\",\"protocol\":1,\"pid\":4242,"
			    "\"agent\":\"claude \\\"ai\\\" 0.9\","
			    "\"config\":\"/home/ann/.config/mcpmux/mcpmux.ini\"}\n");
	assert_int_equal(approve_msg_parse(&j, b.data, line_len(&b)), APPROVE_MSG_HELLO);
	assert_int_equal(int_field(&j, APPROVE_F_PROTOCOL), APPROVE_PROTOCOL);
	assert_int_equal(int_field(&j, APPROVE_F_PID), 4242);
	s = str_field(&j, APPROVE_F_AGENT);
	assert_string_equal(s, "claude \"ai\" 0.9");
	free(s);
	assert_int_equal(approve_field(&j, APPROVE_F_ID), -1);	/* absent */
	buf_free(&b);
	json_free(&j);
}

static void test_request(void **state)
{
	static const char args[] = "{\"title\":\"Fix login\",\"teamId\":\"ENG\"}";
	struct approve_request_msg m = {
		"17", "claude-ai 0.9.1", "linear", "linear__create_issue", "create_issue", "write",
		args, sizeof(args) - 1, 120000, 118250,
	};
	struct buf b = BUF_INIT;
	struct approve_req *r;
	struct json j;
	int conn;

	json_init(&j);
	approve_put_request(&b, &m);
	/* docs/approval-protocol.md's example, on one line. */
	assert_string_equal(b.data, "{\"type\":\"request\",\"id\":\"17\",\"agent\":\"claude-ai 0.9.1\","
			    "\"connector\":\"linear\",\"tool\":\"linear__create_issue\","
			    "\"upstream_tool\":\"create_issue\",\"label\":\"write\","
			    "\"arguments\":{\"title\":\"Fix login\",\"teamId\":\"ENG\"},"
			    "\"timeout_ms\":120000,\"remaining_ms\":118250}\n");
	assert_int_equal(approve_msg_parse(&j, b.data, line_len(&b)), APPROVE_MSG_REQUEST);
	/* What the terminal makes of it. */
	r = approve_req_new(&j, &conn, "hello agent", 1000000);
	assert_non_null(r);
	assert_string_equal(r->id, "17");
	assert_string_equal(r->agent, "claude-ai 0.9.1");
	assert_string_equal(r->connector, "linear");
	assert_string_equal(r->tool, "linear__create_issue");
	assert_string_equal(r->upstream_tool, "create_issue");
	assert_string_equal(r->label, "write");
	assert_string_equal(r->args, args);
	assert_int_equal(r->args_len, sizeof(args) - 1);
	assert_int_equal(r->deadline, 1000000 + 118250);
	assert_int_equal(r->asked, 1000000 - (120000 - 118250));
	approve_req_free(r);
	buf_free(&b);
	json_free(&j);
}

static void test_withdrawn(void **state)
{
	static const char *const reasons[] = { "allowed", "denied", "timeout", "cancelled" };
	static const enum approve_reason why[] = {
		APPROVE_WD_ALLOWED, APPROVE_WD_DENIED, APPROVE_WD_TIMEOUT, APPROVE_WD_CANCELLED,
	};
	struct buf b = BUF_INIT, want = BUF_INIT;
	struct json j;
	size_t k;
	char *s;

	json_init(&j);
	for (k = 0; k < 4; k++) {
		buf_reset(&b);
		buf_reset(&want);
		approve_put_withdrawn(&b, "17", why[k]);
		buf_printf(&want, "{\"type\":\"withdrawn\",\"id\":\"17\",\"reason\":\"%s\"}\n",
			   reasons[k]);
		assert_string_equal(b.data, want.data);
		assert_int_equal(approve_msg_parse(&j, b.data, line_len(&b)), APPROVE_MSG_WITHDRAWN);
		s = str_field(&j, APPROVE_F_ID);
		assert_string_equal(s, "17");
		free(s);
		s = str_field(&j, APPROVE_F_REASON);
		assert_string_equal(s, reasons[k]);
		free(s);
	}
	buf_free(&b);
	buf_free(&want);
	json_free(&j);
}

static void test_decision(void **state)
{
	static const char keys[] = { 'y', 'a', 'n' };
	static const char *const names[] = { "allow", "always", "deny" };
	struct buf b = BUF_INIT, want = BUF_INIT;
	struct json j;
	const char *id;
	size_t k, idn;
	char key;

	json_init(&j);
	for (k = 0; k < 3; k++) {
		buf_reset(&b);
		buf_reset(&want);
		approve_put_decision(&b, "17", keys[k]);
		buf_printf(&want, "{\"type\":\"decision\",\"id\":\"17\",\"decision\":\"%s\"}\n",
			   names[k]);
		assert_string_equal(b.data, want.data);
		key = 0;
		assert_int_equal(approve_decision_parse(&j, b.data, line_len(&b), &id, &idn, &key), 0);
		assert_int_equal(key, keys[k]);
		assert_int_equal(idn, 2);
		assert_memory_equal(id, "17", 2);
		assert_int_equal(approve_msg_parse(&j, b.data, line_len(&b)), APPROVE_MSG_DECISION);
	}
	/* An id that needs escaping: the reader gets its raw bytes, in the line. */
	buf_reset(&b);
	approve_put_decision(&b, "a\"b\n", 'y');
	assert_int_equal(approve_decision_parse(&j, b.data, line_len(&b), &id, &idn, &key), 0);
	assert_true(id > b.data && id + idn < b.data + b.len);
	assert_int_equal(idn, strlen("a\\\"b\\n"));
	assert_memory_equal(id, "a\\\"b\\n", idn);
	buf_free(&b);
	buf_free(&want);
	json_free(&j);
}

/* Lines a reader must not take for a message (or for a decision). */
static void test_refused(void **state)
{
	static const char *const none[] = {
		"",
		"not json",
		"{\"type\":\"hello\"",				/* cut short */
		"[\"type\",\"hello\"]",				/* not an object */
		"\"hello\"",
		"{}",						/* no type */
		"{\"type\":7}",					/* not a string */
		"{\"type\":\"Hello\"}",				/* unknown (case matters) */
		"{\"type\":\"goodbye\",\"id\":\"1\"}",
		"{\"type\":\"hello\",\"type\":\"request\"}",	/* a key twice */
		"{\"type\":\"request\",\"id\":\"1\",\"id\":\"2\"}",
		"{\"type\":\"decision\",\"id\":\"1\",\"decision\":\"allow\",\"decision\":\"deny\"}",
		"{\"type\":\"decision\",\"id\":\"1\",\"\\u0069d\":\"2\",\"decision\":\"deny\"}",
		"{\"type\":\"hello\"} {\"type\":\"hello\"}",	/* two values */
	};
	static const char *const not_decisions[] = {
		"{\"type\":\"decision\",\"id\":1,\"decision\":\"allow\"}",	/* id not a string */
		"{\"type\":\"decision\",\"decision\":\"allow\"}",		/* no id */
		"{\"type\":\"decision\",\"id\":\"1\"}",				/* no decision */
		"{\"type\":\"decision\",\"id\":\"1\",\"decision\":\"yes\"}",
		"{\"type\":\"decision\",\"id\":\"1\",\"decision\":\"Allow\"}",
		"{\"type\":\"decision\",\"id\":\"1\",\"decision\":true}",
		"{\"type\":\"request\",\"id\":\"1\",\"decision\":\"allow\"}",	/* not a decision */
	};
	static const char extra[] = "{\"type\":\"decision\",\"v\":2,\"id\":\"9\","
				    "\"decision\":\"deny\"}\r";
	struct json j;
	const char *id = NULL;
	size_t k, idn = 0;
	char key = 0;

	json_init(&j);
	for (k = 0; k < sizeof(none) / sizeof(none[0]); k++) {
		assert_int_equal(approve_msg_parse(&j, none[k], strlen(none[k])), APPROVE_MSG_NONE);
		assert_int_equal(approve_decision_parse(&j, none[k], strlen(none[k]), &id, &idn,
							&key), -1);
	}
	for (k = 0; k < sizeof(not_decisions) / sizeof(not_decisions[0]); k++)
		assert_int_equal(approve_decision_parse(&j, not_decisions[k],
							strlen(not_decisions[k]), &id, &idn, &key), -1);
	assert_null(id);
	assert_int_equal(key, 0);
	/* Unknown members are ignored, and so is a '\r' before the '\n' (white space). */
	assert_int_equal(approve_decision_parse(&j, extra, strlen(extra), &id, &idn, &key), 0);
	assert_int_equal(key, 'n');
	assert_memory_equal(id, "9", idn);
	json_free(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_withdrawn),
		cmocka_unit_test(test_decision),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
