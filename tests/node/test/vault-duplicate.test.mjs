// A vault reply with a key twice ("token" once for mcpmux, once for whoever
// reads the last one) is refused, with a message that says so; no
// credential from it reaches the connector.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { NO_VAULT_ENV, rawSpawn, startServer, startVault, toIni, writeConfig } from '../lib/harness.mjs';

const VT = 'hvs.DUPvaultTOKENq7Rm2';

test('a KV reply with a repeated field is refused', async () => {
  const vault = await startVault();
  await vault.admin('token', { token: VT, ttl: 3600 });
  await vault.admin('kv2/put', { path: 'mcp/dup', data: { token: 'good' } });
  await vault.admin('fail', {
    match: 'secret/data/mcp/dup', status: 200, count: 100,
    raw: '{"data":{"data":{"token":"good","token":"evil"},"metadata":{"version":1}}}',
  });
  const up = await startServer(['--name', 'up', '--require-token', 'good']);
  const cfg = writeConfig('');
  const tf = path.join(path.dirname(cfg), 'vault-token');
  fs.writeFileSync(tf, `${VT}\n`, { mode: 0o600 });
  fs.writeFileSync(cfg, toIni({
    vault: { type: 'hashicorp', address: vault.addr, auth: 'token', token_file: tf },
    connectors: { dup: { url: up.url, token: 'vault:secret/data/mcp/dup#token' } },
  }));
  const mux = rawSpawn(cfg, { env: NO_VAULT_ENV });
  await mux.initialize();
  const { msg } = await mux.request('tools/list', {}, { timeout: 10000 });
  assert.deepEqual(msg.result.tools, []);
  assert.match(mux.stderr(), /vault:secret\/data\/mcp\/dup#token: the vault's answer holds a key twice in one object/);
  const stats = await up.stats();
  assert.equal(stats.authorized, 0, 'no credential reached the connector');
  assert.ok(!mux.stderr().includes('evil') && !mux.stderr().includes('good'), 'no value in the log');
  await mux.end();
});
