/* json.c - strict validation, jsmn tokens, and string escaping; see include/json.h. */
#include "json.h"
#include "xalloc.h"

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

/* 1 when s[0..n) (n < the sequence's length) can still become a valid UTF-8 character. */
static int utf8_partial(const unsigned char *s, size_t n)
{
	unsigned char buf[4];
	unsigned int cp;
	size_t len, k;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n >= len)
		return 0;
	/* Complete it with the smallest continuation bytes that could follow: if
	   even one completion is valid, more bytes may make it so. */
	memcpy(buf, s, n);
	for (k = n; k < len; k++)
		buf[k] = 0x80;
	for (k = 1; k < n; k++)
		if ((buf[k] & 0xc0) != 0x80)
			return 0;
	if (json_utf8_next((const char *)buf, len, &cp))
		return 1;
	/* E0 80..9F, F0 80..8F: too small whatever comes; ED A0..: a surrogate;
	   F4 90..: past U+10FFFF. Try the largest continuations too. */
	for (k = n; k < len; k++)
		buf[k] = 0xbf;
	return json_utf8_next((const char *)buf, len, &cp) != 0;
}

enum str_scan {
	STR_DONE,	/* the closing quote was reached */
	STR_MORE,	/* the text ends first: resume at *pi */
	STR_BAD		/* not a JSON string */
};

/*
 * Scans string content from *pi (just after the opening quote, or where a
 * previous call stopped, always a character boundary). *esc is set when a
 * backslash escape is seen. On STR_DONE *pi is just past the closing quote.
 */
static enum str_scan scan_str(const char *s, size_t *pi, size_t n, int *esc)
{
	size_t i = *pi, k, len;

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
			return STR_DONE;
		}
		if (c < 0x20)
			return STR_BAD;
		if (c == '\\') {
			*esc = 1;
			if (i + 1 >= n)
				break;
			switch (s[i + 1]) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				i += 2;
				continue;
			case 'u':
				for (k = 2; k < 6 && i + k < n; k++)
					if (hexval(s[i + k]) < 0)
						return STR_BAD;
				if (k < 6)
					goto more;
				i += 6;
				continue;
			default:
				return STR_BAD;
			}
		}
		len = utf8_seq((const unsigned char *)s + i, n - i);
		if (!len) {
			if (utf8_partial((const unsigned char *)s + i, n - i))
				break;
			return STR_BAD;
		}
		i += len;
	}
more:
	*pi = i;
	return STR_MORE;
}

/* --- keys: decoded code points, for comparing keys as every parser sees them --- */

/*
 * The next code point of a string's raw (escaped, already checked) content
 * at *pi. An escaped surrogate pair is one code point; a lone surrogate
 * escape is itself (JSON allows it; a JavaScript parser keeps it as a code
 * unit), so two keys compare equal exactly when their decoded texts do.
 */
