/* json.c - strict validation, jsmn tokens, and string escaping; see include/json.h. */
#define MCPMUX_JSMN_IMPL
#define JSMN_STATIC
#include "json.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && is_ws(s[i]))
		i++;
	return i;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t json_utf8_next(const char *s, size_t n, unsigned int *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len, k;
	unsigned int c;

	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		len = 2;
		c = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		len = 3;
		c = u[0] & 0x0f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		len = 4;
		c = u[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (k = 1; k < len; k++) {
		if ((u[k] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (u[k] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned int cp;

	return json_utf8_next((const char *)s, n, &cp);
}

/*
 * The high bit set in each byte of w that is '"', '\\', a control character
 * or not ASCII: what ends a run of plain string bytes. The borrow tricks can
 * also flag a byte above a flagged one, never below: the lowest flag is exact.
 */
static uint64_t word_special(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w) & high;
}

/* s[*pi] is the opening quote; on success *pi is just past the closing one. */
static int scan_string(const char *s, size_t *pi, size_t n)
{
	size_t i = *pi + 1, k, len;

	while (i < n) {
		unsigned char c;
		uint64_t w, m = 0;

		/* Plain ASCII is most of any string: skip it 8 bytes at a time
		   (little-endian: the lowest flagged byte is the first). */
		while (i + 8 <= n) {
			memcpy(&w, s + i, 8);
			m = word_special(w);
			if (m)
				break;
			i += 8;
		}
		if (m && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
			i += (size_t)__builtin_ctzll(m) >> 3;
		else
			while (i < n && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x80 &&
			       s[i] != '"' && s[i] != '\\')
				i++;
		if (i >= n)
			break;
		c = (unsigned char)s[i];
		if (c == '"') {
			*pi = i + 1;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (++i >= n)
				return -1;
			switch (s[i]) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				i++;
				continue;
			case 'u':
				if (n - i < 5)
					return -1;
				for (k = 1; k <= 4; k++)
					if (hexval(s[i + k]) < 0)
						return -1;
				i += 5;
				continue;
			default:
				return -1;
			}
		}
		len = utf8_seq((const unsigned char *)s + i, n - i);
		if (!len)
			return -1;
		i += len;
	}
	return -1;
}

static int scan_digits(const char *s, size_t *pi, size_t n)
{
	size_t i = *pi;

	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == *pi)
		return -1;
	*pi = i;
	return 0;
}

static int scan_number(const char *s, size_t *pi, size_t n)
{
	size_t i = *pi;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (scan_digits(s, &i, n))
		return -1;
	if (i < n && s[i] == '.') {
		i++;
		if (scan_digits(s, &i, n))
			return -1;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (scan_digits(s, &i, n))
			return -1;
	}
	*pi = i;
	return 0;
}

static int scan_literal(const char *s, size_t *pi, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	if (n - *pi < l || memcmp(s + *pi, lit, l) != 0)
		return -1;
	*pi += l;
	return 0;
}

/*
 * The parse state that emits tokens as the grammar is checked (see
 * json_parse_top). Token layout is jsmn's with JSMN_PARENT_LINKS: a key has
 * size 1 and is its value's parent; an object's size counts its keys.
 */
struct scan {
	struct json *j;		/* where tokens go, or NULL: check only */
	int maxdepth;		/* deeper values are not tokenized */
	int depth;		/* open containers */
	char open[JSON_MAX_DEPTH];	/* '{' or '[' per open container */
	int ctok[JSON_MAX_DEPTH];	/* its token, or -1 */
	int key[JSON_MAX_DEPTH];	/* an object's current key token, or -1 */
};

static int tok_add(struct json *j, jsmntype_t type, size_t start, size_t end, int parent)
{
	jsmntok_t *t;

	if ((unsigned int)j->ntok == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 64;
		j->tok = realloc(j->tok, j->cap * sizeof(*j->tok));
		if (!j->tok)
			abort();
	}
	t = &j->tok[j->ntok];
	t->type = type;
	t->start = (int)start;
	t->end = (int)end;
	t->size = 0;
	t->parent = parent;
	return j->ntok++;
}

/* A value starts at s[i] (already known to be in the grammar's place): its token. */
static int value_token(struct scan *sc, jsmntype_t type, size_t start, size_t end)
{
	struct json *j = sc->j;
	int d = sc->depth, parent = -1;

	if (!j || d > sc->maxdepth)
		return -1;
	if (d > 0) {
		parent = sc->open[d - 1] == '{' ? sc->key[d - 1] : sc->ctok[d - 1];
		if (sc->open[d - 1] == '{')
			j->tok[parent].size = 1;
		else
			j->tok[parent].size++;
	}
	return tok_add(j, type, start, end, parent);
}

/* Scans a scalar, or opens a container; returns 1 when a container opened. */
static int scan_value(const char *s, size_t *pi, size_t n, struct scan *sc)
{
	size_t st = *pi;
	int r, t;

	switch (s[st]) {
	case '{':
	case '[':
		if (sc->depth >= JSON_MAX_DEPTH)
			return -1;
		t = value_token(sc, s[st] == '{' ? JSMN_OBJECT : JSMN_ARRAY, st, st);
		sc->open[sc->depth] = s[st];
		sc->ctok[sc->depth] = t;
		sc->key[sc->depth] = -1;
		sc->depth++;
		(*pi)++;
		return 1;
	case '"':
		r = scan_string(s, pi, n);
		if (r == 0)
			value_token(sc, JSMN_STRING, st + 1, *pi - 1);
		return r;
	case 't':
		r = scan_literal(s, pi, n, "true");
		break;
	case 'f':
		r = scan_literal(s, pi, n, "false");
		break;
	case 'n':
		r = scan_literal(s, pi, n, "null");
		break;
	default:
		r = scan_number(s, pi, n);
		break;
	}
	if (r == 0)
		value_token(sc, JSMN_PRIMITIVE, st, *pi);
	return r;
}

/* An object key at s[*pi]. */
static int scan_key(const char *s, size_t *pi, size_t n, struct scan *sc)
{
	size_t st = *pi;
	int d = sc->depth;

	if (s[st] != '"' || scan_string(s, pi, n))
		return -1;
	if (sc->j && d <= sc->maxdepth) {
		sc->key[d - 1] = tok_add(sc->j, JSMN_STRING, st + 1, *pi - 1, sc->ctok[d - 1]);
		sc->j->tok[sc->ctok[d - 1]].size++;
	}
	return 0;
}

static void close_container(struct scan *sc, size_t end)
{
	int t = sc->ctok[--sc->depth];

	if (t >= 0)
		sc->j->tok[t].end = (int)end;
}

enum vstate {
	V_VALUE,	/* a value must come */
	V_FIRST,	/* just after '{' or '[': a member, an element, or the close */
	V_KEY,		/* an object key must come */
	V_AFTER		/* after a value: ',' or a close, or the end */
};

/* The grammar check, one pass; tokens too when sc->j is set. */
static int scan_doc(const char *s, size_t n, struct scan *sc)
{
	int r;
	enum vstate st = V_VALUE;
	size_t i = 0;

	sc->depth = 0;
	for (;;) {
		i = skip_ws(s, i, n);
		if (st == V_AFTER && sc->depth == 0)
			return i == n ? 0 : -1;
		if (i >= n)
			return -1;
		switch (st) {
		case V_FIRST:
			if (s[i] == (sc->open[sc->depth - 1] == '{' ? '}' : ']')) {
				close_container(sc, ++i);
				st = V_AFTER;
				break;
			}
			if (sc->open[sc->depth - 1] == '[') {
				st = V_VALUE;
				break;
			}
			/* an object's first key */
			__attribute__((fallthrough));
		case V_KEY:
			if (scan_key(s, &i, n, sc))
				return -1;
			i = skip_ws(s, i, n);
			if (i >= n || s[i] != ':')
				return -1;
			i++;
			st = V_VALUE;
			break;
		case V_VALUE:
			r = scan_value(s, &i, n, sc);
			if (r < 0)
				return -1;
			st = r ? V_FIRST : V_AFTER;
			break;
		case V_AFTER:
			if (s[i] == ',') {
				i++;
				st = sc->open[sc->depth - 1] == '{' ? V_KEY : V_VALUE;
			} else if (s[i] == (sc->open[sc->depth - 1] == '{' ? '}' : ']')) {
				close_container(sc, ++i);
			} else {
				return -1;
			}
			break;
		}
	}
}

int json_validate(const char *s, size_t n)
{
	struct scan sc;

	sc.j = NULL;
	sc.maxdepth = 0;
	return scan_doc(s, n, &sc);
}

int json_parse_top(struct json *j, const char *js, size_t len, int maxdepth)
{
	struct scan sc;

	j->js = js;
	j->len = len;
	j->ntok = 0;
	if (len > 0x7fffffffu)
		return -1;
	sc.j = j;
	sc.maxdepth = maxdepth;
	if (scan_doc(js, len, &sc)) {
		j->ntok = 0;
		return -1;
	}
	return 0;
}

void json_init(struct json *j)
{
	memset(j, 0, sizeof(*j));
}

void json_free(struct json *j)
{
	free(j->tok);
	json_init(j);
}

#define JSON_KEEP_TOKENS 4096

void json_release(struct json *j)
{
	if (j->cap > JSON_KEEP_TOKENS) {
		free(j->tok);
		j->tok = NULL;
		j->cap = 0;
		j->ntok = 0;
	}
}

/*
 * jsmn in strict mode wants a delimiter after a primitive, so a document that
 * is just `42` or `true` is tokenized here. The text is already validated.
 */
static int top_level_primitive(struct json *j, const char *js, size_t len)
{
	size_t s = skip_ws(js, 0, len), e = len;

	if (s >= len || js[s] == '{' || js[s] == '[' || js[s] == '"')
		return 0;
	while (e > s && is_ws(js[e - 1]))
		e--;
	memset(&j->tok[0], 0, sizeof(j->tok[0]));
	j->tok[0].type = JSMN_PRIMITIVE;
	j->tok[0].start = (int)s;
	j->tok[0].end = (int)e;
	j->tok[0].parent = -1;
	j->ntok = 1;
	return 1;
}

int json_parse(struct json *j, const char *js, size_t len)
{
	jsmn_parser p;
	int r;

	j->js = js;
	j->len = len;
	j->ntok = 0;
	if (len > 0x7fffffffu || json_validate(js, len))
		return -1;
	if (!j->cap) {
		j->cap = 64;
		j->tok = malloc(j->cap * sizeof(*j->tok));
		if (!j->tok)
			abort();
	}
	if (top_level_primitive(j, js, len))
		return 0;
	if (!j->cap) {
		j->cap = 64;
		j->tok = malloc(j->cap * sizeof(*j->tok));
		if (!j->tok)
			abort();
	}
	jsmn_init(&p);
	for (;;) {
		r = jsmn_parse(&p, js, len, j->tok, j->cap);
		if (r != JSMN_ERROR_NOMEM)
			break;
		j->cap *= 2;
		j->tok = realloc(j->tok, j->cap * sizeof(*j->tok));
		if (!j->tok)
			abort();
	}
	if (r < 1)
		return -1;
	j->ntok = (int)p.toknext;
	return 0;
}

int json_next(const struct json *j, int i)
{
	int k, end;

	if (i < 0 || i >= j->ntok)
		return j->ntok;
	end = j->tok[i].end;
	for (k = i + 1; k < j->ntok && j->tok[k].start < end; k++)
		;
	return k;
}

int json_type(const struct json *j, int i)
{
	if (i < 0 || i >= j->ntok)
		return JSMN_UNDEFINED;
	return j->tok[i].type;
}

int json_size(const struct json *j, int i)
{
	if (i < 0 || i >= j->ntok)
		return 0;
	return j->tok[i].size;
}

int json_get(const struct json *j, int obj, const char *key)
{
	int k, m;

	if (json_type(j, obj) != JSMN_OBJECT)
		return -1;
	k = obj + 1;
	for (m = 0; m < j->tok[obj].size; m++) {
		if (json_streq(j, k, key))
			return k + 1;
		k = json_next(j, k + 1);
	}
	return -1;
}

void json_span(const struct json *j, int i, size_t *start, size_t *end)
{
	size_t s = (size_t)j->tok[i].start, e = (size_t)j->tok[i].end;

	if (j->tok[i].type == JSMN_STRING) {
		s--;
		e++;
	}
	*start = s;
	*end = e;
}

int json_streq(const struct json *j, int i, const char *s)
{
	size_t n;

	if (json_type(j, i) != JSMN_STRING)
		return 0;
	n = (size_t)(j->tok[i].end - j->tok[i].start);
	return strlen(s) == n && memcmp(j->js + j->tok[i].start, s, n) == 0;
}

int json_is_true(const struct json *j, int i)
{
	return json_type(j, i) == JSMN_PRIMITIVE && j->js[j->tok[i].start] == 't';
}

int json_is_null(const struct json *j, int i)
{
	return i < 0 || (json_type(j, i) == JSMN_PRIMITIVE && j->js[j->tok[i].start] == 'n');
}

static void put_utf8(struct buf *out, unsigned int cp)
{
	char u[4];

	if (cp < 0x80) {
		buf_putc(out, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		buf_add(out, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		buf_add(out, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		buf_add(out, u, 4);
	}
}

static int hex4(const char *p, size_t avail, unsigned int *out)
{
	unsigned int v = 0;
	int k, h;

	if (avail < 4)
		return -1;
	for (k = 0; k < 4; k++) {
		h = hexval(p[k]);
		if (h < 0)
			return -1;
		v = (v << 4) | (unsigned int)h;
	}
	*out = v;
	return 0;
}

static const char *unescape_simple(char c)
{
	switch (c) {
	case '"': return "\"";
	case '\\': return "\\";
	case '/': return "/";
	case 'b': return "\b";
	case 'f': return "\f";
	case 'n': return "\n";
	case 'r': return "\r";
	case 't': return "\t";
	default: return NULL;
	}
}

int json_string(const struct json *j, int i, struct buf *out)
{
	const char *p, *e, *simple;
	unsigned int cp, lo;

	if (json_type(j, i) != JSMN_STRING)
		return -1;
	p = j->js + j->tok[i].start;
	e = j->js + j->tok[i].end;
	buf_reserve(out, (size_t)(e - p));
	while (p < e) {
		const char *run = p;

		while (p < e && *p != '\\')
			p++;
		buf_add(out, run, (size_t)(p - run));
		if (p >= e)
			break;
		if (++p >= e)
			return -1;
		if (*p != 'u') {
			simple = unescape_simple(*p);
			if (!simple)
				return -1;
			buf_putc(out, simple[0]);
			p++;
			continue;
		}
		if (hex4(p + 1, (size_t)(e - p - 1), &cp))
			return -1;
		p += 5;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return -1;	/* a low surrogate with no high one */
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (e - p < 6 || p[0] != '\\' || p[1] != 'u' ||
			    hex4(p + 2, (size_t)(e - p - 2), &lo) ||
			    lo < 0xdc00 || lo > 0xdfff)
				return -1;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			p += 6;
		}
		put_utf8(out, cp);
	}
	return 0;
}

int json_int(const struct json *j, int i, long long *out)
{
	const char *p;
	unsigned long long v = 0, limit;
	int neg = 0, k, n;

	if (json_type(j, i) != JSMN_PRIMITIVE)
		return -1;
	p = j->js + j->tok[i].start;
	n = j->tok[i].end - j->tok[i].start;
	k = 0;
	if (k < n && p[k] == '-') {
		neg = 1;
		k++;
	}
	if (k >= n)
		return -1;
	/* LLONG_MIN has no positive twin: the limit depends on the sign. */
	limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; k < n; k++) {
		unsigned int dgt = (unsigned int)(p[k] - '0');

		if (p[k] < '0' || p[k] > '9' || v > (limit - dgt) / 10)
			return -1;
		v = v * 10 + dgt;
	}
	if (neg)
		*out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
	else
		*out = (long long)v;
	return 0;
}

void json_escape(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run, len;

	buf_reserve(out, n + 2);
	buf_putc(out, '"');
	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		run = i;
		while (i < n && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x80 &&
		       s[i] != '"' && s[i] != '\\')
			i++;
		buf_add(out, s + run, i - run);
		if (i >= n)
			break;
		c = (unsigned char)s[i];
		if (c >= 0x80) {
			len = utf8_seq((const unsigned char *)s + i, n - i);
			if (len) {
				buf_add(out, s + i, len);
				i += len;
			} else {
				buf_puts(out, "\\ufffd");
				i++;
			}
			continue;
		}
		i++;
		switch (c) {
		case '"': buf_puts(out, "\\\""); break;
		case '\\': buf_puts(out, "\\\\"); break;
		case '\n': buf_puts(out, "\\n"); break;
		case '\r': buf_puts(out, "\\r"); break;
		case '\t': buf_puts(out, "\\t"); break;
		case '\b': buf_puts(out, "\\b"); break;
		case '\f': buf_puts(out, "\\f"); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			buf_add(out, u, 6);
		}
		}
	}
	buf_putc(out, '"');
}

void json_escape_str(struct buf *out, const char *s)
{
	json_escape(out, s, strlen(s));
}
