// Server->client requests and logging through mcpmux. A connector
// (servers/callback-server.mjs) sends elicitation/create,
// sampling/createMessage, roots/list and ping on a tools/call's SSE stream:
// - if the client declared the capability, mcpmux declared it upstream too,
//   forwards the request to the client (with its own id) and posts the
//   client's answer back to that connector;
// - otherwise the connector gets a JSON-RPC error at once (the call does not
//   hang) and nothing reaches the client;
// - upstream ping is answered by mcpmux itself.
// Logging: mcpmux declares logging to the client, sends logging/setLevel to
// every connector that declared logging, and passes notifications/message on
// with logger set to the connector's alias ("alias" or "alias/<logger>").

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, McpError,
} from '@modelcontextprotocol/sdk/types.js';
import {
  connect, delay, freePort, listAllTools, rawSpawn, textOf, waitUntil, writeConfig,
} from '../lib/harness.mjs';
import { rawText, startCallback } from '../lib/resilience.mjs';

const CB_TOOLS = ['ask_user', 'sample', 'roots', 'ping_client', 'log', 'echo'];

function cfgFor(servers, mcpmux = {}) {
  return writeConfig({
    mcpmux: { call_timeout: 10, ...mcpmux },
    connectors: Object.fromEntries(Object.entries(servers).map(([alias, s]) => [alias, { url: s.url, approval: 'auto' }])),
  });
}

/** initialize on a RawMux with the given client capabilities. */
async function rawInit(raw, capabilities) {
  const { msg } = await raw.request('initialize', {
    protocolVersion: '2025-11-25', capabilities, clientInfo: { name: 'mcpmux-tests-raw', version: '0.0.0' },
  }, { timeout: 5000 });
  assert.ok(msg.result, `initialize: ${JSON.stringify(msg)}`);
  await raw.notify('notifications/initialized');
  return msg.result;
}

function loggerOk(logger, alias) {
  return logger === alias || (typeof logger === 'string' && logger.startsWith(`${alias}/`));
}

