/*
 * test_creds.c - the credential cache (src/creds.c), the reference parser
 * (src/credref.c) and the secret helpers (src/secret.c).
 *
 * The vault is tests/unit/fake_vault.c (FAKES_creds in the Makefile): reads
 * are answered by the test. Time is the test's: creds_set_clock() makes the
 * cache read now_ms, which only the test moves, so no threshold depends on
 * how fast the machine is. The cache's own timers are all 0 ms ("on the
 * next turn"); turns() runs them with loop_run_once(loop, 0).
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

#include "config.h"
#include "credref.h"
#include "creds.h"
#include "localstore.h"
#include "log.h"
#include "loop.h"
#include "secret.h"
#include "fake_vault.h"
#include "unit_tmpdir.h"

#define T0		1000000		/* the clock at the start of each test */
#define TTL		300000		/* [vault] cache_ttl */
#define ENV_VAR		"MCPMUX_TEST_CREDS_TOKEN"
#define KV		"vault:kv/data/mcp/gh#token"

static int64_t now_ms;

static int64_t test_clock(void)
{
	return now_ms;
}

struct world {
	struct loop *loop;
	struct config cfg;
	struct creds *c;
	char dir[64];		/* a temporary directory, "" when none was made */
};

/* What a waiter was told. */
struct rec {
	int calls;
	int ok;
	char err[512];
};

static int in_fetch;		/* creds_fetch() is running */

static void on_done(int ok, const char *err, void *arg)
{
	struct rec *r = arg;

	if (in_fetch)
		fail_msg("a waiter was called inside creds_fetch()");
	r->calls++;
	r->ok = ok;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	fake_vault_reset();
	now_ms = T0;
	w->cfg.vault.type = VAULT_HASHICORP;
	w->cfg.vault.cache_ttl_ms = TTL;
	w->loop = loop_new();
	w->c = creds_new(w->loop, &w->cfg);
	creds_set_clock(w->c, test_clock);
	unsetenv(ENV_VAR);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	creds_free(w->c);
	loop_free(w->loop);
	if (w->dir[0])
		unit_rm_tree(w->dir);
	unsetenv(ENV_VAR);
	free(w);
	return 0;
}

/* creds_fetch(), checking that no waiter runs inside it. */
static struct creds_wait *fetch(struct world *w, const struct cred_ref *ref, int force,
				struct rec *r)
{
	struct creds_wait *h;
	int before = r->calls;

	in_fetch = 1;
	h = creds_fetch(w->c, ref, force, on_done, r);
	in_fetch = 0;
	assert_int_equal(r->calls, before);
	return h;
}

/* A few loop turns: the cache's 0 ms timers run. */
static void turns(struct world *w)
{
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(loop_run_once(w->loop, 0), 0);
}

static struct cred_ref *parse_ok(const char *text)
{
	struct buf err = BUF_INIT;
	struct cred_ref *r = cred_ref_parse(text, &err);

	if (!r)
		fail_msg("cred_ref_parse(%s): %s", text, buf_str(&err));
	assert_string_equal(r->text, text);
	assert_int_equal(err.len, 0);
	buf_free(&err);
	return r;
}

static void parse_fails(const char *text, const char *want)
{
	struct buf err = BUF_INIT;
	struct cred_ref *r = cred_ref_parse(text, &err);

	if (r)
		fail_msg("cred_ref_parse(%s) succeeded, expected: %s", text, want);
	assert_string_equal(buf_str(&err), want);
	buf_free(&err);
}

/* The cached value for ref is want (NULL: none). */
static void peek_is(struct world *w, const struct cred_ref *ref, const char *want)
{
	const struct secret *s = creds_peek(w->c, ref);

	if (!want) {
		assert_null(s);
		return;
	}
	assert_non_null(s);
	assert_int_equal(s->len, strlen(want));
	assert_string_equal(s->p, want);
}

/* --- the parser --- */

static void part_is(const char *got, const char *want)
{
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
}

/* r is text of kind, with exactly these parts (NULL: not set). */
static void ref_is(const struct cred_ref *r, const char *text, enum cred_kind kind,
		   const char *var, const char *path, const char *field, const char *name)
{
	assert_int_equal(r->kind, kind);
	assert_string_equal(r->text, text);
	part_is(r->var, var);
	part_is(r->path, path);
	part_is(r->field, field);
	part_is(r->name, name);
}

