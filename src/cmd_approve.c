/*
 * cmd_approve.c - `mcpmux approve`: the terminal approver.
 *
 * Attaches to every `mcpmux serve` broker of this user (serve-*.sock in
 * every socket directory a serve may have picked, include/rundir.h,
 * rescanned every second), shows the pending calls of all
 * of them in arrival order and sends the human's decisions back; the
 * messages are include/approve_proto.h, the rest docs/approval-protocol.md.
 * One thread on the event loop (include/loop.h): the terminal, the brokers
 * and the signals are its events; the rescans, the countdowns and the
 * notices its timers. Each callback leaves the screen to settle(), deferred
 * to the start of the next turn: it drops the brokers that went away and
 * draws once for everything that turn brought. Nothing blocks but the
 * terminal writes. The queue, pretty-printer and layout are in approve_ui.c.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "approve_proto.h"
#include "approve_ui.h"
#include "cmd.h"
#include "lines.h"
#include "list.h"
#include "loop.h"
#include "rundir.h"
#include "xalloc.h"

#define READ_CHUNK 65536
#define READS_PER_TURN 64		/* then the terminal gets a turn */
#define SCAN_MS 1000			/* the protocol asks for at least every second */
#define NOTICE_MS 10000			/* how long a notice stays on screen */

struct app;

/* One broker: an attached `mcpmux serve`, or a socket we refused to use. */
struct conn {
	struct conn *prev, *next;	/* in the order they were attached */
	struct app *app;
	char *name;		/* "serve-<pid>.sock" */
	char *path;		/* in its socket directory: what identifies it */
	dev_t dev;		/* the socket file we connected to: a new file */
	ino_t ino;		/* under the same name is a new serve */
	int fd;			/* -1 when refused (another uid), until the file changes */
	int dead;		/* read EOF or an error: dropped at the end of the turn */
	int seen;		/* found by the scan in progress */
	struct lines in;	/* framing of what the broker sends */
	struct buf out;		/* decisions not yet written */
	int watch_out;		/* POLLOUT is watched: out is not empty */
	long pid;		/* from hello, else from the name */
	char *agent;		/* from hello; NULL before it */
};

/* The approver. */
struct app {
	struct loop *loop;
	struct buf dir;			/* the directory a serve started here would use */
	struct buf watch[RUNDIR_MAX];	/* the directories the last scan looked in */
	size_t nwatch;
	struct conn *conns, *conns_tail;	/* in the order they were attached */
	struct approve_queue q;		/* pending calls of every broker */
	struct approve_history hist;	/* the last decisions made here */
	struct json j;			/* parse of the current line */
	struct termios saved;		/* the terminal as we found it */
	int raw;			/* the terminal is in raw mode */
	int color;			/* ANSI colours on stdout */
	size_t width, height;		/* the terminal's size */
	int dirty;			/* the screen needs drawing */
	int clear;			/* ... from a cleared screen */
	struct buf notice;		/* a one-line message, empty for none */
	struct loop_timer *notice_timer;	/* when it goes away */
	struct buf full;		/* the `v` view of the head's arguments */
	int viewing;			/* `full` is on screen */
	const struct conn *full_conn;	/* whose call `full` shows */
	char *full_id;			/* its id */
	size_t scroll;			/* first row of `full` shown */
	struct loop_timer *scan_timer;	/* the next look for new sockets */
	struct loop_timer *tick_timer;	/* when a countdown on screen changes or a call expires */
	struct loop_defer *settle;	/* settle() is due at the start of the next turn */
	size_t nexited;			/* attached serves that went away */
	long last_exited;		/* the pid of the last of them */
	int quit;			/* set when done */
	int status;			/* the exit status then */
};

static void settle(void *arg);

/* Every callback ends here: the screen settles at the start of the next turn. */
static void settle_soon(struct app *a)
{
	if (!a->settle)
		a->settle = loop_defer(a->loop, settle, a);
}

