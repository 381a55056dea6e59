/* test_localstore.c - unit tests for the encrypted local store (src/localstore.c).
   Each test gets its own temporary directory, removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "localstore.h"
#include "unit_tmpdir.h"

#define PASS_ENV	"MCPMUX_VAULT_PASSPHRASE"

/* One test's world. */
struct world {
	char dir[64];		/* the temporary directory */
	char path[128];		/* dir/data/vault: the store, in a directory to be created */
	char key[128];		/* dir/conf/vault.key: the key file, likewise */
	struct vault_cfg v;	/* points at path and key */
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	snprintf(w->dir, sizeof(w->dir), "/tmp/mcpmux-ls-XXXXXX");
	if (!mkdtemp(w->dir))
		return -1;
	snprintf(w->path, sizeof(w->path), "%s/data/vault", w->dir);
	snprintf(w->key, sizeof(w->key), "%s/conf/vault.key", w->dir);
	w->v.type = VAULT_LOCAL;
	w->v.path = w->path;
	w->v.key_file = w->key;
	unsetenv(PASS_ENV);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	unit_rm_tree(w->dir);
	unsetenv(PASS_ENV);
	free(w);
	return 0;
}

/* The whole file; the caller frees it. */
static unsigned char *slurp(const char *path, size_t *len)
{
	unsigned char *p = malloc(1 << 20);
	int fd = open(path, O_RDONLY);
	ssize_t r;

	assert_non_null(p);
	assert_true(fd >= 0);
	*len = 0;
	while ((r = read(fd, p + *len, (1 << 20) - *len)) > 0)
		*len += (size_t)r;
	close(fd);
	return p;
}

/* Rewrites the file in place (same inode, same mode). */
static void spit(const char *path, const unsigned char *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static struct localstore *open_ok(struct world *w, int create)
{
	struct buf err = BUF_INIT;
	struct localstore *s = localstore_open(&w->v, create, &err);

	if (!s)
		fail_msg("localstore_open: %s", buf_str(&err));
	buf_free(&err);
	return s;
}

/* Opening fails with a message containing want. */
static void open_fails(struct world *w, int create, const char *want)
{
	struct buf err = BUF_INIT;
	struct localstore *s = localstore_open(&w->v, create, &err);

	if (s)
		fail_msg("localstore_open succeeded, expected: %s", want);
	if (!strstr(buf_str(&err), want))
		fail_msg("error '%s' lacks '%s'", buf_str(&err), want);
	buf_free(&err);
}

static void set_ok(struct localstore *s, const char *name, const char *value)
{
	struct buf err = BUF_INIT;

	if (localstore_set(s, name, value, strlen(value), &err) != 0)
		fail_msg("localstore_set %s: %s", name, buf_str(&err));
	buf_free(&err);
}

/* Asserts that name holds value (NULL: that it is absent). */
static void expect(struct localstore *s, const char *name, const char *value)
{
	struct buf err = BUF_INIT;
	struct secret *sec = NULL;
	int rc = localstore_get(s, name, &sec, &err);

	if (rc < 0)
		fail_msg("localstore_get %s: %s", name, buf_str(&err));
	if (!value) {
		assert_int_equal(rc, 1);
		assert_null(sec);
	} else {
		assert_int_equal(rc, 0);
		assert_int_equal(sec->len, strlen(value));
		assert_string_equal(sec->p, value);
	}
	secret_free(sec);
	buf_free(&err);
}

/* What list reports, gathered. */
struct seen {
	char names[256][LOCALSTORE_NAME_MAX + 1];	/* in callback order */
	char last4[256][5];				/* as reported */
	long long times[256];				/* set times */
	int n;						/* callbacks */
};

static void gather(const struct localstore_entry *e, void *arg)
{
	struct seen *s = arg;

	if (s->n < 256) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", e->name);
		memcpy(s->last4[s->n], e->last4, 5);
		s->times[s->n] = e->set_time;
	}
	s->n++;
}

