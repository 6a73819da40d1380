// Benchmark: customer connect() → agent's first decoded remote frame, SDK vs a raw-JS baseline,
// interleaved in one run. Prints p50/p95 per variant. Run: cargo xtask bench join
// The pages are bench/pages, served at /bench/ by the server's --web-root; the fixtures are the
// end-to-end tests' own (playwright-core resolves from tests/e2e/node_modules).
import { createRoom, launch, startServer, withTimeout } from '../../tests/e2e/lib.mjs';

const CALLS = Number(process.env.CALLS ?? 20);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function oneCall(browser, server, variant, i) {
  const tokens = await createRoom(server, { roomId: `rm_bench_${variant}_${i}`, permissions: { screen: true } });
  const agentCtx = await browser.newContext();
  const customerCtx = await browser.newContext();
  try {
    const agent = await agentCtx.newPage();
    await agent.goto(`${server.url}/bench/${variant}.html?role=agent&token=${tokens.agent_1}`);
    await agent.waitForFunction(() => window.bench.ready || window.bench.error, null, { timeout: 15_000 });
    const customer = await customerCtx.newPage();
    await customer.goto(`${server.url}/bench/${variant}.html?role=customer&token=${tokens.user_9}`);
    await agent.waitForFunction(() => window.bench.firstFrame || window.bench.error, null, { timeout: 20_000 });
    const [a, c] = await Promise.all([agent.evaluate(() => window.bench), customer.evaluate(() => ({ t0: window.bench.t0, error: window.bench.error, phases: window.bench.phases }))]);
    if (a.error || c.error) throw new Error(`${variant}: ${a.error ?? c.error}`);
    if (process.env.PHASES && c.phases) console.log(variant, JSON.stringify(c.phases), 'track', (a.trackAt - c.t0).toFixed(0), 'first frame', (a.firstFrame - c.t0).toFixed(0));
    return a.firstFrame - c.t0;
  } finally {
    await agentCtx.close();
    await customerCtx.close();
  }
}

const server = await startServer();
const browser = await launch();
const results = { sdk: [], raw: [] };
try {
  // One warm-up call each (first page load compiles the wasm and warms Chromium).
  await withTimeout(60_000, 'sdk warm-up', oneCall(browser, server, 'sdk', 'warm'));
  await withTimeout(60_000, 'raw warm-up', oneCall(browser, server, 'raw', 'warm'));
  for (let i = 0; i < CALLS; i++) {
    for (const variant of ['sdk', 'raw']) {
      results[variant].push(await withTimeout(60_000, `${variant} call ${i}`, oneCall(browser, server, variant, i)));
    }
  }
} finally {
  await browser.close();
  await server.stop();
}
const summary = {};
for (const [variant, xs] of Object.entries(results)) {
  const sorted = [...xs].sort((a, b) => a - b);
  summary[variant] = { p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
  console.log(`join→first frame ${variant.padEnd(3)}: n=${xs.length} p50=${summary[variant].p50.toFixed(0)} ms p95=${summary[variant].p95.toFixed(0)} ms`);
}
console.log(`SDK/baseline p50 ratio: ${(summary.sdk.p50 / summary.raw.p50).toFixed(2)}x (goal: p50 ≤ 300 ms and ≤ 1.1x baseline)`);
