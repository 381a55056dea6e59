/* test_config.c - unit tests for the INI configuration (src/config.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"

/* A file in /tmp holding `text`; the caller unlinks and frees the path. */
static char *write_tmp(const char *text)
{
	char tmpl[] = "/tmp/mcpmux-test-config-XXXXXX";
	size_t len = strlen(text);
	char *path;
	int fd;

	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	path = strdup(tmpl);
	assert_non_null(path);
	return path;
}

static void drop_tmp(char *path)
{
	unlink(path);
	free(path);
}

static void assert_empty(const struct config *cfg)
{
	assert_null(cfg->path);
	assert_null(cfg->client_prefix);
	assert_null(cfg->connectors);
	assert_int_equal(cfg->nconnectors, 0);
}

/* Loads `text`, which must be valid; the caller frees cfg. */
static void load_ok(const char *text, struct config *cfg)
{
	struct buf err = BUF_INIT;
	char *path = write_tmp(text);
	int rc = config_load(cfg, path, &err);

	if (rc != 0)
		fprintf(stderr, "unexpected errors:\n%s", buf_str(&err));
	assert_int_equal(rc, 0);
	assert_int_equal(err.len, 0);
	assert_string_equal(cfg->path, path);
	buf_free(&err);
	drop_tmp(path);
}

/*
 * Loads `text`, which must be refused, and returns the messages with the
 * temporary path replaced by "F", so that tests can compare whole lines.
 */
static char *load_err(const char *text)
{
	struct buf err = BUF_INIT, out = BUF_INIT;
	struct config cfg;
	char *path = write_tmp(text);
	size_t plen = strlen(path);
	const char *s, *hit;

	assert_int_equal(config_load(&cfg, path, &err), -1);
	assert_empty(&cfg);
	for (s = buf_str(&err); (hit = strstr(s, path)); s = hit + plen) {
		buf_add(&out, s, (size_t)(hit - s));
		buf_putc(&out, 'F');
	}
	buf_puts(&out, s);
	buf_free(&err);
	drop_tmp(path);
	return buf_detach(&out, NULL);
}

static void expect_err(const char *text, const char *want)
{
	char *got = load_err(text);

	assert_string_equal(got, want);
	free(got);
}

/* --- valid files -------------------------------------------------------- */

static void test_full_valid(void **state)
{
	char *tokfile = write_tmp("secret-in-a-file\n");
	struct buf text = BUF_INIT;
	struct config cfg;
	const struct connector_cfg *a, *b;

	(void)state;
	setenv("MCPMUX_TEST_TOKEN", "s3cr3t", 1);
	buf_printf(&text,
		   "[mcpmux]\n"
		   "client_prefix = mcp__x__\n"
		   "call_timeout = 5\n"
		   "connect_timeout = 86400\n"
		   "\n"
		   "[connector \"My Linear!\"]\n"
		   "url = HTTPS://mcp.linear.app/mcp?x=1\n"
		   "alias = lin-1\n"
		   "enabled = off\n"
		   "header = X-Tenant: acme\n"
		   "header = X-Trace:on\n"
		   "auth_header = X-Api-Key\n"
		   "auth_scheme =\n"
		   "token = env:MCPMUX_TEST_TOKEN\n"
		   "tools = list_* get_issue\n"
		   "hide = delete_*\n"
		   "timeout = 1\n"
		   "[connector \"GitHub_Enterprise\"]\n"
		   "url = http://[::1]:8080/mcp\n"
		   "token = file:%s\n", tokfile);
	load_ok(buf_str(&text), &cfg);
	assert_string_equal(cfg.client_prefix, "mcp__x__");
	assert_int_equal(cfg.call_timeout_ms, 5000);
	assert_int_equal(cfg.connect_timeout_ms, 86400000L);
	assert_int_equal(cfg.nconnectors, 2);

	a = &cfg.connectors[0];
	assert_string_equal(a->name, "My Linear!");
	assert_string_equal(a->alias, "lin-1");
	assert_string_equal(a->url, "HTTPS://mcp.linear.app/mcp?x=1");
	assert_int_equal(a->enabled, 0);
	assert_int_equal(a->nheaders, 2);
	assert_string_equal(a->headers[0], "X-Tenant: acme");
	assert_string_equal(a->headers[1], "X-Trace: on");
	assert_string_equal(a->auth_header, "X-Api-Key");
	assert_string_equal(a->auth_scheme, "");
	assert_string_equal(a->token->text, "env:MCPMUX_TEST_TOKEN");
	assert_int_equal(a->ntools, 2);
	assert_string_equal(a->tools[0], "list_*");
	assert_string_equal(a->tools[1], "get_issue");
	assert_int_equal(a->nhide, 1);
	assert_string_equal(a->hide[0], "delete_*");
	assert_int_equal(a->timeout_ms, 1000);
	assert_int_equal(a->line, 6);

	b = &cfg.connectors[1];
	assert_string_equal(b->name, "GitHub_Enterprise");
	assert_string_equal(b->alias, "github-enterprise");
	assert_string_equal(b->url, "http://[::1]:8080/mcp");
	assert_int_equal(b->enabled, 1);
	assert_int_equal(b->nheaders, 0);
	assert_string_equal(b->auth_header, "Authorization");
	assert_string_equal(b->auth_scheme, "Bearer");
	assert_string_equal(b->token->text + 5, tokfile);
	assert_int_equal(b->ntools, 0);
	assert_int_equal(b->nhide, 0);
	assert_int_equal(b->timeout_ms, 0);
	assert_int_equal(b->line, 18);

	config_free(&cfg);
	assert_empty(&cfg);
	config_free(&cfg);	/* harmless twice */
	unsetenv("MCPMUX_TEST_TOKEN");
	buf_free(&text);
	drop_tmp(tokfile);
}

