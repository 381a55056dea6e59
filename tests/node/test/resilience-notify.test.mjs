// Server notifications, progress and cancellation under concurrency, on the
// raw stdio wire:
// - a burst of notifications/tools/list_changed from one connector reaches
//   the client coalesced (1 or 2 notifications, not 5), and the new tools are
//   listed and callable;
// - progress from two connectors for many concurrent calls carries each
//   call's own client token (number and string tokens that look alike);
// - notifications/cancelled reaches the right connector with that
//   connector's request id: only the cancelled call stops upstream.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { delay, rawSpawn, startServer, waitUntil, writeConfig } from '../lib/harness.mjs';
import { rawText, startCallback } from '../lib/resilience.mjs';

const LC = 'notifications/tools/list_changed';

describe('notifications/tools/list_changed', () => {
  test('a burst of 5 from one connector: the client gets 1 or 2, and the 5 new tools', async () => {
    const [cb, alpha] = await Promise.all([startCallback(['--name', 'cb']), startServer(['--name', 'alpha'])]);
    const raw = rawSpawn(writeConfig({ connectors: { cb: cb.url, alpha: alpha.url } }));
    try {
      await raw.initialize();
      const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
      assert.ok(msg.result.tools.some((t) => t.name === 'cb__echo'), raw.stderr());
      await waitUntil(async () => (await cb.stats()).getStreams >= 1,
        { timeout: 5000, what: 'mcpmux to open the GET stream for cb\'s notifications' });
      await delay(300); // let any list_changed from startup settle
      const mark = raw.messages.length;
      const sent = await cb.listChanged(5);
      assert.equal(sent.notified, 1);
      await waitUntil(() => raw.messages.slice(mark).some((e) => e.msg?.method === LC),
        { timeout: 5000, what: 'a list_changed after the burst' });
      await delay(3000); // anything still coming from the burst
      const n = raw.messages.slice(mark).filter((e) => e.msg?.method === LC).length;
      assert.ok(n >= 1 && n <= 2, `the client got ${n} list_changed for a burst of 5 (want 1 or 2)`);
      const { msg: after } = await raw.request('tools/list', {}, { timeout: 10000 });
      const names = after.result.tools.map((t) => t.name);
      for (let i = 0; i < 5; i++) assert.ok(names.includes(`cb__burst_${i}`), JSON.stringify(names));
      assert.ok(names.includes('alpha__echo'));
      const { msg: call } = await raw.request('tools/call', { name: 'cb__burst_4', arguments: {} }, { timeout: 5000 });
      assert.equal(rawText(call), 'burst_4');
    } finally {
      await raw.end();
    }
  });
});

describe('progress', () => {
  test('12 concurrent calls on two connectors: every progress carries its own call\'s token', async () => {
    const [beta, gamma] = await Promise.all([
      startServer(['--mode', 'sse', '--name', 'beta']),
      startServer(['--mode', 'sse', '--name', 'gamma']),
    ]);
    const raw = rawSpawn(writeConfig({
      connectors: { beta: { url: beta.url, approval: 'auto' }, gamma: { url: gamma.url, approval: 'auto' } },
    }));
    try {
      await raw.initialize();
      await raw.request('tools/list', {}, { timeout: 10000 });
      // Tokens that look alike across types and connectors; each call sleeps
      // a distinct time, which the upstream puts in its first progress
      // message, so a notification delivered with the wrong token shows.
      const tokens = [1, '1', 2, '2', 0, '0', 'tok', 'TOK', 1e6, '1000000', -3, 'x y'];
      const calls = tokens.map((token, i) => ({
        id: `p${i}`, name: i % 2 ? 'gamma__sleep' : 'beta__sleep', token, ms: 200 + i * 37, tag: `tag${i}`,
      }));
      const res = await Promise.all(calls.map((c) => raw.request('tools/call',
        { name: c.name, arguments: { ms: c.ms, tag: c.tag }, _meta: { progressToken: c.token } },
        { id: c.id, timeout: 10000 })));
      for (const [i, { msg }] of res.entries()) assert.equal(rawText(msg), calls[i].tag);
      const progress = raw.messages.map((e, i) => ({ ...e, i }))
        .filter((e) => e.msg?.method === 'notifications/progress');
      for (const c of calls) {
        const respAt = raw.messages.findIndex((e) => e.msg?.id === c.id && e.msg.result);
        const mine = progress.filter((e) => e.msg.params?.progressToken === c.token);
        assert.deepEqual(mine.map((e) => [e.msg.params.progress, e.msg.params.message]),
          [[0, `sleeping ${c.ms} ms`], [1, 'done']],
          `progress for ${c.id} (token ${JSON.stringify(c.token)}, ${c.name})`);
        assert.ok(mine.every((e) => e.i < respAt), `${c.id}: progress before the response`);
      }
      assert.equal(progress.length, 2 * calls.length, 'no other progress notifications');
    } finally {
      await raw.end();
    }
  });
});