static void test_parse_kinds(void **state)
{
	static const struct {
		const char *text;
		enum cred_kind kind;
		const char *var, *path, *field, *name;
	} good[] = {
		{ "env:GH_TOKEN", CRED_ENV, "GH_TOKEN", NULL, NULL, NULL },
		{ "env:_x1", CRED_ENV, "_x1", NULL, NULL, NULL },
		{ "file:/run/secrets/gh", CRED_FILE, NULL, "/run/secrets/gh", NULL, NULL },
		{ "local:github.token", CRED_LOCAL, NULL, NULL, NULL, "github.token" },
		{ "vault:secret/data/mcp/gh#token", CRED_VAULT, NULL, "secret/data/mcp/gh", "token",
		  NULL },
		{ "vault:kv/gh#api-key", CRED_VAULT, NULL, "kv/gh", "api-key", NULL },	/* KV v1 */
		{ "oauth:oauth2/creds/github", CRED_OAUTH, NULL, "oauth2/creds/github", NULL, NULL },
		{ "oauth:oauth2/self/github", CRED_OAUTH, NULL, "oauth2/self/github", NULL, NULL },
	};
	char name[140];
	struct cred_ref *r, *d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(*good); i++) {
		r = parse_ok(good[i].text);
		ref_is(r, good[i].text, good[i].kind, good[i].var, good[i].path, good[i].field,
		       good[i].name);
		d = cred_ref_dup(r);
		cred_ref_free(r);
		ref_is(d, good[i].text, good[i].kind, good[i].var, good[i].path, good[i].field,
		       good[i].name);
		cred_ref_free(d);
	}
	memset(name, 'a', sizeof(name));
	memcpy(name, "local:", 6);
	name[6 + 128] = '\0';		/* the longest name */
	cred_ref_free(parse_ok(name));
	cred_ref_free(NULL);
}

static void test_parse_errors(void **state)
{
	static const char *const bad_env[] = { "env:", "env:1ABC", "env:A-B", "env:A B" };
	static const char *const bad_file[] = { "file:", "file:relative", "file:~/x" };
	static const char *const bad_local[] = { "local:", "local:bad name", "local:a/b" };
	static const char *const bad_vault[] = {
		"vault:secret/data/x", "vault:#f", "vault:/x#f", "vault:x/#f", "vault:x#f",
		"vault:a/../b#f", "vault:a/b#", "vault:a/b#f#g", "vault:a b/c#f",
	};
	static const char *const bad_oauth[] = {
		"oauth:oauth2/x", "oauth:/creds/x", "oauth:o/creds/", "oauth:o/creds/x/",
		"oauth:o/creds/x#y", "oauth:o/../creds/x", "oauth:o/self/", "oauth:o/creds",
	};
	static const char *const literal[] = { "ghp_abcdef123", "Bearer abc", "ENV:X", "http://x" };
	char name[140];
	size_t i;

	(void)state;
	parse_fails("", "token is empty: give a reference (env:, file:, local:, vault:, oauth:), "
		    "or remove the line");
	for (i = 0; i < sizeof(bad_env) / sizeof(*bad_env); i++)
		parse_fails(bad_env[i], "token env: needs a variable name (letters, digits, _)");
	for (i = 0; i < sizeof(bad_file) / sizeof(*bad_file); i++)
		parse_fails(bad_file[i], "token file: needs an absolute path (file:/path)");
	for (i = 0; i < sizeof(bad_local) / sizeof(*bad_local); i++)
		parse_fails(bad_local[i], "token local:NAME needs a name of A-Z a-z 0-9 _ . - "
			    "(at most 128)");
	memset(name, 'a', sizeof(name));
	memcpy(name, "local:", 6);
	name[6 + 129] = '\0';		/* one too long */
	parse_fails(name, "token local:NAME needs a name of A-Z a-z 0-9 _ . - (at most 128)");
	for (i = 0; i < sizeof(bad_vault) / sizeof(*bad_vault); i++)
		parse_fails(bad_vault[i], "token vault: must look like vault:MOUNT/data/PATH#FIELD "
			    "(KV v2) or vault:MOUNT/PATH#FIELD (KV v1)");
	for (i = 0; i < sizeof(bad_oauth) / sizeof(*bad_oauth); i++)
		parse_fails(bad_oauth[i], "token oauth: must look like oauth:MOUNT/creds/NAME or "
			    "oauth:MOUNT/self/NAME");
	/* not a reference: maybe a secret, so the message does not quote it */
	for (i = 0; i < sizeof(literal) / sizeof(*literal); i++)
		parse_fails(literal[i], "token must be a reference (env:VAR, file:/path, local:NAME, "
			    "vault:MOUNT/PATH#FIELD or oauth:MOUNT/creds/NAME); a literal token is "
			    "refused: secrets never live in the config");
}

