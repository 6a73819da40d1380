// Assist at the moments users hit: the agent draws while the link is still negotiating (right
// after the customer's shareScreen() resolves), before the customer has even joined, and
// after a signaling drop. Everything sent must reach the customer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuLoad, createRoom, openPage, poll, serverAndBrowser, waitEvent, waitFrames } from './lib.mjs';

const fx = serverAndBrowser();

const overlay = (page) => page.evaluate(() => window.assist.client.assist.overlay());

/** The agent joined; the customer joined with its client ready, not sharing yet. */
async function joinBoth(roomId, { agentFirst = true } = {}) {
  const tokens = await createRoom(fx.server, { roomId, permissions: { screen: true } });
  const agent = await openPage(fx.browser, `${fx.server.url}/agent/#token=${tokens.agent_1}`);
  await waitEvent(agent, 'joined');
  if (!agentFirst) return { agent, tokens };
  const customer = await openCustomer(tokens);
  return { agent, customer, tokens };
}

async function openCustomer(tokens) {
  const customer = await openPage(fx.browser, `${fx.server.url}/customer/#token=${tokens.user_9}`);
  await customer.click('#accept');
  await customer.click('#join');
  await customer.waitForFunction(() => window.assist.client !== null, null, { timeout: 15_000 });
  return customer;
}

/** Draws one of everything from the agent's page, synchronously. */
const drawAll = (agent) => agent.evaluate(() => {
  const a = window.assist.client.assist;
  a.pointer(0.4, 0.6);
  a.highlight({ x: 0.2, y: 0.2, w: 0.3, h: 0.3 }, { ttlMs: 120_000 });
  a.arrow({ x: 0.1, y: 0.1 }, { x: 0.2, y: 0.2 });
  a.scriptStep({ ticket: 'T-7', step: 1, total: 3, title: 'Open settings' });
});

/** The customer shows everything drawAll sent. */
async function customerSeesAll(customer, what) {
  return poll(`customer overlay (${what})`, async () => {
    const v = await overlay(customer);
    return v.shapes.length === 2 && v.cursors.length === 1 && v.step?.ticket === 'T-7' ? v : null;
  }, { ms: 30_000 });
}

async function closeAll(...pages) {
  for (const p of pages) await p?.context().close();
}

describe('assist at every moment of a link', () => {
  test('drawn right after shareScreen() resolves, while the link negotiates', async () => {
    // Several calls: the moment is narrow, and it used to fail every time.
    for (const n of [1, 2, 3]) {
      const { agent, customer } = await joinBoth(`rm_timing_${n}`);
      await customer.evaluate(() => window.assist.client.shareScreen());
      await drawAll(agent);
      await customerSeesAll(customer, `call ${n}`);
      // The pointer that then stays still is shown (sent when the cursor channel opens).
      const v = await overlay(customer);
      assert.ok(Math.abs(v.cursors[0].x - 0.4) < 1e-6);
      await closeAll(agent, customer);
    }
  });

  test('drawn before the customer joins: replayed when its link opens', async () => {
    const { agent, tokens } = await joinBoth('rm_timing_early', { agentFirst: false });
    await agent.evaluate(() => {
      const a = window.assist.client.assist;
      a.highlight({ x: 0.2, y: 0.2, w: 0.3, h: 0.3 }, { ttlMs: 120_000 });
      a.scriptStep({ ticket: 'T-8', step: 2, total: 3, title: 'Restart' });
    });
    const customer = await openCustomer(tokens);
    // No media at all: the channels still open.
    await poll('replayed to the late joiner', async () => {
      const v = await overlay(customer);
      return v.shapes.length === 1 && v.step?.ticket === 'T-8';
    }, { ms: 30_000 });
    await closeAll(agent, customer);
  });

  test('drawn after the agent\'s signaling dropped and resumed', async () => {
    const { agent, customer } = await joinBoth('rm_timing_resume');
    await customer.evaluate(() => window.assist.client.shareScreen());
    await waitFrames(agent, 'screen');
    await agent.evaluate(() => window.assist.client.simulateSignalingDrop());
    await waitEvent(agent, 'reconnected');
    await drawAll(agent);
    await customerSeesAll(customer, 'after resume');
    await closeAll(agent, customer);
  });

  test('drawn while negotiating under CPU load', async () => {
    const stop = cpuLoad();
    try {
      for (const n of [1, 2]) {
        const { agent, customer } = await joinBoth(`rm_timing_load_${n}`);
        await customer.evaluate(() => window.assist.client.shareScreen());
        await drawAll(agent);
        await customerSeesAll(customer, `call ${n} under load`);
        await closeAll(agent, customer);
      }
    } finally {
      await stop();
    }
  });
});
