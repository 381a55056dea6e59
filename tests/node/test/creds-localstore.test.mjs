// The local encrypted store ([vault] type = local): `mcpmux vault set` from
// stdin, `list` (names and last characters only), `rm`, local:NAME reaching
// the upstream, file and directory modes, concurrent `set`s from several
// processes losing nothing, and a tampered store file refused with a clear
// error, left byte for byte unchanged, and reported by serve and check.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  connect, listAllTools, runMux, sha256, startServer, textOf, toIni, writeConfig,
} from '../lib/harness.mjs';

/** A config with [vault] type = local and the store / key file paths in its dir. */
function localConfig(connectors = {}) {
  const cfg = writeConfig('');
  const dir = path.dirname(cfg);
  const store = path.join(dir, 'store', 'vault');
  const key = path.join(dir, 'keys', 'vault.key');
  fs.writeFileSync(cfg, toIni({ vault: { type: 'local', path: store, key_file: key }, connectors }));
  return { cfg, dir, store, key };
}

// the env: connector's variable (a config with env:VAR loads only when VAR is set)
const ENVTOK = 'LOCALenv-Gb5Hn7Jm9';

function vaultCmd(cfg, args, opts = {}) {
  return runMux(['vault', '-c', cfg, ...args], {
    configPath: cfg, timeout: 20000, env: { MCPMUX_VAULT_PASSPHRASE: undefined, MCPMUX_TEST_LOCAL_GOOD: ENVTOK }, ...opts,
  });
}

async function set(cfg, name, value) {
  const r = await vaultCmd(cfg, ['set', name], { input: `${value}\n` });
  assert.equal(r.code, 0, `vault set ${name}: exit ${r.code ?? r.signal}; stdout: ${r.stdout}; stderr: ${r.stderr}`);
  assert.ok(!r.stdout.includes(value) && !r.stderr.includes(value), 'set does not echo the secret');
  return r;
}

async function listNames(cfg) {
  const r = await vaultCmd(cfg, ['list']);
  assert.equal(r.code, 0, `vault list: exit ${r.code ?? r.signal}; stderr: ${r.stderr}`);
  return { r, names: r.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0]) };
}

function mode(p) {
  return fs.statSync(p).mode & 0o777;
}

