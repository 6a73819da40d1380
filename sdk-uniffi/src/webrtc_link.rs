//! Peer links on webrtc-rs (to be written).

/// The built-in backend: webrtc-rs 0.21.
pub struct WebrtcBackend;
