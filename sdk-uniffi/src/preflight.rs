//! The pre-call check on native: the core's check ([`assistrtc_core::diagnostics::check`])
//! decides which paths to open, what to send and when it is over; this module opens webrtc-rs
//! peer connections to the server's probe endpoint (`POST /v1/preflight/probe`, admitted by a
//! preflight token from the app's backend), moves the probe's bytes and reads the clock. The
//! core judges what was measured (`assistrtc_core::diagnostics::assess`).

use std::sync::Arc;
use std::time::Duration;

use assistrtc_core::Millis;
use assistrtc_core::ToJsonText;
use assistrtc_core::diagnostics::assess;
use assistrtc_core::diagnostics::check::{
    Action, Check, PATH_TIMEOUT_MS, PROBE_LABEL, Path, Payload, config_ice_servers,
};
use assistrtc_core::protocol::{IceServer, api_url};
use bytes::BytesMut;
use rtc::data_channel::RTCDataChannelInit;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceConnectionState, RTCIceGatheringState,
    RTCSessionDescription,
};

use crate::api::AssistError;

/// Longest the whole check may take; past it, what did not finish is reported incomplete.
const CHECK_TIMEOUT: Duration = Duration::from_secs(14);
/// Longest one HTTP request of the check may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// What the check found (the same report the browser SDK gives).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PreflightReport {
    /// `good`, `fair` or `poor`.
    pub verdict: String,
    /// Stable reason codes, worst first.
    pub reasons: Vec<String>,
    /// Stable advice codes for localised text.
    pub advice: Vec<String>,
    /// Mean opinion score estimate, when the network was measured.
    pub mos: Option<f64>,
    /// Some step did not finish.
    pub partial: bool,
    /// The whole report in its one JSON schema (to attach to a ticket or show an agent).
    pub json: String,
}

/// How to run the check.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PreflightOptions {
    /// The server, `http://host:port` (the probe endpoint is under it).
    pub url: String,
    /// A preflight token from `POST /v1/preflight/tokens` (via the app's backend).
    pub token: String,
}

/// Runs the network check against the server and judges it. A server that cannot be reached
/// or a path that never opens is a report (`server_unreachable`, `no_media_path`), not an error;
/// an error means the check itself could not run.
#[uniffi::export(async_runtime = "tokio")]
pub async fn preflight(options: PreflightOptions) -> Result<PreflightReport, AssistError> {
    run(options, vec!["0.0.0.0:0".to_owned()]).await
}

/// [`preflight`] on the given local UDP addresses (Rust only; tests on loopback).
pub async fn preflight_on(
    options: PreflightOptions,
    udp_addrs: Vec<String>,
) -> Result<PreflightReport, AssistError> {
    run(options, udp_addrs).await
}

struct Watch {
    gathered: watch::Sender<bool>,
    connected: watch::Sender<bool>,
    failed: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Watch {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if matches!(
            state,
            RTCIceConnectionState::Connected | RTCIceConnectionState::Completed
        ) {
            let _ = self.connected.send(true);
        }
        if state == RTCIceConnectionState::Failed {
            let _ = self.failed.send(true);
        }
    }
}

fn failed(detail: impl ToString) -> AssistError {
    AssistError::Failed {
        code: "internal".into(),
        detail: detail.to_string(),
    }
}

/// What one path's task tells the check.
enum PathEvent {
    Connected,
    Open,
    Failed,
    Binary(Vec<u8>),
    Text(String),
}

