// The REST API against its OpenAPI document: schemathesis generates requests from
// /v1/openapi.json and checks every answer (status, content type, schema, no server error).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { API_KEY, startServer, withTimeout } from './lib.mjs';

describe('REST contract', () => {
  test('the server answers as its OpenAPI document says', async () => {
    const cmd = process.env.ASSISTRTC_SCHEMATHESIS;
    assert.ok(cmd, 'ASSISTRTC_SCHEMATHESIS is set by the test command (cargo xtask test)');
    // With a data directory, so that the recording routes answer as they do in production
    // (without one they all answer 404 recordings_disabled).
    const dataDir = mkdtempSync(path.join(tmpdir(), 'assistrtc-contract-'));
    const server = await startServer(['--data-dir', dataDir]);
    try {
      const doc = await (await fetch(`${server.url}/v1/openapi.json`)).json();
      assert.equal(doc.openapi, '3.1.0');
      const child = spawn(cmd, [
        'run', `${server.url}/v1/openapi.json`,
        '-H', `Authorization: Bearer ${API_KEY}`,
        '--checks', 'all',
        // Unique member ids cannot be said in JSON Schema, so a schema-valid request may be
        // refused with 400; every other check applies.
        '--exclude-checks', 'positive_data_acceptance',
        '--max-examples', '30',
        '--seed', '1',
      ], {
        stdio: ['ignore', 'pipe', 'pipe'],
        // contract_hooks.py sends the probe's `application/sdp` offers as text.
        cwd: import.meta.dirname,
        env: { ...process.env, PYTHONPATH: import.meta.dirname, SCHEMATHESIS_HOOKS: 'contract_hooks' },
      });
      const out = [];
      child.stdout.on('data', (d) => out.push(d));
      child.stderr.on('data', (d) => out.push(d));
      const [code] = await withTimeout(240_000, 'schemathesis', once(child, 'exit'));
      assert.equal(code, 0, Buffer.concat(out).toString());
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
