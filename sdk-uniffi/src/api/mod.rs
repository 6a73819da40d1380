//! The public native API, exported through UniFFI (Swift, Kotlin, Python): [`AssistClient`]
//! wraps one call task; records and enums mirror the core's with `From`; one small error.
//!
//! Threads: methods may be called from any thread. Observer callbacks arrive on one of the
//! SDK's worker threads, one at a time, in the order the core produced the events; a callback
//! must return quickly (hand work to your own queue) and may call the client's methods.

mod types;

use std::sync::{Arc, Mutex, OnceLock};

use assistrtc_core::assist::{Point as CorePoint, Rect as CoreRect};
use assistrtc_core::call::{Call, CallConfig, CallError};
use assistrtc_core::protocol::{self, RecordingAction, RecordingMode, RecordingStatus};
use assistrtc_core::session::Event;
use tokio::sync::{mpsc, oneshot};

pub use self::types::{CallEvent, Cursor, Member, Overlay, Point, Rect, ScriptStep, Shape, Source};
use self::types::{members_of, to_event};
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
    /// Tells the room `source` is published in media stream `stream`.
    async fn announce(&self, source: Source, stream: String) -> Result<(), AssistError> {
        Ok(self
            .inner
            .call(move |call, now| call.publish(source.into(), Some(stream), now))
            .await
            .map_err(gone)??)
    }

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
        self.announce(source, stream_id).await
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

    /// Shares a pre-call report (`PreflightReport.json`) with the room; call it only once
    /// the user agreed. Before `connect` it is kept and sent when the call joins. The others
    /// get `MemberDiagnostics` and see it on the member; `bad_request` for text that is not
    /// a report's JSON object (at most 8 KiB).
    pub async fn share_diagnostics(&self, report: String) -> Result<(), AssistError> {
        Ok(self
            .inner
            .call(move |call, now| call.share_diagnostics(report, now))
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

/// What publishing on the built-in media shares.
#[cfg(feature = "webrtc")]
impl AssistClient {
    /// The built-in media and the stream id `source` is published in; `conflict` for a
    /// `with_platform` client, naming the call `what`.
    fn builtin(
        &self,
        what: &str,
        source: Source,
    ) -> Result<(Arc<WebrtcBackend>, String), AssistError> {
        let builtin = self
            .media
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .builtin
            .clone()
            .ok_or_else(|| {
                AssistError::new(
                    "conflict",
                    [
                        what,
                        " needs the built-in media; with_platform clients use announce_source",
                    ]
                    .concat(),
                )
            })?;
        let stream = ["native-", protocol::Source::from(source).as_str()].concat();
        Ok((builtin, stream))
    }
}

/// Media from files, with the built-in media.
#[cfg(feature = "webrtc")]
#[uniffi::export(async_runtime = "tokio")]
impl AssistClient {
    /// Publishes `source` from a VP8 IVF file played in a loop at its frame rate (a test
    /// pattern, or any pre-encoded video). Fails with `forbidden` when this member may not.
    pub async fn publish_ivf(&self, source: Source, path: String) -> Result<(), AssistError> {
        let (builtin, stream) = self.builtin("publish_ivf", source)?;
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
        if let Err(e) = self.announce(source, stream).await {
            drop(playback);
            builtin.unpublish(source.into());
            return Err(e);
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
        let (builtin, stream) = self.builtin("publish_frames", source)?;
        let track = builtin.publish(source.into(), &stream);
        if let Err(e) = self.announce(source, stream).await {
            builtin.unpublish(source.into());
            return Err(e);
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
