//! The session's configuration, states, inputs, outputs and errors.

use super::*;

/// How a session behaves.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The join token from `POST /v1/rooms`.
    pub token: String,
    /// How often to ping the server when connected.
    pub ping_interval_ms: u64,
    /// How long a ping may go unanswered (no frame at all from the server) before the link
    /// counts as dead. Measured from the ping, not from the last frame: a page whose timers
    /// were throttled (a tab hidden for minutes) wakes up late, pings, and is answered, instead
    /// of taking its own silence for a dead server.
    pub ping_timeout_ms: u64,
    /// Time allowed from opening the transport to `welcome`.
    pub join_timeout_ms: u64,
    /// Reconnect timing.
    pub backoff: BackoffConfig,
    /// Seed for reconnect jitter; give every client a different one.
    pub jitter_seed: u64,
    /// Media only through the TURN servers (`iceTransportPolicy: "relay"`): the member's
    /// address is never offered to the others. Needs TURN in `welcome.ice_servers`.
    pub relay_only: bool,
}

impl SessionConfig {
    /// Defaults: ping every 10 s, dead when a ping has no answer for 25 s, 10 s to join.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            ping_interval_ms: 10_000,
            ping_timeout_ms: 25_000,
            join_timeout_ms: 10_000,
            backoff: BackoffConfig::default(),
            jitter_seed: 0x5EED,
            relay_only: false,
        }
    }
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Created; `join` not called yet.
    Idle,
    /// Opening the signaling transport or waiting for `welcome`.
    Joining,
    /// In the room, no peer link negotiated yet (alone, or nobody publishes).
    Joined,
    /// Negotiating media with at least one member, none connected yet.
    Negotiating,
    /// Media can flow with at least one member.
    Connected,
    /// The signaling link dropped; retrying. Peer links are kept meanwhile.
    Reconnecting,
    /// Over for good.
    Ended,
}

impl SessionState {
    /// The stable name every SDK reports: `idle`, `joining`, `joined`, `negotiating`,
    /// `connected`, `reconnecting`, `ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Joining => "joining",
            Self::Joined => "joined",
            Self::Negotiating => "negotiating",
            Self::Connected => "connected",
            Self::Reconnecting => "reconnecting",
            Self::Ended => "ended",
        }
    }
}

/// What happened, fed to [`Session::handle_input`].
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The signaling transport the session asked for is open.
    TransportOpened,
    /// The signaling transport closed or failed to open.
    TransportClosed,
    /// A text frame from the server.
    Frame(String),
    /// Something happened on a peer link. Results for a closed or replaced link are dropped.
    Peer {
        /// The link.
        link: LinkId,
        /// What happened.
        event: PeerEvent,
    },
    /// Something happened on the platform's recorder (a chunk, its stop, a failure): for the
    /// [`Call`](crate::call::Call)'s local recording. A bare session ignores it.
    Recorder(RecorderInput),
    /// The answer to an upload's request ([`Output::Upload`]), for the
    /// [`Call`](crate::call::Call)'s upload under the driver's storage `key`. A bare session
    /// ignores it.
    Upload {
        /// The recording's storage key.
        key: String,
        /// The answer.
        input: UploadInput,
    },
}

/// What the driver must do next, from [`Session::poll_output`].
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Output {
    /// Open the signaling transport (WebSocket to `/v1/signal`).
    OpenTransport,
    /// Close the signaling transport. Report nothing more from that transport afterwards
    /// (detach its handlers first): a late close would be taken for the next transport's.
    CloseTransport,
    /// Send this text frame on the signaling transport.
    Send(String),
    /// Run a command on a peer link (see the driver contract in [`link`]).
    Peer {
        /// The link.
        link: LinkId,
        /// What to do.
        command: PeerCommand,
    },
    /// Tell the application.
    Event(Event),
    /// Run this on the platform's recorder (`MediaRecorder`), for the
    /// [`Call`](crate::call::Call)'s local recording; a bare session never asks.
    Recorder(RecorderCommand),
    /// Send this request of the upload of the recording stored under `key` to the server
    /// (the method and path on the request, the session's token as `Authorization: Bearer`),
    /// and report the answer as [`Input::Upload`]. A bare session never asks.
    Upload {
        /// The recording's storage key.
        key: String,
        /// What to send.
        request: UploadRequest,
    },
}

/// Misuse of the session API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub enum SessionError {
    /// `join` was called twice.
    AlreadyJoined,
    /// The action needs a joined session.
    NotJoined,
    /// The session has ended.
    Ended,
    /// Outputs were not drained (see the drive rule in the module docs).
    OutputNotDrained,
    /// The member lacks a capability.
    #[error(transparent)]
    Forbidden(#[from] PermissionError),
    /// The member has not given the needed consent.
    #[error(transparent)]
    Consent(#[from] ConsentError),
    /// The peer link named does not exist.
    UnknownPeer(MemberId),
    /// An argument breaks a protocol rule (a shared report that is not a JSON object, say).
    Invalid(protocol::ProtocolError),
}

impl SessionError {
    /// What was misused (also the `Display` text), e.g. `the session has not joined a room`.
    /// Built without `core::fmt`, so a browser build that reports it carries no formatting
    /// code.
    pub fn message(&self) -> String {
        match self {
            Self::AlreadyJoined => "the session already joined".into(),
            Self::NotJoined => "the session has not joined a room".into(),
            Self::Ended => "the session has ended".into(),
            Self::OutputNotDrained => [
                &text::decimal(MAX_PENDING_OUTPUTS as u64),
                " outputs are waiting: drain poll_output after every input",
            ]
            .concat(),
            Self::Forbidden(e) => e.message(),
            Self::Consent(e) => e.message(),
            Self::UnknownPeer(member) => ["no peer link to member ", member.as_str()].concat(),
            Self::Invalid(e) => e.message(),
        }
    }

    /// A stable code for applications and bindings.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Forbidden(_) | Self::Consent(_) => ErrorCode::Forbidden,
            Self::UnknownPeer(_) => ErrorCode::NotFound,
            Self::AlreadyJoined | Self::NotJoined | Self::Ended => ErrorCode::Conflict,
            Self::OutputNotDrained => ErrorCode::Internal,
            Self::Invalid(_) => ErrorCode::BadRequest,
        }
    }
}
