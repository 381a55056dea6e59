/*
 * audit.h - one JSON line per tool call, appended to the audit file.
 *
 * Fields: time (RFC 3339, UTC, milliseconds), tool (exposed name), connector,
 * label, decision (auto | allowed | denied | timeout), decided_by (policy |
 * terminal | elicitation | tty), duration_ms, outcome (ok | error | denied |
 * timeout | cancelled), args_sha256 (hex SHA-256 of the arguments exactly as
 * the agent sent them; never the arguments themselves).
 *
 * The file is created 0600 (its directory 0700 when missing), opened with
 * O_APPEND so lines from earlier runs are kept, and each line goes out in one
 * write(). A struct audit is owned by `mcpmux serve`.
 */
#ifndef MCPMUX_AUDIT_H
#define MCPMUX_AUDIT_H

#include <stdint.h>

#include <sodium.h>

#include "buf.h"

struct audit;

struct audit_rec {
	const char *tool;		/* exposed name */
	const char *connector;		/* alias */
	const char *label;		/* "read" / "write" */
	const char *decision;		/* auto / allowed / denied / timeout */
	const char *decided_by;		/* policy / terminal / elicitation / tty */
	const char *outcome;		/* ok / error / denied / timeout / cancelled */
	int64_t duration_ms;
	unsigned char args_sha256[crypto_hash_sha256_BYTES];
};

/* NULL path: auditing is off (returns NULL, no error). Else NULL + err on failure. */
struct audit *audit_open(const char *path, struct buf *err);
void audit_write(struct audit *a, const struct audit_rec *r);	/* a may be NULL */
void audit_close(struct audit *a);

#endif