describe('server->client requests, client declared the capabilities', () => {
  test('elicitation: forwarded, the answer (accept, then decline) goes back to the connector', async () => {
    const cb = await startCallback(['--name', 'cb']);
    const mux = await connect(cfgFor({ cb }), { capabilities: { elicitation: {} } });
    const seen = [];
    let answer = { action: 'accept', content: { answer: 'forty-two' } };
    mux.client.setRequestHandler(ElicitRequestSchema, (req) => {
      seen.push(req.params);
      return answer;
    });
    const names = (await listAllTools(mux.client)).map((t) => t.name);
    assert.ok(CB_TOOLS.every((t) => names.includes(`cb__${t}`)), JSON.stringify(names));
    const caps = (await cb.stats()).clientCapabilities;
    assert.ok(caps && 'elicitation' in caps, `mcpmux declared elicitation upstream: ${JSON.stringify(caps)}`);
    assert.ok(!('sampling' in caps) && !('roots' in caps), `only what the client declared: ${JSON.stringify(caps)}`);

    const r1 = await mux.client.callTool({ name: 'cb__ask_user', arguments: { message: 'Proceed?' } },
      undefined, { timeout: 15000 });
    assert.equal(textOf(r1), 'elicited: {"action":"accept","content":{"answer":"forty-two"}}', mux.stderr());
    assert.equal(seen.length, 1);
    assert.equal(seen[0].message, 'Proceed?');
    assert.deepEqual(seen[0].requestedSchema.required, ['answer']);

    answer = { action: 'decline' };
    const r2 = await mux.client.callTool({ name: 'cb__ask_user', arguments: { message: 'Again?' } },
      undefined, { timeout: 15000 });
    assert.equal(textOf(r2), 'elicited: {"action":"decline"}');
    assert.deepEqual((await cb.stats()).callbacks.map((c) => [c.method, c.ok]),
      [['elicitation/create', true], ['elicitation/create', true]]);
    await mux.close();
  });

  test('sampling and roots: forwarded, answered', async () => {
    const cb = await startCallback(['--name', 'cb']);
    const mux = await connect(cfgFor({ cb }), { capabilities: { sampling: {}, roots: { listChanged: true } } });
    mux.client.setRequestHandler(CreateMessageRequestSchema, (req) => ({
      role: 'assistant', model: 'mux-test-model',
      content: { type: 'text', text: `model says ${req.params.messages[0].content.text}` } }));
    mux.client.setRequestHandler(ListRootsRequestSchema, () => ({
      roots: [{ uri: 'file:///work/one', name: 'one' }, { uri: 'file:///work/two' }] }));
    await listAllTools(mux.client);
    const caps = (await cb.stats()).clientCapabilities;
    assert.ok(caps && 'sampling' in caps && 'roots' in caps, `declared upstream: ${JSON.stringify(caps)}`);
    assert.ok(!('elicitation' in caps), `not declared by the client: ${JSON.stringify(caps)}`);
    const s = await mux.client.callTool({ name: 'cb__sample', arguments: { prompt: 'hello' } }, undefined,
      { timeout: 15000 });
    assert.equal(textOf(s), 'sampled: model says hello (model mux-test-model)', mux.stderr());
    const r = await mux.client.callTool({ name: 'cb__roots', arguments: {} }, undefined, { timeout: 15000 });
    assert.equal(textOf(r), 'roots: 2 file:///work/one file:///work/two');
    await mux.close();
  });

  test('two connectors asking at once: each answer reaches the connector that asked', async () => {
    const [one, two] = await Promise.all([startCallback(['--name', 'one']), startCallback(['--name', 'two'])]);
    const mux = await connect(cfgFor({ one, two }),
      { capabilities: { elicitation: {}, sampling: {}, roots: {} } });
    // Answers are delayed and derived from the question, so a mix-up shows.
    const later = (ms, v) => new Promise((r) => setTimeout(() => r(v), ms));
    mux.client.setRequestHandler(ElicitRequestSchema, (req) =>
      later(req.params.message.endsWith('1') ? 300 : 50, { action: 'accept', content: { answer: `A(${req.params.message})` } }));
    mux.client.setRequestHandler(CreateMessageRequestSchema, (req) =>
      later(100, { role: 'assistant', model: 'm', content: { type: 'text', text: `S(${req.params.messages[0].content.text})` } }));
    mux.client.setRequestHandler(ListRootsRequestSchema, () => later(10, { roots: [{ uri: 'file:///r' }] }));
    await listAllTools(mux.client);
    const jobs = [];
    for (const alias of ['one', 'two']) {
      for (let i = 0; i < 2; i++) {
        jobs.push([`${alias}__ask_user`, { message: `${alias}-q${i}` }, `elicited: {"action":"accept","content":{"answer":"A(${alias}-q${i})"}}`]);
        jobs.push([`${alias}__sample`, { prompt: `${alias}-p${i}` }, `sampled: S(${alias}-p${i}) (model m)`]);
      }
      jobs.push([`${alias}__roots`, {}, 'roots: 1 file:///r']);
      jobs.push([`${alias}__ping_client`, {}, 'pong']);
    }
    const got = await Promise.all(jobs.map(([name, args]) =>
      mux.client.callTool({ name, arguments: args }, undefined, { timeout: 15000 }).then(textOf)));
    assert.deepEqual(got, jobs.map((j) => j[2]), mux.stderr());
    for (const s of [one, two]) {
      const st = await s.stats();
      assert.equal(st.callbacks.length, 6);
      assert.ok(st.callbacks.every((c) => c.ok), JSON.stringify(st.callbacks));
    }
    await mux.close();
  });

  test('the client answers with a JSON-RPC error: the connector gets that error', async () => {
    const cb = await startCallback(['--name', 'cb']);
    const mux = await connect(cfgFor({ cb }), { capabilities: { elicitation: {} } });
    mux.client.setRequestHandler(ElicitRequestSchema, () => {
      throw new McpError(-32042, 'user is away');
    });
    await listAllTools(mux.client);
    const r = await mux.client.callTool({ name: 'cb__ask_user', arguments: {} }, undefined, { timeout: 15000 });
    assert.match(textOf(r), /^error -32042: .*user is away/, mux.stderr());
    const st = await cb.stats();
    assert.deepEqual(st.callbacks.map((c) => [c.method, c.ok, c.code]), [['elicitation/create', false, -32042]]);
    await mux.close();
  });
});

