// Connectors that come up late, and tool lists that change: tools/list waits
// up to connect_timeout for connectors still starting, answers without the
// ones that are later, and tells the client (notifications/tools/list_changed)
// when they arrive or when an upstream's list changes. A connector "starts"
// when the test says so (test-server --hold-init), not when a clock runs out.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  connect, listAllTools, rawSpawn, startServer, textOf, waitUntil, withTimeout, writeConfig,
} from '../lib/harness.mjs';
import { rawText } from '../lib/resilience.mjs';

/** Lets a test-server started with --hold-init answer initialize. */
async function releaseInit(srv) {
  const res = await fetch(`http://127.0.0.1:${srv.port}/admin/release-init`,
    { method: 'POST', signal: AbortSignal.timeout(3000) });
  assert.equal(res.status, 200, 'release-init');
}

function listChanged(client) {
  let count = 0;
  let wake;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    count++;
    wake?.();
  });
  return {
    get count() {
      return count;
    },
    next(ms, what) {
      const seen = count;
      return withTimeout(new Promise((resolve) => {
        wake = () => count > seen && resolve();
        if (count > seen) resolve();
      }), ms, what);
    },
  };
}

test('tools/list waits for a connector that is slow to start, and answers once it is up', async () => {
  const [slow, alpha] = await Promise.all([
    startServer(['--hold-init', '--name', 'slow']),
    startServer(['--name', 'alpha']),
  ]);
  // connect_timeout is an hour: the answer comes from slow starting, not from that timer
  const cfg = writeConfig({ mcpmux: { connect_timeout: 3600 }, connectors: { slow: slow.url, alpha: alpha.url } });
  const raw = rawSpawn(cfg);
  try {
    await raw.initialize();
    await raw.send({ jsonrpc: '2.0', id: 'list', method: 'tools/list', params: {} });
    // mcpmux reads stdin in order: once the ping is answered it holds the tools/list
    await raw.request('ping', undefined, { id: 'after-list' });
    await waitUntil(async () => (await slow.stats()).initialize >= 1, { what: 'slow to be asked to initialize' });
    assert.equal(raw.messages.some((e) => e.msg?.id === 'list'), false, 'no answer while slow is still starting');
    await releaseInit(slow);
    const { msg } = await raw.response('list', 15000);
    const names = (msg.result?.tools ?? []).map((t) => t.name);
    assert.ok(names.includes('slow__echo'), `slow__echo listed: ${JSON.stringify(msg)}`);
    assert.ok(names.includes('alpha__echo'));
    const { msg: call } = await raw.request('tools/call', { name: 'slow__echo', arguments: { text: 's' } },
      { timeout: 10000 });
    assert.equal(rawText(call), 'echo: s');
  } finally {
    await raw.end();
  }
});

test('a connector later than connect_timeout: listed without it, then list_changed, then listed', async () => {
  const [late, alpha] = await Promise.all([
    startServer(['--hold-init', '--name', 'late']),
    startServer(['--name', 'alpha']),
  ]);
  const cfg = writeConfig({ mcpmux: { connect_timeout: 1, call_timeout: 10 },
    connectors: { late: late.url, alpha: alpha.url } });
  const mux = await connect(cfg);
  const changed = listChanged(mux.client);
  const names = (await listAllTools(mux.client)).map((t) => t.name);
  assert.ok(names.includes('alpha__echo'));
  // late cannot be up before it is released: the list was answered without it
  assert.ok(!names.includes('late__echo'), `listed without late: ${JSON.stringify(names)}`);
  const up = changed.next(20000, 'notifications/tools/list_changed once the late connector is up');
  await releaseInit(late);
  await up;
  const after = (await listAllTools(mux.client)).map((t) => t.name);
  assert.ok(after.includes('late__echo'), JSON.stringify(after));
  assert.equal(textOf(await mux.client.callTool({ name: 'late__echo', arguments: { text: 'l' } })), 'echo: l');
  await mux.close();
});

test('an upstream\'s notifications/tools/list_changed reaches the client and the new tool is callable', async () => {
  const [alpha, beta] = await Promise.all([
    startServer(['--mode', 'json', '--name', 'alpha']),
    startServer(['--mode', 'sse', '--name', 'beta']),
  ]);
  const cfg = writeConfig({ connectors: { alpha: alpha.url, beta: beta.url } });
  const mux = await connect(cfg);
  const changed = listChanged(mux.client);
  await listAllTools(mux.client);
  for (const [alias, srv] of [['alpha', alpha], ['beta', beta]]) {
    const name = `fresh_${alias}`;
    // A server can only send an unsolicited notification on a GET stream
    // (Streamable HTTP); the SDK server drops it when none is open.
    await waitUntil(async () => (await srv.stats()).getStreams >= 1,
      { timeout: 5000, what: `mcpmux to open the GET stream for ${alias}'s notifications` });
    const wait = changed.next(8000, `list_changed after ${alias} added a tool`);
    const added = await fetch(`http://127.0.0.1:${srv.port}/admin/add-tool?name=${name}`,
      { method: 'POST', signal: AbortSignal.timeout(3000) }).then((r) => r.json());
    assert.equal(added.notified, 1, `${alias} had one session to notify`);
    await wait;
    const names = (await listAllTools(mux.client)).map((t) => t.name);
    assert.ok(names.includes(`${alias}__${name}`), JSON.stringify(names));
    assert.equal(textOf(await mux.client.callTool({ name: `${alias}__${name}`, arguments: {} })), name);
  }
  await mux.close();
});