static void test_defaults(void **state)
{
	struct config cfg;
	const struct connector_cfg *c;

	(void)state;
	load_ok("[connector \"demo\"]\nurl = http://127.0.0.1:3001/mcp\n", &cfg);
	assert_string_equal(cfg.client_prefix, CONFIG_DEFAULT_PREFIX);
	assert_int_equal(cfg.call_timeout_ms, CONFIG_DEFAULT_CALL_MS);
	assert_int_equal(cfg.connect_timeout_ms, CONFIG_DEFAULT_CONNECT_MS);
	assert_int_equal(cfg.nconnectors, 1);
	c = &cfg.connectors[0];
	assert_string_equal(c->alias, "demo");
	assert_int_equal(c->enabled, 1);
	assert_string_equal(c->auth_header, "Authorization");
	assert_string_equal(c->auth_scheme, "Bearer");
	assert_null(c->token);
	assert_null(c->headers);
	assert_null(c->tools);
	assert_null(c->hide);
	assert_int_equal(c->timeout_ms, 0);
	config_free(&cfg);
}

static void test_empty_file_and_prefix(void **state)
{
	struct config cfg;

	(void)state;
	load_ok("", &cfg);
	assert_int_equal(cfg.nconnectors, 0);
	assert_string_equal(cfg.client_prefix, CONFIG_DEFAULT_PREFIX);
	config_free(&cfg);

	load_ok("[mcpmux]\nclient_prefix =\n", &cfg);
	assert_string_equal(cfg.client_prefix, "");
	config_free(&cfg);

	/* exactly 40 characters */
	load_ok("[mcpmux]\nclient_prefix = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-_9\n", &cfg);
	assert_int_equal(strlen(cfg.client_prefix), 40);
	config_free(&cfg);
}

static void test_inline_comments(void **state)
{
	struct config cfg;
	const struct connector_cfg *c;

	(void)state;
	load_ok("; leading comment\n"
		"# hash comment\n"
		"[mcpmux] ; the main section\n"
		"call_timeout = 7 ; seconds\n"
		"client_prefix = ab\t; tab before the semicolon\n"
		"[connector \"a\"]   ; first\n"
		"url = http://h/p;x=1 ; a ';' without a space before it stays\n"
		"header = X-A: b ; comment\n"
		"tools = a b ; c\n"
		"hide = ; nothing\n", &cfg);
	assert_int_equal(cfg.call_timeout_ms, 7000);
	assert_string_equal(cfg.client_prefix, "ab");
	c = &cfg.connectors[0];
	assert_string_equal(c->url, "http://h/p;x=1");
	assert_string_equal(c->headers[0], "X-A: b");
	assert_int_equal(c->ntools, 2);
	assert_int_equal(c->nhide, 0);
	config_free(&cfg);
}

static void test_header_repeatable(void **state)
{
	struct config cfg;
	const struct connector_cfg *c;

	(void)state;
	load_ok("[connector \"a\"]\n"
		"header = A: 1\n"
		"url = http://h\n"
		"header = B : two words\n"
		"header = C:3\n", &cfg);
	c = &cfg.connectors[0];
	assert_int_equal(c->nheaders, 3);
	assert_string_equal(c->headers[0], "A: 1");
	assert_string_equal(c->headers[1], "B: two words");
	assert_string_equal(c->headers[2], "C: 3");
	config_free(&cfg);
}

/* Indented keys are keys, not continuations of the previous value. */
static void test_indent_crlf_bom(void **state)
{
	struct config cfg;
	const struct connector_cfg *c;

	(void)state;
	load_ok("\xef\xbb\xbf[connector \"a\"]\r\n"
		"    url = http://h\r\n"
		"\talias = x\r\n"
		"  [ connector   \"b\" ]\r\n"
		"  url = https://h2\r\n", &cfg);
	assert_int_equal(cfg.nconnectors, 2);
	c = &cfg.connectors[0];
	assert_string_equal(c->url, "http://h");
	assert_string_equal(c->alias, "x");
	assert_string_equal(cfg.connectors[1].name, "b");
	assert_string_equal(cfg.connectors[1].url, "https://h2");
	config_free(&cfg);
}

static void test_enabled_values(void **state)
{
	static const char *const on[] = { "yes", "TRUE", "On", "1" };
	static const char *const off[] = { "no", "false", "OFF", "0" };
	struct buf text = BUF_INIT;
	struct config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		buf_reset(&text);
		buf_printf(&text, "[connector \"a\"]\nurl = http://h\nenabled = %s\n"
			   "[connector \"b\"]\nurl = http://h\nenabled = %s\n", on[i], off[i]);
		load_ok(buf_str(&text), &cfg);
		assert_int_equal(cfg.connectors[0].enabled, 1);
		assert_int_equal(cfg.connectors[1].enabled, 0);
		config_free(&cfg);
	}
	buf_free(&text);
}

static void test_sample_ini(void **state)
{
	struct buf err = BUF_INIT;
	struct config cfg;
	int rc;

	(void)state;
	rc = config_load(&cfg, "sample.ini", &err);
	if (rc)
		fprintf(stderr, "%s", buf_str(&err));
	assert_int_equal(rc, 0);
	assert_int_equal(cfg.nconnectors, 2);
	assert_string_equal(cfg.connectors[0].alias, "demo");
	assert_string_equal(cfg.connectors[0].url, "http://127.0.0.1:3001/mcp");
	assert_int_equal(cfg.connectors[0].nheaders, 2);
	assert_string_equal(cfg.connectors[1].alias, "staging-docs");
	assert_int_equal(cfg.connectors[1].enabled, 0);
	config_free(&cfg);
	buf_free(&err);
}

/* Debian's inih allows 200 bytes a line; config.c raises that to 4096. */
static void test_long_lines(void **state)
{
	struct buf text = BUF_INIT;
	struct config cfg;
	char *got;
	int i;

	(void)state;
	buf_puts(&text, "[connector \"a\"]\nurl = http://h\ntools =");
	for (i = 0; i < 200; i++)
		buf_printf(&text, " tool_%03d", i);
	buf_puts(&text, "\n");
	load_ok(buf_str(&text), &cfg);
	assert_int_equal(cfg.connectors[0].ntools, 200);
	assert_string_equal(cfg.connectors[0].tools[199], "tool_199");
	config_free(&cfg);

	/* too long: an error on that line, never bogus keys from its tail */
	buf_reset(&text);
	buf_puts(&text, "[connector \"a\"]\nurl = http://h\nhide =");
	for (i = 0; i < 600; i++)
		buf_puts(&text, " x = y ;");
	buf_puts(&text, "\nfoo = bar\n");
	got = load_err(buf_str(&text));
	assert_string_equal(got, "F:3: line too long (at most 4094 characters)\n"
			    "F:4: unknown key 'foo' in [connector \"a\"]\n");
	free(got);
	buf_free(&text);
}

