/*
 * test_approval.c - unit tests for the approval broker inside `mcpmux serve`
 * (src/approval.c), on a real loop, with no terminal: the policy answers
 * (never from inside approval_ask()), elicitation through fake ops, the
 * timeout, cancellation, the socket's life, the refusal of a connection from
 * the agent's own process tree, and one terminal session over the socket (a
 * process outside that tree, speaking approve_proto.h).
 *
 * Waits are loops of turns until the awaited callback came, with a cap on
 * the turns; no test needs the machine to be fast.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "approval.h"
#include "approve_proto.h"
#include "log.h"
#include "rundir.h"

#define MAX_TURNS 600		/* of at most 100 ms each */
#define LONG_WAIT_MS 600000	/* a timeout no test reaches */

struct fixture {
	struct loop *l;
	struct config cfg;
	char dir[64];		/* XDG_RUNTIME_DIR for the socket */
	struct approval *a;
	/* the callback */
	int called;
	enum approval_result result;
	char by[32];
	char text[1024];
	/* the fake elicitation */
	int elicit_available;
	int elicit_started, elicit_cancelled;
	char message[4096];
	void (*done)(void *ctx, int accepted);
	void *ctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_quiet(1);	/* the refusals are logged as warnings */
	snprintf(f->dir, sizeof(f->dir), "/tmp/mcpmux-test-approval-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	setenv("XDG_RUNTIME_DIR", f->dir, 1);
	f->l = loop_new();
	assert_non_null(f->l);
	f->cfg.path = "/home/ann/.config/mcpmux/mcpmux.ini";
	f->cfg.approval_timeout_ms = LONG_WAIT_MS;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	approval_free(f->a);
	loop_free(f->l);
	snprintf(path, sizeof(path), "%s/mcpmux", f->dir);
	rmdir(path);
	assert_int_equal(rmdir(f->dir), 0);	/* empty: the socket was removed */
	free(f);
	return 0;
}

static void on_result(enum approval_result r, const char *by, const char *text, void *arg)
{
	struct fixture *f = arg;

	f->called++;
	f->result = r;
	snprintf(f->by, sizeof(f->by), "%s", by);
	snprintf(f->text, sizeof(f->text), "%s", text ? text : "");
}

static int fake_available(void *arg)
{
	return ((struct fixture *)arg)->elicit_available;
}

static void *fake_start(void *arg, const char *message, void (*done)(void *ctx, int accepted),
			void *ctx)
{
	struct fixture *f = arg;

	f->elicit_started++;
	snprintf(f->message, sizeof(f->message), "%s", message);
	f->done = done;
	f->ctx = ctx;
	return f;
}

static void fake_cancel(void *arg, void *handle)
{
	struct fixture *f = arg;

	assert_ptr_equal(handle, f);
	f->elicit_cancelled++;
}

static void broker(struct fixture *f, int approvals)
{
	struct approval_elicit_ops ops = { fake_available, fake_start, fake_cancel, f };
	struct buf err = BUF_INIT;

	f->cfg.approvals = approvals;
	f->a = approval_new(f->l, &f->cfg, &ops, &err);
	assert_non_null(f->a);
	assert_int_equal(err.len, 0);
	buf_free(&err);
	approval_set_agent(f->a, "claude-ai 0.9.1");
}

/* The arguments hold a right-to-left override (U+202E): made safe, it is a '?'. */
static const char write_args[] = "{\"title\":\"\xe2\x80\xae" "der\"}";
static const struct approval_call call_write = {
	"linear", "linear__create_issue", "create_issue", "write",
	write_args, sizeof(write_args) - 1,
};

static struct approval_req *ask(struct fixture *f, const struct approval_call *c)
{
	int before = f->called;
	struct approval_req *r = approval_ask(f->a, c, on_result, f);

