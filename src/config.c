/* config.c - the INI configuration, parsed with inih; see include/config.h. */
#include "xalloc.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ini.h>

/*
 * Debian builds inih with INI_RUNTIME_OPTIONS: its compile-time options are
 * exported variables and a line may hold at most 200 bytes, short for a long
 * tools list. Weak references let us raise that where the variables exist and
 * still link against a stock inih; either way read_line() refuses a line that
 * does not fit rather than letting inih split it into bogus keys.
 */
extern bool ini_use_stack;
extern int ini_max_line;
#pragma weak ini_use_stack
#pragma weak ini_max_line

#define LINE_BYTES	4096	/* inih's buffer: text, '\n' and NUL */
#define FILE_MAX	(1L << 20)	/* bytes read from a configuration file, at most */
#define PREFIX_MAX	40	/* leaves room in the 64-char name budget */
#define SECS_MAX	86400
#define MAX_KEYS	16	/* >= the entries of either key table */

enum section_kind {
	SECT_NONE,		/* before the first section header */
	SECT_SKIP,		/* a refused section: its keys are not checked */
	SECT_MCPMUX,
	SECT_CONNECTOR,
	SECT_VAULT,
};

/* One error message, sorted by line before it is printed. */
struct cfg_error {
	int line;		/* 0: about the whole file */
	size_t seq;		/* keeps the order of errors on one line */
	char *msg;
};

/* Parse-time facts about a connector that the struct does not keep. */
struct conn_aux {
	int seen[MAX_KEYS];	/* line of each key's first occurrence, 0 = absent */
};

struct parse {
	struct config *cfg;
	const char *path;
	FILE *fp;
	char *line;		/* the line being read, without its '\n' */
	size_t linecap;		/* its size: longer lines are cut (next_line()) */
	long nread;		/* bytes read from fp so far */
	int too_big;		/* more than FILE_MAX: nothing else is reported */
	int lineno;		/* line being handed to inih */
	int read_errno;		/* set when reading the file failed */
	int key_line;		/* the current line must reach on_key() */
	int handled;		/* ...and it did */
	enum section_kind kind;
	size_t cur;		/* connector being filled (SECT_CONNECTOR) */
	struct buf label;	/* "[mcpmux]" or "[connector \"NAME\"]" */
	int mcpmux_seen[MAX_KEYS];
	int vault_seen[MAX_KEYS];
	int token_needs_vault;	/* line of the first vault:/oauth: reference, 0 if none */
	int mcpmux_line;	/* line of [mcpmux], 0 before it */
	struct conn_aux *aux;	/* parallel to cfg->connectors */
	size_t cap;		/* connectors and aux allocated */
	struct buf val;		/* the value being checked */
	struct cfg_error *errs;
	size_t nerrs;
};

struct key {
	const char *name;
	int repeatable;
	void (*set)(struct parse *p, const char *value);
};

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = xstrdup(s);
}

static void add_str(char ***arr, size_t *n, const char *s)
{
	*arr = xrealloc(*arr, *n + 1, sizeof(**arr));
	(*arr)[(*n)++] = xstrdup(s);
}

static void free_strs(char **arr, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(arr[i]);
	free(arr);
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	       c == '\f' || c == '\v';
}

static int is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static int is_ctl(int c)
{
	return (c >= 0 && c < 0x20) || c == 0x7f;
}

/* RFC 9110 token: header names and auth schemes. */
static int is_token(const char *s, size_t n)
{
	size_t i;

	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && !strchr("!#$%&'*+-.^_`|~", s[i]))
			return 0;
	return 1;
}

static __attribute__((format(printf, 3, 4)))
void error_at(struct parse *p, int line, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	struct cfg_error *e;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	p->errs = xrealloc(p->errs, p->nerrs + 1, sizeof(*p->errs));
	e = &p->errs[p->nerrs];
	e->line = line;
	e->seq = p->nerrs++;
	e->msg = buf_detach(&b, NULL);
}

#define error_here(p, ...) error_at((p), (p)->lineno, __VA_ARGS__)

static int error_cmp(const void *a, const void *b)
{
	const struct cfg_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void report_errors(struct parse *p, struct buf *err)
{
	size_t i;

	qsort(p->errs, p->nerrs, sizeof(*p->errs), error_cmp);
	for (i = 0; i < p->nerrs; i++) {
		if (p->errs[i].line)
			buf_printf(err, "%s:%d: %s\n", p->path, p->errs[i].line,
				   p->errs[i].msg);
		else
			buf_printf(err, "%s: %s\n", p->path, p->errs[i].msg);
		free(p->errs[i].msg);
	}
	free(p->errs);
	p->errs = NULL;
	p->nerrs = 0;
}

static struct connector_cfg *cur_conn(struct parse *p)
{
	return &p->cfg->connectors[p->cur];
}

/* --- values ------------------------------------------------------------- */

/* 1..86400 whole seconds, as milliseconds; -1 when it is not that. */
static long parse_secs(const char *v)
{
	long n = 0;

	if (!*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		n = n * 10 + (*v - '0');
		if (n > SECS_MAX)
			return -1;
	}
	return n ? n * 1000 : -1;
}

static void set_secs(struct parse *p, const char *key, const char *v, long *ms)
{
	long n = parse_secs(v);

	if (n < 0) {
		error_here(p, "%s must be whole seconds from 1 to %d (got '%s')",
			   key, SECS_MAX, v);
		return;
	}
	*ms = n;
}

static void set_call_timeout(struct parse *p, const char *v)
{
	set_secs(p, "call_timeout", v, &p->cfg->call_timeout_ms);
}

static void set_connect_timeout(struct parse *p, const char *v)
{
	set_secs(p, "connect_timeout", v, &p->cfg->connect_timeout_ms);
}

static void set_client_prefix(struct parse *p, const char *v)
{
	size_t i, n = strlen(v);

	for (i = 0; i < n; i++)
		if (!is_alnum((unsigned char)v[i]) && v[i] != '_' && v[i] != '-')
			break;
	if (i < n || n > PREFIX_MAX) {
		error_here(p, "client_prefix may only hold A-Z a-z 0-9 _ - and at most %d characters",
			   PREFIX_MAX);
		return;
	}
	set_str(&p->cfg->client_prefix, v);
}

/* URLs are never echoed back: a query string can carry a key. */
static void set_url(struct parse *p, const char *v)
{
	const char *host, *end, *s;

	if (!strncasecmp(v, "http://", 7))
		host = v + 7;
	else if (!strncasecmp(v, "https://", 8))
		host = v + 8;
	else {
		error_here(p, "url must start with http:// or https://");
		return;
	}
	for (s = v; *s; s++) {
		if (*s == ' ' || is_ctl((unsigned char)*s)) {
			error_here(p, "url must not contain spaces or control characters");
			return;
		}
	}
	end = host + strcspn(host, "/?#");
	if (memchr(host, '@', (size_t)(end - host))) {
		error_here(p, "url must not carry a user or password: use token = (secrets never live in the config)");
		return;
	}
	if (host == end || *host == ':') {
		error_here(p, "url has no host");
		return;
	}
	set_str(&cur_conn(p)->url, v);
}

static int valid_alias(const char *v)
{
	size_t n = strlen(v), i;

	if (n < 1 || n > CONFIG_MAX_ALIAS)
		return 0;
	for (i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') ||
		      v[i] == '-'))
			return 0;
	return 1;
}

