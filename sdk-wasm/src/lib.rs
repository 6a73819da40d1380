//! AssistRTC for the browser: a thin wasm-bindgen driver of the core session.
//!
//! Protocol, permissions and negotiation logic live in `assistrtc-core`; this crate owns the
//! WebSocket, the `RTCPeerConnection`s, local media and timers, and turns between core
//! outputs/inputs and web-sys calls/events. Every closure is owned by the struct that
//! registered it and detached on drop; `leave()` (or freeing the driver) releases everything.
//!
//! The package's public class is `AssistClient` in `packages-npm/src/index.js`: it exists
//! before this module has loaded (so listeners can be attached before `connect()`), keeps the
//! listeners, and creates one [`Driver`] in `connect()`, to which every other member is
//! forwarded. So the doc comments on [`Driver`]'s methods are the SDK's API docs.
//!
//! ```js
//! import { AssistClient } from '@assistrtc/web';
//! const client = new AssistClient({ url: 'https://assist.example.com', token, noticeAcknowledged: true });
//! client.on('trackAdded', ({ member, source, stream }) => show(source, stream));
//! await client.connect();
//! await client.startCamera();
//! ```

mod assist;
mod channels;
mod driver;
mod events;
mod js;
mod media;
mod peer;
#[cfg(feature = "preflight")]
mod preflight;
#[cfg(feature = "recorder")]
mod recorder;
mod socket;

use std::rc::Rc;

use assistrtc_core::call::{Call, CallConfig};
use assistrtc_core::local_error::LocalErrorCode;
use assistrtc_core::protocol::{ClientMessage, ErrorCode, RecordingAction, RecordingMode, Source};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use crate::driver::Shared;
use crate::js::{error, get, obj, parse_source};

// A small address-ordered free list (coalescing) instead of std's dlmalloc: about 6 KB less
// code in the shipped wasm. This SDK allocates little and small (signaling frames of at most
// 64 KiB, assist messages, events), so a first-fit search over few free blocks is cheap.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** A kind of media. */
export type Source = "camera" | "microphone" | "screen";
/** Where a client is. */
export type SessionState = "idle" | "joining" | "joined" | "negotiating" | "connected" | "reconnecting" | "ended";
/** What the server (or the other member) decided: the codes of `error` frames. */
export type WireErrorCode = "bad_request" | "unsupported_version" | "unauthorized" | "token_expired" | "forbidden"
  | "not_found" | "room_full" | "rate_limited" | "conflict" | "internal" | "other";
/**
 * What the browser refused: the user or a policy denied access (`permission_denied`), there is
 * no such device (`device_not_found`), another app holds it (`device_in_use`), the browser
 * wants the call made from a click (`user_gesture_required`), it has no WebRTC
 * (`unsupported_browser`), or the server cannot be reached (`unreachable`).
 */
export type LocalErrorCode = "permission_denied" | "device_not_found" | "device_in_use" | "user_gesture_required"
  | "unsupported_browser" | "unreachable";
/** A stable error code: on every thrown or rejected error's `code`, and on `error`/`ended` events. */
export type ErrorCode = WireErrorCode | LocalErrorCode;
/** Every failure the SDK throws or rejects with: an `Error` with a stable `code`. */
export interface AssistError extends Error {
  code: ErrorCode;
  /** The browser's own error (a `DOMException`), when one caused it. */
  cause?: unknown;
}
export type Capability = "publish_camera" | "publish_microphone" | "share_screen" | "annotate"
  | "record_local" | "record_cloud" | "download";
