#!/usr/bin/env node
// A real MCP server (official TypeScript SDK, Streamable HTTP) for mcpmux's
// integration tests. Prints exactly one line "LISTENING <port>" on stdout once
// it accepts connections on 127.0.0.1.
//
//   --port N          0 = any free port (default 0)
//   --mode json|sse   json: enableJsonResponse; sse: replies as SSE streams
//                     (with an event store, so 2025-11-25 clients also get the
//                     empty-data priming event, and a log notification is sent
//                     on the stream before each tools/call result)
//   --name NAME       serverInfo.name
//   --fail none|500|badjson|hang
//                     500: every /mcp request gets HTTP 500; badjson: every
//                     POST gets 200 application/json with an invalid body;
//                     hang: requests are accepted and never answered
//   --tools-count N   N extra trivial tools t0..t{N-1}
//   --page-size K     tools/list returns K tools per page with nextCursor
//   --delay-init MS   answer initialize requests only after MS milliseconds
//   --hold-init       answer initialize requests only after POST
//                     /admin/release-init (so a test decides when, not a clock)
//   --blob-tool       add a tool `blob` {bytes}: a text result of that many
//                     characters (fixtures.mjs blobText: quotes, backslashes,
//                     newlines, non-ASCII)
//   --odd-names       add tools whose names mcpmux must rewrite: dots,
//                     non-ASCII, a clash after rewriting, names too long for
//                     the 64-character budget (each returns its own name)
//   --require-token T every /mcp request must carry the credential T, else
//                     HTTP 401 with WWW-Authenticate (Bearer ..., or Basic
//                     realm="mcp" for --auth-scheme Basic)
//   --auth-header H   the header that carries it (default Authorization)
//   --auth-scheme S   its value is "S T" (default Bearer); empty: T alone
//                     (X-Api-Key style); Basic: "Basic base64(T)", T being
//                     user:password
//
// sleep sends notifications/progress (start and end) when the request has a
// progressToken.
//
// Admin endpoints (not MCP), available in every mode:
//   POST /admin/expire  drop every session: old Mcp-Session-Ids then get 404
//   GET  /admin/stats   {initialize, deletes, toolCalls, cancelled, sessions,
//                        aborted, requests, getStreams, lastProtocolVersion,
//                        inFlight, maxInFlight}
//   POST /admin/release-init  answer the initialize requests held by
//                       --hold-init, and every later one at once
//   POST /admin/add-tool?name=NAME  add a tool (returns "added NAME") and send
//                       notifications/tools/list_changed to every session
//   POST /admin/token   {"token": T} accept T from now on (rotation; turns the
//                       check on when --require-token was not given)
// Credential stats (in /admin/stats): unauthorized (401s returned), authorized
// (requests that carried the right credential), lastAuthSha256 (SHA-256 hex of
// the auth header's last value as received, null when absent) and
// authSha256Seen (every distinct such hash, in order). Raw values are never kept.

import http from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { bigSchema, blobText, ODD_NAMES, richResult, RICH_OUTPUT_SCHEMA } from './fixtures.mjs';
import { MemoryEventStore, readBody, sendJson } from './http-util.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    mode: { type: 'string', default: 'json' },
    name: { type: 'string', default: 'test-server' },
    fail: { type: 'string', default: 'none' },
    'tools-count': { type: 'string', default: '0' },
    'page-size': { type: 'string', default: '0' },
    'delay-init': { type: 'string', default: '0' },
    'hold-init': { type: 'boolean', default: false },
    'odd-names': { type: 'boolean', default: false },
    'blob-tool': { type: 'boolean', default: false },
    'require-token': { type: 'string' },
    'auth-header': { type: 'string', default: 'Authorization' },
    'auth-scheme': { type: 'string', default: 'Bearer' },
  },
  strict: true,
});

const MODE = opts.mode;
const FAIL = opts.fail;
const TOOLS_COUNT = Number(opts['tools-count']);
const PAGE_SIZE = Number(opts['page-size']);
const DELAY_INIT = Number(opts['delay-init']);
if (!['json', 'sse'].includes(MODE)) die(`bad --mode ${MODE}`);
if (!['none', '500', 'badjson', 'hang'].includes(FAIL)) die(`bad --fail ${FAIL}`);
if (!Number.isInteger(TOOLS_COUNT) || TOOLS_COUNT < 0) die('bad --tools-count');
if (!Number.isInteger(PAGE_SIZE) || PAGE_SIZE < 0) die('bad --page-size');
if (!Number.isInteger(DELAY_INIT) || DELAY_INIT < 0) die('bad --delay-init');
const AUTH_HEADER = opts['auth-header'].toLowerCase();
const AUTH_SCHEME = opts['auth-scheme'];
let requiredToken = opts['require-token'] ?? null; // changed by POST /admin/token