static void test_many_connectors(void **state)
{
	struct buf text = BUF_INIT;
	struct config cfg;
	char *got;
	int i;

	(void)state;
	for (i = 0; i < CONFIG_MAX_CONNECTORS; i++)
		buf_printf(&text, "[connector \"c%d\"]\nurl = http://h/%d\n", i, i);
	load_ok(buf_str(&text), &cfg);
	assert_int_equal(cfg.nconnectors, CONFIG_MAX_CONNECTORS);
	assert_string_equal(cfg.connectors[255].alias, "c255");
	config_free(&cfg);

	buf_puts(&text, "[connector \"one too many\"]\nurl = http://h\n");
	got = load_err(buf_str(&text));
	assert_string_equal(got, "F:513: too many connectors (at most 256)\n");
	free(got);
	buf_free(&text);
}

/* --- errors, each with its line ----------------------------------------- */

static void test_unknown_key(void **state)
{
	(void)state;
	expect_err("[connector \"a\"]\nurl = http://h\n\ncolour = blue\n",
		   "F:4: unknown key 'colour' in [connector \"a\"]\n");
	expect_err("[mcpmux]\nturbo = 1\n",
		   "F:2: unknown key 'turbo' in [mcpmux]\n");
	expect_err("[mcpmux]\napprovals = maybe\n",
		   "F:2: approvals must be auto | terminal | tty | elicitation | deny\n");
	expect_err("url = http://h\n",
		   "F:1: key 'url' is outside any section\n");
}

static void test_approval_keys(void **state)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	char *path = write_tmp("[mcpmux]\napprovals = terminal\napproval_timeout = 30\n"
			       "audit_log = /tmp/a.jsonl\n"
			       "[connector \"a\"]\nurl = http://h\napproval = ask ; always\n"
			       "approval.get_* = auto\napproval.delete_* = ask\nlabel.search = read\n"
			       "[connector \"b\"]\nurl = http://h\n");

	(void)state;
	assert_int_equal(config_load(&cfg, path, &err), 0);
	assert_int_equal(cfg.approvals, APPROVALS_TERMINAL);
	assert_int_equal(cfg.approval_timeout_ms, 30000);
	assert_string_equal(cfg.audit_log, "/tmp/a.jsonl");
	assert_int_equal(cfg.connectors[0].approval, APPROVAL_ASK);
	assert_int_equal(cfg.connectors[0].napproval_rules, 2);
	assert_int_equal(config_rule_value(cfg.connectors[0].approval_rules, 2, "get_user", -1),
			 APPROVAL_AUTO);
	assert_int_equal(config_rule_value(cfg.connectors[0].approval_rules, 2, "put", -1), -1);
	assert_int_equal(config_rule_value(cfg.connectors[0].label_rules,
					   cfg.connectors[0].nlabel_rules, "search", -1), LABEL_READ);
	/* defaults */
	assert_int_equal(cfg.connectors[1].approval, APPROVAL_DEFAULT);
	config_free(&cfg);
	unlink(path);
	free(path);
	buf_free(&err);
	expect_err("[mcpmux]\naudit_log = relative/path\n",
		   "F:2: audit_log must be an absolute path, a path starting with ~/, or off\n");
	expect_err("[connector \"a\"]\nurl = http://h\napproval = sometimes\n",
		   "F:3: approval must be default | ask | auto\n");
	expect_err("[connector \"a\"]\nurl = http://h\nlabel.x = dangerous\n",
		   "F:3: label.x must be read | write\n");
	expect_err("[connector \"a\"]\nurl = http://h\napproval.x = ask\napproval.x = auto\n",
		   "F:4: 'approval.x' is repeated in [connector \"a\"] (first at line 3)\n");
}

static void test_audit_default_and_off(void **state)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	char *path = write_tmp("[mcpmux]\n");
	char *off = write_tmp("[mcpmux]\naudit_log = off\n");

	(void)state;
	setenv("HOME", "/home/tester", 1);
	assert_int_equal(config_load(&cfg, path, &err), 0);
	assert_string_equal(cfg.audit_log, "/home/tester/.local/state/mcpmux/audit.jsonl");
	assert_int_equal(cfg.approvals, APPROVALS_AUTO);
	assert_int_equal(cfg.approval_timeout_ms, 120000);
	config_free(&cfg);
	assert_int_equal(config_load(&cfg, off, &err), 0);
	assert_null(cfg.audit_log);
	config_free(&cfg);
	unlink(path);
	unlink(off);
	free(path);
	free(off);
	buf_free(&err);
}

static void test_unknown_section(void **state)
{
	(void)state;
	expect_err("[mcpmux]\n[server \"x\"]\nurl = http://h\n",
		   "F:2: unknown section [server \"x\"]\n");
	expect_err("[vault]\ntype = lokal\n",
		   "F:2: type must be local | hashicorp | none\n");
	expect_err("[connector linear]\nurl = http://h\n",
		   "F:1: a connector section is written [connector \"NAME\"]\n");
	expect_err("[connector \"\"]\n",
		   "F:1: a connector section is written [connector \"NAME\"]\n");
	expect_err("[connector \"a\"\nurl = http://h\n",
		   "F:1: section header has no closing ']'\n");
	expect_err("[mcpmux] x\n",
		   "F:1: unexpected text after ']'\n");
	expect_err("[mcpmux]\n[mcpmux]\n",
		   "F:2: duplicate section [mcpmux] (first at line 1)\n");
}

