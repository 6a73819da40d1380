//! What a driver does on a peer link and what it reports back, and how links are named.
//!
//! **Driver contract.** Every [`PeerCommand`] names the [`LinkId`] it is for. A driver runs one
//! link's commands in the order they were output, one at a time: the next starts when the
//! previous one has settled (the browser's `RTCPeerConnection` operations chain does this by
//! itself; a native driver serializes per link). Results go back as [`PeerEvent`]s with the
//! same `LinkId`. A result for a link the core has closed or replaced (an older generation) is
//! dropped by the core, so a driver needs no "alive" bookkeeping of its own.

use std::fmt;

use crate::assist::Channel;
use crate::protocol::{IceCandidate, IceServer, MemberId, Source};
use crate::text;

/// Whom a link connects to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkTarget {
    /// Another member, peer to peer.
    Member(MemberId),
    /// The server's media relay (SFU); reserved, not used by peer-to-peer rooms.
    Server,
}

impl LinkTarget {
    /// The member id, or `server`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Member(m) => m.as_str(),
            Self::Server => "server",
        }
    }
}

impl fmt::Display for LinkTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One peer link: its target and a generation unique within the call. A link replaced by a
/// fresh one (a rejoin, a restart from scratch) gets a new generation, so results of the old
/// platform object are told apart from the new one's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId {
    /// Whom it connects to.
    pub target: LinkTarget,
    /// Which incarnation.
    pub generation: u32,
}

impl LinkId {
    /// The member this link connects to, for peer-to-peer links.
    pub fn member(&self) -> Option<&MemberId> {
        match &self.target {
            LinkTarget::Member(m) => Some(m),
            LinkTarget::Server => None,
        }
    }
}

impl fmt::Display for LinkId {
    /// `target#generation`, e.g. `agent_1#3` (written without the integer formatter).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::from(self.target.as_str());
        text.push('#');
        text::push_decimal(&mut text, u64::from(self.generation));
        f.write_str(&text)
    }
}

/// Kind of a session description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdpKind {
    /// An offer.
    Offer,
    /// An answer.
    Answer,
}

/// ICE connection state of a peer link, as the platform reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceState {
    /// Not started.
    New,
    /// Checking candidate pairs.
    Checking,
    /// Media can flow.
    Connected,
    /// Connectivity lost, may come back by itself.
    Disconnected,
    /// Connectivity lost; an ICE restart is needed.
    Failed,
    /// Closed.
    Closed,
}

/// How to create one pre-negotiated DataChannel (`negotiated: true`, so both sides create it
/// themselves with the same id and no in-band handshake is needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelSpec {
    /// Which of the assist channels.
    pub channel: Channel,
    /// Its label.
    pub label: &'static str,
    /// The negotiated stream id.
    pub id: u16,
    /// Ordered delivery.
    pub ordered: bool,
    /// Retransmissions allowed; `None` is fully reliable.
    pub max_retransmits: Option<u16>,
}

impl ChannelSpec {
    /// The parameters of `channel`: `assist` is id 0, ordered and reliable; `assist-cursor` is
    /// id 1, unordered, no retransmits (only the latest position matters).
    pub fn of(channel: Channel) -> Self {
        match channel {
            Channel::Reliable => Self {
                channel,
                label: channel.label(),
                id: 0,
                ordered: true,
                max_retransmits: None,
            },
            Channel::Cursor => Self {
                channel,
                label: channel.label(),
                id: 1,
                ordered: false,
                max_retransmits: Some(0),
            },
        }
    }
}

/// What the driver must do on a peer link. See the driver contract in the module docs.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerCommand {
    /// Create the link (a peer connection). On failure report [`PeerEvent::CreateFailed`].
    Create {
        /// Whether this side yields on offer collisions.
        polite: bool,
        /// ICE servers to configure.
        ice_servers: Vec<IceServer>,
        /// Gather relay candidates only (`iceTransportPolicy: "relay"`): media goes through
        /// the TURN servers, never directly.
        relay_only: bool,
    },
    /// Create an offer and set it as local description; report `LocalDescription`.
    CreateOffer {
        /// Restart ICE with this offer.
        ice_restart: bool,
    },
    /// Create an answer and set it as local description; report `LocalDescription`.
    CreateAnswer,
    /// Roll the local offer back.
    Rollback,
    /// Set the remote description; report `RemoteDescriptionApplied`.
    SetRemoteDescription {
        /// Offer or answer.
        kind: SdpKind,
        /// The SDP.
        sdp: String,
    },
    /// Add a remote ICE candidate.
    AddIceCandidate(IceCandidate),
    /// Send the local tracks of this source on the link (the driver holds the captures).
    AddSource(Source),
    /// Stop sending this source's tracks on the link.
    RemoveSource(Source),
    /// Create a pre-negotiated DataChannel; report `ChannelOpened` when it opens.
    OpenChannel(ChannelSpec),
    /// Close and forget the link's DataChannels (they are opened again after this).
    CloseChannels,
    /// Send a text message on an open channel.
    SendData {
        /// Which channel.
        channel: Channel,
        /// The text.
        payload: String,
    },
    /// Close the link and release it.
    Close,
}

/// What a peer link reports back.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// The platform wants (re)negotiation (`negotiationneeded`).
    NegotiationNeeded,
    /// A `CreateOffer`/`CreateAnswer` finished: the local description is set.
    LocalDescription {
        /// Offer or answer.
        kind: SdpKind,
        /// The SDP now set as local description.
        sdp: String,
    },
    /// A `SetRemoteDescription` finished.
    RemoteDescriptionApplied,
    /// The platform gathered a local ICE candidate.
    LocalCandidate(IceCandidate),
    /// ICE connectivity changed.
    IceStateChanged(IceState),
    /// A command on this link failed.
    OperationFailed {
        /// What went wrong, for logs.
        reason: String,
    },
    /// `Create` failed: this platform cannot make the link (no WebRTC, a refused
    /// configuration). The core reports it once and never retries that link.
    CreateFailed {
        /// What went wrong.
        reason: String,
    },
    /// A DataChannel opened.
    ChannelOpened(Channel),
    /// A DataChannel closed.
    ChannelClosed(Channel),
    /// A text message arrived on a DataChannel.
    Message {
        /// Which channel.
        channel: Channel,
        /// The text (binary messages are reported as empty text and refused).
        text: String,
    },
    /// A remote track arrived, in media stream `stream` (the driver keeps the track object).
    TrackAdded {
        /// The track id.
        track: String,
        /// The id of the first stream it belongs to, if any.
        stream: Option<String>,
    },
}
