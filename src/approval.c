/* approval.c - the approval broker inside `mcpmux serve`; see include/approval.h
   and docs/approval-protocol.md. */
#include "xalloc.h"
#include "approval.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "approve_proto.h"
#include "approve_ui.h"
#include "json.h"
#include "lines.h"
#include "list.h"
#include "log.h"
#include "rundir.h"

#define TERM_MAX_OUT	(64u << 20)	/* queued for one terminal, then messages are lost */
#define TERM_READ	16384		/* bytes read per event */

/* An attached `mcpmux approve`. */
struct term {
	struct approval *a;
	struct term *next;
	int fd;
	struct lines in;	/* framing of what it sends */
	struct buf out;		/* queued messages */
	int watch_out;		/* POLLOUT is being watched */
};

struct approval_req {
	struct approval *a;
	struct approval_req *prev, *next; /* oldest first */
	char id[24];		/* unique in this process */
	char *connector, *tool, *upstream_tool, *label;
	char *args;		/* raw JSON, one line */
	size_t args_len;
	int64_t created;	/* loop_now() when asked */
	struct loop_timer *timer; /* the deadline */
	struct loop_defer *now;	/* an answer known at once, given on the next turn */
	enum approval_result now_result; /* what it is */
	const char *now_by;
	void *elicit;		/* elicitation in flight, or NULL */
	approval_cb cb;
	void *arg;
};

/* A tool a human allowed until exit, and through which channel. */
struct always {
	char *tool;		/* exposed name */
	const char *by;		/* "terminal" or "tty": the later calls are audited as decided there */
};

struct approval {
	struct loop *loop;		/* not owned */
	const struct config *cfg;	/* not owned */
	struct approval_elicit_ops ops;
	char *agent;			/* the client's name and version */
	long agent_pid;			/* who started serve: its process tree may not approve */
	int lfd;			/* listening socket, -1 when none */
	char *sock_path;		/* its path, removed on free */
	struct term *terms;
	struct approval_req *head, *tail;
	unsigned long next_id;
	struct always *always;		/* tools allowed until exit ("a") */
	size_t nalways;
	int tty_fd;			/* /dev/tty for approvals = tty, or -1 */
	struct approval_req *tty_req;	/* the request the tty prompt is about */
};


/* --- messages to terminals --- */

static void term_flush(struct term *t);

static void on_term_readable(int fd, short revents, void *arg);

static void term_send(struct term *t, const struct buf *msg)
{
	if (t->out.len + msg->len > TERM_MAX_OUT)
		return;	/* a terminal that stopped reading loses messages, not us */
	buf_add(&t->out, msg->data, msg->len);
	term_flush(t);
}

static void broadcast(struct approval *a, const struct buf *msg)
{
	struct term *t;

	for (t = a->terms; t; t = t->next)
		term_send(t, msg);
}

static void request_msg(struct approval_req *r, struct buf *m)
{
	struct approval *a = r->a;
	int64_t left = r->created + a->cfg->approval_timeout_ms - loop_now();
	struct approve_request_msg msg = {
		r->id, a->agent ? a->agent : "unknown agent", r->connector, r->tool,
		r->upstream_tool, r->label, r->args, r->args_len, a->cfg->approval_timeout_ms,
		(long long)(left > 0 ? left : 0),
	};

	approve_put_request(m, &msg);
}

static void withdraw(struct approval_req *r, enum approve_reason reason)
{
	struct buf m = BUF_INIT;

	approve_put_withdrawn(&m, r->id, reason);
	broadcast(r->a, &m);
	buf_free(&m);
}

/* --- requests --- */

static void tty_next(struct approval *a);

static void req_unlink_free(struct approval_req *r)
{
	struct approval *a = r->a;

	DLIST_UNLINK_QUEUE(a->head, a->tail, r);
	loop_timer_cancel(a->loop, r->timer);
	loop_defer_cancel(a->loop, r->now);
	if (r->elicit && a->ops.cancel)
		a->ops.cancel(a->ops.arg, r->elicit);
	if (a->tty_req == r) {
		a->tty_req = NULL;
		tty_next(a);
	}
	free(r->connector);
	free(r->tool);
	free(r->upstream_tool);
	free(r->label);
	free(r->args);
	free(r);
}

