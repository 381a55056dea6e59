// Sanity checks of the resilience tests' own servers, with SDK clients
// talking straight to them (no mcpmux). If these fail, the other
// resilience*/chaos failures say nothing about mcpmux.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema,
  LoggingMessageNotificationSchema, ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { delay, startServer, textOf, waitUntil, withTimeout } from '../lib/harness.mjs';
import { startCallback, startLegacy, startProxy } from '../lib/resilience.mjs';

const opened = new Set();
async function open(client, transport) {
  await withTimeout(client.connect(transport), 5000, 'SDK client connect');
  opened.add(client);
  return client;
}

async function closeAll() {
  await Promise.all([...opened].map((c) => withTimeout(c.close(), 3000, 'close').catch(() => {})));
  opened.clear();
}

describe('legacy-server (HTTP+SSE, 2024-11-05 transport)', () => {
  test('SSEClientTransport: list, calls, concurrent sleeps; POST /sse answers --post-status', async () => {
    const srv = await startLegacy(['--name', 'leg']);
    try {
      const c = await open(new Client({ name: 'sanity', version: '0' }), new SSEClientTransport(new URL(srv.url)));
      assert.equal(c.getServerVersion().name, 'leg');
      const { tools } = await c.listTools();
      assert.deepEqual(tools.map((t) => t.name), ['echo', 'add', 'sleep']);
      assert.equal(textOf(await c.callTool({ name: 'echo', arguments: { text: 'x' } })), 'echo: x');
      assert.equal(textOf(await c.callTool({ name: 'add', arguments: { a: 2, b: 3 } })), '5');
      const tags = await Promise.all([300, 100, 200].map((ms) =>
        c.callTool({ name: 'sleep', arguments: { ms, tag: `t${ms}` } }).then(textOf)));
      assert.deepEqual(tags, ['t300', 't100', 't200']);
      const st = await srv.stats();
      assert.equal(st.getStreams, 1);
      assert.equal(st.toolCalls, 5);
      const post = await fetch(srv.url, { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}', signal: AbortSignal.timeout(3000) });
      assert.equal(post.status, 405);
      await closeAll();
      await waitUntil(async () => (await srv.stats()).getStreams === 0, { timeout: 3000, what: 'stream closed' });
    } finally {
      await closeAll();
      await srv.stop();
    }
  });

  for (const status of [400, 404]) {
    test(`--post-status ${status}`, async () => {
      const srv = await startLegacy(['--post-status', String(status)]);
      const post = await fetch(srv.url, { method: 'POST', body: '{}', signal: AbortSignal.timeout(3000) });
      assert.equal(post.status, status);
      await srv.stop();
    });
  }
});

describe('callback-server', () => {
  test('a client with elicitation, sampling and roots: every tool gets its answer', async () => {
    const srv = await startCallback(['--name', 'cb']);
    try {
      const client = new Client({ name: 'sanity', version: '0' },
        { capabilities: { elicitation: {}, sampling: {}, roots: { listChanged: true } } });
      client.setRequestHandler(ElicitRequestSchema, (req) => ({
        action: 'accept', content: { answer: `re: ${req.params.message}` } }));
      client.setRequestHandler(CreateMessageRequestSchema, (req) => ({
        role: 'assistant', model: 'test-model',
        content: { type: 'text', text: `sampled ${req.params.messages[0].content.text}` } }));
      client.setRequestHandler(ListRootsRequestSchema, () => ({
        roots: [{ uri: 'file:///a', name: 'a' }, { uri: 'file:///b' }] }));
      const logs = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
      let changed = 0;
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
        changed++;
      });
      await open(client, new StreamableHTTPClientTransport(new URL(srv.url)));
      const st0 = await srv.stats();
      assert.deepEqual(Object.keys(st0.clientCapabilities).sort(), ['elicitation', 'roots', 'sampling']);

      assert.equal(textOf(await client.callTool({ name: 'ask_user', arguments: { message: 'q?' } })),
        'elicited: {"action":"accept","content":{"answer":"re: q?"}}');
      assert.equal(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'hi' } })),
        'sampled: sampled hi (model test-model)');
      assert.equal(textOf(await client.callTool({ name: 'roots', arguments: {} })),
        'roots: 2 file:///a file:///b');
      assert.equal(textOf(await client.callTool({ name: 'ping_client', arguments: {} })), 'pong');

      await client.setLoggingLevel('warning');
      const res = await client.callTool({ name: 'log', arguments: { text: 'hello' } });
      assert.equal(textOf(res), 'sent: warning,error,critical,alert,emergency');
      await waitUntil(() => logs.length >= 5, { timeout: 2000, what: '5 log messages' });
      assert.deepEqual(logs.map((l) => l.level), ['warning', 'error', 'critical', 'alert', 'emergency']);
      assert.ok(logs.every((l) => l.logger === 'cb'));

      await waitUntil(async () => (await srv.stats()).getStreams >= 1, { timeout: 3000, what: 'GET stream' });
      await srv.log('error', 'from admin');
      await waitUntil(() => logs.some((l) => l.data === 'from admin'), { timeout: 2000, what: 'admin log' });
      await srv.listChanged(5);
      await waitUntil(() => changed >= 5, { timeout: 2000, what: '5 list_changed' });
      const { tools } = await client.listTools();
      assert.ok(['burst_0', 'burst_4'].every((n) => tools.some((t) => t.name === n)));
      assert.equal(textOf(await client.callTool({ name: 'burst_3', arguments: {} })), 'burst_3');

      const st = await srv.stats();
      assert.deepEqual(st.setLevel, ['warning']);
      assert.deepEqual(st.callbacks.map((c) => [c.method, c.ok]), [
        ['elicitation/create', true], ['sampling/createMessage', true], ['roots/list', true], ['ping', true]]);
    } finally {
      await closeAll();
      await srv.stop();
    }
  });

  test('a client without those capabilities: the tools report the JSON-RPC error at once', async () => {
    const srv = await startCallback();
    try {
      const client = await open(new Client({ name: 'sanity', version: '0' }),
        new StreamableHTTPClientTransport(new URL(srv.url)));
      for (const name of ['ask_user', 'sample', 'roots']) {
        const res = await client.callTool({ name, arguments: {} });
        assert.equal(res.isError, true, name);
        // method not found from the client, not the server's own timeout (-32001)
        assert.match(textOf(res), /^error -32601: /, name);
      }
      assert.deepEqual((await srv.stats()).clientCapabilities, {});
    } finally {
      await closeAll();
      await srv.stop();
    }
  });
});

