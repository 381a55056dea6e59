/*
 * fuzz_lines.c - the line framer (src/lines.c) that reads the agent's stdin.
 *
 * The input is the byte stream. The cap and the feeding pattern come from the
 * input's hash: the cap from tiny to larger than the framer's keep size, the
 * chunks of random sizes (read into lines_space() as downstream.c does, with
 * room for 64 KiB or just the chunk), and a callback that sometimes asks to
 * stop, after which lines_take() is called again until nothing is left. In
 * one mode of three, each byte 0xff stands for 64 KiB of 'x', so that lines
 * far longer than the input reach the cap and the buffer shrinking.
 * Invariants:
 *   - the lines (text, or "too long") are the ones include/lines.h describes
 *     for the whole stream (a model below): a line is what comes before '\n',
 *     without it and one trailing '\r'; longer than the cap, it is reported
 *     once as too long, with no text;
 *   - a stopped lines_take() loses and repeats nothing;
 *   - after a full lines_take(), the bytes held are at most the cap, and a
 *     buffer that grew past the keep size is given back once it holds
 *     less than half of it.
 */
#include "fuzz.h"

#include <string.h>

#include "buf.h"
#include "lines.h"

#define KEEP		(256u << 10)	/* LINES_KEEP in src/lines.c */
#define BIG_RUN		(64u << 10)	/* what one 0xff stands for in the big mode */
#define MAX_STREAM	(16u << 20)

/* The lines seen, serialized: per line a flag byte, its length, its bytes. */
struct seen {
	struct buf out;
	size_t n;		/* lines */
	size_t stop_every;	/* the callback stops after every this many lines (0: never) */
	int stopped;		/* the last call stopped */
};

static void add_line(struct seen *s, const char *line, size_t n, int too_long)
{
	char flag = (char)(too_long ? 'L' : 'T');

	buf_add(&s->out, &flag, 1);
	buf_add(&s->out, &n, sizeof(n));
	buf_add(&s->out, line, n);
	s->n++;
}

static int on_line(void *arg, char *line, size_t n, int too_long)
{
	struct seen *s = arg;

	if (too_long) {
		FUZZ_CHECK(line == NULL && n == 0, "a too-long line came with text");
	} else {
		FUZZ_CHECK(line != NULL && line[n] == '\0', "line not NUL-terminated");
		FUZZ_CHECK(!memchr(line, '\n', n), "a line holds a newline");
		line[n] = '\0';	/* writable until we return */
	}
	add_line(s, line, n, too_long);
	return s->stop_every && s->n % s->stop_every == 0;
}

/* include/lines.h on the whole stream. */
static void model(struct seen *s, const char *p, size_t n, size_t max)
{
	size_t i = 0, e, len;

	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);

		if (!nl)
			break;
		e = (size_t)(nl - p);
		len = e - i;
		if (len && p[e - 1] == '\r')
			len--;
		if (len > max)
			add_line(s, NULL, 0, 1);
		else
			add_line(s, p + i, len, 0);
		i = e + 1;
	}
}

static void check_held(const struct lines *l, size_t max)
{
	size_t n = lines_pending(l);

	/* A line of exactly the cap may be held with its '\r', waiting for the '\n'. */
	FUZZ_CHECK(n <= max || (n - 1 == max && l->in.data[max] == '\r'),
		   "%zu bytes held, the cap is %zu", n, max);
	FUZZ_CHECK(l->in.cap <= KEEP || l->in.len > KEEP / 2,
		   "a buffer of %zu bytes is kept for %zu bytes", l->in.cap, l->in.len);
}

static void feed(struct seen *s, const char *p, size_t n, size_t max, uint64_t seed)
{
	struct lines l;
	struct fuzz_rng rng;
	size_t i = 0, k;

	fuzz_rng_init(&rng, seed);
	lines_init(&l, max);
	while (i < n) {
		uint64_t x = fuzz_rng_next(&rng);
		char *dst;

		k = fuzz_chunk(&rng, n - i);
		if (x & 1)
			k = n - i < BIG_RUN ? n - i : BIG_RUN;
		dst = lines_space(&l, (x & 2) ? 65536 > k ? 65536 : k : k);
		memcpy(dst, p + i, k);
		lines_commit(&l, k);
		i += k;
		while (lines_take(&l, on_line, s))
			;
		check_held(&l, max);
		/* A call with nothing new finds nothing. */
		if (x & 4) {
			size_t before = s->n;

			FUZZ_CHECK(lines_take(&l, on_line, s) == 0 && s->n == before,
				   "lines_take with no new bytes found a line");
		}
	}
	lines_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = { 0, 1, 2, 3, 7, 16, 100, 1000, KEEP / 2 + 1, KEEP + 5, 1u << 20 };
	uint64_t h = fuzz_hash(data, size);
	size_t max = caps[(h >> 4) % (sizeof(caps) / sizeof(caps[0]))], n = 0, i;
	struct buf stream = BUF_INIT;
	struct seen want = { BUF_INIT, 0, 0, 0 }, got = { BUF_INIT, 0, 0, 0 };

	if (h % 3 == 0) {
		for (i = 0; i < size && n <= MAX_STREAM; i++) {
			if (data[i] == 0xff) {
				buf_reserve(&stream, BIG_RUN);
				memset(stream.data + stream.len, 'x', BIG_RUN);
				stream.len += BIG_RUN;
				stream.data[stream.len] = '\0';
			} else {
				buf_putc(&stream, (char)data[i]);
			}
			n = stream.len;
		}
	} else {
		buf_add(&stream, data, size);
		n = size;
	}
	model(&want, buf_str(&stream), n, max);
	got.stop_every = (h >> 12) % 4;
	feed(&got, buf_str(&stream), n, max, h);
	FUZZ_CHECK(got.n == want.n, "%zu lines, the model has %zu (cap %zu)", got.n, want.n, max);
	FUZZ_CHECK(got.out.len == want.out.len &&
		   !memcmp(buf_str(&got.out), buf_str(&want.out), want.out.len),
		   "the lines differ from the model (cap %zu)", max);
	buf_free(&stream);
	buf_free(&want.out);
	buf_free(&got.out);
	return 0;
}