static int list(struct localstore *s, struct seen *seen)
{
	struct buf err = BUF_INIT;
	int rc;

	memset(seen, 0, sizeof(*seen));
	rc = localstore_list(s, gather, seen, &err);
	if (rc < 0)
		fail_msg("localstore_list: %s", buf_str(&err));
	assert_int_equal(rc, seen->n);
	buf_free(&err);
	return rc;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_round_trip(void **state)
{
	struct world *w = *state;
	struct localstore *s;
	struct seen *seen = malloc(sizeof(*seen));
	struct buf err = BUF_INIT;
	long long before = (long long)time(NULL), after;

	assert_non_null(seen);
	s = open_ok(w, 1);
	assert_string_equal(localstore_path(s), w->path);
	assert_int_equal(list(s, seen), 0);
	set_ok(s, "linear", "lin_api_0123456789abcdef");
	set_ok(s, "github.token", "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ");
	set_ok(s, "A-b_c.9", "short");
	after = (long long)time(NULL);
	expect(s, "linear", "lin_api_0123456789abcdef");
	expect(s, "github.token", "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ");
	expect(s, "A-b_c.9", "short");
	expect(s, "nope", NULL);

	/* name order, the tail only, and the time of the set */
	assert_int_equal(list(s, seen), 3);
	assert_string_equal(seen->names[0], "A-b_c.9");
	assert_string_equal(seen->names[1], "github.token");
	assert_string_equal(seen->names[2], "linear");
	assert_string_equal(seen->last4[0], "t");	/* 5 bytes: a quarter is 1 */
	assert_string_equal(seen->last4[1], "WXYZ");
	assert_string_equal(seen->last4[2], "cdef");
	assert_true(seen->times[2] >= before && seen->times[2] <= after);

	assert_int_equal(localstore_rm(s, "github.token", &err), 0);
	assert_int_equal(localstore_rm(s, "github.token", &err), 1);
	assert_int_equal(localstore_rm(s, "never", &err), 1);
	assert_int_equal(err.len, 0);
	expect(s, "github.token", NULL);
	localstore_close(s);

	/* another handle, as another process would open it */
	s = open_ok(w, 0);
	expect(s, "linear", "lin_api_0123456789abcdef");
	expect(s, "github.token", NULL);
	assert_int_equal(list(s, seen), 2);
	assert_int_equal(localstore_rm(s, "linear", &err), 0);
	assert_int_equal(localstore_rm(s, "A-b_c.9", &err), 0);
	assert_int_equal(list(s, seen), 0);
	localstore_close(s);
	buf_free(&err);
	free(seen);
}

/* A handle sees what another handle wrote after it was opened. */
static void test_rereads(void **state)
{
	struct world *w = *state;
	struct localstore *a = open_ok(w, 1), *b = open_ok(w, 0);

	expect(b, "x", NULL);
	set_ok(a, "x", "value-from-a");
	expect(b, "x", "value-from-a");
	set_ok(b, "x", "value-from-b");
	expect(a, "x", "value-from-b");
	localstore_close(a);
	localstore_close(b);
}

static void test_overwrite(void **state)
{
	struct world *w = *state;
	struct localstore *s = open_ok(w, 1);
	struct seen *seen = malloc(sizeof(*seen));

	assert_non_null(seen);
	set_ok(s, "tok", "first-value-1111");
	set_ok(s, "tok", "second-value-2222");
	set_ok(s, "a", "aaaaaaaaaaaaaaaa");
	set_ok(s, "z", "zzzzzzzzzzzzzzzz");
	set_ok(s, "tok", "x");
	expect(s, "tok", "x");
	expect(s, "a", "aaaaaaaaaaaaaaaa");
	expect(s, "z", "zzzzzzzzzzzzzzzz");
	assert_int_equal(list(s, seen), 3);
	assert_string_equal(seen->names[1], "tok");
	assert_string_equal(seen->last4[1], "");	/* one byte: nothing shown */
	localstore_close(s);
	free(seen);
}

static void test_limits(void **state)
{
	struct world *w = *state;
	struct localstore *s = open_ok(w, 1);
	struct buf err = BUF_INIT;
	char name[LOCALSTORE_NAME_MAX + 2];
	char *big = malloc(LOCALSTORE_VALUE_MAX + 2);

	assert_non_null(big);
	memset(name, 'n', sizeof(name));
	name[LOCALSTORE_NAME_MAX] = '\0';
	assert_true(localstore_name_ok(name));
	set_ok(s, name, "ok");
	name[LOCALSTORE_NAME_MAX] = 'n';
	name[LOCALSTORE_NAME_MAX + 1] = '\0';
	assert_false(localstore_name_ok(name));
	assert_int_equal(localstore_set(s, name, "v", 1, &err), -1);
	assert_false(localstore_name_ok(""));
	assert_false(localstore_name_ok("a/b"));
	assert_false(localstore_name_ok("a b"));
	assert_false(localstore_name_ok("caf\xc3\xa9"));
	assert_int_equal(localstore_set(s, "../x", "v", 1, &err), -1);

	memset(big, 'v', LOCALSTORE_VALUE_MAX + 1);
	big[LOCALSTORE_VALUE_MAX + 1] = '\0';
	assert_int_equal(localstore_set(s, "big", big, LOCALSTORE_VALUE_MAX + 1, &err), -1);
	big[LOCALSTORE_VALUE_MAX] = '\0';
	set_ok(s, "big", big);
	expect(s, "big", big);
	assert_int_equal(localstore_set(s, "empty", "", 0, &err), -1);
	assert_int_equal(localstore_set(s, "nul", "a\0b", 3, &err), -1);
	expect(s, "empty", NULL);
	expect(s, "nul", NULL);
	localstore_close(s);
	buf_free(&err);
	free(big);
}

static void test_modes(void **state)
{
	struct world *w = *state;
	struct localstore *s;
	char p[192];
	DIR *d;
	struct dirent *e;
	int n = 0;

	/* a restrictive umask must not matter, a permissive one neither */
	umask(0);
	s = open_ok(w, 1);
	umask(022);
	set_ok(s, "k", "value");
	assert_int_equal(mode_of(w->path), 0600);
	assert_int_equal(mode_of(w->key), 0600);
	snprintf(p, sizeof(p), "%s.lock", w->path);
	assert_int_equal(mode_of(p), 0600);
	snprintf(p, sizeof(p), "%s/data", w->dir);
	assert_int_equal(mode_of(p), 0700);
	snprintf(p, sizeof(p), "%s/conf", w->dir);
	assert_int_equal(mode_of(p), 0700);
	/* the key file is 32 raw bytes */
	{
		struct stat st;

		assert_int_equal(stat(w->key, &st), 0);
		assert_int_equal(st.st_size, 32);
	}
	/* no temporary file left behind: the store, its lock, nothing else */
	snprintf(p, sizeof(p), "%s/data", w->dir);
	d = opendir(p);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	assert_int_equal(n, 2);
	localstore_close(s);
}

static void test_missing(void **state)
{
	struct world *w = *state;
	struct localstore *s;
	unsigned char *k;
	size_t klen;

	/* nothing yet: say how to create it, and create nothing */
	open_fails(w, 0, "mcpmux vault set NAME");
	assert_int_equal(access(w->key, F_OK), -1);
	assert_int_equal(access(w->path, F_OK), -1);

	s = open_ok(w, 1);
	set_ok(s, "a", "value-a");
	localstore_close(s);

	/* the store without its key: refused, and no new key made */
	k = slurp(w->key, &klen);
	assert_int_equal(unlink(w->key), 0);
	open_fails(w, 0, "key file");
	open_fails(w, 1, "is missing");
	assert_int_equal(access(w->key, F_OK), -1);

	/* a key file of the wrong size */
	{
		int fd = open(w->key, O_WRONLY | O_CREAT | O_EXCL, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, k, 31), 31);
		close(fd);
	}
	open_fails(w, 0, "exactly 32");
	spit(w->key, k, klen);
	s = open_ok(w, 0);
	expect(s, "a", "value-a");
	localstore_close(s);

	/* a different key of the right size: the file looks modified */
	k[0] ^= 1;
	spit(w->key, k, klen);
	open_fails(w, 0, "is damaged or was modified");
	free(k);
}

