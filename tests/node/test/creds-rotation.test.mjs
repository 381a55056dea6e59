// Credentials that change while mcpmux runs:
// - an upstream 401 after the token was rotated at the source: mcpmux fetches
//   the credential again once (bypassing its cache) and retries the call once;
// - the vault still holds the old token: the second 401 makes the connector
//   reauth_required (calls fail with a text naming it and saying what to do;
//   `mcpmux check` prints reauth_required), and a later call recovers once
//   the vault is updated;
// - OAuth broker tokens: one that is expired or close to expiry is refreshed
//   before use (a read with minimum_seconds), and a 401 forces a fresh read;
// - the vault token itself: AppRole login with short TTLs is renewed or
//   logged in again before it expires (without hammering the vault), and a
//   revoked token (403 "invalid token") makes mcpmux log in again once.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  connect, delay, NO_VAULT_ENV, runMux, setUpstreamToken, sha256, startServer, startVault, textOf,
  toIni, waitUntil, writeConfig,
} from '../lib/harness.mjs';

const VT = 'hvs.ROTATIONvaultTOKEN3Df6Gh';

function vaultConfig(vault, { vaultKeys = {}, connectors, mcpmux = {}, tokenFile = VT, files = {} }) {
  const cfg = writeConfig('');
  const dir = path.dirname(cfg);
  const tf = path.join(dir, 'vault-token');
  fs.writeFileSync(tf, `${tokenFile}\n`, { mode: 0o600 });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text, { mode: 0o600 });
  const keys = {
    type: 'hashicorp', address: vault.addr, auth: 'token', token_file: tf,
    ...(typeof vaultKeys === 'function' ? vaultKeys(dir) : vaultKeys),
  };
  for (const k of Object.keys(keys)) if (keys[k] === null) delete keys[k];
  fs.writeFileSync(cfg, toIni({ mcpmux, vault: keys, connectors }));
  return cfg;
}

function checkLine(stdout, name) {
  return stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
}

function callOf(mux, alias) {
  return (text) => mux.client.callTool({ name: `${alias}__echo`, arguments: { text } }, undefined, { timeout: 15000 });
}

