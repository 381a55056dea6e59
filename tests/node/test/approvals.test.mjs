// Approvals without a screen: policy (labels, approval modes, per-tool globs),
// approvals = deny / elicitation / terminal, the timeout, MCP elicitation, the
// broker socket (protocol, permissions, peer uid), the audit log, and the
// LABEL / APPROVAL columns of `mcpmux tools`.
//
// Contract: DESIGN.md "Approvals" and "Audit", docs/approval-protocol.md.
// The test server's tools: echo and rich are readOnlyHint: true (read); add,
// sleep, big_schema have no annotations (write).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  BIN, connect, muxEnv, rawSpawn, runMux, startServer, textOf, waitUntil, withTimeout, writeConfig,
} from '../lib/harness.mjs';
import {
  BrokerClient, brokerSocket, hiddenCodePoints, readAudit, TmuxPane, waitAudit,
} from '../lib/tmux.mjs';

const AGENT = 'e2e-agent';

let alpha;
before(async () => {
  alpha = await startServer(['--mode', 'json', '--name', 'alpha']);
});

/**
 * Writes a config ([mcpmux] keys from mcpmux; connectors: name -> extra
 * keys, each pointing at the alpha test server). audit: 'file' puts the
 * audit log at <config dir>/audit.jsonl; 'default' leaves audit_log out;
 * otherwise mcpmux.audit_log decides.
 */
function config({ mcpmux = {}, connectors = { alpha: {} }, audit: where = 'file' } = {}) {
  const conns = {};
  for (const [name, keys] of Object.entries(connectors)) conns[name] = { url: alpha.url, ...keys };
  const cfg = writeConfig({ mcpmux: { approval_timeout: 10, ...mcpmux }, connectors: conns });
  const dir = path.dirname(cfg);
  const audit = path.join(dir, 'audit.jsonl');
  if (where === 'file' && !('audit_log' in mcpmux)) {
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace(/^\[mcpmux\]\n/, `[mcpmux]\naudit_log = ${audit}\n`));
  }
  return { cfg, dir, audit, run: path.join(dir, 'run') };
}

function call(mux, name, args, timeout = 15000) {
  return mux.client.callTool({ name, arguments: args }, undefined, { timeout });
}

async function timed(p) {
  const t0 = Date.now();
  const res = await p;
  return { res, ms: Date.now() - t0 };
}

const toolCalls = async () => (await alpha.stats()).toolCalls;

function pick(line, keys) {
  return Object.fromEntries(keys.map((k) => [k, line?.[k]]));
}

// ------------------------------------------------------------ policy

