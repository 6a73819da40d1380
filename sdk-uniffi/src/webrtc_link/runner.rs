//! The task of one link: builds the connection, then runs the queued commands in order, each
//! awaited fully before the next, and closes the connection when the queue ends.

use std::sync::{Arc, Mutex};

use assistrtc_core::protocol::{IceCandidate, IceServer, Source};
use assistrtc_core::session::{LinkId, PeerCommand, PeerEvent, SdpKind};
use rtc::peer_connection::configuration::{RTCIceTransportPolicy, RTCOfferOptions};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceServer, RTCSessionDescription, Registry,
    register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

use super::channels::Channels;
use super::events::{Events, Reporter};
use super::media::{LocalTrack, Sink};
use super::{Shared, lock};
use crate::link::Report;

/// What a link's task starts from.
pub(crate) struct LinkConfig {
    pub(crate) link: LinkId,
    pub(crate) ice_servers: Vec<IceServer>,
    pub(crate) reports: UnboundedSender<Report>,
    pub(crate) shared: Arc<Shared>,
}

/// A source this link sends.
struct Sending {
    source: Source,
    track: LocalTrack,
    sink: Arc<Sink>,
    sender: Arc<dyn RtpSender>,
}

struct Runner {
    pc: Arc<dyn PeerConnection>,
    reporter: Reporter,
    shared: Arc<Shared>,
    mid: Arc<Mutex<Option<String>>>,
    channels: Channels,
    sending: Vec<Sending>,
}

/// Runs one link until its command queue ends or it is told to close.
pub(crate) async fn run(config: LinkConfig, mut queue: UnboundedReceiver<PeerCommand>) {
    let reporter = Reporter::new(config.link, config.reports);
    let mid = Arc::new(Mutex::new(None));
    let pc = match build(&config.ice_servers, &config.shared, &reporter, &mid).await {
        Ok(pc) => pc,
        Err(reason) => {
            reporter.peer(PeerEvent::CreateFailed { reason });
            return;
        }
    };
    let mut runner = Runner {
        pc,
        reporter,
        shared: config.shared,
        mid,
        channels: Channels::default(),
        sending: Vec::new(),
    };
    while let Some(command) = queue.recv().await {
        if command == PeerCommand::Close {
            break;
        }
        if let Err(reason) = runner.execute(command).await {
            runner.reporter.peer(PeerEvent::OperationFailed { reason });
        }
    }
    runner.shutdown().await;
}

async fn build(
    ice_servers: &[IceServer],
    shared: &Shared,
    reporter: &Reporter,
    mid: &Arc<Mutex<Option<String>>>,
) -> Result<Arc<dyn PeerConnection>, String> {
    let events = Events {
        reporter: reporter.clone(),
        mid: mid.clone(),
        ice: Mutex::new(None),
    };
    peer_connection(
        ice_servers,
        false,
        Arc::new(events),
        shared.udp_addrs.clone(),
    )
    .await
}

/// A peer connection with the default codecs and interceptors, `ice_servers` and `handler`,
/// bound to `udp_addrs`: what every webrtc-rs peer of this crate starts from.
pub(crate) async fn peer_connection(
    ice_servers: &[IceServer],
    relay_only: bool,
    handler: Arc<dyn PeerConnectionEventHandler>,
    udp_addrs: Vec<String>,
) -> Result<Arc<dyn PeerConnection>, String> {
    let mut media_engine = MediaEngine::default();
    media_engine
        .register_default_codecs()
        .map_err(|e| format!("codecs: {e}"))?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)
        .map_err(|e| format!("interceptors: {e}"))?;
    let ice_servers = ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect();
    let policy = if relay_only {
        RTCIceTransportPolicy::Relay
    } else {
        RTCIceTransportPolicy::All
    };
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(ice_servers)
        .with_ice_transport_policy(policy)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(udp_addrs)
        .build()
        .await
        .map_err(|e| format!("cannot create the peer connection: {e}"))?;
    Ok(Arc::new(pc))
}

/// The mid of the first media section of `sdp`.
fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|line| line.trim_end().strip_prefix("a=mid:"))
        .map(str::to_owned)
}