/* --- secrets --- */

static void test_secrets(void **state)
{
	struct buf err = BUF_INIT;
	struct secret *tok = secret_dup("tok", 3), *line, *s;

	(void)state;
	line = secret_header_line("Authorization", "Bearer", tok);
	assert_string_equal(line->p, "Authorization: Bearer tok");
	assert_int_equal(line->len, strlen(line->p));
	secret_free(line);
	line = secret_header_line("X-Api-Key", "", tok);
	assert_string_equal(line->p, "X-Api-Key: tok");
	secret_free(line);
	secret_free(tok);
	tok = secret_dup("user:pass", 9);
	line = secret_header_line("Authorization", "basic", tok);
	assert_string_equal(line->p, "Authorization: basic dXNlcjpwYXNz");
	assert_int_equal(line->len, strlen(line->p));
	secret_free(line);
	secret_free(tok);

	setenv(ENV_VAR, "first\r\nsecond", 1);
	s = secret_from_env(ENV_VAR, &err);
	assert_non_null(s);
	assert_string_equal(s->p, "first");
	assert_int_equal(s->len, 5);
	secret_free(s);
	setenv(ENV_VAR, "", 1);
	assert_null(secret_from_env(ENV_VAR, &err));
	assert_string_equal(buf_str(&err), "environment variable " ENV_VAR " is not set");
	buf_free(&err);
	unsetenv(ENV_VAR);
	secret_free(NULL);
}

/* --- the cache --- */

static void test_cached_and_peeked(void **state)
{
	struct world *w = *state;
	struct cred_ref *ref = parse_ok("env:" ENV_VAR);
	struct rec r = { 0 };

	setenv(ENV_VAR, "v1", 1);
	peek_is(w, ref, NULL);
	fetch(w, ref, 0, &r);
	peek_is(w, ref, NULL);		/* read on the next turn, not inside the call */
	turns(w);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.ok, 1);
	assert_string_equal(r.err, "");
	peek_is(w, ref, "v1");
	/* cached: a new value at the source is not seen before the refresh */
	setenv(ENV_VAR, "v2", 1);
	now_ms = T0 + TTL - 60001;	/* more than 60 s left: no refresh yet */
	peek_is(w, ref, "v1");
	turns(w);
	peek_is(w, ref, "v1");
	/* at the end of its lifetime the value is gone */
	now_ms = T0 + TTL;
	peek_is(w, ref, NULL);
	cred_ref_free(ref);
}

static void test_refresh_near_expiry(void **state)
{
	struct world *w = *state;
	struct cred_ref *ref = parse_ok(KV), *env = parse_ok("env:" ENV_VAR);
	struct rec r = { 0 };

	fetch(w, ref, 0, &r);
	assert_int_equal(fake_vault_reads, 1);
	assert_int_equal(fake_vault_min_seconds(), 0);
	assert_string_equal(fake_vault_ref()->text, KV);
	assert_int_equal(fake_vault_ref()->kind, CRED_VAULT);
	assert_string_equal(fake_vault_ref()->path, "kv/data/mcp/gh");
	assert_string_equal(fake_vault_ref()->field, "token");
	/* its own expiry: 100 s; refreshed when max(60 s, 10 s) is left */
	fake_vault_answer(VAULT_OK, "t1", T0 + 100000, NULL);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.ok, 1);
	now_ms = T0 + 39999;
	peek_is(w, ref, "t1");
	assert_int_equal(fake_vault_reads, 1);
	now_ms = T0 + 40000;
	peek_is(w, ref, "t1");		/* still served while it is refreshed */
	assert_int_equal(fake_vault_reads, 2);
	peek_is(w, ref, "t1");
	assert_int_equal(fake_vault_reads, 2);	/* one fetch in flight */
	fake_vault_answer(VAULT_OK, "t2", T0 + 200000, NULL);
	assert_int_equal(r.calls, 1);
	peek_is(w, ref, "t2");

	/* no expiry of its own: cache_ttl, refreshed when 60 s are left (10 % is less) */
	setenv(ENV_VAR, "e1", 1);
	fetch(w, env, 0, &r);
	turns(w);
	assert_int_equal(r.calls, 2);
	setenv(ENV_VAR, "e2", 1);
	now_ms = T0 + 40000 + TTL - 60000;
	peek_is(w, env, "e1");		/* starts the refresh */
	turns(w);
	peek_is(w, env, "e2");
	cred_ref_free(ref);
	cred_ref_free(env);
}

