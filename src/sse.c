/* sse.c - incremental text/event-stream parser; see include/sse.h. */
#include "sse.h"

#include <limits.h>
#include <string.h>

#define SSE_DEFAULT_MAX		((size_t)256 << 20)
/* Buffers that grew past this are released after use, so that one huge
 * event does not pin its memory for the rest of a long-lived stream. */
#define SSE_KEEP_CAP		((size_t)64 << 10)

static const char bom[3] = { '\xef', '\xbb', '\xbf' };

static size_t max_event(const struct sse_parser *p)
{
	return p->max_event ? p->max_event : SSE_DEFAULT_MAX;
}

static void recycle(struct buf *b)
{
	if (b->cap > SSE_KEEP_CAP)
		buf_free(b);
	else
		buf_reset(b);
}

static void end_event(struct sse_parser *p)
{
	recycle(&p->data);
	buf_reset(&p->type);
	p->has_data = 0;
}

void sse_init(struct sse_parser *p, sse_event_cb cb, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->on_event = cb;
	p->arg = arg;
	buf_init(&p->line);
	buf_init(&p->data);
	buf_init(&p->type);
	buf_init(&p->last_id);
	p->retry_ms = -1;
}

void sse_free(struct sse_parser *p)
{
	buf_free(&p->line);
	buf_free(&p->data);
	buf_free(&p->type);
	buf_free(&p->last_id);
}

void sse_take_data(struct sse_parser *p, struct buf *into)
{
	buf_free(into);
	*into = p->data;
	buf_init(&p->data);
}

static int dispatch(struct sse_parser *p)
{
	struct sse_event ev;
	int r = 0;

	/* Empty data (e.g. an MCP priming event) is bookkeeping, not a message. */
	if (p->data.len && p->on_event) {
		ev.type = p->type.len ? buf_str(&p->type) : "message";
		ev.data = buf_str(&p->data);
		ev.data_len = p->data.len;
		ev.id = buf_str(&p->last_id);
		r = p->on_event(&ev, p->arg);
	}
	end_event(p);
	return r ? -1 : 0;
}

static int add_data(struct sse_parser *p, const char *v, size_t n)
{
	size_t sep = p->has_data ? 1 : 0;

	if (p->data.len > max_event(p) || n + sep > max_event(p) - p->data.len) {
		end_event(p);
		return -1;
	}
	buf_reserve(&p->data, n + sep);
	if (sep)
		buf_putc(&p->data, '\n');
	buf_add(&p->data, v, n);
	p->has_data = 1;
	if (p->on_data && p->on_data(&p->data, p->arg)) {
		end_event(p);
		return -1;
	}
	return 0;
}

/* Only a non-empty run of ASCII digits that fits a long is accepted. */
static void set_retry(struct sse_parser *p, const char *v, size_t n)
{
	long ms = 0;
	size_t k;

	if (!n)
		return;
	for (k = 0; k < n; k++) {
		if (v[k] < '0' || v[k] > '9')
			return;
		if (ms > (LONG_MAX - (v[k] - '0')) / 10)
			return;
		ms = ms * 10 + (v[k] - '0');
	}
	p->retry_ms = ms;
}

static int name_is(const char *f, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(f, name, n) == 0;
}

static int field(struct sse_parser *p, const char *f, size_t fn, const char *v, size_t vn)
{
	if (name_is(f, fn, "data"))
		return add_data(p, v, vn);
	if (name_is(f, fn, "event")) {
		buf_reset(&p->type);
		buf_add(&p->type, v, vn);
	} else if (name_is(f, fn, "id")) {
		if (!memchr(v, '\0', vn)) {
			buf_reset(&p->last_id);
			buf_add(&p->last_id, v, vn);
		}
	} else if (name_is(f, fn, "retry")) {
		set_retry(p, v, vn);
	}
	return 0;
}

/* One complete line, without its terminator. */
static int process_line(struct sse_parser *p, const char *s, size_t n)
{
	const char *colon, *v;
	size_t fn, vn;

	if (!n)
		return dispatch(p);
	if (s[0] == ':')
		return 0;
	colon = memchr(s, ':', n);
	if (!colon)
		return field(p, s, n, s + n, 0);
	fn = (size_t)(colon - s);
	v = colon + 1;
	vn = n - fn - 1;
	if (vn && v[0] == ' ') {
		v++;
		vn--;
	}
	return field(p, s, fn, v, vn);
}

/* Eats a leading BOM, which may arrive split; its prefix waits in p->line. */
static size_t skip_bom(struct sse_parser *p, const char *bytes, size_t n)
{
	size_t i = 0;

	while (!p->bom_checked && i < n) {
		if (bytes[i] != bom[p->line.len]) {
			/* not a BOM: any prefix held so far is ordinary line content */
			p->bom_checked = 1;
			break;
		}
		buf_putc(&p->line, bytes[i++]);
		if (p->line.len == sizeof(bom)) {
			buf_reset(&p->line);
			p->bom_checked = 1;
		}
	}
	return i;
}

static size_t find_eol(const char *s, size_t i, size_t n)
{
	while (i < n && s[i] != '\n' && s[i] != '\r')
		i++;
	return i;
}

static int hold(struct sse_parser *p, const char *s, size_t n)
{
	if (p->line.len > max_event(p) || n > max_event(p) - p->line.len)
		return -1;
	buf_add(&p->line, s, n);
	return 0;
}

/*
 * Only the new bytes are scanned for line ends. A partial line waits in
 * p->line; a line that arrives whole is parsed straight from the caller's
 * bytes. Either way each byte is looked at once, so a huge event split into
 * many small chunks costs time linear in its size.
 */
int sse_feed(struct sse_parser *p, const char *bytes, size_t n)
{
	size_t i, j;
	int r;

	i = skip_bom(p, bytes, n);
	while (i < n) {
		if (p->saw_cr) {
			p->saw_cr = 0;
			if (bytes[i] == '\n') {
				i++;
				continue;
			}
		}
		j = find_eol(bytes, i, n);
		if (j == n || p->line.len) {
			if (hold(p, bytes + i, j - i))
				goto fail;
			if (j == n)
				break;
			r = process_line(p, p->line.data, p->line.len);
			recycle(&p->line);
		} else if (j - i > max_event(p)) {
			goto fail;
		} else {
			r = process_line(p, bytes + i, j - i);
		}
		p->saw_cr = bytes[j] == '\r';
		i = j + 1;
		if (r)
			return -1;
	}
	return 0;
fail:
	/* Nothing sensible can follow an oversized line: drop the event. */
	recycle(&p->line);
	end_event(p);
	return -1;
}
