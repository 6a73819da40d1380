// One browser pre-call check for `bench-preflight --browser`: headless Chromium (fake devices)
// opens `PAGE/healthz`, imports the SDK from `PAGE/sdk/index.js` and runs the network part of
// `client.preflight` against `API` with the preflight `TOKEN`. Prints one JSON line:
// `{"report": …}` or `{"error": "…"}`. Usage: node preflight-check.mjs PAGE API TOKEN
import { launch } from '../../tests/e2e/lib.mjs';

const [page, api, token] = process.argv.slice(2);
if (!page || !api || !token) {
  console.log(JSON.stringify({ error: 'usage: preflight-check.mjs PAGE API TOKEN' }));
  process.exit(2);
}
const browser = await launch();
try {
  const context = await browser.newContext();
  const tab = await context.newPage();
  await tab.goto(`${page}/healthz`);
  const report = await tab.evaluate(async ([url, t]) => {
    const { AssistClient } = await import('/sdk/index.js');
    const client = new AssistClient({ url, token: 'unused' });
    return client.preflight({ token: t, camera: false, microphone: false, speaker: false });
  }, [api, token]);
  console.log(JSON.stringify({ report }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e?.message ?? e) }));
} finally {
  await browser.close();
}
