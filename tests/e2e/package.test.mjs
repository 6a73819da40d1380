// The npm package as a user gets it: `npm pack`, installed by name, imported from node, built by
// Vite, and the bundled wasm actually initialising in Chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launch, root, withTimeout } from './lib.mjs';

let dir;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'assistrtc-pkg-'));
  const pkgDir = path.join(root, 'packages-npm');
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: pkgDir, encoding: 'utf8' });
  const tarball = path.join(dir, JSON.parse(out)[0].filename);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({
    name: 'consumer', private: true, type: 'module', dependencies: { '@assistrtc/web': `file:${tarball}` },
  }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline'], { cwd: dir, stdio: 'pipe' });
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('the packed tarball ships the wasm, the glue, types and an exports map', () => {
  const installed = path.join(dir, 'node_modules/@assistrtc/web');
  const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
  assert.equal(manifest.exports['.'].import, './dist/index.js');
  assert.equal(manifest.exports['.'].types, './dist/index.d.ts');
  const files = readdirSync(path.join(installed, 'dist'));
  for (const f of ['index.js', 'index.d.ts', 'assistrtc_wasm.js', 'assistrtc_wasm.d.ts', 'assistrtc_wasm_bg.wasm']) {
    assert.ok(files.includes(f), `${f} missing from ${files}`);
  }
  const types = readFileSync(path.join(installed, 'dist/assistrtc_wasm.d.ts'), 'utf8');
  for (const t of ['class AssistClient', 'static connect(options: ConnectOptions): Promise<AssistClient>',
    'interface AssistEventMap', 'trackAdded:', 'shareScreen(options', 'export type Source']) {
    assert.ok(types.includes(t), `types lack ${t}`);
  }
});

test('node imports it by name', () => {
  writeFileSync(path.join(dir, 'probe.mjs'), `
    import { AssistClient, initialize } from '@assistrtc/web';
    console.log(JSON.stringify({ client: typeof AssistClient, connect: typeof AssistClient.connect, init: typeof initialize }));
  `);
  const out = JSON.parse(execFileSync('node', ['probe.mjs'], { cwd: dir, encoding: 'utf8' }));
  assert.deepEqual(out, { client: 'function', connect: 'function', init: 'function' });
});

test('a Vite build bundles it, and the bundled wasm initialises in Chromium', async () => {
  const app = path.join(dir, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>');
  writeFileSync(path.join(app, 'main.js'), `
    import { AssistClient } from '@assistrtc/web';
    window.probe = AssistClient.connect({ url: 'nope' }).then(() => 'resolved', (e) => e.code ?? String(e));
  `);
  const vite = path.join(root, 'tests/e2e/node_modules/vite/bin/vite.js');
  execFileSync('node', [vite, 'build', app, '--outDir', path.join(app, 'dist'), '--logLevel', 'warn'], { cwd: dir, stdio: 'pipe' });
  const assets = readdirSync(path.join(app, 'dist/assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `no wasm asset in ${assets}`);

  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const http = createServer((req, res) => {
    const file = path.join(app, 'dist', req.url === '/' ? 'index.html' : req.url);
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const logs = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(e.message));
    await page.goto(`http://127.0.0.1:${http.address().port}/`);
    await page.waitForFunction(() => window.probe !== undefined, null, { timeout: 15_000 }).catch(() => {
      throw new Error(`the bundle did not run: ${logs.join('\n')}`);
    });
    // A `url` without a token is refused by the wasm code itself: proof it loaded and ran.
    const result = await withTimeout(15_000, 'bundled wasm', page.evaluate(() => window.probe));
    assert.equal(result, 'bad_request', logs.join('\n'));
  } finally {
    await browser.close();
    http.close();
  }
});
