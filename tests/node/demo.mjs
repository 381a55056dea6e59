// tests/node/demo.mjs - the `make demo` walk-through (started by tests/node/demo.sh).
//
// Starts two MCP servers on 127.0.0.1 (the official "everything" test server in
// Streamable HTTP mode, and a small "notes" server defined below), writes a
// temporary mcpmux config naming them, starts `mcpmux serve -c <config>` over
// stdio exactly as an agent would, lists the merged tools, calls a few, and
// stops everything it started. Exit 0 when every step worked.
//
//   node tests/node/demo.mjs [-v|--verbose]      (-v also shows the servers' and mcpmux's logs)
//   MCPMUX_BIN=/path/to/mcpmux                   (default: <repo>/mcpmux)

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createServer } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const BIN = process.env.MCPMUX_BIN || path.join(ROOT, 'mcpmux');
const EVERYTHING = path.join(HERE, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const VERBOSE = process.argv.includes('-v') || process.argv.includes('--verbose');
const DEMO_DEADLINE_MS = 90_000;
const REQUEST_TIMEOUT_MS = 40_000;

// ---------------------------------------------------------------------------
// Bookkeeping: every child process by PID, log tails, temp files.

const children = new Map();	// pid -> { name, proc }
const logTails = new Map();	// name -> last lines written by that process
let tmpDir = null;
let notesHttp = null;
const notesSessions = new Map();
let client = null;
let muxTransport = null;	// the SDK's stdio transport that runs mcpmux
let muxExit = null;		// { code, signal, at } once mcpmux has exited
let finishing = false;

function keepLog(name, stream) {
	if (!stream) return;
	const lines = logTails.get(name) ?? [];
	logTails.set(name, lines);
	let partial = '';
	stream.setEncoding('utf8');
	stream.on('data', (chunk) => {
		const parts = (partial + chunk).split('\n');
		partial = parts.pop();
		for (const line of parts) {
			lines.push(line);
			if (lines.length > 200) lines.shift();
			if (VERBOSE) process.stderr.write(`    [${name}] ${line}\n`);
		}
	});
}

function track(name, proc) {
	if (proc?.pid) children.set(proc.pid, { name, proc });
	proc?.once('exit', () => children.delete(proc.pid));
}

const out = (s = '') => process.stdout.write(s + '\n');
const step = (n, title) => out(`\n[${n}/5] ${title}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// The "notes" server: an ordinary MCP server built with the official SDK.

const notes = [];

function makeNotesServer() {
	const server = new McpServer({ name: 'demo-notes', version: '1.0.0' });
	server.registerTool('add_note', {
		title: 'Add a note',
		description: 'Save a short text note (kept in memory while the demo runs).',
		inputSchema: { text: z.string().min(1).describe('The text of the note') },
		annotations: { readOnlyHint: false, destructiveHint: false },
	}, async ({ text }) => {
		notes.push(text);
		return { content: [{ type: 'text', text: `Saved note #${notes.length}: ${text}` }] };
	});
	server.registerTool('list_notes', {
		title: 'List notes',
		description: 'List every saved note, oldest first.',
		inputSchema: {},
		annotations: { readOnlyHint: true },
	}, async () => {
		const text = notes.length === 0
			? 'No notes yet.'
			: `${notes.length} note(s):\n` + notes.map((t, i) => `#${i + 1} ${t}`).join('\n');
		return { content: [{ type: 'text', text }] };
	});
	return server;
}