describe('upstream 401: one forced refetch and one retry, then reauth_required', () => {
  let vault;
  before(async () => {
    vault = await startVault();
    await vault.admin('token', { token: VT, ttl: 3600, label: 'vt' });
  });

  test('rotated at the source -> 401 -> refetch bypassing the cache -> retry succeeds; old token kept in the vault -> reauth_required -> recovers', async () => {
    const T1 = 'ROT1-Kq7Wm2Zp9Xv4';
    const T2 = 'ROT2-Lr8Xn3Aq0Yw5';
    const T3 = 'ROT3-Ms9Yo4Br1Zx6';
    const VPATH = 'secret/data/mcp/rot';
    const up = await startServer(['--require-token', T1]);
    await vault.admin('kv2/put', { path: 'mcp/rot', data: { token: T1 } });
    // cache_ttl is the default (300 s): only a 401 can make mcpmux look again
    const cfg = vaultConfig(vault, { connectors: { rot: { url: up.url, token: `vault:${VPATH}#token` } } });
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    const call = callOf(mux, 'rot');
    assert.equal(textOf(await call('one')), 'echo: one', `stderr: ${mux.stderr()}`);
    const reads = async () => (await vault.stats()).routes[`GET ${VPATH}`] ?? 0;
    const r0 = await reads();
    const u0 = (await up.stats()).unauthorized;

    // 1. rotation done right: upstream and vault both have T2
    await setUpstreamToken(up, T2);
    await vault.admin('kv2/put', { path: 'mcp/rot', data: { token: T2 } });
    let res = await call('two');
    assert.equal(textOf(res), 'echo: two', `the call is retried with the fresh credential: ${JSON.stringify(res)}; stderr: ${mux.stderr()}`);
    let st = await up.stats();
    assert.equal(st.unauthorized - u0, 1, 'exactly one 401 (then the retry)');
    assert.equal(st.lastAuthSha256, sha256(`Bearer ${T2}`));
    const r1 = await reads();
    assert.ok(r1 - r0 >= 1 && r1 - r0 <= 2, `one fetch that bypassed the cache (vault reads: ${r1 - r0})`);

    // 2. the upstream moves on to T3, the vault still says T2
    await setUpstreamToken(up, T3);
    const u1 = (await up.stats()).unauthorized;
    res = await call('three');
    assert.equal(res.isError, true, `reauth_required: the call fails: ${JSON.stringify(res)}`);
    let text = textOf(res);
    assert.match(text, /\brot\b/, `names the connector: ${text}`);
    assert.match(text, /reauth|credential|token|401|unauthori[sz]ed|rejected/i, `says the credential was refused: ${text}`);
    assert.match(text, /\b(update|renew|rotate|replace|store|set|run|check|fix)\b/i, `says what to do: ${text}`);
    for (const t of [T1, T2, T3]) assert.ok(!text.includes(t), 'no token in the message');
    st = await up.stats();
    assert.ok(st.unauthorized - u1 >= 1 && st.unauthorized - u1 <= 2, `one or two 401s for that call (${st.unauthorized - u1})`);
    res = await call('four');
    assert.equal(res.isError, true, 'still reauth_required while the vault has nothing new');
    assert.ok((await up.stats()).unauthorized - u1 <= 3, 'no 401 loop against the upstream');
    assert.ok(!mux.stderr().includes(T2) && !mux.stderr().includes(T3));

    // 3. `mcpmux check` sees the same thing from scratch
    const chk = await runMux(['check', '-c', cfg], { configPath: cfg, env: NO_VAULT_ENV, timeout: 20000 });
    assert.notEqual(chk.code, 0, `check exit status: ${chk.code ?? chk.signal}`);
    assert.match(checkLine(chk.stdout, 'rot'), /\breauth_required\b/, `check prints reauth_required: ${chk.stdout}; stderr: ${chk.stderr}`);
    for (const t of [T1, T2, T3]) assert.ok(!chk.stdout.includes(t) && !chk.stderr.includes(t));

    // 4. the vault is updated: a later call recovers
    await vault.admin('kv2/put', { path: 'mcp/rot', data: { token: T3 } });
    let last;
    await waitUntil(async () => {
      last = await call('five');
      return !last.isError;
    }, { timeout: 8000, interval: 500, what: 'a call to recover after the vault was updated' }).catch((err) => {
      throw new Error(`${err.message}; last: ${JSON.stringify(last)}; stderr: ${mux.stderr()}`);
    });
    assert.equal(textOf(last), 'echo: five');
    assert.equal((await up.stats()).lastAuthSha256, sha256(`Bearer ${T3}`));
    await mux.close();
  });
});

