// A customer and an agent in a real call through server-min, in real headless Chromium and in
// Firefox ESR on either side of a Chromium peer.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  createRoom, events, framesOf, openPage, PAIRINGS, serverAndBrowser, testPairings, waitEvent, waitFrames,
  withTimeout,
} from './lib.mjs';

const fx = serverAndBrowser();

async function customerJoins(page, { camera = true, screen = false } = {}) {
  await page.click('#accept');
  await page.click('#join');
  await page.waitForFunction(() => window.assist.client !== null, null, { timeout: 15_000 });
  if (camera) {
    await page.click('#camera');
    await page.waitForFunction(() => window.assist.client.localStream('camera'), null, { timeout: 10_000 });
  }
  if (screen) {
    await page.click('#share');
    await page.waitForFunction(() => window.assist.client.localStream('screen'), null, { timeout: 10_000 });
  }
}

describe('call between two browsers', () => {
  testPairings('agent decodes the customer camera and screen, labelled by source; leave is seen', PAIRINGS, async (pair) => {
    const tokens = await createRoom(fx.server, { roomId: pair.room('rm_call'), permissions: { screen: true, recording: 'local' } });
    const agent = await openPage(await fx.browsers[pair.agent], `${fx.server.url}/agent/#token=${tokens.agent_1}`);
    await waitEvent(agent, 'joined');
    const customer = await openPage(await fx.browsers[pair.customer], `${fx.server.url}/customer/#token=${tokens.user_9}`);
    await customerJoins(customer, { camera: true, screen: true });

    await waitEvent(agent, 'memberJoined');
    // The customer joined second: the agent was already there, so no event could tell it.
    assert.deepEqual(await customer.evaluate(() => window.assist.client.members), [{ id: 'agent_1', role: 'host', sources: [], recordingConsent: false }]);

    await waitEvent(agent, 'trackAdded', { source: 'camera' });
    await waitEvent(agent, 'trackAdded', { source: 'screen' });
    const camera = await waitFrames(agent, 'camera');
    const screen = await waitFrames(agent, 'screen');
    assert.ok(camera.framesDecoded > 0 && screen.framesDecoded > 0);
    assert.equal(camera.member, 'user_9');
    // The screen track shows in the large view, the camera in the small one.
    const bound = await agent.evaluate(() => ({
      screen: document.getElementById('screen').srcObject?.getVideoTracks().length,
      camera: document.getElementById('camera').srcObject?.getVideoTracks().length,
    }));
    assert.deepEqual(bound, { screen: 1, camera: 1 });
    assert.equal(await agent.evaluate(() => window.assist.client.state), 'connected');

    await customer.click('#leave');
    const left = await waitEvent(agent, 'memberLeft');
    assert.deepEqual(left.member, 'user_9');
    assert.equal(left.reason, 'left');
    // Leaving stopped every local track on the customer's side.
    const live = await customer.evaluate(() => window.assist.client.localStream('camera'));
    assert.equal(live, undefined);
    await agent.context().close();
    await customer.context().close();
  });

  // Only the customer's page takes part: one Chromium and one Firefox variant.
  const customerSides = PAIRINGS.filter((p) => p.agent === 'chromium');
  testPairings('a guest without screen permission gets forbidden', customerSides, async (pair) => {
    const tokens = await createRoom(fx.server, { roomId: pair.room('rm_noscreen'), permissions: { screen: false } });
    const customer = await openPage(await fx.browsers[pair.customer], `${fx.server.url}/customer/#token=${tokens.user_9}`);
    await customerJoins(customer, { camera: false });
    // The page hides the button; call the SDK directly as a misbehaving page would.
    const err = await customer.evaluate(async () => {
      try {
        await window.assist.client.shareScreen();
        return null;
      } catch (e) {
        return { code: e.code, message: e.message };
      }
    });
    assert.equal(err.code, 'forbidden');
    assert.match(err.message, /screen sharing is not allowed/);
    assert.equal(await customer.evaluate(() => window.assist.client.canShareScreen()), false);
    assert.equal(await customer.isDisabled('#share'), true);
    await customer.context().close();
  });

  testPairings('killing the signaling socket mid-call resumes without the remote video stopping', PAIRINGS, async (pair) => {
    const tokens = await createRoom(fx.server, { roomId: pair.room('rm_resume'), permissions: { screen: true } });
    const agent = await openPage(await fx.browsers[pair.agent], `${fx.server.url}/agent/#token=${tokens.agent_1}`);
    await waitEvent(agent, 'joined');
    const customer = await openPage(await fx.browsers[pair.customer], `${fx.server.url}/customer/#token=${tokens.user_9}`);
    await customerJoins(customer, { camera: true });
    await waitFrames(agent, 'camera');

    await customer.evaluate(() => window.assist.client.simulateSignalingDrop());
    await waitEvent(customer, 'reconnecting');
    const frames = await framesOf(agent, 'camera');
    const resumed = await waitEvent(customer, 'reconnected', {}, 30_000);
    assert.equal(resumed.resumed, true);
    // Media kept flowing through the drop and after it.
    await waitFrames(agent, 'camera', frames + 30);
    assert.deepEqual(await events(agent, 'memberLeft'), []);
    // Signaling works again: a new source published after the resume reaches the agent.
    await customer.click('#share');
    await waitEvent(agent, 'trackAdded', { source: 'screen' });
    await waitFrames(agent, 'screen');
    await withTimeout(5_000, 'leave', customer.evaluate(() => window.assist.client.leave()));
    await agent.context().close();
    await customer.context().close();
  });

  testPairings('the agent console records with the customer\'s consent; both pages show the indicator', [PAIRINGS[0]], async (pair) => {
    const tokens = await createRoom(fx.server, { roomId: pair.room('rm_console_rec'), permissions: { screen: true, recording: 'local' } });
    const agent = await openPage(await fx.browsers[pair.agent], `${fx.server.url}/agent/#token=${tokens.agent_1}`);
    await waitEvent(agent, 'joined');
    const customer = await openPage(await fx.browsers[pair.customer], `${fx.server.url}/customer/#token=${tokens.user_9}`);
    await customerJoins(customer, { camera: true });
    await waitEvent(agent, 'trackAdded', { source: 'camera' });
    assert.equal(await agent.isVisible('#record'), true, 'a host in a room that records may');

    // Without the customer's consent the console says why, and nothing records.
    await agent.click('#record');
    await agent.waitForFunction(() => window.assist.lastError?.code === 'forbidden', null, { timeout: 10_000 });
    assert.equal(await customer.isVisible('#rec'), false);

    await customer.click('#consent');
    await waitEvent(agent, 'memberConsent', { member: 'user_9', granted: true });
    await agent.click('#record');
    await waitEvent(agent, 'recorderState', { state: 'recording' });
    for (const page of [agent, customer]) {
      await page.waitForFunction(() => document.getElementById('rec').dataset.state === 'recording', null, { timeout: 10_000 });
      assert.equal(await page.isVisible('#rec'), true);
    }
    await waitEvent(agent, 'recorderProgress');
    // Unticking consent pauses it on both pages.
    await customer.click('#consent');
    for (const page of [agent, customer]) {
      await page.waitForFunction(() => document.getElementById('rec').dataset.state === 'paused', null, { timeout: 10_000 });
    }
    await agent.click('#record-stop');
    await waitEvent(agent, 'recorderState', { state: 'stopped' });
    await customer.waitForFunction(() => document.getElementById('rec').classList.contains('hidden'), null, { timeout: 10_000 });
    await agent.context().close();
    await customer.context().close();
  });

  testPairings('a recording goes on through a signaling drop: chunks keep coming, the indicator stays', [PAIRINGS[0]], async (pair) => {
    const tokens = await createRoom(fx.server, { roomId: pair.room('rm_rec_drop'), permissions: { screen: true, recording: 'local' } });
    const agent = await openPage(await fx.browsers[pair.agent], `${fx.server.url}/agent/#token=${tokens.agent_1}`);
    await waitEvent(agent, 'joined');
    const customer = await openPage(await fx.browsers[pair.customer], `${fx.server.url}/customer/#token=${tokens.user_9}`);
    await customerJoins(customer, { camera: true });
    await customer.click('#consent');
    await waitEvent(agent, 'memberConsent', { member: 'user_9', granted: true });
    await waitEvent(agent, 'trackAdded', { source: 'camera' });
    await agent.click('#record');
    await waitEvent(agent, 'recorderProgress');
    await agent.evaluate(() => window.assist.client.simulateSignalingDrop());
    await waitEvent(agent, 'reconnecting');
    const before = (await events(agent, 'recorderProgress')).length;
    const back = await waitEvent(agent, 'reconnected', {}, 30_000);
    assert.equal(back.resumed, true);
    await agent.waitForFunction((n) => window.assist.events.filter((e) => e.name === 'recorderProgress').length > n + 2,
      before, { timeout: 15_000 });
    assert.equal(await agent.evaluate(() => window.assist.client.recorder.state), 'recording');
    assert.equal(await customer.evaluate(() => window.assist.client.recording.local), 'recording');
    // The room still knows: stopping clears the indicator on the customer's page.
    await agent.click('#record-stop');
    await customer.waitForFunction(() => document.getElementById('rec').classList.contains('hidden'), null, { timeout: 10_000 });
    await agent.context().close();
    await customer.context().close();
  });

  testPairings('a screen shared after the recording started joins it, and leaves it when stopped', [PAIRINGS[0]], async (pair) => {
    const tokens = await createRoom(fx.server, { roomId: pair.room('rm_rec_late'), permissions: { screen: true, recording: 'local' } });
    const agent = await openPage(await fx.browsers[pair.agent], `${fx.server.url}/agent/#token=${tokens.agent_1}`);
    await waitEvent(agent, 'joined');
    const customer = await openPage(await fx.browsers[pair.customer], `${fx.server.url}/customer/#token=${tokens.user_9}`);
    // Recording starts before the customer sends anything: black and silence until it does.
    await customerJoins(customer, { camera: false });
    await customer.click('#consent');
    await waitEvent(agent, 'memberConsent', { member: 'user_9', granted: true });
    await agent.click('#record');
    await waitEvent(agent, 'recorderProgress');
    await customer.click('#share');
    await waitEvent(agent, 'trackAdded', { source: 'screen' });
    const spans = () => agent.evaluate(() => window.assist.client.recorder.manifest().sources
      .map((s) => `${s.member}:${s.source}:${s.end_ms === undefined ? 'open' : 'closed'}`));
    await agent.waitForFunction(() => window.assist.client.recorder.manifest().sources
      .some((s) => s.member === 'user_9' && s.source === 'screen'), null, { timeout: 10_000 });
    assert.deepEqual(await spans(), ['user_9:screen:open']);
    await customer.evaluate(() => window.assist.client.stopScreen());
    await agent.waitForFunction(() => window.assist.client.recorder.manifest().sources
      .some((s) => s.source === 'screen' && s.end_ms !== undefined), null, { timeout: 10_000 });
    await agent.click('#record-stop');
    await waitEvent(agent, 'recorderState', { state: 'stopped' });
    assert.deepEqual(await spans(), ['user_9:screen:closed']);
    await agent.context().close();
    await customer.context().close();
  });
});
