// Sanity checks of servers/vault-server.mjs (the Vault / OpenBao stand-in) and
// of test-server.mjs's credential options, with fetch talking straight to
// them (no mcpmux involved). If these fail, the creds tests' failures say
// nothing about mcpmux.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { delay, setUpstreamToken, startServer, startVault } from '../lib/harness.mjs';

const ROOT = 'vault-root-token-sanity';
const RFC3339_NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d)$/;

/** expire_time is `life` ms after the credential was set, which was between from and to. */
function expiresBetween(expireTime, from, to, life) {
  const t = Date.parse(expireTime);
  assert.ok(t >= from + life - 1 && t <= to + life + 1,
    `expire_time ${expireTime} is ${life} ms after a moment between ${new Date(from).toISOString()} and ${
      new Date(to).toISOString()}`);
}

async function v(vault, method, p, { token = ROOT, ns, body, headers = {} } = {}) {
  const h = { 'X-Vault-Request': 'true', ...headers };
  if (token) h['X-Vault-Token'] = token;
  if (ns !== undefined) h['X-Vault-Namespace'] = ns;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(`${vault.addr}/v1/${p}`, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual', signal: AbortSignal.timeout(3000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}

describe('vault-server', () => {
  let vault;
  before(async () => {
    vault = await startVault(['--root-token', ROOT]);
  });

  test('KV v2: read latest and ?version=N, metadata, deleted and destroyed versions, missing path', async () => {
    await vault.admin('kv2/put', { path: 'mcp/alpha', data: { token: 'one' } });
    const { version } = await vault.admin('kv2/put', { path: 'mcp/alpha', data: { token: 'two' } });
    assert.equal(version, 2);
    let r = await v(vault, 'GET', 'secret/data/mcp/alpha');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.data.data, { token: 'two' });
    const md = r.json.data.metadata;
    assert.equal(md.version, 2);
    assert.equal(md.deletion_time, '');
    assert.equal(md.destroyed, false);
    assert.ok('custom_metadata' in md);
    assert.match(md.created_time, RFC3339_NANO);
    for (const k of ['request_id', 'lease_id', 'renewable', 'lease_duration', 'wrap_info', 'warnings', 'auth']) {
      assert.ok(k in r.json, `envelope has ${k}`);
    }
    r = await v(vault, 'GET', 'secret/data/mcp/alpha?version=1');
    assert.deepEqual(r.json.data.data, { token: 'one' });

    r = await v(vault, 'GET', 'secret/data/mcp/nope');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { errors: [] });
    r = await v(vault, 'GET', 'secret/data/mcp/alpha?version=9');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { errors: [] });

    await vault.admin('kv2/delete', { path: 'mcp/alpha' });
    r = await v(vault, 'GET', 'secret/data/mcp/alpha');
    assert.equal(r.status, 404);
    assert.equal(r.json.data.data, null);
    assert.equal(r.json.data.metadata.version, 2);
    assert.match(r.json.data.metadata.deletion_time, RFC3339_NANO);
    assert.equal(r.json.data.metadata.destroyed, false);
    assert.ok(!('errors' in r.json), 'a deleted version has no errors key (as Vault)');
    // the older version still reads
    r = await v(vault, 'GET', 'secret/data/mcp/alpha?version=1');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.data.data, { token: 'one' });

    await vault.admin('kv2/destroy', { path: 'mcp/alpha', versions: [1] });
    r = await v(vault, 'GET', 'secret/data/mcp/alpha?version=1');
    assert.equal(r.status, 404);
    assert.equal(r.json.data.metadata.destroyed, true);

    r = await v(vault, 'GET', 'secret/metadata/mcp/alpha');
    assert.equal(r.status, 200);
    assert.equal(r.json.data.current_version, 2);

    // writes through the API too; a new version becomes the latest
    r = await v(vault, 'POST', 'secret/data/mcp/alpha', { body: { data: { token: 'three' } } });
    assert.equal(r.status, 200);
    assert.equal(r.json.data.version, 3);
    r = await v(vault, 'GET', 'secret/data/mcp/alpha');
    assert.deepEqual(r.json.data.data, { token: 'three' });

    // a KV v2 mount read without data/: Vault's invalid-path 404 with a warning
    r = await v(vault, 'GET', 'secret/mcp/alpha');
    assert.equal(r.status, 404);
    assert.match(r.json.warnings[0], /Invalid path for a versioned K\/V/);
  });

  test('KV v1: data at the top, lease_duration', async () => {
    await vault.admin('kv1/put', { path: 'mcp/alpha', data: { token: 'v1tok' } });
    let r = await v(vault, 'GET', 'kv1/mcp/alpha');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.data, { token: 'v1tok' });
    assert.equal(r.json.lease_duration, 2764800);
    await vault.admin('kv1/put', { path: 'mcp/ttl', data: { token: 'x', ttl: '90s' } });
    r = await v(vault, 'GET', 'kv1/mcp/ttl');
    assert.equal(r.json.lease_duration, 90);
    r = await v(vault, 'GET', 'kv1/mcp/none');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { errors: [] });
  });

  test('tokens: missing, unknown, expired, revoked; lookup-self; renew-self', async () => {
    let r = await v(vault, 'GET', 'secret/data/mcp/alpha', { token: null });
    assert.equal(r.status, 403);
    assert.deepEqual(r.json, { errors: ['permission denied'] });
    r = await v(vault, 'GET', 'secret/data/mcp/alpha', { token: 'no-such-token' });
    assert.equal(r.status, 403);
    assert.match(r.json.errors.join('\n'), /invalid token/);
    assert.match(r.json.errors.join('\n'), /permission denied/);

    await vault.admin('token', { token: 'short-lived', ttl: 1, renewable: true });
    r = await v(vault, 'GET', 'auth/token/lookup-self', { token: 'short-lived' });
    assert.equal(r.status, 200);
    assert.equal(r.json.data.renewable, true);
    assert.ok(r.json.data.ttl <= 1);
    assert.match(r.json.data.expire_time, RFC3339_NANO);
    r = await v(vault, 'POST', 'auth/token/renew-self', { token: 'short-lived', body: { increment: '1h' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.auth.client_token, 'short-lived');
    assert.equal(r.json.auth.lease_duration, 3600);
    assert.equal(r.json.auth.renewable, true);
    r = await v(vault, 'GET', 'auth/token/lookup-self', { token: 'short-lived' });
    assert.ok(r.json.data.ttl > 3500);

    await vault.admin('token', { token: 'expiring', ttl: 1 });
    await delay(1100);
    r = await v(vault, 'GET', 'auth/token/lookup-self', { token: 'expiring' });
    assert.equal(r.status, 403);
    assert.match(r.json.errors.join('\n'), /invalid token/);

    await vault.admin('token', { token: 'to-revoke', ttl: 60 });
    assert.equal((await v(vault, 'GET', 'auth/token/lookup-self', { token: 'to-revoke' })).status, 200);
    await vault.admin('token/revoke', { token: 'to-revoke' });
    r = await v(vault, 'GET', 'auth/token/lookup-self', { token: 'to-revoke' });
    assert.equal(r.status, 403);
    assert.match(r.json.errors.join('\n'), /invalid token/);

    await vault.admin('config', { invalid_token_style: 'list' });
    r = await v(vault, 'GET', 'auth/token/lookup-self', { token: 'to-revoke' });
    assert.deepEqual(r.json.errors, ['permission denied', 'invalid token']);
    await vault.admin('config', { invalid_token_style: 'multierror' });

    // a root token has no expiry
    r = await v(vault, 'GET', 'auth/token/lookup-self');
    assert.equal(r.json.data.expire_time, null);
    assert.equal(r.json.data.ttl, 0);
  });

  test('approle login issues tokens with the role TTL; wrong secret_id is a 400', async () => {
    await vault.admin('approle', { role_id: 'role-1', secret_id: 'sid-1', token_ttl: 3, token_max_ttl: 10 });
    let r = await v(vault, 'POST', 'auth/approle/login', { token: null, body: { role_id: 'role-1', secret_id: 'nope' } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { errors: ['invalid role or secret ID'] });
    r = await v(vault, 'POST', 'auth/approle/login', { token: null, body: { role_id: 'role-1', secret_id: 'sid-1' } });
    assert.equal(r.status, 200);
    const t = r.json.auth.client_token;
    assert.match(t, /^hvs\./);
    assert.equal(r.json.auth.lease_duration, 3);
    assert.equal(r.json.auth.renewable, true);
    r = await v(vault, 'GET', 'auth/token/lookup-self', { token: t });
    assert.equal(r.status, 200);
    assert.equal(r.json.data.path, 'auth/approle/login');
    // renewal is capped by token_max_ttl
    r = await v(vault, 'PUT', 'auth/token/renew-self', { token: t, body: { increment: 3600 } });
    assert.equal(r.status, 200);
    assert.ok(r.json.auth.lease_duration <= 10, `capped: ${r.json.auth.lease_duration}`);
    assert.ok(r.json.warnings?.length, 'a warning says the TTL was capped');
    const st = await vault.stats();
    assert.ok(st.logins >= 1);
    assert.ok(st.issued.some((i) => i.token === t));
  });

  test('namespaces: secrets per namespace, tokens bound to theirs', async () => {
    await vault.admin('kv2/put', { namespace: 'team-a', path: 'mcp/ns', data: { token: 'in-a' } });
    await vault.admin('token', { token: 'tok-a', ttl: 60, namespace: 'team-a' });
    let r = await v(vault, 'GET', 'secret/data/mcp/ns', { token: 'tok-a', ns: 'team-a' });
    assert.equal(r.status, 200);
    assert.equal(r.json.data.data.token, 'in-a');
    r = await v(vault, 'GET', 'secret/data/mcp/ns', { token: 'tok-a', ns: 'team-a/' });
    assert.equal(r.status, 200, 'trailing slash in the namespace is fine');
    r = await v(vault, 'GET', 'secret/data/mcp/ns', { token: 'tok-a' });
    assert.equal(r.status, 403, 'a team-a token outside team-a');
    r = await v(vault, 'GET', 'secret/data/mcp/ns');
    assert.equal(r.status, 404, 'not in the root namespace');
    r = await v(vault, 'GET', 'secret/data/mcp/ns', { ns: 'team-a' });
    assert.equal(r.status, 200, 'a root token may read a child namespace');
    const st = await vault.stats();
    assert.ok(st.headers.namespaces['team-a'] >= 1);
  });

  test('oauthapp: creds and self, expiry, minimum_seconds refresh, rotate, errors', async () => {
    const set1 = Date.now();
    await vault.admin('oauth', { name: 'alpha', access_token: 'oa-1', expires_in: 3600 });
    let r = await v(vault, 'GET', 'oauth2/creds/alpha');
    assert.equal(r.status, 200);
    assert.equal(r.json.data.access_token, 'oa-1');
    assert.equal(r.json.data.type, 'Bearer');
    assert.match(r.json.data.expire_time, RFC3339_NANO);
    expiresBetween(r.json.data.expire_time, set1, Date.now(), 3600e3);
    // minimum_seconds beyond the remaining life: the vault refreshes
    r = await v(vault, 'GET', 'oauth2/creds/alpha?minimum_seconds=7200');
    assert.equal(r.status, 400, 'lifetime 3600 can never satisfy 7200');
    assert.deepEqual(r.json, { errors: ['token expired'] });
    r = await v(vault, 'GET', 'oauth2/creds/alpha?minimum_seconds=3599');
    assert.equal(r.status, 200);
    assert.notEqual(r.json.data.access_token, 'oa-1', 'refreshed');
    // already expired, refreshable: a new token; not refreshable: 400
    await vault.admin('oauth', { name: 'old', access_token: 'oa-old', expires_in: -5, lifetime: 60, next_tokens: ['oa-new'] });
    r = await v(vault, 'GET', 'oauth2/creds/old');
    assert.equal(r.json.data.access_token, 'oa-new');
    await vault.admin('oauth', { name: 'dead', access_token: 'oa-dead', expires_in: -5, refreshable: false });
    r = await v(vault, 'GET', 'oauth2/creds/dead');
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { errors: ['token expired'] });
    // no expiry: no expire_time
    await vault.admin('oauth', { name: 'forever', kind: 'self', access_token: 'oa-forever' });
    r = await v(vault, 'GET', 'oauth2/self/forever');
    assert.equal(r.status, 200);
    assert.ok(!('expire_time' in r.json.data));
    // offset-style times parse to the same instant
    const set2 = Date.now();
    await vault.admin('oauth', { name: 'off', access_token: 'oa-off', expires_in: 600, time_style: 'offset' });
    r = await v(vault, 'GET', 'oauth2/creds/off');
    assert.match(r.json.data.expire_time, /\+01:00$/);
    expiresBetween(r.json.data.expire_time, set2, Date.now(), 600e3);
    // rotate: the next read returns a new token
    await vault.admin('oauth/rotate', { name: 'off', access_token: 'oa-rotated' });
    r = await v(vault, 'GET', 'oauth2/creds/off');
    assert.equal(r.json.data.access_token, 'oa-rotated');
    r = await v(vault, 'GET', 'oauth2/creds/missing');
    assert.equal(r.status, 404);
    await vault.admin('oauth', { name: 'pending', access_token: 'x', state: 'pending' });
    r = await v(vault, 'GET', 'oauth2/creds/pending');
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { errors: ['token pending issuance'] });
    const st = await vault.stats();
    assert.ok(st.oauth['oauth2/creds/alpha'].minimumSeconds.includes(3599));
  });

  test('policy denial, sealed, injected failures, stats of headers', async () => {
    await vault.admin('reset-stats');
    await vault.admin('kv2/put', { path: 'mcp/denied', data: { token: 'x' } });
    await vault.admin('deny', { path: 'secret/data/mcp/denied' });
    let r = await v(vault, 'GET', 'secret/data/mcp/denied');
    assert.equal(r.status, 403);
    assert.deepEqual(r.json, { errors: ['permission denied'] });
    await vault.admin('deny', { path: 'secret/data/mcp/denied', on: false });
    assert.equal((await v(vault, 'GET', 'secret/data/mcp/denied')).status, 200);

    await vault.admin('seal');
    r = await v(vault, 'GET', 'secret/data/mcp/denied');
    assert.equal(r.status, 503);
    assert.deepEqual(r.json, { errors: ['Vault is sealed'] });
    r = await v(vault, 'POST', 'auth/approle/login', { token: null, body: { role_id: 'role-1', secret_id: 'sid-1' } });
    assert.equal(r.status, 503);
    await vault.admin('unseal');

    await vault.admin('fail', { match: 'mcp/denied', status: 429, count: 1 });
    assert.equal((await v(vault, 'GET', 'secret/data/mcp/denied')).status, 429);
    assert.equal((await v(vault, 'GET', 'secret/data/mcp/denied')).status, 200);

    r = await v(vault, 'GET', 'secret/data/mcp/denied', { headers: { 'X-Vault-Request': 'nope' } });
    const noHeader = await fetch(`${vault.addr}/v1/secret/data/mcp/denied`, {
      headers: { 'X-Vault-Token': ROOT }, signal: AbortSignal.timeout(3000),
    });
    assert.equal(noHeader.status, 200);
    // Authorization: Bearer works as Vault's alternative to X-Vault-Token
    const bearer = await fetch(`${vault.addr}/v1/secret/data/mcp/denied`, {
      headers: { Authorization: `Bearer ${ROOT}`, 'X-Vault-Request': 'true' }, signal: AbortSignal.timeout(3000),
    });
    assert.equal(bearer.status, 200);
    const st = await vault.stats();
    assert.equal(st.headers.xVaultRequest.missing, 1);
    assert.equal(st.headers.xVaultRequest.other, 1);
    assert.equal(st.headers.bearer, 1);
    assert.ok(st.routes['GET secret/data/mcp/denied'] >= 6);
    assert.equal(st.statuses['503'], 2);
    assert.ok(st.tokens.root >= 6, 'counted per token (by label)');
    assert.ok(st.log.length >= 6);
    assert.equal(st.tokenInQuery, 0);
  });

  test('no redirects, unknown routes are 404 with errors; /admin/redirect injects one', async () => {
    const r = await v(vault, 'GET', 'nosuchmount/x');
    assert.equal(r.status, 404);
    assert.ok(Array.isArray(r.json.errors));
    const res = await fetch(`${vault.addr}/`, { redirect: 'manual', signal: AbortSignal.timeout(3000) });
    assert.equal(res.status, 404);
    await vault.admin('redirect', { match: 'mcp/redir', location: 'http://127.0.0.1:9/', count: 1 });
    const red = await v(vault, 'GET', 'secret/data/mcp/redir?version=2');
    assert.equal(red.status, 307);
    assert.equal(red.headers.get('location'), 'http://127.0.0.1:9/v1/secret/data/mcp/redir?version=2');
    assert.equal((await v(vault, 'GET', 'secret/data/mcp/redir')).status, 404, 'count 1: only once');
  });
});

