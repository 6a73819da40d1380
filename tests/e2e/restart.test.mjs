// The server restarts in the middle of a call: rooms and tokens are kept under --data-dir,
// both browsers reconnect by themselves, and the customer's screen reaches the agent again.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { events, framesOf, launch, poll, screenCall, startServer, waitEvent } from './lib.mjs';

describe('server restart', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'assistrtc-e2e-'));
  let browser;
  let server;
  after(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a call goes on after the server restarts', async () => {
    browser = await launch();
    server = await startServer(['--data-dir', dataDir]);
    const { agent, customer } = await screenCall(browser, server, 'rm_restart');
    const listen = new URL(server.url).host;

    await server.stop();
    server = await startServer(['--data-dir', dataDir], { listen });

    // Both come back on their own (the new process holds no seat, so they join afresh with
    // the tokens it still accepts) and renegotiate.
    await waitEvent(agent, 'reconnected', {}, 60_000);
    await waitEvent(customer, 'reconnected', {}, 60_000);
    await poll('screen frames after the restart', async () => (await framesOf(agent, 'screen')) > 0,
      { ms: 30_000 });
    const ended = [...await events(agent, 'ended'), ...await events(customer, 'ended')];
    assert.deepEqual(ended, []);
    await agent.context().close();
    await customer.context().close();
  });
});
