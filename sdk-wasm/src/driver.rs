//! The driver: owns the core session and every browser resource, turns session outputs into
//! web-sys calls and browser events into session inputs.
//!
//! Re-entrancy rule: outputs are applied while the state is borrowed, but application events
//! are dispatched to JS listeners only after the borrow ends, so a listener may call back into
//! the client (even `leave()`) safely.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use assistrtc_core::Millis;
use assistrtc_core::assist::{AssistSender, Channel, Overlay};
use assistrtc_core::protocol::{ErrorCode, MemberId, Source};
use assistrtc_core::session::{Event, IceState, Input, Output, PeerCommand, PeerEvent, Session};
use assistrtc_core::vecmap::VecMap;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use web_sys::{MediaStream, MediaStreamTrack, RtcRtpSender};

use crate::channels::{AssistChannels, AssistObserver};
use crate::events;
use crate::js::{error, now_ms, warn, warn_error};
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
    pub(crate) senders: VecMap<Source, Vec<RtcRtpSender>>,
    /// Opened at the first of: the link's ICE connecting (media is flowing by then, so the
    /// renegotiation that adds the data section delays no frame; in the first offer it made
    /// the first frame later in measurements), a remote description with a data section
    /// applied (negotiated channels must exist on both sides before data arrives), or the first
    /// assist message to send (a call with no media still gets its channels).
    pub(crate) channels: Option<AssistChannels>,
    /// A remote description carried a data section (`m=application`).
    pub(crate) remote_data: bool,
}

pub(crate) struct State {
    pub(crate) session: Session,
    pub(crate) url: String,
    pub(crate) socket: Option<Socket>,
    pub(crate) links: VecMap<MemberId, Link>,
    pub(crate) local: VecMap<Source, LocalMedia>,
    pub(crate) remote: VecMap<String, RemoteTrack>,
    /// Tracks that arrived before the `published` naming their source.
    pub(crate) unlabelled: Vec<(MemberId, MediaStreamTrack, MediaStream)>,
    pub(crate) assist: AssistSender,
    pub(crate) overlay: Overlay,
    /// The overlay changed since listeners were last told.
    pub(crate) overlay_dirty: bool,
    timer: Option<i32>,
    timer_cb: Option<Closure<dyn FnMut()>>,
}

