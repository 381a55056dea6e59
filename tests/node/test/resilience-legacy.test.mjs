// Fallback to the legacy HTTP+SSE transport (2024-11-05): mcpmux POSTs
// initialize to the configured url; the legacy server answers 400/404/405,
// mcpmux GETs the same url (Accept: text/event-stream), takes the `endpoint`
// event's URL for its POSTs and reads the replies as `message` events on the
// GET stream. Server: servers/legacy-server.mjs (the SDK's SSEServerTransport).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  connect, delay, freePort, listAllTools, rawSpawn, startServer, textOf, waitUntil, writeConfig,
} from '../lib/harness.mjs';
import { rawText, startLegacy } from '../lib/resilience.mjs';

const LEGACY_TOOLS = ['legacy__add', 'legacy__echo', 'legacy__sleep'];

describe('legacy HTTP+SSE connector', () => {
  for (const status of [405, 404, 400]) {
    test(`POST initialize answered ${status}: falls back, lists and calls, next to a Streamable HTTP connector`, async () => {
      const [legacy, alpha] = await Promise.all([
        startLegacy(['--post-status', String(status), '--name', 'leg']),
        startServer(['--mode', 'sse', '--name', 'alpha']),
      ]);
      const cfg = writeConfig({
        connectors: { legacy: { url: legacy.url, approval: 'auto' }, alpha: { url: alpha.url, approval: 'auto' } },
      });
      const mux = await connect(cfg);
      const names = (await listAllTools(mux.client)).map((t) => t.name);
      assert.deepEqual(names.filter((n) => n.startsWith('legacy__')).sort(), LEGACY_TOOLS,
        `legacy tools listed; all: ${JSON.stringify(names)}; stderr: ${mux.stderr()}`);
      assert.ok(names.includes('alpha__echo'));
      assert.equal(textOf(await mux.client.callTool({ name: 'legacy__echo', arguments: { text: 'old' } })),
        'echo: old');
      assert.equal(textOf(await mux.client.callTool({ name: 'legacy__add', arguments: { a: 40, b: 2 } })), '42');
      assert.equal(textOf(await mux.client.callTool({ name: 'alpha__echo', arguments: { text: 'new' } })),
        'echo: new');
      const st = await legacy.stats();
      assert.ok(st.postSse >= 1, `mcpmux tried POST on the url first: ${JSON.stringify(st)}`);
      assert.equal(st.getStreams, 1, `one legacy GET stream open: ${JSON.stringify(st)}`);
      assert.equal(st.initialize, 1, 'initialized once over the legacy transport');
      assert.equal(st.toolCalls, 2);
      await mux.close();
    });
  }

  test('concurrent calls: each reply (on the one GET stream) reaches its own request', async () => {
    const legacy = await startLegacy();
    const raw = rawSpawn(writeConfig({ connectors: { legacy: { url: legacy.url, approval: 'auto' } } }));
    try {
      await raw.initialize();
      const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
      assert.deepEqual(msg.result.tools.map((t) => t.name).sort(), LEGACY_TOOLS, raw.stderr());
      // Finishing order differs from sending order.
      const calls = Array.from({ length: 12 }, (_, i) => ({
        id: 100 + i, ms: 50 + ((i * 7) % 12) * 40, tag: `tag-${i}`,
      }));
      const results = await Promise.all(calls.map((c) => raw.request('tools/call',
        { name: 'legacy__sleep', arguments: { ms: c.ms, tag: c.tag } }, { id: c.id, timeout: 10000 })));
      for (const [i, { msg: r }] of results.entries()) {
        assert.equal(rawText(r), calls[i].tag, `id ${calls[i].id}: ${JSON.stringify(r)}`);
        assert.notEqual(r.result.isError, true);
      }
      const { maxSleeping } = await legacy.stats();
      assert.ok(maxSleeping > 1, `calls running at once on the legacy server: ${maxSleeping} (not serialized)`);
      const per = calls.map((c) => raw.messages.filter((e) => e.msg?.id === c.id).length);
      assert.deepEqual(per, calls.map(() => 1), 'exactly one response per id');
      // progress over the legacy stream
      const { msg: p } = await raw.request('tools/call',
        { name: 'legacy__sleep', arguments: { ms: 100, tag: 'p' }, _meta: { progressToken: 'leg-p' } },
        { id: 200, timeout: 10000 });
      assert.equal(rawText(p), 'p');
      const prog = raw.messages.filter((e) => e.msg?.method === 'notifications/progress');
      assert.deepEqual(prog.map((e) => [e.msg.params.progressToken, e.msg.params.progress]),
        [['leg-p', 0], ['leg-p', 1]], 'progress over the legacy transport, with the client\'s token');
    } finally {
      await raw.end();
    }
  });

  test('call_timeout: a call that takes too long ends in a timeout error, the session goes on', async () => {
    const legacy = await startLegacy();
    const raw = rawSpawn(writeConfig({
      mcpmux: { call_timeout: 2 },
      connectors: { legacy: { url: legacy.url, approval: 'auto' } },
    }));
    try {
      await raw.initialize();
      await raw.request('tools/list', {}, { timeout: 10000 });
      const t0 = Date.now();
      const { msg } = await raw.request('tools/call',
        { name: 'legacy__sleep', arguments: { ms: 8000, tag: 'late' } }, { id: 7, timeout: 10000 });
      const ms = Date.now() - t0;
      assert.ok(ms >= 1800, `answered after ${ms} ms: call_timeout (2 s) ran out first`);
      assert.equal(msg.result?.isError, true, `want an isError result: ${JSON.stringify(msg)}`);
      assert.match(rawText(msg), /time(d)?[ -]?out|deadline/i);
      assert.match(rawText(msg), /legacy/, 'names the connector');
      await waitUntil(async () => (await legacy.stats()).cancelled >= 1,
        { timeout: 2000, what: 'the legacy server to receive notifications/cancelled' });
      const { msg: ok } = await raw.request('tools/call',
        { name: 'legacy__echo', arguments: { text: 'after' } }, { id: 8, timeout: 5000 });
      assert.equal(rawText(ok), 'echo: after');
      await new Promise((r) => setTimeout(r, Math.max(0, 8500 - (Date.now() - t0))));
      assert.equal(raw.messages.filter((e) => e.msg?.id === 7).length, 1, 'the late reply is dropped');
    } finally {
      await raw.end();
    }
  });

  test('stdin EOF: exits 0 without waiting for pending calls, and the legacy stream is closed', async () => {
    const legacy = await startLegacy();
    const raw = rawSpawn(writeConfig({ connectors: { legacy: { url: legacy.url, approval: 'auto' } } }));
    try {
      await raw.initialize();
      await raw.request('tools/list', {}, { timeout: 10000 });
      await raw.send({ jsonrpc: '2.0', id: 1, method: 'tools/call',
        params: { name: 'legacy__sleep', arguments: { ms: 600000, tag: 'pending' } } });
      await waitUntil(async () => (await legacy.stats()).toolCalls >= 1,
        { timeout: 3000, what: 'the call to reach the legacy server' });
      // The call would take ten minutes: an exit inside this wait's bound
      // says mcpmux did not wait for it.
      raw.closeStdin();
      const { code, signal } = await raw.waitExit(30000);
      assert.equal(signal, null, `killed by ${signal}`);
      assert.equal(code, 0, `exit code; stderr: ${raw.stderr()}`);
      await waitUntil(async () => (await legacy.stats()).getStreams === 0,
        { timeout: 2000, what: 'the legacy GET stream to close' });
    } finally {
      await raw.end();
    }
  });
});

