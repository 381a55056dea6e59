/* loop.c - curl multi + poll + timers + deferred work + signals; see include/loop.h. */
#include "xalloc.h"
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "list.h"
#include "log.h"

struct watch {
	int fd;			/* the descriptor watched */
	short events;		/* POLLIN / POLLOUT wanted */
	loop_io_cb cb;		/* called with the events that happened */
	void *arg;		/* passed back untouched */
};

struct loop_timer {
	int64_t when;		/* absolute, loop_now() milliseconds */
	uint64_t seq;		/* insertion order: equal deadlines fire in order */
	size_t slot;		/* index in the heap, for O(log n) cancel */
	loop_timer_cb cb;
	void *arg;
};

struct loop_defer {
	struct loop_defer *prev, *next;	/* in l->defers, oldest first */
	uint64_t seq;		/* order of deferral: a pass runs those deferred before it began */
	loop_defer_cb cb;
	void *arg;
};

/* A signal this loop handles. */
struct sigwatch {
	loop_signal_cb cb;	/* NULL: not handled here */
	void *arg;
	struct sigaction old;	/* the disposition before, given back by loop_signal_del() */
};

struct xfer {
	loop_xfer_cb cb;	/* called when the transfer finishes */
	void *arg;
};

/* A socket libcurl asked us to watch (CURLMOPT_SOCKETFUNCTION). */
struct csock {
	curl_socket_t fd;
	short events;		/* POLLIN / POLLOUT curl wants */
};

#define LOOP_SPARE_EASY 32
#define DEFER_PASSES 4		/* rounds of deferred work a turn runs (see run_deferred) */

struct loop {
	CURLM *multi;			/* every transfer in flight */
	struct watch *watches;		/* our descriptors */
	size_t nwatches, capwatches;
	struct csock *csocks;		/* curl's descriptors */
	size_t ncsocks, capcsocks;
	int64_t curl_when;		/* curl's timeout, absolute loop_now() ms; -1: none */
	struct pollfd *pfds;		/* scratch for poll(): watches, then curl's */
	size_t cappfds;
	CURL *spare[LOOP_SPARE_EASY];	/* reset easy handles kept for reuse */
	size_t nspare;
	struct loop_timer **heap;	/* min-heap on (when, seq) */
	size_t nheap, capheap;
	uint64_t seq;
	int stop;			/* loop_stop() was called */
	int hold;			/* input is held (back-pressure) */
	int resume;			/* released: paused transfers go on next turn */
	CURL **paused;			/* transfers paused while held */
	size_t npaused, cappaused;
	struct loop_defer *defers, *defers_tail;	/* deferred work, oldest first */
	uint64_t defer_seq;		/* deferrals so far */
	int sigpipe[2];			/* the signal handler writes signal numbers here */
	struct sigwatch *sigs;		/* NSIG of them, by number, once one is added */
};

int64_t loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* --- curl's sockets and timer (curl_multi_socket_action) --- */

static struct csock *find_csock(struct loop *l, curl_socket_t fd)
{
	size_t i;

	for (i = 0; i < l->ncsocks; i++)
		if (l->csocks[i].fd == fd)
			return &l->csocks[i];
	return NULL;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *sockp)
{
	struct loop *l = ud;
	struct csock *c = find_csock(l, fd);

	(void)easy;
	(void)sockp;
	if (what == CURL_POLL_REMOVE) {
		if (c)
			*c = l->csocks[--l->ncsocks];
		return 0;
	}
	if (!c) {
		if (l->ncsocks == l->capcsocks) {
			l->capcsocks = l->capcsocks ? l->capcsocks * 2 : 8;
			l->csocks = xrealloc(l->csocks, l->capcsocks, sizeof(*l->csocks));
		}
		c = &l->csocks[l->ncsocks++];
		c->fd = fd;
	}
	c->events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) |
			    ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	return 0;
}

static int on_curl_timer(CURLM *multi, long ms, void *ud)
{
	struct loop *l = ud;

	(void)multi;
	l->curl_when = ms < 0 ? -1 : loop_now() + ms;
	return 0;
}

struct loop *loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof(*l));

	l->curl_when = -1;
	l->sigpipe[0] = l->sigpipe[1] = -1;
	l->multi = curl_multi_init();
	if (!l->multi) {
		free(l);
		return NULL;
	}
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
	return l;
}

void loop_free(struct loop *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 1; l->sigs && i < NSIG; i++)
		loop_signal_del(l, (int)i);
	free(l->sigs);
	if (l->sigpipe[0] >= 0) {
		loop_io_del(l, l->sigpipe[0]);
		close(l->sigpipe[0]);
		close(l->sigpipe[1]);
	}
	while (l->defers)
		loop_defer_cancel(l, l->defers);
	for (i = 0; i < l->nheap; i++)
		free(l->heap[i]);
	free(l->heap);
	free(l->watches);
	curl_multi_cleanup(l->multi);
	while (l->nspare)
		curl_easy_cleanup(l->spare[--l->nspare]);
	free(l->csocks);
	free(l->pfds);
	free(l->paused);
	free(l);
}

