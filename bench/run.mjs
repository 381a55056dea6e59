#!/usr/bin/env node
// mcpmux benchmark (`make bench`): the same upstream MCP server (bench/server.mjs,
// official SDK, Streamable HTTP, JSON responses) reached by the official SDK
// client directly over HTTP (the floor), through mcpmux, through mcp-remote and
// through supergateway, on 127.0.0.1 only. Every figure is the median of
// interleaved rounds (each round runs every contender once, the order rotating
// from round to round) with the min-max. Writes bench/RESULTS.md and
// bench/latency.png and prints the tables. Slow numbers never fail the run;
// a contender that does not work does (exit 1, after writing what it has).
// `node bench/run.mjs --findings-only` only copies bench/findings.md into RESULTS.md.
//
// Environment (defaults in brackets; BENCH_QUICK=1 gives the second one):
//   BENCH_ROUNDS [5|2]  BENCH_WARMUP [50|20]  BENCH_CALLS [500|100]
//   BENCH_TPUT_CALLS [2000|400]  BENCH_INFLIGHT [32]  BENCH_BIG_CALLS [5|2]
//   BENCH_FANOUT_ROUNDS [5|2]  BENCH_SCALE_ROUNDS [3|1]  BENCH_WARM_ROUND [1] (0: none)
//   BENCH_PROXIES [floor,stdio-floor,mcpmux,mcp-remote,supergateway]
//   BENCH_OUT [bench/]  BENCH_TIMEOUT_S [570]  MCPMUX_BIN [./mcpmux]
//   BENCH_MCPMUX_NOTE (where MCPMUX_BIN was built from, for RESULTS.md)

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BENCH_DIR, MCPMUX, MCP_REMOTE, PROXIES, REPO, SUPERGATEWAY,
  connect, killAll, listAll, muxConfig, pkgVersion, rawToolsList, sleep, startServer, treeCpu,
  treeHwmKiB, treeSmapsKiB, versionOf, withTimeout,
} from './lib.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
function envNum(name, full, quick) {
  const v = process.env[name] ?? String(QUICK ? quick : full);
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`bench: ${name}=${v} is not a whole number\n`);
    process.exit(2);
  }
  return n;
}
const C = {
  rounds: Math.max(1, envNum('BENCH_ROUNDS', 5, 2)),
  warmup: envNum('BENCH_WARMUP', 50, 20),
  calls: Math.max(1, envNum('BENCH_CALLS', 500, 100)),
  tput: Math.max(1, envNum('BENCH_TPUT_CALLS', 2000, 400)),
  inflight: Math.max(1, envNum('BENCH_INFLIGHT', 32, 32)),
  big: Math.max(1, envNum('BENCH_BIG_CALLS', 5, 2)),
  bigMib: 5,
  fanRounds: envNum('BENCH_FANOUT_ROUNDS', 5, 2),
  fanN: 10,
  fanLatency: 20,
  fanTools: 50,
  scaleRounds: envNum('BENCH_SCALE_ROUNDS', 3, 1),
  scaleN: 100,
  scaleTools: 100,
  timeoutS: envNum('BENCH_TIMEOUT_S', 570, 570),
  warmRound: envNum('BENCH_WARM_ROUND', 1, 1) > 0,
};
const KEYS = (process.env.BENCH_PROXIES ?? 'floor,stdio-floor,mcpmux,mcp-remote,supergateway')
  .split(',').map((s) => s.trim()).filter(Boolean);
for (const k of KEYS) {
  if (!PROXIES[k]) {
    process.stderr.write(`bench: unknown contender ${k} (known: ${Object.keys(PROXIES).join(', ')})\n`);
    process.exit(2);
  }
}
const OUT = path.resolve(process.env.BENCH_OUT ?? BENCH_DIR);

const log = (s) => process.stderr.write(`${s}\n`);
const now = () => performance.now();

// The whole run is bounded: past the limit everything started is killed.
const watchdog = setTimeout(() => {
  log(`bench: still running after ${C.timeoutS} s (BENCH_TIMEOUT_S), stopping every process it started`);
  killAll();
  process.exit(1);
}, C.timeoutS * 1000);
watchdog.unref();

// ------------------------------------------------------------ statistics

const sorted = (a) => [...a].sort((x, y) => x - y);
function pct(a, p) {
  const s = sorted(a);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}
