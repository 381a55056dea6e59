/*
 * fuzz_config.c - config_load() (src/config.c, with inih) on any file.
 *
 * The input is written to a memfd and loaded through /proc/self/fd/N, as a
 * user's mcpmux.ini would be. Invariants:
 *   - it never crashes or leaks, loaded or refused;
 *   - refused: err holds one or more "PATH:LINE: message" lines (or
 *     "PATH: message") and cfg is left empty;
 *   - loaded: everything include/config.h promises holds (aliases valid and
 *     unique, URLs http(s) without spaces or control characters, headers
 *     "Name: value" without CR/LF, durations in range, token references
 *     only, absolute vault paths, sizes in whole MiB in range, at most
 *     CONFIG_MAX_CONNECTORS);
 *   - the heap it needs at its peak is bounded by its lines, each counted
 *     up to the line cap: a longer line is refused as it is read, never
 *     held whole (-c /dev/zero once took all memory).
 *
 * token = file:PATH opens PATH. Linked with -Wl,--wrap=open, this target
 * opens only its own config (the memfd) and files under FUZZ_DIR (a token
 * file and a directory made here); any other path fails with ENOENT, so no
 * fuzz input can open a device. At start it checks that a good file loads,
 * so that a change in how config.c opens files cannot silently turn every
 * run into "cannot open".
 */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"

#define FUZZ_DIR	"/tmp/mcpmux-fuzz-config"

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);

static int memfd = -1;
static char path[64];

int __wrap_open(const char *file, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (strcmp(file, path) != 0 &&
	    (strncmp(file, FUZZ_DIR "/", sizeof(FUZZ_DIR)) != 0 || strstr(file, "/.."))) {
		errno = ENOENT;
		return -1;
	}
	return __real_open(file, flags, mode);
}

static void must_load(const char *text)
{
	struct config cfg;
	struct buf err = BUF_INIT;

	if (ftruncate(memfd, 0) || pwrite(memfd, text, strlen(text), 0) != (ssize_t)strlen(text))
		abort();
	if (config_load(&cfg, path, &err) != 0) {
		fprintf(stderr, "fuzz_config: a good file does not load: %s", buf_str(&err));
		exit(1);
	}
	config_free(&cfg);
	buf_free(&err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	(void)argc;
	(void)argv;
	memfd = memfd_create("mcpmux.ini", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("memfd_create");
		exit(1);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	mkdir(FUZZ_DIR, 0700);
	mkdir(FUZZ_DIR "/dir", 0700);
	fd = __real_open(FUZZ_DIR "/token", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, "fuzz-token\n", 11) != 11)
			perror("write");
		close(fd);
	}
	/* ~/ paths and env: references resolve the same on every machine. */
	setenv("HOME", FUZZ_DIR, 1);
	setenv("MCPMUX_FUZZ_TOKEN", "fuzz-token", 1);
	setenv("MCPMUX_FUZZ_EMPTY", "", 1);
	must_load("[connector \"a\"]\nurl = http://127.0.0.1:3001/mcp\n"
		  "token = file:" FUZZ_DIR "/token\n");
	fuzz_mem_install();
	return 0;
}

static int is_alias_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static void check_ms(long ms, int zero_ok, const char *what)
{
	FUZZ_CHECK((zero_ok && ms == 0) || (ms >= 1000 && ms <= 86400000L && ms % 1000 == 0),
		   "%s is %ld ms", what, ms);
}

/* Whole MiB from 1 to CONFIG_MAX_MESSAGE_MIB (0 too, for a connector: the default). */
static void check_mib(size_t bytes, int zero_ok, const char *what)
{
	FUZZ_CHECK((zero_ok && bytes == 0) ||
		   (bytes >= (1u << 20) && bytes <= ((size_t)CONFIG_MAX_MESSAGE_MIB << 20) &&
		    bytes % (1u << 20) == 0), "%s is %zu bytes", what, bytes);
}

static void check_text(const char *s, const char *what)
{
	for (; *s; s++)
		FUZZ_CHECK(*s != '\r' && *s != '\n', "%s holds a line break", what);
}

static void check_rules(const struct glob_rule *r, size_t n, int maxval, const char *what)
{
	size_t i;

	for (i = 0; i < n; i++)
		FUZZ_CHECK(r[i].glob && *r[i].glob && r[i].value >= 0 && r[i].value <= maxval &&
			   r[i].line > 0, "%s rule %zu", what, i);
}

