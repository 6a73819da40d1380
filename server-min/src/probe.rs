//! The network probe's far end: `POST /v1/preflight/probe` answers a WebRTC offer and echoes a
//! bandwidth test on its DataChannel, with the core's probe logic
//! ([`assistrtc_core::diagnostics::probe`]) on tokio's clock.
//!
//! The exchange is non-trickle: the client gathers its candidates, posts its whole offer as
//! `application/sdp`, and gets the whole answer back (the server gathers first, bounded by
//! [`ProbeLimits::gather_timeout_ms`]). The offer carries an in-band DataChannel labelled
//! [`CHANNEL_LABEL`]; on it:
//!
//! - every **binary** message is a probe packet of the client's `TrainSender`: the server feeds
//!   it to a `TrainReceiver` and sends the echo straight back (the client measures the round
//!   trip);
//! - the **text** `"reset"` makes the receiver forget what it counted (the client's sparse
//!   round-trip train came first) and is answered `{"type":"reset"}`;
//! - the **text** `"result"` is answered with the receiver's figures, the client's upload:
//!   `{"type":"upload","received","lossPct","jitterMs":{"min","avg","max"}|null,"throughputKbps"}`;
//! - the **text** `"download"` starts a `TrainSender` towards the client (the default train,
//!   binary packets); while it runs, binary messages from the client are echoes of it. When
//!   it is over the server sends `{"type":"downloadDone","sent","echoed","rttMs","saturated"}`
//!   (`saturated`: the train filled the line, so the client's rate is the line's);
//! - any other text is answered `{"type":"error","message"}`.
//!
//! Each session is bounded (duration and bytes both ways, [`ProbeLimits`]); then the peer
//! connection is closed. Sessions are counted per server and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use assistrtc_core::Millis;
use assistrtc_core::diagnostics::probe::{
    DOWNLOAD_SEND_LIMIT_MS, ProbeConfig, Spread, TrainReceiver, TrainResult, TrainSender,
};
use assistrtc_core::protocol::IceServer;
use bytes::BytesMut;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCIceServer, RTCPeerConnectionState,
    RTCSessionDescription, Registry, register_default_interceptors,
};

use crate::turn::TurnConfig;

/// The label of the probe's DataChannel.
pub const CHANNEL_LABEL: &str = "probe";
/// Largest SDP offer accepted, bytes.
pub const MAX_OFFER_BYTES: usize = 32 * 1024;

/// Bounds on probe sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeLimits {
    /// Most probe sessions at once on this server; more are answered `503 server_busy`.
    pub max_sessions: usize,
    /// Most probe sessions at once from one client address; more are answered
    /// `429 rate_limited`.
    pub max_per_ip: usize,
    /// Longest a session lasts from its offer, milliseconds; then the connection is closed.
    pub max_duration_ms: u64,
    /// Most bytes a session carries, both ways together; then the connection is closed.
    pub max_bytes: u64,
    /// Longest the server gathers its candidates before it answers, milliseconds.
    pub gather_timeout_ms: u64,
    /// Lifetime of preflight tokens, seconds (capped at
    /// [`MAX_PREFLIGHT_TTL_SECS`](crate::jwt::MAX_PREFLIGHT_TTL_SECS)).
    pub token_ttl_secs: u64,
}

impl Default for ProbeLimits {
    /// 16 sessions, 2 per address, 15 s and 8 MB each, 2 s of gathering, 2-minute tokens.
    fn default() -> Self {
        Self {
            max_sessions: 16,
            max_per_ip: 2,
            max_duration_ms: 15_000,
            max_bytes: 8 * 1024 * 1024,
            gather_timeout_ms: 2_000,
            token_ttl_secs: crate::jwt::MAX_PREFLIGHT_TTL_SECS,
        }
    }
}

/// Why a probe could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("too many network probes on this server; try again shortly")]
    ServerBusy,
    #[error("too many network probes from this address; try again shortly")]
    TooManyFromAddress,
    #[error("the offer is not usable: {0}")]
    BadOffer(String),
    #[error("the probe connection failed: {0}")]
    Internal(String),
}

