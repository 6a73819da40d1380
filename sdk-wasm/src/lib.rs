//! AssistRTC for the browser: a thin wasm-bindgen driver of the core session.
//!
//! Protocol, permissions and negotiation logic live in `assistrtc-core`; this crate owns the
//! WebSocket, the `RTCPeerConnection`s, local media and timers, and turns between core
//! outputs/inputs and web-sys calls/events. Every closure is owned by the struct that
//! registered it and detached on drop; `leave()` (or freeing the client) releases everything.
//!
//! ```js
//! import { AssistClient } from '@assistrtc/web';
//! const client = await AssistClient.connect({ url: 'http://127.0.0.1:8080', token, noticeAcknowledged: true });
//! client.on('trackAdded', ({ member, source, stream }) => show(source, stream));
//! await client.startCamera();
//! ```

mod assist;
mod channels;
mod driver;
mod events;
mod js;
mod media;
mod peer;
mod socket;

use std::rc::Rc;

use assistrtc_core::call::{Call, CallConfig};
use assistrtc_core::protocol::{ClientMessage, ErrorCode};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use crate::driver::Shared;
use crate::js::{error, get, parse_source};

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
/** A stable error code, also on every rejected promise's `code`. */
export type ErrorCode = "bad_request" | "unsupported_version" | "unauthorized" | "token_expired" | "forbidden"
  | "not_found" | "room_full" | "rate_limited" | "conflict" | "internal" | "other";
export type Capability = "publish_camera" | "publish_microphone" | "share_screen" | "annotate"
  | "record_local" | "record_cloud" | "download";
export interface Member { id: string; role: "host" | "guest" | "observer"; }
export interface Permissions { screen: boolean; recording: "none" | "local" | "cloud"; }
export interface ConnectOptions {
  /** `http(s)://host:port` of the server, or the full `ws(s)://…/v1/signal` URL. */
  url: string;
  /** The member's join token from `POST /v1/rooms`. */
  token: string;
  /** The user has seen and accepted the call notice; media cannot start before this. */
  noticeAcknowledged?: boolean;
}
export interface ShareScreenOptions { audio?: boolean; }
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
export interface AssistEventMap {
  stateChanged: { state: SessionState };
  joined: { member: Member; room: string; members: Member[]; permissions: Permissions; capabilities: Capability[] };
  memberJoined: { member: Member };
  memberLeft: { member: string; reason: "left" | "timeout" | "removed" | "other" };
  trackAdded: { member: string; source: Source; kind: string; track: MediaStreamTrack; stream: MediaStream };
  trackRemoved: { member: string; source: Source };
  localTrackEnded: { source: Source };
  permissionsChanged: { permissions: Permissions; capabilities: Capability[] };
  reconnecting: { attempt: number; delayMs: number };
  reconnected: { resumed: boolean };
  recordingChanged: { mode: "local" | "cloud"; state: "recording" | "stopped" };
  overlayChanged: OverlayView;
  error: { code: ErrorCode; message: string; ref?: string };
  ended: { reason: "left" | "rejected" | "replaced" | "unreachable" | "reconnect_failed" | "other" };
}
export interface AssistClient {
  on<K extends keyof AssistEventMap>(event: K, handler: (event: AssistEventMap[K]) => void): void;
  off<K extends keyof AssistEventMap>(event: K, handler: (event: AssistEventMap[K]) => void): void;
}
"#;

/// A member's connection to a call.
#[wasm_bindgen]
pub struct AssistClient {
    shared: Rc<Shared>,
}

impl AssistClient {
    pub(crate) fn from_shared(shared: Rc<Shared>) -> Self {
        Self { shared }
    }
}

#[wasm_bindgen]
impl AssistClient {
    /// Joins the room the token is for; resolves once the server welcomed this member.
    /// Rejects with `{code, message}` (`unauthorized`, `token_expired`, …) otherwise.
    #[wasm_bindgen(unchecked_return_type = "Promise<AssistClient>")]
    pub fn connect(
        #[wasm_bindgen(unchecked_param_type = "ConnectOptions")] options: JsValue,
    ) -> Promise {
        // Bad options reject like every other failure, rather than throwing synchronously.
        Self::start(&options).unwrap_or_else(|e| Promise::reject(&e))
    }

    /// Opens the session; the returned promise is settled by the driver: resolved with the
    /// client on `joined`, rejected with the reason if the session ends first.
    fn start(options: &JsValue) -> Result<Promise, JsValue> {
        let url = get(options, "url")
            .as_string()
            .ok_or_else(|| error(ErrorCode::BadRequest, "connect: `url` (string) is required"))?;
        let token = get(options, "token").as_string().ok_or_else(|| {
            error(
                ErrorCode::BadRequest,
                "connect: `token` (string) is required",
            )
        })?;
        let mut config = CallConfig::new(token);
        config.session.jitter_seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        let mut call = Call::new(config);
        if get(options, "noticeAcknowledged").as_bool() == Some(true) {
            call.acknowledge_notice();
        }
        let shared = Shared::new(call, socket::signal_url(&url));
        let joined =
            Promise::new(&mut |resolve, reject| shared.set_pending_connect(resolve, reject));
        shared.command(|call, now| call.join(now))?;
        Ok(joined)
    }

