// Per-request deadlines: with call_timeout = 1, a 3 s upstream call ends in an
// isError result about the timeout (the deadline's answer, not the upstream's,
// and not before 1 s), and the upstream is told (notifications/cancelled).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, listAllTools, startServer, textOf, waitUntil, writeConfig } from '../lib/harness.mjs';

for (const mode of ['json', 'sse']) {
  test(`call_timeout = 1: a 3 s call times out and is cancelled upstream (${mode})`, async () => {
    const alpha = await startServer(['--mode', mode, '--name', 'alpha']);
    const cfg = writeConfig({
      mcpmux: { call_timeout: 1, connect_timeout: 3 },
      connectors: { alpha: { url: alpha.url, approval: 'auto' } },
    });
    const mux = await connect(cfg);
    assert.ok((await listAllTools(mux.client)).some((t) => t.name === 'alpha__sleep'));

    const t0 = Date.now();
    const res = await mux.client.callTool({ name: 'alpha__sleep', arguments: { ms: 3000, tag: 'late' } },
      undefined, { timeout: 10000 });
    const ms = Date.now() - t0;
    assert.equal(res.isError, true, `want isError, got ${JSON.stringify(res)}`);
    assert.match(textOf(res), /time(d)?[ -]?out|deadline/i, `error text mentions a timeout: ${textOf(res)}`);
    assert.match(textOf(res), /alpha/, 'the text names the connector');
    assert.ok(!textOf(res).includes('late'), 'the answer is the deadline\'s, not the upstream\'s result');
    assert.ok(ms >= 900, `answered after ${ms} ms, before the 1 s deadline`);

    const stats = await waitUntil(async () => {
      const s = await alpha.stats();
      return s.cancelled >= 1 && s;
    }, { timeout: 2000, what: 'the upstream to receive notifications/cancelled' });
    assert.ok(stats.cancelled >= 1);

    // The connector is still usable afterwards.
    const ok = await mux.client.callTool({ name: 'alpha__echo', arguments: { text: 'still here' } });
    assert.equal(textOf(ok), 'echo: still here');
    await mux.close();
  });
}
