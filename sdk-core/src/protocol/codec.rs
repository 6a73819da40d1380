//! The wire form of the protocol types, through [`crate::json`].
//!
//! Each message is declared once, in the [`messages!`] tables at the end: its `type` name and
//! its fields, each with its wire name and how it is read. The type lists, `kind()`, the
//! encoder and the decoder are generated from them. Field order in a table is the order on
//! the wire; the snapshots in `tests.rs` pin it.

use super::fields::{FieldError, Fields, Read};
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

macro_rules! id_json {
    ($($name:ident),+) => {$(
        impl ToJson for $name {
            fn write_json(&self, out: &mut String) {
                json::write_str(out, self.as_str());
            }
        }

        impl FromJson for $name {
            fn from_json(value: Json) -> Result<Self, String> {
                Self::new(String::from_json(value)?).map_err(|e| e.message())
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
            w.opt("diagnostics", self.diagnostics.as_ref());
            if self.recording_consent {
                w.field("recording_consent", &true);
            }
        });
    }
}

impl FromJson for MemberInfo {
    fn from_json(value: Json) -> Result<Self, String> {
        Fields::nested(value, |f| {
            let id = f.req("id")?;
            let role = f.req("role")?;
            let diagnostics = f.opt("diagnostics")?;
            let recording_consent = f.or_default("recording_consent")?;
            let items: Vec<Json> = f.or_default("published")?;
            let mut published = Vec::with_capacity(items.len());
            for item in items {
                // A source a newer server added is skipped: this client cannot receive it as
                // anything it knows, and the rest of the member is still good.
                let item = Published::from_json_open(item);
                if let Some(p) = f.check("published", item)? {
                    published.push(p);
                }
            }
            Ok(MemberInfo {
                id,
                role,
                published,
                diagnostics,
                recording_consent,
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

impl Published {
    /// Like `from_json`, but `None` for a source this version does not know.
    fn from_json_open(value: Json) -> Result<Option<Self>, String> {
        Fields::nested(value, |f| {
            let Ok(source) = f.known::<Source>("source")? else {
                return Ok(None);
            };
            Ok(Some(Published {
                source,
                stream: f.opt("stream")?,
            }))
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

/// A group of fields written into, and read from, the enclosing frame (not a nested object).
trait Flattened: Sized {
    fn write_fields(&self, w: &mut ObjectWriter<'_>);
    fn from_fields(f: &mut Fields) -> Read<Self>;
}

impl Flattened for IceCandidate {
    fn write_fields(&self, w: &mut ObjectWriter<'_>) {
        w.field("candidate", &self.candidate)
            .opt("sdp_mid", self.sdp_mid.as_ref())
            .opt("sdp_m_line_index", self.sdp_m_line_index.as_ref());
    }

    fn from_fields(f: &mut Fields) -> Read<Self> {
        Ok(IceCandidate {
            candidate: f.req("candidate")?,
            sdp_mid: f.opt("sdp_mid")?,
            sdp_m_line_index: f.opt("sdp_m_line_index")?,
        })
    }
}

/// Reads one field of a message table row. Modes: `req` (required), `opt` (absent or `null`
/// is `None`), `default` (absent or `null` is `Default::default()`), `flat` (a [`Flattened`]
/// group), `open` (a required wire-named value; an unknown name makes the whole frame
/// [`ServerMessage::Unsupported`]).
macro_rules! read_field {
    ($f:ident, $kind:literal, req, $wire:literal) => {
        $f.req($wire)?
    };
    ($f:ident, $kind:literal, opt, $wire:literal) => {
        $f.opt($wire)?
    };
    ($f:ident, $kind:literal, default, $wire:literal) => {
        $f.or_default($wire)?
    };
    ($f:ident, $kind:literal, flat, $wire:literal) => {
        Flattened::from_fields($f)?
    };
    ($f:ident, $kind:literal, open, $wire:literal) => {
        match $f.known($wire)? {
            Ok(value) => value,
            Err(value) => {
                return Ok(Self::Unsupported {
                    kind: $kind,
                    field: $wire,
                    value,
                });
            }
        }
    };
}

/// Writes one field of a message table row (see [`read_field!`] for the modes).
macro_rules! write_field {
    ($w:ident, opt, $wire:literal, $value:ident) => {
        $w.opt($wire, $value.as_ref());
    };
    ($w:ident, flat, $wire:literal, $value:ident) => {
        $value.write_fields($w);
    };
    ($w:ident, $mode:ident, $wire:literal, $value:ident) => {
        $w.field($wire, $value);
    };
}

/// The one declaration of a message enum's wire form: `Variant = "type" { field: mode "wire",
/// … }` per message, in the order fields go on the wire. Generates the list of type names,
/// `kind()`, `write_fields` and `from_fields`. `unlisted` names a variant that has no `type`
/// of its own (it is decoded from another's frame) and its kind.
macro_rules! messages {
    (
        $ty:ident, $types:ident;
        $( $variant:ident = $name:literal { $( $field:ident : $mode:ident $wire:literal ),* $(,)? } ),+ $(,)?
        $( ; unlisted $upat:pat => $ukind:expr )?
    ) => {
        /// Every `type` name of this direction, in declaration order.
        pub(super) const $types: &[&str] = &[$($name),+];

        impl $ty {
            /// The wire `type` of this message.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => $name,)+
                    $($upat => $ukind,)?
                }
            }

            pub(super) fn write_fields(&self, w: &mut ObjectWriter<'_>) {
                match self {
                    $(Self::$variant { $($field),* } => {
                        $(write_field!(w, $mode, $wire, $field);)*
                    })+
                    $(#[allow(unused_variables)] $upat => {})?
                }
            }

            /// The message of type `kind` (one of the type names) from its fields.
            pub(super) fn from_fields(kind: &str, mut fields: Fields) -> Result<Self, FieldError> {
                let read = Self::read_fields(kind, &mut fields);
                fields.finish(read)
            }

            fn read_fields(kind: &str, f: &mut Fields) -> Read<Self> {
                match kind {
                    $($name => {
                        $(let $field = read_field!(f, $name, $mode, $wire);)*
                        Ok(Self::$variant { $($field),* })
                    })+
                    other => Err(f.fail("type", json::unknown_name(other))),
                }
            }
        }
    };
}

messages! {
    ClientMessage, CLIENT_TYPES;
    Join = "join" { token: req "token", resume_token: opt "resume_token" },
    Offer = "offer" { to: opt "to", sdp: req "sdp" },
    Answer = "answer" { to: opt "to", sdp: req "sdp" },
    Candidate = "candidate" { to: opt "to", candidate: flat "candidate" },
    // Strict: a client may only publish what the server knows.
    Publish = "publish" { source: req "source", stream: opt "stream" },
    Unpublish = "unpublish" { source: req "source" },
    Consent = "consent" { recording: req "recording" },
    Recording = "recording" { action: req "action", mode: req "mode" },
    Diagnostics = "diagnostics" { report: req "report" },
    QueueNext = "queue_next" {},
    Leave = "leave" {},
    Ping = "ping" {},
}

messages! {
    ServerMessage, SERVER_TYPES;
    Welcome = "welcome" {
        session_id: req "session_id",
        member: req "member",
        room: req "room",
        members: req "members",
        permissions: req "permissions",
        capabilities: default "capabilities",
        ice_servers: default "ice_servers",
        resume_token: req "resume_token",
        resumed: default "resumed",
    },
    MemberJoined = "member_joined" { member: req "member" },
    MemberLeft = "member_left" { member: req "member", reason: req "reason" },
    Offer = "offer" { from: req "from", sdp: req "sdp" },
    Answer = "answer" { from: req "from", sdp: req "sdp" },
    Candidate = "candidate" { from: req "from", candidate: flat "candidate" },
    // Open: a source a newer server added must not break an older client.
    Published = "published" { member: req "member", source: open "source", stream: opt "stream" },
    Unpublished = "unpublished" { member: req "member", source: open "source" },
    Queue = "queue" { position: req "position" },
    Assigned = "assigned" { room: req "room", agent: req "agent" },
    Permissions = "permissions" { permissions: req "permissions", capabilities: req "capabilities" },
    RecordingState = "recording_state" { mode: req "mode", state: req "state" },
    MemberConsent = "member_consent" { member: req "member", recording: req "recording" },
    MemberDiagnostics = "member_diagnostics" { member: req "member", report: req "report" },
    Error = "error" { code: req "code", message: req "message", reference: opt "ref" },
    Pong = "pong" {};
    unlisted Self::Unsupported { kind, .. } => kind
}
