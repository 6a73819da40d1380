//! Platform events of one link, forwarded as reports. The handler runs on the connection's
//! driver task, so it never awaits the connection: it only sends on the unbounded report
//! channel or spawns a reader.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use assistrtc_core::protocol::IceCandidate;
use assistrtc_core::session::{IceState, LinkId, PeerEvent};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc::UnboundedSender;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceConnectionState, RTCPeerConnectionIceEvent,
};

use super::lock;
use crate::link::{LinkReport, RemoteTrack, Report, TrackCounters};

/// Where a link's reports go.
#[derive(Clone)]
pub(crate) struct Reporter {
    link: LinkId,
    reports: UnboundedSender<Report>,
}

impl Reporter {
    pub(crate) fn new(link: LinkId, reports: UnboundedSender<Report>) -> Self {
        Self { link, reports }
    }

    pub(crate) fn peer(&self, event: PeerEvent) {
        self.send(LinkReport::Peer(event));
    }

    fn send(&self, report: LinkReport) {
        // The call task may be gone; then nobody needs the report.
        let _ = self.reports.send(Report {
            link: self.link.clone(),
            report,
        });
    }
}

/// The connection's event handler.
pub(crate) struct Events {
    pub(crate) reporter: Reporter,
    /// The mid of the first media section of the local description: with BUNDLE every
    /// candidate belongs to it (webrtc-rs's `to_json` says `""`, which a browser refuses).
    pub(crate) mid: Arc<Mutex<Option<String>>>,
    /// The last ICE state reported (`completed` and `connected` are one state for the core).
    pub(crate) ice: Mutex<Option<IceState>>,
}

fn ice_state(state: RTCIceConnectionState) -> Option<IceState> {
    Some(match state {
        RTCIceConnectionState::New => IceState::New,
        RTCIceConnectionState::Checking => IceState::Checking,
        RTCIceConnectionState::Connected | RTCIceConnectionState::Completed => IceState::Connected,
        RTCIceConnectionState::Disconnected => IceState::Disconnected,
        RTCIceConnectionState::Failed => IceState::Failed,
        RTCIceConnectionState::Closed => IceState::Closed,
        _ => return None,
    })
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_negotiation_needed(&self) {
        self.reporter.peer(PeerEvent::NegotiationNeeded);
    }

    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let init = match event.candidate.to_json() {
            Ok(init) => init,
            Err(e) => {
                tracing::debug!("local candidate not serializable: {e}");
                return;
            }
        };
        if init.candidate.is_empty() {
            return;
        }
        let mid = lock(&self.mid).clone().unwrap_or_else(|| "0".to_owned());
        self.reporter.peer(PeerEvent::LocalCandidate(IceCandidate {
            candidate: init.candidate,
            sdp_mid: Some(mid),
            sdp_m_line_index: Some(0),
        }));
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let Some(state) = ice_state(state) else {
            return;
        };
        let mut last = lock(&self.ice);
        if *last != Some(state) {
            *last = Some(state);
            drop(last);
            self.reporter.peer(PeerEvent::IceStateChanged(state));
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        tokio::spawn(read_track(self.reporter.clone(), track));
    }
}

/// Reports a remote track, then counts what arrives on it until it ends.
async fn read_track(reporter: Reporter, track: Arc<dyn TrackRemote>) {
    let id = track.track_id().await;
    let stream = Some(track.stream_id().await).filter(|s| !s.is_empty());
    let kind = match track.kind().await {
        RtpCodecKind::Audio => "audio",
        _ => "video",
    };
    let counters = Arc::new(TrackCounters::default());
    reporter.send(LinkReport::Track(RemoteTrack {
        id: id.clone(),
        stream: stream.clone(),
        kind: kind.to_owned(),
        counters: counters.clone(),
    }));
    reporter.peer(PeerEvent::TrackAdded { track: id, stream });
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                counters.packets.fetch_add(1, Ordering::Relaxed);
                counters
                    .bytes
                    .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
                if packet.header.marker {
                    counters.frames.fetch_add(1, Ordering::Relaxed);
                }
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
}
