//! The call's local recording: one [`Recorder`] at a time, which the call feeds with who is
//! present and who consents, the sources it records, the assist messages shown (the sidecar),
//! and whose commands and events it passes on as [`Output::Recorder`] and
//! [`Event::Recording`]. The server is told when the recording starts, pauses, resumes and
//! ends, so every member's indicator follows it.

use super::{Call, CallError};
use crate::Millis;
use crate::assist::AssistMessage;
use crate::permissions::Capability;
use crate::protocol::{MemberId, RecordingAction, RecordingMode, RecordingStatus, Role, Source};
use crate::recorder::{
    Clip, RecordedMedia, Recorder, RecorderCommand, RecorderError, RecorderEvent, RecorderInput,
    RecorderOptions, RecorderOutput, RecorderState,
};
use crate::session::{Event, Output, SessionError};

/// The call's side of a local recording.
pub(super) struct Recording {
    pub(super) recorder: Recorder,
    /// The server was told it runs, and must be told when it ends.
    announced: bool,
    /// What it takes in.
    media: RecordedMedia,
    /// The sources in it now.
    sources: Vec<(MemberId, Source)>,
}

impl Recording {
    fn running(&self) -> bool {
        matches!(
            self.recorder.state(),
            RecorderState::Recording | RecorderState::Paused
        )
    }
}

impl Call {
    /// Starts recording this call on this device: `media` says what goes in (see
    /// [`recorded_sources`](Self::recorded_sources), which this returns for the driver to put
    /// in the platform's recorder), `supported` the MIME types the platform can record (see
    /// [`FORMATS`](crate::recorder::FORMATS)).
    ///
    /// Refused unless joined with the `record_local` capability and this member's own
    /// consent, while no other recording of this call runs, and unless every member present
    /// (observers aside) consents ([`RecorderError::ConsentMissing`], `forbidden`). The room
    /// is told, so every member sees the recording indicator. Shapes already on screen go into
    /// the sidecar at media time 0.
    pub fn start_local_recording<S: AsRef<str>>(
        &mut self,
        media: RecordedMedia,
        options: RecorderOptions,
        supported: &[S],
        now: Millis,
    ) -> Result<Vec<(MemberId, Source)>, CallError> {
        self.now = self.now.max(now);
        self.session
            .may_request_recording(RecordingAction::Start, RecordingMode::Local)?;
        if let Some(rec) = self.recording.as_ref().filter(|r| r.running()) {
            return Err(RecorderError::InvalidState {
                action: "start",
                state: rec.recorder.state(),
            }
            .into());
        }
        let mut recorder = Recorder::new();
        for input in self.presence() {
            recorder.handle_input(input, self.now)?;
        }
        let sources = self.recorded_sources(media);
        for (member, source) in &sources {
            let input = RecorderInput::SourceStarted {
                member: member.clone(),
                source: *source,
            };
            recorder.handle_input(input, self.now)?;
        }
        recorder.start(options, supported, self.now)?;
        // What is on screen now is in the recording from its first frame.
        let mut members: Vec<MemberId> = self.session.members().map(|(m, _)| m.clone()).collect();
        members.extend(self.session.member().map(|m| m.id.clone()));
        for member in &members {
            for message in self.overlay.replay(member, self.now) {
                recorder.record_assist(member, &message, self.now);
            }
        }
        self.recording = Some(Recording {
            recorder,
            announced: true,
            media,
            sources: sources.clone(),
        });
        self.tell_server(RecordingAction::Start);
        self.after(now);
        Ok(sources)
    }

    /// Pauses the local recording (media time stands still) and tells the room.
    pub fn pause_local_recording(&mut self, now: Millis) -> Result<(), CallError> {
        self.with_recorder(now, |rec, now| rec.pause(now))?;
        self.tell_server(RecordingAction::Pause);
        self.after(now);
        Ok(())
    }

    /// Resumes a paused local recording; refused while anyone present lacks consent.
    pub fn resume_local_recording(&mut self, now: Millis) -> Result<(), CallError> {
        self.session
            .may_request_recording(RecordingAction::Resume, RecordingMode::Local)?;
        self.with_recorder(now, |rec, now| rec.resume(now))?;
        // A seat that never announced it (a fresh one since) starts it on the server.
        let action = if self.server_knows_recording() {
            RecordingAction::Resume
        } else {
            RecordingAction::Start
        };
        self.tell_server(action);
        self.after(now);
        Ok(())
    }

