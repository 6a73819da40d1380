// Benchmark: how long the browser pre-call check takes to its verdict (camera, microphone and
// network, in Chromium with fake devices, against the real server on loopback), over RUNS runs
// (default 10), each in a fresh browser context. Prints median, p95 and max, and the verdicts.
// Run: cargo xtask bench preflight-browser (the targets: median ≤ 8 s, p95 ≤ 12 s).
import { API_KEY, launch, startServer } from '../../tests/e2e/lib.mjs';

const RUNS = Number(process.env.RUNS ?? 10);

const server = await startServer();
const browser = await launch();
const times = [];
const verdicts = {};
try {
  for (let i = 0; i < RUNS; i++) {
    const res = await fetch(`${server.url}/v1/preflight/tokens`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` } });
    const { token } = await res.json();
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/healthz`);
    const { ms, verdict } = await page.evaluate(async (t) => {
      const { AssistClient } = await import('/sdk/index.js');
      const client = new AssistClient({ url: location.origin, token: 'unused' });
      const start = performance.now();
      const report = await client.preflight({ token: t });
      return { ms: performance.now() - start, verdict: report.verdict };
    }, token);
    times.push(ms);
    verdicts[verdict] = (verdicts[verdict] ?? 0) + 1;
    await context.close();
  }
} finally {
  await browser.close();
  await server.stop();
}
times.sort((a, b) => a - b);
const at = (q) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)];
console.log(`pre-call check, ${RUNS} runs: median ${(at(0.5) / 1000).toFixed(2)} s, p95 ${(at(0.95) / 1000).toFixed(2)} s, max ${(times.at(-1) / 1000).toFixed(2)} s; verdicts ${JSON.stringify(verdicts)}`);
