// Credential references end to end: every kind of `token =` reference
// (vault: KV v2 and KV v1, oauth:, env:, file:) reaches its upstream as the
// right header (each upstream runs with --require-token, so a wrong or
// missing header is a 401), auth_header / auth_scheme variants (raw
// X-Api-Key, Basic user:password, a custom scheme), and where mcpmux finds
// its vault: BAO_* before VAULT_* before token_file / ~/.vault-token for the
// token, BAO_ADDR / VAULT_ADDR when address is unset, the namespace from the
// config or BAO_NAMESPACE / VAULT_NAMESPACE (sent as X-Vault-Namespace), and
// X-Vault-Request: true on every vault request.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  connect, deadPort, listAllTools, NO_VAULT_ENV, runMux, sha256, startServer, startVault, textOf,
  toIni, writeConfig,
} from '../lib/harness.mjs';

const VT = 'hvs.REFSvaultTOKENx9Qm2Lp7Zt4'; // the vault token mcpmux uses

/**
 * A config whose [vault] points at the stand-in, with the vault token in
 * <dir>/vault-token. connectors may be a function of the config's dir. A
 * vaultKeys value of null leaves that key out.
 */
function vaultConfig(vault, { vaultKeys = {}, connectors, mcpmux = {}, tokenFile = VT }) {
  const cfg = writeConfig('');
  const dir = path.dirname(cfg);
  const tf = path.join(dir, 'vault-token');
  fs.writeFileSync(tf, `${tokenFile}\n`, { mode: 0o600 });
  const keys = { type: 'hashicorp', address: vault.addr, auth: 'token', token_file: tf, ...vaultKeys };
  for (const k of Object.keys(keys)) if (keys[k] === null) delete keys[k];
  fs.writeFileSync(cfg, toIni({
    mcpmux,
    vault: keys,
    connectors: typeof connectors === 'function' ? connectors(dir) : connectors,
  }));
  return cfg;
}

function checkLine(stdout, name) {
  return stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
}

async function echo(mux, alias, text = 'hi') {
  const res = await mux.client.callTool({ name: `${alias}__echo`, arguments: { text } }, undefined,
    { timeout: 15000 });
  return res;
}

