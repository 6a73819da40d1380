//! The pre-call check's network part as a sans-IO sequencer: which paths to open with which ICE
//! servers, when to give up on one, which path carries the probe, the probe's phases and their
//! deadlines, and the server's figures read back. The same [`Check`] runs in the browser and in
//! the native SDK; a driver only opens peer connections, moves bytes and reads a clock.
//!
//! # The driver's side
//! 1. Fetch the check's ICE servers (`GET /v1/preflight/config` with the preflight token) and
//!    hand them to [`Check::configured`], or call [`Check::unreachable`] when the server cannot
//!    be reached (an HTTP refusal is an error for the app, not a report).
//! 2. Run every [`Action`] from [`Check::poll_action`]:
//!    - [`Action::OpenPath`]: a peer connection with exactly the given ICE servers (relay-only
//!      when `relay_only`), a DataChannel labelled [`PROBE_LABEL`] that is **unordered with no
//!      retransmissions** (loss must show, not be repaired), an offer posted to
//!      `POST /v1/preflight/probe` once gathering completes, the answer applied. Report
//!      [`Check::path_connected`] when ICE connects, [`Check::path_open`] when the channel
//!      opens, [`Check::path_failed`] when anything in between fails.
//!    - [`Action::ClosePath`]: close that peer connection.
//!    - [`Action::Send`]: send on the path's channel (binary or text).
//!    - [`Action::Progress`]: tell the app which step runs.
//! 3. Feed channel messages to [`Check::on_binary`] / [`Check::on_text`], and wake at
//!    [`Check::poll_timeout`] for [`Check::handle_timeout`].
//! 4. When [`Check::is_finished`], [`Check::measurements`] holds what was measured; device
//!    results join it, then [`super::assess`] judges.
//!
//! # Policy
//! - Direct and relay paths open at the same time (the relay only when a TURN server is
//!   configured), so a blocked UDP costs no extra time. The probe runs on the direct path; on the
//!   relay when the direct one has not opened [`RELAY_GRACE_MS`] after the relay did, or failed.
//! - A path that has not opened after [`PATH_TIMEOUT_MS`] is unreachable.
//! - The probe: a sparse train first ([`ProbeConfig::PING`]: 20 packets 25 ms apart) whose
//!   echoes give the round trip and the jitter free of any queue the probe would cause; then
//!   `"reset"` (the server forgets it); then the bandwidth train, echoed, inside a window that
//!   keeps its own queue short (see [`super::probe::MAX_IN_FLIGHT`]); the server's figures for it
//!   (`"result"`: loss, and the rate over the later half of the arrivals); then the server's
//!   train (`"download"`) measured here. Each phase has a deadline; a train that runs out is
//!   measured on what arrived, a reply that never comes leaves the bandwidth step incomplete.

use super::probe::{ProbeConfig, QUEUE_TARGET_MS, TrainReceiver, TrainSender};
use super::{Measurements, NetworkStats, PathResult, Step};
use crate::Millis;
use crate::json::{FromJson, Json, parse_obj};
use crate::protocol::IceServer;

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;

/// The probe DataChannel's label.
pub const PROBE_LABEL: &str = "probe";
/// How long a path may take to open (ICE, DTLS, the channel), ms.
pub const PATH_TIMEOUT_MS: u64 = 5_000;
/// How long an opened relay waits for the direct path before the probe runs over the relay, ms.
pub const RELAY_GRACE_MS: u64 = 1_500;
/// Longest a train (up or down) may take, ms. The default train needs about 1.6 s on a fast
/// line; on a slow one the part that arrived in this time measures the rate.
pub const TRAIN_TIMEOUT_MS: u64 = 2_500;
/// Longest the server may take to answer `"result"` or start its train, ms.
pub const REPLY_TIMEOUT_MS: u64 = 1_500;
/// How long a command waits for its answer before it is sent again, ms.
pub const RESEND_MS: u64 = 300;
/// Longest the sparse train (round trips and jitter, about 0.5 s) may take, ms.
pub const PING_TIMEOUT_MS: u64 = 1_500;