describe('notifications/cancelled', () => {
  test('cancelling one of two concurrent calls on a connector stops exactly that one upstream', async () => {
    const [alpha, beta] = await Promise.all([
      startServer(['--mode', 'sse', '--name', 'alpha']),
      startServer(['--mode', 'json', '--name', 'beta']),
    ]);
    const raw = rawSpawn(writeConfig({
      mcpmux: { call_timeout: 10 },
      connectors: { alpha: { url: alpha.url, approval: 'auto' }, beta: { url: beta.url, approval: 'auto' } },
    }));
    try {
      await raw.initialize();
      await raw.request('tools/list', {}, { timeout: 10000 });
      const sleep = (id, name, tag) => raw.send({ jsonrpc: '2.0', id, method: 'tools/call',
        params: { name, arguments: { ms: 1500, tag } } });
      await sleep(10, 'alpha__sleep', 'keep-a');
      await sleep(11, 'alpha__sleep', 'cancel-me');
      await sleep(12, 'beta__sleep', 'keep-b');
      await sleep(13, 'beta__sleep', 'cancel-me-too');
      await waitUntil(async () => (await alpha.stats()).toolCalls >= 2 && (await beta.stats()).toolCalls >= 2,
        { timeout: 3000, what: 'the four calls to reach the upstreams' });
      await raw.notify('notifications/cancelled', { requestId: 11, reason: 'test' });
      await raw.notify('notifications/cancelled', { requestId: 13, reason: 'test' });
      await raw.notify('notifications/cancelled', { requestId: 'no-such-request', reason: 'test' });
      const kept = await Promise.all([raw.response(10, 5000), raw.response(12, 5000)]);
      assert.deepEqual(kept.map((e) => rawText(e.msg)), ['keep-a', 'keep-b'],
        'the calls that were not cancelled complete (their upstream ids were not cancelled)');
      const a = await waitUntil(async () => {
        const s = await alpha.stats();
        return s.cancelled >= 1 && s;
      }, { timeout: 2000, what: 'alpha to receive notifications/cancelled' });
      assert.equal(a.cancelled, 1);
      assert.equal(a.aborted, 1, 'alpha: exactly one handler aborted');
      const b = await beta.stats();
      assert.equal(b.cancelled, 1);
      assert.equal(b.aborted, 1, 'beta: exactly one handler aborted');
      await delay(800);
      assert.deepEqual(raw.messages.filter((e) => e.msg?.id === 11 || e.msg?.id === 13).map((e) => e.raw.toString()),
        [], 'no response for the cancelled calls');
      assert.deepEqual(raw.messages.filter((e) => e.msg?.id === 'no-such-request').map((e) => e.raw.toString()), []);
      const { msg } = await raw.request('ping', undefined, { id: 'alive' });
      assert.deepEqual(msg.result, {});
    } finally {
      await raw.end();
    }
  });
});
