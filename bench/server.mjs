#!/usr/bin/env node
// The upstream MCP server every proxy in the benchmark talks to: the official
// TypeScript SDK's Server behind StreamableHTTPServerTransport in JSON response
// mode (enableJsonResponse), on 127.0.0.1 only. One process hosts any number of
// independent MCP endpoints, /mcp/0 ... /mcp/N-1 (/mcp is /mcp/0), so the scale
// test does not need 100 node processes. Prints "LISTENING <port>" once ready.
//
//   --port N         0 = any free port (default)
//   --endpoints N    number of MCP endpoints (default 1)
//   --tools N        tools per endpoint, echo and big included (default 2)
//   --latency-ms MS  added to every HTTP request before it is handled (default 0)
//   --big-mib N      size of the big tool's text result in MiB (default 5)
//   --trace          two stderr lines per HTTP request, when it arrives (body read)
//                    and when its response has been handed to the OS:
//                    "<ms since the epoch> ms /mcp/<n> <HTTP method> <JSON-RPC method>[ done]"
//                    (to see what a proxy sends when, and how long the server took)
//
// Tools: echo {text} returns text unchanged; big returns N MiB of text (lines of
// printable ASCII ending in \n, so the JSON encoding has escapes to undo);
// t2 .. t{N-1} are fillers with a realistic description and input schema.

import fs from 'node:fs';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { baseTools, bigText } from './tools.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    endpoints: { type: 'string', default: '1' },
    tools: { type: 'string', default: '2' },
    'latency-ms': { type: 'string', default: '0' },
    'big-mib': { type: 'string', default: '5' },
    trace: { type: 'boolean', default: false },
  },
  strict: true,
});
const num = (name, min) => {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < min) {
    process.stderr.write(`bench server: bad --${name} ${opts[name]}\n`);
    process.exit(2);
  }
  return v;
};
const ENDPOINTS = num('endpoints', 1);
const NTOOLS = num('tools', 2);
const LATENCY = num('latency-ms', 0);
const BIG_BYTES = num('big-mib', 0) * 1024 * 1024;

// 5 MiB of text, built once.
const BIG_TEXT = bigText(BIG_BYTES);

const TOOLS = baseTools(opts['big-mib']);
for (let i = 2; i < NTOOLS; i++) {
  TOOLS.push({
    name: `t${i}`,
    title: `Filler tool ${i}`,
    description: `Filler tool number ${i}: looks up records in a made-up system by query, ` +
      'with optional paging, the way a typical SaaS connector tool is described.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'what to search for' },
        limit: { type: 'integer', minimum: 1, maximum: 100, description: 'page size' },
        cursor: { type: 'string', description: 'opaque paging cursor' },
      },
      required: ['query'],
    },
    annotations: { readOnlyHint: i % 2 === 0 },
  });
}

async function callTool(req) {
  const { name, arguments: args = {} } = req.params;
  if (name === 'echo') return { content: [{ type: 'text', text: String(args.text ?? '') }] };
  if (name === 'big') return { content: [{ type: 'text', text: BIG_TEXT }] };
  if (TOOLS.some((t) => t.name === name)) return { content: [{ type: 'text', text: `${name}: ok` }] };
  throw new McpError(ErrorCode.InvalidParams, `unknown tool ${name}`);
}

const sessions = new Map(); // session id -> transport (ids are unique across endpoints)

async function newSession() {
  const server = new Server({ name: 'bench-server', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, callTool);
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse: true,
    onsessioninitialized: (sid) => sessions.set(sid, transport),
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
  };
  await server.connect(transport);
  return transport;
}

function rpcError(res, status, code, message) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function trace(req, res, ep, parsed) {
  const what = Array.isArray(parsed) ? parsed.map((m) => m.method ?? 'response').join(',')
    : parsed ? (parsed.method ?? 'response') : '-';
  const line = (tail) => process.stderr.write(
    `${(performance.timeOrigin + performance.now()).toFixed(1)} ms /mcp/${ep} ${req.method} ${what}${tail}\n`);
  line('');
  res.once('finish', () => line(' done'));
}

async function mcp(req, res, ep) {
  let parsed;
  if (req.method === 'POST') {
    const body = await readBody(req);
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return rpcError(res, 400, ErrorCode.ParseError, 'Parse error: invalid JSON');
    }
  }
  if (opts.trace) trace(req, res, ep, parsed);
  if (LATENCY) await sleep(LATENCY);
  const sid = req.headers['mcp-session-id'];
  let transport;
  if (sid !== undefined) {
    transport = sessions.get(sid);
    if (!transport) return rpcError(res, 404, -32001, 'Session not found');
  } else {
    if (req.method !== 'POST' || Array.isArray(parsed) || parsed?.method !== 'initialize') {
      return rpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
    }
    transport = await newSession();
  }
  await transport.handleRequest(req, res, parsed);
}

const MCP_PATH = /^\/mcp(?:\/(\d+))?$/;

const httpServer = http.createServer(async (req, res) => {
  const m = MCP_PATH.exec(new URL(req.url, 'http://x').pathname);
  try {
    if (m && (m[1] === undefined || Number(m[1]) < ENDPOINTS)) return await mcp(req, res, m[1] ?? '0');
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  } catch (err) {
    process.stderr.write(`bench server: ${err?.stack ?? err}\n`);
    if (!res.headersSent) rpcError(res, 500, ErrorCode.InternalError, 'Internal error');
    else res.end();
  }
});
httpServer.keepAliveTimeout = 60_000;

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => process.exit(0));
if (fs.fstatSync(0).isFIFO()) { // started by the driver: exit when it goes away
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

httpServer.listen(Number(opts.port), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});
