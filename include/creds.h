/*
 * creds.h - the credential cache: connectors' credentials, fetched at call time.
 *
 * One entry per credential reference (credref.h; two references with the
 * same text share it), shared by the connectors that use it. Where the value
 * comes from is the reference's kind: env: and file: are read here
 * (secret.h), local: from the local store (localstore.h, opened on first
 * use), vault: and oauth: through the vault client (vault.h, created on
 * first use). Values live only as secrets (secret.h: locked memory, zeroed
 * when freed).
 *
 * A value is kept until its expiry (its own, e.g. an OAuth token's, or
 * cache_ttl for KV secrets, files, variables and the local store) and
 * refreshed in the background when less than max(60 s, 10 % of its
 * lifetime) is left, one fetch in flight per reference. A failed fetch is
 * remembered for a while (30 s after a configuration error such as a vault
 * 403/404, a missing variable or file, an unknown local name; 5 s after a
 * transient one such as an unreachable or sealed vault) so that calls do not
 * hammer the source; a cached value stays usable while it is valid even when
 * the source is down. A failure is logged once (log_warn), until a fetch
 * succeeds again ("credential REF: fetched again").
 *
 * Messages name the reference (its text) and the connector, never the
 * value. Owned by the mux; it borrows the loop and the config, which must
 * outlive it. The references passed in are only read: the cache keeps its
 * own copy.
 *
 * Time: expiries and hold-offs are milliseconds of loop_now(), the clock the
 * vault's expiry times are given in too. creds_set_clock() makes the cache
 * read another clock instead (for tests: tests/unit/test_creds.c advances a
 * counter). Every timer the cache sets has a 0 ms delay (it only moves work
 * to the next loop turn), so loop_run_once(loop, 0) runs them whatever that
 * clock says.
 */
#ifndef MCPMUX_CREDS_H
#define MCPMUX_CREDS_H

#include <stdint.h>

#include "credref.h"
#include "secret.h"

struct creds;
struct creds_wait;
struct config;
struct loop;

struct creds *creds_new(struct loop *loop, const struct config *cfg);
void creds_free(struct creds *c);

/* The valid cached value for ref, or NULL (borrowed: do not keep it past the
   current callback). Starts a background refresh when it is near expiry. */
const struct secret *creds_peek(struct creds *c, const struct cred_ref *ref);

/* ok: the cache now holds a value for ref; else err says why (names the reference, never the value). */
typedef void (*creds_cb)(int ok, const char *err, void *arg);
/* Fetches ref into the cache; force bypasses the cached value (after an upstream 401).
   cb runs once, always from the loop (never inside this call), unless cancelled. */
struct creds_wait *creds_fetch(struct creds *c, const struct cred_ref *ref, int force,
			       creds_cb cb, void *arg);
/* w (not yet called back) is dropped: its callback never runs. */
void creds_cancel(struct creds *c, struct creds_wait *w);

/* The clock the cache reads, in milliseconds; loop_now until this is called. */
void creds_set_clock(struct creds *c, int64_t (*now)(void));

#endif
