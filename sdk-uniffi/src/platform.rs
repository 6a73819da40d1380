//! Peer links on the app's own WebRTC: iOS and Android apps already ship Google's WebRTC SDK,
//! so they implement [`PeerConnectionFactory`] and [`PeerConnection`] over it and pass the
//! factory to [`AssistClient::with_platform`](crate::api::AssistClient::with_platform). The SDK
//! keeps the driver contract: it hands a link ONE command at a time and waits for
//! [`PeerConnection::run`] to return before the next, so the app's code only has to do what
//! each command says and report what happens on the link's [`PeerEvents`].
//!
//! Channels are named by their negotiated id: 0 is `assist` (ordered, reliable), 1 is
//! `assist-cursor` (unordered, no retransmits), as `LinkCommand::OpenChannel` describes.

use std::sync::Arc;

use assistrtc_core::assist::Channel;
use assistrtc_core::protocol::{IceCandidate, IceServer};
use assistrtc_core::session::{ChannelSpec, IceState, LinkId, PeerCommand, PeerEvent, SdpKind};
use tokio::sync::mpsc::{self, UnboundedSender};

use crate::api::{AssistError, Source};
use crate::link::{LinkReport, PeerBackend, PeerLink, Report};

/// An ICE server to configure.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct IceServerConfig {
    /// `stun:` / `turn:` URLs.
    pub urls: Vec<String>,
    /// TURN username.
    pub username: Option<String>,
    /// TURN credential.
    pub credential: Option<String>,
}

/// A session description's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SdpType {
    /// An offer.
    Offer,
    /// An answer.
    Answer,
}

/// What a link must do (the core's `PeerCommand`).
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum LinkCommand {
    /// Create an offer (restarting ICE if asked), set it as local description, report
    /// `LocalDescription`.
    CreateOffer {
        /// Restart ICE.
        ice_restart: bool,
    },
    /// Create an answer, set it as local description, report `LocalDescription`.
    CreateAnswer,
    /// Roll the pending local offer back (nothing to do when stable).
    Rollback,
    /// Apply the remote description, report `RemoteDescriptionApplied`.
    SetRemoteDescription {
        /// Offer or answer.
        kind: SdpType,
        /// The SDP.
        sdp: String,
    },
    /// Add a remote ICE candidate (an empty `candidate` ends the candidates).
    AddIceCandidate {
        /// The `candidate:` line.
        candidate: String,
        /// Its media section id.
        sdp_mid: Option<String>,
        /// Its media section index.
        sdp_m_line_index: Option<u16>,
    },
    /// Send this local source's track on the link.
    AddSource {
        /// Which.
        source: Source,
    },
    /// Stop sending this local source's track on the link.
    RemoveSource {
        /// Which.
        source: Source,
    },
    /// Create a negotiated DataChannel; report `ChannelOpened` when it opens.
    OpenChannel {
        /// Negotiated id: 0 `assist`, 1 `assist-cursor`.
        id: u16,
        /// Label.
        label: String,
        /// Ordered delivery.
        ordered: bool,
        /// Retransmissions allowed; `None` is fully reliable.
        max_retransmits: Option<u16>,
    },
    /// Close and forget the DataChannels (they are opened again later).
    CloseChannels,
    /// Send text on an open channel.
    SendData {
        /// The channel's id.
        id: u16,
        /// The text.
        text: String,
    },
    /// Close the link; nothing more is sent to it.
    Close,
}

/// What a link reports (the core's `PeerEvent`).
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum LinkEvent {
    /// `negotiationneeded` fired.
    NegotiationNeeded,
    /// The local description is set.
    LocalDescription {
        /// Offer or answer.
        kind: SdpType,
        /// The SDP.
        sdp: String,
    },
    /// The remote description is applied.
    RemoteDescriptionApplied,
    /// A local ICE candidate was gathered.
    LocalCandidate {
        /// The `candidate:` line.
        candidate: String,
        /// Its media section id.
        sdp_mid: Option<String>,
        /// Its media section index.
        sdp_m_line_index: Option<u16>,
    },
    /// ICE state: `new`, `checking`, `connected`, `disconnected`, `failed`, `closed`
    /// (`completed` counts as connected).
    IceStateChanged {
        /// The state's name.
        state: String,
    },
    /// The command being run failed.
    OperationFailed {
        /// Why, for logs.
        reason: String,
    },
    /// A DataChannel opened.
    ChannelOpened {
        /// Its id.
        id: u16,
    },
    /// A DataChannel closed.
    ChannelClosed {
        /// Its id.
        id: u16,
    },
    /// Text arrived on a DataChannel.
    Message {
        /// Its id.
        id: u16,
        /// The text.
        text: String,
    },
    /// A remote track arrived.
    TrackAdded {
        /// The track id.
        track: String,
        /// The id of its first stream.
        stream: Option<String>,
    },
}