describe('server->client requests, client declared nothing', () => {
  test('the connector gets a JSON-RPC error at once, nothing reaches the client; upstream ping answered by mcpmux', async () => {
    const cb = await startCallback(['--name', 'cb']);
    const raw = rawSpawn(cfgFor({ cb }));
    try {
      await rawInit(raw, {});
      const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
      assert.ok(msg.result.tools.some((t) => t.name === 'cb__ask_user'), raw.stderr());
      const caps = (await cb.stats()).clientCapabilities ?? {};
      for (const k of ['elicitation', 'sampling', 'roots']) {
        assert.ok(!(k in caps), `mcpmux must not declare ${k} upstream: ${JSON.stringify(caps)}`);
      }
      for (const [name, method] of [['ask_user', 'elicitation/create'], ['sample', 'sampling/createMessage'],
        ['roots', 'roots/list']]) {
        const { msg: r } = await raw.request('tools/call', { name: `cb__${name}`, arguments: {} }, { timeout: 12000 });
        assert.match(rawText(r), /^error -32\d{3}: /, `${name}: the connector got a JSON-RPC error: ${JSON.stringify(r)}`);
        const last = (await cb.stats()).callbacks.at(-1);
        assert.equal(last.method, method);
        assert.equal(last.ok, false);
        // mcpmux's answer, not the connector giving up on a request that hung (-32001)
        assert.notEqual(last.code, -32001, `${name}: the connector's request was answered, it did not time out`);
      }
      const { msg: p } = await raw.request('tools/call', { name: 'cb__ping_client', arguments: {} }, { timeout: 12000 });
      assert.equal(rawText(p), 'pong', `upstream ping answered: ${JSON.stringify(p)}`);
      const forwarded = raw.messages.filter((e) => e.msg?.method
        && ['elicitation/create', 'sampling/createMessage', 'roots/list', 'ping'].includes(e.msg.method));
      assert.deepEqual(forwarded.map((e) => e.raw.toString()), [], 'nothing forwarded to the client');
    } finally {
      await raw.end();
    }
  });

  test('raw client with elicitation: the request arrives with mcpmux\'s own id, the answer by that id', async () => {
    const cb = await startCallback(['--name', 'cb']);
    const raw = rawSpawn(cfgFor({ cb }));
    try {
      await rawInit(raw, { elicitation: {} });
      await raw.request('tools/list', {}, { timeout: 10000 });
      await raw.send({ jsonrpc: '2.0', id: 0, method: 'tools/call', params: { name: 'cb__ask_user', arguments: { message: 'raw?' } } });
      const { msg: req } = await raw.waitFor((e) => e.msg?.method === 'elicitation/create', 5000,
        'elicitation/create from mcpmux');
      assert.ok(req.id !== undefined && req.id !== null, 'a request, with an id');
      assert.equal(req.params.message, 'raw?');
      await raw.send({ jsonrpc: '2.0', id: req.id, result: { action: 'accept', content: { answer: 'yes' } } });
      const { msg: r } = await raw.response(0, 5000);
      assert.equal(rawText(r), 'elicited: {"action":"accept","content":{"answer":"yes"}}');
      // An answer to an id mcpmux never used is ignored (no crash, no output).
      const before = raw.messages.length;
      await raw.send({ jsonrpc: '2.0', id: 'never-sent', result: { action: 'accept' } });
      const { msg: pong } = await raw.request('ping', undefined, { id: 'after' });
      assert.deepEqual(pong.result, {});
      const stray = raw.messages.slice(before).filter((e) => e.msg?.id === 'never-sent'
        || (e.msg && 'error' in e.msg && e.msg.id === null));
      assert.deepEqual(stray.map((e) => e.raw.toString()), [], 'nothing said about the stray answer');
    } finally {
      await raw.end();
    }
  });
});

