/* vault.c - HashiCorp Vault / OpenBao client on the loop; see include/vault.h. */
#include "xalloc.h"
#include "vault.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "json.h"
#include "list.h"
#include "log.h"

#define VAULT_TIMEOUT_MS	10000
#define OAUTH_MIN_SECONDS	60	/* a token valid at least this long */

enum token_state {
	TOKEN_NONE,		/* not logged in */
	TOKEN_PENDING,		/* logging in */
	TOKEN_READY
};

struct vault_read {
	struct vault *v;
	struct vault_read *prev, *next;
	const struct cred_ref *ref; /* CRED_VAULT or CRED_OAUTH (borrowed): path after /v1/, field */
	long min_seconds;	/* oauth: minimum_seconds to ask for */
	int relogged;		/* already logged in again after "invalid token" */
	struct http *http;	/* in flight, or NULL while waiting for a login */
	vault_read_cb cb;
	void *arg;
};

struct vault {
	struct loop *loop;		/* not owned */
	const struct config *cfg;	/* not owned */
	char *base;			/* address without a trailing slash */
	char *ns;			/* namespace, or NULL */
	char *ca;			/* CA bundle, or NULL */
	int direct;			/* on loopback: never through a proxy */
	struct secret *token;		/* the vault token */
	enum token_state tstate;
	struct http *auth;		/* login, lookup-self or renew-self in flight */
	struct loop_timer *renew;	/* refreshes the vault token before it expires */
	struct loop_defer *login_soon;	/* logs in on the next turn, outside vault_read() */
	long long full_ttl;		/* the lease a fresh login gives, seconds */
	int relogin;			/* renewals are capped (max_ttl): log in again instead */
	struct vault_read *reads;
};


static const char *env2(const char *bao, const char *vault)
{
	const char *v = getenv(bao);

	if (v && *v)
		return v;
	v = getenv(vault);
	return v && *v ? v : NULL;
}

/* Where vault_new() took the address from, for its messages. */
static const char *addr_source(const struct config *cfg)
{
	const char *bao = getenv("BAO_ADDR");

	if (cfg->vault.address)
		return "[vault] address";
	return bao && *bao ? "BAO_ADDR" : "VAULT_ADDR";
}

/* --- time --- */

static int digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int64_t vault_parse_time(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	int64_t ms = 0, scale = 100;
	const char *p;
	time_t t;

	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &se))
		return -1;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && !digits(p + 1, 2, &oh) && p[3] == ':' &&
		   !digits(p + 4, 2, &om)) {
		sign = *p == '+' ? 1 : -1;
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	t -= sign * (oh * 3600 + om * 60);
	return (int64_t)t * 1000 + ms;
}

/* Unix ms to loop_now() ms. */
static int64_t to_loop_time(int64_t unix_ms)
{
	struct timespec ts;
	int64_t now_unix;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_unix = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return loop_now() + (unix_ms - now_unix);
}

/* --- requests --- */

static struct http *vault_http(struct vault *v, const char *method, const char *path,
			       int with_token)
{
	struct buf url = BUF_INIT;
	struct http *h;

	buf_printf(&url, "%s/v1/%s", v->base, path);
	h = http_new(v->loop, method, url.data);
	buf_free(&url);
	http_set_sensitive(h);
	http_header(h, "X-Vault-Request", "true");
	http_header(h, "Accept", "application/json");
	if (v->ns)
		http_header(h, "X-Vault-Namespace", v->ns);
	if (with_token && v->token) {
		struct secret *line = secret_header_line("X-Vault-Token", "", v->token);

		http_header_line(h, line->p);
		secret_free(line);
	}
	if (v->ca)
		http_set_ca_file(h, v->ca);
	/* http:// is allowed to loopback because the token stays on this machine;
	   $http_proxy would carry it off in clear text. */
	if (v->direct)
		http_set_no_proxy(h);
	return h;
}

