/*
 * fuzz_sse.c - the text/event-stream parser (src/sse.c) on any bytes.
 *
 * The input is a stream, fed to sse_feed() whole, then again one byte at a
 * time and in chunks of sizes drawn from the input's hash, with the default
 * cap and with a small one (also drawn from the hash), with and without an
 * on_data callback (which may stop the stream at its k-th call), and with
 * every other event's data taken with sse_take_data(). Invariants:
 *   - every way of splitting the stream gives the same events (type, data,
 *     id), the same on_data calls (the data so far, each time), the same
 *     result (stopped or not) and the same retry and last id;
 *   - with the default cap, those events are the ones a plain reading of
 *     include/sse.h gives (a model below, written from the header);
 *   - an event's data is NUL-terminated at data_len; a callback that asks to
 *     stop gets no event after that.
 */
#include "fuzz.h"

#include <string.h>

#include "buf.h"
#include "sse.h"

/* What one run produced: the events, serialized, and how it ended. */
struct outcome {
	struct buf ev;		/* per event: type NUL data-length data id NUL */
	size_t n;		/* events */
	size_t stop_at;		/* the callback asks to stop at this event (0: never) */
	int with_data;		/* an on_data callback is set */
	struct buf dtrace;	/* per on_data call: the length of the data so far */
	size_t ndata;		/* on_data calls */
	size_t dstop_at;	/* on_data asks to stop at this call (0: never) */
	struct sse_parser *p;	/* the parser, for sse_take_data() */
	int failed;		/* sse_feed returned -1 */
	long retry;
	struct buf last_id;
};

static void outcome_init(struct outcome *o, size_t stop_at, int with_data, size_t dstop_at)
{
	memset(o, 0, sizeof(*o));
	o->stop_at = stop_at;
	o->with_data = with_data;
	o->dstop_at = dstop_at;
}

static void outcome_free(struct outcome *o)
{
	buf_free(&o->ev);
	buf_free(&o->dtrace);
	buf_free(&o->last_id);
}

/* One on_data call: the data so far (a stop counts only with a callback). */
static int data_seen(struct outcome *o, size_t len)
{
	if (!o->with_data)
		return 0;
	buf_add(&o->dtrace, &len, sizeof(len));
	o->ndata++;
	return o->dstop_at && o->ndata == o->dstop_at;
}

static void record(struct outcome *o, const char *type, const char *data, size_t n,
		   const char *id)
{
	buf_add(&o->ev, type, strlen(type) + 1);
	buf_add(&o->ev, &n, sizeof(n));
	buf_add(&o->ev, data, n);
	buf_add(&o->ev, id, strlen(id) + 1);
	o->n++;
}

static int on_event(const struct sse_event *ev, void *arg)
{
	struct outcome *o = arg;

	FUZZ_CHECK(!o->stop_at || o->n < o->stop_at, "an event after the callback said stop");
	FUZZ_CHECK(ev->data[ev->data_len] == '\0', "event data not NUL-terminated");
	FUZZ_CHECK(ev->data_len > 0, "an event with empty data was dispatched");
	if (o->n % 2) {
		/* as conn/mcp/stream.c does with a message: the buffer itself, no copy */
		struct buf taken = BUF_INIT;
		size_t n = ev->data_len;

		sse_take_data(o->p, &taken);
		FUZZ_CHECK(taken.len == n, "sse_take_data gave %zu bytes of %zu", taken.len, n);
		record(o, ev->type, buf_str(&taken), taken.len, ev->id);
		buf_free(&taken);
	} else {
		record(o, ev->type, ev->data, ev->data_len, ev->id);
	}
	return o->stop_at && o->n == o->stop_at;
}

static int on_data(const struct buf *data, void *arg)
{
	struct outcome *o = arg;

	FUZZ_CHECK(data->data && data->data[data->len] == '\0', "on_data: not NUL-terminated");
	return data_seen(o, data->len);
}

/* Feeds the stream in chunks (chunks 0: whole; 1: byte by byte; else random sizes). */
static void run(struct outcome *o, const char *s, size_t n, size_t max, int chunks,
		uint64_t seed)
{
	struct sse_parser p;
	struct fuzz_rng rng;
	size_t i = 0, k;

	fuzz_rng_init(&rng, seed);
	sse_init(&p, on_event, o);
	p.max_event = max;
	if (o->with_data)
		p.on_data = on_data;
	o->p = &p;
	while (i < n && !o->failed) {
		k = chunks == 0 ? n - i : chunks == 1 ? 1 : fuzz_chunk(&rng, n - i);
		if (sse_feed(&p, s + i, k))
			o->failed = 1;
		i += k;
	}
	if (n == 0 && sse_feed(&p, s, 0))
		o->failed = 1;
	o->retry = p.retry_ms;
	buf_add(&o->last_id, buf_str(&p.last_id), p.last_id.len);
	sse_free(&p);
}

