/*
 * lines.h - newline-delimited framing with a cap: the one line reader for
 * stdin (the agent), the approval sockets (both ends) and anything else that
 * speaks one JSON message per line.
 *
 * Bytes are read straight into the framer (lines_space, lines_commit), then
 * lines_take() hands over each whole line. A line is what comes before a
 * '\n', without it and without one trailing '\r'. A line longer than `max`
 * bytes is never held in memory: its bytes are dropped as they come, and
 * once its '\n' arrives it is reported once, as too long, with no text.
 * Memory that a big line needed is given back once it has been handled.
 *
 * A struct lines is owned by whoever embeds it; lines_free() releases it.
 */
#ifndef MCPMUX_LINES_H
#define MCPMUX_LINES_H

#include <stddef.h>

#include "buf.h"

struct lines {
	struct buf in;		/* bytes read, not yet a whole line */
	size_t scanned;		/* in[0..scanned) holds no '\n' */
	size_t max;		/* the longest line accepted, in bytes */
	int discarding;		/* inside an over-long line: dropped up to its '\n' */
};

void lines_init(struct lines *l, size_t max);
void lines_free(struct lines *l);

/* Where to read up to n more bytes; then lines_commit() how many came. */
char *lines_space(struct lines *l, size_t n);
void lines_commit(struct lines *l, size_t n);

/*
 * Calls fn once per whole line, in order: line is NUL-terminated (it may hold
 * other NULs) and writable until fn returns; too_long is 1 (line NULL, n 0)
 * for a line over the cap. fn returns non-zero to stop: the lines after it
 * stay for the next call. Returns what the last fn returned (0 when none ran).
 */
int lines_take(struct lines *l, int (*fn)(void *arg, char *line, size_t n, int too_long),
	       void *arg);

/* Bytes held for the line not yet complete. */
size_t lines_pending(const struct lines *l);

#endif
