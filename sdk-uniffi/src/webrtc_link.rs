//! Peer links on webrtc-rs (placeholder until the backend lands).

use std::path::PathBuf;
use std::sync::Arc;

use assistrtc_core::protocol::{IceServer, Source};
use assistrtc_core::session::LinkId;
use tokio::sync::mpsc::UnboundedSender;

use crate::link::{PeerBackend, PeerLink, Report};

/// The built-in backend: webrtc-rs 0.21.
#[derive(Default)]
pub struct WebrtcBackend;

impl WebrtcBackend {
    /// A backend with no local media.
    pub fn new() -> Self {
        Self
    }

    /// The local track of `source`.
    pub fn publish(&self, _source: Source, _stream_id: &str) -> Result<LocalTrack, String> {
        Err("not built yet".into())
    }

    /// Forgets the local track of `source`.
    pub fn unpublish(&self, _source: Source) {}
}

/// A local track fed with encoded frames.
#[derive(Clone)]
pub struct LocalTrack(Arc<()>);

/// A playing file; dropping it stops.
pub struct Playback;

/// Plays a VP8 IVF file into `track` in a loop.
pub fn play_ivf(_track: LocalTrack, _path: PathBuf) -> Result<Playback, String> {
    Err("not built yet".into())
}

impl PeerBackend for WebrtcBackend {
    fn create(
        &self,
        _link: LinkId,
        _polite: bool,
        _ice_servers: &[IceServer],
        _reports: UnboundedSender<Report>,
    ) -> Result<Box<dyn PeerLink>, String> {
        Err("not built yet".into())
    }
}
