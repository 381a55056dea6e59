/*
 * downstream.h - the stdio MCP server the agent talks to.
 *
 * Newline-delimited JSON-RPC on stdin/stdout (a trailing CR is accepted;
 * lines of any size up to DOWN_MAX_LINE). Output is queued and written when
 * stdout is writable, never blocking the loop. Requests are answered in the
 * order their answers are ready. On EOF (or SIGTERM/SIGINT) pending work is
 * abandoned, sessions are closed and downstream_run() returns.
 *
 * Owned by `mcpmux serve`; it owns its in-flight calls and queued requests.
 */
#ifndef MCPMUX_DOWNSTREAM_H
#define MCPMUX_DOWNSTREAM_H

#include "mux.h"

#define DOWN_MAX_LINE (256u << 20)

struct downstream;

/* Also opens the audit log and the approval broker: NULL with a message in err
   when either cannot be set up (mcpmux then refuses to start: fail closed). */
struct downstream *downstream_new(struct loop *loop, struct mux *m, int in_fd, int out_fd,
				  struct buf *err);
/* Runs until stdin ends or a stop signal; returns the exit status. */
int downstream_run(struct downstream *d);
void downstream_free(struct downstream *d);

#endif
