/* test_init.c - `mcpmux init` (src/cmd_init.c): where it writes, modes, no overwrite,
   and that the starter file loads with config_load(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cmd.h"
#include "config.h"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/mcpmux-test-init-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	unsetenv("MCPMUX_CONFIG");
	unsetenv("XDG_CONFIG_HOME");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int run_init(const char *a1, const char *a2)
{
	char *argv[3] = { (char *)a1, (char *)a2, NULL };
	int argc = a1 ? (a2 ? 2 : 1) : 0;

	fflush(stdout);
	return cmd_init.exec(argc, argv);
}

static int mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return (int)(st.st_mode & 07777);
}

static void path_in(struct buf *b, const char *rel)
{
	buf_reset(b);
	buf_printf(b, "%s/%s", tmpdir, rel);
}

/* The starter loads as it is, with the documented defaults and one disabled connector. */
static void assert_starter(const char *path)
{
	struct buf err = BUF_INIT;
	struct config cfg;
	int rc;

	rc = config_load(&cfg, path, &err);
	if (rc)
		fprintf(stderr, "%s", buf_str(&err));
	assert_int_equal(rc, 0);
	assert_string_equal(cfg.client_prefix, CONFIG_DEFAULT_PREFIX);
	assert_int_equal(cfg.call_timeout_ms, CONFIG_DEFAULT_CALL_MS);
	assert_int_equal(cfg.connect_timeout_ms, CONFIG_DEFAULT_CONNECT_MS);
	assert_int_equal(cfg.approval_timeout_ms, CONFIG_DEFAULT_APPROVAL_MS);
	assert_int_equal(cfg.approvals, APPROVALS_AUTO);
	assert_int_equal(cfg.vault.type, VAULT_LOCAL);
	assert_int_equal(cfg.nconnectors, 1);
	assert_string_equal(cfg.connectors[0].alias, "example");
	assert_int_equal(cfg.connectors[0].enabled, 0);
	assert_null(cfg.connectors[0].token);
	config_free(&cfg);
	buf_free(&err);
}

static void test_explicit_file(void **state)
{
	struct buf f = BUF_INIT, d = BUF_INIT;

	(void)state;
	path_in(&f, "new/sub/mcpmux.ini");
	assert_int_equal(run_init(buf_str(&f), NULL), 0);
	assert_int_equal(mode_of(buf_str(&f)), 0600);
	path_in(&d, "new");
	assert_int_equal(mode_of(buf_str(&d)), 0700);
	path_in(&d, "new/sub");
	assert_int_equal(mode_of(buf_str(&d)), 0700);
	assert_starter(buf_str(&f));
	buf_free(&f);
	buf_free(&d);
}

static void test_no_overwrite(void **state)
{
	struct buf f = BUF_INIT, link = BUF_INIT;
	struct stat st;
	FILE *fp;
	char line[64];

	(void)state;
	path_in(&f, "mine.ini");
	fp = fopen(buf_str(&f), "w");
	assert_non_null(fp);
	fputs("; my own\n", fp);
	fclose(fp);
	assert_int_equal(run_init(buf_str(&f), NULL), 1);
	fp = fopen(buf_str(&f), "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	assert_string_equal(line, "; my own\n");
	assert_null(fgets(line, sizeof(line), fp));
	fclose(fp);

	/* a dangling symlink is not followed to create its target */
	path_in(&link, "link.ini");
	path_in(&f, "target.ini");
	assert_int_equal(symlink(buf_str(&f), buf_str(&link)), 0);
	assert_int_equal(run_init(buf_str(&link), NULL), 1);
	assert_int_not_equal(stat(buf_str(&f), &st), 0);
	buf_free(&f);
	buf_free(&link);
}

static void test_default_paths(void **state)
{
	struct buf home = BUF_INIT, f = BUF_INIT;

	(void)state;
	/* ~/.config/mcpmux/mcpmux.ini, then a refusal the second time */
	path_in(&home, "home");
	setenv("HOME", buf_str(&home), 1);
	assert_int_equal(run_init(NULL, NULL), 0);
	path_in(&f, "home/.config/mcpmux/mcpmux.ini");
	assert_int_equal(mode_of(buf_str(&f)), 0600);
	path_in(&f, "home/.config");
	assert_int_equal(mode_of(buf_str(&f)), 0700);
	assert_int_equal(run_init(NULL, NULL), 1);

	/* $XDG_CONFIG_HOME when it is absolute */
	path_in(&f, "xdg");
	setenv("XDG_CONFIG_HOME", buf_str(&f), 1);
	assert_int_equal(run_init(NULL, NULL), 0);
	path_in(&f, "xdg/mcpmux/mcpmux.ini");
	assert_starter(buf_str(&f));
	unsetenv("XDG_CONFIG_HOME");

	/* $MCPMUX_CONFIG names the file */
	path_in(&f, "env/named.ini");
	setenv("MCPMUX_CONFIG", buf_str(&f), 1);
	assert_int_equal(run_init(NULL, NULL), 0);
	assert_starter(buf_str(&f));
	assert_int_equal(run_init(NULL, NULL), 1);
	unsetenv("MCPMUX_CONFIG");
	buf_free(&home);
	buf_free(&f);
}

static void test_arguments(void **state)
{
	(void)state;
	assert_int_equal(run_init("--help", NULL), 0);
	assert_int_equal(run_init("a.ini", "b.ini"), 2);
	assert_int_equal(run_init("--force", NULL), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_explicit_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arguments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
