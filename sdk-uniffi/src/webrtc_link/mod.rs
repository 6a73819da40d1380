//! Peer links on webrtc-rs 0.21 and tokio.
//!
//! One task per link owns its `PeerConnection` and runs the queued [`PeerCommand`]s in order,
//! each awaited fully before the next ([`runner`]). Platform events arrive through a
//! [`PeerConnectionEventHandler`](webrtc::peer_connection::PeerConnectionEventHandler) that only
//! forwards into the link's unbounded report channel ([`events`]); DataChannels and remote
//! tracks are drained by one small task each. Local media is held by the backend
//! ([`media`]): one [`LocalTrack`] per published source, fanned out to every link that sends it.
//!
//! Must be used inside a tokio runtime: `create` and [`play_ivf`] spawn tasks on the current one.

mod channels;
mod events;
mod media;
mod runner;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use assistrtc_core::protocol::{IceServer, Source};
use assistrtc_core::session::{LinkId, PeerCommand};
use tokio::sync::mpsc::{self, UnboundedSender};

pub use self::media::{LocalTrack, Playback, play_ivf};
pub(crate) use self::runner::peer_connection;
use crate::link::{PeerBackend, PeerLink, Report};

/// The built-in backend: webrtc-rs 0.21.
///
/// Holds the published local media; every link it creates sends the sources the core asks
/// for (`AddSource`) from these tracks.
pub struct WebrtcBackend {
    shared: Arc<Shared>,
}

/// What the backend and its links share.
pub(crate) struct Shared {
    /// Local addresses the links bind their UDP sockets to.
    udp_addrs: Vec<String>,
    /// The published sources.
    published: Mutex<HashMap<Source, LocalTrack>>,
}

impl Shared {
    /// The published track of `source`, if any.
    pub(crate) fn track(&self, source: Source) -> Option<LocalTrack> {
        lock(&self.published).get(&source).cloned()
    }
}

/// Locks a mutex that no holder can leave inconsistent (short, panic-free sections).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Default for WebrtcBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl WebrtcBackend {
    /// A backend whose links bind one UDP socket per local interface (`0.0.0.0:0`; loopback
    /// and link-local interfaces are skipped by webrtc-rs).
    pub fn new() -> Self {
        Self::with_udp_addrs(vec!["0.0.0.0:0".to_owned()])
    }

    /// A backend whose links bind these local UDP addresses, e.g. `127.0.0.1:0` for two peers
    /// in one process.
    pub fn with_udp_addrs(udp_addrs: Vec<String>) -> Self {
        Self {
            shared: Arc::new(Shared {
                udp_addrs,
                published: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Publishes `source` as a track of media stream `stream_id` (the remote sees
    /// `a=msid:<stream_id> <track>`): VP8 video for the camera and the screen, Opus audio for
    /// the microphone. Feed it with [`LocalTrack::write_frame`]. Links send it once the core
    /// asks them to (`AddSource`). Publishing a source again replaces its track for links that
    /// add it from then on.
    pub fn publish(&self, source: Source, stream_id: &str) -> LocalTrack {
        let track = LocalTrack::new(source, stream_id);
        lock(&self.shared.published).insert(source, track.clone());
        track
    }

    /// Forgets the published track of `source`; links that still send it stop when the core
    /// removes it (`RemoveSource`) or the link closes.
    pub fn unpublish(&self, source: Source) {
        lock(&self.shared.published).remove(&source);
    }
}

impl PeerBackend for WebrtcBackend {
    /// Starts the link's task on the current tokio runtime; the connection is built there,
    /// and a failure to build it is reported as `PeerEvent::CreateFailed`.
    fn create(
        &self,
        link: LinkId,
        // Perfect negotiation is the core's business; the platform link is the same either way.
        _polite: bool,
        ice_servers: &[IceServer],
        reports: UnboundedSender<Report>,
    ) -> Result<Box<dyn PeerLink>, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "the webrtc-rs backend needs a tokio runtime".to_owned())?;
        let (commands, queue) = mpsc::unbounded_channel();
        let config = runner::LinkConfig {
            link,
            ice_servers: ice_servers.to_vec(),
            reports,
            shared: self.shared.clone(),
        };
        runtime.spawn(runner::run(config, queue));
        Ok(Box::new(WebrtcLink { commands }))
    }
}

/// The handle of one link's task; dropping it ends the task, which closes the connection.
struct WebrtcLink {
    commands: UnboundedSender<PeerCommand>,
}

impl PeerLink for WebrtcLink {
    fn command(&self, command: PeerCommand) {
        // A send fails only once the task has ended (a failed `Create`, or `Close`): nothing
        // is left to run the command on.
        let _ = self.commands.send(command);
    }
}
