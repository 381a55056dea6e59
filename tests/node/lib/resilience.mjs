// Helpers for the resilience / protocol-completeness tests: starting the
// extra servers (legacy HTTP+SSE, callback, flaky proxy), reading a
// process's RSS, and counting notifications on a raw mcpmux. Everything it
// starts is killed by PID when the test file ends (after the harness has
// ended every mcpmux gracefully), and on process exit.
//
// Every wait here is bounded.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { drain, NODE_DIR, spawnListening, withTimeout } from './harness.mjs';

export const LEGACY_SERVER = path.join(NODE_DIR, 'servers', 'legacy-server.mjs');
export const CALLBACK_SERVER = path.join(NODE_DIR, 'servers', 'callback-server.mjs');
export const FLAKY_PROXY = path.join(NODE_DIR, 'servers', 'flaky-proxy.mjs');

const live = new Map(); // pid -> exited promise

function killPid(pid, sig = 'SIGKILL') {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
  }
}

async function cleanup() {
  const waits = [];
  for (const [pid, exited] of live) {
    killPid(pid);
    waits.push(withTimeout(exited, 3000, `exit of pid ${pid}`).catch(() => {}));
  }
  await Promise.all(waits);
}
// Registered after the harness's own hook (imported first), so mcpmux ends on
// stdin EOF while these servers still run.
after(cleanup);
process.on('exit', () => {
  for (const pid of live.keys()) killPid(pid);
});

/**
 * Starts `node script ...args`, waits for its "LISTENING <port>" line.
 * Returns {port, pid, proc, exited, stderr(), stop(), base (http://127.0.0.1:PORT),
 * getJson(path), post(path)}.
 */
export async function startScript(script, args = [], { timeout = 10000 } = {}) {
  const what = `${path.basename(script)} ${args.join(' ')}`;
  const { proc, port, exited, stderr } = await spawnListening(script, args, what, timeout);
  live.set(proc.pid, exited);
  exited.then(() => live.delete(proc.pid));
  const base = `http://127.0.0.1:${port}`;
  return {
    port,
    pid: proc.pid,
    proc,
    exited,
    stderr,
    base,
    async stop() {
      killPid(proc.pid);
      await withTimeout(exited, 3000, `exit of ${what} (pid ${proc.pid})`);
    },
    async getJson(p) {
      const res = await fetch(`${base}${p}`, { signal: AbortSignal.timeout(3000) });
      if (!res.ok) throw new Error(`GET ${p}: HTTP ${res.status}`);
      return res.json();
    },
    async post(p) {
      const res = await fetch(`${base}${p}`, { method: 'POST', signal: AbortSignal.timeout(3000) });
      if (!res.ok) throw new Error(`POST ${p}: HTTP ${res.status}`);
      return res.json();
    },
  };
}

/**
 * Spawns any command (stdio ignored, stderr kept), tracked for cleanup.
 * Returns {pid, proc, exited, stderr(), stop(sig = 'SIGTERM')}: stop signals
 * by PID, waits up to 3 s, then SIGKILLs.
 */
export function spawnTracked(cmd, args, options = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', (err) => resolve({ code: null, signal: null, error: err }));
  });
  if (proc.pid) {
    live.set(proc.pid, exited);
    exited.then(() => live.delete(proc.pid));
  }
  const stderr = proc.stderr ? drain(proc.stderr, 65536) : () => '';
  return {
    pid: proc.pid,
    proc,
    exited,
    stderr,
    async stop(sig = 'SIGTERM') {
      if (!proc.pid) return exited;
      killPid(proc.pid, sig);
      try {
        return await withTimeout(exited, 3000, `exit of ${cmd} (pid ${proc.pid})`);
      } catch {
        killPid(proc.pid);
        return withTimeout(exited, 3000, `exit of ${cmd} (pid ${proc.pid}) after SIGKILL`);
      }
    },
  };
}

/** utime + stime of a live process in ms (null if it is gone). */
export function cpuMs(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // fields 14, 15; USER_HZ = 100
  } catch {
    return null;
  }
}

/** servers/legacy-server.mjs; url is its SSE endpoint (.../sse). */
export async function startLegacy(args = []) {
  const h = await startScript(LEGACY_SERVER, ['--port', '0', ...args]);
  return { ...h, url: `${h.base}/sse`, stats: () => h.getJson('/admin/stats') };
}

/** servers/callback-server.mjs; url is its MCP endpoint (.../mcp). */
export async function startCallback(args = []) {
  const h = await startScript(CALLBACK_SERVER, ['--port', '0', ...args]);
  return {
    ...h,
    url: `${h.base}/mcp`,
    stats: () => h.getJson('/admin/stats'),
    listChanged: (n) => h.post(`/admin/list-changed?n=${n}`),
    closeGetStreams: () => h.post('/admin/close-get-streams'),
    listRoots: () => h.post('/admin/list-roots'),
    log: (level, text) => h.post(`/admin/log?level=${encodeURIComponent(level)}&text=${encodeURIComponent(text)}`),
  };
}

/** servers/flaky-proxy.mjs in front of 127.0.0.1:targetPort; url = base + urlPath. */
export async function startProxy(targetPort, args = [], urlPath = '/mcp') {
  const h = await startScript(FLAKY_PROXY, ['--port', '0', '--target', String(targetPort), ...args]);
  return { ...h, url: `${h.base}${urlPath}`, stats: () => h.getJson('/proxy/stats') };
}

/** VmRSS of a live process in kB (null if it is gone). */
export function rssKb(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** True while pid exists (and is not a zombie). */
export function alive(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(st);
  } catch {
    return false;
  }
}

/** Messages of a RawMux with the given method (notifications or requests). */
export function methodMessages(raw, method, from = 0) {
  return raw.messages.slice(from).filter((e) => e.msg?.method === method);
}

/** The concatenated text items of a raw tools/call response's result. */
export function rawText(msg) {
  return (msg?.result?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}