static void on_notice_timer(void *arg)
{
	struct app *a = arg;

	a->notice_timer = NULL;
	buf_reset(&a->notice);
	a->dirty = 1;
	settle_soon(a);
}

static void notice(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void notice(struct app *a, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&a->notice);
	va_start(ap, fmt);
	buf_vprintf(&a->notice, fmt, ap);
	va_end(ap);
	loop_timer_cancel(a->loop, a->notice_timer);
	a->notice_timer = loop_timer_add(a->loop, NOTICE_MS, on_notice_timer, a);
	a->dirty = 1;
}

/* --- the terminal --- */

/* Writes everything, retrying short writes; the terminal is the one blocking fd. */
static void term_write(struct app *a, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			/* The terminal is gone (EIO after a hangup): nobody to ask. */
			a->quit = 1;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

static void term_size(struct app *a)
{
	struct winsize ws;

	a->width = 80;
	a->height = 24;
	if ((ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 ||
	     ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) && ws.ws_col > 0 && ws.ws_row > 0) {
		a->width = ws.ws_col;
		a->height = ws.ws_row;
	}
}

/* No echo, no line editing, no signals from keys (Ctrl-C arrives as 0x03). */
static int term_raw(struct app *a)
{
	struct termios t = a->saved;

	t.c_lflag &= ~(tcflag_t)(ECHO | ICANON | ISIG | IEXTEN);
	t.c_iflag &= ~(tcflag_t)(IXON | ICRNL | INLCR | IGNCR | ISTRIP | BRKINT);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) != 0)
		return -1;
	a->raw = 1;
	term_write(a, "\033[?25l", 6);	/* hide the cursor */
	a->dirty = a->clear = 1;
	return 0;
}

static void term_restore(struct app *a)
{
	static const char reset[] = "\033[m\033[H\033[2J\033[?25h";

	if (!a->raw)
		return;
	term_write(a, reset, sizeof(reset) - 1);
	tcsetattr(STDIN_FILENO, TCSANOW, &a->saved);
	a->raw = 0;
}

static const char *style_sgr(int style)
{
	switch (style) {
	case APPROVE_TITLE:
	case APPROVE_STRONG:
		return "\033[1m";
	case APPROVE_DIM:
		return "\033[2m";
	case APPROVE_GOOD:
		return "\033[32m";
	case APPROVE_BAD:
		return "\033[31m";
	case APPROVE_WARN:
		return "\033[33m";
	case APPROVE_KEYS:
		return "\033[36m";
	default:
		return NULL;
	}
}

/*
 * Puts the rows on the terminal from the top. Each row is erased before it is
 * written, not after: erasing after a row that fills the width would erase
 * its last column.
 */
static void paint(struct app *a, const struct approve_screen *s)
{
	struct buf out = BUF_INIT;
	const char *p = buf_str(&s->text), *nl, *sgr;
	size_t k;

	buf_puts(&out, a->clear ? "\033[H\033[2J" : "\033[H");
	for (k = 0; k < s->rows; k++, p = nl + 1) {
		nl = strchr(p, '\n');
		sgr = a->color ? style_sgr((unsigned char)s->style.data[k]) : NULL;
		buf_puts(&out, k ? "\r\n\033[K" : "\033[K");
		if (sgr)
			buf_puts(&out, sgr);
		buf_add(&out, p, (size_t)(nl - p));
		if (sgr)
			buf_puts(&out, "\033[m");
	}
	if (s->rows < s->height)
		buf_puts(&out, "\r\n\033[J");
	term_write(a, out.data, out.len);
	buf_free(&out);
	a->clear = 0;
}