	assert_non_null(r);
	assert_int_equal(f->called, before);	/* never from inside the call */
	return r;
}

static void run_until_called(struct fixture *f, int n)
{
	int k;

	for (k = 0; k < MAX_TURNS && f->called < n; k++)
		assert_int_equal(loop_run_once(f->l, 100), 0);
	assert_int_equal(f->called, n);
}

/* A few turns in which nothing may be called. */
static void run_idle(struct fixture *f)
{
	int k, before = f->called;

	for (k = 0; k < 3; k++)
		assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(f->called, before);
}

/* --- policy --- */

static void test_deny(void **state)
{
	struct fixture *f = *state;

	broker(f, APPROVALS_DENY);
	ask(f, &call_write);
	/* The answer is known at once, and given on the next turn. */
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(f->called, 1);
	assert_int_equal(f->result, APPROVAL_NO_CHANNEL);
	assert_string_equal(f->by, "policy");
	assert_non_null(strstr(f->text, "linear__create_issue needs approval and mcpmux is "
			       "configured with approvals = deny"));
	assert_int_equal(f->elicit_started, 0);
}

static void test_elicitation_unavailable(void **state)
{
	struct fixture *f = *state;

	broker(f, APPROVALS_ELICITATION);
	ask(f, &call_write);
	run_until_called(f, 1);
	assert_int_equal(f->result, APPROVAL_NO_CHANNEL);
	assert_string_equal(f->by, "policy");
	assert_non_null(strstr(f->text, "this client does not support MCP elicitation"));
	assert_int_equal(f->elicit_started, 0);
}

/* --- elicitation --- */

static void test_elicitation_allow_and_deny(void **state)
{
	struct fixture *f = *state;

	f->elicit_available = 1;
	broker(f, APPROVALS_ELICITATION);
	ask(f, &call_write);
	assert_int_equal(f->elicit_started, 1);
	/* Made safe like the approve screen. */
	assert_string_equal(f->message, "Allow linear__create_issue (connector linear, write tool) "
			    "to run with these arguments?\n{\"title\":\"?der\"}");
	f->done(f->ctx, 1);
	assert_int_equal(f->called, 1);
	assert_int_equal(f->result, APPROVAL_ALLOWED);
	assert_string_equal(f->by, "elicitation");
	assert_string_equal(f->text, "");

	ask(f, &call_write);
	f->done(f->ctx, 0);
	assert_int_equal(f->called, 2);
	assert_int_equal(f->result, APPROVAL_DENIED);
	assert_string_equal(f->by, "elicitation");
	assert_non_null(strstr(f->text, "The user declined this call to linear__create_issue"));
	assert_int_equal(f->elicit_cancelled, 0);
}

static void test_elicitation_fails_then_timeout(void **state)
{
	struct fixture *f = *state;

	f->elicit_available = 1;
	f->cfg.approval_timeout_ms = 1;
	broker(f, APPROVALS_AUTO);
	ask(f, &call_write);
	assert_int_equal(f->elicit_started, 1);
	/* The client could not ask: no answer, the request waits for its deadline. */
	f->done(f->ctx, -1);
	assert_int_equal(f->called, 0);
	run_until_called(f, 1);
	assert_int_equal(f->result, APPROVAL_TIMEOUT);
	assert_string_equal(f->by, "policy");
	assert_non_null(strstr(f->text, "No one approved this call to linear__create_issue"));
}

/* --- cancel and free --- */

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct approval_req *r;

	f->elicit_available = 1;
	broker(f, APPROVALS_ELICITATION);
	r = ask(f, &call_write);
	approval_cancel(f->a, r);
	assert_int_equal(f->elicit_cancelled, 1);
	run_idle(f);

	/* A policy answer already due is not given either. */
	f->elicit_available = 0;
	r = ask(f, &call_write);
	approval_cancel(f->a, r);
	run_idle(f);
}

static void test_free_with_pending(void **state)
{
	struct fixture *f = *state;

	broker(f, APPROVALS_TERMINAL);
	ask(f, &call_write);
	ask(f, &call_write);
	approval_free(f->a);
	f->a = NULL;
	run_idle(f);
}

/* --- the socket --- */

