// Remote assist end to end: the agent points and draws over the customer's shared screen;
// the customer's overlay (read through the SDK) and page show the same thing. Chromium on both
// sides, and Firefox ESR on either side of a Chromium peer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createRoom, openPage, PAIRINGS, poll, screenCall, serverAndBrowser, testPairings, waitEvent,
} from './lib.mjs';

const fx = serverAndBrowser();

const overlay = (page) => page.evaluate(() => window.assist.client.assist.overlay());
const near = (a, b) => Math.abs(a - b) < 1e-6;

/** A screen-sharing call; Chromium on both sides unless `pair` names the browsers. */
const call = async (roomId, pair = PAIRINGS[0]) => screenCall(
  await fx.browsers[pair.agent], fx.server, roomId, await fx.browsers[pair.customer],
);

describe('remote assist', () => {
  testPairings('cursor, highlight, arrow and script step reach the customer and are drawn', PAIRINGS, async (pair) => {
    const { agent, customer } = await call(pair.room('rm_assist'), pair);
    await agent.evaluate(() => {
      const a = window.assist.client.assist;
      a.pointer(0.25, 0.75);
      window.ids = {
        box: a.highlight({ x: 0.3, y: 0.3, w: 0.4, h: 0.3 }, { color: '#ff0000', ttlMs: 60_000 }),
        arrow: a.arrow({ x: 0.1, y: 0.1 }, { x: 0.3, y: 0.3 }, { color: '#0000ff' }),
      };
      a.scriptStep({ ticket: 'T-1001', step: 2, total: 4, title: 'Open the router admin page' });
    });
    const view = await poll('customer overlay', async () => {
      const v = await overlay(customer);
      return v.shapes.length === 2 && v.cursors.length === 1 && v.step ? v : null;
    });
    const ids = await agent.evaluate(() => window.ids);
    const [box, arrow] = view.shapes;
    assert.equal(box.id, ids.box);
    assert.equal(box.kind, 'highlight');
    assert.ok(near(box.rect.x, 0.3) && near(box.rect.w, 0.4) && near(box.rect.h, 0.3));
    assert.equal(arrow.kind, 'arrow');
    assert.ok(near(arrow.to.x, 0.3) && near(arrow.from.y, 0.1));
    // Who drew it survives next to the arrow's own `from` point.
    assert.equal(arrow.member, 'agent_1');
    assert.equal(box.member, 'agent_1');
    assert.ok(near(view.cursors[0].x, 0.25) && near(view.cursors[0].y, 0.75));
    assert.equal(view.cursors[0].member, 'agent_1');
    assert.equal(view.step.step, 2);
    assert.equal(await customer.textContent('#step'), 'Ticket T-1001 — step 2 of 4: Open the router admin page');
    // Both sides hold the same shapes.
    const agentView = await overlay(agent);
    assert.deepEqual(agentView.shapes.map((s) => s.id), view.shapes.map((s) => s.id));

    // The customer page draws the highlight over its screen preview: sample the screenshot
    // inside the box (red tint) and outside every shape.
    // Two animation frames: the canvas drawn on the last overlayChanged has been painted.
    await customer.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

    const surface = await customer.$('#screen-surface');
    const png = await surface.screenshot();
    const pixels = await customer.evaluate(async ([b64]) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const video = document.getElementById('screen-preview');
      const vw = video.videoWidth;
      const vh = video.videoHeight;
      const scale = Math.min(img.width / vw, img.height / vh);
      const ox = (img.width - vw * scale) / 2;
      const oy = (img.height - vh * scale) / 2;
      const at = (x, y) => Array.from(ctx.getImageData(Math.round(ox + x * vw * scale), Math.round(oy + y * vh * scale), 1, 1).data);
      return { edge: at(0.3, 0.45), outside: at(0.9, 0.1) };
    }, [png.toString('base64')]);
    assert.ok(pixels.edge[0] > 180 && pixels.edge[1] < 90 && pixels.edge[2] < 90, `box edge not red: ${pixels.edge}`);
    assert.ok(!(pixels.outside[0] > 180 && pixels.outside[1] < 90), `outside tinted: ${pixels.outside}`);

    // Clearing one shape removes it on the customer's side.
    await agent.evaluate(() => window.assist.client.assist.clear(window.ids.arrow));
    await poll('arrow cleared', async () => (await overlay(customer)).shapes.length === 1);
    await agent.context().close();
    await customer.context().close();
  });

  test('shapes expire by TTL', async () => {
    const { agent, customer } = await call('rm_ttl');
    await agent.evaluate(() => window.assist.client.assist.highlight({ x: 0.1, y: 0.1, w: 0.1, h: 0.1 }, { ttlMs: 800 }));
    await poll('shape shown', async () => (await overlay(customer)).shapes.length === 1);
    // Expiry is pushed as an overlayChanged with no shapes, without any new message.
    await poll('shape expired', async () => {
      const changes = await customer.evaluate(() => window.assist.events.filter((e) => e.name === 'overlayChanged'));
      return changes.at(-1)?.shapes.length === 0;
    }, { ms: 5_000 });
    await agent.context().close();
    await customer.context().close();
  });

  test('a guest may not annotate', async () => {
    const { agent, customer } = await call('rm_guest');
    const err = await customer.evaluate(() => {
      try {
        window.assist.client.assist.highlight({ x: 0.1, y: 0.1, w: 0.1, h: 0.1 });
        return null;
      } catch (e) {
        return { code: e.code, message: e.message };
      }
    });
    assert.equal(err.code, 'forbidden');
    assert.equal((await overlay(agent)).shapes.length, 0);
    await agent.context().close();
    await customer.context().close();
  });

  test('a late joiner is shown what was drawn before it came, in a call with no media', async () => {
    const tokens = await createRoom(fx.server, { roomId: 'rm_late', permissions: { screen: true } });
    const agent = await openPage(fx.browser, `${fx.server.url}/agent/#token=${tokens.agent_1}`);
    await waitEvent(agent, 'joined');
    // Drawn while alone: nothing to send it to yet.
    await agent.evaluate(() => {
      const a = window.assist.client.assist;
      window.boxId = a.highlight({ x: 0.2, y: 0.2, w: 0.3, h: 0.3 }, { color: '#00aa00' });
      a.scriptStep({ ticket: 'T-7', step: 1, total: 2, title: 'Check the cable' });
    });
    const customer = await openPage(fx.browser, `${fx.server.url}/customer/#token=${tokens.user_9}`);
    await customer.click('#accept');
    await customer.click('#join');
    await customer.waitForFunction(() => window.assist.client !== null, null, { timeout: 15_000 });
    // No camera, no screen: the channels open for the replay alone.
    const view = await poll('replayed overlay', async () => {
      const v = await overlay(customer);
      return v.shapes.length === 1 && v.step ? v : null;
    });
    assert.equal(view.shapes[0].id, await agent.evaluate(() => window.boxId));
    assert.equal(view.shapes[0].member, 'agent_1');
    assert.equal(view.step.title, 'Check the cable');
    // And new messages follow on the same channels.
    await agent.evaluate(() => window.assist.client.assist.clear());
    await poll('clear after replay', async () => ((await overlay(customer)).shapes.length === 0 ? true : null));
    await agent.context().close();
    await customer.context().close();
  });

  test('annotations still arrive after a forced signaling reconnect', async () => {
    const { agent, customer } = await call('rm_reconnect');
    await agent.evaluate(() => window.assist.client.simulateSignalingDrop());
    await waitEvent(agent, 'reconnected', { resumed: true }, 30_000);
    await agent.evaluate(() => window.assist.client.assist.highlight({ x: 0.5, y: 0.5, w: 0.2, h: 0.2 }, { color: '#00ff00' }));
    const v = await poll('shape after reconnect', async () => {
      const view = await overlay(customer);
      return view.shapes.length === 1 ? view : null;
    });
    assert.equal(v.shapes[0].color, '#00ff00');
    await agent.context().close();
    await customer.context().close();
  });
});