static void test_bad_url(void **state)
{
	(void)state;
	expect_err("[connector \"a\"]\n\nurl = ftp://h/mcp\n",
		   "F:3: url must start with http:// or https://\n");
	expect_err("[connector \"a\"]\nurl = mcp.linear.app\n",
		   "F:2: url must start with http:// or https://\n");
	expect_err("[connector \"a\"]\nurl = https:///mcp\n",
		   "F:2: url has no host\n");
	expect_err("[connector \"a\"]\nurl = http://:80/\n",
		   "F:2: url has no host\n");
	expect_err("[connector \"a\"]\nurl = http://h/a b\n",
		   "F:2: url must not contain spaces or control characters\n");
}

static void test_url_credentials_not_echoed(void **state)
{
	char *got;

	(void)state;
	got = load_err("[connector \"a\"]\nurl = https://bob:hunter2@h/mcp\n");
	assert_null(strstr(got, "hunter2"));
	assert_string_equal(got, "F:2: url must not carry a user or password: "
			    "use token = (secrets never live in the config)\n");
	free(got);
}

static void test_missing_url(void **state)
{
	(void)state;
	expect_err("[mcpmux]\n\n[connector \"a\"]\nalias = a\n",
		   "F:3: [connector \"a\"] has no url\n");
	/* an empty section is still checked */
	expect_err("[connector \"a\"]\n",
		   "F:1: [connector \"a\"] has no url\n");
}

static void test_duplicates(void **state)
{
	(void)state;
	expect_err("[connector \"Linear\"]\nurl = http://a\n"
		   "[connector \"linear\"]\nurl = http://b\n",
		   "F:3: alias 'linear' of [connector \"linear\"] is already used by "
		   "[connector \"Linear\"] (line 1): set a different alias =\n");
	expect_err("[connector \"a\"]\nurl = http://a\n"
		   "[connector \"b\"]\nurl = http://b\nalias = a\n",
		   "F:5: alias 'a' of [connector \"b\"] is already used by "
		   "[connector \"a\"] (line 1): set a different alias =\n");
	expect_err("[connector \"a\"]\nurl = http://a\n"
		   "[connector \"a\"]\nurl = http://b\n",
		   "F:3: duplicate section [connector \"a\"] (first at line 1)\n");
}

static void test_bad_alias(void **state)
{
	(void)state;
	expect_err("[connector \"a\"]\nurl = http://a\nalias = Big\n",
		   "F:3: alias must be 1 to 32 characters from a-z 0-9 - (got 'Big')\n");
	expect_err("[connector \"a\"]\nurl = http://a\n"
		   "alias = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		   "F:3: alias must be 1 to 32 characters from a-z 0-9 - "
		   "(got 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')\n");
	expect_err("[connector \"---\"]\nurl = http://a\n",
		   "F:1: no alias can be made from the name \"---\": "
		   "add alias = (a-z 0-9 -, at most 32 characters)\n");
}

static void test_literal_token_refused(void **state)
{
	char *got;

	(void)state;
	got = load_err("[connector \"a\"]\nurl = http://a\n"
		       "token = lin_api_Zq9xVerySecret ; oops\n");
	assert_null(strstr(got, "lin_api_Zq9xVerySecret"));
	assert_null(strstr(got, "Zq9x"));
	assert_string_equal(got, "F:3: token must be a reference (env:VAR, file:/path, local:NAME, "
			    "vault:MOUNT/PATH#FIELD or oauth:MOUNT/creds/NAME); a literal token is "
			    "refused: secrets never live in the config\n");
	free(got);

	got = load_err("[connector \"a\"]\nurl = http://a\ntoken = env:sk-Zq9x!\n");
	assert_null(strstr(got, "Zq9x"));
	assert_string_equal(got, "F:3: token env: needs a variable name (letters, digits, _)\n");
	free(got);

	got = load_err("[connector \"a\"]\nurl = http://a\ntoken = file:Zq9x\n");
	assert_null(strstr(got, "Zq9x"));
	assert_string_equal(got, "F:3: token file: needs an absolute path (file:/path)\n");
	free(got);

	expect_err("[connector \"a\"]\nurl = http://a\ntoken =\n",
		   "F:3: token is empty: give a reference (env:, file:, local:, vault:, oauth:), "
		   "or remove the line\n");
	expect_err("[connector \"a\"]\nurl = http://a\nheader = Authorization: Bearer x\n",
		   "F:1: [connector \"a\"] sets header Authorization, which carries the "
		   "credential: use token = (secrets never live in the config)\n");
}

static void test_token_vault_kinds(void **state)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	char *path = write_tmp("[vault]\ntype = hashicorp\naddress = http://127.0.0.1:8200\n"
			       "auth = approle\nrole_id = r-1\nsecret_id_file = /run/sid\ncache_ttl = 60\n"
			       "[connector \"a\"]\nurl = http://a\ntoken = vault:secret/data/mcp/a#token\n"
			       "[connector \"b\"]\nurl = http://b\ntoken = oauth:oauth2/creds/b\n"
			       "[connector \"c\"]\nurl = http://c\ntoken = local:c-key\n");

	(void)state;
	assert_int_equal(config_load(&cfg, path, &err), 0);
	assert_int_equal(cfg.vault.type, VAULT_HASHICORP);
	assert_int_equal(cfg.vault.auth, VAULT_AUTH_APPROLE);
	assert_string_equal(cfg.vault.role_id, "r-1");
	assert_string_equal(cfg.vault.secret_id_file, "/run/sid");
	assert_int_equal(cfg.vault.cache_ttl_ms, 60000);
	assert_string_equal(cfg.connectors[0].token->text, "vault:secret/data/mcp/a#token");
	config_free(&cfg);
	unlink(path);
	free(path);
	buf_free(&err);
	/* vault: and oauth: need a hashicorp vault */
	expect_err("[connector \"a\"]\nurl = http://a\ntoken = vault:secret/data/x#token\n",
		   "F:3: vault: and oauth: references need a [vault] section with type = hashicorp\n");
	expect_err("[connector \"a\"]\nurl = http://a\ntoken = vault:secret/data/x\n",
		   "F:3: token vault: must look like vault:MOUNT/data/PATH#FIELD (KV v2) or "
		   "vault:MOUNT/PATH#FIELD (KV v1)\n");
	expect_err("[connector \"a\"]\nurl = http://a\ntoken = vault:../x#f\n",
		   "F:3: token vault: must look like vault:MOUNT/data/PATH#FIELD (KV v2) or "
		   "vault:MOUNT/PATH#FIELD (KV v1)\n");
	expect_err("[connector \"a\"]\nurl = http://a\ntoken = oauth:oauth2/x\n",
		   "F:3: token oauth: must look like oauth:MOUNT/creds/NAME or oauth:MOUNT/self/NAME\n");
	expect_err("[connector \"a\"]\nurl = http://a\ntoken = local:bad name\n",
		   "F:3: token local:NAME needs a name of A-Z a-z 0-9 _ . - (at most 128)\n");
	expect_err("[vault]\ntype = hashicorp\nauth = approle\n",
		   "F:1: [vault] auth = approle needs role_id and secret_id_file\n");
	expect_err("[vault]\ntype = local\n[vault]\n",
		   "F:3: duplicate section [vault] (first at line 1)\n");
}