static void set_alias(struct parse *p, const char *v)
{
	if (!valid_alias(v)) {
		error_here(p, "alias must be 1 to %d characters from a-z 0-9 - (got '%s')",
			   CONFIG_MAX_ALIAS, v);
		return;
	}
	set_str(&cur_conn(p)->alias, v);
}

static void set_enabled(struct parse *p, const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i])) {
			cur_conn(p)->enabled = 1;
			return;
		}
		if (!strcasecmp(v, no[i])) {
			cur_conn(p)->enabled = 0;
			return;
		}
	}
	error_here(p, "enabled must be yes or no (also true/false, on/off, 1/0; got '%s')", v);
}

/* Header values are not echoed: they may be keys the user should not paste. */
static void set_header(struct parse *p, const char *v)
{
	const char *colon = strchr(v, ':'), *val, *s;
	size_t n;
	struct buf line = BUF_INIT;

	if (!colon) {
		error_here(p, "header must be 'Name: value'");
		return;
	}
	n = (size_t)(colon - v);
	while (n && is_space((unsigned char)v[n - 1]))
		n--;
	if (!is_token(v, n)) {
		error_here(p, "header name must be letters, digits or !#$%%&'*+-.^_`|~ (in 'Name: value')");
		return;
	}
	val = colon + 1;
	while (is_space((unsigned char)*val))
		val++;
	if (!*val) {
		error_here(p, "header '%.*s' has no value", (int)n, v);
		return;
	}
	for (s = val; *s; s++) {
		if (*s != '\t' && is_ctl((unsigned char)*s)) {
			error_here(p, "header '%.*s' holds a control character (CR and LF are refused)",
				   (int)n, v);
			return;
		}
	}
	buf_printf(&line, "%.*s: %s", (int)n, v, val);
	add_str(&cur_conn(p)->headers, &cur_conn(p)->nheaders, buf_str(&line));
	buf_free(&line);
}

static void set_auth_header(struct parse *p, const char *v)
{
	if (!is_token(v, strlen(v))) {
		error_here(p, "auth_header must be a header name (letters, digits, -)");
		return;
	}
	set_str(&cur_conn(p)->auth_header, v);
}

static void set_auth_scheme(struct parse *p, const char *v)
{
	if (*v && !is_token(v, strlen(v))) {
		error_here(p, "auth_scheme must be one word such as Bearer or Basic, or empty");
		return;
	}
	set_str(&cur_conn(p)->auth_scheme, v);
}

static void check_token_env(struct parse *p, const char *var)
{
	const char *val = getenv(var);

	if (!val)
		error_here(p, "environment variable %s is not set", var);
	else if (!*val)
		error_here(p, "environment variable %s is empty", var);
}

