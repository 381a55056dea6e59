// Terminal-side helpers for the approval tests:
//  - TmuxPane: runs a command (`mcpmux approve`) in a detached tmux session on
//    a private tmux server (`tmux -L <unique>`), reads the screen with
//    capture-pane and types keys with send-keys;
//  - BrokerClient: a bare client of the approval protocol
//    (docs/approval-protocol.md) on a `mcpmux serve` broker socket, to watch
//    the messages and send decisions without a screen; it runs in a process
//    outside the test's process tree, since serve refuses the agent's own;
//  - small readers for the audit log.
//
// Every tmux server started here is killed at the end of the test file
// (`tmux kill-session`, `kill-server`, then SIGKILL by PID for anything left),
// and every wait is bounded.

import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { delay, waitUntil, withTimeout } from './harness.mjs';

const panes = new Set();

function run(file, args, { env, timeout = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        err.message = `${file} ${args.join(' ')}: ${err.message}; stderr: ${stderr}`;
        reject(err);
      } else {
        resolve(stdout);
      }
    });
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killPid(pid) {
  try {
    if (pid) process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

const EXIT_MARK = '[mcpmux-test: exited with status ';
const EXIT_RE = /\[mcpmux-test: exited with status (\d+)\]/;

const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

export class TmuxPane {
  /**
   * Starts argv in a new detached session, cols x rows, with exactly env as
   * its environment (plus TERM). Resolves once the pane's process runs.
   */
  static async start(argv, { env = process.env, cwd = os.tmpdir(), cols = 80, rows = 24 } = {}) {
    const pane = new TmuxPane();
    pane.socketName = `mcpmux-test-${process.pid}-${randomUUID().slice(0, 8)}`;
    pane.session = 'approve';
    pane.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpmux-tmux-'));
    pane.conf = path.join(pane.dir, 'tmux.conf');
    // remain-on-exit: if the command dies, its last screen stays readable.
    fs.writeFileSync(pane.conf, [
      'set -g remain-on-exit on',
      'set -g status off',
      'set -g history-limit 2000',
      '',
    ].join('\n'));
    pane.env = { ...env, TERM: 'xterm-256color' };
    delete pane.env.TMUX;
    delete pane.env.TMUX_PANE;
    panes.add(pane);
    // A shell runs the command and then prints its exit status: tmux itself
    // sometimes leaves the exited process unreaped (a zombie, no
    // #{pane_dead_status}), so the status is read from the screen.
    const cmd = `cd ${shq(cwd)} && ${argv.map(shq).join(' ')}; echo "${EXIT_MARK}$?]"`;
    await pane.tmux(['new-session', '-d', '-s', pane.session, '-x', String(cols), '-y', String(rows), cmd]);
    const [serverPid, panePid] = (await pane.tmux(['display-message', '-p', '-t', pane.session,
      '#{pid} #{pane_pid}'])).trim().split(' ').map(Number);
    pane.serverPid = serverPid;
    pane.pid = panePid;
    return pane;
  }

  tmux(args) {
    return run('tmux', ['-L', this.socketName, '-f', this.conf, ...args], { env: this.env });
  }

  /** The visible screen, one string. */
  async capture() {
    return this.tmux(['capture-pane', '-p', '-t', this.session]);
  }

  /** The whole pane, history included. */
  async captureAll() {
    return this.tmux(['capture-pane', '-p', '-S', '-', '-t', this.session]);
  }

  /**
   * null while the command runs; once it has exited, {status} (128 + n when
   * killed by signal n), read from the line the wrapping shell prints.
   */
  async dead() {
    const m = EXIT_RE.exec(await this.captureAll());
    return m ? { status: Number(m[1]) } : null;
  }

  /** PIDs of the pane shell's children (the command while it runs). */
  children() {
    try {
      return fs.readFileSync(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8').trim().split(/\s+/)
        .filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /**
   * Polls the screen until test(screen) is truthy (a RegExp or a function);
   * returns the screen. On timeout the error shows the last screen.
   */
  async waitFor(test, { timeout = 20000, interval = 100, what } = {}) {
    const pred = test instanceof RegExp ? (s) => test.test(s) : test;
    const deadline = Date.now() + timeout;
    let screen = '';
    for (;;) {
      screen = await this.capture().catch((e) => `(capture failed: ${e.message})`);
      if (pred(screen)) return screen;
      if (Date.now() >= deadline) {
        const dead = await this.dead().catch(() => null);
        throw new Error(`timed out after ${timeout} ms waiting for ${what ?? String(test)} on the ` +
          `mcpmux approve screen${dead ? ` (the process exited, status ${dead.status})` : ''}; screen:\n` +
          `${screen}\n-- end of screen`);
      }
      await delay(interval);
    }
  }

  /** Types keys (tmux key names: 'y', 'n', 'Enter', ...). */
  async sendKeys(...keys) {
    await this.tmux(['send-keys', '-t', this.session, ...keys]);
  }

  /**
   * Types q and waits for the process to exit. Resolves {status, screen}:
   * the exit status and the whole pane (history included), where a
   * sanitizer report would show.
   */
  async quit({ key = 'q', timeout = 30000 } = {}) {
    await this.sendKeys(key);
    const dead = await waitUntil(() => this.dead(), { timeout, what: `the pane's process to exit after ${key}` })
      .catch(async (err) => {
        throw new Error(`${err.message}; screen:\n${await this.capture().catch(() => '')}`);
      });
    return { status: dead.status, screen: await this.captureAll() };
  }

  async kill() {
    if (!panes.has(this)) return;
    panes.delete(this);
    const kids = this.children();
    await this.tmux(['kill-session', '-t', this.session]).catch(() => {});
    await this.tmux(['kill-server']).catch(() => {});
    for (const pid of [...kids, this.pid, this.serverPid]) {
      if (pid && alive(pid)) {
        killPid(pid);
        await waitUntil(() => !alive(pid), { timeout: 2000, what: `pid ${pid} to exit` }).catch(() => {});
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function killAllPanes() {
  await Promise.all([...panes].map((p) => p.kill()));
}

after(killAllPanes);
process.on('exit', () => {
  for (const p of panes) {
    for (const pid of p.children()) killPid(pid);
    killPid(p.pid);
    killPid(p.serverPid);
  }
});

// ------------------------------------------------------------ hidden characters

/**
 * Every code point that must never reach a terminal raw because it hides or
 * reorders text, enumerated with this Node's Unicode data: the format
 * characters (Cf), the bidi controls, the variation selectors (with the
 * Mongolian free variation selectors) and the whole tags block.
 */
export function hiddenCodePoints() {
  const re = /^[\p{Cf}\p{Bidi_Control}\p{Variation_Selector}]$/u;
  const out = [];
  for (let cp = 0; cp < 0x110000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    if (re.test(String.fromCodePoint(cp)) || (cp >= 0xe0000 && cp <= 0xe007f)) out.push(cp);
  }
  return out;
}

// ------------------------------------------------------------ broker socket

/** The broker socket of the `mcpmux serve` with this pid, under runtimeDir. */
export function brokerSocket(runtimeDir, pid) {
  return path.join(runtimeDir, 'mcpmux', `serve-${pid}.sock`);
}

const clients = new Set();

// The protocol client's process: started with `setsid -f`, so that once
// setsid has exited it runs outside this process's tree (mcpmux serve refuses
// approvers that run under the agent that started it, and this test process
// is that agent). It waits until no ancestor of its own is the test process,
// connects, and relays as JSON lines: to stdout {"t":"pid"}, {"t":"connected"}
// or {"t":"error"}, {"t":"line"} for each line from the broker, {"t":"closed"};
// from fd 3, each line goes to the broker as is. (Not stdin: node destroys a
// child's stdin once the child, here setsid, has exited.)
const CLIENT_JS = `
const fs = require('fs');
const net = require('net');
const [sockPath, agentPid] = process.argv.slice(1).map((x, i) => (i ? Number(x) : x));
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
// /proc/PID/stat is "PID (COMM) STATE PPID ...", and COMM may hold ')'.
const ppid = (pid) => {
  const t = fs.readFileSync('/proc/' + pid + '/stat', 'utf8');
  return Number(t.slice(t.lastIndexOf(')') + 2).split(' ')[1]);
};
const under = () => {
  for (let pid = process.pid; pid > 1; pid = ppid(pid)) if (pid === agentPid) return true;
  return false;
};
out({ t: 'pid', pid: process.pid });
const deadline = Date.now() + 10000;
const start = () => {
  if (under()) {
    if (Date.now() > deadline) {
      out({ t: 'error', code: 'still under the test process' });
      process.exit(1);
    }
    setTimeout(start, 10);
    return;
  }
  const s = net.connect(sockPath);
  let buf = '';
  s.setEncoding('utf8');
  s.on('connect', () => out({ t: 'connected', ppid: ppid(process.pid) }));
  s.on('error', (e) => out({ t: 'error', code: e.code }));
  s.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\\n'); i !== -1; i = buf.indexOf('\\n')) {
      out({ t: 'line', line: buf.slice(0, i) });
      buf = buf.slice(i + 1);
    }
  });
  s.on('close', () => {
    out({ t: 'closed' });
    process.exit(0);
  });
  let inBuf = '';
  const ctl = new net.Socket({ fd: 3, readable: true, writable: false });
  ctl.setEncoding('utf8');
  ctl.on('data', (d) => {
    inBuf += d;
    for (let i = inBuf.indexOf('\\n'); i !== -1; i = inBuf.indexOf('\\n')) {
      s.write(inBuf.slice(0, i + 1));
      inBuf = inBuf.slice(i + 1);
    }
  });
  ctl.on('end', () => process.exit(0));
};
start();
`;

/**
 * A bare approval-protocol client (acts as a terminal that never looks at a
 * screen). It runs in a process of its own outside the test process's tree
 * (see CLIENT_JS), as a human's `mcpmux approve` does; .pid is that process.
 */
export class BrokerClient {
  static async connect(sockPath, { timeout = 20000 } = {}) {
    await waitUntil(() => fs.existsSync(sockPath), { timeout, what: `the broker socket ${sockPath}` });
    const c = new BrokerClient();
    c.messages = [];
    c.waiters = new Set();
    c.closed = false;
    c.events = [];
    c.proc = spawn('setsid', ['-f', process.execPath, '-e', CLIENT_JS, sockPath, String(process.pid)], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    clients.add(c);
    c.ctl = c.proc.stdio[3];
    c.ctl.on('error', () => {});
    let stderr = '';
    c.proc.stderr.setEncoding('utf8');
    c.proc.stderr.on('data', (d) => {
      stderr += d;
    });
    let buf = '';
    c.proc.stdout.setEncoding('utf8');
    c.proc.stdout.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
        const ev = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        c.#event(ev);
      }
    });
    c.proc.stdout.on('close', () => {
      c.closed = true;
      c.#wake();
    });
    await withTimeout(new Promise((resolve, reject) => {
      c.onConnect = resolve;
      c.onError = reject;
    }), timeout, `connect to ${sockPath} from a process outside the test's tree`).catch((err) => {
      c.close();
      throw new Error(`${err.message}; events: ${JSON.stringify(c.events)}; stderr: ${stderr}`);
    });
    return c;
  }

  #event(ev) {
    this.events.push(ev);
    if (ev.t === 'pid') {
      this.pid = ev.pid;
    } else if (ev.t === 'connected') {
      this.onConnect?.();
    } else if (ev.t === 'error') {
      this.onError?.(new Error(`the client process: ${ev.code}`));
    } else if (ev.t === 'closed') {
      this.closed = true;
    } else if (ev.t === 'line') {
      let msg;
      try {
        msg = JSON.parse(ev.line);
      } catch {
        msg = { type: '(unparsable)', line: ev.line };
      }
      this.messages.push(msg);
    }
    this.#wake();
  }

  #wake() {
    for (const w of this.waiters) w();
  }

  /** The first message (received or future) for which pred(msg) holds. */
  waitFor(pred, { timeout = 20000, what = 'a broker message' } = {}) {
    const found = this.messages.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.messages.find(pred);
        if (m) {
          done();
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; broker messages so far: ${
          JSON.stringify(this.messages).slice(0, 2000)}${this.closed ? ' (connection closed)' : ''}`));
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  requests() {
    return this.messages.filter((m) => m.type === 'request');
  }

  send(obj) {
    this.ctl.write(`${JSON.stringify(obj)}\n`);
  }

  decide(id, decision) {
    this.send({ type: 'decision', id, decision });
  }

  close() {
    clients.delete(this);
    this.ctl.destroy();
    killPid(this.pid);
  }
}

after(() => {
  for (const c of clients) c.close();
});
process.on('exit', () => {
  for (const c of clients) killPid(c.pid);
});

// ------------------------------------------------------------ audit log

/** The audit log's lines, parsed (an unparsable line becomes {unparsable: text}). */
export function readAudit(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return { unparsable: l };
    }
  });
}

/** Waits until the audit log has at least n lines; returns them. */
export function waitAudit(file, n, { timeout = 20000 } = {}) {
  return waitUntil(() => {
    const lines = readAudit(file);
    return lines.length >= n && lines;
  }, { timeout, what: `${n} line(s) in the audit log ${file} (has ${readAudit(file).length})` });
}
