//! The WebSocket driver around the sans-IO [`Hub`].
//!
//! One task owns the hub and `select!`s over an mpsc of [`HubEvent`]s and a sleep until
//! [`Hub::poll_timeout`] on the server's [`Clock`]. Each WebSocket connection is a task that forwards what it reads into
//! that mpsc and writes what the hub task hands it through a small bounded per-connection
//! channel. No state is shared behind locks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use assistrtc_core::Millis;
use assistrtc_core::protocol::{self, MemberId, RoomId, ServerMessage};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::{Clock, Sleep};
use crate::hub::{ConnId, Hub, HubOutput, MemberConsent, RateLimit, TokenBucket};
use crate::metrics::Metrics;
use crate::store::{RoomDefinition, RoomStore};

/// Frames queued for one connection before it counts as too slow and is dropped (its seat is
/// then held for the grace period like any other drop).
pub(crate) const CONNECTION_QUEUE: usize = 64;
/// Longest a single frame write may take before the peer counts as gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection waits for the peer's close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// How long the hub task waits, on shutdown, for connection tasks to finish.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// What the hub task hands a connection task.
pub(crate) enum Outbound {
    /// Send this text frame (shared by every recipient of a broadcast: encoded once).
    Frame(Utf8Bytes),
    /// The hub is done with this connection: close it politely (after what is queued).
    Close,
    /// The server is shutting down: close with 1001 (going away), so the client reconnects
    /// elsewhere or later rather than treating it as an error.
    GoingAway,
}

/// Bytes of frames queued for one connection before it counts as not reading and is dropped
/// (its seat held for a resume): a few large offers, far more than a reading client lags.
pub(crate) const MAX_QUEUED_BYTES: usize = 1024 * 1024;
/// Bytes queued for all connections together before the next one to grow the total is dropped
/// as not reading: a server-wide bound whatever the number of slow readers.
pub(crate) const MAX_TOTAL_QUEUED_BYTES: usize = 256 * 1024 * 1024;

/// The hub task's handle on one connection: its queue, and the bytes waiting in it (the
/// connection task subtracts what it has written).
#[derive(Debug)]
pub(crate) struct ConnTx {
    pub(crate) tx: mpsc::Sender<Outbound>,
    pub(crate) queued: Arc<Backlog>,
    /// Set when the hub drops the connection for not reading, so its task can say why.
    pub(crate) too_slow: Arc<AtomicBool>,
}

/// Bytes waiting to be written: one connection's, and every connection's together. The hub
/// task adds a frame's bytes before queueing it (and takes them back if it cannot); whoever
/// consumes the frame takes them off: the connection task once written, or when it ends with
/// frames still queued.
#[derive(Debug)]
pub(crate) struct Backlog {
    conn: AtomicUsize,
    all: Arc<AtomicUsize>,
}

impl Backlog {
    pub(crate) fn new(all: Arc<AtomicUsize>) -> Self {
        Self {
            conn: AtomicUsize::new(0),
            all,
        }
    }

    /// Whether `len` more bytes would go over this connection's or the server's bound.
    fn would_exceed(&self, len: usize) -> bool {
        self.conn.load(Ordering::Relaxed) + len > MAX_QUEUED_BYTES
            || self.all.load(Ordering::Relaxed) + len > MAX_TOTAL_QUEUED_BYTES
    }

    fn add(&self, len: usize) {
        self.conn.fetch_add(len, Ordering::Relaxed);
        self.all.fetch_add(len, Ordering::Relaxed);
    }

    fn sub(&self, len: usize) {
        self.conn.fetch_sub(len, Ordering::Relaxed);
        self.all.fetch_sub(len, Ordering::Relaxed);
    }
}

/// What the hub task hears about.
pub(crate) enum HubEvent {
    /// A WebSocket connection was accepted; `tx` carries frames to it.
    Open { conn: ConnId, tx: ConnTx },
    /// A text frame arrived.
    Text { conn: ConnId, text: Utf8Bytes },
    /// A binary frame arrived.
    Binary { conn: ConnId },
    /// A WebSocket pong (or ping) arrived: the peer is alive, though it sent no frame.
    Alive { conn: ConnId },
    /// The connection ended.
    Close { conn: ConnId },
    /// `POST /v1/rooms` created a room.
    RoomCreated(RoomDefinition),
    /// A token issued for an existing room moved its expiry (Unix seconds).
    RoomExtended { room: RoomId, expires_at: u64 },
    /// `GET /metrics` asks for the gauges (counted on demand, not after every event: counting
    /// sessions walks every connection).
    Stats {
        reply: oneshot::Sender<(usize, usize, usize)>,
    },
    /// `GET /v1/rooms/{id}` asks who is online.
    Online {
        room: RoomId,
        reply: oneshot::Sender<Option<Vec<MemberId>>>,
    },
    /// `POST /v1/recordings` asks who is present and consents, for the consent record.
    Consent {
        room: RoomId,
        reply: oneshot::Sender<Option<Vec<MemberConsent>>>,
    },
}

