// A peer connection the browser refuses to create (a bad ICE configuration, a policy) is
// reported to the app as an `error` event, not only logged, and the session carries on.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRoom, openPage, poll, serverAndBrowser, waitEvent } from './lib.mjs';

const fx = serverAndBrowser();

describe('peer link errors', () => {
  test('a peer connection that cannot be created is reported as an error event', async () => {
    const tokens = await createRoom(fx.server, { roomId: 'rm_bad_pc', permissions: { screen: true } });
    const agent = await openPage(fx.browser, `${fx.server.url}/agent/#token=${tokens.agent_1}`);
    await waitEvent(agent, 'joined');
    const context = await fx.browser.newContext();
    // The customer's browser refuses every peer connection, as it does for a malformed ICE
    // server entry.
    await context.addInitScript(() => {
      window.RTCPeerConnection = function RTCPeerConnection() {
        throw new DOMException('refused by the test', 'InvalidAccessError');
      };
    });
    const customer = await context.newPage();
    await customer.goto(`${fx.server.url}/customer/#token=${tokens.user_9}`);
    await customer.click('#accept');
    await customer.click('#join');
    const err = await waitEvent(customer, 'error', { code: 'internal' });
    assert.match(err.message, /cannot create a peer link to agent_1 on this platform: InvalidAccessError: refused by the test/);
    // The session itself carries on.
    await customer.waitForFunction(() => window.assist.client !== null, null, { timeout: 15_000 });
    assert.equal(await customer.evaluate(() => window.assist.client.state), 'joined');
    // The agent shares its camera: its offers to a link that cannot exist are not answered,
    // and the customer reports the failure once, not on every retry. The agent's watchdog
    // speaks up once its offer has gone unanswered, so by then the customer has had it.
    await agent.evaluate(() => window.assist.client.startCamera());
    await poll('the agent gives up waiting for an answer', () => agent.evaluate(
      () => window.assist.events.some((e) => e.name === 'error' && /stalled/.test(e.message)),
    ), { ms: 30_000 });
    const errors = await customer.evaluate(() => window.assist.events.filter((e) => e.name === 'error'));
    assert.equal(errors.length, 1, JSON.stringify(errors));
    await agent.context().close();
    await context.close();
  });
});