static void result_text(struct approval_req *r, enum approval_result res, const char *by,
			struct buf *t)
{
	const struct config *cfg = r->a->cfg;

	switch (res) {
	case APPROVAL_ALLOWED:
		break;
	case APPROVAL_DENIED:
		if (!strcmp(by, "elicitation"))
			buf_printf(t, "The user declined this call to %s; it was not run. "
				   "Do not retry it unless the user asks.", r->tool);
		else
			buf_printf(t, "The user denied this call to %s in %s; it was not run. "
				   "Do not retry it unless the user asks.", r->tool,
				   !strcmp(by, "tty") ? "the terminal prompt" : "`mcpmux approve`");
		break;
	case APPROVAL_TIMEOUT:
		buf_printf(t, "No one approved this call to %s within %ld s, so it was not run. "
			   "Ask the user to run `mcpmux approve` in a terminal to review it, then try again.",
			   r->tool, cfg->approval_timeout_ms / 1000);
		break;
	case APPROVAL_NO_CHANNEL:
		if (cfg->approvals == APPROVALS_DENY)
			buf_printf(t, "%s needs approval and mcpmux is configured with approvals = deny, "
				   "so it was not run. If it should run, the user can set approval = auto "
				   "for it in the mcpmux config.", r->tool);
		else
			buf_printf(t, "%s needs approval, but %s, so it was not run. Ask the user to run "
				   "`mcpmux approve` in a terminal and set approvals = terminal or auto.",
				   r->tool, cfg->approvals == APPROVALS_TTY ?
				   "mcpmux has no terminal to ask on (approvals = tty)" :
				   "this client does not support MCP elicitation (approvals = elicitation)");
		break;
	}
}

static enum approve_reason withdraw_reason(enum approval_result res)
{
	switch (res) {
	case APPROVAL_ALLOWED: return APPROVE_WD_ALLOWED;
	case APPROVAL_TIMEOUT: return APPROVE_WD_TIMEOUT;
	default: return APPROVE_WD_DENIED;
	}
}

/* The one way a request ends with a callback. */
static void finish(struct approval_req *r, enum approval_result res, const char *by)
{
	struct buf text = BUF_INIT;
	approval_cb cb = r->cb;
	void *arg = r->arg;

	result_text(r, res, by, &text);
	withdraw(r, withdraw_reason(res));
	req_unlink_free(r);
	cb(res, by, text.len ? text.data : NULL, arg);
	buf_free(&text);
}

static void on_timeout(void *arg)
{
	struct approval_req *r = arg;

	r->timer = NULL;
	finish(r, APPROVAL_TIMEOUT, "policy");
}

static void on_now(void *arg)
{
	struct approval_req *r = arg;

	r->now = NULL;
	finish(r, r->now_result, r->now_by);
}

static struct approval_req *find_req(struct approval *a, const char *id, size_t n)
{
	struct approval_req *r;

	for (r = a->head; r; r = r->next)
		if (strlen(r->id) == n && memcmp(r->id, id, n) == 0)
			return r;
	return NULL;
}

/* by is one of the channel names (a string literal), kept as is. */
static void allow_always(struct approval *a, const char *tool, const char *by)
{
	a->always = xrealloc(a->always, a->nalways + 1, sizeof(*a->always));
	a->always[a->nalways].tool = xstrdup(tool);
	a->always[a->nalways].by = by;
	a->nalways++;
}

/* The channel that allowed the tool until exit, or NULL. */
static const char *always_by(struct approval *a, const char *tool)
{
	size_t i;

	for (i = 0; i < a->nalways; i++)
		if (!strcmp(a->always[i].tool, tool))
			return a->always[i].by;
	return NULL;
}

static void decide(struct approval_req *r, char key, const char *by)
{
	if (key == 'a') {
		allow_always(r->a, r->tool, by);
		log_info("'%s' is allowed until mcpmux exits (%s)", r->tool, by);
	}
	finish(r, key == 'n' ? APPROVAL_DENIED : APPROVAL_ALLOWED, by);
}

/* --- the tty prompt --- */

/* "TOOL (connector C, LABEL", each part made safe and cut (approve_ui.h). */
static void put_call(struct buf *b, const struct approval_req *r, size_t tool_cols)
{
	approve_cut(b, r->tool, strlen(r->tool), tool_cols);
	buf_puts(b, " (connector ");
	approve_cut(b, r->connector, strlen(r->connector), 80);
	buf_puts(b, ", ");
	approve_cut(b, r->label, strlen(r->label), 40);
}

