// A peer connection the browser refuses to create (here: a TURN server without credentials in
// the server's ICE list) is reported to the app as an `error` event, not only logged.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRoom, launch, openPage, startServer, waitEvent } from './lib.mjs';

const fx = {};
before(async () => {
  fx.server = await startServer(['--ice-server', 'turn:127.0.0.1:3478']);
  fx.browser = await launch();
});
after(async () => {
  await fx.browser?.close();
  await fx.server?.stop();
});

describe('peer link errors', () => {
  test('a peer connection that cannot be created is reported as an error event', async () => {
    const tokens = await createRoom(fx.server, { roomId: 'rm_bad_ice', permissions: { screen: true } });
    const agent = await openPage(fx.browser, `${fx.server.url}/agent/?token=${tokens.agent_1}`);
    await waitEvent(agent, 'joined');
    const customer = await openPage(fx.browser, `${fx.server.url}/customer/?token=${tokens.user_9}`);
    await customer.click('#accept');
    await customer.click('#join');
    const err = await waitEvent(customer, 'error', { code: 'internal' });
    assert.match(err.message, /peer link to agent_1 failed/);
    // The session itself carries on.
    await customer.waitForFunction(() => window.assist.client !== null, null, { timeout: 15_000 });
    assert.equal(await customer.evaluate(() => window.assist.client.state), 'joined');
    await agent.context().close();
    await customer.context().close();
  });
});
