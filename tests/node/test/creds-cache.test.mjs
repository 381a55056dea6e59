// The credential cache and the vault client's manners:
// - a KV credential is fetched once and kept for cache_ttl (calls do not
//   each go to the vault), also when two connectors share one reference;
// - when the cached value has expired, a burst of concurrent calls makes one
//   fetch, not one per call;
// - a transient vault failure (HTTP 500, 429) at start is retried with
//   backoff and the connector comes up;
// - a redirect from the vault is not followed (the token must not travel to
//   another address), and http:// to a non-loopback vault is a config error.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  connect, delay, listAllTools, NO_VAULT_ENV, runMux, startServer, startVault, textOf, toIni,
  waitUntil, writeConfig,
} from '../lib/harness.mjs';

const VT = 'hvs.CACHEvaultTOKEN8Uj4Ik2';

function vaultConfig(vault, { vaultKeys = {}, connectors, mcpmux = {}, tokenFile = VT }) {
  const cfg = writeConfig('');
  const dir = path.dirname(cfg);
  const tf = path.join(dir, 'vault-token');
  fs.writeFileSync(tf, `${tokenFile}\n`, { mode: 0o600 });
  const keys = { type: 'hashicorp', address: vault.addr, auth: 'token', token_file: tf, ...vaultKeys };
  for (const k of Object.keys(keys)) if (keys[k] === null) delete keys[k];
  fs.writeFileSync(cfg, toIni({ mcpmux, vault: keys, connectors }));
  return cfg;
}

const echo = (mux, alias, text) => mux.client.callTool({ name: `${alias}__echo`, arguments: { text } }, undefined,
  { timeout: 15000 });

describe('credential cache and vault client manners', () => {
  let vault;
  const UP = 'CACHEup-Ws3Ed5Rf7Tg9';
  let up;
  before(async () => {
    vault = await startVault();
    await vault.admin('token', { token: VT, ttl: 3600, label: 'vt' });
    await vault.admin('kv2/put', { path: 'mcp/shared', data: { token: UP } });
    up = await startServer(['--require-token', UP]);
  });

  test('cache_ttl = 300: 20 calls on two connectors sharing one reference -> the vault is read about once', async () => {
    await vault.admin('reset-stats');
    const ref = 'vault:secret/data/mcp/shared#token';
    const cfg = vaultConfig(vault, { connectors: { one: { url: up.url, token: ref }, two: { url: up.url, token: ref } } });
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    for (let i = 0; i < 10; i++) {
      for (const a of ['one', 'two']) assert.equal(textOf(await echo(mux, a, `${a}${i}`)), `echo: ${a}${i}`);
    }
    const n = (await vault.stats()).routes['GET secret/data/mcp/shared'] ?? 0;
    assert.ok(n >= 1 && n <= 2, `vault reads for the shared reference: ${n} (want 1, at most 2)`);
    await mux.close();
  });

  test('expired cache + 20 concurrent calls while the vault is slow -> one fetch in flight', async () => {
    const ref = 'vault:secret/data/mcp/shared#token';
    const cfg = vaultConfig(vault, {
      vaultKeys: { cache_ttl: 1 },
      connectors: { one: { url: up.url, token: ref }, two: { url: up.url, token: ref } },
    });
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    assert.equal(textOf(await echo(mux, 'one', 'warm')), 'echo: warm', `stderr: ${mux.stderr()}`);
    await delay(1500); // past cache_ttl
    await vault.admin('reset-stats');
    await vault.admin('delay', { match: 'mcp/shared', ms: 700 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => echo(mux, i % 2 ? 'one' : 'two', `c${i}`)));
    results.forEach((r, i) => assert.equal(textOf(r), `echo: c${i}`, `call ${i}: ${JSON.stringify(r)}`));
    const st = await vault.stats();
    const n = st.routes['GET secret/data/mcp/shared'] ?? 0;
    assert.ok(n >= 1 && n <= 2, `vault reads during the burst: ${n} (want one fetch in flight, at most 2)`);
    await vault.admin('reset-stats'); // clears the delay
    await mux.close();
  });

  test('transient vault errors (500, 429) at start are retried and the connectors come up', async () => {
    await vault.admin('reset-stats');
    const connectors = { good: { url: up.url, token: 'vault:secret/data/mcp/shared#token' } };
    for (const status of [500, 429]) {
      await vault.admin('kv2/put', { path: `mcp/transient${status}`, data: { token: UP } });
      await vault.admin('fail', { match: `mcp/transient${status}`, status, count: 1 });
      connectors[`flaky${status}`] = { url: up.url, token: `vault:secret/data/mcp/transient${status}#token` };
    }
    const cfg = vaultConfig(vault, { connectors });
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    let names = [];
    await waitUntil(async () => {
      names = (await listAllTools(mux.client, { timeout: 15000 })).map((t) => t.name);
      return names.includes('flaky500__echo') && names.includes('flaky429__echo');
    }, { timeout: 12000, interval: 500, what: 'flaky500__echo and flaky429__echo to be listed' }).catch(async (err) => {
      const log = (await vault.stats()).log.filter((e) => e.path.includes('transient'))
        .map((e) => `${e.method} ${e.path} ${e.status}`);
      throw new Error(`${err.message}; listed: ${names.join(' ')}; vault: ${JSON.stringify(log)}; stderr: ${mux.stderr()}`);
    });
    for (const status of [500, 429]) {
      assert.equal(textOf(await echo(mux, `flaky${status}`, 'f')), 'echo: f');
      const reads = (await vault.stats()).routes[`GET secret/data/mcp/transient${status}`] ?? 0;
      assert.ok(reads >= 2 && reads <= 6, `${status}: retried with backoff, not hammered: ${reads} reads`);
    }
    await mux.close();
  });

  test('a redirect from the vault is not followed with the token', async () => {
    const other = await startVault();
    await other.admin('token', { token: VT, ttl: 3600, label: 'vt' });
    await other.admin('kv2/put', { path: 'mcp/redir', data: { token: UP } });
    await vault.admin('kv2/put', { path: 'mcp/redir', data: { token: UP } });
    await vault.admin('redirect', { match: 'mcp/redir', location: other.addr });
    const cfg = vaultConfig(vault, {
      connectors: { redir: { url: up.url, token: 'vault:secret/data/mcp/redir#token' } },
    });
    const r = await runMux(['check', '-c', cfg], { configPath: cfg, env: NO_VAULT_ENV, timeout: 20000 });
    const line = r.stdout.split('\n').find((l) => l.startsWith('redir ')) ?? '';
    assert.equal((await other.stats()).requests, 0, 'nothing reached the redirect target');
    assert.match(line, /\berror\b/, `redir is error: ${r.stdout}; stderr: ${r.stderr}`);
    assert.match(line, /redirect|30\d/i, `says the vault redirected: ${line}`);
    await vault.admin('reset-stats'); // clears the redirect
  });

  test('http:// to a vault that is not on loopback is a config error', async () => {
    const cfg = vaultConfig(vault, {
      vaultKeys: { address: 'http://vault.example.com:8200' },
      connectors: { x: { url: up.url, token: 'vault:secret/data/mcp/shared#token' } },
    });
    const r = await runMux(['check', '-c', cfg], { configPath: cfg, env: NO_VAULT_ENV, timeout: 20000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr + r.stdout, /mcpmux\.ini:\d+: .*https/, `FILE:LINE: message: ${r.stderr}`);
  });
});
