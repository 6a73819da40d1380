// Firefox ESR for the end-to-end fixtures: a small W3C WebDriver client (geckodriver over HTTP on
// 127.0.0.1) that offers the subset of Playwright's Browser / BrowserContext / Page API the suites
// use, so `openPage`, `waitEvent`, `screenCall` and friends in lib.mjs drive either browser.
//
// Firefox runs headed under its own Xvfb: its getDisplayMedia needs a screen (headless it fails
// with NotFoundError) and the transient user activation of a real click, which WebDriver's
// Element Click gives. It plays sound into its own PulseAudio null sink: without an output device
// an AudioContext never leaves `suspended` (WebAudio mixes then stay silent and stall a
// MediaRecorder), and Firefox's mock audio backend runs several percent slower than real time.
// One geckodriver + Firefox (own profile) per context, like a separate device.
// Every process is started in its own process group and killed with it on close.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';
const GECKODRIVER = process.env.GECKODRIVER ?? 'geckodriver';
const XVFB = process.env.XVFB ?? 'Xvfb';
const PULSEAUDIO = process.env.PULSEAUDIO ?? 'pulseaudio';

/** Bounds for the steps of a launch; a loaded 2-core machine starts a Firefox in ~4–10 s. */
const START_MS = 60_000;
/** How long `click` waits for its element to exist, be enabled and take the click. */
const CLICK_MS = 30_000;
/** Playwright's default for `waitForFunction`. */
const WAIT_MS = 30_000;
/** An `evaluate` that never settles fails the test instead of hanging it. */
const EVALUATE_MS = 120_000;
/** The session's own script timeout, above every bound this file sets. */
const SCRIPT_MS = 600_000;

const PREFS = {
  // Fake camera and microphone, no permission prompts (getUserMedia and getDisplayMedia).
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.autoplay.default': 0,
  // Page console output on Firefox's stdout, where `page.on('console')` reads it.
  'devtools.console.stdout.content': true,
  // JSON as plain text of its own origin, as in Chromium (the JSON viewer's page is not the
  // server's origin).
  'devtools.jsonview.enabled': false,
};

// Process groups still running and their profile directories, killed and removed if this
// process exits (or is interrupted) without closing them: being groups of their own, they do
// not get the terminal's Ctrl-C.
const groups = new Map(); // leader pid → the signal that ends the group at once
const profileDirs = new Set();
let guarded = false;