async fn run(
    options: PreflightOptions,
    udp_addrs: Vec<String>,
) -> Result<PreflightReport, AssistError> {
    let start = Instant::now();
    let now = move || Millis(start.elapsed().as_millis() as u64);
    let mut check = Check::new(now());
    let http = reqwest::Client::new();
    match ice_servers(&http, &options).await? {
        Some(servers) => check.configured(now(), &servers),
        None => check.unreachable(now()),
    }
    let (events_tx, mut events) = mpsc::unbounded_channel::<(Path, PathEvent)>();
    // One sender per open path; dropping it closes that path's peer connection.
    let mut direct: Option<mpsc::UnboundedSender<Payload>> = None;
    let mut relay: Option<mpsc::UnboundedSender<Payload>> = None;
    let give_up = start + CHECK_TIMEOUT;
    loop {
        while let Some(action) = check.poll_action() {
            match action {
                Action::OpenPath {
                    path,
                    ice_servers,
                    relay_only,
                } => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    *path_slot(path, &mut direct, &mut relay) = Some(tx);
                    let opening = Opening {
                        path,
                        ice_servers,
                        relay_only,
                        udp_addrs: udp_addrs.clone(),
                        http: http.clone(),
                        options: options.clone(),
                        events: events_tx.clone(),
                    };
                    tokio::spawn(opening.run(rx));
                }
                Action::ClosePath(path) => *path_slot(path, &mut direct, &mut relay) = None,
                Action::Send(path, payload) => {
                    if let Some(tx) = path_slot(path, &mut direct, &mut relay) {
                        let _ = tx.send(payload);
                    }
                }
                Action::Progress(_) => {}
            }
        }
        if check.is_finished() {
            break;
        }
        let wake = check
            .poll_timeout()
            .map_or(give_up, |at| start + Duration::from_millis(at.0))
            .min(give_up);
        tokio::select! {
            Some((path, event)) = events.recv() => match event {
                PathEvent::Connected => check.path_connected(path, now()),
                PathEvent::Open => check.path_open(path, now(), None),
                PathEvent::Failed => check.path_failed(path, now()),
                PathEvent::Binary(bytes) => check.on_binary(path, &bytes, now()),
                PathEvent::Text(text) => check.on_text(path, &text, now()),
            },
            () = sleep_until(wake) => {
                if Instant::now() >= give_up {
                    check.abort(now());
                } else {
                    check.handle_timeout(now());
                }
            }
        }
    }
    let report = assess(check.measurements());
    Ok(PreflightReport {
        verdict: report.verdict.as_str().to_owned(),
        reasons: report
            .reasons
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        advice: report
            .advice
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        mos: report.mos,
        partial: report.partial,
        json: report.to_json_text(),
    })
}

fn path_slot<'a, T>(path: Path, direct: &'a mut T, relay: &'a mut T) -> &'a mut T {
    match path {
        Path::Direct => direct,
        Path::Relay => relay,
    }
}

/// The check's ICE servers (`GET /v1/preflight/config`); `None` when the server cannot be
/// reached. A refused token is an error: the check cannot run.
async fn ice_servers(
    http: &reqwest::Client,
    options: &PreflightOptions,
) -> Result<Option<Vec<IceServer>>, AssistError> {
    let url = api_url(&options.url, "/v1/preflight/config");
    let sent = http
        .get(url)
        .bearer_auth(&options.token)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await;
    let Ok(resp) = sent else {
        return Ok(None);
    };
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    if status == 401 {
        return Err(AssistError::Failed {
            code: "unauthorized".into(),
            detail: ["the server refused the preflight token: ", &body].concat(),
        });
    }
    if !(200..300).contains(&status) {
        return Err(failed(
            ["the check's configuration was refused: ", &body].concat(),
        ));
    }
    config_ice_servers(&body).map(Some).map_err(failed)
}

/// One path being opened and then carrying the probe.
struct Opening {
    path: Path,
    ice_servers: Vec<IceServer>,
    relay_only: bool,
    udp_addrs: Vec<String>,
    http: reqwest::Client,
    options: PreflightOptions,
    events: mpsc::UnboundedSender<(Path, PathEvent)>,
}

