//! Glue tests in real headless Chromium (`cargo test -p assistrtc-wasm --target
//! wasm32-unknown-unknown`): core commands mapped onto real `RTCPeerConnection`s, events back,
//! and release of every resource.

use std::cell::RefCell;
use std::rc::Rc;

use assistrtc_core::assist::Channel;
use assistrtc_core::protocol::{MemberId, Source};
use assistrtc_core::session::{IceState, LinkId, LinkTarget, PeerCommand, PeerEvent, SdpKind};
use assistrtc_core::vecmap::VecMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{MediaStream, MediaStreamTrack, MediaStreamTrackState, RtcPeerConnectionState};

use crate::js::get;
use crate::peer::{PeerLink, PeerObserver};

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Default)]
struct Recorder {
    events: RefCell<Vec<PeerEvent>>,
    tracks: RefCell<Vec<(MediaStreamTrack, Option<MediaStream>)>>,
}

impl PeerObserver for Recorder {
    fn peer_event(&self, _link: &LinkId, event: PeerEvent) {
        self.events.borrow_mut().push(event);
    }
    fn remote_track(&self, _link: &LinkId, track: MediaStreamTrack, stream: Option<MediaStream>) {
        self.tracks.borrow_mut().push((track, stream));
    }
}

impl Recorder {
    fn take(&self) -> Vec<PeerEvent> {
        std::mem::take(&mut *self.events.borrow_mut())
    }
}

async fn tick() {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 5)
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

/// Polls `f` every few ms until it yields, failing after `ms` of page time.
async fn within<T>(ms: f64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = js_sys::Date::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            js_sys::Date::now() - start < ms,
            "timed out after {ms} ms waiting for {what}"
        );
        tick().await;
    }
}

/// The (fake) camera, and the microphone with it when `audio`.
async fn capture(audio: bool) -> MediaStream {
    let devices = web_sys::window()
        .unwrap()
        .navigator()
        .media_devices()
        .unwrap();
    let c = web_sys::MediaStreamConstraints::new();
    c.set_video(&JsValue::TRUE);
    c.set_audio(&JsValue::from_bool(audio));
    JsFuture::from(devices.get_user_media_with_constraints(&c).unwrap())
        .await
        .unwrap()
        .dyn_into()
        .unwrap()
}

fn id(s: &str) -> MemberId {
    MemberId::new(s).unwrap()
}

fn link(s: &str) -> LinkId {
    LinkId {
        target: LinkTarget::Member(id(s)),
        generation: 1,
    }
}

/// The local description of `kind` that link `side` reported, if it did.
fn description(log: &[(usize, PeerEvent)], side: usize, kind: SdpKind) -> Option<String> {
    log.iter().find_map(|(i, e)| match e {
        PeerEvent::LocalDescription { kind: k, sdp } if *i == side && *k == kind => {
            Some(sdp.clone())
        }
        _ => None,
    })
}

/// No local media: commands that need captures find none.
fn no_media() -> VecMap<Source, crate::driver::LocalMedia> {
    VecMap::default()
}

/// Candidates in flight, held (as the core holds them) until the receiver has a remote
/// description.
#[derive(Default)]
struct Wire {
    held: [Vec<assistrtc_core::protocol::IceCandidate>; 2],
    ready: [bool; 2],
    connected: [bool; 2],
}

/// Forwards local candidates each way and records ICE connectivity; returns other events.
fn pump(
    links: [&mut PeerLink; 2],
    recs: [&Recorder; 2],
    wire: &mut Wire,
) -> Vec<(usize, PeerEvent)> {
    let mut other = Vec::new();
    for (i, rec) in recs.iter().enumerate() {
        for e in rec.take() {
            match e {
                PeerEvent::LocalCandidate(c) => wire.held[1 - i].push(c),
                PeerEvent::IceStateChanged(IceState::Connected) => wire.connected[i] = true,
                PeerEvent::IceStateChanged(_) => {}
                PeerEvent::RemoteDescriptionApplied => {
                    wire.ready[i] = true;
                    other.push((i, e));
                }
                e => other.push((i, e)),
            }
        }
    }
    for (i, link) in links.into_iter().enumerate() {
        if wire.ready[i] {
            for c in wire.held[i].drain(..) {
                link.run(PeerCommand::AddIceCandidate(c), &no_media());
            }
        }
    }
    other
}

