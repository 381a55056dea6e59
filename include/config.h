/*
 * config.h - the INI configuration (parsed with inih), validated up front.
 *
 * Every error is reported as "FILE:LINE: message" and stops the program
 * before it speaks MCP: unknown sections and keys are errors, never ignored.
 * A struct config is owned by the command that loaded it (main); connectors
 * hold pointers into it for the process lifetime. config_free() releases
 * everything, including the connector array. Only config.c writes these
 * structs (config_load fills them once); everyone else reads them through
 * const pointers and nothing changes them while the program runs.
 *
 * Accepted now:
 *   [mcpmux]  client_prefix, call_timeout, connect_timeout, approvals,
 *             approval_timeout, audit_log, max_message
 *   [vault]   type, path, key_file, address, namespace, ca_file, auth,
 *             token_file, role_id, secret_id_file, cache_ttl
 *   [connector "NAME"]  url, alias, enabled, header (repeatable), auth_header,
 *             auth_scheme, token, tools, hide, timeout, approval, max_message,
 *             approval.<tool-glob> and label.<tool-glob> (one line per glob)
 * Durations are whole seconds in the file (1..86400) and milliseconds here;
 * sizes are whole MiB in the file and bytes here.
 */
#ifndef MCPMUX_CONFIG_H
#define MCPMUX_CONFIG_H

#include <stddef.h>

#include "buf.h"
#include "credref.h"

#define CONFIG_DEFAULT_PREFIX		"mcp__mux__"
#define CONFIG_DEFAULT_CALL_MS		60000
#define CONFIG_DEFAULT_CONNECT_MS	10000
#define CONFIG_MAX_CONNECTORS		256
#define CONFIG_MAX_ALIAS		32
#define CONFIG_DEFAULT_APPROVAL_MS	120000
#define CONFIG_DEFAULT_AUDIT		"~/.local/state/mcpmux/audit.jsonl"
#define CONFIG_DEFAULT_MESSAGE_MIB	16	/* the largest message a connector may send */
#define CONFIG_MAX_MESSAGE_MIB		1024

/* How asked calls reach a human ([mcpmux] approvals). */
enum approvals_channel {
	APPROVALS_AUTO,		/* a terminal if attached, else elicitation, else wait for a terminal */
	APPROVALS_TERMINAL,	/* only `mcpmux approve` */
	APPROVALS_TTY,		/* a prompt on /dev/tty */
	APPROVALS_ELICITATION,	/* only the client's MCP elicitation */
	APPROVALS_DENY		/* every asked call is denied */
};

/* Whether calling a tool asks (approval = ...). */
enum approval_mode {
	APPROVAL_DEFAULT,	/* read tools run, write tools ask */
	APPROVAL_ASK,		/* always ask */
	APPROVAL_AUTO		/* never ask */
};

enum tool_label {
	LABEL_UNSET = -1,	/* no override: the tool's annotations decide */
	LABEL_READ,
	LABEL_WRITE
};

/* A per-tool setting: the first rule whose glob matches the upstream name wins. */
struct glob_rule {
	char *glob;		/* fnmatch pattern on the upstream tool name */
	int value;		/* an enum approval_mode or enum tool_label */
	int line;		/* where it was set */
};

enum vault_type {
	VAULT_LOCAL,		/* mcpmux's own encrypted file (default) */
	VAULT_HASHICORP,	/* HashiCorp Vault or OpenBao over HTTP */
	VAULT_NONE		/* only env: and file: references */
};

enum vault_auth {
	VAULT_AUTH_TOKEN,	/* BAO_TOKEN, VAULT_TOKEN, then token_file */
	VAULT_AUTH_APPROLE	/* role_id + secret_id_file */
};

/* [vault]: where local:, vault: and oauth: references are fetched from. */
struct vault_cfg {
	int type;		/* enum vault_type */
	char *path;		/* local: the store file (absolute) */
	char *key_file;		/* local: the random key file (absolute) */
	char *address;		/* hashicorp: base URL, or NULL for $BAO_ADDR / $VAULT_ADDR */
	char *namespace_;	/* hashicorp: X-Vault-Namespace, or NULL ($BAO_/$VAULT_NAMESPACE) */
	char *ca_file;		/* hashicorp: CA bundle, or NULL ($BAO_/$VAULT_CACERT, system) */
	int auth;		/* enum vault_auth */
	char *token_file;	/* token auth: absolute path (default ~/.vault-token) */
	char *role_id;		/* approle: the role id (not a secret) */
	char *secret_id_file;	/* approle: file holding the secret id */
	long cache_ttl_ms;	/* lifetime of a credential with no expiry of its own */
	int line;		/* line of [vault], 0 when absent */
};

