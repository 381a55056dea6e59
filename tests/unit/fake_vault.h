/*
 * fake_vault.h - a stand-in for src/vault.c in unit tests.
 *
 * A test links it instead of build/vault.o with `FAKES_X :=
 * tests/unit/fake_vault.c` in the Makefile. vault_read() only records the
 * request; the test answers it with fake_vault_answer(), standing in for the
 * loop turn on which the real client would call back (never inside
 * vault_read(), as vault.h promises). Nothing goes over the network.
 */
#ifndef MCPMUX_FAKE_VAULT_H
#define MCPMUX_FAKE_VAULT_H

#include <stdint.h>

#include "vault.h"

/* Set by the test: vault_new() fails with FAKE_VAULT_NEW_ERR. */
extern int fake_vault_new_fails;
#define FAKE_VAULT_NEW_ERR	"no vault here (fake)"

/* Counted by the fake since the last fake_vault_reset(). */
extern int fake_vault_news;	/* vault_new() calls that succeeded */
extern int fake_vault_reads;	/* vault_read() calls */

void fake_vault_reset(void);
/* Reads neither answered nor cancelled. */
int fake_vault_pending(void);
/* The newest pending read's reference and minimum_seconds (NULL / -1 when none). */
const struct cred_ref *fake_vault_ref(void);
long fake_vault_min_seconds(void);
/* Answers the oldest pending read: value (a C string) when e is VAULT_OK, else err. */
void fake_vault_answer(enum vault_err e, const char *value, int64_t expires_at, const char *err);

#endif
