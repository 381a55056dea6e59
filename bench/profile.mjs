#!/usr/bin/env node
// Profiles `mcpmux serve` under the benchmark's loads with valgrind's callgrind
// (instruction counts: they do not depend on how busy the machine is). Not part
// of `make bench`; run it by hand after `make bench` installed bench/node_modules:
//
//   node bench/profile.mjs [scenario ...]     (default: every scenario)
//
// Scenarios (each one mcpmux run under callgrind, against bench/server.mjs):
//   startup  spawn, initialize, tools/list, exit (1 connector): the fixed cost
//   echo     the same plus PROFILE_CALLS (2000) sequential echo calls
//   big      the same plus PROFILE_BIG (5) calls of the 5 MiB tool
//   fanout   10 connectors x 50 tools: initialize, tools/list, exit
//   scale    100 connectors x 100 tools: initialize, tools/list, exit
//   syscalls PROFILE_CALLS echo calls under `strace -c -f` instead (syscalls.txt)
//   rss      where mcpmux's resident memory is (/proc/PID/smaps, no valgrind):
//            10 connectors x 50 tools, then 1 connector after 5 MiB results (rss.txt)
// For each: bench/profile/<scenario>.txt (callgrind_annotate, exclusive and
// inclusive) and, for echo and big, the instructions per call once the
// startup run's total is taken off. callgrind.out files stay in a temp dir,
// removed at exit unless PROFILE_KEEP=1.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, MCPMUX, REPO, connect, listAll, muxConfig, startServer, tmpDir } from './lib.mjs';

const CALLS = Number(process.env.PROFILE_CALLS ?? 2000);
const BIG = Number(process.env.PROFILE_BIG ?? 5);
const OUT = path.join(BENCH_DIR, 'profile');
const all = ['startup', 'echo', 'big', 'fanout', 'scale', 'syscalls', 'rss'];
const want = process.argv.slice(2).length ? process.argv.slice(2) : all;
for (const w of want) {
  if (!all.includes(w)) {
    process.stderr.write(`profile: unknown scenario ${w} (known: ${all.join(' ')})\n`);
    process.exit(2);
  }
}
if (spawnSync('valgrind', ['--version']).error) {
  process.stderr.write('profile: valgrind is missing: apt-get install -y valgrind\n');
  process.exit(2);
}
const keepDir = process.env.PROFILE_KEEP === '1' ? fs.mkdtempSync('/tmp/mcpmux-callgrind-') : null;