function die(msg) {
  process.stderr.write(`test-server: ${msg}\n`);
  process.exit(2);
}

const stats = {
  initialize: 0, // initialize requests received
  deletes: 0, // HTTP DELETE requests received on /mcp
  toolCalls: 0, // tools/call requests received
  cancelled: 0, // notifications/cancelled received
  sessions: 0, // live sessions (filled in when asked)
  aborted: 0, // tool handlers that saw their request cancelled
  requests: 0, // HTTP requests on /mcp
  getStreams: 0, // GET (server-notification) streams open right now
  inFlight: 0, // tools/call handlers running right now
  maxInFlight: 0, // the most that ever ran at the same time
  lastProtocolVersion: null, // MCP-Protocol-Version header of the last POST
  unauthorized: 0, // requests answered 401 (missing or wrong credential)
  authorized: 0, // requests that carried the right credential
  lastAuthSha256: null, // SHA-256 hex of the last auth header value (null: none sent)
  authSha256Seen: [], // every distinct auth header hash, in order of first sight
};

// ---------------------------------------------------------------- tools

const TOOLS = [
  {
    name: 'echo',
    title: 'Echo',
    description: 'Echoes the text back, prefixed with "echo: ".',
    inputSchema: {
      type: 'object',
      properties: { text: { type: 'string', description: 'what to echo' } },
      required: ['text'],
    },
    annotations: { readOnlyHint: true },
  },
  {
    name: 'add',
    description: 'Adds two numbers.',
    inputSchema: {
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    },
  },
  {
    name: 'sleep',
    description: 'Waits ms milliseconds (or until cancelled), then returns tag.',
    inputSchema: {
      type: 'object',
      properties: { ms: { type: 'integer', minimum: 0 }, tag: { type: 'string' } },
      required: ['ms'],
    },
  },
  {
    name: 'rich',
    description: 'Non-ASCII text, an image and nested structured content 🎁',
    inputSchema: { type: 'object', properties: {} },
    outputSchema: RICH_OUTPUT_SCHEMA,
    annotations: { readOnlyHint: true, title: 'Rich ✓' },
  },
  {
    name: 'big_schema',
    description: 'A tool with a large and unusual input schema.',
    inputSchema: bigSchema(),
  },
];
if (opts['blob-tool']) {
  TOOLS.push({
    name: 'blob',
    description: 'A text result of `bytes` characters.',
    inputSchema: { type: 'object', properties: { bytes: { type: 'number' } }, required: ['bytes'] },
  });
}
for (let i = 0; i < TOOLS_COUNT; i++) {
  TOOLS.push({
    name: `t${i}`,
    description: `trivial tool ${i}`,
    inputSchema: { type: 'object', properties: {} },
    annotations: { readOnlyHint: true },
  });
}

const ADDED = new Set(); // names added through /admin/add-tool
let releaseInit;
const initReleased = new Promise((resolve) => { releaseInit = resolve; }); // --hold-init
if (opts['odd-names']) {
  for (const name of ODD_NAMES) {
    TOOLS.push({
      name,
      description: `odd name ${name}`,
      inputSchema: { type: 'object', properties: {} },
      annotations: { readOnlyHint: true },
    });
  }
}

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

async function callTool(req, extra) {
  stats.inFlight++;
  stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
  try {
    return await runTool(req, extra);
  } finally {
    stats.inFlight--;
  }
}

