/* test_sse.c - unit tests for the text/event-stream parser (src/sse.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sse.h"

#define MAX_EVENTS 64

struct rec {
	char *type;
	char *data;
	size_t data_len;
	char *id;
};

/* What the callback saw, plus knobs to make it stop parsing. */
struct log {
	struct rec ev[MAX_EVENTS];
	int n;
	int stop_at;		/* return non-zero on this event (1-based); 0 = never */
	int keep_data;		/* 0: record only the length of data (for huge events) */
	int nul_ok;		/* data[data_len] was '\0' for every event */
};

static void log_init(struct log *l)
{
	memset(l, 0, sizeof(*l));
	l->keep_data = 1;
	l->nul_ok = 1;
}

static void log_free(struct log *l)
{
	int k;

	for (k = 0; k < l->n; k++) {
		free(l->ev[k].type);
		free(l->ev[k].data);
		free(l->ev[k].id);
	}
	l->n = 0;
}

static char *dupmem(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static int on_event(const struct sse_event *ev, void *arg)
{
	struct log *l = arg;
	struct rec *r;

	assert_true(l->n < MAX_EVENTS);
	assert_non_null(ev->type);
	assert_non_null(ev->data);
	assert_non_null(ev->id);
	if (ev->data[ev->data_len] != '\0')
		l->nul_ok = 0;
	r = &l->ev[l->n++];
	r->type = strdup(ev->type);
	r->data = l->keep_data ? dupmem(ev->data, ev->data_len) : NULL;
	r->data_len = ev->data_len;
	r->id = strdup(ev->id);
	return l->stop_at && l->n == l->stop_at;
}

static void check_event(const struct log *l, int k, const char *type, const char *data,
			const char *id)
{
	assert_true(k < l->n);
	assert_string_equal(l->ev[k].type, type);
	assert_int_equal(l->ev[k].data_len, strlen(data));
	assert_memory_equal(l->ev[k].data, data, strlen(data) + 1);
	assert_string_equal(l->ev[k].id, id);
}

static void check_same(const struct log *a, const struct log *b)
{
	int k;

	assert_int_equal(a->n, b->n);
	for (k = 0; k < a->n; k++) {
		assert_string_equal(a->ev[k].type, b->ev[k].type);
		assert_int_equal(a->ev[k].data_len, b->ev[k].data_len);
		assert_memory_equal(a->ev[k].data, b->ev[k].data, a->ev[k].data_len);
		assert_string_equal(a->ev[k].id, b->ev[k].id);
	}
}

/* Feeds s[0..n) whole and returns sse_feed()'s result; the parser is left for inspection. */
static int feed_all(struct sse_parser *p, struct log *l, const char *s, size_t n)
{
	sse_init(p, on_event, l);
	return sse_feed(p, s, n);
}

#define FEED(p, l, lit) feed_all((p), (l), (lit), sizeof(lit) - 1)
/* Feeds a string literal to an initialized parser. */
#define SEND(p, lit) sse_feed((p), (lit), sizeof(lit) - 1)

/* A deterministic generator, so a failing split can be reproduced. */
static uint32_t lcg(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 16;
}

/*
 * A stream with most of the grammar in it: BOM, every line ending, comments,
 * a priming event, multi-line data, event types, ids, retry, a field without
 * a colon, an unknown field and a NUL inside data.
 */
static const char stream[] =
	"\xef\xbb\xbf"
	": keep-alive comment\r\n"
	"id: prime-1\r\nretry: 2500\r\ndata: \r\n\r\n"
	"data: {\"jsonrpc\":\"2.0\",\"id\":1}\n\n"
	"event: progress\rdata: line one\rdata:line two\r\r"
	"id: 7\r\nfoo: ignored\r\ndata\r\ndata:  indented\r\n\r\n"
	":\n"
	"data: nul\0inside\n\n"
	"event: ping\ndata: é😀\r\n\n"
	"id\ndata: last\n\n"
	"data: incomplete, never dispatched\n";

static void check_stream_events(const struct log *l)
{
	assert_int_equal(l->n, 6);
	check_event(l, 0, "message", "{\"jsonrpc\":\"2.0\",\"id\":1}", "prime-1");
	check_event(l, 1, "progress", "line one\nline two", "prime-1");
	check_event(l, 2, "message", "\n indented", "7");
	assert_int_equal(l->ev[3].data_len, 10);
	assert_memory_equal(l->ev[3].data, "nul\0inside", 10);
	assert_string_equal(l->ev[3].type, "message");
	check_event(l, 4, "ping", "é😀", "7");
	check_event(l, 5, "message", "last", "");
	assert_true(l->nul_ok);
}

static void test_stream_one_block(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, stream), 0);
	check_stream_events(&l);
	assert_int_equal(p.retry_ms, 2500);
	sse_free(&p);
	log_free(&l);
}