/* A failure of the given kind holds the reference for hold_ms. */
static void check_hold(struct world *w, enum vault_err e, int64_t hold_ms)
{
	struct cred_ref *ref = parse_ok(KV);
	struct rec r = { 0 }, r2 = { 0 };
	const char *msg = KV ": not found in the vault (HTTP 404) - check the mount, path and version";

	fetch(w, ref, 0, &r);
	fake_vault_answer(e, NULL, 0, msg);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.ok, 0);
	assert_string_equal(r.err, msg);
	peek_is(w, ref, NULL);
	/* asked again within the hold: the same answer, from the loop, no new read */
	now_ms = T0 + hold_ms - 1;
	fetch(w, ref, 0, &r2);
	fetch(w, ref, 1, &r2);		/* forced, too */
	assert_int_equal(fake_vault_reads, 1);
	turns(w);
	assert_int_equal(r2.calls, 2);
	assert_int_equal(r2.ok, 0);
	assert_string_equal(r2.err, msg);
	peek_is(w, ref, NULL);
	assert_int_equal(fake_vault_reads, 1);
	/* after it: asked again */
	now_ms = T0 + hold_ms;
	fetch(w, ref, 0, &r2);
	assert_int_equal(fake_vault_reads, 2);
	fake_vault_answer(VAULT_OK, "t1", 0, NULL);
	assert_int_equal(r2.calls, 3);
	assert_int_equal(r2.ok, 1);
	peek_is(w, ref, "t1");
	cred_ref_free(ref);
}

static void test_failure_held_30s_after_config_error(void **state)
{
	check_hold(*state, VAULT_ERR_CONFIG, 30000);
}

static void test_failure_held_5s_after_transient_error(void **state)
{
	check_hold(*state, VAULT_ERR_TRANSIENT, 5000);
}

/* env:, file: and local: failures count as configuration errors. */
static void test_local_failure_held(void **state)
{
	struct world *w = *state;
	struct cred_ref *ref = parse_ok("env:" ENV_VAR);
	struct rec r = { 0 };
	const char *msg = "credential env:" ENV_VAR ": environment variable " ENV_VAR " is not set";

	fetch(w, ref, 0, &r);
	turns(w);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.ok, 0);
	assert_string_equal(r.err, msg);
	setenv(ENV_VAR, "now-set", 1);
	now_ms = T0 + 29999;
	fetch(w, ref, 0, &r);
	turns(w);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.ok, 0);	/* not read again yet */
	assert_string_equal(r.err, msg);
	now_ms = T0 + 30000;
	fetch(w, ref, 0, &r);
	turns(w);
	assert_int_equal(r.calls, 3);
	assert_int_equal(r.ok, 1);
	peek_is(w, ref, "now-set");
	cred_ref_free(ref);
}

static void test_force_bypasses_cache(void **state)
{
	struct world *w = *state;
	struct cred_ref *ref = parse_ok("oauth:oauth2/creds/gh"), *env = parse_ok("env:" ENV_VAR);
	struct rec r = { 0 };

	fetch(w, ref, 0, &r);
	assert_int_equal(fake_vault_ref()->kind, CRED_OAUTH);
	assert_string_equal(fake_vault_ref()->path, "oauth2/creds/gh");
	fake_vault_answer(VAULT_OK, "refused", T0 + 100000, NULL);
	now_ms = T0 + 10000;
	fetch(w, ref, 1, &r);
	peek_is(w, ref, NULL);		/* the refused value is dropped */
	assert_int_equal(fake_vault_reads, 2);
	/* more than the refused token had left (90 s), so the broker refreshes */
	assert_int_equal(fake_vault_min_seconds(), 90 + 60);
	fake_vault_answer(VAULT_OK, "fresh", T0 + 200000, NULL);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.ok, 1);
	peek_is(w, ref, "fresh");

	setenv(ENV_VAR, "old", 1);
	fetch(w, env, 0, &r);
	turns(w);
	setenv(ENV_VAR, "new", 1);
	fetch(w, env, 1, &r);
	peek_is(w, env, NULL);
	turns(w);
	assert_int_equal(r.calls, 4);
	peek_is(w, env, "new");
	cred_ref_free(ref);
	cred_ref_free(env);
}

