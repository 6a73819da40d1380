//! The client's signaling session as a sans-IO state machine.
//!
//! A [`Session`] owns no socket, peer connection or timer. Its driver (the browser adapter,
//! the native adapter, a test) does the IO and feeds results back:
//!
//! - [`Session::handle_input`] takes what happened: the signaling transport opened or closed, a
//!   text frame arrived, or a peer link reported a [`PeerEvent`].
//! - [`Session::poll_output`] hands out what to do, in order: open/close the transport, send a
//!   frame, run a [`PeerCommand`] on a peer link, or tell the application an [`Event`].
//! - [`Session::poll_timeout`] says when to call [`Session::handle_timeout`] next.
//!
//! **Drive rule:** after every `handle_*` call or command, drain `poll_output` until it returns
//! `None`, then re-arm the timer from `poll_timeout`. A session whose outputs pile up past
//! [`MAX_PENDING_OUTPUTS`] refuses further input with [`SessionError::OutputNotDrained`].
//!
//! ```
//! use assistrtc_core::Millis;
//! use assistrtc_core::session::{Input, Output, Session, SessionConfig};
//!
//! let mut session = Session::new(SessionConfig::new("<jwt>"));
//! session.join(Millis(0)).unwrap();
//! let mut sent = Vec::new();
//! let mut drive = |session: &mut Session| {
//!     while let Some(output) = session.poll_output() {
//!         match output {
//!             Output::OpenTransport => { /* open the WebSocket */ }
//!             Output::Send(frame) => sent.push(frame),
//!             Output::Event(event) => println!("{event:?}"),
//!             _ => { /* CloseTransport, Peer commands */ }
//!         }
//!     }
//! };
//! drive(&mut session);
//! session.handle_input(Input::TransportOpened, Millis(5)).unwrap();
//! drive(&mut session);
//! assert!(sent[0].starts_with(r#"{"v":1,"type":"join""#));
//! assert!(session.poll_timeout().is_some()); // the join must be answered in time
//! ```
//!
//! Perfect negotiation runs per remote member (see [`negotiation`]); polite and impolite
//! roles come from the member ids, so two sessions always agree on who yields.

mod backoff;
mod event;
pub mod negotiation;

use std::collections::VecDeque;

pub use backoff::BackoffConfig;
pub use event::*;

use self::backoff::Jitter;
use self::negotiation::{Negotiation, Step};
use crate::Millis;
use crate::consent::{Consent, ConsentError};
use crate::permissions::{Capabilities, PermissionError, authorize};
use crate::protocol::{
    self, ClientMessage, ErrorCode, IceCandidate, IceServer, LeaveReason, MemberId, MemberInfo,
    Permissions, Published, Role, ServerMessage, Source,
};
use crate::vecmap::VecMap;

/// Outputs allowed to wait undrained before input is refused.
pub const MAX_PENDING_OUTPUTS: usize = 4096;
/// Frames held while the signaling link is down, flushed on resume.
pub const MAX_OUTBOX: usize = 512;
/// A peer link still mid-negotiation this long after it was first seen busy is assumed to have
/// lost an offer or answer and is renegotiated with an ICE restart. Checked on the keepalive
/// ticks, so recovery comes within one more ping interval.
pub const NEGOTIATION_TIMEOUT_MS: u64 = 10_000;

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

/// What happened, fed to [`Session::handle_input`].
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The signaling transport the session asked for is open.
    TransportOpened,
    /// The signaling transport closed or failed to open.
    TransportClosed,
    /// A text frame from the server.
    Frame(String),
    /// Something happened on the peer link to `peer`.
    Peer {
        /// The remote member of that link.
        peer: MemberId,
        /// What happened.
        event: PeerEvent,
    },
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
}

/// What the driver must do on a peer link.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerCommand {
    /// Create the link to this member.
    Create {
        /// Whether this side yields on offer collisions.
        polite: bool,
        /// ICE servers to configure.
        ice_servers: Vec<IceServer>,
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
    /// Close the link and release it.
    Close,
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
    /// Run a command on the peer link to `peer`.
    Peer {
        /// The remote member.
        peer: MemberId,
        /// What to do.
        command: PeerCommand,
    },
    /// Tell the application.
    Event(Event),
}