describe('each reference kind reaches its upstream as the right header', () => {
  let vault;
  before(async () => {
    vault = await startVault();
    await vault.admin('token', { token: VT, ttl: 3600, label: 'vt' });
  });

  test('vault: KV v2 and KV v1, oauth:, env:, file: with the default Authorization: Bearer', async () => {
    const toks = {
      kv2: 'UPkv2-Tq8Rw3Ve5Yb1Nc7',
      kv1: 'UPkv1-Hs2Jd9Kf4Lg6Mp0',
      oauth: 'UPoauth-Zx5Cv8Bn1Mq3Wa',
      env: 'UPenv-Pl0Ok9Ij8Uh7Yg6',
      file: 'UPfile-Rf4Ed3Ws2Qa1Zx',
    };
    const srv = {};
    for (const [k, t] of Object.entries(toks)) srv[k] = await startServer(['--require-token', t, '--name', k]);
    await vault.admin('kv2/put', { path: 'mcp/alpha', data: { token: 'UPkv2-old-version', other: 'x' } });
    await vault.admin('kv2/put', { path: 'mcp/alpha', data: { token: toks.kv2, other: 'not-this-field' } });
    await vault.admin('kv1/put', { path: 'mcp/beta', data: { token: toks.kv1 } });
    await vault.admin('oauth', { name: 'gamma', access_token: toks.oauth, expires_in: 3600 });
    const cfg = vaultConfig(vault, {
      connectors: (dir) => {
        const tokFile = path.join(dir, 'upstream-token');
        fs.writeFileSync(tokFile, `${toks.file}\nsecond line is not part of it\n`, { mode: 0o600 });
        return {
          kv2: { url: srv.kv2.url, token: 'vault:secret/data/mcp/alpha#token' },
          kv1: { url: srv.kv1.url, token: 'vault:kv1/mcp/beta#token' },
          oauth: { url: srv.oauth.url, token: 'oauth:oauth2/creds/gamma' },
          env: { url: srv.env.url, token: 'env:MCPMUX_TEST_UPSTREAM_TOKEN' },
          file: { url: srv.file.url, token: `file:${tokFile}` },
        };
      },
    });

    const mux = await connect(cfg, { env: { ...NO_VAULT_ENV, MCPMUX_TEST_UPSTREAM_TOKEN: toks.env } });
    const names = (await listAllTools(mux.client)).map((t) => t.name);
    for (const k of Object.keys(toks)) {
      assert.ok(names.includes(`${k}__echo`), `${k}__echo listed (tools: ${names.join(' ')}); stderr: ${mux.stderr()}`);
    }
    for (const k of Object.keys(toks)) {
      const res = await echo(mux, k, k);
      assert.equal(textOf(res), `echo: ${k}`, `${k}__echo: ${JSON.stringify(res)}`);
    }
    for (const [k, t] of Object.entries(toks)) {
      const st = await srv[k].stats();
      assert.equal(st.unauthorized, 0, `${k}: no request without the right credential`);
      assert.ok(st.authorized >= 2, `${k}: initialize and the call were authorized`);
      assert.equal(st.lastAuthSha256, sha256(`Bearer ${t}`), `${k}: Authorization: Bearer <its token>`);
    }
    const vs = await vault.stats();
    assert.equal(vs.headers.xVaultRequest.missing, 0, 'X-Vault-Request on every vault request');
    assert.equal(vs.headers.xVaultRequest.other, 0, 'X-Vault-Request: true exactly');
    assert.equal(vs.tokenInQuery, 0, 'no token in a query string');
    assert.ok(vs.kinds.kv2_read >= 1 && vs.kinds.kv1_read >= 1 && vs.kinds.oauth_creds >= 1,
      `KV v2, KV v1 and oauth reads: ${JSON.stringify(vs.kinds)}`);
    assert.ok((vs.tokens.vt ?? 0) >= 3, 'the vault token from token_file was used');
    assert.equal(Object.keys(vs.tokens).filter((t) => t !== 'vt').length, 0,
      `only the configured vault token was sent: ${JSON.stringify(Object.keys(vs.tokens))}`);
    await mux.close();
  });

  test('auth_header / auth_scheme: raw X-Api-Key, Basic user:password, a custom scheme', async () => {
    const apiKey = 'APIKEY-Wq2Er4Ty6Ui8Op0';
    const basic = 'ann:Basic-Pw-Zm9vYmFy-77';
    const custom = 'TOKSCHEME-Lk3Jh5Gf7Ds9';
    const sKey = await startServer(['--require-token', apiKey, '--auth-header', 'X-Api-Key', '--auth-scheme', '']);
    const sBasic = await startServer(['--require-token', basic, '--auth-scheme', 'Basic']);
    const sCustom = await startServer(['--require-token', custom, '--auth-scheme', 'Token']);
    await vault.admin('kv2/put', {
      path: 'mcp/schemes', data: { api_key: apiKey, basic, custom },
    });
    const cfg = vaultConfig(vault, {
      connectors: {
        apikey: {
          url: sKey.url, token: 'vault:secret/data/mcp/schemes#api_key', auth_header: 'X-Api-Key', auth_scheme: '',
        },
        basic: { url: sBasic.url, token: 'vault:secret/data/mcp/schemes#basic', auth_scheme: 'Basic' },
        custom: { url: sCustom.url, token: 'vault:secret/data/mcp/schemes#custom', auth_scheme: 'Token' },
      },
    });
    const mux = await connect(cfg, { env: NO_VAULT_ENV });
    for (const a of ['apikey', 'basic', 'custom']) {
      const res = await echo(mux, a, a);
      assert.equal(textOf(res), `echo: ${a}`, `${a}__echo: ${JSON.stringify(res)}; stderr: ${mux.stderr()}`);
    }
    assert.equal((await sKey.stats()).lastAuthSha256, sha256(apiKey), 'X-Api-Key: <token>, no scheme');
    assert.equal((await sBasic.stats()).lastAuthSha256,
      sha256(`Basic ${Buffer.from(basic).toString('base64')}`), 'Basic base64(user:password)');
    assert.equal((await sCustom.stats()).lastAuthSha256, sha256(`Token ${custom}`));
    for (const s of [sKey, sBasic, sCustom]) assert.equal((await s.stats()).unauthorized, 0);
    await mux.close();
  });
});

