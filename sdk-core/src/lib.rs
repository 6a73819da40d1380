//! AssistRTC core: the platform-neutral heart of the SDK.
//!
//! Nothing here does IO, spawns, sleeps or reads a clock, so the same code runs in browsers
//! (wasm32), in native apps and inside the reference server, and tests can drive it with
//! virtual time.
//!
//! - [`protocol`]: the signaling wire format, its validation and stable error codes.
//! - [`permissions`]: roles → capabilities, and the authorization both sides use.
//! - [`consent`]: notice, per-source opt-in, recording consent.
//! - [`call`]: the one object a driver owns per call ([`call::Call`]): the session, assist and
//!   every call policy behind one `handle_input` / `poll_output` / `poll_timeout`.
//! - [`session`]: the client's signaling session as a sans-IO state machine.
//! - [`assist`]: annotation and script-step messages, cursor coalescing, the overlay model.
//! - [`diagnostics`]: pre-call checks: measurements in, a verdict with reason and advice codes out.
//! - [`recorder`]: local recording as a state machine: format choice, chunks, caps, the
//!   consent gate, bookmarks, clips, the manifest and the assist sidecar.
//! - [`local_error`]: codes for what the platform refused, beside the wire's error codes.
#![deny(missing_docs)]

pub mod assist;
pub mod call;
pub mod consent;
pub mod diagnostics;
// The wire codec is internal; the fuzz targets reach it through a test-only feature, so
// parts of its surface are used only there.
#[cfg(not(feature = "_internal_test_exports"))]
#[allow(unreachable_pub, dead_code, unused_imports)]
mod json;
#[cfg(feature = "_internal_test_exports")]
#[doc(hidden)]
pub mod json;
pub mod local_error;
pub mod permissions;
pub mod protocol;
pub mod recorder;
pub mod session;
mod text;
// Not public API: a small map shared with this workspace's adapters (the browser driver keeps
// hashing and tree maps out of its bundle); hidden from the docs, free to change.
#[doc(hidden)]
pub mod vecmap;

/// A point in time or a duration, in milliseconds, on a clock the caller owns.
///
/// The core never reads a clock: drivers pass `now` in (`performance.now()`, a tokio
/// `Instant` offset, or a test's virtual clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// `self + ms`, saturating.
    pub fn after(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A value an adapter hands to its platform in its JSON form (a browser builds the object
/// with one `JSON.parse`, which costs less code than building it field by field).
pub trait ToJsonText {
    /// The value as JSON text, as it is written on the wire.
    fn to_json_text(&self) -> String;
}

macro_rules! to_json_text {
    ($($t:ty),*) => {$(
        impl ToJsonText for $t {
            fn to_json_text(&self) -> String {
                json::to_string(self)
            }
        }
    )*};
}

to_json_text!(
    assist::OverlayView,
    diagnostics::DiagnosticReport,
    protocol::Permissions,
    permissions::Capabilities,
    protocol::RecordingMode,
    protocol::RecordingStatus,
    recorder::Manifest,
    recorder::Sidecar
);
