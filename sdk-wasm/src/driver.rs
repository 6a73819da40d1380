//! The driver: owns the core `Call` and every browser resource, turns its outputs into web-sys
//! calls and browser events into its inputs. No call policy lives here.
//!
//! Re-entrancy rule: outputs are applied while the state is borrowed, but application events
//! are handed to JS only after the borrow ends, so a listener may call back into the client
//! (even `leave()`) safely.
//!
//! Events go to ONE JS function, the package entry's emitter, which owns the listeners
//! (`on`/`once`/`off` exist before the wasm module has loaded, so they cannot live here).

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::{Rc, Weak};

use assistrtc_core::Millis;
use assistrtc_core::call::{Call, CallError};
use assistrtc_core::protocol::{ErrorCode, Source};
use assistrtc_core::session::{Event, Input, LinkId, Output, PeerCommand, PeerEvent};
use assistrtc_core::vecmap::VecMap;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use web_sys::{MediaStream, MediaStreamTrack};

use crate::events;
use crate::js::{clear_timeout, error, now_ms, set_timeout, warn, warn_error};
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

/// A remote track the core has not labelled yet, with the link it came on.
pub(crate) struct RemoteTrack {
    pub(crate) link: LinkId,
    pub(crate) track: MediaStreamTrack,
    pub(crate) stream: MediaStream,
}

pub(crate) struct State {
    pub(crate) call: Call,
    pub(crate) url: String,
    pub(crate) socket: Option<Socket>,
    pub(crate) links: VecMap<LinkId, PeerLink>,
    pub(crate) local: VecMap<Source, LocalMedia>,
    /// Remote tracks by track id, while their link lasts (a recording takes them in).
    pub(crate) remote: VecMap<String, RemoteTrack>,
    /// The local recording's browser side.
    #[cfg(feature = "recorder")]
    pub(crate) recording: Option<crate::recorder::RecordingMedia>,
    timer: Option<i32>,
    timer_cb: Option<Closure<dyn FnMut()>>,
}

pub(crate) struct Shared {
    pub(crate) state: RefCell<State>,
    /// `emit(type, event)`: hands an event to the listeners.
    emit: Function,
    /// `connect()`'s pending resolve/reject, settled on `joined` or on the end.
    pending_connect: Cell<Option<(Function, Function)>>,
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
            s.st_mut().socket = None;
            s.feed(Input::TransportClosed);
        });
    }
}

impl PeerObserver for Handle {
    fn peer_event(&self, link: &LinkId, event: PeerEvent) {
        self.with(|s| {
            s.feed(Input::Peer {
                link: link.clone(),
                event,
            })
        });
    }
    fn remote_track(&self, link: &LinkId, track: MediaStreamTrack, stream: Option<MediaStream>) {
        self.with(|s| {
            let stream = stream.unwrap_or_else(|| {
                let st = MediaStream::new().unwrap_throw();
                st.add_track(&track);
                st
            });
            let event = PeerEvent::TrackAdded {
                track: track.id(),
                stream: Some(stream.id()),
            };
            s.st_mut().remote.insert(
                track.id(),
                RemoteTrack {
                    link: link.clone(),
                    track,
                    stream,
                },
            );
            s.feed(Input::Peer {
                link: link.clone(),
                event,
            });
        });
    }
}

impl Shared {
    pub(crate) fn new(call: Call, url: String, emit: Function) -> Rc<Self> {
        let shared = Rc::new(Self {
            state: RefCell::new(State {
                call,
                url,
                socket: None,
                links: VecMap::default(),
                local: VecMap::default(),
                remote: VecMap::default(),
                #[cfg(feature = "recorder")]
                recording: None,
                timer: None,
                timer_cb: None,
            }),
            emit,
            pending_connect: Cell::new(None),
        });
        let handle = Handle(Rc::downgrade(&shared));
        let cb = Closure::<dyn FnMut()>::new(move || {
            handle.with(|s| {
                {
                    let mut st = s.st_mut();
                    st.timer = None;
                    st.call.handle_timeout(Millis(now_ms()));
                }
                s.drive();
            })
        });
        shared.st_mut().timer_cb = Some(cb);
        shared
    }

    pub(crate) fn handle(self: &Rc<Self>) -> Handle {
        Handle(Rc::downgrade(self))
    }