/// The probe sessions of one server.
pub(crate) struct Probes {
    limits: ProbeLimits,
    ice_servers: Vec<IceServer>,
    /// TURN servers announced to the check's clients, with credentials of their own.
    turn: Option<TurnConfig>,
    /// Local UDP addresses the sessions bind (the listen host, port 0).
    udp_addrs: Vec<String>,
    counts: Arc<Mutex<Counts>>,
    shutdown: watch::Receiver<bool>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One session's place in the counts; given back on drop.
struct Slot {
    ip: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

impl Probes {
    pub(crate) fn new(
        limits: ProbeLimits,
        ice_servers: Vec<IceServer>,
        turn: Option<TurnConfig>,
        listen_ip: IpAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            limits,
            ice_servers,
            turn,
            udp_addrs: vec![std::net::SocketAddr::new(listen_ip, 0).to_string()],
            counts: Arc::default(),
            shutdown,
        }
    }

    pub(crate) fn limits(&self) -> &ProbeLimits {
        &self.limits
    }

    /// The ICE servers a check's client uses at `now`, as a member's `welcome` lists them: the
    /// configured ones, then the TURN entry with credentials issued to `user` now.
    pub(crate) fn client_ice_servers(&self, user: &str, now: Millis) -> Vec<IceServer> {
        let mut servers = self.ice_servers.clone();
        if let Some(turn) = &self.turn {
            servers.push(turn.ice_server(user, now));
        }
        servers
    }

    fn take_slot(&self, ip: IpAddr) -> Result<Slot, ProbeError> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.limits.max_sessions {
            return Err(ProbeError::ServerBusy);
        }
        let n = counts.per_ip.entry(ip).or_default();
        if *n >= self.limits.max_per_ip {
            return Err(ProbeError::TooManyFromAddress);
        }
        *n += 1;
        counts.total += 1;
        Ok(Slot {
            ip,
            counts: Arc::clone(&self.counts),
        })
    }

    /// Answers `offer` from `ip` and starts its session; returns the answer SDP.
    pub(crate) async fn start(&self, ip: IpAddr, offer: String) -> Result<String, ProbeError> {
        let slot = self.take_slot(ip)?;
        let (channels_tx, channels) = mpsc::channel(4);
        let (gathered_tx, mut gathered) = watch::channel(false);
        let (failed_tx, failed) = watch::channel(false);
        let handler = Handler {
            channels: channels_tx,
            gathered: gathered_tx,
            failed: failed_tx,
        };
        let pc = self.build(handler).await?;
        let answered = async {
            let offer = RTCSessionDescription::offer(offer)
                .map_err(|e| ProbeError::BadOffer(e.to_string()))?;
            pc.set_remote_description(offer)
                .await
                .map_err(|e| ProbeError::BadOffer(e.to_string()))?;
            let answer = pc
                .create_answer(None)
                .await
                .map_err(|e| ProbeError::BadOffer(e.to_string()))?;
            pc.set_local_description(answer)
                .await
                .map_err(|e| ProbeError::Internal(format!("setLocalDescription: {e}")))?;
            let gather = Duration::from_millis(self.limits.gather_timeout_ms);
            if tokio::time::timeout(gather, gathered.wait_for(|done| *done))
                .await
                .is_err()
            {
                tracing::debug!(
                    "probe: gathering not complete in {gather:?}; answering with what there is"
                );
            }
            pc.local_description()
                .await
                .map(|d| d.sdp)
                .ok_or_else(|| ProbeError::Internal("no local description".into()))
        };
        let sdp = match answered.await {
            Ok(sdp) => sdp,
            Err(e) => {
                let _ = pc.close().await;
                return Err(e);
            }
        };
        let session = Session {
            pc,
            limits: self.limits,
            started: Instant::now(),
            bytes: 0,
        };
        tokio::spawn(session.run(channels, failed, self.shutdown.clone(), slot));
        Ok(sdp)
    }

