/* test_json.c - unit tests for the JSON layer (src/json.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* jsmn's own parser, compiled here: the reference json_parse() is compared with. */
#define MCPMUX_JSMN_IMPL
#define JSMN_STATIC
#include "json.h"

/* Lengths come from sizeof so that inputs may hold NUL bytes. */
struct doc {
	const char *s;
	size_t n;
};

#define DOC(lit) { (lit), sizeof(lit) - 1 }

static void check_docs(const struct doc *d, size_t count, int want_valid)
{
	size_t k;

	for (k = 0; k < count; k++) {
		int r = json_validate(d[k].s, d[k].n), depth;
		struct json j;

		if ((r == 0) != want_valid)
			fail_msg("json_validate(#%zu \"%.*s\") = %d, wanted %s", k,
				 (int)d[k].n, d[k].s, r, want_valid ? "valid" : "invalid");
		/* The tokenizing pass checks the same grammar at any depth. */
		json_init(&j);
		for (depth = 0; depth <= 3; depth++)
			if ((json_parse_top(&j, d[k].s, d[k].n, depth) == 0) != want_valid)
				fail_msg("json_parse_top(#%zu \"%.*s\", %d) disagrees with json_validate",
					 k, (int)d[k].n, d[k].s, depth);
		json_free(&j);
	}
}

