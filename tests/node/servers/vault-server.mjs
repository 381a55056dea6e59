#!/usr/bin/env node
// A HashiCorp Vault / OpenBao HTTP API stand-in for mcpmux's credential tests
// (node:http only). It answers the routes mcpmux uses the way Vault does on the
// wire (see /work/shared/VAULT-NOTES.md and the comments at each route), keeps
// its state in memory, and counts everything it sees for the tests.
// Prints exactly one line "LISTENING <port>" on stdout once it accepts
// connections on 127.0.0.1.
//
//   --port N            0 = any free port (default 0)
//   --root-token T      a token that never expires (policies ["root"]); more
//                       tokens come from POST /admin/token
//
// Vault API (everything under /v1/; never redirects):
//   Token in X-Vault-Token (Authorization: Bearer is accepted too, as Vault
//   does); namespace in X-Vault-Namespace (secrets, approle roles and tokens
//   live in a namespace; a token works in its own namespace and below).
//   GET  /v1/<kv2 mount>/data/<path>[?version=N]   KV v2 read
//   POST|PUT /v1/<kv2 mount>/data/<path> {"data":{...}}  KV v2 write
//   DELETE /v1/<kv2 mount>/data/<path>             KV v2 soft delete of the latest version
//   GET  /v1/<kv2 mount>/metadata/<path>           KV v2 metadata
//   GET  /v1/<kv1 mount>/<path>                    KV v1 read (lease_duration from a
//                                                  "ttl" field, else 2764800)
//   POST|PUT /v1/<kv1 mount>/<path> {...}          KV v1 write
//   GET  /v1/auth/token/lookup-self
//   POST|PUT /v1/auth/token/renew-self {"increment": "1h" | 3600}
//   POST /v1/auth/token/revoke-self
//   POST|PUT /v1/auth/approle/login {"role_id","secret_id"}   (no token needed)
//   GET  /v1/<oauthapp mount>/creds/<name>[?minimum_seconds=N]
//   GET  /v1/<oauthapp mount>/self/<name>[?minimum_seconds=N]
//        as the oauthapp plugin: a token expiring within max(N, 10) seconds is
//        refreshed (when refreshable), and if the result still expires within
//        that time the answer is 400 "token expired
// Mounts: secret (KV v2), kv1 (KV v1), oauth2 (oauthapp); more with /admin/mount.
// Errors: {"errors":[...]} for every status >= 400, except a deleted or
// destroyed KV v2 version, which is 404 with the full envelope and
// data.data = null (as Vault does). 403 ["permission denied"] for a policy
// denial or a missing token; 403 with "invalid token" (Vault >= 1.17 wording:
// one multierror string, or two strings with /admin/config
// {"invalid_token_style":"list"}) for an unknown, revoked or expired token;
// 503 ["Vault is sealed"] when sealed.
//
// Admin endpoints (not under /v1/, no token; JSON bodies; every field
// "namespace" defaults to "" = root):
//   POST /admin/kv2/put      {namespace, mount="secret", path, data, custom_metadata}
//                            -> {version}; a new version
//   POST /admin/kv2/delete   {namespace, mount, path, versions=[latest]}  soft delete
//   POST /admin/kv2/undelete {namespace, mount, path, versions}
//   POST /admin/kv2/destroy  {namespace, mount, path, versions=[latest]}
//   POST /admin/kv1/put      {namespace, mount="kv1", path, data}
//   POST /admin/kv1/delete   {namespace, mount, path}
//   POST /admin/token        {token, ttl (s, 0 = never expires), max_ttl (s, 0 = none),
//                             renewable=true, namespace, policies, label}
//   POST /admin/token/revoke {token}
//   POST /admin/approle      {namespace, role_id, secret_id, token_ttl=3600 (s),
//                             token_max_ttl=0, renewable=true, role_name}
//   POST /admin/oauth        {mount="oauth2", kind="creds"|"self", namespace, name,
//                             access_token, expires_in (s; absent or null = no expiry;
//                             may be <= 0 = already expired), lifetime (s, for
//                             refreshes; default expires_in or 3600), refreshable=true,
//                             next_tokens=[...], state="ok"|"pending",
//                             time_style="Z"|"offset"}
//   POST /admin/oauth/rotate {mount, kind, namespace, name, access_token (optional)}
//                            the next read returns a new token
//   POST /admin/oauth/delete {mount, kind, namespace, name}
//   POST /admin/seal, POST /admin/unseal
//   POST /admin/deny         {namespace, path (after /v1/, a trailing * matches a
//                             prefix), token (only that token; default all), on=true}
//   POST /admin/fail         {match (substring of the path after /v1/), status,
//                             count=1, errors=["..."]}: the next count matching
//                             requests get that status (after the token check)
//                            or with `raw` (a string): that exact body instead
//                            (application/json), e.g. JSON with a repeated key
//   POST /admin/delay        {match, ms, count=1000000}: answer matching requests late
//   POST /admin/redirect     {match, location (a base URL; the /v1/... path and query are
//                             appended), status=307, count=1000000}: answer matching
//                             requests with a redirect, before any check (the API
//                             itself never redirects: this tests the client)
//   POST /admin/mount        {path, type: "kv2"|"kv1"|"oauthapp"}
//   POST /admin/config       {invalid_token_style: "multierror"|"list"}
//   POST /admin/reset-stats
//   GET  /admin/stats        see `stats` below
//   GET  /admin/tokens       the live tokens with their expiry (for debugging)

