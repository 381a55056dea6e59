/*
 * fuzz_approval.c - both ends of the approval protocol (docs/approval-protocol.md):
 * the broker's approve_decision_parse() (src/approve_proto.c), and the terminal's
 * queue and screen (src/approve_ui.c), as `mcpmux approve` drives them.
 *
 * The input is a session: one message per line, as a broker (or a terminal)
 * would send them. Every line goes to approve_decision_parse(); a line that
 * is a JSON object is then handled as cmd_approve.c does (hello sets the
 * agent, request joins the queue, withdrawn and decision leave it), from one
 * of three brokers; an empty line drops a broker. After each line the clock
 * moves on, expired calls go, and the screen is laid out at a size (from
 * 1x1 up), with a notice, history and the `v` view drawn from the input's hash.
 * Invariants:
 *   - a decision is only ever a "decision" object with a string id whose
 *     bytes lie in the line, and a key of y, a or n;
 *   - a request has every field, its arguments as sent (NUL-terminated), a
 *     pretty-print of pretty_lines lines (at most APPROVE_MAX_LINES, at most
 *     total_lines; shortened when cut), a deadline in range;
 *   - the queue: its count is its length, a request added can be found, one
 *     removed cannot, no (broker, id) twice, nothing past its deadline plus
 *     the grace after expiry;
 *   - the screen: at most height rows of at most width columns, one style
 *     byte per row, and only safe text (valid UTF-8, no control, format,
 *     bidi, tag or variation selector character, by a list written here and
 *     by approve_unsafe_char) whatever the broker sent.
 */
#include "fuzz.h"

#include <string.h>

#include "approve_proto.h"
#include "approve_ui.h"
#include "buf.h"
#include "json.h"

#define MAX_WAIT_MS	(100LL * 24 * 3600 * 1000)	/* approve_ui.c's cap on a deadline */
#define NCONN		3

struct session {
	struct approve_queue q;
	struct approve_history hist;
	struct json j, jd, jfull;
	char *agent[NCONN];	/* from each broker's hello */
	int conn[NCONN];	/* their identities: the queue keys by address */
	long long now;
	struct fuzz_rng rng;
};

/*
 * Characters a terminal must not get (include/approve_ui.h), written out
 * here independently: C0, DEL, C1; format characters (Cf) including every
 * bidi control; the tags block; the variation selectors. Not every Cf point
 * is listed, but none listed may reach the screen.
 */
static int unsafe(unsigned int cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xad ||
	       (cp >= 0x600 && cp <= 0x605) || cp == 0x61c || cp == 0x6dd || cp == 0x70f ||
	       cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x206f) ||
	       (cp >= 0xfe00 && cp <= 0xfe0f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
	       (cp >= 0x1d173 && cp <= 0x1d17a) || (cp >= 0xe0000 && cp <= 0xe007f) ||
	       (cp >= 0xe0100 && cp <= 0xe01ef);
}

static void check_decision(const char *line, size_t n, int rc, const char *id, size_t idn,
			   char key)
{
	struct buf q = BUF_INIT;

	if (rc != 0) {
		FUZZ_CHECK(rc == -1, "approve_decision_parse returned %d", rc);
		return;
	}
	FUZZ_CHECK(key == 'y' || key == 'a' || key == 'n', "decision key %d", key);
	FUZZ_CHECK(id >= line && id + idn <= line + n, "the id lies outside the line");
	FUZZ_CHECK(id > line && id[-1] == '"' && id[idn] == '"', "the id is not a string's bytes");
	buf_putc(&q, '"');
	buf_add(&q, id, idn);
	buf_putc(&q, '"');
	FUZZ_CHECK(json_validate(q.data, q.len) == 0, "the id is not a valid string");
	FUZZ_CHECK(memmem(line, n, "decision", 8), "a decision without the word");
	buf_free(&q);
}

