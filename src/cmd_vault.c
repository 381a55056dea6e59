/* cmd_vault.c - `mcpmux vault set NAME | list | rm NAME`: the local store
   (include/localstore.h) from the command line. */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "localstore.h"
#include "xalloc.h"

#define MAX_ARGS	8

/* The terminal while its echo is off, for the signal handler to put back. */
static volatile sig_atomic_t tty_fd = -1;
static struct termios tty_saved;

/* One line of `vault list`, gathered first so the columns can be aligned. */
struct row {
	char *name;		/* the credential's name */
	char last4[5];		/* what may be shown of its value */
	long long set_time;	/* unix seconds */
};

/* The rows of `vault list`. */
struct rows {
	struct row *v;		/* malloc'ed array */
	size_t n;		/* rows in use */
	size_t cap;		/* rows allocated */
};

/* Echo back on, then die of the same signal: Ctrl-C must not leave a mute terminal. */
static void on_signal(int sig)
{
	int fd = tty_fd;

	if (fd >= 0) {
		tcsetattr(fd, TCSAFLUSH, &tty_saved);
		(void)!write(STDERR_FILENO, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* "~/x" against $HOME (else the passwd entry), as config.c does for its defaults. */
static char *expand_home(const char *v)
{
	const char *home = getenv("HOME");
	struct passwd *pw;
	struct buf b = BUF_INIT;

	if (!home || !*home) {
		pw = getpwuid(getuid());
		home = pw && pw->pw_dir ? pw->pw_dir : NULL;
	}
	if (!home)
		return NULL;
	buf_printf(&b, "%s%s", home, v + 1);
	return buf_detach(&b, NULL);
}

/*
 * The [vault] settings. A config file that config_find() finds (or -c, or
 * $MCPMUX_CONFIG, which must then exist) is loaded and validated like any
 * other command does; with none anywhere, the store needs no config at all:
 * cfg gets only the [vault] defaults of config.h (type local, the default
 * path and key file under $HOME), so `mcpmux vault set` works before
 * `mcpmux init`.
 */
static int load_cfg(const char *explicit_path, struct config *cfg)
{
	struct buf path = BUF_INIT, looked = BUF_INIT;
	const char *env = getenv("MCPMUX_CONFIG");
	int found = explicit_path || (env && *env) || config_find(NULL, &path, &looked) == 0;

	buf_free(&path);
	buf_free(&looked);
	if (found)
		return cmd_load_config(explicit_path, cfg);
	memset(cfg, 0, sizeof(*cfg));
	cfg->vault.type = VAULT_LOCAL;
	cfg->vault.path = expand_home(CONFIG_DEFAULT_VAULT_PATH);
	cfg->vault.key_file = expand_home(CONFIG_DEFAULT_VAULT_KEY);
	if (!cfg->vault.path || !cfg->vault.key_file) {
		fprintf(stderr, "mcpmux vault: $HOME is not set, so the local store has no default "
			"place; set HOME or give a config with [vault] path and key_file\n");
		config_free(cfg);
		return -1;
	}
	return 0;
}

/* 1 when the store file does not exist (list and rm then have nothing to open). */
static int store_missing(const char *path)
{
	struct stat st;

	return lstat(path, &st) != 0 && errno == ENOENT;
}

/* What may be shown of a value: as localstore_entry.last4. */
static void value_tail(const char *v, size_t len, char out[5])
{
	size_t k = len / 4 < 4 ? len / 4 : 4, i;

	for (i = 0; i < k; i++) {
		unsigned char ch = (unsigned char)v[len - k + i];

		out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[k] = '\0';
}

/*
 * Reads a line from the terminal fd with echo off. The prompt goes to
 * stderr; the terminal is restored on every path out, signals included.
 * Returns bytes read (the newline kept) or -1.
 */
static ssize_t read_tty(int fd, const char *name, char *p, size_t cap)
{
	struct termios quiet;
	struct sigaction sa, old[4], old_tstp;
	static const int sigs[4] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	size_t n = 0;
	ssize_t r;
	int i;

	if (tcgetattr(fd, &tty_saved) != 0) {
		fprintf(stderr, "mcpmux vault: cannot read the terminal settings: %s\n",
			strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	/* a suspended prompt would leave the shell without echo: Ctrl-Z does nothing here */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGTSTP, &sa, &old_tstp);
	quiet = tty_saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL;
	tty_fd = fd;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		fprintf(stderr, "mcpmux vault: cannot turn off echo: %s\n", strerror(errno));
		n = (size_t)-1;
		goto out;
	}
	fprintf(stderr, "secret for %s: ", name);
	fflush(stderr);
	while (n < cap) {
		r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "\nmcpmux vault: cannot read the terminal: %s\n",
				strerror(errno));
			n = (size_t)-1;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (p[n - 1] == '\n')
			break;
	}
	/* TCSAFLUSH drops whatever was typed past what we read */
	tcsetattr(fd, TCSAFLUSH, &tty_saved);
out:
	tty_fd = -1;
	sigaction(SIGTSTP, &old_tstp, NULL);
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	return (ssize_t)n;
}

/* All of a non-terminal stdin, at most cap bytes. Returns bytes read or -1. */
static ssize_t read_stdin(char *p, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap) {
		r = read(STDIN_FILENO, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "mcpmux vault: cannot read stdin: %s\n", strerror(errno));
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

/*
 * The secret for NAME into p (sodium_malloc, cap bytes): from the terminal
 * without echo when stdin is one, else all of stdin. One trailing newline
 * ("\n" or "\r\n") is dropped. Returns its length or -1 after a message.
 */
static ssize_t read_secret(const char *name, char *p, size_t cap)
{
	int tty = isatty(STDIN_FILENO);
	ssize_t got;
	size_t n, i;

	got = tty ? read_tty(STDIN_FILENO, name, p, cap) : read_stdin(p, cap);
	if (got < 0)
		return -1;
	n = (size_t)got;
	if (n < cap && n && p[n - 1] == '\n')
		n--;
	if (n < cap && n && p[n - 1] == '\r')
		n--;
	if (n > LOCALSTORE_VALUE_MAX) {
		fprintf(stderr, "mcpmux vault: the secret is longer than %d bytes: nothing stored\n",
			LOCALSTORE_VALUE_MAX);
		return -1;
	}
	if (n == 0) {
		fprintf(stderr, "mcpmux vault: the secret is empty: nothing stored%s\n",
			tty ? "" : " (it is read from stdin, which is not a terminal)");
		return -1;
	}
	/* it ends up in an HTTP header, where a line break would start another header */
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x20 || ch == 0x7f) {
			fprintf(stderr, "mcpmux vault: the secret contains a control character "
				"(a line break or a tab?): nothing stored\n");
			return -1;
		}
	}
	return (ssize_t)n;
}

static int do_set(const struct vault_cfg *v, const char *name)
{
	struct buf err = BUF_INIT;
	struct localstore *s;
	/* room for the longest value, a "\r\n", and one byte to notice a longer one */
	size_t cap = LOCALSTORE_VALUE_MAX + 3;
	char *p, tail[5];
	ssize_t n;
	int rc = 1;

	s = localstore_open(v, 1, &err);
	if (!s) {
		fprintf(stderr, "mcpmux vault: %s\n", buf_str(&err));
		buf_free(&err);
		return 1;
	}
	p = secret_alloc(cap);
	n = read_secret(name, p, cap);
	if (n > 0) {
		if (localstore_set(s, name, p, (size_t)n, &err) == 0) {
			value_tail(p, (size_t)n, tail);
			fprintf(stderr, "stored %s (\u2026%s) in %s\n", name, tail,
				localstore_path(s));
			rc = 0;
		} else {
			fprintf(stderr, "mcpmux vault: %s\n", buf_str(&err));
		}
	}
	sodium_free(p);		/* zeroes first */
	sodium_memzero(tail, sizeof(tail));
	localstore_close(s);
	buf_free(&err);
	return rc;
}

static void add_row(const struct localstore_entry *e, void *arg)
{
	struct rows *r = arg;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xrealloc(r->v, r->cap, sizeof(*r->v));
	}
	r->v[r->n].name = xstrdup(e->name);
	memcpy(r->v[r->n].last4, e->last4, sizeof(e->last4));
	r->v[r->n].set_time = e->set_time;
	r->n++;
}

static int do_list(const struct vault_cfg *v)
{
	struct buf err = BUF_INIT;
	struct rows r = { NULL, 0, 0 };
	struct localstore *s;
	size_t i, width = 0;
	char when[32];
	struct tm tm;
	time_t t;
	int rc = 1;

	if (store_missing(v->path)) {
		fprintf(stderr, "no credentials stored yet (%s does not exist); add one with "
			"`mcpmux vault set NAME`\n", v->path);
		return 0;
	}
	s = localstore_open(v, 0, &err);
	if (!s || localstore_list(s, add_row, &r, &err) < 0) {
		fprintf(stderr, "mcpmux vault: %s\n", buf_str(&err));
		goto out;
	}
	if (!r.n)
		fprintf(stderr, "the local store %s is empty; add a credential with "
			"`mcpmux vault set NAME`\n", v->path);
	for (i = 0; i < r.n; i++)
		if (strlen(r.v[i].name) > width)
			width = strlen(r.v[i].name);
	for (i = 0; i < r.n; i++) {
		t = (time_t)r.v[i].set_time;
		if (!localtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm))
			snprintf(when, sizeof(when), "?");
		/* "…" is one column but three bytes: pad the tail by hand */
		printf("%-*s  \u2026%-4s  %s\n", (int)width, r.v[i].name, r.v[i].last4, when);
	}
	rc = 0;
out:
	for (i = 0; i < r.n; i++)
		free(r.v[i].name);
	free(r.v);
	localstore_close(s);
	buf_free(&err);
	return rc;
}

