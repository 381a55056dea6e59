// Shared pieces of the mcpmux benchmark: starting the upstream server and the
// proxies, reading a process tree's memory and CPU from /proc, and making sure
// every process started here is killed, by PID, however the run ends.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(BENCH_DIR, '..');
export const MCPMUX = process.env.MCPMUX_BIN || path.join(REPO, 'mcpmux');
const BIN = path.join(BENCH_DIR, 'node_modules', '.bin');
export const MCP_REMOTE = path.join(BIN, 'mcp-remote');
export const SUPERGATEWAY = path.join(BIN, 'supergateway');
export const SERVER = path.join(BENCH_DIR, 'server.mjs');
export const STDIO_FLOOR = path.join(BENCH_DIR, 'stdio-floor.mjs');

// ------------------------------------------------------------ bookkeeping

const started = new Set(); // pids of every process started here (servers, proxies)
let tmpRoot = null;

/** A temp dir for this run (configs, the peers' HOME), removed at exit. */
export function tmpDir() {
  if (!tmpRoot) tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpmux-bench-'));
  return tmpRoot;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killPid(pid, sig = 'SIGKILL') {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Every pid whose parent chain leads to root, root included (from /proc). */
export function treePids(root) {
  const parent = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStat(Number(d));
    if (st) parent.set(Number(d), st.ppid);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    for (const [pid, ppid] of parent) if (ppid === out[i]) out.push(pid);
  }
  return out.filter((p) => parent.has(p));
}

/** Kills pid and its descendants (snapshot taken first), by PID. */
export function killTree(pid, sig = 'SIGKILL') {
  if (!pid) return;
  let pids = [pid];
  try {
    pids = treePids(pid);
  } catch {
    // /proc unreadable: the pid alone
  }
  for (const p of pids.reverse()) killPid(p, sig);
}

export function killAll() {
  for (const pid of started) killTree(pid);
  started.clear();
  if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
  tmpRoot = null;
}
process.on('exit', killAll);
for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.once(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping every process it started\n`);
    killAll();
    process.exit(128 + n);
  });
}

export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------ /proc

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function readStat(pid) {
  let s;
  try {
    s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]) };
}

/** CPU seconds of a process tree: { user, sys, total } (utime, stime). */
export function treeCpu(pid) {
  let u = 0;
  let s = 0;
  for (const p of treePids(pid)) {
    const st = readStat(p);
    if (st) {
      u += st.utime;
      s += st.stime;
    }
  }
  return { user: u / CLK_TCK, sys: s / CLK_TCK, total: (u + s) / CLK_TCK };
}

/** Sum of VmHWM (peak resident set) of a process tree, in KiB. */
export function treeHwmKiB(pid) {
  let kib = 0;
  for (const p of treePids(pid)) {
    try {
      const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kib += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kib;
}

/**
 * Private memory (USS: Private_Clean + Private_Dirty), Pss and Private_Dirty
 * alone of a process tree, in KiB, from /proc/PID/smaps_rollup: RSS counts
 * every resident page of the shared libraries a process maps (libcurl's TLS
 * stack for mcpmux), USS only the pages no other process maps right now (a
 * library's clean pages too, while nothing else maps it), PSS its share of
 * every page. Values at the moment of reading, not peaks.
 */
export function treeSmapsKiB(pid) {
  let uss = 0;
  let pss = 0;
  let dirty = 0;
  for (const p of treePids(pid)) {
    let s;
    try {
      s = fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
    } catch {
      continue; // gone
    }
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0);
    const d = field('Private_Dirty');
    uss += field('Private_Clean') + d;
    pss += field('Pss');
    dirty += d;
  }
  return { uss, pss, dirty };
}

// ------------------------------------------------------------ upstream server

/**
 * Starts bench/server.mjs; resolves to { port, pid, url(i), trace, stop() }.
 * url(i) is the i-th endpoint. With trace: true, trace is filled with one
 * { t, ep, http, rpc } per HTTP request as it arrives (t: ms since the epoch,
 * comparable with performance.timeOrigin + performance.now() here) when a
 * request arrives, and one with done: true when its response went out.
 */
export async function startServer({ endpoints = 1, tools = 2, latencyMs = 0, bigMib = 5, trace = false } = {}) {
  const args = [SERVER, '--endpoints', String(endpoints), '--tools', String(tools),
    '--latency-ms', String(latencyMs), '--big-mib', String(bigMib), ...(trace ? ['--trace'] : [])];
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  started.add(proc.pid);
  let err = '';
  let partial = '';
  const traced = [];
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    if (!trace) {
      err = (err + d).slice(-4000);
      return;
    }
    const lines = (partial + d).split('\n');
    partial = lines.pop();
    for (const l of lines) {
      const m = /^(\d+\.\d+) ms \/mcp\/(\d+) (\S+) (\S+)( done)?$/.exec(l);
      if (m) traced.push({ t: Number(m[1]), ep: Number(m[2]), http: m[3], rpc: m[4], done: !!m[5] });
      else err = (err + l + '\n').slice(-4000);
    }
  });
  const exited = new Promise((r) => proc.once('exit', r));
  const port = await withTimeout(new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /LISTENING (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`bench server exited (${code}): ${err}`)));
  }), 15000, 'bench server to listen');
  return {
    port,
    pid: proc.pid,
    trace: traced,
    url: (i = 0) => `http://127.0.0.1:${port}/mcp/${i}`,
    async stop() {
      killPid(proc.pid, 'SIGTERM');
      await withTimeout(exited, 3000, 'bench server exit').catch(() => killPid(proc.pid));
      started.delete(proc.pid);
    },
  };
}

