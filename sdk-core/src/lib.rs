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
//! - [`json`]: the small JSON codec the wire types read and write themselves with.
#![deny(missing_docs)]

pub mod assist;
pub mod call;
pub mod consent;
pub mod json;
pub mod permissions;
pub mod protocol;
pub mod session;
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
