/*
 * creds.h - credentials for connectors, resolved at call time.
 *
 * A credential reference from the config (`env:VAR`, `file:/path`) is
 * turned into a secret that lives only in locked memory (sodium_malloc:
 * guard pages, mlock, excluded from core dumps) and is zeroed when freed.
 * Secrets are never logged: error messages name the reference kind and the
 * connector, never the value. A struct secret is owned by whoever resolved
 * it; secret_free() wipes it.
 */
#ifndef MCPMUX_CREDS_H
#define MCPMUX_CREDS_H

#include <stddef.h>

#include "buf.h"

struct secret {
	char *p;	/* NUL-terminated, in sodium_malloc memory */
	size_t len;	/* bytes before the NUL */
};

/* A new secret of len bytes (plus a NUL), zero-filled; or a copy of p[0..n). */
struct secret *secret_new(size_t len);
struct secret *secret_dup(const char *p, size_t n);

/* Resolves `ref`. Returns a secret, or NULL with a message in err. */
struct secret *creds_resolve(const char *ref, struct buf *err);
void secret_free(struct secret *s);

/*
 * The header line "<header>: <scheme> <token>" (no scheme and no space when
 * scheme is empty; "Basic" base64-encodes the token, which holds
 * user:password) as a new secret.
 */
struct secret *creds_header_line(const char *header, const char *scheme,
				 const struct secret *token);

#endif
