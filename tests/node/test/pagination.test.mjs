// mcpmux follows an upstream's tools/list nextCursor to the end.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BASE_TOOLS, connect, listAllTools, startServer, textOf, writeConfig,
} from '../lib/harness.mjs';

test('a connector that pages tools/list 3 at a time: all 15 tools appear', async () => {
  const [pages, alpha] = await Promise.all([
    startServer(['--tools-count', '10', '--page-size', '3', '--name', 'pages']),
    startServer(['--name', 'alpha']),
  ]);
  const cfg = writeConfig({ connectors: { pages: pages.url, alpha: alpha.url } });
  const mux = await connect(cfg);
  const names = (await listAllTools(mux.client)).map((t) => t.name);
  const want = [...BASE_TOOLS, ...Array.from({ length: 10 }, (_, i) => `t${i}`)].map((t) => `pages__${t}`);
  const got = names.filter((n) => n.startsWith('pages__'));
  assert.deepEqual(got.slice().sort(), want.slice().sort(),
    `missing: ${JSON.stringify(want.filter((n) => !got.includes(n)))}`);
  assert.ok(names.includes('alpha__echo'));
  assert.equal(textOf(await mux.client.callTool({ name: 'pages__t9', arguments: {} })), 't9');
  assert.equal(textOf(await mux.client.callTool({ name: 'pages__echo', arguments: { text: 'p' } })), 'echo: p');
  await mux.close();
});
