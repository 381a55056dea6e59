/* mux.c - connectors and catalog together; see include/mux.h. */
#include "mux.h"

#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "xalloc.h"

struct mux {
	struct loop *loop;		/* not owned */
	const struct config *cfg;	/* not owned */
	struct connector **conns;	/* one per configured connector, config order */
	size_t n;
	struct catalog cat;		/* the merged tools: read it through mux_catalog() */
	int cat_dirty;			/* a tool list changed since cat was built */
	struct creds *creds;		/* credentials, shared by the connectors */
	uint64_t generation;		/* bumped when the catalog's content changes */
	struct mux_listener l;
};

static uint64_t generation_sum(const struct mux *m)
{
	struct conn_status st;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < m->n; i++) {
		connector_status(m->conns[i], &st);
		sum += st.generation;
	}
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
		catalog_build(&m->cat, m->conns, m->n, m->cfg->client_prefix);
		m->cat_dirty = 0;
	}
	return &m->cat;
}

uint64_t mux_generation(const struct mux *m)
{
	return m->generation;
}

static void on_changed(struct connector *c, void *arg)
{
	struct mux *m = arg;
	uint64_t sum = generation_sum(m);

	(void)c;
	if (sum != m->generation) {
		m->cat_dirty = 1;
		m->generation = sum;
	}
	if (m->l.changed)
		m->l.changed(m, m->l.arg);
}

static void on_request(struct connector *c, const char *msg, size_t n,
		       const struct json *j, void *arg)
{
	struct mux *m = arg;

	if (m->l.request)
		m->l.request(m, c, msg, n, j, m->l.arg);
}

static void on_notify(struct connector *c, const char *msg, size_t n,
		      const struct json *j, void *arg)
{
	struct mux *m = arg;

	if (m->l.notify)
		m->l.notify(m, c, msg, n, j, m->l.arg);
}

struct mux *mux_new(struct loop *loop, const struct config *cfg)
{
	return mux_new_with(loop, cfg, connector_new);
}

struct mux *mux_new_with(struct loop *loop, const struct config *cfg, mux_factory make)
{
	struct mux *m = xcalloc(1, sizeof(*m));
	struct conn_events ev = { on_changed, on_notify, on_request, NULL };
	size_t i;

	m->loop = loop;
	m->cfg = cfg;
	catalog_init(&m->cat);
	ev.arg = m;
	m->n = cfg->nconnectors;
	m->conns = xcalloc(m->n, sizeof(*m->conns));
	m->creds = creds_new(loop, cfg);
	for (i = 0; i < m->n; i++)
		m->conns[i] = make(loop, cfg, &cfg->connectors[i], &ev, m->creds);
	return m;
}

void mux_free(struct mux *m)
{
	size_t i;

	if (!m)
		return;
	catalog_free(&m->cat);
	for (i = 0; i < m->n; i++)
		connector_free(m->conns[i]);
	free(m->conns);
	creds_free(m->creds);
	free(m);
}

void mux_listen(struct mux *m, const struct mux_listener *l)
{
	if (l)
		m->l = *l;
	else
		memset(&m->l, 0, sizeof(m->l));
}

void mux_start(struct mux *m, const char *client_caps)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		connector_start(m->conns[i], client_caps);
}

int mux_settled(const struct mux *m)
{
	struct conn_status st;
	size_t i;

	for (i = 0; i < m->n; i++) {
		connector_status(m->conns[i], &st);
		if (st.settling)
			return 0;
	}
	return 1;
}

size_t mux_count(const struct mux *m)
{
	return m->n;
}

struct connector *mux_connector(const struct mux *m, size_t i)
{
	return i < m->n ? m->conns[i] : NULL;
}

const struct config *mux_config(const struct mux *m)
{
	return m->cfg;
}

struct connector *mux_connector_for(const struct mux *m, const char *name, size_t n)
{
	size_t i, al;

	for (i = 0; i < m->n; i++) {
		const char *alias = connector_alias(m->conns[i]);

		al = strlen(alias);
		if (n > al + 2 && memcmp(name, alias, al) == 0 &&
		    name[al] == '_' && name[al + 1] == '_')
			return m->conns[i];
	}
	return NULL;
}

static int all_closed(const struct mux *m)
{
	struct conn_status st;
	size_t i;

	for (i = 0; i < m->n; i++) {
		connector_status(m->conns[i], &st);
		if (!st.closed)
			return 0;
	}
	return 1;
}

void mux_close(struct mux *m, long timeout_ms)
{
	int64_t end = loop_now() + timeout_ms + 100, now;
	size_t i;

	mux_listen(m, NULL);
	for (i = 0; i < m->n; i++)
		connector_close(m->conns[i], timeout_ms);
	while (!all_closed(m) && (now = loop_now()) < end)
		if (loop_run_once(m->loop, (int)(end - now)))
			break;
}
