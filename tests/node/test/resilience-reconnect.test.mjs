// Reconnect: a connector that dies (process killed, port closed) is retried
// with capped exponential backoff; while it is down its calls fail AT ONCE
// with an isError result naming it, its tools leave the list (the client
// gets notifications/tools/list_changed), and when it is back its tools
// return (list_changed again) and its calls work. The other connector is
// never disturbed. Servers are restarted on the SAME port.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  delay, freePort, linesMentioning, rawSpawn, startServer, waitUntil, writeConfig,
} from '../lib/harness.mjs';
import { cpuMs, rawText, spawnTracked } from '../lib/resilience.mjs';

const LC = 'notifications/tools/list_changed';

function listChangedSince(raw, from) {
  return raw.messages.slice(from).filter((e) => e.msg?.method === LC).length;
}

async function toolNames(raw) {
  const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
  assert.ok(msg.result, `tools/list failed: ${JSON.stringify(msg)}`);
  return msg.result.tools.map((t) => t.name);
}

async function call(raw, name, args, timeout = 10000) {
  const { msg } = await raw.request('tools/call', { name, arguments: args }, { timeout });
  return { msg, text: rawText(msg) };
}

// A deadline's answer, as opposed to a connector known to be down.
const TIMED_OUT = /time(d)?[ -]?out|deadline|no answer within/i;

/** The call fails at once: the connector is known to be down, no deadline ran out
    (call_timeout is 20 s, past the request's 10 s bound, so it could not pass anyway). */
async function assertFastError(raw, alias, what) {
  const r = await call(raw, `${alias}__echo`, { text: 'x' });
  assert.equal(r.msg.result?.isError, true, `${what}: want an isError result, got ${JSON.stringify(r.msg)}`);
  assert.match(r.text, new RegExp(alias), `${what}: the error names the connector: ${r.text}`);
  assert.doesNotMatch(r.text, TIMED_OUT, `${what}: a fast error, not a timeout: ${r.text}`);
  return r;
}

/** Waits until alias's tools are listed again and its echo works; returns ms taken. */
async function waitRecovered(raw, alias, from, t0, timeout = 15000) {
  await waitUntil(() => listChangedSince(raw, from) >= 1,
    { timeout, interval: 50, what: `list_changed after ${alias} came back` });
  await waitUntil(async () => (await toolNames(raw)).includes(`${alias}__echo`),
    { timeout: Math.max(1000, timeout - (Date.now() - t0)), interval: 200, what: `${alias}__echo listed again` });
  const r = await call(raw, `${alias}__echo`, { text: 'back' });
  assert.equal(r.text, 'echo: back', `${alias}__echo after recovery: ${JSON.stringify(r.msg)}`);
  return Date.now() - t0;
}

