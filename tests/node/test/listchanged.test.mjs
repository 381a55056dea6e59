// Connectors that come up late, and tool lists that change: tools/list waits
// up to connect_timeout for connectors still starting, answers without the
// ones that are later, and tells the client (notifications/tools/list_changed)
// when they arrive or when an upstream's list changes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  connect, listAllTools, startServer, textOf, waitUntil, withTimeout, writeConfig,
} from '../lib/harness.mjs';

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

test('tools/list waits for a connector that is slow to start (within connect_timeout)', async () => {
  const [slow, alpha] = await Promise.all([
    startServer(['--delay-init', '1500', '--name', 'slow']),
    startServer(['--name', 'alpha']),
  ]);
  const cfg = writeConfig({ mcpmux: { connect_timeout: 6 }, connectors: { slow: slow.url, alpha: alpha.url } });
  const mux = await connect(cfg);
  const t0 = Date.now();
  const names = (await listAllTools(mux.client)).map((t) => t.name);
  const ms = Date.now() - t0;
  assert.ok(names.includes('slow__echo'), `slow__echo listed (after ${ms} ms): ${JSON.stringify(names)}`);
  assert.ok(names.includes('alpha__echo'));
  assert.ok(ms < 6000, `tools/list took ${ms} ms`);
  assert.equal(textOf(await mux.client.callTool({ name: 'slow__echo', arguments: { text: 's' } })), 'echo: s');
  await mux.close();
});

test('a connector later than connect_timeout: listed without it, then list_changed, then listed', async () => {
  const [late, alpha] = await Promise.all([
    startServer(['--delay-init', '2500', '--name', 'late']),
    startServer(['--name', 'alpha']),
  ]);
  const cfg = writeConfig({ mcpmux: { connect_timeout: 1, call_timeout: 10 },
    connectors: { late: late.url, alpha: alpha.url } });
  const mux = await connect(cfg);
  const changed = listChanged(mux.client);
  const t0 = Date.now();
  const names = (await listAllTools(mux.client)).map((t) => t.name);
  const ms = Date.now() - t0;
  assert.ok(ms < 3000, `tools/list took ${ms} ms with connect_timeout = 1`);
  assert.ok(names.includes('alpha__echo'));
  if (!names.includes('late__echo')) {
    await changed.next(8000, 'notifications/tools/list_changed once the late connector is up');
  }
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
