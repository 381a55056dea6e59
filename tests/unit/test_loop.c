/*
 * test_loop.c - unit tests for the event loop (src/loop.c): timer order and
 * cancellation, deferred work (next turn, never inside the call), signals as
 * loop events, descriptor watches. No test depends on how fast the machine
 * is: waits are loops of turns until something happened, with a cap on the
 * number of turns, and only lower bounds of the clock are checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"

#define MAX_EVENTS 32
#define MAX_TURNS 100000

/* What the callbacks saw, in order: a letter each. */
struct trace {
	struct loop *l;
	char ev[MAX_EVENTS + 1];
	size_t n;
	struct loop_timer *timer;	/* a handle a callback may cancel */
	struct loop_defer *defer;	/* ditto */
	int signo[MAX_EVENTS];		/* the signals seen */
	size_t nsig;
	int fd;				/* a descriptor a callback may stop watching */
	int stop_at;			/* loop_stop() once this many events were seen */
};

static void note(struct trace *t, char c)
{
	assert_true(t->n < MAX_EVENTS);
	t->ev[t->n++] = c;
	t->ev[t->n] = '\0';
	if (t->stop_at && (int)t->n == t->stop_at)
		loop_stop(t->l);
}

/* One callback per letter: arg is the trace, the letter is in the callback. */
#define LETTER_CB(c)							\
	static void cb_##c(void *arg) { note(arg, #c[0]); }
LETTER_CB(a)
LETTER_CB(b)
LETTER_CB(c)
LETTER_CB(d)
LETTER_CB(e)

/* Turns until the trace holds n events (at most MAX_TURNS). */
static void run_until(struct trace *t, size_t n)
{
	int k;

	for (k = 0; k < MAX_TURNS && t->n < n; k++)
		assert_int_equal(loop_run_once(t->l, 100), 0);
	assert_int_equal(t->n, n);
}

static int setup(void **state)
{
	struct trace *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->l = loop_new();
	assert_non_null(t->l);
	t->fd = -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct trace *t = *state;

	loop_free(t->l);
	free(t);
	return 0;
}

/* --- timers --- */

static void test_timers_in_deadline_order(void **state)
{
	struct trace *t = *state;
	int64_t start = loop_now();

	/* Added latest deadline first: the heap, not the order added, decides. */
	loop_timer_add(t->l, 60, cb_c, t);
	loop_timer_add(t->l, 20, cb_a, t);
	loop_timer_add(t->l, 40, cb_b, t);
	/* A machine so busy that adding them took 20 ms moved the deadlines
	   past each other: nothing to check then. */
	if (loop_now() - start >= 20)
		skip();
	run_until(t, 3);
	assert_string_equal(t->ev, "abc");
	/* None fires early. */
	assert_true(loop_now() - start >= 60);
}

static void test_equal_deadlines_in_insertion_order(void **state)
{
	struct trace *t = *state;

	loop_timer_add(t->l, 0, cb_a, t);
	loop_timer_add(t->l, 0, cb_b, t);
	loop_timer_add(t->l, -5, cb_c, t);	/* the past is now */
	loop_timer_add(t->l, 0, cb_d, t);
	/* Not inside loop_timer_add(). */
	assert_int_equal(t->n, 0);
	run_until(t, 4);
	/* -5 is clamped to 0: a deadline equal to the others, added third. */
	assert_string_equal(t->ev, "abcd");
}

static void cancel_other_timer(void *arg)
{
	struct trace *t = arg;

	note(t, 'x');
	loop_timer_cancel(t->l, t->timer);
	t->timer = NULL;
}

static void test_timer_cancel(void **state)
{
	struct trace *t = *state;
	struct loop_timer *gone = loop_timer_add(t->l, 0, cb_a, t);

	loop_timer_add(t->l, 0, cancel_other_timer, t);
	t->timer = loop_timer_add(t->l, 0, cb_b, t);	/* due in the same turn: cancelled first */
	loop_timer_add(t->l, 0, cb_c, t);
	loop_timer_cancel(t->l, gone);
	loop_timer_cancel(t->l, NULL);	/* harmless */
	run_until(t, 2);
	assert_string_equal(t->ev, "xc");
	/* Nothing left. */
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_string_equal(t->ev, "xc");
}

/* --- deferred work --- */

static void defer_again(void *arg)
{
	struct trace *t = arg;

	note(t, 'r');
	loop_defer(t->l, cb_e, t);	/* the next pass */
}

static void test_defer_end_of_turn(void **state)
{
	struct trace *t = *state;

	loop_defer(t->l, cb_a, t);
	loop_defer(t->l, defer_again, t);
	loop_defer(t->l, cb_b, t);
	/* Never inside the call. */
	assert_int_equal(t->n, 0);
	/* One turn runs them in order, then what they deferred. Its poll() has no
	   limit of its own here (-1), and does not sleep while work waits. */
	assert_int_equal(loop_run_once(t->l, -1), 0);
	assert_string_equal(t->ev, "arbe");
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_string_equal(t->ev, "arbe");
}

