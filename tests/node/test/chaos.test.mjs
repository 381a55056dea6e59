// Chaos (loopback only, bounded): mcpmux in front of four connectors under
// concurrent load for CHAOS_SECONDS (default 60):
//   c0, c1      test-servers (json, sse), each behind servers/flaky-proxy.mjs
//               (random delays 0-200 ms, ~5% HTTP 500, ~3% dropped connections)
//   c2          a legacy HTTP+SSE server (servers/legacy-server.mjs) behind a
//               flaky proxy too (a dropped GET stream loses its session)
//   rs          a test-server on a fixed port, killed (by PID) every ~10 s and
//               restarted on the same port a second later
// Load: 16 concurrent callers in a loop (echo / add / sleep 0-150 ms on random
// connectors, some calls cancelled), tools/list every 2 s, ping now and then,
// all as raw JSON-RPC lines so that every line mcpmux writes is seen.
// Asserts:
//   - every request gets exactly one response (a cancelled one at most one),
//     no response for an id never sent, every stdout line is JSON;
//   - no cross-wiring: a successful result is the one for its own request;
//   - mcpmux stays useful (>= 50% of calls succeed, every connector serves some);
//   - no crash: alive at the end, exits 0 by itself on stdin EOF;
//   - memory flat: VmRSS (sampled every 5 s) at the end <= 1.5x VmRSS after
//     the warm-up (15 s, or a quarter of the run if shorter). Not checked for a
//     sanitizer build (its quarantine holds freed memory; LeakSanitizer checks
//     leaks at exit instead, and the harness fails on its report).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BIN, delay, freePort, rawSpawn, startServer, writeConfig } from '../lib/harness.mjs';
import { alive, rssKb, startLegacy, startProxy } from '../lib/resilience.mjs';

const SECONDS = Number(process.env.CHAOS_SECONDS || 60);
const WORKERS = 16;
const RESPONSE_WAIT = 15000; // call_timeout 5 s + proxies + slack
const RESTART_EVERY = 10000;
const SANITIZED = /asan|sanitiz/i.test(BIN) || Boolean(process.env.ASAN_OPTIONS);