/* Vault's multi-error strings span lines ("2 errors occurred:\n\t* ..."): one line, one space. */
static void squeeze(struct buf *b)
{
	size_t i, o = 0;
	int space = 1;

	for (i = 0; i < b->len; i++) {
		char c = b->data[i];

		if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
			if (!space)
				b->data[o++] = ' ';
			space = 1;
		} else if (c == '*' && space) {
			continue;	/* the bullet of a multi-error line */
		} else {
			b->data[o++] = c;
			space = 0;
		}
	}
	while (o && b->data[o - 1] == ' ')
		o--;
	b->len = o;
	if (b->data)
		b->data[o] = '\0';
}

/* The errors array of a vault reply, joined, for messages (never holds secrets). */
static void vault_errors(const struct http *h, struct buf *out)
{
	struct json j;
	int errs, k, i;

	json_init(&j);
	if (http_response(h)->len &&
	    !json_parse(&j, http_response(h)->data, http_response(h)->len) &&
	    json_type(&j, errs = json_get(&j, 0, "errors")) == JSMN_ARRAY) {
		for (i = 0, k = errs + 1; i < json_size(&j, errs); i++, k = json_next(&j, k)) {
			if (i)
				buf_puts(out, "; ");
			if (json_string(&j, k, out))
				buf_puts(out, "?");
		}
	}
	json_free(&j);
	squeeze(out);
}

static const char *v_auth_hint = "check BAO_TOKEN / VAULT_TOKEN / token_file, or the AppRole";

static enum vault_err classify(const struct http *h, const char *what, struct buf *err)
{
	struct buf errs = BUF_INIT;
	enum vault_err e = VAULT_ERR_TRANSIENT;

	vault_errors(h, &errs);
	if (http_result(h) != CURLE_OK) {
		buf_printf(err, "%s: the vault is unreachable (", what);
		http_describe_error(h, err);
		buf_putc(err, ')');
	} else if (http_status(h) == 503) {
		buf_printf(err, "%s: the vault is sealed or unavailable (HTTP 503)", what);
	} else if (http_status(h) == 429 || http_status(h) >= 500) {
		buf_printf(err, "%s: the vault failed (HTTP %ld%s%s)", what, http_status(h),
			   errs.len ? ": " : "", buf_str(&errs));
	} else if (http_status(h) == 403 && strstr(buf_str(&errs), "invalid token")) {
		e = VAULT_ERR_CONFIG;
		buf_printf(err, "%s: the vault refused mcpmux's vault token (invalid or expired) - %s",
			   what, v_auth_hint);
	} else if (http_status(h) == 403) {
		e = VAULT_ERR_CONFIG;
		buf_printf(err, "%s: permission denied by the vault (%s) - check the vault policy "
			   "for this path and the vault token", what, errs.len ? errs.data : "403");
	} else if (http_status(h) == 404) {
		e = VAULT_ERR_CONFIG;
		buf_printf(err, "%s: not found in the vault (HTTP 404) - check the mount, path "
			   "and version", what);
	} else {
		e = VAULT_ERR_CONFIG;
		buf_printf(err, "%s: the vault answered HTTP %ld%s%s", what, http_status(h),
			   errs.len ? ": " : "", buf_str(&errs));
	}
	buf_free(&errs);
	return e;
}

static int is_invalid_token(const struct http *h)
{
	struct buf errs = BUF_INIT;
	int r;

	if (http_status(h) != 403)
		return 0;
	vault_errors(h, &errs);
	r = strstr(buf_str(&errs), "invalid token") != NULL;
	buf_free(&errs);
	return r;
}

/* --- reads --- */

static void read_free(struct vault_read *r)
{
	DLIST_UNLINK(r->v->reads, r);
	http_free(r->http);
	free(r);
}

/* msg starts with the reference. */
static void read_fail(struct vault_read *r, enum vault_err e, const char *msg)
{
	vault_read_cb cb = r->cb;
	void *arg = r->arg;

	read_free(r);
	cb(e, NULL, 0, msg, arg);
}