static void test_passphrase(void **state)
{
	struct world *w = *state;
	struct localstore *s;
	unsigned char *f;
	size_t len;

	setenv(PASS_ENV, "correct horse battery staple", 1);
	s = open_ok(w, 1);
	set_ok(s, "p", "passphrase-protected-value");
	localstore_close(s);
	/* no key file: the key comes from the passphrase */
	assert_int_equal(access(w->key, F_OK), -1);
	assert_int_equal(mode_of(w->path), 0600);
	f = slurp(w->path, &len);
	assert_memory_equal(f, "MCPMUXV\001", 8);
	assert_int_equal(f[12], 1);	/* kdf: Argon2id */
	free(f);

	s = open_ok(w, 0);
	expect(s, "p", "passphrase-protected-value");
	localstore_close(s);

	setenv(PASS_ENV, "correct horse battery stapler", 1);
	open_fails(w, 1, "the passphrase in " PASS_ENV " is wrong");

	unsetenv(PASS_ENV);
	open_fails(w, 0, "set " PASS_ENV);
	/* no key file was created in the attempt either */
	assert_int_equal(access(w->key, F_OK), -1);
}

/* A key-file store ignores the passphrase variable. */
static void test_keyfile_ignores_passphrase(void **state)
{
	struct world *w = *state;
	struct localstore *s = open_ok(w, 1);

	set_ok(s, "k", "key-file-value");
	localstore_close(s);
	setenv(PASS_ENV, "whatever", 1);
	s = open_ok(w, 0);
	expect(s, "k", "key-file-value");
	localstore_close(s);
}