/** function -> Ir from callgrind_annotate (inclusive or exclusive). */
function costs(file, inclusive) {
  const out = spawnSync('callgrind_annotate', ['--auto=no', '--threshold=100', ...(inclusive ? ['--inclusive=yes'] : []), file],
    { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout;
  const m = new Map();
  for (const line of out.split('\n')) {
    const r = /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line);
    if (!r || line.includes('PROGRAM TOTALS')) continue;
    const name = r[2].replaceAll(` [${MCPMUX}]`, '').replaceAll(`${path.dirname(MCPMUX)}/`, '')
      .replaceAll(`${REPO}/`, '');
    const v = Number(r[1].replace(/,/g, ''));
    if (!m.has(name) || m.get(name) < v) m.set(name, v);
  }
  return m;
}

/** The top functions by (cost in `file` - cost in `base`) / n, as text lines. */
function perOp(file, base, n, inclusive, top) {
  const a = costs(file, inclusive);
  const b = base ? costs(base, inclusive) : new Map();
  return [...a].map(([k, v]) => [(v - (b.get(k) ?? 0)) / n, k])
    .filter(([v, k]) => v > 0 && !(base ? /ld-linux|below main|libc_start|main\.c:main|serve_exec/ : /below main|libc_start/).test(k))
    .sort((x, y) => y[0] - x[0]).slice(0, top)
    .map(([v, k]) => `${Math.round(v).toLocaleString('en').padStart(13)}  ${k.slice(0, 140)}`);
}

function totalIr(file) {
  const m = /^(?:summary|totals):\s+(\d+)/m.exec(fs.readFileSync(file, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function run(name, server, n, body) {
  const dir = keepDir ?? tmpDir();
  const cg = path.join(dir, `callgrind.${name}.out`);
  const cfg = muxConfig(`prof-${name}`, Array.from({ length: n }, (_, i) => ({ alias: n === 1 ? 'up' : `c${i}`, url: server.url(i) })));
  const proxy = {
    label: `mcpmux under callgrind (${name})`,
    stdio: () => ({
      command: 'valgrind',
      args: ['--tool=callgrind', `--callgrind-out-file=${cg}`, '--dump-instr=no', '--collect-jumps=no',
        MCPMUX, 'serve', '-c', cfg],
    }),
  };
  const c = await connect(proxy, null, { timeoutMs: 120000 });
  try {
    const tools = await listAll(c.client);
    await body(c.client, tools);
  } finally {
    await c.close(); // stdin EOF: mcpmux exits and callgrind writes its file
  }
  for (let i = 0; i < 100 && !fs.existsSync(cg); i++) await new Promise((r) => setTimeout(r, 100));
  const ir = totalIr(cg);
  files[name] = cg;
  const ann = (extra) => spawnSync('callgrind_annotate', ['--threshold=98', '--auto=no', ...extra, cg], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
  const text = [`# callgrind: ${name}; total Ir ${ir}`, '', '## exclusive', ann([]), '## inclusive', ann(['--inclusive=yes'])].join('\n');
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, `${name}.txt`), text);
  return ir;
}

const res = {};
const files = {};
const server = await startServer({ endpoints: 1, tools: 2, bigMib: 5 });
try {
  if (want.includes('startup') || want.includes('echo') || want.includes('big')) {
    res.startup = await run('startup', server, 1, async () => {});
  }
  if (want.includes('echo')) {
    res.echo = await run('echo', server, 1, async (client) => {
      for (let i = 0; i < CALLS; i++) await client.callTool({ name: 'up__echo', arguments: { text: `ping ${i}` } });
    });
  }
  if (want.includes('big')) {
    res.big = await run('big', server, 1, async (client) => {
      for (let i = 0; i < BIG; i++) await client.callTool({ name: 'up__big', arguments: {} });
    });
  }
} finally {
  await server.stop();
}
if (want.includes('syscalls') && spawnSync('strace', ['-V']).error) {
  process.stderr.write('profile: strace is missing (apt-get install -y strace): no syscalls scenario\n');
} else if (want.includes('syscalls')) {
  const s = await startServer({ endpoints: 1, tools: 2, bigMib: 0 });
  const out = path.join(tmpDir(), 'strace.txt');
  const cfg = muxConfig('prof-syscalls', [{ alias: 'up', url: s.url(0) }]);
  const c = await connect({
    label: 'mcpmux under strace',
    stdio: () => ({ command: 'strace', args: ['-c', '-f', '-o', out, MCPMUX, 'serve', '-c', cfg] }),
  }, null, { timeoutMs: 60000 });
  try {
    await listAll(c.client);
    for (let i = 0; i < CALLS; i++) await c.client.callTool({ name: 'up__echo', arguments: { text: `ping ${i}` } });
  } finally {
    await c.close();
    await s.stop();
  }
  for (let i = 0; i < 50 && !fs.existsSync(out); i++) await new Promise((r) => setTimeout(r, 100));
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'syscalls.txt'),
    `# strace -c -f of mcpmux serve: start, initialize, tools/list, ${CALLS} sequential echo calls, exit\n${fs.readFileSync(out, 'utf8')}`);
}
/** VmHWM, RssAnon, RssFile and the resident KiB of each mapping, largest first. */
function memReport(pid) {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^(VmHWM|VmRSS|RssAnon|RssFile):.*$/gm).join('\n');
  const per = new Map();
  let name = '';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      name = m[1] || '[anonymous]';
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r) per.set(name, (per.get(name) ?? 0) + Number(r[1]));
  }
  const rows = [...per].sort((a, b) => b[1] - a[1]).filter(([, v]) => v >= 64)
    .map(([k, v]) => `${String(v).padStart(7)} kB  ${k}`);
  return `${st}\nresident by mapping (>= 64 kB):\n${rows.join('\n')}`;
}
if (want.includes('rss')) {
  const parts = [];
  const s10 = await startServer({ endpoints: 10, tools: 50, bigMib: 0 });
  try {
    const cfg = muxConfig('prof-rss10', Array.from({ length: 10 }, (_, i) => ({ alias: `c${i}`, url: s10.url(i) })));
    const c = await connect({ label: 'mcpmux (rss)', stdio: () => ({ command: MCPMUX, args: ['serve', '-c', cfg] }) }, null);
    try {
      await listAll(c.client);
      for (let i = 0; i < 10; i++) await c.client.callTool({ name: `c${i}__echo`, arguments: { text: 'x' } });
      parts.push(`## 10 connectors x 50 tools, after tools/list and one call on each\n${memReport(c.pid)}`);
    } finally {
      await c.close();
    }
  } finally {
    await s10.stop();
  }
  const s1 = await startServer({ endpoints: 1, tools: 2, bigMib: 5 });
  try {
    const cfg = muxConfig('prof-rss1', [{ alias: 'up', url: s1.url(0) }]);
    const c = await connect({ label: 'mcpmux (rss)', stdio: () => ({ command: MCPMUX, args: ['serve', '-c', cfg] }) }, null);
    try {
      await listAll(c.client);
      parts.push(`## 1 connector, before any call\n${memReport(c.pid)}`);
      for (let i = 0; i < 3; i++) await c.client.callTool({ name: 'up__big', arguments: {} });
      parts.push(`## 1 connector, after three 5 MiB results\n${memReport(c.pid)}`);
    } finally {
      await c.close();
    }
  } finally {
    await s1.stop();
  }
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'rss.txt'), `${parts.join('\n\n')}\n`);
}
for (const [name, n, tools] of [['fanout', 10, 50], ['scale', 100, 100]]) {
  if (!want.includes(name)) continue;
  const s = await startServer({ endpoints: n, tools, bigMib: 0 });
  try {
    res[name] = await run(name, s, n, async () => {});
  } finally {
    await s.stop();
  }
}