describe('policy: labels and approval modes', () => {
  test('default mode: read tools run, write tools ask (approvals = deny makes asking visible)', async () => {
    // Under approvals = deny every call that asks is denied at once, so a
    // result tells whether the call asked.
    const { cfg, audit } = config({
      mcpmux: { approvals: 'deny' },
      connectors: {
        alpha: {},
        asker: { approval: 'ask' },
        mixed: { approval: 'ask', 'approval.ec*': 'auto' },
        relabel: { 'label.add': 'read' },
        // first matching line wins, for approval.* and for label.*
        order: { 'approval.e*': 'ask', 'approval.echo': 'auto', 'label.a*': 'read', 'label.add': 'write' },
        free: { approval: 'auto' },
      },
    });
    const mux = await connect(cfg, { clientName: AGENT });
    const before = await toolCalls();
    const cases = [
      ['alpha__echo', { text: 'r' }, 'runs'],
      ['alpha__rich', {}, 'runs'],
      ['alpha__add', { a: 1, b: 2 }, 'asks'],
      ['alpha__sleep', { ms: 1, tag: 's' }, 'asks'],
      ['asker__echo', { text: 'r' }, 'asks'],
      ['mixed__echo', { text: 'r' }, 'runs'],
      ['mixed__add', { a: 1, b: 2 }, 'asks'],
      ['relabel__add', { a: 1, b: 2 }, 'runs'],
      ['relabel__sleep', { ms: 1, tag: 's' }, 'asks'],
      ['order__echo', { text: 'r' }, 'asks'],
      ['order__add', { a: 1, b: 2 }, 'runs'],
      ['free__add', { a: 1, b: 2 }, 'runs'],
      ['free__sleep', { ms: 1, tag: 's' }, 'runs'],
    ];
    const got = [];
    for (const [name, args, want] of cases) {
      const { res, ms } = await timed(call(mux, name, args));
      got.push({ name, want, got: res.isError ? 'asks' : 'runs', ms, text: textOf(res).slice(0, 200) });
    }
    const wrong = got.filter((g) => g.want !== g.got);
    assert.deepEqual(wrong, [], `calls that did not behave as configured: ${JSON.stringify(wrong, null, 1)}`);
    for (const g of got.filter((x) => x.got === 'asks')) {
      // what happened (not run, because of approvals = deny) and the tool
      assert.match(g.text, /not run|denied/i, `${g.name}: the text says it was not run: ${g.text}`);
      assert.match(g.text, /approvals = deny/, `${g.name}: the text names the cause: ${g.text}`);
      assert.ok(g.text.includes(g.name), `${g.name}: the text names the tool: ${g.text}`);
      assert.doesNotMatch(g.text, /timed? ?out|no decision/i, `${g.name}: denied by the policy, not after a wait: ${g.text}`);
    }
    const runs = cases.filter((c) => c[2] === 'runs').length;
    assert.equal(await toolCalls(), before + runs, 'only the calls that did not ask reached the upstream');

    const lines = await waitAudit(audit, cases.length);
    const byTool = Object.fromEntries(lines.map((l) => [l.tool, l]));
    const keys = ['connector', 'label', 'decision', 'decided_by', 'outcome'];
    assert.deepEqual(pick(byTool.alpha__echo, keys),
      { connector: 'alpha', label: 'read', decision: 'auto', decided_by: 'policy', outcome: 'ok' },
      `alpha__echo: ${JSON.stringify(byTool.alpha__echo)}`);
    assert.deepEqual(pick(byTool.alpha__add, keys),
      { connector: 'alpha', label: 'write', decision: 'denied', decided_by: 'policy', outcome: 'denied' },
      `alpha__add: ${JSON.stringify(byTool.alpha__add)}`);
    assert.deepEqual(pick(byTool.relabel__add, keys),
      { connector: 'relabel', label: 'read', decision: 'auto', decided_by: 'policy', outcome: 'ok' },
      `relabel__add: ${JSON.stringify(byTool.relabel__add)}`);
    assert.deepEqual(pick(byTool.free__sleep, keys),
      { connector: 'free', label: 'write', decision: 'auto', decided_by: 'policy', outcome: 'ok' },
      `free__sleep: ${JSON.stringify(byTool.free__sleep)}`);
    assert.equal(byTool.order__add?.label, 'read', `order__add (label.a* = read first): ${JSON.stringify(byTool.order__add)}`);
    await mux.close();
  });

  test('mcpmux tools: LABEL and APPROVAL columns, and --json label / approval', async () => {
    const { cfg } = config({
      connectors: {
        alpha: {},
        asker: { approval: 'ask', 'approval.ec*': 'auto', 'label.add': 'read' },
        free: { approval: 'auto', 'label.rich': 'write' },
        delta: {
          'label.add': 'read',
          'label.echo': 'write',
          'label.e*': 'read',
          'approval.sleep': 'auto',
          'approval.s*': 'ask',
          'approval.big_schema': 'default',
        },
      },
    });
    const want = {
      alpha__echo: ['read', 'auto'],
      alpha__add: ['write', 'ask'],
      alpha__sleep: ['write', 'ask'],
      alpha__rich: ['read', 'auto'],
      alpha__big_schema: ['write', 'ask'],
      asker__echo: ['read', 'auto'],
      asker__add: ['read', 'ask'],
      asker__rich: ['read', 'ask'],
      asker__sleep: ['write', 'ask'],
      free__add: ['write', 'auto'],
      free__rich: ['write', 'auto'],
      free__echo: ['read', 'auto'],
      delta__echo: ['write', 'ask'],
      delta__add: ['read', 'auto'],
      delta__sleep: ['write', 'auto'],
      delta__rich: ['read', 'auto'],
      delta__big_schema: ['write', 'ask'],
    };

    const r = await runMux(['tools', '-c', cfg]);
    assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
    const lines = r.stdout.split('\n');
    const header = lines.find((l) => /\bNAME\b/.test(l) && /\bLABEL\b/.test(l));
    assert.ok(header, `a header line with NAME and LABEL:\n${r.stdout}`);
    const cols = header.trim().split(/\s+/);
    const iLabel = cols.indexOf('LABEL');
    const iApproval = cols.indexOf('APPROVAL');
    assert.ok(iApproval >= 0, `an APPROVAL column in the header: ${header}`);
    const wrong = [];
    for (const [name, [label, approval]] of Object.entries(want)) {
      const row = lines.map((l) => l.trim().split(/\s+/)).find((c) => c[0] === name);
      if (!row) {
        wrong.push(`${name}: no row`);
        continue;
      }
      if (row[iLabel] !== label || row[iApproval] !== approval) {
        wrong.push(`${name}: label ${row[iLabel]} approval ${row[iApproval]}, want ${label} ${approval}`);
      }
    }
    assert.deepEqual(wrong, [], `mcpmux tools:\n${r.stdout}`);

    const j = await runMux(['tools', '-c', cfg, '--json']);
    assert.equal(j.code, 0, `exit ${j.code}; stderr: ${j.stderr}`);
    const parsed = JSON.parse(j.stdout);
    const wrongJ = [];
    for (const [name, [label, approval]] of Object.entries(want)) {
      const t = parsed.tools.find((x) => Object.values(x).includes(name));
      if (!t) wrongJ.push(`${name}: missing`);
      else if (t.label !== label || t.approval !== approval) {
        wrongJ.push(`${name}: ${JSON.stringify(t)}, want label ${label} approval ${approval}`);
      }
    }
    assert.deepEqual(wrongJ, [], 'mcpmux tools --json');
  });
});

