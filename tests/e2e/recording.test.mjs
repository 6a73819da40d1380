// Local recording in real Chromium (and Firefox ESR as the recording agent) against the real
// server: a call recorded on the agent's device with MediaRecorder, chunks kept in IndexedDB,
// checked with ffprobe/ffmpeg; the manifest, the assist sidecar, stereo channels, and the
// consent rules on both sides.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { API_KEY, cpuLoad, createRoom, launch, poll, startServer } from './lib.mjs';

const fx = {};
let dir;
// Firefox, launched on first use.
let firefox = null;
const browser = (kind) => (kind === 'firefox' ? (firefox ??= launch('firefox')) : fx.browser);
before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'assistrtc-rec-'));
  fx.server = await startServer(['--data-dir', path.join(dir, 'data')]);
  fx.browser = await launch();
});
after(async () => {
  await (await firefox?.catch(() => null))?.close();
  await fx.browser?.close();
  await fx.server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * A page on the server's origin with the SDK as `window.sdk`; `tone` (Hz) replaces the
 * microphone with a sine of that frequency, so each side's voice can be told apart.
 */
async function sdkPage(tone, kind = 'chromium') {
  const context = await (await browser(kind)).newContext();
  if (tone) {
    await context.addInitScript((hz) => {
      const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = async (c) => {
        if (!c?.audio || c.video) return real(c);
        const ctx = new AudioContext();
        const osc = ctx.createOscillator();
        osc.frequency.value = hz;
        const dest = ctx.createMediaStreamDestination();
        osc.connect(dest);
        osc.start();
        await ctx.resume();
        return dest.stream;
      };
    }, tone);
  }
  const page = await context.newPage();
  page.logs = [];
  page.on('console', (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  await page.goto(`${fx.server.url}/healthz`);
  if (kind === 'firefox') {
    // Firefox shows JSON as a text document, where no script runs: an empty page of the same
    // origin instead.
    await page.goto(await page.evaluate(() => URL.createObjectURL(new Blob(['<!doctype html>'], { type: 'text/html' }))));
  }
  await page.evaluate(async () => {
    window.sdk = await import(`${location.origin}/sdk/index.js`);
    window.seen = [];
  });
  return page;
}

async function join(page, token, names) {
  await page.evaluate(async ([t, n]) => {
    window.client = new window.sdk.AssistClient({ url: location.origin, token: t, noticeAcknowledged: true });
    for (const name of n) {
      window.client.on(name, (e) => {
        const { stream, track, ...rest } = e;
        window.seen.push({ name, ...rest });
      });
    }
    await window.client.connect();
  }, [token, names]);
}

const seen = (page, name) => page.evaluate((n) => window.seen.filter((e) => e.name === n), name);

/**
 * An agent and a customer in a call, both consenting, both sending camera and microphone; each
 * in Chromium unless `agentBrowser`/`customerBrowser` say 'firefox'.
 */
async function call(roomId, { agentTone, customerTone, agentBrowser, customerBrowser } = {}) {
  const tokens = await createRoom(fx.server, { roomId, permissions: { screen: true, recording: 'local' } });
  const agent = await sdkPage(agentTone, agentBrowser);
  const customer = await sdkPage(customerTone, customerBrowser);
  const names = ['trackAdded', 'recordingChanged', 'memberConsent', 'recorderState', 'recorderProgress',
    'recorderConsentPaused', 'recorderFailed'];
  await join(agent, tokens.agent_1, names);
  await join(customer, tokens.user_9, names);
  for (const page of [agent, customer]) {
    await page.evaluate(async () => {
      window.client.setRecordingConsent(true);
      await window.client.startCamera();
      await window.client.startMicrophone();
    });
  }
  for (const page of [agent, customer]) {
    await poll('both remote tracks arrive', async () => (await seen(page, 'trackAdded')).length >= 2);
  }
  await poll('the agent knows the customer consents',
    () => agent.evaluate(() => window.client.members[0]?.recordingConsent === true));
  return { agent, customer, tokens };
}

/** Waits until the recording has `ms` of media in its chunks. */
function recorded(page, ms) {
  return poll(`${ms} ms recorded`, () => page.evaluate(
    (m) => window.seen.some((e) => e.name === 'recorderProgress' && e.durationMs >= m), ms), { ms: ms + 15_000 });
}

/**
 * The bytes of the Blob that `fn` resolves to in the page (`fn` runs there, as source text), and
 * what else it returns beside the blob.
 */
async function pageBytes(page, fn) {
  const { b64, rest } = await page.evaluate(async (src) => {
    // eslint-disable-next-line no-new-func
    const { blob, ...rest } = await new Function(`return (${src})()`)();
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { b64: btoa(s), rest };
  }, fn.toString());
  return { bytes: Buffer.from(b64, 'base64'), ...rest };
}

/** The recording's bytes, from the chunks the page kept. */
async function recordingBytes(page) {
  return (await pageBytes(page, async () => ({ blob: await window.client.recorder.blob() }))).bytes;
}

/** The recording's bytes, written to a file. */
async function saveRecording(page, name) {
  const file = path.join(dir, name);
  writeFileSync(file, await recordingBytes(page));
  return file;
}

/** The media duration in seconds: the last packet's end (MediaRecorder's WebM has no duration header). */
function mediaSeconds(file, stream) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', stream,
    '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  let end = 0;
  for (const line of out.trim().split('\n')) {
    const [pts, dur] = line.split(',').map(Number);
    if (Number.isFinite(pts)) end = Math.max(end, pts + (Number.isFinite(dur) ? dur : 0));
  }
  return end;
}

/** Mean volume (dB) of `channel` (FL/FR) of `file` in a narrow band around `hz`. */
function meanVolume(file, channel, hz) {
  const run = spawnSync('ffmpeg', ['-hide_banner', '-nostats', '-i', file, '-vn', '-af',
    `pan=mono|c0=${channel},bandpass=f=${hz}:width_type=q:w=8,volumedetect`, '-f', 'null', '-'],
  { encoding: 'utf8' });
  const m = /mean_volume: (-?[\d.]+|-inf) dB/.exec(run.stderr);
  assert.ok(m, `no volume for ${channel} at ${hz} Hz: ${run.stderr.slice(-500)}`);
  return m[1] === '-inf' ? -200 : Number(m[1]);
}

/**
 * Records `ms` of the call on the agent's device: a bookmark `label` and a highlight after
 * `markAt` ms, then stop, with the indicator checked on both sides. Returns the bookmark's
 * media time and the manifest.
 */
async function recordWithMarks(agent, customer, { label, markAt, ms }) {
  await agent.evaluate(() => window.client.recorder.start({ source: 'mixed', timesliceMs: 500 }));
  for (const page of [agent, customer]) {
    await poll('the indicator on both sides', () => page.evaluate(() => window.client.recording.local === 'recording'));
  }
  await recorded(agent, markAt);
  const marks = await agent.evaluate((l) => {
    const at = window.client.recorder.bookmark(l);
    window.client.assist.highlight({ x: 0.1, y: 0.2, w: 0.3, h: 0.2 });
    return at;
  }, label);
  await recorded(agent, ms);
  await agent.evaluate(() => window.client.recorder.stop());
  await poll('complete', () => agent.evaluate(() => window.client.recorder.complete));
  await poll('stopped on both sides', () => customer.evaluate(() => window.client.recording.local === 'stopped'));
  const manifest = await agent.evaluate(() => window.client.recorder.manifest());
  assert.equal(manifest.state, 'stopped');
  assert.deepEqual(manifest.bookmarks, [{ at_ms: marks, label }]);
  assert.ok(marks >= markAt && marks < manifest.duration_ms, `bookmark at ${marks}`);
  assert.deepEqual(manifest.sources.map((s) => `${s.member}:${s.source}`).sort(),
    ['agent_1:camera', 'agent_1:microphone', 'user_9:camera', 'user_9:microphone']);
  return { marks, manifest };
}

/**
 * What both browsers' recordings must hold: chunks adding up, the highlight in the sidecar
 * after the bookmark, every chunk kept, video and audio within 10 % of the manifest's
 * duration (`seconds` its range), both cameras composed. Returns the saved file.
 */
async function checkRecording(agent, { marks, manifest, name, seconds: [low, high] }) {
  assert.equal(manifest.bytes, manifest.chunks.reduce((n, c) => n + c.bytes, 0));
  const sidecar = await agent.evaluate(() => window.client.recorder.sidecar());
  const shapes = sidecar.entries.filter((e) => e.message.t === 'highlight');
  assert.equal(shapes.length, 1, JSON.stringify(sidecar));
  assert.equal(shapes[0].member, 'agent_1');
  assert.ok(shapes[0].at_ms >= marks && shapes[0].at_ms < manifest.duration_ms, `highlight at ${shapes[0].at_ms}`);
  const file = await saveRecording(agent, name);
  const blobBytes = await agent.evaluate(async () => (await window.client.recorder.blob()).size);
  assert.equal(blobBytes, manifest.bytes, 'every chunk is kept');
  const expected = manifest.duration_ms / 1000;
  assert.ok(expected >= low && expected < high, `recorded ${expected} s`);
  for (const [what, stream] of [['video', 'v:0'], ['audio', 'a:0']]) {
    const s = mediaSeconds(file, stream);
    assert.ok(Math.abs(s - expected) <= expected * 0.1, `${what} lasts ${s} s, the manifest says ${expected} s`);
  }
  const width = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'stream=width', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim();
  assert.equal(width, '1280', 'both cameras composed into one picture');
  return file;
}

describe('local recording', () => {
  test('5 s of a call with a bookmark and an annotation: a WebM ffprobe reads, the manifest and the sidecar', async () => {
    const { agent, customer } = await call('rm_rec_basic');
    const { marks, manifest } = await recordWithMarks(agent, customer, { label: 'error dialog', markAt: 1_500, ms: 5_000 });
    assert.equal(manifest.mime.startsWith('video/webm'), true, manifest.mime);
    assert.equal(manifest.chunks.length >= 9, true, `${manifest.chunks.length} chunks`);
    const file = await checkRecording(agent, { marks, manifest, name: 'basic.webm', seconds: [5, 7] });

    // A clip of the middle plays on its own: the header chunk and the chunks covering it.
    const clip = await pageBytes(agent, () => window.client.recorder.exportClip(2_000, 3_000));
    assert.deepEqual([clip.fromMs, clip.toMs], [2_000, 3_000]);
    assert.ok(clip.bytes.length > 0 && clip.bytes.length < manifest.bytes, `clip of ${clip.bytes.length} B`);
    const clipFile = path.join(dir, 'clip.webm');
    writeFileSync(clipFile, clip.bytes);
    // ffprobe reads it, and its pictures reach past the clip's end (times are the recording's).
    assert.ok(mediaSeconds(clipFile, 'v:0') >= 3, `the clip's video ends at ${mediaSeconds(clipFile, 'v:0')} s`);
    const packets = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
      'packet=pts_time', '-of', 'csv=p=0', clipFile], { encoding: 'utf8' }).trim().split('\n')
      .map((line) => Number(line.split(',')[0])).filter(Number.isFinite);
    assert.ok(packets.some((t) => t >= 2 && t <= 3), `the clip holds the range: ${packets.length} packets ${packets.slice(0, 5)} … ${packets.slice(-5)}`);
    assert.ok(packets.length < mediaSeconds(file, 'v:0') * 30, 'and not the whole recording');
    await agent.context().close();
    await customer.context().close();
  });

  test('stereo puts the agent on the left and the customer on the right', async () => {
    const { agent, customer } = await call('rm_rec_stereo', { agentTone: 440, customerTone: 1_000 });
    await agent.evaluate(() => window.client.recorder.start({ source: 'mixed', stereo: true, timesliceMs: 500 }));
    await recorded(agent, 3_000);
    await agent.evaluate(() => window.client.recorder.stop());
    await poll('complete', () => agent.evaluate(() => window.client.recorder.complete));
    const file = await saveRecording(agent, 'stereo.webm');
    const channels = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries',
      'stream=channels', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim();
    assert.equal(channels, '2');
    const left440 = meanVolume(file, 'FL', 440);
    const left1k = meanVolume(file, 'FL', 1000);
    const right440 = meanVolume(file, 'FR', 440);
    const right1k = meanVolume(file, 'FR', 1000);
    const report = `L: 440 Hz ${left440} dB, 1 kHz ${left1k} dB; R: 440 Hz ${right440} dB, 1 kHz ${right1k} dB`;
    assert.ok(left440 > left1k + 20, `the agent's tone is on the left: ${report}`);
    assert.ok(right1k > right440 + 20, `the customer's tone is on the right: ${report}`);
    await agent.context().close();
    await customer.context().close();
  });

  test('under CPU load (a build beside the call): the file holds the whole time and both voices', async () => {
    const { agent, customer } = await call('rm_rec_load', { agentTone: 440, customerTone: 1_000 });
    const stop = cpuLoad();
    let manifest;
    try {
      await agent.evaluate(() => window.client.recorder.start({ source: 'mixed', stereo: true, timesliceMs: 500 }));
      await recorded(agent, 4_000);
      await agent.evaluate(() => window.client.recorder.stop());
      await poll('complete', () => agent.evaluate(() => window.client.recorder.complete));
      manifest = await agent.evaluate(() => window.client.recorder.manifest());
    } finally {
      await stop();
    }
    const file = await saveRecording(agent, 'loaded.webm');
    assert.equal(manifest.bytes, manifest.chunks.reduce((n, c) => n + c.bytes, 0));
    const expected = manifest.duration_ms / 1000;
    for (const [what, stream] of [['video', 'v:0'], ['audio', 'a:0']]) {
      const s = mediaSeconds(file, stream);
      assert.ok(Math.abs(s - expected) <= expected * 0.1, `${what} lasts ${s} s, the manifest says ${expected} s`);
    }
    const report = ['FL', 'FR'].flatMap((c) => [440, 1000].map((hz) => `${c} ${hz} Hz ${meanVolume(file, c, hz)} dB`)).join(', ');
    assert.ok(meanVolume(file, 'FL', 440) > meanVolume(file, 'FL', 1000) + 20, `the agent on the left: ${report}`);
    assert.ok(meanVolume(file, 'FR', 1000) > meanVolume(file, 'FR', 440) + 20, `the customer on the right: ${report}`);
    await agent.context().close();
    await customer.context().close();
  });

  test('recording needs everyone\'s consent; a withdrawal pauses it on both sides until resumed', async () => {
    const { agent, customer } = await call('rm_rec_consent');
    await customer.evaluate(() => window.client.setRecordingConsent(false));
    await poll('the agent learns the withdrawal', () => agent.evaluate(() => window.client.members[0].recordingConsent === false));
    const refused = await agent.evaluate(() => {
      try {
        window.client.recorder.start();
        return null;
      } catch (e) {
        return { code: e.code, message: e.message };
      }
    });
    assert.equal(refused?.code, 'forbidden', JSON.stringify(refused));
    assert.match(refused.message, /user_9/);
    assert.equal(await agent.evaluate(() => window.client.recorder.state), 'idle');
    assert.equal(await customer.evaluate(() => window.client.recording.local), 'stopped', 'nothing was announced');

    await customer.evaluate(() => window.client.setRecordingConsent(true));
    await poll('the agent learns the consent', () => agent.evaluate(() => window.client.members[0].recordingConsent));
    await agent.evaluate(() => window.client.recorder.start({ timesliceMs: 300 }));
    await recorded(agent, 1_000);
    await customer.evaluate(() => window.client.setRecordingConsent(false));
    await poll('paused on the agent\'s device', () => agent.evaluate(() => window.client.recorder.state === 'paused'));
    for (const page of [agent, customer]) {
      await poll('the indicator says paused on both sides', () => page.evaluate(() => window.client.recording.local === 'paused'));
    }
    assert.deepEqual((await seen(agent, 'recorderConsentPaused')).map((e) => e.member), ['user_9']);
    const stuck = await agent.evaluate(() => {
      try {
        window.client.recorder.resume();
        return null;
      } catch (e) {
        return e.code;
      }
    });
    assert.equal(stuck, 'forbidden');
    await customer.evaluate(() => window.client.setRecordingConsent(true));
    await poll('the agent learns the consent again', () => agent.evaluate(() => window.client.members[0].recordingConsent));
    await agent.evaluate(() => window.client.recorder.resume());
    for (const page of [agent, customer]) {
      await poll('recording again on both sides', () => page.evaluate(() => window.client.recording.local === 'recording'));
    }
    await agent.evaluate(() => window.client.recorder.stop());
    await poll('complete', () => agent.evaluate(() => window.client.recorder.complete));
    const manifest = await agent.evaluate(() => window.client.recorder.manifest());
    assert.deepEqual(manifest.pauses.map((p) => p.reason), ['consent']);
    await agent.context().close();
    await customer.context().close();
  });
});

/** The stored recording's media, through a playback URL minted with the API key. */
async function storedMedia(id) {
  const auth = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
  const minted = await fetch(`${fx.server.url}/v1/recordings/${id}/playback`, { method: 'POST', headers: auth, body: '{}' });
  assert.equal(minted.status, 201, await minted.clone().text());
  const { url } = await minted.json();
  const media = await fetch(`${fx.server.url}${url}`);
  assert.equal(media.status, 200);
  return Buffer.from(await media.arrayBuffer());
}

async function storedRecording(id) {
  const res = await fetch(`${fx.server.url}/v1/recordings/${id}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  assert.equal(res.status, 200);
  return res.json();
}

/** The chunks a page kept for recording `key`, read straight from IndexedDB: `{count, bytes}`. */
async function keptChunks(page, key) {
  await page.evaluate((k) => { window.keptKey = k; }, key);
  return pageBytes(page, async () => {
    const db = await new Promise((resolve, reject) => {
      const r = indexedDB.open('assistrtc-recordings', 1);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const k = window.keptKey;
    const blobs = await new Promise((resolve, reject) => {
      const r = db.transaction('chunks').objectStore('chunks').getAll(IDBKeyRange.bound([k, 0], [k, 2 ** 32 - 1]));
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    db.close();
    return { blob: new Blob(blobs), count: blobs.length };
  });
}

describe('recording upload', () => {
  test('uploaded chunk by chunk while recording: the server keeps the same bytes, the manifest and the sidecar', async () => {
    const { agent, customer } = await call('rm_rec_upload');
    await agent.evaluate(() => {
      window.client.on('recorderUpload', (e) => window.seen.push({ name: 'recorderUpload', ...e }));
      window.client.recorder.start({ timesliceMs: 400 });
    });
    await recorded(agent, 1_000);
    await agent.evaluate(() => window.client.recorder.bookmark('serial number'));
    await recorded(agent, 2_500);
    // Chunks go up while recording, not only at the end.
    await poll('chunks uploaded while recording', async () => (await seen(agent, 'recorderUpload'))
      .some((e) => e.state === 'progress' && e.chunksSent >= 2));
    await agent.evaluate(() => window.client.recorder.stop());
    const done = await poll('uploaded', async () => (await seen(agent, 'recorderUpload')).find((e) => e.state === 'done'));
    const stored = await storedRecording(done.recording);
    assert.equal(stored.state, 'complete');
    assert.equal(stored.manifest.bookmarks[0].label, 'serial number');
    assert.equal(typeof stored.sidecar.entries, 'object');
    const local = await recordingBytes(agent);
    const media = await storedMedia(done.recording);
    assert.equal(media.length, local.length);
    assert.ok(media.equals(local), 'the stored file is the recording, byte for byte');
    await agent.context().close();
    await customer.context().close();
  });

  test('a page killed mid-recording: the next load resumes the upload with what was kept', async () => {
    const { agent, customer, tokens } = await call('rm_rec_crash');
    // Chunk uploads hang from the start, as on a stalled network: the rest stays on the device.
    await agent.route('**/chunks/**', () => {});
    await agent.evaluate(() => {
      window.client.on('recorderUpload', (e) => window.seen.push({ name: 'recorderUpload', ...e }));
      window.client.recorder.start({ timesliceMs: 300 });
    });
    await recorded(agent, 2_000);
    await poll('the server created it', async () => (await seen(agent, 'recorderUpload')).some((e) => e.state === 'created'));
    const key = await agent.evaluate(() => window.client.recorder.key);
    const context = agent.context();
    await agent.close({ runBeforeUnload: false });

    // The same member opens the page again on this device.
    const page = await context.newPage();
    await page.goto(`${fx.server.url}/healthz`);
    const kept = await keptChunks(page, key);
    assert.ok(kept.count >= 5, `${kept.count} chunks kept`);
    await page.evaluate(async () => {
      window.sdk = await import('/sdk/index.js');
      window.seen = [];
    });
    await page.evaluate(async (token) => {
      window.client = new window.sdk.AssistClient({ url: location.origin, token, noticeAcknowledged: true });
      window.client.on('recorderUpload', (e) => window.seen.push({ name: 'recorderUpload', ...e }));
      await window.client.connect();
    }, tokens.agent_1);
    const done = await poll('the left-over upload completes', async () => (await seen(page, 'recorderUpload'))
      .find((e) => e.state === 'done' || e.state === 'failed'));
    assert.equal(done.state, 'done', JSON.stringify(done));
    assert.equal(done.key, key);
    const media = await storedMedia(done.recording);
    assert.ok(media.equals(kept.bytes), `stored ${media.length} B, kept ${kept.bytes.length} B`);
    const stored = await storedRecording(done.recording);
    assert.equal(stored.chunks.length, kept.count);
    assert.ok(stored.manifest.chunks.length >= kept.count - 1, 'the manifest kept with the chunks');
    // Once uploaded, the next load deletes the chunks from the device.
    await page.reload();
    await page.evaluate(async (token) => {
      window.sdk = await import('/sdk/index.js');
      window.client = new window.sdk.AssistClient({ url: location.origin, token, noticeAcknowledged: true });
      await window.client.connect();
    }, tokens.agent_1);
    await poll('the device forgets an uploaded recording', async () => (await keptChunks(page, key)).count === 0);
    await context.close();
    await customer.context().close();
  });
});

describe('recording in Firefox', () => {
  test('a Firefox agent records a Chromium customer: the WebM, the manifest, the sidecar and the upload', async () => {
    const { agent, customer } = await call('rm_rec_firefox', { agentBrowser: 'firefox' });
    // A fresh Firefox opens its audio output with its first AudioContext, which takes up to
    // seconds on a loaded machine, and its MediaRecorder begins (`start`) only then: media time
    // counts from that start, so the file and the manifest agree all the same.
    await agent.evaluate(() => {
      window.client.on('recorderUpload', (e) => window.seen.push({ name: 'recorderUpload', ...e }));
    });
    const { marks, manifest } = await recordWithMarks(agent, customer, { label: 'router lights', markAt: 1_000, ms: 4_000 });
    assert.equal(manifest.mime, 'video/webm;codecs=vp8,opus');
    const file = await checkRecording(agent, { marks, manifest, name: 'firefox.webm', seconds: [4, 6] });

    const done = await poll('uploaded', async () => (await seen(agent, 'recorderUpload'))
      .find((e) => e.state === 'done' || e.state === 'failed'));
    assert.equal(done.state, 'done', JSON.stringify(done));
    const stored = await storedRecording(done.recording);
    assert.equal(stored.state, 'complete');
    assert.equal(stored.manifest.bookmarks[0].label, 'router lights');
    const media = await storedMedia(done.recording);
    const local = readFileSync(file);
    assert.equal(media.length, local.length);
    assert.ok(media.equals(local), 'the stored file is the recording, byte for byte');
    await agent.context().close();
    await customer.context().close();
  });
});
