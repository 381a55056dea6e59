/*
 * loop.h - the one event loop: every way work enters mcpmux.
 *
 *   - a file descriptor becomes readable/writable  (loop_io_*: stdin, stdout,
 *     the signal pipe, later the approval sockets)
 *   - a curl transfer finishes                     (loop_xfer_*: every HTTP request)
 *   - a timer fires                                (loop_timer_*: deadlines, waits)
 *
 * libcurl's multi interface drives the transfers with
 * curl_multi_socket_action(): one poll() waits on curl's sockets and ours at
 * once, and an event touches only the transfer whose socket it is on. One thread, no locks. Callbacks run
 * on the loop and must not block. The loop is owned by the command that
 * created it; every timer, watch and transfer must be removed by its owner
 * before loop_free().
 */
#ifndef MCPMUX_LOOP_H
#define MCPMUX_LOOP_H

#include <stdint.h>

#include <curl/curl.h>

struct loop;
struct loop_timer;

typedef void (*loop_io_cb)(int fd, short revents, void *arg);
typedef void (*loop_timer_cb)(void *arg);
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

/* File descriptors (POLLIN/POLLOUT). One watch per fd. */
int loop_io_add(struct loop *l, int fd, short events, loop_io_cb cb, void *arg);
void loop_io_events(struct loop *l, int fd, short events);
void loop_io_del(struct loop *l, int fd);

/* One-shot timers. The returned handle is valid until the callback runs or
   loop_timer_cancel() is called, whichever comes first. */
struct loop_timer *loop_timer_add(struct loop *l, int64_t ms, loop_timer_cb cb, void *arg);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

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
