/*
 * protocol.h - facts of the MCP protocol that both sides of mcpmux share.
 *
 * The revisions mcpmux speaks, towards the agent (server.c answers
 * initialize with one of them) and towards connectors (conn/mcp offers the
 * newest and accepts any of them back). Constant data: nothing is owned.
 */
#ifndef MCPMUX_PROTOCOL_H
#define MCPMUX_PROTOCOL_H

#include <stddef.h>

/* Protocol versions mcpmux speaks, oldest first; the last is offered. */
extern const char *const mcp_versions[];
extern const size_t mcp_nversions;

/* 1 when v[0..n) is one of mcp_versions. */
int mcp_version_known(const char *v, size_t n);

#endif
