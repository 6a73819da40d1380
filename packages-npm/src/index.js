// Entry point of @assistrtc/web. The wasm module initialises itself: loading starts when this
// module is imported in a browser and `AssistClient.connect()` awaits it, so neither a bundler
// plugin, top-level await nor an init call is needed: this file works as-is in Vite and in a
// plain <script type="module"> page, and importing it in Node fetches nothing.
import init, * as wasm from './assistrtc_wasm.js';

let ready;

/** Loads and instantiates the wasm module once; later calls share the same promise. */
export function initialize() {
  ready ??= init({ module_or_path: new URL('./assistrtc_wasm_bg.wasm', import.meta.url) }).catch((e) => {
    ready = undefined; // a later call retries (e.g. after a network blip)
    throw e;
  });
  return ready;
}

const connect = wasm.AssistClient.connect;
wasm.AssistClient.connect = async function (options) {
  await initialize();
  return connect.call(this, options);
};

// Start loading early in browsers: by the time the app calls connect() the module is ready.
// A failure here is reported by connect(), which retries the load.
if (typeof document !== 'undefined') initialize().catch(() => {});

export * from './assistrtc_wasm.js';