#[wasm_bindgen_test]
async fn peer_commands_drive_a_real_negotiation_and_release_on_drop() {
    let (ra, rb) = (Rc::new(Recorder::default()), Rc::new(Recorder::default()));
    let a = RefCell::new(PeerLink::new(link("agent_1"), &[], false, ra.clone()).unwrap());
    let b = RefCell::new(PeerLink::new(link("user_9"), &[], false, rb.clone()).unwrap());
    let stream = capture(false).await;
    let track: MediaStreamTrack = stream.get_video_tracks().get(0).dyn_into().unwrap();
    let mut local = VecMap::default();
    local.insert(
        Source::Camera,
        crate::driver::LocalMedia {
            stream: Clone::clone(&stream),
            _on_ended: None,
        },
    );
    a.borrow_mut()
        .run(PeerCommand::AddSource(Source::Camera), &local);

    let mut wire = Wire::default();
    let mut log: Vec<(usize, PeerEvent)> = Vec::new();
    let step = |log: &mut Vec<(usize, PeerEvent)>, wire: &mut Wire| {
        let (mut a, mut b) = (a.borrow_mut(), b.borrow_mut());
        log.extend(pump([&mut *a, &mut *b], [&ra, &rb], wire));
    };

    // negotiationneeded → CreateOffer → LocalDescription(offer)
    within(5_000.0, "negotiationneeded", || {
        step(&mut log, &mut wire);
        log.iter()
            .position(|(i, e)| *i == 0 && *e == PeerEvent::NegotiationNeeded)
    })
    .await;
    a.borrow_mut()
        .run(PeerCommand::CreateOffer { ice_restart: false }, &no_media());
    let offer = within(5_000.0, "local offer", || {
        step(&mut log, &mut wire);
        description(&log, 0, SdpKind::Offer)
    })
    .await;
    assert!(offer.starts_with("v=0") && offer.contains("m=video"));
    b.borrow_mut().run(
        PeerCommand::SetRemoteDescription {
            kind: SdpKind::Offer,
            sdp: offer,
        },
        &no_media(),
    );
    within(5_000.0, "offer applied", || {
        step(&mut log, &mut wire);
        log.iter()
            .position(|(i, e)| *i == 1 && *e == PeerEvent::RemoteDescriptionApplied)
    })
    .await;
    b.borrow_mut().run(PeerCommand::CreateAnswer, &no_media());
    let answer = within(5_000.0, "local answer", || {
        step(&mut log, &mut wire);
        description(&log, 1, SdpKind::Answer)
    })
    .await;
    a.borrow_mut().run(
        PeerCommand::SetRemoteDescription {
            kind: SdpKind::Answer,
            sdp: answer,
        },
        &no_media(),
    );
    within(10_000.0, "ICE connected on both sides", || {
        step(&mut log, &mut wire);
        (wire.connected[0] && wire.connected[1]).then_some(())
    })
    .await;
    assert!(
        !log.iter()
            .any(|(_, e)| matches!(e, PeerEvent::OperationFailed { .. })),
        "{log:?}"
    );
    let tracks = rb.tracks.borrow().clone();
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].0.kind(), "video");
    assert_eq!(
        tracks[0].1.as_ref().map(MediaStream::id),
        Some(stream.id()),
        "the stream id labels the source"
    );

    // A bad description is reported as OperationFailed, not thrown.
    a.borrow_mut().run(
        PeerCommand::SetRemoteDescription {
            kind: SdpKind::Offer,
            sdp: "v=0\r\nnonsense".into(),
        },
        &no_media(),
    );
    within(5_000.0, "failure report", || {
        step(&mut log, &mut wire);
        log.iter()
            .position(|(_, e)| matches!(e, PeerEvent::OperationFailed { .. }))
    })
    .await;

    // Release: dropping the link closes the connection and detaches its handlers.
    let pc = a.borrow().connection().clone();
    drop(a.into_inner());
    assert_eq!(pc.connection_state(), RtcPeerConnectionState::Closed);
    assert!(
        pc.onicecandidate().is_none()
            && pc.ontrack().is_none()
            && pc.onnegotiationneeded().is_none()
    );
    track.stop();
}

