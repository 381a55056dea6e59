// Every way a request can end early, with and without a transfer in flight:
// its deadline while it waits for the legacy endpoint event, for a reply that
// comes on a stream that never speaks, for a credential from a vault that
// accepts and never answers, for a stream resumption; the agent's cancel
// while it waits for a human, for a credential, in flight, and after its
// answer. None may crash `serve` or `check`; each ends with a sentence that
// says what it waited for.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  NO_VAULT_ENV, delay, rawSpawn, runMux, spawnListening, startServer, startVault, toIni, waitUntil,
  writeConfig,
} from '../lib/harness.mjs';
import { startLegacy } from '../lib/resilience.mjs';

const VT = 'hvs.DEADLINEvaultTOKENx81';
const text = (msg) => msg?.result?.content?.map((c) => c.text).join('\n') ?? '';

async function serve(cfg, env = {}) {
  const mux = rawSpawn(cfg, { env });
  const init = await mux.request('initialize', {
    protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'deadlines', version: '0' },
  }, { timeout: 10000 });
  assert.ok(init.msg.result, JSON.stringify(init.msg));
  await mux.notify('notifications/initialized');
  return mux;
}

/** serve keeps answering, and `check` reports the connector instead of dying. */
async function bothSurvive(cfg, reason, env = {}) {
  const mux = await serve(cfg, env);
  await waitUntil(() => reason.test(mux.stderr()), { timeout: 10000, what: `serve to log ${reason}` });
  assert.ok((await mux.request('ping', {})).msg.result, 'serve still answers');
  await mux.end();
  const { code, signal } = await mux.exited;
  assert.equal(signal, null, `serve died of ${signal}; stderr: ${mux.stderr()}`);
  assert.equal(code, 0);
  const check = await runMux(['check', '-c', cfg], { configPath: cfg, env, timeout: 20000 });
  assert.equal(check.signal, null, `check died of ${check.signal}; stderr: ${check.stderr}`);
  assert.equal(check.code, 1, check.stdout + check.stderr);
  assert.match(check.stdout, reason, check.stdout);
}

function vaultConfig(vault, connectors, mcpmux) {
  const cfg = writeConfig('');
  const tf = path.join(path.dirname(cfg), 'vault-token');
  fs.writeFileSync(tf, `${VT}\n`, { mode: 0o600 });
  fs.writeFileSync(cfg, toIni({
    mcpmux, vault: { type: 'hashicorp', address: vault.addr, auth: 'token', token_file: tf, cache_ttl: 1 },
    connectors,
  }));
  return cfg;
}

