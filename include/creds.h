/*
 * creds.h - credentials for connectors, resolved at call time.
 *
 * A credential reference from the config (`env:VAR`, `file:/path`) is
 * turned into a secret (secret.h: locked memory, zeroed when freed).
 * Secrets are never logged: error messages name the reference kind and the
 * connector, never the value. A struct secret is owned by whoever resolved
 * it; secret_free() wipes it.
 */
#ifndef MCPMUX_CREDS_H
#define MCPMUX_CREDS_H

#include <stddef.h>

#include "buf.h"
#include "secret.h"

/* Resolves `ref`. Returns a secret, or NULL with a message in err. */
struct secret *creds_resolve(const char *ref, struct buf *err);

/*
 * The credential cache: one entry per reference, shared by the connectors
 * that use it. A value is kept until its expiry (its own, e.g. an OAuth
 * token's, or cache_ttl for KV secrets and files) and refreshed in the
 * background when less than max(60 s, 10 % of its lifetime) is left, one
 * fetch in flight per reference. A failed fetch is remembered for a while
 * (30 s after a configuration error such as a vault 403/404, 5 s after a
 * transient one) so that calls do not hammer the vault; a cached value
 * stays usable while it is valid even when the vault is down or sealed.
 * Owned by the mux.
 */
struct creds;
struct creds_wait;
struct config;
struct loop;

struct creds *creds_new(struct loop *loop, const struct config *cfg);
void creds_free(struct creds *c);

/* The valid cached value for ref, or NULL (borrowed: do not keep it past the
   current callback). Starts a background refresh when it is near expiry. */
const struct secret *creds_peek(struct creds *c, const char *ref);

/* ok: the cache now holds a value for ref; else err says why (names the reference, never the value). */
typedef void (*creds_cb)(int ok, const char *err, void *arg);
/* Fetches ref into the cache; force bypasses the cached value (after an upstream 401).
   cb runs once, always from the loop (never inside this call), unless cancelled. */
struct creds_wait *creds_fetch(struct creds *c, const char *ref, int force, creds_cb cb, void *arg);
void creds_cancel(struct creds *c, struct creds_wait *w);

#endif
