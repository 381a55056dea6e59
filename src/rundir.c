/* rundir.c - the approval sockets' directory; see include/rundir.h. */
#include "rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A directory of ours that nobody else can enter (see rundir.h). */
static int safe_dir(const struct stat *st)
{
	return S_ISDIR(st->st_mode) && st->st_uid == getuid() && !(st->st_mode & 077);
}

/* /run/user/$UID, as systemd-logind makes it, when it is ours alone. */
static int have_run_user(struct buf *path)
{
	struct stat st;

	buf_reset(path);
	buf_printf(path, "/run/user/%ld", (long)getuid());
	return lstat(path->data, &st) == 0 && safe_dir(&st);
}

/* Appends path to paths[0..*n) unless it is there already. */
static void add_candidate(struct buf paths[RUNDIR_MAX], size_t *n, const char *path)
{
	size_t k;

	for (k = 0; k < *n; k++)
		if (strcmp(paths[k].data, path) == 0)
			return;	/* XDG_RUNTIME_DIR is usually /run/user/$UID itself */
	buf_reset(&paths[*n]);
	buf_puts(&paths[*n], path);
	(*n)++;
}

size_t rundir_candidates(struct buf paths[RUNDIR_MAX])
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct buf p = BUF_INIT;
	size_t n = 0;

	if (xdg && xdg[0] == '/') {
		buf_printf(&p, "%s/mcpmux", xdg);
		add_candidate(paths, &n, p.data);
	}
	if (have_run_user(&p)) {
		buf_puts(&p, "/mcpmux");
		add_candidate(paths, &n, p.data);
	}
	buf_reset(&p);
	buf_printf(&p, "/tmp/mcpmux-%ld", (long)getuid());
	add_candidate(paths, &n, p.data);
	buf_free(&p);
	return n;
}

int rundir_check(const char *path, dev_t *dev, ino_t *ino, struct buf *err)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 1;
		buf_printf(err, "cannot use %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		buf_printf(err, "%s is not a directory (a symbolic link?): refusing to use it", path);
		return -1;
	}
	if (st.st_uid != getuid()) {
		buf_printf(err, "%s belongs to uid %ld, not to you: refusing to use it",
			   path, (long)st.st_uid);
		return -1;
	}
	if (st.st_mode & 077) {
		buf_printf(err, "%s is accessible by others (mode %03o): refusing to use it; "
			   "chmod 700 it", path, (unsigned)(st.st_mode & 0777));
		return -1;
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

int rundir_get(struct buf *dir, struct buf *err)
{
	struct buf paths[RUNDIR_MAX];
	dev_t dev;
	ino_t ino;
	size_t k;
	int r;

	for (k = 0; k < RUNDIR_MAX; k++)
		buf_init(&paths[k]);
	rundir_candidates(paths);
	buf_reset(dir);
	buf_add(dir, paths[0].data, paths[0].len);
	for (k = 0; k < RUNDIR_MAX; k++)
		buf_free(&paths[k]);
	if (mkdir(dir->data, 0700) != 0 && errno != EEXIST) {
		buf_printf(err, "cannot create %s: %s", dir->data, strerror(errno));
		return -1;
	}
	r = rundir_check(dir->data, &dev, &ino, err);
	if (r > 0)
		buf_printf(err, "cannot use %s: it went away", dir->data);
	return r ? -1 : 0;
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

long rundir_peer_pid(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0)
		return -1;
	return (long)cred.pid;
}

long rundir_stat_ppid(const char *text, size_t n)
{
	const char *p = NULL, *end = text + n;
	char *stop;
	size_t k;
	long ppid;

	/* COMM is whatever the process named itself: only the last ')' ends it. */
	for (k = n; k > 0; k--) {
		if (text[k - 1] == ')') {
			p = text + k;
			break;
		}
	}
	/* " S PPID": one space, one state letter, one space, the number. */
	if (!p || end - p < 4 || p[0] != ' ' || p[1] == ' ' || p[2] != ' ')
		return -1;
	p += 3;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	ppid = strtol(p, &stop, 10);
	if (errno || stop >= end || *stop != ' ' || ppid < 0)
		return -1;
	return ppid;
}

/* The parent of pid, or -1 when /proc/pid/stat cannot be read or parsed. */
static long proc_ppid(long pid)
{
	char path[64], text[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text));
	close(fd);
	/* A stat line is far shorter than this; a full buffer is not to be trusted. */
	if (n <= 0 || (size_t)n >= sizeof(text))
		return -1;
	return rundir_stat_ppid(text, (size_t)n);
}

/* Deeper than this is not a real process tree: a loop, or pids being reused under us. */
#define MAX_DEPTH 4096

int rundir_descends_from(long pid, long ancestor)
{
	int depth;

	for (depth = 0; depth < MAX_DEPTH; depth++) {
		if (pid == ancestor)
			return 1;
		if (pid <= 1)
			return 0;	/* init, or a process entered from outside our pid namespace */
		pid = proc_ppid(pid);
		if (pid < 0)
			return -1;
	}
	return -1;
}
