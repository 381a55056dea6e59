// Bounded memory and work. A connector may send a message of any size: past
// max_message (16 MiB by default) it is refused while it streams, and the
// others keep working. An agent that stops reading stdout makes the
// connectors pause (back-pressure), not mcpmux grow. A huge stdin line is
// given back once handled. Memory figures come from /proc (peak RSS,
// VmHWM); they are not judged for a sanitizer build, whose allocator keeps
// freed memory on purpose.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { BIN, rawSpawn, startHostile, startServer, waitUntil, writeConfig } from '../lib/harness.mjs';

const SANITIZED = /asan|sanitiz|valgrind/i.test(BIN) || Boolean(process.env.ASAN_OPTIONS);
const MiB = 1 << 20;

function memKb(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : null;
}

async function serve(cfgObj) {
  const mux = rawSpawn(writeConfig(cfgObj));
  const init = await mux.request('initialize', {
    protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bounded', version: '0' },
  }, { timeout: 10000 });
  assert.ok(init.msg.result);
  await mux.notify('notifications/initialized');
  return mux;
}

const text = (msg) => msg?.result?.content?.map((c) => c.text).join('\n') ?? '';

describe('a huge message from one connector', () => {
  for (const kind of ['tools/list', 'notification']) {
    test(`a 250 MB ${kind} is refused while it streams; the other connector works`, async (t) => {
      const plan = kind === 'tools/list' ? { toolsListBytes: 250 * MiB } : { notifyBytes: 250 * MiB };
      const [huge, alpha] = await Promise.all([startHostile(plan), startServer(['--name', 'alpha'])]);
      const mux = await serve({ mcpmux: { call_timeout: 30, connect_timeout: 30 },
        connectors: { huge: huge.url, alpha: { url: alpha.url, approval: 'auto' } } });
      const list = await mux.request('tools/list', {}, { timeout: 60000 });
      assert.ok(list.msg.result.tools.some((x) => x.name === 'alpha__echo'));
      await waitUntil(() => /connector 'huge': a message larger than 16 MiB was refused \(max_message\)/
        .test(mux.stderr()), { timeout: 60000, what: `the refusal; stderr: ${mux.stderr().slice(-500)}` });
      const { msg } = await mux.request('tools/call', { name: 'alpha__echo', arguments: { text: 'fine' } });
      assert.equal(text(msg), 'echo: fine');
      await waitUntil(async () => (await huge.log()).aborted >= 1, { timeout: 20000, what: 'mcpmux to hang up' });
      const sent = (await huge.log()).bigSent;
      assert.ok(sent < 250 * MiB, `the connector could not send it all (${sent} bytes)`);
      const peak = memKb(mux.pid, 'VmHWM');
      t.diagnostic(`peak RSS ${peak} kB, the connector sent ${(sent / MiB).toFixed(0)} MiB before mcpmux hung up`);
      if (!SANITIZED) assert.ok(peak < 160 * 1024, `peak RSS ${peak} kB`);
      await mux.end();
    });
  }
});

describe('an agent that stops reading', () => {
  test('connectors pause instead of mcpmux buffering 400 MB; nothing is lost', async (t) => {
    const alpha = await startServer(['--name', 'alpha', '--blob-tool']);
    const mux = await serve({ mcpmux: { call_timeout: 120 }, connectors: { alpha: { url: alpha.url, approval: 'auto' } } });
    await mux.request('tools/list', {}, { timeout: 10000 });
    mux.proc.stdout.pause();
    const n = 100;
    const size = 4 * MiB;
    for (let i = 0; i < n; i++) {
      await mux.send({ jsonrpc: '2.0', id: `b${i}`, method: 'tools/call', params: { name: 'alpha__blob', arguments: { bytes: size } } });
    }
    // Every call reached the server and it wrote every answer; mcpmux holds at most a few.
    await waitUntil(async () => (await alpha.stats()).toolCalls >= n, { timeout: 60000, what: 'the calls at the server' });
    await new Promise((r) => setTimeout(r, 2000));
    const held = memKb(mux.pid, 'VmHWM');
    t.diagnostic(`peak RSS while the agent does not read: ${held} kB for ${n * size / MiB} MiB of answers`);
    if (!SANITIZED) assert.ok(held < 160 * 1024, `peak RSS ${held} kB while not reading`);
    // Reading again, everything arrives whole. (While it does, each call in
    // flight may hold up to one message: memory follows the agent's concurrency.)
    mux.proc.stdout.resume();
    for (let i = 0; i < n; i++) {
      const { msg } = await mux.response(`b${i}`, 60000);
      assert.equal(text(msg).length, size, `answer ${i} whole`);
    }
    t.diagnostic(`peak RSS at the end: ${memKb(mux.pid, 'VmHWM')} kB`);
    await mux.end();
  });
});

describe('a huge stdin line', () => {
  test('200 MB is handled, then its memory is given back', async (t) => {
    const mux = await serve({ connectors: {} });
    const pad = 'x'.repeat(200 * MiB);
    await mux.send(`{"jsonrpc":"2.0","id":"big","method":"ping","params":{"pad":"${pad}"}}`);
    const { msg } = await mux.response('big', 60000);
    assert.deepEqual(msg.result, {});
    assert.ok((await mux.request('ping', {})).msg.result);
    const after = memKb(mux.pid, 'VmRSS');
    t.diagnostic(`RSS after the line: ${after} kB (peak ${memKb(mux.pid, 'VmHWM')} kB)`);
    if (!SANITIZED) assert.ok(after < 64 * 1024, `RSS after: ${after} kB`);
    await mux.end();
  });
});
