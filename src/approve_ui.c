/* approve_ui.c - queue, pretty-printer and screen of `mcpmux approve`; see include/approve_ui.h. */
#include "xalloc.h"
#include "approve_ui.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approve_proto.h"
#include "list.h"

/* A remaining_ms past this is treated as this: keeps deadline arithmetic finite. */
#define MAX_WAIT_MS (100LL * 24 * 3600 * 1000)
/* Indentation of the arguments under "arguments:". */
#define ARGS_INDENT 4
/* At most this many "next:" rows; the rest are counted in one more row. */
#define MAX_NEXT 3



/* --- characters and columns --- */

/*
 * Decodes the UTF-8 character at s (n > 0 bytes); returns its length.
 * Invalid bytes are taken one at a time as U+FFFD, so callers always progress.
 */
static size_t utf8_next(const char *s, size_t n, unsigned int *cp)
{
	size_t len = json_utf8_next(s, n, cp);

	if (len)
		return len;
	*cp = 0xfffd;
	return 1;
}

struct range {
	unsigned int lo, hi;	/* inclusive */
};

/*
 * Characters a terminal must not get raw, sorted: controls, and everything
 * that hides or reorders text. The Unicode format characters (Cf) come from
 * Node 20's ICU (78.2, Unicode 17.0):
 *   node -e 'for (let c = 0; c < 0x110000; c++) if (/\p{Cf}/u.test(String.fromCodePoint(c))) ...'
 * merged with C0, DEL and C1 controls, U+2028/U+2029 (line and paragraph
 * separators), U+2065 (unassigned between the invisible operators and the
 * bidi isolates), the whole tags block E0000-E007F, the variation selectors
 * FE00-FE0F and E0100-E01EF, and the Mongolian free variation selectors
 * 180B-180D and 180F. Every bidi control (Bidi_Control) is a Cf character.
 * tests/unit/test_approve.c checks every code point of those classes
 * against data from Python's unicodedata, not against this table.
 */
static const struct range unsafe[] = {
	{ 0x0000, 0x001f }, { 0x007f, 0x009f }, { 0x00ad, 0x00ad }, { 0x0600, 0x0605 },
	{ 0x061c, 0x061c }, { 0x06dd, 0x06dd }, { 0x070f, 0x070f }, { 0x0890, 0x0891 },
	{ 0x08e2, 0x08e2 }, { 0x180b, 0x180f }, { 0x200b, 0x200f }, { 0x2028, 0x202e },
	{ 0x2060, 0x206f }, { 0xfe00, 0xfe0f }, { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb },
	{ 0x110bd, 0x110bd }, { 0x110cd, 0x110cd }, { 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 },
	{ 0x1d173, 0x1d17a }, { 0xe0000, 0xe007f }, { 0xe0100, 0xe01ef },
};

