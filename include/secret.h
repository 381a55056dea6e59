/*
 * secret.h - a secret value in locked memory.
 *
 * A struct secret holds bytes that must never reach a log, a core dump or
 * swap: a credential, a vault token, a header line that carries one. They
 * live in sodium_malloc memory (guard pages, mlock, excluded from core
 * dumps) and are zeroed when freed.
 *
 * Invariants: p is never NULL and p[len] is '\0', so a secret may be used as
 * a C string (one that holds a NUL of its own ends there for the string
 * functions). Ownership: a struct secret belongs to whoever a function of
 * this header (or another that says so, such as localstore_get()) returned
 * it to, and is released with secret_free(), which wipes it; one passed as
 * `const struct secret *` is borrowed. Running out of memory is fatal, as
 * in xalloc.h. Nothing here logs; error messages name the variable or the
 * file, never the value.
 */
#ifndef MCPMUX_SECRET_H
#define MCPMUX_SECRET_H

#include <stddef.h>

#include "buf.h"

#define SECRET_FILE_MAX	16384	/* bytes read from a file, at most */

struct secret {
	char *p;	/* NUL-terminated, in sodium_malloc memory */
	size_t len;	/* bytes before the NUL */
};

/* A new secret of len bytes (plus a NUL), zero-filled; or a copy of p[0..n). */
struct secret *secret_new(size_t len);
struct secret *secret_dup(const char *p, size_t n);
void secret_free(struct secret *s);	/* wipes, then frees; NULL is fine */

/* n bytes (at least one) of locked memory, for a secret's scratch; released
   with sodium_free(), which zeroes it. */
void *secret_alloc(size_t n);

/*
 * The first line (up to the first CR or LF) of the environment variable
 * var; NULL with "environment variable VAR is not set" appended to err
 * when it is unset or empty.
 */
struct secret *secret_from_env(const char *var, struct buf *err);

/*
 * The first line of the file at path, of the first SECRET_FILE_MAX bytes
 * read. NULL with a message appended to err: "cannot read token file PATH:
 * <why>", or "token file PATH is empty" when that line is.
 */
struct secret *secret_from_file(const char *path, struct buf *err);

/*
 * The header line "<header>: <scheme> <token>" (no scheme and no space when
 * scheme is empty; "Basic" base64-encodes the token, which holds
 * user:password) as a new secret.
 */
struct secret *secret_header_line(const char *header, const char *scheme,
				  const struct secret *token);

#endif
