//! The native driver: ONE tokio task owns the core [`Call`], the signaling WebSocket, the peer
//! links and the call's one timer, and turns between core outputs/inputs and IO. No call
//! policy lives here (the browser driver, `sdk-wasm/src/driver.rs`, is the same shape).
//!
//! The app reaches the task through a [`CallHandle`]: every API call is a closure run inside
//! the task on the `Call`, after which the task drives (drains outputs, re-arms the timer).
//! Events go to the app's sink in the order the core produced them, with the call at hand
//! (so the sink can read members, sources, … as they were when the event happened).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assistrtc_core::Millis;
use assistrtc_core::call::{Call, CallError};
use assistrtc_core::protocol::{ErrorCode, MemberId, Source};
use assistrtc_core::session::{Event, Input, LinkId, Output, PeerCommand, PeerEvent};
use assistrtc_core::vecmap::VecMap;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::link::{LinkReport, PeerBackend, PeerLink, RemoteTrack, Report};

/// A remote track the core has labelled: who sends it and which source it is.
#[derive(Debug, Clone)]
pub struct LabelledTrack {
    /// The member sending it.
    pub member: MemberId,
    /// Camera, microphone or screen.
    pub source: Source,
    /// The track and its counters.
    pub track: RemoteTrack,
}

/// What the app sees of a call besides its events: the labelled remote tracks.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) tracks: Mutex<Vec<LabelledTrack>>,
}

type Job = Box<dyn FnOnce(&mut Task) + Send>;

/// Where the task hands each event.
pub(crate) type EventSink = Box<dyn FnMut(&Event, &Call) + Send>;

/// The app's side of a call task. Cloning is cheap; the task ends when the call has ended
/// and every handle is gone (dropping the last handle leaves the call).
#[derive(Clone)]
pub(crate) struct CallHandle {
    jobs: mpsc::UnboundedSender<Job>,
    pub(crate) shared: Arc<Shared>,
}

/// Why a handle could not reach its task.
pub(crate) const TASK_GONE: &str = "the call task has ended";

impl CallHandle {
    /// Starts the task on the current tokio runtime; events go to `events`.
    pub(crate) fn spawn(
        call: Call,
        url: String,
        backend: Arc<dyn PeerBackend>,
        events: EventSink,
    ) -> (Self, JoinHandle<()>) {
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (transport_tx, transport) = mpsc::unbounded_channel();
        let task = Task {
            call,
            url,
            backend,
            events,
            shared: shared.clone(),
            started: Instant::now(),
            links: VecMap::default(),
            unlabelled: VecMap::default(),
            reports_tx,
            transport_tx,
            socket: None,
            generation: 0,
        };
        let join = tokio::spawn(task.run(jobs_rx, reports, transport));
        (Self { jobs, shared }, join)
    }

    /// Runs `f` on the call inside the task, then drives; returns its result.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Call, Millis) -> Result<T, CallError> + Send + 'static,
    ) -> Result<Result<T, CallError>, &'static str> {
        self.with_task(move |task| {
            let now = task.now();
            let r = f(&mut task.call, now);
            task.drive();
            r
        })
        .await
    }

    /// Runs `f` on the task (for reads, and for what is not a core command).
    pub(crate) async fn with_task<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Task) -> T + Send + 'static,
    ) -> Result<T, &'static str> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |task| {
                let _ = tx.send(f(task));
            }))
            .map_err(|_| TASK_GONE)?;
        rx.await.map_err(|_| TASK_GONE)
    }
}

/// One signaling connection: frames to send go in, what happened comes out tagged with the
/// connection's generation (a late report of a replaced connection is ignored). Dropping it
/// closes the connection after the frames already queued (so a final `leave` gets out).
struct Socket {
    outgoing: mpsc::UnboundedSender<String>,
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    task: JoinHandle<()>,
}

enum TransportEvent {
    Opened,
    Frame(String),
    Closed,
}

/// The task's state. Only the task touches it.
pub(crate) struct Task {
    pub(crate) call: Call,
    url: String,
    backend: Arc<dyn PeerBackend>,
    events: EventSink,
    shared: Arc<Shared>,
    started: Instant,
    links: VecMap<LinkId, Box<dyn PeerLink>>,
    /// Remote tracks by track id, until the core labels them.
    unlabelled: VecMap<String, (LinkId, RemoteTrack)>,
    reports_tx: mpsc::UnboundedSender<Report>,
    transport_tx: mpsc::UnboundedSender<(u64, TransportEvent)>,
    socket: Option<Socket>,
    /// Generation of the current signaling connection.
    generation: u64,
}

impl Task {
    pub(crate) fn now(&self) -> Millis {
        Millis(self.started.elapsed().as_millis() as u64)
    }

    async fn run(
        mut self,
        mut jobs: mpsc::UnboundedReceiver<Job>,
        mut reports: mpsc::UnboundedReceiver<Report>,
        mut transport: mpsc::UnboundedReceiver<(u64, TransportEvent)>,
    ) {
        loop {
            let deadline = self
                .call
                .poll_timeout()
                .map(|at| self.started + Duration::from_millis(at.0));
            tokio::select! {
                job = jobs.recv() => match job {
                    Some(job) => job(&mut self),
                    // Every handle is gone: leave (if still in the call) and stop.
                    None => {
                        let now = self.now();
                        let _ = self.call.leave(now);
                        self.drive();
                        break;
                    }
                },
                Some(report) = reports.recv() => self.on_report(report),
                Some((generation, event)) = transport.recv() => {
                    if generation == self.generation {
                        self.on_transport(event);
                    }
                }
                () = sleep_until(deadline) => {
                    let now = self.now();
                    self.call.handle_timeout(now);
                    self.drive();
                }
            }
        }
        self.links.clear();
        self.socket = None;
    }

