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
pub mod link;
mod links;
pub mod negotiation;
mod signal;
mod types;

use std::collections::VecDeque;

pub use backoff::BackoffConfig;
pub use event::*;
pub use link::*;
pub use links::{CONNECT_TIMEOUT_MS, MAX_LINK_RESTARTS, NEGOTIATION_TIMEOUT_MS};
pub use types::*;

use self::backoff::Jitter;
use self::links::Peer;
use self::negotiation::{Negotiation, Step};
use crate::Millis;
use crate::consent::{Consent, ConsentError};
use crate::permissions::{Capabilities, PermissionError, authorize};
use crate::protocol::{
    self, ClientMessage, ErrorCode, IceServer, LeaveReason, MemberId, MemberInfo, Permissions,
    Published, RecordingAction, RecordingMode, RecordingStatus, Role, ServerMessage, Source,
};
use crate::recorder::{RecorderCommand, RecorderInput, UploadInput, UploadRequest};
use crate::text;
use crate::vecmap::VecMap;

/// Outputs allowed to wait undrained before input is refused.
pub const MAX_PENDING_OUTPUTS: usize = 4096;
/// Frames held while the signaling link is down, flushed on resume.
pub const MAX_OUTBOX: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
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
    room: protocol::RoomId,
}

/// The client's signaling session. See the [module docs](self) for the drive rule.
pub struct Session {
    config: SessionConfig,
    signal: Signal,
    state: SessionState,
    me: Option<Me>,
    resume_token: Option<String>,
    ever_joined: bool,
    attempt: u32,
    jitter: Jitter,
    ice_servers: Vec<IceServer>,
    peers: VecMap<MemberId, Peer>,
    /// The last generation handed out to a link.
    next_generation: u32,
    /// Results dropped because their link was closed or replaced.
    stale_results: u64,
    /// The time of the input or timeout being handled.
    now: Millis,
    remote_published: VecMap<MemberId, Vec<Published>>,
    /// The pre-call reports other members shared, JSON text.
    diagnostics: VecMap<MemberId, String>,
    /// The other members who consent to being recorded, as the server last said.
    consenting: Vec<MemberId>,
    /// The report this member shares; sent again to a fresh seat.
    shared_report: Option<String>,
    roles: VecMap<MemberId, Role>,
    published: Vec<Published>,
    /// The room's recordings as the server last reported them: local, cloud.
    recording: [RecordingStatus; 2],
    consent: Consent,
    /// Frames held while signaling is down, with the member they are addressed to.
    outbox: VecDeque<(Option<MemberId>, String)>,
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
            signal: Signal::Idle,
            state: SessionState::Idle,
            me: None,
            resume_token: None,
            ever_joined: false,
            attempt: 0,
            jitter,
            ice_servers: Vec::new(),
            peers: VecMap::default(),
            next_generation: 0,
            stale_results: 0,
            now: Millis(0),
            remote_published: VecMap::default(),
            diagnostics: VecMap::default(),
            consenting: Vec::new(),
            shared_report: None,
            roles: VecMap::default(),
            published: Vec::new(),
            recording: [RecordingStatus::Stopped; 2],
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

    /// The room joined, once joined.
    pub fn room(&self) -> Option<&protocol::RoomId> {
        self.me.as_ref().map(|m| &m.room)
    }

    /// The seed of this session's jitter, for the call's other retries.
    pub fn jitter_seed(&self) -> u64 {
        self.config.jitter_seed
    }

    /// The join token this session presents (also the member's credential for its REST
    /// calls, such as uploading a recording).
    pub fn token(&self) -> &str {
        &self.config.token
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
        self.peers.get(peer).map(|p| p.negotiation.polite())
    }

    /// How many link results were dropped because their link was closed or replaced.
    pub fn stale_results(&self) -> u64 {
        self.stale_results
    }

    /// Which source a remote track is, from the stream id it arrived in.
    pub fn source_of_stream(&self, member: &MemberId, stream: &str) -> Option<Source> {
        self.remote_published
            .get(member)?
            .iter()
            .find(|p| p.stream.as_deref() == Some(stream))
            .map(|p| p.source)
    }

