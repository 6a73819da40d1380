//! The signaling wire protocol: JSON text frames over WebSocket at `/v1/signal`.
//!
//! Every frame is one object `{"v":1,"type":"…",…}` with snake_case fields. Decoding is strict
//! about what it must be (version, known type, field syntax, size caps) and tolerant of extra
//! fields, so a newer peer can add fields without breaking an older one.
//!
//! ```
//! use assistrtc_core::protocol::{self, ClientMessage};
//!
//! let msg = protocol::decode_client(r#"{"v":1,"type":"publish","source":"screen"}"#).unwrap();
//! assert!(matches!(msg, ClientMessage::Publish { .. }));
//! let err = protocol::decode_client(r#"{"v":2,"type":"ping"}"#).unwrap_err();
//! assert_eq!(err.code(), protocol::ErrorCode::UnsupportedVersion);
//! ```

use std::fmt;

use crate::json::{self, FromJson, Json, JsonError, wire_enum};
use crate::permissions::Capabilities;
use crate::text;

mod codec;
mod url;
mod validate;

pub use url::{api_url, signal_url};
pub(crate) mod fields;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u64 = 1;
/// Largest accepted signaling frame, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Largest accepted SDP body, in bytes (leaves room for the envelope inside a frame).
pub const MAX_SDP_BYTES: usize = 60 * 1024;
/// Largest accepted ICE candidate line, in bytes.
pub const MAX_CANDIDATE_BYTES: usize = 1024;
/// Largest accepted token (join token or resume token), in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Largest accepted `sdp_mid` or media stream id, in bytes.
pub const MAX_MID_BYTES: usize = 64;
/// Largest accepted free-text field (error messages), in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;
/// Largest shared pre-call report (`diagnostics`), bytes of JSON text.
pub const MAX_REPORT_BYTES: usize = 8 * 1024;
/// Longest accepted room or member id.
pub const MAX_ID_LEN: usize = 64;

wire_enum! {
    /// Stable, machine-readable error codes carried by `error` frames and REST error bodies.
    ///
    /// The set is open: a newer server may send a code this version does not know, which
    /// decodes as [`ErrorCode::Other`] (the frame's `message` still says what happened), so an
    /// older client keeps working. Treat `Other` like [`ErrorCode::Internal`]: the request
    /// failed, for a reason this version cannot act on.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum ErrorCode {
        /// The frame or a field in it is malformed.
        BadRequest = "bad_request",
        /// The frame's `v` is not one this peer speaks.
        UnsupportedVersion = "unsupported_version",
        /// Missing, forged or wrong-room credentials.
        Unauthorized = "unauthorized",
        /// The join token has expired.
        TokenExpired = "token_expired",
        /// The member's capabilities do not allow the action.
        Forbidden = "forbidden",
        /// The room, member or recording does not exist.
        NotFound = "not_found",
        /// The room has no free seat for this member.
        RoomFull = "room_full",
        /// Too many frames in too short a time.
        RateLimited = "rate_limited",
        /// The action conflicts with current state (e.g. joining twice).
        Conflict = "conflict",
        /// The server failed; not the client's fault.
        Internal = "internal",
        /// A code this version does not know (from a newer peer); never sent by this version.
        Other = "other",
    }
    else Other
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame could not be decoded or validated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub enum ProtocolError {
    /// The frame exceeds [`MAX_FRAME_BYTES`].
    FrameTooLarge {
        /// Size of the rejected frame.
        size: usize,
    },
    /// The frame is not a JSON object.
    NotJson(String),
    /// `v` is missing or not [`PROTOCOL_VERSION`].
    UnsupportedVersion(String),
    /// `type` is missing or unknown (the value as written, shortened).
    UnknownType(String),
    /// An object in the frame has the same key twice (the key, quoted and shortened): JSON
    /// readers disagree on which one counts, so the frame is refused.
    DuplicateKey(String),
    /// A field is missing or has the wrong shape.
    InvalidField(String),
    /// A field is well-formed JSON but breaks a rule (syntax, length cap).
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl ProtocolError {
    /// What is wrong with the frame (also the `Display` text), e.g.
    /// `unsupported protocol version 2`. Built without `core::fmt`, so a browser build that
    /// reports it carries no formatting code.
    pub fn message(&self) -> String {
        match self {
            Self::FrameTooLarge { size } => [
                "frame of ",
                &text::decimal(*size as u64),
                " bytes exceeds the ",
                &text::decimal(MAX_FRAME_BYTES as u64),
                " byte limit",
            ]
            .concat(),
            Self::NotJson(detail) => ["frame is not a JSON object: ", detail].concat(),
            Self::UnsupportedVersion(v) => ["unsupported protocol version ", v].concat(),
            Self::UnknownType(t) => ["unknown message type ", t].concat(),
            Self::DuplicateKey(key) => ["duplicate key ", key].concat(),
            Self::InvalidField(detail) => ["invalid field: ", detail].concat(),
            Self::Invalid { field, reason } => ["field `", field, "` ", reason].concat(),
        }
    }

    /// The wire error code this maps to.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// Validates the id syntax shared by rooms and members: 1–64 of `[A-Za-z0-9_.-]`.
pub fn validate_id(field: &'static str, id: &str) -> Result<(), ProtocolError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ProtocolError::Invalid {
            field,
            reason: [
                "must be 1-",
                &text::decimal(MAX_ID_LEN as u64),
                " characters of A-Z a-z 0-9 _ . -",
            ]
            .concat(),
        })
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(
            feature = "serde",
            derive(serde::Serialize, serde::Deserialize),
            serde(try_from = "String", into = "String")
        )]
        pub struct $name(String);

        impl $name {
            /// Checks the id syntax and wraps it.
            pub fn new(id: impl Into<String>) -> Result<Self, ProtocolError> {
                let id = id.into();
                validate_id($field, &id)?;
                Ok(Self(id))
            }
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ProtocolError;
            fn try_from(id: String) -> Result<Self, Self::Error> {
                Self::new(id)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A member id, unique within a room (e.g. `agent_1`).
    MemberId,
    "member"
);
id_type!(
    /// A room id (e.g. `rm_20251003_001`).
    RoomId,
    "room"
);

wire_enum! {
    /// A member's role in a room.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Role {
        /// The agent: runs the call, annotates, records.
        Host = "host",
        /// The customer.
        Guest = "guest",
        /// Watches only (supervisor, trainee).
        Observer = "observer",
    }
}