/* "pid 4242  claude-ai 0.9.1" for each attached serve; the caller frees. */
static char **server_lines(const struct app *a, size_t *n)
{
	const struct conn *c;
	char **v;
	struct buf b = BUF_INIT;
	size_t k = 0;

	for (c = a->conns; c; c = c->next)
		k += c->fd >= 0;
	v = xcalloc(k + 1, sizeof(*v));
	for (c = a->conns, k = 0; c; c = c->next) {
		if (c->fd < 0)
			continue;
		buf_printf(&b, "pid %ld  %s", c->pid,
			   c->agent ? c->agent : "(waiting for its hello)");
		v[k++] = buf_detach(&b, NULL);
	}
	*n = k;
	return v;
}

static void draw(struct app *a)
{
	struct approve_screen s;
	struct approve_view v = { 0 };
	size_t n, k;
	char **servers = server_lines(a, &n);
	const char *dirs[RUNDIR_MAX];

	v.q = &a->q;
	v.hist = &a->hist;
	for (k = 0; k < a->nwatch; k++)
		dirs[k] = a->watch[k].data;
	v.dirs = dirs;
	v.ndirs = a->nwatch;
	v.servers = (const char *const *)servers;
	v.nservers = n;
	v.nexited = a->nexited;
	v.last_exited = a->last_exited;
	v.notice = a->notice.len ? a->notice.data : NULL;
	v.now = loop_now();
	v.full = a->viewing ? buf_str(&a->full) : NULL;
	v.scroll = a->scroll;
	approve_screen_init(&s, a->width, a->height);
	approve_render(&s, &v);
	a->scroll = v.scroll;
	paint(a, &s);
	approve_screen_free(&s);
	for (k = 0; k < n; k++)
		free(servers[k]);
	free(servers);
	a->dirty = 0;
}

/* --- the `v` view --- */

static void view_close(struct app *a)
{
	if (!a->viewing)
		return;
	a->viewing = 0;
	buf_free(&a->full);
	free(a->full_id);
	a->full_id = NULL;
	a->full_conn = NULL;
	a->dirty = 1;
}

static void view_open(struct app *a)
{
	const struct approve_req *r = a->q.head;
	size_t total;
	int cut;

	if (!r)
		return;
	buf_reset(&a->full);
	if (json_parse(&a->j, r->args, r->args_len) == 0)
		approve_pretty(&a->full, &a->j, 0, 0, 0, &total, &cut);
	else
		buf_add(&a->full, r->args, r->args_len);	/* not expected: it was valid */
	a->viewing = 1;
	a->full_conn = r->conn;
	a->full_id = xstrdup(r->id);
	a->scroll = 0;
	a->dirty = 1;
}

/* After the queue changed: the view only ever shows the head call. */
static void view_check(struct app *a)
{
	const struct approve_req *r = a->q.head;

	if (a->viewing && (!r || r->conn != a->full_conn || strcmp(r->id, a->full_id)))
		view_close(a);
}

/* --- brokers --- */

/* Writes what it can; the rest goes when the socket is writable (POLLOUT). */
static void conn_flush(struct conn *c)
{
	if (!c->dead && approve_flush(c->app->loop, c->fd, &c->out, &c->watch_out) != 0)
		c->dead = 1;
}

static void on_hello(struct conn *c, const struct json *j)
{
	struct buf b = BUF_INIT;
	long long pid;

	if (json_int(j, approve_field(j, APPROVE_F_PID), &pid) == 0 && pid > 0)
		c->pid = (long)pid;
	if (json_string(j, approve_field(j, APPROVE_F_AGENT), &b) == 0) {
		buf_add(&b, "", 0);	/* json_string() of "" leaves no NUL */
		free(c->agent);
		c->agent = buf_detach(&b, NULL);
	} else if (!c->agent) {
		c->agent = xstrdup("unknown agent");
	}
	buf_free(&b);
}