describe('where mcpmux finds the vault: token, address and namespace sources', () => {
  let vault;
  let upstream;
  const UP = 'UPsources-Bv6Nm8Qw1Er3';
  const GOOD = 'hvs.SOURCESgoodTOKEN4Fd7Gh';
  before(async () => {
    vault = await startVault();
    await vault.admin('token', { token: GOOD, ttl: 3600, label: 'good' });
    upstream = await startServer(['--require-token', UP]);
    await vault.admin('kv2/put', { path: 'mcp/src', data: { token: UP } });
    await vault.admin('kv2/put', { namespace: 'team-a', path: 'mcp/ns', data: { token: UP } });
  });

  async function check(cfg, env, what) {
    const r = await runMux(['check', '-c', cfg], { configPath: cfg, env: { ...NO_VAULT_ENV, ...env }, timeout: 15000 });
    const line = checkLine(r.stdout, 'src');
    assert.equal(r.code, 0, `${what}: check exit 0 (got ${r.code ?? r.signal}${r.timedOut ? ", timed out" : ""}); stdout: ${r.stdout}; stderr: ${r.stderr}`);
    assert.match(line, /\bactive\b/, `${what}: src is active`);
    return r;
  }

  test('token: BAO_TOKEN, then VAULT_TOKEN, then token_file, then ~/.vault-token', async () => {
    const conn = { src: { url: upstream.url, token: 'vault:secret/data/mcp/src#token' } };
    await vault.admin('reset-stats');
    let cfg = vaultConfig(vault, { connectors: conn, tokenFile: 'hvs.WRONGfileTOKEN' });
    await check(cfg, { BAO_TOKEN: GOOD, VAULT_TOKEN: 'hvs.WRONGvaultTOKEN' }, 'BAO_TOKEN first');
    await check(cfg, { VAULT_TOKEN: GOOD }, 'VAULT_TOKEN before token_file');
    cfg = vaultConfig(vault, { connectors: conn, tokenFile: GOOD });
    await check(cfg, {}, 'token_file');
    // no token_file key: ~/.vault-token, HOME being the config's dir here
    cfg = writeConfig('');
    fs.writeFileSync(path.join(path.dirname(cfg), '.vault-token'), GOOD, { mode: 0o600 });
    fs.writeFileSync(cfg, toIni({ vault: { type: 'hashicorp', address: vault.addr }, connectors: conn }));
    await check(cfg, {}, '~/.vault-token (no trailing newline)');
    const st = await vault.stats();
    assert.deepEqual(Object.keys(st.tokens), ['good'],
      `only the token of the highest-priority source was ever sent (sent: ${Object.keys(st.tokens).join(', ')})`);
  });

  test('address: BAO_ADDR before VAULT_ADDR when address is unset', async () => {
    const conn = { src: { url: upstream.url, token: 'vault:secret/data/mcp/src#token' } };
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const cfg = vaultConfig(vault, { connectors: conn, tokenFile: GOOD, vaultKeys: { address: null } });
    await check(cfg, { BAO_ADDR: vault.addr, VAULT_ADDR: dead }, 'BAO_ADDR first');
    await check(cfg, { VAULT_ADDR: vault.addr }, 'VAULT_ADDR');
  });

  test('namespace: from the config, else BAO_NAMESPACE before VAULT_NAMESPACE; sent as X-Vault-Namespace', async () => {
    const NS_TOKEN = 'hvs.NStokenTEAMa8Kj3';
    await vault.admin('token', { token: NS_TOKEN, ttl: 3600, namespace: 'team-a', label: 'ns' });
    const conn = { src: { url: upstream.url, token: 'vault:secret/data/mcp/ns#token' } };
    await vault.admin('reset-stats');
    let cfg = vaultConfig(vault, { connectors: conn, tokenFile: NS_TOKEN, vaultKeys: { namespace: 'team-a' } });
    await check(cfg, { BAO_NAMESPACE: 'team-b', VAULT_NAMESPACE: 'team-b' }, 'namespace = team-a in the config');
    cfg = vaultConfig(vault, { connectors: conn, tokenFile: NS_TOKEN });
    await check(cfg, { BAO_NAMESPACE: 'team-a', VAULT_NAMESPACE: 'team-b' }, 'BAO_NAMESPACE first');
    await check(cfg, { VAULT_NAMESPACE: 'team-a' }, 'VAULT_NAMESPACE');
    const st = await vault.stats();
    const sent = Object.keys(st.headers.namespaces).map((n) => n.replace(/^\/+|\/+$/g, ''));
    assert.deepEqual([...new Set(sent)], ['team-a'],
      `every request carried X-Vault-Namespace: team-a (seen: ${JSON.stringify(st.headers.namespaces)})`);
    assert.equal(st.headers.xVaultRequest.missing + st.headers.xVaultRequest.other, 0);
  });
});