static void login(struct vault *v);
static void read_send(struct vault_read *r);

/* Pulls the value out of a 200 reply. */
static void read_done_ok(struct vault_read *r, struct http *h)
{
	struct json j;
	struct buf val = BUF_INIT;
	const char *what = r->ref->text;
	int data = -1, f = -1, exp = -1;
	int64_t expires = 0;
	struct secret *s;
	vault_read_cb cb = r->cb;
	void *arg = r->arg;

	json_init(&j);
	if (json_parse(&j, buf_str(http_response(h)), http_response(h)->len) == 0) {
		data = json_get(&j, 0, "data");
		if (r->ref->kind == CRED_OAUTH) {
			f = json_get(&j, data, "access_token");
			exp = json_get(&j, data, "expire_time");
		} else if (strstr(r->ref->path, "/data/") && json_type(&j, json_get(&j, data, "data")) != JSMN_UNDEFINED) {
			/* KV v2: data.data.<field>; data.data is null for a deleted version */
			int inner = json_get(&j, data, "data");

			if (json_is_null(&j, inner)) {
				buf_printf(&val, "%s: this version was deleted in the vault", what);
				json_free(&j);
				read_fail(r, VAULT_ERR_CONFIG, val.data);
				buf_free(&val);
				return;
			}
			f = json_get(&j, inner, r->ref->field);
		} else {
			f = json_get(&j, data, r->ref->field);
		}
	}
	if (json_type(&j, f) != JSMN_STRING || json_string(&j, f, &val) || !val.len) {
		buf_wipe(&val);
		if (j.err == JSON_ERR_DUPKEY)
			buf_printf(&val, "%s: the vault's answer holds a key twice in one object; "
				   "refusing it (which value is meant cannot be known)", what);
		else
			buf_printf(&val, "%s: %s", what, r->ref->kind == CRED_OAUTH ?
				   "the broker returned no access_token" :
				   "the field is missing or not a string in the vault's answer");
		json_free(&j);
		read_fail(r, VAULT_ERR_CONFIG, val.data);
		buf_free(&val);
		return;
	}
	if (json_type(&j, exp) == JSMN_STRING) {
		struct buf t = BUF_INIT;
		int64_t unix_ms;

		json_string(&j, exp, &t);
		unix_ms = vault_parse_time(t.data);
		if (unix_ms > 0)
			expires = to_loop_time(unix_ms);
		buf_free(&t);
	}
	json_free(&j);
	s = secret_dup(val.data, val.len);
	buf_wipe(&val);
	read_free(r);
	cb(VAULT_OK, s, expires, NULL, arg);
	secret_free(s);
}

static void on_read_done(struct http *h, void *arg)
{
	struct vault_read *r = arg;
	struct vault *v = r->v;
	struct buf err = BUF_INIT;
	enum vault_err e;

	if (http_result(h) == CURLE_OK && http_status(h) == 200) {
		read_done_ok(r, h);
		return;
	}
	if (r->ref->kind == CRED_OAUTH && http_result(h) == CURLE_OK && http_status(h) == 400 &&
	    r->min_seconds > OAUTH_MIN_SECONDS) {
		/* The broker cannot promise that long (its tokens live less): it has
		   refreshed what it could; take its token at the usual minimum. */
		r->min_seconds = OAUTH_MIN_SECONDS;
		http_free(r->http);
		r->http = NULL;
		read_send(r);
		return;
	}
	if (is_invalid_token(h) && !r->relogged) {
		/* The vault token was revoked or expired: log in again, once. */
		r->relogged = 1;
		http_free(r->http);
		r->http = NULL;
		secret_free(v->token);
		v->token = NULL;
		v->tstate = TOKEN_NONE;
		login(v);
		return;
	}
	e = classify(h, r->ref->text, &err);
	read_fail(r, e, err.data);
	buf_free(&err);
}

