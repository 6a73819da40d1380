// Shared fixtures for the end-to-end tests and the browser benchmarks (bench/browser): the
// real server on 127.0.0.1:0, real Chromium (Playwright) or Firefox ESR (WebDriver, see
// firefox.mjs), bounded waits only.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { launchFirefox } from './firefox.mjs';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const API_KEY = 'e2e-api-key';
const JWT_SECRET = 'e2e-jwt-secret-0123456789abcdef';

/** Starts `assistrtc-server` and resolves once it printed its `listening on` line. */
export async function startServer(extraArgs = [], { listen = '127.0.0.1:0' } = {}) {
  const bin = process.env.ASSISTRTC_SERVER_BIN ?? path.join(root, 'target/debug/assistrtc-server');
  const child = spawn(bin, ['--listen', listen, '--api-key', API_KEY, '--jwt-secret', JWT_SECRET,
    '--web-root', process.env.ASSISTRTC_WEB_ROOT ?? root, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = [];
  child.stderr.on('data', (d) => stderr.push(d));
  const lines = createInterface({ input: child.stdout });
  const url = await withTimeout(15_000, 'server start', new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${Buffer.concat(stderr)}`)));
  }));
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await withTimeout(10_000, 'server stop', once(child, 'exit'));
    },
  };
}

export async function withTimeout(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function createRoom(server, { roomId, permissions, members }) {
  const res = await fetch(`${server.url}/v1/rooms`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      roomId,
      members: members ?? [{ id: 'agent_1', role: 'host' }, { id: 'user_9', role: 'guest' }],
      permissions,
    }),
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`create room: ${res.status} ${JSON.stringify(body)}`);
  return Object.fromEntries(body.members.map((m) => [m.id, m.token]));
}

/** Launches `kind` ('chromium' or 'firefox') with a fake camera and screen; either offers the same page API. */
export async function launch(kind = 'chromium') {
  if (kind === 'firefox') return launchFirefox();
  if (kind !== 'chromium') throw new Error(`unknown browser: ${kind}`);
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
}

/** A page in its own browser context (separate "device"), with console errors collected. */
export async function openPage(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.logs = [];
  page.on('console', (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  return page;
}

/** Waits for an SDK event recorded by the demo page whose fields equal `match`. */
export async function waitEvent(page, name, match = {}, ms = 20_000) {
  const handle = await page.waitForFunction(
    ([n, m]) => window.assist?.events.find(
      (e) => e.name === n && Object.entries(m).every(([k, v]) => JSON.stringify(e[k]) === JSON.stringify(v)),
    ),
    [name, match],
    { timeout: ms, polling: 50 },
  );
  return handle.jsonValue();
}

export function events(page, name) {
  return page.evaluate((n) => window.assist.events.filter((e) => e.name === n), name);
}

/** Polls `probe()` every `every` ms until it returns a truthy value; fails after `ms`. */
export async function poll(what, probe, { ms = 20_000, every = 100 } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Polls the agent's inbound video stats until `framesDecoded` exceeds `min` for `source`. */
export async function waitFrames(page, source, min = 0, ms = 20_000) {
  return poll(`${source} frames > ${min}`, async () => {
    const stats = await page.evaluate(() => window.assist.client.inboundVideoStats());
    return stats.find((x) => x.source === source && x.framesDecoded > min);
  }, { ms });
}

export async function framesOf(page, source) {
  const stats = await page.evaluate(() => window.assist.client.inboundVideoStats());
  return stats.find((x) => x.source === source)?.framesDecoded ?? 0;
}

/**
 * An agent and a customer in a call through the demo pages, the customer sharing its screen
 * and the agent decoding it. The customer's page opens in `customerBrowser` (the agent's
 * browser unless given). Returns both pages.
 */
export async function screenCall(browser, server, roomId, customerBrowser = browser) {
  const tokens = await createRoom(server, { roomId, permissions: { screen: true } });
  const agent = await openPage(browser, `${server.url}/agent/#token=${tokens.agent_1}`);
  await waitEvent(agent, 'joined');
  const customer = await openPage(customerBrowser, `${server.url}/customer/#token=${tokens.user_9}`);
  await customer.click('#accept');
  await customer.click('#join');
  await customer.waitForFunction(() => window.assist.client !== null, null, { timeout: 15_000 });
  await customer.click('#share');
  await waitFrames(agent, 'screen');
  return { agent, customer };
}

/**
 * The browser pairings the cross-browser tests run over: Chromium on both sides, then Firefox
 * as the customer and as the agent, each against Chromium.
 */
export const PAIRINGS = [
  { agent: 'chromium', customer: 'chromium' },
  { agent: 'chromium', customer: 'firefox' },
  { agent: 'firefox', customer: 'chromium' },
];

/**
 * Registers one test per pairing, running `body({ agent, customer, room })`: the browser kinds
 * and `room(id)`, a room id of its own. The all-Chromium variant keeps `name` and the room ids
 * as given; the others add their browsers to both.
 */
export function testPairings(name, pairings, body) {
  for (const pair of pairings) {
    const chromiumOnly = pair.agent === 'chromium' && pair.customer === 'chromium';
    const suffix = chromiumOnly ? '' : `-${pair.agent}-${pair.customer}`;
    const title = chromiumOnly ? name : `${name} (${pair.agent} agent, ${pair.customer} customer)`;
    test(title, () => body({ ...pair, room: (id) => `${id}${suffix}` }));
  }
}

/**
 * Registers hooks that start the server and Chromium before a file's tests and stop them after.
 * `fx.browser` is Chromium; `await fx.browsers[kind]` gives Chromium or Firefox, the latter
 * launched on first use (and closed after the file's tests).
 */
export function serverAndBrowser() {
  const fx = {};
  let firefox = null;
  fx.browsers = {
    get chromium() {
      return fx.browser;
    },
    get firefox() {
      firefox ??= launch('firefox');
      return firefox;
    },
  };
  before(async () => {
    fx.server = await startServer();
    fx.browser = await launch();
  });
  after(async () => {
    await (await firefox?.catch(() => null))?.close();
    await fx.browser?.close();
    await fx.server?.stop();
  });
  return fx;
}

/** Busy threads beside the browsers, as a build running next to a call; returns a stop. */
export function cpuLoad(threads = 2) {
  const workers = Array.from({ length: threads }, () => new Worker(
    'const end = Date.now() + 120_000; while (Date.now() < end) { Math.sqrt(Math.random()); }',
    { eval: true },
  ));
  return () => Promise.all(workers.map((w) => w.terminate()));
}