/*
 * Loopback is decided on the host as libcurl parses it, the host it will
 * connect to. libcurl (7.77 and later) rewrites every IPv4 form it accepts
 * to four decimal octets first, so 127.1, 0x7f.1 and 2130706433 are the
 * loopback addresses they are, and 0127.0.0.1 is 87.0.0.1 (octal).
 */
static void test_loopback_urls(void **state)
{
	static const struct {
		const char *url;
		int loopback;
	} cases[] = {
		{ "http://127.0.0.1:8200", 1 },
		{ "http://127.0.0.1", 1 },
		{ "https://127.255.255.254:1/v1/", 1 },
		{ "http://localhost:8200/", 1 },
		{ "HTTP://LOCALHOST:8200", 1 },
		{ "http://[::1]:8200", 1 },
		{ "http://[0:0:0:0:0:0:0:1]:8200", 1 },
		{ "http://127.1:8200", 1 },
		{ "http://0x7f.1:8200", 1 },
		{ "http://2130706433:8200", 1 },
		{ "http://127.0.0.1.attacker.example:8200", 0 },
		{ "http://127.0.0.1@attacker.example:8200", 0 },
		{ "http://127.0.0.1:8200@attacker.example", 0 },
		{ "http://localhost@attacker.example", 0 },
		{ "http://attacker.example#@127.0.0.1", 0 },
		{ "http://attacker.example?@127.0.0.1", 0 },
		{ "http://127.0.0.1%2eattacker.example", 0 },
		{ "http://localhost.attacker.example", 0 },
		{ "http://0127.0.0.1", 0 },
		{ "http://127.0.0.256", 0 },
		{ "http://127.0.0.1.", 0 },
		{ "http://localhost.", 0 },
		{ "http://128.0.0.1", 0 },
		{ "http://1.127.0.0.1", 0 },
		{ "http://[::ffff:127.0.0.1]", 0 },
		{ "http://[::2]", 0 },
		{ "ftp://127.0.0.1", 0 },
		{ "127.0.0.1:8200", 0 },
		{ "http://[::1", 0 },
		{ "http://127.0.0.1:99999", 0 },
		{ "", 0 },
	};
	size_t i;
	int wrong = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = config_is_loopback_url(cases[i].url);

		if (got != cases[i].loopback) {
			fprintf(stderr, "config_is_loopback_url(\"%s\") = %d, want %d\n",
				cases[i].url, got, cases[i].loopback);
			wrong++;
		}
	}
	assert_int_equal(wrong, 0);
}

/* [vault] address = addr is refused with msg, at its line. */
static void expect_address_err(const char *addr, const char *msg)
{
	struct buf text = BUF_INIT, want = BUF_INIT;

	buf_printf(&text, "[vault]\ntype = hashicorp\naddress = %s\n", addr);
	buf_printf(&want, "F:3: address %s\n", msg);
	expect_err(buf_str(&text), buf_str(&want));
	buf_free(&text);
	buf_free(&want);
}

/* A vault address is checked where it is written, on the URL libcurl will use. */
static void test_vault_address(void **state)
{
	static const char *const ok[] = {
		"https://vault.example.com:8200", "https://vault.example.com:8200/",
		"http://127.0.0.1:8200", "http://[::1]:8200", "http://localhost:8200",
	};
	static const char cleartext[] = "must use https:// (http:// only to 127.0.0.1, "
		"[::1] or localhost): a vault token must not cross the network in clear text";
	static const char userinfo[] = "must not carry a user name or password "
		"(\"user@\" before the host): write only the vault's URL, such as "
		"https://vault.example.com:8200";
	struct buf text = BUF_INIT;
	struct config cfg;
	char *got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		buf_reset(&text);
		buf_printf(&text, "[vault]\ntype = hashicorp\naddress = %s\n", ok[i]);
		load_ok(buf_str(&text), &cfg);
		assert_string_equal(cfg.vault.address, ok[i]);
		config_free(&cfg);
	}
	buf_free(&text);
	expect_address_err("http://vault.example.com:8200", cleartext);
	expect_address_err("http://127.0.0.1.attacker.example:8200", cleartext);
	expect_address_err("http://127.0.0.1%2eattacker.example:8200", cleartext);
	expect_address_err("http://0127.0.0.1:8200", cleartext);
	expect_address_err("http://127.0.0.1@attacker.example:8200", userinfo);
	expect_address_err("http://@127.0.0.1:8200", userinfo);
	expect_address_err("ftp://127.0.0.1:8200",
			   "must start with https:// (http:// only to 127.0.0.1, [::1] or localhost)");
	expect_address_err("https://vault.example.com:99999",
			   "is not a URL libcurl accepts (Port number was not a decimal number "
			   "between 0 and 65535): write it as https://HOST[:PORT]");
	/* the password is not repeated in the message */
	got = load_err("[vault]\ntype = hashicorp\naddress = https://me:hunter2@vault.example.com\n");
	assert_non_null(strstr(got, userinfo));
	assert_null(strstr(got, "hunter2"));
	free(got);
	/* whatever the type: an address is only ever used for a hashicorp vault */
	expect_err("[vault]\naddress = http://vault.example.com:8200\n",
		   "F:2: address must use https:// (http:// only to 127.0.0.1, [::1] or localhost): "
		   "a vault token must not cross the network in clear text\n");
}

