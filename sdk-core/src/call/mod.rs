//! One call: the one object a driver owns.
//!
//! A [`Call`] holds the signaling [`Session`], the assist sender and overlay, and every call
//! policy: which side adds the data section and when a link's assist channels open, the
//! channel parameters, what waits until a channel opens (reliable messages are queued; for the
//! cursor only the latest position is kept and sent on open), replay of what this member shows
//! to a link opened later, local echo of one's own annotations, capability checks on send and
//! receive, holding remote tracks until a `published` labels them, and clean-up when a link
//! closes; and the local recording (see [`Call::start_local_recording`]: consent from everyone
//! present, the sidecar of annotations, the room told of each change). A driver only
//! translates: [`Output`]s into platform calls, platform events into [`Input`]s (see the
//! driver contract in [`crate::session::link`]).
//!
//! **Drive rule** (as str0m's `Rtc`): after every `handle_*` call or command, drain
//! [`Call::poll_output`] until it returns `None`, then arm ONE timer for
//! [`Call::poll_timeout`] and call [`Call::handle_timeout`] when it fires. Outputs left
//! undrained past [`MAX_PENDING_OUTPUTS`] make the next
//! input fail with [`SessionError::OutputNotDrained`].
//!
//! ```
//! use assistrtc_core::Millis;
//! use assistrtc_core::call::{Call, CallConfig};
//! use assistrtc_core::session::{Input, Output};
//!
//! let mut call = Call::new(CallConfig::new("<jwt>"));
//! call.join(Millis(0)).unwrap();
//! let mut sent = Vec::new();
//! let mut drive = |call: &mut Call| {
//!     while let Some(output) = call.poll_output() {
//!         match output {
//!             Output::OpenTransport => { /* open the WebSocket */ }
//!             Output::Send(frame) => sent.push(frame),
//!             Output::Peer { link, command } => { /* run on that link, in order */ }
//!             Output::Event(event) => println!("{event:?}"),
//!             Output::CloseTransport => { /* close it */ }
//!             Output::Recorder(command) => { /* MediaRecorder: start, pause, resume, stop */ }
//!             Output::Upload { key, request } => { /* fetch, then Input::Upload */ }
//!         }
//!     }
//! };
//! drive(&mut call);
//! call.handle_input(Input::TransportOpened, Millis(5)).unwrap();
//! drive(&mut call);
//! assert!(sent[0].starts_with(r#"{"v":1,"type":"join""#));
//! assert!(call.poll_timeout().is_some()); // one timer for everything inside
//! ```

mod links;
#[cfg(not(feature = "recording"))]
mod no_recording;
#[cfg(feature = "recording")]
mod recording;
#[cfg(feature = "recording")]
mod upload;
#[cfg(feature = "recording")]
pub use self::upload::{LeftOver, StoredRecording};

use std::collections::VecDeque;

use self::links::LinkData;
use crate::Millis;
use crate::assist::{AssistError, AssistSender, Channel, Overlay, OverlayView, Point, Rect};
use crate::permissions::Capability;
use crate::protocol::{ErrorCode, MemberId, RecordingAction, RecordingMode, Source};
#[cfg(feature = "recording")]
use crate::recorder::{RecorderError, UploadError};
use crate::session::{
    ErrorReported, Event, Input, LinkId, MAX_PENDING_OUTPUTS, Output, PeerCommand, PeerEvent,
    Session, SessionConfig, SessionError, SessionState, TrackAdded,
};
use crate::vecmap::VecMap;

pub use self::links::{DATA_OPEN_DELAY_MS, MAX_QUEUED_MESSAGES};

/// How a call behaves.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// The signaling session's settings.
    pub session: SessionConfig,
    /// At most one cursor move is sent per this many milliseconds; faster input is coalesced,
    /// the latest wins. Half a 60 Hz frame by default: moves at 60 Hz arrive ~16.7 ms apart
    /// give or take timer jitter, and a full-frame window would hold back on-time moves.
    pub cursor_interval_ms: u64,
}

impl CallConfig {
    /// Defaults for a call joined with `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            session: SessionConfig::new(token),
            cursor_interval_ms: 8,
        }
    }
}

