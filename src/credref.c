/* credref.c - credential references, parsed once; see include/credref.h. */
#include "xalloc.h"
#include "credref.h"

#include <stdlib.h>
#include <string.h>

static int is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static int valid_env_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!is_alnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

int cred_local_name_ok(const char *p, size_t n)
{
	size_t i;

	if (!n || n > CRED_LOCAL_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alnum((unsigned char)p[i]) && p[i] != '_' && p[i] != '.' && p[i] != '-')
			return 0;
	return 1;
}

static int valid_store_name(const char *s)
{
	return cred_local_name_ok(s, strlen(s));
}

/* vault:MOUNT/PATH#FIELD: a path of safe characters, no "..", and a field. */
static int valid_vault_ref(const char *s)
{
	const char *hash = strchr(s, '#');
	size_t i;

	if (!hash || hash == s || !hash[1] || s[0] == '/' || hash[-1] == '/' || strstr(s, ".."))
		return 0;
	for (i = 0; s + i < hash; i++)
		if (!is_alnum((unsigned char)s[i]) && !strchr("_.-/", s[i]))
			return 0;
	return strchr(hash + 1, '#') == NULL && strchr(s, '/') != NULL;
}

/* oauth:MOUNT/creds/NAME or oauth:MOUNT/self/NAME */
static int valid_oauth_ref(const char *s)
{
	const char *slash = strchr(s, '/');
	size_t i;

	if (!slash || slash == s || strstr(s, "..") || strchr(s, '#'))
		return 0;
	if (strncmp(slash, "/creds/", 7) && strncmp(slash, "/self/", 6))
		return 0;
	for (i = 0; s[i]; i++)
		if (!is_alnum((unsigned char)s[i]) && !strchr("_.-/", s[i]))
			return 0;
	return s[strlen(s) - 1] != '/' && strchr(slash + 1, '/')[1] != '\0';
}

static int valid_abs_path(const char *s)
{
	return s[0] == '/';
}

/* Each kind: its prefix, its syntax, and what is said when that is wrong. */
static const struct syntax {
	const char *prefix;
	enum cred_kind kind;
	int (*valid)(const char *body);
	const char *bad;
} syntaxes[] = {
	{ "env:", CRED_ENV, valid_env_name,
	  "token env: needs a variable name (letters, digits, _)" },
	{ "file:", CRED_FILE, valid_abs_path,
	  "token file: needs an absolute path (file:/path)" },
	{ "local:", CRED_LOCAL, valid_store_name,
	  "token local:NAME needs a name of A-Z a-z 0-9 _ . - (at most 128)" },
	{ "vault:", CRED_VAULT, valid_vault_ref,
	  "token vault: must look like vault:MOUNT/data/PATH#FIELD (KV v2) or vault:MOUNT/PATH#FIELD (KV v1)" },
	{ "oauth:", CRED_OAUTH, valid_oauth_ref,
	  "token oauth: must look like oauth:MOUNT/creds/NAME or oauth:MOUNT/self/NAME" },
	{ NULL, CRED_ENV, NULL, NULL }
};

static struct cred_ref *new_ref(enum cred_kind kind, const char *text)
{
	struct cred_ref *r = xcalloc(1, sizeof(*r));

	r->kind = kind;
	r->text = xstrdup(text);
	return r;
}

/*
 * The value is a secret when it is not a reference, so no message here may
 * quote it: they name the kind, never the text.
 */
struct cred_ref *cred_ref_parse(const char *v, struct buf *err)
{
	const struct syntax *k;
	const char *body, *hash;
	struct cred_ref *r;

	if (!*v) {
		buf_puts(err, "token is empty: give a reference (env:, file:, local:, vault:, oauth:), or remove the line");
		return NULL;
	}
	for (k = syntaxes; k->prefix && strncmp(v, k->prefix, strlen(k->prefix)); k++)
		;
	if (!k->prefix) {
		buf_puts(err, "token must be a reference (env:VAR, file:/path, local:NAME, vault:MOUNT/PATH#FIELD or oauth:MOUNT/creds/NAME); a literal token is refused: secrets never live in the config");
		return NULL;
	}
	body = v + strlen(k->prefix);
	if (!k->valid(body)) {
		buf_puts(err, k->bad);
		return NULL;
	}
	r = new_ref(k->kind, v);
	switch (k->kind) {
	case CRED_ENV:
		r->var = xstrdup(body);
		break;
	case CRED_LOCAL:
		r->name = xstrdup(body);
		break;
	case CRED_VAULT:
		hash = strchr(body, '#');
		r->path = xstrndup(body, (size_t)(hash - body));
		r->field = xstrdup(hash + 1);
		break;
	case CRED_FILE:
	case CRED_OAUTH:
		r->path = xstrdup(body);
		break;
	}
	return r;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct cred_ref *cred_ref_dup(const struct cred_ref *r)
{
	struct cred_ref *d = new_ref(r->kind, r->text);

	d->var = dup_or_null(r->var);
	d->path = dup_or_null(r->path);
	d->field = dup_or_null(r->field);
	d->name = dup_or_null(r->name);
	return d;
}

void cred_ref_free(struct cred_ref *r)
{
	if (!r)
		return;
	free(r->text);
	free(r->var);
	free(r->path);
	free(r->field);
	free(r->name);
	free(r);
}
