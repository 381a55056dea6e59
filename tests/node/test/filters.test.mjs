// Per-connector tool filters: `tools =` (allow-list globs) and `hide =`
// (deny-list globs). A filtered tool is not listed and not callable, and the
// call never reaches the upstream (fail closed).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, listAllTools, startServer, textOf, writeConfig } from '../lib/harness.mjs';

test('tools = / hide = : filtered tools are neither listed nor forwarded', async () => {
  const alpha = await startServer(['--name', 'alpha']);
  const cfg = writeConfig({
    connectors: { alpha: { url: alpha.url, tools: 'echo add s* rich', hide: 'sl*' } },
  });
  const mux = await connect(cfg);
  const names = (await listAllTools(mux.client)).map((t) => t.name).sort();
  assert.deepEqual(names, ['alpha__add', 'alpha__echo', 'alpha__rich']);
  assert.equal(textOf(await mux.client.callTool({ name: 'alpha__echo', arguments: { text: 'ok' } })), 'echo: ok');
  const before = (await alpha.stats()).toolCalls;

  for (const name of ['alpha__sleep', 'alpha__big_schema']) {
    let outcome;
    try {
      const res = await mux.client.callTool({ name, arguments: { ms: 1, tag: 'x' } });
      outcome = res.isError ? 'isError' : `result ${JSON.stringify(res)}`;
    } catch (err) {
      outcome = err.code === -32602 ? 'invalid params' : `error ${err.code} ${err.message}`;
    }
    assert.ok(outcome === 'invalid params' || outcome === 'isError', `${name}: ${outcome}`);
  }
  assert.equal((await alpha.stats()).toolCalls, before, 'no filtered call reached the upstream');
  await mux.close();
});
