// initialize: answered at once whatever the connectors are doing, and the
// protocol version negotiation of the legacy era.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { rawSpawn, startServer, writeConfig } from '../lib/harness.mjs';

const SUPPORTED = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'];
const LATEST = '2025-11-25';

describe('initialize', () => {
  let cfg;
  before(async () => {
    const [alpha, hang] = await Promise.all([
      startServer(['--name', 'alpha']),
      startServer(['--fail', 'hang']),
    ]);
    cfg = writeConfig({
      // hangconn is given up on only after an hour
      mcpmux: { connect_timeout: 3600, call_timeout: 3600 },
      connectors: { alpha: alpha.url, hangconn: hang.url },
    });
  });

  test('is answered without waiting for a hanging connector', async () => {
    const raw = rawSpawn(cfg);
    try {
      // Waiting for hangconn would last an hour: an answer at all, inside
      // this request's bound, says initialize did not wait.
      const { msg } = await raw.request('initialize', {
        protocolVersion: LATEST,
        capabilities: {},
        clientInfo: { name: 'mcpmux-tests', version: '0' },
      }, { id: 1, timeout: 30000 });
      assert.ok(msg.result, JSON.stringify(msg));
      assert.equal(typeof msg.result.capabilities?.tools, 'object', 'advertises tools');
      assert.equal(typeof msg.result.serverInfo?.name, 'string');
      assert.equal(typeof msg.result.serverInfo?.version, 'string');
      await raw.notify('notifications/initialized');
      const { msg: pong } = await raw.request('ping', undefined, { id: 2 });
      assert.deepEqual(pong.result, {});
    } finally {
      await raw.end();
    }
  });

  for (const v of SUPPORTED) {
    test(`client asks for ${v}: mcpmux answers ${v}`, async () => {
      const raw = rawSpawn(cfg);
      try {
        const result = await raw.initialize(v);
        assert.equal(result.protocolVersion, v);
      } finally {
        await raw.end();
      }
    });
  }

  test(`client asks for an unknown version (1999-01-01): mcpmux offers ${LATEST}`, async () => {
    const raw = rawSpawn(cfg);
    try {
      const result = await raw.initialize('1999-01-01');
      assert.equal(result.protocolVersion, LATEST);
    } finally {
      await raw.end();
    }
  });
});