describe('logging', () => {
  test('capability declared; setLevel reaches connectors with logging; messages carry the alias as logger', async () => {
    const [one, two, mute] = await Promise.all([
      startCallback(['--name', 'one']), startCallback(['--name', 'two']), startCallback(['--name', 'mute', '--no-logging']),
    ]);
    const raw = rawSpawn(cfgFor({ one, two, mute }));
    try {
      const init = await rawInit(raw, {});
      assert.ok(init.capabilities?.logging, `mcpmux declares logging: ${JSON.stringify(init.capabilities)}`);
      const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
      assert.ok(msg.result.tools.some((t) => t.name === 'mute__log'), raw.stderr());

      const { msg: set } = await raw.request('logging/setLevel', { level: 'warning' }, { timeout: 5000 });
      assert.deepEqual(set.result, {}, `logging/setLevel answered: ${JSON.stringify(set)}`);
      for (const [alias, s] of [['one', one], ['two', two]]) {
        await waitUntil(async () => (await s.stats()).setLevel.includes('warning'),
          { timeout: 3000, what: `${alias} to receive logging/setLevel warning` });
      }
      assert.deepEqual((await mute.stats()).setLevel, [], 'not sent to a connector without logging');

      const mark = raw.messages.length;
      const { msg: r } = await raw.request('tools/call', { name: 'one__log', arguments: { text: 'L' } }, { timeout: 5000 });
      assert.equal(rawText(r), 'sent: warning,error,critical,alert,emergency', 'the connector applied the level');
      const logs = raw.messages.slice(mark).filter((e) => e.msg?.method === 'notifications/message');
      assert.deepEqual(logs.map((e) => [e.msg.params.level, e.msg.params.data]),
        ['warning', 'error', 'critical', 'alert', 'emergency'].map((l) => [l, `L @${l}`]));
      for (const e of logs) assert.ok(loggerOk(e.msg.params.logger, 'one'), `logger ${JSON.stringify(e.msg.params.logger)}`);

      // A log message on the connector's GET stream (outside any call).
      await waitUntil(async () => (await two.stats()).getStreams >= 1, { timeout: 5000, what: 'two\'s GET stream' });
      await two.log('error', 'from the GET stream');
      const { msg: n } = await raw.waitFor((e) => e.msg?.method === 'notifications/message'
        && e.msg.params?.data === 'from the GET stream', 5000, 'the GET-stream log message');
      assert.equal(n.params.level, 'error');
      assert.ok(loggerOk(n.params.logger, 'two'), `logger ${JSON.stringify(n.params.logger)}`);
    } finally {
      await raw.end();
    }
  });
});

