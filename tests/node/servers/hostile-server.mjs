#!/usr/bin/env node
// A hostile MCP server for mcpmux's hardening tests: Streamable HTTP spoken
// by hand over raw TCP (node:net), so that it can send what no SDK would:
// repeated JSON keys, raw bytes in names, control characters in headers,
// responses on the wrong stream, endless or huge messages. Prints exactly one
// line "LISTENING <port>" once it accepts connections on 127.0.0.1.
// Endpoint: http://127.0.0.1:PORT/mcp
//
//   --port N          0 = any free port (default 0)
//   --plan JSON       what to do (below); also POST /admin/plan to change it
//
// The plan (every field optional):
//   sessionId         raw value of the Mcp-Session-Id header sent with the
//                     initialize response (bytes as given: may hold a CR);
//                     default "s-1"
//   tools             the raw JSON text of the tools array (default: "echo"
//                     and one tool per name in calls, all readOnlyHint)
//   toolsListBytes    instead: a tools/list response of about this many bytes
//                     (one tool whose schema description is that long),
//                     streamed in 1 MiB pieces
//   calls             { "<upstream tool name as sent, decoded>": behaviour }
//                     behaviour: { reply: "<raw JSON, $ID = the request id>" }
//                              | { sse: ["<raw event data>", ...], hold: true }
//                                (events in order; hold keeps the stream open)
//                              | { onGet: "<raw JSON>" } the POST gets an event
//                                stream that stays open with no event, and
//                                the raw JSON goes out on the GET stream
//                     a call to a name with no behaviour gets a text result
//                     "called <name>"
//   getEvents         raw event data sent on every GET stream when it opens
//   notifyBytes       a notifications/message of about this many bytes sent on
//                     the GET stream when it opens, streamed in 1 MiB pieces
//
// Admin (not MCP):
//   GET  /admin/log    {requests: [{method, path, headers, body}] (every MCP
//                      request, raw body as text), aborted (big messages the
//                      client stopped reading), bigSent (bytes of them sent)}
//   POST /admin/plan   replaces the plan (JSON body)
//   POST /admin/push   {data}: one raw event on every open GET stream

import net from 'node:net';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    plan: { type: 'string', default: '{}' },
  },
  strict: true,
});

let plan = JSON.parse(opts.plan);
const log = { requests: [], aborted: 0, bigSent: 0 };
const getStreams = new Set();
const MiB = 1 << 20;

function defaultTools() {
  return JSON.stringify(['echo', ...Object.keys(plan.calls ?? {})].map((name) => ({
    name, description: name, inputSchema: { type: 'object' }, annotations: { readOnlyHint: true },
  })));
}