describe('legacy HTTP+SSE: credential, endpoint origin, restart', () => {
  test('the credential goes on the GET stream and on every POST to the endpoint', async () => {
    const token = 'legacy-Tok-8Hq2Zp';
    const legacy = await startLegacy(['--require-token', token]);
    const raw = rawSpawn(writeConfig({
      connectors: { legacy: { url: legacy.url, approval: 'auto', token: 'env:LEGACY_TEST_TOKEN' } },
    }), { env: { LEGACY_TEST_TOKEN: token } });
    try {
      await raw.initialize();
      const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
      assert.deepEqual(msg.result.tools.map((t) => t.name).sort(), LEGACY_TOOLS, raw.stderr());
      const { msg: r } = await raw.request('tools/call', { name: 'legacy__echo', arguments: { text: 'tok' } });
      assert.equal(rawText(r), 'echo: tok');
      const st = await legacy.stats();
      assert.equal(st.unauthorized, 0, `every request carried the credential: ${JSON.stringify(st)}`);
      assert.ok(st.authorized >= 4, JSON.stringify(st));
      assert.ok(!raw.stderr().includes(token), 'the token is not logged');
    } finally {
      await raw.end();
    }
  });

  test('an absolute endpoint URL on the same origin is followed', async () => {
    const legacy = await startLegacy(['--endpoint-origin', 'self']);
    const raw = rawSpawn(writeConfig({ connectors: { legacy: { url: legacy.url, approval: 'auto' } } }));
    try {
      await raw.initialize();
      const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
      assert.deepEqual(msg.result.tools.map((t) => t.name).sort(), LEGACY_TOOLS, raw.stderr());
      const { msg: r } = await raw.request('tools/call', { name: 'legacy__add', arguments: { a: 1, b: 2 } });
      assert.equal(rawText(r), '3');
    } finally {
      await raw.end();
    }
  });

  test('an endpoint on another origin is refused: nothing (and no credential) is sent there', async () => {
    const token = 'legacy-Tok-Xf9Lm3';
    const foreign = await startLegacy();
    const legacy = await startLegacy(['--require-token', token, '--endpoint-origin', foreign.base]);
    const alpha = await startServer(['--name', 'alpha']);
    const raw = rawSpawn(writeConfig({
      mcpmux: { connect_timeout: 3 },
      connectors: {
        legacy: { url: legacy.url, approval: 'auto', token: 'env:LEGACY_TEST_TOKEN' },
        alpha: { url: alpha.url, approval: 'auto' },
      },
    }), { env: { LEGACY_TEST_TOKEN: token } });
    try {
      await raw.initialize();
      const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
      const names = msg.result.tools.map((t) => t.name);
      assert.ok(names.includes('alpha__echo'), JSON.stringify(names));
      assert.deepEqual(names.filter((n) => n.startsWith('legacy__')), [], 'the legacy connector is not usable');
      const { msg: r } = await raw.request('tools/call', { name: 'legacy__echo', arguments: { text: 'x' } });
      assert.ok(r.error || r.result?.isError, `a call to it fails: ${JSON.stringify(r)}`);
      assert.match(JSON.stringify(r), /legacy/, 'the error names the connector');
      await delay(1000);
      const f = await foreign.stats();
      assert.deepEqual({ posts: f.posts, authorized: f.authorized, unauthorized: f.unauthorized, other: f.other },
        { posts: 0, authorized: 0, unauthorized: 0, other: 0 }, 'the foreign origin got no request');
      assert.match(raw.stderr(), /legacy/, 'stderr says what is wrong with the connector');
      assert.ok(!raw.stderr().includes(token), 'the token is not logged');
      const { msg: ok } = await raw.request('tools/call', { name: 'alpha__echo', arguments: { text: 'fine' } });
      assert.equal(rawText(ok), 'echo: fine');
    } finally {
      await raw.end();
    }
  });

  test('the legacy server is killed and restarted on the same port: fast errors, then back (list_changed)', async () => {
    const port = await freePort();
    let legacy = await startLegacy(['--port', String(port)]);
    const raw = rawSpawn(writeConfig({
      mcpmux: { call_timeout: 20 },
      connectors: { legacy: { url: legacy.url, approval: 'auto' } },
    }));
    try {
      await raw.initialize();
      const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
      assert.deepEqual(msg.result.tools.map((t) => t.name).sort(), LEGACY_TOOLS, raw.stderr());
      await legacy.stop(); // SIGKILL by PID
      const mark = raw.messages.length;
      const { msg: r } = await raw.request('tools/call', { name: 'legacy__echo', arguments: { text: 'down' } });
      assert.equal(r.result?.isError, true, `want an isError result: ${JSON.stringify(r)}`);
      assert.match(rawText(r), /legacy/);
      // a fast error: the dead server, not call_timeout (20 s, past this request's bound)
      assert.doesNotMatch(rawText(r), /time(d)?[ -]?out|deadline|no answer within/i, rawText(r));
      await waitUntil(() => raw.messages.slice(mark).some((e) => e.msg?.method === 'notifications/tools/list_changed'),
        { timeout: 5000, what: 'list_changed after the legacy server died' });
      await delay(500);
      const mark2 = raw.messages.length;
      legacy = await startLegacy(['--port', String(port)]);
      await waitUntil(() => raw.messages.slice(mark2).some((e) => e.msg?.method === 'notifications/tools/list_changed'),
        { timeout: 15000, what: 'list_changed after the legacy server came back' });
      const { msg: again } = await raw.request('tools/call', { name: 'legacy__echo', arguments: { text: 'up' } },
        { timeout: 5000 });
      assert.equal(rawText(again), 'echo: up', JSON.stringify(again));
      assert.equal((await legacy.stats()).getStreams, 1);
    } finally {
      await raw.end();
    }
  });
});
