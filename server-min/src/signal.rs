//! The WebSocket driver around the sans-IO [`Hub`].
//!
//! One task owns the hub and `select!`s over an mpsc of [`HubEvent`]s and a sleep until
//! [`Hub::poll_timeout`]. Each WebSocket connection is a task that forwards what it reads into
//! that mpsc and writes what the hub task hands it through a small bounded per-connection
//! channel. No state is shared behind locks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assistrtc_core::Millis;
use assistrtc_core::protocol::{self, MemberId, RoomId};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::hub::{ConnId, Hub, HubOutput};
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
    /// Send this text frame.
    Frame(String),
    /// The hub is done with this connection: close it politely (after what is queued).
    Close,
}

/// What the hub task hears about.
pub(crate) enum HubEvent {
    /// A WebSocket connection was accepted; `tx` carries frames to it.
    Open {
        conn: ConnId,
        tx: mpsc::Sender<Outbound>,
    },
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
    /// `GET /v1/rooms/{id}` asks who is online.
    Online {
        room: RoomId,
        reply: oneshot::Sender<Option<Vec<MemberId>>>,
    },
}

/// The hub's clock: monotonic, anchored at the Unix time of start so that the same `Millis`
/// checks token expiry (wall clock) and schedules timers (monotonic). Wall-clock steps after
/// start are not followed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
    start_unix_ms: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            start: Instant::now(),
            start_unix_ms: u64::try_from(unix.as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn now(&self) -> Millis {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        Millis(self.start_unix_ms.saturating_add(elapsed))
    }

    fn instant(&self, at: Millis) -> Instant {
        self.start + Duration::from_millis(at.since(Millis(self.start_unix_ms)))
    }
}

/// Runs the hub until `shutdown` turns `true` (or its sender is dropped).
pub(crate) async fn run_hub(
    mut hub: Hub,
    mut events: mpsc::Receiver<HubEvent>,
    clock: Clock,
    store: Arc<dyn RoomStore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns: HashMap<ConnId, mpsc::Sender<Outbound>> = HashMap::new();
    loop {
        let deadline = hub.poll_timeout();
        let sleep_until = deadline.map_or_else(Instant::now, |at| clock.instant(at));
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            event = events.recv() => {
                let Some(event) = event else { break };
                apply(&mut hub, &mut conns, event, clock.now());
            }
            () = tokio::time::sleep_until(sleep_until), if deadline.is_some() => {
                // Never report a time before the deadline we slept for.
                let now = clock.now().max(deadline.unwrap_or_default());
                hub.handle_timeout(now);
            }
        }
        drain(&mut hub, &mut conns, &clock, store.as_ref());
    }
    tracing::debug!(
        connections = conns.len(),
        "hub stopping; closing connections"
    );
    // Dropping the senders makes every connection task send a close frame and exit.
    drop(conns);
    let drained = tokio::time::timeout(SHUTDOWN_DRAIN, async {
        while let Some(event) = events.recv().await {
            if let HubEvent::Online { reply, .. } = event {
                let _ = reply.send(None);
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open {SHUTDOWN_DRAIN:?} after shutdown; giving up");
    }
}

fn apply(
    hub: &mut Hub,
    conns: &mut HashMap<ConnId, mpsc::Sender<Outbound>>,
    event: HubEvent,
    now: Millis,
) {
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
    }
}

fn drain(
    hub: &mut Hub,
    conns: &mut HashMap<ConnId, mpsc::Sender<Outbound>>,
    clock: &Clock,
    store: &dyn RoomStore,
) {
    while let Some(output) = hub.poll_output() {
        match output {
            HubOutput::Send { conn, msg } => {
                let Some(tx) = conns.get(&conn) else {
                    continue;
                };
                let full = match tx.try_send(Outbound::Frame(protocol::encode_server(&msg))) {
                    Ok(()) => continue,
                    Err(TrySendError::Full(_)) => true,
                    Err(TrySendError::Closed(_)) => false,
                };
                if full {
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
                    let _ = tx.try_send(Outbound::Close);
                }
            }
            HubOutput::RoomRemoved { room } => {
                if let Err(e) = store.remove_room(&room) {
                    tracing::warn!(%room, "cannot remove expired room from the store: {e}");
                }
            }
        }
    }
}

/// Drives one WebSocket: frames in go to the hub task, frames from the hub task go out.
pub(crate) async fn connection(
    mut socket: WebSocket,
    conn: ConnId,
    events: mpsc::Sender<HubEvent>,
    ping_every: Duration,
) {
    let (tx, mut rx) = mpsc::channel::<Outbound>(CONNECTION_QUEUE);
    if events.send(HubEvent::Open { conn, tx }).await.is_err() {
        return;
    }
    tracing::debug!(conn = conn.0, "websocket open");
    // `Some(linger)` when the server ends the connection: send a close frame, then wait up to
    // `linger` for the peer's, so that the peer reads everything before the TCP close.
    let mut server_close = None;
    // Protocol-level pings: the browser answers them itself, so a page whose timers are
    // throttled (a tab hidden for minutes) is still seen alive; a dead peer fails the send.
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ping.tick() => {
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
                        server_close = Some(CLOSE_LINGER);
                        break;
                    }
                    // The hub task stopped (server shutdown) or dropped us as too slow.
                    None => {
                        server_close = Some(Duration::ZERO);
                        break;
                    }
                };
                let frame = Message::Text(text.into());
                let sent = tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await;
                if !matches!(sent, Ok(Ok(()))) {
                    tracing::debug!(conn = conn.0, "websocket write failed or timed out");
                    break;
                }
            }
            inbound = socket.recv() => {
                let event = match inbound {
                    Some(Ok(Message::Text(text))) => HubEvent::Text { conn, text },
                    Some(Ok(Message::Binary(_))) => HubEvent::Binary { conn },
                    // Pings are answered by the WebSocket layer, and either way the peer is
                    // alive; a close is answered on the next read, which then ends the stream.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => HubEvent::Alive { conn },
                    Some(Ok(Message::Close(_))) => continue,
                    Some(Err(e)) => {
                        tracing::debug!(conn = conn.0, "websocket error: {e}");
                        break;
                    }
                    None => break,
                };
                if events.send(event).await.is_err() {
                    server_close = Some(Duration::ZERO);
                    break;
                }
            }
        }
    }
    if let Some(linger) = server_close {
        let _ = tokio::time::timeout(CLOSE_LINGER, socket.send(Message::Close(None))).await;
        let _ = tokio::time::timeout(linger, async {
            while let Some(Ok(_)) = socket.recv().await {}
        })
        .await;
    }
    let _ = events.send(HubEvent::Close { conn }).await;
    tracing::debug!(conn = conn.0, "websocket closed");
}
