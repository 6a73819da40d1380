// Benchmark: native SDK agent → browser SDK customer, assist latency on loopback. The native
// side is the Python client of the end-to-end tests (tests/native/client.py, the UniFFI
// bindings over the release library: ASSISTRTC_BINDINGS); the customer is the demo customer
// page in headless Chromium, joined without media (as in the native ↔ native run of
// bench-native). The agent sends script steps, highlights (each cleared again), clears and
// pointer moves one at a time; latency is the SDK call in the native process → the page's
// `overlayChanged` carrying it; sends are at least 12 ms apart. Run: cargo xtask bench native
// (after the Rust part).
//
// Clocks: Python stamps `time.monotonic_ns()` just before the SDK call; Node reads the same
// CLOCK_MONOTONIC (process.hrtime); the page's performance.timeOrigin + now() is mapped onto
// it with an offset taken from the page round trip with the least delay (printed, with its
// uncertainty, half that round trip). Prints figures, asserts nothing; every wait is bounded.
import { createRoom, launch, openPage, startServer } from '../../tests/e2e/lib.mjs';
import { mono, nativeClient } from '../../tests/e2e/native-client.mjs';

const COUNT = Number(process.env.COUNT ?? 200);
const WAIT_MS = 2_000;
const WARMUP = 20;
const AGENT = 'agent_1';
const TICKET = 'T-1042';

/** `op` through the native client, with when it was written, called in Python and answered. */
async function timed(native, op, args) {
  const { msg, written, replied } = await native.request(op, args);
  if (msg.error) throw new Error(`native ${op}: ${msg.error.code}: ${msg.error.message}`);
  return { ok: msg.ok, written, called: msg.called_ns / 1e6, replied };
}

/** Records, in the page, when each step, shape, clear and pointer was first seen. */
function installRecorder(agent) {
  const seen = { steps: new Map(), shapes: new Map(), cursors: new Map(), emptied: null, had: false, waiters: [] };
  window.benchSeen = seen;
  const now = () => performance.timeOrigin + performance.now();
  const lookup = (kind, key) => (kind === 'emptied' ? seen.emptied : seen[kind].get(key));
  window.assist.client.on('overlayChanged', (v) => {
    const at = now();
    if (v.step) {
      const k = `${v.step.ticket}/${v.step.step}`;
      if (!seen.steps.has(k)) seen.steps.set(k, at);
    }
    const mine = v.shapes.filter((s) => s.member === agent);
    for (const s of mine) if (!seen.shapes.has(s.id)) seen.shapes.set(s.id, at);
    if (seen.had && mine.length === 0) seen.emptied = at;
    seen.had = mine.length > 0;
    for (const c of v.cursors) {
      const k = Math.round(c.x * 1e6);
      if (c.member === agent && !seen.cursors.has(k)) seen.cursors.set(k, at);
    }
    seen.waiters = seen.waiters.filter((w) => {
      const value = lookup(w.kind, w.key);
      if (value == null) return true;
      w.resolve(value);
      return false;
    });
  });
  // Resolves with the page time `key` was first seen, or null after `ms`.
  window.benchWait = (kind, key, ms) => new Promise((resolve) => {
    const value = lookup(kind, key);
    if (value != null) return resolve(value);
    const w = { kind, key, resolve };
    seen.waiters.push(w);
    setTimeout(() => {
      seen.waiters = seen.waiters.filter((x) => x !== w);
      resolve(null);
    }, ms);
  });
  window.benchReset = () => { seen.emptied = null; };
}

/** page clock − Node clock (ms), from the round trip with the least delay; and half of it. */
async function clockOffset(page) {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 30; i++) {
    const before = mono();
    const at = await page.evaluate(() => performance.timeOrigin + performance.now());
    const after = mono();
    if (after - before < best.rtt) best = { rtt: after - before, offset: at - (before + after) / 2 };
  }
  return { offset: best.offset, uncertainty: best.rtt / 2 };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length))) - 1] : NaN;
};
const pointerX = (i, n) => Math.round(((i + 1) / (n + 2)) * 1e6) / 1e6;
const title = (step) => `Step ${step}: unplug the router, wait ten seconds`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Least time between two sends, for every kind (as in bench-native): the pointer's must exceed
// the sender's coalescing interval (8 ms), and one pace for all keeps the runs alike.
const PACE_MS = 12;
let next = 0;
async function paced() {
  await sleep(Math.max(0, next - mono()));
  next = mono() + PACE_MS;
}