static void test_stream_byte_by_byte(void **state)
{
	struct sse_parser p;
	struct log whole, bytes;
	size_t k;

	(void)state;
	log_init(&whole);
	log_init(&bytes);
	assert_int_equal(FEED(&p, &whole, stream), 0);
	sse_free(&p);

	sse_init(&p, on_event, &bytes);
	for (k = 0; k < sizeof(stream) - 1; k++)
		assert_int_equal(sse_feed(&p, stream + k, 1), 0);
	check_stream_events(&bytes);
	check_same(&whole, &bytes);
	assert_int_equal(p.retry_ms, 2500);
	sse_free(&p);
	log_free(&whole);
	log_free(&bytes);
}

static void test_stream_random_chunks(void **state)
{
	struct sse_parser p;
	struct log whole, chunks;
	uint32_t seed;
	size_t k, step;

	(void)state;
	log_init(&whole);
	assert_int_equal(FEED(&p, &whole, stream), 0);
	sse_free(&p);

	/* Many fixed seeds: every split point gets hit, including inside CRLF and UTF-8. */
	for (seed = 1; seed <= 200; seed++) {
		uint32_t rng = seed;

		log_init(&chunks);
		sse_init(&p, on_event, &chunks);
		for (k = 0; k < sizeof(stream) - 1; k += step) {
			step = 1 + lcg(&rng) % 17;
			if (step > sizeof(stream) - 1 - k)
				step = sizeof(stream) - 1 - k;
			assert_int_equal(sse_feed(&p, stream + k, step), 0);
		}
		check_same(&whole, &chunks);
		sse_free(&p);
		log_free(&chunks);
	}
	log_free(&whole);
}

static void test_line_endings(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, "data: a\ndata: b\n\n"
				   "data: c\rdata: d\r\r"
				   "data: e\r\ndata: f\r\n\r\n"
				   "data: g\r\ndata: h\n\r"), 0);
	assert_int_equal(l.n, 4);
	check_event(&l, 0, "message", "a\nb", "");
	check_event(&l, 1, "message", "c\nd", "");
	check_event(&l, 2, "message", "e\nf", "");
	check_event(&l, 3, "message", "g\nh", "");
	sse_free(&p);
	log_free(&l);
}

/* "\r" then "\n" in the next feed is one line end, not a line end and a blank line. */
static void test_crlf_split_across_feeds(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	sse_init(&p, on_event, &l);
	assert_int_equal(SEND(&p, "data: a\r"), 0);
	assert_int_equal(SEND(&p, "\ndata: b\r"), 0);
	assert_int_equal(SEND(&p, "\n"), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(SEND(&p, "\r"), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(SEND(&p, "\n"), 0);
	assert_int_equal(SEND(&p, "data: c\r"), 0);
	assert_int_equal(SEND(&p, "\r"), 0);
	assert_int_equal(l.n, 2);
	check_event(&l, 0, "message", "a\nb", "");
	check_event(&l, 1, "message", "c", "");
	sse_free(&p);
	log_free(&l);
}

/* "\r\r\n" is a CR line end followed by a CRLF one: two lines. */
static void test_cr_cr_lf(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, "data: x\r\r\ndata: y\n\n"), 0);
	assert_int_equal(l.n, 2);
	check_event(&l, 0, "message", "x", "");
	check_event(&l, 1, "message", "y", "");
	sse_free(&p);
	log_free(&l);
}

static void test_multiline_data(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, "data: 1\ndata: 2\ndata\ndata: 3\n\n"
				   "data:\ndata:\n\n"), 0);
	assert_int_equal(l.n, 2);
	check_event(&l, 0, "message", "1\n2\n\n3", "");
	check_event(&l, 1, "message", "\n", "");
	sse_free(&p);
	log_free(&l);
}

