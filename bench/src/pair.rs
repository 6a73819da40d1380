//! One room's two clients: join, stay idle, relay timestamped offers `a` → `b`, close.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::rooms::PairTokens;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest a connect + `join` → `welcome` may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest one frame write may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest the polite close of both sockets may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Client read buffer per socket (the default is 128 KiB; these sockets carry tiny frames).
const READ_BUFFER: usize = 4 * 1024;

/// What every pair task shares.
pub(crate) struct Shared {
    /// `ws://127.0.0.1:PORT/v1/signal`.
    pub(crate) url: String,
    /// Bounds how many pairs connect at once.
    pub(crate) connect_permits: Semaphore,
    /// Each pair reports here once, joined or not.
    pub(crate) joined: mpsc::Sender<Joined>,
    /// Each joined pair reports its relay figures here.
    pub(crate) reports: mpsc::Sender<PairReport>,
    /// Turns `true` (or closes) when the pairs should close their sockets.
    pub(crate) stop: watch::Receiver<bool>,
}

/// The outcome of one pair's joins.
pub(crate) struct Joined {
    pub(crate) pair: usize,
    pub(crate) result: Result<(), String>,
}

/// When a pair sends: message `k` of `total` goes out at `t0 + k / rate`, from the pair whose
/// `slot` is `k % live`, so the aggregate rate is even.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Time zero of the schedule and of the timestamps in the frames.
    pub(crate) t0: Instant,
    /// Aggregate messages per second.
    pub(crate) rate: f64,
    /// Messages over all pairs.
    pub(crate) total: u64,
    /// Pairs taking part.
    pub(crate) live: u64,
    /// This pair's place among them.
    pub(crate) slot: u64,
    /// Nothing is sent or waited for after this.
    pub(crate) deadline: Instant,
}

impl Plan {
    fn at(&self, k: u64) -> Instant {
        self.t0 + Duration::from_secs_f64(k as f64 / self.rate)
    }

    fn scheduled(&self) -> u64 {
        if self.slot < self.total {
            (self.total - self.slot - 1) / self.live + 1
        } else {
            0
        }
    }

    fn now_ns(&self) -> u64 {
        nanos(self.t0.elapsed())
    }
}

/// One pair's relay figures; times in nanoseconds.
#[derive(Debug, Default)]
pub(crate) struct PairReport {
    pub(crate) scheduled: u64,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    /// Send → receive, per received message.
    pub(crate) latencies_ns: Vec<u64>,
    /// How late each send was against its schedule (load generator health).
    pub(crate) send_lag_ns: Vec<u64>,
    /// First and last send, after `t0`.
    pub(crate) first_send_ns: Option<u64>,
    pub(crate) last_send_ns: Option<u64>,
    /// `error` frames from the server, and the first of them.
    pub(crate) server_errors: u64,
    pub(crate) first_server_error: Option<String>,
    /// Frames neither member should have seen.
    pub(crate) unexpected: u64,
    /// Why a socket stopped during the relay, if one did.
    pub(crate) failure: Option<String>,
}

/// Joins both members, reports, waits for its [`Plan`], relays, reports, waits for stop, closes.
pub(crate) async fn run(
    pair: usize,
    tokens: PairTokens,
    shared: Arc<Shared>,
    start: oneshot::Receiver<Plan>,
) {
    let joined = {
        let _permit = shared.connect_permits.acquire().await;
        join_pair(&shared.url, &tokens).await
    };
    drop(tokens);
    let (mut a, mut b) = match joined {
        Ok(sockets) => {
            let _ = shared
                .joined
                .send(Joined {
                    pair,
                    result: Ok(()),
                })
                .await;
            sockets
        }
        Err(e) => {
            let _ = shared
                .joined
                .send(Joined {
                    pair,
                    result: Err(e),
                })
                .await;
            return;
        }
    };
    if let Ok(plan) = start.await {
        let report = relay(&mut a, &mut b, plan).await;
        let _ = shared.reports.send(report).await;
        let mut stop = shared.stop.clone();
        let _ = stop.wait_for(|stop| *stop).await;
    }
    let _ = timeout(CLOSE_TIMEOUT, async {
        let _ = a.close(None).await;
        let _ = b.close(None).await;
    })
    .await;
}

async fn join_pair(url: &str, tokens: &PairTokens) -> Result<(Ws, Ws), String> {
    let a = join(url, &tokens.a).await.map_err(|e| format!("a: {e}"))?;
    let b = join(url, &tokens.b).await.map_err(|e| format!("b: {e}"))?;
    Ok((a, b))
}

