/*
 * approve_ui.h - the pure part of `mcpmux approve`: the queue of pending
 * calls, the argument pretty-printer, the countdown, and the screen layout.
 *
 * Nothing here touches a terminal, a socket or a clock: the caller passes
 * the monotonic time in milliseconds and gets plain text rows back, so the
 * whole screen can be unit-tested (tests/unit/test_approve.c). The terminal
 * and the broker connections live in src/cmd_approve.c, which owns one
 * struct approve_queue and one struct approve_history.
 *
 * Text from brokers is shown as received but made safe for a terminal:
 * control characters (C0, DEL, C1), every Unicode format character (Cf,
 * which includes every bidi control), the tags block, the variation
 * selectors and invalid UTF-8 become '?', so a request cannot move the
 * cursor, recolour the screen, hide text or make the arguments read
 * differently from what they are. The tty prompt and the elicitation
 * question (src/approval.c) use the same functions.
 */
#ifndef MCPMUX_APPROVE_UI_H
#define MCPMUX_APPROVE_UI_H

#include <stddef.h>

#include "buf.h"
#include "json.h"

/* Decision history lines kept on screen. */
#define APPROVE_HISTORY 3
/* In the compact view, strings longer than this many characters are shortened. */
#define APPROVE_MAX_STR 120
/* The compact pretty-print stops producing lines past this many (it still counts). */
#define APPROVE_MAX_LINES 200
/* After its deadline, a call the broker has not withdrawn is dropped this much later. */
#define APPROVE_EXPIRE_GRACE_MS 2000

/* One call waiting for a decision. */
struct approve_req {
	struct approve_req *next;	/* the next one in the order they were asked */
	const void *conn;		/* its broker (not owned): ids are unique per broker */
	char *id;			/* the broker's id, unescaped */
	char *agent;			/* who asks, e.g. "claude-ai 0.9.1" */
	char *connector;		/* the connector alias */
	char *tool;			/* the exposed name, e.g. "linear__create_issue" */
	char *upstream_tool;		/* the connector's own name for it ("" when absent) */
	char *label;			/* "read" / "write" ("" when absent) */
	char *args;			/* the arguments as sent (raw JSON), NUL-terminated */
	size_t args_len;		/* their length */
	char *pretty;			/* compact pretty-print of the arguments, '\n'-ended */
	size_t pretty_lines;		/* lines in `pretty` */
	size_t total_lines;		/* lines the full pretty-print has */
	int shortened;			/* `pretty` is not all of it (strings or lines cut) */
	long long deadline;		/* monotonic ms when the broker denies it, -1 for none */
	long long asked;		/* monotonic ms when the agent asked (from timeout_ms
					   - remaining_ms), else when it arrived */
};

/* Pending calls across every broker, oldest first (by `asked`). Owns its requests. */
struct approve_queue {
	struct approve_req *head;	/* the call shown in full */
	size_t n;			/* how many */
};

/* The last few decisions made here, oldest first. Owns its strings. */
struct approve_history {
	char *line[APPROVE_HISTORY];	/* "allowed once: linear__create_issue", or NULL */
	int good[APPROVE_HISTORY];	/* 1 for an allow (shown green), 0 for a deny */
};

/* --- pretty-printing and text --- */

/*
 * Appends the JSON value at token i, indented by two spaces per level, one
 * '\n'-terminated line per scalar or bracket. Strings keep their escaped
 * JSON form; a string longer than max_str characters (0: no limit) is cut
 * with a visible marker ("..." (+N chars)). Only the first max_lines lines
 * (0: no limit) are written; *total gets the number the whole text has.
 * Returns the number of lines written; *shortened is set when anything was cut.
 */
size_t approve_pretty(struct buf *out, const struct json *j, int i, size_t max_str,
		      size_t max_lines, size_t *total, int *shortened);

/* Time left as "45s", "1m52s", "2h05m"; whole seconds rounded up; <= 0 is "0s". */
void approve_fmt_left(char *out, size_t size, long long ms);