// ------------------------------------------------------------ proxies

/** Writes an mcpmux config naming the given connectors; returns its path. */
export function muxConfig(name, connectors) {
  const lines = [
    '; written by bench/: no audit log, no approvals, no credentials',
    '[mcpmux]',
    'audit_log = off',
    'call_timeout = 120',
    'connect_timeout = 60',
    '[vault]',
    'type = none',
  ];
  for (const { alias, url } of connectors) {
    lines.push(`[connector "${alias}"]`, `url = ${url}`, `alias = ${alias}`, 'approval = auto');
  }
  const file = path.join(tmpDir(), `${name}.ini`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

/**
 * The contenders. spawn(url) returns { command, args } for a stdio proxy, or
 * null for the floor (the SDK client over HTTP, no proxy).
 */
export const PROXIES = {
  floor: {
    label: 'SDK direct (floor)',
    short: 'floor',
    stdio: null,
  },
  'stdio-floor': {
    label: 'stdio floor (no proxy)',
    short: 'stdio floor',
    // Not a proxy: bench/stdio-floor.mjs answers from memory, no upstream. What
    // the SDK client's stdio transport costs by itself, for every stdio row.
    stdio: () => ({ command: process.execPath, args: [STDIO_FLOOR, '--big-mib', '5'] }),
  },
  mcpmux: {
    label: 'mcpmux',
    short: 'mcpmux',
    stdio: (url) => ({ command: MCPMUX, args: ['serve', '-c', muxConfig('one', [{ alias: 'up', url }])] }),
  },
  'mcp-remote': {
    label: 'mcp-remote',
    short: 'mcp-remote',
    // Auth is lazy in mcp-remote: with a server that never answers 401 it
    // never starts OAuth (no callback server, no browser), so nothing else is
    // needed; HOME points at a temp dir so its ~/.mcp-auth stays out of ours.
    stdio: (url) => ({ command: process.execPath, args: [MCP_REMOTE, url, '--silent', '--transport', 'http-only'] }),
  },
  supergateway: {
    label: 'supergateway',
    short: 'supergateway',
    // --streamableHttp URL: stdio on our side, Streamable HTTP client to URL.
    stdio: (url) => ({ command: process.execPath, args: [SUPERGATEWAY, '--streamableHttp', url, '--logLevel', 'none'] }),
  },
};

/** Environment of a stdio proxy: a temp HOME, so the peers' state stays out of ours. */
function proxyEnv() {
  const home = path.join(tmpDir(), 'home');
  fs.mkdirSync(home, { recursive: true });
  return { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', MCP_REMOTE_CONFIG_DIR: path.join(home, '.mcp-auth') };
}

/**
 * The floor's fetch: Node's own, but POSTs go without the transport's shared
 * AbortSignal. With it, Node 20's fetch (undici) adds an abort listener to that
 * one signal per request, released only when the request is garbage-collected,
 * and past 1500 of them prints a MaxListenersExceededWarning (with a stack
 * trace) for every request: thousands of calls in one session would then
 * measure the warnings. The GET stream keeps the signal so that close() ends it.
 */
function floorFetch(url, init = {}) {
  if ((init.method ?? 'GET') === 'GET') return fetch(url, init);
  const { signal, ...rest } = init;
  return fetch(url, rest);
}

/**
 * Starts a contender and connects an SDK client to it (that is the initialize
 * exchange). Resolves to { client, pid, t0, stderr(), close() }; t0 is the
 * performance.now() just before the spawn.
 */
export async function connect(proxy, url, { timeoutMs = 30000 } = {}) {
  const client = new Client({ name: 'mcpmux-bench', version: '1.0.0' });
  let transport;
  let pid = null;
  let err = '';
  const spec = proxy.stdio ? proxy.stdio(url) : null;
  const env = proxyEnv();
  const t0 = performance.now();
  if (spec) {
    transport = new StdioClientTransport({
      command: spec.command,
      args: spec.args,
      env,
      stderr: 'pipe',
    });
    transport.stderr?.setEncoding('utf8');
    transport.stderr?.on('data', (d) => { err = (err + d).slice(-4000); });
  } else {
    transport = new StreamableHTTPClientTransport(new URL(url), { fetch: floorFetch });
  }
  const closeIt = async () => {
    await withTimeout(client.close(), 5000, `close ${proxy.label}`).catch(() => {});
    if (pid !== null) {
      if (alive(pid)) killTree(pid);
      started.delete(pid);
    }
  };
  try {
    const connecting = client.connect(transport);
    if (spec) {
      pid = transport.pid;
      if (pid) started.add(pid);
    }
    await withTimeout(connecting, timeoutMs, `${proxy.label}: initialize`);
  } catch (e) {
    await closeIt();
    throw new Error(`${e.message}${err ? `\n--- ${proxy.label} stderr:\n${err}` : ''}`);
  }
  return { client, pid, t0, stderr: () => err, close: closeIt };
}

/**
 * A client without the SDK: spawns command with plain pipes and writes
 * initialize (id 0), notifications/initialized and tools/list (id 1) in one
 * go. stdout is read as bytes and only the line answering id 1 is parsed, so
 * the time is the proxy's, not a client's JSON parsing and schema validation.
 * Resolves, once the process has exited, to { t0, at, tools }:
 * performance.now() just before the spawn and when the newline ending that
 * answer arrived, and the answer's tool count. An answer with a nextCursor
 * fails: only one page is read.
 */
export async function rawToolsList(command, args, { timeoutMs = 60000, label = command } = {}) {
  const env = proxyEnv();
  const lines = [
    { jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench-raw', version: '0' } } },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 1, method: 'tools/list' },
  ].map((m) => `${JSON.stringify(m)}\n`).join('');
  const t0 = performance.now();
  const proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
  started.add(proc.pid);
  const exited = new Promise((r) => proc.once('exit', r));
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  proc.stdin.on('error', () => {}); // EPIPE if it died: reported by the exit below
  proc.stdin.write(lines);
  try {
    const answer = await withTimeout(new Promise((resolve, reject) => {
      let parts = []; // the line so far, as chunks: concatenated once, at its newline
      proc.stdout.on('data', (chunk) => {
        const at = performance.now();
        let from = 0;
        for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, from)) {
          parts.push(chunk.subarray(from, nl));
          from = nl + 1;
          const line = parts.length === 1 ? parts[0] : Buffer.concat(parts);
          parts = [];
          if (!line.includes('"id":1,')) continue;
          const msg = JSON.parse(line.toString('utf8'));
          if (msg.id !== 1) continue;
          if (!Array.isArray(msg.result?.tools)) {
            reject(new Error(`${label}: tools/list answered ${line.toString('utf8').slice(0, 300)}`));
          } else if (msg.result.nextCursor !== undefined) {
            // Only the first page is read here, so the time would be wrong.
            reject(new Error(`${label}: tools/list has a nextCursor: more than one page, the raw client reads one`));
          } else {
            resolve({ at, tools: msg.result.tools.length });
          }
          return;
        }
        if (from < chunk.length) parts.push(chunk.subarray(from));
      });
      proc.once('exit', (code, sig) => reject(new Error(`${label} exited (${code ?? sig}) before answering tools/list`)));
    }), timeoutMs, `${label}: raw tools/list`);
    proc.stdin.end();
    await withTimeout(exited, 3000, `${label} exit`).catch(() => killTree(proc.pid));
    return { t0, ...answer };
  } catch (e) {
    throw new Error(`${e.message}${err ? `\n--- ${label} stderr:\n${err}` : ''}`);
  } finally {
    if (alive(proc.pid)) killTree(proc.pid);
    started.delete(proc.pid);
  }
}

/** Every tool, following nextCursor. */
export async function listAll(client) {
  const tools = [];
  let cursor;
  do {
    const r = await client.listTools(cursor ? { cursor } : undefined);
    tools.push(...r.tools);
    cursor = r.nextCursor;
  } while (cursor);
  return tools;
}

export function versionOf(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `unknown (${e.message.split('\n')[0]})`;
  }
}

export function pkgVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(BENCH_DIR, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'not installed';
  }
}