static void test_value_survives_outage(void **state)
{
	struct world *w = *state;
	struct cred_ref *ref = parse_ok(KV);
	struct rec r = { 0 }, r2 = { 0 };

	fetch(w, ref, 0, &r);
	fake_vault_answer(VAULT_OK, "t1", T0 + 100000, NULL);
	now_ms = T0 + 50000;
	peek_is(w, ref, "t1");		/* starts a refresh */
	assert_int_equal(fake_vault_reads, 2);
	fetch(w, ref, 0, &r2);		/* waits for that refresh */
	assert_int_equal(fake_vault_reads, 2);
	fake_vault_answer(VAULT_ERR_TRANSIENT, NULL, 0, KV ": the vault is sealed or unavailable "
			  "(HTTP 503)");
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.ok, 1);	/* the cached value is still good */
	peek_is(w, ref, "t1");
	now_ms = T0 + 54999;		/* held: no refresh */
	peek_is(w, ref, "t1");
	assert_int_equal(fake_vault_reads, 2);
	now_ms = T0 + 55000;		/* tried again */
	peek_is(w, ref, "t1");
	assert_int_equal(fake_vault_reads, 3);
	fake_vault_answer(VAULT_ERR_TRANSIENT, NULL, 0, KV ": the vault is unreachable");
	/* fail closed at expiry */
	now_ms = T0 + 100000;
	peek_is(w, ref, NULL);
	fetch(w, ref, 0, &r2);
	fake_vault_answer(VAULT_ERR_TRANSIENT, NULL, 0, KV ": the vault is unreachable");
	assert_int_equal(r2.calls, 2);
	assert_int_equal(r2.ok, 0);
	assert_string_equal(r2.err, KV ": the vault is unreachable");
	cred_ref_free(ref);
}

static void test_waiters_called_once_from_loop(void **state)
{
	struct world *w = *state;
	struct cred_ref *env = parse_ok("env:" ENV_VAR), *ref = parse_ok(KV);
	struct rec a = { 0 }, b = { 0 }, c = { 0 };

	setenv(ENV_VAR, "v", 1);
	fetch(w, env, 0, &a);
	fetch(w, env, 0, &b);
	turns(w);
	turns(w);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(a.ok, 1);
	assert_int_equal(b.ok, 1);

	/* the vault cannot be set up: said on the next turn, then held for 30 s */
	fake_vault_new_fails = 1;
	fetch(w, ref, 0, &c);
	turns(w);
	turns(w);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.ok, 0);
	assert_string_equal(c.err, "credential " KV ": " FAKE_VAULT_NEW_ERR);
	fake_vault_new_fails = 0;
	now_ms = T0 + 29999;
	fetch(w, ref, 0, &c);
	turns(w);
	assert_int_equal(c.calls, 2);
	assert_string_equal(c.err, "credential " KV ": " FAKE_VAULT_NEW_ERR);
	assert_int_equal(fake_vault_news, 0);
	now_ms = T0 + 30000;
	fetch(w, ref, 0, &c);
	assert_int_equal(fake_vault_news, 1);
	assert_int_equal(fake_vault_reads, 1);
	fake_vault_answer(VAULT_OK, "t", 0, NULL);
	turns(w);
	assert_int_equal(c.calls, 3);
	assert_int_equal(c.ok, 1);
	cred_ref_free(env);
	cred_ref_free(ref);
}

static void test_cancel(void **state)
{
	struct world *w = *state;
	struct cred_ref *env = parse_ok("env:" ENV_VAR), *ref = parse_ok(KV);
	struct rec a = { 0 }, b = { 0 }, c = { 0 };
	struct creds_wait *h;

	setenv(ENV_VAR, "v", 1);
	h = fetch(w, env, 0, &a);
	fetch(w, env, 0, &b);
	creds_cancel(w->c, h);
	turns(w);
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 1);

	h = fetch(w, ref, 0, &c);
	creds_cancel(w->c, h);
	fake_vault_answer(VAULT_OK, "t", 0, NULL);
	turns(w);
	assert_int_equal(c.calls, 0);
	peek_is(w, ref, "t");		/* the value is still cached */
	cred_ref_free(env);
	cred_ref_free(ref);
}