static void check_req(const struct approve_req *r, long long now)
{
	size_t nl = 0;
	const char *p;

	FUZZ_CHECK(r->id && r->agent && r->connector && r->tool && r->upstream_tool && r->label &&
		   r->args && r->pretty, "a request field is missing");
	FUZZ_CHECK(r->args[r->args_len] == '\0', "arguments not NUL-terminated");
	for (p = r->pretty; *p; p++)
		nl += *p == '\n';
	FUZZ_CHECK(nl == r->pretty_lines, "pretty has %zu lines, pretty_lines says %zu", nl,
		   r->pretty_lines);
	FUZZ_CHECK(r->pretty_lines <= APPROVE_MAX_LINES && r->pretty_lines <= r->total_lines,
		   "pretty_lines %zu of %zu", r->pretty_lines, r->total_lines);
	FUZZ_CHECK(r->pretty_lines == r->total_lines || r->shortened, "cut but not shortened");
	FUZZ_CHECK(r->deadline == -1 || (r->deadline >= now && r->deadline <= now + MAX_WAIT_MS),
		   "deadline %lld at %lld", r->deadline, now);
}

static void check_queue(const struct approve_queue *q, long long now, int expired)
{
	const struct approve_req *r, *o;
	size_t n = 0;

	for (r = q->head; r; r = r->next) {
		n++;
		for (o = r->next; o; o = o->next)
			FUZZ_CHECK(o->conn != r->conn || strcmp(o->id, r->id),
				   "a (broker, id) is queued twice");
		if (expired)
			FUZZ_CHECK(r->deadline < 0 || now < r->deadline + APPROVE_EXPIRE_GRACE_MS,
				   "an expired call is still queued");
	}
	FUZZ_CHECK(n == q->n, "the queue has %zu calls, q->n says %zu", n, q->n);
	FUZZ_CHECK(approve_queue_next_tick(q, now) >= -1, "next tick");
}

static void check_screen(const struct approve_screen *s, size_t width, size_t height)
{
	const char *p = buf_str(&s->text), *nl;
	size_t rows = 0, i, len;
	unsigned int cp;

	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		FUZZ_CHECK(nl, "a row without its newline");
		FUZZ_CHECK(approve_cols(p, (size_t)(nl - p)) <= s->width,
			   "row %zu is %zu columns, the screen %zu", rows,
			   approve_cols(p, (size_t)(nl - p)), s->width);
		for (i = 0; p + i < nl; i += len) {
			len = json_utf8_next(p + i, (size_t)(nl - p) - i, &cp);
			FUZZ_CHECK(len, "row %zu holds invalid UTF-8", rows);
			FUZZ_CHECK(!unsafe(cp) && !approve_unsafe_char(cp), "row %zu holds U+%04X",
				   rows, cp);
		}
		rows++;
	}
	FUZZ_CHECK(rows == s->rows && s->style.len == s->rows, "rows %zu, s->rows %zu, styles %zu",
		   rows, s->rows, s->style.len);
	FUZZ_CHECK(rows <= s->height, "%zu rows on a screen of %zu", rows, s->height);
	FUZZ_CHECK(s->width >= width && s->height >= height, "the screen shrank");
}

static void render(struct session *se, const char *line, size_t n)
{
	static const char *const dirs[] = { "/run/user/1000/mcpmux", "/tmp/mcpmux-1000" };
	uint64_t x = fuzz_rng_next(&se->rng);
	size_t width = 1 + (size_t)(x % 140), height = 1 + (size_t)((x >> 8) % 50), total, k;
	const char *servers[NCONN];
	struct approve_screen s;
	struct approve_view v;
	struct buf full = BUF_INIT, notice = BUF_INIT;
	int cut;

	memset(&v, 0, sizeof(v));
	v.q = &se->q;
	v.hist = (x >> 16) & 1 ? &se->hist : NULL;
	v.dirs = dirs;
	v.ndirs = (size_t)((x >> 22) % 3);
	v.nexited = (size_t)((x >> 25) % 3);
	v.last_exited = 4242;
	for (k = 0; k < NCONN; k++)
		servers[k] = se->agent[k] ? se->agent[k] : "pid 4242  unknown agent";
	v.servers = servers;
	v.nservers = (size_t)((x >> 17) % (NCONN + 1));
	if ((x >> 20) & 1) {
		/* The broker's own bytes as a notice: they must come out safe too. */
		buf_add(&notice, line, n);
		v.notice = buf_str(&notice);
	}
	v.now = se->now;
	if ((x >> 21) & 1 && se->q.head) {
		const struct approve_req *r = se->q.head;

		if (json_parse(&se->jfull, r->args, r->args_len) == 0)
			approve_pretty(&full, &se->jfull, 0, 0, 0, &total, &cut);
		else
			buf_add(&full, r->args, r->args_len);
		v.full = buf_str(&full);
		v.scroll = (size_t)(x >> 24) % 4096;
	}
	approve_screen_init(&s, width, height);
	approve_render(&s, &v);
	check_screen(&s, width < 20 ? 20 : width, height < 3 ? 3 : height);
	approve_screen_free(&s);
	buf_free(&full);
	buf_free(&notice);
}