/// Where a link reports what happens on it. Any thread; reports are taken in order.
#[derive(uniffi::Object)]
pub struct PeerEvents {
    link: LinkId,
    reports: UnboundedSender<Report>,
}

#[uniffi::export]
impl PeerEvents {
    /// Reports one event. Unknown channel ids and ICE state names are reported as failures.
    pub fn report(&self, event: LinkEvent) {
        let event = to_core(event);
        let _ = self.reports.send(Report {
            link: self.link.clone(),
            report: LinkReport::Peer(event),
        });
    }
}

/// Creates peer connections on the app's WebRTC.
#[uniffi::export(with_foreign)]
pub trait PeerConnectionFactory: Send + Sync {
    /// A new peer connection configured with `ice_servers`; `polite` is whether this side
    /// yields on offer collisions (informational: the SDK decides). Report on `events`.
    fn create(
        &self,
        polite: bool,
        ice_servers: Vec<IceServerConfig>,
        events: Arc<PeerEvents>,
    ) -> Result<Arc<dyn PeerConnection>, AssistError>;
}

/// One peer connection of the app's WebRTC.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait PeerConnection: Send + Sync {
    /// Runs one command; return when it has settled (the SDK sends the next one after).
    async fn run(&self, command: LinkCommand);
}

fn channel_id(channel: Channel) -> u16 {
    ChannelSpec::of(channel).id
}

fn channel_of(id: u16) -> Option<Channel> {
    [Channel::Reliable, Channel::Cursor]
        .into_iter()
        .find(|c| channel_id(*c) == id)
}

fn sdp_type(kind: SdpKind) -> SdpType {
    match kind {
        SdpKind::Offer => SdpType::Offer,
        SdpKind::Answer => SdpType::Answer,
    }
}

fn to_command(command: PeerCommand) -> Option<LinkCommand> {
    Some(match command {
        PeerCommand::CreateOffer { ice_restart } => LinkCommand::CreateOffer { ice_restart },
        PeerCommand::CreateAnswer => LinkCommand::CreateAnswer,
        PeerCommand::Rollback => LinkCommand::Rollback,
        PeerCommand::SetRemoteDescription { kind, sdp } => LinkCommand::SetRemoteDescription {
            kind: sdp_type(kind),
            sdp,
        },
        PeerCommand::AddIceCandidate(c) => LinkCommand::AddIceCandidate {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_m_line_index: c.sdp_m_line_index,
        },
        PeerCommand::AddSource(s) => LinkCommand::AddSource { source: s.into() },
        PeerCommand::RemoveSource(s) => LinkCommand::RemoveSource { source: s.into() },
        PeerCommand::OpenChannel(spec) => LinkCommand::OpenChannel {
            id: spec.id,
            label: spec.label.to_owned(),
            ordered: spec.ordered,
            max_retransmits: spec.max_retransmits,
        },
        PeerCommand::CloseChannels => LinkCommand::CloseChannels,
        PeerCommand::SendData { channel, payload } => LinkCommand::SendData {
            id: channel_id(channel),
            text: payload,
        },
        PeerCommand::Close => LinkCommand::Close,
        // `Create` is the factory's; new commands of a later core are not sent.
        _ => return None,
    })
}

