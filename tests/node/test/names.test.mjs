// Exposed names (DESIGN.md "Names"): only [A-Za-z0-9_-], client_prefix +
// name never over 64 characters (longer names shortened deterministically and
// still callable), no two tools share a name (a clash is resolved and
// reported on stderr), and the same names across restarts.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  BASE_TOOLS, connect, linesMentioning, listAllTools, startServer, textOf, writeConfig,
} from '../lib/harness.mjs';
import { ODD_NAMES } from '../servers/fixtures.mjs';

const PREFIX = 'mcp__mux__'; // the default client_prefix

// Starts mcpmux, returns {exposed -> upstream name it reaches} for the odd tools.
async function catalog(cfg) {
  const mux = await connect(cfg);
  const names = (await listAllTools(mux.client)).map((t) => t.name);
  const reach = {};
  for (const n of names) {
    if (BASE_TOOLS.some((b) => n === `odd__${b}`)) continue;
    const res = await mux.client.callTool({ name: n, arguments: {} });
    assert.ok(!res.isError, `${n}: ${JSON.stringify(res)}`);
    reach[n] = textOf(res);
  }
  const stderr = mux.stderr();
  await mux.close();
  return { names, reach, stderr };
}

describe('exposed names', () => {
  let cfg;
  let first;
  before(async () => {
    const odd = await startServer(['--odd-names', '--name', 'odd']);
    cfg = writeConfig({ connectors: { odd: odd.url } });
    first = await catalog(cfg);
  });

  test('only [A-Za-z0-9_-], and client_prefix + name <= 64 characters', () => {
    for (const n of first.names) {
      assert.match(n, /^[A-Za-z0-9_-]+$/, `exposed name ${JSON.stringify(n)}`);
      assert.ok(PREFIX.length + n.length <= 64, `${PREFIX}${n} is ${PREFIX.length + n.length} characters`);
    }
    assert.equal(new Set(first.names).size, first.names.length, 'names are unique');
  });

  test('every odd upstream tool is reachable through exactly one exposed name', () => {
    const reached = Object.values(first.reach).sort();
    assert.deepEqual(reached, ODD_NAMES.slice().sort(), JSON.stringify(first.reach, null, 1));
  });

  test('a 49-character upstream name fits as is; longer ones are shortened with a hash', () => {
    const fits = ODD_NAMES.find((n) => n.endsWith('_exactly') && n.length === 49);
    assert.equal(first.reach[`odd__${fits}`], fits);
    for (const long of ODD_NAMES.filter((n) => n.length > 49)) {
      const exposed = Object.keys(first.reach).find((k) => first.reach[k] === long);
      assert.ok(exposed, `${long} exposed`);
      assert.match(exposed, /_[0-9a-f]{6}$/, `${exposed}: truncated + '_' + 6 hex chars`);
    }
  });

  test('the dotted.name.tool / dotted_name_tool clash is resolved and reported on stderr', () => {
    assert.ok(first.names.includes('odd__dotted_name_tool'));
    assert.ok(linesMentioning(first.stderr, 'dotted').length >= 1,
      `stderr should report the clash:\n${first.stderr}`);
  });

  test('the same names, reaching the same tools, after a restart', async () => {
    const again = await catalog(cfg);
    assert.deepEqual(again.reach, first.reach);
    assert.deepEqual(again.names.slice().sort(), first.names.slice().sort());
  });
});