    /// Stops the local recording. The platform then delivers its last chunk and reports
    /// [`RecorderInput::MediaRecorderStopped`]; the recording is complete after that
    /// ([`Recorder::is_complete`]).
    pub fn stop_local_recording(&mut self, now: Millis) -> Result<(), CallError> {
        self.with_recorder(now, |rec, now| rec.stop(now))?;
        self.after(now);
        Ok(())
    }

    /// Bookmarks the local recording's current media time with `label`; returns it.
    pub fn bookmark(&mut self, label: &str, now: Millis) -> Result<u64, CallError> {
        let at = self.with_recorder(now, |rec, now| rec.bookmark(label, now))?;
        self.after(now);
        Ok(at)
    }

    /// Marks media time `from_ms..to_ms` of the local recording as a clip (see
    /// [`Recorder::clip`]).
    pub fn clip(&mut self, from_ms: u64, to_ms: u64, now: Millis) -> Result<Clip, CallError> {
        let clip = self.with_recorder(now, |rec, _| rec.clip(from_ms, to_ms))?;
        self.after(now);
        Ok(clip)
    }

    /// The local recording, the running one or the last one made.
    pub fn recorder(&self) -> Option<&Recorder> {
        self.recording.as_ref().map(|r| &r.recorder)
    }

    /// What a local recording of `media` takes in now, as (member, source) pairs: this
    /// member's own sources and those other members publish. Sources that start later join
    /// the recording as they start ([`RecorderCommand::AddSource`]).
    pub fn recorded_sources(&self, media: RecordedMedia) -> Vec<(MemberId, Source)> {
        let mut all: Vec<(MemberId, Source)> = Vec::new();
        if let Some(me) = self.session.member() {
            for p in self.session.published() {
                all.push((me.id.clone(), p.source));
            }
        }
        for (member, _) in self.session.members() {
            for p in self.session.published_by(member) {
                all.push((member.clone(), p.source));
            }
        }
        all.retain(|(m, s)| self.takes_in(media, m, *s));
        all
    }

    /// Whether a recording of `media` takes in `member`'s `source`.
    fn takes_in(&self, media: RecordedMedia, member: &MemberId, source: Source) -> bool {
        let mine = self.session.member().is_some_and(|me| &me.id == member);
        match media {
            RecordedMedia::Mixed => true,
            RecordedMedia::Local => mine,
            RecordedMedia::Remote => !mine,
            RecordedMedia::Screen => matches!(source, Source::Screen | Source::Microphone),
        }
    }

    /// A source started (`start`) or ended while a recording runs: in or out of it, if it
    /// takes it in, with the span in the manifest.
    pub(super) fn recorded_source(&mut self, member: &MemberId, source: Source, start: bool) {
        let Some(media) = self
            .recording
            .as_ref()
            .filter(|r| r.running())
            .map(|r| r.media)
        else {
            return;
        };
        if !self.takes_in(media, member, source) {
            return;
        }
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        let key = (member.clone(), source);
        let known = rec.sources.contains(&key);
        let (input, command) = match (start, known) {
            (true, false) => {
                rec.sources.push(key);
                (
                    RecorderInput::SourceStarted {
                        member: member.clone(),
                        source,
                    },
                    RecorderCommand::AddSource {
                        member: member.clone(),
                        source,
                    },
                )
            }
            (false, true) => {
                rec.sources.retain(|k| *k != key);
                (
                    RecorderInput::SourceEnded {
                        member: member.clone(),
                        source,
                    },
                    RecorderCommand::RemoveSource {
                        member: member.clone(),
                        source,
                    },
                )
            }
            (true, true) => {
                // A new track for a source already in (its link was replaced): the platform
                // swaps it in; the span goes on.
                let command = RecorderCommand::AddSource {
                    member: member.clone(),
                    source,
                };
                self.outputs.push_back(Output::Recorder(command));
                return;
            }
            (false, false) => return,
        };
        let _ = rec.recorder.handle_input(input, self.now);
        self.outputs.push_back(Output::Recorder(command));
    }