/* Decided elsewhere, timed out or cancelled: off the screen. */
static void on_withdrawn(struct app *a, struct conn *c, const struct json *j)
{
	struct buf id = BUF_INIT;

	if (json_string(j, approve_field(j, APPROVE_F_ID), &id) == 0) {
		buf_add(&id, "", 0);	/* json_string() of "" leaves no NUL */
		if (approve_queue_remove(&a->q, c, id.data)) {
			view_check(a);
			a->dirty = 1;
		}
	}
	buf_free(&id);
}

/* One message from a broker. Anything malformed or unknown is ignored. */
static void on_line(struct app *a, struct conn *c, const char *line, size_t n)
{
	struct json *j = &a->j;
	struct approve_req *r;

	switch (approve_msg_parse(j, line, n)) {
	case APPROVE_MSG_HELLO:
		on_hello(c, j);
		a->dirty = 1;
		break;
	case APPROVE_MSG_REQUEST:
		r = approve_req_new(j, c, c->agent, loop_now());
		if (r) {
			approve_queue_add(&a->q, r);
			a->dirty = 1;
		}
		break;
	case APPROVE_MSG_WITHDRAWN:
		on_withdrawn(a, c, j);
		break;
	default:
		break;
	}
}

/* The broker a line came from, for conn_line(). */
struct line_ctx {
	struct app *a;
	struct conn *c;
};

/* lines_take() callback: a line past the protocol's limit is lost, the next ones are not. */
static int conn_line(void *arg, char *line, size_t n, int too_long)
{
	struct line_ctx *x = arg;

	if (!too_long)
		on_line(x->a, x->c, line, n);
	return 0;
}

static void on_conn_io(int fd, short revents, void *arg)
{
	struct conn *c = arg;
	struct line_ctx x = { c->app, c };

	if (revents & POLLOUT)
		conn_flush(c);
	/* conn_line() never stops: it is all read, or the serve exited or broke it. */
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && !c->dead &&
	    approve_read(fd, &c->in, READ_CHUNK, READS_PER_TURN, conn_line, &x) < 0)
		c->dead = 1;
	settle_soon(c->app);
}

static void conn_free(struct conn *c)
{
	if (c->fd >= 0) {
		loop_io_del(c->app->loop, c->fd);
		close(c->fd);
	}
	free(c->name);
	free(c->path);
	free(c->agent);
	lines_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static struct conn *conn_add(struct app *a, const char *name, const char *path,
			     const struct stat *st, int fd)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->app = a;
	c->name = xstrdup(name);
	c->path = xstrdup(path);
	lines_init(&c->in, APPROVE_MAX_LINE);
	c->dev = st->st_dev;
	c->ino = st->st_ino;
	c->fd = fd;
	c->seen = 1;	/* by the scan in progress, which must not forget it at its end */
	c->pid = strtol(name + strlen("serve-"), NULL, 10);
	DLIST_APPEND(a->conns, a->conns_tail, c);
	if (fd >= 0)
		loop_io_add(a->loop, fd, POLLIN, on_conn_io, c);
	return c;
}

/* Drops the brokers that went away, with their calls. */
static void sweep(struct app *a)
{
	struct conn *c, *next;

	for (c = a->conns; c; c = next) {
		next = c->next;
		if (!c->dead)
			continue;
		DLIST_UNLINK_QUEUE(a->conns, a->conns_tail, c);
		if (c->fd >= 0) {
			a->nexited++;
			a->last_exited = c->pid;
		}
		approve_queue_drop_conn(&a->q, c);
		if (a->full_conn == c)
			view_close(a);
		conn_free(c);
		view_check(a);
		a->dirty = 1;
	}
}

/* --- finding brokers --- */

/*
 * A socket nobody listens on. It is stale when its serve is gone; a live pid
 * may be a serve between bind() and listen(), so its socket is left alone.
 */