describe('after a reconnect, and next to approvals', () => {
  test('a restarted connector is initialized again with the client\'s capabilities and the log level', async (t) => {
    const port = await freePort();
    let cb = await startCallback(['--port', String(port), '--name', 'cb']);
    const raw = rawSpawn(cfgFor({ cb }, { call_timeout: 10 }));
    try {
      await rawInit(raw, { elicitation: {} });
      await raw.request('tools/list', {}, { timeout: 10000 });
      const { msg: set } = await raw.request('logging/setLevel', { level: 'error' });
      assert.deepEqual(set.result, {});
      await waitUntil(async () => (await cb.stats()).setLevel.includes('error'),
        { timeout: 3000, what: 'cb to receive setLevel' });

      const mark = raw.messages.length;
      await cb.stop(); // SIGKILL by PID
      await delay(300);
      cb = await startCallback(['--port', String(port), '--name', 'cb']);
      await waitUntil(async () => {
        const { msg } = await raw.request('tools/list', {}, { timeout: 10000 });
        return msg.result?.tools.some((t) => t.name === 'cb__ask_user');
      }, { timeout: 15000, interval: 300, what: 'cb back in the list' });
      const st = await cb.stats();
      assert.ok(st.clientCapabilities && 'elicitation' in st.clientCapabilities,
        `the new session declares elicitation again: ${JSON.stringify(st.clientCapabilities)}`);
      await waitUntil(async () => (await cb.stats()).setLevel.includes('error'),
        { timeout: 3000, what: 'the new session to get the client\'s log level (error) again' });

      const logsFrom = raw.messages.length;
      const { msg: r } = await raw.request('tools/call', { name: 'cb__log', arguments: { text: 'again' } });
      assert.equal(rawText(r), 'sent: error,critical,alert,emergency', 'the level applies to the new session');
      const levels = raw.messages.slice(logsFrom).filter((e) => e.msg?.method === 'notifications/message')
        .map((e) => e.msg.params.level);
      assert.deepEqual(levels, ['error', 'critical', 'alert', 'emergency']);

      await raw.send({ jsonrpc: '2.0', id: 'ask', method: 'tools/call', params: { name: 'cb__ask_user', arguments: { message: 'still?' } } });
      const { msg: req } = await raw.waitFor((e) => e.msg?.method === 'elicitation/create' && e.raw.toString().includes('still?'),
        5000, 'elicitation/create after the reconnect');
      await raw.send({ jsonrpc: '2.0', id: req.id, result: { action: 'accept', content: { answer: 'yes' } } });
      const { msg: a } = await raw.response('ask', 5000);
      assert.equal(rawText(a), 'elicited: {"action":"accept","content":{"answer":"yes"}}');
      // Either mcpmux saw the connector die (its tools left and came back:
      // list_changed), or its notification stream reached the restarted server
      // first and the session was renewed with the tools never gone.
      const changed = raw.messages.slice(mark).some((e) => e.msg?.method === 'notifications/tools/list_changed');
      if (!changed)
        t.diagnostic('the restart was seen as a session expiry: the tools never left the list');
    } finally {
      await raw.end();
    }
  });

  test('approval by elicitation, then the tool\'s own elicitation: two requests, each answered where it belongs', async () => {
    const cb = await startCallback(['--name', 'cb']);
    const cfg = writeConfig({
      mcpmux: { call_timeout: 15, approvals: 'elicitation', approval_timeout: 10, audit_log: 'off' },
      connectors: { cb: { url: cb.url, approval: 'ask' } },
    });
    const mux = await connect(cfg, { capabilities: { elicitation: {} } });
    const seen = [];
    mux.client.setRequestHandler(ElicitRequestSchema, async (req) => {
      seen.push(req.params);
      const props = req.params.requestedSchema?.properties ?? {};
      if ('answer' in props) return { action: 'accept', content: { answer: `tool asked: ${req.params.message}` } };
      const [field] = Object.keys(props);
      return { action: 'accept', content: { [field]: true } }; // the approval: yes
    });
    try {
      await listAllTools(mux.client);
      const [r1, r2] = await Promise.all(['one', 'two'].map((m) => mux.client.callTool(
        { name: 'cb__ask_user', arguments: { message: m } }, undefined, { timeout: 20000 })));
      assert.equal(textOf(r1), 'elicited: {"action":"accept","content":{"answer":"tool asked: one"}}', mux.stderr());
      assert.equal(textOf(r2), 'elicited: {"action":"accept","content":{"answer":"tool asked: two"}}');
      const approvals = seen.filter((p) => !('answer' in (p.requestedSchema?.properties ?? {})));
      const fromTool = seen.filter((p) => 'answer' in (p.requestedSchema?.properties ?? {}));
      assert.equal(approvals.length, 2, 'one approval per call');
      assert.deepEqual(fromTool.map((p) => p.message).sort(), ['one', 'two']);
      assert.ok(approvals.every((p) => /cb__ask_user/.test(p.message ?? '')), 'the approvals name the tool');
      assert.equal((await cb.stats()).toolCalls, 2);
    } finally {
      await mux.close();
    }
  });
});