describe('test-server credential options', () => {
  const sha = (s) => createHash('sha256').update(s).digest('hex');

  async function init(srv, headers = {}) {
    return fetch(srv.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({
        jsonrpc: '2.0', id: 1, method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
      }),
      signal: AbortSignal.timeout(3000),
    });
  }

  test('--require-token: 401 + WWW-Authenticate without it, 200 with it, rotation via /admin/token', async () => {
    const srv = await startServer(['--require-token', 'up-tok-1']);
    let res = await init(srv);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate'), /^Bearer/);
    res = await init(srv, { Authorization: 'Bearer wrong' });
    assert.equal(res.status, 401);
    res = await init(srv, { Authorization: 'Bearer up-tok-1' });
    assert.equal(res.status, 200);
    await setUpstreamToken(srv, 'up-tok-2');
    res = await init(srv, { Authorization: 'Bearer up-tok-1' });
    assert.equal(res.status, 401);
    res = await init(srv, { Authorization: 'bearer up-tok-2' });
    assert.equal(res.status, 200, 'the scheme is case-insensitive');
    const st = await srv.stats();
    assert.equal(st.unauthorized, 3);
    assert.equal(st.authorized, 2);
    assert.equal(st.lastAuthSha256, sha('bearer up-tok-2'));
    assert.ok(st.authSha256Seen.includes(sha('Bearer up-tok-1')));
    assert.ok(!JSON.stringify(st).includes('up-tok'), 'no raw token in the stats');
  });

  test('--auth-header X-Api-Key --auth-scheme "" and Basic', async () => {
    const raw = await startServer(['--require-token', 'k-123', '--auth-header', 'X-Api-Key', '--auth-scheme', '']);
    assert.equal((await init(raw, { 'X-Api-Key': 'Bearer k-123' })).status, 401);
    assert.equal((await init(raw, { Authorization: 'Bearer k-123' })).status, 401);
    assert.equal((await init(raw, { 'X-Api-Key': 'k-123' })).status, 200);
    const basic = await startServer(['--require-token', 'ann:pw:x', '--auth-scheme', 'Basic']);
    const res = await init(basic, { Authorization: 'Bearer ann:pw:x' });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate'), /^Basic/);
    assert.equal((await init(basic, {
      Authorization: `Basic ${Buffer.from('ann:pw:x').toString('base64')}`,
    })).status, 200);
  });

  test('without --require-token nothing is checked, but the hash is recorded', async () => {
    const srv = await startServer([]);
    assert.equal((await init(srv)).status, 200);
    assert.equal((await init(srv, { Authorization: 'Bearer zz' })).status, 200);
    const st = await srv.stats();
    assert.equal(st.unauthorized, 0);
    assert.equal(st.lastAuthSha256, sha('Bearer zz'));
  });
});