static void remove_stale(struct app *a, const char *name, const char *path,
			 const struct stat *st)
{
	char *end;
	long pid = strtol(name + strlen("serve-"), &end, 10);
	struct stat now;

	if (pid > 0 && !strcmp(end, ".sock") && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
		return;
	/* Only the very file we tried, still a socket in the checked directory. */
	if (lstat(path, &now) != 0 || !S_ISSOCK(now.st_mode) || now.st_ino != st->st_ino ||
	    now.st_dev != st->st_dev)
		return;
	if (unlink(path) == 0)
		notice(a, "removed a stale socket: %s", name);
}

static void attach(struct app *a, const char *name, const char *path, const struct stat *st)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	long uid;
	int fd, e;

	if (len >= sizeof(sa.sun_path)) {
		notice(a, "cannot attach to %s: its path is too long for a socket", path);
		return;
	}
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = errno;
		close(fd);
		if (e == ECONNREFUSED)
			remove_stale(a, name, path, st);
		else if (e != EAGAIN && e != ENOENT && e != EINPROGRESS && e != EINTR)
			notice(a, "cannot attach to %s: %s", path, strerror(e));
		return;	/* the next scan tries again */
	}
	if (rundir_peer_ok(fd, &uid) != 0) {
		close(fd);
		conn_add(a, name, path, st, -1);
		notice(a, "refused %s: it runs as uid %ld, not as you", path, uid);
		return;
	}
	conn_add(a, name, path, st, fd);
	a->dirty = 1;
}

/* A name the scan found in dir: attach unless it is the socket we have (or refused). */
static void scan_entry(struct app *a, const char *dir, const char *name)
{
	struct buf path = BUF_INIT;
	struct conn *c;
	struct stat st;

	buf_printf(&path, "%s/%s", dir, name);
	if (lstat(path.data, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		buf_free(&path);
		return;
	}
	for (c = a->conns; c; c = c->next) {
		if (strcmp(c->path, path.data) || c->dead)
			continue;
		c->seen = 1;
		if (c->fd >= 0 || (c->dev == st.st_dev && c->ino == st.st_ino)) {
			buf_free(&path);
			return;
		}
		c->dead = 1;	/* a refused socket was replaced: try the new one */
	}
	attach(a, name, path.data, &st);
	buf_free(&path);
}

static void scan_dir(struct app *a, const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d) {
		notice(a, "cannot read %s: %s", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)))
		if (!fnmatch("serve-*.sock", e->d_name, FNM_PERIOD))
			scan_entry(a, dir, e->d_name);
	closedir(d);
}

/*
 * Every directory a serve may listen in (rundir.h), each checked again every
 * time, since one could have been replaced; one that does not exist (yet) is
 * skipped, an unsafe one is reported and left alone.
 */
static void scan(struct app *a)
{
	struct buf err = BUF_INIT, cand[RUNDIR_MAX];
	dev_t dev[RUNDIR_MAX];
	ino_t ino[RUNDIR_MAX];
	size_t n, k, w;
	struct conn *c;
	int r;

	for (k = 0; k < RUNDIR_MAX; k++)
		buf_init(&cand[k]);
	/* The one a serve started in this environment uses is created, as serve does. */
	if (rundir_get(&a->dir, &err) != 0)
		notice(a, "%s", buf_str(&err));
	n = rundir_candidates(cand);
	for (c = a->conns; c; c = c->next)
		c->seen = 0;
	a->nwatch = 0;
	for (k = 0; k < n; k++) {
		buf_reset(&err);
		r = rundir_check(cand[k].data, &dev[a->nwatch], &ino[a->nwatch], &err);
		if (r < 0 && k > 0)
			notice(a, "%s", buf_str(&err));
		if (r != 0)
			continue;
		for (w = 0; w < a->nwatch; w++)
			if (dev[w] == dev[a->nwatch] && ino[w] == ino[a->nwatch])
				break;
		if (w < a->nwatch)
			continue;	/* the same directory under another name */
		buf_reset(&a->watch[a->nwatch]);
		buf_add(&a->watch[a->nwatch], cand[k].data, cand[k].len);
		scan_dir(a, a->watch[a->nwatch++].data);
	}
	for (k = 0; k < RUNDIR_MAX; k++)
		buf_free(&cand[k]);
	buf_free(&err);
	/* A refused socket whose file is gone is forgotten. */
	for (c = a->conns; c; c = c->next)
		if (c->fd < 0 && !c->seen)
			c->dead = 1;
	sweep(a);
}

