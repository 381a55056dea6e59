/* conn/mcp/auth.c - the connector's credential: its header, fetching it, 401 and reauth; see mcp.h. */
#include "mcp.h"

#include <string.h>

#include "creds.h"
#include "secret.h"
#include "log.h"

#define REAUTH_PROBE_MS	5000	/* a refused credential is looked up again at most this often */

void auth_add(struct upstream *up, struct http *h)
{
	const struct secret *tok;
	struct secret *line;

	if (!up->c->token)
		return;
	tok = creds_peek(up->creds, up->c->token);
	if (!tok)
		return;
	line = secret_header_line(up->c->auth_header, up->c->auth_scheme, tok);
	http_header_line(h, line->p);
	secret_free(line);
}

void auth_refused_msg(const struct upstream *up, struct buf *out)
{
	buf_printf(out, "connector '%s' needs a new credential: %s - %s", up->c->alias,
		   buf_str(&up->reason), buf_str(&up->hint));
}

/* The connector refuses the credential and its source has nothing better: REAUTH. */
static void auth_reauth_required(struct upstream *up, const char *why)
{
	struct buf reason = BUF_INIT, hint = BUF_INIT;

	buf_printf(&reason, "the credential (%s) was refused: %s", up->c->token->text, why);
	buf_puts(&hint, "update it at its source (the vault, `mcpmux vault set`, the variable or "
		 "the file); mcpmux fetches it again on the next call");
	up->reauth_probe = loop_now() + REAUTH_PROBE_MS;
	session_down(up, CONN_REAUTH, reason.data, hint.data);
	buf_free(&reason);
	buf_free(&hint);
}

static int same_secret(const struct secret *a, const struct secret *b)
{
	return a && b && a->len == b->len && sodium_memcmp(a->p, b->p, a->len) == 0;
}

/* A new credential after REAUTH: start over with a new session; waiting calls follow. */
static void reconnect_with(struct upstream *up)
{
	struct conn_req *r;

	log_info("connector '%s': got a new credential, connecting again", up->c->alias);
	for (r = up->reqs; r; r = r->next)
		if (r->waiting_cred && r->kind == REQ_USER) {
			r->waiting_cred = 0;
			r->waiting = 1;
		}
	session_start(up);
}

static void on_cred(int ok, const char *err, void *arg)
{
	struct upstream *up = arg;
	const struct secret *now = ok ? creds_peek(up->creds, up->c->token) : NULL;
	struct conn_req *r, *next;

	up->cred_wait = NULL;
	if (ok && up->rejected && same_secret(now, up->rejected)) {
		auth_reauth_required(up, "its source still returns the same value");
		return;
	}
	if (!ok || !now) {
		/* The credential cache paces its own retries: a call does not start one. */
		up->cred_failed = 1;
		if (up->rejected)
			auth_reauth_required(up, err ? err : "it could not be fetched again");
		else
			session_down(up, up->state == CONN_REAUTH ? CONN_REAUTH : CONN_ERROR,
				     err ? err : "the credential could not be fetched", "");
		return;
	}
	up->cred_failed = 0;
	if (up->state == CONN_REAUTH) {
		reconnect_with(up);
		return;
	}
	for (r = up->reqs; r; r = next) {
		next = r->next;
		if (r->waiting_cred)
			req_send(r);
	}
}

void auth_fetch(struct upstream *up, int force)
{
	if (up->cred_wait)
		return;
	up->cred_wait = creds_fetch(up->creds, up->c->token, force, on_cred, up);
}

void auth_retry_401(struct conn_req *r)
{
	struct upstream *up = r->up;
	const struct secret *cur = creds_peek(up->creds, up->c->token);
	long long id = r->id;

	if (r->retried_401) {
		auth_reauth_required(up, "the connector answered HTTP 401 to a freshly fetched one");
		r = req_pending(up, id);
		if (r && r->kind == REQ_USER) {
			struct buf err = BUF_INIT;

			auth_refused_msg(up, &err);
			req_finish(r, NULL, 0, NULL, err.data);
			buf_free(&err);
		}
		return;
	}
	if (cur && !up->rejected)
		up->rejected = secret_dup(cur->p, cur->len);
	r->retried_401 = 1;
	r->waiting_cred = 1;
	stream_close(&r->reply);
	auth_fetch(up, 1);
}

void auth_accepted(struct conn_req *r)
{
	struct upstream *up = r->up;

	if (up->rejected && r->retried_401) {
		secret_free(up->rejected);
		up->rejected = NULL;
	}
}

/* Looks the credential up again, at most every REAUTH_PROBE_MS. */
static void probe(struct upstream *up)
{
	up->reauth_probe = loop_now() + REAUTH_PROBE_MS;
	auth_fetch(up, 1);
}

int auth_reauth_call(struct upstream *up, struct conn_req *r)
{
	if (up->state != CONN_REAUTH || up->closing)
		return 0;
	if (loop_now() >= up->reauth_probe) {
		/* Maybe the credential was updated at its source: look once, then at most every few seconds. */
		r->waiting_cred = 1;
		probe(up);
		return 1;
	}
	auth_refused_msg(up, &r->failure);
	req_fail_later(r);
	return 1;
}

int auth_wake(struct upstream *up)
{
	if (up->state != CONN_REAUTH || loop_now() < up->reauth_probe || up->cred_wait)
		return 0;
	probe(up);
	return 1;
}
