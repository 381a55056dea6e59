// Isolation: a dead, hanging, failing (HTTP 500) or garbage-speaking (bad
// JSON) connector configured next to a good one. tools/list answers with the
// good connector's tools (the hanging one is given up at connect_timeout, well
// inside the request's own bound), the good connector keeps working, calls to
// the bad one end in an isError result naming it (mcpmux's answer, not the
// client's timeout), and stderr is not flooded.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  BASE_TOOLS, connect, deadPort, delay, linesMentioning, listAllTools, startServer, textOf,
  writeConfig,
} from '../lib/harness.mjs';

const CONNECT_TIMEOUT = 3;
const CALL_TIMEOUT = 5;

// alias -> how to get a bad URL
const BAD = {
  deadconn: async () => `http://127.0.0.1:${await deadPort()}/mcp`,
  hangconn: async () => (await startServer(['--fail', 'hang'])).url,
  http500: async () => (await startServer(['--fail', '500'])).url,
  badjson: async () => (await startServer(['--fail', 'badjson'])).url,
};

async function checkBadCall(mux, alias) {
  const res = await mux.client.callTool({ name: `${alias}__echo`, arguments: { text: 'x' } }, undefined,
    { timeout: (CALL_TIMEOUT + 5) * 1000 });
  assert.equal(res.isError, true, `${alias}__echo: want isError true, got ${JSON.stringify(res)}`);
  assert.match(textOf(res), new RegExp(alias), `${alias}__echo's error text names the connector`);
}

function checkNoFlood(stderr, alias) {
  const lines = linesMentioning(stderr, alias);
  assert.ok(lines.length <= 3,
    `stderr has ${lines.length} lines mentioning ${alias} (want <= 3):\n${lines.join('\n')}`);
}

describe('a bad connector next to a good one', () => {
  let good;
  before(async () => {
    good = await startServer(['--name', 'alpha']);
  });

  for (const [alias, makeUrl] of Object.entries(BAD)) {
    test(alias, async () => {
      const cfg = writeConfig({
        mcpmux: { connect_timeout: CONNECT_TIMEOUT, call_timeout: CALL_TIMEOUT },
        connectors: { alpha: good.url, [alias]: await makeUrl() },
      });
      const mux = await connect(cfg);
      const tools = await listAllTools(mux.client, { timeout: 20000 });
      const names = tools.map((t) => t.name);
      for (const t of BASE_TOOLS) assert.ok(names.includes(`alpha__${t}`), `alpha__${t} listed`);
      assert.equal(names.filter((n) => n.startsWith(`${alias}__`)).length, 0);

      const ok = await mux.client.callTool({ name: 'alpha__echo', arguments: { text: 'fine' } });
      assert.equal(textOf(ok), 'echo: fine');

      await checkBadCall(mux, alias);
      // The good one still works after the failed call.
      assert.equal(textOf(await mux.client.callTool({ name: 'alpha__echo', arguments: { text: 'again' } })),
        'echo: again');
      await delay(1000); // give any retry loop a chance to show itself
      checkNoFlood(mux.stderr(), alias);
      await mux.close();
    });
  }

  test('all four bad connectors at once, between two good ones', async () => {
    const beta = await startServer(['--mode', 'sse', '--name', 'beta']);
    const connectors = { alpha: good.url };
    for (const [alias, makeUrl] of Object.entries(BAD)) connectors[alias] = await makeUrl();
    connectors.beta = beta.url;
    const cfg = writeConfig({
      mcpmux: { connect_timeout: CONNECT_TIMEOUT, call_timeout: CALL_TIMEOUT },
      connectors,
    });
    const mux = await connect(cfg);
    const names = (await listAllTools(mux.client, { timeout: 20000 })).map((t) => t.name);
    for (const alias of ['alpha', 'beta']) {
      for (const t of BASE_TOOLS) assert.ok(names.includes(`${alias}__${t}`), `${alias}__${t} listed`);
    }
    const [a, b] = await Promise.all([
      mux.client.callTool({ name: 'alpha__echo', arguments: { text: 'a' } }),
      mux.client.callTool({ name: 'beta__echo', arguments: { text: 'b' } }),
    ]);
    assert.equal(textOf(a), 'echo: a');
    assert.equal(textOf(b), 'echo: b');
    await Promise.all(Object.keys(BAD).map((alias) => checkBadCall(mux, alias)));
    await delay(1000);
    for (const alias of Object.keys(BAD)) checkNoFlood(mux.stderr(), alias);
    await mux.close();
  });
});
