/*
 * server.h - the MCP server the agent talks to, on top of downstream.h.
 *
 * Contract. The server is mcpmux's side of the MCP session with the agent:
 * initialize (version negotiation, the agent's capabilities mirrored to the
 * connectors, which start then), ping, tools/list (the merged catalog),
 * logging/setLevel (passed to every connector), notifications from the
 * agent, and the relays the other way: connectors' notifications (progress,
 * log messages with the connector in `logger`, cancellations) and
 * connectors' requests for the agent (elicitation, sampling, roots), passed
 * on under an id of mcpmux's and answered back under the connector's own.
 * notifications/tools/list_changed goes out when the catalog the agent saw
 * changed. Routed methods (tools/call...) go to the router; a request that
 * must wait for a connector still starting is kept (a copy of its line)
 * until that connector settles or connect_timeout passes. It also asks the
 * agent the approval questions when approvals use elicitation.
 *
 * Ownership. Owned by `mcpmux serve`. It owns the downstream, the router,
 * the approval broker, the audit log and its waiting requests and relays;
 * the mux is borrowed and must outlive it.
 */
#ifndef MCPMUX_SERVER_H
#define MCPMUX_SERVER_H

#include "buf.h"
#include "loop.h"
#include "mux.h"

struct server;

/* Also opens the audit log and the approval broker: NULL with a message in err
   when either cannot be set up (mcpmux then refuses to start: fail closed). */
struct server *server_new(struct loop *loop, struct mux *m, int in_fd, int out_fd,
			  struct buf *err);
/* Runs until stdin ends or a stop signal, then ends the sessions; returns the exit status. */
int server_run(struct server *s);
void server_free(struct server *s);

#endif
