// SSE resumption with an SDK server (servers/callback-server.mjs, in-memory
// event store, retry: hint 300 ms):
// - a tools/call's SSE stream that the server closes before the response:
//   mcpmux waits the retry time, resumes with GET + Last-Event-ID, and the
//   rest of the call (progress, then the result) arrives on that stream,
//   exactly once;
// - several such calls at once each get their own result;
// - the GET (notifications) stream closed by the server: mcpmux reopens it
//   with Last-Event-ID and a message sent meanwhile is not lost.
// (The official conformance scenario sse-retry is run by conformance.sh.)

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { delay, rawSpawn, waitUntil, writeConfig } from '../lib/harness.mjs';
import { rawText, startCallback } from '../lib/resilience.mjs';

const RETRY = 300;

async function setup() {
  const cb = await startCallback(['--name', 'cb', '--retry', String(RETRY)]);
  const raw = rawSpawn(writeConfig({ mcpmux: { call_timeout: 10 }, connectors: { cb: { url: cb.url, approval: 'auto' } } }));
  await raw.initialize('2025-11-25');
  const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
  assert.ok(msg.result.tools.some((t) => t.name === 'cb__resume_me'), `${JSON.stringify(msg)} ${raw.stderr()}`);
  return { cb, raw };
}

describe('SSE resumption', () => {
  test('a POST stream closed before the response: resumed after retry with Last-Event-ID, progress and result once', async () => {
    const { cb, raw } = await setup();
    try {
      const t0 = Date.now();
      const { msg } = await raw.request('tools/call',
        { name: 'cb__resume_me', arguments: { ms: 600, tag: 'r1' }, _meta: { progressToken: 'pt-1' } },
        { id: 'resume-1', timeout: 8000 });
      const ms = Date.now() - t0;
      assert.equal(rawText(msg), 'resumed r1', `${JSON.stringify(msg)}; stderr: ${raw.stderr()}`);
      assert.notEqual(msg.result?.isError, true);
      assert.ok(ms >= 600, `answered after ${ms} ms: the tool's 600 ms ran first`);
      const st = await cb.stats();
      assert.ok(st.resumes >= 1, `mcpmux resumed with GET + Last-Event-ID: ${JSON.stringify(st)}`);
      assert.ok(st.lastEventIds.every((id) => typeof id === 'string' && id.length > 0));
      assert.equal(st.toolCalls, 1, 'the call was not re-sent as a new POST');
      const prog = raw.messages.filter((e) => e.msg?.method === 'notifications/progress');
      assert.deepEqual(prog.map((e) => [e.msg.params.progressToken, e.msg.params.progress]),
        [['pt-1', 0], ['pt-1', 1]], 'progress from before and after the stream closed, once each');
      await delay(500);
      assert.equal(raw.messages.filter((e) => e.msg?.id === 'resume-1').length, 1, 'exactly one response');
      const { msg: ok } = await raw.request('tools/call', { name: 'cb__echo', arguments: { text: 'after' } });
      assert.equal(rawText(ok), 'echo: after');
    } finally {
      await raw.end();
    }
  });

  test('four such calls at once: each result reaches its own request', async () => {
    const { cb, raw } = await setup();
    try {
      const calls = [200, 900, 500, 700].map((ms, i) => ({ id: 40 + i, ms, tag: `q${i}` }));
      const res = await Promise.all(calls.map((c) => raw.request('tools/call',
        { name: 'cb__resume_me', arguments: { ms: c.ms, tag: c.tag } }, { id: c.id, timeout: 8000 })));
      assert.deepEqual(res.map((e) => rawText(e.msg)), calls.map((c) => `resumed ${c.tag}`), raw.stderr());
      const st = await cb.stats();
      assert.ok(st.resumes >= 4, `one resume per call: ${JSON.stringify(st)}`);
      assert.equal(st.toolCalls, 4);
    } finally {
      await raw.end();
    }
  });

  test('the GET stream closed by the server: reopened with Last-Event-ID, nothing lost', async () => {
    const { cb, raw } = await setup();
    try {
      await waitUntil(async () => (await cb.stats()).getStreams >= 1,
        { timeout: 5000, what: 'mcpmux to open the GET stream' });
      // A first message gives the stream an event id (the SDK sends no priming event on GET).
      await cb.log('error', 'first');
      await raw.waitFor((e) => e.msg?.method === 'notifications/message' && e.msg.params?.data === 'first',
        3000, 'the first log message');
      await cb.closeGetStreams();
      await cb.log('error', 'while closed');
      await raw.waitFor((e) => e.msg?.method === 'notifications/message' && e.msg.params?.data === 'while closed',
        5000, 'the log message sent while the GET stream was closed');
      const st = await cb.stats();
      assert.ok(st.resumes >= 1, `reopened with Last-Event-ID: ${JSON.stringify(st)}`);
      assert.equal(raw.messages.filter((e) => e.msg?.params?.data === 'while closed').length, 1, 'delivered once');
      assert.equal(raw.messages.filter((e) => e.msg?.params?.data === 'first').length, 1, 'not replayed twice');
    } finally {
      await raw.end();
    }
  });
});
