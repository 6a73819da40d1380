//! AssistRTC for native apps: the core [`Call`](assistrtc_core::call::Call) driven by one
//! tokio task ([`driver`]), peer links run by a [`link::PeerBackend`] — webrtc-rs built in
//! (feature `webrtc`, on by default), or the app's own WebRTC through [`platform`] — and the
//! public API exported through UniFFI ([`api`]) to Swift, Kotlin and Python.

pub mod api;
mod driver;
pub mod link;
pub mod platform;
#[cfg(feature = "webrtc")]
pub mod preflight;
#[cfg(feature = "webrtc")]
mod webrtc_link;

pub use driver::LabelledTrack;
#[cfg(feature = "webrtc")]
pub use webrtc_link::{LocalTrack, Playback, WebrtcBackend, play_ivf};

uniffi::setup_scaffolding!();