fn failed(what: &str) -> impl Fn(webrtc::error::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Runner {
    async fn execute(&mut self, command: PeerCommand) -> Result<(), String> {
        match command {
            PeerCommand::CreateOffer { ice_restart } => {
                let options = ice_restart.then_some(RTCOfferOptions { ice_restart: true });
                let offer = self
                    .pc
                    .create_offer(options)
                    .await
                    .map_err(failed("createOffer"))?;
                self.set_local(SdpKind::Offer, offer).await
            }
            PeerCommand::CreateAnswer => {
                let answer = self
                    .pc
                    .create_answer(None)
                    .await
                    .map_err(failed("createAnswer"))?;
                self.set_local(SdpKind::Answer, answer).await
            }
            PeerCommand::SetRemoteDescription { kind, sdp } => {
                let description = match kind {
                    SdpKind::Offer => RTCSessionDescription::offer(sdp),
                    SdpKind::Answer => RTCSessionDescription::answer(sdp),
                }
                .map_err(failed("remote description"))?;
                self.pc
                    .set_remote_description(description)
                    .await
                    .map_err(failed("setRemoteDescription"))?;
                self.reporter.peer(PeerEvent::RemoteDescriptionApplied);
                Ok(())
            }
            PeerCommand::Rollback => self.rollback().await,
            PeerCommand::AddIceCandidate(candidate) => {
                self.add_candidate(candidate).await;
                Ok(())
            }
            PeerCommand::AddSource(source) => self.add_source(source).await,
            PeerCommand::RemoveSource(source) => self.remove_source(source).await,
            PeerCommand::OpenChannel(spec) => {
                self.channels
                    .open(self.pc.as_ref(), spec, &self.reporter)
                    .await
            }
            PeerCommand::CloseChannels => {
                self.channels.close().await;
                Ok(())
            }
            PeerCommand::SendData { channel, payload } => {
                // As in the browser: a message for a channel that is gone is only logged.
                if let Err(e) = self.channels.send(channel, &payload).await {
                    tracing::warn!("{e}");
                }
                Ok(())
            }
            // `Create` is the backend's business; `Close` ends the loop before this.
            PeerCommand::Create { .. } | PeerCommand::Close => Ok(()),
        }
    }

    /// Sets `description` (just created) as local description and reports it.
    async fn set_local(
        &mut self,
        kind: SdpKind,
        description: RTCSessionDescription,
    ) -> Result<(), String> {
        // Before gathering starts, so every candidate names the right section.
        if let Some(mid) = first_mid(&description.sdp) {
            *lock(&self.mid) = Some(mid);
        }
        let created = description.sdp.clone();
        self.pc
            .set_local_description(description)
            .await
            .map_err(failed("setLocalDescription"))?;
        let sdp = self.pc.local_description().await.map_or(created, |d| d.sdp);
        self.reporter
            .peer(PeerEvent::LocalDescription { kind, sdp });
        Ok(())
    }

    /// Rolls back the pending offer, ours or theirs; in `stable` there is nothing to undo.
    async fn rollback(&mut self) -> Result<(), String> {
        let rollback = || RTCSessionDescription::rollback(None).map_err(failed("rollback"));
        if self.pc.pending_local_description().await.is_some() {
            self.pc
                .set_local_description(rollback()?)
                .await
                .map_err(failed("rollback of the local offer"))
        } else if self.pc.pending_remote_description().await.is_some() {
            self.pc
                .set_remote_description(rollback()?)
                .await
                .map_err(failed("rollback of the remote offer"))
        } else {
            Ok(())
        }
    }

    async fn add_candidate(&self, candidate: IceCandidate) {
        let init = RTCIceCandidateInit {
            candidate: candidate.candidate,
            sdp_mid: candidate.sdp_mid,
            sdp_mline_index: candidate.sdp_m_line_index,
            ..Default::default()
        };
        // As in the browser driver: a candidate of a superseded ICE generation, or one that
        // raced a rollback, fails harmlessly; reporting it would make the core abandon the
        // negotiation in flight.
        if let Err(e) = self.pc.add_ice_candidate(init).await {
            tracing::warn!("addIceCandidate failed: {e}");
        }
    }

    async fn add_source(&mut self, source: Source) -> Result<(), String> {
        if self.sending.iter().any(|s| s.source == source) {
            return Ok(());
        }
        let Some(track) = self.shared.track(source) else {
            return Ok(());
        };
        let sink = track.new_sink()?;
        let local: Arc<dyn TrackLocal> = LocalTrack::sink_track(&sink);
        let sender = self.pc.add_track(local).await.map_err(failed("addTrack"))?;
        sink.set_sender(sender.clone());
        track.attach(sink.clone());
        self.sending.push(Sending {
            source,
            track,
            sink,
            sender,
        });
        Ok(())
    }

    async fn remove_source(&mut self, source: Source) -> Result<(), String> {
        let Some(i) = self.sending.iter().position(|s| s.source == source) else {
            return Ok(());
        };
        let sending = self.sending.remove(i);
        sending.track.detach(&sending.sink);
        self.pc
            .remove_track(&sending.sender)
            .await
            .map_err(failed("removeTrack"))
    }

    async fn shutdown(mut self) {
        for sending in self.sending.drain(..) {
            sending.track.detach(&sending.sink);
        }
        self.channels.close().await;
        if let Err(e) = self.pc.close().await {
            tracing::debug!("closing the peer connection: {e}");
        }
    }
}
