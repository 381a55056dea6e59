/*
 * policy.h - what a tool is (read or write) and whether calling it asks a human.
 *
 * Label: `label.<glob>` in the connector's config when one matches, else
 * `read` when the tool's annotations say readOnlyHint: true, else `write`
 * (annotations are untrusted hints, and the spec's default is not read-only).
 * Mode: the first matching `approval.<glob>`, else the connector's `approval`.
 * `default` asks for write tools only, `ask` always, `auto` never.
 * Pure functions of the config and the tool: nothing is owned here.
 */
#ifndef MCPMUX_POLICY_H
#define MCPMUX_POLICY_H

#include "config.h"
#include "connector.h"

int policy_label(const struct connector_cfg *c, const struct conn_tool *t);	/* LABEL_READ / LABEL_WRITE */
const char *policy_label_name(int label);
int policy_asks(const struct connector_cfg *c, const struct conn_tool *t);

#endif
