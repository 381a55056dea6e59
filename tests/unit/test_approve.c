/* test_approve.c - unit tests for the pure part of `mcpmux approve` (src/approve_ui.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "approve_ui.h"
#include "rundir.h"

/* Two brokers: only their addresses matter to the queue. */
static const int conn_a, conn_b;

/* Parses a JSON text that must be valid; the caller frees j. */
static void parse(struct json *j, const char *text)
{
	json_init(j);
	if (json_parse(j, text, strlen(text)) != 0)
		fail_msg("test input is not valid JSON: %s", text);
}

/* approve_pretty() of the whole text. */
static char *pretty(const char *text, size_t max_str, size_t max_lines, size_t *written,
		    size_t *total, int *shortened)
{
	struct json j;
	struct buf out = BUF_INIT;

	parse(&j, text);
	*written = approve_pretty(&out, &j, 0, max_str, max_lines, total, shortened);
	json_free(&j);
	return buf_detach(&out, NULL);
}

static struct approve_req *req(const void *conn, const char *text, long long now)
{
	struct json j;
	struct approve_req *r;

	parse(&j, text);
	r = approve_req_new(&j, conn, "hello agent", now);
	json_free(&j);
	return r;
}

/* A request line with this id, tool, timeout_ms and remaining_ms. */
static struct approve_req *req_timed(const void *conn, const char *id, const char *tool,
				     long long timeout, long long remaining, long long now)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"type\":\"request\",\"id\":\"%s\",\"agent\":\"claude-ai 0.9.1\","
		 "\"connector\":\"linear\",\"tool\":\"%s\",\"upstream_tool\":\"create_issue\","
		 "\"label\":\"write\",\"arguments\":{\"title\":\"Fix login\",\"teamId\":\"ENG\"},"
		 "\"timeout_ms\":%lld,\"remaining_ms\":%lld}", id, tool, timeout, remaining);
	return req(conn, text, now);
}

/* A call asked at `now` with remaining_ms to go. */
static struct approve_req *req_simple(const void *conn, const char *id, const char *tool,
				      long long remaining, long long now)
{
	return req_timed(conn, id, tool, remaining, remaining, now);
}

/* --- countdown --- */

static void test_fmt_left(void **state)
{
	static const struct {
		long long ms;
		const char *want;
	} cases[] = {
		{ -5000, "0s" }, { 0, "0s" }, { 1, "1s" }, { 999, "1s" }, { 1000, "1s" },
		{ 1001, "2s" }, { 45000, "45s" }, { 59999, "1m00s" }, { 60000, "1m00s" },
		{ 65000, "1m05s" }, { 112000, "1m52s" }, { 118250, "1m59s" }, { 120000, "2m00s" },
		{ 3599000, "59m59s" }, { 3600000, "1h00m" }, { 7500000, "2h05m" },
	};
	char out[32];
	size_t k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		approve_fmt_left(out, sizeof(out), cases[k].ms);
		if (strcmp(out, cases[k].want))
			fail_msg("approve_fmt_left(%lld) = \"%s\", wanted \"%s\"", cases[k].ms, out,
				 cases[k].want);
	}
}

/* --- pretty-printer --- */

static void test_pretty_object(void **state)
{
	size_t n, total;
	int cut;
	char *s = pretty("{\"title\":\"Fix login\",\"n\":2,\"ok\":true,\"x\":null,"
			 "\"tags\":[\"a\",\"b\"],\"o\":{\"k\":[]},\"e\":{}}", 0, 0, &n, &total, &cut);

	assert_string_equal(s,
		"{\n"
		"  \"title\": \"Fix login\",\n"
		"  \"n\": 2,\n"
		"  \"ok\": true,\n"
		"  \"x\": null,\n"
		"  \"tags\": [\n"
		"    \"a\",\n"
		"    \"b\"\n"
		"  ],\n"
		"  \"o\": {\n"
		"    \"k\": []\n"
		"  },\n"
		"  \"e\": {}\n"
		"}\n");
	assert_int_equal(n, 14);
	assert_int_equal(total, 14);
	assert_false(cut);
	free(s);
}