    /// Where `member`'s voice goes in a stereo recording, -1.0 (left) to 1.0 (right): the
    /// agents (hosts) on the left, everyone else on the right, as contact-centre quality
    /// review expects.
    pub fn stereo_pan(&self, member: &MemberId) -> f32 {
        let role = match self.session.member() {
            Some(me) if &me.id == member => Some(me.role),
            _ => self
                .session
                .members()
                .find(|(m, _)| *m == member)
                .map(|(_, r)| r),
        };
        if role == Some(Role::Host) { -1.0 } else { 1.0 }
    }

    /// The id of the remote track carrying `member`'s `source`, once it arrived and is labelled.
    pub fn track_of(&self, member: &MemberId, source: Source) -> Option<&str> {
        self.tracks
            .iter()
            .find(|(_, (link, s))| *s == source && link.member() == Some(member))
            .map(|(track, _)| track.as_str())
    }

    // ---- internals ----

    /// Who is present and whether each consents, this member first, as recorder inputs.
    fn presence(&self) -> Vec<RecorderInput> {
        let mut inputs = Vec::new();
        if let Some(me) = self.session.member() {
            inputs.push(RecorderInput::MemberPresent {
                member: me.id.clone(),
                role: me.role,
                consented: self.session.consent().recording_granted(),
            });
        }
        for (member, role) in self.session.members() {
            inputs.push(RecorderInput::MemberPresent {
                member: member.clone(),
                role,
                consented: self.session.recording_consent_of(member),
            });
        }
        inputs
    }

    fn with_recorder<T>(
        &mut self,
        now: Millis,
        f: impl FnOnce(&mut Recorder, Millis) -> Result<T, RecorderError>,
    ) -> Result<T, CallError> {
        self.now = self.now.max(now);
        match &mut self.recording {
            Some(rec) => Ok(f(&mut rec.recorder, self.now)?),
            None => Err(RecorderError::InvalidState {
                action: "use",
                state: RecorderState::Idle,
            }
            .into()),
        }
    }

    /// Tells the room what the local recording does. A refusal here is not the user's: the
    /// recording itself goes on or stopped already, so it is reported, not returned.
    fn tell_server(&mut self, action: RecordingAction) {
        if let Err(e) = self.session.request_recording(action, RecordingMode::Local) {
            if e != SessionError::Ended {
                self.emit(Event::Error(crate::session::ErrorReported {
                    code: e.code(),
                    message: ["the room was not told of the recording: ", &e.message()].concat(),
                    reference: Some("recording".into()),
                }));
            }
        }
    }

    pub(super) fn recorder_timeout(&self) -> Option<Millis> {
        self.recorder().and_then(Recorder::poll_timeout)
    }

    pub(super) fn recorder_handle_timeout(&mut self, now: Millis) {
        if let Some(rec) = &mut self.recording {
            rec.recorder.handle_timeout(now);
        }
    }

    /// A driver's report from the platform's recorder.
    pub(super) fn on_recorder_input(&mut self, input: RecorderInput) -> Result<(), CallError> {
        let now = self.now;
        self.with_recorder(now, |rec, now| rec.handle_input(input, now))
    }

