//! The records, enums and events of the native API, mirrored from the core with `From`.

use assistrtc_core::assist::{OverlayView, Point as CorePoint, ShapeKind};
use assistrtc_core::call::Call;
use assistrtc_core::protocol;
use assistrtc_core::session::Event;

/// A kind of media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Source {
    /// A camera.
    Camera,
    /// A microphone.
    Microphone,
    /// A shared screen.
    Screen,
}

impl From<protocol::Source> for Source {
    fn from(s: protocol::Source) -> Self {
        match s {
            protocol::Source::Camera => Self::Camera,
            protocol::Source::Microphone => Self::Microphone,
            protocol::Source::Screen => Self::Screen,
        }
    }
}

impl From<Source> for protocol::Source {
    fn from(s: Source) -> Self {
        match s {
            Source::Camera => Self::Camera,
            Source::Microphone => Self::Microphone,
            Source::Screen => Self::Screen,
        }
    }
}

/// A member and what it publishes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Member {
    /// Its id.
    pub id: String,
    /// `host`, `guest` or `observer`.
    pub role: String,
    /// What it publishes now.
    pub sources: Vec<Source>,
    /// The pre-call check report it shared (the report's JSON), if any.
    pub diagnostics: Option<String>,
    /// Whether it consents to being recorded (always `false` for this member itself; see
    /// `recording_consent` on the call).
    pub recording_consent: bool,
}

/// A point, 0..1 on the shared surface.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct Point {
    /// Across.
    pub x: f64,
    /// Down.
    pub y: f64,
}

/// A box, 0..1 on the shared surface.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct Rect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// A drawn shape.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Shape {
    /// Who drew it.
    pub member: String,
    /// Its id.
    pub id: String,
    /// `#rrggbb`.
    pub color: String,
    /// A box, for a highlight.
    pub rect: Option<Rect>,
    /// Tail and head, for an arrow.
    pub arrow: Option<Vec<Point>>,
}

/// A member's pointer.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Cursor {
    /// Whose.
    pub member: String,
    /// Where.
    pub x: f64,
    /// Where.
    pub y: f64,
}

/// The script step both sides see.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ScriptStep {
    /// Who set it.
    pub member: String,
    /// Ticket id.
    pub ticket: String,
    /// 1-based step.
    pub step: u32,
    /// Number of steps.
    pub total: u32,
    /// Title.
    pub title: String,
}

/// What the assist overlay shows.
#[derive(Debug, Clone, PartialEq, Default, uniffi::Record)]
pub struct Overlay {
    /// Shapes, oldest first.
    pub shapes: Vec<Shape>,
    /// Pointers.
    pub cursors: Vec<Cursor>,
    /// The script step.
    pub step: Option<ScriptStep>,
}

impl From<&OverlayView> for Overlay {
    fn from(v: &OverlayView) -> Self {
        let p = |p: &CorePoint| Point { x: p.x, y: p.y };
        Self {
            shapes: v
                .shapes
                .iter()
                .map(|s| {
                    let (rect, arrow) = match &s.kind {
                        ShapeKind::Highlight { rect } => (
                            Some(Rect {
                                x: rect.x,
                                y: rect.y,
                                w: rect.w,
                                h: rect.h,
                            }),
                            None,
                        ),
                        ShapeKind::Arrow { from, to } => (None, Some(vec![p(from), p(to)])),
                    };
                    Shape {
                        member: s.member.clone(),
                        id: s.id.clone(),
                        color: s.color.clone(),
                        rect,
                        arrow,
                    }
                })
                .collect(),
            cursors: v
                .cursors
                .iter()
                .map(|c| Cursor {
                    member: c.member.clone(),
                    x: c.x,
                    y: c.y,
                })
                .collect(),
            step: v.step.as_ref().map(|s| ScriptStep {
                member: s.member.clone(),
                ticket: s.ticket.clone(),
                step: s.step,
                total: s.total,
                title: s.title.clone(),
            }),
        }
    }
}