/* --- keys --- */

static struct conn *conn_of(struct app *a, const struct approve_req *r)
{
	struct conn *c;

	for (c = a->conns; c; c = c->next)
		if (c == r->conn)
			return c;
	return NULL;
}

/* y / a / n on the call shown (the keys of approve_proto.h). */
static void decide(struct app *a, char key)
{
	struct approve_req *r = a->q.head;
	struct conn *c;
	char *id;

	if (!r || !(c = conn_of(a, r)) || c->dead)
		return;
	approve_put_decision(&c->out, r->id, key);
	conn_flush(c);
	if (key == 'y')
		approve_history_add(&a->hist, 1, "allowed once: %s", r->tool);
	else if (key == 'a')
		approve_history_add(&a->hist, 1, "allowed until its serve exits: %s", r->tool);
	else
		approve_history_add(&a->hist, 0, "denied: %s", r->tool);
	/* Gone from here now; the broker's withdrawn for it finds nothing. */
	id = xstrdup(r->id);
	approve_queue_remove(&a->q, c, id);
	free(id);
	view_check(a);
	a->dirty = 1;
}

static void scroll_by(struct app *a, long rows)
{
	if (rows < 0 && (size_t)-rows > a->scroll)
		a->scroll = 0;
	else
		a->scroll += (size_t)rows;	/* approve_render() clamps the far end */
	a->dirty = 1;
}

/* Keys of the `v` view; returns 0 when the key is not one of them. */
static int view_key(struct app *a, int key)
{
	long page = a->height > 3 ? (long)a->height - 3 : 1;

	switch (key) {
	case 'j':
	case 'B' | 0x100:	/* down */
	case '\r':
		scroll_by(a, 1);
		break;
	case 'k':
	case 'A' | 0x100:	/* up */
		scroll_by(a, -1);
		break;
	case ' ':
	case 'f':
	case '6' | 0x100:	/* Page Down */
		scroll_by(a, page);
		break;
	case 'b':
	case '5' | 0x100:	/* Page Up */
		scroll_by(a, -page);
		break;
	case 'g':
	case 'H' | 0x100:	/* Home */
		scroll_by(a, -(1L << 30));
		break;
	case 'G':
	case 'F' | 0x100:	/* End; approve_render() stops at the last page */
		scroll_by(a, 1L << 30);
		break;
	case 'v':
	case 'V':
	case 'q':	/* back, not out: q quits from the normal screen only */
	case 'Q':
	case 0x1b:
		view_close(a);
		break;
	default:
		return 0;
	}
	return 1;
}

/* One key: a byte, or an escape sequence's final byte | 0x100. */
static void on_key(struct app *a, int key)
{
	if (a->viewing && view_key(a, key))
		return;
	switch (key < 0x100 ? tolower(key) : key) {
	case 'y':
	case 'a':
	case 'n':
		decide(a, (char)tolower(key));
		break;
	case 'v':
		view_open(a);
		break;
	case 'q':
	case 0x03:	/* Ctrl-C: ISIG is off, so it arrives as a key */
		a->quit = 1;
		break;
	case 0x0c:	/* Ctrl-L */
		a->dirty = a->clear = 1;
		break;
	default:
		break;
	}
}

/*
 * Splits what the terminal sent into keys. An escape sequence (ESC [ ... X
 * or ESC O X) becomes X | 0x100 ("5" or "6" for Page Up/Down); a lone ESC stays 0x1b.
 */
