#!/usr/bin/env node
// A client for the official MCP conformance suite's CLIENT scenarios, with
// mcpmux as the client under test:
//
//   node conformance-client.mjs <server-url>
//
// Writes a config with one connector (alias "conf") pointing at the
// scenario's server, starts `mcpmux serve` over stdio with the SDK client,
// lists the tools, calls each one (conf__add_numbers gets {a: 2, b: 3}),
// closes, and exits 0; any error exits non-zero.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.MCPMUX_BIN || path.resolve(HERE, '..', '..', 'mcpmux');
const TIMEOUT_MS = 15000;

const url = process.argv[process.argv.length - 1];
if (process.argv.length < 3 || !/^https?:\/\//.test(url)) {
  console.error('usage: conformance-client.mjs <server-url>');
  process.exit(2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpmux-conformance-'));
const config = path.join(dir, 'mcpmux.ini');
fs.writeFileSync(config, [
  '[mcpmux]',
  'call_timeout = 10',
  'connect_timeout = 10',
  '',
  '[connector "conf"]',
  `url = ${url}`,
  'approval = auto',
  '',
].join('\n'));

const env = { ...process.env, HOME: dir, XDG_STATE_HOME: path.join(dir, 'state'),
  XDG_RUNTIME_DIR: dir, XDG_CONFIG_HOME: path.join(dir, 'config'), XDG_DATA_HOME: path.join(dir, 'data') };
delete env.MCPMUX_CONFIG;
const transport = new StdioClientTransport({
  command: BIN,
  args: ['serve', '-c', config],
  env,
  stderr: 'pipe',
});
let stderr = '';
transport.stderr.setEncoding('utf8');
transport.stderr.on('data', (d) => {
  stderr += d;
});
const client = new Client({ name: 'mcpmux-conformance-client', version: '0.0.0' });

const ARGS = { conf__add_numbers: { a: 2, b: 3 } };
let failed = false;
try {
  await client.connect(transport, { timeout: TIMEOUT_MS });
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {}, { timeout: TIMEOUT_MS });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  console.log(`tools: ${JSON.stringify(tools.map((t) => t.name))}`);
  for (const tool of tools) {
    const res = await client.callTool({ name: tool.name, arguments: ARGS[tool.name] ?? {} }, undefined,
      { timeout: TIMEOUT_MS });
    console.log(`${tool.name}: ${JSON.stringify(res)}`);
    if (res.isError) {
      console.error(`${tool.name} returned isError`);
      failed = true;
    }
    const text = (res.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
    if (tool.name === 'conf__add_numbers' && !/\b5\b/.test(text)) {
      console.error(`conf__add_numbers(2, 3) answered ${JSON.stringify(text)}, not 5`);
      failed = true;
    }
  }
} catch (err) {
  console.error(`conformance-client: ${err?.stack ?? err}`);
  failed = true;
} finally {
  const pid = transport.pid;
  await Promise.race([client.close().catch(() => {}), new Promise((r) => setTimeout(r, 6000))]);
  if (pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (stderr) console.error(`mcpmux stderr:\n${stderr}`);
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