function head(status, headers) {
  const lines = [`HTTP/1.1 ${status}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

function sendJson(sock, status, text, extra = {}) {
  const body = Buffer.from(text, 'utf8');
  sock.write(Buffer.concat([head(status, {
    'Content-Type': 'application/json', 'Content-Length': body.length, ...extra,
  }), body]));
}

function sendEmpty(sock, status) {
  sock.write(head(status, { 'Content-Length': 0 }));
}

function startSse(sock) {
  // No length: the stream ends when the connection closes.
  sock.write(head('200 OK', {
    'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'close',
  }));
}

function event(data) {
  return `data: ${data}\n\n`;
}

// Writes the pieces produced by next() (a string, or null at the end),
// waiting for the socket to drain; counts what went out.
function stream(sock, next, onEnd) {
  let done = false;
  sock.once('close', () => {
    if (!done) log.aborted++;
    done = true;
  });
  const pump = () => {
    while (!done) {
      const piece = next();
      if (piece === null) {
        done = true;
        onEnd();
        return;
      }
      log.bigSent += piece.length;
      if (!sock.write(piece)) {
        sock.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

// A big text in 1 MiB pieces: prefix, `bytes` x's, suffix.
function bigPieces(prefix, bytes, suffix) {
  let left = bytes;
  let first = true;
  const chunk = 'x'.repeat(MiB);
  return () => {
    if (first) {
      first = false;
      return prefix;
    }
    if (left > 0) {
      const n = Math.min(left, MiB);
      left -= n;
      return n === MiB ? chunk : chunk.slice(0, n);
    }
    if (suffix !== null) {
      const s = suffix;
      suffix = null;
      return s;
    }
    return null;
  };
}

function onMcpPost(sock, req) {
  let msg;
  try {
    msg = JSON.parse(req.body);
  } catch {
    sendJson(sock, '400 Bad Request', '{"error":"not json"}');
    return;
  }
  if (msg.method === undefined || msg.id === undefined) {
    sendEmpty(sock, '202 Accepted');
    return;
  }
  const id = JSON.stringify(msg.id);
  const sub = (t) => t.split('$ID').join(id);
  if (msg.method === 'initialize') {
    sendJson(sock, '200 OK', `{"jsonrpc":"2.0","id":${id},"result":{"protocolVersion":"2025-11-25",`
      + '"capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"hostile","version":"1"}}}',
    { 'Mcp-Session-Id': plan.sessionId ?? 's-1' });
    return;
  }
  if (msg.method === 'tools/list') {
    if (plan.toolsListBytes) {
      const prefix = `{"jsonrpc":"2.0","id":${id},"result":{"tools":[{"name":"big",`
        + '"inputSchema":{"type":"object","description":"';
      const suffix = '"}}]}}';
      sock.write(head('200 OK', {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(prefix) + plan.toolsListBytes + suffix.length,
      }));
      stream(sock, bigPieces(prefix, plan.toolsListBytes, suffix), () => {});
      return;
    }
    sendJson(sock, '200 OK', `{"jsonrpc":"2.0","id":${id},"result":{"tools":${plan.tools ?? defaultTools()}}}`);
    return;
  }
  if (msg.method === 'tools/call') {
    const name = msg.params?.name;
    const b = plan.calls?.[name];
    if (!b) {
      sendJson(sock, '200 OK', `{"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":${
        JSON.stringify(`called ${name}`)}}]}}`);
      return;
    }
    if (b.reply !== undefined) {
      sendJson(sock, '200 OK', sub(b.reply));
      return;
    }
    if (b.sse) {
      startSse(sock);
      for (const e of b.sse) sock.write(event(sub(e)));
      if (!b.hold) sock.end();
      return;
    }
    if (b.onGet !== undefined) {
      startSse(sock);
      for (const g of getStreams) g.write(event(sub(b.onGet)));
      return;
    }
  }
  sendJson(sock, '200 OK', `{"jsonrpc":"2.0","id":${id},"error":{"code":-32601,"message":"no"}}`);
}

function onGet(sock) {
  startSse(sock);
  getStreams.add(sock);
  sock.once('close', () => getStreams.delete(sock));
  for (const e of plan.getEvents ?? []) sock.write(event(e));
  if (plan.notifyBytes) {
    stream(sock, bigPieces('data: {"jsonrpc":"2.0","method":"notifications/message","params":'
      + '{"level":"info","data":"', plan.notifyBytes, '"}}\n\n'), () => {});
  }
}

function onRequest(sock, req) {
  if (req.path.startsWith('/admin/')) {
    if (req.path === '/admin/log') {
      sendJson(sock, '200 OK', JSON.stringify(log));
    } else if (req.path === '/admin/plan') {
      plan = JSON.parse(req.body);
      sendJson(sock, '200 OK', '{}');
    } else if (req.path === '/admin/push') {
      const { data } = JSON.parse(req.body);
      for (const g of getStreams) g.write(event(data));
      sendJson(sock, '200 OK', JSON.stringify({ streams: getStreams.size }));
    } else {
      sendJson(sock, '404 Not Found', '{}');
    }
    return;
  }
  if (req.path !== '/mcp') {
    sendJson(sock, '404 Not Found', '{}');
    return;
  }
  log.requests.push({ method: req.method, path: req.path, headers: req.headers, body: req.body });
  if (req.method === 'POST') onMcpPost(sock, req);
  else if (req.method === 'GET') onGet(sock);
  else sendEmpty(sock, req.method === 'DELETE' ? '200 OK' : '405 Method Not Allowed');
}

// HTTP/1.1 requests on one connection, one after another (curl reuses them).
const server = net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  sock.on('error', () => {});
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const [method, path] = lines[0].split(' ');
      const headers = {};
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        if (c > 0) headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      if (buf.length < end + 4 + len) return;
      const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
      buf = buf.subarray(end + 4 + len);
      onRequest(sock, { method, path, headers, body });
    }
  });
});

server.listen(Number(opts.port), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