void loop_stop(struct loop *l)
{
	l->stop = 1;
}

/* --- descriptors --- */

static struct watch *find_watch(struct loop *l, int fd)
{
	size_t i;

	for (i = 0; i < l->nwatches; i++)
		if (l->watches[i].fd == fd)
			return &l->watches[i];
	return NULL;
}

int loop_io_add(struct loop *l, int fd, short events, loop_io_cb cb, void *arg)
{
	struct watch *w;

	if (find_watch(l, fd))
		return -1;
	if (l->nwatches == l->capwatches) {
		l->capwatches = l->capwatches ? l->capwatches * 2 : 8;
		l->watches = xrealloc(l->watches, l->capwatches, sizeof(*l->watches));
	}
	w = &l->watches[l->nwatches++];
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	w->arg = arg;
	return 0;
}

void loop_io_events(struct loop *l, int fd, short events)
{
	struct watch *w = find_watch(l, fd);

	if (w)
		w->events = events;
}

void loop_io_del(struct loop *l, int fd)
{
	struct watch *w = find_watch(l, fd);

	if (!w)
		return;
	*w = l->watches[--l->nwatches];
}

/* --- timers: a binary min-heap --- */

static int timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->slot = i;
}

static void heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 0 && timer_before(t, l->heap[(i - 1) / 2])) {
		heap_set(l, i, l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && timer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_before(l->heap[c], t))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

struct loop_timer *loop_timer_add(struct loop *l, int64_t ms, loop_timer_cb cb, void *arg)
{
	struct loop_timer *t = xcalloc(1, sizeof(*t));

	t->when = loop_now() + (ms > 0 ? ms : 0);
	t->seq = l->seq++;
	t->cb = cb;
	t->arg = arg;
	if (l->nheap == l->capheap) {
		l->capheap = l->capheap ? l->capheap * 2 : 16;
		l->heap = xrealloc(l->heap, l->capheap, sizeof(*l->heap));
	}
	heap_set(l, l->nheap++, t);
	heap_up(l, t->slot);
	return t;
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->slot;
	struct loop_timer *last = l->heap[--l->nheap];

	if (i < l->nheap) {
		heap_set(l, i, last);
		heap_up(l, i);
		heap_down(l, last->slot);
	}
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t)
		return;
	heap_remove(l, t);
	free(t);
}

static void run_timers(struct loop *l)
{
	int64_t now = loop_now();

	while (l->nheap && l->heap[0]->when <= now && !l->stop) {
		struct loop_timer *t = l->heap[0];
		loop_timer_cb cb = t->cb;
		void *arg = t->arg;

		heap_remove(l, t);
		free(t);
		cb(arg);
	}
}

/* --- deferred work --- */

struct loop_defer *loop_defer(struct loop *l, loop_defer_cb cb, void *arg)
{
	struct loop_defer *d = xcalloc(1, sizeof(*d));

	d->seq = ++l->defer_seq;
	d->cb = cb;
	d->arg = arg;
	DLIST_APPEND(l->defers, l->defers_tail, d);
	return d;
}

void loop_defer_cancel(struct loop *l, struct loop_defer *d)
{
	if (!d)
		return;
	DLIST_UNLINK_QUEUE(l->defers, l->defers_tail, d);
	free(d);
}

/*
 * The last step of a turn: what is deferred, in passes. A pass runs what was
 * deferred before it began, in order; what its callbacks defer goes to the
 * next pass, up to DEFER_PASSES a turn (a reply handed over, then the output
 * flushed, in the turn the bytes came in); the rest waits for the next turn,
 * whose poll() does not sleep, so a chain of deferrals cannot starve the
 * descriptors.
 */
static void run_deferred(struct loop *l)
{
	int pass;

	for (pass = 0; pass < DEFER_PASSES && l->defers && !l->stop; pass++) {
		uint64_t last = l->defer_seq;

		while (l->defers && l->defers->seq <= last && !l->stop) {
			struct loop_defer *d = l->defers;
			loop_defer_cb cb = d->cb;
			void *arg = d->arg;

			loop_defer_cancel(l, d);
			cb(arg);
		}
	}
}

/* --- signals: a self-pipe per loop --- */

/* For each signal handled, the write end of its loop's pipe, plus one (0: none). */
static volatile sig_atomic_t sig_fd[NSIG];

