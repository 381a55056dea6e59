/*
 * localstore.h - mcpmux's own encrypted credential store ([vault] type = local).
 *
 * One file (default ~/.local/share/mcpmux/vault) holds every credential,
 * encrypted and authenticated with libsodium's XChaCha20-Poly1305. The key
 * is either a random 32-byte key file (default ~/.config/mcpmux/vault.key)
 * or, for a store created while MCPMUX_VAULT_PASSPHRASE was set (non-empty),
 * derived from that passphrase with Argon2id. `local:NAME` references in the
 * config and `mcpmux vault set/list/rm` use it.
 *
 * File format (all integers little endian; the 72-byte header is the AEAD's
 * additional data, so no header byte can be changed unnoticed):
 *
 *   off  size  field
 *     0     8  magic "MCPMUXV\001"
 *     8     4  format version, 1
 *    12     4  kdf: 0 = key file, 1 = Argon2id (crypto_pwhash ALG_ARGON2ID13)
 *    16     8  opslimit  (kdf 1: OPSLIMIT_MIN..OPSLIMIT_SENSITIVE; kdf 0: 0)
 *    24     8  memlimit  (kdf 1: MEMLIMIT_MIN..MEMLIMIT_SENSITIVE bytes; kdf 0: 0)
 *    32    16  salt      (kdf 1: random, chosen when the store is created; kdf 0: zeros)
 *    48    24  nonce     (random, new on every write)
 *    72     -  crypto_aead_xchacha20poly1305_ietf ciphertext of the entries,
 *              followed by its 16-byte tag; the file ends there
 *
 *   The plaintext: u32 count, then per entry, sorted by name (strictly
 *   ascending bytes, so a duplicate cannot exist):
 *     u32 name length (1..128), the name ([A-Za-z0-9_.-], no NUL),
 *     u32 value length (1..16384), the value (any bytes but NUL),
 *     u64 set time (unix seconds, two's complement).
 *   It must be consumed exactly: a count or a length that does not add up
 *   is damage.
 *
 *   The whole file is at most 16 MiB. A new passphrase store uses
 *   OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE; the bounds above keep a
 *   modified header from making the key derivation run for hours.
 *
 * Key file: exactly 32 raw bytes (not text), mode 0600, owned by the user.
 * It is created, with a random key, only together with a new store: when
 * the store exists and its key file does not, nothing is created (a new
 * key could not decrypt it).
 *
 * Rules every access follows: files are opened with O_NOFOLLOW (a symlink
 * is refused), must be regular files owned by getuid() with no group or
 * other permission bits (else: refused, with the chmod 600 to run).
 * Directories that are created get mode 0700. A file that fails any check
 * of its contents (short, bad magic, unknown version or kdf, parameters out
 * of bounds, failed decryption, inconsistent entries) is refused with
 * "... is damaged or was modified: refusing to use it; ..." and is never
 * overwritten: set and rm fail rather than replace it.
 *
 * Writes (set, rm) hold an exclusive flock on PATH.lock (0600, next to the
 * store) around the whole read-modify-write, so two processes never lose
 * each other's update; the new contents go to a temporary file in the same
 * directory (O_EXCL, 0600), which is fsync'ed and renamed over the store,
 * then the directory is fsync'ed. Readers need no lock: a rename is atomic.
 *
 * Memory: the key lives in sodium_malloc memory (no access between uses);
 * decrypted contents only ever in sodium_malloc memory, zeroed and freed
 * after each call. Nothing here prints or logs; error messages name files
 * and credential names, never values.
 *
 * Ownership: a struct localstore belongs to the caller of localstore_open()
 * and is released with localstore_close(). One handle is for one thread at
 * a time; any number of processes may use the same store at once. Every
 * function that takes `err` appends one line (no trailing newline) to it on
 * failure; err is the caller's.
 */
#ifndef MCPMUX_LOCALSTORE_H
#define MCPMUX_LOCALSTORE_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "secret.h"

#define LOCALSTORE_NAME_MAX	CRED_LOCAL_NAME_MAX	/* bytes in a credential name (credref.h) */
#define LOCALSTORE_VALUE_MAX	16384		/* bytes in a credential value */
#define LOCALSTORE_FILE_MAX	(16u << 20)	/* bytes in the store file */

/* An unlocked store: its paths and its key (in sodium_malloc memory). */
struct localstore;

/*
 * Opens the store described by v (v->path, v->key_file). The passphrase is
 * read from the environment only here, and the key is derived only here
 * (Argon2id is slow on purpose), then kept for the life of the handle.
 *
 * create = 0: a missing store, or a missing key file for a key-file store,
 * is an error that says what to do (`mcpmux vault set NAME` creates one).
 * create = 1: a missing store is created, empty, at once (under the lock,
 * so two processes creating it at the same time agree on one store), with
 * its directory (0700); its key comes from MCPMUX_VAULT_PASSPHRASE when that
 * is set and non-empty, else from the key file, which is created (0600,
 * random, parent directories 0700) if it does not exist yet.
 *
 * An existing store's header decides which key it needs: a passphrase store
 * without MCPMUX_VAULT_PASSPHRASE is an error that says so (a key-file store
 * ignores the variable). An existing store is decrypted once before this
 * returns, so a wrong passphrase or a damaged file is reported here.
 * Returns NULL with a message in err on failure.
 */
struct localstore *localstore_open(const struct vault_cfg *v, int create, struct buf *err);
void localstore_close(struct localstore *s);	/* wipes the key; NULL is fine */

/* The store file this handle uses (owned by the handle). */
const char *localstore_path(const struct localstore *s);

/* 1 when name is a valid credential name: 1..128 of [A-Za-z0-9_.-]. */
int localstore_name_ok(const char *name);

/*
 * The value stored under name. Re-reads the file on every call (another
 * process may have changed it). Returns 0 with *out a new secret (the
 * caller's, released with secret_free()), 1 when there is no such name,
 * -1 on error (err).
 */
int localstore_get(struct localstore *s, const char *name, struct secret **out, struct buf *err);

/*
 * Stores value (len bytes, 1..16384, no NUL byte) under name, replacing
 * any previous value, with the current time. value is only read; the
 * caller still owns and wipes it. Returns 0 or -1 (err).
 */
int localstore_set(struct localstore *s, const char *name, const char *value, size_t len,
		   struct buf *err);

/* Removes name. Returns 0 when removed, 1 when absent, -1 on error (err). */
int localstore_rm(struct localstore *s, const char *name, struct buf *err);

/* What localstore_list() shows of one entry: never the value itself. */
struct localstore_entry {
	const char *name;	/* NUL-terminated; valid only during the callback */
	char last4[5];		/* the value's last characters, at most 4 and at most a
				   quarter of its length (a short secret shows less or
				   nothing); non-printable bytes become '?' */
	long long set_time;	/* unix seconds of the last set */
};

/* Calls cb once per entry, in name order. Returns the number of entries or -1 (err). */
int localstore_list(struct localstore *s,
		    void (*cb)(const struct localstore_entry *e, void *arg), void *arg,
		    struct buf *err);

#endif