static void test_env_unset(void **state)
{
	(void)state;
	unsetenv("MCPMUX_TEST_NOPE");
	expect_err("[connector \"a\"]\nurl = http://a\ntoken = env:MCPMUX_TEST_NOPE\n",
		   "F:3: environment variable MCPMUX_TEST_NOPE is not set\n");
	setenv("MCPMUX_TEST_NOPE", "", 1);
	expect_err("[connector \"a\"]\nurl = http://a\ntoken = env:MCPMUX_TEST_NOPE\n",
		   "F:3: environment variable MCPMUX_TEST_NOPE is empty\n");
	unsetenv("MCPMUX_TEST_NOPE");
}

static void test_unreadable_file(void **state)
{
	(void)state;
	expect_err("[connector \"a\"]\nurl = http://a\n"
		   "token = file:/nonexistent/mcpmux-token\n",
		   "F:3: token file /nonexistent/mcpmux-token is not readable: "
		   "No such file or directory\n");
	expect_err("[connector \"a\"]\nurl = http://a\ntoken = file:/tmp\n",
		   "F:3: token file /tmp is not a regular file\n");
}

static void test_bad_timeout(void **state)
{
	(void)state;
	expect_err("[mcpmux]\ncall_timeout = 0\n",
		   "F:2: call_timeout must be whole seconds from 1 to 86400 (got '0')\n");
	expect_err("[mcpmux]\nconnect_timeout = 86401\n",
		   "F:2: connect_timeout must be whole seconds from 1 to 86400 (got '86401')\n");
	expect_err("[connector \"a\"]\nurl = http://a\ntimeout = 1.5\n",
		   "F:3: timeout must be whole seconds from 1 to 86400 (got '1.5')\n");
	expect_err("[connector \"a\"]\nurl = http://a\ntimeout = 10s\n",
		   "F:3: timeout must be whole seconds from 1 to 86400 (got '10s')\n");
	expect_err("[connector \"a\"]\nurl = http://a\ntimeout = -5\n",
		   "F:3: timeout must be whole seconds from 1 to 86400 (got '-5')\n");
	expect_err("[connector \"a\"]\nurl = http://a\ntimeout = 99999999999999999999\n",
		   "F:3: timeout must be whole seconds from 1 to 86400 "
		   "(got '99999999999999999999')\n");
}

static void test_bad_enabled(void **state)
{
	(void)state;
	expect_err("[connector \"a\"]\nurl = http://a\nenabled = maybe\n",
		   "F:3: enabled must be yes or no (also true/false, on/off, 1/0; got 'maybe')\n");
}

static void test_repeated_key(void **state)
{
	(void)state;
	expect_err("[connector \"a\"]\nurl = http://a\nurl = http://b\n",
		   "F:3: 'url' is repeated in [connector \"a\"] (first at line 2)\n");
	expect_err("[mcpmux]\ncall_timeout = 1\n\ncall_timeout = 2\n",
		   "F:4: 'call_timeout' is repeated in [mcpmux] (first at line 2)\n");
}

static void test_bad_header(void **state)
{
	(void)state;
	expect_err("[connector \"a\"]\nurl = http://a\nheader = X-Tenant acme\n",
		   "F:3: header must be 'Name: value'\n");
	expect_err("[connector \"a\"]\nurl = http://a\nheader = X Tenant: acme\n",
		   "F:3: header name must be letters, digits or !#$%&'*+-.^_`|~ "
		   "(in 'Name: value')\n");
	expect_err("[connector \"a\"]\nurl = http://a\nheader = X-Tenant:\n",
		   "F:3: header 'X-Tenant' has no value\n");
	expect_err("[connector \"a\"]\nurl = http://a\nheader = X-A: b\rc\n",
		   "F:3: header 'X-A' holds a control character (CR and LF are refused)\n");
	expect_err("[connector \"a\"]\nurl = http://a\nauth_header = X Key\n",
		   "F:3: auth_header must be a header name (letters, digits, -)\n");
	expect_err("[connector \"a\"]\nurl = http://a\nauth_scheme = Bearer token\n",
		   "F:3: auth_scheme must be one word such as Bearer or Basic, or empty\n");
}

static void test_bad_prefix(void **state)
{
	(void)state;
	expect_err("[mcpmux]\nclient_prefix = mcp.mux\n",
		   "F:2: client_prefix may only hold A-Z a-z 0-9 _ - and at most 40 characters\n");
	expect_err("[mcpmux]\nclient_prefix = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		   "F:2: client_prefix may only hold A-Z a-z 0-9 _ - and at most 40 characters\n");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_err("[mcpmux]\njust some words\ncall_timeout = 1\nmore words\n",
		   "F:2: expected 'key = value'\n"
		   "F:4: expected 'key = value'\n");
}

/* Every error is reported, in line order, and nothing is kept. */
static void test_several_errors(void **state)
{
	char *got;

	(void)state;
	unsetenv("MCPMUX_TEST_NOPE");
	got = load_err("[mcpmux]\n"				/* 1 */
		       "call_timeout = soon\n"			/* 2 */
		       "[connector \"first\"]\n"		/* 3 */
		       "url = gopher://x\n"			/* 4 */
		       "token = ghp_TopSecretValue\n"		/* 5 */
		       "[connector \"b\"]\n"			/* 6 */
		       "enabled = nope\n"			/* 7 */
		       "alias = a\n"				/* 8 */
		       "token = env:MCPMUX_TEST_NOPE\n"		/* 9 */
		       "[connector \"c\"]\n"			/* 10 */
		       "url = http://c\n"			/* 11 */
		       "alias = a\n"				/* 12 */
		       "wat = 1\n");				/* 13 */
	assert_null(strstr(got, "TopSecret"));
	assert_string_equal(got,
		"F:2: call_timeout must be whole seconds from 1 to 86400 (got 'soon')\n"
		"F:4: url must start with http:// or https://\n"
		"F:5: token must be a reference (env:VAR, file:/path, local:NAME, "
		"vault:MOUNT/PATH#FIELD or oauth:MOUNT/creds/NAME); a literal token "
		"is refused: secrets never live in the config\n"
		"F:6: [connector \"b\"] has no url\n"
		"F:7: enabled must be yes or no (also true/false, on/off, 1/0; got 'nope')\n"
		"F:9: environment variable MCPMUX_TEST_NOPE is not set\n"
		"F:12: alias 'a' of [connector \"c\"] is already used by [connector \"b\"] "
		"(line 6): set a different alias =\n"
		"F:13: unknown key 'wat' in [connector \"c\"]\n");
	free(got);
}

