/*
 * xalloc.h - allocation that cannot fail.
 *
 * mcpmux treats running out of memory as fatal (as buf.h does): each of
 * these either returns usable memory or prints "mcpmux: out of memory" and
 * aborts. Sizes that overflow size_t count as out of memory. A zero size is
 * rounded up to one byte so that the result is never NULL. What they return
 * is owned by the caller and released with free(). Memory that will hold a
 * secret comes from secret.h instead (locked, wiped when freed).
 */
#ifndef MCPMUX_XALLOC_H
#define MCPMUX_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);		/* zero-filled */
void *xrealloc(void *p, size_t n, size_t size);	/* n elements of size bytes */
char *xstrdup(const char *s);			/* NULL is copied as "" */
char *xstrndup(const char *s, size_t n);	/* at most n bytes, NUL-terminated */
void *xmemdup(const void *p, size_t n);		/* n bytes, plus a NUL after them */

/* Prints the message and aborts: for the callers that detect OOM themselves. */
_Noreturn void xalloc_die(void);

#endif
