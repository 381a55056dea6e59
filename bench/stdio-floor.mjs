#!/usr/bin/env node
// The stdio floor: an MCP server over stdio that does no work at all. It
// answers from memory what bench/server.mjs answers over HTTP (the same tools,
// the same echo, the same 5 MiB text), with the reply bytes prepared at start.
// Any stdio proxy's figures include what the agent's own stdio transport
// costs; this contender is that cost alone, with no proxy and no upstream.
//
//   node bench/stdio-floor.mjs [--big-mib N]

import { parseArgs } from 'node:util';
import { baseTools, bigText } from './tools.mjs';

const { values: opts } = parseArgs({ options: { 'big-mib': { type: 'string', default: '5' } } });
const BIG_TEXT = bigText(Number(opts['big-mib']) * 1024 * 1024);
// The reply around its id, as the SDK server orders it: result first.
const BIG_HEAD = Buffer.from(`{"result":{"content":[{"type":"text","text":${JSON.stringify(BIG_TEXT)}}]},"jsonrpc":"2.0","id":`);
const TOOLS = baseTools(opts['big-mib']);

const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const reply = (id, result) => out({ result, jsonrpc: '2.0', id });

function handle(msg) {
  if (msg.id === undefined || msg.method === undefined) return; // notifications, responses
  switch (msg.method) {
    case 'initialize':
      return reply(msg.id, {
        protocolVersion: msg.params?.protocolVersion ?? '2025-11-25',
        capabilities: { tools: {} },
        serverInfo: { name: 'stdio-floor', version: '1.0.0' },
      });
    case 'ping':
      return reply(msg.id, {});
    case 'tools/list':
      return reply(msg.id, { tools: TOOLS });
    case 'tools/call':
      if (msg.params?.name === 'echo') {
        return reply(msg.id, { content: [{ type: 'text', text: String(msg.params.arguments?.text ?? '') }] });
      }
      if (msg.params?.name === 'big') {
        process.stdout.write(BIG_HEAD);
        return process.stdout.write(`${JSON.stringify(msg.id)}}\n`);
      }
      return out({ jsonrpc: '2.0', id: msg.id, error: { code: -32602, message: 'unknown tool' } });
    default:
      return out({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'method not found' } });
  }
}

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  const lines = (pending + d).split('\n');
  pending = lines.pop();
  for (const l of lines) if (l.trim()) handle(JSON.parse(l));
});
process.stdin.on('end', () => process.exit(0));