/// Misuse of the call API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// Refused by the signaling session (not joined, ended, not allowed, no consent…).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// An assist message was refused (malformed, out of range, too many shapes).
    #[error(transparent)]
    Assist(#[from] AssistError),
    /// The local recording refused (no consent, wrong state, bad options, no format).
    #[cfg(feature = "recording")]
    #[error(transparent)]
    Recorder(#[from] RecorderError),
    /// An upload of a recording refused.
    #[cfg(feature = "recording")]
    #[error(transparent)]
    Upload(#[from] UploadError),
}

impl CallError {
    /// What was refused (also the `Display` text): the session's or the assist message's
    /// [`SessionError::message`] / [`AssistError::message`]. Built without `core::fmt`, so a
    /// browser build that reports it carries no formatting code.
    pub fn message(&self) -> String {
        match self {
            Self::Session(e) => e.message(),
            Self::Assist(e) => e.message(),
            #[cfg(feature = "recording")]
            Self::Recorder(e) => e.message(),
            #[cfg(feature = "recording")]
            Self::Upload(e) => e.message(),
        }
    }

    /// A stable code for applications and bindings.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Session(e) => e.code(),
            Self::Assist(e) => e.code(),
            #[cfg(feature = "recording")]
            Self::Recorder(e) => e.wire_code(),
            #[cfg(feature = "recording")]
            Self::Upload(e) => e.wire_code(),
        }
    }
}

/// The one object a driver owns per call. See the [module docs](self).
pub struct Call {
    session: Session,
    assist: AssistSender,
    overlay: Overlay,
    /// The call's side of each current link.
    links: VecMap<LinkId, LinkData>,
    /// Remote tracks labelled with their member and source, by track id.
    tracks: VecMap<String, (LinkId, Source)>,
    outputs: VecDeque<Output>,
    overlay_dirty: bool,
    /// The local recording, running or the last one made.
    #[cfg(feature = "recording")]
    recording: Option<recording::Recording>,
    /// Uploads of recordings in progress.
    #[cfg(feature = "recording")]
    uploads: Vec<upload::Uploading>,
    now: Millis,
}

impl Call {
    /// A new, idle call.
    pub fn new(config: CallConfig) -> Self {
        Self {
            session: Session::new(config.session),
            assist: AssistSender::new(config.cursor_interval_ms),
            overlay: Overlay::default(),
            links: VecMap::default(),
            tracks: VecMap::default(),
            outputs: VecDeque::new(),
            overlay_dirty: false,
            #[cfg(feature = "recording")]
            recording: None,
            #[cfg(feature = "recording")]
            uploads: Vec::new(),
            now: Millis(0),
        }
    }

    // ---- getters ----

    /// The signaling session: state, members, capabilities, consent, publications.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The call's state.
    pub fn state(&self) -> SessionState {
        self.session.state()
    }

    /// What the assist overlay shows at `now`.
    pub fn overlay(&self, now: Millis) -> OverlayView {
        self.overlay.visible(now)
    }

    /// Which member and source a remote track is, once labelled.
    pub fn source_of_track(&self, track: &str) -> Option<(&MemberId, Source)> {
        self.tracks
            .get(track)
            .and_then(|(link, source)| Some((link.member()?, *source)))
    }

    // ---- commands ----

    /// Starts joining.
    pub fn join(&mut self, now: Millis) -> Result<(), CallError> {
        self.now = now;
        let r = self.session.join(now);
        self.after(now);
        Ok(r?)
    }

    /// Records that the user acknowledged the call notice; media may be published after it.
    pub fn acknowledge_notice(&mut self) {
        self.session.acknowledge_notice();
    }

    /// Grants or withdraws consent to being recorded.
    pub fn set_recording_consent(&mut self, granted: bool, now: Millis) -> Result<(), CallError> {
        self.now = self.now.max(now);
        let r = self.session.set_recording_consent(granted);
        if r.is_ok() {
            self.own_consent_changed(granted);
        }
        self.after(now);
        Ok(r?)
    }