function killAll() {
  for (const [pid, signal] of groups) killGroup(pid, signal);
  for (const dir of profileDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
}

function guardExit() {
  if (guarded) return;
  guarded = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      killAll();
      // The default action again, unless someone else listens.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Starts `cmd` as the leader of a new process group, ended by `signal` if this process exits. */
function spawnGroup(cmd, args, options, signal) {
  guardExit();
  const child = spawn(cmd, args, { ...options, detached: true });
  if (child.pid !== undefined) groups.set(child.pid, signal);
  child.once('exit', () => groups.delete(child.pid));
  // A failed spawn (`cmd` missing) is reported by `lineMatch`.
  child.once('error', () => groups.delete(child.pid));
  return child;
}

/**
 * Sends `signal` to the group, SIGKILL to what is left once the leader exited (or after `ms`),
 * and resolves once nothing of the group runs any more (bounded by `ms` again).
 */
async function stopGroup(child, signal, ms = 5_000) {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    killGroup(child.pid, signal);
    let timer;
    await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, ms); })]);
    clearTimeout(timer);
  }
  // Descendants (Firefox's content processes) may outlive the leader.
  killGroup(child.pid, 'SIGKILL');
  groups.delete(child.pid);
  for (const deadline = Date.now() + ms; groupRunning(child.pid) && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Whether a process of group `pgid` still runs. Killed processes are zombies until reaped, which
 * an orphan's new parent may do only seconds later: they do not count.
 */
function groupRunning(pgid) {
  let ids;
  try {
    ids = readdirSync('/proc');
  } catch {
    return false;
  }
  return ids.some((id) => {
    try {
      const stat = readFileSync(`/proc/${id}/stat`, 'utf8');
      // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(pgrp) === pgid && state !== 'Z';
    } catch {
      return false;
    }
  });
}

/**
 * Resolves with the first capture of `re` in a line of `stream`; rejects if `child` fails to
 * start or exits first (with what `stderr()` says).
 */
function lineMatch(child, stream, re, what, stderr = () => '', ms = START_MS) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    const timer = setTimeout(() => done(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    const onExit = (code, signal) => done(new Error(`${what}: exited (${code ?? signal}) ${stderr()}`));
    const onError = (e) => done(new Error(`${what}: ${e.message}`));
    function done(err, value) {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
      lines.off('line', onLine);
      if (err) reject(err);
      else resolve(value);
    }
    function onLine(line) {
      const m = re.exec(line);
      if (m) done(null, m[1]);
    }
    lines.on('line', onLine);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/** One Xvfb on a free display (`-displayfd`), for every Firefox of one launch. */
async function startXvfb() {
  const child = spawnGroup(XVFB, ['-displayfd', '3', '-screen', '0', '1280x720x24', '-nolisten', 'tcp'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] }, 'SIGTERM');
  const stderr = [];
  child.stderr.on('data', (d) => stderr.push(d));
  const said = () => Buffer.concat(stderr).toString().trim();
  const display = await lineMatch(child, child.stdio[3], /^(\d+)$/, 'Xvfb start', said).catch(async (e) => {
    await stopGroup(child, 'SIGTERM');
    throw e;
  });
  return { display: `:${display}`, child };
}

/**
 * One PulseAudio with a null sink (it consumes sound in real time), for every Firefox of one
 * launch; its socket and state live in a directory of its own.
 */
async function startPulse() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'assistrtc-pulse-'));
  profileDirs.add(dir);
  const socket = path.join(dir, 'native');
  const child = spawnGroup(PULSEAUDIO, ['-n', '--daemonize=no', '--system=no', '--use-pid-file=no',
    '--exit-idle-time=-1', '--disable-shm=yes', '--log-target=stderr', '--log-level=info',
    '-L', 'module-null-sink', '-L', `module-native-protocol-unix socket=${socket} auth-anonymous=1`],
  { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PULSE_RUNTIME_PATH: dir, PULSE_STATE_PATH: dir } },
  'SIGTERM');
  const stderr = [];
  child.stderr.on('data', (d) => stderr.push(d));
  const said = () => Buffer.concat(stderr).toString().trim().slice(-1000);
  const stop = async () => {
    await stopGroup(child, 'SIGTERM');
    await rm(dir, { recursive: true, force: true, maxRetries: 2 });
    profileDirs.delete(dir);
  };
  await lineMatch(child, child.stderr, /(Daemon startup complete)/, 'PulseAudio start', said).catch(async (e) => {
    await stop();
    throw e;
  });
  return { server: `unix:${socket}`, stop };
}

/**
 * Launches a "browser": an Xvfb that the Firefox of each new context draws on, and a PulseAudio
 * it plays into.
 */
export async function launchFirefox() {
  const [xvfb, pulse] = await Promise.allSettled([startXvfb(), startPulse()]);
  if (xvfb.status === 'rejected' || pulse.status === 'rejected') {
    if (xvfb.status === 'fulfilled') await stopGroup(xvfb.value.child, 'SIGTERM');
    if (pulse.status === 'fulfilled') await pulse.value.stop();
    throw xvfb.reason ?? pulse.reason;
  }
  const env = { DISPLAY: xvfb.value.display, PULSE_SERVER: pulse.value.server };
  const contexts = new Set();
  return {
    async newContext() {
      const context = new FirefoxContext(env, () => contexts.delete(context));
      contexts.add(context);
      return context;
    },
    async close() {
      await Promise.all([...contexts].map((c) => c.close()));
      await stopGroup(xvfb.value.child, 'SIGTERM');
      await pulse.value.stop();
    },
  };
}

