/* test_vault.c - RFC 3339 times as the vault and the oauth broker send them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vault.h"

static void test_parse_time(void **state)
{
	(void)state;
	assert_true(vault_parse_time("1970-01-01T00:00:00Z") == 0);
	assert_true(vault_parse_time("2026-11-21T20:31:05Z") == 1795293065000LL);
	/* fractions: milliseconds kept, nanoseconds dropped */
	assert_true(vault_parse_time("2026-11-21T20:31:05.123456789Z") == 1795293065123LL);
	assert_true(vault_parse_time("2026-11-21T20:31:05.5Z") == 1795293065500LL);
	/* offsets */
	assert_true(vault_parse_time("2026-11-21T21:31:05+01:00") == 1795293065000LL);
	assert_true(vault_parse_time("2026-11-21T15:01:05.250-05:30") == 1795293065250LL);
	assert_true(vault_parse_time("2026-11-21t20:31:05z") == 1795293065000LL);
	/* invalid */
	assert_true(vault_parse_time("") == -1);
	assert_true(vault_parse_time("2026-11-21 20:31:05Z") == -1);
	assert_true(vault_parse_time("2026-11-21T20:31:05") == -1);
	assert_true(vault_parse_time("2026-11-21T20:31:05+0100") == -1);
	assert_true(vault_parse_time("2026-11-21T20:31:05Zjunk") == -1);
	assert_true(vault_parse_time("20x6-11-21T20:31:05Z") == -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