static void tty_prompt(struct approval *a)
{
	struct approval_req *r = a->tty_req;
	const char *agent = a->agent ? a->agent : "the agent";
	struct buf p = BUF_INIT;

	/* What the agent and the model sent, made safe for a terminal and cut
	   to a width (approve_ui.h): no escape sequences, nothing that hides or
	   reorders what is shown. */
	buf_puts(&p, "\nmcpmux: ");
	approve_cut(&p, agent, strlen(agent), 80);
	buf_puts(&p, " wants to call ");
	put_call(&p, r, 120);
	buf_puts(&p, ") with ");
	approve_cut(&p, r->args, r->args_len, 400);
	buf_puts(&p, "\nAllow? [y] once, [a] always for this tool, [n] no: ");
	/* Only a key pressed after this prompt is an answer to it: whatever was
	   typed before (for the agent, or ahead) is thrown away. */
	if (tcflush(a->tty_fd, TCIFLUSH) != 0)
		log_debug("tty prompt: %s", strerror(errno));
	if (write(a->tty_fd, p.data, p.len) < 0)
		log_debug("tty prompt: %s", strerror(errno));
	buf_free(&p);
}

static void tty_next(struct approval *a)
{
	if (a->tty_fd < 0 || a->tty_req || !a->head)
		return;
	a->tty_req = a->head;
	tty_prompt(a);
}

/*
 * One read is one answer (a line, the terminal being in canonical mode): its
 * first byte decides, the rest is dropped. So "please stop" is not an 'a'
 * (for "always") and a sentence typed for the agent decides nothing.
 */
static void on_tty(int fd, short revents, void *arg)
{
	struct approval *a = arg;
	char c[256];
	ssize_t n = read(fd, c, sizeof(c));
	char k;

	(void)revents;
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		loop_io_del(a->loop, fd);
		return;
	}
	if (!a->tty_req)
		return;		/* nothing asked: not an answer */
	k = (char)(c[0] | 0x20);
	if (k == 'y' || k == 'a' || k == 'n')
		decide(a->tty_req, k, "tty");
	else
		tty_prompt(a);
}

/* --- terminals --- */

static void term_free(struct term *t)
{
	struct approval *a = t->a;

	SLIST_REMOVE(a->terms, t);
	loop_io_del(a->loop, t->fd);
	close(t->fd);
	lines_free(&t->in);
	buf_free(&t->out);
	free(t);
}

/* A failure shows on the read side too: the terminal is dropped there. */
static void term_flush(struct term *t)
{
	approve_flush(t->a->loop, t->fd, &t->out, &t->watch_out);
}

static void handle_term_line(struct term *t, const char *line, size_t n)
{
	struct json j;
	struct approval_req *r;
	const char *id;
	size_t idn;
	char key;

	json_init(&j);
	/* A decision for a call that is gone was made elsewhere already. */
	if (approve_decision_parse(&j, line, n, &id, &idn, &key) == 0 &&
	    (r = find_req(t->a, id, idn)))
		decide(r, key, "terminal");
	json_free(&j);
}

static void on_term_io(int fd, short revents, void *arg)
{
	struct term *t = arg;

	(void)fd;
	if (revents & POLLOUT)
		term_flush(t);
	if (revents & (POLLIN | POLLHUP | POLLERR))
		on_term_readable(t->fd, revents, t);
}

/* lines_take() callback; stops (1) at a line over the protocol's limit. */
static int term_line(void *arg, char *line, size_t n, int too_long)
{
	if (too_long)
		return 1;
	handle_term_line(arg, line, n);
	return 0;
}

static void on_term_readable(int fd, short revents, void *arg)
{
	struct term *t = arg;
	int rc = approve_read(fd, &t->in, TERM_READ, 1, term_line, t);

	(void)revents;
	if (rc < 0) {
		log_debug("an approval terminal detached");
		term_free(t);
	} else if (rc > 0) {
		log_warn("an approval terminal sent a line over %u bytes: disconnected it",
			 APPROVE_MAX_LINE);
		term_free(t);
	}
}