    async fn build(&self, handler: Handler) -> Result<Arc<dyn PeerConnection>, ProbeError> {
        let internal = |what: &str| {
            let what = what.to_owned();
            move |e: webrtc::error::Error| ProbeError::Internal(format!("{what}: {e}"))
        };
        let mut media_engine = MediaEngine::default();
        media_engine
            .register_default_codecs()
            .map_err(internal("codecs"))?;
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)
            .map_err(internal("interceptors"))?;
        let ice_servers = self
            .ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            .collect();
        let config = RTCConfigurationBuilder::new()
            .with_ice_servers(ice_servers)
            .build();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(handler))
            .with_udp_addrs(self.udp_addrs.clone())
            .build()
            .await
            .map_err(internal("peer connection"))?;
        Ok(Arc::new(pc))
    }
}

/// The connection's events, forwarded; it runs on the connection's driver task, so it never
/// awaits the connection.
struct Handler {
    channels: mpsc::Sender<Arc<dyn DataChannel>>,
    gathered: watch::Sender<bool>,
    failed: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            let _ = self.failed.send(true);
        }
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        // More channels than the session takes are dropped.
        let _ = self.channels.try_send(data_channel);
    }
}

/// A measured spread, ms.
#[derive(Serialize)]
struct SpreadMs {
    min: f64,
    avg: f64,
    max: f64,
}

impl From<Spread> for SpreadMs {
    fn from(s: Spread) -> Self {
        Self {
            min: s.min,
            avg: s.avg,
            max: s.max,
        }
    }
}

/// What the server sends as text on the probe channel.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum Reply {
    /// The client's upload, as the server received it.
    #[serde(rename_all = "camelCase")]
    Upload {
        received: u32,
        loss_pct: f64,
        jitter_ms: Option<SpreadMs>,
        throughput_kbps: Option<f64>,
    },
    /// The receiver forgot what it had counted.
    Reset,
    /// The download train is over.
    #[serde(rename_all = "camelCase")]
    DownloadDone {
        sent: u32,
        echoed: u32,
        rtt_ms: Option<SpreadMs>,
        /// Whether the train filled the line (its echoes slowed): otherwise the rate the
        /// client measured is only a lower bound.
        saturated: bool,
    },
    Error {
        message: String,
    },
}

impl From<TrainResult> for Reply {
    fn from(r: TrainResult) -> Self {
        Self::Upload {
            received: r.received,
            loss_pct: r.loss_pct,
            jitter_ms: r.jitter.map(SpreadMs::from),
            throughput_kbps: r.throughput_kbps,
        }
    }
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    Duration,
    Bytes,
    Closed,
    Shutdown,
    /// A send on the channel failed (logged where it happened).
    Send,
}

struct Session {
    pc: Arc<dyn PeerConnection>,
    limits: ProbeLimits,
    started: Instant,
    /// Bytes carried so far, both ways.
    bytes: u64,
}

impl Session {
    /// Tokio time since the session started, as the probe logic counts it.
    fn now(&self) -> Millis {
        Millis(self.started.elapsed().as_millis() as u64)
    }

    async fn run(
        mut self,
        mut channels: mpsc::Receiver<Arc<dyn DataChannel>>,
        mut failed: watch::Receiver<bool>,
        mut shutdown: watch::Receiver<bool>,
        slot: Slot,
    ) {
        let deadline = self.started + Duration::from_millis(self.limits.max_duration_ms);
        let end = tokio::select! {
            () = tokio::time::sleep_until(deadline) => End::Duration,
            _ = failed.wait_for(|f| *f) => End::Closed,
            _ = shutdown.wait_for(|s| *s) => End::Shutdown,
            end = async {
                loop {
                    let Some(dc) = channels.recv().await else {
                        return End::Closed;
                    };
                    if dc.label().await.ok().as_deref() == Some(CHANNEL_LABEL) {
                        return self.serve(dc).await;
                    }
                }
            } => end,
        };
        tracing::debug!(?end, bytes = self.bytes, "probe session over");
        if let Err(e) = self.pc.close().await {
            tracing::debug!("closing a probe connection: {e}");
        }
        drop(slot);
    }

