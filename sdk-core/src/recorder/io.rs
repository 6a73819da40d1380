//! What the driver feeds the recorder, and what it gets back.

use super::{FailureCode, RecorderState};
use crate::protocol::{MemberId, Role, Source};

/// What happened on the platform or in the call, for [`Recorder::handle_input`](super::Recorder::handle_input).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecorderInput {
    /// The platform delivered a chunk of the recording (`MediaRecorder`'s `dataavailable`),
    /// which the driver has stored. Chunks are numbered in the order they are reported.
    ChunkRecorded {
        /// Its size.
        bytes: u64,
    },
    /// The platform's recorder really began (`MediaRecorder`'s `start` event), which may be
    /// well after it was commanded to (Firefox waits until every track has data, a second or
    /// more on a loaded machine). Media time then counts from here: what was marked in the
    /// wait moves to 0. Optional: without it, media time counts from the command.
    MediaRecorderStarted,
    /// The platform's recorder stopped (`MediaRecorder`'s `stop`): every chunk has been
    /// delivered. After a [`RecorderCommand::Stop`] this completes the recording; unasked,
    /// it means the platform ended it (every recorded track ended).
    MediaRecorderStopped,
    /// The platform's recorder failed (`MediaRecorder`'s `error`), or storing a chunk failed.
    PlatformError {
        /// What failed.
        code: FailureCode,
        /// The platform's message, for logs.
        detail: String,
    },
    /// A member is present (joined, or was present when recording was set up), or its role or
    /// consent changed. The local member is reported like any other.
    MemberPresent {
        /// Who.
        member: MemberId,
        /// Its role; observers need no consent.
        role: Role,
        /// Whether it consents to being recorded.
        consented: bool,
    },
    /// A present member granted or withdrew recording consent. Ignored for a member not
    /// reported present.
    ConsentChanged {
        /// Who.
        member: MemberId,
        /// The consent now.
        granted: bool,
    },
    /// A member left the call.
    MemberLeft {
        /// Who.
        member: MemberId,
    },
    /// A source started to be part of the recording (its track was added to what the platform
    /// records). Reported before `start`, it starts at media time 0.
    SourceStarted {
        /// Whose.
        member: MemberId,
        /// Which.
        source: Source,
    },
    /// A source stopped being part of the recording (its track ended or was removed).
    SourceEnded {
        /// Whose.
        member: MemberId,
        /// Which.
        source: Source,
    },
}

/// What the driver must do, or tell the application, from
/// [`Recorder::poll_output`](super::Recorder::poll_output).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum RecorderOutput {
    /// Run this on the platform's recorder.
    Command(RecorderCommand),
    /// Tell the application.
    Event(RecorderEvent),
}

/// A command for the platform's recorder (`MediaRecorder` in a browser).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecorderCommand {
    /// Create the recorder with this MIME type and start it, delivering a chunk every
    /// `timeslice_ms` (`new MediaRecorder(stream, {mimeType: mime})`, `start(timeslice_ms)`).
    StartMediaRecorder {
        /// One of [`FORMATS`](super::FORMATS)' MIME types, which the platform said it supports.
        mime: &'static str,
        /// Chunk interval.
        timeslice_ms: u64,
    },
    /// `pause()`.
    Pause,
    /// `resume()`.
    Resume,
    /// `stop()`: the platform delivers its last chunk, then reports
    /// [`RecorderInput::MediaRecorderStopped`]. Harmless when it already stopped.
    Stop,
    /// Take `member`'s `source` into the recording's picture and sound from now on (it began
    /// after the recording did). From the [`Call`](crate::call::Call), which decides what a
    /// recording takes in.
    AddSource {
        /// Whose.
        member: MemberId,
        /// Which.
        source: Source,
    },
    /// Leave `member`'s `source` out from now on (it ended).
    RemoveSource {
        /// Whose.
        member: MemberId,
        /// Which.
        source: Source,
    },
    /// Keep the [`manifest`](super::Recorder::manifest) and the
    /// [`sidecar`](super::Recorder::sidecar) beside the stored chunks now, so a recording a
    /// crash interrupts can be completed later (see [`KEEP_EVERY_CHUNK_UP_TO`](super::KEEP_EVERY_CHUNK_UP_TO)
    /// for how often).
    KeepManifest,
}

/// Something the application should know about the recording. New variants may be added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecorderEvent {
    /// The recorder moved to a new state.
    StateChanged(StateChanged),
    /// A chunk was recorded.
    Progress(Progress),
    /// A cap is near (sent once per cap).
    CapWarning(CapWarning),
    /// A cap was reached; the recording stopped.
    CapReached(CapReached),
    /// Recording paused because a member lacks consent (withdrew it, or joined without it).
    ConsentPaused(ConsentPaused),
    /// The platform's recorder failed; the recording is over. What was recorded is kept.
    Failed(Failed),
}

/// The recorder moved to a new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChanged {
    /// The new state.
    pub state: RecorderState,
    /// Media time when it changed.
    pub media_ms: u64,
}

/// A chunk was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes recorded so far.
    pub bytes: u64,
    /// Media time recorded so far.
    pub duration_ms: u64,
}

/// Which cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cap {
    /// [`RecorderOptions::max_bytes`](super::RecorderOptions::max_bytes).
    Size,
    /// [`RecorderOptions::max_duration_ms`](super::RecorderOptions::max_duration_ms).
    Duration,
}

impl Cap {
    /// The stable name: `size` or `duration`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Size => "size",
            Self::Duration => "duration",
        }
    }
}

/// A cap is near.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapWarning {
    /// Which cap.
    pub cap: Cap,
    /// Bytes or milliseconds used.
    pub used: u64,
    /// The cap, in the same unit.
    pub limit: u64,
}

/// A cap was reached; a [`StateChanged`] to stopped follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapReached {
    /// Which cap.
    pub cap: Cap,
    /// Bytes or milliseconds used.
    pub used: u64,
    /// The cap, in the same unit.
    pub limit: u64,
}

/// Recording paused for lack of consent. Tell everyone in the call (it is the only pause the
/// customer did not ask for); it resumes only by an explicit
/// [`Recorder::resume`](super::Recorder::resume) once everyone present consents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentPaused {
    /// The member whose withdrawal or arrival paused it.
    pub member: MemberId,
    /// Media time at the pause.
    pub media_ms: u64,
}

/// The platform's recorder failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// What failed.
    pub code: FailureCode,
    /// The platform's message.
    pub detail: String,
}
