//! Core events → the JS event payloads documented in the TypeScript section of `lib.rs`.

use assistrtc_core::ToJsonText;
use assistrtc_core::call::Call;
use assistrtc_core::protocol::{MemberId, MemberInfo, Role, Source};
use assistrtc_core::session::Event;
use wasm_bindgen::JsValue;
use web_sys::{MediaStream, MediaStreamTrack};

use crate::js::obj;

fn member(m: &MemberInfo, call: &Call) -> JsValue {
    member_value(&m.id, m.role, call)
}

/// A shared report's JSON text as a JS object.
fn report(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or(JsValue::NULL)
}

/// `{id, role, sources, diagnostics?}`: a member, what it publishes now, and the pre-call
/// report it shared.
pub(crate) fn member_value(id: &MemberId, role: Role, call: &Call) -> JsValue {
    let sources: js_sys::Array = call
        .session()
        .published_by(id)
        .iter()
        .map(|p| JsValue::from_str(p.source.as_str()))
        .collect();
    let member = obj(&[
        ("id", id.as_str().into()),
        ("role", role.as_str().into()),
        ("sources", sources.into()),
        (
            "recordingConsent",
            call.session().recording_consent_of(id).into(),
        ),
    ]);
    // Only when shared: a member without one has no `diagnostics` key at all.
    if let Some(text) = call.session().diagnostics_of(id) {
        let _ = js_sys::Reflect::set(&member, &JsValue::from_str("diagnostics"), &report(text));
    }
    member
}

/// A core value as a plain JS value, through its JSON form (the core writes it; one
/// `JSON.parse` builds it, which costs less code than building objects field by field).
pub(crate) fn to_value(v: &impl ToJsonText) -> JsValue {
    js_sys::JSON::parse(&v.to_json_text()).unwrap_or(JsValue::NULL)
}

pub(crate) fn track_added(
    member: &MemberId,
    source: Source,
    track: &MediaStreamTrack,
    stream: &MediaStream,
) -> JsValue {
    obj(&[
        ("member", member.as_str().into()),
        ("source", source.as_str().into()),
        ("kind", track.kind().into()),
        ("track", track.into()),
        ("stream", stream.into()),
    ])
}

fn member_source(member: &MemberId, source: Source) -> JsValue {
    obj(&[
        ("member", member.as_str().into()),
        ("source", source.as_str().into()),
    ])
}

/// The JS event name and payload for a core event, if it has one.
pub(crate) fn to_js(event: &Event, call: &Call) -> Option<(&'static str, JsValue)> {
    Some(match event {
        Event::StateChanged(e) => ("stateChanged", obj(&[("state", e.state.as_str().into())])),
        Event::Joined(e) => (
            "joined",
            obj(&[
                ("member", member(&e.member, call)),
                ("room", e.room.as_str().into()),
                (
                    "members",
                    e.members
                        .iter()
                        .map(|m| member(m, call))
                        .collect::<js_sys::Array>()
                        .into(),
                ),
                ("permissions", to_value(&e.permissions)),
                ("capabilities", to_value(&e.capabilities)),
            ]),
        ),
        Event::MemberJoined(e) => ("memberJoined", obj(&[("member", member(&e.member, call))])),
        Event::MemberLeft(e) => (
            "memberLeft",
            obj(&[
                ("member", e.member.as_str().into()),
                ("reason", e.reason.as_str().into()),
            ]),
        ),
        Event::TrackPublished(e) => ("trackPublished", member_source(&e.member, e.source)),
        Event::TrackUnpublished(e) => ("trackRemoved", member_source(&e.member, e.source)),
        Event::PermissionsChanged(e) => (
            "permissionsChanged",
            obj(&[
                ("permissions", to_value(&e.permissions)),
                ("capabilities", to_value(&e.capabilities)),
            ]),
        ),
        Event::Reconnecting(e) => (
            "reconnecting",
            obj(&[
                ("attempt", e.attempt.into()),
                ("delayMs", (e.delay_ms as f64).into()),
            ]),
        ),
        Event::Reconnected(e) => ("reconnected", obj(&[("resumed", e.resumed.into())])),
        Event::RecordingChanged(e) => (
            "recordingChanged",
            obj(&[
                ("mode", e.mode.as_str().into()),
                ("state", e.state.as_str().into()),
            ]),
        ),
        Event::MemberConsent(e) => (
            "memberConsent",
            obj(&[
                ("member", e.member.as_str().into()),
                ("granted", e.granted.into()),
            ]),
        ),
        Event::MemberDiagnostics(e) => (
            "memberDiagnostics",
            obj(&[
                ("member", e.member.as_str().into()),
                ("report", report(&e.report)),
            ]),
        ),
        Event::Error(e) => (
            "error",
            obj(&[
                ("code", e.code.as_str().into()),
                ("message", e.message.as_str().into()),
                (
                    "ref",
                    e.reference
                        .as_deref()
                        .map_or(JsValue::UNDEFINED, JsValue::from),
                ),
            ]),
        ),
        #[cfg(feature = "recorder")]
        Event::Recording(e) => return recorder_event(e),
        #[cfg(feature = "recorder")]
        Event::Upload(u) => return upload_event(u),
        Event::Ended(e) => {
            let reason = e.reason.name();
            let code = e.reason.code().map_or(JsValue::NULL, |c| c.as_str().into());
            (
                "ended",
                obj(&[
                    ("reason", reason.into()),
                    ("code", code),
                    ("message", e.reason.message().into()),
                ]),
            )
        }
        _ => return None,
    })
}

