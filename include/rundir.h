/*
 * rundir.h - the per-user runtime directory where approval sockets live:
 * $XDG_RUNTIME_DIR/mcpmux/, else /tmp/mcpmux-$UID/ (see docs/approval-protocol.md).
 */
#ifndef MCPMUX_RUNDIR_H
#define MCPMUX_RUNDIR_H

#include "buf.h"

/*
 * Writes the directory path into dir, creating it (0700) when missing.
 * Returns 0, or -1 with a message in err when it is unsafe: a symbolic link,
 * not a directory, another owner, or group/other permissions.
 */
int rundir_get(struct buf *dir, struct buf *err);

/* 0 when the connected UNIX socket's peer runs as our uid; sets *peer_uid. */
int rundir_peer_ok(int fd, long *peer_uid);

#endif
