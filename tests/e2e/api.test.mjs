// The browser SDK's public API as an app uses it, in real Chromium against the real server:
// construct → listen → connect, listener semantics, disposal, local error codes, recording
// and the members list. Pages import the SDK directly (no demo page in between).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRoom, poll, serverAndBrowser } from './lib.mjs';

const fx = serverAndBrowser();

/**
 * A fresh browser context on the server's origin with the SDK imported as `window.sdk`, and
 * `window.seen` ready to record events. `init` runs before any page script (to break an API).
 */
async function sdkPage(init) {
  const context = await fx.browser.newContext();
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  await page.goto(`${fx.server.url}/healthz`);
  await page.evaluate(async () => {
    window.sdk = await import('/sdk/index.js');
    window.seen = [];
  });
  return page;
}

/** Makes `window.client` for `token`, recording `names` in `window.seen` (without media objects). */
function makeClient(page, token, names) {
  return page.evaluate(([t, n]) => {
    window.client = new window.sdk.AssistClient({ url: location.origin, token: t, noticeAcknowledged: true });
    for (const name of n) {
      window.client.on(name, (e) => {
        const { stream, track, ...rest } = e;
        window.seen.push({ name, ...rest });
      });
    }
  }, [token, names]);
}

async function connected(page, token, names = []) {
  await makeClient(page, token, names);
  await page.evaluate(() => window.client.connect());
}

/** What a rejected call gave: `{code, message}`, or null when it succeeded. */
function failure(page, fn) {
  return page.evaluate(async (src) => {
    try {
      // eslint-disable-next-line no-new-func
      await new Function(`return (${src})()`)();
      return null;
    } catch (e) {
      return { code: e.code, message: e.message, name: e.name, isError: e instanceof Error };
    }
  }, fn.toString());
}

const seen = (page, name) => page.evaluate((n) => window.seen.filter((e) => e.name === n), name);