const server = await startServer();
const browser = await launch();
let native;
try {
  const tokens = await createRoom(server, { roomId: 'rm_native_browser_bench' });
  native = await nativeClient(server.url, tokens[AGENT]);
  await native.cmd('connect');
  const page = await openPage(browser, `${server.url}/customer/#token=${tokens.user_9}`);
  await page.click('#accept');
  await page.click('#join');
  await page.waitForFunction(() => window.assist.client !== null, null, { timeout: 15_000 });
  await page.evaluate(installRecorder, AGENT);
  const joined = mono();

  const waitSeen = (kind, key) => page.evaluate(([k, key, ms]) => window.benchWait(k, key, ms), [kind, key, WAIT_MS]);
  // Warm-up: the first step waits for the link and opens the assist channels.
  for (let i = 1; i <= WARMUP; i++) {
    await native.cmd('script_step', { ticket: 'T-warm', step: i, total: WARMUP, title: title(i) });
    const at = await page.evaluate(([key]) => window.benchWait('steps', key, 30_000), [`T-warm/${i}`]);
    if (at == null) throw new Error(`warm-up step ${i} never reached the page`);
    if (i === 1) console.log(`first script step seen ${(mono() - joined).toFixed(0)} ms after the page joined (the link negotiates, the channels open)`);
  }
  const clock = await clockOffset(page);

  const results = { step: [], highlight: [], clear: [], pointer: [] };
  const lost = { step: 0, highlight: 0, clear: 0, pointer: 0 };
  const pipe = [];
  const record = (kind, sent, seenAt) => {
    pipe.push(sent.called - sent.written);
    if (seenAt == null) lost[kind]++;
    else results[kind].push({ call: seenAt - clock.offset - sent.called, cmd: seenAt - clock.offset - sent.written });
  };
  for (let i = 1; i <= COUNT; i++) {
    await paced();
    const sent = await timed(native, 'script_step', { ticket: TICKET, step: i, total: COUNT, title: title(i) });
    record('step', sent, await waitSeen('steps', `${TICKET}/${i}`));
  }
  for (let i = 0; i < COUNT; i++) {
    await paced();
    const sent = await timed(native, 'highlight', { rect: { x: 0.25, y: 0.25, w: 0.5, h: 0.125 }, color: '#ff3b30' });
    record('highlight', sent, await waitSeen('shapes', sent.ok));
    await page.evaluate(() => window.benchReset());
    await paced();
    const cleared = await timed(native, 'clear', { shape: sent.ok });
    record('clear', cleared, await waitSeen('emptied', null));
  }
  for (let i = 0; i < COUNT; i++) {
    const x = pointerX(i, COUNT);
    await paced();
    const sent = await timed(native, 'pointer', { x, y: 0.5 });
    record('pointer', sent, await waitSeen('cursors', Math.round(x * 1e6)));
  }
  const end = await clockOffset(page);

  console.log(`\nnative SDK agent (Python bindings, release library) -> Chromium customer page, ${COUNT} of each, one at a time (ms)`);
  console.log(`page clock offset ${clock.offset.toFixed(3)} ms ± ${clock.uncertainty.toFixed(3)} (at the end ${end.offset.toFixed(3)} ± ${end.uncertainty.toFixed(3)})`);
  const row = (...cols) => console.log(cols.map((c, i) => (i < 2 ? String(c).padEnd(i ? 22 : 26) : String(c).padStart(8))).join(' '));
  row('message', 'from', 'n', 'lost', 'p50', 'p95', 'p99', 'max');
  const labels = { step: 'script step (reliable)', highlight: 'highlight (reliable)', clear: 'clear (reliable)', pointer: 'pointer (cursor channel)' };
  for (const kind of Object.keys(results)) {
    for (const from of ['call', 'cmd']) {
      const xs = results[kind].map((r) => r[from]);
      row(labels[kind], from === 'call' ? 'SDK call (Python)' : 'Node command', xs.length, lost[kind],
        ...[50, 95, 99, 100].map((p) => pct(xs, p).toFixed(3)));
    }
  }
  console.log(`Node -> Python command delivery (pipe + JSON + asyncio): p50 ${pct(pipe, 50).toFixed(3)} ms, p99 ${pct(pipe, 99).toFixed(3)} ms`);
} finally {
  await native?.close();
  await browser.close();
  await server.stop();
}