test(`chaos: ${SECONDS} s, ${WORKERS} concurrent callers, flaky proxies and a restarting connector`,
  { timeout: (SECONDS + 120) * 1000 }, async (t) => {
    assert.ok(SECONDS >= 5, 'CHAOS_SECONDS >= 5');
    const seed = Number(process.env.CHAOS_SEED || Date.now() % 100000);
    const ups = await Promise.all([
      startServer(['--mode', 'json', '--name', 'c0']),
      startServer(['--mode', 'sse', '--name', 'c1']),
      startLegacy(['--name', 'c2']),
    ]);
    const proxies = await Promise.all(ups.map((u, i) => startProxy(u.port,
      ['--delay-max', '200', '--p500', '0.05', '--pdrop', '0.03', '--seed', String(seed + i)],
      i === 2 ? '/sse' : '/mcp')));
    const rsPort = await freePort();
    let rs = await startServer(['--port', String(rsPort), '--mode', 'sse', '--name', 'rs']);
    const connectors = { rs: { url: rs.url, approval: 'auto' } };
    proxies.forEach((p, i) => {
      connectors[`c${i}`] = { url: p.url, approval: 'auto' };
    });
    const raw = rawSpawn(writeConfig({ mcpmux: { call_timeout: 5, connect_timeout: 3 }, connectors }));
    const ALIASES = Object.keys(connectors);

    // ------------------------------------------------ bookkeeping of every line
    const sent = new Map(); // id -> {kind, expect, alias, cancelled}
    const responses = new Map(); // id -> count
    const pending = new Map(); // id -> resolve
    const unknownIds = [];
    raw.waiters.add({
      resolve() {},
      pred(e) {
        const m = e.msg;
        if (m && m.id !== undefined && m.method === undefined && ('result' in m || 'error' in m)) {
          if (!sent.has(m.id)) unknownIds.push(e.raw.toString().slice(0, 300));
          responses.set(m.id, (responses.get(m.id) ?? 0) + 1);
          const r = pending.get(m.id);
          if (r) {
            pending.delete(m.id);
            r(m);
          }
        }
        return false;
      },
    });

    let seq = 0;
    const nextId = () => (seq % 3 === 0 ? `s-${seq++}` : seq++);
    function request(method, params, meta) {
      const id = nextId();
      sent.set(id, { method, ...meta });
      const p = new Promise((resolve) => {
        pending.set(id, resolve);
        setTimeout(() => {
          if (pending.delete(id)) resolve(null);
        }, RESPONSE_WAIT).unref();
      });
      raw.send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) }).catch(() => {});
      return { id, p };
    }

    const tally = { ok: 0, isError: 0, rpcError: 0, missing: 0, wrong: [], perAlias: {} };
    for (const a of ALIASES) tally.perAlias[a] = { ok: 0, err: 0 };
    function check(id, msg) {
      const s = sent.get(id);
      if (!msg) {
        if (!s.cancelled) tally.missing++;
        return;
      }
      if (s.method !== 'tools/call') return;
      if (msg.error) {
        tally.rpcError++;
        tally.perAlias[s.alias].err++;
        return;
      }
      const text = (msg.result?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
      if (msg.result?.isError) {
        tally.isError++;
        tally.perAlias[s.alias].err++;
        return;
      }
      if (text !== s.expect) tally.wrong.push({ id, want: s.expect, got: text.slice(0, 200) });
      else {
        tally.ok++;
        tally.perAlias[s.alias].ok++;
      }
    }

    // ------------------------------------------------ start
    const init = await request('initialize', { protocolVersion: '2025-11-25', capabilities: {},
      clientInfo: { name: 'mcpmux-chaos', version: '0.0.0' } }, {}).p;
    assert.ok(init?.result, `initialize: ${JSON.stringify(init)}; stderr: ${raw.stderr().slice(-2000)}`);
    await raw.notify('notifications/initialized');
    const first = request('tools/list', {}, {});
    const firstList = await first.p;
    assert.ok(firstList?.result, `first tools/list: ${JSON.stringify(firstList)}; stderr: ${raw.stderr().slice(-2000)}`);

    const t0 = Date.now();
    const end = t0 + SECONDS * 1000;
    const rss = [];
    const sampleRss = () => rss.push({ t: Math.round((Date.now() - t0) / 1000), kb: rssKb(raw.pid) });
    sampleRss();
    const rssTimer = setInterval(sampleRss, 5000);
    let died = null;
    raw.exited.then((r) => {
      died = r;
    });

    let rnd = seed >>> 0; // mulberry32
    const random = () => {
      rnd = (rnd + 0x6D2B79F5) >>> 0;
      let t = rnd;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };

    async function worker(w) {
      for (let n = 0; Date.now() < end && !died; n++) {
        const alias = ALIASES[Math.floor(random() * ALIASES.length)];
        const pick = random();
        if (n % 40 === 39) {
          // a long call, cancelled shortly after
          const r = request('tools/call', { name: `${alias}__sleep`, arguments: { ms: 3000, tag: `x${w}-${n}` } },
            { alias, expect: `x${w}-${n}`, cancelled: true });
          await delay(50 + Math.floor(random() * 200));
          await raw.notify('notifications/cancelled', { requestId: r.id, reason: 'chaos' }).catch(() => {});
          r.p.then((m) => check(r.id, m));
          continue;
        }
        let r;
        if (pick < 0.4) {
          const text = `w${w}-n${n}-${alias}`;
          r = request('tools/call', { name: `${alias}__echo`, arguments: { text } }, { alias, expect: `echo: ${text}` });
        } else if (pick < 0.7) {
          const a = w * 1000 + n;
          const b = Math.floor(random() * 1000);
          r = request('tools/call', { name: `${alias}__add`, arguments: { a, b } }, { alias, expect: String(a + b) });
        } else {
          const tag = `t${w}-${n}`;
          r = request('tools/call', { name: `${alias}__sleep`, arguments: { ms: Math.floor(random() * 150), tag } },
            { alias, expect: tag });
        }
        check(r.id, await r.p);
      }
    }

    async function lister() {
      let lists = 0;
      while (Date.now() < end && !died) {
        await delay(2000);
        const r = request(random() < 0.2 ? 'ping' : 'tools/list', {}, {});
        const m = await r.p;
        if (!m) tally.missing++;
        lists++;
      }
      return lists;
    }

    let restarts = 0;
    async function restarter() {
      while (Date.now() + RESTART_EVERY < end && !died) {
        await delay(RESTART_EVERY);
        await rs.stop(); // SIGKILL by PID
        await delay(1000);
        rs = await startServer(['--port', String(rsPort), '--mode', 'sse', '--name', 'rs']);
        restarts++;
      }
    }

    try {
      await Promise.all([
        ...Array.from({ length: WORKERS }, (_, w) => worker(w)),
        lister(),
        restarter(),
      ]);
      // The workers waited for their own calls; cancelled calls may never be
      // answered: give them (and any late duplicate) a few more seconds.
      const waiting = () => [...pending.keys()].filter((id) => !sent.get(id).cancelled).length;
      const deadline = Date.now() + RESPONSE_WAIT + 1000;
      while (waiting() && Date.now() < deadline) await delay(100);
      await delay(3500);
    } finally {
      clearInterval(rssTimer);
    }
    sampleRss();
    const elapsed = Date.now() - t0;

    const proxyStats = await Promise.all(proxies.map((p) => p.stats().catch((e) => ({ error: e.message }))));
    const calls = [...sent.values()].filter((s) => s.method === 'tools/call');
    const cancelled = calls.filter((s) => s.cancelled).length;
    const summary = {
      seed, seconds: Math.round(elapsed / 1000), requests: sent.size, calls: calls.length, cancelled,
      ok: tally.ok, isError: tally.isError, rpcError: tally.rpcError, missing: tally.missing,
      perAlias: tally.perAlias, restarts, rss,
      proxies: proxyStats.map((s) => ({ req: s.requests, e500: s.errors500, drop: (s.droppedBefore ?? 0) + (s.droppedAfter ?? 0) })),
      stderrBytes: raw.stderr().length,
    };
    process.stderr.write(`# chaos summary: ${JSON.stringify(summary)}\n`);

    // ------------------------------------------------ verdicts
    if (died) {
      const err = raw.stderr();
      const at = err.search(/ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:/);
      assert.fail(`mcpmux died during the run: ${JSON.stringify(died)}; stderr: ${
        at >= 0 ? err.slice(at, at + 10000) : err.slice(-4000)}`);
    }
    assert.ok(alive(raw.pid), 'mcpmux alive at the end');
    const badLines = raw.messages.filter((e) => e.parseError);
    assert.deepEqual(badLines.map((e) => e.raw.toString().slice(0, 200)), [], 'every stdout line is JSON');
    assert.deepEqual(unknownIds, [], 'no response for an id that was never sent');
    const dup = [];
    const none = [];
    for (const [id, s] of sent) {
      const n = responses.get(id) ?? 0;
      if (n > 1) dup.push([id, n]);
      if (n === 0 && !s.cancelled) none.push([id, s.method, s.alias ?? '']);
    }
    assert.deepEqual(dup.slice(0, 20), [], `requests answered more than once (${dup.length})`);
    assert.deepEqual(none.slice(0, 20), [], `requests never answered within ${RESPONSE_WAIT} ms (${none.length})`);
    assert.deepEqual(tally.wrong.slice(0, 10), [], `results that belong to another request (${tally.wrong.length})`);
    const nonCancelled = calls.length - cancelled;
    assert.ok(tally.ok >= nonCancelled * 0.5, `only ${tally.ok} of ${nonCancelled} calls succeeded`);
    for (const a of ALIASES) assert.ok(tally.perAlias[a].ok > 0, `no successful call to ${a}`);
    assert.ok(raw.stderr().length < 1024 * 1024 * Math.max(1, SECONDS / 60), `stderr is ${raw.stderr().length} bytes`);

    const warmAt = Math.min(15, SECONDS / 4);
    const warm = rss.find((s) => s.t >= warmAt && s.kb);
    const last = rss.at(-1);
    assert.ok(warm && last?.kb, `RSS samples: ${JSON.stringify(rss)}`);
    if (SANITIZED) {
      t.diagnostic(`sanitizer build: RSS not checked (${warm.kb} kB at ${warm.t} s, ${last.kb} kB at ${last.t} s)`);
    } else {
      assert.ok(last.kb <= warm.kb * 1.5,
        `RSS grew from ${warm.kb} kB at ${warm.t} s to ${last.kb} kB at ${last.t} s (> 1.5x): ${JSON.stringify(rss)}`);
    }

    raw.closeStdin();
    const { code, signal } = await raw.waitExit(5000);
    assert.equal(signal, null, `killed by ${signal}`);
    assert.equal(code, 0, `exit code on EOF; stderr: ${raw.stderr().slice(-3000)}`);
  });
