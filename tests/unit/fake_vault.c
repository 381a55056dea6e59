/* fake_vault.c - src/vault.c's functions for unit tests; see fake_vault.h. */
#include <stdlib.h>
#include <string.h>

#include "fake_vault.h"

#define MAX_READS	32

struct vault {
	int unused;
};

struct vault_read {
	const struct cred_ref *ref;
	long min_seconds;
	vault_read_cb cb;
	void *arg;
	int live;		/* neither answered nor cancelled */
};

int fake_vault_new_fails, fake_vault_news, fake_vault_reads;
static struct vault_read reads[MAX_READS];
static int nreads;

void fake_vault_reset(void)
{
	memset(reads, 0, sizeof(reads));
	nreads = 0;
	fake_vault_new_fails = fake_vault_news = fake_vault_reads = 0;
}

struct vault *vault_new(struct loop *loop, const struct config *cfg, struct buf *err)
{
	(void)loop;
	(void)cfg;
	if (fake_vault_new_fails) {
		buf_puts(err, FAKE_VAULT_NEW_ERR);
		return NULL;
	}
	fake_vault_news++;
	return calloc(1, sizeof(struct vault));
}

void vault_free(struct vault *v)
{
	free(v);
}

struct vault_read *vault_read(struct vault *v, const struct cred_ref *ref, long min_seconds,
			      vault_read_cb cb, void *arg)
{
	struct vault_read *r;

	(void)v;
	if (nreads == MAX_READS)
		abort();	/* a test that reads this much is broken */
	r = &reads[nreads++];
	r->ref = ref;
	r->min_seconds = min_seconds;
	r->cb = cb;
	r->arg = arg;
	r->live = 1;
	fake_vault_reads++;
	return r;
}

void vault_read_cancel(struct vault *v, struct vault_read *r)
{
	(void)v;
	r->live = 0;
}

int64_t vault_parse_time(const char *s)
{
	(void)s;
	return -1;
}

int fake_vault_pending(void)
{
	int i, n = 0;

	for (i = 0; i < nreads; i++)
		n += reads[i].live;
	return n;
}

static struct vault_read *newest(void)
{
	int i;

	for (i = nreads - 1; i >= 0; i--)
		if (reads[i].live)
			return &reads[i];
	return NULL;
}

const struct cred_ref *fake_vault_ref(void)
{
	struct vault_read *r = newest();

	return r ? r->ref : NULL;
}

long fake_vault_min_seconds(void)
{
	struct vault_read *r = newest();

	return r ? r->min_seconds : -1;
}

void fake_vault_answer(enum vault_err e, const char *value, int64_t expires_at, const char *err)
{
	struct vault_read *r = NULL;
	struct secret *s = NULL;
	int i;

	for (i = 0; i < nreads && !r; i++)
		if (reads[i].live)
			r = &reads[i];
	if (!r)
		abort();	/* nothing to answer: the test is wrong */
	r->live = 0;
	if (e == VAULT_OK)
		s = secret_dup(value, strlen(value));
	r->cb(e, s, expires_at, e == VAULT_OK ? NULL : err, r->arg);
	secret_free(s);
}
