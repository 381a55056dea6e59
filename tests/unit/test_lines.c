/* test_lines.c - unit tests for the line framer (src/lines.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lines.h"

#define MAX_SEEN 16

/* What the callback saw. */
struct seen {
	char *text[MAX_SEEN];	/* NULL for a too-long line */
	size_t len[MAX_SEEN];
	int n;
	int stop_at;		/* return non-zero on this line (1-based); 0 = never */
};

static int on_line(void *arg, char *line, size_t n, int too_long)
{
	struct seen *s = arg;

	assert_true(s->n < MAX_SEEN);
	if (too_long) {
		assert_null(line);
		s->text[s->n] = NULL;
	} else {
		s->text[s->n] = malloc(n + 1);
		assert_non_null(s->text[s->n]);
		memcpy(s->text[s->n], line, n + 1);
	}
	s->len[s->n] = n;
	s->n++;
	return s->n == s->stop_at;
}

static void seen_free(struct seen *s)
{
	int k;

	for (k = 0; k < s->n; k++)
		free(s->text[k]);
	memset(s, 0, sizeof(*s));
}

static void put(struct lines *l, const char *p, size_t n)
{
	memcpy(lines_space(l, n), p, n);
	lines_commit(l, n);
}

static void test_lines(void **state)
{
	struct lines l;
	struct seen s = { 0 };

	(void)state;
	lines_init(&l, 100);
	put(&l, "one\ntwo\r\nthr", 12);
	assert_int_equal(lines_take(&l, on_line, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.text[0], "one");
	assert_string_equal(s.text[1], "two");
	assert_int_equal(lines_pending(&l), 3);
	put(&l, "ee\n", 3);
	lines_take(&l, on_line, &s);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.text[2], "three");
	seen_free(&s);
	lines_free(&l);
}

/* Regression (fuzz_lines): once a big line's buffer was given back, in.data is
   NULL; taking again before new bytes came scanned from a null pointer (UB). */
static void test_take_after_buffer_given_back(void **state)
{
	const size_t big = 300u << 10;
	struct lines l;
	struct seen s = { 0 };
	char *p;

	(void)state;
	lines_init(&l, 1u << 20);
	p = lines_space(&l, big + 1);
	memset(p, 'x', big);
	p[big] = '\n';
	lines_commit(&l, big + 1);
	assert_int_equal(lines_take(&l, on_line, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.len[0], big);
	assert_int_equal(lines_pending(&l), 0);
	assert_int_equal(lines_take(&l, on_line, &s), 0);
	assert_int_equal(s.n, 1);
	put(&l, "a\n", 2);
	lines_take(&l, on_line, &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.text[1], "a");
	seen_free(&s);
	lines_free(&l);
}

/* Stopped after the first line: the second waits for the next call. */
static void test_stop_and_resume(void **state)
{
	struct lines l;
	struct seen s = { 0 };

	(void)state;
	s.stop_at = 1;
	lines_init(&l, 100);
	put(&l, "a\nb\n", 4);
	assert_int_equal(lines_take(&l, on_line, &s), 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(lines_take(&l, on_line, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.text[1], "b");
	assert_int_equal(lines_take(&l, on_line, &s), 0);
	assert_int_equal(s.n, 2);
	seen_free(&s);
	lines_free(&l);
}

/* Past the cap: reported once, with no text, and nothing of it is held. */
static void test_too_long(void **state)
{
	struct lines l;
	struct seen s = { 0 };

	(void)state;
	lines_init(&l, 4);
	put(&l, "abcdefgh", 8);
	lines_take(&l, on_line, &s);
	assert_int_equal(s.n, 0);
	assert_int_equal(lines_pending(&l), 0);
	put(&l, "ij\nok\n", 6);
	lines_take(&l, on_line, &s);
	assert_int_equal(s.n, 2);
	assert_null(s.text[0]);
	assert_string_equal(s.text[1], "ok");
	seen_free(&s);
	lines_free(&l);
}

/* Regression (fuzz_lines): a line of exactly the cap, ended by CRLF, was refused:
   the '\r' was counted as part of the line, and a '\r' arriving last made the
   framer drop the line before its '\n' came. */
static void test_cap_with_crlf(void **state)
{
	struct lines l;
	struct seen s = { 0 };

	(void)state;
	lines_init(&l, 4);
	put(&l, "abcd\r\n", 6);
	lines_take(&l, on_line, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.text[0], "abcd");
	put(&l, "efgh\r", 5);
	lines_take(&l, on_line, &s);
	assert_int_equal(s.n, 1);
	put(&l, "\nabcde\r\n", 9);
	lines_take(&l, on_line, &s);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.text[1], "efgh");
	assert_null(s.text[2]);
	seen_free(&s);
	lines_free(&l);
	lines_init(&l, 0);
	put(&l, "\r\n", 2);
	lines_take(&l, on_line, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.text[0], "");
	seen_free(&s);
	lines_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_take_after_buffer_given_back),
		cmocka_unit_test(test_stop_and_resume),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_cap_with_crlf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
