/*
 * fsutil.h - directories, made the one way mcpmux makes them.
 *
 * Every directory mcpmux creates (the local store's, the audit log's, the
 * config's, the approval sockets') is private: mode 0700. Directories that
 * already exist are left as they are (their mode is the owner's choice);
 * an existing parent that cannot be written to is no error as long as the
 * path below it exists. On failure the functions return -1 with errno set
 * and, when err is not NULL, "cannot create directory D: <why>" appended.
 */
#ifndef MCPMUX_FSUTIL_H
#define MCPMUX_FSUTIL_H

#include "buf.h"

/* mkdir -p dir */
int mkdir_p(const char *dir, struct buf *err);
/* mkdir -p of the directory that holds path ("a/b/c" makes "a/b") */
int mkdir_parent(const char *path, struct buf *err);

#endif
