// Reconnect: a connector that dies (process killed, port closed) is retried
// with capped exponential backoff; while it is down its calls fail AT ONCE
// with an isError result naming it, its tools leave the list (the client
// gets notifications/tools/list_changed), and when it is back its tools
// return (list_changed again) and its calls work. The other connector is
// never disturbed. Servers are restarted on the SAME port.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import {
  delay, freePort, linesMentioning, rawSpawn, startServer, waitUntil, writeConfig,
} from '../lib/harness.mjs';
import { rawText } from '../lib/resilience.mjs';

const LC = 'notifications/tools/list_changed';

function listChangedSince(raw, from) {
  return raw.messages.slice(from).filter((e) => e.msg?.method === LC).length;
}

async function toolNames(raw) {
  const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
  assert.ok(msg.result, `tools/list failed: ${JSON.stringify(msg)}`);
  return msg.result.tools.map((t) => t.name);
}

async function call(raw, name, args, timeout = 10000) {
  const t0 = Date.now();
  const { msg } = await raw.request('tools/call', { name, arguments: args }, { timeout });
  return { msg, ms: Date.now() - t0, text: rawText(msg) };
}

async function assertFastError(raw, alias, what) {
  const r = await call(raw, `${alias}__echo`, { text: 'x' });
  assert.equal(r.msg.result?.isError, true, `${what}: want an isError result, got ${JSON.stringify(r.msg)}`);
  assert.match(r.text, new RegExp(alias), `${what}: the error names the connector: ${r.text}`);
  assert.ok(r.ms < 1000, `${what}: answered after ${r.ms} ms (want < 1000, not a timeout)`);
  return r;
}

/** Waits until alias's tools are listed again and its echo works; returns ms taken. */
async function waitRecovered(raw, alias, from, t0, timeout = 15000) {
  await waitUntil(() => listChangedSince(raw, from) >= 1,
    { timeout, interval: 50, what: `list_changed after ${alias} came back` });
  await waitUntil(async () => (await toolNames(raw)).includes(`${alias}__echo`),
    { timeout: Math.max(1000, timeout - (Date.now() - t0)), interval: 200, what: `${alias}__echo listed again` });
  const r = await call(raw, `${alias}__echo`, { text: 'back' });
  assert.equal(r.text, 'echo: back', `${alias}__echo after recovery: ${JSON.stringify(r.msg)}`);
  return Date.now() - t0;
}

