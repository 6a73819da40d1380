//! What a session tells its application.

use crate::local_error::{Code, LocalErrorCode};
use crate::permissions::Capabilities;
use crate::protocol::{
    ErrorCode, LeaveReason, MemberId, MemberInfo, Permissions, RecordingMode, RecordingStatus,
    RoomId, Source,
};
use crate::recorder::{RecorderEvent, UploadEvent};
use crate::text;

use super::{LinkId, SessionState};
use crate::assist::OverlayView;

/// Something the application should know. New variants may be added.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The session moved to a new state.
    StateChanged(StateChanged),
    /// The join (or a fresh re-join) was accepted.
    Joined(Joined),
    /// Another member arrived.
    MemberJoined(MemberJoined),
    /// Another member left for good.
    MemberLeft(MemberLeft),
    /// A member started publishing a source.
    TrackPublished(TrackPublished),
    /// A member stopped publishing a source.
    TrackUnpublished(TrackUnpublished),
    /// This member's permissions or capabilities changed.
    PermissionsChanged(PermissionsChanged),
    /// The signaling link dropped; a retry is scheduled.
    Reconnecting(Reconnecting),
    /// Signaling is back.
    Reconnected(Reconnected),
    /// A recording started or stopped.
    RecordingChanged(RecordingChanged),
    /// A member shared its pre-call check report.
    MemberDiagnostics(MemberDiagnostics),
    /// Another member granted or withdrew its recording consent.
    MemberConsent(MemberConsent),
    /// This member's local recording ([`Call`](crate::call::Call)'s recorder): its state,
    /// progress, caps, a consent pause, a failure.
    Recording(RecorderEvent),
    /// An upload of a local recording made progress, was created, retries, is done or failed.
    Upload(UploadReported),
    /// A remote track arrived and is labelled with its member and source (a track that
    /// arrives before the `published` naming its source is held until then).
    TrackAdded(TrackAdded),
    /// What the assist overlay shows changed.
    OverlayChanged(OverlayView),
    /// A request was refused or a peer link operation failed; the session goes on.
    Error(ErrorReported),
    /// The session is over; nothing more will happen.
    Ended(Ended),
}

/// The session moved to a new state.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChanged {
    /// The new state.
    pub state: SessionState,
}

/// The server accepted the join.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// This member.
    pub member: MemberInfo,
    /// The room.
    pub room: RoomId,
    /// The other members present.
    pub members: Vec<MemberInfo>,
    /// Room permissions.
    pub permissions: Permissions,
    /// What this member may do.
    pub capabilities: Capabilities,
}

/// Another member arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberJoined {
    /// Who.
    pub member: MemberInfo,
}

/// A member shared its pre-call check report (`diagnostics::DiagnosticReport` JSON text).
#[derive(Debug, Clone, PartialEq)]
pub struct MemberDiagnostics {
    /// Who.
    pub member: MemberId,
    /// The report.
    pub report: String,
}

/// What an upload of a local recording reported.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadReported {
    /// The recording's storage key (the driver's).
    pub key: String,
    /// What happened.
    pub event: UploadEvent,
}

/// Another member granted or withdrew its recording consent.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberConsent {
    /// Who.
    pub member: MemberId,
    /// The consent now.
    pub granted: bool,
}

/// Another member left.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberLeft {
    /// Who.
    pub member: MemberId,
    /// Why.
    pub reason: LeaveReason,
}

/// A member started publishing a source.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPublished {
    /// Who publishes.
    pub member: MemberId,
    /// What.
    pub source: Source,
    /// The media stream id the track arrives in, if the publisher said.
    pub stream: Option<String>,
}

/// A remote track arrived, labelled.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackAdded {
    /// The link it arrived on.
    pub link: LinkId,
    /// Who sends it.
    pub member: MemberId,
    /// What it is.
    pub source: Source,
    /// The track id the driver reported.
    pub track: String,
    /// The stream id the driver reported.
    pub stream: Option<String>,
}

/// A member stopped publishing a source.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackUnpublished {
    /// Who.
    pub member: MemberId,
    /// What.
    pub source: Source,
}

/// This member's permissions or capabilities changed.
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionsChanged {
    /// Room permissions.
    pub permissions: Permissions,
    /// What this member may do now.
    pub capabilities: Capabilities,
}

/// The signaling link dropped; a retry is scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconnecting {
    /// 1-based attempt number.
    pub attempt: u32,
    /// Delay before this attempt.
    pub delay_ms: u64,
}

/// Signaling is back.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconnected {
    /// `true` when the held seat was resumed and peer links were kept; `false` when the grace
    /// period had passed and the session joined afresh (peer links were rebuilt).
    pub resumed: bool,
}

/// A recording started or stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingChanged {
    /// Local or cloud.
    pub mode: RecordingMode,
    /// Recording, paused or stopped.
    pub state: RecordingStatus,
}

/// A non-fatal error: the server refused a request, sent something undecodable, or a peer link
/// operation failed (`internal`).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorReported {
    /// Stable code.
    pub code: ErrorCode,
    /// Detail.
    pub message: String,
    /// The `type` of the refused frame, when known.
    pub reference: Option<String>,
}

/// The session is over.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    /// Why.
    pub reason: EndReason,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EndReason {
    /// The application called `leave`.
    Left,
    /// The server refused the join (bad or expired token, room full…).
    Rejected {
        /// Stable code.
        code: ErrorCode,
        /// Detail.
        message: String,
    },
    /// Another connection joined as this member.
    Replaced,
    /// The server could not be reached for the first join.
    Unreachable,
    /// Reconnecting failed too many times.
    ReconnectFailed {
        /// Attempts made.
        attempts: u32,
    },
}

impl EndReason {
    /// The stable name every SDK reports: `left`, `rejected`, `replaced`, `unreachable`,
    /// `reconnect_failed`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Rejected { .. } => "rejected",
            Self::Replaced => "replaced",
            Self::Unreachable => "unreachable",
            Self::ReconnectFailed { .. } => "reconnect_failed",
        }
    }

    /// The stable code for this ending, for an app (or a pending `connect`) to branch on;
    /// `None` when the application left.
    pub fn code(&self) -> Option<Code> {
        Some(match self {
            Self::Left => return None,
            Self::Rejected { code, .. } => Code::Wire(*code),
            Self::Replaced => Code::Wire(ErrorCode::Conflict),
            Self::Unreachable | Self::ReconnectFailed { .. } => {
                Code::Local(LocalErrorCode::Unreachable)
            }
        })
    }

    /// Why the call ended, for a person (also the `Display` text), e.g. `reconnecting failed
    /// after 5 attempts`; for [`Rejected`](Self::Rejected), the server's message. Built without
    /// `core::fmt`, so a browser build that reports it carries no formatting code.
    pub fn message(&self) -> String {
        match self {
            Self::Left => "the call was left".into(),
            Self::Rejected { message, .. } => message.clone(),
            Self::Replaced => "another connection joined as this member".into(),
            Self::Unreachable => "the signaling server could not be reached".into(),
            Self::ReconnectFailed { attempts } => [
                "reconnecting failed after ",
                &text::decimal(u64::from(*attempts)),
                " attempts",
            ]
            .concat(),
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}
