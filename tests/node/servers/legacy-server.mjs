#!/usr/bin/env node
// A legacy HTTP+SSE MCP server (protocol 2024-11-05 transport) built on the
// official SDK's SSEServerTransport, for mcpmux's transport-fallback tests.
// Prints exactly one line "LISTENING <port>" on stdout once it accepts
// connections on 127.0.0.1.
//
//   GET  /sse                    opens the SSE stream; its first event is
//                                `endpoint` with "/messages?sessionId=..."
//   POST /messages?sessionId=ID  a JSON-RPC message for that session (202);
//                                replies arrive as `message` events on the
//                                session's GET stream
//   POST /sse                    answered with --post-status (default 405),
//                                the way a legacy-only server answers a
//                                Streamable HTTP client's initialize
//
// The configured connector url is http://127.0.0.1:PORT/sse.
//
//   --port N            0 = any free port (default 0)
//   --name NAME         serverInfo.name (default legacy-server)
//   --post-status N     status for POST /sse: 400, 404 or 405 (default 405)
//   --require-token T   GET /sse and POST /messages must carry
//                       "Authorization: Bearer T", else HTTP 401
//   --silent MODE       no-endpoint: GET /sse opens the stream but never sends
//                       the endpoint event; no-replies: POSTs are accepted
//                       (202) and never answered on the stream
//   --endpoint-origin O the endpoint event carries an absolute URL with
//                       origin O ("self": this server's own origin) instead
//                       of the relative /messages?sessionId=...; a foreign
//                       origin is what a client must refuse to follow
//
// Tools: echo {text} -> "echo: <text>", add {a, b} -> "<a+b>",
// sleep {ms, tag} -> tag after ms (or until cancelled; sends
// notifications/progress start/end when the call has a progressToken).
//
// Admin (not MCP):
//   GET /admin/stats  {getStreams (open now), streamsOpened, posts, postSse,
//                      initialize, toolCalls, cancelled, aborted, sessions,
//                      sleeping (sleep calls running now), maxSleeping (the
//                      most at the same time),
//                      lastProtocolVersion (from initialize params),
//                      unauthorized (401s), authorized, deletes, other
//                      (requests to any other path, e.g. a foreign
//                      endpoint's /messages arriving here)}

import http from 'node:http';
import { parseArgs } from 'node:util';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import {
  CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { readBody, sendJson } from './http-util.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    name: { type: 'string', default: 'legacy-server' },
    'post-status': { type: 'string', default: '405' },
    'require-token': { type: 'string' },
    'endpoint-origin': { type: 'string' },
    silent: { type: 'string', default: 'none' },
  },
  strict: true,
});
const POST_STATUS = Number(opts['post-status']);
if (![400, 404, 405].includes(POST_STATUS)) {
  process.stderr.write(`legacy-server: bad --post-status ${opts['post-status']}\n`);
  process.exit(2);
}

const stats = {
  getStreams: 0, // GET /sse streams open right now
  streamsOpened: 0, // GET /sse streams opened in total
  posts: 0, // POST /messages received
  postSse: 0, // POST /sse received (answered with --post-status)
  initialize: 0,
  toolCalls: 0,
  cancelled: 0,
  aborted: 0, // tool handlers that saw their request cancelled
  sleeping: 0, // sleep calls running right now
  maxSleeping: 0, // the most that ever ran at the same time
  lastProtocolVersion: null,
  unauthorized: 0,
  authorized: 0,
  deletes: 0,
  other: 0,
};

/** True when the request may go on; otherwise answers 401. */
function checkAuth(req, res) {
  if (opts['require-token'] === undefined) return true;
  if (req.headers.authorization === `Bearer ${opts['require-token']}`) {
    stats.authorized++;
    return true;
  }
  stats.unauthorized++;
  req.resume();
  res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Bearer realm="mcp"' });
  res.end('unauthorized\n');
  return false;
}

/** SSEServerTransport that advertises an absolute endpoint URL (--endpoint-origin). */
class AbsoluteEndpointTransport extends SSEServerTransport {
  constructor(origin, res) {
    super('/messages', res);
    this.origin = origin;
  }

  async start() {
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive',
    });
    this.res.write(`event: endpoint\ndata: ${this.origin}/messages?sessionId=${this.sessionId}\n\n`);
    this._sseResponse = this.res;
    this.res.on('close', () => {
      this._sseResponse = undefined;
      this.onclose?.();
    });
  }
}