describe('a connector that dies and comes back', () => {
  test('killed: fast isError, tools leave the list (list_changed), return after restart on the same port', async () => {
    const port = await freePort();
    let alpha = await startServer(['--port', String(port), '--mode', 'json', '--name', 'alpha']);
    const beta = await startServer(['--mode', 'sse', '--name', 'beta']);
    const raw = rawSpawn(writeConfig({
      mcpmux: { call_timeout: 20, connect_timeout: 5 },
      connectors: { alpha: { url: alpha.url, approval: 'auto' }, beta: { url: beta.url, approval: 'auto' } },
    }));
    try {
      await raw.initialize();
      const before = await toolNames(raw);
      assert.ok(before.includes('alpha__echo') && before.includes('beta__echo'), JSON.stringify(before));
      assert.equal((await call(raw, 'alpha__echo', { text: 'up' })).text, 'echo: up');

      const mark = raw.messages.length;
      await alpha.stop(); // SIGKILL, by PID
      const tKill = Date.now();
      await assertFastError(raw, 'alpha', 'first call after the kill');

      await waitUntil(() => listChangedSince(raw, mark) >= 1,
        { timeout: 5000, interval: 50, what: 'list_changed after alpha died' });
      const down = await toolNames(raw);
      assert.deepEqual(down.filter((n) => n.startsWith('alpha__')), [], `alpha's tools left the list: ${JSON.stringify(down)}`);
      assert.ok(down.includes('beta__echo'));

      for (let i = 0; i < 3; i++) {
        await assertFastError(raw, 'alpha', `call ${i + 2} while down`);
        assert.equal((await call(raw, 'beta__echo', { text: `b${i}` })).text, `echo: b${i}`, 'beta unaffected');
        await delay(400);
      }
      const downMs = Date.now() - tKill;

      const mark2 = raw.messages.length;
      alpha = await startServer(['--port', String(port), '--mode', 'json', '--name', 'alpha']);
      const ms = await waitRecovered(raw, 'alpha', mark2, Date.now());
      process.stderr.write(`# reconnect: alpha recovered ${ms} ms after its restart (down ${downMs} ms)\n`);
      assert.ok((await alpha.stats()).initialize >= 1, 'the new process was initialized');
      assert.equal((await call(raw, 'beta__echo', { text: 'end' })).text, 'echo: end');
    } finally {
      await raw.end();
    }
  });

  test('a call in flight when its connector is killed ends at once in an isError naming it', async () => {
    const alpha = await startServer(['--mode', 'sse', '--name', 'alpha']);
    const raw = rawSpawn(writeConfig({
      mcpmux: { call_timeout: 30 },
      connectors: { alpha: { url: alpha.url, approval: 'auto' } },
    }));
    try {
      await raw.initialize();
      assert.ok((await toolNames(raw)).includes('alpha__sleep'));
      await raw.send({ jsonrpc: '2.0', id: 'inflight', method: 'tools/call',
        params: { name: 'alpha__sleep', arguments: { ms: 20000, tag: 'never' } } });
      await waitUntil(async () => (await alpha.stats()).toolCalls >= 1,
        { timeout: 3000, what: 'the call to reach alpha' });
      await alpha.stop();
      // call_timeout is 30 s, past this wait's bound: the answer comes from the kill
      const { msg } = await raw.response('inflight', 15000);
      assert.equal(msg.result?.isError, true, `want an isError result: ${JSON.stringify(msg)}`);
      assert.match(rawText(msg), /alpha/, 'names the connector');
      assert.doesNotMatch(rawText(msg), TIMED_OUT, `ended by the kill, not by call_timeout: ${rawText(msg)}`);
      await delay(500);
      assert.equal(raw.messages.filter((e) => e.msg?.id === 'inflight').length, 1, 'exactly one response');
    } finally {
      await raw.end();
    }
  });

  test('backoff while down (port closed 12 s): spaced, growing, jittered attempts; little CPU; no stderr flood; recovery', async (t) => {
    const port = await freePort();
    let alpha = await startServer(['--port', String(port), '--mode', 'json', '--name', 'alpha']);
    const beta = await startServer(['--mode', 'json', '--name', 'beta']);
    const raw = rawSpawn(writeConfig({
      connectors: { alpha: { url: alpha.url, approval: 'auto' }, beta: { url: beta.url, approval: 'auto' } },
    }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpmux-strace-'));
    let tracer;
    try {
      await raw.initialize();
      assert.ok((await toolNames(raw)).includes('alpha__echo'));
      const stderrBefore = raw.stderr().length;
      // Every reconnect attempt to the closed port is one connect(2): strace
      // (if it can attach here) gives their times.
      const out = path.join(dir, 'connect.trace');
      tracer = spawnTracked('strace', ['-f', '-ttt', '-e', 'trace=connect', '-o', out, '-p', String(raw.pid)]);
      await delay(500);
      const traced = fs.existsSync(out) && tracer.proc.exitCode === null;
      const cpu0 = cpuMs(raw.pid);
      await alpha.stop(); // SIGKILL by PID: the port is closed from now on
      const tKill = Date.now() / 1000;
      const WINDOW = 12000;
      await delay(WINDOW);
      const cpu = cpuMs(raw.pid) - cpu0;
      await tracer.stop('SIGINT');
      tracer = null;

      process.stderr.write(`# backoff: mcpmux used ${cpu} ms CPU in the ${WINDOW} ms outage\n`);
      assert.ok(cpu < 500, `mcpmux used ${cpu} ms of CPU during a ${WINDOW} ms outage (hot loop?)`);
      const lines = linesMentioning(raw.stderr().slice(stderrBefore), 'alpha');
      assert.ok(lines.length <= 5, `stderr lines mentioning alpha during the outage: ${lines.length}\n${lines.join('\n')}`);

      if (!traced) {
        t.diagnostic('strace unavailable or could not attach: attempt timing not checked');
      } else {
        const re = new RegExp(`^(?:\\d+\\s+)?(\\d+\\.\\d+) connect\\(.*htons\\(${port}\\)`);
        const conns = fs.readFileSync(out, 'utf8').split('\n').map((l) => re.exec(l)).filter(Boolean)
          .map((m) => Number(m[1])).filter((x) => x >= tKill - 0.05);
        // Attempts: connects more than 150 ms apart (one attempt may connect
        // twice, e.g. a stream and a request).
        const attempts = [];
        for (const x of conns) if (!attempts.length || x - attempts[attempts.length - 1] > 0.15) attempts.push(x);
        const at = attempts.map((x) => Math.round((x - tKill) * 1000));
        const gaps = at.slice(1).map((x, i) => x - at[i]);
        process.stderr.write(`# backoff: ${conns.length} connects to the dead port, attempts at +${JSON.stringify(at)} ms, gaps ${JSON.stringify(gaps)}\n`);
        assert.ok(at.length >= 3, `mcpmux kept retrying: attempts at ${JSON.stringify(at)} ms`);
        assert.ok(at.length <= 7, `backoff: ${at.length} attempts in ${WINDOW} ms: ${JSON.stringify(at)}`);
        // Retry i waits at least 0.8 x 1 s x 2^i (jitter is +-20 %). A busy machine
        // only makes a wait longer, so these are floors, never ceilings; a floor that
        // doubles says the waits grow exponentially.
        for (let i = 0; i < gaps.length; i++) {
          assert.ok(gaps[i] >= 400 * 2 ** i, `wait ${i + 1} is at least ${400 * 2 ** i} ms (exponential): gaps ${JSON.stringify(gaps)}`);
        }
        const ratios = gaps.slice(1).map((g, i) => g / gaps[i]);
        assert.ok(ratios.length < 2 || ratios.some((r) => Math.abs(r - 2) > 0.04),
          `jitter: every wait is exactly twice the one before: gaps ${JSON.stringify(gaps)}`);
      }

      const mark = raw.messages.length;
      alpha = await startServer(['--port', String(port), '--mode', 'json', '--name', 'alpha']);
      // After a 12 s outage the next scheduled attempt can be up to 16 s x 1.2
      // away (more on a busy machine): the wait covers the 30 s cap plus jitter.
      const ms = await waitRecovered(raw, 'alpha', mark, Date.now(), 45000);
      process.stderr.write(`# backoff: alpha recovered ${ms} ms after its restart\n`);
    } finally {
      if (tracer) await tracer.stop('SIGINT');
      fs.rmSync(dir, { recursive: true, force: true });
      await raw.end();
    }
  });
});