// ------------------------------------------------------------ channels

describe('channels: deny, timeout, elicitation', () => {
  test('approvals = deny: a write call is denied at once, the upstream untouched', async () => {
    const { cfg, audit } = config({ mcpmux: { approvals: 'deny' } });
    const mux = await connect(cfg);
    const before = await toolCalls();
    const { res, ms } = await timed(call(mux, 'alpha__add', { a: 8, b: 8 }));
    assert.equal(res.isError, true, JSON.stringify(res));
    assert.match(textOf(res), /not run|denied/i, textOf(res));
    assert.match(textOf(res), /approvals = deny/, `the text names the cause: ${textOf(res)}`);
    assert.doesNotMatch(textOf(res), /timed? ?out|no decision/i, `denied by the policy, not after a wait (${ms} ms)`);
    assert.equal(await toolCalls(), before);
    const [line] = await waitAudit(audit, 1);
    assert.deepEqual(pick(line, ['tool', 'decision', 'outcome']),
      { tool: 'alpha__add', decision: 'denied', outcome: 'denied' }, JSON.stringify(line));
    await mux.close();
  });

  test('approval_timeout = 2, no terminal, no elicitation: denied as timed out after ~2 s', async () => {
    const { cfg, audit } = config({ mcpmux: { approval_timeout: 2 } });
    const mux = await connect(cfg);
    const before = await toolCalls();
    const { res, ms } = await timed(call(mux, 'alpha__add', { a: 9, b: 9 }));
    assert.equal(res.isError, true, JSON.stringify(res));
    const text = textOf(res);
    assert.match(text, /no decision|timed? ?out|no one approved/i, `the text says no decision came: ${text}`);
    assert.match(text, /not run/i, `the text says the call was not run: ${text}`);
    assert.match(text, /mcpmux approve/, `the text says to run mcpmux approve: ${text}`);
    assert.ok(ms >= 1800, `answered after ${ms} ms: approval_timeout (2 s) ran out first`);
    assert.equal(await toolCalls(), before, 'a timed-out call never reaches the upstream');
    const [line] = await waitAudit(audit, 1);
    assert.deepEqual(pick(line, ['tool', 'label', 'decision', 'outcome']),
      { tool: 'alpha__add', label: 'write', decision: 'timeout', outcome: 'timeout' }, JSON.stringify(line));
    await mux.close();
  });

  test('approvals = elicitation, client without the capability: denied at once, saying why', async () => {
    const { cfg } = config({ mcpmux: { approvals: 'elicitation' } });
    const mux = await connect(cfg);
    const before = await toolCalls();
    const { res, ms } = await timed(call(mux, 'alpha__add', { a: 1, b: 1 }));
    assert.equal(res.isError, true, JSON.stringify(res));
    assert.match(textOf(res), /elicitation/i, `the text names elicitation: ${textOf(res)}`);
    assert.doesNotMatch(textOf(res), /timed? ?out|no decision/i, `denied at once, not after a wait (${ms} ms)`);
    assert.equal(await toolCalls(), before);
    await mux.close();
  });

  test('approvals = terminal: a client with elicitation is not asked; times out', async () => {
    const { cfg } = config({ mcpmux: { approvals: 'terminal', approval_timeout: 1 } });
    const mux = await connect(cfg, { capabilities: { elicitation: {} } });
    let asked = 0;
    mux.client.setRequestHandler(ElicitRequestSchema, async () => {
      asked++;
      return { action: 'decline' };
    });
    const { res, ms } = await timed(call(mux, 'alpha__add', { a: 1, b: 1 }));
    assert.equal(res.isError, true, JSON.stringify(res));
    assert.match(textOf(res), /mcpmux approve/, textOf(res));
    assert.ok(ms >= 800, `answered after ${ms} ms: approval_timeout (1 s) ran out first`);
    assert.equal(asked, 0, 'no elicitation/create with approvals = terminal');
    await mux.close();
  });

  /** A client with the elicitation capability answering with answer(request). */
  async function elicitingClient(cfg, name, answer) {
    const mux = await connect(cfg, { capabilities: { elicitation: {} }, clientName: name });
    const seen = [];
    mux.client.setRequestHandler(ElicitRequestSchema, async (req) => {
      seen.push(req.params);
      return answer(req.params);
    });
    return { mux, seen };
  }

  function booleanField(params) {
    const props = params?.requestedSchema?.properties ?? {};
    const names = Object.keys(props);
    assert.equal(names.length, 1, `the form has one field: ${JSON.stringify(params?.requestedSchema)}`);
    assert.equal(props[names[0]].type, 'boolean', `the field is a boolean: ${JSON.stringify(props)}`);
    return names[0];
  }

  test('elicitation (approvals = auto, no terminal): accept with true runs the call; '
    + 'decline / cancel / false deny it', async () => {
    const { cfg, audit } = config();
    const before = await toolCalls();

    const yes = await elicitingClient(cfg, 'elicit-yes', (p) => ({ action: 'accept', content: { [booleanField(p)]: true } }));
    const res = await call(yes.mux, 'alpha__add', { a: 20, b: 22 });
    assert.ok(!res.isError, `accepted call succeeded: ${JSON.stringify(res)}`);
    assert.equal(textOf(res), '42');
    assert.equal(yes.seen.length, 1, 'one elicitation/create for the call');
    assert.match(yes.seen[0].message ?? '', /alpha__add/, `the message names the tool: ${yes.seen[0].message}`);
    assert.equal(await toolCalls(), before + 1);
    // a read tool does not ask
    assert.equal(textOf(await call(yes.mux, 'alpha__echo', { text: 'no ask' })), 'echo: no ask');
    assert.equal(yes.seen.length, 1, 'no elicitation for a read tool');
    await yes.mux.close();

    const answers = [
      () => ({ action: 'decline' }),
      () => ({ action: 'cancel' }),
      (p) => ({ action: 'accept', content: { [booleanField(p)]: false } }),
    ];
    let n = 0;
    const no = await elicitingClient(cfg, 'elicit-no', (p) => answers[n++](p));
    for (const how of ['decline', 'cancel', 'accept false']) {
      const r = await call(no.mux, 'alpha__add', { a: 1, b: 1 });
      assert.equal(r.isError, true, `${how}: ${JSON.stringify(r)}`);
      assert.match(textOf(r), /denied|declined/i, `${how}: ${textOf(r)}`);
      assert.match(textOf(r), /not run/i, `${how}: ${textOf(r)}`);
    }
    assert.equal(no.seen.length, 3);
    assert.equal(await toolCalls(), before + 2, 'denied calls never reach the upstream');
    await no.mux.close();

    const lines = await waitAudit(audit, 5);
    const adds = lines.filter((l) => l.tool === 'alpha__add');
    assert.deepEqual(adds.map((l) => pick(l, ['decision', 'decided_by', 'outcome'])), [
      { decision: 'allowed', decided_by: 'elicitation', outcome: 'ok' },
      { decision: 'denied', decided_by: 'elicitation', outcome: 'denied' },
      { decision: 'denied', decided_by: 'elicitation', outcome: 'denied' },
      { decision: 'denied', decided_by: 'elicitation', outcome: 'denied' },
    ], `audit: ${JSON.stringify(lines)}`);
  });

  test('the elicitation question shows the arguments made safe: no control, format, bidi, '
    + 'tag or variation selector character reaches the client raw', async () => {
    const { cfg } = config({ audit: 'none' });
    const hidden = hiddenCodePoints();
    const note = `${String.fromCodePoint(...hidden)}\u001b[2J`;
    const asked = await elicitingClient(cfg, 'elicit-hidden', () => ({ action: 'decline' }));
    const res = await call(asked.mux, 'alpha__add', { a: 1, b: 2, note });
    assert.equal(res.isError, true, JSON.stringify(res));
    assert.equal(asked.seen.length, 1, 'one elicitation/create');
    const msg = asked.seen[0].message ?? '';
    const raw = [...msg].filter((ch) => hidden.includes(ch.codePointAt(0)) || ch.codePointAt(0) < 0x20 && ch !== '\n');
    assert.deepEqual(raw.map((ch) => `U+${ch.codePointAt(0).toString(16).toUpperCase()}`), [],
      'characters that reach the client raw');
    // (JSON.stringify sent the ESC as the six characters \u001b: text, not a control.)
    assert.ok(msg.includes(`"note":"${'?'.repeat(hidden.length)}\\u001b[2J"`),
      `each of the ${hidden.length} characters is a '?': ${JSON.stringify(msg).slice(0, 300)}...${
        JSON.stringify(msg).slice(-100)}`);
    await asked.mux.close();
  });
});