static void test_comments(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, ": hello\n:\n:data: no\n\n"
				   "data: a\n: between lines\ndata: b\n\n"), 0);
	assert_int_equal(l.n, 1);
	check_event(&l, 0, "message", "a\nb", "");
	sse_free(&p);
	log_free(&l);
}

static void test_event_type(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, "event: ping\ndata: 1\n\n"
				   "data: 2\n\n"
				   "event: a\nevent: b\ndata: 3\n\n"
				   "event:\ndata: 4\n\n"
				   "event: lost\ndata:\n\ndata: 5\n\n"
				   "Event: case\ndata: 6\n\n"), 0);
	assert_int_equal(l.n, 6);
	check_event(&l, 0, "ping", "1", "");
	check_event(&l, 1, "message", "2", "");	/* the type does not persist */
	check_event(&l, 2, "b", "3", "");
	check_event(&l, 3, "message", "4", "");	/* empty type means "message" */
	check_event(&l, 4, "message", "5", "");	/* reset by the undispatched event */
	check_event(&l, 5, "message", "6", "");	/* field names are case-sensitive */
	sse_free(&p);
	log_free(&l);
}

static void test_id(void **state)
{
	struct sse_parser p;
	struct log l;
	static const char s[] =
		"id: 1\ndata: a\n\n"
		"data: b\n\n"
		"id: 2\0x\ndata: c\n\n"
		"id:3\ndata: d\n\n"
		"id\ndata: e\n\n"
		"id: 9\n\n"
		"data: f\n\n";

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, s), 0);
	assert_int_equal(l.n, 6);
	check_event(&l, 0, "message", "a", "1");
	check_event(&l, 1, "message", "b", "1");	/* persists across events */
	check_event(&l, 2, "message", "c", "1");	/* an id with NUL is ignored */
	check_event(&l, 3, "message", "d", "3");
	check_event(&l, 4, "message", "e", "");		/* "id" alone clears it */
	check_event(&l, 5, "message", "f", "9");	/* set by a data-less event */
	assert_string_equal(buf_str(&p.last_id), "9");
	sse_free(&p);
	log_free(&l);
}

static void test_retry(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	sse_init(&p, on_event, &l);
	assert_int_equal(p.retry_ms, -1);
	assert_int_equal(SEND(&p, "retry: 1500\n"), 0);
	assert_int_equal(p.retry_ms, 1500);
	assert_int_equal(SEND(&p, "retry:0\n"), 0);
	assert_int_equal(p.retry_ms, 0);
	assert_int_equal(SEND(&p, "retry: 3000\n"), 0);
	/* none of these is only digits, or it overflows: all ignored */
	assert_int_equal(SEND(&p, "retry: 15x0\n"), 0);
	assert_int_equal(SEND(&p, "retry: -1\n"), 0);
	assert_int_equal(SEND(&p, "retry: 1.5\n"), 0);
	assert_int_equal(SEND(&p, "retry:  100\n"), 0);
	assert_int_equal(SEND(&p, "retry: 100 \n"), 0);
	assert_int_equal(SEND(&p, "retry:\n"), 0);
	assert_int_equal(SEND(&p, "retry\n"), 0);
	assert_int_equal(SEND(&p, "retry: 99999999999999999999999\n"), 0);
	assert_int_equal(p.retry_ms, 3000);
	assert_int_equal(SEND(&p, "\n"), 0);
	assert_int_equal(l.n, 0);
	sse_free(&p);
	log_free(&l);
}

/* The MCP priming event: an id (and retry) with empty data is recorded, not dispatched. */
static void test_priming_event(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	sse_init(&p, on_event, &l);
	assert_int_equal(SEND(&p, "id: 42\nretry: 3000\ndata: \n\n"), 0);
	assert_int_equal(l.n, 0);
	assert_string_equal(buf_str(&p.last_id), "42");
	assert_int_equal(p.retry_ms, 3000);
	assert_int_equal(SEND(&p, "id: 43\ndata\n\n"), 0);
	assert_int_equal(l.n, 0);
	assert_string_equal(buf_str(&p.last_id), "43");
	assert_int_equal(SEND(&p, "data: x\n\n"), 0);
	assert_int_equal(l.n, 1);
	check_event(&l, 0, "message", "x", "43");
	sse_free(&p);
	log_free(&l);
}

