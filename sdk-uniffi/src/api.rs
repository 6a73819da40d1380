//! The public native API, exported through UniFFI (Swift, Kotlin, Python): [`AssistClient`]
//! wraps one call task; records and enums mirror the core's with `From`; one small error.
//!
//! Threads: methods may be called from any thread. Observer callbacks arrive on one of the
//! SDK's worker threads, one at a time, in the order the core produced the events; a callback
//! must return quickly (hand work to your own queue) and may call the client's methods.

use std::sync::{Arc, Mutex, OnceLock};

use assistrtc_core::assist::{OverlayView, Point as CorePoint, Rect as CoreRect, ShapeKind};
use assistrtc_core::call::{Call, CallConfig, CallError};
use assistrtc_core::protocol::{self, RecordingAction, RecordingMode, RecordingStatus};
use assistrtc_core::session::Event;
use tokio::sync::{mpsc, oneshot};

use crate::driver::{CallHandle, TASK_GONE};
use crate::link::PeerBackend;
use crate::platform::{PeerConnectionFactory, PlatformBackend};
#[cfg(feature = "webrtc")]
use crate::webrtc_link::{Playback, WebrtcBackend};

/// The SDK's tokio runtime: two worker threads, shared by every client of the process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("assistrtc")
            .enable_all()
            .build()
            .expect("cannot start the SDK's tokio runtime")
    })
}

/// Every failure of the native SDK: a stable `code` (the same strings as the browser SDK's:
/// wire codes such as `forbidden`, local codes such as `unreachable`) and a `detail` for
/// people (not `message`, which Kotlin's exceptions already have).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum AssistError {
    /// The call refused, or the platform failed.
    #[error("{code}: {detail}")]
    Failed {
        /// Stable, machine-readable.
        code: String,
        /// For people.
        detail: String,
    },
}

