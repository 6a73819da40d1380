//! The driver: owns the core session and every browser resource, turns session outputs into
//! web-sys calls and browser events into session inputs.
//!
//! Re-entrancy rule: outputs are applied while the state is borrowed, but application events
//! are dispatched to JS listeners only after the borrow ends, so a listener may call back into
//! the client (even `leave()`) safely.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use assistrtc_core::Millis;
use assistrtc_core::protocol::{ErrorCode, MemberId, Source};
use assistrtc_core::session::{EndReason, Event, Input, Output, PeerCommand, PeerEvent, Session};
use js_sys::Function;
use wasm_bindgen::prelude::*;
use web_sys::{MediaStream, MediaStreamTrack, RtcRtpSender};

use crate::events;
use crate::js::{error, now_ms, warn};
use crate::peer::{PeerLink, PeerObserver};
use crate::socket::{Socket, SocketObserver};

// Note: web-sys gives `MediaStream` and `MediaStreamTrack` an inherent `clone()` that calls
// the JS method and makes a *new* stream/track; handles are copied with `Clone::clone(&x)`.

/// A local source being sent.
pub(crate) struct LocalMedia {
    pub(crate) stream: MediaStream,
    /// Fires when the browser ends the track (e.g. "Stop sharing"), owned here.
    pub(crate) _on_ended: Option<Closure<dyn FnMut()>>,
}

impl LocalMedia {
    pub(crate) fn tracks(&self) -> Vec<MediaStreamTrack> {
        self.stream
            .get_tracks()
            .iter()
            .filter_map(|t| t.dyn_into().ok())
            .collect()
    }

    pub(crate) fn stop(&self) {
        for t in self.tracks() {
            t.set_onended(None);
            t.stop();
        }
    }
}

/// A remote track we were told about, by its receiver track id.
pub(crate) struct RemoteTrack {
    pub(crate) member: MemberId,
    pub(crate) source: Source,
}

pub(crate) struct Link {
    pub(crate) link: PeerLink,
    pub(crate) senders: HashMap<Source, Vec<RtcRtpSender>>,
}

pub(crate) struct State {
    pub(crate) session: Session,
    pub(crate) url: String,
    pub(crate) socket: Option<Socket>,
    pub(crate) links: HashMap<MemberId, Link>,
    pub(crate) local: HashMap<Source, LocalMedia>,
    pub(crate) remote: HashMap<String, RemoteTrack>,
    /// Tracks that arrived before the `published` naming their source.
    pub(crate) unlabelled: Vec<(MemberId, MediaStreamTrack, MediaStream)>,
    timer: Option<i32>,
    timer_cb: Option<Closure<dyn FnMut()>>,
}

pub(crate) struct Shared {
    pub(crate) state: RefCell<State>,
    listeners: RefCell<HashMap<String, Vec<Function>>>,
    /// `connect()`'s pending resolve/reject.
    pending_connect: RefCell<Option<(Function, Function)>>,
}

/// What closures hold: never a strong reference, so dropping the client frees everything.
#[derive(Clone)]
pub(crate) struct Handle(pub(crate) Weak<Shared>);

impl Handle {
    fn with(&self, f: impl FnOnce(&Rc<Shared>)) {
        if let Some(shared) = self.0.upgrade() {
            f(&shared);
        }
    }
}

impl SocketObserver for Handle {
    fn opened(&self) {
        self.with(|s| s.feed(Input::TransportOpened));
    }
    fn message(&self, text: String) {
        self.with(|s| s.feed(Input::Frame(text)));
    }
    fn closed(&self) {
        self.with(|s| {
            s.state.borrow_mut().socket = None;
            s.feed(Input::TransportClosed);
        });
    }
}

impl PeerObserver for Handle {
    fn peer_event(&self, peer: &MemberId, event: PeerEvent) {
        self.with(|s| {
            s.feed(Input::Peer {
                peer: peer.clone(),
                event,
            })
        });
    }
    fn remote_track(&self, peer: &MemberId, track: MediaStreamTrack, stream: Option<MediaStream>) {
        self.with(|s| {
            let stream = stream.unwrap_or_else(|| {
                let st = MediaStream::new().expect("MediaStream constructor");
                st.add_track(&track);
                st
            });
            let labelled = {
                let mut st = s.state.borrow_mut();
                match st.session.source_of_stream(peer, &stream.id()) {
                    Some(source) => {
                        st.remote.insert(
                            track.id(),
                            RemoteTrack {
                                member: peer.clone(),
                                source,
                            },
                        );
                        Some(source)
                    }
                    None => {
                        st.unlabelled.push((
                            peer.clone(),
                            Clone::clone(&track),
                            Clone::clone(&stream),
                        ));
                        None
                    }
                }
            };
            if let Some(source) = labelled {
                s.dispatch(
                    "trackAdded",
                    events::track_added(peer, source, &track, &stream),
                );
            }
        });
    }
}

