// Benchmark: agent pointer → customer overlay latency over the assist-cursor channel on
// loopback, 60 Hz for 10 s. Prints p50/p99, dropped and late (> one 60 Hz frame) counts and
// whether latency grows over the run (backlog). Run: cargo xtask bench cursor
// It drives the demo pages through the end-to-end tests' fixtures (playwright-core resolves
// from tests/e2e/node_modules), so it measures what those tests exercise.
import { launch, screenCall, startServer } from '../../tests/e2e/lib.mjs';

const HZ = Number(process.env.HZ ?? 60);
const SECONDS = Number(process.env.SECONDS ?? 10);

const server = await startServer();
const browser = await launch();
try {
  const { agent, customer } = await screenCall(browser, server, 'rm_cursor_bench');

  await customer.evaluate(() => {
    window.received = new Map();
    window.assist.client.on('overlayChanged', (v) => {
      const c = v.cursors[0];
      if (c && !window.received.has(c.x)) window.received.set(c.x, performance.timeOrigin + performance.now());
    });
  });
  const sent = await agent.evaluate(([hz, seconds]) => new Promise((resolve) => {
    const sent = [];
    const total = hz * seconds;
    let i = 0;
    const timer = setInterval(() => {
      // x encodes the sequence number, so each move is identifiable on arrival; it is on the
      // wire's six-decimal grid already, so it arrives as sent.
      const x = Math.round(((i + 1) / (total + 1)) * 1e6) / 1e6;
      sent.push([x, performance.timeOrigin + performance.now()]);
      window.assist.client.assist.pointer(x, 0.5);
      if (++i >= total) {
        clearInterval(timer);
        resolve(sent);
      }
    }, 1000 / hz);
  }), [HZ, SECONDS]);
  // Let the last moves land (bounded).
  await customer.waitForFunction((n) => window.received.size >= n, sent.length, { timeout: 2_000 }).catch(() => {});
  const received = new Map(await customer.evaluate(() => [...window.received.entries()]));

  // A move not received is "superseded" when a newer one followed within the sender's
  // coalescing window (8 ms; latest wins, by design), else it was lost.
  const latencies = [];
  let superseded = 0;
  let dropped = 0;
  sent.forEach(([x, t], i) => {
    const r = received.get(x);
    if (r !== undefined) latencies.push(r - t);
    else if (i + 1 < sent.length && sent[i + 1][1] - t < 8.5) superseded++;
    else dropped++;
  });
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  const late = latencies.filter((l) => l > 1000 / 60).length;
  const tenth = Math.max(1, Math.floor(latencies.length / 10));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`cursor → remote overlay, ${HZ} Hz for ${SECONDS} s: sent=${sent.length} received=${latencies.length} superseded(coalesced)=${superseded} dropped=${dropped} late(>16.7 ms)=${late}`);
  console.log(`latency p50=${pct(50).toFixed(2)} ms p99=${pct(99).toFixed(2)} ms max=${sorted.at(-1)?.toFixed(2)} ms`);
  console.log(`backlog check: median of first 10% ${median(latencies.slice(0, tenth)).toFixed(2)} ms, last 10% ${median(latencies.slice(-tenth)).toFixed(2)} ms (goal p99 ≤ 16 ms, no growth)`);
} finally {
  await browser.close();
  await server.stop();
}
