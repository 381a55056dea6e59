/*
 * loop.h - the one event loop: every way work enters mcpmux.
 *
 *   - a file descriptor becomes readable/writable  (loop_io_*: stdin, stdout,
 *     the approval sockets, the terminal)
 *   - a signal arrives                             (loop_signal_*: SIGTERM, SIGWINCH...)
 *   - a curl transfer finishes                     (loop_xfer_*: every HTTP request)
 *   - a timer fires                                (loop_timer_*: deadlines, waits)
 *   - work deferred to the next turn is due        (loop_defer: "soon, not inside this call")
 *
 * libcurl's multi interface drives the transfers with
 * curl_multi_socket_action(): one poll() waits on curl's sockets and ours at
 * once, and an event touches only the transfer whose socket it is on. One
 * thread, no locks. Callbacks run on the loop and must not block; none is
 * ever called from inside the function that registered it.
 *
 * One turn (loop_run_once(), and each round of loop_run()):
 *   1. transfers paused under back-pressure resume, curl's expired timer,
 *      the callbacks of finished transfers;
 *   2. one poll() over our descriptors and curl's, sleeping at most until the
 *      next timer (not at all while deferred work waits);
 *   3. curl's socket events, then finished transfers' callbacks;
 *   4. our descriptors' callbacks, in the order the watches were added (a
 *      removal moves the last watch into the hole); signals arrive here, on
 *      the loop's own pipe;
 *   5. expired timers, earliest deadline first, equal deadlines in the order
 *      they were added;
 *   6. deferred work, in the order deferred, in passes (see loop_defer()):
 *      what the turn's events set in motion is done when the turn ends, so a
 *      caller of loop_run_once() sees it.
 * loop_stop(): loop_run() returns once the callback that called it is done;
 * the descriptors, timers and deferred work that turn has not reached yet
 * wait for the next one (finished transfers are still all reported).
 *
 * Ownership: the loop is owned by the command that created it. Every timer,
 * deferred call, watch, signal and transfer is owned by whoever added it and
 * must be removed by that owner before loop_free() (which frees what is left
 * of timers and deferred calls without calling them, and gives signals back
 * their earlier disposition).
 */
#ifndef MCPMUX_LOOP_H
#define MCPMUX_LOOP_H

#include <stdint.h>

#include <curl/curl.h>

struct loop;
struct loop_timer;
struct loop_defer;

typedef void (*loop_io_cb)(int fd, short revents, void *arg);
typedef void (*loop_timer_cb)(void *arg);
typedef void (*loop_defer_cb)(void *arg);
typedef void (*loop_signal_cb)(int signo, void *arg);
/* A finished transfer: the handle is already removed from the loop. */
typedef void (*loop_xfer_cb)(CURL *easy, CURLcode result, void *arg);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Runs until loop_stop(); returns 0, or -1 when curl's multi interface failed. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* One turn: waits at most max_ms for work, handles what came. */
int loop_run_once(struct loop *l, int max_ms);

/* Milliseconds on a monotonic clock. */
int64_t loop_now(void);

/* File descriptors (POLLIN/POLLOUT). One watch per fd: a second
   loop_io_add() of the same fd returns -1. A watch removed during a turn
   gets no callback in the rest of it (unless its fd is added again). */
int loop_io_add(struct loop *l, int fd, short events, loop_io_cb cb, void *arg);
void loop_io_events(struct loop *l, int fd, short events);
void loop_io_del(struct loop *l, int fd);

/* One-shot timers, ms from now (ms <= 0: due at once, run in step 5 of the
   turn). The returned handle is valid until the callback runs or
   loop_timer_cancel() is called, whichever comes first. Not for work that
   only has to leave the current call: that is loop_defer(). */
struct loop_timer *loop_timer_add(struct loop *l, int64_t ms, loop_timer_cb cb, void *arg);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);	/* NULL: nothing */

/*
 * Deferred work: cb(arg) runs at the end of the turn (step 6), never inside
 * loop_defer() itself, in the order deferred. A pass runs what was deferred
 * before it began; what those callbacks defer goes to the next pass, at most
 * 4 passes a turn (a connector's reply handed over, then the output to the
 * agent flushed, all in the turn its bytes came in); the rest waits for the
 * next turn, so a chain of deferrals cannot starve the descriptors. While
 * any is waiting, the poll() does not sleep.
 * The one way to run something "right after this": a reply that must not be
 * sent from inside the call that asked, a flush after a burst of writes.
 * The handle is valid until the callback runs or loop_defer_cancel() is
 * called, whichever comes first.
 */
struct loop_defer *loop_defer(struct loop *l, loop_defer_cb cb, void *arg);
void loop_defer_cancel(struct loop *l, struct loop_defer *d);	/* NULL: nothing */

/*
 * Signals as loop events: once added, each delivery of signo makes the
 * async-signal-safe handler write its number to the loop's own non-blocking
 * pipe (created with the first signal), and cb(signo, arg) runs on the loop
 * in step 4 of a turn, once per delivery that found room in the pipe (a
 * flood is coalesced), in the order they came. The handler is installed
 * with no flags (no SA_RESTART: a blocking call sees EINTR) and an empty
 * mask. One callback per signal per process: 0, or -1 (errno set) when
 * signo is already handled by a loop, cannot be caught, or the pipe cannot
 * be made. loop_signal_del() gives the signal back the disposition it had
 * before loop_signal_add(). The loop leaves SIGPIPE alone: commands that
 * write to sockets and pipes ignore it themselves.
 */
int loop_signal_add(struct loop *l, int signo, loop_signal_cb cb, void *arg);
void loop_signal_del(struct loop *l, int signo);

/* Transfers: the loop does not own the easy handle; its owner frees it
   after the callback or after loop_xfer_del(). */
int loop_xfer_add(struct loop *l, CURL *easy, loop_xfer_cb cb, void *arg);
void loop_xfer_del(struct loop *l, CURL *easy);	/* aborts: no callback */

/* Easy handles: a new or recycled one (NULL when out of memory), and its
   return, not in a transfer, reset to curl's defaults before it is kept.
   Reuse saves an allocation and setup per request. */
CURL *loop_easy_get(struct loop *l);
void loop_easy_put(struct loop *l, CURL *easy);

/*
 * Back-pressure. While input is held, a transfer's write callback asks
 * loop_input_held(), notes its handle with loop_note_paused() and returns
 * CURL_WRITEFUNC_PAUSE: libcurl keeps the data. Releasing resumes every
 * noted transfer at the start of the next turn (never inside a callback:
 * curl may deliver the data from within curl_easy_pause()).
 */
void loop_hold_input(struct loop *l, int hold);
int loop_input_held(const struct loop *l);
void loop_note_paused(struct loop *l, CURL *easy);

#endif