import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { readBody } from './http-util.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'root-token': { type: 'string' },
  },
  strict: true,
});

// ---------------------------------------------------------------- state

const mounts = new Map([['secret', 'kv2'], ['kv1', 'kv1'], ['oauth2', 'oauthapp']]);
const kv2 = new Map(); // ns|mount|path -> {versions: Map<n, {data, created, deleted, destroyed}>, current, custom_metadata, created}
const kv1 = new Map(); // ns|mount|path -> data
const oauth = new Map(); // ns|mount|kind|name -> cred
const tokens = new Map(); // token -> info
const approles = new Map(); // ns|role_id -> role
let denies = []; // {ns, path, token}
let failures = []; // {match, status, count, errors}
let delays = []; // {match, ms, count}
let redirects = []; // {match, location, status, count}
let sealed = false;
let invalidTokenStyle = 'multierror';

function emptyStats() {
  return {
    requests: 0, // requests under /v1/
    routes: {}, // "METHOD path" (no query) -> count
    kinds: {}, // kv2_read, kv2_write, kv1_read, lookup_self, renew_self, approle_login, oauth_creds, ...
    statuses: {}, // "200" -> count
    tokens: {}, // presented token (its label when it has one) -> count
    headers: {
      xVaultRequest: { true: 0, missing: 0, other: 0 }, // X-Vault-Request values
      namespaces: {}, // X-Vault-Namespace as sent ("" when absent) -> count
      bearer: 0, // token sent as Authorization: Bearer instead of X-Vault-Token
    },
    tokenInQuery: 0, // requests with something token-like in the query string
    logins: 0, // successful approle logins
    renewals: 0, // successful renew-self
    issued: [], // tokens issued by logins: {token, role_id, ttl, at}
    oauth: {}, // "mount/kind/name" -> {reads, refreshes, minimumSeconds: [...]}
    log: [], // last 1000 requests: {at, method, path, query, status, kind, ns, xvr, token}
  };
}
let stats = emptyStats();

// ---------------------------------------------------------------- helpers

function die(msg) {
  process.stderr.write(`vault-server: ${msg}\n`);
  process.exit(2);
}

function normNs(ns) {
  return String(ns ?? '').replace(/^\/+|\/+$/g, '');
}

function key(...parts) {
  return parts.join('|');
}

/** RFC 3339 with nanoseconds (Go's RFC3339Nano layout, 9 digits here). */
function rfc3339(ms, style = 'Z', nanos = 0) {
  const frac = `${String(Math.floor(ms) % 1000).padStart(3, '0')}${String(nanos).padStart(6, '0')}`;
  if (style === 'offset') {
    // the same instant, written in UTC+01:00
    const d = new Date(Math.floor(ms) + 3600 * 1000);
    const base = d.toISOString().slice(0, 19);
    return `${base}.${frac}+01:00`;
  }
  return `${new Date(Math.floor(ms)).toISOString().slice(0, 19)}.${frac}Z`;
}

function subMs() {
  return 1 + Math.floor(Math.random() * 999998);
}

/** "1h", "30m", "90s", "2h30m", "3600" or 3600 -> seconds; NaN when bad. */
function parseDuration(v) {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string' || v === '') return NaN;
  if (/^\d+$/.test(v)) return Number(v);
  let total = 0;
  let rest = v;
  const re = /^(\d+(?:\.\d+)?)(h|m|s|ms)/;
  while (rest.length) {
    const m = re.exec(rest);
    if (!m) return NaN;
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3600 : m[2] === 'm' ? n * 60 : m[2] === 's' ? n : n / 1000;
    rest = rest.slice(m[0].length);
  }
  return total;
}

function newToken() {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const b = randomBytes(24);
  let s = 'hvs.';
  for (const x of b) s += alphabet[x % alphabet.length];
  return s;
}

function accessor() {
  return randomBytes(12).toString('base64url');
}