static void test_pretty_scalars(void **state)
{
	size_t n, total;
	int cut;
	char *s;

	s = pretty("\"just a string\"", 0, 0, &n, &total, &cut);
	assert_string_equal(s, "\"just a string\"\n");
	assert_int_equal(n, 1);
	free(s);
	s = pretty("[]", 0, 0, &n, &total, &cut);
	assert_string_equal(s, "[]\n");
	free(s);
	/* Escapes stay escaped: what the agent sent, and never a raw control character. */
	s = pretty("{\"a\":\"x\\ny\\u001b[2J\\\"\"}", 0, 0, &n, &total, &cut);
	assert_string_equal(s, "{\n  \"a\": \"x\\ny\\u001b[2J\\\"\"\n}\n");
	free(s);
}

static void test_pretty_long_string(void **state)
{
	size_t n, total;
	int cut;
	char *s;

	s = pretty("{\"body\":\"abcdefghijklmnopqrstuvwxyz\",\"t\":\"short\"}", 10, 0, &n, &total,
		   &cut);
	assert_string_equal(s,
		"{\n"
		"  \"body\": \"abcdefghij...\" (+16 chars),\n"
		"  \"t\": \"short\"\n"
		"}\n");
	assert_true(cut);
	free(s);
	/* Exactly at the limit is not cut. */
	s = pretty("[\"abcdefghij\"]", 10, 0, &n, &total, &cut);
	assert_string_equal(s, "[\n  \"abcdefghij\"\n]\n");
	assert_false(cut);
	free(s);
	/* An escape counts as one character and is never split; UTF-8 neither. */
	s = pretty("[\"\\u00e9\\n\\u00e9\\n\\u00e9\\n\"]", 3, 0, &n, &total, &cut);
	assert_string_equal(s, "[\n  \"\\u00e9\\n\\u00e9...\" (+3 chars)\n]\n");
	free(s);
	s = pretty("[\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"]", 2, 0, &n, &total, &cut);
	assert_string_equal(s, "[\n  \"\xc3\xa9\xc3\xa9...\" (+2 chars)\n]\n");
	free(s);
}

static void test_pretty_max_lines(void **state)
{
	size_t n, total;
	int cut;
	char *s = pretty("{\"a\":[1,2,3,4,5,6,7,8,9,10]}", 0, 4, &n, &total, &cut);

	assert_string_equal(s, "{\n  \"a\": [\n    1,\n    2,\n");
	assert_int_equal(n, 4);
	assert_int_equal(total, 14);	/* the full text's lines are still counted */
	assert_true(cut);
	free(s);
}

static void test_pretty_deep(void **state)
{
	struct buf text = BUF_INIT;
	size_t n, total, k;
	int cut;
	char *s;

	for (k = 0; k < 200; k++)
		buf_puts(&text, "[");
	for (k = 0; k < 200; k++)
		buf_puts(&text, "]");
	s = pretty(buf_str(&text), 0, 0, &n, &total, &cut);
	assert_int_equal(n, 399);
	free(s);
	buf_free(&text);
}

/* --- text --- */

static void test_cols_and_cut(void **state)
{
	struct buf b = BUF_INIT;
	size_t used;

	assert_int_equal(approve_cols("hello", 5), 5);
	assert_int_equal(approve_cols("\xc3\xa9t\xc3\xa9", 5), 3);		/* été */
	assert_int_equal(approve_cols("\xe6\x97\xa5\xe6\x9c\xac", 6), 4);	/* 日本: wide */
	assert_int_equal(approve_cols("e\xcc\x81", 3), 1);			/* e + combining */

	used = approve_cut(&b, "short", 5, 10);
	assert_int_equal(used, 5);
	assert_string_equal(buf_str(&b), "short");
	buf_reset(&b);
	approve_cut(&b, "abcdefghijklmnop", 16, 10);
	assert_string_equal(buf_str(&b), "abcdefg...");
	buf_reset(&b);
	/* A wide character never straddles the edge. */
	approve_cut(&b, "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5", 12, 6);
	assert_string_equal(buf_str(&b), "\xe6\x97\xa5...");
	assert_int_equal(approve_cols(b.data, b.len), 5);
	buf_reset(&b);
	/* Controls, C1, bidi overrides and invalid bytes become '?'. */
	approve_cut(&b, "a\x1b[31mb\x07\xc2\x9b" "c\xe2\x80\xae" "d\xff", 16, 80);
	assert_string_equal(buf_str(&b), "a?[31mb??c?d?");
	buf_free(&b);
}