/* set must fail on the damaged file and leave it exactly as it was. */
static void expect_refused(struct world *w, struct localstore *old, const unsigned char *bad,
			   size_t len, size_t where)
{
	struct buf err = BUF_INIT;
	struct secret *sec = NULL;
	unsigned char *now;
	size_t nlen;

	if (localstore_open(&w->v, 0, &err))
		fail_msg("a store changed at byte %zu was opened", where);
	if (!strstr(buf_str(&err), "is damaged or was modified"))
		fail_msg("byte %zu: unexpected error: %s", where, buf_str(&err));
	buf_reset(&err);
	if (localstore_get(old, "alpha", &sec, &err) != -1)
		fail_msg("byte %zu: get on the changed store did not fail", where);
	assert_non_null(strstr(buf_str(&err), "is damaged or was modified"));
	buf_reset(&err);
	if (localstore_set(old, "gamma", "new", 3, &err) != -1)
		fail_msg("byte %zu: set on the changed store did not fail", where);
	assert_non_null(strstr(buf_str(&err), "is damaged or was modified"));
	assert_int_equal(localstore_rm(old, "alpha", &err), -1);
	now = slurp(w->path, &nlen);
	assert_int_equal(nlen, len);
	if (memcmp(now, bad, len))
		fail_msg("byte %zu: the damaged store was rewritten", where);
	free(now);
	buf_free(&err);
}

static void test_tampered(void **state)
{
	struct world *w = *state;
	struct localstore *s = open_ok(w, 1);
	unsigned char *orig, *bad;
	size_t len, i;

	set_ok(s, "alpha", "alpha-secret-value");
	set_ok(s, "beta", "beta-secret-value");
	orig = slurp(w->path, &len);
	bad = malloc(len);
	assert_non_null(bad);
	/* header (magic, version, kdf, params, salt), nonce, ciphertext, tag: every byte */
	for (i = 0; i < len; i++) {
		memcpy(bad, orig, len);
		bad[i] ^= 0xff;
		spit(w->path, bad, len);
		expect_refused(w, s, bad, len, i);
		memcpy(bad, orig, len);
		bad[i] ^= 0x01;
		spit(w->path, bad, len);
		expect_refused(w, s, bad, len, i);
	}
	spit(w->path, orig, len);
	expect(s, "alpha", "alpha-secret-value");
	localstore_close(s);
	free(orig);
	free(bad);
}

static void test_truncated(void **state)
{
	struct world *w = *state;
	struct localstore *s = open_ok(w, 1);
	unsigned char *orig, *longer;
	size_t len, cuts[] = { 0, 1, 7, 8, 12, 71, 72, 73, 88, 91, 92 }, i;

	set_ok(s, "alpha", "alpha-secret-value");
	orig = slurp(w->path, &len);
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		spit(w->path, orig, cuts[i]);
		expect_refused(w, s, orig, cuts[i], cuts[i]);
	}
	spit(w->path, orig, len - 1);
	expect_refused(w, s, orig, len - 1, len - 1);
	/* a byte too many is as bad as one too few */
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, orig, len);
	longer[len] = 0;
	spit(w->path, longer, len + 1);
	expect_refused(w, s, longer, len + 1, len);
	spit(w->path, orig, len);
	expect(s, "alpha", "alpha-secret-value");
	localstore_close(s);
	free(orig);
	free(longer);
}

/* A file too big to be ours is refused before it is read. */
static void test_too_big(void **state)
{
	struct world *w = *state;
	struct localstore *s = open_ok(w, 1);

	localstore_close(s);
	assert_int_equal(truncate(w->path, (off_t)LOCALSTORE_FILE_MAX + 1), 0);
	open_fails(w, 0, "larger than 16 MiB");
}

