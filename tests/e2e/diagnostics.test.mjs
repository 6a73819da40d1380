// Pre-call diagnostics end to end, against the real server's probe endpoint and a real coturn:
// the browser check on the customer page (fake camera and microphone) gives a full report in
// time, shared on join and shown in the agent console; a black camera and a denied microphone
// are flagged with their advice codes; a native customer (the Rust core over webrtc-rs,
// through the Python bindings) shares its report the same way; and a browser call forced
// through the coturn relay (`iceTransportPolicy: "relay"`) connects, carries only relay
// candidates, and decodes frames.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { API_KEY, createRoom, launch, openPage, poll, root, startServer, waitEvent, withTimeout } from './lib.mjs';
import { nativeClient } from './native-client.mjs';

const TURN_SECRET = 'e2e-turn-shared-secret';

/** A free TCP (and, in practice, UDP) port on loopback. */
async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

/** coturn from the repo's documented configuration, on a free loopback port. */
async function startCoturn() {
  const dir = mkdtempSync(path.join(tmpdir(), 'assistrtc-coturn-'));
  const port = await freePort();
  const child = spawn('turnserver', ['-c', path.join(root, 'server-min/coturn/turnserver.conf'),
    '--listening-port', String(port), '--static-auth-secret', TURN_SECRET,
    '--pidfile', path.join(dir, 'turnserver.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  child.stdout.on('data', (d) => log.push(d));
  child.stderr.on('data', (d) => log.push(d));
  // Ready once it accepts TCP (it opens UDP first).
  await poll('coturn listens', () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), { ms: 10_000, every: 100 });
  return {
    port,
    log: () => Buffer.concat(log).toString(),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await withTimeout(10_000, 'coturn stop', once(child, 'exit'));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let coturn;
let server;
let browser;

before(async () => {
  coturn = await startCoturn();
  server = await startServer([
    // The demo customer page gets its preflight token from the demo route.
    '--demo',
    '--turn-url', `turn:127.0.0.1:${coturn.port}?transport=udp`,
    '--turn-url', `turn:127.0.0.1:${coturn.port}?transport=tcp`,
    '--turn-secret', TURN_SECRET,
  ]);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await coturn?.stop();
});

async function preflightToken() {
  const res = await fetch(`${server.url}/v1/preflight/tokens`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(res.status, 201);
  return (await res.json()).token;
}

/** A page on the server's origin with the SDK imported as `window.sdk`; `init` runs first. */
async function sdkPage(init) {
  const context = await browser.newContext();
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  await page.goto(`${server.url}/healthz`);
  await page.evaluate(async () => {
    window.sdk = await import('/sdk/index.js');
  });
  return page;
}

/** Runs the browser check on `page` with `options` (plus a fresh preflight token). */
async function browserCheck(page, options) {
  const token = await preflightToken();
  return page.evaluate(([t, o]) => {
    const client = new window.sdk.AssistClient({ url: location.origin, token: 'unused-join-token' });
    return client.preflight({ token: t, ...o });
  }, [token, options]);
}

/** The agent console's report panel, once shown. */
function agentReport(page) {
  return poll('the agent console shows the report', () => page.evaluate(() => {
    const panel = document.getElementById('report');
    return panel.classList.contains('hidden') ? null : {
      verdict: document.getElementById('report-verdict').textContent,
      figures: document.getElementById('report-figures').textContent,
      reasons: [...document.querySelectorAll('#report-reasons li')].map((li) => li.dataset.code),
    };
  }));
}

describe('pre-call diagnostics', () => {
  test('the customer page checks devices and network, shares the report on join; the agent console shows it', async () => {
    const tokens = await createRoom(server, { roomId: 'rm_diag_page', permissions: { screen: true } });
    const customer = await openPage(browser, `${server.url}/customer/#token=${tokens.user_9}`);
    let agent;
    try {
      await customer.click('#accept');
      const started = Date.now();
      await customer.click('#check');
      const report = await customer.waitForFunction(() => window.assist.report, null, { timeout: 20_000 })
        .then((h) => h.jsonValue());
      const took = Date.now() - started;
      assert.ok(took <= 12_000, `the verdict took ${took} ms`);
      // A full report: every part measured, nothing incomplete, on a clean loopback.
      assert.equal(report.verdict, 'good', JSON.stringify(report));
      assert.deepEqual(report.incomplete, []);
      assert.equal(report.reachability.udp, 'reachable');
      assert.equal(report.reachability.turn_udp, 'reachable');
      assert.ok(report.network.rtt_ms < 50 && report.network.loss_pct < 1, JSON.stringify(report.network));
      assert.ok(report.upload_kbps > 1_100 && report.download_kbps > 1_100, JSON.stringify(report));
      for (const t of ['server_ms', 'ice_ms', 'dtls_ms', 'first_media_ms']) assert.ok(report.timings[t] >= 0, t);
      const cam = report.devices.camera;
      assert.ok(cam.width >= 320 && cam.height >= 240 && !cam.black && !cam.frozen, JSON.stringify(cam));
      assert.equal(report.devices.microphone.silent, false, JSON.stringify(report.devices));
      const steps = await customer.evaluate(() => window.assist.events.filter((e) => e.name === 'preflightProgress').map((e) => e.step));
      for (const step of ['camera', 'microphone', 'signaling', 'network', 'bandwidth']) assert.ok(steps.includes(step), `${step} in ${steps}`);
      assert.equal(await customer.textContent('#check-verdict'), 'good');

      // Shared only because the customer ticked the box.
      await customer.check('#share-report');
      await customer.click('#join');
      await customer.waitForFunction(() => window.assist.client !== null, null, { timeout: 15_000 });
      agent = await openPage(browser, `${server.url}/agent/#token=${tokens.agent_1}`);
      await waitEvent(agent, 'joined');
      const shown = await agentReport(agent);
      assert.equal(shown.verdict, 'good');
      assert.deepEqual(shown.reasons, []);
      assert.match(shown.figures, /up \d+ kbps/);
    } finally {
      await agent?.context().close();
      await customer.context().close();
    }
  });

  test('a black camera is flagged, with its advice', async () => {
    // The camera is a canvas painted black (a covered lens).
    const page = await sdkPage(() => {
      const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = async (c) => {
        if (!c?.video) return real(c);
        const canvas = Object.assign(document.createElement('canvas'), { width: 640, height: 480 });
        const ctx = canvas.getContext('2d');
        const paint = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, 640, 480); };
        paint();
        setInterval(paint, 33);
        return canvas.captureStream(30);
      };
    });
    try {
      const report = await browserCheck(page, { network: false, microphone: false });
      assert.equal(report.devices.camera.black, true, JSON.stringify(report));
      assert.ok(report.reasons.includes('camera_black'), JSON.stringify(report.reasons));
      assert.ok(report.advice.includes('uncover_camera'), JSON.stringify(report.advice));
      assert.equal(report.verdict, 'fair');
    } finally {
      await page.context().close();
    }
  });

  test('a denied microphone is flagged, with its advice', async () => {
    const page = await sdkPage(() => {
      const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = async (c) => {
        if (c?.audio) throw new DOMException('Permission denied', 'NotAllowedError');
        return real(c);
      };
    });
    try {
      const report = await browserCheck(page, { network: false });
      assert.deepEqual(report.devices.microphone, { error: 'permission_denied' });
      assert.deepEqual(report.reasons, ['microphone_unavailable']);
      assert.deepEqual(report.advice, ['allow_microphone']);
      assert.equal(report.verdict, 'poor');
      // The camera was still checked.
      assert.equal(report.devices.camera.black, false);
    } finally {
      await page.context().close();
    }
  });

  test('the speaker answer and the screen-share permission are in the report', async () => {
    const page = await sdkPage();
    try {
      const token = await preflightToken();
      const check = (heard) => page.evaluate(([t, h]) => {
        const client = new window.sdk.AssistClient({ url: location.origin, token: 'unused' });
        const steps = [];
        client.on('preflightProgress', (e) => steps.push(e.step));
        // The app's question: the tone plays until it answers (here, at once).
        const speaker = async () => h;
        return client.preflight({ token: t, network: false, camera: false, microphone: false, speaker, screen: true })
          .then((report) => ({ report, steps }));
      }, [token, heard]);
      const heard = await check(true);
      assert.equal(heard.report.devices.speaker_confirmed, true);
      assert.equal(heard.report.devices.screen, 'allowed');
      assert.equal(heard.report.verdict, 'good', JSON.stringify(heard.report));
      assert.deepEqual(heard.steps.sort(), ['screen', 'speaker']);
      const silent = await check(false);
      assert.equal(silent.report.devices.speaker_confirmed, false);
      assert.deepEqual(silent.report.reasons, ['speaker_unconfirmed']);
      assert.deepEqual(silent.report.advice, ['check_speaker']);
    } finally {
      await page.context().close();
    }
  });

  test('a bad preflight token rejects the check with its code; an unreachable server is a report', async () => {
    const page = await sdkPage();
    try {
      const refused = await page.evaluate(() => new window.sdk.AssistClient({ url: location.origin, token: 'x' })
        .preflight({ token: 'not-a-token', camera: false, microphone: false })
        .then(() => null, (e) => ({ code: e.code, message: e.message })));
      assert.equal(refused?.code, 'unauthorized', JSON.stringify(refused));
      const missing = await page.evaluate(() => new window.sdk.AssistClient({ url: location.origin, token: 'x' })
        .preflight({}).then(() => null, (e) => e.code));
      assert.equal(missing, 'bad_request');
      const report = await page.evaluate(() => new window.sdk.AssistClient({ url: 'http://127.0.0.1:9', token: 'x' })
        .preflight({ token: 't', camera: false, microphone: false }));
      assert.equal(report.verdict, 'poor');
      assert.deepEqual(report.reasons, ['server_unreachable']);
    } finally {
      await page.context().close();
    }
  });

  test('a native customer shares its pre-call report with the join; the agent console shows it', async () => {
    const tokens = await createRoom(server, { roomId: 'rm_diag_report', permissions: { screen: true } });
    const native = await nativeClient(server.url, tokens.user_9);
    let page;
    try {
      const report = await native.cmd('preflight', { url: server.url, token: await preflightToken() }, 30_000);
      const parsed = JSON.parse(report.json);
      // The check ran for real: the probe measured the loopback, and the relay was tried too.
      assert.ok(['good', 'fair'].includes(report.verdict), JSON.stringify(report));
      assert.equal(parsed.verdict, report.verdict);
      assert.ok(parsed.network && parsed.upload_kbps > 0 && parsed.download_kbps > 0, report.json);
      assert.notEqual(parsed.reachability.turn_udp, 'not_tested', report.json);

      // Shared before joining (the user agreed on the pre-call screen): it goes with the join.
      await native.cmd('share_diagnostics', { report: report.json });
      await native.cmd('connect');
      page = await openPage(browser, `${server.url}/agent/#token=${tokens.agent_1}`);
      await waitEvent(page, 'joined');
      const shown = await agentReport(page);
      assert.equal(shown.verdict, report.verdict);
      assert.deepEqual(shown.reasons, report.reasons);
      assert.match(shown.figures, /RTT \d+ ms/);
      const member = await page.evaluate(() => window.assist.client.members.find((m) => m.id === 'user_9'));
      assert.deepEqual(member.diagnostics, parsed);

      // Shared again during the call (a re-run): the agent gets it as an event.
      const rerun = { ...parsed, verdict: 'poor', reasons: ['packet_loss'] };
      await native.cmd('share_diagnostics', { report: JSON.stringify(rerun) });
      const event = await waitEvent(page, 'memberDiagnostics');
      assert.equal(event.member, 'user_9');
      assert.deepEqual(event.report, rerun);
      await poll('the console shows the re-run', () => page.evaluate(
        () => document.getElementById('report-verdict').textContent === 'poor'));
    } catch (e) {
      e.message += `\nnative stderr: ${Buffer.concat(native.stderr).toString().slice(-2000)}`;
      throw e;
    } finally {
      await native.close();
      await page?.context().close();
    }
  });

  test('a call forced through the coturn relay connects, uses only relay candidates and decodes frames', async () => {
    const tokens = await createRoom(server, { roomId: 'rm_diag_relay', permissions: { screen: true } });
    // Records every peer connection the page makes, to read its selected candidate pair.
    const init = () => {
      const Native = window.RTCPeerConnection;
      window.peerConnections = [];
      window.RTCPeerConnection = class extends Native {
        constructor(...args) {
          super(...args);
          window.peerConnections.push(this);
        }
      };
    };
    const pages = [];
    try {
      for (const [id, camera] of [['agent_1', false], ['user_9', true]]) {
        const context = await browser.newContext();
        await context.addInitScript(init);
        const page = await context.newPage();
        pages.push(page);
        await page.goto(`${server.url}/healthz`);
        await page.evaluate(async ([token, withCamera]) => {
          const { AssistClient } = await import('/sdk/index.js');
          window.client = new AssistClient({ url: location.origin, token, noticeAcknowledged: true, iceTransportPolicy: 'relay' });
          await window.client.connect();
          if (withCamera) await window.client.startCamera();
        }, [tokens[id], camera]);
      }
      const [agent] = pages;
      const decoded = await poll('the agent decodes the customer camera through the relay', async () => {
        const stats = await agent.evaluate(() => window.client.inboundVideoStats());
        return stats.find((s) => s.source === 'camera' && s.framesDecoded > 10);
      }, { ms: 30_000 });
      assert.equal(decoded.member, 'user_9');
      for (const page of pages) {
        const pair = await page.evaluate(async () => {
          for (const pc of window.peerConnections) {
            const stats = [...(await pc.getStats()).values()];
            const selected = stats.find((s) => s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated);
            if (!selected) continue;
            const byId = (id) => stats.find((s) => s.id === id);
            return { local: byId(selected.localCandidateId).candidateType, remote: byId(selected.remoteCandidateId).candidateType };
          }
          return null;
        });
        assert.deepEqual(pair, { local: 'relay', remote: 'relay' });
      }
    } catch (e) {
      e.message += `\ncoturn log: ${coturn.log().slice(-2000)}`;
      throw e;
    } finally {
      for (const page of pages) await page.context().close();
    }
  });
});
