// Credential failures: a vault policy denial (403), a missing secret (404), a
// deleted latest KV v2 version, a missing field, no vault token at all, and
// a vault that is sealed after a good fetch. Each bad connector ends up
// `error` with a message that names its reference (never a secret), the good
// connectors keep working, the vault is not hammered, and a connector whose
// cached credential has expired while the vault is sealed fails closed (its
// calls never reach the upstream) until the vault is back.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  connect, delay, listAllTools, NO_VAULT_ENV, runMux, startServer, startVault, textOf, toIni,
  waitUntil, writeConfig,
} from '../lib/harness.mjs';

const VT = 'hvs.ERRORSvaultTOKEN5Hg8Jk2';

function vaultConfig(vault, { vaultKeys = {}, connectors, mcpmux = {}, tokenFile = VT }) {
  const cfg = writeConfig('');
  const dir = path.dirname(cfg);
  const tf = path.join(dir, 'vault-token');
  if (tokenFile !== null) fs.writeFileSync(tf, `${tokenFile}\n`, { mode: 0o600 });
  const keys = { type: 'hashicorp', address: vault.addr, auth: 'token', token_file: tf, ...vaultKeys };
  for (const k of Object.keys(keys)) if (keys[k] === null) delete keys[k];
  fs.writeFileSync(cfg, toIni({ mcpmux, vault: keys, connectors }));
  return cfg;
}

function checkLine(stdout, name) {
  return stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
}

function reads(stats, p) {
  return stats.routes[`GET ${p}`] ?? 0;
}