/// The ICE servers of the check's configuration (`GET /v1/preflight/config`:
/// `{"ice_servers":[{"urls":[…],"username"?,"credential"?}]}`).
pub fn config_ice_servers(text: &str) -> Result<Vec<IceServer>, String> {
    let mut o = parse_obj(text).map_err(|e| e.message())?;
    match o.take("ice_servers") {
        Some(list) => Vec::<IceServer>::from_json(list),
        None => Ok(Vec::new()),
    }
}

/// A way to the probe server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// Host and server-reflexive candidates (UDP).
    Direct,
    /// Through the configured TURN servers only.
    Relay,
}

/// How a relay path reached its TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayTransport {
    /// TURN over UDP.
    Udp,
    /// TURN over TCP.
    Tcp,
    /// TURN over TLS.
    Tls,
}

impl RelayTransport {
    /// The transport of a `turn:`/`turns:` URL; `None` for other schemes.
    pub fn of_url(url: &str) -> Option<Self> {
        // By hand, on bytes, not `contains`/`to_lowercase`/`split_once`: this runs in the
        // browser's wasm, where a substring or char searcher costs more than the whole test.
        let (scheme, rest) = cut(url.as_bytes(), b':')?;
        let query = cut(rest, b'?').map_or(&[][..], |(_, q)| q);
        let tcp = query
            .split(|&b| b == b'&')
            .any(|kv| kv.eq_ignore_ascii_case(b"transport=tcp"));
        if scheme.eq_ignore_ascii_case(b"turns") {
            Some(Self::Tls)
        } else if !scheme.eq_ignore_ascii_case(b"turn") {
            None
        } else if tcp {
            Some(Self::Tcp)
        } else {
            Some(Self::Udp)
        }
    }
}

/// `bytes` before and after the first `sep`.
fn cut(bytes: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == sep)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

