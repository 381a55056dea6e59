// Secret hygiene: distinctive tokens (upstream credentials from every kind
// of reference, the vault token, a Basic user:password, credentials that get
// rejected and rotated) must never show up in mcpmux's stdout (every byte of
// the MCP stream), its stderr (with MCPMUX_DEBUG=1), the audit log,
// /proc/<pid>/cmdline, the output of `mcpmux check` and `mcpmux tools`
// (text and --json), nor in any file mcpmux writes under its HOME / XDG
// directories (only the files the test itself wrote hold them).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  delay, NO_VAULT_ENV, rawSpawn, runMux, setUpstreamToken, startServer, startVault, toIni, writeConfig,
} from '../lib/harness.mjs';

const S = {
  vaultToken: 'hvs.HYGIENEvaultTOKENq7Z3xK9w',
  kv2: 'HYGkv2-Rz8Tq1Wm6Yn3',
  kv1: 'HYGkv1-Pb5Vc2Xd9Ze4',
  oauth: 'HYGoauth-Lf7Kg3Jh1Mi',
  env: 'HYGenv-Nd4Bs6Ca8Qe2',
  file: 'HYGfile-Uo3Ip5Ya7Rt9',
  basicUser: 'hyguser',
  basicPw: 'HYGbasicPW-Ex6Wr8Tq0',
  rotOld: 'HYGrotOLD-Gk2Hl4Jm6',
  rotNew: 'HYGrotNEW-Zn9Xb7Cv5',
  denied: 'HYGdenied-Aq1Sw3De5',
};
const BASIC = `${S.basicUser}:${S.basicPw}`;
// every form a secret could leak in
const NEEDLES = [
  ...Object.entries(S).filter(([k]) => k !== 'basicUser').map(([k, v]) => [k, v]),
  ['basic base64', Buffer.from(BASIC).toString('base64')],
  ['vault token without prefix', S.vaultToken.slice(4)],
];

function leaks(where, text) {
  const found = NEEDLES.filter(([, v]) => text.includes(v)).map(([k]) => k);
  assert.deepEqual(found, [], `${where} contains secrets: ${found.join(', ')}`);
}

function walk(dir, out = []) {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) walk(p, out);
    else if (ent.isFile()) out.push(p);
  }
  return out;
}

