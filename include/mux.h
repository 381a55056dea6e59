/*
 * mux.h - the router: every connector's session and the merged catalog.
 *
 * The mux starts all enabled connectors at once, rebuilds the catalog when
 * a connector's tool list changes, and tells its listener (the downstream,
 * or a command waiting for results) through `on_change`. Owned by the
 * command that created it; it owns the upstreams and the catalog.
 */
#ifndef MCPMUX_MUX_H
#define MCPMUX_MUX_H

#include <stddef.h>

#include "catalog.h"
#include "config.h"
#include "loop.h"
#include "upstream.h"

struct mux {
	struct loop *loop;		/* not owned */
	const struct config *cfg;	/* not owned */
	struct upstream **ups;		/* one per configured connector, config order */
	size_t nups;
	struct catalog cat;		/* the merged tools: read it through mux_catalog() */
	int cat_dirty;			/* a tool list changed since cat was built */
	struct creds *creds;		/* credentials, shared by the connectors (owned) */
	uint64_t generation;		/* bumped when the catalog's content changes */
	void (*on_change)(struct mux *m, void *arg); /* state or catalog changed */
	void (*on_notify)(struct mux *m, struct upstream *up, const char *msg, size_t n,
			  const struct json *j, void *arg); /* a connector's notification */
	void (*on_request)(struct mux *m, struct upstream *up, const char *msg, size_t n,
			   const struct json *j, void *arg); /* a connector's request for the agent */
	void *arg;			/* for the two callbacks */
};

struct mux *mux_new(struct loop *loop, const struct config *cfg);
void mux_free(struct mux *m);
/* client_caps: see upstream_start(). */
void mux_start(struct mux *m, const char *client_caps);

/* The merged catalog, rebuilt first if a connector's tools changed. Its
   pointers stay valid until a connector's list changes again. */
const struct catalog *mux_catalog(struct mux *m);

/* 1 when no enabled connector is still starting. */
int mux_settled(const struct mux *m);

/* The connector whose alias prefixes name as "<alias>__", or NULL. */
struct upstream *mux_upstream_for(const struct mux *m, const char *name, size_t n);

/* Ends every session (DELETE) and runs the loop until done or timeout_ms. */
void mux_close(struct mux *m, long timeout_ms);

#endif