/// Both sides add their media at once and their offers cross: the polite side rolls its offer
/// back and answers. Its receivers must still come alive when the media arrives (Chromium
/// leaves them muted and silent for good when the rolled-back offer held `addTrack`
/// transceivers, which it then reuses for the remote offer).
#[wasm_bindgen_test]
async fn after_a_collision_the_polite_side_receives_the_remote_media() {
    let (ra, rb) = (Rc::new(Recorder::default()), Rc::new(Recorder::default()));
    let mut a = PeerLink::new(link("user_9"), &[], false, ra.clone()).unwrap();
    let mut b = PeerLink::new(link("agent_1"), &[], false, rb.clone()).unwrap();
    let streams = [capture(true).await, capture(true).await];
    for (link, stream) in [(&mut a, &streams[0]), (&mut b, &streams[1])] {
        let mut local = VecMap::default();
        local.insert(
            Source::Camera,
            crate::driver::LocalMedia {
                stream: Clone::clone(stream),
                _on_ended: None,
            },
        );
        link.run(PeerCommand::AddSource(Source::Camera), &local);
        link.run(PeerCommand::CreateOffer { ice_restart: false }, &no_media());
    }
    let mut wire = Wire::default();
    let mut log: Vec<(usize, PeerEvent)> = Vec::new();
    let offers = within(5_000.0, "both offers", || {
        log.extend(pump([&mut a, &mut b], [&ra, &rb], &mut wire));
        let offer = |side| description(&log, side, SdpKind::Offer);
        Some((offer(0)?, offer(1)?))
    })
    .await;
    // The polite side (a) gives way; b's candidates for its own offer stay valid.
    a.run(PeerCommand::Rollback, &no_media());
    wire.held[0].clear();
    a.run(
        PeerCommand::SetRemoteDescription {
            kind: SdpKind::Offer,
            sdp: offers.1,
        },
        &no_media(),
    );
    a.run(PeerCommand::CreateAnswer, &no_media());
    let answer = within(5_000.0, "the polite side's answer", || {
        log.extend(pump([&mut a, &mut b], [&ra, &rb], &mut wire));
        description(&log, 0, SdpKind::Answer)
    })
    .await;
    b.run(
        PeerCommand::SetRemoteDescription {
            kind: SdpKind::Answer,
            sdp: answer,
        },
        &no_media(),
    );
    within(10_000.0, "the polite side hears and sees the other", || {
        log.extend(pump([&mut a, &mut b], [&ra, &rb], &mut wire));
        let tracks = ra.tracks.borrow();
        (tracks.len() == 2 && tracks.iter().all(|(t, _)| !t.muted())).then_some(())
    })
    .await;
    assert!(
        !log.iter()
            .any(|(_, e)| matches!(e, PeerEvent::OperationFailed { .. })),
        "{log:?}"
    );
    for s in &streams {
        for t in s.get_tracks().iter() {
            t.unchecked_into::<MediaStreamTrack>().stop();
        }
    }
}

/// An emitter that drops every event.
fn ignore_events() -> js_sys::Function {
    js_sys::Function::new_no_args("")
}

#[wasm_bindgen_test]
fn bad_options_are_refused_with_a_code() {
    let Err(err) = crate::Driver::new(JsValue::from_str("nope"), ignore_events()) else {
        panic!("options without url and token were accepted")
    };
    assert_eq!(
        get(&err, "code").as_string().as_deref(),
        Some("bad_request")
    );
    assert!(err.is_instance_of::<js_sys::Error>());
}

fn driver_for(url: &str, emit: js_sys::Function) -> crate::Driver {
    let options = crate::js::obj(&[("url", url.into()), ("token", "t".into())]);
    crate::Driver::new(options, emit).unwrap_or_else(|_| panic!("options refused"))
}

#[wasm_bindgen_test]
async fn connect_to_an_unreachable_server_rejects_unreachable_and_emits_ended() {
    let (ended, _keep) = collect(|name| name == "ended");
    let driver = driver_for("ws://127.0.0.1:9/v1/signal", ended.1);
    let err = JsFuture::from(driver.connect()).await.unwrap_err();
    assert_eq!(
        get(&err, "code").as_string().as_deref(),
        Some("unreachable")
    );
    assert!(
        String::from(err.dyn_ref::<js_sys::Error>().unwrap().message())
            .contains("could not be reached")
    );
    let events = ended.0.borrow().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(
        get(&events[0], "reason").as_string().as_deref(),
        Some("unreachable")
    );
    assert_eq!(
        get(&events[0], "code").as_string().as_deref(),
        Some("unreachable")
    );
    assert!(get(&events[0], "message").as_string().is_some());
    // Connecting again is a misuse, refused at once.
    let again = JsFuture::from(driver.connect()).await.unwrap_err();
    assert_eq!(get(&again, "code").as_string().as_deref(), Some("conflict"));
}

#[wasm_bindgen_test]
async fn leave_before_connect_resolves_and_connect_after_it_is_refused() {
    let driver = driver_for("ws://127.0.0.1:9/v1/signal", ignore_events());
    assert_eq!(driver.state(), "idle");
    JsFuture::from(driver.leave()).await.unwrap();
    assert!(JsFuture::from(driver.connect()).await.is_err());
}