// ------------------------------------------------------------ broker socket

// A client that connects to sock, reads what comes for up to 3 s, and
// prints {connected, data, closed, error}: run as a process of its own.
const CONNECT_JS = `
  const s = require('net').connect(process.argv[1]);
  const r = { connected: false, data: '', closed: false };
  s.setEncoding('utf8');
  s.on('connect', () => { r.connected = true; });
  s.on('data', (d) => { r.data += d; });
  s.on('error', (e) => { r.error = e.code; });
  s.on('close', () => { r.closed = true; console.log(JSON.stringify(r)); process.exit(0); });
  setTimeout(() => { console.log(JSON.stringify(r)); process.exit(0); }, 3000);`;

/** Runs CONNECT_JS as a child of this process (spawn options opts); resolves its report and pid. */
async function clientProcess(sock, opts = {}) {
  const child = spawn(process.execPath, ['-e', CONNECT_JS, sock], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  await withTimeout(new Promise((r) => child.once('exit', r)), 8000, 'the client process')
    .catch((err) => {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
      throw err;
    });
  assert.ok(stdout.trim(), `the client printed nothing; stderr: ${stderr}`);
  return { ...JSON.parse(stdout.trim()), pid: child.pid };
}

/** The same from this very process. */
function clientHere(sock) {
  return withTimeout(new Promise((resolve) => {
    const s = net.connect(sock);
    const r = { connected: false, data: '', closed: false, pid: process.pid };
    s.setEncoding('utf8');
    s.on('connect', () => { r.connected = true; });
    s.on('data', (d) => { r.data += d; });
    s.on('error', (e) => { r.error = e.code; });
    s.on('close', () => { r.closed = true; resolve(r); });
    setTimeout(() => { s.destroy(); resolve(r); }, 3000);
  }), 5000, 'a connection from the test process');
}

describe('the broker socket', () => {
  test('socket 0600 in a 0700 dir; hello, request, decision, withdrawn', async () => {
    const { cfg, run } = config();
    const mux = await connect(cfg, { clientName: AGENT });
    const sock = brokerSocket(run, mux.pid);
    await waitUntil(() => fs.existsSync(sock), { timeout: 3000, what: `${sock} to exist` });
    assert.equal(fs.statSync(path.dirname(sock)).mode & 0o777, 0o700, 'socket directory mode');
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600, 'socket mode');

    const term = await BrokerClient.connect(sock);
    const hello = await term.waitFor((m) => m.type === 'hello', { what: 'hello' });
    assert.equal(hello.protocol, 1, JSON.stringify(hello));
    assert.equal(hello.pid, mux.pid, JSON.stringify(hello));
    assert.match(String(hello.agent), new RegExp(AGENT), JSON.stringify(hello));

    const before = await toolCalls();
    const args = { a: 31, b: 11, note: 'héllo ✓' };
    const p = call(mux, 'alpha__add', args);
    const req = await term.waitFor((m) => m.type === 'request', { what: 'a request' });
    assert.equal(typeof req.id, 'string', JSON.stringify(req));
    assert.deepEqual(pick(req, ['connector', 'tool', 'upstream_tool', 'label']),
      { connector: 'alpha', tool: 'alpha__add', upstream_tool: 'add', label: 'write' }, JSON.stringify(req));
    assert.deepEqual(req.arguments, args);
    assert.match(String(req.agent), new RegExp(AGENT));
    assert.equal(req.timeout_ms, 10000, JSON.stringify(req));
    assert.ok(req.remaining_ms > 0 && req.remaining_ms <= 10000, JSON.stringify(req));
    term.decide(req.id, 'allow');
    assert.equal(textOf(await p), '42');
    const w = await term.waitFor((m) => m.type === 'withdrawn' && m.id === req.id, { what: 'withdrawn' });
    assert.equal(w.reason, 'allowed');
    assert.equal(await toolCalls(), before + 1);

    // a second terminal gets the pending requests right after hello; a
    // decision from either counts, both terminals see it withdrawn, and a
    // decision for an id no longer pending is ignored.
    const p2 = call(mux, 'alpha__add', { a: 2, b: 2 });
    const req2 = await term.waitFor((m) => m.type === 'request' && m.id !== req.id, { what: 'the second request' });
    const term2 = await BrokerClient.connect(sock);
    await term2.waitFor((m) => m.type === 'request' && m.id === req2.id, { what: 'the pending request after hello' });
    term2.decide(req2.id, 'deny');
    const r2 = await p2;
    assert.equal(r2.isError, true, JSON.stringify(r2));
    for (const t of [term, term2]) {
      const w2 = await t.waitFor((m) => m.type === 'withdrawn' && m.id === req2.id, { what: 'withdrawn (denied)' });
      assert.equal(w2.reason, 'denied');
    }
    term.decide(req2.id, 'allow'); // no longer pending: ignored
    term.decide('no-such-id', 'always');
    assert.equal(textOf(await call(mux, 'alpha__echo', { text: 'after' })), 'echo: after');
    assert.equal(await toolCalls(), before + 2, 'the denied call never ran, not even after a late allow');
    term.close();
    term2.close();
    await mux.close();
  });

  test('a decision with a key twice is no decision', async () => {
    const { cfg, run } = config();
    const mux = await connect(cfg, { clientName: AGENT });
    const term = await BrokerClient.connect(brokerSocket(run, mux.pid));
    await term.waitFor((m) => m.type === 'hello', { what: 'hello' });
    const before = await toolCalls();
    const p = call(mux, 'alpha__add', { a: 1, b: 1 });
    const req = await term.waitFor((m) => m.type === 'request', { what: 'a request' });
    // Which "decision" counts depends on the reader: the broker takes neither.
    term.ctl.write(`{"type":"decision","id":${JSON.stringify(req.id)},"decision":"allow","decision":"deny"}\n`);
    term.ctl.write(`{"type":"decision","id":${JSON.stringify(req.id)},"id":"x","decision":"allow"}\n`);
    assert.equal(textOf(await call(mux, 'alpha__echo', { text: 'meanwhile' })), 'echo: meanwhile');
    assert.equal(term.messages.filter((m) => m.type === 'withdrawn').length, 0, 'still pending');
    term.decide(req.id, 'deny');
    assert.equal((await p).isError, true);
    assert.equal(await toolCalls(), before + 1, 'only the echo ran, never the add');
    term.close();
    await mux.close();
  });

  test('the agent (the process that started serve) and its children may not approve: '
    + 'refused at once and logged; an approver in a terminal still works', async () => {
    const { cfg, run } = config();
    const mux = await connect(cfg, { clientName: AGENT });
    const sock = brokerSocket(run, mux.pid);
    await waitUntil(() => fs.existsSync(sock), { timeout: 3000, what: `${sock} to exist` });
    const refusedLine = (pid) => waitUntil(() => mux.stderr().split('\n').find((l) =>
      /refused/i.test(l) && l.includes(`pid ${pid}`)),
    { timeout: 3000, what: `a "refused ... pid ${pid}" line on mcpmux's stderr` })
      .catch((err) => { throw new Error(`${err.message}; stderr:\n${mux.stderr()}`); });
    const pending = call(mux, 'alpha__add', { a: 4040, b: 2 });

    for (const [who, conn] of [['the agent itself', () => clientHere(sock)],
      ['a child of the agent', () => clientProcess(sock)]]) {
      const out = await conn();
      assert.equal(out.connected, true, `${who} could not even connect: ${JSON.stringify(out)}`);
      assert.equal(out.data, '', `${who} gets no hello and no request: ${JSON.stringify(out)}`);
      assert.equal(out.closed, true, `the broker closed ${who}'s connection: ${JSON.stringify(out)}`);
      const line = await refusedLine(out.pid);
      assert.match(line, new RegExp(`agent \\(pid ${process.pid}\\)`), line);
      console.log(`# ${who}: ${line}`);
    }

    const pane = await TmuxPane.start([BIN, 'approve'], { env: muxEnv(cfg), cwd: path.dirname(cfg) });
    try {
      await pane.waitFor((s) => s.includes('4040'), { timeout: 5000, what: 'the call on the approve screen' });
      await pane.sendKeys('y');
      assert.equal(textOf(await pending), '4042');
    } finally {
      await pane.kill();
    }
    await mux.close();
  });

  test('a connection from another uid is refused and logged', async (t) => {
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
      t.skip('needs root to run a client as another uid');
      return;
    }
    const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
    const { cfg, dir, run } = config();
    const mux = await connect(cfg);
    const sock = brokerSocket(run, mux.pid);
    await waitUntil(() => fs.existsSync(sock), { timeout: 3000, what: `${sock} to exist` });

    // Open the way to the socket for nobody (the modes normally keep it out),
    // so that the peer-uid check itself is what refuses it.
    const chain = [dir, run, path.dirname(sock)];
    const saved = [...chain, sock].map((p) => [p, fs.statSync(p).mode & 0o7777]);
    let out;
    try {
      for (const d of chain) fs.chmodSync(d, 0o711);
      fs.chmodSync(sock, 0o666);
      out = await clientProcess(sock, { uid, gid, cwd: '/', env: { PATH: process.env.PATH } });
    } finally {
      for (const [p, mode] of saved) fs.chmodSync(p, mode);
    }
    assert.equal(out.connected, true, `nobody could not even connect (test setup problem): ${JSON.stringify(out)}`);
    assert.equal(out.data, '', `no hello (nor anything) for another uid: ${JSON.stringify(out)}`);
    assert.equal(out.closed, true, `the broker closed the connection: ${JSON.stringify(out)}`);
    const line = await waitUntil(() => mux.stderr().split('\n').find((l) => /refused/i.test(l) && l.includes(String(uid))),
      { timeout: 2000, what: `a "refused ... ${uid}" line on mcpmux's stderr` })
      .catch((err) => { throw new Error(`${err.message}; stderr:\n${mux.stderr()}`); });
    assert.ok(line);
    // the broker keeps serving its own user
    const term = await BrokerClient.connect(sock);
    await term.waitFor((m) => m.type === 'hello', { what: 'hello for our own uid after the refusal' });
    term.close();
    await mux.close();
  });
});