static void test_bom(void **state)
{
	struct sse_parser p;
	struct log l;
	static const char s[] = "\xef\xbb\xbf" "data: x\n\n\xef\xbb\xbf" "data: y\n\ndata: z\n\n";
	size_t k;

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, s), 0);
	/* only a leading BOM is skipped; later it makes an unknown field name */
	assert_int_equal(l.n, 2);
	check_event(&l, 0, "message", "x", "");
	check_event(&l, 1, "message", "z", "");
	sse_free(&p);
	log_free(&l);

	log_init(&l);
	sse_init(&p, on_event, &l);
	for (k = 0; k < sizeof(s) - 1; k++)
		assert_int_equal(sse_feed(&p, s + k, 1), 0);
	assert_int_equal(l.n, 2);
	check_event(&l, 0, "message", "x", "");
	check_event(&l, 1, "message", "z", "");
	sse_free(&p);
	log_free(&l);

	/* a BOM prefix that turns out not to be one stays part of the line */
	log_init(&l);
	sse_init(&p, on_event, &l);
	assert_int_equal(SEND(&p, "\xef\xbb"), 0);
	assert_int_equal(SEND(&p, "data: no\n\ndata: yes\n\n"), 0);
	assert_int_equal(l.n, 1);
	check_event(&l, 0, "message", "yes", "");
	sse_free(&p);
	log_free(&l);

	/* no BOM at all */
	log_init(&l);
	assert_int_equal(FEED(&p, &l, "data: plain\n\n"), 0);
	assert_int_equal(l.n, 1);
	check_event(&l, 0, "message", "plain", "");
	sse_free(&p);
	log_free(&l);
}

static void test_field_without_colon(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, "data\ndata: x\n\nevent\ndata: y\n\n"
				   "data\n\nunknown\ndata: z\n\n"), 0);
	assert_int_equal(l.n, 3);
	check_event(&l, 0, "message", "\nx", "");
	check_event(&l, 1, "message", "y", "");
	check_event(&l, 2, "message", "z", "");
	sse_free(&p);
	log_free(&l);
}

static void test_space_after_colon(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, "data:  two\n\ndata:x\n\ndata: \t y \n\n"
				   "data: a: b\n\nevent:  sp\ndata: 1\n\n"), 0);
	assert_int_equal(l.n, 5);
	check_event(&l, 0, "message", " two", "");
	check_event(&l, 1, "message", "x", "");
	check_event(&l, 2, "message", "\t y ", "");
	check_event(&l, 3, "message", "a: b", "");
	check_event(&l, 4, " sp", "1", "");
	sse_free(&p);
	log_free(&l);
}

/* Nothing is dispatched until the blank line, and a partial event is never dispatched. */
static void test_incomplete(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	assert_int_equal(FEED(&p, &l, "data: x\n"), 0);
	assert_int_equal(SEND(&p, "data: y"), 0);
	assert_int_equal(sse_feed(&p, NULL, 0), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(SEND(&p, "\n\n"), 0);
	assert_int_equal(l.n, 1);
	check_event(&l, 0, "message", "x\ny", "");
	sse_free(&p);
	log_free(&l);
}

#define BIG (5u << 20)

static char *big_stream(size_t *len)
{
	static const char head[] = "id: big\ndata: ";
	size_t hl = sizeof(head) - 1, k;
	char *s = malloc(hl + BIG + 2);

	assert_non_null(s);
	memcpy(s, head, hl);
	for (k = 0; k < BIG; k++)
		s[hl + k] = (char)('a' + k % 26);
	memcpy(s + hl + BIG, "\n\n", 2);
	*len = hl + BIG + 2;
	return s;
}

static void feed_big(size_t chunk)
{
	struct sse_parser p;
	struct log l;
	size_t len, k, step;
	char *s = big_stream(&len);

	log_init(&l);
	sse_init(&p, on_event, &l);
	for (k = 0; k < len; k += step) {
		step = len - k < chunk ? len - k : chunk;
		assert_int_equal(sse_feed(&p, s + k, step), 0);
	}
	assert_int_equal(l.n, 1);
	assert_int_equal(l.ev[0].data_len, BIG);
	assert_memory_equal(l.ev[0].data, s + 14, BIG);
	assert_string_equal(l.ev[0].id, "big");
	assert_true(l.nul_ok);
	sse_free(&p);
	log_free(&l);
	free(s);
}

static void test_big_event_1000_byte_chunks(void **state)
{
	(void)state;
	feed_big(1000);
}

/*
 * 5 MiB in 64-byte chunks is ~82000 feeds: rescanning the held line on each
 * one would touch ~200 GB and take minutes, linear parsing a fraction of a
 * second (a few seconds under valgrind).
 */
static void test_big_event_is_linear(void **state)
{
	clock_t t0 = clock();

	(void)state;
	feed_big(64);
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 30.0);
}