wire_enum! {
    /// A kind of media a member can publish.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Source {
        /// A camera video track.
        Camera = "camera",
        /// A microphone audio track.
        Microphone = "microphone",
        /// A screen, window or tab capture (video, optionally with audio).
        Screen = "screen",
    }
}

impl Source {
    /// Every source, in a stable order.
    pub const ALL: [Source; 3] = [Source::Camera, Source::Microphone, Source::Screen];
}

wire_enum! {
    /// Who may record, and where.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub enum RecordingPolicy {
        /// No recording in this room.
        #[default]
        None = "none",
        /// Hosts may record locally (in their browser or app).
        Local = "local",
        /// Hosts may record locally and on the server.
        Cloud = "cloud",
    }
}

wire_enum! {
    /// Where a recording is made.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum RecordingMode {
        /// In the member's own client.
        Local = "local",
        /// On the server.
        Cloud = "cloud",
    }
}

wire_enum! {
    /// Start or stop a recording.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum RecordingAction {
        /// Start recording.
        Start = "start",
        /// Stop recording.
        Stop = "stop",
        /// Pause a running recording (media time stands still; the indicator says so).
        Pause = "pause",
        /// Resume a paused recording; needs the same consent as a start.
        Resume = "resume",
    }
}

wire_enum! {
    /// The state of a recording as reported by the server.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum RecordingStatus {
        /// Recording is running.
        Recording = "recording",
        /// Recording is stopped.
        Stopped = "stopped",
        /// Recording is paused: by the member recording, or because someone present withdrew
        /// consent (or joined without it). It goes on only by an explicit resume.
        Paused = "paused",
    }
}

/// Room-level permissions, in the REST room shape `{"screen":true,"recording":"cloud"}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
pub struct Permissions {
    /// Whether guests and hosts may share a screen.
    pub screen: bool,
    /// Who may record, and where.
    pub recording: RecordingPolicy,
}

/// A member as listed in `welcome` and `member_joined`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member's id.
    pub id: MemberId,
    /// The member's role.
    pub role: Role,
    /// Sources the member currently publishes.
    pub published: Vec<Published>,
    /// The pre-call check report the member shared (`diagnostics`), as JSON text.
    pub diagnostics: Option<String>,
    /// Whether the member consents to being recorded (`consent {recording}`); on the wire as
    /// `recording_consent`, written only when `true`.
    pub recording_consent: bool,
}

/// One published source and the media stream id that carries it, so a receiver can tell a
/// camera from a screen when the track arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// What is published.
    pub source: Source,
    /// The stream id (SDP `msid`) the track arrives in, when known.
    pub stream: Option<String>,
}

/// A reference to a member by id only (used where the role is irrelevant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's id.
    pub id: MemberId,
}