static void on_signal(int signo)
{
	int saved = errno, fd = signo > 0 && signo < NSIG ? (int)sig_fd[signo] - 1 : -1;
	unsigned char c = (unsigned char)signo;

	if (fd >= 0 && write(fd, &c, 1) < 0)
		(void)0;	/* the pipe is full: the loop has signals to read already */
	errno = saved;
}

/* The watch of signo, or NULL when this loop does not handle it. */
static struct sigwatch *find_sig(struct loop *l, int signo)
{
	if (!l->sigs || signo <= 0 || signo >= NSIG || !l->sigs[signo].cb)
		return NULL;
	return &l->sigs[signo];
}

/* The pipe is readable: one callback per signal number in it, in order. */
static void on_sigpipe(int fd, short revents, void *arg)
{
	struct loop *l = arg;
	unsigned char c[64];
	ssize_t n, k;

	(void)revents;
	while ((n = read(fd, c, sizeof(c))) > 0) {
		for (k = 0; k < n; k++) {
			/* Found again each time: a callback may remove its signal. */
			struct sigwatch *s = find_sig(l, c[k]);

			if (s)
				s->cb(c[k], s->arg);
		}
	}
}

int loop_signal_add(struct loop *l, int signo, loop_signal_cb cb, void *arg)
{
	struct sigaction sa;
	struct sigwatch *s;

	if (signo <= 0 || signo >= NSIG || sig_fd[signo]) {
		errno = EINVAL;
		return -1;
	}
	if (l->sigpipe[0] < 0) {
		if (pipe2(l->sigpipe, O_CLOEXEC | O_NONBLOCK) != 0)
			return -1;
		loop_io_add(l, l->sigpipe[0], POLLIN, on_sigpipe, l);
	}
	if (!l->sigs)
		l->sigs = xcalloc(NSIG, sizeof(*l->sigs));
	s = &l->sigs[signo];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sig_fd[signo] = l->sigpipe[1] + 1;
	if (sigaction(signo, &sa, &s->old) != 0) {
		sig_fd[signo] = 0;
		return -1;
	}
	s->cb = cb;
	s->arg = arg;
	return 0;
}

void loop_signal_del(struct loop *l, int signo)
{
	struct sigwatch *s = find_sig(l, signo);

	if (!s)
		return;
	sigaction(signo, &s->old, NULL);
	sig_fd[signo] = 0;
	s->cb = NULL;
}

/* --- transfers --- */

CURL *loop_easy_get(struct loop *l)
{
	if (l->nspare)
		return l->spare[--l->nspare];
	return curl_easy_init();
}

void loop_easy_put(struct loop *l, CURL *easy)
{
	if (!easy)
		return;
	/* Every option back to its default: no pointer into the last owner's memory. */
	curl_easy_reset(easy);
	if (l->nspare < LOOP_SPARE_EASY)
		l->spare[l->nspare++] = easy;
	else
		curl_easy_cleanup(easy);
}

int loop_xfer_add(struct loop *l, CURL *easy, loop_xfer_cb cb, void *arg)
{
	struct xfer *x = xcalloc(1, sizeof(*x));

	x->cb = cb;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(l->multi, easy) != CURLM_OK) {
		free(x);
		return -1;
	}
	return 0;
}

static void unnote_paused(struct loop *l, CURL *easy)
{
	size_t i;

	for (i = 0; i < l->npaused; i++)
		if (l->paused[i] == easy) {
			l->paused[i] = l->paused[--l->npaused];
			return;
		}
}

void loop_hold_input(struct loop *l, int hold)
{
	if (hold == l->hold)
		return;
	l->hold = hold;
	l->resume = !hold && l->npaused;
}

int loop_input_held(const struct loop *l)
{
	return l->hold;
}

void loop_note_paused(struct loop *l, CURL *easy)
{
	size_t i;

	for (i = 0; i < l->npaused; i++)
		if (l->paused[i] == easy)
			return;
	if (l->npaused == l->cappaused) {
		l->cappaused = l->cappaused ? l->cappaused * 2 : 8;
		l->paused = xrealloc(l->paused, l->cappaused, sizeof(*l->paused));
	}
	l->paused[l->npaused++] = easy;
}

/* Resumes what was paused; a transfer may pause again at once if input is held again. */
static void resume_paused(struct loop *l)
{
	l->resume = 0;
	while (l->npaused && !l->hold) {
		CURL *easy = l->paused[--l->npaused];

		curl_easy_pause(easy, CURLPAUSE_CONT);
	}
}

void loop_xfer_del(struct loop *l, CURL *easy)
{
	struct xfer *x = NULL;

	unnote_paused(l, easy);
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	curl_multi_remove_handle(l->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	free(x);
}

static void finish_transfers(struct loop *l)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(l->multi, &left))) {
		struct xfer *x = NULL;
		CURL *easy = m->easy_handle;
		CURLcode res = m->data.result;
		struct xfer copy;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(l->multi, easy);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		unnote_paused(l, easy);
		if (!x)
			continue;
		copy = *x;
		free(x);
		copy.cb(easy, res, copy.arg);
	}
}

