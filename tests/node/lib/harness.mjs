// Test harness for mcpmux's integration tests: starts real MCP servers and the
// real mcpmux binary, talks to them, and makes sure every process it started
// is killed (by PID) when the test file ends, whatever happened.
//
// Every wait here is bounded by a timeout.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const NODE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(NODE_DIR, '..', '..');
export const BIN = process.env.MCPMUX_BIN || path.join(REPO, 'mcpmux');
export const TEST_SERVER = path.join(NODE_DIR, 'servers', 'test-server.mjs');
export const VAULT_SERVER = path.join(NODE_DIR, 'servers', 'vault-server.mjs');
export const EVERYTHING = path.join(
  NODE_DIR, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

// ------------------------------------------------------------ bookkeeping

const live = new Map(); // pid -> { what, exited: Promise }
const tmpDirs = new Set();
const clients = new Set(); // in-process SDK clients to close

function track(pid, what, exited) {
  if (!pid) return;
  live.set(pid, { what, exited });
  exited.then(() => live.delete(pid));
}

function trackChild(proc, what) {
  const exited = new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve({ code: proc.exitCode, signal: proc.signalCode });
    } else {
      proc.once('exit', (code, signal) => resolve({ code, signal }));
    }
  });
  track(proc.pid, what, exited);
  return exited;
}

function killPid(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
  }
}

const muxes = new Set(); // every mcpmux started: { what, stderr(), endStdin(), exited }

function trackMux(what, stderr, endStdin, exited) {
  muxes.add({ what, stderr, endStdin, exited });
}

// Valgrind (make valgrind) runs with -q: any "==PID== " line it prints is an error report.
const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|^==\d+== \S/m;

/**
 * Ends every mcpmux gracefully (stdin EOF, while the upstream servers still
 * run, so that sanitizer leak reports surface), then kills every process this
 * harness started (by PID) and removes the temp dirs. Throws if any mcpmux
 * wrote a sanitizer report to stderr.
 */
export async function cleanup() {
  await Promise.all([...clients].map((c) =>
    withTimeout(c.close().catch(() => {}), 3000, 'close SDK client').catch(() => {})));
  clients.clear();
  await Promise.all([...muxes].map((m) => {
    try {
      m.endStdin();
    } catch {
      // already gone
    }
    return withTimeout(m.exited, 2500, `${m.what} to exit on EOF`).catch(() => {});
  }));
  const waits = [];
  for (const [pid, { exited }] of live) {
    killPid(pid);
    waits.push(withTimeout(exited, 3000, `exit of pid ${pid}`).catch(() => {}));
  }
  await Promise.all(waits);
  const reports = [...muxes].filter((m) => SANITIZER.test(m.stderr()));
  muxes.clear();
  for (const dir of tmpDirs) {
    fs.rmSync(dir, { recursive: true, force: true });
    tmpDirs.delete(dir);
  }
  if (reports.length) {
    throw new Error(`sanitizer reports from mcpmux:\n${reports.map((m) =>
      `--- ${m.what}\n${tail(m.stderr(), 8000)}`).join('\n')}`);
  }
}