static void read_send(struct vault_read *r)
{
	struct vault *v = r->v;
	struct buf path = BUF_INIT;

	buf_puts(&path, r->ref->path);
	if (r->ref->kind == CRED_OAUTH)
		buf_printf(&path, "?minimum_seconds=%ld", r->min_seconds);
	r->http = vault_http(v, "GET", path.data, 1);
	buf_free(&path);
	http_callbacks(r->http, NULL, NULL, on_read_done, r);
	if (http_start(r->http, VAULT_TIMEOUT_MS, VAULT_TIMEOUT_MS) != 0)
		log_error("vault: cannot start a request");
}

/* --- the vault token --- */

static void send_waiting(struct vault *v)
{
	struct vault_read *r, *next;

	for (r = v->reads; r; r = next) {
		next = r->next;
		if (!r->http)
			read_send(r);
	}
}

/* A login failure is shared by every read: each message says which reference it was for. */
static void fail_waiting(struct vault *v, enum vault_err e, const char *err)
{
	struct vault_read *r, *next;
	struct buf msg = BUF_INIT;

	for (r = v->reads; r; r = next) {
		next = r->next;
		if (r->http)
			continue;
		buf_reset(&msg);
		buf_printf(&msg, "%s: %s", r->ref->text, err);
		read_fail(r, e, msg.data);
	}
	buf_free(&msg);
}

static void on_renew_timer(void *arg);

static void schedule_renew(struct vault *v, long long ttl_s)
{
	if (v->renew)
		loop_timer_cancel(v->loop, v->renew);
	v->renew = NULL;
	if (ttl_s > 0)
		v->renew = loop_timer_add(v->loop, ttl_s * 1000 * 2 / 3, on_renew_timer, v);
}

/* auth.{client_token, lease_duration, renewable} from login (fresh) or renew-self. */
static int take_auth(struct vault *v, struct http *h, int fresh)
{
	struct json j;
	struct buf tok = BUF_INIT;
	int auth, ct;
	long long lease = 0;

	json_init(&j);
	if (json_parse(&j, buf_str(http_response(h)), http_response(h)->len) != 0) {
		json_free(&j);
		return -1;
	}
	auth = json_get(&j, 0, "auth");
	ct = json_get(&j, auth, "client_token");
	if (json_string(&j, ct, &tok) || !tok.len) {
		buf_wipe(&tok);
		json_free(&j);
		return -1;
	}
	json_int(&j, json_get(&j, auth, "lease_duration"), &lease);
	/* A renewal that gives less than a login did hit the token's max TTL: the
	   next step is a new login, not another, shorter renewal. */
	if (fresh)
		v->full_ttl = lease;
	v->relogin = !fresh && lease < v->full_ttl;
	secret_free(v->token);
	v->token = secret_dup(tok.data, tok.len);
	buf_wipe(&tok);
	json_free(&j);
	v->tstate = TOKEN_READY;
	schedule_renew(v, lease);
	return 0;
}

static void on_login_done(struct http *h, void *arg)
{
	struct vault *v = arg;
	struct buf err = BUF_INIT;
	enum vault_err e;

	v->auth = NULL;
	if (http_result(h) == CURLE_OK && http_status(h) == 200 && take_auth(v, h, 1) == 0) {
		http_free(h);
		log_debug("vault: logged in with AppRole");
		send_waiting(v);
		return;
	}
	e = classify(h, "vault AppRole login", &err);
	http_free(h);
	v->tstate = TOKEN_NONE;
	log_warn("%s", err.data);
	fail_waiting(v, e, err.data);
	buf_free(&err);
}

static void on_lookup_done(struct http *h, void *arg)
{
	struct vault *v = arg;
	struct json j;
	long long ttl = 0;
	int data;

	v->auth = NULL;
	json_init(&j);
	if (http_result(h) == CURLE_OK && http_status(h) == 200 &&
	    json_parse(&j, buf_str(http_response(h)), http_response(h)->len) == 0) {
		data = json_get(&j, 0, "data");
		json_int(&j, json_get(&j, data, "ttl"), &ttl);
		if (json_is_true(&j, json_get(&j, data, "renewable"))) {
			v->full_ttl = ttl;
			schedule_renew(v, ttl);
		}
	}
	json_free(&j);
	http_free(h);
}