describe('vault errors: the connector is error, says why, names the reference, and the vault is not hammered', () => {
  let vault;
  let up;
  const UP = 'UPerr-Good-Mn4Bv6Cx8';
  const SECRETS = {
    denied: 'DENIEDsecret-Ty7Ui9Op1',
    deletedOld: 'DELETEDv1-As3Df5Gh7',
    deletedNew: 'DELETEDv2-Jk2Lz4Xc6',
    nofield: 'NOFIELDsecret-Qw8Er1Ty3',
  };
  before(async () => {
    vault = await startVault();
    await vault.admin('token', { token: VT, ttl: 3600, label: 'vt' });
    up = await startServer(['--require-token', UP, '--name', 'good']);
    await vault.admin('kv2/put', { path: 'mcp/good', data: { token: UP } });
    await vault.admin('kv2/put', { path: 'mcp/denied', data: { token: SECRETS.denied } });
    await vault.admin('deny', { path: 'secret/data/mcp/denied' });
    await vault.admin('kv2/put', { path: 'mcp/deleted', data: { token: SECRETS.deletedOld } });
    await vault.admin('kv2/put', { path: 'mcp/deleted', data: { token: SECRETS.deletedNew } });
    await vault.admin('kv2/delete', { path: 'mcp/deleted' });
    await vault.admin('kv2/put', { path: 'mcp/nofield', data: { token_typo: SECRETS.nofield } });
  });

  const BAD = {
    denied: { ref: 'vault:secret/data/mcp/denied#token', path: 'secret/data/mcp/denied', why: /denied|403|policy/i },
    missing: { ref: 'vault:secret/data/mcp/missing#token', path: 'secret/data/mcp/missing', why: /not found|404|no such|does not exist|missing/i },
    deleted: { ref: 'vault:secret/data/mcp/deleted#token', path: 'secret/data/mcp/deleted', why: /deleted|destroyed/i },
    nofield: { ref: 'vault:secret/data/mcp/nofield#token', path: 'secret/data/mcp/nofield', why: /field|token/i },
    nooauth: { ref: 'oauth:oauth2/creds/nosuch', path: 'oauth2/creds/nosuch', why: /not found|404|no such|does not exist|missing/i },
  };

  test('serve: good connector works; bad ones are left out, named with their reference in the log; bounded vault requests', async () => {
    await vault.admin('reset-stats');
    const connectors = { good: { url: up.url, token: 'vault:secret/data/mcp/good#token' } };
    for (const [name, b] of Object.entries(BAD)) connectors[name] = { url: up.url, token: b.ref };
    const cfg = vaultConfig(vault, { connectors });
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    const t0 = Date.now();
    const names = (await listAllTools(mux.client, { timeout: 20000 })).map((t) => t.name);
    assert.ok(names.includes('good__echo'), `good__echo listed; stderr: ${mux.stderr()}`);
    for (const name of Object.keys(BAD)) {
      assert.equal(names.filter((n) => n.startsWith(`${name}__`)).length, 0, `${name}'s tools are not listed`);
    }
    // keep serving for a few seconds, calling the good connector and the bad ones' tools
    while (Date.now() - t0 < 3000) {
      const res = await mux.client.callTool({ name: 'good__echo', arguments: { text: 'ok' } });
      assert.equal(textOf(res), 'echo: ok');
      for (const name of Object.keys(BAD)) {
        await mux.client.callTool({ name: `${name}__echo`, arguments: { text: 'x' } }).catch(() => {});
      }
      await delay(400);
    }
    const st = await vault.stats();
    const stderr = mux.stderr();
    for (const [name, b] of Object.entries(BAD)) {
      const n = reads(st, b.path);
      assert.ok(n >= 1, `${name}: the vault was asked (${n})`);
      assert.ok(n <= 2, `${name}: ${n} vault requests for ${b.path} in ~3 s (want <= 2: a configuration error is not retried at once)`);
      const lines = stderr.split('\n').filter((l) => l.includes(`'${name}'`) || l.includes(b.ref) || l.includes(b.path));
      assert.ok(lines.some((l) => l.includes(b.path)),
        `${name}: a log line names the reference ${b.ref}; stderr:\n${stderr}`);
      assert.ok(lines.length <= 4, `${name}: ${lines.length} log lines (want a few, not a flood):\n${lines.join('\n')}`);
    }
    for (const s of Object.values(SECRETS)) assert.ok(!stderr.includes(s), 'no secret value in the log');
    await mux.close();
  });

  test('check: one error line per bad connector with the reason and the reference; exit 1', async () => {
    const connectors = { good: { url: up.url, token: 'vault:secret/data/mcp/good#token' } };
    for (const [name, b] of Object.entries(BAD)) connectors[name] = { url: up.url, token: b.ref };
    const cfg = vaultConfig(vault, { connectors });
    const r = await runMux(['check', '-c', cfg], { configPath: cfg, env: NO_VAULT_ENV, timeout: 20000 });
    assert.equal(r.code, 1, `check exits 1 (got ${r.code ?? r.signal}); stdout: ${r.stdout}; stderr: ${r.stderr}`);
    assert.match(checkLine(r.stdout, 'good'), /\bactive\b/, `good is active: ${r.stdout}`);
    for (const [name, b] of Object.entries(BAD)) {
      const line = checkLine(r.stdout, name);
      assert.match(line, /\berror\b/, `${name} is error: ${r.stdout}`);
      assert.ok(line.includes(b.path), `${name}'s line names ${b.ref}: ${line}`);
      assert.match(line, b.why, `${name}'s line says why: ${line}`);
    }
    for (const s of Object.values(SECRETS)) {
      assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), `no secret value in check's output (${s.slice(0, 8)}...)`);
    }
  });

  test('no vault token anywhere: a clear error, no crash', async () => {
    const cfg = vaultConfig(vault, {
      connectors: {
        good: { url: up.url, token: 'env:MCPMUX_TEST_GOOD_TOKEN' },
        vt: { url: up.url, token: 'vault:secret/data/mcp/good#token' },
      },
      tokenFile: null,
      vaultKeys: { token_file: '/nonexistent/mcpmux-test/vault-token' },
    });
    const r = await runMux(['check', '-c', cfg], {
      configPath: cfg, env: { ...NO_VAULT_ENV, MCPMUX_TEST_GOOD_TOKEN: UP }, timeout: 20000,
    });
    assert.equal(r.signal, null, `check was killed by ${r.signal}; stderr: ${r.stderr.slice(0, 3000)}`);
    assert.equal(r.code, 1, `check exits 1; stdout: ${r.stdout}; stderr: ${r.stderr}`);
    assert.match(checkLine(r.stdout, 'good'), /\bactive\b/);
    const line = checkLine(r.stdout, 'vt');
    assert.match(line, /\berror\b/);
    assert.match(line, /token/i, `says the vault token is missing: ${line}`);

    const mux = await connect(cfg, { env: { ...NO_VAULT_ENV, MCPMUX_TEST_GOOD_TOKEN: UP } });
    const names = (await listAllTools(mux.client, { timeout: 20000 })).map((t) => t.name);
    assert.ok(names.includes('good__echo'));
    assert.equal(textOf(await mux.client.callTool({ name: 'good__echo', arguments: { text: 'a' } })), 'echo: a');
    await mux.close();
  });
});