/* --- how much is read ------------------------------------------------------ */

/* config_load(path) fails with the size message alone. */
static void expect_too_big(const char *path)
{
	struct buf err = BUF_INIT, want = BUF_INIT;
	struct config cfg;

	assert_int_equal(config_load(&cfg, path, &err), -1);
	assert_empty(&cfg);
	buf_printf(&want, "%s: larger than 1 MiB, the limit for a configuration file: "
		   "is it the right file?\n", path);
	assert_string_equal(buf_str(&err), buf_str(&want));
	buf_free(&err);
	buf_free(&want);
}

static void test_size_cap(void **state)
{
	struct buf text = BUF_INIT;
	struct config cfg;
	char *path, *got;
	int i;

	(void)state;
	/* endless devices: 1 MiB is read, then one message (not one per line) */
	expect_too_big("/dev/zero");
	expect_too_big("/dev/urandom");

	/* 5 MB of one line */
	for (i = 0; i < 5000000 / 100; i++)
		buf_puts(&text, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	path = write_tmp(buf_str(&text));
	expect_too_big(path);
	drop_tmp(path);

	/* exactly 1 MiB is still a configuration file; one byte more is not */
	buf_reset(&text);
	buf_puts(&text, "[mcpmux]\n");
	while (text.len + 64 <= 1024 * 1024)
		buf_puts(&text, "; 64 bytes of comment, line after line, up to the limit ......\n");
	while (text.len < 1024 * 1024 - 1)
		buf_putc(&text, ';');
	buf_putc(&text, '\n');
	assert_int_equal(text.len, 1024 * 1024);
	load_ok(buf_str(&text), &cfg);
	config_free(&cfg);
	buf_putc(&text, '\n');
	path = write_tmp(buf_str(&text));
	expect_too_big(path);
	drop_tmp(path);

	/* a long line under the cap: "line too long", and the next line is read */
	buf_reset(&text);
	for (i = 0; i < 900 * 1000 / 100; i++)
		buf_puts(&text, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
				"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	buf_puts(&text, "\nfoo = bar\n");
	got = load_err(buf_str(&text));
	assert_string_equal(got, "F:1: line too long (at most 4094 characters)\n"
			    "F:2: key 'foo' is outside any section\n");
	free(got);
	buf_free(&text);
}

/* A FIFO is opened without waiting for a writer; a pipe (-c <(...)) is read. */
static void test_fifo_and_pipe(void **state)
{
	static const char text[] = "[connector \"p\"]\nurl = http://p\n";
	char dir[] = "/tmp/mcpmux-test-fifo-XXXXXX";
	struct buf err = BUF_INIT, path = BUF_INIT;
	struct config cfg;
	int fds[2];

	(void)state;
	assert_non_null(mkdtemp(dir));
	buf_printf(&path, "%s/fifo.ini", dir);
	assert_int_equal(mkfifo(buf_str(&path), 0600), 0);
	assert_int_equal(config_load(&cfg, buf_str(&path), &err), 0);
	assert_int_equal(cfg.nconnectors, 0);
	config_free(&cfg);
	unlink(buf_str(&path));
	rmdir(dir);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fds[1]);
	buf_reset(&path);
	buf_printf(&path, "/dev/fd/%d", fds[0]);
	assert_int_equal(config_load(&cfg, buf_str(&path), &err), 0);
	assert_int_equal(cfg.nconnectors, 1);
	assert_string_equal(cfg.connectors[0].url, "http://p");
	config_free(&cfg);
	close(fds[0]);

	assert_int_equal(config_load(&cfg, "/dev/null", &err), 0);
	assert_int_equal(cfg.nconnectors, 0);
	config_free(&cfg);
	assert_int_equal(err.len, 0);
	buf_free(&err);
	buf_free(&path);
}

static void test_cannot_open(void **state)
{
	struct buf err = BUF_INIT;
	struct config cfg;

	(void)state;
	assert_int_equal(config_load(&cfg, "/nonexistent/mcpmux.ini", &err), -1);
	assert_empty(&cfg);
	assert_string_equal(buf_str(&err),
			    "/nonexistent/mcpmux.ini: cannot open: No such file or directory\n");
	buf_reset(&err);
	assert_int_equal(config_load(&cfg, "/tmp", &err), -1);
	assert_empty(&cfg);
	assert_string_equal(buf_str(&err), "/tmp: cannot read: Is a directory\n");
	buf_free(&err);
}

/* --- names, filters, lookup --------------------------------------------- */

static void check_slug(const char *name, const char *want)
{
	struct buf out = BUF_INIT;

	buf_puts(&out, "stale");
	config_slugify(name, &out);
	assert_string_equal(buf_str(&out), want);
	buf_free(&out);
}

static void test_slugify(void **state)
{
	(void)state;
	check_slug("My Linear!", "my-linear");
	check_slug("GitHub_Enterprise", "github-enterprise");
	check_slug("---", "");
	check_slug("", "");
	check_slug("  a  b  ", "a-b");
	check_slug("Caf\xc3\xa9 D\xc3\xa9j\xc3\xa0", "caf-d-j");
	check_slug("abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345");
	check_slug("abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz012345");
	/* the cut never leaves a trailing '-' */
	check_slug("abcdefghijklmnopqrstuvwxyz01234 x", "abcdefghijklmnopqrstuvwxyz01234");
}

static void test_glob_filters(void **state)
{
	char *tools[] = { "list_*", "get_?ssue" };
	char *hide[] = { "*_admin", "list_secrets" };
	struct connector_cfg c;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_true(config_tool_allowed(&c, "anything"));
	assert_false(config_glob_any(NULL, 0, "x"));

	c.hide = hide;
	c.nhide = 2;
	assert_true(config_tool_allowed(&c, "create_issue"));
	assert_false(config_tool_allowed(&c, "user_admin"));
	assert_false(config_tool_allowed(&c, "list_secrets"));

	c.tools = tools;
	c.ntools = 2;
	assert_true(config_tool_allowed(&c, "list_issues"));
	assert_true(config_tool_allowed(&c, "get_issue"));
	assert_false(config_tool_allowed(&c, "get_issues"));
	assert_false(config_tool_allowed(&c, "create_issue"));
	assert_false(config_tool_allowed(&c, "list_secrets"));	/* hide wins */
	assert_false(config_tool_allowed(&c, "list_admin"));
	assert_true(config_glob_any(tools, 2, "list_"));
}

static void test_find(void **state)
{
	struct buf out = BUF_INIT, looked = BUF_INIT, want = BUF_INIT;
	char dir[] = "/tmp/mcpmux-test-xdg-XXXXXX";
	char *file, *home = getenv("HOME");
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	if (home)
		home = strdup(home);

	/* -c wins, found or not */
	setenv("MCPMUX_CONFIG", "/nonexistent/env.ini", 1);
	assert_int_equal(config_find("/x/y.ini", &out, &looked), 0);
	assert_string_equal(buf_str(&out), "/x/y.ini");
	assert_string_equal(buf_str(&looked), "  -c: /x/y.ini (not found)\n");

	/* $MCPMUX_CONFIG is as explicit: missing means missing */
	buf_reset(&looked);
	assert_int_equal(config_find(NULL, &out, &looked), -1);
	assert_string_equal(buf_str(&out), "/nonexistent/env.ini");
	assert_string_equal(buf_str(&looked),
			    "  $MCPMUX_CONFIG: /nonexistent/env.ini (not found)\n");
	buf_reset(&looked);
	setenv("MCPMUX_CONFIG", "sample.ini", 1);
	assert_int_equal(config_find(NULL, &out, &looked), 0);
	assert_string_equal(buf_str(&out), "sample.ini");
	assert_string_equal(buf_str(&looked), "  $MCPMUX_CONFIG: sample.ini\n");
	unsetenv("MCPMUX_CONFIG");

	/* $XDG_CONFIG_HOME, then /etc */
	setenv("XDG_CONFIG_HOME", dir, 1);
	buf_reset(&looked);
	config_find(NULL, &out, &looked);
	buf_printf(&want, "  $XDG_CONFIG_HOME/mcpmux/mcpmux.ini: %s/mcpmux/mcpmux.ini (not found)\n",
		   dir);
	assert_memory_equal(buf_str(&looked), buf_str(&want), want.len);
	/* /etc/mcpmux/mcpmux.ini may exist on this machine: the line is there anyway */
	assert_true(strncmp(buf_str(&looked) + want.len, "  /etc/mcpmux/mcpmux.ini", 24) == 0);
	buf_free(&want);

	buf_printf(&want, "%s/mcpmux", dir);
	assert_int_equal(mkdir(buf_str(&want), 0700), 0);
	buf_puts(&want, "/mcpmux.ini");
	file = strdup(buf_str(&want));
	fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);
	buf_reset(&looked);
	assert_int_equal(config_find(NULL, &out, &looked), 0);
	assert_string_equal(buf_str(&out), file);
	buf_reset(&want);
	buf_printf(&want, "  $XDG_CONFIG_HOME/mcpmux/mcpmux.ini: %s\n", file);
	assert_string_equal(buf_str(&looked), buf_str(&want));

	/* a relative $XDG_CONFIG_HOME is ignored: ~/.config is used */
	setenv("XDG_CONFIG_HOME", "relative", 1);
	setenv("HOME", dir, 1);
	buf_reset(&looked);
	buf_reset(&want);
	buf_printf(&want, "  ~/.config/mcpmux/mcpmux.ini: %s/.config/mcpmux/mcpmux.ini (not found)\n",
		   dir);
	config_find(NULL, &out, &looked);
	assert_memory_equal(buf_str(&looked), buf_str(&want), want.len);

	unsetenv("XDG_CONFIG_HOME");
	if (home)
		setenv("HOME", home, 1);
	else
		unsetenv("HOME");
	free(home);
	unlink(file);
	free(file);
	buf_reset(&want);
	buf_printf(&want, "%s/mcpmux", dir);
	rmdir(buf_str(&want));
	rmdir(dir);
	buf_free(&want);
	buf_free(&out);
	buf_free(&looked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_valid),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_file_and_prefix),
		cmocka_unit_test(test_inline_comments),
		cmocka_unit_test(test_header_repeatable),
		cmocka_unit_test(test_indent_crlf_bom),
		cmocka_unit_test(test_enabled_values),
		cmocka_unit_test(test_sample_ini),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_many_connectors),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_approval_keys),
		cmocka_unit_test(test_audit_default_and_off),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_bad_url),
		cmocka_unit_test(test_url_credentials_not_echoed),
		cmocka_unit_test(test_missing_url),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_bad_alias),
		cmocka_unit_test(test_literal_token_refused),
		cmocka_unit_test(test_token_vault_kinds),
		cmocka_unit_test(test_loopback_urls),
		cmocka_unit_test(test_vault_address),
		cmocka_unit_test(test_env_unset),
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_bad_timeout),
		cmocka_unit_test(test_bad_enabled),
		cmocka_unit_test(test_repeated_key),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_bad_prefix),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_several_errors),
		cmocka_unit_test(test_cannot_open),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_fifo_and_pipe),
		cmocka_unit_test(test_slugify),
		cmocka_unit_test(test_glob_filters),
		cmocka_unit_test(test_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
