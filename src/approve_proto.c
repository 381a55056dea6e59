/* approve_proto.c - the approval protocol's messages; see include/approve_proto.h. */
#include "approve_proto.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const msg_names[] = {
	[APPROVE_MSG_HELLO] = "hello", [APPROVE_MSG_REQUEST] = "request",
	[APPROVE_MSG_WITHDRAWN] = "withdrawn", [APPROVE_MSG_DECISION] = "decision",
};

static const char *const field_names[] = {
	[APPROVE_F_TYPE] = "type", [APPROVE_F_PROTOCOL] = "protocol", [APPROVE_F_PID] = "pid",
	[APPROVE_F_AGENT] = "agent", [APPROVE_F_CONFIG] = "config", [APPROVE_F_ID] = "id",
	[APPROVE_F_CONNECTOR] = "connector", [APPROVE_F_TOOL] = "tool",
	[APPROVE_F_UPSTREAM_TOOL] = "upstream_tool", [APPROVE_F_LABEL] = "label",
	[APPROVE_F_ARGUMENTS] = "arguments", [APPROVE_F_TIMEOUT_MS] = "timeout_ms",
	[APPROVE_F_REMAINING_MS] = "remaining_ms", [APPROVE_F_REASON] = "reason",
	[APPROVE_F_DECISION] = "decision",
};

static const char *const reason_names[] = {
	[APPROVE_WD_ALLOWED] = "allowed", [APPROVE_WD_DENIED] = "denied",
	[APPROVE_WD_TIMEOUT] = "timeout", [APPROVE_WD_CANCELLED] = "cancelled",
};

/* The decisions, by key. */
static const struct {
	char key;
	const char *name;
} decisions[] = {
	{ 'y', "allow" },
	{ 'a', "always" },
	{ 'n', "deny" },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* --- writing --- */

/* {"type":"NAME" */
static void put_begin(struct buf *out, enum approve_msg type)
{
	buf_printf(out, "{\"%s\":\"%s\"", field_names[APPROVE_F_TYPE], msg_names[type]);
}

/* ,"NAME": */
static void put_key(struct buf *out, enum approve_field f)
{
	buf_printf(out, ",\"%s\":", field_names[f]);
}

static void put_str(struct buf *out, enum approve_field f, const char *s)
{
	put_key(out, f);
	json_escape_str(out, s);
}

static void put_end(struct buf *out)
{
	buf_puts(out, "}\n");
}

void approve_put_hello(struct buf *out, long pid, const char *agent, const char *config)
{
	put_begin(out, APPROVE_MSG_HELLO);
	put_key(out, APPROVE_F_PROTOCOL);
	buf_printf(out, "%d", APPROVE_PROTOCOL);
	put_key(out, APPROVE_F_PID);
	buf_printf(out, "%ld", pid);
	put_str(out, APPROVE_F_AGENT, agent);
	put_str(out, APPROVE_F_CONFIG, config);
	put_end(out);
}

void approve_put_request(struct buf *out, const struct approve_request_msg *m)
{
	put_begin(out, APPROVE_MSG_REQUEST);
	put_str(out, APPROVE_F_ID, m->id);
	put_str(out, APPROVE_F_AGENT, m->agent);
	put_str(out, APPROVE_F_CONNECTOR, m->connector);
	put_str(out, APPROVE_F_TOOL, m->tool);
	put_str(out, APPROVE_F_UPSTREAM_TOOL, m->upstream_tool);
	put_str(out, APPROVE_F_LABEL, m->label);
	put_key(out, APPROVE_F_ARGUMENTS);
	buf_add(out, m->args, m->args_len);
	put_key(out, APPROVE_F_TIMEOUT_MS);
	buf_printf(out, "%ld", m->timeout_ms);
	put_key(out, APPROVE_F_REMAINING_MS);
	buf_printf(out, "%lld", m->remaining_ms);
	put_end(out);
}

void approve_put_withdrawn(struct buf *out, const char *id, enum approve_reason why)
{
	put_begin(out, APPROVE_MSG_WITHDRAWN);
	put_str(out, APPROVE_F_ID, id);
	put_str(out, APPROVE_F_REASON, reason_names[why]);
	put_end(out);
}

void approve_put_decision(struct buf *out, const char *id, char key)
{
	size_t k;

	for (k = 0; k < COUNT(decisions) - 1 && decisions[k].key != key; k++)
		;	/* the last one, deny, for anything else */
	put_begin(out, APPROVE_MSG_DECISION);
	put_str(out, APPROVE_F_ID, id);
	put_str(out, APPROVE_F_DECISION, decisions[k].name);
	put_end(out);
}

/* --- reading --- */

int approve_field(const struct json *j, enum approve_field f)
{
	return json_get(j, 0, field_names[f]);
}

enum approve_msg approve_msg_parse(struct json *j, const char *line, size_t n)
{
	int type;
	size_t k;

	if (json_parse(j, line, n) != 0 || json_type(j, 0) != JSMN_OBJECT)
		return APPROVE_MSG_NONE;
	type = approve_field(j, APPROVE_F_TYPE);
	for (k = 0; k < COUNT(msg_names); k++)
		if (msg_names[k] && json_streq(j, type, msg_names[k]))
			return (enum approve_msg)k;
	return APPROVE_MSG_NONE;
}

int approve_decision_parse(struct json *j, const char *line, size_t n, const char **id,
			   size_t *idn, char *key)
{
	int idt, dec;
	size_t k;

	if (approve_msg_parse(j, line, n) != APPROVE_MSG_DECISION)
		return -1;
	idt = approve_field(j, APPROVE_F_ID);
	dec = approve_field(j, APPROVE_F_DECISION);
	if (json_type(j, idt) != JSMN_STRING)
		return -1;
	for (k = 0; k < COUNT(decisions) && !json_streq(j, dec, decisions[k].name); k++)
		;
	if (k == COUNT(decisions))
		return -1;
	*key = decisions[k].key;
	*id = j->js + j->tok[idt].start;
	*idn = (size_t)(j->tok[idt].end - j->tok[idt].start);
	return 0;
}

/* --- the socket --- */

int approve_flush(struct loop *l, int fd, struct buf *out, int *watch_out)
{
	int rc = 0;
	ssize_t w;

	while (out->len) {
		w = send(fd, out->data, out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				rc = -1;
			break;
		}
		buf_consume(out, (size_t)w);
	}
	if ((out->len > 0) != *watch_out) {
		*watch_out = out->len > 0;
		loop_io_events(l, fd, *watch_out ? POLLIN | POLLOUT : POLLIN);
	}
	return rc;
}

int approve_read(int fd, struct lines *in, size_t chunk, int reads,
		 int (*fn)(void *arg, char *line, size_t n, int too_long), void *arg)
{
	ssize_t r;
	int k;

	for (k = 0; k < reads; k++) {
		r = read(fd, lines_space(in, chunk), chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0)
			return -1;
		lines_commit(in, (size_t)r);
		if (lines_take(in, fn, arg))
			return 1;
	}
	return 0;
}