static void on_renew_done(struct http *h, void *arg)
{
	struct vault *v = arg;

	v->auth = NULL;
	if (http_result(h) == CURLE_OK && http_status(h) == 200 && take_auth(v, h, 0) == 0) {
		http_free(h);
		log_debug("vault: token renewed");
		return;
	}
	http_free(h);
	/* Could not renew: an AppRole logs in again; a static token is what it is. */
	if (v->cfg->vault.auth == VAULT_AUTH_APPROLE) {
		v->tstate = TOKEN_NONE;
		login(v);
	} else {
		log_warn("vault: the vault token could not be renewed; it will stop working when it expires");
	}
}

static void on_renew_timer(void *arg)
{
	struct vault *v = arg;
	struct http *h;

	v->renew = NULL;
	if (v->auth)
		return;
	if (v->relogin && v->cfg->vault.auth == VAULT_AUTH_APPROLE) {
		v->tstate = TOKEN_NONE;
		login(v);
		return;
	}
	h = vault_http(v, "POST", "auth/token/renew-self", 1);
	http_body(h, "{}", 2);
	http_callbacks(h, NULL, NULL, on_renew_done, v);
	v->auth = h;
	if (http_start(h, VAULT_TIMEOUT_MS, VAULT_TIMEOUT_MS) != 0) {
		http_free(h);
		v->auth = NULL;
	}
}

static struct secret *read_first_line_file(const char *path)
{
	struct buf err = BUF_INIT;
	struct secret *s = secret_from_file(path, &err);

	buf_free(&err);
	return s;
}

static void login_token(struct vault *v)
{
	const char *env = env2("BAO_TOKEN", "VAULT_TOKEN");
	struct http *h;

	secret_free(v->token);
	v->token = env ? secret_dup(env, strlen(env)) : NULL;
	if (!v->token && v->cfg->vault.token_file)
		v->token = read_first_line_file(v->cfg->vault.token_file);
	if (!v->token) {
		struct buf err = BUF_INIT;

		buf_printf(&err, "no vault token: set BAO_TOKEN or VAULT_TOKEN, or write it to %s",
			   v->cfg->vault.token_file ? v->cfg->vault.token_file : "~/.vault-token");
		v->tstate = TOKEN_NONE;
		fail_waiting(v, VAULT_ERR_CONFIG, err.data);
		buf_free(&err);
		return;
	}
	v->tstate = TOKEN_READY;
	send_waiting(v);
	/* Learn the token's lifetime in the background, to renew it in time. */
	if (v->auth)
		return;
	h = vault_http(v, "GET", "auth/token/lookup-self", 1);
	http_callbacks(h, NULL, NULL, on_lookup_done, v);
	v->auth = h;
	if (http_start(h, VAULT_TIMEOUT_MS, VAULT_TIMEOUT_MS) != 0) {
		http_free(h);
		v->auth = NULL;
	}
}

static void login_approle(struct vault *v)
{
	struct secret *sid = read_first_line_file(v->cfg->vault.secret_id_file);
	struct buf body = BUF_INIT;
	struct http *h;

	if (!sid) {
		struct buf err = BUF_INIT;

		buf_printf(&err, "vault AppRole login: cannot read secret_id_file %s",
			   v->cfg->vault.secret_id_file);
		fail_waiting(v, VAULT_ERR_CONFIG, err.data);
		buf_free(&err);
		return;
	}
	buf_reserve(&body, 256 + sid->len);
	buf_puts(&body, "{\"role_id\":");
	json_escape_str(&body, v->cfg->vault.role_id);
	buf_puts(&body, ",\"secret_id\":");
	json_escape(&body, sid->p, sid->len);
	buf_putc(&body, '}');
	secret_free(sid);
	h = vault_http(v, "POST", "auth/approle/login", 0);
	http_body(h, body.data, body.len);
	buf_wipe(&body);
	http_callbacks(h, NULL, NULL, on_login_done, v);
	v->auth = h;
	v->tstate = TOKEN_PENDING;
	if (http_start(h, VAULT_TIMEOUT_MS, VAULT_TIMEOUT_MS) != 0) {
		http_free(h);
		v->auth = NULL;
		v->tstate = TOKEN_NONE;
	}
}

