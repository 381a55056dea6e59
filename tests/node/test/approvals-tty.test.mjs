// approvals = tty: mcpmux asks on its own terminal (/dev/tty). A CLI agent
// (tests/node/lib/tty-agent.mjs) runs in a tmux pane and starts `mcpmux serve`
// over pipes, so the pane is mcpmux's terminal; the test reads the prompt and
// types y and n like a human. What the agent and the model send is shown made
// safe: an agent name with an escape sequence and arguments with a bidi
// override or a C1 control must not reach the terminal raw.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BIN, muxEnv, startServer, writeConfig } from '../lib/harness.mjs';
import { TmuxPane, waitAudit } from '../lib/tmux.mjs';

const AGENT_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'tty-agent.mjs');
// ESC [2J would clear the screen; U+202E reverses the text after it; U+009B is
// the C1 form of ESC [.
const AGENT = 'evil\u001b[2Jagent';
const NOTE = 'a\u202edaeh\u009b31m';

describe('approvals = tty', () => {
  let pane;
  let audit;

  before(async () => {
    const alpha = await startServer(['--mode', 'json', '--name', 'alpha']);
    const cfg = writeConfig({
      mcpmux: { approvals: 'tty', approval_timeout: 30 },
      connectors: { alpha: alpha.url },
    });
    audit = path.join(path.dirname(cfg), 'audit.jsonl');
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace(/^\[mcpmux\]\n/, `[mcpmux]\naudit_log = ${audit}\n`));
    pane = await TmuxPane.start([process.execPath, AGENT_JS, BIN, cfg, AGENT, 'alpha__add',
      JSON.stringify({ a: 1, b: 2, note: NOTE }), JSON.stringify({ a: 5, b: 5 })],
    { env: muxEnv(cfg), cwd: path.dirname(cfg), cols: 200, rows: 30 });
  });
  after(() => pane?.kill());

  test('the prompt is on the terminal, made safe, and y allows the call', async () => {
    const screen = await pane.waitFor(/Allow\? \[y\]/, { timeout: 15000, what: 'the tty prompt' });
    assert.match(screen, /evil\?\[2Jagent 1\.0 wants to call alpha__add \(connector alpha, write\) with /);
    assert.ok(!/[\u001b\u202e\u009b]/.test(screen), `no raw escape, bidi or C1 character:\n${screen}`);
    assert.ok(screen.includes('"a?daeh?31m"'), `the note with '?' in place of U+202E and U+009B:\n${screen}`);
    await pane.sendKeys('y', 'Enter');
    await pane.waitFor(/RESULT 1: 3/, { timeout: 10000, what: 'the first call to succeed' });
  });

  test('n denies the next call', async () => {
    await pane.waitFor((s) => (s.match(/Allow\? \[y\]/g) ?? []).length >= 2, { timeout: 15000, what: 'a second prompt' });
    await pane.sendKeys('n', 'Enter');
    const screen = await pane.waitFor(/DONE/, { timeout: 10000, what: 'the agent to finish' });
    assert.match(screen, /ERROR 2: .*denied/i, screen);
    assert.doesNotMatch(screen, /RESULT 2/);
  });

  test('the audit log says the terminal prompt decided', async () => {
    const lines = await waitAudit(audit, 2);
    assert.deepEqual(lines.map((l) => [l.tool, l.decision, l.decided_by, l.outcome]), [
      ['alpha__add', 'allowed', 'tty', 'ok'],
      ['alpha__add', 'denied', 'tty', 'denied'],
    ]);
  });
});