/* --- characters that never reach the terminal raw --- */

/*
 * Test data from the Unicode standard, independent of approve_ui.c's table:
 * the format characters (General_Category = Cf) as Python's unicodedata
 * lists them (Unicode 14.0.0; python3 -c 'import unicodedata; ...
 * unicodedata.category(chr(c)) == "Cf"'), the bidi controls (PropList.txt,
 * Bidi_Control), the tags block, the variation selectors (Variation_Selector)
 * and the Mongolian free variation selectors.
 */
static const struct { unsigned int lo, hi; } hidden_classes[] = {
	/* Cf */
	{ 0x00ad, 0x00ad }, { 0x0600, 0x0605 }, { 0x061c, 0x061c }, { 0x06dd, 0x06dd },
	{ 0x070f, 0x070f }, { 0x0890, 0x0891 }, { 0x08e2, 0x08e2 }, { 0x180e, 0x180e },
	{ 0x200b, 0x200f }, { 0x202a, 0x202e }, { 0x2060, 0x2064 }, { 0x2066, 0x206f },
	{ 0xfeff, 0xfeff }, { 0xfff9, 0xfffb }, { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd },
	{ 0x13430, 0x13438 }, { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 },
	{ 0xe0020, 0xe007f },
	/* Bidi_Control */
	{ 0x061c, 0x061c }, { 0x200e, 0x200f }, { 0x202a, 0x202e }, { 0x2066, 0x2069 },
	/* the tags block */
	{ 0xe0000, 0xe007f },
	/* Variation_Selector, and the Mongolian free variation selectors */
	{ 0x180b, 0x180d }, { 0x180f, 0x180f }, { 0xfe00, 0xfe0f }, { 0xe0100, 0xe01ef },
};