static void login(struct vault *v)
{
	if (v->tstate == TOKEN_PENDING)
		return;
	if (v->auth) {
		/* A renewal in flight is superseded by a fresh login. */
		http_free(v->auth);
		v->auth = NULL;
	}
	if (v->cfg->vault.auth == VAULT_AUTH_APPROLE)
		login_approle(v);
	else
		login_token(v);
}

/* --- public --- */

struct vault *vault_new(struct loop *loop, const struct config *cfg, struct buf *err)
{
	const char *addr = cfg->vault.address ? cfg->vault.address : env2("BAO_ADDR", "VAULT_ADDR");
	const char *ns = cfg->vault.namespace_ ? cfg->vault.namespace_ :
			 env2("BAO_NAMESPACE", "VAULT_NAMESPACE");
	const char *ca = cfg->vault.ca_file ? cfg->vault.ca_file : env2("BAO_CACERT", "VAULT_CACERT");
	struct buf why = BUF_INIT;
	struct vault *v;
	size_t n;

	if (!addr) {
		buf_puts(err, "[vault] type = hashicorp needs address = https://... (or BAO_ADDR / VAULT_ADDR)");
		return NULL;
	}
	if (config_check_vault_url(addr, &why) != 0) {
		buf_printf(err, "%s %s", addr_source(cfg), buf_str(&why));
		buf_free(&why);
		return NULL;
	}
	v = xcalloc(1, sizeof(*v));
	v->loop = loop;
	v->cfg = cfg;
	v->base = xstrdup(addr);
	n = strlen(v->base);
	while (n && v->base[n - 1] == '/')
		v->base[--n] = '\0';
	v->ns = ns ? xstrdup(ns) : NULL;
	v->ca = ca ? xstrdup(ca) : NULL;
	v->direct = config_is_loopback_url(addr);
	return v;
}

void vault_free(struct vault *v)
{
	if (!v)
		return;
	while (v->reads)
		read_free(v->reads);
	http_free(v->auth);
	if (v->renew)
		loop_timer_cancel(v->loop, v->renew);
	loop_defer_cancel(v->loop, v->login_soon);
	secret_free(v->token);
	free(v->base);
	free(v->ns);
	free(v->ca);
	free(v);
}

static void on_login_soon(void *arg)
{
	struct vault *v = arg;

	v->login_soon = NULL;
	if (v->tstate != TOKEN_READY)
		login(v);
	else
		send_waiting(v);
}

struct vault_read *vault_read(struct vault *v, const struct cred_ref *ref, long min_seconds,
			      vault_read_cb cb, void *arg)
{
	struct vault_read *r = xcalloc(1, sizeof(*r));

	r->v = v;
	r->ref = ref;
	r->min_seconds = min_seconds > 0 ? min_seconds : OAUTH_MIN_SECONDS;
	r->cb = cb;
	r->arg = arg;
	DLIST_PUSH(v->reads, r);
	if (v->tstate == TOKEN_READY)
		read_send(r);
	else if (!v->login_soon)
		/* Never inside this call: a failing login calls back, and the caller
		   has not even got its handle yet. */
		v->login_soon = loop_defer(v->loop, on_login_soon, v);
	return r;
}

void vault_read_cancel(struct vault *v, struct vault_read *r)
{
	(void)v;
	read_free(r);
}
