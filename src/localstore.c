/* localstore.c - the encrypted local credential store; see include/localstore.h
   for the file format and the rules. */
#include "fsutil.h"
#include "xalloc.h"
#include "localstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define MAGIC		"MCPMUXV\001"
#define MAGIC_LEN	8
#define VERSION		1u
#define KDF_KEYFILE	0u
#define KDF_ARGON2ID	1u
#define SALT_LEN	16
#define NONCE_LEN	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define KEY_LEN		crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define TAG_LEN		crypto_aead_xchacha20poly1305_ietf_ABYTES
#define HDR_LEN		(MAGIC_LEN + 4 + 4 + 8 + 8 + SALT_LEN + NONCE_LEN)
#define PT_MIN		4		/* the smallest plaintext: a count of 0 */
#define ENT_FIXED	(4 + 4 + 8)	/* per entry: two lengths and a time */
#define PASS_ENV	"MCPMUX_VAULT_PASSPHRASE"

/* The file header, decoded. */
struct hdr {
	uint32_t version;		/* VERSION */
	uint32_t kdf;			/* KDF_KEYFILE or KDF_ARGON2ID */
	uint64_t opslimit;		/* Argon2id passes; 0 for a key file */
	uint64_t memlimit;		/* Argon2id bytes; 0 for a key file */
	unsigned char salt[SALT_LEN];	/* Argon2id salt; zeros for a key file */
	unsigned char nonce[NONCE_LEN];	/* this write's AEAD nonce */
};

struct localstore {
	char *path;		/* the store file */
	char *lock_path;	/* path + ".lock", flock'ed around read-modify-write */
	char *dir;		/* the directory of path: temp files, fsync after rename */
	unsigned char *key;	/* KEY_LEN bytes, sodium_malloc, no access between uses */
	struct hdr kdf;		/* the kdf, parameters and salt the key belongs to */
};

/* One decoded entry: offsets into the plaintext it came from. */
struct ent {
	size_t name_off;	/* the name's first byte */
	size_t name_len;	/* 1..LOCALSTORE_NAME_MAX */
	size_t value_off;	/* the value's first byte */
	size_t value_len;	/* 1..LOCALSTORE_VALUE_MAX */
	int64_t time;		/* unix seconds of its last set */
};

/* A decrypted store. */
struct contents {
	unsigned char *pt;	/* the plaintext, sodium_malloc; NULL for a new store */
	size_t pt_len;		/* its length */
	struct ent *ents;	/* sorted by name, as in the file; plain malloc (no values) */
	size_t n;		/* entries */
};