describe('KV v2 versions and a sealed vault during a session', () => {
  let vault;
  before(async () => {
    vault = await startVault();
    await vault.admin('token', { token: VT, ttl: 3600, label: 'vt' });
  });

  test('a new version is used once the cache expires; a deleted latest version fails closed with a clear reason', async () => {
    const T1 = 'VERSION1-Gh5Jk7Lm9Np';
    const T2 = 'VERSION2-Qr2St4Uv6Wx';
    const up = await startServer(['--require-token', T1]);
    await vault.admin('kv2/put', { path: 'mcp/ver', data: { token: T1 } });
    const cfg = vaultConfig(vault, {
      vaultKeys: { cache_ttl: 2 },
      connectors: { ver: { url: up.url, token: 'vault:secret/data/mcp/ver#token' } },
    });
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    const call = (text) => mux.client.callTool({ name: 'ver__echo', arguments: { text } }, undefined, { timeout: 15000 });
    assert.equal(textOf(await call('v1')), 'echo: v1', `stderr: ${mux.stderr()}`);
    // rotate at the source: upstream and vault both move to T2
    await vault.admin('kv2/put', { path: 'mcp/ver', data: { token: T2 } });
    await fetch(`http://127.0.0.1:${up.port}/admin/token`, {
      method: 'POST', body: JSON.stringify({ token: T2 }), signal: AbortSignal.timeout(3000),
    });
    await delay(2600); // past cache_ttl
    const before401 = (await up.stats()).unauthorized;
    assert.equal(textOf(await call('v2')), 'echo: v2');
    assert.equal((await up.stats()).unauthorized, before401,
      'the expired cache entry was refetched before use (no 401 needed)');

    // delete the latest version: once the cache expires, calls fail closed
    await vault.admin('kv2/delete', { path: 'mcp/ver' });
    await delay(2600);
    const calls0 = (await up.stats()).toolCalls;
    const res = await call('v3');
    assert.equal(res.isError, true, `want isError: ${JSON.stringify(res)}`);
    const text = textOf(res);
    assert.match(text, /ver/, 'names the connector');
    assert.match(text, /deleted|destroyed|not found|404/i, `says why: ${text}`);
    assert.ok(!text.includes(T1) && !text.includes(T2));
    assert.equal((await up.stats()).toolCalls, calls0, 'the call never reached the upstream');
    await mux.close();
  });

  test('sealed after a good fetch: cached credential works until cache_ttl, then fails closed; unseal recovers', async () => {
    const TOK = 'SEALED-case-Yt6Re4Wq2';
    const TTL = 4;
    const up = await startServer(['--require-token', TOK]);
    await vault.admin('kv2/put', { path: 'mcp/sealed', data: { token: TOK } });
    const connectors = { sealed: { url: up.url, token: 'vault:secret/data/mcp/sealed#token' } };
    const callOn = (m) => (text) => m.client.callTool({ name: 'sealed__echo', arguments: { text } }, undefined, { timeout: 15000 });

    // Still cached: a mux whose cache_ttl the test cannot outlast, so that the
    // call while sealed is inside the window however slow the machine is.
    const longCfg = vaultConfig(vault, { vaultKeys: { cache_ttl: 3600 }, connectors });
    const holder = await connect(longCfg, { env: NO_VAULT_ENV });
    assert.equal(textOf(await callOn(holder)('a')), 'echo: a', `stderr: ${holder.stderr()}`);
    await vault.admin('seal');
    const cached = await callOn(holder)('b');
    assert.equal(textOf(cached), 'echo: b', `a cached credential keeps working while sealed: ${JSON.stringify(cached)}`);
    await holder.close();

    // Expired: cache_ttl = TTL, and the call comes only once that has passed.
    await vault.admin('unseal');
    const cfg = vaultConfig(vault, { vaultKeys: { cache_ttl: TTL }, connectors });
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    const call = callOn(mux);
    assert.equal(textOf(await call('a')), 'echo: a', `stderr: ${mux.stderr()}`);
    await vault.admin('seal');
    const sealedAt = Date.now();
    const st = await vault.stats();
    const lastGood = Math.max(...st.log.filter((e) => e.path === 'secret/data/mcp/sealed' && e.status === 200)
      .map((e) => e.at));
    const validUntil = lastGood + TTL * 1000;
    await waitUntil(() => Date.now() > validUntil + 1000, { timeout: TTL * 1000 + 3000, what: 'the cache to expire' });
    const calls0 = (await up.stats()).toolCalls;
    const res = await call('c');
    assert.equal(res.isError, true, `fails closed once the cached credential expired: ${JSON.stringify(res)}`);
    const text = textOf(res);
    assert.match(text, /sealed/, 'names the connector');
    assert.match(text, /seal|vault|unavailable|503/i, `says why: ${text}`);
    assert.ok(!text.includes(TOK));
    assert.equal((await up.stats()).toolCalls, calls0, 'the call never reached the upstream');
    const st2 = await vault.stats();
    const whileSealed = st2.log.filter((e) => e.at >= sealedAt).length;
    const secs = (Date.now() - sealedAt) / 1000;
    assert.ok(whileSealed <= 2 + secs, `${whileSealed} vault requests in ${secs.toFixed(1)} s while sealed (not hammered)`);

    await vault.admin('unseal');
    const t0 = Date.now();
    let last;
    await waitUntil(async () => {
      last = await call('d');
      return !last.isError;
    }, { timeout: 12000, interval: 1000, what: 'a call to succeed after unseal' }).catch(async (err) => {
      const after = (await vault.stats()).log.filter((e) => e.at >= t0)
        .map((e) => `+${e.at - t0}ms ${e.method} ${e.path} ${e.status}`);
      throw new Error(`${err.message}; last: ${JSON.stringify(last)}; vault requests after unseal: ${
        JSON.stringify(after)}; upstream: ${JSON.stringify(await up.stats())}; stderr: ${mux.stderr()}`);
    });
    assert.equal(textOf(last), 'echo: d');
    await mux.close();
  });
});

