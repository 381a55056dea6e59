/* xalloc.c - see xalloc.h. */
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void xalloc_die(void)
{
	fputs("mcpmux: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		xalloc_die();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		xalloc_die();
	return p;
}

void *xrealloc(void *p, size_t n, size_t size)
{
	size_t bytes;

	if (size && n > SIZE_MAX / size)
		xalloc_die();
	bytes = n * size;
	p = realloc(p, bytes ? bytes : 1);
	if (!p)
		xalloc_die();
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s ? s : "", SIZE_MAX);
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);

	return xmemdup(s, len);
}

void *xmemdup(const void *p, size_t n)
{
	char *q;

	if (n == SIZE_MAX)
		xalloc_die();
	q = xmalloc(n + 1);
	if (n)
		memcpy(q, p, n);
	q[n] = '\0';
	return q;
}
