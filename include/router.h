/*
 * router.h - one routed request, from the agent's method to its audit line.
 *
 * Contract. A routed method is a request the agent makes of one connector
 * (today tools/call; next resources/read, prompts/get, completion/complete,
 * the tasks methods). Each is a row of router.c's table: the method name and one
 * function that finds the target (catalog lookup) and builds what goes
 * upstream. The rest of the way is the router's and the same for every
 * row: policy (label, ask or not) → approval (a human, through the broker)
 * → the connector's request → the reply, spliced with the agent's own id →
 * one audit line, whatever happened (ok, error, denied, timeout,
 * cancelled). What a human approves is exactly what goes upstream.
 *
 * A request for a connector that is still starting, or that is down and
 * can try again at once, is not answered yet: router_handle() says
 * ROUTE_WAIT and which connector to wait for, and the caller hands the same
 * message back with `final` set once that connector settled (or after
 * connect_timeout); then it is answered with what there is.
 *
 * Ownership. Owned by the server; it owns its calls in flight. The mux,
 * the downstream, the approval broker and the audit log are borrowed and
 * must outlive it.
 */
#ifndef MCPMUX_ROUTER_H
#define MCPMUX_ROUTER_H

#include "approval.h"
#include "audit.h"
#include "connector.h"
#include "downstream.h"
#include "mux.h"

struct router;

enum route_result {
	ROUTE_NONE,	/* not a routed method: nothing was done */
	ROUTE_DONE,	/* answered, or under way (the answer comes later) */
	ROUTE_WAIT	/* not answered: hand it back when *wait settles (NULL: every connector) */
};

struct router *router_new(struct loop *loop, struct mux *m, struct downstream *d,
			  struct approval *appr, struct audit *audit);
/* Abandons every call in flight: no answer, no audit line (see router_shutdown). */
void router_free(struct router *r);

/* m is a request or notification whose method may be routed. */
enum route_result router_handle(struct router *r, const struct down_msg *m,
				struct connector **wait);

/* notifications/cancelled from the agent for its request id[0..idn): the
   connector is told, late replies are dropped, the audit says cancelled. */
void router_cancel(struct router *r, const char *id, size_t idn);

/* Shutting down: every call in flight ends with an audit line "cancelled", no answer. */
void router_shutdown(struct router *r);

#endif