describe('callback-server resumability', () => {
  test('resume_me: the SDK client resumes the closed POST stream with Last-Event-ID', async () => {
    const srv = await startCallback(['--retry', '200']);
    try {
      const client = await open(new Client({ name: 'sanity', version: '0' }),
        new StreamableHTTPClientTransport(new URL(srv.url)));
      const progress = [];
      const res = await client.callTool({ name: 'resume_me', arguments: { ms: 400, tag: 'z' } }, undefined,
        { timeout: 5000, onprogress: (p) => progress.push(p.progress) });
      assert.equal(textOf(res), 'resumed z');
      assert.deepEqual(progress, [0, 1]);
      const st = await srv.stats();
      assert.ok(st.resumes >= 1, JSON.stringify(st));
    } finally {
      await closeAll();
      await srv.stop();
    }
  });

  test('a closed GET stream: the SDK client resumes it, a log sent meanwhile is replayed', async () => {
    const srv = await startCallback(['--retry', '200']);
    try {
      const client = new Client({ name: 'sanity', version: '0' });
      const logs = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
      await open(client, new StreamableHTTPClientTransport(new URL(srv.url)));
      await waitUntil(async () => (await srv.stats()).getStreams >= 1, { timeout: 3000, what: 'GET stream' });
      // (the SDK server sends no priming event on a GET stream: a first
      // message gives the client an event id to resume from)
      await srv.log('error', 'first');
      await waitUntil(() => logs.some((l) => l.data === 'first'), { timeout: 3000, what: 'first log' });
      await srv.closeGetStreams();
      await srv.log('error', 'while closed');
      await waitUntil(() => logs.some((l) => l.data === 'while closed'), { timeout: 5000, what: 'replayed log' });
      const st = await srv.stats();
      assert.equal(st.resumes, 1, JSON.stringify(st));
    } finally {
      await closeAll();
      await srv.stop();
    }
  });
});

describe('flaky-proxy', () => {
  test('no faults: transparent, SSE replies stream through', async () => {
    const up = await startServer(['--mode', 'sse']);
    const px = await startProxy(up.port, ['--p500', '0', '--pdrop', '0', '--delay-max', '50', '--seed', '1']);
    try {
      const c = await open(new Client({ name: 'sanity', version: '0' }),
        new StreamableHTTPClientTransport(new URL(px.url)));
      assert.equal(textOf(await c.callTool({ name: 'echo', arguments: { text: 'p' } })), 'echo: p');
      const tags = await Promise.all([1, 2, 3, 4].map((i) =>
        c.callTool({ name: 'sleep', arguments: { ms: 100 * i, tag: `s${i}` } }).then(textOf)));
      assert.deepEqual(tags, ['s1', 's2', 's3', 's4']);
      const st = await px.stats();
      assert.ok(st.forwarded >= 6, JSON.stringify(st));
      assert.equal(st.errors500 + st.droppedBefore + st.droppedAfter, 0);
    } finally {
      await closeAll();
      await px.stop();
      await up.stop();
    }
  });

  test('faults: 500s, drops and 502 when the upstream is gone', async () => {
    const up = await startServer(['--mode', 'json']);
    const all500 = await startProxy(up.port, ['--p500', '1', '--pdrop', '0', '--delay-max', '0']);
    const allDrop = await startProxy(up.port, ['--p500', '0', '--pdrop', '1', '--delay-max', '0', '--seed', '7']);
    try {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
      const init = { method: 'POST', body, headers: { 'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream' } };
      const r500 = await fetch(all500.url, { ...init, signal: AbortSignal.timeout(3000) });
      assert.equal(r500.status, 500);
      let drops = 0;
      for (let i = 0; i < 6; i++) {
        await fetch(allDrop.url, { ...init, signal: AbortSignal.timeout(3000) })
          .then((r) => r.text()).catch(() => drops++);
      }
      assert.equal(drops, 6, 'every request dropped');
      const st = await allDrop.stats();
      assert.equal(st.droppedBefore + st.droppedAfter, 6);
      assert.ok(st.droppedBefore > 0 && st.droppedAfter > 0, JSON.stringify(st));
      await up.stop();
      const pass = await startProxy(up.port, ['--p500', '0', '--pdrop', '0', '--delay-max', '0']);
      const r502 = await fetch(pass.url, { ...init, signal: AbortSignal.timeout(3000) });
      assert.equal(r502.status, 502);
      await pass.stop();
    } finally {
      await all500.stop();
      await allDrop.stop();
    }
  });
});
