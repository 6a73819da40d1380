//! Local recording as a sans-IO state machine: idle → recording ⇄ paused → stopped | failed.
//!
//! A [`Recorder`] owns no `MediaRecorder`, storage or timer. It decides; its driver records:
//!
//! - Commands: [`Recorder::start`] (chooses the format from what the platform supports, see
//!   [`FORMATS`]), [`pause`](Recorder::pause), [`resume`](Recorder::resume),
//!   [`stop`](Recorder::stop), [`bookmark`](Recorder::bookmark), [`clip`](Recorder::clip), and
//!   [`record_assist`](Recorder::record_assist) for the assist sidecar.
//! - Inputs ([`Recorder::handle_input`]): chunks as the platform delivers them, the platform's
//!   stop and errors, who is present and who consents, which sources are recorded.
//! - Outputs ([`Recorder::poll_output`]): [`RecorderCommand`]s for the platform's recorder and
//!   [`RecorderEvent`]s for the application.
//! - One timer ([`Recorder::poll_timeout`] / [`Recorder::handle_timeout`]) for the duration
//!   cap and its warning.
//!
//! **Media time** is the recording's own clock: time spent recording, paused spans excluded.
//! Chunks, sources, bookmarks, clips and sidecar entries are all on it (see [`Manifest`] and
//! [`Sidecar`]).
//!
//! **Consent gate:** `start` and `resume` are refused ([`RecorderError::ConsentMissing`])
//! unless every present member other than observers consents. A withdrawal, or a newcomer
//! without consent, while recording pauses it at once ([`ConsentPaused`] says who); it resumes
//! only by an explicit `resume` once everyone consents.
//!
//! **Caps:** [`RecorderOptions::max_bytes`] and [`RecorderOptions::max_duration_ms`]. Each
//! warns once ([`CapWarning`]) at [`RecorderOptions::warn_at_percent`] of the cap, then stops
//! the recording when reached ([`CapReached`]). The size is checked as chunks arrive, so a
//! file ends at most one chunk (plus the platform's final one) past `max_bytes`.
//!
//! **Drive rule** (as the [`Call`](crate::call::Call)'s): after every command or `handle_*`
//! call, drain `poll_output` until `None`, then arm one timer for `poll_timeout`. Outputs left
//! undrained past [`MAX_PENDING_OUTPUTS`] make the next one fail with
//! [`RecorderError::OutputNotDrained`]. One `Recorder` makes one recording.
//!
//! ```
//! use assistrtc_core::{Millis, ToJsonText};
//! use assistrtc_core::protocol::{MemberId, Role};
//! use assistrtc_core::recorder::{
//!     Recorder, RecorderCommand, RecorderInput, RecorderOptions, RecorderOutput, RecorderState,
//! };
//!
//! let mut rec = Recorder::new();
//! let agent = MemberId::new("agent_1").unwrap();
//! let present = RecorderInput::MemberPresent { member: agent, role: Role::Host, consented: true };
//! rec.handle_input(present, Millis(0)).unwrap();
//! // The driver asked the platform about each of `FORMATS` (`MediaRecorder.isTypeSupported`).
//! let supported = ["video/webm;codecs=vp8,opus"];
//! rec.start(RecorderOptions::default(), &supported, Millis(0)).unwrap();
//! let drive = |rec: &mut Recorder| {
//!     while let Some(output) = rec.poll_output() {
//!         match output {
//!             RecorderOutput::Command(RecorderCommand::StartMediaRecorder { mime, timeslice_ms }) => {
//!                 assert_eq!(mime, "video/webm;codecs=vp8,opus"); // start(timeslice_ms)
//!             }
//!             RecorderOutput::Command(_) => { /* pause(), resume(), stop() */ }
//!             RecorderOutput::Event(event) => println!("{event:?}"),
//!         }
//!     }
//!     rec.poll_timeout() // arm ONE timer; call handle_timeout when it fires
//! };
//! assert!(drive(&mut rec).is_some()); // the duration cap's warning
//! rec.handle_input(RecorderInput::ChunkRecorded { bytes: 4096 }, Millis(1_000)).unwrap();
//! drive(&mut rec);
//! assert_eq!(rec.bookmark("error dialog", Millis(1_500)), Ok(1_500));
//! rec.stop(Millis(2_000)).unwrap();
//! drive(&mut rec);
//! // The platform delivers its last chunk, then reports that it stopped.
//! rec.handle_input(RecorderInput::ChunkRecorded { bytes: 1024 }, Millis(2_020)).unwrap();
//! rec.handle_input(RecorderInput::MediaRecorderStopped, Millis(2_020)).unwrap();
//! assert_eq!(drive(&mut rec), None);
//! assert_eq!(rec.state(), RecorderState::Stopped);
//! assert!(rec.manifest().to_json_text().contains(r#""duration_ms":2000,"bytes":5120"#));
//! ```

