//! The manifest: what a recording holds, written beside its chunks.

use super::RecordingFormat;
use crate::json::{ObjectWriter, ToJson};
use crate::protocol::{MemberId, Source};

use super::RecorderState;

/// Manifest format version.
pub const MANIFEST_VERSION: u64 = 1;

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndCause {
    /// `stop` was called.
    User,
    /// The size cap was reached.
    SizeCap,
    /// The duration cap was reached.
    DurationCap,
    /// The platform stopped on its own: every recorded track ended.
    SourceEnded,
    /// The platform's recorder failed.
    Failed,
}

impl EndCause {
    /// The stable name: `user`, `size_cap`, `duration_cap`, `source_ended`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::SizeCap => "size_cap",
            Self::DurationCap => "duration_cap",
            Self::SourceEnded => "source_ended",
            Self::Failed => "failed",
        }
    }
}

/// Why a recording paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PauseReason {
    /// `pause` was called.
    User,
    /// A present member lacks recording consent.
    Consent,
}

impl PauseReason {
    /// The stable name: `user` or `consent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Consent => "consent",
        }
    }
}

/// One recorded chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Its number, from 0, in delivery order.
    pub seq: u32,
    /// Its size.
    pub bytes: u64,
    /// Media time the previous chunk ended at.
    pub start_ms: u64,
    /// Media time it was delivered at.
    pub end_ms: u64,
}

/// A pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    /// Media time it began at.
    pub at_ms: u64,
    /// Why.
    pub reason: PauseReason,
}

/// A recorded source's span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpan {
    /// Whose.
    pub member: MemberId,
    /// Which.
    pub source: Source,
    /// Media time it started at.
    pub start_ms: u64,
    /// Media time it ended at, if it did.
    pub end_ms: Option<u64>,
}

/// A named point in the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bookmark {
    /// Media time.
    pub at_ms: u64,
    /// What the user called it.
    pub label: String,
}

/// A range of the recording marked for keeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clip {
    /// Media time it starts at.
    pub from_ms: u64,
    /// Media time it ends at.
    pub to_ms: u64,
    /// The first chunk holding part of it.
    pub first_chunk: u32,
    /// The last chunk holding part of it.
    pub last_chunk: u32,
}

/// The manifest: what a recording holds, written beside its chunks.
///
/// One JSON object, fields always in this order (optional ones left out when absent). All
/// times are media time in milliseconds — the recording's own clock, which stands still
/// while it is paused — so every source, chunk, bookmark and clip is on one clock.
///
/// | field | meaning |
/// |---|---|
/// | `version` | manifest format version, [`MANIFEST_VERSION`] |
/// | `state` | the recorder's state when written: `recording`, `paused`, `stopped`, `failed` (`idle` before start) |
/// | `complete` | `true` once the platform delivered its last chunk after the end |
/// | `ended_by` | why it ended: `user`, `size_cap`, `duration_cap`, `source_ended`, `failed`; absent while running |
/// | `mime` | the MIME type recorded (one of [`FORMATS`](super::FORMATS)); absent before start |
/// | `container` | `webm` or `mp4` |
/// | `video_codec` | `vp9`, `vp8` or `h264` |
/// | `audio_codec` | `opus` or `aac` |
/// | `timeslice_ms` | the chunk interval asked of the platform |
/// | `wall_clock_start_ms` | Unix time at start, as the driver's wall clock said; absent if not given |
/// | `duration_ms` | media time recorded (while running: up to the recorder's last command or input) |
/// | `bytes` | total size of the chunks |
/// | `chunks` | `[{seq, bytes, start_ms, end_ms}]`: every chunk in order; `seq` from 0; the media span it was delivered for (chunk 0 carries the container header) |
/// | `pauses` | `[{at_ms, reason}]`: where the recording paused, `reason` `user` or `consent` |
/// | `sources` | `[{member, source, start_ms, end_ms?}]`: each recorded source's span; `end_ms` absent when it lasted to the end (or still lasts) |
/// | `bookmarks` | `[{at_ms, label}]` in the order made |
/// | `clips` | `[{from_ms, to_ms, first_chunk, last_chunk}]`: ranges marked for keeping, with the chunks that cover them |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The recorder's state.
    pub state: RecorderState,
    /// Whether the platform delivered its last chunk after the end.
    pub complete: bool,
    /// Why it ended, once it did.
    pub ended_by: Option<EndCause>,
    /// The format, once started.
    pub format: Option<RecordingFormat>,
    /// The chunk interval.
    pub timeslice_ms: u64,
    /// Unix time at start, if the driver gave it.
    pub wall_clock_start_ms: Option<u64>,
    /// Media time recorded.
    pub duration_ms: u64,
    /// Total size.
    pub bytes: u64,
    /// Chunks, in order.
    pub chunks: Vec<Chunk>,
    /// Pauses, in order.
    pub pauses: Vec<Pause>,
    /// Sources, in the order they started.
    pub sources: Vec<SourceSpan>,
    /// Bookmarks, in the order made.
    pub bookmarks: Vec<Bookmark>,
    /// Clips, in the order made.
    pub clips: Vec<Clip>,
}

impl ToJson for Manifest {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("version", &MANIFEST_VERSION)
            .field("state", self.state.as_str())
            .field("complete", &self.complete)
            .opt("ended_by", self.ended_by.map(EndCause::as_str));
        if let Some(f) = &self.format {
            w.field("mime", f.mime)
                .field("container", f.container)
                .field("video_codec", f.video_codec)
                .field("audio_codec", f.audio_codec);
        }
        w.field("timeslice_ms", &self.timeslice_ms)
            .opt("wall_clock_start_ms", self.wall_clock_start_ms.as_ref())
            .field("duration_ms", &self.duration_ms)
            .field("bytes", &self.bytes)
            .field("chunks", &self.chunks)
            .field("pauses", &self.pauses)
            .field("sources", &self.sources)
            .field("bookmarks", &self.bookmarks)
            .field("clips", &self.clips);
        w.finish();
    }
}

impl ToJson for Chunk {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("seq", &self.seq)
            .field("bytes", &self.bytes)
            .field("start_ms", &self.start_ms)
            .field("end_ms", &self.end_ms);
        w.finish();
    }
}

impl ToJson for Pause {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("at_ms", &self.at_ms)
            .field("reason", self.reason.as_str());
        w.finish();
    }
}

impl ToJson for SourceSpan {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("member", self.member.as_str())
            .field("source", &self.source)
            .field("start_ms", &self.start_ms)
            .opt("end_ms", self.end_ms.as_ref());
        w.finish();
    }
}

impl ToJson for Bookmark {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("at_ms", &self.at_ms).field("label", &self.label);
        w.finish();
    }
}

impl ToJson for Clip {
    fn write_json(&self, out: &mut String) {
        let mut w = ObjectWriter::new(out);
        w.field("from_ms", &self.from_ms)
            .field("to_ms", &self.to_ms)
            .field("first_chunk", &self.first_chunk)
            .field("last_chunk", &self.last_chunk);
        w.finish();
    }
}
