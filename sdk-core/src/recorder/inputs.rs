//! What the driver reports: chunks, the platform's stop and errors, members and consent,
//! sources.

use super::clock::MediaClock;
use super::{
    Cap, Chunk, EndCause, Failed, FailureCode, Progress, Recorder, RecorderError, RecorderEvent,
    RecorderInput, RecorderState, SourceSpan,
};

impl Recorder {
    /// [`Recorder::handle_input`] once its time is taken.
    pub(super) fn on_input(&mut self, input: RecorderInput) -> Result<(), RecorderError> {
        match input {
            RecorderInput::ChunkRecorded { bytes } => return self.on_chunk(bytes),
            RecorderInput::MediaRecorderStopped => match self.state {
                RecorderState::Idle => {
                    return Err(RecorderError::InvalidState {
                        action: "finish",
                        state: self.state,
                    });
                }
                RecorderState::Recording | RecorderState::Paused => {
                    // The platform ended it: already stopped, so no `Stop` command.
                    self.clock.halt(self.now);
                    self.ended_by = Some(EndCause::SourceEnded);
                    self.set_state(RecorderState::Stopped);
                    self.complete = true;
                    self.keep_manifest_if_due(true);
                }
                RecorderState::Stopped | RecorderState::Failed => {
                    self.complete = true;
                    self.keep_manifest_if_due(true);
                }
            },
            RecorderInput::MediaRecorderStarted => self.on_platform_started(),
            RecorderInput::PlatformError { code, detail } => self.on_error(code, detail)?,
            RecorderInput::MemberPresent {
                member,
                role,
                consented,
            } => {
                if self.gate.present(member.clone(), role, consented) {
                    self.consent_lost(member);
                }
            }
            RecorderInput::ConsentChanged { member, granted } => {
                if self.gate.consent(&member, granted) {
                    self.consent_lost(member);
                }
            }
            RecorderInput::MemberLeft { member } => self.gate.left(&member),
            RecorderInput::SourceStarted { member, source } => {
                let open = self
                    .sources
                    .iter()
                    .any(|s| s.member == member && s.source == source && s.end_ms.is_none());
                if !open && (self.state == RecorderState::Idle || self.state.running()) {
                    let start_ms = self.clock.at(self.now);
                    self.sources.push(SourceSpan {
                        member,
                        source,
                        start_ms,
                        end_ms: None,
                    });
                }
            }
            RecorderInput::SourceEnded { member, source } => {
                let open =
                    |s: &SourceSpan| s.member == member && s.source == source && s.end_ms.is_none();
                match self.state {
                    // Gone before recording began: never recorded.
                    RecorderState::Idle => self.sources.retain(|s| !open(s)),
                    RecorderState::Recording | RecorderState::Paused => {
                        let media = self.clock.at(self.now);
                        if let Some(span) = self.sources.iter_mut().find(|s| open(s)) {
                            span.end_ms = Some(media);
                        }
                    }
                    // After the end a span lasts to the end.
                    RecorderState::Stopped | RecorderState::Failed => {}
                }
            }
        }
        Ok(())
    }

    /// Media time counts from the platform's real start: the wait is taken off everything
    /// marked so far. Only once, and only before anything was recorded or paused.
    fn on_platform_started(&mut self) {
        if std::mem::replace(&mut self.platform_started, true)
            || self.state != RecorderState::Recording
            || !self.chunks.is_empty()
            || !self.pauses.is_empty()
        {
            return;
        }
        let lag = self.clock.at(self.now);
        self.clock = MediaClock::default();
        self.clock.run(self.now);
        for b in &mut self.bookmarks {
            b.at_ms = b.at_ms.saturating_sub(lag);
        }
        for s in &mut self.sources {
            s.start_ms = s.start_ms.saturating_sub(lag);
            s.end_ms = s.end_ms.map(|e| e.saturating_sub(lag));
        }
        self.sidecar.rebase(lag);
    }

    fn on_chunk(&mut self, bytes: u64) -> Result<(), RecorderError> {
        if self.state == RecorderState::Idle || self.complete {
            return Err(RecorderError::InvalidState {
                action: "chunk",
                state: self.state,
            });
        }
        let end_ms = self.clock.at(self.now);
        let seq = u32::try_from(self.chunks.len()).unwrap_or(u32::MAX);
        self.chunks.push(Chunk {
            seq,
            bytes,
            start_ms: self.recorded_ms(),
            end_ms,
        });
        self.bytes = self.bytes.saturating_add(bytes);
        self.event(RecorderEvent::Progress(Progress {
            bytes: self.bytes,
            duration_ms: end_ms,
        }));
        if let (true, Some(limit)) = (self.state.running(), self.options.max_bytes) {
            self.check_cap(Cap::Size, self.bytes, limit);
        }
        self.keep_manifest_if_due(false);
        Ok(())
    }

    fn on_error(&mut self, code: FailureCode, detail: String) -> Result<(), RecorderError> {
        match self.state {
            RecorderState::Idle => Err(RecorderError::InvalidState {
                action: "fail",
                state: self.state,
            }),
            // A second report of the same failure.
            RecorderState::Failed => Ok(()),
            RecorderState::Recording | RecorderState::Paused | RecorderState::Stopped => {
                self.event(RecorderEvent::Failed(Failed { code, detail }));
                if self.state.running() {
                    self.end(EndCause::Failed, RecorderState::Failed);
                } else {
                    self.set_state(RecorderState::Failed);
                }
                Ok(())
            }
        }
    }
}
