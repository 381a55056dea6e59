/* catalog.c - merged names and routing; see include/catalog.h. */
#include "catalog.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"

void catalog_init(struct catalog *c)
{
	memset(c, 0, sizeof(*c));
}

static void clear(struct catalog *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->entries[i].exposed);
	free(c->entries);
	free(c->slots);
	catalog_init(c);
}

void catalog_free(struct catalog *c)
{
	clear(c);
}

static int name_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

void names_sanitize(const char *s, struct buf *out)
{
	for (; *s; s++)
		buf_putc(out, name_ok(*s) ? *s : '_');
}

static void full_name(const char *alias, const char *tool, struct buf *out)
{
	buf_puts(out, alias);
	buf_puts(out, "__");
	buf_puts(out, tool);
}

void names_hashed(const char *alias, const char *tool, size_t budget, struct buf *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[crypto_hash_sha256_BYTES];
	struct buf full = BUF_INIT, clean = BUF_INIT;
	size_t keep = budget > 7 ? budget - 7 : 0, k;

	full_name(alias, tool, &full);
	crypto_hash_sha256(h, (const unsigned char *)full.data, full.len);
	names_sanitize(full.data, &clean);
	buf_add(out, clean.data, clean.len < keep ? clean.len : keep);
	buf_putc(out, '_');
	for (k = 0; k < 3; k++) {
		buf_putc(out, hex[h[k] >> 4]);
		buf_putc(out, hex[h[k] & 15]);
	}
	buf_free(&full);
	buf_free(&clean);
}

void names_make(const char *alias, const char *tool, size_t budget,
		struct buf *out, int *altered)
{
	struct buf full = BUF_INIT;
	size_t at = out->len;

	full_name(alias, tool, &full);
	names_sanitize(full.data, out);
	*altered = strcmp(out->data + at, full.data) != 0;
	if (out->len - at > budget) {
		out->len = at;
		out->data[at] = '\0';
		names_hashed(alias, tool, budget, out);
		*altered = 1;
	}
	buf_free(&full);
}

static uint64_t hash_name(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

const struct cat_entry *catalog_find(const struct catalog *c, const char *name, size_t n)
{
	size_t mask, i;

	if (!c->nslots)
		return NULL;
	mask = c->nslots - 1;
	for (i = hash_name(name, n) & mask; c->slots[i]; i = (i + 1) & mask) {
		const struct cat_entry *e = &c->entries[c->slots[i] - 1];

		if (strlen(e->exposed) == n && memcmp(e->exposed, name, n) == 0)
			return e;
	}
	return NULL;
}

static void insert(struct catalog *c, size_t idx)
{
	const char *name = c->entries[idx].exposed;
	size_t mask = c->nslots - 1, i;

	for (i = hash_name(name, strlen(name)) & mask; c->slots[i]; i = (i + 1) & mask)
		;
	c->slots[i] = idx + 1;
}

struct cand {
	struct connector *conn;
	const struct connector_cfg *cfg;
	const struct conn_tool *tool;
	char *name;
	int altered;
	int keep;
};

static size_t budget_for(const char *prefix)
{
	size_t p = strlen(prefix);

	return p < NAME_LIMIT - 8 ? NAME_LIMIT - p : 8;
}

/* Gives names to candidates in two passes: unaltered names first, so that a
   tool whose name needed no change never loses it to one that did. */
static void assign(struct catalog *c, struct cand *cs, size_t nc, size_t budget)
{
	struct catalog tmp;
	int pass;
	size_t i;

	tmp.entries = xcalloc(nc, sizeof(*tmp.entries));
	tmp.nslots = 16;
	while (tmp.nslots < nc * 2 + 2)
		tmp.nslots *= 2;
	tmp.slots = xcalloc(tmp.nslots, sizeof(*tmp.slots));
	tmp.n = 0;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < nc; i++) {
			struct cand *k = &cs[i];
			const char *alias = k->cfg->alias;

			if (k->altered != pass)
				continue;
			if (catalog_find(&tmp, k->name, strlen(k->name))) {
				struct buf h = BUF_INIT;

				names_hashed(alias, k->tool->name, budget, &h);
				log_warn("tool name clash: '%s' from connector '%s' is exposed as '%s'",
					 k->name, alias, h.data);
				free(k->name);
				k->name = buf_detach(&h, NULL);
				if (catalog_find(&tmp, k->name, strlen(k->name))) {
					log_warn("tool '%s' of connector '%s' is left out: its name clashes",
						 k->tool->name, alias);
					continue;
				}
			}
			tmp.entries[tmp.n].exposed = k->name;
			tmp.entries[tmp.n].conn = k->conn;
			tmp.entries[tmp.n].tool = k->tool;
			k->keep = 1;
			insert(&tmp, tmp.n++);
		}
	}
	/* Back to connector order for listing; rebuild the index for it. */
	c->entries = xcalloc(tmp.n, sizeof(*c->entries));
	c->nslots = tmp.nslots;
	c->slots = xcalloc(c->nslots, sizeof(*c->slots));
	for (i = 0; i < nc; i++) {
		if (!cs[i].keep)
			continue;
		c->entries[c->n].exposed = cs[i].name;
		c->entries[c->n].conn = cs[i].conn;
		c->entries[c->n].tool = cs[i].tool;
		cs[i].name = NULL;
		insert(c, c->n++);
	}
	free(tmp.entries);
	free(tmp.slots);
}

void catalog_build_from(struct catalog *c, const struct cat_source *src, size_t n,
			const char *prefix)
{
	size_t budget = budget_for(prefix), nc = 0, cap = 0, u, t, i;
	struct cand *cs = NULL;

	clear(c);
	for (u = 0; u < n; u++) {
		for (t = 0; t < src[u].ntools; t++) {
			const struct conn_tool *tool = &src[u].tools[t];
			struct buf name = BUF_INIT;

			if (!config_tool_allowed(src[u].cfg, tool->name))
				continue;
			if (nc == cap) {
				cap = cap ? cap * 2 : 64;
				cs = xrealloc(cs, cap, sizeof(*cs));
			}
			cs[nc].conn = src[u].conn;
			cs[nc].cfg = src[u].cfg;
			cs[nc].tool = tool;
			cs[nc].keep = 0;
			names_make(src[u].cfg->alias, tool->name, budget, &name, &cs[nc].altered);
			cs[nc].name = buf_detach(&name, NULL);
			nc++;
		}
	}
	assign(c, cs, nc, budget);
	for (i = 0; i < nc; i++)
		free(cs[i].name);
	free(cs);
}

void catalog_build(struct catalog *c, struct connector *const *conns, size_t nups, const char *prefix)
{
	struct cat_source *src = xcalloc(nups, sizeof(*src));
	size_t i;

	for (i = 0; i < nups; i++) {
		src[i].conn = conns[i];
		src[i].cfg = conns[i]->cfg;
		src[i].tools = connector_tools(conns[i], &src[i].ntools);
	}
	catalog_build_from(c, src, nups, prefix);
	free(src);
}

void catalog_write_tools(const struct catalog *c, struct buf *out)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		const struct conn_tool *t = c->entries[i].tool;

		if (i)
			buf_putc(out, ',');
		buf_add(out, t->json, t->name_start);
		json_escape_str(out, c->entries[i].exposed);
		buf_add(out, t->json + t->name_end, t->json_len - t->name_end);
	}
}