/// Runs the hub until `shutdown` turns `true` (or its sender is dropped).
pub(crate) async fn run_hub(
    mut hub: Hub,
    mut events: mpsc::Receiver<HubEvent>,
    clock: Arc<dyn Clock>,
    store: Arc<dyn RoomStore>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns: HashMap<ConnId, ConnTx> = HashMap::new();
    // The sleep for the hub's next deadline, kept across events while the deadline holds.
    let mut timer: Option<(Millis, Sleep)> = None;
    loop {
        let deadline = hub.poll_timeout();
        if timer.as_ref().map(|(at, _)| *at) != deadline {
            timer = deadline.map(|at| (at, clock.sleep_until(at)));
        }
        let mut frame_started = None;
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            event = events.recv() => {
                let Some(event) = event else { break };
                if matches!(event, HubEvent::Text { .. }) {
                    frame_started = Some(std::time::Instant::now());
                }
                apply(&mut hub, &mut conns, event, clock.now());
            }
            at = fired(&mut timer) => {
                timer = None;
                // Never report a time before the deadline we slept for.
                hub.handle_timeout(clock.now().max(at));
            }
        }
        drain(&mut hub, &mut conns, clock.as_ref(), &store, &metrics);
        if let Some(started) = frame_started {
            metrics.frame_handled(started.elapsed());
        }
    }
    tracing::debug!(
        connections = conns.len(),
        "hub stopping; closing connections"
    );
    // Each connection task sends a 1001 close frame and exits; one whose queue is full
    // misses the marker and closes when its sender is dropped.
    for tx in conns.values() {
        let _ = tx.tx.try_send(Outbound::GoingAway);
    }
    drop(conns);
    let drained = tokio::time::timeout(SHUTDOWN_DRAIN, async {
        while let Some(event) = events.recv().await {
            match event {
                HubEvent::Online { reply, .. } => {
                    let _ = reply.send(None);
                }
                HubEvent::Consent { reply, .. } => {
                    let _ = reply.send(None);
                }
                _ => {}
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open {SHUTDOWN_DRAIN:?} after shutdown; giving up");
    }
}

/// Completes with the deadline once `timer` fires; never without a timer.
async fn fired(timer: &mut Option<(Millis, Sleep)>) -> Millis {
    match timer {
        Some((at, sleep)) => {
            sleep.as_mut().await;
            *at
        }
        None => std::future::pending().await,
    }
}

fn apply(hub: &mut Hub, conns: &mut HashMap<ConnId, ConnTx>, event: HubEvent, now: Millis) {
    match event {
        HubEvent::Open { conn, tx } => {
            conns.insert(conn, tx);
            hub.handle_open(conn, now);
        }
        HubEvent::Text { conn, text } => hub.handle_frame(conn, text.as_str(), now),
        HubEvent::Binary { conn } => hub.handle_binary(conn, now),
        HubEvent::Alive { conn } => hub.handle_alive(conn, now),
        HubEvent::Close { conn } => {
            conns.remove(&conn);
            hub.handle_close(conn, now);
        }
        HubEvent::RoomCreated(def) => {
            hub.add_room(def);
        }
        HubEvent::Online { room, reply } => {
            let _ = reply.send(hub.online_members(&room));
        }
        HubEvent::Consent { room, reply } => {
            let _ = reply.send(hub.recording_consent(&room));
        }
        HubEvent::RoomExtended { room, expires_at } => {
            hub.extend_room(&room, expires_at);
        }
        HubEvent::Stats { reply } => {
            let _ = reply.send((
                hub.connection_count(),
                hub.session_count(),
                hub.room_count(),
            ));
        }
    }
}

fn drain(
    hub: &mut Hub,
    conns: &mut HashMap<ConnId, ConnTx>,
    clock: &dyn Clock,
    store: &Arc<dyn RoomStore>,
    metrics: &Metrics,
) {
    let mut last: Option<(ServerMessage, Utf8Bytes)> = None;
    while let Some(output) = hub.poll_output() {
        match output {
            HubOutput::Send { conn, msg } => {
                match &msg {
                    ServerMessage::Welcome { .. } => metrics.joined(),
                    ServerMessage::Error {
                        code,
                        reference: Some(r),
                        ..
                    } if r == "join" => metrics.join_failed(*code),
                    _ => {}
                }
                let Some(c) = conns.get(&conn) else {
                    continue;
                };
                // A broadcast is the same message to every recipient in a row: encode it once
                // and share the bytes.
                let text = match &last {
                    Some((m, text)) if *m == msg => text.clone(),
                    _ => Utf8Bytes::from(protocol::encode_server(&msg)),
                };
                let len = text.len();
                let full = if c.queued.would_exceed(len) {
                    true
                } else {
                    c.queued.add(len);
                    match c.tx.try_send(Outbound::Frame(text.clone())) {
                        Ok(()) => {
                            last = Some((msg, text));
                            continue;
                        }
                        Err(e) => {
                            c.queued.sub(len);
                            matches!(e, TrySendError::Full(_))
                        }
                    }
                };
                if full {
                    c.too_slow.store(true, Ordering::Relaxed);
                    metrics.slow_reader_dropped();
                    tracing::warn!(
                        conn = conn.0,
                        "connection is not reading; dropping it (its seat is held for resume)"
                    );
                }
                // Dropping the sender ends the connection task; the frame waits in the seat.
                conns.remove(&conn);
                hub.handle_undelivered(conn, msg, clock.now());
            }
            HubOutput::Close { conn } => {
                // The connection task sends what is queued, then a close frame. If the queue
                // is full the marker is lost, and the dropped sender still ends the task.
                if let Some(tx) = conns.remove(&conn) {
                    let _ = tx.tx.try_send(Outbound::Close);
                }
            }
            HubOutput::RoomRemoved { room } => {
                // Off the hub's task: a store on disk must not stall signaling.
                let store = Arc::clone(store);
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = store.remove_room(&room) {
                        tracing::warn!(%room, "cannot remove expired room from the store: {e}");
                    }
                });
            }
        }
    }
}

