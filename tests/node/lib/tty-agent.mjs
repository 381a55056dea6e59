#!/usr/bin/env node
// An agent for the approvals = tty test, run inside a tmux pane so that the
// `mcpmux serve` it starts has the pane as its terminal (/dev/tty) while its
// stdin and stdout are pipes to this client, as with a CLI agent.
//
//   node tty-agent.mjs MCPMUX_BIN CONFIG AGENT_NAME TOOL ARGS_JSON [ARGS_JSON ...]
//
// Calls TOOL once per ARGS_JSON, one after the other, and prints one line per
// call: "RESULT <n>: <text>" or "ERROR <n>: <text>", then "DONE".

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const [bin, config, agent, tool, ...calls] = process.argv.slice(2);
const transport = new StdioClientTransport({ command: bin, args: ['serve', '-c', config], stderr: 'ignore' });
const client = new Client({ name: agent, version: '1.0' }, { capabilities: {} });
await client.connect(transport);
let n = 0;
for (const args of calls) {
  n++;
  try {
    const res = await client.callTool({ name: tool, arguments: JSON.parse(args) }, undefined, { timeout: 60000 });
    const text = res.content?.map((c) => c.text).join(' ') ?? '';
    process.stdout.write(`${res.isError ? 'ERROR' : 'RESULT'} ${n}: ${text.slice(0, 60)}\n`);
  } catch (err) {
    process.stdout.write(`ERROR ${n}: ${err.message.slice(0, 60)}\n`);
  }
}
process.stdout.write('DONE\n');
await client.close();
