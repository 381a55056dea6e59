/* lines.c - newline framing with a cap; see include/lines.h. */
#include "lines.h"

#include <string.h>

/* A buffer that grew past this is released (or shrunk) once it is idle. */
#define LINES_KEEP (256u << 10)

void lines_init(struct lines *l, size_t max)
{
	buf_init(&l->in);
	l->scanned = 0;
	l->max = max;
	l->discarding = 0;
}

void lines_free(struct lines *l)
{
	buf_free(&l->in);
	l->scanned = 0;
	l->discarding = 0;
}

char *lines_space(struct lines *l, size_t n)
{
	buf_reserve(&l->in, n);
	return l->in.data + l->in.len;
}

void lines_commit(struct lines *l, size_t n)
{
	l->in.len += n;
	l->in.data[l->in.len] = '\0';
}

size_t lines_pending(const struct lines *l)
{
	return l->in.len;
}

/* After a big line: the rest moves to a buffer of its own size. */
static void shrink(struct lines *l)
{
	struct buf rest = BUF_INIT;

	if (l->in.cap <= LINES_KEEP || l->in.len > LINES_KEEP / 2)
		return;
	if (l->in.len)
		buf_add(&rest, l->in.data, l->in.len);
	buf_free(&l->in);
	l->in = rest;
}

int lines_take(struct lines *l, int (*fn)(void *arg, char *line, size_t n, int too_long),
	       void *arg)
{
	size_t start = 0;
	int r = 0;
	char *nl;

	/* in.data is NULL once a big buffer was given back: nothing to scan then. */
	while (!r && l->scanned < l->in.len &&
	       (nl = memchr(l->in.data + l->scanned, '\n', l->in.len - l->scanned))) {
		size_t end = (size_t)(nl - l->in.data), len = end - start;

		l->scanned = end + 1;
		/* The cap is on the line: its '\r' belongs to the end of it. */
		if (len && l->in.data[end - 1] == '\r')
			len--;
		if (l->discarding) {
			l->discarding = 0;
			r = fn(arg, NULL, 0, 1);
		} else if (len > l->max) {
			r = fn(arg, NULL, 0, 1);
		} else {
			l->in.data[start + len] = '\0';
			r = fn(arg, l->in.data + start, len, 0);
		}
		start = end + 1;
	}
	if (start)
		buf_consume(&l->in, start);
	/* Stopped early: what is left has not been looked at yet. */
	l->scanned = r ? 0 : l->in.len;
	/* Past the cap without an end: drop what there is, and the rest of it as it
	   comes. A line of exactly the cap may wait for the '\n' after its '\r'. */
	if (!r && l->in.len > l->max &&
	    !(l->in.len - 1 == l->max && l->in.data[l->max] == '\r')) {
		l->discarding = 1;
		buf_reset(&l->in);
		l->scanned = 0;
	}
	shrink(l);
	return r;
}