const median = (a) => {
  const s = sorted(a);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** { med, min, max } of the numbers in a (nulls dropped), or null. */
function agg(a) {
  const v = a.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return null;
  return { med: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

// ------------------------------------------------------------ the suites

function findTool(tools, name) {
  const t = tools.find((x) => x.name === name || x.name.endsWith(`__${name}`));
  if (!t) throw new Error(`no ${name} tool in ${tools.map((x) => x.name).join(', ')}`);
  return t.name;
}

function checkText(res, want, what) {
  const text = res?.content?.[0]?.text;
  if (res?.isError || typeof text !== 'string') throw new Error(`${what}: bad result ${JSON.stringify(res).slice(0, 300)}`);
  if (want !== null && (typeof want === 'number' ? text.length !== want : text !== want)) {
    throw new Error(`${what}: wrong result (${text.length} chars)`);
  }
}

/** One contender, one round: every per-proxy figure. */
async function suite(key, url) {
  const p = PROXIES[key];
  const c = await connect(p, url);
  try {
    const m = { init: now() - c.t0 };
    const tools = await withTimeout(listAll(c.client), 30000, `${p.label}: tools/list`);
    m.list = now() - c.t0;
    const echo = findTool(tools, 'echo');
    const big = findTool(tools, 'big');
    const echoCall = async (i) => {
      const text = `ping ${i}`;
      checkText(await c.client.callTool({ name: echo, arguments: { text } }), text, `${p.label} echo`);
    };
    const cpu0 = c.pid ? treeCpu(c.pid) : null;
    for (let i = 0; i < C.warmup; i++) await echoCall(i);
    const lat = new Array(C.calls);
    for (let i = 0; i < C.calls; i++) {
      const s = now();
      await echoCall(i);
      lat[i] = now() - s;
    }
    m.p50 = pct(lat, 0.5);
    m.p99 = pct(lat, 0.99);
    let next = 0;
    const worker = async () => {
      while (next < C.tput) await echoCall(next++);
    };
    const ts = now();
    await withTimeout(Promise.all(Array.from({ length: C.inflight }, worker)), 120000, `${p.label}: throughput`);
    m.cps = C.tput / ((now() - ts) / 1000);
    if (c.pid) {
      const cpu1 = treeCpu(c.pid);
      const per1000 = 1000 / (C.warmup + C.calls + C.tput);
      m.cpu = (cpu1.total - cpu0.total) * per1000;
      m.cpuSys = (cpu1.sys - cpu0.sys) * per1000;
      m.rssEcho = treeHwmKiB(c.pid);
      m.dirtyEcho = treeSmapsKiB(c.pid).dirty;
    }
    const bigBytes = C.bigMib * 1024 * 1024;
    checkText(await c.client.callTool({ name: big, arguments: {} }), bigBytes, `${p.label} big`); // warm-up
    const bt = [];
    for (let i = 0; i < C.big; i++) {
      const s = now();
      checkText(await c.client.callTool({ name: big, arguments: {} }), bigBytes, `${p.label} big`);
      bt.push(now() - s);
    }
    m.big = median(bt);
    if (c.pid) m.rssBig = treeHwmKiB(c.pid);
    return m;
  } catch (e) {
    const err = c.stderr();
    throw new Error(`${e.message}${err ? `\n--- ${p.label} stderr (tail):\n${err.slice(-1500)}` : ''}`);
  } finally {
    await c.close();
  }
}

/** An mcpmux config with `n` connectors c0 .. c{n-1}, one per endpoint of `server`. */
const manyConfig = (server, n, tag) => muxConfig(tag, Array.from({ length: n }, (_, i) => ({ alias: `c${i}`, url: server.url(i) })));

/** mcpmux in front of `n` connectors of `server`: catalog timings, RSS, CPU. */
async function muxMany(server, n, tag, { perConnectorCall = false } = {}) {
  const traceFrom = server.trace.length;
  const cfg = manyConfig(server, n, tag);
  const proxy = { label: `mcpmux (${tag})`, stdio: () => ({ command: MCPMUX, args: ['serve', '-c', cfg] }) };
  const c = await connect(proxy, null, { timeoutMs: 60000 });
  try {
    const m = { init: now() - c.t0 };
    const tools = await withTimeout(listAll(c.client), 60000, `${proxy.label}: tools/list`);
    m.list = now() - c.t0;
    m.tools = tools.length;
    // What the server saw meanwhile (arrival times, ms since the epoch).
    const seen = server.trace.slice(traceFrom);
    if (seen.length) {
      const spawnAt = performance.timeOrigin + c.t0;
      const listAt = performance.timeOrigin + c.t0 + m.list;
      const at = (rpc, done) => seen.filter((x) => x.rpc === rpc && x.done === done && x.t <= listAt);
      const firstInit = Math.min(...at('initialize', false).map((x) => x.t));
      const lastList = Math.max(...at('tools/list', true).map((x) => x.t));
      m.phaseStart = firstInit - spawnAt;
      m.phaseHandshake = lastList - firstInit;
      m.phaseList = listAt - lastList;
      m.requests = seen.filter((x) => !x.done && x.t <= listAt).length;
      // Per connector: time inside the server (arrival -> response out, the
      // added latency included) for its three handshake requests, and time on
      // mcpmux's side between a response going out and the next request arriving.
      const srv = [];
      const gap = [];
      for (let ep = 0; ep < n; ep++) {
        const ev = (rpc, done) => seen.find((x) => x.ep === ep && x.rpc === rpc && x.done === done)?.t;
        const seq = ['initialize', 'notifications/initialized', 'tools/list'].map((r) => [ev(r, false), ev(r, true)]);
        if (seq.some(([a, d]) => a === undefined || d === undefined)) continue;
        srv.push(seq.reduce((s, [a, d]) => s + (d - a), 0));
        gap.push(seq[1][0] - seq[0][1] + (seq[2][0] - seq[1][1]));
      }
      if (srv.length) {
        m.srvTime = median(srv);
        m.gapTime = median(gap);
      }
    }
    let s = now();
    await listAll(c.client);
    m.list2 = now() - s;
    if (perConnectorCall) {
      s = now();
      await Promise.all(Array.from({ length: n }, (_, i) => c.client.callTool({ name: `c${i}__echo`, arguments: { text: 'x' } })
        .then((r) => checkText(r, 'x', `${proxy.label} c${i}__echo`))));
      m.callAll = now() - s;
      s = now();
      checkText(await c.client.callTool({ name: 'c0__echo', arguments: { text: 'y' } }), 'y', `${proxy.label} c0__echo`);
      m.call1 = now() - s;
    }
    m.rss = treeHwmKiB(c.pid);
    ({ uss: m.uss, pss: m.pss, dirty: m.dirty } = treeSmapsKiB(c.pid));
    m.cpu = treeCpu(c.pid).total;
    return m;
  } catch (e) {
    const err = c.stderr();
    throw new Error(`${e.message}${err ? `\n--- ${proxy.label} stderr (tail):\n${err.slice(-1500)}` : ''}`);
  } finally {
    await c.close();
  }
}

/**
 * The same mcpmux as muxMany, asked by a raw client (no SDK, see rawToolsList):
 * spawn → merged tools/list at the client, and how much of that came after the
 * server's last tools/list response went out (traced as in muxMany).
 */
async function muxRaw(server, n, tag) {
  const traceFrom = server.trace.length;
  const label = `mcpmux (${tag}, raw client)`;
  const r = await rawToolsList(MCPMUX, ['serve', '-c', manyConfig(server, n, tag)], { timeoutMs: 60000, label });
  const m = { list: r.at - r.t0, tools: r.tools };
  const atEpoch = performance.timeOrigin + r.at;
  const lists = () => server.trace.slice(traceFrom).filter((x) => x.rpc === 'tools/list' && x.done && x.t <= atEpoch);
  // The server logs "done" after handing the response to the OS, on a pipe of
  // its own: give a line that is still on its way a moment to arrive.
  for (let i = 0; i < 100 && lists().length < n; i++) await sleep(10);
  if (lists().length) m.afterLastList = atEpoch - Math.max(...lists().map((x) => x.t));
  return m;
}

/** Reference: the SDK client itself opening n sessions at once (init + tools/list each). */
async function directMany(server, n) {
  const t0 = now();
  const conns = [];
  try {
    await withTimeout(Promise.all(Array.from({ length: n }, async (_, i) => {
      const c = await connect(PROXIES.floor, server.url(i));
      conns.push(c);
      await listAll(c.client);
    })), 60000, `SDK direct x${n}`);
    return now() - t0;
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
}

// ------------------------------------------------------------ formatting

const fmt = (x, d) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));
const cell = (a, d) => (a ? `${fmt(a.med, d)} (${fmt(a.min, d)}–${fmt(a.max, d)})` : 'n/a');
const MB = (kib) => (kib * 1024) / 1e6;
function ratio(a, b, d = 2) {
  if (!a || !b || !b.med) return 'n/a';
  return `${(a.med / b.med).toFixed(d)}×`;
}

const METRICS = [
  { key: 'init', name: 'spawn → `initialize` answered', unit: 'ms', d: 1, better: 'lower' },
  { key: 'list', name: 'spawn → first `tools/list` answered', unit: 'ms', d: 1, better: 'lower' },
  { key: 'p50', name: 'echo call p50 (sequential)', unit: 'ms', d: 3, better: 'lower' },
  { key: 'p99', name: 'echo call p99 (sequential)', unit: 'ms', d: 3, better: 'lower' },
  { key: 'cps', name: 'echo calls/s, 32 in flight', unit: 'calls/s', d: 0, better: 'higher' },
  { key: 'big', name: '5 MiB result, time per call', unit: 'ms', d: 1, better: 'lower' },
  { key: 'rssEcho', name: 'peak RSS of proxy tree, echo load', unit: 'MB', d: 1, better: 'lower', conv: MB },
  { key: 'rssBig', name: 'peak RSS of proxy tree, after 5 MiB results', unit: 'MB', d: 1, better: 'lower', conv: MB },
  { key: 'dirtyEcho', name: 'memory written by the proxy tree (Private_Dirty), echo load', unit: 'MB', d: 1, better: 'lower', conv: MB },
  { key: 'cpu', name: 'proxy CPU per 1000 echo calls', unit: 's', d: 3, better: 'lower' },
  { key: 'cpuSys', name: '… of which in the kernel (stime)', unit: 's', d: 3, better: 'lower' },
];

function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

// ------------------------------------------------------------ chart

function gnuplotTerminal() {
  const r = spawnSync('gnuplot', ['-e', 'set terminal'], { encoding: 'utf8', timeout: 10000 });
  if (r.error) return null;
  const all = `${r.stdout}${r.stderr}`;
  if (/\bpngcairo\b/.test(all)) return "pngcairo size 960,560 font 'Sans,11'";
  if (/\bpng\b/.test(all)) return 'png size 960,560';
  return null;
}

function chart(res, labels, file) {
  const term = gnuplotTerminal();
  if (!term) {
    log('bench: gnuplot (pngcairo/png) not found, no chart: apt-get install -y gnuplot-nox');
    return false;
  }
  const dat = path.join(path.dirname(file), '.latency.dat');
  const rows = [];
  for (const k of KEYS) {
    const a = res[k].p50;
    const b = res[k].p99;
    if (!a || !b) continue;
    rows.push(`"${labels[k]}" ${a.med} ${a.min} ${a.max} ${b.med} ${b.min} ${b.max}`);
  }
  fs.writeFileSync(dat, `${rows.join('\n')}\n`);
  const q = (s) => s.replace(/'/g, "''");
  // Two panels, p50 and p99, each on its own scale; a bar per contender with
  // the min-max over rounds as an error bar and the median written above it.
  const panel = (col, what, color) => [
    `set title "${what}"`,
    `plot '${q(dat)}' using ${col}:${col + 1}:${col + 2}:xtic(1) notitle lc rgb '${color}', \\`,
    `     '' using ($0):${col + 2}:(sprintf('%.3f', $${col})) with labels offset 0,0.8 notitle`,
  ];
  const script = [
    `set terminal ${term}`,
    `set output '${q(file)}'`,
    `set multiplot layout 1,2 title "echo tools/call latency, ${C.calls} sequential calls per round: median of ${C.rounds} rounds (bars: min–max over rounds)"`,
    "set ylabel 'ms per call'",
    'set style data histograms',
    'set style histogram errorbars gap 1 lw 1.5',
    'set style fill solid 0.85 border -1',
    'set yrange [0:*]',
    'set offsets 0, 0, graph 0.1, 0',
    'set grid ytics',
    'set xtics nomirror rotate by -20',
    `set xrange [-0.6:${rows.length - 0.4}]`,
    ...panel(2, 'p50', '#4e79a7'),
    ...panel(5, 'p99', '#f28e2b'),
    'unset multiplot',
  ].join('\n');
  const r = spawnSync('gnuplot', [], { input: script, encoding: 'utf8', timeout: 30000 });
  fs.rmSync(dat, { force: true });
  if (r.status !== 0) {
    log(`bench: gnuplot failed: ${r.stderr}`);
    return false;
  }
  return true;
}

// ------------------------------------------------------------ machine

/**
 * CPU ticks busy on the whole machine (/proc/stat) and used by this process
 * and its reaped children (/proc/self/stat): their difference over the run is
 * what other processes took, which shows in the figures.
 */
function cpuTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0); // user nice system irq softirq steal
  const st = fs.readFileSync('/proc/self/stat', 'utf8');
  const g = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number); // g[0] is field 3
  return { busy, own: g[11] + g[12] + g[13] + g[14], wall: performance.now() };
}

