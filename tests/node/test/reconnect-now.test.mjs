// A connector that is back is used at once. After an outage the connector is
// in backoff (up to 30 s between attempts); a call for it does not fail with
// the last error but starts an attempt now (one at a time) and waits for it
// within its own deadline. While the server is still down, that attempt
// fails at once and so does the call.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort, rawSpawn, startServer, waitUntil, writeConfig } from '../lib/harness.mjs';
import { rawText } from '../lib/resilience.mjs';

async function call(raw, name, args) {
  const { msg } = await raw.request('tools/call', { name, arguments: args }, { timeout: 20000 });
  return msg;
}

test('a call after a restart reaches the server at once, whatever the backoff', async () => {
  const port = await freePort();
  let alpha = await startServer(['--port', String(port), '--name', 'alpha']);
  const raw = rawSpawn(writeConfig({
    mcpmux: { call_timeout: 10, connect_timeout: 5 },
    connectors: { alpha: { url: alpha.url, approval: 'auto' } },
  }));
  await raw.initialize();
  await waitUntil(async () => (await raw.request('tools/list', {}, { timeout: 10000 })).msg.result.tools.length > 0,
    { timeout: 10000, what: 'alpha listed' });
  assert.equal(rawText(await call(raw, 'alpha__echo', { text: 'up' })), 'echo: up');

  await alpha.stop();
  // Down: each call fails (connection refused), and each failed attempt
  // doubles the backoff, so the next scheduled attempt is far away.
  for (let i = 0; i < 6; i++) {
    const msg = await call(raw, 'alpha__echo', { text: 'down' });
    assert.equal(msg.result?.isError, true, JSON.stringify(msg));
    assert.match(rawText(msg), /alpha/);
  }
  alpha = await startServer(['--port', String(port), '--name', 'alpha']);
  const msg = await call(raw, 'alpha__echo', { text: 'back' });
  assert.equal(rawText(msg), 'echo: back', `${JSON.stringify(msg)}\nstderr: ${raw.stderr().slice(-1500)}`);
  await raw.end();
});
