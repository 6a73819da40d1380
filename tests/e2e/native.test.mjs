// The native SDK (Rust core + webrtc-rs, through its generated Python bindings) in a real call
// with the browser SDK in headless Chromium, through the real server: media both ways, assist
// both ways, a signaling drop that resumes without media stopping, and leave. Both roles, so
// the native side is both the polite (agent_1) and the impolite (user_9) peer, and both join
// orders.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRoom, openPage, poll, serverAndBrowser, waitEvent, waitFrames } from './lib.mjs';
import { nativeClient } from './native-client.mjs';

const fx = serverAndBrowser();
let dir;
let ivf;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'assistrtc-native-'));
  // A moving test pattern, VP8 in IVF: the native side plays it as its camera.
  ivf = path.join(dir, 'pattern.ivf');
  execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15', '-t', '3',
    '-c:v', 'libvpx', '-b:v', '300k', '-g', '15', ivf]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The browser side: the demo page of its role, joined, publishing what its role may. */
async function browserJoins(role, url, token) {
  if (role === 'agent') {
    const page = await openPage(fx.browser, `${url}/agent/#token=${token}`);
    await waitEvent(page, 'joined');
    await page.evaluate(() => window.assist.client.startCamera());
    return page;
  }
  const page = await openPage(fx.browser, `${url}/customer/#token=${token}`);
  await page.click('#accept');
  await page.click('#join');
  await page.waitForFunction(() => window.assist.client !== null, null, { timeout: 15_000 });
  await page.click('#camera');
  await page.click('#share');
  return page;
}

const overlayOf = (page) => page.evaluate(() => window.assist.client.assist.overlay());

for (const { nativeRole, nativeFirst } of [
  { nativeRole: 'agent', nativeFirst: true },
  { nativeRole: 'customer', nativeFirst: false },
]) {
  const nativeId = nativeRole === 'agent' ? 'agent_1' : 'user_9';
  const browserId = nativeRole === 'agent' ? 'user_9' : 'agent_1';
  const browserRole = nativeRole === 'agent' ? 'customer' : 'agent';
  const order = nativeFirst ? 'native joins first' : 'browser joins first';
  describe(`native ${nativeRole} (${nativeId}) with a browser ${browserRole}, ${order}`, () => {
    test('media both ways, assist, resume without media stopping, leave', async () => {
      const tokens = await createRoom(fx.server, { roomId: `rm_native_${nativeRole}`, permissions: { screen: true } });
      let native;
      let page;
      try {
        if (nativeFirst) {
          native = await nativeClient(fx.server.url, tokens[nativeId]);
          await native.cmd('connect');
          page = await browserJoins(browserRole, fx.server.url, tokens[browserId]);
        } else {
          page = await browserJoins(browserRole, fx.server.url, tokens[browserId]);
          native = await nativeClient(fx.server.url, tokens[nativeId]);
          await native.cmd('connect');
        }
        assert.ok(native.events.some((e) => e.name === 'joined'), 'joined is seen before connect() returns');
        await native.cmd('publish_ivf', { source: 'camera', path: ivf });

        // The browser decodes the native side's test pattern, labelled as its camera.
        const decoded = await waitFrames(page, 'camera', 5, 30_000);
        assert.equal(decoded.member, nativeId);
        // The native side receives the browser's camera (and screen, from a customer).
        const sources = browserRole === 'customer' ? ['camera', 'screen'] : ['camera'];
        for (const source of sources) {
          await native.event('track_added', { member: browserId, source });
          await poll(`native receives the browser's ${source}`, async () => (await native.cmd('frames', { member: browserId, source })) > 10, { ms: 30_000 });
        }

        // Assist, from whichever side is the agent, shown on the other side.
        if (nativeRole === 'agent') {
          const id = await native.cmd('highlight', { rect: { x: 0.1, y: 0.2, w: 0.3, h: 0.4 }, color: '#00aa00' });
          await native.cmd('script_step', { ticket: 'T-9', step: 2, total: 3, title: 'Open the lid' });
          const view = await poll('the browser shows the native highlight', async () => {
            const v = await overlayOf(page);
            return v.shapes.length === 1 && v.step ? v : null;
          });
          assert.equal(view.shapes[0].id, id);
          assert.equal(view.shapes[0].member, nativeId);
          assert.equal(view.shapes[0].color, '#00aa00');
          assert.deepEqual(view.shapes[0].rect, { x: 0.1, y: 0.2, w: 0.3, h: 0.4 });
          assert.equal(view.step.title, 'Open the lid');
        } else {
          const id = await page.evaluate(() => window.assist.client.assist.highlight({ x: 0.5, y: 0.5, w: 0.25, h: 0.25 }, { color: '#0000ff' }));
          const view = await poll('the native side shows the browser highlight', async () => {
            const v = await native.cmd('overlay');
            return v.shapes.length === 1 ? v : null;
          });
          assert.equal(view.shapes[0].id, id);
          assert.equal(view.shapes[0].member, browserId);
          assert.equal(view.shapes[0].color, '#0000ff');
          assert.deepEqual(view.shapes[0].rect, { x: 0.5, y: 0.5, w: 0.25, h: 0.25 });
          // Pointer moves ride the lossy cursor channel and a still pointer fades from the
          // overlay, so the pointer keeps moving as a real one does until it shows.
          const cursor = await poll('the native side shows the browser pointer', async () => {
            await page.evaluate(() => window.assist.client.assist.pointer(0.25, 0.75));
            const v = await native.cmd('overlay');
            return v.cursors.find((c) => c.member === browserId) ?? null;
          });
          assert.deepEqual([cursor.x, cursor.y], [0.25, 0.75]);
        }

        // The native side's signaling drops and resumes; media never stops meanwhile.
        const before = await native.cmd('frames', { member: browserId, source: 'camera' });
        const decodedBefore = (await waitFrames(page, 'camera')).framesDecoded;
        await native.cmd('drop_signaling');
        await native.event('reconnected', { resumed: true }, 30_000);
        await poll('native still receives', async () => (await native.cmd('frames', { member: browserId, source: 'camera' })) > before + 15);
        await waitFrames(page, 'camera', decodedBefore + 15);
        assert.ok(!native.events.some((e) => e.name === 'track_removed'), 'no track was torn down');

        // Leaving is seen by the other side as a leave, not a timeout.
        await native.cmd('leave');
        const left = await waitEvent(page, 'memberLeft');
        assert.equal(left.member, nativeId);
        assert.equal(left.reason, 'left');
        await native.event('ended', { reason: 'left' });
      } catch (e) {
        // What the native side saw, to tell a lost message from a late link.
        const tail = (native?.events ?? []).filter((x) => x.name !== 'overlay_changed').slice(-20);
        e.message += `\nnative events (last 20, overlay changes left out): ${JSON.stringify(tail)}`
          + `\nnative stderr: ${Buffer.concat(native?.stderr ?? []).toString().slice(-2000)}`;
        throw e;
      } finally {
        await native?.close();
        await page?.context().close();
      }
    });
  });
}