impl AssistError {
    fn new(code: &str, detail: impl Into<String>) -> Self {
        Self::Failed {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }
}

impl From<CallError> for AssistError {
    fn from(e: CallError) -> Self {
        Self::new(e.code().as_str(), e.message())
    }
}

fn clone_settled(s: &Settled) -> Settled {
    match s {
        Ok(()) => Ok(()),
        Err(AssistError::Failed { code, detail }) => Err(AssistError::new(code, detail.clone())),
    }
}

fn gone(_: &'static str) -> AssistError {
    AssistError::new("conflict", TASK_GONE)
}

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
    /// A recording started or stopped.
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

fn members_of(call: &Call) -> Vec<Member> {
    let session = call.session();
    session
        .members()
        .map(|(id, role)| member(call, id.as_str(), role))
        .collect()
}

fn member(call: &Call, id: &str, role: protocol::Role) -> Member {
    let sources = protocol::MemberId::new(id)
        .map(|m| {
            call.session()
                .published_by(&m)
                .iter()
                .map(|p| p.source.into())
                .collect()
        })
        .unwrap_or_default();
    Member {
        id: id.to_owned(),
        role: role.as_str().to_owned(),
        sources,
    }
}

/// A core event as the app sees it, if it has one.
fn to_event(event: &Event, call: &Call) -> Option<CallEvent> {
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

/// Receives a call's events. See the module docs for the thread they arrive on.
#[uniffi::export(with_foreign)]
pub trait CallObserver: Send + Sync {
    /// One event.
    fn on_event(&self, event: CallEvent);
}

/// A running subscription or playback; dropping it (or `cancel`) stops it.
#[derive(uniffi::Object)]
pub struct TaskHandle {
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[uniffi::export]
impl TaskHandle {
    /// Stops it now.
    pub fn cancel(&self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// How to join.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ConnectOptions {
    /// `http(s)://host:port` of the server, or the full `ws(s)://…/v1/signal` URL.
    pub url: String,
    /// The member's join token.
    pub token: String,
    /// The user has seen and accepted the call notice; media cannot start before this.
    pub notice_acknowledged: bool,
}

/// How a `connect()` ends: joined, or the code and detail of why not.
type Settled = Result<(), AssistError>;

/// What goes to the observer, in order: events, and the settling of a `connect()` placed
/// right after the event that settles it, so the observer has seen `Joined` (or `Ended`)
/// before `connect()` returns.
enum Item {
    Event(CallEvent),
    Settle(oneshot::Sender<Settled>, Settled),
}

/// Application events, converted on the call task with the call at hand; kept until an
/// observer takes them, so none is lost between construction and `set_observer`.
type EventQueue = Mutex<Option<mpsc::UnboundedReceiver<Item>>>;

/// `connect()` calls waiting for the call to join or end, and whether an observer takes the
/// queue (without one, a `connect()` is settled directly).
#[derive(Default)]
struct Waiters {
    connecting: Vec<oneshot::Sender<Settled>>,
    observed: bool,
}

/// One member's connection to a call. Create it, set an observer, then `connect()`.
#[derive(uniffi::Object)]
pub struct AssistClient {
    inner: CallHandle,
    events: EventQueue,
    waiters: Arc<Mutex<Waiters>>,
    #[cfg_attr(not(feature = "webrtc"), allow(dead_code))]
    media: Mutex<Media>,
}

/// The built-in media (webrtc-rs), when the client runs its own peer connections.
#[derive(Default)]
struct Media {
    #[cfg(feature = "webrtc")]
    builtin: Option<Arc<WebrtcBackend>>,
    /// Files playing, by source.
    #[cfg(feature = "webrtc")]
    playing: Vec<(Source, Playback)>,
}

impl AssistClient {
    fn build(
        options: ConnectOptions,
        backend: Arc<dyn PeerBackend>,
        media: Media,
    ) -> Result<Arc<Self>, AssistError> {
        if options.token.is_empty() {
            return Err(AssistError::new("bad_request", "`token` is required"));
        }
        let mut call = Call::new(CallConfig::new(options.token));
        if options.notice_acknowledged {
            call.acknowledge_notice();
        }
        let (app_tx, app_rx) = mpsc::unbounded_channel();
        let waiters = Arc::new(Mutex::new(Waiters::default()));
        let settle = waiters.clone();
        // Converted inside the task, where the call's state is at hand.
        let sink = Box::new(move |event: &Event, call: &Call| {
            if let Some(e) = to_event(event, call) {
                let _ = app_tx.send(Item::Event(e));
            }
            let outcome = match event {
                Event::Joined(_) => Ok(()),
                Event::Ended(e) => Err(AssistError::new(
                    e.reason.code().map_or("conflict", |c| c.as_str()),
                    e.reason.message(),
                )),
                _ => return,
            };
            let mut w = settle.lock().unwrap_or_else(|e| e.into_inner());
            let observed = w.observed;
            for waiter in w.connecting.drain(..) {
                let outcome = clone_settled(&outcome);
                if observed {
                    let _ = app_tx.send(Item::Settle(waiter, outcome));
                } else {
                    let _ = waiter.send(outcome);
                }
            }
        });
        let _guard = runtime().enter();
        let (inner, _join) =
            CallHandle::spawn(call, protocol::signal_url(&options.url), backend, sink);
        Ok(Arc::new(Self {
            inner,
            events: Mutex::new(Some(app_rx)),
            waiters,
            media: Mutex::new(media),
        }))
    }
}

/// The constructor for the built-in media (webrtc-rs: desktop, CLI, tests).
#[cfg(feature = "webrtc")]
#[uniffi::export]
impl AssistClient {
    /// A client for one call, with its own peer connections (webrtc-rs); nothing is
    /// contacted until `connect()`.
    #[uniffi::constructor]
    pub fn new(options: ConnectOptions) -> Result<Arc<Self>, AssistError> {
        Self::with_backend(options, WebrtcBackend::new())
    }
}

/// Rust-only construction, not exported to the bindings.
#[cfg(feature = "webrtc")]
impl AssistClient {
    /// Like [`AssistClient::new`], with peer links created by `backend` instead of the default
    /// [`WebrtcBackend::new`] (which binds `0.0.0.0:0`, where webrtc-rs skips loopback). For
    /// Rust apps and benches that need a choice of local addresses, e.g.
    /// `WebrtcBackend::with_udp_addrs(vec!["127.0.0.1:0".into()])` for clients on loopback.
    pub fn with_backend(
        options: ConnectOptions,
        backend: WebrtcBackend,
    ) -> Result<Arc<Self>, AssistError> {
        let builtin = Arc::new(backend);
        let media = Media {
            builtin: Some(builtin.clone()),
            playing: Vec::new(),
        };
        Self::build(options, builtin, media)
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl AssistClient {
    /// A client for one call whose peer connections are the app's own WebRTC (iOS, Android:
    /// see `PeerConnectionFactory`); nothing is contacted until `connect()`.
    #[uniffi::constructor]
    pub fn with_platform(
        options: ConnectOptions,
        factory: Arc<dyn PeerConnectionFactory>,
    ) -> Result<Arc<Self>, AssistError> {
        Self::build(
            options,
            Arc::new(PlatformBackend { factory }),
            Media::default(),
        )
    }

    /// Delivers every event, from the first, to `observer`, until the returned handle is
    /// dropped or cancelled. Only one observer: a second call fails with `conflict`.
    pub fn set_observer(
        &self,
        observer: Arc<dyn CallObserver>,
    ) -> Result<Arc<TaskHandle>, AssistError> {
        let Some(mut events) = self.events.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Err(AssistError::new("conflict", "an observer is already set"));
        };
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observed = true;
        let task = runtime().spawn(async move {
            while let Some(item) = events.recv().await {
                match item {
                    Item::Event(event) => observer.on_event(event),
                    Item::Settle(waiter, outcome) => {
                        let _ = waiter.send(outcome);
                    }
                }
            }
        });
        Ok(Arc::new(TaskHandle {
            task: Mutex::new(Some(task)),
        }))
    }

    /// Joins; returns once the server welcomed this member (after `Joined`). Fails with
    /// `unreachable`, the server's code (`unauthorized`, `token_expired`, …), or `conflict`
    /// when called twice.
    pub async fn connect(&self) -> Result<(), AssistError> {
        let (tx, joined) = oneshot::channel();
        let waiters = self.waiters.clone();
        self.inner
            .with_task(move |task| {
                let now = task.now();
                let r = task.call.join(now);
                if r.is_ok() {
                    // Registered before the drive, so the outcome cannot be missed.
                    let mut w = waiters.lock().unwrap_or_else(|e| e.into_inner());
                    w.connecting.push(tx);
                }
                task.drive();
                r
            })
            .await
            .map_err(gone)??;
        joined
            .await
            .map_err(|_| AssistError::new("conflict", TASK_GONE))?
    }

    /// Leaves the call: tells the server, stops sending, closes every link. Safe to call
    /// twice.
    pub async fn leave(&self) {
        #[cfg(feature = "webrtc")]
        self.media
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .playing
            .clear();
        let _ = self.inner.call(|call, now| call.leave(now)).await;
    }

    /// The current state (see `CallEvent::StateChanged`).
    pub async fn state(&self) -> String {
        self.inner
            .with_task(|task| task.call.state().as_str().to_owned())
            .await
            .unwrap_or_else(|_| "ended".to_owned())
    }

    /// The other members present now, with what they publish.
    pub async fn members(&self) -> Vec<Member> {
        self.inner
            .with_task(|task| members_of(&task.call))
            .await
            .unwrap_or_default()
    }

    /// Tells the room that `source` is published in media stream `stream_id`, for a client
    /// on the app's own WebRTC (`with_platform`): its links then get `AddSource` and add the
    /// app's track. Fails with `forbidden` when this member may not publish it.
    pub async fn announce_source(
        &self,
        source: Source,
        stream_id: String,
    ) -> Result<(), AssistError> {
        Ok(self
            .inner
            .call(move |call, now| call.publish(source.into(), Some(stream_id), now))
            .await
            .map_err(gone)??)
    }

    /// Stops publishing `source`.
    pub async fn stop_source(&self, source: Source) -> Result<(), AssistError> {
        let r = self
            .inner
            .call(move |call, now| call.unpublish(source.into(), now))
            .await
            .map_err(gone)?;
        #[cfg(feature = "webrtc")]
        {
            let mut media = self.media.lock().unwrap_or_else(|e| e.into_inner());
            media.playing.retain(|(s, _)| *s != source);
            if let Some(builtin) = &media.builtin {
                builtin.unpublish(source.into());
            }
        }
        Ok(r?)
    }

    /// RTP frames received so far from `member`'s `source` (0 before its media arrived).
    pub fn frames_received(&self, member: String, source: Source) -> u64 {
        crate::driver::frames_of(&self.inner.shared, &member, source.into())
    }

    /// Grants or withdraws consent to being recorded.
    pub async fn set_recording_consent(&self, granted: bool) -> Result<(), AssistError> {
        Ok(self
            .inner
            .call(move |call, now| call.set_recording_consent(granted, now))
            .await
            .map_err(gone)??)
    }

    /// Asks the server to start (`true`) or stop a local recording.
    pub async fn request_local_recording(&self, start: bool) -> Result<(), AssistError> {
        let action = if start {
            RecordingAction::Start
        } else {
            RecordingAction::Stop
        };
        Ok(self
            .inner
            .call(move |call, now| call.request_recording(action, RecordingMode::Local, now))
            .await
            .map_err(gone)??)
    }

    /// Whether a local recording is running, as the server last said.
    pub async fn recording_local(&self) -> bool {
        self.inner
            .with_task(|task| {
                task.call.session().recording(RecordingMode::Local) == RecordingStatus::Recording
            })
            .await
            .unwrap_or(false)
    }

    /// Moves this member's pointer (0..1); `at` is the media time (ms) of the frame.
    pub async fn pointer(&self, x: f64, y: f64, at: u64) -> Result<(), AssistError> {
        Ok(self
            .inner
            .call(move |call, now| call.pointer(x, y, at, now))
            .await
            .map_err(gone)??)
    }

    /// Draws a box; returns its id. `color` is `#rrggbb`; `ttl_ms` 0 keeps it until cleared.
    pub async fn highlight(
        &self,
        rect: Rect,
        color: String,
        ttl_ms: u64,
        at: u64,
    ) -> Result<String, AssistError> {
        let r = CoreRect {
            x: rect.x,
            y: rect.y,
            w: rect.w,
            h: rect.h,
        };
        Ok(self
            .inner
            .call(move |call, now| call.highlight(r, &color, ttl_ms, at, now))
            .await
            .map_err(gone)??)
    }

    /// Draws an arrow; returns its id.
    pub async fn arrow(
        &self,
        from: Point,
        to: Point,
        color: String,
        ttl_ms: u64,
        at: u64,
    ) -> Result<String, AssistError> {
        let (from, to) = (
            CorePoint {
                x: from.x,
                y: from.y,
            },
            CorePoint { x: to.x, y: to.y },
        );
        Ok(self
            .inner
            .call(move |call, now| call.arrow(from, to, &color, ttl_ms, at, now))
            .await
            .map_err(gone)??)
    }

    /// Removes one shape, or all of this member's shapes.
    pub async fn clear(&self, id: Option<String>, at: u64) -> Result<(), AssistError> {
        Ok(self
            .inner
            .call(move |call, now| call.clear(id.as_deref(), at, now))
            .await
            .map_err(gone)??)
    }

    /// Shows a script step to both sides.
    pub async fn script_step(
        &self,
        ticket: String,
        step: u32,
        total: u32,
        title: String,
    ) -> Result<(), AssistError> {
        Ok(self
            .inner
            .call(move |call, now| call.script_step(&ticket, step, total, &title, now))
            .await
            .map_err(gone)??)
    }

    /// What the overlay shows now.
    pub async fn overlay(&self) -> Overlay {
        self.inner
            .with_task(|task| {
                let now = task.now();
                Overlay::from(&task.call.overlay(now))
            })
            .await
            .unwrap_or_default()
    }
}

/// Media from files, with the built-in media.
#[cfg(feature = "webrtc")]
#[uniffi::export(async_runtime = "tokio")]
impl AssistClient {
    /// Publishes `source` from a VP8 IVF file played in a loop at its frame rate (a test
    /// pattern, or any pre-encoded video). Fails with `forbidden` when this member may not.
    pub async fn publish_ivf(&self, source: Source, path: String) -> Result<(), AssistError> {
        let stream = ["native-", protocol::Source::from(source).as_str()].concat();
        let Some(builtin) = self
            .media
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .builtin
            .clone()
        else {
            return Err(AssistError::new(
                "conflict",
                "publish_ivf needs the built-in media; with_platform clients use announce_source",
            ));
        };
        let track = builtin.publish(source.into(), &stream);
        // The file is read and checked first: a bad one is refused before the room hears of it.
        let playback = {
            let _guard = runtime().enter();
            crate::webrtc_link::play_ivf(track, std::path::Path::new(&path), true)
        };
        let playback = match playback {
            Ok(p) => p,
            Err(e) => {
                builtin.unpublish(source.into());
                return Err(AssistError::new("bad_request", e));
            }
        };
        let published = self
            .inner
            .call(move |call, now| call.publish(source.into(), Some(stream), now))
            .await
            .map_err(gone)?;
        if let Err(e) = published {
            drop(playback);
            builtin.unpublish(source.into());
            return Err(e.into());
        }
        self.media
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .playing
            .push((source, playback));
        Ok(())
    }
}

/// A source the app feeds with encoded frames (VP8 for camera and screen, Opus for the
/// microphone), from `AssistClient::publish_frames`. Frames written before a link has
/// negotiated are dropped (the first keyframe after that starts the picture).
#[cfg(feature = "webrtc")]
#[derive(uniffi::Object)]
pub struct FrameSource {
    track: crate::webrtc_link::LocalTrack,
}

#[cfg(feature = "webrtc")]
#[uniffi::export(async_runtime = "tokio")]
impl FrameSource {
    /// Sends one encoded frame lasting `duration_ms` on every link that carries the source.
    pub async fn write_frame(&self, data: Vec<u8>, duration_ms: u32) -> Result<(), AssistError> {
        self.track
            .write_frame(
                data.into(),
                std::time::Duration::from_millis(u64::from(duration_ms)),
            )
            .await
            .map_err(|e| AssistError::new("internal", e))
    }
}

/// Media the app produces itself, with the built-in media.
#[cfg(feature = "webrtc")]
#[uniffi::export(async_runtime = "tokio")]
impl AssistClient {
    /// Publishes `source` fed by the app: write encoded frames to the returned source. Fails
    /// with `forbidden` when this member may not publish it.
    pub async fn publish_frames(&self, source: Source) -> Result<Arc<FrameSource>, AssistError> {
        let stream = ["native-", protocol::Source::from(source).as_str()].concat();
        let Some(builtin) = self
            .media
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .builtin
            .clone()
        else {
            return Err(AssistError::new(
                "conflict",
                "publish_frames needs the built-in media; with_platform clients use announce_source",
            ));
        };
        let track = builtin.publish(source.into(), &stream);
        let published = self
            .inner
            .call(move |call, now| call.publish(source.into(), Some(stream), now))
            .await
            .map_err(gone)?;
        if let Err(e) = published {
            builtin.unpublish(source.into());
            return Err(e.into());
        }
        Ok(Arc::new(FrameSource { track }))
    }
}

/// Hooks for the end-to-end tests, built only with the `test-hooks` feature.
#[cfg(feature = "test-hooks")]
#[uniffi::export(async_runtime = "tokio")]
impl AssistClient {
    /// Drops the signaling connection as a network failure would (for tests of resume).
    pub async fn simulate_signaling_drop(&self) {
        let _ = self.inner.with_task(|task| task.drop_signaling()).await;
    }
}