/* Only proves the file can be opened: its contents are read at call time. */
static void check_token_file(struct parse *p, const char *path)
{
	struct stat st;
	int fd;

	/* O_NONBLOCK: a FIFO must not hang the load. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		error_here(p, "token file %s is not readable: %s", path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		error_here(p, "token file %s is not a regular file", path);
	close(fd);
}

/* The syntax is credref.c's; whether the variable is set or the file readable, ours. */
static void set_token(struct parse *p, const char *v)
{
	struct connector_cfg *c = cur_conn(p);
	struct buf why = BUF_INIT;
	size_t nerrs = p->nerrs;
	struct cred_ref *r = cred_ref_parse(v, &why);

	if (!r) {
		error_here(p, "%s", why.data);
		buf_free(&why);
		return;
	}
	if (r->kind == CRED_ENV)
		check_token_env(p, r->var);
	else if (r->kind == CRED_FILE)
		check_token_file(p, r->path);
	else if ((r->kind == CRED_VAULT || r->kind == CRED_OAUTH) && !p->token_needs_vault)
		p->token_needs_vault = p->lineno;
	if (p->nerrs != nerrs) {
		cred_ref_free(r);
		return;
	}
	cred_ref_free(c->token);
	c->token = r;
}

/* Space separated globs; an empty value leaves the list empty. */
static void set_globs(const char *v, char ***arr, size_t *n)
{
	struct buf word = BUF_INIT;
	size_t len;

	for (;;) {
		while (is_space((unsigned char)*v))
			v++;
		if (!*v)
			break;
		len = 0;
		while (v[len] && !is_space((unsigned char)v[len]))
			len++;
		buf_reset(&word);
		buf_add(&word, v, len);
		add_str(arr, n, buf_str(&word));
		v += len;
	}
	buf_free(&word);
}

static void set_tools(struct parse *p, const char *v)
{
	set_globs(v, &cur_conn(p)->tools, &cur_conn(p)->ntools);
}

static void set_hide(struct parse *p, const char *v)
{
	set_globs(v, &cur_conn(p)->hide, &cur_conn(p)->nhide);
}

static void set_timeout(struct parse *p, const char *v)
{
	set_secs(p, "timeout", v, &cur_conn(p)->timeout_ms);
}

static const char *home_dir(void);

static const char *const approvals_names[] = {
	[APPROVALS_AUTO] = "auto", [APPROVALS_TERMINAL] = "terminal", [APPROVALS_TTY] = "tty",
	[APPROVALS_ELICITATION] = "elicitation", [APPROVALS_DENY] = "deny", NULL
};
static const char *const mode_names[] = {
	[APPROVAL_DEFAULT] = "default", [APPROVAL_ASK] = "ask", [APPROVAL_AUTO] = "auto", NULL
};
static const char *const label_names[] = { [LABEL_READ] = "read", [LABEL_WRITE] = "write", NULL };

const char *config_approvals_name(int channel)
{
	return channel >= 0 && channel <= APPROVALS_DENY ? approvals_names[channel] : "?";
}

/* Index of v in names, or -1 after an error that lists the choices. */
static int pick(struct parse *p, const char *key, const char *v, const char *const *names)
{
	struct buf choices = BUF_INIT;
	int i;

	for (i = 0; names[i]; i++)
		if (!strcmp(v, names[i]))
			return i;
	for (i = 0; names[i]; i++)
		buf_printf(&choices, "%s%s", i ? " | " : "", names[i]);
	error_here(p, "%s must be %s", key, choices.data);
	buf_free(&choices);
	return -1;
}

static void set_approvals(struct parse *p, const char *v)
{
	int i = pick(p, "approvals", v, approvals_names);

	if (i >= 0)
		p->cfg->approvals = i;
}

static void set_approval_timeout(struct parse *p, const char *v)
{
	set_secs(p, "approval_timeout", v, &p->cfg->approval_timeout_ms);
}

/* Whole MiB from 1 to CONFIG_MAX_MESSAGE_MIB, as bytes. */
static void set_mib(struct parse *p, const char *key, const char *v, size_t *bytes)
{
	unsigned long n = 0;
	const char *s;

	for (s = v; *s >= '0' && *s <= '9' && n <= CONFIG_MAX_MESSAGE_MIB; s++)
		n = n * 10 + (unsigned long)(*s - '0');
	if (!*v || *s || n < 1 || n > CONFIG_MAX_MESSAGE_MIB) {
		error_here(p, "%s must be whole MiB from 1 to %d (got '%s')", key,
			   CONFIG_MAX_MESSAGE_MIB, v);
		return;
	}
	*bytes = (size_t)n << 20;
}

static void set_max_message(struct parse *p, const char *v)
{
	set_mib(p, "max_message", v, &p->cfg->max_message);
}

static void set_conn_max_message(struct parse *p, const char *v)
{
	set_mib(p, "max_message", v, &cur_conn(p)->max_message);
}

/* "~/x" is $HOME/x; a relative path would depend on where the agent starts us. */
static char *expand_path(const char *v)
{
	struct buf b = BUF_INIT;
	const char *home = home_dir();

	if (v[0] == '~' && v[1] == '/') {
		if (!home)
			return NULL;
		buf_printf(&b, "%s%s", home, v + 1);
	} else if (v[0] == '/') {
		buf_puts(&b, v);
	} else {
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static void set_audit_log(struct parse *p, const char *v)
{
	char *path;

	free(p->cfg->audit_log);
	p->cfg->audit_log = NULL;
	if (!strcmp(v, "off"))
		return;
	path = expand_path(v);
	if (!path) {
		error_here(p, "audit_log must be an absolute path, a path starting with ~/, or off");
		return;
	}
	p->cfg->audit_log = path;
}

static void set_approval(struct parse *p, const char *v)
{
	int i = pick(p, "approval", v, mode_names);

	if (i >= 0)
		cur_conn(p)->approval = i;
}

static void add_rule(struct parse *p, const char *key, const char *glob, int value,
		     struct glob_rule **rules, size_t *n)
{
	size_t i;

	if (!*glob) {
		error_here(p, "%s. needs a tool name or glob after the dot", key);
		return;
	}
	for (i = 0; i < *n; i++) {
		if (!strcmp((*rules)[i].glob, glob)) {
			error_here(p, "'%s.%s' is repeated in %s (first at line %d)", key, glob,
				   buf_str(&p->label), (*rules)[i].line);
			return;
		}
	}
	*rules = xrealloc(*rules, *n + 1, sizeof(**rules));
	(*rules)[*n].glob = xstrdup(glob);
	(*rules)[*n].value = value;
	(*rules)[*n].line = p->lineno;
	(*n)++;
}

/* approval.<glob> and label.<glob>: keys whose name carries the tool. 1 if handled. */
static int rule_key(struct parse *p, const char *name, const char *v)
{
	struct connector_cfg *c = cur_conn(p);
	int i;

	if (!strncmp(name, "approval.", 9)) {
		i = pick(p, name, v, mode_names);
		if (i >= 0)
			add_rule(p, "approval", name + 9, i, &c->approval_rules, &c->napproval_rules);
		return 1;
	}
	if (!strncmp(name, "label.", 6)) {
		i = pick(p, name, v, label_names);
		if (i >= 0)
			add_rule(p, "label", name + 6, i, &c->label_rules, &c->nlabel_rules);
		return 1;
	}
	return 0;
}

static const char *const vault_type_names[] = {
	[VAULT_LOCAL] = "local", [VAULT_HASHICORP] = "hashicorp", [VAULT_NONE] = "none", NULL
};
static const char *const vault_auth_names[] = {
	[VAULT_AUTH_TOKEN] = "token", [VAULT_AUTH_APPROLE] = "approle", NULL
};

static void set_vault_type(struct parse *p, const char *v)
{
	int i = pick(p, "type", v, vault_type_names);

	if (i >= 0)
		p->cfg->vault.type = i;
}

static void set_vault_auth(struct parse *p, const char *v)
{
	int i = pick(p, "auth", v, vault_auth_names);

	if (i >= 0)
		p->cfg->vault.auth = i;
}

static void set_vault_file(struct parse *p, const char *key, const char *v, char **dst)
{
	char *path = expand_path(v);

	if (!path) {
		error_here(p, "%s must be an absolute path or start with ~/", key);
		return;
	}
	free(*dst);
	*dst = path;
}

static void set_vault_path(struct parse *p, const char *v)
{
	set_vault_file(p, "path", v, &p->cfg->vault.path);
}

static void set_vault_key_file(struct parse *p, const char *v)
{
	set_vault_file(p, "key_file", v, &p->cfg->vault.key_file);
}

static void set_vault_ca_file(struct parse *p, const char *v)
{
	set_vault_file(p, "ca_file", v, &p->cfg->vault.ca_file);
}

static void set_vault_token_file(struct parse *p, const char *v)
{
	set_vault_file(p, "token_file", v, &p->cfg->vault.token_file);
}

static void set_vault_secret_id_file(struct parse *p, const char *v)
{
	set_vault_file(p, "secret_id_file", v, &p->cfg->vault.secret_id_file);
}

static void set_vault_address(struct parse *p, const char *v)
{
	struct buf why = BUF_INIT;

	if (config_check_vault_url(v, &why) != 0)
		error_here(p, "address %s", buf_str(&why));
	else
		set_str(&p->cfg->vault.address, v);
	buf_free(&why);
}

static void set_vault_namespace(struct parse *p, const char *v)
{
	set_str(&p->cfg->vault.namespace_, v);
}

static void set_vault_role_id(struct parse *p, const char *v)
{
	set_str(&p->cfg->vault.role_id, v);
}

static void set_vault_cache_ttl(struct parse *p, const char *v)
{
	set_secs(p, "cache_ttl", v, &p->cfg->vault.cache_ttl_ms);
}

static const struct key vault_keys[] = {
	{ "type", 0, set_vault_type },
	{ "path", 0, set_vault_path },
	{ "key_file", 0, set_vault_key_file },
	{ "address", 0, set_vault_address },
	{ "namespace", 0, set_vault_namespace },
	{ "ca_file", 0, set_vault_ca_file },
	{ "auth", 0, set_vault_auth },
	{ "token_file", 0, set_vault_token_file },
	{ "role_id", 0, set_vault_role_id },
	{ "secret_id_file", 0, set_vault_secret_id_file },
	{ "cache_ttl", 0, set_vault_cache_ttl },
	{ NULL, 0, NULL }
};

static const struct key mcpmux_keys[] = {
	{ "client_prefix", 0, set_client_prefix },
	{ "call_timeout", 0, set_call_timeout },
	{ "connect_timeout", 0, set_connect_timeout },
	{ "approvals", 0, set_approvals },
	{ "approval_timeout", 0, set_approval_timeout },
	{ "audit_log", 0, set_audit_log },
	{ "max_message", 0, set_max_message },
	{ NULL, 0, NULL }
};

/* Indexes into connector_keys, for the checks made at the end of the file. */
enum { K_URL, K_ALIAS };

static const struct key connector_keys[] = {
	[K_URL] = { "url", 0, set_url },
	[K_ALIAS] = { "alias", 0, set_alias },
	{ "enabled", 0, set_enabled },
	{ "header", 1, set_header },
	{ "auth_header", 0, set_auth_header },
	{ "auth_scheme", 0, set_auth_scheme },
	{ "token", 0, set_token },
	{ "tools", 0, set_tools },
	{ "hide", 0, set_hide },
	{ "timeout", 0, set_timeout },
	{ "approval", 0, set_approval },
	{ "max_message", 0, set_conn_max_message },
	{ NULL, 0, NULL }
};


/* --- sections ----------------------------------------------------------- */

static void start_connector(struct parse *p, const char *name)
{
	struct config *cfg = p->cfg;
	struct connector_cfg *c;
	size_t i;

	for (i = 0; i < cfg->nconnectors; i++) {
		if (!strcmp(cfg->connectors[i].name, name)) {
			error_here(p, "duplicate section [connector \"%s\"] (first at line %d)",
				   name, cfg->connectors[i].line);
			return;
		}
	}
	if (cfg->nconnectors >= CONFIG_MAX_CONNECTORS) {
		error_here(p, "too many connectors (at most %d)", CONFIG_MAX_CONNECTORS);
		return;
	}
	if (cfg->nconnectors == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		cfg->connectors = xrealloc(cfg->connectors, p->cap, sizeof(*cfg->connectors));
		p->aux = xrealloc(p->aux, p->cap, sizeof(*p->aux));
	}
	p->cur = cfg->nconnectors++;
	c = cur_conn(p);
	memset(c, 0, sizeof(*c));
	memset(&p->aux[p->cur], 0, sizeof(p->aux[p->cur]));
	c->name = xstrdup(name);
	c->enabled = 1;
	c->auth_header = xstrdup("Authorization");
	c->auth_scheme = xstrdup("Bearer");
	c->line = p->lineno;
	p->kind = SECT_CONNECTOR;
	buf_reset(&p->label);
	buf_printf(&p->label, "[connector \"%s\"]", name);
}

/* `rest` follows the word "connector": it must be  "NAME"  and nothing else. */
static void connector_section(struct parse *p, char *rest)
{
	char *end, *s;

	while (is_space((unsigned char)*rest))
		rest++;
	end = rest + strlen(rest);
	if (*rest != '"' || end - rest < 3 || end[-1] != '"') {
		error_here(p, "a connector section is written [connector \"NAME\"]");
		return;
	}
	end[-1] = '\0';
	rest++;
	for (s = rest; *s; s++) {
		if (*s == '"' || is_ctl((unsigned char)*s)) {
			error_here(p, "a connector name may not hold '\"' or control characters");
			return;
		}
	}
	start_connector(p, rest);
}

static void start_section(struct parse *p, char *name)
{
	p->kind = SECT_SKIP;
	if (!strcmp(name, "mcpmux")) {
		if (p->mcpmux_line) {
			error_here(p, "duplicate section [mcpmux] (first at line %d)",
				   p->mcpmux_line);
			return;
		}
		p->mcpmux_line = p->lineno;
		p->kind = SECT_MCPMUX;
		buf_reset(&p->label);
		buf_puts(&p->label, "[mcpmux]");
	} else if (!strncmp(name, "connector", 9) &&
		   (is_space((unsigned char)name[9]) || name[9] == '"')) {
		connector_section(p, name + 9);
	} else if (!strcmp(name, "vault")) {
		if (p->cfg->vault.line) {
			error_here(p, "duplicate section [vault] (first at line %d)", p->cfg->vault.line);
			return;
		}
		p->cfg->vault.line = p->lineno;
		p->kind = SECT_VAULT;
		buf_reset(&p->label);
		buf_puts(&p->label, "[vault]");
	} else {
		error_here(p, "unknown section [%s]", name);
	}
}

/*
 * inih keeps only 49 bytes of a section name and never reports an empty
 * section, so section headers are read here. Returns -1 when the line is not
 * a well-formed header; it is then hidden from inih.
 */
static int section_line(struct parse *p, char *s)
{
	char *close = strchr(s, ']'), *rest, *name, *end;

	if (!close) {
		error_here(p, "section header has no closing ']'");
		p->kind = SECT_SKIP;
		return -1;
	}
	for (rest = close + 1; is_space((unsigned char)*rest); rest++)
		;
	if (*rest && *rest != ';') {
		error_here(p, "unexpected text after ']'");
		p->kind = SECT_SKIP;
		return -1;
	}
	*close = '\0';
	for (name = s + 1; is_space((unsigned char)*name); name++)
		;
	for (end = close; end > name && is_space((unsigned char)end[-1]); end--)
		;
	*end = '\0';
	start_section(p, name);
	return 0;
}

/* --- reading ------------------------------------------------------------ */

/* A key line that inih did not hand to on_key() had no '=' or ':'. */
static void check_handled(struct parse *p)
{
	if (p->key_line && !p->handled)
		error_here(p, "expected 'key = value'");
	p->key_line = 0;
}

/*
 * Reads the next line into p->line without its '\n', keeping at most
 * p->linecap - 1 bytes: the rest of a longer line is read and dropped, and
 * *cut is set. Returns the length kept, or -1 when there is no line: at the
 * end of the file, on a read error (p->read_errno), or once more than
 * FILE_MAX bytes were read (p->too_big), so memory and time stay bounded
 * whatever the file is (/dev/zero, a FIFO, a huge file).
 */
static ssize_t next_line(struct parse *p, int *cut)
{
	size_t n = 0;
	int c = EOF, any = 0;

	*cut = 0;
	errno = 0;
	for (;;) {
		c = getc(p->fp);
		if (c == EOF || c == '\n')
			break;
		any = 1;
		if (++p->nread > FILE_MAX) {
			p->too_big = 1;
			return -1;
		}
		if (n + 1 < p->linecap)
			p->line[n++] = (char)c;
		else
			*cut = 1;
	}
	if (c == EOF && ferror(p->fp)) {
		p->read_errno = errno ? errno : EIO;
		return -1;
	}
	if (c == '\n' && ++p->nread > FILE_MAX) {
		p->too_big = 1;
		return -1;
	}
	if (c == EOF && !any)
		return -1;
	p->line[n] = '\0';
	return (ssize_t)n;
}

/*
 * inih's reader, called once per line. It counts lines for the messages,
 * strips the indentation so inih never takes a line for the continuation of
 * the previous value, and refuses what inih would mangle (lines longer than
 * its buffer, NUL bytes) by handing it an empty line instead.
 */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	ssize_t n;
	size_t len;
	int cut;
	char *s;

	check_handled(p);
	if (num < 2)
		return NULL;
	if (!p->line) {
		/* room for indentation around the longest line inih takes */
		p->linecap = (size_t)num + LINE_BYTES;
		p->line = xrealloc(NULL, p->linecap, 1);
	}
	n = next_line(p, &cut);
	if (n < 0)
		return NULL;
	p->lineno++;
	s = p->line;
	len = (size_t)n;
	if (memchr(s, '\0', len)) {
		error_here(p, "line holds a NUL byte");
		len = 0;
	} else if (cut) {
		error_here(p, "line too long (at most %d characters)", num - 2);
		len = 0;
	}
	if (p->lineno == 1 && len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) {
		s += 3;
		len -= 3;
	}
	while (len && is_space((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && is_space((unsigned char)s[len - 1]))
		len--;
	s[len] = '\0';
	if (len + 2 > (size_t)num) {
		error_here(p, "line too long (at most %d characters)", num - 2);
		len = 0;
	}
	/* inih gets a copy: section_line() cuts its argument up */
	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	if (len && *s == '[') {
		if (section_line(p, s) < 0)
			strcpy(str, "\n");
	} else if (len && *s != ';' && *s != '#') {
		p->key_line = 1;
		p->handled = 0;
	}
	return str;
}

/* inih drops " ; comment" when built with inline comments (Debian's is);
   doing it again keeps a build without them from merging comments into values. */
static void strip_comment(struct buf *v)
{
	size_t i;

	for (i = 1; i < v->len; i++) {
		if (v->data[i] == ';' && is_space((unsigned char)v->data[i - 1])) {
			v->len = i;
			break;
		}
	}
	while (v->len && is_space((unsigned char)v->data[v->len - 1]))
		v->len--;
	if (v->data)
		v->data[v->len] = '\0';
}

static const struct key *find_key(const struct key *keys, const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; keys[i].name; i++) {
		if (!strcmp(keys[i].name, name)) {
			*idx = i;
			return &keys[i];
		}
	}
	return NULL;
}

/* The section argument is ignored: read_line() tracks sections itself. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	const struct key *k;
	size_t idx;
	int *seen;

	(void)section;
	p->handled = 1;
	if (!name || !value) {
		error_here(p, "expected 'key = value'");
		return 1;
	}
	if (p->kind == SECT_NONE) {
		error_here(p, "key '%s' is outside any section", name);
		return 1;
	}
	if (p->kind == SECT_SKIP)
		return 1;
	if (p->kind == SECT_CONNECTOR) {
		buf_reset(&p->val);
		buf_puts(&p->val, value);
		strip_comment(&p->val);
		if (rule_key(p, name, buf_str(&p->val)))
			return 1;
	}
	k = find_key(p->kind == SECT_MCPMUX ? mcpmux_keys :
		     p->kind == SECT_VAULT ? vault_keys : connector_keys, name, &idx);
	if (!k) {
		error_here(p, "unknown key '%s' in %s", name, buf_str(&p->label));
		return 1;
	}
	seen = p->kind == SECT_MCPMUX ? p->mcpmux_seen :
	       p->kind == SECT_VAULT ? p->vault_seen : p->aux[p->cur].seen;
	if (seen[idx] && !k->repeatable) {
		error_here(p, "'%s' is repeated in %s (first at line %d)", name,
			   buf_str(&p->label), seen[idx]);
		return 1;
	}
	if (!seen[idx])
		seen[idx] = p->lineno;
	buf_reset(&p->val);
	buf_puts(&p->val, value);
	strip_comment(&p->val);
	k->set(p, buf_str(&p->val));
	return 1;
}

/* --- whole-file checks -------------------------------------------------- */

static void finish_alias(struct parse *p, size_t i)
{
	struct connector_cfg *c = &p->cfg->connectors[i];
	int line = p->aux[i].seen[K_ALIAS];
	struct buf slug = BUF_INIT;
	size_t j;

	if (line && !c->alias)
		return;		/* an invalid alias was already reported */
	if (!line) {
		line = c->line;
		config_slugify(c->name, &slug);
		if (!slug.len) {
			error_at(p, line, "no alias can be made from the name \"%s\": add alias = (a-z 0-9 -, at most %d characters)",
				 c->name, CONFIG_MAX_ALIAS);
			buf_free(&slug);
			return;
		}
		c->alias = buf_detach(&slug, NULL);
	}
	for (j = 0; j < i; j++) {
		const struct connector_cfg *o = &p->cfg->connectors[j];

		if (o->alias && !strcmp(o->alias, c->alias)) {
			error_at(p, line, "alias '%s' of [connector \"%s\"] is already used by [connector \"%s\"] (line %d): set a different alias =",
				 c->alias, c->name, o->name, o->line);
			return;
		}
	}
}

/* A header with the credential's name would carry a literal secret. */
static void finish_headers(struct parse *p, const struct connector_cfg *c)
{
	size_t i, n = strlen(c->auth_header);

	for (i = 0; i < c->nheaders; i++) {
		if (!strncasecmp(c->headers[i], c->auth_header, n) && c->headers[i][n] == ':')
			error_at(p, c->line, "[connector \"%s\"] sets header %s, which carries the credential: use token = (secrets never live in the config)",
				 c->name, c->auth_header);
	}
}

static void finish_vault(struct parse *p)
{
	struct vault_cfg *v = &p->cfg->vault;

	if (p->token_needs_vault && v->type != VAULT_HASHICORP)
		error_at(p, p->token_needs_vault, "vault: and oauth: references need a [vault] section "
			 "with type = hashicorp");
	if (v->type == VAULT_HASHICORP && v->auth == VAULT_AUTH_APPROLE &&
	    (!v->role_id || !v->secret_id_file))
		error_at(p, v->line, "[vault] auth = approle needs role_id and secret_id_file");
}

static void finish(struct parse *p)
{
	size_t i;

	finish_vault(p);

	for (i = 0; i < p->cfg->nconnectors; i++) {
		struct connector_cfg *c = &p->cfg->connectors[i];

		if (!p->aux[i].seen[K_URL])
			error_at(p, c->line, "[connector \"%s\"] has no url", c->name);
		finish_alias(p, i);
		finish_headers(p, c);
	}
}

/* Past FILE_MAX nothing else about the file is worth reading. */
static void report_too_big(struct parse *p)
{
	size_t i;

	for (i = 0; i < p->nerrs; i++)
		free(p->errs[i].msg);
	p->nerrs = 0;
	error_at(p, 0, "larger than %ld MiB, the limit for a configuration file: is it the right file?",
		 FILE_MAX >> 20);
}

static void parse_file(struct parse *p)
{
	bool use_stack = false;
	int max_line = 0, knobs = &ini_use_stack && &ini_max_line;
	int rc;

	if (p->too_big) {
		report_too_big(p);
		return;
	}
	if (knobs) {
		use_stack = ini_use_stack;
		max_line = ini_max_line;
		ini_use_stack = true;
		if (ini_max_line < LINE_BYTES)
			ini_max_line = LINE_BYTES;
	}
	rc = ini_parse_stream(read_line, p, on_key, p);
	if (knobs) {
		ini_use_stack = use_stack;
		ini_max_line = max_line;
	}
	if (rc == -2)
		xalloc_die();
	check_handled(p);
	if (p->too_big) {
		report_too_big(p);
		return;
	}
	if (p->read_errno) {
		error_at(p, 0, "cannot read: %s", strerror(p->read_errno));
		return;
	}
	if (rc > 0 && !p->nerrs)	/* inih saw something read_line() did not */
		error_at(p, rc, "syntax error");
	finish(p);
}

/*
 * Opens the file to read. O_NONBLOCK keeps open() from waiting for a FIFO's
 * writer (none: the FIFO reads as empty); reads then wait as usual. A
 * regular file over FILE_MAX is refused before anything is read.
 */
static FILE *open_config(struct parse *p)
{
	int fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	int flags, e;
	FILE *fp;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > FILE_MAX)
		p->too_big = 1;
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	fp = fdopen(fd, "r");
	if (!fp) {
		e = errno;
		close(fd);
		errno = e;
	}
	return fp;
}

int config_load(struct config *cfg, const char *path, struct buf *err)
{
	struct parse p;

	memset(cfg, 0, sizeof(*cfg));
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.path = path;
	p.fp = open_config(&p);
	if (!p.fp) {
		buf_printf(err, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	cfg->path = xstrdup(path);
	cfg->client_prefix = xstrdup(CONFIG_DEFAULT_PREFIX);
	cfg->call_timeout_ms = CONFIG_DEFAULT_CALL_MS;
	cfg->connect_timeout_ms = CONFIG_DEFAULT_CONNECT_MS;
	cfg->approvals = APPROVALS_AUTO;
	cfg->approval_timeout_ms = CONFIG_DEFAULT_APPROVAL_MS;
	cfg->max_message = (size_t)CONFIG_DEFAULT_MESSAGE_MIB << 20;
	cfg->audit_log = expand_path(CONFIG_DEFAULT_AUDIT);
	cfg->vault.type = VAULT_LOCAL;
	cfg->vault.path = expand_path(CONFIG_DEFAULT_VAULT_PATH);
	cfg->vault.key_file = expand_path(CONFIG_DEFAULT_VAULT_KEY);
	cfg->vault.token_file = expand_path(CONFIG_DEFAULT_TOKEN_FILE);
	cfg->vault.cache_ttl_ms = CONFIG_DEFAULT_CACHE_TTL_MS;
	parse_file(&p);
	fclose(p.fp);
	free(p.line);
	free(p.aux);
	buf_free(&p.val);
	buf_free(&p.label);
	if (!p.nerrs)
		return 0;
	report_errors(&p, err);
	config_free(cfg);
	return -1;
}

static void free_rules(struct glob_rule *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(r[i].glob);
	free(r);
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nconnectors; i++) {
		struct connector_cfg *c = &cfg->connectors[i];

		free(c->name);
		free(c->alias);
		free(c->url);
		free_strs(c->headers, c->nheaders);
		free(c->auth_header);
		free(c->auth_scheme);
		cred_ref_free(c->token);
		free_strs(c->tools, c->ntools);
		free_strs(c->hide, c->nhide);
		free_rules(c->approval_rules, c->napproval_rules);
		free_rules(c->label_rules, c->nlabel_rules);
	}
	free(cfg->connectors);
	free(cfg->audit_log);
	free(cfg->vault.path);
	free(cfg->vault.key_file);
	free(cfg->vault.address);
	free(cfg->vault.namespace_);
	free(cfg->vault.ca_file);
	free(cfg->vault.token_file);
	free(cfg->vault.role_id);
	free(cfg->vault.secret_id_file);
	free(cfg->path);
	free(cfg->client_prefix);
	memset(cfg, 0, sizeof(*cfg));
}

/* --- lookup ------------------------------------------------------------- */

/* Tries one place: a line in `looked`, and 0 when the file exists. */
static int try_path(const char *label, const char *path, struct buf *out,
		    struct buf *looked)
{
	struct stat st;
	int found = stat(path, &st) == 0;
	int e = errno;

	buf_reset(out);
	buf_puts(out, path);
	if (label)
		buf_printf(looked, "  %s: %s", label, path);
	else
		buf_printf(looked, "  %s", path);
	if (!found)
		buf_printf(looked, " (%s)", e == ENOENT ? "not found" : strerror(e));
	buf_putc(looked, '\n');
	return found ? 0 : -1;
}

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home && *home)
		return home;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir ? pw->pw_dir : NULL;
}

/*
 * $MCPMUX_CONFIG names the file as surely as -c does, so a missing one is
 * not replaced by another file. When nothing is found, out is left holding
 * the per-user path: where `mcpmux init` would write a new file.
 */
int config_find(const char *explicit_path, struct buf *out, struct buf *looked)
{
	const char *env = getenv("MCPMUX_CONFIG"), *xdg, *home;
	struct buf user = BUF_INIT;
	const char *label = NULL;

	if (explicit_path) {
		try_path("-c", explicit_path, out, looked);
		return 0;
	}
	if (env && *env)
		return try_path("$MCPMUX_CONFIG", env, out, looked);
	xdg = getenv("XDG_CONFIG_HOME");
	home = home_dir();
	/* the XDG spec says a relative $XDG_CONFIG_HOME is to be ignored */
	if (xdg && *xdg == '/') {
		label = "$XDG_CONFIG_HOME/mcpmux/mcpmux.ini";
		buf_printf(&user, "%s/mcpmux/mcpmux.ini", xdg);
	} else if (home) {
		label = "~/.config/mcpmux/mcpmux.ini";
		buf_printf(&user, "%s/.config/mcpmux/mcpmux.ini", home);
	}
	if (user.len && try_path(label, buf_str(&user), out, looked) == 0) {
		buf_free(&user);
		return 0;
	}
	if (try_path(NULL, "/etc/mcpmux/mcpmux.ini", out, looked) == 0) {
		buf_free(&user);
		return 0;
	}
	buf_reset(out);
	buf_puts(out, buf_str(&user));
	buf_free(&user);
	return -1;
}

/* --- names and filters -------------------------------------------------- */

void config_slugify(const char *name, struct buf *out)
{
	int gap = 0;
	int c;

	buf_reset(out);
	for (; *name; name++) {
		c = (unsigned char)*name;
		if (!is_alnum(c)) {
			gap = out->len > 0;
			continue;
		}
		if (out->len + (size_t)gap + 1 > CONFIG_MAX_ALIAS)
			break;
		if (gap)
			buf_putc(out, '-');
		buf_putc(out, (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
		gap = 0;
	}
}

int config_glob_any(char *const *globs, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fnmatch(globs[i], name, 0) == 0)
			return 1;
	return 0;
}

int config_tool_allowed(const struct connector_cfg *c, const char *tool)
{
	if (c->ntools && !config_glob_any(c->tools, c->ntools, tool))
		return 0;
	return !config_glob_any(c->hide, c->nhide, tool);
}

int config_rule_value(const struct glob_rule *rules, size_t n, const char *tool, int dflt)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fnmatch(rules[i].glob, tool, 0) == 0)
			return rules[i].value;
	return dflt;
}

