// A hostile agent: JSON that means one thing to mcpmux and another to the
// connector. mcpmux decides on what it reads (which tool, whether it asks a
// human) and forwards the agent's bytes, so any object it reads must be
// unambiguous: a key that repeats, in any spelling ("name", "n\u0061me"), at
// any depth, is refused with -32600 and nothing reaches the connector. A
// name the agent escapes is the name it decodes to.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawSpawn, startServer, writeConfig } from '../lib/harness.mjs';

describe('duplicate keys from the agent', () => {
  let alpha;
  let mux;

  before(async () => {
    alpha = await startServer(['--name', 'alpha']);
    // add is hidden; echo is read-only (runs at once); sleep asks, and nobody answers.
    const cfg = writeConfig({
      mcpmux: { approvals: 'deny' },
      connectors: { a: { url: alpha.url, hide: 'add' } },
    });
    mux = rawSpawn(cfg);
    await mux.initialize();
    const list = await mux.request('tools/list', {}, { timeout: 10000 });
    assert.deepEqual(list.msg.result.tools.map((t) => t.name).sort(),
      ['a__big_schema', 'a__echo', 'a__rich', 'a__sleep']);
  });
  after(() => mux?.end());

  const cases = [
    ['a second name runs a hidden tool',
      '{"name":"a__echo","arguments":{"text":"x"},"name":"add"}'],
    ['a second name skips the approval of a write tool',
      '{"name":"a__echo","arguments":{"ms":1,"tag":"t"},"name":"sleep"}'],
    ['an escaped second name', '{"name":"a__echo","arguments":{"text":"x"},"n\\u0061me":"add"}'],
    ['two arguments: the human would see one, the connector get the other',
      '{"name":"a__sleep","arguments":{"ms":1,"tag":"seen"},"arguments":{"ms":1,"tag":"sent"}}'],
    ['a key twice inside the arguments',
      '{"name":"a__echo","arguments":{"text":"shown","text":"sent"}}'],
    ['a key with a lone surrogate (one key to some readers, another to others)',
      '{"name":"a__echo","arguments":{"\\ud800":"x","\\ufffd":"y"}}'],
  ];
  for (const [what, params] of cases) {
    test(`${what}: -32600, nothing forwarded`, async () => {
      const before = await alpha.stats();
      const id = mux.nextId++;
      const from = mux.messages.length;
      await mux.send(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":${params}}`);
      // The id is in a message that cannot be read unambiguously: the answer has id null.
      const { msg } = await mux.waitFor((e) => mux.messages.indexOf(e) >= from &&
        (e.msg?.id === null || e.msg?.id === id), 5000, 'the answer');
      assert.equal(msg.error?.code, -32600, JSON.stringify(msg));
      assert.match(msg.error.message, /appears twice|lone surrogate/);
      // A ping answered after it: the call, had it been forwarded, would have gone out first.
      assert.ok((await mux.request('ping', {})).msg.result);
      const after = await alpha.stats();
      assert.equal(after.toolCalls, before.toolCalls, 'no call reached the connector');
    });
  }

  test('a repeated key in the envelope (method, id) is refused too', async () => {
    const from = mux.messages.length;
    await mux.send('{"jsonrpc":"2.0","id":900,"method":"ping","method":"tools/call",'
      + '"params":{"name":"a__echo","arguments":{"text":"x"}}}');
    const { msg } = await mux.waitFor((e) => mux.messages.indexOf(e) >= from &&
      (e.msg?.id === null || e.msg?.id === 900), 5000, 'the answer');
    assert.equal(msg.error?.code, -32600, JSON.stringify(msg));
    assert.match(msg.error.message, /"method"/);
  });

  test('the same key in two different objects is fine', async () => {
    const { msg } = await mux.request('tools/call',
      { name: 'a__echo', arguments: { text: 'ok', name: 'not the tool' } });
    assert.equal(msg.result.content[0].text, 'echo: ok');
  });

  test('an escaped tool name is the name it decodes to', async () => {
    const id = mux.nextId++;
    await mux.send(`{"jsonrpc":"2.0","id":${id},"method":"tools/call",`
      + '"params":{"name":"a__ech\\u006f","arguments":{"text":"esc"}}}');
    const { msg } = await mux.response(id);
    assert.equal(msg.result?.content?.[0]?.text, 'echo: esc', JSON.stringify(msg));
  });

  test('a name with a NUL is no tool, not the name before the NUL', async () => {
    const id = mux.nextId++;
    await mux.send(`{"jsonrpc":"2.0","id":${id},"method":"tools/call",`
      + '"params":{"name":"a__echo\\u0000x","arguments":{"text":"nul"}}}');
    const { msg } = await mux.response(id);
    assert.equal(msg.error?.code, -32602, JSON.stringify(msg));
  });
});