pub(crate) struct Shared {
    pub(crate) state: RefCell<State>,
    listeners: RefCell<VecMap<String, Vec<Function>>>,
    /// `connect()`'s pending resolve/reject, and the one strong reference that keeps the
    /// connecting session alive until it joins or ends (the caller has no client yet; every
    /// closure holds a weak `Handle`). Taken, and so released, when the promise settles.
    pending_connect: RefCell<Option<(Function, Function, Rc<Shared>)>>,
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

/// A [`Handle`] that knows which member's link it serves.
pub(crate) struct PeerHandle {
    handle: Handle,
    peer: MemberId,
}

impl AssistObserver for PeerHandle {
    fn assist_message(&self, text: String) {
        self.handle.with(|s| s.on_assist(&self.peer, &text));
    }
}

impl PeerObserver for Handle {
    fn peer_event(&self, peer: &MemberId, event: PeerEvent) {
        self.with(|s| {
            let open = match event {
                PeerEvent::IceStateChanged(IceState::Connected) => true,
                PeerEvent::RemoteDescriptionApplied => s
                    .state
                    .borrow()
                    .links
                    .get(peer)
                    .is_some_and(|l| l.remote_data),
                _ => false,
            };
            if open {
                s.ensure_channels(&mut s.state.borrow_mut(), peer);
            }
            s.feed(Input::Peer {
                peer: peer.clone(),
                event,
            })
        });
    }
    fn remote_track(&self, peer: &MemberId, track: MediaStreamTrack, stream: Option<MediaStream>) {
        self.with(|s| {
            let stream = stream.unwrap_or_else(|| {
                let st = MediaStream::new().unwrap_throw();
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
                links: VecMap::default(),
                local: VecMap::default(),
                remote: VecMap::default(),
                unlabelled: Vec::new(),
                // Half a 60 Hz frame: input at 60 Hz arrives ~16.7 ms apart give or take timer
                // jitter, so a full-frame window would hold back or replace on-time moves;
                // faster input (120 Hz+ mice, pointer events) is still coalesced, latest wins.
                assist: AssistSender::new(8),

                overlay: Overlay::default(),
                overlay_dirty: false,
                timer: None,
                timer_cb: None,
            }),
            listeners: RefCell::new(VecMap::default()),
            pending_connect: RefCell::new(None),
        });
        let handle = Handle(Rc::downgrade(&shared));
        let cb = Closure::<dyn FnMut()>::new(move || {
            handle.with(|s| {
                {
                    let mut st = s.state.borrow_mut();
                    st.timer = None;
                    let now = Millis(now_ms());
                    st.session.handle_timeout(now);
                    st.assist.handle_timeout(now);
                    if st.overlay.expire(now) {
                        st.overlay_dirty = true;
                    }
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

    pub(crate) fn set_pending_connect(self: &Rc<Self>, resolve: Function, reject: Function) {
        *self.pending_connect.borrow_mut() = Some((resolve, reject, Rc::clone(self)));
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
            // Links without channels open them for a message to send, or to replay what this
            // member already shows (a late joiner in a call with no media negotiates nothing).
            let closed_links = st.links.values().any(|l| l.channels.is_none());
            let shows = |st: &State| {
                st.session
                    .member()
                    .is_some_and(|me| st.overlay.shows_from(&me.id, Millis(now_ms())))
            };
            if closed_links && (st.assist.has_transmit() || shows(&st)) {
                let closed: Vec<MemberId> = st
                    .links
                    .iter()
                    .filter(|(_, l)| l.channels.is_none())
                    .map(|(id, _)| id.clone())
                    .collect();
                for peer in closed {
                    self.ensure_channels(&mut st, &peer);
                }
            }
            st.flush_assist();
            st.rearm_timer();
        }
        for event in app_events {
            self.on_event(event);
        }
        let view = {
            let mut st = self.state.borrow_mut();
            std::mem::take(&mut st.overlay_dirty).then(|| st.overlay.visible(Millis(now_ms())))
        };
        if let Some(view) = view {
            self.dispatch("overlayChanged", events::to_value(&view));
        }
    }

    fn peer_handle(self: &Rc<Self>, peer: &MemberId) -> Rc<dyn AssistObserver> {
        Rc::new(PeerHandle {
            handle: self.handle(),
            peer: peer.clone(),
        })
    }

    /// Opens the assist channels of the link to `peer` unless they are open (see `Link`).
    /// New channels first carry what this member still shows (shapes, script step), so a late
    /// joiner or a rejoined peer sees the same overlay; they wait in the queue until open.
    fn ensure_channels(self: &Rc<Self>, st: &mut State, peer: &MemberId) {
        let handle = self.peer_handle(peer);
        let State {
            links,
            session,
            overlay,
            assist,
            ..
        } = st;
        let Some(link) = links.get_mut(peer) else {
            return;
        };
        if link.channels.is_some() {
            return;
        }
        let channels = AssistChannels::open(link.link.connection(), handle);
        if let Some(me) = session.member() {
            for msg in overlay.replay(&me.id, Millis(now_ms())) {
                match assist.encode_for_one(msg) {
                    Ok(payload) => channels.send(Channel::Reliable, &payload),
                    Err(e) => warn(&format!("assistrtc: cannot replay to {peer}: {e}")),
                }
            }
        }
        link.channels = Some(channels);
    }

    /// An assist message arrived from `peer`: the core decides whether it may be drawn.
    pub(crate) fn on_assist(self: &Rc<Self>, peer: &MemberId, text: &str) {
        let refused = {
            let mut st = self.state.borrow_mut();
            let caps = st.session.capabilities_of(peer).unwrap_or_default();
            match st.overlay.apply_text(peer, caps, text, Millis(now_ms())) {
                Ok(changed) => {
                    st.overlay_dirty |= changed;
                    None
                }
                Err(e) => Some(e),
            }
        };
        if let Some(e) = refused {
            let message = format!("assist message from {peer} refused: {e}");
            self.dispatch(
                "error",
                crate::js::obj(&[
                    ("code", e.code().as_str().into()),
                    ("message", message.as_str().into()),
                ]),
            );
        }
        self.drive();
    }

    fn apply(self: &Rc<Self>, st: &mut State, output: Output) {
        match output {
            Output::OpenTransport => {
                st.socket = None;
                match Socket::open(&st.url, Rc::new(self.handle())) {
                    Ok(socket) => st.socket = Some(socket),
                    Err(e) => {
                        warn_error("cannot open signaling socket", &e);
                        // Report asynchronously: the session is mid-drain.
                        let handle = self.handle();
                        crate::js::on_settled(
                            js_sys::Promise::resolve(&JsValue::UNDEFINED),
                            Box::new(move |_| handle.closed()),
                        );
                    }
                }
            }
            Output::CloseTransport => st.socket = None,
            Output::Send(frame) => {
                if let Some(socket) = &st.socket {
                    if let Err(e) = socket.send(&frame) {
                        warn_error("send failed", &e);
                    }
                }
            }
            Output::Peer {
                peer,
                command: PeerCommand::Create { ice_servers, .. },
            } => match PeerLink::new(peer.clone(), &ice_servers, Rc::new(self.handle())) {
                Ok(link) => {
                    let mut senders: VecMap<Source, Vec<RtcRtpSender>> = VecMap::default();
                    for (source, media) in st.local.iter() {
                        for track in media.tracks() {
                            senders
                                .get_or_default(*source)
                                .push(link.add_track(&track, &media.stream));
                        }
                    }
                    st.links.insert(
                        peer,
                        Link {
                            link,
                            senders,
                            channels: None,
                            remote_data: false,
                        },
                    );
                }
                Err(e) => {
                    // E.g. a malformed TURN URL in `welcome`. Tell the core (after the drain,
                    // as inputs must wait for it), which reports it as an `error` event.
                    warn_error("cannot create peer connection", &e);
                    let (handle, reason) = (self.handle(), crate::js::describe(&e));
                    crate::js::on_settled(
                        js_sys::Promise::resolve(&JsValue::UNDEFINED),
                        Box::new(move |_| {
                            handle.peer_event(&peer, PeerEvent::OperationFailed { reason });
                        }),
                    );
                }
            },
            Output::Peer {
                peer,
                command: PeerCommand::Close,
            } => {
                st.links.remove(&peer);
                st.overlay.remove_member(&peer);
                st.overlay_dirty = true;
                st.remote.retain(|_, t| t.member != peer);
                st.unlabelled.retain(|(m, _, _)| *m != peer);
            }
            Output::Peer { peer, command } => {
                if let Some(link) = st.links.get_mut(&peer) {
                    if let PeerCommand::SetRemoteDescription { sdp, .. } = &command {
                        // A plain window scan: `str::contains` links a large substring
                        // searcher into the wasm for this one use.
                        link.remote_data |=
                            sdp.as_bytes().windows(14).any(|w| w == b"\nm=application");
                    }
                    link.link.run(command);
                }
            }
            Output::Event(_) => unreachable!("events are collected by drive"),
        }
    }

    fn on_event(self: &Rc<Self>, event: Event) {
        match &event {
            Event::Joined(_) => {
                let pending = self.pending_connect.borrow_mut().take();
                if let Some((resolve, _, _)) = pending {
                    let client = crate::AssistClient::from_shared(Rc::clone(self));
                    let _ = resolve.call1(&JsValue::UNDEFINED, &client.into());
                }
            }
            Event::Ended(ended) => {
                self.release_media();
                let pending = self.pending_connect.borrow_mut().take();
                if let Some((_, reject, _)) = pending {
                    let e = error(ended.reason.code(), &ended.reason.to_string());
                    let _ = reject.call1(&JsValue::UNDEFINED, &e);
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
            .get_or_default(name.to_string())
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
                web_sys::console::warn_3(
                    &JsValue::from_str("assistrtc: a listener threw on"),
                    &JsValue::from_str(name),
                    &e,
                );
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
    /// Sends what the assist sender produced on every link, and draws it locally too, so
    /// both sides' overlays come from the same messages.
    fn flush_assist(&mut self) {
        let now = Millis(now_ms());
        let me = self.session.member().map(|m| m.id.clone());
        let caps = self.session.capabilities();
        while let Some(t) = self.assist.poll_transmit() {
            for link in self.links.values() {
                if let Some(ch) = &link.channels {
                    ch.send(t.channel, &t.payload);
                }
            }
            if let Some(me) = &me {
                if let Ok(changed) = self.overlay.apply_text(me, caps, &t.payload, now) {
                    self.overlay_dirty |= changed;
                }
            }
        }
    }

    fn clear_timer(&mut self) {
        if let (Some(id), Some(w)) = (self.timer.take(), web_sys::window()) {
            w.clear_timeout_with_handle(id);
        }
    }

    fn rearm_timer(&mut self) {
        self.clear_timer();
        let next = [
            self.session.poll_timeout(),
            self.assist.poll_timeout(),
            self.overlay.poll_timeout(),
        ];
        let Some(at) = next.into_iter().flatten().min() else {
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
            Err(e) => warn_error("setTimeout failed", &e),
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