async function runTool(req, extra) {
  const { name, arguments: args = {} } = req.params;
  if (MODE === 'sse') {
    // A notification on the request's SSE stream before the result.
    await extra.sendNotification({
      method: 'notifications/message',
      params: { level: 'debug', logger: opts.name, data: `calling ${name}` },
    });
  }
  switch (name) {
    case 'echo':
      return text(`echo: ${args.text}`);
    case 'add':
      return text(String(Number(args.a) + Number(args.b)));
    case 'sleep': {
      const ms = Number(args.ms) || 0;
      const progressToken = req.params._meta?.progressToken;
      if (progressToken !== undefined) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress: 0, total: 1, message: `sleeping ${ms} ms` },
        });
      }
      const aborted = await sleep(ms, extra.signal);
      if (aborted) stats.aborted++;
      if (progressToken !== undefined && !aborted) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress: 1, total: 1, message: 'done' },
        });
      }
      return text(String(args.tag ?? ''));
    }
    case 'rich':
      return richResult();
    case 'big_schema':
      return text(`big_schema got ${Object.keys(args).length} arguments`);
    case 'blob':
      if (opts['blob-tool']) return text(blobText(Number(args.bytes)));
      throw new McpError(ErrorCode.InvalidParams, 'Unknown tool: blob');
    default: {
      const m = /^t(\d+)$/.exec(name);
      if (m && Number(m[1]) < TOOLS_COUNT) return text(name);
      if ((opts['odd-names'] && ODD_NAMES.includes(name)) || ADDED.has(name)) return text(name);
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
  }
}

function listTools(req) {
  if (!PAGE_SIZE) return { tools: TOOLS };
  let offset = 0;
  const cursor = req.params?.cursor;
  if (cursor !== undefined) {
    const m = /^page:(\d+)$/.exec(Buffer.from(cursor, 'base64').toString());
    if (!m || Number(m[1]) >= TOOLS.length) {
      throw new McpError(ErrorCode.InvalidParams, `Invalid cursor: ${cursor}`);
    }
    offset = Number(m[1]);
  }
  const page = { tools: TOOLS.slice(offset, offset + PAGE_SIZE) };
  if (offset + PAGE_SIZE < TOOLS.length) {
    page.nextCursor = Buffer.from(`page:${offset + PAGE_SIZE}`).toString('base64');
  }
  return page;
}

// ---------------------------------------------------------------- sessions

const sessions = new Map(); // Mcp-Session-Id -> transport
const servers = new Set(); // the SDK Server of every live session

async function newSession() {
  const server = new Server(
    { name: opts.name, version: '1.0.0' },
    { capabilities: { tools: {}, logging: {} } },
  );
  server.setRequestHandler(ListToolsRequestSchema, listTools);
  server.setRequestHandler(CallToolRequestSchema, callTool);
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse: MODE === 'json',
    eventStore: MODE === 'sse' ? new MemoryEventStore() : undefined,
    onsessioninitialized: (sid) => sessions.set(sid, transport),
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
    servers.delete(server);
  };
  servers.add(server);
  await server.connect(transport);
  return transport;
}

// ---------------------------------------------------------------- HTTP

function rpcError(res, status, code, message) {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}

function count(msg) {
  if (!msg || typeof msg !== 'object') return;
  if (msg.method === 'initialize') stats.initialize++;
  else if (msg.method === 'tools/call') stats.toolCalls++;
  else if (msg.method === 'notifications/cancelled') stats.cancelled++;
}

function sha256(s) {
  return createHash('sha256').update(s).digest('hex');
}

/** The auth header value the current token must produce. */
function expectedAuth(token) {
  if (AUTH_SCHEME === '') return token;
  if (AUTH_SCHEME.toLowerCase() === 'basic') return `Basic ${Buffer.from(token, 'utf8').toString('base64')}`;
  return `${AUTH_SCHEME} ${token}`;
}

/** True when the request may go on; otherwise answers 401 and returns false. */
async function checkAuth(req, res) {
  const got = req.headers[AUTH_HEADER];
  const value = Array.isArray(got) ? got.join(', ') : got;
  if (value === undefined) {
    stats.lastAuthSha256 = null;
  } else {
    stats.lastAuthSha256 = sha256(value);
    if (!stats.authSha256Seen.includes(stats.lastAuthSha256)) stats.authSha256Seen.push(stats.lastAuthSha256);
  }
  if (requiredToken === null) return true;
  const want = expectedAuth(requiredToken);
  let ok = false;
  if (value !== undefined) {
    if (AUTH_SCHEME === '') ok = value === want;
    else {
      // the scheme is case-insensitive (RFC 9110), the credential is not
      const sp = value.indexOf(' ');
      ok = sp > 0 && value.slice(0, sp).toLowerCase() === AUTH_SCHEME.toLowerCase()
        && value.slice(sp + 1) === want.slice(want.indexOf(' ') + 1);
    }
  }
  if (ok) {
    stats.authorized++;
    return true;
  }
  await readBody(req);
  stats.unauthorized++;
  const challenge = AUTH_SCHEME.toLowerCase() === 'basic' ? 'Basic realm="mcp"'
    : value === undefined ? 'Bearer realm="mcp"'
      : 'Bearer realm="mcp", error="invalid_token", error_description="The access token is invalid"';
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Unauthorized' }, id: null });
  res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': challenge });
  res.end(body);
  return false;
}

