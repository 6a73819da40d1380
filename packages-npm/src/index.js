// Entry point of @assistrtc/web. The wasm module initialises itself on the first
// `AssistClient.connect()`, so neither a bundler plugin, top-level await nor an init call is
// needed: this file works as-is in Vite and in a plain <script type="module"> page.
import init, * as wasm from './assistrtc_wasm.js';

let ready;

/** Loads and instantiates the wasm module once; later calls share the same promise. */
export function initialize() {
  ready ??= init({ module_or_path: new URL('./assistrtc_wasm_bg.wasm', import.meta.url) });
  return ready;
}

const connect = wasm.AssistClient.connect;
wasm.AssistClient.connect = async function (options) {
  await initialize();
  return connect.call(this, options);
};

export * from './assistrtc_wasm.js';
