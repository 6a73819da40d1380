// Types of @assistrtc/web: everything comes from the Rust crate (wasm-bindgen output).
export * from './assistrtc_wasm.js';
/** Loads the wasm module ahead of the first `connect()` (optional). */
export function initialize(): Promise<unknown>;