    /// Shares this member's pre-call report with the room (see
    /// [`Session::share_diagnostics`]).
    pub fn share_diagnostics(&mut self, report: String, now: Millis) -> Result<(), CallError> {
        let r = self.session.share_diagnostics(report);
        self.after(now);
        Ok(r?)
    }

    /// Asks the server to start or stop a recording (see [`Session::request_recording`]).
    pub fn request_recording(
        &mut self,
        action: RecordingAction,
        mode: RecordingMode,
        now: Millis,
    ) -> Result<(), CallError> {
        let r = self.session.request_recording(action, mode);
        self.after(now);
        Ok(r?)
    }

    /// Publishes `source`, whose tracks are in media stream `stream`: checks capabilities and
    /// consent, tells the room, and asks every link to send it (`AddSource`).
    pub fn publish(
        &mut self,
        source: Source,
        stream: Option<String>,
        now: Millis,
    ) -> Result<(), CallError> {
        self.now = self.now.max(now);
        let already = self.session.published().iter().any(|p| p.source == source);
        let r = self.session.publish(source, stream);
        if r.is_ok() && !already {
            self.push_to_every_link(PeerCommand::AddSource(source));
            self.own_source(source, true);
        }
        self.after(now);
        Ok(r?)
    }

    /// Stops publishing `source` on every link and tells the room.
    pub fn unpublish(&mut self, source: Source, now: Millis) -> Result<(), CallError> {
        self.now = self.now.max(now);
        let was = self.session.published().iter().any(|p| p.source == source);
        let r = self.session.unpublish(source);
        if r.is_ok() && was {
            self.push_to_every_link(PeerCommand::RemoveSource(source));
            self.own_source(source, false);
        }
        self.after(now);
        Ok(r?)
    }

    /// Asks for an ICE restart on the link to `member`.
    pub fn restart_ice(&mut self, member: &MemberId, now: Millis) -> Result<(), CallError> {
        self.now = self.now.max(now);
        let r = self.session.restart_ice(member);
        self.after(now);
        Ok(r?)
    }

    /// Leaves the call: tells the server, closes every link and the transport.
    pub fn leave(&mut self, now: Millis) -> Result<(), CallError> {
        let r = self.session.leave();
        self.after(now);
        Ok(r?)
    }

    /// Moves this member's pointer (0..1 on the shared surface); `at` is the media time of the
    /// frame pointed at. Coalesced: at most one move per cursor interval, the latest wins.
    pub fn pointer(&mut self, x: f64, y: f64, at: u64, now: Millis) -> Result<(), CallError> {
        self.annotate(now, |s| s.pointer(x, y, at, now))
    }

    /// Draws a highlight; returns its id.
    pub fn highlight(
        &mut self,
        rect: Rect,
        color: &str,
        ttl_ms: u64,
        at: u64,
        now: Millis,
    ) -> Result<String, CallError> {
        self.annotate(now, |s| s.highlight(rect, color, ttl_ms, at))
    }

