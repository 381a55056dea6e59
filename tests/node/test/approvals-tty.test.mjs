// approvals = tty: mcpmux asks on its own terminal (/dev/tty). A CLI agent
// (tests/node/lib/tty-agent.mjs) runs in a tmux pane and starts `mcpmux serve`
// over pipes, so the pane is mcpmux's terminal; the test reads the prompt and
// types like a human. What the agent and the model send is shown made safe:
// an agent name with an escape sequence and arguments with a bidi override, a
// C1 control or invisible format characters must not reach the terminal raw.
// Only the first key of one answer counts: "please stop" is not an 'a'.

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
// Invisible: Arabic letter mark, soft hyphen, Mongolian vowel separator, tag
// letter A, a variation selector.
const HIDDEN = '\u061c\u00ad\u180e\u{E0041}\ufe0f';

const prompts = (s) => (s.match(/Allow\? \[y\]/g) ?? []).length;

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
      JSON.stringify({ a: 1, b: 2, note: NOTE, hidden: HIDDEN }), JSON.stringify({ a: 5, b: 5 }),
      JSON.stringify({ a: 7, b: 7 }), JSON.stringify({ a: 8, b: 8 })],
    { env: muxEnv(cfg), cwd: path.dirname(cfg), cols: 200, rows: 40 });
  });
  after(() => pane?.kill());

  test('the prompt is on the terminal, made safe', async () => {
    const screen = await pane.waitFor(/Allow\? \[y\]/, { timeout: 15000, what: 'the tty prompt' });
    assert.match(screen, /evil\?\[2Jagent 1\.0 wants to call alpha__add \(connector alpha, write\) with /);
    assert.ok(!/[\u001b\u202e\u009b\u061c\u00ad\u180e\ufe0f]|\u{E0041}/u.test(screen),
      `no raw escape, bidi, C1 or invisible character:\n${screen}`);
    assert.ok(screen.includes('"a?daeh?31m"'), `the note with '?' in place of U+202E and U+009B:\n${screen}`);
    assert.ok(screen.includes('"hidden":"?????"'), `each invisible character is a '?':\n${screen}`);
  });

  test('typed text is not a decision: "please stop" asks again; then y allows', async () => {
    await pane.sendKeys('please stop', 'Enter');
    const screen = await pane.waitFor((s) => prompts(s) >= 2 || /RESULT 1|ERROR 1/.test(s),
      { timeout: 10000, what: 'the prompt again (or the call decided)' });
    assert.doesNotMatch(screen, /RESULT 1|ERROR 1/, `"please stop" decided nothing:\n${screen}`);
    await pane.sendKeys('y', 'Enter');
    await pane.waitFor(/RESULT 1: 3/, { timeout: 10000, what: 'the first call to succeed' });
  });

  test('n denies the next call', async () => {
    await pane.waitFor((s) => prompts(s) >= 3, { timeout: 15000, what: 'a prompt for the second call' });
    await pane.sendKeys('n', 'Enter');
    const screen = await pane.waitFor(/ERROR 2/, { timeout: 10000, what: 'the second call to end' });
    assert.match(screen, /ERROR 2: .*denied/i, screen);
    assert.doesNotMatch(screen, /RESULT 2/);
  });

  test('a allows the tool: the next call runs without asking', async () => {
    await pane.waitFor((s) => prompts(s) >= 4, { timeout: 15000, what: 'a prompt for the third call' });
    await pane.sendKeys('a', 'Enter');
    const screen = await pane.waitFor(/DONE/, { timeout: 10000, what: 'the agent to finish' });
    assert.match(screen, /RESULT 3: 14/, screen);
    assert.match(screen, /RESULT 4: 16/, screen);
    assert.equal(prompts(screen), 4, `no prompt for the fourth call:\n${screen}`);
  });

  test('the audit log says the terminal prompt decided, also for the call "a" allowed', async () => {
    const lines = await waitAudit(audit, 4);
    assert.deepEqual(lines.map((l) => [l.tool, l.decision, l.decided_by, l.outcome]), [
      ['alpha__add', 'allowed', 'tty', 'ok'],
      ['alpha__add', 'denied', 'tty', 'denied'],
      ['alpha__add', 'allowed', 'tty', 'ok'],
      ['alpha__add', 'allowed', 'tty', 'ok'],
    ]);
  });
});