describe('a connector that dies and comes back', () => {
  test('killed: fast isError, tools leave the list (list_changed), return after restart on the same port', async () => {
    const port = await freePort();
    let alpha = await startServer(['--port', String(port), '--mode', 'json', '--name', 'alpha']);
    const beta = await startServer(['--mode', 'sse', '--name', 'beta']);
    const raw = rawSpawn(writeConfig({
      mcpmux: { call_timeout: 20, connect_timeout: 5 },
      connectors: { alpha: { url: alpha.url, approval: 'auto' }, beta: { url: beta.url, approval: 'auto' } },
    }));
    try {
      await raw.initialize();
      const before = await toolNames(raw);
      assert.ok(before.includes('alpha__echo') && before.includes('beta__echo'), JSON.stringify(before));
      assert.equal((await call(raw, 'alpha__echo', { text: 'up' })).text, 'echo: up');

      const mark = raw.messages.length;
      await alpha.stop(); // SIGKILL, by PID
      const tKill = Date.now();
      await assertFastError(raw, 'alpha', 'first call after the kill');

      await waitUntil(() => listChangedSince(raw, mark) >= 1,
        { timeout: 5000, interval: 50, what: 'list_changed after alpha died' });
      const down = await toolNames(raw);
      assert.deepEqual(down.filter((n) => n.startsWith('alpha__')), [], `alpha's tools left the list: ${JSON.stringify(down)}`);
      assert.ok(down.includes('beta__echo'));

      for (let i = 0; i < 3; i++) {
        await assertFastError(raw, 'alpha', `call ${i + 2} while down`);
        assert.equal((await call(raw, 'beta__echo', { text: `b${i}` })).text, `echo: b${i}`, 'beta unaffected');
        await delay(400);
      }
      const downMs = Date.now() - tKill;

      const mark2 = raw.messages.length;
      alpha = await startServer(['--port', String(port), '--mode', 'json', '--name', 'alpha']);
      const ms = await waitRecovered(raw, 'alpha', mark2, Date.now());
      process.stderr.write(`# reconnect: alpha recovered ${ms} ms after its restart (down ${downMs} ms)\n`);
      assert.ok((await alpha.stats()).initialize >= 1, 'the new process was initialized');
      assert.equal((await call(raw, 'beta__echo', { text: 'end' })).text, 'echo: end');
    } finally {
      await raw.end();
    }
  });

  test('a call in flight when its connector is killed ends at once in an isError naming it', async () => {
    const alpha = await startServer(['--mode', 'sse', '--name', 'alpha']);
    const raw = rawSpawn(writeConfig({
      mcpmux: { call_timeout: 30 },
      connectors: { alpha: { url: alpha.url, approval: 'auto' } },
    }));
    try {
      await raw.initialize();
      assert.ok((await toolNames(raw)).includes('alpha__sleep'));
      await raw.send({ jsonrpc: '2.0', id: 'inflight', method: 'tools/call',
        params: { name: 'alpha__sleep', arguments: { ms: 20000, tag: 'never' } } });
      await waitUntil(async () => (await alpha.stats()).toolCalls >= 1,
        { timeout: 3000, what: 'the call to reach alpha' });
      await alpha.stop();
      const t0 = Date.now();
      const { msg } = await raw.response('inflight', 5000);
      const ms = Date.now() - t0;
      assert.equal(msg.result?.isError, true, `want an isError result: ${JSON.stringify(msg)}`);
      assert.match(rawText(msg), /alpha/, 'names the connector');
      assert.ok(ms < 2000, `answered ${ms} ms after the kill (want < 2000, call_timeout is 30 s)`);
      await delay(500);
      assert.equal(raw.messages.filter((e) => e.msg?.id === 'inflight').length, 1, 'exactly one response');
    } finally {
      await raw.end();
    }
  });

  test('backoff while down: a few spaced attempts (no hot loop, no stderr flood), recovery after a long outage', async () => {
    const port = await freePort();
    let alpha = await startServer(['--port', String(port), '--mode', 'json', '--name', 'alpha']);
    const beta = await startServer(['--mode', 'json', '--name', 'beta']);
    const raw = rawSpawn(writeConfig({
      connectors: { alpha: { url: alpha.url, approval: 'auto' }, beta: { url: beta.url, approval: 'auto' } },
    }));
    let resetter;
    try {
      await raw.initialize();
      assert.ok((await toolNames(raw)).includes('alpha__echo'));
      const stderrBefore = raw.stderr().length;
      await alpha.stop();
      // The port accepts and resets every connection: each reconnect attempt
      // shows up as connections, which we count and time.
      const conns = [];
      resetter = net.createServer((sock) => {
        conns.push(Date.now());
        sock.resetAndDestroy();
      });
      await new Promise((resolve, reject) => {
        resetter.once('error', reject);
        resetter.listen(port, '127.0.0.1', resolve);
      });
      const t0 = Date.now();
      const WINDOW = 8000;
      await delay(WINDOW);
      await new Promise((r) => resetter.close(r));
      resetter = null;
      // Attempts: connections more than 150 ms apart.
      const attempts = [];
      for (const t of conns) if (!attempts.length || t - attempts[attempts.length - 1] > 150) attempts.push(t);
      const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
      process.stderr.write(`# backoff: ${conns.length} connections, ${attempts.length} attempts in ${WINDOW} ms, `
        + `first at +${attempts.length ? attempts[0] - t0 : '-'} ms, gaps ${JSON.stringify(gaps)}\n`);
      assert.ok(attempts.length >= 2, `mcpmux retried while alpha was down (${attempts.length} attempts in ${WINDOW} ms)`);
      assert.ok(attempts.length <= 8, `backoff: ${attempts.length} attempts in ${WINDOW} ms (gaps ${JSON.stringify(gaps)})`);
      assert.ok(conns.length <= 30, `${conns.length} connections in ${WINDOW} ms`);
      assert.ok(gaps.length < 2 || Math.max(...gaps) >= 1000, `the waits grow: gaps ${JSON.stringify(gaps)}`);
      const lines = linesMentioning(raw.stderr().slice(stderrBefore), 'alpha');
      assert.ok(lines.length <= 10, `stderr lines mentioning alpha during the outage: ${lines.length}\n${lines.join('\n')}`);

      const mark = raw.messages.length;
      alpha = await startServer(['--port', String(port), '--mode', 'json', '--name', 'alpha']);
      const ms = await waitRecovered(raw, 'alpha', mark, Date.now());
      process.stderr.write(`# backoff: alpha recovered ${ms} ms after its restart\n`);
    } finally {
      if (resetter) await new Promise((r) => resetter.close(r));
      await raw.end();
    }
  });
});
