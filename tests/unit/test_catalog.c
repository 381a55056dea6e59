/* test_catalog.c - exposed names: sanitizing, the 64-char budget, clashes, lookup, splicing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "catalog.h"

static struct conn_tool mk_tool(const char *name)
{
	struct conn_tool t;
	struct buf j = BUF_INIT;

	memset(&t, 0, sizeof(t));
	t.name = strdup(name);
	buf_puts(&j, "{\"name\":");
	t.name_start = j.len;
	json_escape_str(&j, name);
	t.name_end = j.len;
	buf_puts(&j, ",\"inputSchema\":{\"type\":\"object\"}}");
	t.json = buf_detach(&j, &t.json_len);
	return t;
}

static void free_tools(struct conn_tool *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].json);
	}
}

static struct connector_cfg mk_cfg(const char *alias)
{
	struct connector_cfg c;

	memset(&c, 0, sizeof(c));
	c.alias = (char *)alias;
	c.name = (char *)alias;
	return c;
}

static void test_sanitize(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	names_sanitize("a.b/c d-é_Z9", &b);
	/* é is two bytes in UTF-8: each becomes '_' */
	assert_string_equal(b.data, "a_b_c_d-___Z9");
	buf_free(&b);
}

static void test_make_plain_and_altered(void **state)
{
	struct buf b = BUF_INIT;
	int altered = -1;

	(void)state;
	names_make("linear", "create_issue", 54, &b, &altered);
	assert_string_equal(b.data, "linear__create_issue");
	assert_int_equal(altered, 0);
	buf_reset(&b);
	names_make("notion", "notion-search.v2", 54, &b, &altered);
	assert_string_equal(b.data, "notion__notion-search_v2");
	assert_int_equal(altered, 1);
	buf_free(&b);
}

static void test_shortening_is_deterministic(void **state)
{
	const char *tool = "a_really_long_tool_name_that_goes_on_and_on_and_on_forever_and_ever";
	struct buf a = BUF_INIT, b = BUF_INIT;
	int altered;

	(void)state;
	names_make("github", tool, 54, &a, &altered);
	names_make("github", tool, 54, &b, &altered);
	assert_int_equal(altered, 1);
	assert_int_equal(a.len, 54);
	assert_string_equal(a.data, b.data);
	assert_int_equal(a.data[54 - 7], '_');
	assert_memory_equal(a.data, "github__a_really_long", 21);
	buf_reset(&b);
	/* Exactly at the budget: unchanged. */
	names_make("x", "123456789", 12, &b, &altered);
	assert_string_equal(b.data, "x__123456789");
	assert_int_equal(altered, 0);
	buf_reset(&b);
	names_make("x", "1234567890", 12, &b, &altered);
	assert_int_equal(b.len, 12);
	assert_int_equal(altered, 1);
	buf_free(&a);
	buf_free(&b);
}

static void test_hash_differs_by_name(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT;

	(void)state;
	names_hashed("a", "x.y", 54, &a);
	names_hashed("a", "x_y", 54, &b);
	assert_string_not_equal(a.data, b.data);
	assert_memory_equal(a.data, "a__x_y_", 7);
	buf_free(&a);
	buf_free(&b);
}

/* "x.y" sanitizes to x_y, clashing with a real "x_y": the unaltered name wins,
   whichever order the connectors come in. */
static void test_clash_unaltered_wins(void **state)
{
	struct conn_tool t1[2], t2[1];
	struct connector_cfg c1 = mk_cfg("a");
	struct cat_source src[1], rev[1];
	struct catalog cat;
	const struct cat_entry *e;

	(void)state;
	t1[0] = mk_tool("x.y");
	t1[1] = mk_tool("x_y");
	t2[0] = mk_tool("x_y");
	src[0] = (struct cat_source){ NULL, &c1, t1, 2 };
	catalog_init(&cat);
	catalog_build_from(&cat, src, 1, "mcp__mux__");
	assert_int_equal(cat.n, 2);
	e = catalog_find(&cat, "a__x_y", 6);
	assert_non_null(e);
	assert_string_equal(e->tool->name, "x_y");
	/* The altered one got a hashed, different name that also routes. */
	assert_string_not_equal(cat.entries[0].exposed, "a__x_y");
	e = catalog_find(&cat, cat.entries[0].exposed, strlen(cat.entries[0].exposed));
	assert_non_null(e);
	assert_string_equal(e->tool->name, "x.y");
	/* Listing order stays the upstream's. */
	assert_string_equal(cat.entries[1].exposed, "a__x_y");
	(void)rev;
	catalog_free(&cat);
	free_tools(t1, 2);
	free_tools(t2, 1);
}

