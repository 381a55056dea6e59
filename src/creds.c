/* creds.c - the credential cache; see include/creds.h. */
#include "xalloc.h"
#include "creds.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "localstore.h"
#include "log.h"
#include "loop.h"
#include "vault.h"

#define FAIL_CONFIG_MS		30000
#define FAIL_TRANSIENT_MS	5000
#define REFRESH_MIN_MS		60000

struct creds_wait {
	struct cred_entry *e;
	struct creds_wait *next;
	creds_cb cb;
	void *arg;
};

struct cred_entry {
	struct creds *c;
	struct cred_entry *next;
	struct cred_ref *ref;		/* a copy of the reference */
	struct secret *value;		/* NULL until fetched, or after expiry */
	int64_t expires_at;		/* ms of the cache's clock (loop_now) */
	int64_t lifetime;		/* ms, to place the refresh */
	int fetching;			/* a fetch is in flight */
	struct vault_read *vr;		/* ...through the vault */
	struct loop_defer *now;		/* ...or answered on the next turn */
	struct creds_wait *waiters;
	int64_t fail_until;		/* a recent failure is repeated until then */
	struct buf fail;		/* its message */
	int failed_logged;		/* that failure was logged */
};

struct creds {
	struct loop *loop;		/* not owned */
	const struct config *cfg;	/* not owned */
	struct cred_entry *entries;
	struct vault *vault;		/* created on first vault:/oauth: use */
	struct localstore *store;	/* opened on first local: use */
	int64_t (*now)(void);		/* loop_now, or a test's clock */
};

struct creds *creds_new(struct loop *loop, const struct config *cfg)
{
	struct creds *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->cfg = cfg;
	c->now = loop_now;
	return c;
}

static void entry_free(struct cred_entry *e)
{
	struct creds_wait *w;

	while ((w = e->waiters)) {
		e->waiters = w->next;
		free(w);
	}
	if (e->vr)
		vault_read_cancel(e->c->vault, e->vr);
	loop_defer_cancel(e->c->loop, e->now);
	secret_free(e->value);
	buf_free(&e->fail);
	cred_ref_free(e->ref);
	free(e);
}

void creds_free(struct creds *c)
{
	struct cred_entry *e;

	if (!c)
		return;
	while ((e = c->entries)) {
		c->entries = e->next;
		entry_free(e);
	}
	vault_free(c->vault);
	localstore_close(c->store);
	free(c);
}

static struct cred_entry *entry_for(struct creds *c, const struct cred_ref *ref)
{
	struct cred_entry *e;

	for (e = c->entries; e; e = e->next)
		if (!strcmp(e->ref->text, ref->text))
			return e;
	e = xcalloc(1, sizeof(*e));
	e->c = c;
	e->ref = cred_ref_dup(ref);
	e->next = c->entries;
	c->entries = e;
	return e;
}

static void notify(struct cred_entry *e, int ok, const char *err)
{
	struct creds_wait *w;

	while ((w = e->waiters)) {
		e->waiters = w->next;
		w->cb(ok, err, w->arg);
		free(w);
	}
}

/* Every fetch ends here. value: borrowed. */
static void fetched(struct cred_entry *e, const struct secret *value, int64_t expires_at,
		    int config_error, const char *err)
{
	struct creds *c = e->c;
	int64_t now = c->now();

	e->fetching = 0;
	e->vr = NULL;
	if (value) {
		secret_free(e->value);
		e->value = secret_dup(value->p, value->len);
		e->expires_at = expires_at > now ? expires_at : now + c->cfg->vault.cache_ttl_ms;
		e->lifetime = e->expires_at - now;
		e->fail_until = 0;
		if (e->failed_logged)
			log_info("credential %s: fetched again", e->ref->text);
		e->failed_logged = 0;
		notify(e, 1, NULL);
		return;
	}
	buf_reset(&e->fail);
	buf_puts(&e->fail, err);
	e->fail_until = now + (config_error ? FAIL_CONFIG_MS : FAIL_TRANSIENT_MS);
	if (!e->failed_logged)
		log_warn("%s", err);
	e->failed_logged = 1;
	/* A refresh failed but the value is still good: keep using it (fail closed at expiry). */
	if (e->value && now < e->expires_at)
		notify(e, 1, NULL);
	else
		notify(e, 0, err);
}

static void on_vault_value(enum vault_err ve, const struct secret *value, int64_t expires_at,
			   const char *err, void *arg)
{
	struct cred_entry *e = arg;

	e->vr = NULL;
	fetched(e, ve == VAULT_OK ? value : NULL, expires_at, ve == VAULT_ERR_CONFIG, err);
}