fn to_core(event: LinkEvent) -> PeerEvent {
    let unknown_channel = |id: u16| PeerEvent::OperationFailed {
        reason: ["unknown channel id ", &id.to_string()].concat(),
    };
    match event {
        LinkEvent::NegotiationNeeded => PeerEvent::NegotiationNeeded,
        LinkEvent::LocalDescription { kind, sdp } => PeerEvent::LocalDescription {
            kind: match kind {
                SdpType::Offer => SdpKind::Offer,
                SdpType::Answer => SdpKind::Answer,
            },
            sdp,
        },
        LinkEvent::RemoteDescriptionApplied => PeerEvent::RemoteDescriptionApplied,
        LinkEvent::LocalCandidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
        } => PeerEvent::LocalCandidate(IceCandidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
        }),
        LinkEvent::IceStateChanged { state } => match state.as_str() {
            "new" => PeerEvent::IceStateChanged(IceState::New),
            "checking" => PeerEvent::IceStateChanged(IceState::Checking),
            "connected" | "completed" => PeerEvent::IceStateChanged(IceState::Connected),
            "disconnected" => PeerEvent::IceStateChanged(IceState::Disconnected),
            "failed" => PeerEvent::IceStateChanged(IceState::Failed),
            "closed" => PeerEvent::IceStateChanged(IceState::Closed),
            other => PeerEvent::OperationFailed {
                reason: ["unknown ICE state ", other].concat(),
            },
        },
        LinkEvent::OperationFailed { reason } => PeerEvent::OperationFailed { reason },
        LinkEvent::ChannelOpened { id } => {
            channel_of(id).map_or_else(|| unknown_channel(id), PeerEvent::ChannelOpened)
        }
        LinkEvent::ChannelClosed { id } => {
            channel_of(id).map_or_else(|| unknown_channel(id), PeerEvent::ChannelClosed)
        }
        LinkEvent::Message { id, text } => channel_of(id).map_or_else(
            || unknown_channel(id),
            |channel| PeerEvent::Message { channel, text },
        ),
        LinkEvent::TrackAdded { track, stream } => PeerEvent::TrackAdded { track, stream },
    }
}

/// A [`PeerBackend`] over the app's [`PeerConnectionFactory`].
pub(crate) struct PlatformBackend {
    pub(crate) factory: Arc<dyn PeerConnectionFactory>,
}

/// A platform link: commands queue here and one task runs them in order.
struct PlatformLink {
    commands: UnboundedSender<PeerCommand>,
}

impl PeerLink for PlatformLink {
    fn command(&self, command: PeerCommand) {
        let _ = self.commands.send(command);
    }
}

impl PeerBackend for PlatformBackend {
    fn create(
        &self,
        link: LinkId,
        polite: bool,
        ice_servers: &[IceServer],
        reports: UnboundedSender<Report>,
    ) -> Result<Box<dyn PeerLink>, String> {
        let events = Arc::new(PeerEvents { link, reports });
        let servers = ice_servers
            .iter()
            .map(|s| IceServerConfig {
                urls: s.urls.clone(),
                username: s.username.clone(),
                credential: s.credential.clone(),
            })
            .collect();
        let peer = self
            .factory
            .create(polite, servers, events)
            .map_err(|e| e.to_string())?;
        let (commands, mut queue) = mpsc::unbounded_channel::<PeerCommand>();
        tokio::spawn(async move {
            while let Some(command) = queue.recv().await {
                let close = command == PeerCommand::Close;
                if let Some(command) = to_command(command) {
                    peer.run(command).await;
                }
                if close {
                    break;
                }
            }
        });
        Ok(Box::new(PlatformLink { commands }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids_and_states_map_both_ways() {
        assert_eq!(channel_id(Channel::Reliable), 0);
        assert_eq!(channel_id(Channel::Cursor), 1);
        assert_eq!(
            to_core(LinkEvent::Message {
                id: 1,
                text: "x".into()
            }),
            PeerEvent::Message {
                channel: Channel::Cursor,
                text: "x".into()
            }
        );
        assert!(matches!(
            to_core(LinkEvent::ChannelOpened { id: 7 }),
            PeerEvent::OperationFailed { .. }
        ));
        assert_eq!(
            to_core(LinkEvent::IceStateChanged {
                state: "completed".into()
            }),
            PeerEvent::IceStateChanged(IceState::Connected)
        );
        assert_eq!(
            to_command(PeerCommand::SendData {
                channel: Channel::Reliable,
                payload: "t".into()
            }),
            Some(LinkCommand::SendData {
                id: 0,
                text: "t".into()
            })
        );
    }
}