// A vault address from the environment with "user@" before the host: libcurl
// connects to the host after the @, so mcpmux must refuse it. A stand-in
// proxy on 127.0.0.1 (http_proxy) sees every request meant for another host,
// so "nothing is sent anywhere" is something the test can count.
describe('VAULT_ADDR / BAO_ADDR with a user name before the host: refused, nothing sent', () => {
  let vault;
  let up;
  let proxy;
  let proxied = 0; // connections to the stand-in proxy
  let targets = []; // the request line's target of each, e.g. http://127.0.0.1:PORT/v1/...
  const UP = 'UPaddr-Good-Rt5Yh7Uj9';
  before(async () => {
    vault = await startVault();
    await vault.admin('token', { token: VT, ttl: 3600, label: 'vt' });
    await vault.admin('kv2/put', { path: 'mcp/good', data: { token: UP } });
    up = await startServer(['--require-token', UP]);
    proxy = net.createServer((sock) => {
      proxied++;
      sock.on('error', () => {});
      sock.once('data', (d) => {
        targets.push(d.toString('latin1').split('\r\n')[0].split(' ')[1] ?? '');
        sock.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      });
    });
    await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  });
  after(() => proxy?.close());

  const cases = [
    { name: 'VAULT_ADDR', title: 'http://127.0.0.1@attacker.example:8200',
      value: () => 'http://127.0.0.1@attacker.example:8200' },
    { name: 'BAO_ADDR', title: 'http://attacker.example@127.0.0.1:PORT (the test vault)',
      value: () => `http://attacker.example@127.0.0.1:${vault.port}` },
  ];
  for (const c of cases) {
    test(`${c.name}=${c.title}`, async () => {
      const cfg = vaultConfig(vault, {
        vaultKeys: { address: null },
        connectors: { x: { url: up.url, token: 'vault:secret/data/mcp/good#token' } },
      });
      const via = `http://127.0.0.1:${proxy.address().port}`;
      const env = {
        ...NO_VAULT_ENV,
        [c.name]: c.value(),
        VAULT_TOKEN: VT,
        http_proxy: via,
        https_proxy: via,
        all_proxy: via,
        HTTPS_PROXY: via,
        ALL_PROXY: via,
        no_proxy: '127.0.0.1',
        NO_PROXY: '127.0.0.1',
      };
      await vault.admin('reset-stats');
      proxied = 0;
      const r = await runMux(['check', '-c', cfg], { configPath: cfg, env, timeout: 20000 });
      const line = checkLine(r.stdout, 'x');
      assert.equal(proxied, 0, `no connection to another host (the stand-in proxy saw ${proxied}); x: ${line}`);
      assert.equal((await vault.stats()).requests, 0, `no request reached the vault either; x: ${line}`);
      assert.equal(r.code, 1, `check exits 1 (got ${r.code ?? r.signal}); stdout: ${r.stdout}; stderr: ${r.stderr}`);
      assert.match(line, /\berror\b/, `x is error: ${r.stdout}`);
      assert.match(line, new RegExp(`${c.name} must not carry a user name or password`),
        `says which variable and why: ${line}`);
      assert.ok(!r.stdout.includes(VT) && !r.stderr.includes(VT), 'the vault token is not printed');
      assert.ok(!r.stdout.includes('attacker.example') && !r.stderr.includes('attacker.example'),
        'the address is not repeated (it could hold a password)');
    });
  }

  // http:// is allowed to loopback because the token stays on the machine; a
  // proxy from the environment would carry it off in clear text.
  test('a vault on loopback is reached directly, never through http_proxy', async () => {
    const cfg = vaultConfig(vault, {
      connectors: { x: { url: up.url, token: 'vault:secret/data/mcp/good#token' } },
    });
    const via = `http://127.0.0.1:${proxy.address().port}`;
    const env = {
      ...NO_VAULT_ENV, http_proxy: via, all_proxy: via, ALL_PROXY: via, no_proxy: undefined, NO_PROXY: undefined,
    };
    await vault.admin('reset-stats');
    targets = [];
    const r = await runMux(['check', '-c', cfg], { configPath: cfg, env, timeout: 20000 });
    const line = checkLine(r.stdout, 'x');
    const toVault = targets.filter((t) => t.startsWith(`${vault.addr}/`));
    assert.deepEqual(toVault, [], `no vault request went through the proxy; x: ${line}`);
    assert.ok((await vault.stats()).requests >= 1, `the vault was asked directly; x: ${line}`);
    // the connector itself may use the proxy: only the vault is held to loopback
    assert.ok(targets.every((t) => t.startsWith(`http://127.0.0.1:${up.port}/`)), JSON.stringify(targets));
  });
});