const lines = [];
for (const [k, v] of Object.entries(res)) lines.push(`${k}: ${v.toLocaleString('en')} Ir`);
if (res.echo && res.startup) lines.push(`echo: ${Math.round((res.echo - res.startup) / CALLS).toLocaleString('en')} Ir per call (${CALLS} calls)`);
if (res.big && res.startup) lines.push(`big: ${Math.round((res.big - res.startup) / BIG).toLocaleString('en')} Ir per 5 MiB call (${BIG} calls)`);
const per = [];
if (files.echo && files.startup) {
  per.push('', `## echo: Ir per call by function, inclusive ((echo run - startup run) / ${CALLS})`, ...perOp(files.echo, files.startup, CALLS, true, 60));
  per.push('', '## echo: Ir per call by function, exclusive', ...perOp(files.echo, files.startup, CALLS, false, 30));
}
if (files.big && files.startup) {
  per.push('', `## big: Ir per 5 MiB call by function, inclusive ((big run - startup run) / ${BIG})`, ...perOp(files.big, files.startup, BIG, true, 40));
  per.push('', '## big: Ir per 5 MiB call by function, exclusive', ...perOp(files.big, files.startup, BIG, false, 20));
}
for (const k of ['startup', 'fanout', 'scale']) {
  if (files[k]) per.push('', `## ${k}: Ir by function, inclusive (whole run)`, ...perOp(files[k], null, 1, true, 50));
}
const head = `# ${MCPMUX}${process.env.BENCH_MCPMUX_NOTE ? ` (${process.env.BENCH_MCPMUX_NOTE})` : ''}, ${new Date().toISOString()}`;
if (lines.length) fs.writeFileSync(path.join(OUT, 'summary.txt'), `${head}\n${lines.join('\n')}\n${per.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\nannotations in ${OUT}/${keepDir ? `, callgrind.out files in ${keepDir}` : ''}\n`);
