/*
 * fuzz_localstore.c - the local store's readers (src/localstore.c): the
 * header decoder and the plaintext entry parser, reached by including the
 * source (they are static). Fuzzing the AEAD itself would be pointless: the
 * input is also encrypted here under a fixed key, so decrypt_file() runs its
 * real path into the entry parser.
 *
 * Each input is tried as all three: a store file's header, a plaintext, and
 * a plaintext sealed into a store file. Invariants:
 *   - hdr_decode accepts only what include/localstore.h allows (version 1, a
 *     known kdf, parameters in bounds, a file long enough for a tag and a
 *     count), and hdr_encode of what it decoded gives the same 72 bytes;
 *   - parse_entries accepts only a canonical plaintext: written again from
 *     its entries, it is the same bytes; names are valid and strictly
 *     ascending, values 1..16384 bytes without NUL; find() finds each name;
 *     tail_of() shows at most 4 printable characters, at most a quarter;
 *   - a refusal always says why (err), and decrypt_file agrees with
 *     parse_entries on the sealed plaintext;
 *   - the raw input as a whole file never decrypts under the fixed key.
 */
#include "fuzz.h"

#include "../../src/localstore.c"

#define SEAL_MAX	(1u << 20)	/* plaintexts sealed; larger ones only parsed */

static struct localstore store;		/* a key-file store with a fixed key */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	memset(&store, 0, sizeof(store));
	store.path = "fuzz-store";
	store.kdf.version = VERSION;
	store.kdf.kdf = KDF_KEYFILE;
	store.key = secret_alloc(KEY_LEN);
	memset(store.key, 0x5a, KEY_LEN);
	sodium_mprotect_noaccess(store.key);
	return 0;
}

static void check_header(const uint8_t *data, size_t size)
{
	struct buf err = BUF_INIT;
	struct hdr h;
	unsigned char again[HDR_LEN];

	if (hdr_decode(data, size, "fuzz-store", &h, &err) != 0) {
		FUZZ_CHECK(strstr(buf_str(&err), "damaged"), "hdr_decode refused without saying so");
		buf_free(&err);
		return;
	}
	FUZZ_CHECK(err.len == 0, "hdr_decode accepted with a message");
	FUZZ_CHECK(size >= HDR_LEN + TAG_LEN + PT_MIN, "hdr_decode took a %zu-byte file", size);
	FUZZ_CHECK(h.version == VERSION, "hdr_decode took version %u", h.version);
	if (h.kdf == KDF_KEYFILE) {
		FUZZ_CHECK(!h.opslimit && !h.memlimit, "key-file store with kdf parameters");
	} else {
		FUZZ_CHECK(h.kdf == KDF_ARGON2ID, "hdr_decode took kdf %u", h.kdf);
		FUZZ_CHECK(h.opslimit >= crypto_pwhash_OPSLIMIT_MIN &&
			   h.opslimit <= crypto_pwhash_OPSLIMIT_SENSITIVE &&
			   h.memlimit >= crypto_pwhash_MEMLIMIT_MIN &&
			   h.memlimit <= crypto_pwhash_MEMLIMIT_SENSITIVE,
			   "Argon2id parameters out of bounds");
	}
	hdr_encode(&h, again);
	FUZZ_CHECK(!memcmp(again, data, HDR_LEN), "hdr_encode(hdr_decode(x)) != x");
}

/* The plaintext written again from the entries, as save() lays it out. */
static void rewrite(const struct contents *c, struct buf *out)
{
	unsigned char w[8];
	size_t i;

	put32(w, (uint32_t)c->n);
	buf_add(out, w, 4);
	for (i = 0; i < c->n; i++) {
		const struct ent *e = &c->ents[i];

		put32(w, (uint32_t)e->name_len);
		buf_add(out, w, 4);
		buf_add(out, c->pt + e->name_off, e->name_len);
		put32(w, (uint32_t)e->value_len);
		buf_add(out, w, 4);
		buf_add(out, c->pt + e->value_off, e->value_len);
		put64(w, (uint64_t)e->time);
		buf_add(out, w, 8);
	}
}