static void on_input(struct app *a, const unsigned char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n && !a->quit) {
		if (s[i] != 0x1b || i + 1 >= n || (s[i + 1] != '[' && s[i + 1] != 'O')) {
			on_key(a, s[i++]);
			continue;
		}
		for (k = i + 2; k < n && (s[k] < 0x40 || s[k] > 0x7e); k++)
			;
		if (k >= n)
			break;	/* cut short: drop it */
		on_key(a, (s[k] == '~' && k > i + 2 ? s[k - 1] : s[k]) | 0x100);
		i = k + 1;
	}
}

static void on_stdin(int fd, short revents, void *arg)
{
	struct app *a = arg;
	unsigned char keys[256];
	ssize_t r;

	(void)revents;
	if (a->quit)
		return;		/* a signal in the same turn said to go */
	r = read(fd, keys, sizeof(keys));
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0)
		a->quit = 1;	/* the terminal went away */
	else
		on_input(a, keys, (size_t)r);
	settle_soon(a);
}

static void on_signal(int sig, void *arg)
{
	struct app *a = arg;

	if (sig == SIGWINCH) {
		term_size(a);
		a->dirty = a->clear = 1;
	} else if (sig == SIGCONT) {
		/* Whoever stopped us may have reset the terminal. */
		if (a->raw)
			term_raw(a);
	} else {
		a->quit = 1;
		a->status = 128 + sig;
	}
	settle_soon(a);
}

/* The signals that reach us as events; SIGPIPE is ignored (a broker that went away). */
static const int app_signals[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGWINCH, SIGCONT };

static int setup_signals(struct app *a)
{
	struct sigaction sa;
	size_t k;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	for (k = 0; k < sizeof(app_signals) / sizeof(app_signals[0]); k++)
		if (loop_signal_add(a->loop, app_signals[k], on_signal, a) != 0)
			return -1;
	return 0;
}

static void close_signals(struct app *a)
{
	size_t k;

	for (k = 0; k < sizeof(app_signals) / sizeof(app_signals[0]); k++)
		loop_signal_del(a->loop, app_signals[k]);
}

/* --- time --- */

static void on_scan_timer(void *arg);

/* Looks for new sockets now, and again SCAN_MS from now. */
static void scan_now(struct app *a)
{
	a->scan_timer = loop_timer_add(a->loop, SCAN_MS, on_scan_timer, a);
	scan(a);
	settle_soon(a);
}

static void on_scan_timer(void *arg)
{
	struct app *a = arg;

	a->scan_timer = NULL;
	if (!a->quit)
		scan_now(a);
}

/* A countdown on screen moved on, or a call is past its deadline and grace. */
static void on_tick(void *arg)
{
	struct app *a = arg;

	a->tick_timer = NULL;
	if (a->quit)
		return;
	if (approve_queue_expire(&a->q, loop_now()))
		view_check(a);
	a->dirty = 1;
	settle_soon(a);
}

/*
 * After every turn that brought something: the brokers that went away go,
 * the screen is drawn once, and the countdown's timer is set again for the
 * queue as it is now. Or the loop stops, once something said to quit.
 */
static void settle(void *arg)
{
	struct app *a = arg;
	long long tick;

	a->settle = NULL;
	if (!a->quit) {
		sweep(a);
		if (a->dirty)
			draw(a);
	}
	if (a->quit) {
		loop_stop(a->loop);
		return;
	}
	loop_timer_cancel(a->loop, a->tick_timer);
	tick = approve_queue_next_tick(&a->q, loop_now());
	a->tick_timer = tick >= 0 ? loop_timer_add(a->loop, tick, on_tick, a) : NULL;
}

static void run(struct app *a)
{
	loop_io_add(a->loop, STDIN_FILENO, POLLIN, on_stdin, a);
	scan_now(a);
	loop_run(a->loop);
	loop_io_del(a->loop, STDIN_FILENO);
}