    /// What this member publishes.
    pub fn published(&self) -> &[Published] {
        &self.published
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

    /// Whether a recording of the room is running in `mode`, as the server last said.
    pub fn recording(&self, mode: RecordingMode) -> RecordingStatus {
        self.recording[mode_index(mode)]
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
        self.now = now;
        match self.signal {
            Signal::Idle => {}
            Signal::Closed => return Err(SessionError::Ended),
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

    /// Shares this member's pre-call check report with the room (call it only once the user
    /// agreed): the others get [`Event::MemberDiagnostics`], and members joining later find it
    /// in the listing. Before joining, it is kept and sent with the join; a fresh seat after a
    /// reconnect gets it again. `report` must be a JSON object's text of at most
    /// [`protocol::MAX_REPORT_BYTES`] (`diagnostics::DiagnosticReport`'s JSON).
    pub fn share_diagnostics(&mut self, report: String) -> Result<(), SessionError> {
        let msg = ClientMessage::Diagnostics { report };
        msg.validate().map_err(SessionError::Invalid)?;
        let ClientMessage::Diagnostics { report } = msg else {
            return Ok(());
        };
        self.shared_report = Some(report.clone());
        if self.signal == Signal::Up {
            self.send(&ClientMessage::Diagnostics { report });
        }
        Ok(())
    }

    /// The pre-call report `member` shared, JSON text.
    pub fn diagnostics_of(&self, member: &MemberId) -> Option<&str> {
        self.diagnostics.get(member).map(String::as_str)
    }

    /// Whether another member consents to being recorded, as the server last said (`false`
    /// for a member not present).
    pub fn recording_consent_of(&self, member: &MemberId) -> bool {
        self.consenting.contains(member)
    }

    /// Asks the server to start, pause, resume or stop a recording of the room. Needs the
    /// capability (`record_local` / `record_cloud`); starting and resuming also need this
    /// member's own recording consent. The server, which also requires the consent of everyone else present,
    /// answers with [`Event::RecordingChanged`] or an [`Event::Error`].
    pub fn request_recording(
        &mut self,
        action: RecordingAction,
        mode: RecordingMode,
    ) -> Result<(), SessionError> {
        self.may_request_recording(action, mode)?;
        self.send(&ClientMessage::Recording { action, mode });
        Ok(())
    }

    /// Whether [`request_recording`](Self::request_recording) would be sent, without
    /// sending it.
    pub fn may_request_recording(
        &self,
        action: RecordingAction,
        mode: RecordingMode,
    ) -> Result<(), SessionError> {
        self.check_joined()?;
        self.may(&ClientMessage::Recording { action, mode })?;
        if matches!(action, RecordingAction::Start | RecordingAction::Resume) {
            self.consent.may_record()?;
        }
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

    /// Leaves the room for good: tells the server, closes every link and the transport.
    pub fn leave(&mut self) -> Result<(), SessionError> {
        if self.signal == Signal::Closed {
            return Err(SessionError::Ended);
        }
        if self.signal == Signal::Up {
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
        self.now = self.now.max(now);
        match input {
            Input::TransportOpened => self.on_transport_opened(),
            Input::TransportClosed => self.on_transport_closed(now),
            Input::Frame(text) => self.on_frame(&text, now),
            Input::Peer { link, event } => return self.on_peer(link, event),
            Input::Recorder(_) | Input::Upload { .. } => {}
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
            .filter(|_| self.signal == Signal::Up)
            .map(|t| t.after(self.config.ping_timeout_ms));
        let links = self
            .links_timeout()
            .filter(|_| self.signal != Signal::Closed);
        [
            self.next_ping,
            dead,
            self.join_deadline,
            self.retry_at,
            links,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.now = self.now.max(now);
        if self.signal != Signal::Closed {
            self.check_links(now);
        }
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            self.open_transport(now);
        }
        if self.join_deadline.is_some_and(|t| now >= t) {
            self.join_deadline = None;
            self.push(Output::CloseTransport);
            self.signal = Signal::Down;
            self.link_lost(now);
            return;
        }
        let unanswered = self
            .unanswered_ping
            .is_some_and(|t| now.since(t) >= self.config.ping_timeout_ms);
        if self.signal == Signal::Up && unanswered {
            self.push(Output::CloseTransport);
            self.signal = Signal::Down;
            self.link_lost(now);
            return;
        }
        if self.next_ping.is_some_and(|t| now >= t) {
            self.push_frame(protocol::encode_client(&ClientMessage::Ping));
            self.unanswered_ping.get_or_insert(now);
            self.next_ping = Some(now.after(self.config.ping_interval_ms));
        }
    }

    // ---- internals ----

    fn check_joined(&self) -> Result<(), SessionError> {
        match self.signal {
            Signal::Closed => Err(SessionError::Ended),
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
        self.hold_or_send(None, msg);
    }

    /// Like [`send`](Self::send) for a frame addressed to `member`: one still held when that
    /// member turns out to have left is dropped, not sent to a member the server no longer has.
    fn send_to(&mut self, member: &MemberId, msg: &ClientMessage) {
        self.hold_or_send(Some(member.clone()), msg);
    }

    fn hold_or_send(&mut self, to: Option<MemberId>, msg: &ClientMessage) {
        let frame = protocol::encode_client(msg);
        if frame.len() > protocol::MAX_FRAME_BYTES {
            // The server closes a connection that sends more (1009): refuse it here, with a
            // reason, instead of losing the connection over and over.
            self.emit(Event::Error(ErrorReported {
                code: ErrorCode::BadRequest,
                message: "a frame over the protocol's 64 KiB limit was not sent".into(),
                reference: Some(msg.kind().into()),
            }));
            return;
        }
        if self.signal == Signal::Up {
            self.push_frame(frame);
        } else {
            if self.outbox.len() == MAX_OUTBOX {
                self.outbox.pop_front();
            }
            self.outbox.push_back((to, frame));
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
        if self.signal != Signal::Up {
            return;
        }
        let connected = self
            .peers
            .values()
            .any(|p| p.negotiation.ice() == IceState::Connected);
        let started = self.peers.values().any(|p| p.negotiation.started());
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
        self.signal = Signal::Opening;
        self.join_deadline = Some(now.after(self.config.join_timeout_ms));
        self.push(Output::OpenTransport);
    }

    fn on_transport_opened(&mut self) {
        if self.signal != Signal::Opening {
            return;
        }
        self.signal = Signal::Joining;
        self.unanswered_ping = None;
        let join = ClientMessage::Join {
            token: self.config.token.clone(),
            resume_token: self.resume_token.clone(),
        };
        self.push_frame(protocol::encode_client(&join));
    }

    fn on_transport_closed(&mut self, now: Millis) {
        match self.signal {
            Signal::Opening | Signal::Joining | Signal::Up => self.link_lost(now),
            Signal::Idle | Signal::Down | Signal::Closed => {}
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
        self.signal = Signal::Down;
        self.retry_at = Some(now.after(delay));
        self.set_state(SessionState::Reconnecting);
        self.emit(Event::Reconnecting(Reconnecting {
            attempt: self.attempt,
            delay_ms: delay,
        }));
    }

    fn end(&mut self, reason: EndReason) {
        self.close_all_peers();
        if matches!(self.signal, Signal::Opening | Signal::Joining | Signal::Up) {
            self.push(Output::CloseTransport);
        }
        self.signal = Signal::Closed;
        self.next_ping = None;
        self.join_deadline = None;
        self.retry_at = None;
        self.outbox.clear();
        self.set_state(SessionState::Ended);
        self.emit(Event::Ended(Ended { reason }));
    }
}

fn mode_index(mode: RecordingMode) -> usize {
    match mode {
        RecordingMode::Local => 0,
        RecordingMode::Cloud => 1,
    }
}

#[cfg(test)]
mod tests;