/* --- the loop --- */

static int next_timeout(struct loop *l)
{
	int64_t now, d = 60000;

	if (l->defers)
		return 0;
	if (!l->nheap && l->curl_when < 0)
		return 60000;
	now = loop_now();
	if (l->nheap)
		d = l->heap[0]->when - now;
	if (l->curl_when >= 0 && l->curl_when - now < d)
		d = l->curl_when - now;
	if (d < 0)
		return 0;
	return d > 60000 ? 60000 : (int)d;
}

/* Lets curl act on fd (or its timer); 0, or -1 when the multi handle failed. */
static int curl_act(struct loop *l, curl_socket_t fd, int mask)
{
	int running;
	CURLMcode mc = curl_multi_socket_action(l->multi, fd, mask, &running);

	/* A socket an earlier event made curl drop is no failure. */
	if (mc != CURLM_OK && mc != CURLM_BAD_SOCKET) {
		log_error("event loop: %s", curl_multi_strerror(mc));
		return -1;
	}
	return 0;
}

/* Lets curl act on its timer once it has expired. */
static int curl_timeout(struct loop *l)
{
	if (l->curl_when < 0 || l->curl_when > loop_now())
		return 0;
	l->curl_when = -1;
	return curl_act(l, CURL_SOCKET_TIMEOUT, 0);
}

static int curl_event(struct loop *l, curl_socket_t fd, short rev)
{
	int mask = 0;

	/* An earlier event may have made curl drop (and close) this socket. */
	if (!find_csock(l, fd))
		return 0;
	if (rev & (POLLIN | POLLHUP))
		mask |= CURL_CSELECT_IN;
	if (rev & POLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (rev & (POLLERR | POLLNVAL))
		mask |= CURL_CSELECT_ERR;
	return curl_act(l, fd, mask);
}

/*
 * One turn (the steps of include/loop.h): one poll() over our descriptors
 * and curl's, then curl's events, finished transfers, our descriptors'
 * callbacks, expired timers and deferred work. A transfer added by a callback
 * starts (curl's 0 ms timer) before the next poll, without a poll of its own.
 */
static int loop_once(struct loop *l, int max_ms)
{
	size_t i, nw, n;
	int timeout, rc;

	if (l->resume)
		resume_paused(l);
	if (curl_timeout(l))
		return -1;
	finish_transfers(l);
	if (l->stop)
		return 0;
	nw = l->nwatches;
	n = nw + l->ncsocks;
	if (n > l->cappfds) {
		l->cappfds = n;
		l->pfds = xrealloc(l->pfds, n, sizeof(*l->pfds));
	}
	for (i = 0; i < nw; i++) {
		l->pfds[i].fd = l->watches[i].fd;
		l->pfds[i].events = l->watches[i].events;
		l->pfds[i].revents = 0;
	}
	for (i = 0; i < l->ncsocks; i++) {
		l->pfds[nw + i].fd = l->csocks[i].fd;
		l->pfds[nw + i].events = l->csocks[i].events;
		l->pfds[nw + i].revents = 0;
	}
	timeout = next_timeout(l);
	if (max_ms >= 0 && max_ms < timeout)
		timeout = max_ms;
	rc = poll(l->pfds, (nfds_t)n, timeout);
	if (rc < 0) {
		if (errno == EINTR)
			return 0;
		log_error("event loop: poll: %s", strerror(errno));
		return -1;
	}
	/* curl's events first: its callbacks only touch l->csocks. */
	for (i = nw; i < n && rc > 0; i++) {
		if (!l->pfds[i].revents)
			continue;
		if (curl_event(l, l->pfds[i].fd, l->pfds[i].revents))
			return -1;
	}
	if (curl_timeout(l))
		return -1;
	finish_transfers(l);
	/* Then ours; fd and events are copied out before each callback. */
	for (i = 0; i < nw && !l->stop; i++) {
		struct watch *cur;
		short rev = l->pfds[i].revents;
		int fd = l->pfds[i].fd;

		if (!rev)
			continue;
		/* An earlier callback may have removed or replaced this watch. */
		cur = find_watch(l, fd);
		if (cur)
			cur->cb(cur->fd, rev, cur->arg);
	}
	if (l->stop)
		return 0;
	run_timers(l);
	run_deferred(l);
	return 0;
}

int loop_run(struct loop *l)
{
	int rc = 0;

	l->stop = 0;
	while (!l->stop && rc == 0)
		rc = loop_once(l, -1);
	return rc;
}

int loop_run_once(struct loop *l, int max_ms)
{
	l->stop = 0;
	return loop_once(l, max_ms);
}
