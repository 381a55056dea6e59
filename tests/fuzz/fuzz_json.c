/*
 * fuzz_json.c - the JSON layer (src/json.c) on any bytes.
 *
 * Invariants:
 *   - json_validate, json_parse, json_parse_top (depths 0, 1, 2, 3 and
 *     JSON_MAX_DEPTH) and the resumable scanner fed in random pieces (the
 *     text moving between calls) accept and refuse the same documents, with
 *     the same reason (j->err) and the same tokens; once a piece makes the
 *     text impossible, every later call says so;
 *   - the tokens of an accepted document stay inside the text, have jsmn's
 *     layout (parents before children, a key has one value, sizes count the
 *     children), each token's bytes are valid JSON on their own, and
 *     json_next() skips exactly a value's subtree; they are jsmn's own
 *     tokens (jsmn is compiled in here as the reference), and
 *     json_parse_top's are those cut at its depth;
 *   - a refused document says why: a repeated key points at a key;
 *   - every string unescapes (unless it holds a lone surrogate, which the
 *     validator must have refused, once it refuses them), re-escapes with
 *     json_escape into a document that decodes to the same bytes, and
 *     json_streq and json_get find it by its decoded text;
 *   - no object holds a key twice, keys compared decoded (once the validator
 *     refuses repeated keys);
 *   - json_int agrees with strtoll on integers and refuses everything else;
 *   - json_escape of the raw input is valid JSON and decodes to the input
 *     with each invalid UTF-8 byte replaced by U+FFFD.
 */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "buf.h"
/* jsmn's own parser, compiled here: the reference for json_parse's tokens. */
#define MCPMUX_JSMN_IMPL
#define JSMN_STATIC
#include "json.h"

static const int depths[] = { 0, 1, 2, 3, JSON_MAX_DEPTH };
#define NDEPTHS (sizeof(depths) / sizeof(depths[0]))

/* Reused across inputs, as the program reuses its struct json. */
static struct json jfull, jtop, jesc, jpart;
static struct json_scan *scanner;
static jsmntok_t *ref;
static unsigned int refcap;

/* Rules json.c may not have yet: checked only once the validator applies them. */
static int rule_surrogates, rule_dup_keys;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char lone[] = "{\"\\ud800\":1}";
	static const char dup[] = "{\"a\":1,\"\\u0061\":2}";

	(void)argc;
	(void)argv;
	json_init(&jfull);
	json_init(&jtop);
	json_init(&jesc);
	json_init(&jpart);
	scanner = json_scan_new(&jpart, JSON_MAX_DEPTH);
	rule_surrogates = json_validate(lone, sizeof(lone) - 1) != 0;
	rule_dup_keys = json_validate(dup, sizeof(dup) - 1) != 0;
	if (!rule_surrogates)
		fprintf(stderr, "fuzz_json: json_validate accepts lone surrogate escapes in keys: "
			"that invariant is off\n");
	if (!rule_dup_keys)
		fprintf(stderr, "fuzz_json: json_validate accepts repeated keys: "
			"that invariant is off\n");
	return 0;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 1 when `anc` is i itself or one of its ancestors. */
static int descends(const struct json *j, int i, int anc)
{
	while (i > anc)
		i = j->tok[i].parent;
	return i == anc;
}