    /// Serves the probe channel until it closes or a bound is reached.
    async fn serve(&mut self, dc: Arc<dyn DataChannel>) -> End {
        let mut receiver = TrainReceiver::paced(&ProbeConfig::default());
        let mut download: Option<TrainSender> = None;
        loop {
            let wake = download
                .as_ref()
                .and_then(TrainSender::poll_timeout)
                .map(|at| self.started + Duration::from_millis(at.0));
            let event = tokio::select! {
                event = dc.poll() => event,
                () = sleep_until_opt(wake) => {
                    if let Err(end) = self.pace(&dc, &mut download).await {
                        return end;
                    }
                    continue;
                }
            };
            let Some(event) = event else {
                return End::Closed;
            };
            let message = match event {
                DataChannelEvent::OnMessage(message) => message,
                DataChannelEvent::OnClose => return End::Closed,
                _ => continue,
            };
            self.bytes += message.data.len() as u64;
            if self.bytes > self.limits.max_bytes {
                return End::Bytes;
            }
            let now = self.now();
            if !message.is_string {
                if let Some(sender) = download.as_mut() {
                    sender.on_echo(&message.data, now);
                    // The last echo may end the train before its linger.
                    if let Err(end) = self.pace(&dc, &mut download).await {
                        return end;
                    }
                } else if let Some(echo) = receiver.on_packet(&message.data, now)
                    && let Err(end) = self.send(&dc, &echo).await
                {
                    return end;
                }
                continue;
            }
            let reply = match std::str::from_utf8(&message.data).map(str::trim) {
                Ok("result") => Reply::from(receiver.result()),
                Ok("reset") => {
                    receiver = TrainReceiver::paced(&ProbeConfig::default());
                    Reply::Reset
                }
                Ok("download") => {
                    if download.is_none() {
                        // Windowed like the client's upload: a rate cap's small buffer must
                        // not turn the train into loss. Limited in time, so the client hears
                        // the result (and whether the rate is only a lower bound) before it
                        // stops waiting.
                        download = Some(
                            TrainSender::windowed(ProbeConfig::default(), None)
                                .with_send_limit(DOWNLOAD_SEND_LIMIT_MS),
                        );
                        if let Err(end) = self.pace(&dc, &mut download).await {
                            return end;
                        }
                    }
                    continue;
                }
                _ => Reply::Error {
                    message: "unknown command: send \"reset\", \"result\" or \"download\"".into(),
                },
            };
            if let Err(end) = self.send_reply(&dc, &reply).await {
                return end;
            }
        }
    }

    /// Sends what the download train has due, and reports its end.
    async fn pace(
        &mut self,
        dc: &Arc<dyn DataChannel>,
        download: &mut Option<TrainSender>,
    ) -> Result<(), End> {
        let Some(sender) = download.as_mut() else {
            return Ok(());
        };
        while let Some(packet) = sender.poll_transmit(self.now()) {
            self.send(dc, &packet).await?;
        }
        let now = self.now();
        if sender.is_done(now) {
            let (sent, echoed) = sender.counts();
            let reply = Reply::DownloadDone {
                sent,
                echoed,
                rtt_ms: sender.rtt().map(SpreadMs::from),
                saturated: sender.saturated(),
            };
            *download = None;
            self.send_reply(dc, &reply).await?;
        }
        Ok(())
    }

    async fn send(&mut self, dc: &Arc<dyn DataChannel>, bytes: &[u8]) -> Result<(), End> {
        self.bytes += bytes.len() as u64;
        if self.bytes > self.limits.max_bytes {
            return Err(End::Bytes);
        }
        dc.send(BytesMut::from(bytes)).await.map_err(|e| {
            tracing::debug!("probe send failed: {e}");
            End::Send
        })
    }

    async fn send_reply(&mut self, dc: &Arc<dyn DataChannel>, reply: &Reply) -> Result<(), End> {
        // Plain structs of numbers and strings: serialization cannot fail.
        let text = serde_json::to_string(reply)
            .unwrap_or_else(|e| unreachable!("probe replies always serialize: {e}"));
        self.bytes += text.len() as u64;
        dc.send_text(&text).await.map_err(|e| {
            tracing::debug!("probe send failed: {e}");
            End::Send
        })
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