describe('secrets never leave locked memory', () => {
  let vault;
  const up = {};
  before(async () => {
    vault = await startVault();
    await vault.admin('token', { token: S.vaultToken, ttl: 3600, label: 'vt' });
    await vault.admin('kv2/put', { path: 'mcp/h-kv2', data: { token: S.kv2 } });
    await vault.admin('kv1/put', { path: 'mcp/h-kv1', data: { token: S.kv1 } });
    await vault.admin('oauth', { name: 'h-oauth', access_token: S.oauth, expires_in: 3600 });
    await vault.admin('kv2/put', { path: 'mcp/h-basic', data: { cred: BASIC } });
    await vault.admin('kv2/put', { path: 'mcp/h-rot', data: { token: S.rotOld } });
    await vault.admin('kv2/put', { path: 'mcp/h-denied', data: { token: S.denied } });
    await vault.admin('deny', { path: 'secret/data/mcp/h-denied' });
    up.kv2 = await startServer(['--require-token', S.kv2]);
    up.kv1 = await startServer(['--require-token', S.kv1]);
    up.oauth = await startServer(['--require-token', S.oauth]);
    up.env = await startServer(['--require-token', S.env]);
    up.file = await startServer(['--require-token', S.file]);
    up.basic = await startServer(['--require-token', BASIC, '--auth-scheme', 'Basic']);
    up.rot = await startServer(['--require-token', S.rotOld]);
  });

  test('serve (debug logging), check, tools: no secret in any output, the audit log, argv or other files', async () => {
    const cfg = writeConfig('');
    const dir = path.dirname(cfg);
    const tf = path.join(dir, 'vault-token');
    const upFile = path.join(dir, 'upstream-token');
    fs.writeFileSync(tf, `${S.vaultToken}\n`, { mode: 0o600 });
    fs.writeFileSync(upFile, `${S.file}\n`, { mode: 0o600 });
    const ours = new Set([cfg, tf, upFile]);
    const audit = path.join(dir, 'audit.jsonl');
    fs.writeFileSync(cfg, toIni({
      mcpmux: { audit_log: audit, approvals: 'deny' },
      vault: { type: 'hashicorp', address: vault.addr, token_file: tf },
      connectors: {
        kv2: { url: up.kv2.url, token: 'vault:secret/data/mcp/h-kv2#token', approval: 'auto' },
        kv1: { url: up.kv1.url, token: 'vault:kv1/mcp/h-kv1#token' },
        oauth: { url: up.oauth.url, token: 'oauth:oauth2/creds/h-oauth' },
        env: { url: up.env.url, token: 'env:MCPMUX_TEST_HYG_TOKEN' },
        file: { url: up.file.url, token: `file:${upFile}` },
        basic: { url: up.basic.url, token: 'vault:secret/data/mcp/h-basic#cred', auth_scheme: 'Basic' },
        rot: { url: up.rot.url, token: 'vault:secret/data/mcp/h-rot#token' },
        denied: { url: up.kv2.url, token: 'vault:secret/data/mcp/h-denied#token' },
      },
    }));
    const env = { ...NO_VAULT_ENV, MCPMUX_TEST_HYG_TOKEN: S.env, MCPMUX_DEBUG: '1' };

    const mux = rawSpawn(cfg, { env });
    await mux.initialize('2025-11-25', { timeout: 10000 });
    const cmdline = fs.readFileSync(`/proc/${mux.pid}/cmdline`, 'utf8');
    leaks('/proc/<pid>/cmdline', cmdline);
    const list = (await mux.request('tools/list', {}, { timeout: 15000 })).msg;
    const names = (list.result?.tools ?? []).map((t) => t.name);
    for (const a of ['kv2', 'kv1', 'oauth', 'env', 'file', 'basic', 'rot']) {
      assert.ok(names.includes(`${a}__echo`), `${a}__echo listed; stderr: ${mux.stderr()}`);
    }
    for (const a of ['kv2', 'kv1', 'oauth', 'env', 'file', 'basic', 'rot']) {
      const r = (await mux.request('tools/call', { name: `${a}__echo`, arguments: { text: a } }, { timeout: 15000 })).msg;
      assert.equal(r.result?.content?.[0]?.text, `echo: ${a}`, `${a}: ${JSON.stringify(r)}`);
    }
    // a write tool (add) through the audit log, allowed by policy (approval = auto)
    await mux.request('tools/call', { name: 'kv2__add', arguments: { a: 1, b: 2 } }, { timeout: 15000 });
    // a write tool that is denied (approvals = deny)
    await mux.request('tools/call', { name: 'kv1__add', arguments: { a: 1, b: 2 } }, { timeout: 15000 });
    // rejection and rotation paths: 401, refetch, reauth_required, recovery
    await setUpstreamToken(up.rot, S.rotNew);
    const r1 = (await mux.request('tools/call', { name: 'rot__echo', arguments: { text: 'x' } }, { timeout: 15000 })).msg;
    assert.equal(r1.result?.isError, true, `rot is reauth_required: ${JSON.stringify(r1)}`);
    await vault.admin('kv2/put', { path: 'mcp/h-rot', data: { token: S.rotNew } });
    await delay(300);
    await mux.request('tools/call', { name: 'rot__echo', arguments: { text: 'y' } }, { timeout: 15000 });
    await delay(500);

    const chk = await runMux(['check', '-c', cfg], { configPath: cfg, env, timeout: 20000 });
    const tools = await runMux(['tools', '-c', cfg], { configPath: cfg, env, timeout: 20000 });
    const toolsJson = await runMux(['tools', '-c', cfg, '--json'], { configPath: cfg, env, timeout: 20000 });
    await mux.end();

    const stdout = Buffer.concat(mux.messages.map((m) => m.raw)).toString('utf8');
    assert.ok(stdout.length > 1000, 'the MCP stream was captured');
    leaks('serve stdout', stdout);
    leaks('serve stderr (MCPMUX_DEBUG=1)', mux.stderr());
    for (const [what, r] of [['check', chk], ['tools', tools], ['tools --json', toolsJson]]) {
      assert.ok(r.stdout.length > 0, `${what} printed something (exit ${r.code ?? r.signal}; stderr: ${r.stderr.slice(0, 500)})`);
      leaks(`${what} stdout`, r.stdout);
      leaks(`${what} stderr`, r.stderr);
    }
    assert.ok(fs.existsSync(audit), 'the audit log was written');
    const auditText = fs.readFileSync(audit, 'utf8');
    assert.ok(auditText.split('\n').filter(Boolean).length >= 8, 'one audit line per call');
    leaks('the audit log', auditText);
    for (const f of walk(dir)) {
      if (ours.has(f)) continue;
      leaks(`file ${path.relative(dir, f)}`, fs.readFileSync(f).toString('latin1'));
    }
  });
});