static void check_tokens(const struct json *j, const char *what)
{
	const char *js = j->js;
	size_t len = j->len, s, e, lo = 0, hi = len;
	int i, k, next, *kids;

	FUZZ_CHECK(j->ntok >= 1, "%s: accepted with no token", what);
	kids = calloc((size_t)j->ntok, sizeof(*kids));
	if (!kids)
		abort();
	for (i = 1; i < j->ntok; i++) {
		int p = j->tok[i].parent;

		FUZZ_CHECK(p >= 0 && p < i, "%s: token %d has parent %d", what, i, p);
		kids[p]++;
	}
	/* The root is the whole document without its surrounding white space. */
	while (lo < hi && is_ws(js[lo]))
		lo++;
	while (hi > lo && is_ws(js[hi - 1]))
		hi--;
	FUZZ_CHECK(j->tok[0].parent == -1, "%s: root has a parent", what);
	json_span(j, 0, &s, &e);
	FUZZ_CHECK(s == lo && e == hi, "%s: root spans %zu..%zu, document %zu..%zu",
		   what, s, e, lo, hi);
	for (i = 0; i < j->ntok; i++) {
		const jsmntok_t *t = &j->tok[i];
		int p = t->parent, key = p >= 0 && j->tok[p].type == JSMN_OBJECT;

		FUZZ_CHECK(t->start >= 0 && t->start <= t->end && (size_t)t->end <= len,
			   "%s: token %d at %d..%d of %zu", what, i, t->start, t->end, len);
		json_span(j, i, &s, &e);
		FUZZ_CHECK(s < e && e <= len, "%s: token %d spans %zu..%zu", what, i, s, e);
		FUZZ_CHECK(json_validate(js + s, e - s) == 0, "%s: token %d is not valid JSON alone",
			   what, i);
		switch (t->type) {
		case JSMN_OBJECT:
			FUZZ_CHECK(js[s] == '{' && js[e - 1] == '}', "%s: object %d", what, i);
			FUZZ_CHECK(kids[i] == t->size, "%s: object %d size %d, %d keys", what, i,
				   t->size, kids[i]);
			break;
		case JSMN_ARRAY:
			FUZZ_CHECK(js[s] == '[' && js[e - 1] == ']', "%s: array %d", what, i);
			FUZZ_CHECK(kids[i] == t->size, "%s: array %d size %d, %d elements", what, i,
				   t->size, kids[i]);
			break;
		case JSMN_STRING:
			FUZZ_CHECK(js[s] == '"' && js[e - 1] == '"', "%s: string %d", what, i);
			FUZZ_CHECK(t->size == (key ? 1 : 0) && kids[i] == t->size,
				   "%s: string %d size %d, %d children", what, i, t->size, kids[i]);
			break;
		case JSMN_PRIMITIVE:
			FUZZ_CHECK(strchr("tfn-0123456789", js[s]) && t->size == 0 && kids[i] == 0,
				   "%s: primitive %d", what, i);
			break;
		default:
			fuzz_fail("%s: token %d has type %d", what, i, (int)t->type);
		}
		if (key)
			FUZZ_CHECK(t->type == JSMN_STRING, "%s: key %d is not a string", what, i);
		if (p >= 0 && j->tok[p].type == JSMN_STRING) {
			FUZZ_CHECK(i == p + 1, "%s: value %d of key %d", what, i, p);
			FUZZ_CHECK(t->start > j->tok[p].end, "%s: value %d before its key", what, i);
		} else if (p >= 0) {
			FUZZ_CHECK(t->start > j->tok[p].start && t->end < j->tok[p].end,
				   "%s: token %d outside its container %d", what, i, p);
		}
		if (i > 0)
			FUZZ_CHECK(t->start > j->tok[i - 1].start, "%s: token %d out of order", what, i);
		FUZZ_CHECK(json_type(j, i) == (int)t->type && json_size(j, i) == t->size,
			   "%s: json_type/json_size of %d", what, i);
		/* json_next(): everything up to it descends from i, nothing after. On a
		   key it skips only the key's own bytes, to its value (as jsmn's spans
		   go); callers step from value to value, so keys are left out here. */
		next = json_next(j, i);
		if (key) {
			FUZZ_CHECK(next == i + 1, "%s: json_next(key %d) = %d", what, i, next);
			continue;
		}
		FUZZ_CHECK(next > i && next <= j->ntok, "%s: json_next(%d) = %d", what, i, next);
		for (k = i + 1; k < next; k++)
			FUZZ_CHECK(descends(j, k, i), "%s: json_next(%d) = %d passes %d", what, i,
				   next, k);
		FUZZ_CHECK(next == j->ntok || !descends(j, next, i),
			   "%s: json_next(%d) = %d stops inside", what, i, next);
	}
	FUZZ_CHECK(json_next(j, 0) == j->ntok, "%s: json_next(0) != ntok", what);
	FUZZ_CHECK(json_type(j, -1) == JSMN_UNDEFINED && json_type(j, j->ntok) == JSMN_UNDEFINED,
		   "%s: json_type out of range", what);
	free(kids);
}