/* 1 when code point cp is shown as '?' (see above). */
int approve_unsafe_char(unsigned int cp);

/* Terminal columns the UTF-8 text s[0..n) takes once made safe (see above). */
size_t approve_cols(const char *s, size_t n);

/*
 * Appends s[0..n) made safe and cut to at most `cols` columns; when it had to
 * cut, the last three columns are "..." (or fewer dots when cols < 3).
 * Returns how many bytes of s were used.
 */
size_t approve_cut(struct buf *out, const char *s, size_t n, size_t cols);

/* --- the queue --- */

void approve_queue_init(struct approve_queue *q);
void approve_queue_free(struct approve_queue *q);

/*
 * Builds a request from a parsed `request` message (token 0 is the object),
 * received at `now`; conn is the broker it came from. Returns NULL when it
 * has no string id (the only field a decision cannot do without).
 */
struct approve_req *approve_req_new(const struct json *j, const void *conn,
				    const char *hello_agent, long long now);
void approve_req_free(struct approve_req *r);

/*
 * Adds r (taking it) after every call asked before it or at the same time, so
 * that calls already waiting in several brokers line up oldest first; a
 * second request with the same broker and id is freed.
 */
void approve_queue_add(struct approve_queue *q, struct approve_req *r);
struct approve_req *approve_queue_find(const struct approve_queue *q, const void *conn,
				       const char *id);
/* Removes and frees the call; returns 1 when it was there. */
int approve_queue_remove(struct approve_queue *q, const void *conn, const char *id);
/* Removes and frees every call of a broker that went away; returns how many. */
size_t approve_queue_drop_conn(struct approve_queue *q, const void *conn);
/* Drops calls past deadline + APPROVE_EXPIRE_GRACE_MS; returns how many. */
size_t approve_queue_expire(struct approve_queue *q, long long now);
/* Milliseconds until the next countdown shown changes or a call expires; -1: none. */
long long approve_queue_next_tick(const struct approve_queue *q, long long now);

/* --- history --- */

void approve_history_add(struct approve_history *h, int good, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void approve_history_free(struct approve_history *h);

/* --- the screen --- */

/* Row styles: how cmd_approve.c colours a whole row (when colours are on). */
enum approve_style {
	APPROVE_PLAIN,
	APPROVE_TITLE,		/* the header */
	APPROVE_STRONG,		/* the call's headline */
	APPROVE_DIM,		/* secondary text */
	APPROVE_GOOD,		/* an allow in the history */
	APPROVE_BAD,		/* a deny in the history */
	APPROVE_WARN,		/* a notice; a write tool */
	APPROVE_KEYS,		/* the key help */
};

/* What is on screen: at most `height` rows of at most `width` columns. */
struct approve_screen {
	size_t width, height;	/* the terminal's size */
	struct buf text;	/* the rows, each ending in '\n', safe to print */
	struct buf style;	/* one enum approve_style byte per row */
	size_t rows;		/* rows in `text` */
};

/* Everything the screen shows. Nothing is owned. */
struct approve_view {
	const struct approve_queue *q;		/* pending calls */
	const struct approve_history *hist;	/* recent decisions */
	const char *const *dirs;		/* the socket directories being watched */
	size_t ndirs;
	const char *const *servers;		/* one "pid 4242  claude-ai 0.9.1" per serve */
	size_t nservers;
	size_t nexited;		/* serves that were attached and exited */
	long last_exited;	/* the pid of the last of them */
	const char *notice;			/* a one-line message, or NULL */
	long long now;				/* monotonic ms */
	const char *full;	/* the head's whole arguments for `v`, or NULL: normal screen */
	size_t scroll;		/* first row of `full` shown; clamped by approve_render() */
};

void approve_screen_init(struct approve_screen *s, size_t width, size_t height);
void approve_screen_free(struct approve_screen *s);
/* Lays out the screen (replacing what s held). */
void approve_render(struct approve_screen *s, struct approve_view *v);

#endif