static void defer_chain(void *arg)
{
	struct trace *t = arg;

	note(t, 'c');
	loop_defer(t->l, defer_chain, t);
}

static void on_readable_note(int fd, short revents, void *arg)
{
	char c;

	(void)revents;
	if (read(fd, &c, 1) == 1)
		note(arg, 'f');
}

/* A chain of deferrals: at most 4 passes a turn, and the descriptors still get their turn. */
static void test_defer_chain_cannot_starve(void **state)
{
	struct trace *t = *state;
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "xy", 2), 2);
	assert_int_equal(loop_io_add(t->l, p[0], POLLIN, on_readable_note, t), 0);
	loop_defer(t->l, defer_chain, t);
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_string_equal(t->ev, "fcccc");
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_string_equal(t->ev, "fccccfcccc");
	loop_io_del(t->l, p[0]);
	close(p[0]);
	close(p[1]);
}

static void defer_from_timer(void *arg)
{
	struct trace *t = arg;

	note(t, 't');
	loop_defer(t->l, cb_a, t);
}

static void test_defer_after_timers(void **state)
{
	struct trace *t = *state;

	/* A due timer defers work: it runs after the timers, in the same turn. */
	loop_timer_add(t->l, 0, defer_from_timer, t);
	loop_timer_add(t->l, 0, cb_b, t);
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_string_equal(t->ev, "tba");
}

/*
 * Work deferred before a turn is done in that turn, without sleeping until
 * the next timer: a caller driving the loop turn by turn (`mcpmux check`
 * waiting for its connectors) sees what it did before the timer's time comes.
 * The timer here is 20 s away; had the turn slept, it would have fired in it.
 */
static void test_defer_turn_does_not_sleep(void **state)
{
	struct trace *t = *state;

	loop_timer_add(t->l, 20 * 1000, cb_b, t);
	loop_defer(t->l, cb_a, t);
	assert_int_equal(loop_run_once(t->l, -1), 0);
	assert_string_equal(t->ev, "a");
}

static void cancel_other_defer(void *arg)
{
	struct trace *t = arg;

	note(t, 'x');
	loop_defer_cancel(t->l, t->defer);
	t->defer = NULL;
}

static void test_defer_cancel(void **state)
{
	struct trace *t = *state;
	struct loop_defer *gone = loop_defer(t->l, cb_a, t);

	loop_defer(t->l, cancel_other_defer, t);
	t->defer = loop_defer(t->l, cb_b, t);	/* same turn, cancelled by the one before */
	loop_defer(t->l, cb_c, t);
	loop_defer_cancel(t->l, gone);
	loop_defer_cancel(t->l, NULL);	/* harmless */
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_string_equal(t->ev, "xc");
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_string_equal(t->ev, "xc");
}

static void test_defer_stop(void **state)
{
	struct trace *t = *state;

	/* loop_stop() in a deferred callback: loop_run() returns, the rest waits. */
	t->stop_at = 1;
	loop_defer(t->l, cb_a, t);
	loop_defer(t->l, cb_b, t);
	assert_int_equal(loop_run(t->l), 0);
	assert_string_equal(t->ev, "a");
	t->stop_at = 0;
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_string_equal(t->ev, "ab");
}

static void test_free_with_pending_work(void **state)
{
	struct trace *t = *state;

	/* Freed without being called (teardown frees the loop). */
	loop_defer(t->l, cb_a, t);
	loop_timer_add(t->l, 0, cb_b, t);
	loop_timer_add(t->l, 100000, cb_c, t);
	assert_int_equal(t->n, 0);
}

/* --- signals --- */

static void on_sig(int signo, void *arg)
{
	struct trace *t = arg;

	assert_true(t->nsig < MAX_EVENTS);
	t->signo[t->nsig++] = signo;
	note(t, 's');
}

static void on_sig_del(int signo, void *arg)
{
	struct trace *t = arg;

	on_sig(signo, arg);
	loop_signal_del(t->l, SIGUSR2);	/* its delivery, already in the pipe, is dropped */
}

static void disposition(int signo, struct sigaction *sa)
{
	assert_int_equal(sigaction(signo, NULL, sa), 0);
}

