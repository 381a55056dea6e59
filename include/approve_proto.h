/*
 * approve_proto.h - the approval protocol: every message `mcpmux serve` (the
 * broker, src/approval.c) and `mcpmux approve` (the terminal,
 * src/cmd_approve.c and src/approve_ui.c) send each other, written and read
 * here and nowhere else. docs/approval-protocol.md is the same contract in
 * prose (where the sockets are, who may connect, what each side does).
 *
 * Framing: newline-delimited JSON on a SOCK_STREAM UNIX socket, one object
 * per line, UTF-8, lines at most APPROVE_MAX_LINE bytes (include/lines.h
 * frames them on both sides). Every object has a "type". Unknown types and
 * unknown members are ignored, so either side can grow. A line that is not
 * a valid JSON object is no message at all, and so is one that holds a key
 * twice (json_parse() refuses it: two readers could take different values).
 *
 *   broker -> terminal
 *     hello      once on connect: protocol, pid, agent, config
 *     request    a call waiting for a decision (every pending one also right
 *                after hello, oldest first): id, agent, connector, tool,
 *                upstream_tool, label, arguments, timeout_ms, remaining_ms
 *     withdrawn  a call no longer pending: id, reason
 *   terminal -> broker
 *     decision   id, decision ("allow", "always" or "deny")
 *
 * Ids are strings, unique within one broker. Decisions are given here as the
 * keys of the approve screen and the tty prompt: 'y' allow this call once,
 * 'a' allow the tool until that serve exits, 'n' deny.
 *
 * Writers append one whole message, its '\n' included, to a buffer, which
 * approve_flush() sends; approve_read() frames what comes in, and readers
 * classify a line with approve_msg_parse() and find its members with
 * approve_field(). Nothing here owns memory beyond what the buffers, the
 * framers and the struct json passed in hold.
 */
#ifndef MCPMUX_APPROVE_PROTO_H
#define MCPMUX_APPROVE_PROTO_H

#include <stddef.h>

#include "buf.h"
#include "json.h"
#include "lines.h"
#include "loop.h"

/* The version in hello. */
#define APPROVE_PROTOCOL 1
/* The longest line either side accepts, in bytes. */
#define APPROVE_MAX_LINE (16u << 20)

enum approve_msg {
	APPROVE_MSG_NONE,	/* not a message (see above), or a type not listed here */
	APPROVE_MSG_HELLO,
	APPROVE_MSG_REQUEST,
	APPROVE_MSG_WITHDRAWN,
	APPROVE_MSG_DECISION,
};

/* Every member name of every message. */
enum approve_field {
	APPROVE_F_TYPE,
	APPROVE_F_PROTOCOL,		/* hello: APPROVE_PROTOCOL */
	APPROVE_F_PID,			/* hello: the serve's pid */
	APPROVE_F_AGENT,		/* hello, request: "claude-ai 0.9.1" */
	APPROVE_F_CONFIG,		/* hello: the serve's config file */
	APPROVE_F_ID,			/* request, withdrawn, decision */
	APPROVE_F_CONNECTOR,		/* request: the connector alias */
	APPROVE_F_TOOL,			/* request: the exposed name */
	APPROVE_F_UPSTREAM_TOOL,	/* request: the connector's own name */
	APPROVE_F_LABEL,		/* request: "read" / "write" */
	APPROVE_F_ARGUMENTS,		/* request: the JSON the agent sent */
	APPROVE_F_TIMEOUT_MS,		/* request: how long the broker waits in all */
	APPROVE_F_REMAINING_MS,		/* request: how much of it is left */
	APPROVE_F_REASON,		/* withdrawn: enum approve_reason */
	APPROVE_F_DECISION,		/* decision: "allow", "always", "deny" */
};

/* Why a request was withdrawn. */
enum approve_reason {
	APPROVE_WD_ALLOWED,	/* decided, by any channel */
	APPROVE_WD_DENIED,
	APPROVE_WD_TIMEOUT,
	APPROVE_WD_CANCELLED,	/* the agent cancelled the call or went away */
};

/* A request as the broker writes it. Strings are UTF-8, NUL-terminated. */
struct approve_request_msg {
	const char *id;
	const char *agent;
	const char *connector;
	const char *tool;
	const char *upstream_tool;
	const char *label;
	const char *args;		/* JSON, one line, written as it is */
	size_t args_len;
	long timeout_ms;
	long long remaining_ms;		/* >= 0 */
};

/* --- writing: one whole line appended to out --- */

void approve_put_hello(struct buf *out, long pid, const char *agent, const char *config);
void approve_put_request(struct buf *out, const struct approve_request_msg *m);
void approve_put_withdrawn(struct buf *out, const char *id, enum approve_reason why);
/* key: 'y', 'a' or 'n' (anything else is written as a deny). */
void approve_put_decision(struct buf *out, const char *id, char key);

/* --- reading --- */

/*
 * Parses one line (without its '\n'; a trailing '\r' is JSON white space)
 * into j and says which message it is. Its members are then in j, token 0
 * being the object.
 */
enum approve_msg approve_msg_parse(struct json *j, const char *line, size_t n);

/* The token of member f of the message parsed into j, or -1 when absent. */
int approve_field(const struct json *j, enum approve_field f);

/*
 * The one message a broker reads: 0 when line is a decision with a string
 * id and a known decision; then *id, *idn are the id's raw (still escaped)
 * bytes within line and *key is 'y', 'a' or 'n'. -1 for anything else.
 */
int approve_decision_parse(struct json *j, const char *line, size_t n, const char **id,
			   size_t *idn, char *key);

/* --- the socket --- */

/*
 * Sends what it can of out on the connected non-blocking socket fd, never
 * raising SIGPIPE, and consumes what went. Then loop l watches fd for
 * POLLIN, plus POLLOUT exactly while something is left (*watch_out says
 * whether it does). 0, or -1 with errno set when the connection failed.
 */
int approve_flush(struct loop *l, int fd, struct buf *out, int *watch_out);

/*
 * Reads what the socket fd has, at most `reads` reads of up to `chunk` bytes
 * each (then the rest of the loop gets a turn), into `in`, and hands every
 * whole line to fn through lines_take(). 0 when there is nothing more for
 * now or the reads are used up; 1 when fn stopped (the lines after it wait
 * in `in`); -1 when the peer closed the connection or it failed.
 */
int approve_read(int fd, struct lines *in, size_t chunk, int reads,
		 int (*fn)(void *arg, char *line, size_t n, int too_long), void *arg);

#endif
