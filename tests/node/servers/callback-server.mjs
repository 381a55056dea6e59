#!/usr/bin/env node
// An MCP server (official SDK, Streamable HTTP, replies as SSE streams) whose
// tools make server->client requests and send log messages while they run,
// for mcpmux's tests of elicitation, sampling, roots, upstream ping and
// logging. Prints exactly one line "LISTENING <port>" on stdout once it
// accepts connections on 127.0.0.1. Endpoint: http://127.0.0.1:PORT/mcp
//
//   --port N         0 = any free port (default 0)
//   --name NAME      serverInfo.name (default callback-server)
//   --cb-timeout MS  how long a tool waits for the client's answer to its
//                    request (default 20000)
//   --no-logging     do not declare the logging capability
//   --retry MS       the retry: hint of the priming events (default 300)
//
// Resumable (an in-memory event store): to a 2025-11-25 client every SSE
// stream starts with a priming event (id, retry, empty data), and a client
// may resume a closed stream with GET + Last-Event-ID.
//
// Capabilities: tools {listChanged: true}, logging {} (unless --no-logging).
//
// Tools (each server->client request is sent on the tools/call's own SSE
// stream, related to the call, whatever capabilities the client declared, so
// that a client that did not declare one has to answer it with an error):
//   ask_user {message?}  elicitation/create (form: {answer: string}) ->
//                        text 'elicited: {"action":...,"content":...}'
//   sample {prompt?}     sampling/createMessage -> text 'sampled: <text> (model <model>)'
//   roots                roots/list -> text 'roots: <n> <uri> <uri> ...'
//   ping_client          ping -> text 'pong'
//   log {levels?, text?} one notifications/message per level (default all
//                        eight), logger "cb", data "<text> @<level>", except
//                        levels below the one set with logging/setLevel ->
//                        text 'sent: <level>,<level>,...'
//   echo {text}          'echo: <text>'
//   resume_me {ms?, tag?} progress 0 (if the call has a progressToken), then
//                        closes the call's SSE stream (the client must resume
//                        with GET + Last-Event-ID after the retry time), waits
//                        ms (default 500), progress 1, then 'resumed <tag>';
//                        'not resumable' when the SDK offers no closeSSEStream
//                        (client protocol < 2025-11-25)
// When the client answers a request with a JSON-RPC error (or it times out),
// the tool returns isError: true with text 'error <code>: <message>'.
//
// Admin (not MCP):
//   GET  /admin/stats  {initialize, clientCapabilities (of the last
//                      initialize), setLevel (levels received, in order),
//                      toolCalls, cancelled, callbacks ([{method, ok, code,
//                      message}] in order), sessions, getStreams}
//   POST /admin/list-changed?n=N  add N tools (burst_<k>) and send N
//                      notifications/tools/list_changed to every session at
//                      once (on the GET streams)
//   POST /admin/log?level=L&text=T  notifications/message to every session's
//                      GET stream (logger "cb"), unless below its level
//                      (stored, so also replayed to a client that resumes)
//   POST /admin/close-get-streams  close every session's GET stream (the
//                      client should resume it with Last-Event-ID)
//   POST /admin/list-roots  roots/list to every session on its GET stream
//                      (outside any call); answers {results: [{ok, roots |
//                      code}]} once the clients answered (or cb-timeout)
// Stats also count resumes (GETs with Last-Event-ID) and lastEventIds, and
// rootsListChanged (notifications/roots/list_changed received).

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema, CreateMessageResultSchema, ElicitResultSchema, EmptyResultSchema,
  ErrorCode, ListRootsResultSchema, ListToolsRequestSchema, McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { MemoryEventStore, readBody, sendJson } from './http-util.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    name: { type: 'string', default: 'callback-server' },
    'cb-timeout': { type: 'string', default: '20000' },
    'no-logging': { type: 'boolean', default: false },
    retry: { type: 'string', default: '300' },
  },
  strict: true,
});
const CB_TIMEOUT = Number(opts['cb-timeout']);
const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

const stats = {
  initialize: 0,
  clientCapabilities: null,
  setLevel: [],
  toolCalls: 0,
  cancelled: 0,
  callbacks: [],
  sessions: 0,
  getStreams: 0,
  rootsListChanged: 0,
  resumes: 0, // GET requests carrying Last-Event-ID
  lastEventIds: [],
};