/* --- URLs --------------------------------------------------------------- */

/* 127.0.0.0/8 written as four decimal octets, 0 to 255, without leading zeros:
   a form that every parser reads as the same loopback address. */
static int is_loopback_ipv4(const char *h)
{
	int i;

	for (i = 0; i < 4; i++) {
		const char *start = h;
		int v = 0;

		while (*h >= '0' && *h <= '9' && h - start < 3)
			v = v * 10 + (*h++ - '0');
		if (h == start || (h - start > 1 && *start == '0') || v > 255 ||
		    (i == 0 && v != 127))
			return 0;
		if (i < 3 && *h++ != '.')
			return 0;
	}
	return *h == '\0';
}

/*
 * Parses url as libcurl does when it is given as CURLOPT_URL. Returns the
 * handle (curl_url_cleanup() it), or NULL with libcurl's reason in *why.
 * tls: 1 for https, 0 for http, -1 for any other scheme.
 */
static CURLU *parse_url(const char *url, int *tls, const char **why)
{
	CURLU *u = curl_url();
	CURLUcode rc;
	char *scheme = NULL;

	if (!u)
		xalloc_die();
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (rc != CURLUE_OK) {
		if (rc == CURLUE_OUT_OF_MEMORY)
			xalloc_die();
		*why = curl_url_strerror(rc);
		curl_url_cleanup(u);
		return NULL;
	}
	*tls = !strcmp(scheme, "https") ? 1 : !strcmp(scheme, "http") ? 0 : -1;
	curl_free(scheme);
	return u;
}