static void same(const struct outcome *a, const struct outcome *b, const char *what)
{
	FUZZ_CHECK(a->n == b->n, "%s: %zu events, fed whole %zu", what, b->n, a->n);
	FUZZ_CHECK(a->ev.len == b->ev.len && !memcmp(buf_str(&a->ev), buf_str(&b->ev), a->ev.len),
		   "%s: the events differ from feeding it whole", what);
	FUZZ_CHECK(a->ndata == b->ndata && a->dtrace.len == b->dtrace.len &&
		   !memcmp(buf_str(&a->dtrace), buf_str(&b->dtrace), a->dtrace.len),
		   "%s: %zu on_data calls differ from feeding it whole (%zu)", what, b->ndata, a->ndata);
	FUZZ_CHECK(a->failed == b->failed, "%s: result %d, fed whole %d", what, b->failed,
		   a->failed);
	if (a->failed)
		return;		/* the stream is dropped: what was left half-read does not matter */
	FUZZ_CHECK(a->retry == b->retry, "%s: retry %ld, fed whole %ld", what, b->retry, a->retry);
	FUZZ_CHECK(a->last_id.len == b->last_id.len &&
		   !memcmp(buf_str(&a->last_id), buf_str(&b->last_id), a->last_id.len),
		   "%s: last id differs", what);
}

/* --- the model: include/sse.h read plainly, on the whole stream at once --- */

struct model {
	struct outcome *o;
	struct buf data, type, id;
	int has_data, stopped;
	long retry;
};

static int model_eq(const char *f, size_t n, const char *name)
{
	return n == strlen(name) && !memcmp(f, name, n);
}

static void model_line(struct model *m, const char *s, size_t n)
{
	const char *colon, *v;
	size_t fn, vn, k;
	long r;

	if (n == 0) {
		if (m->data.len) {
			buf_add(&m->type, "", 0);
			buf_add(&m->id, "", 0);
			record(m->o, m->type.len ? m->type.data : "message", buf_str(&m->data),
			       m->data.len, buf_str(&m->id));
			if (m->o->stop_at && m->o->n == m->o->stop_at)
				m->stopped = 1;
		}
		buf_reset(&m->data);
		buf_reset(&m->type);
		m->has_data = 0;
		return;
	}
	if (s[0] == ':')
		return;
	colon = memchr(s, ':', n);
	fn = colon ? (size_t)(colon - s) : n;
	v = colon ? colon + 1 : s + n;
	vn = colon ? n - fn - 1 : 0;
	if (vn && v[0] == ' ') {
		v++;
		vn--;
	}
	if (model_eq(s, fn, "data")) {
		if (m->has_data)
			buf_putc(&m->data, '\n');
		buf_add(&m->data, v, vn);
		m->has_data = 1;
		if (data_seen(m->o, m->data.len)) {
			/* stopped: the event is dropped */
			buf_reset(&m->data);
			buf_reset(&m->type);
			m->has_data = 0;
			m->stopped = 1;
		}
	} else if (model_eq(s, fn, "event")) {
		buf_reset(&m->type);
		buf_add(&m->type, v, vn);
	} else if (model_eq(s, fn, "id")) {
		if (!memchr(v, '\0', vn)) {
			buf_reset(&m->id);
			buf_add(&m->id, v, vn);
		}
	} else if (model_eq(s, fn, "retry") && vn) {
		for (r = 0, k = 0; k < vn; k++) {
			if (v[k] < '0' || v[k] > '9' || r > (__LONG_MAX__ - (v[k] - '0')) / 10)
				break;
			r = r * 10 + (v[k] - '0');
		}
		if (k == vn)
			m->retry = r;
	}
}

static void model(struct outcome *o, const char *s, size_t n)
{
	struct model m = { o, BUF_INIT, BUF_INIT, BUF_INIT, 0, 0, -1 };
	size_t i = 0, e;

	if (n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < n && !m.stopped) {
		for (e = i; e < n && s[e] != '\r' && s[e] != '\n'; e++)
			;
		if (e == n)
			break;		/* an unfinished line is not a line yet */
		model_line(&m, s + i, e - i);
		i = e + 1;
		if (s[e] == '\r' && i < n && s[i] == '\n')
			i++;
	}
	o->failed = m.stopped;
	o->retry = m.retry;
	buf_add(&o->last_id, buf_str(&m.id), m.id.len);
	buf_free(&m.data);
	buf_free(&m.type);
	buf_free(&m.id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	uint64_t h = fuzz_hash(data, size);
	size_t stop_at = (h >> 60) < 4 ? (size_t)((h >> 56) & 7) + 1 : 0;
	size_t caps[2] = { 0, 1 + (size_t)((h >> 8) % 96) };
	size_t dstop_at = (h >> 20) % 4 == 0 ? (size_t)((h >> 24) % 6) + 1 : 0;
	int with_data = (h >> 30) & 1;
	struct outcome whole, other;
	int c, k;

	for (c = 0; c < 2; c++) {
		outcome_init(&whole, stop_at, with_data, dstop_at);
		run(&whole, s, size, caps[c], 0, 0);
		if (caps[c] == 0) {
			outcome_init(&other, stop_at, with_data, dstop_at);
			model(&other, s, size);
			same(&whole, &other, "the model of include/sse.h");
			outcome_free(&other);
		}
		for (k = 1; k < 5; k++) {
			outcome_init(&other, stop_at, with_data, dstop_at);
			run(&other, s, size, caps[c], k, h + (uint64_t)k);
			same(&whole, &other, k == 1 ? "fed byte by byte" : "fed in chunks");
			outcome_free(&other);
		}
		outcome_free(&whole);
	}
	return 0;
}