/* local:, env:, file: are read here, synchronously (a small local file). */
static void fetch_local(void *arg)
{
	struct cred_entry *e = arg;
	struct creds *c = e->c;
	struct buf err = BUF_INIT;
	struct secret *s = NULL;
	int config_error = 1, r;

	e->now = NULL;
	if (e->ref->kind == CRED_LOCAL) {
		if (c->cfg->vault.type != VAULT_LOCAL) {
			buf_printf(&err, "credential %s: local: references need [vault] type = local",
				   e->ref->text);
		} else {
			if (!c->store)
				c->store = localstore_open(&c->cfg->vault, 0, &err);
			if (c->store) {
				r = localstore_get(c->store, e->ref->name, &s, &err);
				if (r == 1)
					buf_printf(&err, "credential %s: no such name in the local store - "
						   "add it with `mcpmux vault set %s`", e->ref->text,
						   e->ref->name);
			}
		}
	} else if (e->ref->kind == CRED_ENV) {
		s = secret_from_env(e->ref->var, &err);
	} else if (e->ref->kind == CRED_FILE) {
		s = secret_from_file(e->ref->path, &err);
	} else {
		buf_puts(&err, "unsupported credential reference");
	}
	if (!s && err.len && strncmp(err.data, "credential ", 11)) {
		struct buf full = BUF_INIT;

		buf_printf(&full, "credential %s: %s", e->ref->text, err.data);
		buf_free(&err);
		err = full;
	}
	fetched(e, s, 0, config_error, err.data);
	secret_free(s);
	buf_free(&err);
}

static void on_fail_now(void *arg)
{
	struct cred_entry *e = arg;

	e->now = NULL;
	notify(e, 0, e->fail.data);
}

static void start_fetch(struct cred_entry *e, int force)
{
	struct creds *c = e->c;
	struct buf err = BUF_INIT;
	int via_vault = e->ref->kind == CRED_VAULT || e->ref->kind == CRED_OAUTH;

	if (e->fetching)
		return;
	e->fetching = 1;
	if (via_vault && !c->vault) {
		c->vault = vault_new(c->loop, c->cfg, &err);
		if (!c->vault) {
			e->fetching = 0;
			buf_reset(&e->fail);
			buf_printf(&e->fail, "credential %s: %s", e->ref->text, err.data);
			e->fail_until = c->now() + FAIL_CONFIG_MS;
			buf_free(&err);
			e->now = loop_defer(c->loop, on_fail_now, e);
			return;
		}
	}
	if (via_vault) {
		/* Forced (after a 401): more than the refused token had left, so the
		   broker hands out a new one rather than the same. */
		long left = (long)((e->expires_at - c->now()) / 1000);
		long min_s = force ? (left > 0 ? left : 0) + 60 : 0;

		e->vr = vault_read(c->vault, e->ref, min_s, on_vault_value, e);
	} else {
		e->now = loop_defer(c->loop, fetch_local, e);
	}
}

const struct secret *creds_peek(struct creds *c, const struct cred_ref *ref)
{
	struct cred_entry *e = entry_for(c, ref);
	int64_t now = c->now(), margin;

	if (!e->value)
		return NULL;
	if (now >= e->expires_at) {
		secret_free(e->value);
		e->value = NULL;
		return NULL;
	}
	margin = e->lifetime / 10 > REFRESH_MIN_MS ? e->lifetime / 10 : REFRESH_MIN_MS;
	if (now >= e->expires_at - margin && !e->fetching && now >= e->fail_until)
		start_fetch(e, 0);
	return e->value;
}

struct creds_wait *creds_fetch(struct creds *c, const struct cred_ref *ref, int force,
			       creds_cb cb, void *arg)
{
	struct cred_entry *e = entry_for(c, ref);
	struct creds_wait *w = xcalloc(1, sizeof(*w));

	w->e = e;
	w->cb = cb;
	w->arg = arg;
	w->next = e->waiters;
	e->waiters = w;
	if (e->fetching)
		return w;
	if (c->now() < e->fail_until) {
		/* Failed a moment ago: say so again rather than ask again. */
		if (!e->now)
			e->now = loop_defer(c->loop, on_fail_now, e);
		return w;
	}
	if (force && e->value) {
		secret_free(e->value);
		e->value = NULL;
	}
	start_fetch(e, force);
	return w;
}

void creds_cancel(struct creds *c, struct creds_wait *w)
{
	struct creds_wait **pp;

	(void)c;
	/* Not SLIST_REMOVE: w is freed only when it is still waiting. */
	for (pp = &w->e->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			free(w);
			return;
		}
}

void creds_set_clock(struct creds *c, int64_t (*now)(void))
{
	c->now = now;
}