static void sock_path(const struct fixture *f, char *path, size_t size)
{
	snprintf(path, size, "%s/mcpmux/serve-%ld.sock", f->dir, (long)getpid());
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void test_socket_life(void **state)
{
	struct fixture *f = *state;
	char path[128];
	struct stat st;

	broker(f, APPROVALS_TERMINAL);
	sock_path(f, path, sizeof(path));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	approval_free(f->a);
	f->a = NULL;
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_own_process_refused(void **state)
{
	struct fixture *f = *state;
	char path[128], c;
	int fd, k;
	ssize_t n = -1;

	broker(f, APPROVALS_TERMINAL);
	ask(f, &call_write);
	sock_path(f, path, sizeof(path));
	/* This process runs under the one that started the broker (our parent):
	   the agent may not approve its own calls. Closed without a hello. */
	fd = connect_to(path);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	for (k = 0; k < MAX_TURNS; k++) {
		assert_int_equal(loop_run_once(f->l, 100), 0);
		n = read(fd, &c, 1);
		if (n >= 0 || errno != EAGAIN)
			break;
	}
	assert_int_equal(n, 0);
	close(fd);
	assert_int_equal(f->called, 0);	/* the call still waits */
}

/* --- a terminal session --- */

/* Reads one line from fd (blocking), without its '\n'; NULL at EOF. */
static char *read_line(int fd, struct buf *pending)
{
	char chunk[4096], *nl;
	ssize_t n;

	while (!(nl = pending->len ? memchr(pending->data, '\n', pending->len) : NULL)) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		buf_add(pending, chunk, (size_t)n);
	}
	{
		size_t len = (size_t)(nl - pending->data);
		char *line = strndup(pending->data, len);

		buf_consume(pending, len + 1);
		return line;
	}
}

static void put_line(int fd, const char *s)
{
	size_t n = strlen(s);

	if (write(fd, s, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
		_exit(3);
}

/*
 * The terminal, in a process outside the agent's tree (the grandchild of
 * this one, adopted by init or a subreaper once its parent exits). It tells
 * the test through `report` whether it is outside ("go" or "skip"), then
 * copies there each line the broker sends: hello and the pending request,
 * to which it answers "always", then the withdrawn.
 */
static void terminal(const char *path, long agent, pid_t parent, int report)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct buf pending = BUF_INIT, msg = BUF_INIT;
	char *line;
	int fd, k;

	for (k = 0; k < 100000 && getppid() == parent; k++)
		usleep(1000);
	if (getppid() == parent || rundir_descends_from((long)getpid(), agent) != 0) {
		put_line(report, "skip");
		_exit(0);
	}
	put_line(report, "go");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		_exit(4);
	for (k = 0; k < 3 && (line = read_line(fd, &pending)); k++) {
		put_line(report, line);
		free(line);
		if (k == 1) {
			approve_put_decision(&msg, "1", 'a');
			if (write(fd, msg.data, msg.len) != (ssize_t)msg.len)
				_exit(5);
		}
	}
	_exit(k == 3 ? 0 : 6);
}

static void test_terminal_session(void **state)
{
	struct fixture *f = *state;
	struct buf pending = BUF_INIT;
	char path[128], *line;
	int rep[2], status;
	long agent = (long)getppid();	/* what the broker took for the agent */
	pid_t child;
	struct json j;

	broker(f, APPROVALS_TERMINAL);
	ask(f, &call_write);	/* pending before the terminal attaches: sent after hello */
	sock_path(f, path, sizeof(path));
	assert_int_equal(pipe(rep), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pid_t pid = getpid();

		close(rep[0]);
		if (fork() == 0)
			terminal(path, agent, pid, rep[1]);
		_exit(0);
	}
	close(rep[1]);
	assert_int_equal(waitpid(child, &status, 0), child);
	line = read_line(rep[0], &pending);
	assert_non_null(line);
	if (strcmp(line, "go")) {
		free(line);
		buf_free(&pending);
		close(rep[0]);
		skip();	/* no process outside the agent's tree here */
	}
	free(line);

	run_until_called(f, 1);
	assert_int_equal(f->result, APPROVAL_ALLOWED);
	assert_string_equal(f->by, "terminal");

	json_init(&j);
	line = read_line(rep[0], &pending);
	assert_non_null(line);
	assert_int_equal(approve_msg_parse(&j, line, strlen(line)), APPROVE_MSG_HELLO);
	assert_non_null(strstr(line, "\"agent\":\"claude-ai 0.9.1\""));
	assert_non_null(strstr(line, "\"config\":\"/home/ann/.config/mcpmux/mcpmux.ini\""));
	free(line);
	line = read_line(rep[0], &pending);
	assert_non_null(line);
	assert_int_equal(approve_msg_parse(&j, line, strlen(line)), APPROVE_MSG_REQUEST);
	assert_non_null(strstr(line, "\"id\":\"1\",\"agent\":\"claude-ai 0.9.1\",\"connector\":"
			       "\"linear\",\"tool\":\"linear__create_issue\",\"upstream_tool\":"
			       "\"create_issue\",\"label\":\"write\",\"arguments\":{\"title\":"
			       "\"\xe2\x80\xae" "der\"},\"timeout_ms\":600000,\"remaining_ms\":"));
	free(line);
	line = read_line(rep[0], &pending);
	assert_non_null(line);
	assert_string_equal(line, "{\"type\":\"withdrawn\",\"id\":\"1\",\"reason\":\"allowed\"}");
	free(line);
	json_free(&j);
	buf_free(&pending);
	close(rep[0]);

	/* "always": the next call of the tool is allowed at once, as decided there. */
	ask(f, &call_write);
	assert_int_equal(loop_run_once(f->l, 0), 0);
	assert_int_equal(f->called, 2);
	assert_int_equal(f->result, APPROVAL_ALLOWED);
	assert_string_equal(f->by, "terminal");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deny, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elicitation_unavailable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elicitation_allow_and_deny, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elicitation_fails_then_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_life, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_process_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminal_session, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