static int tok_eq(const jsmntok_t *a, const jsmntok_t *b)
{
	return a->type == b->type && a->start == b->start && a->end == b->end &&
	       a->size == b->size && a->parent == b->parent;
}

/* jsmn's tokens cut at maxdepth, as json_parse_top must lay them out. */
static void check_top(const struct json *full, const struct json *top, int maxdepth)
{
	int *depth, *map, i, n = 0;

	depth = calloc((size_t)full->ntok, sizeof(*depth));
	map = calloc((size_t)full->ntok, sizeof(*map));
	if (!depth || !map)
		abort();
	for (i = 0; i < full->ntok; i++) {
		int p = full->tok[i].parent;
		jsmntok_t want;

		/* A key is one deeper than its object; a value as deep as its key. */
		depth[i] = p < 0 ? 0 : full->tok[p].type == JSMN_STRING ? depth[p] : depth[p] + 1;
		map[i] = -1;
		if (depth[i] > maxdepth)
			continue;
		want = full->tok[i];
		want.parent = p < 0 ? -1 : map[p];
		if (depth[i] == maxdepth && (want.type == JSMN_OBJECT || want.type == JSMN_ARRAY))
			want.size = 0;
		FUZZ_CHECK(n < top->ntok && tok_eq(&top->tok[n], &want),
			   "json_parse_top(%d): token %d differs from jsmn's token %d", maxdepth, n, i);
		map[i] = n++;
	}
	FUZZ_CHECK(n == top->ntok, "json_parse_top(%d): %d tokens, jsmn cut there has %d",
		   maxdepth, top->ntok, n);
	free(depth);
	free(map);
}

/* The raw content of a string token holds an unpaired \uD800-\uDFFF escape. */
static int has_lone_surrogate(const char *s, size_t n)
{
	size_t i = 0;
	unsigned long u, lo;

	while (i < n) {
		if (s[i] != '\\') {
			i++;
			continue;
		}
		if (s[i + 1] != 'u') {
			i += 2;
			continue;
		}
		u = strtoul((char[5]){ s[i + 2], s[i + 3], s[i + 4], s[i + 5], 0 }, NULL, 16);
		i += 6;
		if (u >= 0xdc00 && u <= 0xdfff)
			return 1;
		if (u >= 0xd800 && u <= 0xdbff) {
			if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u')
				return 1;
			lo = strtoul((char[5]){ s[i + 2], s[i + 3], s[i + 4], s[i + 5], 0 }, NULL, 16);
			if (lo < 0xdc00 || lo > 0xdfff)
				return 1;
			i += 6;
		}
	}
	return 0;
}

/* json_escape(s) must be one valid string that decodes to `want`. */
static void check_escape(const char *s, size_t n, const struct buf *want)
{
	struct buf esc = BUF_INIT, back = BUF_INIT;

	json_escape(&esc, s, n);
	FUZZ_CHECK(json_parse(&jesc, esc.data, esc.len) == 0, "json_escape output does not parse");
	FUZZ_CHECK(jesc.ntok == 1 && json_type(&jesc, 0) == JSMN_STRING,
		   "json_escape output is not one string");
	FUZZ_CHECK(json_string(&jesc, 0, &back) == 0, "json_escape output does not unescape");
	FUZZ_CHECK(back.len == want->len && !memcmp(buf_str(&back), buf_str(want), want->len),
		   "json_escape does not round-trip (%zu bytes in, %zu back)", want->len, back.len);
	buf_free(&esc);
	buf_free(&back);
}