static void test_symlink(void **state)
{
	struct world *w = *state;
	struct localstore *s = open_ok(w, 1);
	char real[192];

	set_ok(s, "a", "value-a");
	localstore_close(s);
	snprintf(real, sizeof(real), "%s/real-vault", w->dir);
	assert_int_equal(rename(w->path, real), 0);
	assert_int_equal(symlink(real, w->path), 0);
	open_fails(w, 0, "symbolic link");
	open_fails(w, 1, "symbolic link");
	/* still a symlink to the untouched file */
	assert_int_equal(unlink(w->path), 0);
	assert_int_equal(rename(real, w->path), 0);

	/* the key file likewise */
	snprintf(real, sizeof(real), "%s/real-key", w->dir);
	assert_int_equal(rename(w->key, real), 0);
	assert_int_equal(symlink(real, w->key), 0);
	open_fails(w, 0, "symbolic link");
	assert_int_equal(unlink(w->key), 0);
	assert_int_equal(rename(real, w->key), 0);
	s = open_ok(w, 0);
	expect(s, "a", "value-a");
	localstore_close(s);
}

static void test_bad_mode(void **state)
{
	struct world *w = *state;
	struct localstore *s = open_ok(w, 1);
	struct buf err = BUF_INIT;

	set_ok(s, "a", "value-a");
	assert_int_equal(chmod(w->path, 0644), 0);
	open_fails(w, 0, "chmod 600");
	/* an open handle refuses too, and does not "fix" the file by rewriting it */
	assert_int_equal(localstore_set(s, "b", "value-b", 7, &err), -1);
	assert_non_null(strstr(buf_str(&err), "chmod 600"));
	assert_int_equal(mode_of(w->path), 0644);
	assert_int_equal(chmod(w->path, 0640), 0);
	open_fails(w, 0, "chmod 600");
	assert_int_equal(chmod(w->path, 0600), 0);
	assert_int_equal(chmod(w->key, 0604), 0);
	open_fails(w, 0, "chmod 600");
	assert_int_equal(chmod(w->key, 0600), 0);
	localstore_close(s);
	s = open_ok(w, 0);
	expect(s, "a", "value-a");
	expect(s, "b", NULL);
	localstore_close(s);
	buf_free(&err);
}

/* One of the concurrent writers: 50 sets of its own names. Returns failures. */
static int writer(struct world *w, char tag)
{
	struct buf err = BUF_INIT;
	struct localstore *s = localstore_open(&w->v, 1, &err);
	char name[16], value[32];
	int i, bad = 0;

	if (!s) {
		fprintf(stderr, "writer %c: %s\n", tag, buf_str(&err));
		return 50;
	}
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "%c%02d", tag, i);
		snprintf(value, sizeof(value), "value-of-%c%02d", tag, i);
		buf_reset(&err);
		if (localstore_set(s, name, value, strlen(value), &err)) {
			fprintf(stderr, "writer %c: %s\n", tag, buf_str(&err));
			bad++;
		}
	}
	localstore_close(s);
	buf_free(&err);
	return bad;
}

/* Two processes, 50 sets of distinct names each, at the same time: all 100 survive. */
static void run_writers(struct world *w)
{
	struct seen *seen = malloc(sizeof(*seen));
	struct localstore *s;
	pid_t pid[2];
	int i, st;

	assert_non_null(seen);
	fflush(NULL);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0)
			_exit(writer(w, i ? 'b' : 'a'));
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	s = open_ok(w, 0);
	assert_int_equal(list(s, seen), 100);
	for (i = 0; i < 100; i++) {
		char name[16], value[32];

		snprintf(name, sizeof(name), "%c%02d", i < 50 ? 'a' : 'b', i % 50);
		snprintf(value, sizeof(value), "value-of-%s", name);
		assert_string_equal(seen->names[i], name);
		if (i % 17 == 0)
			expect(s, name, value);
	}
	localstore_close(s);
	free(seen);
}

static void test_concurrent(void **state)
{
	struct world *w = *state;

	localstore_close(open_ok(w, 1));
	run_writers(w);
}

/* Both writers find no store and create it: they must agree on one store and one key. */
static void test_concurrent_create(void **state)
{
	run_writers(*state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rereads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passphrase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_ignores_passphrase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_create, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