    fn feed(&mut self, input: Input) {
        let now = self.now();
        if let Err(e) = self.call.handle_input(input, now) {
            // After the end, late platform events are expected and harmless.
            if e.code() != ErrorCode::Conflict {
                tracing::warn!(error = %e.message(), "input refused");
            }
        }
        self.drive();
    }

    fn on_transport(&mut self, event: TransportEvent) {
        match event {
            TransportEvent::Opened => self.feed(Input::TransportOpened),
            TransportEvent::Frame(text) => self.feed(Input::Frame(text)),
            TransportEvent::Closed => {
                self.socket = None;
                self.feed(Input::TransportClosed);
            }
        }
    }

    fn on_report(&mut self, report: Report) {
        let Report { link, report } = report;
        match report {
            LinkReport::Track(track) => {
                self.unlabelled.insert(track.id.clone(), (link, track));
            }
            LinkReport::Peer(event) => self.feed(Input::Peer { link, event }),
        }
    }

    /// Drains the call's outputs and hands its events to the app.
    pub(crate) fn drive(&mut self) {
        while let Some(output) = self.call.poll_output() {
            match output {
                Output::Event(event) => self.on_event(event),
                other => self.apply(other),
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match &event {
            Event::TrackAdded(t) => {
                if let Some((_, track)) = self.unlabelled.remove(&t.track) {
                    let mut tracks = self.shared.tracks.lock().unwrap_or_else(|e| e.into_inner());
                    tracks.retain(|x| !(x.member == t.member && x.track.id == track.id));
                    tracks.push(LabelledTrack {
                        member: t.member.clone(),
                        source: t.source,
                        track,
                    });
                }
            }
            Event::TrackUnpublished(t) => {
                let mut tracks = self.shared.tracks.lock().unwrap_or_else(|e| e.into_inner());
                tracks.retain(|x| !(x.member == t.member && x.source == t.source));
            }
            Event::MemberLeft(m) => {
                let mut tracks = self.shared.tracks.lock().unwrap_or_else(|e| e.into_inner());
                tracks.retain(|x| x.member != m.member);
            }
            Event::Ended(_) => {
                self.links.clear();
                self.unlabelled.clear();
            }
            _ => {}
        }
        (self.events)(&event, &self.call);
    }

    fn apply(&mut self, output: Output) {
        match output {
            Output::OpenTransport => self.open_socket(),
            Output::CloseTransport => self.socket = None,
            // The native SDK starts no local recording (the app records its own media), so
            // the call never asks for one.
            Output::Recorder(_) | Output::Upload { .. } => {}
            Output::Send(frame) => {
                if let Some(socket) = &self.socket {
                    let _ = socket.outgoing.send(frame);
                }
            }
            Output::Peer {
                link,
                command:
                    PeerCommand::Create {
                        polite,
                        ice_servers,
                        // Always false: the native options do not offer relay-only calls yet.
                        relay_only: _,
                    },
            } => match self.backend.create(
                link.clone(),
                polite,
                &ice_servers,
                self.reports_tx.clone(),
            ) {
                Ok(peer) => {
                    self.links.insert(link, peer);
                }
                // Reported as an input after this drain, as inputs must wait for it.
                Err(reason) => {
                    let _ = self.reports_tx.send(Report {
                        link,
                        report: LinkReport::Peer(PeerEvent::CreateFailed { reason }),
                    });
                }
            },
            Output::Peer {
                link,
                command: PeerCommand::Close,
            } => {
                if let Some(peer) = self.links.remove(&link) {
                    peer.command(PeerCommand::Close);
                }
                self.unlabelled.retain(|_, (l, _)| *l != link);
            }
            Output::Peer { link, command } => {
                if let Some(peer) = self.links.get(&link) {
                    peer.command(command);
                }
            }
            Output::Event(_) => unreachable!("events are handled by drive"),
        }
    }

    fn open_socket(&mut self) {
        self.generation += 1;
        let generation = self.generation;
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<String>();
        let report = self.transport_tx.clone();
        let url = self.url.clone();
        let task = tokio::spawn(async move {
            let send = |e| report.send((generation, e)).is_ok();
            let Ok((ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
                send(TransportEvent::Closed);
                return;
            };
            if !send(TransportEvent::Opened) {
                return;
            }
            let (mut sink, mut stream) = ws.split();
            loop {
                tokio::select! {
                    frame = to_send.recv() => match frame {
                        Some(text) => {
                            if sink.send(Message::text(text)).await.is_err() {
                                break;
                            }
                        }
                        // The driver let go of this connection: close it after what was queued.
                        None => {
                            let _ = sink.close().await;
                            return;
                        }
                    },
                    message = stream.next() => match message {
                        Some(Ok(Message::Text(text))) => {
                            if !send(TransportEvent::Frame(text.as_str().to_owned())) {
                                return;
                            }
                        }
                        Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
            send(TransportEvent::Closed);
        });
        self.socket = Some(Socket { outgoing, task });
    }

    /// Closes the signaling socket as a network failure would (for tests of resume).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn drop_signaling(&mut self) {
        if let Some(socket) = self.socket.take() {
            socket.task.abort();
            let _ = self
                .transport_tx
                .send((self.generation, TransportEvent::Closed));
        }
    }
}

/// How many RTP frames `member`'s `source` has delivered so far.
pub(crate) fn frames_of(shared: &Shared, member: &str, source: Source) -> u64 {
    let tracks = shared.tracks.lock().unwrap_or_else(|e| e.into_inner());
    tracks
        .iter()
        .filter(|t| t.member.as_str() == member && t.source == source)
        .map(|t| t.track.counters.frames.load(Ordering::Relaxed))
        .sum()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