wire_enum! {
    /// Why a member left.
    ///
    /// The set is open: a reason this version does not know (a newer server's) decodes as
    /// [`LeaveReason::Other`]; the member is gone all the same.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum LeaveReason {
        /// The member sent `leave`.
        Left = "left",
        /// The member's connection dropped and the resume grace period ran out.
        Timeout = "timeout",
        /// The server removed the member (room closed, replaced by a new join).
        Removed = "removed",
        /// A reason this version does not know (from a newer server); never sent by this version.
        Other = "other",
    }
    else Other
}

/// A STUN/TURN server the client should use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:` / `turn:` URLs.
    pub urls: Vec<String>,
    /// TURN username.
    pub username: Option<String>,
    /// TURN credential.
    pub credential: Option<String>,
}

/// An ICE candidate as exchanged over signaling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCandidate {
    /// The `candidate:` line; empty means end of candidates.
    pub candidate: String,
    /// The media section id the candidate belongs to.
    pub sdp_mid: Option<String>,
    /// The media section index the candidate belongs to.
    pub sdp_m_line_index: Option<u16>,
}

/// Frames a client sends to the server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// Authenticate and take a seat; `resume_token` takes back a seat held after a drop.
    Join {
        /// The member's JWT from `POST /v1/rooms`.
        token: String,
        /// From a previous `welcome`, to resume inside the grace period.
        resume_token: Option<String>,
    },
    /// An SDP offer, to one member or (without `to`) to every other member.
    Offer {
        /// Recipient.
        to: Option<MemberId>,
        /// The SDP.
        sdp: String,
    },
    /// An SDP answer.
    Answer {
        /// Recipient.
        to: Option<MemberId>,
        /// The SDP.
        sdp: String,
    },
    /// A trickled ICE candidate.
    Candidate {
        /// Recipient.
        to: Option<MemberId>,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// Announce that a source is being published.
    Publish {
        /// What is published.
        source: Source,
        /// The stream id the track is sent in.
        stream: Option<String>,
    },
    /// Announce that a source stopped.
    Unpublish {
        /// What stopped.
        source: Source,
    },
    /// Give or withdraw consent to being recorded.
    Consent {
        /// `true` grants, `false` withdraws.
        recording: bool,
    },
    /// Start or stop a recording.
    Recording {
        /// Start or stop.
        action: RecordingAction,
        /// Local or cloud.
        mode: RecordingMode,
    },
    /// Shares this member's pre-call check report with the room (the user agreed to it):
    /// the server keeps it on the member, lists it in `welcome`, and tells the others.
    Diagnostics {
        /// The report (`diagnostics::DiagnosticReport`'s JSON object), as text, at most
        /// [`MAX_REPORT_BYTES`]. Text, not a nested object, so the server keeps and forwards
        /// exactly what the member sent.
        report: String,
    },
    /// An agent takes the next waiting customer.
    QueueNext,
    /// Leave the room for good.
    Leave,
    /// Keepalive.
    Ping,
}