static void test_max_event(void **state)
{
	struct sse_parser p;
	struct log l;
	char line[300];

	(void)state;
	memset(line, 'x', sizeof(line));
	memcpy(line, "data: ", 6);

	/* a single line over the cap, whole */
	log_init(&l);
	sse_init(&p, on_event, &l);
	p.max_event = 100;
	assert_int_equal(sse_feed(&p, line, 200), -1);
	sse_free(&p);

	/* the same line, arriving in pieces */
	sse_init(&p, on_event, &l);
	p.max_event = 100;
	assert_int_equal(sse_feed(&p, line, 60), 0);
	assert_int_equal(sse_feed(&p, line + 60, 60), -1);
	sse_free(&p);

	/* a complete line over the cap within one feed */
	sse_init(&p, on_event, &l);
	p.max_event = 100;
	memcpy(line + 150, "\n\n", 2);
	assert_int_equal(sse_feed(&p, line, 152), -1);
	sse_free(&p);

	/* short lines whose joined data goes over the cap */
	sse_init(&p, on_event, &l);
	p.max_event = 100;
	memcpy(line + 56, "\n", 1);
	assert_int_equal(sse_feed(&p, line, 57), 0);	/* 50 bytes of data */
	assert_int_equal(sse_feed(&p, line, 57), -1);	/* 101 */
	sse_free(&p);

	/* exactly at the cap is fine */
	sse_init(&p, on_event, &l);
	p.max_event = 100;
	memcpy(line + 56, "\n", 1);
	assert_int_equal(sse_feed(&p, line, 57), 0);
	memcpy(line + 55, "\n\n", 2);
	assert_int_equal(sse_feed(&p, line, 57), 0);	/* 50 + 1 + 49 */
	assert_int_equal(l.n, 1);
	assert_int_equal(l.ev[0].data_len, 100);
	sse_free(&p);
	log_free(&l);
}

static void test_callback_stops(void **state)
{
	struct sse_parser p;
	struct log l;

	(void)state;
	log_init(&l);
	l.stop_at = 2;
	assert_int_equal(FEED(&p, &l, "data: 1\n\ndata: 2\n\ndata: 3\n\n"), -1);
	assert_int_equal(l.n, 2);
	check_event(&l, 0, "message", "1", "");
	check_event(&l, 1, "message", "2", "");
	sse_free(&p);
	log_free(&l);

	/* the same when the stop happens inside a byte-by-byte feed */
	log_init(&l);
	l.stop_at = 1;
	sse_init(&p, on_event, &l);
	assert_int_equal(SEND(&p, "data: 1\n"), 0);
	assert_int_equal(SEND(&p, "\n"), -1);
	assert_int_equal(l.n, 1);
	sse_free(&p);
	log_free(&l);
}

static void test_no_callback(void **state)
{
	struct sse_parser p;

	(void)state;
	sse_init(&p, NULL, NULL);
	assert_int_equal(SEND(&p, "id: 5\ndata: x\n\n"), 0);
	assert_string_equal(buf_str(&p.last_id), "5");
	sse_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_one_block),
		cmocka_unit_test(test_stream_byte_by_byte),
		cmocka_unit_test(test_stream_random_chunks),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_crlf_split_across_feeds),
		cmocka_unit_test(test_cr_cr_lf),
		cmocka_unit_test(test_multiline_data),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_event_type),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_priming_event),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_field_without_colon),
		cmocka_unit_test(test_space_after_colon),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_big_event_1000_byte_chunks),
		cmocka_unit_test(test_big_event_is_linear),
		cmocka_unit_test(test_max_event),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_no_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