static void test_signals_are_events(void **state)
{
	struct trace *t = *state;
	struct sigaction sa;

	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_IGN);
	assert_int_equal(loop_signal_add(t->l, SIGUSR1, on_sig, t), 0);
	assert_int_equal(loop_signal_add(t->l, SIGUSR2, on_sig, t), 0);
	/* One handler per signal; SIGKILL cannot be caught. */
	assert_int_equal(loop_signal_add(t->l, SIGUSR1, on_sig, t), -1);
	assert_int_equal(loop_signal_add(t->l, SIGKILL, on_sig, t), -1);
	assert_int_equal(loop_signal_add(t->l, 0, on_sig, t), -1);
	/* The handler has no flags: no SA_RESTART. */
	disposition(SIGUSR1, &sa);
	assert_int_equal(sa.sa_flags & SA_RESTART, 0);
	assert_true(sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);

	assert_int_equal(raise(SIGUSR2), 0);
	assert_int_equal(raise(SIGUSR1), 0);
	/* Not from the handler: on the loop. */
	assert_int_equal(t->nsig, 0);
	run_until(t, 2);
	assert_int_equal(t->signo[0], SIGUSR2);
	assert_int_equal(t->signo[1], SIGUSR1);

	/* Removed: the earlier disposition is back. */
	loop_signal_del(t->l, SIGUSR1);
	loop_signal_del(t->l, SIGUSR2);
	loop_signal_del(t->l, SIGUSR2);	/* harmless */
	disposition(SIGUSR1, &sa);
	assert_true(sa.sa_handler == SIG_DFL);
	disposition(SIGUSR2, &sa);
	assert_true(sa.sa_handler == SIG_IGN);
	/* Another loop may have it now. */
	assert_int_equal(loop_signal_add(t->l, SIGUSR2, on_sig, t), 0);
	loop_signal_del(t->l, SIGUSR2);
	signal(SIGUSR2, SIG_DFL);
}

static void test_signal_removed_by_callback(void **state)
{
	struct trace *t = *state;
	struct sigaction sa;

	signal(SIGUSR2, SIG_DFL);
	assert_int_equal(loop_signal_add(t->l, SIGUSR1, on_sig_del, t), 0);
	assert_int_equal(loop_signal_add(t->l, SIGUSR2, on_sig, t), 0);
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(raise(SIGUSR2), 0);
	run_until(t, 1);
	/* SIGUSR2's byte was in the pipe behind SIGUSR1's: dropped with its watch. */
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_int_equal(t->nsig, 1);
	assert_int_equal(t->signo[0], SIGUSR1);
	disposition(SIGUSR2, &sa);
	assert_true(sa.sa_handler == SIG_DFL);
	/* SIGUSR1 is still the loop's: loop_free() (teardown) gives it back. */
}

static void test_free_restores_signals(void **state)
{
	struct trace *t = *state;
	struct loop *l = loop_new();
	struct sigaction sa;

	signal(SIGUSR1, SIG_IGN);
	assert_int_equal(loop_signal_add(l, SIGUSR1, on_sig, t), 0);
	loop_free(l);
	disposition(SIGUSR1, &sa);
	assert_true(sa.sa_handler == SIG_IGN);
	signal(SIGUSR1, SIG_DFL);
}

/* --- descriptors --- */

static void on_io(int fd, short revents, void *arg)
{
	struct trace *t = arg;
	char c;

	assert_true(revents & POLLIN);
	assert_int_equal(read(fd, &c, 1), 1);
	note(t, c);
	/* One of the two pipes stops the other being watched. */
	if (t->fd >= 0 && t->fd != fd)
		loop_io_del(t->l, t->fd);
}

static void on_writable(int fd, short revents, void *arg)
{
	struct trace *t = arg;

	(void)fd;
	assert_true(revents & POLLOUT);
	note(t, 'w');
	loop_io_events(t->l, fd, 0);
}

static void test_io_watches(void **state)
{
	struct trace *t = *state;
	int p[2], q[2];

	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(pipe2(q, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(loop_io_add(t->l, p[0], POLLIN, on_io, t), 0);
	assert_int_equal(loop_io_add(t->l, p[0], POLLIN, on_io, t), -1);	/* one per fd */
	assert_int_equal(loop_io_add(t->l, q[0], POLLIN, on_io, t), 0);
	/* Nothing to read: a turn that sleeps 0 ms calls nobody. */
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_int_equal(t->n, 0);

	assert_int_equal(write(p[1], "x", 1), 1);
	run_until(t, 1);
	assert_string_equal(t->ev, "x");

	/* Both readable in one turn; the first callback removes the other's watch:
	   it gets no callback in that turn, or any later one. */
	t->fd = q[0];
	assert_int_equal(write(p[1], "y", 1), 1);
	assert_int_equal(write(q[1], "z", 1), 1);
	run_until(t, 2);
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_string_equal(t->ev, "xy");

	/* POLLOUT on a writable pipe, then turned off. */
	assert_int_equal(loop_io_add(t->l, p[1], POLLOUT, on_writable, t), 0);
	run_until(t, 3);
	assert_int_equal(loop_run_once(t->l, 0), 0);
	assert_string_equal(t->ev, "xyw");

	loop_io_del(t->l, p[0]);
	loop_io_del(t->l, p[1]);
	loop_io_del(t->l, p[0]);	/* harmless */
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_timers_in_deadline_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_equal_deadlines_in_insertion_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_end_of_turn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_chain_cannot_starve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_after_timers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_turn_does_not_sleep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_pending_work, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signals_are_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_removed_by_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_restores_signals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_watches, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
