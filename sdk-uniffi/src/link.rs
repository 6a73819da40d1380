//! The seam between the call task and a platform's WebRTC: a [`PeerBackend`] creates one
//! [`PeerLink`] per core link and runs its [`PeerCommand`]s; results come back as [`Report`]s.
//!
//! Contract (the core's driver contract, see `assistrtc_core::session::link`): a link runs its
//! commands in the order they were queued, one at a time, the next starting when the previous
//! has settled. Every report names its [`LinkId`]; the core drops reports of links it closed or
//! replaced, so a backend keeps no "alive" bookkeeping. Reports are sent on an unbounded
//! channel from platform callbacks, which must never await the peer connection themselves.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use assistrtc_core::protocol::IceServer;
use assistrtc_core::session::{LinkId, PeerCommand, PeerEvent};
use tokio::sync::mpsc::UnboundedSender;

/// What a link reports to the call task.
#[derive(Debug)]
pub enum LinkReport {
    /// A result or platform event for the core.
    Peer(PeerEvent),
    /// A remote track arrived; the backend counts what it receives. The core is told with a
    /// `PeerEvent::TrackAdded` sent right after this report.
    Track(RemoteTrack),
}

/// One report of one link.
#[derive(Debug)]
pub struct Report {
    /// The link it is from.
    pub link: LinkId,
    /// What happened.
    pub report: LinkReport,
}

/// Counters of a remote track, updated as media arrives.
#[derive(Debug, Default)]
pub struct TrackCounters {
    /// RTP packets received.
    pub packets: AtomicU64,
    /// Payload bytes received.
    pub bytes: AtomicU64,
    /// Frames received (packets with the RTP marker bit: the last packet of a video frame).
    pub frames: AtomicU64,
}

/// A remote track.
#[derive(Debug, Clone)]
pub struct RemoteTrack {
    /// The track id (as in the remote SDP's `a=msid`).
    pub id: String,
    /// The first stream id it belongs to, if any.
    pub stream: Option<String>,
    /// `audio` or `video`.
    pub kind: String,
    /// What has arrived so far.
    pub counters: Arc<TrackCounters>,
}

/// Creates peer links on one platform.
pub trait PeerBackend: Send + Sync {
    /// Creates the platform peer connection for `link` and starts its command runner. An
    /// `Err` is reported to the core as `PeerEvent::CreateFailed`.
    fn create(
        &self,
        link: LinkId,
        polite: bool,
        ice_servers: &[IceServer],
        reports: UnboundedSender<Report>,
    ) -> Result<Box<dyn PeerLink>, String>;
}

/// One peer link's command runner. Dropping it closes the link.
pub trait PeerLink: Send {
    /// Queues a command; commands run in order, one at a time.
    fn command(&self, command: PeerCommand);
}