// ------------------------------------------------------------ audit

function filesUnder(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

const sha256 = (s) => createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');

async function rawCalls(cfg, argTexts, { env = {}, firstId = 1 } = {}) {
  const raw = rawSpawn(cfg, { env });
  try {
    await raw.initialize();
    await raw.request('tools/list', {}, { timeout: 10000 });
    const results = [];
    let id = firstId;
    for (const argText of argTexts) {
      const line = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"alpha__add","arguments":${argText}}}`;
      await raw.send(line);
      results.push((await raw.response(id, 10000)).msg);
      id++;
    }
    return results;
  } finally {
    await raw.end();
  }
}

describe('audit log', () => {
  test('audit_log = off writes nothing', async () => {
    const { cfg, dir } = config({ mcpmux: { audit_log: 'off' }, connectors: { alpha: { approval: 'auto' } } });
    const mux = await connect(cfg, { env: { XDG_STATE_HOME: undefined } });
    assert.equal(textOf(await call(mux, 'alpha__add', { a: 1, b: 2 })), '3');
    assert.equal(textOf(await call(mux, 'alpha__echo', { text: 'x' })), 'echo: x');
    await mux.close();
    const files = filesUnder(dir).filter((f) => /audit|\.jsonl$/.test(path.basename(f)) || f.includes('.local/state'));
    assert.deepEqual(files, [], 'no audit file anywhere');
  });

  test('default path ~/.local/state/mcpmux/audit.jsonl, mode 0600, appended across runs, '
    + 'args_sha256 of the bytes sent, no argument values', async () => {
    const { cfg, dir } = config({ audit: 'default', connectors: { alpha: { approval: 'auto' } } });
    assert.ok(!fs.readFileSync(cfg, 'utf8').includes('audit_log'));
    const file = path.join(dir, '.local', 'state', 'mcpmux', 'audit.jsonl');
    const env = { XDG_STATE_HOME: undefined };
    const compact = '{"a":7340001,"b":7340002}';
    const spaced = '{ "b" : 7340004,\t"a":7340003 }';

    const first = await rawCalls(cfg, [compact, spaced], { env });
    assert.equal(first[0].result?.content?.[0]?.text, '14680003', JSON.stringify(first[0]));
    assert.equal(first[1].result?.content?.[0]?.text, '14680007', JSON.stringify(first[1]));
    assert.ok(fs.existsSync(file), `${file} exists; files under HOME: ${JSON.stringify(filesUnder(dir))}`);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'audit log mode');
    const text1 = fs.readFileSync(file, 'utf8');
    const lines1 = readAudit(file);
    assert.equal(lines1.length, 2, text1);
    assert.equal(lines1[0].args_sha256, sha256(compact), `SHA-256 of ${compact}`);
    assert.equal(lines1[1].args_sha256, sha256(spaced), `SHA-256 of the exact bytes ${JSON.stringify(spaced)}`);
    for (const l of lines1) {
      assert.deepEqual(pick(l, ['tool', 'connector', 'label', 'decision', 'decided_by', 'outcome']),
        { tool: 'alpha__add', connector: 'alpha', label: 'write', decision: 'auto', decided_by: 'policy', outcome: 'ok' },
        JSON.stringify(l));
    }

    await rawCalls(cfg, ['{"a":7340005,"b":7340006}'], { env });
    const text2 = fs.readFileSync(file, 'utf8');
    assert.ok(text2.startsWith(text1), 'the second run appends');
    assert.equal(readAudit(file).length, 3, text2);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'audit log mode after the second run');
    assert.ok(!text2.includes('734000'), `argument values never in the audit log:\n${text2}`);
    assert.ok(!text2.includes('1468000'), `results never in the audit log:\n${text2}`);
  });
});
