//! AssistRTC for native apps: the core [`Call`](assistrtc_core::call::Call) driven by tokio,
//! with peer links run by a [`link::PeerBackend`] (webrtc-rs built in).

pub mod link;
mod webrtc_link;

pub use webrtc_link::{LocalTrack, Playback, WebrtcBackend, play_ivf};
