// Upstream session expiry: after the server drops its sessions (old
// Mcp-Session-Id -> 404), mcpmux initializes again and the call succeeds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, listAllTools, startServer, textOf, writeConfig } from '../lib/harness.mjs';

for (const mode of ['json', 'sse']) {
  test(`an expired session is re-initialized and the call retried (${mode})`, async () => {
    const alpha = await startServer(['--mode', mode, '--name', 'alpha']);
    const cfg = writeConfig({ connectors: { alpha: alpha.url } });
    const mux = await connect(cfg);
    await listAllTools(mux.client);
    const first = await mux.client.callTool({ name: 'alpha__echo', arguments: { text: 'one' } });
    assert.equal(textOf(first), 'echo: one');
    assert.equal((await alpha.stats()).initialize, 1);

    assert.equal((await alpha.expire()).expired, 1, 'mcpmux had exactly one session');
    const second = await mux.client.callTool({ name: 'alpha__echo', arguments: { text: 'two' } },
      undefined, { timeout: 10000 });
    assert.ok(!second.isError, `after expiry: ${JSON.stringify(second)}; stderr: ${mux.stderr()}`);
    assert.equal(textOf(second), 'echo: two');
    const stats = await alpha.stats();
    assert.equal(stats.initialize, 2, `initialize requests seen by the server: ${stats.initialize}`);
    assert.equal(stats.sessions, 1);
    await mux.close();
  });
}