    /// `state.borrow()`: one body, and one panic location, for every use.
    #[inline(never)]
    pub(crate) fn st(&self) -> Ref<'_, State> {
        self.state.borrow()
    }

    /// `state.borrow_mut()`: one body, and one panic location, for every use.
    #[inline(never)]
    pub(crate) fn st_mut(&self) -> RefMut<'_, State> {
        self.state.borrow_mut()
    }

    pub(crate) fn set_pending_connect(&self, resolve: Function, reject: Function) {
        self.pending_connect.set(Some((resolve, reject)));
    }

    /// Feeds one input, then drives.
    pub(crate) fn feed(self: &Rc<Self>, input: Input) {
        let result = self.st_mut().call.handle_input(input, Millis(now_ms()));
        if let Err(e) = result {
            // After the end, late platform events are expected and harmless.
            if e.code() != ErrorCode::Conflict {
                warn(&["assistrtc: input refused: ", &e.message()].concat());
            }
        }
        self.drive();
    }

    /// Runs `f` on the call, then drives; the result is mapped to a JS error.
    pub(crate) fn command<T>(
        self: &Rc<Self>,
        f: impl FnOnce(&mut Call, Millis) -> Result<T, CallError>,
    ) -> Result<T, JsValue> {
        let r = f(&mut self.st_mut().call, Millis(now_ms()));
        self.drive();
        r.map_err(call_error)
    }

    /// Drains the call's outputs, re-arms the timer, then tells the listeners.
    pub(crate) fn drive(self: &Rc<Self>) {
        let mut app_events = Vec::new();
        {
            let mut st = self.st_mut();
            while let Some(output) = st.call.poll_output() {
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
                        warn_error("cannot open signaling socket", &e);
                        // Report asynchronously: the call is mid-drain.
                        let handle = self.handle();
                        crate::js::on_settled(
                            js_sys::Promise::resolve(&JsValue::UNDEFINED),
                            Box::new(move |_| handle.closed()),
                        );
                    }
                }
            }
            Output::CloseTransport => st.socket = None,
            #[cfg(feature = "recorder")]
            Output::Recorder(command) => crate::recorder::apply(&self.handle(), st, command),
            // A build without the recorder never starts one.
            #[cfg(feature = "recorder")]
            Output::Upload { key, request } => {
                crate::recorder::send(&self.handle(), st, key, request)
            }
            #[cfg(not(feature = "recorder"))]
            Output::Recorder(_) | Output::Upload { .. } => {}
            Output::Send(frame) => {
                if let Some(socket) = &st.socket {
                    if let Err(e) = socket.send(&frame) {
                        warn_error("send failed", &e);
                    }
                }
            }
            Output::Peer {
                link,
                command:
                    PeerCommand::Create {
                        ice_servers,
                        relay_only,
                        ..
                    },
            } => match PeerLink::new(
                link.clone(),
                &ice_servers,
                relay_only,
                Rc::new(self.handle()),
            ) {
                Ok(peer) => {
                    st.links.insert(link, peer);
                }
                Err(e) => {
                    // No RTCPeerConnection (a browser without WebRTC), or a configuration it
                    // refuses. Tell the core after the drain, as inputs must wait for it.
                    let (handle, reason) = (self.handle(), crate::js::describe(&e));
                    crate::js::on_settled(
                        js_sys::Promise::resolve(&JsValue::UNDEFINED),
                        Box::new(move |_| {
                            handle.peer_event(&link, PeerEvent::CreateFailed { reason });
                        }),
                    );
                }
            },
            Output::Peer {
                link,
                command: PeerCommand::Close,
            } => {
                st.links.remove(&link);
                st.remote.retain(|_, t| t.link != link);
            }
            Output::Peer { link, command } => {
                let State { links, local, .. } = st;
                if let Some(peer) = links.get_mut(&link) {
                    peer.run(command, local);
                }
            }
            // Collected by `drive`, never applied.
            Output::Event(_) => {}
        }
    }

    fn on_event(self: &Rc<Self>, event: Event) {
        match &event {
            Event::Ended(ended) => {
                self.release_media();
                let pending = self.pending_connect.take();
                if let Some((_, reject)) = pending {
                    // Only a left call has no code, and leaving settles `connect()` first.
                    let code = ended.reason.code().unwrap_or(ErrorCode::Conflict.into());
                    let _ =
                        reject.call1(&JsValue::UNDEFINED, &error(code, &ended.reason.message()));
                }
            }
            Event::TrackAdded(t) => {
                let remote = self
                    .st()
                    .remote
                    .get(&t.track)
                    .map(|r| (Clone::clone(&r.track), Clone::clone(&r.stream)));
                if let Some((track, stream)) = remote {
                    self.dispatch(
                        "trackAdded",
                        events::track_added(&t.member, t.source, &track, &stream),
                    );
                }
                return;
            }
            Event::OverlayChanged(view) => {
                self.dispatch("overlayChanged", events::to_value(view));
                return;
            }
            _ => {}
        }
        if let Some((name, payload)) = events::to_js(&event, &self.st().call) {
            self.dispatch(name, payload);
        }
        #[cfg(feature = "recorder")]
        match &event {
            Event::Upload(report) => crate::recorder::on_upload_event(report),
            Event::Joined(_) => crate::recorder::resume_uploads(self),
            _ => {}
        }
        // `joined` is seen by the listeners before `connect()` resolves.
        if let Event::Joined(_) = event {
            let pending = self.pending_connect.take();
            if let Some((resolve, _)) = pending {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        }
    }

    /// Hands an event to the listeners (the emitter catches what they throw).
    pub(crate) fn dispatch(&self, name: &str, payload: JsValue) {
        let _ = self
            .emit
            .call2(&JsValue::UNDEFINED, &JsValue::from_str(name), &payload);
    }

    /// Stops local tracks and drops every browser resource (idempotent).
    pub(crate) fn release_media(&self) {
        let mut st = self.st_mut();
        for (_, media) in st.local.drain() {
            media.stop();
        }
        st.links.clear();
        st.socket = None;
        st.remote.clear();
        st.clear_timer();
    }
}

/// A refused command as a JS error; one body for every command.
#[inline(never)]
fn call_error(e: CallError) -> JsValue {
    error(e.code(), &e.message())
}

impl State {
    fn clear_timer(&mut self) {
        if let Some(id) = self.timer.take() {
            clear_timeout(id);
        }
    }

    /// One timer for the whole call.
    fn rearm_timer(&mut self) {
        self.clear_timer();
        let Some(at) = self.call.poll_timeout() else {
            return;
        };
        let Some(cb) = self.timer_cb.as_ref() else {
            return;
        };
        let delay = at.0.saturating_sub(now_ms()).min(i32::MAX as u64) as i32;
        match set_timeout(cb.as_ref(), delay) {
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
