// Big tool results: mcpmux writes a reply of 64 KiB or more to the agent
// from the buffer it arrived in (src/downstream.c out_splice), around the
// rewritten id, and checks it with json_parse_top instead of tokenizing it.
// Each reply must arrive whole, as one line, with the agent's id, in order
// with everything else, also when the agent reads slowly.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { delay, rawSpawn, startServer, writeConfig } from '../lib/harness.mjs';
import { blobText } from '../servers/fixtures.mjs';

const MIB = 1 << 20;

for (const mode of ['json', 'sse']) {
  describe(`big results (${mode} replies)`, () => {
    let raw;

    before(async () => {
      const up = await startServer(['--name', 'up', '--mode', mode, '--blob-tool']);
      // The tool is not read-only: no human to ask here.
      const cfg = writeConfig({ connectors: { up: { url: up.url, approval: 'auto' } } });
      raw = rawSpawn(cfg);
      await raw.initialize();
    });
    after(() => raw?.end());

    test('a 3 MiB result arrives whole, with the agent\'s string id', async () => {
      const id = 'a-long-string-id-ü-😀-that-is-longer-than-the-connector-id';
      const { msg, raw: line } = await raw.request('tools/call',
        { name: 'up__blob', arguments: { bytes: 3 * MIB } }, { id, timeout: 20000 });
      assert.equal(msg.id, id);
      assert.equal(msg.result?.content?.[0]?.text, blobText(3 * MIB));
      assert.equal(line.indexOf(10), -1, 'one line');
    });

    test('sizes around the 64 KiB threshold, with numeric ids', async () => {
      for (const bytes of [65535, 65536, 65537, 200000]) {
        const id = 7000 + bytes;
        const { msg } = await raw.request('tools/call',
          { name: 'up__blob', arguments: { bytes } }, { id, timeout: 20000 });
        assert.equal(msg.id, id);
        assert.equal(msg.result?.content?.[0]?.text, blobText(bytes), `${bytes} bytes`);
      }
    });

    test('a slow reader gets big and small replies whole and each once', async () => {
      const sizes = [2 * MIB, 10, MIB, 100, 300000, 5];
      raw.proc.stdout.pause();
      const before = raw.messages.length;
      const ids = sizes.map((_, i) => `slow-${mode}-${i}`);
      await Promise.all(sizes.map((bytes, i) => raw.send({
        jsonrpc: '2.0', id: ids[i], method: 'tools/call',
        params: { name: 'up__blob', arguments: { bytes } },
      })));
      await raw.send({ jsonrpc: '2.0', id: `ping-${mode}`, method: 'ping' });
      // Let mcpmux fill the pipe and queue the rest.
      await delay(700);
      raw.proc.stdout.resume();
      for (let i = 0; i < sizes.length; i++) {
        const { msg } = await raw.response(ids[i], 20000);
        assert.equal(msg.result?.content?.[0]?.text, blobText(sizes[i]), `${ids[i]}: ${sizes[i]} bytes`);
      }
      await raw.response(`ping-${mode}`, 5000);
      const got = raw.messages.slice(before);
      assert.ok(got.every((e) => e.msg), 'every line is JSON');
      for (const id of [...ids, `ping-${mode}`]) {
        assert.equal(got.filter((e) => e.msg.id === id).length, 1, `one reply to ${id}`);
      }
    });
  });
}