static unsigned int key_next(const char *s, size_t n, size_t *pi)
{
	size_t i = *pi;
	unsigned int cp, lo;

	if (s[i] != '\\') {
		size_t len = json_utf8_next(s + i, n - i, &cp);

		*pi = i + (len ? len : 1);
		return len ? cp : 0xfffd;
	}
	if (s[i + 1] != 'u') {
		const char *e = "\"\\/bfnrt", *q = strchr(e, s[i + 1]);
		static const char val[] = "\"\\/\b\f\n\r\t";

		*pi = i + 2;
		return q ? (unsigned char)val[q - e] : 0xfffd;
	}
	cp = 0;
	hex4(s + i + 2, n - i - 2, &cp);
	*pi = i + 6;
	if (cp >= 0xd800 && cp <= 0xdbff && n - *pi >= 6 && s[*pi] == '\\' && s[*pi + 1] == 'u' &&
	    hex4(s + *pi + 2, n - *pi - 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
		*pi += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	return cp;
}

/* Keys of the objects open in a scan, for the duplicate check. */
struct keyspan {
	size_t start;		/* the raw content's first byte (after the quote) */
	size_t len;		/* raw length */
	int esc;		/* it holds an escape: compare decoded */
};

static int key_equal(const char *s, const struct keyspan *a, const struct keyspan *b)
{
	size_t i, k;
	const char *pa = s + a->start, *pb = s + b->start;

	if (!a->esc && !b->esc)
		return a->len == b->len && memcmp(pa, pb, a->len) == 0;
	for (i = k = 0; i < a->len && k < b->len;)
		if (key_next(pa, a->len, &i) != key_next(pb, b->len, &k))
			return 0;
	return i == a->len && k == b->len;
}

static uint64_t key_hash(const char *s, const struct keyspan *a)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i = 0;

	while (i < a->len) {
		h ^= key_next(s + a->start, a->len, &i);
		h *= 1099511628211ULL;
	}
	return h;
}

/* --- the scanner --- */

enum vstate {
	V_VALUE,	/* a value must come */
	V_FIRST,	/* just after '{' or '[': a member, an element, or the close */
	V_KEY,		/* an object key must come */
	V_COLON,	/* after a key */
	V_AFTER		/* after a value: ',' or a close, or the end */
};

enum lexeme {
	LEX_NONE,	/* between values */
	LEX_KEY,	/* inside a key string */
	LEX_STRING,	/* inside a string value */
	LEX_NUMBER,
	LEX_LITERAL	/* true, false, null */
};

/* Where a number is: after '-', after a leading 0, in the integer, after
   '.', in the fraction, after 'e', after its sign, in the exponent. */
enum numstate { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

/*
 * The parse state: resumable at any byte, so that a message can be checked
 * and tokenized while it arrives. Token layout is jsmn's with
 * JSMN_PARENT_LINKS: a key has size 1 and is its value's parent; an
 * object's size counts its keys.
 */
struct json_scan {
	struct json *j;		/* where tokens go, or NULL: check only */
	int maxdepth;		/* deeper values are not tokenized */
	int depth;		/* open containers */
	enum vstate st;
	enum lexeme lex;
	enum numstate num;	/* LEX_NUMBER */
	const char *lit;	/* LEX_LITERAL: "true", "false" or "null" */
	size_t start;		/* where the current lexeme began (strings: after the quote) */
	int esc;		/* the current string holds an escape */
	size_t pos;		/* bytes looked at so far */
	int failed;		/* an error was found: nothing more is looked at */
	char open[JSON_MAX_DEPTH];	/* '{' or '[' per open container */
	int ctok[JSON_MAX_DEPTH];	/* its token, or -1 */
	int key[JSON_MAX_DEPTH];	/* an object's current key token, or -1 */
	size_t kbase[JSON_MAX_DEPTH];	/* an object's first entry in keys */
	struct keyspan *keys;	/* keys of the open objects, innermost last */
	size_t nkeys, capkeys;
	size_t *slots;		/* scratch hash table for big objects */
	size_t nslots;
};

static void fail(struct json_scan *sc, int err, size_t at)
{
	sc->failed = 1;
	if (sc->j) {
		sc->j->err = err;
		sc->j->err_at = at;
		sc->j->ntok = 0;
	}
}

static int tok_add(struct json *j, jsmntype_t type, size_t start, size_t end, int parent)
{
	jsmntok_t *t;

	if ((unsigned int)j->ntok == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 64;
		j->tok = xrealloc(j->tok, j->cap, sizeof(*j->tok));
	}
	t = &j->tok[j->ntok];
	t->type = type;
	t->start = (int)start;
	t->end = (int)end;
	t->size = 0;
	t->parent = parent;
	return j->ntok++;
}

/* A value at the current depth: its token, or -1 when not tokenized. */
static int value_token(struct json_scan *sc, jsmntype_t type, size_t start, size_t end)
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

static void key_push(struct json_scan *sc, size_t start, size_t len, int esc)
{
	struct keyspan *k;

	if (sc->nkeys == sc->capkeys) {
		sc->capkeys = sc->capkeys ? sc->capkeys * 2 : 32;
		sc->keys = xrealloc(sc->keys, sc->capkeys, sizeof(*sc->keys));
	}
	k = &sc->keys[sc->nkeys++];
	k->start = start;
	k->len = len;
	k->esc = esc;
}

/* A repeated key among keys[from..nkeys): its index, or -1. */
static long find_repeat(struct json_scan *sc, const char *s, size_t from)
{
	size_t n = sc->nkeys - from, a, b, mask;
	const struct keyspan *k;

	if (n < 2)
		return -1;	/* keys is still NULL in a document's first, empty object */
	k = sc->keys + from;
	if (n <= 16) {
		for (a = 1; a < n; a++)
			for (b = 0; b < a; b++)
				if (key_equal(s, &k[a], &k[b]))
					return (long)(from + a);
		return -1;
	}
	if (sc->nslots < 2 * n) {
		while (sc->nslots < 2 * n)
			sc->nslots = sc->nslots ? sc->nslots * 2 : 64;
		free(sc->slots);
		sc->slots = xrealloc(NULL, sc->nslots, sizeof(*sc->slots));
	}
	mask = sc->nslots - 1;
	memset(sc->slots, 0, sc->nslots * sizeof(*sc->slots));
	for (a = 0; a < n; a++) {
		size_t i = (size_t)key_hash(s, &k[a]) & mask;

		for (; sc->slots[i]; i = (i + 1) & mask)
			if (key_equal(s, &k[a], &k[sc->slots[i] - 1]))
				return (long)(from + a);
		sc->slots[i] = a + 1;
	}
	return -1;
}

static int open_container(struct json_scan *sc, char c, size_t at)
{
	int d = sc->depth;

	if (d >= JSON_MAX_DEPTH) {
		fail(sc, JSON_ERR_DEPTH, at);
		return -1;
	}
	sc->ctok[d] = value_token(sc, c == '{' ? JSMN_OBJECT : JSMN_ARRAY, at, at);
	sc->open[d] = c;
	sc->key[d] = -1;
	sc->kbase[d] = sc->nkeys;
	sc->depth++;
	sc->st = V_FIRST;
	return 0;
}

static int close_container(struct json_scan *sc, const char *s, size_t end)
{
	int d = --sc->depth, t = sc->ctok[d];

	if (sc->open[d] == '{') {
		long rep = find_repeat(sc, s, sc->kbase[d]);

		if (rep >= 0) {
			fail(sc, JSON_ERR_DUPKEY, sc->keys[rep].start - 1);
			if (sc->j)
				sc->j->err_len = sc->keys[rep].len + 2;
			return -1;
		}
		sc->nkeys = sc->kbase[d];
	}
	if (t >= 0)
		sc->j->tok[t].end = (int)end;
	sc->st = V_AFTER;
	return 0;
}

/*
 * A key with an escaped surrogate that is not half of a pair. JSON allows it,
 * but readers disagree on what it is (JavaScript keeps the code unit, Go
 * makes it U+FFFD), so two such keys may be one key to some of them: a key
 * must mean one thing to every reader, like the whole object.
 */
static int key_has_lone_surrogate(const char *s, size_t start, size_t len)
{
	const char *p = s + start;
	size_t i = 0;

	while (i < len) {
		unsigned int cp = key_next(p, len, &i);

		if (cp >= 0xd800 && cp <= 0xdfff)
			return 1;
	}
	return 0;
}

/* A string, number or literal ended at s[end): its token and the next state (-1: refused). */
static int lexeme_done(struct json_scan *sc, const char *s, size_t end)
{
	int d = sc->depth;

	if (sc->lex == LEX_KEY) {
		if (sc->esc && key_has_lone_surrogate(s, sc->start, end - 1 - sc->start)) {
			fail(sc, JSON_ERR_KEY, sc->start - 1);
			if (sc->j)
				sc->j->err_len = end - sc->start + 1;
			return -1;
		}
		if (sc->j && d <= sc->maxdepth) {
			sc->key[d - 1] = tok_add(sc->j, JSMN_STRING, sc->start, end - 1, sc->ctok[d - 1]);
			sc->j->tok[sc->ctok[d - 1]].size++;
		}
		key_push(sc, sc->start, end - 1 - sc->start, sc->esc);
		sc->st = V_COLON;
	} else if (sc->lex == LEX_STRING) {
		value_token(sc, JSMN_STRING, sc->start, end - 1);
		sc->st = V_AFTER;
	} else {
		value_token(sc, JSMN_PRIMITIVE, sc->start, end);
		sc->st = V_AFTER;
	}
	sc->lex = LEX_NONE;
	return 0;
}

/* Goes on with the number at pos: 1 when it ended (at pos), 0 when the text ends first, -1 bad. */
static int scan_num(struct json_scan *sc, const char *s, size_t n, int at_end)
{
	size_t i = sc->pos;

	for (; i < n; i++) {
		char c = s[i];
		int digit = c >= '0' && c <= '9';

		switch (sc->num) {
		case N_MINUS:
			if (!digit)
				goto bad;
			sc->num = c == '0' ? N_ZERO : N_INT;
			continue;
		case N_ZERO:
		case N_INT:
			if (digit && sc->num == N_INT)
				continue;
			if (c == '.')
				sc->num = N_DOT;
			else if (c == 'e' || c == 'E')
				sc->num = N_E;
			else
				goto ended;
			continue;
		case N_DOT:
		case N_FRAC:
			if (digit)
				sc->num = N_FRAC;
			else if (sc->num == N_DOT)
				goto bad;
			else if (c == 'e' || c == 'E')
				sc->num = N_E;
			else
				goto ended;
			continue;
		case N_E:
			if (c == '+' || c == '-') {
				sc->num = N_ESIGN;
				continue;
			}
			__attribute__((fallthrough));
		case N_ESIGN:
		case N_EXP:
			if (digit)
				sc->num = N_EXP;
			else if (sc->num != N_EXP)
				goto bad;
			else
				goto ended;
			continue;
		}
	}
	sc->pos = i;
	if (!at_end)
		return 0;
ended:
	sc->pos = i;
	if (sc->num == N_MINUS || sc->num == N_DOT || sc->num == N_E || sc->num == N_ESIGN)
		goto bad;
	return 1;
bad:
	fail(sc, JSON_ERR_SYNTAX, i);
	return -1;
}

/* Goes on with the lexeme at pos: 1 when it ended, 0 when the text ends first, -1 bad. */
static int scan_lexeme(struct json_scan *sc, const char *s, size_t n, int at_end)
{
	size_t want, have, k;

	switch (sc->lex) {
	case LEX_KEY:
	case LEX_STRING:
		switch (scan_str(s, &sc->pos, n, &sc->esc)) {
		case STR_DONE:
			return 1;
		case STR_MORE:
			break;
		case STR_BAD:
			fail(sc, JSON_ERR_SYNTAX, sc->pos);
			return -1;
		}
		if (!at_end)
			return 0;
		fail(sc, JSON_ERR_SYNTAX, n);
		return -1;
	case LEX_NUMBER:
		return scan_num(sc, s, n, at_end);
	case LEX_LITERAL:
		want = strlen(sc->lit);
		have = sc->pos - sc->start;
		for (k = have; k < want && sc->pos < n; k++, sc->pos++)
			if (s[sc->pos] != sc->lit[k]) {
				fail(sc, JSON_ERR_SYNTAX, sc->pos);
				return -1;
			}
		if (k == want)
			return 1;
		if (!at_end)
			return 0;
		fail(sc, JSON_ERR_SYNTAX, n);
		return -1;
	case LEX_NONE:
		break;
	}
	return 1;
}

/* Starts the value at s[i]. */
static int begin_value(struct json_scan *sc, const char *s, size_t i)
{
	char c = s[i];

	sc->start = i;
	sc->pos = i + 1;
	switch (c) {
	case '{':
	case '[':
		return open_container(sc, c, i);
	case '"':
		sc->lex = LEX_STRING;
		sc->start = i + 1;
		sc->esc = 0;
		return 0;
	case 't':
		sc->lit = "true";
		break;
	case 'f':
		sc->lit = "false";
		break;
	case 'n':
		sc->lit = "null";
		break;
	case '-':
		sc->lex = LEX_NUMBER;
		sc->num = N_MINUS;
		return 0;
	default:
		if (c < '0' || c > '9') {
			fail(sc, JSON_ERR_SYNTAX, i);
			return -1;
		}
		sc->lex = LEX_NUMBER;
		sc->num = c == '0' ? N_ZERO : N_INT;
		return 0;
	}
	sc->lex = LEX_LITERAL;
	return 0;
}

/* One grammar step at s[i] (not white space, outside any lexeme). */
static int step(struct json_scan *sc, const char *s, size_t i)
{
	char c = s[i], close;

	switch (sc->st) {
	case V_FIRST:
		close = sc->open[sc->depth - 1] == '{' ? '}' : ']';
		if (c == close) {
			sc->pos = i + 1;
			return close_container(sc, s, i + 1);
		}
		if (close == ']')
			return begin_value(sc, s, i);
		__attribute__((fallthrough));
	case V_KEY:
		if (c != '"')
			break;
		sc->lex = LEX_KEY;
		sc->start = i + 1;
		sc->pos = i + 1;
		sc->esc = 0;
		return 0;
	case V_COLON:
		if (c != ':')
			break;
		sc->pos = i + 1;
		sc->st = V_VALUE;
		return 0;
	case V_VALUE:
		return begin_value(sc, s, i);
	case V_AFTER:
		if (sc->depth == 0)
			break;	/* text after the document */
		close = sc->open[sc->depth - 1] == '{' ? '}' : ']';
		sc->pos = i + 1;
		if (c == ',') {
			sc->st = close == '}' ? V_KEY : V_VALUE;
			return 0;
		}
		if (c == close)
			return close_container(sc, s, i + 1);
		break;
	}
	fail(sc, JSON_ERR_SYNTAX, i);
	return -1;
}

/* Scans on from pos through s[0..n); at_end: nothing follows. */
static int scan_run(struct json_scan *sc, const char *s, size_t n, int at_end)
{
	int r;

	if (sc->failed)
		return -1;
	if (n > 0x7fffffffu) {
		fail(sc, JSON_ERR_SIZE, 0);
		return -1;
	}
	for (;;) {
		if (sc->lex != LEX_NONE) {
			r = scan_lexeme(sc, s, n, at_end);
			if (r <= 0)
				return r;
			if (lexeme_done(sc, s, sc->pos))
				return -1;
			continue;
		}
		sc->pos = skip_ws(s, sc->pos, n);
		if (sc->pos >= n)
			break;
		if (step(sc, s, sc->pos))
			return -1;
	}
	if (at_end && (sc->st != V_AFTER || sc->depth != 0)) {
		fail(sc, JSON_ERR_SYNTAX, n);
		return -1;
	}
	return 0;
}

static void scan_start(struct json_scan *sc, struct json *j, int maxdepth)
{
	sc->j = j;
	sc->maxdepth = maxdepth;
	sc->depth = 0;
	sc->st = V_VALUE;
	sc->lex = LEX_NONE;
	sc->pos = 0;
	sc->failed = 0;
	sc->nkeys = 0;
	if (j) {
		j->ntok = 0;
		j->err = JSON_OK;
		j->err_at = 0;
		j->err_len = 0;
	}
}

struct json_scan *json_scan_new(struct json *j, int maxdepth)
{
	struct json_scan *sc = xcalloc(1, sizeof(*sc));

	scan_start(sc, j, maxdepth);
	return sc;
}

void json_scan_reset(struct json_scan *sc, int maxdepth)
{
	scan_start(sc, sc->j, maxdepth);
}

/* The scratch a scanner grew (its key spans and hash slots). */
static void scan_release(struct json_scan *sc)
{
	free(sc->keys);
	free(sc->slots);
}

void json_scan_free(struct json_scan *sc)
{
	if (!sc)
		return;
	scan_release(sc);
	free(sc);
}

int json_scan_feed(struct json_scan *sc, const char *text, size_t len)
{
	return scan_run(sc, text, len, 0);
}

int json_scan_end(struct json_scan *sc, const char *text, size_t len)
{
	int r = scan_run(sc, text, len, 1);

	if (sc->j) {
		sc->j->js = text;
		sc->j->len = len;
		if (r)
			sc->j->ntok = 0;
	}
	return r;
}

/* One whole document, in one call: with a scanner on the stack's worth of state. */
static int scan_whole(struct json *j, const char *js, size_t len, int maxdepth)
{
	struct json_scan sc;
	int r;

	memset(&sc, 0, sizeof(sc));
	scan_start(&sc, j, maxdepth);
	r = scan_run(&sc, js, len, 1);
	scan_release(&sc);
	return r;
}

int json_validate(const char *s, size_t n)
{
	return scan_whole(NULL, s, n, 0);
}

int json_parse_top(struct json *j, const char *js, size_t len, int maxdepth)
{
	int r;

	j->js = js;
	j->len = len;
	r = scan_whole(j, js, len, maxdepth);
	if (r)
		j->ntok = 0;
	return r;
}

int json_parse(struct json *j, const char *js, size_t len)
{
	return json_parse_top(j, js, len, JSON_MAX_DEPTH);
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
	size_t n, sn = strlen(s), k = 0, m = 0;
	const char *raw;

	if (json_type(j, i) != JSMN_STRING)
		return 0;
	raw = j->js + j->tok[i].start;
	n = (size_t)(j->tok[i].end - j->tok[i].start);
	/* An escaped form ("tools\/call", "n\u0061me") means what it decodes to. */
	if (!memchr(raw, '\\', n))
		return n == sn && memcmp(raw, s, n) == 0;
	if (n < sn)
		return 0;
	while (k < n && m < sn) {
		unsigned int a = key_next(raw, n, &k), b;
		size_t len = json_utf8_next(s + m, sn - m, &b);

		if (!len || a != b)
			return 0;
		m += len;
	}
	return k == n && m == sn;
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
