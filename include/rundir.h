/*
 * rundir.h - the per-user runtime directory where approval sockets live
 * (see docs/approval-protocol.md), and who may use them.
 *
 * `mcpmux serve` listens in the first of these that applies:
 *   1. $XDG_RUNTIME_DIR/mcpmux/      when XDG_RUNTIME_DIR is set (absolute);
 *   2. /run/user/$UID/mcpmux/        when /run/user/$UID is a directory of ours
 *                                    that nobody else can enter;
 *   3. /tmp/mcpmux-$UID/.
 * An agent may start serve with a trimmed environment (the MCP SDK's stdio
 * transport passes no XDG_RUNTIME_DIR), so `mcpmux approve` watches every
 * candidate that exists and is safe, not only the one its own environment
 * picks.
 *
 * A directory is safe when it is a real directory (not a symbolic link),
 * owned by our uid, with no group or other permissions.
 */
#ifndef MCPMUX_RUNDIR_H
#define MCPMUX_RUNDIR_H

#include <sys/types.h>

#include "buf.h"

/* How many candidate directories there can be. */
#define RUNDIR_MAX 3

/*
 * Writes the directory serve listens in (the first candidate) into dir,
 * creating it (0700) when missing. Returns 0, or -1 with a message in err
 * when it is unsafe: a symbolic link, not a directory, another owner, or
 * group/other permissions.
 */
int rundir_get(struct buf *dir, struct buf *err);

/*
 * The candidate paths in order, without duplicates: fills paths[0..n) (each
 * initialised by the caller, reset here) and returns n (1 to RUNDIR_MAX).
 * paths[0] is what rundir_get() uses.
 */
size_t rundir_candidates(struct buf paths[RUNDIR_MAX]);

/*
 * Checks path without creating it: 0 when it is safe (then *dev, *ino name
 * it, so that two spellings of one directory can be told apart), 1 when it
 * does not exist, -1 with a message in err when it is unsafe.
 */
int rundir_check(const char *path, dev_t *dev, ino_t *ino, struct buf *err);

/* 0 when the connected UNIX socket's peer runs as our uid; sets *peer_uid. */
int rundir_peer_ok(int fd, long *peer_uid);

/* --- who is the agent's --- */

/* The pid of the connected UNIX socket's peer (SO_PEERCRED), or -1. */
long rundir_peer_pid(int fd);

/*
 * Whether process pid is `ancestor` or runs under it, from the parent chain
 * in /proc/PID/stat: 1 when it is, 0 when the chain ends (at pid 1 or 0)
 * without meeting it, -1 when a link of the chain cannot be read (the
 * process is gone, or /proc is not there): callers refuse then (fail closed).
 */
int rundir_descends_from(long pid, long ancestor);

/*
 * The parent pid in the text of a /proc/PID/stat file ("PID (COMM) STATE
 * PPID ..."; COMM may hold spaces and ')' itself), or -1 when it does not
 * parse. Exposed for the unit tests.
 */
long rundir_stat_ppid(const char *text, size_t n);

#endif