static void app_free(struct app *a)
{
	struct conn *c, *next;
	size_t k;

	for (c = a->conns; c; c = next) {
		next = c->next;
		conn_free(c);
	}
	approve_queue_free(&a->q);
	approve_history_free(&a->hist);
	json_free(&a->j);
	buf_free(&a->dir);
	for (k = 0; k < RUNDIR_MAX; k++)
		buf_free(&a->watch[k]);
	buf_free(&a->notice);
	buf_free(&a->full);
	free(a->full_id);
	loop_timer_cancel(a->loop, a->notice_timer);
	loop_timer_cancel(a->loop, a->scan_timer);
	loop_timer_cancel(a->loop, a->tick_timer);
	loop_defer_cancel(a->loop, a->settle);
	loop_free(a->loop);
}

static int approve_exec(int argc, char **argv)
{
	struct cmd_opts o;
	struct app a = { 0 };
	struct buf err = BUF_INIT;
	const char *no_color = getenv("NO_COLOR");
	size_t pending;
	int rc;

	if ((rc = cmd_options(&cmd_approve, argc, argv, "h", &o)) >= 0)
		return rc;
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &a.saved) != 0) {
		fprintf(stderr, "mcpmux approve needs a terminal: run it in a terminal window\n");
		return 1;
	}
	if (rundir_get(&a.dir, &err) != 0) {
		fprintf(stderr, "mcpmux approve: %s\n", buf_str(&err));
		buf_free(&err);
		buf_free(&a.dir);
		return 1;
	}
	buf_free(&err);
	a.loop = loop_new();
	if (!a.loop) {
		fprintf(stderr, "mcpmux approve: cannot create the event loop\n");
		buf_free(&a.dir);
		return 1;
	}
	if (setup_signals(&a) != 0) {
		fprintf(stderr, "mcpmux approve: cannot create a pipe: %s\n", strerror(errno));
		loop_free(a.loop);
		buf_free(&a.dir);
		return 1;
	}
	approve_queue_init(&a.q);
	json_init(&a.j);
	a.color = isatty(STDOUT_FILENO) && !no_color;
	term_size(&a);
	if (term_raw(&a) != 0) {
		fprintf(stderr, "mcpmux approve: cannot set up the terminal: %s\n",
			strerror(errno));
		a.status = 1;
	} else {
		run(&a);
	}
	term_restore(&a);
	close_signals(&a);
	pending = a.q.n;
	if (pending)
		printf("mcpmux approve: %zu call%s left pending for another terminal or the "
		       "timeout\n", pending, pending == 1 ? "" : "s");
	app_free(&a);
	return a.status;
}

const struct cmd cmd_approve = {
	"approve", "approve",
	"Approve or deny the tool calls that wait for a human (a terminal UI).",
	"Attaches to every running `mcpmux serve` of this user (and to ones that start\n"
	"later) through their sockets, and shows each call that needs approval: agent,\n"
	"connector, tool, label, arguments and the time left. Several calls queue in\n"
	"the order they were asked.\n"
	"\n"
	"A serve listens in $XDG_RUNTIME_DIR/mcpmux/ when XDG_RUNTIME_DIR is set, else\n"
	"in /run/user/$UID/mcpmux/ when /run/user/$UID is yours, else in\n"
	"/tmp/mcpmux-$UID/. Agents often start serve without XDG_RUNTIME_DIR, so\n"
	"approve looks in each of those that exists and is safe (a directory of\n"
	"yours, mode 0700); the screen says which.\n"
	"\n"
	"keys:\n"
	"  y  allow this call once\n"
	"  a  allow this tool until that `mcpmux serve` exits\n"
	"  n  deny\n"
	"  v  view all the arguments (j/k, space/b scroll; v, q or Esc back)\n"
	"  q  quit (also Ctrl-C); pending calls stay pending for another terminal\n"
	"     or the timeout\n"
	"\n"
	"Colours are off when NO_COLOR is set or stdout is not a terminal.\n",
	approve_exec,
};