function sendJson(res, status, obj) {
  const body = `${JSON.stringify(obj)}\n`; // Go's json.Encoder adds the newline
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function envelope(fields) {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: null,
    warnings: null,
    auth: null,
    mount_type: '',
    ...fields,
  };
}

function parseJsonBody(buf) {
  if (!buf.length) return {};
  try {
    const v = JSON.parse(buf.toString('utf8'));
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

function bump(obj, k, n = 1) {
  obj[k] = (obj[k] ?? 0) + n;
}

function globMatch(pattern, p) {
  if (pattern.endsWith('*')) return p.startsWith(pattern.slice(0, -1));
  return pattern === p;
}

/** The mount a path is under (longest match) and the rest of the path. */
function findMount(p) {
  let best = null;
  for (const m of mounts.keys()) {
    if ((p === m || p.startsWith(`${m}/`)) && (!best || m.length > best.length)) best = m;
  }
  if (!best) return null;
  return { mount: best, type: mounts.get(best), rest: p.slice(best.length + 1) };
}

// ---------------------------------------------------------------- tokens

function addToken({ token, ttl = 0, max_ttl = 0, renewable = true, namespace = '', policies, label,
  path = 'auth/token/create', display_name = 'token', role_id } = {}) {
  const now = Date.now();
  const info = {
    token,
    accessor: accessor(),
    label: label ?? null,
    namespace: normNs(namespace),
    policies: policies ?? (ttl ? ['default'] : ['root']),
    creation_ttl: Number(ttl),
    issued: now,
    expires: Number(ttl) > 0 ? now + Number(ttl) * 1000 : null,
    max_expires: Number(max_ttl) > 0 ? now + Number(max_ttl) * 1000 : null,
    renewable: Boolean(renewable) && Number(ttl) > 0,
    revoked: false,
    path,
    display_name,
    role_id: role_id ?? null,
    nanos: subMs(),
  };
  tokens.set(token, info);
  return info;
}

if (opts['root-token']) addToken({ token: opts['root-token'], ttl: 0, label: 'root' });

function tokenValid(info) {
  return info && !info.revoked && (info.expires === null || info.expires > Date.now());
}

function ttlLeft(info) {
  if (info.expires === null) return 0;
  return Math.max(0, Math.floor((info.expires - Date.now()) / 1000));
}

function invalidTokenErrors() {
  return invalidTokenStyle === 'list'
    ? ['permission denied', 'invalid token']
    : ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'];
}

// ---------------------------------------------------------------- routes

function kv2Entry(ns, mount, p) {
  return kv2.get(key(ns, mount, p));
}

function kv2Metadata(entry, n) {
  const v = entry.versions.get(n);
  return {
    created_time: rfc3339(v.created, 'Z', v.nanos),
    custom_metadata: entry.custom_metadata ?? null,
    deletion_time: v.deleted ? rfc3339(v.deleted, 'Z', v.nanos) : '',
    destroyed: v.destroyed,
    version: n,
  };
}

function kv2Put(ns, mount, p, data, custom_metadata) {
  const k = key(ns, mount, p);
  let entry = kv2.get(k);
  if (!entry) {
    entry = { versions: new Map(), current: 0, custom_metadata: null, created: Date.now() };
    kv2.set(k, entry);
  }
  if (custom_metadata !== undefined) entry.custom_metadata = custom_metadata;
  entry.current++;
  entry.versions.set(entry.current, {
    data: structuredClone(data ?? {}), created: Date.now(), deleted: null, destroyed: false, nanos: subMs(),
  });
  return entry;
}

function kv2Read(ctx) {
  const { res, ns, mount, rest, query } = ctx;
  const p = rest.slice('data/'.length);
  const entry = kv2Entry(ns, mount, p);
  if (!entry) return sendJson(res, 404, { errors: [] });
  let n = entry.current;
  const qv = query.get('version');
  if (qv !== null && qv !== '' && qv !== '0') {
    n = Number(qv);
    if (!Number.isInteger(n) || n < 0) {
      return sendJson(res, 400, { errors: [`error converting input ${qv} for field "version"`] });
    }
  }
  const v = entry.versions.get(n);
  if (!v) return sendJson(res, 404, { errors: [] });
  const metadata = kv2Metadata(entry, n);
  if (v.destroyed || (v.deleted && v.deleted <= Date.now())) {
    // Vault's kv plugin: RespondWithStatusCode(resp, req, 404), the whole
    // envelope with data.data null and the version's metadata; no "errors".
    return sendJson(res, 404, envelope({ data: { data: null, metadata } }));
  }
  return sendJson(res, 200, envelope({ data: { data: structuredClone(v.data), metadata }, mount_type: 'kv' }));
}

function kv2Write(ctx) {
  const { res, ns, mount, rest, body } = ctx;
  const p = rest.slice('data/'.length);
  if (!body || typeof body.data !== 'object' || body.data === null) {
    return sendJson(res, 400, { errors: ['no data provided'] });
  }
  const entry = kv2Put(ns, mount, p, body.data);
  return sendJson(res, 200, envelope({ data: kv2Metadata(entry, entry.current), mount_type: 'kv' }));
}

function kv2Delete(ctx) {
  const { res, ns, mount, rest } = ctx;
  const entry = kv2Entry(ns, mount, rest.slice('data/'.length));
  if (entry) {
    const v = entry.versions.get(entry.current);
    if (v && !v.deleted) v.deleted = Date.now();
  }
  res.writeHead(204);
  return res.end();
}

function kv2MetadataRead(ctx) {
  const { res, ns, mount, rest } = ctx;
  const entry = kv2Entry(ns, mount, rest.slice('metadata/'.length));
  if (!entry) return sendJson(res, 404, { errors: [] });
  const versions = {};
  for (const [n, v] of entry.versions) {
    versions[n] = {
      created_time: rfc3339(v.created, 'Z', v.nanos),
      deletion_time: v.deleted ? rfc3339(v.deleted, 'Z', v.nanos) : '',
      destroyed: v.destroyed,
    };
  }
  const last = entry.versions.get(entry.current);
  return sendJson(res, 200, envelope({
    data: {
      cas_required: false,
      created_time: rfc3339(entry.created),
      current_version: entry.current,
      custom_metadata: entry.custom_metadata ?? null,
      delete_version_after: '0s',
      max_versions: 0,
      oldest_version: Math.min(...entry.versions.keys()),
      updated_time: rfc3339(last.created, 'Z', last.nanos),
      versions,
    },
    mount_type: 'kv',
  }));
}

function kv1Read(ctx) {
  const { res, ns, mount, rest } = ctx;
  const data = kv1.get(key(ns, mount, rest));
  if (!data) return sendJson(res, 404, { errors: [] });
  let lease = 2764800; // the mount's default lease TTL (768h)
  if (data.ttl !== undefined) {
    const s = parseDuration(data.ttl);
    if (Number.isFinite(s)) lease = Math.floor(s);
  }
  return sendJson(res, 200, envelope({ lease_duration: lease, data: structuredClone(data), mount_type: 'kv' }));
}

function kv1Write(ctx) {
  const { res, ns, mount, rest, body } = ctx;
  if (!body) return sendJson(res, 400, { errors: ['failed to parse JSON input'] });
  kv1.set(key(ns, mount, rest), structuredClone(body));
  res.writeHead(204);
  return res.end();
}

function lookupSelf(ctx) {
  const { res, tok } = ctx;
  return sendJson(res, 200, envelope({
    data: {
      accessor: tok.accessor,
      creation_time: Math.floor(tok.issued / 1000),
      creation_ttl: tok.creation_ttl,
      display_name: tok.display_name,
      entity_id: '',
      expire_time: tok.expires === null ? null : rfc3339(tok.expires, 'Z', tok.nanos),
      explicit_max_ttl: 0,
      id: tok.token,
      issue_time: rfc3339(tok.issued, 'Z', tok.nanos),
      meta: tok.role_id ? { role_name: tok.role_name ?? 'mcpmux' } : null,
      num_uses: 0,
      orphan: true,
      path: tok.path,
      policies: tok.policies,
      renewable: tok.renewable,
      ttl: ttlLeft(tok),
      type: 'service',
    },
  }));
}

function authBlock(tok, leaseDuration) {
  return {
    client_token: tok.token,
    accessor: tok.accessor,
    policies: tok.policies,
    token_policies: tok.policies,
    metadata: tok.role_id ? { role_name: tok.role_name ?? 'mcpmux' } : null,
    lease_duration: leaseDuration,
    renewable: tok.renewable,
    entity_id: '',
    token_type: 'service',
    orphan: true,
    mfa_requirement: null,
    num_uses: 0,
  };
}

function renewSelf(ctx) {
  const { res, tok, body } = ctx;
  if (!body) return sendJson(res, 400, { errors: ['failed to parse JSON input'] });
  if (!tok.renewable) return sendJson(res, 400, { errors: ['lease is not renewable'] });
  let inc = tok.creation_ttl;
  if (body.increment !== undefined && body.increment !== '' && body.increment !== 0) {
    inc = parseDuration(body.increment);
    if (!Number.isFinite(inc) || inc < 0) {
      return sendJson(res, 400, { errors: [`error converting input ${body.increment} for field "increment"`] });
    }
  }
  const now = Date.now();
  let expires = now + inc * 1000;
  let warnings = null;
  if (tok.max_expires !== null && expires > tok.max_expires) {
    expires = tok.max_expires;
    warnings = [`TTL of "${inc}s" exceeded the effective max_ttl of "${
      Math.floor((tok.max_expires - now) / 1000)}s"; TTL value is capped accordingly`];
  }
  tok.expires = expires;
  stats.renewals++;
  return sendJson(res, 200, envelope({ warnings, auth: authBlock(tok, Math.floor((expires - now) / 1000)) }));
}

function revokeSelf(ctx) {
  ctx.tok.revoked = true;
  ctx.res.writeHead(204);
  return ctx.res.end();
}

function approleLogin(ctx) {
  const { res, ns, body } = ctx;
  if (!body) return sendJson(res, 400, { errors: ['failed to parse JSON input'] });
  if (!body.role_id) return sendJson(res, 400, { errors: ['missing role_id'] });
  const role = approles.get(key(ns, body.role_id));
  if (!role || !body.secret_id || body.secret_id !== role.secret_id) {
    return sendJson(res, 400, { errors: ['invalid role or secret ID'] });
  }
  const tok = addToken({
    token: newToken(),
    ttl: role.token_ttl,
    max_ttl: role.token_max_ttl,
    renewable: role.renewable,
    namespace: ns,
    policies: ['default', ...(role.policies ?? [])],
    path: 'auth/approle/login',
    display_name: 'approle',
    role_id: role.role_id,
  });
  tok.role_name = role.role_name;
  stats.logins++;
  stats.issued.push({ token: tok.token, role_id: role.role_id, ttl: role.token_ttl, at: Date.now() });
  return sendJson(res, 200, envelope({ auth: authBlock(tok, role.token_ttl) }));
}

function oauthRead(ctx) {
  const { res, ns, mount, rest, query } = ctx;
  const [kind, ...nameParts] = rest.split('/');
  const name = nameParts.join('/');
  const label = `${mount}/${kind}/${name}`;
  const st = (stats.oauth[label] ??= { reads: 0, refreshes: 0, minimumSeconds: [] });
  st.reads++;
  const raw = query.get('minimum_seconds');
  st.minimumSeconds.push(raw === null ? null : Number(raw));
  let minimum = 10; // the plugin's default expiry delta, also its floor
  if (raw !== null && raw !== '') {
    minimum = Number(raw);
    if (!Number.isInteger(minimum)) {
      return sendJson(res, 400, { errors: [`error converting input ${raw} for field "minimum_seconds"`] });
    }
    minimum = Math.max(minimum, 10);
  }
  const cred = oauth.get(key(ns, mount, kind, name));
  if (!cred) return sendJson(res, 404, { errors: [] });
  if (cred.state === 'pending') return sendJson(res, 400, { errors: ['token pending issuance'] });
  const now = Date.now();
  const expiring = cred.expires !== null && cred.expires - now < minimum * 1000;
  if (cred.rotate || (expiring && cred.refreshable)) {
    // the vault refreshes centrally: a new access token from the provider
    cred.refreshes++;
    st.refreshes++;
    cred.access_token = cred.rotate_to ?? cred.next_tokens.shift() ?? `${cred.base}-r${cred.refreshes}`;
    cred.rotate = false;
    cred.rotate_to = null;
    cred.expires = cred.lifetime === null ? null : now + cred.lifetime * 1000;
    cred.nanos = subMs();
  }
  if (cred.expires !== null && cred.expires - now < minimum * 1000) {
    return sendJson(res, 400, { errors: ['token expired'] });
  }
  const data = { access_token: cred.access_token, type: 'Bearer' };
  if (cred.expires !== null) data.expire_time = rfc3339(cred.expires, cred.time_style, cred.nanos);
  return sendJson(res, 200, envelope({ data }));
}

/** Decides which handler serves a /v1/ path; null when no route exists. */
function route(method, p) {
  if (p === 'auth/approle/login') {
    return ['POST', 'PUT'].includes(method) ? { kind: 'approle_login', fn: approleLogin, noToken: true } : null;
  }
  if (p === 'auth/token/lookup-self') {
    return method === 'GET' ? { kind: 'lookup_self', fn: lookupSelf } : null;
  }
  if (p === 'auth/token/renew-self') {
    return ['POST', 'PUT'].includes(method) ? { kind: 'renew_self', fn: renewSelf } : null;
  }
  if (p === 'auth/token/revoke-self') {
    return ['POST', 'PUT'].includes(method) ? { kind: 'revoke_self', fn: revokeSelf } : null;
  }
  const m = findMount(p);
  if (!m) return null;
  const base = { mount: m.mount, rest: m.rest };
  if (m.type === 'kv2') {
    if (m.rest.startsWith('data/') && m.rest.length > 5) {
      if (method === 'GET') return { ...base, kind: 'kv2_read', fn: kv2Read };
      if (method === 'POST' || method === 'PUT') return { ...base, kind: 'kv2_write', fn: kv2Write };
      if (method === 'DELETE') return { ...base, kind: 'kv2_delete', fn: kv2Delete };
      return null;
    }
    if (m.rest.startsWith('metadata/') && method === 'GET') {
      return { ...base, kind: 'kv2_metadata', fn: kv2MetadataRead };
    }
    // Vault's kv v2 "invalid path" handler: 404 with a warning and no errors.
    return {
      ...base,
      kind: 'kv2_invalid_path',
      fn: ({ res }) => sendJson(res, 404, envelope({
        warnings: [`Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${method === 'GET' ? 'get' : 'put'}' for this operation.`],
      })),
    };
  }
  if (m.type === 'kv1') {
    if (!m.rest) return null;
    if (method === 'GET') return { ...base, kind: 'kv1_read', fn: kv1Read };
    if (method === 'POST' || method === 'PUT') return { ...base, kind: 'kv1_write', fn: kv1Write };
    return null;
  }
  if (m.type === 'oauthapp') {
    const mm = /^(creds|self)\/(.+)$/.exec(m.rest);
    if (mm && method === 'GET') return { ...base, kind: mm[1] === 'creds' ? 'oauth_creds' : 'oauth_self', fn: oauthRead };
    return null;
  }
  return null;
}

async function vaultApi(req, res, url) {
  const p = url.pathname.slice('/v1/'.length);
  const method = req.method;
  const rawBody = await readBody(req);
  const nsHeader = req.headers['x-vault-namespace'];
  const ns = normNs(nsHeader);
  const xvr = req.headers['x-vault-request'];
  let token = req.headers['x-vault-token'];
  let viaBearer = false;
  if (!token && /^Bearer\s+/i.test(req.headers.authorization ?? '')) {
    token = req.headers.authorization.replace(/^Bearer\s+/i, '');
    viaBearer = true;
  }
  const r = route(method, p);
  const tok = token ? tokens.get(token) : undefined;

  stats.requests++;
  bump(stats.routes, `${method} ${p}`);
  bump(stats.kinds, r?.kind ?? 'unknown');
  if (xvr === 'true') stats.headers.xVaultRequest.true++;
  else if (xvr === undefined) stats.headers.xVaultRequest.missing++;
  else stats.headers.xVaultRequest.other++;
  bump(stats.headers.namespaces, nsHeader === undefined ? '' : String(nsHeader));
  if (viaBearer) stats.headers.bearer++;
  if (token) bump(stats.tokens, tok?.label ?? token);
  if (/token|secret_id/i.test(url.search)) stats.tokenInQuery++;
  const entry = {
    at: Date.now(), method, path: p, query: url.search, status: 0, kind: r?.kind ?? 'unknown',
    ns: nsHeader === undefined ? null : String(nsHeader), xvr: xvr ?? null, token: token ? (tok?.label ?? token) : null,
  };
  stats.log.push(entry);
  if (stats.log.length > 1000) stats.log.shift();
  const origWriteHead = res.writeHead.bind(res);
  res.writeHead = (status, ...rest) => {
    entry.status = status;
    bump(stats.statuses, String(status));
    return origWriteHead(status, ...rest);
  };

  for (const d of delays) {
    if (d.count > 0 && p.includes(d.match)) {
      d.count--;
      await new Promise((resolve) => setTimeout(resolve, d.ms));
      break;
    }
  }
  for (const d of redirects) {
    if (d.count > 0 && p.includes(d.match)) {
      d.count--;
      res.writeHead(d.status, { Location: `${d.location.replace(/\/+$/, '')}${url.pathname}${url.search}`, 'Content-Length': 0 });
      return res.end();
    }
  }
  if (sealed) return sendJson(res, 503, { errors: ['Vault is sealed'] });
  if (!r) {
    return sendJson(res, 404, { errors: [`no handler for route "${p}". route entry not found.`] });
  }
  if (!r.noToken) {
    if (!token) return sendJson(res, 403, { errors: ['permission denied'] });
    if (!tokenValid(tok)) return sendJson(res, 403, { errors: invalidTokenErrors() });
    if (tok.namespace && ns !== tok.namespace && !ns.startsWith(`${tok.namespace}/`)) {
      return sendJson(res, 403, { errors: ['permission denied'] });
    }
    for (const d of denies) {
      if (d.ns === ns && globMatch(d.path, p) && (!d.token || d.token === token)) {
        return sendJson(res, 403, { errors: ['permission denied'] });
      }
    }
  }
  for (const f of failures) {
    if (f.count > 0 && p.includes(f.match)) {
      f.count--;
      if (f.raw !== undefined) {
        res.writeHead(f.status, { 'Content-Type': 'application/json' });
        return res.end(f.raw);
      }
      return sendJson(res, f.status, { errors: f.errors });
    }
  }
  const body = rawBody.length || ['POST', 'PUT'].includes(method) ? parseJsonBody(rawBody) : {};
  return r.fn({ req, res, ns, mount: r.mount, rest: r.rest, query: url.searchParams, body, tok });
}

// ---------------------------------------------------------------- admin

function need(body, ...fields) {
  for (const f of fields) {
    if (body[f] === undefined || body[f] === null || body[f] === '') throw new Error(`missing ${f}`);
  }
}

function versionsOf(body, entry) {
  return Array.isArray(body.versions) && body.versions.length ? body.versions.map(Number) : [entry.current];
}

const ADMIN = {
  'POST /admin/kv2/put': (b) => {
    need(b, 'path', 'data');
    const entry = kv2Put(normNs(b.namespace), b.mount ?? 'secret', b.path, b.data, b.custom_metadata);
    return { version: entry.current };
  },
  'POST /admin/kv2/delete': (b) => {
    need(b, 'path');
    const entry = kv2Entry(normNs(b.namespace), b.mount ?? 'secret', b.path);
    if (!entry) throw new Error('no such secret');
    const vs = versionsOf(b, entry);
    for (const n of vs) {
      const v = entry.versions.get(n);
      if (v && !v.deleted) v.deleted = Date.now();
    }
    return { deleted: vs };
  },
  'POST /admin/kv2/undelete': (b) => {
    need(b, 'path');
    const entry = kv2Entry(normNs(b.namespace), b.mount ?? 'secret', b.path);
    if (!entry) throw new Error('no such secret');
    const vs = versionsOf(b, entry);
    for (const n of vs) {
      const v = entry.versions.get(n);
      if (v && !v.destroyed) v.deleted = null;
    }
    return { undeleted: vs };
  },
  'POST /admin/kv2/destroy': (b) => {
    need(b, 'path');
    const entry = kv2Entry(normNs(b.namespace), b.mount ?? 'secret', b.path);
    if (!entry) throw new Error('no such secret');
    const vs = versionsOf(b, entry);
    for (const n of vs) {
      const v = entry.versions.get(n);
      if (v) {
        v.destroyed = true;
        v.data = null;
      }
    }
    return { destroyed: vs };
  },
  'POST /admin/kv1/put': (b) => {
    need(b, 'path', 'data');
    kv1.set(key(normNs(b.namespace), b.mount ?? 'kv1', b.path), structuredClone(b.data));
    return { ok: true };
  },
  'POST /admin/kv1/delete': (b) => {
    need(b, 'path');
    return { deleted: kv1.delete(key(normNs(b.namespace), b.mount ?? 'kv1', b.path)) };
  },
  'POST /admin/token': (b) => {
    need(b, 'token');
    const info = addToken(b);
    return { token: info.token, expires: info.expires };
  },
  'POST /admin/token/revoke': (b) => {
    need(b, 'token');
    const info = tokens.get(b.token);
    if (!info) throw new Error('no such token');
    info.revoked = true;
    return { revoked: true };
  },
  'POST /admin/approle': (b) => {
    need(b, 'role_id', 'secret_id');
    approles.set(key(normNs(b.namespace), b.role_id), {
      role_id: b.role_id,
      secret_id: b.secret_id,
      token_ttl: Number(b.token_ttl ?? 3600),
      token_max_ttl: Number(b.token_max_ttl ?? 0),
      renewable: b.renewable ?? true,
      role_name: b.role_name ?? 'mcpmux',
      policies: b.policies ?? [],
    });
    return { ok: true };
  },
  'POST /admin/oauth': (b) => {
    need(b, 'name', 'access_token');
    const now = Date.now();
    const hasExpiry = b.expires_in !== undefined && b.expires_in !== null;
    const lifetime = b.lifetime !== undefined ? b.lifetime : hasExpiry ? Math.max(Number(b.expires_in), 1) : null;
    oauth.set(key(normNs(b.namespace), b.mount ?? 'oauth2', b.kind ?? 'creds', b.name), {
      access_token: b.access_token,
      base: b.access_token,
      expires: hasExpiry ? now + Number(b.expires_in) * 1000 : null,
      lifetime: lifetime === null ? null : Number(lifetime),
      refreshable: b.refreshable ?? true,
      next_tokens: [...(b.next_tokens ?? [])],
      state: b.state ?? 'ok',
      time_style: b.time_style ?? 'Z',
      refreshes: 0,
      rotate: false,
      rotate_to: null,
      nanos: subMs(),
    });
    return { ok: true };
  },
  'POST /admin/oauth/rotate': (b) => {
    need(b, 'name');
    const cred = oauth.get(key(normNs(b.namespace), b.mount ?? 'oauth2', b.kind ?? 'creds', b.name));
    if (!cred) throw new Error('no such credential');
    cred.rotate = true;
    cred.rotate_to = b.access_token ?? null;
    if (b.state) cred.state = b.state;
    return { ok: true };
  },
  'POST /admin/oauth/delete': (b) => {
    need(b, 'name');
    return { deleted: oauth.delete(key(normNs(b.namespace), b.mount ?? 'oauth2', b.kind ?? 'creds', b.name)) };
  },
  'POST /admin/seal': () => {
    sealed = true;
    return { sealed };
  },
  'POST /admin/unseal': () => {
    sealed = false;
    return { sealed };
  },
  'POST /admin/deny': (b) => {
    need(b, 'path');
    const ns = normNs(b.namespace);
    denies = denies.filter((d) => !(d.ns === ns && d.path === b.path && (d.token ?? null) === (b.token ?? null)));
    if (b.on ?? true) denies.push({ ns, path: b.path, token: b.token ?? null });
    return { denies: denies.length };
  },
  'POST /admin/fail': (b) => {
    need(b, 'status');
    failures.push({
      match: b.match ?? '', status: Number(b.status), count: Number(b.count ?? 1),
      errors: b.errors ?? [http.STATUS_CODES[b.status] ?? 'error'], raw: b.raw,
    });
    return { failures: failures.length };
  },
  'POST /admin/delay': (b) => {
    need(b, 'ms');
    delays.push({ match: b.match ?? '', ms: Number(b.ms), count: Number(b.count ?? 1e6) });
    return { delays: delays.length };
  },
  'POST /admin/redirect': (b) => {
    need(b, 'location');
    redirects.push({
      match: b.match ?? '', location: b.location, status: Number(b.status ?? 307), count: Number(b.count ?? 1e6),
    });
    return { redirects: redirects.length };
  },
  'POST /admin/mount': (b) => {
    need(b, 'path', 'type');
    if (!['kv2', 'kv1', 'oauthapp'].includes(b.type)) throw new Error('bad type');
    mounts.set(b.path.replace(/^\/+|\/+$/g, ''), b.type);
    return { ok: true };
  },
  'POST /admin/config': (b) => {
    if (b.invalid_token_style) {
      if (!['multierror', 'list'].includes(b.invalid_token_style)) throw new Error('bad invalid_token_style');
      invalidTokenStyle = b.invalid_token_style;
    }
    return { invalid_token_style: invalidTokenStyle };
  },
  'POST /admin/reset-stats': () => {
    stats = emptyStats();
    failures = [];
    delays = [];
    redirects = [];
    return { ok: true };
  },
  'GET /admin/stats': () => ({ ...stats, sealed }),
  'GET /admin/tokens': () => [...tokens.values()].map((t) => ({
    token: t.token, label: t.label, namespace: t.namespace, expires: t.expires, renewable: t.renewable,
    revoked: t.revoked, ttl: ttlLeft(t), valid: tokenValid(t),
  })),
};

async function admin(req, res, url) {
  const fn = ADMIN[`${req.method} ${url.pathname}`];
  const raw = await readBody(req);
  if (!fn) return sendJson(res, 404, { error: 'no such admin endpoint' });
  const body = parseJsonBody(raw);
  if (body === null) return sendJson(res, 400, { error: 'bad JSON body' });
  try {
    return sendJson(res, 200, fn(body));
  } catch (err) {
    return sendJson(res, 400, { error: err.message });
  }
}

// ---------------------------------------------------------------- HTTP

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  try {
    if (url.pathname.startsWith('/admin/')) return await admin(req, res, url);
    if (url.pathname.startsWith('/v1/')) return await vaultApi(req, res, url);
    await readBody(req);
    return sendJson(res, 404, { errors: [] });
  } catch (err) {
    process.stderr.write(`vault-server: ${err?.stack ?? err}\n`);
    if (!res.headersSent) sendJson(res, 500, { errors: ['internal error'] });
    else res.end();
  }
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

const port = Number(opts.port);
if (!Number.isInteger(port) || port < 0) die('bad --port');
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