/*
 * The agent must not approve its own calls: a process that runs under the
 * one that started serve (its shell tool, a script it wrote) is refused, and
 * so is one whose ancestry cannot be read. Logs why.
 */
static int peer_may_approve(struct approval *a, int fd)
{
	long pid = rundir_peer_pid(fd);
	int under = pid > 0 ? rundir_descends_from(pid, a->agent_pid) : -1;

	if (under == 0)
		return 1;
	if (under > 0)
		log_warn("refused an approval connection from pid %ld: it runs under the agent "
			 "(pid %ld) that started this mcpmux serve, and the agent may not approve its "
			 "own calls; run `mcpmux approve` in a terminal of your own", pid, a->agent_pid);
	else
		log_warn("refused an approval connection from pid %ld: cannot tell whether it runs "
			 "under the agent (pid %ld) that started this mcpmux serve (its parent chain "
			 "in /proc cannot be read)", pid, a->agent_pid);
	return 0;
}

static void on_accept(int fd, short revents, void *arg)
{
	struct approval *a = arg;
	struct approval_req *r;
	struct term *t;
	struct buf m = BUF_INIT;
	long uid;
	int c;

	(void)revents;
	c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	if (rundir_peer_ok(c, &uid) != 0) {
		log_warn("refused an approval connection from uid %ld: only uid %ld may approve",
			 uid, (long)getuid());
		close(c);
		return;
	}
	if (!peer_may_approve(a, c)) {
		close(c);
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->a = a;
	t->fd = c;
	lines_init(&t->in, APPROVE_MAX_LINE);
	t->next = a->terms;
	a->terms = t;
	loop_io_add(a->loop, c, POLLIN, on_term_io, t);
	log_info("an approval terminal attached");
	approve_put_hello(&m, (long)getpid(), a->agent ? a->agent : "unknown agent", a->cfg->path);
	for (r = a->head; r; r = r->next)
		request_msg(r, &m);
	term_send(t, &m);
	buf_free(&m);
	/* A terminal now exists: elicitations already asked go on in parallel. */
}

static int listen_socket(struct approval *a, struct buf *err)
{
	struct buf dir = BUF_INIT;
	struct sockaddr_un sa;
	int fd;

	if (rundir_get(&dir, err) != 0) {
		buf_free(&dir);
		return -1;
	}
	buf_printf(&dir, "/serve-%ld.sock", (long)getpid());
	if (dir.len >= sizeof(sa.sun_path)) {
		buf_printf(err, "socket path %s is too long", dir.data);
		buf_free(&dir);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, dir.data, dir.len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* A socket left by an earlier process with our pid is stale by definition. */
	unlink(dir.data);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(dir.data, 0600) != 0 || listen(fd, 16) != 0) {
		buf_printf(err, "cannot listen on %s: %s", dir.data, strerror(errno));
		if (fd >= 0)
			close(fd);
		buf_free(&dir);
		return -1;
	}
	a->lfd = fd;
	a->sock_path = buf_detach(&dir, NULL);
	loop_io_add(a->loop, fd, POLLIN, on_accept, a);
	return 0;
}

/* --- public --- */

struct approval *approval_new(struct loop *loop, const struct config *cfg,
			      const struct approval_elicit_ops *ops, struct buf *err)
{
	struct approval *a = xcalloc(1, sizeof(*a));

	a->loop = loop;
	a->cfg = cfg;
	/* At start the parent is the agent; later it may be gone (and we reparented). */
	a->agent_pid = (long)getppid();
	a->lfd = -1;
	a->tty_fd = -1;
	if (ops)
		a->ops = *ops;
	if (cfg->approvals == APPROVALS_AUTO || cfg->approvals == APPROVALS_TERMINAL) {
		if (listen_socket(a, err) != 0) {
			approval_free(a);
			return NULL;
		}
	} else if (cfg->approvals == APPROVALS_TTY) {
		a->tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
		if (a->tty_fd < 0)
			log_warn("approvals = tty, but there is no terminal (/dev/tty): "
				 "calls that need approval will be denied");
		else
			loop_io_add(loop, a->tty_fd, POLLIN, on_tty, a);
	}
	return a;
}

void approval_free(struct approval *a)
{
	size_t i;

	if (!a)
		return;
	while (a->head)
		req_unlink_free(a->head);
	while (a->terms)
		term_free(a->terms);
	if (a->lfd >= 0) {
		loop_io_del(a->loop, a->lfd);
		close(a->lfd);
	}
	if (a->sock_path)
		unlink(a->sock_path);
	if (a->tty_fd >= 0) {
		loop_io_del(a->loop, a->tty_fd);
		close(a->tty_fd);
	}
	for (i = 0; i < a->nalways; i++)
		free(a->always[i].tool);
	free(a->always);
	free(a->sock_path);
	free(a->agent);
	free(a);
}

void approval_set_agent(struct approval *a, const char *agent)
{
	free(a->agent);
	a->agent = xstrdup(agent);
}

static void on_elicit_done(void *ctx, int accepted)
{
	struct approval_req *r = ctx;

	r->elicit = NULL;
	if (accepted < 0) {
		/* The client failed to ask: a terminal may still decide before the deadline. */
		log_warn("elicitation for '%s' failed; waiting for `mcpmux approve`", r->tool);
		return;
	}
	finish(r, accepted ? APPROVAL_ALLOWED : APPROVAL_DENIED, "elicitation");
}

static void start_elicitation(struct approval_req *r)
{
	struct approval *a = r->a;
	struct buf msg = BUF_INIT;

	/* The client shows this to the human: made safe like the approve screen
	   (approve_ui.h), so that the arguments cannot hide or reorder text in
	   its UI, and cut to a length a dialog can show. */
	buf_puts(&msg, "Allow ");
	put_call(&msg, r, 200);
	buf_puts(&msg, " tool) to run with these arguments?\n");
	approve_cut(&msg, r->args, r->args_len, 2000);
	r->elicit = a->ops.start(a->ops.arg, msg.data, on_elicit_done, r);
	buf_free(&msg);
}

static void answer_now(struct approval_req *r, enum approval_result res, const char *by)
{
	struct approval *a = r->a;

	loop_timer_cancel(a->loop, r->timer);
	r->timer = NULL;
	r->now_result = res;
	r->now_by = by;
	r->now = loop_defer(a->loop, on_now, r);
}

struct approval_req *approval_ask(struct approval *a, const struct approval_call *call,
				  approval_cb cb, void *arg)
{
	struct approval_req *r = xcalloc(1, sizeof(*r));
	int elicit_ok = a->ops.available && a->ops.available(a->ops.arg);
	struct buf m = BUF_INIT;
	const char *by;

	r->a = a;
	snprintf(r->id, sizeof(r->id), "%lu", ++a->next_id);
	r->connector = xstrdup(call->connector);
	r->tool = xstrdup(call->tool);
	r->upstream_tool = xstrdup(call->upstream_tool);
	r->label = xstrdup(call->label);
	r->args = xmemdup(call->args, call->args_len);
	r->args_len = call->args_len;
	r->created = loop_now();
	r->cb = cb;
	r->arg = arg;
	DLIST_APPEND(a->head, a->tail, r);
	r->timer = loop_timer_add(a->loop, a->cfg->approval_timeout_ms, on_timeout, r);

	by = always_by(a, r->tool);
	if (by) {
		answer_now(r, APPROVAL_ALLOWED, by);
		return r;
	}
	switch (a->cfg->approvals) {
	case APPROVALS_DENY:
		answer_now(r, APPROVAL_NO_CHANNEL, "policy");
		return r;
	case APPROVALS_TTY:
		if (a->tty_fd < 0)
			answer_now(r, APPROVAL_NO_CHANNEL, "policy");
		else
			tty_next(a);
		return r;
	case APPROVALS_ELICITATION:
		if (!elicit_ok)
			answer_now(r, APPROVAL_NO_CHANNEL, "policy");
		else
			start_elicitation(r);
		return r;
	case APPROVALS_AUTO:
		if (!a->terms && elicit_ok)
			start_elicitation(r);
		break;
	case APPROVALS_TERMINAL:
		break;
	}
	/* Terminals attached now see it; ones attaching later get it with their hello. */
	request_msg(r, &m);
	broadcast(a, &m);
	buf_free(&m);
	return r;
}

void approval_cancel(struct approval *a, struct approval_req *r)
{
	(void)a;
	withdraw(r, APPROVE_WD_CANCELLED);
	req_unlink_free(r);
}
