// Progress notifications from upstreams reach the client with the client's
// own progressToken, before the response, each only for its own call.
//
// Checked on the raw stdio wire: the SDK client (1.32) handles notifications
// a microtask later than responses, so it drops a final progress that
// arrives in the same read as the response ("unknown token"), which says
// nothing about mcpmux.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawSpawn, startServer, writeConfig } from '../lib/harness.mjs';

test('notifications/progress are passed through with the client\'s token, per call', async () => {
  const [beta, gamma] = await Promise.all([
    startServer(['--mode', 'sse', '--name', 'beta']),
    startServer(['--mode', 'sse', '--name', 'gamma']),
  ]);
  const raw = rawSpawn(writeConfig({
    connectors: { beta: { url: beta.url, approval: 'auto' }, gamma: { url: gamma.url, approval: 'auto' } },
  }));
  try {
    await raw.initialize();
    await raw.request('tools/list', {}, { timeout: 10000 });
    // A number token and a string token, one call per upstream, at once:
    // each upstream's progress must come back to the call it belongs to,
    // with the token's type kept.
    const calls = [
      { id: 3, name: 'beta__sleep', token: 7, tag: 'a' },
      { id: 4, name: 'gamma__sleep', token: 'seven', tag: 'b' },
    ];
    await Promise.all(calls.map((c) => raw.request('tools/call',
      { name: c.name, arguments: { ms: 300, tag: c.tag }, _meta: { progressToken: c.token } },
      { id: c.id, timeout: 10000 })));
    for (const c of calls) {
      const respAt = raw.messages.findIndex((e) => e.msg?.id === c.id && e.msg.result);
      assert.equal(raw.messages[respAt].msg.result.content[0].text, c.tag);
      const prog = raw.messages
        .map((e, i) => ({ ...e, i }))
        .filter((e) => e.msg?.method === 'notifications/progress' && e.msg.params?.progressToken === c.token);
      assert.deepEqual(prog.map((e) => [e.msg.params.progress, e.msg.params.total]), [[0, 1], [1, 1]],
        `progress for ${c.name} (token ${JSON.stringify(c.token)})`);
      assert.ok(prog.every((e) => e.i < respAt), 'progress comes before the response');
    }
    const strays = raw.messages.filter((e) => e.msg?.method === 'notifications/progress'
      && !calls.some((c) => c.token === e.msg.params?.progressToken));
    assert.deepEqual(strays.map((e) => e.raw.toString()), [], 'no progress with a token the client did not send');
  } finally {
    await raw.end();
  }
});