    /// Adds an event listener (see `AssistEventMap`).
    pub fn on(&self, event: &str, handler: Function) {
        self.shared.on(event, handler);
    }

    /// Removes an event listener added with `on`.
    pub fn off(&self, event: &str, handler: &Function) {
        self.shared.off(event, handler);
    }

    /// The current state.
    #[wasm_bindgen(getter, unchecked_return_type = "SessionState")]
    pub fn state(&self) -> String {
        events::state_name(self.shared.state.borrow().call.session().state()).into()
    }

    /// This member's id.
    #[wasm_bindgen(getter, js_name = memberId)]
    pub fn member_id(&self) -> Option<String> {
        self.shared
            .state
            .borrow()
            .call
            .session()
            .member()
            .map(|m| m.id.as_str().to_owned())
    }

    /// The other members present now (`connect()` resolves after `joined` has fired, so this
    /// is how an app learns who was already in the room).
    #[wasm_bindgen(getter, unchecked_return_type = "Member[]")]
    pub fn members(&self) -> js_sys::Array {
        let st = self.shared.state.borrow();
        st.call
            .session()
            .members()
            .map(|(id, role)| events::member_value(id, role))
            .collect()
    }

    /// This member's capabilities.
    #[wasm_bindgen(getter, unchecked_return_type = "Capability[]")]
    pub fn capabilities(&self) -> JsValue {
        events::to_value(&self.shared.state.borrow().call.session().capabilities())
    }

    /// Whether this member may share a screen (to decide whether to show the button).
    #[wasm_bindgen(js_name = canShareScreen)]
    pub fn can_share_screen(&self) -> bool {
        let msg = ClientMessage::Publish {
            source: assistrtc_core::protocol::Source::Screen,
            stream: None,
        };
        self.shared.state.borrow().call.session().may(&msg).is_ok()
    }

    /// Records that the user accepted the call notice (media may start after this).
    #[wasm_bindgen(js_name = acknowledgeNotice)]
    pub fn acknowledge_notice(&self) {
        self.shared.state.borrow_mut().call.acknowledge_notice();
    }

    /// Grants or withdraws consent to being recorded.
    #[wasm_bindgen(js_name = setRecordingConsent)]
    pub fn set_recording_consent(&self, granted: bool) -> Result<(), JsValue> {
        self.shared
            .command(|call, now| call.set_recording_consent(granted, now))
    }

    /// Turns the camera on; resolves with the local stream (for a preview).
    #[wasm_bindgen(js_name = startCamera, unchecked_return_type = "Promise<MediaStream>")]
    pub fn start_camera(
        &self,
        #[wasm_bindgen(unchecked_param_type = "MediaTrackConstraints | boolean | undefined")]
        constraints: JsValue,
    ) -> Promise {
        media::start(
            self.shared.clone(),
            assistrtc_core::protocol::Source::Camera,
            constraints,
        )
    }

    /// Turns the microphone on; resolves with the local stream.
    #[wasm_bindgen(js_name = startMicrophone, unchecked_return_type = "Promise<MediaStream>")]
    pub fn start_microphone(&self) -> Promise {
        media::start(
            self.shared.clone(),
            assistrtc_core::protocol::Source::Microphone,
            JsValue::UNDEFINED,
        )
    }

    /// Shares a screen, window or tab; rejects with `forbidden` when this member may not.
    #[wasm_bindgen(js_name = shareScreen, unchecked_return_type = "Promise<MediaStream>")]
    pub fn share_screen(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ShareScreenOptions | undefined")] options: JsValue,
    ) -> Promise {
        media::start(
            self.shared.clone(),
            assistrtc_core::protocol::Source::Screen,
            options,
        )
    }

    /// Stops sharing the screen.
    #[wasm_bindgen(js_name = stopScreen)]
    pub fn stop_screen(&self) -> Result<(), JsValue> {
        media::stop(&self.shared, assistrtc_core::protocol::Source::Screen)
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
            .state
            .borrow()
            .local
            .get(&source)
            .map(|m| Clone::clone(&m.stream)))
    }

    /// Annotations and script steps (see `Assist`).
    #[wasm_bindgen(getter)]
    pub fn assist(&self) -> assist::Assist {
        assist::Assist {
            shared: self.shared.clone(),
        }
    }

    /// Inbound video stats per remote track, labelled with member and source.
    #[wasm_bindgen(js_name = inboundVideoStats, unchecked_return_type = "Promise<InboundVideoStats[]>")]
    pub fn inbound_video_stats(&self) -> Promise {
        media::inbound_video_stats(self.shared.clone())
    }

    /// Leaves the call: tells the server, stops every track, closes every connection, drops
    /// every listener. Safe to call twice.
    pub fn leave(&self) -> Promise {
        // Already over is fine: there is nothing left to release.
        let _ = self.shared.command(|call, now| call.leave(now));
        self.shared.release_media();
        self.shared.clear_listeners();
        Promise::resolve(&JsValue::UNDEFINED)
    }

    /// Closes the signaling socket as a network failure would (for tests of resume).
    #[wasm_bindgen(js_name = simulateSignalingDrop)]
    pub fn simulate_signaling_drop(&self) {
        if let Some(s) = &self.shared.state.borrow().socket {
            s.close_abruptly();
        }
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;