static void check_parsed(const struct contents *c)
{
	struct buf again = BUF_INIT;
	char name[LOCALSTORE_NAME_MAX + 1], last4[5];
	size_t i, k, shown;

	for (i = 0; i < c->n; i++) {
		const struct ent *e = &c->ents[i];

		FUZZ_CHECK(e->name_len >= 1 && e->name_len <= LOCALSTORE_NAME_MAX &&
			   e->value_len >= 1 && e->value_len <= LOCALSTORE_VALUE_MAX,
			   "entry %zu: lengths %zu, %zu", i, e->name_len, e->value_len);
		FUZZ_CHECK(e->name_off + e->name_len <= c->pt_len &&
			   e->value_off + e->value_len <= c->pt_len, "entry %zu outside", i);
		memcpy(name, c->pt + e->name_off, e->name_len);
		name[e->name_len] = '\0';
		FUZZ_CHECK(localstore_name_ok(name), "entry %zu: bad name", i);
		FUZZ_CHECK(!memchr(c->pt + e->value_off, '\0', e->value_len), "entry %zu: NUL", i);
		FUZZ_CHECK(find(c, name) == i, "find(%s) is not entry %zu", name, i);
		if (i)
			FUZZ_CHECK(name_cmp(c->pt + c->ents[i - 1].name_off, c->ents[i - 1].name_len,
					    c->pt + e->name_off, e->name_len) < 0,
				   "entries %zu and %zu out of order", i - 1, i);
		tail_of(c->pt + e->value_off, e->value_len, last4);
		shown = strlen(last4);
		FUZZ_CHECK(shown <= 4 && shown <= e->value_len / 4, "tail_of shows %zu of %zu",
			   shown, e->value_len);
		for (k = 0; k < shown; k++)
			FUZZ_CHECK(last4[k] >= 0x20 && last4[k] < 0x7f, "tail_of shows 0x%02x",
				   (unsigned char)last4[k]);
	}
	rewrite(c, &again);
	FUZZ_CHECK(again.len == c->pt_len && !memcmp(again.data, c->pt, c->pt_len),
		   "the entries written again are not the plaintext (%zu, %zu bytes)", again.len,
		   c->pt_len);
	buf_free(&again);
}

/* parse_entries on an exact-size copy (ASan sees a byte read past it). */
static int check_entries(const uint8_t *data, size_t size, size_t *n)
{
	struct contents c;
	struct buf err = BUF_INIT;
	int rc;

	memset(&c, 0, sizeof(c));
	c.pt = malloc(size ? size : 1);
	if (!c.pt)
		abort();
	memcpy(c.pt, data, size);
	c.pt_len = size;
	rc = parse_entries(&c, "fuzz-store", &err);
	if (rc == 0) {
		FUZZ_CHECK(err.len == 0, "parse_entries accepted with a message");
		check_parsed(&c);
		*n = c.n;
	} else {
		FUZZ_CHECK(strstr(buf_str(&err), "damaged"), "parse_entries refused without saying so");
	}
	free(c.ents);
	free(c.pt);
	buf_free(&err);
	return rc;
}

/* The plaintext sealed under the fixed key: decrypt_file must agree with parse_entries. */
static void check_sealed(const uint8_t *data, size_t size, int want_rc, size_t want_n)
{
	struct hdr h = store.kdf;
	struct contents c;
	struct buf err = BUF_INIT;
	unsigned char *file;
	unsigned long long clen = 0;
	int rc;

	file = malloc(HDR_LEN + size + TAG_LEN);
	if (!file)
		abort();
	memset(h.nonce, (int)(size & 0xff), NONCE_LEN);
	hdr_encode(&h, file);
	sodium_mprotect_readonly(store.key);
	crypto_aead_xchacha20poly1305_ietf_encrypt(file + HDR_LEN, &clen, data, size, file, HDR_LEN,
						   NULL, h.nonce, store.key);
	sodium_mprotect_noaccess(store.key);
	rc = decrypt_file(&store, file, HDR_LEN + (size_t)clen, &c, &err);
	if (size < PT_MIN) {
		/* A file too short for a count is refused by its length first. */
		FUZZ_CHECK(rc != 0, "decrypt_file took a %zu-byte plaintext", size);
	} else {
		FUZZ_CHECK(rc == want_rc, "decrypt_file says %d, parse_entries %d", rc, want_rc);
	}
	if (rc == 0) {
		FUZZ_CHECK(c.n == want_n && c.pt_len == size && !memcmp(c.pt, data, size),
			   "decrypt_file's entries differ");
		contents_free(&c);
	}
	free(file);
	buf_free(&err);
}

/* The input as a whole file: its tag was not made with the key, so it is refused. */
static void check_raw_file(const uint8_t *data, size_t size)
{
	struct contents c;
	struct buf err = BUF_INIT;

	FUZZ_CHECK(decrypt_file(&store, data, size, &c, &err) != 0, "a fuzz input decrypted");
	FUZZ_CHECK(err.len > 0, "decrypt_file refused without a message");
	buf_free(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;
	int rc;

	check_header(data, size);
	rc = check_entries(data, size, &n);
	if (size <= SEAL_MAX)
		check_sealed(data, size, rc, n);
	check_raw_file(data, size);
	return 0;
}
