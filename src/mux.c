/* mux.c - connectors and catalog together; see include/mux.h. */
#include "mux.h"

#include "creds.h"

#include <stdlib.h>
#include <string.h>

static uint64_t generation_sum(const struct mux *m)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < m->nups; i++)
		sum += upstream_generation(m->ups[i]);
	return sum;
}

/*
 * The catalog is rebuilt when it is next used, not each time a connector's
 * list changes: a hundred connectors becoming ready one after another cost
 * one rebuild, not a hundred. Until then nobody looks at its (stale) pointers.
 */
const struct catalog *mux_catalog(struct mux *m)
{
	if (m->cat_dirty) {
		catalog_build(&m->cat, m->ups, m->nups, m->cfg->client_prefix);
		m->cat_dirty = 0;
	}
	return &m->cat;
}

static void on_up_changed(struct upstream *up, void *arg)
{
	struct mux *m = arg;
	uint64_t sum = generation_sum(m);

	(void)up;
	if (sum != m->generation) {
		m->cat_dirty = 1;
		m->generation = sum;
	}
	if (m->on_change)
		m->on_change(m, m->arg);
}

static void on_up_request(struct upstream *up, const char *msg, size_t n,
			  const struct json *j, void *arg)
{
	struct mux *m = arg;

	if (m->on_request)
		m->on_request(m, up, msg, n, j, m->arg);
}

static void on_up_notify(struct upstream *up, const char *msg, size_t n,
			 const struct json *j, void *arg)
{
	struct mux *m = arg;

	if (m->on_notify)
		m->on_notify(m, up, msg, n, j, m->arg);
}

struct mux *mux_new(struct loop *loop, const struct config *cfg)
{
	struct mux *m = calloc(1, sizeof(*m));
	struct up_events ev = { on_up_changed, on_up_notify, on_up_request, NULL };
	size_t i;

	if (!m)
		abort();
	m->loop = loop;
	m->cfg = cfg;
	catalog_init(&m->cat);
	ev.arg = m;
	m->nups = cfg->nconnectors;
	m->ups = calloc(m->nups ? m->nups : 1, sizeof(*m->ups));
	if (!m->ups)
		abort();
	m->creds = creds_new(loop, cfg);
	for (i = 0; i < m->nups; i++)
		m->ups[i] = upstream_new(loop, cfg, &cfg->connectors[i], &ev, m->creds);
	return m;
}

void mux_free(struct mux *m)
{
	size_t i;

	if (!m)
		return;
	catalog_free(&m->cat);
	for (i = 0; i < m->nups; i++)
		upstream_free(m->ups[i]);
	free(m->ups);
	creds_free(m->creds);
	free(m);
}

void mux_start(struct mux *m, const char *client_caps)
{
	size_t i;

	for (i = 0; i < m->nups; i++)
		upstream_start(m->ups[i], client_caps);
}

int mux_settled(const struct mux *m)
{
	size_t i;

	for (i = 0; i < m->nups; i++)
		if (upstream_settling(m->ups[i]))
			return 0;
	return 1;
}

struct upstream *mux_upstream_for(const struct mux *m, const char *name, size_t n)
{
	size_t i, al;

	for (i = 0; i < m->nups; i++) {
		const char *alias = upstream_cfg(m->ups[i])->alias;

		al = strlen(alias);
		if (n > al + 2 && memcmp(name, alias, al) == 0 &&
		    name[al] == '_' && name[al + 1] == '_')
			return m->ups[i];
	}
	return NULL;
}

static int all_closed(const struct mux *m)
{
	size_t i;

	for (i = 0; i < m->nups; i++)
		if (!upstream_closed(m->ups[i]))
			return 0;
	return 1;
}

void mux_close(struct mux *m, long timeout_ms)
{
	int64_t end = loop_now() + timeout_ms + 100, now;
	size_t i;

	m->on_change = NULL;
	m->on_notify = NULL;
	m->on_request = NULL;
	for (i = 0; i < m->nups; i++)
		upstream_close(m->ups[i], timeout_ms);
	while (!all_closed(m) && (now = loop_now()) < end)
		if (loop_run_once(m->loop, (int)(end - now)))
			break;
}