#[wasm_bindgen_test]
fn the_assist_object_is_made_once() {
    let driver = driver_for("ws://127.0.0.1:9/v1/signal", ignore_events());
    assert!(js_sys::Object::is(&driver.assist(), &driver.assist()));
}

#[wasm_bindgen_test]
async fn local_media_stop_ends_tracks_and_detaches_handlers() {
    let stream = capture(false).await;
    let media = crate::driver::LocalMedia {
        stream: Clone::clone(&stream),
        _on_ended: None,
    };
    let tracks = media.tracks();
    assert!(!tracks.is_empty());
    media.stop();
    for t in tracks {
        assert_eq!(t.ready_state(), MediaStreamTrackState::Ended);
        assert!(t.onended().is_none());
    }
    let _ = Source::Camera;
}

/// A call joined through frames fed by hand (no socket), with `user_9` present as a guest;
/// events go to `emit`.
fn joined_shared(emit: js_sys::Function) -> Rc<crate::driver::Shared> {
    use assistrtc_core::Millis;
    use assistrtc_core::call::{Call, CallConfig};
    use assistrtc_core::session::Input;

    let shared = crate::driver::Shared::new(
        Call::new(CallConfig::new("t")),
        "ws://127.0.0.1:9/v1/signal".into(),
        emit,
    );
    {
        let mut st = shared.state.borrow_mut();
        st.call.join(Millis(0)).unwrap();
        st.call
            .handle_input(Input::TransportOpened, Millis(1))
            .unwrap();
        let welcome = r#"{"v":1,"type":"welcome","session_id":"s_1","member":{"id":"agent_1","role":"host"},
            "room":"rm_1","members":[{"id":"user_9","role":"guest"}],"permissions":{"screen":true},
            "capabilities":["annotate"],"resume_token":"r"}"#;
        st.call
            .handle_input(Input::Frame(welcome.into()), Millis(2))
            .unwrap();
        // Outputs (socket, peer link) are not wanted here: the test feeds the link by hand.
        while st.call.poll_output().is_some() {}
    }
    shared
}

/// Feeds an assist message as if it arrived on the link to `from`.
fn assist_from(shared: &Rc<crate::driver::Shared>, from: &str, text: &str) {
    use assistrtc_core::session::Input;
    let link = shared
        .state
        .borrow()
        .call
        .session()
        .link_to(&id(from))
        .cloned()
        .unwrap_or_else(|| link(from));
    shared.feed(Input::Peer {
        link,
        event: PeerEvent::Message {
            channel: Channel::Reliable,
            text: text.into(),
        },
    });
}

type Seen = Rc<RefCell<Vec<JsValue>>>;

/// What [`collect`] gives: the payloads seen, the emitter, and the closure behind it.
type Collector = (
    (Seen, js_sys::Function),
    Closure<dyn FnMut(String, JsValue)>,
);

/// An emitter that records the payloads of the events `wanted` picks; keep the returned
/// closure alive for as long as it should listen.
fn collect(wanted: fn(&str) -> bool) -> Collector {
    let seen: Seen = Rc::default();
    let sink = seen.clone();
    let emit = Closure::<dyn FnMut(String, JsValue)>::new(move |name: String, e: JsValue| {
        if wanted(&name) {
            sink.borrow_mut().push(e)
        }
    });
    let f = emit.as_ref().unchecked_ref::<js_sys::Function>().clone();
    ((seen, f), emit)
}

#[wasm_bindgen_test]
fn a_refused_assist_message_reaches_listeners_as_an_error_event() {
    let ((errors, emit), _keep) = collect(|name| name == "error");
    let shared = joined_shared(emit);
    // The guest may not annotate: the core refuses it, the driver reports it.
    assist_from(
        &shared,
        "user_9",
        r##"{"t":"highlight","id":"s1","rect":{"x":0.1,"y":0.1,"w":0.2,"h":0.2},"color":"#ff0000","ttl_ms":0,"at":0,"seq":1}"##,
    );
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        get(&errors[0], "code").as_string().as_deref(),
        Some("forbidden")
    );
    assert!(
        get(&errors[0], "message")
            .as_string()
            .unwrap()
            .contains("user_9")
    );
    let view = shared
        .state
        .borrow()
        .call
        .overlay(assistrtc_core::Millis(10));
    assert!(view.shapes.is_empty(), "nothing drawn");
}
