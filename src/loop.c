/* loop.c - curl multi + poll + timers; see include/loop.h. */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

struct xfer {
	loop_xfer_cb cb;	/* called when the transfer finishes */
	void *arg;
};

struct loop {
	CURLM *multi;			/* every transfer in flight */
	struct watch *watches;		/* our descriptors */
	size_t nwatches, capwatches;
	struct loop_timer **heap;	/* min-heap on (when, seq) */
	size_t nheap, capheap;
	uint64_t seq;
	int stop;			/* loop_stop() was called */
	int running;			/* transfers curl reports as running */
};

int64_t loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		abort();
	return p;
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		abort();
	l->multi = curl_multi_init();
	if (!l->multi) {
		free(l);
		return NULL;
	}
	return l;
}

void loop_free(struct loop *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->nheap; i++)
		free(l->heap[i]);
	free(l->heap);
	free(l->watches);
	curl_multi_cleanup(l->multi);
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
		l->watches = xrealloc(l->watches, l->capwatches * sizeof(*l->watches));
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
	struct loop_timer *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	t->when = loop_now() + (ms > 0 ? ms : 0);
	t->seq = l->seq++;
	t->cb = cb;
	t->arg = arg;
	if (l->nheap == l->capheap) {
		l->capheap = l->capheap ? l->capheap * 2 : 16;
		l->heap = xrealloc(l->heap, l->capheap * sizeof(*l->heap));
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

/* --- transfers --- */

int loop_xfer_add(struct loop *l, CURL *easy, loop_xfer_cb cb, void *arg)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (!x)
		abort();
	x->cb = cb;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(l->multi, easy) != CURLM_OK) {
		free(x);
		return -1;
	}
	return 0;
}

void loop_xfer_del(struct loop *l, CURL *easy)
{
	struct xfer *x = NULL;

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
	int64_t d;

	if (!l->nheap)
		return 60000;
	d = l->heap[0]->when - loop_now();
	if (d < 0)
		return 0;
	return d > 60000 ? 60000 : (int)d;
}

static void dispatch_io(struct loop *l, struct curl_waitfd *w, size_t n)
{
	size_t i;

	for (i = 0; i < n && !l->stop; i++) {
		struct watch *cur;
		short rev = w[i].revents;

		if (!rev)
			continue;
		/* An earlier callback may have removed or replaced this watch. */
		cur = find_watch(l, w[i].fd);
		if (cur)
			cur->cb(cur->fd, rev, cur->arg);
	}
}

static int loop_once(struct loop *l, struct curl_waitfd **w, size_t *capw, int max_ms)
{
	size_t i, n = l->nwatches;
	int timeout = next_timeout(l);
	CURLMcode mc;

	if (n > *capw) {
		*capw = n;
		*w = xrealloc(*w, n * sizeof(**w));
	}
	for (i = 0; i < n; i++) {
		(*w)[i].fd = l->watches[i].fd;
		(*w)[i].events = l->watches[i].events;
		(*w)[i].revents = 0;
	}
	if (max_ms >= 0 && max_ms < timeout)
		timeout = max_ms;
	mc = curl_multi_poll(l->multi, *w, (unsigned int)n, timeout, NULL);
	if (mc != CURLM_OK) {
		log_error("event loop: %s", curl_multi_strerror(mc));
		return -1;
	}
	dispatch_io(l, *w, n);
	if (l->stop)
		return 0;
	curl_multi_perform(l->multi, &l->running);
	finish_transfers(l);
	run_timers(l);
	return 0;
}

int loop_run(struct loop *l)
{
	struct curl_waitfd *w = NULL;
	size_t capw = 0;
	int rc = 0;

	l->stop = 0;
	while (!l->stop && rc == 0)
		rc = loop_once(l, &w, &capw, -1);
	free(w);
	return rc;
}

int loop_run_once(struct loop *l, int max_ms)
{
	struct curl_waitfd *w = NULL;
	size_t capw = 0;
	int rc;

	l->stop = 0;
	rc = loop_once(l, &w, &capw, max_ms);
	free(w);
	return rc;
}
