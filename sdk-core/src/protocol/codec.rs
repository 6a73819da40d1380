//! The wire form of the protocol types, through [`crate::json`].
//!
//! Field order here is the order on the wire; the snapshots in `tests.rs` pin it.

use super::fields::{FieldError, Fields};
use super::*;
use crate::json::{ObjectWriter, ToJson};

/// `{"v":1,"type":kind,…}` with the fields `write` adds.
pub(super) fn encode(kind: &str, write: impl FnOnce(&mut ObjectWriter<'_>)) -> String {
    let mut out = String::with_capacity(64);
    let mut w = ObjectWriter::new(&mut out);
    w.field("v", &PROTOCOL_VERSION).field("type", kind);
    write(&mut w);
    w.finish();
    out
}

wire_names!(Role {
    Host => "host",
    Guest => "guest",
    Observer => "observer",
});
wire_names!(Source {
    Camera => "camera",
    Microphone => "microphone",
    Screen => "screen",
});
wire_names!(RecordingPolicy {
    None => "none",
    Local => "local",
    Cloud => "cloud",
});
wire_names!(RecordingMode {
    Local => "local",
    Cloud => "cloud",
});
wire_names!(RecordingAction {
    Start => "start",
    Stop => "stop",
});
wire_names!(RecordingStatus {
    Recording => "recording",
    Stopped => "stopped",
});
wire_names!(LeaveReason {
    Left => "left",
    Timeout => "timeout",
    Removed => "removed",
});

macro_rules! id_json {
    ($($name:ident),+) => {$(
        impl ToJson for $name {
            fn write_json(&self, out: &mut String) {
                json::write_str(out, self.as_str());
            }
        }

        impl FromJson for $name {
            fn from_json(value: Json) -> Result<Self, String> {
                Self::new(String::from_json(value)?).map_err(|e| e.to_string())
            }
        }
    )+};
}
id_json!(MemberId, RoomId);

/// Writes a nested object.
fn object(out: &mut String, write: impl FnOnce(&mut ObjectWriter<'_>)) {
    let mut w = ObjectWriter::new(out);
    write(&mut w);
    w.finish();
}

impl ToJson for Permissions {
    fn write_json(&self, out: &mut String) {
        object(out, |w| {
            w.field("screen", &self.screen)
                .field("recording", &self.recording);
        });
    }
}

impl FromJson for Permissions {
    fn from_json(value: Json) -> Result<Self, String> {
        Fields::nested(value, |f| {
            Ok(Permissions {
                screen: f.or_default("screen")?,
                recording: f.or_default("recording")?,
            })
        })
    }
}

impl ToJson for MemberInfo {
    fn write_json(&self, out: &mut String) {
        object(out, |w| {
            w.field("id", &self.id).field("role", &self.role);
            if !self.published.is_empty() {
                w.field("published", &self.published);
            }
        });
    }
}

impl FromJson for MemberInfo {
    fn from_json(value: Json) -> Result<Self, String> {
        Fields::nested(value, |f| {
            Ok(MemberInfo {
                id: f.req("id")?,
                role: f.req("role")?,
                published: f.or_default("published")?,
            })
        })
    }
}

impl ToJson for Published {
    fn write_json(&self, out: &mut String) {
        object(out, |w| {
            w.field("source", &self.source)
                .opt("stream", self.stream.as_ref());
        });
    }
}

impl FromJson for Published {
    fn from_json(value: Json) -> Result<Self, String> {
        Fields::nested(value, |f| {
            Ok(Published {
                source: f.req("source")?,
                stream: f.opt("stream")?,
            })
        })
    }
}

impl ToJson for MemberRef {
    fn write_json(&self, out: &mut String) {
        object(out, |w| {
            w.field("id", &self.id);
        });
    }
}

impl FromJson for MemberRef {
    fn from_json(value: Json) -> Result<Self, String> {
        Fields::nested(value, |f| Ok(MemberRef { id: f.req("id")? }))
    }
}

impl ToJson for IceServer {
    fn write_json(&self, out: &mut String) {
        object(out, |w| {
            w.field("urls", &self.urls)
                .opt("username", self.username.as_ref())
                .opt("credential", self.credential.as_ref());
        });
    }
}

impl FromJson for IceServer {
    fn from_json(value: Json) -> Result<Self, String> {
        Fields::nested(value, |f| {
            Ok(IceServer {
                urls: f.req("urls")?,
                username: f.opt("username")?,
                credential: f.opt("credential")?,
            })
        })
    }
}

impl IceCandidate {
    /// The candidate's fields, flattened into the frame.
    fn write_fields(&self, w: &mut ObjectWriter<'_>) {
        w.field("candidate", &self.candidate)
            .opt("sdp_mid", self.sdp_mid.as_ref())
            .opt("sdp_m_line_index", self.sdp_m_line_index.as_ref());
    }

    fn from_fields(f: &mut Fields) -> Result<Self, FieldError> {
        Ok(IceCandidate {
            candidate: f.req("candidate")?,
            sdp_mid: f.opt("sdp_mid")?,
            sdp_m_line_index: f.opt("sdp_m_line_index")?,
        })
    }
}

impl ClientMessage {
    pub(super) fn write_fields(&self, w: &mut ObjectWriter<'_>) {
        match self {
            Self::Join {
                token,
                resume_token,
            } => {
                w.field("token", token)
                    .opt("resume_token", resume_token.as_ref());
            }
            Self::Offer { to, sdp } | Self::Answer { to, sdp } => {
                w.opt("to", to.as_ref()).field("sdp", sdp);
            }
            Self::Candidate { to, candidate } => {
                w.opt("to", to.as_ref());
                candidate.write_fields(w);
            }
            Self::Publish { source, stream } => {
                w.field("source", source).opt("stream", stream.as_ref());
            }
            Self::Unpublish { source } => {
                w.field("source", source);
            }
            Self::Consent { recording } => {
                w.field("recording", recording);
            }
            Self::Recording { action, mode } => {
                w.field("action", action).field("mode", mode);
            }
            Self::QueueNext | Self::Leave | Self::Ping => {}
        }
    }

    /// The message of type `kind` (one of `CLIENT_TYPES`) from its fields.
    pub(super) fn from_fields(kind: &str, mut fields: Fields) -> Result<Self, FieldError> {
        let f = &mut fields;
        Ok(match kind {
            "join" => Self::Join {
                token: f.req("token")?,
                resume_token: f.opt("resume_token")?,
            },
            "offer" => Self::Offer {
                to: f.opt("to")?,
                sdp: f.req("sdp")?,
            },
            "answer" => Self::Answer {
                to: f.opt("to")?,
                sdp: f.req("sdp")?,
            },
            "candidate" => Self::Candidate {
                to: f.opt("to")?,
                candidate: IceCandidate::from_fields(f)?,
            },
            "publish" => Self::Publish {
                source: f.req("source")?,
                stream: f.opt("stream")?,
            },
            "unpublish" => Self::Unpublish {
                source: f.req("source")?,
            },
            "consent" => Self::Consent {
                recording: f.req("recording")?,
            },
            "recording" => Self::Recording {
                action: f.req("action")?,
                mode: f.req("mode")?,
            },
            "queue_next" => Self::QueueNext,
            "leave" => Self::Leave,
            "ping" => Self::Ping,
            other => return Err(("type", json::unknown_name(other))),
        })
    }
}

impl ServerMessage {
    /// The wire `type` of this message.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Welcome { .. } => "welcome",
            Self::MemberJoined { .. } => "member_joined",
            Self::MemberLeft { .. } => "member_left",
            Self::Offer { .. } => "offer",
            Self::Answer { .. } => "answer",
            Self::Candidate { .. } => "candidate",
            Self::Published { .. } => "published",
            Self::Unpublished { .. } => "unpublished",
            Self::Queue { .. } => "queue",
            Self::Assigned { .. } => "assigned",
            Self::Permissions { .. } => "permissions",
            Self::RecordingState { .. } => "recording_state",
            Self::Error { .. } => "error",
            Self::Pong => "pong",
        }
    }

    pub(super) fn write_fields(&self, w: &mut ObjectWriter<'_>) {
        match self {
            Self::Welcome {
                session_id,
                member,
                room,
                members,
                permissions,
                capabilities,
                ice_servers,
                resume_token,
                resumed,
            } => {
                w.field("session_id", session_id)
                    .field("member", member)
                    .field("room", room)
                    .field("members", members)
                    .field("permissions", permissions)
                    .field("capabilities", capabilities)
                    .field("ice_servers", ice_servers)
                    .field("resume_token", resume_token)
                    .field("resumed", resumed);
            }
            Self::MemberJoined { member } => {
                w.field("member", member);
            }
            Self::MemberLeft { member, reason } => {
                w.field("member", member).field("reason", reason);
            }
            Self::Offer { from, sdp } | Self::Answer { from, sdp } => {
                w.field("from", from).field("sdp", sdp);
            }
            Self::Candidate { from, candidate } => {
                w.field("from", from);
                candidate.write_fields(w);
            }
            Self::Published {
                member,
                source,
                stream,
            } => {
                w.field("member", member)
                    .field("source", source)
                    .opt("stream", stream.as_ref());
            }
            Self::Unpublished { member, source } => {
                w.field("member", member).field("source", source);
            }
            Self::Queue { position } => {
                w.field("position", position);
            }
            Self::Assigned { room, agent } => {
                w.field("room", room).field("agent", agent);
            }
            Self::Permissions {
                permissions,
                capabilities,
            } => {
                w.field("permissions", permissions)
                    .field("capabilities", capabilities);
            }
            Self::RecordingState { mode, state } => {
                w.field("mode", mode).field("state", state);
            }
            Self::Error {
                code,
                message,
                reference,
            } => {
                w.field("code", code)
                    .field("message", message)
                    .opt("ref", reference.as_ref());
            }
            Self::Pong => {}
        }
    }

    /// The message of type `kind` (one of `SERVER_TYPES`) from its fields.
    pub(super) fn from_fields(kind: &str, mut fields: Fields) -> Result<Self, FieldError> {
        let f = &mut fields;
        Ok(match kind {
            "welcome" => Self::Welcome {
                session_id: f.req("session_id")?,
                member: f.req("member")?,
                room: f.req("room")?,
                members: f.req("members")?,
                permissions: f.req("permissions")?,
                capabilities: f.or_default("capabilities")?,
                ice_servers: f.or_default("ice_servers")?,
                resume_token: f.req("resume_token")?,
                resumed: f.or_default("resumed")?,
            },
            "member_joined" => Self::MemberJoined {
                member: f.req("member")?,
            },
            "member_left" => Self::MemberLeft {
                member: f.req("member")?,
                reason: f.req("reason")?,
            },
            "offer" => Self::Offer {
                from: f.req("from")?,
                sdp: f.req("sdp")?,
            },
            "answer" => Self::Answer {
                from: f.req("from")?,
                sdp: f.req("sdp")?,
            },
            "candidate" => Self::Candidate {
                from: f.req("from")?,
                candidate: IceCandidate::from_fields(f)?,
            },
            "published" => Self::Published {
                member: f.req("member")?,
                source: f.req("source")?,
                stream: f.opt("stream")?,
            },
            "unpublished" => Self::Unpublished {
                member: f.req("member")?,
                source: f.req("source")?,
            },
            "queue" => Self::Queue {
                position: f.req("position")?,
            },
            "assigned" => Self::Assigned {
                room: f.req("room")?,
                agent: f.req("agent")?,
            },
            "permissions" => Self::Permissions {
                permissions: f.req("permissions")?,
                capabilities: f.req("capabilities")?,
            },
            "recording_state" => Self::RecordingState {
                mode: f.req("mode")?,
                state: f.req("state")?,
            },
            "error" => Self::Error {
                code: f.req("code")?,
                message: f.req("message")?,
                reference: f.opt("ref")?,
            },
            "pong" => Self::Pong,
            other => return Err(("type", json::unknown_name(other))),
        })
    }
}
