//! Local media: capture, publish, stop, mute; and inbound stats.

use std::rc::Rc;

use assistrtc_core::local_error::{Code, LocalErrorCode};
use assistrtc_core::protocol::{ClientMessage, ErrorCode, Source};
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use web_sys::{DisplayMediaStreamConstraints, MediaStream, MediaStreamConstraints};

use crate::driver::{LocalMedia, Shared};
use crate::js::then;
use crate::js::{browser_error, error, error_name, get, obj};

/// Checks before prompting the user: a member who may not share never sees the picker.
fn check_allowed(shared: &Shared, source: Source) -> Result<(), JsValue> {
    let st = shared.st();
    let msg = ClientMessage::Publish {
        source,
        stream: None,
    };
    let session = st.call.session();
    session
        .may(&msg)
        .map_err(|e| error(ErrorCode::Forbidden, &e.user_message()))?;
    session
        .consent()
        .may_publish()
        .map_err(|e| error(e.code(), &e.message()))?;
    if st.local.contains_key(&source) {
        return Err(error(
            ErrorCode::Conflict,
            &[source.as_str(), " is already on"].concat(),
        ));
    }
    Ok(())
}

/// A refused capture as an SDK error with its local code and the browser's error as `cause`.
fn capture_error(source: Source, what: &str, cause: &JsValue) -> JsValue {
    let name = error_name(cause);
    browser_error(Code::of_capture_failure(source, &name), what, cause)
}

/// Asks the browser for `source` with `options` (`undefined`: the defaults); `None` when
/// `navigator.mediaDevices` is missing (outside a secure context, or a browser without
/// capture), `Err` with what the browser threw, and what was called. The pre-call check asks
/// through this too.
pub(crate) fn ask(
    source: Source,
    options: &JsValue,
) -> Option<(Result<Promise, JsValue>, &'static str)> {
    let devices = crate::js::media_devices()?;
    let custom = !(options.is_undefined() || options.is_null());
    let wanted = if custom { options } else { &JsValue::TRUE };
    Some(match source {
        Source::Camera => {
            let c = MediaStreamConstraints::new();
            c.set_video(wanted);
            (
                devices.get_user_media_with_constraints(&c),
                "getUserMedia(camera)",
            )
        }
        Source::Microphone => {
            let c = MediaStreamConstraints::new();
            c.set_audio(wanted);
            (
                devices.get_user_media_with_constraints(&c),
                "getUserMedia(microphone)",
            )
        }
        Source::Screen => {
            let c = DisplayMediaStreamConstraints::new();
            c.set_video(&JsValue::TRUE);
            c.set_audio(&JsValue::from_bool(
                get(options, "audio").as_bool() == Some(true),
            ));
            (
                devices.get_display_media_with_constraints(&c),
                "getDisplayMedia",
            )
        }
    })
}

/// Asks the browser for `source`; the promise settles when the user has chosen.
fn capture(source: Source, options: &JsValue) -> Result<(Promise, &'static str), JsValue> {
    let (promise, what) = ask(source, options).ok_or_else(|| {
        error(
            LocalErrorCode::UnsupportedBrowser,
            "navigator.mediaDevices is missing: capture needs a secure (https) page in a browser that supports it",
        )
    })?;
    let promise = promise.map_err(|e| capture_error(source, what, &e))?;
    Ok((promise, what))
}

pub(crate) fn start(shared: Rc<Shared>, source: Source, options: Option<JsValue>) -> Promise {
    let options = options.unwrap_or(JsValue::UNDEFINED);
    let (promise, what) =
        match check_allowed(&shared, source).and_then(|()| capture(source, &options)) {
            Ok(capture) => capture,
            Err(e) => return Promise::reject(&e),
        };
    then(
        promise,
        Box::new(move |result| {
            let stream = result
                // The user said no, no device, or it is busy: each has its own code.
                .map_err(|e| capture_error(source, what, &e))?
                .dyn_into::<MediaStream>()
                .map_err(|_| error(ErrorCode::Internal, "capture returned no MediaStream"))?;
            publish(&shared, source, stream)
        }),
    )
}

