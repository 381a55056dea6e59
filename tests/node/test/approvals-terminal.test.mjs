// Approvals through the terminal: `mcpmux approve` runs in tmux (80x24) next to
// `mcpmux serve`, an SDK client calls write tools, and the test reads the
// approve screen and types y / a / n like a human would.
//
// Contract: DESIGN.md "Approvals" and "Audit", docs/approval-protocol.md.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  BIN, connect, delay, muxEnv, startServer, textOf, withTimeout, writeConfig,
} from '../lib/harness.mjs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  BrokerClient, brokerSocket, hiddenCodePoints, TmuxPane, waitAudit,
} from '../lib/tmux.mjs';

const AGENT = 'e2e-agent';
const CALL_TIMEOUT = { timeout: 30000 };

let alpha;
before(async () => {
  alpha = await startServer(['--mode', 'json', '--name', 'alpha']);
});

/**
 * A config with connector alpha (the test server), [mcpmux] keys from
 * mcpmux, the audit log at <config dir>/audit.jsonl. Starts `mcpmux serve`
 * with an SDK client named AGENT, and `mcpmux approve` in tmux (unless
 * approve is false) with the same HOME and XDG_RUNTIME_DIR.
 */
async function setup({ mcpmux = {}, connector = {}, approve = true, size } = {}) {
  const cfg = writeConfig({
    mcpmux: { approval_timeout: 30, ...mcpmux },
    connectors: { alpha: { url: alpha.url, ...connector } },
  });
  const dir = path.dirname(cfg);
  const audit = path.join(dir, 'audit.jsonl');
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace(/^\[mcpmux\]\n/, `[mcpmux]\naudit_log = ${audit}\n`));
  const mux = await connect(cfg, { clientName: AGENT });
  const pane = approve ? await startApprove(cfg, size) : null;
  return { cfg, dir, audit, mux, pane };
}

function startApprove(cfg, { cols = 80, rows = 24 } = {}) {
  return TmuxPane.start([BIN, 'approve'], { env: muxEnv(cfg), cwd: path.dirname(cfg), cols, rows });
}

/** A tools/call that is not awaited yet; .settled tells whether it has ended. */
function pendingCall(mux, name, args, opts = {}) {
  const p = mux.client.callTool({ name, arguments: args }, undefined, { ...CALL_TIMEOUT, ...opts });
  const h = { promise: p, settled: false };
  p.then(() => {
    h.settled = true;
  }, () => {
    h.settled = true;
  });
  return h;
}

const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;

/** q ends `mcpmux approve` with status 0 and no sanitizer report. */
async function quit(pane) {
  const { status, screen } = await pane.quit();
  assert.ok(!SANITIZER.test(screen), `sanitizer report from mcpmux approve:\n${screen}`);
  assert.equal(status, 0, `mcpmux approve's exit status after q; screen:\n${screen.trimEnd()}`);
}

// "alpha" as a word of its own, not the prefix of "alpha__add".
const CONNECTOR_WORD = /(^|[^\w-])alpha([^\w-]|$)/m;

function checkAuditShape(line) {
  assert.equal(typeof line.time, 'string', `time is a string: ${JSON.stringify(line)}`);
  assert.ok(!Number.isNaN(Date.parse(line.time)), `time parses as a date: ${line.time}`);
  assert.equal(typeof line.duration_ms, 'number', `duration_ms is a number: ${JSON.stringify(line)}`);
  assert.ok(line.duration_ms >= 0, `duration_ms >= 0: ${line.duration_ms}`);
  assert.match(String(line.args_sha256), /^[0-9a-f]{64}$/, `args_sha256 is hex SHA-256: ${JSON.stringify(line)}`);
}