static char *string_member(const struct json *j, const char *key)
{
	struct buf b = BUF_INIT;

	if (json_string(j, json_get(j, 0, key), &b) != 0) {
		buf_free(&b);
		return NULL;
	}
	buf_add(&b, "", 0);
	return buf_detach(&b, NULL);
}

static void on_message(struct session *se, size_t c, const char *line, size_t n)
{
	const void *conn = &se->conn[c];
	struct json *j = &se->j;
	struct approve_req *r;
	int type;
	char *id;

	if (json_parse(j, line, n) != 0 || json_type(j, 0) != JSMN_OBJECT)
		return;
	type = json_get(j, 0, "type");
	if (json_streq(j, type, "hello")) {
		char *agent = string_member(j, "agent");

		if (agent) {
			free(se->agent[c]);
			se->agent[c] = agent;
		}
	} else if (json_streq(j, type, "request")) {
		r = approve_req_new(j, conn, se->agent[c], se->now);
		if (!r) {
			FUZZ_CHECK(json_type(j, json_get(j, 0, "id")) != JSMN_STRING,
				   "a request with a string id was refused");
			return;
		}
		check_req(r, se->now);
		id = strdup(r->id);
		if (!id)
			abort();
		approve_queue_add(&se->q, r);	/* r may be freed: a repeat */
		FUZZ_CHECK(approve_queue_find(&se->q, conn, id), "a request added is not found");
		free(id);
	} else if (json_streq(j, type, "withdrawn") || json_streq(j, type, "decision")) {
		id = string_member(j, "id");
		if (id) {
			approve_queue_remove(&se->q, conn, id);
			FUZZ_CHECK(!approve_queue_find(&se->q, conn, id), "a removed call is found");
			if (json_streq(j, type, "decision"))
				approve_history_add(&se->hist, 1, "allowed once: %s", id);
			free(id);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct session se;
	size_t k, c = 0;

	memset(&se, 0, sizeof(se));
	approve_queue_init(&se.q);
	json_init(&se.j);
	json_init(&se.jd);
	json_init(&se.jfull);
	se.now = 1000000;
	fuzz_rng_init(&se.rng, fuzz_hash(data, size));
	while (p < end) {
		const char *id = NULL;
		size_t n, idn = 0;
		char key = 0;
		int rc;

		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n && p[n - 1] == '\r')
			n--;
		rc = approve_decision_parse(&se.jd, p, n, &id, &idn, &key);
		check_decision(p, n, rc, id, idn, key);
		if (n == 0) {
			approve_queue_drop_conn(&se.q, &se.conn[c]);
		} else {
			on_message(&se, c, p, n);
		}
		check_queue(&se.q, se.now, 0);
		se.now += (long long)(fuzz_rng_next(&se.rng) % 200000);
		approve_queue_expire(&se.q, se.now);
		check_queue(&se.q, se.now, 1);
		render(&se, p, n);
		c = (c + 1 + (size_t)(fuzz_rng_next(&se.rng) % 2)) % NCONN;
		p += nl ? (size_t)(nl - p) + 1 : n;
		if (!nl)
			break;
	}
	approve_queue_free(&se.q);
	approve_history_free(&se.hist);
	for (k = 0; k < NCONN; k++)
		free(se.agent[k]);
	json_free(&se.j);
	json_free(&se.jd);
	json_free(&se.jfull);
	return 0;
}