/* Binary search: the table is sorted and its ranges do not overlap. */
static int in_sorted(unsigned int cp, const struct range *r, size_t n)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (cp < r[mid].lo)
			hi = mid;
		else if (cp > r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

int approve_unsafe_char(unsigned int cp)
{
	/* U+FFFD stands for invalid bytes (utf8_next): shown as '?' too. */
	return cp == 0xfffd || in_sorted(cp, unsafe, sizeof(unsafe) / sizeof(unsafe[0]));
}

static int in_ranges(unsigned int cp, const struct range *r, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (cp >= r[k].lo && cp <= r[k].hi)
			return 1;
	return 0;
}

/* Columns of a safe character: combining marks 0, East Asian wide and emoji 2. */
static size_t char_cols(unsigned int cp)
{
	static const struct range zero[] = {
		{ 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd }, { 0x0610, 0x061a },
		{ 0x064b, 0x065f }, { 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff }, { 0x20d0, 0x20ff },
		{ 0xfe20, 0xfe2f },
	};
	static const struct range wide[] = {
		{ 0x1100, 0x115f }, { 0x2e80, 0x303e }, { 0x3041, 0x33ff }, { 0x3400, 0x4dbf },
		{ 0x4e00, 0x9fff }, { 0xa000, 0xa4cf }, { 0xac00, 0xd7a3 }, { 0xf900, 0xfaff },
		{ 0xfe30, 0xfe4f }, { 0xff00, 0xff60 }, { 0xffe0, 0xffe6 }, { 0x1f300, 0x1f64f },
		{ 0x1f900, 0x1f9ff }, { 0x20000, 0x2fffd }, { 0x30000, 0x3fffd },
	};

	if (cp < 0x300)
		return 1;
	if (in_ranges(cp, zero, sizeof(zero) / sizeof(zero[0])))
		return 0;
	return in_ranges(cp, wide, sizeof(wide) / sizeof(wide[0])) ? 2 : 1;
}

/*
 * Appends (when out is not NULL) the longest prefix of s[0..n) that fits in
 * `cols` columns, made safe; returns the bytes used and adds the columns to *used.
 */
static size_t put_safe(struct buf *out, const char *s, size_t n, size_t cols, size_t *used)
{
	size_t i = 0, len, w;
	unsigned int cp;

	while (i < n) {
		len = utf8_next(s + i, n - i, &cp);
		w = approve_unsafe_char(cp) ? 1 : char_cols(cp);
		if (*used + w > cols)
			break;
		if (out && approve_unsafe_char(cp))
			buf_putc(out, '?');
		else if (out)
			buf_add(out, s + i, len);
		*used += w;
		i += len;
	}
	return i;
}

size_t approve_cols(const char *s, size_t n)
{
	size_t used = 0;

	put_safe(NULL, s, n, (size_t)-1, &used);
	return used;
}

size_t approve_cut(struct buf *out, const char *s, size_t n, size_t cols)
{
	size_t used = 0, dots = cols < 3 ? cols : 3, k;

	if (approve_cols(s, n) <= cols)
		return put_safe(out, s, n, cols, &used);
	k = put_safe(out, s, n, cols - dots, &used);
	while (dots--)
		buf_putc(out, '.');
	return k;
}

/* --- pretty-printing --- */

/* The state of one approve_pretty() run. */
struct pp {
	const struct json *j;
	struct buf *out;
	struct buf line;	/* the line being built */
	size_t max_str;		/* string limit, 0 for none */
	size_t max_lines;	/* line limit, 0 for none */
	size_t lines;		/* lines so far, written or only counted */
	size_t written;		/* lines written */
	int shortened;		/* something was cut */
};

/* Whether the next line is written (or only counted). */
static int pp_live(const struct pp *p)
{
	return !p->max_lines || p->lines < p->max_lines;
}

static void pp_end(struct pp *p)
{
	if (pp_live(p)) {
		buf_add(p->out, p->line.data, p->line.len);
		buf_putc(p->out, '\n');
		p->written++;
	} else {
		p->shortened = 1;
	}
	p->lines++;
	buf_reset(&p->line);
}

/* Length of the character at s in a JSON string's raw text: an escape counts as one. */
static size_t raw_char(const char *s, size_t n)
{
	unsigned int cp;

	if (s[0] == '\\')
		return n >= 6 && s[1] == 'u' ? 6 : n >= 2 ? 2 : 1;
	return utf8_next(s, n, &cp);
}

/* Appends the raw text of a scalar, cut after max_str characters with a marker. */
static void pp_scalar(struct pp *p, int i)
{
	size_t start, end, k, chars = 0, keep = 0;
	int quoted = json_type(p->j, i) == JSMN_STRING;
	const char *s;

	json_span(p->j, i, &start, &end);
	if (quoted) {
		start++;
		end--;
	}
	s = p->j->js + start;
	for (k = 0; k < end - start; k += raw_char(s + k, end - start - k))
		if (++chars == p->max_str)
			keep = k + raw_char(s + k, end - start - k);
	if (!p->max_str || chars <= p->max_str) {
		buf_add(&p->line, s - quoted, end - start + 2 * (size_t)quoted);
		return;
	}
	p->shortened = 1;
	if (quoted)
		buf_putc(&p->line, '"');
	buf_add(&p->line, s, keep);
	buf_puts(&p->line, quoted ? "...\"" : "...");
	buf_printf(&p->line, " (+%zu chars)", chars - p->max_str);
}

/* Starts a line: indentation, then the member's key when there is one. */
static void pp_begin(struct pp *p, int depth, int key)
{
	int d;

	for (d = 0; d < depth; d++)
		buf_puts(&p->line, "  ");
	if (key >= 0) {
		pp_scalar(p, key);
		buf_puts(&p->line, ": ");
	}
}

/* One value and everything inside it; returns the token after its subtree. */
static int pp_value(struct pp *p, int i, int depth, int key, int comma)
{
	int type = json_type(p->j, i), n = json_size(p->j, i), k = i + 1, m;
	int obj = type == JSMN_OBJECT;

	if (pp_live(p))
		pp_begin(p, depth, key);
	if ((type != JSMN_OBJECT && type != JSMN_ARRAY) || n == 0) {
		if (pp_live(p)) {
			if (type == JSMN_OBJECT || type == JSMN_ARRAY)
				buf_puts(&p->line, obj ? "{}" : "[]");
			else
				pp_scalar(p, i);
			if (comma)
				buf_putc(&p->line, ',');
		}
		pp_end(p);
		return i + 1;
	}
	if (pp_live(p))
		buf_putc(&p->line, obj ? '{' : '[');
	pp_end(p);
	for (m = 0; m < n && k < p->j->ntok; m++) {
		if (obj)
			k = pp_value(p, k + 1, depth + 1, k, m + 1 < n);
		else
			k = pp_value(p, k, depth + 1, -1, m + 1 < n);
	}
	if (pp_live(p)) {
		pp_begin(p, depth, -1);
		buf_puts(&p->line, obj ? "}" : "]");
		if (comma)
			buf_putc(&p->line, ',');
	}
	pp_end(p);
	return k;
}

size_t approve_pretty(struct buf *out, const struct json *j, int i, size_t max_str,
		      size_t max_lines, size_t *total, int *shortened)
{
	struct pp p = { j, out, BUF_INIT, max_str, max_lines, 0, 0, 0 };

	if (json_type(j, i) == JSMN_UNDEFINED) {
		*total = 0;
		*shortened = 0;
		return 0;
	}
	pp_value(&p, i, 0, -1, 0);
	buf_free(&p.line);
	*total = p.lines;
	*shortened = p.shortened;
	return p.written;
}

void approve_fmt_left(char *out, size_t size, long long ms)
{
	long long s = ms <= 0 ? 0 : (ms + 999) / 1000;

	if (s < 60)
		snprintf(out, size, "%llds", s);
	else if (s < 3600)
		snprintf(out, size, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(out, size, "%lldh%02lldm", s / 3600, s / 60 % 60);
}

/* --- the queue --- */

void approve_queue_init(struct approve_queue *q)
{
	q->head = NULL;
	q->n = 0;
}

void approve_queue_free(struct approve_queue *q)
{
	struct approve_req *r;

	while ((r = q->head)) {
		q->head = r->next;
		approve_req_free(r);
	}
	q->n = 0;
}

/* The string member f, unescaped, or a copy of fallback when absent or not a string. */
static char *get_str(const struct json *j, enum approve_field f, const char *fallback)
{
	struct buf b = BUF_INIT;
	char *s;

	if (json_string(j, approve_field(j, f), &b) != 0) {
		buf_free(&b);
		return xstrdup(fallback);
	}
	/* json_string() of "" reserves room without writing the NUL: terminate it. */
	buf_add(&b, "", 0);
	s = xstrdup(buf_str(&b));
	buf_free(&b);
	return s;
}

/*
 * When the agent asked, in our clock: the broker has waited timeout_ms -
 * remaining_ms already. Arrival time when the message does not say.
 */
static long long get_asked(const struct json *j, long long now)
{
	long long timeout, left;

	if (json_int(j, approve_field(j, APPROVE_F_TIMEOUT_MS), &timeout) != 0 ||
	    json_int(j, approve_field(j, APPROVE_F_REMAINING_MS), &left) != 0 ||
	    timeout < left || left < 0 || timeout > MAX_WAIT_MS)
		return now;
	return now - (timeout - left);
}

/* remaining_ms, else timeout_ms, as a monotonic deadline; -1 when neither is a number. */
static long long get_deadline(const struct json *j, long long now)
{
	long long ms;

	if (json_int(j, approve_field(j, APPROVE_F_REMAINING_MS), &ms) != 0 &&
	    json_int(j, approve_field(j, APPROVE_F_TIMEOUT_MS), &ms) != 0)
		return -1;
	if (ms < 0)
		ms = 0;
	if (ms > MAX_WAIT_MS)
		ms = MAX_WAIT_MS;
	return now + ms;
}

/* The arguments, raw and pretty-printed for the compact view. */
static void set_args(struct approve_req *r, const struct json *j)
{
	int a = approve_field(j, APPROVE_F_ARGUMENTS);
	struct buf b = BUF_INIT;
	size_t start, end;

	if (a < 0 || json_is_null(j, a)) {
		r->args = xstrdup("{}");
		r->args_len = 2;
		r->pretty = xstrdup("{}\n");
		r->pretty_lines = r->total_lines = 1;
		return;
	}
	json_span(j, a, &start, &end);
	buf_add(&b, j->js + start, end - start);
	r->args = buf_detach(&b, &r->args_len);
	r->pretty_lines = approve_pretty(&b, j, a, APPROVE_MAX_STR, APPROVE_MAX_LINES,
					 &r->total_lines, &r->shortened);
	r->pretty = buf_detach(&b, NULL);
}

struct approve_req *approve_req_new(const struct json *j, const void *conn,
				    const char *hello_agent, long long now)
{
	struct approve_req *r;

	if (json_type(j, approve_field(j, APPROVE_F_ID)) != JSMN_STRING)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->conn = conn;
	r->id = get_str(j, APPROVE_F_ID, "");
	r->agent = get_str(j, APPROVE_F_AGENT,
			   hello_agent && *hello_agent ? hello_agent : "unknown agent");
	r->connector = get_str(j, APPROVE_F_CONNECTOR, "?");
	r->tool = get_str(j, APPROVE_F_TOOL, "?");
	r->upstream_tool = get_str(j, APPROVE_F_UPSTREAM_TOOL, "");
	r->label = get_str(j, APPROVE_F_LABEL, "");
	r->deadline = get_deadline(j, now);
	r->asked = get_asked(j, now);
	set_args(r, j);
	return r;
}

void approve_req_free(struct approve_req *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->agent);
	free(r->connector);
	free(r->tool);
	free(r->upstream_tool);
	free(r->label);
	free(r->args);
	free(r->pretty);
	free(r);
}

void approve_queue_add(struct approve_queue *q, struct approve_req *r)
{
	struct approve_req **pp, **at = NULL;

	for (pp = &q->head; *pp; pp = &(*pp)->next) {
		if ((*pp)->conn == r->conn && !strcmp((*pp)->id, r->id)) {
			/* Sent twice: the first one keeps its place in the line. */
			approve_req_free(r);
			return;
		}
		if (!at && (*pp)->asked > r->asked)
			at = pp;
	}
	if (!at)
		at = pp;
	r->next = *at;
	*at = r;
	q->n++;
}

struct approve_req *approve_queue_find(const struct approve_queue *q, const void *conn,
				       const char *id)
{
	struct approve_req *r;

	for (r = q->head; r; r = r->next)
		if (r->conn == conn && !strcmp(r->id, id))
			return r;
	return NULL;
}

/* Unlinks and frees every request that `match` selects; returns how many. */
static size_t remove_if(struct approve_queue *q,
			int (*match)(const struct approve_req *r, const void *arg), const void *arg)
{
	struct approve_req **pp = &q->head, *r;
	size_t n = 0;

	while ((r = *pp)) {
		if (match(r, arg)) {
			*pp = r->next;
			approve_req_free(r);
			q->n--;
			n++;
		} else {
			pp = &r->next;
		}
	}
	return n;
}

static int match_conn(const struct approve_req *r, const void *conn)
{
	return r->conn == conn;
}

static int match_expired(const struct approve_req *r, const void *now)
{
	return r->deadline >= 0 && *(const long long *)now >= r->deadline + APPROVE_EXPIRE_GRACE_MS;
}

int approve_queue_remove(struct approve_queue *q, const void *conn, const char *id)
{
	/* Ids are unique per broker (approve_queue_add): the first match is the only one. */
	struct approve_req *r = approve_queue_find(q, conn, id);

	if (!r)
		return 0;
	SLIST_REMOVE(q->head, r);
	approve_req_free(r);
	q->n--;
	return 1;
}

size_t approve_queue_drop_conn(struct approve_queue *q, const void *conn)
{
	return remove_if(q, match_conn, conn);
}

size_t approve_queue_expire(struct approve_queue *q, long long now)
{
	return remove_if(q, match_expired, &now);
}

long long approve_queue_next_tick(const struct approve_queue *q, long long now)
{
	const struct approve_req *r;
	long long best = -1, t, left;

	for (r = q->head; r; r = r->next) {
		if (r->deadline < 0)
			continue;
		left = r->deadline - now;
		/* Shown seconds round up: they change when `left` reaches a multiple of 1000. */
		if (left > 0)
			t = (left - 1) % 1000 + 1;
		else
			t = r->deadline + APPROVE_EXPIRE_GRACE_MS - now;
		if (t < 0)
			t = 0;
		if (best < 0 || t < best)
			best = t;
	}
	return best;
}

/* --- history --- */

void approve_history_add(struct approve_history *h, int good, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	int k;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (h->line[APPROVE_HISTORY - 1]) {
		/* Full: the oldest goes. */
		free(h->line[0]);
		for (k = 1; k < APPROVE_HISTORY; k++) {
			h->line[k - 1] = h->line[k];
			h->good[k - 1] = h->good[k];
		}
		h->line[APPROVE_HISTORY - 1] = NULL;
	}
	for (k = 0; h->line[k]; k++)
		;
	h->line[k] = buf_detach(&b, NULL);
	h->good[k] = good;
}

void approve_history_free(struct approve_history *h)
{
	int k;

	for (k = 0; k < APPROVE_HISTORY; k++) {
		free(h->line[k]);
		h->line[k] = NULL;
	}
}

/* --- the screen --- */

void approve_screen_init(struct approve_screen *s, size_t width, size_t height)
{
	/* Narrower than this, nothing is readable anyway; it keeps the arithmetic positive. */
	s->width = width < 20 ? 20 : width;
	s->height = height < 3 ? 3 : height;
	buf_init(&s->text);
	buf_init(&s->style);
	s->rows = 0;
}

void approve_screen_free(struct approve_screen *s)
{
	buf_free(&s->text);
	buf_free(&s->style);
	s->rows = 0;
}

static int screen_full(const struct approve_screen *s)
{
	return s->rows >= s->height;
}

static void row_begin(struct approve_screen *s, enum approve_style style)
{
	buf_putc(&s->style, (char)style);
	s->rows++;
}

/* One row: text cut to the width. */
static void row(struct approve_screen *s, enum approve_style style, const char *text)
{
	if (screen_full(s))
		return;
	row_begin(s, style);
	approve_cut(&s->text, text, strlen(text), s->width);
	buf_putc(&s->text, '\n');
}

static void rowf(struct approve_screen *s, enum approve_style style, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void rowf(struct approve_screen *s, enum approve_style style, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	row(s, style, buf_str(&b));
	buf_free(&b);
}

/*
 * Long lines wrap; a continuation row is indented two more than the line's
 * own indentation (at most half the width), so the JSON structure still shows.
 */
static size_t hang_of(const char *text, size_t n, size_t cols)
{
	size_t k = 0;

	while (k < n && text[k] == ' ')
		k++;
	k += 2;
	return k > cols / 2 ? cols / 2 : k;
}

/* Row `row` of a wrapped line, from text: appends it to out (when not NULL), returns its bytes. */
static size_t wrap_row(const char *text, size_t n, size_t cols, size_t hang, size_t row,
		       struct buf *out)
{
	size_t used = 0, k;
	unsigned int cp;

	for (k = 0; out && row && k < hang; k++)
		buf_putc(out, ' ');
	k = put_safe(out, text, n, row ? cols - hang : cols, &used);
	if (k == 0 && n > 0) {
		/* A wide character in a one-column space: show a stand-in, move on. */
		k = utf8_next(text, n, &cp);
		if (out)
			buf_putc(out, '?');
	}
	return k;
}

/* Rows that text[0..n) takes when wrapped to `cols` columns (at least 1). */
static size_t wrap_rows(const char *text, size_t n, size_t cols)
{
	size_t hang = hang_of(text, n, cols), i = 0, rows = 0;

	do {
		i += wrap_row(text + i, n - i, cols, hang, rows, NULL);
		rows++;
	} while (i < n);
	return rows;
}

/*
 * Rows skip, skip + 1, ... of text[0..n) wrapped after `indent` spaces, at
 * most max_rows of them. Returns the rows added.
 */
static size_t row_wrap(struct approve_screen *s, enum approve_style style, size_t indent,
		       const char *text, size_t n, size_t skip, size_t max_rows)
{
	size_t cols = s->width - indent, hang = hang_of(text, n, cols), i = 0, row = 0;
	size_t added = 0, k;

	do {
		if (row < skip) {
			i += wrap_row(text + i, n - i, cols, hang, row++, NULL);
			continue;
		}
		if (screen_full(s) || added == max_rows)
			break;
		row_begin(s, style);
		for (k = 0; k < indent; k++)
			buf_putc(&s->text, ' ');
		i += wrap_row(text + i, n - i, cols, hang, row++, &s->text);
		buf_putc(&s->text, '\n');
		added++;
	} while (i < n);
	return added;
}

/* The length of the line starting at p (up to '\n' or the end). */
static size_t line_len(const char *p)
{
	const char *nl = strchr(p, '\n');

	return nl ? (size_t)(nl - p) : strlen(p);
}

static void render_history(struct approve_screen *s, const struct approve_history *h)
{
	int k;

	if (!h || !h->line[0])
		return;
	row(s, APPROVE_PLAIN, "");
	for (k = 0; k < APPROVE_HISTORY && h->line[k]; k++)
		row(s, h->good[k] ? APPROVE_GOOD : APPROVE_BAD, h->line[k]);
}

static size_t history_rows(const struct approve_history *h)
{
	size_t n = 0;

	while (h && n < APPROVE_HISTORY && h->line[n])
		n++;
	return n ? n + 1 : 0;
}

static void render_waiting(struct approve_screen *s, const struct approve_view *v)
{
	size_t k, room;

	row(s, APPROVE_TITLE, "mcpmux approve - nothing to approve");
	row(s, APPROVE_PLAIN, "");
	if (v->nservers == 0 && v->nexited == 1) {
		rowf(s, APPROVE_PLAIN, "the mcpmux serve (pid %ld) exited; waiting for one to start...",
		     v->last_exited);
	} else if (v->nservers == 0 && v->nexited > 1) {
		rowf(s, APPROVE_PLAIN, "%zu mcpmux serves exited (the last: pid %ld); waiting for one "
		     "to start...", v->nexited, v->last_exited);
	} else if (v->nservers == 0) {
		row(s, APPROVE_PLAIN, "no mcpmux serve running yet; waiting...");
	} else {
		rowf(s, APPROVE_PLAIN, "attached to %zu mcpmux serve%s:", v->nservers,
		     v->nservers == 1 ? "" : "s");
		/* Keep room for the lines below the list. */
		room = s->height > s->rows + 6 + history_rows(v->hist) ?
		       s->height - s->rows - 6 - history_rows(v->hist) : 1;
		for (k = 0; k < v->nservers && k < room; k++)
			rowf(s, APPROVE_PLAIN, "  %s", v->servers[k]);
		if (k < v->nservers)
			rowf(s, APPROVE_DIM, "  ... and %zu more", v->nservers - k);
	}
	row(s, APPROVE_PLAIN, "");
	row(s, APPROVE_DIM, "Calls that need your approval will show up here.");
	for (k = 0; k < v->ndirs; k++)
		rowf(s, APPROVE_DIM, "%s %s", k ? "     and" : "watching", v->dirs[k]);
	row(s, APPROVE_KEYS, "  [q] quit");
	render_history(s, v->hist);
}

/* "next:" rows for the calls after the head. */
static void render_next(struct approve_screen *s, const struct approve_view *v)
{
	const struct approve_req *r;
	size_t k = 0;
	char left[32];

	if (v->q->n < 2)
		return;
	row(s, APPROVE_PLAIN, "");
	for (r = v->q->head->next; r && k < MAX_NEXT; r = r->next, k++) {
		if (r->deadline >= 0)
			approve_fmt_left(left, sizeof(left), r->deadline - v->now);
		rowf(s, APPROVE_PLAIN, "next: %s (%s) %s%s", r->tool, r->connector,
		     r->deadline >= 0 ? left : "no time limit", r->deadline >= 0 ? " left" : "");
	}
	if (v->q->n - 1 > MAX_NEXT)
		rowf(s, APPROVE_DIM, "      ... and %zu more", v->q->n - 1 - MAX_NEXT);
}

static size_t next_rows(const struct approve_queue *q)
{
	if (q->n < 2)
		return 0;
	return 1 + (q->n - 1 > MAX_NEXT ? MAX_NEXT + 1 : q->n - 1);
}

/* The arguments of the head call in at most `room` rows. */
static void render_args(struct approve_screen *s, const struct approve_req *r, size_t room)
{
	size_t cols = s->width - ARGS_INDENT, need = 0, shown = 0, n, k;
	const char *p;
	int cut;

	for (p = r->pretty; *p; p += n + (p[n] == '\n')) {
		n = line_len(p);
		need += wrap_rows(p, n, cols);
	}
	/* Cut strings carry their own marker; missing lines get a row that says so. */
	cut = need > room || r->pretty_lines < r->total_lines;
	if (cut && room > 1)
		room--;		/* the marker's row */
	for (p = r->pretty; *p && room > 0; p += n + (p[n] == '\n')) {
		n = line_len(p);
		k = wrap_rows(p, n, cols);
		if (k > room && shown > 0)
			break;
		row_wrap(s, APPROVE_PLAIN, ARGS_INDENT, p, n, 0, room);
		room -= k > room ? room : k;
		shown++;
	}
	if (!cut)
		return;
	if (r->total_lines > shown)
		rowf(s, APPROVE_DIM, "    ... %zu more line%s - press v to view all",
		     r->total_lines - shown, r->total_lines - shown == 1 ? "" : "s");
	else
		row(s, APPROVE_DIM, "    ... cut short - press v to view all");
}

static void render_request(struct approve_screen *s, const struct approve_view *v)
{
	const struct approve_req *r = v->q->head;
	size_t fixed, room;
	char left[32];

	rowf(s, APPROVE_TITLE, "mcpmux approve - %zu call%s waiting", v->q->n,
	     v->q->n == 1 ? "" : "s");
	row(s, APPROVE_PLAIN, "");
	rowf(s, APPROVE_STRONG, "%s wants to call %s", r->agent, r->tool);
	rowf(s, !strcmp(r->label, "read") ? APPROVE_PLAIN : APPROVE_WARN,
	     "  connector: %s   tool: %s   label: %s", r->connector,
	     *r->upstream_tool ? r->upstream_tool : r->tool, *r->label ? r->label : "?");
	if (r->deadline >= 0) {
		approve_fmt_left(left, sizeof(left), r->deadline - v->now);
		rowf(s, APPROVE_PLAIN, "  time left: %s", left);
	} else {
		row(s, APPROVE_PLAIN, "  time left: no time limit");
	}
	row(s, APPROVE_PLAIN, "  arguments:");
	/* Below the arguments: a blank, two rows of keys, the queue, history, notice. */
	fixed = s->rows + 3 + next_rows(v->q) + history_rows(v->hist);
	room = s->height > fixed + 1 ? s->height - fixed : 1;
	render_args(s, r, room);
	row(s, APPROVE_PLAIN, "");
	if (s->width >= 72) {
		row(s, APPROVE_KEYS,
		    "  [y] allow once   [a] allow this tool until its serve exits   [n] deny");
		row(s, APPROVE_KEYS, "  [v] view all arguments   [q] quit");
	} else {
		row(s, APPROVE_KEYS, "  [y] allow once  [a] always  [n] deny");
		row(s, APPROVE_KEYS, "  [v] view all  [q] quit");
	}
	render_next(s, v);
	render_history(s, v->hist);
}

/* `v`: the whole arguments of the head call, scrollable. */
static void render_full(struct approve_screen *s, struct approve_view *v)
{
	const struct approve_req *r = v->q->head;
	size_t body = s->height - 2, total = 0, skip, n, k;
	const char *p;
	char left[32] = "no time limit";

	for (p = v->full; *p; p += n + (p[n] == '\n')) {
		n = line_len(p);
		total += wrap_rows(p, n, s->width);
	}
	if (v->scroll + body > total)
		v->scroll = total > body ? total - body : 0;
	if (r->deadline >= 0) {
		approve_fmt_left(left, sizeof(left), r->deadline - v->now);
		strncat(left, " left", sizeof(left) - strlen(left) - 1);
	}
	rowf(s, APPROVE_TITLE, "arguments of %s (%s) - rows %zu-%zu of %zu - %s", r->tool,
	     r->connector, total ? v->scroll + 1 : 0,
	     v->scroll + body < total ? v->scroll + body : total, total, left);
	skip = v->scroll;
	for (p = v->full; *p && s->rows < s->height - 1; p += n + (p[n] == '\n')) {
		n = line_len(p);
		k = wrap_rows(p, n, s->width);
		if (skip >= k) {
			skip -= k;
			continue;
		}
		row_wrap(s, APPROVE_PLAIN, 0, p, n, skip, s->height - 1 - s->rows);
		skip = 0;
	}
	while (s->rows < s->height - 1)
		row(s, APPROVE_PLAIN, "");
	row(s, APPROVE_KEYS, "[j/k] scroll [space/b] page [v/q] back [y] allow once [a] always "
	    "[n] deny");
}

void approve_render(struct approve_screen *s, struct approve_view *v)
{
	int notice = v->notice && *v->notice && !v->full;

	buf_reset(&s->text);
	buf_reset(&s->style);
	s->rows = 0;
	/* The notice gets the last row, so nothing above can push it off. */
	if (notice)
		s->height--;
	if (!v->q->head)
		render_waiting(s, v);
	else if (v->full)
		render_full(s, v);
	else
		render_request(s, v);
	if (notice) {
		s->height++;
		row(s, APPROVE_WARN, v->notice);
	}
}
