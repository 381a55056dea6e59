/* secret.c - secrets in locked memory; see include/secret.h. */
#include "xalloc.h"
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

void *secret_alloc(size_t n)
{
	void *p = sodium_malloc(n ? n : 1);

	if (!p)
		xalloc_die();
	return p;
}

struct secret *secret_new(size_t len)
{
	struct secret *s = xcalloc(1, sizeof(*s));

	s->p = secret_alloc(len + 1);
	s->len = len;
	s->p[len] = '\0';
	return s;
}

void secret_free(struct secret *s)
{
	if (!s)
		return;
	sodium_free(s->p);	/* zeroes before releasing */
	free(s);
}

struct secret *secret_dup(const char *p, size_t n)
{
	struct secret *s = secret_new(n);

	memcpy(s->p, p, n);
	return s;
}

static size_t first_line_len(const char *p, size_t n)
{
	size_t k = 0;

	while (k < n && p[k] != '\n' && p[k] != '\r')
		k++;
	return k;
}

struct secret *secret_from_env(const char *var, struct buf *err)
{
	const char *v = getenv(var);

	if (!v || !*v) {
		buf_printf(err, "environment variable %s is not set", var);
		return NULL;
	}
	return secret_dup(v, first_line_len(v, strlen(v)));
}

struct secret *secret_from_file(const char *path, struct buf *err)
{
	char *tmp;
	ssize_t r;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct secret *s;

	if (fd < 0) {
		buf_printf(err, "cannot read token file %s: %s", path, strerror(errno));
		return NULL;
	}
	tmp = secret_alloc(SECRET_FILE_MAX);
	while (n < SECRET_FILE_MAX && (r = read(fd, tmp + n, SECRET_FILE_MAX - n)) > 0)
		n += (size_t)r;
	close(fd);
	n = first_line_len(tmp, n);
	if (n == 0) {
		sodium_free(tmp);
		buf_printf(err, "token file %s is empty", path);
		return NULL;
	}
	s = secret_dup(tmp, n);
	sodium_free(tmp);
	return s;
}

struct secret *secret_header_line(const char *header, const char *scheme,
				  const struct secret *token)
{
	size_t hl = strlen(header), sl = strlen(scheme), vl, off;
	int basic = strcasecmp(scheme, "Basic") == 0;
	struct secret *s;

	vl = basic ? sodium_base64_ENCODED_LEN(token->len, sodium_base64_VARIANT_ORIGINAL)
		   : token->len + 1;
	s = secret_new(hl + 2 + sl + 1 + vl);
	memcpy(s->p, header, hl);
	memcpy(s->p + hl, ": ", 2);
	off = hl + 2;
	if (sl) {
		memcpy(s->p + off, scheme, sl);
		s->p[off + sl] = ' ';
		off += sl + 1;
	}
	if (basic) {
		sodium_bin2base64(s->p + off, vl, (const unsigned char *)token->p,
				  token->len, sodium_base64_VARIANT_ORIGINAL);
		off += strlen(s->p + off);
	} else {
		memcpy(s->p + off, token->p, token->len);
		off += token->len;
	}
	s->p[off] = '\0';
	s->len = off;
	return s;
}