static void check_strings(const struct json *j)
{
	struct buf s = BUF_INIT, raw = BUF_INIT;
	int i;

	for (i = 0; i < j->ntok; i++) {
		const jsmntok_t *t = &j->tok[i];
		size_t n;

		if (t->type != JSMN_STRING)
			continue;
		n = (size_t)(t->end - t->start);
		buf_reset(&raw);
		buf_add(&raw, j->js + t->start, n);
		FUZZ_CHECK(!memchr(raw.data, '\0', n), "string %d holds a raw NUL", i);
		buf_reset(&s);
		if (json_string(j, i, &s) != 0) {
			FUZZ_CHECK(has_lone_surrogate(raw.data, n),
				   "json_string(%d) fails on a string with no lone surrogate", i);
			/* A key token has size 1 (it is its value's parent). */
			FUZZ_CHECK(!rule_surrogates || t->size != 1,
				   "a key with a lone surrogate (string %d) passed validation", i);
			continue;
		}
		FUZZ_CHECK(!has_lone_surrogate(raw.data, n), "json_string(%d) took a lone surrogate", i);
		check_escape(buf_str(&s), s.len, &s);
		/* json_streq compares decoded text: the raw form only when it is the same. */
		FUZZ_CHECK(json_streq(j, i, raw.data) == (s.len == n && !memcmp(buf_str(&s), raw.data, n)),
			   "json_streq(%d) on its raw text", i);
		if (memchr(buf_str(&s), '\0', s.len))
			continue;	/* a C string cannot say it */
		FUZZ_CHECK(json_streq(j, i, buf_str(&s)), "json_streq(%d) refuses its decoded text", i);
		buf_putc(&s, 'x');
		FUZZ_CHECK(!json_streq(j, i, buf_str(&s)), "json_streq(%d) takes a longer text", i);
		if (s.len > 1) {
			s.data[s.len - 2] = '\0';
			FUZZ_CHECK(!json_streq(j, i, buf_str(&s)), "json_streq(%d) takes a prefix", i);
		}
	}
	buf_free(&s);
	buf_free(&raw);
}

/* Keys: none repeats, decoded (once refused); json_get finds each by its decoded text. */
static void check_objects(const struct json *j)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	int i, k, m, k2, m2;

	for (i = 0; i < j->ntok; i++) {
		if (j->tok[i].type != JSMN_OBJECT)
			continue;
		for (k = i + 1, m = 0; m < j->tok[i].size; m++, k = json_next(j, k + 1)) {
			int first = -1;

			buf_reset(&a);
			if (json_string(j, k, &a))
				continue;	/* a lone surrogate: no C string names it */
			buf_add(&a, "", 0);
			for (k2 = i + 1, m2 = 0; m2 < j->tok[i].size; m2++, k2 = json_next(j, k2 + 1)) {
				buf_reset(&b);
				if (json_string(j, k2, &b))
					continue;
				if (b.len != a.len || memcmp(buf_str(&a), buf_str(&b), a.len))
					continue;
				if (first < 0)
					first = k2 + 1;
				FUZZ_CHECK(!rule_dup_keys || k2 == k,
					   "object %d repeats a key (tokens %d and %d)", i, k, k2);
			}
			if (memchr(buf_str(&a), '\0', a.len))
				continue;
			FUZZ_CHECK(json_get(j, i, buf_str(&a)) == first, "json_get(%d, key %d) = %d, not %d",
				   i, k, json_get(j, i, buf_str(&a)), first);
		}
	}
	buf_free(&a);
	buf_free(&b);
}

