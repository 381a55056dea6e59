/*
 * mux.h - every connector of the config and the merged catalog.
 *
 * Contract. The mux creates one connector per configured [connector.NAME]
 * (config order), starts the enabled ones at once, and rebuilds the catalog
 * when a connector's tool list changes (lazily: at the next lookup). Its
 * listener (serve's server, or nothing for `tools` / `check`) hears state
 * and catalog changes, connectors' notifications and connectors' requests
 * for the agent.
 *
 * Ownership. struct mux is opaque: only mux.c writes it. It is owned by the
 * command that created it (mux_new / mux_free) and owns the connectors, the
 * catalog and the shared credential cache. Connectors and catalog entries
 * it hands out are borrowed: valid until mux_free(), and, for catalog
 * entries, until the catalog is next rebuilt.
 */
#ifndef MCPMUX_MUX_H
#define MCPMUX_MUX_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "config.h"
#include "connector.h"
#include "loop.h"

struct mux;

struct mux_listener {
	/* a connector's state or the catalog changed */
	void (*changed)(struct mux *m, void *arg);
	/* a connector's notification */
	void (*notify)(struct mux *m, struct connector *c, const char *msg, size_t n,
		       const struct json *j, void *arg);
	/* a connector's request for the agent */
	void (*request)(struct mux *m, struct connector *c, const char *msg, size_t n,
			const struct json *j, void *arg);
	void *arg;
};

struct mux *mux_new(struct loop *loop, const struct config *cfg);
/* The same with connectors from `make` instead of connector_new() (tests use fakes). */
typedef struct connector *(*mux_factory)(struct loop *loop, const struct config *cfg,
					  const struct connector_cfg *c,
					  const struct conn_events *ev, struct creds *creds);
struct mux *mux_new_with(struct loop *loop, const struct config *cfg, mux_factory make);
void mux_free(struct mux *m);
/* The one listener (copied), or NULL for none. */
void mux_listen(struct mux *m, const struct mux_listener *l);
/* client_caps: see connector_start(). */
void mux_start(struct mux *m, const char *client_caps);

/* The merged catalog, rebuilt first if a connector's tools changed. Its
   pointers stay valid until a connector's list changes again. */
const struct catalog *mux_catalog(struct mux *m);
/* Bumped when the catalog's content changes. */
uint64_t mux_generation(const struct mux *m);

/* 1 when no enabled connector is still starting. */
int mux_settled(const struct mux *m);

/* The connectors, config order. */
size_t mux_count(const struct mux *m);
struct connector *mux_connector(const struct mux *m, size_t i);
/* The connector whose alias prefixes name as "<alias>__", or NULL. */
struct connector *mux_connector_for(const struct mux *m, const char *name, size_t n);

const struct config *mux_config(const struct mux *m);

/* Ends every session (DELETE) and runs the loop until done or timeout_ms. */
void mux_close(struct mux *m, long timeout_ms);

#endif