static void test_duplicate_upstream_tool_left_out(void **state)
{
	struct conn_tool t[2];
	struct connector_cfg c = mk_cfg("dup");
	struct cat_source src = { NULL, &c, t, 2 };
	struct catalog cat;

	(void)state;
	t[0] = mk_tool("same");
	t[1] = mk_tool("same");
	catalog_init(&cat);
	catalog_build_from(&cat, &src, 1, "");
	/* The second copy takes the hashed form of the same full name. */
	assert_int_equal(cat.n, 2);
	assert_non_null(catalog_find(&cat, "dup__same", 9));
	catalog_free(&cat);
	free_tools(t, 2);
}

static void test_budget_with_prefix(void **state)
{
	char tool[80];
	struct conn_tool t[1];
	struct connector_cfg c = mk_cfg("svc");
	struct cat_source src = { NULL, &c, t, 1 };
	struct catalog cat;

	(void)state;
	memset(tool, 'q', sizeof(tool) - 1);
	tool[sizeof(tool) - 1] = '\0';
	t[0] = mk_tool(tool);
	catalog_init(&cat);
	catalog_build_from(&cat, &src, 1, "mcp__mux__");
	assert_int_equal(cat.n, 1);
	assert_int_equal(strlen("mcp__mux__") + strlen(cat.entries[0].exposed), 64);
	catalog_free(&cat);
	free_tools(t, 1);
}

static void test_filters(void **state)
{
	struct conn_tool t[3];
	char *allow[] = { "get_*", "list" };
	char *hide[] = { "get_secret" };
	struct connector_cfg c = mk_cfg("f");
	struct cat_source src = { NULL, &c, t, 3 };
	struct catalog cat;

	(void)state;
	c.tools = allow;
	c.ntools = 2;
	c.hide = hide;
	c.nhide = 1;
	t[0] = mk_tool("get_user");
	t[1] = mk_tool("get_secret");
	t[2] = mk_tool("delete_user");
	catalog_init(&cat);
	catalog_build_from(&cat, &src, 1, "");
	assert_int_equal(cat.n, 1);
	assert_string_equal(cat.entries[0].exposed, "f__get_user");
	assert_null(catalog_find(&cat, "f__get_secret", 13));
	assert_null(catalog_find(&cat, "f__delete_user", 14));
	catalog_free(&cat);
	free_tools(t, 3);
}

static void test_write_tools_splices_name(void **state)
{
	struct conn_tool t[2];
	struct connector_cfg c = mk_cfg("s");
	struct cat_source src = { NULL, &c, t, 2 };
	struct catalog cat;
	struct buf out = BUF_INIT;

	(void)state;
	t[0] = mk_tool("one");
	t[1] = mk_tool("two");
	catalog_init(&cat);
	catalog_build_from(&cat, &src, 1, "");
	catalog_write_tools(&cat, &out);
	assert_string_equal(out.data,
		"{\"name\":\"s__one\",\"inputSchema\":{\"type\":\"object\"}},"
		"{\"name\":\"s__two\",\"inputSchema\":{\"type\":\"object\"}}");
	buf_free(&out);
	catalog_free(&cat);
	free_tools(t, 2);
}

static void test_many_tools_lookup(void **state)
{
	enum { N = 5000 };
	struct conn_tool *t = calloc(N, sizeof(*t));
	struct connector_cfg c = mk_cfg("big");
	struct cat_source src = { NULL, &c, t, N };
	struct catalog cat;
	char name[32], exposed[40];

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "tool%d", i);
		t[i] = mk_tool(name);
	}
	catalog_init(&cat);
	catalog_build_from(&cat, &src, 1, "");
	assert_int_equal(cat.n, N);
	for (int i = 0; i < N; i++) {
		snprintf(exposed, sizeof(exposed), "big__tool%d", i);
		assert_non_null(catalog_find(&cat, exposed, strlen(exposed)));
	}
	assert_null(catalog_find(&cat, "big__tool", 9));
	catalog_free(&cat);
	free_tools(t, N);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_make_plain_and_altered),
		cmocka_unit_test(test_shortening_is_deterministic),
		cmocka_unit_test(test_hash_differs_by_name),
		cmocka_unit_test(test_clash_unaltered_wins),
		cmocka_unit_test(test_duplicate_upstream_tool_left_out),
		cmocka_unit_test(test_budget_with_prefix),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_write_tools_splices_name),
		cmocka_unit_test(test_many_tools_lookup),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
