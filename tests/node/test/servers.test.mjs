// Sanity checks of the test servers and the harness themselves, with the SDK
// client talking straight to them (no mcpmux involved). If these fail, the
// other files' failures say nothing about mcpmux.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  deadPort, directClient, listAllTools, startEverything, startServer, textOf, withTimeout,
} from '../lib/harness.mjs';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { bigSchema, ODD_NAMES, richResult, RICH_TEXT } from '../servers/fixtures.mjs';

const BASE_TOOLS = ['echo', 'add', 'sleep', 'rich', 'big_schema'];

async function initialize(url, headers = {}) {
  return fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    }),
    signal: AbortSignal.timeout(3000),
  });
}

// Raw HTTP: the exact bytes the server puts on the wire.
async function rawPost(url, sid, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': '2025-06-18',
      ...(sid ? { 'Mcp-Session-Id': sid } : {}),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(3000),
  });
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('test-server', () => {
  for (const mode of ['json', 'sse']) {
    test(`${mode} mode: payload bytes on the wire are JSON.stringify of the fixtures`, async () => {
      // The mcpmux splice tests rely on this: the upstream's bytes for the
      // big schema and the rich result are exactly these strings.
      const srv = await startServer(['--mode', mode]);
      const { res } = await rawPost(srv.url, null, {
        jsonrpc: '2.0', id: 1, method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
      });
      const sid = res.headers.get('mcp-session-id');
      assert.ok(sid);
      const list = await rawPost(srv.url, sid, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
      assert.ok(list.bytes.includes(Buffer.from(JSON.stringify(bigSchema()))));
      const call = await rawPost(srv.url, sid,
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'rich', arguments: {} } });
      assert.ok(call.bytes.includes(Buffer.from(JSON.stringify(richResult().structuredContent))));
      assert.ok(call.bytes.includes(Buffer.from(JSON.stringify(RICH_TEXT))));
      assert.ok(call.bytes.includes(Buffer.from('\u2028', 'utf8')), 'U+2028 is sent raw');
      assert.ok(!call.bytes.includes(Buffer.from('\\u2028')), 'U+2028 is not escaped');
      await srv.stop();
    });
  }

  for (const mode of ['json', 'sse']) {
    test(`${mode} mode: tools, calls, stats, expiry`, async () => {
      const srv = await startServer(['--mode', mode, '--name', `sanity-${mode}`]);
      const c = await directClient(srv.url);
      assert.equal(c.getServerVersion().name, `sanity-${mode}`);
      const tools = await listAllTools(c);
      assert.deepEqual(tools.map((t) => t.name), BASE_TOOLS);
      assert.equal(tools[0].annotations.readOnlyHint, true);

      assert.equal(textOf(await c.callTool({ name: 'echo', arguments: { text: 'hi ✓' } })), 'echo: hi ✓');
      assert.equal(textOf(await c.callTool({ name: 'add', arguments: { a: 2, b: 3 } })), '5');
      const t0 = Date.now();
      assert.equal(textOf(await c.callTool({ name: 'sleep', arguments: { ms: 200, tag: 'z' } })), 'z');
      assert.ok(Date.now() - t0 >= 190);

      const rich = await c.callTool({ name: 'rich', arguments: {} });
      assert.deepEqual(rich.content, richResult().content);
      assert.deepEqual(rich.structuredContent, richResult().structuredContent);
      assert.equal(rich.content[0].text, RICH_TEXT);

      const big = tools.find((t) => t.name === 'big_schema');
      assert.deepEqual(big.inputSchema, bigSchema());
      assert.ok(JSON.stringify(big.inputSchema).length > 50 * 1024, 'big_schema is > 50 KB');

      let stats = await srv.stats();
      assert.equal(stats.initialize, 1);
      assert.equal(stats.toolCalls, 4);
      assert.equal(stats.sessions, 1);

      // A cancelled call: the SDK client sends notifications/cancelled on abort.
      const ac = new AbortController();
      const p = c.callTool({ name: 'sleep', arguments: { ms: 5000, tag: 'never' } }, undefined,
        { signal: ac.signal });
      await new Promise((r) => setTimeout(r, 100));
      ac.abort('test');
      await assert.rejects(p);
      for (let i = 0; i < 50 && (await srv.stats()).aborted < 1; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      stats = await srv.stats();
      assert.equal(stats.cancelled, 1);
      assert.equal(stats.aborted, 1);

      // Expiry: the old session id now gets 404.
      const sid = c.transport.sessionId;
      assert.ok(sid);
      assert.equal((await srv.expire()).expired, 1);
      const res = await fetch(srv.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          'Mcp-Session-Id': sid,
        },
        body: '{"jsonrpc":"2.0","id":9,"method":"ping"}',
        signal: AbortSignal.timeout(3000),
      });
      assert.equal(res.status, 404);
      assert.equal((await srv.stats()).sessions, 0);
      await c.close();
      await srv.stop();
    });
  }

  test('pagination with --page-size', async () => {
    const srv = await startServer(['--tools-count', '10', '--page-size', '3']);
    const c = await directClient(srv.url);
    const first = await c.listTools();
    assert.equal(first.tools.length, 3);
    assert.ok(first.nextCursor);
    const all = await listAllTools(c);
    assert.deepEqual(all.map((t) => t.name),
      [...BASE_TOOLS, ...Array.from({ length: 10 }, (_, i) => `t${i}`)]);
    assert.equal(textOf(await c.callTool({ name: 't9', arguments: {} })), 't9');
    await c.close();
  });

  test('DELETE ends the session and is counted', async () => {
    const srv = await startServer([]);
    const c = await directClient(srv.url);
    await c.transport.terminateSession();
    const stats = await srv.stats();
    assert.equal(stats.deletes, 1);
    assert.equal(stats.sessions, 0);
    await c.close();
  });

  test('--fail 500, badjson, hang', async () => {
    const s500 = await startServer(['--fail', '500']);
    assert.equal((await initialize(s500.url)).status, 500);

    const bad = await startServer(['--fail', 'badjson']);
    const r = await initialize(bad.url);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /application\/json/);
    const body = await r.text();
    assert.throws(() => JSON.parse(body));

    const hang = await startServer(['--fail', 'hang']);
    await assert.rejects(
      fetch(hang.url, { method: 'POST', body: '{}', signal: AbortSignal.timeout(500) }),
      /abort|timeout/i);
    assert.ok((await hang.stats()).requests >= 1, 'admin endpoints still answer in hang mode');
  });

  test('--delay-init, --odd-names, progress, /admin/add-tool', async () => {
    const srv = await startServer(['--mode', 'sse', '--delay-init', '600', '--odd-names']);
    const t0 = Date.now();
    const c = await directClient(srv.url);
    assert.ok(Date.now() - t0 >= 550, 'initialize was delayed');
    const names = (await listAllTools(c)).map((t) => t.name);
    assert.deepEqual(names, [...BASE_TOOLS, ...ODD_NAMES]);
    for (const n of ODD_NAMES) assert.equal(textOf(await c.callTool({ name: n, arguments: {} })), n);

    const progress = [];
    const r = await c.callTool({ name: 'sleep', arguments: { ms: 50, tag: 'p' } }, undefined,
      { onprogress: (p) => progress.push(p) });
    assert.equal(textOf(r), 'p');
    assert.deepEqual(progress.map((p) => p.progress), [0, 1]);

    const changed = new Promise((resolve) => {
      c.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve(true));
    });
    // The SDK client opens the GET stream on its own after initialize; give it a moment.
    await new Promise((res) => setTimeout(res, 300));
    const added = await fetch(`http://127.0.0.1:${srv.port}/admin/add-tool?name=fresh`,
      { method: 'POST', signal: AbortSignal.timeout(3000) }).then((x) => x.json());
    assert.equal(added.added, 'fresh');
    assert.equal(await withTimeout(changed, 3000, 'list_changed'), true);
    assert.ok((await listAllTools(c)).some((t) => t.name === 'fresh'));
    assert.equal(textOf(await c.callTool({ name: 'fresh', arguments: {} })), 'fresh');
    await c.close();
  });

  test('deadPort has nothing listening', async () => {
    const port = await deadPort();
    await assert.rejects(fetch(`http://127.0.0.1:${port}/mcp`, { signal: AbortSignal.timeout(2000) }));
  });
});

describe('server-everything', () => {
  test('streamableHttp: echo', async () => {
    const ev = await startEverything();
    const c = await directClient(ev.url);
    const tools = await listAllTools(c);
    assert.ok(tools.some((t) => t.name === 'echo'));
    const res = await withTimeout(c.callTool({ name: 'echo', arguments: { message: 'hey' } }), 5000, 'echo');
    assert.equal(textOf(res), 'Echo: hey');
    await c.close();
    await ev.stop();
  });
});