/// A capture arrived: publish it (unless the same source got there first) and add its tracks
/// to every peer link.
fn publish(shared: &Rc<Shared>, source: Source, stream: MediaStream) -> Result<JsValue, JsValue> {
    // Another start of the same source may have finished while the user picked: keep
    // that one, release this capture.
    if shared.st().local.contains_key(&source) {
        LocalMedia {
            stream,
            _on_ended: None,
        }
        .stop();
        return Err(error(
            ErrorCode::Conflict,
            &[source.as_str(), " is already on"].concat(),
        ));
    }
    let media = {
        let handle = shared.handle();
        let on_ended = Closure::<dyn FnMut()>::new(move || {
            if let Some(s) = handle.0.upgrade() {
                if stop(&s, source).is_ok() {
                    s.dispatch(
                        "localTrackEnded",
                        obj(&[("source", source.as_str().into())]),
                    );
                }
            }
        });
        let media = LocalMedia {
            stream: Clone::clone(&stream),
            _on_ended: None,
        };
        // The video track ending (user pressed "Stop sharing", camera unplugged) ends the source.
        if let Some(t) = media
            .tracks()
            .into_iter()
            .find(|t| t.kind() == "video")
            .or_else(|| media.tracks().into_iter().next())
        {
            t.set_onended(Some(on_ended.as_ref().unchecked_ref()));
        }
        LocalMedia {
            _on_ended: Some(on_ended),
            ..media
        }
    };
    // The core tells every link to add it (`AddSource`) once it is allowed.
    shared.st_mut().local.insert(source, media);
    let published = shared.command(|call, now| call.publish(source, Some(stream.id()), now));
    if let Err(e) = published {
        if let Some(media) = shared.st_mut().local.remove(&source) {
            media.stop();
        }
        return Err(e);
    }
    Ok(stream.into())
}

pub(crate) fn stop(shared: &Rc<Shared>, source: Source) -> Result<(), JsValue> {
    if !shared.st().local.contains_key(&source) {
        return Err(error(
            ErrorCode::NotFound,
            &[source.as_str(), " is not on"].concat(),
        ));
    }
    // The core tells every link to drop its senders (`RemoveSource`), then the capture stops.
    let r = shared.command(|call, now| call.unpublish(source, now));
    if let Some(media) = shared.st_mut().local.remove(&source) {
        media.stop();
    }
    r
}

pub(crate) fn set_muted(shared: &Shared, source: Source, muted: bool) -> Result<(), JsValue> {
    let st = shared.st();
    let media = st.local.get(&source).ok_or_else(|| {
        error(
            ErrorCode::NotFound,
            &[source.as_str(), " is not on"].concat(),
        )
    })?;
    for t in media.tracks() {
        t.set_enabled(!muted);
    }
    Ok(())
}

pub(crate) fn inbound_video_stats(shared: Rc<Shared>) -> Promise {
    let links: Vec<(String, web_sys::RtcPeerConnection)> = shared
        .st()
        .links
        .iter()
        .filter_map(|(id, l)| Some((id.member()?.as_str().to_owned(), l.connection().clone())))
        .collect();
    let reports: Array = links
        .iter()
        .map(|(_, pc)| JsValue::from(pc.get_stats()))
        .collect();
    then(
        Promise::all(&reports),
        Box::new(move |result| {
            let reports = Array::from(&result?);
            let out = Array::new();
            for ((member, _), report) in links.iter().zip(reports.iter()) {
                // An RTCStatsReport is map-like: forEach needs no iterator protocol glue.
                let report: &js_sys::Map = report.unchecked_ref();
                report.for_each(&mut |stat, _| {
                    if get(&stat, "type").as_string().as_deref() != Some("inbound-rtp")
                        || get(&stat, "kind").as_string().as_deref() != Some("video")
                    {
                        return;
                    }
                    let track_id = get(&stat, "trackIdentifier")
                        .as_string()
                        .unwrap_or_default();
                    let source = shared
                        .st()
                        .call
                        .source_of_track(&track_id)
                        .map_or(JsValue::NULL, |(_, s)| s.as_str().into());
                    let num = |k: &str| get(&stat, k).as_f64().unwrap_or(0.0);
                    out.push(&obj(&[
                        ("member", member.as_str().into()),
                        ("source", source),
                        ("kind", "video".into()),
                        ("framesDecoded", num("framesDecoded").into()),
                        ("bytesReceived", num("bytesReceived").into()),
                    ]));
                });
            }
            Ok(out.into())
        }),
    )
}