const TOOLS = [
  {
    name: 'echo',
    description: 'Echoes the text back, prefixed with "echo: ".',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    annotations: { readOnlyHint: true },
  },
  {
    name: 'add',
    description: 'Adds two numbers.',
    inputSchema: {
      type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'],
    },
  },
  {
    name: 'sleep',
    description: 'Waits ms milliseconds (or until cancelled), then returns tag.',
    inputSchema: {
      type: 'object', properties: { ms: { type: 'integer', minimum: 0 }, tag: { type: 'string' } }, required: ['ms'],
    },
  },
];

function text(t) {
  return { content: [{ type: 'text', text: t }] };
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(true);
    }, { once: true });
  });
}

function newServer() {
  const server = new Server({ name: opts.name, version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    stats.toolCalls++;
    const { name, arguments: args = {} } = req.params;
    switch (name) {
      case 'echo':
        return text(`echo: ${args.text}`);
      case 'add':
        return text(String(Number(args.a) + Number(args.b)));
      case 'sleep': {
        const ms = Number(args.ms) || 0;
        const progressToken = req.params._meta?.progressToken;
        if (progressToken !== undefined) {
          await extra.sendNotification({ method: 'notifications/progress',
            params: { progressToken, progress: 0, total: 1, message: `sleeping ${ms} ms` } });
        }
        stats.maxSleeping = Math.max(stats.maxSleeping, ++stats.sleeping);
        const aborted = await sleep(ms, extra.signal);
        stats.sleeping--;
        if (aborted) stats.aborted++;
        if (progressToken !== undefined && !aborted) {
          await extra.sendNotification({ method: 'notifications/progress',
            params: { progressToken, progress: 1, total: 1, message: 'done' } });
        }
        return text(String(args.tag ?? ''));
      }
      default:
        throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
  });
  return server;
}

const sessions = new Map(); // sessionId -> SSEServerTransport

async function openStream(req, res) {
  if (opts.silent === 'no-endpoint') {
    stats.getStreams++;
    stats.streamsOpened++;
    res.once('close', () => stats.getStreams--);
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write(': no endpoint will come\n\n');
    return;
  }
  const origin = opts['endpoint-origin'] === 'self'
    ? `http://127.0.0.1:${httpServer.address().port}` : opts['endpoint-origin'];
  const transport = origin ? new AbsoluteEndpointTransport(origin, res) : new SSEServerTransport('/messages', res);
  const server = newServer();
  sessions.set(transport.sessionId, transport);
  stats.getStreams++;
  stats.streamsOpened++;
  res.once('close', () => {
    stats.getStreams--;
    sessions.delete(transport.sessionId);
    server.close().catch(() => {});
  });
  await server.connect(transport); // writes the endpoint event
}

async function postMessage(req, res, url) {
  stats.posts++;
  const sid = url.searchParams.get('sessionId');
  const transport = sid && sessions.get(sid);
  const body = await readBody(req);
  if (!transport) return sendJson(res, 404, { error: 'unknown sessionId' });
  let parsed;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    res.writeHead(400).end('Invalid JSON');
    return;
  }
  if (opts.silent === 'no-replies') {
    res.writeHead(202).end('Accepted');
    return;
  }
  if (parsed?.method === 'initialize') {
    stats.initialize++;
    stats.lastProtocolVersion = parsed.params?.protocolVersion ?? null;
  } else if (parsed?.method === 'notifications/cancelled') {
    stats.cancelled++;
  }
  await transport.handlePostMessage(req, res, parsed);
}

const httpServer = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  try {
    if (url.pathname === '/admin/stats' && req.method === 'GET') {
      return sendJson(res, 200, { ...stats, sessions: sessions.size });
    }
    if (url.pathname === '/sse' || url.pathname === '/messages') {
      if (!checkAuth(req, res)) return;
    } else {
      stats.other++;
    }
    if (url.pathname === '/sse' && req.method === 'GET') return await openStream(req, res);
    if (url.pathname === '/sse' && req.method === 'POST') {
      stats.postSse++;
      await readBody(req);
      res.writeHead(POST_STATUS, { 'Content-Type': 'text/plain', ...(POST_STATUS === 405 ? { Allow: 'GET' } : {}) });
      return res.end('legacy HTTP+SSE server: GET /sse\n');
    }
    if (url.pathname === '/sse' && req.method === 'DELETE') {
      stats.deletes++;
      res.writeHead(405, { Allow: 'GET' });
      return res.end();
    }
    if (url.pathname === '/messages' && req.method === 'POST') return await postMessage(req, res, url);
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  } catch (err) {
    process.stderr.write(`legacy-server: ${err?.stack ?? err}\n`);
    if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    else res.end();
  }
});
httpServer.requestTimeout = 0;
httpServer.headersTimeout = 0;

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

httpServer.listen(Number(opts.port), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});