describe('OAuth broker tokens', () => {
  let vault;
  before(async () => {
    vault = await startVault();
    await vault.admin('token', { token: VT, ttl: 3600, label: 'vt' });
  });

  test('expired or near expiry: refreshed before use (a read with minimum_seconds), never sent stale', async () => {
    const NEAR2 = 'OANEAR2-Ub5Ic7Od9Pe';
    const PAST2 = 'OAPAST2-Vf6Jg8Kh0Li';
    await vault.admin('oauth', {
      name: 'near', access_token: 'OANEAR1-stale-Wx2', expires_in: 30, lifetime: 3600, next_tokens: [NEAR2],
    });
    await vault.admin('oauth', {
      name: 'past', access_token: 'OAPAST1-stale-Yz3', expires_in: -60, lifetime: 3600, next_tokens: [PAST2],
      time_style: 'offset',
    });
    const upNear = await startServer(['--require-token', NEAR2]);
    const upPast = await startServer(['--require-token', PAST2]);
    const cfg = vaultConfig(vault, {
      connectors: {
        near: { url: upNear.url, token: 'oauth:oauth2/creds/near' },
        past: { url: upPast.url, token: 'oauth:oauth2/creds/past' },
      },
    });
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    assert.equal(textOf(await callOf(mux, 'near')('n')), 'echo: n', `stderr: ${mux.stderr()}`);
    assert.equal(textOf(await callOf(mux, 'past')('p')), 'echo: p');
    assert.equal((await upNear.stats()).unauthorized, 0, 'the token 30 s from expiry was never sent');
    assert.equal((await upPast.stats()).unauthorized, 0, 'the expired token was never sent');
    const st = await vault.stats();
    const ms = st.oauth['oauth2/creds/near']?.minimumSeconds ?? [];
    assert.ok(ms.some((m) => m !== null && m > 30),
      `a read asked for a token valid longer than the 30 s left (minimum_seconds seen: ${JSON.stringify(ms)})`);
    assert.equal(st.headers.xVaultRequest.missing + st.headers.xVaultRequest.other, 0);
    await mux.close();
  });

  test('a 401 forces a fresh read (with minimum_seconds) and one retry', async () => {
    const O1 = 'OAROT1-Mj3Nk5Ol7Pm';
    const O2 = 'OAROT2-Qn4Ro6Sp8Tq';
    await vault.admin('oauth', { name: 'rot', access_token: O1, expires_in: 3600 });
    const up = await startServer(['--require-token', O1]);
    const cfg = vaultConfig(vault, { connectors: { orot: { url: up.url, token: 'oauth:oauth2/creds/rot' } } });
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    const call = callOf(mux, 'orot');
    assert.equal(textOf(await call('a')), 'echo: a', `stderr: ${mux.stderr()}`);
    const before1 = (await vault.stats()).oauth['oauth2/creds/rot'];
    const n0 = before1.reads;
    // the provider revoked O1; the broker hands out O2 on its next read
    await setUpstreamToken(up, O2);
    await vault.admin('oauth/rotate', { name: 'rot', access_token: O2 });
    const res = await call('b');
    assert.equal(textOf(res), 'echo: b', `retried with the fresh token: ${JSON.stringify(res)}; stderr: ${mux.stderr()}`);
    assert.equal((await up.stats()).unauthorized, 1, 'one 401');
    const after1 = (await vault.stats()).oauth['oauth2/creds/rot'];
    assert.ok(after1.reads - n0 >= 1 && after1.reads - n0 <= 2, `one forced read (${after1.reads - n0})`);
    const forced = after1.minimumSeconds.slice(n0);
    assert.ok(forced.some((m) => m !== null && m >= 60),
      `the forced read asks for a fresh token with a large minimum_seconds (seen: ${JSON.stringify(forced)})`);
    await mux.close();
  });
});