static int has_part(CURLU *u, CURLUPart what)
{
	char *part = NULL;
	CURLUcode rc = curl_url_get(u, what, &part, 0);

	if (rc == CURLUE_OUT_OF_MEMORY)
		xalloc_die();
	curl_free(part);
	return rc == CURLUE_OK;
}

/* The host libcurl connects to: it has already turned 127.1, 0x7f.1 and
   2130706433 into 127.0.0.1 and [0::1] into [::1]. */
static int is_loopback_host(CURLU *u)
{
	char *host = NULL;
	int yes;

	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_free(host);
		return 0;
	}
	yes = !strcasecmp(host, "localhost") || !strcmp(host, "[::1]") ||
	      is_loopback_ipv4(host);
	curl_free(host);
	return yes;
}

int config_is_loopback_url(const char *url)
{
	const char *why;
	int tls, yes;
	CURLU *u = parse_url(url, &tls, &why);

	if (!u)
		return 0;
	yes = tls >= 0 && is_loopback_host(u);
	curl_url_cleanup(u);
	return yes;
}

int config_check_vault_url(const char *url, struct buf *why)
{
	const char *bad;
	int tls, rc = -1;
	CURLU *u = parse_url(url, &tls, &bad);

	if (!u) {
		buf_printf(why, "is not a URL libcurl accepts (%s): write it as https://HOST[:PORT]", bad);
		return -1;
	}
	if (tls < 0)
		buf_puts(why, "must start with https:// (http:// only to 127.0.0.1, [::1] or localhost)");
	else if (has_part(u, CURLUPART_USER) || has_part(u, CURLUPART_PASSWORD) ||
		 has_part(u, CURLUPART_OPTIONS))
		buf_puts(why, "must not carry a user name or password (\"user@\" before the host): "
			 "write only the vault's URL, such as https://vault.example.com:8200");
	else if (!tls && !is_loopback_host(u))
		buf_puts(why, "must use https:// (http:// only to 127.0.0.1, [::1] or localhost): "
			 "a vault token must not cross the network in clear text");
	else
		rc = 0;
	curl_url_cleanup(u);
	return rc;
}