static int do_rm(const struct vault_cfg *v, const char *name)
{
	struct buf err = BUF_INIT;
	struct localstore *s;
	int rc;

	if (store_missing(v->path)) {
		fprintf(stderr, "mcpmux vault: no credential named %s: the local store %s does not "
			"exist\n", name, v->path);
		return 1;
	}
	s = localstore_open(v, 0, &err);
	rc = s ? localstore_rm(s, name, &err) : -1;
	if (rc == 0)
		fprintf(stderr, "removed %s from %s\n", name, v->path);
	else if (rc == 1)
		fprintf(stderr, "mcpmux vault: no credential named %s in %s\n", name, v->path);
	else
		fprintf(stderr, "mcpmux vault: %s\n", buf_str(&err));
	localstore_close(s);
	buf_free(&err);
	return rc == 0 ? 0 : 1;
}

static int usage(void)
{
	cmd_usage(&cmd_vault);
	fputs("(`mcpmux vault --help` for more)\n", stderr);
	return 2;
}

static int vault_exec(int argc, char **argv)
{
	struct cmd_opts o;
	struct config cfg;
	char *opts[MAX_ARGS], *args[MAX_ARGS];
	int nopts = 0, nargs = 0, i, rc, dashdash = 0;
	const char *sub;

	/* options may come before or after the subcommand; cmd_options checks them */
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!dashdash && !strcmp(a, "--")) {
			dashdash = 1;
		} else if (!dashdash && a[0] == '-' && a[1]) {
			if (nopts + 2 > MAX_ARGS)
				return usage();
			opts[nopts++] = argv[i];
			if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc)
				opts[nopts++] = argv[++i];
		} else {
			if (nargs + 1 > MAX_ARGS)
				return usage();
			args[nargs++] = argv[i];
		}
	}
	if ((rc = cmd_options(&cmd_vault, nopts, opts, "ch", &o)) >= 0)
		return rc;
	if (nargs < 1)
		return usage();
	sub = args[0];
	if (!strcmp(sub, "set") || !strcmp(sub, "rm")) {
		if (nargs != 2) {
			fprintf(stderr, "mcpmux vault: %s takes one NAME%s\n", sub,
				!strcmp(sub, "set") ? " (the secret is read from the terminal or "
				"stdin, never from the command line)" : "");
			return usage();
		}
		if (!localstore_name_ok(args[1])) {
			fprintf(stderr, "mcpmux vault: invalid name '%s': use 1 to %d of "
				"A-Z a-z 0-9 _ . -\n", args[1], LOCALSTORE_NAME_MAX);
			return 2;
		}
	} else if (!strcmp(sub, "list")) {
		if (nargs != 1)
			return usage();
	} else {
		fprintf(stderr, "mcpmux vault: unknown subcommand '%s'\n", sub);
		return usage();
	}
	if (load_cfg(o.config, &cfg))
		return 1;
	if (cfg.vault.type != VAULT_LOCAL) {
		if (cfg.vault.type == VAULT_HASHICORP)
			fprintf(stderr, "mcpmux vault: [vault] type is hashicorp in %s: `mcpmux vault` "
				"manages only the local store; store secrets with `vault kv put` or "
				"`bao kv put`\n", cfg.path);
		else
			fprintf(stderr, "mcpmux vault: [vault] type is none in %s: `mcpmux vault` "
				"manages only the local store (type = local)\n", cfg.path);
		config_free(&cfg);
		return 1;
	}
	/* sodium, and no core dumps or ptrace while a secret is in memory */
	if (cmd_global_init()) {
		config_free(&cfg);
		return 1;
	}
	if (!strcmp(sub, "set"))
		rc = do_set(&cfg.vault, args[1]);
	else if (!strcmp(sub, "rm"))
		rc = do_rm(&cfg.vault, args[1]);
	else
		rc = do_list(&cfg.vault);
	cmd_global_cleanup();
	config_free(&cfg);
	return rc;
}

