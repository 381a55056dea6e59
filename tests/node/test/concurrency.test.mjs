// 200 concurrent calls over two connectors, answered out of order: every
// result must go back to the request it belongs to, and the calls must run
// concurrently (each upstream has several of them running at the same time).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { connect, listAllTools, startServer, textOf, writeConfig } from '../lib/harness.mjs';

test('200 concurrent calls to alpha__sleep / beta__sleep come back matched and in parallel', async () => {
  const [alpha, beta] = await Promise.all([
    startServer(['--mode', 'json', '--name', 'alpha']),
    startServer(['--mode', 'sse', '--name', 'beta']),
  ]);
  const cfg = writeConfig({
    mcpmux: { call_timeout: 20, connect_timeout: 5 },
    connectors: { alpha: { url: alpha.url, approval: 'auto' }, beta: { url: beta.url, approval: 'auto' } },
  });
  const mux = await connect(cfg);
  const names = (await listAllTools(mux.client)).map((t) => t.name);
  assert.ok(names.includes('alpha__sleep') && names.includes('beta__sleep'));

  const calls = Array.from({ length: 200 }, (_, i) => ({
    name: i % 2 ? 'beta__sleep' : 'alpha__sleep',
    ms: Math.floor(Math.random() * 301),
    tag: `tag-${i}-${randomUUID()}`,
  }));
  const results = await Promise.all(calls.map((c) => mux.client.callTool(
    { name: c.name, arguments: { ms: c.ms, tag: c.tag } }, undefined, { timeout: 30000 })));

  const wrong = [];
  results.forEach((r, i) => {
    if (r.isError || textOf(r) !== calls[i].tag) {
      wrong.push({ i, want: calls[i].tag, got: textOf(r), isError: r.isError });
    }
  });
  assert.deepEqual(wrong, [], `${wrong.length} results did not match their request`);
  const [sa, sb] = await Promise.all([alpha.stats(), beta.stats()]);
  assert.equal(sa.toolCalls, 100);
  assert.equal(sb.toolCalls, 100);
  // Serialized calls would reach each upstream one at a time.
  assert.ok(sa.maxInFlight > 1 && sb.maxInFlight > 1,
    `calls running at once upstream: alpha ${sa.maxInFlight}, beta ${sb.maxInFlight} (want more than 1)`);
  await mux.close();
});