// A call records through `Call::start_local_recording` (call/recording.rs), which feeds the
// recorder presence, consent, sources and the sidecar, and passes its outputs on.

mod clock;
mod error;
mod format;
mod gate;
mod inputs;
mod io;
mod manifest;
mod options;
mod sidecar;
mod upload;
mod upload_io;

use std::collections::VecDeque;

pub use error::*;
pub use format::*;
pub use io::*;
pub use manifest::*;
pub use options::*;
pub use sidecar::*;
pub use upload::*;
pub use upload_io::*;

use self::clock::MediaClock;
use self::gate::ConsentGate;
use crate::Millis;
use crate::assist::AssistMessage;
use crate::protocol::MemberId;

/// Longest accepted bookmark label, in bytes.
pub const MAX_LABEL_BYTES: usize = 128;
/// Bookmarks a recording holds at most.
pub const MAX_BOOKMARKS: usize = 1_000;
/// Clips a recording holds at most.
pub const MAX_CLIPS: usize = 100;
/// Outputs that may wait undrained before commands and inputs are refused.
pub const MAX_PENDING_OUTPUTS: usize = 64;
/// A recording asks for its manifest to be kept ([`RecorderCommand::KeepManifest`]) after
/// each of its first chunks, up to this many (about 60 B of manifest each, so ~18 KB); after
/// that, when a chunk ends [`KEEP_INTERVAL_MS`] after the last keep, or when a bookmark,
/// clip, pause or source came since. Each keep writes the whole manifest, so keeping it after
/// every chunk of a two-hour recording would write gigabytes; this way a crash loses at most
/// the last [`KEEP_INTERVAL_MS`] of chunk entries (the chunks themselves are kept by then) and
/// the marks of the last timeslice, as before; the end keeps the final manifest.
pub const KEEP_EVERY_CHUNK_UP_TO: usize = 300;
/// See [`KEEP_EVERY_CHUNK_UP_TO`].
pub const KEEP_INTERVAL_MS: u64 = 30_000;