/* References with the same text share one entry; the cache keeps its own copy. */
static void test_shared_entry(void **state)
{
	struct world *w = *state;
	struct cred_ref *r1 = parse_ok(KV), *r2 = parse_ok(KV), *r3;
	struct rec a = { 0 }, b = { 0 };

	fetch(w, r1, 0, &a);
	fetch(w, r2, 0, &b);
	assert_int_equal(fake_vault_reads, 1);
	assert_true(fake_vault_ref() != r1 && fake_vault_ref() != r2);
	cred_ref_free(r1);
	cred_ref_free(r2);
	fake_vault_answer(VAULT_OK, "shared", 0, NULL);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	r3 = parse_ok(KV);
	peek_is(w, r3, "shared");
	cred_ref_free(r3);
}

/* Fetching text succeeds with the value want (ok), or fails with the message want. */
static void fetch_expect(struct world *w, int ok, const char *text, const char *want)
{
	struct cred_ref *ref = parse_ok(text);
	struct rec r = { 0 };

	fetch(w, ref, 0, &r);
	turns(w);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.ok, ok);
	assert_string_equal(r.err, ok ? "" : want);
	peek_is(w, ref, ok ? want : NULL);
	cred_ref_free(ref);
}

/* Writes dir/name with contents; its path into path. */
static void write_file(const char *dir, const char *name, const char *contents, char *path,
		       size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(contents, f);
	fclose(f);
}

static void test_files_and_variables(void **state)
{
	struct world *w = *state;
	char path[96], text[128], want[256];

	snprintf(w->dir, sizeof(w->dir), "/tmp/mcpmux-creds-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	fetch_expect(w, 0, "env:" ENV_VAR,
		     "credential env:" ENV_VAR ": environment variable " ENV_VAR " is not set");
	fetch_expect(w, 0, "file:/nonexistent/mcpmux-token",
		     "credential file:/nonexistent/mcpmux-token: cannot read token file "
		     "/nonexistent/mcpmux-token: No such file or directory");
	write_file(w->dir, "empty", "\nsecond line\n", path, sizeof(path));
	snprintf(text, sizeof(text), "file:%s", path);
	snprintf(want, sizeof(want), "credential %s: token file %s is empty", text, path);
	fetch_expect(w, 0, text, want);
	write_file(w->dir, "token", "file-token\r\nignored\n", path, sizeof(path));
	snprintf(text, sizeof(text), "file:%s", path);
	fetch_expect(w, 1, text, "file-token");
	setenv(ENV_VAR, "env-token\nignored", 1);
	now_ms = T0 + 30000;		/* the failure above is no longer held */
	fetch_expect(w, 1, "env:" ENV_VAR, "env-token");
}

static void test_local_store(void **state)
{
	struct world *w = *state;
	char path[128], key[128];
	struct buf err = BUF_INIT;
	struct localstore *s;

	fetch_expect(w, 0, "local:gh",
		     "credential local:gh: local: references need [vault] type = local");
	creds_free(w->c);
	w->c = NULL;
	snprintf(w->dir, sizeof(w->dir), "/tmp/mcpmux-creds-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(path, sizeof(path), "%s/vault", w->dir);
	snprintf(key, sizeof(key), "%s/vault.key", w->dir);
	w->cfg.vault.type = VAULT_LOCAL;
	w->cfg.vault.path = path;
	w->cfg.vault.key_file = key;
	unsetenv("MCPMUX_VAULT_PASSPHRASE");
	s = localstore_open(&w->cfg.vault, 1, &err);
	if (!s)
		fail_msg("localstore_open: %s", buf_str(&err));
	assert_int_equal(localstore_set(s, "gh", "store-token", 11, &err), 0);
	localstore_close(s);
	w->c = creds_new(w->loop, &w->cfg);
	creds_set_clock(w->c, test_clock);
	fetch_expect(w, 1, "local:gh", "store-token");
	fetch_expect(w, 0, "local:nope", "credential local:nope: no such name in the local "
		     "store - add it with `mcpmux vault set nope`");
	creds_free(w->c);
	w->c = NULL;
	w->cfg.vault.path = w->cfg.vault.key_file = NULL;
	buf_free(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_kinds),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test_setup_teardown(test_cached_and_peeked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_near_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_held_30s_after_config_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_held_5s_after_transient_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_failure_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_force_bypasses_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_survives_outage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_called_once_from_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_and_variables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_store, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	log_quiet(1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