/// Misuse of the session API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// `join` was called twice.
    #[error("the session already joined")]
    AlreadyJoined,
    /// The action needs a joined session.
    #[error("the session has not joined a room")]
    NotJoined,
    /// The session has ended.
    #[error("the session has ended")]
    Ended,
    /// Outputs were not drained (see the drive rule in the module docs).
    #[error("{MAX_PENDING_OUTPUTS} outputs are waiting: drain poll_output after every input")]
    OutputNotDrained,
    /// The member lacks a capability.
    #[error(transparent)]
    Forbidden(#[from] PermissionError),
    /// The member has not given the needed consent.
    #[error(transparent)]
    Consent(#[from] ConsentError),
    /// The peer link named does not exist.
    #[error("no peer link to member {0}")]
    UnknownPeer(MemberId),
}

impl SessionError {
    /// A stable code for applications and bindings.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Forbidden(_) | Self::Consent(_) => ErrorCode::Forbidden,
            Self::UnknownPeer(_) => ErrorCode::NotFound,
            Self::AlreadyJoined | Self::NotJoined | Self::Ended => ErrorCode::Conflict,
            Self::OutputNotDrained => ErrorCode::Internal,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Idle,
    /// Transport requested; `resuming` when a seat is held for us.
    Opening,
    /// Join sent, waiting for welcome.
    Joining,
    /// Welcome received.
    Up,
    /// Down, retry at `retry_at`.
    Down,
    Closed,
}

struct Me {
    member: MemberInfo,
    permissions: Permissions,
    capabilities: Capabilities,
}

/// The client's signaling session. See the [module docs](self) for the drive rule.
pub struct Session {
    config: SessionConfig,
    link: Link,
    state: SessionState,
    me: Option<Me>,
    resume_token: Option<String>,
    ever_joined: bool,
    attempt: u32,
    jitter: Jitter,
    ice_servers: Vec<IceServer>,
    peers: VecMap<MemberId, Negotiation>,
    remote_published: VecMap<MemberId, Vec<Published>>,
    roles: VecMap<MemberId, Role>,
    published: Vec<Published>,
    consent: Consent,
    outbox: VecDeque<String>,
    outputs: VecDeque<Output>,
    /// When the first ping after the last frame from the server went out.
    unanswered_ping: Option<Millis>,
    next_ping: Option<Millis>,
    join_deadline: Option<Millis>,
    retry_at: Option<Millis>,
}

impl Session {
    /// A new, idle session.
    pub fn new(config: SessionConfig) -> Self {
        let jitter = Jitter::new(config.jitter_seed);
        Self {
            config,
            link: Link::Idle,
            state: SessionState::Idle,
            me: None,
            resume_token: None,
            ever_joined: false,
            attempt: 0,
            jitter,
            ice_servers: Vec::new(),
            peers: VecMap::default(),
            remote_published: VecMap::default(),
            roles: VecMap::default(),
            published: Vec::new(),
            consent: Consent::default(),
            outbox: VecDeque::new(),
            outputs: VecDeque::new(),
            unanswered_ping: None,
            next_ping: None,
            join_deadline: None,
            retry_at: None,
        }
    }

    // ---- getters ----

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// This member, once joined.
    pub fn member(&self) -> Option<&MemberInfo> {
        self.me.as_ref().map(|m| &m.member)
    }

    /// This member's capabilities (none before joining).
    pub fn capabilities(&self) -> Capabilities {
        self.me
            .as_ref()
            .map_or(Capabilities::NONE, |m| m.capabilities)
    }

    /// The room's permissions, once joined.
    pub fn permissions(&self) -> Option<Permissions> {
        self.me.as_ref().map(|m| m.permissions)
    }

    /// The other members present, with their roles, in the order they were announced.
    pub fn members(&self) -> impl Iterator<Item = (&MemberId, Role)> {
        self.roles.iter().map(|(id, role)| (id, *role))
    }

    /// The members this session has a peer link to.
    pub fn peers(&self) -> impl Iterator<Item = &MemberId> {
        self.peers.keys()
    }

    /// Whether this side is polite towards `peer`.
    pub fn is_polite_to(&self, peer: &MemberId) -> Option<bool> {
        self.peers.get(peer).map(Negotiation::polite)
    }

    /// Which source a remote track is, from the stream id it arrived in.
    pub fn source_of_stream(&self, member: &MemberId, stream: &str) -> Option<Source> {
        self.remote_published
            .get(member)?
            .iter()
            .find(|p| p.stream.as_deref() == Some(stream))
            .map(|p| p.source)
    }

    /// What `member` publishes, as far as this session knows.
    pub fn published_by(&self, member: &MemberId) -> &[Published] {
        self.remote_published.get(member).map_or(&[], Vec::as_slice)
    }

    /// What another member present may do, from its role and the room's permissions; `None`
    /// for a member not in the room. Receivers use it to refuse what a member may not send
    /// (an assist annotation from a guest, say).
    pub fn capabilities_of(&self, member: &MemberId) -> Option<Capabilities> {
        let role = *self.roles.get(member)?;
        Some(Capabilities::for_role(role, self.permissions()?))
    }

    /// The consent state of this member.
    pub fn consent(&self) -> &Consent {
        &self.consent
    }

    /// Whether this member may do `msg` (what to offer in a UI).
    pub fn may(&self, msg: &ClientMessage) -> Result<(), PermissionError> {
        let role = self.me.as_ref().map_or(Role::Observer, |m| m.member.role);
        authorize(role, self.capabilities(), msg)
    }

    // ---- commands ----

    /// Starts joining: asks the driver to open the transport.
    pub fn join(&mut self, now: Millis) -> Result<(), SessionError> {
        match self.link {
            Link::Idle => {}
            Link::Closed => return Err(SessionError::Ended),
            _ => return Err(SessionError::AlreadyJoined),
        }
        self.open_transport(now);
        self.set_state(SessionState::Joining);
        Ok(())
    }

    /// Records that the user acknowledged the call notice; media may be published after this.
    pub fn acknowledge_notice(&mut self) {
        self.consent.acknowledge_notice();
    }

    /// Grants or withdraws consent to being recorded, and tells the room.
    pub fn set_recording_consent(&mut self, granted: bool) -> Result<(), SessionError> {
        self.check_joined()?;
        self.consent.set_recording(granted);
        self.send(&ClientMessage::Consent { recording: granted });
        Ok(())
    }

    /// Announces that `source` is published in media stream `stream` (so receivers can tell a
    /// camera from a screen). Checks capabilities and consent first. The driver adds the track
    /// to its peer links; their `negotiationneeded` drives the offer.
    pub fn publish(&mut self, source: Source, stream: Option<String>) -> Result<(), SessionError> {
        self.check_joined()?;
        let msg = ClientMessage::Publish {
            source,
            stream: stream.clone(),
        };
        self.may(&msg)?;
        self.consent.turn_on(source)?;
        self.published.retain(|p| p.source != source);
        self.published.push(Published { source, stream });
        self.send(&msg);
        Ok(())
    }

    /// Announces that `source` stopped.
    pub fn unpublish(&mut self, source: Source) -> Result<(), SessionError> {
        self.check_joined()?;
        self.consent.turn_off(source);
        let before = self.published.len();
        self.published.retain(|p| p.source != source);
        if self.published.len() != before {
            self.send(&ClientMessage::Unpublish { source });
        }
        Ok(())
    }

    /// Asks for an ICE restart on the link to `peer`.
    pub fn restart_ice(&mut self, peer: &MemberId) -> Result<(), SessionError> {
        self.check_joined()?;
        let mut steps = Vec::new();
        self.peers
            .get_mut(peer)
            .ok_or_else(|| SessionError::UnknownPeer(peer.clone()))?
            .negotiation_needed(true, &mut steps);
        self.run_steps(peer, steps);
        Ok(())
    }

    /// Leaves the room for good: tells the server, closes every link and the transport.
    pub fn leave(&mut self) -> Result<(), SessionError> {
        if self.link == Link::Closed {
            return Err(SessionError::Ended);
        }
        if self.link == Link::Up {
            self.push_frame(protocol::encode_client(&ClientMessage::Leave));
        }
        self.end(EndReason::Left);
        Ok(())
    }

    // ---- drive ----

    /// Feeds what happened. See the drive rule in the [module docs](self).
    pub fn handle_input(&mut self, input: Input, now: Millis) -> Result<(), SessionError> {
        if self.outputs.len() >= MAX_PENDING_OUTPUTS {
            return Err(SessionError::OutputNotDrained);
        }
        match input {
            Input::TransportOpened => self.on_transport_opened(),
            Input::TransportClosed => self.on_transport_closed(now),
            Input::Frame(text) => self.on_frame(&text, now),
            Input::Peer { peer, event } => return self.on_peer(peer, event),
        }
        Ok(())
    }

    /// The next thing to do, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let dead = self
            .unanswered_ping
            .filter(|_| self.link == Link::Up)
            .map(|t| t.after(self.config.ping_timeout_ms));
        [self.next_ping, dead, self.join_deadline, self.retry_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            self.open_transport(now);
        }
        if self.join_deadline.is_some_and(|t| now >= t) {
            self.join_deadline = None;
            self.push(Output::CloseTransport);
            self.link = Link::Down;
            self.link_lost(now);
            return;
        }
        let unanswered = self
            .unanswered_ping
            .is_some_and(|t| now.since(t) >= self.config.ping_timeout_ms);
        if self.link == Link::Up && unanswered {
            self.push(Output::CloseTransport);
            self.link = Link::Down;
            self.link_lost(now);
            return;
        }
        if self.next_ping.is_some_and(|t| now >= t) {
            self.push_frame(protocol::encode_client(&ClientMessage::Ping));
            self.unanswered_ping.get_or_insert(now);
            self.next_ping = Some(now.after(self.config.ping_interval_ms));
            self.check_stalled_links(now);
        }
    }

    /// The negotiation watchdog (see [`NEGOTIATION_TIMEOUT_MS`]).
    fn check_stalled_links(&mut self, now: Millis) {
        let ids: Vec<MemberId> = self.peers.keys().cloned().collect();
        for peer in ids {
            let mut steps = Vec::new();
            let stalled = self
                .peers
                .get_mut(&peer)
                .is_some_and(|n| n.check_stalled(now, NEGOTIATION_TIMEOUT_MS, &mut steps));
            if stalled {
                self.emit(Event::Error(ErrorReported {
                    code: ErrorCode::Internal,
                    message: format!("negotiation with {peer} stalled; restarting it"),
                    reference: None,
                }));
            }
            self.run_steps(&peer, steps);
        }
    }

    // ---- internals ----

    fn check_joined(&self) -> Result<(), SessionError> {
        match self.link {
            Link::Closed => Err(SessionError::Ended),
            _ if self.me.is_none() => Err(SessionError::NotJoined),
            _ => Ok(()),
        }
    }

    fn push(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    fn emit(&mut self, event: Event) {
        self.push(Output::Event(event));
    }

    fn push_frame(&mut self, frame: String) {
        self.push(Output::Send(frame));
    }

    /// Sends now when the link is up, else holds the frame for the resumed link.
    fn send(&mut self, msg: &ClientMessage) {
        let frame = protocol::encode_client(msg);
        if self.link == Link::Up {
            self.push_frame(frame);
        } else {
            if self.outbox.len() == MAX_OUTBOX {
                self.outbox.pop_front();
            }
            self.outbox.push_back(frame);
        }
    }

    fn set_state(&mut self, state: SessionState) {
        if self.state != state {
            self.state = state;
            self.emit(Event::StateChanged(StateChanged { state }));
        }
    }

    /// Joined / Negotiating / Connected follow the peer links while the link is up.
    fn refresh_state(&mut self) {
        if self.link != Link::Up {
            return;
        }
        let connected = self.peers.values().any(|p| p.ice() == IceState::Connected);
        let started = self.peers.values().any(Negotiation::started);
        let state = if connected {
            SessionState::Connected
        } else if started {
            SessionState::Negotiating
        } else {
            SessionState::Joined
        };
        self.set_state(state);
    }

    fn open_transport(&mut self, now: Millis) {
        self.link = Link::Opening;
        self.join_deadline = Some(now.after(self.config.join_timeout_ms));
        self.push(Output::OpenTransport);
    }

    fn on_transport_opened(&mut self) {
        if self.link != Link::Opening {
            return;
        }
        self.link = Link::Joining;
        self.unanswered_ping = None;
        let join = ClientMessage::Join {
            token: self.config.token.clone(),
            resume_token: self.resume_token.clone(),
        };
        self.push_frame(protocol::encode_client(&join));
    }

    fn on_transport_closed(&mut self, now: Millis) {
        match self.link {
            Link::Opening | Link::Joining | Link::Up => self.link_lost(now),
            Link::Idle | Link::Down | Link::Closed => {}
        }
    }

    /// The signaling link is gone: retry with backoff, or end.
    fn link_lost(&mut self, now: Millis) {
        self.next_ping = None;
        self.join_deadline = None;
        if !self.ever_joined {
            self.end(EndReason::Unreachable);
            return;
        }
        if self.attempt >= self.config.backoff.max_attempts {
            self.end(EndReason::ReconnectFailed {
                attempts: self.attempt,
            });
            return;
        }
        let delay = self.jitter.delay(&self.config.backoff, self.attempt);
        self.attempt += 1;
        self.link = Link::Down;
        self.retry_at = Some(now.after(delay));
        self.set_state(SessionState::Reconnecting);
        self.emit(Event::Reconnecting(Reconnecting {
            attempt: self.attempt,
            delay_ms: delay,
        }));
    }

    fn end(&mut self, reason: EndReason) {
        let peers: Vec<MemberId> = self.peers.keys().cloned().collect();
        for peer in peers {
            self.push(Output::Peer {
                peer,
                command: PeerCommand::Close,
            });
        }
        self.peers.clear();
        if matches!(self.link, Link::Opening | Link::Joining | Link::Up) {
            self.push(Output::CloseTransport);
        }
        self.link = Link::Closed;
        self.next_ping = None;
        self.join_deadline = None;
        self.retry_at = None;
        self.outbox.clear();
        self.set_state(SessionState::Ended);
        self.emit(Event::Ended(Ended { reason }));
    }

    fn on_frame(&mut self, text: &str, now: Millis) {
        if !matches!(self.link, Link::Joining | Link::Up) {
            return;
        }
        self.unanswered_ping = None;
        let msg = match protocol::decode_server(text) {
            Ok(msg) => msg,
            Err(e) => {
                // A server we cannot understand is reported, not fatal: later frames may be fine.
                self.emit(Event::Error(ErrorReported {
                    code: e.code(),
                    message: format!("undecodable frame from server: {e}"),
                    reference: protocol::frame_type(text),
                }));
                return;
            }
        };
        match msg {
            ServerMessage::Welcome {
                member,
                members,
                permissions,
                capabilities,
                ice_servers,
                resume_token,
                resumed,
                room,
                ..
            } => self.on_welcome(
                Me {
                    member,
                    permissions,
                    capabilities,
                },
                room,
                members,
                ice_servers,
                resume_token,
                resumed,
                now,
            ),
            ServerMessage::Error {
                code,
                message,
                reference,
            } => self.on_error(code, message, reference),
            _ if self.link != Link::Up => {}
            ServerMessage::MemberJoined { member } => {
                self.roles.insert(member.id.clone(), member.role);
                self.ensure_peer(&member.id);
                self.set_remote_published(&member.id, member.published.clone());
                self.emit(Event::MemberJoined(MemberJoined { member }));
                self.refresh_state();
            }
            ServerMessage::MemberLeft { member, reason } => {
                self.roles.remove(&member.id);
                self.drop_peer(&member.id);
                self.remote_published.remove(&member.id);
                self.emit(Event::MemberLeft(MemberLeft {
                    member: member.id,
                    reason,
                }));
                self.refresh_state();
            }
            ServerMessage::Offer { from, sdp } => {
                self.with_peer(&from, |n, out| n.remote_offer(sdp, out));
            }
            ServerMessage::Answer { from, sdp } => {
                self.with_peer(&from, |n, out| {
                    n.remote_answer(sdp, out);
                });
            }
            ServerMessage::Candidate { from, candidate } => {
                self.with_peer(&from, |n, out| n.remote_candidate(candidate, out));
            }
            ServerMessage::Published {
                member,
                source,
                stream,
            } => {
                let list = self.remote_published.get_or_default(member.clone());
                list.retain(|p| p.source != source);
                list.push(Published {
                    source,
                    stream: stream.clone(),
                });
                self.emit(Event::TrackPublished(TrackPublished {
                    member,
                    source,
                    stream,
                }));
            }
            ServerMessage::Unpublished { member, source } => {
                if let Some(list) = self.remote_published.get_mut(&member) {
                    list.retain(|p| p.source != source);
                }
                self.emit(Event::TrackUnpublished(TrackUnpublished { member, source }));
            }
            ServerMessage::Permissions {
                permissions,
                capabilities,
            } => {
                if let Some(me) = &mut self.me {
                    me.permissions = permissions;
                    me.capabilities = capabilities;
                }
                self.emit(Event::PermissionsChanged(PermissionsChanged {
                    permissions,
                    capabilities,
                }));
            }
            ServerMessage::RecordingState { mode, state } => {
                self.emit(Event::RecordingChanged(RecordingChanged { mode, state }));
            }
            ServerMessage::Pong
            | ServerMessage::Queue { .. }
            | ServerMessage::Assigned { .. }
            | ServerMessage::Unsupported { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_welcome(
        &mut self,
        me: Me,
        room: protocol::RoomId,
        members: Vec<MemberInfo>,
        ice_servers: Vec<IceServer>,
        resume_token: String,
        resumed: bool,
        now: Millis,
    ) {
        if self.link != Link::Joining {
            return;
        }
        let was_reconnect = self.ever_joined;
        self.link = Link::Up;
        self.ever_joined = true;
        self.attempt = 0;
        self.join_deadline = None;
        self.next_ping = Some(now.after(self.config.ping_interval_ms));
        self.resume_token = Some(resume_token);
        self.ice_servers = ice_servers;

        if resumed {
            // Same seat: peer links and media were never torn down. Reconcile membership.
            let present: Vec<&MemberId> = members.iter().map(|m| &m.id).collect();
            let gone: Vec<MemberId> = self
                .peers
                .keys()
                .filter(|id| !present.contains(id))
                .cloned()
                .collect();
            for id in gone {
                self.roles.remove(&id);
                self.drop_peer(&id);
                self.remote_published.remove(&id);
                self.emit(Event::MemberLeft(MemberLeft {
                    member: id,
                    reason: LeaveReason::Timeout,
                }));
            }
            let outbox: Vec<String> = std::mem::take(&mut self.outbox).into();
            for frame in outbox {
                self.push_frame(frame);
            }
            // An ICE restart offer written into the dead socket is lost: restart again.
            let ids: Vec<MemberId> = self.peers.keys().cloned().collect();
            for peer in ids {
                let mut steps = Vec::new();
                if let Some(n) = self.peers.get_mut(&peer) {
                    n.kick_if_disconnected(&mut steps);
                }
                self.run_steps(&peer, steps);
            }
        } else {
            // A fresh seat: everything negotiated before is void on both sides.
            let old: Vec<MemberId> = self.peers.keys().cloned().collect();
            for id in old {
                self.drop_peer(&id);
            }
            self.remote_published.clear();
            self.outbox.clear();
            // The new seat knows nothing: re-announce what we publish (so the others can label
            // our tracks) and a recording consent given earlier.
            let mine: Vec<Published> = self.published.clone();
            for p in mine {
                self.push_frame(protocol::encode_client(&ClientMessage::Publish {
                    source: p.source,
                    stream: p.stream,
                }));
            }
            if self.consent.recording_granted() {
                self.push_frame(protocol::encode_client(&ClientMessage::Consent {
                    recording: true,
                }));
            }
        }
        let new_members: Vec<MemberInfo> = members
            .iter()
            .filter(|m| !self.peers.contains_key(&m.id))
            .cloned()
            .collect();
        // On a resume, what known members published while we were away arrives as buffered
        // `published` frames; only members new to us are announced from the list.
        self.me = Some(me);
        if !resumed {
            self.roles.clear();
        }
        for m in &members {
            self.roles.insert(m.id.clone(), m.role);
        }
        for m in if resumed { &new_members } else { &members } {
            self.ensure_peer(&m.id);
            self.set_remote_published(&m.id, m.published.clone());
        }
        let Some(me) = &self.me else { return };
        let joined = Joined {
            member: me.member.clone(),
            room,
            members,
            permissions: me.permissions,
            capabilities: me.capabilities,
        };
        self.refresh_state();
        if was_reconnect {
            self.emit(Event::Reconnected(Reconnected { resumed }));
            if resumed {
                for member in new_members {
                    self.emit(Event::MemberJoined(MemberJoined { member }));
                }
                return;
            }
        }
        self.emit(Event::Joined(joined));
    }

    fn on_error(&mut self, code: ErrorCode, message: String, reference: Option<String>) {
        let joining = self.link == Link::Joining;
        let fatal = joining
            && matches!(
                code,
                ErrorCode::Unauthorized
                    | ErrorCode::TokenExpired
                    | ErrorCode::RoomFull
                    | ErrorCode::NotFound
            );
        if fatal {
            self.end(EndReason::Rejected { code, message });
        } else if code == ErrorCode::Conflict && reference.is_none() && !joining {
            // The server hands our seat to a newer connection; fighting back would ping-pong.
            self.end(EndReason::Replaced);
        } else {
            self.emit(Event::Error(ErrorReported {
                code,
                message,
                reference,
            }));
        }
    }

    fn set_remote_published(&mut self, member: &MemberId, published: Vec<Published>) {
        for p in &published {
            self.emit(Event::TrackPublished(TrackPublished {
                member: member.clone(),
                source: p.source,
                stream: p.stream.clone(),
            }));
        }
        self.remote_published.insert(member.clone(), published);
    }

    fn ensure_peer(&mut self, id: &MemberId) {
        if self.peers.contains_key(id) {
            return;
        }
        let Some(me) = &self.me else { return };
        let polite = negotiation::is_polite(&me.member.id, id);
        self.peers.insert(id.clone(), Negotiation::new(polite));
        self.push(Output::Peer {
            peer: id.clone(),
            command: PeerCommand::Create {
                polite,
                ice_servers: self.ice_servers.clone(),
            },
        });
    }

    fn drop_peer(&mut self, id: &MemberId) {
        if self.peers.remove(id).is_some() {
            self.push(Output::Peer {
                peer: id.clone(),
                command: PeerCommand::Close,
            });
        }
    }

    /// Runs `f` on the link to `peer`. Signaling from a member without a link (one that just
    /// left) is stale and dropped: the server announces every member before relaying for it.
    fn with_peer(&mut self, peer: &MemberId, f: impl FnOnce(&mut Negotiation, &mut Vec<Step>)) {
        let mut steps = Vec::new();
        let Some(n) = self.peers.get_mut(peer) else {
            return;
        };
        f(n, &mut steps);
        self.run_steps(peer, steps);
    }

    fn run_steps(&mut self, peer: &MemberId, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Command(command) => self.push(Output::Peer {
                    peer: peer.clone(),
                    command,
                }),
                Step::SendOffer(sdp) => self.send(&ClientMessage::Offer {
                    to: Some(peer.clone()),
                    sdp,
                }),
                Step::SendAnswer(sdp) => self.send(&ClientMessage::Answer {
                    to: Some(peer.clone()),
                    sdp,
                }),
                Step::SendCandidate(candidate) => self.send(&ClientMessage::Candidate {
                    to: Some(peer.clone()),
                    candidate,
                }),
            }
        }
        self.refresh_state();
    }

    fn on_peer(&mut self, peer: MemberId, event: PeerEvent) -> Result<(), SessionError> {
        if self.link == Link::Closed {
            return Err(SessionError::Ended);
        }
        if !self.peers.contains_key(&peer) {
            return Err(SessionError::UnknownPeer(peer));
        }
        let mut steps = Vec::new();
        let n = self
            .peers
            .get_mut(&peer)
            .ok_or_else(|| SessionError::UnknownPeer(peer.clone()))?;
        match event {
            PeerEvent::NegotiationNeeded => n.negotiation_needed(false, &mut steps),
            PeerEvent::LocalDescription { kind, sdp } => {
                n.local_description(kind, sdp, &mut steps);
            }
            PeerEvent::RemoteDescriptionApplied => n.remote_description_applied(&mut steps),
            PeerEvent::LocalCandidate(c) => n.local_candidate(c, &mut steps),
            PeerEvent::IceStateChanged(state) => n.ice_state(state, &mut steps),
            PeerEvent::OperationFailed { reason } => {
                n.operation_failed(&mut steps);
                self.emit(Event::Error(ErrorReported {
                    code: ErrorCode::Internal,
                    message: format!("peer link to {peer} failed: {reason}"),
                    reference: None,
                }));
            }
        }
        self.run_steps(&peer, steps);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
