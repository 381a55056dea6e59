// The merged catalog from three real upstreams (SDK server in JSON mode, SDK
// server in SSE mode, the official server-everything), routing of calls, and
// the splice: schemas and results come out of mcpmux exactly as the upstream
// sent them (only the tool name is rewritten).

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  BASE_TOOLS, connect, directClient, listAllTools, rawSpawn, startEverything, startServer,
  textOf, writeConfig,
} from '../lib/harness.mjs';
import { bigSchema, RICH_STRUCTURED, RICH_TEXT } from '../servers/fixtures.mjs';

describe('merged catalog: alpha (json), beta (sse), every (server-everything)', () => {
  let alpha;
  let beta;
  let every;
  let cfg;
  let mux;
  let muxTools; // the first tools/list through mcpmux

  before(async () => {
    [alpha, beta, every] = await Promise.all([
      startServer(['--mode', 'json', '--name', 'alpha']),
      startServer(['--mode', 'sse', '--name', 'beta']),
      startEverything(),
    ]);
    cfg = writeConfig({
      mcpmux: { call_timeout: 10, connect_timeout: 10 },
      connectors: {
        alpha: { url: alpha.url, approval: 'auto' },
        beta: beta.url,
        every: { url: every.url, approval: 'auto' },
      },
    });
    mux = await connect(cfg);
    // Listing right after initialize must wait for all three connectors.
    muxTools = await listAllTools(mux.client);
  });

  test('the first tools/list already has the tools of all three connectors', () => {
    const names = muxTools.map((t) => t.name);
    for (const alias of ['alpha', 'beta']) {
      const mine = names.filter((n) => n.startsWith(`${alias}__`)).sort();
      assert.deepEqual(mine, BASE_TOOLS.map((t) => `${alias}__${t}`).sort(), `${alias}'s tools`);
    }
    assert.ok(names.includes('every__echo'), `every__echo in ${JSON.stringify(names)}`);
    assert.ok(names.includes('every__get-sum'), 'every__get-sum listed');
    assert.equal(new Set(names).size, names.length, 'no duplicate names');
    for (const n of names) assert.match(n, /^[A-Za-z0-9_-]{1,54}$/, `exposed name ${n}`);
  });

  test('calls are routed to the right connector', async () => {
    const [a, b, e] = await Promise.all([
      mux.client.callTool({ name: 'alpha__echo', arguments: { text: 'to alpha' } }),
      mux.client.callTool({ name: 'beta__echo', arguments: { text: 'to beta ✓' } }),
      mux.client.callTool({ name: 'every__echo', arguments: { message: 'to every' } }),
    ]);
    assert.equal(textOf(a), 'echo: to alpha');
    assert.equal(textOf(b), 'echo: to beta ✓');
    assert.equal(textOf(e), 'Echo: to every');
    assert.ok(!a.isError && !b.isError && !e.isError);
    assert.equal(textOf(await mux.client.callTool({ name: 'alpha__add', arguments: { a: 2, b: 40 } })), '42');
    assert.equal(textOf(await mux.client.callTool({ name: 'every__get-sum', arguments: { a: 2, b: 3 } })),
      textOf(await (await directClient(every.url)).callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } })));
  });

  test('tool definitions are spliced intact: everything but the name is the upstream\'s', async () => {
    for (const [alias, srv] of [['alpha', alpha], ['beta', beta], ['every', every]]) {
      const direct = await listAllTools(await directClient(srv.url));
      for (const up of direct) {
        const exposed = muxTools.find((t) => t.name === `${alias}__${up.name}`);
        if (!exposed && alias === 'every') continue; // capability-dependent tools
        assert.ok(exposed, `${alias}__${up.name} listed`);
        assert.deepEqual({ ...exposed, name: up.name }, up, `${alias}__${up.name} definition`);
      }
    }
  });

  test('alpha__big_schema inputSchema deep-equals the upstream\'s', async () => {
    const direct = await listAllTools(await directClient(alpha.url));
    const up = direct.find((t) => t.name === 'big_schema');
    const exposed = muxTools.find((t) => t.name === 'alpha__big_schema');
    assert.ok(exposed);
    assert.deepEqual(exposed.inputSchema, up.inputSchema);
    assert.ok(JSON.stringify(exposed.inputSchema).length > 50 * 1024);
  });

  test('beta__rich and alpha__rich results deep-equal a direct call', async () => {
    for (const [alias, srv] of [['beta', beta], ['alpha', alpha]]) {
      const direct = await (await directClient(srv.url)).callTool({ name: 'rich', arguments: {} });
      const viaMux = await mux.client.callTool({ name: `${alias}__rich`, arguments: {} });
      assert.deepEqual(viaMux.content, direct.content, `${alias}__rich content`);
      assert.deepEqual(viaMux.structuredContent, direct.structuredContent, `${alias}__rich structuredContent`);
      assert.equal(viaMux.isError, direct.isError);
      assert.equal(viaMux.content[0].text, RICH_TEXT);
    }
  });

  test('raw bytes on stdout: non-ASCII text, U+2028, emoji and the big schema survive verbatim', async () => {
    const raw = rawSpawn(cfg);
    try {
      await raw.initialize('2025-11-25', { timeout: 15000 });
      const list = await raw.request('tools/list', {}, { timeout: 15000 });
      assert.equal(list.parseError, undefined);
      let tools = list.msg.result.tools;
      let cursor = list.msg.result.nextCursor;
      let bigLine = tools.some((t) => t.name === 'alpha__big_schema') ? list.raw : null;
      while (cursor) {
        const more = await raw.request('tools/list', { cursor }, { timeout: 15000 });
        tools = tools.concat(more.msg.result.tools);
        if (more.msg.result.tools.some((t) => t.name === 'alpha__big_schema')) bigLine = more.raw;
        cursor = more.msg.result.nextCursor;
      }
      assert.ok(bigLine, 'alpha__big_schema listed');
      assert.ok(bigLine.includes(Buffer.from(JSON.stringify(bigSchema()))),
        'the big schema\'s bytes appear on stdout exactly as the upstream sent them');

      for (const alias of ['alpha', 'beta']) {
        const { raw: line, msg } = await raw.request('tools/call',
          { name: `${alias}__rich`, arguments: {} }, { id: `rich-${alias}`, timeout: 10000 });
        assert.equal(msg.result.content[0].text, RICH_TEXT);
        const textBytes = Buffer.from(JSON.stringify(RICH_TEXT), 'utf8');
        assert.ok(line.includes(textBytes),
          `${alias}: the UTF-8 bytes of ${JSON.stringify(RICH_TEXT)} (raw U+2028, 4-byte emoji) are on the line`);
        assert.ok(line.includes(Buffer.from(JSON.stringify(RICH_STRUCTURED), 'utf8')),
          `${alias}: structuredContent bytes spliced verbatim`);
        assert.equal(line.toString('utf8').includes('\n'), false);
      }
    } finally {
      await raw.end();
    }
  });
});