/* --- small helpers -------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static int name_ok(const unsigned char *p, size_t n)
{
	return cred_local_name_ok((const char *)p, n);
}

int localstore_name_ok(const char *name)
{
	return name && name_ok((const unsigned char *)name, strlen(name));
}

/* memcmp order with the shorter prefix first, which is strcmp order for names. */
static int name_cmp(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static void damaged(struct buf *err, const char *path, const char *why)
{
	buf_printf(err, "%s is damaged or was modified (%s): refusing to use it; restore it from a "
		   "backup or move it away and set the credentials again", path, why);
}

/* --- files and directories ------------------------------------------------ */

/*
 * The checks every file we read passes: a regular file of ours that nobody
 * else may read or write. `what` names it in messages ("the local store").
 */
static int check_stat(int fd, const char *what, const char *path, struct stat *out,
		      struct buf *err)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		buf_printf(err, "cannot stat %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		buf_printf(err, "%s %s is not a regular file: refusing to use it", what, path);
		return -1;
	}
	if (st.st_uid != getuid()) {
		buf_printf(err, "%s %s is owned by uid %u, not by you (uid %u): refusing to use it",
			   what, path, (unsigned)st.st_uid, (unsigned)getuid());
		return -1;
	}
	if (st.st_mode & 077) {
		buf_printf(err, "%s %s can be accessed by other users (mode %04o): refusing to use it; "
			   "run: chmod 600 %s", what, path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	if (out)
		*out = st;
	return 0;
}

/*
 * open(2) with O_NOFOLLOW. On failure returns -1 with errno kept and a
 * message in err, except for ENOENT and EEXIST, which callers word themselves.
 */
static int open_nofollow(const char *what, const char *path, int flags, mode_t mode,
			 struct buf *err)
{
	int fd;

	do
		fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
	while (fd < 0 && errno == EINTR);
	if (fd >= 0)
		return fd;
	if (errno == ELOOP)
		buf_printf(err, "%s %s is a symbolic link: refusing to follow it (name the real "
			   "file in the config instead)", what, path);
	else if (errno != ENOENT && errno != EEXIST)
		buf_printf(err, "cannot open %s %s: %s", what, path, strerror(errno));
	return -1;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Everything until EOF, at most max bytes; *n = max + 1 means "more than max". */
static int read_all(int fd, unsigned char *p, size_t max, size_t *n)
{
	ssize_t r;

	*n = 0;
	while (*n <= max) {
		r = read(fd, p + *n, max + 1 - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		*n += (size_t)r;
	}
	return 0;
}

/* The directory part of path ("." when there is none, "/" for "/x"). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	d = xstrdup(path);
	d[slash - path] = '\0';
	return d;
}


/* fsync a directory so a rename or a new file in it survives a crash. */
static int sync_dir(const char *dir, struct buf *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		buf_printf(err, "cannot sync directory %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Exclusive flock on the lock file; returns its fd (closing it unlocks) or -1. */
static int lock_store(const struct localstore *s, struct buf *err)
{
	int fd = open_nofollow("the lock file", s->lock_path, O_RDWR | O_CREAT, 0600, err);

	if (fd < 0) {
		if (errno == ENOENT)
			buf_printf(err, "cannot create the lock file %s: %s", s->lock_path,
				   strerror(ENOENT));
		return -1;
	}
	if (check_stat(fd, "the lock file", s->lock_path, NULL, err)) {
		close(fd);
		return -1;
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		buf_printf(err, "cannot lock %s: %s", s->lock_path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Reads the store file into a new malloc'ed buffer (it is ciphertext: no
 * need for locked memory). Returns 0, 1 when it does not exist, -1 (err).
 */
static int read_store(const char *path, unsigned char **data, size_t *len, struct buf *err)
{
	int fd = open_nofollow("the local store", path, O_RDONLY | O_NONBLOCK, 0, err);
	struct stat st;
	unsigned char *p;
	size_t max, n;

	*data = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (check_stat(fd, "the local store", path, &st, err)) {
		close(fd);
		return -1;
	}
	if ((unsigned long long)st.st_size > LOCALSTORE_FILE_MAX) {
		close(fd);
		damaged(err, path, "larger than 16 MiB");
		return -1;
	}
	/* our writers never change a file in place: it cannot grow while we read */
	max = (size_t)st.st_size;
	p = xcalloc(1, max + 1);
	if (read_all(fd, p, max, &n) != 0) {
		buf_printf(err, "cannot read the local store %s: %s", path, strerror(errno));
		free(p);
		close(fd);
		return -1;
	}
	close(fd);
	if (n != max) {
		free(p);
		buf_printf(err, "the local store %s changed while it was read: run the command again",
			   path);
		return -1;
	}
	*data = p;
	*len = n;
	return 0;
}

/*
 * Replaces path with data: a temp file in the same directory (O_EXCL, 0600),
 * fsync, rename over, fsync the directory. The caller holds the lock.
 */
static int write_store(const struct localstore *s, const unsigned char *data, size_t len,
		       struct buf *err)
{
	struct buf tmp = BUF_INIT;
	unsigned char rnd[8];
	int fd, i;

	for (i = 0;; i++) {
		randombytes_buf(rnd, sizeof(rnd));
		buf_reset(&tmp);
		buf_printf(&tmp, "%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", s->path, rnd[0], rnd[1],
			   rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		fd = open_nofollow("the temporary file", tmp.data, O_WRONLY | O_CREAT | O_EXCL,
				   0600, err);
		if (fd >= 0 || errno != EEXIST || i == 10)
			break;
	}
	if (fd < 0) {
		if (errno == EEXIST || errno == ENOENT)
			buf_printf(err, "cannot create a temporary file next to %s: %s", s->path,
				   strerror(errno));
		buf_free(&tmp);
		return -1;
	}
	/* the umask may have removed bits, never added them; be exact anyway */
	if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		buf_printf(err, "cannot write %s: %s", tmp.data, strerror(errno));
		close(fd);
		unlink(tmp.data);
		buf_free(&tmp);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp.data, s->path) != 0) {
		buf_printf(err, "cannot replace %s: %s", s->path, strerror(errno));
		unlink(tmp.data);
		buf_free(&tmp);
		return -1;
	}
	buf_free(&tmp);
	return sync_dir(s->dir, err);
}

/* --- header and body ------------------------------------------------------ */

static void hdr_encode(const struct hdr *h, unsigned char out[HDR_LEN])
{
	memcpy(out, MAGIC, MAGIC_LEN);
	put32(out + 8, h->version);
	put32(out + 12, h->kdf);
	put64(out + 16, h->opslimit);
	put64(out + 24, h->memlimit);
	memcpy(out + 32, h->salt, SALT_LEN);
	memcpy(out + 48, h->nonce, NONCE_LEN);
}

/* Decodes and bounds-checks the header of a whole file of len bytes. */
static int hdr_decode(const unsigned char *p, size_t len, const char *path, struct hdr *h,
		      struct buf *err)
{
	static const unsigned char zeros[SALT_LEN];

	if (len < MAGIC_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0) {
		damaged(err, path, len < MAGIC_LEN ? "truncated" : "not an mcpmux store: bad magic");
		return -1;
	}
	if (len < HDR_LEN + TAG_LEN + PT_MIN) {
		damaged(err, path, "truncated");
		return -1;
	}
	h->version = get32(p + 8);
	h->kdf = get32(p + 12);
	h->opslimit = get64(p + 16);
	h->memlimit = get64(p + 24);
	memcpy(h->salt, p + 32, SALT_LEN);
	memcpy(h->nonce, p + 48, NONCE_LEN);
	if (h->version != VERSION) {
		damaged(err, path, "unknown format version");
		return -1;
	}
	if (h->kdf == KDF_KEYFILE) {
		if (h->opslimit || h->memlimit || memcmp(h->salt, zeros, SALT_LEN)) {
			damaged(err, path, "key parameters set for a key-file store");
			return -1;
		}
	} else if (h->kdf == KDF_ARGON2ID) {
		/* a modified header must not make the derivation take hours or all memory */
		if (h->opslimit < crypto_pwhash_OPSLIMIT_MIN ||
		    h->opslimit > crypto_pwhash_OPSLIMIT_SENSITIVE ||
		    h->memlimit < crypto_pwhash_MEMLIMIT_MIN ||
		    h->memlimit > crypto_pwhash_MEMLIMIT_SENSITIVE) {
			damaged(err, path, "passphrase parameters out of bounds");
			return -1;
		}
	} else {
		damaged(err, path, "unknown key type");
		return -1;
	}
	return 0;
}

static void contents_free(struct contents *c)
{
	if (c->pt)
		sodium_free(c->pt);	/* zeroes first */
	free(c->ents);
	memset(c, 0, sizeof(*c));
}

/* Splits the plaintext into entries; anything that does not add up is damage. */
static int parse_entries(struct contents *c, const char *path, struct buf *err)
{
	const unsigned char *p = c->pt;
	size_t off = 4, i, n, left;

	if (c->pt_len < PT_MIN) {
		damaged(err, path, "inconsistent entries");
		return -1;
	}
	n = get32(p);
	if (n > (c->pt_len - 4) / (ENT_FIXED + 2)) {
		damaged(err, path, "inconsistent entry count");
		return -1;
	}
	c->ents = xcalloc(n, sizeof(*c->ents));
	for (i = 0; i < n; i++) {
		struct ent *e = &c->ents[i];

		left = c->pt_len - off;
		if (left < 4 || (e->name_len = get32(p + off)) > left - 4) {
			damaged(err, path, "inconsistent entry lengths");
			return -1;
		}
		e->name_off = off + 4;
		off = e->name_off + e->name_len;
		left = c->pt_len - off;
		if (left < 4 || (e->value_len = get32(p + off)) > left - 4 || left - 4 - e->value_len < 8) {
			damaged(err, path, "inconsistent entry lengths");
			return -1;
		}
		e->value_off = off + 4;
		off = e->value_off + e->value_len;
		e->time = (int64_t)get64(p + off);
		off += 8;
		if (!name_ok(p + e->name_off, e->name_len) || e->value_len < 1 ||
		    e->value_len > LOCALSTORE_VALUE_MAX ||
		    memchr(p + e->value_off, '\0', e->value_len)) {
			damaged(err, path, "invalid entry");
			return -1;
		}
		if (i && name_cmp(p + c->ents[i - 1].name_off, c->ents[i - 1].name_len,
				  p + e->name_off, e->name_len) >= 0) {
			damaged(err, path, "entries out of order or duplicated");
			return -1;
		}
	}
	if (off != c->pt_len) {
		damaged(err, path, "trailing bytes after the entries");
		return -1;
	}
	c->n = n;
	return 0;
}

/*
 * Decrypts a whole file (header + ciphertext) with the handle's key into c.
 * The header must match the kdf the key was made for.
 */
static int decrypt_file(struct localstore *s, const unsigned char *data, size_t len,
			struct contents *c, struct buf *err)
{
	struct hdr h;
	unsigned long long mlen = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	if (hdr_decode(data, len, s->path, &h, err))
		return -1;
	if (h.kdf != s->kdf.kdf || h.opslimit != s->kdf.opslimit || h.memlimit != s->kdf.memlimit ||
	    memcmp(h.salt, s->kdf.salt, SALT_LEN) != 0) {
		buf_printf(err, "%s now needs a different key than when it was opened (it was "
			   "re-created or modified): run the command again (restart mcpmux serve); "
			   "if that fails too, the file is damaged", s->path);
		return -1;
	}
	c->pt = secret_alloc(len - HDR_LEN - TAG_LEN);
	sodium_mprotect_readonly(s->key);
	rc = crypto_aead_xchacha20poly1305_ietf_decrypt(c->pt, &mlen, NULL, data + HDR_LEN,
							len - HDR_LEN, data, HDR_LEN, h.nonce,
							s->key);
	sodium_mprotect_noaccess(s->key);
	if (rc != 0) {
		if (h.kdf == KDF_ARGON2ID)
			buf_printf(err, "cannot decrypt %s: the passphrase in " PASS_ENV " is wrong, "
				   "or the file is damaged or was modified: refusing to use it; "
				   "check the passphrase, else restore the file from a backup or move "
				   "it away and set the credentials again", s->path);
		else
			damaged(err, s->path, "decryption failed: modified, truncated, or not "
				"encrypted with the key in the key file");
		contents_free(c);
		return -1;
	}
	c->pt_len = (size_t)mlen;
	if (parse_entries(c, s->path, err)) {
		contents_free(c);
		return -1;
	}
	return 0;
}

/* Reads and decrypts the store. Returns 0, -1 (err; a missing file too). */
static int load(struct localstore *s, struct contents *c, struct buf *err)
{
	unsigned char *data;
	size_t len;
	int rc = read_store(s->path, &data, &len, err);

	memset(c, 0, sizeof(*c));
	if (rc == 1)
		buf_printf(err, "the local store %s disappeared: run `mcpmux vault set NAME` to "
			   "create a new one", s->path);
	if (rc)
		return -1;
	rc = decrypt_file(s, data, len, c, err);
	free(data);
	return rc;
}

/*
 * Encrypts the entries of c, with `skip` left out (SIZE_MAX for none) and,
 * when name is not NULL, (name, value) inserted in order, and writes the
 * result over the store. The caller holds the lock.
 */
static int save(struct localstore *s, const struct contents *c, size_t skip, const char *name,
		const char *value, size_t vlen, int64_t now, struct buf *err)
{
	size_t nlen = name ? strlen(name) : 0, pt_len = 4, i, off, n = 0;
	unsigned char *pt, *out, *q;
	unsigned long long clen = 0;
	int inserted = !name, rc;
	struct hdr h = s->kdf;

	for (i = 0; i < c->n; i++)
		if (i != skip)
			pt_len += ENT_FIXED + c->ents[i].name_len + c->ents[i].value_len;
	if (name)
		pt_len += ENT_FIXED + nlen + vlen;
	if (pt_len > LOCALSTORE_FILE_MAX - HDR_LEN - TAG_LEN) {
		buf_printf(err, "the local store %s would grow past 16 MiB: nothing stored", s->path);
		return -1;
	}
	pt = secret_alloc(pt_len);
	off = 4;
	for (i = 0; i <= c->n; i++) {
		const struct ent *e = i < c->n ? &c->ents[i] : NULL;

		if (!inserted && (!e || name_cmp((const unsigned char *)name, nlen,
						 c->pt + e->name_off, e->name_len) < 0)) {
			put32(pt + off, (uint32_t)nlen);
			memcpy(pt + off + 4, name, nlen);
			off += 4 + nlen;
			put32(pt + off, (uint32_t)vlen);
			memcpy(pt + off + 4, value, vlen);
			off += 4 + vlen;
			put64(pt + off, (uint64_t)now);
			off += 8;
			inserted = 1;
			n++;
		}
		if (!e || i == skip)
			continue;
		q = pt + off;
		put32(q, (uint32_t)e->name_len);
		memcpy(q + 4, c->pt + e->name_off, e->name_len);
		q += 4 + e->name_len;
		put32(q, (uint32_t)e->value_len);
		memcpy(q + 4, c->pt + e->value_off, e->value_len);
		q += 4 + e->value_len;
		put64(q, (uint64_t)e->time);
		off += ENT_FIXED + e->name_len + e->value_len;
		n++;
	}
	put32(pt, (uint32_t)n);
	/* a nonce is never reused with a key: 24 random bytes each write */
	randombytes_buf(h.nonce, NONCE_LEN);
	out = xcalloc(1, HDR_LEN + pt_len + TAG_LEN);
	hdr_encode(&h, out);
	sodium_mprotect_readonly(s->key);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + HDR_LEN, &clen, pt, pt_len, out, HDR_LEN,
						   NULL, h.nonce, s->key);
	sodium_mprotect_noaccess(s->key);
	sodium_free(pt);
	rc = write_store(s, out, HDR_LEN + (size_t)clen, err);
	free(out);
	return rc;
}

/* Index of name in c, or SIZE_MAX. */
static size_t find(const struct contents *c, const char *name)
{
	size_t i, nlen = strlen(name);

	for (i = 0; i < c->n; i++)
		if (!name_cmp(c->pt + c->ents[i].name_off, c->ents[i].name_len,
			      (const unsigned char *)name, nlen))
			return i;
	return SIZE_MAX;
}

/* --- keys ----------------------------------------------------------------- */

/* Loads the 32-byte key file into s->key. Returns 0, 1 when missing, -1 (err). */
static int read_key_file(struct localstore *s, const char *path, struct buf *err)
{
	int fd = open_nofollow("the key file", path, O_RDONLY | O_NONBLOCK, 0, err);
	unsigned char *tmp;
	size_t n;

	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (check_stat(fd, "the key file", path, NULL, err)) {
		close(fd);
		return -1;
	}
	tmp = secret_alloc(KEY_LEN + 1);
	if (read_all(fd, tmp, KEY_LEN, &n) != 0) {
		buf_printf(err, "cannot read the key file %s: %s", path, strerror(errno));
		sodium_free(tmp);
		close(fd);
		return -1;
	}
	close(fd);
	if (n != KEY_LEN) {
		buf_printf(err, "the key file %s must hold exactly %d raw bytes (it holds %s%zu): "
			   "it is damaged or not an mcpmux key file", path, (int)KEY_LEN,
			   n > KEY_LEN ? "more than " : "", n > KEY_LEN ? (size_t)KEY_LEN : n);
		sodium_free(tmp);
		return -1;
	}
	memcpy(s->key, tmp, KEY_LEN);
	sodium_free(tmp);
	return 0;
}

/* A new random key in a new key file (0600, O_EXCL: never replaces one). */
static int create_key_file(struct localstore *s, const char *path, struct buf *err)
{
	char *dir = dir_of(path);
	int fd;

	if (mkdir_p(dir, err)) {
		free(dir);
		return -1;
	}
	fd = open_nofollow("the key file", path, O_WRONLY | O_CREAT | O_EXCL, 0600, err);
	if (fd < 0) {
		if (errno == EEXIST || errno == ENOENT)
			buf_printf(err, "cannot create the key file %s: %s", path, strerror(errno));
		free(dir);
		return -1;
	}
	crypto_aead_xchacha20poly1305_ietf_keygen(s->key);
	if (fchmod(fd, 0600) != 0 || write_all(fd, s->key, KEY_LEN) != 0 || fsync(fd) != 0) {
		buf_printf(err, "cannot write the key file %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		free(dir);
		return -1;
	}
	close(fd);
	/* the key must outlive a crash at least as surely as the store it opens */
	if (sync_dir(dir, err)) {
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

/* Argon2id of the passphrase with h's parameters into s->key. */
static int derive_key(struct localstore *s, const char *pass, const struct hdr *h,
		      struct buf *err)
{
	if (crypto_pwhash(s->key, KEY_LEN, pass, strlen(pass), h->salt,
			  (unsigned long long)h->opslimit, (size_t)h->memlimit,
			  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		buf_printf(err, "cannot derive the key for %s from the passphrase (out of memory? "
			   "it needs %llu MiB)", s->path, (unsigned long long)(h->memlimit >> 20));
		return -1;
	}
	return 0;
}

/* Sets up s->kdf and s->key for a store about to be created. */
static int new_key(struct localstore *s, const struct vault_cfg *v, const char *pass,
		   struct buf *err)
{
	int rc;

	memset(&s->kdf, 0, sizeof(s->kdf));
	s->kdf.version = VERSION;
	if (pass) {
		s->kdf.kdf = KDF_ARGON2ID;
		s->kdf.opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		s->kdf.memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
		randombytes_buf(s->kdf.salt, SALT_LEN);
		return derive_key(s, pass, &s->kdf, err);
	}
	s->kdf.kdf = KDF_KEYFILE;
	if (!v->key_file) {
		buf_printf(err, "[vault] key_file is not set");
		return -1;
	}
	/* a key file left from an earlier store is used again rather than replaced */
	rc = read_key_file(s, v->key_file, err);
	if (rc == 1)
		rc = create_key_file(s, v->key_file, err);
	return rc;
}

/* Sets up s->kdf and s->key for the existing store whose file is data. */
static int existing_key(struct localstore *s, const struct vault_cfg *v, const char *pass,
			const unsigned char *data, size_t len, struct buf *err)
{
	struct hdr h;
	int rc;

	if (hdr_decode(data, len, s->path, &h, err))
		return -1;
	s->kdf = h;
	memset(s->kdf.nonce, 0, NONCE_LEN);
	if (h.kdf == KDF_ARGON2ID) {
		if (!pass) {
			buf_printf(err, "the local store %s is protected by a passphrase: set "
				   PASS_ENV " to it", s->path);
			return -1;
		}
		return derive_key(s, pass, &h, err);
	}
	if (!v->key_file) {
		buf_printf(err, "[vault] key_file is not set");
		return -1;
	}
	rc = read_key_file(s, v->key_file, err);
	if (rc == 1)
		buf_printf(err, "the key file %s is missing: the local store %s cannot be decrypted "
			   "without it; restore the key file from a backup (a new key cannot open "
			   "the old store)", v->key_file, s->path);
	return rc ? -1 : 0;
}

/* --- the API -------------------------------------------------------------- */

struct localstore *localstore_open(const struct vault_cfg *v, int create, struct buf *err)
{
	struct localstore *s;
	struct contents c;
	struct buf lock = BUF_INIT;
	const char *pass = getenv(PASS_ENV);
	unsigned char *data = NULL;
	size_t len = 0;
	int rc, lfd = -1;

	if (sodium_init() < 0) {
		buf_puts(err, "libsodium failed to initialize");
		return NULL;
	}
	if (!v->path || !*v->path) {
		buf_puts(err, "[vault] path is not set");
		return NULL;
	}
	if (pass && !*pass)
		pass = NULL;
	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(v->path);
	s->dir = dir_of(v->path);
	buf_printf(&lock, "%s.lock", v->path);
	s->lock_path = buf_detach(&lock, NULL);
	s->key = secret_alloc(KEY_LEN);

	rc = read_store(s->path, &data, &len, err);
	if (rc == 1 && create) {
		/* under the lock, so that of two processes creating the store one wins
		   and the other then opens what it wrote */
		if (mkdir_p(s->dir, err) || (lfd = lock_store(s, err)) < 0)
			goto fail;
		rc = read_store(s->path, &data, &len, err);
		if (rc == 1) {
			memset(&c, 0, sizeof(c));
			if (new_key(s, v, pass, err) ||
			    save(s, &c, SIZE_MAX, NULL, NULL, 0, 0, err))
				goto fail;
			close(lfd);
			sodium_mprotect_noaccess(s->key);
			return s;
		}
		close(lfd);
		lfd = -1;
	}
	if (rc == 1) {
		buf_printf(err, "the local store %s does not exist yet: create it with "
			   "`mcpmux vault set NAME` (it asks for the secret)", s->path);
		goto fail;
	}
	if (rc < 0 || existing_key(s, v, pass, data, len, err))
		goto fail;
	sodium_mprotect_noaccess(s->key);
	/* a wrong passphrase or a damaged file is better reported now than at the first call */
	if (decrypt_file(s, data, len, &c, err))
		goto fail;
	contents_free(&c);
	free(data);
	return s;
fail:
	if (lfd >= 0)
		close(lfd);
	free(data);
	localstore_close(s);
	return NULL;
}

void localstore_close(struct localstore *s)
{
	if (!s)
		return;
	sodium_mprotect_readwrite(s->key);
	sodium_free(s->key);	/* zeroes first */
	free(s->path);
	free(s->dir);
	free(s->lock_path);
	sodium_memzero(&s->kdf, sizeof(s->kdf));
	free(s);
}

const char *localstore_path(const struct localstore *s)
{
	return s->path;
}

int localstore_get(struct localstore *s, const char *name, struct secret **out, struct buf *err)
{
	struct contents c;
	size_t i;

	*out = NULL;
	if (!localstore_name_ok(name)) {
		buf_printf(err, "invalid credential name: use 1 to %d of A-Z a-z 0-9 _ . -",
			   LOCALSTORE_NAME_MAX);
		return -1;
	}
	if (load(s, &c, err))
		return -1;
	i = find(&c, name);
	if (i != SIZE_MAX)
		*out = secret_dup((const char *)c.pt + c.ents[i].value_off, c.ents[i].value_len);
	contents_free(&c);
	return *out ? 0 : 1;
}

int localstore_set(struct localstore *s, const char *name, const char *value, size_t len,
		   struct buf *err)
{
	struct contents c;
	int lfd, rc;

	if (!localstore_name_ok(name)) {
		buf_printf(err, "invalid credential name: use 1 to %d of A-Z a-z 0-9 _ . -",
			   LOCALSTORE_NAME_MAX);
		return -1;
	}
	if (len < 1 || len > LOCALSTORE_VALUE_MAX || memchr(value, '\0', len)) {
		buf_printf(err, "a credential value must be 1 to %d bytes, without NUL bytes",
			   LOCALSTORE_VALUE_MAX);
		return -1;
	}
	lfd = lock_store(s, err);
	if (lfd < 0)
		return -1;
	/* a store that cannot be read is refused here, before anything is written */
	rc = load(s, &c, err);
	if (!rc) {
		rc = save(s, &c, find(&c, name), name, value, len, (int64_t)time(NULL), err);
		contents_free(&c);
	}
	close(lfd);
	return rc;
}

int localstore_rm(struct localstore *s, const char *name, struct buf *err)
{
	struct contents c;
	size_t i;
	int lfd, rc;

	if (!localstore_name_ok(name))
		return 1;	/* such a name can never have been stored */
	lfd = lock_store(s, err);
	if (lfd < 0)
		return -1;
	rc = load(s, &c, err);
	if (!rc) {
		i = find(&c, name);
		rc = i == SIZE_MAX ? 1 : save(s, &c, i, NULL, NULL, 0, 0, err);
		contents_free(&c);
	}
	close(lfd);
	return rc;
}

/* The last characters of a value that may be shown: at most 4, at most a quarter. */
static void tail_of(const unsigned char *v, size_t len, char out[5])
{
	size_t k = len / 4 < 4 ? len / 4 : 4, i;

	for (i = 0; i < k; i++) {
		unsigned char ch = v[len - k + i];

		out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[k] = '\0';
}

int localstore_list(struct localstore *s,
		    void (*cb)(const struct localstore_entry *e, void *arg), void *arg,
		    struct buf *err)
{
	struct contents c;
	struct localstore_entry e;
	char name[LOCALSTORE_NAME_MAX + 1];
	size_t i;
	int n;

	if (load(s, &c, err))
		return -1;
	for (i = 0; i < c.n; i++) {
		memcpy(name, c.pt + c.ents[i].name_off, c.ents[i].name_len);
		name[c.ents[i].name_len] = '\0';
		e.name = name;
		tail_of(c.pt + c.ents[i].value_off, c.ents[i].value_len, e.last4);
		e.set_time = (long long)c.ents[i].time;
		cb(&e, arg);
	}
	n = (int)c.n;
	sodium_memzero(&e, sizeof(e));
	contents_free(&c);
	return n;
}
