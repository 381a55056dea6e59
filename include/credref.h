/*
 * credref.h - a credential reference, parsed once.
 *
 * A connector's `token =` says where its credential comes from, never what
 * it is. config_load() parses the text into a struct cred_ref with
 * cred_ref_parse() and keeps it in connector_cfg.token; from then on the
 * credential cache (creds.h), the vault client (vault.h) and every message
 * use the parsed parts and quote the text, and nothing parses it again.
 *
 * The kinds, as written in the config, where the value comes from, and how
 * long the credential cache keeps it:
 *
 *   env:VAR        CRED_ENV. VAR: letters, digits and _, not starting with
 *                  a digit. The first line of mcpmux's environment variable
 *                  VAR (secret_from_env()). Parts: var. Kept for [vault]
 *                  cache_ttl, then read again.
 *   file:/PATH     CRED_FILE. An absolute path. The first line of the file
 *                  (secret_from_file()). Parts: path. Kept for cache_ttl.
 *   local:NAME     CRED_LOCAL. NAME: 1 to 128 of A-Z a-z 0-9 _ . -, the
 *                  rule of localstore_name_ok(). NAME in mcpmux's encrypted
 *                  store (localstore.h; needs [vault] type = local). Parts:
 *                  name. Kept for cache_ttl.
 *   vault:MOUNT/data/PATH#FIELD  (KV version 2, latest version)
 *   vault:MOUNT/PATH#FIELD       (KV version 1)
 *                  CRED_VAULT. Before the '#': A-Z a-z 0-9 _ . - and '/',
 *                  at least one '/', neither first nor just before the '#',
 *                  no "..". After it: a field, not empty, no second '#'.
 *                  FIELD of that secret in HashiCorp Vault or OpenBao
 *                  (vault.h; needs [vault] type = hashicorp). Parts: path
 *                  (the API path, everything before the '#'), field. Kept for
 *                  cache_ttl.
 *   oauth:MOUNT/creds/NAME, oauth:MOUNT/self/NAME
 *                  CRED_OAUTH. A-Z a-z 0-9 _ . - and '/', no "..", no '#',
 *                  a non-empty MOUNT and NAME, no trailing '/'. The
 *                  access_token of an OAuth token broker in the vault (such
 *                  as the oauthapp plugin; needs [vault] type = hashicorp).
 *                  Parts: path (the API path, everything after "oauth:").
 *                  Kept until the token's own expire_time.
 *
 * Invariants: kind and text are always set; of the parts, exactly those of
 * the kind are non-NULL. A reference holds no secret: the parser refuses
 * anything that is not one of the kinds above (a literal token), and its
 * messages never quote a value it did not recognise.
 *
 * Ownership: a struct cred_ref and its strings belong to whoever parsed or
 * duplicated it and are released with cred_ref_free(); the parts are copies,
 * so a reference depends on nothing else. The connectors' references are the
 * config's (config_free() frees them).
 */
#ifndef MCPMUX_CREDREF_H
#define MCPMUX_CREDREF_H

#include <stddef.h>

#include "buf.h"

enum cred_kind {
	CRED_ENV,	/* env:VAR */
	CRED_FILE,	/* file:/PATH */
	CRED_LOCAL,	/* local:NAME */
	CRED_VAULT,	/* vault:MOUNT/PATH#FIELD */
	CRED_OAUTH	/* oauth:MOUNT/creds/NAME or oauth:MOUNT/self/NAME */
};

struct cred_ref {
	enum cred_kind kind;
	char *text;	/* the reference as written ("vault:kv/data/gh#token"), for messages */
	char *var;	/* CRED_ENV: the variable's name */
	char *path;	/* CRED_FILE: the absolute path; CRED_VAULT: the API path before
			   the '#' ("kv/data/gh"); CRED_OAUTH: the API path ("oauth2/creds/gh") */
	char *field;	/* CRED_VAULT: the field after the '#' */
	char *name;	/* CRED_LOCAL: the name in the local store */
};

/*
 * Parses text (the value of `token =`, comments already removed). Returns
 * a new reference, or NULL with one of these sentences appended to err (no
 * "FILE:LINE: ", no newline):
 *   token is empty: give a reference (env:, file:, local:, vault:, oauth:), or remove the line
 *   token env: needs a variable name (letters, digits, _)
 *   token file: needs an absolute path (file:/path)
 *   token local:NAME needs a name of A-Z a-z 0-9 _ . - (at most 128)
 *   token vault: must look like vault:MOUNT/data/PATH#FIELD (KV v2) or vault:MOUNT/PATH#FIELD (KV v1)
 *   token oauth: must look like oauth:MOUNT/creds/NAME or oauth:MOUNT/self/NAME
 *   token must be a reference (env:VAR, file:/path, local:NAME, vault:MOUNT/PATH#FIELD
 *     or oauth:MOUNT/creds/NAME); a literal token is refused: secrets never live in the config
 *     (one line)
 * Only the syntax is checked: whether VAR is set or PATH readable changes
 * over time, and config_load() checks those itself.
 */
struct cred_ref *cred_ref_parse(const char *text, struct buf *err);

/* A copy of r (every part copied). */
struct cred_ref *cred_ref_dup(const struct cred_ref *r);

void cred_ref_free(struct cred_ref *r);	/* NULL is fine */

/* The one rule for a local store name (local:NAME, and every name localstore.c
   keeps): 1 to CRED_LOCAL_NAME_MAX bytes of A-Z a-z 0-9 _ . - */
#define CRED_LOCAL_NAME_MAX 128
int cred_local_name_ok(const char *p, size_t n);

#endif