impl Shared {
    pub(crate) fn new(session: Session, url: String) -> Rc<Self> {
        let shared = Rc::new(Self {
            state: RefCell::new(State {
                session,
                url,
                socket: None,
                links: HashMap::new(),
                local: HashMap::new(),
                remote: HashMap::new(),
                unlabelled: Vec::new(),
                timer: None,
                timer_cb: None,
            }),
            listeners: RefCell::new(HashMap::new()),
            pending_connect: RefCell::new(None),
        });
        let handle = Handle(Rc::downgrade(&shared));
        let cb = Closure::<dyn FnMut()>::new(move || {
            handle.with(|s| {
                {
                    let mut st = s.state.borrow_mut();
                    st.timer = None;
                    st.session.handle_timeout(Millis(now_ms()));
                }
                s.drive();
            })
        });
        shared.state.borrow_mut().timer_cb = Some(cb);
        shared
    }

    pub(crate) fn handle(self: &Rc<Self>) -> Handle {
        Handle(Rc::downgrade(self))
    }

    pub(crate) fn set_pending_connect(&self, resolve: Function, reject: Function) {
        *self.pending_connect.borrow_mut() = Some((resolve, reject));
    }

    /// Feeds one input, then drives.
    pub(crate) fn feed(self: &Rc<Self>, input: Input) {
        let result = self
            .state
            .borrow_mut()
            .session
            .handle_input(input, Millis(now_ms()));
        if let Err(e) = result {
            // Late events from a link the session already dropped are expected and harmless.
            if e.code() != ErrorCode::NotFound && e.code() != ErrorCode::Conflict {
                warn(&format!("assistrtc: input refused: {e}"));
            }
        }
        self.drive();
    }

    /// Drains the session's outputs, re-arms the timer, then tells the listeners.
    pub(crate) fn drive(self: &Rc<Self>) {
        let mut app_events = Vec::new();
        {
            let mut st = self.state.borrow_mut();
            while let Some(output) = st.session.poll_output() {
                match output {
                    Output::Event(e) => app_events.push(e),
                    other => self.apply(&mut st, other),
                }
            }
            st.rearm_timer();
        }
        for event in app_events {
            self.on_event(event);
        }
    }

    fn apply(self: &Rc<Self>, st: &mut State, output: Output) {
        match output {
            Output::OpenTransport => {
                st.socket = None;
                match Socket::open(&st.url, Rc::new(self.handle())) {
                    Ok(socket) => st.socket = Some(socket),
                    Err(e) => {
                        warn(&format!(
                            "assistrtc: cannot open signaling socket: {}",
                            crate::peer::describe(&e)
                        ));
                        // Report asynchronously: the session is mid-drain.
                        let handle = self.handle();
                        wasm_bindgen_futures::spawn_local(async move { handle.closed() });
                    }
                }
            }
            Output::CloseTransport => st.socket = None,
            Output::Send(frame) => {
                if let Some(socket) = &st.socket {
                    if let Err(e) = socket.send(&frame) {
                        warn(&format!(
                            "assistrtc: send failed: {}",
                            crate::peer::describe(&e)
                        ));
                    }
                }
            }
            Output::Peer {
                peer,
                command: PeerCommand::Create { ice_servers, .. },
            } => match PeerLink::new(peer.clone(), &ice_servers, Rc::new(self.handle())) {
                Ok(link) => {
                    let mut senders: HashMap<Source, Vec<RtcRtpSender>> = HashMap::new();
                    for (source, media) in &st.local {
                        for track in media.tracks() {
                            senders
                                .entry(*source)
                                .or_default()
                                .push(link.add_track(&track, &media.stream));
                        }
                    }
                    st.links.insert(peer, Link { link, senders });
                }
                Err(e) => warn(&format!(
                    "assistrtc: cannot create peer connection: {}",
                    crate::peer::describe(&e)
                )),
            },
            Output::Peer {
                peer,
                command: PeerCommand::Close,
            } => {
                st.links.remove(&peer);
                st.remote.retain(|_, t| t.member != peer);
                st.unlabelled.retain(|(m, _, _)| *m != peer);
            }
            Output::Peer { peer, command } => {
                if let Some(link) = st.links.get(&peer) {
                    link.link.run(command);
                }
            }
            Output::Event(_) => unreachable!("events are collected by drive"),
        }
    }

