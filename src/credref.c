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

static int valid_store_name(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > 128)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return 0;
	return 1;
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
	struct cred_ref *r;

	if (!*v) {
		buf_puts(err, "token is empty: give a reference (env:, file:, local:, vault:, oauth:), or remove the line");
		return NULL;
	}
	if (!strncmp(v, "env:", 4)) {
		if (!valid_env_name(v + 4)) {
			buf_puts(err, "token env: needs a variable name (letters, digits, _)");
			return NULL;
		}
		r = new_ref(CRED_ENV, v);
		r->var = xstrdup(v + 4);
	} else if (!strncmp(v, "file:", 5)) {
		if (v[5] != '/') {
			buf_puts(err, "token file: needs an absolute path (file:/path)");
			return NULL;
		}
		r = new_ref(CRED_FILE, v);
		r->path = xstrdup(v + 5);
	} else if (!strncmp(v, "local:", 6)) {
		if (!valid_store_name(v + 6)) {
			buf_puts(err, "token local:NAME needs a name of A-Z a-z 0-9 _ . - (at most 128)");
			return NULL;
		}
		r = new_ref(CRED_LOCAL, v);
		r->name = xstrdup(v + 6);
	} else if (!strncmp(v, "vault:", 6)) {
		const char *hash = strchr(v + 6, '#');

		if (!valid_vault_ref(v + 6)) {
			buf_puts(err, "token vault: must look like vault:MOUNT/data/PATH#FIELD (KV v2) or vault:MOUNT/PATH#FIELD (KV v1)");
			return NULL;
		}
		r = new_ref(CRED_VAULT, v);
		r->path = xstrndup(v + 6, (size_t)(hash - (v + 6)));
		r->field = xstrdup(hash + 1);
	} else if (!strncmp(v, "oauth:", 6)) {
		if (!valid_oauth_ref(v + 6)) {
			buf_puts(err, "token oauth: must look like oauth:MOUNT/creds/NAME or oauth:MOUNT/self/NAME");
			return NULL;
		}
		r = new_ref(CRED_OAUTH, v);
		r->path = xstrdup(v + 6);
	} else {
		buf_puts(err, "token must be a reference (env:VAR, file:/path, local:NAME, vault:MOUNT/PATH#FIELD or oauth:MOUNT/creds/NAME); a literal token is refused: secrets never live in the config");
		return NULL;
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
