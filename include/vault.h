/*
 * vault.h - a HashiCorp Vault / OpenBao client on the event loop.
 *
 * Reads KV v2 (`vault:MOUNT/data/PATH#FIELD`), KV v1 (`vault:MOUNT/PATH#FIELD`)
 * and an oauthapp-style token broker (`oauth:MOUNT/creds/NAME`,
 * `oauth:MOUNT/self/NAME`): the references of credref.h. Logs
 * in with a token (BAO_TOKEN, VAULT_TOKEN, then token_file) or AppRole, and
 * keeps that vault token fresh (renew-self, or log in again) before it
 * expires. Every request carries X-Vault-Request: true, the namespace when
 * one is set, and no redirect is followed. The vault token and every value
 * read live only in sodium_malloc memory.
 *
 * Owned by the credential cache (creds.c): the cache uses the vault, never
 * the reverse. A struct vault_read is owned by the client until its callback
 * has run or vault_read_cancel() was called. The callback always runs from
 * the loop, never inside vault_read().
 */
#ifndef MCPMUX_VAULT_H
#define MCPMUX_VAULT_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "credref.h"
#include "loop.h"
#include "secret.h"

enum vault_err {
	VAULT_OK,
	VAULT_ERR_CONFIG,	/* 403 policy, 404, 400, a missing field: no point retrying soon */
	VAULT_ERR_TRANSIENT	/* unreachable, sealed, 429, 5xx: retry later */
};

/*
 * value: borrowed, valid only during the callback. expires_at: absolute
 * loop_now() milliseconds when the value stops being valid, 0 when it has
 * no expiry of its own. err: a sentence naming the reference, never a secret.
 */
typedef void (*vault_read_cb)(enum vault_err e, const struct secret *value, int64_t expires_at,
			      const char *err, void *arg);

struct vault;
struct vault_read;

/* NULL with err when the address or the auth setup is unusable. */
struct vault *vault_new(struct loop *loop, const struct config *cfg, struct buf *err);
void vault_free(struct vault *v);

/*
 * Reads ref, a CRED_VAULT (its path and field) or CRED_OAUTH (its path)
 * reference; borrowed: it must stay valid until the callback has run or the
 * read was cancelled. Messages start with ref->text. min_seconds (oauth):
 * the token must stay valid at least this long; 0 for the default (60).
 * After an upstream 401, asking for more than the rejected token had left
 * makes the broker refresh.
 */
struct vault_read *vault_read(struct vault *v, const struct cred_ref *ref, long min_seconds,
			      vault_read_cb cb, void *arg);
void vault_read_cancel(struct vault *v, struct vault_read *r);

/* Parses an RFC 3339 time ("2026-11-21T20:31:05.123456789+01:00") to Unix ms; -1 if invalid. */
int64_t vault_parse_time(const char *s);

#endif
