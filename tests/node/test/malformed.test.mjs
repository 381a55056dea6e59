// Malformed client input over raw stdio (newline-delimited JSON-RPC): each
// gets the JSON-RPC error the spec names, and the process keeps serving.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawSpawn, startServer, writeConfig } from '../lib/harness.mjs';

describe('malformed client input', () => {
  let raw;
  let pings = 0;

  before(async () => {
    const alpha = await startServer(['--name', 'alpha']);
    const cfg = writeConfig({ connectors: { alpha: alpha.url } });
    raw = rawSpawn(cfg);
    await raw.initialize();
  });
  after(() => raw?.end());

  async function pingWorks() {
    const id = `ping-${++pings}`;
    const { msg } = await raw.request('ping', undefined, { id });
    assert.equal(msg.id, id);
    assert.deepEqual(msg.result, {}, `ping after the bad input: ${JSON.stringify(msg)}`);
  }

  // The error response to a message whose id cannot be known: id null.
  function nullIdError(code) {
    return raw.waitFor((e) => e.msg && e.msg.id === null && e.msg.error?.code === code,
      5000, `an error ${code} with id null`);
  }

  test('{bad json -> -32700 with id null', async () => {
    await raw.send('{bad json');
    const { msg } = await nullIdError(-32700);
    assert.equal(msg.jsonrpc, '2.0');
    assert.equal(typeof msg.error.message, 'string');
    await pingWorks();
  });

  test('{"jsonrpc":"2.0","foo":1} -> -32600', async () => {
    await raw.send('{"jsonrpc":"2.0","foo":1}');
    const { msg } = await nullIdError(-32600);
    assert.equal(msg.jsonrpc, '2.0');
    await pingWorks();
  });

  test('unknown method -> -32601 with id 5', async () => {
    await raw.send('{"jsonrpc":"2.0","id":5,"method":"nope"}');
    const { msg } = await raw.response(5);
    assert.equal(msg.error?.code, -32601, JSON.stringify(msg));
    assert.equal(msg.id, 5);
    await pingWorks();
  });

  test('tools/call with an unknown name -> -32602', async () => {
    const { msg } = await raw.request('tools/call', { name: 'no_such__tool', arguments: {} }, { id: 6 });
    assert.equal(msg.error?.code, -32602, JSON.stringify(msg));
    const { msg: m2 } = await raw.request('tools/call', { name: 'alpha__no_such_tool', arguments: {} },
      { id: 'unknown-in-known-connector' });
    // An unknown tool under a live connector's prefix: the upstream (or mcpmux)
    // says invalid params; either channel must name the problem, not hang.
    assert.ok(m2.error?.code === -32602 || m2.result?.isError === true, JSON.stringify(m2));
    await pingWorks();
  });

  test('a 16 MiB line gets its ping response', async () => {
    const pad = 'x'.repeat(16 * 1024 * 1024);
    const { msg } = await raw.request('ping', { pad }, { id: 'big-ping', timeout: 20000 });
    assert.deepEqual(msg.result, {}, JSON.stringify(msg).slice(0, 300));
    await pingWorks();
  });

  test('ids keep their type: "abc" stays a string, 7 a number, "8" a string', async () => {
    for (const id of ['abc', 7, '8', 0, '']) {
      const { msg } = await raw.request('ping', undefined, { id });
      assert.strictEqual(msg.id, id, `ping id ${JSON.stringify(id)} came back as ${JSON.stringify(msg.id)}`);
    }
    // The same through an upstream round trip (mcpmux maps ids upstream).
    for (const id of ['call-x', 77, '78']) {
      const { msg } = await raw.request('tools/call', { name: 'alpha__echo', arguments: { text: String(id) } },
        { id });
      assert.strictEqual(msg.id, id);
      assert.equal(msg.result?.content?.[0]?.text, `echo: ${id}`, JSON.stringify(msg));
    }
  });

  test('a line ending in \\r\\n is accepted', async () => {
    await raw.send('{"jsonrpc":"2.0","id":"crlf","method":"ping"}\r');
    const { msg } = await raw.response('crlf');
    assert.deepEqual(msg.result, {});
  });

  test('every line on stdout was valid JSON', () => {
    const bad = raw.messages.filter((e) => e.parseError);
    assert.deepEqual(bad.map((e) => e.raw.toString('utf8').slice(0, 200)), []);
  });
});
