/* rundir.c - the approval sockets' directory; see include/rundir.h. */
#include "rundir.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

int rundir_get(struct buf *dir, struct buf *err)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	buf_reset(dir);
	if (xdg && xdg[0] == '/')
		buf_printf(dir, "%s/mcpmux", xdg);
	else
		buf_printf(dir, "/tmp/mcpmux-%ld", (long)getuid());
	if (mkdir(dir->data, 0700) != 0 && errno != EEXIST) {
		buf_printf(err, "cannot create %s: %s", dir->data, strerror(errno));
		return -1;
	}
	if (lstat(dir->data, &st) != 0) {
		buf_printf(err, "cannot use %s: %s", dir->data, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		buf_printf(err, "%s is not a directory (a symbolic link?): refusing to use it", dir->data);
		return -1;
	}
	if (st.st_uid != getuid()) {
		buf_printf(err, "%s belongs to uid %ld, not to you: refusing to use it",
			   dir->data, (long)st.st_uid);
		return -1;
	}
	if (st.st_mode & 077) {
		buf_printf(err, "%s is accessible by others (mode %03o): refusing to use it; "
			   "chmod 700 it", dir->data, (unsigned)(st.st_mode & 0777));
		return -1;
	}
	return 0;
}

int rundir_peer_ok(int fd, long *peer_uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	*peer_uid = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return -1;
	*peer_uid = (long)cred.uid;
	return cred.uid == getuid() ? 0 : -1;
}