export type Role = "host" | "guest" | "observer";
/** A member of the call and the sources it publishes now. */
export interface Member {
  id: string; role: Role; sources: Source[];
  /** Whether the member consents to being recorded. */
  recordingConsent: boolean;
  /** The pre-call check report this member shared, if any. */
  diagnostics?: PreflightReport;
}
export interface Permissions { screen: boolean; recording: "none" | "local" | "cloud"; }
export type RecordingMode = "local" | "cloud";
export type RecordingState = "recording" | "paused" | "stopped";
export interface ConnectOptions {
  /** `http(s)://host:port` of the server, or the full `ws(s)://…/v1/signal` URL. */
  url: string;
  /** The member's join token from `POST /v1/rooms`. */
  token: string;
  /** `"relay"`: media only through the server's TURN relays, never a direct path. */
  iceTransportPolicy?: "all" | "relay";
  /** The user has seen and accepted the call notice; media cannot start before this. */
  noticeAcknowledged?: boolean;
}
export interface ShareScreenOptions { audio?: boolean; }
/** What `preflight()` checks: each part is on unless set to `false`. */
export interface PreflightOptions {
  /** A preflight token from `POST /v1/preflight/tokens` (via the app's backend). */
  token: string;
  network?: boolean; camera?: boolean; microphone?: boolean;
  /**
   * The speaker check: a 440 Hz tone plays while this asks the user whether they hear it
   * (resolve `true` if they do); the tone stops with the answer. Not checked without it.
   */
  speaker?: () => Promise<boolean> | boolean;
  /** Asks for screen sharing once (call `preflight` from a click): allowed or refused. */
  screen?: boolean;
}
export type PreflightStep = "signaling" | "network" | "bandwidth" | "camera" | "microphone" | "speaker" | "screen";
type PathResult = "not_tested" | "reachable" | "unreachable";
/**
 * A pre-call check report, the same schema on every platform. `reasons` and `advice` are
 * stable codes (worst first) for an app to localise; absent measurements are left out.
 */
export interface PreflightReport {
  verdict: "good" | "fair" | "poor";
  reasons: string[];
  advice: string[];
  partial: boolean;
  mos?: number;
  timings: { server_ms?: number; websocket_ms?: number; ice_ms?: number; dtls_ms?: number; first_media_ms?: number };
  /** The round trip and one-way jitter come from a sparse train before the bandwidth train; loss from the bandwidth train. */
  reachability: { udp: PathResult; tcp: PathResult; turn_udp: PathResult; turn_tls: PathResult };
  network?: { rtt_ms: number; jitter_ms: number; loss_pct: number };
  upload_kbps?: number;
  /** The probe could not fill the line in its time (a long round trip): `upload_kbps` is at least the rate, and is not judged low. */
  upload_lower_bound?: true;
  download_kbps?: number;
  download_lower_bound?: true;
  devices: {
    camera?: { width: number; height: number; fps: number; black: boolean; frozen: boolean } | { error: LocalErrorCode };
    microphone?: { peak_dbfs: number; silent: boolean } | { error: LocalErrorCode };
    speaker_confirmed?: boolean;
    screen?: "allowed" | LocalErrorCode;
  };
  incomplete: string[];
}
export interface InboundVideoStats { member: string; source: Source | null; kind: string; framesDecoded: number; bytesReceived: number; }
export interface ShapeOptions { color?: string; ttlMs?: number; at?: number; }
export interface ScriptStep { ticket: string; step: number; total: number; title: string; }
export type Shape = { member: string; id: string; color: string; at: number } & (
  { kind: "highlight"; rect: { x: number; y: number; w: number; h: number } } |
  { kind: "arrow"; from: { x: number; y: number }; to: { x: number; y: number } });
export interface OverlayView {
  shapes: Shape[];
  cursors: { member: string; x: number; y: number; at: number }[];
  step?: ScriptStep & { member: string };
}
/** Why a call ended; `code` is `null` only when this client left. */
export interface Ended {
  reason: "left" | "rejected" | "replaced" | "unreachable" | "reconnect_failed" | "other";
  code: ErrorCode | null;
  message: string;
}
export interface AssistEventMap {
  stateChanged: { state: SessionState };
  /** Fired before `connect()` resolves. */
  joined: { member: Member; room: string; members: Member[]; permissions: Permissions; capabilities: Capability[] };
  memberJoined: { member: Member };
  memberLeft: { member: string; reason: "left" | "timeout" | "removed" | "other" };
  /** A member started publishing a source (its media follows as `trackAdded`). */
  trackPublished: { member: string; source: Source };
  trackAdded: { member: string; source: Source; kind: string; track: MediaStreamTrack; stream: MediaStream };
  /** A member stopped publishing a source. */
  trackRemoved: { member: string; source: Source };
  /** The browser ended a local source (the user pressed "Stop sharing", a camera was unplugged). */
  localTrackEnded: { source: Source };
  permissionsChanged: { permissions: Permissions; capabilities: Capability[] };
  reconnecting: { attempt: number; delayMs: number };
  reconnected: { resumed: boolean };
  recordingChanged: { mode: RecordingMode; state: RecordingState };
  /** The pre-call check moved on to a step. */
  preflightProgress: { step: PreflightStep };
  /** A member shared its pre-call check report. */
  memberDiagnostics: { member: string; report: PreflightReport };
  memberConsent: { member: string; granted: boolean };
  overlayChanged: OverlayView;
  error: { code: ErrorCode; message: string; ref?: string };
  ended: Ended;
}
"#;