/* cp as UTF-8 into s (at least 5 bytes), NUL-terminated; returns its length. */
static size_t utf8_put(char *s, unsigned int cp)
{
	size_t n;

	if (cp < 0x80) {
		s[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		s[0] = (char)(0xc0 | cp >> 6);
		s[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		s[0] = (char)(0xe0 | cp >> 12);
		s[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		s[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		s[0] = (char)(0xf0 | cp >> 18);
		s[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		s[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		s[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	s[n] = '\0';
	return n;
}

/* What approve_cut() makes of the one character cp, between two letters. */
static void cut_one(struct buf *b, unsigned int cp)
{
	char s[8];
	size_t n;

	s[0] = 'x';
	n = 1 + utf8_put(s + 1, cp);
	s[n++] = 'y';
	buf_reset(b);
	approve_cut(b, s, n, 80);
}

static void test_hidden_classes(void **state)
{
	static const unsigned int kept[] = { 0x301, 0x628, 0x65e5, 0x1f600, 0xe01f0 };
	struct buf b = BUF_INIT;
	unsigned int cp, bad = 0;
	size_t k;

	for (k = 0; k < sizeof(hidden_classes) / sizeof(hidden_classes[0]); k++) {
		for (cp = hidden_classes[k].lo; cp <= hidden_classes[k].hi; cp++) {
			cut_one(&b, cp);
			if (strcmp(buf_str(&b), "x?y") != 0) {
				if (bad++ < 20)
					print_message("U+%04X is not made '?'\n", cp);
			}
		}
	}
	if (bad)
		fail_msg("%u invisible or reordering characters reach the terminal raw", bad);
	/* Ordinary text stays as it is. */
	for (cp = 0x20; cp < 0x250; cp++) {
		if (cp == 0x7f)
			cp = 0xa0;
		if (cp == 0xad)
			continue;
		cut_one(&b, cp);
		if (buf_str(&b)[1] == '?' && cp != '?')
			fail_msg("U+%04X became '?'", cp);
	}
	/* Combining acute, Arabic letter, CJK, an emoji, past the last selector. */
	for (k = 0; k < sizeof(kept) / sizeof(kept[0]); k++) {
		cut_one(&b, kept[k]);
		if (buf_str(&b)[1] == '?')
			fail_msg("U+%04X became '?'", kept[k]);
	}
	buf_free(&b);
}

/* --- who may approve (src/rundir.c) --- */

static long stat_ppid(const char *text)
{
	return rundir_stat_ppid(text, strlen(text));
}

static void test_stat_ppid(void **state)
{
	assert_int_equal(stat_ppid("4242 (node) S 17 4242 17 0 -1 4194560 ...\n"), 17);
	/* COMM may hold spaces, parentheses and what looks like the next fields. */
	assert_int_equal(stat_ppid("4242 (a b) S 1 2) R 99 ) S 18 4242 0\n"), 18);
	assert_int_equal(stat_ppid("4242 ()) S 19 1 1\n"), 19);
	assert_int_equal(stat_ppid("4242 (x\n) Z 20 0\n"), 20);
	assert_int_equal(stat_ppid("1 (init) S 0 1 1 0\n"), 0);
	/* Anything else does not parse. */
	assert_int_equal(stat_ppid(""), -1);
	assert_int_equal(stat_ppid("4242 node S 17 4242"), -1);
	assert_int_equal(stat_ppid("4242 (node) S"), -1);
	assert_int_equal(stat_ppid("4242 (node) S -5 1"), -1);
	assert_int_equal(stat_ppid("4242 (node) S 17"), -1);		/* cut short */
	assert_int_equal(stat_ppid("4242 (node)  S 17 1"), -1);
	assert_int_equal(stat_ppid("4242 (node) S 99999999999999999999999 1"), -1);
}

static void test_descends_from(void **state)
{
	long me = (long)getpid(), parent = (long)getppid();

	assert_int_equal(rundir_descends_from(me, me), 1);
	assert_int_equal(rundir_descends_from(me, parent), 1);
	assert_int_equal(rundir_descends_from(parent, me), 0);
	assert_int_equal(rundir_descends_from(1, me), 0);
	/* No such process: not known, so not trusted. */
	assert_int_equal(rundir_descends_from(0x7ffffffe, 1), -1);
}

/* --- requests and the queue --- */

static void test_req_new(void **state)
{
	struct approve_req *r = req_simple(&conn_a, "17", "linear__create_issue", 118250, 1000);

	assert_non_null(r);
	assert_string_equal(r->id, "17");
	assert_string_equal(r->agent, "claude-ai 0.9.1");
	assert_string_equal(r->connector, "linear");
	assert_string_equal(r->tool, "linear__create_issue");
	assert_string_equal(r->upstream_tool, "create_issue");
	assert_string_equal(r->label, "write");
	assert_string_equal(r->args, "{\"title\":\"Fix login\",\"teamId\":\"ENG\"}");
	assert_string_equal(r->pretty, "{\n  \"title\": \"Fix login\",\n  \"teamId\": \"ENG\"\n}\n");
	assert_int_equal(r->deadline, 1000 + 118250);
	assert_false(r->shortened);
	approve_req_free(r);
}

static void test_req_defaults(void **state)
{
	struct approve_req *r;

	/* No string id: nothing to answer to, so no request. */
	assert_null(req(&conn_a, "{\"type\":\"request\"}", 0));
	assert_null(req(&conn_a, "{\"type\":\"request\",\"id\":17}", 0));
	r = req(&conn_a, "{\"type\":\"request\",\"id\":\"x\\u0041\",\"timeout_ms\":5000}", 100);
	assert_non_null(r);
	assert_string_equal(r->id, "xA");
	assert_string_equal(r->agent, "hello agent");	/* from the broker's hello */
	assert_string_equal(r->tool, "?");
	assert_string_equal(r->args, "{}");
	assert_string_equal(r->pretty, "{}\n");
	assert_int_equal(r->deadline, 5100);		/* timeout_ms when remaining_ms is absent */
	approve_req_free(r);
	r = req(&conn_a, "{\"id\":\"y\",\"arguments\":null,\"remaining_ms\":-3}", 100);
	assert_string_equal(r->args, "{}");
	assert_int_equal(r->deadline, 100);
	approve_req_free(r);
	r = req(&conn_a, "{\"id\":\"z\",\"remaining_ms\":\"soon\"}", 100);
	assert_int_equal(r->deadline, -1);
	approve_req_free(r);
	/* Empty strings are strings. */
	r = req(&conn_a, "{\"id\":\"\",\"agent\":\"\",\"tool\":\"\"}", 100);
	assert_non_null(r);
	assert_string_equal(r->id, "");
	assert_string_equal(r->agent, "");
	assert_string_equal(r->tool, "");
	approve_req_free(r);
}

static void test_req_big_args(void **state)
{
	struct buf text = BUF_INIT;
	struct approve_req *r;
	size_t k;

	buf_puts(&text, "{\"id\":\"1\",\"arguments\":{\"items\":[");
	for (k = 0; k < 1000; k++)
		buf_printf(&text, "%s%zu", k ? "," : "", k);
	buf_puts(&text, "]}}");
	r = req(&conn_a, buf_str(&text), 0);
	assert_int_equal(r->pretty_lines, APPROVE_MAX_LINES);
	assert_int_equal(r->total_lines, 1004);
	assert_true(r->shortened);
	approve_req_free(r);
	buf_free(&text);
}

/* The queue's ids, in order, joined by spaces. */
static void queue_ids(const struct approve_queue *q, char *out, size_t size)
{
	const struct approve_req *r;

	out[0] = '\0';
	for (r = q->head; r; r = r->next) {
		if (out[0])
			strncat(out, " ", size - strlen(out) - 1);
		strncat(out, r->conn == &conn_a ? "a" : "b", size - strlen(out) - 1);
		strncat(out, r->id, size - strlen(out) - 1);
	}
}

static void test_queue_order(void **state)
{
	struct approve_queue q;
	char ids[128];

	approve_queue_init(&q);
	approve_queue_add(&q, req_simple(&conn_a, "1", "t1", 60000, 0));
	approve_queue_add(&q, req_simple(&conn_b, "1", "t2", 60000, 0));	/* same id, other broker */
	approve_queue_add(&q, req_simple(&conn_a, "2", "t3", 60000, 0));
	approve_queue_add(&q, req_simple(&conn_a, "1", "dup", 60000, 0));	/* sent twice: ignored */
	queue_ids(&q, ids, sizeof(ids));
	assert_string_equal(ids, "a1 b1 a2");
	assert_int_equal(q.n, 3);
	assert_string_equal(q.head->tool, "t1");
	assert_non_null(approve_queue_find(&q, &conn_b, "1"));
	assert_null(approve_queue_find(&q, &conn_b, "2"));

	/* Withdrawn: only that broker's id goes. */
	assert_int_equal(approve_queue_remove(&q, &conn_a, "1"), 1);
	assert_int_equal(approve_queue_remove(&q, &conn_a, "1"), 0);
	queue_ids(&q, ids, sizeof(ids));
	assert_string_equal(ids, "b1 a2");

	/* A broker that went away takes its calls along. */
	approve_queue_add(&q, req_simple(&conn_b, "7", "t4", 60000, 0));
	assert_int_equal(approve_queue_drop_conn(&q, &conn_b), 2);
	queue_ids(&q, ids, sizeof(ids));
	assert_string_equal(ids, "a2");
	assert_int_equal(q.n, 1);
	approve_queue_free(&q);
	assert_null(q.head);
	assert_int_equal(q.n, 0);
}

/* Calls already waiting in two brokers line up by when they were asked. */
static void test_queue_asked_order(void **state)
{
	struct approve_queue q;
	char ids[128];

	approve_queue_init(&q);
	/* Attached to a first: its calls arrive first, but were asked later. */
	approve_queue_add(&q, req_timed(&conn_a, "1", "t", 120000, 119000, 5000));	/* at 4000 */
	approve_queue_add(&q, req_timed(&conn_a, "2", "t", 120000, 119500, 5000));	/* 4500 */
	approve_queue_add(&q, req_timed(&conn_b, "1", "t", 120000, 100000, 5000));	/* -15000 */
	approve_queue_add(&q, req_timed(&conn_b, "2", "t", 120000, 119200, 5000));	/* 4200 */
	/* Asked just now, and with no times at all: last. */
	approve_queue_add(&q, req_timed(&conn_b, "3", "t", 120000, 120000, 6000));
	approve_queue_add(&q, req(&conn_a, "{\"id\":\"3\"}", 6000));
	queue_ids(&q, ids, sizeof(ids));
	assert_string_equal(ids, "b1 a1 b2 a2 b3 a3");
	assert_int_equal(q.head->asked, -15000);
	approve_queue_free(&q);
}

static void test_queue_expire_and_tick(void **state)
{
	struct approve_queue q;
	char ids[128];

	approve_queue_init(&q);
	assert_int_equal(approve_queue_next_tick(&q, 0), -1);
	approve_queue_add(&q, req_simple(&conn_a, "1", "t", 1500, 0));
	approve_queue_add(&q, req_simple(&conn_a, "2", "t", 60500, 0));	/* same phase */
	approve_queue_add(&q, req(&conn_a, "{\"id\":\"3\"}", 0));	/* no deadline */
	/* 1500 ms left shows "2s" until 1000 ms are left: 500 ms from now. */
	assert_int_equal(approve_queue_next_tick(&q, 0), 500);
	assert_int_equal(approve_queue_next_tick(&q, 500), 1000);
	/* Past its deadline, it waits the grace for the broker's withdrawn. */
	assert_int_equal(approve_queue_next_tick(&q, 1500 + 1000), 1000);
	assert_int_equal(approve_queue_expire(&q, 1500 + APPROVE_EXPIRE_GRACE_MS - 1), 0);
	assert_int_equal(approve_queue_expire(&q, 1500 + APPROVE_EXPIRE_GRACE_MS), 1);
	queue_ids(&q, ids, sizeof(ids));
	assert_string_equal(ids, "a2 a3");
	assert_int_equal(approve_queue_expire(&q, 1000000000), 1);
	queue_ids(&q, ids, sizeof(ids));
	assert_string_equal(ids, "a3");
	approve_queue_free(&q);
}

static void test_history(void **state)
{
	struct approve_history h = { { NULL }, { 0 } };

	approve_history_add(&h, 1, "allowed once: %s", "t1");
	assert_string_equal(h.line[0], "allowed once: t1");
	assert_null(h.line[1]);
	approve_history_add(&h, 0, "denied: %s", "t2");
	approve_history_add(&h, 1, "allowed once: %s", "t3");
	approve_history_add(&h, 0, "denied: %s", "t4");
	assert_string_equal(h.line[0], "denied: t2");
	assert_string_equal(h.line[1], "allowed once: t3");
	assert_string_equal(h.line[2], "denied: t4");
	assert_false(h.good[0]);
	assert_true(h.good[1]);
	approve_history_free(&h);
	assert_null(h.line[0]);
}

/* --- the screen --- */

/* Every row fits the width, there are at most `height` rows, styles match rows. */
static void check_screen(const struct approve_screen *s)
{
	const char *p = buf_str(&s->text), *nl;
	size_t rows = 0;

	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		if (approve_cols(p, (size_t)(nl - p)) > s->width)
			fail_msg("row %zu is wider than %zu: \"%.*s\"", rows, s->width, (int)(nl - p), p);
		rows++;
	}
	assert_int_equal(rows, s->rows);
	assert_int_equal(s->style.len, s->rows);
	assert_true(rows <= s->height);
}

static int has(const struct approve_screen *s, const char *text)
{
	return strstr(buf_str(&s->text), text) != NULL;
}

#define assert_has(scr, str) \
	do { \
		if (!has((scr), (str))) \
			fail_msg("\"%s\" is not on the screen:\n%s", (str), buf_str(&(scr)->text)); \
	} while (0)
#define assert_has_not(scr, str) \
	do { \
		if (has((scr), (str))) \
			fail_msg("\"%s\" is on the screen:\n%s", (str), buf_str(&(scr)->text)); \
	} while (0)

static void test_render_waiting(void **state)
{
	struct approve_queue q;
	struct approve_history h = { { NULL }, { 0 } };
	struct approve_screen s;
	const char *servers[] = { "pid 4242  claude-ai 0.9.1", "pid 4300  cursor 1.2" };
	const char *dirs[] = { "/run/user/1000/mcpmux", "/tmp/mcpmux-1000" };
	struct approve_view v = { .q = &q, .hist = &h, .dirs = dirs, .ndirs = 2 };

	approve_queue_init(&q);
	approve_screen_init(&s, 80, 24);
	approve_render(&s, &v);
	check_screen(&s);
	assert_has(&s, "no mcpmux serve running yet; waiting...");
	assert_has(&s, "watching /run/user/1000/mcpmux\n");
	assert_has(&s, "     and /tmp/mcpmux-1000\n");
	v.servers = servers;
	v.nservers = 2;
	v.notice = "removed a stale socket: serve-1.sock";
	approve_history_add(&h, 1, "allowed once: linear__create_issue");
	approve_render(&s, &v);
	check_screen(&s);
	assert_has_not(&s, "no mcpmux serve running yet");
	assert_has(&s, "pid 4242  claude-ai 0.9.1");
	assert_has(&s, "pid 4300  cursor 1.2");
	assert_has(&s, "allowed once: linear__create_issue");
	assert_has(&s, "removed a stale socket");
	/* After the serves exited: not "not running yet". */
	v.servers = NULL;
	v.nservers = 0;
	v.nexited = 1;
	v.last_exited = 4242;
	approve_render(&s, &v);
	check_screen(&s);
	assert_has_not(&s, "no mcpmux serve running yet");
	assert_has(&s, "the mcpmux serve (pid 4242) exited; waiting for one to start...");
	v.nexited = 2;
	approve_render(&s, &v);
	assert_has(&s, "2 mcpmux serves exited (the last: pid 4242); waiting for one to start...");
	approve_screen_free(&s);
	approve_history_free(&h);
}

static void test_render_request(void **state)
{
	struct approve_queue q;
	struct approve_history h = { { NULL }, { 0 } };
	struct approve_screen s;
	struct approve_view v = { .q = &q, .hist = &h, .now = 8000 };

	approve_queue_init(&q);
	approve_queue_add(&q, req_simple(&conn_a, "17", "linear__create_issue", 120000, 0));
	approve_queue_add(&q, req_simple(&conn_b, "3", "github__create_pr", 60000, 0));
	approve_screen_init(&s, 80, 24);
	approve_render(&s, &v);
	check_screen(&s);
	assert_has(&s, "2 calls waiting");
	assert_has(&s, "claude-ai 0.9.1 wants to call linear__create_issue");
	assert_has(&s, "connector: linear");
	assert_has(&s, "label: write");
	assert_has(&s, "time left: 1m52s");
	assert_has(&s, "\"title\": \"Fix login\",");
	assert_has(&s, "\"teamId\": \"ENG\"");
	assert_has(&s, "allow once");
	assert_has(&s, "deny");
	assert_has(&s, "next: github__create_pr (linear) 52s left");
	assert_has_not(&s, "press v");	/* nothing was shortened */
	approve_screen_free(&s);
	approve_queue_free(&q);
}

static void test_render_cut_string_only(void **state)
{
	struct approve_queue q;
	struct approve_screen s;
	struct buf text = BUF_INIT;
	struct approve_view v = { .q = &q };
	size_t k;

	approve_queue_init(&q);
	buf_puts(&text, "{\"id\":\"1\",\"tool\":\"t\",\"arguments\":{\"body\":\"");
	for (k = 0; k < 200; k++)
		buf_putc(&text, 'x');
	buf_puts(&text, "\"}}");
	approve_queue_add(&q, req(&conn_a, buf_str(&text), 0));
	approve_screen_init(&s, 80, 24);
	approve_render(&s, &v);
	check_screen(&s);
	/* Every line fits: the string's own marker says it was cut, no extra row. */
	assert_has(&s, "...\" (+80 chars)");
	assert_has(&s, "\n    }\n");
	assert_has_not(&s, "more line");
	approve_screen_free(&s);
	approve_queue_free(&q);
	buf_free(&text);
}

static void test_render_long_args(void **state)
{
	struct approve_queue q;
	struct approve_screen s;
	struct buf text = BUF_INIT;
	struct approve_view v = { .q = &q };
	size_t k;

	approve_queue_init(&q);
	buf_puts(&text, "{\"id\":\"1\",\"tool\":\"notion__update_page\",\"remaining_ms\":1000,"
		 "\"arguments\":{\"body\":\"");
	for (k = 0; k < 500; k++)
		buf_putc(&text, (char)('a' + k % 26));
	buf_puts(&text, "\",\"items\":[");
	for (k = 0; k < 100; k++)
		buf_printf(&text, "%s%zu", k ? "," : "", k);
	buf_puts(&text, "]}}");
	approve_queue_add(&q, req(&conn_a, buf_str(&text), 0));
	for (k = 0; k < 9; k++)
		approve_queue_add(&q, req_simple(&conn_b, (char[]){ (char)('0' + k), 0 }, "t", 1000, 0));
	approve_screen_init(&s, 80, 24);
	approve_render(&s, &v);
	check_screen(&s);
	assert_int_equal(s.rows, 24);
	assert_has(&s, "notion__update_page");
	assert_has(&s, "(+380 chars)");
	assert_has(&s, "more lines - press v to view all");
	assert_has(&s, "allow once");
	assert_has(&s, "      ... and 6 more");

	/* v: the whole text, scrollable; the scroll position is clamped to the end. */
	{
		struct approve_req *r = q.head;
		struct json j;
		struct buf full = BUF_INIT;
		size_t total;
		int cut;

		parse(&j, r->args);
		approve_pretty(&full, &j, 0, 0, 0, &total, &cut);
		json_free(&j);
		assert_false(cut);
		v.full = buf_str(&full);
		approve_render(&s, &v);
		check_screen(&s);
		assert_has(&s, "arguments of notion__update_page");
		assert_has(&s, "rows 1-22 of");
		assert_has(&s, "zabcdefghijklmnopqrstuvwxyzabcdefghijklmnop");
		v.scroll = 100000;
		approve_render(&s, &v);
		check_screen(&s);
		assert_true(v.scroll < 200);
		assert_has(&s, "    99\n  ]\n}\n");
		buf_free(&full);
	}
	approve_screen_free(&s);
	approve_queue_free(&q);
	buf_free(&text);
}

static void test_render_narrow(void **state)
{
	struct approve_queue q;
	struct approve_history h = { { NULL }, { 0 } };
	struct approve_screen s;
	struct approve_view v = { .q = &q, .hist = &h, .notice = "a notice" };
	size_t w, hgt;

	approve_queue_init(&q);
	approve_queue_add(&q, req(&conn_a, "{\"id\":\"1\",\"agent\":\"\xe6\x97\xa5\xe6\x97\xa5\xe6\x97"
				  "\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5 agent\",\"tool\":\""
				  "a_rather_long_tool_name_that_goes_on_and_on_and_on\","
				  "\"arguments\":{\"k\":\"v\"},\"remaining_ms\":9000}", 0));
	approve_queue_add(&q, req_simple(&conn_b, "2", "t2", 5000, 0));
	approve_history_add(&h, 0, "denied: something");
	for (w = 1; w <= 100; w += 7) {
		for (hgt = 1; hgt <= 30; hgt += 3) {
			approve_screen_init(&s, w, hgt);
			approve_render(&s, &v);
			check_screen(&s);
			approve_screen_free(&s);
		}
	}
	approve_screen_init(&s, 40, 12);
	approve_render(&s, &v);
	check_screen(&s);
	assert_has(&s, "[y] allow once  [a] always  [n] deny");
	assert_has(&s, "a notice");
	approve_screen_free(&s);
	approve_history_free(&h);
	approve_queue_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_left),
		cmocka_unit_test(test_pretty_object),
		cmocka_unit_test(test_pretty_scalars),
		cmocka_unit_test(test_pretty_long_string),
		cmocka_unit_test(test_pretty_max_lines),
		cmocka_unit_test(test_pretty_deep),
		cmocka_unit_test(test_cols_and_cut),
		cmocka_unit_test(test_hidden_classes),
		cmocka_unit_test(test_stat_ppid),
		cmocka_unit_test(test_descends_from),
		cmocka_unit_test(test_req_new),
		cmocka_unit_test(test_req_defaults),
		cmocka_unit_test(test_req_big_args),
		cmocka_unit_test(test_queue_order),
		cmocka_unit_test(test_queue_asked_order),
		cmocka_unit_test(test_queue_expire_and_tick),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_render_waiting),
		cmocka_unit_test(test_render_request),
		cmocka_unit_test(test_render_cut_string_only),
		cmocka_unit_test(test_render_long_args),
		cmocka_unit_test(test_render_narrow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