/// Frames the server sends to a client (decoded field by field by [`decode_server`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// The join succeeded.
    Welcome {
        /// This connection's session id.
        session_id: String,
        /// Who this member is.
        member: MemberInfo,
        /// The room joined.
        room: RoomId,
        /// The other members present.
        members: Vec<MemberInfo>,
        /// Room permissions.
        permissions: Permissions,
        /// What this member may do.
        capabilities: Capabilities,
        /// ICE servers to use.
        ice_servers: Vec<IceServer>,
        /// Present this on `join` after a drop to take the seat back.
        resume_token: String,
        /// Whether this join resumed a held seat (peer connections can be kept).
        resumed: bool,
    },
    /// Another member joined.
    MemberJoined {
        /// Who.
        member: MemberInfo,
    },
    /// Another member left.
    MemberLeft {
        /// Who.
        member: MemberRef,
        /// Why.
        reason: LeaveReason,
    },
    /// A relayed offer.
    Offer {
        /// Sender.
        from: MemberId,
        /// The SDP.
        sdp: String,
    },
    /// A relayed answer.
    Answer {
        /// Sender.
        from: MemberId,
        /// The SDP.
        sdp: String,
    },
    /// A relayed candidate.
    Candidate {
        /// Sender.
        from: MemberId,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// A member started publishing a source.
    Published {
        /// Who.
        member: MemberId,
        /// What.
        source: Source,
        /// The stream id the track arrives in.
        stream: Option<String>,
    },
    /// A member stopped publishing a source.
    Unpublished {
        /// Who.
        member: MemberId,
        /// What.
        source: Source,
    },
    /// Position in the waiting queue.
    Queue {
        /// 1-based position.
        position: u32,
    },
    /// The queue assigned an agent and a room.
    Assigned {
        /// The room to join.
        room: RoomId,
        /// The agent.
        agent: MemberId,
    },
    /// The room's permissions or this member's capabilities changed.
    Permissions {
        /// Room permissions.
        permissions: Permissions,
        /// This member's capabilities.
        capabilities: Capabilities,
    },
    /// A recording started or stopped.
    RecordingState {
        /// Local or cloud.
        mode: RecordingMode,
        /// Recording or stopped.
        state: RecordingStatus,
    },
    /// Another member granted or withdrew its recording consent (`consent`). A recorder
    /// needs everyone's: a withdrawal pauses a running recording.
    MemberConsent {
        /// Who.
        member: MemberId,
        /// The consent now.
        recording: bool,
    },
    /// A member shared its pre-call check report (`diagnostics`).
    MemberDiagnostics {
        /// Who.
        member: MemberId,
        /// The report, JSON object text as the member sent it.
        report: String,
    },
    /// A request failed; the connection stays usable unless it was a failed join.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// The `type` of the frame that caused it, when known.
        reference: Option<String>,
    },
    /// Keepalive answer.
    Pong,
    /// A frame of a known type that names a value this version does not know, such as a
    /// `published` or `unpublished` for a source a newer server added. A client cannot act on
    /// it, so it decodes to this instead of failing, and is ignored; `field` and `value` say
    /// what was not understood (for logs). It has no `type` of its own: servers never send
    /// it, and encoding it writes a bare `{"v":1,"type":kind}` that no decoder accepts.
    Unsupported {
        /// The frame's `type`.
        kind: &'static str,
        /// The field whose value is unknown.
        field: &'static str,
        /// The unknown value, as sent.
        value: String,
    },
}

impl ServerMessage {
    /// Builds an `error` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
            reference: None,
        }
    }
}

/// Encodes a client frame.
pub fn encode_client(msg: &ClientMessage) -> String {
    codec::encode(msg.kind(), |w| msg.write_fields(w))
}

/// Encodes a server frame.
pub fn encode_server(msg: &ServerMessage) -> String {
    codec::encode(msg.kind(), |w| msg.write_fields(w))
}

/// Decodes and validates a client frame.
pub fn decode_client(text: &str) -> Result<ClientMessage, ProtocolError> {
    let (kind, fields) = parse_envelope(text, codec::CLIENT_TYPES)?;
    let msg = ClientMessage::from_fields(&kind, fields).map_err(invalid_field)?;
    msg.validate()?;
    Ok(msg)
}

/// Decodes and validates a server frame.
pub fn decode_server(text: &str) -> Result<ServerMessage, ProtocolError> {
    let (kind, fields) = parse_envelope(text, codec::SERVER_TYPES)?;
    let msg = ServerMessage::from_fields(&kind, fields).map_err(invalid_field)?;
    msg.validate()?;
    Ok(msg)
}

fn invalid_field((field, detail): fields::FieldError) -> ProtocolError {
    ProtocolError::InvalidField([field, ": ", &detail].concat())
}

/// The `type` of a frame, if it can be read; used to fill `error.ref`.
pub fn frame_type(text: &str) -> Option<String> {
    if text.len() > MAX_FRAME_BYTES {
        return None;
    }
    let mut obj = json::parse_obj(text).ok()?;
    String::from_json(obj.take("type")?).ok()
}

/// Checks size, JSON, version and type; returns the type and the remaining fields.
fn parse_envelope(text: &str, known: &[&str]) -> Result<(String, fields::Fields), ProtocolError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(ProtocolError::FrameTooLarge { size: text.len() });
    }
    let mut obj = json::parse_obj(text).map_err(|e| match e {
        JsonError::DuplicateKey { key, .. } => ProtocolError::DuplicateKey(json::quoted(&key)),
        other => ProtocolError::NotJson(other.message()),
    })?;
    match obj.take("v") {
        Some(Json::Int(PROTOCOL_VERSION)) => {}
        Some(other) => return Err(ProtocolError::UnsupportedVersion(other.describe())),
        None => return Err(ProtocolError::UnsupportedVersion("missing".into())),
    }
    match obj.take("type") {
        Some(Json::Str(t)) if known.contains(&t.as_str()) => Ok((t, fields::Fields::new(obj))),
        Some(other) => Err(ProtocolError::UnknownType(other.describe())),
        None => Err(ProtocolError::UnknownType("missing".into())),
    }
}

#[cfg(test)]
mod tests;