/// The local recording's events: `recorderState`, `recorderProgress`, `recorderCapWarning`,
/// `recorderCapReached`, `recorderConsentPaused`, `recorderFailed`.
#[cfg(feature = "recorder")]
fn recorder_event(e: &assistrtc_core::recorder::RecorderEvent) -> Option<(&'static str, JsValue)> {
    use assistrtc_core::recorder::{Cap, RecorderEvent as R};
    let ms = |v: u64| JsValue::from(v as f64);
    let cap = |c: Cap, used, limit| {
        obj(&[
            ("cap", c.as_str().into()),
            ("used", ms(used)),
            ("limit", ms(limit)),
        ])
    };
    Some(match e {
        R::StateChanged(s) => (
            "recorderState",
            obj(&[
                ("state", s.state.as_str().into()),
                ("mediaMs", ms(s.media_ms)),
            ]),
        ),
        R::Progress(p) => (
            "recorderProgress",
            obj(&[("bytes", ms(p.bytes)), ("durationMs", ms(p.duration_ms))]),
        ),
        R::CapWarning(c) => ("recorderCapWarning", cap(c.cap, c.used, c.limit)),
        R::CapReached(c) => ("recorderCapReached", cap(c.cap, c.used, c.limit)),
        R::ConsentPaused(p) => (
            "recorderConsentPaused",
            obj(&[
                ("member", p.member.as_str().into()),
                ("mediaMs", ms(p.media_ms)),
            ]),
        ),
        R::Failed(f) => (
            "recorderFailed",
            obj(&[
                ("code", f.code.as_str().into()),
                ("detail", f.detail.as_str().into()),
            ]),
        ),
        _ => return None,
    })
}

/// An upload's progress: `recorderUpload` with `state` `created`, `progress`, `retrying`,
/// `done` or `failed`.
#[cfg(feature = "recorder")]
fn upload_event(u: &assistrtc_core::session::UploadReported) -> Option<(&'static str, JsValue)> {
    use assistrtc_core::recorder::UploadEvent as U;
    let n = |v: u64| JsValue::from(v as f64);
    let mut fields = vec![("key", JsValue::from_str(&u.key))];
    let state = match &u.event {
        U::Created { recording } => {
            fields.push(("recording", recording.as_str().into()));
            "created"
        }
        U::Progress {
            chunks_sent,
            bytes_sent,
        } => {
            fields.push(("chunksSent", n(u64::from(*chunks_sent))));
            fields.push(("bytesSent", n(*bytes_sent)));
            "progress"
        }
        U::Retrying {
            attempt,
            delay_ms,
            reason,
        } => {
            fields.push(("attempt", n(u64::from(*attempt))));
            fields.push(("delayMs", n(*delay_ms)));
            fields.push(("reason", reason.as_str().into()));
            "retrying"
        }
        U::Done { recording } => {
            fields.push(("recording", recording.as_str().into()));
            "done"
        }
        U::Failed { code, message } => {
            fields.push(("code", code.as_str().into()));
            fields.push(("message", message.as_str().into()));
            "failed"
        }
        _ => return None,
    };
    fields.push(("state", state.into()));
    Some(("recorderUpload", obj(&fields)))
}