// Streamable HTTP on node:http, one SDK transport per MCP session.
async function handleNotesRequest(req, res) {
	const { pathname } = new URL(req.url, 'http://127.0.0.1');
	if (pathname !== '/mcp') {
		res.writeHead(404).end();
		return;
	}
	const sid = req.headers['mcp-session-id'];
	let transport = sid ? notesSessions.get(sid) : undefined;
	if (sid && !transport) {
		res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify(
			{ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
		return;
	}
	if (!transport) {
		if (req.method !== 'POST') {
			res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(
				{ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: no session' }, id: null }));
			return;
		}
		const t = new StreamableHTTPServerTransport({
			sessionIdGenerator: () => randomUUID(),
			onsessioninitialized: (id) => notesSessions.set(id, t),
			onsessionclosed: (id) => notesSessions.delete(id),
		});
		t.onclose = () => { if (t.sessionId) notesSessions.delete(t.sessionId); };
		await makeNotesServer().connect(t);
		transport = t;
	}
	await transport.handleRequest(req, res);
}

function startNotesServer() {
	notesHttp = createServer((req, res) => {
		handleNotesRequest(req, res).catch((err) => {
			if (VERBOSE) process.stderr.write(`    [notes] ${err?.stack ?? err}\n`);
			if (!res.headersSent) res.writeHead(500).end();
		});
	});
	return new Promise((resolve, reject) => {
		notesHttp.once('error', reject);
		notesHttp.listen(0, '127.0.0.1', () => resolve(notesHttp.address().port));
	});
}

// ---------------------------------------------------------------------------
// The "everything" server: a child process on a free port.

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.once('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

function canConnect(port) {
	return new Promise((resolve) => {
		const sock = net.connect({ host: '127.0.0.1', port });
		sock.once('connect', () => { sock.destroy(); resolve(true); });
		sock.once('error', () => { sock.destroy(); resolve(false); });
	});
}

async function startEverything() {
	if (!fs.existsSync(EVERYTHING))
		throw new Error(`${EVERYTHING} is missing: run 'cd tests/node && npm ci'`);
	const port = await freePort();
	const proc = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
		env: { ...process.env, PORT: String(port) },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	track('the everything server', proc);
	keepLog('everything', proc.stdout);
	keepLog('everything', proc.stderr);
	let exited = null;
	proc.once('exit', (code, signal) => { exited = signal ?? `exit code ${code}`; });
	const until = Date.now() + 20_000;
	while (!(await canConnect(port))) {
		if (exited) throw new Error(`the everything server stopped while starting (${exited})`);
		if (Date.now() > until) throw new Error(`the everything server did not listen on port ${port} within 20 s`);
		await sleep(100);
	}
	return { port, pid: proc.pid };
}

// ---------------------------------------------------------------------------
// Output helpers.

function firstLine(text, max) {
	const line = String(text ?? '').split('\n').map((l) => l.trim()).find((l) => l) ?? '';
	return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

function describeContent(item) {
	switch (item?.type) {
	case 'text': return item.text;
	case 'image': return `[image, ${item.mimeType}]`;
	case 'audio': return `[audio, ${item.mimeType}]`;
	case 'resource_link': return `[link to ${item.uri}]`;
	case 'resource': return `[resource ${item.resource?.uri}]`;
	default: return `[${item?.type ?? 'unknown'} content]`;
	}
}

// Indents every line; `first` (if given) replaces the padding of the first line.
function indent(text, pad, first = pad) {
	return String(text).split('\n').map((l, i) => (i ? pad : first) + l).join('\n');
}

// ---------------------------------------------------------------------------
// The demo.

async function main() {
	out('mcpmux demo');
	out('===========');
	out('Two MCP servers start on this machine, mcpmux connects to both, and this');
	out('script talks to mcpmux over stdio the way Claude Desktop or Cursor would.');

	step(1, 'Starting two MCP servers (Streamable HTTP, 127.0.0.1)');
	const ev = await startEverything();
	out(`  everything  http://127.0.0.1:${ev.port}/mcp   @modelcontextprotocol/server-everything, pid ${ev.pid}`);
	const notesPort = await startNotesServer();
	out(`  notes       http://127.0.0.1:${notesPort}/mcp   a small notes server defined in tests/node/demo.mjs`);

	step(2, 'Writing a config file for mcpmux');
	tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpmux-demo-'));
	const cfgPath = path.join(tmpDir, 'mcpmux.ini');
	const cfg = [
		'[mcpmux]',
		'call_timeout = 30',
		'connect_timeout = 10',
		'audit_log = off',
		'',
		'[connector "everything"]',
		`url = http://127.0.0.1:${ev.port}/mcp`,
		'; the demo runs unattended: no human approves write tools here',
		'; (without this line, write tools wait for `mcpmux approve`)',
		'approval = auto',
		'',
		'[connector "notes"]',
		`url = http://127.0.0.1:${notesPort}/mcp`,
		'approval = auto',
		'',
	].join('\n');
	fs.writeFileSync(cfgPath, cfg, { mode: 0o600 });
	out(`  ${cfgPath}:`);
	out(indent(cfg.trimEnd(), '    | '));

	const rel = path.relative(process.cwd(), BIN);
	const shown = rel && !rel.startsWith('..') ? rel : BIN;
	step(3, `Starting mcpmux as an agent would: ${shown} serve -c ${cfgPath}`);
	const transport = new StdioClientTransport({
		command: BIN,
		args: ['serve', '-c', cfgPath],
		stderr: 'pipe',	// mcpmux logs to stderr; shown with -v or when something fails
	});
	keepLog('mcpmux', transport.stderr);
	muxTransport = transport;
	client = new Client({ name: 'mcpmux-demo', version: '1.0.0' });
	const t0 = Date.now();
	try {
		await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
	} catch (err) {
		throw new Error(`mcpmux did not complete the MCP handshake (initialize): ${err.message}`);
	}
	// The SDK keeps the child process private; we want its PID and exit status.
	const muxProc = transport._process;
	if (muxProc) {
		track('mcpmux', muxProc);
		muxProc.once('exit', (code, signal) => { muxExit = { code, signal, at: Date.now() }; });
	}
	const info = client.getServerVersion() ?? {};
	out(`  initialized in ${Date.now() - t0} ms: ${info.name ?? '?'} ${info.version ?? ''} (pid ${transport.pid ?? '?'})`);

	step(4, 'The merged tool list (tools/list)');
	const tools = [];
	let cursor;
	do {
		const page = await client.listTools(cursor ? { cursor } : {}, { timeout: REQUEST_TIMEOUT_MS });
		tools.push(...page.tools);
		cursor = page.nextCursor;
	} while (cursor);
	const byAlias = new Map();
	for (const t of tools) {
		const alias = t.name.includes('__') ? t.name.slice(0, t.name.indexOf('__')) : '(no alias)';
		byAlias.set(alias, (byAlias.get(alias) ?? 0) + 1);
	}
	out(`  ${tools.length} tools from ${byAlias.size} connector(s): ` +
		[...byAlias].map(([a, n]) => `${a} (${n})`).join(', '));
	const width = Math.min(48, Math.max(...tools.map((t) => t.name.length), 10));
	const descMax = Math.max(40, (process.stdout.columns || 100) - width - 11);
	for (const t of tools) {
		const label = t.annotations?.readOnlyHint === true ? 'read ' : 'write';
		out(`  ${t.name.padEnd(width)}  ${label}  ${firstLine(t.description ?? t.title, descMax)}`);
	}
	out('  (read/write comes from each tool\'s readOnlyHint annotation)');
	const missing = ['everything', 'notes'].filter((a) => !byAlias.has(a));
	if (missing.length)
		throw new Error(`no tools from ${missing.join(' and ')}: that connector did not come up`);

	step(5, 'Calling tools through mcpmux (tools/call)');
	const calls = [
		['everything__get-sum', { a: 19, b: 23 }],
		['notes__add_note', { text: 'Add mcpmux to claude_desktop_config.json' }],
		['notes__list_notes', {}],
	];
	let failed = 0;
	for (const [name, args] of calls) {
		const call = `  ${name} ${JSON.stringify(args)}`;
		if (!tools.some((t) => t.name === name)) {
			out(call);
			out(`    ! ${name} is not in the tool list`);
			failed++;
			continue;
		}
		const t1 = Date.now();
		try {
			const result = await client.callTool({ name, arguments: args }, undefined,
				{ timeout: REQUEST_TIMEOUT_MS });
			const text = (result.content ?? []).map(describeContent).join('\n') || '(no content)';
			out(`${call}   (${Date.now() - t1} ms${result.isError ? ', the tool reported an error' : ''})`);
			out(indent(text, '      ', result.isError ? '    ! ' : '    → '));
			if (result.isError) failed++;
		} catch (err) {
			out(call);
			out(`    ! failed: ${err.message}`);
			failed++;
		}
	}
	if (failed) throw new Error(`${failed} of ${calls.length} tool calls failed`);
}

// ---------------------------------------------------------------------------
// Shutdown: every process we started, by PID, also on errors and Ctrl-C.

function waitExit(proc, ms) {
	if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
	return Promise.race([
		new Promise((r) => proc.once('exit', () => r(true))),
		sleep(ms).then(() => false),
	]);
}

async function shutdown(quiet) {
	const say = quiet ? () => {} : out;
	if (client) {
		// Like an agent: close mcpmux's stdin; the SDK escalates to SIGTERM after 2 s.
		const t0 = Date.now();
		await client.close().catch(() => {});
		client = null;
		if (muxExit) {
			const how = muxExit.signal ? `after ${muxExit.signal}` : `with code ${muxExit.code}`;
			say(`  mcpmux exited ${how}, ${((muxExit.at - t0) / 1000).toFixed(2)} s after its stdin closed`);
			if (muxExit.signal && !quiet)
				out('  ! mcpmux did not exit on its own within 2 s of EOF on stdin');
		}
		const muxLines = logTails.get('mcpmux')?.length ?? 0;
		if (muxLines && !VERBOSE)
			say(`  mcpmux wrote ${muxLines} log line(s) to stderr (run 'tests/node/demo.sh -v' to see them)`);
	}
	for (const [pid, { name, proc }] of [...children]) {
		try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
		if (!(await waitExit(proc, 3000))) {
			try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
			await waitExit(proc, 1000);
		}
		children.delete(pid);
		say(`  stopped ${name} (pid ${pid})`);
	}
	if (notesHttp) {
		for (const t of [...notesSessions.values()]) await t.close().catch(() => {});
		notesHttp.closeAllConnections?.();
		await new Promise((r) => notesHttp.close(() => r()));
		notesHttp = null;
		say('  stopped the notes server');
	}
	if (tmpDir) {
		fs.rmSync(tmpDir, { recursive: true, force: true });
		tmpDir = null;
	}
}

function showLogs() {
	for (const [name, lines] of logTails) {
		if (!lines.length || VERBOSE) continue;
		process.stderr.write(`\n--- last lines ${name} wrote ---\n`);
		process.stderr.write(lines.slice(-30).join('\n') + '\n');
	}
}

async function fail(message) {
	if (finishing) return;
	finishing = true;
	process.stderr.write(`\ndemo failed: ${message}\n`);
	showLogs();
	out('\nShutting down');
	await shutdown(false).catch(() => {});
	process.exit(1);
}

// Last resort if the process exits some other way: no orphans, no temp files.
process.on('exit', () => {
	if (muxTransport?.pid) children.set(muxTransport.pid, { name: 'mcpmux' });
	for (const pid of children.keys()) {
		try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
	}
	if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
	process.on(sig, async () => {
		if (finishing) process.exit(130);
		finishing = true;
		process.stderr.write(`\ndemo interrupted (${sig}); stopping what it started\n`);
		await shutdown(true).catch(() => {});
		process.exit(130);
	});
}
setTimeout(() => fail(`the demo did not finish within ${DEMO_DEADLINE_MS / 1000} s`), DEMO_DEADLINE_MS).unref();

try {
	await main();
} catch (err) {
	await fail(err?.message ?? String(err));
}
if (!finishing) {
	finishing = true;
	out('\nShutting down');
	await shutdown(false);
	out('\nDemo finished: one stdio server in front of two HTTP MCP servers.');
	out('To use mcpmux with your own agent, see "Claude Desktop" in README.md.');
	process.exit(0);
}