#define CONFIG_DEFAULT_VAULT_PATH	"~/.local/share/mcpmux/vault"
#define CONFIG_DEFAULT_VAULT_KEY	"~/.config/mcpmux/vault.key"
#define CONFIG_DEFAULT_TOKEN_FILE	"~/.vault-token"
#define CONFIG_DEFAULT_CACHE_TTL_MS	300000

struct connector_cfg {
	char *name;		/* NAME from [connector "NAME"], as written */
	char *alias;		/* [a-z0-9-]{1,32}, unique; default: name slugified */
	char *url;		/* http:// or https:// URL of the MCP endpoint */
	int enabled;		/* 1 unless enabled = no/false/0/off */
	char **headers;		/* extra "Name: value" headers, in file order */
	size_t nheaders;
	char *auth_header;	/* header carrying the credential; default "Authorization" */
	char *auth_scheme;	/* "Bearer" by default; "" sends the token raw;
				   "Basic" base64-encodes user:password */
	struct cred_ref *token;	/* the credential reference (credref.h), parsed; NULL for none */
	char **tools;		/* allow-list globs on upstream names; empty = all */
	size_t ntools;
	char **hide;		/* deny-list globs on upstream names */
	size_t nhide;
	long timeout_ms;	/* per-request deadline; 0 = use config.call_timeout_ms */
	size_t max_message;	/* bytes; 0 = use config.max_message */
	int approval;		/* enum approval_mode for every tool of the connector */
	struct glob_rule *approval_rules; /* approval.<glob> lines, file order */
	size_t napproval_rules;
	struct glob_rule *label_rules;	/* label.<glob> lines, file order */
	size_t nlabel_rules;
	int line;		/* line of the section header, for messages */
};

struct config {
	char *path;		/* the file that was loaded */
	char *client_prefix;	/* prefix the agent adds before our names */
	long call_timeout_ms;	/* default deadline of one upstream request */
	long connect_timeout_ms; /* how long tools/list waits for starting connectors */
	int approvals;		/* enum approvals_channel */
	long approval_timeout_ms; /* how long an asked call waits for a human */
	char *audit_log;	/* absolute path of the audit file, NULL when off */
	size_t max_message;	/* bytes: a longer message from a connector is refused */
	struct vault_cfg vault;	/* the [vault] section, defaults when absent */
	struct connector_cfg *connectors; /* in file order */
	size_t nconnectors;
};

/*
 * Loads and validates `path`. On error returns -1 with "FILE:LINE: message"
 * (several lines when there are several errors) in err; cfg is then empty.
 * Checks: unknown section or key; bad or missing url (http/https only);
 * invalid or duplicate alias; enabled not a boolean; timeouts not whole
 * seconds in range; header without "Name: value"; a token that is not a
 * reference (a literal secret is refused); env: variable unset or empty;
 * file: path not absolute or unreadable. Values may carry " ; comment".
 */
int config_load(struct config *cfg, const char *path, struct buf *err);
void config_free(struct config *cfg);

/*
 * The file to use: `explicit` (from -c) if given, else $MCPMUX_CONFIG, else
 * $XDG_CONFIG_HOME/mcpmux/mcpmux.ini (or ~/.config/...), else
 * /etc/mcpmux/mcpmux.ini. Writes the chosen path into out. Returns 0 when
 * that file exists (or was given explicitly), -1 when none was found; in
 * both cases `looked` gets one line per place that was tried.
 */
int config_find(const char *explicit_path, struct buf *out, struct buf *looked);

/* Default alias: lower-case, every run of other characters becomes one '-',
   trimmed, cut to CONFIG_MAX_ALIAS. Writes into out (cleared first). */
void config_slugify(const char *name, struct buf *out);

/* fnmatch-style glob lists: 1 when name matches any of globs. */
int config_glob_any(char *const *globs, size_t n, const char *name);

/* 1 when the tool passes the connector's tools/hide filters. */
int config_tool_allowed(const struct connector_cfg *c, const char *tool);

/* The value of the first rule matching tool, or dflt. */
int config_rule_value(const struct glob_rule *rules, size_t n, const char *tool, int dflt);

const char *config_approvals_name(int channel);

/*
 * URLs are judged as libcurl parses them, since libcurl is what connects.
 *
 * config_is_loopback_url: 1 for an http:// or https:// URL whose host is
 * 127.0.0.0/8 as four decimal octets, localhost or [::1]. libcurl writes
 * the other IPv4 forms it accepts (127.1, 0x7f.1, 2130706433) as four
 * octets before it connects, so those count for the address they are.
 *
 * config_check_vault_url: 0 when a vault token may be sent to url: https://,
 * or http:// to a loopback host, and no user name or password before the
 * host. Otherwise -1, with the reason appended to why: a sentence that never
 * quotes the URL (it may hold a password) and follows the name of where the
 * URL came from ("address must use https:// ...", "VAULT_ADDR must ...").
 */
int config_is_loopback_url(const char *url);
int config_check_vault_url(const char *url, struct buf *why);

#endif
