// The native SDK's test client (tests/native/client.py, on the generated Python bindings) as
// a child process, for the end-to-end tests and the native benchmark.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { poll, root, withTimeout } from './lib.mjs';

/** CLOCK_MONOTONIC in ms, as Python's time.monotonic_ns() reads it. */
export const mono = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * Starts the client for `token` at `url`. `request(op, args)` resolves with the reply and when
 * it was written and read (`mono()` ms); `cmd(op, args)` with its value, throwing `{code}` on
 * an error reply; `event(name, match)` waits for an SDK event; `events` are all seen so far.
 */
export async function nativeClient(url, token) {
  const child = spawn('python3', [path.join(root, 'tests/native/client.py'), JSON.stringify({ url, token })], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ASSISTRTC_BINDINGS: process.env.ASSISTRTC_BINDINGS ?? path.join(root, 'bindings/python') },
  });
  const stderr = [];
  child.stderr.on('data', (d) => stderr.push(d));
  const events = [];
  const pending = new Map();
  let nextId = 1;
  let ready;
  const isReady = new Promise((r) => { ready = r; });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = JSON.parse(line);
    if (msg.ready) ready();
    else if (msg.event) events.push(msg.event);
    else pending.get(msg.id)?.(msg);
  });
  child.once('exit', (code) => {
    for (const settle of pending.values()) settle({ error: { code: 'exited', message: `exit ${code}: ${Buffer.concat(stderr)}` } });
  });
  await withTimeout(15_000, 'native client start', isReady);
  const client = {
    events,
    stderr,
    async request(op, args = {}, ms = 20_000) {
      const id = nextId++;
      const reply = new Promise((resolve) => pending.set(id, resolve));
      const written = mono();
      child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
      const msg = await withTimeout(ms, `native ${op}`, reply);
      pending.delete(id);
      return { msg, written, replied: mono() };
    },
    async cmd(op, args = {}, ms = 20_000) {
      const { msg } = await client.request(op, args, ms);
      if (msg.error) throw Object.assign(new Error(`native ${op}: ${msg.error.message}`), { code: msg.error.code });
      return msg.ok;
    },
    event(name, match = {}, ms = 20_000) {
      return poll(`native event ${name}`, () => events.find(
        (e) => e.name === name && Object.entries(match).every(([k, v]) => JSON.stringify(e[k]) === JSON.stringify(v)),
      ), { ms, every: 50 });
    },
    async close() {
      child.stdin.end();
      await withTimeout(10_000, 'native client exit', new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r))))
        .catch(() => child.kill('SIGKILL'));
    },
  };
  return client;
}