describe('browser SDK API', () => {
  test('listeners attached before connect() see joined before it resolves; once, off and chaining', async () => {
    const tokens = await createRoom(fx.server, { roomId: 'rm_api_listen' });
    const page = await sdkPage();
    const order = await page.evaluate(async (token) => {
      const order = [];
      const client = new window.sdk.AssistClient({ url: location.origin, token });
      const counted = () => order.push('counted');
      const onceOnly = () => order.push('once');
      const same = client
        .on('joined', (e) => order.push(`joined:${e.member.id}:${e.members.length}`))
        .on('stateChanged', counted)
        .once('stateChanged', onceOnly)
        .off('stateChanged', counted);
      order.push(same === client ? 'chained' : 'not chained');
      order.push(`state:${client.state}`);
      await client.connect();
      order.push('resolved');
      order.push(`state:${client.state}`);
      client.dispose();
      return order;
    }, tokens.agent_1);
    assert.deepEqual(order, ['chained', 'state:idle', 'once', 'joined:agent_1:0', 'resolved', 'state:joined']);
    await page.context().close();
  });

  test('before connect() the getters read idle and methods throw conflict; the assist object is one object', async () => {
    const tokens = await createRoom(fx.server, { roomId: 'rm_api_idle' });
    const page = await sdkPage();
    await makeClient(page, tokens.agent_1, []);
    const idle = await page.evaluate(() => ({
      state: window.client.state, members: window.client.members, capabilities: window.client.capabilities,
      recording: window.client.recording,
    }));
    assert.deepEqual(idle, { state: 'idle', members: [], capabilities: [], recording: { local: 'stopped', cloud: 'stopped' } });
    const early = await failure(page, () => window.client.startCamera());
    assert.equal(early.code, 'conflict');
    assert.match(early.message, /connect\(\) first/);
    await page.evaluate(() => window.client.connect());
    assert.deepEqual(await page.evaluate(() => {
      const { assist } = window.client;
      return { same: assist === window.client.assist, draws: typeof assist.highlight, view: assist.overlay().shapes };
    }), { same: true, draws: 'function', view: [] });
    const twice = await failure(page, () => window.client.connect());
    assert.equal(twice.code, 'conflict');
    await page.context().close();
  });

  test('bad options reject connect() with bad_request; an unreachable server with unreachable', async () => {
    const page = await sdkPage();
    const bad = await failure(page, () => new window.sdk.AssistClient({ url: 'http://127.0.0.1:1' }).connect());
    assert.equal(bad.code, 'bad_request');
    assert.equal(bad.isError, true);
    const result = await page.evaluate(async () => {
      const client = new window.sdk.AssistClient({ url: 'http://127.0.0.1:1', token: 't' });
      const ended = new Promise((resolve) => client.on('ended', resolve));
      const err = await client.connect().then(() => null, (e) => ({ code: e.code, message: e.message }));
      return { err, ended: await ended };
    });
    assert.equal(result.err.code, 'unreachable');
    assert.equal(result.ended.reason, 'unreachable');
    assert.equal(result.ended.code, 'unreachable');
    assert.match(result.ended.message, /could not be reached/);
    await page.context().close();
  });

  test('a browser without WebRTC gets unsupported_browser from connect(), and the server never sees it', async () => {
    const tokens = await createRoom(fx.server, { roomId: 'rm_api_nowebrtc' });
    const agent = await sdkPage();
    await connected(agent, tokens.agent_1, ['memberJoined']);
    const page = await sdkPage(() => {
      delete window.RTCPeerConnection;
      delete window.webkitRTCPeerConnection;
    });
    await makeClient(page, tokens.user_9, []);
    const err = await failure(page, () => window.client.connect());
    assert.equal(err.code, 'unsupported_browser');
    assert.equal(await page.evaluate(() => window.client.state), 'idle');
    // The customer never joined: present again from a WebRTC browser, it is the first join.
    const customer = await sdkPage();
    await connected(customer, tokens.user_9);
    await poll('the agent sees the customer join', async () => (await seen(agent, 'memberJoined')).length === 1);
    await agent.context().close();
    await page.context().close();
    await customer.context().close();
  });

  test('capture failures carry local codes, never forbidden', async () => {
    const tokens = await createRoom(fx.server, { roomId: 'rm_api_capture', permissions: { screen: true } });
    // The browser's own refusals, by their DOMException names, as each browser raises them.
    const page = await sdkPage(() => {
      const refuse = (name) => () => Promise.reject(new DOMException(`refused (${name})`, name));
      const md = navigator.mediaDevices;
      window.breakCapture = (method, name) => { md[method] = refuse(name); };
    });
    await connected(page, tokens.user_9);
    const cases = [
      ['getUserMedia', 'NotAllowedError', 'startCamera', 'permission_denied'],
      ['getUserMedia', 'NotFoundError', 'startCamera', 'device_not_found'],
      ['getUserMedia', 'NotReadableError', 'startMicrophone', 'device_in_use'],
      ['getDisplayMedia', 'NotAllowedError', 'shareScreen', 'permission_denied'],
      ['getDisplayMedia', 'InvalidStateError', 'shareScreen', 'user_gesture_required'],
    ];
    for (const [method, name, call, code] of cases) {
      const err = await page.evaluate(async ([m, n, c]) => {
        window.breakCapture(m, n);
        return window.client[c]().then(() => null, (e) => ({ code: e.code, message: e.message, cause: e.cause?.name }));
      }, [method, name, call]);
      assert.equal(err?.code, code, `${method} ${name}`);
      assert.equal(err.cause, name);
      assert.match(err.message, new RegExp(name));
    }
    // Nothing was published by the failed attempts.
    assert.equal(await page.evaluate(() => window.client.localStream('camera')), undefined);
    await page.context().close();
  });

  test('Firefox refuses a screen share outside a click: user_gesture_required', async () => {
    const tokens = await createRoom(fx.server, { roomId: 'rm_api_gesture', permissions: { screen: true } });
    const firefox = await fx.browsers.firefox;
    const context = await firefox.newContext();
    const page = await context.newPage();
    // Nothing is clicked on this page: shareScreen() runs without user activation.
    await page.goto(`${fx.server.url}/customer/`);
    const err = await page.evaluate(async (token) => {
      const { AssistClient } = await import('/sdk/index.js');
      const client = new AssistClient({ url: location.origin, token, noticeAcknowledged: true });
      await client.connect();
      return client.shareScreen().then(() => null, (e) => ({ code: e.code, cause: e.cause?.name, message: e.message }));
    }, tokens.user_9);
    assert.equal(err.code, 'user_gesture_required');
    assert.equal(err.cause, 'InvalidStateError');
    // The browser's own words are kept (a DOMException is not an `Error` in Firefox).
    assert.match(err.message, /^getDisplayMedia failed: InvalidStateError: .*user gesture/);
    await context.close();
  });

  test('dispose() leaves at once: the other side sees left, not a timeout after the grace period', async () => {
    const tokens = await createRoom(fx.server, { roomId: 'rm_api_dispose' });
    const agent = await sdkPage();
    await connected(agent, tokens.agent_1, ['memberLeft']);
    const customer = await sdkPage();
    await connected(customer, tokens.user_9, ['ended']);
    const hasSymbol = await customer.evaluate(() => typeof Symbol.dispose === 'symbol'
      && window.client[Symbol.dispose] === window.client.dispose);
    await customer.evaluate(() => window.client.dispose());
    await poll('the agent sees the customer leave', async () => (await seen(agent, 'memberLeft')).length === 1, { ms: 5_000 });
    assert.deepEqual((await seen(agent, 'memberLeft'))[0], { name: 'memberLeft', member: 'user_9', reason: 'left' });
    assert.deepEqual(await seen(customer, 'ended'), [{ name: 'ended', reason: 'left', code: null, message: 'the call was left' }]);
    assert.equal(await customer.evaluate(() => window.client.state), 'ended');
    const after = await failure(customer, () => window.client.startCamera());
    assert.equal(after.code, 'conflict');
    assert.equal(hasSymbol, true);
    await agent.context().close();
    await customer.context().close();
  });

  test('members carry their published sources; recording needs consent and follows the server', async () => {
    const tokens = await createRoom(fx.server, { roomId: 'rm_api_rec', permissions: { screen: true, recording: 'local' } });
    const agent = await sdkPage();
    await connected(agent, tokens.agent_1, ['trackPublished', 'recordingChanged', 'memberConsent', 'error']);
    const customer = await sdkPage();
    await connected(customer, tokens.user_9, ['recordingChanged']);
    await customer.evaluate(() => window.client.startCamera());
    await poll('the agent sees the camera published', async () => (await seen(agent, 'trackPublished')).length === 1);
    assert.deepEqual(await agent.evaluate(() => window.client.members),
      [{ id: 'user_9', role: 'guest', sources: ['camera'], recordingConsent: false }]);

    // The agent has not consented itself: refused locally, nothing sent.
    const refused = await failure(agent, () => window.client.startRecording());
    assert.equal(refused.code, 'forbidden');
    assert.match(refused.message, /consent/);
    // A guest may not record at all.
    const guest = await failure(customer, () => window.client.startRecording('local'));
    assert.equal(guest.code, 'forbidden');
    const mode = await failure(agent, () => window.client.startRecording('tape'));
    assert.equal(mode.code, 'bad_request');

    await agent.evaluate(() => window.client.setRecordingConsent(true));
    assert.equal(await agent.evaluate(() => window.client.recordingConsent), true);
    // The customer has not consented: the server refuses.
    await agent.evaluate(() => window.client.startRecording());
    await poll('the server refuses without everyone\'s consent', async () => (await seen(agent, 'error')).length === 1);
    await customer.evaluate(() => window.client.setRecordingConsent(true));
    await poll('the agent learns of the customer\'s consent', async () => (await seen(agent, 'memberConsent')).length === 1);
    assert.deepEqual((await seen(agent, 'memberConsent'))[0], { name: 'memberConsent', member: 'user_9', granted: true });
    assert.equal(await agent.evaluate(() => window.client.members[0].recordingConsent), true);
    await agent.evaluate(() => window.client.startRecording());
    for (const page of [agent, customer]) {
      await poll('recording on both sides', async () => (await page.evaluate(() => window.client.recording.local)) === 'recording');
    }
    assert.deepEqual(await seen(customer, 'recordingChanged'), [{ name: 'recordingChanged', mode: 'local', state: 'recording' }]);
    // Withdrawing consent pauses it for everyone (it goes on only by an explicit resume).
    await customer.evaluate(() => window.client.setRecordingConsent(false));
    for (const page of [agent, customer]) {
      await poll('paused on both sides', async () => (await page.evaluate(() => window.client.recording.local)) === 'paused');
    }
    assert.equal(await agent.evaluate(() => window.client.members[0].recordingConsent), false);
    await agent.evaluate(() => window.client.stopRecording());
    await poll('recording stopped', async () => (await customer.evaluate(() => window.client.recording.local)) === 'stopped');
    await agent.context().close();
    await customer.context().close();
  });
});
