// End of the session and cancellation over raw stdio.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { delay, rawSpawn, startServer, waitUntil, writeConfig } from '../lib/harness.mjs';

async function twoServers() {
  const [alpha, beta] = await Promise.all([
    startServer(['--mode', 'json', '--name', 'alpha']),
    startServer(['--mode', 'sse', '--name', 'beta']),
  ]);
  const cfg = writeConfig({
    connectors: { alpha: { url: alpha.url, approval: 'auto' }, beta: { url: beta.url, approval: 'auto' } },
  });
  return { alpha, beta, cfg };
}

async function listed(raw) {
  const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
  const names = msg.result.tools.map((t) => t.name);
  assert.ok(names.includes('alpha__echo') && names.includes('beta__echo'), JSON.stringify(names));
}

describe('stdin EOF', () => {
  test('exits 0 by itself and ends both upstream sessions (DELETE)', async () => {
    const { alpha, beta, cfg } = await twoServers();
    const raw = rawSpawn(cfg);
    try {
      await raw.initialize();
      await listed(raw);
      assert.equal((await alpha.stats()).sessions, 1);
      assert.equal((await beta.stats()).sessions, 1);
      raw.closeStdin();
      const { code, signal } = await raw.waitExit(5000);
      assert.equal(signal, null, `killed by ${signal}`);
      assert.equal(code, 0, `exit code; stderr: ${raw.stderr()}`);
      for (const [name, srv] of [['alpha', alpha], ['beta', beta]]) {
        const s = await waitUntil(async () => {
          const st = await srv.stats();
          return st.deletes >= 1 && st;
        }, { timeout: 1000, what: `${name} to receive DELETE` });
        assert.equal(s.sessions, 0, `${name} session ended`);
      }
    } finally {
      await raw.end();
    }
  });

  test('with calls still pending (ten-minute sleeps), exits 0 without waiting for them', async () => {
    const { alpha, beta, cfg } = await twoServers();
    const raw = rawSpawn(cfg);
    try {
      await raw.initialize();
      await listed(raw);
      await raw.send({ jsonrpc: '2.0', id: 1, method: 'tools/call',
        params: { name: 'alpha__sleep', arguments: { ms: 600000, tag: 'a' } } });
      await raw.send({ jsonrpc: '2.0', id: 2, method: 'tools/call',
        params: { name: 'beta__sleep', arguments: { ms: 600000, tag: 'b' } } });
      await waitUntil(async () => (await alpha.stats()).toolCalls >= 1 && (await beta.stats()).toolCalls >= 1,
        { timeout: 3000, what: 'both calls to reach the upstreams' });
      // Waiting for the calls would take ten minutes: an exit inside the
      // bound of this wait says mcpmux did not wait for them.
      raw.closeStdin();
      const { code } = await raw.waitExit(30000);
      assert.equal(code, 0, `exit code; stderr: ${raw.stderr()}`);
      const done = raw.messages.filter((e) => [1, 2].includes(e.msg?.id) && e.msg.result && !e.msg.result.isError);
      assert.deepEqual(done.map((e) => e.raw.toString()), [], 'the abandoned calls never completed');
    } finally {
      await raw.end();
    }
  });
});

describe('notifications/cancelled from the client', () => {
  test('a cancelled call gets no response, the upstream is told, the session goes on', async () => {
    const { alpha, beta, cfg } = await twoServers();
    const raw = rawSpawn(cfg);
    try {
      await raw.initialize();
      await listed(raw);
      await raw.send({ jsonrpc: '2.0', id: 42, method: 'tools/call',
        params: { name: 'alpha__sleep', arguments: { ms: 3000, tag: 'cancel-me' } } });
      await raw.send({ jsonrpc: '2.0', id: '43', method: 'tools/call',
        params: { name: 'beta__sleep', arguments: { ms: 3000, tag: 'cancel-me-too' } } });
      await waitUntil(async () => (await alpha.stats()).toolCalls >= 1 && (await beta.stats()).toolCalls >= 1,
        { timeout: 3000, what: 'both calls to reach the upstreams' });
      const t0 = Date.now();
      await raw.notify('notifications/cancelled', { requestId: 42, reason: 'test' });
      await raw.notify('notifications/cancelled', { requestId: '43', reason: 'test' });

      for (const [name, srv] of [['alpha', alpha], ['beta', beta]]) {
        await waitUntil(async () => (await srv.stats()).cancelled >= 1,
          { timeout: 2000, what: `${name} to receive notifications/cancelled` });
      }
      const { msg } = await raw.request('ping', undefined, { id: 'after-cancel' });
      assert.deepEqual(msg.result, {});

      await delay(Math.max(0, 4000 - (Date.now() - t0)));
      const answered = raw.messages.filter((e) => e.msg && (e.msg.id === 42 || e.msg.id === '43'));
      assert.deepEqual(answered.map((e) => e.raw.toString('utf8').slice(0, 300)), [],
        'no response for a cancelled request');
      const { msg: again } = await raw.request('ping', undefined, { id: 'after-4s' });
      assert.deepEqual(again.result, {});
      const { msg: call } = await raw.request('tools/call',
        { name: 'alpha__echo', arguments: { text: 'alive' } }, { id: 44 });
      assert.equal(call.result?.content?.[0]?.text, 'echo: alive');
    } finally {
      await raw.end();
    }
  });
});