describe('server->client requests outside a call, roots changes, a connector that gives up', () => {
  test('roots/list on the GET stream: forwarded to a client with roots; an error without', async () => {
    const withRoots = await startCallback(['--name', 'cb']);
    const raw = rawSpawn(cfgFor({ cb: withRoots }));
    try {
      await rawInit(raw, { roots: { listChanged: true } });
      await raw.request('tools/list', {}, { timeout: 10000 });
      await waitUntil(async () => (await withRoots.stats()).getStreams >= 1,
        { timeout: 5000, what: 'mcpmux to open cb\'s GET stream' });
      const asked = withRoots.listRoots();
      const { msg: req } = await raw.waitFor((e) => e.msg?.method === 'roots/list', 3000, 'roots/list from mcpmux');
      await raw.send({ jsonrpc: '2.0', id: req.id, result: { roots: [{ uri: 'file:///standalone', name: 's' }] } });
      const { results } = await asked;
      assert.deepEqual(results, [{ ok: true, roots: [{ uri: 'file:///standalone', name: 's' }] }]);
    } finally {
      await raw.end();
    }

    const without = await startCallback(['--name', 'cb']);
    const raw2 = rawSpawn(cfgFor({ cb: without }));
    try {
      await rawInit(raw2, {});
      await raw2.request('tools/list', {}, { timeout: 10000 });
      await waitUntil(async () => (await without.stats()).getStreams >= 1,
        { timeout: 5000, what: 'mcpmux to open cb\'s GET stream' });
      const { results } = await without.listRoots();
      assert.equal(results.length, 1);
      assert.equal(results[0].ok, false, `a JSON-RPC error for the connector: ${JSON.stringify(results)}`);
      // mcpmux answered with an error; -32001 would be the connector's own timeout
      assert.ok(Number.isInteger(results[0].code) && results[0].code !== -32001,
        `answered by mcpmux, not timed out: ${JSON.stringify(results)}`);
      assert.equal(raw2.messages.filter((e) => e.msg?.method === 'roots/list').length, 0, 'not forwarded');
    } finally {
      await raw2.end();
    }
  });

  test('notifications/roots/list_changed from the client reaches every connector', async () => {
    const [one, two] = await Promise.all([startCallback(['--name', 'one']), startCallback(['--name', 'two'])]);
    const raw = rawSpawn(cfgFor({ one, two }));
    try {
      await rawInit(raw, { roots: { listChanged: true } });
      await raw.request('tools/list', {}, { timeout: 10000 });
      await raw.notify('notifications/roots/list_changed');
      for (const [alias, s] of [['one', one], ['two', two]]) {
        await waitUntil(async () => (await s.stats()).rootsListChanged >= 1,
          { timeout: 3000, what: `${alias} to receive notifications/roots/list_changed` });
      }
    } finally {
      await raw.end();
    }
  });

  test('the connector gives up waiting for the client\'s answer: the call ends, the late answer is dropped', async (t) => {
    const cb = await startCallback(['--name', 'cb', '--cb-timeout', '700']);
    const raw = rawSpawn(cfgFor({ cb }));
    try {
      await rawInit(raw, { elicitation: {} });
      await raw.request('tools/list', {}, { timeout: 10000 });
      await raw.send({ jsonrpc: '2.0', id: 'slow', method: 'tools/call', params: { name: 'cb__ask_user', arguments: {} } });
      const { msg: req } = await raw.waitFor((e) => e.msg?.method === 'elicitation/create', 3000, 'elicitation/create');
      const { msg: res } = await raw.response('slow', 5000);
      assert.match(rawText(res), /^error -32001: /, `the connector's own timeout: ${JSON.stringify(res)}`);
      const cancel = raw.messages.find((e) => e.msg?.method === 'notifications/cancelled');
      t.diagnostic(cancel
        ? `mcpmux forwarded the connector's notifications/cancelled: ${cancel.raw.toString()}`
        : 'the connector\'s notifications/cancelled for its elicitation was not forwarded to the client');
      if (cancel) assert.deepEqual(cancel.msg.params.requestId, req.id, 'with mcpmux\'s id for that request');
      const before = raw.messages.length;
      await raw.send({ jsonrpc: '2.0', id: req.id, result: { action: 'accept', content: { answer: 'too late' } } });
      const { msg: pong } = await raw.request('ping', undefined, { id: 'alive' });
      assert.deepEqual(pong.result, {});
      const stray = raw.messages.slice(before).filter((e) => e.msg?.id !== 'alive');
      assert.deepEqual(stray.map((e) => e.raw.toString()), [], 'nothing comes of the late answer');
      const { msg: ok } = await raw.request('tools/call', { name: 'cb__echo', arguments: { text: 'on' } });
      assert.equal(rawText(ok), 'echo: on');
    } finally {
      await raw.end();
    }
  });
});