/// One local recording. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Recorder {
    state: RecorderState,
    options: RecorderOptions,
    format: Option<&'static RecordingFormat>,
    gate: ConsentGate,
    clock: MediaClock,
    bytes: u64,
    chunks: Vec<Chunk>,
    pauses: Vec<Pause>,
    sources: Vec<SourceSpan>,
    bookmarks: Vec<Bookmark>,
    clips: Vec<Clip>,
    sidecar: Sidecar,
    /// Whether the size and the duration cap warned.
    warned: [bool; 2],
    ended_by: Option<EndCause>,
    complete: bool,
    /// The platform reported its real start ([`RecorderInput::MediaRecorderStarted`]).
    platform_started: bool,
    outputs: VecDeque<RecorderOutput>,
    now: Millis,
    /// When the manifest was last kept, and how many marks (bookmarks, clips, pauses,
    /// sources) it held then.
    kept: Option<(Millis, usize)>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// A new, idle recorder.
    pub fn new() -> Self {
        Self {
            state: RecorderState::Idle,
            options: RecorderOptions::default(),
            format: None,
            gate: ConsentGate::default(),
            clock: MediaClock::default(),
            bytes: 0,
            chunks: Vec::new(),
            pauses: Vec::new(),
            sources: Vec::new(),
            bookmarks: Vec::new(),
            clips: Vec::new(),
            sidecar: Sidecar::default(),
            warned: [false; 2],
            ended_by: None,
            complete: false,
            platform_started: false,
            outputs: VecDeque::new(),
            now: Millis(0),
            kept: None,
        }
    }

    // ---- getters ----

    /// The state.
    pub fn state(&self) -> RecorderState {
        self.state
    }

    /// The media time at `now` (stands still while paused and after the end).
    pub fn media_time(&self, now: Millis) -> u64 {
        self.clock.at(now.max(self.now))
    }

    /// The chunks recorded so far, in order.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// Media time up to which chunks have been delivered: what a clip may cover.
    pub fn recorded_ms(&self) -> u64 {
        self.chunks.last().map_or(0, |c| c.end_ms)
    }

    /// Bytes recorded.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The format chosen at start.
    pub fn format(&self) -> Option<&'static RecordingFormat> {
        self.format
    }

    /// Members reported present (this member included), in arrival order.
    pub fn present(&self) -> Vec<MemberId> {
        self.gate.members()
    }

    /// Present members (observers aside) who have not consented, in arrival order.
    pub fn missing_consent(&self) -> Vec<MemberId> {
        self.gate.missing()
    }

    /// Whether the recording ended and the platform delivered its last chunk.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The manifest as of the last command or input.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            state: self.state,
            complete: self.complete,
            ended_by: self.ended_by,
            format: self.format.copied(),
            timeslice_ms: self.options.timeslice_ms,
            wall_clock_start_ms: self.options.wall_clock_start_ms,
            duration_ms: self.clock.at(self.now),
            bytes: self.bytes,
            chunks: self.chunks.clone(),
            pauses: self.pauses.clone(),
            sources: self.sources.clone(),
            bookmarks: self.bookmarks.clone(),
            clips: self.clips.clone(),
        }
    }

    /// The assist sidecar.
    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    // ---- commands ----

    /// Starts recording in the first of [`FORMATS`] whose MIME type is in `supported`.
    ///
    /// Refused unless idle, with valid `options`, with every present member's consent
    /// ([`RecorderError::ConsentMissing`]), and with a supported format
    /// ([`RecorderError::NoSupportedFormat`]).
    pub fn start<S: AsRef<str>>(
        &mut self,
        options: RecorderOptions,
        supported: &[S],
        now: Millis,
    ) -> Result<(), RecorderError> {
        self.enter(now)?;
        self.expect(&[RecorderState::Idle], "start")?;
        options.validate()?;
        self.check_consent()?;
        let format = choose_format(supported)?;
        self.options = options;
        self.format = Some(format);
        self.clock.run(self.now);
        self.command(RecorderCommand::StartMediaRecorder {
            mime: format.mime,
            timeslice_ms: options.timeslice_ms,
        });
        self.set_state(RecorderState::Recording);
        Ok(())
    }

    /// Pauses a running recording.
    pub fn pause(&mut self, now: Millis) -> Result<(), RecorderError> {
        self.enter(now)?;
        self.expect(&[RecorderState::Recording], "pause")?;
        self.pause_for(PauseReason::User);
        Ok(())
    }

    /// Resumes a paused recording; refused while a present member lacks consent.
    pub fn resume(&mut self, now: Millis) -> Result<(), RecorderError> {
        self.enter(now)?;
        self.expect(&[RecorderState::Paused], "resume")?;
        self.check_consent()?;
        self.clock.run(self.now);
        self.command(RecorderCommand::Resume);
        self.set_state(RecorderState::Recording);
        Ok(())
    }

    /// Stops a running or paused recording. The platform then delivers its last chunk and
    /// reports [`RecorderInput::MediaRecorderStopped`].
    pub fn stop(&mut self, now: Millis) -> Result<(), RecorderError> {
        self.enter(now)?;
        self.expect(&[RecorderState::Recording, RecorderState::Paused], "stop")?;
        self.end(EndCause::User, RecorderState::Stopped);
        Ok(())
    }

    /// Bookmarks the current media time (the paused position while paused) and returns it.
    pub fn bookmark(&mut self, label: &str, now: Millis) -> Result<u64, RecorderError> {
        self.enter(now)?;
        self.expect(
            &[RecorderState::Recording, RecorderState::Paused],
            "bookmark",
        )?;
        if label.is_empty() || label.len() > MAX_LABEL_BYTES {
            return Err(RecorderError::InvalidLabel);
        }
        if self.bookmarks.len() >= MAX_BOOKMARKS {
            return Err(RecorderError::TooMany { what: "bookmarks" });
        }
        let at_ms = self.clock.at(self.now);
        self.bookmarks.push(Bookmark {
            at_ms,
            label: label.to_owned(),
        });
        Ok(at_ms)
    }

    /// Marks media time `from_ms..to_ms` for keeping. It must be non-empty and within what
    /// chunks already cover ([`recorded_ms`](Self::recorded_ms)); the clip names those chunks.
    pub fn clip(&mut self, from_ms: u64, to_ms: u64) -> Result<Clip, RecorderError> {
        let recorded_ms = self.recorded_ms();
        if from_ms >= to_ms || to_ms > recorded_ms {
            return Err(RecorderError::InvalidClip { recorded_ms });
        }
        if self.clips.len() >= MAX_CLIPS {
            return Err(RecorderError::TooMany { what: "clips" });
        }
        // Chunk `c` holds media time `c.start_ms..c.end_ms`; `to_ms` ≤ the last end, so both
        // searches find one.
        let seq_where =
            |f: &dyn Fn(&Chunk) -> bool| self.chunks.iter().find(|c| f(c)).map_or(0, |c| c.seq);
        let clip = Clip {
            from_ms,
            to_ms,
            first_chunk: seq_where(&|c| c.end_ms > from_ms),
            last_chunk: seq_where(&|c| c.end_ms >= to_ms),
        };
        self.clips.push(clip);
        Ok(clip)
    }

    /// Writes an assist message `member` showed into the sidecar at the current media time
    /// (the paused position while paused). `false` when it is not recorded: no recording is
    /// running, it is a cursor move, or it does not validate.
    pub fn record_assist(
        &mut self,
        member: &MemberId,
        message: &AssistMessage,
        now: Millis,
    ) -> bool {
        self.tick(now);
        if !self.state.running() {
            return false;
        }
        let at_ms = self.clock.at(self.now);
        self.sidecar.push(at_ms, member, message)
    }

    // ---- drive ----

    /// Feeds what happened. See the drive rule in the [module docs](self).
    pub fn handle_input(&mut self, input: RecorderInput, now: Millis) -> Result<(), RecorderError> {
        self.enter(now)?;
        self.on_input(input)
    }

    /// The next command or event, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<RecorderOutput> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the duration cap's
    /// warning or the cap itself, while recording.
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.state != RecorderState::Recording {
            return None;
        }
        let limit = self.options.max_duration_ms?;
        let next = if self.warned[1] {
            limit
        } else {
            self.options.warn_at(limit)
        };
        self.clock.when(next)
    }

    /// Runs whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.tick(now);
    }

    // ---- internals ----

    /// Every entry point that may emit: refuses while outputs pile up, then catches up on time.
    fn enter(&mut self, now: Millis) -> Result<(), RecorderError> {
        if self.outputs.len() >= MAX_PENDING_OUTPUTS {
            return Err(RecorderError::OutputNotDrained);
        }
        self.tick(now);
        Ok(())
    }

    /// Advances to `now` and applies the duration cap.
    fn tick(&mut self, now: Millis) {
        self.now = self.now.max(now);
        if self.state != RecorderState::Recording {
            return;
        }
        let Some(limit) = self.options.max_duration_ms else {
            return;
        };
        let used = self.clock.at(self.now);
        self.check_cap(Cap::Duration, used, limit);
    }

    /// Warns once near a cap (not when the same step reaches it), stops at it.
    fn check_cap(&mut self, cap: Cap, used: u64, limit: u64) {
        let warned = match cap {
            Cap::Size => 0,
            Cap::Duration => 1,
        };
        if used >= limit {
            self.event(RecorderEvent::CapReached(CapReached { cap, used, limit }));
            let cause = match cap {
                Cap::Size => EndCause::SizeCap,
                Cap::Duration => EndCause::DurationCap,
            };
            self.end(cause, RecorderState::Stopped);
        } else if !self.warned[warned] && used >= self.options.warn_at(limit) {
            self.warned[warned] = true;
            self.event(RecorderEvent::CapWarning(CapWarning { cap, used, limit }));
        }
    }

    fn expect(&self, states: &[RecorderState], action: &'static str) -> Result<(), RecorderError> {
        if states.contains(&self.state) {
            Ok(())
        } else {
            Err(RecorderError::InvalidState {
                action,
                state: self.state,
            })
        }
    }

    fn check_consent(&self) -> Result<(), RecorderError> {
        let members = self.gate.missing();
        if members.is_empty() {
            Ok(())
        } else {
            Err(RecorderError::ConsentMissing { members })
        }
    }

    fn consent_lost(&mut self, member: MemberId) {
        if self.state != RecorderState::Recording {
            return;
        }
        self.pause_for(PauseReason::Consent);
        let media_ms = self.clock.at(self.now);
        self.event(RecorderEvent::ConsentPaused(ConsentPaused {
            member,
            media_ms,
        }));
    }

    fn pause_for(&mut self, reason: PauseReason) {
        self.clock.halt(self.now);
        self.pauses.push(Pause {
            at_ms: self.clock.at(self.now),
            reason,
        });
        self.command(RecorderCommand::Pause);
        self.set_state(RecorderState::Paused);
    }

    fn end(&mut self, cause: EndCause, state: RecorderState) {
        self.clock.halt(self.now);
        self.ended_by = Some(cause);
        self.command(RecorderCommand::Stop);
        self.set_state(state);
    }

    fn set_state(&mut self, state: RecorderState) {
        self.state = state;
        let media_ms = self.clock.at(self.now);
        self.event(RecorderEvent::StateChanged(StateChanged {
            state,
            media_ms,
        }));
    }

    /// How many marks the manifest holds: a change of any is kept at the next chunk.
    fn marks(&self) -> usize {
        let ended = self.sources.iter().filter(|s| s.end_ms.is_some()).count();
        self.bookmarks.len() + self.clips.len() + self.pauses.len() + self.sources.len() + ended
    }

    /// Asks for the manifest to be kept when due (see [`KEEP_EVERY_CHUNK_UP_TO`]), or
    /// `always`.
    fn keep_manifest_if_due(&mut self, always: bool) {
        let marks = self.marks();
        let due = always
            || self.chunks.len() <= KEEP_EVERY_CHUNK_UP_TO
            || self.kept.is_none_or(|(at, kept_marks)| {
                kept_marks != marks || self.now.0.saturating_sub(at.0) >= KEEP_INTERVAL_MS
            });
        if due {
            self.kept = Some((self.now, marks));
            self.command(RecorderCommand::KeepManifest);
        }
    }

    fn command(&mut self, command: RecorderCommand) {
        self.outputs.push_back(RecorderOutput::Command(command));
    }

    fn event(&mut self, event: RecorderEvent) {
        self.outputs.push_back(RecorderOutput::Event(event));
    }
}

#[cfg(test)]
mod caps_tests;
#[cfg(test)]
mod consent_tests;
#[cfg(test)]
mod json_tests;
#[cfg(test)]
mod marks_tests;
#[cfg(test)]
mod tests;