static void check_scalars(const struct json *j)
{
	struct buf text = BUF_INIT;
	int i;

	for (i = 0; i < j->ntok; i++) {
		long long got, want;
		size_t n, k;
		char *end;
		int integer;

		if (j->tok[i].type != JSMN_PRIMITIVE) {
			FUZZ_CHECK(json_int(j, i, &got) != 0 && !json_is_true(j, i) && !json_is_null(j, i),
				   "token %d: a container or string taken for a scalar", i);
			continue;
		}
		n = (size_t)(j->tok[i].end - j->tok[i].start);
		buf_reset(&text);
		buf_add(&text, j->js + j->tok[i].start, n);
		FUZZ_CHECK(json_is_true(j, i) == !strcmp(text.data, "true"), "json_is_true(%d)", i);
		FUZZ_CHECK(json_is_null(j, i) == !strcmp(text.data, "null"), "json_is_null(%d)", i);
		integer = n > 0;
		for (k = text.data[0] == '-'; k < n; k++)
			if (text.data[k] < '0' || text.data[k] > '9')
				integer = 0;
		if (!integer) {
			FUZZ_CHECK(json_int(j, i, &got) != 0, "json_int took '%s'", text.data);
			continue;
		}
		errno = 0;
		want = strtoll(text.data, &end, 10);
		if (errno == ERANGE) {
			FUZZ_CHECK(json_int(j, i, &got) != 0, "json_int took out-of-range '%s'", text.data);
		} else {
			FUZZ_CHECK(json_int(j, i, &got) == 0 && got == want,
				   "json_int('%s') disagrees with strtoll", text.data);
		}
	}
	buf_free(&text);
}

/* json_escape of arbitrary bytes: invalid UTF-8 becomes U+FFFD, byte by byte. */
static void check_escape_raw(const char *s, size_t n)
{
	struct buf want = BUF_INIT;
	size_t i = 0, len;
	unsigned int cp;

	while (i < n) {
		len = json_utf8_next(s + i, n - i, &cp);
		if (len) {
			buf_add(&want, s + i, len);
			i += len;
		} else {
			buf_add(&want, "\xef\xbf\xbd", 3);
			i++;
		}
	}
	check_escape(s, n, &want);
	buf_free(&want);
}

/* jsmn's tokens for a document whose top level is not a primitive (jsmn's
   strict mode wants a delimiter after one). */
static void check_jsmn(const struct json *j, const char *js, size_t len)
{
	size_t lead = 0;
	jsmn_parser p;
	int r, i;

	while (lead < len && is_ws(js[lead]))
		lead++;
	if (!strchr("{[\"", js[lead]))
		return;
	for (;;) {
		if (!refcap) {
			refcap = 64;
			ref = malloc(refcap * sizeof(*ref));
		}
		if (!ref)
			abort();
		jsmn_init(&p);
		r = jsmn_parse(&p, js, len, ref, refcap);
		if (r != JSMN_ERROR_NOMEM)
			break;
		refcap *= 2;
		ref = realloc(ref, refcap * sizeof(*ref));
	}
	FUZZ_CHECK(r == j->ntok, "jsmn finds %d tokens, json_parse %d", r, j->ntok);
	for (i = 0; i < r; i++)
		FUZZ_CHECK(tok_eq(&ref[i], &j->tok[i]), "token %d differs from jsmn's", i);
}

static void same_tokens(const struct json *a, const struct json *b, const char *what)
{
	int i;

	FUZZ_CHECK(a->ntok == b->ntok, "%s: %d tokens, whole %d", what, b->ntok, a->ntok);
	for (i = 0; i < a->ntok; i++)
		FUZZ_CHECK(tok_eq(&a->tok[i], &b->tok[i]), "%s: token %d differs", what, i);
}

/* Why it was refused: a reason, a place in the text, and a key for a repeat. */
static void check_err(const struct json *j, const char *js, size_t len, int valid)
{
	if (valid) {
		FUZZ_CHECK(j->err == JSON_OK, "accepted with err %d", j->err);
		return;
	}
	FUZZ_CHECK(j->err == JSON_ERR_SYNTAX || j->err == JSON_ERR_DEPTH || j->err == JSON_ERR_DUPKEY ||
		   j->err == JSON_ERR_KEY, "refused with err %d", j->err);
	FUZZ_CHECK(j->err_at <= len, "err_at %zu past the end (%zu)", j->err_at, len);
	if (j->err == JSON_ERR_DUPKEY || j->err == JSON_ERR_KEY)
		FUZZ_CHECK(j->err_len >= 2 && j->err_at + j->err_len <= len && js[j->err_at] == '"' &&
			   js[j->err_at + j->err_len - 1] == '"', "a repeated key that is not a key");
	if (j->err == JSON_ERR_DEPTH)
		FUZZ_CHECK(js[j->err_at] == '[' || js[j->err_at] == '{', "too deep, not at a bracket");
}