describe('deadlines with no transfer, and with a finished one', () => {
  test('a legacy server that never announces its endpoint', async () => {
    const legacy = await startLegacy(['--silent', 'no-endpoint']);
    const cfg = writeConfig({ mcpmux: { call_timeout: 1, connect_timeout: 4 },
      connectors: { legacy: { url: legacy.url, approval: 'auto' } } });
    await bothSurvive(cfg, /the HTTP\+SSE server sent no endpoint event within 1 s/);
  });

  test('a legacy server that accepts every message and never answers', async () => {
    const legacy = await startLegacy(['--silent', 'no-replies']);
    const cfg = writeConfig({ mcpmux: { call_timeout: 1, connect_timeout: 4 },
      connectors: { legacy: { url: legacy.url, approval: 'auto' } } });
    await bothSurvive(cfg, /no answer within 1 s/);
  });

  test('a vault that accepts and never answers', async () => {
    const vault = await startVault();
    await vault.admin('token', { token: VT, ttl: 3600 });
    await vault.admin('kv2/put', { path: 'mcp/slow', data: { token: 'x' } });
    await vault.admin('delay', { match: 'secret/data/mcp/slow', ms: 600000 });
    const up = await startServer(['--name', 'up']);
    const cfg = vaultConfig(vault, { slow: { url: up.url, token: 'vault:secret/data/mcp/slow#token' } },
      { call_timeout: 1, connect_timeout: 4 });
    await bothSurvive(cfg, /credential \(vault:secret\/data\/mcp\/slow#token\) could not be fetched within 1 s/,
      NO_VAULT_ENV);
  });
});

describe('a call\'s deadline and cancel on every path', () => {
  test('waiting for a credential: its deadline says so; a cancel leaves nothing behind', async () => {
    const vault = await startVault();
    await vault.admin('token', { token: VT, ttl: 3600 });
    await vault.admin('kv2/put', { path: 'mcp/up', data: { token: 'tok' } });
    const up = await startServer(['--name', 'up', '--require-token', 'tok']);
    const cfg = vaultConfig(vault, { up: { url: up.url, approval: 'auto', token: 'vault:secret/data/mcp/up#token' } },
      { call_timeout: 1, connect_timeout: 4 });
    const mux = await serve(cfg, NO_VAULT_ENV);
    assert.ok((await mux.request('tools/list', {}, { timeout: 10000 })).msg.result.tools.length > 0);
    // cache_ttl = 1: the next call needs the vault, which now never answers.
    await vault.admin('delay', { match: 'secret/data/mcp/up', ms: 600000 });
    await delay(1200);
    const { msg } = await mux.request('tools/call', { name: 'up__echo', arguments: { text: 'x' } }, { timeout: 10000 });
    assert.equal(msg.result?.isError, true, JSON.stringify(msg));
    assert.match(text(msg), /credential \(vault:secret\/data\/mcp\/up#token\) could not be fetched within 1 s/);
    // The same wait, cancelled by the agent: no answer, and serve goes on.
    await mux.send({ jsonrpc: '2.0', id: 'c1', method: 'tools/call', params: { name: 'up__echo', arguments: { text: 'y' } } });
    await mux.notify('notifications/cancelled', { requestId: 'c1', reason: 'changed my mind' });
    assert.ok((await mux.request('ping', {})).msg.result);
    await delay(1500);
    assert.equal(mux.messages.filter((e) => e.msg?.id === 'c1').length, 0, 'a cancelled call gets no answer');
    await mux.end();
    assert.equal((await mux.exited).signal, null);
  });

  test('waiting for a stream resumption, in flight, and after the answer', async () => {
    const cb = await spawnListening(path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'servers',
      'callback-server.mjs'), ['--port', '0', '--retry', '5000'], 'callback-server');
    const cfg = writeConfig({ mcpmux: { call_timeout: 1, connect_timeout: 4 },
      connectors: { cb: { url: `http://127.0.0.1:${cb.port}/mcp`, approval: 'auto' } } });
    const mux = await serve(cfg);
    assert.ok((await mux.request('tools/list', {}, { timeout: 10000 })).msg.result.tools.length > 0);
    // The server closes the stream and says "retry in 5 s": the deadline comes first.
    const resumed = await mux.request('tools/call', { name: 'cb__resume_me', arguments: { ms: 100, tag: 'r' } },
      { timeout: 10000 });
    assert.equal(resumed.msg.result?.isError, true, JSON.stringify(resumed.msg));
    assert.match(text(resumed.msg), /timed out: connector 'cb' did not answer within 1 s/);
    // In flight, cancelled: no answer.
    await mux.send({ jsonrpc: '2.0', id: 'f1', method: 'tools/call', params: { name: 'cb__resume_me', arguments: { ms: 100 } } });
    await mux.notify('notifications/cancelled', { requestId: 'f1' });
    // Answered, then cancelled: the cancel is too late and changes nothing.
    const done = await mux.request('tools/call', { name: 'cb__echo', arguments: { text: 'done' } });
    assert.equal(text(done.msg), 'echo: done');
    await mux.notify('notifications/cancelled', { requestId: done.msg.id });
    assert.ok((await mux.request('ping', {})).msg.result);
    await delay(1500);
    assert.equal(mux.messages.filter((e) => e.msg?.id === 'f1').length, 0);
    await mux.end();
    assert.equal((await mux.exited).signal, null);
  });

  test('waiting for a human: a cancel withdraws the question; the deadline denies', async () => {
    const up = await startServer(['--name', 'up']);
    const cfg = writeConfig({ mcpmux: { approvals: 'terminal', approval_timeout: 1, call_timeout: 5 },
      connectors: { up: up.url } });
    const mux = await serve(cfg);
    await mux.request('tools/list', {}, { timeout: 10000 });
    await mux.send({ jsonrpc: '2.0', id: 'h1', method: 'tools/call', params: { name: 'up__add', arguments: { a: 1, b: 2 } } });
    await mux.notify('notifications/cancelled', { requestId: 'h1' });
    const late = await mux.request('tools/call', { name: 'up__add', arguments: { a: 1, b: 2 } }, { timeout: 10000 });
    assert.equal(late.msg.result?.isError, true);
    assert.match(text(late.msg), /No one approved/);
    assert.equal(mux.messages.filter((e) => e.msg?.id === 'h1').length, 0);
    assert.equal((await up.stats()).toolCalls, 0);
  });
});