/// Drives one WebSocket: frames in go to the hub task, frames from the hub task go out.
///
/// Control frames (ping, pong) never reach the hub's rate limit, as the WebSocket layer
/// answers pings itself; `control_rate` bounds them here instead, with the same limit the
/// hub applies to frames. There is nothing to answer an excess control frame with, and no
/// client needs more than one per server ping, so a connection over it is closed (1008).
pub(crate) async fn connection(
    mut socket: WebSocket,
    conn: ConnId,
    events: mpsc::Sender<HubEvent>,
    clock: Arc<dyn Clock>,
    ping_every_ms: u64,
    control_rate: RateLimit,
    all_queued: Arc<AtomicUsize>,
) {
    let (tx, mut rx) = mpsc::channel::<Outbound>(CONNECTION_QUEUE);
    let queued = Arc::new(Backlog::new(all_queued));
    let too_slow = Arc::new(AtomicBool::new(false));
    let handle = ConnTx {
        tx,
        queued: Arc::clone(&queued),
        too_slow: Arc::clone(&too_slow),
    };
    if events
        .send(HubEvent::Open { conn, tx: handle })
        .await
        .is_err()
    {
        return;
    }
    tracing::debug!(conn = conn.0, "websocket open");
    // `Some((frame, linger))` when the server ends the connection: send the close frame, then
    // wait up to `linger` for the peer's, so that the peer reads everything before the TCP
    // close.
    let mut server_close: Option<(Option<CloseFrame>, Duration)> = None;
    let mut control = TokenBucket::full(control_rate, clock.now());
    // Protocol-level pings: the browser answers them itself, so a page whose timers are
    // throttled (a tab hidden for minutes) is still seen alive; a dead peer fails the send.
    // The next ping is scheduled from when the last one went out, so a stalled task sends one
    // late ping, not a burst.
    let mut ping = clock.sleep_until(clock.now().after(ping_every_ms));
    loop {
        tokio::select! {
            () = &mut ping => {
                ping = clock.sleep_until(clock.now().after(ping_every_ms));
                let sent = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Ping(Default::default()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    tracing::debug!(conn = conn.0, "websocket ping failed or timed out");
                    break;
                }
            }
            outbound = rx.recv() => {
                let text = match outbound {
                    Some(Outbound::Frame(text)) => text,
                    Some(Outbound::Close) => {
                        server_close = Some((None, CLOSE_LINGER));
                        break;
                    }
                    Some(Outbound::GoingAway) => {
                        // No linger: shutdown does not wait on clients that read slowly.
                        let frame = close_frame(close_code::AWAY, "server shutting down");
                        server_close = Some((Some(frame), Duration::ZERO));
                        break;
                    }
                    // The hub task stopped (server shutdown) or dropped us as too slow.
                    None => {
                        // 1013 "try again later": the seat is held, a resume catches up.
                        let frame = too_slow
                            .load(Ordering::Relaxed)
                            .then(|| close_frame(close_code::AGAIN, "not reading: frames waited too long"));
                        server_close = Some((frame, Duration::ZERO));
                        break;
                    }
                };
                let len = text.len();
                let sent = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await;
                queued.sub(len);
                if !matches!(sent, Ok(Ok(()))) {
                    tracing::debug!(conn = conn.0, "websocket write failed or timed out");
                    break;
                }
            }
            inbound = socket.recv() => {
                let event = match inbound {
                    Some(Ok(message)) => {
                        let is_control = matches!(message, Message::Ping(_) | Message::Pong(_));
                        if is_control && !control.take(control_rate, clock.now()) {
                            tracing::debug!(conn = conn.0, "control frame flood; closing");
                            let frame =
                                close_frame(close_code::POLICY, "too many control frames");
                            server_close = Some((Some(frame), Duration::ZERO));
                            break;
                        }
                        match inbound_event(conn, message) {
                            Some(event) => event,
                            None => continue,
                        }
                    }
                    Some(Err(e)) => {
                        tracing::debug!(conn = conn.0, "websocket error: {e}");
                        // A frame over the size limit is refused from its header; say why.
                        server_close =
                            read_error_close(e).map(|frame| (Some(frame), Duration::ZERO));
                        break;
                    }
                    None => break,
                };
                if events.send(event).await.is_err() {
                    server_close = Some((None, Duration::ZERO));
                    break;
                }
            }
        }
    }
    if let Some((frame, linger)) = server_close {
        let _ = tokio::time::timeout(CLOSE_LINGER, socket.send(Message::Close(frame))).await;
        let _ = tokio::time::timeout(linger, async {
            while let Some(Ok(_)) = socket.recv().await {}
        })
        .await;
    }
    // Frames still queued will never be written: take their bytes off the server's total.
    rx.close();
    while let Ok(outbound) = rx.try_recv() {
        if let Outbound::Frame(text) = outbound {
            queued.sub(text.len());
        }
    }
    let _ = events.send(HubEvent::Close { conn }).await;
    tracing::debug!(conn = conn.0, "websocket closed");
}

