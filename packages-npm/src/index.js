// Entry point of @assistrtc/web. `AssistClient` exists before the wasm module has loaded, so an
// app can construct it and attach listeners at once; `connect()` awaits the module, creates the
// wasm `Driver` (where the call lives) and forwards every other member to it. Listeners live
// here because they must exist before the module does; all call logic stays in the wasm.
//
// The module loads itself: loading starts when this file is imported in a browser, so neither
// a bundler plugin, top-level await nor an init call is needed (Vite and a plain
// <script type="module"> page both work), and importing it in Node fetches nothing.
import * as wasm from './assistrtc_wasm.js';

const { default: init, Driver } = wasm;

let ready;

/** Loads and instantiates the wasm module once; later calls share the same promise. */
export function initialize() {
  ready ??= init({ module_or_path: new URL('./assistrtc_wasm_bg.wasm', import.meta.url) }).catch((e) => {
    ready = undefined; // a later call retries (e.g. after a network blip)
    throw e;
  });
  return ready;
}

// Start loading early in browsers: by the time the app calls connect() the module is ready.
// A failure here is reported by connect(), which retries the load.
if (typeof document !== 'undefined') initialize().catch(() => {});

function misuse(message) {
  return Object.assign(new Error(message), { code: 'conflict' });
}

// What the getters read before `connect()` (and after `dispose()`).
const IDLE = { memberId: undefined, members: [], capabilities: [], permissions: undefined,
  recordingConsent: false, recording: { local: 'stopped', cloud: 'stopped' } };

export class AssistClient {
  #options;
  #driver = null;
  #report;
  #listeners = new Map();
  #disposed = false;

  constructor(options) {
    this.#options = options;
  }

  on(type, listener) {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
    return this;
  }

  once(type, listener) {
    const wrapper = (event) => {
      this.off(type, wrapper);
      listener(event);
    };
    wrapper.listener = listener;
    return this.on(type, wrapper);
  }

  off(type, listener) {
    const set = this.#listeners.get(type);
    for (const l of set ?? []) if (l === listener || l.listener === listener) set.delete(l);
    return this;
  }

  #emit(type, event) {
    for (const listener of [...(this.#listeners.get(type) ?? [])]) {
      try {
        listener(event);
      } catch (e) {
        console.warn('assistrtc: a listener threw on', type, e);
      }
    }
  }

  async connect() {
    if (this.#driver || this.#disposed) throw misuse('connect() was already called on this client');
    await initialize();
    if (this.#driver || this.#disposed) throw misuse('connect() was already called on this client');
    this.#driver = new Driver(this.#options, (type, event) => this.#emit(type, event));
    if (this.#report !== undefined) this.#driver.shareDiagnostics(this.#report);
    return this.#driver.connect();
  }

  /** Runs the pre-call check; usable before `connect()`. Only in builds that have it. */
  async preflight(options) {
    await initialize();
    return wasm.runPreflight(this.#options.url, options, (type, event) => this.#emit(type, event));
  }

  /** Shares a pre-call report; before `connect()` it is kept and goes with the join. */
  shareDiagnostics(report) {
    if (this.#driver) return this.#driver.shareDiagnostics(report);
    if (this.#disposed) throw misuse('shareDiagnostics: this client was disposed');
    this.#report = report;
  }

  get state() {
    return this.#driver?.state ?? (this.#disposed ? 'ended' : 'idle');
  }

  get assist() {
    return this.#call('assist').assist;
  }

  leave() {
    return this.#driver?.leave() ?? Promise.resolve();
  }

  /** Leaves the call and releases everything; the client cannot be used afterwards. */
  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    const driver = this.#driver;
    this.#driver = null;
    driver?.leave();
    this.#listeners.clear();
    // Not freed synchronously: this may run inside a listener, while the driver is busy.
    if (driver) queueMicrotask(() => driver.free());
  }

  #call(name) {
    if (!this.#driver) throw misuse(`${name}: call connect() first`);
    return this.#driver;
  }

  static {
    // The pre-call check is a build option of the wasm module.
    if (!wasm.runPreflight) delete AssistClient.prototype.preflight;
    // Every other member of the driver, forwarded.
    for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(Driver.prototype))) {
      if (name in AssistClient.prototype || name === 'free') continue;
      Object.defineProperty(AssistClient.prototype, name, d.get
        ? { get() { return this.#driver ? this.#driver[name] : IDLE[name]; }, configurable: true }
        : { value(...args) { return this.#call(name)[name](...args); }, writable: true, configurable: true });
    }
  }
}

if (Symbol.dispose) AssistClient.prototype[Symbol.dispose] = AssistClient.prototype.dispose;
