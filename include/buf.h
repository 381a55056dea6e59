/*
 * buf.h - a growable byte buffer.
 *
 * Invariants: `data` is either NULL (never grown) or points to `cap` bytes
 * of which the first `len` are in use and data[len] is always '\0', so the
 * contents can be used as a C string when they hold no NUL of their own.
 * A struct buf is owned by whoever embeds it; buf_free() releases the storage.
 * All growth functions abort the process on out-of-memory: mcpmux treats
 * OOM as fatal rather than threading an error through every caller.
 */
#ifndef MCPMUX_BUF_H
#define MCPMUX_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;	/* the bytes, NUL-terminated once grown; may be NULL */
	size_t len;	/* bytes in use */
	size_t cap;	/* bytes allocated (including room for the NUL) */
};

#define BUF_INIT { NULL, 0, 0 }

/* Life cycle */
void buf_init(struct buf *b);
void buf_free(struct buf *b);		/* releases storage, back to BUF_INIT */
void buf_reset(struct buf *b);		/* len = 0, keeps the storage */
/* Hands the storage to the caller (who must free() it); b is reset to empty. */
char *buf_detach(struct buf *b, size_t *len);

/* Size */
void buf_reserve(struct buf *b, size_t extra);	/* room for `extra` more bytes */
void buf_consume(struct buf *b, size_t n);	/* drops the first n bytes */

/* Adding data */
void buf_add(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* A NUL-terminated string, never NULL (returns "" for an empty buffer). */
const char *buf_str(const struct buf *b);

/* Overwrites then frees: for buffers that held a secret. */
void buf_wipe(struct buf *b);

#endif