    /// Tells the recorder what the session reported about who is present and consents.
    pub(super) fn observe_presence(&mut self, event: &Event) {
        let Some(rec) = self.recording.as_mut().filter(|r| r.running()) else {
            return;
        };
        // A fresh seat (the old one was lost): the server no longer knows of the recording.
        let reannounce = matches!(event, Event::Joined(_)) && rec.announced;
        let inputs: Vec<RecorderInput> = match event {
            Event::MemberJoined(j) => vec![RecorderInput::MemberPresent {
                member: j.member.id.clone(),
                role: j.member.role,
                consented: j.member.recording_consent,
            }],
            Event::Joined(j) => j
                .members
                .iter()
                .map(|m| RecorderInput::MemberPresent {
                    member: m.id.clone(),
                    role: m.role,
                    consented: m.recording_consent,
                })
                .collect(),
            Event::MemberConsent(c) => vec![RecorderInput::ConsentChanged {
                member: c.member.clone(),
                granted: c.granted,
            }],
            Event::TrackUnpublished(u) => {
                let (member, source) = (u.member.clone(), u.source);
                self.recorded_source(&member, source, false);
                return;
            }
            Event::MemberLeft(l) => {
                let gone: Vec<Source> = rec
                    .sources
                    .iter()
                    .filter(|(m, _)| *m == l.member)
                    .map(|(_, s)| *s)
                    .collect();
                let member = l.member.clone();
                let _ = rec.recorder.handle_input(
                    RecorderInput::MemberLeft {
                        member: member.clone(),
                    },
                    self.now,
                );
                for source in gone {
                    self.recorded_source(&member, source, false);
                }
                return;
            }
            Event::Ended(_) => {
                // The call is over, so is its recording; what was recorded is kept.
                let _ = rec.recorder.stop(self.now);
                return;
            }
            _ => return,
        };
        for input in inputs {
            // Presence inputs are accepted in every state but an undrained queue, which
            // `after` drains right after.
            let _ = rec.recorder.handle_input(input, self.now);
        }
        if let Event::Joined(j) = event {
            // Whoever the fresh seat's list leaves out has gone meanwhile.
            let me = self.session.member().map(|m| m.id.clone());
            let gone: Vec<MemberId> = rec
                .recorder
                .present()
                .into_iter()
                .filter(|p| Some(p) != me.as_ref() && !j.members.iter().any(|m| &m.id == p))
                .collect();
            for member in gone {
                let input = RecorderInput::MemberLeft { member };
                let _ = rec.recorder.handle_input(input, self.now);
            }
        }
        if !reannounce {
            return;
        }
        // Told again once everyone present still consents; paused by its recorder, it is
        // shown paused again. Paused for someone's consent, it cannot start on the server
        // (the server asks everyone's consent too): announced when resumed.
        match rec.recorder.state() {
            RecorderState::Recording => self.tell_server(RecordingAction::Start),
            RecorderState::Paused if rec.recorder.missing_consent().is_empty() => {
                self.tell_server(RecordingAction::Start);
                self.tell_server(RecordingAction::Pause);
            }
            _ => {}
        }
    }

    /// Whether the server knows of a local recording in the room (it ends one whose seat was
    /// lost, so a fresh seat's recording starts there again).
    fn server_knows_recording(&self) -> bool {
        self.session.recording(RecordingMode::Local) != RecordingStatus::Stopped
    }

    /// A remote track of `member`'s `source` arrived (labelled).
    pub(super) fn remote_source_added(&mut self, member: &MemberId, source: Source) {
        self.recorded_source(member, source, true);
    }

    /// This member started or stopped publishing `source`.
    pub(super) fn own_source(&mut self, source: Source, start: bool) {
        if let Some(me) = self.session.member().map(|m| m.id.clone()) {
            self.recorded_source(&me, source, start);
        }
    }

    /// This member's own consent changed.
    pub(super) fn own_consent_changed(&mut self, granted: bool) {
        let Some(me) = self.session.member().map(|m| m.id.clone()) else {
            return;
        };
        if let Some(rec) = self.recording.as_mut().filter(|r| r.running()) {
            let input = RecorderInput::ConsentChanged {
                member: me,
                granted,
            };
            let _ = rec.recorder.handle_input(input, self.now);
        }
    }

    /// Writes an assist message `member` showed into the sidecar of a running recording.
    pub(super) fn record_assist(&mut self, member: &MemberId, text: &str) {
        let Some(rec) = self.recording.as_mut().filter(|r| r.running()) else {
            return;
        };
        if let Ok(message) = AssistMessage::decode(text) {
            rec.recorder.record_assist(member, &message, self.now);
        }
    }

    /// Moves the recorder's commands and events to the call's outputs; tells the room when
    /// the recording ended on its own (a cap, the platform, a failure).
    pub(super) fn drain_recorder(&mut self) {
        let Some(rec) = &mut self.recording else {
            return;
        };
        let mut ended = false;
        while let Some(output) = rec.recorder.poll_output() {
            self.outputs.push_back(match output {
                RecorderOutput::Command(command) => Output::Recorder(command),
                RecorderOutput::Event(event) => {
                    if let RecorderEvent::StateChanged(s) = &event {
                        ended |= matches!(s.state, RecorderState::Stopped | RecorderState::Failed);
                    }
                    Output::Event(Event::Recording(event))
                }
            });
        }
        if ended && std::mem::take(&mut rec.announced) {
            self.tell_server(RecordingAction::Stop);
        }
    }

    /// Whether this member may record locally at all (to offer the button).
    pub fn may_record_locally(&self) -> bool {
        self.session
            .capabilities()
            .contains(Capability::RecordLocal)
    }
}
