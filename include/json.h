/*
 * json.h - a thin layer over jsmn: validate, look up, iterate, unescape, escape.
 * Tokens come from jsmn (json_parse) or from the checking pass itself, in
 * jsmn's layout (json_parse_top: one pass, optionally not all the way down).
 *
 * mcpmux never builds a tree of JSON values. A struct json holds the text it
 * was parsed from (not owned: the caller keeps it alive and unchanged) and
 * jsmn's tokens, which are byte offsets into that text. That is what lets the
 * rest of the program splice: copy the bytes it received and rewrite only
 * the few values it owns (an id, a tool name).
 *
 * A struct json is owned by whoever embeds it (json_init / json_free); only
 * json.c writes its fields, and callers read tok, ntok, js, len and, after a
 * refusal, err, err_at and err_len.
 *
 * Token indexes are ints; -1 means "absent" everywhere.
 * String tokens: jsmn's start/end exclude the quotes; json_span() includes them.
 * Object members are stored as key, value, key, value ... after the object.
 */
#ifndef MCPMUX_JSON_H
#define MCPMUX_JSON_H

#include <stddef.h>

#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#ifndef MCPMUX_JSMN_IMPL
#define JSMN_HEADER		/* jsmn's token layout; its parser is the tests' reference */
#endif
#include <jsmn.h>

#include "buf.h"

/* Deeper documents are refused as invalid (protects every recursive user). */
#define JSON_MAX_DEPTH 256

/* Why a parse failed (struct json's err). */
enum json_err {
	JSON_OK,
	JSON_ERR_SYNTAX,	/* not RFC 8259 JSON (grammar, escapes, UTF-8) */
	JSON_ERR_DEPTH,		/* nested deeper than JSON_MAX_DEPTH */
	JSON_ERR_DUPKEY,	/* an object holds the same key twice */
	JSON_ERR_KEY,		/* a key with a lone surrogate escape (readers disagree on it) */
	JSON_ERR_SIZE		/* longer than 2 GiB */
};

struct json {
	const char *js;		/* the text, not owned */
	size_t len;		/* its length */
	jsmntok_t *tok;		/* tokens, owned; reused across json_parse() calls */
	int ntok;		/* tokens in use */
	unsigned int cap;	/* tokens allocated */
	int err;		/* enum json_err of the last parse */
	size_t err_at;		/* where it was found (a repeated key: its opening quote) */
	size_t err_len;		/* JSON_ERR_DUPKEY, _KEY: the key's length with its quotes */
};

/* Life cycle */
void json_init(struct json *j);
void json_free(struct json *j);
/* Gives back the tokens of a big document (kept when small, for reuse). */
void json_release(struct json *j);

/*
 * Parses exactly one JSON value, optionally surrounded by white space. The
 * text is checked against the RFC 8259 grammar (strict numbers, literals,
 * escapes, no control characters in strings, valid UTF-8, depth at most
 * JSON_MAX_DEPTH) and tokenized in the same pass. An object that holds a key
 * twice is refused, keys compared as decoded text ("a" and "\u0061" are the
 * same key): parsers disagree on which value wins, and mcpmux decides on
 * what it reads, so every message must mean one thing to every reader. For
 * the same reason a key may not hold a lone surrogate escape ("\ud800"
 * without its pair), which some parsers keep and others replace; in a value
 * it is allowed (a string cut in the middle of a pair is common).
 * Returns 0, or -1 for invalid JSON (j->err says why).
 */
int json_parse(struct json *j, const char *js, size_t len);

/*
 * The same check in one pass, tokenizing only values at most maxdepth deep
 * (the document is depth 0, its members or elements 1, theirs 2...). A
 * container at maxdepth is one token of size 0: its contents are checked but
 * not tokenized, so json_get() finds nothing in it. For messages mcpmux
 * forwards as they came and reads only near the top of (a tools/call
 * result): no jsmn pass over a result of many megabytes. Tokens are laid out
 * as jsmn's, so every function below works on them.
 */
int json_parse_top(struct json *j, const char *js, size_t len, int maxdepth);

/* The same check alone (repeated keys included), without tokens. 0 when valid. */
int json_validate(const char *js, size_t len);

/*
 * The same check and tokens, done as a message arrives in pieces, so that
 * a big message costs no more work when its last byte comes than a small
 * one. Each call gets the whole text so far (text may have moved since the
 * last call; the bytes already given must be unchanged) and looks only at
 * the new bytes. A scanner is owned by its creator; j is not owned.
 */
struct json_scan;
struct json_scan *json_scan_new(struct json *j, int maxdepth);
void json_scan_free(struct json_scan *sc);
/* Forgets the document: the next feed starts a new one. */
void json_scan_reset(struct json_scan *sc, int maxdepth);
/* 0 while text[0..len) can still become a valid document, -1 once it cannot. */
int json_scan_feed(struct json_scan *sc, const char *text, size_t len);
/* The document ends at len: 0 when it is valid; j then holds js, len and the tokens. */
int json_scan_end(struct json_scan *sc, const char *text, size_t len);

/* Navigation */
int json_next(const struct json *j, int i);	/* first index after i's subtree */
int json_get(const struct json *j, int obj, const char *key); /* value or -1 */
int json_type(const struct json *j, int i);	/* a jsmntype_t, JSMN_UNDEFINED for -1 */
int json_size(const struct json *j, int i);	/* members or elements */

/* Raw bytes of the value at i; strings include their quotes. */
void json_span(const struct json *j, int i, size_t *start, size_t *end);

/* True when i is a string whose text, escapes decoded, equals the UTF-8 s. */
int json_streq(const struct json *j, int i, const char *s);
/* True when i is the literal `true`. */
int json_is_true(const struct json *j, int i);
/* True when i is null or absent. */
int json_is_null(const struct json *j, int i);

/*
 * Values. Each returns 0 on success, -1 when i is absent or of another type.
 * json_string() appends the unescaped UTF-8 text to out (surrogate pairs
 * joined; lone surrogates are an error).
 */
int json_string(const struct json *j, int i, struct buf *out);
int json_int(const struct json *j, int i, long long *out);

/*
 * The valid UTF-8 character at s (n > 0 bytes): its length, with its code
 * point in *cp; 0 when it is not one (overlong forms, surrogates and code
 * points past U+10FFFF are refused, as everywhere in this module).
 */
size_t json_utf8_next(const char *s, size_t n, unsigned int *cp);

/* Writing */
/* Appends s[0..n) as a quoted JSON string. Invalid UTF-8 becomes U+FFFD. */
void json_escape(struct buf *out, const char *s, size_t n);
void json_escape_str(struct buf *out, const char *s);

#endif