/// One member's connection to a call: what `AssistClient` forwards to once connected.
#[wasm_bindgen]
pub struct Driver {
    shared: Rc<Shared>,
    /// `client.assist`, made once.
    assist: JsValue,
    /// `client.recorder`, made once.
    #[cfg(feature = "recorder")]
    recorder: JsValue,
}

fn recording_mode(mode: Option<String>) -> Result<RecordingMode, JsValue> {
    match mode.as_deref() {
        None | Some("local") => Ok(RecordingMode::Local),
        Some("cloud") => Ok(RecordingMode::Cloud),
        Some(other) => Err(error(
            ErrorCode::BadRequest,
            &(String::from("unknown recording mode \"") + other + "\": expected local or cloud"),
        )),
    }
}

/// Whether this page can make calls at all (a browser without WebRTC, or with it disabled,
/// has no `RTCPeerConnection`).
fn has_webrtc() -> bool {
    js::global("RTCPeerConnection").is_function()
}

/// The pre-call check against the server at `url` (see `AssistClient.preflight`); progress
/// goes to `emit` as `preflightProgress` events.
#[cfg(feature = "preflight")]
#[wasm_bindgen(js_name = runPreflight, unchecked_return_type = "Promise<PreflightReport>")]
pub fn run_preflight(
    url: &str,
    #[wasm_bindgen(unchecked_param_type = "PreflightOptions")] options: JsValue,
    #[wasm_bindgen(unchecked_param_type = "(type: string, event: unknown) => void")] emit: Function,
) -> Result<Promise, JsValue> {
    preflight::run(url, &options, emit)
}

