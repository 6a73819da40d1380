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

test('the packed tarball ships the wasm, the glue, types and an exports map, and no test hooks', () => {
  const installed = path.join(dir, 'node_modules/@assistrtc/web');
  const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
  assert.equal(manifest.exports['.'].import, './dist/index.js');
  assert.equal(manifest.exports['.'].types, './dist/index.d.ts');
  const files = readdirSync(path.join(installed, 'dist'));
  for (const f of ['index.js', 'index.d.ts', 'assistrtc_wasm.js', 'assistrtc_wasm.d.ts', 'assistrtc_wasm_bg.wasm']) {
    assert.ok(files.includes(f), `${f} missing from ${files}`);
  }
  const types = readFileSync(path.join(installed, 'dist/index.d.ts'), 'utf8');
  for (const t of ['export declare class AssistClient', 'constructor(options: ConnectOptions)', 'once<K extends keyof AssistEventMap>']) {
    assert.ok(types.includes(t), `index.d.ts lacks ${t}`);
  }
  // Test hooks are built only into the test bundle.
  for (const f of ['dist/assistrtc_wasm.js', 'dist/assistrtc_wasm.d.ts', 'dist/index.js']) {
    assert.ok(!readFileSync(path.join(installed, f), 'utf8').includes('simulateSignalingDrop'), `${f} has a test hook`);
  }
});

test('node imports it by name, and sees only the public API', () => {
  writeFileSync(path.join(dir, 'probe.mjs'), `
    import * as sdk from '@assistrtc/web';
    const client = new sdk.AssistClient({ url: 'http://127.0.0.1:1', token: 't' });
    console.log(JSON.stringify({ exports: Object.keys(sdk).sort(), state: client.state, chained: client.on('joined', () => {}) === client }));
  `);
  const out = JSON.parse(execFileSync('node', ['probe.mjs'], { cwd: dir, encoding: 'utf8' }));
  // No wasm-bindgen internals (initSync, the raw Driver class): only what the docs describe.
  assert.deepEqual(out, { exports: ['AssistClient', 'initialize'], state: 'idle', chained: true });
});

test('a strict TypeScript consumer compiles: the README snippet and a typed listener for every event', () => {
  const app = path.join(dir, 'ts');
  mkdirSync(app);
  const readme = readFileSync(path.join(root, 'packages-npm/README.md'), 'utf8');
  const snippet = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(snippet, 'the package README has a ts snippet');
  writeFileSync(path.join(app, 'readme.ts'), snippet);
  // Every event of the map, with a listener that uses its payload's fields by type.
  writeFileSync(path.join(app, 'events.ts'), `
    import { AssistClient, type AssistEventMap, type ErrorCode, type Member } from '@assistrtc/web';
    const client = new AssistClient({ url: 'https://example.com', token: 't' });
    const code = (c: ErrorCode): string => c;
    const members = (m: Member[]): number => m.reduce((n, x) => n + x.sources.length, 0);
    client
      .on('stateChanged', (e) => e.state.toUpperCase())
      .on('joined', (e) => members(e.members) + e.member.sources.length + e.room.length + e.capabilities.length)
      .on('memberJoined', (e) => e.member.role)
      .on('memberLeft', (e) => e.member + e.reason)
      .on('trackPublished', (e) => e.member + e.source)
      .on('trackAdded', (e) => e.stream.getTracks().length + e.track.kind.length)
      .on('trackRemoved', (e) => e.source)
      .on('localTrackEnded', (e) => e.source)
      .on('permissionsChanged', (e) => e.permissions.screen && e.capabilities.includes('share_screen'))
      .on('reconnecting', (e) => e.attempt + e.delayMs)
      .on('reconnected', (e) => e.resumed)
      .on('recordingChanged', (e) => e.mode + e.state)
      .on('memberConsent', (e) => e.member + e.granted)
      .on('overlayChanged', (e) => e.shapes.length + e.cursors.length + (e.step?.title.length ?? 0))
      .on('error', (e) => code(e.code) + e.message)
      .once('ended', (e) => (e.code === null ? e.reason : code(e.code)) + e.message)
      .off('ended', () => {});
    const all: (keyof AssistEventMap)[] = ['stateChanged', 'joined', 'memberJoined', 'memberLeft', 'trackPublished',
      'trackAdded', 'trackRemoved', 'localTrackEnded', 'permissionsChanged', 'reconnecting', 'reconnected',
      'recordingChanged', 'overlayChanged', 'error', 'ended'];
    // @ts-expect-error: a misspelled event name does not compile
    client.on('trackadded', () => {});
    // @ts-expect-error: payload fields are typed
    client.on('memberLeft', (e) => e.nope);
    // @ts-expect-error: wasm-bindgen internals are not exported
    import('@assistrtc/web').then((m) => m.initSync);
    const optional: Promise<MediaStream>[] = [client.startCamera(), client.startMicrophone(), client.shareScreen()];
    const left: Promise<void> = client.leave();
    client.assist.highlight({ x: 0, y: 0, w: 1, h: 1 });
    client.startRecording();
    const rec: 'recording' | 'paused' | 'stopped' = client.recording.local;
    export { all, optional, left, rec };
  `);
  writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'ES2022', module: 'ESNext', moduleResolution: 'bundler',
      lib: ['ES2022', 'DOM'], skipLibCheck: false, noUnusedLocals: false,
    },
    include: ['*.ts'],
  }));
  const tsc = path.join(root, 'tests/e2e/node_modules/typescript/bin/tsc');
  try {
    execFileSync('node', [tsc, '-p', app], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    assert.fail(`tsc --strict failed:\n${e.stdout}${e.stderr}`);
  }
});

test('a Vite build bundles it, and the bundled wasm initialises in Chromium', async () => {
  const app = path.join(dir, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>');
  writeFileSync(path.join(app, 'main.js'), `
    import { AssistClient } from '@assistrtc/web';
    window.probe = new AssistClient({ url: 'nope' }).connect().then(() => 'resolved', (e) => e.code ?? String(e));
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
