/*
 * log.h - diagnostics on stderr, the only place they go (stdout carries MCP).
 *
 * One line per event, prefixed "mcpmux: ". Lines name connectors, never
 * credentials: callers must not pass a token to these functions.
 * MCPMUX_DEBUG=1 in the environment enables log_debug().
 */
#ifndef MCPMUX_LOG_H
#define MCPMUX_LOG_H

void log_init(void);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Silences info and warnings (not errors): for commands whose stdout is the report. */
void log_quiet(int quiet);

#endif
