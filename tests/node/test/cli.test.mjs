// The non-serve commands: `mcpmux tools`, `mcpmux check`, and config errors.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { BASE_TOOLS, deadPort, runMux, startServer, writeConfig } from '../lib/harness.mjs';

const EXPOSED = ['alpha', 'beta'].flatMap((a) => BASE_TOOLS.map((t) => `${a}__${t}`));

function strings(v, out = []) {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => strings(x, out));
  return out;
}

function lineFor(output, name) {
  return output.split('\n').find((l) => new RegExp(`(^|[^A-Za-z0-9_-])${name}([^A-Za-z0-9_-]|$)`).test(l));
}

describe('mcpmux tools / check', () => {
  let alpha;
  let beta;
  let good; // alpha, beta, and a disabled connector
  before(async () => {
    [alpha, beta] = await Promise.all([
      startServer(['--name', 'alpha']),
      startServer(['--mode', 'sse', '--name', 'beta']),
    ]);
    good = writeConfig({
      connectors: {
        alpha: alpha.url,
        beta: beta.url,
        parked: { url: `http://127.0.0.1:${await deadPort()}/mcp`, enabled: 'no' },
      },
    });
  });

  test('tools -c FILE prints every exposed name', async () => {
    const r = await runMux(['tools', '-c', good]);
    assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
    for (const n of EXPOSED) assert.ok(r.stdout.includes(n), `${n} in:\n${r.stdout}`);
    assert.ok(!r.stdout.includes('parked__'), 'a disabled connector contributes no tools');
  });

  test('tools --json prints JSON listing every exposed name', async () => {
    const r = await runMux(['tools', '-c', good, '--json']);
    assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
    let parsed;
    assert.doesNotThrow(() => {
      parsed = JSON.parse(r.stdout);
    }, `stdout is not JSON:\n${r.stdout.slice(0, 2000)}`);
    const all = strings(parsed);
    for (const n of EXPOSED) assert.ok(all.includes(n), `${n} in ${r.stdout.slice(0, 2000)}`);
  });

  test('check: all enabled connectors good -> exit 0, active / disabled lines', async () => {
    const r = await runMux(['check', '-c', good]);
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 0, `exit ${r.code}; output:\n${out}`);
    for (const [name, status] of [['alpha', 'active'], ['beta', 'active'], ['parked', 'disabled']]) {
      const line = lineFor(out, name);
      assert.ok(line, `a line for ${name} in:\n${out}`);
      assert.match(line, new RegExp(`\\b${status}\\b`), `${name}'s line: ${line}`);
    }
  });

  test('check: a dead connector -> non-zero exit, error line', async () => {
    const cfg = writeConfig({
      connectors: {
        alpha: alpha.url,
        deadconn: `http://127.0.0.1:${await deadPort()}/mcp`,
        parked: { url: alpha.url, enabled: 'no' },
      },
    });
    const r = await runMux(['check', '-c', cfg]);
    const out = r.stdout + r.stderr;
    assert.notEqual(r.code, 0, `exit code; output:\n${out}`);
    assert.equal(r.signal, null);
    for (const [name, status] of [['alpha', 'active'], ['deadconn', 'error'], ['parked', 'disabled']]) {
      const line = lineFor(out, name);
      assert.ok(line, `a line for ${name} in:\n${out}`);
      assert.match(line, new RegExp(`\\b${status}\\b`), `${name}'s line: ${line}`);
    }
  });
});

describe('config errors', () => {
  const cases = [
    {
      what: 'unknown key in a connector section',
      text: '[mcpmux]\ncall_timeout = 5\n\n[connector "alpha"]\nurl = http://127.0.0.1:9/mcp\nbogus_key = 1\n',
      line: 6,
    },
    {
      what: 'unknown key in [mcpmux]',
      text: '; comment\n[mcpmux]\nconnect_timeout = 3\nno_such_setting = yes\n\n[connector "alpha"]\nurl = http://127.0.0.1:9/mcp\n',
      line: 4,
    },
  ];
  for (const c of cases) {
    for (const cmd of ['serve', 'tools', 'check']) {
      test(`${c.what}: mcpmux ${cmd} -> FILE:${c.line}:, non-zero, nothing on stdout`, async () => {
        const file = writeConfig(c.text);
        // stdin stays open: serve must stop because of the config, not EOF.
        const r = await runMux([cmd, '-c', file], { timeout: 5000 });
        assert.equal(r.timedOut, false, `mcpmux ${cmd} did not exit on a config error`);
        assert.notEqual(r.code, 0, `exit code 0; stderr: ${r.stderr}`);
        assert.ok(r.stderr.includes(`${file}:${c.line}:`), `stderr names ${file}:${c.line}:\n${r.stderr}`);
        assert.equal(r.stdout, '', 'nothing on stdout');
      });
    }
  }
});
