/*
 * fuzz.h - what every libFuzzer target in tests/fuzz/ shares: a failure that
 * says which invariant broke, a deterministic generator for chunk sizes, and
 * a count of the heap a call needs at its peak.
 *
 * A target is one file, tests/fuzz/fuzz_<name>.c, built with clang
 * -fsanitize=fuzzer,address,undefined (make fuzz). A broken invariant calls
 * fuzz_fail(), which aborts: libFuzzer then saves the input as a crash.
 * Everything here is static: each target includes this header once.
 */
#ifndef MCPMUX_FUZZ_H
#define MCPMUX_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <sanitizer/allocator_interface.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static inline void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static inline void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: invariant broken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define FUZZ_CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			fuzz_fail(__VA_ARGS__); \
	} while (0)

/* FNV-1a: a seed that follows the input, so a run replays exactly. */
static inline uint64_t fuzz_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* xorshift64*: never wall-clock, never rand(). */
struct fuzz_rng {
	uint64_t s;
};

static inline void fuzz_rng_init(struct fuzz_rng *r, uint64_t seed)
{
	r->s = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static inline uint64_t fuzz_rng_next(struct fuzz_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

/* A chunk size for feeding an incremental parser: mostly small, sometimes large. */
static inline size_t fuzz_chunk(struct fuzz_rng *r, size_t left)
{
	uint64_t x = fuzz_rng_next(r);
	size_t n;

	switch (x & 3) {
	case 0:
		n = 1;
		break;
	case 1:
		n = 1 + (size_t)((x >> 8) % 8);
		break;
	case 2:
		n = 1 + (size_t)((x >> 8) % 128);
		break;
	default:
		n = 1 + (size_t)((x >> 8) % 8192);
		break;
	}
	return n < left ? n : left;
}

/*
 * Heap in use, counted by the sanitizer allocator's hooks while a
 * measurement is open: fuzz_mem_begin(), the call, fuzz_mem_peak().
 */
static struct {
	int on;
	size_t live, peak;
} fuzz_mem;

static inline void fuzz_malloc_hook(const volatile void *p, size_t n)
{
	(void)p;
	if (!fuzz_mem.on)
		return;
	fuzz_mem.live += n;
	if (fuzz_mem.live > fuzz_mem.peak)
		fuzz_mem.peak = fuzz_mem.live;
}

static inline void fuzz_free_hook(const volatile void *p)
{
	size_t n;

	if (!fuzz_mem.on || !p)
		return;
	n = __sanitizer_get_allocated_size((const void *)p);
	fuzz_mem.live = n < fuzz_mem.live ? fuzz_mem.live - n : 0;
}

static inline void fuzz_mem_install(void)
{
	__sanitizer_install_malloc_and_free_hooks(fuzz_malloc_hook, fuzz_free_hook);
}

static inline void fuzz_mem_begin(void)
{
	fuzz_mem.live = 0;
	fuzz_mem.peak = 0;
	fuzz_mem.on = 1;
}

/* The most bytes that were allocated at once since fuzz_mem_begin(). */
static inline size_t fuzz_mem_peak(void)
{
	fuzz_mem.on = 0;
	return fuzz_mem.peak;
}

#endif