#[wasm_bindgen]
impl Driver {
    /// Checks the options; joins nothing yet.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ConnectOptions")] options: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(type: string, event: unknown) => void")]
        emit: Function,
    ) -> Result<Driver, JsValue> {
        let url = get(&options, "url").as_string().ok_or_else(|| {
            error(
                ErrorCode::BadRequest,
                "`url` (string) is required: the server's http(s) origin",
            )
        })?;
        let token = get(&options, "token").as_string().ok_or_else(|| {
            error(
                ErrorCode::BadRequest,
                "`token` (string) is required: the member's join token",
            )
        })?;
        let mut config = CallConfig::new(token);
        config.session.jitter_seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        config.session.relay_only =
            get(&options, "iceTransportPolicy").as_string().as_deref() == Some("relay");
        let mut call = Call::new(config);
        if get(&options, "noticeAcknowledged").as_bool() == Some(true) {
            call.acknowledge_notice();
        }
        let shared = Shared::new(call, assistrtc_core::protocol::signal_url(&url), emit);
        let assist = assist::Assist {
            shared: shared.clone(),
        }
        .into();
        Ok(Self {
            #[cfg(feature = "recorder")]
            recorder: recorder::LocalRecorder {
                shared: shared.clone(),
            }
            .into(),
            shared,
            assist,
        })
    }

    /// Joins the room the token is for. Resolves once the server welcomed this member (after
    /// the `joined` event); rejects with `unsupported_browser` on a browser without WebRTC
    /// (before contacting the server), `unreachable` when the server cannot be reached, the
    /// server's code (`unauthorized`, `token_expired`, `room_full`, …) when it refuses, and
    /// `conflict` when called twice.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> Promise {
        if !has_webrtc() {
            return Promise::reject(&error(
                LocalErrorCode::UnsupportedBrowser,
                "this browser has no WebRTC (RTCPeerConnection is missing or disabled)",
            ));
        }
        if let Err(e) = self.shared.command(|call, now| call.join(now)) {
            return Promise::reject(&e);
        }
        // Nothing settles it synchronously: the socket's open, welcome or failure comes later.
        let shared = &self.shared;
        Promise::new(&mut |resolve, reject| shared.set_pending_connect(resolve, reject))
    }

    /// The current state (`idle` before `connect()`).
    #[wasm_bindgen(getter, unchecked_return_type = "SessionState")]
    pub fn state(&self) -> String {
        self.shared.st().call.session().state().as_str().into()
    }

    /// This member's id, once joined.
    #[wasm_bindgen(getter, js_name = memberId)]
    pub fn member_id(&self) -> Option<String> {
        self.shared
            .st()
            .call
            .session()
            .member()
            .map(|m| m.id.as_str().to_owned())
    }

    /// The other members present now, each with the sources it publishes.
    #[wasm_bindgen(getter, unchecked_return_type = "Member[]")]
    pub fn members(&self) -> js_sys::Array {
        let st = self.shared.st();
        st.call
            .session()
            .members()
            .map(|(id, role)| events::member_value(id, role, &st.call))
            .collect()
    }

    /// This member's capabilities (empty before joining).
    #[wasm_bindgen(getter, unchecked_return_type = "Capability[]")]
    pub fn capabilities(&self) -> JsValue {
        events::to_value(&self.shared.st().call.session().capabilities())
    }

    /// The room's permissions, once joined.
    #[wasm_bindgen(getter, unchecked_return_type = "Permissions | undefined")]
    pub fn permissions(&self) -> JsValue {
        let st = self.shared.st();
        st.call
            .session()
            .permissions()
            .map_or(JsValue::UNDEFINED, |p| events::to_value(&p))
    }

    /// Whether this member may share a screen (to decide whether to show the button).
    #[wasm_bindgen(js_name = canShareScreen)]
    pub fn can_share_screen(&self) -> bool {
        let msg = ClientMessage::Publish {
            source: Source::Screen,
            stream: None,
        };
        self.shared.st().call.session().may(&msg).is_ok()
    }

    /// Records that the user accepted the call notice (media may start after this).
    #[wasm_bindgen(js_name = acknowledgeNotice)]
    pub fn acknowledge_notice(&self) {
        self.shared.st_mut().call.acknowledge_notice();
    }

    /// Whether this member has consented to being recorded.
    #[wasm_bindgen(getter, js_name = recordingConsent)]
    pub fn recording_consent(&self) -> bool {
        self.shared
            .st()
            .call
            .session()
            .consent()
            .recording_granted()
    }

    /// Grants or withdraws consent to being recorded, and tells the room (withdrawing stops a
    /// running recording).
    #[wasm_bindgen(js_name = setRecordingConsent)]
    pub fn set_recording_consent(&self, granted: bool) -> Result<(), JsValue> {
        self.shared
            .command(|call, now| call.set_recording_consent(granted, now))
    }

    /// Shares the pre-call check's report with the room; call it only once the user agreed.
    /// Before `connect()` it is kept and goes with the join. The others get
    /// `memberDiagnostics` and find it on the member (`members[i].diagnostics`). Throws
    /// `bad_request` for a value that is not a report object (at most 8 KiB of JSON).
    #[wasm_bindgen(js_name = shareDiagnostics)]
    pub fn share_diagnostics(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PreflightReport")] report: JsValue,
    ) -> Result<(), JsValue> {
        let text = js_sys::JSON::stringify(&report)
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default();
        self.shared
            .command(|call, now| call.share_diagnostics(text, now))
    }

    /// The room's recordings as the server last reported them.
    #[wasm_bindgen(
        getter,
        unchecked_return_type = "{ local: RecordingState; cloud: RecordingState }"
    )]
    pub fn recording(&self) -> JsValue {
        let st = self.shared.st();
        let of = |mode| JsValue::from_str(st.call.session().recording(mode).as_str());
        obj(&[
            ("local", of(RecordingMode::Local)),
            ("cloud", of(RecordingMode::Cloud)),
        ])
    }

    /// Asks the server to start recording (`local` by default). Throws `forbidden` when this
    /// member may not record, or has not consented itself; the server, which also needs the
    /// consent of everyone present, answers with `recordingChanged` or an `error` event.
    #[wasm_bindgen(js_name = startRecording)]
    pub fn start_recording(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "RecordingMode")] mode: Option<String>,
    ) -> Result<(), JsValue> {
        self.recording_request(RecordingAction::Start, mode)
    }

    /// Asks the server to stop a recording (`local` by default); `recordingChanged` follows.
    #[wasm_bindgen(js_name = stopRecording)]
    pub fn stop_recording(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "RecordingMode")] mode: Option<String>,
    ) -> Result<(), JsValue> {
        self.recording_request(RecordingAction::Stop, mode)
    }

    /// Turns the camera on; resolves with the local stream (for a preview). Rejects with
    /// `permission_denied`, `device_not_found`, `device_in_use`, or `forbidden` when this
    /// member may not publish it.
    #[wasm_bindgen(js_name = startCamera, unchecked_return_type = "Promise<MediaStream>")]
    pub fn start_camera(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "MediaTrackConstraints | boolean")]
        constraints: Option<JsValue>,
    ) -> Promise {
        media::start(self.shared.clone(), Source::Camera, constraints)
    }

    /// Turns the microphone on; resolves with the local stream. Rejects as `startCamera`.
    #[wasm_bindgen(js_name = startMicrophone, unchecked_return_type = "Promise<MediaStream>")]
    pub fn start_microphone(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "MediaTrackConstraints | boolean")]
        constraints: Option<JsValue>,
    ) -> Promise {
        media::start(self.shared.clone(), Source::Microphone, constraints)
    }

    /// Shares a screen, window or tab. Rejects with `forbidden` when this member may not (the
    /// picker is never shown then), `permission_denied` when the user cancels the picker, and
    /// `user_gesture_required` when not called from a click (Firefox, Safari).
    #[wasm_bindgen(js_name = shareScreen, unchecked_return_type = "Promise<MediaStream>")]
    pub fn share_screen(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "ShareScreenOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        media::start(self.shared.clone(), Source::Screen, options)
    }

    /// Stops sharing the screen.
    #[wasm_bindgen(js_name = stopScreen)]
    pub fn stop_screen(&self) -> Result<(), JsValue> {
        media::stop(&self.shared, Source::Screen)
    }

    /// Turns a source off and stops its tracks.
    #[wasm_bindgen(js_name = stopSource)]
    pub fn stop_source(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Source")] source: &str,
    ) -> Result<(), JsValue> {
        media::stop(&self.shared, parse_source(source)?)
    }

    /// Mutes or unmutes a local source without renegotiating.
    #[wasm_bindgen(js_name = setMuted)]
    pub fn set_muted(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Source")] source: &str,
        muted: bool,
    ) -> Result<(), JsValue> {
        media::set_muted(&self.shared, parse_source(source)?, muted)
    }

    /// The local stream of a source, if it is on.
    #[wasm_bindgen(js_name = localStream)]
    pub fn local_stream(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Source")] source: &str,
    ) -> Result<Option<web_sys::MediaStream>, JsValue> {
        let source = parse_source(source)?;
        Ok(self
            .shared
            .st()
            .local
            .get(&source)
            .map(|m| Clone::clone(&m.stream)))
    }

    /// Annotations and script steps (always the same object).
    #[wasm_bindgen(getter, unchecked_return_type = "Assist")]
    pub fn assist(&self) -> JsValue {
        self.assist.clone()
    }

    /// Inbound video stats per remote track, labelled with member and source.
    #[wasm_bindgen(js_name = inboundVideoStats, unchecked_return_type = "Promise<InboundVideoStats[]>")]
    pub fn inbound_video_stats(&self) -> Promise {
        media::inbound_video_stats(self.shared.clone())
    }

    /// Leaves the call: tells the server, stops every local track, closes every connection.
    /// `ended` (reason `left`) fires first. Safe to call twice, and before `connect()`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn leave(&self) -> Promise {
        // Already over (or never joined) is fine: there is nothing left to release.
        let _ = self.shared.command(|call, now| call.leave(now));
        self.shared.release_media();
        Promise::resolve(&JsValue::UNDEFINED)
    }
}

impl Driver {
    // One body for both exports (not inlined into each: the shipped wasm is budgeted).
    #[inline(never)]
    fn recording_request(
        &self,
        action: RecordingAction,
        mode: Option<String>,
    ) -> Result<(), JsValue> {
        let mode = recording_mode(mode)?;
        self.shared
            .command(|call, now| call.request_recording(action, mode, now))
    }
}

#[cfg(feature = "recorder")]
#[wasm_bindgen]
impl Driver {
    /// Records the call on this device (always the same object).
    #[wasm_bindgen(getter, unchecked_return_type = "LocalRecorder")]
    pub fn recorder(&self) -> JsValue {
        self.recorder.clone()
    }
}

/// Hooks for the end-to-end tests, built only with the `test-hooks` feature (never into the
/// published package).
#[cfg(feature = "test-hooks")]
#[wasm_bindgen]
impl Driver {
    /// Closes the signaling socket as a network failure would (for tests of resume).
    #[wasm_bindgen(js_name = simulateSignalingDrop)]
    pub fn simulate_signaling_drop(&self) {
        if let Some(s) = &self.shared.st().socket {
            s.close_abruptly();
        }
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;