const TOOLS = [
  { name: 'ask_user', description: 'Asks the user (elicitation) and returns the answer.',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } } },
    annotations: { readOnlyHint: true } },
  { name: 'sample', description: 'Asks the client\'s model (sampling) and returns its text.',
    inputSchema: { type: 'object', properties: { prompt: { type: 'string' } } },
    annotations: { readOnlyHint: true } },
  { name: 'roots', description: 'Lists the client\'s roots.',
    inputSchema: { type: 'object', properties: {} }, annotations: { readOnlyHint: true } },
  { name: 'ping_client', description: 'Pings the client.',
    inputSchema: { type: 'object', properties: {} }, annotations: { readOnlyHint: true } },
  { name: 'log', description: 'Sends log messages at the given levels.',
    inputSchema: { type: 'object', properties: {
      levels: { type: 'array', items: { type: 'string', enum: LEVELS } }, text: { type: 'string' } } },
    annotations: { readOnlyHint: true } },
  { name: 'resume_me', description: 'Closes its SSE stream mid-call; the result comes on the resumed stream.',
    inputSchema: { type: 'object', properties: { ms: { type: 'integer' }, tag: { type: 'string' } } },
    annotations: { readOnlyHint: true } },
  { name: 'echo', description: 'Echoes the text back, prefixed with "echo: ".',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    annotations: { readOnlyHint: true } },
];
const BURST = new Set();

function text(t, isError = false) {
  return { content: [{ type: 'text', text: t }], ...(isError ? { isError: true } : {}) };
}

async function callback(extra, method, params, schema) {
  try {
    const result = await extra.sendRequest({ method, ...(params ? { params } : {}) }, schema,
      { timeout: CB_TIMEOUT });
    stats.callbacks.push({ method, ok: true });
    return { result };
  } catch (err) {
    const code = err instanceof McpError ? err.code : null;
    stats.callbacks.push({ method, ok: false, code, message: String(err?.message ?? err) });
    return { error: text(`error ${code}: ${err?.message ?? err}`, true) };
  }
}

function makeServer() {
  const server = new Server({ name: opts.name, version: '1.0.0' },
    { capabilities: { tools: { listChanged: true }, ...(opts['no-logging'] ? {} : { logging: {} }) } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    stats.toolCalls++;
    const { name, arguments: args = {} } = req.params;
    switch (name) {
      case 'ask_user': {
        const r = await callback(extra, 'elicitation/create', {
          message: args.message ?? 'What is the answer?',
          requestedSchema: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] },
        }, ElicitResultSchema);
        if (r.error) return r.error;
        return text(`elicited: ${JSON.stringify({ action: r.result.action, content: r.result.content })}`);
      }
      case 'sample': {
        const r = await callback(extra, 'sampling/createMessage', {
          messages: [{ role: 'user', content: { type: 'text', text: args.prompt ?? 'Say hi' } }],
          maxTokens: 50,
        }, CreateMessageResultSchema);
        if (r.error) return r.error;
        const c = r.result.content;
        return text(`sampled: ${c?.type === 'text' ? c.text : JSON.stringify(c)} (model ${r.result.model})`);
      }
      case 'roots': {
        const r = await callback(extra, 'roots/list', undefined, ListRootsResultSchema);
        if (r.error) return r.error;
        return text(`roots: ${r.result.roots.length}${r.result.roots.map((x) => ` ${x.uri}`).join('')}`);
      }
      case 'ping_client': {
        const r = await callback(extra, 'ping', undefined, EmptyResultSchema);
        if (r.error) return r.error;
        return text('pong');
      }
      case 'log': {
        const levels = Array.isArray(args.levels) ? args.levels : LEVELS;
        const sent = [];
        for (const level of levels) {
          if (opts['no-logging'] || server.isMessageIgnored(level, extra.sessionId)) continue;
          await extra.sendNotification({ method: 'notifications/message',
            params: { level, logger: 'cb', data: `${args.text ?? 'log'} @${level}` } });
          sent.push(level);
        }
        return text(`sent: ${sent.join(',')}`);
      }
      case 'echo':
        return text(`echo: ${args.text}`);
      case 'resume_me': {
        const progressToken = req.params._meta?.progressToken;
        if (progressToken !== undefined) {
          await extra.sendNotification({ method: 'notifications/progress',
            params: { progressToken, progress: 0, total: 1, message: 'before the stream closed' } });
        }
        if (!extra.closeSSEStream) return text('not resumable', true);
        extra.closeSSEStream();
        await new Promise((r) => setTimeout(r, Number(args.ms ?? 500)));
        if (progressToken !== undefined) {
          await extra.sendNotification({ method: 'notifications/progress',
            params: { progressToken, progress: 1, total: 1, message: 'after the stream closed' } });
        }
        return text(`resumed ${args.tag ?? ''}`);
      }
      default:
        if (BURST.has(name)) return text(name);
        throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
  });
  return server;
}

const sessions = new Map(); // Mcp-Session-Id -> {transport, server}

