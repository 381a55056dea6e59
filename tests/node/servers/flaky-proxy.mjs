#!/usr/bin/env node
// A misbehaving HTTP reverse proxy (node:http, loopback only) for mcpmux's
// chaos tests: in front of one upstream MCP server, it delays requests,
// answers some with HTTP 500 and drops some connections. Prints exactly one
// line "LISTENING <port>" on stdout once it accepts connections on 127.0.0.1.
//
//   --port N          0 = any free port (default 0)
//   --target PORT     the upstream on 127.0.0.1 (required)
//   --delay-max MS    each request waits a random 0..MS ms before it is
//                     forwarded (default 200)
//   --p500 P          probability of answering HTTP 500 instead (default 0.05)
//   --pdrop P         probability of destroying the connection (default 0.03):
//                     half of those before forwarding, half once the
//                     upstream's response has started (the upstream did the
//                     work, the client never hears of it)
//   --seed N          seed of the random choices (default: time based)
//
// Everything is forwarded as is, streaming both ways (SSE replies flow
// through event by event). If the upstream cannot be reached: HTTP 502.
//
// Admin (not proxied): GET /proxy/stats {requests, forwarded, delayed,
// errors500, droppedBefore, droppedAfter, upstreamErrors, clientAborts, open}

import http from 'node:http';
import { parseArgs } from 'node:util';
import { readBody } from './http-util.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    target: { type: 'string' },
    'delay-max': { type: 'string', default: '200' },
    p500: { type: 'string', default: '0.05' },
    pdrop: { type: 'string', default: '0.03' },
    seed: { type: 'string' },
  },
  strict: true,
});
if (!opts.target || !/^\d+$/.test(opts.target)) {
  process.stderr.write('flaky-proxy: --target PORT is required\n');
  process.exit(2);
}
const TARGET = Number(opts.target);
const DELAY_MAX = Number(opts['delay-max']);
const P500 = Number(opts.p500);
const PDROP = Number(opts.pdrop);

// mulberry32: small, seedable
let seed = (opts.seed !== undefined ? Number(opts.seed) : Date.now()) >>> 0;
function random() {
  seed = (seed + 0x6D2B79F5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const stats = {
  requests: 0, forwarded: 0, delayed: 0, errors500: 0, droppedBefore: 0, droppedAfter: 0,
  upstreamErrors: 0, clientAborts: 0, open: 0,
};

async function proxy(req, res) {
  stats.requests++;
  stats.open++;
  res.once('close', () => stats.open--);
  const body = await readBody(req);
  const roll = random();
  const wait = Math.floor(random() * (DELAY_MAX + 1));
  if (wait > 0) {
    stats.delayed++;
    await new Promise((r) => setTimeout(r, wait));
  }
  if (req.socket.destroyed) {
    stats.clientAborts++;
    return;
  }
  if (roll < P500) {
    stats.errors500++;
    res.writeHead(500, { 'Content-Type': 'text/plain' });
    return res.end('flaky-proxy: injected HTTP 500\n');
  }
  let dropAfter = false;
  if (roll < P500 + PDROP) {
    if (random() < 0.5) {
      stats.droppedBefore++;
      req.socket.destroy();
      return;
    }
    dropAfter = true;
  }
  const headers = { ...req.headers, host: `127.0.0.1:${TARGET}` };
  delete headers['content-length'];
  if (body.length) headers['content-length'] = String(body.length);
  const up = http.request({
    host: '127.0.0.1', port: TARGET, method: req.method, path: req.url, headers,
  });
  stats.forwarded++;
  let done = false;
  res.once('close', () => {
    if (!done) {
      stats.clientAborts++;
      up.destroy();
    }
  });
  up.on('response', (upRes) => {
    if (dropAfter) {
      stats.droppedAfter++;
      // The upstream did the work; the client's connection dies anyway.
      upRes.resume();
      req.socket.destroy();
      return;
    }
    res.writeHead(upRes.statusCode, upRes.headers);
    res.flushHeaders();
    upRes.on('data', (chunk) => res.write(chunk));
    upRes.on('end', () => {
      done = true;
      res.end();
    });
    upRes.on('error', () => req.socket.destroy());
    upRes.on('aborted', () => req.socket.destroy());
  });
  up.on('error', (err) => {
    if (done || res.destroyed) return;
    stats.upstreamErrors++;
    done = true;
    if (!res.headersSent) {
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`flaky-proxy: upstream error: ${err.code ?? err.message}\n`);
    } else {
      req.socket.destroy();
    }
  });
  up.end(body);
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.url === '/proxy/stats') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify(stats));
    }
    await proxy(req, res);
  } catch (err) {
    process.stderr.write(`flaky-proxy: ${err?.stack ?? err}\n`);
    if (!res.headersSent) {
      res.writeHead(500);
      res.end();
    } else {
      req.socket.destroy();
    }
  }
});
server.requestTimeout = 0;
server.headersTimeout = 0;
server.keepAliveTimeout = 5000;

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

server.listen(Number(opts.port), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
