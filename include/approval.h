/*
 * approval.h - the broker that asks a human before a call runs.
 *
 * Channels ([mcpmux] approvals): terminals attached to this process's UNIX
 * socket (`mcpmux approve`; the messages are include/approve_proto.h, the
 * rest docs/approval-protocol.md), the client's MCP
 * elicitation (the server does the talking, through approval_elicit_ops),
 * a prompt on /dev/tty, or nobody (deny). Every request ends in exactly one
 * callback (allowed, denied, timed out, no channel) unless cancelled, and no
 * later than approval_timeout. While a request waits, the loop runs on: other
 * calls are not held up.
 *
 * Owned by `mcpmux serve`. A struct approval_req is owned by the broker; the
 * caller keeps it as a handle until its callback runs or it cancels it.
 */
#ifndef MCPMUX_APPROVAL_H
#define MCPMUX_APPROVAL_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "loop.h"

enum approval_result {
	APPROVAL_ALLOWED,
	APPROVAL_DENIED,	/* a human said no */
	APPROVAL_TIMEOUT,	/* nobody decided in time */
	APPROVAL_NO_CHANNEL	/* no way to ask (approvals = deny, or the channel is missing) */
};

/* What a human is shown. Strings are copied. */
struct approval_call {
	const char *connector;		/* alias */
	const char *tool;		/* exposed name */
	const char *upstream_tool;	/* the connector's own name */
	const char *label;		/* "read" / "write" */
	const char *args;		/* the arguments JSON as the agent sent it ("{}" if none) */
	size_t args_len;
};

/* by: "terminal", "elicitation", "tty" or "policy"; text: for the model when not allowed. */
typedef void (*approval_cb)(enum approval_result r, const char *by, const char *text, void *arg);

/* How the broker asks through the client; implemented by the server (server.c). */
struct approval_elicit_ops {
	int (*available)(void *arg);	/* the client declared the elicitation capability */
	/* Sends the question; calls done(ctx, accepted) once (accepted -1: no answer). */
	void *(*start)(void *arg, const char *message, void (*done)(void *ctx, int accepted),
		       void *ctx);
	void (*cancel)(void *arg, void *handle);	/* no done() after this */
	void *arg;
};

struct approval;
struct approval_req;

struct approval *approval_new(struct loop *loop, const struct config *cfg,
			      const struct approval_elicit_ops *ops, struct buf *err);
void approval_free(struct approval *a);	/* closes and removes the socket */

/* The agent's name for terminals ("claude-ai 0.9.1"). */
void approval_set_agent(struct approval *a, const char *agent);

struct approval_req *approval_ask(struct approval *a, const struct approval_call *call,
				  approval_cb cb, void *arg);
/* The call is gone (cancelled by the agent, or shutting down): no callback. */
void approval_cancel(struct approval *a, struct approval_req *r);

#endif
