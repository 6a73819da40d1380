//! What the recorder refuses, and why a recording failed.

use super::RecorderState;
use crate::protocol::{ErrorCode, MemberId};
use crate::text;

/// Misuse of the recorder API, or a command the rules refuse. The recording (if any) goes on
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub enum RecorderError {
    /// The command does not apply in the current state (e.g. `resume` while recording).
    InvalidState {
        /// The command: `start`, `pause`, `resume`, `stop`, `bookmark`, or a driver input
        /// that came too early or too late: `chunk`, `finish` (the platform stopped), `fail`
        /// (a platform error).
        action: &'static str,
        /// The state it was refused in.
        state: RecorderState,
    },
    /// Present members (observers aside) have not consented to being recorded.
    ConsentMissing {
        /// Who, in arrival order.
        members: Vec<MemberId>,
    },
    /// The platform supports none of [`FORMATS`](super::FORMATS).
    NoSupportedFormat,
    /// A [`RecorderOptions`](super::RecorderOptions) field is out of range.
    InvalidOptions {
        /// The field.
        field: &'static str,
    },
    /// A bookmark label is empty or longer than [`MAX_LABEL_BYTES`](super::MAX_LABEL_BYTES).
    InvalidLabel,
    /// The recording already holds [`MAX_BOOKMARKS`](super::MAX_BOOKMARKS) bookmarks or
    /// [`MAX_CLIPS`](super::MAX_CLIPS) clips.
    TooMany {
        /// `bookmarks` or `clips`.
        what: &'static str,
    },
    /// A clip is empty (`from_ms` ≥ `to_ms`) or reaches past what was recorded.
    InvalidClip {
        /// Media time up to which chunks have been recorded.
        recorded_ms: u64,
    },
    /// Outputs were not drained (see the drive rule in the [module docs](super)).
    OutputNotDrained,
}

impl RecorderError {
    /// The stable code applications and bindings branch on: `invalid_state`,
    /// `consent_missing`, `unsupported_format`, `invalid_options`, `invalid_label`,
    /// `too_many`, `invalid_clip`, `output_not_drained`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidState { .. } => "invalid_state",
            Self::ConsentMissing { .. } => "consent_missing",
            Self::NoSupportedFormat => "unsupported_format",
            Self::InvalidOptions { .. } => "invalid_options",
            Self::InvalidLabel => "invalid_label",
            Self::TooMany { .. } => "too_many",
            Self::InvalidClip { .. } => "invalid_clip",
            Self::OutputNotDrained => "output_not_drained",
        }
    }

    /// The nearest wire [`ErrorCode`], for a `Call` that reports every error with one:
    /// `forbidden` for missing consent, `conflict` for state and limits, `internal` for
    /// undrained outputs, `bad_request` otherwise.
    pub fn wire_code(&self) -> ErrorCode {
        match self {
            Self::ConsentMissing { .. } => ErrorCode::Forbidden,
            Self::InvalidState { .. } | Self::TooMany { .. } => ErrorCode::Conflict,
            Self::OutputNotDrained => ErrorCode::Internal,
            Self::NoSupportedFormat
            | Self::InvalidOptions { .. }
            | Self::InvalidLabel
            | Self::InvalidClip { .. } => ErrorCode::BadRequest,
        }
    }

    /// What was refused (also the `Display` text), e.g. `cannot resume while recording`.
    /// Built without `core::fmt`, so a browser build that reports it carries no formatting
    /// code.
    pub fn message(&self) -> String {
        match self {
            Self::InvalidState { action, state } => {
                ["cannot ", action, " while ", state.as_str()].concat()
            }
            Self::ConsentMissing { members } => {
                let mut out = String::from("recording consent is missing from ");
                for (i, m) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(m.as_str());
                }
                out
            }
            Self::NoSupportedFormat => "the platform supports no recording format".into(),
            Self::InvalidOptions { field } => {
                ["recorder option `", field, "` is out of range"].concat()
            }
            Self::InvalidLabel => [
                "a bookmark label must be 1-",
                &text::decimal(super::MAX_LABEL_BYTES as u64),
                " bytes",
            ]
            .concat(),
            Self::TooMany { what } => ["the recording holds too many ", what].concat(),
            Self::InvalidClip { recorded_ms } => [
                "a clip must be non-empty and within the recorded 0-",
                &text::decimal(*recorded_ms),
                " ms",
            ]
            .concat(),
            Self::OutputNotDrained => [
                &text::decimal(super::MAX_PENDING_OUTPUTS as u64),
                " recorder outputs are waiting: drain poll_output after every input",
            ]
            .concat(),
        }
    }
}

/// Why the platform's recorder failed, as the driver maps its error. The string forms are
/// stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureCode {
    /// The platform refused the format or could not start (`NotSupportedError`).
    NotSupported,
    /// The platform refused to record these tracks (`SecurityError`: cross-origin content,
    /// policy).
    Security,
    /// The encoder failed while recording (`EncodingError`, `UnknownError`).
    Encoding,
    /// A chunk could not be stored (`QuotaExceededError` from IndexedDB, disk full).
    StorageFull,
    /// Anything else.
    Unknown,
}

impl FailureCode {
    /// The stable string form: `not_supported`, `security`, `encoding`, `storage_full`,
    /// `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotSupported => "not_supported",
            Self::Security => "security",
            Self::Encoding => "encoding",
            Self::StorageFull => "storage_full",
            Self::Unknown => "unknown",
        }
    }

    /// The code of a platform exception by its name (a `DOMException`'s `name`, from
    /// `MediaRecorder` or IndexedDB).
    pub fn of_exception(name: &str) -> Self {
        match name {
            "NotSupportedError" | "InvalidStateError" => Self::NotSupported,
            "SecurityError" => Self::Security,
            "EncodingError" | "UnknownError" => Self::Encoding,
            "QuotaExceededError" => Self::StorageFull,
            _ => Self::Unknown,
        }
    }

    /// Every code, for bindings that list them.
    pub const ALL: [FailureCode; 5] = [
        Self::NotSupported,
        Self::Security,
        Self::Encoding,
        Self::StorageFull,
        Self::Unknown,
    ];
}