function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  const memKiB = Number(/^MemTotal:\s+(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const git = (args) => versionOf('git', ['-C', REPO, ...args]);
  const dirty = git(['status', '--porcelain', '--', 'src', 'include', 'Makefile']);
  // A binary from elsewhere (MCPMUX_BIN) says where it came from in BENCH_MCPMUX_NOTE.
  const built = process.env.MCPMUX_BIN
    ? `${MCPMUX}${process.env.BENCH_MCPMUX_NOTE ? ` (${process.env.BENCH_MCPMUX_NOTE})` : ''}`
    : `./mcpmux of this work tree at commit ${git(['rev-parse', '--short', 'HEAD'])}${dirty ? ' (src/, include/ or Makefile had uncommitted changes)' : ''}`;
  return {
    nproc: versionOf('nproc', []),
    model,
    ram: `${(memKiB / 1024 / 1024).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    mcpmux: versionOf(MCPMUX, ['--version']).split('\n')[0],
    mcpmuxFull: versionOf(MCPMUX, ['--version']).split('\n').join('; '),
    commit: built,
    node: process.version,
    sdk: pkgVersion('@modelcontextprotocol/sdk'),
    mcpRemote: `${pkgVersion('mcp-remote')}`,
    supergateway: `${pkgVersion('supergateway')} (\`--version\`: ${versionOf(process.execPath, [SUPERGATEWAY, '--version'])})`,
  };
}

// ------------------------------------------------------------ main

async function main() {
  const errors = [];
  const M = machine();
  const loadStart = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const ticks0 = cpuTicks();
  if (Number(loadStart.split(' ')[0]) > 0.5) {
    log(`bench: load average ${loadStart} before starting: other work on this machine will show in the figures`);
  }
  const labels = Object.fromEntries(KEYS.map((k) => [k, PROXIES[k].label]));
  log(`bench: ${QUICK ? 'QUICK run' : 'full run'}: ${C.rounds} rounds of ${KEYS.join(', ')}; ` +
    `${C.warmup}+${C.calls} sequential calls, ${C.tput} calls at ${C.inflight} in flight, ${C.big}+1 × ${C.bigMib} MiB`);
  if (!fs.existsSync(MCPMUX)) throw new Error(`${MCPMUX} not found: run make first`);
  for (const f of [MCP_REMOTE, SUPERGATEWAY]) {
    if (!fs.existsSync(f)) throw new Error(`${f} not found: run (cd bench && npm ci)`);
  }

  // ---- the per-proxy suites, interleaved
  const raw = Object.fromEntries(KEYS.map((k) => [k, []]));
  const server = await startServer({ endpoints: 1, tools: 2, latencyMs: 0, bigMib: C.bigMib });
  try {
    // One round that is not counted: the driver's own JIT, the server's and
    // the page cache warm up on every contender's path first.
    if (C.warmRound) {
      for (const k of KEYS) {
        try {
          await suite(k, server.url(0));
        } catch (e) {
          errors.push(`${k}, warm-up round: ${e.message}`);
          log(`  warm-up ${k}: FAILED: ${e.message}`);
        }
      }
      log(`  warm-up round done (not counted)`);
    }
    for (let r = 0; r < C.rounds; r++) {
      const order = KEYS.map((_, i) => KEYS[(i + r) % KEYS.length]);
      for (const k of order) {
        const s = now();
        try {
          const m = await suite(k, server.url(0));
          raw[k].push(m);
          log(`  round ${r + 1}/${C.rounds} ${k.padEnd(12)} init ${fmt(m.init, 1)} ms, list ${fmt(m.list, 1)} ms, ` +
            `p50 ${fmt(m.p50, 3)} ms, p99 ${fmt(m.p99, 3)} ms, ${fmt(m.cps, 0)} calls/s, 5 MiB ${fmt(m.big, 1)} ms, ` +
            `RSS ${m.rssBig ? fmt(MB(m.rssBig), 1) : 'n/a'} MB, dirty ${m.dirtyEcho ? fmt(MB(m.dirtyEcho), 1) : 'n/a'} MB, CPU/1000 ${fmt(m.cpu ?? null, 3)} s ` +
            `[${((now() - s) / 1000).toFixed(1)} s]`);
        } catch (e) {
          errors.push(`${k}, round ${r + 1}: ${e.message}`);
          log(`  round ${r + 1}/${C.rounds} ${k}: FAILED: ${e.message}`);
        }
      }
    }
  } finally {
    await server.stop();
  }
  const res = {};
  for (const k of KEYS) {
    res[k] = {};
    for (const mt of METRICS) {
      res[k][mt.key] = agg(raw[k].map((m) => (m[mt.key] === undefined ? null : (mt.conv ? mt.conv(m[mt.key]) : m[mt.key]))));
    }
  }

  // ---- fan-out: 10 connectors 20 ms away (mcpmux only)
  const fan = [];
  const fanDirect = [];
  if (C.fanRounds && KEYS.includes('mcpmux')) {
    const fs2 = await startServer({ endpoints: C.fanN, tools: C.fanTools, latencyMs: C.fanLatency, bigMib: 0, trace: true });
    try {
      for (let r = 0; r < C.fanRounds; r++) {
        try {
          const m = await muxMany(fs2, C.fanN, 'fanout', { perConnectorCall: true });
          if (m.tools !== C.fanN * C.fanTools) throw new Error(`fan-out: ${m.tools} tools, expected ${C.fanN * C.fanTools}`);
          fan.push(m);
          const raw = await muxRaw(fs2, C.fanN, 'fanout');
          if (raw.tools !== C.fanN * C.fanTools) throw new Error(`fan-out, raw client: ${raw.tools} tools, expected ${C.fanN * C.fanTools}`);
          m.rawList = raw.list;
          m.rawAfterList = raw.afterLastList;
          const d = await directMany(fs2, C.fanN);
          fanDirect.push(d);
          log(`  fan-out ${r + 1}/${C.fanRounds}: mcpmux init ${fmt(m.init, 1)} ms, tools/list ${fmt(m.list, 1)} ms from spawn ` +
            `(raw client: ${fmt(m.rawList, 1)} ms, again: ${fmt(m.list2, 1)} ms), one call on each connector ${fmt(m.callAll, 1)} ms, ` +
            `RSS ${fmt(MB(m.rss), 1)} MB, USS ${fmt(MB(m.uss), 1)} MB; SDK direct x${C.fanN}: ${fmt(d, 1)} ms`);
        } catch (e) {
          errors.push(`fan-out, round ${r + 1}: ${e.message}`);
          log(`  fan-out ${r + 1}: FAILED: ${e.message}`);
        }
      }
    } finally {
      await fs2.stop();
    }
  }

  // ---- scale: 100 connectors x 100 tools (mcpmux only), one server process
  const scale = [];
  const scaleDirect = [];
  if (C.scaleRounds && KEYS.includes('mcpmux')) {
    const ss = await startServer({ endpoints: C.scaleN, tools: C.scaleTools, latencyMs: 0, bigMib: 0 });
    try {
      for (let r = 0; r < C.scaleRounds; r++) {
        try {
          const m = await muxMany(ss, C.scaleN, 'scale');
          if (m.tools !== C.scaleN * C.scaleTools) throw new Error(`scale: ${m.tools} tools, expected ${C.scaleN * C.scaleTools}`);
          scale.push(m);
          const d = await directMany(ss, C.scaleN);
          scaleDirect.push(d);
          log(`  scale ${r + 1}/${C.scaleRounds}: mcpmux catalog (spawn → tools/list, ${m.tools} tools) ${fmt(m.list, 1)} ms, ` +
            `again ${fmt(m.list2, 1)} ms, RSS ${fmt(MB(m.rss), 1)} MB, CPU ${fmt(m.cpu, 2)} s; SDK direct x${C.scaleN}: ${fmt(d, 1)} ms`);
        } catch (e) {
          errors.push(`scale, round ${r + 1}: ${e.message}`);
          log(`  scale ${r + 1}: FAILED: ${e.message}`);
        }
      }
    } finally {
      await ss.stop();
    }
  }

  // ---- report
  const ticks1 = cpuTicks();
  const clk = Number(versionOf('getconf', ['CLK_TCK'])) || 100;
  const ncpu = os.cpus().length;
  const wallS = (ticks1.wall - ticks0.wall) / 1000;
  const othersS = Math.max(0, (ticks1.busy - ticks0.busy) - (ticks1.own - ticks0.own)) / clk;
  const others = `${othersS.toFixed(0)} CPU-seconds of the ${(wallS * ncpu).toFixed(0)} that ${ncpu} cores had ` +
    `during the ${wallS.toFixed(0)} s run (${((100 * othersS) / (wallS * ncpu)).toFixed(0)} %)`;
  const md = [];
  md.push('# mcpmux benchmarks', '');
  md.push(`Written by \`make bench\` (bench/run.mjs) on ${M.date}${QUICK ? ' — **BENCH_QUICK=1: a quick run with fewer rounds and calls; use a full run for real figures**' : ''}.`);
  md.push('Benchmarks are reports, not tests: a missed target never fails the run.', '');
  md.push('## Machine and versions', '');
  md.push(`- CPU: ${M.model}, nproc ${M.nproc}; RAM ${M.ram}; ${M.kernel}`);
  md.push(`- mcpmux: ${M.mcpmuxFull}; binary: ${M.commit}`);
  md.push(`- Node.js ${M.node}; @modelcontextprotocol/sdk ${M.sdk} (the client, the server and the floor)`);
  md.push(`- mcp-remote ${M.mcpRemote}; supergateway ${M.supergateway}`);
  md.push(`- other processes on the machine (not started by the bench) used ${others}; load average at the start ${loadStart}`, '');
  md.push('## Setup', '');
  md.push([
    `Everything on 127.0.0.1. The upstream is bench/server.mjs: the official SDK's \`Server\` behind`,
    '`StreamableHTTPServerTransport` with `enableJsonResponse: true` (one JSON body per POST, no SSE), tools',
    '`echo` (returns its text) and `big` (returns 5 MiB of text in 64-byte lines). The client is the official',
    'SDK `Client` in the driver process:',
    '',
    '- **SDK direct (floor)**: `StreamableHTTPClientTransport` straight to the server, no proxy (its POSTs',
    '  go without the transport\'s shared AbortSignal: with it, Node 20\'s fetch keeps one abort listener per',
    '  request on that signal until GC and prints a MaxListenersExceededWarning for each request past 1500);',
    '- **stdio floor (no proxy)**: `StdioClientTransport` → `node bench/stdio-floor.mjs`, which answers from memory',
    '  with the same tools and bytes as the server (the 5 MiB reply prepared at start), no upstream: what the SDK',
    '  client\'s own stdio transport costs, which every stdio proxy below pays too (its `ReadBuffer` concatenates',
    '  each 64 KiB chunk onto what it holds and searches it all for a newline again: quadratic in a line\'s size);',
    '- **mcpmux**: `StdioClientTransport` → `./mcpmux serve -c CFG` → HTTP (`audit_log = off`, `approval = auto`);',
    '- **mcp-remote**: `StdioClientTransport` → `node node_modules/.bin/mcp-remote URL --silent --transport http-only`',
    '  (its OAuth is lazy, started only on a 401, so an unauthenticated server needs no other flag);',
    '- **supergateway**: `StdioClientTransport` → `node node_modules/.bin/supergateway --streamableHttp URL --logLevel none`',
    '  (stdio on one side, Streamable HTTP client on the other).',
    '',
    `Each round runs every contender once, in an order rotated by one each round: spawn, \`initialize\`, \`tools/list\`,`,
    `${C.warmup} warm-up echo calls, ${C.calls} timed sequential echo calls (p50/p99 of those), ${C.tput} echo calls with`,
    `${C.inflight} in flight (calls/s), one warm-up and ${C.big} timed calls of the 5 MiB tool (median time per call),`,
    'then the proxy is closed. Peak RSS is the sum of VmHWM over the proxy\'s process tree (/proc, read before it',
    'exits); it counts every resident page of the shared libraries the proxy maps. "Memory written" is',
    'Private_Dirty from /proc/PID/smaps_rollup summed over the same tree after the echo calls (current, not a',
    'peak): heap, stacks and the libraries\' written data, the memory the proxy itself costs whatever else runs',
    '(USS and PSS would also count clean library pages, more or fewer depending on which other processes map',
    'the same libraries at the time). CPU is',
    'utime+stime of that tree from /proc/PID/stat before and after the warm-up, sequential and concurrent echo',
    'calls, divided by their number. Cells: median over rounds (min–max); "×floor": ratio of medians to the SDK',
    'direct figure. MB = 10⁶ bytes. The floor has no proxy process, hence n/a for its memory and CPU.',
    `The machine has ${M.nproc} cores for the client, the proxy and the server together, so the numbers include`,
    'their contention; they compare contenders on the same machine, not absolute speed.',
  ].join('\n'), '');

  md.push(`## Results (${C.rounds} rounds)`, '');
  const head = ['metric', ...KEYS.map((k) => labels[k])];
  const rows = METRICS.map((mt) => [`${mt.name} (${mt.unit}, ${mt.better} is better)`, ...KEYS.map((k) => {
    const a = res[k][mt.key];
    const base = KEYS.includes('floor') && k !== 'floor' ? res.floor[mt.key] : null;
    return `${cell(a, mt.d)}${a && base ? ` · ${ratio(a, base)} floor` : ''}`;
  })]);
  md.push(table(head, rows), '');

  if (KEYS.includes('mcpmux')) {
    const others = KEYS.filter((k) => k !== 'mcpmux');
    md.push('## mcpmux relative to the others', '');
    md.push('mcpmux median ÷ the other\'s median (below 1× is better for mcpmux, except calls/s where above 1× is).', '');
    md.push(table(['metric', ...others.map((k) => `mcpmux ÷ ${labels[k]}`)],
      METRICS.map((mt) => [`${mt.name}`, ...others.map((k) => ratio(res.mcpmux[mt.key], res[k][mt.key]))])), '');
  }

  const KIB = new Set(['rss', 'uss', 'pss', 'dirty']);
  const fanA = (k) => agg(fan.map((m) => (KIB.has(k) && m[k] !== undefined ? MB(m[k]) : m[k])));
  const scaleA = (k) => agg(scale.map((m) => (k === 'rss' ? MB(m[k]) : m[k])));
  if (fan.length) {
    const rtt = C.fanLatency;
    md.push(`## Fan-out (mcpmux only, ${fan.length} rounds)`, '');
    md.push(`${C.fanN} connectors on one server process, each answering every HTTP request after ${rtt} ms, ${C.fanTools} tools each.`,
      `The peers handle one upstream each, so they are not in this test. A connector's handshake is three HTTP`,
      `requests (initialize, notifications/initialized, tools/list), so ${3 * rtt} ms is the floor for a catalog built`,
      `from spawn; "SDK direct ×${C.fanN}" is the SDK client opening the ${C.fanN} sessions itself, in parallel.`,
      'The phases come from the server\'s own log of when each request arrived and when its response went out',
      '(`server.mjs --trace`); the server is one node process, so its queue shows in both per-connector rows.',
      'The raw-client rows spawn the same mcpmux with plain pipes, write initialize, notifications/initialized and',
      '`tools/list` in one go and stop the clock at the newline ending the `tools/list` answer, parsing nothing before',
      'it: the difference from the SDK client\'s figure is what the SDK client\'s own parsing and validation of the',
      `${C.fanN * C.fanTools} tools add.`, '');
    const l = fanA('list');
    md.push(table(['measure', 'ms (min–max)', `÷ ${rtt} ms`], [
      ['spawn → `initialize` answered', cell(fanA('init'), 1), fanA('init') ? (fanA('init').med / rtt).toFixed(2) : 'n/a'],
      [`spawn → first \`tools/list\` answered (${C.fanN * C.fanTools} tools)`, cell(l, 1), l ? (l.med / rtt).toFixed(2) : 'n/a'],
      ['spawn → merged `tools/list` at a raw client (no SDK parsing)', cell(fanA('rawList'), 1), fanA('rawList') ? (fanA('rawList').med / rtt).toFixed(2) : 'n/a'],
      ['… of which after the last `tools/list` left the server', cell(fanA('rawAfterList'), 1), fanA('rawAfterList') ? (fanA('rawAfterList').med / rtt).toFixed(2) : 'n/a'],
      ['a second `tools/list`', cell(fanA('list2'), 2), fanA('list2') ? (fanA('list2').med / rtt).toFixed(2) : 'n/a'],
      [`one echo call on each of the ${C.fanN} connectors, concurrently`, cell(fanA('callAll'), 1), fanA('callAll') ? (fanA('callAll').med / rtt).toFixed(2) : 'n/a'],
      ['one echo call', cell(fanA('call1'), 1), fanA('call1') ? (fanA('call1').med / rtt).toFixed(2) : 'n/a'],
      ['… phase 1: spawn → first upstream `initialize` arrives', cell(fanA('phaseStart'), 1), fanA('phaseStart') ? (fanA('phaseStart').med / rtt).toFixed(2) : 'n/a'],
      ['… phase 2: first `initialize` arrives → last `tools/list` answered by the server', cell(fanA('phaseHandshake'), 1), fanA('phaseHandshake') ? (fanA('phaseHandshake').med / rtt).toFixed(2) : 'n/a'],
      ['… phase 3: last `tools/list` answered by the server → catalog at the client', cell(fanA('phaseList'), 1), fanA('phaseList') ? (fanA('phaseList').med / rtt).toFixed(2) : 'n/a'],
      ['per connector: time inside the server for its 3 handshake requests (median connector)', cell(fanA('srvTime'), 1), fanA('srvTime') ? (fanA('srvTime').med / rtt).toFixed(2) : 'n/a'],
      ['per connector: from a handshake response leaving the server to the next request read by it, 2 gaps (mcpmux\'s turn-around plus the server\'s queue; median connector)', cell(fanA('gapTime'), 1), fanA('gapTime') ? (fanA('gapTime').med / rtt).toFixed(2) : 'n/a'],
      ['HTTP requests the server got before the catalog was answered', cell(fanA('requests'), 0), ''],
      [`SDK direct ×${C.fanN}: sessions + tools/list`, cell(agg(fanDirect), 1), agg(fanDirect) ? (agg(fanDirect).med / rtt).toFixed(2) : 'n/a'],
      ['peak RSS of mcpmux (MB)', cell(fanA('rss'), 2), ''],
      ['memory written by mcpmux (Private_Dirty), MB', cell(fanA('dirty'), 2), ''],
    ]), '');
  }
  if (scale.length) {
    md.push(`## Scale (mcpmux only, ${scale.length} rounds)`, '');
    md.push(`${C.scaleN} connectors × ${C.scaleTools} tools, all served by one node process (${C.scaleN} endpoints on one port, no added latency).`,
      `"SDK direct ×${C.scaleN}" is the SDK client opening the ${C.scaleN} sessions itself, in parallel, for reference: it is bounded by the same server.`, '');
    md.push(table(['measure', 'median (min–max)'], [
      [`catalog build: spawn → \`tools/list\` answered (${C.scaleN * C.scaleTools} tools, every page), ms`, cell(scaleA('list'), 1)],
      ['spawn → `initialize` answered, ms', cell(scaleA('init'), 1)],
      ['a second `tools/list` (every page), ms', cell(scaleA('list2'), 1)],
      ['peak RSS of mcpmux, MB', cell(scaleA('rss'), 2)],
      ['CPU seconds of mcpmux, spawn to end of the two lists', cell(scaleA('cpu'), 2)],
      [`SDK direct ×${C.scaleN}: sessions + tools/list, ms`, cell(agg(scaleDirect), 1)],
    ]), '');
  }

  // ---- targets
  const T = [];
  const mux = res.mcpmux;
  const floor = res.floor;
  const verdict = (ok) => (ok === null ? 'n/a' : ok ? '**met**' : '**missed**');
  if (mux && floor) {
    const ov = mux.p50 && floor.p50 ? mux.p50.med - floor.p50.med : null;
    T.push(['per-call overhead over the floor, p50', '≤ 0.05 ms', ov === null ? 'n/a' : `${ov.toFixed(3)} ms (${fmt(mux.p50.med, 3)} − ${fmt(floor.p50.med, 3)})`, verdict(ov === null ? null : ov <= 0.05)]);
    const cps = mux.cps && floor.cps ? mux.cps.med / floor.cps.med : null;
    T.push(['calls/s with 32 in flight', '≥ the floor\'s', cps === null ? 'n/a' : `${fmt(mux.cps.med, 0)} vs ${fmt(floor.cps.med, 0)} (${cps.toFixed(2)}×)`, verdict(cps === null ? null : cps >= 1)]);
    const big = mux.big && floor.big ? mux.big.med / floor.big.med : null;
    const sf = res['stdio-floor']?.big;
    T.push(['5 MiB result, time per call', '≤ 1.2× the floor', big === null ? 'n/a' : `${fmt(mux.big.med, 1)} vs ${fmt(floor.big.med, 1)} ms (${big.toFixed(2)}×)` +
      (sf ? `; the stdio floor alone ${fmt(sf.med, 1)} ms (mcpmux ${(mux.big.med / sf.med).toFixed(2)}× that)` : ''), verdict(big === null ? null : big <= 1.2)]);
  }
  if (fan.length) {
    const r = fanA('rss');
    T.push([`peak RSS, ${C.fanN} connectors × ${C.fanTools} tools`, '≤ 8 MB', `${fmt(r.med, 2)} MB`, verdict(r.med <= 8)]);
  }
  if (mux?.rssBig) {
    T.push(['peak RSS while relaying a 5 MiB result', '≤ 20 MB', `${fmt(mux.rssBig.med, 2)} MB`, verdict(mux.rssBig.med <= 20)]);
  }
  if (mux?.cpu) {
    T.push(['CPU per 1000 calls', '≤ 0.05 s', `${fmt(mux.cpu.med, 3)} s`, verdict(mux.cpu.med <= 0.05)]);
  }
  if (fan.length) {
    const l = fanA('list');
    const raw = fanA('rawList');
    const lim = 3 * C.fanLatency + 10;
    T.push([`fan-out: spawn → \`tools/list\`, ${C.fanN} connectors ${C.fanLatency} ms away`, `≤ 3 round trips + 10 ms = ${lim} ms`,
      `${fmt(l.med, 1)} ms (${(l.med / C.fanLatency).toFixed(2)} round trips)` +
      (raw ? ` (raw client, no SDK parsing: ${fmt(raw.med, 1)} ms, ${(raw.med / C.fanLatency).toFixed(2)} round trips)` : ''),
      verdict(l.med <= lim)]);
  }
  md.push('## Targets', '');
  md.push(table(['target', 'goal', 'mcpmux (median)', 'verdict'], T), '');
  // Peak RSS is mostly the shared libraries' pages (libcurl's TLS stack): say
  // what mcpmux itself holds, so the RSS verdict is not read as its own memory.
  // USS still counts a library's clean pages when nothing else maps it, so
  // Private_Dirty (heap, stacks, written library data) is given too.
  if (fanA('uss') && fanA('pss') && fanA('dirty')) {
    md.push(`Of the peak RSS with ${C.fanN} connectors × ${C.fanTools} tools, mcpmux's own memory: private memory (USS, pages`,
      `no other process maps) ${fmt(fanA('uss').med, 2)} MB, PSS (its share of every page it maps) ${fmt(fanA('pss').med, 2)} MB,`,
      `of which written by it (Private_Dirty: heap, stacks, libraries' data) ${fmt(fanA('dirty').med, 2)} MB; medians, read at the`,
      'same moment as the RSS. Clean pages of libcurl, GnuTLS and libcrypto count in the USS and in full in the PSS',
      'while no other process maps those libraries.', '');
  }

  md.push('## Findings', '');
  const findings = path.join(BENCH_DIR, 'findings.md');
  md.push(fs.existsSync(findings) ? fs.readFileSync(findings, 'utf8').trim() : '(none written yet: see bench/profile.mjs)', '');

  if (errors.length) {
    md.push('## Errors', '', 'These runs failed and are left out of the figures above:', '');
    for (const e of errors) md.push('```', e, '```');
    md.push('');
  }

  const text = `${md.join('\n').trim()}\n`;
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'RESULTS.md'), text);
  const png = path.join(OUT, 'latency.png');
  const drew = chart(res, labels, png);
  process.stdout.write(text);
  log(`bench: wrote ${path.join(OUT, 'RESULTS.md')}${drew ? ` and ${png}` : ''}`);
  if (errors.length) {
    log(`bench: ${errors.length} run(s) failed (see "Errors" in RESULTS.md)`);
    process.exitCode = 1;
  }
}

/** `node bench/run.mjs --findings-only`: puts bench/findings.md into an existing RESULTS.md. */
function refreshFindings() {
  const file = path.join(OUT, 'RESULTS.md');
  const text = fs.readFileSync(file, 'utf8');
  const start = text.indexOf('\n## Findings\n');
  if (start < 0) throw new Error(`${file} has no Findings section`);
  const after = text.indexOf('\n## ', start + 1);
  const findings = fs.readFileSync(path.join(BENCH_DIR, 'findings.md'), 'utf8').trim();
  fs.writeFileSync(file, `${text.slice(0, start)}\n## Findings\n\n${findings}\n${after < 0 ? '' : text.slice(after)}`);
  log(`bench: Findings in ${file} replaced by bench/findings.md`);
}

if (process.argv.includes('--findings-only')) {
  clearTimeout(watchdog);
  refreshFindings();
  process.exit(0);
}

main().catch((e) => {
  log(`bench: ${e.stack ?? e}`);
  process.exitCode = 1;
}).finally(() => {
  clearTimeout(watchdog);
  killAll();
});