impl Opening {
    async fn run(self, outgoing: mpsc::UnboundedReceiver<Payload>) {
        let (gathered_tx, gathered) = watch::channel(false);
        let (connected_tx, connected) = watch::channel(false);
        let (failed_tx, failed) = watch::channel(false);
        let handler = Arc::new(Watch {
            gathered: gathered_tx,
            connected: connected_tx,
            failed: failed_tx,
        });
        let pc = crate::webrtc_link::peer_connection(
            &self.ice_servers,
            self.relay_only,
            handler,
            self.udp_addrs.clone(),
        )
        .await;
        let served = match &pc {
            Ok(pc) => self.serve(pc, gathered, connected, failed, outgoing).await,
            Err(e) => Err(e.clone()),
        };
        if let Err(reason) = served {
            tracing::debug!("pre-call check, {:?} path: {reason}", self.path);
            let _ = self.events.send((self.path, PathEvent::Failed));
        }
        if let Ok(pc) = pc {
            // Dropping a webrtc-rs peer connection does not close it.
            let _ = pc.close().await;
        }
    }

    /// Opens the path and carries the probe until the check closes it (`Ok`) or it fails.
    async fn serve(
        &self,
        pc: &Arc<dyn PeerConnection>,
        mut gathered: watch::Receiver<bool>,
        mut connected: watch::Receiver<bool>,
        mut failed: watch::Receiver<bool>,
        mut outgoing: mpsc::UnboundedReceiver<Payload>,
    ) -> Result<(), String> {
        // Unordered and never retransmitted: the probe must see loss, not have it repaired.
        let init = RTCDataChannelInit {
            ordered: false,
            max_retransmits: Some(0),
            ..Default::default()
        };
        let dc = pc
            .create_data_channel(PROBE_LABEL, Some(init))
            .await
            .map_err(|e| e.to_string())?;
        let offer = pc.create_offer(None).await.map_err(|e| e.to_string())?;
        pc.set_local_description(offer)
            .await
            .map_err(|e| e.to_string())?;
        // Non-trickle: the endpoint takes one complete offer.
        let path_time = Duration::from_millis(PATH_TIMEOUT_MS);
        let _ = timeout(path_time, gathered.wait_for(|g| *g)).await;
        let offer = pc
            .local_description()
            .await
            .ok_or("no local description")?
            .sdp;
        let url = [
            self.options.url.trim_end_matches('/'),
            "/v1/preflight/probe",
        ]
        .concat();
        let resp = self
            .http
            .post(url)
            .bearer_auth(&self.options.token)
            .header("content-type", "application/sdp")
            .body(offer)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            return Err(format!("the probe endpoint answered {status}: {body}"));
        }
        let answer = resp.text().await.map_err(|e| e.to_string())?;
        let answer = RTCSessionDescription::answer(answer).map_err(|e| e.to_string())?;
        pc.set_remote_description(answer)
            .await
            .map_err(|e| e.to_string())?;

        let mut told_connected = false;
        loop {
            tokio::select! {
                Ok(()) = connected.changed(), if !told_connected => {
                    if *connected.borrow() {
                        told_connected = true;
                        let _ = self.events.send((self.path, PathEvent::Connected));
                    }
                }
                Ok(()) = failed.changed() => return Err("ICE failed".into()),
                event = dc.poll() => match event {
                    Some(DataChannelEvent::OnOpen) => {
                        let _ = self.events.send((self.path, PathEvent::Open));
                    }
                    Some(DataChannelEvent::OnMessage(m)) => {
                        let event = if m.is_string {
                            PathEvent::Text(String::from_utf8_lossy(&m.data).into_owned())
                        } else {
                            PathEvent::Binary(m.data.to_vec())
                        };
                        let _ = self.events.send((self.path, event));
                    }
                    Some(DataChannelEvent::OnClose) | None => {
                        return Err("the probe channel closed".into());
                    }
                    Some(_) => {}
                },
                payload = outgoing.recv() => match payload {
                    // The check closed this path.
                    None => return Ok(()),
                    Some(Payload::Binary(bytes)) => {
                        // A full send buffer loses the packet, as the network would.
                        let _ = send_binary(&dc, bytes).await;
                    }
                    Some(Payload::Text(text)) => {
                        dc.send_text(text).await.map_err(|e| e.to_string())?;
                    }
                },
            }
        }
    }
}

async fn send_binary(dc: &Arc<dyn DataChannel>, bytes: Vec<u8>) -> Result<(), String> {
    dc.send(BytesMut::from(&bytes[..]))
        .await
        .map_err(|e| e.to_string())
}
