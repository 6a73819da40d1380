//! AssistRTC for native apps: the core [`Call`](assistrtc_core::call::Call) driven by one
//! tokio task ([`driver`]), peer links run by a [`link::PeerBackend`] (webrtc-rs built in),
//! and the public API exported through UniFFI ([`api`]) to Swift, Kotlin and Python.

pub mod api;
mod driver;
pub mod link;
mod webrtc_link;

pub use driver::LabelledTrack;
pub use webrtc_link::{LocalTrack, Playback, WebrtcBackend, play_ivf};

uniffi::setup_scaffolding!();