describe('the vault token: AppRole renewal / re-login, and log in again after "invalid token"', () => {
  let vault;
  before(async () => {
    vault = await startVault();
  });

  test('AppRole, token_ttl 3 s, token_max_ttl 5 s: calls keep working for 8 s, logged in again in time, not hammered', async () => {
    const SECRET_ID = 'SECRETID-Ap7Rl2Sx9Cq4';
    const TOK = 'APPROLE-up-Hn5Bv3Cx1';
    await vault.admin('approle', { role_id: 'mcpmux-role', secret_id: SECRET_ID, token_ttl: 3, token_max_ttl: 5 });
    await vault.admin('kv2/put', { path: 'mcp/app', data: { token: TOK } });
    const up = await startServer(['--require-token', TOK]);
    const cfg = vaultConfig(vault, {
      vaultKeys: (dir) => ({
        auth: 'approle', role_id: 'mcpmux-role', secret_id_file: path.join(dir, 'secret-id'), token_file: null, cache_ttl: 1,
      }),
      files: { 'secret-id': `${SECRET_ID}\n` },
      connectors: { app: { url: up.url, token: 'vault:secret/data/mcp/app#token' } },
    });
    await vault.admin('reset-stats');
    const t0 = Date.now();
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    const call = callOf(mux, 'app');
    let i = 0;
    while (Date.now() - t0 < 8000) {
      const res = await call(`c${i}`);
      assert.equal(textOf(res), `echo: c${i}`, `call at +${Date.now() - t0} ms: ${JSON.stringify(res)}; stderr: ${mux.stderr()}`);
      i++;
      await delay(500);
    }
    const secs = (Date.now() - t0) / 1000;
    const st = await vault.stats();
    assert.ok(st.logins >= 2, `the first token cannot live past 5 s: logged in again (logins: ${st.logins})`);
    const kvReads = st.log.filter((e) => e.kind === 'kv2_read');
    assert.ok(kvReads.length >= 3, `the KV secret was re-read as cache_ttl = 1 expired (${kvReads.length})`);
    const trace = st.log.map((e) => `+${e.at - t0}ms ${e.method} ${e.path} ${e.status} ${
      e.token ? `tok#${st.issued.findIndex((x) => x.token === e.token)}` : '-'}`);
    assert.equal(kvReads.filter((e) => e.status === 403).length, 0,
      `no KV read with an expired vault token; vault requests:\n${trace.join('\n')}`);
    const tokensUsed = new Set(kvReads.map((e) => e.token));
    assert.ok(tokensUsed.size >= 2, 'KV reads moved to the new token');
    const auth = st.logins + st.renewals + (st.kinds.lookup_self ?? 0);
    assert.ok(auth <= 2 * secs + 4, `${auth} login/renew/lookup requests in ${secs.toFixed(1)} s (not hammered): ${JSON.stringify(st.kinds)}`);
    assert.equal(st.tokenInQuery, 0);
    assert.equal(st.headers.xVaultRequest.missing + st.headers.xVaultRequest.other, 0, 'X-Vault-Request on every request, login included');
    assert.ok(!mux.stderr().includes(SECRET_ID));
    await mux.close();
  });

  test('token auth: a revoked vault token (403 invalid token) -> log in again once (token_file re-read); still invalid -> clear error, no loop', async () => {
    const TA = 'hvs.RELOGINfirstTOKEN1Qa';
    const TB = 'hvs.RELOGINsecondTOKEN2Ws';
    const UP = 'RELOGIN-up-Ed4Rf6Tg8';
    await vault.admin('token', { token: TA, ttl: 3600, label: 'ta' });
    await vault.admin('kv2/put', { path: 'mcp/relogin', data: { token: UP } });
    const up = await startServer(['--require-token', UP]);
    const cfg = vaultConfig(vault, {
      tokenFile: TA,
      vaultKeys: { cache_ttl: 1 },
      connectors: { rl: { url: up.url, token: 'vault:secret/data/mcp/relogin#token' } },
    });
    const tf = path.join(path.dirname(cfg), 'vault-token');
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    const call = callOf(mux, 'rl');
    assert.equal(textOf(await call('a')), 'echo: a', `stderr: ${mux.stderr()}`);

    await vault.admin('token/revoke', { token: TA });
    await vault.admin('token', { token: TB, ttl: 3600, label: 'tb' });
    fs.writeFileSync(tf, `${TB}\n`, { mode: 0o600 });
    await delay(1500); // past cache_ttl
    let res = await call('b');
    assert.equal(textOf(res), 'echo: b', `logged in again with the new token_file: ${JSON.stringify(res)}; stderr: ${mux.stderr()}`);
    let st = await vault.stats();
    assert.ok((st.tokens.tb ?? 0) >= 1, 'the new token was used');

    // now the new one is revoked too and nothing better exists: a clear error, and no login loop
    await vault.admin('token/revoke', { token: TB });
    await delay(1500);
    const t1 = Date.now();
    res = await call('c');
    assert.equal(res.isError, true, `fails closed: ${JSON.stringify(res)}`);
    assert.match(textOf(res), /\brl\b/);
    assert.match(textOf(res), /vault|token/i, `says the vault refused its token: ${textOf(res)}`);
    assert.ok(!textOf(res).includes(TB));
    await delay(2000);
    st = await vault.stats();
    const n403 = st.log.filter((e) => e.at >= t1 && e.status === 403).length;
    assert.ok(n403 <= 4, `${n403} requests refused with 403 in 2 s after the failure (want no loop)`);
    await mux.close();
  });
});