fn close_frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// The close frame that tells the peer why its input ended the connection, if it can still
/// be told: not after a network error.
fn read_error_close(error: axum::Error) -> Option<CloseFrame> {
    let error = error.into_inner().downcast::<tungstenite::Error>().ok()?;
    match *error {
        tungstenite::Error::Capacity(_) => Some(close_frame(
            close_code::SIZE,
            "frame larger than the protocol's 64 KiB",
        )),
        tungstenite::Error::Utf8(_) => Some(close_frame(close_code::INVALID, "text is not UTF-8")),
        tungstenite::Error::Protocol(_) => Some(close_frame(
            close_code::PROTOCOL,
            "WebSocket protocol error",
        )),
        _ => None,
    }
}

/// What a WebSocket message from the peer means to the hub (`None`: nothing).
fn inbound_event(conn: ConnId, message: Message) -> Option<HubEvent> {
    match message {
        Message::Text(text) => Some(HubEvent::Text { conn, text }),
        Message::Binary(_) => Some(HubEvent::Binary { conn }),
        // Pings are answered by the WebSocket layer, and either way the peer is alive: a pong
        // to our ping is all a page with throttled timers sends. A close is answered on the
        // next read, which then ends the stream.
        Message::Ping(_) | Message::Pong(_) => Some(HubEvent::Alive { conn }),
        Message::Close(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use assistrtc_core::protocol::{ClientMessage, Permissions, Role};

    use super::*;
    use crate::clock::SystemClock;
    use crate::hub::{HubConfig, RateLimit};
    use crate::jwt::{self, Claims};
    use crate::store::{MemberSpec, MemoryRoomStore, NEVER};

    const SECRET: &[u8] = b"signal-test";

    /// A hub with `rm_1` holding `a`, `b`, `c`, each joined on its own queue (never read).
    fn three_joined() -> (Hub, HashMap<ConnId, ConnTx>, Vec<mpsc::Receiver<Outbound>>) {
        let mut config = HubConfig::new(SECRET.to_vec());
        config.rate_limit = RateLimit {
            burst: 10_000,
            refill_per_sec: 10_000,
        };
        let mut hub = Hub::new(config);
        let members = ["a", "b", "c"];
        hub.add_room(RoomDefinition {
            id: RoomId::new("rm_1").unwrap(),
            members: members
                .iter()
                .map(|m| MemberSpec {
                    id: MemberId::new(*m).unwrap(),
                    role: Role::Host,
                })
                .collect(),
            permissions: Permissions::default(),
            epoch: "e1".into(),
            expires_at: NEVER,
        });
        let now = SystemClock::new().now();
        let (mut conns, mut rxs) = (HashMap::new(), Vec::new());
        // One total for every connection, as the server keeps it.
        let all: Arc<AtomicUsize> = Arc::default();
        for (i, m) in members.iter().enumerate() {
            let conn = ConnId(i as u64 + 1);
            let (tx, rx) = mpsc::channel(10_000);
            rxs.push(rx);
            let (queued, too_slow) = (Arc::new(Backlog::new(Arc::clone(&all))), Arc::default());
            apply(
                &mut hub,
                &mut conns,
                HubEvent::Open {
                    conn,
                    tx: ConnTx {
                        tx,
                        queued,
                        too_slow,
                    },
                },
                now,
            );
            let token = jwt::issue(
                SECRET,
                &Claims {
                    room: RoomId::new("rm_1").unwrap(),
                    sub: MemberId::new(*m).unwrap(),
                    role: Role::Host,
                    epoch: "e1".into(),
                    iat: now.0 / 1000,
                    exp: now.0 / 1000 + 600,
                    jti: None,
                },
            );
            let join = protocol::encode_client(&ClientMessage::Join {
                token,
                resume_token: None,
            });
            hub.handle_frame(conn, &join, now);
        }
        (hub, conns, rxs)
    }

    #[test]
    fn a_broadcast_is_encoded_once_and_slow_readers_are_dropped_by_bytes() {
        let (mut hub, mut conns, mut rxs) = three_joined();
        let (clock, metrics) = (SystemClock::new(), Metrics::default());
        let store: Arc<dyn RoomStore> = Arc::new(MemoryRoomStore::new());
        drain(&mut hub, &mut conns, &clock, &store, &metrics);
        for rx in &mut rxs {
            while rx.try_recv().is_ok() {}
        }
        // `a` broadcasts 50 KiB offers (no `to`); `b` and `c` never read.
        let offer = protocol::encode_client(&ClientMessage::Offer {
            to: None,
            sdp: format!("v=0 {}", "a".repeat(50 * 1024)),
        });
        for _ in 0..30 {
            hub.handle_frame(ConnId(1), &offer, clock.now());
            drain(&mut hub, &mut conns, &clock, &store, &metrics);
        }
        let frames = |rx: &mut mpsc::Receiver<Outbound>| {
            let mut got = Vec::new();
            while let Ok(Outbound::Frame(text)) = rx.try_recv() {
                got.push(text);
            }
            got
        };
        let (to_b, to_c) = (frames(&mut rxs[1]), frames(&mut rxs[2]));
        // One encoding, shared: the same bytes in both queues.
        assert_eq!(to_b[0].as_str().as_ptr(), to_c[0].as_str().as_ptr());
        // Dropped once a megabyte waited, long before the 64-frame queue was full.
        let bytes: usize = to_b.iter().map(|t| t.len()).sum();
        assert!(bytes <= MAX_QUEUED_BYTES, "{bytes} bytes queued");
        assert!(to_b.len() < 30, "all {} offers queued", to_b.len());
        assert!(!conns.contains_key(&ConnId(2)) && !conns.contains_key(&ConnId(3)));
        assert!(conns.contains_key(&ConnId(1)), "the sender reads and stays");
        assert!(
            metrics
                .render()
                .contains("assistrtc_slow_readers_dropped_total 2")
        );
    }

    #[test]
    fn pongs_and_pings_tell_the_hub_the_peer_is_alive() {
        // Over real sockets this cannot be shown without racing the idle timer against the
        // pong in flight; the hub's side (alive keeps a seat live) is tested in the hub.
        for message in [
            Message::Pong(Default::default()),
            Message::Ping(Default::default()),
        ] {
            assert!(matches!(
                inbound_event(ConnId(7), message),
                Some(HubEvent::Alive { conn: ConnId(7) })
            ));
        }
        assert!(matches!(
            inbound_event(ConnId(7), Message::Text("{}".into())),
            Some(HubEvent::Text {
                conn: ConnId(7),
                ..
            })
        ));
        assert!(matches!(
            inbound_event(ConnId(7), Message::Binary(Default::default())),
            Some(HubEvent::Binary { conn: ConnId(7) })
        ));
        assert!(inbound_event(ConnId(7), Message::Close(None)).is_none());
    }
}