async function admin(req, res, path) {
  const adminBody = await readBody(req);
  if (path === '/admin/token' && req.method === 'POST') {
    let token;
    try {
      ({ token } = JSON.parse(adminBody.toString('utf8')));
    } catch {
      return sendJson(res, 400, { error: 'bad JSON body' });
    }
    if (typeof token !== 'string' || !token) return sendJson(res, 400, { error: 'missing token' });
    requiredToken = token;
    return sendJson(res, 200, { ok: true });
  }
  if (path === '/admin/stats' && req.method === 'GET') {
    return sendJson(res, 200, { ...stats, sessions: sessions.size });
  }
  if (path === '/admin/release-init' && req.method === 'POST') {
    releaseInit();
    return sendJson(res, 200, { released: true });
  }
  if (path === '/admin/expire' && req.method === 'POST') {
    const all = [...sessions.values()];
    sessions.clear();
    await Promise.allSettled(all.map((t) => t.close()));
    return sendJson(res, 200, { expired: all.length });
  }
  if (path === '/admin/add-tool' && req.method === 'POST') {
    const name = new URL(req.url, 'http://x').searchParams.get('name');
    if (!name || TOOLS.some((t) => t.name === name)) return sendJson(res, 400, { error: 'bad name' });
    ADDED.add(name);
    TOOLS.push({
      name,
      description: `added at run time: ${name}`,
      inputSchema: { type: 'object', properties: {} },
      annotations: { readOnlyHint: true },
    });
    await Promise.allSettled([...servers].map((s) => s.sendToolListChanged()));
    return sendJson(res, 200, { added: name, notified: servers.size });
  }
  return sendJson(res, 404, { error: 'no such admin endpoint' });
}

async function mcp(req, res) {
  stats.requests++;
  if (!(await checkAuth(req, res))) return;
  if (FAIL === 'hang') return; // never answered
  if (FAIL === '500') {
    await readBody(req);
    res.writeHead(500, { 'Content-Type': 'text/plain' });
    return res.end('internal server error (test-server --fail 500)\n');
  }
  if (FAIL === 'badjson') {
    await readBody(req);
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST' });
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end('{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18",,, not json\u0000');
  }

  let parsed;
  if (req.method === 'POST') {
    stats.lastProtocolVersion = req.headers['mcp-protocol-version'] ?? null;
    const body = await readBody(req);
    req.rawBody = body; // for @hono/node-server, should it look at the body
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return rpcError(res, 400, ErrorCode.ParseError, 'Parse error: invalid JSON');
    }
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) count(m);
    if (opts['hold-init'] && parsed?.method === 'initialize') await initReleased;
    if (DELAY_INIT && parsed?.method === 'initialize') {
      await new Promise((r) => setTimeout(r, DELAY_INIT));
    }
  } else if (req.method === 'DELETE') {
    stats.deletes++;
  }

  const sid = req.headers['mcp-session-id'];
  let transport;
  if (sid !== undefined) {
    transport = sessions.get(sid);
    if (!transport) {
      return rpcError(res, 404, -32001, 'Session not found');
    }
  } else {
    const isInit = req.method === 'POST' && !Array.isArray(parsed) && parsed?.method === 'initialize';
    if (!isInit) {
      return rpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
    }
    transport = await newSession();
  }
  if (req.method === 'GET') {
    stats.getStreams++;
    res.once('close', () => stats.getStreams--);
  }
  await transport.handleRequest(req, res, parsed);
}

const httpServer = http.createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  try {
    if (path.startsWith('/admin/')) return await admin(req, res, path);
    if (path === '/mcp') return await mcp(req, res);
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  } catch (err) {
    process.stderr.write(`test-server: ${err?.stack ?? err}\n`);
    if (!res.headersSent) rpcError(res, 500, ErrorCode.InternalError, 'Internal error');
    else res.end();
  }
});
httpServer.requestTimeout = 0; // hang mode: never time out on our side
httpServer.headersTimeout = 0;

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

httpServer.listen(Number(opts.port), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});