    /// Draws an arrow; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn arrow(
        &mut self,
        from: Point,
        to: Point,
        color: &str,
        ttl_ms: u64,
        at: u64,
        now: Millis,
    ) -> Result<String, CallError> {
        self.annotate(now, |s| s.arrow(from, to, color, ttl_ms, at))
    }

    /// Clears one of this member's shapes, or all of them.
    pub fn clear(&mut self, id: Option<&str>, at: u64, now: Millis) -> Result<(), CallError> {
        self.annotate(now, |s| s.clear(id, at))
    }

    /// Shows a script step to everyone.
    pub fn script_step(
        &mut self,
        ticket: &str,
        step: u32,
        total: u32,
        title: &str,
        now: Millis,
    ) -> Result<(), CallError> {
        self.annotate(now, |s| s.script_step(ticket, step, total, title))
    }

    fn annotate<T>(
        &mut self,
        now: Millis,
        f: impl FnOnce(&mut AssistSender) -> Result<T, AssistError>,
    ) -> Result<T, CallError> {
        if self.session.state() == SessionState::Ended {
            return Err(SessionError::Ended.into());
        }
        if !self.session.capabilities().contains(Capability::Annotate) {
            let denied = crate::permissions::PermissionError::Missing(Capability::Annotate);
            return Err(SessionError::Forbidden(denied).into());
        }
        self.now = self.now.max(now);
        let r = f(&mut self.assist);
        self.after(now);
        Ok(r?)
    }

    // ---- drive ----

    /// Feeds what happened. See the drive rule in the [module docs](self).
    pub fn handle_input(&mut self, input: Input, now: Millis) -> Result<(), CallError> {
        if self.outputs.len() >= MAX_PENDING_OUTPUTS {
            return Err(SessionError::OutputNotDrained.into());
        }
        self.now = self.now.max(now);
        let r = match input {
            Input::Peer { link, event } => self.on_peer(link, event, now).map_err(Into::into),
            Input::Recorder(input) => self.on_recorder_input(input),
            Input::Upload { key, input } => self.on_upload_input(&key, input),
            other => self.session.handle_input(other, now).map_err(Into::into),
        };
        self.after(now);
        r
    }

    /// The next thing to do, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: one timer for the
    /// session, the cursor coalescing, the overlay's expiries and every link's deadlines.
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.session.state() == SessionState::Ended {
            // Uploads outlive the call.
            return self.uploads_timeout();
        }
        let links = self.links.values().filter_map(LinkData::timeout);
        [
            self.session.poll_timeout(),
            self.assist.poll_timeout(),
            self.overlay.poll_timeout(),
            self.recorder_timeout(),
            self.uploads_timeout(),
        ]
        .into_iter()
        .flatten()
        .chain(links)
        .min()
    }

    /// Runs whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.now = self.now.max(now);
        self.session.handle_timeout(now);
        self.assist.handle_timeout(now);
        self.recorder_handle_timeout(now);
        self.uploads_handle_timeout(now);
        if self.overlay.expire(now) {
            self.overlay_dirty = true;
        }
        self.after(now);
    }

    // ---- internals ----

    fn on_peer(&mut self, link: LinkId, event: PeerEvent, now: Millis) -> Result<(), SessionError> {
        if !self.session.is_current(&link) || !self.links.contains_key(&link) {
            // Hand it to the session anyway: it counts stale results and refuses after the end.
            return self.session.handle_input(Input::Peer { link, event }, now);
        }
        match event {
            PeerEvent::ChannelOpened(channel) => {
                self.channel_opened(&link, channel);
                Ok(())
            }
            PeerEvent::ChannelClosed(channel) => {
                if let Some(data) = self.links.get_mut(&link) {
                    data.channel_closed(channel);
                }
                Ok(())
            }
            PeerEvent::Message { text, .. } => {
                self.on_message(&link, &text, now);
                Ok(())
            }
            PeerEvent::TrackAdded { track, stream } => {
                self.on_track(link, track, stream);
                Ok(())
            }
            PeerEvent::RemoteDescriptionApplied => {
                if let Some(data) = self.links.get_mut(&link) {
                    data.remote_applied();
                }
                self.session.handle_input(Input::Peer { link, event }, now)
            }
            PeerEvent::LocalDescription { kind, sdp } => {
                if let Some(data) = self.links.get_mut(&link) {
                    data.local_set(kind);
                }
                let event = PeerEvent::LocalDescription { kind, sdp };
                self.session.handle_input(Input::Peer { link, event }, now)
            }
            PeerEvent::OperationFailed { reason } => {
                // The negotiation forgets what was being applied; so does the link's record
                // of which remote descriptions carried a data section.
                if let Some(data) = self.links.get_mut(&link) {
                    data.operation_failed();
                }
                let event = PeerEvent::OperationFailed { reason };
                self.session.handle_input(Input::Peer { link, event }, now)
            }
            event => self.session.handle_input(Input::Peer { link, event }, now),
        }
    }

    /// An assist message from the member at the other end of `link`: drawn only if that
    /// member may annotate and the message is valid.
    fn on_message(&mut self, link: &LinkId, text: &str, now: Millis) {
        let Some(member) = link.member().cloned() else {
            return;
        };
        let caps = self.session.capabilities_of(&member).unwrap_or_default();
        match self.overlay.apply_text(&member, caps, text, now) {
            Ok(changed) => {
                self.overlay_dirty |= changed;
                self.record_assist(&member, text);
            }
            Err(e) => self.emit(Event::Error(ErrorReported {
                code: e.code(),
                message: [
                    "assist message from ",
                    member.as_str(),
                    " refused: ",
                    &e.message(),
                ]
                .concat(),
                reference: None,
            })),
        }
    }

    fn on_track(&mut self, link: LinkId, track: String, stream: Option<String>) {
        let Some(member) = link.member().cloned() else {
            return;
        };
        let source = stream
            .as_deref()
            .and_then(|s| self.session.source_of_stream(&member, s));
        match source {
            Some(source) => self.label(link, member, source, track, stream),
            None => {
                if let Some(data) = self.links.get_mut(&link) {
                    data.hold_track(track, stream);
                }
            }
        }
    }

    fn label(
        &mut self,
        link: LinkId,
        member: MemberId,
        source: Source,
        track: String,
        stream: Option<String>,
    ) {
        self.tracks.insert(track.clone(), (link.clone(), source));
        self.remote_source_added(&member, source);
        self.emit(Event::TrackAdded(TrackAdded {
            link,
            member,
            source,
            track,
            stream,
        }));
    }

    fn channel_opened(&mut self, link: &LinkId, channel: Channel) {
        let Some(data) = self.links.get_mut(link) else {
            return;
        };
        let sends = data.channel_opened(channel);
        for (channel, payload) in sends {
            self.push_peer(link.clone(), PeerCommand::SendData { channel, payload });
        }
    }

    /// After any entry point: take the session's outputs (observing link creation and
    /// closing), put assist messages on the links, apply the link policy, report the overlay.
    fn after(&mut self, now: Millis) {
        self.now = self.now.max(now);
        self.absorb_session();
        self.flush_assist();
        self.run_link_policy();
        // The policy may have opened channels whose negotiation the session runs.
        self.absorb_session();
        self.drain_recorder();
        self.feed_live_upload();
        self.drain_uploads();
        // Telling the room the recording ended is a session frame.
        self.absorb_session();
        if std::mem::take(&mut self.overlay_dirty) {
            let view = self.overlay.visible(self.now);
            self.emit(Event::OverlayChanged(view));
        }
    }

    fn absorb_session(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Peer { link, command } => self.observe_command(link, command),
                Output::Event(event) => self.observe_event(event),
                other => self.outputs.push_back(other),
            }
        }
    }

    /// A session command on its way to the driver; the call adds what belongs with it.
    fn observe_command(&mut self, link: LinkId, command: PeerCommand) {
        match &command {
            PeerCommand::Create { polite, .. } => {
                let data = LinkData::new(*polite, self.now);
                self.links.insert(link.clone(), data);
                self.outputs.push_back(Output::Peer {
                    link: link.clone(),
                    command,
                });
                let sources: Vec<Source> =
                    self.session.published().iter().map(|p| p.source).collect();
                for source in sources {
                    self.push_peer(link.clone(), PeerCommand::AddSource(source));
                }
                return;
            }
            PeerCommand::Close => self.link_closed(&link),
            PeerCommand::SetRemoteDescription { kind, sdp } => {
                if let Some(data) = self.links.get_mut(&link) {
                    data.remote_pending(*kind, links::has_data_section(sdp));
                }
            }
            PeerCommand::Rollback => {
                let reopen = self
                    .links
                    .get_mut(&link)
                    .map(LinkData::rolled_back)
                    .unwrap_or_default();
                self.outputs.push_back(Output::Peer {
                    link: link.clone(),
                    command,
                });
                for command in reopen {
                    self.push_peer(link.clone(), command);
                }
                return;
            }
            _ => {}
        }
        self.outputs.push_back(Output::Peer { link, command });
    }

    fn observe_event(&mut self, event: Event) {
        self.observe_presence(&event);
        match &event {
            Event::TrackPublished(p) => {
                // Label tracks that arrived before their `published`, after telling it.
                let (member, source) = (p.member.clone(), p.source);
                let held: Vec<(LinkId, String, Option<String>)> = self
                    .links
                    .iter_mut()
                    .filter(|(l, _)| l.member() == Some(&member))
                    .flat_map(|(l, data)| {
                        data.take_tracks(p.stream.as_deref())
                            .into_iter()
                            .map(|(t, s)| (l.clone(), t, s))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                self.outputs.push_back(Output::Event(event));
                for (link, track, stream) in held {
                    self.label(link, member.clone(), source, track, stream);
                }
                return;
            }
            Event::TrackUnpublished(u) => {
                self.tracks
                    .retain(|_, (l, s)| !(l.member() == Some(&u.member) && *s == u.source));
            }
            Event::MemberLeft(m) => {
                self.overlay.remove_member(&m.member);
                self.overlay_dirty = true;
            }
            Event::Ended(_) => {
                self.links.clear();
                self.tracks.clear();
            }
            _ => {}
        }
        self.outputs.push_back(Output::Event(event));
    }

    fn link_closed(&mut self, link: &LinkId) {
        self.links.remove(link);
        self.tracks.retain(|_, (l, _)| l != link);
    }

    /// Sends what the assist sender produced on every link, and draws it locally too, so both
    /// sides' overlays come from the same messages.
    fn flush_assist(&mut self) {
        let Some(me) = self.session.member().map(|m| m.id.clone()) else {
            return;
        };
        let caps = self.session.capabilities();
        while let Some(t) = self.assist.poll_transmit() {
            let mut sends = Vec::new();
            let mut dropped = Vec::new();
            for (link, data) in self.links.iter_mut() {
                match data.outgoing(t.channel, &t.payload) {
                    links::Outgoing::Send => sends.push(link.clone()),
                    links::Outgoing::Dropped => dropped.push(link.clone()),
                    links::Outgoing::Held => {}
                }
            }
            for link in sends {
                self.push_peer(
                    link,
                    PeerCommand::SendData {
                        channel: t.channel,
                        payload: t.payload.clone(),
                    },
                );
            }
            for link in dropped {
                self.emit(Event::Error(ErrorReported {
                    code: ErrorCode::RateLimited,
                    message: [
                        "too many assist messages wait for the channel to ",
                        link.target.as_str(),
                        "; the oldest was dropped",
                    ]
                    .concat(),
                    reference: None,
                }));
            }
            if let Ok(changed) = self.overlay.apply_text(&me, caps, &t.payload, self.now) {
                self.overlay_dirty |= changed;
                self.record_assist(&me, &t.payload);
            }
        }
    }

    /// Opens channels where the policy says so (see [`LinkData::wants_channels`]).
    fn run_link_policy(&mut self) {
        let me = self.session.member().map(|m| m.id.clone());
        let shows = me
            .as_ref()
            .is_some_and(|me| self.overlay.shows_from(me, self.now));
        let ids: Vec<LinkId> = self.links.keys().cloned().collect();
        for link in ids {
            let idle = self.session.link_idle(&link);
            let ice = self.session.link_ice(&link);
            let Some(data) = self.links.get_mut(&link) else {
                continue;
            };
            if !data.wants_channels(idle, ice, shows, self.now) {
                continue;
            }
            // New channels first carry what this member still shows, so a late joiner or a
            // rejoined peer sees the same overlay.
            let replay: Vec<String> = me
                .as_ref()
                .map(|me| self.overlay.replay(me, self.now))
                .unwrap_or_default()
                .into_iter()
                .filter_map(|msg| self.assist.encode_for_one(msg).ok())
                .collect();
            let commands = data.open_channels(replay);
            for command in commands {
                self.push_peer(link.clone(), command);
            }
        }
    }

    fn push_to_every_link(&mut self, command: PeerCommand) {
        for link in self.session.links() {
            self.outputs.push_back(Output::Peer {
                link: link.clone(),
                command: command.clone(),
            });
        }
    }

    fn push_peer(&mut self, link: LinkId, command: PeerCommand) {
        self.outputs.push_back(Output::Peer { link, command });
    }

    fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }
}

#[cfg(all(test, feature = "recording"))]
mod recording_tests;
#[cfg(test)]
mod tests;