    fn on_event(self: &Rc<Self>, event: Event) {
        match &event {
            Event::Joined(_) => {
                if let Some((resolve, _)) = self.pending_connect.borrow_mut().take() {
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            }
            Event::Ended(ended) => {
                self.release_media();
                if let Some((_, reject)) = self.pending_connect.borrow_mut().take() {
                    let (code, message) = match &ended.reason {
                        EndReason::Rejected { code, message } => (*code, message.clone()),
                        EndReason::Unreachable => (
                            ErrorCode::Internal,
                            "the signaling server could not be reached".into(),
                        ),
                        other => (ErrorCode::Internal, format!("{other:?}")),
                    };
                    let _ = reject.call1(&JsValue::UNDEFINED, &error(code, &message));
                }
            }
            Event::TrackPublished(p) => {
                // Label tracks that arrived before their `published`.
                let ready: Vec<(MediaStreamTrack, MediaStream)> = {
                    let mut st = self.state.borrow_mut();
                    let stream_id = p.stream.clone();
                    let mut ready = Vec::new();
                    st.unlabelled.retain(|(m, t, s)| {
                        let hit = *m == p.member && Some(s.id()) == stream_id;
                        if hit {
                            ready.push((Clone::clone(t), Clone::clone(s)));
                        }
                        !hit
                    });
                    for (t, _) in &ready {
                        st.remote.insert(
                            t.id(),
                            RemoteTrack {
                                member: p.member.clone(),
                                source: p.source,
                            },
                        );
                    }
                    ready
                };
                for (track, stream) in ready {
                    self.dispatch(
                        "trackAdded",
                        events::track_added(&p.member, p.source, &track, &stream),
                    );
                }
            }
            Event::TrackUnpublished(u) => {
                self.state
                    .borrow_mut()
                    .remote
                    .retain(|_, t| !(t.member == u.member && t.source == u.source));
            }
            _ => {}
        }
        if let Some((name, payload)) = events::to_js(&event) {
            self.dispatch(name, payload);
        }
    }

    pub(crate) fn on(&self, name: &str, handler: Function) {
        self.listeners
            .borrow_mut()
            .entry(name.to_string())
            .or_default()
            .push(handler);
    }

    pub(crate) fn off(&self, name: &str, handler: &Function) {
        if let Some(list) = self.listeners.borrow_mut().get_mut(name) {
            list.retain(|h| !js_sys::Object::is(h, handler));
        }
    }

    /// Calls every listener of `name`; a throwing listener is logged and does not stop the rest.
    pub(crate) fn dispatch(&self, name: &str, payload: JsValue) {
        let handlers = self
            .listeners
            .borrow()
            .get(name)
            .cloned()
            .unwrap_or_default();
        for h in handlers {
            if let Err(e) = h.call1(&JsValue::UNDEFINED, &payload) {
                warn(&format!(
                    "assistrtc: a `{name}` listener threw: {}",
                    crate::peer::describe(&e)
                ));
            }
        }
    }

    /// Stops local tracks and drops every browser resource (idempotent).
    pub(crate) fn release_media(&self) {
        let mut st = self.state.borrow_mut();
        for (_, media) in st.local.drain() {
            media.stop();
        }
        st.links.clear();
        st.socket = None;
        st.remote.clear();
        st.unlabelled.clear();
        st.clear_timer();
    }

    pub(crate) fn clear_listeners(&self) {
        self.listeners.borrow_mut().clear();
    }
}

impl State {
    fn clear_timer(&mut self) {
        if let (Some(id), Some(w)) = (self.timer.take(), web_sys::window()) {
            w.clear_timeout_with_handle(id);
        }
    }

    fn rearm_timer(&mut self) {
        self.clear_timer();
        let Some(at) = self.session.poll_timeout() else {
            return;
        };
        let (Some(w), Some(cb)) = (web_sys::window(), self.timer_cb.as_ref()) else {
            return;
        };
        let delay = at.0.saturating_sub(now_ms()).min(i32::MAX as u64) as i32;
        match w.set_timeout_with_callback_and_timeout_and_arguments_0(
            cb.as_ref().unchecked_ref(),
            delay,
        ) {
            Ok(id) => self.timer = Some(id),
            Err(e) => warn(&format!(
                "assistrtc: setTimeout failed: {}",
                crate::peer::describe(&e)
            )),
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.clear_timer();
        for (_, media) in self.local.drain() {
            media.stop();
        }
    }
}