describe('local store', () => {
  test('set from stdin, list shows names and last characters only, local:NAME reaches the upstream, rm', async () => {
    const TOK = 'LOCALup-Hy7Ju9Ki1Lo3';
    const up = await startServer(['--require-token', TOK]);
    const { cfg, store, key } = localConfig({ loc: { url: up.url, token: 'local:alpha' } });
    await set(cfg, 'alpha', TOK);
    await set(cfg, 'beta.2_x-y', 'BETAsecret-Qa2Ws4Ed6');
    assert.equal(mode(store), 0o600, 'store file 0600');
    assert.equal(mode(key), 0o600, 'key file 0600');
    assert.equal(mode(path.dirname(store)) & 0o077, 0, 'store dir not open to group/other');
    const raw = fs.readFileSync(store);
    assert.ok(!raw.includes(TOK) && !raw.includes('BETAsecret'), 'the store file is encrypted');
    assert.ok(!raw.includes('alpha'), 'names are encrypted too');

    const { r, names } = await listNames(cfg);
    assert.deepEqual(names, ['alpha', 'beta.2_x-y']);
    assert.ok(!r.stdout.includes(TOK) && !r.stdout.includes('BETAsecret'), `list shows no whole secret: ${r.stdout}`);
    assert.match(r.stdout, /Lo3/, 'list shows the last characters');

    const mux = await connect(cfg);
    const res = await mux.client.callTool({ name: 'loc__echo', arguments: { text: 'L' } });
    assert.equal(textOf(res), 'echo: L', `stderr: ${mux.stderr()}`);
    const st = await up.stats();
    assert.equal(st.unauthorized, 0);
    assert.equal(st.lastAuthSha256, sha256(`Bearer ${TOK}`));
    await mux.close();

    const rm = await vaultCmd(cfg, ['rm', 'beta.2_x-y']);
    assert.equal(rm.code, 0, `rm: ${rm.stderr}`);
    assert.deepEqual((await listNames(cfg)).names, ['alpha']);
    const rm2 = await vaultCmd(cfg, ['rm', 'nosuch']);
    assert.notEqual(rm2.code, 0, 'rm of a missing name fails');
  });

  test('concurrent sets from several processes: nothing is lost', async () => {
    const { cfg } = localConfig();
    // the very first sets race to create the store and its key
    await Promise.all([set(cfg, 'one', 'ONEsecret-Zx1Cv2'), set(cfg, 'two', 'TWOsecret-Bn3Mq4')]);
    assert.deepEqual((await listNames(cfg)).names, ['one', 'two']);
    for (let round = 0; round < 3; round++) {
      await Promise.all([set(cfg, `r${round}a`, `RA${round}-secret-Wq9`), set(cfg, `r${round}b`, `RB${round}-secret-Er8`)]);
    }
    const many = Array.from({ length: 6 }, (_, i) => `m${i}`);
    await Promise.all(many.map((n) => set(cfg, n, `${n.toUpperCase()}-secret-Ty7`)));
    const { names } = await listNames(cfg);
    const want = ['one', 'two', 'r0a', 'r0b', 'r1a', 'r1b', 'r2a', 'r2b', ...many].sort();
    assert.deepEqual([...names].sort(), want);
  });

  test('a tampered store is refused with a clear error and left unchanged; serve and check report the connector', async () => {
    const up = await startServer(['--require-token', ENVTOK]);
    const { cfg, store } = localConfig({
      good: { url: up.url, token: 'env:MCPMUX_TEST_LOCAL_GOOD' },
      loc: { url: up.url, token: 'local:alpha' },
    });
    await set(cfg, 'alpha', 'TAMPERED-secret-Ui8Op0');
    const orig = fs.readFileSync(store);
    for (const [what, offset] of [['a ciphertext byte', orig.length - 20], ['a header byte (the nonce)', 50]]) {
      const bad = Buffer.from(orig);
      bad[offset] ^= 0x01;
      fs.writeFileSync(store, bad, { mode: 0o600 });
      const r = await vaultCmd(cfg, ['list']);
      assert.notEqual(r.code, 0, `${what}: list must fail (stdout: ${r.stdout})`);
      assert.match(r.stderr, /damaged|modified|tamper|corrupt|authenticat|integrity/i, `${what}: a clear error: ${r.stderr}`);
      assert.ok(r.stderr.includes(store) || r.stderr.includes('vault'), `${what}: names the store: ${r.stderr}`);
      const s = await vaultCmd(cfg, ['set', 'other'], { input: 'OTHER-secret-Kl1\n' });
      assert.notEqual(s.code, 0, `${what}: set must fail too`);
      assert.ok(fs.readFileSync(store).equals(bad), `${what}: the file is unchanged`);
    }
    const bad = fs.readFileSync(store);
    const env = { MCPMUX_TEST_LOCAL_GOOD: ENVTOK };
    const chk = await runMux(['check', '-c', cfg], { configPath: cfg, env, timeout: 20000 });
    assert.notEqual(chk.code, 0);
    const line = chk.stdout.split('\n').find((l) => l.startsWith('loc ')) ?? '';
    assert.match(line, /\berror\b/, `check: loc is error: ${chk.stdout}`);
    assert.match(line, /damaged|modified|tamper|corrupt|authenticat|integrity/i, `check says why: ${line}`);
    assert.match(chk.stdout.split('\n').find((l) => l.startsWith('good ')) ?? '', /\bactive\b/);

    const mux = await connect(cfg, { env });
    const names = (await listAllTools(mux.client, { timeout: 20000 })).map((t) => t.name);
    assert.ok(names.includes('good__echo'));
    assert.ok(!names.includes('loc__echo'), 'the local connector did not come up');
    assert.equal(textOf(await mux.client.callTool({ name: 'good__echo', arguments: { text: 'g' } })), 'echo: g');
    assert.match(mux.stderr(), /loc/);
    assert.match(mux.stderr(), /damaged|modified|tamper|corrupt|authenticat|integrity/i, `serve says why: ${mux.stderr()}`);
    await mux.close();
    assert.ok(fs.readFileSync(store).equals(bad), 'serve and check left the file unchanged');
  });
});