describe('mcpmux approve in a terminal', () => {
  test('the screen shows the call; y runs it; audit: allowed by terminal, ok', async () => {
    const { mux, pane, audit } = await setup();
    const before = (await alpha.stats()).toolCalls;
    const call = pendingCall(mux, 'alpha__add', { a: 4242, b: 1 });

    const screen = await pane.waitFor((s) => s.includes('alpha__add') && s.includes('4242'),
      { timeout: 5000, what: 'the pending alpha__add call with its argument 4242' });
    assert.match(screen, CONNECTOR_WORD, `the screen names the connector "alpha":\n${screen}`);
    assert.match(screen, /\bwrite\b/, `the screen shows the label "write":\n${screen}`);
    assert.ok(screen.includes(AGENT), `the screen shows the agent name ${AGENT}:\n${screen}`);
    assert.match(screen, /\b\d+ ?s\b|\b\d+:\d\d\b/, `the screen shows the time left:\n${screen}`);
    for (const key of ['y', 'a', 'n']) {
      assert.match(screen, new RegExp(`(^|[^A-Za-z])${key}([^A-Za-z]|$)`, 'm'), `the screen names key ${key}:\n${screen}`);
    }
    await delay(200);
    assert.equal(call.settled, false, 'the call waits for a decision');
    assert.equal((await alpha.stats()).toolCalls, before, 'nothing reaches the upstream before the decision');

    await pane.sendKeys('y');
    const res = await call.promise;
    assert.ok(!res.isError, `allowed call succeeded: ${JSON.stringify(res)}`);
    assert.equal(textOf(res), '4243');
    assert.equal((await alpha.stats()).toolCalls, before + 1);
    await pane.waitFor((s) => !s.includes('4242'), { timeout: 3000, what: 'the decided request to leave the screen' });

    const [line] = await waitAudit(audit, 1);
    checkAuditShape(line);
    assert.deepEqual(
      { tool: line.tool, connector: line.connector, label: line.label, decision: line.decision,
        decided_by: line.decided_by, outcome: line.outcome },
      { tool: 'alpha__add', connector: 'alpha', label: 'write', decision: 'allowed',
        decided_by: 'terminal', outcome: 'ok' },
      `audit line: ${JSON.stringify(line)}`);
    await quit(pane);
  });

  test('no format, bidi, tag or variation selector character reaches the terminal raw: each is a ?', async () => {
    const { mux, pane } = await setup({ size: { cols: 160, rows: 40 } });
    const hidden = hiddenCodePoints();
    // Strings of at most 100 characters, so that the compact view cuts none.
    const args = { a: 1, b: 2 };
    const chunks = [];
    for (let i = 0; i < hidden.length; i += 100) chunks.push(hidden.slice(i, i + 100));
    chunks.forEach((c, i) => {
      args[`k${String(i).padStart(2, '0')}`] = String.fromCodePoint(...c);
    });
    const call = pendingCall(mux, 'alpha__add', args);
    const screen = await pane.waitFor((s) => s.includes(`"k${String(chunks.length - 1).padStart(2, '0')}"`),
      { timeout: 5000, what: 'the call with the hidden characters' });
    const raw = [...screen].filter((ch) => hidden.includes(ch.codePointAt(0)));
    assert.deepEqual([...new Set(raw.map((ch) => `U+${ch.codePointAt(0).toString(16).toUpperCase()}`))], [],
      'characters that reached the screen raw');
    chunks.forEach((c, i) => {
      const want = `"k${String(i).padStart(2, '0')}": "${'?'.repeat(c.length)}"`;
      assert.ok(screen.includes(want), `${want.slice(0, 12)}... with ${c.length} '?' on the screen:\n${screen}`);
    });
    await pane.sendKeys('n');
    assert.equal((await call.promise).isError, true);
    await quit(pane);
  });

  test('n denies: isError saying so, the upstream never sees the call; audit: denied', async () => {
    const { mux, pane, audit } = await setup();
    const before = (await alpha.stats()).toolCalls;
    const call = pendingCall(mux, 'alpha__add', { a: 5353, b: 1 });
    await pane.waitFor((s) => s.includes('alpha__add') && s.includes('5353'),
      { timeout: 5000, what: 'the pending alpha__add call' });
    await pane.sendKeys('n');
    const res = await call.promise;
    assert.equal(res.isError, true, `denied call is an isError result: ${JSON.stringify(res)}`);
    assert.match(textOf(res), /denied/i, `the text says it was denied: ${textOf(res)}`);
    await delay(300);
    assert.equal((await alpha.stats()).toolCalls, before, 'a denied call never reaches the upstream');
    await pane.waitFor((s) => !s.includes('5353'), { timeout: 3000, what: 'the denied request to leave the screen' });

    const [line] = await waitAudit(audit, 1);
    checkAuditShape(line);
    assert.deepEqual(
      { tool: line.tool, label: line.label, decision: line.decision, decided_by: line.decided_by,
        outcome: line.outcome },
      { tool: 'alpha__add', label: 'write', decision: 'denied', decided_by: 'terminal', outcome: 'denied' },
      `audit line: ${JSON.stringify(line)}`);
    await quit(pane);
  });

  test('a allows the tool for the rest of that serve: the next call does not ask; other tools still ask; '
    + 'a new serve asks again', async () => {
    const { cfg, mux, pane, audit } = await setup();
    const first = pendingCall(mux, 'alpha__add', { a: 1111, b: 1 });
    await pane.waitFor((s) => s.includes('alpha__add') && s.includes('1111'),
      { timeout: 5000, what: 'the first alpha__add call' });
    await pane.sendKeys('a');
    const r1 = await first.promise;
    assert.equal(textOf(r1), '1112', `first call: ${JSON.stringify(r1)}`);

    // The second call to the same tool runs with no key pressed, and never
    // shows up on the screen.
    const second = pendingCall(mux, 'alpha__add', { a: 2222, b: 1 });
    const screens = [];
    while (!second.settled) {
      screens.push(await pane.capture());
      await delay(50);
    }
    // Bounded by approval_timeout (30 s): a call that asked would end denied, not 2223.
    const r2 = await second.promise;
    assert.equal(textOf(r2), '2223', `second call: ${JSON.stringify(r2)}`);
    screens.push(await pane.capture());
    assert.ok(!screens.some((s) => s.includes('2222')), `the second call was never on the screen:\n${
      screens.find((s) => s.includes('2222'))}`);

    const lines = await waitAudit(audit, 2);
    assert.deepEqual(
      { decision: lines[0].decision, decided_by: lines[0].decided_by, outcome: lines[0].outcome },
      { decision: 'allowed', decided_by: 'terminal', outcome: 'ok' }, `first audit line: ${JSON.stringify(lines[0])}`);
    // Observed/accepted for the call covered by `a`: decision auto or allowed,
    // outcome ok (reported in the test output).
    assert.ok(['auto', 'allowed'].includes(lines[1].decision), `second audit line: ${JSON.stringify(lines[1])}`);
    assert.equal(lines[1].outcome, 'ok', `second audit line: ${JSON.stringify(lines[1])}`);
    console.log(`# after "a", the next call's audit line: decision=${lines[1].decision} decided_by=${lines[1].decided_by}`);

    // `a` covers that tool only.
    const other = pendingCall(mux, 'alpha__sleep', { ms: 1, tag: 'other-tool-3131' });
    await pane.waitFor((s) => s.includes('alpha__sleep') && s.includes('3131'),
      { timeout: 5000, what: 'alpha__sleep to ask even after "a" on alpha__add' });
    await pane.sendKeys('n');
    assert.equal((await other.promise).isError, true);

    // ... and that serve only: a new serve asks again.
    await mux.close();
    const mux2 = await connect(cfg, { clientName: AGENT });
    const again = pendingCall(mux2, 'alpha__add', { a: 3333, b: 1 });
    await pane.waitFor((s) => s.includes('alpha__add') && s.includes('3333'),
      { timeout: 5000, what: 'a new mcpmux serve to ask again for alpha__add' });
    await pane.sendKeys('y');
    assert.equal(textOf(await again.promise), '3334');
    await quit(pane);
  });

  test('a call the agent cancels disappears from the screen; audit: cancelled', async () => {
    const { mux, pane, audit } = await setup();
    const before = (await alpha.stats()).toolCalls;
    const ac = new AbortController();
    const call = pendingCall(mux, 'alpha__add', { a: 5150, b: 1 }, { signal: ac.signal });
    await pane.waitFor((s) => s.includes('5150'), { timeout: 5000, what: 'the pending call' });
    ac.abort('test cancels');
    await assert.rejects(call.promise);
    await pane.waitFor((s) => !s.includes('5150'), { timeout: 3000, what: 'the withdrawn call to disappear' });
    assert.equal((await alpha.stats()).toolCalls, before, 'a cancelled call never reaches the upstream');
    const [line] = await waitAudit(audit, 1);
    assert.equal(line.outcome, 'cancelled', `audit line: ${JSON.stringify(line)}`);
    console.log(`# cancelled while asking, audit line: decision=${line.decision} decided_by=${line.decided_by}`);
    // The terminal is still usable.
    const next = pendingCall(mux, 'alpha__add', { a: 5160, b: 1 });
    await pane.waitFor((s) => s.includes('5160'), { timeout: 5000, what: 'the next call' });
    await pane.sendKeys('y');
    assert.equal(textOf(await next.promise), '5161');
    await quit(pane);
  });

  test('while a write call waits for a human, 50 read calls complete; then y', async () => {
    const { mux, pane } = await setup();
    const write = pendingCall(mux, 'alpha__add', { a: 6006, b: 0 });
    await pane.waitFor((s) => s.includes('6006'), { timeout: 5000, what: 'the pending write call' });
    const reads = await Promise.all(Array.from({ length: 50 }, (_, i) => mux.client.callTool(
      { name: 'alpha__echo', arguments: { text: `r-${i}` } }, undefined, { timeout: 10000 })));
    reads.forEach((r, i) => assert.equal(textOf(r), `echo: r-${i}`, `read call ${i}: ${JSON.stringify(r)}`));
    assert.equal(write.settled, false, 'all 50 reads finished while the write call still waited');
    assert.ok((await pane.capture()).includes('6006'), 'the write call is still on the screen');
    await pane.sendKeys('y');
    const res = await write.promise;
    assert.equal(textOf(res), '6006', `write call after y: ${JSON.stringify(res)}`);
    await quit(pane);
  });

  test('one approve serves every running serve; calls made before it started wait for it', async () => {
    const { cfg, mux } = await setup({ approve: false });
    const mux2 = await connect(cfg, { clientName: AGENT });
    const c1 = pendingCall(mux, 'alpha__add', { a: 8101, b: 0 });
    const c2 = pendingCall(mux2, 'alpha__add', { a: 8202, b: 0 });
    await delay(300);
    assert.ok(!c1.settled && !c2.settled, 'with no terminal and no elicitation the calls wait');
    const pane = await startApprove(cfg);
    const seen = new Set();
    for (let i = 0; i < 2; i++) {
      const screen = await pane.waitFor((s) => ['8101', '8202'].some((v) => s.includes(v) && !seen.has(v)),
        { timeout: 5000, what: `pending call ${i + 1} of 2 (one per serve)` });
      seen.add(['8101', '8202'].find((v) => screen.includes(v) && !seen.has(v)));
      await pane.sendKeys('y');
    }
    assert.equal(textOf(await c1.promise), '8101');
    assert.equal(textOf(await c2.promise), '8202');
    await quit(pane);
  });

  test('calls already waiting in two serves when approve starts are shown oldest first', async () => {
    const { cfg, dir, mux } = await setup({ approve: false, connector: { approval: 'ask' } });
    const mux2 = await connect(cfg, { clientName: AGENT });
    // Asked one after the other, alternating between the serves; a bare
    // protocol client on each tells when a call is waiting.
    const watch = new Map();
    for (const m of [mux, mux2]) watch.set(m, await BrokerClient.connect(brokerSocket(path.join(dir, 'run'), m.pid)));
    const asks = [
      [mux2, 'alpha__add', { a: 9101, b: 0 }],
      [mux, 'alpha__echo', { text: 'x9102' }],
      [mux2, 'alpha__sleep', { ms: 1, tag: 'x9103' }],
      [mux, 'alpha__add', { a: 9104, b: 0 }],
    ];
    const calls = [];
    for (const [m, name, args] of asks) {
      calls.push(pendingCall(m, name, args));
      await watch.get(m).waitFor((r) => r.type === 'request' && JSON.stringify(r.arguments) === JSON.stringify(args),
        { what: `the request for ${name}` });
      await delay(20); // the broker's clock counts in milliseconds: the next call is asked later
    }
    const pane = await startApprove(cfg);
    const marks = ['9101', '9102', '9103', '9104'];
    const order = [];
    for (let left = 4; left > 0; left--) {
      const screen = await pane.waitFor((s) => s.includes(`${left} call${left === 1 ? '' : 's'} waiting`)
        && marks.some((m) => s.includes(m) && !order.includes(m)),
      { timeout: 5000, what: `${left} call(s) waiting` });
      const shown = marks.filter((m) => screen.includes(m) && !order.includes(m));
      assert.equal(shown.length, 1, `one call's arguments on the screen:\n${screen}`);
      order.push(shown[0]);
      await pane.sendKeys('n');
      await pane.waitFor((s) => !s.includes(shown[0]), { timeout: 3000, what: `${shown[0]} to leave the screen` });
    }
    assert.deepEqual(order, marks, 'the order the calls were shown in');
    for (const c of calls) assert.equal((await c.promise).isError, true);
    for (const w of watch.values()) w.close();
    await quit(pane);
  });

  test('q in the arguments view (v) goes back to the call; it does not quit', async () => {
    const { mux, pane } = await setup();
    const call = pendingCall(mux, 'alpha__add', { a: 4545, b: 1, note: 'x'.repeat(600) });
    await pane.waitFor((s) => s.includes('4545') && /\(\+\d+ chars\)/.test(s), { timeout: 5000, what: 'the shortened call' });
    await pane.sendKeys('v');
    await pane.waitFor(/arguments of alpha__add/, { timeout: 3000, what: 'the arguments view' });
    await pane.sendKeys('q');
    const screen = await pane.waitFor((s) => /wants to call alpha__add/.test(s) || !s.includes('arguments of'),
      { timeout: 3000, what: 'the normal screen again' });
    assert.equal(await pane.dead(), null, `mcpmux approve still runs after q in the view:\n${screen}`);
    assert.match(screen, /wants to call alpha__add/, screen);
    await pane.sendKeys('y');
    assert.equal(textOf(await call.promise), '4546');
    await quit(pane);
  });

  test('after the serve exits, approve says it exited and waits (not "no serve running yet")', async () => {
    const { mux, pane } = await setup();
    await pane.waitFor(/attached to 1 mcpmux serve/, { timeout: 5000, what: 'approve to attach' });
    const { pid } = mux;
    await mux.close();
    const screen = await pane.waitFor((s) => !/attached to 1 mcpmux serve/.test(s),
      { timeout: 5000, what: 'approve to notice the serve went away' });
    assert.doesNotMatch(screen, /no mcpmux serve running yet/, screen);
    assert.match(screen, new RegExp(`mcpmux serve \\(pid ${pid}\\) exited; waiting for one to start`), screen);
    await quit(pane);
  });

  test('approvals = auto asks an attached terminal rather than the client (elicitation)', async () => {
    const cfg = writeConfig({
      mcpmux: { approval_timeout: 30, audit_log: 'off' },
      connectors: { alpha: alpha.url },
    });
    const mux = await connect(cfg, { clientName: AGENT, capabilities: { elicitation: {} } });
    let elicited = 0;
    mux.client.setRequestHandler(ElicitRequestSchema, async () => {
      elicited++;
      return { action: 'decline' };
    });
    const pane = await startApprove(cfg);
    await delay(1200); // approve attaches at start and looks for sockets at least every second
    const call = pendingCall(mux, 'alpha__add', { a: 9009, b: 0 });
    await pane.waitFor((s) => s.includes('9009'), { timeout: 5000, what: 'the call on the approve screen' });
    await pane.sendKeys('y');
    assert.equal(textOf(await call.promise), '9009');
    assert.equal(elicited, 0, 'the client was not asked while a terminal was attached');
    await quit(pane);
  });

  test('a serve started by the SDK with its default environment (no XDG_RUNTIME_DIR) is found '
    + 'by an approve that has XDG_RUNTIME_DIR set', async () => {
    const cfg = writeConfig({
      mcpmux: { approval_timeout: 30, approvals: 'terminal', audit_log: 'off' },
      connectors: { alpha: alpha.url },
    });
    // No env: the SDK passes only HOME, LOGNAME, PATH, SHELL, TERM and USER.
    const transport = new StdioClientTransport({ command: BIN, args: ['serve', '-c', cfg], stderr: 'pipe' });
    let stderr = '';
    transport.stderr.on('data', (d) => {
      stderr += d;
    });
    const client = new Client({ name: AGENT, version: '0.0.0' });
    let pane;
    try {
      await withTimeout(client.connect(transport), 10000, 'SDK client connect to mcpmux (default env)');
      const env = muxEnv(cfg);
      assert.ok(env.XDG_RUNTIME_DIR, 'approve has XDG_RUNTIME_DIR');
      pane = await startApprove(cfg);
      // It says where it looks: its own directory and the ones a serve without it picks.
      const uid = process.getuid();
      await pane.waitFor((s) => s.includes(`watching ${env.XDG_RUNTIME_DIR}/mcpmux`)
        && (s.includes(`and /run/user/${uid}/mcpmux`) || s.includes(`and /tmp/mcpmux-${uid}`)),
      { timeout: 5000, what: 'the directories approve watches' });
      const call = pendingCall({ client }, 'alpha__add', { a: 1212, b: 0 });
      await pane.waitFor((s) => s.includes('1212'),
        { timeout: 5000, what: 'the call of the serve that has no XDG_RUNTIME_DIR' })
        .catch((err) => {
          throw new Error(`${err.message}\nserve stderr: ${stderr}`);
        });
      await pane.sendKeys('y');
      assert.equal(textOf(await call.promise), '1212');
      await quit(pane);
    } finally {
      const { pid } = transport;
      await withTimeout(client.close(), 5000, 'client.close').catch(() => {});
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited on stdin EOF
        }
      }
      await pane?.kill();
    }
  });

  test('approve attached before serve starts picks it up (rescan)', async () => {
    // approve first, then serve: the approver must find the new socket.
    const cfg = writeConfig({
      mcpmux: { approval_timeout: 30, approvals: 'terminal', audit_log: 'off' },
      connectors: { alpha: alpha.url },
    });
    const pane = await startApprove(cfg);
    await delay(300);
    const mux = await connect(cfg, { clientName: AGENT });
    const call = pendingCall(mux, 'alpha__add', { a: 7007, b: 0 });
    await pane.waitFor((s) => s.includes('7007'), { timeout: 5000, what: 'the call of a serve started after approve' });
    await pane.sendKeys('y');
    assert.equal(textOf(await call.promise), '7007');
    // approve is still running
    assert.equal(await pane.dead(), null, 'mcpmux approve keeps running');
    await quit(pane);
  });
});