const struct cmd cmd_vault = {
	"vault", "vault [-c FILE] set NAME | list | rm NAME",
	"Manage the local encrypted credential store ([vault] type = local).",
	"subcommands:\n"
	"  set NAME   store a secret under NAME (replacing any earlier one). It is read\n"
	"             from the terminal without echo, or, when stdin is not a terminal,\n"
	"             all of stdin (one trailing newline dropped): never from the command\n"
	"             line. Connectors use it with token = local:NAME.\n"
	"  list       names, the last 4 characters of each secret (fewer for a short\n"
	"             one) and when it was set\n"
	"  rm NAME    remove NAME\n"
	"\n"
	"NAME is 1 to 128 of A-Z a-z 0-9 _ . -. The store is [vault] path (default\n"
	"~/.local/share/mcpmux/vault), encrypted with the random key in [vault] key_file\n"
	"(default ~/.config/mcpmux/vault.key, created with the store): back up both.\n"
	"If MCPMUX_VAULT_PASSPHRASE is set when the store is created, its key is derived\n"
	"from that passphrase instead (Argon2id) and no key file is used; the variable\n"
	"must then be set for every later use. Without a config file the defaults apply.\n"
	"A terminal holds about 4000 characters per line: pipe longer secrets on stdin.\n",
	vault_exec,
};