/// Something the app should know (the browser SDK's events, by the same names).
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum CallEvent {
    /// The call moved to a new state: `idle`, `joining`, `joined`, `negotiating`,
    /// `connected`, `reconnecting`, `ended`.
    StateChanged {
        /// The new state.
        state: String,
    },
    /// The server accepted the join; fires before `connect()` returns.
    Joined {
        /// This member.
        member: Member,
        /// The room.
        room: String,
        /// The others present.
        members: Vec<Member>,
    },
    /// Another member arrived.
    MemberJoined {
        /// Who.
        member: Member,
    },
    /// Another member left for good: `left`, `timeout`, `removed` or `other`.
    MemberLeft {
        /// Who.
        member: String,
        /// Why.
        reason: String,
    },
    /// A member started publishing a source.
    TrackPublished {
        /// Who.
        member: String,
        /// What.
        source: Source,
    },
    /// A member's media arrived, labelled by source.
    TrackAdded {
        /// Who.
        member: String,
        /// What.
        source: Source,
        /// The track id.
        track: String,
    },
    /// A member stopped publishing a source.
    TrackRemoved {
        /// Who.
        member: String,
        /// What.
        source: Source,
    },
    /// Signaling dropped; retrying.
    Reconnecting {
        /// Attempt number.
        attempt: u32,
        /// Delay before it, ms.
        delay_ms: u64,
    },
    /// Signaling is back; `resumed` when the seat (and media) were kept.
    Reconnected {
        /// Whether the seat was kept.
        resumed: bool,
    },
    /// A member shared its pre-call check report (the report's JSON).
    MemberDiagnostics {
        /// Who.
        member: String,
        /// The report.
        report: String,
    },
    /// Another member granted or withdrew its recording consent.
    MemberConsent {
        /// Who.
        member: String,
        /// The consent now.
        granted: bool,
    },
    /// A recording started, paused or stopped.
    RecordingChanged {
        /// `local` or `cloud`.
        mode: String,
        /// `recording` or `stopped`.
        state: String,
    },
    /// What the assist overlay shows changed.
    OverlayChanged {
        /// What it shows now.
        overlay: Overlay,
    },
    /// A request was refused or a link failed; the call goes on.
    Error {
        /// Stable code.
        code: String,
        /// For people.
        message: String,
    },
    /// The call is over: `left`, `rejected`, `replaced`, `unreachable`, `reconnect_failed`.
    Ended {
        /// Why.
        reason: String,
        /// `None` only when this client left.
        code: Option<String>,
        /// For people.
        message: String,
    },
}

pub(crate) fn members_of(call: &Call) -> Vec<Member> {
    let session = call.session();
    session
        .members()
        .map(|(id, role)| member(call, id.as_str(), role))
        .collect()
}

fn member(call: &Call, id: &str, role: protocol::Role) -> Member {
    let known = protocol::MemberId::new(id).ok();
    let session = call.session();
    let sources = known
        .as_ref()
        .map(|m| {
            session
                .published_by(m)
                .iter()
                .map(|p| p.source.into())
                .collect()
        })
        .unwrap_or_default();
    Member {
        id: id.to_owned(),
        role: role.as_str().to_owned(),
        sources,
        diagnostics: known
            .as_ref()
            .and_then(|m| session.diagnostics_of(m))
            .map(str::to_owned),
        recording_consent: known
            .as_ref()
            .is_some_and(|m| session.recording_consent_of(m)),
    }
}

/// A core event as the app sees it, if it has one.
pub(crate) fn to_event(event: &Event, call: &Call) -> Option<CallEvent> {
    Some(match event {
        Event::StateChanged(e) => CallEvent::StateChanged {
            state: e.state.as_str().to_owned(),
        },
        Event::Joined(e) => CallEvent::Joined {
            member: member(call, e.member.id.as_str(), e.member.role),
            room: e.room.as_str().to_owned(),
            members: e
                .members
                .iter()
                .map(|m| member(call, m.id.as_str(), m.role))
                .collect(),
        },
        Event::MemberJoined(e) => CallEvent::MemberJoined {
            member: member(call, e.member.id.as_str(), e.member.role),
        },
        Event::MemberLeft(e) => CallEvent::MemberLeft {
            member: e.member.as_str().to_owned(),
            reason: e.reason.as_str().to_owned(),
        },
        Event::TrackPublished(e) => CallEvent::TrackPublished {
            member: e.member.as_str().to_owned(),
            source: e.source.into(),
        },
        Event::TrackAdded(e) => CallEvent::TrackAdded {
            member: e.member.as_str().to_owned(),
            source: e.source.into(),
            track: e.track.clone(),
        },
        Event::TrackUnpublished(e) => CallEvent::TrackRemoved {
            member: e.member.as_str().to_owned(),
            source: e.source.into(),
        },
        Event::Reconnecting(e) => CallEvent::Reconnecting {
            attempt: e.attempt,
            delay_ms: e.delay_ms,
        },
        Event::Reconnected(e) => CallEvent::Reconnected { resumed: e.resumed },
        Event::MemberDiagnostics(e) => CallEvent::MemberDiagnostics {
            member: e.member.as_str().to_owned(),
            report: e.report.clone(),
        },
        Event::MemberConsent(e) => CallEvent::MemberConsent {
            member: e.member.as_str().to_owned(),
            granted: e.granted,
        },
        Event::RecordingChanged(e) => CallEvent::RecordingChanged {
            mode: e.mode.as_str().to_owned(),
            state: e.state.as_str().to_owned(),
        },
        Event::OverlayChanged(v) => CallEvent::OverlayChanged { overlay: v.into() },
        Event::Error(e) => CallEvent::Error {
            code: e.code.as_str().to_owned(),
            message: e.message.clone(),
        },
        Event::Ended(e) => CallEvent::Ended {
            reason: e.reason.name().to_owned(),
            code: e.reason.code().map(|c| c.as_str().to_owned()),
            message: e.reason.message(),
        },
        _ => return None,
    })
}
