// Types of @assistrtc/web. The members forwarded to the wasm driver (and their docs) come from
// the Rust crate's wasm-bindgen output; what the entry adds is declared here.
/// <reference lib="esnext.disposable" />
import type { AssistEventMap, ConnectOptions, Driver, PreflightOptions, PreflightReport } from './assistrtc_wasm.js';

export type {
  Assist, AssistError, AssistEventMap, Capability, ConnectOptions, Ended, ErrorCode, InboundVideoStats,
  LocalErrorCode, Member, OverlayView, Permissions, PreflightOptions, PreflightReport, PreflightStep, RecordingMode, RecordingState, Role, ScriptStep,
  SessionState, Shape, ShapeOptions, ShareScreenOptions, Source, WireErrorCode,
} from './assistrtc_wasm.js';

/** A listener for event `K`. */
export type Listener<K extends keyof AssistEventMap> = (event: AssistEventMap[K]) => void;

/**
 * One member's connection to a call. Construct it, attach listeners, then `connect()`:
 *
 * ```ts
 * const client = new AssistClient({ url, token, noticeAcknowledged: true });
 * client.on('trackAdded', ({ source, stream }) => show(source, stream));
 * await client.connect();
 * ```
 *
 * Before `connect()` the getters read as an idle call and other methods throw `conflict`.
 */
export declare class AssistClient {
  constructor(options: ConnectOptions);
  /** Adds a listener; returns the client. A listener that throws is logged, not rethrown. */
  on<K extends keyof AssistEventMap>(event: K, listener: Listener<K>): this;
  /** Adds a listener that is removed after its first call; returns the client. */
  once<K extends keyof AssistEventMap>(event: K, listener: Listener<K>): this;
  /** Removes a listener added with `on` or `once`; returns the client. */
  off<K extends keyof AssistEventMap>(event: K, listener: Listener<K>): this;
  /**
   * The pre-call check, usable before `connect()`: the network to the server (direct and
   * relay paths, bandwidth up and down, RTT, jitter, loss), the camera (resolution, frame
   * rate, black or frozen picture) and the microphone (level, silence), judged good, fair or
   * poor with stable reason and advice codes. Progress arrives as `preflightProgress` events.
   * An unreachable server or a refused device is in the report; it rejects only when the
   * check cannot run (`unauthorized` for a bad preflight token, `bad_request` without one).
   *
   * Present only in builds with the check (the `preflight` feature of the wasm crate): the
   * published package does not carry it yet, as it does not fit the bundle budget.
   */
  preflight?(options: PreflightOptions): Promise<PreflightReport>;
  /** Leaves the call (as `leave()`) and releases everything; the client is unusable after. */
  dispose(): void;
  [Symbol.dispose](): void;
}

export interface AssistClient extends Omit<Driver, 'free' | typeof Symbol.dispose> {}

/** Loads the wasm module ahead of the first `connect()` (optional). */
export function initialize(): Promise<void>;