/// A message on the probe channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A train packet or an echo.
    Binary(Vec<u8>),
    /// A command to the server.
    Text(&'static str),
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open `path` with exactly these ICE servers; relay candidates only when `relay_only`.
    OpenPath {
        /// Which path.
        path: Path,
        /// The ICE servers for its peer connection.
        ice_servers: Vec<IceServer>,
        /// `iceTransportPolicy: "relay"`.
        relay_only: bool,
    },
    /// Close the path's peer connection.
    ClosePath(Path),
    /// Send on the path's probe channel.
    Send(Path, Payload),
    /// The check moved on to this step (for progress events).
    Progress(Step),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PathState {
    Unused,
    Opening { since: Millis },
    Open { at: Millis },
    Failed,
    Closed,
}

#[derive(Debug)]
enum Phase {
    /// Paths are opening.
    Paths,
    /// The sparse train: round trips and jitter.
    Ping {
        path: Path,
        sender: TrainSender,
        until: Millis,
    },
    /// The server forgets the sparse train (`"reset"`), so the bandwidth train's figures are
    /// its own; the bandwidth train starts once it says so.
    Reset {
        path: Path,
        until: Millis,
    },
    Upload {
        path: Path,
        sender: TrainSender,
        until: Millis,
    },
    Result {
        path: Path,
        /// The bandwidth train's fastest round trip (when the sparse train gave none).
        rtt_ms: Option<f64>,
        until: Millis,
    },
    Download {
        path: Path,
        receiver: TrainReceiver,
        until: Millis,
    },
    Over,
}

/// The network part of one pre-call check. See the module docs.
#[derive(Debug)]
pub struct Check {
    started: Millis,
    m: Measurements,
    direct: PathState,
    relay: PathState,
    relay_transports: Vec<RelayTransport>,
    /// The relay opened and its transport is still to be inferred (see `settle_relay`).
    relay_unknown: bool,
    phase: Phase,
    /// Round trip (median) and jitter from the sparse train.
    ping: Option<(f64, f64)>,
    /// When to send the pending command again: the channel does not retransmit, so a lost
    /// `"reset"`, `"result"` or `"download"` (or its answer) is sent again until answered.
    resend_at: Option<Millis>,
    /// In order (a `Vec`, smaller in wasm than a deque; it holds a few dozen at most).
    actions: Vec<Action>,
    config: ProbeConfig,
}

impl Check {
    /// A check starting at `now`, with the default probe train.
    pub fn new(now: Millis) -> Self {
        Self::with_probe(now, ProbeConfig::default())
    }

    /// A check with its own probe train (tests use short ones).
    pub fn with_probe(now: Millis, config: ProbeConfig) -> Self {
        Self {
            started: now,
            m: Measurements::default(),
            direct: PathState::Unused,
            relay: PathState::Unused,
            relay_transports: Vec::new(),
            relay_unknown: false,
            phase: Phase::Paths,
            ping: None,
            resend_at: None,
            actions: vec![Action::Progress(Step::Signaling)],
            config,
        }
    }

    fn since(&self, now: Millis) -> u64 {
        now.0.saturating_sub(self.started.0)
    }

    /// The server could not be reached: the check is over.
    pub fn unreachable(&mut self, _now: Millis) {
        self.m.server_reached = Some(false);
        self.phase = Phase::Over;
    }

    /// The server answered with the check's ICE servers: the paths open.
    pub fn configured(&mut self, now: Millis, ice_servers: &[IceServer]) {
        if !matches!(self.phase, Phase::Paths) || self.direct != PathState::Unused {
            return;
        }
        self.m.server_reached = Some(true);
        self.m.server_ms = Some(self.since(now));
        // Each server's STUN URLs for the direct path, its TURN URLs for the relay.
        let (mut stun, mut turn) = (Vec::new(), Vec::new());
        for server in ice_servers {
            let (mut direct, mut relayed) = (Vec::new(), Vec::new());
            for url in &server.urls {
                match RelayTransport::of_url(url) {
                    Some(t) => {
                        self.relay_transports.push(t);
                        relayed.push(url.clone());
                    }
                    None => direct.push(url.clone()),
                }
            }
            for (urls, list) in [(direct, &mut stun), (relayed, &mut turn)] {
                if !urls.is_empty() {
                    list.push(IceServer {
                        urls,
                        username: server.username.clone(),
                        credential: server.credential.clone(),
                    });
                }
            }
        }
        self.push(Action::Progress(Step::Network));
        self.direct = PathState::Opening { since: now };
        self.push(Action::OpenPath {
            path: Path::Direct,
            ice_servers: stun,
            relay_only: false,
        });
        if !turn.is_empty() {
            self.relay = PathState::Opening { since: now };
            self.push(Action::OpenPath {
                path: Path::Relay,
                ice_servers: turn,
                relay_only: true,
            });
        }
    }

    fn state_mut(&mut self, path: Path) -> &mut PathState {
        match path {
            Path::Direct => &mut self.direct,
            Path::Relay => &mut self.relay,
        }
    }

    /// ICE connected on `path`.
    pub fn path_connected(&mut self, path: Path, now: Millis) {
        if matches!(self.state_mut(path), PathState::Opening { .. }) && self.m.ice_ms.is_none() {
            self.m.ice_ms = Some(self.since(now));
        }
    }

    /// The probe channel opened on `path`. `transport` is how a relay reached its TURN server,
    /// when the platform tells; otherwise it is inferred from the configured URLs.
    pub fn path_open(&mut self, path: Path, now: Millis, transport: Option<RelayTransport>) {
        if !matches!(self.state_mut(path), PathState::Opening { .. }) {
            return;
        }
        *self.state_mut(path) = PathState::Open { at: now };
        if self.m.dtls_ms.is_none() {
            self.m.dtls_ms = Some(self.since(now));
        }
        match path {
            Path::Direct => {
                self.m.reachability.udp = PathResult::Reachable;
                self.settle_relay();
            }
            Path::Relay => self.relay_reached(transport),
        }
        self.advance(now);
    }

    fn relay_reached(&mut self, transport: Option<RelayTransport>) {
        match transport {
            Some(t) => self.credit_relay(t),
            None => {
                self.relay_unknown = true;
                self.settle_relay();
            }
        }
    }

    fn credit_relay(&mut self, t: RelayTransport) {
        let r = &mut self.m.reachability;
        match t {
            RelayTransport::Udp => r.turn_udp = PathResult::Reachable,
            RelayTransport::Tcp | RelayTransport::Tls => r.turn_tls = PathResult::Reachable,
        }
    }

    /// Credits an opened relay whose transport the platform did not tell. A relay list of one
    /// kind says which; a mixed one is read from the direct path: where direct UDP works, TURN
    /// over UDP does too and is preferred by ICE; where it does not, UDP is blocked and the
    /// relay got through over TCP or TLS. Until the direct path is decided, it waits.
    fn settle_relay(&mut self) {
        if !self.relay_unknown {
            return;
        }
        let has = |t: RelayTransport| self.relay_transports.contains(&t);
        let udp_only = !has(RelayTransport::Tcp) && !has(RelayTransport::Tls);
        let t = match self.m.reachability.udp {
            _ if udp_only => RelayTransport::Udp,
            _ if !has(RelayTransport::Udp) => RelayTransport::Tcp,
            PathResult::Reachable => RelayTransport::Udp,
            PathResult::Unreachable => RelayTransport::Tcp,
            PathResult::NotTested => return,
        };
        self.relay_unknown = false;
        self.credit_relay(t);
    }

    /// Opening `path` failed (ICE failed, the offer was refused, the channel closed early).
    pub fn path_failed(&mut self, path: Path, now: Millis) {
        let was_probing = self.probe_path() == Some(path);
        let state = self.state_mut(path);
        if matches!(
            *state,
            PathState::Failed | PathState::Closed | PathState::Unused
        ) {
            return;
        }
        let opened = matches!(*state, PathState::Open { .. });
        *state = PathState::Failed;
        if !opened {
            self.mark_unreachable(path);
        }
        if was_probing {
            self.bandwidth_incomplete();
            self.phase = Phase::Over;
        }
        self.advance(now);
    }

    fn mark_unreachable(&mut self, path: Path) {
        let r = &mut self.m.reachability;
        match path {
            Path::Direct => {
                r.udp = PathResult::Unreachable;
                self.settle_relay();
            }
            Path::Relay => {
                for t in &self.relay_transports {
                    let slot = match t {
                        RelayTransport::Udp => &mut r.turn_udp,
                        RelayTransport::Tcp | RelayTransport::Tls => &mut r.turn_tls,
                    };
                    if *slot == PathResult::NotTested {
                        *slot = PathResult::Unreachable;
                    }
                }
            }
        }
    }

    fn probe_path(&self) -> Option<Path> {
        match self.phase {
            Phase::Ping { path, .. }
            | Phase::Reset { path, .. }
            | Phase::Upload { path, .. }
            | Phase::Result { path, .. }
            | Phase::Download { path, .. } => Some(path),
            Phase::Paths | Phase::Over => None,
        }
    }

    fn bandwidth_incomplete(&mut self) {
        if !self.m.incomplete.contains(&Step::Bandwidth) {
            self.m.incomplete.push(Step::Bandwidth);
        }
    }

    /// A binary message on `path`'s channel: an echo of our train, or the server's train.
    pub fn on_binary(&mut self, path: Path, bytes: &[u8], now: Millis) {
        if self.m.first_media_ms.is_none() && self.probe_path() == Some(path) {
            self.m.first_media_ms = Some(self.since(now));
        }
        match &mut self.phase {
            Phase::Ping {
                path: p, sender, ..
            } if *p == path => {
                sender.on_echo(bytes, now);
            }
            Phase::Upload {
                path: p, sender, ..
            } if *p == path => {
                sender.on_echo(bytes, now);
            }
            Phase::Download {
                path: p, receiver, ..
            } if *p == path => {
                if let Some(echo) = receiver.on_packet(bytes, now) {
                    self.actions.push(Action::Send(path, Payload::Binary(echo)));
                }
            }
            _ => {}
        }
        self.advance(now);
    }

    /// A text message on `path`'s channel: the server's figures or the end of its train.
    pub fn on_text(&mut self, path: Path, text: &str, now: Millis) {
        if self.probe_path() != Some(path) {
            return;
        }
        let kind = parse_obj(text).ok().map(|mut o| {
            let kind = match o.take("type") {
                Some(Json::Str(s)) => s,
                _ => String::new(),
            };
            (kind, o)
        });
        match (&self.phase, kind) {
            // The server's answer to `"reset"` (an older server answers with an error: the
            // bandwidth train goes ahead all the same).
            (Phase::Reset { .. }, _) => self.start_upload(path, now),
            (Phase::Result { rtt_ms, .. }, Some((kind, mut o))) if kind == "upload" => {
                let (ping_rtt, ping_jitter) = self.ping.unzip();
                let rtt_ms = ping_rtt.or(*rtt_ms);
                let number = |v: Option<Json>| v.and_then(|v| f64::from_json(v).ok());
                let loss = number(o.take("lossPct"));
                let upload = number(o.take("throughputKbps"));
                let jitter = match o.take("jitterMs") {
                    Some(Json::Obj(mut j)) => number(j.take("avg")),
                    _ => None,
                };
                match (rtt_ms, loss) {
                    (Some(rtt_ms), Some(loss_pct)) => {
                        self.m.network = Some(NetworkStats {
                            rtt_ms,
                            jitter_ms: ping_jitter.or(jitter).unwrap_or(0.0),
                            loss_pct,
                        });
                        self.m.upload_kbps = upload;
                    }
                    _ => self.bandwidth_incomplete(),
                }
                self.actions
                    .push(Action::Send(path, Payload::Text("download")));
                self.resend_at = Some(now.after(RESEND_MS));
                self.phase = Phase::Download {
                    path,
                    receiver: TrainReceiver::paced(&ProbeConfig::default()),
                    // The train's time, plus the command's way to the server.
                    until: now.after(TRAIN_TIMEOUT_MS + 500),
                };
            }
            (Phase::Download { receiver, .. }, Some((kind, o))) if kind == "downloadDone" => {
                // An older server does not say: its rate is taken as the line's.
                self.m.download_lower_bound = matches!(o.get("saturated"), Some(Json::Bool(false)));
                match receiver.result().throughput_kbps {
                    Some(kbps) => self.m.download_kbps = Some(kbps),
                    None => self.bandwidth_incomplete(),
                }
                self.finish_probe();
            }
            _ => {}
        }
        self.advance(now);
    }

    fn finish_probe(&mut self) {
        self.resend_at = None;
        if let Some(path) = self.probe_path() {
            self.push(Action::ClosePath(path));
            *self.state_mut(path) = PathState::Closed;
        }
        self.phase = Phase::Over;
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let opening = |s: PathState| match s {
            PathState::Opening { since } => Some(since.after(PATH_TIMEOUT_MS)),
            _ => None,
        };
        let grace = match (self.relay, self.direct) {
            (PathState::Open { at }, PathState::Opening { .. })
                if matches!(self.phase, Phase::Paths) =>
            {
                Some(at.after(RELAY_GRACE_MS))
            }
            _ => None,
        };
        let phase = match &self.phase {
            Phase::Upload { sender, until, .. } => {
                Some(sender.poll_timeout().map_or(*until, |t| t.min(*until)))
            }
            Phase::Ping { sender, until, .. } => {
                Some(sender.poll_timeout().map_or(*until, |t| t.min(*until)))
            }
            Phase::Reset { until, .. }
            | Phase::Result { until, .. }
            | Phase::Download { until, .. } => Some(*until),
            Phase::Paths | Phase::Over => None,
        };
        [
            opening(self.direct),
            opening(self.relay),
            grace,
            phase,
            self.resend_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Time passed: paths time out, trains pace, phases run out.
    pub fn handle_timeout(&mut self, now: Millis) {
        for path in [Path::Direct, Path::Relay] {
            if let PathState::Opening { since } = *self.state_mut(path)
                && now >= since.after(PATH_TIMEOUT_MS)
            {
                self.push(Action::ClosePath(path));
                self.path_failed(path, now);
            }
        }
        if self.resend_at.is_some_and(|at| now >= at) {
            let again = match &self.phase {
                Phase::Reset { path, .. } => Some((*path, "reset")),
                Phase::Result { path, .. } => Some((*path, "result")),
                Phase::Download { path, receiver, .. } if receiver.result().received == 0 => {
                    Some((*path, "download"))
                }
                _ => None,
            };
            self.resend_at = again.map(|_| now.after(RESEND_MS));
            if let Some((path, command)) = again {
                self.push(Action::Send(path, Payload::Text(command)));
            }
        }
        match &mut self.phase {
            Phase::Ping { path, until, .. } if now >= *until => {
                let path = *path;
                self.end_ping(path, now);
            }
            Phase::Reset { path, until } if now >= *until => {
                let path = *path;
                self.start_upload(path, now);
            }
            // A slow line stretches the train past its time; what arrived so far still tells
            // the rate (dispersion), so the check moves on instead of failing.
            Phase::Upload {
                path,
                sender,
                until,
            } if now >= *until => {
                let (path, rtt_ms) = (*path, sender.rtt().map(|s| s.min));
                self.ask_result(path, rtt_ms, now);
            }
            Phase::Download {
                receiver, until, ..
            } if now >= *until => {
                match receiver.result().throughput_kbps {
                    Some(kbps) => self.m.download_kbps = Some(kbps),
                    None => self.bandwidth_incomplete(),
                }
                self.finish_probe();
            }
            Phase::Result { until, .. } if now >= *until => {
                self.bandwidth_incomplete();
                self.finish_probe();
            }
            _ => {}
        }
        self.advance(now);
    }

    /// Moves the phase on as far as `now` allows, queueing what to send.
    fn advance(&mut self, now: Millis) {
        if matches!(self.phase, Phase::Paths)
            && let Some(path) = self.pick_probe_path(now)
        {
            self.push(Action::Progress(Step::Bandwidth));
            self.phase = Phase::Ping {
                path,
                sender: TrainSender::new(ProbeConfig::PING),
                until: now.after(PING_TIMEOUT_MS),
            };
        }
        if let Phase::Ping { path, sender, .. } = &mut self.phase {
            let path = *path;
            while let Some(p) = sender.poll_transmit(now) {
                self.actions.push(Action::Send(path, Payload::Binary(p)));
            }
            if sender.is_done(now) {
                self.end_ping(path, now);
            }
        }
        if let Phase::Upload { path, sender, .. } = &mut self.phase {
            let path = *path;
            while let Some(p) = sender.poll_transmit(now) {
                self.actions.push(Action::Send(path, Payload::Binary(p)));
            }
            if sender.is_done(now) {
                let rtt_ms = sender.rtt().map(|s| s.min);
                self.ask_result(path, rtt_ms, now);
            }
        }
        if matches!(self.phase, Phase::Paths) && self.no_path_left() {
            self.phase = Phase::Over;
        }
        if !matches!(self.phase, Phase::Paths) {
            // An open path that does not carry the probe has told what it had to (reachability)
            // and would only share the line. One still opening stays until it opens or times
            // out: whether direct UDP works is half of what a relay-probed check says.
            let probing = self.probe_path();
            for path in [Path::Direct, Path::Relay] {
                if Some(path) != probing && matches!(*self.state_mut(path), PathState::Open { .. })
                {
                    self.push(Action::ClosePath(path));
                    *self.state_mut(path) = PathState::Closed;
                }
            }
        }
    }

    /// The sparse train is over: its figures are kept, and the server forgets it.
    fn end_ping(&mut self, path: Path, now: Millis) {
        if let Phase::Ping { sender, .. } = &self.phase {
            self.ping = sender
                .rtt_median()
                .map(|rtt| (rtt, sender.rtt_jitter().unwrap_or(0.0)));
        }
        self.push(Action::Send(path, Payload::Text("reset")));
        self.resend_at = Some(now.after(RESEND_MS));
        self.phase = Phase::Reset {
            path,
            until: now.after(REPLY_TIMEOUT_MS),
        };
    }

    fn start_upload(&mut self, path: Path, now: Millis) {
        self.resend_at = None;
        let (rtt, jitter) = self.ping.unwrap_or((0.0, 0.0));
        self.phase = Phase::Upload {
            path,
            // Queued from the path's round trip and twice its variation on: jitter alone must
            // not shrink the window.
            sender: TrainSender::windowed(
                self.config,
                Some(rtt + 2.0 * jitter * std::f64::consts::SQRT_2 + QUEUE_TARGET_MS),
            ),
            until: now.after(TRAIN_TIMEOUT_MS),
        };
        self.advance(now);
    }

    fn ask_result(&mut self, path: Path, rtt_ms: Option<f64>, now: Millis) {
        if let Phase::Upload { sender, .. } = &self.phase {
            self.m.upload_lower_bound = !sender.saturated();
        }
        self.push(Action::Send(path, Payload::Text("result")));
        self.resend_at = Some(now.after(RESEND_MS));
        self.phase = Phase::Result {
            path,
            rtt_ms,
            until: now.after(REPLY_TIMEOUT_MS),
        };
    }

    fn pick_probe_path(&self, now: Millis) -> Option<Path> {
        match (self.direct, self.relay) {
            (PathState::Open { .. }, _) => Some(Path::Direct),
            (PathState::Opening { .. }, PathState::Open { at })
                if now >= at.after(RELAY_GRACE_MS) =>
            {
                Some(Path::Relay)
            }
            (PathState::Failed, PathState::Open { .. }) => Some(Path::Relay),
            _ => None,
        }
    }

    fn no_path_left(&self) -> bool {
        let alive = |s: PathState| matches!(s, PathState::Opening { .. } | PathState::Open { .. });
        self.direct != PathState::Unused && !alive(self.direct) && !alive(self.relay)
    }

    /// The next thing for the driver to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        (!self.actions.is_empty()).then(|| self.actions.remove(0))
    }

    fn push(&mut self, action: Action) {
        self.actions.push(action);
    }

    /// Whether the network part is over (nothing more will be sent or awaited).
    pub fn is_finished(&self) -> bool {
        let opening = |s: PathState| matches!(s, PathState::Opening { .. });
        matches!(self.phase, Phase::Over)
            && self.actions.is_empty()
            && !opening(self.direct)
            && !opening(self.relay)
    }

    /// What was measured so far.
    pub fn measurements(&self) -> &Measurements {
        &self.m
    }

    /// Ends the check at once (the app gave up or the overall deadline passed): whatever did
    /// not finish is incomplete.
    pub fn abort(&mut self, now: Millis) {
        match self.phase {
            Phase::Over => return,
            Phase::Paths if self.m.server_reached.is_none() => {
                self.m.incomplete.push(Step::Signaling)
            }
            Phase::Paths => self.m.incomplete.push(Step::Network),
            _ => self.bandwidth_incomplete(),
        }
        self.finish_probe();
        for path in [Path::Direct, Path::Relay] {
            if matches!(*self.state_mut(path), PathState::Opening { .. }) {
                self.push(Action::ClosePath(path));
                *self.state_mut(path) = PathState::Closed;
            }
        }
        self.advance(now);
    }

    /// The measurements, consumed.
    pub fn into_measurements(self) -> Measurements {
        self.m
    }
}