class WebDriverError extends Error {}

class FirefoxContext {
  #env;
  #onClose;
  #page = null;
  #driver = null;
  #profiles = null;
  #closed = false;

  constructor(env, onClose) {
    this.#env = env;
    this.#onClose = onClose;
  }

  /** Starts geckodriver and a Firefox session; a context holds one page. */
  async newPage() {
    if (this.#page) throw new Error('a Firefox context holds one page');
    this.#profiles = await mkdtemp(path.join(os.tmpdir(), 'assistrtc-firefox-'));
    profileDirs.add(this.#profiles);
    const driver = spawnGroup(GECKODRIVER, ['--port', '0', '--websocket-port', '0', '--profile-root', this.#profiles],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.#env } }, 'SIGKILL');
    this.#driver = driver;
    const page = new FirefoxPage(this, driver);
    this.#page = page;
    const port = await lineMatch(driver, driver.stdout, /Listening on 127\.0\.0\.1:(\d+)/, 'geckodriver start');
    const base = `http://127.0.0.1:${port}`;
    const session = await request(base, 'POST', '/session', {
      capabilities: {
        alwaysMatch: {
          browserName: 'firefox',
          'moz:firefoxOptions': { binary: FIREFOX, prefs: PREFS },
          // A null script timeout makes Marionette return null at once: bound it.
          timeouts: { script: SCRIPT_MS, pageLoad: START_MS, implicit: 0 },
        },
      },
    }, START_MS);
    page.session = `${base}/session/${session.sessionId}`;
    return page;
  }

  /**
   * Kills geckodriver and Firefox with their process group. The profile is thrown away, so
   * Firefox is not asked to quit (ending the session or SIGTERM takes ~2 s).
   */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    if (this.#driver) await stopGroup(this.#driver, 'SIGKILL');
    if (this.#profiles) {
      await rm(this.#profiles, { recursive: true, force: true, maxRetries: 2 });
      profileDirs.delete(this.#profiles);
    }
  }
}

/** A WebDriver command; a WebDriver error rejects with its `error` code and message. */
async function request(base, method, route, body, ms = 30_000) {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(ms),
  });
  const { value } = await res.json();
  if (!res.ok) {
    const err = new WebDriverError(`${value?.error}: ${value?.message}`);
    err.code = value?.error;
    throw err;
  }
  return value;
}

// The page-side half of `evaluate` and `waitForFunction`: the outcome travels as JSON (undefined
// stays undefined) and an exception in the page as its name and message.
const OUTCOME = `const __outcome = (v) => (v === undefined ? { undefined: true } : { json: JSON.stringify(v) ?? 'null' });
const __failure = (e) => ({ error: { name: e?.name ?? 'Error', message: e?.message ?? String(e) } });`;

function settle(outcome) {
  if (outcome.error) {
    const err = new Error(outcome.error.message);
    err.name = outcome.error.name;
    throw err;
  }
  return outcome.undefined ? undefined : JSON.parse(outcome.json);
}

/** Source of a callable for `fnOrString`: a function as written, or an expression wrapped in one. */
function callable(fnOrString) {
  return typeof fnOrString === 'function' ? `(${fnOrString})` : `(() => (${fnOrString}))`;
}

const STALE = new Set(['no such element', 'element not interactable', 'element click intercepted',
  'stale element reference']);
// The W3C element reference key.
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

class FirefoxPage {
  #context;
  #listeners = { console: [], pageerror: [] };
  session = null;
  logs = [];

  constructor(context, driver) {
    this.#context = context;
    // With devtools.console.stdout.content Firefox prints `console.<type>: <args>` (strings
    // quoted); uncaught errors arrive as `JavaScript error: <file>, line <n>: <message>`, the
    // browser's own (resource://, chrome://) among them.
    createInterface({ input: driver.stdout }).on('line', (line) => {
      const m = /^console\.(\w+): (.*)$/.exec(line);
      if (m) for (const fn of this.#listeners.console) fn({ type: () => m[1], text: () => m[2] });
    });
    createInterface({ input: driver.stderr }).on('line', (line) => {
      const m = /^JavaScript error: (?:https?|data|blob):.*?, line \d+: (.*)$/.exec(line);
      if (m) for (const fn of this.#listeners.pageerror) fn(new Error(m[1]));
    });
  }

  context() {
    return this.#context;
  }

  /** 'console' and 'pageerror' listeners, fed from Firefox's output. */
  on(event, fn) {
    this.#listeners[event]?.push(fn);
    return this;
  }

  #cmd(method, route, body, ms) {
    if (!this.session) throw new Error('the Firefox session is not open');
    return request(this.session, method, route, body, ms);
  }

  async goto(url) {
    await this.#cmd('POST', '/url', { url }, START_MS);
  }

  async close() {
    await this.#context.close();
  }

  async #find(selector) {
    const el = await this.#cmd('POST', '/element', { using: 'css selector', value: selector });
    return el[ELEMENT];
  }

  /** Element Click (real input: it carries user activation) once the element is enabled. */
  async click(selector, { timeout = CLICK_MS } = {}) {
    const deadline = Date.now() + timeout;
    for (let every = 20; ; every = Math.min(every * 2, 200)) {
      let why;
      try {
        const id = await this.#find(selector);
        if (await this.#cmd('GET', `/element/${id}/enabled`)) {
          await this.#cmd('POST', `/element/${id}/click`, {});
          return;
        }
        why = 'disabled';
      } catch (e) {
        if (!(e instanceof WebDriverError) || !STALE.has(e.code)) throw e;
        why = e.message;
      }
      if (Date.now() > deadline) throw new Error(`click ${selector}: timed out after ${timeout} ms (${why})`);
      await new Promise((r) => setTimeout(r, every));
    }
  }

  async isDisabled(selector) {
    return !(await this.#cmd('GET', `/element/${await this.#find(selector)}/enabled`));
  }

  async textContent(selector) {
    return this.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
  }

  /** The element for `selector`, or null; offers `screenshot()` (a PNG Buffer). */
  async $(selector) {
    let id;
    try {
      id = await this.#find(selector);
    } catch (e) {
      if (e.code === 'no such element') return null;
      throw e;
    }
    return {
      screenshot: async () => Buffer.from(await this.#cmd('GET', `/element/${id}/screenshot`), 'base64'),
    };
  }

  /** Runs `fnOrString` in the page with `arg` (JSON); awaits a returned promise. */
  async evaluate(fnOrString, arg) {
    const script = `${OUTCOME}
return (async () => ${callable(fnOrString)}(arguments[0]))().then(__outcome).catch(__failure);`;
    const args = arg === undefined ? [] : [arg];
    return settle(await this.#cmd('POST', '/execute/sync', { script, args }, EVALUATE_MS + 10_000));
  }

  /** Polls `fn(arg)` in the page until it returns a truthy value, for at most `timeout` ms. */
  async waitForFunction(fn, arg, { timeout = WAIT_MS, polling = 100 } = {}) {
    const every = typeof polling === 'number' ? polling : 16;
    const script = `${OUTCOME}
const [__timeout, __every, __arg] = arguments;
const __fn = ${callable(fn)};
const __deadline = performance.now() + __timeout;
return new Promise((resolve) => {
  const tick = async () => {
    try {
      const v = await __fn(__arg);
      if (v) return resolve(__outcome(v));
    } catch (e) {
      return resolve(__failure(e));
    }
    if (performance.now() > __deadline) return resolve({ timedOut: true });
    setTimeout(tick, __every);
  };
  tick();
});`;
    const args = [timeout, every, ...(arg === undefined ? [] : [arg])];
    const outcome = await this.#cmd('POST', '/execute/sync', { script, args }, timeout + 10_000);
    if (outcome.timedOut) throw new Error(`waitForFunction: Timeout ${timeout}ms exceeded`);
    const value = settle(outcome);
    return { jsonValue: async () => value };
  }
}