function killAllNow() {
  for (const pid of live.keys()) killPid(pid);
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAllNow();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

// Every test file that imports the harness cleans up after itself.
after(cleanup);

// ------------------------------------------------------------ small helpers

export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn() until it returns a truthy value; returns that value. */
export async function waitUntil(fn, { timeout = 5000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${
        last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await delay(interval);
  }
}

function tail(s, n = 4000) {
  return s.length > n ? `...${s.slice(-n)}` : s;
}

/** The concatenated text items of a tool result. */
export function textOf(result) {
  return (result?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

// ------------------------------------------------------------ ports

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A port with nothing listening on it. */
export const deadPort = freePort;

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function getJson(url, init = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(3000) });
  const body = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: HTTP ${res.status} ${body}`);
  return JSON.parse(body);
}

// ------------------------------------------------------------ upstream servers

/** Keeps the last `keep` characters a stream writes; returns a reader of them. */
export function drain(stream, keep) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf = (buf + d).slice(-keep);
  });
  return () => buf;
}

function serverHandle(proc, port, exited, stderr) {
  const base = `http://127.0.0.1:${port}`;
  return {
    port,
    url: `${base}/mcp`,
    pid: proc.pid,
    proc,
    exited,
    stderr,
    async stop() {
      killPid(proc.pid);
      await withTimeout(exited, 3000, `exit of server pid ${proc.pid}`);
    },
    stats: () => getJson(`${base}/admin/stats`),
    expire: () => getJson(`${base}/admin/expire`, { method: 'POST' }),
  };
}

/**
 * Spawns `node script ...args` (one of our servers), tracked for cleanup, and
 * waits (bounded) for its `LISTENING <port>` line. Returns {proc, port,
 * exited, stderr}; on failure kills it and throws with its stderr.
 */
export async function spawnListening(script, args, what, timeout = 10000) {
  const proc = spawn(process.execPath, [script, ...args], {
    cwd: NODE_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const name = `${what} ${args.join(' ')}`.trim();
  const exited = trackChild(proc, name);
  const stderr = drain(proc.stderr, 65536);
  proc.stdout.setEncoding('utf8');
  let out = '';
  const port = await withTimeout(new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /^LISTENING (\d+)$/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('error', reject);
    exited.then(({ code, signal }) => reject(new Error(
      `${what} exited (${code ?? signal}) before LISTENING; stderr: ${stderr()}`)));
  }), timeout, `${name} to print LISTENING`).catch((err) => {
    killPid(proc.pid);
    throw new Error(`${err.message}; stderr: ${stderr()}`);
  });
  return { proc, port, exited, stderr };
}

/**
 * Starts servers/test-server.mjs with the given arguments (e.g. ['--mode',
 * 'sse']) and waits for its LISTENING line. Returns {port, url, pid, stop(),
 * stats(), expire(), stderr()}.
 */
export async function startServer(args = [], { timeout = 10000 } = {}) {
  const { proc, port, exited, stderr } = await spawnListening(TEST_SERVER, ['--port', '0', ...args], 'test-server', timeout);
  return serverHandle(proc, port, exited, stderr);
}

async function postJson(url, body) {
  return getJson(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
}

/**
 * Starts servers/vault-server.mjs (a Vault / OpenBao API stand-in) and waits
 * for its LISTENING line. Returns {port, addr (http://127.0.0.1:PORT), pid,
 * stop(), stderr(), stats(), admin(path, body)}; admin('kv2/put', {...})
 * POSTs to /admin/kv2/put and resolves with the parsed reply (throws on a
 * non-2xx status).
 */
export async function startVault(args = [], { timeout = 10000 } = {}) {
  const { proc, port, exited, stderr } = await spawnListening(VAULT_SERVER, ['--port', '0', ...args], 'vault-server', timeout);
  const addr = `http://127.0.0.1:${port}`;
  return {
    port,
    addr,
    pid: proc.pid,
    proc,
    exited,
    stderr,
    async stop() {
      killPid(proc.pid);
      await withTimeout(exited, 3000, `exit of vault-server pid ${proc.pid}`);
    },
    stats: () => getJson(`${addr}/admin/stats`),
    admin: (what, body) => postJson(`${addr}/admin/${what}`, body),
  };
}

/** POSTs {token} to a test-server's /admin/token (the token it accepts from now on). */
export function setUpstreamToken(server, token) {
  return postJson(`http://127.0.0.1:${server.port}/admin/token`, { token });
}

/** Starts @modelcontextprotocol/server-everything in streamableHttp mode. */
export async function startEverything({ timeout = 15000 } = {}) {
  const port = await freePort();
  const proc = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    cwd: NODE_DIR,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = trackChild(proc, 'server-everything');
  drain(proc.stdout, 16384);
  const stderr = drain(proc.stderr, 65536);
  let gone = false;
  exited.then(() => {
    gone = true;
  });
  await waitUntil(async () => {
    if (gone) throw new Error(`server-everything exited; stderr: ${stderr()}`);
    return canConnect(port);
  }, { timeout, interval: 50, what: `server-everything to accept connections on ${port}` })
    .catch((err) => {
      killPid(proc.pid);
      throw err;
    });
  const h = serverHandle(proc, port, exited, stderr);
  delete h.stats;
  delete h.expire;
  return h;
}

/** An SDK client connected straight to an upstream server (no mcpmux). */
export async function directClient(url, { timeout = 10000 } = {}) {
  const client = new Client({ name: 'mcpmux-tests-direct', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await withTimeout(client.connect(transport), timeout, `direct connect to ${url}`);
  clients.add(client);
  return client;
}

// ------------------------------------------------------------ config

/**
 * Writes an INI config into a fresh temp dir and returns its path.
 * cfg is either the file text, or
 *   { mcpmux: {key: value}, vault: {key: value}, connectors: { name: url | {key: value | [values]} } }
 * [mcpmux] defaults to call_timeout = 5, connect_timeout = 3; [vault] is
 * written only when given.
 */
export function writeConfig(cfg) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpmux-test-'));
  tmpDirs.add(dir);
  const file = path.join(dir, 'mcpmux.ini');
  fs.writeFileSync(file, typeof cfg === 'string' ? cfg : toIni(cfg));
  return file;
}

/** The INI text writeConfig() writes for a config object. */
export function toIni({ mcpmux = {}, vault, connectors = {} }) {
  const lines = ['[mcpmux]'];
  for (const [k, v] of Object.entries({ call_timeout: 5, connect_timeout: 3, ...mcpmux })) {
    lines.push(`${k} = ${v}`);
  }
  if (vault) {
    lines.push('', '[vault]');
    for (const [k, v] of Object.entries(vault)) lines.push(`${k} = ${v}`);
  }
  for (const [name, c] of Object.entries(connectors)) {
    lines.push('', `[connector "${name}"]`);
    const keys = typeof c === 'string' ? { url: c } : c;
    for (const [k, v] of Object.entries(keys)) {
      for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k} = ${one}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The environment for mcpmux: ours, with HOME and the XDG directories moved
 * into the config's temp dir so that nothing touches the real home.
 * XDG_RUNTIME_DIR is <config dir>/run (mode 0700), the same for every mcpmux
 * (serve, approve, ...) started with the same config path. An extra value of
 * undefined removes that variable.
 */
export function muxEnv(configPath, extra = {}) {
  const dir = path.dirname(configPath);
  const run = path.join(dir, 'run');
  fs.mkdirSync(run, { recursive: true, mode: 0o700 });
  fs.chmodSync(run, 0o700); // private: the approval sockets live in run/mcpmux/
  const env = {
    ...process.env,
    HOME: dir,
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    XDG_STATE_HOME: path.join(dir, 'state'),
    XDG_DATA_HOME: path.join(dir, 'data'),
    XDG_RUNTIME_DIR: run,
    ...extra,
  };
  if (!('MCPMUX_CONFIG' in extra)) delete env.MCPMUX_CONFIG;
  return env;
}

// ------------------------------------------------------------ mcpmux

function checkBin() {
  if (!fs.existsSync(BIN)) throw new Error(`mcpmux binary not found at ${BIN} (set MCPMUX_BIN)`);
}

/**
 * Starts `mcpmux serve -c configPath` and connects an SDK Client to it over
 * stdio. clientName is the clientInfo name the client sends. Returns
 * {client, transport, pid, stderr(), close()}.
 */
export async function connect(configPath, {
  env = {}, timeout = 10000, capabilities = {}, clientName = 'mcpmux-tests',
} = {}) {
  checkBin();
  const transport = new StdioClientTransport({
    command: BIN,
    args: ['serve', '-c', configPath],
    env: muxEnv(configPath, env),
    stderr: 'pipe',
    cwd: path.dirname(configPath),
  });
  let stderr = '';
  transport.stderr.setEncoding('utf8');
  transport.stderr.on('data', (d) => {
    stderr += d;
  });
  const client = new Client({ name: clientName, version: '0.0.0' }, { capabilities });
  const started = transport.start.bind(transport);
  let pid;
  transport.start = async () => {
    await started();
    pid = transport.pid;
    const proc = transport._process; // to learn when it exits
    if (proc) {
      const exited = trackChild(proc, 'mcpmux serve (SDK client)');
      trackMux(`mcpmux serve -c ${configPath} (SDK client, pid ${pid})`, () => stderr,
        () => proc.stdin.end(), exited);
    }
  };
  clients.add(client);
  try {
    await withTimeout(client.connect(transport), timeout, 'SDK client connect to mcpmux');
  } catch (err) {
    if (pid) killPid(pid);
    throw new Error(`${err.message}; mcpmux stderr: ${tail(stderr)}`);
  }
  return {
    client,
    transport,
    pid,
    stderr: () => stderr,
    async close() {
      clients.delete(client);
      await withTimeout(client.close(), 6000, 'client.close').catch(() => {});
      if (pid) killPid(pid);
    },
  };
}

/** tools/list through an SDK client, following nextCursor. */
export async function listAllTools(client, { timeout = 15000 } = {}) {
  const tools = [];
  let cursor;
  for (let page = 0; page < 1000; page++) {
    const res = await client.listTools(cursor ? { cursor } : {}, { timeout });
    tools.push(...res.tools);
    cursor = res.nextCursor;
    if (!cursor) return tools;
  }
  throw new Error('tools/list: more than 1000 pages');
}

/**
 * mcpmux with raw stdio: newline-delimited JSON-RPC, byte for byte.
 * messages: [{raw: Buffer (the line without \n), msg (parsed, or undefined),
 * parseError}].
 */
export class RawMux {
  constructor(proc) {
    this.proc = proc;
    this.pid = proc.pid;
    this.messages = [];
    this.stderrText = '';
    this.waiters = new Set();
    this.nextId = 1000;
    this.exited = trackChild(proc, 'mcpmux serve (raw)').then((r) => ({ ...r, at: Date.now() }));
    trackMux(`mcpmux ${proc.spawnargs.slice(1).join(' ')} (raw, pid ${proc.pid})`, () => this.stderrText,
      () => proc.stdin.end(), this.exited);
    let pending = [];
    proc.stdout.on('data', (chunk) => {
      let start = 0;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, start)) {
        pending.push(chunk.subarray(start, i));
        this.#line(Buffer.concat(pending));
        pending = [];
        start = i + 1;
      }
      if (start < chunk.length) pending.push(chunk.subarray(start));
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      this.stderrText += d;
    });
    proc.stdin.on('error', () => {}); // EPIPE after exit is the test's business
  }

  #line(raw) {
    if (raw.length && raw[raw.length - 1] === 13) raw = raw.subarray(0, raw.length - 1);
    const entry = { raw, at: Date.now() };
    try {
      entry.msg = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      entry.parseError = err.message;
    }
    this.messages.push(entry);
    for (const w of this.waiters) {
      if (w.pred(entry)) {
        this.waiters.delete(w);
        w.resolve(entry);
      }
    }
  }

  stderr() {
    return this.stderrText;
  }

  /** Writes a line: an object is JSON-encoded, a string/Buffer sent as is; adds \n. */
  send(x) {
    const data = typeof x === 'string' || Buffer.isBuffer(x) ? x : JSON.stringify(x);
    return new Promise((resolve, reject) => {
      this.proc.stdin.write(data, (err) => (err ? reject(err) : undefined));
      this.proc.stdin.write('\n', (err) => (err ? reject(err) : resolve()));
    });
  }

  /** The first line (already received or future) for which pred(entry) is true. */
  waitFor(pred, timeout = 5000, what = 'a matching message') {
    const found = this.messages.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        const last = this.messages.slice(-5).map((m) => m.raw.toString('utf8').slice(0, 300));
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; last lines: ${
          JSON.stringify(last)}; stderr: ${tail(this.stderrText)}`));
      }, timeout);
      w.resolve = (e) => {
        clearTimeout(timer);
        resolve(e);
      };
      this.waiters.add(w);
    });
  }

  /** The response (result or error) to id. */
  response(id, timeout = 5000) {
    return this.waitFor(
      (e) => e.msg && e.msg.id === id && ('result' in e.msg || 'error' in e.msg),
      timeout, `the response to id ${JSON.stringify(id)}`);
  }

  /** Sends a request and resolves with its response entry ({raw, msg}). */
  async request(method, params, { id = this.nextId++, timeout = 5000 } = {}) {
    const msg = { jsonrpc: '2.0', id, method };
    if (params !== undefined) msg.params = params;
    await this.send(msg);
    return this.response(id, timeout);
  }

  notify(method, params) {
    const msg = { jsonrpc: '2.0', method };
    if (params !== undefined) msg.params = params;
    return this.send(msg);
  }

  /** initialize + notifications/initialized; resolves with the initialize result. */
  async initialize(protocolVersion = '2025-11-25', { timeout = 5000 } = {}) {
    const { msg } = await this.request('initialize', {
      protocolVersion,
      capabilities: {},
      clientInfo: { name: 'mcpmux-tests-raw', version: '0.0.0' },
    }, { timeout });
    if (msg.error) throw new Error(`initialize failed: ${JSON.stringify(msg.error)}`);
    await this.notify('notifications/initialized');
    return msg.result;
  }

  closeStdin() {
    this.proc.stdin.end();
  }

  waitExit(timeout = 5000) {
    return withTimeout(this.exited, timeout, `mcpmux pid ${this.pid} to exit`);
  }

  kill() {
    killPid(this.pid);
  }

  /** Ends the process gracefully (stdin EOF, up to 2.5 s), else kills it. */
  async end() {
    this.closeStdin();
    await withTimeout(this.exited, 2500, 'mcpmux to exit on EOF').catch(() => this.kill());
  }
}

/** Spawns `mcpmux serve -c configPath` with raw pipes. */
export function rawSpawn(configPath, { env = {}, args } = {}) {
  checkBin();
  const proc = spawn(BIN, args ?? ['serve', '-c', configPath], {
    env: muxEnv(configPath, env),
    cwd: path.dirname(configPath),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return new RawMux(proc);
}

/**
 * Runs `mcpmux ...args` to completion (stdin left open unless closeStdin;
 * input, a string or Buffer, is written to stdin, which is then closed).
 * Resolves {code, signal, stdout, stderr, ms, timedOut, pid}.
 */
export async function runMux(args, {
  env = {}, timeout = 20000, configPath, closeStdin = false, input,
} = {}) {
  checkBin();
  const base = configPath ?? writeConfig('');
  const proc = spawn(BIN, args, {
    env: muxEnv(base, env),
    cwd: path.dirname(base),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const started = Date.now();
  const exited = trackChild(proc, `mcpmux ${args.join(' ')}`);
  proc.stdin.on('error', () => {});
  trackMux(`mcpmux ${args.join(' ')} (pid ${proc.pid})`, () => stderr, () => proc.stdin.end(), exited);
  if (input !== undefined) proc.stdin.end(input);
  else if (closeStdin) proc.stdin.end();
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => {
    stdout += d;
  });
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killPid(proc.pid);
  }, timeout);
  const { code, signal } = await exited;
  clearTimeout(timer);
  // let the pipes flush
  await Promise.all([
    new Promise((r) => (proc.stdout.readableEnded ? r() : proc.stdout.once('close', r))),
    new Promise((r) => (proc.stderr.readableEnded ? r() : proc.stderr.once('close', r))),
  ].map((p) => withTimeout(p, 2000, 'pipes').catch(() => {})));
  return { code, signal, stdout, stderr, ms: Date.now() - started, timedOut, pid: proc.pid };
}

/** SHA-256 hex of a string. */
export function sha256(s) {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * Environment overrides that remove every Vault/OpenBao variable, so that a
 * test's [vault] section alone decides (pass as connect()'s env, then add).
 */
export const NO_VAULT_ENV = Object.fromEntries(
  ['ADDR', 'TOKEN', 'NAMESPACE', 'CACERT', 'TOKEN_PATH'].flatMap((x) => [[`BAO_${x}`, undefined], [`VAULT_${x}`, undefined]]),
);

/** The tools every test-server has, in its order. */
export const BASE_TOOLS = ['echo', 'add', 'sleep', 'rich', 'big_schema'];

/** Lines of text that mention word. */
export function linesMentioning(text, word) {
  return text.split('\n').filter((l) => l.includes(word));
}

export const HOSTILE_SERVER = path.join(NODE_DIR, 'servers', 'hostile-server.mjs');

/**
 * Starts servers/hostile-server.mjs (raw HTTP, sends what a real SDK would
 * not) with a plan (see the server's header). Returns {port, url, pid, stop(),
 * log() (every MCP request it got), setPlan(plan), push(data) (a raw event
 * on the open GET streams)}.
 */
export async function startHostile(plan = {}, { timeout = 10000 } = {}) {
  const { proc, port, exited, stderr } = await spawnListening(HOSTILE_SERVER,
    ['--port', '0', '--plan', JSON.stringify(plan)], 'hostile-server', timeout);
  const h = serverHandle(proc, port, exited, stderr);
  const base = `http://127.0.0.1:${port}`;
  delete h.stats;
  delete h.expire;
  return {
    ...h,
    log: () => getJson(`${base}/admin/log`),
    setPlan: (p) => postJson(`${base}/admin/plan`, p),
    push: (data) => postJson(`${base}/admin/push`, { data }),
  };
}