/* Invalid documents must fail json_parse() as well, with no tokens left behind. */
static void check_parse_rejects(const struct doc *d, size_t count)
{
	struct json j;
	size_t k;

	json_init(&j);
	for (k = 0; k < count; k++) {
		if (json_parse(&j, d[k].s, d[k].n) != -1)
			fail_msg("json_parse(#%zu \"%.*s\") accepted", k, (int)d[k].n, d[k].s);
		assert_int_equal(json_type(&j, 0), JSMN_UNDEFINED);
	}
	json_free(&j);
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void test_validate_valid(void **state)
{
	static const struct doc d[] = {
		DOC("{}"), DOC("[]"), DOC("true"), DOC("false"), DOC("null"), DOC("\"\""),
		DOC("0"), DOC("-0"), DOC("1.5e-3"), DOC("1E+2"), DOC("1e5"), DOC("-12.25E2"),
		DOC("0.0"), DOC("-0.5e+3"), DOC("123456789012345678901234567890"),
		DOC("  {\"a\" : [1, 2.0, {\"b\": null}] , \"c\":\"d\"}  "),
		DOC("\t\r\n[ ]\n"), DOC("[[[]],[{}]]"),
		DOC("{\"a\":{\"b\":{\"c\":[true,false,null,0,\"s\",{}]}}}"),
		DOC("[true,false,null]"), DOC("{\"\":\"\"}"), DOC("{\"a\":1,\"b\":{\"a\":2}}"),
		/* every escape */
		DOC("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\uABcd \\u0000\""),
		/* multi-byte UTF-8: 2, 3 and 4 bytes, and the edges of the ranges */
		DOC("\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""),
		DOC("\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf\""),
		DOC("\"\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\""),
		DOC("{\"\xf0\x9f\x98\x80\":\"\x7f\"}"),
	};

	(void)state;
	check_docs(d, COUNT(d), 1);
}

static void test_validate_invalid(void **state)
{
	static const struct doc d[] = {
		/* structure */
		DOC("[1,]"), DOC("{\"a\":1,}"), DOC("{\"a\" 1}"), DOC("{\"a\":1 \"b\":2}"),
		DOC("[1 2]"), DOC("[,1]"), DOC("[1,,2]"), DOC("{,}"), DOC("{\"a\"}"),
		DOC("{\"a\":}"), DOC("{1:2}"), DOC("{a:1}"), DOC("[\"a\":1]"),
		DOC("["), DOC("]"), DOC("{"), DOC("}"), DOC("[}"), DOC("{]"), DOC("[[]"),
		DOC(","), DOC(":"),
		/* more than one value */
		DOC("{} {}"), DOC("1 2"), DOC("\"a\"\"b\""), DOC("[]]"), DOC("{}x"),
		/* nothing */
		DOC(""), DOC(" "), DOC("\t\n\r "),
		/* numbers */
		DOC("01"), DOC("-01"), DOC("00"), DOC("1."), DOC(".5"), DOC("+1"), DOC("-"),
		DOC("1e"), DOC("1e+"), DOC("1.e3"), DOC("0x10"), DOC("Infinity"), DOC("NaN"),
		DOC("-Infinity"), DOC("1_000"),
		/* literals and bare words */
		DOC("tru"), DOC("True"), DOC("nul"), DOC("nullx"), DOC("[nulls]"), DOC("abc"),
		DOC("undefined"),
		/* strings */
		DOC("'a'"), DOC("{'a':1}"), DOC("\"abc"), DOC("\""), DOC("\"\\\""),
		DOC("\"a\x01" "b\""), DOC("\"\t\""), DOC("\"\n\""), DOC("\"\x1f\""),
		DOC("\"\\x\""), DOC("\"\\a\""), DOC("\"\\U0041\""), DOC("\"\\u12\""),
		DOC("\"\\u12G4\""), DOC("\"\\u\""), DOC("\"\\"),
		/* NUL bytes, inside and outside strings */
		DOC("[1\0]"), DOC("\"a\0b\""), DOC("{}\0"),
	};

	(void)state;
	check_docs(d, COUNT(d), 0);
	check_parse_rejects(d, COUNT(d));
}

static void test_validate_invalid_utf8(void **state)
{
	static const struct doc d[] = {
		DOC("\"\xc0\x80\""),		/* overlong NUL */
		DOC("\"\xc1\xbf\""),		/* overlong 2-byte */
		DOC("\"\xe0\x80\x80\""),	/* overlong 3-byte */
		DOC("\"\xf0\x80\x80\x80\""),	/* overlong 4-byte */
		DOC("\"\x80\""),		/* lone continuation byte */
		DOC("\"a\xbf" "b\""),
		DOC("\"\xed\xa0\x80\""),	/* encoded surrogate U+D800 */
		DOC("\"\xed\xbf\xbf\""),	/* encoded surrogate U+DFFF */
		DOC("\"\xf4\x90\x80\x80\""),	/* U+110000 */
		DOC("\"\xf5\x80\x80\x80\""),
		DOC("\"\xff\""), DOC("\"\xfe\""),
		DOC("\"\xc3\""),		/* truncated before the closing quote */
		DOC("\"\xe2\x82\""),
		DOC("\"\xf0\x9f\x98\""),
		DOC("\"\xf0\x9f\x98"),		/* truncated at the end of the input */
		DOC("\"\xc3"),
		DOC("\"\xe2\x82 \""),		/* continuation replaced by a space */
		DOC("\xc3\xa9"),		/* UTF-8 outside a string */
		DOC("[\"a\",\"\xc0\x80\"]"),
		DOC("{\"\xc0\x80\":1}"),	/* in a key */
	};

	(void)state;
	check_docs(d, COUNT(d), 0);
	check_parse_rejects(d, COUNT(d));
}

static char *nested(int depth, const char *open, const char *inner, const char *close)
{
	struct buf b = BUF_INIT;
	int k;

	for (k = 0; k < depth; k++)
		buf_puts(&b, open);
	buf_puts(&b, inner);
	for (k = 0; k < depth; k++)
		buf_puts(&b, close);
	return buf_detach(&b, NULL);
}

static void check_depth(const char *open, const char *inner, const char *close)
{
	struct json j;
	char *ok = nested(JSON_MAX_DEPTH, open, inner, close);
	char *deep = nested(JSON_MAX_DEPTH + 1, open, inner, close);

	json_init(&j);
	assert_int_equal(json_validate(ok, strlen(ok)), 0);
	assert_int_equal(json_parse(&j, ok, strlen(ok)), 0);
	assert_int_equal(json_next(&j, 0), j.ntok);
	assert_int_equal(json_validate(deep, strlen(deep)), -1);
	assert_int_equal(json_parse(&j, deep, strlen(deep)), -1);
	json_free(&j);
	free(ok);
	free(deep);
}

static void test_validate_depth(void **state)
{
	(void)state;
	check_depth("[", "", "]");
	check_depth("[", "1", "]");
	check_depth("{\"a\":", "0", "}");
}

static const char nav_doc[] =
	"{\"name\":\"x\\\"y\",\"n\":-42,\"f\":1.5,\"t\":true,\"fa\":false,\"nu\":null,"
	"\"arr\":[1,\"two\",{\"k\":[]},[3]],\"obj\":{\"inner\":\"v\"},\"e\":\"\"}";

static void check_span(const struct json *j, int i, const char *want)
{
	size_t s, e;

	json_span(j, i, &s, &e);
	assert_true(e >= s);
	assert_int_equal(e - s, strlen(want));
	assert_memory_equal(j->js + s, want, e - s);
}

static void test_parse_navigate(void **state)
{
	struct json j;
	int i, k;

	(void)state;
	json_init(&j);
	assert_int_equal(json_parse(&j, nav_doc, sizeof(nav_doc) - 1), 0);
	assert_int_equal(json_type(&j, 0), JSMN_OBJECT);
	assert_int_equal(json_size(&j, 0), 9);
	assert_int_equal(json_next(&j, 0), j.ntok);
	check_span(&j, 0, nav_doc);

	i = json_get(&j, 0, "name");
	assert_int_equal(json_type(&j, i), JSMN_STRING);
	check_span(&j, i, "\"x\\\"y\"");	/* quotes included */
	assert_true(json_streq(&j, i, "x\"y"));	/* what it decodes to */
	assert_false(json_streq(&j, i, "x\\\"y"));	/* not its raw form */
	assert_false(json_streq(&j, i, "x"));
	assert_false(json_streq(&j, i, "x\\\"yz"));

	i = json_get(&j, 0, "e");
	check_span(&j, i, "\"\"");
	assert_true(json_streq(&j, i, ""));
	assert_false(json_is_null(&j, i));

	i = json_get(&j, 0, "arr");
	assert_int_equal(json_type(&j, i), JSMN_ARRAY);
	assert_int_equal(json_size(&j, i), 4);
	check_span(&j, i, "[1,\"two\",{\"k\":[]},[3]]");
	/* walk the elements with json_next() */
	{
		static const int types[] = { JSMN_PRIMITIVE, JSMN_STRING, JSMN_OBJECT, JSMN_ARRAY };
		static const char *const spans[] = { "1", "\"two\"", "{\"k\":[]}", "[3]" };
		int el = i + 1;

		for (k = 0; k < 4; k++) {
			assert_int_equal(json_type(&j, el), types[k]);
			check_span(&j, el, spans[k]);
			el = json_next(&j, el);
		}
		/* past the array comes the next key */
		assert_true(json_streq(&j, el, "obj"));
		assert_int_equal(json_next(&j, i), el);
	}

	i = json_get(&j, 0, "obj");
	assert_int_equal(json_type(&j, i), JSMN_OBJECT);
	assert_int_equal(json_size(&j, i), 1);
	assert_true(json_streq(&j, json_get(&j, i, "inner"), "v"));

	/* only direct members are found, and only keys, never values */
	assert_int_equal(json_get(&j, 0, "inner"), -1);
	assert_int_equal(json_get(&j, 0, "k"), -1);
	assert_int_equal(json_get(&j, 0, "v"), -1);
	assert_int_equal(json_get(&j, 0, "two"), -1);
	assert_int_equal(json_get(&j, 0, "missing"), -1);
	assert_int_equal(json_get(&j, 0, "Name"), -1);
	assert_int_equal(json_get(&j, json_get(&j, 0, "arr"), "k"), -1);	/* not an object */
	assert_int_equal(json_get(&j, -1, "name"), -1);

	/* literals */
	assert_true(json_is_true(&j, json_get(&j, 0, "t")));
	assert_false(json_is_true(&j, json_get(&j, 0, "fa")));
	assert_false(json_is_true(&j, json_get(&j, 0, "nu")));
	assert_false(json_is_true(&j, json_get(&j, 0, "n")));
	assert_false(json_is_true(&j, -1));
	assert_true(json_is_null(&j, json_get(&j, 0, "nu")));
	assert_true(json_is_null(&j, json_get(&j, 0, "missing")));
	assert_true(json_is_null(&j, -1));
	assert_false(json_is_null(&j, json_get(&j, 0, "fa")));
	assert_false(json_is_null(&j, json_get(&j, 0, "n")));
	assert_false(json_is_null(&j, json_get(&j, 0, "obj")));

	/* absent indexes */
	assert_int_equal(json_type(&j, -1), JSMN_UNDEFINED);
	assert_int_equal(json_type(&j, j.ntok), JSMN_UNDEFINED);
	assert_int_equal(json_size(&j, -1), 0);
	assert_int_equal(json_next(&j, -1), j.ntok);
	assert_false(json_streq(&j, -1, ""));

	json_free(&j);
}

static void test_parse_reuse(void **state)
{
	static const char a[] = "[1,2,3]", b[] = "{\"x\":\"y\"}", bad[] = "[1,]";
	struct json j;

	(void)state;
	json_init(&j);
	assert_int_equal(json_parse(&j, a, sizeof(a) - 1), 0);
	assert_int_equal(json_size(&j, 0), 3);
	assert_int_equal(json_parse(&j, b, sizeof(b) - 1), 0);
	assert_int_equal(json_type(&j, 0), JSMN_OBJECT);
	assert_true(json_streq(&j, json_get(&j, 0, "x"), "y"));
	/* a failed parse leaves no stale tokens behind */
	assert_int_equal(json_parse(&j, bad, sizeof(bad) - 1), -1);
	assert_int_equal(j.ntok, 0);
	assert_int_equal(json_get(&j, 0, "x"), -1);
	json_free(&j);
	json_free(&j);	/* freeing twice is harmless */
}

/* Top-level scalars and strings are JSON texts too (RFC 8259). */
static void test_parse_top_level_string(void **state)
{
	static const char s[] = "\"hi\"";
	struct json j;

	(void)state;
	json_init(&j);
	assert_int_equal(json_parse(&j, s, sizeof(s) - 1), 0);
	assert_true(json_streq(&j, 0, "hi"));
	assert_int_equal(json_parse(&j, " 42 ", 4), 0);
	assert_int_equal(json_type(&j, 0), JSMN_PRIMITIVE);
	json_free(&j);
}

/*
 * Regression (fixed bug): json_parse() refused a top-level number or literal
 * not followed by white space; jsmn in JSMN_STRICT mode returns
 * JSMN_ERROR_PART when a primitive runs to the end of the input.
 */
static void test_parse_top_level_scalar(void **state)
{
	static const char *const docs[] = { "42", "-0", "1.5e-3", "true", "false", "null", " 7" };
	struct json j;
	long long v;
	size_t k;

	(void)state;
	json_init(&j);
	for (k = 0; k < COUNT(docs); k++) {
		assert_int_equal(json_validate(docs[k], strlen(docs[k])), 0);
		if (json_parse(&j, docs[k], strlen(docs[k])) != 0)
			fail_msg("json_parse(\"%s\") = -1, json_validate() accepts it", docs[k]);
		assert_int_equal(json_type(&j, 0), JSMN_PRIMITIVE);
	}
	assert_int_equal(json_parse(&j, "42", 2), 0);
	assert_int_equal(json_int(&j, 0, &v), 0);
	assert_int_equal(v, 42);
	json_free(&j);
}

/* Parses `[...]` and returns json_int() of element k. */
static int int_at(struct json *j, int k, long long *v)
{
	int i = 1;

	while (k--)
		i = json_next(j, i);
	return json_int(j, i, v);
}

static void test_json_int(void **state)
{
	static const char doc[] =
		"[0,-0,42,-42,9223372036854775807,-9223372036854775807,"
		"9223372036854775808,99999999999999999999,-9223372036854775809,"
		"1.5,1e3,1.0,-1.5,true,null,\"5\",{},[]]";
	struct json j;
	long long v;
	int k;

	(void)state;
	json_init(&j);
	assert_int_equal(json_parse(&j, doc, sizeof(doc) - 1), 0);
	v = 7;
	assert_int_equal(int_at(&j, 0, &v), 0);
	assert_int_equal(v, 0);
	v = 7;
	assert_int_equal(int_at(&j, 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(int_at(&j, 2, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(int_at(&j, 3, &v), 0);
	assert_int_equal(v, -42);
	assert_int_equal(int_at(&j, 4, &v), 0);
	assert_true(v == 9223372036854775807LL);
	assert_int_equal(int_at(&j, 5, &v), 0);
	assert_true(v == -9223372036854775807LL);
	/* overflow, non-integers and other types are refused, leaving v alone */
	for (k = 6; k < 18; k++) {
		v = 7;
		if (int_at(&j, k, &v) != -1)
			fail_msg("json_int accepted element %d", k);
		assert_int_equal(v, 7);
	}
	assert_int_equal(json_int(&j, -1, &v), -1);
	json_free(&j);
}

/*
 * Regression (fixed bug): json_int() refused -9223372036854775808 (LLONG_MIN),
 * which fits a long long; the overflow check used the positive limit.
 */
static void test_json_int_min(void **state)
{
	static const char doc[] = "[-9223372036854775808]";
	struct json j;
	long long v = 0;

	(void)state;
	json_init(&j);
	assert_int_equal(json_parse(&j, doc, sizeof(doc) - 1), 0);
	assert_int_equal(json_int(&j, 1, &v), 0);
	assert_true(v == -9223372036854775807LL - 1);
	json_free(&j);
}

/* json_string() of the single string in `doc` (a one-element array), appended to out. */
static int unescape(const char *doc, struct buf *out)
{
	struct json j;
	int r;

	json_init(&j);
	assert_int_equal(json_parse(&j, doc, strlen(doc)), 0);
	r = json_string(&j, 1, out);
	json_free(&j);
	return r;
}

static void test_json_string(void **state)
{
	static const char want[] =
		"\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z \xc3\xa9";
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(unescape("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC"
				  "\\ud83d\\ude00\\u0000z \xc3\xa9\"]", &b), 0);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);
	assert_int_equal(b.data[b.len], '\0');

	/* a surrogate pair is one code point, four UTF-8 bytes */
	buf_reset(&b);
	assert_int_equal(unescape("[\"\\ud83d\\ude00\"]", &b), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "\xf0\x9f\x98\x80", 4);
	buf_reset(&b);
	assert_int_equal(unescape("[\"\\uD83D\\uDE00\"]", &b), 0);
	assert_memory_equal(b.data, "\xf0\x9f\x98\x80", 4);
	buf_reset(&b);
	assert_int_equal(unescape("[\"\\udbff\\udfff\"]", &b), 0);	/* U+10FFFF */
	assert_memory_equal(b.data, "\xf4\x8f\xbf\xbf", 4);
	buf_reset(&b);
	assert_int_equal(unescape("[\"\\uffff\\u07ff\\u0080\"]", &b), 0);
	assert_string_equal(b.data, "\xef\xbf\xbf\xdf\xbf\xc2\x80");

	/* json_string() appends */
	buf_reset(&b);
	buf_puts(&b, "pre:");
	assert_int_equal(unescape("[\"x\"]", &b), 0);
	assert_string_equal(b.data, "pre:x");
	buf_reset(&b);
	assert_int_equal(unescape("[\"\"]", &b), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_json_string_bad_surrogates(void **state)
{
	static const char *const docs[] = {
		"[\"\\ud83d\"]",		/* lone high */
		"[\"\\ud83dx\"]",
		"[\"a\\ud83d\\n\"]",
		"[\"\\ude00\"]",		/* lone low */
		"[\"x\\udfff\"]",
		"[\"\\ude00\\ud83d\"]",	/* reversed */
		"[\"\\ud83d\\u0041\"]",	/* high then non-low */
		"[\"\\ud83d\\ud83d\"]",	/* high then high */
		"[\"\\ud83d\\ue000\"]",
		"[\"\\ud83d\\\\ude00\"]",	/* an escaped backslash, not an escape */
	};
	struct buf b = BUF_INIT;
	size_t k;

	(void)state;
	for (k = 0; k < COUNT(docs); k++) {
		buf_reset(&b);
		if (unescape(docs[k], &b) != -1)
			fail_msg("json_string(%s) accepted", docs[k]);
	}
	buf_free(&b);
}

static void test_json_string_wrong_type(void **state)
{
	static const char doc[] = "{\"a\":1,\"b\":[\"x\"],\"c\":null}";
	struct json j;
	struct buf b = BUF_INIT;

	(void)state;
	json_init(&j);
	assert_int_equal(json_parse(&j, doc, sizeof(doc) - 1), 0);
	assert_int_equal(json_string(&j, json_get(&j, 0, "a"), &b), -1);
	assert_int_equal(json_string(&j, json_get(&j, 0, "b"), &b), -1);
	assert_int_equal(json_string(&j, json_get(&j, 0, "c"), &b), -1);
	assert_int_equal(json_string(&j, json_get(&j, 0, "zz"), &b), -1);
	assert_int_equal(json_string(&j, 0, &b), -1);
	assert_int_equal(json_string(&j, 1, &b), 0);	/* a key is a string */
	assert_string_equal(buf_str(&b), "a");
	json_free(&j);
	buf_free(&b);
}

static void check_escape(const char *in, size_t n, const char *want)
{
	struct buf b = BUF_INIT;

	json_escape(&b, in, n);
	assert_string_equal(buf_str(&b), want);
	assert_int_equal(b.len, strlen(want));
	assert_int_equal(json_validate(b.data, b.len), 0);
	buf_free(&b);
}

#define ESC(lit, want) check_escape((lit), sizeof(lit) - 1, (want))

static void test_json_escape(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	ESC("", "\"\"");
	ESC("plain / text", "\"plain / text\"");
	ESC("\x01", "\"\\u0001\"");
	ESC("\x1f\x0b", "\"\\u001f\\u000b\"");
	ESC("a\0b", "\"a\\u0000b\"");
	ESC("\x7f", "\"\x7f\"");
	ESC("\"", "\"\\\"\"");
	ESC("\\", "\"\\\\\"");
	ESC("say \"hi\"\\", "\"say \\\"hi\\\"\\\\\"");
	ESC("\n", "\"\\n\"");
	ESC("\r\t\b\f", "\"\\r\\t\\b\\f\"");
	/* valid UTF-8 goes through untouched */
	ESC("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf",
	    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"");
	/* each byte that does not start a valid sequence becomes U+FFFD */
	ESC("a\xff" "b", "\"a\\ufffdb\"");
	ESC("\x80", "\"\\ufffd\"");
	ESC("\xc3", "\"\\ufffd\"");
	ESC("\xc3" "a", "\"\\ufffda\"");
	ESC("\xc0\x80", "\"\\ufffd\\ufffd\"");
	ESC("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	ESC("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	ESC("\xe2\x82", "\"\\ufffd\\ufffd\"");
	ESC("\xf0\x9f\x98" "\xc3\xa9", "\"\\ufffd\\ufffd\\ufffd\xc3\xa9\"");

	/* appends to what is there */
	buf_puts(&b, "{\"k\":");
	json_escape_str(&b, "v\n");
	buf_putc(&b, '}');
	assert_string_equal(buf_str(&b), "{\"k\":\"v\\n\"}");
	buf_free(&b);
}

static size_t put_utf8(char *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (char)(0xc0 | (cp >> 6));
		p[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (char)(0xe0 | (cp >> 12));
		p[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		p[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | (cp >> 18));
	p[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	p[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	p[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static uint32_t lcg(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* A code point from each UTF-8 length class, never a surrogate. */
static uint32_t random_cp(uint32_t *rng)
{
	uint32_t cp;

	switch (lcg(rng) % 4) {
	case 0:
		return lcg(rng) % 0x80;
	case 1:
		return 0x80 + lcg(rng) % (0x800 - 0x80);
	case 2:
		do
			cp = 0x800 + lcg(rng) % (0x10000 - 0x800);
		while (cp >= 0xd800 && cp <= 0xdfff);
		return cp;
	default:
		return 0x10000 + lcg(rng) % (0x110000 - 0x10000);
	}
}

static void check_round_trip(const char *in, size_t n)
{
	struct buf esc = BUF_INIT, back = BUF_INIT;
	struct json j;

	json_init(&j);
	json_escape(&esc, in, n);
	assert_int_equal(json_parse(&j, esc.data, esc.len), 0);
	assert_int_equal(json_type(&j, 0), JSMN_STRING);
	assert_int_equal(json_string(&j, 0, &back), 0);
	assert_int_equal(back.len, n);
	assert_memory_equal(back.data, in, n);
	json_free(&j);
	buf_free(&esc);
	buf_free(&back);
}

static void test_escape_round_trip(void **state)
{
	char s[4 * 64];
	uint32_t seed, rng;
	size_t n, k, len;

	(void)state;
	/* every ASCII byte, NUL included */
	for (k = 0; k < 128; k++)
		s[k] = (char)k;
	check_round_trip(s, 128);
	check_round_trip("", 0);

	for (seed = 1; seed <= 2000; seed++) {
		rng = seed;
		len = lcg(&rng) % 64;
		for (n = 0, k = 0; k < len; k++)
			n += put_utf8(s + n, random_cp(&rng));
		check_round_trip(s, n);
	}
}

/* 100000 objects: parsing and walking them must be linear, not quadratic. */
static void test_large_array(void **state)
{
	const int count = 100000;
	struct buf doc = BUF_INIT, name = BUF_INIT;
	struct json j;
	char want[32];
	clock_t t0;
	long long v;
	int i, k;

	(void)state;
	buf_putc(&doc, '[');
	for (k = 0; k < count; k++)
		buf_printf(&doc, "%s{\"id\":%d,\"name\":\"item %d\",\"ok\":true}", k ? "," : "", k, k);
	buf_putc(&doc, ']');

	json_init(&j);
	t0 = clock();
	assert_int_equal(json_parse(&j, doc.data, doc.len), 0);
	assert_int_equal(json_type(&j, 0), JSMN_ARRAY);
	assert_int_equal(json_size(&j, 0), count);
	assert_int_equal(j.ntok, 1 + count * 7);
	for (i = 1, k = 0; k < count; k++, i = json_next(&j, i)) {
		assert_int_equal(json_int(&j, json_get(&j, i, "id"), &v), 0);
		assert_true(v == k);
		buf_reset(&name);
		assert_int_equal(json_string(&j, json_get(&j, i, "name"), &name), 0);
		snprintf(want, sizeof(want), "item %d", k);
		assert_string_equal(buf_str(&name), want);
		assert_true(json_is_true(&j, json_get(&j, i, "ok")));
	}
	assert_int_equal(i, j.ntok);
	assert_int_equal(json_next(&j, 0), j.ntok);
	/* ~50 ms natively and a few seconds under valgrind; quadratic takes far longer */
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 30.0);
	json_free(&j);
	buf_free(&doc);
	buf_free(&name);
}

/* Regression: json_string() of "" reserved storage but left it unterminated. */
static void test_json_string_empty_is_terminated(void **state)
{
	static const char doc[] = "[\"\"]";
	struct json j;
	struct buf b = BUF_INIT;

	(void)state;
	json_init(&j);
	assert_int_equal(json_parse(&j, doc, sizeof(doc) - 1), 0);
	assert_int_equal(json_string(&j, 1, &b), 0);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	assert_int_equal(b.data[0], '\0');
	buf_free(&b);
	json_free(&j);
}

/* A random document: nested values, escapes, UTF-8, white space. */
static void gen_value(struct buf *b, int depth, unsigned int *seed)
{
	static const char *const strs[] = {
		"", "a", "plain text", "esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t", "\\u00e9\\ud83d\\ude00",
		"caf\xc3\xa9", "\xe2\x80\xa8 line sep", "\xf0\x9f\x98\x80 emoji", "0123456789abcdefghij",
		"\x7f del",
	};
	static const char *const prims[] = { "0", "-1", "3.25", "1e9", "-0.5E-2", "true", "false", "null" };
	static const char *const ws[] = { "", " ", "\n", "\t \r\n" };
	int k = rand_r(seed) % (depth > 5 ? 3 : 5), n, i;

	buf_puts(b, ws[rand_r(seed) % 4]);
	switch (k) {
	case 0:
		buf_printf(b, "\"%s\"", strs[rand_r(seed) % COUNT(strs)]);
		break;
	case 1:
	case 2:
		buf_puts(b, prims[rand_r(seed) % COUNT(prims)]);
		break;
	case 3:
		n = rand_r(seed) % 5;
		buf_putc(b, '[');
		for (i = 0; i < n; i++) {
			if (i)
				buf_putc(b, ',');
			gen_value(b, depth + 1, seed);
		}
		buf_putc(b, ']');
		break;
	default:
		n = rand_r(seed) % 5;
		buf_putc(b, '{');
		for (i = 0; i < n; i++) {
			if (i)
				buf_putc(b, ',');
			buf_printf(b, "%s\"%s%d\"%s:", ws[rand_r(seed) % 4],
				   strs[rand_r(seed) % COUNT(strs)], i, ws[rand_r(seed) % 4]);
			gen_value(b, depth + 1, seed);
		}
		buf_putc(b, '}');
		break;
	}
	buf_puts(b, ws[rand_r(seed) % 4]);
}

/* jsmn's tokens for a document it can parse; -1 when it cannot. */
static int jsmn_tokens(const char *js, size_t len, jsmntok_t **tok, int *n)
{
	jsmn_parser p;
	unsigned int cap = 64;
	int r;

	for (;;) {
		*tok = realloc(*tok, cap * sizeof(**tok));
		assert_non_null(*tok);
		jsmn_init(&p);
		r = jsmn_parse(&p, js, len, *tok, cap);
		if (r != JSMN_ERROR_NOMEM)
			break;
		cap *= 2;
	}
	*n = r;
	return r < 1 ? -1 : 0;
}

/* json_parse() and json_parse_top() at full depth give exactly jsmn's tokens. */
static void test_parse_matches_jsmn(void **state)
{
	unsigned int seed = 20261121;
	struct json a, t;
	struct buf b = BUF_INIT;
	jsmntok_t *ref = NULL;
	int k, i, nref, compared = 0;

	(void)state;
	json_init(&a);
	json_init(&t);
	for (k = 0; k < 3000; k++) {
		size_t lead;

		buf_reset(&b);
		gen_value(&b, 0, &seed);
		assert_int_equal(json_parse(&a, b.data, b.len), 0);
		assert_int_equal(json_parse_top(&t, b.data, b.len, JSON_MAX_DEPTH), 0);
		assert_int_equal(a.ntok, t.ntok);
		/* jsmn's strict mode wants a delimiter after a top-level primitive. */
		lead = strspn(b.data, " \t\r\n");
		if (!strchr("{[\"", b.data[lead]))
			continue;
		assert_int_equal(jsmn_tokens(b.data, b.len, &ref, &nref), 0);
		compared++;
		if (nref != a.ntok)
			fail_msg("doc %d: %d tokens from jsmn, %d from json_parse: %s",
				 k, nref, a.ntok, b.data);
		for (i = 0; i < nref; i++)
			if (ref[i].type != a.tok[i].type || ref[i].start != a.tok[i].start ||
			    ref[i].end != a.tok[i].end || ref[i].size != a.tok[i].size ||
			    ref[i].parent != a.tok[i].parent ||
			    memcmp(&a.tok[i], &t.tok[i], sizeof(a.tok[i])))
				fail_msg("doc %d token %d: jsmn {%d %d %d %d %d}, json_parse {%d %d %d %d %d}: %s",
					 k, i, ref[i].type, ref[i].start, ref[i].end, ref[i].size,
					 ref[i].parent, a.tok[i].type, a.tok[i].start, a.tok[i].end,
					 a.tok[i].size, a.tok[i].parent, b.data);
	}
	assert_true(compared > 1000);
	free(ref);
	buf_free(&b);
	json_free(&a);
	json_free(&t);
}

/* The 8-bytes-at-a-time string scan: what ends a plain run, at every offset. */
static void test_string_scan_offsets(void **state)
{
	static const struct {
		const char *mid;
		int valid;
	} cases[] = {
		{ "\x7f", 1 }, { "\xc3\xa9", 1 }, { "\\n", 1 }, { "\\u0041", 1 }, { "~", 1 },
		{ " ", 1 }, { "\x1f", 0 }, { "\x01", 0 }, { "\xff", 0 }, { "\xc3", 0 },
		{ "\\", 0 }, { "\\x", 0 }, { "\"", 0 }, { "\x80", 0 }, { "\xed\xa0\x80", 0 },
	};
	char doc[64];
	size_t c, pre, post;

	(void)state;
	for (c = 0; c < COUNT(cases); c++)
		for (pre = 0; pre <= 17; pre++)
			for (post = 0; post <= 17; post++) {
				size_t n = 0, m = strlen(cases[c].mid);

				doc[n++] = '"';
				memset(doc + n, 'a', pre);
				n += pre;
				memcpy(doc + n, cases[c].mid, m);
				n += m;
				memset(doc + n, 'z', post);
				n += post;
				doc[n++] = '"';
				if ((json_validate(doc, n) == 0) != cases[c].valid)
					fail_msg("case %zu (pre %zu, post %zu): wanted %s", c, pre, post,
						 cases[c].valid ? "valid" : "invalid");
			}
}

/* Shallow tokens: the envelope of a tools/call reply, not its content. */
static void test_parse_top_shallow(void **state)
{
	static const char doc[] =
		"{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"x\"}],"
		"\"isError\":true,\"structuredContent\":{\"a\":{\"b\":1}}}}";
	static const char bad[] = "{\"id\":1,\"result\":{\"content\":[{\"text\":\"\\q\"}]}}";
	struct json j;
	long long id;
	int res, content, sc;
	size_t s, e;

	(void)state;
	json_init(&j);
	assert_int_equal(json_parse_top(&j, doc, sizeof(doc) - 1, 2), 0);
	assert_int_equal(json_int(&j, json_get(&j, 0, "id"), &id), 0);
	assert_int_equal(id, 7);
	res = json_get(&j, 0, "result");
	assert_int_equal(json_type(&j, res), JSMN_OBJECT);
	assert_int_equal(json_size(&j, res), 3);
	assert_true(json_is_true(&j, json_get(&j, res, "isError")));
	content = json_get(&j, res, "content");
	assert_int_equal(json_type(&j, content), JSMN_ARRAY);
	assert_int_equal(json_size(&j, content), 0);
	json_span(&j, content, &s, &e);
	assert_int_equal(e - s, strlen("[{\"type\":\"text\",\"text\":\"x\"}]"));
	assert_memory_equal(doc + s, "[{\"type\":\"text\",\"text\":\"x\"}]", e - s);
	sc = json_get(&j, res, "structuredContent");
	assert_int_equal(json_type(&j, sc), JSMN_OBJECT);
	assert_int_equal(json_get(&j, sc, "a"), -1);
	/* 1 root + 3 keys + 3 values + 3 keys + 3 values */
	assert_int_equal(j.ntok, 13);
	assert_int_equal(json_next(&j, 0), 13);
	/* Below the depth nothing is tokenized, but everything is checked. */
	assert_int_equal(json_parse_top(&j, bad, sizeof(bad) - 1, 2), -1);
	assert_int_equal(json_type(&j, 0), JSMN_UNDEFINED);
	json_free(&j);
}

/* A key twice in one object is refused at any depth, tokenized or not, keys
   compared as decoded text; the same key in two objects is fine. */
static void test_duplicate_keys(void **state)
{
	static const struct doc dup[] = {
		DOC("{\"a\":1,\"a\":2}"),
		DOC("{\"name\":\"x\",\"arguments\":{},\"name\":\"y\"}"),
		DOC("{\"a\":1,\"\\u0061\":2}"),
		DOC("{\"n\\u0061me\":1,\"name\":2}"),
		DOC("{\"\\/\":1,\"/\":2}"),
		DOC("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}"),
		DOC("{\"\":1,\"\":2}"),
		DOC("[{\"x\":[{\"deep\":{\"k\":1,\"k\":2}}]}]"),
		DOC("{\"params\":{\"arguments\":{\"path\":\"/safe\",\"path\":\"/etc\"}}}"),
	};
	static const struct doc ok[] = {
		DOC("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}"),
		DOC("{\"a\":1,\"A\":2,\"a \":3,\"\\u0062\":4}"),
		DOC("{\"\\ud800\\udc00\":3,\"x\":\"\\ud800 and \\udc00 in values\"}"),
		DOC("{\"\\u00e9\":1,\"e\\u0301\":2}"),
	};
	struct json j;
	size_t k;
	int depth;

	(void)state;
	json_init(&j);
	for (k = 0; k < COUNT(dup); k++) {
		assert_int_equal(json_validate(dup[k].s, dup[k].n), -1);
		for (depth = 0; depth <= JSON_MAX_DEPTH; depth += depth < 3 ? 1 : JSON_MAX_DEPTH - 3) {
			if (json_parse_top(&j, dup[k].s, dup[k].n, depth) != -1)
				fail_msg("#%zu accepted at depth %d: %s", k, depth, dup[k].s);
			assert_int_equal(j.err, JSON_ERR_DUPKEY);
			assert_int_equal(dup[k].s[j.err_at], '"');
			assert_int_equal(dup[k].s[j.err_at + j.err_len - 1], '"');
		}
	}
	check_docs(ok, COUNT(ok), 1);
	json_free(&j);
}

/* Objects past the pairwise check (more than 16 keys) go through a hash table. */
static void test_duplicate_keys_many(void **state)
{
	struct buf b = BUF_INIT;
	int n, k, at;

	(void)state;
	for (n = 2; n <= 300; n += n < 40 ? 1 : 37) {
		for (at = 0; at < n; at += n / 5 + 1) {
			buf_reset(&b);
			buf_putc(&b, '{');
			for (k = 0; k < n; k++)
				buf_printf(&b, "%s\"key%d\":%d", k ? "," : "", k, k);
			buf_putc(&b, '}');
			assert_int_equal(json_validate(b.data, b.len), 0);
			/* one more key: key `at` again, escaped */
			b.len--;
			buf_printf(&b, ",\"\\u006bey%d\":0}", at);
			if (json_validate(b.data, b.len) != -1)
				fail_msg("%d keys, key %d repeated: accepted", n, at);
		}
	}
	buf_free(&b);
}

/* json_get() and json_streq() see keys and values as decoded text. */
static void test_streq_decodes(void **state)
{
	static const char doc[] = "{\"n\\u0061me\":\"tools\\/call\",\"e\\u0301\":\"\\ud83d\\ude00\","
				  "\"nul\":\"a\\u0000b\"}";
	struct json j;

	(void)state;
	json_init(&j);
	assert_int_equal(json_parse(&j, doc, sizeof(doc) - 1), 0);
	assert_true(json_streq(&j, json_get(&j, 0, "name"), "tools/call"));
	assert_false(json_streq(&j, json_get(&j, 0, "name"), "tools\\/call"));
	assert_true(json_streq(&j, json_get(&j, 0, "e\xcc\x81"), "\xf0\x9f\x98\x80"));
	assert_int_equal(json_get(&j, 0, "\xc3\xa9"), -1);	/* no normalization */
	assert_false(json_streq(&j, json_get(&j, 0, "nul"), "a"));
	assert_int_equal(json_get(&j, 0, "nam"), -1);
	assert_int_equal(json_get(&j, 0, "namee"), -1);
	json_free(&j);
}

/* Fed in pieces, split anywhere, the scanner gives what one pass gives. */
static void check_split(const char *doc, size_t n, int maxdepth)
{
	struct json whole, part;
	struct json_scan *sc;
	size_t cut, cut2;
	int want, got, i;

	json_init(&whole);
	json_init(&part);
	want = json_parse_top(&whole, doc, n, maxdepth);
	sc = json_scan_new(&part, maxdepth);
	for (cut = 0; cut <= n; cut++) {
		for (cut2 = cut; cut2 <= n; cut2 += (n - cut) / 3 + 1) {
			json_scan_reset(sc, maxdepth);
			got = json_scan_feed(sc, doc, cut);
			if (got == 0)
				got = json_scan_feed(sc, doc, cut2);
			if (got == 0)
				got = json_scan_end(sc, doc, n);
			if (got != want)
				fail_msg("\"%.*s\" cut at %zu and %zu: %d, whole: %d", (int)n, doc, cut,
					 cut2, got, want);
			if (want) {
				assert_int_equal(part.err, whole.err);
				continue;
			}
			assert_int_equal(part.ntok, whole.ntok);
			for (i = 0; i < part.ntok; i++)
				assert_memory_equal(&part.tok[i], &whole.tok[i], sizeof(part.tok[i]));
		}
	}
	json_scan_free(sc);
	json_free(&whole);
	json_free(&part);
}

static void test_scan_pieces(void **state)
{
	static const struct doc d[] = {
		DOC("{\"jsonrpc\":\"2.0\",\"id\":12,\"result\":{\"content\":[{\"type\":\"text\","
		    "\"text\":\"caf\xc3\xa9 \\ud83d\\ude00 \\\" \\u00e9\"}],\"isError\":false}}"),
		DOC("[-0.5e+10, 0, 1E3, true, false, null, \"\", {}, []]"),
		DOC("123456"), DOC("-1.25e-7"), DOC("  true  "), DOC("\"\xf0\x9f\x98\x80\""),
		DOC("{\"a\":1,\"\\u0061\":2}"), DOC("[1,2"), DOC("[1,2]]"), DOC("{\"a\" 1}"),
		DOC("\"\xe0\x80\x80\""), DOC("\"\xf4\x90\x80\x80\""), DOC("\"\xed\xa0\x80\""),
		DOC("[01]"), DOC("[1.]"), DOC("[-]"), DOC("[1e]"), DOC("[tru]"), DOC("[nul]"),
		DOC("\"\\u12\""), DOC("\"\\x\""), DOC(""), DOC("   "), DOC("1 2"),
	};
	size_t k;
	int depth;

	(void)state;
	for (k = 0; k < COUNT(d); k++)
		for (depth = 0; depth <= 3; depth++)
			check_split(d[k].s, d[k].n, depth);
}

/* A key with a lone surrogate escape is refused (readers decode it
   differently); in a value it is allowed. */
static void test_lone_surrogate_keys(void **state)
{
	static const struct doc bad[] = {
		DOC("{\"\\ud800\":1}"), DOC("{\"a\\udc00b\":1}"), DOC("[{\"\\ud83d x\":1}]"),
		DOC("{\"\\ud800\":1,\"\\ufffd\":2}"), DOC("{\"\\ude00\\ud83d\":1}"),
	};
	static const struct doc ok[] = {
		DOC("{\"\\ud83d\\ude00\":1}"), DOC("{\"k\":\"\\ud800\"}"), DOC("[\"\\udc00\"]"),
	};
	struct json j;
	size_t k;

	(void)state;
	json_init(&j);
	for (k = 0; k < COUNT(bad); k++) {
		assert_int_equal(json_parse(&j, bad[k].s, bad[k].n), -1);
		assert_int_equal(j.err, JSON_ERR_KEY);
		assert_int_equal(bad[k].s[j.err_at], '"');
	}
	check_docs(ok, COUNT(ok), 1);
	json_free(&j);
}

/* Why a parse failed. */
static void test_parse_errors(void **state)
{
	struct json j;
	char *deep = malloc(JSON_MAX_DEPTH + 3);
	int k;

	(void)state;
	assert_non_null(deep);
	json_init(&j);
	assert_int_equal(json_parse(&j, "{\"a\":}", 6), -1);
	assert_int_equal(j.err, JSON_ERR_SYNTAX);
	for (k = 0; k < JSON_MAX_DEPTH + 1; k++)
		deep[k] = '[';
	assert_int_equal(json_parse(&j, deep, JSON_MAX_DEPTH + 1), -1);
	assert_int_equal(j.err, JSON_ERR_DEPTH);
	assert_int_equal(json_parse(&j, "{\"x\":1,\"x\":1}", 13), -1);
	assert_int_equal(j.err, JSON_ERR_DUPKEY);
	assert_int_equal(j.err_at, 7);
	assert_int_equal(j.err_len, 3);
	assert_int_equal(json_parse(&j, "{}", 2), 0);
	assert_int_equal(j.err, JSON_OK);
	json_free(&j);
	free(deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_valid),
		cmocka_unit_test(test_validate_invalid),
		cmocka_unit_test(test_validate_invalid_utf8),
		cmocka_unit_test(test_validate_depth),
		cmocka_unit_test(test_parse_navigate),
		cmocka_unit_test(test_parse_reuse),
		cmocka_unit_test(test_parse_top_level_string),
		cmocka_unit_test(test_parse_top_level_scalar),
		cmocka_unit_test(test_json_int),
		cmocka_unit_test(test_json_int_min),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_json_string_bad_surrogates),
		cmocka_unit_test(test_json_string_wrong_type),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_escape_round_trip),
		cmocka_unit_test(test_large_array),
		cmocka_unit_test(test_json_string_empty_is_terminated),
		cmocka_unit_test(test_parse_matches_jsmn),
		cmocka_unit_test(test_string_scan_offsets),
		cmocka_unit_test(test_parse_top_shallow),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_duplicate_keys_many),
		cmocka_unit_test(test_streq_decodes),
		cmocka_unit_test(test_scan_pieces),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_lone_surrogate_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