/*
 * The scanner fed in pieces of random sizes, each call with the whole text
 * so far in a buffer that may move: the same verdict, reason and tokens.
 */
static void check_pieces(const char *js, size_t len, int maxdepth, const struct json *whole,
			 int valid, uint64_t seed)
{
	struct fuzz_rng rng;
	char *text = NULL;
	size_t have = 0, k;
	int r = 0, bad = 0;

	fuzz_rng_init(&rng, seed);
	json_scan_reset(scanner, maxdepth);
	while (have < len) {
		k = fuzz_chunk(&rng, len - have);
		/* a new buffer each time: the text moves, as a growing one would */
		free(text);
		text = malloc(have + k ? have + k : 1);
		if (!text)
			abort();
		memcpy(text, js, have + k);
		have += k;
		r = json_scan_feed(scanner, text, have);
		FUZZ_CHECK(!bad || r == -1, "json_scan_feed took more after refusing");
		if (r)
			bad = 1;
		FUZZ_CHECK(!(valid && r), "json_scan_feed refused a prefix of a valid document");
	}
	free(text);
	text = malloc(len ? len : 1);
	if (!text)
		abort();
	memcpy(text, js, len);
	r = json_scan_end(scanner, text, len);
	FUZZ_CHECK(!bad || r == -1, "json_scan_end took what json_scan_feed refused");
	FUZZ_CHECK((r == 0) == valid, "in pieces: %d, whole: %d (depth %d)", r, valid, maxdepth);
	FUZZ_CHECK(jpart.err == whole->err, "in pieces: err %d, whole %d", jpart.err, whole->err);
	if (valid) {
		FUZZ_CHECK(jpart.js == text && jpart.len == len, "json_scan_end: js/len");
		same_tokens(whole, &jpart, "in pieces");
	} else {
		FUZZ_CHECK(jpart.ntok == 0, "in pieces: tokens left after refusing");
	}
	free(text);
	jpart.js = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *js = (const char *)data;
	int valid = json_validate(js, size) == 0, parsed;
	uint64_t h = fuzz_hash(data, size);
	size_t d;

	parsed = json_parse(&jfull, js, size) == 0;
	FUZZ_CHECK(parsed == valid, "json_parse says %d, json_validate %d", parsed, valid);
	check_err(&jfull, js, size, valid);
	for (d = 0; d < NDEPTHS; d++) {
		int r = json_parse_top(&jtop, js, size, depths[d]);

		FUZZ_CHECK((r == 0) == valid, "json_parse_top(%d) says %d, json_validate %d",
			   depths[d], r, valid);
		FUZZ_CHECK(r == 0 || jtop.ntok == 0, "json_parse_top left tokens after refusing");
		FUZZ_CHECK(jtop.err == jfull.err, "json_parse_top(%d): err %d, json_parse %d",
			   depths[d], jtop.err, jfull.err);
		if (valid)
			check_top(&jfull, &jtop, depths[d]);
		check_pieces(js, size, depths[d], &jtop, valid, h + d);
	}
	if (parsed) {
		check_tokens(&jfull, "json_parse");
		check_jsmn(&jfull, js, size);
		check_strings(&jfull);
		check_objects(&jfull);
		check_scalars(&jfull);
	} else {
		FUZZ_CHECK(json_type(&jfull, 0) == JSMN_UNDEFINED, "json_parse left tokens after refusing");
	}
	check_escape_raw(js, size);
	json_release(&jfull);
	json_release(&jtop);
	json_release(&jpart);
	return 0;
}
