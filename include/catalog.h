/*
 * catalog.h - the merged tool list: exposed names and where they route.
 *
 * Exposed name: "<alias>__<tool>", only [A-Za-z0-9_-] (anything else
 * becomes '_'). client_prefix + name never exceeds 64 characters: a longer
 * name is cut and ends in '_' + 6 hex digits of the SHA-256 of the full
 * unaltered name, so it is stable across restarts. When two tools would get
 * the same name, a name that needed no change keeps it and the others take
 * the hashed form; the result depends only on the set of tools, not on the
 * order connectors became ready. Every clash is logged.
 *
 * The catalog is rebuilt as a whole when any connector's tool list changes
 * (rare); lookups are O(1) per call. It holds pointers into the connectors'
 * tool arrays, so it must be rebuilt before those arrays are used again
 * after a change. Owned by the mux: only catalog.c writes a struct catalog
 * (catalog_build*); the mux hands it out as const and callers read
 * `entries` and `n`.
 */
#ifndef MCPMUX_CATALOG_H
#define MCPMUX_CATALOG_H

#include <stddef.h>

#include "buf.h"
#include "connector.h"

#define NAME_LIMIT 64

struct cat_entry {
	char *exposed;			/* the name the agent sees and calls */
	struct connector *conn;		/* where calls go (not owned) */
	const struct conn_tool *tool;	/* the connector's tool (not owned) */
};

struct catalog {
	struct cat_entry *entries;	/* connector order, then upstream order */
	size_t n;
	size_t *slots;			/* open-addressing hash: entry index + 1, 0 = empty */
	size_t nslots;			/* a power of two, > 2n */
};

void catalog_init(struct catalog *c);
void catalog_free(struct catalog *c);

/* Rebuilds from every connector's current tool list. */
void catalog_build(struct catalog *c, struct connector *const *conns, size_t n, const char *prefix);

/* The same from plain lists (what catalog_build uses; tests call it directly). */
struct cat_source {
	struct connector *conn;		/* recorded in entries, not dereferenced */
	const struct connector_cfg *cfg; /* alias and tools/hide filters */
	const struct conn_tool *tools;
	size_t ntools;
};
void catalog_build_from(struct catalog *c, const struct cat_source *src, size_t n,
			const char *prefix);

const struct cat_entry *catalog_find(const struct catalog *c, const char *name, size_t n);

/* Appends the tools, comma-separated, each spliced with its exposed name. */
void catalog_write_tools(const struct catalog *c, struct buf *out);

/* Naming, exposed for tests. */
/* Appends s with every character outside [A-Za-z0-9_-] replaced by '_'. */
void names_sanitize(const char *s, struct buf *out);
/* The exposed name for alias/tool within `budget` characters; *altered is
   set when it differs from "<alias>__<tool>". */
void names_make(const char *alias, const char *tool, size_t budget,
		struct buf *out, int *altered);
/* The hashed form: the name cut to budget-7 characters + '_' + 6 hex digits. */
void names_hashed(const char *alias, const char *tool, size_t budget, struct buf *out);

#endif