async function newSession() {
  const server = makeServer();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse: false,
    eventStore: new MemoryEventStore(),
    retryInterval: Number(opts.retry),
    onsessioninitialized: (sid) => sessions.set(sid, { transport, server }),
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
  };
  await server.connect(transport);
  return transport;
}

async function admin(req, res, url) {
  await readBody(req);
  if (url.pathname === '/admin/stats' && req.method === 'GET') {
    return sendJson(res, 200, { ...stats, sessions: sessions.size });
  }
  if (url.pathname === '/admin/list-changed' && req.method === 'POST') {
    const n = Number(url.searchParams.get('n') ?? '1');
    for (let i = 0; i < n; i++) {
      const name = `burst_${BURST.size}`;
      BURST.add(name);
      TOOLS.push({ name, description: `added at run time: ${name}`,
        inputSchema: { type: 'object', properties: {} }, annotations: { readOnlyHint: true } });
    }
    const sends = [];
    for (const { server } of sessions.values()) {
      for (let i = 0; i < n; i++) sends.push(server.sendToolListChanged());
    }
    await Promise.allSettled(sends);
    return sendJson(res, 200, { added: n, tools: TOOLS.length, notified: sessions.size });
  }
  if (url.pathname === '/admin/list-roots' && req.method === 'POST') {
    const results = await Promise.all([...sessions.values()].map(({ server }) =>
      server.listRoots(undefined, { timeout: CB_TIMEOUT }).then((r) => {
        stats.callbacks.push({ method: 'roots/list', ok: true, standalone: true });
        return { ok: true, roots: r.roots };
      }, (err) => {
        const code = err instanceof McpError ? err.code : null;
        stats.callbacks.push({ method: 'roots/list', ok: false, code, message: String(err?.message ?? err), standalone: true });
        return { ok: false, code };
      })));
    return sendJson(res, 200, { results });
  }
  if (url.pathname === '/admin/close-get-streams' && req.method === 'POST') {
    for (const { transport } of sessions.values()) transport.closeStandaloneSSEStream();
    return sendJson(res, 200, { sessions: sessions.size });
  }
  if (url.pathname === '/admin/log' && req.method === 'POST') {
    const level = url.searchParams.get('level') ?? 'info';
    const data = url.searchParams.get('text') ?? 'admin log';
    const sends = [];
    for (const [sid, { server }] of sessions) {
      sends.push(server.sendLoggingMessage({ level, logger: 'cb', data }, sid));
    }
    await Promise.allSettled(sends);
    return sendJson(res, 200, { sessions: sessions.size });
  }
  return sendJson(res, 404, { error: 'no such admin endpoint' });
}

function rpcError(res, status, code, message) {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}

async function mcp(req, res) {
  let parsed;
  if (req.method === 'POST') {
    const body = await readBody(req);
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return rpcError(res, 400, ErrorCode.ParseError, 'Parse error: invalid JSON');
    }
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
      if (m?.method === 'initialize') {
        stats.initialize++;
        stats.clientCapabilities = m.params?.capabilities ?? null;
      } else if (m?.method === 'logging/setLevel') {
        stats.setLevel.push(m.params?.level);
      } else if (m?.method === 'notifications/cancelled') {
        stats.cancelled++;
      } else if (m?.method === 'notifications/roots/list_changed') {
        stats.rootsListChanged++;
      }
    }
  }
  const sid = req.headers['mcp-session-id'];
  let transport;
  if (sid !== undefined) {
    transport = sessions.get(sid)?.transport;
    if (!transport) return rpcError(res, 404, -32001, 'Session not found');
  } else {
    const isInit = req.method === 'POST' && !Array.isArray(parsed) && parsed?.method === 'initialize';
    if (!isInit) return rpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
    transport = await newSession();
  }
  if (req.method === 'GET') {
    const last = req.headers['last-event-id'];
    if (last !== undefined) {
      stats.resumes++;
      stats.lastEventIds.push(last);
    }
    stats.getStreams++;
    res.once('close', () => stats.getStreams--);
  }
  await transport.handleRequest(req, res, parsed);
}

const httpServer = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  try {
    if (url.pathname.startsWith('/admin/')) return await admin(req, res, url);
    if (url.pathname === '/mcp') return await mcp(req, res);
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  } catch (err) {
    process.stderr.write(`callback-server: ${err?.stack ?? err}\n`);
    if (!res.headersSent) rpcError(res, 500, ErrorCode.InternalError, 'Internal error');
    else res.end();
  }
});
httpServer.requestTimeout = 0;
httpServer.headersTimeout = 0;

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

httpServer.listen(Number(opts.port), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});