static void check_loaded(const struct config *c)
{
	size_t i, k, n;
	const char *s;

	FUZZ_CHECK(c->path && !strcmp(c->path, path), "cfg.path");
	n = strlen(c->client_prefix);
	FUZZ_CHECK(n <= 40, "client_prefix of %zu characters", n);
	for (s = c->client_prefix; *s; s++)
		FUZZ_CHECK((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			   (*s >= '0' && *s <= '9') || *s == '_' || *s == '-',
			   "client_prefix holds 0x%02x", (unsigned char)*s);
	check_ms(c->call_timeout_ms, 0, "call_timeout");
	check_ms(c->connect_timeout_ms, 0, "connect_timeout");
	check_ms(c->approval_timeout_ms, 0, "approval_timeout");
	check_ms(c->vault.cache_ttl_ms, 0, "cache_ttl");
	check_mib(c->max_message, 0, "max_message");
	FUZZ_CHECK(c->approvals >= APPROVALS_AUTO && c->approvals <= APPROVALS_DENY, "approvals");
	FUZZ_CHECK(!c->audit_log || c->audit_log[0] == '/', "audit_log not absolute");
	FUZZ_CHECK(c->vault.type >= VAULT_LOCAL && c->vault.type <= VAULT_NONE, "vault type");
	FUZZ_CHECK(c->vault.auth >= VAULT_AUTH_TOKEN && c->vault.auth <= VAULT_AUTH_APPROLE,
		   "vault auth");
	FUZZ_CHECK(c->vault.path && c->vault.path[0] == '/', "vault path");
	FUZZ_CHECK(c->vault.key_file && c->vault.key_file[0] == '/', "vault key_file");
	FUZZ_CHECK(!c->vault.ca_file || c->vault.ca_file[0] == '/', "vault ca_file");
	FUZZ_CHECK(!c->vault.secret_id_file || c->vault.secret_id_file[0] == '/', "secret_id_file");
	FUZZ_CHECK(!c->vault.address || !strncasecmp(c->vault.address, "http", 4), "vault address");
	FUZZ_CHECK(c->nconnectors <= CONFIG_MAX_CONNECTORS, "%zu connectors", c->nconnectors);
	for (i = 0; i < c->nconnectors; i++) {
		const struct connector_cfg *cc = &c->connectors[i];

		FUZZ_CHECK(cc->name && cc->name[0], "connector %zu has no name", i);
		n = strlen(cc->alias);
		FUZZ_CHECK(n >= 1 && n <= CONFIG_MAX_ALIAS, "alias of %zu characters", n);
		for (s = cc->alias; *s; s++)
			FUZZ_CHECK(is_alias_char(*s), "alias holds 0x%02x", (unsigned char)*s);
		for (k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(c->connectors[k].alias, cc->alias) != 0,
				   "alias %s used twice", cc->alias);
		FUZZ_CHECK(cc->url && (!strncasecmp(cc->url, "http://", 7) ||
				       !strncasecmp(cc->url, "https://", 8)), "url scheme");
		for (s = cc->url; *s; s++)
			FUZZ_CHECK((unsigned char)*s > 0x20 && *s != 0x7f, "url holds 0x%02x",
				   (unsigned char)*s);
		for (k = 0; k < cc->nheaders; k++) {
			s = strchr(cc->headers[k], ':');
			FUZZ_CHECK(s && s > cc->headers[k] && s[1] == ' ' && s[2], "header %s",
				   cc->headers[k]);
			check_text(cc->headers[k], "a header");
		}
		FUZZ_CHECK(cc->auth_header && cc->auth_header[0], "auth_header");
		check_text(cc->auth_header, "auth_header");
		FUZZ_CHECK(cc->auth_scheme, "auth_scheme");
		check_text(cc->auth_scheme, "auth_scheme");
		FUZZ_CHECK(!cc->token || !strncmp(cc->token->text, "env:", 4) ||
			   !strncmp(cc->token->text, "file:/", 6) ||
			   !strncmp(cc->token->text, "local:", 6) ||
			   !strncmp(cc->token->text, "vault:", 6) ||
			   !strncmp(cc->token->text, "oauth:", 6),
			   "token is not a reference");
		for (k = 0; k < cc->ntools; k++)
			FUZZ_CHECK(cc->tools[k][0], "an empty tools glob");
		for (k = 0; k < cc->nhide; k++)
			FUZZ_CHECK(cc->hide[k][0], "an empty hide glob");
		check_ms(cc->timeout_ms, 1, "timeout");
		check_mib(cc->max_message, 1, "a connector's max_message");
		FUZZ_CHECK(cc->approval >= APPROVAL_DEFAULT && cc->approval <= APPROVAL_AUTO,
			   "approval");
		check_rules(cc->approval_rules, cc->napproval_rules, APPROVAL_AUTO, "approval");
		check_rules(cc->label_rules, cc->nlabel_rules, LABEL_WRITE, "label");
		FUZZ_CHECK(cc->line > 0, "connector line");
	}
}

static void check_refused(const struct config *c, const struct buf *err)
{
	const char *p = buf_str(err), *nl;
	size_t plen = strlen(path);

	FUZZ_CHECK(err->len > 0 && err->data[err->len - 1] == '\n', "refused without a message");
	FUZZ_CHECK(!c->path && !c->connectors && !c->nconnectors && !c->client_prefix,
		   "a refused config is not empty");
	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		FUZZ_CHECK(nl, "an error line without its newline");
		FUZZ_CHECK(!strncmp(p, path, plen) && p[plen] == ':', "an error line not PATH:...");
	}
}

/*
 * What loading may need: a line buffer, and per line a few copies of at most
 * a line's cap (its value, a message that may quote the section's name);
 * never the bytes of a line past its cap.
 */
static size_t memory_bound(const uint8_t *data, size_t size)
{
	size_t lines = 0, bytes = 0, i = 0, n;
	const uint8_t *nl;

	while (i < size) {
		nl = memchr(data + i, '\n', size - i);
		n = nl ? (size_t)(nl - (data + i)) + 1 : size - i;
		bytes += n < 4096 ? n : 4096;
		lines++;
		i += n;
	}
	return (128u << 10) + lines * (16u << 10) + 16 * bytes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	size_t peak;
	int rc;

	if (ftruncate(memfd, 0) || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	fuzz_mem_begin();
	rc = config_load(&cfg, path, &err);
	if (rc == 0) {
		check_loaded(&cfg);
		config_free(&cfg);
	} else {
		FUZZ_CHECK(rc == -1, "config_load returned %d", rc);
		check_refused(&cfg, &err);
	}
	buf_free(&err);
	peak = fuzz_mem_peak();
	FUZZ_CHECK(peak <= memory_bound(data, size), "config_load of %zu bytes needed %zu bytes",
		   size, peak);
	return 0;
}