pub(crate) async fn join(url: &str, token: &str) -> Result<Ws, String> {
    let joined = timeout(JOIN_TIMEOUT, async {
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let join = serde_json::json!({"v": 1, "type": "join", "token": token}).to_string();
        ws.send(Message::text(join))
            .await
            .map_err(|e| format!("send join: {e}"))?;
        while let Some(frame) = ws.next().await {
            let frame = frame.map_err(|e| format!("waiting for welcome: {e}"))?;
            let Message::Text(text) = frame else { continue };
            match frame_type(text.as_str()).as_deref() {
                Some("welcome") => return Ok(ws),
                Some("error") => return Err(format!("join refused: {text}")),
                _ => {}
            }
        }
        Err("closed before welcome".to_owned())
    })
    .await;
    joined.unwrap_or_else(|_| Err(format!("no welcome within {JOIN_TIMEOUT:?}")))
}

async fn relay(a: &mut Ws, b: &mut Ws, plan: Plan) -> PairReport {
    let mut report = PairReport {
        scheduled: plan.scheduled(),
        ..PairReport::default()
    };
    let mut k = plan.slot;
    loop {
        let next = Some(k)
            .filter(|&k| k < plan.total)
            .map(|k| plan.at(k))
            .filter(|&at| at < plan.deadline);
        if next.is_none() && report.received >= report.sent {
            break;
        }
        tokio::select! {
            () = sleep_until(next.unwrap_or(plan.deadline)), if next.is_some() => {
                let at = next.unwrap_or(plan.deadline);
                report.send_lag_ns.push(nanos(Instant::now().saturating_duration_since(at)));
                let stamp = plan.now_ns();
                let frame = format!(r#"{{"v":1,"type":"offer","to":"b","sdp":"v=0 {k} {stamp}"}}"#);
                match timeout(SEND_TIMEOUT, a.send(Message::text(frame))).await {
                    Ok(Ok(())) => {
                        report.sent += 1;
                        report.first_send_ns.get_or_insert(stamp);
                        report.last_send_ns = Some(stamp);
                    }
                    Ok(Err(e)) => {
                        report.failure = Some(format!("a: send failed: {e}"));
                        break;
                    }
                    Err(_) => {
                        report.failure = Some(format!("a: send took over {SEND_TIMEOUT:?}"));
                        break;
                    }
                }
                k += plan.live;
            }
            () = sleep_until(plan.deadline) => break,
            frame = b.next() => if !on_frame(frame, "b", &plan, &mut report) { break },
            frame = a.next() => if !on_frame(frame, "a", &plan, &mut report) { break },
        }
    }
    report
}

/// Accounts for one frame; `false` when the socket is done.
fn on_frame(
    frame: Option<Result<Message, tungstenite::Error>>,
    who: &str,
    plan: &Plan,
    report: &mut PairReport,
) -> bool {
    let text = match frame {
        Some(Ok(Message::Text(text))) => text,
        Some(Ok(Message::Close(close))) => {
            report.failure = Some(format!("{who}: closed by the server: {close:?}"));
            return false;
        }
        Some(Ok(_)) => return true,
        Some(Err(e)) => {
            report.failure = Some(format!("{who}: {e}"));
            return false;
        }
        None => {
            report.failure = Some(format!("{who}: connection ended"));
            return false;
        }
    };
    let now = plan.now_ns();
    let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
        report.unexpected += 1;
        return true;
    };
    match (who, value["type"].as_str()) {
        ("b", Some("offer")) => match stamp(&value) {
            Some(sent) => {
                report.received += 1;
                report.latencies_ns.push(now.saturating_sub(sent));
            }
            None => report.unexpected += 1,
        },
        (_, Some("error")) => {
            report.server_errors += 1;
            report
                .first_server_error
                .get_or_insert_with(|| text.as_str().to_owned());
        }
        // `a` hears `b` join; that frame waits in the socket until the relay starts.
        ("a", Some("member_joined")) => {}
        _ => report.unexpected += 1,
    }
    true
}

/// The send time in `"sdp":"v=0 <k> <nanos>"`.
fn stamp(offer: &Value) -> Option<u64> {
    offer["sdp"].as_str()?.split(' ').nth(2)?.parse().ok()
}

fn frame_type(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    value["type"].as_str().map(str::to_owned)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
